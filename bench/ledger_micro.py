"""Micro-benchmark: what the ledger adds to one request, in process (no network, no upstream).

Per request, exactly the calls the gateway makes: the key look-up (SHA-256 + map), admission (rate
limits + budget reservation for key and tenant, memory counters), the usage record (one WAL ``write``),
settlement. The writer thread commits to SQLite in the background meanwhile, as in production.

    PYTHONPATH=src python bench/ledger_micro.py [--n 20000] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from qiao.config import Settings, hash_key
from qiao.gateway.pipeline import RequestContext
from qiao.gateway.resolve import Resolver
from qiao.ledger.meter import Ledger
from qiao.types import Usage

KEY = "sk-qiao-bench-key-0123456789"


async def main(n: int, redis: str | None) -> None:
    d = Path(tempfile.mkdtemp(prefix="qiao-ledger-bench-"))
    db: dict[str, object] = {"url": f"sqlite:///{d}/q.db", "wal_dir": str(d / "wal")}
    if redis:
        db["redis_url"] = redis
        db["redis_prefix"] = f"qiao-bench-{time.time_ns()}:"
    settings = Settings.model_validate(
        {
            "database": db,
            "keys": [
                {"name": "b", "key": KEY, "tenant": "t", "rpm": 10**9, "tpm": 10**12, "budget": "1000000000"}
            ],
            "tenants": [{"name": "t", "rpm": 10**9, "tpm": 10**12, "budget": "1000000000", "reset": "monthly"}],
            "accounts": [{"provider": "zhipu", "credential": "a.b"}],
        }
    )
    ledger = Ledger(settings)
    await ledger.start()
    route = Resolver(settings).resolve("zhipu/glm-4-plus")
    assert route is not None
    target = route.candidates()[0]
    phases: dict[str, list[float]] = {"auth": [], "admit": [], "record": [], "settle": [], "total": []}
    pc = time.perf_counter
    cpu0 = time.process_time()
    for i in range(n):
        ctx = RequestContext(f"req-{i}", None)
        t0 = pc()
        p = ledger.principal(hash_key(KEY))
        ctx.principal = p
        t1 = pc()
        ctx.model = "zhipu/glm-4-plus"
        await ledger.admit(40, 100, route, ctx)
        t2 = pc()
        ctx.target = target
        ctx.usage = Usage(30, 80)
        ledger.record(ctx, "chat/completions")
        t3 = pc()
        await ledger.settle(ctx)
        t4 = pc()
        for k, v in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0), strict=True):
            phases[k].append(v * 1e6)
    await ledger.aclose()  # the writer's last batch is committed: its CPU is counted
    cpu = (time.process_time() - cpu0) / n * 1e6
    print(f"n={n} counters={'redis' if redis else 'memory'} (µs per request)")
    for k, v in phases.items():
        v.sort()
        print(f"  {k:7} p50 {statistics.median(v):7.1f}   p99 {v[int(len(v) * 0.99)]:7.1f}")
    print(f"  CPU of the whole process (writer thread and SQLite included): {cpu:.1f} µs per request")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--redis", default=None)
    a = ap.parse_args()
    asyncio.run(main(a.n, a.redis))
