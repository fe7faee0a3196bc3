"""StepFun: `reasoning` field, empty-string finish reasons and roles, cumulative usage on every chunk."""

from __future__ import annotations

import pytest

from qiao.errors import (
    AuthenticationFailed,
    ContentFiltered,
    InsufficientQuota,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
)
from qiao.providers.stepfun import provider

from .cn_compat_helpers import TOOLS, as_wire, cuts, make_call, replay, req, via_provider

S = "stepfun"


async def test_reasoning_field_renamed_in_message() -> None:
    r = await via_provider(S, "step-3.5-flash", messages=[{"role": "user", "content": "why is the sky blue"}])
    assert "reasoning" in r.json()["choices"][0]["message"]
    out = provider.parse_chat(
        as_wire(r),
        req(model="x", messages=[{"role": "user", "content": "x"}]),
        make_call(S, "step-3.5-flash"),
    )
    assert out.choices[0].message.reasoning_content and out.choices[0].message.content


async def test_stream_quirks_at_every_boundary() -> None:
    msgs = [{"role": "user", "content": "why is the sky blue"}]
    plain = (await via_provider(S, "step-3.5-flash", messages=msgs)).json()
    raw = (await via_provider(S, "step-3.5-flash", True, messages=msgs)).content
    assert b'"finish_reason":""' in raw and b'"role":""' in raw and raw.count(b'"usage"') > 3
    for pieces in cuts(raw):
        rp = replay(S, "step-3.5-flash", raw, pieces, req(model="step-3.5-flash", messages=msgs, stream=True))
        assert rp.finishes == ["stop"] and rp.state.done
        assert all(c.delta.role in (None, "assistant") for ch in rp.chunks for c in ch.choices)
        assert rp.reasoning[0] == plain["choices"][0]["message"]["reasoning"]
        assert rp.text[0] == plain["choices"][0]["message"]["content"]
        assert rp.usage is not None and rp.usage.completion_tokens == plain["usage"]["completion_tokens"]


async def test_stream_tool_calls() -> None:
    msgs = [{"role": "user", "content": "weather in Beijing? use get_weather"}]
    raw = (await via_provider(S, "step-2-mini", True, messages=msgs, tools=TOOLS)).content
    rp = replay(
        S, "step-2-mini", raw, list(cuts(raw)[1]), req(model="step-2-mini", messages=msgs, stream=True)
    )
    assert rp.finishes == ["tool_calls"] and rp.tool_ids and "city" in rp.tool_args[0]


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
    r = await via_provider(
        S, "step-2-mini", messages=[{"role": "user", "content": f"[[emulate:{scenario}]]"}]
    )
    assert type(provider.classify(as_wire(r), make_call(S, "step-2-mini"))) is cls
