"""Durable usage records without a database round trip per request.

Each finished request appends one JSON line to this process's write-ahead log with a single ``write()``
(kernel page cache: it survives SIGKILL of the process) *before* the response's last byte is sent. A
writer thread commits the records to the database in batches (group commit) and then deletes the WAL
segment it covered. At start, segments left by dead processes (their lock file is no longer held) are
replayed; inserts skip request ids already present, so replay is idempotent.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from .store import USAGE_COLUMNS, GrantDraw, LedgerStore, UsageRecord, usage_values

__all__ = ["UsageWriter", "replay_dead_segments"]

log = logging.getLogger(__name__)


def _decode(line: bytes) -> tuple[UsageRecord, list[GrantDraw]] | None:
    """A WAL line: ``[[values…], [draws…]]``, the record's column values in ``USAGE_COLUMNS`` order (a
    column added by a later migration goes at the end, so an older line's shorter list still reads:
    the columns it lacks take their defaults); or, as written before, ``{"u": {field: value…}, "d":
    [draws…]}``."""
    try:
        obj = orjson.loads(line)
        if isinstance(obj, list):
            values, draws = obj
            if len(values) > len(USAGE_COLUMNS):
                return None  # written by a newer qiao: not ours to guess (its segment is replayed by it)
            rec = UsageRecord(**dict(zip(USAGE_COLUMNS, values, strict=False)))
        else:
            rec, draws = UsageRecord(**obj["u"]), obj.get("d", ())
        return rec, [GrantDraw(**d) for d in draws]
    except (orjson.JSONDecodeError, TypeError, KeyError, ValueError):
        return None  # a torn last line: its request never completed (the write happens before the reply)


def replay_dead_segments(wal_dir: Path, store: LedgerStore) -> int:
    """Commit the records of processes that died (their lock is free); return how many were replayed."""
    if not wal_dir.is_dir():
        return 0
    n = 0
    for lock_path in sorted(wal_dir.glob("*.lock")):
        owner = lock_path.stem
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live process owns it
            for seg in sorted(wal_dir.glob(f"{owner}.*.wal"), key=lambda p: int(p.name.split(".")[-2])):
                recs: list[UsageRecord] = []
                draws: list[GrantDraw] = []
                for line in seg.read_bytes().splitlines():
                    got = _decode(line)
                    if got is not None:
                        recs.append(got[0])
                        draws.extend(got[1])
                store.write_usage(recs, draws)
                n += len(recs)
                seg.unlink()
            lock_path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    if n:
        log.info("replayed %d usage records from the write-ahead log in %s", n, wal_dir)
    return n


class UsageWriter:
    """Per-process WAL + group-commit writer thread (owned by the ledger, joined at close)."""

    def __init__(
        self,
        store: LedgerStore,
        wal_dir: Path,
        interval_s: float = 0.05,
        on_idle: Callable[[], None] | None = None,
        idle_every_s: float = 0.25,
    ) -> None:
        self.store = store
        self.dir = wal_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.owner = f"{os.getpid()}-{os.urandom(4).hex()}"
        self._lock_fd = os.open(self.dir / f"{self.owner}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.interval = interval_s
        self.on_idle = on_idle
        self.idle_every = idle_every_s
        self._mu = threading.Lock()
        self._pending: list[tuple[list[Any], Sequence[GrantDraw]]] = []
        self._seg = 0
        self._prefix = os.path.join(self.dir, f"{self.owner}.")
        self._fd = self._open_segment()
        self._stop = threading.Event()
        # Held until close() releases it: the thread sleeps in ``acquire(timeout=tick)``, one C call,
        # where ``Event.wait(tick)`` runs a Condition's Python code (and allocates a lock) at every tick.
        self._wake = threading.Lock()
        self._wake.acquire()
        self._flushed = threading.Condition()
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="qiao-ledger-writer", daemon=True)
        self._thread.start()

    def _segment_path(self, n: int) -> Path:
        return Path(self._segment_name(n))

    def _segment_name(self, n: int) -> str:
        # a str, not a Path: every flush opens one segment and deletes another, and pathlib's joins and
        # conversions cost more than the system calls themselves
        return f"{self._prefix}{n}.wal"

    def _open_segment(self) -> int:
        return os.open(self._segment_name(self._seg), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def append(self, rec: UsageRecord, draws: Sequence[GrantDraw]) -> None:
        """Durable against process death once this returns (one ``write`` to the segment)."""
        self.append_values(usage_values(rec), draws)

    def append_values(self, values: list[Any], draws: Sequence[GrantDraw]) -> None:
        """:meth:`append` of a record given as its column values (``USAGE_COLUMNS`` order): the form
        ``Ledger.record`` builds, the line holds (a JSON list: no field names to write, ~4k instructions
        less than an object) and the writer thread binds as they are."""
        line = orjson.dumps((values, draws), option=orjson.OPT_APPEND_NEWLINE)
        with self._mu:
            os.write(self._fd, line)
            self._pending.append((values, draws))

    def _swap(self) -> tuple[list[tuple[list[Any], Sequence[GrantDraw]]], str | None]:
        with self._mu:
            if not self._pending:
                return [], None
            batch, self._pending = self._pending, []
            old_fd, old = self._fd, self._segment_name(self._seg)
            self._seg += 1
            self._fd = self._open_segment()
        os.close(old_fd)
        return batch, old

    def flush(self) -> int:
        """Commit what is pending now (the thread calls this; tests and shutdown may too)."""
        batch, seg = self._swap()
        if not batch:
            return 0
        recs = [r for r, _ in batch]
        draws = [d for _, ds in batch for d in ds]
        for attempt in range(30):
            try:
                self.store.write_usage_values(recs, draws)
                break
            except Exception:  # noqa: BLE001 - the WAL keeps the records; retry, then leave them for replay
                log.exception("usage batch of %d records not committed (attempt %d)", len(recs), attempt + 1)
                if self._stop.is_set() and attempt >= 2:
                    return 0
                time.sleep(min(0.1 * (attempt + 1), 1.0))
        else:
            return 0
        if seg is not None:
            try:
                os.unlink(seg)
            except FileNotFoundError:
                pass
        self.written += len(recs)
        return len(recs)

    def _run(self) -> None:
        # Two clocks: group commit every `interval`, and the idle work (key refresh) every `idle_every`,
        # whichever is longer: a long commit interval must not slow down revocation.
        last_flush = last_idle = time.monotonic()
        tick = min(self.interval, self.idle_every) if self.on_idle is not None else self.interval
        self.store.hold_connection()
        try:
            self._loop(last_flush, last_idle, tick)
        finally:
            self.store.release_connection()

    def _loop(self, last_flush: float, last_idle: float, tick: float) -> None:
        while not self._stop.is_set():
            self._wake.acquire(timeout=tick)  # True when close() released it: the loop ends below
            try:
                now = time.monotonic()
                if now - last_flush >= self.interval - 0.001:
                    last_flush = now
                    self.flush()
                if self.on_idle is not None and now - last_idle >= self.idle_every - 0.001:
                    last_idle = now
                    self.on_idle()
            except Exception:  # noqa: BLE001 - the thread must outlive a bad moment of the database
                log.exception("ledger writer thread")

    def close(self) -> None:
        self._stop.set()
        try:
            self._wake.release()
        except RuntimeError:  # not held: a second close()
            pass
        self._thread.join(timeout=30)
        self.flush()
        with self._mu:
            os.close(self._fd)
            empty = not self._pending
        if empty:
            for p in self.dir.glob(f"{self.owner}.*.wal"):
                if p.stat().st_size == 0:
                    p.unlink(missing_ok=True)
            if not any(self.dir.glob(f"{self.owner}.*.wal")):
                (self.dir / f"{self.owner}.lock").unlink(missing_ok=True)
        os.close(self._lock_fd)
