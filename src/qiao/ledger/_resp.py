"""A lean pipelined Redis connection for the two hot-path scripts (admission and settlement).

Why not redis-py for these: measured with ``bench/ledger_micro.py``, one ``EVALSHA`` through redis-py's
asyncio client cost ≈140-200 µs per call on the test machine, most of it Python (connection pool
checkout and release, command packing, response parsing layers); its C parser (``hiredis``) made no
measurable difference because the replies are a handful of integers. This module writes each command
as pre-encoded RESP on one connection and matches replies to callers in order (Redis answers in order),
so concurrent requests share the connection with pipelining and no pool. Everything else (reconcile,
``put``) still goes through redis-py.

Semantics are unchanged: the same Lua scripts run atomically on the server; ``EVALSHA`` falls back to
``EVAL`` once when the server does not know the script (after a restart or ``SCRIPT FLUSH``). A lost
connection fails the commands in flight with :class:`ConnectionError` (as redis-py does) and the next
call reconnects (the scripts are retried once: see :meth:`RedisPipe.evalsha`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["RedisPipe", "RespError", "encode"]


class RespError(Exception):
    """An error reply from Redis (``-ERR …``, ``-NOSCRIPT …``)."""


def encode(*args: bytes | str | int) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


class _Parser:
    """Incremental RESP2 parser for the replies these scripts give (integers, arrays, strings, errors)."""

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> None:
        self.buf = self.buf + data if self.buf else data

    def gets(self) -> tuple[bool, Any]:
        """(True, reply) for one complete reply, else (False, None) until more data arrives."""
        got = self._parse(0)
        if got is None:
            return False, None
        value, end = got
        self.buf = self.buf[end:]
        return True, value

    def _parse(self, i: int) -> tuple[Any, int] | None:
        buf = self.buf
        nl = buf.find(b"\r\n", i)
        if nl < 0:
            return None
        kind, line = buf[i : i + 1], buf[i + 1 : nl]
        nxt = nl + 2
        if kind == b":":
            return int(line), nxt
        if kind == b"+":
            return line.decode(), nxt
        if kind == b"-":
            return RespError(line.decode()), nxt
        if kind == b"$":
            n = int(line)
            if n < 0:
                return None, nxt
            if len(buf) < nxt + n + 2:
                return None
            return buf[nxt : nxt + n], nxt + n + 2
        if kind == b"*":
            n = int(line)
            if n < 0:
                return None, nxt
            out = []
            for _ in range(n):
                got = self._parse(nxt)
                if got is None:
                    return None
                out.append(got[0])
                nxt = got[1]
            return out, nxt
        raise RespError(f"unexpected reply from Redis: {buf[i:nl]!r}")


class _Proto(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.parser = _Parser()
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport: no isinstance check here
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        p = self.parser
        p.feed(data)
        while True:
            ok, reply = p.gets()
            if not ok:
                return
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(ConnectionError(f"Redis connection lost: {exc or 'closed'}"))


class RedisPipe:
    """One connection, commands pipelined; ``redis://[[user]:password@]host[:port][/db]`` URLs only."""

    def __init__(self, url: str, connect_timeout: float = 5.0) -> None:
        u = urlsplit(url)
        if u.scheme != "redis":
            raise ValueError("RedisPipe speaks plain redis:// only")
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 6379
        self.db = int(u.path.strip("/") or 0)
        self.user = unquote(u.username) if u.username else None
        self.password = unquote(u.password) if u.password else None
        self.timeout = connect_timeout
        self._proto: _Proto | None = None
        self._lock = asyncio.Lock()
        self._scripts: dict[bytes, bytes] = {}

    async def _connect(self) -> _Proto:
        async with self._lock:
            if self._proto is not None and not self._proto.lost:
                return self._proto
            loop = asyncio.get_running_loop()
            _, proto = await asyncio.wait_for(
                loop.create_connection(_Proto, self.host, self.port), self.timeout
            )
            self._proto = proto
            if self.password is not None:
                auth = ("AUTH", self.user, self.password) if self.user else ("AUTH", self.password)
                await self._send(proto, encode(*auth))
            if self.db:
                await self._send(proto, encode("SELECT", self.db))
            return proto

    @staticmethod
    async def _send(proto: _Proto, packed: bytes) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        assert proto.transport is not None
        proto.transport.write(packed)
        proto.waiters.append(fut)
        reply = await fut
        if isinstance(reply, RespError):
            raise reply
        return reply

    async def call(self, packed: bytes) -> Any:
        proto = self._proto
        if proto is None or proto.lost:
            proto = await self._connect()
        return await self._send(proto, packed)

    def script(self, body: str) -> bytes:
        """Register a Lua script; returns its SHA-1 (what :meth:`evalsha` takes)."""
        raw = body.encode()
        sha = hashlib.sha1(raw).hexdigest().encode()  # noqa: S324 - Redis names scripts by SHA-1
        self._scripts[sha] = raw
        return sha

    async def evalsha(self, sha: bytes, keys: list[str], args: list[int]) -> Any:
        """Run a registered script. A connection lost with the command in flight is retried once on a
        new connection: safe for qiao's two scripts, which are idempotent by request id (a repeated
        admission answers "already held", a repeated settlement "already settled")."""
        tail: list[bytes | str | int] = [len(keys), *keys, *args]
        packed = encode(b"EVALSHA", sha, *tail)
        for attempt in range(2):
            try:
                try:
                    return await self.call(packed)
                except RespError as exc:
                    if not str(exc).startswith("NOSCRIPT"):
                        raise
                    return await self.call(encode(b"EVAL", self._scripts[sha], *tail))
            except ConnectionError:
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None
