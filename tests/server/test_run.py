"""QiaoServer's main loop: the Date header refreshed on its tick, and a stop request (signal, embedding
program, another thread) ends the loop at once instead of at the next tick."""

from __future__ import annotations

import asyncio
import threading

import pytest

from qiao.config import Settings
from qiao.server import run as run_mod
from qiao.server.app import GatewayApp
from qiao.server.run import QiaoServer, uvicorn_config


def _server() -> QiaoServer:
    settings = Settings.model_validate({"server": {"port": 0}})
    app = GatewayApp(settings)
    return QiaoServer(uvicorn_config(app, settings, "127.0.0.1", 0), app)


def _run_until_stopped(server: QiaoServer, stop: object) -> list[int]:
    """Run main_loop with on_tick counted; ``stop(server)`` is called from another thread after the
    first tick. Returns the ticks seen."""
    ticks: list[int] = []
    first = threading.Event()
    real_on_tick = server.on_tick

    async def on_tick(counter: int) -> bool:
        ticks.append(counter)
        first.set()
        return await real_on_tick(counter)

    server.on_tick = on_tick  # type: ignore[method-assign]
    t = threading.Thread(target=lambda: (first.wait(10), stop(server)))  # type: ignore[operator]
    t.start()

    async def main() -> None:
        server.server_state.default_headers = []
        # an hour-long tick: only the stop request can end the wait before wait_for gives up
        await asyncio.wait_for(server.main_loop(), timeout=30)

    asyncio.run(main())
    t.join()
    return ticks


def test_should_exit_from_another_thread_wakes_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_mod, "_TICK_S", 3600.0)
    server = _server()
    ticks = _run_until_stopped(server, lambda s: setattr(s, "should_exit", True))
    assert ticks == [0, 0]  # the first tick, then the one that saw should_exit
    assert server.should_exit


def test_stop_signal_wakes_the_loop_and_marks_the_app_draining(monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    monkeypatch.setattr(run_mod, "_TICK_S", 3600.0)
    server = _server()
    ticks = _run_until_stopped(server, lambda s: s.handle_exit(signal.SIGTERM, None))
    assert len(ticks) == 2
    assert server.qiao_app.draining


def test_each_tick_refreshes_the_date_header() -> None:
    server = _server()

    async def main() -> list:
        server.server_state.default_headers = []
        server.should_exit = True  # one tick, then out
        await server.main_loop()
        return server.server_state.default_headers

    headers = asyncio.run(main())
    assert [name for name, _ in headers] == [b"date"]
