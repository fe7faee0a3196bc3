"""Breaker openings shared between replicas through the local Redis (``scripts/services.sh`` starts it).

Each test uses its own random key prefix and deletes its keys afterwards. Monotonic clocks are fake
(each board its own); unix time is real, as Redis expiries are.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest

from qiao.config import BreakerConfig, RoutingConfig
from qiao.gateway.health import HealthBoard
from tests.conftest import REDIS_URL

T = "acct/model"


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def prefix(redis_prefix: str) -> str:
    return redis_prefix


def cfg(interval: float = 60.0) -> RoutingConfig:
    return RoutingConfig(
        breaker=BreakerConfig(failures=2, open_s=30, half_open_probes=1), shared_state_interval_s=interval
    )


@pytest.fixture()
async def pair(prefix: str) -> AsyncIterator[tuple[HealthBoard, Clock, HealthBoard, Clock]]:
    ca, cb = Clock(), Clock()
    a, b = HealthBoard(cfg(), clock=ca), HealthBoard(cfg(), clock=cb)
    b.track([T])
    await a.start_shared(REDIS_URL, prefix)
    await b.start_shared(REDIS_URL, prefix)
    yield a, ca, b, cb
    await a.aclose()
    await b.aclose()


async def redis_get(prefix: str, label: str) -> tuple[bytes | None, int]:
    import redis.asyncio as aioredis

    r = aioredis.from_url(REDIS_URL)
    try:
        return await r.get(f"{prefix}cb:{label}"), await r.pttl(f"{prefix}cb:{label}")
    finally:
        await r.aclose()


async def test_an_opening_reaches_the_other_replica_and_a_probe_closes_it(
    pair: tuple[HealthBoard, Clock, HealthBoard, Clock], prefix: str
) -> None:
    a, ca, b, cb = pair
    a.failure(T, "503")
    a.failure(T, "503")
    assert a.state(T) == "open"
    assert b.allow(T)  # B has not synced yet
    await a.sync_now()
    raw, pttl = await redis_get(prefix, T)
    assert raw is not None and raw.decode().endswith(" " + a.replica)
    assert float(raw.split()[0]) == pytest.approx(time.time() + 30, abs=5)
    assert 145_000 < pttl <= 150_000  # open_s plus a grace of two sync intervals
    await b.sync_now()
    assert b.state(T) == "open"
    assert not b.allow(T)
    snap = b.snapshot([T])[0]
    assert snap["opened_by"] == a.replica and snap["retry_in_s"] == pytest.approx(30, abs=5)

    await a.sync_now()  # A's own key does not make its breaker "remote"
    assert a.snapshot([T])[0]["opened_by"] is None

    ca.now += 30
    assert a.allow(T)  # A's probe
    a.success(T, 0.1)
    assert a.state(T) == "closed"
    await a.sync_now()
    assert (await redis_get(prefix, T))[0] is None
    await b.sync_now()
    assert b.state(T) == "closed"
    assert b.allow(T)
    assert b.transitions()[T] == {"closed": 1, "half_open": 0, "open": 1}


async def test_a_failed_probe_reopens_the_other_replica(
    pair: tuple[HealthBoard, Clock, HealthBoard, Clock],
) -> None:
    a, ca, b, cb = pair
    a.failure(T, "503")
    a.failure(T, "503")
    await a.sync_now()
    await b.sync_now()
    assert b.state(T) == "open"
    ca.now += 30
    cb.now += 30
    assert b.state(T) == "half_open"  # each replica probes on its own once the time is up
    await b.sync_now()
    assert b.state(T) == "half_open"  # the key still names that opening: it is not applied twice
    assert a.allow(T)
    a.failure(T, "timeout")  # A's probe fails: open for another 30 s
    await a.sync_now()
    await b.sync_now()
    assert b.state(T) == "open"
    assert not b.allow(T)


async def test_a_breaker_opened_locally_is_not_closed_by_another_replica(
    pair: tuple[HealthBoard, Clock, HealthBoard, Clock],
) -> None:
    a, ca, b, cb = pair
    a.failure(T, "503")
    a.failure(T, "503")
    await a.sync_now()
    b.failure(T, "503")
    b.failure(T, "503")  # B saw the failures itself
    await b.sync_now()
    ca.now += 30
    assert a.allow(T)
    a.success(T, 0.1)
    await a.sync_now()
    await b.sync_now()
    assert b.state(T) == "open"  # B's own timer decides


async def test_the_background_task_syncs_without_being_asked(prefix: str) -> None:
    a, b = HealthBoard(cfg(interval=0.05)), HealthBoard(cfg(interval=0.05))
    b.track([T])
    await a.start_shared(REDIS_URL, prefix)
    await b.start_shared(REDIS_URL, prefix)
    try:
        a.failure(T, "503")
        a.failure(T, "503")
        for _ in range(200):
            if b.state(T) == "open":
                break
            await asyncio.sleep(0.05)
        assert b.state(T) == "open"
    finally:
        await a.aclose()
        await b.aclose()


async def test_redis_down_keeps_the_board_working_locally(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    hb = HealthBoard(cfg(interval=0.05), clock=clock)
    with caplog.at_level(logging.WARNING, logger="qiao.gateway.health"):
        await hb.start_shared("redis://127.0.0.1:1/0", "qiao-test-down:")
        hb.failure(T, "503")
        hb.failure(T, "503")
        assert hb.state(T) == "open"
        assert not hb.allow(T)
        await hb.sync_now()
        await hb.sync_now()
        clock.now += 30
        assert hb.allow(T)
        hb.success(T, 0.1)
        assert hb.state(T) == "closed"
        await hb.aclose()
    down = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(down) == 1
