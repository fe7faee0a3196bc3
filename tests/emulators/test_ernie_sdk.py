"""Official clients against the ``ernie`` (Qianfan v2) emulator on loopback: ``qianfan.Qianfan`` for chat
(the SDK has no v2 embeddings) and the ``openai`` SDK at ``ROOT/v2``, which Baidu documents for v2 and which
asks for base64 embeddings by default."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import openai
import pytest

qianfan = pytest.importorskip(
    "qianfan", reason="the official qianfan SDK is not installed (pip install qianfan)"
)

from qiao.emulators import EmulatorOptions  # noqa: E402
from qiao.emulators.ernie import create_app  # noqa: E402
from tests.conftest import ThreadServer  # noqa: E402

pytestmark = pytest.mark.sdk

KEY = "bce-v3/ALTAK-sdktest/emulatorsecret"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    with ThreadServer(app) as srv:
        yield srv.url


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with serve(create_app(EmulatorOptions(credential=KEY))) as url:
        yield url


def client(root: str, key: str = KEY) -> Any:
    return qianfan.Qianfan(api_key=key, console_api_base_url=root, retry_count=1)


def test_qianfan_v2_chat(root: str) -> None:
    r = client(root).chat.completions.create(
        model="ernie-3.5-8k",
        messages=[{"role": "system", "content": "简短"}, {"role": "user", "content": "你好北京"}],
        temperature=0.5,
        max_completion_tokens=64,
    )
    assert "北京" in (r.choices[0].message.content or "")
    assert r.choices[0].finish_reason == "normal" and r.choices[0].flag == 0
    assert r.id.startswith("as-") and r.usage.total_tokens > 0


def test_qianfan_v2_stream(root: str) -> None:
    chunks = list(
        client(root).chat.completions.create(
            model="ernie-speed-8k",
            messages=[{"role": "user", "content": "Tell me about Beijing"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Beijing" in text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["normal"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_qianfan_v2_tools(root: str) -> None:
    c = client(root)
    msgs: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Beijing? use get_weather"}]
    r = c.chat.completions.create(model="ernie-4.5-turbo-32k", messages=msgs, tools=TOOLS)
    tc = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls" and tc.function.name == "get_weather"
    msgs += [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": tc.id,
                    "type": "function",
                    "function": {"name": tc.function.name, "arguments": tc.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": tc.id, "content": "sunny"},
    ]
    r = c.chat.completions.create(model="ernie-4.5-turbo-32k", messages=msgs, tools=TOOLS)
    assert "sunny" in (r.choices[0].message.content or "")


def test_qianfan_v2_errors(root: str) -> None:
    with pytest.raises(qianfan.errors.RequestError) as ei:
        client(root, "bce-v3/ALTAK-wrong/secret").chat.completions.create(
            model="ernie-3.5-8k", messages=[{"role": "user", "content": "hi"}]
        )
    assert "401" in str(ei.value)
    with pytest.raises(qianfan.errors.RequestError) as ei:
        client(root).chat.completions.create(
            model="ernie-3.5-8k", temperature=0, messages=[{"role": "user", "content": "hi"}]
        )
    assert "temperature" in str(ei.value)


def test_openai_sdk_embeddings_base64_default_and_float(root: str) -> None:
    o = openai.OpenAI(base_url=root + "/v2", api_key=KEY, max_retries=0)
    e = o.embeddings.create(model="embedding-v1", input=["你好", "world"])  # the SDK asks for base64
    assert [d.index for d in e.data] == [0, 1] and len(e.data[0].embedding) == 384
    f = o.embeddings.create(model="embedding-v1", input=["你好", "world"], encoding_format="float")
    assert f.data[0].embedding == pytest.approx(e.data[0].embedding, abs=1e-6)
    with pytest.raises(openai.BadRequestError):
        o.embeddings.create(model="tao-8k", input=["a", "b"])  # tao-8k: one text per call


def test_openai_sdk_chat_sees_ernie_quirks(root: str) -> None:
    o = openai.OpenAI(base_url=root + "/v2", api_key=KEY, max_retries=0)
    r = o.chat.completions.create(model="ernie-3.5-8k", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].finish_reason == "normal"  # type: ignore[comparison-overlap]  # what v2 sends
    with pytest.raises(openai.BadRequestError):
        o.chat.completions.create(
            model="ernie-3.5-8k",
            messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}],
        )
    with pytest.raises(openai.RateLimitError):
        o.chat.completions.create(
            model="ernie-3.5-8k", messages=[{"role": "user", "content": "hi [[emulate:rate_limited]]"}]
        )
