"""How much distinct code a request touches: the Python (and C builtin) functions a gateway calls at least
once per request, and its calls per request, counted with cProfile. Two server runs per target, of N/5 and
N sequential requests; the difference of their call counts is the requests' own (start-up and shutdown
code cancels out).

Why: at a low request rate each request wakes a core whose caches were emptied in the meantime, and the
cost of a request follows how much distinct code and data it touches more than how many instructions it
runs (bench/RESULTS.md, session 5). ``instr.py`` counts instructions; this counts breadth.

    python3 bench/breadth.py --target base=qiao@/tmp/base/src --target new=qiao@src [--stream] [--n 2000]
    python3 bench/breadth.py --target new=qiao@src --list     # also list the functions, by file

SPEC is as in lowrate.py (``qiao@SRC[#CONFIG][+K=V...][!PYTHON]``). Counts are exact for a build (cProfile
counts every call; a coroutine resumption counts as a call of its function).
"""

from __future__ import annotations

import argparse
import collections
import pstats
import sys
import tempfile
import time
from pathlib import Path

from instr import requests
from lowrate import KEY, TARGET_PORT, UPSTREAM_PORT, command
from procs import TARGET, Server, build, wait_http


def profile(name: str, spec: str, port: int, logs: Path, args: argparse.Namespace, n: int) -> dict:
    """cProfile's stats of one server run that served ``n`` requests."""
    cmd, env, url = command(name, spec, port, logs, args.python)
    prof = logs / f"{name}-{n}.prof"
    # python -m cProfile -o FILE -m qiao ...: the profile is written when the server exits on SIGINT
    cmd = [cmd[0], "-m", "cProfile", "-o", str(prof), *cmd[1:]]
    srv = Server(name, cmd, cpu=1, env=env, cwd=logs, log=logs / f"{name}.log")
    try:
        if not wait_http(url.replace("/chat/completions", "/models"), srv, timeout=120,
                         headers={"Authorization": f"Bearer {KEY}"}):  # fmt: skip
            raise SystemExit(f"{name} did not start:\n{srv.tail()}")
        requests(port, n, args.stream)
        time.sleep(0.3)
    finally:
        srv.stop()  # SIGINT first: cProfile writes its file
    for _ in range(50):
        if prof.exists():
            break
        time.sleep(0.1)
    return pstats.Stats(str(prof)).stats  # type: ignore[attr-defined,no-any-return]


def measure(name: str, spec: str, port: int, logs: Path, args: argparse.Namespace) -> tuple[int, float, list]:
    few = max(args.n // 5, 1)
    small = profile(name, spec, port, logs, args, few)
    big = profile(name, spec, port, logs, args, args.n)
    rows = []
    calls = 0.0
    for key, (_cc, nc, tt, _ct, _callers) in big.items():
        per = (nc - (small[key][1] if key in small else 0)) / (args.n - few)
        if per >= 0.95:  # called on (almost) every request
            rows.append((*key, per, tt))
            calls += per
    return len(rows), calls, rows


def short(file: str) -> str:
    for marker in ("site-packages/", "/src/", "lib/python3.11/", "lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", action="append", default=[], help="NAME=SPEC (see lowrate.py)")
    ap.add_argument("--n", type=int, default=2000, help="sequential requests on one kept-alive connection")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--list", action="store_true", help="list the functions touched per request")
    ap.add_argument(
        "--python", default=str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python")
    )
    args = ap.parse_args()
    build()
    logs = Path(tempfile.mkdtemp(prefix="breadth-"))
    up = Server(
        "upstream", [str(TARGET / "fake_upstream"), "--port", str(UPSTREAM_PORT)], cpu=0, log=logs / "up.log"
    )
    try:
        assert wait_http(f"http://127.0.0.1:{UPSTREAM_PORT}/v1/models", up)
        out = []
        for i, t in enumerate(args.target):
            name, spec = t.split("=", 1)
            n, calls, rows = measure(name, spec, TARGET_PORT + i, logs, args)
            out.append((name, n, calls, rows))
        kind = "stream" if args.stream else "non-stream"
        print(f"\n{kind}: functions called on every request / calls per request ({args.n} requests)")
        for name, n, calls, rows in out:
            py = sum(1 for r in rows if r[0] != "~")
            print(f"{name:>12} | {n:4d} functions ({py} Python, {n - py} C builtins) | {calls:7.1f} calls")
            if args.list:
                by_file: dict[str, list] = collections.defaultdict(list)
                for file, line, func, per, _tt in rows:
                    by_file[short(file)].append((per, line, func))
                for file, fs in sorted(by_file.items(), key=lambda kv: -len(kv[1])):
                    print(f"    {file} ({len(fs)})")
                    for per, line, func in sorted(fs, key=lambda f: -f[0]):
                        print(f"        {per:6.2f}  {func}:{line}")
    finally:
        up.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
