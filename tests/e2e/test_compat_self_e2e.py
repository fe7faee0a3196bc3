"""End to end for the self-hosted servers (vLLM, SGLang, llama.cpp, Xinference, Ollama ``/v1``), OpenAI and
Azure OpenAI: the official ``openai`` SDK → ``qiao serve`` (a real process) → each emulator (a real ``qiao
emulate NAME`` process)."""

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

KEY = "sk-qiao-e2e-compat-self"
AZ_KEY = "azure-e2e-key-0123456789"
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

# public name → (chat model, embedding model or None)
CHAT = {
    "vllm": ("vllm/qwen2.5-7b-instruct", "vllm/bge-m3"),
    "sglang": ("sglang/qwen2.5-7b-instruct", "sglang/bge-m3"),
    "llamacpp": ("llamacpp/qwen2.5-7b-instruct-q4_k_m", "llamacpp/embeddinggemma-300m"),
    "xinference": ("xinference/qwen2.5-instruct", "xinference/bge-m3"),
    "ollama_openai": ("ollama_openai/qwen2.5:7b", "ollama_openai/nomic-embed-text"),
    "openai": ("openai/gpt-4o-mini", "openai/text-embedding-3-small"),
    "azure": ("az/gpt-4o", "az/text-embedding-3-small"),
    "azure_v1": ("az-v1/gpt-4o-mini", "az-v1/text-embedding-3-small"),
}
REASONING = {
    "vllm": "vllm/deepseek-r1-distill-qwen-7b",
    "sglang": "sglang/qwq-32b",
    "xinference": "xinference/deepseek-r1-distill-qwen",
    "ollama_openai": "ollama_openai/qwen3:8b",
    "llamacpp": "llamacpp/deepseek-r1-q4",
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAI]:
    tmp: Path = tmp_path_factory.mktemp("e2e-compat-self")
    with contextlib.ExitStack() as stack:
        emu = {
            "vllm": stack.enter_context(EmulatorProcess("vllm", credential="vllm-key")),
            "sglang": stack.enter_context(EmulatorProcess("sglang")),
            "llamacpp": stack.enter_context(EmulatorProcess("llamacpp")),
            "xinference": stack.enter_context(EmulatorProcess("xinference")),
            "ollama_openai": stack.enter_context(EmulatorProcess("ollama_openai")),
            "openai": stack.enter_context(EmulatorProcess("openai")),
            "azure": stack.enter_context(EmulatorProcess("azure", credential=AZ_KEY)),
        }
        cfg = {
            "keys": [{"name": "test", "key": KEY}],
            "accounts": [
                {
                    "provider": "vllm",
                    "base_url": emu["vllm"].url + "/v1",
                    "credential": "vllm-key",
                    "models": ["qwen2.5-7b-instruct", "deepseek-r1-distill-qwen-7b", "bge-m3"],
                },
                {
                    "provider": "vllm",
                    "name": "vllm-badkey",
                    "base_url": emu["vllm"].url + "/v1",
                    "credential": "wrong",
                    "models": ["qwen2.5-7b-instruct"],
                    "weight": 0,  # standby: `vllm/…` starts on the good account
                },
                {
                    "provider": "sglang",
                    "base_url": emu["sglang"].url + "/v1",
                    "models": ["qwen2.5-7b-instruct", "qwq-32b", "bge-m3"],
                },
                {
                    "provider": "llamacpp",
                    "base_url": emu["llamacpp"].url + "/v1",
                    "models": ["qwen2.5-7b-instruct-q4_k_m", "deepseek-r1-q4", "embeddinggemma-300m"],
                },
                {
                    "provider": "xinference",
                    "base_url": emu["xinference"].url + "/v1",
                    "models": ["qwen2.5-instruct", "deepseek-r1-distill-qwen", "bge-m3", "not-launched"],
                },
                {
                    "provider": "ollama_openai",
                    "base_url": emu["ollama_openai"].url + "/v1",
                    "models": ["qwen2.5:7b", "qwen3:8b", "nomic-embed-text"],
                },
                {
                    "provider": "openai",
                    "base_url": emu["openai"].url + "/v1",
                    "credential": "sk-proj-emulator",
                },
                {
                    "provider": "azure",
                    "name": "az",
                    "base_url": emu["azure"].url,
                    "credential": AZ_KEY,
                    "options": {"api_version": "2024-10-21", "deployments": {"gpt-4.1": "prod-gpt41"}},
                },
                {
                    "provider": "azure",
                    "name": "az-v1",
                    "base_url": emu["azure"].url + "/openai/v1",
                    "credential": AZ_KEY,
                    "options": {"auth": "bearer"},
                    "models": ["gpt-4o-mini", "text-embedding-3-small"],
                },
                {
                    "provider": "azure",
                    "name": "az-old",
                    "base_url": emu["azure"].url,
                    "credential": AZ_KEY,
                    "options": {"api_version": "2024-06-01"},
                    "models": ["gpt-4o"],
                },
            ],
        }
        gw = stack.enter_context(QiaoProcess(cfg, tmp))
        yield OpenAI(base_url=gw.url + "/v1", api_key=KEY, max_retries=0)


@pytest.mark.parametrize("slug", list(CHAT))
def test_chat_stream_tools_json_embeddings(client: OpenAI, slug: str) -> None:
    model, emb = CHAT[slug]
    r = client.chat.completions.create(
        model=model,
        messages=[{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "你好"}],
        max_tokens=64,
    )
    assert r.model == model and r.choices[0].message.content and r.usage and r.usage.total_tokens > 0

    text, usage, finish = [], None, None
    for chunk in client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "say hello"}],
        stream=True,
        stream_options={"include_usage": True},
    ):
        usage = chunk.usage or usage
        for c in chunk.choices:
            text.append(c.delta.content or "")
            finish = c.finish_reason or finish
    assert "".join(text) and finish == "stop"
    assert (
        usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    )  # estimated: xinference

    msgs: list[Any] = [{"role": "user", "content": "weather in Hangzhou? use get_weather"}]
    r = client.chat.completions.create(model=model, messages=msgs, tools=TOOLS, tool_choice="required")
    call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert r.choices[0].finish_reason == "tool_calls" and json.loads(call.function.arguments)["city"]
    msgs += [
        r.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21}'},
    ]
    r2 = client.chat.completions.create(model=model, messages=msgs, tools=TOOLS)
    assert r2.choices[0].message.content

    r3 = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "a JSON object about Hangzhou"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(r3.choices[0].message.content or ""), dict)

    e = client.embeddings.create(model=emb, input=["你好", "hello"])
    assert len(e.data) == 2 and e.data[0].embedding != e.data[1].embedding


@pytest.mark.parametrize("slug", list(REASONING))
def test_reasoning_reaches_the_client_as_reasoning_content(client: OpenAI, slug: str) -> None:
    model = REASONING[slug]
    r = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "why is the sky blue"}]
    )
    msg = r.choices[0].message.model_extra or {}
    assert msg.get("reasoning_content") and "reasoning" not in msg
    assert r.usage and r.usage.completion_tokens_details
    assert (r.usage.completion_tokens_details.reasoning_tokens or 0) > 0
    reasoning, content, usage = [], [], None
    for chunk in client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "why is the sky blue"}],
        stream=True,
        stream_options={"include_usage": True},
    ):
        usage = chunk.usage or usage
        for c in chunk.choices:
            extra = c.delta.model_extra or {}
            assert "reasoning" not in extra
            reasoning.append(extra.get("reasoning_content") or "")
            content.append(c.delta.content or "")
    assert "".join(reasoning) and "".join(content)
    assert "".join(reasoning) not in "".join(content)
    assert usage and usage.completion_tokens_details
    assert (usage.completion_tokens_details.reasoning_tokens or 0) > 0


def test_openai_reasoning_model_translation(client: OpenAI) -> None:
    r = client.chat.completions.create(
        model="openai/o3",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=300,
        reasoning_effort="low",
    )
    assert r.choices[0].message.content
    assert "reasoning_content" not in (r.choices[0].message.model_extra or {})  # OpenAI returns none
    assert r.usage and r.usage.completion_tokens_details
    assert (r.usage.completion_tokens_details.reasoning_tokens or 0) > 0
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(
            model="openai/o3", messages=[{"role": "user", "content": "hi"}], temperature=0.2
        )
    assert exc.value.code == "unsupported_parameter" and exc.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(
            model="openai/gpt-4o", messages=[{"role": "user", "content": "hi"}], reasoning_effort="low"
        )
    assert exc.value.param == "reasoning_effort"


def _err(client: OpenAI, model: str, marker: str = "", **kw: Any) -> openai.APIStatusError:
    content = f"hi [[emulate:{marker}]]" if marker else "hi"
    try:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}], **kw)
    except openai.APIStatusError as exc:
        return exc
    raise AssertionError("no error")


def test_errors_are_classified(client: OpenAI) -> None:
    e = _err(client, "vllm-badkey/qwen2.5-7b-instruct")
    assert e.status_code == 401 and e.code == "invalid_api_key" and "wrong" not in e.message
    e = _err(client, "xinference/not-launched")
    assert e.status_code == 404 and e.code == "model_not_found"
    e = _err(client, "xinference/qwen2.5-instruct", "rate_limited")
    assert e.status_code == 429 and e.code == "rate_limit_exceeded"
    e = _err(client, "sglang/qwen2.5-7b-instruct", "server_error")
    assert e.status_code == 502
    e = _err(client, "llamacpp/qwen2.5-7b-instruct-q4_k_m", "overloaded")
    assert e.status_code == 503
    e = _err(client, "openai/gpt-4o-mini", "insufficient_quota")
    assert e.status_code == 429 and e.code == "insufficient_quota"
    e = _err(client, "az/gpt-4o", "rate_limited")
    assert e.status_code == 429 and e.response.headers.get("retry-after") == "1"
    long_prompt = "word " * 40_000  # fits qiao's generic 128K spec, not the emulated server's 32K
    try:
        client.chat.completions.create(
            model="sglang/qwen2.5-7b-instruct", messages=[{"role": "user", "content": long_prompt}]
        )
    except openai.BadRequestError as exc:
        assert exc.code == "context_length_exceeded"
    else:
        raise AssertionError("no context error")


def test_azure_content_filter_deployments_and_old_api_version(client: OpenAI) -> None:
    e = _err(client, "az/gpt-4o", "filtered")
    assert e.status_code == 400 and e.code == "content_filter" and "violence" in e.message
    finish = None
    for chunk in client.chat.completions.create(
        model="az/gpt-4o",
        messages=[{"role": "user", "content": "story [[emulate:filtered_midway]]"}],
        stream=True,
    ):
        for c in chunk.choices:
            finish = c.finish_reason or finish
    assert finish == "content_filter"
    e = _err(client, "az/gpt-4.1")  # mapped to the deployment "prod-gpt41", which does not exist
    assert e.status_code == 404 and e.code == "model_not_found" and "prod-gpt41" in e.message
    usage = None
    for chunk in client.chat.completions.create(
        model="az-old/gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    ):
        usage = chunk.usage or usage
    assert usage is not None and usage.completion_tokens > 0  # estimated: 2024-06-01 has no stream_options
