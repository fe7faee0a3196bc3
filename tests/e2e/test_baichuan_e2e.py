"""End to end: the Baichuan emulator and ``qiao serve`` as real processes on loopback, driven by the
official ``openai`` SDK through the gateway, exactly as a migrating OpenAI user would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import EmulatorProcess, QiaoProcess

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.e2e

GATEWAY_KEY = "sk-qiao-e2e-baichuan"
BAICHUAN_KEY = "sk-baichuan-emulator"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("qiao-baichuan")
    with EmulatorProcess("baichuan", credential=BAICHUAN_KEY) as emu:
        cfg = {
            "server": {"log_level": "warning"},
            "database": {"url": f"sqlite:///{d / 'qiao.db'}"},
            "keys": [{"name": "e2e", "key": GATEWAY_KEY}],
            "accounts": [{"provider": "baichuan", "credential": BAICHUAN_KEY, "base_url": emu.url + "/v1"}],
            "aliases": {
                "gpt-4o": "baichuan/Baichuan4",
                "gpt-4o-mini": "baichuan/Baichuan4-Air",
                "text-embedding-3-small": "baichuan/Baichuan-Text-Embedding",
            },
        }
        with QiaoProcess(cfg, d) as gw:
            yield gw.url + "/v1"


@pytest.fixture()
def client(gateway: str) -> Iterator[Any]:
    c = openai.OpenAI(base_url=gateway, api_key=GATEWAY_KEY, max_retries=0, timeout=30)
    yield c
    c.close()


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_chat(client: Any) -> None:
    r = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "你好，百川"}], temperature=1.4, top_p=1
    )
    assert r.headers["x-qiao-provider"] == "baichuan"
    c = r.parse()
    assert c.model == "gpt-4o" and "你好，百川" in c.choices[0].message.content
    assert c.choices[0].finish_reason == "stop" and c.usage.completion_tokens > 0


def test_stream_with_usage(client: Any) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Tell me about rivers"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("You said: Tell me about rivers")


def test_stop_sequence(client: Any) -> None:
    r = client.chat.completions.create(
        model="gpt-4o", stop=["rivers"], messages=[{"role": "user", "content": "Tell me about rivers"}]
    )
    assert r.choices[0].message.content == "You said: Tell me about "


def test_tools_round_trip(client: Any) -> None:
    msgs: list[Any] = [{"role": "user", "content": "What is the weather in Beijing? use get_weather"}]
    r = client.chat.completions.create(model="gpt-4o", messages=msgs, tools=[WEATHER])
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["city"]
    msgs += [r.choices[0].message, {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21}'}]
    r2 = client.chat.completions.create(model="gpt-4o", messages=msgs, tools=[WEATHER])
    assert "21" in r2.choices[0].message.content


def test_tools_stream(client: Any) -> None:
    with client.chat.completions.stream(
        model="gpt-4o",
        tools=[WEATHER],
        messages=[{"role": "user", "content": "weather in Shanghai? use get_weather"}],
    ) as s:
        final = s.get_final_completion()
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_json_mode(client: Any) -> None:
    r = client.chat.completions.create(
        model="gpt-4o",
        response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Answer in JSON"}],
    )
    assert isinstance(json.loads(r.choices[0].message.content), dict)


def test_embeddings(client: Any) -> None:
    texts = [f"文本 {i}" for i in range(20)]  # more than Baichuan's 16 per call: the gateway splits
    r = client.embeddings.create(model="text-embedding-3-small", input=texts)
    assert [d.index for d in r.data] == list(range(20))
    assert all(len(d.embedding) == 1024 for d in r.data)
    r2 = client.embeddings.create(model="text-embedding-3-small", input="文本 3", dimensions=256)
    assert len(r2.data[0].embedding) == 256


def test_native_extras(client: Any) -> None:
    r = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"top_k": 5, "with_search_enhance": True},
    )
    assert r.choices[0].message.content


@pytest.mark.parametrize(
    ("scenario", "exc", "code"),
    [
        ("rate_limited", "RateLimitError", "rate_limit_exceeded"),
        ("insufficient_quota", "RateLimitError", "insufficient_quota"),
        ("bad_key", "AuthenticationError", "invalid_api_key"),
        ("server_error", "InternalServerError", "upstream_error"),
    ],
)
def test_errors(client: Any, scenario: str, exc: str, code: str) -> None:
    with pytest.raises(getattr(openai, exc)) as ei:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": f"hi [[emulate:{scenario}]]"}]
        )
    assert ei.value.code == code
    assert BAICHUAN_KEY not in str(ei.value)


def test_unsupported_parameter_is_400(client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], seed=1)
    assert ei.value.code == "unsupported_parameter"


def test_content_filter_finish_reason(client: Any) -> None:
    r = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x [[emulate:filtered]]"}]
    )
    assert r.choices[0].finish_reason == "content_filter"


def test_bad_gateway_key(gateway: str) -> None:
    c = openai.OpenAI(base_url=gateway, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


def test_stream_cut_midway_ends_with_error_event(client: Any) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o",
        stream=True,
        messages=[{"role": "user", "content": "a long story [[emulate:cut_stream]]"}],
    )
    got: list[Any] = []
    with pytest.raises(openai.APIError) as ei:
        for chunk in stream:
            got.append(chunk)
    assert got and got[0].choices[0].delta.role == "assistant"
    assert "baichuan" in str(ei.value) and "closed" in str(ei.value)


def test_stream_filtered_midway(client: Any) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            stream=True,
            messages=[{"role": "user", "content": "a long story [[emulate:filtered_midway]]"}],
        )
    )
    assert chunks[-1].choices[0].finish_reason == "content_filter"


def test_slow_first_byte_still_answers(client: Any) -> None:
    r = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi [[emulate:slow_first_byte=0.2]]"}]
    )
    assert r.choices[0].message.content
