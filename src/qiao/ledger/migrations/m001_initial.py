"""001: tenants, keys, usage records and grant draws.

The tables are defined here once; ``ledger/schema.py`` re-exports them as the current schema. A later
migration that alters a table moves that table's current definition into ``schema.py``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

tenants = Table(
    "qiao_tenants",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("budget_micros", BigInteger),
    Column("budget_tokens", BigInteger),
    Column("reset", String(16), nullable=False, default="none"),
    Column("rpm", Integer),
    Column("tpm", Integer),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False, index=True),
)

keys = Table(
    "qiao_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("hint", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("tenant", String(128), nullable=False, index=True),
    Column("models", Text),
    Column("budget_micros", BigInteger),
    Column("budget_tokens", BigInteger),
    Column("reset", String(16), nullable=False, default="none"),
    Column("rpm", Integer),
    Column("tpm", Integer),
    Column("expires_at", Float),
    Column("revoked_at", Float),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False, index=True),
)

usage = Table(
    "qiao_usage",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("request_id", String(128), nullable=False),
    Column("ts", Float, nullable=False),
    Column("tenant", String(128)),
    Column("key_id", String(32)),
    Column("endpoint", String(32), nullable=False),
    Column("model", String(256)),
    Column("provider", String(64)),
    Column("account", String(128)),
    Column("upstream_model", String(256)),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("cached_tokens", Integer, nullable=False, default=0),
    Column("reasoning_tokens", Integer, nullable=False, default=0),
    Column("estimated", Boolean, nullable=False, default=False),
    Column("price_currency", String(8)),
    Column("price_cost_micros", BigInteger, nullable=False, default=0),
    Column("fx_rate", String(32)),
    Column("cost_micros", BigInteger, nullable=False, default=0),
    Column("grant_name", String(256)),
    Column("grant_micros", BigInteger, nullable=False, default=0),
    Column("paid_micros", BigInteger, nullable=False, default=0),
    Column("reserved_micros", BigInteger, nullable=False, default=0),
    Column("latency_ms", Float, nullable=False),
    Column("first_token_ms", Float),
    Column("status", Integer, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    UniqueConstraint("request_id", name="uq_qiao_usage_request_id"),
    Index("ix_qiao_usage_ts", "ts"),
    Index("ix_qiao_usage_key_ts", "key_id", "ts"),
    Index("ix_qiao_usage_tenant_ts", "tenant", "ts"),
)

grant_draws = Table(
    "qiao_grant_draws",
    metadata,
    Column("request_id", String(128), nullable=False),
    Column("account", String(128), nullable=False),
    Column("grant_name", String(128), nullable=False),
    Column("tokens", BigInteger, nullable=False, default=0),
    Column("micros", BigInteger, nullable=False, default=0),
    Column("currency", String(8), nullable=False),
    Column("ts", Float, nullable=False),
    UniqueConstraint("request_id", "account", "grant_name", name="uq_qiao_grant_draw"),
    Index("ix_qiao_grant_draws_grant", "account", "grant_name"),
)


def upgrade(conn: Connection) -> None:
    metadata.create_all(conn)
