"""Outbound limits per account (local mode): RPM/TPM windows, concurrency, the bounded FIFO queue.

Every test runs on an event loop with virtual time: ``loop.time()`` jumps to the next timer whenever
nothing is ready, so a 60 s window passes instantly and waits are checked exactly, without sleeping.
The limiter's clock is that loop's clock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from qiao.config import AccountConfig
from qiao.gateway.outbound import AccountQuota, OutboundLimiter, Permit, quota_for, quotas_for

T = TypeVar("T")


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """Time stands still while callbacks run and jumps to the next timer when the loop would sleep."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 1000.0
        real = self._selector.select  # type: ignore[attr-defined]

        def select(timeout: float | None = None) -> Any:
            events = real(0)
            if not events and timeout is None:
                raise RuntimeError("deadlock: nothing ready and no timer scheduled")
            if not events and timeout:
                self._now += timeout
            return events

        self._selector.select = select  # type: ignore[attr-defined]

    def time(self) -> float:
        return self._now


def run(fn: Callable[[asyncio.AbstractEventLoop], Awaitable[T]]) -> T:
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(fn(loop))
    finally:
        loop.close()


def q(
    rpm: int | None = None,
    tpm: int | None = None,
    concurrency: int | None = None,
    max_wait_s: float = 2.0,
    queue: int = 64,
) -> AccountQuota:
    return AccountQuota(rpm, tpm, concurrency, max_wait_s, queue)


def limiter(loop: asyncio.AbstractEventLoop, **quotas: AccountQuota) -> OutboundLimiter:
    return OutboundLimiter(dict(quotas), clock=loop.time)


async def got(lim: OutboundLimiter, account: str = "a", tokens: int = 1, **kw: Any) -> Permit:
    p = await lim.acquire(account, tokens, **kw)
    assert p is not None
    return p


# ---- RPM ---------------------------------------------------------------------------------------------
def test_rpm_cap_holds_over_any_60s_span() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> list[float]:
        lim = limiter(loop, a=q(rpm=5, max_wait_s=300, queue=100))
        times: list[float] = []

        async def one(delay: float) -> None:
            await asyncio.sleep(delay)
            p = await got(lim)
            times.append(loop.time())
            p.release()

        # bursts and a trickle: 23 requests over ~100 s
        await asyncio.gather(*(one(d) for d in [0] * 8 + [7.5 * i for i in range(15)]))
        return times

    times = sorted(run(main))
    assert len(times) == 23
    for t in times:
        assert sum(1 for u in times if t <= u < t + 60) <= 5, (t, times)
    # and not more conservative than needed: the 6th request goes exactly when the 1st leaves the window
    assert times[5] == times[0] + 60


def test_rpm_full_window_means_none_at_once_when_the_wait_is_longer() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        lim = limiter(loop, a=q(rpm=2, max_wait_s=5))
        for _ in range(2):
            (await got(lim)).release()
        t0 = loop.time()
        assert await lim.acquire("a", 1) is None  # room in 60 s > 5 s: no point waiting
        assert loop.time() == t0
        await asyncio.sleep(56)
        p = await got(lim)  # room in 4 s ≤ 5 s: waits exactly that long
        assert loop.time() == t0 + 60

        p.release()

    run(main)


def test_waiting_sleeps_until_room_without_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> int:
        lim = limiter(loop, a=q(rpm=1, max_wait_s=120))
        pumps = 0
        real = lim._pump_local

        def counting(st: Any) -> None:
            nonlocal pumps
            pumps += 1
            real(st)

        monkeypatch.setattr(lim, "_pump_local", counting)
        (await got(lim)).release()
        t0 = loop.time()
        (await got(lim)).release()
        assert loop.time() == t0 + 60
        return pumps

    assert run(main) <= 2  # once when it queued, once when the timer fired


# ---- TPM ---------------------------------------------------------------------------------------------
def test_tpm_charges_the_estimate_then_the_real_tokens() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        lim = limiter(loop, a=q(tpm=1000, max_wait_s=0))
        p1 = await got(lim, tokens=600)
        assert await lim.acquire("a", 600) is None  # 600 + 600 > 1000
        p1.release(tokens_used=100)  # the request used far less than its estimate
        assert lim.snapshot()["a"]["tpm_used"] == 100
        p2 = await got(lim, tokens=600)
        p2.release(tokens_used=900)  # more than estimated: the window is over the cap now
        assert lim.snapshot()["a"]["tpm_used"] == 1000
        assert await lim.acquire("a", 1) is None
        p2.release(tokens_used=1)  # idempotent: a second release changes nothing
        assert lim.snapshot()["a"]["tpm_used"] == 1000
        await asyncio.sleep(60)
        assert lim.snapshot()["a"]["tpm_used"] == 0
        (await got(lim, tokens=1000)).release()

    run(main)


def test_tpm_wait_is_until_enough_tokens_leave_the_window() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        lim = limiter(loop, a=q(tpm=1000, max_wait_s=60))
        t0 = loop.time()
        (await got(lim, tokens=300)).release()
        await asyncio.sleep(10)
        (await got(lim, tokens=300)).release()
        await asyncio.sleep(10)
        (await got(lim, tokens=300)).release()
        # 900 used; 500 more needs the first two entries gone (freeing 300 is not enough)
        (await got(lim, tokens=500)).release()
        assert loop.time() == t0 + 70

    run(main)


def test_entry_exactly_one_window_old_is_gone_despite_float_rounding() -> None:
    # 1009.39 + 60 == 1069.3899999999999, but 1069.3899999999999 - 60 < 1009.39: the window's edge
    # must be judged by one expression, or the entry both counts and does not (found by a fuzz run).
    now = [1009.39]
    lim = OutboundLimiter({"a": q(tpm=500, max_wait_s=0)}, clock=lambda: now[0])

    async def main() -> None:
        (await got(lim, tokens=489)).release()
        now[0] = 1009.39 + 60
        p = await got(lim, tokens=389)
        assert lim.snapshot()["a"]["tpm_used"] == 389
        p.release()

    asyncio.run(main())


def test_request_larger_than_the_tpm_cap_gets_none_at_once() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        lim = limiter(loop, a=q(tpm=1000, max_wait_s=600))
        t0 = loop.time()
        assert await lim.acquire("a", 1001) is None
        assert loop.time() == t0
        assert lim.snapshot()["a"]["waiting"] == 0

    run(main)


# ---- concurrency and the queue -----------------------------------------------------------------------
def test_concurrency_waiters_are_woken_by_a_release() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        lim = limiter(loop, a=q(concurrency=2, max_wait_s=30))
        p1, p2 = await got(lim), await got(lim)
        t3 = asyncio.ensure_future(lim.acquire("a", 1))
        await asyncio.sleep(5)
        assert not t3.done()
        snap = lim.snapshot()["a"]
        assert (snap["in_flight"], snap["waiting"]) == (2, 1)
        t0 = loop.time()
        p1.release()
        p3 = await t3
        assert p3 is not None and loop.time() == t0  # woken by the release, not by a timer
        assert lim.snapshot()["a"]["in_flight"] == 2
        p2.release()
        p3.release()
        p3.release()
        assert lim.snapshot()["a"]["in_flight"] == 0

    run(main)


def test_arrivals_queue_behind_waiters_even_when_they_would_fit() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        lim = limiter(loop, a=q(tpm=1000, max_wait_s=100))
        t0 = loop.time()
        (await got(lim, tokens=800)).release()
        big = asyncio.ensure_future(lim.acquire("a", 900))  # room in 60 s
        await asyncio.sleep(0)
        small = await got(lim, tokens=100)  # 800 + 100 fits now, but big was first
        assert big.done() and loop.time() == t0 + 60
        pb = big.result()
        assert pb is not None
        pb.release()
        small.release()

    run(main)


def test_waiters_are_served_in_order() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> list[str]:
        lim = limiter(loop, a=q(concurrency=1, tpm=1000, max_wait_s=100))
        order: list[str] = []
        p = await got(lim, tokens=100)

        async def one(name: str, tokens: int) -> None:
            w = await got(lim, tokens=tokens)
            order.append(name)
            await asyncio.sleep(1)
            w.release()

        tasks = [asyncio.ensure_future(one(n, t)) for n, t in [("big", 900), ("small1", 10), ("small2", 10)]]
        await asyncio.sleep(0)
        p.release()
        await asyncio.gather(*tasks)
        return order

    # the big request is first in line; the small ones do not overtake it although they would fit sooner
    assert run(main) == ["big", "small1", "small2"]


def test_full_queue_gets_none_at_once() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        lim = limiter(loop, a=q(concurrency=1, max_wait_s=30, queue=2))
        p = await got(lim)
        waiters = [asyncio.ensure_future(lim.acquire("a", 1)) for _ in range(2)]
        await asyncio.sleep(0)
        t0 = loop.time()
        assert await lim.acquire("a", 1) is None
        assert loop.time() == t0
        p.release()
        first = await waiters[0]
        assert first is not None
        first.release()
        second = await waiters[1]
        assert second is not None
        second.release()

    run(main)


def test_max_wait_zero_never_waits() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        lim = limiter(loop, a=q(concurrency=1, max_wait_s=0))
        p = await got(lim)
        assert await lim.acquire("a", 1) is None
        p.release()
        (await got(lim)).release()

    run(main)


def test_max_wait_then_none() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        lim = limiter(loop, a=q(concurrency=1, max_wait_s=2))
        p = await got(lim)
        t0 = loop.time()
        assert await lim.acquire("a", 1) is None
        assert loop.time() == t0 + 2
        assert lim.snapshot()["a"]["waiting"] == 0
        p.release()

    run(main)


def test_deadline_shortens_the_wait() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        lim = limiter(loop, a=q(concurrency=1, rpm=2, max_wait_s=100))
        p = await got(lim)
        t0 = loop.time()
        assert await lim.acquire("a", 1, deadline=t0 + 0.5) is None
        assert loop.time() == t0 + 0.5
        p.release()
        (await got(lim)).release()  # the RPM window is full now (2 in the last minute)
        t1 = loop.time()
        assert await lim.acquire("a", 1, deadline=t1 + 30) is None  # room in ~60 s: past the deadline
        assert loop.time() == t1
        assert await lim.acquire("a", 1, deadline=t1 - 1) is None  # already past: no waiting at all
        (await got(lim, deadline=t1 + 90)).release()

    run(main)


def test_cancelled_waiter_leaves_the_queue() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        lim = limiter(loop, a=q(concurrency=1, max_wait_s=30, queue=2))
        p = await got(lim)
        a = asyncio.ensure_future(lim.acquire("a", 1))
        b = asyncio.ensure_future(lim.acquire("a", 1))
        await asyncio.sleep(1)
        a.cancel()
        with pytest.raises(asyncio.CancelledError):
            await a
        assert lim.snapshot()["a"]["waiting"] == 1
        c = asyncio.ensure_future(lim.acquire("a", 1))  # the freed queue place can be taken
        await asyncio.sleep(0)
        assert lim.snapshot()["a"]["waiting"] == 2
        p.release()
        pb = await b  # b, not the cancelled a, gets the slot
        assert pb is not None
        pb.release()
        pc = await c
        assert pc is not None
        pc.release()
        assert (lim.snapshot()["a"]["in_flight"], lim.snapshot()["a"]["waiting"]) == (0, 0)

    run(main)


def test_waiter_cancelled_after_being_granted_gives_the_slot_back() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        lim = limiter(loop, a=q(concurrency=1, max_wait_s=30))
        p = await got(lim)
        a = asyncio.ensure_future(lim.acquire("a", 1))
        await asyncio.sleep(0)
        p.release()  # grants a's slot synchronously...
        a.cancel()  # ...but a is cancelled before it resumes
        with pytest.raises(asyncio.CancelledError):
            await a
        assert lim.snapshot()["a"]["in_flight"] == 0
        (await got(lim)).release()

    run(main)


def test_head_that_cannot_make_it_in_time_gives_up_at_once() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        lim = limiter(loop, a=q(concurrency=1, tpm=1000, max_wait_s=100))
        p = await got(lim, tokens=800)
        a = asyncio.ensure_future(lim.acquire("a", 10))
        await asyncio.sleep(0)
        big = asyncio.ensure_future(lim.acquire("a", 900, deadline=loop.time() + 5))
        c = asyncio.ensure_future(lim.acquire("a", 10))
        await asyncio.sleep(1)
        t0 = loop.time()
        p.release()  # a goes; big is next but needs ~60 s for TPM room, more than its 5 s budget
        pa = await a
        assert await big is None
        assert pa is not None and loop.time() == t0  # big did not sit out its budget
        assert not c.done()  # c waits for a's concurrency slot, not for big
        pa.release()
        pc = await c
        assert pc is not None and loop.time() == t0
        pc.release()

    run(main)


# ---- configuration -----------------------------------------------------------------------------------
def test_unlimited_account_is_not_limited() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        lim = limiter(loop, a=q(rpm=1), b=q())
        assert lim.limited("a")
        assert not lim.limited("b") and not lim.limited("zz")
        p = await got(lim, "b")
        p.release()
        p.release()
        assert set(lim.snapshot()) == {"a"}

    run(main)


def test_update_keeps_running_counts() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        lim = limiter(loop, a=q(rpm=5, concurrency=3, max_wait_s=0))
        held = [await got(lim) for _ in range(3)]
        lim.update({"a": q(rpm=4, concurrency=4, max_wait_s=0), "b": q(concurrency=1)})
        snap = lim.snapshot()
        assert snap["a"]["rpm"] == 4 and snap["a"]["rpm_used"] == 3 and snap["a"]["in_flight"] == 3
        held.append(await got(lim))  # 4th request of the minute: allowed
        assert await lim.acquire("a", 1) is None  # 5th: over the new cap of 4
        assert lim.limited("b")
        for p in held:
            p.release()
        assert lim.snapshot()["a"]["in_flight"] == 0

    run(main)


def test_update_raising_a_cap_serves_waiters_and_removing_caps_lets_them_through() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        lim = limiter(loop, a=q(concurrency=1, max_wait_s=30), b=q(concurrency=1, max_wait_s=30))
        pa, pb = await got(lim, "a"), await got(lim, "b")
        wa = asyncio.ensure_future(lim.acquire("a", 1))
        wb = asyncio.ensure_future(lim.acquire("b", 1))
        await asyncio.sleep(1)
        t0 = loop.time()
        lim.update({"a": q(concurrency=2, max_wait_s=30)})  # b loses its caps
        ga, gb = await wa, await wb
        assert ga is not None and gb is not None and loop.time() == t0
        assert not lim.limited("b")
        for p in (pa, pb, ga, gb):
            p.release()

    run(main)


def test_snapshot_is_json() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
        lim = limiter(loop, a=q(rpm=10, tpm=1000, concurrency=2))
        p = await got(lim, tokens=50)
        snap = lim.snapshot()
        p.release(40)
        return snap

    snap = run(main)
    assert json.loads(json.dumps(snap))["a"] == {
        "rpm": 10,
        "tpm": 1000,
        "concurrency": 2,
        "max_wait_s": 2.0,
        "queue": 64,
        "mode": "local",
        "in_flight": 1,
        "waiting": 0,
        "rpm_used": 1,
        "tpm_used": 50,
    }


def test_quota_for_merges_provider_defaults() -> None:
    defaults = {"rpm": 300, "tpm": 300_000}
    a = AccountConfig.model_validate({"provider": "ernie"})
    assert quota_for(a, defaults) == AccountQuota(300, 300_000, None, 2.0, 64)
    a = AccountConfig.model_validate(
        {"provider": "ernie", "limits": {"rpm": 60, "concurrency": 4, "max_wait_s": 1, "queue": 8}}
    )
    assert quota_for(a, defaults) == AccountQuota(60, 300_000, 4, 1.0, 8)
    a = AccountConfig.model_validate({"provider": "ernie", "limits": {"provider_defaults": False}})
    assert quota_for(a, defaults) is None
    a = AccountConfig.model_validate({"provider": "ernie", "limits": {"provider_defaults": False, "tpm": 5}})
    assert quota_for(a, defaults) == AccountQuota(None, 5, None, 2.0, 64)
    assert quota_for(AccountConfig.model_validate({"provider": "openai"}), {}) is None
    with pytest.raises(ValueError):
        AccountQuota(0, None, None)
    with pytest.raises(ValueError):
        AccountQuota(None, None, 1, max_wait_s=-1)


def test_quotas_for_uses_the_registered_provider_defaults() -> None:
    accounts = [
        AccountConfig.model_validate(x)
        for x in (
            {"provider": "baichuan"},
            {"provider": "ernie", "name": "e2", "limits": {"concurrency": 2}},
            {"provider": "openai"},
            {"provider": "baichuan", "name": "bc-own", "limits": {"provider_defaults": False}},
        )
    ]
    got_q = quotas_for(accounts)
    assert got_q == {
        "baichuan": AccountQuota(120, None, None, 2.0, 64),
        "e2": AccountQuota(300, 300_000, 2, 2.0, 64),
    }
    # several processes without Redis: each enforces its share, so together they stay within the quota
    assert quotas_for(accounts, share=4) == {
        "baichuan": AccountQuota(30, None, None, 2.0, 64),
        "e2": AccountQuota(75, 75_000, 1, 2.0, 64),
    }
