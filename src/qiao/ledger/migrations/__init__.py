"""Versioned schema migrations, append-only: ``MIGRATIONS`` is applied in order by ``qiao db upgrade``.

Each migration is a module ``mNNN_name.py`` with ``upgrade(conn)``; the names applied are recorded in
``qiao_migrations``. Never edit a released migration: add the next one.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from . import m001_initial, m002_accounts, m003_attempts, m004_usage_indexes

__all__ = ["MIGRATIONS"]

MIGRATIONS: tuple[tuple[str, Callable[[Connection], None]], ...] = (
    ("001_initial", m001_initial.upgrade),
    ("002_accounts", m002_accounts.upgrade),
    ("003_attempts", m003_attempts.upgrade),
    ("004_usage_indexes", m004_usage_indexes.upgrade),
)
