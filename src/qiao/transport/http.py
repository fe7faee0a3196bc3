"""The one place that talks HTTP to upstreams.

One pooled :class:`aiohttp.ClientSession` per provider account (its proxy and CA bundle are per
account), created in the server's lifespan, nothing per request. aiohttp was picked over httpx by
measurement (bench/RESULTS.md): at the same load it spends roughly a third of the CPU per request.

Every exception of the HTTP client is translated here, and only here, into the error tree.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from ..errors import QiaoError, UpstreamError, UpstreamTimeout, redact
from ..providers.base import Account, WireRequest, WireResponse

__all__ = ["StreamResponse", "Timeouts", "Transport"]

USER_AGENT = "qiao-gateway"


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 10.0
    first_byte: float = 120.0
    total: float = 600.0


def _translate(exc: BaseException, account: Account, what: str) -> QiaoError:
    provider = account.provider
    if isinstance(exc, QiaoError):
        return exc
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamTimeout(f"{provider} upstream timed out ({what})", provider=provider)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamError(
            f"{provider} upstream unreachable: cannot connect to {account.base_url}",
            provider=provider,
            code="upstream_connect_error",
        )
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return UpstreamError(
            f"{provider} upstream closed the connection mid-response",
            provider=provider,
            code="upstream_disconnected",
        )
    msg = redact(str(exc) or type(exc).__name__, (account.credential or "",))
    return UpstreamError(f"{provider} upstream request failed: {msg}", provider=provider)


class StreamResponse:
    """An open upstream response whose body is read incrementally."""

    __slots__ = ("_resp", "_account", "_timeouts", "status", "headers", "_first")

    def __init__(self, resp: aiohttp.ClientResponse, account: Account, timeouts: Timeouts) -> None:
        self._resp = resp
        self._account = account
        self._timeouts = timeouts
        self.status = resp.status
        self.headers = {k.lower(): v for k, v in resp.headers.items()}
        self._first = True

    async def read_all(self) -> bytes:
        try:
            async with asyncio.timeout(self._timeouts.total):
                return await self._resp.read()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise _translate(exc, self._account, "reading body") from exc

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        content = self._resp.content
        try:
            while True:
                if self._first:
                    async with asyncio.timeout(self._timeouts.first_byte):
                        chunk = await content.readany()
                    self._first = False
                else:
                    chunk = await content.readany()
                if not chunk:
                    return
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _translate(exc, self._account, "streaming") from exc

    def close(self) -> None:
        """Close at once (client gone, or error): the connection is not returned to the pool half-read."""
        self._resp.close()

    def release(self) -> None:
        self._resp.release()


class Transport:
    """Pooled HTTP client per account. ``fetch`` is also what auth schemes use for token endpoints."""

    def __init__(self, timeouts: Timeouts | None = None, limit_per_host: int = 0) -> None:
        self.timeouts = timeouts or Timeouts()
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._limit_per_host = limit_per_host

    def _session(self, account: Account) -> aiohttp.ClientSession:
        s = self._sessions.get(account.name)
        if s is None or s.closed:
            ssl_ctx: ssl.SSLContext | bool = True
            if account.ca_bundle:
                ssl_ctx = ssl.create_default_context(cafile=account.ca_bundle)
            connector = aiohttp.TCPConnector(
                limit=0,
                limit_per_host=self._limit_per_host,
                ssl=ssl_ctx,
                ttl_dns_cache=300,
                keepalive_timeout=30,
            )
            s = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=self.timeouts.connect, sock_connect=self.timeouts.connect
                ),
                headers={"User-Agent": USER_AGENT},
                auto_decompress=True,
                trust_env=False,
            )
            self._sessions[account.name] = s
        return s

    async def _open(self, wire: WireRequest, account: Account, timeouts: Timeouts) -> aiohttp.ClientResponse:
        session = self._session(account)
        try:
            async with asyncio.timeout(timeouts.first_byte):
                return await session.request(
                    wire.method,
                    wire.url,
                    data=wire.body,
                    headers=wire.headers,
                    proxy=account.proxy,
                    allow_redirects=False,
                )
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise _translate(exc, account, "waiting for response headers") from exc

    async def send(
        self, wire: WireRequest, account: Account, timeouts: Timeouts | None = None
    ) -> WireResponse:
        """Send and read the whole answer."""
        t = timeouts or self.timeouts
        resp = await self._open(wire, account, t)
        try:
            body = await StreamResponse(resp, account, t).read_all()
        finally:
            resp.release()
        return WireResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, body)

    async def stream(
        self, wire: WireRequest, account: Account, timeouts: Timeouts | None = None
    ) -> StreamResponse:
        """Send and return once headers arrived; the caller must ``close()`` or ``release()``."""
        t = timeouts or self.timeouts
        resp = await self._open(wire, account, t)
        return StreamResponse(resp, account, t)

    def fetcher(self, account: Account):  # type: ignore[no-untyped-def]
        """A :data:`~qiao.providers.base.FetchFn` bound to this account's session."""

        async def fetch(wire: WireRequest) -> WireResponse:
            return await self.send(wire, account)

        return fetch

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            await s.close()
