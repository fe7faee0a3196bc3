"""No completed request's record is lost when the gateway is killed with SIGKILL under load: each
record is in the write-ahead log before the response's last byte leaves, and is replayed at the next
start (or by any ``qiao`` ledger command)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import QiaoProcess, emulator_in_thread
from tests.ledger.helpers import STATIC, cli, ledger_config

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_under_load_loses_no_completed_record(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    db = f"sqlite:///{tmp_path}/qiao.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    completed: list[str] = []
    stop = threading.Event()
    with emulator_in_thread("zhipu") as emu:
        # a long group-commit interval: at the kill, most records are only in the WAL
        cfg = ledger_config(emu.url, db, tmp_path / "wal", database={"flush_interval_ms": 5000})
        gw = QiaoProcess(cfg, tmp_path)
        with gw:

            def hammer() -> None:
                with httpx.Client(timeout=5) as c:
                    while not stop.is_set():
                        try:
                            r = c.post(
                                gw.url + "/v1/chat/completions",
                                json={
                                    "model": "zhipu/glm-4-plus",
                                    "messages": [{"role": "user", "content": "hi"}],
                                },
                                headers={"Authorization": f"Bearer {STATIC}"},
                            )
                        except httpx.HTTPError:
                            continue
                        if r.status_code == 200:
                            completed.append(r.headers["x-request-id"])

            threads = [threading.Thread(target=hammer) for _ in range(8)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 20
            while len(completed) < 150 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert gw.proc is not None
            gw.proc.send_signal(signal.SIGKILL)  # mid-load: requests are in flight
            gw.proc.wait(10)
            stop.set()
            for t in threads:
                t.join()
        assert len(completed) >= 50
        assert list((tmp_path / "wal").glob("*.wal")), "expected records waiting in the WAL at the kill"
        recs = cli("usage", "--config", str(gw.config_path), "--json")["records"]  # replays the dead WAL
        ids = [r["request_id"] for r in recs]
        assert len(ids) == len(set(ids)), "a record was duplicated"
        missing = set(completed) - set(ids)
        assert not missing, f"{len(missing)} completed requests have no record"
        assert not list((tmp_path / "wal").glob("*.wal"))
        # a second replay (e.g. the gateway restarting) adds nothing
        with QiaoProcess(cfg, tmp_path) as again:
            again_recs = cli("usage", "--config", str(again.config_path), "--json")["records"]
        assert len(again_recs) == len(recs)
