"""``ernie_v1``: Baidu Qianfan v1, the native "wenxinworkshop" RPC protocol (``https://aip.baidubce.com``).

Auth (:class:`BaiduOAuth`): the credential is ``API_KEY:SECRET_KEY`` of a Qianfan application. It is
exchanged at ``POST /oauth/2.0/token?grant_type=client_credentials&client_id=…&client_secret=…`` for an
access token (30 days), cached per key pair and refreshed a day before it expires, or at once when a call
answers ``error_code`` 110/111 (``classify`` drops the cached token at once and ``on_auth_error`` asks the
gateway to retry once; the gateway's stream and embeddings paths do not retry, so there only the next
call succeeds). The token travels
as the ``access_token`` query parameter; it never reaches a log or an error message (``redact``).
A refused key pair (``{"error": "invalid_client", ...}``) is a 401 ``invalid_api_key``.

Paths: ``/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/{slug}`` and ``…/embeddings/{slug}``; the slug comes
from the catalogue (``ModelSpec.upstream``: ``completions_pro``, ``ernie_speed``, ``bge_large_zh`` …), a
custom deployment is reached with an account model whose id is its slug.

Translation of an OpenAI request:

* ``messages``: every system/developer message → the top-level ``system`` string (joined with a blank
  line); alternation repaired as described in ``_ernie_wire``; ``tool`` results → role ``function`` with
  the function's ``name`` and the content as a JSON object (``{"result": …}`` around non-JSON text, as
  Baidu's own adapter does); an assistant turn with N tool calls becomes N assistant ``function_call`` /
  ``function`` pairs (v1 has one call per turn).
* ``temperature`` clamped into (0, 1] (0 → 0.0001); ``top_p`` as sent.
* ``presence_penalty``/``frequency_penalty`` (−2…2): forwarded as they are to the light models that take
  them (Speed, Lite, Tiny, Novel: :data:`NATIVE_PENALTIES`); elsewhere → ``penalty_score`` (1…2): the larger
  positive one, ``1 + p/2``; zero or negative (asking for *more* repetition, which ERNIE cannot express)
  → not sent (ERNIE's default 1.0, no penalty). Baidu's adapter maps p → p/4 + 1.5, which penalises even
  p = 0.
* ``max_tokens``/``max_completion_tokens`` → ``max_output_tokens`` (minimum 2).
* ``stop``: a list of at most 4 strings of at most 20 characters (longer → 400 ``unsupported_parameter``).
* ``user`` → ``user_id``.
* ``tools`` → ``functions``; ``tool_choice``: ``auto`` → omitted, ``none`` → no functions sent, a named
  function → ``{"type": "function", "function": {"name": …}}`` (the only form v1 accepts; ERNIE 3.5 only,
  elsewhere 400); ``required`` is not expressible (capability off). Functions exist on ERNIE 3.5 and
  ERNIE-4.0-8K only (:data:`FUNCTIONS`, from the SDK's per-model parameter lists). A returned
  ``function_call`` (no id, one per turn, ``thoughts`` dropped) → one OpenAI tool call with a minted stable
  id (:func:`~._ernie_wire.mint_tool_id`).
* ``response_format: {"type": "json_object"}`` → the bare string ``"json_object"``.

Answers: text in ``result``; ``finish_reason`` ``normal`` → ``stop``, ``function_call`` → ``tool_calls``;
``is_truncated`` → ``length``. ``need_clear_history: true`` (the prompt was judged unsafe) → 400
``content_filter``; ``finish_reason: content_filter`` after some output → finish ``content_filter``.
**Errors arrive in HTTP 200 bodies** (``error_code``/``error_msg``; ``code``/``msg`` accepted too) and are
classified with the table in ``_ernie_wire`` (336501/336502/4/18/19 → 429, 17 → ``insufficient_quota``,
110/111 → 401 after one refresh, 3360xx → 400, 336005 → 404 …).

Streaming: ``data: {…}`` events whose ``result`` is the delta; the last one has ``is_end: true`` (there is
no ``[DONE]``); usage is read only from that event. A failed start is a plain JSON error body (the
gateway reads it as a non-stream answer and classifies it).

Embeddings: ``{"input": [...], "user_id"?}``, 16 texts per call (``tao-8k``: 1).

SDK cross-check (qianfan 0.4.12.3, ``tests/emulators/test_ernie_v1_sdk.py``): the SDK only moves to
another host through ``QIANFAN_BASE_URL``; it posts the token request with a ``{}`` body, and every chat
body carries ``extra_parameters`` (accepted by the emulator); it raises its auth error only for
``error: invalid_client``, and needs stream lines to start with ``data: `` (with the space). On ``error_code``
111 in a 200 body it refreshes its token and retries (the emulator's expiry is exercised that way); its
"refresh at most hourly" guard must be lowered for tests. Where the SDK refines the notes: its per-model
parameter lists give ``functions`` to ERNIE 3.5 and ERNIE-4.0-8K but not to ERNIE 4.0 Turbo, ``tool_choice``
to ERNIE 3.5 only, and OpenAI-style ``presence_penalty``/``frequency_penalty`` to the light models; the
adapter and the emulator follow those lists.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import orjson

from ..catalogue import Capabilities, ModelSpec
from ..errors import (
    AuthenticationFailed,
    QiaoError,
    UnsupportedParameter,
    UpstreamError,
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
)
from . import ernie as _v2
from ._ernie_wire import (
    FINISH,
    TOKEN_ERRORS,
    clamp_temperature,
    classify_code,
    content_filtered,
    mint_tool_id,
    repair_messages,
    tool_result_json,
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

__all__ = [
    "FUNCTIONS",
    "MODELS",
    "NATIVE_PENALTIES",
    "SLUGS",
    "TOOL_CHOICE",
    "BaiduOAuth",
    "ErnieV1",
    "provider",
]

RPC = "/rpc/2.0/ai_custom/v1/wenxinworkshop"
TOKEN_PATH = "/oauth/2.0/token"

SLUGS: dict[str, str] = {
    "ernie-4.0-8k": "completions_pro",
    "ernie-4.0-turbo-8k": "ernie-4.0-turbo-8k",
    "ernie-4.0-turbo-128k": "ernie-4.0-turbo-128k",
    "ernie-3.5-8k": "completions",
    "ernie-3.5-128k": "ernie-3.5-128k",
    "ernie-speed-8k": "ernie_speed",
    "ernie-speed-128k": "ernie-speed-128k",
    "ernie-speed-pro-128k": "ernie-speed-pro-128k",
    "ernie-lite-8k": "ernie-lite-8k",
    "ernie-lite-pro-128k": "ernie-lite-pro-128k",
    "ernie-tiny-8k": "ernie-tiny-8k",
    "ernie-char-8k": "ernie-char-8k",
    "ernie-novel-8k": "ernie-novel-8k",
    "embedding-v1": "embedding-v1",
    "bge-large-zh": "bge_large_zh",
    "bge-large-en": "bge_large_en",
    "tao-8k": "tao_8k",
}
"""OpenAI-facing id (Qianfan's v2 id) → v1 URL slug. A lookup table: the separators are inconsistent."""

_ALIASES: dict[str, tuple[str, ...]] = {
    "ernie-4.0-8k": ("ERNIE-4.0-8K", "ERNIE-Bot-4"),
    "ernie-3.5-8k": ("ERNIE-3.5-8K", "ERNIE-Bot"),
    "ernie-speed-8k": ("ERNIE-Speed-8K", "ERNIE-Speed"),
    "ernie-lite-8k": ("ERNIE-Lite-8K",),
    "embedding-v1": ("Embedding-V1",),
}


FUNCTIONS = frozenset({"completions", "ernie-3.5-128k", "completions_pro"})
"""Slugs that accept ``functions`` (the SDK's per-model allow-list: ERNIE 3.5 and 4.0-8K, not 4.0 Turbo)."""
TOOL_CHOICE = frozenset({"completions", "ernie-3.5-128k"})
"""Slugs that also accept a forced ``tool_choice`` (ERNIE-4.0-8K does not)."""
NATIVE_PENALTIES = frozenset(
    {
        "ernie_speed",
        "ernie-speed-128k",
        "ernie-speed-pro-128k",
        "ernie-lite-8k",
        "ernie-tiny-8k",
        "ernie-novel-8k",
    }
)
"""Light models that take OpenAI's ``presence_penalty``/``frequency_penalty`` as they are."""


def _v1_spec(m: ModelSpec) -> ModelSpec:
    caps = m.caps
    if caps.chat:  # no vision on v1; functions only where the slug takes them
        caps = Capabilities(tools=SLUGS[m.id] in FUNCTIONS, json_mode=caps.json_mode)
    return ModelSpec(
        m.id,
        context=m.context,
        caps=caps,
        price=m.price,
        max_output=m.max_output,
        upstream=SLUGS[m.id],
        dimensions=m.dimensions,
        aliases=_ALIASES.get(m.id, ()),
        embedding_batch=m.embedding_batch,
    )


MODELS: tuple[ModelSpec, ...] = tuple(_v1_spec(m) for m in _v2.MODELS if m.id in SLUGS)

UNSUPPORTED = frozenset(
    {
        "n",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "seed",
        "modalities",
        "audio",
        "prediction",
        "web_search_options",
        "verbosity",
        "reasoning_effort",
        "functions",
        "function_call",
    }
)


# ---- auth ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Token:
    value: str
    refresh_at: float


class BaiduOAuth(AuthScheme):
    """``API_KEY:SECRET_KEY`` → cached OAuth access token, appended as ``?access_token=``."""

    refresh_margin_s: ClassVar[float] = 86_400.0

    def __init__(self, clock: Any = time.time) -> None:
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self._clock = clock

    @staticmethod
    def _pair(account: Account) -> tuple[str, str]:
        cred = account.credential or ""
        ak, sep, sk = cred.partition(":")
        if not sep or not ak or not sk:
            raise AuthenticationFailed(
                "ernie_v1 needs the credential as 'API_KEY:SECRET_KEY'", provider="ernie_v1"
            )
        return ak, sk

    def _key(self, account: Account) -> tuple[str, str, str]:
        ak, sk = self._pair(account)
        return (account.base_url.rstrip("/"), ak, sk)

    def cached(self, account: Account) -> str | None:
        tok = self._tokens.get(self._key(account))
        if tok is None or tok.refresh_at <= self._clock():
            return None
        return tok.value

    async def token(self, account: Account, fetch: FetchFn) -> str:
        key = self._key(account)
        if (value := self.cached(account)) is not None:
            return value
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if (value := self.cached(account)) is not None:
                return value
            base, ak, sk = key
            query = urlencode({"grant_type": "client_credentials", "client_id": ak, "client_secret": sk})
            wire = WireRequest(
                "POST",
                f"{base or ErnieV1.default_base_url}{TOKEN_PATH}?{query}",
                {"Content-Type": "application/json"},
                b"{}",
            )
            resp = await fetch(wire)
            tok = self._parse(resp, account)
            self._tokens[key] = tok
            return tok.value

    def _parse(self, resp: WireResponse, account: Account) -> _Token:
        secrets = tuple(s for s in self._pair(account))
        try:
            obj = orjson.loads(resp.body)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and obj.get("access_token"):
            life = float(obj.get("expires_in") or 2_592_000)
            # a day early (or a tenth of the lifetime, for short-lived tokens)
            early = min(self.refresh_margin_s, life / 10)
            return _Token(str(obj["access_token"]), self._clock() + life - early)
        err = obj.get("error") if isinstance(obj, dict) else None
        desc = str(obj.get("error_description") or "") if isinstance(obj, dict) else ""
        if err == "invalid_client" or resp.status in (400, 401):
            known = {
                "unknown client id": "the API key is unknown",
                "Client authentication failed": "the secret key does not match the API key",
            }
            what = known.get(desc, desc)
            e = provider_error(
                AuthenticationFailed,
                "ernie_v1",
                f"the OAuth token endpoint refused the key pair: {what or err}",
                vendor_code=str(err or resp.status),
                upstream_status=resp.status,
            )
        else:
            e = provider_error(
                UpstreamError,
                "ernie_v1",
                f"OAuth token request failed ({err or resp.status})",
                upstream_status=resp.status,
            )
        e.message = _scrub(e.message, secrets)
        raise e

    def invalidate(self, account: Account) -> None:
        try:
            self._tokens.pop(self._key(account), None)
        except AuthenticationFailed:
            pass

    async def apply(self, wire: WireRequest, account: Account, fetch: FetchFn) -> WireRequest:
        token = await self.token(account, fetch)
        sep = "&" if "?" in wire.url else "?"
        wire.url = f"{wire.url}{sep}access_token={quote(token, safe='')}"
        return wire

    def on_auth_error(self, account: Account, error: QiaoError) -> bool:
        code = error.vendor_code
        if code is not None and code.isdigit() and int(code) in TOKEN_ERRORS:
            self.invalidate(account)
            return True
        return False


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text


# ---- provider -----------------------------------------------------------------------------------------


class ErnieV1(Provider):
    name = "ernie_v1"
    display_name = "Baidu Qianfan (ERNIE, v1 wenxinworkshop API)"
    default_base_url = "https://aip.baidubce.com"
    credential_format = "`API_KEY:SECRET_KEY` of a Qianfan application (exchanged for an OAuth access token)"
    docs_url = "https://cloud.baidu.com/doc/WENXINWORKSHOP/s/jlil56u11"
    emulator = "qiao.emulators.ernie_v1:create_app"
    emulator_base_path = ""
    demo_credential: ClassVar[str | None] = "ernie-demo-ak:ernie-demo-sk"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {}
    # The same Qianfan quota as ``ernie`` (v2): ERNIE 3.5's documented default, 300 RPM / 300,000 TPM
    # (seed-four.md §1.9; per model, other models and enterprise accounts differ).
    default_limits: ClassVar[dict[str, int]] = {"rpm": 300, "tpm": 300_000}
    stream_format = "sse"
    translations: ClassVar[dict[str, str]] = {
        "messages": "system/developer messages → top-level `system`; alternation repaired ('/' placeholders, "
        "same-role runs merged); tool → role function (JSON content); N tool calls → N "
        "function_call/function pairs; an assistant-last history is refused",
        "temperature": "clamped into (0, 1]: 0 → 0.0001, above 1 → 1.0",
        "top_p": "forwarded",
        "presence_penalty": "forwarded to Speed/Lite/Tiny/Novel; elsewhere penalty_score = "
        "1 + max(presence, frequency)/2 for positive values, zero/negative → not sent",
        "frequency_penalty": "see presence_penalty",
        "max_tokens": "max_output_tokens (minimum 2)",
        "max_completion_tokens": "max_output_tokens (minimum 2)",
        "stop": "list of ≤4 strings, each ≤20 characters (longer → 400)",
        "user": "user_id",
        "tools": "functions (ERNIE 3.5, ERNIE-4.0-8K)",
        "tool_choice": "auto → omitted, none → no functions, named → object form (ERNIE 3.5 only)",
        "parallel_tool_calls": "not sent: one call per turn honours both values",
        "response_format": 'json_object → the bare string "json_object"',
        "stream_options.include_usage": "usage from the is_end event",
        "finish_reason": "normal → stop, function_call → tool_calls; need_clear_history → 400 content_filter",
    }

    def __init__(self) -> None:
        self.models = MODELS
        self.auth = BaiduOAuth()
        self.unsupported = UNSUPPORTED
        self.native_extras = frozenset(
            {
                "penalty_score",
                "disable_search",
                "enable_citation",
                "enable_trace",
                "enable_system_memory",
                "system_memory_id",
                "min_output_tokens",
            }
        )

    def _url(self, call: Call, kind: str) -> str:
        return f"{self.base_url(call.account)}{RPC}/{kind}/{call.spec.wire_name}"

    def _headers(self, call: Call) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        h.update(call.account.headers)
        return h

    # ---- chat -----------------------------------------------------------------------------------------
    def build_chat(self, req: ChatRequest, call: Call) -> WireRequest:
        body = self.chat_body(req, call)
        return WireRequest(
            "POST", self._url(call, "chat"), self._headers(call), orjson.dumps(body), call.stream
        )

    def chat_body(self, req: ChatRequest, call: Call) -> dict[str, Any]:
        system, msgs = repair_messages(req, self.name)
        messages: list[dict[str, Any]] = []
        i = 0
        while i < len(msgs):
            m = msgs[i]
            i += 1
            if m["role"] == "assistant" and m.get("tool_calls"):
                results: list[dict[str, Any]] = []
                while i < len(msgs) and msgs[i]["role"] == "tool":
                    results.append(msgs[i])
                    i += 1
                messages.extend(self._call_pairs(m, results))
                continue
            if m["role"] == "tool":  # a result without its call in the history: send it as is
                messages.append(_function_message(m, m.get("name") or ""))
                continue
            content = m["content"]
            if not isinstance(content, str):
                content = "".join(p.get("text") or "" for p in content if p.get("type") == "text") or "/"
            messages.append({"role": m["role"], "content": content})
        body: dict[str, Any] = {"messages": messages}
        if system:
            body["system"] = system
        if call.stream:
            body["stream"] = True
        if req.temperature is not None:
            body["temperature"] = clamp_temperature(req.temperature)
        if req.top_p is not None:
            body["top_p"] = req.top_p
        if call.spec.wire_name in NATIVE_PENALTIES:
            if req.presence_penalty is not None:
                body["presence_penalty"] = req.presence_penalty
            if req.frequency_penalty is not None:
                body["frequency_penalty"] = req.frequency_penalty
        else:
            penalty = max(req.presence_penalty or 0.0, req.frequency_penalty or 0.0)
            if penalty > 0:
                body["penalty_score"] = round(1.0 + penalty / 2.0, 4)
        if req.output_limit is not None:
            body["max_output_tokens"] = max(2, req.output_limit)
        stops = req.stop_list
        if stops:
            if any(len(s) > 20 for s in stops):
                raise provider_error(
                    UnsupportedParameter,
                    self.name,
                    "ERNIE accepts stop sequences of at most 20 characters",
                    param="stop",
                )
            body["stop"] = stops
        if req.user:
            body["user_id"] = req.user
        if req.tools and req.tool_choice != "none":
            body["functions"] = [
                t.function.model_dump(mode="json", exclude_none=True, exclude={"strict"}) for t in req.tools
            ]
            if req.tool_choice is not None and not isinstance(req.tool_choice, str):
                if call.spec.wire_name not in TOOL_CHOICE:
                    raise provider_error(
                        UnsupportedParameter,
                        self.name,
                        f"{call.spec.id} cannot be forced to call a function",
                        param="tool_choice",
                    )
                name = req.tool_choice.function.name
                body["tool_choice"] = {"type": "function", "function": {"name": name}}
        if req.response_format is not None and req.response_format.type == "json_object":
            body["response_format"] = "json_object"
        for k in self.native_extras:
            if req.model_extra and req.model_extra.get(k) is not None:
                body[k] = req.model_extra[k]
        return body

    def _call_pairs(self, m: dict[str, Any], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One assistant turn with N tool calls → N (function_call, function) pairs, results matched by id."""
        calls = m["tool_calls"]
        by_id = {r.get("tool_call_id"): r for r in results if r.get("tool_call_id")}
        unmatched = [r for r in results if r.get("tool_call_id") not in {c.get("id") for c in calls}]
        out: list[dict[str, Any]] = []
        for j, tc in enumerate(calls):
            fn = tc.get("function") or {}
            name = fn.get("name", "")
            result = by_id.get(tc.get("id")) if tc.get("id") else None
            if result is None and unmatched:
                result = unmatched.pop(0)
            if result is None:
                raise provider_error(
                    UnsupportedParameter,
                    self.name,
                    f"the tool call {tc.get('id') or name!r} has no tool result",
                    param="messages",
                )
            out.append(
                {
                    "role": "assistant",
                    "content": m["content"] if j == 0 and m["content"] else "",
                    "function_call": {"name": name, "arguments": fn.get("arguments") or "{}"},
                }
            )
            out.append(_function_message(result, name))
        return out

    def parse_chat(self, resp: WireResponse, req: ChatRequest, call: Call) -> ChatResponse:
        try:
            data = orjson.loads(resp.body)
            if data.get("need_clear_history") is True:
                raise content_filtered(self.name, resp.body)
            text = data.get("result") or ""
            calls: list[ToolCall] = []
            fc = data.get("function_call")
            if isinstance(fc, dict) and fc.get("name"):
                args = fc.get("arguments") or "{}"
                tid = mint_tool_id(str(data.get("id") or ""), fc["name"], args)
                calls.append(ToolCall(tid, fc["name"], args))
            finish = _finish(data, bool(calls))
            usage = _usage(data.get("usage")) or Usage(estimated=True)
            msg = ChatMessage(text if text or not calls else None, calls)
            return ChatResponse(
                [ChatChoice(0, msg, finish)],
                usage,
                str(data.get("id") or ""),
                int(data.get("created") or time.time()),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise provider_error(
                UpstreamError, self.name, f"unparsable answer ({exc})", body=resp.body
            ) from exc

    def parse_event(self, event: SSEEvent, state: StreamState) -> list[ChatChunk]:
        try:
            obj = orjson.loads(event.data)
        except orjson.JSONDecodeError as exc:
            raise provider_error(
                UpstreamError, self.name, "malformed stream event", body=event.data.encode()
            ) from exc
        if not isinstance(obj, dict):
            raise provider_error(UpstreamError, self.name, "malformed stream event", body=event.data.encode())
        if "error_code" in obj or "code" in obj and "result" not in obj:
            raise self._error(obj, event.data.encode(), 200, None)
        if obj.get("need_clear_history") is True:
            raise content_filtered(self.name, event.data.encode())
        chunk = ChatChunk()
        delta = Delta(content=obj.get("result") or None)
        fc = obj.get("function_call")
        if isinstance(fc, dict) and fc.get("name"):
            args = fc.get("arguments") or "{}"
            tid = mint_tool_id(str(obj.get("id") or ""), fc["name"], args)
            delta.tool_calls = [ToolCallDelta(0, tid, fc["name"], args)]
            state.extra["tool"] = True
        end = obj.get("is_end") is True
        fr = obj.get("finish_reason")
        finish: str | None = None
        if end:
            finish = _finish(obj, bool(state.extra.get("tool")))
        elif fr in ("content_filter", "length"):
            finish = fr
        if not delta.is_empty() or finish:
            chunk.choices.append(ChunkChoice(0, delta, finish))
        if end:
            chunk.usage = _usage(obj.get("usage"))
            state.usage = chunk.usage
            state.done = True
        return [chunk] if chunk.choices or chunk.usage else []

    def classify(self, resp: WireResponse, call: Call) -> QiaoError | None:
        head = resp.body[:400]
        if resp.status < 400 and head.find(b"error_code") < 0 and head.find(b'"code"') < 0:
            return None
        try:
            obj = orjson.loads(resp.body)
        except orjson.JSONDecodeError:
            obj = None
        if resp.status < 400 and not (
            isinstance(obj, dict) and ("error_code" in obj or "code" in obj and "result" not in obj)
        ):
            return None
        err = self._error(obj, resp.body, resp.status, resp)
        if err.vendor_code in _TOKEN_CODES and isinstance(self.auth, BaiduOAuth):
            # Forget the token now, whatever the gateway does next: its non-stream path retries at once
            # (on_auth_error), a stream or an embeddings call fails this once and the next call re-fetches.
            self.auth.invalidate(call.account)
        return err

    def _error(self, obj: Any, body: bytes, status: int, resp: WireResponse | None) -> QiaoError:
        if isinstance(obj, dict) and ("error_code" in obj or "code" in obj):
            raw: Any = obj.get("error_code", obj.get("code"))
            msg = str(obj.get("error_msg", obj.get("msg")) or "")
            try:
                code = int(raw)
            except (TypeError, ValueError):
                code = 1
            ra = None
            if resp is not None and code in (4, 18, 19, 336501, 336502):
                ra = _retry_after(resp)
            return classify_code(self.name, code, msg, body, status, ra)
        err = _v2.provider.classify_body(obj, status, resp, None)  # type: ignore[arg-type]
        return err or provider_error(UpstreamError, self.name, f"HTTP {status}", body=body)

    # ---- embeddings -----------------------------------------------------------------------------------
    def build_embeddings(self, req: EmbeddingRequest, inputs: list[str], call: Call) -> WireRequest:
        body: dict[str, Any] = {"input": inputs}
        if req.user:
            body["user_id"] = req.user
        return WireRequest("POST", self._url(call, "embeddings"), self._headers(call), orjson.dumps(body))

    def parse_embeddings(self, resp: WireResponse, call: Call) -> EmbeddingResult:
        try:
            data = orjson.loads(resp.body)
            items = sorted(data["data"], key=lambda d: d.get("index", 0))
            usage = _usage(data.get("usage")) or Usage(estimated=True)
            return EmbeddingResult([list(d["embedding"]) for d in items], usage)
        except (KeyError, TypeError, ValueError) as exc:
            raise provider_error(
                UpstreamError, self.name, f"unparsable embeddings ({exc})", body=resp.body
            ) from exc


_TOKEN_CODES = frozenset(str(c) for c in TOKEN_ERRORS)


def _function_message(m: dict[str, Any], name: str) -> dict[str, Any]:
    content = m["content"] if isinstance(m["content"], str) else orjson.dumps(m["content"]).decode()
    return {"role": "function", "name": name, "content": tool_result_json(content)}


def _finish(data: dict[str, Any], tool: bool) -> str:
    fr = str(data.get("finish_reason") or "normal")
    if tool or fr == "function_call":
        return "tool_calls"
    if data.get("is_truncated") is True and fr in ("normal", "stop"):
        return "length"
    return FINISH.get(fr, "stop")


def _usage(u: Any) -> Usage | None:
    if not isinstance(u, dict):
        return None
    return Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))


def _retry_after(resp: WireResponse) -> float | None:
    v = resp.headers.get("retry-after")
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


provider = ErnieV1()
