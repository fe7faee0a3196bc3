"""qiao's HTTP/1.1 server protocol (qiao.server.protocol) over real loopback sockets, plus the write
coalescing it exists for (checked on a recording transport): the behaviour uvicorn's protocol had."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from qiao.config import Settings
from qiao.server.protocol import QiaoHttpProtocol
from qiao.server.run import uvicorn_config

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Recorder:
    """A small ASGI app: echo, stream, fail, wait for the client to leave."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.disconnected = asyncio.Event()
        self.slow_started = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        self.events.append(f"start {path}")
        if path == "/fail":
            raise ValueError("boom")
        if path == "/wait":  # a long answer: notices the client leaving through receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
            while (await receive())["type"] != "http.disconnect":
                pass
            self.disconnected.set()
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        if path == "/slow":
            self.slow_started.set()
            await asyncio.sleep(0.05)
        if path == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"x-k", b"v")]})
            for part in (b"a", b"bb", b""):
                await send({"type": "http.response.body", "body": part, "more_body": part != b""})
        else:
            out = f"{scope['method']} {path} {scope['query_string'].decode()} ".encode() + body
            headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(out)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": out})
        self.events.append(f"end {path}")


@pytest.fixture()
async def served() -> AsyncIterator[tuple[Recorder, int, set[QiaoHttpProtocol]]]:
    app = Recorder()
    config = uvicorn.Config(app, http=QiaoHttpProtocol, timeout_keep_alive=5, log_level="critical")
    config.load()
    state = ServerState()
    server = await asyncio.get_running_loop().create_server(
        lambda: QiaoHttpProtocol(config, state, {}), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    yield app, port, state.connections  # type: ignore[misc]
    server.close()
    for conn in list(state.connections):
        conn.transport.close()  # type: ignore[attr-defined]
    await server.wait_closed()


async def _response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = None
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    if length is not None:
        return head, await asyncio.wait_for(reader.readexactly(length), 5)
    body = b""
    while True:  # chunked
        size = int((await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)).strip(), 16)
        chunk = await asyncio.wait_for(reader.readexactly(size + 2), 5)
        if size == 0:
            return head, body
        body += chunk[:-2]


def _post(path: str, body: bytes, extra: bytes = b"") -> bytes:
    return b"POST %b HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n%b\r\n%b" % (
        path.encode(),
        len(body),
        extra,
        body,
    )


async def test_keep_alive_answers_requests_in_turn(served: Any) -> None:
    _, port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(3):
        writer.write(_post(f"/echo?i={i}", b"hello"))
        head, body = await _response(reader)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert body == f"POST /echo i={i} hello".encode()
    writer.close()


async def test_pipelined_requests_are_answered_in_order(served: Any) -> None:
    app, port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_post("/slow", b"1") + _post("/fast", b"2"))
    assert (await _response(reader))[1] == b"POST /slow  1"
    assert (await _response(reader))[1] == b"POST /fast  2"
    # the second request was not started before the first was answered
    assert app.events == ["start /slow", "end /slow", "start /fast", "end /fast"]
    writer.close()


async def test_expect_100_continue(served: Any) -> None:
    _, port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"data")
    assert (await _response(reader))[1] == b"POST /up  data"
    writer.close()


async def test_chunked_and_large_request_bodies(served: Any) -> None:
    _, port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    assert (await _response(reader))[1] == b"POST /c  abcde"
    big = bytes(range(256)) * 1024  # 256 KiB: reading pauses and resumes on the way
    writer.write(_post("/big", big))
    assert (await _response(reader))[1] == b"POST /big  " + big
    writer.close()


async def test_http_10_and_connection_close_end_the_connection(served: Any) -> None:
    _, port, _ = served
    for request in (
        b"GET /a HTTP/1.0\r\n\r\n",
        b"GET /b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        head, _ = await _response(reader)
        assert b"connection: close" in head.lower()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
        writer.close()


async def test_malformed_request_is_400_and_closed(served: Any) -> None:
    _, port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 5)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert data.endswith(b"Invalid HTTP request received.")
    writer.close()


async def test_app_failure_before_answer_is_500(served: Any) -> None:
    _, port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /fail HTTP/1.1\r\nHost: t\r\n\r\n")
    head, body = await _response(reader)
    assert head.startswith(b"HTTP/1.1 500 ") and body == b"Internal Server Error"
    writer.close()


async def test_streamed_response_is_chunked(served: Any) -> None:
    _, port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
    head, body = await _response(reader)
    assert b"transfer-encoding: chunked" in head and b"x-k: v" in head
    assert body == b"abb"
    writer.write(b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n")  # the connection is still usable
    assert (await _response(reader))[1] == b"GET /after  "
    writer.close()


async def test_client_leaving_is_seen_as_disconnect(served: Any) -> None:
    app, port, conns = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /wait HTTP/1.1\r\nHost: t\r\n\r\n")
    await asyncio.wait_for(reader.readuntil(b"data: 1\n\n\r\n"), 5)
    writer.close()
    await asyncio.wait_for(app.disconnected.wait(), 5)
    for _ in range(100):
        if not conns:
            break
        await asyncio.sleep(0.01)
    assert not conns


async def test_shutdown_closes_idle_and_finishes_busy(served: Any) -> None:
    app, port, conns = served
    r1, w1 = await asyncio.open_connection("127.0.0.1", port)
    w1.write(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n")
    await _response(r1)  # now idle
    r2, w2 = await asyncio.open_connection("127.0.0.1", port)
    w2.write(_post("/slow", b"x"))
    await asyncio.wait_for(app.slow_started.wait(), 5)
    for conn in list(conns):
        conn.shutdown()
    assert await asyncio.wait_for(r1.read(), 5) == b""
    head, body = await _response(r2)  # the busy one gets its answer, then the connection closes
    assert body == b"POST /slow  x" and b"connection: close" in head
    assert await asyncio.wait_for(r2.read(), 5) == b""
    w1.close()
    w2.close()


async def test_idle_connection_closes_after_keep_alive_timeout() -> None:
    app = Recorder()
    config = uvicorn.Config(app, http=QiaoHttpProtocol, timeout_keep_alive=0.2, log_level="critical")  # type: ignore[arg-type]
    config.load()
    state = ServerState()
    server = await asyncio.get_running_loop().create_server(
        lambda: QiaoHttpProtocol(config, state, {}), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(3):  # requests keep it open (the timer re-arms instead of closing a busy connection)
        writer.write(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        await _response(reader)
    assert await asyncio.wait_for(reader.read(), 5) == b""  # then, idle, it is closed
    writer.close()
    server.close()
    await server.wait_closed()


class _Transport:
    """Records writes; enough of a transport for the protocol."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5), "sockname": ("127.0.0.1", 6)}.get(name, default)


async def test_head_and_body_leave_in_one_write() -> None:
    app = Recorder()
    config = uvicorn.Config(app, http=QiaoHttpProtocol, log_level="critical")
    config.load()
    state = ServerState()
    state.default_headers = [(b"date", b"Wed, 25 Nov 2026 00:00:00 GMT")]
    proto = QiaoHttpProtocol(config, state, {})
    tr = _Transport()
    proto.connection_made(tr)  # type: ignore[arg-type]
    proto.data_received(_post("/one", b"hi"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(tr.writes) == 1  # a whole non-streaming answer: one write, one system call
    assert tr.writes[0].startswith(b"HTTP/1.1 200 OK\r\ndate: Wed") and tr.writes[0].endswith(
        b"POST /one  hi"
    )
    proto.data_received(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
    for _ in range(20):
        await asyncio.sleep(0)
    # a stream: its headers go out with its first chunk
    assert tr.writes[1].startswith(b"HTTP/1.1 200 OK\r\n") and tr.writes[1].endswith(b"\r\n\r\n1\r\na\r\n")
    assert tr.writes[2:] == [b"2\r\nbb\r\n", b"0\r\n\r\n"]
    proto.connection_lost(None)


async def test_headers_are_not_held_while_the_app_waits() -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})

    config = uvicorn.Config(app, http=QiaoHttpProtocol, log_level="critical")
    config.load()
    proto = QiaoHttpProtocol(config, ServerState(), {})
    tr = _Transport()
    proto.connection_made(tr)  # type: ignore[arg-type]
    proto.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    for _ in range(5):
        await asyncio.sleep(0)
    assert tr.writes and tr.writes[0].startswith(b"HTTP/1.1 204 No Content\r\n")
    await asyncio.sleep(0.05)
    proto.connection_lost(None)


async def test_invalid_response_header_is_refused() -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1\r\nx-b: 2")]})

    config = uvicorn.Config(app, http=QiaoHttpProtocol, log_level="critical")
    config.load()
    proto = QiaoHttpProtocol(config, ServerState(), {})
    tr = _Transport()
    proto.connection_made(tr)  # type: ignore[arg-type]
    proto.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    for _ in range(20):
        await asyncio.sleep(0)
    assert tr.writes[0].startswith(b"HTTP/1.1 500 ")  # no header injection: the app's start was refused
    assert b"x-b" not in b"".join(tr.writes)
    proto.connection_lost(None)


def test_serve_uses_this_protocol_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.model_validate({})
    assert uvicorn_config(object(), settings, "127.0.0.1", 0).http is QiaoHttpProtocol
    monkeypatch.setenv("QIAO_HTTP_PROTOCOL", "uvicorn")
    assert uvicorn_config(object(), settings, "127.0.0.1", 0).http == "httptools"
