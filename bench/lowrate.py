"""Low-rate cost of a gateway, A/B interleaved: CPU, syscalls and context switches per request at a fixed
open-loop rate (200 req/s by default), plus the latency the load generator saw.

Each target runs pinned to core 1 (the fake upstream and the load generator on core 0, as in run.py);
targets not being measured are SIGSTOPped. Per measurement:

  cpu ms/req     sum_exec_runtime of every thread of the target (/proc/PID/task/*/schedstat, ns) over the
                 window, divided by the responses completed (warm-up included, as it is in the window)
  sys/req        raw_syscalls:sys_enter of the target's threads (perf stat -p), per response
  cs/req         context switches of the target's threads (perf stat -p), per response
  p50 / p99      the open-loop generator's latency (from the scheduled send), ms

Targets (``--target NAME=SPEC``, repeatable; SPEC is one of):

  floor                bench/floor_proxy.py: a byte relay, one kept-alive upstream connection per client
  floor-parse          the same, also running httptools over each request
  qiao@SRC[#CONFIG][+K=V...][!PYTHON]
                       ``python -m qiao serve`` with PYTHONPATH=SRC, the config CONFIG (default:
                       configs/fake-upstream.yaml), extra environment K=V and, after ``!``, another
                       interpreter than --python (e.g. a venv of a PGO/LTO-built CPython)

    python3 bench/lowrate.py --target floor=floor --target base=qiao@/tmp/base/src --target new=qiao@src \
        --rounds 3 --duration 6 [--stream]

CPU ms/request and syscalls/request are the robust numbers on a shared machine; latency is noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from procs import BENCH, TARGET, Server, build, load, wait_http

ROOT = BENCH.parent
KEY = "sk-bench-0123456789abcdef"
# BENCH_PORT_OFFSET shifts every port, so two checkouts can measure on one machine without colliding.
PORT_OFFSET = int(os.environ.get("BENCH_PORT_OFFSET", "0"))
UPSTREAM_PORT = 9001 + PORT_OFFSET
TARGET_PORT = 9110 + PORT_OFFSET


def thread_ns(pid: int) -> int:
    total = 0
    with contextlib.suppress(OSError):
        for t in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                total += int(Path(f"/proc/{pid}/task/{t}/schedstat").read_text().split()[0])
    return total


def command(name: str, spec: str, port: int, logs: Path, py: str) -> tuple[list[str], dict[str, str], str]:
    """The command line, extra environment and chat URL of one target."""
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    if spec in ("floor", "floor-parse"):
        cmd = [
            py,
            str(BENCH / "floor_proxy.py"),
            "--port",
            str(port),
            "--upstream",
            f"127.0.0.1:{UPSTREAM_PORT}",
        ]
        if spec == "floor-parse":
            cmd.append("--parse")
        return cmd, {}, url
    assert spec.startswith("qiao@"), spec
    spec, _, other_py = spec.partition("!")  # qiao@SRC...!PYTHON: this target under another interpreter
    py = other_py or py
    src, *extra = spec[5:].split("+")
    src, _, config = src.partition("#")
    env = {
        "PYTHONPATH": str(Path(src).resolve()),
        "FAKE_API_BASE": f"http://127.0.0.1:{UPSTREAM_PORT}/v1",
        "BENCH_KEY": KEY,
        "QIAO_BENCH_DB": f"sqlite:///{logs / (name + '.db')}",
    }
    env.update(dict(e.split("=", 1) for e in extra))
    cmd = [py, "-m", "qiao", "serve", "--config", config or str(BENCH / "configs" / "fake-upstream.yaml")]
    cmd += ["--port", str(port)]
    return cmd, env, url


def start(name: str, spec: str, port: int, logs: Path, py: str) -> tuple[Server, str]:
    cmd, env, url = command(name, spec, port, logs, py)
    return Server(name, cmd, cpu=1, env=env, cwd=logs, log=logs / f"{name}.log"), url


def measure(srv: Server, url: str, args: argparse.Namespace) -> dict:
    pid = srv.pid
    # taskset execs the server in place, so the session leader's pid is the server's pid.
    with tempfile.NamedTemporaryFile(suffix=".perf", delete=False) as f:
        perf_out = f.name
    if args.pyspy:  # which Python functions (py-spy, folded stacks; summarise with profile_top.py)
        spy = str(BENCH / ".venv-tools" / "bin" / "py-spy")
        cmd = [spy, "record", "--format", "raw", "--nonblocking", "--gil", "--rate", "1000", "-o",
               f"{args.pyspy}.{srv.name}", "--pid", str(pid)]  # fmt: skip
    elif args.record:  # where the CPU goes (perf record -g; read with perf report)
        cmd = ["perf", "record", "-g", "-F", "2000", "-o", f"{args.record}.{srv.name}", "-p", str(pid)]
    elif args.strace:  # which syscalls (slows the target: read counts, not times)
        cmd = ["strace", "-c", "-f", "-o", perf_out, "-p", str(pid)]
    else:
        cmd = ["perf", "stat", "-x,", "-o", perf_out, "-p", str(pid), "-e",
               "context-switches,cpu-migrations,raw_syscalls:sys_enter"]  # fmt: skip
    perf = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    ns0, tick0 = thread_ns(pid), srv.cpu_seconds()
    r = load(
        "open", url, key=KEY, stream=args.stream, duration=args.duration, warmup=args.warmup,
        rate=args.rate, grace=2.0,
    )  # fmt: skip
    ns, ticks = thread_ns(pid) - ns0, srv.cpu_seconds() - tick0
    perf.send_signal(signal.SIGINT)
    perf.wait(10)
    if args.strace:
        print(Path(perf_out).read_text())
    if args.record or args.pyspy:
        Path(perf_out).write_text("")
    counts: dict[str, float] = {}
    for line in Path(perf_out).read_text().splitlines():
        parts = line.split(",")
        if len(parts) > 3 and parts[0].strip().replace(".", "").isdigit():
            counts[parts[2]] = float(parts[0])
    os.unlink(perf_out)
    n = r["completed_total"] or 1
    return {
        "ok": r["ok"],
        "errors": r["errors"],
        "cpu_ms": ns / 1e6 / n,
        "ticks_ms": ticks * 1e3 / n,  # utime + stime, as run.py counts it (10 ms ticks)
        "sys": counts.get("raw_syscalls:sys_enter", 0) / n,
        "cs": counts.get("context-switches", 0) / n,
        "p50": r["latency_ms"]["p50"],
        "p99": r["latency_ms"]["p99"],
        "ttfb50": r["ttfb_ms"]["p50"],
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", action="append", default=[], help="NAME=SPEC (see the docstring)")
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--duration", type=float, default=6)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--strace", action="store_true", help="strace -c the targets instead of perf stat")
    ap.add_argument("--pyspy", help="py-spy record each target into PYSPY.NAME instead of perf stat")
    ap.add_argument("--record", help="perf record -g each target into RECORD.NAME instead of perf stat")
    ap.add_argument("--direct", action="store_true", help="also measure the fake upstream itself")
    ap.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    ap.add_argument("--json", help="write every measurement here")
    args = ap.parse_args()
    build()
    logs = Path(tempfile.mkdtemp(prefix="lowrate-"))
    up = Server(
        "upstream", [str(TARGET / "fake_upstream"), "--port", str(UPSTREAM_PORT)], cpu=0, log=logs / "up.log"
    )
    servers: dict[str, tuple[Server, str]] = {}
    try:
        assert wait_http(f"http://127.0.0.1:{UPSTREAM_PORT}/v1/models", up)
        for i, t in enumerate(args.target):
            name, spec = t.split("=", 1)
            srv, url = start(name, spec, TARGET_PORT + i, logs, args.python)
            if not wait_http(
                url.replace("/chat/completions", "/models"), srv, headers={"Authorization": f"Bearer {KEY}"}
            ):
                print(f"{name} did not start:\n{srv.tail()}", file=sys.stderr)
                return 1
            servers[name] = (srv, url)
        for srv, _ in servers.values():
            srv.pause()
        rows: dict[str, list[dict]] = {n: [] for n in servers}
        direct: list[dict] = []
        for rnd in range(args.rounds):
            if args.direct:
                up_url = f"http://127.0.0.1:{UPSTREAM_PORT}/v1/chat/completions"
                r = load("open", up_url, key=KEY, stream=args.stream, duration=args.duration,
                         warmup=args.warmup, rate=args.rate, grace=2.0)  # fmt: skip
                direct.append({"p50": r["latency_ms"]["p50"], "p99": r["latency_ms"]["p99"]})
            for name, (srv, url) in servers.items():
                srv.resume()
                time.sleep(0.2)
                m = measure(srv, url, args)
                srv.settle()
                srv.pause()
                rows[name].append(m)
                shown = " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in m.items())
                print(f"round {rnd + 1} {name:>12}: {shown}", flush=True)
        kind = "stream" if args.stream else "non-stream"
        print(f"\nmedians over {args.rounds} rounds, {kind}, {args.rate:g} req/s")
        if direct:
            d50 = statistics.median(d["p50"] for d in direct)
            d99 = statistics.median(d["p99"] for d in direct)
            print(f"{'direct':>12}: p50 {d50:.3f} p99 {d99:.3f}")
        print(f"{'target':>12} | cpu ms/req | sys/req | cs/req | p50 ms | p99 ms")
        for name, ms in rows.items():
            med = {k: statistics.median(m[k] for m in ms) for k in ("cpu_ms", "sys", "cs", "p50", "p99")}
            cells = f"{med['cpu_ms']:10.3f} | {med['sys']:7.1f} | {med['cs']:6.2f}"
            print(f"{name:>12} | {cells} | {med['p50']:6.3f} | {med['p99']:6.3f}")
        if args.json:
            Path(args.json).write_text(json.dumps({"rows": rows, "direct": direct}, indent=1))
    finally:
        for srv, _ in servers.values():
            srv.stop()
        up.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
