"""qiao's benchmark: one command that measures, interleaved, the same scenarios against

  direct   the fake upstream itself (the baseline every "added" number is measured against)
  qiao     `python -m qiao serve`, one worker
  litellm  LiteLLM's proxy (`litellm[proxy]` in bench/.venv-litellm), one worker
  portkey  Portkey's open-source gateway (`@portkey-ai/gateway` in bench/node_modules), one process

Each gateway is pinned to core 1 (`taskset -c 1`); the fake upstream and the load generator share
core 0. Gateways not under measurement are SIGSTOPped so their timers cannot disturb the one that
is. Scenarios: closed loop at 32 and 128 connections, open loop at 20, 200 and 500 req/s, each
non-streaming and streaming (20 content chunks). A peer that is not installed or does not start is
reported as skipped. See bench/README.md for the method and the meaning of every number.

    python3 bench/run.py            # full run, ~10-15 min
    python3 bench/run.py --quick    # smoke run, well under a minute
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from procs import BENCH, TARGET, Server, build, core_busy_seconds, load, wait_http

ROOT = BENCH.parent
KEY = "sk-bench-0123456789abcdef"  # LiteLLM wants master keys to start with "sk-"
UPSTREAM_PORT = 9001
PORTS = {"qiao": 9101, "litellm": 9102, "portkey": 9103}
ALL_TARGETS = ["direct", "qiao", "litellm", "portkey"]
PEERS = ["litellm", "portkey"]

# Targets from the issue: one worker on one core.
GOALS = {
    "closed_rps_non_stream": 2000.0,
    "closed_rps_stream": 800.0,
    "x_litellm": 15.0,
    "added_p50_ms": 0.5,
    "added_p99_ms": 2.0,
    "added_ttfb_ms": 1.0,
    "cpu_ms_per_req": 0.5,
    "rss_mb": 120.0,
}


@dataclass
class Target:
    name: str
    url: str
    headers: list[str] = field(default_factory=list)
    server: Server | None = None
    skipped: str | None = None
    skipped_stream: str | None = None  # it runs, but its streaming is broken here


@dataclass(frozen=True)
class Scenario:
    kind: str  # "closed" | "open"
    level: float  # connections or req/s
    stream: bool

    @property
    def name(self) -> str:
        what = f"c={int(self.level)}" if self.kind == "closed" else f"{int(self.level)}/s"
        return f"{self.kind} {what} {'stream' if self.stream else 'non-stream'}"


def scenarios(quick: bool) -> list[Scenario]:
    if quick:
        return [
            Scenario("closed", 32, False),
            Scenario("closed", 32, True),
            Scenario("open", 200, False),
            Scenario("open", 200, True),
        ]
    out = []
    for stream in (False, True):
        out += [Scenario("closed", 32, stream), Scenario("closed", 128, stream)]
        out += [Scenario("open", r, stream) for r in (20, 200, 500)]
    return out


def sh(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def post_ok(t: Target, stream: bool) -> str | None:
    """One real request through the target; None if it answered 200 with the expected body."""
    body = {"model": "fake-gpt", "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    headers |= dict(h.split(": ", 1) for h in t.headers)
    req = urllib.request.Request(t.url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            data = r.read()
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        detail = exc.read()[:300] if hasattr(exc, "read") else b""
        return f"{exc} {detail!r}"
    if stream and b"[DONE]" not in data:
        return f"stream without [DONE]: {data[:200]!r}"
    if not stream and b'"choices"' not in data:
        return f"unexpected body: {data[:200]!r}"
    return None


def start_targets(args: argparse.Namespace, logs: Path, env: dict[str, str]) -> dict[str, Target]:
    up = f"http://127.0.0.1:{UPSTREAM_PORT}/v1"
    targets: dict[str, Target] = {"direct": Target("direct", f"{up}/chat/completions")}
    wanted = args.targets.split(",")
    if "qiao" in wanted:
        t = Target("qiao", f"http://127.0.0.1:{PORTS['qiao']}/v1/chat/completions")
        src = Path(args.qiao_src)
        if not ((src / "qiao" / "__main__.py").exists() or (src / "qiao" / "cli" / "main.py").exists()):
            t.skipped = f"no `python -m qiao` in {src}"
        else:
            t.server = Server(
                "qiao",
                [
                    args.qiao_python,
                    "-m",
                    "qiao",
                    "serve",
                    "--config",
                    str(BENCH / "configs" / "fake-upstream.yaml"),
                    "--port",
                    str(PORTS["qiao"]),
                ],
                cpu=1,
                env={**env, "PYTHONPATH": str(src), "QIAO_BENCH_DB": f"sqlite:///{logs / 'qiao-bench.db'}"},
                cwd=logs,
                log=logs / "qiao.log",
            )
        targets["qiao"] = t
    if "litellm" in wanted:
        t = Target("litellm", f"http://127.0.0.1:{PORTS['litellm']}/v1/chat/completions")
        exe = Path(args.litellm_venv) / "bin" / "litellm"
        if not exe.exists():
            t.skipped = f"{exe} not installed (see bench/README.md)"
        else:
            t.server = Server(
                "litellm",
                [
                    str(exe),
                    "--config",
                    str(BENCH / "configs" / "litellm.yaml"),
                    "--port",
                    str(PORTS["litellm"]),
                    "--num_workers",
                    "1",
                ],
                cpu=1,
                env={
                    **env,
                    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                    "LITELLM_TELEMETRY": "False",
                    "LITELLM_LOG": "ERROR",
                },
                cwd=logs,
                log=logs / "litellm.log",
            )
        targets["litellm"] = t
    if "portkey" in wanted:
        t = Target("portkey", f"http://127.0.0.1:{PORTS['portkey']}/v1/chat/completions")
        conf = json.loads((BENCH / "configs" / "portkey.json").read_text())
        t.headers = [f"{k}: {v.replace('${FAKE_API_BASE}', up)}" for k, v in conf["headers"].items()]
        entry = BENCH / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
        node = sh(["sh", "-c", "command -v node"])
        if not entry.exists() or not node:
            t.skipped = "@portkey-ai/gateway or node not installed (see bench/README.md)"
        else:
            t.server = Server(
                "portkey",
                [node, str(entry), f"--port={PORTS['portkey']}", *conf["args"]],
                cpu=1,
                env=env,
                cwd=logs,
                log=logs / "portkey.log",
            )
        targets["portkey"] = t
    for t in targets.values():
        if t.server is None:
            continue
        base = t.url.rsplit("/v1/", 1)[0] + "/"
        if not wait_http(base, t.server, timeout=90):
            t.skipped = f"did not start: {t.server.tail(8)}"
        else:
            err = post_ok(t, False)
            if err:
                t.skipped = f"smoke request failed (non-stream): {err}"
            else:
                err = post_ok(t, True)
                if err:
                    t.skipped_stream = f"streaming smoke request failed: {err}; {t.server.tail(12)}"
        if t.skipped:
            t.server.stop()
        else:
            t.server.pause()
    return {k: v for k, v in targets.items() if k in wanted or k == "direct"}


def versions(args: argparse.Namespace) -> dict[str, str]:
    src = Path(args.qiao_src)
    py = args.qiao_python
    mods = (
        "import importlib.metadata as m\nfor p in ('uvicorn','aiohttp','httptools','uvloop','orjson'):\n"
        "    try: print(p, m.version(p))\n    except Exception: print(p, '-')"
    )
    v = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "qiao_commit": sh(["git", "rev-parse", "--short", "HEAD"], cwd=src) or "?",
        "qiao_dirty": "yes" if sh(["git", "status", "--porcelain", "--", "."], cwd=src) else "no",
        "bench_commit": sh(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH) or "?",
        "python": sh([py, "-c", "import sys; print(sys.version.split()[0])"]),
        "litellm": sh(
            [
                str(Path(args.litellm_venv) / "bin" / "python"),
                "-c",
                "import importlib.metadata as m; print(m.version('litellm'))",
            ]
        )
        or "-",
        "node": sh(["node", "--version"]) or "-",
        "kernel": platform.release(),
        "cpu": next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            "?",
        ),
        "cores": str(os.cpu_count()),
        "rustc": sh(["rustc", "--version"]),
    }
    pk = BENCH / "node_modules" / "@portkey-ai" / "gateway" / "package.json"
    v["portkey"] = json.loads(pk.read_text())["version"] if pk.exists() else "-"
    for line in sh([py, "-c", mods]).splitlines():
        name, ver = line.split(" ", 1)
        v[name] = ver
    return v


def run_one(t: Target, sc: Scenario, args: argparse.Namespace) -> dict:
    srv = t.server
    if srv:
        srv.resume()
    r: dict
    common = {"key": KEY, "stream": sc.stream, "headers": t.headers, "label": t.name}
    cpu0 = srv.cpu_seconds() if srv else 0.0
    busy0, wall0 = core_busy_seconds(1), time.monotonic()
    if sc.kind == "closed":
        r = load(
            "closed",
            t.url,
            duration=args.duration,
            warmup=args.warmup,
            connections=int(sc.level),
            grace=args.grace,
            **common,
        )
    else:
        dur = args.duration * (2 if sc.level <= 20 and not args.quick else 1)
        r = load("open", t.url, duration=dur, warmup=args.warmup, rate=sc.level, grace=args.grace, **common)
    busy, wall = core_busy_seconds(1) - busy0, time.monotonic() - wall0
    if srv:
        cpu = srv.cpu_seconds() - cpu0
        # Core 1 busy time the gateway's own processes do not account for: kernel network work on
        # its behalf plus anything else that ran there (other users of the machine). A check, not a result.
        r["core1_other_pct"] = max(0.0, (busy - cpu) / wall * 100)
        served = r["completed_total"]  # warm-up included: the CPU window covers it too
        r["cpu_s"] = cpu
        r["cpu_ms_per_req"] = cpu * 1000 / served if served else None
        r["peak_rss_mb"] = srv.peak_rss_mb()
        srv.settle()
        srv.pause()
    else:
        r["core1_other_pct"] = busy / wall * 100
    r["target"], r["scenario"] = t.name, sc.name
    return r


def fmt(x: float | None, d: int = 2) -> str:
    return "-" if x is None else f"{x:.{d}f}"


def _median(vals: list) -> float | None:
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def merge_rounds(runs: list[dict]) -> dict:
    """One result per (target, scenario): the median of each number over the rounds, errors summed."""
    m = dict(runs[0])
    for k in ("throughput_rps", "cpu_ms_per_req", "core1_other_pct"):
        m[k] = _median([r.get(k) for r in runs])
    for k in ("latency_ms", "ttfb_ms"):
        m[k] = {q: _median([r[k][q] for r in runs]) for q in runs[0][k]}
    for k in ("ok", "errors", "incomplete", "requests"):
        m[k] = sum(r[k] for r in runs)
    m["peak_rss_mb"] = max((r.get("peak_rss_mb") or 0 for r in runs), default=None) or None
    m["rounds"] = len(runs)
    m["throughput_rps_all"] = [r["throughput_rps"] for r in runs]
    return m


def summarize(results: list[dict], targets: dict[str, Target], scs: list[Scenario]) -> dict:
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        groups.setdefault((r["target"], r["scenario"]), []).append(r)
    by = {k: merge_rounds(v) for k, v in groups.items()}
    live = [n for n, t in targets.items() if not t.skipped]
    summary: dict[str, dict] = {}
    for n in live:
        s: dict = {}
        for sc in scs:
            r = by.get((n, sc.name))
            d = by.get(("direct", sc.name))
            if not r:
                continue
            e = {
                "throughput_rps": r["throughput_rps"],
                "p50_ms": r["latency_ms"]["p50"],
                "p99_ms": r["latency_ms"]["p99"],
                "ttfb_p50_ms": r["ttfb_ms"]["p50"],
                "ttfb_p99_ms": r["ttfb_ms"]["p99"],
                "errors": r["errors"],
                "incomplete": r["incomplete"],
                "cpu_ms_per_req": r.get("cpu_ms_per_req"),
                "peak_rss_mb": r.get("peak_rss_mb"),
                "core1_other_pct": r.get("core1_other_pct"),
                "throughput_rps_all": r["throughput_rps_all"],
            }
            if sc.kind == "open":
                e["saturated"] = bool(r["incomplete"] or r["throughput_rps"] < 0.95 * sc.level)
            if d and sc.kind == "open" and r["ok"]:
                e["added_p50_ms"] = r["latency_ms"]["p50"] - d["latency_ms"]["p50"]
                e["added_p99_ms"] = r["latency_ms"]["p99"] - d["latency_ms"]["p99"]
                e["added_ttfb_p50_ms"] = r["ttfb_ms"]["p50"] - d["ttfb_ms"]["p50"]
                e["added_ttfb_p99_ms"] = r["ttfb_ms"]["p99"] - d["ttfb_ms"]["p99"]
            s[sc.name] = e
        rss = [r.get("peak_rss_mb") for r in results if r["target"] == n and r.get("peak_rss_mb")]
        s["peak_rss_mb"] = max(rss) if rss else None
        summary[n] = s
    return summary


def pick(s: dict, scenario: str, key: str) -> float | None:
    return s.get(scenario, {}).get(key)


def best_closed(s: dict, stream: bool) -> float | None:
    vals = [
        v["throughput_rps"]
        for k, v in s.items()
        if isinstance(v, dict)
        and k.startswith("closed")
        and k.endswith(" stream") == stream
        and k.split()[-1] in ("stream", "non-stream")
    ]
    return max(vals) if vals else None


def cpu_at(s: dict, stream: bool) -> float | None:
    """CPU per request at the open-loop 200 req/s load (not saturated: the honest per-request cost)."""
    return pick(s, f"open 200/s {'stream' if stream else 'non-stream'}", "cpu_ms_per_req")


def markdown(summary: dict, targets: dict[str, Target], scs: list[Scenario], meta: dict) -> str:
    L: list[str] = []
    live = list(summary)
    L.append(
        f"Run {meta['date']}; qiao {meta['qiao_commit']}{' (dirty)' if meta['qiao_dirty'] == 'yes' else ''},"
        f" litellm {meta['litellm']}, portkey {meta['portkey']}, python {meta['python']},"
        f" uvicorn {meta.get('uvicorn')}, aiohttp {meta.get('aiohttp')};"
        f" {meta['cpu']}, {meta['cores']} cores."
    )
    for n, t in targets.items():
        if t.skipped:
            L.append(f"\n**{n} skipped:** {t.skipped}")
        if t.skipped_stream:
            L.append(f"\n**{n} streaming skipped:** {t.skipped_stream.splitlines()[0][:300]}")
    L.append("\n### Summary (one worker pinned to one core)\n")
    L.append(
        "| target | closed req/s non-stream (best of c=32/128) | closed req/s stream | added p50 / p99 ms "
        "@200/s | added TTFB p50 / p99 ms @200/s stream | CPU ms/req @200/s (non-stream / stream) "
        "| peak RSS MB |"
    )
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for n in live:
        s = summary[n]
        ns, st = "open 200/s non-stream", "open 200/s stream"
        added = (
            "-"
            if n == "direct"
            else (f"{fmt(pick(s, ns, 'added_p50_ms'), 3)} / {fmt(pick(s, ns, 'added_p99_ms'), 3)}")
        )
        ttfb = (
            "-"
            if n == "direct"
            else (f"{fmt(pick(s, st, 'added_ttfb_p50_ms'), 3)} / {fmt(pick(s, st, 'added_ttfb_p99_ms'), 3)}")
        )
        sat = " (saturated)" if pick(s, ns, "saturated") else ""
        L.append(
            f"| {n} | {fmt(best_closed(s, False), 0)} | {fmt(best_closed(s, True), 0)} | {added}{sat} | "
            f"{ttfb} | {fmt(cpu_at(s, False), 3)} / {fmt(cpu_at(s, True), 3)} | {fmt(s['peak_rss_mb'], 0)} |"
        )
    L.append("\n### Every scenario\n")
    L.append(
        "| scenario | target | req/s | p50 ms | p99 ms | added p50 / p99 ms | TTFB p50 / p99 ms "
        "| added TTFB p50 / p99 | errors | CPU ms/req |"
    )
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sc in scs:
        for n in live:
            e = summary[n].get(sc.name)
            if not e:
                continue
            added = (
                f"{fmt(e.get('added_p50_ms'), 3)} / {fmt(e.get('added_p99_ms'), 3)}"
                if "added_p50_ms" in e and n != "direct"
                else ""
            )
            if e.get("saturated"):
                added += " sat."
            ttfb = f"{fmt(e['ttfb_p50_ms'], 3)} / {fmt(e['ttfb_p99_ms'], 3)}" if sc.stream else ""
            at = (
                f"{fmt(e.get('added_ttfb_p50_ms'), 3)} / {fmt(e.get('added_ttfb_p99_ms'), 3)}"
                if sc.stream and "added_ttfb_p50_ms" in e and n != "direct"
                else ""
            )
            errs = f"{e['errors']}" + (f" ({e['incomplete']} cut)" if e["incomplete"] else "")
            L.append(
                f"| {sc.name} | {n} | {fmt(e['throughput_rps'], 0)} | {fmt(e['p50_ms'], 3)} | "
                f"{fmt(e['p99_ms'], 3)} | {added} | {ttfb} | {at} | {errs} | {fmt(e['cpu_ms_per_req'], 3)} |"
            )
    if "qiao" in summary:
        q = summary["qiao"]
        peers = [p for p in PEERS if p in summary]
        if peers:
            L.append("\n### qiao relative to each peer\n")
            L.append("| measure | " + " | ".join(f"qiao / {p}" for p in peers) + " |")
            L.append("|---|" + "---:|" * len(peers))
            rows = [
                (sc.name + " req/s", lambda s, sc=sc: pick(s, sc.name, "throughput_rps"))
                for sc in scs
                if sc.kind == "closed"
            ]
            rows += [
                ("CPU ms/req @200/s non-stream (lower is better)", lambda s: cpu_at(s, False)),
                ("CPU ms/req @200/s stream (lower is better)", lambda s: cpu_at(s, True)),
                ("peak RSS (lower is better)", lambda s: s["peak_rss_mb"]),
            ]
            for label, f in rows:
                cells = []
                for p in peers:
                    a, b = f(q), f(summary[p])
                    cells.append(f"{a / b:.2g}×" if a and b else "-")
                L.append(f"| {label} | " + " | ".join(cells) + " |")
        L.append("\n### qiao against its targets\n")
        L.extend(f"- {line}" for line in goals(summary))
    return "\n".join(L)


def goals(summary: dict) -> list[str]:
    q = summary["qiao"]
    out = []

    def check(label: str, val: float | None, ok: bool | None, goal: str) -> None:
        state = "n/a" if val is None or ok is None else ("met" if ok else "NOT met")
        out.append(f"{label}: {fmt(val, 3)} (goal {goal}): **{state}**")

    ns, st = best_closed(q, False), best_closed(q, True)
    check(
        "closed-loop non-stream req/s",
        ns,
        None if ns is None else ns >= GOALS["closed_rps_non_stream"],
        "≥ 2000",
    )
    check("closed-loop stream req/s", st, None if st is None else st >= GOALS["closed_rps_stream"], "≥ 800")
    for p in PEERS:
        if p not in summary:
            out.append(f"vs {p}: n/a (not measured)")
            continue
        pn, ps = best_closed(summary[p], False), best_closed(summary[p], True)
        if ns and st and pn and ps:
            r1, r2 = ns / pn, st / ps
            if p == "litellm":
                check("× LiteLLM non-stream", r1, r1 >= GOALS["x_litellm"], "≥ 15×")
                check("× LiteLLM stream", r2, r2 >= GOALS["x_litellm"], "≥ 15×")
            else:
                check("× Portkey non-stream", r1, r1 > 1, "> 1× (ahead)")
                check("× Portkey stream", r2, r2 > 1, "> 1× (ahead)")
    a50 = pick(q, "open 200/s non-stream", "added_p50_ms")
    a99 = pick(q, "open 200/s non-stream", "added_p99_ms")
    t50 = pick(q, "open 200/s stream", "added_ttfb_p50_ms")
    check("added latency p50 @200/s", a50, None if a50 is None else a50 <= GOALS["added_p50_ms"], "≤ 0.5 ms")
    check("added latency p99 @200/s", a99, None if a99 is None else a99 <= GOALS["added_p99_ms"], "≤ 2 ms")
    check(
        "added first-byte time p50 @200/s stream",
        t50,
        None if t50 is None else t50 <= GOALS["added_ttfb_ms"],
        "≤ 1 ms",
    )
    for stream in (False, True):
        c = cpu_at(q, stream)
        check(
            f"CPU per request @200/s {'stream' if stream else 'non-stream'}",
            c,
            None if c is None else c <= GOALS["cpu_ms_per_req"],
            "≤ 0.5 ms",
        )
    check(
        "peak RSS MB",
        q["peak_rss_mb"],
        None if q["peak_rss_mb"] is None else q["peak_rss_mb"] <= GOALS["rss_mb"],
        "≤ 120 MB",
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 scenarios, 1.5 s each")
    ap.add_argument("--targets", default=",".join(ALL_TARGETS), help="comma-separated subset of %(default)s")
    ap.add_argument("--duration", type=float, help="seconds per measurement (default 10, quick 1.5)")
    ap.add_argument("--warmup", type=float, help="seconds of warm-up before each measurement (default 1)")
    ap.add_argument(
        "--rounds", type=int, help="interleaved rounds; medians are reported (default 3, quick 1)"
    )
    ap.add_argument("--grace", type=float, default=5.0, help="open loop: seconds a backlog may drain")
    ap.add_argument("--qiao-python", default=os.environ.get("QIAO_PYTHON", sys.executable))
    ap.add_argument(
        "--qiao-src",
        default=os.environ.get("QIAO_SRC", str(ROOT / "src")),
        help="directory put on PYTHONPATH for qiao (default: this checkout's src/)",
    )
    ap.add_argument("--litellm-venv", default=str(BENCH / ".venv-litellm"))
    ap.add_argument("--out", help="result JSON (default bench/results/run-<time>.json)")
    ap.add_argument("--report", metavar="RUN_JSON", help="only re-render the Markdown of an earlier run")
    args = ap.parse_args()
    if args.report:
        data = json.loads(Path(args.report).read_text())
        tg = {n: Target(n, "") for n in data["summary"]}
        for n, why in data.get("skipped", {}).items():
            tg[n] = Target(n, "", skipped=why)
        for n, why in data.get("skipped_stream", {}).items():
            tg[n].skipped_stream = why
        a = argparse.Namespace(**data["args"])
        groups: dict[str, list[dict]] = {}
        for r in data["runs"]:
            groups.setdefault(r["target"], []).append(r)
        scs = scenarios(a.quick)
        print(markdown(summarize(data["runs"], tg, scs), tg, scs, data["meta"]))
        return
    args.duration = args.duration or (1.5 if args.quick else 5.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.warmup = args.warmup or (0.5 if args.quick else 1.0)
    if args.quick:
        args.grace = min(args.grace, 2.0)
    if os.cpu_count() and os.cpu_count() < 2:
        sys.exit("needs at least 2 cores (gateway on core 1, upstream and load generator on core 0)")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results_dir = BENCH / "results"
    logs = results_dir / "logs" / stamp
    logs.mkdir(parents=True, exist_ok=True)
    build()
    env = {"FAKE_API_BASE": f"http://127.0.0.1:{UPSTREAM_PORT}/v1", "BENCH_KEY": KEY, "PYTHONUNBUFFERED": "1"}
    upstream = Server(
        "upstream",
        [str(TARGET / "fake_upstream"), "--port", str(UPSTREAM_PORT)],
        cpu=0,
        log=logs / "upstream.log",
    )
    targets: dict[str, Target] = {}
    try:
        if not wait_http(f"http://127.0.0.1:{UPSTREAM_PORT}/health", upstream, 10):
            sys.exit(f"fake upstream did not start (port {UPSTREAM_PORT} busy?): {upstream.tail()}")
        targets = start_targets(args, logs, env)
        for n, t in targets.items():
            print(f"{n:8s} {'SKIPPED: ' + t.skipped if t.skipped else 'ready at ' + t.url}", flush=True)
            if t.skipped_stream:
                print(f"{n:8s} streaming SKIPPED: {t.skipped_stream}", flush=True)
        meta = versions(args)
        scs = scenarios(args.quick)
        live = [t for t in targets.values() if not t.skipped]
        results = []
        t_start = time.monotonic()
        for rnd in range(1, args.rounds + 1):
            for sc in scs:
                for t in live:  # interleaved: every target runs a scenario before the next scenario starts
                    if sc.stream and t.skipped_stream:
                        continue
                    r = run_one(t, sc, args)
                    r["round"] = rnd
                    results.append(r)
                    print(
                        f"r{rnd} {sc.name:28s} {t.name:8s} {r['throughput_rps']:8.1f} req/s"
                        f"  p50 {r['latency_ms']['p50']:8.3f}"
                        f"  p99 {r['latency_ms']['p99']:9.3f} ms  ttfb50 {r['ttfb_ms']['p50']:8.3f}  "
                        f"err {r['errors']:<5d} cpu/req {fmt(r.get('cpu_ms_per_req'), 3)} ms  "
                        f"core1 other {r['core1_other_pct']:.0f}%",
                        flush=True,
                    )
        summary = summarize(results, targets, scs)
        meta["elapsed_s"] = f"{time.monotonic() - t_start:.0f}"
        md = markdown(summary, targets, scs, meta)
        out = (
            Path(args.out) if args.out else results_dir / f"run-{stamp}{'-quick' if args.quick else ''}.json"
        )
        out.write_text(
            json.dumps(
                {
                    "meta": meta,
                    "args": vars(args),
                    "skipped": {n: t.skipped for n, t in targets.items() if t.skipped},
                    "skipped_stream": {n: t.skipped_stream for n, t in targets.items() if t.skipped_stream},
                    "summary": summary,
                    "runs": results,
                },
                indent=2,
            )
        )
        out.with_suffix(".md").write_text(md + "\n")
        print("\n" + md)
        print(f"\nresults: {out} (+ .md), logs: {logs}")
    finally:
        for t in targets.values():
            if t.server:
                t.server.stop()
        upstream.stop()


if __name__ == "__main__":
    main()
