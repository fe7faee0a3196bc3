"""The upstream HTTP client against a raw asyncio server that can misbehave on purpose."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable

import pytest

from qiao.errors import UpstreamError, UpstreamTimeout
from qiao.providers.base import Account, WireRequest
from qiao.transport.http import Timeouts, Transport

Handler = Callable[[bytes], bytes | None]


class RawServer:
    """Reads one request at a time per connection and answers with whatever ``handler`` returns
    (None: close without answering). Counts connections."""

    def __init__(self, handler: Handler, delay: float = 0.0) -> None:
        self.handler = handler
        self.delay = delay
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                if self.delay:
                    await asyncio.sleep(self.delay)
                answer = self.handler(head + body)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


def ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n"
        + extra
        + b"\r\n"
        + body
    )


def account(port: int) -> Account:
    return Account("acct", "openai_compat", "secret-credential", f"http://127.0.0.1:{port}/v1")


def wire(port: int, body: bytes = b"{}") -> WireRequest:
    return WireRequest(
        "POST", f"http://127.0.0.1:{port}/v1/chat/completions", {"Content-Type": "application/json"}, body
    )


@pytest.fixture()
async def transport() -> AsyncIterator[Transport]:
    t = Transport(Timeouts(connect=2, first_byte=1, total=5))
    yield t
    await t.aclose()


async def test_keep_alive_reuses_one_connection(transport: Transport) -> None:
    async with RawServer(lambda req: ok()) as srv:
        for _ in range(5):
            r = await transport.send(wire(srv.port), account(srv.port))
            assert r.status == 200 and r.body == b'{"ok":true}'
        assert srv.connections == 1
        assert b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:" in srv.requests[0]
        assert b"Content-Length: 2\r\n" in srv.requests[0]


async def test_connection_close_is_not_reused(transport: Transport) -> None:
    async with RawServer(lambda req: ok(extra=b"Connection: close\r\n")) as srv:
        for _ in range(3):
            assert (await transport.send(wire(srv.port), account(srv.port))).status == 200
        assert srv.connections == 3


async def test_stale_pooled_connection_is_retried_once(transport: Transport) -> None:
    count = {"n": 0}

    def handler(req: bytes) -> bytes | None:
        count["n"] += 1
        return ok() if count["n"] != 2 else None  # the second request finds the connection closed

    async with RawServer(handler) as srv:
        assert (await transport.send(wire(srv.port), account(srv.port))).status == 200
        await asyncio.sleep(0.05)
        r = await transport.send(wire(srv.port), account(srv.port))
        assert r.status == 200 and srv.connections == 2


async def test_chunked_and_gzip(transport: Transport) -> None:
    payload = gzip.compress(b'{"hello":"' + b"x" * 5000 + b'"}')
    chunks = (
        b"".join(
            f"{len(payload[i : i + 700]):x}\r\n".encode() + payload[i : i + 700] + b"\r\n"
            for i in range(0, len(payload), 700)
        )
        + b"0\r\n\r\n"
    )
    resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n" + chunks
    async with RawServer(lambda req: resp) as srv:
        r = await transport.send(wire(srv.port), account(srv.port))
        assert r.body.startswith(b'{"hello":"xxx') and len(r.body) == 5000 + 12
        r2 = await transport.send(wire(srv.port), account(srv.port))
        assert r2.body == r.body and srv.connections == 1


async def test_streaming_chunks_arrive_incrementally(transport: Transport) -> None:
    events = [b'data: {"i":%d}\n\n' % i for i in range(5)]
    body = b"".join(f"{len(e):x}\r\n".encode() + e + b"\r\n" for e in events) + b"0\r\n\r\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    async with RawServer(lambda req: resp) as srv:
        s = await transport.stream(wire(srv.port), account(srv.port))
        got = b"".join([c async for c in s.iter_chunks()])
        assert got == b"".join(events) and s.headers["content-type"] == "text/event-stream"


async def test_first_byte_timeout(transport: Transport) -> None:
    async with RawServer(lambda req: ok(), delay=3) as srv:
        with pytest.raises(UpstreamTimeout) as ei:
            await transport.send(wire(srv.port), account(srv.port))
        assert "openai_compat" in ei.value.message


async def test_connection_refused() -> None:
    t = Transport(Timeouts(connect=2))
    with pytest.raises(UpstreamError) as ei:
        await t.send(wire(9), account(9))
    assert ei.value.code == "upstream_connect_error" and "secret-credential" not in ei.value.message


async def test_cut_mid_body(transport: Transport) -> None:
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n" + b"x" * 10
    async with RawServer(lambda req: resp) as srv:
        with pytest.raises(UpstreamError) as ei:
            await transport.send(wire(srv.port), account(srv.port))
        assert ei.value.code == "upstream_disconnected"


async def test_header_injection_refused(transport: Transport) -> None:
    w = WireRequest("POST", "http://127.0.0.1:9/x", {"X-Evil": "a\r\nInjected: 1"}, b"")
    with pytest.raises(UpstreamError):
        await transport.send(w, account(9))


async def test_answer_headers_decoded_on_first_read(transport: Transport) -> None:
    """Headers are decoded lazily (on_headers_complete only looks for a Content-Encoding): the dict is
    the same as an eager decode would give, repeated names joined, names lower-cased, latin-1 values."""
    extra = b"X-Rate: 1\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nX-Latin: caf\xe9\r\nRetry-After: 7\r\n"
    async with RawServer(lambda req: ok(extra=extra)) as srv:
        for _ in range(2):  # the second answer comes on the pooled connection (its head list reset)
            r = await transport.send(wire(srv.port), account(srv.port))
            assert r.headers == {
                "content-type": "application/json",
                "content-length": "11",
                "x-rate": "1",
                "set-cookie": "a=1, b=2",
                "x-latin": "caf\xe9",
                "retry-after": "7",
            }
            assert r.headers.get("retry-after") == "7" and r == type(r)(r.status, dict(r.headers), r.body)
        assert srv.connections == 1


async def test_memoised_request_head_follows_every_input(transport: Transport) -> None:
    """The encoded head is memoised on (method, URL, proxy, headers): any change gives its own head, and
    Content-Length always follows the body."""
    async with RawServer(lambda req: ok()) as srv:
        url = f"http://127.0.0.1:{srv.port}/v1/chat/completions"
        acct = account(srv.port)
        sends = [
            WireRequest("POST", url, {"Authorization": "Bearer a"}, b"{}"),
            WireRequest("POST", url, {"Authorization": "Bearer b"}, b'{"x":1}'),
            WireRequest("POST", url + "?v=2", {"Authorization": "Bearer b"}, b""),
            WireRequest("POST", url, {"Authorization": "Bearer a", "User-Agent": "me"}, b"{}"),
            WireRequest("GET", url, {"Authorization": "Bearer a"}, None),
            WireRequest("POST", url, {"Authorization": "Bearer a"}, b"{}"),
        ]
        for w in sends:
            assert (await transport.send(w, acct)).status == 200
        host = f"Host: 127.0.0.1:{srv.port}\r\n".encode()
        assert srv.requests == [
            b"POST /v1/chat/completions HTTP/1.1\r\n" + host + b"Authorization: Bearer a\r\n"
            b"User-Agent: qiao-gateway\r\nContent-Length: 2\r\n\r\n{}",
            b"POST /v1/chat/completions HTTP/1.1\r\n" + host + b"Authorization: Bearer b\r\n"
            b'User-Agent: qiao-gateway\r\nContent-Length: 7\r\n\r\n{"x":1}',
            b"POST /v1/chat/completions?v=2 HTTP/1.1\r\n" + host + b"Authorization: Bearer b\r\n"
            b"User-Agent: qiao-gateway\r\nContent-Length: 0\r\n\r\n",
            b"POST /v1/chat/completions HTTP/1.1\r\n" + host + b"Authorization: Bearer a\r\n"
            b"User-Agent: me\r\nContent-Length: 2\r\n\r\n{}",
            b"GET /v1/chat/completions HTTP/1.1\r\n" + host + b"Authorization: Bearer a\r\n"
            b"User-Agent: qiao-gateway\r\n\r\n",
            b"POST /v1/chat/completions HTTP/1.1\r\n" + host + b"Authorization: Bearer a\r\n"
            b"User-Agent: qiao-gateway\r\nContent-Length: 2\r\n\r\n{}",
        ]


async def test_head_timeout_watcher_follows_each_wait(transport: Transport) -> None:
    """The head wait's watcher timer outlives a wait on a kept-alive connection: a later wait with a
    shorter limit still times out on time, and a wait whose deadline is later than a pending watcher's
    is not cut when that watcher fires (it re-arms for the new deadline)."""
    delays = [0.0, 0.85, 0.0, 0.6]

    class Slow(RawServer):
        async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                while True:
                    await reader.readuntil(b"\r\n\r\n")
                    await reader.readexactly(2)
                    await asyncio.sleep(delays.pop(0))
                    writer.write(ok())
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, IndexError):
                pass
            finally:
                writer.close()

    loop = asyncio.get_running_loop()
    async with Slow(lambda req: ok()) as srv:
        acct = account(srv.port)
        # a watcher is armed for +1.0 s; at +0.3 s a wait with its deadline at +1.3 s starts and is
        # answered at +1.15 s: the watcher fires mid-wait (+1.0 s), sees the later deadline and re-arms
        t0 = loop.time()
        assert (await transport.send(wire(srv.port), acct, Timeouts(first_byte=1.0))).status == 200
        await asyncio.sleep(0.3)
        assert (await transport.send(wire(srv.port), acct, Timeouts(first_byte=1.0))).status == 200
        assert loop.time() - t0 > 1.0
        # a long watcher pending (+5 s), then a short limit: cut after ~0.2 s, not 5 s
        assert (await transport.send(wire(srv.port), acct, Timeouts(first_byte=5))).status == 200
        t0 = loop.time()
        with pytest.raises(UpstreamTimeout):
            await transport.send(wire(srv.port), acct, Timeouts(first_byte=0.2))
        assert 0.15 < loop.time() - t0 < 1.0
        assert srv.connections == 1
