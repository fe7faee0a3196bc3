"""End to end: the Zhipu emulator and ``python -m qiao serve`` as real processes on loopback, driven by
the official ``openai`` SDK exactly as a migrating app would be."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.conftest import EmulatorProcess, QiaoProcess

pytestmark = pytest.mark.e2e

KEY = "sk-qiao-e2e-zhipu"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Look up the current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("zhipu-e2e")
    with EmulatorProcess("zhipu") as emu:
        base = emu.url + "/api/paas/v4"
        config = {
            "database": {"url": f"sqlite:///{tmp / 'qiao.db'}"},
            "keys": [{"name": "e2e", "key": KEY}],
            "accounts": [
                {"provider": "zhipu", "credential": "emulatorid.emulatorsecret", "base_url": base},
                {
                    "provider": "zhipu",
                    "name": "zhipujwt",
                    "credential": "emulatorid.emulatorsecret",
                    "base_url": base,
                    "options": {"auth": "jwt"},
                    "models": ["glm-4-air"],
                },
                {
                    "provider": "zhipu",
                    "name": "zhipubad",
                    "credential": "emulatorid.wrongsecret",
                    "base_url": base,
                    "options": {"auth": "jwt"},
                    "models": ["glm-4-airx"],
                },
            ],
            "aliases": {
                "gpt-4o": "zhipu/glm-4-plus",
                "gpt-4o-mini": "zhipu/glm-4-flash",
                "text-embedding-3-small": "zhipu/embedding-3",
            },
        }
        with QiaoProcess(config, tmp) as gw:
            yield gw.url + "/v1"


@pytest.fixture()
def client(gateway: str) -> Iterator[openai.OpenAI]:
    c = openai.OpenAI(base_url=gateway, api_key=KEY, max_retries=0)
    yield c
    c.close()


@pytest.mark.parametrize("model", ["gpt-4o", "zhipujwt/glm-4-air"])
def test_chat(client: openai.OpenAI, model: str) -> None:
    r = client.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Tell me about Hangzhou"},
        ],
        temperature=0,
        max_tokens=200,
        user="u1",
    )
    assert r.object == "chat.completion" and r.model == model
    assert "Hangzhou" in (r.choices[0].message.content or "")
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_stream_with_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Tell me about 杭州"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "杭州" in text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert (
        chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    )


def test_stream_extra_stop_sequences(client: openai.OpenAI) -> None:
    full = (
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "alpha beta gamma delta"}]
        )
        .choices[0]
        .message.content
        or ""
    )
    stop = "gamma"
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            stream=True,
            stop=["NEVER", stop],
            messages=[{"role": "user", "content": "alpha beta gamma delta"}],
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full[: full.index(stop)]


def test_tools_round_trip(client: openai.OpenAI) -> None:
    msgs: list[dict[str, object]] = [{"role": "user", "content": "What is the weather in Hangzhou?"}]
    r = client.chat.completions.create(model="gpt-4o", messages=msgs, tools=[WEATHER_TOOL])  # type: ignore[arg-type]
    assert r.choices[0].finish_reason == "tool_calls"
    tc = r.choices[0].message.tool_calls
    assert tc and tc[0].function.name == "get_weather" and tc[0].id
    assert "city" in json.loads(tc[0].function.arguments)
    msgs.append(r.choices[0].message.model_dump(exclude_none=True))
    msgs.append({"role": "tool", "tool_call_id": tc[0].id, "content": '{"weather": "sunny"}'})
    r2 = client.chat.completions.create(model="gpt-4o", messages=msgs, tools=[WEATHER_TOOL])  # type: ignore[arg-type]
    assert r2.choices[0].finish_reason == "stop" and "sunny" in (r2.choices[0].message.content or "")
    # and streamed
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=msgs[:1],
            tools=[WEATHER_TOOL],  # type: ignore[arg-type]
            stream=True,
        )
    )
    deltas = [t for c in chunks if c.choices for t in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id and deltas[0].function and deltas[0].function.name == "get_weather"
    assert json.loads("".join(d.function.arguments or "" for d in deltas if d.function))


def test_json_mode(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model="gpt-4o",
        response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Answer in JSON: what is 2+2?"}],
    )
    assert isinstance(json.loads(r.choices[0].message.content or ""), dict)


def test_reasoning_model(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model="zhipu/glm-4.5", messages=[{"role": "user", "content": "why?"}], reasoning_effort="high"
    )
    assert r.choices[0].message.model_extra and r.choices[0].message.model_extra.get("reasoning_content")


def test_embeddings(client: openai.OpenAI) -> None:
    r = client.embeddings.create(model="text-embedding-3-small", input=["first", "second"])
    assert [len(d.embedding) for d in r.data] == [2048, 2048]
    r = client.embeddings.create(model="text-embedding-3-small", input="one", dimensions=256)
    assert len(r.data[0].embedding) == 256
    inputs = [f"text {i}" for i in range(70)]  # more than one Zhipu batch (64)
    r = client.embeddings.create(model="zhipu/embedding-3", input=inputs, encoding_format="float")
    assert len(r.data) == 70 and [d.index for d in r.data] == list(range(70))


def _marker(client: openai.OpenAI, scenario: str, model: str = "gpt-4o") -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": f"hi [[emulate:{scenario}]]"}]
        )
    return e.value


def test_errors(client: openai.OpenAI) -> None:
    e = _marker(client, "rate_limited")
    assert isinstance(e, openai.RateLimitError) and e.code == "rate_limit_exceeded"
    e = _marker(client, "insufficient_quota")
    assert isinstance(e, openai.RateLimitError) and e.code == "insufficient_quota"
    e = _marker(client, "filtered")
    assert isinstance(e, openai.BadRequestError) and e.code == "content_filter"
    e = _marker(client, "server_error")
    assert isinstance(e, openai.InternalServerError) and e.status_code == 502
    e = _marker(client, "bad_key")
    assert isinstance(e, openai.AuthenticationError)
    with pytest.raises(openai.AuthenticationError) as auth:
        client.chat.completions.create(
            model="zhipubad/glm-4-airx", messages=[{"role": "user", "content": "hi"}]
        )
    assert "wrongsecret" not in str(auth.value)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="zhipu/glm-99", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], presence_penalty=0.5
        )
    assert bad.value.code == "unsupported_parameter"
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
        )
    assert bad.value.code == "unsupported_parameter"


def test_stream_content_filter_midway(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            stream=True,
            messages=[{"role": "user", "content": "a long story please [[emulate:filtered_midway]]"}],
        )
    )
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["content_filter"]
