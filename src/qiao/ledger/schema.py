"""The current schema (tables as the latest migration leaves them)."""

from __future__ import annotations

from .migrations.m001_initial import grant_draws, keys, metadata, tenants, usage

__all__ = ["grant_draws", "keys", "metadata", "tenants", "usage"]
