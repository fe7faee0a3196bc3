"""Qwen compatible mode: open-interval clamping, parallel_tool_calls default, thinking, mid-stream
content-safety frame → clean content_filter ending, error codes, embeddings batch."""

from __future__ import annotations

import pytest

from qiao.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    InvalidRequest,
    ModelNotFound,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
)
from qiao.providers.base import WireResponse
from qiao.providers.qwen import provider
from qiao.types import EmbeddingRequest

from .cn_compat_helpers import (
    TOOLS,
    as_wire,
    cuts,
    emulator_post,
    make_call,
    replay,
    req,
    via_provider,
    wire_body,
)

S = "qwen"
M = "qwen-plus"


@pytest.mark.parametrize(
    ("field", "value", "sent"),
    [("temperature", 2, 1.99), ("temperature", 0.7, 0.7), ("top_p", 0, 0.01), ("top_p", 1, 1)],
)
def test_open_bounds(field: str, value: float, sent: float) -> None:
    assert wire_body(S, M, **{field: value})[field] == sent


def test_parallel_tool_calls_default_and_extras() -> None:
    assert wire_body(S, M, tools=TOOLS)["parallel_tool_calls"] is True
    assert wire_body(S, M, tools=TOOLS, parallel_tool_calls=False)["parallel_tool_calls"] is False
    assert "parallel_tool_calls" not in wire_body(S, M)
    b = wire_body(S, M, True, enable_thinking=True, top_k=20)
    assert b["enable_thinking"] is True and b["top_k"] == 20
    assert provider.base_url(make_call(S, M).account).endswith("/compatible-mode/v1")


async def test_clamped_values_are_accepted_by_the_emulator() -> None:
    r = await via_provider(S, M, temperature=2, top_p=0)
    assert r.status_code == 200
    raw = {"model": M, "messages": [{"role": "user", "content": "x"}], "temperature": 2}
    assert (await emulator_post(S, "/chat/completions", raw)).status_code == 400


async def test_thinking_stream_reasoning_at_every_boundary() -> None:
    msgs = [{"role": "user", "content": "为什么天空是蓝色的？"}]
    resp = await via_provider(S, M, True, messages=msgs, enable_thinking=True)
    raw = resp.content
    r = req(model=M, messages=msgs, stream=True)
    for pieces in cuts(raw):
        rp = replay(S, M, raw, pieces, r)
        assert rp.state.done and rp.finishes == ["stop"]
        assert rp.reasoning[0] and rp.text[0] and rp.reasoning[0] not in rp.text[0]
        assert rp.usage is not None and rp.usage.completion_tokens > 0


async def test_thinking_without_stream_is_refused_with_a_clear_message() -> None:
    r = await via_provider(S, M, enable_thinking=True)
    err = provider.classify(as_wire(r), make_call(S, M))
    assert isinstance(err, InvalidRequest) and "non-streaming" in err.message


async def test_output_moderation_mid_stream_raises_content_filtered() -> None:
    msgs = [{"role": "user", "content": "tell me a long story [[emulate:filtered_midway]]"}]
    raw = (await via_provider(S, M, True, messages=msgs)).content
    assert b"data_inspection_failed" in raw and b"[DONE]" not in raw
    for pieces in cuts(raw):
        rp = replay(S, M, raw, pieces, req(model=M, messages=msgs, stream=True))
        assert rp.finishes == ["content_filter"] and rp.state.done and rp.text[0]


def test_moderation_frame_before_any_content_is_a_400() -> None:
    from qiao.providers.base import SSEEvent, StreamState

    state = StreamState(make_call(S, M, True), req(model=M, messages=[{"role": "user", "content": "x"}]))
    frame = '{"error":{"message":"Output data may contain inappropriate content.","type":"data_inspection_failed","code":"data_inspection_failed"}}'
    with pytest.raises(ContentFiltered):
        provider.parse_event(SSEEvent(frame), state)


@pytest.mark.parametrize(
    ("scenario", "cls"),
    [
        ("rate_limited", RateLimited),
        ("insufficient_quota", InsufficientQuota),
        ("filtered", ContentFiltered),
        ("bad_key", AuthenticationFailed),
        ("server_error", UpstreamError),
        ("overloaded", ServiceUnavailable),
    ],
)
async def test_error_families(scenario: str, cls: type[QiaoError]) -> None:
    r = await via_provider(S, M, messages=[{"role": "user", "content": f"[[emulate:{scenario}]]"}])
    assert "request_id" in r.json()
    err = provider.classify(as_wire(r), make_call(S, M))
    assert type(err) is cls and "qwen" in err.message


@pytest.mark.parametrize(
    ("status", "code", "message", "cls"),
    [
        (
            429,
            "insufficient_quota",
            "Allocated quota exceeded, please increase your quota limit.",
            RateLimited,
        ),
        (429, "insufficient_quota", "Free allocated quota exceeded.", InsufficientQuota),
        (
            400,
            "invalid_parameter_error",
            "Range of input length should be [1, 129024]",
            ContextLengthExceeded,
        ),
        (
            404,
            "model_not_supported",
            "Unsupported model `qwen-audio-turbo` for OpenAI compatibility mode.",
            ModelNotFound,
        ),
        (429, "PrepaidBillOverdue", "bill overdue", InsufficientQuota),
    ],
)
def test_classify_codes(status: int, code: str, message: str, cls: type[QiaoError]) -> None:
    import orjson

    body = orjson.dumps({"error": {"code": code, "message": message, "type": code}, "request_id": "r"})
    assert type(provider.classify(WireResponse(status, {}, body), make_call(S, M))) is cls


async def test_native_only_model_is_404() -> None:
    r = await emulator_post(
        S, "/chat/completions", {"model": "qwen-audio-turbo", "messages": [{"role": "user", "content": "x"}]}
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_supported"


async def test_embeddings_batch_and_dimensions() -> None:
    spec = provider.spec("text-embedding-v4")
    assert spec is not None and spec.embedding_batch == 10
    call = make_call(S, "text-embedding-v4")
    w = provider.build_embeddings(
        EmbeddingRequest(model="e", input=["a", "b"], dimensions=256), ["a", "b"], call
    )
    import orjson

    r = await emulator_post(S, "/embeddings", orjson.loads(w.body or b""))
    res = provider.parse_embeddings(as_wire(r), call)
    assert len(res.vectors) == 2 and len(res.vectors[0]) == 256
    too_many = await emulator_post(S, "/embeddings", {"model": "text-embedding-v4", "input": ["x"] * 11})
    assert too_many.status_code == 400
