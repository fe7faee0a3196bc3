"""Routing through real `qiao serve` processes driven by the official openai SDK: transparency headers,
GET /admin/routes and /admin/health, `qiao routes`, and a breaker opened on one replica honoured by
another through Redis."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from qiao.emulators import EmulatorOptions, load_emulator
from tests.conftest import REDIS_URL, QiaoProcess, ThreadServer, qiao_env
from tests.gateway._faults import Faults

KEY = "sk-routing-e2e-0123456789"
ADMIN = "sk-admin-routing-e2e-0123"


@pytest.fixture(scope="module")
def emus() -> Iterator[tuple[ThreadServer, Faults, ThreadServer]]:
    bad = Faults(
        load_emulator("openai_compat", EmulatorOptions(credential="sk-emulator")), default="server_error"
    )
    good = load_emulator("openai_compat", EmulatorOptions(credential="sk-emulator"))
    with ThreadServer(bad) as b, ThreadServer(good) as g:
        yield b, bad, g


def config(b: ThreadServer, g: ThreadServer, tmp: Path, prefix: str | None = None) -> dict[str, Any]:
    db: dict[str, Any] = {"url": f"sqlite:///{tmp}/{uuid.uuid4().hex}.db"}
    if prefix is not None:
        db |= {"redis_url": REDIS_URL, "redis_prefix": prefix}
    return {
        "keys": [{"name": "app", "key": KEY}],
        "admin": {"key": ADMIN},
        "database": db,
        "accounts": [
            {
                "provider": "openai_compat",
                "name": "bad",
                "base_url": b.url + "/v1",
                "credential": "sk-emulator",
                "models": ["gpt-4o"],
            },
            {
                "provider": "openai_compat",
                "name": "good",
                "base_url": g.url + "/v1",
                "credential": "sk-emulator",
                "models": ["gpt-4o"],
            },
        ],
        "routes": {
            "gpt-4o": {
                "targets": [{"target": "bad/gpt-4o"}, {"target": "good/gpt-4o"}],
                "retries_per_target": 0,
                "fallback_on_content_filter": True,
            }
        },
        "routing": {"breaker": {"failures": 2, "open_s": 60}, "shared_state_interval_s": 0.2},
    }


def test_headers_admin_views_and_cli(emus: tuple[ThreadServer, Faults, ThreadServer], tmp_path: Path) -> None:
    b, _, g = emus
    cfg = config(b, g, tmp_path)
    with QiaoProcess(cfg, tmp_path) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=KEY, max_retries=0)
        r = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
        assert r.parse().choices[0].message.content
        assert r.headers["x-qiao-route"] == "gpt-4o" and r.headers["x-qiao-account"] == "good"
        assert r.headers["x-qiao-tried"] == "bad/gpt-4o=upstream_error, good/gpt-4o=ok"
        admin = {"Authorization": f"Bearer {ADMIN}"}
        routes = httpx.get(gw.url + "/admin/routes", headers=admin, timeout=5).json()["data"]
        assert [t["target"] for t in routes[0]["targets"]] == ["bad/gpt-4o", "good/gpt-4o"]
        assert httpx.get(gw.url + "/admin/routes", timeout=5).status_code == 401
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        health = httpx.get(gw.url + "/admin/health", headers=admin, timeout=5).json()
        row = {t["label"]: t for t in health["targets"]}
        assert row["bad/gpt-4o"]["state"] == "open" and row["good/gpt-4o"]["state"] == "closed"
        assert "qiao_breaker_state" in httpx.get(gw.url + "/admin/metrics", headers=admin, timeout=5).text
        # the ledger records every attempt of a request
        usage = subprocess.run(
            [sys.executable, "-m", "qiao", "usage", "--config", str(gw.config_path), "--json"],
            env=qiao_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert usage.returncode == 0, usage.stderr
        assert "bad/gpt-4o" in usage.stdout and "upstream_error" in usage.stdout
    out = subprocess.run(
        [sys.executable, "-m", "qiao", "routes", "--config", str(gw.config_path)],
        env={**qiao_env(), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "bad/gpt-4o" in out.stdout and "priority" in out.stdout


def test_a_breaker_opened_on_one_replica_holds_on_another(
    emus: tuple[ThreadServer, Faults, ThreadServer], tmp_path: Path, redis_prefix: str
) -> None:
    b, bad, g = emus
    with (
        QiaoProcess(config(b, g, tmp_path, redis_prefix), tmp_path) as one,
        QiaoProcess(config(b, g, tmp_path, redis_prefix), tmp_path) as two,
    ):
        c1 = openai.OpenAI(base_url=one.url + "/v1", api_key=KEY, max_retries=0)
        c2 = openai.OpenAI(base_url=two.url + "/v1", api_key=KEY, max_retries=0)
        for _ in range(2):  # replica one: two failures on `bad` open its breaker
            c1.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        seen = len(bad.bodies)
        deadline = time.monotonic() + 10
        while True:  # replica two learns it within a sync interval or so
            r = c2.chat.completions.with_raw_response.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
            )
            if "bad/gpt-4o=skipped:circuit_open" in r.headers.get("x-qiao-tried", ""):
                break
            assert time.monotonic() < deadline, "replica two never saw the open breaker"
            time.sleep(0.2)
        assert r.headers["x-qiao-account"] == "good"
        before = len(bad.bodies)
        for _ in range(3):
            c2.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        assert len(bad.bodies) == before  # nothing more was sent to the broken upstream
        assert before - seen <= 2  # replica two hit it at most until its first sync
