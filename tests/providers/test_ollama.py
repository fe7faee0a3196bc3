"""Ollama native: request translation, NDJSON parsing at every boundary, tool-call ids, errors."""

from __future__ import annotations

import random
from typing import Any

import httpx
import orjson
import pytest

from qiao.emulators import EmulatorOptions
from qiao.emulators.ollama import create_app
from qiao.errors import (
    AuthenticationFailed,
    InvalidRequest,
    ModelNotFound,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UnsupportedParameter,
    UpstreamError,
)
from qiao.providers.base import Account, Call, StreamState, WireResponse
from qiao.providers.ollama import chat_body, model_spec, provider
from qiao.transport.sse import NDJSONDecoder
from qiao.types import ChatChunk, ChatRequest, EmbeddingRequest

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def make_call(model: str = "qwen3:8b", stream: bool = False) -> Call:
    return Call(Account("ol", "ollama", None, "http://emu"), model_spec(model), model, "rid1", stream)


def req(**kw: Any) -> ChatRequest:
    kw.setdefault("model", "qwen3:8b")
    kw.setdefault("messages", [{"role": "user", "content": "hi"}])
    return ChatRequest.from_raw(kw)


def test_specs_from_names() -> None:
    assert model_spec("nomic-embed-text").caps.embeddings and not model_spec("nomic-embed-text").caps.chat
    assert model_spec("llava:7b").caps.vision and not model_spec("llama3.2:3b").caps.vision
    assert model_spec("qwen3:8b").caps.reasoning
    assert provider.spec("anything:1b") is not None and provider.models == ()


def test_body_stream_explicit_options_and_format() -> None:
    r = req(
        max_tokens=20,
        temperature=0.5,
        top_p=0.9,
        seed=7,
        stop=["x"],
        frequency_penalty=0.1,
        options={"num_ctx": 8192},
    )
    body = chat_body(r, make_call())
    assert body["stream"] is False
    assert body["options"] == {
        "num_predict": 20,
        "temperature": 0.5,
        "top_p": 0.9,
        "seed": 7,
        "frequency_penalty": 0.1,
        "stop": ["x"],
        "num_ctx": 8192,
    }
    assert chat_body(req(), make_call(stream=True))["stream"] is True
    assert chat_body(req(response_format={"type": "json_object"}), make_call())["format"] == "json"
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    assert chat_body(req(response_format=rf), make_call())["format"] == schema
    assert chat_body(req(reasoning_effort="none"), make_call())["think"] is False


def test_messages_images_tools_and_tool_results() -> None:
    r = req(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "see"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "x"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
        tools=TOOLS,
    )
    msgs = chat_body(r, make_call())["messages"]
    assert msgs[0] == {"role": "user", "content": "see", "images": ["AAAA"]}
    assert msgs[1]["tool_calls"] == [{"function": {"name": "get_weather", "arguments": {"city": "x"}}}]
    assert msgs[2] == {"role": "tool", "content": "sunny", "tool_name": "get_weather"}
    url = [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]
    with pytest.raises(UnsupportedParameter):
        chat_body(req(messages=[{"role": "user", "content": url}]), make_call())
    with pytest.raises(UnsupportedParameter):
        chat_body(
            req(tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_weather"}}),
            make_call(),
        )


def test_parse_chat_object_arguments_get_string_and_id() -> None:
    body = {
        "model": "qwen3:8b",
        "created_at": "2026-01-01T00:00:00Z",
        "message": {
            "role": "assistant",
            "content": "",
            "thinking": "hmm",
            "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}],
        },
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 9,
        "eval_count": 4,
    }
    out = provider.parse_chat(WireResponse(200, {}, orjson.dumps(body)), req(), make_call())
    c = out.choices[0]
    assert c.finish_reason == "tool_calls" and c.message.reasoning_content == "hmm"
    tc = c.message.tool_calls[0]
    assert tc.id.startswith("call_") and orjson.loads(tc.arguments) == {"a": 1}
    again = provider.parse_chat(WireResponse(200, {}, orjson.dumps(body)), req(), make_call())
    assert again.choices[0].message.tool_calls[0].id == tc.id  # stable
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (9, 4)
    body["done_reason"], body["message"] = "length", {"role": "assistant", "content": "cut"}
    assert (
        provider.parse_chat(WireResponse(200, {}, orjson.dumps(body)), req(), make_call())
        .choices[0]
        .finish_reason
        == "length"
    )


async def emulator(path: str, payload: dict[str, Any]) -> httpx.Response:
    app = create_app(EmulatorOptions())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emu") as c:
        return await c.post(path, json=payload)


def run(pieces: list[bytes], r: ChatRequest) -> tuple[list[ChatChunk], StreamState]:
    d = NDJSONDecoder()
    state = StreamState(make_call(stream=True), r)
    out: list[ChatChunk] = []
    for p in pieces:
        for ev in d.feed(p):
            out.extend(provider.parse_event(ev, state))
    for ev in d.close():
        out.extend(provider.parse_event(ev, state))
    return out, state


def cuts(raw: bytes) -> list[list[bytes]]:
    rng = random.Random(11)
    rand, i = [], 0
    while i < len(raw):
        n = rng.randint(1, 30)
        rand.append(raw[i : i + n])
        i += n
    return [[raw], [raw[i : i + 1] for i in range(len(raw))], rand]


async def test_ndjson_stream_at_every_boundary() -> None:
    r = req(model="llama3.2:3b", messages=[{"role": "user", "content": "说说长江"}])
    plain = (await emulator("/api/chat", chat_body(r, make_call("llama3.2:3b")))).json()
    resp = await emulator("/api/chat", chat_body(r, make_call("llama3.2:3b", stream=True)))
    assert resp.headers["content-type"] == "application/x-ndjson"
    for pieces in cuts(resp.content):
        chunks, state = run(pieces, r)
        assert state.done
        assert (
            "".join(c.delta.content or "" for ch in chunks for c in ch.choices) == plain["message"]["content"]
        )
        assert [c.finish_reason for ch in chunks for c in ch.choices if c.finish_reason] == ["stop"]
        assert state.usage.completion_tokens == plain["eval_count"]


async def test_stream_tool_call_and_error_line() -> None:
    r = req(
        messages=[{"role": "user", "content": "weather in Hangzhou? get_weather"}],
        tools=TOOLS,
        reasoning_effort="none",
    )
    raw = (await emulator("/api/chat", chat_body(r, make_call(stream=True)))).content
    chunks, _ = run([raw], r)
    tcs = [t for ch in chunks for c in ch.choices for t in c.delta.tool_calls or ()]
    assert (
        len(tcs) == 1 and tcs[0].index == 0 and tcs[0].id and "city" in orjson.loads(tcs[0].arguments or "")
    )
    assert [c.finish_reason for ch in chunks for c in ch.choices if c.finish_reason] == ["tool_calls"]
    bad = req(messages=[{"role": "user", "content": "[[emulate:filtered_midway]] story"}])
    raw = (await emulator("/api/chat", chat_body(bad, make_call(stream=True)))).content
    with pytest.raises(UpstreamError):
        run([raw], bad)


@pytest.mark.parametrize(
    ("status", "message", "cls"),
    [
        (404, 'model "x" not found, try pulling it first', ModelNotFound),
        (400, "registry.ollama.ai/library/llava does not support tools", UnsupportedParameter),
        (400, "invalid options", InvalidRequest),
        (401, "unauthorized", AuthenticationFailed),
        (429, "too many requests", RateLimited),
        (500, "llama runner process has terminated", UpstreamError),
        (503, "server busy", ServiceUnavailable),
    ],
)
def test_classify(status: int, message: str, cls: type[QiaoError]) -> None:
    err = provider.classify(WireResponse(status, {}, orjson.dumps({"error": message})), make_call())
    assert type(err) is cls and err.provider == "ollama"


def test_classify_success() -> None:
    assert (
        provider.classify(WireResponse(200, {}, b'{"message": {"content": "x"}, "done": true}'), make_call())
        is None
    )


async def test_embeddings() -> None:
    call = make_call("nomic-embed-text")
    w = provider.build_embeddings(EmbeddingRequest(model="m", input=["a", "b"]), ["a", "b"], call)
    assert w.url == "http://emu/api/embed"
    resp = await emulator("/api/embed", orjson.loads(w.body or b""))
    res = provider.parse_embeddings(WireResponse(200, {}, resp.content), call)
    assert len(res.vectors) == 2 and len(res.vectors[0]) == 768 and res.usage.prompt_tokens > 0
