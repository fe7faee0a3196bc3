"""Ledger records and the store: one dialect-neutral SQL core (SQLAlchemy 2 Core, synchronous).

The store is only ever called off the event loop: by the ledger's writer thread (group commit of usage
records), by ``asyncio.to_thread`` in the admin API, and by CLI commands. Dialect differences (engine
options, insert-or-ignore) live in :mod:`qiao.ledger.sqlite` and :mod:`qiao.ledger.postgres`.
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from operator import attrgetter
from types import EllipsisType
from typing import Any

import orjson
from sqlalchemy import Engine, Insert, Table, func, select, text, update

from ..config import hash_key
from . import schema
from .migrations import MIGRATIONS

__all__ = [
    "KEY_PREFIX",
    "USAGE_COLUMNS",
    "GrantDraw",
    "KeyRecord",
    "LedgerStore",
    "Limits",
    "TenantRecord",
    "UsageRecord",
    "new_key",
    "open_store",
    "usage_values",
]

KEY_PREFIX = "sk-qiao-"


def new_key() -> tuple[str, str]:
    """A fresh gateway key and its public id (``k_…``, safe to show and log)."""
    return KEY_PREFIX + secrets.token_urlsafe(32), "k_" + secrets.token_hex(6)


@dataclass(frozen=True, slots=True)
class Limits:
    """Budget (CNY micro-units and/or tokens, per reset period) and rate limits of a key or tenant."""

    budget_micros: int | None = None
    budget_tokens: int | None = None
    reset: str = "none"
    rpm: int | None = None
    tpm: int | None = None

    @property
    def empty(self) -> bool:
        return (
            self.budget_micros is None
            and self.budget_tokens is None
            and self.rpm is None
            and self.tpm is None
        )


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    name: str
    tenant: str
    hint: str
    digest: str = field(repr=False)
    models: tuple[str, ...] | None = None
    limits: Limits = Limits()
    expires_at: float | None = None
    revoked_at: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def usable(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def public(self) -> dict[str, Any]:
        """Everything but the digest (what the admin API and ``qiao keys show`` print)."""
        out = {k: v for k, v in asdict(self).items() if k != "digest"}
        out["models"] = list(self.models) if self.models is not None else None
        out["status"] = (
            "revoked"
            if self.revoked_at is not None
            else "expired"
            if self.expires_at is not None and time.time() >= self.expires_at
            else "active"
        )
        return out


@dataclass(frozen=True, slots=True)
class TenantRecord:
    name: str
    limits: Limits = Limits()
    created_at: float = 0.0
    updated_at: float = 0.0

    def public(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class UsageRecord:
    """One request, success or failure: what ``qiao usage`` reports and budgets are reconciled from.

    The gateway's own records travel as lists of column values in :data:`USAGE_COLUMNS` order
    (``Ledger.record`` builds one per request: cheaper to build, serialise and bind);
    :func:`usage_values` converts."""

    request_id: str
    ts: float
    endpoint: str
    status: int
    latency_ms: float
    tenant: str | None = None
    key_id: str | None = None
    model: str | None = None
    provider: str | None = None
    account: str | None = None
    upstream_model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False
    price_currency: str | None = None
    price_cost_micros: int = 0
    fx_rate: str | None = None
    cost_micros: int = 0
    grant_name: str | None = None
    grant_micros: int = 0
    paid_micros: int = 0
    reserved_micros: int = 0
    first_token_ms: float | None = None
    attempts: int = 0
    client_request_id: str | None = None
    """The client's own id for the request (``X-Client-Request-Id`` / ``X-Request-Id``), if it sent one."""
    tried: str | None = None
    """Every attempt and skip of the request, JSON ``[[target, outcome, ms], …]`` (outcome ``ok``, an
    error code or ``skipped:…``)."""

    def row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class GrantDraw:
    request_id: str
    account: str
    grant_name: str
    tokens: int
    micros: int
    currency: str
    ts: float


def _limits(row: Any) -> Limits:
    return Limits(row.budget_micros, row.budget_tokens, row.reset or "none", row.rpm, row.tpm)


def _key(row: Any) -> KeyRecord:
    models = tuple(orjson.loads(row.models)) if row.models else None
    return KeyRecord(
        row.id,
        row.name,
        row.tenant,
        row.hint,
        row.digest,
        models,
        _limits(row),
        row.expires_at,
        row.revoked_at,
        row.created_at,
        row.updated_at,
    )


def _tenant(row: Any) -> TenantRecord:
    return TenantRecord(row.name, _limits(row), row.created_at, row.updated_at)


def _names(table: Table) -> tuple[str, ...]:
    """A table's column names as plain interned ``str``: SQLAlchemy's are ``quoted_name``, a ``str``
    subclass, which CPython's attribute cache refuses (every ``getattr`` by such a name walks the MRO
    and compares strings the slow way)."""
    return tuple(sys.intern(str(c.name)) for c in table.c)


_USAGE_COLS = tuple(c for c in _names(schema.usage) if c != "seq")
USAGE_COLUMNS: tuple[str, ...] = _USAGE_COLS
"""qiao_usage's columns but ``seq``, in the table's order: the order of a usage record's values as the
gateway carries them (``Ledger.record``), the WAL line holds them and the inserts bind them. A migration
adding a column adds it at the end."""
_DRAW_COLS = _names(schema.grant_draws)
_usage_values = attrgetter(*_USAGE_COLS)  # a record's column values as one tuple, in C
_draw_values = attrgetter(*_DRAW_COLS)


def usage_values(rec: UsageRecord) -> list[Any]:
    """A record as the list of column values the gateway's writer carries (and the WAL line holds)."""
    return list(_usage_values(rec))


_KEY_COLS = _names(schema.keys)
_TENANT_COLS = _names(schema.tenants)


class _Row:
    """A DB-API row tuple read by column name (what ``_key`` / ``_tenant`` expect)."""

    def __init__(self, cols: tuple[str, ...], values: Sequence[Any]) -> None:
        self.__dict__.update(zip(cols, values, strict=True))

    def __getattr__(self, name: str) -> Any:  # pragma: no cover - every column is set
        raise AttributeError(name)


class LedgerStore:
    """The SQL core. Subclasses give the engine and the two dialect differences: an insert that ignores
    duplicates, and the DB-API parameter marker.

    The two calls the gateway's writer thread makes all the time (``write_usage`` and the
    ``changed_since`` reads of keys and tenants) go straight to the DB-API connection with prepared SQL
    text: no statement compilation, so the thread holds the GIL as briefly as possible and the event
    loop sharing the core is not held up."""

    dialect = "generic"
    marker = "?"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()  # .held: the connection a thread holds (hold_connection)
        self._usage_sql = self.insert_ignore_sql("qiao_usage", _USAGE_COLS)
        self._draw_sql = self.insert_ignore_sql("qiao_grant_draws", _DRAW_COLS)

    # ---- dialect seam ---------------------------------------------------------------------------------
    def insert_ignore(self, table: Table) -> Insert:  # pragma: no cover - overridden
        raise NotImplementedError

    def insert_ignore_sql(self, table: str, cols: Sequence[str]) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    # ---- the DB-API connection of the hot calls -------------------------------------------------------
    def hold_connection(self) -> None:
        """Let the calling thread keep the pooled connection its raw calls check out, instead of checking
        one out and in per call: the ledger's writer thread, whose group commits and key refreshes would
        otherwise pay SQLAlchemy's pool check-out and check-in (~60k instructions) each time."""
        self._local.hold = True

    def release_connection(self) -> None:
        """Give the calling thread's held connection back to the pool."""
        raw = getattr(self._local, "held", None)
        self._local.hold = False
        self._local.held = None
        if raw is not None:
            raw.close()

    def raw(self) -> Any:
        """A DB-API connection (SQLAlchemy's pooled proxy) for one unit of work; hand it back with
        :meth:`done`."""
        raw = getattr(self._local, "held", None)
        if raw is None:
            raw = self.engine.raw_connection()
            if getattr(self._local, "hold", False):
                self._local.held = raw
        return raw

    def done(self, raw: Any, failed: bool = False) -> None:
        """End a unit of work begun with :meth:`raw` (committed or rolled back by the caller). A held
        connection stays checked out, unless the work failed: then it is discarded (the database may
        have gone away; a fresh connection is checked out, and pinged, next time)."""
        held = getattr(self._local, "held", None)
        if held is None or raw is not held:
            raw.close()
        elif failed:
            self._local.held = None
            held.invalidate()

    def _changed(self, table: str, cols: tuple[str, ...], since: float) -> list[_Row]:
        raw = self.raw()
        failed = True
        try:
            cur = raw.cursor()
            cur.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE updated_at >= {self.marker}", (since,))
            rows = [_Row(cols, r) for r in cur.fetchall()]
            raw.commit()
            failed = False
            return rows
        finally:
            self.done(raw, failed)

    def changes(self, since: float, revision: str) -> tuple[bool, int]:
        """Whether any key or tenant changed at or after ``since``, and the revision counter named
        ``revision`` (0 when missing): one statement, what the writer thread asks four times a second."""
        m = self.marker
        sql = (
            f"SELECT EXISTS (SELECT 1 FROM qiao_keys WHERE updated_at >= {m}) "
            f"OR EXISTS (SELECT 1 FROM qiao_tenants WHERE updated_at >= {m}), "
            f"(SELECT rev FROM qiao_revisions WHERE name = {m})"
        )
        raw = self.raw()
        failed = True
        try:
            cur = raw.cursor()
            cur.execute(sql, (since, since, revision))
            row = cur.fetchone()
            raw.commit()
            failed = False
            return bool(row[0]), int(row[1] or 0)
        finally:
            self.done(raw, failed)

    def close(self) -> None:
        self.engine.dispose()

    # ---- migrations -----------------------------------------------------------------------------------
    def applied(self) -> list[str]:
        with self.engine.connect() as conn:
            if not self.engine.dialect.has_table(conn, "qiao_migrations"):
                return []
            return [r[0] for r in conn.execute(text("SELECT name FROM qiao_migrations ORDER BY name"))]

    def upgrade(self) -> list[str]:
        """Apply pending migrations in order; return the names applied (idempotent)."""
        done: list[str] = []
        with self.engine.begin() as conn:
            self._lock_migrations(conn)
            conn.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS qiao_migrations "
                    "(name VARCHAR(128) PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
                )
            )
            have = {r[0] for r in conn.execute(text("SELECT name FROM qiao_migrations"))}
            for name, fn in MIGRATIONS:
                if name in have:
                    continue
                fn(conn)
                conn.execute(
                    text("INSERT INTO qiao_migrations (name, applied_at) VALUES (:n, :t)"),
                    {"n": name, "t": time.time()},
                )
                done.append(name)
        return done

    def _lock_migrations(self, conn: Any) -> None:
        """Serialise concurrent upgrades (several replicas starting at once)."""

    def pending(self) -> list[str]:
        have = set(self.applied())
        return [n for n, _ in MIGRATIONS if n not in have]

    # ---- usage ----------------------------------------------------------------------------------------
    def write_usage(self, records: Sequence[UsageRecord], draws: Sequence[GrantDraw] = ()) -> None:
        """Insert records (a request id already present is skipped: replaying the WAL is harmless)."""
        if records or draws:
            self._insert_usage(map(_usage_values, records), draws)

    def write_usage_values(self, rows: Sequence[Sequence[Any]], draws: Sequence[GrantDraw] = ()) -> None:
        """:meth:`write_usage` of records given as their column values (:data:`USAGE_COLUMNS` order)."""
        if rows or draws:
            self._insert_usage(rows, draws)

    def _insert_usage(self, records: Iterable[Sequence[Any]], draws: Sequence[GrantDraw]) -> None:
        """Insert usage rows given as their column values (``_USAGE_COLS`` order), and grant draws, in
        one transaction."""
        raw = self.raw()
        # The DB-API connection itself: the pool's proxy finds ``commit``/``rollback`` through its
        # ``__getattr__`` (~2k instructions each, once per batch).
        conn = raw.dbapi_connection
        failed = True
        try:
            cur = conn.cursor()
            self._begin(cur)
            rows = list(records)
            if rows:
                self._insert_usage_rows(cur, rows)
            if draws:
                cur.executemany(self._draw_sql, [_draw_values(d) for d in draws])
            self._commit(conn, cur)
            failed = False
        except BaseException:
            conn.rollback()
            raise
        finally:
            self.done(raw, failed)

    def _begin(self, cur: Any) -> None:
        """Begin the transaction of a batch (DB-API drivers begin one implicitly)."""

    def _commit(self, conn: Any, cur: Any) -> None:
        conn.commit()

    def _insert_usage_rows(self, cur: Any, rows: list[Sequence[Any]]) -> None:
        """Run the usage insert for rows of column values (``_USAGE_COLS`` order) on a DB-API cursor."""
        cur.executemany(self._usage_sql, rows)

    def usage(
        self,
        since: float | None = None,
        until: float | None = None,
        tenant: str | None = None,
        key_id: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        u = schema.usage
        q = select(*[c for c in u.c if c.name != "seq"]).order_by(u.c.ts, u.c.seq)
        if since is not None:
            q = q.where(u.c.ts >= since)
        if until is not None:
            q = q.where(u.c.ts < until)
        if tenant is not None:
            q = q.where(u.c.tenant == tenant)
        if key_id is not None:
            q = q.where(u.c.key_id == key_id)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            rows = [{str(k): v for k, v in r._mapping.items()} for r in conn.execute(q)]
        for row in rows:
            if row.get("tried"):
                row["tried"] = orjson.loads(row["tried"])
        return rows

    def spend(self, column: str, since: float | None, only: str | None = None) -> dict[str, tuple[int, int]]:
        """Settled cost (CNY micro-units) and tokens per key id or tenant since a time (``only``: of one
        key id or tenant)."""
        u = schema.usage
        col = u.c[column]
        q = select(
            col,
            func.coalesce(func.sum(u.c.cost_micros), 0),
            func.coalesce(func.sum(u.c.prompt_tokens + u.c.completion_tokens), 0),
        ).where(col.is_not(None) if only is None else col == only)
        if since is not None:
            q = q.where(u.c.ts >= since)
        q = q.group_by(col)
        with self.engine.connect() as conn:
            return {r[0]: (int(r[1]), int(r[2])) for r in conn.execute(q)}

    def grant_used(self) -> dict[tuple[str, str], tuple[int, int]]:
        g = schema.grant_draws
        q = select(g.c.account, g.c.grant_name, func.sum(g.c.tokens), func.sum(g.c.micros)).group_by(
            g.c.account, g.c.grant_name
        )
        with self.engine.connect() as conn:
            return {(r[0], r[1]): (int(r[2] or 0), int(r[3] or 0)) for r in conn.execute(q)}

    def paid_used(self) -> dict[str, int]:
        """Money drawn from each account's paid balance (CNY micro-units)."""
        u = schema.usage
        q = select(u.c.account, func.sum(u.c.paid_micros)).where(u.c.account.is_not(None))
        with self.engine.connect() as conn:
            return {r[0]: int(r[1] or 0) for r in conn.execute(q.group_by(u.c.account))}

    # ---- tenants --------------------------------------------------------------------------------------
    def create_tenant(self, name: str, limits: Limits = Limits()) -> TenantRecord:
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                schema.tenants.insert().values(name=name, created_at=now, updated_at=now, **asdict(limits))
            )
        return TenantRecord(name, limits, now, now)

    def update_tenant(self, name: str, limits: Limits) -> TenantRecord | None:
        """Replace a tenant's limits (every process picks them up with its next key refresh)."""
        t = schema.tenants
        with self.engine.begin() as conn:
            conn.execute(update(t).where(t.c.name == name).values(updated_at=time.time(), **asdict(limits)))
        return self.get_tenant(name)

    def get_tenant(self, name: str) -> TenantRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.tenants).where(schema.tenants.c.name == name)).first()
        return _tenant(row) if row is not None else None

    def tenants(self, changed_since: float | None = None) -> list[TenantRecord]:
        if changed_since is not None:
            return [_tenant(r) for r in self._changed("qiao_tenants", _TENANT_COLS, changed_since)]
        q = select(schema.tenants).order_by(schema.tenants.c.name)
        with self.engine.connect() as conn:
            return [_tenant(r) for r in conn.execute(q)]

    # ---- keys -----------------------------------------------------------------------------------------
    def create_key(
        self,
        tenant: str,
        name: str | None = None,
        limits: Limits = Limits(),
        models: Iterable[str] | None = None,
        expires_at: float | None = None,
    ) -> tuple[str, KeyRecord]:
        """Create a key; returns the key itself (shown once, never stored) and its record."""
        key, kid = new_key()
        now = time.time()
        rec = KeyRecord(
            kid,
            name or kid,
            tenant,
            key[: len(KEY_PREFIX) + 4] + "…" + key[-4:],
            hash_key(key),
            tuple(models) if models is not None else None,
            limits,
            expires_at,
            None,
            now,
            now,
        )
        with self.engine.begin() as conn:
            conn.execute(schema.keys.insert().values(**self._key_row(rec)))
        return key, rec

    @staticmethod
    def _key_row(rec: KeyRecord) -> dict[str, Any]:
        row = asdict(rec)
        row.update(asdict(rec.limits))
        del row["limits"]
        row["models"] = orjson.dumps(list(rec.models)).decode() if rec.models is not None else None
        return row

    def get_key(self, kid: str) -> KeyRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.keys).where(schema.keys.c.id == kid)).first()
        return _key(row) if row is not None else None

    def key_by_digest(self, digest: str) -> KeyRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.keys).where(schema.keys.c.digest == digest)).first()
        return _key(row) if row is not None else None

    def keys(self, changed_since: float | None = None, tenant: str | None = None) -> list[KeyRecord]:
        if changed_since is not None and tenant is None:
            return [_key(r) for r in self._changed("qiao_keys", _KEY_COLS, changed_since)]
        k = schema.keys
        q = select(k).order_by(k.c.created_at)
        if changed_since is not None:
            q = q.where(k.c.updated_at >= changed_since)
        if tenant is not None:
            q = q.where(k.c.tenant == tenant)
        with self.engine.connect() as conn:
            return [_key(r) for r in conn.execute(q)]

    def revoke_key(self, kid: str) -> KeyRecord | None:
        now = time.time()
        k = schema.keys
        with self.engine.begin() as conn:
            conn.execute(
                update(k)
                .where(k.c.id == kid, k.c.revoked_at.is_(None))
                .values(revoked_at=now, updated_at=now)
            )
        return self.get_key(kid)

    def update_key(
        self,
        kid: str,
        *,
        name: str | None = None,
        limits: Limits | None = None,
        models: tuple[str, ...] | None | EllipsisType = ...,
        expires_at: float | None | EllipsisType = ...,
    ) -> KeyRecord | None:
        """Change a key in place (name, limits, models, expiry; ``...`` = unchanged). The key itself and
        its id stay; every process picks the change up with its next key refresh."""
        values: dict[str, Any] = {"updated_at": time.time()}
        if name is not None:
            values["name"] = name
        if limits is not None:
            values.update(asdict(limits))
        if models is not ...:
            values["models"] = orjson.dumps(list(models)).decode() if models is not None else None
        if expires_at is not ...:
            values["expires_at"] = expires_at
        k = schema.keys
        with self.engine.begin() as conn:
            conn.execute(update(k).where(k.c.id == kid).values(**values))
        return self.get_key(kid)

    def rotate_key(self, kid: str) -> tuple[str, KeyRecord] | None:
        """Revoke a key and create its successor with the same tenant, limits, models and expiry."""
        old = self.get_key(kid)
        if old is None:
            return None
        key, rec = self.create_key(old.tenant, old.name, old.limits, old.models, old.expires_at)
        self.revoke_key(kid)
        return key, rec


def open_store(url: str) -> LedgerStore:
    """The store for a database URL: ``sqlite:///…`` or ``postgresql://…``."""
    if url.startswith("sqlite"):
        from .sqlite import SqliteStore

        return SqliteStore(url)
    if url.startswith(("postgresql", "postgres")):
        from .postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(f"unsupported database URL {url.split(':', 1)[0]!r}: use sqlite:/// or postgresql://")
