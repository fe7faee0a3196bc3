"""What every ledger command shares: open the database a config names, print rows as a table, JSON or CSV."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import click
import orjson

from ..config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from ..ledger.store import LedgerStore

__all__ = ["config_option", "csv_text", "echo_json", "echo_rows", "open_ledger"]

config_option = click.option(
    "--config",
    "config",
    required=True,
    type=click.Path(dir_okay=False),
    envvar="QIAO_CONFIG",
    help="The gateway's config file (e.g. DIR/qiao.yaml of `qiao demo --data-dir DIR`).",
)


@contextlib.contextmanager
def open_ledger(config: str, upgrade: bool = True) -> Iterator[tuple[Settings, LedgerStore]]:
    """The config's database, migrated to the current schema (the running gateway does the same)."""
    from ..ledger.meter import wal_dir_for
    from ..ledger.store import open_store
    from ..ledger.wal import replay_dead_segments

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        store = open_store(settings.database.url)
    except ValueError as exc:
        raise click.ClickException(f"{config}: database.url: {exc}") from None
    try:
        if upgrade:
            store.upgrade()
            replay_dead_segments(wal_dir_for(settings), store)
        yield settings, store
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(exc, SQLAlchemyError):
            raise click.ClickException(
                f"database {settings.database.url.split('@')[-1]}: {type(exc).__name__}: {exc.args[0]}"
            ) from None
        raise
    finally:
        store.close()


def echo_json(obj: Any) -> None:
    click.echo(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode())


def echo_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str | None = None) -> None:
    from rich.table import Table

    t = Table(*columns, title=title)
    for r in rows:
        t.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in columns))
    console().print(t)


def console() -> Any:
    """A rich console; piped or redirected, wide enough for tables (rich would squeeze them to 80)."""
    import sys

    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 240)


def csv_text(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:  # nested values (the attempts list) as JSON, not Python reprs
        w.writerow({k: orjson.dumps(v).decode() if isinstance(v, list | dict) else v for k, v in r.items()})
    return buf.getvalue()
