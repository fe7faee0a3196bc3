"""The ledger's request path in process: USD prices converted at the configured rate (recorded on the
entry), reservation and idempotent settlement, token budgets, the refund of a failed request."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from qiao.catalogue import PriceTier
from qiao.config import Settings, hash_key
from qiao.errors import InsufficientQuota
from qiao.gateway.pipeline import RequestContext
from qiao.gateway.resolve import Resolver, Route
from qiao.ledger.meter import Ledger, _kept, period_start
from qiao.types import Usage

KEY = "sk-qiao-meter-test"


def _settings(tmp_path: Path, **key: object) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": f"sqlite:///{tmp_path}/q.db", "wal_dir": str(tmp_path / "wal")},
            "keys": [{"name": "k", "key": KEY, "tenant": "t", **key}],
            "accounts": [{"provider": "zhipu", "credential": "a.b"}],
            "limits": {"fx_rates": {"USD": "7.1"}, "reserve_default_output_tokens": "fixed"},
        }
    )


def _usd_route(settings: Settings) -> Route:
    route = Resolver(settings).resolve("zhipu/glm-4-plus")
    assert route is not None
    usd = PriceTier.per_mtok("2.5", "10", currency="USD", since="2024-08-06", source="test")
    for g in route.groups:
        g.targets = [dataclasses.replace(t, spec=dataclasses.replace(t.spec, price=usd)) for t in g.targets]
    return route


async def test_usd_price_converted_and_rate_recorded(tmp_path: Path) -> None:
    settings = _settings(tmp_path, budget="1")
    ledger = Ledger(settings)
    await ledger.start()
    try:
        route = _usd_route(settings)
        ctx = RequestContext("r1", ledger.principal(hash_key(KEY)))
        await ledger.admit(1000, 500, route, ctx)
        # reserve: (1000 × 2.5 + 500 × 10) µUSD-per-token … = 7500 µUSD → × 7.1 = 53250 µCNY
        assert ctx.reservation.micros == 53_250
        ctx.target = route.candidates()[0]
        ctx.usage = Usage(800, 100)
        ledger.record(ctx, "chat/completions")
        await ledger.settle(ctx)
        await ledger.settle(ctx)  # idempotent
        assert ledger.writer is not None and ledger.writer.flush() == 1
        [rec] = ledger.store.usage()
        assert rec["price_currency"] == "USD" and rec["fx_rate"] == "7.1"
        assert rec["price_cost_micros"] == 3_000  # 800 × 2.5 + 100 × 10
        assert rec["cost_micros"] == 21_300 and rec["reserved_micros"] == 53_250
        counters = ledger.counters
        assert counters is not None
        # the counter holds the settled cost, not the reservation
        idx, values = await counters.acquire("probe", [])
        assert idx == -1
        v = ledger.counter_values(time.time())
        assert v[f"bud:k:{hash_key(KEY)[:12]}:all"] == (21_300, 0)
    finally:
        await ledger.aclose()


async def test_failed_request_is_refunded_and_budget_refuses(tmp_path: Path) -> None:
    settings = _settings(tmp_path, budget="0.1", budget_tokens=500)
    ledger = Ledger(settings)
    await ledger.start()
    try:
        route = _usd_route(settings)
        p = ledger.principal(hash_key(KEY))
        for i in range(3):  # failures: reserved, then all refunded
            ctx = RequestContext(f"f{i}", p)
            await ledger.admit(100, 300, route, ctx)
            ctx.status = 502
            ledger.record(ctx, "chat/completions")
            await ledger.settle(ctx)
        ctx = RequestContext("big", p)
        with pytest.raises(InsufficientQuota) as err:
            await ledger.admit(100, 2000, route, ctx)  # 0.1448 CNY > 0.1 CNY
        assert "0.1 CNY" in err.value.message and err.value.status == 429
        with pytest.raises(InsufficientQuota, match="token budget"):
            await ledger.admit(10, 491, route, RequestContext("tok", p))
        ok = RequestContext("ok", p)
        await ledger.admit(100, 300, route, ok)  # still the whole budget: the failures were refunded
    finally:
        await ledger.aclose()


def test_period_start() -> None:
    t = 1_795_634_000.0  # 2026-11-25T…Z
    assert period_start("none", t) is None
    assert period_start("daily", t) == 1_795_564_800.0
    assert period_start("monthly", t) == 1_793_491_200.0


async def test_daily_budget_counts_only_today(tmp_path: Path) -> None:
    from qiao.ledger.store import UsageRecord

    settings = _settings(tmp_path, budget="1", reset="daily")
    ledger = Ledger(settings)
    await ledger.start()
    try:
        kid = hash_key(KEY)[:12]
        now = time.time()
        ledger.store.write_usage(
            [
                UsageRecord(
                    "yesterday", now - 86400, "chat/completions", 200, 1.0, key_id=kid, cost_micros=900_000
                ),
                UsageRecord("today", now, "chat/completions", 200, 1.0, key_id=kid, cost_micros=7),
            ]
        )
        values = ledger.counter_values(now)
        tag = time.strftime("d%Y%m%d", time.gmtime(now))
        assert values[f"bud:k:{kid}:{tag}"] == (7, 2 * 86400)
    finally:
        await ledger.aclose()


async def test_account_change_keeps_grant_use_and_the_book(tmp_path: Path) -> None:
    """A rebuild after an account or grant change keeps each grant's running use (draws not yet in the
    database included) and the GrantBook object others hold; the routes go to ``on_settings``."""
    from qiao.ledger import accounts

    settings = _settings(tmp_path)
    ledger = Ledger(settings)
    seen: list[Settings] = []
    ledger.on_settings = seen.append
    await ledger.start()
    try:
        book = ledger.grants
        accounts.add_grant(ledger.store, settings, "zhipu", {"name": "g1", "tokens": 1000})
        await ledger.refresh_accounts()
        assert [a.grants[0].name for a in seen[-1].accounts] == ["g1"] and ledger.grants is book
        draws, _ = ledger.grants.draw("r1", "zhipu", "glm-4-plus", 300, 1500, ledger.fx, time.time())
        assert [d.tokens for d in draws] == [300]  # drawn in memory; not committed anywhere yet
        accounts.add_grant(ledger.store, settings, "zhipu", {"name": "g2", "amount": "1"})
        await ledger.refresh_accounts()
        used = {s.name: s.used for s in ledger.grants.all()}
        assert used == {"g1": 300, "g2": 0} and ledger.grants is book
        assert ledger.effective is seen[-1] and len(seen) == 2
    finally:
        await ledger.aclose()


async def test_record_writes_every_usage_field_in_order(tmp_path: Path) -> None:
    """``Ledger.record`` builds the WAL line from a list of column values, not a UsageRecord: it must hold
    exactly the usage table's columns in order (replay reads the line back by zipping it with
    ``USAGE_COLUMNS``; a line it cannot read would be dropped as torn), for a served request and for one
    that never reached a target."""
    import orjson

    from qiao.ledger.store import USAGE_COLUMNS, UsageRecord
    from qiao.ledger.wal import _decode

    settings = _settings(tmp_path)
    ledger = Ledger(settings)
    await ledger.start()
    try:
        w = ledger.writer
        assert w is not None
        served = RequestContext("served", ledger.principal(hash_key(KEY)))
        served.target = _usd_route(settings).candidates()[0]
        served.usage = Usage(800, 100, 5, 7, True)
        served.model, served.attempts, served.first_byte_s = "glm", 2, 0.0123
        served.client_request_id, served.tried = "c-1", [("a/m", "timeout", 1.5), ("b/m", "ok", 2.0)]
        failed = RequestContext("failed", None)
        failed.status = 502
        ledger.record(served, "chat/completions")
        ledger.record(failed, "embeddings")
        lines = w._segment_path(w._seg).read_bytes().splitlines()
        assert len(lines) == 2
        for line in lines:
            values, draws = orjson.loads(line)
            assert len(values) == len(USAGE_COLUMNS) and draws == []
        got = [_decode(line) for line in lines]
        assert got[0] is not None and got[1] is not None
        rec, draws = got[0]
        assert draws == [] and rec == UsageRecord(
            "served",
            rec.ts,
            "chat/completions",
            200,
            rec.latency_ms,
            tenant="t",
            key_id=hash_key(KEY)[:12],
            model="glm",
            provider=served.target.provider.name,
            account=served.target.account.name,
            upstream_model=served.target.spec.wire_name,
            prompt_tokens=800,
            completion_tokens=100,
            cached_tokens=5,
            reasoning_tokens=7,
            estimated=True,
            price_currency="USD",
            price_cost_micros=3_000,
            fx_rate="7.1",
            cost_micros=21_300,
            paid_micros=21_300,
            first_token_ms=12.3,
            attempts=2,
            client_request_id="c-1",
            tried='[["a/m","timeout",1.5],["b/m","ok",2.0]]',
        )
        assert got[1][0] == UsageRecord("failed", got[1][0].ts, "embeddings", 502, got[1][0].latency_ms)
        assert w.flush() == 2
        assert [r["request_id"] for r in ledger.store.usage()] == ["served", "failed"]
        # the line format written before (an object of UsageRecord's fields) still replays
        old = orjson.dumps({"u": dataclasses.asdict(rec), "d": []})
        assert _decode(old) == (rec, [])
        # a line of fewer columns (written before a migration added one at the end): the rest at default
        short = orjson.dumps([[*orjson.loads(lines[1])[0][:-2]], []])
        assert _decode(short) == got[1]
    finally:
        await ledger.aclose()


async def test_limited_says_what_the_limits_say(tmp_path: Path) -> None:
    """Ledger.limited tests identity with the one empty Limits the ledger keeps (_kept): it must answer
    what the limits' ``empty`` says, for every mix of key and tenant limits, from the config and from the
    store alike (an empty Limits with a reset period, too)."""
    from qiao.gateway.pipeline import Principal
    from qiao.ledger.store import Limits

    shapes = [
        Limits(),
        Limits(reset="monthly"),
        Limits(rpm=5),
        Limits(tpm=100),
        Limits(budget_micros=1),
        Limits(budget_tokens=9, reset="daily"),
    ]
    ledger = Ledger(_settings(tmp_path))
    await ledger.start()
    try:
        p = ledger.principal(hash_key(KEY))
        assert p is not None and p.tenant == "t"
        assert not ledger.limited(p)  # the config's key and tenant have none
        for klim in shapes:
            for tlim in [*shapes, None]:
                ledger.key_limits[p.key_id] = _kept(klim)
                if tlim is None:
                    ledger.tenant_limits.pop("t", None)
                else:
                    ledger.tenant_limits["t"] = _kept(tlim)
                want = not (klim.empty and (tlim is None or tlim.empty))
                assert ledger.limited(p) is want, (klim, tlim)
        assert not ledger.limited(Principal("nobody", "n"))
        assert not ledger.limited(None)
    finally:
        await ledger.aclose()
