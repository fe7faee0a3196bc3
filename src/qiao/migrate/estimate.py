"""``qiao migrate estimate``: what an OpenAI usage export would have cost on each candidate provider,
before and after free grants. Money is integer micro-units throughout; conversion to CNY only for the
side-by-side view, at the configured ``limits.fx_rates``.

Inputs (documented in docs/migration-guide.md): the CSV exported from the OpenAI platform's usage page
and the JSON pages of the organization usage API (``/v1/organization/usage/completions`` and
``/embeddings``).
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings
from ._openai_ref import lookup
from .plan import Candidate, Catalogue, _pick, _serves, price_cny_micros

__all__ = [
    "HISTORICAL_GRANTS_2024",
    "Grant",
    "ProviderEstimate",
    "Usage",
    "estimate",
    "grants_from_settings",
    "read_usage",
]

# column aliases, first match wins (OpenAI has renamed export columns over time)
_COLS = {
    "model": ("model", "snapshot_id", "model_id"),
    "input": ("input_tokens", "n_context_tokens_total", "prompt_tokens", "context_tokens"),
    "output": ("output_tokens", "n_generated_tokens_total", "completion_tokens", "generated_tokens"),
    "cached": ("input_cached_tokens", "n_cached_context_tokens_total", "cached_tokens"),
    "requests": ("num_model_requests", "n_requests", "requests"),
    "time": ("start_time_iso", "start_time", "aggregation_timestamp", "date", "timestamp"),
}


@dataclass(slots=True)
class Usage:
    model: str
    input: int = 0
    output: int = 0
    cached: int = 0
    requests: int = 0


@dataclass(frozen=True, slots=True)
class Grant:
    provider: str
    name: str
    tokens: int | None = None
    amount_micros: int | None = None
    models: tuple[str, ...] = ("*",)
    historical: bool = False


# The mid-2024 switching offers (docs/providers/seed-four.md §6), a worked example only: they are
# expired marketing programmes, their eligible models and expiry were never established.
HISTORICAL_GRANTS_2024 = (
    Grant("zhipu", "OpenAI API 用户特别搬家计划 (2024, historical)", tokens=150_000_000, historical=True),
    Grant("ernie", "大模型普惠计划 (2024, historical)", tokens=50_000_000, historical=True),
    Grant("sensenova", "SenseTime switch offer (2024, historical)", tokens=50_000_000, historical=True),
    Grant("baichuan", "Baichuan switch offer (2024, historical)", tokens=10_000_000, historical=True),
)


def _int(v: Any) -> int:
    if v in (None, ""):
        return 0
    try:
        return int(str(v).replace(",", "").split(".")[0])
    except ValueError:
        return 0


def _merge(rows: list[dict[str, Any]]) -> dict[str, Usage]:
    out: dict[str, Usage] = {}
    for r in rows:
        keys = {k.strip().lower(): v for k, v in r.items() if k}
        col = {name: next((a for a in aliases if a in keys), None) for name, aliases in _COLS.items()}
        model = str(keys.get(col["model"] or "", "") or "(unknown)")
        u = out.setdefault(model, Usage(model))
        u.input += _int(keys.get(col["input"] or ""))
        u.output += _int(keys.get(col["output"] or ""))
        u.cached += _int(keys.get(col["cached"] or ""))
        u.requests += _int(keys.get(col["requests"] or ""))
    return out


def read_usage(path: str | Path) -> dict[str, Usage]:
    """Token totals per model from a usage CSV or usage-API JSON (a page, or a list of pages)."""
    text = Path(path).read_text(encoding="utf-8-sig")
    if text.lstrip().startswith(("{", "[")):
        data = json.loads(text)
        pages = data if isinstance(data, list) else [data]
        rows: list[dict[str, Any]] = []
        for page in pages:
            for bucket in page.get("data", []) if isinstance(page, dict) else []:
                rows.extend(r for r in bucket.get("results", []) if isinstance(r, dict))
        return _merge(rows)
    return _merge(list(csv.DictReader(io.StringIO(text))))


def grants_from_settings(settings: Settings) -> list[Grant]:
    from ..money import parse_micros

    out = []
    for acc in settings.accounts:
        for g in acc.grants:
            amount = parse_micros(g.amount) if g.amount else None
            out.append(Grant(acc.provider, g.name, g.tokens, amount, tuple(g.models)))
    return out


@dataclass(slots=True)
class Line:
    openai_model: str
    target: str | None
    tokens: int
    cost_micros: int
    currency: str


@dataclass(slots=True)
class ProviderEstimate:
    provider: str
    display_name: str
    currency: str
    lines: list[Line] = field(default_factory=list)
    before_micros: int = 0
    after_micros: int = 0
    grants_used: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)

    def to_json(self, fx: dict[str, str]) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "currency": self.currency,
            "before_grants_micros": self.before_micros,
            "after_grants_micros": self.after_micros,
            "before_grants_cny_micros": _to_cny(self.before_micros, self.currency, fx),
            "after_grants_cny_micros": _to_cny(self.after_micros, self.currency, fx),
            "grants": self.grants_used,
            "unmapped_models": self.unmapped,
            "lines": [
                {
                    "openai_model": ln.openai_model,
                    "target": ln.target,
                    "tokens": ln.tokens,
                    "cost_micros": ln.cost_micros,
                }
                for ln in self.lines
            ],
        }


def _to_cny(micros: int, currency: str, fx: dict[str, str]) -> int:
    from ..catalogue import PriceTier

    return price_cny_micros(PriceTier(micros, 0, currency=currency), fx) or 0


def openai_cost_micros(usage: dict[str, Usage]) -> tuple[int, list[str]]:
    """What the export cost at OpenAI's list prices, in USD micro-units, and models without a price."""
    total, unknown = 0, []
    for u in usage.values():
        ref = lookup(u.model)
        if ref.price is None:
            unknown.append(u.model)
            continue
        total += ref.price.cost_micros(u.input, u.output, u.cached)
    return total, unknown


def estimate(usage: dict[str, Usage], catalogue: Catalogue, grants: list[Grant]) -> list[ProviderEstimate]:
    fx = catalogue.fx
    by_provider: dict[str, list[Candidate]] = {}
    for c in catalogue.candidates:
        by_provider.setdefault(c.provider, []).append(c)
    out = []
    for prov, cands in by_provider.items():
        currency = next((c.spec.price.currency for c in cands if c.spec.price), "CNY")
        est = ProviderEstimate(prov, cands[0].display_name, currency)
        for u in usage.values():
            ref = lookup(u.model)
            need = {"embeddings"} if ref.tier == "embedding" else {"chat"}
            priced = [c for c in cands if _serves(c.spec.caps, need) and c.spec.price is not None]
            pick = _pick(priced, ref.tier, fx)
            if pick is None or pick.spec.price is None:
                est.unmapped.append(u.model)
                continue
            cost = pick.spec.price.cost_micros(u.input, u.output, u.cached)
            est.lines.append(Line(u.model, pick.target, u.input + u.output, cost, pick.spec.price.currency))
        est.before_micros = sum(ln.cost_micros for ln in est.lines)
        est.after_micros = _apply_grants(est, [g for g in grants if g.provider == prov])
        out.append(est)
    out.sort(key=lambda e: (_to_cny(e.after_micros, e.currency, fx), e.provider))
    return out


def _apply_grants(est: ProviderEstimate, grants: list[Grant]) -> int:
    costs = {id(ln): ln.cost_micros for ln in est.lines}
    for g in grants:
        used = False
        left = g.tokens
        for ln in est.lines:
            model = (ln.target or "").split("/", 1)[-1]
            if not any(fnmatch.fnmatch(model, pat) for pat in g.models) or costs[id(ln)] == 0:
                continue
            if left is not None and left > 0 and ln.tokens:
                covered = min(left, ln.tokens)
                left -= covered
                costs[id(ln)] -= ln.cost_micros * covered // ln.tokens
                used = True
        if g.amount_micros:
            budget = g.amount_micros
            for ln in est.lines:
                take = min(budget, costs[id(ln)])
                costs[id(ln)] -= take
                budget -= take
                used = used or take > 0
        if used:
            est.grants_used.append(g.name)
    return sum(costs.values())
