"""Routing: which of a route's targets serve a request, in which order, and how often each is tried.

One request goes through :meth:`Router.run`:

1. **Order** (:meth:`Router.order`): the route's strategy sorts its targets —

   ``priority``       the configured order (accounts of one ``provider/model`` in weighted round-robin);
   ``weighted``       a random order drawn by target weight (weight 0: only as a fallback);
   ``least_latency``  lowest moving average of first-token latency first; targets never measured first
                      (so they get measured), and a share ``routing.explore`` of requests puts a random
                      target first so every latency stays current;
   ``cheapest``       lowest estimated cost of *this* request (estimated prompt + output tokens at each
                      model's price, converted to CNY) first; unknown prices last;
   ``grants_first``   targets whose account holds an active free grant covering the model first (soonest
                      expiry first), then the rest by ``cheapest``.

   Targets that cannot serve the request move out: a missing capability (tools, image input, JSON mode),
   a context window too small for the estimated prompt + ``max_tokens``, or a provider model the key may
   not use (when the key's ``models`` name ``provider/model`` patterns). If no target is fit, every target
   stays, so the client gets the precise 400 of the first one (or a dropped parameter under
   ``drop_params``). Targets cooling down after a 429 with ``Retry-After`` go to the end.

2. **Attempts** (:meth:`Router.run`): each target in turn, if its circuit breaker lets it
   (``gateway/health.py``) and its account has room under its outbound limits (``gateway/outbound.py``;
   a short bounded wait, else the next target). A retryable failure (429, 5xx, timeout, connection error)
   is retried on the same target ``retry.per_target`` times with exponential backoff and full jitter, at
   least ``Retry-After`` when the provider sent one (one longer than ``retry.max_retry_after_s`` is not
   waited for: the next target is tried at once); then the next target. Errors of the request itself
   (400s) are not retried; a content-filter refusal or a context-length error moves on only if the route
   says so. Everything is bounded by ``max_attempts`` and by the request's deadline (``total_timeout_s``):
   no wait, backoff or upstream read runs past it.

Every attempt is recorded on the request context (``ctx.tried``: target, outcome, milliseconds) for the
ledger and the ``x-qiao-tried`` response header. Nothing here does I/O on the hot path except the
attempts themselves (and the outbound limiter's Redis script for accounts that have limits, in
multi-replica mode).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import RouteConfig, Settings
from ..errors import (
    AllProvidersFailed,
    AuthenticationFailed,
    ContentFiltered,
    InsufficientQuota,
    ModelNotFound,
    PermissionDenied,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UnsupportedParameter,
    UpstreamTimeout,
)
from ..money import MICRO
from ..transport.http import Timeouts
from ..types import ChatRequest, EmbeddingRequest, has_image_input
from .health import HealthBoard
from .outbound import OutboundLimiter, quotas_for
from .params import HARMLESS, prompt_bytes
from .resolve import Route, Target

if TYPE_CHECKING:
    from ..ledger.grants import GrantBook
    from .pipeline import RequestContext

__all__ = ["Need", "Router", "StreamStarted"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

Attempt = Callable[[Target, Mapping[str, Any], Timeouts], Awaitable[_T]]
"""``attempt(target, params, timeouts)``: one try on one target, within ``timeouts`` (the route's, cut to
what is left of the request's deadline; ``timeouts.deadline`` on the loop clock)."""


class StreamStarted(Exception):
    """A stream's first byte reached the client, then it failed: no fallback is possible any more (the
    client got an error event). Carries the error for the breaker and the attempt log."""

    def __init__(self, error: QiaoError | None = None) -> None:
        super().__init__("stream already started")
        self.error = error


def _tenths(ms: float) -> float:
    """``ms`` to 0.1 ms (half up): ``round(x, 1)`` goes through float-to-decimal conversion, ~2k
    instructions, and this runs on every attempt."""
    return int(ms * 10.0 + 0.5) / 10.0


class Need:
    """What a request needs of a target, worked out once per request."""

    __slots__ = (
        "context_tokens",
        "dropped",
        "harmless",
        "json",
        "model",
        "out",
        "prompt_bytes",
        "request",
        "tools",
        "vision",
    )

    def __init__(self, req: ChatRequest | EmbeddingRequest | None) -> None:
        self.tools = self.vision = self.json = False
        self.prompt_bytes = 0
        self.out = 0
        self.context_tokens: int | None = None  # a tokenised estimate, only when the byte bound is too big
        # the chat request's model and dropped parameters, read here once for every attempt (pipeline's
        # _prepare: each read through pydantic's attribute hook costs ~400 instructions)
        self.model = ""  # (a chat request's)
        self.dropped: tuple[str, ...] = ()
        # a plain request of harmless parameters only: no target can refuse any (params.apply_param_policy)
        self.harmless = False
        if isinstance(req, ChatRequest):
            self.request: ChatRequest | None = req
            d = req.__dict__  # plain dict reads (see ChatRequest.set_fields)
            self.model = d["model"]
            out = d["max_completion_tokens"]
            self.out = (out if out is not None else d["max_tokens"]) or 0
            st = req.__pydantic_private__  # req.plain_bytes and req.dropped, in one read
            plain = None
            if st is not None:
                plain = st.get("plain")
                self.dropped = st.get("dropped", ())
            if plain is not None:
                sent = st.get("sent")  # type: ignore[union-attr]
                self.harmless = (
                    sent is not None and sent <= HARMLESS
                )  # no tools, JSON mode or images; the bound was taken while checking
                self.prompt_bytes = plain
                return
            self.tools = bool(d["tools"] or d["functions"])
            rf = d["response_format"]
            self.json = rf is not None and rf.type != "text"
            self.vision = has_image_input(d["messages"])
            self.prompt_bytes = prompt_bytes(req)
        else:
            self.request = None

    def prompt_tokens(self) -> int:
        """An estimate of the prompt in tokens for cost ranking (a byte bound divided by a typical ratio)."""
        return self.context_tokens if self.context_tokens is not None else self.prompt_bytes // 3

    def fits(self, t: Target) -> bool:
        caps = t.spec.caps
        if self.request is not None and not caps.chat:
            return False
        if self.tools and not caps.tools:
            return False
        if self.vision and not caps.vision:
            return False
        if self.json and not caps.json_mode:
            return False
        if self.prompt_bytes + self.out <= t.spec.context:
            return True
        return self.context_tokens is None or self.context_tokens + self.out <= t.spec.context


def _key_allows(patterns: tuple[str, ...] | None, t: Target) -> bool:
    """A key whose ``models`` name ``provider/model`` patterns may use only those upstream models."""
    if not patterns:
        return True
    pinned = [p for p in patterns if "/" in p]
    if not pinned:
        return True
    import fnmatch

    names = (f"{t.provider.name}/{t.spec.id}", t.label)
    return any(fnmatch.fnmatchcase(n, p) for p in pinned for n in names)


def target_fault(err: QiaoError) -> bool:
    """Does this failure say something about the target's health (breakers count it)?"""
    return err.retryable or isinstance(err, AuthenticationFailed | InsufficientQuota | PermissionDenied)


class Router:
    def __init__(
        self, settings: Settings, timeouts: Timeouts | None = None, rng: random.Random | None = None
    ) -> None:
        s = settings.server
        # a route's timeouts unless it sets its own (the gateway's: the transport's defaults too)
        self.timeouts = timeouts or Timeouts(s.connect_timeout_s, s.first_byte_timeout_s, s.total_timeout_s)
        # The running loop, remembered: on CPython 3.11 asyncio.get_running_loop() makes a getpid system
        # call each time (fixed in 3.12). A gateway serves one loop at a time (a test's new loop replaces
        # a stopped one).
        self._loop: asyncio.AbstractEventLoop | None = None
        self.cfg = settings.routing
        self.rng = rng or random.Random()
        self.health = HealthBoard(self.cfg)
        self.limiter = OutboundLimiter({})
        self.grants: GrantBook | None = None  # set by the server when the ledger runs
        self.fx: dict[str, int] = {"CNY": MICRO}
        self._cooling: dict[str, float] = {}  # label → monotonic time until which a 429 asked us to wait
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # tests record backoffs here
        self.apply_settings(settings)

    def apply_settings(self, settings: Settings) -> None:
        from ..providers._registry import get_provider

        self.settings = settings
        self.cfg = settings.routing
        self.health.configure(settings.routing)
        self.fx = {"CNY": MICRO}
        from ..money import parse_micros

        for cur, rate in settings.limits.fx_rates.items():
            self.fx[cur.upper()] = parse_micros(rate)
        # Several worker processes without Redis enforce an account's caps independently: each gets an
        # equal share, so together they stay within the account's quota.
        workers = settings.server.workers
        share = workers if workers > 1 and not settings.database.redis_url else 1
        self.limiter.update(
            quotas_for(settings.accounts, lambda slug: get_provider(slug).default_limits, share)
        )

    async def start(self) -> None:
        db = self.settings.database
        if db.redis_url:
            await self.health.start_shared(db.redis_url, db.redis_prefix)
            await self.limiter.start_shared(db.redis_url, db.redis_prefix)

    async def aclose(self) -> None:
        await self.health.aclose()
        await self.limiter.aclose()

    # ---- order ----------------------------------------------------------------------------------------
    def order(self, route: Route, need: Need, ctx: RequestContext) -> list[tuple[Target, Mapping[str, Any]]]:
        models = ctx.principal.models if ctx.principal is not None else None
        only = route.only
        if only is not None:
            # one target (the usual route): nothing to sort, no cooling to look at; the same checks as
            # below (~2k instructions less than building and sorting the candidates)
            t = only[0]
            if need.fits(t) and (models is None or _key_allows(models, t)):
                return [only]
            ctx.tried.append((t.label, "skipped:unfit", 0.0))
            if not _key_allows(models, t):
                raise PermissionDenied(
                    f"this API key may not use any provider model behind `{route.name}`",
                    param="model",
                    code="model_not_allowed",
                )
            return [only]  # it does not fit: its own check explains why (or drops)
        rc = route.config
        entries = route.entries
        strategy = rc.strategy if rc is not None else "priority"
        if strategy == "weighted" and len(entries) > 1:
            # Efraimidis–Spirakis: sort by u^(1/w) — a weighted random order without replacement.
            rnd = self.rng.random
            keyed = [((rnd() ** (1.0 / e.weight)) if e.weight > 0 else -rnd(), e) for e in entries]
            keyed.sort(key=lambda x: x[0], reverse=True)
            entries = [e for _, e in keyed]
        cands: list[tuple[Target, Mapping[str, Any]]] = [
            (t, e.params) for e in entries for t in e.group.ordered()
        ]
        if strategy == "least_latency" and len(cands) > 1:
            cands = self._by_latency(cands)
        elif strategy == "cheapest" and len(cands) > 1:
            cands.sort(key=lambda c: self.cost(c[0], need))
        elif strategy == "grants_first" and len(cands) > 1:
            cands.sort(key=lambda c: self._grant_key(c[0], need))
        fit = []
        for c in cands:
            if need.fits(c[0]) and _key_allows(models, c[0]):
                fit.append(c)
            else:
                ctx.tried.append((c[0].label, "skipped:unfit", 0.0))
        if len(fit) < len(cands):
            if not fit:
                allowed = [c for c in cands if _key_allows(models, c[0])]
                if not allowed:
                    raise PermissionDenied(
                        f"this API key may not use any provider model behind `{route.name}`",
                        param="model",
                        code="model_not_allowed",
                    )
                fit = allowed  # none fits: the first target's own check explains why (or drops)
        if self._cooling and len(fit) > 1:
            now = time.monotonic()
            fit.sort(key=lambda c: self._cooling.get(c[0].label, 0.0) > now)
        return fit

    def _by_latency(
        self, cands: list[tuple[Target, Mapping[str, Any]]]
    ) -> list[tuple[Target, Mapping[str, Any]]]:
        lat = self.health.latency
        if self.rng.random() < self.cfg.explore:
            i = self.rng.randrange(len(cands))
            return [cands[i], *cands[:i], *cands[i + 1 :]]
        return sorted(cands, key=lambda c: lat(c[0].label) or 0.0)

    def cost(self, t: Target, need: Need) -> float:
        """This request's estimated cost on a target, in CNY micro-units (inf when the price is unknown)."""
        pr = t.spec.price
        if pr is None:
            return float("inf")
        out = need.out or min(t.spec.max_output, 1024)
        rate = self.fx.get(pr.currency, MICRO)
        return (need.prompt_tokens() * pr.input + out * pr.output) * rate / MICRO / MICRO

    def _grant_key(self, t: Target, need: Need) -> tuple[int, float, float]:
        book = self.grants
        if book is not None:
            states = book.by_account.get(t.account.name)
            if states:
                today = dt.datetime.now(dt.UTC).date()
                for s in states:  # soonest expiry first
                    if s.left > 0 and s.active(today) and s.covers(t.spec.id):
                        exp = s.expires.toordinal() if s.expires is not None else float("inf")
                        return (0, exp, self.cost(t, need))
        return (1, 0.0, self.cost(t, need))

    # ---- attempts -------------------------------------------------------------------------------------
    async def run(
        self,
        route: Route,
        need: Need,
        ctx: RequestContext,
        attempt: Attempt[_T],
        stream: bool = False,
    ) -> _T:
        """Try the ordered targets until one answers (see the module docstring for the rules), all within
        the route's total timeout from now; each attempt gets the route's timeouts cut to what is left.
        ``stream``: a :class:`StreamStarted` ends the run quietly (returns None; the client already got
        the error event) instead of reaching the caller."""
        rc = route.config
        # route_timeouts' test, without the call for a route that sets no timeouts of its own (the usual)
        timeouts = (
            self.timeouts
            if rc is None or not (rc.connect_timeout_s or rc.first_byte_timeout_s or rc.total_timeout_s)
            else self.route_timeouts(route)
        )
        loop = self._loop
        if loop is None or not loop.is_running():
            loop = self._loop = asyncio.get_running_loop()
        deadline = loop.time() + timeouts.total
        if need.request is not None and need.context_tokens is None:
            if need.prompt_bytes + need.out > route.min_context:
                from .params import estimate_prompt_tokens

                # A context window is in doubt: tokenise once, before ordering (and off the event loop);
                # each attempt's context check reuses the count (pipeline._prepare).
                need.context_tokens = await asyncio.to_thread(estimate_prompt_tokens, need.request)
        only = route.only
        p = ctx.principal
        if only is not None and (p is None or p.models is None) and need.fits(only[0]):
            # what order() answers for a fitting one-target route and a key without models (no call)
            cands: list[tuple[Target, Mapping[str, Any]]] = [only]
        else:
            cands = self.order(route, need, ctx)
        max_attempts = rc.max_attempts if rc is not None else 3
        per_target = (
            rc.retries_per_target
            if rc is not None and rc.retries_per_target is not None
            else self.cfg.retry.per_target
        )
        errors: list[QiaoError] = []
        skipped_open: list[Target] = []
        tokens = 0
        health = self.health
        limiter = self.limiter
        capped = limiter.capped  # limiter.limited(name) is `name in capped`
        # health.allow is True for a target whose breaker is closed: asked only of the others (no method
        # call for the usual answer)
        tripped = health.tripped
        for idx, (target, params) in enumerate(cands):
            label = target.label
            tries = 0
            while True:
                if ctx.attempts >= max_attempts:
                    break
                if label in tripped and not health.allow(label):
                    skipped_open.append(target)
                    ctx.tried.append((label, "skipped:circuit_open", 0.0))
                    break
                permit = None
                if target.account.name in capped:
                    if not tokens:
                        tokens = need.prompt_tokens() + (need.out or min(target.spec.max_output, 1024))
                    # the limiter keeps time with time.monotonic(); the deadline is on the loop's clock
                    mono = time.monotonic() + (deadline - loop.time())
                    w0 = time.perf_counter()
                    permit = await limiter.acquire(target.account.name, tokens, mono)
                    ctx.waited_s += time.perf_counter() - w0
                    if permit is None:
                        health.release(label)
                        ctx.tried.append((label, "skipped:account_limit", 0.0))
                        break
                ctx.target = target
                sent_before = ctx.upstream_calls
                # latencies with perf_counter: uvloop's loop.time() is cached per loop turn, in whole ms
                t = time.perf_counter()
                t_attempt = t - ctx.t0
                try:
                    # the try's timeouts, cut to what is left of the deadline (raised here, a timeout
                    # counts as this target's failure, as one from inside the attempt)
                    left = deadline - loop.time()
                    if left <= 0:
                        raise UpstreamTimeout(
                            f"the request's deadline ({timeouts.total:g}s) passed before {label} could be "
                            "tried",
                            provider=target.provider.name,
                        )
                    result = await attempt(
                        target,
                        params,
                        Timeouts(min(timeouts.connect, left), min(timeouts.first_byte, left), left, deadline),
                    )
                except StreamStarted as st:
                    # past the first byte: the client already got an error event; no fallback
                    err = st.error
                    ms = (time.perf_counter() - t) * 1000
                    ctx.attempts += 1
                    if err is not None and target_fault(err):
                        health.failure(label, err.code or "error")
                    else:
                        health.release(label)
                    ctx.tried.append(
                        (label, (err.code if err is not None else None) or "stream_error", _tenths(ms))
                    )
                    self._settle_permit(permit, ctx)
                    if stream:
                        return None  # type: ignore[return-value]  # (a stream's run returns None)
                    raise
                except QiaoError as err:
                    ms = (time.perf_counter() - t) * 1000
                    self._settle_permit(permit, ctx)
                    ctx.tried.append((label, err.code or "error", _tenths(ms)))
                    errors.append(err)
                    reached = ctx.upstream_calls > sent_before
                    if reached:
                        ctx.attempts += 1
                    if reached and target_fault(err):
                        health.failure(label, err.code or "error")
                    else:
                        health.release(label)
                    if isinstance(err, RateLimited) and err.retry_after:
                        self._cooling[label] = time.monotonic() + err.retry_after
                        if len(self._cooling) > 4096:
                            self._cooling.clear()
                    more = idx + 1 < len(cands)
                    if err.retryable and tries < per_target and ctx.attempts < max_attempts:
                        delay = self._backoff(tries, err)
                        if delay is not None and loop.time() + delay < deadline - 0.001:
                            tries += 1
                            if delay > 0:
                                w0 = time.perf_counter()
                                await self.sleep(delay)
                                ctx.waited_s += time.perf_counter() - w0
                            continue
                    if not self._fall_back(err, rc, more):
                        raise self._final(errors) from None
                    log.warning("attempt on %s failed (%s); trying the next target", label, err.code)
                    break
                except BaseException:
                    self._settle_permit(permit, ctx)
                    health.release(label)
                    raise
                else:
                    ms = (time.perf_counter() - t) * 1000
                    ctx.attempts += 1
                    if permit is not None:
                        self._settle_permit(permit, ctx)
                    fb = ctx.first_byte_s
                    health.success(
                        label, ms / 1000, fb - t_attempt if fb is not None and fb > t_attempt else None
                    )
                    # _tenths inlined (a call less on every request)
                    ctx.tried.append((label, "ok", int(ms * 10.0 + 0.5) / 10.0))
                    return result
            if ctx.attempts >= max_attempts or loop.time() >= deadline:
                break
        if errors:
            raise self._final(errors)
        if loop.time() >= deadline:
            raise UpstreamTimeout(f"no target of `{route.name}` answered before the request's deadline")
        if skipped_open:
            waits = [health.snapshot([t.label])[0].get("retry_in_s") for t in skipped_open]
            retry = min((float(w) for w in waits if w is not None), default=self.cfg.breaker.open_s)
            raise ServiceUnavailable(
                f"every target of `{route.name}` is failing (circuit breaker open); retry later",
                retry_after=retry,
                code="circuit_open",
            )
        raise RateLimited(
            f"every provider account behind `{route.name}` is at its configured rate or concurrency limit; "
            "retry later",
            retry_after=1,
            code="upstream_capacity",
        )

    def route_timeouts(self, route: Route) -> Timeouts:
        """The route's timeouts: its own where it sets them, the gateway's for the rest."""
        rc = route.config
        if rc is None or not (rc.connect_timeout_s or rc.first_byte_timeout_s or rc.total_timeout_s):
            return self.timeouts
        t = self.timeouts
        return Timeouts(
            rc.connect_timeout_s or t.connect,
            rc.first_byte_timeout_s or t.first_byte,
            rc.total_timeout_s or t.total,
        )

    @staticmethod
    def _final(errors: list[QiaoError]) -> QiaoError:
        """One error as it is; several alike (retries that met the same failure) as the last one, so a
        client sees the provider's own error class; different ones summed up, with the last one's status."""
        last = errors[-1]
        if all(type(e) is type(last) and e.code == last.code for e in errors):
            return last
        return AllProvidersFailed(errors)

    def _backoff(self, tries: int, err: QiaoError) -> float | None:
        """Seconds to wait before retrying the same target, or None when it should not be retried."""
        r = self.cfg.retry
        delay: float = min(r.backoff_max_s, r.backoff_base_s * (2**tries)) * self.rng.random()
        if err.retry_after is not None:
            if err.retry_after > r.max_retry_after_s:
                return None
            delay = max(delay, float(err.retry_after))
        return delay

    @staticmethod
    def _fall_back(err: QiaoError, rc: RouteConfig | None, more: bool) -> bool:
        if not more:
            return False
        if isinstance(err, ContentFiltered):
            return bool(rc and rc.fallback_on_content_filter)
        if err.code == "context_length_exceeded":
            return bool(rc is None or rc.fallback_on_context_length)
        if isinstance(err, UnsupportedParameter | ModelNotFound):
            return True  # another target may support it
        if isinstance(err, AuthenticationFailed | InsufficientQuota | PermissionDenied):
            return True  # this account is refused or out of money: another account may serve
        return err.retryable

    @staticmethod
    def _settle_permit(permit: Any, ctx: RequestContext) -> None:
        if permit is not None:
            u = ctx.usage
            permit.release(u.total_tokens if u is not None else None)

    # ---- views ----------------------------------------------------------------------------------------
    def health_report(self, labels: list[str]) -> dict[str, Any]:
        return {"targets": self.health.snapshot(labels), "accounts": self.limiter.snapshot()}
