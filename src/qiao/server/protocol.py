"""qiao's HTTP/1.1 server protocol: uvicorn's server around a leaner per-connection protocol.

uvicorn still owns the process (sockets, ``--workers``, signals, lifespan, graceful drain); this module
replaces only its ``HttpToolsProtocol`` (``uvicorn.Config(http=QiaoHttpProtocol)``), the code that runs
for every request. Why: at a low request rate each request runs alone on a cold core, and its cost is
the Python it executes plus the system calls it makes (bench/RESULTS.md, "Low-rate cost analysis").
Per request this protocol, compared with uvicorn's:

- sends the header block together with the first body message in **one** ``write`` (uvicorn writes
  them separately): a whole non-streaming answer is one write, a stream's headers ride with its first
  event;
- arms **no timer per request**: the keep-alive timeout is one timer per idle connection that re-arms
  itself lazily (uvicorn schedules and cancels a ``call_later`` per request);
- starts the app once the request's body has all arrived (a body in a read of its own is no longer a
  wait in ``receive()``), answers ``receive()`` without waking the event loop when the body is there, and
  builds the ASGI scope without ``parse_url`` when the target has no query or escapes;
- validates response header names once per distinct name (a bounded cache), values in one translate;
- offers qiao's own app a **direct interface** (``GatewayApp.qiao_direct``, found by name on the app):
  the app's coroutine is the request's task and gets the exchange itself (method, path, headers;
  ``body_ready()`` for a body that has all arrived, ``reply()`` for a whole JSON answer in one write,
  ``begin()``/``send_body()`` for a stream, ``watch()`` to have the client's leaving cancel it,
  ``finish()`` at its end) instead of a scope dict, message dicts and a coroutine per message. Any other
  ASGI app (the tests', a wrapped GatewayApp) is served the ASGI way, and the direct app still uses
  ``receive``/``send`` for the rest (bodies still arriving, streams, errors).

Behaviour kept from uvicorn (tests/server/test_protocol.py): keep-alive and HTTP/1.0 close, pipelined
requests answered in order (reading pauses while one is in flight), ``Expect: 100-continue``, chunked
request bodies, read back-pressure on large bodies, write back-pressure (``drain``), ``http.disconnect``
when the client leaves (streams are cancelled), a 400 and close on a malformed request, a 500 when the
app fails before answering, ``Connection: close`` honoured both ways, the Date header, graceful shutdown
(``shutdown()``: idle connections close, busy ones close after their response). WebSocket upgrades are
not offered (qiao has none): an upgrade request is served as plain HTTP, as uvicorn does without a
WebSocket library. ``limit_concurrency`` is not implemented here (qiao does not set it).

``QIAO_HTTP_PROTOCOL=uvicorn`` in the environment selects uvicorn's own protocol instead (an escape hatch
and the A/B baseline for the benchmark).
"""

from __future__ import annotations

import asyncio
import http
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import unquote

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT, FlowControl
from uvicorn.protocols.utils import get_local_addr, get_remote_addr, is_ssl
from uvicorn.server import ServerState

__all__ = ["QiaoHttpProtocol"]

log = logging.getLogger("uvicorn.error")

_NAME_BAD = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
# Control characters other than tab may not appear in a header value; checked with bytes.translate (a C
# loop, ~20x cheaper than a regex search per response).
_VALUE_BAD = bytes([*range(0x09), *range(0x0A, 0x20), 0x7F])
_FRAMING = {b"content-length": 1, b"transfer-encoding": 2, b"connection": 3}
_good_names: dict[bytes, bytes] = {}  # raw header name -> lowercased, validated once
_DISCONNECT = {"type": "http.disconnect"}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_CHUNKED = b"transfer-encoding: chunked\r\n\r\n"  # the end of a stream's head (begin), as _head ends it
_CLOSE_CHUNKED = b"connection: close\r\n" + _CHUNKED


def _status_line(code: int) -> bytes:
    try:
        phrase = http.HTTPStatus(code).phrase.encode()
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %s\r\n" % (code, phrase)


STATUS_LINE = {code: _status_line(code) for code in range(100, 600)}


_defaults: tuple[object, bytes] = (None, b"")  # the server's default headers (Date) and their header lines


def _default_block(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The server's default header lines, rebuilt when uvicorn replaces its list (once a second, for the
    Date header), checked like the app's own headers."""
    global _defaults
    src, block = _defaults
    if src is not headers:
        parts: list[bytes] = []
        for name, value in headers:
            if len(value.translate(None, _VALUE_BAD)) != len(value):
                raise RuntimeError("Invalid HTTP header value.")
            parts += (_checked_name(name), b": ", value, b"\r\n")
        block = b"".join(parts)
        _defaults = (headers, block)
    return block


def _app_head(proto: Any, status: int, headers: list[tuple[bytes, bytes]]) -> list[bytes]:
    """Status line, the server's default lines and the app's own header lines, for ``reply`` and
    ``begin``: the app's headers have valid lowercase names and no framing header, so there are no
    per-header name and framing look-ups, and one translate over the lines checks every value (each
    line's own CR LF are the only two bytes it may lose)."""
    parts: list[bytes] = []
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    lines = b"".join(parts)
    if len(lines) - len(lines.translate(None, _VALUE_BAD)) != 2 * len(headers):
        raise RuntimeError("Invalid HTTP header value.")
    defaults = proto.server_state.default_headers
    src, block = _defaults  # _default_block's cache, probed here: a call less while it holds
    if src is not defaults:
        block = _default_block(defaults)
    return [STATUS_LINE[status], block, lines]


def _checked_name(name: bytes) -> bytes:
    low = _good_names.get(name)
    if low is None:
        if _NAME_BAD.search(name):
            raise RuntimeError("Invalid HTTP header name.")
        low = name.lower()
        if len(_good_names) < 512:  # bounded: names come from code, but a proxy may relay many
            _good_names[name] = low
    return low


class _Exchange:
    """One request and its response on a connection (the ASGI ``receive``/``send`` pair)."""

    __slots__ = (
        "proto",
        "method",
        "path",
        "raw_path",
        "query",
        "headers",
        "version",
        "_scope",
        "task",
        "keep_alive",
        "expect_continue",
        "body",
        "more_body",
        "body_done",
        "waiter",
        "disconnected",
        "started",
        "complete",
        "chunked",
        "remaining",
        "head",
        "before_last",
        "watching",
    )

    def __init__(
        self,
        proto: QiaoHttpProtocol,
        method: str,
        path: str,
        raw_path: bytes,
        query: bytes,
        headers: list[tuple[bytes, bytes]],
        version: str,
        keep_alive: bool,
        expect: bool,
    ) -> None:
        self.proto = proto
        self.method = method
        self.path = path
        self.raw_path = raw_path
        self.query = query
        self.headers = headers
        self.version = version
        self._scope: dict[str, Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self.keep_alive = keep_alive
        self.expect_continue = expect
        self.body = b""
        self.more_body = True
        self.body_done = False
        self.waiter: asyncio.Future[None] | None = None
        self.disconnected = False
        self.started = False
        self.complete = False
        self.chunked = False
        self.remaining = 0
        self.head: bytes | None = None  # a header block held back to go out with the body
        self.before_last: Callable[[], object] | None = None  # begin()'s, called by send_body's last
        self.watching = 0  # watch(): 1 while the client's leaving cancels the task, 2 once it has

    def wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    @property
    def scope(self) -> dict[str, Any]:
        """The ASGI scope, built on first use: qiao's own app (``direct``) reads the fields instead."""
        scope = self._scope
        if scope is None:
            proto = self.proto
            root = proto.root_path
            self._scope = scope = {
                "type": "http",
                "asgi": {"version": "3.0", "spec_version": "2.3"},
                "http_version": self.version,
                "server": proto.server,
                "client": proto.client,
                "scheme": proto.scheme,
                "method": self.method,
                "root_path": root,
                "path": self.path,
                "raw_path": root.encode("ascii") + self.raw_path if root else self.raw_path,
                "query_string": self.query,
                "headers": self.headers,
                "state": proto.app_state.copy(),
            }
        return scope

    async def run(self, app: Any) -> None:
        try:
            result = await app(self.scope, self.receive, self.send)
        except BaseException as exc:
            log.error("Exception in ASGI application\n", exc_info=exc)
            if not self.started:
                await self._send_500()
            else:
                self.proto.transport.close()
        else:
            if result is not None:
                log.error("ASGI callable should return None, but returned '%s'.", result)
                self.proto.transport.close()
            elif not self.started and not self.disconnected:
                log.error("ASGI callable returned without starting response.")
                await self._send_500()
            elif not self.complete and not self.disconnected:
                log.error("ASGI callable returned without completing response.")
                self.proto.transport.close()
        finally:
            # The task leaves the server's set here, a step before it ends, instead of in a done callback
            # (which the loop would schedule as one more handle per request).
            self.proto.server_state.tasks.discard(self.task)  # type: ignore[arg-type]

    def finish(self, exc: BaseException | None) -> bool:
        """The last call of a direct app's coroutine, with what escaped it: what ``run`` does when an
        ASGI app ends. Returns False: the exception is dealt with here, not to be raised on."""
        self.proto.server_state.tasks.discard(self.task)  # type: ignore[arg-type]
        if exc is not None:
            log.error("Exception in ASGI application\n", exc_info=exc)
            if not self.started:
                self._spawn_500()
            else:
                self.proto.transport.close()
        elif not self.started and not self.disconnected:
            log.error("ASGI callable returned without starting response.")
            self._spawn_500()
        elif not self.complete and not self.disconnected:
            log.error("ASGI callable returned without completing response.")
            self.proto.transport.close()
        return False

    def _spawn_500(self) -> None:
        # (rare) the 500 may wait for the write side to drain: a task of its own, counted as the server's
        tasks = self.proto.server_state.tasks
        task = self.proto.loop.create_task(self._send_500())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _send_500(self) -> None:
        await self.send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", b"21"),
                    (b"connection", b"close"),
                ],
            }
        )
        await self.send({"type": "http.response.body", "body": b"Internal Server Error"})

    # ---- ASGI receive ---------------------------------------------------------------------------------
    async def receive(self) -> dict[str, Any]:
        proto = self.proto
        if self.expect_continue:
            self.expect_continue = False
            if not self.started and not proto.transport.is_closing():
                proto.transport.write(_CONTINUE)
        while True:
            if self.disconnected or self.complete:
                return _DISCONNECT
            if self.body or (not self.more_body and not self.body_done):
                msg = {"type": "http.request", "body": self.body, "more_body": self.more_body}
                self.body = b""
                if not self.more_body:
                    self.body_done = True
                proto.flow.resume_reading()
                return msg
            proto.flow.resume_reading()
            self.waiter = proto.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None

    # ---- ASGI send ------------------------------------------------------------------------------------
    async def send(self, message: dict[str, Any]) -> None:
        proto = self.proto
        if proto.flow.write_paused and not self.disconnected:
            await proto.flow.drain()
        if self.disconnected:
            return
        typ = message["type"]
        if not self.started:
            if typ != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{typ}'.")
            self._start(message)
            return
        if self.complete:
            raise RuntimeError(f"Unexpected ASGI message '{typ}' sent, after response already completed.")
        if typ != "http.response.body":
            raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{typ}'.")
        self._body(message.get("body", b""), message.get("more_body", False))

    def _body(self, body: bytes, more: bool) -> None:
        """A body message's bytes written (a started, not yet complete response): ``send``'s and
        ``send_body``'s."""
        proto = self.proto
        if self.method == "HEAD":
            out = b""
            self.remaining = 0
        elif self.chunked:
            out = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
            if not more:
                out += b"0\r\n\r\n"
        else:
            if len(body) > self.remaining:
                raise RuntimeError("Response content longer than Content-Length")
            self.remaining -= len(body)
            out = body
        if self.head is not None:
            out = self.head + out
            self.head = None
        if out:
            proto.transport.write(out)
        if not more:
            if self.remaining:
                raise RuntimeError("Response content shorter than Content-Length")
            self.complete = True
            if self.waiter is not None:  # (a call to wake() costs more than this test)
                self.wake()
            if not self.keep_alive:
                proto.transport.close()
            proto.on_response_complete(self)

    def _start(self, message: dict[str, Any]) -> None:
        self._head(message["status"], message.get("headers", ()))
        # Held back: qiao sends the first body message right after the start (same task step, no await
        # that suspends), so both go out in one write. An app that waits between the two still gets its
        # headers out on the loop's next turn.
        self.proto.loop.call_soon(self._flush_head)

    def _head(self, status: int, headers: Iterable[tuple[bytes, bytes]]) -> None:
        """The response's header block, checked and held in ``head`` for the first body write."""
        # Validated before the response counts as started: an app's bad header becomes a 500, not a
        # silently closed connection.
        self.chunked = False
        self.remaining = 0
        proto = self.proto
        parts = [STATUS_LINE[status]]
        close_sent = False
        length = False
        values = []
        good = _good_names
        for name, value in (*proto.server_state.default_headers, *headers):
            low = good.get(name)
            if low is None:
                low = _checked_name(name)
            values.append(value)
            kind = _FRAMING.get(low)  # one lookup for the three names that change the framing
            if kind is not None:
                if kind == 1:
                    if not self.chunked and not length:
                        self.remaining = int(value.decode())
                        length = True
                elif kind == 2:
                    if value.lower() == b"chunked":
                        self.remaining = 0
                        self.chunked = True
                        length = False
                elif b"close" in [t.strip() for t in value.lower().split(b",")]:
                    self.keep_alive = False
                    close_sent = True
            parts += (low, b": ", value, b"\r\n")
        joined = b"".join(values)
        if len(joined.translate(None, _VALUE_BAD)) != len(joined):
            raise RuntimeError("Invalid HTTP header value.")
        if not self.keep_alive and not close_sent:
            parts.append(b"connection: close\r\n")
        if not length and not self.chunked and self.method != "HEAD" and status not in (204, 304):
            self.chunked = True
            parts.append(b"transfer-encoding: chunked\r\n")
        parts.append(b"\r\n")
        self.started = True
        self.expect_continue = False
        self.head = b"".join(parts)

    def _flush_head(self) -> None:
        if self.head is not None and not self.disconnected:
            self.proto.transport.write(self.head)
        self.head = None

    # ---- the direct interface of qiao's own app (``qiao_direct``) -------------------------------------
    # The same work as ``receive``/``send``, without the message dicts and the coroutine per message:
    # about 9k instructions per request fewer (bench/protocol_micro.py). The ASGI methods stay
    # available to the direct app for everything else (request bodies still arriving, streams, errors).
    def body_ready(self) -> bytes | None:
        """The whole request body if it has all arrived and not been read (what one ``receive()`` would
        return as its single message), else None: read it with ``receive()``."""
        if self.more_body or self.body_done or self.expect_continue or self.disconnected or self.complete:
            return None
        body = self.body
        self.body = b""
        self.body_done = True
        if self.proto.flow.read_paused:
            self.proto.flow.resume_reading()
        return body

    def reply(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        before_write: Callable[[], object] | None = None,
    ) -> Awaitable[None] | None:
        """A whole response in one write: ``send`` of a start and of a last body message, for headers
        the app builds itself: lowercase valid names, a ``content-length`` of ``len(body)`` and no other
        framing header (``transfer-encoding``, ``connection``). ``before_write`` is called where the last
        body message would have been handed over (after the headers are checked, before the write; also
        when the client has left). Returns an awaitable only when the write side is paused (await it: it
        waits for the drain, then writes)."""
        proto = self.proto
        if proto.flow.write_paused and not self.disconnected:
            return self._reply_after_drain(status, headers, body, before_write)
        if self.disconnected:
            if before_write is not None:
                before_write()
            return None
        if self.started:
            raise RuntimeError(
                "Unexpected ASGI message 'http.response.start' sent, after response already started."
            )
        out = _app_head(proto, status, headers)
        if not self.keep_alive:
            out.append(b"connection: close\r\n")
        out.append(b"\r\n")
        if self.method != "HEAD":
            out.append(body)
        if before_write is not None:
            before_write()
        self.started = True
        self.expect_continue = False
        self.complete = True
        proto.transport.write(b"".join(out))
        if self.waiter is not None:
            self.wake()
        if not self.keep_alive:
            proto.transport.close()
        proto.on_response_complete(self)
        return None

    def begin(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        before_last: Callable[[], object] | None = None,
    ) -> Awaitable[None]:
        """``send`` of a start message without the dict and the coroutine (a stream's start; the body
        follows with ``send_body``). The header block is held back for the first body write, with no
        flush scheduled: the direct app writes a body right after ``begin`` (no await between; if it
        ends first, nothing was going to reach the client anyway: ``finish`` closes the connection).
        ``before_last`` is called where the last body message is handed over (``send_body``'s).
        The headers are the app's own, as for ``reply``: lowercase valid names and no framing header
        (the response is chunked). Returns an awaitable to await: the connection's done future (awaited
        without suspending, no coroutine to make) unless the write side is paused or the call is not a
        first start (then it is ``send`` itself, with its wait, checks and errors)."""
        self.before_last = before_last
        proto = self.proto
        if (
            self.started
            or proto.flow.write_paused
            or self.disconnected
            or self.method == "HEAD"
            or status in (204, 304)
        ):
            return self.send({"type": "http.response.start", "status": status, "headers": headers})
        # The head _head() would build for such headers (tests/server/test_stream_write.py compares the
        # two), as reply() builds it.
        out = _app_head(proto, status, headers)
        self.chunked = True
        self.remaining = 0
        self.started = True
        self.expect_continue = False
        out.append(_CHUNKED if self.keep_alive else _CLOSE_CHUNKED)
        self.head = b"".join(out)
        return proto.done

    def send_body(self, body: bytes, more: bool) -> Awaitable[None] | None:
        """``send`` of a body message, without the dict and the coroutine: ~4k instructions a write
        fewer. The last (``more`` false) calls ``begin``'s ``before_last`` first. Returns an awaitable
        only when the write side is paused, or the response is not started or already complete (then it
        is ``send`` itself, with its wait, checks and errors): await it."""
        if not more and self.before_last is not None:
            self.before_last()
        if (self.proto.flow.write_paused and not self.disconnected) or not self.started or self.complete:
            return self.send({"type": "http.response.body", "body": body, "more_body": more})
        if not self.disconnected:
            self._body(body, more)
        return None

    def watch(self) -> None:
        """From now until ``unwatch``, the client leaving cancels the request's task (the direct app's:
        ``connection_lost`` does it at once), as a watcher of ``receive()`` seeing ``http.disconnect``
        would (a stream: the upstream call is cancelled with it). No watcher, no future, no callback."""
        if self.disconnected:  # gone already: what receive() would answer at once
            self.watching = 2
            self.task.cancel()  # type: ignore[union-attr]
        else:
            self.watching = 1

    def unwatch(self) -> bool:
        """Stop watching; True if the client's leaving cancelled the task."""
        cancelled = self.watching == 2
        self.watching = 0
        return cancelled

    async def _reply_after_drain(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        before_write: Callable[[], object] | None,
    ) -> None:
        await self.proto.flow.drain()
        self.reply(status, headers, body, before_write)


class QiaoHttpProtocol(asyncio.Protocol):
    """The per-connection protocol uvicorn's server runs (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.app = config.loaded_app
        # An app offering ``qiao_direct(exchange)`` (qiao's GatewayApp, unless wrapped in a middleware) is
        # called with the exchange itself: no scope dict, no message dicts (see ``_Exchange.reply``).
        self.direct = getattr(self.app, "qiao_direct", None)
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        self.app_state = app_state
        self.root_path = config.root_path
        self.keep_alive_s = float(config.timeout_keep_alive)
        self.parser = httptools.HttpRequestParser(self)
        try:  # answer a request even if its connection closed right after sending it (as uvicorn does)
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        except AttributeError:  # pragma: no cover - httptools < 0.6.3
            pass
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.flow: FlowControl = None  # type: ignore[assignment]
        self.done: asyncio.Future[None] = None  # type: ignore[assignment]
        self.server: tuple[str, int | None] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "http"
        self.current: _Exchange | None = None
        self.pipeline: deque[_Exchange] = deque()
        self.idle_since: float | None = None  # keep-alive: when the connection last became idle
        self.idle_timer: asyncio.TimerHandle | None = None
        # per-request parser state
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expect = False
        self.parsing: _Exchange | None = None

    # ---- connection -----------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.server_state.connections.add(self)  # type: ignore[arg-type]
        self.transport = transport
        self.flow = FlowControl(transport)
        self.server = get_local_addr(transport)
        self.client = get_remote_addr(transport)
        self.scheme = "https" if is_ssl(transport) else "http"
        # begin()'s answer on its usual path: awaiting a done future neither suspends nor runs Python
        self.done = self.loop.create_future()
        self.done.set_result(None)
        self.idle_since = now = self.loop.time()  # idle until its first request
        self.idle_timer = self.loop.call_at(now + self.keep_alive_s, self._keep_alive_check)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)  # type: ignore[arg-type]
        for ex in (self.current, *self.pipeline):
            if ex is not None and not ex.complete:
                ex.disconnected = True
                ex.wake()
                if ex.watching == 1:  # a stream's task: cancelled now (see _Exchange.watch)
                    ex.watching = 2
                    ex.task.cancel()  # type: ignore[union-attr]
                elif ex.task is None and ex is self.current:  # its body never all came: the app sees it
                    self._run(ex)
        self.pipeline.clear()
        if self.flow is not None:
            self.flow.resume_writing()
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        if exc is None:
            self.transport.close()
        self.parser = None  # type: ignore[assignment]

    def eof_received(self) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        self.idle_since = None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no WebSocket here: the request was dispatched as plain HTTP by on_headers_complete
        except httptools.HttpParserError:
            msg = "Invalid HTTP request received."
            log.warning(msg)
            self._send_400(msg)

    def _send_400(self, msg: str) -> None:
        if self.current is not None and self.current.started:
            self.transport.close()  # mid-response: nothing sensible can be written
            return
        body = msg.encode("ascii")
        self.transport.write(
            STATUS_LINE[400]
            + b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % len(body)
            + body
        )
        self.transport.close()

    # ---- parser callbacks -----------------------------------------------------------------------------
    # No on_message_begin (httptools calls only the callbacks a protocol has; one call from C into Python
    # fewer per request): on_headers_complete resets the per-request state once it has used it.
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        version = parser.get_http_version()
        url = self.url
        # find(), not ``in``: bytes ``in`` costs a formatted-and-cleared TypeError on CPython 3.11
        if url.find(b"?") >= 0 or url.find(b"%") >= 0 or not url.startswith(b"/"):
            parsed = httptools.parse_url(url)
            raw_path: bytes = parsed.path
            query: bytes = parsed.query or b""
            path = raw_path.decode("ascii")
            if "%" in path:
                path = unquote(path)
        else:
            raw_path, query = url, b""
            path = url.decode("ascii")
        root = self.root_path
        keep_alive = version != "1.0" and parser.should_keep_alive()
        ex = _Exchange(
            self,
            parser.get_method().decode("ascii"),
            root + path if root else path,
            raw_path,
            query,
            self.headers,
            version,
            keep_alive,
            self.expect,
        )
        self.url = b""
        self.headers = []
        self.parsing = ex
        if self.current is None or self.current.complete:
            # The app starts once the body has all arrived (on_message_complete; at once for a client
            # waiting for 100 Continue): a body sent in a read of its own (http.client, httpx write the
            # headers and the body separately) is then read with body_ready(), not with receive() and a
            # future woken by on_body, and the app's fast path stays its path. A large body starts it
            # early (on_body: reading pauses, the app reads on), and so does the connection's loss.
            self.current = ex
            if self.expect:
                self._run(ex)
        else:  # pipelined behind a request still being answered: queue it, stop reading
            self.flow.pause_reading()
            self.pipeline.append(ex)
        self.expect = False

    def on_body(self, body: bytes) -> None:
        ex = self.parsing
        if ex is None or ex.complete:
            return
        ex.body += body
        if len(ex.body) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
            if ex.task is None and ex is self.current:  # the app must read on: it starts now
                self._run(ex)
        if ex.waiter is not None:  # (a call to wake() costs more than this test)
            ex.wake()

    def on_message_complete(self) -> None:
        ex = self.parsing
        if ex is None or ex.complete:
            return
        ex.more_body = False
        if ex.task is None:
            if ex is self.current:  # (not one queued behind another: on_response_complete starts it)
                self._run(ex)
        elif ex.waiter is not None:
            ex.wake()

    # ---- request lifecycle ----------------------------------------------------------------------------
    def _run(self, ex: _Exchange) -> None:
        self.current = ex
        direct = self.direct
        # a direct app's coroutine is the task's (it ends by calling ex.finish); an ASGI app runs in run()
        ex.task = task = self.loop.create_task(direct(ex) if direct is not None else ex.run(self.app))
        self.server_state.tasks.add(task)

    def on_response_complete(self, ex: _Exchange) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            self.flow.resume_reading()
        if self.pipeline:
            self._run(self.pipeline.popleft())
        else:  # idle: the keep-alive timer armed unless it is (see _keep_alive_check)
            self.idle_since = now = self.loop.time()
            if self.idle_timer is None:
                self.idle_timer = self.loop.call_at(now + self.keep_alive_s, self._keep_alive_check)

    def _keep_alive_check(self) -> None:
        """One timer per idle connection, re-armed lazily (not armed and cancelled per request)."""
        self.idle_timer = None
        since = self.idle_since
        if since is None or self.transport.is_closing():
            return  # busy now: the response's completion arms it again
        due = since + self.keep_alive_s
        if self.loop.time() >= due - 0.001:
            self.transport.close()
        else:
            self.idle_timer = self.loop.call_at(due, self._keep_alive_check)

    # ---- uvicorn's server interface -------------------------------------------------------------------
    def shutdown(self) -> None:
        """Graceful shutdown: close now if idle, else after the response in flight."""
        ex = self.current
        if ex is None or ex.complete:
            self.transport.close()
        else:
            ex.keep_alive = False

    def pause_writing(self) -> None:
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        self.flow.resume_writing()
