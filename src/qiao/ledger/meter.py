"""The ledger as the gateway sees it: keys, admission (rate limits + budget reservation), the usage
record of every request, settlement, grants.

Hot path (no database round trip): key look-up in an in-process map refreshed from the database every
``database.key_refresh_ms``; admission and settlement in :mod:`qiao.ledger.counters` (memory, or one
Redis script each); the usage record is one ``write()`` to the write-ahead log, committed in batches by
the writer thread (:mod:`qiao.ledger.wal`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..config import Settings
from ..errors import InsufficientQuota, RateLimited
from ..money import MICRO, Money, micros_text, parse_micros
from .accounts import REV, revision
from .counters import Check, Counters, MemoryCounters
from .grants import GrantBook, fx_convert
from .store import KEY_PREFIX, GrantDraw, KeyRecord, LedgerStore, Limits, open_store
from .wal import UsageWriter, replay_dead_segments

if TYPE_CHECKING:
    from ..gateway.pipeline import Principal, RequestContext
    from ..gateway.resolve import Route

__all__ = ["Ledger", "Reservation", "counters_kind", "ledger_enabled", "period_start", "wal_dir_for"]

log = logging.getLogger(__name__)

_TTL = {"none": 0, "daily": 2 * 86400, "monthly": 32 * 86400}
_NO_DRAWS: tuple[GrantDraw, ...] = ()  # the draws of a record that drew on no grant


def ledger_enabled(settings: Settings) -> bool:
    """The ledger runs when the config has a ``database`` section (else qiao is a stateless proxy)."""
    return "database" in settings.model_fields_set


def counters_kind(settings: Settings) -> str:
    db = settings.database
    if db.counters != "auto":
        return db.counters
    if db.redis_url:
        return "redis"
    return "sqlite" if settings.server.workers > 1 else "memory"


def wal_dir_for(settings: Settings) -> Path:
    db = settings.database
    if db.wal_dir:
        return Path(db.wal_dir)
    if db.url.startswith("sqlite:///") and db.url != "sqlite:///:memory:":
        return Path(db.url.split(":///", 1)[1]).resolve().parent / "qiao-wal"
    return Path("qiao-wal").resolve()


def period_start(reset: str, now: float) -> float | None:
    """Start (epoch seconds, UTC) of the budget period containing ``now``; None for ``reset: none``."""
    t = dt.datetime.fromtimestamp(now, dt.UTC)
    if reset == "daily":
        return dt.datetime(t.year, t.month, t.day, tzinfo=dt.UTC).timestamp()
    if reset == "monthly":
        return dt.datetime(t.year, t.month, 1, tzinfo=dt.UTC).timestamp()
    return None


def _period_tag(reset: str, now: float) -> str:
    if reset == "none":
        return "all"
    t = time.gmtime(now)
    return (
        f"d{t.tm_year:04d}{t.tm_mon:02d}{t.tm_mday:02d}"
        if reset == "daily"
        else f"m{t.tm_year:04d}{t.tm_mon:02d}"
    )


@dataclass(slots=True)
class Reservation:
    micros: int
    tokens: int
    settle: list[tuple[str, str, int]]  # (counter key, what: micros|tokens, ttl)


_NO_LIMITS = Limits()


def _kept(lim: Limits) -> Limits:
    """Limits as Ledger.key_limits and tenant_limits keep them: every empty one as the one _NO_LIMITS (its
    fields are as empty; a reset period without a budget means nothing). Ledger.limited tests identity."""
    return _NO_LIMITS if lim.empty else lim


_RATE_TEXT: dict[int, str] = {}  # micros_text(rate) by rate (Ledger.record; a pure function's results)


def _limits_of(
    budget: str | None, budget_tokens: int | None, reset: str, rpm: int | None, tpm: int | None
) -> Limits:
    return Limits(parse_micros(budget) if budget is not None else None, budget_tokens, reset, rpm, tpm)


class Ledger:
    def __init__(self, settings: Settings, counters: Counters | None = None) -> None:
        from ..gateway.pipeline import Principal

        self._principal_cls = Principal  # (imported here: pipeline imports this module's users)
        self.settings = settings
        self.store: LedgerStore = open_store(settings.database.url)
        self.wal_dir = wal_dir_for(settings)
        self.counters: Counters | None = counters
        self.writer: UsageWriter | None = None
        self.fx: dict[str, int] = {"CNY": MICRO}
        for cur, rate in settings.limits.fx_rates.items():
            self.fx[cur.upper()] = parse_micros(rate)
        self.grants = GrantBook(settings.accounts)
        # provider accounts: the config's merged with the database's (ledger/accounts.py)
        self.effective: Settings = settings
        """The settings routes are built from: the config plus accounts and grants from the database."""
        self.account_problems: dict[str, str] = {}
        self.on_settings: Callable[[Settings], None] | None = None
        """Set by the server to ``Gateway.apply_settings``; called on the event loop thread."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._accounts_seen = -1  # revision read by the writer thread
        self._accounts_applied = -1  # revision applied on the event loop
        self._boot_accounts: tuple[Settings, dict[str, str], int] | None = None
        self._grant_used: dict[tuple[str, str], tuple[int, int]] = {}
        # principals by key digest; limits by key id and by tenant
        self.principals: dict[str, Principal] = {}
        self.db_keys: dict[str, KeyRecord] = {}
        self.key_limits: dict[str, Limits] = {}
        self.tenant_limits: dict[str, Limits] = {}
        self._cfg_tenants: dict[str, Limits] = {
            t.name: _kept(_limits_of(t.budget, t.budget_tokens, t.reset, t.rpm, t.tpm))
            for t in settings.tenants
        }
        self.tenant_limits.update(self._cfg_tenants)
        for k in settings.keys:
            kid = k.digest[:12]
            self.principals[k.digest] = Principal(
                kid, k.name, k.tenant, tuple(k.models) if k.models is not None else None
            )
            self.key_limits[kid] = _kept(_limits_of(k.budget, k.budget_tokens, k.reset, k.rpm, k.tpm))
        self._synced_at = 0.0
        self._grants_at = 0.0
        self._route_cost: dict[str, tuple[int, int, int]] = {}
        self._misses: set[str] = set()
        self.fixed_out = (
            settings.limits.reserve_fixed_output_tokens
            if settings.limits.reserve_default_output_tokens == "fixed"
            else None
        )

    # ---- life cycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._start_sync)
        if self._boot_accounts is not None:
            self._apply_accounts(*self._boot_accounts)
            self._boot_accounts = None
        kind = counters_kind(self.settings)
        if self.counters is None:
            if kind == "redis":
                from .counters import RedisCounters

                self.counters = RedisCounters(
                    self.settings.database.redis_url or "", self.settings.database.redis_prefix
                )
            elif kind == "sqlite":
                from .counters import SqliteCounters

                self.counters = SqliteCounters(str(self.wal_dir / "counters.sqlite"))
            else:
                self.counters = MemoryCounters()
        values = await asyncio.to_thread(self.counter_values, time.time())
        await self.counters.put(values, only_missing=kind != "memory")

    def _start_sync(self) -> None:
        self.wal_dir.mkdir(parents=True, exist_ok=True)
        self.store.upgrade()
        replay_dead_segments(self.wal_dir, self.store)
        self.sync()
        built = self._build_accounts()
        if built[2] > 0:  # the database has (or had) accounts or grants of its own
            self.effective, self.account_problems = built[0], built[1]
            self._swap_grants(GrantBook(built[0].accounts))
            self._boot_accounts = built
        self._grant_used = self.store.grant_used()
        self.grants.load(self._grant_used)
        db = self.settings.database
        self.writer = UsageWriter(
            self.store,
            self.wal_dir,
            db.flush_interval_ms / 1000,
            on_idle=self._background,
            idle_every_s=db.key_refresh_ms / 1000,
        )

    async def aclose(self) -> None:
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)
        if self.counters is not None:
            await self.counters.aclose()
        await asyncio.to_thread(self.store.close)

    def _background(self) -> None:
        """The writer thread's idle work (every ``database.key_refresh_ms``): keys, tenants, accounts.

        Most of the time nothing changed: one statement says so (whether any key or tenant changed since
        the last look, and the accounts revision) instead of the three reads that fetch the changes,
        ~100k instructions less per call (four calls a second)."""
        since = self._synced_at - 2.0 if self._synced_at else None
        if since is None:
            self.sync()
            self._poll_accounts()
        else:
            started = time.time()
            changed, rev = self.store.changes(since, REV)
            if changed:
                self.sync()
            else:
                self._synced_at = started
            if rev != self._accounts_seen:
                self._poll_accounts()
        now = time.monotonic()
        if now - self._grants_at > 5:
            self._grants_at = now
            self._grant_used = self.store.grant_used()
            self.grants.load(self._grant_used)

    # ---- provider accounts declared in the database ---------------------------------------------------
    def _build_accounts(self) -> tuple[Settings, dict[str, str], int]:
        """The config merged with the database's accounts and grants (any thread but the loop's)."""
        from .accounts import load_declared, merge

        declared = load_declared(self.store)
        self._accounts_seen = declared.rev
        merged, problems = merge(self.settings, declared, os.environ)
        for name, why in problems.items():
            log.error("provider account %s: %s", name, why)
        return merged, problems, declared.rev

    def _poll_accounts(self) -> None:
        """Writer thread: one single-row read; rebuild and hand over to the loop when it moved."""
        if self._loop is None or revision(self.store) == self._accounts_seen:
            return
        built = self._build_accounts()
        self._loop.call_soon_threadsafe(self._apply_accounts, *built)

    def _swap_grants(self, book: GrantBook) -> None:
        """Replace the grants in place: whoever holds ``ledger.grants`` (the router reads
        ``by_account``) sees the new ones; each attribute swap is atomic for the writer thread."""
        self.grants.balance = book.balance
        self.grants.by_account = book.by_account

    async def refresh_accounts(self) -> None:
        """Apply the database's accounts now (after a change made through this process)."""
        built = await asyncio.to_thread(self._build_accounts)
        self._apply_accounts(*built)

    def _apply_accounts(self, merged: Settings, problems: dict[str, str], rev: int) -> None:
        """Event loop thread: swap the routes (``Gateway.apply_settings``) and the grant book, keeping
        each grant's running use (in memory, so draws not yet committed are not forgotten)."""
        if rev < self._accounts_applied:
            return  # an older build that lost the race
        if self.on_settings is not None:
            try:
                self.on_settings(merged)
            except Exception as exc:  # noqa: BLE001 - keep serving with the routes we have
                log.error("provider accounts of revision %d not applied: %s", rev, exc)
                return
        book = GrantBook(merged.accounts)
        old = {(s.account, s.name): s for s in self.grants.all()}
        for s in book.all():
            o = old.get((s.account, s.name))
            if o is not None:
                s.used_tokens, s.used_micros, s.warned = o.used_tokens, o.used_micros, o.warned
            else:
                s.used_tokens, s.used_micros = self._grant_used.get((s.account, s.name), (0, 0))
        self._swap_grants(book)
        self.effective = merged
        self.account_problems = problems
        self._route_cost.clear()  # a route's candidates (and so its reservation price) may have changed
        self._accounts_applied = rev
        log.info("provider accounts: revision %d applied (%d accounts)", rev, len(merged.accounts))

    def sync(self) -> None:
        """Re-read keys and tenants changed since the last look (runs in the writer thread)."""
        since = self._synced_at - 2.0 if self._synced_at else None
        started = time.time()
        moved: list[tuple[str, str, Limits]] = []
        for t in self.store.tenants(since):
            old = self.tenant_limits.get(t.name)
            self.tenant_limits[t.name] = _kept(t.limits)
            if old is not None and _new_budget_counter(old, t.limits):
                moved.append(("t", t.name, t.limits))
        for k in self.store.keys(since):
            old = self.key_limits.get(k.id)
            self._cache_key(k, self._principal_cls)
            if old is not None and _new_budget_counter(old, k.limits):
                moved.append(("k", k.id, k.limits))
        self._synced_at = started
        if moved and self._loop is not None:
            self._seed_counters(moved, started)

    def _seed_counters(self, moved: list[tuple[str, str, Limits]], now: float) -> None:
        """A budget set on a key or tenant that had none, or a new reset period, starts a counter that
        does not exist yet: seed it from the ledger's settled spend of the period (only where missing,
        so every process may do it). Requests admitted in the moment between the change and the seed
        count from zero; the next ``qiao db reconcile`` corrects that."""
        values: dict[str, tuple[int, int]] = {}
        for scope, ident, lim in moved:
            column = "key_id" if scope == "k" else "tenant"
            micros, tokens = self.store.spend(column, period_start(lim.reset, now), only=ident).get(
                ident, (0, 0)
            )
            tag, ttl = _period_tag(lim.reset, now), _TTL[lim.reset]
            values[f"bud:{scope}:{ident}:{tag}"] = (micros, ttl)
            values[f"btok:{scope}:{ident}:{tag}"] = (tokens, ttl)
        counters, loop = self.counters, self._loop
        if counters is None or loop is None:
            return
        asyncio.run_coroutine_threadsafe(counters.put(values, only_missing=True), loop)

    def _cache_key(self, k: KeyRecord, principal_cls: Any) -> None:
        self.db_keys[k.digest] = k
        self.key_limits[k.id] = _kept(k.limits)
        if k.usable(time.time()):
            self.principals[k.digest] = principal_cls(k.id, k.name, k.tenant, k.models)
        else:
            self.principals.pop(k.digest, None)

    def counter_values(self, now: float) -> dict[str, tuple[int, int]]:
        """Budget counters as the ledger says they are (reconcile): settled spend of the current period."""
        out: dict[str, tuple[int, int]] = {}
        for scope, column, table in (("k", "key_id", self.key_limits), ("t", "tenant", self.tenant_limits)):
            sums: dict[str, dict[str, tuple[int, int]]] = {}
            for ident, lim in table.items():
                if lim.budget_micros is None and lim.budget_tokens is None:
                    continue
                if lim.reset not in sums:
                    sums[lim.reset] = self.store.spend(column, period_start(lim.reset, now))
                micros, tokens = sums[lim.reset].get(ident, (0, 0))
                tag = _period_tag(lim.reset, now)
                ttl = _TTL[lim.reset]
                out[f"bud:{scope}:{ident}:{tag}"] = (micros, ttl)
                out[f"btok:{scope}:{ident}:{tag}"] = (tokens, ttl)
        return out

    # ---- keys -----------------------------------------------------------------------------------------
    def principal(self, digest: str) -> Principal | None:
        p = self.principals.get(digest)
        if p is None:
            return None
        rec = self.db_keys.get(digest)
        if rec is not None and not rec.usable(time.time()):
            return None  # expired since the last refresh
        return p

    async def lookup(self, token: str, digest: str) -> Principal | None:
        """Slow path for a key not in the map (created on another replica a moment ago)."""
        from ..gateway.pipeline import Principal

        if not token.startswith(KEY_PREFIX) or digest in self.db_keys or digest in self._misses:
            return None  # not ours, known and revoked/expired, or looked up in vain: no round trip
        rec = await asyncio.to_thread(self.store.key_by_digest, digest)
        if rec is None or not hmac.compare_digest(rec.digest, digest):
            # A key is random: one that did not exist when looked up cannot be created later, so a
            # miss may be remembered (bounded, so guessing cannot grow memory without limit).
            if len(self._misses) >= 10_000:
                self._misses.clear()
            self._misses.add(digest)
            return None
        self._cache_key(rec, Principal)
        return self.principal(digest)

    # ---- admission ------------------------------------------------------------------------------------
    def limited(self, p: Principal | None) -> bool:
        """Whether this caller's key or tenant has any limit or budget (else :meth:`admit` has nothing to
        do: the pipeline skips it, and the prompt count it needs, on the hot path)."""
        if p is None or self.counters is None:
            return False
        # key_limits and tenant_limits hold _NO_LIMITS for every empty Limits (_kept): identity tests, not
        # Limits.empty's property call, on every request
        klim = self.key_limits.get(p.key_id)
        if klim is not None and klim is not _NO_LIMITS:
            return True
        if p.tenant is None:
            return False
        tlim = self.tenant_limits.get(p.tenant)
        return tlim is not None and tlim is not _NO_LIMITS

    async def admit(self, prompt_chars: int, max_out: int | None, route: Route, ctx: RequestContext) -> None:
        p = ctx.principal
        if p is None or self.counters is None:
            return
        klim = self.key_limits.get(p.key_id)
        tlim = self.tenant_limits.get(p.tenant) if p.tenant is not None else None
        if (klim is None or klim.empty) and (tlim is None or tlim.empty):
            return
        cost = self._route_cost.get(route.name)
        if cost is None:
            cost = self._route_cost[route.name] = self._max_prices(route)
        in_p, out_p, model_max = cost
        if max_out is None:
            max_out = self.fixed_out or model_max
        est_prompt = prompt_chars  # ≥ the token count for CJK text, an over-estimate for Latin text
        tokens = est_prompt + max_out
        micros = (est_prompt * in_p + max_out * out_p + MICRO - 1) // MICRO
        now = time.time()
        minute = int(now // 60)
        checks: list[Check] = []
        settle: list[tuple[str, str, int]] = []
        kinds: list[tuple[str, str, Limits]] = []
        for scope, ident, lim in (("k", p.key_id, klim), ("t", p.tenant, tlim)):
            if lim is None or ident is None:
                continue
            if lim.rpm is not None:
                checks.append(Check(f"rpm:{scope}:{ident}:{minute}", 1, lim.rpm, 61))
                kinds.append(("rpm", scope, lim))
            if lim.tpm is not None:
                key = f"tpm:{scope}:{ident}:{minute}"
                checks.append(Check(key, tokens, lim.tpm, 61))
                kinds.append(("tpm", scope, lim))
                settle.append((key, "tokens", 61))
            tag = _period_tag(lim.reset, now)
            ttl = _TTL[lim.reset]
            if lim.budget_micros is not None:
                key = f"bud:{scope}:{ident}:{tag}"
                checks.append(Check(key, micros, lim.budget_micros, ttl))
                kinds.append(("budget", scope, lim))
                settle.append((key, "micros", ttl))
            if lim.budget_tokens is not None:
                key = f"btok:{scope}:{ident}:{tag}"
                checks.append(Check(key, tokens, lim.budget_tokens, ttl))
                kinds.append(("budget_tokens", scope, lim))
                settle.append((key, "tokens", ttl))
        idx, values = await self.counters.acquire(ctx.request_id, checks)
        if idx == -2:
            return  # this request id already holds its reservation (legacy completions, n prompts)
        reset_s = 60 - int(now) % 60
        ctx.extra_headers = _rate_headers(checks, kinds, values, reset_s, idx)
        if idx >= 0:
            kind, scope, lim = kinds[idx]
            who = f"API key {p.key_id}" if scope == "k" else f"tenant {p.tenant!r}"
            if kind in ("rpm", "tpm"):
                limit = lim.rpm if kind == "rpm" else lim.tpm
                unit = "requests" if kind == "rpm" else "tokens"
                raise RateLimited(
                    f"Rate limit reached for {who} on {unit} per min (RPM/TPM): Limit {limit}, "
                    f"Used {values[idx]}, Requested {checks[idx].amount}. Please try again in {reset_s}s.",
                    retry_after=reset_s,
                )
            period = "" if lim.reset == "none" else f" ({lim.reset})"
            if kind == "budget":
                left = Money(max((lim.budget_micros or 0) - values[idx], 0))
                raise InsufficientQuota(
                    f"You exceeded your current quota: the budget of {who} is {Money(lim.budget_micros or 0)}"
                    f"{period} and {left} is left, but this request reserves {Money(micros)} "
                    f"(≈{est_prompt} prompt tokens + {max_out} output tokens at the model's price). Lower "
                    "max_tokens, or ask an administrator to raise the budget."
                )
            raise InsufficientQuota(
                f"You exceeded your current quota: the token budget of {who} is {lim.budget_tokens}{period}; "
                f"{max((lim.budget_tokens or 0) - values[idx], 0)} tokens are left and this request reserves "
                f"{tokens}. Lower max_tokens, or ask an administrator to raise the budget."
            )
        ctx.reservation = Reservation(micros, tokens, settle)

    def _max_prices(self, route: Route) -> tuple[int, int, int]:
        """The most expensive candidate's input and output price in CNY micro-units per 1M tokens, and
        the largest output cap (a route's reservation covers whichever target ends up serving it)."""
        targets = [t for g in route.groups for t in g.targets]
        in_p = out_p = 0
        for t in targets:
            pr = t.spec.price
            if pr is None:
                continue
            rate = self.fx.get(pr.currency, MICRO)
            in_p = max(in_p, fx_convert(pr.input, rate))
            out_p = max(out_p, fx_convert(pr.output, rate))
        return in_p, out_p, max((t.spec.max_output for t in targets), default=4096)

    # ---- the end of a request -------------------------------------------------------------------------
    def record(self, ctx: RequestContext, endpoint: str) -> None:
        """Append the request's usage record to the WAL (durable on return). Once per request."""
        if ctx.recorded or self.writer is None:
            return
        ctx.recorded = True
        now = time.time()
        # The record as a list of column values in USAGE_COLUMNS order (qiao_usage's columns, which is
        # what the writer thread binds and the WAL line holds), built by one list display from locals:
        # no dict to copy and fill key by key, no keys for orjson to write and for the writer to look up
        # again (~12k instructions less per record than the dict of UsageRecord's fields it replaces).
        # The order is checked against the store's by tests/ledger/test_meter.py.
        p = ctx.principal
        tenant = key_id = provider = account = upstream_model = None
        if p is not None:
            tenant = p.tenant
            key_id = p.key_id
        draws: Sequence[GrantDraw] = _NO_DRAWS
        cost = price_cost = grant_micros = paid = 0
        prompt = completion = cached = reasoning = 0
        estimated = False
        currency = fx_rate = grant_name = None
        t = ctx.target
        if t is not None:
            provider = t.provider.name
            account = t.account.name
            upstream_model = t.upstream_model  # spec.wire_name, worked out once per target
        u = ctx.usage
        if u is not None:
            prompt = u.prompt_tokens
            completion = u.completion_tokens
            cached = u.cached_tokens
            reasoning = u.reasoning_tokens
            estimated = u.estimated
            if t is not None:
                price = t.spec.price
                if price is not None:
                    rate = self.fx.get(price.currency, MICRO)
                    price_cost = price.cost_micros(prompt, completion, cached)
                    # fx_convert at the rate 1 (a CNY price) is the identity: no call for it
                    cost = paid = price_cost if rate == MICRO else fx_convert(price_cost, rate)
                    currency = price.currency
                    # the rate's text, made once per rate (micros_text formats through Decimal: ~5k
                    # instructions, and a record's rate is one of the few the configuration names)
                    fx_rate = _RATE_TEXT.get(rate)
                    if fx_rate is None:
                        fx_rate = _RATE_TEXT[rate] = micros_text(rate)
                if t.account.name in self.grants.by_account:  # (GrantBook.draw, without the call when none)
                    draws, covered = self.grants.draw(
                        ctx.request_id, t.account.name, t.spec.id, u.total_tokens, cost, self.fx, now
                    )
                    if draws:
                        grant_name = ",".join(d.grant_name for d in draws)
                        grant_micros = covered
                        paid = cost - covered
        res = ctx.reservation
        fb = ctx.first_byte_s
        # Milliseconds to 0.001 ms, half up: ``round(x, 3)`` goes through a float-to-decimal conversion,
        # ~2k instructions, twice per record (and a helper function's call costs more than the arithmetic).
        latency = int((time.perf_counter() - ctx.t0) * 1_000_000.0 + 0.5) / 1000.0
        self.writer.append_values(
            [
                ctx.request_id,
                now,
                tenant,
                key_id,
                endpoint,
                ctx.model,
                provider,
                account,
                upstream_model,
                prompt,
                completion,
                cached,
                reasoning,
                estimated,
                currency,
                price_cost,
                fx_rate,
                cost,
                grant_name,
                grant_micros,
                paid,
                res.micros if isinstance(res, Reservation) else 0,
                latency,
                None if fb is None else int(fb * 1_000_000.0 + 0.5) / 1000.0,
                ctx.status,
                ctx.attempts,
                orjson.dumps(ctx.tried).decode() if ctx.tried else None,
                ctx.client_request_id,
            ],
            draws,
        )
        ctx.cost_micros = cost

    def settle_now(self, ctx: RequestContext) -> bool:
        """Settle at once when the counters are in process memory; False when :meth:`settle` must be
        awaited (Redis, the shared SQLite file)."""
        if not isinstance(self.counters, MemoryCounters):
            return ctx.reservation is None
        deltas = self._deltas(ctx)
        if deltas is not None:
            self.counters.adjust_now(ctx.request_id, deltas)
        return True

    async def settle(self, ctx: RequestContext) -> None:
        """Correct the counters from the reservation to what was billed (all of it back on failure)."""
        deltas = self._deltas(ctx)
        if deltas is not None and self.counters is not None:
            await self.counters.adjust(ctx.request_id, deltas)

    def _deltas(self, ctx: RequestContext) -> list[tuple[str, int, int]] | None:
        res = ctx.reservation
        if not isinstance(res, Reservation):
            return None
        ctx.reservation = None
        u = ctx.usage
        tokens = u.total_tokens if u is not None else 0
        cost = ctx.cost_micros or 0
        return [
            (key, (cost - res.micros) if what == "micros" else (tokens - res.tokens), ttl)
            for key, what, ttl in res.settle
        ]


def _new_budget_counter(old: Limits, new: Limits) -> bool:
    """Whether a limits change starts a budget counter that does not exist yet."""
    if new.budget_micros is None and new.budget_tokens is None:
        return False
    return (
        old.reset != new.reset
        or (old.budget_micros is None and new.budget_micros is not None)
        or (old.budget_tokens is None and new.budget_tokens is not None)
    )


def _rate_headers(
    checks: list[Check], kinds: list[tuple[str, str, Limits]], values: list[int], reset_s: int, failed: int
) -> list[tuple[bytes, bytes]]:
    """OpenAI's x-ratelimit-* headers from the tightest request and token windows."""
    req: tuple[int, int] | None = None
    tok: tuple[int, int] | None = None
    for i, kind in enumerate(kinds):
        if kind[0] == "rpm":
            limit = checks[i].limit or 0
            left = max(limit - values[i], 0) if i < len(values) else limit
            if req is None or left < req[1]:
                req = (limit, left)
        elif kind[0] == "tpm":
            limit = checks[i].limit or 0
            left = max(limit - values[i], 0) if i < len(values) else limit
            if tok is None or left < tok[1]:
                tok = (limit, left)
    reset = b"%ds" % reset_s
    out: list[tuple[bytes, bytes]] = []
    if req is not None:
        out += [
            (b"x-ratelimit-limit-requests", b"%d" % req[0]),
            (b"x-ratelimit-remaining-requests", b"%d" % req[1]),
            (b"x-ratelimit-reset-requests", reset),
        ]
    if tok is not None:
        out += [
            (b"x-ratelimit-limit-tokens", b"%d" % tok[0]),
            (b"x-ratelimit-remaining-tokens", b"%d" % tok[1]),
            (b"x-ratelimit-reset-tokens", reset),
        ]
    return out
