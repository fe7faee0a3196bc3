"""A minimal OpenAI-shaped proxy as a plain ASGI app, for choosing qiao's hot-path stack.

It does what every gateway request does at the least: read the body, parse it (orjson), forward it
to the upstream over a pooled keep-alive client and relay the answer (whole, or chunk by chunk for
streams). The client is chosen by ``STACK_CLIENT`` (``aiohttp`` or ``httpx``); the server (uvicorn
or granian) by the command line in ``stack.py``. ``STACK_UPSTREAM`` is the upstream's base URL.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

UPSTREAM = os.environ.get("STACK_UPSTREAM", "http://127.0.0.1:9001/v1").rstrip("/")
CLIENT = os.environ.get("STACK_CLIENT", "aiohttp")
URL = UPSTREAM + "/chat/completions"
HEADERS = {"authorization": "Bearer fake-upstream-key", "content-type": "application/json"}

_client: Any = None


async def _get_client() -> Any:
    global _client
    if _client is None:
        if CLIENT == "aiohttp":
            import aiohttp

            _client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1000, keepalive_timeout=60),
                timeout=aiohttp.ClientTimeout(total=60),
                auto_decompress=False,
            )
        elif CLIENT == "httpx":
            import httpx

            _client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=1000, max_keepalive_connections=1000),
                timeout=60,
            )
        else:
            raise RuntimeError(f"STACK_CLIENT must be aiohttp or httpx, not {CLIENT!r}")
    return _client


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        msg = await receive()
        chunks.append(msg.get("body", b""))
        if not msg.get("more_body", False):
            return b"".join(chunks)


async def _proxy_aiohttp(client: Any, body: bytes, stream: bool, send: Any) -> None:
    async with client.post(URL, data=body, headers=HEADERS) as resp:
        ctype = resp.headers.get("content-type", "application/json").encode()
        if not stream:
            data = await resp.read()
            await send(
                {
                    "type": "http.response.start",
                    "status": resp.status,
                    "headers": [(b"content-type", ctype), (b"content-length", str(len(data)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": data})
            return
        await send(
            {
                "type": "http.response.start",
                "status": resp.status,
                "headers": [(b"content-type", ctype), (b"cache-control", b"no-cache")],
            }
        )
        async for chunk in resp.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


async def _proxy_httpx(client: Any, body: bytes, stream: bool, send: Any) -> None:
    if not stream:
        resp = await client.post(URL, content=body, headers=HEADERS)
        data = resp.content
        ctype = resp.headers.get("content-type", "application/json").encode()
        await send(
            {
                "type": "http.response.start",
                "status": resp.status_code,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(data)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": data})
        return
    async with client.stream("POST", URL, content=body, headers=HEADERS) as resp:
        ctype = resp.headers.get("content-type", "text/event-stream").encode()
        await send(
            {
                "type": "http.response.start",
                "status": resp.status_code,
                "headers": [(b"content-type", ctype), (b"cache-control", b"no-cache")],
            }
        )
        async for chunk in resp.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                if _client is not None:
                    await (_client.close() if CLIENT == "aiohttp" else _client.aclose())
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    body = await _read_body(receive)
    if scope["path"] != "/v1/chat/completions" or scope["method"] != "POST":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    req = orjson.loads(body)
    client = await _get_client()
    if CLIENT == "aiohttp":
        await _proxy_aiohttp(client, body, bool(req.get("stream")), send)
    else:
        await _proxy_httpx(client, body, bool(req.get("stream")), send)
