"""``qiao grants``: provider grants per account: granted, used, left, days to expiry, warnings; and
``qiao grants add|update|remove`` for grants kept in the database (``qiao.ledger.accounts``)."""

from __future__ import annotations

from typing import Any

import click

from ._ledger import echo_json, echo_rows, open_ledger

__all__ = ["grants"]


@click.group(invoke_without_command=True)
@click.option(
    "--config",
    "config",
    default=None,
    type=click.Path(dir_okay=False),
    envvar="QIAO_CONFIG",
    help="The gateway's config file (e.g. DIR/qiao.yaml of `qiao demo --data-dir DIR`).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def grants(ctx: click.Context, config: str | None, as_json: bool) -> None:
    """Free grants of each provider account and what is left of them (warns at 80% used or 7 days).

    Without a subcommand: the report (config and database grants). `add`, `update` and `remove` change
    grants kept in the database; a running gateway applies them within a second."""
    ctx.obj = config  # `qiao grants --config F add …` works as well as `qiao grants add --config F …`
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        raise click.UsageError("Missing option '--config'.")
    from ..ledger import ops
    from ..ledger.accounts import report_settings

    with open_ledger(config) as (settings, store):
        report = ops.grants_report(store, report_settings(store, settings))
    if as_json:
        echo_json(report)
        return
    rows = []
    for g in report["grants"]:
        rows.append({**g, "warnings": "; ".join(g["warnings"]), "models": ",".join(g["models"])})
    echo_rows(
        rows,
        ("account", "grant", "unit", "granted", "used", "left", "expires", "days_left", "models", "warnings"),
        title="grants",
    )
    bal = [a for a in report["accounts"] if a["balance_cny"] is not None or a["paid_used_cny"] != "0"]
    if bal:
        echo_rows(
            bal, ("account", "provider", "balance_cny", "paid_used_cny", "balance_left_cny"), title="paid"
        )
    for w in report["warnings"]:
        click.secho(f"warning: {w}", fg="yellow", err=True)


def _grant_body(
    tokens: int | None,
    amount: str | None,
    currency: str | None,
    models: str | None,
    starts: str | None,
    expires: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if tokens is not None:
        body["tokens"] = tokens
    if amount is not None:
        body["amount"] = amount
    if currency is not None:
        body["currency"] = currency
    if models is not None:
        body["models"] = [m.strip() for m in models.split(",") if m.strip()]
    for k, v in (("starts", starts), ("expires", expires)):
        if v is not None:
            body[k] = None if v.lower() == "none" else v
    return body


_grant_options = [
    click.option("--tokens", type=int, default=None, help="Granted tokens (prompt + completion)."),
    click.option("--amount", default=None, help="Or granted money, a decimal string in --currency."),
    click.option("--currency", default=None, help="Currency of --amount (default CNY)."),
    click.option("--models", default=None, help="Upstream models covered, comma-separated (* wildcards)."),
    click.option("--starts", default=None, help="First day, YYYY-MM-DD (UTC); 'none' to clear."),
    click.option("--expires", default=None, help="Last day, YYYY-MM-DD (UTC, inclusive); 'none' to clear."),
    click.option("--json", "as_json", is_flag=True),
]


def _with_grant_options(f: Any) -> Any:
    for opt in reversed(_grant_options):
        f = opt(f)
    return f


config_option = click.option(
    "--config",
    "config",
    default=None,
    type=click.Path(dir_okay=False),
    envvar="QIAO_CONFIG",
    help="The gateway's config file (or give it to `qiao grants`).",
)


def _run(config: str | None, fn: Any, *args: Any) -> Any:
    from ..ledger import ops

    config = config or click.get_current_context().obj
    if not config:
        raise click.UsageError("Missing option '--config'.")
    with open_ledger(config) as (settings, store):
        try:
            return fn(store, settings, *args)
        except ops.OpError as exc:
            raise click.ClickException(str(exc)) from None


@grants.command("add")
@config_option
@click.argument("account")
@click.argument("name")
@_with_grant_options
def add(
    config: str | None,
    account: str,
    name: str,
    tokens: int | None,
    amount: str | None,
    currency: str | None,
    models: str | None,
    starts: str | None,
    expires: str | None,
    as_json: bool,
) -> None:
    """Add grant NAME to ACCOUNT (a config or database account), kept in the database."""
    from ..ledger import accounts

    body = {"name": name, **_grant_body(tokens, amount, currency, models, starts, expires)}
    out = _run(config, accounts.add_grant, account, body)
    echo_json(out) if as_json else click.echo(f"added grant {account}/{name}")


@grants.command("update")
@config_option
@click.argument("account")
@click.argument("name")
@_with_grant_options
def update(
    config: str | None,
    account: str,
    name: str,
    tokens: int | None,
    amount: str | None,
    currency: str | None,
    models: str | None,
    starts: str | None,
    expires: str | None,
    as_json: bool,
) -> None:
    """Change a database grant (its use so far is kept)."""
    from ..ledger import accounts

    body = _grant_body(tokens, amount, currency, models, starts, expires)
    if not body:
        raise click.UsageError("nothing to change: give --tokens, --amount, --models, --starts or --expires")
    out = _run(config, accounts.update_grant, account, name, body)
    echo_json(out) if as_json else click.echo(f"updated grant {account}/{name}")


@grants.command("remove")
@config_option
@click.argument("account")
@click.argument("name")
def remove(config: str | None, account: str, name: str) -> None:
    """Remove a database grant (its draws stay in the ledger)."""
    from ..ledger import accounts

    _run(config, accounts.remove_grant, account, name)
    click.echo(f"removed grant {account}/{name}")
