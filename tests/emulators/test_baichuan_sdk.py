"""Baichuan's emulator driven by the client Baichuan's docs prescribe: the official ``openai`` SDK.

PyPI's ``baichuan`` package is an empty placeholder, and Baichuan documents its API as OpenAI-compatible
(``base_url="https://api.baichuan-ai.com/v1"``), so the ``openai`` SDK is the official client here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from qiao.emulators import EmulatorOptions
from qiao.emulators.baichuan import DEFAULT_CREDENTIAL, create_app
from tests.conftest import ThreadServer

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.sdk


APP = create_app(EmulatorOptions())


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with ThreadServer(APP) as srv:
        yield srv.url


@pytest.fixture()
def client(root: str) -> Any:
    c = openai.OpenAI(base_url=root + "/v1", api_key=DEFAULT_CREDENTIAL, max_retries=0, timeout=10)
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


def test_chat_non_stream(client: Any) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="Baichuan4",
        messages=[
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "世界第一高峰是?"},
        ],
        temperature=0.3,
        top_p=0.85,
        max_tokens=256,
        extra_body={"top_k": 5},
    )
    assert raw.headers["x-bc-request-id"]
    r = raw.parse()
    assert APP.seen[-1]["top_k"] == 5 and "stream" not in APP.seen[-1]
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert "世界第一高峰" in r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens > 0


def test_chat_stream_usage_on_last_chunk(client: Any) -> None:
    chunks = list(
        client.chat.completions.create(
            model="Baichuan4-Air", messages=[{"role": "user", "content": "Tell me about rivers"}], stream=True
        )
    )
    assert len(chunks) > 2
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.startswith("You said: Tell me about rivers")
    assert all(c.choices[0].delta.role == "assistant" for c in chunks)  # Baichuan repeats the role
    assert [c.choices[0].finish_reason for c in chunks[:-1]] == [""] * (len(chunks) - 1)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_tools_round_trip(client: Any) -> None:
    msgs: list[dict[str, Any]] = [
        {"role": "user", "content": "What is the weather in Beijing? use get_weather"}
    ]
    r = client.chat.completions.create(model="Baichuan4", messages=msgs, tools=[WEATHER])
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and not call.id.startswith("call_")
    msgs += [
        r.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21}'},
    ]
    r2 = client.chat.completions.create(model="Baichuan4", messages=msgs, tools=[WEATHER])
    assert r2.choices[0].finish_reason == "stop"
    assert "21" in r2.choices[0].message.content


def test_tools_stream(client: Any) -> None:
    stream = client.chat.completions.create(
        model="Baichuan3-Turbo",
        messages=[{"role": "user", "content": "weather in Shanghai? get_weather"}],
        tools=[WEATHER],
        stream=True,
    )
    calls = [t for c in stream for t in (c.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function.name == "get_weather" and calls[0].id
    assert '"city"' in calls[0].function.arguments


def test_json_mode(client: Any) -> None:
    import json

    r = client.chat.completions.create(
        model="Baichuan4-Turbo",
        response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Reply in JSON"}],
    )
    assert isinstance(json.loads(r.choices[0].message.content), dict)


def test_embeddings_default_and_float(client: Any) -> None:
    r = client.embeddings.create(model="Baichuan-Text-Embedding", input=["你好", "世界"])
    # The SDK asks for base64 unless told otherwise; Baichuan documents floats only and the SDK takes both.
    assert APP.seen[-1]["encoding_format"] == "base64"
    assert [d.index for d in r.data] == [0, 1]
    assert len(r.data[0].embedding) == 1024
    r2 = client.embeddings.create(model="Baichuan-Text-Embedding", input="你好", encoding_format="float")
    assert r2.data[0].embedding == r.data[0].embedding


def test_embeddings_batch_limit(client: Any) -> None:
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="Baichuan-Text-Embedding", input=[f"t{i}" for i in range(17)])


def test_models_list_in_baichuan_shape(client: Any) -> None:
    page = client.models.list()
    first = page.data[0].model_dump()
    assert first["model"] == "Baichuan4" and "max_input_length" in first


def test_bad_key(root: str) -> None:
    c = openai.OpenAI(base_url=root + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as ei:
        c.chat.completions.create(model="Baichuan4", messages=[{"role": "user", "content": "hi"}])
    assert ei.value.status_code == 401
    assert ei.value.body["type"] == "invalid_api_key"  # type: ignore[index]


@pytest.mark.parametrize(
    ("scenario", "exc", "code"),
    [
        ("rate_limited", "RateLimitError", "rate_limit_reached"),
        ("insufficient_quota", "RateLimitError", "insufficient_quota"),
        ("server_error", "InternalServerError", "internal_server_error"),
    ],
)
def test_error_scenarios(client: Any, scenario: str, exc: str, code: str) -> None:
    with pytest.raises(getattr(openai, exc)) as ei:
        client.chat.completions.create(
            model="Baichuan4",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"X-Emulator-Scenario": scenario},
        )
    assert ei.value.code == code


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature": 1.5},
        {"top_p": 1.0},
        {"frequency_penalty": 0},
        {"max_tokens": 4096},
    ],
)
def test_out_of_range_parameters_are_400(client: Any, kwargs: dict[str, Any]) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="Baichuan4", messages=[{"role": "user", "content": "hi"}], **kwargs
        )


def test_tools_refused_on_model_without_function_calling(client: Any) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="Baichuan2-Turbo", tools=[WEATHER], messages=[{"role": "user", "content": "hi"}]
        )


def test_filtered_is_finish_reason(client: Any) -> None:
    r = client.chat.completions.create(
        model="Baichuan4", messages=[{"role": "user", "content": "bad [[emulate:filtered]]"}]
    )
    assert r.choices[0].finish_reason == "content_filter"
    assert r.choices[0].message.content == ""


def test_unknown_model_is_not_found(client: Any) -> None:
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(model="Baichuan9", messages=[{"role": "user", "content": "hi"}])
    assert ei.value.code == "model_not_found"


def test_stream_error_before_first_byte(client: Any) -> None:
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="Baichuan4",
            stream=True,
            messages=[{"role": "user", "content": "hi [[emulate:rate_limited]]"}],
        )
