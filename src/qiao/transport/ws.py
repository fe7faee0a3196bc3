"""WebSocket upstreams (iFlytek Spark's chat API): one connection per call, text messages as events.

A provider with ``stream_format = "websocket"`` builds a :class:`~qiao.providers.base.WireRequest` whose
``url`` is the ``ws://`` / ``wss://`` address (already signed), ``headers`` go on the upgrade request
and ``body`` is the first text message sent once the connection is open. :class:`WSStream` then looks
like the HTTP :class:`~qiao.transport.http.StreamResponse` to the pipeline: ``status`` (101 when open,
the upgrade's status when refused), ``read_all()`` (a refused upgrade's body, for ``classify``),
``iter_chunks()`` (each text message, UTF-8 encoded) — :class:`MessageDecoder` turns each into one
:class:`~qiao.providers.base.SSEEvent` so ``parse_event`` works unchanged.

Timeouts: ``connect`` bounds the TCP + TLS + upgrade handshake, ``first_byte`` the wait for the first
message, ``total`` the silence between later messages. Network exceptions are translated here, and only
here, into the error tree (as ``transport/http.py`` does for HTTP).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake, InvalidStatus

from ..errors import QiaoError, UpstreamError, UpstreamTimeout, redact
from ..providers.base import Account, SSEEvent, WireRequest
from .http import Timeouts

__all__ = ["MessageDecoder", "WSStream", "WSTransport"]

MAX_MESSAGE = 16 * 1024 * 1024


def _translate(exc: BaseException, account: Account, what: str) -> QiaoError:
    provider = account.provider
    if isinstance(exc, QiaoError):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"{provider} upstream timed out ({what})", provider=provider)
    if isinstance(exc, ConnectionClosed):
        return UpstreamError(
            f"{provider} upstream closed the WebSocket mid-answer ({what})",
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
    return UpstreamError(f"{provider} upstream WebSocket failed ({what}): {msg}", provider=provider)


class WSStream:
    """One upstream WebSocket conversation (or the refused upgrade)."""

    __slots__ = ("_ws", "_account", "_timeouts", "status", "headers", "_body", "_first")

    def __init__(
        self,
        ws: ClientConnection | None,
        account: Account,
        timeouts: Timeouts,
        status: int,
        headers: dict[str, str],
        body: bytes = b"",
    ) -> None:
        self._ws = ws
        self._account = account
        self._timeouts = timeouts
        self.status = status
        self.headers = headers
        self._body = body
        self._first = True

    async def read_all(self) -> bytes:
        """The body of a refused upgrade (b"" for an open connection)."""
        return self._body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Each text message, until the server closes the connection."""
        ws = self._ws
        if ws is None:
            return
        try:
            while True:
                limit = self._timeouts.first_byte if self._first else self._timeouts.total
                try:
                    async with asyncio.timeout(limit):
                        msg = await ws.recv()
                except ConnectionClosedOK:
                    return
                self._first = False
                yield msg.encode() if isinstance(msg, str) else bytes(msg)
        except (TimeoutError, OSError, ConnectionClosed) as exc:
            await self._abort()
            raise _translate(exc, self._account, "streaming") from exc

    async def drain(self, limit_s: float = 0.05) -> None:
        self.close()

    async def _abort(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.transport.abort()

    def close(self) -> None:
        """Close without waiting for the closing handshake (the answer is complete or abandoned)."""
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.transport.abort()


class WSTransport:
    """Opens upstream WebSockets; no pooling (each Spark conversation is its own connection)."""

    def __init__(self, timeouts: Timeouts | None = None) -> None:
        self.timeouts = timeouts or Timeouts()
        self._ssl: dict[str, ssl.SSLContext] = {}

    def _ssl_context(self, account: Account) -> ssl.SSLContext:
        key = account.ca_bundle or ""
        ctx = self._ssl.get(key)
        if ctx is None:
            ctx = self._ssl[key] = ssl.create_default_context(cafile=account.ca_bundle or None)
        return ctx

    async def stream(self, wire: WireRequest, account: Account, timeouts: Timeouts | None = None) -> WSStream:
        """Connect, send ``wire.body`` as the first text message, and return the open stream (or the
        refused upgrade as a status and body for the provider to classify)."""
        t = timeouts or self.timeouts
        kw: dict[str, Any] = {
            "additional_headers": wire.headers,
            "user_agent_header": "qiao-gateway",
            "open_timeout": t.connect,
            "ping_interval": None,
            "close_timeout": 1,
            "max_size": MAX_MESSAGE,
            "proxy": account.proxy or None,
        }
        if wire.url.startswith("wss://"):
            kw["ssl"] = self._ssl_context(account)
        try:
            ws = await connect(wire.url, **kw)
        except InvalidStatus as exc:
            r = exc.response
            headers = {k.lower(): v for k, v in r.headers.raw_items()}
            return WSStream(None, account, t, r.status_code, headers, bytes(r.body or b""))
        except (TimeoutError, OSError, InvalidHandshake) as exc:
            raise _translate(exc, account, "connecting") from exc
        headers = {k.lower(): v for k, v in ws.response.headers.raw_items()} if ws.response else {}
        try:
            if wire.body is not None:
                await ws.send(wire.body.decode())
        except (OSError, ConnectionClosed) as exc:
            ws.transport.abort()
            raise _translate(exc, account, "sending the request") from exc
        return WSStream(ws, account, t, 101, headers)

    async def aclose(self) -> None:
        return None


class MessageDecoder:
    """Each WebSocket message (one ``iter_chunks`` item) is one event."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        text = chunk.decode("utf-8", "replace").strip()
        return [SSEEvent(text)] if text else []

    def close(self) -> list[SSEEvent]:
        return []
