"""End to end for the OpenAI-shaped Chinese vendors: the official ``openai`` SDK → ``qiao serve`` (a real
process) → each vendor's emulator (a real ``qiao emulate NAME`` process): deepseek, qwen, moonshot, ark,
hunyuan, stepfun, yi."""

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

KEY = "sk-qiao-e2e-compat-cn"
SLUGS = ("deepseek", "qwen", "moonshot", "ark", "hunyuan", "stepfun", "yi")
EP = "ep-20250612103045-abcde"
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
CHAT = {
    "deepseek": "deepseek/deepseek-v4-flash",
    "qwen": "qwen/qwen-plus",
    "moonshot": "moonshot/moonshot-v1-8k",
    "ark": "ark/doubao-seed-1-6-flash-250828",
    "hunyuan": "hunyuan/hunyuan-turbos-latest",
    "stepfun": "stepfun/step-2-mini",
    "yi": "yi/yi-lightning",
}
TOOL_MODELS = [m for s, m in CHAT.items() if s != "yi"] + ["moonshot/kimi-k2.6"]
REASONING = {
    "deepseek/deepseek-v4-pro": {},
    "deepseek/deepseek-reasoner": {},
    "qwen/qwen-plus": {"enable_thinking": True},
    "moonshot/kimi-k2.6": {},
    "ark/doubao-seed-1-6-251015": {"thinking": {"type": "enabled"}},
    "hunyuan/hunyuan-t1-latest": {},
    "stepfun/step-3.5-flash": {},
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from qiao.providers._registry import get_provider

    tmp: Path = tmp_path_factory.mktemp("e2e-compat-cn")
    with contextlib.ExitStack() as stack:
        accounts: list[dict[str, Any]] = []
        for slug in SLUGS:
            p = get_provider(slug)
            emu = stack.enter_context(EmulatorProcess(slug))
            base = emu.url + p.emulator_base_path
            accounts.append({"provider": slug, "base_url": base, "credential": p.demo_credential})
            if slug == "ark":
                accounts.append(
                    {
                        "provider": "ark",
                        "name": "ark-ep",
                        "base_url": base,
                        "credential": p.demo_credential,
                        "options": {"endpoints": {"doubao-seed-1-6-251015": EP}},
                        "models": ["doubao-seed-1-6-251015", EP],
                    }
                )
            if slug == "deepseek":
                accounts.append(
                    {
                        "provider": "deepseek",
                        "name": "ds-bad",
                        "base_url": base,
                        "credential": "sk-wrong-key-1234",
                        "weight": 0,
                        "models": ["deepseek-v4-pro"],
                    }
                )
        cfg = {
            "keys": [{"name": "test", "key": KEY}],
            "accounts": accounts,
            "aliases": {
                "gpt-4o": "deepseek/deepseek-v4-pro",
                "doubao": "ark-ep/doubao-seed-1-6-251015",
                "doubao-ep": f"ark-ep/{EP}",
                "bad": "ds-bad/deepseek-v4-pro",
            },
        }
        gw = stack.enter_context(QiaoProcess(cfg, tmp))
        yield gw.url + "/v1"


@pytest.fixture()
def client(gateway: str) -> OpenAI:
    return OpenAI(base_url=gateway, api_key=KEY, max_retries=0)


@pytest.mark.parametrize("slug", SLUGS)
def test_chat(client: OpenAI, slug: str) -> None:
    r = client.chat.completions.with_raw_response.create(
        model=CHAT[slug], messages=[{"role": "user", "content": "Say hello to Shenzhen"}], max_tokens=300
    )
    assert r.headers["x-qiao-provider"] == slug
    c = r.parse()
    assert c.model == CHAT[slug] and "Shenzhen" in (c.choices[0].message.content or "")
    assert c.choices[0].finish_reason == "stop"
    assert c.usage and c.usage.total_tokens == c.usage.prompt_tokens + c.usage.completion_tokens > 0


@pytest.mark.parametrize("slug", SLUGS)
def test_stream_with_usage(client: OpenAI, slug: str) -> None:
    chunks = list(
        client.chat.completions.create(
            model=CHAT[slug],
            messages=[{"role": "user", "content": "你好，介绍一下深圳"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert "深圳" in text and finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage and chunks[-1].usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


@pytest.mark.parametrize("model", sorted(REASONING))
def test_reasoning_in_one_field(client: OpenAI, model: str) -> None:
    extra = REASONING[model] or None
    reasoning, content, usage = "", "", None
    for ch in client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "why is the sky blue"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body=extra,
    ):
        usage = ch.usage or usage
        for c in ch.choices:
            extra_fields = c.delta.model_extra or {}
            assert "reasoning" not in extra_fields  # StepFun's name never reaches the client
            reasoning += extra_fields.get("reasoning_content") or ""
            content += c.delta.content or ""
    assert reasoning and content and reasoning not in content
    assert usage is not None and usage.completion_tokens > 0
    if not model.startswith("stepfun"):  # StepFun reports no reasoning token count
        assert usage.completion_tokens_details and usage.completion_tokens_details.reasoning_tokens > 0
    if not model.startswith("stepfun") and not model.startswith("qwen"):
        # non-stream (Qwen refuses thinking without a stream)
        c = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "why is the sky blue"}], extra_body=extra
        )
        assert (c.choices[0].message.model_extra or {}).get("reasoning_content")
        assert (
            c.usage
            and c.usage.completion_tokens_details
            and c.usage.completion_tokens_details.reasoning_tokens > 0
        )


def test_retired_deepseek_names_still_work(client: OpenAI) -> None:
    r = client.chat.completions.with_raw_response.create(
        model="deepseek/deepseek-chat", messages=[{"role": "user", "content": "hi"}]
    )
    assert r.headers["x-qiao-upstream-model"] == "deepseek-v4-flash"
    c = r.parse()
    assert c.model == "deepseek/deepseek-chat" and "reasoning_content" not in (
        c.choices[0].message.model_extra or {}
    )


@pytest.mark.parametrize("model", TOOL_MODELS)
def test_tools_round_trip(client: OpenAI, model: str) -> None:
    msgs: list[Any] = [{"role": "user", "content": "What is the weather in Beijing? use get_weather"}]
    c = client.chat.completions.create(model=model, messages=msgs, tools=TOOLS)
    msg = c.choices[0].message
    assert c.choices[0].finish_reason == "tool_calls" and msg.tool_calls
    tc = msg.tool_calls[0]
    assert tc.id and json.loads(tc.function.arguments)["city"]
    msgs.append(msg.model_dump(exclude_none=True))
    msgs.append({"role": "tool", "tool_call_id": tc.id, "content": "sunny, 25C"})
    c2 = client.chat.completions.create(model=model, messages=msgs, tools=TOOLS)
    assert "sunny" in (c2.choices[0].message.content or "")


@pytest.mark.parametrize("model", ["deepseek/deepseek-v4-flash", "moonshot/kimi-k2.6"])
def test_reasoning_restored_when_the_client_drops_it(client: OpenAI, model: str) -> None:
    """An OpenAI-minded client sends the tool-call turn back without reasoning_content; DeepSeek and Kimi
    refuse that in thinking mode, so qiao puts it back."""
    msgs: list[Any] = [{"role": "user", "content": "weather in Hangzhou? use get_weather"}]
    stream = client.chat.completions.create(model=model, messages=msgs, tools=TOOLS, stream=True)
    calls: dict[int, dict[str, str]] = {}
    for ch in stream:
        for c in ch.choices:
            for t in c.delta.tool_calls or ():
                d = calls.setdefault(t.index, {"id": "", "name": "", "arguments": ""})
                d["id"] = t.id or d["id"]
                d["name"] += (t.function.name if t.function else None) or ""
                d["arguments"] += (t.function.arguments if t.function else None) or ""
    call = calls[0]
    msgs.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ],
        }
    )
    msgs.append({"role": "tool", "tool_call_id": call["id"], "content": "rainy, 18C"})
    c2 = client.chat.completions.create(model=model, messages=msgs, tools=TOOLS)
    assert "rainy" in (c2.choices[0].message.content or "")


@pytest.mark.parametrize(
    "model", ["deepseek/deepseek-v4-flash", "qwen/qwen-plus", "ark/doubao-seed-1-6-flash-250828"]
)
def test_json_mode(client: OpenAI, model: str) -> None:
    c = client.chat.completions.create(
        model=model,
        response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Give me a json object about Chengdu"}],
    )
    assert isinstance(json.loads(c.choices[0].message.content or ""), dict)


@pytest.mark.parametrize(
    ("model", "dim"),
    [
        ("qwen/text-embedding-v4", 1024),
        ("hunyuan/hunyuan-embedding", 1024),
        ("ark/doubao-embedding-text-240715", 2560),
    ],
)
def test_embeddings_batched(client: OpenAI, model: str, dim: int) -> None:
    texts = [f"text number {i}" for i in range(23)]  # more than Qwen's 10 rows per call
    e = client.embeddings.create(model=model, input=texts)
    assert [d.index for d in e.data] == list(range(23)) and len(e.data[0].embedding) == dim
    assert e.usage.prompt_tokens > 0
    if model.startswith("qwen"):
        e2 = client.embeddings.create(model=model, input="x", dimensions=256)
        assert len(e2.data[0].embedding) == 256


def test_ark_endpoint_ids(client: OpenAI) -> None:
    r = client.chat.completions.with_raw_response.create(
        model="doubao", messages=[{"role": "user", "content": "hi"}]
    )
    assert r.headers["x-qiao-upstream-model"] in ("doubao-seed-1-6-251015", EP)
    c = r.parse()
    assert c.model == "doubao" and c.choices[0].message.content
    c2 = client.chat.completions.create(model="doubao-ep", messages=[{"role": "user", "content": "hi"}])
    assert c2.model == "doubao-ep" and c2.choices[0].message.content


@pytest.mark.parametrize("slug", ["qwen", "ark", "hunyuan", "moonshot"])
def test_output_moderation_mid_stream_is_a_clean_content_filter_ending(client: OpenAI, slug: str) -> None:
    chunks = list(
        client.chat.completions.create(
            model=CHAT[slug],
            stream=True,
            messages=[{"role": "user", "content": "tell me a long story please [[emulate:filtered_midway]]"}],
        )
    )
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["content_filter"]


@pytest.mark.parametrize("slug", SLUGS)
def test_errors_in_each_family(client: OpenAI, slug: str) -> None:
    model = CHAT[slug]

    def ask(scenario: str) -> None:
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": f"[[emulate:{scenario}]]"}]
        )

    with pytest.raises(openai.RateLimitError) as rl:
        ask("rate_limited")
    assert rl.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.RateLimitError) as q:
        ask("insufficient_quota")
    assert q.value.code == "insufficient_quota"
    with pytest.raises(openai.BadRequestError) as f:
        ask("filtered")
    assert f.value.code == "content_filter"
    with pytest.raises(openai.InternalServerError) as s:
        ask("server_error")
    assert s.value.status_code == 502
    with pytest.raises(openai.APIStatusError) as o:
        ask("overloaded")
    assert o.value.status_code in (503, 429)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model=f"{slug}/no-such-model", messages=[{"role": "user", "content": "x"}]
        )


def test_upstream_auth_failure_does_not_leak(client: OpenAI) -> None:
    with pytest.raises(openai.AuthenticationError) as ei:
        client.chat.completions.create(model="bad", messages=[{"role": "user", "content": "x"}])
    body = json.dumps(ei.value.body)
    assert "deepseek" in body and "sk-wrong-key-1234" not in body


def test_unsupported_parameters(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(
            model="moonshot/kimi-k2.6", temperature=0.2, messages=[{"role": "user", "content": "x"}]
        )
    assert ei.value.code == "unsupported_parameter" and (ei.value.body or {}).get("param") == "temperature"  # type: ignore[union-attr]
    with pytest.raises(openai.BadRequestError) as ei2:
        client.chat.completions.create(
            model=CHAT["hunyuan"], n=2, messages=[{"role": "user", "content": "x"}]
        )
    assert ei2.value.code == "unsupported_parameter"
    with pytest.raises(openai.BadRequestError) as ei3:
        client.chat.completions.create(
            model=CHAT["deepseek"], seed=3, messages=[{"role": "user", "content": "x"}]
        )
    assert ei3.value.code == "unsupported_parameter"


def test_native_extras_and_clamping(client: OpenAI) -> None:
    c = client.chat.completions.create(
        model=CHAT["hunyuan"],
        messages=[{"role": "user", "content": "news today"}],
        extra_body={"enable_enhancement": True, "citation": True},
    )
    assert c.choices[0].finish_reason == "stop"
    c = client.chat.completions.create(
        model=CHAT["qwen"], temperature=2, top_p=0, messages=[{"role": "user", "content": "x"}]
    )
    assert c.choices[0].message.content
    c = client.chat.completions.create(
        model=CHAT["moonshot"], temperature=1.8, messages=[{"role": "user", "content": "x"}]
    )
    assert c.choices[0].message.content
