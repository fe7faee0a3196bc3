"""Checks shared by the SDK cross-checks of OpenAI-shaped emulators (vLLM, SGLang, llama.cpp, Xinference,
Ollama ``/v1``, OpenAI, Azure): the official ``openai`` SDK sends its own requests and must parse every
answer. Each ``test_<slug>_sdk.py`` calls these with its emulator's models."""

from __future__ import annotations

import json
from typing import Any

import openai

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


def chat_non_stream(client: openai.OpenAI, model: str) -> None:
    r = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "你好，介绍一下你自己"}], max_tokens=64
    )
    assert r.choices[0].message.content
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage is not None and r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0


def chat_stream(client: openai.OpenAI, model: str, usage_expected: bool = True) -> str:
    text = []
    usage = None
    finish = None
    with client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "say hello"}],
        stream=True,
        stream_options={"include_usage": True},
    ) as stream:
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for c in chunk.choices:
                if c.delta.content:
                    text.append(c.delta.content)
                if c.finish_reason:
                    finish = c.finish_reason
    assert "".join(text) and finish == "stop"
    if usage_expected:
        assert usage is not None and usage.completion_tokens > 0
    else:
        assert usage is None
    return "".join(text)


def reasoning(client: openai.OpenAI, model: str, field: str | None) -> None:
    """The reasoning text comes back under the server's own field name (``None``: not at all)."""
    r = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "why is the sky blue"}]
    )
    extra = r.choices[0].message.model_extra or {}
    if field is None:
        assert not any(k.startswith("reasoning") for k in extra)
    else:
        assert extra.get(field)
    assert r.usage is not None and r.usage.completion_tokens_details is not None
    assert (r.usage.completion_tokens_details.reasoning_tokens or 0) > 0
    seen: list[str] = []
    for chunk in client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "why is the sky blue"}], stream=True
    ):
        for c in chunk.choices:
            v = (c.delta.model_extra or {}).get(field or "reasoning_content")
            if v:
                seen.append(v)
    assert bool(seen) == (field is not None)


def tools_round_trip(client: openai.OpenAI, model: str, stream: bool = False) -> None:
    msgs: list[Any] = [{"role": "user", "content": "What is the weather in Hangzhou? use get_weather"}]
    r = client.chat.completions.create(model=model, messages=msgs, tools=TOOLS, tool_choice="required")
    call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments)["city"]
    assert r.choices[0].finish_reason == "tool_calls"
    msgs += [
        r.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21}'},
    ]
    r2 = client.chat.completions.create(model=model, messages=msgs, tools=TOOLS)
    assert r2.choices[0].message.content and r2.choices[0].finish_reason == "stop"
    if stream:
        args: dict[int, str] = {}
        names: dict[int, str] = {}
        for chunk in client.chat.completions.create(
            model=model, messages=msgs[:1], tools=TOOLS, tool_choice="required", stream=True
        ):
            for c in chunk.choices:
                for t in c.delta.tool_calls or ():
                    if t.function and t.function.name:
                        names[t.index] = t.function.name
                    if t.function and t.function.arguments:
                        args[t.index] = args.get(t.index, "") + t.function.arguments
        assert names[0] == "get_weather" and json.loads(args[0])["city"]


def json_mode(client: openai.OpenAI, model: str) -> None:
    r = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "give me a JSON object about Hangzhou"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(r.choices[0].message.content or ""), dict)


def embeddings(client: openai.OpenAI, model: str) -> None:
    r = client.embeddings.create(model=model, input=["你好", "hello"])
    assert len(r.data) == 2 and len(r.data[0].embedding) > 0
    assert r.data[0].embedding != r.data[1].embedding
    b64 = client.embeddings.create(model=model, input="hello")  # the SDK asks for base64 by default
    assert len(b64.data[0].embedding) == len(r.data[0].embedding)


def error_is(
    client: openai.OpenAI, model: str, marker: str, cls: type[Exception], stream: bool = False
) -> Any:
    try:
        r = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": f"hi [[emulate:{marker}]]"}], stream=stream
        )
        if stream:
            for _ in r:  # type: ignore[union-attr]
                pass
    except cls as exc:
        return exc
    raise AssertionError(f"{marker}: no {cls.__name__}")
