"""``qwen``: Alibaba Qwen (通义千问) through Model Studio's OpenAI-compatible mode,
``https://dashscope.aliyuncs.com/compatible-mode/v1``.

Wire protocol (others.md §2.7–2.10): OpenAI's chat completions and embeddings, with these differences —

* **Ranges**: ``temperature`` is [0, 2) (OpenAI's 2.0 becomes 1.99); ``top_p`` is (0, 1] (0 becomes
  0.01); ``n`` 1–4.
* **Tools**: ``parallel_tool_calls`` defaults to false at Qwen and true at OpenAI, so qiao sends
  ``parallel_tool_calls: true`` when the client offers tools and does not say. ``tool_choice:
  "required"`` is not supported.
* **Thinking** (hybrid models): ``enable_thinking`` / ``thinking_budget`` are native extras (the
  openai SDK's ``extra_body``); reasoning arrives as ``reasoning_content`` and is passed on under that
  name. Qwen refuses ``enable_thinking: true`` on non-streaming calls (a 400 that says so).
* **Content safety**: input moderation is 400 ``data_inspection_failed`` → 400 ``content_filter``;
  output moderation arrives mid-stream as a bare ``data: {"error": …}`` frame after partial text — qiao
  ends the stream cleanly with ``finish_reason: "content_filter"``.
* **Errors**: ``Arrearage`` / ``*BillOverdue`` / ``CommodityNotPurchased`` → 429 ``insufficient_quota``;
  ``limit_requests`` / ``limit_burst_rate`` → 429; ``insufficient_quota`` is Qwen's TPM limit and stays a
  rate limit unless the message says the free quota is used up; ``Range of input length`` → 400
  ``context_length_exceeded``; ``model_not_supported`` (native-only models) → 404.
* **Embeddings**: ``text-embedding-v3``/``-v4``, at most 10 rows per call (the gateway splits),
  ``dimensions`` supported, float only.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..catalogue import Capabilities, ModelSpec, PriceTier
from ..errors import (
    ContentFiltered,
    InsufficientQuota,
    ModelNotFound,
    PermissionDenied,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
    provider_error,
)
from ..types import ChatRequest
from ._compat_cn import CompatCN
from .base import Call, WireResponse

__all__ = ["MODELS", "Qwen", "provider"]

PRICE_SOURCE = "https://help.aliyun.com/zh/model-studio/models"
SEEN = "2026-11-25"
"""Prices below are the ones listed on the model pages when read (others.md §2.10); the date they took
effect is not published, so ``since`` is the date they were read. Tiered models carry their first tier
(input ≤ 32K or ≤ 128K tokens); qwen-plus / qwen-turbo have no reliable current price and carry none."""

_CHAT = Capabilities(tools=True, parallel_tool_calls=True, json_mode=True, n=True, seed=True)
_THINK = Capabilities(tools=True, parallel_tool_calls=True, json_mode=True, n=True, seed=True, reasoning=True)
_VL = Capabilities(vision=True, n=True, seed=True)
_EMB = Capabilities(chat=False, stream=False, embeddings=True)


def _cny(inp: str, out: str, cached: str | None = None) -> PriceTier:
    return PriceTier.per_mtok(inp, out, cached_input=cached, since=SEEN, source=PRICE_SOURCE)


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("qwen3-max", context=262_144, caps=_THINK, price=_cny("2.5", "10", "0.5"), max_output=65_536),
    ModelSpec("qwen3.5-plus", context=1_000_000, caps=_THINK, max_output=65_536),
    ModelSpec("qwen-plus", context=131_072, caps=_THINK, max_output=16_384),
    ModelSpec("qwen-flash", context=1_000_000, caps=_THINK, price=_cny("0.15", "1.5"), max_output=32_768),
    ModelSpec("qwen-turbo", context=131_072, caps=_THINK, max_output=16_384),
    ModelSpec("qwen3-vl-plus", context=262_144, caps=_VL, price=_cny("1", "10"), max_output=32_768),
    ModelSpec("qwen-vl-plus", context=131_072, caps=_VL, price=_cny("0.8", "2"), max_output=8192),
    ModelSpec(
        "text-embedding-v4",
        context=8192,
        caps=_EMB,
        price=_cny("0.5", "0"),
        dimensions=1024,
        embedding_batch=10,
    ),
    ModelSpec(
        "text-embedding-v3",
        context=8192,
        caps=_EMB,
        price=_cny("0.5", "0"),
        dimensions=1024,
        embedding_batch=10,
    ),
)


class Qwen(CompatCN):
    """Qwen through DashScope's OpenAI-compatible mode."""

    name = "qwen"
    display_name = "Alibaba Qwen (通义千问, compatible mode)"
    default_base_url = "https://dashscope.aliyuncs.com/compatible-mode/v1"
    credential_format = "DashScope API key `sk-…` (Bearer); the key's region must match the base URL"
    docs_url = "https://help.aliyun.com/zh/model-studio/compatibility-of-openai-with-dashscope"
    emulator = "qiao.emulators.qwen:create_app"
    emulator_base_path = "/compatible-mode/v1"
    demo_credential: ClassVar[str | None] = "sk-emulator-dashscope"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {
        "gpt-4o": ("qwen3-max", 4),
        "gpt-4o-mini": ("qwen-flash", 4),
        "text-embedding-3-small": ("text-embedding-v4", 5),
    }
    demo_models: ClassVar[tuple[str, ...] | None] = None
    codes: ClassVar[dict[str, type[QiaoError]]] = {
        "data_inspection_failed": ContentFiltered,
        "DataInspectionFailed": ContentFiltered,
        "Arrearage": InsufficientQuota,
        "PrepaidBillOverdue": InsufficientQuota,
        "PostpaidBillOverdue": InsufficientQuota,
        "CommodityNotPurchased": InsufficientQuota,
        "limit_requests": RateLimited,
        "limit_burst_rate": RateLimited,
        "model_not_supported": ModelNotFound,
        "model_not_found": ModelNotFound,
        "ModelUnavailable": ServiceUnavailable,
        "ModelServingError": ServiceUnavailable,
        "RequestTimeOut": UpstreamTimeout,
        "internal_error": UpstreamError,
        "IPInfringementSuspect": ContentFiltered,
        "CustomRoleBlocked": ContentFiltered,
        "FaqRuleBlocked": ContentFiltered,
    }
    code_prefixes = (("AccessDenied", PermissionDenied), ("Throttling", RateLimited))
    context_markers = ("range of input length",)
    unsupported = frozenset(
        {
            "frequency_penalty",
            "logit_bias",
            "reasoning_effort",
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
            "enable_thinking",
            "thinking_budget",
            "enable_search",
            "search_options",
            "translation_options",
            "top_k",
            "repetition_penalty",
            "vl_high_resolution_images",
        }
    )
    translations: ClassVar[dict[str, str]] = {
        "*": "forwarded unchanged (only `model` is replaced)",
        "temperature": "[0, 2] → [0, 2): 2 becomes 1.99",
        "top_p": "[0, 1] → (0, 1]: 0 becomes 0.01",
        "parallel_tool_calls": "sent as `true` when tools are offered and the client does not say (Qwen's "
        "default is false)",
        "stream_options.include_usage": "always requested upstream",
        "output moderation": "a mid-stream `data_inspection_failed` frame ends the stream with "
        "`finish_reason: content_filter`",
    }

    def __init__(self) -> None:
        super().__init__(MODELS)

    def adjust_body(self, body: dict[str, Any], req: ChatRequest, call: Call) -> None:
        super().adjust_body(body, req, call)
        t = body.get("temperature")
        if isinstance(t, int | float) and t >= 2:
            body["temperature"] = 1.99
        p = body.get("top_p")
        if isinstance(p, int | float) and p <= 0:
            body["top_p"] = 0.01
        if body.get("tools") and "parallel_tool_calls" not in body:
            body["parallel_tool_calls"] = True

    def classify_body(self, obj: Any, status: int, resp: WireResponse | None, call: Call) -> QiaoError | None:
        err = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(err, dict) and str(err.get("code") or err.get("type")) == "insufficient_quota":
            free_gone = "free allocated quota exceeded" in str(err.get("message") or "").lower()
            return provider_error(
                InsufficientQuota if free_gone else RateLimited,
                self.name,
                str(err.get("message") or "insufficient_quota"),
                vendor_code="insufficient_quota",
                upstream_status=status,
                body=resp.body if resp is not None else None,
            )
        return super().classify_body(obj, status, resp, call)


provider = Qwen()
