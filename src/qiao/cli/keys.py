"""``qiao keys``: virtual keys (``sk-qiao-…``), shown once, stored only as a SHA-256."""

from __future__ import annotations

from typing import Any

import click

from ._ledger import config_option, echo_json, echo_rows, open_ledger

__all__ = ["keys"]

COLUMNS = ("id", "name", "tenant", "hint", "status", "budget", "rpm", "tpm", "models", "expires")


def _row(k: dict[str, Any]) -> dict[str, Any]:
    import time

    from ..money import micros_text

    lim = k["limits"]
    parts = []
    if lim["budget_micros"] is not None:
        parts.append(micros_text(lim["budget_micros"]) + " CNY")
    if lim["budget_tokens"] is not None:
        parts.append(f"{lim['budget_tokens']} tokens")
    budget = " + ".join(parts) + (f" ({lim['reset']})" if parts and lim["reset"] != "none" else "")
    return {
        **k,
        "budget": budget or None,
        "rpm": lim["rpm"],
        "tpm": lim["tpm"],
        "models": ",".join(k["models"]) if k["models"] is not None else "*",
        "expires": time.strftime("%Y-%m-%d %H:%M", time.gmtime(k["expires_at"])) if k["expires_at"] else None,
    }


@click.group()
def keys() -> None:
    """Create, list, show, revoke and rotate gateway keys (in the database the config names)."""


@keys.command("create")
@config_option
@click.option("--tenant", required=True, help="Tenant the key belongs to (created if unknown).")
@click.option("--name", default=None, help="A label (default: the key id).")
@click.option("--budget-cny", default=None, help="Budget in CNY, e.g. 50 or 12.5.")
@click.option("--budget-tokens", default=None, type=int, help="Budget in tokens (prompt + completion).")
@click.option("--reset", type=click.Choice(["none", "daily", "monthly"]), default="none", show_default=True)
@click.option("--rpm", default=None, type=int, help="Requests per minute.")
@click.option("--tpm", default=None, type=int, help="Tokens per minute.")
@click.option("--models", default=None, help="Allowed models/aliases, comma-separated (* wildcards).")
@click.option("--expires", default=None, help="YYYY-MM-DD (end of that UTC day), ISO time, or 30d / 12h.")
@click.option("--no-create-tenant", is_flag=True, help="Fail instead of creating an unknown tenant.")
@click.option("--json", "as_json", is_flag=True, help='Print an object whose "key" field holds the key.')
def create(
    config: str,
    tenant: str,
    name: str | None,
    budget_cny: str | None,
    budget_tokens: int | None,
    reset: str,
    rpm: int | None,
    tpm: int | None,
    models: str | None,
    expires: str | None,
    no_create_tenant: bool,
    as_json: bool,
) -> None:
    """Create a key. It is printed once: store it now, qiao keeps only its hash."""
    from ..ledger import ops

    with open_ledger(config) as (settings, store):
        try:
            key, rec, created = ops.create_key(
                store,
                settings,
                tenant,
                name=name,
                limits=ops.parse_limits(budget_cny, budget_tokens, reset, rpm, tpm),
                models=[m.strip() for m in models.split(",") if m.strip()] if models else None,
                expires_at=ops.parse_expires(expires),
                create_missing_tenant=not no_create_tenant,
            )
        except ops.OpError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json({"key": key, **rec.public(), "tenant_created": created})
        return
    if created:
        click.echo(f"created tenant {tenant!r} (no limits of its own; see `qiao tenants`)", err=True)
    click.echo(
        f"created key {rec.id} for tenant {tenant!r} (shown once; qiao keeps only its hash):", err=True
    )
    click.echo(key)


@keys.command("list")
@config_option
@click.option("--tenant", default=None)
@click.option("--json", "as_json", is_flag=True)
def list_(config: str, tenant: str | None, as_json: bool) -> None:
    """List keys (never the keys themselves: a hint and the id)."""
    with open_ledger(config) as (_settings, store):
        rows = [k.public() for k in store.keys(tenant=tenant)]
    if as_json:
        echo_json(rows)
    else:
        echo_rows([_row(r) for r in rows], COLUMNS)


@keys.command("show")
@config_option
@click.argument("key_id")
@click.option("--json", "as_json", is_flag=True)
def show(config: str, key_id: str, as_json: bool) -> None:
    """Show one key, with its spend so far."""
    with open_ledger(config) as (_settings, store):
        rec = store.get_key(key_id)
        if rec is None:
            raise click.ClickException(f"no key {key_id!r}: see `qiao keys list`")
        spent = store.spend("key_id", None).get(key_id, (0, 0))
    from ..money import micros_text

    out = {**rec.public(), "spent_cny": micros_text(spent[0]), "spent_tokens": spent[1]}
    if as_json:
        echo_json(out)
        return
    for k, v in _row(out).items():
        if k != "limits":
            click.echo(f"{k:14} {v}")


@keys.command("revoke")
@config_option
@click.argument("key_id")
def revoke(config: str, key_id: str) -> None:
    """Revoke a key: every gateway process refuses it within a second."""
    with open_ledger(config) as (_settings, store):
        rec = store.revoke_key(key_id)
    if rec is None:
        raise click.ClickException(f"no key {key_id!r}: see `qiao keys list`")
    click.echo(f"revoked {key_id}")


@keys.command("rotate")
@config_option
@click.argument("key_id")
@click.option("--json", "as_json", is_flag=True)
def rotate(config: str, key_id: str, as_json: bool) -> None:
    """Replace a key by a new one with the same tenant, limits and models; the old one is revoked."""
    with open_ledger(config) as (_settings, store):
        got = store.rotate_key(key_id)
    if got is None:
        raise click.ClickException(f"no key {key_id!r}: see `qiao keys list`")
    key, rec = got
    if as_json:
        echo_json({"key": key, **rec.public(), "replaces": key_id})
        return
    click.echo(f"revoked {key_id}; new key {rec.id} (shown once):", err=True)
    click.echo(key)


def limit_changes(**opts: str | None) -> dict[str, object]:
    """CLI options → a PATCH body: a value sets, ``none`` removes, an absent option leaves as is."""
    body: dict[str, object] = {}
    for opt, field in (
        ("budget_cny", "budget"),
        ("budget_tokens", "budget_tokens"),
        ("reset", "reset"),
        ("rpm", "rpm"),
        ("tpm", "tpm"),
        ("name", "name"),
        ("models", "models"),
        ("expires", "expires"),
    ):
        if opt not in opts or opts[opt] is None:
            continue
        v = str(opts[opt])
        if v.lower() == "none" and field != "reset":
            body[field] = None
        elif field in ("budget_tokens", "rpm", "tpm"):
            if not v.isdigit():
                raise click.BadParameter(f"{v!r} is not a whole number (or 'none')", param_hint=f"--{opt}")
            body[field] = int(v)
        elif field == "models":
            body[field] = None if v == "*" else [m.strip() for m in v.split(",") if m.strip()]
        else:
            body[field] = v
    return body


@keys.command("update")
@config_option
@click.argument("key_id")
@click.option("--name", default=None)
@click.option("--budget-cny", default=None, help="Budget in CNY ('none' removes it).")
@click.option("--budget-tokens", default=None, help="Token budget ('none' removes it).")
@click.option("--reset", type=click.Choice(["none", "daily", "monthly"]), default=None)
@click.option("--rpm", default=None, help="Requests per minute ('none' removes the limit).")
@click.option("--tpm", default=None, help="Tokens per minute ('none' removes the limit).")
@click.option("--models", default=None, help="Allowed models, comma-separated ('*' or 'none': all).")
@click.option("--expires", default=None, help="YYYY-MM-DD, ISO time, 30d / 12h, or 'none'.")
@click.option("--json", "as_json", is_flag=True)
def update(config: str, key_id: str, as_json: bool, **opts: str | None) -> None:
    """Change a key's limits, models, expiry or name in place: the key itself stays the same and every
    gateway process applies the change within a second."""
    from ..ledger import ops

    body = limit_changes(**opts)
    if not body:
        raise click.UsageError("nothing to change: give --budget-cny, --rpm, --models, …")
    with open_ledger(config) as (settings, store):
        try:
            rec = ops.update_key(store, settings, key_id, body)
        except ops.OpError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(rec.public())
    else:
        click.echo(f"updated {key_id}: {', '.join(body)}")
