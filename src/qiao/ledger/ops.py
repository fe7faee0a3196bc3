"""Key, tenant and report operations shared by the admin API and the CLI (both call these, in a thread)."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from typing import Any

from ..config import Settings
from ..money import micros_text, parse_micros
from .grants import GrantBook
from .store import KeyRecord, LedgerStore, Limits

__all__ = [
    "OpConflict",
    "OpError",
    "OpNotFound",
    "accounts_report",
    "create_key",
    "create_tenant",
    "grants_report",
    "group_usage",
    "known_tenants",
    "parse_expires",
    "parse_limits",
    "patch_limits",
    "update_key",
    "update_tenant",
]

GROUPS = ("tenant", "key", "provider", "model", "day")


class OpError(ValueError):
    """A request the operator can fix; the message says how (``param``: the field at fault). The admin
    API answers 400; :class:`OpNotFound` 404; :class:`OpConflict` 409."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class OpNotFound(OpError):
    """The key, tenant, account or grant named does not exist."""


class OpConflict(OpError):
    """The change is refused as a whole, e.g. the entry is declared in the config file (read-only)."""


def parse_expires(value: str | None) -> float | None:
    """``2026-12-31`` (end of that UTC day), an ISO timestamp, or ``30d`` / ``12h`` from now."""
    if value is None or value == "":
        return None
    v = value.strip()
    try:
        if v[-1] in "dh" and v[:-1].isdigit():
            return time.time() + int(v[:-1]) * (86400 if v[-1] == "d" else 3600)
        if len(v) == 10:
            d = dt.date.fromisoformat(v)
            return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp() + 86400
        t = dt.datetime.fromisoformat(v)
        return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()
    except ValueError:
        raise OpError(
            f"cannot read expiry {value!r}: use YYYY-MM-DD, an ISO timestamp, or 30d / 12h", "expires"
        ) from None


def parse_limits(
    budget: str | None = None,
    budget_tokens: int | None = None,
    reset: str | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
) -> Limits:
    try:
        micros = parse_micros(budget) if budget not in (None, "") else None
    except ValueError:
        raise OpError(
            f"budget must be a decimal CNY amount such as 50 or 12.5, not {budget!r}", "budget"
        ) from None
    if micros is not None and micros < 0:
        raise OpError("budget must not be negative", "budget")
    reset = reset or "none"
    if reset not in ("none", "daily", "monthly"):
        raise OpError(f"reset must be none, daily or monthly, not {reset!r}", "reset")
    for name, v in (("budget_tokens", budget_tokens), ("rpm", rpm), ("tpm", tpm)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            raise OpError(f"{name} must be an integer, not {v!r}", name)
        if v is not None and v < (0 if name == "budget_tokens" else 1):
            raise OpError(f"{name} must be positive", name)
    return Limits(micros, budget_tokens, reset, rpm, tpm)


def known_tenants(store: LedgerStore, settings: Settings) -> set[str]:
    return {t.name for t in settings.tenants} | {t.name for t in store.tenants()}


def create_tenant(store: LedgerStore, settings: Settings, name: str, limits: Limits) -> dict[str, Any]:
    if not name or len(name) > 128:
        raise OpError("a tenant name is 1 to 128 characters")
    if name in known_tenants(store, settings):
        raise OpError(f"tenant {name!r} exists already")
    return store.create_tenant(name, limits).public()


def create_key(
    store: LedgerStore,
    settings: Settings,
    tenant: str,
    *,
    name: str | None = None,
    limits: Limits = Limits(),
    models: list[str] | None = None,
    expires_at: float | None = None,
    create_missing_tenant: bool = True,
) -> tuple[str, KeyRecord, bool]:
    """Create a key for ``tenant``; an unknown tenant is created (no limits) unless told not to.
    Returns the key (shown once), its record, and whether the tenant was created."""
    created = False
    if tenant not in known_tenants(store, settings):
        if not create_missing_tenant:
            raise OpError(
                f"unknown tenant {tenant!r}: create it with `qiao tenants create {tenant}` (or leave out "
                "--no-create-tenant)"
            )
        store.create_tenant(tenant)
        created = True
    if expires_at is not None and expires_at <= time.time():
        raise OpError("the expiry is in the past")
    key, rec = store.create_key(tenant, name, limits, models, expires_at)
    return key, rec, created


LIMIT_FIELDS = ("budget", "budget_tokens", "reset", "rpm", "tpm")
KEY_FIELDS = (*LIMIT_FIELDS, "name", "models", "expires")


def _check_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for k in body:
        if k not in allowed:
            raise OpError(f"unknown field {k!r}; one of {', '.join(allowed)} may be changed", k)
    if not body:
        raise OpError(f"nothing to change: give one of {', '.join(allowed)}")


def patch_limits(old: Limits, body: dict[str, Any]) -> Limits:
    """``old`` with the fields ``body`` names changed (``null`` removes a limit), validated."""
    budget = body.get("budget", micros_text(old.budget_micros) if old.budget_micros is not None else None)
    if budget is not None and not isinstance(budget, str):
        if isinstance(budget, bool) or not isinstance(budget, int | float):
            raise OpError(f'budget must be a decimal CNY amount such as "50", not {budget!r}', "budget")
        budget = str(budget)
    reset = body.get("reset", old.reset)
    return parse_limits(
        budget,
        body.get("budget_tokens", old.budget_tokens),
        "none" if reset is None else reset,
        body.get("rpm", old.rpm),
        body.get("tpm", old.tpm),
    )


def update_key(store: LedgerStore, settings: Settings, kid: str, body: dict[str, Any]) -> KeyRecord:
    """Change a key's limits, models, expiry or name in place (the key itself stays valid)."""
    if any(k.digest[:12] == kid for k in settings.keys):
        raise OpConflict(
            f"key {kid!r} is declared in the config file (keys:) and is read-only here: edit the config "
            "and restart, or create a database key with `qiao keys create`"
        )
    _check_fields(body, KEY_FIELDS)
    old = store.get_key(kid)
    if old is None:
        raise OpNotFound(f"no key {kid!r}: see `qiao keys list`")
    if old.revoked_at is not None:
        raise OpConflict(f"key {kid!r} is revoked; create a new one")
    limits = patch_limits(old.limits, body)
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not 1 <= len(name) <= 128):
        raise OpError("name is 1 to 128 characters", "name")
    models: Any = ...
    if "models" in body:
        models = body["models"]
        if isinstance(models, str):
            models = [m.strip() for m in models.split(",") if m.strip()]
        if models is not None and (
            not isinstance(models, list) or not all(isinstance(m, str) and m for m in models)
        ):
            raise OpError("models is a list of model names or patterns (or null for all)", "models")
        models = tuple(models) if models is not None else None
    expires: Any = ...
    if "expires" in body:
        raw = body["expires"]
        if raw is not None and not isinstance(raw, str):
            raise OpError("expires is YYYY-MM-DD, an ISO timestamp, 30d / 12h, or null", "expires")
        expires = parse_expires(raw)
        if expires is not None and expires <= time.time():
            raise OpError("the expiry is in the past", "expires")
    rec = store.update_key(kid, name=name, limits=limits, models=models, expires_at=expires)
    assert rec is not None
    return rec


def update_tenant(store: LedgerStore, settings: Settings, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Change a database tenant's budget and rate limits; config tenants are read-only (409)."""
    if any(t.name == name for t in settings.tenants):
        raise OpConflict(
            f"tenant {name!r} is declared in the config file (tenants:) and is read-only here: edit the "
            "config and restart"
        )
    _check_fields(body, LIMIT_FIELDS)
    old = store.get_tenant(name)
    if old is None:
        raise OpNotFound(f"no tenant {name!r}: see `qiao tenants list`")
    rec = store.update_tenant(name, patch_limits(old.limits, body))
    assert rec is not None
    return rec.public()


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def group_usage(records: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """Totals per tenant, key, provider, model or day."""
    if by not in GROUPS:
        raise OpError(f"--group-by is one of {', '.join(GROUPS)}")
    col = {"key": "key_id", "model": "model", "provider": "provider", "tenant": "tenant"}.get(by)
    acc: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "requests": 0,
            "errors": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost_micros": 0,
            "grant_micros": 0,
        }
    )
    for r in records:
        k = _day(r["ts"]) if by == "day" else (r.get(col or "") or "-")
        a = acc[str(k)]
        a["requests"] += 1
        a["errors"] += 1 if r["status"] >= 400 else 0
        a["prompt_tokens"] += r["prompt_tokens"]
        a["completion_tokens"] += r["completion_tokens"]
        a["cost_micros"] += r["cost_micros"]
        a["grant_micros"] += r["grant_micros"]
    rows = []
    for k in sorted(acc):
        a = acc[k]
        rows.append({by: k, **a, "cost_cny": micros_text(a["cost_micros"])})
    return rows


def grants_report(store: LedgerStore, settings: Settings, now: float | None = None) -> dict[str, Any]:
    """Per account: each grant's granted / used / left / days to expiry / warnings, and paid balance."""
    book = GrantBook(settings.accounts)
    book.load(store.grant_used())
    paid = store.paid_used()
    today = dt.datetime.fromtimestamp(now or time.time(), dt.UTC).date()
    grants = [s.report(today) for s in book.all()]
    accounts = []
    for acc in settings.accounts:
        name = acc.account_name
        bal = book.balance.get(name)
        used = paid.get(name, 0)
        accounts.append(
            {
                "account": name,
                "provider": acc.provider,
                "balance_cny": micros_text(bal) if bal is not None else None,
                "paid_used_cny": micros_text(used),
                "balance_left_cny": micros_text(bal - used) if bal is not None else None,
                "grants": [g for g in grants if g["account"] == name],
            }
        )
    warnings = [f"{g['account']}/{g['grant']}: {w}" for g in grants for w in g["warnings"]]
    return {"accounts": accounts, "grants": grants, "warnings": warnings}


def accounts_report(store: LedgerStore, settings: Settings) -> list[dict[str, Any]]:
    """The provider accounts as declared: credential reference (never the secret), paid balance and
    what is left of it, grants with their use."""
    report = grants_report(store, settings)
    by_name = {a["account"]: a for a in report["accounts"]}
    out = []
    for acc in settings.accounts:
        name = acc.account_name
        cred = acc.credential.get_secret_value() if acc.credential is not None else None
        out.append(
            {
                **by_name[name],
                "credential": None if cred is None else f"set (…{cred[-4:]})" if len(cred) > 12 else "set",
                "base_url": acc.base_url,
                "models": acc.models,
            }
        )
    return out
