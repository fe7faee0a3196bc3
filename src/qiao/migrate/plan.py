"""``qiao migrate plan``: for each finding, which providers/models can serve it with every feature it uses.

The catalogue comes from the provider registry (and, with ``--config``, only the providers the user has
accounts for, and the aliases they configured). Nothing about a provider is written here: a model
qualifies when its :class:`~qiao.catalogue.Capabilities` cover the finding's kind and features.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..catalogue import Capabilities, ModelSpec, PriceTier
from ..config import Settings
from ..money import MICRO
from ..providers.base import Provider
from ._model import Finding
from ._openai_ref import lookup

__all__ = [
    "FEATURE_CAPS",
    "NO_EQUIVALENT",
    "AliasSuggestion",
    "Candidate",
    "Catalogue",
    "FindingPlan",
    "Plan",
    "load_catalogue",
    "make_plan",
    "price_cny_micros",
    "render_plan_markdown",
]

log = logging.getLogger(__name__)

# request feature → the capability a model needs to honour it (features not listed work everywhere)
FEATURE_CAPS: dict[str, str] = {
    "stream": "stream",
    "stream_options": "stream_usage",
    "tools": "tools",
    "functions": "tools",
    "tool_choice": "tools",
    "parallel_tool_calls": "parallel_tool_calls",
    "json_mode": "json_mode",
    "json_schema": "json_schema",
    "vision": "vision",
    "logprobs": "logprobs",
    "n": "n",
    "seed": "seed",
    "reasoning": "reasoning",
}
_KIND_CAP = {"chat": "chat", "completions": "chat", "responses": "chat", "embeddings": "embeddings"}

NO_EQUIVALENT: dict[str, str] = {
    "assistants": "No Assistants/threads API behind qiao. Keep the conversation in your app and call "
    "chat.completions with tools; replace vector stores with your own retrieval (embeddings + a vector DB).",
    "fine_tuning": "Fine-tuning is a console workflow at each vendor; qiao does not proxy it. Re-run the "
    "job at the vendor, then route an alias to the resulting model id.",
    "images": "Image generation is not served through qiao; call the vendor's image API directly.",
    "audio": "Speech-to-text and text-to-speech are not served through qiao; "
    "use a dedicated ASR/TTS service.",
    "moderations": "No moderation endpoint: Chinese providers filter server-side and answer with "
    "finish_reason 'content_filter' — handle that instead.",
    "batch": "No Batch API: send the requests concurrently within your rate limits "
    "(qiao queues and retries).",
    "files": "The Files API only feeds Assistants, Batch and fine-tuning; it goes with them.",
    "realtime": "No Realtime (WebSocket) API: use streaming chat completions.",
}
_REWRITE = {
    "responses": "Rewrite to chat.completions: the Responses API is not translated.",
    "completions": "Rewrite to chat.completions: legacy text completions are not offered by most providers.",
}


@dataclass(frozen=True, slots=True)
class Candidate:
    provider: str
    display_name: str
    spec: ModelSpec

    @property
    def target(self) -> str:
        return f"{self.provider}/{self.spec.id}"


@dataclass(slots=True)
class Catalogue:
    candidates: list[Candidate]
    aliases: dict[str, list[str]] = field(default_factory=dict)
    fx: dict[str, str] = field(default_factory=lambda: {"USD": "7.1"})
    warnings: list[str] = field(default_factory=list)


def load_catalogue(
    settings: Settings | None = None, providers: Iterable[Provider] | None = None
) -> Catalogue:
    """Models from the registry (or ``providers``), narrowed to the accounts in ``settings`` if given."""
    warnings: list[str] = []
    if providers is None:
        from ..providers import _registry

        loaded = []
        for name in _registry.provider_names():
            try:
                loaded.append(_registry.get_provider(name))
            except Exception as exc:  # a broken plugin must not stop the planner
                warnings.append(f"provider {name!r} could not be loaded: {exc}")
        providers = loaded
    allowed: dict[str, set[str] | None] | None = None
    aliases: dict[str, list[str]] = {}
    fx = {"USD": "7.1"}
    if settings is not None:
        fx = dict(settings.limits.fx_rates)
        if settings.accounts:
            allowed = {}
            for acc in settings.accounts:
                prev = allowed.get(acc.provider, set())
                allowed[acc.provider] = None if acc.models is None or prev is None else prev | set(acc.models)
        for name, route in settings.route_table().items():
            aliases[name] = [t.target for t in route.targets]
    cands = []
    for p in providers:
        if allowed is not None and p.name not in allowed:
            continue
        only = allowed.get(p.name) if allowed is not None else None
        for m in p.models:
            if m.deprecated or (only is not None and m.id not in only):
                continue
            cands.append(Candidate(p.name, p.display_name or p.name, m))
    if not cands:
        warnings.append("no provider models found: install/enable providers or pass --config")
    return Catalogue(cands, aliases, fx, warnings)


def price_cny_micros(price: PriceTier | None, fx: dict[str, str], output: bool = False) -> int | None:
    """A price per 1M tokens in CNY micro-units (conversion happens only in reports)."""
    if price is None:
        return None
    micros = price.output if output else price.input
    if price.currency.upper() == "CNY":
        return micros
    rate = Decimal(fx.get(price.currency.upper(), "0"))
    return int((Decimal(micros) * rate).to_integral_value())


def _needed(f: Finding) -> set[str]:
    caps = {FEATURE_CAPS[x] for x in f.features if x in FEATURE_CAPS}
    if f.kind in _KIND_CAP:
        caps.add(_KIND_CAP[f.kind])
    if f.kind == "embeddings":
        caps.discard("stream")
    return caps


def _serves(caps: Capabilities, needed: set[str]) -> bool:
    if "embeddings" in needed:
        return caps.embeddings
    if not caps.chat:
        return False
    return all(getattr(caps, c, False) for c in needed)


@dataclass(slots=True)
class FindingPlan:
    finding: Finding
    needed: list[str]
    candidates: list[Candidate]
    missing: list[str]
    advice: str | None


@dataclass(slots=True)
class AliasSuggestion:
    openai_model: str
    kind: str
    targets: list[str]
    source: str  # "config" or "suggested"
    openai_price: PriceTier | None
    prices: dict[str, PriceTier | None]
    note: str = ""


@dataclass(slots=True)
class Plan:
    findings: list[FindingPlan]
    aliases: list[AliasSuggestion]
    catalogue: Catalogue

    def to_json(self) -> dict[str, Any]:
        def price(p: PriceTier | None) -> dict[str, Any] | None:
            if p is None:
                return None
            return {
                "input": str(Decimal(p.input) / MICRO),
                "output": str(Decimal(p.output) / MICRO),
                "currency": p.currency,
                "since": p.since,
                "source": p.source,
            }

        return {
            "findings": [
                {
                    **fp.finding.to_dict(),
                    "needs": fp.needed,
                    "candidates": [c.target for c in fp.candidates],
                    "missing": fp.missing,
                    "advice": fp.advice,
                }
                for fp in self.findings
            ],
            "aliases": [
                {
                    "model": a.openai_model,
                    "kind": a.kind,
                    "targets": a.targets,
                    "source": a.source,
                    "openai_price": price(a.openai_price),
                    "prices": {k: price(v) for k, v in a.prices.items()},
                    "note": a.note,
                }
                for a in self.aliases
            ],
            "warnings": self.catalogue.warnings,
        }


def _pick(cands: list[Candidate], tier: str, fx: dict[str, str]) -> Candidate | None:
    if not cands:
        return None

    def out_price(c: Candidate) -> int:
        p = price_cny_micros(c.spec.price, fx, output=c.spec.price is not None and c.spec.price.output > 0)
        return p if p is not None else 0

    if tier in ("small", "embedding", "legacy"):
        paid = [c for c in cands if out_price(c) > 0]
        return min(paid or cands, key=out_price)
    if tier == "reasoning":
        reasoning = [c for c in cands if c.spec.caps.reasoning]
        cands = reasoning or cands
    # the provider's most capable, then most expensive, model stands in for a flagship
    return max(cands, key=lambda c: (len(c.spec.caps.names()), out_price(c)))


def make_plan(findings: list[Finding], catalogue: Catalogue, fallbacks: int = 1) -> Plan:
    fx = catalogue.fx
    plans: list[FindingPlan] = []
    for f in findings:
        if f.kind in ("client", "config"):
            continue
        if f.kind in NO_EQUIVALENT:
            plans.append(FindingPlan(f, [f.kind], [], [f.kind], NO_EQUIVALENT[f.kind]))
            continue
        needed = _needed(f)
        cands = [c for c in catalogue.candidates if _serves(c.spec.caps, needed)]
        missing = sorted(
            n
            for n in needed
            if not any(
                _serves(c.spec.caps, {n} | ({"chat"} if n != "embeddings" else set()))
                for c in catalogue.candidates
            )
        )
        advice = _REWRITE.get(f.kind)
        if missing:
            advice = (advice + " " if advice else "") + f"No configured model supports: {', '.join(missing)}."
        elif not cands:
            advice = (advice + " " if advice else "") + (
                f"No single model supports all of: {', '.join(sorted(needed))}; drop one or split the call."
            )
        plans.append(FindingPlan(f, sorted(needed), cands, missing, advice))
    # one alias per OpenAI model name, covering every feature any of its call sites uses
    by_model: dict[str, list[FindingPlan]] = {}
    for fp in plans:
        if fp.finding.model and fp.finding.kind not in NO_EQUIVALENT:
            by_model.setdefault(fp.finding.model, []).append(fp)
    aliases: list[AliasSuggestion] = []
    for model, fps in sorted(by_model.items()):
        ref = lookup(model)
        lost: set[str] = set().union(*(set(fp.missing) for fp in fps)) - {"chat", "embeddings"}
        needed = set().union(*(set(fp.needed) for fp in fps)) - lost
        kind = "embeddings" if "embeddings" in needed else "chat"
        note = ""
        if model in catalogue.aliases:
            targets, source = catalogue.aliases[model], "config"
        else:
            pool = [c for c in catalogue.candidates if _serves(c.spec.caps, needed)]
            if not pool:  # no model covers every call site: suggest for the kind, name what is lost
                base = {"embeddings"} if kind == "embeddings" else {"chat"}
                pool = [c for c in catalogue.candidates if _serves(c.spec.caps, base)]
                extra = sorted(needed - base)
                if not catalogue.candidates:
                    note = "the catalogue is empty (no provider models registered or configured)"
                elif extra:
                    note = f"no model covers all of {', '.join(extra)}: check the call sites"
            picks = [
                p
                for prov in dict.fromkeys(c.provider for c in pool)
                if (p := _pick([c for c in pool if c.provider == prov], ref.tier, fx)) is not None
            ]
            picks.sort(key=lambda c: (price_cny_micros(c.spec.price, fx, output=True) or 0, c.provider))
            targets, source = [c.target for c in picks[: 1 + fallbacks]], "suggested"
        prices = {t: _price_of(t, catalogue) for t in targets}
        aliases.append(AliasSuggestion(model, kind, targets, source, ref.price, prices, note))
    return Plan(plans, aliases, catalogue)


def _price_of(target: str, catalogue: Catalogue) -> PriceTier | None:
    for c in catalogue.candidates:
        if c.target == target:
            return c.spec.price
    return None


def fmt_price(p: PriceTier | None) -> str:
    if p is None:
        return "?"
    i, o = Decimal(p.input) / MICRO, Decimal(p.output) / MICRO
    if p.input == 0 and p.output == 0:
        return f"free ({p.currency})"
    return f"{i.normalize():f} / {o.normalize():f} {p.currency}"


def render_plan_markdown(plan: Plan, root: str = ".") -> str:
    lines = [
        f"# Migration plan for `{root}`",
        "",
        "Prices are per 1M tokens (input / output), from each provider's catalogue entry.",
        "",
        "## Suggested aliases",
        "",
        "| OpenAI model | OpenAI price | → qiao targets (first = primary, then fallbacks) "
        "| Their prices | Source "
        "| Note |",
        "|---|---|---|---|---|---|",
    ]
    for a in plan.aliases:
        targets = " → ".join(f"`{t}`" for t in a.targets) or "**none qualifies**"
        prices = "; ".join(f"{t.split('/', 1)[1]}: {fmt_price(p)}" for t, p in a.prices.items())
        lines.append(
            f"| `{a.openai_model}` | {fmt_price(a.openai_price)} | {targets} | {prices} "
            f"| {a.source} | {a.note} |"
        )
    if any(a.targets for a in plan.aliases):
        lines += ["", "```yaml", "aliases:"]
        for a in plan.aliases:
            if a.targets:
                lines.append(f"  {a.openai_model}: [{', '.join(a.targets)}]")
        lines += ["```"]
    lines += [
        "",
        "## Call sites",
        "",
        "| Location | Kind | Model | Needs | Can be served by | Notes |",
        "|---|---|---|---|---|---|",
    ]
    for fp in plan.findings:
        f = fp.finding
        served = ", ".join(c.target for c in fp.candidates[:4]) + (" …" if len(fp.candidates) > 4 else "")
        lines.append(
            f"| `{f.path}:{f.line}` | {f.kind} | {f.model or f.model_expr or ''} | {', '.join(fp.needed)} "
            f"| {served or '—'} | {fp.advice or ''} |"
        )
    gaps = [fp for fp in plan.findings if fp.advice and fp.finding.kind in NO_EQUIVALENT]
    if gaps:
        lines += ["", "## No equivalent through qiao", ""]
        for kind in sorted({fp.finding.kind for fp in gaps}):
            where = ", ".join(
                f"`{fp.finding.path}:{fp.finding.line}`" for fp in gaps if fp.finding.kind == kind
            )
            lines.append(f"- **{kind}** ({where}): {NO_EQUIVALENT[kind]}")
    if plan.catalogue.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in plan.catalogue.warnings]
    return "\n".join(lines) + "\n"
