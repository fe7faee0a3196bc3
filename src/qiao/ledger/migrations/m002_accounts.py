"""002: provider accounts and grants declared through the admin API or the CLI, and a revision counter.

An account's or grant's settings are kept as one JSON document (``spec``) in the shape of the config's
``AccountConfig`` / ``GrantConfig`` (validated by those models on the way in and out), so a field added
to the config schema needs no migration. The secret itself is never stored: an account names the
environment variable holding it (``credential_env``).

``qiao_revisions`` holds one counter per kind of shared setting (``accounts``), incremented in the same
transaction as every change: each process polls that one row and rebuilds its routes when it moved
(a counter, not timestamps, so clocks that disagree between replicas cannot hide a change).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Float, MetaData, String, Table, Text, insert

metadata = MetaData()

accounts = Table(
    "qiao_accounts",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("provider", String(64), nullable=False),
    Column("spec", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

account_grants = Table(
    "qiao_account_grants",
    metadata,
    Column("account", String(128), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("spec", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

revisions = Table(
    "qiao_revisions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("rev", BigInteger, nullable=False),
)


def upgrade(conn: Connection) -> None:
    metadata.create_all(conn)
    conn.execute(insert(revisions).values(name="accounts", rev=0))
