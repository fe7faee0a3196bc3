"""SQLite: the single-machine store (WAL journal, so readers never block the writer thread)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from itertools import chain
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Insert, Table, create_engine, event
from sqlalchemy.dialects.sqlite import insert

from .store import _USAGE_COLS, LedgerStore

__all__ = ["SqliteStore"]

# The most rows per multi-row usage insert (a power of two; 16 × 28 values is within 999, SQLite's
# limit of bound values before 3.32).
_CHUNK = 16
_ESTIMATED = _USAGE_COLS.index("estimated")  # the usage table's one bool column

# Python's sqlite3 (3.11) binds exact int, float, str and bytes directly; any other value (None, a bool)
# first goes through its adapter look-up, which, finding no adapter, raises and formats two
# AttributeErrors (``__adapt__``, ``__conform__``) before binding the value as it is: ~3k instructions
# per value, more than the rest of a usage row's insert when a third of its columns are NULL. These two
# adapters return what sqlite3 would have bound anyway (None as NULL, a bool as its int), so every
# statement of the process binds the same values, minus the exceptions. (Adapters are process-wide;
# registering them for None and bool does not slow down the other types, unlike int/float/str would.)
_as_null: Callable[[None], None] = cast("Callable[[None], None]", {}.get)  # {}.get(None) is None, in C
sqlite3.register_adapter(type(None), _as_null)
sqlite3.register_adapter(bool, int)


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives the process being killed (not a power cut) and costs no fsync.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class SqliteStore(LedgerStore):
    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        engine = create_engine(url, connect_args={"timeout": 10, "check_same_thread": False})
        event.listen(engine, "connect", _pragmas)
        super().__init__(engine)
        self._multi_sql: dict[tuple[tuple[int, ...], int], str] = {}

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

    def _insert_usage_rows(self, cur: Any, rows: list[Sequence[Any]]) -> None:
        """Multi-row ``INSERT OR IGNORE … VALUES (…), (…), …`` statements instead of one statement run
        per row: the same rows in the same order, each skipped on its own if its request id is present
        (OR IGNORE applies per row), for ~11k fewer instructions per row (no per-row statement reset,
        halt and executemany step). Chunks of 16, 8, 4, 2 and 1 rows: five statements to prepare once
        per connection, whatever the batch sizes.

        A column that is NULL in every row of the batch (most records leave the same ones empty: no
        price, no grant, no first token, no client id, …) is left out of the statement: it is NULL all
        the same (qiao_usage has no column defaults), and binding a None costs sqlite3 an adapter
        look-up, ~1.5k instructions a value, ~8k a row. ``estimated`` is bound as the int sqlite3
        makes of a bool (SQLite has no bool), without that look-up."""
        cols = list(zip(*rows, strict=True))  # the batch column by column (all in C)
        n = len(rows)
        keep = tuple(j for j, col in enumerate(cols) if col.count(None) != n)
        est = cols[_ESTIMATED]  # bools as sqlite3 binds them (1/0): once per batch, not per value
        cols[_ESTIMATED] = (
            (0,) * n if est.count(False) == n else tuple(v if v is None else int(v) for v in est)
        )
        values = list(zip(*[cols[j] for j in keep], strict=True))
        i = 0
        while i < n:
            size = _CHUNK
            while size > n - i:
                size >>= 1
            sql = self._multi_sql.get((keep, size))
            if sql is None:
                if len(self._multi_sql) >= 256:  # many shapes of NULL columns: start over (prepared again)
                    self._multi_sql.clear()
                one = "(" + ", ".join("?" for _ in keep) + ")"
                names = ", ".join(_USAGE_COLS[j] for j in keep)
                sql = f"INSERT OR IGNORE INTO qiao_usage ({names}) VALUES {', '.join([one] * size)}"
                self._multi_sql[(keep, size)] = sql
            cur.execute(sql, tuple(chain.from_iterable(values[i : i + size])))
            i += size

    def insert_ignore(self, table: Table) -> Insert:
        return insert(table).on_conflict_do_nothing()

    def insert_ignore_sql(self, table: str, cols: Sequence[str]) -> str:
        return f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
