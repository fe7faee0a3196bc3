"""``qiao routes``: the resolved route table of a config (aliases and routes, their strategy, and every
account each target is balanced over). The live state — breakers, latencies, outbound limits — is at
``GET /admin/health`` of a running gateway."""

from __future__ import annotations

import click

from ._ledger import config_option, console, echo_json

__all__ = ["routes"]


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON (as GET /admin/routes does).")
def routes(config: str, as_json: bool) -> None:
    """Show how each public model name is routed: strategy, attempts, targets and their accounts."""
    from ..config import ConfigError, load_settings
    from ..gateway.resolve import Resolver

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if "database" in settings.model_fields_set:
        # accounts and grants added through the admin API join the config's (as the gateway does)
        from ..ledger.accounts import report_settings
        from ._ledger import open_ledger

        with open_ledger(config) as (_, store):
            settings = report_settings(store, settings)
    try:
        table = Resolver(settings).describe()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json({"data": table})
        return
    from rich.table import Table

    t = Table(
        "model",
        "tenants",
        "strategy",
        "attempts",
        "target",
        "weight",
        "account/model",
        "context",
        "price /1M",
    )
    for r in table:
        first = True
        for tg in r["targets"]:
            for a in tg["accounts"]:
                price = a["price"]
                t.add_row(
                    r["name"] if first else "",
                    ",".join(r["tenants"] or []) if first else "",
                    r["strategy"] if first else "",
                    str(r["max_attempts"]) if first else "",
                    tg["target"] + (f" {tg['params']}" if tg["params"] else ""),
                    str(tg["weight"]),
                    a["label"],
                    str(a["context"]),
                    "?"
                    if price is None
                    else f"{price['input_per_mtok']}/{price['output_per_mtok']} {price['currency']}",
                )
                first = False
    console().print(t)
    if not table:
        click.echo("no routes or aliases: clients use PROVIDER/MODEL names (see `qiao models`)")
