"""From a model name in a request to the upstream targets that can serve it.

Names a client can use, in the order they are tried:

1. a route or alias from the config (``gpt-4o``), → its targets in order;
2. ``PROVIDER/MODEL`` (``zhipu/glm-4-plus``): every account of that provider serving the model;
3. ``ACCOUNT/MODEL``: that account only (when an account has its own name);
4. a bare model id served by exactly one provider (``glm-4-plus``).

Within one target group (several accounts of a provider), requests are spread by weight. A route may
be limited to some tenants (``tenants:``); a tenant's own route for a name wins over the route for all
(several routes answer to one name through ``model:``). How a route's targets are ordered, retried and
skipped per request is the router's business (``gateway/router.py``).
"""

from __future__ import annotations

import fnmatch
import itertools
from dataclasses import dataclass, field
from typing import Any

from ..catalogue import ModelSpec
from ..config import AccountConfig, ConfigError, RouteConfig, Settings
from ..providers._registry import get_provider
from ..providers.base import Account, Provider

__all__ = ["Entry", "Resolver", "Route", "Target", "TargetGroup", "account_from_config", "describe_route"]


@dataclass(frozen=True, slots=True)
class Target:
    account: Account
    provider: Provider
    spec: ModelSpec
    # worked out once here, not per request: the label keys health, latency and the attempt log, and the
    # response headers naming who served a request are the same bytes every time
    label: str = field(init=False, compare=False)
    headers: tuple[tuple[bytes, bytes], ...] = field(init=False, compare=False, repr=False)
    upstream_model: str = field(init=False, compare=False, repr=False)  # spec.wire_name (the usage record's)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", f"{self.account.name}/{self.spec.id}")
        object.__setattr__(self, "upstream_model", self.spec.wire_name)
        object.__setattr__(
            self,
            "headers",
            (
                (b"x-qiao-provider", self.provider.name.encode()),
                (b"x-qiao-account", self.account.name.encode()),
                (b"x-qiao-upstream-model", self.upstream_model.encode()),
            ),
        )


@dataclass(slots=True)
class TargetGroup:
    """Equivalent targets (same provider model on several accounts), balanced by weight."""

    name: str
    targets: list[Target]
    _cycle: itertools.cycle[int] | None = field(default=None, repr=False)

    def ordered(self) -> list[Target]:
        """All targets, starting from the next one in weighted round-robin order."""
        if len(self.targets) == 1:
            return self.targets
        if self._cycle is None:
            seq = [i for i, t in enumerate(self.targets) for _ in range(max(t.account.weight, 0))]
            self._cycle = itertools.cycle(seq or list(range(len(self.targets))))
        first = next(self._cycle)
        return self.targets[first:] + self.targets[:first]


@dataclass(slots=True)
class Entry:
    """One configured target of a route: a target group, its weight and its parameter overrides."""

    group: TargetGroup
    weight: int = 1
    params: dict[str, Any] = field(default_factory=dict)


_NO_PARAMS: dict[str, Any] = {}


@dataclass(slots=True)
class Route:
    name: str
    entries: list[Entry]
    config: RouteConfig | None = None
    # the smallest context window behind the route: a prompt bounded below it needs no tokenising
    min_context: int = field(init=False, default=0)
    # (target, parameter overrides) of a route with one entry of one target and no strategy to apply
    # (Router.order's short cut); None otherwise. Entries and groups are not changed after the route is
    # built (a new configuration builds new routes).
    only: tuple[Target, dict[str, Any]] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.min_context = min((t.spec.context for e in self.entries for t in e.group.targets), default=0)
        if len(self.entries) == 1 and len(self.entries[0].group.targets) == 1:
            e = self.entries[0]
            self.only = (e.group.targets[0], e.params)

    @property
    def groups(self) -> list[TargetGroup]:
        return [e.group for e in self.entries]

    def candidates(self) -> list[Target]:
        """Every target in configured order (accounts of a group in weighted round-robin order)."""
        out: list[Target] = []
        for e in self.entries:
            out.extend(e.group.ordered())
        return out

    @property
    def is_alias(self) -> bool:
        return self.config is not None


def account_from_config(a: AccountConfig, provider: Provider) -> Account:
    return Account(
        name=a.account_name,
        provider=a.provider,
        credential=a.credential.get_secret_value() if a.credential else None,
        base_url=(a.base_url or provider.default_base_url).rstrip("/"),
        headers=tuple(a.headers.items()),
        proxy=a.proxy,
        ca_bundle=a.ca_bundle,
        options=tuple(a.options.items()),
        weight=a.weight,
    )


class Resolver:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.accounts: list[Account] = []
        self.served: dict[str, list[Target]] = {}  # "provider/model" and "account/model" → targets
        self._bare: dict[str, list[str]] = {}
        self.routes: dict[str, Route] = {}
        self._tenant_routes: dict[tuple[str, str], Route] = {}
        self._wildcards: list[tuple[str, Route]] = []
        self._tenant_wildcards: list[tuple[str, str, Route]] = []
        self.table: list[tuple[str, Route]] = []  # (config key, route), for ``qiao routes``
        src = settings.source or "config"
        for i, ac in enumerate(settings.accounts):
            try:
                provider = get_provider(ac.provider)
            except KeyError as exc:
                raise ConfigError(f"{src}: accounts.{i}.provider: {exc.args[0]}") from None
            account = account_from_config(ac, provider)
            self.accounts.append(account)
            specs = self._specs(provider, ac)
            for spec in specs:
                t = Target(account, provider, spec)
                for name in {spec.id, *spec.aliases}:
                    self.served.setdefault(f"{provider.name}/{name}", []).append(t)
                    if account.name != provider.name:
                        self.served.setdefault(f"{account.name}/{name}", []).append(t)
                    self._bare.setdefault(name, [])
                    if provider.name not in self._bare[name]:
                        self._bare[name].append(provider.name)
        self._groups = {k: TargetGroup(k, v) for k, v in self.served.items()}
        self._direct: dict[str, Route] = {}  # PROVIDER/MODEL and bare model names, built on first use
        for key, rc in settings.route_table().items():
            where = f"{src}: {'aliases' if key in settings.aliases else 'routes'}.{key}"
            entries = []
            for j, tc in enumerate(rc.targets):
                here = where if key in settings.aliases else f"{where}.targets.{j}"
                g = self._groups.get(tc.target)
                if g is None:
                    raise ConfigError(
                        f"{here}: target {tc.target!r} is not served by any account "
                        f"(known: {', '.join(sorted(self.served)[:8])}…)"
                    )
                if tc.params:
                    _check_params(tc.params, f"{here}.params")
                entries.append(Entry(g, tc.weight, tc.params or _NO_PARAMS))
            name = rc.model or key
            route = Route(name, entries, rc)
            self.table.append((key, route))
            wild = "*" in name or "?" in name
            for tenant in rc.tenants or ():
                if wild:
                    self._tenant_wildcards.append((tenant, name, route))
                else:
                    self._tenant_routes[(tenant, name)] = route
            if rc.tenants:
                continue
            if name in self.routes:
                raise ConfigError(f"{where}: a second route for {name!r} for all tenants")
            if wild:
                self._wildcards.append((name, route))
            else:
                self.routes[name] = route
        # Whether any tenant has routes of its own. Without, resolve's first answer for a name in
        # ``routes`` is that route whoever asks: Gateway.route_for reads it there without the call.
        self.tenanted = bool(self._tenant_routes or self._tenant_wildcards)

    @staticmethod
    def _specs(provider: Provider, ac: AccountConfig) -> list[ModelSpec]:
        if ac.models is None:
            return list(provider.models)
        out = []
        for mid in ac.models:
            spec = provider.spec(mid)
            if spec is None:
                from ..providers.openai_compat import generic_spec

                spec = generic_spec(mid)
            out.append(spec)
        return out

    def resolve(self, name: str, tenant: str | None = None) -> Route | None:
        if tenant is not None and (self._tenant_routes or self._tenant_wildcards):
            r = self._tenant_routes.get((tenant, name))
            if r is not None:
                return r
            for t, pattern, route in self._tenant_wildcards:
                if t == tenant and fnmatch.fnmatchcase(name, pattern):
                    return route
        r = self.routes.get(name)
        if r is not None:
            return r
        r = self._direct.get(name)
        if r is not None:
            return r
        g = self._groups.get(name)
        if g is None:
            providers = self._bare.get(name)
            if providers and len(providers) == 1:
                g = self._groups.get(f"{providers[0]}/{name}")
        if g is not None:
            r = self._direct[name] = Route(name, [Entry(g)])  # bounded: one per served name
            return r
        for pattern, route in self._wildcards:
            if fnmatch.fnmatchcase(name, pattern):
                return route
        return None

    def describe(self) -> list[dict[str, Any]]:
        """The route table as configured and resolved (aliases and routes, wildcards included)."""
        return [describe_route(key, route) for key, route in self.table]

    def labels(self) -> list[str]:
        """Every target label (``account/model``) this configuration can send to."""
        return sorted({t.label for ts in self.served.values() for t in ts})

    def public_names(self, tenant: str | None = None) -> list[tuple[str, str]]:
        """(model id, owned_by) for ``GET /v1/models``: routes and aliases first (a tenant also sees its
        own routes), then provider models."""
        names = set(self.routes)
        if tenant is not None:
            names.update(n for t, n in self._tenant_routes if t == tenant)
        out = [(n, "qiao") for n in sorted(names)]
        seen = set(names)
        for key, targets in sorted(self.served.items()):
            if key in seen:
                continue
            prov = key.split("/", 1)[0]
            if any(t.provider.name == prov for t in targets):
                out.append((key, prov))
                seen.add(key)
        return out


def _check_params(params: dict[str, Any], where: str) -> None:
    """A target's parameter overrides must be request fields with valid values (checked at start)."""
    from pydantic import ValidationError

    from ..types import ChatRequest

    unknown = sorted(set(params) - set(ChatRequest.model_fields) - {"model", "messages", "stream"})
    if unknown or {"model", "messages", "stream"} & set(params):
        bad = unknown or sorted({"model", "messages", "stream"} & set(params))
        raise ConfigError(f"{where}: {bad[0]!r} cannot be set on a target (use request fields)")
    try:
        ChatRequest.model_validate({"model": "x", "messages": [{"role": "user", "content": "x"}], **params})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"{where}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None


def describe_route(key: str, route: Route) -> dict[str, Any]:
    """One route as ``qiao routes`` and ``GET /admin/routes`` show it (JSON-serialisable, no secrets)."""
    rc = route.config
    out: dict[str, Any] = {
        "name": route.name,
        "key": key,
        "tenants": list(rc.tenants) if rc is not None and rc.tenants else None,
        "strategy": rc.strategy if rc is not None else "priority",
        "max_attempts": rc.max_attempts if rc is not None else 3,
        "retries_per_target": rc.retries_per_target if rc is not None else None,
        "timeouts_s": {
            "connect": rc.connect_timeout_s if rc is not None else None,
            "first_byte": rc.first_byte_timeout_s if rc is not None else None,
            "total": rc.total_timeout_s if rc is not None else None,
        },
        "fallback_on_content_filter": bool(rc and rc.fallback_on_content_filter),
        "fallback_on_context_length": bool(rc is None or rc.fallback_on_context_length),
        "targets": [],
    }
    for e in route.entries:
        out["targets"].append(
            {
                "target": e.group.name,
                "weight": e.weight,
                "params": dict(e.params),
                "accounts": [
                    {
                        "label": t.label,
                        "account": t.account.name,
                        "provider": t.provider.name,
                        "upstream_model": t.spec.wire_name,
                        "account_weight": t.account.weight,
                        "context": t.spec.context,
                        "capabilities": t.spec.caps.names(),
                        "price": None
                        if t.spec.price is None
                        else {
                            "input_per_mtok": str(t.spec.price.per_mtok_decimal()[0]),
                            "output_per_mtok": str(t.spec.price.per_mtok_decimal()[1]),
                            "currency": t.spec.price.currency,
                        },
                    }
                    for t in e.group.targets
                ],
            }
        )
    return out
