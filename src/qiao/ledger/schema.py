"""The current schema (tables as the latest migration leaves them)."""

from __future__ import annotations

from .migrations.m001_initial import grant_draws, keys, metadata, tenants, usage
from .migrations.m002_accounts import account_grants, accounts, revisions

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
