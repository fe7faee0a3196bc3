"""The direct interface between qiao's protocol and its app (``GatewayApp.qiao_direct`` with the
protocol's exchange: no scope or message dicts, the JSON reply in one write) checked against the general
path (the same app driven as an ASGI app by the same protocol): the same bytes on the wire."""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from qiao.config import Settings
from qiao.gateway.pipeline import RequestContext
from qiao.server.app import GatewayApp
from qiao.server.protocol import QiaoHttpProtocol, _Exchange
from qiao.server.request import _RID, _scan
from qiao.types import ChatResponse, Usage

KEY = "sk-qiao-direct-test"
DATE = (b"date", b"Wed, 25 Nov 2026 00:00:00 GMT")


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5), "sockname": ("127.0.0.1", 6)}.get(name, default)


def _app() -> GatewayApp:
    settings = Settings.model_validate(
        {
            "server": {"max_body_bytes": 2048},
            "keys": [{"name": "t", "key": KEY}],
            "accounts": [
                {
                    "provider": "openai_compat",
                    "name": "x",
                    "base_url": "http://127.0.0.1:9/v1",
                    "models": ["m"],
                }
            ],
        }
    )
    app = GatewayApp(settings)
    app.ready = True

    async def chat(req: Any, ctx: RequestContext) -> ChatResponse:
        ctx.route = "m"
        ctx.attempts = 1
        if req.model == "boom":
            raise ValueError("upstream exploded")
        ctx.usage = Usage(3, 2)
        return ChatResponse([], ctx.usage, id=f"chatcmpl-{ctx.request_id}", created=1, model=req.model)

    app.gateway.chat = chat  # type: ignore[method-assign]
    return app


def _post(path: str, body: bytes, *headers: bytes) -> bytes:
    head = b"".join(h + b"\r\n" for h in headers)
    return b"POST %b HTTP/1.1\r\nHost: t\r\n%bContent-Length: %d\r\n\r\n%b" % (
        path.encode(),
        head,
        len(body),
        body,
    )


AUTH = b"Authorization: Bearer " + KEY.encode()
CHAT = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
REQUESTS = [
    b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /v1/models HTTP/1.1\r\nHost: t\r\n" + AUTH + b"\r\n\r\n",
    b"GET /v1/models/m HTTP/1.1\r\nHost: t\r\n" + AUTH + b"\r\n\r\n",
    b"GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n",  # no key: 401
    b"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n",  # 404
    b"HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n",  # not a route for HEAD: an error without a body
    b"GET /v1/chat/completions HTTP/1.1\r\nHost: t\r\n\r\n",  # method not allowed
    _post("/v1/chat/completions", CHAT, AUTH),
    _post("/v1/chat/completions", CHAT, AUTH, b"X-Client-Request-Id: my-id.1"),
    _post("/v1/chat/completions", CHAT, b"api-key: " + KEY.encode(), b"X-Request-Id: bad id!"),
    _post("/v1/chat/completions", CHAT, b"Authorization: Bearer wrong"),
    _post("/v1/chat/completions", b"{not json", AUTH),
    _post("/v1/chat/completions", b"", AUTH),
    _post("/v1/chat/completions", b"[1]", AUTH),
    _post("/v1/chat/completions", b"x" * 3000, AUTH),  # too large
    _post("/v1/chat/completions", CHAT.replace(b'"m"', b'"boom"'), AUTH),  # 500 envelope
    _post("/v1/chat/completions", CHAT, AUTH, b"Connection: close"),
    # body read through receive(): Expect: 100-continue, chunked
    _post("/v1/chat/completions", CHAT, AUTH, b"Expect: 100-continue"),
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
    + AUTH
    + b"\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%b\r\n0\r\n\r\n" % (len(CHAT), CHAT),
]
_VARYING = re.compile(rb"[0-9a-f]{24}|x-qiao-overhead-ms: [0-9.]+")  # request ids and timings


async def _serve(raw: bytes, direct: bool, cuts: tuple[int, ...] = ()) -> list[bytes]:
    app = _app()
    config = uvicorn.Config(app, http=QiaoHttpProtocol, log_level="critical", proxy_headers=False)
    config.load()
    state = ServerState()
    state.default_headers = [DATE]
    proto = QiaoHttpProtocol(config, state, {})
    assert proto.direct is not None
    if not direct:
        proto.direct = None  # the general path: the app called as an ASGI app
    tr = _Transport()
    proto.connection_made(tr)  # type: ignore[arg-type]
    at = 0
    for cut in (*cuts, len(raw)):  # the request in reads of its own, the loop turning between them
        proto.data_received(raw[at:cut])
        at = cut
        for _ in range(5):
            await asyncio.sleep(0)
    for _ in range(50):
        await asyncio.sleep(0)
    assert not state.tasks
    proto.connection_lost(None)
    await app.gateway.aclose()
    return [_VARYING.sub(b"*", w) for w in tr.writes]


@pytest.mark.parametrize("raw", REQUESTS, ids=range(len(REQUESTS)))
async def test_direct_and_asgi_paths_write_the_same_bytes(raw: bytes) -> None:
    direct = await _serve(raw, direct=True)
    general = await _serve(raw, direct=False)
    assert b"".join(direct) == b"".join(general)
    assert direct and direct[-1]
    if raw.startswith(b"POST") and b"Expect" not in raw and b"chunked" not in raw:
        assert b"".join(direct).startswith(b"HTTP/1.1")


@pytest.mark.parametrize("raw", REQUESTS, ids=range(len(REQUESTS)))
async def test_a_request_in_pieces_is_answered_as_one_read(raw: bytes) -> None:
    """The app starts once the body has all arrived (protocol.on_headers_complete): a request cut into
    reads anywhere is answered with the same bytes as the whole request in one read, on both paths."""
    whole = b"".join(await _serve(raw, direct=True))
    rnd = random.Random(raw)
    for _ in range(6):
        cuts = tuple(sorted(rnd.sample(range(1, len(raw)), min(rnd.randrange(1, 4), len(raw) - 1))))
        assert b"".join(await _serve(raw, direct=True, cuts=cuts)) == whole, cuts
        assert b"".join(await _serve(raw, direct=False, cuts=cuts)) == whole, cuts


async def test_the_app_starts_when_the_body_is_all_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """A body in a read of its own: no task until it has come, then the direct app's body_ready() has it
    (no receive() and no future woken by on_body); a large body or the connection's loss start the app
    early (it reads on, or sees the client gone)."""
    app = _app()
    received: list[int] = []
    config = uvicorn.Config(app, http=QiaoHttpProtocol, log_level="critical", proxy_headers=False)
    config.load()
    state = ServerState()
    proto = QiaoHttpProtocol(config, state, {})
    tr = _Transport()
    proto.connection_made(tr)  # type: ignore[arg-type]
    raw = _post("/v1/chat/completions", CHAT, AUTH)
    head = raw.index(b"\r\n\r\n") + 4
    proto.data_received(raw[:head])
    for _ in range(10):
        await asyncio.sleep(0)
    ex = proto.current
    assert ex is not None and ex.task is None and not state.tasks and not tr.writes
    real = _Exchange.receive

    async def receive(self: _Exchange) -> Any:
        received.append(1)
        return await real(self)

    monkeypatch.setattr(_Exchange, "receive", receive)
    proto.data_received(raw[head:])
    assert ex.task is not None
    for _ in range(50):
        await asyncio.sleep(0)
    assert not state.tasks and received == []
    assert b"".join(tr.writes).startswith(b"HTTP/1.1 200 OK\r\n")
    # the connection lost before the body came: the app runs and sees the client gone
    proto.data_received(_post("/v1/chat/completions", CHAT, AUTH)[:head])
    ex = proto.current
    assert ex is not None and ex.task is None
    proto.connection_lost(None)
    assert ex.task is not None
    for _ in range(50):
        await asyncio.sleep(0)
    assert ex.task.done() and not state.tasks
    # a body larger than the read buffer's high-water mark starts the app before it has all come
    proto = QiaoHttpProtocol(config, state, {})
    tr = _Transport()
    proto.connection_made(tr)  # type: ignore[arg-type]
    big = b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n%b\r\nContent-Length: 100000\r\n\r\n" % AUTH
    proto.data_received(big + b"x" * 70000)
    ex = proto.current
    assert ex is not None and ex.task is not None and proto.flow.read_paused
    for _ in range(50):
        await asyncio.sleep(0)
    assert b"".join(tr.writes).startswith(b"HTTP/1.1 413 ")  # its Content-Length is over the limit
    proto.connection_lost(None)
    await app.gateway.aclose()


async def test_direct_json_answer_is_one_write_and_keeps_the_connection() -> None:
    writes = await _serve(REQUESTS[8] + REQUESTS[0], direct=True)  # pipelined: both answered, in order
    assert len(writes) == 2
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\ndate: Wed, 25 Nov 2026 00:00:00 GMT\r\n")
    assert b"content-length: " in writes[0] and b'"object":"chat.completion"' in writes[0]
    assert writes[1].endswith(b'{"status":"ok"}')


async def test_reply_waits_for_the_write_side_to_drain() -> None:
    app = _app()
    config = uvicorn.Config(app, http=QiaoHttpProtocol, log_level="critical", proxy_headers=False)
    config.load()
    proto = QiaoHttpProtocol(config, ServerState(), {})
    tr = _Transport()
    proto.connection_made(tr)  # type: ignore[arg-type]
    proto.pause_writing()
    proto.data_received(REQUESTS[0])
    for _ in range(20):
        await asyncio.sleep(0)
    assert tr.writes == []  # held while the transport's buffer is full
    proto.resume_writing()
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(tr.writes) == 1 and tr.writes[0].endswith(b'{"status":"ok"}')
    proto.connection_lost(None)
    await app.gateway.aclose()


def _scan_reference(headers: list[tuple[bytes, bytes]]) -> tuple[Any, Any, Any]:
    """The three loops _scan replaced, as they were."""
    token = None
    for k, v in headers:
        if k == b"authorization":
            s = v.decode("latin-1")
            if s[:7].lower() == "bearer ":
                token = s[7:].strip()
            break
        if k == b"api-key":
            token = v.decode("latin-1").strip()
    length = None
    for k, v in headers:
        if k == b"content-length":
            length = v
            break
    client = None
    for k, v in headers:
        if k == b"x-client-request-id" or k == b"x-request-id":
            s = v.decode("latin-1")
            client = s if _RID.match(s) else None
            break
    return token, length, client


def test_scan_matches_the_three_loops_it_replaced() -> None:
    rnd = random.Random(7)
    names = [
        b"authorization",
        b"api-key",
        b"content-length",
        b"x-client-request-id",
        b"x-request-id",
        b"host",
    ]
    values = [b"Bearer k1", b"bearer  k2 ", b"Basic abc", b"k3", b" 12", b"id-1", b"bad id", b""]
    for _ in range(3000):
        headers = [(rnd.choice(names), rnd.choice(values)) for _ in range(rnd.randrange(0, 7))]
        token, length, client = _scan(headers)
        if client is not None:
            s = client.decode("latin-1")
            client = s if _RID.match(s) else None  # what qiao_direct does with it
        assert (token, length, client) == _scan_reference(headers), headers


@pytest.mark.parametrize("direct", [True, False])
async def test_a_cancelled_request_is_a_500_and_leaves_the_server_set(direct: bool) -> None:
    """What escapes the app (here a cancellation, as at the end of a graceful shutdown) is dealt with by
    the exchange's finish() on the direct path, by the protocol's run() on the ASGI path: the same 500."""
    app = _app()
    hang = asyncio.Event()

    async def chat(req: Any, ctx: RequestContext) -> ChatResponse:
        await hang.wait()
        raise AssertionError("not reached")

    app.gateway.chat = chat  # type: ignore[method-assign]
    config = uvicorn.Config(app, http=QiaoHttpProtocol, log_level="critical", proxy_headers=False)
    config.load()
    state = ServerState()
    state.default_headers = [DATE]
    proto = QiaoHttpProtocol(config, state, {})
    if not direct:
        proto.direct = None
    tr = _Transport()
    proto.connection_made(tr)  # type: ignore[arg-type]
    proto.data_received(REQUESTS[8])
    for _ in range(10):
        await asyncio.sleep(0)
    assert len(state.tasks) == 1 and not tr.writes
    next(iter(state.tasks)).cancel()
    for _ in range(20):
        await asyncio.sleep(0)
    assert not state.tasks
    assert b"".join(tr.writes) == (
        b"HTTP/1.1 500 Internal Server Error\r\ndate: Wed, 25 Nov 2026 00:00:00 GMT\r\n"
        b"content-type: text/plain; charset=utf-8\r\ncontent-length: 21\r\nconnection: close\r\n\r\n"
        b"Internal Server Error"
    )
    assert tr.closed
    proto.connection_lost(None)
    await app.gateway.aclose()


async def test_reply_calls_before_write_where_the_last_body_message_would_go() -> None:
    """The ledger's usage record goes out through ``before_write``: after the headers are checked (a bad
    header is a 500 whose record says so), before the write, and also when the client has left."""
    calls: list[int] = []

    class App:
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...

        async def qiao_direct(self, ex: Any) -> None:
            ok = [(b"content-length", b"2")]
            with pytest.raises(RuntimeError):
                ex.reply(200, [(b"x-a", b"1\r\nx-b: 2"), *ok], b"{}", lambda: calls.append(len(tr.writes)))
            assert calls == [] and not ex.started
            ex.reply(200, ok, b"{}", lambda: calls.append(len(tr.writes)))
            ex.finish(None)

    config = uvicorn.Config(App(), http=QiaoHttpProtocol, log_level="critical", proxy_headers=False)
    config.load()
    proto = QiaoHttpProtocol(config, ServerState(), {})
    tr = _Transport()
    proto.connection_made(tr)  # type: ignore[arg-type]
    proto.data_received(REQUESTS[0])
    for _ in range(10):
        await asyncio.sleep(0)
    assert calls == [0] and len(tr.writes) == 1 and tr.writes[0].endswith(b"\r\n\r\n{}")
    proto.connection_lost(None)
    ex = proto.current
    assert ex is not None
    ex.complete = ex.started = False
    ex.disconnected = True
    assert ex.reply(200, [], b"", lambda: calls.append(-1)) is None
    assert calls == [0, -1] and len(tr.writes) == 1
