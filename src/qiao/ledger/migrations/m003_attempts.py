"""003: every attempt of a request on its usage record (``tried``: JSON list of [target, outcome, ms]),
and the client's own request id (``client_request_id``: the request id is always the gateway's).

The router records each attempt and skip (retries, fallbacks, open breakers, account limits); the
columns of 001 keep the target that served. Added with ``ALTER TABLE`` so existing ledgers keep their
rows (the column is NULL for records written before it).
"""

from __future__ import annotations

from sqlalchemy import Connection, inspect, text


def upgrade(conn: Connection) -> None:
    have = {c["name"] for c in inspect(conn).get_columns("qiao_usage")}
    if "tried" not in have:
        conn.execute(text("ALTER TABLE qiao_usage ADD COLUMN tried TEXT"))
    if "client_request_id" not in have:
        conn.execute(text("ALTER TABLE qiao_usage ADD COLUMN client_request_id VARCHAR(128)"))
