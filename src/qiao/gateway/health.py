"""Per-target circuit breakers and latency tracking (a target is a label ``"account/model"``).

The router asks :meth:`HealthBoard.allow` before trying a target and reports every attempt's outcome
with :meth:`~HealthBoard.success`, :meth:`~HealthBoard.failure` or :meth:`~HealthBoard.release`::

              failures consecutive failures, or error_rate over window_s (≥ min_requests)
    closed ──────────────────────────────────────────────────────────────────────────▶ open
       ▲                                                                                 │ open_s
       │ a probe succeeds                 a probe fails (open for open_s again)          ▼
       └────────────────────────────────── half_open ◀───────────────────────────────────┘
                                 (≤ half_open_probes requests in flight)

Decisions:

* **Hot path.** ``allow``/``success``/``failure``/``release`` are plain dict and attribute work on the
  event loop (no I/O, no lock, no task): a closed breaker costs one dict look-up in ``allow``. The
  error-rate window is ``_BUCKETS`` buckets of (requests, errors) across ``window_s``; a bucket is
  reset when the clock comes back to it, so recording is O(1), summing is O(_BUCKETS) and only done on
  a failure or a snapshot. The window therefore moves in steps of ``window_s / _BUCKETS``.
* **Which errors count is the caller's decision** (429, 5xx, timeouts, connection errors: the target's
  fault; never a 400, which says nothing about the target). An attempt that ends without a verdict
  (client gone, 400) is reported with :meth:`~HealthBoard.release` so it does not hold a probe slot.
* **Probes are not tokens.** ``allow`` returns a bool, so a verdict reported while half-open is taken
  as the probe's, even if it belongs to an older request that started while the breaker was closed. A
  late success is still evidence the target works; a late failure re-opens, which errs on the safe side.
* **Lost probes.** A caller that never reports an attempt would leave a half-open breaker refusing
  forever; so when the last probe was let through ``open_s`` ago and none has reported, the slots are
  taken as lost and probing starts again (a probe may legitimately outlive that, e.g. a long stream,
  so at worst more than ``half_open_probes`` run at once).
* **A fresh start after recovery.** When a probe closes the breaker the error-rate window is cleared:
  otherwise the errors that opened it would re-open it on the next failure.
* **Late verdicts while open** are counted in the window and the latency figures, but neither close
  nor extend the breaker (only a probe decides, and the open period is fixed when it opens).
* **Latency.** The EWMA (weight ``latency_alpha``) is of the first-byte latency when the caller knows
  it (streams), else of the whole attempt; a ring of the last ``_RING`` such values gives p50/p95 in
  snapshots. Only successes are measured: a fast failure is no sign of a fast target.

Multi-replica mode (:meth:`HealthBoard.start_shared`): a breaker one replica opens should stop the others
sending to a broken upstream too, but a Redis round trip per request would cost more than the request's
whole routing. So the request path only marks what changed, and one background task per board (owned by
``start_shared``/``aclose``, not fire-and-forget) talks to Redis:

* a replica that opens a breaker from its own evidence queues ``SET {prefix}cb:{label}
  "<until unix seconds> <replica id>"`` and wakes the task, so the write goes out at once; the key
  expires ``open_s`` plus a grace period after ``until``, so an expired open stays readable for a sync
  or two and a *missing* key unambiguously means "deleted";
* a probe that succeeds queues ``DEL`` of that key (the upstream has recovered, whoever opened it);
* every ``shared_state_interval_s`` the task flushes what is queued and reads the keys of every label
  this replica knows with one ``MGET``; a key with a future ``until`` written by another replica opens
  the local breaker until then (marked *remote*, and not written back); a remotely opened breaker whose
  key has vanished is closed (another replica's probe succeeded). When ``until`` passes, each replica
  goes half-open by itself and sends its own probes: probes are per replica, which is the price of not
  coordinating them through Redis.
* ``until`` travels as unix time, so replicas' clocks should agree (NTP): a skew shifts the remote
  open period by as much. A replica applies each opening (each ``until``) once, so it is not re-opened
  by the same key after its own timer has made it half-open.
* Consecutive failures and error-rate windows stay per replica (sharing them would need a write per
  request). If Redis is unreachable the board keeps working locally; it logs once when Redis goes away
  and once when it comes back, and keeps queued writes for the next successful sync.

Prometheus: :meth:`HealthBoard.metrics_lines` renders ``qiao_breaker_state`` and
``qiao_breaker_transitions_total`` at scrape time, so metrics cost nothing per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Literal

from ..config import RoutingConfig

__all__ = ["HealthBoard", "State"]

log = logging.getLogger(__name__)

State = Literal["closed", "open", "half_open"]

_CLOSED, _HALF_OPEN, _OPEN = 0, 1, 2  # also the values of the qiao_breaker_state gauge
_NAMES: tuple[State, State, State] = ("closed", "half_open", "open")
_BUCKETS = 10  # buckets across window_s
_RING = 128  # recent latencies kept per target for p50/p95
_MGET_CHUNK = 500


class _Target:
    """Mutable state of one target (slotted: created once per label, touched on every attempt)."""

    __slots__ = (
        "consecutive",
        "epochs",
        "errors",
        "ewma",
        "last_error",
        "opened_at",
        "opened_by",
        "probe_at",
        "probes",
        "remote",
        "requests",
        "ring",
        "ring_at",
        "seen",
        "state",
        "transitions",
        "until",
    )

    def __init__(self) -> None:
        self.state = _CLOSED
        self.consecutive = 0
        self.until = 0.0  # monotonic time an open breaker turns half-open
        self.opened_at: float | None = None  # unix time it opened
        self.opened_by: str | None = None  # replica id when opened by another replica
        self.remote = False  # open only because another replica opened it
        self.seen = 0.0  # until (unix) of the last opening read from Redis: applied once only
        self.probes = 0  # probes in flight while half-open
        self.probe_at = 0.0  # monotonic time the last probe was let through
        self.requests = [0] * _BUCKETS
        self.errors = [0] * _BUCKETS
        self.epochs = [-1] * _BUCKETS  # which bucket period each slot currently holds
        self.ewma: float | None = None
        self.ring: list[float] = []
        self.ring_at = 0
        self.last_error: str | None = None
        self.transitions = [0, 0, 0]  # entries into closed, half_open, open


class HealthBoard:
    """Circuit breakers and latency of every target, keyed by label (created lazily on first use)."""

    def __init__(
        self,
        cfg: RoutingConfig,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._t: dict[str, _Target] = {}
        # labels whose breaker is not closed (kept by _enter): allow() can only say no to these, so the
        # router asks it only about them
        self.tripped: set[str] = set()
        self._clock = clock
        self._wall = wall  # unix time, for opened_at and the until times shared through Redis
        self.replica = uuid.uuid4().hex[:12]
        self._redis: Any = None
        self._prefix = ""
        self._pending: dict[str, float | None] = {}  # label → until (unix) to SET, None to DEL
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._down = False  # Redis unreachable (logged once)
        self.configure(cfg)

    def configure(self, cfg: RoutingConfig) -> None:
        """Take new thresholds (configuration reloaded); states and latencies are kept. A new window
        length empties the error-rate windows (their buckets no longer mean the same periods)."""
        b = cfg.breaker
        width = b.window_s / _BUCKETS
        if getattr(self, "_width", width) != width:
            for t in self._t.values():
                t.epochs = [-1] * _BUCKETS
        self._width = width
        self._failures = b.failures
        self._error_rate = b.error_rate
        self._min_requests = b.min_requests
        self._open_s = b.open_s
        self._probes = b.half_open_probes
        self._alpha = cfg.latency_alpha
        self._interval = cfg.shared_state_interval_s

    # ---- the request path ----------------------------------------------------------------------

    def _get(self, label: str) -> _Target:
        t = self._t.get(label)
        if t is None:
            t = self._t[label] = _Target()
        return t

    def allow(self, label: str) -> bool:
        """May an attempt go to this target now? While half-open, a True reserves a probe slot until
        the attempt's success, failure or release is reported."""
        t = self._t.get(label)
        if t is None or t.state == _CLOSED:
            return True
        now = self._clock()
        if t.state == _OPEN:
            if now < t.until:
                return False
            self._enter(label, t, _HALF_OPEN)
        if t.probes >= self._probes:
            if now - t.probe_at < self._open_s:
                return False
            t.probes = 0  # no verdict for open_s: presumed lost (see the module docstring)
        t.probes += 1
        t.probe_at = now
        return True

    def would_allow(self, label: str) -> bool:
        """What :meth:`allow` would answer, without taking a probe slot (to rank candidates before
        choosing one; call :meth:`allow` for the one actually tried)."""
        t = self._t.get(label)
        if t is None or t.state == _CLOSED:
            return True
        now = self._clock()
        if t.state == _OPEN and now < t.until:
            return False
        return t.probes < self._probes or now - t.probe_at >= self._open_s

    def success(self, label: str, latency_s: float, first_byte_s: float | None = None) -> None:
        """A successful attempt: closes a half-open breaker, resets consecutive failures, feeds the
        latency figures (``first_byte_s`` when known, else ``latency_s``)."""
        # _get and _count(t, 0) inlined: this runs on every request
        t = self._t.get(label)
        if t is None:
            t = self._t[label] = _Target()
        epoch = int(self._clock() / self._width)
        i = epoch % _BUCKETS
        if t.epochs[i] != epoch:
            t.epochs[i] = epoch
            t.requests[i] = 0
            t.errors[i] = 0
        t.requests[i] += 1
        t.consecutive = 0
        v = latency_s if first_byte_s is None else first_byte_s
        t.ewma = v if t.ewma is None else t.ewma + self._alpha * (v - t.ewma)
        ring = t.ring
        if len(ring) < _RING:
            ring.append(v)
        else:
            ring[t.ring_at] = v
            t.ring_at = (t.ring_at + 1) % _RING
        if t.state == _HALF_OPEN:
            t.probes = 0
            t.epochs = [-1] * _BUCKETS
            self._enter(label, t, _CLOSED)
            if self._redis is not None:
                self._queue(label, None)

    def failure(self, label: str, code: str) -> None:
        """A failed attempt that is the target's fault (``code``: e.g. ``"429"``, ``"503"``,
        ``"timeout"``, ``"connect"``). May open the breaker; a failed probe re-opens it."""
        t = self._get(label)
        self._count(t, 1)
        t.consecutive += 1
        t.last_error = code
        if t.state == _HALF_OPEN:
            self._open(label, t)
        elif t.state == _CLOSED:
            if t.consecutive >= self._failures:
                self._open(label, t)
                return
            n, e = self._window(t)
            if n >= self._min_requests and e >= self._error_rate * n:
                self._open(label, t)

    def release(self, label: str) -> None:
        """An attempt ended with no verdict (client cancelled, 400): frees its probe slot if half-open."""
        t = self._t.get(label)
        if t is not None and t.state == _HALF_OPEN and t.probes > 0:
            t.probes -= 1

    def _count(self, t: _Target, error: int) -> None:
        epoch = int(self._clock() / self._width)
        i = epoch % _BUCKETS
        if t.epochs[i] != epoch:
            t.epochs[i] = epoch
            t.requests[i] = 0
            t.errors[i] = 0
        t.requests[i] += 1
        t.errors[i] += error

    def _window(self, t: _Target) -> tuple[int, int]:
        oldest = int(self._clock() / self._width) - _BUCKETS
        n = e = 0
        for i in range(_BUCKETS):
            if t.epochs[i] > oldest:
                n += t.requests[i]
                e += t.errors[i]
        return n, e

    def _open(self, label: str, t: _Target) -> None:
        t.until = self._clock() + self._open_s
        t.opened_at = self._wall()
        t.opened_by = None
        t.remote = False
        t.probes = 0
        self._enter(label, t, _OPEN)
        if self._redis is not None:
            self._queue(label, t.opened_at + self._open_s)

    def _enter(self, label: str, t: _Target, state: int) -> None:
        old = t.state
        t.state = state
        if state == _CLOSED:
            self.tripped.discard(label)
        else:
            self.tripped.add(label)
        t.transitions[state] += 1
        if state == _OPEN:
            if t.remote:  # the replica that opened it logged the warning
                log.info("breaker of %s opened by replica %s", label, t.opened_by)
            else:
                log.warning("breaker of %s opened for %.0fs after %s", label, self._open_s, t.last_error)
        elif state == _CLOSED:
            t.opened_at = None
            t.opened_by = None
            t.remote = False
            log.info("breaker of %s closed (was %s)", label, _NAMES[old])
        else:
            t.remote = False

    # ---- reading -------------------------------------------------------------------------------

    def state(self, label: str) -> State:
        """``closed``, ``open`` or ``half_open`` (an open breaker whose ``open_s`` has passed reads as
        half-open, as the next ``allow`` would make it)."""
        t = self._t.get(label)
        if t is None:
            return "closed"
        if t.state == _OPEN and self._clock() >= t.until:
            self._enter(label, t, _HALF_OPEN)
        return _NAMES[t.state]

    def latency(self, label: str) -> float | None:
        """Moving average of the first-byte latency in seconds; None if never measured."""
        t = self._t.get(label)
        return None if t is None else t.ewma

    def transitions(self) -> dict[str, dict[str, int]]:
        """How many times each known target entered each state (for metrics and tests)."""
        return {
            label: {"closed": t.transitions[0], "half_open": t.transitions[1], "open": t.transitions[2]}
            for label, t in self._t.items()
        }

    def track(self, labels: Iterable[str]) -> None:
        """Know these targets before their first attempt (the route table's labels at start-up), so a
        breaker another replica opened is applied before this replica sends them anything."""
        for label in labels:
            self._get(label)

    def labels(self) -> list[str]:
        """Targets this board has seen."""
        return list(self._t)

    def snapshot(self, labels: Iterable[str]) -> list[dict[str, Any]]:
        """One JSON-serialisable dict per label (``GET /admin/health``); times in ms, unix seconds."""
        out = []
        for label in labels:
            st = self.state(label)
            t = self._t.get(label) or _Target()
            n, e = self._window(t)
            recent = sorted(t.ring)
            out.append(
                {
                    "label": label,
                    "state": st,
                    "consecutive_failures": t.consecutive,
                    "requests": n,
                    "errors": e,
                    "error_rate": round(e / n, 4) if n else 0.0,
                    "ewma_ms": None if t.ewma is None else round(t.ewma * 1000, 1),
                    "p50_ms": _pct_ms(recent, 0.50),
                    "p95_ms": _pct_ms(recent, 0.95),
                    "last_error": t.last_error,
                    "opened_at": None if st == "closed" else t.opened_at,
                    "retry_in_s": round(max(0.0, t.until - self._clock()), 3) if st == "open" else None,
                    "opened_by": t.opened_by,
                }
            )
        return out

    def metrics_lines(self) -> list[str]:
        """Prometheus text lines: ``qiao_breaker_state{target}`` (0 closed, 1 half-open, 2 open) and
        ``qiao_breaker_transitions_total{target,to}``, computed at scrape time."""
        lines = ["# TYPE qiao_breaker_state gauge"]
        totals = []
        for label in sorted(self._t):
            self.state(label)
            t = self._t[label]
            lbl = f'target="{_escape(label)}"'
            lines.append(f"qiao_breaker_state{{{lbl}}} {t.state}")
            for state, n in enumerate(t.transitions):
                totals.append(f'qiao_breaker_transitions_total{{{lbl},to="{_NAMES[state]}"}} {n}')
        lines.append("# TYPE qiao_breaker_transitions_total counter")
        return lines + totals

    # ---- multi-replica mode --------------------------------------------------------------------

    async def start_shared(self, redis_url: str, prefix: str) -> None:
        """Share breaker openings with other replicas through Redis (see the module docstring). One
        sync runs before this returns; an unreachable Redis is logged, not raised."""
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        if self._task is not None:
            return
        timeout = max(0.2, min(2.0, self._interval))
        self._redis = aioredis.from_url(
            redis_url,
            decode_responses=False,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # the next sync is the retry
        )
        self._prefix = prefix
        self._wake = asyncio.Event()
        for label, t in self._t.items():  # breakers opened before sharing started
            if t.state == _OPEN and not t.remote and t.opened_at is not None:
                self._queue(label, t.opened_at + self._open_s)
        await self.sync_now()
        self._task = asyncio.create_task(self._run(), name="qiao-health-sync")

    async def aclose(self) -> None:
        """Stop the sync task (one last flush of queued writes) and close the Redis client."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._redis is not None:
            if self._pending:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._flush(), timeout=1.0)
            with contextlib.suppress(Exception):
                await self._redis.aclose()
            self._redis = None

    def _queue(self, label: str, until: float | None) -> None:
        self._pending[label] = until
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
            await self.sync_now()

    async def sync_now(self) -> None:
        """Flush queued writes and apply other replicas' breakers (the background task calls this every
        ``shared_state_interval_s``; tests call it directly). Never raises for Redis errors."""
        if self._redis is None:
            return
        try:
            await self._flush()
            await self._pull()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self._down:
                self._down = True
                log.warning(
                    "breaker state not shared: Redis unreachable (%s: %s); breakers keep working locally",
                    type(exc).__name__,
                    exc,
                )
            return
        if self._down:
            self._down = False
            log.info("breaker state shared through Redis again")

    async def _flush(self) -> None:
        ops, self._pending = self._pending, {}
        if not ops:
            return
        now = self._wall()
        grace = max(2 * self._interval, 1.0)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for label, until in ops.items():
                    key = f"{self._prefix}cb:{label}"
                    if until is None:
                        pipe.delete(key)
                    elif until > now:
                        ttl_ms = max(1, int((until - now + grace) * 1000))
                        pipe.set(key, f"{until!r} {self.replica}".encode(), px=ttl_ms)
                await pipe.execute()
        except BaseException:
            for label, until in ops.items():  # keep them for the next sync, unless superseded
                self._pending.setdefault(label, until)
            raise

    async def _pull(self) -> None:
        labels = list(self._t)
        p = self._prefix
        for start in range(0, len(labels), _MGET_CHUNK):
            chunk = labels[start : start + _MGET_CHUNK]
            values = await self._redis.mget([f"{p}cb:{label}" for label in chunk])
            for label, raw in zip(chunk, values, strict=True):
                self._apply_remote(label, raw)

    def _apply_remote(self, label: str, raw: bytes | None) -> None:
        t = self._t.get(label)
        if t is None or label in self._pending:  # our own newer news goes out first
            return
        if raw is None:
            if t.state == _OPEN and t.remote:  # another replica's probe succeeded
                t.probes = 0
                self._enter(label, t, _CLOSED)
            return
        try:
            until_s, replica = raw.decode().split(" ", 1)
            until = float(until_s)
        except (UnicodeDecodeError, ValueError):
            return
        now_wall = self._wall()
        if replica == self.replica or until <= now_wall or until <= t.seen:
            return  # ours, over, or an opening already applied (we may be half-open since)
        local_until = self._clock() + (until - now_wall)
        if t.state == _OPEN and not t.remote:
            return  # opened from our own evidence: our own timer decides
        t.seen = until
        if t.state == _OPEN and t.remote:
            t.until = local_until
            t.opened_by = replica
            return
        t.until = local_until
        t.opened_at = until - self._open_s
        t.opened_by = replica
        t.remote = True
        t.probes = 0
        self._enter(label, t, _OPEN)


def _pct_ms(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return round(sorted_values[i] * 1000, 1)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
