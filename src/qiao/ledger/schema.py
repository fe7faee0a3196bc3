"""The current schema (tables as the latest migration leaves them)."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table, Text

from .migrations import m001_initial, m004_usage_indexes
from .migrations.m001_initial import grant_draws, keys, metadata, tenants
from .migrations.m002_accounts import account_grants, accounts, revisions

# 003 added a column to 001's usage table: the current shape, for queries and inserts
usage: Table = m001_initial.usage.to_metadata(MetaData())
usage.append_column(Column("tried", Text))
usage.append_column(Column("client_request_id", String(128)))
# 004 dropped two of its indexes
usage.indexes = {
    ix for ix in usage.indexes if ix.name not in {name for name, _ in m004_usage_indexes.DROPPED}
}

__all__ = [
    "account_grants",
    "accounts",
    "grant_draws",
    "keys",
    "metadata",
    "revisions",
    "tenants",
    "usage",
]
