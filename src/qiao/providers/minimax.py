"""``minimax``: MiniMax (稀宇科技) native ``chatcompletion_v2`` API.

Wire protocol (others.md §7; MiniMax publishes no official Python SDK for this API on PyPI, so the
official API reference is the source, and [UNCERTAIN] marks what it leaves open):

* ``POST {base}/text/chatcompletion_v2``, base ``https://api.minimaxi.com/v1`` (China; the global host
  ``https://api.minimax.io/v1`` has separate keys). Auth ``Authorization: Bearer <API key>``.
* Request and answer are OpenAI-like. Answers add ``base_resp: {status_code, status_msg}``,
  ``input_sensitive`` / ``output_sensitive`` flags and ``name`` on the message; **errors usually come with
  HTTP 200** and ``base_resp.status_code != 0`` (also as a stream frame), so every body is inspected —
  see :data:`_CODES` (1002 rate limit, 1004/2049 auth, 1008 balance, 1026/1027 sensitive input/output,
  1039 token limit, 2013 invalid parameters …).
* Streams: ``data: {json}`` chunks with ``choices[].delta``; the last chunk carries ``finish_reason`` and
  ``usage`` and may repeat the whole answer under ``choices[].message`` (ignored, the deltas already
  said it); a ``data: [DONE]`` terminator is accepted but not required [UNCERTAIN].
* Reasoning: ``reasoning_content`` on the message / delta (MiniMax-M1); an answer that starts with an
  inline ``<think>…</think>`` block (M2 family) has it moved to ``reasoning_content`` (also across
  stream chunks).
* Embeddings [UNCERTAIN: the shape comes from MiniMax's older docs; not verified live]: ``POST
  {base}/embeddings[?GroupId=…]`` ``{"model": "embo-01", "texts": [...], "type": "db"}`` →
  ``{"vectors": [[...]], "total_tokens": N, "base_resp": {...}}``; the account option ``group_id`` adds the
  ``GroupId`` query parameter older accounts need. Always ``type: db`` (document side).

OpenAI → MiniMax translation:

* messages as OpenAI's (system in messages, ``name`` kept), ``developer`` → ``system``; images on vision
  models are sent as OpenAI ``image_url`` parts.
* ``temperature`` and ``top_p`` into (0, 1]: 0 → 0.01, above 1 → 1.
* ``max_completion_tokens`` / ``max_tokens`` → ``max_completion_tokens`` (``max_tokens`` is deprecated).
* ``tools``; ``tool_choice`` ``auto`` / ``none``; a missing tool-call id is minted.
* ``stream_options.include_usage`` is always asked for on streams.
* unsupported: ``n``, ``stop``, ``seed``, penalties, ``logprobs``, ``logit_bias``, ``response_format``,
  ``reasoning_effort``, named/required ``tool_choice``; ``user`` is not sent.
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
from .openai_compat import BearerAuth, parse_usage

__all__ = ["MODELS", "MiniMax", "ThinkSplitter", "chat_body", "classify_base_resp", "provider"]

PRICE_SOURCE = "https://platform.minimaxi.com/document/Price"
_REASONING = Capabilities(tools=True, reasoning=True)
_TEXT = Capabilities(tools=True)


def _cny(inp: str, out: str, since: str, cached: str | None = None) -> PriceTier:
    return PriceTier.per_mtok(inp, out, cached_input=cached, since=since, source=PRICE_SOURCE)


# CNY per 1M tokens (the lowest input-length tier where MiniMax tiers them). Dates are launches.
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "MiniMax-M2", 204_800, _REASONING, _cny("2.1", "8.4", "2025-10-27", "0.21"), max_output=131_072
    ),
    ModelSpec("MiniMax-M1", 1_000_000, _REASONING, _cny("0.8", "8", "2025-06-16"), max_output=40_000),
    ModelSpec("MiniMax-Text-01", 1_000_000, _TEXT, _cny("1", "8", "2025-01-15"), max_output=40_000),
    ModelSpec(
        "embo-01",
        4096,
        Capabilities(chat=False, stream=False, embeddings=True),
        _cny("0.5", "0", "2024-04-01"),
        dimensions=1536,
        embedding_batch=32,
    ),
)

# ---- errors ------------------------------------------------------------------------------------------------

_CODES: dict[int, type[QiaoError]] = {
    1000: UpstreamError,
    1001: UpstreamTimeout,
    1002: RateLimited,
    1004: AuthenticationFailed,
    1008: InsufficientQuota,
    1013: UpstreamError,
    1024: UpstreamError,
    1026: ContentFiltered,
    1027: ContentFiltered,
    1033: UpstreamError,
    1039: ContextLengthExceeded,
    1041: RateLimited,
    1042: InvalidRequest,
    2013: InvalidRequest,
    2045: RateLimited,
    2049: AuthenticationFailed,
}


def classify_base_resp(code: int, message: str, status: int, body: bytes | None) -> QiaoError:
    """Map a ``base_resp`` status code (or, without one, the HTTP status) to the error tree."""
    by_status: dict[int, type[QiaoError]] = {
        401: AuthenticationFailed,
        403: PermissionDenied,
        404: ModelNotFound,
        429: RateLimited,
        503: ServiceUnavailable,
        504: UpstreamTimeout,
    }
    cls = _CODES.get(code) or by_status.get(status) or (UpstreamError if status >= 500 else InvalidRequest)
    low = message.lower()
    if cls is InvalidRequest and (
        "model" in low and ("not" in low or "invalid" in low) and "support" not in low
    ):
        cls = ModelNotFound
    kw: dict[str, Any] = {"vendor_code": str(code) if code else None, "upstream_status": status, "body": body}
    if cls is ContextLengthExceeded:
        return provider_error(cls, "minimax", message, param="messages", **kw)
    if cls is AuthenticationFailed:
        message = f"MiniMax rejected the gateway's API key: {message}"
    return provider_error(cls, "minimax", message or f"MiniMax error {code}", **kw)


def _base_resp_error(obj: Any, status: int, body: bytes | None) -> QiaoError | None:
    if not isinstance(obj, dict):
        return None
    br = obj.get("base_resp")
    if isinstance(br, dict) and int(br.get("status_code") or 0) != 0:
        return classify_base_resp(int(br["status_code"]), str(br.get("status_msg") or ""), status, body)
    if obj.get("input_sensitive") and not obj.get("choices"):
        return provider_error(
            ContentFiltered,
            "minimax",
            "MiniMax refused the input as sensitive",
            upstream_status=status,
            body=body,
        )
    return None


# ---- request translation ---------------------------------------------------------------------------------


def _content(m: Message, vision: bool) -> Any:
    c = m.content
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    if vision and any(p.type == "image_url" for p in c):
        return [p.model_dump(mode="json", exclude_none=True) for p in c if p.type in ("text", "image_url")]
    return "".join(p.text or "" for p in c if p.type == "text")


def _unit(v: float) -> float:
    return min(max(v, 0.01), 1.0)


def chat_body(req: ChatRequest, call: Call) -> dict[str, Any]:
    msgs: list[dict[str, Any]] = []
    for m in req.messages:
        role = "system" if m.role == "developer" else m.role
        if role == "function":
            raise UnsupportedParameter(
                "minimax: legacy `function` messages are not supported", param="messages"
            )
        msg: dict[str, Any] = {"role": role, "content": _content(m, call.spec.caps.vision)}
        if m.name:
            msg["name"] = m.name
        if m.tool_calls:
            msg["tool_calls"] = [
                {"id": t.id, "type": "function", "function": t.function.model_dump(mode="json")}
                for t in m.tool_calls
            ]
        if role == "tool":
            msg["tool_call_id"] = m.tool_call_id or ""
        msgs.append(msg)
    body: dict[str, Any] = {"model": call.spec.wire_name, "messages": msgs, "stream": bool(call.stream)}
    if call.stream:
        body["stream_options"] = {"include_usage": True}
    if req.output_limit is not None:
        body["max_completion_tokens"] = req.output_limit
    if req.temperature is not None:
        body["temperature"] = _unit(req.temperature)
    if req.top_p is not None:
        body["top_p"] = _unit(req.top_p)
    if req.tools and req.tool_choice != "none":
        body["tools"] = [t.model_dump(mode="json", exclude_none=True) for t in req.tools]
        if req.tool_choice is not None and req.tool_choice != "auto":
            raise UnsupportedParameter("minimax accepts tool_choice auto or none only", param="tool_choice")
        if req.tool_choice == "auto":
            body["tool_choice"] = "auto"
    return body


# ---- answers -----------------------------------------------------------------------------------------------


class ThinkSplitter:
    """Moves a leading ``<think>…</think>`` block out of streamed content (tags may span chunks)."""

    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self) -> None:
        self.mode = "start"  # start → think → gap → answer
        self.buf = ""

    def feed(self, text: str) -> tuple[str, str]:
        """(reasoning, content) to emit for this piece."""
        self.buf += text
        reasoning = content = ""
        if self.mode == "start":
            stripped = self.buf.lstrip()
            if self.OPEN.startswith(stripped) and len(stripped) < len(self.OPEN):
                return "", ""  # could still become "<think>"
            if stripped.startswith(self.OPEN):
                self.mode, self.buf = "think", stripped[len(self.OPEN) :]
            else:
                self.mode, content, self.buf = "answer", self.buf, ""
                return "", content
        if self.mode == "think":
            end = self.buf.find(self.CLOSE)
            if end < 0:
                keep = next(
                    (k for k in range(len(self.CLOSE) - 1, 0, -1) if self.buf.endswith(self.CLOSE[:k])), 0
                )
                reasoning, self.buf = self.buf[: len(self.buf) - keep], self.buf[len(self.buf) - keep :]
                return reasoning, ""
            reasoning, self.buf = self.buf[:end], self.buf[end + len(self.CLOSE) :]
            self.mode = "gap"
        if self.mode == "gap":  # the blank lines after </think> belong to neither part
            self.buf = self.buf.lstrip("\n")
            if not self.buf:
                return reasoning, ""
            self.mode = "answer"
        content, self.buf = self.buf, ""
        return reasoning, content

    def flush(self) -> tuple[str, str]:
        rest, self.buf = self.buf, ""
        return (rest, "") if self.mode == "think" else ("", rest)


def split_think(text: str) -> tuple[str | None, str]:
    s = ThinkSplitter()
    r, c = s.feed(text)
    r2, c2 = s.flush()
    return (r + r2) or None, c + c2


_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "content_filter": "content_filter"}


def _call_id(seed: str, choice: int, index: int) -> str:
    return "call_" + hashlib.sha256(f"{seed}\x1f{choice}\x1f{index}".encode()).hexdigest()[:24]


class MiniMax(Provider):
    name = "minimax"
    display_name = "MiniMax (稀宇科技, native chatcompletion_v2)"
    default_base_url = "https://api.minimaxi.com/v1"
    credential_format = "MiniMax API key (China keys for api.minimaxi.com, global keys for api.minimax.io)"
    docs_url = "https://platform.minimaxi.com/document/ChatCompletion%20v2"
    models = MODELS
    auth = BearerAuth()
    stream_format = "sse"
    emulator = "qiao.emulators.minimax:create_app"
    emulator_base_path = "/v1"
    demo_credential = "minimax-emulator-key"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {"gpt-4o": ("MiniMax-M2", 3)}
    unsupported = frozenset(
        {
            "n",
            "stop",
            "seed",
            "presence_penalty",
            "frequency_penalty",
            "logit_bias",
            "logprobs",
            "top_logprobs",
            "response_format",
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
    translations: ClassVar[dict[str, str]] = {
        "messages": "OpenAI shape (system in messages, name kept); developer → system",
        "temperature / top_p": "clamped into (0, 1]: 0 → 0.01, above 1 → 1",
        "max_tokens / max_completion_tokens": "max_completion_tokens",
        "tools / tool_choice": "tools; tool_choice auto/none only; missing tool-call ids minted",
        "stream_options.include_usage": "always asked for upstream",
        "reasoning": "reasoning_content, or a leading <think>…</think> block moved out of the content",
        "errors": "base_resp.status_code inside HTTP 200 bodies and stream frames",
        "user": "not sent",
        "embeddings": "embo-01: texts + type db → vectors [UNCERTAIN]; account option group_id → ?GroupId=",
    }

    def _headers(self, call: Call) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        h.update(call.account.headers)
        return h

    def build_chat(self, req: ChatRequest, call: Call) -> WireRequest:
        url = self.base_url(call.account) + "/text/chatcompletion_v2"
        return WireRequest("POST", url, self._headers(call), orjson.dumps(chat_body(req, call)), call.stream)

    def parse_chat(self, resp: WireResponse, req: ChatRequest, call: Call) -> ChatResponse:
        from ..types import ChatChoice, ChatMessage, ToolCall

        try:
            obj = orjson.loads(resp.body)
            choices = []
            for pos, c in enumerate(obj["choices"]):
                m = c.get("message") or {}
                i = int(c.get("index", pos))
                tcs = [
                    ToolCall(
                        t.get("id") or _call_id(str(obj.get("id")), i, j),
                        t["function"]["name"],
                        t["function"].get("arguments") or "",
                    )
                    for j, t in enumerate(m.get("tool_calls") or ())
                ]
                content = m.get("content") or ""
                reasoning = m.get("reasoning_content") or None
                if reasoning is None:
                    reasoning, content = split_think(content)
                fr = _FINISH.get(str(c.get("finish_reason")), "stop")
                if obj.get("output_sensitive"):
                    fr = "content_filter"
                elif tcs:
                    fr = "tool_calls"
                msg = ChatMessage(None if tcs and not content else content, tcs, reasoning)
                choices.append(ChatChoice(i, msg, fr))
            usage = parse_usage(obj.get("usage")) or Usage(estimated=True)
            return ChatResponse(
                choices, usage, str(obj.get("id") or ""), int(obj.get("created") or time.time())
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
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
        err = _base_resp_error(obj, 200, raw.encode())
        if err is not None:
            raise err
        chunk = ChatChunk()
        splitters: dict[int, ThinkSplitter] = state.extra.setdefault("think", {})
        for pos, c in enumerate(obj.get("choices") or ()):
            i = int(c.get("index", pos))
            d = c.get("delta")
            fr = c.get("finish_reason")
            if obj.get("output_sensitive") and fr:
                fr = "content_filter"
            fr = _FINISH.get(str(fr), "stop") if fr else None
            if not isinstance(d, dict):  # a final chunk repeating the whole message: only its finish counts
                chunk.choices.append(ChunkChoice(i, Delta(), fr))
                continue
            tcd = None
            if d.get("tool_calls"):
                tcd = []
                for j, t in enumerate(d["tool_calls"]):
                    fn = t.get("function") or {}
                    idx = int(t.get("index", j))
                    tid = t.get("id") or None
                    if tid is None and f"tc{i}.{idx}" not in state.extra:
                        tid = _call_id(str(obj.get("id")), i, idx)
                    state.extra[f"tc{i}.{idx}"] = True
                    tcd.append(ToolCallDelta(idx, tid, fn.get("name") or None, fn.get("arguments") or None))
                if fr == "stop":
                    fr = "tool_calls"
            reasoning = d.get("reasoning_content") or ""
            content = d.get("content") or ""
            if content and not reasoning:
                sp = splitters.setdefault(i, ThinkSplitter())
                reasoning, content = sp.feed(content)
            if fr and i in splitters:
                r2, c2 = splitters[i].flush()
                reasoning, content = reasoning + r2, content + c2
            chunk.choices.append(ChunkChoice(i, Delta(None, content or None, reasoning or None, tcd), fr))
        usage = parse_usage(obj.get("usage"))
        if usage is not None and (usage.prompt_tokens or usage.completion_tokens):
            chunk.usage = state.usage = usage
        return [chunk]

    def classify(self, resp: WireResponse, call: Call) -> QiaoError | None:
        try:
            obj = orjson.loads(resp.body) if resp.body[:1] == b"{" else None
        except orjson.JSONDecodeError:
            obj = None
        err = _base_resp_error(obj, resp.status, resp.body)
        if err is not None or resp.status < 400:
            return err
        message = ""
        if isinstance(obj, dict):
            e = obj.get("error")
            message = str(e.get("message") if isinstance(e, dict) else e or obj.get("message") or "")
        message = message or resp.body[:200].decode("utf-8", "replace") or f"HTTP {resp.status}"
        return classify_base_resp(0, message, resp.status, resp.body)

    # ---- embeddings -------------------------------------------------------------------------------------
    def build_embeddings(self, req: EmbeddingRequest, inputs: list[str], call: Call) -> WireRequest:
        url = self.base_url(call.account) + "/embeddings"
        group = call.account.option("group_id")
        if group:
            url += f"?GroupId={group}"
        body = {"model": call.spec.wire_name, "texts": inputs, "type": "db"}
        return WireRequest("POST", url, self._headers(call), orjson.dumps(body))

    def parse_embeddings(self, resp: WireResponse, call: Call) -> EmbeddingResult:
        try:
            obj = orjson.loads(resp.body)
            vectors = [[float(x) for x in v] for v in obj["vectors"]]
            n = int(obj.get("total_tokens") or 0)
            return EmbeddingResult(vectors, Usage(n, 0) if n else Usage(estimated=True))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise provider_error(
                UpstreamError, self.name, f"unparsable embeddings ({exc})", body=resp.body
            ) from exc


provider = MiniMax()
