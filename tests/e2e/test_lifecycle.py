"""Streams flush at once, a client that leaves cancels the upstream, SIGTERM drains in-flight streams."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import QiaoProcess, emulator_in_thread

pytestmark = pytest.mark.e2e
KEY = "sk-qiao-lifecycle"


def _cfg(url: str, grace: float = 20) -> dict[str, object]:
    return {
        "server": {"graceful_timeout_s": grace},
        "keys": [{"name": "t", "key": KEY}],
        "accounts": [
            {
                "provider": "openai_compat",
                "name": "emu",
                "base_url": url + "/v1",
                "credential": "sk-emulator",
                "models": ["gpt-4o"],
            }
        ],
    }


@pytest.fixture()
def slow_emulator() -> Iterator[object]:
    with emulator_in_thread("openai_compat", chunk_delay=0.2) as emu:
        yield emu


def _stream_request(url: str) -> tuple[str, dict[str, object], dict[str, str]]:
    return (
        url + "/v1/chat/completions",
        {
            "model": "emu/gpt-4o",
            "stream": True,
            "messages": [{"role": "user", "content": "one two three four five six seven eight nine ten"}],
        },
        {"Authorization": f"Bearer {KEY}"},
    )


def test_client_disconnect_cancels_upstream(slow_emulator: object, tmp_path: Path) -> None:
    emu = slow_emulator
    with QiaoProcess(_cfg(emu.url), tmp_path) as gw:  # type: ignore[attr-defined]
        url, body, headers = _stream_request(gw.url)
        with httpx.Client(timeout=10) as c, c.stream("POST", url, json=body, headers=headers) as r:
            assert r.status_code == 200
            first = next(r.iter_raw())
            assert first.startswith(b"data: ")  # first byte flushed before the answer is complete
            assert emu.app.active_streams == 1  # type: ignore[attr-defined]
        # the client left: the gateway must close the upstream stream long before its ~10 s natural end
        deadline = time.monotonic() + 5
        while emu.app.active_streams and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)
        assert emu.app.active_streams == 0  # type: ignore[attr-defined]
        assert emu.app.abandoned_streams == 1  # type: ignore[attr-defined]


def test_sigterm_drains_inflight_stream(slow_emulator: object, tmp_path: Path) -> None:
    emu = slow_emulator
    gw = QiaoProcess(_cfg(emu.url), tmp_path)  # type: ignore[attr-defined]
    with gw:
        url, body, headers = _stream_request(gw.url)
        with httpx.Client(timeout=30) as c, c.stream("POST", url, json=body, headers=headers) as r:
            it = r.iter_raw()
            got = next(it)
            assert httpx.get(gw.url + "/readyz").status_code == 200
            gw.terminate()
            # new connections are refused (or told to go away) while the stream goes on to its end
            deadline = time.monotonic() + 5
            refused = False
            while time.monotonic() < deadline and not refused:
                try:
                    refused = httpx.get(gw.url + "/readyz", timeout=1).status_code == 503
                except httpx.HTTPError:
                    refused = True
            assert refused
            for piece in it:
                got += piece
        assert got.endswith(b"data: [DONE]\n\n")
        assert gw.proc is not None
        assert gw.proc.wait(timeout=20) == 0
