"""Shared test helpers: free ports, emulators in a thread, real ``qiao serve`` subprocesses.

Everything stays on loopback. Servers are started for real (sockets, processes) wherever behaviour
depends on them: streaming, disconnects, signals.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxies from the environment must never capture loopback test traffic."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadServer:
    """An ASGI app on uvicorn in a background thread (for emulators the test wants to inspect)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self.config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="error",
            lifespan="on",
            loop="asyncio",
            http="h11",
        )
        self.server = uvicorn.Server(self.config)
        self.server.install_signal_handlers = False  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadServer:
        import contextlib as _cl

        # uvicorn installs signal handlers only in the main thread; in a thread it skips them.
        self.server.capture_signals = _cl.nullcontext  # type: ignore[method-assign,assignment]
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("emulator did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.server.force_exit = True  # don't wait for handlers a test left hanging on purpose
        self.thread.join(timeout=10)


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"server exited with {proc.returncode}:\n{out[-3000:]}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError as exc:
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s: {last}")


def qiao_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(var, None)
    return env


QUIET_BREAKERS: dict[str, Any] = {"breaker": {"failures": 1_000_000, "min_requests": 1_000_000}}


class QiaoProcess:
    """``python -m qiao serve`` as a real subprocess with a config written to ``tmp_path``."""

    def __init__(self, config: dict[str, Any], tmp_path: Path, workers: int = 1) -> None:
        self.port = free_port()
        config = dict(config)
        config.setdefault("server", {})
        config["server"] = {**config["server"], "host": "127.0.0.1", "port": self.port}
        # Fault-injection tests share one server per module: a breaker opened by one test's deliberate
        # failures would turn the next test's answer into a 503. Breakers stay out of the way here unless
        # a test configures ``routing`` itself (tests/gateway/test_routing*.py do).
        config.setdefault("routing", QUIET_BREAKERS)
        self.config_path = tmp_path / f"qiao-{self.port}.yaml"
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> QiaoProcess:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qiao",
                "serve",
                "--config",
                str(self.config_path),
                "--workers",
                str(self.workers),
            ],
            env=qiao_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        wait_http(self.url + "/healthz", proc=self.proc)
        return self

    def terminate(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


class EmulatorProcess:
    """``python -m qiao emulate NAME`` as a real subprocess."""

    def __init__(
        self,
        provider: str,
        credential: str | None = None,
        scenario: str | None = None,
        chunk_delay: float = 0.0,
        base_path: str = "",
    ) -> None:
        self.provider = provider
        self.port = free_port()
        self.args = [sys.executable, "-m", "qiao", "emulate", provider, "--port", str(self.port)]
        if credential is not None:
            self.args += ["--credential", credential]
        if scenario:
            self.args += ["--scenario", scenario]
        if chunk_delay:
            self.args += ["--chunk-delay", str(chunk_delay)]
        self.base_path = base_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> EmulatorProcess:
        self.proc = subprocess.Popen(
            self.args, env=qiao_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        wait_http(self.url + "/", proc=self.proc)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()


@contextlib.contextmanager
def emulator_in_thread(provider: str, **options: Any) -> Iterator[ThreadServer]:
    from qiao.emulators import EmulatorOptions, load_emulator
    from qiao.providers._registry import get_provider

    p = get_provider(provider)
    options.setdefault("credential", p.demo_credential)
    app = load_emulator(provider, EmulatorOptions(**options))
    with ThreadServer(app) as srv:
        yield srv


REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture()
def redis_prefix() -> Iterator[str]:
    """A unique key prefix in the local Redis, its keys deleted afterwards. Redis is part of the test
    set-up (scripts/services.sh starts it), so it being down fails the test rather than skipping it."""
    import redis

    prefix = "qiao-test-" + os.urandom(6).hex() + ":"
    r = redis.Redis.from_url(REDIS_URL)
    try:
        r.ping()
    except redis.ConnectionError as exc:
        pytest.fail(
            f"Redis on 127.0.0.1:6379 is not reachable ({exc}); run `bash scripts/services.sh`", pytrace=False
        )
    yield prefix
    keys = list(r.scan_iter(prefix + "*", count=1000))
    if keys:
        r.delete(*keys)
    r.close()
