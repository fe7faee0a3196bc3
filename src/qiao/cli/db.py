"""``qiao db``: schema migrations and counter repair."""

from __future__ import annotations

import click

from ._ledger import config_option, open_ledger

__all__ = ["db"]


@click.group()
def db() -> None:
    """The ledger database (SQLite by default, PostgreSQL by URL)."""


@db.command("upgrade")
@config_option
def upgrade(config: str) -> None:
    """Apply pending schema migrations (safe to run on a live database, and more than once)."""
    with open_ledger(config, upgrade=False) as (_settings, store):
        done = store.upgrade()
        click.echo("applied: " + ", ".join(done) if done else "database is current")


@db.command("status")
@config_option
def status(config: str) -> None:
    """Show applied and pending migrations."""
    with open_ledger(config, upgrade=False) as (_settings, store):
        for name in store.applied():
            click.echo(f"applied  {name}")
        for name in store.pending():
            click.echo(f"pending  {name}")


@db.command("reconcile")
@config_option
def reconcile(config: str) -> None:
    """Repair budget counters (Redis, when ``database.redis_url`` is set) from the ledger's settled spend.

    Reservations of requests in flight are dropped from the counters: run it when traffic is quiet, or
    after Redis lost its data."""
    import asyncio
    import time

    from ..ledger.meter import Ledger

    with open_ledger(config) as (settings, _store):
        if not settings.database.redis_url:
            click.echo("no redis_url: each gateway process rebuilds its counters from the ledger at start")
            return
        ledger = Ledger(settings)
        ledger.sync()
        values = ledger.counter_values(time.time())

        async def put() -> None:
            from ..ledger.counters import RedisCounters

            c = RedisCounters(settings.database.redis_url or "", settings.database.redis_prefix)
            try:
                await c.put(values, only_missing=False)
            finally:
                await c.aclose()

        asyncio.run(put())
        ledger.store.close()
        click.echo(f"reconciled {len(values)} budget counters from the ledger")
