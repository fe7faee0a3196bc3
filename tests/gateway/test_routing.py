"""Routing through a real gateway pipeline against emulators with injected faults: retries with backoff
and Retry-After, fallback order, streams failing over only before their first byte, deadlines,
connection resets, malformed SSE, parameter overrides, tenant routes and the transparency headers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from qiao.config import Settings
from qiao.emulators import EmulatorOptions, load_emulator
from qiao.errors import QiaoError
from qiao.gateway.health import HealthBoard
from qiao.gateway.pipeline import Gateway, Principal, RequestContext
from qiao.types import ChatRequest
from tests.conftest import ThreadServer

from ._faults import Faults, malformed_sse, openai_error, raw_upstream, reset_connection


@contextmanager
def upstreams(*plans: Any) -> Iterator[list[tuple[str, Faults]]]:
    """One openai_compat emulator per plan, each wrapped in :class:`Faults`; yields (base URL, faults)."""
    with ExitStack() as stack:
        out = []
        for plan in plans:
            f = Faults(load_emulator("openai_compat", EmulatorOptions(credential="sk-emulator")), plan)
            srv = stack.enter_context(ThreadServer(f))
            out.append((srv.url + "/v1", f))
        yield out


def settings(
    urls: list[str],
    route: dict[str, Any] | None,
    limits: dict[int, dict[str, Any]] | None = None,
    routes: dict[str, Any] | None = None,
    **extra: Any,
) -> Settings:
    """Accounts a0, a1, … (one per URL) and the route ``m`` (or ``routes``)."""
    accounts = [
        {
            "provider": "openai_compat",
            "name": f"a{i}",
            "base_url": u,
            "credential": "sk-emulator",
            "models": ["gpt-4o", "gpt-4o-mini"],
        }
        for i, u in enumerate(urls)
    ]
    for i, lim in (limits or {}).items():
        accounts[i]["limits"] = lim
    return Settings.model_validate({"accounts": accounts, "routes": routes or {"m": route}, **extra})


def chat(stream: bool = False, **kw: Any) -> ChatRequest:
    return ChatRequest.from_raw(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream, **kw}
    )


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def __call__(self, s: float) -> None:
        self.sleeps.append(s)


async def run_chat(gw: Gateway, req: ChatRequest, ctx: RequestContext | None = None) -> RequestContext:
    ctx = ctx or RequestContext("r1", None)
    await gw.chat(req, ctx)
    return ctx


async def run_stream(gw: Gateway, req: ChatRequest, ctx: RequestContext) -> tuple[int | None, bytes]:
    status: list[int] = []
    out: list[bytes] = []

    async def start(st: int, headers: list[tuple[bytes, bytes]]) -> None:
        status.append(st)

    async def send(data: bytes, more: bool) -> None:
        out.append(data)

    await gw.chat_stream(req, ctx, start, send)
    return (status[0] if status else None), b"".join(out)


# ---- retries and fallbacks ------------------------------------------------------------------------------


async def test_429_burst_is_retried_after_retry_after_then_served() -> None:
    burst = [openai_error(429, "slow down", "rate_limit_exceeded", retry_after="2")] * 2
    with upstreams(burst) as ups:
        gw = Gateway(
            settings([u for u, _ in ups], {"targets": [{"target": "a0/gpt-4o"}], "retries_per_target": 2})
        )
        rec = Recorder()
        gw.router.sleep = rec
        ctx = await run_chat(gw, chat())
        assert ctx.attempts == 3 and [o for _, o, _ in ctx.tried] == ["rate_limit_exceeded"] * 2 + ["ok"]
        assert len(rec.sleeps) == 2 and all(s >= 2 for s in rec.sleeps)  # Retry-After honoured
        await gw.aclose()


async def test_long_retry_after_falls_back_at_once() -> None:
    with upstreams([openai_error(429, "come back in an hour", "rate_limit_exceeded", "3600")], []) as ups:
        gw = Gateway(
            settings([u for u, _ in ups], {"targets": [{"target": "a0/gpt-4o"}, {"target": "a1/gpt-4o"}]})
        )
        rec = Recorder()
        gw.router.sleep = rec
        ctx = await run_chat(gw, chat())
        assert rec.sleeps == []  # not waited for: the next target was tried at once
        assert [t for t, _, _ in ctx.tried] == ["a0/gpt-4o", "a1/gpt-4o"] and ctx.target is not None
        assert ctx.target.account.name == "a1"
        # and a0 is cooling down: the next request starts with a1
        ctx2 = await run_chat(gw, chat())
        assert [t for t, _, _ in ctx2.tried] == ["a1/gpt-4o"]
        await gw.aclose()


async def test_5xx_backoff_grows_with_jitter_within_bounds() -> None:
    with upstreams(["server_error"] * 3) as ups:
        s = settings(
            [u for u, _ in ups],
            {"targets": [{"target": "a0/gpt-4o"}], "retries_per_target": 3, "max_attempts": 4},
            routing={"retry": {"backoff_base_s": 0.1, "backoff_max_s": 0.3}},
        )
        gw = Gateway(s)
        rec = Recorder()
        gw.router.sleep = rec
        ctx = await run_chat(gw, chat())
        assert [o for _, o, _ in ctx.tried][-1] == "ok" and ctx.attempts == 4
        assert len(rec.sleeps) == 3
        for i, d in enumerate(rec.sleeps):  # full jitter: 0 ≤ d ≤ min(max, base·2^i)
            assert 0 <= d <= min(0.3, 0.1 * 2**i)
        await gw.aclose()


async def test_fallback_order_and_attempt_budget() -> None:
    with upstreams(["server_error"] * 9, ["overloaded"] * 9, []) as ups:
        route = {
            "targets": [{"target": "a0/gpt-4o"}, {"target": "a1/gpt-4o"}, {"target": "a2/gpt-4o"}],
            "retries_per_target": 0,
        }
        gw = Gateway(settings([u for u, _ in ups], route))
        ctx = await run_chat(gw, chat())
        assert [t for t, _, _ in ctx.tried] == ["a0/gpt-4o", "a1/gpt-4o", "a2/gpt-4o"]
        assert ctx.attempts == 3 and ctx.target is not None and ctx.target.account.name == "a2"
        h = dict(ctx.headers())
        assert h[b"x-qiao-account"] == b"a2" and h[b"x-qiao-attempts"] == b"3"
        assert b"a0/gpt-4o=" in h[b"x-qiao-tried"] and h[b"x-qiao-route"] == b"m"
        # with max_attempts 2 the third target is never reached and the client sees the last error
        gw2 = Gateway(settings([u for u, _ in ups], {**route, "max_attempts": 2}))
        with pytest.raises(QiaoError) as ei:
            await run_chat(gw2, chat())
        assert ei.value.status == 503 and "all 2 attempts failed" in ei.value.message
        await gw.aclose()
        await gw2.aclose()


async def test_invalid_request_is_not_retried_nor_moved() -> None:
    with upstreams([], []) as ups:
        route = {"targets": [{"target": "a0/gpt-4o"}, {"target": "a1/gpt-4o"}]}
        gw = Gateway(settings([u for u, _ in ups], route))
        with pytest.raises(QiaoError) as ei:
            await run_chat(gw, chat(temperature=1.5, max_tokens=10**6))
        assert ei.value.status == 400
        assert len(ups[0][1].bodies) == 0 and len(ups[1][1].bodies) == 0
        await gw.aclose()


@pytest.mark.parametrize("fallback", [False, True])
async def test_content_filter_moves_on_only_if_the_route_says_so(fallback: bool) -> None:
    with upstreams(["filtered"], []) as ups:
        route = {
            "targets": [{"target": "a0/gpt-4o"}, {"target": "a1/gpt-4o"}],
            "fallback_on_content_filter": fallback,
        }
        gw = Gateway(settings([u for u, _ in ups], route))
        if fallback:
            ctx = await run_chat(gw, chat())
            assert ctx.target is not None and ctx.target.account.name == "a1"
        else:
            with pytest.raises(QiaoError) as ei:
                await run_chat(gw, chat())
            assert ei.value.code == "content_filter" and len(ups[1][1].bodies) == 0
        await gw.aclose()


async def test_connection_reset_and_malformed_sse_fall_over() -> None:
    with upstreams([]) as ups:
        async with raw_upstream(reset_connection) as reset, raw_upstream(malformed_sse) as bad:
            s = Settings.model_validate(
                {
                    "accounts": [
                        {
                            "provider": "openai_compat",
                            "name": "reset",
                            "base_url": reset,
                            "models": ["gpt-4o"],
                        },
                        {"provider": "openai_compat", "name": "bad", "base_url": bad, "models": ["gpt-4o"]},
                        {
                            "provider": "openai_compat",
                            "name": "ok",
                            "base_url": ups[0][0],
                            "credential": "sk-emulator",
                            "models": ["gpt-4o"],
                        },
                    ],
                    "routes": {
                        "m": {
                            "targets": [
                                {"target": "reset/gpt-4o"},
                                {"target": "bad/gpt-4o"},
                                {"target": "ok/gpt-4o"},
                            ],
                            "retries_per_target": 0,
                        }
                    },
                }
            )
            gw = Gateway(s)
            ctx = RequestContext("s1", None)
            status, body = await run_stream(gw, chat(stream=True), ctx)
            assert status == 200 and body.endswith(b"data: [DONE]\n\n") and b'"error"' not in body
            outcomes = [(t, o) for t, o, _ in ctx.tried]
            assert outcomes[0] == ("reset/gpt-4o", "upstream_disconnected")
            assert outcomes[1][0] == "bad/gpt-4o" and outcomes[1][1] != "ok"
            assert outcomes[2] == ("ok/gpt-4o", "ok")
            await gw.aclose()


# ---- streams --------------------------------------------------------------------------------------------


async def test_stream_fails_over_before_its_first_byte() -> None:
    with upstreams(["server_error"], []) as ups:
        route = {"targets": [{"target": "a0/gpt-4o"}, {"target": "a1/gpt-4o"}], "retries_per_target": 0}
        gw = Gateway(settings([u for u, _ in ups], route))
        ctx = RequestContext("s2", None)
        status, body = await run_stream(gw, chat(stream=True), ctx)
        assert status == 200 and body.endswith(b"data: [DONE]\n\n")
        assert ctx.target is not None and ctx.target.account.name == "a1"
        await gw.aclose()


async def test_stream_cut_after_first_byte_ends_with_error_and_no_fallback() -> None:
    with upstreams(["cut_stream"], []) as ups:
        route = {"targets": [{"target": "a0/gpt-4o"}, {"target": "a1/gpt-4o"}]}
        gw = Gateway(settings([u for u, _ in ups], route))
        ctx = RequestContext("s3", None)
        status, body = await run_stream(gw, chat(stream=True), ctx)
        assert status == 200 and b'"error"' in body and ctx.status == 502
        assert len(ups[1][1].bodies) == 0  # the client already had bytes: no second answer spliced in
        assert ctx.usage is not None and ctx.usage.estimated  # the ledger records what was served
        assert [t for t, _, _ in ctx.tried] == ["a0/gpt-4o"]
        await gw.aclose()


# ---- deadlines ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
async def test_a_hung_upstream_never_holds_the_client_past_the_deadline(stream: bool) -> None:
    with upstreams(["hang"] * 5, ["hang"] * 5) as ups:
        route = {
            "targets": [{"target": "a0/gpt-4o"}, {"target": "a1/gpt-4o"}],
            "first_byte_timeout_s": 0.4,
            "total_timeout_s": 1.0,
        }
        gw = Gateway(settings([u for u, _ in ups], route))
        t = time.monotonic()
        with pytest.raises(QiaoError) as ei:
            if stream:
                await run_stream(gw, chat(stream=True), RequestContext("d1", None))
            else:
                await run_chat(gw, chat())
        # behaviour, not speed: the deadline (1 s) bounds the whole request, retries included
        assert time.monotonic() - t < 5
        assert ei.value.status == 504 and ei.value.code == "upstream_timeout"
        await gw.aclose()


async def test_a_stream_stalling_midway_is_cut_at_the_deadline() -> None:
    with ExitStack() as stack:
        app = load_emulator("openai_compat", EmulatorOptions(credential="sk-emulator", chunk_delay=0.5))
        srv = stack.enter_context(ThreadServer(app))
        s = settings([srv.url + "/v1"], {"targets": [{"target": "a0/gpt-4o"}], "total_timeout_s": 1.2})
        gw = Gateway(s)
        ctx = RequestContext("d2", None)
        t = time.monotonic()
        status, body = await run_stream(gw, chat(stream=True), ctx)
        assert status == 200 and b"upstream_timeout" in body and not body.endswith(b"[DONE]\n\n")
        assert time.monotonic() - t < 5
        await gw.aclose()


# ---- overrides, tenants, keys ---------------------------------------------------------------------------


async def test_target_parameter_overrides_reach_the_upstream() -> None:
    with upstreams([]) as ups:
        route = {"targets": [{"target": "a0/gpt-4o-mini", "params": {"temperature": 0.3, "max_tokens": 7}}]}
        gw = Gateway(settings([u for u, _ in ups], route))
        await run_chat(gw, chat(temperature=1.0))
        body = ups[0][1].bodies[-1]
        assert body["temperature"] == 0.3 and body["max_tokens"] == 7 and body["model"] == "gpt-4o-mini"
        await gw.aclose()


def test_bad_parameter_override_fails_at_start() -> None:
    from qiao.config import ConfigError

    with pytest.raises(ConfigError, match=r"routes\.m\.targets\.0\.params.*temperature"):
        Gateway(
            settings(
                ["http://127.0.0.1:9/v1"],
                {"targets": [{"target": "a0/gpt-4o", "params": {"temperature": 9}}]},
            )
        )
    with pytest.raises(ConfigError, match="cannot be set on a target"):
        Gateway(
            settings(
                ["http://127.0.0.1:9/v1"], {"targets": [{"target": "a0/gpt-4o", "params": {"model": "x"}}]}
            )
        )


async def test_tenant_route_overrides_the_route_for_everyone() -> None:
    with upstreams([], []) as ups:
        s = settings(
            [u for u, _ in ups],
            None,
            routes={
                "gpt-4o": {"targets": [{"target": "a0/gpt-4o"}]},
                "gpt-4o-acme": {
                    "model": "gpt-4o",
                    "tenants": ["acme"],
                    "targets": [{"target": "a1/gpt-4o"}],
                },
            },
        )
        gw = Gateway(s)
        req = ChatRequest.from_raw({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
        acme = await run_chat(gw, req, RequestContext("t1", Principal("k1", "k", "acme")))
        other = await run_chat(gw, req, RequestContext("t2", Principal("k2", "k", "other")))
        assert acme.target is not None and acme.target.account.name == "a1"
        assert other.target is not None and other.target.account.name == "a0"
        assert ("gpt-4o", "qiao") in gw.resolver.public_names("acme")
        await gw.aclose()


async def test_key_pinned_to_provider_models_skips_other_targets() -> None:
    with upstreams([], []) as ups:
        route = {"targets": [{"target": "a0/gpt-4o"}, {"target": "a1/gpt-4o"}]}
        gw = Gateway(settings([u for u, _ in ups], route))
        p = Principal("k", "k", None, ("m", "a1/*"))
        ctx = await run_chat(gw, chat(), RequestContext("p1", p))
        assert ctx.target is not None and ctx.target.account.name == "a1" and len(ups[0][1].bodies) == 0
        await gw.aclose()


async def test_routes_do_not_wait_needlessly_when_everything_works() -> None:
    with upstreams([]) as ups:
        gw = Gateway(settings([u for u, _ in ups], {"targets": [{"target": "a0/gpt-4o"}]}))
        rec = Recorder()
        gw.router.sleep = rec
        for _ in range(5):
            ctx = await run_chat(gw, chat())
            assert ctx.attempts == 1 and b"x-qiao-tried" not in dict(ctx.headers())
        assert rec.sleeps == []
        await gw.aclose()


# ---- circuit breakers through the pipeline --------------------------------------------------------------


async def test_breaker_opens_skips_probes_and_closes() -> None:
    now = [1000.0]
    with upstreams(["server_error"] * 3, []) as ups:
        route = {"targets": [{"target": "a0/gpt-4o"}, {"target": "a1/gpt-4o"}], "retries_per_target": 0}
        gw = Gateway(settings([u for u, _ in ups], route, routing={"breaker": {"failures": 3, "open_s": 30}}))
        gw.router.health = HealthBoard(gw.settings.routing, clock=lambda: now[0])
        for i in range(3):  # a0 fails three times in a row (each request then served by a1)
            ctx = await run_chat(gw, chat())
            assert [t for t, _, _ in ctx.tried] == ["a0/gpt-4o", "a1/gpt-4o"], i
        assert gw.router.health.state("a0/gpt-4o") == "open"
        ctx = await run_chat(gw, chat())  # open: a0 is not sent anything
        assert ctx.tried[0] == ("a0/gpt-4o", "skipped:circuit_open", 0.0) and ctx.attempts == 1
        assert len(ups[0][1].bodies) == 3
        now[0] += 31  # half-open: one probe goes through, succeeds (the fault plan is used up), closes
        ctx = await run_chat(gw, chat())
        assert [(t, o) for t, o, _ in ctx.tried] == [("a0/gpt-4o", "ok")]
        assert gw.router.health.state("a0/gpt-4o") == "closed"
        report = gw.router.health_report(gw.resolver.labels())
        row = next(r for r in report["targets"] if r["label"] == "a0/gpt-4o")
        assert row["state"] == "closed"
        await gw.aclose()


async def test_every_breaker_open_is_a_fast_503_with_retry_after() -> None:
    now = [1000.0]
    with upstreams(["server_error"] * 2) as ups:
        route = {"targets": [{"target": "a0/gpt-4o"}], "retries_per_target": 0}
        gw = Gateway(settings([u for u, _ in ups], route, routing={"breaker": {"failures": 2, "open_s": 20}}))
        gw.router.health = HealthBoard(gw.settings.routing, clock=lambda: now[0])
        for _ in range(2):
            with pytest.raises(QiaoError):
                await run_chat(gw, chat())
        with pytest.raises(QiaoError) as ei:
            await run_chat(gw, chat())
        assert ei.value.status == 503 and ei.value.code == "circuit_open"
        assert ei.value.retry_after is not None and 0 < ei.value.retry_after <= 20
        assert len(ups[0][1].bodies) == 2  # the third request never reached the failing upstream
        await gw.aclose()


async def test_client_errors_do_not_open_breakers() -> None:
    with upstreams(["filtered"] * 10) as ups:
        gw = Gateway(
            settings(
                [u for u, _ in ups],
                {"targets": [{"target": "a0/gpt-4o"}]},
                routing={"breaker": {"failures": 2}},
            )
        )
        for _ in range(5):
            with pytest.raises(QiaoError):
                await run_chat(gw, chat())
        assert gw.router.health.state("a0/gpt-4o") == "closed"
        await gw.aclose()


# ---- outbound limits through the pipeline ---------------------------------------------------------------


async def test_account_rpm_cap_sends_the_overflow_to_the_next_target_without_a_429() -> None:
    with upstreams([], []) as ups:
        s = settings(
            [u for u, _ in ups],
            {"targets": [{"target": "a0/gpt-4o"}, {"target": "a1/gpt-4o"}]},
            limits={0: {"rpm": 2, "max_wait_s": 0.2}},
        )
        gw = Gateway(s)
        served = []
        for i in range(4):
            ctx = await run_chat(gw, chat())
            assert ctx.target is not None
            served.append(ctx.target.account.name)
            if i >= 2:
                assert ("a0/gpt-4o", "skipped:account_limit", 0.0) in ctx.tried
        assert served == ["a0", "a0", "a1", "a1"] and len(ups[0][1].bodies) == 2
        snap = gw.router.health_report(gw.resolver.labels())["accounts"]["a0"]
        assert snap is not None
        await gw.aclose()


async def test_account_concurrency_cap_queues_then_serves() -> None:
    import asyncio

    with ExitStack() as stack:
        app = load_emulator("openai_compat", EmulatorOptions(credential="sk-emulator", chunk_delay=0.05))
        srv = stack.enter_context(ThreadServer(app))
        s = settings(
            [srv.url + "/v1"],
            {"targets": [{"target": "a0/gpt-4o"}]},
            limits={0: {"concurrency": 1, "max_wait_s": 30}},
        )
        gw = Gateway(s)
        in_flight = peak = 0
        real = gw.transport.stream

        async def counting(*a: Any, **kw: Any) -> Any:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                return await real(*a, **kw)
            finally:
                pass

        gw.transport.stream = counting  # type: ignore[method-assign]

        async def one(i: int) -> tuple[int | None, bytes]:
            nonlocal in_flight
            try:
                return await run_stream(gw, chat(stream=True), RequestContext(f"c{i}", None))
            finally:
                in_flight -= 1

        results = await asyncio.gather(*(one(i) for i in range(4)))
        assert all(st == 200 and body.endswith(b"data: [DONE]\n\n") for st, body in results)
        assert peak == 1  # one stream at a time: the others waited in the account's queue
        await gw.aclose()


async def test_slow_first_byte_times_out_and_falls_back() -> None:
    with upstreams(["slow_first_byte=3"], []) as ups:
        route = {
            "targets": [{"target": "a0/gpt-4o"}, {"target": "a1/gpt-4o"}],
            "first_byte_timeout_s": 0.3,
            "retries_per_target": 0,
        }
        gw = Gateway(settings([u for u, _ in ups], route))
        ctx = RequestContext("sf", None)
        status, body = await run_stream(gw, chat(stream=True), ctx)
        assert status == 200 and body.endswith(b"data: [DONE]\n\n")
        assert [(t, o) for t, o, _ in ctx.tried] == [("a0/gpt-4o", "upstream_timeout"), ("a1/gpt-4o", "ok")]
        await gw.aclose()


async def test_attempt_latency_is_measured_below_a_millisecond() -> None:
    """uvloop's loop.time() moves in whole milliseconds per loop turn: a fast upstream must still get a
    real latency (least_latency ranks by it), not zero."""
    import uvloop

    with upstreams([]) as ups:
        gw = Gateway(settings([u for u, _ in ups], {"targets": [{"target": "a0/gpt-4o"}]}))

        async def go() -> None:
            for _ in range(3):
                await run_chat(gw, chat())
            await gw.aclose()

        await asyncio.get_running_loop().run_in_executor(None, uvloop.run, go())
        lat = gw.router.health.latency("a0/gpt-4o")
        assert lat is not None and lat > 0


async def test_wildcard_routes_and_a_tenants_own_wildcard() -> None:
    with upstreams([], []) as ups:
        s = settings(
            [u for u, _ in ups],
            None,
            routes={
                "gpt-4*": {"targets": [{"target": "a0/gpt-4o"}]},
                "acme-gpt": {
                    "model": "gpt-4*",
                    "tenants": ["acme"],
                    "targets": [{"target": "a1/gpt-4o"}],
                },
            },
        )
        gw = Gateway(s)
        for name in ("gpt-4-turbo", "gpt-4o-2024-08-06"):
            req = ChatRequest.from_raw({"model": name, "messages": [{"role": "user", "content": "hi"}]})
            anyone = await run_chat(gw, req, RequestContext("w1", Principal("k1", "k", "other")))
            acme = await run_chat(gw, req, RequestContext("w2", Principal("k2", "k", "acme")))
            assert anyone.target is not None and anyone.target.account.name == "a0"
            assert acme.target is not None and acme.target.account.name == "a1"
        assert gw.resolver.resolve("claude-3") is None
        await gw.aclose()


@pytest.mark.parametrize("tenanted", [False, True])
def test_route_for_answers_what_resolve_answers(tenanted: bool) -> None:
    """Gateway.route_for reads a route for all tenants straight from ``Resolver.routes`` when no tenant has
    routes of its own; for every name and caller it must find the route Resolver.resolve finds."""
    routes: dict[str, Any] = {
        "gpt-4o": {"targets": [{"target": "a0/gpt-4o"}]},
        "fast": {"targets": [{"target": "a1/gpt-4o-mini"}, {"target": "a0/gpt-4o-mini"}]},
        "team-*": {"targets": [{"target": "a1/gpt-4o"}]},
    }
    if tenanted:
        routes["gpt-4o-acme"] = {"model": "gpt-4o", "tenants": ["acme"], "targets": [{"target": "a1/gpt-4o"}]}
        routes["acme-*"] = {"model": "fast*", "tenants": ["acme"], "targets": [{"target": "a1/gpt-4o"}]}
    gw = Gateway(settings(["http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1"], None, routes=routes))
    assert gw.resolver.tenanted is tenanted
    names = ["gpt-4o", "fast", "faster", "team-x", "gpt-4o-mini", "a0/gpt-4o", "openai_compat/gpt-4o",
             "a1/gpt-4o-mini", "nope", "a9/gpt-4o"]  # fmt: skip
    for name in names:
        for p in [None, Principal("k", "k"), Principal("k", "k", "acme"), Principal("k", "k", "other")]:
            want = gw.resolver.resolve(name, p.tenant if p is not None else None)
            try:
                got = gw.route_for(name, RequestContext("r", p))
            except QiaoError:
                got = None
            assert got is want, (name, p)
