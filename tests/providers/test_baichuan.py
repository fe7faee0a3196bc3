"""Baichuan adapter: request translation, answer parsing, stream parsing at every boundary, errors, auth."""

from __future__ import annotations

import random
from typing import Any

import httpx
import orjson
import pytest

from qiao.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    InvalidRequest,
    ModelNotFound,
    RateLimited,
    ServiceUnavailable,
    UnsupportedParameter,
    UpstreamError,
)
from qiao.gateway.params import apply_param_policy
from qiao.gateway.stream import StreamAssembler
from qiao.providers.baichuan import provider
from qiao.providers.base import Account, Call, SSEEvent, StreamState, WireRequest, WireResponse
from qiao.transport.sse import SSEDecoder
from qiao.types import ChatRequest, EmbeddingRequest

KEY = "sk-baichuan-unit-test-key"
ACCOUNT = Account("baichuan", "baichuan", KEY, "http://127.0.0.1:9/v1")


def call(model: str = "Baichuan4", stream: bool = False) -> Call:
    spec = provider.spec(model)
    assert spec is not None
    return Call(ACCOUNT, spec, model, "req-1", stream)


def req(**kw: Any) -> ChatRequest:
    body = {"model": "Baichuan4", "messages": [{"role": "user", "content": "hi"}], **kw}
    return ChatRequest.from_raw(body)


def built(r: ChatRequest, c: Call | None = None) -> dict[str, Any]:
    wire = provider.build_chat(r, c or call())
    assert wire.body is not None
    out: dict[str, Any] = orjson.loads(wire.body)
    return out


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "weather of a city",
        "strict": True,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


# ---- build_chat ------------------------------------------------------------------------------------------
def test_minimal_body_and_url() -> None:
    wire = provider.build_chat(req(), call())
    assert wire.url == "http://127.0.0.1:9/v1/chat/completions"
    assert orjson.loads(wire.body or b"") == {
        "model": "Baichuan4",
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert not wire.stream


@pytest.mark.parametrize(("sent", "expected"), [(0, 0.0), (0.7, 0.7), (1.0, 1.0), (1.5, 1.0), (2, 1.0)])
def test_temperature_clamped_to_closed_unit_range(sent: float, expected: float) -> None:
    assert built(req(temperature=sent))["temperature"] == expected


@pytest.mark.parametrize(("sent", "expected"), [(0, 0.0), (0.85, 0.85), (1, 0.99)])
def test_top_p_kept_below_one(sent: float, expected: float) -> None:
    assert built(req(top_p=sent))["top_p"] == expected


def test_frequency_penalty_mapping() -> None:
    assert "frequency_penalty" not in built(req(frequency_penalty=0))
    assert built(req(frequency_penalty=1))["frequency_penalty"] == 1.5
    assert built(req(frequency_penalty=2))["frequency_penalty"] == 2.0
    with pytest.raises(UnsupportedParameter) as ei:
        built(req(frequency_penalty=-0.5))
    assert ei.value.param == "frequency_penalty"


def test_output_limit_named_max_tokens() -> None:
    assert built(req(max_tokens=100))["max_tokens"] == 100
    body = built(req(max_tokens=100, max_completion_tokens=50))
    assert body["max_tokens"] == 50 and "max_completion_tokens" not in body


def test_stop_sent_as_list() -> None:
    assert built(req(stop="END"))["stop"] == ["END"]
    assert built(req(stop=["a", "b"]))["stop"] == ["a", "b"]


def test_messages_translated() -> None:
    body = built(
        req(
            messages=[
                {"role": "developer", "content": "be brief"},
                {
                    "role": "user",
                    "name": "alice",
                    "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "there"}],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "3951017OF8doB0A",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "3951017OF8doB0A", "content": "42"},
            ]
        )
    )
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "3951017OF8doB0A", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "content": "42", "tool_call_id": "3951017OF8doB0A"},
    ]


def test_legacy_function_role_refused() -> None:
    with pytest.raises(UnsupportedParameter):
        built(req(messages=[{"role": "function", "name": "f", "content": "1"}]))


def test_tools_and_tool_choice() -> None:
    body = built(req(tools=[WEATHER]))
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "weather of a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    assert "tool_choice" not in body
    assert "tools" not in built(req(tools=[WEATHER], tool_choice="none"))
    assert "tools" in built(req(tools=[WEATHER], tool_choice="auto"))
    with pytest.raises(UnsupportedParameter) as ei:
        built(req(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}}))
    assert ei.value.param == "tool_choice"


def test_response_format_and_extras_and_stream() -> None:
    body = built(
        req(
            response_format={"type": "json_object"},
            top_k=5,
            with_search_enhance=True,
            knowledge_base={"ids": ["kb-1"]},
            user="u1",
            stream=True,
            stream_options={"include_usage": True},
        ),
        call(stream=True),
    )
    assert body["response_format"] == {"type": "json_object"}
    assert body["top_k"] == 5 and body["with_search_enhance"] is True
    assert body["knowledge_base"] == {"ids": ["kb-1"]}
    assert body["stream"] is True
    assert "stream_options" not in body and "user" not in body
    assert "response_format" not in built(req(response_format={"type": "text"}))


@pytest.mark.parametrize(
    "field", ["n", "seed", "logit_bias", "presence_penalty", "logprobs", "parallel_tool_calls"]
)
def test_unsupported_fields_refused_by_policy(field: str) -> None:
    values = {
        "n": 2,
        "seed": 1,
        "logit_bias": {"1": 1},
        "presence_penalty": 0.5,
        "logprobs": True,
        "parallel_tool_calls": False,
    }
    r = req(**{field: values[field]})
    spec = provider.spec("Baichuan4")
    assert spec is not None
    with pytest.raises(UnsupportedParameter):
        apply_param_policy(r, provider, spec, False, "baichuan/Baichuan4")
    assert field in apply_param_policy(r, provider, spec, True, "baichuan/Baichuan4").dropped


def test_capabilities_per_model() -> None:
    spec = provider.spec("Baichuan2-Turbo")
    assert spec is not None
    with pytest.raises(UnsupportedParameter):
        apply_param_policy(req(model="Baichuan2-Turbo", tools=[WEATHER]), provider, spec, False, "x")
    with pytest.raises(UnsupportedParameter):
        apply_param_policy(
            req(response_format={"type": "json_schema", "json_schema": {"name": "x"}}),
            provider,
            provider.spec("Baichuan4"),
            False,
            "x",
        )  # type: ignore[arg-type]
    emb = provider.spec("Baichuan-Text-Embedding")
    assert emb is not None and emb.dimensions == 1024 and emb.embedding_batch == 16 and emb.caps.embeddings
    for m in provider.models:
        assert m.price is not None and m.price.since and m.price.source.startswith("https://")


# ---- parse_chat ------------------------------------------------------------------------------------------
def answer(content: str | None, finish: str = "stop", **msg: Any) -> WireResponse:
    body = {
        "id": "chatcmpl-M7b2",
        "object": "chat.completion",
        "created": 1719300000,
        "model": "Baichuan4",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content, **msg}, "finish_reason": finish}
        ],
        "usage": {"prompt_tokens": 31, "completion_tokens": 14, "total_tokens": 45},
        "knowledge_base": {"cites": [{"title": "t", "content": "c", "file_id": "file-1"}]},
    }
    return WireResponse(200, {}, orjson.dumps(body))


def test_parse_chat_plain_and_usage() -> None:
    out = provider.parse_chat(answer("A monk travels west."), req(), call())
    assert out.choices[0].message.content == "A monk travels west."
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (31, 14)
    assert "knowledge_base" not in orjson.dumps(out.to_dict()).decode()


def test_parse_chat_tool_call_ids_pass_through() -> None:
    out = provider.parse_chat(
        answer(
            "",
            "tool_calls",
            tool_calls=[
                {
                    "id": "3951017OF8doB0A",
                    "type": "function",
                    "function": {"name": "f", "arguments": '{"a":1}'},
                }
            ],
        ),
        req(),
        call(),
    )
    assert out.choices[0].finish_reason == "tool_calls"
    assert out.choices[0].message.tool_calls[0].id == "3951017OF8doB0A"


def test_parse_chat_enforces_stop() -> None:
    out = provider.parse_chat(answer("one two END three", "stop"), req(stop=["END", "zzz"]), call())
    assert out.choices[0].message.content == "one two "
    assert out.choices[0].finish_reason == "stop"
    out = provider.parse_chat(answer("one two three", "length"), req(stop="END"), call())
    assert out.choices[0].message.content == "one two three" and out.choices[0].finish_reason == "length"


def test_parse_chat_content_filter_kept() -> None:
    assert (
        provider.parse_chat(answer("", "content_filter"), req(), call()).choices[0].finish_reason
        == "content_filter"
    )


# ---- streams: the emulator's bytes, cut at every boundary ------------------------------------------------
async def emulator_bytes(body: dict[str, Any], headers: dict[str, str] | None = None) -> bytes:
    from qiao.emulators.baichuan import DEFAULT_CREDENTIAL, create_app

    app = create_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emu") as client:
        r = await client.post(
            "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {DEFAULT_CREDENTIAL}", **(headers or {})},
        )
        assert r.status_code == 200, r.text
        return r.content


def replay(raw: bytes, r: ChatRequest, sizes: list[int]) -> tuple[bytes, StreamState]:
    dec = SSEDecoder()
    state = StreamState(call(stream=True), r)
    asm = StreamAssembler("chatcmpl-x", 1, "gpt-4o", True)
    out = b""
    pos = 0
    for n in sizes:
        piece, pos = raw[pos : pos + n], pos + n
        for ev in dec.feed(piece):
            for ch in provider.parse_event(ev, state):
                out += asm.feed(ch)
        if pos >= len(raw):
            break
    for ev in dec.close():
        for ch in provider.parse_event(ev, state):
            out += asm.feed(ch)
    assert state.done
    return out + asm.finish(None), state


def frames(sse: bytes) -> list[Any]:
    out = []
    for block in sse.decode().split("\n\n"):
        if block:
            assert block.startswith("data: ")
            data = block[6:]
            out.append(data if data == "[DONE]" else orjson.loads(data))
    return out


def cuts(raw: bytes, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[1] * len(raw), [len(raw)], [rng.randint(1, 40) for _ in range(len(raw))]]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_text_stream_at_every_boundary(seed: int) -> None:
    body = {
        "model": "Baichuan4",
        "messages": [{"role": "user", "content": "写一首关于长江的诗"}],
        "stream": True,
    }
    raw = await emulator_bytes(body)
    assert raw.startswith(b"data:{") and raw.endswith(b"data: [DONE]\n\n")
    results = [replay(raw, req(**body), sizes) for sizes in cuts(raw, seed)]
    assert all(r[0] == results[0][0] for r in results)
    fs = frames(results[0][0])
    assert fs[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    text = "".join(f["choices"][0]["delta"].get("content", "") for f in fs[1:-2] if f["choices"])
    assert text.startswith("您说：写一首关于长江的诗")
    assert fs[-3]["choices"][0]["finish_reason"] == "stop"
    assert fs[-2]["choices"] == [] and fs[-2]["usage"]["completion_tokens"] > 0
    assert fs[-1] == "[DONE]"
    assert results[0][1].usage is None  # usage came through the chunk, not estimated
    assert fs[-2]["usage"]["prompt_tokens"] > 0


async def test_tool_call_stream() -> None:
    body = {
        "model": "Baichuan4",
        "stream": True,
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": "weather in Beijing? get_weather"}],
    }
    raw = await emulator_bytes(body)
    for sizes in cuts(raw, 7):
        out, _ = replay(raw, req(**body), sizes)
        fs = frames(out)
        tc = [
            f["choices"][0]["delta"]["tool_calls"][0]
            for f in fs[:-1]
            if f["choices"] and "tool_calls" in f["choices"][0]["delta"]
        ]
        assert tc[0]["function"]["name"] == "get_weather" and tc[0]["id"] and tc[0]["type"] == "function"
        assert orjson.loads(tc[0]["function"]["arguments"])["city"]
        finishes = [f["choices"][0]["finish_reason"] for f in fs[:-1] if f["choices"]]
        assert finishes[-1] == "tool_calls"


async def test_filtered_midway_stream_ends_with_content_filter() -> None:
    body = {
        "model": "Baichuan4",
        "stream": True,
        "messages": [{"role": "user", "content": "tell a long story"}],
    }
    raw = await emulator_bytes(body, {"X-Emulator-Scenario": "filtered_midway"})
    out, _ = replay(raw, req(**body), [7] * len(raw))
    fs = frames(out)
    assert fs[-3]["choices"][0]["finish_reason"] == "content_filter"


def sse(*chunks: dict[str, Any]) -> bytes:
    return b"".join(b"data:" + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def chunk(content: str, finish: str = "", usage: dict[str, int] | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "Baichuan4",
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": finish}
        ],
    }
    if usage:
        c["usage"] = usage
    return c


@pytest.mark.parametrize("sizes", [[1], [3], [1000]])
def test_stream_stop_enforced_across_deltas(sizes: list[int]) -> None:
    raw = sse(
        chunk("alpha be"),
        chunk("ta ST"),
        chunk("OP gamma"),
        chunk(" delta", "stop", {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}),
    )
    r = req(stop=["STOP"], stream=True, stream_options={"include_usage": True})
    out, _ = replay(raw, r, sizes * len(raw))
    fs = frames(out)
    text = "".join(f["choices"][0]["delta"].get("content", "") for f in fs if f != "[DONE]" and f["choices"])
    assert text == "alpha beta "
    finishes = [f["choices"][0]["finish_reason"] for f in fs if f != "[DONE]" and f["choices"]]
    assert finishes.count("stop") == 1
    assert fs[-2]["usage"]["completion_tokens"] == 9


def test_stream_held_prefix_released_at_end() -> None:
    raw = sse(
        chunk("ends with ST"),
        chunk("", "length", {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}),
    )
    out, _ = replay(raw, req(stop=["STOP"]), [1000])
    fs = frames(out)
    text = "".join(f["choices"][0]["delta"].get("content", "") for f in fs if f != "[DONE]" and f["choices"])
    assert text == "ends with ST"
    assert fs[-3]["choices"][0]["finish_reason"] == "length"


def test_stream_held_prefix_released_at_done_without_finish_reason() -> None:
    raw = sse(chunk("ends with ST"))
    out, _ = replay(raw, req(stop=["STOP"]), [1000])
    fs = frames(out)
    text = "".join(f["choices"][0]["delta"].get("content", "") for f in fs if f != "[DONE]" and f["choices"])
    assert text == "ends with ST"


def test_quota_word_alone_is_a_rate_limit() -> None:
    e = provider.classify(err(429, "rate_limit_reached", "TPM quota exceeded, slow down"), call())
    assert isinstance(e, RateLimited)


def test_error_event_in_stream_is_classified() -> None:
    state = StreamState(call(stream=True), req())
    ev = SSEEvent(
        orjson.dumps(
            {
                "error": {
                    "code": "insufficient_quota",
                    "type": "insufficient_quota",
                    "message": "Insufficient account balance, please recharge",
                }
            }
        ).decode()
    )
    with pytest.raises(InsufficientQuota):
        provider.parse_event(ev, state)


# ---- classify --------------------------------------------------------------------------------------------
def err(
    status: int, type_: str, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> WireResponse:
    return WireResponse(
        status,
        headers or {},
        orjson.dumps({"error": {"code": code or type_, "message": message, "param": None, "type": type_}}),
    )


@pytest.mark.parametrize(
    ("resp", "cls"),
    [
        (err(401, "invalid_api_key", "Incorrect API key provided"), AuthenticationFailed),
        (err(401, "invalid_authentication", "Invalid Authentication"), AuthenticationFailed),
        (err(401, "api_key_empty", "no key"), AuthenticationFailed),
        (err(429, "rate_limit_reached", "Rate limit reached for requests"), RateLimited),
        (err(429, "insufficient_quota", "Insufficient account balance, please recharge"), InsufficientQuota),
        (err(429, "", "Insufficient account balance, please recharge", code=""), InsufficientQuota),
        (err(429, "", "账户余额不足", code=""), InsufficientQuota),
        (err(429, "", "Rate limit reached for requests", code=""), RateLimited),
        (err(500, "internal_server_error", "Internal Server Error"), UpstreamError),
        (err(503, "server_overloaded", "overloaded"), ServiceUnavailable),
        (err(400, "invalid_request_error", "temperature must be in [0, 1]"), InvalidRequest),
        (err(404, "invalid_request_error", "Model not found: X", code="model_not_found"), ModelNotFound),
        (
            err(400, "invalid_request_error", "Input length exceeds the model's maximum context length"),
            ContextLengthExceeded,
        ),
        (err(400, "content_filter", "sensitive content"), ContentFiltered),
        (WireResponse(502, {}, b"<html>bad gateway</html>"), UpstreamError),
    ],
)
def test_classify(resp: WireResponse, cls: type[Exception]) -> None:
    e = provider.classify(resp, call())
    assert type(e) is cls
    assert e is not None and e.provider == "baichuan" and "baichuan" in e.message


def test_rate_limit_retry_after_and_retryability() -> None:
    rl = provider.classify(
        err(429, "rate_limit_reached", "Rate limit reached", headers={"retry-after": "3"}), call()
    )
    assert isinstance(rl, RateLimited) and rl.retry_after == 3 and rl.retryable
    q = provider.classify(err(429, "insufficient_quota", "Insufficient account balance"), call())
    assert isinstance(q, InsufficientQuota) and not q.retryable


def test_error_in_200_body_and_success() -> None:
    assert isinstance(provider.classify(err(200, "invalid_request_error", "bad"), call()), InvalidRequest)
    assert provider.classify(answer("ok"), call()) is None


def test_error_message_never_leaks_key() -> None:
    e = provider.classify(err(401, "invalid_api_key", f"Incorrect API key provided: {KEY}"), call())
    assert e is not None and KEY not in e.message and KEY not in (e.excerpt or "")


# ---- auth ------------------------------------------------------------------------------------------------
async def fetch(w: WireRequest) -> WireResponse:  # never called: Baichuan has no token endpoint
    raise AssertionError("no token endpoint")


async def test_bearer_auth() -> None:
    wire = await provider.auth.apply(provider.build_chat(req(), call()), ACCOUNT, fetch)
    assert wire.headers["Authorization"] == f"Bearer {KEY}"


async def test_legacy_key_pair_refused_without_leaking() -> None:
    legacy = Account("baichuan", "baichuan", "ak-123456:secretsecret", "http://x/v1")
    with pytest.raises(AuthenticationFailed) as ei:
        await provider.auth.apply(provider.build_chat(req(), call()), legacy, fetch)
    assert "secretsecret" not in ei.value.message and "legacy" in ei.value.message


# ---- embeddings ------------------------------------------------------------------------------------------
def test_embeddings_build_and_parse() -> None:
    c = call("Baichuan-Text-Embedding")
    wire = provider.build_embeddings(
        EmbeddingRequest(model="x", input=["a", "b"], dimensions=256, encoding_format="base64"), ["a", "b"], c
    )
    assert wire.url.endswith("/v1/embeddings")
    assert orjson.loads(wire.body or b"") == {"model": "Baichuan-Text-Embedding", "input": ["a", "b"]}
    resp = WireResponse(
        200,
        {},
        orjson.dumps(
            {
                "object": "list",
                "model": "Baichuan-Text-Embedding",
                "data": [
                    {"object": "embedding", "index": 1, "embedding": [0.0, 1.0]},
                    {"object": "embedding", "index": 0, "embedding": [1.0, 0.0]},
                ],
                "usage": {"prompt_tokens": 2, "total_tokens": 2},
            }
        ),
    )
    res = provider.parse_embeddings(resp, c)
    assert res.vectors == [[1.0, 0.0], [0.0, 1.0]] and res.usage.prompt_tokens == 2
