"""Ark: endpoint ids (catalogue model → ep id by account option, ep ids as models), thinking, moderation,
explicit nulls, error codes."""

from __future__ import annotations

import orjson
import pytest

from qiao.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    ModelNotFound,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
)
from qiao.providers.ark import provider
from qiao.types import EmbeddingRequest

from .cn_compat_helpers import as_wire, cuts, emulator_post, make_call, replay, req, via_provider

S = "ark"
M = "doubao-seed-1-6-251015"
EP = "ep-20250612103045-abcde"


def test_catalogue_model_sent_as_the_accounts_endpoint() -> None:
    call = make_call(S, M, options={"endpoints": {M: EP}})
    w = provider.build_chat(req(model="gpt-4o", messages=[{"role": "user", "content": "x"}]), call)
    assert orjson.loads(w.body or b"")["model"] == EP
    plain = provider.build_chat(req(model="x", messages=[{"role": "user", "content": "x"}]), make_call(S, M))
    assert orjson.loads(plain.body or b"")["model"] == M
    e = provider.build_embeddings(
        EmbeddingRequest(model="e", input="x"),
        ["x"],
        make_call(
            S, "doubao-embedding-text-240715", options={"endpoints": {"doubao-embedding-text-240715": EP}}
        ),
    )
    assert orjson.loads(e.body or b"")["model"] == EP


def test_endpoint_ids_are_models() -> None:
    spec = provider.spec(EP)
    assert spec is not None and spec.id == EP and spec.price is None and spec.caps.reasoning
    assert provider.spec("doubao-nope") is None


async def test_endpoint_chat_thinking_stream_at_every_boundary() -> None:
    msgs = [{"role": "user", "content": "讲讲火山"}]
    body = {"model": EP, "messages": msgs, "stream": True, "stream_options": {"include_usage": True}}
    raw = (await emulator_post(S, "/chat/completions", body)).content
    for pieces in cuts(raw):
        rp = replay(S, EP, raw, pieces, req(**body))
        assert rp.state.done and rp.finishes == ["stop"] and rp.reasoning[0] and rp.text[0]
        assert rp.usage is not None and rp.usage.completion_tokens > 0


async def test_thinking_disabled_and_explicit_nulls_accepted() -> None:
    body = {
        "model": M,
        "messages": [{"role": "user", "content": "hi"}],
        "thinking": {"type": "disabled"},
        "stream": None,
        "tools": None,
        "temperature": None,
        "stream_options": None,
    }
    r = await emulator_post(S, "/chat/completions", body)
    assert r.status_code == 200 and "reasoning_content" not in r.json()["choices"][0]["message"]
    bad = await emulator_post(S, "/chat/completions", {**body, "thinking": {"type": "maybe"}})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "BadRequest"


async def test_output_moderation_finishes_with_content_filter() -> None:
    msgs = [{"role": "user", "content": "a long answer please [[emulate:filtered_midway]]"}]
    raw = (await via_provider(S, M, True, messages=msgs)).content
    assert b"moderation_hit_type" in raw
    rp = replay(S, M, raw, [raw], req(model=M, messages=msgs, stream=True))
    assert rp.finishes == ["content_filter"] and rp.state.done


@pytest.mark.parametrize(
    ("scenario", "cls", "status"),
    [
        ("rate_limited", RateLimited, 429),
        ("insufficient_quota", InsufficientQuota, 403),
        ("filtered", ContentFiltered, 400),
        ("bad_key", AuthenticationFailed, 401),
        ("server_error", UpstreamError, 500),
        ("overloaded", ServiceUnavailable, 429),
    ],
)
async def test_error_families(scenario: str, cls: type[QiaoError], status: int) -> None:
    r = await via_provider(S, M, messages=[{"role": "user", "content": f"[[emulate:{scenario}]]"}])
    assert r.status_code == status and "Request id" in r.json()["error"]["message"]
    assert type(provider.classify(as_wire(r), make_call(S, M))) is cls


async def test_unknown_model_and_context() -> None:
    r = await emulator_post(
        S, "/chat/completions", {"model": "doubao-x", "messages": [{"role": "user", "content": "x"}]}
    )
    assert type(provider.classify(as_wire(r), make_call(S, M))) is ModelNotFound
    r = await via_provider(S, "doubao-1-5-pro-32k-250115", max_tokens=32_767)
    assert type(provider.classify(as_wire(r), make_call(S, M))) is ContextLengthExceeded


async def test_stream_usage_reports_reasoning_tokens() -> None:
    msgs = [{"role": "user", "content": "why is the sky blue"}]
    body = {"model": M, "messages": msgs, "stream": True, "stream_options": {"include_usage": True}}
    raw = (await emulator_post(S, "/chat/completions", body)).content
    rp = replay(S, M, raw, [raw], req(**body))
    assert rp.usage is not None and rp.usage.reasoning_tokens > 0


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (404, "InvalidEndpointOrModel.ModelIDAccessDisabled", ModelNotFound),
        (400, "OutputTextSensitiveContentDetected", ContentFiltered),
        (400, "SensitiveContentDetected.SevereViolation", ContentFiltered),
        (429, "RateLimitExceeded.EndpointTPMExceeded", RateLimited),
        (403, "AccountOverdueError", InsufficientQuota),
        (401, "AuthenticationError", AuthenticationFailed),
    ],
)
def test_classify_codes(status: int, code: str, cls: type[QiaoError]) -> None:
    from qiao.providers.base import WireResponse

    body = orjson.dumps(
        {"error": {"code": code, "message": "m Request id: x", "param": "", "type": "BadRequest"}}
    )
    err = provider.classify(WireResponse(status, {}, body), make_call(S, M))
    assert type(err) is cls and err.vendor_code == code
