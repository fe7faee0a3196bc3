"""``spark_http``: iFlytek Spark (讯飞星火) through its OpenAI-like HTTP API.

Wire protocol (others.md §9.5; iFlytek's SDK does not cover this API, so its HTTP docs are the source):

* ``POST https://spark-api-open.xf-yun.com/v1/chat/completions`` for lite / generalv3 / pro-128k /
  generalv3.5 / max-32k / 4.0Ultra, and the **v2** path ``…/v2/chat/completions`` for ``x1`` (qiao swaps a
  trailing ``/v1`` of the account's base URL for ``/v2``). The same model ids as the WebSocket API.
* Auth ``Authorization: Bearer <APIPassword>`` — the per-product "HTTP APIPassword" from the console
  (``API_KEY:API_SECRET`` joined by a colon is accepted as well).
* Answers are OpenAI-shaped plus ``code`` / ``message`` / ``sid``; ``code != 0`` is an error **even with
  HTTP 200** (same codes as the WebSocket, :func:`qiao.providers.spark.classify_code`). Auth errors come
  OpenAI-shaped (``{"error": {"message": "invalid user", ...}}``, HTTP 401).
* Streams: ``data:{json}`` lines **without a space**, each chunk repeating ``code``/``sid``, no ``object``
  / ``model``, ``finish_reason`` sometimes absent (the gateway closes the choice with ``stop`` at
  ``[DONE]``), usage on the last chunk, ``data: [DONE]``. A chunk with ``code != 0`` is a mid-stream error
  (10014 → content filter).
* X1 answers ``reasoning_content``.

OpenAI → Spark HTTP: the client's JSON is forwarded (OpenAI-shaped) with ``temperature`` clamped into
(0, 1] (x1: (0, 2]), ``max_tokens`` / ``max_completion_tokens`` → ``max_tokens`` (capped at 8192; x1 32768),
``stream_options`` removed (not part of Spark's schema; usage arrives anyway). ``user`` is forwarded
(Spark uses it as the end-user id). ``tools`` / ``tool_choice`` on Max, 4.0 Ultra and X1. Native extras:
``top_k`` (1–6). Unsupported: ``top_p``, ``stop``, ``n``, ``seed``, penalties, ``response_format``,
``logprobs``, ``logit_bias``, ``reasoning_effort``, images.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from ..errors import QiaoError
from ..types import ChatChunk, ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResult
from .base import Call, SSEEvent, StreamState, WireRequest, WireResponse
from .openai_compat import BearerAuth, OpenAICompatible
from .spark import MODELS, classify_code

__all__ = ["SparkHTTP", "provider"]

_LIMIT = {"x1": 32_768}
_FIELDS = frozenset(
    {"model", "messages", "stream", "temperature", "max_tokens", "top_k", "tools", "tool_choice", "user"}
)


class SparkHTTP(OpenAICompatible):
    name = "spark_http"
    display_name = "iFlytek Spark (讯飞星火, HTTP API)"
    default_base_url = "https://spark-api-open.xf-yun.com/v1"
    credential_format = "the product's HTTP APIPassword (or API_KEY:API_SECRET), sent as a Bearer token"
    docs_url = "https://www.xfyun.cn/doc/spark/HTTP%E8%B0%83%E7%94%A8%E6%96%87%E6%A1%A3.html"
    emulator = "qiao.emulators.spark_http:create_app"
    emulator_base_path = "/v1"
    demo_credential = "spark-http-emulator-password"
    demo_models: ClassVar[tuple[str, ...] | None] = None
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {"gpt-4o-mini": ("lite", 1)}
    stream_usage_supported: ClassVar[bool] = False
    unsupported = frozenset(
        {
            "top_p",
            "stop",
            "n",
            "seed",
            "presence_penalty",
            "frequency_penalty",
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
    native_extras = frozenset({"top_k"})
    translations: ClassVar[dict[str, str]] = {
        "*": "forwarded OpenAI-shaped; x1 goes to the /v2 path",
        "temperature": "clamped into (0, 1] (x1: (0, 2])",
        "max_tokens / max_completion_tokens": "max_tokens, capped at 8192 (x1: 32768)",
        "stream_options": "not sent (usage arrives on the last chunk anyway)",
        "user": "forwarded (Spark's end-user id)",
        "errors": "code != 0 inside HTTP 200 bodies and stream chunks",
    }

    def __init__(self) -> None:
        super().__init__(BearerAuth(), MODELS)

    def chat_url(self, call: Call) -> str:
        base = self.base_url(call.account)
        if call.spec.wire_name == "x1" and base.endswith("/v1"):
            base = base[:-3] + "/v2"
        return base + self.chat_path

    def adjust_body(self, body: dict[str, Any], req: ChatRequest, call: Call) -> None:
        x1 = call.spec.wire_name == "x1"
        if req.temperature is not None:
            body["temperature"] = min(max(req.temperature, 0.01), 2.0 if x1 else 1.0)
        limit = req.output_limit
        if limit is not None:
            body["max_tokens"] = min(limit, _LIMIT.get(call.spec.wire_name, 8192))
        msgs = []
        for m in body.get("messages") or ():
            m = dict(m)
            if m.get("role") == "developer":
                m["role"] = "system"
            if isinstance(m.get("content"), list):  # text parts only (images are refused earlier)
                m["content"] = "".join(str(p.get("text") or "") for p in m["content"] if isinstance(p, dict))
            if m.get("content") is None:
                m["content"] = ""
            msgs.append(m)
        body["messages"] = msgs
        # Spark's schema check rejects unknown fields: keep only what it documents (no-op defaults such
        # as n=1 or parallel_tool_calls=true, and OpenAI bookkeeping fields, are not forwarded).
        for k in list(body):
            if k not in _FIELDS:
                del body[k]

    def _code_error(self, obj: Any, status: int, body: bytes) -> QiaoError | None:
        if isinstance(obj, dict) and isinstance(obj.get("code"), int) and obj["code"] != 0:
            return classify_code(int(obj["code"]), str(obj.get("message") or ""), status, body, self.name)
        return None

    def classify(self, resp: WireResponse, call: Call) -> QiaoError | None:
        try:
            obj = orjson.loads(resp.body) if resp.body[:1] == b"{" else None
        except orjson.JSONDecodeError:
            obj = None
        err = self._code_error(obj, resp.status, resp.body)
        if err is not None or resp.status < 400:
            return err
        return super().classify(resp, call)

    def parse_event(self, event: SSEEvent, state: StreamState) -> list[ChatChunk]:
        if event.data not in ("[DONE]", ""):
            try:
                obj = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                obj = None
            err = self._code_error(obj, 200, event.data.encode())
            if err is not None:
                raise err
        return super().parse_event(event, state)

    def parse_chat(self, resp: WireResponse, req: ChatRequest, call: Call) -> ChatResponse:
        out = super().parse_chat(resp, req, call)
        for c in out.choices:  # Spark often sends no finish_reason: a tool call is still a tool call
            if c.message.tool_calls and c.finish_reason == "stop":
                c.finish_reason = "tool_calls"
        return out

    def build_embeddings(self, req: EmbeddingRequest, inputs: list[str], call: Call) -> WireRequest:
        raise NotImplementedError("spark_http has no embeddings")

    def parse_embeddings(self, resp: WireResponse, call: Call) -> EmbeddingResult:
        raise NotImplementedError("spark_http has no embeddings")


provider = SparkHTTP()
