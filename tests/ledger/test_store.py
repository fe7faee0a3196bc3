"""The store (SQLite and real PostgreSQL), migrations, the WAL replay, counters (memory, SQLite file,
real Redis) and the grant book."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text

from qiao.config import AccountConfig, GrantConfig, hash_key
from qiao.ledger.counters import Check, MemoryCounters, RedisCounters, SqliteCounters
from qiao.ledger.grants import GrantBook, fx_convert
from qiao.ledger.migrations import MIGRATIONS
from qiao.ledger.store import KEY_PREFIX, LedgerStore, Limits, UsageRecord, open_store
from qiao.ledger.wal import UsageWriter, replay_dead_segments
from tests.ledger.conftest import REDIS_URL


def _rec(rid: str, **kw: object) -> UsageRecord:
    return UsageRecord(rid, time.time(), "chat/completions", 200, 1.0, **kw)  # type: ignore[arg-type]


ALL = [name for name, _ in MIGRATIONS]


def _exercise(store: LedgerStore) -> None:
    assert store.pending() == ALL
    assert store.upgrade() == ALL
    assert store.upgrade() == []  # idempotent
    assert store.applied() == ALL
    _exercise_usage_indexes(store)
    store.create_tenant("acme", Limits(budget_micros=5_000_000, reset="monthly"))
    key, rec = store.create_key("acme", "ci", Limits(rpm=10), ["glm-*"], None)
    assert key.startswith(KEY_PREFIX) and rec.digest == hash_key(key) and key not in repr(rec)
    assert store.key_by_digest(hash_key(key)) == rec
    assert store.get_key(rec.id).models == ("glm-*",)  # type: ignore[union-attr]
    store.write_usage([_rec("r1", key_id=rec.id, tenant="acme", cost_micros=7, prompt_tokens=3)])
    store.write_usage([_rec("r1", key_id=rec.id, tenant="acme", cost_micros=7)])  # replay: ignored
    assert [r["request_id"] for r in store.usage()] == ["r1"]
    assert store.spend("key_id", None) == {rec.id: (7, 3)}
    revoked = store.revoke_key(rec.id)
    assert revoked is not None and revoked.revoked_at is not None and not revoked.usable(time.time())
    new_key, new = store.rotate_key(rec.id) or ("", rec)
    assert new.id != rec.id and new.limits == rec.limits and new.tenant == "acme" and new_key != key
    assert {k.id for k in store.keys(changed_since=time.time() - 60)} == {rec.id, new.id}
    _exercise_changes(store)
    _exercise_usage_rows(store)


def _exercise_usage_indexes(store: LedgerStore) -> None:
    """004 leaves the usage table the request id's uniqueness and the time index; its downgrade puts the
    two dropped indexes back, and upgrading again drops them again."""
    from sqlalchemy import inspect

    from qiao.ledger.migrations import m004_usage_indexes

    def names() -> set[str]:
        with store.engine.connect() as conn:
            return {str(ix["name"]) for ix in inspect(conn).get_indexes("qiao_usage")}

    dropped = {name for name, _ in m004_usage_indexes.DROPPED}
    assert "ix_qiao_usage_ts" in names() and not names() & dropped
    with store.engine.begin() as conn:
        m004_usage_indexes.downgrade(conn)
    assert dropped <= names()
    with store.engine.begin() as conn:
        m004_usage_indexes.upgrade(conn)
    assert "ix_qiao_usage_ts" in names() and not names() & dropped


def _exercise_usage_rows(store: LedgerStore) -> None:
    """A usage record reads back exactly as written whichever of its fields are None (those columns are
    left out of the insert) or ``estimated`` (a literal when False), in the order written, within one
    batch of mixed shapes and across batches."""
    from dataclasses import asdict, fields

    full = {
        "tenant": "t",
        "key_id": "k_rows",
        "model": "m",
        "provider": "p",
        "account": "a",
        "upstream_model": "um",
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "cached_tokens": 1,
        "reasoning_tokens": 2,
        "estimated": True,
        "price_currency": "USD",
        "price_cost_micros": 5,
        "fx_rate": "7.1",
        "cost_micros": 36,
        "grant_name": "g1,g2",
        "grant_micros": 6,
        "paid_micros": 30,
        "reserved_micros": 40,
        "first_token_ms": 0.25,
        "attempts": 2,
        "client_request_id": "c-1",
        "tried": '[["a/m","ok",1.5]]',
    }
    nullable = [f.name for f in fields(UsageRecord) if f.default is None]
    shapes: list[dict[str, object]] = [
        full,
        {},  # every nullable field None, estimated False
        {**full, "estimated": False},
        {k: v for k, v in full.items() if k not in nullable[::2]},
        full,  # a shape seen before, after others
        {k: v for k, v in full.items() if k not in nullable[1::2]},
        {"estimated": True},
    ]
    t0 = time.time() + 1000  # after every record written before
    recs = [UsageRecord(f"rows-{i}", t0, "chat/completions", 200, 1.5, **kw) for i, kw in enumerate(shapes)]  # type: ignore[arg-type]
    store.write_usage(recs[:5])
    store.write_usage(recs[5:] + recs[:2])  # the first two again (a replay): skipped
    got = [r for r in store.usage(since=t0) if r["request_id"].startswith("rows-")]
    want = []
    for r in recs:
        row = asdict(r)
        row["tried"] = orjson.loads(row["tried"]) if row["tried"] else None
        want.append(row)
    assert got == want
    # a batch larger than one multi-row insert (SQLite: up to 16 rows per statement), with a request id
    # repeated inside the batch and one already written: each duplicate skipped on its own, order kept
    t1 = t0 + 1000
    many = [UsageRecord(f"many-{i:03d}", t1 + i, "chat/completions", 200, 1.0, attempts=i) for i in range(80)]
    store.write_usage([*many[:50], many[3], recs[0], *many[50:]])
    got = [r for r in store.usage(since=t1) if r["request_id"].startswith("many-")]
    assert [(r["request_id"], r["attempts"]) for r in got] == [(f"many-{i:03d}", i) for i in range(80)]
    # random batches through the writer's path (column values; SQLite binds a value shared by the whole
    # batch once and leaves out all-NULL columns): every record reads back as written, in batch order
    # (one ts for all, so the order is the insert's), whatever mix of shared, varying and NULL values
    import random

    from qiao.ledger.store import usage_values

    rnd = random.Random(7)
    t2 = t1 + 1000
    for b in range(40):
        size = rnd.choice([1, 2, 3, 5, 16, 17, 40])
        base = {k: v for k, v in full.items() if rnd.random() < 0.5}
        batch = []
        for i in range(size):
            kw = {k: v for k, v in base.items() if rnd.random() < 0.8}
            for k in rnd.sample(sorted(full), 3):
                v = full[k]
                if k == "tried":
                    kw[k] = '[["b/m","ok",2.5]]'
                else:
                    kw[k] = not v if isinstance(v, bool) else v * 2 if isinstance(v, int | float) else v + "x"
            batch.append(UsageRecord(f"rnd-{b}-{i}", t2 + b, "chat/completions", 200, 1.5, **kw))  # type: ignore[arg-type]
        store.write_usage_values([usage_values(r) for r in batch])
        got = [r for r in store.usage(since=t2 + b, until=t2 + b + 1)]
        want = []
        for r in batch:
            row = asdict(r)
            row["tried"] = orjson.loads(row["tried"]) if row["tried"] else None
            want.append(row)
        assert got == want, b


def _exercise_changes(store: LedgerStore) -> None:
    """Keys and tenants changed in place; accounts and grants stored, each change bumping the revision."""
    from qiao.config import Settings
    from qiao.ledger import accounts, ops

    settings = Settings()
    # the writer thread's probe: did any key or tenant change since, and the accounts revision
    t_key = time.time()
    _, rec = store.create_key("acme", "k2", Limits(rpm=10), None, None)
    assert store.changes(t_key - 1, accounts.REV) == (True, accounts.revision(store))
    assert store.changes(time.time() + 60, accounts.REV) == (False, accounts.revision(store))
    assert store.changes(time.time() + 60, "no-such-counter") == (False, 0)
    changed = ops.update_key(store, settings, rec.id, {"rpm": 2, "budget": "1.5", "models": ["glm-*"]})
    assert changed.limits == Limits(budget_micros=1_500_000, rpm=2) and changed.models == ("glm-*",)
    assert changed.digest == rec.digest and changed.updated_at >= rec.updated_at
    assert ops.update_key(store, settings, rec.id, {"rpm": None}).limits.rpm is None
    assert ops.update_tenant(store, settings, "acme", {"rpm": 7})["limits"]["rpm"] == 7
    later = time.time() + 3600  # a tenant changed after every key: the probe sees it too
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE qiao_tenants SET updated_at = :t WHERE name = 'acme'"), {"t": later})
    assert store.changes(later - 1, accounts.REV)[0] is True
    assert store.changes(later + 1, accounts.REV)[0] is False
    rev = accounts.revision(store)
    env = {"ACME_KEY": "secret-value-1234"}
    body = {"provider": "zhipu", "name": "z2", "credential_env": "ACME_KEY", "balance": "20"}
    out = accounts.add_account(store, settings, body, env)
    assert out["credential_env"] == "ACME_KEY" and "secret-value" not in str(out)
    accounts.add_grant(store, settings, "z2", {"name": "g1", "tokens": 100, "expires": "2099-01-01"})
    accounts.update_grant(store, settings, "z2", "g1", {"amount": "3"})
    assert accounts.revision(store) == rev + 3
    declared = accounts.load_declared(store)
    assert declared.rev == rev + 3 and declared.grant("z2", "g1").spec == {  # type: ignore[union-attr]
        "name": "g1",
        "amount": "3",
        "expires": "2099-01-01",
    }
    merged, problems = accounts.merge(settings, declared, env)
    [acc] = merged.accounts
    assert problems == {} and acc.credential is not None
    assert acc.credential.get_secret_value() == "secret-value-1234" and acc.grants[0].amount == "3"
    assert accounts.merge(settings, declared, {})[1] == {
        "z2": "left out: environment variable ACME_KEY is not set in this process"
    }
    accounts.remove_account(store, settings, "z2")
    assert accounts.load_declared(store).empty and accounts.revision(store) == rev + 4
    # secrets elsewhere than the credential must be ${VAR} references, resolved by each process
    refused = [
        ({"headers": {"X-Api-Key": "literal-secret"}}, "headers.X-Api-Key"),
        ({"proxy": "http://u:literal@proxy:3128"}, "proxy"),
        ({"headers": {"X-Api-Key": "${QIAO_T_UNSET}"}}, "headers.X-Api-Key"),
    ]
    for extra, param in refused:
        try:
            accounts.add_account(store, settings, {**body, **extra}, env)
            raise AssertionError(f"accepted {extra}")
        except ops.OpError as exc:
            assert exc.param == param and "literal" not in str(exc)
    assert accounts.revision(store) == rev + 4  # nothing written
    refs = {"headers": {"X-Api-Key": "${ACME_KEY}", "X-Team": "a"}, "proxy": "http://u:${ACME_KEY}@p:3128"}
    out = accounts.add_account(store, settings, {**body, **refs}, env)
    assert "secret-value" not in str(out) and out["headers"] == {"X-Api-Key": "…", "X-Team": "…"}
    [acc] = accounts.merge(settings, accounts.load_declared(store), env)[0].accounts
    assert (
        acc.headers["X-Api-Key"] == "secret-value-1234" and acc.proxy == "http://u:secret-value-1234@p:3128"
    )
    stored = accounts.load_declared(store).account("z2")
    assert stored is not None and "secret-value" not in str(stored.spec)
    # two processes adding the same name at once: the primary key decides, the loser gets a conflict
    real = accounts.load_declared
    accounts.load_declared = lambda _store: accounts.Declared(0)  # type: ignore[assignment]
    try:
        accounts.add_account(store, settings, body, env)
        raise AssertionError("a duplicate account was accepted")
    except ops.OpConflict as exc:
        assert "exists already" in str(exc)
    finally:
        accounts.load_declared = real  # type: ignore[assignment]
    accounts.remove_account(store, settings, "z2")


def test_sqlite_store(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/q.db")
    try:
        _exercise(store)
    finally:
        store.close()


def test_postgres_store(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        assert store.dialect == "postgresql"
        _exercise(store)
    finally:
        store.close()


def test_wal_replays_records_of_a_dead_process(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/q.db")
    store.upgrade()
    w = UsageWriter(store, tmp_path / "wal", interval_s=60)  # never flushes by itself in this test
    w.append(_rec("a"), [])
    w.append(_rec("b"), [])
    assert store.usage() == []
    # the owner is alive (holds its lock): nothing to replay
    assert replay_dead_segments(tmp_path / "wal", store) == 0
    import os

    os.close(w._lock_fd)  # as if the process died: its lock is released
    w._stop.set()
    assert replay_dead_segments(tmp_path / "wal", store) == 2
    assert sorted(r["request_id"] for r in store.usage()) == ["a", "b"]
    assert list((tmp_path / "wal").glob("*.wal")) == []
    store.close()


def test_writer_group_commit(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/q.db")
    store.upgrade()
    w = UsageWriter(store, tmp_path / "wal", interval_s=0.01)
    for i in range(500):
        w.append(_rec(f"r{i}"), [])
    w.close()
    assert len(store.usage()) == 500
    assert list((tmp_path / "wal").iterdir()) == []
    store.close()


async def _counters_contract(c: object) -> None:
    from qiao.ledger.counters import Counters

    assert isinstance(c, Counters.__class__) or True
    cc: Counters = c  # type: ignore[assignment]
    checks = [Check("rpm:k:x:1", 1, 2, 61), Check("bud:k:x:all", 300, 1000, 0)]
    assert (await cc.acquire("r1", checks))[0] == -1
    assert (await cc.acquire("r1", checks))[0] == -2  # same request id: already reserved
    assert (await cc.acquire("r2", checks)) == (-1, [2, 600])
    idx, vals = await cc.acquire("r3", checks)
    assert idx == 0 and vals == [2, 600]  # RPM full; nothing was incremented
    assert await cc.adjust("r1", [("bud:k:x:all", -300, 0)])  # failed request: refund
    assert not await cc.adjust("r1", [("bud:k:x:all", -300, 0)])  # idempotent
    idx, vals = await cc.acquire("r4", [Check("bud:k:x:all", 800, 1000, 0)])
    assert (idx, vals) == (0, [300])  # 300 settled + 800 > 1000
    await cc.put({"bud:k:x:all": (0, 0)}, only_missing=True)
    assert (await cc.acquire("r5", [Check("bud:k:x:all", 700, 1000, 0)])) == (-1, [1000])
    await cc.aclose()


async def test_memory_counters() -> None:
    await _counters_contract(MemoryCounters())


async def test_sqlite_counters(tmp_path: Path) -> None:
    await _counters_contract(SqliteCounters(str(tmp_path / "c.sqlite")))


async def test_redis_counters(redis_prefix: str) -> None:
    await _counters_contract(RedisCounters(REDIS_URL, redis_prefix))


async def test_redis_counters_are_atomic_under_concurrency(redis_prefix: str) -> None:
    c = RedisCounters(REDIS_URL, redis_prefix)
    res = await asyncio.gather(*(c.acquire(f"r{i}", [Check("bud:t", 7, 100, 0)]) for i in range(50)))
    assert sum(1 for idx, _ in res if idx == -1) == 14  # 14 * 7 = 98 <= 100 < 105
    await c.aclose()


def _book(*grants: GrantConfig) -> GrantBook:
    return GrantBook([AccountConfig(provider="zhipu", grants=list(grants))])


def test_grants_soonest_expiry_first_then_paid() -> None:
    now = time.time()
    book = _book(
        GrantConfig(name="late", tokens=1000, expires="2099-12-31"),
        GrantConfig(name="soon", tokens=100, expires="2098-01-01", models=["glm-4*"]),
        GrantConfig(name="other-model", tokens=10**6, models=["embedding-*"]),
    )
    draws, covered = book.draw("r1", "zhipu", "glm-4-plus", 150, 1500, {}, now)
    assert [(d.grant_name, d.tokens) for d in draws] == [("soon", 100), ("late", 50)]
    assert covered == 1500
    draws, covered = book.draw("r2", "zhipu", "glm-4-plus", 2000, 2000, {}, now)
    assert [(d.grant_name, d.tokens) for d in draws] == [("late", 950)] and covered == 950
    assert book.draw("r3", "zhipu", "glm-4-plus", 10, 10, {}, now) == ([], 0)  # all used: paid


def test_money_grant_expired_and_future_grants_skipped() -> None:
    now = time.time()
    book = _book(
        GrantConfig(name="old", amount="100", expires="2020-01-01"),
        GrantConfig(name="future", amount="100", starts="2099-01-01"),
        GrantConfig(name="cny", amount="0.001"),
    )
    draws, covered = book.draw("r1", "zhipu", "glm-4-plus", 100, 1500, {}, now)
    assert [(d.grant_name, d.micros) for d in draws] == [("cny", 1000)] and covered == 1000
    [s] = [s for s in book.all() if s.name == "cny"]
    assert s.left == 0 and "100% used" in s.warnings(time.gmtime and __import__("datetime").date.today())


def test_fx_convert_rounds_once_half_up() -> None:
    assert fx_convert(1_000_000, 7_100_000) == 7_100_000
    assert fx_convert(1, 7_100_000) == 7  # 7.1 → 7
    assert fx_convert(1, 7_500_000) == 8


def test_long_commit_interval_does_not_slow_key_refresh(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/q.db")
    store.upgrade()
    calls: list[float] = []
    w = UsageWriter(
        store,
        tmp_path / "wal",
        interval_s=5.0,
        on_idle=lambda: calls.append(time.monotonic()),
        idle_every_s=0.1,
    )
    time.sleep(0.55)
    w.close()
    assert len(calls) >= 3
    store.close()


def test_a_ledger_from_before_003_keeps_its_rows(tmp_path: Path) -> None:
    """003 adds the attempts column to an existing usage table without losing a record."""
    from qiao.ledger.migrations import m001_initial

    store = open_store(f"sqlite:///{tmp_path}/old.db")
    with store.engine.begin() as conn:  # a ledger as 001 left it
        m001_initial.upgrade(conn)
        conn.execute(store_table_insert(), {**_old_row("r-old")})
    store.upgrade()
    rows = store.usage()
    assert [r["request_id"] for r in rows] == ["r-old"] and rows[0]["tried"] is None
    store.write_usage([_rec("r-new", tried='[["a/m","ok",1.5]]')])
    assert store.usage()[-1]["tried"] == [["a/m", "ok", 1.5]]
    store.close()


def store_table_insert():  # type: ignore[no-untyped-def]
    from qiao.ledger.migrations.m001_initial import usage

    return usage.insert()


def _old_row(rid: str) -> dict[str, object]:
    return {
        "request_id": rid,
        "ts": time.time(),
        "endpoint": "chat/completions",
        "status": 200,
        "latency_ms": 1.0,
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
        "estimated": False,
        "price_cost_micros": 0,
        "cost_micros": 0,
        "grant_micros": 0,
        "paid_micros": 0,
        "reserved_micros": 0,
        "attempts": 1,
    }


def test_resp_parser_at_any_chunk_boundary() -> None:
    from qiao.ledger._resp import RespError, _Parser, encode

    assert encode("EVALSHA", b"ab", 2) == b"*3\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n2\r\n"
    wire = b"*3\r\n:-1\r\n:7\r\n$3\r\nabc\r\n+OK\r\n-NOSCRIPT No matching script\r\n$-1\r\n:42\r\n"
    for step in (1, 2, 3, 5, len(wire)):
        p, got = _Parser(), []
        for i in range(0, len(wire), step):
            p.feed(wire[i : i + step])
            while True:
                ok, reply = p.gets()
                if not ok:
                    break
                got.append(reply)
        assert got[:3] == [[-1, 7, b"abc"], "OK", got[2]] and isinstance(got[2], RespError)
        assert str(got[2]).startswith("NOSCRIPT") and got[3:] == [None, 42]


async def test_redis_pipe_reloads_scripts_and_reconnects(redis_prefix: str) -> None:
    """The lean connection behind RedisCounters: a flushed script cache is refilled with EVAL, a
    connection closed by the server is re-opened on the next call, concurrent calls pipeline in order."""
    import redis

    c = RedisCounters(REDIS_URL, redis_prefix)
    assert c._pipe is not None
    checks = [Check("rpm:k:p:1", 1, 100, 61)]
    assert await c.acquire("p1", checks) == (-1, [1])
    r = redis.Redis.from_url(REDIS_URL)
    try:
        r.script_flush()
        assert await c.acquire("p2", checks) == (-1, [2])  # NOSCRIPT → EVAL
        from qiao.ledger._resp import encode

        ours = await c._pipe.call(encode("CLIENT", "ID"))
        assert r.client_kill_filter(_id=ours) == 1  # the server drops this one connection
        assert await c.acquire("p3", checks) == (-1, [3])  # reconnected (or retried once)
        got = await asyncio.gather(*(c.acquire(f"q{i}", checks) for i in range(50)))
        assert sorted(v[1][0] for v in got) == list(range(4, 54))
        assert await c.adjust("q0", [("rpm:k:p:1", -1, 61)]) and not await c.adjust("q0", [])
    finally:
        r.close()
        await c.aclose()


def test_redis_pipe_under_uvloop(redis_prefix: str) -> None:
    """The gateway runs on uvloop, whose transports are not asyncio.Transport subclasses."""
    import uvloop

    async def run() -> tuple[tuple[int, list[int]], bool]:
        c = RedisCounters(REDIS_URL, redis_prefix)
        try:
            got = await c.acquire("u1", [Check("rpm:k:u:1", 1, 10, 61)])
            return got, await c.adjust("u1", [("rpm:k:u:1", -1, 61)])
        finally:
            await c.aclose()

    assert uvloop.run(run()) == ((-1, [1]), True)


def _held_connection_recovers(store: LedgerStore, kill: Callable[[Any], None]) -> None:
    """The writer thread holds one pooled connection (``hold_connection``); when it breaks, the failing
    call raises (the writer retries it) and the next call checks out a fresh connection."""
    store.upgrade()
    store.hold_connection()
    try:
        store.write_usage([_rec("held-1")])
        raw = store.raw()
        assert store.raw() is raw  # the same connection every time
        store.done(raw)
        kill(raw)
        try:
            store.write_usage([_rec("held-2")])
            raise AssertionError("a broken connection wrote")
        except AssertionError:
            raise
        except Exception:  # noqa: BLE001 - whatever the driver raises for a dead connection
            pass
        store.write_usage([_rec("held-2")])  # the retry, on a fresh connection
        assert store.raw() is not raw
    finally:
        store.release_connection()
    assert [r["request_id"] for r in store.usage()] == ["held-1", "held-2"]


def test_held_connection_recovers_sqlite(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/h.db")
    try:
        _held_connection_recovers(store, lambda raw: raw.driver_connection.close())
    finally:
        store.close()


def test_held_connection_recovers_postgres(pg_url: str) -> None:
    import psycopg

    def kill(raw: Any) -> None:
        pid = raw.driver_connection.info.backend_pid
        with psycopg.connect(raw.driver_connection.info.dsn, autocommit=True) as con:
            con.execute("SELECT pg_terminate_backend(%s)", (pid,))

    store = open_store(pg_url)
    try:
        _held_connection_recovers(store, kill)
    finally:
        store.close()
