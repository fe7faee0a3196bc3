"""``qiao grants``: provider grants per account: granted, used, left, days to expiry, warnings."""

from __future__ import annotations

import click

from ._ledger import config_option, echo_json, echo_rows, open_ledger

__all__ = ["grants"]


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True)
def grants(config: str, as_json: bool) -> None:
    """Free grants of each provider account and what is left of them (warns at 80% used or 7 days)."""
    from ..ledger import ops

    with open_ledger(config) as (settings, store):
        report = ops.grants_report(store, settings)
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
