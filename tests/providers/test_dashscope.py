"""DashScope native: request translation, answer and stream parsing (byte-split), error classification."""

from __future__ import annotations

import random
from typing import Any

import httpx
import orjson
import pytest

from qiao.emulators import EmulatorOptions
from qiao.emulators.dashscope import create_app
from qiao.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UnsupportedParameter,
    UpstreamError,
)
from qiao.providers.base import Account, Call, StreamState, WireResponse
from qiao.providers.dashscope import chat_body, classify_error, provider
from qiao.transport.sse import SSEDecoder
from qiao.types import ChatChunk, ChatRequest, EmbeddingRequest

KEY = "sk-dashscope-emulator"
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


def make_call(model: str = "qwen-plus", stream: bool = False) -> Call:
    spec = provider.spec(model)
    assert spec is not None
    acc = Account("ds", "dashscope", KEY, "http://emu/api/v1")
    return Call(acc, spec, model, "rid1", stream)


def req(**kw: Any) -> ChatRequest:
    kw.setdefault("model", "qwen-plus")
    kw.setdefault("messages", [{"role": "user", "content": "hi"}])
    return ChatRequest.from_raw(kw)


def test_envelope_stream_header_and_parameters() -> None:
    r = req(
        temperature=2,
        top_p=0,
        max_completion_tokens=50,
        seed=-3,
        stop="END",
        presence_penalty=1,
        n=2,
        user="u1",
    )
    w = provider.build_chat(r, make_call(stream=True))
    assert w.url == "http://emu/api/v1/services/aigc/text-generation/generation"
    assert w.headers["X-DashScope-SSE"] == "enable"
    body = orjson.loads(w.body or b"")
    assert "stream" not in body and "u1" not in str(body)
    p = body["parameters"]
    assert p == {
        "result_format": "message",
        "incremental_output": True,
        "temperature": 1.99,
        "top_p": 0.01,
        "max_tokens": 50,
        "seed": 0,
        "stop": ["END"],
        "presence_penalty": 1,
        "n": 2,
    }
    plain = provider.build_chat(req(), make_call())
    assert "X-DashScope-SSE" not in plain.headers
    assert "incremental_output" not in orjson.loads(plain.body or b"")["parameters"]


def test_messages_tools_and_tool_choice() -> None:
    r = req(
        messages=[
            {"role": "developer", "content": "be terse"},
            {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
        tools=TOOLS,
        tool_choice="required",
        parallel_tool_calls=False,
        response_format={"type": "json_object"},
    )
    body = chat_body(r, make_call())
    msgs = body["input"]["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool"]
    assert msgs[1]["content"] == "weather?" and msgs[2]["content"] == "" and msgs[3]["tool_call_id"] == "c1"
    p = body["parameters"]
    assert p["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert p["parallel_tool_calls"] is False and p["response_format"] == {"type": "json_object"}
    two = TOOLS + [{"type": "function", "function": {"name": "other", "parameters": {}}}]
    with pytest.raises(UnsupportedParameter):
        chat_body(req(tools=two, tool_choice="required"), make_call())


def test_vision_uses_the_multimodal_path() -> None:
    r = req(
        model="qwen-vl-plus",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what?"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                ],
            }
        ],
    )
    w = provider.build_chat(r, make_call("qwen-vl-plus"))
    assert w.url.endswith("/services/aigc/multimodal-generation/generation")
    assert orjson.loads(w.body or b"")["input"]["messages"][0]["content"] == [
        {"text": "what?"},
        {"image": "https://x/y.png"},
    ]


def test_thinking_non_stream_is_streamed_upstream() -> None:
    w = provider.build_chat(req(reasoning_effort="high"), make_call())
    body = orjson.loads(w.body or b"")
    assert body["parameters"]["enable_thinking"] is True and body["parameters"]["incremental_output"] is True
    assert w.headers["X-DashScope-SSE"] == "enable" and w.stream is False
    off = orjson.loads(provider.build_chat(req(reasoning_effort="none"), make_call()).body or b"")
    assert off["parameters"]["enable_thinking"] is False


def test_parse_chat_message_text_and_tool_calls() -> None:
    body = {
        "output": {
            "choices": [
                {
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{}"},
                            }
                        ],
                    },
                }
            ]
        },
        "usage": {
            "input_tokens": 5,
            "output_tokens": 3,
            "total_tokens": 8,
            "prompt_tokens_details": {"cached_tokens": 2},
        },
        "request_id": "r",
    }
    out = provider.parse_chat(WireResponse(200, {}, orjson.dumps(body)), req(), make_call())
    c = out.choices[0]
    assert c.finish_reason == "tool_calls" and c.message.content is None
    assert (c.message.tool_calls[0].id, c.message.tool_calls[0].name) == ("call_1", "f")
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.cached_tokens) == (5, 3, 2)
    text = {
        "output": {"text": "hello", "finish_reason": "stop"},
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    out = provider.parse_chat(WireResponse(200, {}, orjson.dumps(text)), req(), make_call())
    assert out.choices[0].message.content == "hello" and out.choices[0].finish_reason == "stop"


async def emulator(path: str, payload: dict[str, Any], sse: bool = False) -> httpx.Response:
    app = create_app(EmulatorOptions())
    h = {"Authorization": f"Bearer {KEY}"}
    if sse:
        h["X-DashScope-SSE"] = "enable"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emu") as c:
        return await c.post(path, json=payload, headers=h)


TEXT = "/api/v1/services/aigc/text-generation/generation"


def run_events(pieces: list[bytes], r: ChatRequest) -> tuple[list[ChatChunk], StreamState]:
    d = SSEDecoder()
    state = StreamState(make_call(stream=True), r)
    out: list[ChatChunk] = []
    for p in pieces:
        for ev in d.feed(p):
            out.extend(provider.parse_event(ev, state))
    for ev in d.close():
        out.extend(provider.parse_event(ev, state))
    return out, state


def cuts(raw: bytes, seed: int) -> list[list[bytes]]:
    rng = random.Random(seed)
    rand, i = [], 0
    while i < len(raw):
        n = rng.randint(1, 40)
        rand.append(raw[i : i + n])
        i += n
    return [[raw], [raw[i : i + 1] for i in range(len(raw))], rand]


async def test_stream_at_every_boundary() -> None:
    r = req(messages=[{"role": "user", "content": "介绍一下西湖"}])
    native = chat_body(r, make_call(stream=True))
    plain = (await emulator(TEXT, chat_body(r, make_call()))).json()
    raw = (await emulator(TEXT, native, sse=True)).content
    assert raw.startswith(b"id:1\nevent:result\n:HTTP_STATUS/200\ndata:{") and b"[DONE]" not in raw
    for pieces in cuts(raw, 3):
        chunks, state = run_events(pieces, r)
        text = "".join(c.delta.content or "" for ch in chunks for c in ch.choices)
        assert text == plain["output"]["choices"][0]["message"]["content"]
        assert [c.finish_reason for ch in chunks for c in ch.choices if c.finish_reason] == ["stop"]
        assert state.usage.completion_tokens == plain["usage"]["output_tokens"]


async def test_stream_tool_call_fragments_and_thinking() -> None:
    r = req(messages=[{"role": "user", "content": "weather in Hangzhou? get_weather"}], tools=TOOLS)
    raw = (await emulator(TEXT, chat_body(r, make_call(stream=True)), sse=True)).content
    for pieces in cuts(raw, 5):
        chunks, _ = run_events(pieces, r)
        deltas = [t for ch in chunks for c in ch.choices for t in c.delta.tool_calls or ()]
        assert deltas[0].id and deltas[0].name == "get_weather" and all(t.index == 0 for t in deltas)
        assert all(t.id is None for t in deltas[1:])
        assert "city" in orjson.loads("".join(t.arguments or "" for t in deltas))
    rt = req(messages=[{"role": "user", "content": "why?"}], reasoning_effort="high")
    raw = (await emulator(TEXT, chat_body(rt, make_call(stream=True)), sse=True)).content
    chunks, state = run_events([raw], rt)
    assert "".join(c.delta.reasoning_content or "" for ch in chunks for c in ch.choices)
    assert state.usage.reasoning_tokens > 0
    # the same bytes folded into a non-streaming answer
    out = provider.parse_chat(WireResponse(200, {}, raw), rt, make_call())
    assert out.choices[0].message.reasoning_content and out.choices[0].message.content


async def test_error_frame_mid_stream_is_content_filter() -> None:
    r = req(messages=[{"role": "user", "content": "[[emulate:filtered_midway]] tell me"}])
    raw = (await emulator(TEXT, chat_body(r, make_call(stream=True)), sse=True)).content
    assert b"event:error" in raw
    with pytest.raises(ContentFiltered):
        run_events([raw], r)


@pytest.mark.parametrize(
    ("status", "code", "message", "cls"),
    [
        (401, "InvalidApiKey", "Invalid API-key provided.", AuthenticationFailed),
        (429, "Throttling.RateQuota", "rate", RateLimited),
        (429, "Throttling.AllocationQuota", "Free allocated quota exceeded.", InsufficientQuota),
        (429, "Throttling.AllocationQuota", "tokens per minute exceeded", RateLimited),
        (400, "Arrearage", "Access denied", InsufficientQuota),
        (400, "DataInspectionFailed", "Input data may contain inappropriate content.", ContentFiltered),
        (400, "InvalidParameter", "Range of input length should be [1, 30720]", ContextLengthExceeded),
        (400, "InvalidParameter", "Temperature should be in [0.0, 2.0)", InvalidRequest),
        (403, "Model.AccessDenied", "no", PermissionDenied),
        (404, "ModelNotFound", "Model not exist.", ModelNotFound),
        (500, "InternalError", "boom", UpstreamError),
        (503, "ModelUnavailable", "busy", ServiceUnavailable),
    ],
)
def test_classify_families(status: int, code: str, message: str, cls: type[QiaoError]) -> None:
    body = orjson.dumps({"code": code, "message": message, "request_id": "r"})
    err = provider.classify(WireResponse(status, {"retry-after": "2"}, body), make_call())
    assert type(err) is cls and err.provider == "dashscope"
    if cls is RateLimited:
        assert err.retry_after == 2
    compat = classify_error({"error": {"code": "data_inspection_failed", "message": "x"}}, 400, None, None)
    assert isinstance(compat, ContentFiltered)


def test_classify_success_and_200_error() -> None:
    assert provider.classify(WireResponse(200, {}, b'{"output": {"text": "a"}}'), make_call()) is None
    err = provider.classify(
        WireResponse(200, {}, b'{"code": "Throttling", "message": "slow down"}'), make_call()
    )
    assert isinstance(err, RateLimited)


async def test_embeddings_round_trip() -> None:
    call = make_call("text-embedding-v4")
    w = provider.build_embeddings(
        EmbeddingRequest(model="m", input=["a", "b"], dimensions=300), ["a", "b"], call
    )
    body = orjson.loads(w.body or b"")
    assert body == {
        "model": "text-embedding-v4",
        "input": {"texts": ["a", "b"]},
        "parameters": {"dimension": 512},
    }
    resp = await emulator(w.url.replace("http://emu", ""), body)
    res = provider.parse_embeddings(WireResponse(200, {}, resp.content), call)
    assert len(res.vectors) == 2 and len(res.vectors[0]) == 512 and res.usage.prompt_tokens > 0
    full = orjson.loads(
        provider.build_embeddings(EmbeddingRequest(model="m", input="a"), ["a"], call).body or b""
    )
    assert full["parameters"] == {"dimension": 2048}


async def test_emulator_validates_like_dashscope() -> None:
    bad = {
        "model": "qwen-plus",
        "input": {"messages": [{"role": "user", "content": "x"}]},
        "parameters": {"temperature": 2},
    }
    r = await emulator(TEXT, bad)
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"
    vl = {"model": "qwen-vl-plus", "input": {"messages": [{"role": "user", "content": "x"}]}}
    assert (await emulator(TEXT, vl)).json()["message"] == "url error, please check url!"
    app = create_app(EmulatorOptions())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emu") as c:
        r = await c.post(
            TEXT, json={"model": "qwen-plus", "input": {}}, headers={"Authorization": "Bearer nope"}
        )
    assert r.status_code == 401 and r.json()["code"] == "InvalidApiKey"


async def test_error_frame_in_the_same_read_as_text_still_streams_the_text() -> None:
    """Partial text and the error frame arriving in one TCP read: the client still gets the text, then
    ``finish_reason: content_filter`` (not a 400 for a request that was already answered in part)."""
    import time

    from qiao.config import Settings
    from qiao.gateway.pipeline import Gateway, RequestContext
    from tests.conftest import ThreadServer

    r = req(messages=[{"role": "user", "content": "[[emulate:filtered_midway]] tell me"}])
    raw = (await emulator(TEXT, chat_body(r, make_call(stream=True)), sse=True)).content

    async def one_write(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await send({"type": "http.response.body", "body": raw})

    with ThreadServer(one_write) as srv:
        acc = {"provider": "dashscope", "base_url": srv.url + "/api/v1", "credential": KEY}
        gw = Gateway(Settings.model_validate({"accounts": [acc]}))
        sent: list[bytes] = []

        async def start(status: int, headers: list[tuple[bytes, bytes]]) -> None:
            assert status == 200

        async def send(data: bytes, more: bool) -> None:
            sent.append(data)

        try:
            stream_req = req(model="dashscope/qwen-plus", messages=r.model_dump()["messages"], stream=True)
            await gw.chat_stream(stream_req, RequestContext(f"t{time.monotonic_ns()}", None), start, send)
        finally:
            await gw.aclose()
    body = b"".join(sent)
    assert (
        b'"content":"' in body
        and b'"finish_reason":"content_filter"' in body
        and body.endswith(b"[DONE]\n\n")
    )


def test_parallel_tool_calls_default_is_openais() -> None:
    assert chat_body(req(tools=TOOLS), make_call())["parameters"]["parallel_tool_calls"] is True
    assert "parallel_tool_calls" not in chat_body(req(), make_call())["parameters"]
