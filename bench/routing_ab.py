"""A/B: what routing adds to a request — a three-target route with fallbacks, retries and breakers
configured, against a single-target route, through the same gateway code on the same fake upstream.

Two measurements:

- **end to end** (``ab_rounds``): two ``qiao serve`` processes pinned to core 1, one measured at a time,
  interleaved rounds, open loop at a fixed rate; ``single`` routes ``fake-gpt`` to one target,
  ``routed`` to three accounts (the first answers; the others are its fallbacks) with ``--strategy``.
  The issue's budget: < 0.2 ms added at p50.
- **in process** (``--micro``): the router's own work per request (order the targets, check breakers,
  run the attempt, record the outcome) timed over many iterations with a no-op attempt — immune to the
  scheduling noise of a shared machine, and the number that explains the end-to-end one.

    bash bench/build.sh   # once
    PYTHONPATH=src python bench/routing_ab.py [--rate 200] [--duration 6] [--rounds 3] [--strategy priority]
    PYTHONPATH=src python bench/routing_ab.py --micro
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from procs import ab_main  # noqa: E402

KEY = "sk-bench-0123456789abcdef"
UP = 9021


def _config(routed: bool, strategy: str) -> dict[str, Any]:
    names = ["fake", "fake2", "fake3"] if routed else ["fake"]
    accounts = [
        {
            "provider": "openai_compat",
            "name": n,
            "base_url": f"http://127.0.0.1:{UP}/v1",
            "credential": "x",
            "models": ["fake-gpt"],
        }
        for n in names
    ]
    route: dict[str, Any] = {"targets": [{"target": f"{n}/fake-gpt"} for n in names]}
    if routed:
        route |= {"strategy": strategy, "max_attempts": 3, "fallback_on_content_filter": True}
    return {
        "server": {"host": "127.0.0.1", "workers": 1, "log_level": "warning"},
        "keys": [{"name": "bench", "key": KEY}],
        "accounts": accounts,
        "routes": {"fake-gpt": route},
    }


def micro(strategy: str, n: int = 200_000) -> dict[str, float]:
    """Microseconds of router work per request: run() with a no-op attempt, 1 target vs 3."""
    from qiao.config import Settings
    from qiao.gateway.pipeline import Gateway, RequestContext
    from qiao.gateway.router import Need
    from qiao.types import ChatRequest

    req = ChatRequest.from_raw({"model": "fake-gpt", "messages": [{"role": "user", "content": "hi"}]})
    need = Need(req)
    out: dict[str, float] = {}

    async def attempt(target: Any, params: Any, deadline: float) -> None:
        return None

    async def measure(routed: bool) -> float:
        cfg = _config(routed, strategy)
        cfg.pop("server")
        gw = Gateway(Settings.model_validate(cfg))
        route = gw.resolver.resolve("fake-gpt")
        assert route is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 600
        run = gw.router.run
        for _ in range(2000):
            await run(route, need, RequestContext("w", None), deadline, attempt)
        t = time.perf_counter()
        for _ in range(n):
            await run(route, need, RequestContext("r", None), deadline, attempt)
        return (time.perf_counter() - t) / n * 1e6

    out["single_us"] = asyncio.run(measure(False))
    out["routed_us"] = asyncio.run(measure(True))
    out["added_us"] = out["routed_us"] - out["single_us"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--duration", type=float, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--strategy", default="priority")
    ap.add_argument("--micro", action="store_true", help="only the in-process measurement")
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()
    m = micro(a.strategy)
    print(f"in process ({a.strategy}): {json.dumps({k: round(v, 2) for k, v in m.items()})}")
    if a.micro:
        return
    ports = {"single": 9022, "routed": 9023}
    configs = {name: _config(name == "routed", a.strategy) for name in ports}
    ab_main("single", "routed", configs, ports, UP, KEY, a.rate, a.duration, a.rounds, a.python)


if __name__ == "__main__":
    main()
