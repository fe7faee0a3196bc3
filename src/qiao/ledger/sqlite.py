"""SQLite: the single-machine store (WAL journal, so readers never block the writer thread)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Insert, Table, create_engine, event
from sqlalchemy.dialects.sqlite import insert

from .store import LedgerStore

__all__ = ["SqliteStore"]


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives the process being killed (not a power cut) and costs no fsync.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class SqliteStore(LedgerStore):
    dialect = "sqlite"
    false_sql = "0"  # SQLite before 3.23 has no FALSE keyword; its booleans are integers

    def __init__(self, url: str) -> None:
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        engine = create_engine(url, connect_args={"timeout": 10, "check_same_thread": False})
        event.listen(engine, "connect", _pragmas)
        super().__init__(engine)

    def upgrade(self) -> list[str]:
        """Several workers start at once: one migrates, the others wait on a lock file and find it done."""
        if not self.path or self.path == ":memory:":
            return super().upgrade()
        import fcntl

        with open(self.path + ".migrate.lock", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                return super().upgrade()
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def insert_ignore(self, table: Table) -> Insert:
        return insert(table).on_conflict_do_nothing()

    def insert_ignore_sql(
        self, table: str, cols: Sequence[str], literals: dict[str, str] | None = None
    ) -> str:
        names = [*cols, *(literals or {})]
        values = ["?" for _ in cols] + list((literals or {}).values())
        return f"INSERT OR IGNORE INTO {table} ({', '.join(names)}) VALUES ({', '.join(values)})"
