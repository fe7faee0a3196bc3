"""``spark``: iFlytek Spark (讯飞星火) over its HMAC-signed WebSocket chat API.

Wire protocol (others.md §9, checked against iFlytek's official ``spark-ai-python`` 0.4.5 SDK):

* One WebSocket per conversation turn: ``wss://spark-api.xf-yun.com{path}`` where the path and
  ``parameter.chat.domain`` are fixed per model and must match (:data:`ROUTES`; e.g. Max ``/v3.5/chat``
  + ``generalv3.5``, 4.0 Ultra ``/v4.0/chat`` + ``4.0Ultra``, Lite ``/v1.1/chat`` + ``lite``).
* **Signed URL** (:func:`signed_url`): ``date`` in RFC 1123 GMT; ``signature`` = base64(HMAC-SHA256(key =
  API_SECRET, ``"host: <host>\\ndate: <date>\\nGET <path> HTTP/1.1"``)); ``authorization`` =
  base64(``api_key="…", algorithm="hmac-sha256", headers="host date request-line", signature="…"``);
  the query is ``authorization=…&date=…&host=…`` form-encoded. ``host`` is the URL's netloc (with the
  port when there is one, as the SDK does). The server refuses an upgrade whose date is more than about
  five minutes off or whose signature does not verify (HTTP 401/403 with ``{"message": ...}``). The
  signature is made by :class:`SparkAuth` at send time (so the date is fresh), never in ``build_chat``.
* Credential: ``APP_ID:API_KEY:API_SECRET``. The account's base URL may be ``http(s)://`` (as ``qiao
  demo`` writes for emulators): it is turned into ``ws(s)://``.
* One request frame ``{"header": {"app_id", "uid"}, "parameter": {"chat": {...}}, "payload": {"message":
  {"text": [...]}, "functions": {"text": [...]}}}``; answer frames ``{"header": {"code", "message", "sid",
  "status"}, "payload": {"choices": {"status", "seq", "text": [{"content", "reasoning_content"?,
  "role", "index", "function_call"?}]}, "usage": {"text": {...}}}}``; status 2 is the last frame (with
  the usage); ``header.code != 0`` is an error (:data:`_CODES`), after which the server closes.
* A function call arrives as ``text[0].function_call {"name", "arguments"}`` without an id: an id is
  minted (``call_`` + hash of the sid and position) and the finish reason becomes ``tool_calls``.

What the official SDK (spark-ai-python 0.4.5, tests/emulators/test_spark_sdk.py) showed beyond the
notes: it can be pointed at any host (``spark_api_url`` different from its own host map is kept, with a
warning) and signs ``host`` as the URL's netloc *including the port*; its ``authorization`` string has
extra spaces before ``headers=`` (a line continuation), which the server must tolerate; its host map
still pairs ``/v1.1/chat`` with the pre-2024 domain ``general`` (the docs say ``lite``: the emulator
accepts both there, qiao sends ``lite``); it sends ``header.uid`` ``spark_sdk_user`` and tools as
``payload.functions.text``; it stops reading at ``status == 2`` and raises on any non-zero
``header.code``.

OpenAI → Spark translation:

* messages: a leading ``system``/``developer`` message stays ``system`` on Max / Ultra / X1 (the only
  domains documented to take one; on Lite and Pro it becomes a user turn), later ones become ``user`` (as
  the SDK does); images are unsupported. The WebSocket protocol documents no role for tool results
  [UNCERTAIN], so a tool-call turn is sent as assistant text ``function_call: NAME(ARGS)`` and a tool
  result as a user message ``function NAME returned: …``; consecutive messages of one role are then joined
  (Spark expects user/assistant turns to alternate).
* ``temperature`` → (0, 1] (X1: (0, 2]): 0 → 0.01; ``max_tokens`` / ``max_completion_tokens`` →
  ``max_tokens`` capped at the model's limit; ``user`` → ``header.uid`` (at most 32 characters: longer ids
  are hashed); ``tools`` → ``payload.functions.text``; ``tool_choice`` ``auto``/``none`` only;
  ``presence_penalty`` / ``frequency_penalty`` → same names on X1 only. Native extras: ``top_k`` (1–6),
  ``chat_id``, ``auditing``.
* unsupported: ``top_p``, ``stop``, ``n``, ``seed``, ``response_format``, ``logprobs``, ``logit_bias``,
  named or required ``tool_choice``, images, ``reasoning_effort`` (X1 always reasons).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from email.utils import formatdate
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

import orjson

from ..catalogue import Capabilities, ModelSpec, PriceTier
from ..errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    InvalidRequest,
    PermissionDenied,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UnsupportedParameter,
    UpstreamError,
    provider_error,
)
from ..types import ChatChunk, ChatRequest, ChatResponse, ChunkChoice, Delta, Message, ToolCallDelta, Usage
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

__all__ = [
    "MODELS",
    "ROUTES",
    "Spark",
    "SparkAuth",
    "classify_code",
    "provider",
    "signed_url",
    "split_credential",
]

PRICE_SOURCE = "https://xinghuo.xfyun.cn/sparkapi"

# model id → (URL path, domain, max_tokens limit)
ROUTES: dict[str, tuple[str, str, int]] = {
    "lite": ("/v1.1/chat", "lite", 4096),
    "generalv3": ("/v3.1/chat", "generalv3", 8192),
    "pro-128k": ("/chat/pro-128k", "pro-128k", 4096),
    "generalv3.5": ("/v3.5/chat", "generalv3.5", 8192),
    "max-32k": ("/chat/max-32k", "max-32k", 8192),
    "4.0Ultra": ("/v4.0/chat", "4.0Ultra", 8192),
    "x1": ("/v1/x1", "x1", 32_768),
}
_PLAIN = Capabilities()
_TOOLS = Capabilities(tools=True)
_X1 = Capabilities(tools=True, reasoning=True)

# Spark Lite is free (iFlytek's price page); the other tiers are sold as token packages and per-app
# licences with no per-token list price we could verify, so they carry no price [UNCERTAIN].
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "lite",
        8192,
        _PLAIN,
        PriceTier.per_mtok("0", "0", since="2024-05-22", source=PRICE_SOURCE),
        max_output=4096,
        aliases=("spark-lite",),
    ),
    ModelSpec("generalv3", 8192, _PLAIN, max_output=8192, aliases=("spark-pro",)),
    ModelSpec("pro-128k", 131_072, _PLAIN, max_output=4096, aliases=("spark-pro-128k",)),
    ModelSpec("generalv3.5", 8192, _TOOLS, max_output=8192, aliases=("spark-max",)),
    ModelSpec("max-32k", 32_768, _TOOLS, max_output=8192, aliases=("spark-max-32k",)),
    ModelSpec("4.0Ultra", 8192, _TOOLS, max_output=8192, aliases=("spark-4.0-ultra",)),
    ModelSpec("x1", 32_768, _X1, max_output=32_768, aliases=("spark-x1",)),
)


def split_credential(credential: str | None) -> tuple[str, str, str]:
    """``(app_id, api_key, api_secret)`` from ``APP_ID:API_KEY:API_SECRET``."""
    parts = (credential or "").split(":")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise AuthenticationFailed(
            "spark: the credential must be APP_ID:API_KEY:API_SECRET (three parts from the iFlytek console)",
            provider="spark",
        )
    a, k, s = (p.strip() for p in parts)
    return a, k, s


def signed_url(url: str, api_key: str, api_secret: str, date: str | None = None) -> str:
    """``url`` with iFlytek's ``authorization`` / ``date`` / ``host`` query (HMAC-SHA256)."""
    u = urlsplit(url)
    host, path = u.netloc, u.path or "/"
    date = date or formatdate(usegmt=True)
    origin = f"host: {host}\ndate: {date}\nGET {path} HTTP/1.1"
    sig = base64.b64encode(hmac.new(api_secret.encode(), origin.encode(), hashlib.sha256).digest()).decode()
    auth_origin = (
        f'api_key="{api_key}", algorithm="hmac-sha256", headers="host date request-line", signature="{sig}"'
    )
    authorization = base64.b64encode(auth_origin.encode()).decode()
    query = urlencode({"authorization": authorization, "date": date, "host": host})
    return f"{u.scheme}://{host}{path}?{query}"


class SparkAuth(AuthScheme):
    """Signs the WebSocket URL at send time (the date must be fresh)."""

    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock

    async def apply(self, wire: WireRequest, account: Account, fetch: FetchFn) -> WireRequest:
        _, key, secret = split_credential(account.credential)
        wire.url = signed_url(wire.url, key, secret, formatdate(self._clock(), usegmt=True))
        return wire


# ---- errors ------------------------------------------------------------------------------------------------

_CODES: dict[int, type[QiaoError]] = {
    10003: InvalidRequest,
    10004: InvalidRequest,
    10005: InvalidRequest,
    10008: ServiceUnavailable,
    10009: UpstreamError,
    10010: UpstreamError,
    10011: UpstreamError,
    10012: UpstreamError,
    10013: ContentFiltered,
    10014: ContentFiltered,
    10019: ContentFiltered,
    10015: PermissionDenied,
    10016: PermissionDenied,
    10110: ServiceUnavailable,
    10163: InvalidRequest,
    10222: UpstreamError,
    10907: ContextLengthExceeded,
    11200: PermissionDenied,
    11201: InsufficientQuota,
    11202: RateLimited,
    11203: RateLimited,
    11500: AuthenticationFailed,
    11501: InvalidRequest,
}
_QUOTA = ("token", "quota", "余量", "用量", "额度", "exhaust", "limit")


def classify_code(
    code: int, message: str, status: int, body: bytes | None, provider: str = "spark"
) -> QiaoError:
    """Map a Spark error code (WebSocket ``header.code`` or an HTTP body's ``code``) to the error tree."""
    by_status: dict[int, type[QiaoError]] = {
        401: AuthenticationFailed,
        403: AuthenticationFailed,
        429: RateLimited,
    }
    cls = (
        _CODES.get(code)
        or by_status.get(status)
        or (UpstreamError if code or status >= 500 else InvalidRequest)
    )
    low = message.lower()
    if cls is PermissionDenied and code in (10016, 11200) and any(q in low for q in _QUOTA):
        cls = InsufficientQuota
    kw: dict[str, Any] = {"vendor_code": str(code) if code else None, "upstream_status": status, "body": body}
    if cls is ContextLengthExceeded:
        return provider_error(cls, provider, message, param="messages", **kw)
    if cls is AuthenticationFailed:
        message = f"iFlytek refused the gateway's credential or its signature: {message}"
    return provider_error(cls, provider, message or f"Spark error {code}", **kw)


# ---- request translation ---------------------------------------------------------------------------------


def _text(m: Message) -> str:
    c = m.content
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    if any(p.type == "image_url" for p in c):
        raise UnsupportedParameter("spark's chat models do not take images", param="messages")
    return "".join(p.text or "" for p in c if p.type == "text")


SYSTEM_DOMAINS = frozenset({"generalv3.5", "max-32k", "4.0Ultra", "x1"})
"""Domains that take a ``system`` message (Max, Ultra, X1); Lite and Pro get it as a user turn."""


def spark_messages(req: ChatRequest, system: bool = True) -> list[dict[str, str]]:
    """OpenAI messages as Spark ``payload.message.text`` (see the module docstring)."""
    names: dict[str, str] = {}
    out: list[dict[str, str]] = []
    for i, m in enumerate(req.messages):
        role = m.role
        text = _text(m)
        if role in ("system", "developer"):
            role = "system" if i == 0 and system else "user"
        elif role == "assistant" and m.tool_calls:
            calls = []
            for t in m.tool_calls:
                names[t.id] = t.function.name
                calls.append(f"function_call: {t.function.name}({t.function.arguments})")
            text = "\n".join(([text] if text else []) + calls)
        elif role in ("tool", "function"):
            name = m.name or names.get(m.tool_call_id or "", "tool")
            role, text = "user", f"function {name} returned: {text}"
        if out and out[-1]["role"] == role and role != "system":
            out[-1]["content"] += "\n\n" + text
        else:
            out.append({"role": role, "content": text})
    return out


def _uid(user: str | None) -> str:
    if not user:
        return "qiao"
    return user if len(user) <= 32 else hashlib.sha256(user.encode()).hexdigest()[:32]


def request_frame(req: ChatRequest, call: Call, app_id: str) -> dict[str, Any]:
    """The one frame sent after the WebSocket opens (pure)."""
    path, domain, limit = ROUTES.get(call.spec.wire_name, ("", call.spec.wire_name, 8192))
    chat: dict[str, Any] = {"domain": domain}
    x1 = domain == "x1"
    if req.temperature is not None:
        chat["temperature"] = min(max(req.temperature, 0.01), 2.0 if x1 else 1.0)
    if req.output_limit is not None:
        chat["max_tokens"] = min(req.output_limit, limit)
    if x1:
        for k in ("presence_penalty", "frequency_penalty"):
            if getattr(req, k) is not None:
                chat[k] = getattr(req, k)
    elif req.presence_penalty or req.frequency_penalty:
        raise UnsupportedParameter(
            f"spark {domain} takes no penalties (only x1 does)",
            param="presence_penalty" if req.presence_penalty else "frequency_penalty",
        )
    extra = req.model_extra or {}
    for k in ("top_k", "chat_id", "auditing"):
        if extra.get(k) is not None:
            chat[k] = extra[k]
    frame: dict[str, Any] = {
        "header": {"app_id": app_id, "uid": _uid(req.user or req.safety_identifier)},
        "parameter": {"chat": chat},
        "payload": {"message": {"text": spark_messages(req, domain in SYSTEM_DOMAINS)}},
    }
    if req.tools and req.tool_choice != "none":
        if req.tool_choice is not None and req.tool_choice != "auto":
            raise UnsupportedParameter("spark accepts tool_choice auto or none only", param="tool_choice")
        frame["payload"]["functions"] = {
            "text": [
                t.function.model_dump(mode="json", exclude_none=True, exclude={"strict"}) for t in req.tools
            ]
        }
    return frame


def _usage(u: Any) -> Usage | None:
    if not isinstance(u, dict):
        return None
    return Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))


class Spark(Provider):
    name = "spark"
    display_name = "iFlytek Spark (讯飞星火, WebSocket API)"
    default_base_url = "wss://spark-api.xf-yun.com"
    credential_format = (
        "APP_ID:API_KEY:API_SECRET (from the iFlytek console; the URL is HMAC-signed per call)"
    )
    docs_url = "https://www.xfyun.cn/doc/spark/Web.html"
    models = MODELS
    stream_format = "websocket"
    emulator = "qiao.emulators.spark:create_app"
    emulator_base_path = ""
    demo_credential = "emuappid:emuapikey:emuapisecret"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {"gpt-4o-mini": ("generalv3.5", 3)}
    unsupported = frozenset(
        {
            "top_p",
            "presence_penalty",
            "frequency_penalty",
            "stop",
            "n",
            "seed",
            "response_format",
            "logprobs",
            "top_logprobs",
            "logit_bias",
            "reasoning_effort",
            "parallel_tool_calls",
            "functions",
            "function_call",
            "modalities",
            "audio",
            "prediction",
            "web_search_options",
            "verbosity",
        }
    )
    native_extras = frozenset({"top_k", "chat_id", "auditing"})
    translations: ClassVar[dict[str, str]] = {
        "model": "URL path + parameter.chat.domain (fixed pairs)",
        "messages": "payload.message.text; only a leading system stays system (Max/Ultra/X1; else a user "
        "turn); tool calls / results as text turns; consecutive same-role turns joined",
        "temperature": "clamped into (0, 1] (x1: (0, 2])",
        "max_tokens / max_completion_tokens": "parameter.chat.max_tokens, capped at the model's limit",
        "user / safety_identifier": "header.uid (hashed when longer than 32 characters)",
        "tools / tool_choice": "payload.functions.text; tool_choice auto/none; function-call ids minted",
        "stream": "always a stream (WebSocket frames); non-streaming answers are collected",
        "usage": "payload.usage.text of the last frame (status 2)",
    }

    def __init__(self) -> None:
        self.auth = SparkAuth()

    def base_url(self, account: Account) -> str:
        base = super().base_url(account)
        if base.startswith("http://"):
            return "ws://" + base[7:]
        if base.startswith("https://"):
            return "wss://" + base[8:]
        return base

    def build_chat(self, req: ChatRequest, call: Call) -> WireRequest:
        app_id, _, _ = split_credential(call.account.credential)
        path = ROUTES.get(call.spec.wire_name, ("/v3.5/chat", "", 0))[0]
        frame = request_frame(req, call, app_id)
        return WireRequest(
            "GET", self.base_url(call.account) + path, dict(call.account.headers), orjson.dumps(frame), True
        )

    def parse_chat(self, resp: WireResponse, req: ChatRequest, call: Call) -> ChatResponse:
        raise NotImplementedError("spark answers only over the WebSocket: the gateway collects the stream")

    def parse_event(self, event: SSEEvent, state: StreamState) -> list[ChatChunk]:
        raw = event.data
        try:
            obj = orjson.loads(raw)
            header = obj["header"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise provider_error(UpstreamError, self.name, "malformed frame", body=raw.encode()) from exc
        code = int(header.get("code") or 0)
        if code != 0:
            state.done = True
            raise classify_code(code, str(header.get("message") or ""), 200, raw.encode())
        payload = obj.get("payload") or {}
        choices = payload.get("choices") or {}
        status = int(choices.get("status", header.get("status", 0)) or 0)
        chunk = ChatChunk()
        text = (choices.get("text") or [{}])[0]
        tcd = None
        fc = text.get("function_call")
        if isinstance(fc, dict) and fc.get("name"):
            n = int(state.extra.get("calls", 0))
            args = fc.get("arguments")
            args = args if isinstance(args, str) else orjson.dumps(args or {}).decode()
            seed = f"{header.get('sid')}\x1f{n}\x1f{fc['name']}"
            tid = "call_" + hashlib.sha256(seed.encode()).hexdigest()[:24]
            tcd = [ToolCallDelta(n, tid, str(fc["name"]), args)]
            state.extra["calls"] = n + 1
        finish = None
        if status == 2:
            state.done = True
            finish = "tool_calls" if state.extra.get("calls") else "stop"
            usage = _usage((payload.get("usage") or {}).get("text"))
            if usage is not None:
                chunk.usage = state.usage = usage
        delta = Delta(None, text.get("content") or None, text.get("reasoning_content") or None, tcd)
        chunk.choices.append(ChunkChoice(0, delta, finish))
        return [chunk]

    def classify(self, resp: WireResponse, call: Call) -> QiaoError | None:
        """A refused WebSocket upgrade (bad signature, skewed date, unknown key …)."""
        if resp.status < 400:
            return None
        try:
            obj = orjson.loads(resp.body)
            message = str(obj.get("message") or obj)
        except (orjson.JSONDecodeError, AttributeError):
            message = resp.body[:200].decode("utf-8", "replace") or f"HTTP {resp.status}"
        return classify_code(0, message, resp.status, resp.body)


provider = Spark()
