"""Running the gateway: uvicorn (httptools + uvloop), one or several worker processes on one socket.

Lifecycle: on SIGTERM (or SIGINT) each worker marks itself draining (``/readyz`` answers 503 at once),
stops accepting connections, lets in-flight requests and streams finish for up to
``server.graceful_timeout_s``, then exits. With several workers the parent forwards the signal and waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from ..config import Settings, load_settings
from .app import GatewayApp

__all__ = ["QiaoServer", "serve", "uvicorn_config"]

log = logging.getLogger(__name__)


class QiaoServer(uvicorn.Server):
    """uvicorn's server, telling the app it is draining the moment a stop signal arrives, and waking
    once a second when idle instead of ten times (:meth:`main_loop`)."""

    def __init__(self, config: uvicorn.Config, app: GatewayApp) -> None:
        self._waiter: asyncio.Future[None] | None = None
        super().__init__(config)
        self.qiao_app = app

    @property  # type: ignore[override]
    def should_exit(self) -> bool:
        return self._should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        # Set by the signal handler, by an embedding program (qiao demo) or by a test from another
        # thread: wake main_loop's wait at once rather than at the next second.
        self._should_exit = value
        waiter = self._waiter
        if value and waiter is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                waiter.get_loop().call_soon_threadsafe(_wake, waiter)

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.qiao_app.draining = True
        super().handle_exit(sig, frame)

    async def main_loop(self) -> None:
        """uvicorn's main loop sleeps 0.1 s at a time to refresh the Date header once a second and to
        notice ``should_exit``: ten wake-ups a second of an idle gateway, each paid on a cold core
        (about 1.2 ms of CPU a second here, 6 % of a request's cost at 20 req/s; bench/RESULTS.md,
        session 5). This one refreshes the header on each whole second and is woken by
        ``should_exit`` itself."""
        loop = asyncio.get_running_loop()
        while not await self.on_tick(0):  # counter 0: uvicorn refreshes the Date header on this tick
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiter = waiter
            timer = loop.call_later(_TICK_S + 0.0005 - time.time() % _TICK_S, _wake, waiter)
            try:
                if not self._should_exit:  # set between on_tick and here: do not sleep
                    await waiter
            finally:
                timer.cancel()
                self._waiter = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Like uvicorn's, but a drained shutdown exits 0 instead of re-raising the signal."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        sigs = (signal.SIGINT, signal.SIGTERM)
        old = {s: signal.signal(s, self.handle_exit) for s in sigs}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)


_TICK_S = 1.0  # the Date header's resolution


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def uvicorn_config(app: Any, settings: Settings, host: str, port: int, **kw: Any) -> uvicorn.Config:
    s = settings.server
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:  # pragma: no cover - non-Linux
        loop = "asyncio"
    protocol: Any = "httptools"
    if os.environ.get("QIAO_HTTP_PROTOCOL", "qiao") != "uvicorn":  # the escape hatch of protocol.py
        from .protocol import QiaoHttpProtocol

        protocol = QiaoHttpProtocol
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=loop,
        http=protocol,
        lifespan="on",
        access_log=s.access_log,
        log_level=s.log_level,
        timeout_graceful_shutdown=int(s.graceful_timeout_s + 0.999) if s.graceful_timeout_s else None,
        timeout_keep_alive=75,
        server_header=False,
        date_header=True,
        # X-Forwarded-For rewriting is off: a gateway behind a load balancer logs the request id, not
        # client addresses, and the middleware costs a few percent of every request.
        proxy_headers=False,
        backlog=4096,
        **kw,
    )


def _worker(config_path: str, host: str, port: int, sock: socket.socket | None, workers: int = 1) -> None:
    settings = load_settings(config_path)
    if settings.server.workers != workers:  # --workers given on the command line
        settings = settings.model_copy(
            update={"server": settings.server.model_copy(update={"workers": workers})}
        )
    app = GatewayApp(settings)
    server = QiaoServer(uvicorn_config(app, settings, host, port), app)
    server.run(sockets=[sock] if sock is not None else None)


def serve(
    config_path: str | Path,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    ready_file: str | None = None,
) -> int:
    settings = load_settings(config_path)
    s = settings.server
    host = host or s.host
    port = s.port if port is None else port
    workers = workers or s.workers
    from ..obs.logging import setup_logging

    setup_logging(s.log_level)
    if workers <= 1:
        app = GatewayApp(settings)
        config = uvicorn_config(app, settings, host, port)
        server = QiaoServer(config, app)
        server.run()
        return 0 if server.started else 1
    # Several workers share one listening socket bound here.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.set_inheritable(True)
    _fresh_shared_counters(settings, workers)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker, args=(str(config_path), host, port, sock, workers), daemon=False)
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    log.info("qiao serving on http://%s:%d with %d workers", host, sock.getsockname()[1], workers)

    def forward(sig: int, frame: Any) -> None:
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = 0
    for p in procs:
        p.join()
        code = code or (p.exitcode or 0)
    sock.close()
    return code


def _fresh_shared_counters(settings: Settings, workers: int) -> None:
    """Workers sharing a SQLite counter file start from the ledger, not from a previous run's leftovers."""
    from ..ledger.meter import counters_kind, ledger_enabled, wal_dir_for

    s = settings.model_copy(update={"server": settings.server.model_copy(update={"workers": workers})})
    if ledger_enabled(s) and counters_kind(s) == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            (wal_dir_for(s) / f"counters.sqlite{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(serve(sys.argv[1]))
