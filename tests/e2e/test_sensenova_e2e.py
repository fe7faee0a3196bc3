"""End to end: the official ``openai`` SDK → ``qiao serve`` (a real process) → the SenseNova emulator (a
real ``qiao emulate sensenova`` process), with both credential forms: an ``AK:SK`` pair (JWT) and a console
API key (Bearer)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from tests.conftest import EmulatorProcess, QiaoProcess

pytestmark = pytest.mark.e2e

KEY = "sk-qiao-e2e-sensenova"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
                "required": ["city", "unit"],
            },
        },
    }
]
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAA"
    "AABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("e2e-sensenova")
    with EmulatorProcess("sensenova", credential="EMUAKID:emulatorsecret,sn-console-key") as emu:
        base = emu.url + "/v1"
        cfg = {
            "keys": [{"name": "test", "key": KEY}],
            "accounts": [
                {
                    "provider": "sensenova",
                    "name": "sn",
                    "base_url": base,
                    "credential": "EMUAKID:emulatorsecret",
                },
                {
                    "provider": "sensenova",
                    "name": "sn-console",
                    "base_url": base,
                    "credential": "sn-console-key",
                },
                {
                    "provider": "sensenova",
                    "name": "sn-bad",
                    "base_url": base,
                    "credential": "EMUAKID:wrongsecret",
                },
            ],
            "routes": {"slow": {"targets": [{"target": "sn/SenseChat-5"}], "first_byte_timeout_s": 0.5}},
            "aliases": {
                "gpt-4o": "sn/SenseChat-5",
                "gpt-4o-mini": "sn-console/SenseChat-Turbo",
                "text-embedding-3-small": "sn/nova-embedding-stable",
                "vision": "sn/SenseChat-Vision",
                "small": "sn/SenseChat",
                "bad": "sn-bad/SenseChat-5",
            },
        }
        with QiaoProcess(cfg, tmp) as gw:
            yield gw.url + "/v1"


@pytest.fixture()
def client(gateway: str) -> OpenAI:
    return OpenAI(base_url=gateway, api_key=KEY, max_retries=0)


def test_chat_non_streaming_with_jwt(client: OpenAI) -> None:
    r = client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello to Beijing"},
        ],
        temperature=0,
        top_p=1,
        frequency_penalty=0.5,
        max_tokens=200,
        user="end-user-1",
    )
    assert r.headers["x-qiao-provider"] == "sensenova"
    assert r.headers["x-qiao-upstream-model"] == "SenseChat-5"
    c = r.parse()
    assert c.model == "gpt-4o" and c.object == "chat.completion"
    assert "Beijing" in (c.choices[0].message.content or "")
    assert c.choices[0].finish_reason == "stop"
    assert c.usage and c.usage.total_tokens == c.usage.prompt_tokens + c.usage.completion_tokens > 0


def test_console_api_key_account(client: OpenAI) -> None:
    c = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "你好"}], n=2
    )
    assert [ch.index for ch in c.choices] == [0, 1]
    assert all("你好" in (ch.message.content or "") for ch in c.choices)


def test_provider_model_name_and_length(client: OpenAI) -> None:
    c = client.chat.completions.create(
        model="sensenova/SenseChat-Turbo",
        max_tokens=3,
        messages=[{"role": "user", "content": "a long story"}],
    )
    assert c.model == "sensenova/SenseChat-Turbo"
    assert c.choices[0].finish_reason == "length" and c.usage and c.usage.completion_tokens <= 3


def test_stream_with_usage(client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hello there"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("You said: hello there")
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert not chunks[-1].usage.prompt_tokens_details or chunks[-1].usage.prompt_tokens > 0


def test_tools_round_trip(client: OpenAI) -> None:
    messages: list[dict[str, object]] = [{"role": "user", "content": "What's the weather in Beijing?"}]
    c = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert c.choices[0].finish_reason == "tool_calls"
    call = c.choices[0].message.tool_calls[0]  # type: ignore[index]
    args = json.loads(call.function.arguments)  # type: ignore[union-attr]
    assert args["unit"] in ("c", "f") and isinstance(args["city"], str) and call.id
    messages.append(c.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 25C"})
    c2 = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert c2.choices[0].finish_reason == "stop"
    assert "sunny, 25C" in (c2.choices[0].message.content or "")


def test_tools_streaming(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather in Shanghai"}],
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        stream=True,
    )
    args, name, ids, finish = "", None, set(), None
    for ch in stream:
        if not ch.choices:
            continue
        for t in ch.choices[0].delta.tool_calls or []:
            assert t.index == 0
            if t.id:
                ids.add(t.id)
            if t.function and t.function.name:
                name = t.function.name
            if t.function and t.function.arguments:
                args += t.function.arguments
        finish = ch.choices[0].finish_reason or finish
    assert name == "get_weather" and len(ids) == 1 and finish == "tool_calls"
    assert set(json.loads(args)) == {"city", "unit"}


def test_json_mode(client: OpenAI) -> None:
    c = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Reply in JSON: what is the capital of China?"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(c.choices[0].message.content or ""), dict)


def test_vision(client: OpenAI) -> None:
    c = client.chat.completions.create(
        model="vision",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe"},
                    {"type": "image_url", "image_url": {"url": PNG}},
                ],
            }
        ],
    )
    assert "1 image" in (c.choices[0].message.content or "")
    with pytest.raises(openai.BadRequestError) as ei:  # a text-only model refuses images
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}],
        )
    assert ei.value.code == "unsupported_parameter"


def test_embeddings_batched_beyond_the_native_limit(client: OpenAI) -> None:
    texts = [f"text number {i}" for i in range(40)]  # SenseNova takes 32 per call: the gateway splits
    e = client.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format="float")
    assert [d.index for d in e.data] == list(range(40))
    assert len(e.data[0].embedding) == 1536 and e.data[0].embedding != e.data[39].embedding
    same = client.embeddings.create(model="text-embedding-3-small", input=texts[39], encoding_format="float")
    assert same.data[0].embedding == e.data[39].embedding
    assert e.usage.prompt_tokens > 0
    b = client.embeddings.create(model="text-embedding-3-small", input="hello", encoding_format="base64")
    assert isinstance(b.data[0].embedding, str)


# ---- one error of each class ------------------------------------------------------------------------------


def test_error_unsupported_parameter(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(
            model="gpt-4o", stop=["x"], messages=[{"role": "user", "content": "x"}]
        )
    assert ei.value.code == "unsupported_parameter" and (ei.value.body or {}).get("param") == "stop"  # type: ignore[union-attr]


def test_error_upstream_authentication_does_not_leak(client: OpenAI) -> None:
    with pytest.raises(openai.AuthenticationError) as ei:
        client.chat.completions.create(model="bad", messages=[{"role": "user", "content": "x"}])
    body = json.dumps(ei.value.body)
    assert "sensenova" in body and "wrongsecret" not in body and "eyJ" not in body


def test_error_rate_limited_and_quota(client: OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as ei:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "[[emulate:rate_limited]]"}]
        )
    assert ei.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.RateLimitError) as ei2:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "[[emulate:insufficient_quota]]"}]
        )
    assert ei2.value.code == "insufficient_quota"


def test_error_content_filter(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "[[emulate:filtered]]"}]
        )
    assert ei.value.code == "content_filter"
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            stream=True,
            messages=[{"role": "user", "content": "go on [[emulate:filtered_midway]]"}],
        )
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "content_filter"
    ]


def test_error_upstream_failures(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as ei:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "[[emulate:server_error]]"}]
        )
    assert ei.value.status_code == 502
    with pytest.raises(openai.InternalServerError) as ei2:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "[[emulate:overloaded]]"}]
        )
    assert ei2.value.status_code == 503
    stream = client.chat.completions.create(
        model="gpt-4o",
        stream=True,
        messages=[{"role": "user", "content": "a b c d e f [[emulate:cut_stream]]"}],
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_error_context_length_and_not_found(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(
            model="small",
            max_tokens=1000,
            messages=[{"role": "user", "content": "word " * 5000}],
        )
    assert ei.value.code == "context_length_exceeded"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="sensenova/SenseChat-99", messages=[{"role": "user", "content": "x"}]
        )


def test_native_extras_pass_through(client: OpenAI) -> None:
    c = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "what does the knowledge base say"}],
        extra_body={
            "know_ids": ["kb-1"],
            "knowledge_config": {"control_level": "normal", "knowledge_base_result": True},
            "plugins": {"web_search": {"search_enable": True, "result_enable": True}},
            "repetition_penalty": 1.05,
        },
    )
    assert c.choices[0].finish_reason == "stop"
    with pytest.raises(openai.BadRequestError) as ei:  # a field neither OpenAI's nor SenseNova's
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}], extra_body={"top_k": 3}
        )
    assert ei.value.code == "unsupported_parameter"


def test_error_upstream_timeout(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as ei:
        client.chat.completions.create(
            model="slow", messages=[{"role": "user", "content": "[[emulate:slow_first_byte=5]]"}]
        )
    assert ei.value.status_code == 504
