"""A stream written by ``_Exchange.begin`` and ``send_body`` (the direct path: synchronous, no message
dict) checked against the ASGI path (``_AsgiRequest``: ``send`` of start and body messages): the same
bytes on the wire, the same usage record, the wait for a paused write side, and the cancellation when the
client leaves."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from qiao.gateway.pipeline import RequestContext
from qiao.server.protocol import QiaoHttpProtocol
from qiao.types import Usage

from .test_direct import AUTH, DATE, _app, _post, _Transport

STREAM = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}'
_VARYING = re.compile(rb"[0-9a-f]{24}|x-qiao-overhead-ms: [0-9.]+")

# what the fake gateway writes: (data, more) per body call, with waits between some of them
CHUNKS: list[tuple[bytes, bool]] = [
    (b"data: one\n\n", True),
    (b"", True),  # an empty chunk: nothing written
    (b"data: two\n\n", True),
    (b"data: three\n\n" * 3, True),
    (b"data: [DONE]\n\n", False),
]


def _stream_app(pause_at: int | None, proto_box: list[Any]) -> Any:
    app = _app()

    async def chat_stream(req: Any, ctx: RequestContext, start: Any, send: Any, legacy: bool = False) -> None:
        ctx.route = "m"
        ctx.attempts = 1
        await start(200, ctx.headers())
        for i, (data, more) in enumerate(CHUNKS):
            if i == pause_at:
                proto = proto_box[0]
                proto.pause_writing()
                asyncio.get_running_loop().call_later(0.01, proto.resume_writing)
            if not more:
                ctx.usage = Usage(3, 2)
            w = send(data, more)
            if w is not None:
                await w
            if i == 2:
                await asyncio.sleep(0)  # the held-back header block goes out on its own before this

    app.gateway.chat_stream = chat_stream  # type: ignore[method-assign]
    return app


async def _serve(raw: bytes, direct: bool, pause_at: int | None = None) -> tuple[list[bytes], list[Any]]:
    box: list[Any] = []
    app = _stream_app(pause_at, box)
    records: list[Any] = []
    if app.ledger is not None:
        real = app.ledger.record

        def record(ctx: RequestContext, endpoint: str) -> None:
            records.append((ctx.status, endpoint, ctx.usage))
            real(ctx, endpoint)

        app.ledger.record = record  # type: ignore[method-assign]
    config = uvicorn.Config(app, http=QiaoHttpProtocol, log_level="critical", proxy_headers=False)
    config.load()
    state = ServerState()
    state.default_headers = [DATE]
    proto = QiaoHttpProtocol(config, state, {})
    box.append(proto)
    if not direct:
        proto.direct = None
    tr = _Transport()
    proto.connection_made(tr)  # type: ignore[arg-type]
    proto.data_received(raw)
    for _ in range(200):
        await asyncio.sleep(0)
        if not state.tasks:
            break
    for _ in range(50):
        if not state.tasks:
            break
        await asyncio.sleep(0.005)
    assert not state.tasks
    proto.connection_lost(None)
    await app.gateway.aclose()
    return [_VARYING.sub(b"*", w) for w in tr.writes], records


@pytest.mark.parametrize("pause_at", [None, 0, 3])
async def test_stream_chunks_direct_and_asgi_write_the_same_bytes(pause_at: int | None) -> None:
    raw = _post("/v1/chat/completions", STREAM, AUTH)
    direct, rec_d = await _serve(raw, True, pause_at)
    general, rec_g = await _serve(raw, False, pause_at)
    assert b"".join(direct) == b"".join(general)
    assert rec_d == rec_g
    body = b"".join(direct)
    assert body.startswith(b"HTTP/1.1 200 OK\r\n") and b"transfer-encoding: chunked\r\n" in body
    assert body.endswith(b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")
    assert b"b\r\ndata: one\n\n\r\nb\r\ndata: two\n\n\r\n" in body  # the empty chunk wrote nothing


async def test_send_body_waits_while_the_write_side_is_paused() -> None:
    raw = _post("/v1/chat/completions", STREAM, AUTH)
    box: list[Any] = []
    app = _stream_app(None, box)
    config = uvicorn.Config(app, http=QiaoHttpProtocol, log_level="critical", proxy_headers=False)
    config.load()
    proto = QiaoHttpProtocol(config, ServerState(), {})
    tr = _Transport()
    proto.connection_made(tr)  # type: ignore[arg-type]
    gate = asyncio.Event()
    written: list[int] = []

    async def chat_stream(req: Any, ctx: RequestContext, start: Any, send: Any, legacy: bool = False) -> None:
        await start(200, ctx.headers())
        assert send(b"a", True) is None  # written at once
        written.append(len(tr.writes))
        proto.pause_writing()
        w = send(b"b", True)
        assert w is not None  # must wait for the drain
        gate.set()
        await w
        written.append(len(tr.writes))
        await send(b"c", False)

    app.gateway.chat_stream = chat_stream  # type: ignore[method-assign]
    proto.data_received(raw)
    await gate.wait()
    for _ in range(10):
        await asyncio.sleep(0)
    assert len(tr.writes) == written[0] == 1  # nothing more while paused
    proto.resume_writing()
    for _ in range(20):
        await asyncio.sleep(0)
    assert written == [1, 2] and tr.writes[1] == b"1\r\nb\r\n"
    assert b"".join(tr.writes).endswith(b"1\r\nc\r\n0\r\n\r\n")
    proto.connection_lost(None)
    await app.gateway.aclose()


@pytest.mark.parametrize("direct", [True, False])
async def test_the_client_leaving_cancels_the_stream_at_once(direct: bool) -> None:
    """On qiao's protocol the connection's loss cancels the watched stream's task itself
    (``_Exchange.watch``); through ASGI a watcher of ``receive()`` does: the upstream call is cancelled,
    the request ends as a 499, and nothing escapes to the server."""
    app = _app()
    seen: list[Any] = []

    async def chat_stream(req: Any, ctx: RequestContext, start: Any, send: Any, legacy: bool = False) -> None:
        seen.append(ctx)
        await start(200, ctx.headers())
        w = send(b"data: one\n\n", True)
        if w is not None:
            await w
        try:
            await asyncio.Event().wait()  # the upstream, slow
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    app.gateway.chat_stream = chat_stream  # type: ignore[method-assign]
    config = uvicorn.Config(app, http=QiaoHttpProtocol, log_level="critical", proxy_headers=False)
    config.load()
    state = ServerState()
    proto = QiaoHttpProtocol(config, state, {})
    if not direct:
        proto.direct = None
    tr = _Transport()
    proto.connection_made(tr)  # type: ignore[arg-type]
    proto.data_received(_post("/v1/chat/completions", STREAM, AUTH))
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(seen) == 1 and state.tasks and b"data: one" in b"".join(tr.writes)
    task = next(iter(state.tasks))
    proto.connection_lost(None)
    for _ in range(3):
        await asyncio.sleep(0)
    assert seen[1:] == ["cancelled"]
    for _ in range(10):
        await asyncio.sleep(0)
    assert task.done() and not task.cancelled() and not state.tasks
    assert seen[0].status == 499
    await app.gateway.aclose()


async def test_begin_builds_the_head_the_general_path_builds() -> None:
    """``_Exchange.begin``'s lean head (the app's own headers: no per-header name and framing lookups)
    equals ``_head``'s, the general path's, byte for byte over generated headers, and a bad value is
    refused by both."""
    import random

    from qiao.server.protocol import _Exchange

    app = _app()
    config = uvicorn.Config(app, http=QiaoHttpProtocol, log_level="critical", proxy_headers=False)
    config.load()
    state = ServerState()
    proto = QiaoHttpProtocol(config, state, {})
    proto.connection_made(_Transport())  # type: ignore[arg-type]
    rnd = random.Random(5)
    names = [
        b"content-type",
        b"cache-control",
        b"x-request-id",
        b"x-qiao-route",
        b"x-ratelimit-limit-requests",
    ]
    alphabet = b"abcXYZ019 ;=,/.-_\t\"'" + bytes([0x80, 0xFF])
    for i in range(3000):
        if i % 500 == 0:  # uvicorn's new Date list, once a second
            state.default_headers = [
                (b"date", b"Wed, 25 Nov 2026 00:00:%02d GMT" % (i // 500)),
                (b"server", b"q"),
            ]
        headers = []
        for _ in range(rnd.randrange(0, 9)):
            value = bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 12)))
            if rnd.random() < 0.03:
                value += bytes([rnd.choice([0, 10, 13, 0x1F, 0x7F])])
            headers.append((rnd.choice(names), value))
        keep_alive = rnd.random() < 0.8
        lean = _Exchange(proto, "POST", "/", b"/", b"", [], "1.1", keep_alive, False)
        general = _Exchange(proto, "POST", "/", b"/", b"", [], "1.1", keep_alive, False)
        try:
            general._head(200, headers)
        except RuntimeError:
            with pytest.raises(RuntimeError):
                lean.begin(200, headers)
            assert not lean.started
            continue
        assert lean.begin(200, headers) is proto.done
        assert lean.head == general.head, headers
        assert (lean.chunked, lean.remaining, lean.started) == (general.chunked, general.remaining, True)
    proto.connection_lost(None)
    await app.gateway.aclose()
