"""``qiao demo --data-dir DIR`` creates the database and an admin key; ``qiao keys|tenants|usage
--config DIR/qiao.yaml`` act on the running demo."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import qiao_env
from tests.ledger.helpers import cli

pytestmark = pytest.mark.e2e


def test_keys_and_usage_act_on_a_running_demo(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "qiao", "demo", "--port", "0", "--data-dir", str(tmp_path)],
        env=qiao_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Press Ctrl+C" in line:
                break
        text = "".join(lines)
        base = re.search(r"base URL : (\S+)", text)
        admin = re.search(r"admin key: (\S+)", text)
        assert base and admin, text
        assert (tmp_path / "qiao.db").exists()
        cfg = str(tmp_path / "qiao.yaml")
        made = cli("keys", "create", "--config", cfg, "--tenant", "demo-team", "--rpm", "100", "--json")
        r = httpx.post(
            base.group(1) + "/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "你好"}]},
            headers={"Authorization": f"Bearer {made['key']}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        assert r.headers["x-ratelimit-limit-requests"] == "100"
        root = base.group(1).rsplit("/v1", 1)[0]
        keys = httpx.get(root + "/admin/keys", headers={"Authorization": f"Bearer {admin.group(1)}"}).json()
        assert [k["id"] for k in keys["data"]] == [made["id"]]
        deadline = time.monotonic() + 5
        while True:
            recs = cli("usage", "--config", cfg, "--json")["records"]
            if recs or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [x["request_id"] for x in recs] == [r.headers["x-request-id"]]
        assert recs[0]["tenant"] == "demo-team"
    finally:
        proc.terminate()
        proc.wait(20)
        if proc.stdout:
            proc.stdout.close()
