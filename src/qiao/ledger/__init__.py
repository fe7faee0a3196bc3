"""The ledger: virtual keys and tenants, budgets and rate limits, the usage ledger, provider grants.

``store`` (records, the SQL core) · ``sqlite`` / ``postgres`` (the only dialect differences) ·
``migrations/`` (``qiao db upgrade``) · ``wal`` (durable records, group commit) · ``counters`` (memory,
shared SQLite file, Redis scripts) · ``meter`` (what the server calls per request) · ``grants`` ·
``ops`` (shared by the admin API and the CLI).
"""
