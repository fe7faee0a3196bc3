"""Stack-choice micro-benchmark: the same minimal ASGI proxy (stack/app.py) served by uvicorn
(httptools + uvloop) or granian, forwarding with aiohttp or httpx, one worker pinned to core 1,
the fake upstream and the load generator on core 0. Prints req/s and CPU per request.

    python3 bench/stack/stack.py [--duration 8] [--rounds 2] [--python /work/venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from procs import BENCH, TARGET, Server, build, load, wait_http  # noqa: E402

SERVERS = {
    "uvicorn": lambda py, port: [
        py,
        "-m",
        "uvicorn",
        "app:app",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
        "--lifespan",
        "on",
    ],
    "granian": lambda py, port: [
        str(Path(py).parent / "granian"),
        "--interface",
        "asgi",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--workers",
        "1",
        "--runtime-threads",
        "1",
        "--no-ws",
        "--log-level",
        "warning",
        "app:app",
    ],
}
CLIENTS = ["aiohttp", "httpx"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default="/work/venv/bin/python")
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--out", default=str(BENCH / "results" / "stack.json"))
    args = ap.parse_args()
    build()
    logs = BENCH / "results" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    up = Server(
        "upstream", [str(TARGET / "fake_upstream"), "--port", "9001"], cpu=0, log=logs / "stack-up.log"
    )
    combos = [(s, c) for s in SERVERS for c in CLIENTS]
    servers: dict[tuple[str, str], Server] = {}
    port = 9201
    try:
        wait_http("http://127.0.0.1:9001/health", up, 5)
        for s, c in combos:
            srv = Server(
                f"{s}+{c}",
                SERVERS[s](args.python, port),
                cpu=1,
                cwd=Path(__file__).parent,
                env={"STACK_CLIENT": c, "STACK_UPSTREAM": "http://127.0.0.1:9001/v1"},
                log=logs / f"stack-{s}-{c}.log",
            )
            if not wait_http(f"http://127.0.0.1:{port}/", srv, 20):
                raise SystemExit(f"{s}+{c} did not start:\n{srv.tail()}")
            srv.url = f"http://127.0.0.1:{port}/v1/chat/completions"  # type: ignore[attr-defined]
            srv.pause()
            servers[(s, c)] = srv
            port += 1
        results: dict[str, list[dict]] = {}
        for rnd in range(args.rounds):
            for stream in (False, True):
                for s, c in combos:
                    srv = servers[(s, c)]
                    srv.resume()
                    cpu0 = srv.cpu_seconds()
                    r = load(
                        "closed",
                        srv.url,
                        key="sk-bench",
                        stream=stream,  # type: ignore[attr-defined]
                        duration=args.duration,
                        warmup=args.warmup,
                        connections=args.concurrency,
                        label=f"{s}+{c}",
                    )
                    cpu = srv.cpu_seconds() - cpu0
                    reqs = r["ok"] * (args.duration + args.warmup) / args.duration
                    r["cpu_ms_per_req"] = cpu * 1000 / reqs if reqs else None
                    r["peak_rss_mb"] = srv.peak_rss_mb()
                    srv.settle()
                    srv.pause()
                    key = f"{s}+{c}" + (" stream" if stream else "")
                    results.setdefault(key, []).append(r)
                    print(
                        f"round {rnd + 1} {key:28s} {r['throughput_rps']:8.0f} req/s  "
                        f"p50 {r['latency_ms']['p50']:.2f} ms  errors {r['errors']}  "
                        f"cpu {r['cpu_ms_per_req'] or 0:.3f} ms/req",
                        flush=True,
                    )
        summary = {
            k: {
                "rps_median": statistics.median(x["throughput_rps"] for x in v),
                "rps_all": [x["throughput_rps"] for x in v],
                "cpu_ms_per_req": statistics.median(x["cpu_ms_per_req"] or 0 for x in v),
                "p50_ms": statistics.median(x["latency_ms"]["p50"] for x in v),
                "errors": sum(x["errors"] for x in v),
                "peak_rss_mb": max(x["peak_rss_mb"] for x in v),
            }
            for k, v in results.items()
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(
            json.dumps(
                {
                    "time": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "concurrency": args.concurrency,
                    "duration_s": args.duration,
                    "summary": summary,
                    "runs": results,
                },
                indent=2,
            )
        )
        print(
            f"\n| stack (c={args.concurrency}, 1 worker, 1 core) | non-stream req/s | CPU ms/req "
            "| stream req/s | CPU ms/req |"
        )
        print("|---|---:|---:|---:|---:|")
        for s, c in combos:
            a, b = summary[f"{s}+{c}"], summary[f"{s}+{c} stream"]
            print(
                f"| {s} + {c} | {a['rps_median']:.0f} | {a['cpu_ms_per_req']:.3f} "
                f"| {b['rps_median']:.0f} | {b['cpu_ms_per_req']:.3f} |"
            )
    finally:
        for srv in servers.values():
            srv.stop()
        up.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
