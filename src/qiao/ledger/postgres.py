"""PostgreSQL: the source of truth across replicas (psycopg 3 driver)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Insert, Table, create_engine, text
from sqlalchemy.dialects.postgresql import insert

from .store import LedgerStore

__all__ = ["PostgresStore"]


def _psycopg_url(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class PostgresStore(LedgerStore):
    dialect = "postgresql"
    marker = "%s"

    def __init__(self, url: str) -> None:
        super().__init__(create_engine(_psycopg_url(url), pool_size=4, max_overflow=4, pool_pre_ping=True))

    def insert_ignore(self, table: Table) -> Insert:
        return insert(table).on_conflict_do_nothing()

    def insert_ignore_sql(self, table: str, cols: Sequence[str]) -> str:
        marks = ", ".join("%s" for _ in cols)
        return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}) ON CONFLICT DO NOTHING"

    def _lock_migrations(self, conn: Any) -> None:
        conn.execute(text("SELECT pg_advisory_xact_lock(7242001)"))
