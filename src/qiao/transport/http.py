"""The one place that talks HTTP to upstreams: a lean HTTP/1.1 client with keep-alive pools.

Why not aiohttp or httpx: on this hot path the client is most of the gateway's cost. Measured on one
pinned core against the same fake upstream (bench/RESULTS.md), aiohttp's client spends about 230 µs of
CPU per request, httpx more; this client, an :class:`asyncio.Protocol` around the ``httptools`` parser
(the C parser uvicorn uses), spends under 30 µs. It does exactly what upstream calls need: HTTP/1.1
keep-alive per account, TLS (with the account's CA bundle), an HTTP proxy per account (``CONNECT`` for
HTTPS upstreams), chunked and gzip/deflate bodies, streaming with back-pressure, connect / first-byte /
total timeouts, and a retry on a pooled connection the server had already closed.

Every network exception is translated here, and only here, into the error tree.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import ssl
import zlib
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, overload
from urllib.parse import urlsplit

import httptools

from ..errors import QiaoError, UpstreamError, UpstreamTimeout, redact
from ..providers.base import Account, FetchFn, WireRequest, WireResponse

__all__ = ["StreamResponse", "Timeouts", "Transport"]

USER_AGENT = b"qiao-gateway"
_HIGH_WATER = 1 << 20  # pause reading a stream the client has not consumed past 1 MiB
_NEVER = float("inf")


@dataclass(slots=True)  # not frozen: built per attempt (see providers/base.py on frozen dataclasses)
class Timeouts:
    connect: float = 10.0
    first_byte: float = 120.0
    total: float = 600.0
    deadline: float | None = None
    """Event-loop time after which a stream still running is cut (the request's deadline)."""


class _ConnectionClosed(Exception):
    """The connection closed before a complete response (``received`` tells whether any byte came)."""

    def __init__(self, received: bool) -> None:
        super().__init__("connection closed")
        self.received = received


class _Conn(asyncio.Protocol):
    """One upstream connection; answers one request at a time."""

    __slots__ = (
        "transport",
        "parser",
        "status",
        "_headers",
        "_headers_done",
        "_chunks",
        "_body_done",
        "_waiter",
        "_closed",
        "_received",
        "_buffered",
        "_paused",
        "_key",
        "_decoder",
        "_keep_alive",
        "_loop",
        "_head",
        "_timed_out",
        "_deadline",
        "_watch_at",
        "_watcher",
        "on_body",
    )
    _body_done: bool  # (declared here: _reset reads them before it sets them)
    _keep_alive: bool

    def __init__(self, key: tuple[str, str, int]) -> None:
        self.transport: asyncio.Transport | None = None
        # The parser's body callback is the deque's own append (it looks its callbacks up once, here):
        # a body piece (one per chunk of a chunked stream, ~25 a streamed answer) then costs no Python
        # frame; data_received does the bookkeeping once per read, _take_chunks any decompression.
        self._chunks: collections.deque[bytes] = collections.deque()
        self.on_body = self._chunks.append
        self.parser = httptools.HttpResponseParser(self)
        self._key = key
        self._loop = asyncio.get_running_loop()
        self._reset()
        self._closed = False
        self._deadline = _NEVER  # of the head wait in progress (see Transport.send)
        self._watch_at = _NEVER  # when the earliest pending watcher timer fires
        self._watcher: asyncio.TimerHandle | None = None

    def _reset(
        self, idle: dict[tuple[str, str, int], collections.deque[_Conn]] | None = None, max_idle: int = 0
    ) -> None:
        """Ready for the next request. With ``idle`` (the transport's pools), back into its pool, or dropped
        when it cannot be reused (closing, not kept alive, its body not read to the end) or the pool is
        full. (Giving back and resetting are one function, not two a request.)"""
        if idle is not None:
            t = self.transport
            if self._closed or t is None or t.is_closing() or not self._body_done or not self._keep_alive:
                self.abort()
                return
            pool = idle.get(self._key)
            if pool is None:  # (not setdefault: that builds a deque per call)
                pool = idle[self._key] = collections.deque()
            if len(pool) >= max_idle:
                self.abort()
                return
            pool.append(self)  # (reset below, before anything can take it)
        self.status = 0
        self._headers: dict[str, str] | None = None
        self._head: list[bytes] = []  # the reads of the head (a new list: an _Answer keeps the old one)
        self._headers_done = False
        self._chunks.clear()
        self._body_done = False
        self._waiter: asyncio.Future[None] | None = None
        self._received = False
        self._buffered = 0
        self._paused = False
        self._decoder: zlib._Decompress | None = None
        self._keep_alive = False
        self._timed_out = False

    # protocol callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._received = True
        if not self._headers_done:  # the head's reads, for its headers (see _decode_head)
            self._head.append(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._closed = True
            if self.transport is not None:
                self.transport.abort()
            self._wake()
            return
        if self._chunks:  # body pieces came (appended by the parser itself: see __init__)
            self._buffered += len(data)
            if self._buffered > _HIGH_WATER and not self._paused and self.transport is not None:
                self._paused = True
                self.transport.pause_reading()
        # One wake per read, here, after all of the parser's callbacks for it (head complete, body pieces,
        # message complete) have only set flags: no call of _wake's per read, none in the callbacks. A read
        # that completed nothing (a head split across reads) wakes the waiter to find nothing and wait again.
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._watcher is not None:  # a closed connection is not kept alive by its watcher timer
            self._watcher.cancel()
            self._watcher = None
            self._watch_at = _NEVER
        self._wake()

    def on_headers_complete(self) -> None:
        parser = self.parser
        status = parser.get_status_code()
        if status < 200 and status != 101:
            # An interim head (100 Continue, 103 Early Hints): the answer's own head is still to come,
            # in this read or a later one (whose bytes must still be kept in _head), and this head's
            # message completing does not end the body (on_message_complete).
            return
        self.status = status
        self._keep_alive = parser.should_keep_alive()  # only meaningful before the message completes
        self._headers_done = True
        self._headers = None  # (a 1xx head's headers are merged with the final head's: _decode_head)
        # (no wake here: data_received wakes the waiter once the whole read is parsed)
        # No on_header callback (a Python call per header, 3-4 an answer, ~20 from OpenAI): the headers are
        # parsed from the head's bytes (_decode_head) when first read, and only error answers and streams
        # read them. Here only a Content-Encoding matters: its name is looked for in the lower-cased head
        # (httptools refuses a space before the colon and bare LFs, so "\ncontent-encoding:" finds it
        # exactly); a head after a 1xx one, or after blank lines, is decoded in full instead.
        pieces = self._head
        raw = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        end = raw.find(b"\r\n\r\n")
        # (raw[i] == byte, not raw[i:i+1] == b"..": an index makes no slice object; a head is >= 16 bytes)
        if (
            end < 0
            or raw[9] == 0x31  # "1": an interim head first
            or raw[0] == 0x0D  # "\r": blank lines first
            or raw[:end].lower().find(b"\ncontent-encoding:") >= 0
        ):
            h = self._headers = _decode_head(pieces)
            enc = h.get("content-encoding", "").lower()
            if enc in ("gzip", "x-gzip"):
                self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            elif enc == "deflate":
                self._decoder = zlib.decompressobj()

    def on_message_complete(self) -> None:
        if not self._headers_done:  # an interim head's (see on_headers_complete)
            return
        if self._decoder is not None:
            self._chunks.append(b"")  # one more take, which flushes the decompressor
        self._body_done = True  # (data_received wakes the waiter)

    def _wake(self) -> None:
        """Wake the waiter outside a read (connection lost, a parse error, a timer)."""
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _time_out(self) -> None:
        self._timed_out = True
        self._wake()

    # One loop timer per wait instead of ``asyncio.timeout`` (which adds a Timeout object, a reschedule,
    # task bookkeeping and a getpid system call to every request): the timer only wakes the waiter.
    def _arm(self, limit_s: float) -> asyncio.TimerHandle:
        return self._loop.call_later(limit_s, self._time_out)

    def _disarm(self, timer: asyncio.TimerHandle) -> None:
        timer.cancel()
        self._timed_out = False  # a timer that fired as the wait completed must not leak into the next

    def _take_chunks(self) -> bytes:
        """Everything buffered, as one piece (fewer writes downstream, no added latency), and reading
        resumed if back-pressure had paused it (everything buffered is taken: nothing is left)."""
        chunks = self._chunks
        chunk = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._decoder is not None:  # gzip / deflate: the body pieces are decompressed as taken
            chunk = self._decoder.decompress(chunk)
            if self._body_done:
                chunk += self._decoder.flush()
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    def _check_deadline(self, at: float) -> None:
        if at == self._watch_at:  # the earliest watcher fired: none is pending until re-armed
            self._watch_at = _NEVER
            self._watcher = None
        deadline = self._deadline
        if deadline == _NEVER:  # no head wait in progress (the connection is idle or streaming)
            return
        if self._loop.time() >= deadline:
            self._time_out()
        elif deadline < self._watch_at:
            self._watch_at = deadline
            self._watcher = self._loop.call_at(deadline, self._check_deadline, deadline)

    def abort(self) -> None:
        self._closed = True
        if self.transport is not None:
            self.transport.abort()


def _decode_head(pieces: list[bytes]) -> dict[str, str]:
    """The headers of a response head from the reads that brought it (the first starts the head; the last
    may run on into the body): names lower-cased, repeated names joined with ", ", values latin-1, as
    httptools gives them (the spaces and tabs after the colon dropped, trailing ones kept). The headers of
    1xx heads before the final one are merged in, as they come. Only called once httptools has parsed
    the head, so it is well formed: CRLF line ends, no folded lines, a colon on every header line."""
    raw = pieces[0] if len(pieces) == 1 else b"".join(pieces)
    headers: dict[str, str] = {}
    at = 0
    while True:
        while raw.startswith(b"\r\n", at):  # (httptools skips blank lines before a status line)
            at += 2
        end = raw.find(b"\r\n\r\n", at)
        if end < 0:
            end = len(raw)
        # One decode for the head, then per header only C methods that take their arguments cheaply
        # (partition, lower, lstrip): find() and slices parse a tuple of arguments or build a slice
        # object each (~0.5k instructions a header more, measured with bench/instr.py).
        lines = raw[at:end].decode("latin-1").split("\r\n")
        for line in lines[1:]:
            k, _, v = line.partition(":")
            k = k.lower()
            v = v.lstrip(" \t")
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
        code = lines[0][9:12]  # "HTTP/1.1 200 OK"
        if code[:1] != "1" or code == "101" or end + 4 >= len(raw):
            return headers
        at = end + 4


class _Answer(WireResponse):
    """A :class:`WireResponse` whose headers are decoded from the head's reads when first read (see
    ``_Conn.on_headers_complete``: most answers never need them).

    No __init__ of its own (a Python call per answer): :meth:`Transport.send` makes one with
    ``object.__new__`` and sets its four slots; ``_Answer(status, headers, body)`` (the dataclass's)
    works too."""

    __slots__ = ("_raw", "_decoded")
    _raw: list[bytes]  # the reads of the head (see _decode_head)
    _decoded: dict[str, str] | None

    @property  # type: ignore[override]
    def headers(self) -> dict[str, str]:
        h = self._decoded
        if h is None:
            h = self._decoded = _decode_head(self._raw)
        return h

    @headers.setter
    def headers(self, value: dict[str, str]) -> None:
        self._decoded = value


class _TunnelProto(asyncio.Protocol):
    """Reads a proxy's answer to CONNECT."""

    def __init__(self) -> None:
        self.buf = b""
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\r\n\r\n" in self.buf and not self.done.done():
            line = self.buf.split(b"\r\n", 1)[0].split()
            self.done.set_result(int(line[1]) if len(line) > 1 and line[1].isdigit() else 0)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError("proxy closed the connection"))


def _proxy_auth(proxy_url: str) -> str | None:
    """``Basic …`` for a proxy URL with ``user:password@`` (percent-decoded), else None."""
    from urllib.parse import unquote

    p = urlsplit(proxy_url)
    if not p.username:
        return None
    cred = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
    return "Basic " + base64.b64encode(cred).decode()


def _translate(exc: BaseException, account: Account, what: str) -> QiaoError:
    provider = account.provider
    if isinstance(exc, QiaoError):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"{provider} upstream timed out ({what})", provider=provider)
    if isinstance(exc, _ConnectionClosed):
        return UpstreamError(
            f"{provider} upstream closed the connection mid-response",
            provider=provider,
            code="upstream_disconnected",
        )
    if isinstance(exc, ssl.SSLError):
        return UpstreamError(
            f"{provider} upstream TLS error: {exc.reason or exc}",
            provider=provider,
            code="upstream_tls_error",
        )
    if isinstance(exc, OSError):
        return UpstreamError(
            f"{provider} upstream unreachable: cannot connect to {account.base_url} "
            f"({exc.strerror or type(exc).__name__})",
            provider=provider,
            code="upstream_connect_error",
        )
    msg = redact(str(exc) or type(exc).__name__, (account.credential or "",))
    return UpstreamError(f"{provider} upstream request failed: {msg}", provider=provider)


class StreamResponse:
    """An upstream response whose body is read incrementally. ``close()`` drops the connection (the
    client left, or an error); ``release()`` returns a fully read one to the pool."""

    __slots__ = (
        "_account",
        "_conn",
        "_done",
        "_expired",
        "_first",
        "_timeouts",
        "_timer",
        "_transport",
        "_what",
        "headers",
        "status",
    )

    def __init__(
        self, conn: _Conn, transport: Transport, account: Account, timeouts: Timeouts, arm: bool = True
    ) -> None:
        self._conn = conn
        self._transport = transport
        self._account = account
        self._timeouts = timeouts
        self.status = conn.status
        h = conn._headers  # (decoded already if a Content-Encoding was looked for)
        self.headers = _decode_head(conn._head) if h is None else h
        self._first = True
        self._done = False
        self._expired = False
        self._what = "streaming"  # what a read was doing, for its errors
        self._timer: asyncio.TimerHandle | None = None
        if arm and timeouts.deadline is not None:
            # One timer per response (not one per chunk): at the deadline the connection is dropped,
            # which wakes a pending read; the read then reports a timeout.
            self._timer = conn._loop.call_at(timeouts.deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        if not self._done:
            self._expired = True
            self._conn.abort()

    async def read_all(self) -> bytes:
        """The whole body, waiting at most the total limit for it."""
        conn = self._conn
        if conn._body_done and not conn._paused:  # usually: the body came with the head
            body = conn._take_chunks()
            self.release()
            return body
        self._first = False  # (the total limit, not the first-byte one)
        self._what = "reading body"
        timer = conn._arm(self._timeouts.total)  # one loop timer, not asyncio.timeout's machinery
        try:
            parts: list[bytes] = []
            while (chunk := await self.read()) is not None:
                parts.append(chunk)
            return b"".join(parts)
        finally:
            conn._disarm(timer)

    async def read(self) -> bytes | None:
        """The next piece of the body (everything buffered, as one piece), None at its end (the
        connection then goes back to the pool). A plain coroutine, not an async generator: a stream
        its reader leaves early (at the provider's end marker) then leaves no generator behind for the
        loop's finalizer to close in a task of its own, and a piece already buffered costs no wait.

        The only place a body is waited for (read_all and drain loop over it): the wait is here, on the
        connection's future, not in a coroutine of the connection's (a frame less to create and to
        resume through per wait). The waiter is not cleared after: a done or cancelled one is never
        woken (see _Conn._wake)."""
        conn = self._conn
        if not conn._chunks:
            timer = conn._arm(self._timeouts.first_byte) if self._first else None
            try:
                while not conn._chunks:
                    if conn._body_done:
                        self.release()
                        return None
                    if conn._timed_out:
                        raise TimeoutError
                    if conn._closed:
                        raise _ConnectionClosed(True)
                    conn._waiter = waiter = conn._loop.create_future()
                    await waiter
            except (TimeoutError, OSError, _ConnectionClosed) as exc:
                self.close()
                if self._expired:
                    raise UpstreamTimeout(
                        f"{self._account.provider} stream was still running at the request's deadline",
                        provider=self._account.provider,
                    ) from exc
                raise _translate(exc, self._account, self._what) from exc
            finally:
                if timer is not None:
                    conn._disarm(timer)
        self._first = False
        return conn._take_chunks()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self.read()) is not None:
            yield chunk

    async def drain(self, limit_s: float = 0.05) -> None:
        """After the provider's own end marker: read what is left (usually just the chunked-encoding
        terminator) so the connection can be reused; drop it if that takes longer than ``limit_s``."""
        if self._done:
            return
        conn = self._conn
        if conn._body_done and not conn._paused:  # usually: the rest came with the last read
            self.release()  # (what is left buffered, if anything, is dropped as the pool resets it)
            return
        self._first = False
        timer = conn._arm(limit_s)
        try:
            while await self.read() is not None:
                pass
        except QiaoError:
            pass  # (read dropped the connection)
        finally:
            conn._disarm(timer)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._done:
            self._done = True
            self._conn.abort()

    def release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._done:
            self._done = True
            t = self._transport
            self._conn._reset(t._idle, t._max_idle)  # back into the pool (or dropped)


class Transport:
    """Keep-alive connection pools per upstream origin (and per account, for proxies and CA bundles)."""

    def __init__(self, timeouts: Timeouts | None = None, max_idle_per_origin: int = 256) -> None:
        self.timeouts = timeouts or Timeouts()
        self._idle: dict[tuple[str, str, int], collections.deque[_Conn]] = {}
        self._ssl: dict[str, ssl.SSLContext] = {}
        self._max_idle = max_idle_per_origin
        self._fetchers: dict[str, FetchFn] = {}
        self._urls: dict[str, tuple[str, str, int, str]] = {}
        self._heads: dict[
            tuple[str, str, str | None, tuple[tuple[str, str], ...]], tuple[bytes, str, str, int]
        ] = {}

    def _ssl_context(self, account: Account) -> ssl.SSLContext:
        key = account.ca_bundle or ""
        ctx = self._ssl.get(key)
        if ctx is None:
            try:
                ctx = ssl.create_default_context(cafile=account.ca_bundle or None)
            except (OSError, ssl.SSLError) as exc:  # a missing or unreadable PEM file: say which
                raise UpstreamError(
                    f"{account.provider}: cannot load the account's ca_bundle {account.ca_bundle!r} "
                    f"({getattr(exc, 'strerror', None) or exc})",
                    provider=account.provider,
                    code="upstream_tls_error",
                    retryable=False,
                ) from exc
            self._ssl[key] = ctx
        return ctx

    async def _connect(
        self, scheme: str, host: str, port: int, account: Account, timeouts: Timeouts
    ) -> _Conn:
        loop = asyncio.get_running_loop()
        key = (account.name, host, port)
        tls = self._ssl_context(account) if scheme == "https" else None
        async with asyncio.timeout(timeouts.connect):
            if not account.proxy:
                _, conn = await loop.create_connection(
                    lambda: _Conn(key), host, port, ssl=tls, server_hostname=host if tls else None
                )
                return conn
            proxy = urlsplit(account.proxy)
            phost, pport = proxy.hostname or "", proxy.port or (443 if proxy.scheme == "https" else 80)
            if (
                tls is None
            ):  # plain HTTP through a proxy: absolute-form request target on the proxy connection
                _, conn = await loop.create_connection(lambda: _Conn(key), phost, pport)
                return conn
            t, tp = await loop.create_connection(_TunnelProto, phost, pport)
            pa = _proxy_auth(account.proxy)
            auth = f"Proxy-Authorization: {pa}\r\n".encode() if pa else b""
            target = f"{host}:{port}".encode()
            t.write(b"CONNECT " + target + b" HTTP/1.1\r\nHost: " + target + b"\r\n" + auth + b"\r\n")
            status = await tp.done
            if status != 200:
                t.close()
                raise UpstreamError(
                    f"{account.provider}: proxy refused CONNECT ({status})",
                    provider=account.provider,
                    code="upstream_proxy_error",
                )
            conn = _Conn(key)
            new_t = await loop.start_tls(t, conn, tls, server_hostname=host)
            if new_t is None:  # pragma: no cover - start_tls returns None only when the loop is closing
                raise UpstreamError("TLS through the proxy failed", provider=account.provider)
            conn.connection_made(new_t)
            return conn

    @staticmethod
    def _encode_head(
        wire: WireRequest, host: str, port: int, scheme: str, target: str, proxy_auth: str | None = None
    ) -> bytes:
        """The request line and headers, without Content-Length and the blank line."""
        default_port = 443 if scheme == "https" else 80
        host_header = host if port == default_port else f"{host}:{port}"
        lines = [f"{wire.method} {target} HTTP/1.1\r\nHost: {host_header}\r\n".encode()]
        if proxy_auth:  # plain HTTP through a proxy: its credentials ride on every request
            lines.append(f"Proxy-Authorization: {proxy_auth}\r\n".encode())
        has_ua = False
        for k, v in wire.headers.items():
            if "\r" in k or "\n" in k or "\r" in v or "\n" in v:
                raise UpstreamError("invalid header value (line break)", code="invalid_header")
            lines.append(f"{k}: {v}\r\n".encode())
            if k.lower() == "user-agent":
                has_ua = True
        if not has_ua:
            lines.append(b"User-Agent: " + USER_AGENT + b"\r\n")
        return b"".join(lines)

    def _encode(
        self, wire: WireRequest, account: Account, key: tuple[Any, ...]
    ) -> tuple[bytes, str, str, int]:
        """The request head (without Content-Length and the blank line) and the (scheme, host, port) to
        send it to, memoised under ``key`` (see :meth:`send`) when it can be."""
        scheme, host, port, target = self._split(wire.url)
        proxy_auth = None
        if account.proxy and scheme == "http":
            target = wire.url  # absolute form for a plain-HTTP proxy
            proxy_auth = _proxy_auth(account.proxy)
        got = (self._encode_head(wire, host, port, scheme, target, proxy_auth), scheme, host, port)
        heads = self._heads
        if len(heads) >= 1024:  # bounded: headers carrying per-request values would grow it
            heads.clear()
        try:
            heads[key] = got
        except TypeError:  # a header value that is not a string (unhashable): encoded as before, not kept
            pass
        return got

    def _split(self, url: str) -> tuple[str, str, int, str]:
        """(scheme, host, port, origin-form target) of a URL, memoised: upstream URLs repeat."""
        got = self._urls.get(url)
        if got is None:
            u = urlsplit(url)
            scheme = u.scheme
            got = (
                scheme,
                u.hostname or "",
                u.port or (443 if scheme == "https" else 80),
                (u.path or "/") + (f"?{u.query}" if u.query else ""),
            )
            if len(self._urls) >= 4096:  # bounded: URLs carrying per-request ids would grow it
                self._urls.clear()
            self._urls[url] = got
        return got

    @overload
    async def send(
        self,
        wire: WireRequest,
        account: Account,
        timeouts: Timeouts | None = None,
        *,
        stream: Literal[False] = False,
    ) -> WireResponse: ...
    @overload
    async def send(
        self, wire: WireRequest, account: Account, timeouts: Timeouts | None, *, stream: Literal[True]
    ) -> StreamResponse: ...
    async def send(
        self, wire: WireRequest, account: Account, timeouts: Timeouts | None = None, *, stream: bool = False
    ) -> WireResponse | StreamResponse:
        """Send and read the whole answer; with ``stream``, return once the head came (see :meth:`stream`).

        One coroutine from the pool to the answer: taking a pooled connection, sending, waiting for the
        head and reading the body are not coroutines or calls of their own (each layer cost a frame to
        create and to resume through, ~1.5k instructions a request)."""
        t = timeouts or self.timeouts
        # The head is memoised on everything it is made of (method, URL, proxy, headers in order): an
        # account's calls repeat it byte for byte (its credential and constant headers), and building it
        # (a format, a line-break check and an encode per header) is ~10k instructions; the key is a
        # tuple of the header pairs (~1k to build, hash and compare). Looked up here, not in a call.
        head_key = (wire.method, wire.url, account.proxy, tuple(wire.headers.items()))
        try:
            got = self._heads.get(head_key)
        except TypeError:  # (unhashable: see _encode)
            got = None
        head, scheme, host, port = got if got is not None else self._encode(wire, account, head_key)
        body = wire.body or b""
        if body or wire.method in ("POST", "PUT", "PATCH"):
            data = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
        else:
            data = head + b"\r\n"
        key = (account.name, host, port)
        for attempt in range(2):
            conn: _Conn | None = None
            if attempt == 0:  # a pooled connection, the most recently used first
                pool = self._idle.get(key)
                while pool:
                    c = pool.pop()
                    if not c._closed and c.transport is not None and not c.transport.is_closing():
                        conn = c
                        break
            reused = conn is not None
            try:
                if conn is None:
                    conn = await self._connect(scheme, host, port, account, t)
                assert conn.transport is not None
                conn.transport.write(data)
                # Wait for the head here, not in a coroutine of the connection's. A watcher timer, not
                # one timer per wait (creating and cancelling a loop timer and the calls around it cost
                # ~3.5k): the wait notes its deadline; a watcher is armed only when none is due by then
                # (on a kept-alive connection about once per first-byte limit), and when it fires it
                # times the wait out or, the deadline having moved on, re-arms itself for the new one
                # (_Conn._check_deadline).
                loop = conn._loop
                deadline = conn._deadline = loop.time() + t.first_byte
                if deadline < conn._watch_at:
                    conn._watch_at = deadline
                    conn._watcher = loop.call_at(deadline, conn._check_deadline, deadline)
                try:
                    while not conn._headers_done:
                        if conn._timed_out:
                            raise TimeoutError
                        if conn._closed:
                            raise _ConnectionClosed(conn._received)
                        conn._waiter = waiter = loop.create_future()
                        await waiter  # (not cleared after: see StreamResponse.read)
                finally:
                    conn._deadline = _NEVER
                    conn._timed_out = False  # a watcher that fired as the wait ended must not leak
                break
            except _ConnectionClosed as exc:
                if conn is not None:
                    conn.abort()
                if reused and not exc.received:
                    continue  # the server had closed this idle connection: once more on a fresh one
                raise _translate(exc, account, "waiting for response headers") from exc
            except (TimeoutError, OSError) as exc:
                if conn is not None:
                    conn.abort()
                raise _translate(
                    exc, account, "connecting" if conn is None else "waiting for headers"
                ) from exc
            except BaseException:
                if conn is not None:
                    conn.abort()
                raise
        else:
            raise UpstreamError(
                f"{account.provider} upstream kept closing connections", provider=account.provider
            )
        if stream:
            return StreamResponse(conn, self, account, t)
        if conn._body_done and not conn._paused:
            # Usually the whole answer came with its head: hand it over and pool the connection without
            # a StreamResponse and its read coroutines (~3k instructions).
            body = conn._take_chunks()
            answer = object.__new__(_Answer)  # (see _Answer: no __init__ call)
            answer.status = conn.status
            answer.body = body
            answer._raw = conn._head
            answer._decoded = None
            conn._reset(self._idle, self._max_idle)  # back into the pool, with a new head list
            return answer
        resp = StreamResponse(conn, self, account, t, arm=False)  # read_all has its own timeout
        body = await resp.read_all()
        return WireResponse(resp.status, resp.headers, body)

    def stream(
        self, wire: WireRequest, account: Account, timeouts: Timeouts | None = None
    ) -> Coroutine[Any, Any, StreamResponse]:
        """Send and return once headers arrived; the caller must ``close()`` or read to the end. (A plain
        function handing over :meth:`send`'s coroutine: no coroutine of its own to run through.)"""
        return self.send(wire, account, timeouts, stream=True)

    def fetcher(self, account: Account) -> FetchFn:
        """A :data:`~qiao.providers.base.FetchFn` bound to this account (for token endpoints)."""
        f = self._fetchers.get(account.name)
        if f is None:

            async def fetch(wire: WireRequest) -> WireResponse:
                return await self.send(wire, account)

            f = self._fetchers[account.name] = fetch
        return f

    async def aclose(self) -> None:
        pools, self._idle = self._idle, {}
        for pool in pools.values():
            for conn in pool:
                if conn.transport is not None:
                    conn.transport.close()
