"""The floor for an HTTP/1.1 proxy in Python on this machine (bench only, never shipped).

One asyncio (uvloop) process; every client connection gets its own kept-alive upstream connection and
bytes are relayed both ways as they arrive (one ``write`` per read, no parsing beyond what httptools
does when ``--parse`` is given). Anything qiao does beyond this — parsing, routing, its own upstream
client, the ASGI server's bookkeeping — is qiao's cost; this is the cost of the process being woken
for a request and doing the four socket operations any proxy needs (read request, write it upstream,
read the answer, write it back).

    python bench/floor_proxy.py --port 9105 --upstream 127.0.0.1:9001 [--parse]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from typing import Any


class Upstream(asyncio.Protocol):
    def __init__(self, down: asyncio.Transport) -> None:
        self.down = down

    def data_received(self, data: bytes) -> None:
        self.down.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.down.close()


class Client(asyncio.Protocol):
    def __init__(self, host: str, port: int, parse: bool) -> None:
        self.host, self.port = host, port
        self.up: asyncio.Transport | None = None
        self.pending: list[bytes] = []
        self.parser: Any = None
        if parse:
            import httptools

            self.parser = httptools.HttpRequestParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.down: asyncio.Transport = transport  # type: ignore[assignment]
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        up, _ = await loop.create_connection(lambda: Upstream(self.down), self.host, self.port)
        self.up = up  # type: ignore[assignment]
        for d in self.pending:
            up.write(d)
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        if self.parser is not None:
            self.parser.feed_data(data)
        if self.up is None:
            self.pending.append(data)
        else:
            self.up.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.up is not None:
            self.up.close()


async def main(args: argparse.Namespace) -> None:
    host, port = args.upstream.rsplit(":", 1)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Client(host, int(port), args.parse), "127.0.0.1", args.port, backlog=4096
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=9105)
    ap.add_argument("--upstream", default="127.0.0.1:9001")
    ap.add_argument("--parse", action="store_true", help="also run httptools over the requests")
    ap.add_argument("--no-uvloop", action="store_true")
    a = ap.parse_args()
    if not a.no_uvloop:
        import uvloop

        uvloop.install()
    asyncio.run(main(a))
