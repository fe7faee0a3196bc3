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
# columns whose values differ from record to record: not worth comparing across a batch
_ALWAYS_VARY = frozenset(_USAGE_COLS.index(c) for c in ("request_id", "ts", "latency_ms"))


def _usage_insert(vary: list[int], same: list[int], rows: int) -> str:
    """``INSERT OR IGNORE`` of ``rows`` rows: the ``vary`` columns bound per row, the ``same`` columns
    bound once (the others NULL)."""
    names = ", ".join(_USAGE_COLS[j] for j in (*vary, *same))
    one = "(" + ", ".join("?" for _ in vary) + ")"
    values = ", ".join([one] * rows)
    if not same:
        return f"INSERT OR IGNORE INTO qiao_usage ({names}) VALUES {values}"
    picks = ", ".join([*(f"column{k + 1}" for k in range(len(vary))), *("?" for _ in same)])
    return f"INSERT OR IGNORE INTO qiao_usage ({names}) SELECT {picks} FROM (VALUES {values})"


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
        self._multi_sql: dict[tuple[tuple[tuple[int, ...], tuple[int, ...]], int], str] = {}

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
        """Multi-row inserts, each value bound as few times as it can be: a batch's records mostly share
        their values (key, model, target, status, the zeros of an unpriced request, the NULLs of no
        grant, no first token, no client id, …), and sqlite3 binds a value for ~450 instructions (a None
        or a bool for ~1.5k: an adapter look-up first), ~10k a row when each of 28 is bound.

        - A column NULL in every row is left out (it is NULL all the same: qiao_usage has no column
          defaults).
        - A column with one value in every row is bound once per statement, in the ``SELECT`` list of
          ``INSERT … SELECT column1, …, ?, … FROM (VALUES (…), (…), …)``; the others once per row, in
          the ``VALUES`` rows (which SQLite reads in order, as it does a plain multi-row ``VALUES``:
          the same rows in the same order).
        - ``estimated`` is bound as the int sqlite3 makes of a bool (SQLite has no bool).

        ``OR IGNORE`` applies per row: each is skipped on its own if its request id is present. Rows go
        16, 8, 4, 2 or 1 at a time (one statement run per chunk, not per row: ~11k fewer instructions a
        row); the statements are prepared once per connection and shape of columns."""
        cols = list(zip(*rows, strict=True))  # the batch column by column (all in C)
        n = len(rows)
        est = cols[_ESTIMATED]
        cols[_ESTIMATED] = (
            (0,) * n if est.count(False) == n else tuple(v if v is None else int(v) for v in est)
        )
        vary: list[int] = []
        same: list[int] = []
        for j, col in enumerate(cols):
            first = col[0]
            if j in _ALWAYS_VARY or col.count(first) != n:
                vary.append(j)
            elif first is not None:
                same.append(j)
        shape = (tuple(vary), tuple(same))
        once = tuple([cols[j][0] for j in same])
        values = list(zip(*[cols[j] for j in vary], strict=True))
        i = 0
        while i < n:
            size = _CHUNK
            while size > n - i:
                size >>= 1
            sql = self._multi_sql.get((shape, size))
            if sql is None:
                if len(self._multi_sql) >= 256:  # many shapes: start over (each prepared again)
                    self._multi_sql.clear()
                sql = _usage_insert(vary, same, size)
                self._multi_sql[(shape, size)] = sql
            cur.execute(sql, once + tuple(chain.from_iterable(values[i : i + size])))
            i += size

    # sqlite3 prepares the BEGIN it issues before an insert, and the COMMIT of ``commit()``, each time
    # (~11k instructions a batch); the same two statements run through the cursor come from its
    # statement cache. (``rollback()`` still ends a transaction begun this way.)
    def _begin(self, cur: Any) -> None:
        cur.execute("BEGIN")

    def _commit(self, conn: Any, cur: Any) -> None:
        cur.execute("COMMIT")

    def insert_ignore(self, table: Table) -> Insert:
        return insert(table).on_conflict_do_nothing()

    def insert_ignore_sql(self, table: str, cols: Sequence[str]) -> str:
        return f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
