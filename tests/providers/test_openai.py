"""OpenAI: catalogue in USD, reasoning-model translation (``max_completion_tokens``, default sampling only,
``reasoning_effort`` per model), ``developer`` forwarded, organisation/project headers, error classes."""

from __future__ import annotations

import asyncio

import pytest

from qiao.errors import ContentFiltered, InsufficientQuota, RateLimited, UnsupportedParameter
from qiao.providers.openai import MODELS, provider
from tests.providers._compat_helpers import body_of, call_for, req, resp


def test_catalogue_prices_in_usd_with_dates_and_sources() -> None:
    ids = {m.id for m in MODELS}
    assert {"gpt-4o", "gpt-4o-mini", "o3", "o4-mini", "gpt-5", "text-embedding-3-small"} <= ids
    for m in MODELS:
        assert m.price is not None and m.price.currency == "USD"
        assert m.price.since and m.price.source.startswith("https://")
    o3 = provider.spec("o3")
    assert o3 is not None and o3.caps.reasoning and o3.price is not None
    assert o3.price.cost_micros(1_000_000, 1_000_000) == 10_000_000  # $2 + $8
    emb = provider.spec("text-embedding-3-small")
    assert emb is not None and emb.dimensions == 1536 and emb.caps.embeddings and not emb.caps.chat


def test_reasoning_model_translation() -> None:
    call = call_for("openai", "o3")
    b = body_of(
        "openai", req(model="o3", max_tokens=100, temperature=1, top_p=1, reasoning_effort="high"), call
    )
    assert b["max_completion_tokens"] == 100 and "max_tokens" not in b
    assert "temperature" not in b and "top_p" not in b and b["reasoning_effort"] == "high"
    b = body_of("openai", req(model="o3", max_tokens=100, max_completion_tokens=50), call)
    assert b["max_completion_tokens"] == 50
    for bad in ({"temperature": 0.2}, {"top_p": 0.5}, {"presence_penalty": 1}, {"logprobs": True}):
        with pytest.raises(UnsupportedParameter) as exc:
            body_of("openai", req(model="o3", **bad), call)
        assert exc.value.param == next(iter(bad))
    with pytest.raises(UnsupportedParameter):
        body_of("openai", req(model="o3", reasoning_effort="minimal"), call)
    assert body_of("openai", req(model="gpt-5", reasoning_effort="minimal"), call_for("openai", "gpt-5"))


def test_non_reasoning_models_keep_sampling_and_refuse_effort() -> None:
    call = call_for("openai", "gpt-4o")
    b = body_of(
        "openai",
        req(model="gpt-4o", max_tokens=10, temperature=0.3, messages=[{"role": "developer", "content": "x"}]),
        call,
    )
    assert b["max_tokens"] == 10 and b["temperature"] == 0.3 and b["messages"][0]["role"] == "developer"
    with pytest.raises(UnsupportedParameter):
        body_of("openai", req(model="gpt-4o", reasoning_effort="low"), call)


def test_headers_and_auth() -> None:
    call = call_for(
        "openai",
        "gpt-4o",
        credential="sk-test-123456",
        options={"organization": "org-1", "project": "proj_2"},
    )
    w = provider.build_chat(req(model="gpt-4o"), call)
    w = asyncio.run(provider.auth.apply(w, call.account, None))  # type: ignore[arg-type]
    assert w.headers["Authorization"] == "Bearer sk-test-123456"
    assert w.headers["OpenAI-Organization"] == "org-1" and w.headers["OpenAI-Project"] == "proj_2"
    assert w.url == "http://emu/v1/chat/completions"


def test_error_classes() -> None:
    call = call_for("openai", "gpt-4o")
    rl = provider.classify(
        resp(
            429,
            {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}},
            {"retry-after": "3"},
        ),
        call,
    )
    assert isinstance(rl, RateLimited) and rl.retry_after == 3 and rl.retryable
    q = provider.classify(
        resp(
            429, {"error": {"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"}}
        ),
        call,
    )
    assert isinstance(q, InsufficientQuota) and not q.retryable
    f = provider.classify(
        resp(
            400,
            {
                "error": {
                    "message": "Invalid prompt",
                    "type": "invalid_request_error",
                    "code": "invalid_prompt",
                }
            },
        ),
        call,
    )
    assert isinstance(f, ContentFiltered)
