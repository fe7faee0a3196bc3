"""``qiao usage``: the usage ledger as a table, JSON or CSV, per record or grouped."""

from __future__ import annotations

import click

from ._ledger import config_option, csv_text, echo_json, echo_rows, open_ledger

__all__ = ["usage"]

COLUMNS = (
    "time",
    "request_id",
    "tenant",
    "key_id",
    "model",
    "provider",
    "upstream_model",
    "prompt_tokens",
    "completion_tokens",
    "cost_cny",
    "grant_name",
    "latency_ms",
    "status",
)


@click.command()
@config_option
@click.option("--since", default=None, help="From this day (YYYY-MM-DD) or duration ago (24h, 7d).")
@click.option("--tenant", default=None)
@click.option("--key", "key_id", default=None, help="Key id (k_…).")
@click.option("--group-by", type=click.Choice(["tenant", "key", "provider", "model", "day"]), default=None)
@click.option("--json", "as_json", is_flag=True, help='Print {"records": [...]} (or {"groups": [...]}).')
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("--limit", default=None, type=int, help="At most this many records.")
def usage(
    config: str,
    since: str | None,
    tenant: str | None,
    key_id: str | None,
    group_by: str | None,
    as_json: bool,
    as_csv: bool,
    limit: int | None,
) -> None:
    """Usage records of the gateway configured by FILE: one per request, success or failure."""
    import time

    from ..ledger import ops
    from ..money import micros_text

    t0 = None
    if since:
        v = since.strip()
        if v[-1:] in ("d", "h") and v[:-1].isdigit():
            t0 = time.time() - int(v[:-1]) * (86400 if v[-1] == "d" else 3600)
        else:
            try:
                t0 = (ops.parse_expires(v) or 0) - (86400 if len(v) == 10 else 0)
            except ops.OpError as exc:
                raise click.ClickException(f"--since: {exc}") from None
    with open_ledger(config) as (_settings, store):
        recs = store.usage(since=t0, tenant=tenant, key_id=key_id, limit=limit)
    for r in recs:
        r["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r["ts"]))
        r["cost_cny"] = micros_text(r["cost_micros"])
    if group_by:
        rows = ops.group_usage(recs, group_by)
        cols = [
            group_by,
            "requests",
            "errors",
            "prompt_tokens",
            "completion_tokens",
            "cost_cny",
            "grant_micros",
        ]
        if as_json:
            echo_json({"groups": rows})
        elif as_csv:
            click.echo(csv_text(rows, cols), nl=False)
        else:
            echo_rows(rows, cols, title=f"usage by {group_by}")
        return
    if as_json:
        echo_json({"records": recs})
    elif as_csv:
        click.echo(csv_text(recs, list(recs[0]) if recs else COLUMNS), nl=False)
    else:
        echo_rows(recs, COLUMNS, title=f"{len(recs)} requests")
