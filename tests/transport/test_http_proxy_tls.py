"""Per-account HTTPS proxies and CA bundles (config keys ``proxy`` and ``ca_bundle``), proven on loopback.

A throw-away CA and a server certificate for 127.0.0.1 are made with ``cryptography``; an emulator runs
under uvicorn with that certificate; a small asyncio proxy (CONNECT tunnels for HTTPS, absolute-form
forwarding for plain HTTP, optional Basic proxy auth) records what it was asked. Checked with the
transport directly and through a real ``qiao serve`` driven by the ``openai`` SDK: TLS reached directly
and through the tunnel, keep-alive through the tunnel, a plain-HTTP proxy (with its credentials), and
failures that say what went wrong — a wrong CA is a 502 ``upstream_tls_error``, a refused CONNECT a 502
``upstream_proxy_error``.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
import uvicorn

from qiao.emulators import EmulatorOptions, load_emulator
from qiao.errors import UpstreamError
from qiao.providers.base import Account, WireRequest
from qiao.transport.http import Timeouts, Transport
from tests.conftest import QiaoProcess, ThreadServer, free_port

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

CHAT = orjson.dumps({"model": "qwen2.5-7b-instruct", "messages": [{"role": "user", "content": "hi"}]})


# ---- certificates ----------------------------------------------------------------------------------------


def _name(cn: str) -> Any:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(tmp: Path, cn: str) -> tuple[Path, Any, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = tmp / f"{cn}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, cert, key


def make_server_cert(tmp: Path, ca_cert: Any, ca_key: Any) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "server.pem", tmp / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@dataclass
class PKI:
    ca: Path
    other_ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    tmp = tmp_path_factory.mktemp("pki")
    ca, ca_cert, ca_key = make_ca(tmp, "qiao-test-ca")
    other, _, _ = make_ca(tmp, "unrelated-ca")
    cert, key = make_server_cert(tmp, ca_cert, ca_key)
    return PKI(ca, other, cert, key)


class TLSServer(ThreadServer):
    """An emulator on uvicorn with TLS."""

    def __init__(self, app: Any, cert: Path, key: Path) -> None:
        super().__init__(app)
        self.config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="error",
            lifespan="on",
            loop="asyncio",
            http="h11",
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
        )
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def tls_emulator(pki: PKI) -> Iterator[TLSServer]:
    app = load_emulator("vllm", EmulatorOptions(credential=""))
    with TLSServer(app, pki.cert, pki.key) as srv:
        yield srv


@pytest.fixture(scope="module")
def http_emulator() -> Iterator[ThreadServer]:
    with ThreadServer(load_emulator("vllm", EmulatorOptions(credential=""))) as srv:
        yield srv


# ---- a small proxy ---------------------------------------------------------------------------------------


@dataclass
class ProxyLog:
    connects: list[str] = field(default_factory=list)
    forwards: list[str] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)


class Proxy:
    """CONNECT tunnels and absolute-form forwarding on 127.0.0.1, in its own thread and event loop."""

    def __init__(self, credentials: str | None = None) -> None:
        self.port = free_port()
        self.log = ProxyLog()
        self.expected = (
            None if credentials is None else "Basic " + base64.b64encode(credentials.encode()).decode()
        )
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.server: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
            self.ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def __enter__(self) -> Proxy:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if self.server is not None:
                self.server.close()
            for t in asyncio.all_tasks():
                if t is not asyncio.current_task():
                    t.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    @staticmethod
    async def _head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes] | None:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        return lines[0], headers, raw

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await self._head(reader)
        if head is None:
            writer.close()
            return
        line, headers, _ = head
        method, target, _ = line.split(" ", 2)
        self.log.auth.append(headers.get("proxy-authorization"))
        if self.expected is not None and headers.get("proxy-authorization") != self.expected:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        if method == "CONNECT":
            self.log.connects.append(target)
            host, port = target.rsplit(":", 1)
            up_r, up_w = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(self._pipe(reader, up_w), self._pipe(up_r, writer))
            return
        await self._forward(method, target, headers, head[2], reader, writer)

    async def _forward(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        raw: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Plain HTTP: absolute-form requests, rewritten to origin-form, one upstream connection."""
        from urllib.parse import urlsplit

        u = urlsplit(target)
        up_r, up_w = await asyncio.open_connection(u.hostname, u.port or 80)
        back = asyncio.ensure_future(self._pipe(up_r, writer))
        try:
            while True:
                self.log.forwards.append(target)
                origin = (u.path or "/") + (f"?{u.query}" if u.query else "")
                first, rest = raw.split(b"\r\n", 1)
                kept = b"".join(
                    h + b"\r\n" for h in rest.split(b"\r\n") if h and not h.lower().startswith(b"proxy-")
                )
                up_w.write(f"{method} {origin} HTTP/1.1\r\n".encode() + kept + b"\r\n")
                n = int(headers.get("content-length") or 0)
                if n:
                    up_w.write(await reader.readexactly(n))
                await up_w.drain()
                head = await self._head(reader)
                if head is None:
                    break
                line, headers, raw = head
                method, target, _ = line.split(" ", 2)
                self.log.auth.append(headers.get("proxy-authorization"))
                u = urlsplit(target)
        finally:
            up_w.close()
            await back


# ---- the transport directly -------------------------------------------------------------------------------


def account(base_url: str, **kw: Any) -> Account:
    return Account("acct", "vllm", None, base_url, **kw)


async def _post(tr: Transport, acct: Account, path: str = "/v1/chat/completions") -> Any:
    wire = WireRequest("POST", acct.base_url + path, {"Content-Type": "application/json"}, CHAT)
    return await tr.send(wire, acct, Timeouts(5, 10, 20))


async def test_tls_direct_with_ca_bundle(tls_emulator: TLSServer, pki: PKI) -> None:
    tr = Transport()
    try:
        resp = await _post(tr, account(tls_emulator.url, ca_bundle=str(pki.ca)))
        assert resp.status == 200 and orjson.loads(resp.body)["choices"][0]["message"]["content"]
        # streaming over TLS too
        wire = WireRequest(
            "POST",
            tls_emulator.url + "/v1/chat/completions",
            {"Content-Type": "application/json"},
            orjson.dumps({**orjson.loads(CHAT), "stream": True}),
            True,
        )
        up = await tr.stream(wire, account(tls_emulator.url, ca_bundle=str(pki.ca)), Timeouts(5, 10, 20))
        body = b"".join([c async for c in up.iter_chunks()])
        assert body.endswith(b"data: [DONE]\n\n")
    finally:
        await tr.aclose()


@pytest.mark.parametrize("bundle", ["other", "system"])
async def test_wrong_ca_is_a_clear_tls_error(tls_emulator: TLSServer, pki: PKI, bundle: str) -> None:
    tr = Transport()
    ca = str(pki.other_ca) if bundle == "other" else None
    try:
        with pytest.raises(UpstreamError) as exc:
            await _post(tr, account(tls_emulator.url, ca_bundle=ca))
        assert exc.value.code == "upstream_tls_error" and exc.value.status == 502
        assert "CERTIFICATE_VERIFY_FAILED" in exc.value.message
    finally:
        await tr.aclose()


@pytest.mark.parametrize("creds", [None, "alice:s3cret"])
async def test_tls_through_connect_proxy(tls_emulator: TLSServer, pki: PKI, creds: str | None) -> None:
    with Proxy(creds) as proxy:
        url = proxy.url if creds is None else proxy.url.replace("http://", f"http://{creds}@")
        acct = account(tls_emulator.url, ca_bundle=str(pki.ca), proxy=url)
        tr = Transport()
        try:
            for _ in range(3):
                resp = await _post(tr, acct)
                assert resp.status == 200
        finally:
            await tr.aclose()
        assert proxy.log.connects == [f"127.0.0.1:{tls_emulator.port}"]  # one tunnel, kept alive
        assert proxy.log.auth[0] == proxy.expected


async def test_tls_through_proxy_with_wrong_ca(tls_emulator: TLSServer, pki: PKI) -> None:
    with Proxy() as proxy:
        tr = Transport()
        try:
            with pytest.raises(UpstreamError) as exc:
                await _post(tr, account(tls_emulator.url, ca_bundle=str(pki.other_ca), proxy=proxy.url))
            assert exc.value.code == "upstream_tls_error"
        finally:
            await tr.aclose()


async def test_proxy_refusing_connect(tls_emulator: TLSServer, pki: PKI) -> None:
    with Proxy("alice:s3cret") as proxy:
        tr = Transport()
        try:
            with pytest.raises(UpstreamError) as exc:
                await _post(tr, account(tls_emulator.url, ca_bundle=str(pki.ca), proxy=proxy.url))
            assert exc.value.code == "upstream_proxy_error" and "407" in exc.value.message
        finally:
            await tr.aclose()


@pytest.mark.parametrize("creds", [None, "bob:pw"])
async def test_plain_http_through_proxy(http_emulator: ThreadServer, creds: str | None) -> None:
    with Proxy(creds) as proxy:
        url = proxy.url if creds is None else proxy.url.replace("http://", f"http://{creds}@")
        tr = Transport()
        try:
            for _ in range(2):
                resp = await _post(tr, account(http_emulator.url, proxy=url))
                assert resp.status == 200, resp.body
        finally:
            await tr.aclose()
        target = f"{http_emulator.url}/v1/chat/completions"
        assert proxy.log.forwards == [target, target] and not proxy.log.connects
        assert proxy.log.auth == [proxy.expected, proxy.expected]


async def test_missing_ca_bundle_file_is_named(tls_emulator: TLSServer, tmp_path: Path) -> None:
    tr = Transport()
    try:
        with pytest.raises(UpstreamError) as exc:
            await _post(tr, account(tls_emulator.url, ca_bundle=str(tmp_path / "nope.pem")))
        assert "nope.pem" in exc.value.message
    finally:
        await tr.aclose()


# ---- through a real gateway --------------------------------------------------------------------------------


@pytest.mark.e2e
def test_gateway_proxy_and_ca_bundle(tls_emulator: TLSServer, pki: PKI, tmp_path: Path) -> None:
    models = ["qwen2.5-7b-instruct"]
    with Proxy("carol:pw") as proxy:
        cfg = {
            "keys": [{"name": "t", "key": "sk-qiao-tls"}],
            "accounts": [
                {
                    "provider": "vllm",
                    "name": "direct",
                    "base_url": tls_emulator.url + "/v1",
                    "ca_bundle": str(pki.ca),
                    "models": models,
                },
                {
                    "provider": "vllm",
                    "name": "tunnel",
                    "base_url": tls_emulator.url + "/v1",
                    "ca_bundle": str(pki.ca),
                    "proxy": proxy.url.replace("http://", "http://carol:pw@"),
                    "models": models,
                },
                {
                    "provider": "vllm",
                    "name": "wrongca",
                    "base_url": tls_emulator.url + "/v1",
                    "ca_bundle": str(pki.other_ca),
                    "models": models,
                },
            ],
        }
        with QiaoProcess(cfg, tmp_path) as gw:
            c = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-qiao-tls", max_retries=0)
            for name in ("direct", "tunnel"):
                r = c.chat.completions.create(
                    model=f"{name}/qwen2.5-7b-instruct", messages=[{"role": "user", "content": "hi"}]
                )
                assert r.choices[0].message.content
                text = "".join(
                    ch.choices[0].delta.content or ""
                    for ch in c.chat.completions.create(
                        model=f"{name}/qwen2.5-7b-instruct",
                        messages=[{"role": "user", "content": "hi"}],
                        stream=True,
                    )
                    if ch.choices
                )
                assert text
            assert proxy.log.connects and all(
                t == f"127.0.0.1:{tls_emulator.port}" for t in proxy.log.connects
            )
            with pytest.raises(openai.APIStatusError) as exc:
                c.chat.completions.create(
                    model="wrongca/qwen2.5-7b-instruct", messages=[{"role": "user", "content": "hi"}]
                )
            assert exc.value.status_code == 502 and exc.value.code == "upstream_tls_error"
            assert "TLS" in exc.value.message
