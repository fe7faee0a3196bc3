"""Parameters a provider cannot honour: 400 naming them, or dropped (and named) with drop_params."""

from __future__ import annotations

import pytest

from qiao.catalogue import Capabilities, ModelSpec
from qiao.errors import ContextLengthExceeded, UnsupportedParameter
from qiao.gateway.params import apply_param_policy, check_context, fits_cheaply, unsupported_params
from qiao.providers.base import Provider
from qiao.types import ChatRequest


class Strict(Provider):
    name = "strict"
    unsupported = frozenset({"logit_bias", "seed"})
    native_extras = frozenset({"top_k"})


SPEC = ModelSpec(
    "m", context=1000, caps=Capabilities(tools=False, json_mode=True, vision=False), max_output=500
)
MSG = [{"role": "user", "content": "hi"}]


def req(**kw: object) -> ChatRequest:
    return ChatRequest.from_raw({"model": "m", "messages": MSG, **kw})


def test_nothing_unsupported() -> None:
    r = req(temperature=0.5, top_k=3, user="u", n=1)
    assert unsupported_params(r, Strict(), SPEC) == []
    assert apply_param_policy(r, Strict(), SPEC, False, "strict/m") is r


@pytest.mark.parametrize(
    "kw,name",
    [
        ({"logit_bias": {"1": 2}}, "logit_bias"),
        ({"seed": 7}, "seed"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"n": 2}, "n"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}},
            "response_format",
        ),
    ],
)
def test_rejected_with_param(kw: dict[str, object], name: str) -> None:
    with pytest.raises(UnsupportedParameter) as ei:
        apply_param_policy(req(**kw), Strict(), SPEC, False, "strict/m")
    assert ei.value.param == name and ei.value.status == 400 and ei.value.code == "unsupported_parameter"


def test_json_mode_allowed_by_caps() -> None:
    assert unsupported_params(req(response_format={"type": "json_object"}), Strict(), SPEC) == []


def test_dropped_when_route_allows_and_original_untouched() -> None:
    r = req(seed=7, logit_bias={"1": 2}, temperature=0.2)
    out = apply_param_policy(r, Strict(), SPEC, True, "strict/m")
    assert out is not r
    assert set(out.dropped) == {"seed", "logit_bias"}
    assert out.seed is None and out.logit_bias is None and out.temperature == 0.2
    raw = out.raw_body()
    assert raw is not None and "seed" not in raw and "logit_bias" not in raw
    assert r.seed == 7 and r.raw_body() is not None and "seed" in r.raw_body()  # type: ignore[operator]


def test_images_refused_even_with_drop() -> None:
    r = ChatRequest.from_raw(
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    ],
                }
            ],
        }
    )
    with pytest.raises(UnsupportedParameter) as ei:
        apply_param_policy(r, Strict(), SPEC, True, "strict/m")
    assert ei.value.param == "messages"


def test_context_checks() -> None:
    assert fits_cheaply(req(max_tokens=100), SPEC)
    big = req(messages=[{"role": "user", "content": "word " * 2000}], max_tokens=10)
    assert not fits_cheaply(big, SPEC)
    with pytest.raises(ContextLengthExceeded):
        check_context(big, SPEC)
    with pytest.raises(UnsupportedParameter) as ei:
        fits_cheaply(req(max_tokens=501), SPEC)
    assert ei.value.param == "max_tokens"


def test_all_providers_failed_answers_with_last_status() -> None:
    from qiao.errors import AllProvidersFailed, ContextLengthExceeded, UpstreamError

    err = AllProvidersFailed([UpstreamError("a", provider="p1"), ContextLengthExceeded("b", provider="p2")])
    assert err.status == 400 and err.code == "context_length_exceeded"
    assert err.to_openai()["error"]["type"] == "invalid_request_error"
    assert "p1: a" in err.message and "p2: b" in err.message


async def test_chat_on_an_embedding_model_is_a_clear_400() -> None:
    from qiao.config import Settings
    from qiao.errors import InvalidRequest
    from qiao.gateway.pipeline import Gateway, RequestContext

    gw = Gateway(Settings.model_validate({"accounts": [{"provider": "zhipu", "credential": "a.b"}]}))
    with pytest.raises(InvalidRequest) as ei:
        await gw.chat(
            ChatRequest.from_raw({"model": "zhipu/embedding-3", "messages": MSG}), RequestContext("r", None)
        )
    assert ei.value.code == "model_not_supported" and ei.value.param == "model"
    await gw.aclose()


@pytest.mark.parametrize(
    "kw",
    [{}, {"stream": False}, {"user": "u", "store": True}, {"service_tier": "x", "prompt_cache_key": "k"}],
)
def test_plain_harmless_short_cut_agrees(kw: dict[str, object]) -> None:
    """apply_param_policy's short cut for a plain request of harmless parameters agrees with
    unsupported_params, even for a provider refusing them all on a model without capabilities."""

    class Refuses(Provider):
        name = "refuses"
        unsupported = frozenset({"stream", "user", "store", "service_tier", "prompt_cache_key", "n"})

    bare = ModelSpec(
        "m", context=1000, caps=Capabilities(tools=False, json_mode=False, vision=False, n=False)
    )
    r = req(**kw)
    assert r.plain_bytes is not None
    assert unsupported_params(r, Refuses(), bare) == []
    assert apply_param_policy(r, Refuses(), bare, False, "refuses/m") is r
