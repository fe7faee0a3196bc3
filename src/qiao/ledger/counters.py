"""Budget and rate-limit counters: atomic check-and-increment, idempotent settlement by request id.

A request is admitted by :meth:`Counters.acquire` with a list of :class:`Check` (counter key, amount,
limit, time to live): either every counter is incremented, or none is and the index of the first
counter that would exceed its limit comes back. :meth:`Counters.adjust` applies the settlement deltas
once per request id (a second call is a no-op), so settlement and refund are idempotent.

:class:`MemoryCounters` (one process), :class:`SqliteCounters` (several worker processes on one machine,
no Redis) and :class:`RedisCounters` (replicas; the same logic as Lua scripts, so a check and its
increments are one atomic step on the Redis server).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

__all__ = ["Check", "Counters", "MemoryCounters", "RedisCounters", "SqliteCounters"]


class Check(NamedTuple):
    """One counter of an admission (a tuple: built several times per request on the hot path)."""

    key: str
    amount: int
    limit: int | None  # None: count only
    ttl: int = 0  # seconds; 0 = no expiry


class Counters(Protocol):
    async def acquire(self, rid: str, checks: Sequence[Check]) -> tuple[int, list[int]]:
        """(-1, values after) when admitted; (i, values now) when check i would go over its limit;
        (-2, []) when this request id already holds a reservation."""
        ...

    async def adjust(self, rid: str, deltas: Sequence[tuple[str, int, int]]) -> bool:
        """Apply (key, delta, ttl) once for this request id; False if already settled or never reserved."""
        ...

    async def put(self, values: dict[str, tuple[int, int]], only_missing: bool) -> None:
        """Set counters (reconcile from the ledger): key → (value, ttl)."""
        ...

    async def aclose(self) -> None: ...


class MemoryCounters:
    """In-process counters: plain dict operations, atomic because the event loop runs one at a time."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.expiry: dict[str, float] = {}
        self.held: dict[str, float] = {}
        self._last_sweep = time.monotonic()

    def _get(self, key: str, now: float) -> int:
        exp = self.expiry.get(key)
        if exp is not None and exp <= now:
            self.values.pop(key, None)
            self.expiry.pop(key, None)
            return 0
        return self.values.get(key, 0)

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < 30:
            return
        self._last_sweep = now
        for k in [k for k, e in self.expiry.items() if e <= now]:
            self.values.pop(k, None)
            self.expiry.pop(k, None)
        for r in [r for r, e in self.held.items() if e <= now]:
            del self.held[r]

    async def acquire(self, rid: str, checks: Sequence[Check]) -> tuple[int, list[int]]:
        now = time.monotonic()
        self._sweep(now)
        if rid in self.held:
            return -2, []
        cur = [self._get(c.key, now) for c in checks]
        for i, c in enumerate(checks):
            if c.limit is not None and c.amount > 0 and cur[i] + c.amount > c.limit:
                return i, cur
        out = []
        for c, v in zip(checks, cur, strict=True):
            nv = v + c.amount
            self.values[c.key] = nv
            if c.ttl and c.key not in self.expiry:
                self.expiry[c.key] = now + c.ttl
            out.append(nv)
        self.held[rid] = now + 3600
        return -1, out

    async def adjust(self, rid: str, deltas: Sequence[tuple[str, int, int]]) -> bool:
        return self.adjust_now(rid, deltas)

    def adjust_now(self, rid: str, deltas: Sequence[tuple[str, int, int]]) -> bool:
        """:meth:`adjust` without a coroutine (the server settles in-memory counters synchronously)."""
        if self.held.pop(rid, None) is None:
            return False
        now = time.monotonic()
        for key, delta, ttl in deltas:
            self.values[key] = self._get(key, now) + delta
            if ttl and key not in self.expiry:
                self.expiry[key] = now + ttl
        return True

    async def put(self, values: dict[str, tuple[int, int]], only_missing: bool) -> None:
        now = time.monotonic()
        for key, (v, ttl) in values.items():
            if only_missing and key in self.values:
                continue
            self.values[key] = v
            if ttl:
                self.expiry[key] = now + ttl

    async def aclose(self) -> None:
        return None


_ACQUIRE = """
local n = #KEYS - 1
local hold = KEYS[n + 1]
if redis.call('EXISTS', hold) == 1 then return {-2} end
local cur = {}
for i = 1, n do
  cur[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
end
for i = 1, n do
  local amount = tonumber(ARGV[i])
  local limit = tonumber(ARGV[n + i])
  if limit >= 0 and amount > 0 and cur[i] + amount > limit then
    local out = {i - 1}
    for j = 1, n do out[j + 1] = cur[j] end
    return out
  end
end
local out = {-1}
for i = 1, n do
  out[i + 1] = redis.call('INCRBY', KEYS[i], ARGV[i])
  local ttl = tonumber(ARGV[2 * n + i])
  if ttl > 0 and redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], ttl) end
end
redis.call('SET', hold, '1', 'EX', 3600)
return out
"""

_ADJUST = """
local n = #KEYS - 1
if redis.call('DEL', KEYS[n + 1]) == 0 then return 0 end
for i = 1, n do
  redis.call('INCRBY', KEYS[i], ARGV[i])
  local ttl = tonumber(ARGV[n + i])
  if ttl > 0 and redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], ttl) end
end
return 1
"""


class RedisCounters:
    """Counters shared by every replica, one Lua script per admission and per settlement.

    The two scripts go through :class:`qiao.ledger._resp.RedisPipe` (one pipelined connection, no
    pool: about a third of redis-py's per-call cost, see that module) for ``redis://`` URLs; other URLs
    (``rediss://``, ``unix://``) and ``put`` use redis-py."""

    def __init__(self, url: str, prefix: str = "qiao:") -> None:
        import redis.asyncio as aioredis

        self.redis: Any = aioredis.from_url(url, decode_responses=False)
        self.prefix = prefix
        self._pipe: Any = None
        if url.startswith("redis://"):
            from ._resp import RedisPipe

            self._pipe = RedisPipe(url)
            self._acquire_sha = self._pipe.script(_ACQUIRE)
            self._adjust_sha = self._pipe.script(_ADJUST)
        else:
            self._acquire = self.redis.register_script(_ACQUIRE)
            self._adjust = self.redis.register_script(_ADJUST)

    async def acquire(self, rid: str, checks: Sequence[Check]) -> tuple[int, list[int]]:
        p = self.prefix
        keys = [p + c.key for c in checks]
        keys.append(f"{p}hold:{rid}")
        args = [c.amount for c in checks]
        args += [-1 if c.limit is None else c.limit for c in checks]
        args += [c.ttl for c in checks]
        if self._pipe is not None:
            res = await self._pipe.evalsha(self._acquire_sha, keys, args)
        else:
            res = await self._acquire(keys=keys, args=args)
        return int(res[0]), [int(v) for v in res[1:]]

    async def adjust(self, rid: str, deltas: Sequence[tuple[str, int, int]]) -> bool:
        p = self.prefix
        keys = [p + k for k, _, _ in deltas] + [f"{p}hold:{rid}"]
        args = [d for _, d, _ in deltas] + [t for _, _, t in deltas]
        if self._pipe is not None:
            return bool(await self._pipe.evalsha(self._adjust_sha, keys, args))
        return bool(await self._adjust(keys=keys, args=args))

    async def put(self, values: dict[str, tuple[int, int]], only_missing: bool) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for key, (v, ttl) in values.items():
                pipe.set(self.prefix + key, v, ex=ttl or None, nx=only_missing)
            await pipe.execute()

    async def aclose(self) -> None:
        if self._pipe is not None:
            await self._pipe.aclose()
        await self.redis.aclose()


class SqliteCounters:
    """Counters shared by the worker processes of one machine without Redis: one small SQLite file,
    each admission or settlement one ``BEGIN IMMEDIATE`` transaction (run in a thread)."""

    def __init__(self, path: str) -> None:
        import sqlite3

        self.path = path
        self._local: Any = __import__("threading").local()
        con = sqlite3.connect(path, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE IF NOT EXISTS c (k TEXT PRIMARY KEY, v INTEGER NOT NULL, exp REAL)")
        con.execute("CREATE TABLE IF NOT EXISTS h (rid TEXT PRIMARY KEY, exp REAL NOT NULL)")
        con.commit()
        con.close()

    def _con(self) -> Any:
        con = getattr(self._local, "con", None)
        if con is None:
            import sqlite3

            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            con.execute("PRAGMA synchronous=OFF")
            self._local.con = con
        return con

    def _acquire(self, rid: str, checks: Sequence[Check]) -> tuple[int, list[int]]:
        con = self._con()
        now = time.time()
        con.execute("BEGIN IMMEDIATE")
        try:
            if con.execute("SELECT 1 FROM h WHERE rid=? AND exp>?", (rid, now)).fetchone():
                con.execute("COMMIT")
                return -2, []
            cur = []
            for c in checks:
                row = con.execute("SELECT v, exp FROM c WHERE k=?", (c.key,)).fetchone()
                cur.append(0 if row is None or (row[1] is not None and row[1] <= now) else int(row[0]))
            for i, c in enumerate(checks):
                if c.limit is not None and c.amount > 0 and cur[i] + c.amount > c.limit:
                    con.execute("COMMIT")
                    return i, cur
            out = []
            for c, v in zip(checks, cur, strict=True):
                self._add(con, c.key, c.amount, c.ttl, now, v)
                out.append(v + c.amount)
            con.execute("INSERT OR REPLACE INTO h VALUES (?, ?)", (rid, now + 3600))
            con.execute("COMMIT")
            return -1, out
        except BaseException:
            con.execute("ROLLBACK")
            raise

    @staticmethod
    def _add(con: Any, key: str, delta: int, ttl: int, now: float, current: int | None = None) -> None:
        if current is None:
            row = con.execute("SELECT v, exp FROM c WHERE k=?", (key,)).fetchone()
            current = 0 if row is None or (row[1] is not None and row[1] <= now) else int(row[0])
            exp = None if row is None or (row[1] is not None and row[1] <= now) else row[1]
        else:
            row = con.execute("SELECT exp FROM c WHERE k=?", (key,)).fetchone()
            exp = row[0] if row is not None and (row[0] is None or row[0] > now) else None
        if exp is None and ttl:
            exp = now + ttl
        con.execute("INSERT OR REPLACE INTO c VALUES (?, ?, ?)", (key, current + delta, exp))

    def _adjust(self, rid: str, deltas: Sequence[tuple[str, int, int]]) -> bool:
        con = self._con()
        now = time.time()
        con.execute("BEGIN IMMEDIATE")
        try:
            if con.execute("DELETE FROM h WHERE rid=?", (rid,)).rowcount == 0:
                con.execute("COMMIT")
                return False
            for key, delta, ttl in deltas:
                self._add(con, key, delta, ttl, now)
            con.execute("COMMIT")
            return True
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _put(self, values: dict[str, tuple[int, int]], only_missing: bool) -> None:
        con = self._con()
        now = time.time()
        con.execute("BEGIN IMMEDIATE")
        verb = "INSERT OR IGNORE" if only_missing else "INSERT OR REPLACE"
        for key, (v, ttl) in values.items():
            con.execute(f"{verb} INTO c VALUES (?, ?, ?)", (key, v, now + ttl if ttl else None))
        con.execute("DELETE FROM h WHERE exp < ?", (now,))
        con.execute("COMMIT")

    async def acquire(self, rid: str, checks: Sequence[Check]) -> tuple[int, list[int]]:
        import asyncio

        return await asyncio.to_thread(self._acquire, rid, checks)

    async def adjust(self, rid: str, deltas: Sequence[tuple[str, int, int]]) -> bool:
        import asyncio

        return await asyncio.to_thread(self._adjust, rid, deltas)

    async def put(self, values: dict[str, tuple[int, int]], only_missing: bool) -> None:
        import asyncio

        await asyncio.to_thread(self._put, values, only_missing)

    async def aclose(self) -> None:
        return None
