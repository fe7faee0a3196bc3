"""``qiao``: the command line. Each command group lives in its own module and is imported lazily.

Exit codes: 0 success; 1 runtime failure; 2 usage or configuration error.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import __version__

__all__ = ["main"]


def _load(config: str):  # type: ignore[no-untyped-def]
    from ..config import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="qiao")
def main() -> None:
    """qiao (桥): an OpenAI-compatible gateway to Chinese and self-hosted LLM providers."""


@main.command()
@click.option(
    "--config",
    "config",
    required=True,
    type=click.Path(dir_okay=False),
    envvar="QIAO_CONFIG",
    help="YAML or TOML config file.",
)
@click.option("--host", default=None, help="Interface to bind (default: server.host).")
@click.option("--port", default=None, type=int, help="Port (default: server.port).")
@click.option("--workers", default=None, type=int, help="Worker processes (default: server.workers).")
def serve(config: str, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the gateway from a config file."""
    _load(config)  # fail fast, with the file and key named, before any server starts
    from ..server.run import serve as run

    sys.exit(run(config, host, port, workers))


@main.command()
@click.option("--port", default=8000, show_default=True, type=int, help="Gateway port (0 = any free port).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--key", default=None, help="API key to accept (default: a fresh sk-qiao-… key).")
@click.option(
    "--data-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Where qiao.yaml and the SQLite file go (default: a temporary directory).",
)
def demo(port: int, host: str, key: str | None, data_dir: str | None) -> None:
    """Gateway + every provider emulator, offline, in one command."""
    from .demo import run_demo

    sys.exit(run_demo(host, port, key, data_dir))


@main.command(context_settings={"ignore_unknown_options": False})
@click.argument("provider")
@click.option("--port", default=9000, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--credential",
    default=None,
    help="Credential the emulator accepts, in the provider's own format: openai_compat and the "
    "OpenAI-shaped providers take the key; ernie the bearer key (bce-v3/ALTAK-…/…); ernie_v1 "
    "API_KEY:SECRET_KEY; zhipu id.secret; sensenova ACCESS_KEY_ID:SECRET; spark "
    "APP_ID:API_KEY:API_SECRET; ignored by providers without auth. Default: the provider's "
    "demo credential (shown at start).",
)
@click.option(
    "--scenario",
    default=None,
    help="Fault for every request: rate_limited, bad_key, filtered, filtered_midway, server_error, "
    "overloaded, insufficient_quota, slow_first_byte[=SECONDS], cut_stream, hang. Per request: "
    "header 'X-Emulator-Scenario: NAME' or the marker [[emulate:NAME]] in the prompt.",
)
@click.option("--chunk-delay", default=0.0, type=float, help="Seconds between stream events.")
def emulate(
    provider: str, port: int, host: str, credential: str | None, scenario: str | None, chunk_delay: float
) -> None:
    """Run one provider's emulator standalone (test your code offline against it)."""
    from .emulate import run_emulator

    sys.exit(run_emulator(provider, host, port, credential, scenario, chunk_delay))


@main.group()
def config() -> None:
    """Inspect and check configuration."""


@config.command("schema")
@click.option("--output", "-o", default=None, type=click.Path(dir_okay=False))
def config_schema(output: str | None) -> None:
    """Print the configuration's JSON Schema."""
    import orjson

    from ..config import settings_schema

    data = orjson.dumps(settings_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    if output:
        Path(output).write_bytes(data + b"\n")
    else:
        click.echo(data.decode())


@config.command("check")
@click.option("--config", "config", required=True, type=click.Path(dir_okay=False), envvar="QIAO_CONFIG")
def config_check(config: str) -> None:
    """Validate a config file and resolve its routes (exit 2 on error)."""
    from ..config import ConfigError
    from ..gateway.resolve import Resolver

    settings = _load(config)
    try:
        r = Resolver(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"ok: {len(settings.accounts)} accounts, {len(r.served)} served models, {len(r.table)} routes")


@main.command("providers")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def providers_cmd(as_json: bool) -> None:
    """List the provider adapters this qiao knows."""
    from ..providers._registry import all_providers

    rows = [
        {"slug": p.name, "name": p.display_name, "models": len(p.models), "credential": p.credential_format}
        for p in all_providers()
    ]
    if as_json:
        import orjson

        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console
    from rich.table import Table

    t = Table("slug", "provider", "models", "credential format")
    for r in rows:
        t.add_row(str(r["slug"]), str(r["name"]), str(r["models"]), str(r["credential"]))
    Console().print(t)


@main.command("models")
@click.option("--config", "config", required=True, type=click.Path(dir_okay=False), envvar="QIAO_CONFIG")
@click.option("--json", "as_json", is_flag=True)
def models_cmd(config: str, as_json: bool) -> None:
    """List every model name the gateway configured by FILE serves."""
    from ..gateway.resolve import Resolver

    r = Resolver(_load(config))
    names = r.public_names()
    if as_json:
        import orjson

        click.echo(
            orjson.dumps([{"id": n, "owned_by": o} for n, o in names], option=orjson.OPT_INDENT_2).decode()
        )
        return
    for n, o in names:
        click.echo(f"{n}\t{o}")


@main.command("docs")
@click.option("--write", is_flag=True, help="Regenerate the files (default: check they are current).")
def docs_cmd(write: bool) -> None:
    """Regenerate or check docs/configuration.md and docs/providers.md (generated from the code)."""
    from ..docgen import GENERATED, write_all

    root = Path.cwd()
    if write:
        changed = write_all(root)
        click.echo("updated: " + ", ".join(changed) if changed else "docs are current")
        return
    stale = [
        rel
        for rel, fn in GENERATED.items()
        if not (root / rel).exists() or (root / rel).read_text(encoding="utf-8") != fn()
    ]
    if stale:
        raise click.ClickException(f"stale: {', '.join(stale)}; run `qiao docs --write`")
    click.echo("docs are current")


def _register_optional() -> None:
    """Command groups owned by other modules; absent ones are simply not offered."""
    import importlib

    for module, attr in (
        ("qiao.cli.migrate", "migrate"),
        ("qiao.cli.db", "db"),
        ("qiao.cli.keys", "keys"),
        ("qiao.cli.tenants", "tenants"),
        ("qiao.cli.usage", "usage"),
        ("qiao.cli.grants", "grants"),
        ("qiao.cli.routes", "routes"),
        ("qiao.cli.accounts", "accounts"),
    ):
        try:
            cmd = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
        main.add_command(cmd)


_register_optional()
