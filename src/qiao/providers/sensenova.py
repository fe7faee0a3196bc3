"""``sensenova``: SenseTime SenseNova (商汤日日新), native API.

Wire protocol (seed-four.md §4, checked against the official ``sensenova`` 1.0.6 SDK):

* ``POST {base}/llm/chat-completions`` and ``POST {base}/llm/embeddings``, base
  ``https://api.sensenova.cn/v1``.
* **Auth, two forms, told apart by a colon.** A credential ``ACCESS_KEY_ID:SECRET`` (an access-key
  pair: neither part ever contains ``:``) is turned into an HS256 JWT — ``iss`` = the key id, ``exp`` =
  now + 1800 s, ``nbf`` = now − 5 s (seconds, unlike Zhipu's milliseconds) — signed with the secret and
  cached per credential; it is re-minted five minutes before it expires, and once more when SenseNova
  answers 401 (clock skew, rotated secret). A credential *without* a colon is a console API key (issued
  since late 2024) and is sent unchanged as ``Authorization: Bearer <key>``.
* Answers are wrapped in ``{"data": {...}}``; ``message`` / ``delta`` are plain strings and the role sits
  on the choice. Streams are ``data:{json}`` lines without a space, ending with ``data:[DONE]``; ``usage``
  rides on every chunk (the last one wins); intermediate chunks carry ``finish_reason: ""`` (→ null).
* Errors: HTTP status + ``{"error": {"code": <int>, "message": ..., "details": []}}``, codes following
  gRPC numbering (see :data:`_CODES`); a stream error is a ``data:`` line holding such an object.
* Embeddings answer ``{"embeddings": [{"index", "embedding", ...}], "usage": {...}}`` at the top level
  (the SDK users' code reads ``resp.embeddings[0].embedding``); a ``data`` envelope is accepted too.

OpenAI → SenseNova translation:

* messages: ``system`` / ``user`` / ``assistant`` / ``tool`` keep their place (SenseNova takes the system
  prompt in ``messages``; no alternation repair is needed); ``developer`` becomes ``system``; a null
  assistant ``content`` (tool-call turns) becomes ``""``; text-only content parts are joined into one
  string; on vision models image parts become ``{"type": "image_url", "image_url": URL}``, and
  ``data:`` URLs become ``{"type": "image_base64", "image_base64": <bare base64>}``.
* ``max_completion_tokens`` / ``max_tokens`` → ``max_new_tokens``.
* ``temperature`` [0, 2] → (0, 2]: 0 becomes 1e-6 (the native minimum resolution, 6 decimals).
* ``top_p`` [0, 1] → the open interval (0, 1): 0 → 1e-6, 1 → 0.999999.
* ``frequency_penalty`` (or, when absent, ``presence_penalty``) p ∈ [-2, 2] → ``repetition_penalty`` =
  1 + p/2 clamped to (0, 2] (1 = no penalty); a client's own ``repetition_penalty`` wins.
* ``n`` → ``n`` (1–4 at SenseNova; more is a 400 ``unsupported_parameter``).
* ``user`` → ``user`` verbatim (``safety_identifier`` is used when ``user`` is absent).
* ``tools`` / ``tool_choice`` → same shape (function-calling models only). SenseNova's tool calls have ids;
  when one is missing a stable ``call_…`` id is minted from name, arguments and position.
* ``response_format: json_object`` → sent as is (lagent's JSON mode; [UNCERTAIN] at SenseNova itself).
* native extras passed through: ``know_ids``, ``knowledge_config``, ``plugins``, ``repetition_penalty``.
* not supported (400 or dropped with ``drop_params``): ``stop`` (documented only for the completion API),
  ``logit_bias``, ``logprobs``, ``top_logprobs``, ``seed``, ``functions``/``function_call`` (use
  ``tools``), ``parallel_tool_calls: false``, ``reasoning_effort``, ``modalities``, ``audio``,
  ``prediction``, ``web_search_options`` (SenseNova's own ``plugins.web_search`` is a native extra),
  ``verbosity``, ``response_format: json_schema``.

SenseNova → OpenAI: finish ``stop`` / ``length`` / ``tool_calls`` unchanged, ``sensitive`` →
``content_filter``, ``context`` → ``length``; ``usage.knowledge_tokens`` (retrieved knowledge) is added
to ``prompt_tokens`` so totals add up and knowledge is billed.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, ClassVar

import orjson

from ..catalogue import Capabilities, ModelSpec, PriceTier
from ..errors import (
    AuthenticationFailed,
    Conflict,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    InvalidRequest,
    ModelNotFound,
    NotFound,
    PermissionDenied,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UnsupportedParameter,
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
    Message,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from . import _jwt
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

__all__ = ["MODELS", "SenseNova", "SenseNovaAuth", "mint_jwt", "provider", "split_credential"]

PRICE_SOURCE = "https://platform.sensenova.cn/pricing"
"""Read through LobeChat's model bank (packages/model-bank/src/aiModels/sensenova.ts), which cites it."""

_TOOLS = Capabilities(tools=True, json_mode=True, n=True)
_PLAIN = Capabilities(n=True)
_VISION = Capabilities(vision=True)


def _cny(inp: str, out: str, since: str) -> PriceTier:
    return PriceTier.per_mtok(inp, out, since=since, source=PRICE_SOURCE)


# Current prices (CNY per 1M tokens, input / output). ``since`` is the model's release date where the
# source gives one; for SenseChat-5 / -Turbo it is the date the current tier is first seen (the -1202
# releases, 2024-12-30) — before that they cost 40/100 and 2/5. The V4 models kept their 2024 prices.
# Not listed: SenseChat-Character(-Pro) (another endpoint), SenseNova-V6-Reasoner / V6.5 (deep reasoning,
# documented on chatapi.sensenova.cn / served through the compatible mode), hosted third-party models.
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "SenseChat-5", context=131_072, caps=_TOOLS, price=_cny("8", "20", "2024-12-30"), max_output=8192
    ),
    ModelSpec(
        "SenseChat-5-1202", context=32_768, caps=_TOOLS, price=_cny("8", "20", "2024-12-30"), max_output=8192
    ),
    ModelSpec(
        "SenseChat-5-beta", context=32_768, caps=_PLAIN, price=_cny("8", "20", "2024-12-30"), max_output=8192
    ),
    ModelSpec(
        "SenseChat-Turbo",
        context=32_768,
        caps=_TOOLS,
        price=_cny("0.3", "0.6", "2024-12-30"),
        max_output=8192,
    ),
    ModelSpec(
        "SenseChat-Turbo-1202",
        context=32_768,
        caps=_TOOLS,
        price=_cny("0.3", "0.6", "2024-12-30"),
        max_output=8192,
    ),
    ModelSpec(
        "SenseChat-Vision",
        context=16_384,
        caps=_VISION,
        price=_cny("10", "60", "2024-09-12"),
        max_output=8192,
    ),
    ModelSpec(
        "SenseNova-V6-Pro", context=32_768, caps=_VISION, price=_cny("3", "9", "2025-04-14"), max_output=8192
    ),
    ModelSpec(
        "SenseNova-V6-Turbo",
        context=32_768,
        caps=_VISION,
        price=_cny("1.5", "4.5", "2025-04-14"),
        max_output=8192,
    ),
    ModelSpec(
        "SenseChat-5-Cantonese",
        context=32_768,
        caps=_PLAIN,
        price=_cny("27", "27", "2024-09-12"),
        max_output=8192,
    ),
    ModelSpec(
        "SenseChat-128K", context=131_072, caps=_PLAIN, price=_cny("60", "60", "2024-09-12"), max_output=8192
    ),
    ModelSpec(
        "SenseChat-32K", context=32_768, caps=_PLAIN, price=_cny("36", "36", "2024-09-12"), max_output=8192
    ),
    ModelSpec("SenseChat", context=4096, caps=_PLAIN, price=_cny("12", "12", "2024-09-12"), max_output=2048),
    # Price and dimension are not published in any source we could read; 1536 is what our emulator
    # answers [UNCERTAIN]. At most 32 texts per call, each at most 512 tokens (langchain4j's client).
    ModelSpec(
        "nova-embedding-stable",
        context=512,
        caps=Capabilities(chat=False, stream=False, embeddings=True),
        dimensions=1536,
        embedding_batch=32,
    ),
)

JWT_TTL = 1800
"""Seconds a minted token lives (as the SDK and the docs do)."""
JWT_REFRESH = 300
"""Re-mint this many seconds before expiry."""


def split_credential(credential: str) -> tuple[str, str] | None:
    """``(access_key_id, secret)`` for an access-key pair, None for a console API key."""
    if ":" not in credential:
        return None
    ak, _, sk = credential.partition(":")
    ak, sk = ak.strip(), sk.strip()
    if not ak or not sk:
        raise AuthenticationFailed(
            "sensenova: the credential looks like ACCESS_KEY_ID:SECRET but one half is empty",
            provider="sensenova",
        )
    return ak, sk


def mint_jwt(
    access_key_id: str, secret: str, now: float | None = None, ttl: int = JWT_TTL
) -> tuple[str, int]:
    """An HS256 token for SenseNova and its expiry (Unix seconds)."""
    t = int(time.time() if now is None else now)
    exp = t + ttl
    return _jwt.encode({"iss": access_key_id, "exp": exp, "nbf": t - 5}, secret), exp


class SenseNovaAuth(AuthScheme):
    """JWT minted from ``AK:SK`` (cached, re-minted before expiry), or a console key sent as is."""

    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock
        self._cache: dict[str, tuple[str, int]] = {}

    @staticmethod
    def _key(credential: str) -> str:
        return hashlib.sha256(credential.encode()).hexdigest()

    def token(self, credential: str) -> str:
        pair = split_credential(credential)
        if pair is None:
            return credential
        key = self._key(credential)
        now = self._clock()
        hit = self._cache.get(key)
        if hit is not None and hit[1] - JWT_REFRESH > now:
            return hit[0]
        token, exp = mint_jwt(pair[0], pair[1], now)
        self._cache[key] = (token, exp)
        return token

    async def apply(self, wire: WireRequest, account: Account, fetch: FetchFn) -> WireRequest:
        if account.credential:
            wire.headers["Authorization"] = "Bearer " + self.token(account.credential)
        return wire

    def on_auth_error(self, account: Account, error: QiaoError) -> bool:
        """A 401 with a cached JWT: forget it and retry once with a fresh one."""
        if not account.credential or ":" not in account.credential:
            return False
        return self._cache.pop(self._key(account.credential), None) is not None


# ---- errors ------------------------------------------------------------------------------------------------

_CODES: dict[int, type[QiaoError]] = {
    1: UpstreamTimeout,  # 408 cancelled
    2: UpstreamError,  # 500 internal
    3: InvalidRequest,  # 400 invalid argument
    4: UpstreamTimeout,  # 504 deadline exceeded
    5: NotFound,  # 404 (model not found / not enabled for the account)
    6: Conflict,  # 409 already exists
    7: PermissionDenied,  # 403
    8: RateLimited,  # 429 rate or quota exceeded
    9: InvalidRequest,  # 400 failed precondition
    10: Conflict,  # 409 aborted (concurrency): retryable
    11: InvalidRequest,  # 400 out of range
    12: InvalidRequest,  # 501 not implemented
    13: UpstreamError,  # 500
    14: ServiceUnavailable,  # 503
    15: UpstreamError,  # 500 data loss
    16: AuthenticationFailed,  # 401
}
_STATUS: dict[int, type[QiaoError]] = {
    400: InvalidRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    408: UpstreamTimeout,
    409: Conflict,
    413: InvalidRequest,
    429: RateLimited,
    501: InvalidRequest,
    503: ServiceUnavailable,
    504: UpstreamTimeout,
}
_SAFETY = (
    "sensitive",
    "unsafe",
    "content safety",
    "content_filter",
    "inappropriate",
    "敏感",
    "内容安全",
    "违规",
    "审核",
)
_QUOTA = ("balance", "arrear", "insufficient", "欠费", "余额", "billing", "quota exhausted")
_CONTEXT = ("context length", "context window", "too long", "exceeds the maximum", "超过最大", "超出上下文")


def _retry_after(headers: dict[str, str] | None) -> float | None:
    if not headers:
        return None
    v = headers.get("retry-after")
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


def classify_error(obj: Any, status: int, headers: dict[str, str] | None, body: bytes | None) -> QiaoError:
    """Map a SenseNova error object (and the HTTP status it came with) to the error tree."""
    err = obj.get("error") if isinstance(obj, dict) else None
    code: int | None = None
    message = ""
    if isinstance(err, dict):
        raw = err.get("code")
        try:
            code = int(raw) if raw is not None else None
        except (TypeError, ValueError):
            code = None
        message = str(err.get("message") or "")
    if not message:
        message = (body or b"")[:200].decode("utf-8", "replace") or f"HTTP {status}"
    low = message.lower()
    cls: type[QiaoError] = (
        _CODES.get(code or -1)
        or _STATUS.get(status)
        or (UpstreamError if status >= 500 or status < 400 else InvalidRequest)
    )
    kw: dict[str, Any] = {"vendor_code": code, "upstream_status": status, "body": body}
    if cls in (InvalidRequest, PermissionDenied) and any(s in low for s in _SAFETY):
        # how SenseNova words an input safety refusal is not documented: a 400/403 naming sensitive content
        return provider_error(ContentFiltered, "sensenova", message, **kw)
    if cls in (RateLimited, PermissionDenied) and any(s in low for s in _QUOTA):
        return provider_error(InsufficientQuota, "sensenova", message, **kw)
    if cls is RateLimited:
        return provider_error(RateLimited, "sensenova", message, retry_after=_retry_after(headers), **kw)
    if cls is InvalidRequest and any(s in low for s in _CONTEXT):
        return provider_error(ContextLengthExceeded, "sensenova", message, param="messages", **kw)
    if cls is NotFound and ("model" in low or "模型" in message):
        cls = ModelNotFound
    if cls is AuthenticationFailed:
        message = f"SenseNova rejected the gateway's credential: {message}"
    if cls is InvalidRequest and (code == 12 or status == 501):
        return provider_error(InvalidRequest, "sensenova", message, code="not_implemented", **kw)
    retryable = True if code == 10 else None
    return provider_error(cls, "sensenova", message, retryable=retryable, **kw)


# ---- request translation ---------------------------------------------------------------------------------

_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "sensitive": "content_filter",
    "content_filter": "content_filter",
    "context": "length",
    "function_call": "tool_calls",
}
_EPS = 0.000001


def _finish(value: Any) -> str | None:
    if not value:
        return None
    return _FINISH.get(str(value), "stop")


def _content(m: Message, vision: bool) -> Any:
    c = m.content
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    if not vision or not any(p.type == "image_url" for p in c):
        return "".join(p.text or "" for p in c if p.type == "text")
    parts: list[dict[str, Any]] = []
    for p in c:
        if p.type == "text":
            parts.append({"type": "text", "text": p.text or ""})
        elif p.type == "image_url" and p.image_url is not None:
            url = p.image_url.url
            if url.startswith("data:"):
                parts.append({"type": "image_base64", "image_base64": url.partition(",")[2]})
            else:
                parts.append({"type": "image_url", "image_url": url})
    return parts


def _messages(req: ChatRequest, vision: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in req.messages:
        role = "system" if m.role == "developer" else m.role
        if role == "function":
            raise UnsupportedParameter(
                "sensenova: legacy `function` messages are not supported; use tools", param="messages"
            )
        msg: dict[str, Any] = {"role": role, "content": _content(m, vision)}
        if m.name and role in ("user", "system"):
            msg["name"] = m.name
        if m.tool_calls:
            msg["tool_calls"] = [
                {
                    "id": t.id,
                    "type": "function",
                    "function": {"name": t.function.name, "arguments": t.function.arguments},
                }
                for t in m.tool_calls
            ]
        if role == "tool":
            msg["tool_call_id"] = m.tool_call_id or ""
        out.append(msg)
    return out


def _clamp(v: float, lo: float, hi: float) -> float:
    return round(min(max(v, lo), hi), 6)


def chat_body(req: ChatRequest, call: Call) -> dict[str, Any]:
    """The native request body (pure; used by :meth:`SenseNova.build_chat`)."""
    spec = call.spec
    body: dict[str, Any] = {"model": spec.wire_name, "messages": _messages(req, spec.caps.vision)}
    if req.output_limit is not None:
        body["max_new_tokens"] = req.output_limit
    if req.temperature is not None:
        body["temperature"] = _clamp(req.temperature, _EPS, 2.0)
    if req.top_p is not None:
        body["top_p"] = _clamp(req.top_p, _EPS, 1 - _EPS)
    extra = req.model_extra or {}
    penalty = req.frequency_penalty if req.frequency_penalty is not None else req.presence_penalty
    if extra.get("repetition_penalty") is not None:
        body["repetition_penalty"] = extra["repetition_penalty"]
    elif penalty is not None and penalty != 0:
        body["repetition_penalty"] = _clamp(1 + penalty / 2, 0.01, 2.0)
    if req.n is not None and req.n != 1:
        if req.n > 4:
            raise UnsupportedParameter(
                f"sensenova returns at most 4 choices per request; n={req.n} was asked", param="n"
            )
        body["n"] = req.n
    user = req.user or req.safety_identifier
    if user:
        body["user"] = user
    if req.tools and req.tool_choice != "none":
        body["tools"] = [t.model_dump(mode="json", exclude_none=True) for t in req.tools]
        if req.tool_choice is not None:
            tc = req.tool_choice
            body["tool_choice"] = tc if isinstance(tc, str) else tc.model_dump(mode="json", exclude_none=True)
    if req.response_format is not None and req.response_format.type == "json_object":
        body["response_format"] = {"type": "json_object"}
    for k in ("know_ids", "knowledge_config", "plugins"):
        if extra.get(k) is not None:
            body[k] = extra[k]
    body["stream"] = bool(call.stream)
    return body


def _usage(u: Any) -> Usage | None:
    if not isinstance(u, dict):
        return None
    prompt = int(u.get("prompt_tokens") or 0) + int(u.get("knowledge_tokens") or 0)
    return Usage(prompt, int(u.get("completion_tokens") or 0))


def _call_id(name: str, args: str, choice: int, index: int) -> str:
    return "call_" + hashlib.sha256(f"{name}\x1f{args}\x1f{choice}\x1f{index}".encode()).hexdigest()[:24]


def _tool_calls(raw: Any, choice: int, offset: int = 0) -> list[ToolCall]:
    out: list[ToolCall] = []
    for j, t in enumerate(raw or ()):
        fn = t.get("function") or {}
        name = str(fn.get("name") or "")
        args = fn.get("arguments")
        if not isinstance(args, str):
            args = orjson.dumps(args).decode() if args is not None else ""
        out.append(ToolCall(t.get("id") or _call_id(name, args, choice, offset + j), name, args))
    return out


def _envelope(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict) and isinstance(obj.get("data"), dict):
        data: dict[str, Any] = obj["data"]
        return data
    raise ValueError("no `data` object")


class SenseNova(Provider):
    name = "sensenova"
    display_name = "SenseNova (SenseTime 商汤日日新, native API)"
    default_base_url = "https://api.sensenova.cn/v1"
    credential_format = (
        "ACCESS_KEY_ID:SECRET_ACCESS_KEY (signed into a 30-minute JWT) or a console API key "
        "(no colon; sent as a Bearer token)"
    )
    docs_url = "https://www.sensecore.cn/help/docs/model-as-a-service/nova/"
    models = MODELS
    stream_format = "sse"
    emulator = "qiao.emulators.sensenova:create_app"
    emulator_base_path = "/v1"
    # No default outbound limits: the platform documents 60 RPM and 128K TPM *per model* for the V6
    # models only (seed-four.md §4.9), older SenseChat models' limits are unknown, and caps here are per
    # account; set ``limits`` for an account that serves one V6 model.
    default_limits: ClassVar[dict[str, int]] = {}
    demo_credential = "EMUAKID:emulatorsecret"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {
        "gpt-4o": ("SenseChat-5", 15),
        "gpt-4o-mini": ("SenseChat-Turbo", 15),
        "text-embedding-3-small": ("nova-embedding-stable", 15),
    }
    unsupported = frozenset(
        {
            "stop",
            "logit_bias",
            "logprobs",
            "top_logprobs",
            "seed",
            "functions",
            "function_call",
            "parallel_tool_calls",
            "reasoning_effort",
            "modalities",
            "audio",
            "prediction",
            "web_search_options",
            "verbosity",
        }
    )
    native_extras = frozenset({"know_ids", "knowledge_config", "plugins", "repetition_penalty"})
    translations: ClassVar[dict[str, str]] = {
        "messages": "kept in order (system prompt stays in messages); developer → system; null assistant "
        'content → ""; images → image_url / image_base64 parts (vision models)',
        "max_tokens / max_completion_tokens": "max_new_tokens",
        "temperature": "clamped into (0, 2]: 0 → 0.000001",
        "top_p": "clamped into (0, 1): 0 → 0.000001, 1 → 0.999999",
        "frequency_penalty / presence_penalty": "repetition_penalty = 1 + p/2 within (0, 2] (frequency wins)",
        "n": "n (at most 4)",
        "user / safety_identifier": "user",
        "tools / tool_choice": "tools / tool_choice (same shape); missing tool-call ids are minted",
        "response_format": "json_object sent as is; json_schema unsupported",
        "stream_options.include_usage": "native streams carry usage on every chunk; the last one is reported",
        "usage": "knowledge_tokens are added to prompt_tokens",
    }

    def __init__(self) -> None:
        self.auth = SenseNovaAuth()

    def _headers(self, call: Call) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        h.update(call.account.headers)
        return h

    # ---- chat -------------------------------------------------------------------------------------------
    def build_chat(self, req: ChatRequest, call: Call) -> WireRequest:
        body = chat_body(req, call)
        return WireRequest(
            "POST",
            self.base_url(call.account) + "/llm/chat-completions",
            self._headers(call),
            orjson.dumps(body),
            call.stream,
        )

    def parse_chat(self, resp: WireResponse, req: ChatRequest, call: Call) -> ChatResponse:
        try:
            data = _envelope(orjson.loads(resp.body))
            choices: list[ChatChoice] = []
            for c in data["choices"]:
                i = int(c.get("index", len(choices)))
                tcs = _tool_calls(c.get("tool_calls"), i)
                text = c.get("message")
                if isinstance(text, dict):  # tolerate an OpenAI-shaped message object
                    text = text.get("content")
                content = text if isinstance(text, str) else None
                if tcs and not content:
                    content = None
                elif content is None:
                    content = ""
                reason = _finish(c.get("finish_reason")) or ("tool_calls" if tcs else "stop")
                choices.append(ChatChoice(i, ChatMessage(content, tcs), reason))
            usage = _usage(data.get("usage")) or Usage(estimated=True)
            return ChatResponse(choices, usage, str(data.get("id") or ""), int(time.time()))
        except (KeyError, TypeError, ValueError) as exc:
            raise provider_error(
                UpstreamError, self.name, f"unparsable answer ({exc})", body=resp.body
            ) from exc

    def parse_event(self, event: SSEEvent, state: StreamState) -> list[ChatChunk]:
        raw = event.data.strip()
        if raw == "[DONE]":
            state.done = True
            return []
        if not raw:
            return []
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise provider_error(
                UpstreamError, self.name, "malformed stream event", body=raw.encode()
            ) from exc
        if isinstance(obj, dict) and "error" in obj and "data" not in obj:
            raise classify_error(obj, 200, None, raw.encode())
        try:
            data = _envelope(obj)
        except ValueError as exc:
            raise provider_error(
                UpstreamError, self.name, "stream event without `data`", body=raw.encode()
            ) from exc
        chunk = ChatChunk()
        seen: dict[int, int] = state.extra.setdefault("tool_calls_seen", {})
        for c in data.get("choices") or ():
            i = int(c.get("index", 0))
            delta = c.get("delta")
            if isinstance(delta, dict):
                delta = delta.get("content")
            tcd = None
            if c.get("tool_calls"):
                offset = seen.get(i, 0)
                calls = _tool_calls(c["tool_calls"], i, offset)
                tcd = [ToolCallDelta(offset + j, t.id, t.name, t.arguments) for j, t in enumerate(calls)]
                seen[i] = offset + len(calls)
            fr = _finish(c.get("finish_reason"))
            text = delta if isinstance(delta, str) and delta else None
            chunk.choices.append(ChunkChoice(i, Delta(None, text, None, tcd), fr))
        usage = _usage(data.get("usage"))
        if usage is not None:
            chunk.usage = usage
            state.usage = usage
        return [chunk]

    def classify(self, resp: WireResponse, call: Call) -> QiaoError | None:
        try:
            obj = orjson.loads(resp.body) if resp.body else None
        except orjson.JSONDecodeError:
            obj = None
        if resp.status < 400:
            if isinstance(obj, dict) and "error" in obj and "data" not in obj and "embeddings" not in obj:
                return classify_error(obj, resp.status, resp.headers, resp.body)
            return None
        return classify_error(obj, resp.status, resp.headers, resp.body)

    # ---- embeddings -------------------------------------------------------------------------------------
    def build_embeddings(self, req: EmbeddingRequest, inputs: list[str], call: Call) -> WireRequest:
        body = {"model": call.spec.wire_name, "input": inputs}
        return WireRequest(
            "POST", self.base_url(call.account) + "/llm/embeddings", self._headers(call), orjson.dumps(body)
        )

    def parse_embeddings(self, resp: WireResponse, call: Call) -> EmbeddingResult:
        try:
            obj = orjson.loads(resp.body)
            if "embeddings" not in obj and isinstance(obj.get("data"), dict):
                obj = obj["data"]
            items = sorted(obj["embeddings"], key=lambda d: int(d.get("index", 0)))
            vectors = [[float(x) for x in d["embedding"]] for d in items]
            usage = _usage(obj.get("usage")) or Usage(estimated=True)
            return EmbeddingResult(vectors, usage)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise provider_error(
                UpstreamError, self.name, f"unparsable embeddings ({exc})", body=resp.body
            ) from exc


provider = SenseNova()
