"""The official ``qianfan`` SDK (v1, AK/SK → OAuth) against the ``ernie_v1`` emulator on loopback.

The SDK only moves to another host through its config ``BASE_URL`` (``QIANFAN_BASE_URL``); it is set on
the SDK's global config for the duration of each test, with the SDK's "refresh at most once an hour" guard
off so that a token refused by a fresh emulator is renewed. Each test uses its own key pair: the SDK
caches tokens per pair for the whole process.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

qianfan = pytest.importorskip(
    "qianfan", reason="the official qianfan SDK is not installed (pip install qianfan)"
)

from qiao.emulators import EmulatorOptions  # noqa: E402
from qiao.emulators.ernie_v1 import create_app  # noqa: E402
from tests.conftest import ThreadServer  # noqa: E402

pytestmark = pytest.mark.sdk

FUNCS = [
    {
        "name": "get_weather",
        "description": "Get the weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    with ThreadServer(app) as srv:
        yield srv.url


@pytest.fixture()
def emu() -> Iterator[tuple[Any, str, str, str]]:
    ak, sk = f"ak-{uuid.uuid4().hex[:12]}", f"sk-{uuid.uuid4().hex[:16]}"
    app = create_app(EmulatorOptions(credential=f"{ak}:{sk}"))
    cfg = qianfan.get_config()
    saved = (cfg.BASE_URL, cfg.ACCESS_TOKEN_REFRESH_MIN_INTERVAL, cfg.LLM_API_RETRY_COUNT)
    with serve(app) as url:
        cfg.BASE_URL = url
        cfg.ACCESS_TOKEN_REFRESH_MIN_INTERVAL = 0
        cfg.LLM_API_RETRY_COUNT = 1
        try:
            yield app, url, ak, sk
        finally:
            cfg.BASE_URL, cfg.ACCESS_TOKEN_REFRESH_MIN_INTERVAL, cfg.LLM_API_RETRY_COUNT = saved


def test_chat_non_stream(emu: tuple[Any, str, str, str]) -> None:
    app, _, ak, sk = emu
    chat = qianfan.ChatCompletion(model="ERNIE-3.5-8K", ak=ak, sk=sk)
    r = chat.do(
        messages=[{"role": "user", "content": "你好，北京"}],
        system="简短回答",
        temperature=0.5,
        top_p=0.8,
        penalty_score=1.2,
        max_output_tokens=64,
        user_id="u1",
    )
    assert "北京" in r.body["result"]
    assert r.body["finish_reason"] == "normal" and r.body["id"].startswith("as-")
    assert r.body["usage"]["total_tokens"] > 0
    assert len(app.tokens) == 1  # one OAuth token, reused


def test_chat_stream(emu: tuple[Any, str, str, str]) -> None:
    _, _, ak, sk = emu
    chat = qianfan.ChatCompletion(model="ERNIE-Speed-8K", ak=ak, sk=sk)
    events = list(chat.do(messages=[{"role": "user", "content": "Tell me about Beijing"}], stream=True))
    assert len(events) > 1
    assert events[-1].body["is_end"] is True and not any(e.body["is_end"] for e in events[:-1])
    assert "Beijing" in "".join(e.body["result"] for e in events)


def test_function_calling_round_trip(emu: tuple[Any, str, str, str]) -> None:
    _, _, ak, sk = emu
    chat = qianfan.ChatCompletion(model="ERNIE-3.5-8K", ak=ak, sk=sk)
    msgs: list[dict[str, Any]] = [{"role": "user", "content": "What is the weather in Beijing? get_weather"}]
    r = chat.do(messages=msgs, functions=FUNCS)
    fc = r.body["function_call"]
    assert r.body["finish_reason"] == "function_call"
    assert fc["name"] == "get_weather" and "Beijing" in fc["arguments"]
    msgs += [
        {
            "role": "assistant",
            "content": "",
            "function_call": {"name": fc["name"], "arguments": fc["arguments"]},
        },
        {"role": "function", "name": "get_weather", "content": '{"result": "sunny, 25C"}'},
    ]
    r = chat.do(messages=msgs, functions=FUNCS)
    assert "sunny" in r.body["result"] and r.body["finish_reason"] == "normal"


def test_embeddings(emu: tuple[Any, str, str, str]) -> None:
    _, _, ak, sk = emu
    r = qianfan.Embedding(model="Embedding-V1", ak=ak, sk=sk).do(texts=["你好", "world"])
    assert [d["index"] for d in r.body["data"]] == [0, 1]
    assert len(r.body["data"][0]["embedding"]) == 384
    r = qianfan.Embedding(model="bge-large-zh", ak=ak, sk=sk).do(texts=["你好"])
    assert len(r.body["data"][0]["embedding"]) == 1024


def test_expired_token_is_refreshed_by_the_sdk(emu: tuple[Any, str, str, str]) -> None:
    app, _, ak, sk = emu
    chat = qianfan.ChatCompletion(model="ERNIE-3.5-8K", ak=ak, sk=sk)
    chat.do(messages=[{"role": "user", "content": "hi"}])
    for tok in list(app.tokens):
        app.tokens[tok] = 0.0  # expired: the next call answers error_code 111 in a 200 body
    r = chat.do(messages=[{"role": "user", "content": "hi again"}])
    assert r.body["result"]
    assert len(app.tokens) == 2


@pytest.mark.parametrize("which", ["ak", "sk"])
def test_bad_key_pair_raises_the_sdk_auth_error(emu: tuple[Any, str, str, str], which: str) -> None:
    _, _, ak, sk = emu
    bad_ak, bad_sk = (f"x{ak}", sk) if which == "ak" else (ak, f"x{sk}")
    chat = qianfan.ChatCompletion(model="ERNIE-3.5-8K", ak=bad_ak, sk=bad_sk)
    with pytest.raises(qianfan.errors.AuthError) as ei:
        chat.do(messages=[{"role": "user", "content": "hi"}])
    assert ("AK" if which == "ak" else "SK") in str(ei.value)


def test_error_in_200_body_is_an_sdk_api_error(emu: tuple[Any, str, str, str]) -> None:
    _, _, ak, sk = emu
    chat = qianfan.ChatCompletion(model="ERNIE-3.5-8K", ak=ak, sk=sk)
    with pytest.raises(qianfan.errors.APIError) as ei:
        chat.do(messages=[{"role": "user", "content": "hi [[emulate:insufficient_quota]]"}])
    assert ei.value.error_code == 17
    with pytest.raises(qianfan.errors.APIError) as ei:
        chat.do(messages=[{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}])
    assert ei.value.error_code == 336006  # ERNIE's alternation rule, enforced as Baidu does
