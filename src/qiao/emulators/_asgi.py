"""A tiny ASGI toolkit for emulators: routing, request reading, JSON/SSE/NDJSON answers, scenario timing.

Emulators are plain ASGI apps so that ``qiao demo``, ``qiao emulate`` and the tests can run them under
uvicorn on loopback, and users can run them in their own offline test suites.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson

__all__ = [
    "EmulatorApp",
    "EmulatorOptions",
    "Handler",
    "Request",
    "Response",
    "WebSocketSession",
    "json_response",
    "stream_response",
    "text_response",
]


@dataclass(slots=True)
class EmulatorOptions:
    credential: str | None = None
    """The credential the emulator accepts, in the provider's own format; None = the documented default."""
    scenario: str | None = None
    """A fault scenario applied to every request (``rate_limited``, ``slow_first_byte=3`` …)."""
    chunk_delay: float = 0.0
    """Seconds between stream events (0 = as fast as possible)."""
    slow_first_byte: float = 2.0
    """Default delay for the ``slow_first_byte`` scenario when the marker gives none."""


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    path_params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def q(self, name: str) -> str | None:
        v = self.query.get(name)
        return v[0] if v else None


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None
    delay: float = 0.0


Handler = Callable[[Request], Awaitable[Response]]


class WebSocketSession:
    """One ASGI WebSocket connection, for emulators of WebSocket APIs (iFlytek Spark)."""

    def __init__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.path: str = scope["path"]
        self.query = parse_qs(scope.get("query_string", b"").decode())
        self.raw_query: str = scope.get("query_string", b"").decode()
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self._can_deny = "websocket.http.response" in (scope.get("extensions") or {})
        self._receive = receive
        self._send = send
        self.closed = False

    def q(self, name: str) -> str | None:
        v = self.query.get(name)
        return v[0] if v else None

    async def connect(self) -> bool:
        return bool((await self._receive())["type"] == "websocket.connect")

    async def accept(self) -> None:
        await self._send({"type": "websocket.accept"})

    async def reject(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        """Refuse the upgrade with an HTTP answer (where the server supports it), else close 1008."""
        if self._can_deny:
            await self._send(
                {
                    "type": "websocket.http.response.start",
                    "status": status,
                    "headers": [(b"content-type", content_type.encode())],
                }
            )
            await self._send({"type": "websocket.http.response.body", "body": body})
        else:
            await self._send({"type": "websocket.close", "code": 1008})
        self.closed = True

    async def receive_text(self) -> str | None:
        """The next text (or UTF-8 bytes) message; None once the client has gone."""
        msg = await self._receive()
        if msg["type"] == "websocket.disconnect":
            self.closed = True
            return None
        text = msg.get("text")
        return text if text is not None else (msg.get("bytes") or b"").decode("utf-8", "replace")

    async def send_text(self, text: str) -> None:
        await self._send({"type": "websocket.send", "text": text})

    async def close(self, code: int = 1000) -> None:
        if not self.closed:
            self.closed = True
            await self._send({"type": "websocket.close", "code": code})


WSHandler = Callable[[WebSocketSession], Awaitable[None]]


def json_response(
    obj: Any,
    status: int = 200,
    headers: list[tuple[str, str]] | None = None,
    content_type: str = "application/json",
) -> Response:
    return Response(status, orjson.dumps(obj), content_type, headers or [])


def text_response(text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(status, text.encode(), content_type)


def stream_response(
    events: AsyncIterator[bytes],
    content_type: str = "text/event-stream; charset=utf-8",
    delay: float = 0.0,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    return Response(200, b"", content_type, headers or [], events, delay)


class EmulatorApp:
    """Route table → handler; ``{name}`` segments in a path pattern become ``path_params``."""

    def __init__(self, name: str, options: EmulatorOptions | None = None) -> None:
        self.name = name
        self.options = options or EmulatorOptions()
        self._exact: dict[tuple[str, str], Handler] = {}
        self._patterns: list[tuple[str, list[str], Handler]] = []
        self._ws_routes: dict[str, WSHandler] = {}
        self.requests_seen = 0
        self.active_streams = 0
        self.abandoned_streams = 0

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            if "{" in path:
                self._patterns.append((method, path.strip("/").split("/"), fn))
            else:
                self._exact[(method, path.rstrip("/") or "/")] = fn
            return fn

        return deco

    def websocket(self, path: str) -> Callable[[WSHandler], WSHandler]:
        """Register a WebSocket endpoint (exact path)."""

        def deco(fn: WSHandler) -> WSHandler:
            self._ws_routes[path.rstrip("/") or "/"] = fn
            return fn

        return deco

    def _match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        h = self._exact.get((method, path.rstrip("/") or "/"))
        if h:
            return h, {}
        parts = path.strip("/").split("/")
        for m, pat, fn in self._patterns:
            if m != method or len(pat) != len(parts):
                continue
            params: dict[str, str] = {}
            for p, v in zip(pat, parts, strict=True):
                if p.startswith("{") and p.endswith("}"):
                    params[p[1:-1]] = v
                elif p != v:
                    break
            else:
                return fn, params
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "websocket":
            session = WebSocketSession(scope, receive, send)
            if not await session.connect():
                return
            self.requests_seen += 1
            ws_handler = self._ws_routes.get(scope["path"].rstrip("/") or "/")
            if ws_handler is None:
                await session.reject(404, orjson.dumps({"message": f"no WebSocket route {scope['path']}"}))
                return
            await ws_handler(session)
            return
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        req = Request(
            scope["method"], scope["path"], parse_qs(scope.get("query_string", b"").decode()), headers, body
        )
        self.requests_seen += 1
        found = self._match(req.method, req.path)
        if found is None:
            resp = json_response({"error": {"message": f"no route {req.method} {req.path}"}}, 404)
        else:
            handler, req.path_params = found
            resp = await handler(req)
        if resp.delay:
            await asyncio.sleep(resp.delay)
        hdrs = [(b"content-type", resp.content_type.encode())]
        hdrs += [(k.encode(), v.encode()) for k, v in resp.headers]
        if resp.stream is None:
            hdrs.append((b"content-length", str(len(resp.body)).encode()))
            await send({"type": "http.response.start", "status": resp.status, "headers": hdrs})
            await send({"type": "http.response.body", "body": resp.body})
            return
        await send({"type": "http.response.start", "status": resp.status, "headers": hdrs})
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.ensure_future(watch())
        self.active_streams += 1
        try:
            async for piece in resp.stream:
                if gone.is_set():
                    self.abandoned_streams += 1
                    return
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                if self.options.chunk_delay:
                    await asyncio.sleep(self.options.chunk_delay)
            await send({"type": "http.response.body", "body": b""})
        except _CutStream:
            return  # drop the connection without a proper end: the "stream cut midway" scenario
        finally:
            self.active_streams -= 1
            watcher.cancel()


class _CutStream(Exception):
    pass


CutStream = _CutStream
