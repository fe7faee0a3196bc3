"""Outbound limits per provider account: RPM, TPM and concurrency caps enforced before sending.

Providers answer 429 once an account goes over its quota, and a 429 costs a round trip, a retry and
often a penalty window. So each account's real quota (``limits`` in its config, or the provider's
documented default, ``Provider.default_limits``) is enforced here, before a request leaves: a request
that does not fit waits briefly in a bounded FIFO queue (``max_wait_s``, ``queue``) or gets ``None`` at
once, and the router then tries the route's next target.

**Windows: a sliding-window log.** Providers count per minute, some over a rolling minute, some per
calendar minute. The limiter keeps the time of every request (and the tokens charged to it) of the last
60 s and admits a request only while the requests (tokens) of the last 60 s plus this one stay within
the cap. So no 60 s span, rolling or calendar, ever holds more than the cap. A token bucket (GCRA) with
capacity = cap and refill cap/60 per second was rejected: after a full burst at t it refills during
the next minute, so a 60 s span can hold almost twice the cap, which a provider counting a rolling
minute answers with 429s. The log's price is memory, one entry per request in the window (a few
thousand floats for a busy account), and O(entries) work only when the window is full. Its burst
behaviour: an idle account may send its whole minute's allowance at once, then nothing until the
first entries are 60 s old. A provider that also limits per second (ERNIE derives RPM as QPS × 60)
may still refuse such a burst; a ``concurrency`` cap smooths it.

**TPM** is charged when a request is sent with an estimate (prompt + ``max_tokens``: what the request
may use) and corrected to the real usage on :meth:`Permit.release` (the entry keeps its send time, so
the correction frees or takes room in the same window). A request larger than the TPM cap itself can
never fit and gets ``None`` at once.

**Waiting** is computed, never polled locally: the head of an account's queue sleeps until the oldest
entries that block it leave the window; a released concurrency slot (or a TPM correction downwards)
wakes the head at once. Arrivals queue behind existing waiters (FIFO, so a large request is not
starved by small ones), and a waiter whose computed wait exceeds its budget (``max_wait_s``, or the
request's deadline if sooner) gets ``None`` at once instead of sleeping in vain.

**Multi-replica mode** (:meth:`OutboundLimiter.start_shared`): the windows and the concurrency slots
live in Redis, checked and charged by one Lua script per acquire, with Redis's own clock (``TIME``) so
replicas' clocks do not matter. Concurrency slots are leases in a sorted set scored by their expiry
(``lease_s``, 10 min), so a crashed replica's slots come back by themselves. The local FIFO queue
stays per replica: only its head asks Redis, sleeping until the time the script computed (RPM/TPM) or
polling every ``poll_s`` while the account's slots are all taken elsewhere, at most for ``max_wait_s``.
Every grant is also recorded locally. If Redis fails (refused, timeout, script error), requests are
not failed: the limiter logs once and enforces the caps with its local counts (per replica, so N
replicas may then send up to N times the caps) and asks Redis again after ``retry_s``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import count
from typing import Any

from ..config import AccountConfig

__all__ = ["WINDOW_S", "AccountQuota", "OutboundLimiter", "Permit", "quota_for", "quotas_for"]

log = logging.getLogger(__name__)

WINDOW_S = 60.0
"""The window providers count in: a minute."""


@dataclass(frozen=True, slots=True)
class AccountQuota:
    """The caps of one account (None: that dimension is not capped)."""

    rpm: int | None
    tpm: int | None
    concurrency: int | None
    max_wait_s: float = 2.0
    queue: int = 64

    def __post_init__(self) -> None:
        for cap in (self.rpm, self.tpm, self.concurrency):
            if cap is not None and cap < 1:
                raise ValueError(f"caps are at least 1, not {cap}")
        if self.max_wait_s < 0 or self.queue < 0:
            raise ValueError("max_wait_s and queue are at least 0")

    @property
    def capped(self) -> bool:
        return self.rpm is not None or self.tpm is not None or self.concurrency is not None


def quota_for(account: AccountConfig, provider_defaults: dict[str, int]) -> AccountQuota | None:
    """The caps of ``account``: its own ``limits``, with the provider's documented defaults filling the
    unset ones unless ``limits.provider_defaults`` is false. None when nothing is capped."""
    lim = account.limits
    d = provider_defaults if lim.provider_defaults else {}
    q = AccountQuota(
        rpm=lim.rpm if lim.rpm is not None else d.get("rpm"),
        tpm=lim.tpm if lim.tpm is not None else d.get("tpm"),
        concurrency=lim.concurrency if lim.concurrency is not None else d.get("concurrency"),
        max_wait_s=lim.max_wait_s,
        queue=lim.queue,
    )
    return q if q.capped else None


def quotas_for(
    accounts: Iterable[AccountConfig],
    defaults: Callable[[str], dict[str, int]] | None = None,
    share: int = 1,
) -> dict[str, AccountQuota]:
    """Caps of every account that has any, by account name. ``defaults(provider slug)`` gives a
    provider's default limits (default: the registered provider's ``default_limits``).

    ``share``: how many processes enforce the caps independently (several workers without Redis);
    each then gets ``cap // share`` (at least 1), so together they stay within the account's quota."""
    if defaults is None:
        defaults = _registry_defaults
    out: dict[str, AccountQuota] = {}
    for a in accounts:
        q = quota_for(a, defaults(a.provider))
        if q is not None:
            out[a.account_name] = q if share <= 1 else _divide(q, share)
    return out


def _divide(q: AccountQuota, n: int) -> AccountQuota:
    def part(cap: int | None) -> int | None:
        return None if cap is None else max(cap // n, 1)

    return AccountQuota(part(q.rpm), part(q.tpm), part(q.concurrency), q.max_wait_s, q.queue)


def _registry_defaults(provider: str) -> dict[str, int]:
    from ..providers._registry import get_provider

    try:
        return dict(get_provider(provider).default_limits)
    except KeyError:
        return {}


# ---- local state -------------------------------------------------------------------------------------
class _Charge:
    """Tokens charged to one request at its send time (corrected on release while still in the window)."""

    __slots__ = ("live", "t", "tokens")

    def __init__(self, t: float, tokens: int) -> None:
        self.t = t
        self.tokens = tokens
        self.live = True


class _Waiter:
    __slots__ = ("fut", "give_up_at", "timer", "tokens")

    def __init__(self, tokens: int, fut: asyncio.Future[Permit | None], give_up_at: float) -> None:
        self.tokens = tokens
        self.fut = fut
        self.give_up_at = give_up_at
        self.timer: asyncio.TimerHandle | None = None


class _State:
    __slots__ = (
        "charges",
        "in_flight",
        "keys",
        "name",
        "pump",
        "quota",
        "reqs",
        "seen",
        "timer",
        "tok_sum",
        "waiters",
        "wake",
        "window",
    )

    def __init__(self, name: str, quota: AccountQuota, window: float) -> None:
        self.name = name
        self.quota = quota
        self.window = window
        self.reqs: deque[float] = deque()  # send times of the window's requests
        self.charges: deque[_Charge] = deque()  # tokens of the window's requests
        self.tok_sum = 0
        self.in_flight = 0
        self.waiters: deque[_Waiter] = deque()
        self.timer: asyncio.TimerHandle | None = None  # local mode: wakes the head when room appears
        self.pump: asyncio.Task[None] | None = None  # shared mode: the head's retry loop
        self.wake: asyncio.Event | None = None
        self.keys: list[str] = []
        self.seen: tuple[float, int, int, int] | None = None  # shared mode: (when, in flight, rpm, tpm)

    def trim(self, now: float) -> None:
        # ``t + window <= now``, the very expression :meth:`wait_s` subtracts: written as ``t <= now -
        # window`` it could round the other way and leave an entry that wait_s says is already gone.
        win = self.window
        reqs = self.reqs
        while reqs and reqs[0] + win <= now:
            reqs.popleft()
        ch = self.charges
        while ch and ch[0].t + win <= now:
            c = ch.popleft()
            c.live = False
            self.tok_sum -= c.tokens

    def wait_s(self, now: float, tokens: int) -> float:
        """Seconds until RPM and TPM have room for ``tokens`` (0: now); concurrency not included."""
        q = self.quota
        wait = 0.0
        if q.rpm is not None and len(self.reqs) >= q.rpm:
            wait = self.reqs[len(self.reqs) - q.rpm] + self.window - now
        if q.tpm is not None and self.tok_sum + tokens > q.tpm:
            need = self.tok_sum + tokens - q.tpm
            until = self.window
            for c in self.charges:
                need -= c.tokens
                if need <= 0:
                    until = c.t + self.window - now
                    break
            wait = max(wait, until)
        return wait

    def slot_free(self) -> bool:
        c = self.quota.concurrency
        return c is None or self.in_flight < c


class Permit:
    """Room for one request at one account. :meth:`release` it when the request ends (always: use
    ``try``/``finally``); it is idempotent."""

    __slots__ = ("_charge", "_done", "_lease", "_limiter", "_state")

    def __init__(
        self, limiter: OutboundLimiter | None, state: _State | None, charge: _Charge | None, lease: str | None
    ) -> None:
        self._limiter = limiter
        self._state = state
        self._charge = charge
        self._lease = lease
        self._done = False

    @property
    def released(self) -> bool:
        return self._done

    def release(self, tokens_used: int | None = None) -> None:
        """Free the concurrency slot and, given the real tokens of the request, correct the TPM charge
        from the estimate to them."""
        st, lim = self._state, self._limiter
        if self._done or st is None or lim is None:
            return
        self._done = True
        st.in_flight -= 1
        c = self._charge
        if tokens_used is not None and c is not None:
            tokens_used = max(tokens_used, 0)
            if c.live:
                st.tok_sum += tokens_used - c.tokens
            c.tokens = tokens_used
        if self._lease is not None:
            lim._release_shared(st, self._lease, tokens_used)
        elif st.waiters:
            lim._kick(st)


_FREE = Permit(None, None, None, None)
"""The permit of an account without caps (nothing to count, nothing to release)."""


# ---- Redis scripts -----------------------------------------------------------------------------------
# KEYS: 1 rpm zset (id → send ms), 2 tpm zset (id → send ms), 3 tpm hash (id → tokens), 4 tpm sum,
#       5 lease zset (id → expiry ms).  ARGV: rpm, tpm, concurrency (-1 = no cap), tokens, id, lease ms,
#       window ms.  Returns {granted 0/1, wait ms (RPM/TPM), requests, tokens, in flight}.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm, tpm, conc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, id, lease, win = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local cutoff = now - win
local wait, full, nreq, ntok, nconc = 0, 0, 0, 0, 0
if rpm >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
  nreq = redis.call('ZCARD', KEYS[1])
  if nreq >= rpm then
    local e = redis.call('ZRANGE', KEYS[1], nreq - rpm, nreq - rpm, 'WITHSCORES')
    wait = math.max(wait, tonumber(e[2]) + win - now)
  end
end
if tpm >= 0 then
  while true do
    local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff, 'LIMIT', 0, 500)
    if #old == 0 then break end
    local vals = redis.call('HMGET', KEYS[3], unpack(old))
    local s = 0
    for i = 1, #vals do s = s + (tonumber(vals[i]) or 0) end
    redis.call('HDEL', KEYS[3], unpack(old))
    redis.call('ZREM', KEYS[2], unpack(old))
    redis.call('DECRBY', KEYS[4], s)
  end
  ntok = tonumber(redis.call('GET', KEYS[4]) or '0')
  if ntok < 0 then redis.call('SET', KEYS[4], 0); ntok = 0 end
  if ntok + tokens > tpm then
    local need, start, found = ntok + tokens - tpm, 0, false
    while not found do
      local e = redis.call('ZRANGE', KEYS[2], start, start + 499, 'WITHSCORES')
      if #e == 0 then break end
      local ids = {}
      for i = 1, #e, 2 do ids[#ids + 1] = e[i] end
      local vals = redis.call('HMGET', KEYS[3], unpack(ids))
      for i = 1, #ids do
        need = need - (tonumber(vals[i]) or 0)
        if need <= 0 then
          wait = math.max(wait, tonumber(e[2 * i]) + win - now)
          found = true
          break
        end
      end
      start = start + 500
    end
    if not found then wait = math.max(wait, win) end
  end
end
if conc >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
  nconc = redis.call('ZCARD', KEYS[5])
  if nconc >= conc then full = 1 end
end
if wait > 0 or full == 1 then return {0, wait, nreq, ntok, nconc} end
if rpm >= 0 then
  redis.call('ZADD', KEYS[1], now, id)
  redis.call('PEXPIRE', KEYS[1], win + 60000)
  nreq = nreq + 1
end
if tpm >= 0 then
  redis.call('ZADD', KEYS[2], now, id)
  redis.call('HSET', KEYS[3], id, tokens)
  ntok = redis.call('INCRBY', KEYS[4], tokens)
  for i = 2, 4 do redis.call('PEXPIRE', KEYS[i], win + 60000) end
end
if conc >= 0 then
  redis.call('ZADD', KEYS[5], now + lease, id)
  redis.call('PEXPIRE', KEYS[5], lease + 60000)
  nconc = nconc + 1
end
return {1, 0, nreq, ntok, nconc}
"""

# KEYS: 1 tpm hash, 2 tpm sum, 3 lease zset.  ARGV: id, real tokens (-1: no correction).
_RELEASE = """
redis.call('ZREM', KEYS[3], ARGV[1])
local used = tonumber(ARGV[2])
if used >= 0 then
  local old = redis.call('HGET', KEYS[1], ARGV[1])
  if old then
    redis.call('HSET', KEYS[1], ARGV[1], used)
    redis.call('INCRBY', KEYS[2], used - tonumber(old))
  end
end
return 1
"""


class _Shared:
    """The result of one acquire script."""

    __slots__ = ("granted", "lease", "wait_s")

    def __init__(self, granted: bool, wait_s: float, lease: str) -> None:
        self.granted = granted
        self.wait_s = wait_s
        self.lease = lease


class OutboundLimiter:
    """The outbound caps of every account with any, by account name (one per gateway process)."""

    def __init__(
        self,
        quotas: dict[str, AccountQuota],
        clock: Callable[[], float] = time.monotonic,
        *,
        lease_s: float = 600.0,
        poll_s: float = 0.1,
        retry_s: float = 5.0,
        window_s: float = WINDOW_S,
    ) -> None:
        self._clock = clock
        self.window_s = window_s
        """The counting window (providers count per minute; shorter only in tests)."""
        self._states: dict[str, _State] = {}
        # The accounts with any cap, as a read-only view of the same dict (never rebound): the router
        # tests ``name in capped`` on every attempt, :meth:`limited` without the call.
        self.capped: Mapping[str, object] = self._states
        self.lease_s = lease_s
        """Expiry of a concurrency slot in Redis (a crashed replica's slots come back after it)."""
        self.poll_s = poll_s
        """How often a waiting head asks Redis again while the account's slots are all taken."""
        self.retry_s = retry_s
        """After a Redis error: how long the local counts are used before Redis is asked again."""
        self._redis: Any = None
        self._prefix = "qiao:"
        self._acq: Any = None
        self._rel: Any = None
        self._down = False
        self._down_until = 0.0
        self._node = os.urandom(6).hex()
        self._ids = count()
        self._pumps: set[asyncio.Task[None]] = set()
        self._releases: set[asyncio.Task[None]] = set()
        self.update(quotas)

    # ---- configuration -------------------------------------------------------------------------------
    def limited(self, account: str) -> bool:
        """Whether ``account`` has any cap (False: skip :meth:`acquire` entirely)."""
        return account in self._states

    def update(self, quotas: dict[str, AccountQuota]) -> None:
        """New caps (config reload): running counts, in-flight requests and waiters are kept. Waiters of
        an account that lost all its caps are let through."""
        live = {n: q for n, q in quotas.items() if q.capped}
        for name, q in live.items():
            st = self._states.get(name)
            if st is None:
                st = self._states[name] = _State(name, q, self.window_s)
                st.keys = self._keys(name)
            else:
                st.quota = q
                if st.waiters:
                    self._kick(st)
        for name in [n for n in self._states if n not in live]:
            st = self._states.pop(name)
            if st.timer is not None:
                st.timer.cancel()
            while st.waiters:
                self._finish(st.waiters.popleft(), _FREE)

    def _keys(self, name: str) -> list[str]:
        base = f"{self._prefix}outbound:{{{name}}}:"
        return [base + s for s in ("r", "t", "h", "s", "c")]

    # ---- acquire -------------------------------------------------------------------------------------
    async def acquire(self, account: str, tokens: int, deadline: float | None = None) -> Permit | None:
        """Room for one request of about ``tokens`` (prompt + ``max_tokens``) at ``account``: a
        :class:`Permit` now or within ``min(max_wait_s, deadline - now)`` (``deadline`` is a clock
        value); None when the wait would be longer, when ``queue`` requests already wait, or when the
        request alone exceeds the TPM cap. The caller then tries the next target."""
        st = self._states.get(account)
        if st is None:
            return _FREE
        q = st.quota
        if q.tpm is not None and tokens > q.tpm:
            return None
        tokens = max(tokens, 0)
        if self._shared_ok():
            if not st.waiters:
                res = await self._try_shared(st, tokens)
                if res is not None:
                    if res.granted:
                        return self._grant(st, self._clock(), tokens, res.lease)
                    return await self._wait(st, tokens, deadline, res.wait_s)
        now = self._clock()
        st.trim(now)
        if not st.waiters:
            wait = st.wait_s(now, tokens)
            if wait == 0.0 and st.slot_free():
                return self._grant(st, now, tokens, None)
            return await self._wait(st, tokens, deadline, wait)
        return await self._wait(st, tokens, deadline, 0.0)

    def _grant(self, st: _State, now: float, tokens: int, lease: str | None) -> Permit:
        st.reqs.append(now)
        c = _Charge(now, tokens)
        st.charges.append(c)
        st.tok_sum += tokens
        st.in_flight += 1
        return Permit(self, st, c, lease)

    async def _wait(self, st: _State, tokens: int, deadline: float | None, at_least: float) -> Permit | None:
        q = st.quota
        now = self._clock()
        budget = q.max_wait_s if deadline is None else min(q.max_wait_s, deadline - now)
        if budget <= 0 or len(st.waiters) >= q.queue or at_least > budget:
            return None
        loop = asyncio.get_running_loop()
        w = _Waiter(tokens, loop.create_future(), now + budget)
        w.timer = loop.call_later(budget, self._expire, st, w)
        st.waiters.append(w)
        if len(st.waiters) == 1:
            self._kick(st)
        try:
            return await w.fut
        except asyncio.CancelledError:
            self._forget(st, w)
            raise

    def _finish(self, w: _Waiter, result: Permit | None) -> None:
        if w.timer is not None:
            w.timer.cancel()
        if not w.fut.done():
            w.fut.set_result(result)
        elif result is not None:
            result.release(0)  # never sent

    def _expire(self, st: _State, w: _Waiter) -> None:
        if w.fut.done():
            return
        head = bool(st.waiters) and st.waiters[0] is w
        try:
            st.waiters.remove(w)
        except ValueError:
            pass
        w.fut.set_result(None)
        if head and st.waiters:
            self._kick(st)

    def _forget(self, st: _State, w: _Waiter) -> None:
        """A cancelled waiter leaves the queue; a permit it was granted meanwhile is given back."""
        if w.timer is not None:
            w.timer.cancel()
        head = bool(st.waiters) and st.waiters[0] is w
        try:
            st.waiters.remove(w)
        except ValueError:
            pass
        if w.fut.done() and not w.fut.cancelled():
            permit = w.fut.result()
            if permit is not None:
                permit.release(0)  # never sent: its tokens are given back (its request stays counted)
        elif not w.fut.done():
            w.fut.cancel()
        if head and st.waiters:
            self._kick(st)

    def _kick(self, st: _State) -> None:
        """Something changed at this account (a release, a waiter left, new caps): serve its queue."""
        if not st.waiters:
            return
        if self._shared_ok():
            if st.wake is None:
                st.wake = asyncio.Event()
            st.wake.set()
            if st.pump is None:
                st.pump = asyncio.get_running_loop().create_task(self._pump_shared(st))
                self._pumps.add(st.pump)
                st.pump.add_done_callback(self._pumps.discard)
            return
        self._pump_local(st)

    def _pump_local(self, st: _State) -> None:
        if st.timer is not None:
            st.timer.cancel()
            st.timer = None
        now = self._clock()
        st.trim(now)
        q = st.quota
        while st.waiters:
            w = st.waiters[0]
            if w.fut.done():
                st.waiters.popleft()
                continue
            if q.tpm is not None and w.tokens > q.tpm:
                st.waiters.popleft()
                self._finish(w, None)
                continue
            wait = st.wait_s(now, w.tokens)
            if wait == 0.0 and st.slot_free():
                st.waiters.popleft()
                self._finish(w, self._grant(st, now, w.tokens, None))
                continue
            if now + wait > w.give_up_at:  # it would time out before room appears: give up now
                st.waiters.popleft()
                self._finish(w, None)
                continue
            if wait > 0.0:
                st.timer = w.fut.get_loop().call_later(wait, self._kick, st)
            break  # else: every slot taken; a release kicks

    # ---- shared (Redis) ------------------------------------------------------------------------------
    async def start_shared(self, redis_url: str, prefix: str) -> None:
        """Multi-replica mode: keep the windows and slots in Redis at ``redis_url`` under ``prefix``. An
        unreachable Redis is not an error: the local counts are used until it answers."""
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(
            redis_url, decode_responses=False, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        self._prefix = prefix
        self._acq = self._redis.register_script(_ACQUIRE)
        self._rel = self._redis.register_script(_RELEASE)
        for name, st in self._states.items():
            st.keys = self._keys(name)
        try:
            await self._redis.ping()
        except Exception as exc:  # any failure: fall back, never fail requests
            self._shared_failed(exc)

    def _shared_ok(self) -> bool:
        return self._redis is not None and (not self._down or self._clock() >= self._down_until)

    def _shared_failed(self, exc: BaseException) -> None:
        self._down_until = self._clock() + self.retry_s
        if not self._down:
            self._down = True
            log.warning(
                "outbound limits: Redis unavailable (%s); each replica enforces the caps alone until it "
                "answers again",
                type(exc).__name__,
            )

    async def _try_shared(self, st: _State, tokens: int) -> _Shared | None:
        """One acquire script; None when Redis failed (the caller falls back to the local counts)."""
        q = st.quota
        lease = f"{self._node}.{next(self._ids)}"
        args = [
            -1 if q.rpm is None else q.rpm,
            -1 if q.tpm is None else q.tpm,
            -1 if q.concurrency is None else q.concurrency,
            tokens,
            lease,
            int(self.lease_s * 1000),
            int(self.window_s * 1000),
        ]
        call = asyncio.ensure_future(self._acq(keys=st.keys, args=args))
        try:
            r = await asyncio.shield(call)
        except asyncio.CancelledError:
            # the script may still grant: give that slot back as soon as it answers
            call.add_done_callback(lambda f: self._undo(st, f, lease))
            raise
        except Exception as exc:
            self._shared_failed(exc)
            return None
        if self._down:
            self._down = False
            log.info("outbound limits: Redis answers again; caps are shared across replicas")
        st.seen = (self._clock(), int(r[4]), int(r[2]), int(r[3]))
        return _Shared(bool(int(r[0])), int(r[1]) / 1000, lease)

    def _undo(self, st: _State, f: asyncio.Future[Any], lease: str) -> None:
        if not f.cancelled() and f.exception() is None and int(f.result()[0]):
            self._release_shared(st, lease, 0, kick=False)

    def _release_shared(self, st: _State, lease: str, tokens_used: int | None, kick: bool = True) -> None:
        task = asyncio.get_running_loop().create_task(self._release_task(st, lease, tokens_used, kick))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release_task(self, st: _State, lease: str, tokens_used: int | None, kick: bool) -> None:
        try:
            keys = [st.keys[2], st.keys[3], st.keys[4]]
            await self._rel(keys=keys, args=[lease, -1 if tokens_used is None else tokens_used])
        except Exception as exc:  # the lease expires by itself
            self._shared_failed(exc)
        if kick:
            self._kick(st)

    async def _pump_shared(self, st: _State) -> None:
        """The head of this replica's queue asks Redis until it is granted or gives up."""
        assert st.wake is not None
        try:
            while st.waiters:
                if not self._shared_ok():
                    self._pump_local(st)
                    return
                w = st.waiters[0]
                if w.fut.done():
                    st.waiters.popleft()
                    continue
                st.wake.clear()
                res = await self._try_shared(st, w.tokens)
                if res is None:
                    continue  # Redis failed: the next turn serves the queue locally
                if w.fut.done():  # it gave up while the script ran
                    if res.granted:
                        self._release_shared(st, res.lease, 0, kick=False)
                    continue
                if res.granted:
                    st.waiters.popleft()
                    self._finish(w, self._grant(st, self._clock(), w.tokens, res.lease))
                    continue
                if self._clock() + res.wait_s > w.give_up_at:
                    st.waiters.popleft()
                    self._finish(w, None)
                    continue
                delay = res.wait_s if res.wait_s > 0 else self.poll_s
                try:
                    await asyncio.wait_for(st.wake.wait(), delay)
                except TimeoutError:
                    pass
        finally:
            st.pump = None

    # ---- introspection and shutdown ------------------------------------------------------------------
    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per account: caps, this process's in-flight and waiting requests, requests and tokens of the
        current window; in multi-replica mode also the shared counts as last seen in Redis."""
        now = self._clock()
        mode = "local" if self._redis is None else ("redis" if not self._down else "local (redis down)")
        out: dict[str, dict[str, Any]] = {}
        for name, st in self._states.items():
            st.trim(now)
            q = st.quota
            entry: dict[str, Any] = {
                "rpm": q.rpm,
                "tpm": q.tpm,
                "concurrency": q.concurrency,
                "max_wait_s": q.max_wait_s,
                "queue": q.queue,
                "mode": mode,
                "in_flight": st.in_flight,
                "waiting": len(st.waiters),
                "rpm_used": len(st.reqs),
                "tpm_used": st.tok_sum,
            }
            if st.seen is not None:
                when, conc, rpm, tpm = st.seen
                entry["shared"] = {
                    "in_flight": conc,
                    "rpm_used": rpm,
                    "tpm_used": tpm,
                    "age_s": round(now - when, 3),
                }
            out[name] = entry
        return out

    async def flush(self) -> None:
        """Wait until the releases sent to Redis so far have landed."""
        if self._releases:
            await asyncio.wait(list(self._releases))

    async def aclose(self) -> None:
        """Stop: waiters get None, pending Redis releases get a moment to finish, Redis is closed."""
        for st in self._states.values():
            if st.timer is not None:
                st.timer.cancel()
                st.timer = None
            while st.waiters:
                self._finish(st.waiters.popleft(), None)
            if st.pump is not None:
                st.pump.cancel()
        if self._pumps:
            await asyncio.wait(list(self._pumps), timeout=2.0)
        if self._releases:
            await asyncio.wait(list(self._releases), timeout=2.0)
        if self._redis is not None:
            redis, self._redis = self._redis, None
            try:
                await redis.aclose()
            except Exception:
                pass
