"""The gateway as a plain ASGI application (no framework on the hot path).

``create_app(settings)`` returns the app; the lifespan opens the upstream connection pools and loads the
token vocabulary in a thread; ``app.draining`` (set on SIGTERM) turns ``/readyz`` unready at once.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError

from ..config import Settings, hash_key
from ..errors import (
    AuthenticationFailed,
    InvalidRequest,
    ModelNotFound,
    NotFound,
    PayloadTooLarge,
    QiaoError,
)
from ..gateway.pipeline import Gateway, Principal, RequestContext, encode_embedding
from ..types import ChatRequest, CompletionRequest, EmbeddingRequest, Usage, plain_chat_request
from .request import (
    Head,
    Receive,
    Request,
    Scope,
    Send,
    _AsgiRequest,
    _client_request_id,
    _scan,
    _validation_error,
)

if TYPE_CHECKING:
    from ..ledger.meter import Ledger

__all__ = ["GatewayApp", "create_app"]

log = logging.getLogger(__name__)

JSON_CT = (b"content-type", b"application/json")
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
Reply = (
    tuple[int, Any, list[tuple[bytes, bytes]]] | None
)  # an endpoint's JSON answer (status, object, headers)


# Request ids: a random per-process prefix and a counter: unique across processes and replicas (64 random
# bits per process), in order within one, and without a system call per request (os.urandom is one).
_ID_PREFIX = os.urandom(8).hex()
_id_counter = itertools.count(1)


_LOOKUP: Any = object()  # authenticate_now's answer for a key only the ledger's store may know


class GatewayApp:
    def __init__(self, settings: Settings, gateway: Gateway | None = None) -> None:
        self.settings = settings
        self.gateway = gateway or Gateway(settings)
        self.draining = False
        self.ready = False
        self.inflight = 0
        self._keys: dict[str, tuple[str, Principal]] = {}
        for k in settings.keys:
            self._keys[k.digest] = (
                k.digest,
                Principal(k.digest[:12], k.name, k.tenant, tuple(k.models) if k.models is not None else None),
            )
        # the bound method, kept: qiao_direct knows it by identity (a new bound method is made per access)
        self._chat_handler = self.chat_completions
        self._routes: dict[tuple[str, str], Callable[..., Awaitable[Reply]]] = {
            ("POST", "/v1/chat/completions"): self._chat_handler,
            ("POST", "/v1/completions"): self.completions,
            ("POST", "/v1/embeddings"): self.embeddings,
            ("GET", "/v1/models"): self.list_models,
            ("GET", "/healthz"): self.healthz,
            ("GET", "/readyz"): self.readyz,
        }
        self.max_body = settings.server.max_body_bytes
        # ---- ledger hooks (qiao/ledger): keys, limits, budgets, usage records --------------------------
        self.ledger: Ledger | None = None
        if "database" in settings.model_fields_set:  # qiao.ledger.meter.ledger_enabled, without the import
            from ..ledger.meter import Ledger

            self.ledger = Ledger(settings)
        self.gateway.ledger = self.ledger
        if self.ledger is not None:
            self.gateway.router.grants = self.ledger.grants  # live grant balances for grants_first
            # accounts and grants changed in the database rebuild the routes
            self.ledger.on_settings = self.gateway.apply_settings
        self.admin: Any = None
        if self.ledger is not None and settings.admin.digest is not None:
            from .admin import AdminAPI

            self.admin = AdminAPI(self.ledger, settings, self.gateway)

    # ---- ASGI entry -----------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        typ = scope["type"]
        if typ == "http":
            await self.qiao_direct(_AsgiRequest(scope, receive, send))
        elif typ == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                if self.ledger is not None:
                    await self.ledger.start()
                await self.gateway.router.start()
                self.ready = True
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                self.draining = True
                self.ready = False
                await self.gateway.aclose()
                if self.ledger is not None:
                    await self.ledger.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def qiao_direct(self, r: Request) -> None:
        """One HTTP request. qiao's server protocol calls this with its exchange (``protocol._Exchange``:
        no scope or message dicts, the whole reply in one call); ``__call__`` with an ASGI request seen
        through the same interface (``_AsgiRequest``, for uvicorn's protocol and ASGI test clients)."""
        # The protocol's exchange runs this coroutine as its task, with no wrapper of its own (one frame
        # fewer on every resumption of the task): what escapes goes to r.finish, which says whether to
        # raise it on (the ASGI adapter: to the ASGI server) or has dealt with it (the exchange: a 500).
        escaped: BaseException | None = None
        try:
            path = r.path
            method = r.method
            ctx = RequestContext(f"{_ID_PREFIX}{next(_id_counter):08x}", None)  # the request id, built inline
            token, length, client = _scan(r.headers)
            if client is not None:
                ctx.client_request_id = _client_request_id(client)
            head = token, length
            handler = self._routes.get((method, path))
            self.inflight += 1
            metered = (
                self.ledger is not None
                and handler is not None
                and path.startswith("/v1/")
                and method == "POST"
            )
            try:
                if self.admin is not None and path.startswith("/admin/"):
                    await self.admin.handle(r.scope, r.receive, r.send, ctx)
                    out = None
                elif handler is None:
                    if method == "GET" and path.startswith("/v1/models/"):
                        out = await self.get_model(r, ctx, head)
                    else:
                        known = any(p == path for _, p in self._routes)
                        if known:
                            raise InvalidRequest(
                                f"method {method} is not allowed on {path}", code="method_not_allowed"
                            )
                        raise NotFound(f"Invalid URL ({method} {path})", code="unknown_url")
                elif handler is self._chat_handler:
                    # The usual request, answered here without chat_completions' coroutine: one layer less to
                    # create, and to resume through when the upstream answers (~1.5k instructions each)
                    req = self._chat_request_now(r, head, ctx)
                    if req is None:
                        out = await handler(r, ctx, head)
                    elif req.__dict__["stream"]:  # plain dict read: see ChatRequest.set_fields
                        await self._stream(req, r, ctx, False)
                        out = None
                    else:
                        resp = await self.gateway.chat(req, ctx)
                        out = 200, resp.to_dict(), ctx.headers()
                else:
                    out = await handler(r, ctx, head)
                if out is not None:  # a JSON answer (a stream has answered already)
                    status, obj, extra = out
                    body = orjson.dumps(obj)
                    # a length, not chunked framing: one body message, read without a chunk parser
                    headers = [JSON_CT, (b"content-length", b"%d" % len(body)), *extra]
                    record = None
                    if metered:  # what _metered_send does to a start and a last body message
                        if ctx.extra_headers:
                            headers += ctx.extra_headers
                        record = partial(self.ledger.record, ctx, path[4:])  # type: ignore[union-attr]
                    wait = r.reply(status, headers, body, record)
                    if wait is not None:
                        await wait
            except QiaoError as err:
                await self._error(self._sender(r, ctx, metered), err, ctx)
            except Exception as exc:  # noqa: BLE001 - the client gets an OpenAI error, never a stack trace
                log.exception("unhandled error in request %s", ctx.request_id)
                internal = QiaoError(f"internal error ({type(exc).__name__}); request id {ctx.request_id}")
                await self._error(self._sender(r, ctx, metered), internal, ctx)
            finally:
                self.inflight -= 1
                # _settle has nothing to do for a recorded request without a reservation (keys without limits
                # or budgets): not calling it saves a coroutine
                if metered and (not ctx.recorded or ctx.reservation is not None):
                    await self._settle(ctx, path[4:])
        except GeneratorExit:  # the coroutine closed unfinished (loop teardown): nothing may be awaited
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the protocol (see above)
            escaped = exc
            if r.finish(exc):
                raise
        if escaped is None:
            r.finish(None)

    # ---- ledger hooks ---------------------------------------------------------------------------------
    def _sender(self, r: Request, ctx: RequestContext, metered: bool) -> Send:
        """The request's ASGI ``send``, metered on the ledger's endpoints; made only for an error
        (qiao_direct meters a JSON answer itself, _stream a stream: no wrapper to build for them)."""
        return self._metered_send(r.send, ctx, r.path[4:]) if metered else r.send

    def _metered_send(self, send: Send, ctx: RequestContext, endpoint: str) -> Send:
        """Add the rate-limit headers to the response, and write the usage record just before the
        last byte goes out (so a completed request's record survives SIGKILL)."""
        ledger = self.ledger
        assert ledger is not None

        # A plain function returning ``send``'s awaitable, not a coroutine of its own: one coroutine
        # fewer per message. The record is written when the last body message is handed over, before
        # the awaitable that sends it runs.
        def metered(msg: dict[str, Any]) -> Awaitable[None]:
            typ = msg["type"]
            if typ == "http.response.start":
                if ctx.extra_headers:
                    msg = {**msg, "headers": [*msg.get("headers", ()), *ctx.extra_headers]}
            elif typ == "http.response.body" and not msg.get("more_body", False):
                ledger.record(ctx, endpoint)
            return send(msg)

        return metered

    async def _settle(self, ctx: RequestContext, endpoint: str) -> None:
        """Every metered request ends here: its record (if the reply did not write it: the client left)
        and the settlement of its reservation, shielded from cancellation (STYLE §4.8)."""
        ledger = self.ledger
        assert ledger is not None
        try:
            if not ctx.recorded:
                if ctx.status == 200 and ctx.usage is None and not self.draining:
                    ctx.status = 499
                ledger.record(ctx, endpoint)
        finally:
            if ctx.reservation is not None and not ledger.settle_now(ctx):
                await asyncio.shield(ledger.settle(ctx))

    # ---- helpers --------------------------------------------------------------------------------------
    async def _error(self, send: Send, err: QiaoError, ctx: RequestContext) -> None:
        status = err.status
        ctx.status = status
        headers = [JSON_CT, *ctx.id_headers(), *err.headers()]
        try:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": err.body()})
        except (RuntimeError, OSError):  # the response had started, or the client left
            pass

    # The request's body and key, read without a coroutine when they can be (the usual case): a coroutine
    # call costs ~3.5k instructions (callgrind). The awaited versions below are the slow paths.
    def _body_now(self, r: Request, length: bytes | None) -> dict[str, Any] | None:
        """The JSON body if it has all arrived, else None (then ``await self._body(r)``)."""
        self._check_length(length)
        raw = r.body_ready()
        if raw is None:
            return None
        return self._body_ready(raw)

    def _body_ready(self, raw: bytes) -> dict[str, Any]:
        if len(raw) > self.max_body:
            raise PayloadTooLarge(f"request body exceeds {self.max_body} bytes")
        return self._parse_body(raw)

    async def _body(self, r: Request, length: bytes | None) -> dict[str, Any]:
        self._check_length(length)
        raw = r.body_ready()
        if raw is None:
            raw = await self._receive_body(r.receive)
        elif len(raw) > self.max_body:
            raise PayloadTooLarge(f"request body exceeds {self.max_body} bytes")
        return self._parse_body(raw)

    def _check_length(self, length: bytes | None) -> None:
        if length is not None:
            try:
                if int(length) > self.max_body:
                    raise PayloadTooLarge(f"request body exceeds {self.max_body} bytes")
            except ValueError:
                raise InvalidRequest("invalid Content-Length header") from None

    @staticmethod
    def _parse_body(raw: bytes) -> dict[str, Any]:
        if not raw:
            raise InvalidRequest(
                "We could not parse the JSON body of your request: the body is empty. "
                "(HINT: send a JSON object with Content-Type: application/json.)"
            )
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidRequest(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
                "your HTTP library correctly. The OpenAI API expects a JSON payload.)"
            ) from None
        if not isinstance(obj, dict):
            raise InvalidRequest("The JSON body must be an object.")
        return obj

    async def _receive_body(self, receive: Receive) -> bytes:
        chunks = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                raise asyncio.CancelledError()
            b = msg.get("body", b"")
            if b:
                size += len(b)
                if size > self.max_body:
                    raise PayloadTooLarge(f"request body exceeds {self.max_body} bytes")
                chunks.append(b)
            if not msg.get("more_body", False):
                break
        return b"".join(chunks)

    def authenticate_now(self, token: str | None, ctx: RequestContext) -> Any:
        """The principal of the request's key (``_scan``; None: anonymous), or ``_LOOKUP`` when only the
        ledger's store may know the key (then ``await self.authenticate(token, ctx)``)."""
        if token is None:
            if self.settings.server.allow_anonymous:
                return None
            raise AuthenticationFailed(
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code="missing_api_key",
            )
        digest = hash_key(token)
        if self.ledger is not None:
            principal = self.ledger.principal(digest)
            if principal is not None:
                ctx.principal = principal
                return principal
            return _LOOKUP
        return self._static_key(token, digest, ctx)

    async def authenticate(self, token: str | None, ctx: RequestContext) -> Principal | None:
        p = self.authenticate_now(token, ctx)
        if p is _LOOKUP:
            assert self.ledger is not None and token is not None
            digest = hash_key(token)
            principal = await self.ledger.lookup(token, digest)
            if principal is not None:
                ctx.principal = principal
                return principal
            return self._static_key(token, digest, ctx)
        return p  # type: ignore[no-any-return]

    def _static_key(self, token: str, digest: str, ctx: RequestContext) -> Principal:
        found = self._keys.get(digest)
        # Keys are kept only as SHA-256 digests. The lookup is by digest (an attacker cannot steer which
        # bucket a guess lands in); the final comparison is constant-time.
        if found is None or not hmac.compare_digest(found[0], digest):
            shown = token[:3] + "*" * 4 + token[-4:] if len(token) > 10 else "***"
            raise AuthenticationFailed(f"Incorrect API key provided: {shown}.")
        ctx.principal = found[1]
        return found[1]

    # ---- endpoints ------------------------------------------------------------------------------------
    # Each returns its JSON answer as (status, object, headers) for qiao_direct to send, or None when it
    # has answered itself (a stream).
    async def healthz(self, r: Request, ctx: RequestContext, head: Head) -> Reply:
        return 200, {"status": "ok"}, []

    async def readyz(self, r: Request, ctx: RequestContext, head: Head) -> Reply:
        if self.ready and not self.draining:
            return 200, {"status": "ready", "inflight": self.inflight}, []
        return 503, {"status": "draining" if self.draining else "starting"}, []

    async def list_models(self, r: Request, ctx: RequestContext, head: Head) -> Reply:
        p = await self.authenticate(head[0], ctx)
        data = [
            {"id": mid, "object": "model", "created": 1719792000, "owned_by": owner}
            for mid, owner in self.gateway.resolver.public_names(p.tenant if p is not None else None)
        ]
        return 200, {"object": "list", "data": data}, ctx.id_headers()

    async def get_model(self, r: Request, ctx: RequestContext, head: Head) -> Reply:
        p = await self.authenticate(head[0], ctx)
        from urllib.parse import unquote

        mid = unquote(r.path[len("/v1/models/") :])
        if self.gateway.resolver.resolve(mid, p.tenant if p is not None else None) is None:
            raise ModelNotFound(
                f"The model `{mid}` does not exist or you do not have access to it.", param="model"
            )
        owner = dict(self.gateway.resolver.public_names()).get(
            mid, mid.split("/", 1)[0] if "/" in mid else "qiao"
        )
        return 200, {"id": mid, "object": "model", "created": 1719792000, "owned_by": owner}, ctx.id_headers()

    def _chat_request_now(self, r: Request, head: Head, ctx: RequestContext) -> ChatRequest | None:
        """The chat request when it can be had without waiting (its key known without the store, its body
        all here: the usual case), else None (then :meth:`chat_completions` waits for what is missing).
        Raises what chat_completions would raise, in the same order."""
        token, length = head
        if token is None or self.ledger is not None:
            if self.authenticate_now(token, ctx) is _LOOKUP:
                return None
        else:  # a static key: authenticate_now without the call
            self._static_key(token, hash_key(token), ctx)
        # _body_now and _chat_request inlined for the usual body (one call each less, and their
        # _check_length and _parse_body); anything unusual goes through them, for their errors
        # _check_length's call only for a length it may object to (not all ASCII digits, or over the limit)
        if length is not None and not (length.isdigit() and int(length) <= self.max_body):
            self._check_length(length)
        raw = r.body_ready()
        if raw is None:
            return None
        if len(raw) > self.max_body or not raw:
            return self._chat_request(self._body_ready(raw))
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            obj = None
        if type(obj) is not dict:
            obj = self._parse_body(raw)  # raises its error
        req = plain_chat_request(obj)  # from_raw's fast path; a plain request passes _check_messages
        return req if req is not None else self._chat_request(obj)

    @staticmethod
    def _chat_request(raw: dict[str, Any]) -> ChatRequest:
        try:
            req = ChatRequest.from_raw(raw)
        except ValidationError as exc:
            raise _validation_error(exc) from None
        _check_messages(req)
        return req

    async def chat_completions(self, r: Request, ctx: RequestContext, head: Head) -> Reply:
        """The general path of POST /v1/chat/completions: qiao_direct answers a non-streaming request whose
        key and body are at hand itself (one coroutine layer less: see there)."""
        raw = await self._authed_body(r, ctx, head)
        req = self._chat_request(raw)
        if req.stream:
            await self._stream(req, r, ctx, False)
            return None
        resp = await self.gateway.chat(req, ctx)
        return 200, resp.to_dict(), ctx.headers()

    async def _stream(self, req: ChatRequest, r: Request, ctx: RequestContext, legacy: bool) -> None:
        """A streamed answer (chat or legacy completions), through the request's own stream calls
        (``begin``, ``send_body``: on qiao's protocol no message dict and no coroutine per message) and
        metered like ``_metered_send`` meters messages (a POST /v1/ endpoint: metered with a ledger)."""
        started = False
        ledger = self.ledger

        def start(status: int, headers: list[tuple[bytes, bytes]]) -> Awaitable[None]:
            nonlocal started
            started = True
            headers = SSE_HEADERS + headers
            record = None
            if ledger is not None:  # the rate-limit headers; the record written as the last byte goes out
                if ctx.extra_headers:
                    headers += ctx.extra_headers
                record = partial(ledger.record, ctx, r.path[4:])
            return r.begin(status, headers, record)

        # The client leaving cancels the stream (and the upstream call with it): ``r.watch`` (on qiao's
        # protocol the connection's loss cancels the task itself; no watcher, future or callback).
        r.watch()
        try:
            await self.gateway.chat_stream(req, ctx, start, r.send_body, legacy)
        except asyncio.CancelledError:
            if not r.unwatch():
                raise
            ctx.status = 499  # client closed: the upstream was closed with it
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            return
        except QiaoError:
            if started:
                return
            raise
        finally:
            r.unwatch()
        if not started:  # pragma: no cover - chat_stream always starts or raises
            raise QiaoError("stream ended without an answer")

    async def _authed_body(self, r: Request, ctx: RequestContext, head: Head) -> Any:
        """The key checked and the JSON body read (every POST endpoint but the chat fast path in
        ``qiao_direct``, which inlines the same steps)."""
        token, length = head
        if self.authenticate_now(token, ctx) is _LOOKUP:
            await self.authenticate(token, ctx)
        raw = self._body_now(r, length)
        if raw is None:
            raw = await self._body(r, length)
        return raw

    async def completions(self, r: Request, ctx: RequestContext, head: Head) -> Reply:
        """Legacy completions, served by the chat path (one user message per prompt)."""
        raw = await self._authed_body(r, ctx, head)
        try:
            creq = CompletionRequest.model_validate(raw)
        except ValidationError as exc:
            raise _validation_error(exc) from None
        for name in ("suffix", "echo", "logprobs", "best_of", "logit_bias"):
            v = getattr(creq, name)
            if v not in (None, False, 1) or (name == "logprobs" and v is not None):
                raise InvalidRequest(
                    f"'{name}' is not supported on the legacy completions endpoint by this gateway",
                    param=name,
                    code="unsupported_parameter",
                )
        prompts = [creq.prompt] if isinstance(creq.prompt, str) else creq.prompt
        if not prompts:
            raise InvalidRequest("'prompt' must not be empty", param="prompt")
        chat_fields = creq.model_dump(
            exclude_none=True, exclude={"prompt", "suffix", "echo", "logprobs", "best_of", "logit_bias"}
        )
        if creq.max_tokens == 0:
            chat_fields.pop("max_tokens", None)
        if creq.stream:
            if len(prompts) != 1:
                raise InvalidRequest("streaming supports one prompt at a time", param="prompt")
            req = ChatRequest.from_raw({**chat_fields, "messages": [{"role": "user", "content": prompts[0]}]})
            await self._stream(req, r, ctx, True)
            return None
        choices = []
        usage_p = usage_c = 0
        for pi, prompt in enumerate(prompts):
            req = ChatRequest.from_raw({**chat_fields, "messages": [{"role": "user", "content": prompt}]})
            resp = await self.gateway.chat(req, ctx)
            usage_p += resp.usage.prompt_tokens
            usage_c += resp.usage.completion_tokens
            for c in resp.choices:
                choices.append(
                    {
                        "text": c.message.content or "",
                        "index": pi * (creq.n or 1) + c.index,
                        "logprobs": None,
                        "finish_reason": c.finish_reason,
                    }
                )
        if len(prompts) > 1:  # the ledger records the whole request, not its last prompt
            ctx.usage = Usage(usage_p, usage_c)
        out = {
            "id": f"cmpl-{ctx.request_id}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": creq.model,
            "choices": choices,
            "usage": {
                "prompt_tokens": usage_p,
                "completion_tokens": usage_c,
                "total_tokens": usage_p + usage_c,
            },
        }
        return 200, out, ctx.headers()

    async def embeddings(self, r: Request, ctx: RequestContext, head: Head) -> Reply:
        raw = await self._authed_body(r, ctx, head)
        try:
            req = EmbeddingRequest.model_validate(raw)
        except ValidationError as exc:
            raise _validation_error(exc) from None
        res = await self.gateway.embeddings(req, ctx)
        fmt = req.encoding_format
        data = [
            {"object": "embedding", "index": i, "embedding": encode_embedding(v, fmt)}
            for i, v in enumerate(res.vectors)
        ]
        out = {
            "object": "list",
            "data": data,
            "model": req.model,
            "usage": {"prompt_tokens": res.usage.prompt_tokens, "total_tokens": res.usage.prompt_tokens},
        }
        return 200, out, ctx.headers()


def _check_messages(req: ChatRequest) -> None:
    """Role rules OpenAI enforces, so every provider sees a well-formed conversation."""
    # req.plain_bytes without the property (a read less through pydantic's attribute hook)
    st = req.__pydantic_private__
    if st is not None and st.get("plain") is not None:
        return  # text messages of the four plain roles, no tools: nothing here can be wrong
    tool_ids: set[str] = set()
    for i, m in enumerate(req.messages):
        d = m.__dict__  # plain dict reads: pydantic's attribute hook costs ~400 instructions a read
        role = d["role"]
        if role == "user" and d["content"] is not None:  # the usual message: nothing more to check
            continue
        if role == "assistant" and m.tool_calls:
            tool_ids.update(t.id for t in m.tool_calls)
        if role == "tool":
            if not m.tool_call_id:
                raise InvalidRequest(
                    f"Missing required parameter: 'messages[{i}].tool_call_id'.",
                    param=f"messages[{i}].tool_call_id",
                    code="missing_required_parameter",
                )
            if m.tool_call_id not in tool_ids:
                raise InvalidRequest(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceding message "
                    f"with 'tool_calls' (no tool call with id {m.tool_call_id!r}).",
                    param=f"messages[{i}].tool_call_id",
                )
        if role in ("user", "system", "developer") and d["content"] is None:
            raise InvalidRequest(
                f"Missing required parameter: 'messages[{i}].content'.",
                param=f"messages[{i}].content",
                code="missing_required_parameter",
            )
    rd = req.__dict__
    choice, tools = rd["tool_choice"], rd["tools"]
    if choice is None:
        return
    if not isinstance(choice, str) and tools:
        names = {t.function.name for t in tools}
        if choice.function.name not in names:
            raise InvalidRequest(
                f"Invalid value for 'tool_choice': no function named {choice.function.name!r} in 'tools'.",
                param="tool_choice",
            )
    if not tools and choice != "none":
        raise InvalidRequest(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            param="tool_choice",
        )


def create_app(settings: Settings) -> GatewayApp:
    return GatewayApp(settings)
