"""``openai_compat``: any upstream that speaks OpenAI's chat-completions API.

OpenAI itself, DeepSeek, Moonshot, vLLM, SGLang, Ollama's ``/v1``, llama.cpp's server and many more. The
generic instance has no catalogue: an account lists the models it serves (``models: [...]``) and each
gets a generous default :class:`ModelSpec`. Vendors with quirks are configured instances or small
subclasses of :class:`OpenAICompatible` in their own module (STYLE.md §3), overriding only the hooks
they need (``reasoning_field``, ``adjust_body``, ``classify_body``, ``parse_event``).

Request: the client's JSON is forwarded as sent (the fastest and most faithful translation), with
``model`` replaced by the upstream name, dropped parameters removed and ``stream_options.include_usage``
asked for when the upstream supports it (so usage is reported, not estimated).

Errors: OpenAI's envelope; the status is classified (upstream 5xx → 502, 503 → 503, 504 → 504, 429 with
``insufficient_quota`` → 429 ``insufficient_quota``), ``Retry-After`` is kept.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from ..catalogue import Capabilities, ModelSpec
from ..errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    InvalidRequest,
    ModelNotFound,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
    provider_error,
)
from ..types import (
    ChatChoice,
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ChunkChoice,
    Delta,
    EmbeddingRequest,
    EmbeddingResult,
    ToolCall,
    ToolCallDelta,
    Usage,
    WireChatResponse,
)
from .base import (
    Account,
    AuthScheme,
    Call,
    FetchFn,
    Provider,
    SSEEvent,
    StreamState,
    WireRequest,
    WireResponse,
)

if TYPE_CHECKING:
    from ..transport.sse import SSEDecoder

__all__ = ["BearerAuth", "ContentTemplate", "OpenAICompatible", "generic_spec", "parse_usage", "provider"]


class BearerAuth(AuthScheme):
    """``Authorization: Bearer <credential>`` (or another header, e.g. Azure's ``api-key``)."""

    def __init__(self, header: str = "Authorization", prefix: str = "Bearer ") -> None:
        self.header = header
        self.prefix = prefix

    async def apply(self, wire: WireRequest, account: Account, fetch: FetchFn) -> WireRequest:
        self.put(wire, account)
        return wire

    def put(self, wire: WireRequest, account: Account) -> None:
        """``apply`` without the coroutine (it does no I/O): the gateway calls this for a BearerAuth."""
        if account.credential:
            wire.headers[self.header] = self.prefix + account.credential


def generic_spec(model_id: str) -> ModelSpec:
    """What we assume of a model an account declares but no catalogue describes."""
    return ModelSpec(
        model_id,
        context=131_072,
        caps=Capabilities(
            tools=True,
            json_mode=True,
            json_schema=True,
            vision=True,
            embeddings=True,
            n=True,
            seed=True,
            parallel_tool_calls=True,
            tool_choice_required=True,
        ),
        max_output=8192,
    )


def parse_usage(u: Any, reasoning: int = 0) -> Usage | None:
    if not isinstance(u, dict):
        return None
    pt = int(u.get("prompt_tokens") or 0)
    ct = int(u.get("completion_tokens") or 0)
    details = u.get("prompt_tokens_details")
    cached = int((details and details.get("cached_tokens")) or u.get("prompt_cache_hit_tokens") or 0)
    cdetails = u.get("completion_tokens_details")
    rt = int((cdetails and cdetails.get("reasoning_tokens")) or reasoning or 0)
    return Usage(pt, ct, cached, rt)


def _render_plain(choices: list[Any], field: str) -> list[dict[str, Any]] | None:
    """The choices rendered as ``ChatChoice.to_dict`` renders what the general parse below builds from
    them, when none has tool calls or reasoning (None otherwise): the usual answer skips building the
    ChatChoice/ChatMessage objects and turning them back into dicts (~10k instructions; see
    types.WireChatResponse, and tests/test_wire_response.py for the two paths' bytes compared)."""
    out: list[dict[str, Any]] = []
    for c in choices:
        m = c.get("message") or {}
        if (
            m.get("tool_calls")
            or m.get(field) is not None
            or (field != "reasoning_content" and m.get("reasoning_content") is not None)
        ):
            return None
        fr = c.get("finish_reason") or "stop"
        out.append(
            {
                "index": int(c.get("index", len(out))),
                "message": {
                    "role": "assistant",
                    "content": m.get("content"),
                    "refusal": m.get("refusal"),
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": _FINISH.get(fr, fr),
            }
        )
    return out


_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "tool_calls",
    "eos": "stop",
    "sensitive": "content_filter",
    "normal": "stop",
}


class OpenAICompatible(Provider):
    """Configurable adapter for OpenAI-shaped upstreams."""

    name = "openai_compat"
    display_name = "OpenAI-compatible (generic)"
    default_base_url = "http://127.0.0.1:8000/v1"
    credential_format = "the upstream's API key (sent as a Bearer token); none for servers without auth"
    emulator = "qiao.emulators.openai_compat:create_app"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {
        "gpt-4o": ("gpt-4o", 1),
        "gpt-4o-mini": ("gpt-4o-mini", 1),
        "text-embedding-3-small": ("text-embedding-3-small", 1),
    }
    demo_models: ClassVar[tuple[str, ...] | None] = (
        "gpt-4o",
        "gpt-4o-mini",
        "o3-mini",
        "text-embedding-3-small",
    )
    reasoning_field: ClassVar[str] = "reasoning_content"
    """Where the upstream puts reasoning output (vLLM: ``reasoning``); re-emitted as reasoning_content."""
    stream_usage_supported: ClassVar[bool] = True
    chat_path: ClassVar[str] = "/chat/completions"
    embeddings_path: ClassVar[str] = "/embeddings"
    translations: ClassVar[dict[str, str]] = {
        "*": "forwarded unchanged (only `model` is replaced by the upstream name)",
        "stream_options.include_usage": "always requested upstream so usage is reported, not estimated",
    }

    _wire_memo: dict[str, tuple[Account, str, dict[str, str]]] | None = None
    _shape: _Shape | None = None
    """The last content template a stream of this provider learned, for the next streams to reuse
    (:meth:`ContentTemplate._learn`). One per provider instance: another upstream's shape only fails
    to fit (and is then learned and kept instead), it is never taken for this one's."""

    def __init__(self, auth: AuthScheme | None = None, models: tuple[ModelSpec, ...] = ()) -> None:
        self.auth = auth or BearerAuth()
        self.models = models
        cls = type(self)
        if (
            cls.chat_url is OpenAICompatible.chat_url
            and cls.base_url is Provider.base_url
            and cls.headers is OpenAICompatible.headers
        ):
            # Their URL and headers depend on the account alone: build_chat keeps them per account
            # (three Python calls, a strip, a concatenation and a dict update: ~3k instructions a request)
            self._wire_memo = {}

    # ---- hooks for vendor subclasses ------------------------------------------------------------------
    def adjust_body(self, body: dict[str, Any], req: ChatRequest, call: Call) -> None:
        """Change the outgoing body in place (vendor parameter quirks)."""

    def headers(self, call: Call) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        extra = call.account.headers
        if extra:  # (updating from an empty tuple of pairs still costs ~1.2k instructions)
            h.update(extra)
        return h

    def chat_url(self, call: Call) -> str:
        return self.base_url(call.account) + self.chat_path

    # ---- chat -----------------------------------------------------------------------------------------
    def build_chat(self, req: ChatRequest, call: Call) -> WireRequest:
        raw, dropped = req.forwarding()  # one read of the model (each costs ~1.3k through pydantic's hook)
        body = dict(raw) if raw is not None else req.model_dump(mode="json", exclude_none=True, by_alias=True)
        spec = call.spec
        body["model"] = spec.upstream or spec.id  # ModelSpec.wire_name without its property call (~1k)
        for k in dropped:
            body.pop(k, None)
        if call.stream:
            body["stream"] = True
            if self.stream_usage_supported:
                so = dict(body.get("stream_options") or {})
                so["include_usage"] = True
                body["stream_options"] = so
        else:
            body.pop("stream_options", None)
            body.pop("stream", None)
        self.adjust_body(body, req, call)
        acct = call.account
        memo = self._wire_memo
        got = memo.get(acct.name) if memo is not None else None
        if got is not None and got[0] is acct:  # (the same account object: a reloaded config's is new)
            url, headers = got[1], dict(got[2])  # a copy: auth adds its header to it
        else:
            url, headers = self.chat_url(call), self.headers(call)
            if memo is not None:
                if len(memo) >= 1024:
                    memo.clear()
                memo[acct.name] = (acct, url, dict(headers))
        return WireRequest("POST", url, headers, orjson.dumps(body), call.stream)

    def parse_chat(self, resp: WireResponse, req: ChatRequest, call: Call) -> ChatResponse:
        try:
            data = orjson.loads(resp.body)
            sent = data["choices"]
            rendered = _render_plain(sent, self.reasoning_field)
            if rendered is not None:  # the usual answer: no tool calls, no reasoning
                u = data.get("usage")
                return WireChatResponse(
                    rendered,
                    (parse_usage(u) if u else None) or Usage(estimated=True),
                    data.get("id") or "",
                    int(data.get("created") or time.time()),
                    system_fingerprint=data.get("system_fingerprint"),
                )
            choices: list[ChatChoice] = []
            field = self.reasoning_field
            for c in sent:
                m = c.get("message") or {}
                raw_tcs = m.get("tool_calls")
                tcs = (
                    [
                        ToolCall(
                            t.get("id") or f"call_{i}",
                            t["function"]["name"],
                            t["function"].get("arguments") or "",
                        )
                        for i, t in enumerate(raw_tcs)
                    ]
                    if raw_tcs
                    else []
                )
                reasoning = m.get(field)
                if reasoning is None and field != "reasoning_content":
                    reasoning = m.get("reasoning_content")
                fr = c.get("finish_reason") or "stop"
                choices.append(
                    ChatChoice(
                        int(c.get("index", len(choices))),
                        ChatMessage(m.get("content"), tcs, reasoning, m.get("refusal")),
                        _FINISH.get(fr, fr),
                    )
                )
            u = data.get("usage")
            usage = (parse_usage(u) if u else None) or Usage(estimated=True)
            return ChatResponse(
                choices,
                usage,
                data.get("id") or "",
                int(data.get("created") or time.time()),
                system_fingerprint=data.get("system_fingerprint"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise provider_error(
                UpstreamError, self.name, f"unparsable answer ({exc})", body=resp.body
            ) from exc

    def parse_event(self, event: SSEEvent, state: StreamState) -> list[ChatChunk]:
        data = event.data
        if data == "[DONE]":
            state.done = True
            return []
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise provider_error(
                UpstreamError, self.name, "malformed stream event", body=data.encode()
            ) from exc
        if "error" in obj and "choices" not in obj:
            err = self.classify_body(obj, 200, None, state.call)
            raise err or provider_error(UpstreamError, self.name, "error in stream", body=data.encode())
        choices: list[ChunkChoice] = []
        field = self.reasoning_field
        for c in obj.get("choices") or ():
            d = c.get("delta") or {}
            tcd = None
            raw_tcs = d.get("tool_calls")
            if raw_tcs:
                tcd = []
                for t in raw_tcs:
                    fn = t.get("function") or {}
                    tcd.append(
                        ToolCallDelta(
                            int(t.get("index", 0)), t.get("id"), fn.get("name"), fn.get("arguments")
                        )
                    )
            reasoning = d.get(field)
            if reasoning is None and field != "reasoning_content":
                reasoning = d.get("reasoning_content")
            fr = c.get("finish_reason")
            choices.append(
                ChunkChoice(
                    int(c.get("index", 0)),
                    Delta(d.get("role"), d.get("content"), reasoning, tcd),
                    _FINISH.get(fr, fr) if fr else None,
                )
            )
        usage = obj.get("usage")
        return [ChatChunk(choices, parse_usage(usage) if usage else None)]

    content_template: ClassVar[type[ContentTemplate] | None]  # ContentTemplate, set below it
    """The lean path for plain stream events: the gateway makes one per stream,
    ``content_template(provider, state)`` (see :class:`ContentTemplate`). None for a subclass that
    translates events its own way (its ``parse_event`` may keep state, rewrite the chunks, ...: only this
    class's stateless ``parse_event`` is known to be safe to skip). A class, decided once per class
    (``__init_subclass__``), not a method asked per stream: one function fewer per stream."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.parse_event is not OpenAICompatible.parse_event:
            cls.content_template = None

    def classify(self, resp: WireResponse, call: Call) -> QiaoError | None:
        if resp.status < 400:
            return None
        try:
            obj = orjson.loads(resp.body)
        except orjson.JSONDecodeError:
            obj = None
        err = self.classify_body(obj, resp.status, resp, call)
        return err

    def classify_body(self, obj: Any, status: int, resp: WireResponse | None, call: Call) -> QiaoError | None:
        """Map an OpenAI-shaped error (dict, or a string body) to the error tree."""
        err = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(err, dict):
            message = str(err.get("message") or "")
            code = err.get("code")
            etype = str(err.get("type") or "")
            param = err.get("param")
        else:
            message = str(err or (obj.get("message") if isinstance(obj, dict) else "") or "")
            code = obj.get("code") if isinstance(obj, dict) else None
            etype, param = "", None
        if not message and resp is not None:
            message = resp.body[:200].decode("utf-8", "replace") or f"HTTP {status}"
        code_s = None if code is None else str(code)
        body = resp.body if resp is not None else None
        retry_after = _retry_after(resp)
        kw: dict[str, Any] = {"vendor_code": code_s, "upstream_status": status, "body": body}
        low = (code_s or "") + " " + etype + " " + message.lower()
        if "context_length" in low or "maximum context length" in low:
            return provider_error(ContextLengthExceeded, self.name, message, param="messages", **kw)
        if "content_filter" in low or "content_policy" in low or "data_inspection" in low:
            return provider_error(ContentFiltered, self.name, message, **kw)
        if status == 429 or "rate_limit" in low:
            if "insufficient_quota" in low or "quota" in (code_s or ""):
                return provider_error(InsufficientQuota, self.name, message, **kw)
            return provider_error(RateLimited, self.name, message, retry_after=retry_after, **kw)
        if status == 402 or "insufficient" in low and "balance" in low:
            return provider_error(InsufficientQuota, self.name, message, **kw)
        if status == 401:
            return provider_error(
                AuthenticationFailed,
                self.name,
                f"the upstream rejected the gateway's credential: {message}",
                **kw,
            )
        if status == 403:
            return provider_error(PermissionDenied, self.name, message, **kw)
        if status == 404:
            cls = ModelNotFound if "model" in low else NotFound
            return provider_error(cls, self.name, message, **kw)
        if status == 413:
            return provider_error(PayloadTooLarge, self.name, message, **kw)
        if status in (400, 409, 422):
            return provider_error(
                InvalidRequest, self.name, message, param=param if isinstance(param, str) else None, **kw
            )
        if status in (408, 504):
            return provider_error(UpstreamTimeout, self.name, message, **kw)
        if status == 503:
            return provider_error(ServiceUnavailable, self.name, message, retry_after=retry_after, **kw)
        if status >= 500 or status == 200:
            return provider_error(UpstreamError, self.name, message or f"HTTP {status}", **kw)
        return provider_error(InvalidRequest, self.name, message, **kw)

    # ---- embeddings -----------------------------------------------------------------------------------
    def build_embeddings(self, req: EmbeddingRequest, inputs: list[str], call: Call) -> WireRequest:
        body: dict[str, Any] = {"model": call.spec.wire_name, "input": inputs, "encoding_format": "float"}
        if req.dimensions is not None:
            body["dimensions"] = req.dimensions
        if req.user is not None:
            body["user"] = req.user
        return WireRequest(
            "POST", self.base_url(call.account) + self.embeddings_path, self.headers(call), orjson.dumps(body)
        )

    def parse_embeddings(self, resp: WireResponse, call: Call) -> EmbeddingResult:
        try:
            data = orjson.loads(resp.body)
            items = sorted(data["data"], key=lambda d: d.get("index", 0))
            vectors = []
            for d in items:
                emb = d["embedding"]
                if isinstance(emb, str):
                    import base64
                    import struct

                    raw = base64.b64decode(emb)
                    emb = list(struct.unpack(f"<{len(raw) // 4}f", raw))
                vectors.append(emb)
            usage = parse_usage(data.get("usage")) or Usage(estimated=True)
            return EmbeddingResult(vectors, usage)
        except (KeyError, TypeError, ValueError) as exc:
            raise provider_error(
                UpstreamError, self.name, f"unparsable embeddings ({exc})", body=resp.body
            ) from exc


_PROBE = '"qiao-template-probe"'  # a JSON string literal
_HOLES = (b"id", b"system_fingerprint")  # keys whose string values a reused template lets differ
_Shape = tuple[list[bytes], str, int, tuple[int, ...], bytes]
"""A learned template kept for the next streams: its ``pre`` (UTF-8) split at each ``"``, its ``post``, its
choice and the positions in that split of the values that may differ from stream to stream (``_HOLES``'
strings and ``"created"``'s digits), and how such an event's bytes end (``"`` + ``post`` + a blank line)."""
_NO_CHOICE: tuple[None, None, None, None] = (None, None, None, None)


class ContentTemplate:
    """Recognises a stream's plain content events without parsing them: the lean per-event path.

    An upstream writes nearly every event of a stream as the same text around a different string, e.g.
    ``{"id":"…","object":"chat.completion.chunk",…,"choices":[{"index":0,"delta":{"content":`` TEXT
    ``},"logprobs":null,"finish_reason":null}]}``. The first such event teaches the template (the text
    before and after its content literal, ``pre`` and ``post``: :meth:`_learn`, which keeps it on the
    provider: a later stream's first content event only re-proves it, without a probe); from then on:

    - :meth:`events` takes the leading run of such events of a read (the whole read, usually) with a few
      C-level calls for the whole run, not per event: one ``split``, one ``map`` that cuts each literal
      out, one comparison of the run with the template rebuilt around those literals, one
      ``orjson.loads`` of all the literals as an array: ~3k instructions an event instead of ~40k (the
      SSE decoder's work per event, ``orjson.loads`` of the whole event, three objects that the
      assembler takes apart again);
    - :meth:`take` recognises one event the decoder made (the first one, one after an unusual event).

    Why it is exact. Replacing one JSON string token by another never changes the document's structure,
    only that one value, so ``pre`` + any string token + ``post`` parses as the template did with that
    value in place of the content. :meth:`_learn` proves that its candidate token is the delta's content
    by decoding the event with a probe string in its place and reading it as ``parse_event`` does
    (:meth:`_plain`, checked against ``parse_event``: a different key order, a duplicate key or a
    vendor's ``reasoning_field`` cannot fool it). A
    run is taken only if it is, byte for byte, ``data: `` + ``pre`` + ``"`` + S + ``"`` + ``post`` + a
    blank line per event, each S one JSON string's contents (no line break can hide in one: JSON strings
    hold none raw), which the checks in :meth:`events` establish. Everything else (role, finish, usage,
    tool calls, errors, ``[DONE]``, an event whose other fields changed, ``data:`` without the space,
    CRLF framing) goes through the decoder; of those, :meth:`take` reads the simple ones (``[DONE]``,
    at most one choice without tool calls or reasoning: role, finish and usage events) without chunk
    objects, and ``parse_event`` the rest.
    """

    __slots__ = (
        "_cut",
        "_data_pre",
        "_inner",
        "_joint",
        "_post",
        "_post_nl",
        "_pre",
        "_provider",
        "_scan",
        "_screened",
        "_state",
        "_tries",
        "index",
    )

    def __init__(self, provider: OpenAICompatible, state: StreamState) -> None:
        self._provider = provider
        self._state = state
        self._pre: str | None = None  # until _learn() succeeds
        self._post = ""
        self._cut = 0
        # Once learned, for events() on raw bytes (quotes of the literal included):
        self._data_pre: bytes | None = None  # b'data: ' + pre + b'"'
        self._post_nl = b""  # b'"' + post + b"\n\n"
        self._joint = b""  # what joins two literals' contents: b'"' + post + b"\n\ndata: " + pre + b'"'
        self._inner = itemgetter(slice(0))  # an event's data -> its literal's contents
        self._tries = 3  # learning costs a probe parse: a stream whose events all differ stops trying
        self._scan = 16  # events decoded one by one while learning (a stream without plain content stops)
        self.index = 0  # the choice the template's events belong to
        self._screened = False  # the event take() reads was tried by events(): take() does not again

    def events(
        self, raw: bytes, decoder: SSEDecoder
    ) -> Iterator[SSEEvent | tuple[int, list[str], list[bytes] | None]]:
        """The events of one read, in order: :class:`SSEEvent` from ``decoder`` and, for the leading run
        of plain content events, ``(index, texts, contents)`` (``contents``: each text's JSON string as
        orjson writes it, without its quotes, when the run has no escapes; else None).

        A generator: the caller handles (and :meth:`take` learns from) each event before the next is
        made, so the first read of a stream, which often holds the whole answer, is decoded event by event
        only until the template is learned, and taken as a run after that."""
        at = 0  # the start of what is not handed on yet (an offset: no copy of the rest per event)
        # With a template kept from an earlier stream, each event is tried here, before it is decoded:
        # its re-proof is cheap (see _learn), and the first content event then starts the run below.
        # The decoder's idle is read once: after a whole event (fed below) it is idle whatever it was.
        idle = decoder.idle
        shape = self._provider._shape if idle and self._pre is None else None
        tail = shape[4] if shape is not None else b""
        while self._pre is None and self._tries > 0 and self._scan > 0:
            cut = raw.find(b"\n\n", at) + 2  # find(), not ``in`` (see transport/sse.py)
            if cut < 2:
                break
            if tail and raw.startswith(b"data: ", at):
                # A guess at the event's data, only for one that ends as the kept template's do (which
                # the role event does not: no decode, no _learn for it): whatever it is, _learn proves
                # what it learns from it, and the run below and take() check each event against the
                # template. take() does not try the decoded event again (_screened).
                if raw.startswith(tail, cut - len(tail)) and self._learn(
                    raw[at + 6 : cut - 2].decode("utf-8", "replace")
                ):
                    break
                self._screened = True
            self._scan -= 1
            yield from decoder.feed(raw[at:cut])
            self._screened = False
            idle = True
            at = cut
            if at == len(raw):
                return
        data_pre = self._data_pre
        if data_pre is not None and idle and raw.startswith(data_pre, at):
            # The run: from here to the end of the last event that ends as the template's do. (Inline,
            # not a method of its own: one function fewer a stream.) Cut at each b"\n\ndata: " and take
            # each part's literal contents by position; the comparison with the template rebuilt around
            # them then proves that each part was exactly pre"S"post (the rebuilt pieces are never
            # shorter than the parts, so equal totals mean equal pieces).
            post_nl = self._post_nl
            end = raw.rfind(post_nl, at) + len(post_nl)
            region = raw[at:end]  # (b"" or short of a whole event when there is none: refused below)
            inner = list(map(self._inner, region[6:-2].split(b"\n\ndata: ")))
            if region == data_pre + self._joint.join(inner) + post_nl:
                joined = b"".join(inner)
                run: tuple[int, list[str], list[bytes] | None]
                try:
                    if joined.find(b"\\") < 0 and joined.find(b'"') < 0:
                        # No backslash, no quote in any S: all of them parse as one array of strings
                        # exactly when each is a valid string's contents (no control character, valid
                        # UTF-8), written as orjson would.
                        run = self.index, orjson.loads(b'["' + b'","'.join(inner) + b'"]'), inner
                    else:  # escapes: each literal on its own (an escaped quote may not end a string)
                        run = self.index, [orjson.loads(b'"' + s + b'"') for s in inner], None
                except orjson.JSONDecodeError:
                    pass
                else:
                    yield run
                    at = end
                    if at == len(raw):
                        return
        yield from decoder.feed(raw[at:])

    def take(self, data: str) -> tuple[int | None, str | None, str | None, Usage | None] | None:
        """One event the decoder made, read as ``parse_event`` reads it, when it is a plain content event
        of choice ``index`` (the template's), ``[DONE]``, or holds at most one choice without tool calls
        or reasoning (role, finish, usage events): ``(index, content, finish_reason, usage)``, ``index``
        None for no choice, for :meth:`StreamAssembler.plain <qiao.gateway.stream.StreamAssembler.plain>`.
        None for anything else (use ``parse_event``). Until the template is known, each event is first
        tried as the one to learn it from.

        Plain events skip the chunk objects and the assembler's general ``feed`` (callgrind, in process:
        parse_event 24k for a role event, of which orjson.loads 11k, _plain 7k; feed's work halved too).
        One method for both kinds of event: one call per event the decoder made, not two."""
        pre = self._pre
        if pre is None and self._tries > 0 and not self._screened and self._learn(data):
            pre = self._pre
        if pre is not None and data.startswith(pre) and data.endswith(self._post):
            try:
                text = orjson.loads(data[len(pre) : len(data) - self._cut])
            except orjson.JSONDecodeError:
                text = None
            if type(text) is str:
                return self.index, text, None, None
        if data == "[DONE]":
            self._state.done = True
            return _NO_CHOICE
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        return self._plain(obj)

    def _plain(self, obj: Any) -> tuple[int | None, str | None, str | None, Usage | None] | None:
        """What ``OpenAICompatible.parse_event`` makes of the decoded event ``obj`` (a chunk of at most
        one choice: its index, content and finish reason, and the chunk's usage), when it has no error,
        no tool calls, no reasoning and a str or null content; None for anything else, and where
        ``parse_event`` would raise (then it runs and raises). tests/gateway/test_stream_plain.py checks
        this mirror against ``parse_event`` + ``StreamAssembler.feed`` on generated events."""
        if type(obj) is not dict or "error" in obj:
            return None
        u = obj.get("usage")
        try:
            usage = parse_usage(u) if u else None
        except Exception:  # noqa: BLE001 - parse_event raises it
            return None
        choices = obj.get("choices")
        if not choices:  # parse_event iterates ``choices or ()``
            return None, None, None, usage
        if type(choices) is not list or len(choices) != 1:
            return None
        c = choices[0]
        if type(c) is not dict:
            return None
        d = c.get("delta") or {}
        if type(d) is not dict or d.get("tool_calls"):
            return None
        field = self._provider.reasoning_field
        if d.get(field) is not None or (
            field != "reasoning_content" and d.get("reasoning_content") is not None
        ):
            return None
        content = d.get("content")
        index = c.get("index", 0)
        if (content is not None and type(content) is not str) or type(index) is not int:
            return None
        fr = c.get("finish_reason")
        if not fr:
            return index, content, None, usage
        if type(fr) is not str:
            return None
        return index, content, _FINISH.get(fr, fr), usage

    def _learn(self, data: str) -> bool:
        """Take ``data``'s template if it is a plain content event. The candidate literal is the value of
        its last ``"content":`` key (non-empty, no escapes: found without parsing); ``parse_event`` of the
        event with a probe string in its place then decides (one choice, a content-only delta that is the
        probe, no finish, no usage), so the guess needs no other care.

        The provider keeps the template (``_shape``) for its next streams, whose events differ from this
        one's in their ``id``, ``created`` and ``system_fingerprint`` only: a candidate whose ``post`` is
        the kept one and whose ``pre`` is the kept one but for those values is taken without the probe.
        Exact: ``pre`` holds no backslash, so each ``"`` opens or closes a string and ``split(b'"')``
        gives the JSON text outside strings (even places) and the strings' contents (odd places);
        equal but for a value of ``"id"``/``"system_fingerprint"`` (another string without a quote, a
        backslash or a control character) and the digits of ``"created"`` (another JSON integer, not
        too long to parse), the two events parse to the same JSON but for those values, which neither
        ``parse_event`` nor :meth:`_plain` reads (tests/gateway/test_stream_lean.py tries mutated events
        on a kept template against their parse)."""
        k = data.rfind('"content":')
        if k < 0:
            return False
        start = k + 10
        if data[start : start + 1] == " ":
            start += 1
        end = data.find('"', start + 1)
        if data[start : start + 1] != '"' or end <= start + 1:
            return False  # not a string, or an empty one (the role event's)
        if data.find("\\") >= 0 or data.find(_PROBE[1:-1]) >= 0:
            # Escapes, or the probe itself: only without them does no other string of the event read
            # as the probe, so that the probe coming back as the content proves where the content is.
            return False
        pre, post = data[:start], data[end + 1 :]
        pre_b = pre.encode()
        segs = pre_b.split(b'"')
        index = None
        shape = self._provider._shape
        if shape is not None and post == shape[1] and len(segs) == len(shape[0]):
            kept = shape[0]
            for j in shape[3]:
                v = segs[j]
                if j & 1:  # a string's contents: no control character (min, translate: C calls a stream
                    if min(v, default=32) < 32:  # makes anyway, not isprintable/isdigit just for this)
                        break
                elif not (  # ':' + an integer + ',' (19 digits at most: orjson refuses past a double's range)
                    3 <= len(v) <= 21
                    and v[:1] == b":"
                    and v[-1:] == b","
                    and not v[1:-1].translate(None, b"0123456789")
                    and (v[1] != 48 or len(v) == 3)  # (48: "0")
                ):
                    break
                segs[j] = kept[j]
            else:
                if segs == kept:
                    index = shape[2]
            if index is None:
                segs = pre_b.split(b'"')
        if index is None:
            self._tries -= 1
            # The probe read by _plain (parse_event's reading of such an event, without its objects: ~6k
            # instructions fewer than the parse_event call this was)
            try:
                obj = orjson.loads(pre + _PROBE + post)
            except orjson.JSONDecodeError:
                return False
            got = self._plain(obj)
            if (
                got is None
                or got[0] is None
                or got[1] != _PROBE[1:-1]
                or got[2] is not None
                or got[3] is not None
            ):
                return False
            if obj["choices"][0]["delta"].get("role") is not None:  # (a dict: it holds the probe)
                return False
            index = got[0]
            holes = tuple(
                j
                for j in range(2, len(segs))
                if (j & 1 and segs[j - 1] == b":" and segs[j - 2] in _HOLES)
                or (
                    not j & 1
                    and segs[j - 1] == b"created"
                    and len(segs[j]) >= 3
                    and segs[j][:1] == b":"
                    and segs[j][-1:] == b","
                    and not segs[j][1:-1].translate(None, b"0123456789")
                )
            )
            self._provider._shape = (segs, post, index, holes, b'"' + post.encode() + b"\n\n")
        self._pre, self._post, self._cut, self.index = pre, post, len(post), index
        if (pre + post).find("\n") < 0 and (pre + post).find("\r") < 0:  # one line, as SSE gave it
            pre_b += b'"'
            post_b = b'"' + post.encode()
            self._data_pre = b"data: " + pre_b
            self._post_nl = post_b + b"\n\n"
            self._joint = post_b + b"\n\ndata: " + pre_b
            self._inner = itemgetter(slice(len(pre_b), -len(post_b)))
        return True


OpenAICompatible.content_template = ContentTemplate


def _retry_after(resp: WireResponse | None) -> float | None:
    if resp is None:
        return None
    v = resp.headers.get("retry-after")
    if v is None:
        return None
    try:
        return float(v)
    except ValueError:
        return None


provider = OpenAICompatible()
