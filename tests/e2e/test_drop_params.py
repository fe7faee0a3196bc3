"""A route may drop parameters its provider cannot honour; the answer names them in a header.
Without it, the same request is a 400 ``unsupported_parameter`` naming the parameter."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from openai import OpenAI

from qiao.providers._registry import get_provider
from tests.conftest import QiaoProcess, emulator_in_thread

pytestmark = pytest.mark.e2e
KEY = "sk-qiao-drop"


def test_drop_params_route_vs_strict(tmp_path: Path) -> None:
    p = get_provider("sensenova")
    assert "stop" in p.unsupported
    with emulator_in_thread("sensenova") as emu:
        cfg = {
            "keys": [{"name": "t", "key": KEY}],
            "accounts": [
                {
                    "provider": "sensenova",
                    "base_url": emu.url + p.emulator_base_path,
                    "credential": p.demo_credential,
                }
            ],
            "routes": {
                "lenient": {"targets": [{"target": "sensenova/SenseChat-5"}], "drop_params": True},
                "strict": {"targets": [{"target": "sensenova/SenseChat-5"}]},
            },
        }
        with QiaoProcess(cfg, tmp_path) as gw:
            c = OpenAI(base_url=gw.url + "/v1", api_key=KEY, max_retries=0)
            msgs = [{"role": "user", "content": "hello there"}]
            r = c.chat.completions.with_raw_response.create(model="lenient", messages=msgs, stop=["zzz"])  # type: ignore[arg-type]
            assert r.headers["x-qiao-dropped-params"] == "stop"
            assert r.parse().choices[0].message.content
            with pytest.raises(openai.BadRequestError) as ei:
                c.chat.completions.create(model="strict", messages=msgs, stop=["zzz"])  # type: ignore[arg-type]
            assert ei.value.code == "unsupported_parameter" and ei.value.param == "stop"
