"""``dashscope``: Alibaba Cloud DashScope (阿里云百炼 / Model Studio), the native Qwen API.

Wire protocol (others.md §2, checked against the official ``dashscope`` 2.0.2 SDK, whose source wins
where the notes were unsure):

* ``POST {base}/services/aigc/text-generation/generation`` (text models) and
  ``{base}/services/aigc/multimodal-generation/generation`` (Qwen-VL: content is a list of
  ``{"text": ...}`` / ``{"image": URL}`` items, answers' ``content`` too), base
  ``https://dashscope.aliyuncs.com/api/v1``; embeddings ``{base}/services/embeddings/text-embedding/
  text-embedding``. Auth ``Authorization: Bearer sk-…``.
* Envelope: ``{"model", "input": {"messages": [...]}, "parameters": {...}}``; qiao always asks for
  ``result_format: "message"`` (otherwise many models answer ``output.text`` and tool calls cannot be
  represented; a ``text`` answer is still parsed).
* Streaming is **a header**, ``X-DashScope-SSE: enable`` (the SDK sends no ``stream`` field), with
  ``incremental_output: true`` (deltas, not the cumulative text). Frames are ``id:N`` /
  ``event:result`` / ``:HTTP_STATUS/200`` / ``data:{json}`` without spaces; ``usage`` is cumulative on
  every event (the last one wins); ``finish_reason`` is the *string* ``"null"`` until the end; there is
  no ``[DONE]`` (the stream ends when every choice has finished). An error mid-stream is an
  ``event:error`` frame whose data is ``{"code", "message", "request_id"}``. The SDK reads ``id:``,
  ``event:``, ``status:`` and ``data:`` lines and skips everything else (``_handle_stream``).
* Thinking models (``enable_thinking``) answer only in streams: a non-streaming client call with
  reasoning is sent as a stream upstream and folded into one answer (``parse_chat`` reads SSE bodies).
* Errors: HTTP status + ``{"code": "InvalidApiKey", "message": ..., "request_id": ...}``; see
  :data:`_CODES`. ``DataInspectionFailed`` → content filter, ``Arrearage`` / bill overdue →
  insufficient quota, ``Throttling*`` → rate limited (``Throttling.AllocationQuota`` is a TPM limit unless
  its message says the free quota is used up). The SDK returns a wrong key as a response object with
  ``status_code`` 401 and ``code`` ``InvalidApiKey`` (no exception).
* Embeddings: ``{"input": {"texts": [...]}, "parameters": {"dimension": N}}`` → ``output.embeddings
  [{text_index, embedding}]``, ``usage.total_tokens``. At most 10 texts per call for v3/v4, 25 for v1/v2
  (the gateway splits). ``dimension`` only for v3/v4, from a fixed set: without ``dimensions`` qiao asks
  for the model's full size (2048 for v4, whose native default is 1024: OpenAI's models also answer full
  size by default); another ``dimensions`` is served by asking for the next larger size and shortening
  (the gateway re-normalises).

What the official SDK (dashscope 2.0.2, tests/emulators/test_dashscope_sdk.py) showed beyond the notes:
``Generation.call(prompt=...)`` still sends the legacy ``input.prompt`` (appended as a user turn by the
server, so the emulator accepts it); an unset ``incremental_output`` is not sent at all (server default:
cumulative text for most models), while ``incremental_output=False`` on a stream is sent as ``true`` and
merged back by the SDK; an ``event:error`` frame takes its status from a ``status:`` line, 400 without
one (``:HTTP_STATUS/…`` comments are ignored); a multimodal answer's ``content`` is a list of
``{"text": ...}`` items, which the SDK hands through unchanged.

OpenAI → DashScope translation:

* messages: order kept (DashScope takes ``system`` in ``messages``), ``developer`` → ``system``, assistant
  ``tool_calls`` and ``tool`` results (``tool_call_id``) as in OpenAI, a null assistant content → ``""``;
  image parts only for vision models (multimodal path).
* ``temperature`` [0, 2] → [0, 2): 2 → 1.99. ``top_p`` [0, 1] → (0, 1]: 0 → 0.01.
* ``max_completion_tokens`` / ``max_tokens`` → ``parameters.max_tokens``; ``seed`` (clamped ≥ 0),
  ``stop``, ``presence_penalty``, ``n`` (1–4), ``logprobs`` / ``top_logprobs``, ``tools``,
  ``parallel_tool_calls`` → same names under ``parameters`` (``parallel_tool_calls`` is sent as ``true``
  unless the client says false: DashScope's default is false, OpenAI's true). ``tool_choice``
  ``auto``/``none``/named function as is; ``required`` (rejected by DashScope) becomes the named form
  when exactly one tool is offered, else 400 ``unsupported_parameter``.
* ``response_format`` ``json_object`` / ``json_schema`` → ``parameters.response_format``.
* ``reasoning_effort`` → ``enable_thinking`` (``none``/``minimal`` → false, else true) on reasoning models.
* ``frequency_penalty`` has no native equivalent (``repetition_penalty`` is a different knob, a native
  extra) → unsupported. ``user`` is not sent (no native field; it only feeds OpenAI's abuse monitoring).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, ClassVar

import orjson

from ..catalogue import Capabilities, ModelSpec, PriceTier
from ..errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    InvalidRequest,
    ModelNotFound,
    PayloadTooLarge,
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
    ChatChunk,
    ChatRequest,
    ChatResponse,
    ChunkChoice,
    Delta,
    EmbeddingRequest,
    EmbeddingResult,
    Message,
    ToolCallDelta,
    Usage,
)
from .base import Call, Provider, SSEEvent, StreamState, WireRequest, WireResponse
from .openai_compat import BearerAuth

__all__ = ["MODELS", "DashScope", "chat_body", "classify_error", "provider"]

PRICE_SOURCE = "https://help.aliyun.com/zh/model-studio/models"

_CHAT = Capabilities(tools=True, json_mode=True, json_schema=True, n=True, seed=True, logprobs=True)
_HYBRID = Capabilities(
    tools=True, json_mode=True, json_schema=True, n=True, seed=True, logprobs=True, reasoning=True
)
_VL = Capabilities(vision=True, seed=True)
_VL_TOOLS = Capabilities(vision=True, tools=True, seed=True, reasoning=True)
_QWQ = Capabilities(tools=True, reasoning=True, seed=True)
_EMB = Capabilities(chat=False, stream=False, embeddings=True)


def _cny(inp: str, out: str, since: str, cached: str | None = None) -> PriceTier:
    return PriceTier.per_mtok(inp, out, cached_input=cached, since=since, source=PRICE_SOURCE)


# CNY per 1M tokens, China (Beijing) region, the lowest input-length tier (qwen3-max / qwen-flash /
# qwen3-vl-plus are tiered by prompt length; longer prompts cost more: the gateway bills the first tier,
# see others.md §2.10). ``since`` is the model's launch or the current price's first sighting;
# qwen-plus / qwen-turbo / qwq-plus prices are [UNCERTAIN] (recalled, not re-read).
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("qwen3-max", 262_144, _CHAT, _cny("2.5", "10", "2025-09-24", "0.5"), max_output=65_536),
    ModelSpec("qwen-plus", 131_072, _HYBRID, _cny("0.8", "2", "2025-04-28"), max_output=16_384),
    ModelSpec("qwen-flash", 1_000_000, _HYBRID, _cny("0.15", "1.5", "2025-07-28"), max_output=32_768),
    ModelSpec("qwen-turbo", 1_000_000, _HYBRID, _cny("0.3", "0.6", "2025-04-28"), max_output=16_384),
    ModelSpec("qwq-plus", 131_072, _QWQ, _cny("1.6", "4", "2025-03-05"), max_output=8192),
    ModelSpec("qwen3-vl-plus", 262_144, _VL_TOOLS, _cny("1", "10", "2025-09-23"), max_output=32_768),
    ModelSpec("qwen-vl-plus", 131_072, _VL, _cny("0.8", "2", "2025-01-25"), max_output=8192),
    ModelSpec(
        "text-embedding-v4", 8192, _EMB, _cny("0.5", "0", "2025-05-15"), dimensions=2048, embedding_batch=10
    ),
    ModelSpec(
        "text-embedding-v3", 8192, _EMB, _cny("0.5", "0", "2024-09-19"), dimensions=1024, embedding_batch=10
    ),
    ModelSpec(
        "text-embedding-v2", 2048, _EMB, _cny("0.7", "0", "2024-01-01"), dimensions=1536, embedding_batch=25
    ),
)
_MULTIMODAL = frozenset({"qwen3-vl-plus", "qwen-vl-plus"})
_STREAM_ONLY = frozenset({"qwq-plus"})
"""Models that answer only in streams (others.md §2.6)."""
_EMB_DIMS: dict[str, tuple[int, ...]] = {
    "text-embedding-v4": (64, 128, 256, 512, 768, 1024, 1536, 2048),
    "text-embedding-v3": (64, 128, 256, 512, 768, 1024),
}

# ---- errors ------------------------------------------------------------------------------------------------

_CODES: dict[str, type[QiaoError]] = {
    "InvalidParameter": InvalidRequest,
    "invalid_parameter_error": InvalidRequest,
    "DataInspectionFailed": ContentFiltered,
    "data_inspection_failed": ContentFiltered,
    "IPInfringementSuspect": ContentFiltered,
    "CustomRoleBlocked": ContentFiltered,
    "FaqRuleBlocked": ContentFiltered,
    "Arrearage": InsufficientQuota,
    "PrepaidBillOverdue": InsufficientQuota,
    "PostpaidBillOverdue": InsufficientQuota,
    "CommodityNotPurchased": InsufficientQuota,
    "InvalidApiKey": AuthenticationFailed,
    "invalid_api_key": AuthenticationFailed,
    "AccessDenied": PermissionDenied,
    "AccessDenied.Unpurchased": PermissionDenied,
    "Model.AccessDenied": PermissionDenied,
    "Workspace.AccessDenied": PermissionDenied,
    "AllocationQuota.FreeTierOnly": InsufficientQuota,
    "ModelNotFound": ModelNotFound,
    "model_not_found": ModelNotFound,
    "model_not_supported": ModelNotFound,
    "RequestTimeOut": UpstreamTimeout,
    "BadRequest.TooLarge": PayloadTooLarge,
    "Throttling": RateLimited,
    "Throttling.RateQuota": RateLimited,
    "Throttling.BurstRate": RateLimited,
    "Throttling.AllocationQuota": RateLimited,
    "limit_requests": RateLimited,
    "limit_burst_rate": RateLimited,
    "insufficient_quota": RateLimited,
    "InternalError": UpstreamError,
    "InternalError.Algo": UpstreamError,
    "SystemError": UpstreamError,
    "ModelServiceFailed": UpstreamError,
    "ModelUnavailable": ServiceUnavailable,
    "ModelServingError": ServiceUnavailable,
}
_STATUS: dict[int, type[QiaoError]] = {
    400: InvalidRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: ModelNotFound,
    408: UpstreamTimeout,
    413: PayloadTooLarge,
    429: RateLimited,
    503: ServiceUnavailable,
    504: UpstreamTimeout,
}


def _retry_after(headers: dict[str, str] | None) -> float | None:
    v = (headers or {}).get("retry-after")
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


def classify_error(obj: Any, status: int, headers: dict[str, str] | None, body: bytes | None) -> QiaoError:
    """Map a DashScope error object (native or compatible-mode shape) and its status to the error tree."""
    code = message = ""
    if isinstance(obj, dict):
        err: dict[str, Any] = obj["error"] if isinstance(obj.get("error"), dict) else obj
        code = str(err.get("code") or "")
        message = str(err.get("message") or "")
    if not message:
        message = (body or b"")[:200].decode("utf-8", "replace") or f"HTTP {status}"
    cls = _CODES.get(code) or _STATUS.get(status) or (UpstreamError if status >= 500 else InvalidRequest)
    kw: dict[str, Any] = {"vendor_code": code or None, "upstream_status": status, "body": body}
    low = message.lower()
    if cls is RateLimited and ("free allocated quota exceeded" in low or "free tier" in low):
        cls = InsufficientQuota
    if cls is InvalidRequest and ("range of input length" in low or "input length" in low and "[1" in low):
        return provider_error(ContextLengthExceeded, "dashscope", message, param="messages", **kw)
    if cls is RateLimited:
        return provider_error(RateLimited, "dashscope", message, retry_after=_retry_after(headers), **kw)
    if cls is AuthenticationFailed:
        message = f"DashScope rejected the gateway's API key (a key is bound to its region): {message}"
    return provider_error(cls, "dashscope", message, **kw)


# ---- request translation ---------------------------------------------------------------------------------


def _content(m: Message, multimodal: bool) -> Any:
    c = m.content
    if not multimodal:
        if c is None:
            return ""
        if isinstance(c, str):
            return c
        return "".join(p.text or "" for p in c if p.type == "text")
    items: list[dict[str, str]] = []
    if isinstance(c, str):
        items.append({"text": c})
    elif c is not None:
        for p in c:
            if p.type == "text":
                items.append({"text": p.text or ""})
            elif p.type == "image_url" and p.image_url is not None:
                items.append({"image": p.image_url.url})
    return items


def _messages(req: ChatRequest, multimodal: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in req.messages:
        role = "system" if m.role == "developer" else m.role
        if role == "function":
            raise UnsupportedParameter(
                "dashscope: legacy `function` messages are not supported; use tools", param="messages"
            )
        msg: dict[str, Any] = {"role": role, "content": _content(m, multimodal)}
        if m.tool_calls:
            msg["tool_calls"] = [
                {"id": t.id, "type": "function", "function": t.function.model_dump(mode="json")}
                for t in m.tool_calls
            ]
        if role == "tool":
            msg["tool_call_id"] = m.tool_call_id or ""
            if m.name:
                msg["name"] = m.name
        out.append(msg)
    return out


def _thinking(req: ChatRequest, spec: ModelSpec) -> bool | None:
    extra = req.model_extra or {}
    if extra.get("enable_thinking") is not None:
        return bool(extra["enable_thinking"])
    if req.reasoning_effort is not None and spec.caps.reasoning:
        return req.reasoning_effort not in ("none", "minimal")
    return None


def upstream_streams(req: ChatRequest, call: Call) -> bool:
    """Whether this call is sent as a stream upstream (always for thinking and stream-only models)."""
    return bool(call.stream or _thinking(req, call.spec) or call.spec.id in _STREAM_ONLY)


def chat_body(req: ChatRequest, call: Call) -> dict[str, Any]:
    """The native request body (pure)."""
    spec = call.spec
    p: dict[str, Any] = {"result_format": "message"}
    if upstream_streams(req, call):
        p["incremental_output"] = True
    if req.temperature is not None:
        p["temperature"] = min(req.temperature, 1.99)
    if req.top_p is not None:
        p["top_p"] = max(req.top_p, 0.01)
    if req.output_limit is not None:
        p["max_tokens"] = req.output_limit
    if req.seed is not None:
        p["seed"] = max(req.seed, 0)
    if req.stop is not None:
        p["stop"] = req.stop_list
    if req.presence_penalty is not None:
        p["presence_penalty"] = req.presence_penalty
    if req.n is not None and req.n != 1:
        p["n"] = req.n
    if req.logprobs:
        p["logprobs"] = True
        if req.top_logprobs is not None:
            p["top_logprobs"] = req.top_logprobs
    if req.tools and req.tool_choice != "none":
        p["tools"] = [t.model_dump(mode="json", exclude_none=True) for t in req.tools]
        tc = req.tool_choice
        if tc == "required":
            if len(req.tools) != 1:
                raise UnsupportedParameter(
                    "dashscope accepts tool_choice auto, none or one named function; `required` works only "
                    "with exactly one tool",
                    param="tool_choice",
                )
            p["tool_choice"] = {"type": "function", "function": {"name": req.tools[0].function.name}}
        elif tc is not None:
            p["tool_choice"] = tc if isinstance(tc, str) else tc.model_dump(mode="json")
        # DashScope defaults to one call per turn, OpenAI to parallel calls: say what OpenAI would do
        p["parallel_tool_calls"] = req.parallel_tool_calls is not False
    rf = req.response_format
    if rf is not None and rf.type != "text":
        p["response_format"] = rf.model_dump(mode="json", exclude_none=True, by_alias=True)
    thinking = _thinking(req, spec)
    if thinking is not None:
        p["enable_thinking"] = thinking
    extra = req.model_extra or {}
    for k in ("enable_search", "search_options", "top_k", "repetition_penalty", "thinking_budget"):
        if extra.get(k) is not None:
            p[k] = extra[k]
    return {
        "model": spec.wire_name,
        "input": {"messages": _messages(req, spec.id in _MULTIMODAL or spec.caps.vision)},
        "parameters": p,
    }


# ---- answers -----------------------------------------------------------------------------------------------


def _usage(u: Any) -> Usage | None:
    if not isinstance(u, dict):
        return None
    inp = int(u.get("input_tokens") or u.get("prompt_tokens") or 0)
    out = int(u.get("output_tokens") or u.get("completion_tokens") or 0)
    cached = int((u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    reasoning = int((u.get("output_tokens_details") or {}).get("reasoning_tokens") or 0)
    return Usage(inp, out, cached, reasoning)


def _text(content: Any) -> str:
    if isinstance(content, list):  # multimodal answers: [{"text": ...}]
        return "".join(str(i.get("text") or "") for i in content if isinstance(i, dict))
    return content if isinstance(content, str) else ""


def _finish(value: Any) -> str | None:
    if not value or value == "null":
        return None
    return {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}.get(str(value), str(value))


def _call_id(rid: str, choice: int, index: int) -> str:
    return "call_" + hashlib.sha256(f"{rid}\x1f{choice}\x1f{index}".encode()).hexdigest()[:24]


def _chunk(obj: dict[str, Any], state: StreamState) -> ChatChunk:
    out = obj.get("output") or {}
    chunk = ChatChunk()
    rid = str(obj.get("request_id") or "")
    choices = out.get("choices")
    if choices is None and "text" in out:  # result_format "text"
        choices = [{"message": {"content": out.get("text")}, "finish_reason": out.get("finish_reason")}]
    for pos, c in enumerate(choices or ()):
        i = int(c.get("index", pos))
        m = c.get("message") or {}
        tcd = None
        if m.get("tool_calls"):
            tcd = []
            for j, t in enumerate(m["tool_calls"]):
                fn = t.get("function") or {}
                idx = int(t.get("index", j))
                key = f"tc{i}.{idx}"
                tid = t.get("id") or None
                if key not in state.extra:
                    state.extra[key] = True
                    tid = tid or _call_id(rid, i, idx)
                tcd.append(ToolCallDelta(idx, tid, fn.get("name") or None, fn.get("arguments") or None))
        text = _text(m.get("content")) or None
        reasoning = m.get("reasoning_content") or None
        chunk.choices.append(
            ChunkChoice(i, Delta(None, text, reasoning, tcd), _finish(c.get("finish_reason")))
        )
    usage = _usage(obj.get("usage"))
    if usage is not None:
        chunk.usage = usage
        state.usage = usage
    return chunk


def _sse_events(body: bytes) -> list[SSEEvent]:
    from ..transport.sse import SSEDecoder

    dec = SSEDecoder()
    return dec.feed(body) + dec.close()


class DashScope(Provider):
    name = "dashscope"
    display_name = "Alibaba Cloud DashScope (阿里云百炼, native Qwen API)"
    default_base_url = "https://dashscope.aliyuncs.com/api/v1"
    credential_format = "DashScope API key (sk-…), bound to its region (Beijing or -intl)"
    docs_url = "https://help.aliyun.com/zh/model-studio/"
    models = MODELS
    auth = BearerAuth()
    stream_format = "sse"
    emulator = "qiao.emulators.dashscope:create_app"
    emulator_base_path = "/api/v1"
    demo_credential = "sk-dashscope-emulator"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {
        "gpt-4o": ("qwen3-max", 5),
        "gpt-4o-mini": ("qwen-flash", 5),
        "text-embedding-3-small": ("text-embedding-v4", 5),
    }
    unsupported = frozenset(
        {
            "frequency_penalty",
            "logit_bias",
            "functions",
            "function_call",
            "modalities",
            "audio",
            "prediction",
            "web_search_options",
            "verbosity",
        }
    )
    native_extras = frozenset(
        {
            "enable_search",
            "search_options",
            "top_k",
            "repetition_penalty",
            "enable_thinking",
            "thinking_budget",
        }
    )
    translations: ClassVar[dict[str, str]] = {
        "messages": "input.messages in order (system stays a message); developer → system; vision models "
        "use the multimodal path with [{text}, {image}] content",
        "stream": "header X-DashScope-SSE: enable + parameters.incremental_output: true",
        "temperature": "parameters.temperature, clamped into [0, 2): 2 → 1.99",
        "top_p": "parameters.top_p, clamped into (0, 1]: 0 → 0.01",
        "max_tokens / max_completion_tokens": "parameters.max_tokens",
        "seed / stop / presence_penalty / n / logprobs / top_logprobs": "same names under parameters "
        "(seed clamped ≥ 0)",
        "tools / tool_choice / parallel_tool_calls": "under parameters; tool_choice required → the named "
        "function when exactly one tool is offered (DashScope rejects `required`); parallel_tool_calls true "
        "unless false is asked (DashScope defaults to false, OpenAI to true)",
        "response_format": "parameters.response_format (json_object, json_schema)",
        "reasoning_effort": "parameters.enable_thinking (none/minimal → false); thinking answers are "
        "streamed upstream and folded for non-streaming clients",
        "user": "not sent (no native field)",
        "stream_options.include_usage": "usage rides on every event (cumulative); the last one is reported",
        "embeddings": "input.texts, at most 10 (v3/v4) or 25 (v1/v2) per call; dimensions → "
        "parameters.dimension (v3/v4; other sizes are shortened by the gateway)",
    }

    def _headers(self, call: Call, stream: bool) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if stream:
            h["X-DashScope-SSE"] = "enable"
            h["Accept"] = "text/event-stream"
        h.update(call.account.headers)
        return h

    def build_chat(self, req: ChatRequest, call: Call) -> WireRequest:
        body = chat_body(req, call)
        kind = "multimodal-generation" if call.spec.id in _MULTIMODAL else "text-generation"
        url = f"{self.base_url(call.account)}/services/aigc/{kind}/generation"
        stream = upstream_streams(req, call)
        return WireRequest("POST", url, self._headers(call, stream), orjson.dumps(body), call.stream)

    def parse_chat(self, resp: WireResponse, req: ChatRequest, call: Call) -> ChatResponse:
        from ..gateway.stream import ChunkCollector

        try:
            col = ChunkCollector()
            state = StreamState(call, req)
            body = resp.body.lstrip()
            if body[:1] == b"{":
                obj = orjson.loads(body)
                col.feed(_chunk(obj, state))
                rid = str(obj.get("request_id") or "")
            else:  # a stream folded into one answer (thinking / stream-only models)
                rid = ""
                for ev in _sse_events(resp.body):
                    for ch in self.parse_event(ev, state):
                        col.feed(ch)
            out = col.result()
            out.id, out.created = rid, int(time.time())
            return out
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise provider_error(
                UpstreamError, self.name, f"unparsable answer ({exc})", body=resp.body
            ) from exc

    def parse_event(self, event: SSEEvent, state: StreamState) -> list[ChatChunk]:
        raw = event.data.strip()
        if not raw or event.event == "done":
            return []
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise provider_error(
                UpstreamError, self.name, "malformed stream event", body=raw.encode()
            ) from exc
        if event.event == "error" or (isinstance(obj, dict) and obj.get("code") and "output" not in obj):
            raise classify_error(obj, int(state.extra.get("status", 400)), None, raw.encode())
        if not isinstance(obj, dict):
            raise provider_error(UpstreamError, self.name, "stream event is not an object", body=raw.encode())
        return [_chunk(obj, state)]

    def classify(self, resp: WireResponse, call: Call) -> QiaoError | None:
        body = resp.body.lstrip()
        if resp.status < 400:
            if body[:1] == b"{":
                try:
                    obj = orjson.loads(body)
                except orjson.JSONDecodeError:
                    return None
                if isinstance(obj, dict) and obj.get("code") and "output" not in obj:
                    return classify_error(obj, resp.status, resp.headers, resp.body)
                return None
            for ev in _sse_events(resp.body) if body[:3] in (b"id:", b"eve", b"dat") else ():
                if ev.event == "error":
                    return classify_error(orjson.loads(ev.data), 400, resp.headers, resp.body)
            return None
        try:
            obj = orjson.loads(body) if body[:1] == b"{" else None
        except orjson.JSONDecodeError:
            obj = None
        if obj is None and body:
            errs = [e for e in _sse_events(resp.body) if e.data.startswith("{")]
            obj = orjson.loads(errs[0].data) if errs else None
        return classify_error(obj, resp.status, resp.headers, resp.body)

    # ---- embeddings -------------------------------------------------------------------------------------
    def build_embeddings(self, req: EmbeddingRequest, inputs: list[str], call: Call) -> WireRequest:
        body: dict[str, Any] = {"model": call.spec.wire_name, "input": {"texts": inputs}}
        dims = _EMB_DIMS.get(call.spec.id)
        if dims:  # the full size unless fewer are asked for (as OpenAI's models answer by default)
            want = req.dimensions or dims[-1]
            body["parameters"] = {"dimension": next((d for d in dims if d >= want), dims[-1])}
        url = self.base_url(call.account) + "/services/embeddings/text-embedding/text-embedding"
        return WireRequest("POST", url, self._headers(call, False), orjson.dumps(body))

    def parse_embeddings(self, resp: WireResponse, call: Call) -> EmbeddingResult:
        try:
            obj = orjson.loads(resp.body)
            items = sorted(obj["output"]["embeddings"], key=lambda d: int(d.get("text_index", 0)))
            vectors = [[float(x) for x in d["embedding"]] for d in items]
            total = int((obj.get("usage") or {}).get("total_tokens") or 0)
            return EmbeddingResult(vectors, Usage(total, 0) if total else Usage(estimated=True))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise provider_error(
                UpstreamError, self.name, f"unparsable embeddings ({exc})", body=resp.body
            ) from exc


provider = DashScope()
