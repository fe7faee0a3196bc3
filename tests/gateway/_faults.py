"""Fault injection around a real emulator, for the routing tests.

:class:`Faults` wraps an emulator's ASGI app: each request takes the next entry of a plan — ``None``
(the emulator answers), a scenario name (sent to the emulator as ``X-Emulator-Scenario``, so the
provider's own error shape comes back), or a :class:`Reply` (a raw status, headers and body). It keeps
every request body it saw. :func:`raw_upstream` is a bare TCP server for what no HTTP framework sends
on purpose: a connection reset, malformed SSE.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

Fault = "str | Reply | None"


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def openai_error(status: int, message: str, code: str, retry_after: str | None = None) -> Reply:
    h = {"content-type": "application/json"}
    if retry_after is not None:
        h["retry-after"] = retry_after
    body = orjson.dumps({"error": {"message": message, "type": "requests", "param": None, "code": code}})
    return Reply(status, h, body)


class Faults:
    def __init__(self, app: Any, plan: list[Any] | None = None, default: Any = None) -> None:
        self.app = app
        self.plan = list(plan or [])
        self.default = default
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            msg = await receive()
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body"):
                break
        body = b"".join(chunks)
        if body:
            with contextlib.suppress(ValueError):
                self.bodies.append(orjson.loads(body))
        fault = self.plan.pop(0) if self.plan else self.default
        if isinstance(fault, Reply):
            await send(
                {
                    "type": "http.response.start",
                    "status": fault.status,
                    "headers": [(k.encode(), v.encode()) for k, v in fault.headers.items()],
                }
            )
            await send({"type": "http.response.body", "body": fault.body})
            return
        if isinstance(fault, str):
            scope = dict(scope)
            scope["headers"] = [*scope["headers"], (b"x-emulator-scenario", fault.encode())]
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_upstream(handler: Handler) -> AsyncIterator[str]:
    """A bare TCP server on loopback running ``handler`` per connection; yields its base URL."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":", 1)[1])
    return await reader.readexactly(n) if n else b""


async def reset_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request, then drop the connection without a byte of answer."""
    with contextlib.suppress(Exception):
        await read_request(reader)
    writer.transport.abort()


async def malformed_sse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A 200 event stream whose first event is not JSON."""
    with contextlib.suppress(Exception):
        await read_request(reader)
    event = b"data: {not json at all\n\n"
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(event)
        + event
        + b"\r\n"
    )
    with contextlib.suppress(Exception):
        await writer.drain()
        await asyncio.sleep(0.05)
    writer.close()
