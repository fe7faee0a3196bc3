"""Moonshot/Kimi: temperature bound, fixed sampling on kimi-k2.6, usage inside the choice, errors
without a code, reasoning round trip."""

from __future__ import annotations

import orjson
import pytest

from qiao.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UnsupportedParameter,
    UpstreamError,
)
from qiao.providers.moonshot import provider

from .cn_compat_helpers import as_wire, cuts, emulator_post, make_call, replay, req, via_provider, wire_body

S = "moonshot"


def test_temperature_clamped_to_one() -> None:
    assert wire_body(S, "moonshot-v1-8k", temperature=1.7)["temperature"] == 1.0
    assert wire_body(S, "moonshot-v1-8k", temperature=0.4)["temperature"] == 0.4


@pytest.mark.parametrize(
    ("field", "value"), [("temperature", 0.2), ("top_p", 0.5), ("n", 2), ("presence_penalty", 1)]
)
def test_fixed_sampling_refused_on_k2_6(field: str, value: float) -> None:
    with pytest.raises(UnsupportedParameter) as ei:
        wire_body(S, "kimi-k2.6", **{field: value})
    assert ei.value.param == field


def test_fixed_values_are_dropped_not_refused() -> None:
    b = wire_body(S, "kimi-k2.6", temperature=1, top_p=0.95)
    assert "temperature" not in b and "top_p" not in b
    b = wire_body(S, "kimi-k2.6", temperature=0.6, thinking={"type": "disabled"})
    assert "temperature" not in b and b["thinking"] == {"type": "disabled"}


async def test_emulator_enforces_the_same_rules() -> None:
    base = {"model": "kimi-k2.6", "messages": [{"role": "user", "content": "x"}]}
    assert (await emulator_post(S, "/chat/completions", {**base, "temperature": 0.3})).status_code == 400
    assert (await emulator_post(S, "/chat/completions", {**base, "temperature": 1})).status_code == 200
    v1 = {"model": "moonshot-v1-8k", "messages": [{"role": "user", "content": "x"}]}
    assert (await emulator_post(S, "/chat/completions", {**v1, "temperature": 1.5})).status_code == 400
    assert (await via_provider(S, "moonshot-v1-8k", temperature=1.5)).status_code == 200


@pytest.mark.parametrize("model", ["moonshot-v1-8k", "kimi-k2.6"])
async def test_stream_usage_in_choice_or_top_level(model: str) -> None:
    msgs = [{"role": "user", "content": "介绍一下月之暗面"}]
    plain = (await via_provider(S, model, messages=msgs)).json()
    raw = (await via_provider(S, model, True, messages=msgs)).content
    if model.startswith("moonshot"):
        assert b'"usage":{' in raw and orjson.loads(raw.split(b"data: ")[-2])["choices"][0]["usage"]
    for pieces in cuts(raw):
        rp = replay(S, model, raw, pieces, req(model=model, messages=msgs, stream=True))
        assert rp.state.done and rp.finishes == ["stop"]
        assert rp.text[0] == plain["choices"][0]["message"]["content"]
        assert rp.usage is not None and rp.usage.completion_tokens == plain["usage"]["completion_tokens"]
        if model == "kimi-k2.6":
            assert rp.reasoning[0] == plain["choices"][0]["message"]["reasoning_content"]


def test_cached_tokens_top_level() -> None:
    from qiao.providers._compat_cn import usage_from

    u = usage_from({"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10, "cached_tokens": 6})
    assert u is not None and u.cached_tokens == 6


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
async def test_error_families_without_code(scenario: str, cls: type[QiaoError]) -> None:
    r = await via_provider(
        S, "moonshot-v1-8k", messages=[{"role": "user", "content": f"[[emulate:{scenario}]]"}]
    )
    assert "code" not in r.json()["error"]
    err = provider.classify(as_wire(r), make_call(S, "moonshot-v1-8k"))
    assert type(err) is cls


async def test_token_limit_is_context_length() -> None:
    r = await via_provider(S, "moonshot-v1-8k", max_tokens=8190)
    assert type(provider.classify(as_wire(r), make_call(S, "moonshot-v1-8k"))) is ContextLengthExceeded
