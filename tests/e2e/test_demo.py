"""`qiao demo`: one command, offline, prints how to connect, writes its config, serves every alias."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from openai import OpenAI

from qiao.config import load_settings
from tests.conftest import free_port, qiao_env, wait_http

pytestmark = pytest.mark.e2e


def test_demo_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    key = "sk-qiao-demo-test"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qiao",
            "demo",
            "--port",
            str(port),
            "--key",
            key,
            "--data-dir",
            str(tmp_path),
        ],
        env=qiao_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60, proc=proc)
        base = f"http://127.0.0.1:{port}/v1"
        cfg_path = tmp_path / "qiao.yaml"
        assert cfg_path.exists()
        settings = load_settings(cfg_path)  # other commands can act on the running demo with --config
        assert key not in cfg_path.read_text()  # the key is stored only as its hash
        raw = yaml.safe_load(cfg_path.read_text())
        assert {"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"} <= set(raw["aliases"])
        assert {a.provider for a in settings.accounts} >= {
            "ernie",
            "ernie_v1",
            "zhipu",
            "sensenova",
            "baichuan",
        }

        c = OpenAI(base_url=base, api_key=key, max_retries=0)
        for model in (
            "gpt-4o",
            "gpt-4o-mini",
            "zhipu/glm-4-plus",
            "ernie_v1/ernie-speed-8k",
            "baichuan/Baichuan4",
            "chat-cheapest",
            "chat-fastest",
        ):
            r = c.chat.completions.with_raw_response.create(
                model=model, messages=[{"role": "user", "content": "你好"}]
            )
            assert r.parse().choices[0].message.content, model
        r = c.chat.completions.with_raw_response.create(
            model="chat-cheapest", messages=[{"role": "user", "content": "你好"}]
        )
        assert r.headers["x-qiao-route"] == "chat-cheapest"
        assert raw["routes"]["chat-cheapest"]["strategy"] == "cheapest"
        assert c.embeddings.create(model="text-embedding-3-small", input="hi").data[0].embedding
        ids = {m.id for m in c.models.list()}
        assert "sensenova/SenseChat-5" in ids and "gpt-4o" in ids
    finally:
        proc.terminate()
        try:
            out = proc.communicate(timeout=20)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0].decode(errors="replace")
    assert f"base URL : http://127.0.0.1:{port}/v1" in out and f"API key  : {key}" in out
    assert "from openai import OpenAI" in out and "curl " in out
