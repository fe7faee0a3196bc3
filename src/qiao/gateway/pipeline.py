"""One request, end to end: resolve → check parameters → (context check) → call → parse → answer.

The server hands over a validated request and a :class:`RequestContext`; this module resolves the
route, admits the request (ledger: limits and budget), and hands one ``attempt`` function per endpoint to
the router (``gateway/router.py``), which orders the targets and retries and falls back; an attempt
prepares the request for one target, talks to the transport and parses the answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import Settings
from ..errors import (
    AuthenticationFailed,
    ContentFiltered,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    QiaoError,
    UnsupportedParameter,
    UpstreamError,
)
from ..providers.base import Call, SSEEvent, StreamState, WireResponse
from ..providers.openai_compat import BearerAuth
from ..transport.http import StreamResponse, Timeouts, Transport
from ..transport.sse import NDJSONDecoder, SSEDecoder
from ..types import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResult, Usage, message_text
from .embed import embedding_inputs, shorten
from .embed import encode_embedding as encode_embedding  # (the server's import, from before embed.py)
from .params import apply_param_policy, check_context, fits_cheaply
from .resolve import Resolver, Route, Target
from .router import Need, Router, StreamStarted
from .stream import ChunkCollector, StreamAssembler, sse_error

if TYPE_CHECKING:
    from ..ledger.meter import Ledger
    from ..providers.openai_compat import ContentTemplate
    from ..transport.ws import WSTransport

__all__ = ["Gateway", "Principal", "RequestContext"]

log = logging.getLogger(__name__)
_perf_counter = time.perf_counter
_T = TypeVar("_T")

# A body writer may return None for a chunk with more to come (written at once: the server's
# synchronous write); the pipeline awaits whatever else it returns.
SendBody = Callable[[bytes, bool], Awaitable[None] | None]
StartResponse = Callable[[int, list[tuple[bytes, bytes]]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the gateway key (and, with the key system, its tenant and limits)."""

    key_id: str
    name: str
    tenant: str | None = None
    models: tuple[str, ...] | None = None


class RequestContext:
    """One request's state, from the server through the pipeline to the ledger.

    A plain class with ``__slots__`` and its own ``__init__``, not a dataclass: the dataclass's generated
    ``__init__`` takes every field as a parameter and tests each default factory's sentinel (~1k
    instructions more per request, measured)."""

    __slots__ = (
        "request_id",
        "principal",
        "t0",
        "upstream_s",
        "waited_s",
        "attempts",
        "upstream_calls",
        "tried",
        "route",
        "client_request_id",
        "target",
        "dropped",
        "usage",
        "status",
        "first_byte_s",
        "model",
        "reservation",
        "extra_headers",
        "recorded",
        "cost_micros",
    )

    def __init__(self, request_id: str, principal: Principal | None) -> None:
        self.request_id = request_id
        self.principal = principal
        self.t0: float = _perf_counter()
        self.upstream_s = 0.0
        self.waited_s = 0.0  # backoff before retries and waits for an account's outbound limits
        self.attempts = 0  # attempts that reached an upstream (retries and fallbacks included)
        self.upstream_calls = 0  # upstream HTTP calls (token refreshes and embedding batches included)
        self.tried: list[tuple[str, str, float]] = []  # (target, outcome, ms) per attempt
        self.route: str | None = None
        self.client_request_id: str | None = None  # the client's X-Client-Request-Id / X-Request-Id, echoed
        self.target: Target | None = None
        self.dropped: tuple[str, ...] = ()
        self.usage: Usage | None = None
        self.status = 200
        self.first_byte_s: float | None = None
        # ledger (qiao/ledger/meter.py): requested model, reservation held, rate-limit headers, record state
        self.model: str | None = None
        self.reservation: Any = None
        self.extra_headers: list[tuple[bytes, bytes]] = []
        self.recorded = False
        self.cost_micros: int | None = None

    def __repr__(self) -> str:
        return f"RequestContext({', '.join(f'{n}={getattr(self, n)!r}' for n in self.__slots__)})"

    def id_headers(self) -> list[tuple[bytes, bytes]]:
        h = [(b"x-request-id", self.request_id.encode())]
        if self.client_request_id is not None:
            h.append((b"x-client-request-id", self.client_request_id.encode()))
        return h

    def headers(self) -> list[tuple[bytes, bytes]]:
        # id_headers inlined, the usual attempt counts' headers made once (this runs on every answer)
        h = [(b"x-request-id", self.request_id.encode())]
        if self.client_request_id is not None:
            h.append((b"x-client-request-id", self.client_request_id.encode()))
        if self.target is not None:
            h += self.target.headers
        n = self.attempts
        h.append(_ATTEMPTS[n] if n < 4 else (b"x-qiao-attempts", b"%d" % n))
        if self.route is not None:
            h.append((b"x-qiao-route", self.route.encode()))
        if len(self.tried) > 1:
            h.append((b"x-qiao-tried", ", ".join(f"{t}={o}" for t, o, _ in self.tried).encode()))
        if self.dropped:
            h.append((b"x-qiao-dropped-params", ",".join(self.dropped).encode()))
        # the gateway's own work: neither upstream time nor deliberate waits (backoff, account queues)
        overhead = (time.perf_counter() - self.t0 - self.upstream_s - self.waited_s) * 1000
        h.append((b"x-qiao-overhead-ms", b"%.3f" % (overhead if overhead >= 0.0 else 0.0)))  # max(), no call
        return h


_ATTEMPTS = [(b"x-qiao-attempts", b"%d" % n) for n in range(4)]


def _allowed(principal: Principal | None, model: str) -> bool:
    if principal is None or principal.models is None:
        return True
    import fnmatch

    return any(fnmatch.fnmatchcase(model, p) for p in principal.models)


class Gateway:
    def __init__(self, settings: Settings, transport: Transport | None = None) -> None:
        self.settings = settings
        self.resolver = Resolver(settings)
        s = settings.server
        self.timeouts = Timeouts(s.connect_timeout_s, s.first_byte_timeout_s, s.total_timeout_s)
        self.transport = transport or Transport(self.timeouts)
        self.ledger: Ledger | None = None  # set by the server when a database is configured
        self._ws: WSTransport | None = None
        self.router = Router(settings, self.timeouts)
        self.router.health.track(self.resolver.labels())  # other replicas' open breakers apply at once

    def apply_settings(self, settings: Settings) -> None:
        """Swap in a new configuration (accounts or grants changed through the admin API): the route
        table is rebuilt; health, latency and outbound-limit state is kept (it is keyed by target label)."""
        resolver = Resolver(settings)  # raises ConfigError before anything changes
        self.settings = settings
        self.resolver = resolver
        self.router.apply_settings(settings)
        self.router.health.track(resolver.labels())

    @property
    def ws(self) -> WSTransport:
        """The WebSocket transport (``transport/ws.py``), created on first use by a WebSocket provider."""
        if self._ws is None:
            from ..transport.ws import WSTransport

            self._ws = WSTransport(self.timeouts)
        return self._ws

    def _admit_now(self, model: str, ctx: RequestContext) -> bool:
        """Ledger hook, the part without I/O: note the requested model; True when the key has limits or a
        budget to check (then ``await self._admit(...)``). Most keys have none: no coroutine for them."""
        ctx.model = model
        return self.ledger is not None and self.ledger.limited(ctx.principal)

    async def _admit(self, req: ChatRequest | EmbeddingRequest, route: Route, ctx: RequestContext) -> None:
        """Ledger hook: rate limits and budget reservation, before any upstream call (only when
        :meth:`_admit_now` said so)."""
        assert self.ledger is not None
        if isinstance(req, ChatRequest):
            chars = sum(len(message_text(m.content)) + 4 for m in req.messages)
            await self.ledger.admit(chars, req.output_limit, route, ctx)
        else:
            inp = req.input
            chars = (
                len(inp)
                if isinstance(inp, str)
                else sum(len(x) if isinstance(x, str | list) else 1 for x in inp)
            )
            await self.ledger.admit(chars, 0, route, ctx)

    async def aclose(self) -> None:
        await self.router.aclose()
        await self.transport.aclose()
        if self._ws is not None:
            await self._ws.aclose()

    # ---- shared ---------------------------------------------------------------------------------------
    def route_for(self, model: str, ctx: RequestContext) -> Route:
        p = ctx.principal
        tenant = p.tenant if p is not None else None
        res = self.resolver
        # resolve's first step (a route for all tenants) without the call when no tenant has its own
        # routes; anything else through resolve (tests/gateway/test_routing.py compares the two)
        route = res.routes.get(model) if tenant is None or not res.tenanted else None
        if route is None:
            route = res.resolve(model, tenant)
        if route is None:
            raise ModelNotFound(
                f"The model `{model}` does not exist or you do not have access to it. "
                "Use GET /v1/models to list the models this gateway serves.",
                param="model",
            )
        if p is not None and p.models is not None and not _allowed(p, model):  # (no call for most keys)
            raise PermissionDenied(
                f"this API key may not use the model `{model}`", param="model", code="model_not_allowed"
            )
        if route.config is not None:
            ctx.route = route.name
        return route

    def _prepare(
        self,
        req: ChatRequest,
        target: Target,
        route: Route,
        ctx: RequestContext,
        stream: bool,
        params: Mapping[str, Any],
        need: Need,
    ) -> tuple[ChatRequest, Call, bool]:
        """The request to send to this target and its call; the flag asks the caller to run
        :func:`check_context` off the event loop (a prompt too near the window to bound cheaply).
        Not a coroutine: that check is rare, and this runs on every attempt."""
        if params:
            req = req.with_params(params)
        if not target.spec.caps.chat:
            raise InvalidRequest(
                f"{target.label} is not a chat model (use it with /v1/embeddings)",
                param="model",
                code="model_not_supported",
            )
        spec = target.spec
        if need.harmless and req is need.request:
            sent = req  # nothing to refuse or drop (apply_param_policy's short cut, without the call)
        else:
            rc = route.config  # drop the parameters a target cannot honour? The route says, else the server
            drop = (
                rc.drop_params
                if rc is not None and rc.drop_params is not None
                else self.settings.server.drop_params
            )
            sent = apply_param_policy(req, target.provider, spec, drop, target.label)
        # The router already bounded (and, when in doubt, tokenised) the client's prompt: reuse that
        # unless this target sends a different one (overrides or dropped parameters).
        same = sent is req and req is need.request
        tokenise = False
        if same:
            # fits_cheaply's test with the request's output limit as Need read it (need.out): no reads
            # through pydantic's attribute hook (~400 instructions each); fits_cheaply raises the error
            out = need.out
            if (out > spec.max_output and spec.max_output) or need.prompt_bytes + out > spec.context:
                if not fits_cheaply(sent, spec, need.prompt_bytes):
                    if need.context_tokens is not None:
                        check_context(sent, spec, need.context_tokens)
                    else:
                        tokenise = True
            ctx.dropped = need.dropped  # the client's request's (sent.dropped)
        else:
            if not fits_cheaply(sent, spec):
                tokenise = True
            ctx.dropped = sent.dropped
        call = Call(target.account, spec, need.model if same else req.model, ctx.request_id, stream)
        return sent, call, tokenise

    # ---- chat, non-streaming --------------------------------------------------------------------------
    def chat(self, req: ChatRequest, ctx: RequestContext) -> Awaitable[ChatResponse]:
        """A non-streaming chat answer (await it). Not a coroutine itself: for a key without limits or
        budget it returns the router's coroutine (each coroutine layer costs ~1.5k instructions to create
        and to resume through when the answer comes; the admission check's coroutine as much again).
        Errors found before any attempt (unknown model, key not allowed) raise here."""
        model = req.model  # read once (pydantic's attribute hook: ~400 instructions a read)
        route = self.route_for(model, ctx)
        ctx.model = model  # _admit_now inlined
        need = Need(req)
        # the attempt function is _call_chat itself, bound by a partial: no closure coroutine between the
        # router and the upstream call
        attempt = partial(self._call_chat, req, route, ctx, need)
        ledger = self.ledger
        if ledger is not None and ledger.limited(ctx.principal):
            return self._admitted(req, route, ctx, need, attempt, False)
        return self.router.run(route, need, ctx, attempt)

    async def _admitted(
        self,
        req: ChatRequest,
        route: Route,
        ctx: RequestContext,
        need: Need,
        attempt: Callable[[Target, Mapping[str, Any], Timeouts], Awaitable[_T]],
        stream: bool,
    ) -> _T:
        """:meth:`chat` or :meth:`chat_stream` for a key with limits or a budget: admitted (and its budget
        reserved) first (the caller did :meth:`_admit_now`'s part)."""
        await self._admit(req, route, ctx)
        return await self.router.run(route, need, ctx, attempt, stream)

    async def _call_chat(
        self,
        client_req: ChatRequest,
        route: Route,
        ctx: RequestContext,
        need: Need,
        target: Target,
        params: Mapping[str, Any],
        timeouts: Timeouts,
    ) -> ChatResponse:
        """One try of a non-streaming chat on one target (the router's attempt function)."""
        req, call, tokenise = self._prepare(client_req, target, route, ctx, False, params, need)
        if tokenise:
            await asyncio.to_thread(check_context, req, target.spec)
        provider = target.provider
        if provider.stream_format == "websocket":
            ws_out = await self._collect_ws(req, call, target, ctx, timeouts)
            ctx.usage = ws_out.usage
            return ws_out
        auth = provider.auth
        for auth_try in range(2):
            wire = provider.build_chat(req, call)
            if type(auth) is BearerAuth:  # no I/O to wait for: no coroutine, no fetcher (~2.5k instructions)
                auth.put(wire, call.account)
            else:
                wire = await auth.apply(wire, call.account, self.transport.fetcher(call.account))
            ctx.upstream_calls += 1
            t = time.perf_counter()
            try:
                resp = await self.transport.send(wire, call.account, timeouts)
            finally:
                ctx.upstream_s += time.perf_counter() - t
            err = provider.classify(resp, call)
            if err is None:
                out = provider.parse_chat(resp, req, call)
                out.model = call.public_model  # req.model (as _prepare put it in the call)
                out.id = f"chatcmpl-{ctx.request_id}"
                ctx.usage = out.usage
                return out
            if (
                auth_try == 0
                and isinstance(err, AuthenticationFailed)
                and provider.auth.on_auth_error(call.account, err)
            ):
                continue
            raise err
        raise UpstreamError("unreachable")  # pragma: no cover

    async def _collect_ws(
        self, req: ChatRequest, call: Call, target: Target, ctx: RequestContext, timeouts: Timeouts
    ) -> ChatResponse:
        """A non-streaming answer from a WebSocket upstream: its events folded into one response."""
        provider = target.provider
        wire = provider.build_chat(req, call)
        wire = await provider.auth.apply(wire, call.account, self.transport.fetcher(call.account))
        ctx.upstream_calls += 1
        t = time.perf_counter()
        up = await self.ws.stream(wire, call.account, timeouts)
        try:
            if up.status >= 400:
                body = await up.read_all()
                err = provider.classify(WireResponse(up.status, up.headers, body), call) or UpstreamError(
                    f"{provider.name} refused the WebSocket ({up.status})", provider=provider.name
                )
                raise err
            from ..transport.ws import MessageDecoder

            decoder, state, col = MessageDecoder(), StreamState(call, req), ChunkCollector()
            async for raw in up.iter_chunks():
                for ev in decoder.feed(raw):
                    try:
                        for ch in provider.parse_event(ev, state):
                            col.feed(ch)
                    except ContentFiltered:
                        if not col.has_output():
                            raise  # nothing answered yet: the request itself was refused
                        col.feed(_filtered_chunk(None))
                        state.done = True
                    if state.done:
                        break
                if state.done:
                    break
            if not state.done and not col.finished:
                raise UpstreamError(
                    f"{provider.name} closed the stream before it ended",
                    provider=provider.name,
                    code="upstream_stream_cut",
                )
        finally:
            ctx.upstream_s += time.perf_counter() - t
            up.close()
        out = col.result()
        if isinstance(state.usage, Usage):
            out.usage = state.usage
        out.model = req.model
        out.id = f"chatcmpl-{ctx.request_id}"
        out.created = int(time.time())
        return out

    # ---- chat, streaming ------------------------------------------------------------------------------
    def chat_stream(
        self,
        req: ChatRequest,
        ctx: RequestContext,
        start: StartResponse,
        send: SendBody,
        legacy: bool = False,
    ) -> Awaitable[None]:
        """Stream a chat answer (await it). Errors before the first byte raise (the caller answers with a
        status); errors after it end the stream with an error event. Not a coroutine itself, like
        :meth:`chat`: for a key without limits or budget it returns the router's coroutine, which ends
        quietly on :class:`StreamStarted` (``stream=True``). Errors found before any attempt raise here."""
        model = req.model  # read once (pydantic's attribute hook)
        route = self.route_for(model, ctx)
        ctx.model = model  # _admit_now inlined, as in chat
        need = Need(req)
        attempt = partial(self._stream_attempt, req, route, ctx, need, start, send, legacy)
        ledger = self.ledger
        if ledger is not None and ledger.limited(ctx.principal):
            return self._admitted(req, route, ctx, need, attempt, True)
        return self.router.run(route, need, ctx, attempt, True)

    def _stream_attempt(
        self,
        client_req: ChatRequest,
        route: Route,
        ctx: RequestContext,
        need: Need,
        start: StartResponse,
        send: SendBody,
        legacy: bool,
        target: Target,
        params: Mapping[str, Any],
        timeouts: Timeouts,
    ) -> Awaitable[None]:
        """One try of a streaming chat on one target (the router's attempt function). A plain function:
        for a bearer key and a prompt bounded without tokenising (the usual case) the router awaits
        :meth:`_stream_one` itself; :meth:`_stream_checked` wraps it only when there is something to do
        around it."""
        req, call, tokenise = self._prepare(client_req, target, route, ctx, True, params, need)
        if not tokenise and type(target.provider.auth) is BearerAuth:
            # BearerAuth's on_auth_error is AuthScheme's (always False): the retry below never happens
            return self._stream_one(req, call, target, ctx, timeouts, start, send, legacy)
        return self._stream_checked(req, call, target, ctx, timeouts, start, send, legacy, tokenise)

    async def _stream_checked(
        self,
        req: ChatRequest,
        call: Call,
        target: Target,
        ctx: RequestContext,
        timeouts: Timeouts,
        start: StartResponse,
        send: SendBody,
        legacy: bool,
        tokenise: bool,
    ) -> None:
        """:meth:`_stream_one` after the context check off the event loop (when ``tokenise``), with one
        more try for a refreshable credential (an expired token) refused before the first byte."""
        if tokenise:
            await asyncio.to_thread(check_context, req, target.spec)
        try:
            await self._stream_one(req, call, target, ctx, timeouts, start, send, legacy)
        except AuthenticationFailed as err:
            if not target.provider.auth.on_auth_error(call.account, err):
                raise
            await self._stream_one(req, call, target, ctx, timeouts, start, send, legacy)

    async def _stream_one(
        self,
        req: ChatRequest,
        call: Call,
        target: Target,
        ctx: RequestContext,
        timeouts: Timeouts,
        start: StartResponse,
        send: SendBody,
        legacy: bool,
    ) -> None:
        provider = target.provider
        wire = provider.build_chat(req, call)
        auth = provider.auth
        if type(auth) is BearerAuth:  # no I/O to wait for: no coroutine, no fetcher (as in _chat_on)
            auth.put(wire, call.account)
        else:
            wire = await auth.apply(wire, call.account, self.transport.fetcher(call.account))
        ctx.upstream_calls += 1
        t = time.perf_counter()
        ws = provider.stream_format == "websocket"
        up = await (self.ws if ws else self.transport).stream(wire, call.account, timeouts)
        started = False
        asm: StreamAssembler | None = None
        state: StreamState | None = None
        try:
            ctype = up.headers.get("content-type", "")
            expected = "ndjson" if provider.stream_format == "ndjson" else "event-stream"
            if up.status >= 400 or (
                expected not in ctype and "json" in ctype and provider.stream_format == "sse"
            ):
                body = await up.read_all()
                resp = WireResponse(up.status, up.headers, body)
                err = provider.classify(resp, call)
                if err is None:
                    err = UpstreamError(
                        f"{provider.name} answered a stream request without a stream", provider=provider.name
                    )
                raise err
            decoder: Any
            if ws:
                from ..transport.ws import MessageDecoder

                decoder = MessageDecoder()
            else:
                decoder = NDJSONDecoder() if provider.stream_format == "ndjson" else SSEDecoder()
            state = StreamState(call, req)
            chunk_id = f"{'cmpl' if legacy else 'chatcmpl'}-{ctx.request_id}"
            asm = StreamAssembler(chunk_id, int(time.time()), req.model, req.wants_usage_chunk, legacy)
            # The lean path for plain content events, where the provider offers one (openai_compat's
            # ContentTemplate): their texts straight to the assembler, no parse, no chunk objects.
            offer = getattr(provider, "content_template", None) if provider.stream_format == "sse" else None
            template: ContentTemplate | None = offer(provider, state) if offer is not None else None
            # A plain coroutine per read (StreamResponse.read), not an async generator: see its docstring.
            read = up.read if isinstance(up, StreamResponse) else _reader(up.iter_chunks())
            last = b""  # the final read's bytes, sent together with the end of the stream (one write)
            while True:
                raw = await read()
                if raw is None:
                    for ev in decoder.close():
                        for ch in provider.parse_event(ev, state):
                            data = asm.feed(ch)
                            if data:
                                if not started:
                                    ctx.upstream_s += time.perf_counter() - t
                                    await start(200, ctx.headers())
                                    started = True
                                w = send(data, True)
                                if w is not None:
                                    await w
                    break
                if ctx.first_byte_s is None:
                    ctx.first_byte_s = time.perf_counter() - ctx.t0
                events: Iterable[SSEEvent | tuple[int, list[str], list[bytes] | None]] = (
                    decoder.feed(raw) if template is None else template.events(raw, decoder)
                )
                out: list[bytes] = []
                for ev in events:
                    if isinstance(ev, tuple):  # (choice, texts, encoded) of a run of plain content events
                        out.append(asm.contents(*ev))
                        continue
                    if template is not None:
                        # content, role, finish, usage, [DONE]: read without chunk objects
                        simple = template.take(ev.data)
                        if simple is not None:
                            if state.done:  # [DONE] (take() sets done for it alone): nothing to write
                                break
                            out.append(asm.plain(*simple))
                            continue
                    try:
                        chunks = provider.parse_event(ev, state)
                    except ContentFiltered:
                        if not started and not any(out):
                            raise  # nothing answered yet: the request itself was refused
                        # (text from earlier events of this same read counts as answered)
                        out.append(asm.feed(_filtered_chunk(asm)))
                        state.done = True
                        break
                    for ch in chunks:
                        out.append(asm.feed(ch))
                    if state.done:
                        break
                data = b"".join(out)
                if not started:
                    if not data and not state.done:
                        continue  # wait for the first real event: errors before it still get a status
                    ctx.upstream_s += time.perf_counter() - t
                    await start(200, ctx.headers())
                    started = True
                if state.done:
                    last = data
                    break
                if data:
                    w = send(data, True)  # None: written already (no coroutine per chunk)
                    if w is not None:
                        await w
            if not state.done and not asm.all_finished():
                err = UpstreamError(
                    f"{provider.name} closed the stream before it ended",
                    provider=provider.name,
                    code="upstream_stream_cut",
                )
                if not started:
                    raise err
                ctx.status = 502
                ctx.usage = _estimate_usage(asm, state)
                w = send(sse_error(err), False)
                if w is not None:
                    await w
                raise StreamStarted(err)
            usage = state.usage if isinstance(state.usage, Usage) else asm.usage
            if usage is None:
                usage = _estimate_usage(asm, state)
            ctx.usage = usage
            if not started:
                ctx.upstream_s += time.perf_counter() - t
                await start(200, ctx.headers())
                started = True
            w = send(last + asm.finish(usage), False)
            if w is not None:
                await w
            await up.drain()
        except QiaoError as err:
            if not started:
                raise
            ctx.status = err.status
            if ctx.usage is None and asm is not None and state is not None:
                ctx.usage = _estimate_usage(asm, state)
            w = send(sse_error(err), False)
            if w is not None:
                await w
            raise StreamStarted(err) from None
        except asyncio.CancelledError:
            # the client left mid-stream: bill what was generated so far (an estimate, marked as such)
            if ctx.usage is None and asm is not None and state is not None:
                ctx.usage = _estimate_usage(asm, state)
            raise
        finally:
            up.close()

    # ---- embeddings -----------------------------------------------------------------------------------
    async def embeddings(self, req: EmbeddingRequest, ctx: RequestContext) -> EmbeddingResult:
        model = req.model
        route = self.route_for(model, ctx)
        inputs = embedding_inputs(req)
        if self._admit_now(model, ctx):
            await self._admit(req, route, ctx)

        async def attempt(target: Target, params: Mapping[str, Any], timeouts: Timeouts) -> EmbeddingResult:
            if not target.spec.caps.embeddings:
                raise UnsupportedParameter(
                    f"{target.label} is not an embedding model", param="model", code="model_not_supported"
                )
            return await self._embed_on(req, inputs, target, ctx, timeouts)

        return await self.router.run(route, _EMBED_NEED, ctx, attempt)

    async def _embed_on(
        self,
        req: EmbeddingRequest,
        inputs: list[str],
        target: Target,
        ctx: RequestContext,
        timeouts: Timeouts,
    ) -> EmbeddingResult:
        spec = target.spec
        if req.dimensions is not None and spec.dimensions is not None and req.dimensions > spec.dimensions:
            raise InvalidRequest(
                f"dimensions must be at most {spec.dimensions} for {target.label}", param="dimensions"
            )
        call = Call(target.account, spec, req.model, ctx.request_id)
        size = max(1, spec.embedding_batch)
        batches = [inputs[i : i + size] for i in range(0, len(inputs), size)]
        sem = asyncio.Semaphore(4)

        async def one(batch: list[str]) -> EmbeddingResult:
            async with sem:
                for auth_try in range(2):
                    wire = target.provider.build_embeddings(req, batch, call)
                    wire = await target.provider.auth.apply(
                        wire, call.account, self.transport.fetcher(call.account)
                    )
                    ctx.upstream_calls += 1
                    t = time.perf_counter()
                    resp = await self.transport.send(wire, call.account, timeouts)
                    ctx.upstream_s += time.perf_counter() - t
                    err = target.provider.classify(resp, call)
                    if err is None:
                        break
                    if not (
                        auth_try == 0
                        and isinstance(err, AuthenticationFailed)
                        and target.provider.auth.on_auth_error(call.account, err)
                    ):
                        raise err
                res = target.provider.parse_embeddings(resp, call)
                if len(res.vectors) != len(batch):
                    raise UpstreamError(
                        f"{target.provider.name} returned {len(res.vectors)} embeddings for "
                        f"{len(batch)} inputs",
                        provider=target.provider.name,
                    )
                return res

        results = await asyncio.gather(*(one(b) for b in batches))
        vectors: list[list[float]] = []
        usage = Usage()
        for r in results:
            vectors.extend(r.vectors)
            usage.prompt_tokens += r.usage.prompt_tokens
            usage.estimated = usage.estimated or r.usage.estimated
        if req.dimensions is not None:
            vectors = [shorten(v, req.dimensions) if len(v) > req.dimensions else v for v in vectors]
        ctx.usage = usage
        return EmbeddingResult(vectors, usage)


_EMBED_NEED = Need(None)


def _reader(chunks: AsyncIterator[bytes]) -> Callable[[], Awaitable[bytes | None]]:
    """``read()`` over an async iterator of chunks (the WebSocket transport's)."""

    async def read() -> bytes | None:
        return await anext(chunks, None)

    return read


def _filtered_chunk(asm: StreamAssembler | None):  # type: ignore[no-untyped-def]
    from ..types import ChatChunk, ChunkChoice, Delta

    return ChatChunk([ChunkChoice(0, Delta(), "content_filter")])


def _estimate_usage(asm: StreamAssembler, state: StreamState) -> Usage:
    from ..tokens import count
    from .params import estimate_prompt_tokens

    prompt = estimate_prompt_tokens(state.request)
    completion = sum(count(asm.text_of(i)) for i in asm.texts)
    # Reasoning is billed as output (OpenAI counts it in completion_tokens) but is not answer content.
    reasoning = sum(count("".join(parts)) for parts in asm.reasoning.values())
    return Usage(prompt, completion + reasoning, reasoning_tokens=reasoning, estimated=True)
