"""Instructions per request of a gateway, counted by valgrind's callgrind: a repeatable measure of how much
work a request costs, unlike CPU time on this shared VM (whose run-to-run spread at a low rate is 30-40 %).

The target runs under ``valgrind --tool=callgrind --instr-atstart=no``; after a warm-up, counting is switched
on with ``callgrind_control -i on``, N requests are sent one at a time over one kept-alive connection, then
counting is switched off and the total ``Ir`` (user-space instructions of every thread, the server's
background threads included) is divided by N. Kernel work (socket calls) is not counted: see lowrate.py's
syscalls/request for that.

    python3 bench/instr.py --target base=qiao@/tmp/base/src --target new=qiao@src [--stream] [--n 400]

SPEC is as in lowrate.py (``floor``, ``qiao@SRC[#CONFIG][+K=V...]``). Each target is measured
``--rounds`` times; instruction counts of one build repeat within about 1 %.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lowrate import KEY, TARGET_PORT, UPSTREAM_PORT, command
from procs import TARGET, Server, build, wait_http

BODY = json.dumps({"model": "fake-gpt", "messages": [{"role": "user", "content": "Hello, how are you?"}]})


def requests(port: int, n: int, stream: bool) -> None:
    body = json.loads(BODY)
    if stream:
        body["stream"] = True
    raw = json.dumps(body).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    for _ in range(n):
        conn.request("POST", "/v1/chat/completions", body=raw, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise SystemExit(f"HTTP {resp.status}: {data[:300]!r}")
    conn.close()


def control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, stdout=subprocess.DEVNULL)


def measure(name: str, spec: str, port: int, logs: Path, args: argparse.Namespace) -> float:
    cmd, env, url = command(name, spec, port, logs, args.python)
    out = logs / f"{name}.callgrind"
    vg = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    srv = Server(name, vg + cmd, cpu=1, env=env, cwd=logs, log=logs / f"{name}.vg.log")
    try:
        if not wait_http(url.replace("/chat/completions", "/models"), srv, timeout=300,
                         headers={"Authorization": f"Bearer {KEY}"}):  # fmt: skip
            raise SystemExit(f"{name} did not start:\n{srv.tail()}")
        requests(port, args.warmup, args.stream)
        time.sleep(0.5)
        control(srv.pid, "-i", "on")
        requests(port, args.n, args.stream)
        control(srv.pid, "-i", "off")
        control(srv.pid, "-d")
        time.sleep(0.5)
    finally:
        srv.stop()
    # One file per dump (and per thread with --separate-threads); its "totals:" line counts it.
    total = 0
    for f in logs.glob(f"{name}.callgrind*"):
        m = re.search(r"^totals: (\d+)", f.read_text(errors="replace"), re.M)
        total += int(m.group(1)) if m else 0
        if not args.keep:
            f.unlink()
    return total / args.n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", action="append", default=[], help="NAME=SPEC (see lowrate.py)")
    ap.add_argument("--n", type=int, default=400, help="requests counted")
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the callgrind files (for callgrind_annotate)")
    ap.add_argument(
        "--python", default=str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python")
    )
    args = ap.parse_args()
    build()
    logs = Path(tempfile.mkdtemp(prefix="instr-"))
    up = Server(
        "upstream", [str(TARGET / "fake_upstream"), "--port", str(UPSTREAM_PORT)], cpu=0, log=logs / "up.log"
    )
    try:
        assert wait_http(f"http://127.0.0.1:{UPSTREAM_PORT}/v1/models", up)
        results: dict[str, list[float]] = {}
        for rnd in range(args.rounds):
            for i, t in enumerate(args.target):
                name, spec = t.split("=", 1)
                ir = measure(name, spec, TARGET_PORT + i, logs, args)
                results.setdefault(name, []).append(ir)
                print(f"round {rnd + 1} {name:>12}: {ir / 1e3:,.1f} k instructions/request", flush=True)
        kind = "stream" if args.stream else "non-stream"
        print(f"\n{kind}: thousands of user-space instructions per request (min over rounds)")
        for name, irs in results.items():
            print(f"{name:>12} | {min(irs) / 1e3:10,.1f}")
    finally:
        up.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
