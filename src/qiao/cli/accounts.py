"""``qiao accounts``: provider accounts, from the config and from the database (``qiao.ledger.accounts``).

``add``, ``update`` and ``remove`` change database accounts; a running gateway (every replica) applies
the change within a second. Config accounts are listed but read-only here."""

from __future__ import annotations

import os
from typing import Any

import click

from ._ledger import config_option, echo_json, echo_rows, open_ledger

__all__ = ["accounts"]


@click.group()
def accounts() -> None:
    """List, add, update and remove provider accounts (credentials by environment variable name)."""


@accounts.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True)
def list_(config: str, as_json: bool) -> None:
    """Every account: source (config or database), credential reference, balance, grants."""
    from ..ledger.accounts import list_accounts

    with open_ledger(config) as (settings, store):
        rows = list_accounts(store, settings)
    if as_json:
        echo_json(rows)
        return
    shown = [
        {**r, "grants": ",".join(g["grant"] for g in r.get("grants", [])), "models": _join(r.get("models"))}
        for r in rows
    ]
    echo_rows(
        shown,
        (
            "account",
            "provider",
            "source",
            "credential",
            "base_url",
            "models",
            "balance_cny",
            "grants",
            "problem",
        ),
    )


def _join(v: Any) -> str | None:
    return ",".join(v) if isinstance(v, list) else v


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for v in values:
        if "=" not in v:
            raise click.BadParameter(f"{v!r}: use KEY=VALUE", param_hint=what)
        k, _, val = v.partition("=")
        out[k.strip()] = val
    return out


def _clearable(v: str | None) -> Any:
    return None if v is not None and v.lower() == "none" else v


def _body(
    credential_env: str | None,
    base_url: str | None,
    proxy: str | None,
    ca_bundle: str | None,
    models: str | None,
    weight: int | None,
    rpm: str | None,
    tpm: str | None,
    concurrency: str | None,
    balance: str | None,
    option: tuple[str, ...],
    header: tuple[str, ...],
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for k, v in (
        ("credential_env", credential_env),
        ("base_url", base_url),
        ("proxy", proxy),
        ("ca_bundle", ca_bundle),
        ("balance", balance),
    ):
        if v is not None:
            body[k] = _clearable(v)
    if models is not None:
        body["models"] = (
            None if models.lower() == "none" else [m.strip() for m in models.split(",") if m.strip()]
        )
    if weight is not None:
        body["weight"] = weight
    limits: dict[str, Any] = {}
    for k, v in (("rpm", rpm), ("tpm", tpm), ("concurrency", concurrency)):
        if v is not None:
            if v.lower() == "none":
                limits[k] = None
            elif v.isdigit():
                limits[k] = int(v)
            else:
                raise click.BadParameter(f"{v!r} is not a whole number (or 'none')", param_hint=f"--{k}")
    if limits:
        body["limits"] = limits
    if option:
        body["options"] = _pairs(option, "--option")
    if header:
        body["headers"] = _pairs(header, "--header")
    return body


_options = [
    click.option(
        "--credential-env",
        default=None,
        help="NAME of the environment variable holding the credential (never the secret itself).",
    ),
    click.option("--base-url", default=None, help="API root (default: the provider's)."),
    click.option("--proxy", default=None, help="HTTP(S) proxy URL for this account."),
    click.option("--ca-bundle", default=None, help="PEM file of CA certificates to trust."),
    click.option("--models", default=None, help="Restrict to these model ids, comma-separated."),
    click.option(
        "--weight", type=int, default=None, help="Share among accounts of the provider (0 = standby)."
    ),
    click.option("--rpm", default=None, help="Outbound requests per minute ('none' to clear)."),
    click.option("--tpm", default=None, help="Outbound tokens per minute ('none' to clear)."),
    click.option("--concurrency", default=None, help="Requests in flight at once ('none' to clear)."),
    click.option("--balance", default=None, help="Paid balance in CNY, if known ('none' to clear)."),
    click.option("--option", multiple=True, help="Provider option KEY=VALUE (repeatable)."),
    click.option("--header", multiple=True, help="Extra upstream header KEY=VALUE (repeatable)."),
    click.option(
        "--no-env-check",
        is_flag=True,
        help="Do not require the credential variable in this shell (the gateway's environment has it).",
    ),
    click.option("--json", "as_json", is_flag=True),
]


def _with_options(f: Any) -> Any:
    for opt in reversed(_options):
        f = opt(f)
    return f


def _env(body: dict[str, Any], no_env_check: bool) -> dict[str, str]:
    env = dict(os.environ)
    var = body.get("credential_env")
    if no_env_check and isinstance(var, str):
        env.setdefault(var, "")
    return env


@accounts.command("add")
@config_option
@click.argument("name")
@click.option("--provider", required=True, help="Provider slug (see `qiao providers`).")
@_with_options
def add(config: str, name: str, provider: str, no_env_check: bool, as_json: bool, **kw: Any) -> None:
    """Add account NAME (kept in the database)."""
    from ..ledger import accounts as acc
    from ..ledger import ops

    body = {"provider": provider, "name": name, **_body(**kw)}
    if "credential_env" not in body and kw.get("credential_env") is None:
        click.echo("note: no --credential-env: the account sends no credential", err=True)
    with open_ledger(config) as (settings, store):
        try:
            out = acc.add_account(store, settings, body, _env(body, no_env_check))
        except ops.OpError as exc:
            raise click.ClickException(str(exc)) from None
    echo_json(out) if as_json else click.echo(f"added account {name!r} ({provider})")


@accounts.command("update")
@config_option
@click.argument("name")
@_with_options
def update(config: str, name: str, no_env_check: bool, as_json: bool, **kw: Any) -> None:
    """Change a database account ('none' clears a value)."""
    from ..ledger import accounts as acc
    from ..ledger import ops

    body = _body(**kw)
    if not body:
        raise click.UsageError("nothing to change")
    with open_ledger(config) as (settings, store):
        try:
            old = acc.load_declared(store).account(name)
            var = body.get("credential_env", old.spec.get("credential_env") if old else None)
            out = acc.update_account(store, settings, name, body, _env({"credential_env": var}, no_env_check))
        except ops.OpError as exc:
            raise click.ClickException(str(exc)) from None
    echo_json(out) if as_json else click.echo(f"updated account {name!r}")


@accounts.command("remove")
@config_option
@click.argument("name")
def remove(config: str, name: str) -> None:
    """Remove a database account and its database grants (usage records stay)."""
    from ..ledger import accounts as acc
    from ..ledger import ops

    with open_ledger(config) as (settings, store):
        try:
            acc.remove_account(store, settings, name)
        except ops.OpError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"removed account {name!r}")
