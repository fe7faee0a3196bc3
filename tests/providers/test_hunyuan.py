"""Hunyuan (OpenAI-compatible endpoint): native extras, reasoning_content stripped from history,
Tencent error codes, `sensitive` finish, embeddings."""

from __future__ import annotations

import orjson
import pytest

from qiao.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    ModelNotFound,
    PermissionDenied,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
)
from qiao.providers.hunyuan import provider
from qiao.types import EmbeddingRequest

from .cn_compat_helpers import as_wire, cuts, emulator_post, make_call, replay, req, via_provider, wire_body

S = "hunyuan"
M = "hunyuan-turbos-latest"


def test_extras_forwarded_and_reasoning_stripped() -> None:
    msgs = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "reasoning_content": "thought"},
        {"role": "user", "content": "q2"},
    ]
    b = wire_body(S, M, messages=msgs, enable_enhancement=True, citation=True)
    assert b["enable_enhancement"] is True and b["citation"] is True
    assert all("reasoning_content" not in m for m in b["messages"])
    assert "n" in provider.unsupported and "presence_penalty" in provider.unsupported


async def test_emulator_rejects_reasoning_content_history() -> None:
    msgs = [{"role": "assistant", "content": "a", "reasoning_content": "t"}, {"role": "user", "content": "q"}]
    assert (await emulator_post(S, "/chat/completions", {"model": M, "messages": msgs})).status_code == 400
    assert (await via_provider(S, M, messages=msgs)).status_code == 200


async def test_t1_reasoning_stream_at_every_boundary() -> None:
    msgs = [{"role": "user", "content": "解释一下量子纠缠"}]
    raw = (await via_provider(S, "hunyuan-t1-latest", True, messages=msgs)).content
    for pieces in cuts(raw):
        rp = replay(
            S, "hunyuan-t1-latest", raw, pieces, req(model="hunyuan-t1-latest", messages=msgs, stream=True)
        )
        assert rp.state.done and rp.finishes == ["stop"] and rp.reasoning[0] and rp.text[0]


async def test_sensitive_finish_is_content_filter() -> None:
    msgs = [{"role": "user", "content": "long story [[emulate:filtered_midway]]"}]
    raw = (await via_provider(S, M, True, messages=msgs)).content
    assert b'"sensitive"' in raw
    assert replay(S, M, raw, [raw], req(model=M, messages=msgs, stream=True)).finishes == ["content_filter"]


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
    assert type(provider.classify(as_wire(r), make_call(S, M))) is cls


async def test_unknown_model_and_embeddings() -> None:
    r = await emulator_post(
        S, "/chat/completions", {"model": "hunyuan-x", "messages": [{"role": "user", "content": "x"}]}
    )
    assert type(provider.classify(as_wire(r), make_call(S, M))) is ModelNotFound
    call = make_call(S, "hunyuan-embedding")
    w = provider.build_embeddings(EmbeddingRequest(model="e", input=["a"]), ["a"], call)
    res = provider.parse_embeddings(
        as_wire(await emulator_post(S, "/embeddings", orjson.loads(w.body or b""))), call
    )
    assert len(res.vectors[0]) == 1024


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("ResourceUnavailable.LowBalance", InsufficientQuota),
        ("FailedOperation.FreeResourcePackExhausted", InsufficientQuota),
        ("FailedOperation.ServiceNotActivated", PermissionDenied),
        ("OperationDenied.ImageIllegalDetected", ContentFiltered),
        ("AuthFailure.SignatureExpire", AuthenticationFailed),
        ("InvalidParameterValue.ContextLengthExceeded", ContextLengthExceeded),
    ],
)
def test_classify_tencent_codes(code: str, cls: type[QiaoError]) -> None:
    from qiao.providers.base import WireResponse

    body = orjson.dumps(
        {"error": {"code": code, "message": "m", "type": "invalid_request_error", "param": None}}
    )
    assert type(provider.classify(WireResponse(400, {}, body), make_call(S, M))) is cls
