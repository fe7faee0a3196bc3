"""From a model name in a request to the upstream targets that can serve it.

Names a client can use, in the order they are tried:

1. a route or alias from the config (``gpt-4o``), → its targets in order;
2. ``PROVIDER/MODEL`` (``zhipu/glm-4-plus``): every account of that provider serving the model;
3. ``ACCOUNT/MODEL``: that account only (when an account has its own name);
4. a bare model id served by exactly one provider (``glm-4-plus``).

Within one target group (several accounts of a provider), requests are spread by weight.
"""

from __future__ import annotations

import fnmatch
import itertools
from dataclasses import dataclass, field

from ..catalogue import ModelSpec
from ..config import AccountConfig, ConfigError, RouteConfig, Settings
from ..providers._registry import get_provider
from ..providers.base import Account, Provider

__all__ = ["Resolver", "Route", "Target", "TargetGroup", "account_from_config"]


@dataclass(frozen=True, slots=True)
class Target:
    account: Account
    provider: Provider
    spec: ModelSpec

    @property
    def label(self) -> str:
        return f"{self.account.name}/{self.spec.id}"


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
class Route:
    name: str
    groups: list[TargetGroup]
    config: RouteConfig | None = None

    def candidates(self) -> list[Target]:
        out: list[Target] = []
        for g in self.groups:
            out.extend(g.ordered())
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
        self._wildcards: list[tuple[str, Route]] = []
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
        for name, rc in settings.route_table().items():
            groups = []
            for j, tc in enumerate(rc.targets):
                g = self._groups.get(tc.target)
                if g is None:
                    raise ConfigError(
                        f"{src}: {'aliases' if name in settings.aliases else 'routes'}.{name}"
                        f"{'' if name in settings.aliases else f'.targets.{j}'}: target {tc.target!r} is not "
                        f"served by any account (known: {', '.join(sorted(self.served)[:8])}…)"
                    )
                groups.append(g)
            route = Route(name, groups, rc)
            if "*" in name or "?" in name:
                self._wildcards.append((name, route))
            else:
                self.routes[name] = route

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

    def resolve(self, name: str) -> Route | None:
        r = self.routes.get(name)
        if r is not None:
            return r
        g = self._groups.get(name)
        if g is not None:
            return Route(name, [g])
        providers = self._bare.get(name)
        if providers and len(providers) == 1:
            g = self._groups.get(f"{providers[0]}/{name}")
            if g is not None:
                return Route(name, [g])
        for pattern, route in self._wildcards:
            if fnmatch.fnmatchcase(name, pattern):
                return route
        return None

    def public_names(self) -> list[tuple[str, str]]:
        """(model id, owned_by) for ``GET /v1/models``: routes and aliases first, then provider models."""
        out = [(n, "qiao") for n in sorted(self.routes)]
        seen = set(self.routes)
        for key, targets in sorted(self.served.items()):
            if key in seen:
                continue
            prov = key.split("/", 1)[0]
            if any(t.provider.name == prov for t in targets):
                out.append((key, prov))
                seen.add(key)
        return out
