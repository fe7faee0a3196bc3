"""Process control for the benchmark scripts: start servers pinned to a core, wait for them, and
read their CPU time and peak memory from /proc. Standard library only (any python3 runs it)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TARGET = BENCH / "target"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Server:
    """A server process in its own session, pinned with ``taskset -c CPU``."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        cpu: int | None,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        log: Path | None = None,
    ) -> None:
        self.name = name
        full = (["taskset", "-c", str(cpu)] if cpu is not None else []) + cmd
        self.log_path = log
        out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            full,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self.stopped = False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def pids(self) -> list[int]:
        """Every live process of this server's session (uvicorn/node children included)."""
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) == self.pid:
                out.append(int(d))
        return out

    def cpu_seconds(self) -> float:
        """utime + stime of the session's processes (all their threads), in seconds."""
        ticks = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{pid}/stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                ticks += int(fields[11]) + int(fields[12])
        return ticks / CLK_TCK

    def _status_kb(self, key: str) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
        return total

    def peak_rss_mb(self) -> float:
        """VmHWM (peak resident set) summed over the session's processes, in MB."""
        return self._status_kb("VmHWM") / 1024

    def rss_mb(self) -> float:
        return self._status_kb("VmRSS") / 1024

    def pause(self) -> None:
        """SIGSTOP the whole session so an idle peer's timers cannot disturb the one being measured."""
        if not self.stopped and self.alive():
            os.killpg(self.pid, signal.SIGSTOP)
            self.stopped = True

    def resume(self) -> None:
        if self.stopped and self.alive():
            os.killpg(self.pid, signal.SIGCONT)
            self.stopped = False

    def settle(self, busy_pct: float = 10.0, window: float = 0.3, limit: float = 10.0) -> None:
        """Wait until the server is (nearly) idle, e.g. after a saturating run left a backlog."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            a = self.cpu_seconds()
            time.sleep(window)
            if (self.cpu_seconds() - a) <= window * busy_pct / 100:
                return

    def stop(self) -> None:
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGCONT)
            os.killpg(self.pid, signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait(5)

    def tail(self, n: int = 20) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


def core_busy_seconds(cpu: int) -> float:
    """Busy (non-idle, non-iowait) time of one core since boot, from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            v = [int(x) for x in line.split()[1:]]
            return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK
    return 0.0


def wait_http(url: str, server: Server, timeout: float = 60.0, headers: dict[str, str] | None = None) -> bool:
    """Poll until ``url`` answers with any HTTP status; False if the server died or time ran out."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not server.alive():
            return False
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=2)
            return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    return False


def build() -> None:
    subprocess.run([str(BENCH / "build.sh")], check=True, stdout=subprocess.DEVNULL)


def load(
    kind: str,
    url: str,
    *,
    key: str,
    stream: bool,
    duration: float,
    warmup: float,
    connections: int = 0,
    rate: float = 0.0,
    headers: list[str] | None = None,
    label: str = "",
    cpu: int | None = 0,
    grace: float = 5.0,
) -> dict:
    """Run one Rust load generator (``open`` or ``closed``) and return its JSON result."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = (["taskset", "-c", str(cpu)] if cpu is not None else []) + [
        str(TARGET / kind),
        "--url",
        url,
        "--key",
        key,
        "--duration",
        str(duration),
        "--warmup",
        str(warmup),
        "--grace",
        str(grace),
        "--label",
        label,
        "--out",
        out,
    ]
    if stream:
        cmd.append("--stream")
    if connections:
        cmd += ["--connections", str(connections)]
    if rate:
        cmd += ["--rate", str(rate)]
    for h in headers or []:
        cmd += ["--header", h]
    try:
        subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
        return json.loads(Path(out).read_text())
    finally:
        with contextlib.suppress(OSError):
            os.unlink(out)


def ab_servers(
    configs: dict[str, dict[str, object]], ports: dict[str, int], tmp: Path, python: str
) -> dict[str, Server]:
    """Start one ``qiao serve`` per config, each pinned to core 1 (the A/B scripts' shared set-up)."""
    import yaml

    servers: dict[str, Server] = {}
    src = str(BENCH.parent / "src")
    for name, cfg in configs.items():
        p = tmp / f"{name}.yaml"
        p.write_text(yaml.safe_dump(cfg))
        servers[name] = Server(
            name,
            [python, "-m", "qiao", "serve", "--config", str(p), "--port", str(ports[name])],
            cpu=1,
            env={"PYTHONPATH": src},
            log=tmp / f"{name}.log",
        )
        assert wait_http(f"http://127.0.0.1:{ports[name]}/healthz", servers[name], 60), (
            tmp / f"{name}.log"
        ).read_text()
    return servers


def ab_rounds(
    servers: dict[str, Server],
    ports: dict[str, int],
    key: str,
    rate: float,
    duration: float,
    rounds: int,
) -> dict[str, dict[str, float]]:
    """Interleaved open-loop rounds, one server at a time on core 1 (the others SIGSTOPped), streaming
    and not; medians over rounds of p50/p99 latency (time to first byte for streams) and CPU per request."""
    import statistics

    res: dict[tuple[str, bool], list[dict]] = {}
    for _ in range(rounds):
        for stream in (False, True):
            for name, srv in servers.items():
                for other in servers.values():
                    other.pause() if other is not srv else other.resume()
                cpu0 = srv.cpu_seconds()
                r = load(
                    "open",
                    f"http://127.0.0.1:{ports[name]}/v1/chat/completions",
                    key=key,
                    stream=stream,
                    duration=duration,
                    warmup=1.0,
                    rate=rate,
                    label=name,
                )
                r["cpu_ms_per_req"] = (srv.cpu_seconds() - cpu0) * 1000 / max(r["completed_total"], 1)
                res.setdefault((name, stream), []).append(r)
    out = {}
    for (name, stream), rs in res.items():
        k = "ttfb_ms" if stream else "latency_ms"
        out[f"{name} {'stream' if stream else 'non-stream'}"] = {
            "p50_ms": statistics.median(r[k]["p50"] for r in rs),
            "p99_ms": statistics.median(r[k]["p99"] for r in rs),
            "cpu_ms_per_req": statistics.median(r["cpu_ms_per_req"] for r in rs),
            "errors": sum(r["errors"] for r in rs),
        }
    return out


def ab_main(
    base: str,
    test: str,
    configs: dict[str, dict[str, object]],
    ports: dict[str, int],
    up_port: int,
    key: str,
    rate: float,
    duration: float,
    rounds: int,
    python: str,
) -> dict[str, dict[str, float]]:
    """The whole A/B of two qiao configs on one fake upstream: start, measure (:func:`ab_rounds`), print
    the medians and what ``test`` adds over ``base``, stop."""
    import json
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=f"qiao-ab-{test}-"))
    up = Server("up", [str(TARGET / "fake_upstream"), "--port", str(up_port)], cpu=0, log=tmp / "up.log")
    servers: dict[str, Server] = {}
    try:
        assert wait_http(f"http://127.0.0.1:{up_port}/health", up, 10)
        servers = ab_servers(configs, ports, tmp, python)
        out = ab_rounds(servers, ports, key, rate, duration, rounds)
        print(json.dumps(out, indent=2))
        for kind in ("non-stream", "stream"):
            t, b = out[f"{test} {kind}"], out[f"{base} {kind}"]
            print(
                f"{kind}: {test} adds p50 {t['p50_ms'] - b['p50_ms']:+.3f} ms, "
                f"p99 {t['p99_ms'] - b['p99_ms']:+.3f} ms, CPU {t['cpu_ms_per_req'] - b['cpu_ms_per_req']:+.3f} ms/req"
            )
        return out
    finally:
        for srv in [*servers.values(), up]:
            srv.resume()
            srv.stop()
