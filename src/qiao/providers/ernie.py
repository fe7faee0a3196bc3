"""``ernie``: Baidu Qianfan v2, the OpenAI-style surface (``https://qianfan.baidubce.com/v2``).

Auth: ``Authorization: Bearer bce-v3/ALTAK-…/…`` (the console API key, used as is). Paths
``/chat/completions`` and ``/embeddings``; model ids are Qianfan's lower-case ids (``ernie-4.5-turbo-128k``).
The legacy wenxinworkshop protocol (OAuth key pair, per-model URL slugs, errors in 200 bodies) is the
separate provider ``ernie_v1``.

Translation of an OpenAI request (the rules shared with v1 live in ``_ernie_wire``):

* ``messages``: v2 keeps the OpenAI roles but still enforces ERNIE's alternation, so the history is
  repaired (system/developer messages lifted into one leading ``system`` message; same-role runs merged;
  ``"/"`` placeholders for empty content, a leading assistant turn and a user turn right after a tool
  result; an assistant-last history is refused with 400 ``unsupported_parameter``).
* ``temperature``: clamped into ERNIE's (0, 1] (0 → 0.0001, >1 → 1.0); ``top_p`` as sent.
* ``max_tokens``/``max_completion_tokens`` → ``max_completion_tokens`` (at least 2, ERNIE's minimum).
* ``presence_penalty``/``frequency_penalty``, ``stop``, ``user``, ``tools``, ``tool_choice`` (auto, none, a
  named function), ``response_format: json_object``, ``stream_options``: forwarded (v2 names them as
  OpenAI does). ``parallel_tool_calls`` is not sent: ERNIE makes at most one call per turn, which honours
  both values. Baidu's own ``penalty_score`` and ``web_search`` pass through as native extras.

Answers: ``finish_reason: "normal"`` → ``stop``. Content safety: a choice flagged ``need_clear_history``
or ``ban_round: -1`` means the *prompt* was judged unsafe → 400 ``content_filter`` (like Azure's prompt
filter); ``finish_reason: "content_filter"`` (or ``flag`` ≥ 2) after some output → finish ``content_filter``.
Errors are HTTP 4xx/5xx with ``{"error": {"code", "message", "type"}, "id"}``; an ``error_code`` body
(the v1 vocabulary, seen on some v2 gateway errors) is classified with the v1 table.

Embeddings: ``/embeddings`` with ``{"model", "input", "encoding_format": "float"}``, 16 texts per call
(``tao-8k``: 1); ``dimensions`` is not sent (Qianfan has none): the gateway shortens and re-normalises.

SDK cross-check (qianfan 0.4.12.3, ``tests/emulators/test_ernie_sdk.py``): ``qianfan.Qianfan`` posts to
``/v2/chat/completions`` with an ``extra_parameters`` object and a ``Request_id`` header, which the
emulator accepts; the ``openai`` SDK pointed at ``ROOT/v2`` asks for base64 embeddings by default
(supported by the emulator; the gateway itself always asks for floats). The SDK sends ``"stream": false``
explicitly and its v2 types carry ``flag`` and ``ban_round`` on each choice and accept ``finish_reason:
"normal"``, as the emulator answers. Not verifiable without a live key [UNCERTAIN]: the v2 code for an
account in arrears (the emulator answers 429 ``insufficient_quota``; the adapter also recognises "arrear" /
"欠费" / "insufficient" in any error), and whether v2 takes ``seed`` (listed as unsupported until seen).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import orjson

from ..catalogue import Capabilities, ModelSpec, PriceTier
from ..errors import (
    ContentFiltered,
    InsufficientQuota,
    ModelNotFound,
    QiaoError,
    UpstreamError,
    provider_error,
)
from ..types import ChatChunk, ChatRequest, ChatResponse, EmbeddingRequest
from ._ernie_wire import clamp_temperature, classify_code, content_filtered, repair_messages
from .base import Call, SSEEvent, StreamState, WireRequest, WireResponse
from .openai_compat import BearerAuth, OpenAICompatible

__all__ = ["MODELS", "Ernie", "provider"]

# Prices: CNY per 1M tokens. ``since`` is the date from which our sources attest the price (seed-four.md
# §1.8), not a vendor-announced change date, which is not established for most of them:
# * ``_LAUNCH``: ERNIE 4.5 Turbo and X1 Turbo were launched with these prices at Baidu Create, 25 April 2025
#   (the VL variant's own date is [UNCERTAIN]);
# * ``_FREE``: ERNIE Speed / Lite / Tiny announced free, widely reported as 21 May 2024 [UNCERTAIN day];
# * ``_EARLY25``: LobeChat's wenxin catalogue of early 2025 [UNCERTAIN day]: ERNIE 4.0 / 4.0 Turbo / 3.5 had
#   left the newest catalogue by then, so these are their last attested prices;
# * ``_BANK``: LobeChat's model bank, a version that already lists a model released 2025-11-12.
_BANK_SRC = "https://github.com/lobehub/lobe-chat/blob/main/packages/model-bank/src/aiModels/wenxin.ts"
_EARLY_SRC = "https://github.com/lobehub/lobe-chat/blob/main/src/config/aiModels/wenxin.ts"
_EMBED_SRC = (
    "https://github.com/langgenius/dify/blob/main/api/core/model_runtime/model_providers/wenxin/"
    "text_embedding/embedding-v1.yaml"
)
_LAUNCH, _FREE, _EARLY25, _BANK = "2025-04-25", "2024-05-21", "2025-01-01", "2025-11-12"

_TOOLS = Capabilities(tools=True, json_mode=True)
_JSON = Capabilities(json_mode=True)  # ERNIE 4.0 Turbo: no function calling in Baidu's parameter lists
_PLAIN = Capabilities()
_EMBED = Capabilities(chat=False, stream=False, embeddings=True, stream_usage=False)


def _p(i: str, o: str, since: str, source: str, cached: str | None = None) -> PriceTier:
    return PriceTier.per_mtok(i, o, cached_input=cached, since=since, source=source)


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "ernie-4.5-turbo-128k",
        context=131_072,
        caps=_TOOLS,
        max_output=12_288,
        price=_p("0.8", "3.2", _LAUNCH, _BANK_SRC, cached="0.2"),
    ),
    ModelSpec(
        "ernie-4.5-turbo-32k",
        context=32_768,
        caps=_TOOLS,
        max_output=12_288,
        price=_p("0.8", "3.2", _LAUNCH, _BANK_SRC, cached="0.2"),
    ),
    ModelSpec(
        "ernie-4.5-turbo-vl-32k",
        context=32_768,
        caps=Capabilities(vision=True),
        max_output=12_288,
        price=_p("3", "9", _LAUNCH, _BANK_SRC, cached="0.75"),
    ),
    # X1 Turbo: a reasoning model; the model bank lists no function calling for it.
    ModelSpec(
        "ernie-x1-turbo-32k",
        context=32_768,
        max_output=28_160,
        caps=Capabilities(reasoning=True),
        price=_p("1", "4", _LAUNCH, _BANK_SRC),
    ),
    ModelSpec(
        "ernie-4.0-turbo-8k",
        context=8192,
        caps=_JSON,
        max_output=2048,
        price=_p("20", "60", _EARLY25, _EARLY_SRC),
    ),
    ModelSpec(
        "ernie-4.0-turbo-128k",
        context=131_072,
        caps=_JSON,
        max_output=4096,
        price=_p("20", "60", _EARLY25, _EARLY_SRC),
    ),
    ModelSpec(
        "ernie-4.0-8k", context=8192, caps=_TOOLS, max_output=2048, price=_p("30", "90", _EARLY25, _EARLY_SRC)
    ),
    ModelSpec(
        "ernie-3.5-8k", context=8192, caps=_TOOLS, max_output=2048, price=_p("0.8", "2", _EARLY25, _EARLY_SRC)
    ),
    ModelSpec(
        "ernie-3.5-128k",
        context=131_072,
        caps=_TOOLS,
        max_output=4096,
        price=_p("0.8", "2", _EARLY25, _EARLY_SRC),
    ),
    ModelSpec(
        "ernie-speed-8k", context=8192, caps=_PLAIN, max_output=2048, price=_p("0", "0", _FREE, _BANK_SRC)
    ),
    ModelSpec(
        "ernie-speed-128k",
        context=131_072,
        caps=_PLAIN,
        max_output=4096,
        price=_p("0", "0", _FREE, _BANK_SRC),
    ),
    ModelSpec(
        "ernie-speed-pro-128k",
        context=131_072,
        caps=_PLAIN,
        max_output=4096,
        price=_p("0.3", "0.6", _EARLY25, _EARLY_SRC),
    ),
    ModelSpec(
        "ernie-lite-8k", context=8192, caps=_PLAIN, max_output=2048, price=_p("0", "0", _FREE, _BANK_SRC)
    ),
    ModelSpec(
        "ernie-lite-pro-128k",
        context=131_072,
        caps=Capabilities(tools=True),
        max_output=4096,
        price=_p("0.2", "0.4", _EARLY25, _EARLY_SRC),
    ),
    ModelSpec(
        "ernie-tiny-8k", context=8192, caps=_PLAIN, max_output=2048, price=_p("0", "0", _FREE, _BANK_SRC)
    ),
    # ERNIE Character: 4 / 8 in early 2025, 0.3 / 0.6 in the model bank.
    ModelSpec(
        "ernie-char-8k", context=8192, caps=_PLAIN, max_output=2048, price=_p("0.3", "0.6", _BANK, _BANK_SRC)
    ),
    ModelSpec(
        "ernie-novel-8k",
        context=8192,
        caps=_PLAIN,
        max_output=2048,
        price=_p("40", "120", _EARLY25, _EARLY_SRC),
    ),
    ModelSpec(
        "embedding-v1",
        context=384,
        caps=_EMBED,
        dimensions=384,
        embedding_batch=16,
        price=_p("0.5", "0", _EARLY25, _EMBED_SRC),
    ),
    ModelSpec(
        "bge-large-zh",
        context=512,
        caps=_EMBED,
        dimensions=1024,
        embedding_batch=16,
        price=_p("0.5", "0", _EARLY25, _EMBED_SRC),
    ),
    ModelSpec(
        "bge-large-en",
        context=512,
        caps=_EMBED,
        dimensions=1024,
        embedding_batch=16,
        price=_p("0.5", "0", _EARLY25, _EMBED_SRC),
    ),
    ModelSpec(
        "tao-8k",
        context=8192,
        caps=_EMBED,
        dimensions=1024,
        embedding_batch=1,
        price=_p("0.5", "0", _EARLY25, _EMBED_SRC),
    ),
)

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


class Ernie(OpenAICompatible):
    """Qianfan v2: OpenAI-shaped, with ERNIE's ranges, alternation rules and safety fields."""

    name = "ernie"
    display_name = "Baidu Qianfan (ERNIE, v2 API)"
    default_base_url = "https://qianfan.baidubce.com/v2"
    credential_format = "Qianfan console API key `bce-v3/ALTAK-…/…` (sent as a Bearer token)"
    docs_url = "https://cloud.baidu.com/doc/qianfan-api/s/3m7of64lb"
    emulator = "qiao.emulators.ernie:create_app"
    emulator_base_path = "/v2"
    demo_credential: ClassVar[str | None] = "bce-v3/ALTAK-demo/emulatorsecret"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {
        "gpt-4o": ("ernie-4.5-turbo-128k", 20),
        "gpt-4o-mini": ("ernie-4.5-turbo-32k", 20),
        "text-embedding-3-small": ("bge-large-zh", 20),
    }
    demo_models: ClassVar[tuple[str, ...] | None] = None
    reasoning_field: ClassVar[str] = "reasoning_content"
    stream_usage_supported: ClassVar[bool] = True
    # Qianfan limits by RPM and TPM since 2024-01-17 (RPM = QPS x 60, TPM = QPS x 60 x 1000); Baidu's
    # example default is ERNIE 3.5 at 300 RPM / 300,000 TPM (seed-four.md §1.9). Baidu counts per model and
    # gives enterprise accounts and other models other numbers (the console shows them): this is the
    # common case, set ``limits`` where the console says otherwise.
    default_limits: ClassVar[dict[str, int]] = {"rpm": 300, "tpm": 300_000}
    translations: ClassVar[dict[str, str]] = {
        "messages": "system/developer messages lifted into one leading system message; ERNIE's "
        "user/assistant alternation repaired (same-role runs merged, '/' placeholders for empty "
        "content, a leading assistant turn, a user turn right after a tool result); an "
        "assistant-last history is refused",
        "temperature": "clamped into ERNIE's (0, 1]: 0 → 0.0001, above 1 → 1.0",
        "top_p": "forwarded",
        "max_tokens": "sent as max_completion_tokens (minimum 2)",
        "max_completion_tokens": "forwarded (minimum 2)",
        "presence_penalty": "forwarded",
        "frequency_penalty": "forwarded",
        "stop": "forwarded",
        "user": "forwarded",
        "tools": "forwarded",
        "tool_choice": "forwarded (auto, none, a named function)",
        "parallel_tool_calls": "not sent: ERNIE makes at most one call per turn",
        "response_format": "json_object forwarded",
        "stream_options.include_usage": "always requested upstream",
        "finish_reason": "normal → stop; need_clear_history/ban_round -1 → 400 content_filter",
    }

    def __init__(self) -> None:
        super().__init__(auth=BearerAuth(), models=MODELS)
        self.unsupported = UNSUPPORTED
        self.native_extras = frozenset(
            {
                "penalty_score",
                "web_search",
                "disable_search",
                "enable_citation",
                "enable_trace",
                "extra_parameters",
            }
        )

    # ---- request --------------------------------------------------------------------------------------
    def adjust_body(self, body: dict[str, Any], req: ChatRequest, call: Call) -> None:
        system, msgs = repair_messages(req, self.name)
        body["messages"] = ([{"role": "system", "content": system}] if system else []) + msgs
        if req.temperature is not None:
            body["temperature"] = clamp_temperature(req.temperature)
        limit = req.output_limit
        body.pop("max_tokens", None)
        if limit is not None:
            body["max_completion_tokens"] = max(2, limit)
        body.pop("parallel_tool_calls", None)
        body.pop("n", None)  # only n=1 gets here (capabilities)
        for k in ("store", "service_tier", "prompt_cache_key", "safety_identifier", "metadata"):
            body.pop(k, None)

    def build_embeddings(self, req: EmbeddingRequest, inputs: list[str], call: Call) -> WireRequest:
        # Qianfan has no ``dimensions``: the gateway shortens the vectors itself; ``user`` is not sent.
        body = {"model": call.spec.wire_name, "input": inputs, "encoding_format": "float"}
        return WireRequest(
            "POST", self.base_url(call.account) + self.embeddings_path, self.headers(call), orjson.dumps(body)
        )

    # ---- answers --------------------------------------------------------------------------------------
    def parse_chat(self, resp: WireResponse, req: ChatRequest, call: Call) -> ChatResponse:
        out = super().parse_chat(resp, req, call)
        if not _SAFETY.search(resp.body):
            return out  # the common case: no safety fields, one JSON parse
        data = orjson.loads(resp.body)
        raw = data.get("choices") or []
        if any(_prompt_unsafe(c) for c in raw):
            raise content_filtered(self.name, resp.body)
        for ch, c in zip(out.choices, raw, strict=False):
            if _flagged(c) and ch.finish_reason == "stop":
                ch.finish_reason = "content_filter"
        return out

    def parse_event(self, event: SSEEvent, state: StreamState) -> list[ChatChunk]:
        data = event.data
        if data == "[DONE]" or not _SAFETY_S.search(data):
            return super().parse_event(event, state)  # finish "normal" → "stop" is in the parent's table
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise provider_error(
                UpstreamError, self.name, "malformed stream event", body=data.encode()
            ) from exc
        if not isinstance(obj, dict):
            raise provider_error(UpstreamError, self.name, "malformed stream event", body=data.encode())
        if "error_code" in obj:
            raise classify_code(
                self.name, int(obj["error_code"]), str(obj.get("error_msg") or ""), data.encode(), 200
            )
        raw = obj.get("choices") or []
        if any(_prompt_unsafe(c) for c in raw):
            raise provider_error(
                ContentFiltered,
                self.name,
                "the answer was stopped by ERNIE's content safety",
                body=data.encode(),
            )
        chunks = super().parse_event(event, state)
        for chunk in chunks:
            for ch, c in zip(chunk.choices, raw, strict=False):
                if ch.finish_reason == "stop" and _flagged(c):
                    ch.finish_reason = "content_filter"
        return chunks

    def classify(self, resp: WireResponse, call: Call) -> QiaoError | None:
        if resp.status < 400:
            if resp.body.find(b"error", 0, 200) < 0:
                return None
            try:
                obj = orjson.loads(resp.body)
            except orjson.JSONDecodeError:
                return None
            if not isinstance(obj, dict) or "choices" in obj or "data" in obj:
                return None
            if "error_code" in obj:
                return classify_code(
                    self.name, int(obj["error_code"]), str(obj.get("error_msg") or ""), resp.body, resp.status
                )
            if isinstance(obj.get("error"), dict):
                return self.classify_body(obj, 502, resp, call)
            return None
        try:
            obj = orjson.loads(resp.body)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and "error_code" in obj:
            return classify_code(
                self.name, int(obj["error_code"]), str(obj.get("error_msg") or ""), resp.body, resp.status
            )
        return self.classify_body(obj, resp.status, resp, call)

    def classify_body(self, obj: Any, status: int, resp: WireResponse | None, call: Call) -> QiaoError | None:
        err = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(err, dict):
            words = f"{err.get('code') or ''} {err.get('type') or ''} {err.get('message') or ''}".lower()
            kw: dict[str, Any] = {
                "vendor_code": err.get("code"),
                "upstream_status": status,
                "body": resp.body if resp else None,
            }
            if "insufficient" in words or "arrear" in words or "欠费" in words:
                return provider_error(
                    InsufficientQuota, self.name, str(err.get("message") or "insufficient"), **kw
                )
            if err.get("code") == "invalid_model":
                return provider_error(
                    ModelNotFound, self.name, str(err.get("message") or "invalid model"), param="model", **kw
                )
        return super().classify_body(obj, status, resp, call)


_SAFETY = re.compile(rb'"(?:error_code|need_clear_history|ban_round|flag)"')
_SAFETY_S = re.compile(r'"(?:error_code|need_clear_history|ban_round|flag)"')
"""Fields that need a second look (errors in a 200 body, content safety): absent in most answers."""


def _prompt_unsafe(choice: Any) -> bool:
    if not isinstance(choice, dict):
        return False
    return choice.get("need_clear_history") is True or choice.get("ban_round") == -1


def _flagged(choice: Any) -> bool:
    if not isinstance(choice, dict):
        return False
    flag = choice.get("flag")
    return isinstance(flag, int) and flag >= 2


provider = Ernie()
