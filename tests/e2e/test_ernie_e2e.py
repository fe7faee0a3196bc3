"""End to end for both Qianfan protocols: ``qiao emulate ernie`` / ``qiao emulate ernie_v1`` and
``qiao serve`` as real processes on loopback, driven with the official ``openai`` SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.conftest import EmulatorProcess, QiaoProcess

pytestmark = pytest.mark.e2e

KEY = "sk-qiao-ernie-e2e"
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
CHAT = {"ernie": "ernie/ernie-4.5-turbo-32k", "ernie_v1": "ernie_v1/ernie-3.5-8k"}
SLUGS = list(CHAT)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("ernie-e2e")
    with EmulatorProcess("ernie") as v2, EmulatorProcess("ernie_v1") as v1:
        cfg = {
            "keys": [{"name": "test", "key": KEY}],
            "accounts": [
                {
                    "provider": "ernie",
                    "base_url": v2.url + "/v2",
                    "credential": "bce-v3/ALTAK-demo/emulatorsecret",
                },
                {"provider": "ernie_v1", "base_url": v1.url, "credential": "ernie-demo-ak:ernie-demo-sk"},
                {
                    "provider": "ernie",
                    "name": "ernie_badkey",
                    "base_url": v2.url + "/v2",
                    "credential": "bce-v3/ALTAK-demo/wrong",
                    "models": ["ernie-lite-8k"],
                },
                {
                    "provider": "ernie_v1",
                    "name": "ernie_v1_badpair",
                    "base_url": v1.url,
                    "credential": "ernie-demo-ak:wrong-secret",
                    "models": ["ernie-lite-8k"],
                },
            ],
        }
        with QiaoProcess(cfg, tmp) as gw:
            yield gw.url + "/v1"


@pytest.fixture()
def client(gateway: str) -> OpenAI:
    return OpenAI(base_url=gateway, api_key=KEY, max_retries=0, timeout=30)


@pytest.mark.parametrize("slug", SLUGS)
def test_chat(client: OpenAI, slug: str) -> None:
    r = client.chat.completions.create(
        model=CHAT[slug],
        temperature=0,
        max_tokens=200,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Tell me about Beijing"},
            {"role": "user", "content": "briefly"},
        ],
    )
    assert r.model == CHAT[slug]
    assert "Beijing" in (r.choices[0].message.content or "")
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0


@pytest.mark.parametrize("slug", SLUGS)
def test_stream_with_usage(client: OpenAI, slug: str) -> None:
    chunks = list(
        client.chat.completions.create(
            model=CHAT[slug],
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "你好，介绍一下北京"}],
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "北京" in text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.completion_tokens > 0


@pytest.mark.parametrize("slug", SLUGS)
def test_tools_round_trip(client: OpenAI, slug: str) -> None:
    msgs: list[Any] = [{"role": "user", "content": "Use get_weather: what is the weather in Beijing?"}]
    r = client.chat.completions.create(model=CHAT[slug], messages=msgs, tools=TOOLS)
    assert r.choices[0].finish_reason == "tool_calls"
    tc = r.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert tc.id.startswith("call_") and tc.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(tc.function.arguments) == {"city": "Beijing"}  # type: ignore[union-attr]
    msgs += [
        r.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": tc.id, "content": "sunny, 25C"},
    ]
    r2 = client.chat.completions.create(model=CHAT[slug], messages=msgs, tools=TOOLS)
    assert "sunny" in (r2.choices[0].message.content or "") and r2.choices[0].finish_reason == "stop"
    # streamed tool call: id and name on the first delta
    chunks = list(
        client.chat.completions.create(model=CHAT[slug], messages=msgs[:1], tools=TOOLS, stream=True)
    )
    deltas = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or ()]
    assert deltas[0].id and deltas[0].function and deltas[0].function.name == "get_weather"
    args = "".join((d.function.arguments or "") for d in deltas if d.function)
    assert json.loads(args) == {"city": "Beijing"}


@pytest.mark.parametrize("slug", SLUGS)
def test_json_mode(client: OpenAI, slug: str) -> None:
    r = client.chat.completions.create(
        model=CHAT[slug],
        response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Describe Beijing as JSON"}],
    )
    assert isinstance(json.loads(r.choices[0].message.content or ""), dict)


@pytest.mark.parametrize("slug", SLUGS)
def test_embeddings_batched(client: OpenAI, slug: str) -> None:
    texts = [f"text number {i}" for i in range(20)]
    e = client.embeddings.create(model=f"{slug}/bge-large-zh", input=texts)
    assert len(e.data) == 20 and [d.index for d in e.data] == list(range(20))
    assert len(e.data[0].embedding) == 1024
    single = client.embeddings.create(model=f"{slug}/bge-large-zh", input=texts[17])
    assert single.data[0].embedding == pytest.approx(e.data[17].embedding, abs=1e-6)
    tao = client.embeddings.create(model=f"{slug}/tao-8k", input=["a", "b", "c"], encoding_format="float")
    assert len(tao.data) == 3


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.parametrize(
    ("scenario", "exc", "code"),
    [
        ("rate_limited", openai.RateLimitError, "rate_limit_exceeded"),
        ("insufficient_quota", openai.RateLimitError, "insufficient_quota"),
        ("filtered", openai.BadRequestError, "content_filter"),
        ("server_error", openai.InternalServerError, "upstream_error"),
    ],
)
def test_error_classes(client: OpenAI, slug: str, scenario: str, exc: type[Exception], code: str) -> None:
    with pytest.raises(exc) as ei:
        client.chat.completions.create(
            model=CHAT[slug], messages=[{"role": "user", "content": f"hi [[emulate:{scenario}]]"}]
        )
    assert ei.value.code == code  # type: ignore[attr-defined]


@pytest.mark.parametrize("model", ["ernie_badkey/ernie-lite-8k", "ernie_v1_badpair/ernie-lite-8k"])
def test_bad_credentials(client: OpenAI, model: str) -> None:
    with pytest.raises(openai.AuthenticationError) as ei:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert "wrong" not in str(ei.value)


@pytest.mark.parametrize("slug", SLUGS)
def test_requests_ernie_cannot_honour(client: OpenAI, slug: str) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(
            model=CHAT[slug], logit_bias={"1": 5}, messages=[{"role": "user", "content": "hi"}]
        )
    assert ei.value.code == "unsupported_parameter"
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(
            model=CHAT[slug],
            messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure, here"}],
        )
    assert ei.value.code == "unsupported_parameter"


@pytest.mark.parametrize("slug", SLUGS)
def test_stream_filtered_midway_and_cut(client: OpenAI, slug: str) -> None:
    chunks = list(
        client.chat.completions.create(
            model=CHAT[slug],
            stream=True,
            messages=[{"role": "user", "content": "Tell me a long story [[emulate:filtered_midway]]"}],
        )
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "content_filter"
    ]
    with pytest.raises(openai.APIError):
        list(
            client.chat.completions.create(
                model=CHAT[slug],
                stream=True,
                messages=[{"role": "user", "content": "Tell me a long story [[emulate:cut_stream]]"}],
            )
        )


@pytest.mark.parametrize("slug", SLUGS)
def test_stream_error_before_the_first_byte_has_a_status(client: OpenAI, slug: str) -> None:
    # v1 answers a failed stream start with a plain JSON body in HTTP 200; v2 with HTTP 429
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model=CHAT[slug],
            stream=True,
            messages=[{"role": "user", "content": "hi [[emulate:rate_limited]]"}],
        )
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(
            model=CHAT[slug], stream=True, messages=[{"role": "user", "content": "hi [[emulate:filtered]]"}]
        )
    assert ei.value.code == "content_filter"


def test_image_input_on_the_vl_model(client: OpenAI) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    r = client.chat.completions.create(
        model="ernie/ernie-4.5-turbo-vl-32k",
        messages=[{"role": "user", "content": [{"type": "text", "text": "What is in this picture?"}, image]}],
    )
    assert "image" in (r.choices[0].message.content or "")
    with pytest.raises(openai.BadRequestError):  # the gateway knows ERNIE 3.5 has no image input
        client.chat.completions.create(
            model="ernie/ernie-3.5-8k", messages=[{"role": "user", "content": [image]}]
        )


def test_reasoning_model_returns_reasoning_content(client: OpenAI) -> None:
    r = client.chat.completions.create(
        model="ernie/ernie-x1-turbo-32k", messages=[{"role": "user", "content": "Why is the sky blue?"}]
    )
    msg = r.choices[0].message
    assert msg.content and getattr(msg, "reasoning_content", None)
