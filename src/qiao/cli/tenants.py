"""``qiao tenants``: tenants with budgets and rate limits shared by their keys."""

from __future__ import annotations

import click

from ._ledger import config_option, echo_json, echo_rows, open_ledger

__all__ = ["tenants"]


@click.group()
def tenants() -> None:
    """Create, list and show tenants (config tenants are listed too)."""


@tenants.command("create")
@config_option
@click.argument("name")
@click.option("--budget-cny", default=None, help="Budget in CNY for all the tenant's keys together.")
@click.option("--budget-tokens", default=None, type=int)
@click.option("--reset", type=click.Choice(["none", "daily", "monthly"]), default="none", show_default=True)
@click.option("--rpm", default=None, type=int)
@click.option("--tpm", default=None, type=int)
@click.option("--json", "as_json", is_flag=True)
def create(
    config: str,
    name: str,
    budget_cny: str | None,
    budget_tokens: int | None,
    reset: str,
    rpm: int | None,
    tpm: int | None,
    as_json: bool,
) -> None:
    """Create a tenant."""
    from ..ledger import ops

    with open_ledger(config) as (settings, store):
        try:
            out = ops.create_tenant(
                store, settings, name, ops.parse_limits(budget_cny, budget_tokens, reset, rpm, tpm)
            )
        except ops.OpError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(out)
    else:
        click.echo(f"created tenant {name!r}")


def _rows(config: str) -> list[dict[str, object]]:
    from ..money import micros_text

    with open_ledger(config) as (settings, store):
        spent = store.spend("tenant", None)
        keys = store.keys()
        rows: dict[str, dict[str, object]] = {}
        for t in settings.tenants:
            rows[t.name] = {
                "name": t.name,
                "source": "config",
                "budget": t.budget,
                "budget_tokens": t.budget_tokens,
                "reset": t.reset,
                "rpm": t.rpm,
                "tpm": t.tpm,
            }
        for rec in store.tenants():
            lim = rec.limits
            rows[rec.name] = {
                "name": rec.name,
                "source": "database",
                "budget": micros_text(lim.budget_micros) if lim.budget_micros is not None else None,
                "budget_tokens": lim.budget_tokens,
                "reset": lim.reset,
                "rpm": lim.rpm,
                "tpm": lim.tpm,
            }
    for name, r in rows.items():
        s = spent.get(name, (0, 0))
        r["spent_cny"] = micros_text(s[0])
        r["spent_tokens"] = s[1]
        r["keys"] = sum(1 for k in keys if k.tenant == name and k.revoked_at is None)
    return [rows[n] for n in sorted(rows)]


@tenants.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True)
def list_(config: str, as_json: bool) -> None:
    """List tenants with their limits, active keys and spend."""
    rows = _rows(config)
    if as_json:
        echo_json(rows)
    else:
        echo_rows(
            rows, ("name", "source", "budget", "budget_tokens", "reset", "rpm", "tpm", "keys", "spent_cny")
        )


@tenants.command("show")
@config_option
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def show(config: str, name: str, as_json: bool) -> None:
    """Show one tenant."""
    rows = [r for r in _rows(config) if r["name"] == name]
    if not rows:
        raise click.ClickException(f"no tenant {name!r}: see `qiao tenants list`")
    if as_json:
        echo_json(rows[0])
        return
    for k, v in rows[0].items():
        click.echo(f"{k:14} {'' if v is None else v}")


@tenants.command("update")
@config_option
@click.argument("name")
@click.option("--budget-cny", default=None, help="Budget in CNY ('none' removes it).")
@click.option("--budget-tokens", default=None, help="Token budget ('none' removes it).")
@click.option("--reset", type=click.Choice(["none", "daily", "monthly"]), default=None)
@click.option("--rpm", default=None, help="Requests per minute ('none' removes the limit).")
@click.option("--tpm", default=None, help="Tokens per minute ('none' removes the limit).")
@click.option("--json", "as_json", is_flag=True)
def update(config: str, name: str, as_json: bool, **opts: str | None) -> None:
    """Change a tenant's budget and rate limits (config tenants are read-only); every gateway process
    applies the change within a second."""
    from ..ledger import ops
    from .keys import limit_changes

    body = limit_changes(**opts)
    if not body:
        raise click.UsageError("nothing to change: give --budget-cny, --rpm, …")
    with open_ledger(config) as (settings, store):
        try:
            out = ops.update_tenant(store, settings, name, body)
        except ops.OpError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(out)
    else:
        click.echo(f"updated tenant {name!r}: {', '.join(body)}")
