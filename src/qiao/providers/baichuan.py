"""``baichuan``: Baichuan AI (百川智能), ``https://api.baichuan-ai.com/v1``.

Baichuan's API is OpenAI-shaped (``/v1/chat/completions``, ``/v1/embeddings``, ``Authorization: Bearer``)
with its own parameter ranges and extras, so this is a small subclass of :class:`OpenAICompatible` that
builds the body field by field instead of forwarding the client's JSON (Baichuan rejects values OpenAI
clients send every day, such as ``frequency_penalty: 0`` or ``temperature: 1.5``).

Request translation (OpenAI → Baichuan):

* ``messages``: system prompt stays in ``messages`` (role ``system``; ``developer`` becomes ``system``);
  content-part arrays are flattened to their text (no model takes image input through this API);
  assistant tool calls and ``tool`` results (``tool_call_id``) pass through; the message ``name`` is not
  sent (Baichuan documents no such field). No alternation repair: Baichuan is not reported to need it.
* ``temperature``: Baichuan accepts the closed range [0, 1]; OpenAI's (1, 2] is clamped to 1. Clamping
  (not halving, as LobeChat does) keeps the common values 0–1 meaning what they meant at OpenAI.
* ``top_p``: Baichuan's range is [0, 1) (open at 1); 1 is sent as 0.99.
* ``frequency_penalty``: Baichuan accepts only [1, 2], a multiplicative repetition penalty where 1 means
  none. OpenAI 0 (no penalty) is not sent, (0, 2] maps linearly onto (1, 2]; a negative value (asking for
  *more* repetition) has no equivalent and is refused with 400 ``unsupported_parameter``.
* ``max_completion_tokens`` / ``max_tokens`` → ``max_tokens`` (Baichuan's documented range [1, 2048]).
* ``stop``: sent as a list (OpenAI's limit of 4 applies). Baichuan's primary docs do not confirm ``stop``,
  so the adapter also enforces it on the answer (non-streaming and streaming, across delta boundaries):
  text from the first stop sequence on is never returned, whatever the upstream did.
* ``tools``: OpenAI ``function`` tools as is (``strict`` dropped). ``tool_choice``: ``auto`` is the
  default and not sent; ``none`` sends no tools at all; ``required`` and a named function are refused
  (Baichuan cannot force a call). Tool-call ids come back as short opaque strings (``3951017OF8doB0A``),
  not ``call_…``: passed through unchanged.
* ``response_format``: ``json_object`` forwarded on the models that support it; ``json_schema`` refused.
* ``user``: not forwarded (no end-user field at Baichuan). ``stream_options``: not sent; Baichuan always
  puts ``usage`` on its last stream chunk, so usage is reported, not estimated.
* Native extras (``extra_body``): ``top_k`` ([0, 20]), ``with_search_enhance`` (web search, billed extra),
  ``knowledge_base`` (``{"ids": [...]}``). Knowledge-base ``cites`` in answers are not part of OpenAI's
  response and are left out.

Answers: OpenAI's shape. Stream chunks repeat ``"role": "assistant"`` in every delta, carry
``"finish_reason": ""`` until the last chunk, which holds the last piece of text, the finish reason and
``usage``; the stream ends with ``data: [DONE]``. Finish reasons ``stop``, ``length``, ``tool_calls`` and
``content_filter`` (documented) map to themselves.

Errors: HTTP status + ``{"error": {"code", "message", "type", "param"}}`` (codes/types seen in Dify's
client: ``invalid_api_key``, ``invalid_authentication``, ``api_key_empty``, ``insufficient_quota``,
``invalid_request_error``, ``rate_limit…``, ``internal…``). HTTP 429 means either "Rate limit reached for
requests" (→ RateLimited, retryable) or "Insufficient account balance, please recharge" (→
InsufficientQuota, never retried): told apart by code/type ``insufficient_quota`` and, failing that, by
the message (balance / recharge / 余额 / 欠费). Legacy (2023) ``API_KEY:SECRET_KEY`` pairs for the retired
MD5-signed API are refused with a message saying what to use instead.

Embeddings: ``Baichuan-Text-Embedding``, 1024 dimensions, 512 tokens per text, at most 16 texts per call
(the gateway splits larger inputs); ``encoding_format`` and ``dimensions`` are not sent (floats come
back; the gateway shortens vectors itself when ``dimensions`` < 1024).

Sources: apifox mirror of Baichuan's API docs (parameter ranges, status codes, 120 RPM, stream example),
docs.cloudsway.net MaaS_Baichuan (ranges, max_tokens), LangChain/Dify/LobeChat clients (errors, tools,
JSON mode, batch size, models). ``since`` on prices is the earliest date the cited source attests the
price (the launch date where known), not necessarily the day it took effect. Embedding price: one-api's
Baichuan table (which cites Baichuan's price page) has 0.001 CNY/1K tokens; a fork (one-hub) has 0.0005;
the higher one is used so that budgets are not under-reserved. Output caps: Baichuan's own API page gives
``max_tokens`` [1, 2048] for every listed model (LobeChat lists 4096–8192); the official range is used.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from ..catalogue import Capabilities, ModelSpec, PriceTier
from ..errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    ModelNotFound,
    QiaoError,
    RateLimited,
    UnsupportedParameter,
    provider_error,
)
from ..types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    ChunkChoice,
    Delta,
    EmbeddingRequest,
    Message,
    message_text,
)
from .base import Account, Call, FetchFn, SSEEvent, StreamState, WireRequest, WireResponse
from .openai_compat import BearerAuth, OpenAICompatible, _retry_after

__all__ = ["MODELS", "Baichuan", "BaichuanAuth", "provider"]

_LOBE = "https://github.com/lobehub/lobe-chat/blob/main/packages/model-bank/src/aiModels/baichuan.ts"
_ONEAPI = "https://github.com/songquanpeng/one-api/blob/main/relay/adaptor/baichuan/constants.go"

_TOOLS = Capabilities(tools=True, json_mode=True, stream_usage=True)
_PLAIN_JSON = Capabilities(json_mode=True, stream_usage=True)


def _cny(price: str, since: str, source: str) -> PriceTier:
    return PriceTier.per_mtok(price, price, since=since, source=source)


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "Baichuan4", context=32_768, caps=_TOOLS, max_output=2048, price=_cny("100", "2024-05-22", _LOBE)
    ),
    ModelSpec(
        "Baichuan4-Turbo", context=32_768, caps=_TOOLS, max_output=2048, price=_cny("15", "2024-10-01", _LOBE)
    ),
    ModelSpec(
        "Baichuan4-Air", context=32_768, caps=_TOOLS, max_output=2048, price=_cny("0.98", "2024-10-01", _LOBE)
    ),
    ModelSpec(
        "Baichuan3-Turbo", context=32_768, caps=_TOOLS, max_output=2048, price=_cny("12", "2024-07-01", _LOBE)
    ),
    ModelSpec(
        "Baichuan3-Turbo-128k",
        context=128_000,
        caps=_PLAIN_JSON,
        max_output=2048,
        price=_cny("24", "2024-07-01", _LOBE),
    ),
    ModelSpec(
        "Baichuan2-Turbo",
        context=32_768,
        caps=Capabilities(stream_usage=True),
        max_output=2048,
        price=_cny("8", "2024-01-01", _ONEAPI),
    ),
    ModelSpec(
        "Baichuan-Text-Embedding",
        context=512,
        caps=Capabilities(chat=False, stream=False, embeddings=True, stream_usage=False),
        dimensions=1024,
        embedding_batch=16,
        max_output=0,
        price=PriceTier.per_mtok("1", "0", since="2024-01-01", source=_ONEAPI),
    ),
)

_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "tool_calls",
    "sensitive": "content_filter",
}
_TYPE_STATUS = {
    "invalid_request_error": 400,
    "invalid_api_key": 401,
    "invalid_authentication": 401,
    "api_key_empty": 401,
    "insufficient_quota": 429,
    "rate_limit_reached": 429,
    "rate_limit_exceeded": 429,
}
# Words that mark an empty balance (not a rate limit): "quota" alone is not one ("TPM quota exceeded").
_QUOTA_WORDS = ("insufficient_quota", "insufficient quota", "balance", "recharge", "余额", "欠费", "arrears")


class BaichuanAuth(BearerAuth):
    """Bearer API key; a legacy ``API_KEY:SECRET_KEY`` pair (MD5-signed 2023 API) is refused clearly."""

    async def apply(self, wire: WireRequest, account: Account, fetch: FetchFn) -> WireRequest:
        if account.credential and ":" in account.credential:
            raise AuthenticationFailed(
                "baichuan: the credential looks like a legacy API key + secret key pair for Baichuan's "
                "retired MD5-signed API (X-BC-Signature); create an API key at "
                "https://platform.baichuan-ai.com and use it alone (it is sent as a Bearer token)",
                provider="baichuan",
            )
        return await super().apply(wire, account, fetch)


class Baichuan(OpenAICompatible):
    name = "baichuan"
    display_name = "Baichuan AI (百川)"
    default_base_url = "https://api.baichuan-ai.com/v1"
    credential_format = "API key from platform.baichuan-ai.com (`sk-…`), sent as a Bearer token"
    docs_url = "https://platform.baichuan-ai.com/docs/api"
    emulator = "qiao.emulators.baichuan:create_app"
    emulator_base_path = "/v1"
    demo_credential: ClassVar[str | None] = "sk-baichuan-emulator"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {
        "gpt-4o": ("Baichuan4", 10),
        "gpt-4o-mini": ("Baichuan4-Air", 10),
        "text-embedding-3-small": ("Baichuan-Text-Embedding", 10),
    }
    demo_models: ClassVar[tuple[str, ...] | None] = None
    stream_usage_supported: ClassVar[bool] = False
    # One account-wide limit is documented: 120 RPM per account (seed-four.md §3.8, from the apifox mirror
    # of Baichuan's API docs; LangChain and LobeChat use the same figure). No TPM or concurrency limit is.
    default_limits: ClassVar[dict[str, int]] = {"rpm": 120}
    unsupported = frozenset(
        {
            "n",
            "presence_penalty",
            "logit_bias",
            "logprobs",
            "top_logprobs",
            "seed",
            "parallel_tool_calls",
            "functions",
            "function_call",
            "reasoning_effort",
            "modalities",
            "audio",
            "prediction",
            "web_search_options",
            "verbosity",
        }
    )
    native_extras = frozenset({"top_k", "with_search_enhance", "knowledge_base"})
    translations: ClassVar[dict[str, str]] = {
        "model": "the Baichuan model id",
        "messages": "kept (system stays a message; developer → system); content parts flattened to text; "
        "message `name` not sent",
        "temperature": "clamped to Baichuan's [0, 1]",
        "top_p": "Baichuan's range is [0, 1): 1 is sent as 0.99",
        "frequency_penalty": "0 not sent; (0, 2] → 1 + value/2 (Baichuan accepts only [1, 2]); "
        "negative → 400",
        "max_tokens": "→ `max_tokens` (Baichuan: [1, 2048])",
        "max_completion_tokens": "→ `max_tokens` (wins over max_tokens)",
        "stop": "sent as a list (≤ 4) and also enforced on the answer by the gateway",
        "tools": "function tools as is (`strict` dropped); tool-call ids passed through",
        "tool_choice": "`auto` default; `none` sends no tools; `required`/named function → 400",
        "response_format": "`json_object` forwarded where the model supports it; `json_schema` → 400",
        "stream": "`stream: true`; the last chunk carries usage",
        "stream_options": "not sent: Baichuan always reports usage on the last chunk",
        "user": "not forwarded (Baichuan has no end-user id field)",
    }

    def __init__(self) -> None:
        super().__init__(auth=BaichuanAuth(), models=MODELS)

    # ---- chat -----------------------------------------------------------------------------------------
    def build_chat(self, req: ChatRequest, call: Call) -> WireRequest:
        body: dict[str, Any] = {"model": call.spec.wire_name, "messages": [_message(m) for m in req.messages]}
        if req.temperature is not None:
            body["temperature"] = min(float(req.temperature), 1.0)
        if req.top_p is not None:
            body["top_p"] = min(float(req.top_p), 0.99)
        fp = req.frequency_penalty
        if fp is not None and fp != 0:
            if fp < 0:
                raise UnsupportedParameter(
                    f"{call.account.name}/{call.spec.id} cannot encourage repetition: Baichuan's "
                    "frequency_penalty accepts only [1, 2] (no penalty to strong penalty); send a value >= 0",
                    param="frequency_penalty",
                )
            body["frequency_penalty"] = round(1.0 + float(fp) / 2.0, 4)
        if req.output_limit is not None:
            body["max_tokens"] = req.output_limit
        if req.stop_list:
            body["stop"] = req.stop_list
        tools = self._tools(req, call)
        if tools:
            body["tools"] = tools
        if req.response_format is not None and req.response_format.type == "json_object":
            body["response_format"] = {"type": "json_object"}
        for key in sorted(self.native_extras):
            value = (req.model_extra or {}).get(key)
            if value is not None:
                body[key] = value
        if call.stream:
            body["stream"] = True
        return WireRequest("POST", self.chat_url(call), self.headers(call), orjson.dumps(body), call.stream)

    def _tools(self, req: ChatRequest, call: Call) -> list[dict[str, Any]]:
        if not req.tools or req.tool_choice == "none":
            return []
        if req.tool_choice is not None and req.tool_choice != "auto":
            raise UnsupportedParameter(
                f"{call.account.name}/{call.spec.id} cannot force a tool call (Baichuan supports only "
                "automatic tool choice); use tool_choice 'auto' or 'none'",
                param="tool_choice",
            )
        out = []
        for t in req.tools:
            fn: dict[str, Any] = {"name": t.function.name}
            if t.function.description is not None:
                fn["description"] = t.function.description
            fn["parameters"] = t.function.parameters or {"type": "object", "properties": {}}
            out.append({"type": "function", "function": fn})
        return out

    def parse_chat(self, resp: WireResponse, req: ChatRequest, call: Call) -> ChatResponse:
        out = super().parse_chat(resp, req, call)
        stops = req.stop_list
        for c in out.choices:
            text = c.message.content
            if stops and text and not c.message.tool_calls:
                cut = _first_stop(text, stops)
                if cut is not None:
                    c.message.content = text[:cut]
                    c.finish_reason = "stop"
        return out

    def parse_event(self, event: SSEEvent, state: StreamState) -> list[ChatChunk]:
        if event.data == "[DONE]" and state.extra.get("stop_held"):
            # The stream ended without a finish reason: text held back as a possible stop prefix is not one.
            held: dict[int, str] = state.extra.pop("stop_held")
            state.done = True
            return [ChatChunk([ChunkChoice(i, Delta(content=t)) for i, t in sorted(held.items()) if t])]
        chunks = super().parse_event(event, state)  # [DONE], JSON, errors in the stream (classify_body)
        for ch in chunks:
            for c in ch.choices:
                if c.finish_reason is not None:
                    c.finish_reason = _FINISH.get(c.finish_reason, c.finish_reason) or None
            if state.request.stop_list:
                _enforce_stop(ch, state)
        return chunks

    # ---- errors ---------------------------------------------------------------------------------------
    def classify(self, resp: WireResponse, call: Call) -> QiaoError | None:
        if resp.status < 400 and b'"error"' not in resp.body[:200]:
            return None  # the common case, decided without parsing the body twice
        try:
            obj = orjson.loads(resp.body)
        except orjson.JSONDecodeError:
            obj = None
        if resp.status < 400 and not (isinstance(obj, dict) and "error" in obj and "choices" not in obj):
            return None
        return self.classify_body(obj, resp.status, resp, call)

    def classify_body(self, obj: Any, status: int, resp: WireResponse | None, call: Call) -> QiaoError | None:
        err = obj.get("error") if isinstance(obj, dict) else None
        if not isinstance(err, dict):
            return super().classify_body(obj, status, resp, call)
        message = str(err.get("message") or "")
        code = str(err.get("code") or "")
        etype = str(err.get("type") or "")
        kw: dict[str, Any] = {
            "vendor_code": code or etype or None,
            "upstream_status": status,
            "body": resp.body if resp is not None else None,
        }
        low = f"{code} {etype} {message}".lower()
        if status < 400:  # an error in a 200 body: judge by its type
            status = _TYPE_STATUS.get(etype, _TYPE_STATUS.get(code, 500))
        if status == 429 or "rate_limit" in low or "insufficient_quota" in low:
            if any(w in low for w in _QUOTA_WORDS):
                return provider_error(
                    InsufficientQuota,
                    self.name,
                    f"the Baichuan account's balance is exhausted: {message}",
                    **kw,
                )
            return provider_error(
                RateLimited, self.name, message or "rate limit reached", retry_after=_retry_after(resp), **kw
            )
        if (
            status == 401
            or code in ("invalid_api_key", "invalid_authentication", "api_key_empty")
            or etype in ("invalid_api_key", "invalid_authentication", "api_key_empty")
        ):
            return provider_error(
                AuthenticationFailed,
                self.name,
                f"the upstream rejected the gateway's credential: {message}",
                **kw,
            )
        if "content_filter" in low or "sensitive" in low or "敏感" in message:
            return provider_error(ContentFiltered, self.name, message, **kw)
        if "context" in low and ("length" in low or "exceed" in low):
            return provider_error(ContextLengthExceeded, self.name, message, param="messages", **kw)
        if "model" in low and ("not found" in low or "not exist" in low or "model_not_found" in low):
            return provider_error(ModelNotFound, self.name, message, **kw)
        return super().classify_body(obj, status, resp, call)

    # ---- embeddings -----------------------------------------------------------------------------------
    def build_embeddings(self, req: EmbeddingRequest, inputs: list[str], call: Call) -> WireRequest:
        body = {"model": call.spec.wire_name, "input": inputs}
        return WireRequest(
            "POST", self.base_url(call.account) + self.embeddings_path, self.headers(call), orjson.dumps(body)
        )


def _message(m: Message) -> dict[str, Any]:
    role = "system" if m.role == "developer" else m.role
    if role == "function":
        raise UnsupportedParameter(
            "legacy 'function' role messages are not supported by Baichuan; use tools and 'tool' messages",
            param="messages",
        )
    out: dict[str, Any] = {"role": role, "content": message_text(m.content)}
    if m.tool_calls:
        out["tool_calls"] = [
            {
                "id": t.id,
                "type": "function",
                "function": {"name": t.function.name, "arguments": t.function.arguments},
            }
            for t in m.tool_calls
        ]
    if role == "tool" and m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    return out


def _first_stop(text: str, stops: list[str]) -> int | None:
    hits = [text.find(s) for s in stops if s and s in text]
    return min(hits) if hits else None


def _held_suffix(text: str, stops: list[str]) -> int:
    """Length of the longest end of ``text`` that could be the start of a stop sequence."""
    keep = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), keep, -1):
            if text.endswith(s[:k]):
                keep = k
                break
    return keep


def _enforce_stop(chunk: ChatChunk, state: StreamState) -> None:
    """Cut streamed text at the first stop sequence, across delta boundaries; swallow what follows."""
    stops = state.request.stop_list
    held: dict[int, str] = state.extra.setdefault("stop_held", {})
    stopped: set[int] = state.extra.setdefault("stop_hit", set())
    for c in chunk.choices:
        i = c.index
        if i in stopped:
            c.delta.content = None
            c.finish_reason = None
            continue
        if c.delta.tool_calls:
            continue
        buf = held.pop(i, "") + (c.delta.content or "")
        cut = _first_stop(buf, stops)
        if cut is not None:
            c.delta.content = buf[:cut]
            c.finish_reason = "stop"
            stopped.add(i)
            continue
        keep = 0 if c.finish_reason is not None else _held_suffix(buf, stops)
        if keep:
            held[i] = buf[-keep:]
            buf = buf[:-keep]
        c.delta.content = buf or (None if c.delta.content is None else "")


provider = Baichuan()
