"""Configs and client helpers for the ledger tests (zhipu's emulator: its models carry CNY prices)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
from click.testing import CliRunner

ADMIN = "admin-secret-for-tests"
STATIC = "sk-qiao-static-test-key"
ZHIPU_CRED = "emulatorid.emulatorsecret"


def ledger_config(emu_url: str, db_url: str, wal_dir: Path, **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "database": {"url": db_url, "flush_interval_ms": 20, "wal_dir": str(wal_dir)},
        "admin": {"key": ADMIN},
        "keys": [{"name": "static", "key": STATIC, "tenant": "cfg-team"}],
        "accounts": [
            {
                "provider": "zhipu",
                "base_url": emu_url + "/api/paas/v4",
                "credential": ZHIPU_CRED,
            }
        ],
    }
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


def cli(*args: str) -> Any:
    """Run a qiao command in-process; JSON output is parsed."""
    from qiao.cli.main import main

    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = res.stdout
    return orjson.loads(out) if "--json" in args else out


def chat(
    url: str, key: str, model: str = "zhipu/glm-4-plus", stream: bool = False, **kw: Any
) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "你好，请介绍一下你自己"}], **kw}
    if stream:
        body["stream"] = True
    return httpx.post(
        url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
