"""004: the usage table keeps two of its four secondary indexes.

Every usage record is inserted into each index of ``qiao_usage`` (a B-tree seek and insert, and one more
page written per commit): with five B-trees it was most of SQLite's cost of a record. What the queries
need (``qiao usage``, ``GET /admin/usage``, budgets and their reconcile, ``qiao keys``/``tenants``):

- ``uq_qiao_usage_request_id``: kept. Inserts skip a request id already present (the WAL replay is
  idempotent through it).
- ``ix_qiao_usage_ts``: kept. Every listing and every budget sum is over a time range.
- ``ix_qiao_usage_key_ts`` and ``ix_qiao_usage_tenant_ts``: dropped. They served only the listings and
  sums of one key or one tenant, which now read the time range through ``ix_qiao_usage_ts`` and filter
  it; such reads are rare (a command, a budget change) and bounded by the range, while the indexes cost
  every record (~5k instructions, two pages per commit).

``downgrade`` puts them back (not run by ``qiao db upgrade``; for an operator going back to a qiao
before 004, whose schema expects them only for speed).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

DROPPED = (("ix_qiao_usage_key_ts", "key_id, ts"), ("ix_qiao_usage_tenant_ts", "tenant, ts"))


def upgrade(conn: Connection) -> None:
    for name, _ in DROPPED:
        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))


def downgrade(conn: Connection) -> None:
    for name, cols in DROPPED:
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON qiao_usage ({cols})"))
