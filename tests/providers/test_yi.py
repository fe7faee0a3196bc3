"""01.AI Yi: a plain OpenAI-compatible channel."""

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
from qiao.providers.yi import provider

from .cn_compat_helpers import as_wire, cuts, make_call, replay, req, via_provider, wire_body

S = "yi"


def test_body_and_catalogue() -> None:
    assert wire_body(S, "yi-lightning", True)["stream_options"] == {"include_usage": True}
    spec = provider.spec("yi-lightning")
    assert spec is not None and spec.price is not None and spec.price.source


async def test_stream_at_every_boundary() -> None:
    msgs = [{"role": "user", "content": "你好"}]
    plain = (await via_provider(S, "yi-lightning", messages=msgs)).json()
    raw = (await via_provider(S, "yi-lightning", True, messages=msgs)).content
    for pieces in cuts(raw):
        rp = replay(S, "yi-lightning", raw, pieces, req(model="yi-lightning", messages=msgs, stream=True))
        assert rp.text[0] == plain["choices"][0]["message"]["content"] and rp.finishes == ["stop"]
        assert rp.usage is not None and rp.usage.prompt_tokens == plain["usage"]["prompt_tokens"]


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
        S, "yi-lightning", messages=[{"role": "user", "content": f"[[emulate:{scenario}]]"}]
    )
    assert type(provider.classify(as_wire(r), make_call(S, "yi-lightning"))) is cls
