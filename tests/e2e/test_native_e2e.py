"""End to end for the native protocols of issue 4: the official ``openai`` SDK → ``qiao serve`` (a real
process) → each provider's emulator (a real ``qiao emulate NAME`` process): DashScope (native envelope and
SSE), iFlytek Spark over its signed WebSocket and over HTTP, MiniMax ``chatcompletion_v2`` (errors in 200
bodies) and Ollama (NDJSON)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.conftest import EmulatorProcess, QiaoProcess

pytestmark = pytest.mark.e2e

KEY = "sk-qiao-e2e-native"
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

# provider → which model serves each capability (None = not offered)
CASES: dict[str, dict[str, str | None]] = {
    "dashscope": {
        "chat": "qwen-plus",
        "tools": "qwen3-max",
        "json": "qwen-flash",
        "vision": "qwen-vl-plus",
        "embed": "text-embedding-v4",
        "reasoning": "qwen-plus",
    },
    "spark": {
        "chat": "generalv3.5",
        "tools": "4.0Ultra",
        "json": None,
        "vision": None,
        "embed": None,
        "reasoning": "x1",
    },
    "spark_http": {
        "chat": "lite",
        "tools": "generalv3.5",
        "json": None,
        "vision": None,
        "embed": None,
        "reasoning": "x1",
    },
    "minimax": {
        "chat": "MiniMax-Text-01",
        "tools": "MiniMax-Text-01",
        "json": None,
        "vision": None,
        "embed": "embo-01",
        "reasoning": "MiniMax-M2",
    },
    "ollama": {
        "chat": "llama3.2:3b",
        "tools": "qwen3:8b",
        "json": "llama3.2:3b",
        "vision": "llava:7b",
        "embed": "nomic-embed-text",
        "reasoning": "qwen3:8b",
    },
}
CREDENTIALS = {
    "dashscope": "sk-dashscope-emulator",
    "spark": "emuappid:emuapikey:emuapisecret",
    "spark_http": "spark-http-emulator-password",
    "minimax": "minimax-emulator-key",
    "ollama": None,
}
BASE_PATH = {"dashscope": "/api/v1", "spark": "", "spark_http": "/v1", "minimax": "/v1", "ollama": ""}
OLLAMA_MODELS = ["llama3.2:3b", "qwen3:8b", "llava:7b", "nomic-embed-text"]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("e2e-native")
    with contextlib.ExitStack() as stack:
        accounts: list[dict[str, Any]] = []
        for slug in CASES:
            emu = stack.enter_context(EmulatorProcess(slug, credential=CREDENTIALS[slug]))
            acc: dict[str, Any] = {"provider": slug, "name": slug, "base_url": emu.url + BASE_PATH[slug]}
            if CREDENTIALS[slug]:
                acc["credential"] = CREDENTIALS[slug]
            if slug == "ollama":
                acc["models"] = OLLAMA_MODELS
            accounts.append(acc)
        accounts.append(
            {
                "provider": "spark",
                "name": "spark-bad",
                "base_url": accounts[1]["base_url"],
                "credential": "emuappid:emuapikey:wrongsecret",
                "models": ["lite"],  # `spark/MODEL` means every spark account: keep this one apart
            }
        )
        cfg = {"keys": [{"name": "test", "key": KEY}], "accounts": accounts}
        gw = stack.enter_context(QiaoProcess(cfg, tmp))
        yield gw.url + "/v1"


@pytest.fixture()
def client(gateway: str) -> OpenAI:
    return OpenAI(base_url=gateway, api_key=KEY, max_retries=0)


def model(slug: str, what: str) -> str:
    m = CASES[slug][what]
    if m is None:
        pytest.skip(f"{slug} offers no {what}")
    return f"{slug}/{m}"


@pytest.mark.parametrize("slug", CASES)
def test_chat(client: OpenAI, slug: str) -> None:
    r = client.chat.completions.with_raw_response.create(
        model=model(slug, "chat"),
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello to Hangzhou"},
        ],
        temperature=0,
        max_tokens=300,
        user="end-user-1",
    )
    assert r.headers["x-qiao-provider"] == slug
    c = r.parse()
    assert c.object == "chat.completion" and c.model == model(slug, "chat")
    assert "Hangzhou" in (c.choices[0].message.content or "")
    assert c.choices[0].finish_reason == "stop"
    assert c.usage and c.usage.prompt_tokens > 0 and c.usage.completion_tokens > 0


@pytest.mark.parametrize("slug", CASES)
def test_stream_with_usage(client: OpenAI, slug: str) -> None:
    stream = client.chat.completions.create(
        model=model(slug, "chat"),
        messages=[{"role": "user", "content": "Tell me about West Lake"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "West Lake" in text
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage and chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("slug", CASES)
@pytest.mark.parametrize("stream", [False, True])
def test_tools_round_trip(client: OpenAI, slug: str, stream: bool) -> None:
    m = model(slug, "tools")
    msgs: list[Any] = [{"role": "user", "content": "What is the weather in Hangzhou? use get_weather"}]
    if stream:
        calls: dict[int, dict[str, str]] = {}
        finish = None
        for ch in client.chat.completions.create(model=m, messages=msgs, tools=TOOLS, stream=True):
            if not ch.choices:
                continue
            for t in ch.choices[0].delta.tool_calls or ():
                slot = calls.setdefault(t.index, {"id": "", "name": "", "args": ""})
                slot["id"] = slot["id"] or (t.id or "")
                slot["name"] = slot["name"] or ((t.function and t.function.name) or "")
                slot["args"] += (t.function and t.function.arguments) or ""
            finish = ch.choices[0].finish_reason or finish
        assert finish == "tool_calls"
        call = calls[0]
        tc_id, name, args = call["id"], call["name"], call["args"]
    else:
        c = client.chat.completions.create(model=m, messages=msgs, tools=TOOLS)
        assert c.choices[0].finish_reason == "tool_calls"
        tc = c.choices[0].message.tool_calls[0]  # type: ignore[index]
        tc_id, name, args = tc.id, tc.function.name, tc.function.arguments  # type: ignore[union-attr]
    assert tc_id.startswith("call") and name == "get_weather"
    assert "city" in json.loads(args)
    msgs.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": tc_id, "type": "function", "function": {"name": name, "arguments": args}}],
        }
    )
    msgs.append({"role": "tool", "tool_call_id": tc_id, "content": "sunny, 25C"})
    c2 = client.chat.completions.create(model=m, messages=msgs, tools=TOOLS)
    assert "sunny" in (c2.choices[0].message.content or "")


@pytest.mark.parametrize("slug", CASES)
def test_json_mode(client: OpenAI, slug: str) -> None:
    m = model(slug, "json")
    c = client.chat.completions.create(
        model=m,
        messages=[{"role": "user", "content": "Give me a city as json"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(c.choices[0].message.content or ""), dict)


@pytest.mark.parametrize("slug", CASES)
def test_vision(client: OpenAI, slug: str) -> None:
    m = model(slug, "vision")
    c = client.chat.completions.create(
        model=m,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": PNG}},
                ],
            }
        ],
    )
    assert "image" in (c.choices[0].message.content or "")


@pytest.mark.parametrize("slug", CASES)
def test_reasoning(client: OpenAI, slug: str) -> None:
    m = model(slug, "reasoning")
    extra: dict[str, Any] = {"reasoning_effort": "medium"} if slug in ("dashscope", "ollama") else {}
    c = client.chat.completions.create(
        model=m, messages=[{"role": "user", "content": "Why is the sky blue?"}], **extra
    )
    msg = c.choices[0].message
    assert getattr(msg, "reasoning_content", None)
    assert "<think>" not in (msg.content or "")
    chunks = list(
        client.chat.completions.create(
            model=m, messages=[{"role": "user", "content": "Why is the sky blue?"}], stream=True, **extra
        )
    )
    reasoning = "".join(
        getattr(ch.choices[0].delta, "reasoning_content", None) or "" for ch in chunks if ch.choices
    )
    assert reasoning and "<think>" not in reasoning


@pytest.mark.parametrize("slug", CASES)
def test_embeddings(client: OpenAI, slug: str) -> None:
    m = model(slug, "embed")
    inputs = [f"text number {i}" for i in range(27)]  # more than one upstream batch
    r = client.embeddings.create(model=m, input=inputs)
    assert [d.index for d in r.data] == list(range(27))
    assert len({len(d.embedding) for d in r.data}) == 1
    r2 = client.embeddings.create(model=m, input="hello", dimensions=256)
    assert len(r2.data[0].embedding) == 256


ERRORS: list[tuple[str, str, type[Exception], str | None]] = [
    ("rate_limited", "dashscope", openai.RateLimitError, "rate_limit_exceeded"),
    ("insufficient_quota", "dashscope", openai.RateLimitError, "insufficient_quota"),
    ("bad_key", "dashscope", openai.AuthenticationError, None),
    ("filtered", "dashscope", openai.BadRequestError, "content_filter"),
    ("server_error", "dashscope", openai.APIStatusError, None),
    ("rate_limited", "minimax", openai.RateLimitError, "rate_limit_exceeded"),
    ("insufficient_quota", "minimax", openai.RateLimitError, "insufficient_quota"),
    ("bad_key", "minimax", openai.AuthenticationError, None),
    ("filtered", "minimax", openai.BadRequestError, "content_filter"),
    ("server_error", "minimax", openai.APIStatusError, None),
    ("overloaded", "minimax", openai.InternalServerError, None),
    ("rate_limited", "spark", openai.RateLimitError, "rate_limit_exceeded"),
    ("insufficient_quota", "spark", openai.RateLimitError, "insufficient_quota"),
    ("filtered", "spark", openai.BadRequestError, "content_filter"),
    ("overloaded", "spark", openai.InternalServerError, None),
    ("rate_limited", "spark_http", openai.RateLimitError, "rate_limit_exceeded"),
    ("filtered", "spark_http", openai.BadRequestError, "content_filter"),
    ("bad_key", "spark_http", openai.AuthenticationError, None),
    ("insufficient_quota", "spark_http", openai.RateLimitError, "insufficient_quota"),
    ("rate_limited", "ollama", openai.RateLimitError, "rate_limit_exceeded"),
    ("bad_key", "ollama", openai.AuthenticationError, None),
    ("overloaded", "ollama", openai.InternalServerError, None),
    ("server_error", "ollama", openai.APIStatusError, None),
]


@pytest.mark.parametrize(("scenario", "slug", "exc", "code"), ERRORS)
def test_errors(client: OpenAI, scenario: str, slug: str, exc: type[Exception], code: str | None) -> None:
    with pytest.raises(exc) as e:
        client.chat.completions.create(
            model=model(slug, "chat"), messages=[{"role": "user", "content": f"[[emulate:{scenario}]] hi"}]
        )
    if code is not None:
        assert getattr(e.value, "code", None) == code
    assert "sk-" not in str(e.value) and "emuapisecret" not in str(e.value)


def test_spark_bad_signature_is_401(client: OpenAI) -> None:
    with pytest.raises(openai.AuthenticationError) as e:
        client.chat.completions.create(model="spark-bad/lite", messages=[{"role": "user", "content": "hi"}])
    assert "wrongsecret" not in str(e.value)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(
            model="spark-bad/lite", messages=[{"role": "user", "content": "hi"}], stream=True
        )


def test_unknown_ollama_model_is_404(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="ollama/llama3.2:3b-missing", messages=[{"role": "user", "content": "hi"}]
        )


@pytest.mark.parametrize("slug", ["dashscope", "minimax", "spark", "spark_http"])
def test_filtered_midway_stream(client: OpenAI, slug: str) -> None:
    chunks = list(
        client.chat.completions.create(
            model=model(slug, "chat"),
            messages=[{"role": "user", "content": "[[emulate:filtered_midway]] tell me a long story"}],
            stream=True,
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "content_filter"
    ]


def test_ollama_mid_stream_error(client: OpenAI) -> None:
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(
            model=model("ollama", "chat"),
            messages=[{"role": "user", "content": "[[emulate:filtered_midway]] tell me a long story"}],
            stream=True,
        ):
            pass


@pytest.mark.parametrize("slug", ["dashscope", "spark", "ollama"])
def test_cut_stream(client: OpenAI, slug: str) -> None:
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(
            model=model(slug, "chat"),
            messages=[{"role": "user", "content": "[[emulate:cut_stream]] tell me a long story"}],
            stream=True,
        ):
            pass
