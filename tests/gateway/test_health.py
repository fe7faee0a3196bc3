"""Circuit breakers and latency tracking of ``gateway/health.py``, on a fake clock."""

from __future__ import annotations

import json
import logging

import pytest

from qiao.config import BreakerConfig, RoutingConfig
from qiao.gateway.health import HealthBoard

T = "acct/model"


class Clock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, s: float) -> None:
        self.now += s


def make(
    clock: Clock,
    *,
    failures: int = 3,
    error_rate: float = 0.5,
    min_requests: int = 10,
    window_s: float = 60.0,
    open_s: float = 30.0,
    probes: int = 2,
    alpha: float = 0.5,
) -> HealthBoard:
    cfg = RoutingConfig(
        breaker=BreakerConfig(
            failures=failures,
            error_rate=error_rate,
            min_requests=min_requests,
            window_s=window_s,
            open_s=open_s,
            half_open_probes=probes,
        ),
        latency_alpha=alpha,
    )
    wall = Clock(1_700_000_000.0)
    clock_start = clock.now

    def wall_now() -> float:  # unix time moves with the fake monotonic clock
        return wall.now + (clock.now - clock_start)

    return HealthBoard(cfg, clock=clock, wall=wall_now)


def open_breaker(hb: HealthBoard, label: str = T, n: int = 3) -> None:
    for _ in range(n):
        hb.failure(label, "503")
    assert hb.state(label) == "open"


def test_unknown_label_is_closed_and_allowed() -> None:
    hb = make(Clock())
    assert hb.state("x/y") == "closed"
    assert hb.allow("x/y")
    assert hb.latency("x/y") is None


def test_consecutive_failures_open_and_success_resets_the_count() -> None:
    clock = Clock()
    hb = make(clock)
    hb.failure(T, "503")
    hb.failure(T, "timeout")
    hb.success(T, 0.1)  # resets
    hb.failure(T, "503")
    hb.failure(T, "503")
    assert hb.state(T) == "closed"
    assert hb.allow(T)
    hb.failure(T, "429")
    assert hb.state(T) == "open"
    assert not hb.allow(T)
    assert hb.transitions()[T] == {"closed": 0, "half_open": 0, "open": 1}


def test_error_rate_opens_only_from_min_requests() -> None:
    clock = Clock()
    hb = make(clock, failures=100, min_requests=10, error_rate=0.5)
    for _ in range(4):  # 8 requests, 50 % errors: below min_requests
        hb.success(T, 0.1)
        hb.failure(T, "503")
    assert hb.state(T) == "closed"
    hb.success(T, 0.1)
    hb.failure(T, "503")  # 10 requests, 5 errors
    assert hb.state(T) == "open"


def test_error_rate_below_threshold_stays_closed() -> None:
    clock = Clock()
    hb = make(clock, failures=100, min_requests=10, error_rate=0.5)
    for i in range(30):  # 40 % errors
        if i % 5 in (0, 2):
            hb.failure(T, "500")
        else:
            hb.success(T, 0.1)
    assert hb.state(T) == "closed"
    snap = hb.snapshot([T])[0]
    assert (snap["requests"], snap["errors"], snap["error_rate"]) == (30, 12, 0.4)


def test_window_forgets_old_errors() -> None:
    clock = Clock()
    hb = make(clock, failures=100, min_requests=10, error_rate=0.5, window_s=60)
    for _ in range(8):
        hb.failure(T, "503")
    hb.success(T, 0.1)
    hb.success(T, 0.1)  # 10 requests, 80 % errors, but successes do not judge the rate
    assert hb.state(T) == "closed"
    clock.advance(61 + 6)  # the whole window (and its last bucket) has passed
    assert hb.snapshot([T])[0]["requests"] == 0
    hb.failure(T, "503")  # would be 11 requests, 9 errors if the old ones still counted
    assert hb.state(T) == "closed"
    assert hb.snapshot([T])[0]["requests"] == 1


def test_window_still_holds_recent_errors() -> None:
    clock = Clock()
    hb = make(clock, failures=100, min_requests=10, error_rate=0.5, window_s=60)
    for _ in range(8):
        hb.failure(T, "503")
    hb.success(T, 0.1)
    hb.success(T, 0.1)
    clock.advance(30)
    hb.failure(T, "503")  # 11 requests, 9 errors within the last 60 s
    assert hb.state(T) == "open"


def test_open_refuses_then_half_open_lets_limited_probes_through() -> None:
    clock = Clock()
    hb = make(clock, open_s=30, probes=2)
    open_breaker(hb)
    clock.advance(29.9)
    assert not hb.allow(T)
    assert hb.state(T) == "open"
    clock.advance(0.1)
    assert hb.state(T) == "half_open"
    assert hb.allow(T)
    assert hb.allow(T)
    assert not hb.allow(T)  # two probes in flight already
    hb.success(T, 0.2)
    assert hb.state(T) == "closed"
    assert all(hb.allow(T) for _ in range(10))
    assert hb.transitions()[T] == {"closed": 1, "half_open": 1, "open": 1}


def test_failed_probe_reopens_for_open_s_again() -> None:
    clock = Clock()
    hb = make(clock, open_s=30, probes=1)
    open_breaker(hb)
    clock.advance(30)
    assert hb.allow(T)
    clock.advance(5)
    hb.failure(T, "timeout")
    assert hb.state(T) == "open"
    clock.advance(29)
    assert not hb.allow(T)
    clock.advance(1)
    assert hb.allow(T)
    assert hb.transitions()[T]["open"] == 2


def test_release_frees_a_probe_slot() -> None:
    clock = Clock()
    hb = make(clock, probes=1)
    open_breaker(hb)
    clock.advance(30)
    assert hb.allow(T)
    assert not hb.allow(T)
    hb.release(T)
    assert hb.state(T) == "half_open"
    assert hb.allow(T)
    assert not hb.allow(T)
    hb.release(T)
    hb.release(T)  # never below zero: still one slot only
    assert hb.allow(T)
    assert not hb.allow(T)


def test_release_is_a_no_op_when_closed_or_unknown() -> None:
    hb = make(Clock())
    hb.release(T)
    hb.release("never/seen")
    assert hb.state(T) == "closed"
    assert hb.snapshot([T])[0]["requests"] == 0


def test_late_verdicts_while_open_neither_close_nor_extend() -> None:
    clock = Clock()
    hb = make(clock, open_s=30)
    open_breaker(hb)
    clock.advance(10)
    hb.success(T, 0.3)  # an attempt that started before the breaker opened
    assert hb.state(T) == "open"
    hb.failure(T, "503")
    clock.advance(20)
    assert hb.state(T) == "half_open"  # still 30 s from the opening, not from the late failure


def test_closing_clears_the_error_window() -> None:
    clock = Clock()
    hb = make(clock, failures=100, min_requests=4, error_rate=0.5, probes=1)
    for _ in range(4):
        hb.failure(T, "503")
    assert hb.state(T) == "open"
    clock.advance(30)
    assert hb.allow(T)
    hb.success(T, 0.1)
    assert hb.state(T) == "closed"
    hb.failure(T, "503")  # the old errors would make this 5 of 6
    assert hb.state(T) == "closed"


def test_ewma_of_first_byte_latency() -> None:
    hb = make(Clock(), alpha=0.5)
    hb.success(T, 1.0)
    assert hb.latency(T) == pytest.approx(1.0)
    hb.success(T, 5.0, first_byte_s=0.2)  # first byte wins over the whole duration
    assert hb.latency(T) == pytest.approx(0.6)
    hb.failure(T, "503")  # failures are not latency samples
    assert hb.latency(T) == pytest.approx(0.6)
    hb.success(T, 0.2)
    assert hb.latency(T) == pytest.approx(0.4)


def test_snapshot_shape_and_percentiles() -> None:
    clock = Clock()
    hb = make(clock)
    for ms in range(1, 101):
        hb.success(T, ms / 1000)
    hb.success("b/m", 0.05)
    open_breaker(hb, "b/m")
    clock.advance(12)
    snaps = hb.snapshot([T, "b/m", "never/seen"])
    json.dumps(snaps)  # JSON-serialisable as is
    a, b, c = snaps
    assert set(a) == {
        "label",
        "state",
        "consecutive_failures",
        "requests",
        "errors",
        "error_rate",
        "ewma_ms",
        "p50_ms",
        "p95_ms",
        "last_error",
        "opened_at",
        "retry_in_s",
        "opened_by",
    }
    assert a["state"] == "closed" and a["opened_at"] is None and a["retry_in_s"] is None
    assert (a["p50_ms"], a["p95_ms"]) == (51.0, 96.0)
    assert a["requests"] == 100 and a["errors"] == 0
    assert b["state"] == "open"
    assert b["consecutive_failures"] == 3
    assert b["last_error"] == "503"
    assert b["retry_in_s"] == pytest.approx(18.0)
    assert b["opened_at"] == pytest.approx(1_700_000_000.0)
    assert b["requests"] == 4 and b["errors"] == 3 and b["error_rate"] == 0.75
    assert c["state"] == "closed" and c["ewma_ms"] is None and c["p50_ms"] is None


def test_ring_keeps_only_recent_latencies() -> None:
    hb = make(Clock())
    for _ in range(200):
        hb.success(T, 10.0)
    for _ in range(128):
        hb.success(T, 0.001)
    snap = hb.snapshot([T])[0]
    assert snap["p95_ms"] == 1.0


def test_metrics_lines() -> None:
    clock = Clock()
    hb = make(clock)
    hb.success(T, 0.1)
    open_breaker(hb, 'odd"label')
    lines = hb.metrics_lines()
    assert "# TYPE qiao_breaker_state gauge" in lines
    assert "# TYPE qiao_breaker_transitions_total counter" in lines
    assert f'qiao_breaker_state{{target="{T}"}} 0' in lines
    assert 'qiao_breaker_state{target="odd\\"label"} 2' in lines
    assert 'qiao_breaker_transitions_total{target="odd\\"label",to="open"} 1' in lines
    clock.advance(30)
    assert 'qiao_breaker_state{target="odd\\"label"} 1' in hb.metrics_lines()


def test_configure_keeps_state_and_takes_new_thresholds() -> None:
    clock = Clock()
    hb = make(clock, failures=3)
    hb.failure(T, "503")
    hb.configure(RoutingConfig(breaker=BreakerConfig(failures=2)))
    hb.failure(T, "503")
    assert hb.state(T) == "open"


def test_opening_and_closing_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    hb = make(clock, probes=1)
    with caplog.at_level(logging.INFO, logger="qiao.gateway.health"):
        open_breaker(hb)
        clock.advance(30)
        assert hb.allow(T)
        hb.success(T, 0.1)
    msgs = [r.getMessage() for r in caplog.records]
    assert any("acct/model opened" in m and "503" in m for m in msgs)
    assert any("acct/model closed" in m for m in msgs)


def test_would_allow_takes_no_probe_slot() -> None:
    clock = Clock()
    hb = make(clock, probes=1)
    assert hb.would_allow(T)
    open_breaker(hb)
    assert not hb.would_allow(T)
    clock.advance(30)
    assert hb.would_allow(T)
    assert hb.would_allow(T)
    assert hb.allow(T)
    assert not hb.would_allow(T)
    assert not hb.allow(T)


def test_an_unreported_probe_is_presumed_lost_after_open_s() -> None:
    clock = Clock()
    hb = make(clock, probes=1, open_s=30)
    open_breaker(hb)
    clock.advance(30)
    assert hb.allow(T)  # this probe never reports
    clock.advance(29)
    assert not hb.would_allow(T)
    assert not hb.allow(T)
    clock.advance(1)
    assert hb.would_allow(T)
    assert hb.allow(T)
    assert not hb.allow(T)
    assert hb.state(T) == "half_open"
