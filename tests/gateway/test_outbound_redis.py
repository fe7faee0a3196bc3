"""Outbound limits shared by replicas through the real local Redis (``scripts/services.sh`` starts it).

Each test uses its own random key prefix, deleted afterwards. Two :class:`OutboundLimiter` objects stand
for two replicas.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from qiao.gateway.outbound import AccountQuota, OutboundLimiter
from tests.conftest import REDIS_URL


@pytest.fixture()
def prefix(redis_prefix: str) -> str:
    return redis_prefix


def keys_under(prefix: str) -> list[bytes]:
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    try:
        return sorted(r.scan_iter(prefix + "*", count=1000))
    finally:
        r.close()


class Replicas:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.open: list[OutboundLimiter] = []

    async def __call__(self, url: str = REDIS_URL, **kw: Any) -> OutboundLimiter:
        opts = {k: kw.pop(k) for k in ("lease_s", "poll_s", "retry_s", "window_s") if k in kw}
        lim = OutboundLimiter({"acct": AccountQuota(**kw)}, **opts)
        await lim.start_shared(url, self.prefix)
        self.open.append(lim)
        return lim


@pytest.fixture()
async def replicas(prefix: str) -> AsyncIterator[Replicas]:
    r = Replicas(prefix)
    yield r
    for lim in r.open:
        await lim.aclose()


def quota(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"rpm": None, "tpm": None, "concurrency": None, "max_wait_s": 0.0, "queue": 64}
    return base | kw


async def test_two_replicas_hold_one_rpm_cap(replicas: Replicas) -> None:
    a = await replicas(**quota(rpm=5))
    b = await replicas(**quota(rpm=5))
    granted = []
    for i in range(8):
        p = await (a if i % 2 else b).acquire("acct", 1)
        if p is not None:
            granted.append(p)
            p.release()
    assert len(granted) == 5
    assert a.snapshot()["acct"]["mode"] == "redis"
    assert b.snapshot()["acct"]["rpm_used"] + a.snapshot()["acct"]["rpm_used"] == 5
    assert a.snapshot()["acct"]["shared"]["rpm_used"] == 5


async def test_two_replicas_hold_one_concurrency_cap(replicas: Replicas) -> None:
    limiters = [await replicas(**quota(concurrency=3, max_wait_s=30), poll_s=0.01) for _ in range(2)]
    in_flight = peak = done = 0

    async def one(lim: OutboundLimiter) -> None:
        nonlocal in_flight, peak, done
        p = await lim.acquire("acct", 1)
        assert p is not None
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        p.release()
        done += 1

    await asyncio.gather(*(one(limiters[i % 2]) for i in range(20)))
    assert done == 20
    assert peak == 3  # 20 at once: exactly 3 in flight, never more


async def test_waits_for_the_time_redis_computes_without_polling(replicas: Replicas) -> None:
    a = await replicas(**quota(rpm=2, tpm=1000, max_wait_s=5), window_s=1.0, poll_s=0.001)
    b = await replicas(**quota(rpm=2, tpm=1000, max_wait_s=0.3), window_s=1.0, poll_s=0.001)
    calls = 0
    real = a._acq

    async def counting(**kw: Any) -> Any:
        nonlocal calls
        calls += 1
        return await real(**kw)

    a._acq = counting
    for _ in range(2):
        p = await a.acquire("acct", 10)
        assert p is not None
        p.release()
    assert await b.acquire("acct", 10) is None  # the window frees up in ~1 s, more than b's 0.3 s
    calls = 0
    p = await a.acquire("acct", 10)  # waits ~1 s for RPM room, sleeping, not polling every 1 ms
    assert p is not None
    p.release()
    assert calls <= 4
    await asyncio.sleep(1.0)
    pa = await a.acquire("acct", 900)
    assert pa is not None
    calls = 0
    pb = await a.acquire("acct", 200)  # TPM: 900 + 200 > 1000 until pa leaves the window
    assert pb is not None
    assert calls <= 4
    pa.release()
    pb.release()


async def test_tpm_is_shared_and_corrected_on_release(replicas: Replicas) -> None:
    a = await replicas(**quota(tpm=1000))
    b = await replicas(**quota(tpm=1000))
    pa = await a.acquire("acct", 600)
    assert pa is not None
    assert await b.acquire("acct", 600) is None  # 600 + 600 > 1000, across replicas
    assert await b.acquire("acct", 1001) is None  # never fits
    pa.release(tokens_used=100)
    await a.flush()
    pb = await b.acquire("acct", 600)
    assert pb is not None
    assert b.snapshot()["acct"]["shared"]["tpm_used"] == 700
    pb.release()


async def test_lease_expiry_returns_a_lost_slot(replicas: Replicas) -> None:
    crashed = await replicas(**quota(concurrency=1), lease_s=0.3)
    alive = await replicas(**quota(concurrency=1, max_wait_s=5), lease_s=0.3, poll_s=0.05)
    lost = await crashed.acquire("acct", 1)
    assert lost is not None  # never released: its replica "crashes"
    await crashed.aclose()
    replicas.open.remove(crashed)
    assert await alive.acquire("acct", 1, deadline=asyncio.get_running_loop().time()) is None
    p = await alive.acquire("acct", 1)  # polls until the lease expires
    assert p is not None
    p.release()


async def test_cancelled_waiter_does_not_leak_a_slot(replicas: Replicas) -> None:
    a = await replicas(**quota(concurrency=1, max_wait_s=10), poll_s=0.01)
    b = await replicas(**quota(concurrency=1, max_wait_s=10), poll_s=0.01)
    held = await a.acquire("acct", 1)
    assert held is not None
    waiter = asyncio.ensure_future(b.acquire("acct", 1))
    await asyncio.sleep(0.05)
    assert b.snapshot()["acct"]["waiting"] == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert b.snapshot()["acct"]["waiting"] == 0
    held.release()
    await a.flush()
    await b.flush()
    p = await a.acquire("acct", 1)  # the one slot is free: nothing leaked to the cancelled waiter
    assert p is not None
    p.release()


async def test_cancelled_while_redis_grants_gives_the_slot_back(replicas: Replicas) -> None:
    a = await replicas(**quota(concurrency=1))
    t = asyncio.ensure_future(a.acquire("acct", 1))
    await asyncio.sleep(0)  # the acquire script is on its way
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    for _ in range(100):  # the script still answers (granted); the lease must then be released
        await asyncio.sleep(0.01)
        await a.flush()
        p = await a.acquire("acct", 1)
        if p is not None:
            break
    assert p is not None
    p.release()


async def test_accounts_without_caps_never_touch_redis(replicas: Replicas, prefix: str) -> None:
    lim = await replicas(**quota(rpm=10))
    p = await lim.acquire("other", 10)
    assert p is not None and not lim.limited("other")
    p.release()
    assert keys_under(prefix) == []
    (await lim.acquire("acct", 1)).release()  # type: ignore[union-attr]
    assert keys_under(prefix) and all(b"{acct}" in k for k in keys_under(prefix))


async def test_redis_down_falls_back_to_local_caps(
    replicas: Replicas, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="qiao.gateway.outbound")
    lim = await replicas("redis://127.0.0.1:1/0", **quota(rpm=2))
    got = [await lim.acquire("acct", 1) for _ in range(3)]
    assert [p is not None for p in got] == [True, True, False]  # the caps still hold, per replica
    assert lim.snapshot()["acct"]["mode"] == "local (redis down)"
    warnings = [r for r in caplog.records if r.name == "qiao.gateway.outbound"]
    assert len(warnings) == 1 and "127.0.0.1" not in warnings[0].getMessage()
    for p in got:
        if p is not None:
            p.release()


async def test_redis_failing_later_falls_back_then_recovers(
    replicas: Replicas, caplog: pytest.LogCaptureFixture
) -> None:
    import redis

    caplog.set_level(logging.INFO, logger="qiao.gateway.outbound")
    lim = await replicas(**quota(rpm=100), retry_s=0.05)
    real = lim._acq

    async def broken(**kw: Any) -> Any:
        raise redis.ConnectionError("gone")

    lim._acq = broken
    for _ in range(3):
        p = await lim.acquire("acct", 1)
        assert p is not None  # requests never fail because Redis did
        p.release()
    assert lim.snapshot()["acct"]["mode"] == "local (redis down)"
    lim._acq = real
    await asyncio.sleep(0.1)
    p = await lim.acquire("acct", 1)
    assert p is not None
    p.release()
    assert lim.snapshot()["acct"]["mode"] == "redis"
    levels = [r.levelname for r in caplog.records if r.name == "qiao.gateway.outbound"]
    assert levels == ["WARNING", "INFO"]  # once down, once back
