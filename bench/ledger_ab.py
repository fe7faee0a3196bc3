"""A/B: what keys, limits, budgets and the usage ledger add to a request, end to end.

Two qiao servers on the same fake upstream, each pinned to core 1 (the other one SIGSTOPped while one is
measured), interleaved rounds, open loop at a fixed rate (latency from the scheduled send time):

- ``off``: no ``database`` section: a stateless proxy with a static key;
- ``on``: SQLite ledger, a key *and* tenant with RPM, TPM and a CNY budget (every request is checked,
  reserved, recorded in the WAL, group-committed and settled); ``--redis URL`` puts the counters in Redis.

    python3 bench/build.sh   # once: the Rust load generators and fake upstream
    PYTHONPATH=src python bench/ledger_ab.py [--rate 200] [--duration 6] [--rounds 3] [--redis URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from procs import ab_main  # noqa: E402

KEY = "sk-bench-0123456789abcdef"
UP = 9011


def _config(ledger: bool, tmp: Path, redis: str | None) -> dict[str, object]:
    cfg: dict[str, object] = {
        "server": {"host": "127.0.0.1", "workers": 1, "log_level": "warning"},
        "keys": [{"name": "bench", "key": KEY}],
        "accounts": [
            {
                "provider": "openai_compat",
                "name": "fake",
                "base_url": f"http://127.0.0.1:{UP}/v1",
                "credential": "x",
                "models": ["fake-gpt"],
            }
        ],
        "aliases": {"fake-gpt": "fake/fake-gpt"},
    }
    if ledger:
        big = {"rpm": 10**9, "tpm": 10**12, "budget": "100000000"}
        cfg["keys"] = [{"name": "bench", "key": KEY, "tenant": "bench", **big}]
        cfg["tenants"] = [{"name": "bench", "reset": "monthly", **big}]
        db: dict[str, object] = {"url": f"sqlite:///{tmp}/ledger.db", "wal_dir": str(tmp / "wal")}
        if redis:
            db |= {"redis_url": redis, "redis_prefix": f"qiao-ab-{time.time_ns()}:"}
        cfg["database"] = db
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--duration", type=float, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--redis", default=None)
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="qiao-ab-"))
    ports = {"off": 9012, "on": 9013}
    configs = {name: _config(name == "on", tmp, a.redis) for name in ports}
    ab_main("off", "on", configs, ports, UP, KEY, a.rate, a.duration, a.rounds, a.python)


if __name__ == "__main__":
    main()
