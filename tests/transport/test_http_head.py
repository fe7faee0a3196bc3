"""The response head's headers, parsed from the head's bytes (no per-header callback): they must be what
httptools' own ``on_header`` callbacks give, for any head httptools accepts, however it is cut into reads."""

from __future__ import annotations

import asyncio
import random
import zlib

import httptools

from qiao.providers.base import Account, WireRequest
from qiao.transport.http import Timeouts, Transport, _Conn, _decode_head

NAMES = [b"Content-Type", b"X-Request-Id", b"Set-Cookie", b"Retry-After", b"Cache-Control", b"X-A", b"Vary"]
ENCODINGS = [b"gzip", b"x-gzip", b"deflate", b"identity", b"br", b"GZIP"]


def reference(data: bytes) -> tuple[dict[str, str], int]:
    """The headers as the old ``on_header`` collection decoded them (1xx heads' merged in), and the status."""
    pairs: list[tuple[bytes, bytes]] = []
    done: list[int] = []

    class P:
        def on_header(self, name: bytes, value: bytes) -> None:
            pairs.append((name, value))

        def on_headers_complete(self) -> None:
            done.append(parser.get_status_code())

    parser = httptools.HttpResponseParser(P())
    parser.feed_data(data)
    headers: dict[str, str] = {}
    for n, v in pairs:
        k, s = n.decode("latin-1").lower(), v.decode("latin-1")
        headers[k] = f"{headers[k]}, {s}" if k in headers else s
    return headers, done[-1]


def random_case(rng: random.Random, name: bytes) -> bytes:
    return bytes(c ^ 0x20 if 0x41 <= (c & 0xDF) <= 0x5A and rng.random() < 0.3 else c for c in name)


def random_value(rng: random.Random) -> bytes:
    chars = b"abc xyz;=,:/\t" + bytes(range(0x80, 0x100, 17))
    v = bytes(rng.choice(chars) for _ in range(rng.randint(0, 12)))
    return v.strip(b" \t") + rng.choice([b"", b" ", b"\t ", b"  "])  # (trailing spaces are kept)


def random_answer(rng: random.Random) -> tuple[bytes, bool]:
    """A response httptools accepts, and whether it names a Content-Encoding."""
    head = rng.choice([b"", b"\r\n", b"\r\n\r\n"])  # blank lines before the status line are skipped
    if rng.random() < 0.2:  # an interim head first: its headers are merged in
        head += b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"
    head += rng.choice([b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 429 Too Many\r\n", b"HTTP/1.0 500\r\n"])
    encoded = False
    lines = []
    for _ in range(rng.randint(0, 8)):
        name = random_case(rng, rng.choice(NAMES))
        lines.append(name + b":" + rng.choice([b"", b" ", b"\t", b" \t "]) + random_value(rng) + b"\r\n")
    if rng.random() < 0.4:
        encoded = True
        enc = rng.choice(ENCODINGS)
        lines.insert(
            rng.randint(0, len(lines)), random_case(rng, b"Content-Encoding") + b": " + enc + b"\r\n"
        )
    if rng.random() < 0.2:  # a name that only ends like the one looked for
        lines.append(b"X-Content-Encoding: gzip\r\n")
    body = b"content-encoding: gzip\r\n\r\n"[: rng.randint(0, 26)]  # bytes in the body never count
    lines.append(b"Content-Length: %d\r\n" % len(body))
    return head + b"".join(lines) + b"\r\n" + body, encoded


def test_head_parsed_from_its_bytes_matches_httptools_callbacks() -> None:
    rng = random.Random(5)
    for _ in range(3000):
        data, _ = random_answer(rng)
        expected, _status = reference(data)
        cuts = sorted(rng.sample(range(1, len(data)), min(rng.randint(0, 3), len(data) - 1)))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert _decode_head(pieces) == expected, data
        assert _decode_head([data]) == expected, data


async def test_connection_finds_the_content_encoding_in_any_head() -> None:
    """The connection's look for a Content-Encoding (in the lower-cased head, without decoding it) picks
    the decompressor that the decoded headers name, whatever the name's case and however the reads fall."""
    rng = random.Random(9)
    for _ in range(2000):
        data, _encoded = random_answer(rng)
        expected, status = reference(data)
        conn = _Conn(("a", "h", 80))
        at = 0
        while at < len(data):
            n = rng.randint(1, len(data))
            conn.data_received(data[at : at + n])
            at += n
        assert conn._headers_done and conn.status == status
        enc = expected.get("content-encoding", "").lower()
        if enc in ("gzip", "x-gzip"):
            assert conn._decoder is not None and conn._decoder.decompress(gzip_bytes()) == b"x", data
        elif enc == "deflate":
            assert conn._decoder is not None and conn._decoder.decompress(zlib.compress(b"y")) == b"y", data
        else:
            assert conn._decoder is None, data
        h = conn._headers
        assert (h if h is not None else _decode_head(conn._head)) == expected, data


def gzip_bytes() -> bytes:
    c = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    return c.compress(b"x") + c.flush()


async def test_interim_head_in_its_own_read_is_not_the_answer() -> None:
    """A 1xx head written on its own: the client waits on for the answer's head (status, headers, body),
    the interim head's headers merged in, and the connection is reused after."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(2)
                writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
                await writer.drain()
                await asyncio.sleep(0.02)
                body = gzip_bytes()
                writer.write(answer % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    t = Transport(Timeouts(connect=2, first_byte=2, total=5))
    acct = Account("acct", "openai_compat", "k", f"http://127.0.0.1:{port}/v1")
    w = WireRequest("POST", f"http://127.0.0.1:{port}/v1/x", {}, b"{}")
    try:
        for _ in range(2):
            r = await t.send(w, acct)
            assert (r.status, r.body) == (200, b"x")
            assert r.headers["link"] == "</a>" and r.headers["content-encoding"] == "gzip"
            s = await t.stream(w, acct)
            assert s.status == 200 and s.headers["content-encoding"] == "gzip"
            assert await s.read() == b"x" and await s.read() is None
    finally:
        await t.aclose()
        server.close()
