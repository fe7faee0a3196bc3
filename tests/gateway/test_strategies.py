"""Each routing strategy's choice, verified statistically where it is random, and the targets a request
cannot use moved out of the way (capability, context window, key restrictions)."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

import pytest

from qiao.config import Settings
from qiao.gateway.pipeline import Gateway, Principal, RequestContext
from qiao.gateway.router import Need
from qiao.types import ChatRequest

ACCOUNTS = [
    {"provider": "zhipu", "credential": "id.secret"},
    {"provider": "deepseek", "credential": "sk-x"},
    {"provider": "ernie", "credential": "bce-v3/x"},
    {"provider": "openai", "credential": "sk-x"},
    {"provider": "qwen", "credential": "sk-x"},
]


def gateway(route: dict[str, Any], accounts: list[dict[str, Any]] | None = None, **extra: Any) -> Gateway:
    gw = Gateway(Settings.model_validate({"accounts": accounts or ACCOUNTS, "routes": {"m": route}, **extra}))
    gw.router.rng = random.Random(7)
    return gw


def order(gw: Gateway, req: ChatRequest | None = None, principal: Principal | None = None) -> list[str]:
    req = req or chat()
    route = gw.route_for("m", RequestContext("x", principal))
    return [t.label for t, _ in gw.router.order(route, Need(req), RequestContext("x", principal))]


def chat(**kw: Any) -> ChatRequest:
    return ChatRequest.from_raw({"model": "m", "messages": [{"role": "user", "content": "hi"}], **kw})


def targets(*labels: str, **weights: int) -> list[dict[str, Any]]:
    return [{"target": t, "weight": weights.get(t.split("/")[0], 1)} for t in labels]


def test_priority_keeps_the_configured_order() -> None:
    gw = gateway({"targets": targets("zhipu/glm-4-plus", "ernie/ernie-4.0-8k", "deepseek/deepseek-chat")})
    for _ in range(20):
        assert order(gw) == ["zhipu/glm-4-plus", "ernie/ernie-4.0-8k", "deepseek/deepseek-chat"]


def test_priority_balances_accounts_of_one_provider_by_weight() -> None:
    accounts = [
        {"provider": "zhipu", "name": "z1", "credential": "a.b", "weight": 3},
        {"provider": "zhipu", "name": "z2", "credential": "a.b", "weight": 1},
        {"provider": "deepseek", "credential": "sk"},
    ]
    gw = gateway({"targets": targets("zhipu/glm-4-plus", "deepseek/deepseek-chat")}, accounts)
    firsts = Counter(order(gw)[0] for _ in range(400))
    assert firsts == {"z1/glm-4-plus": 300, "z2/glm-4-plus": 100}  # weighted round-robin is exact
    assert all(order(gw)[-1] == "deepseek/deepseek-chat" for _ in range(10))


def test_weighted_split_is_within_tolerance() -> None:
    gw = gateway(
        {
            "strategy": "weighted",
            "targets": targets(
                "zhipu/glm-4-plus", "ernie/ernie-4.0-8k", "deepseek/deepseek-chat", zhipu=6, ernie=3
            ),
        }
    )
    n = 6000
    firsts = Counter(order(gw)[0] for _ in range(n))
    # expected 60 % / 30 % / 10 %; 4 standard deviations of a binomial at n=6000 are < 2.6 points
    for label, share in (
        ("zhipu/glm-4-plus", 0.6),
        ("ernie/ernie-4.0-8k", 0.3),
        ("deepseek/deepseek-chat", 0.1),
    ):
        assert abs(firsts[label] / n - share) < 0.026, (label, firsts)
    # every order still holds every target, for fallbacks
    assert sorted(order(gw)) == sorted(["zhipu/glm-4-plus", "ernie/ernie-4.0-8k", "deepseek/deepseek-chat"])


def test_weight_zero_is_only_a_fallback() -> None:
    gw = gateway(
        {"strategy": "weighted", "targets": targets("zhipu/glm-4-plus", "ernie/ernie-4.0-8k", ernie=0)}
    )
    assert all(order(gw) == ["zhipu/glm-4-plus", "ernie/ernie-4.0-8k"] for _ in range(200))


def test_least_latency_prefers_the_fastest_and_explores() -> None:
    gw = gateway(
        {
            "strategy": "least_latency",
            "targets": targets("zhipu/glm-4-plus", "ernie/ernie-4.0-8k", "deepseek/deepseek-chat"),
        },
        routing={"explore": 0.1},
    )
    h = gw.router.health
    for _ in range(5):
        h.success("zhipu/glm-4-plus", 0.9, 0.30)
        h.success("ernie/ernie-4.0-8k", 0.9, 0.10)
        h.success("deepseek/deepseek-chat", 0.9, 0.20)
    n = 4000
    orders = [order(gw) for _ in range(n)]
    plain = Counter(o[0] for o in orders)
    assert plain.most_common(1)[0][0] == "ernie/ernie-4.0-8k"
    # exploration: ~10 % of requests start at a random target (2/3 of those are not the fastest)
    others = (n - plain["ernie/ernie-4.0-8k"]) / n
    assert 0.04 < others < 0.10
    ranked = Counter(tuple(o) for o in orders).most_common(1)[0][0]
    assert ranked == ("ernie/ernie-4.0-8k", "deepseek/deepseek-chat", "zhipu/glm-4-plus")


def test_least_latency_measures_new_targets_first() -> None:
    gw = gateway(
        {"strategy": "least_latency", "targets": targets("zhipu/glm-4-plus", "ernie/ernie-4.0-8k")},
        routing={"explore": 0.0},
    )
    gw.router.health.success("zhipu/glm-4-plus", 0.1, 0.05)
    assert order(gw)[0] == "ernie/ernie-4.0-8k"  # never measured: tried so its latency becomes known


def test_cheapest_ranks_by_this_requests_estimated_cost() -> None:
    route = {
        "strategy": "cheapest",
        "targets": targets(
            "openai/gpt-4o", "zhipu/glm-4-plus", "ernie/ernie-3.5-8k", "deepseek/deepseek-chat"
        ),
    }
    gw = gateway(route)
    # prices per 1M (in/out): gpt-4o $2.5/$10 (×7.1), glm-4-plus ¥5/¥5, ernie-3.5 ¥0.8/¥2, deepseek ¥1/¥2
    assert order(gw, chat(max_tokens=1000)) == [
        "ernie/ernie-3.5-8k",
        "deepseek/deepseek-chat",
        "zhipu/glm-4-plus",
        "openai/gpt-4o",
    ]
    # the same route under a different currency rate: only the conversion changes, not the ranking rule
    gw2 = gateway(route, limits={"fx_rates": {"USD": "0.1"}})
    assert order(gw2, chat(max_tokens=1000))[0] == "openai/gpt-4o"


def test_grants_first_soonest_expiring_then_cheapest() -> None:
    today = dt.date.today()
    accounts = [
        {
            "provider": "zhipu",
            "credential": "a.b",
            "grants": [{"name": "g", "tokens": 1000, "expires": (today + dt.timedelta(days=30)).isoformat()}],
        },
        {
            "provider": "ernie",
            "credential": "x",
            "grants": [{"name": "g", "tokens": 1000, "expires": (today + dt.timedelta(days=3)).isoformat()}],
        },
        {"provider": "deepseek", "credential": "sk"},
        {"provider": "qwen", "credential": "sk"},
    ]
    route = {
        "strategy": "grants_first",
        "targets": targets(
            "qwen/qwen3-max", "deepseek/deepseek-chat", "zhipu/glm-4-plus", "ernie/ernie-4.0-8k"
        ),
    }
    gw = gateway(route, accounts)
    from qiao.ledger.grants import GrantBook

    book = GrantBook(gw.settings.accounts)
    gw.router.grants = book
    assert order(gw) == ["ernie/ernie-4.0-8k", "zhipu/glm-4-plus", "deepseek/deepseek-chat", "qwen/qwen3-max"]
    book.by_account["ernie"][0].used_tokens = 1000  # used up: no longer first
    assert order(gw)[:2] == ["zhipu/glm-4-plus", "deepseek/deepseek-chat"]


def test_targets_without_a_capability_are_skipped() -> None:
    gw = gateway({"targets": targets("deepseek/deepseek-chat", "zhipu/glm-4v-plus", "openai/gpt-4o")})
    image = chat(
        messages=[
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}
        ]
    )
    assert order(gw, image) == ["zhipu/glm-4v-plus", "openai/gpt-4o"]
    tools = chat(tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    assert order(gw, tools) == ["deepseek/deepseek-chat", "openai/gpt-4o"]
    js = chat(response_format={"type": "json_object"})
    assert order(gw, js) == ["deepseek/deepseek-chat", "openai/gpt-4o"]


def test_when_no_target_fits_all_stay_so_the_first_explains() -> None:
    gw = gateway({"targets": targets("deepseek/deepseek-chat", "ernie/ernie-speed-8k")})
    image = chat(
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]}]
    )
    assert order(gw, image) == ["deepseek/deepseek-chat", "ernie/ernie-speed-8k"]


async def test_context_window_too_small_is_skipped_without_an_attempt() -> None:
    gw = gateway({"targets": targets("ernie/ernie-4.0-8k", "zhipu/glm-4-plus")})
    long = chat(messages=[{"role": "user", "content": "长文本" * 6000}], max_tokens=1000)  # ≈12k tokens
    assert order(gw, long)[0] == "ernie/ernie-4.0-8k"  # the byte bound alone cannot tell yet
    route = gw.route_for("m", RequestContext("x", None))
    ctx = RequestContext("x", None)
    tried: list[str] = []

    async def attempt(target: Any, params: Any, timeouts: Any) -> str:
        tried.append(target.label)
        return "ok"

    assert await gw.router.run(route, Need(long), ctx, attempt) == "ok"
    assert tried == ["zhipu/glm-4-plus"]  # tokenised once, then ERNIE's 8k window was skipped
    assert [(t, o) for t, o, _ in ctx.tried] == [
        ("ernie/ernie-4.0-8k", "skipped:unfit"),
        ("zhipu/glm-4-plus", "ok"),
    ]


def test_key_restricted_to_provider_models() -> None:
    gw = gateway({"targets": targets("zhipu/glm-4-plus", "openai/gpt-4o")})
    assert order(gw, principal=Principal("k", "k", None, ("m", "zhipu/*"))) == ["zhipu/glm-4-plus"]
    assert order(gw, principal=Principal("k", "k", None, ("m",))) == ["zhipu/glm-4-plus", "openai/gpt-4o"]
    from qiao.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        order(gw, principal=Principal("k", "k", None, ("m", "ernie/*")))


@pytest.mark.parametrize("strategy", ["priority", "weighted", "least_latency", "cheapest"])
def test_one_target_short_cut_agrees_with_the_general_order(strategy: str) -> None:
    """Router.order's short cut for a one-target route (Route.only) gives what the general code gives:
    the same candidates, the same attempt-log entries, the same refusal."""
    from qiao.errors import PermissionDenied

    gw = gateway({"strategy": strategy, "targets": targets("zhipu/glm-4-plus")})
    route = gw.route_for("m", RequestContext("x", None))
    saved = route.only
    assert saved is not None
    big = chat(messages=[{"role": "user", "content": "x" * 400_000}])
    image = chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}])
    keys = [None, Principal("k", "k", None, ("m",)), Principal("k", "k", None, ("m", "zhipu/*"))]
    for req in (chat(), big, image):
        for p in keys + [Principal("k", "k", None, ("m", "ernie/*"))]:
            outcomes = []
            for only in (saved, None):
                route.only = only
                ctx = RequestContext("x", p)
                try:
                    got: Any = [(t.label, params) for t, params in gw.router.order(route, Need(req), ctx)]
                except PermissionDenied as err:
                    got = err.message
                outcomes.append((got, ctx.tried))
            route.only = saved
            assert outcomes[0] == outcomes[1]
