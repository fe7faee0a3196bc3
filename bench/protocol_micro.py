"""In-process cost of the HTTP server layer alone: uvicorn's HttpToolsProtocol against qiao's
QiaoHttpProtocol, one request at a time through a fake transport (no sockets), with a trivial ASGI app
that reads the body and answers a small JSON object the way qiao does (start, then one body message);
``qiao-direct`` is the same app through the direct interface qiao's own app uses (``qiao_direct``: the
exchange's ``body_ready()`` and ``reply()``, no scope or message dicts).

    PYTHONPATH=src .venv/bin/python bench/protocol_micro.py [--n 20000]

Prints CPU µs per request (process_time) and transport writes per request. Warm caches: this is the
layer's work, not its cost on a cold core at a low rate (see lowrate.py for that).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from qiao.server.protocol import QiaoHttpProtocol

_JSON = b'{"model":"fake-gpt","messages":[{"role":"user","content":"hi"}]}'
REQ = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:9110\r\nAuthorization: Bearer sk-bench\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%b" % (len(_JSON), _JSON)
)
BODY = b'{"id":"chatcmpl-1","object":"chat.completion","choices":[]}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while True:
        msg = await receive()
        if not msg.get("more_body"):
            break
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"x-request-id", b"abc")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


class DirectApp:
    """The same app, also offering the direct interface of qiao's protocol (as GatewayApp does)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await app(scope, receive, send)

    async def qiao_direct(self, ex: Any) -> None:
        if ex.body_ready() is None:  # not all arrived: the ASGI way
            while (await ex.receive()).get("more_body"):
                pass
        headers = [(b"content-type", b"application/json"), (b"x-request-id", b"abc")]
        ex.reply(200, [*headers, (b"content-length", b"%d" % len(BODY))], BODY)
        ex.finish(None)


class Transport:
    def __init__(self) -> None:
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return False

    def close(self) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5), "sockname": ("127.0.0.1", 6)}.get(name, default)


async def run(cls: Any, n: int, the_app: Any = app) -> tuple[float, float]:
    config = uvicorn.Config(
        the_app, http=cls, log_level="critical", timeout_keep_alive=75, proxy_headers=False
    )
    config.load()
    state = ServerState()
    proto = cls(config, state, {})
    tr = Transport()
    proto.connection_made(tr)
    for _ in range(200):  # warm-up
        proto.data_received(REQ)
        while state.tasks:  # noqa: ASYNC110 - drive the loop until the request is answered
            await asyncio.sleep(0)
    tr.writes = 0
    t0 = time.process_time()
    for _ in range(n):
        proto.data_received(REQ)
        while state.tasks:  # noqa: ASYNC110 - drive the loop until the request is answered
            await asyncio.sleep(0)
    dt = time.process_time() - t0
    proto.connection_lost(None)
    return dt / n * 1e6, tr.writes / n


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", help="one of uvicorn, qiao, qiao-direct (e.g. under callgrind)")
    a = ap.parse_args()
    n = a.n
    for _ in range(a.rounds):
        for name, cls, the_app in (
            ("uvicorn", HttpToolsProtocol, app),
            ("qiao", QiaoHttpProtocol, app),
            ("qiao-direct", QiaoHttpProtocol, DirectApp()),
        ):
            if a.only and name != a.only:
                continue
            us, w = await run(cls, n, the_app)
            print(f"{name:>11}: {us:6.1f} µs/request, {w:.1f} writes/request")


if __name__ == "__main__":
    import uvloop

    uvloop.install()
    asyncio.run(main())
