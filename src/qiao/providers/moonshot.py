"""``moonshot``: Moonshot AI Kimi (月之暗面), OpenAI-compatible API at ``https://api.moonshot.cn/v1``
(global platform: ``https://api.moonshot.ai/v1`` with its own keys).

Wire protocol (others.md §4): OpenAI's chat completions with these differences —

* **temperature** is [0, 1] at Moonshot: OpenAI values above 1 are clamped to 1 (``min(t, 1)``, the
  least surprising choice). With temperature below 0.3 Moonshot requires ``n = 1`` (its 400 is passed on).
* **Fixed sampling on kimi-k2.6**: ``temperature`` (1 in thinking mode, 0.6 with thinking disabled),
  ``top_p`` 0.95, ``n`` 1 and zero penalties cannot be changed. A value equal to the fixed one is
  dropped silently (it asks for nothing); any other value is refused with 400 ``unsupported_parameter``
  naming the parameter, instead of Moonshot's own 400. (The route-level ``drop_params`` policy is
  model-agnostic in qiao's core, so it cannot drop these per model yet.)
* **Thinking** (kimi-k2.6): ``thinking: {"type": "enabled"|"disabled"}`` is a native extra; reasoning
  arrives in ``reasoning_content``; in thinking mode ``tool_choice: "required"`` is refused (the model
  does not declare it) and assistant tool-call turns must carry their ``reasoning_content`` back —
  forwarded when the client keeps it, restored by tool-call id when it does not.
* **Usage in streams** sits inside the finishing choice (``choices[0].usage``) on moonshot-v1 models and
  at the top level on newer ones; both are read. ``usage.cached_tokens`` (top level) →
  ``prompt_tokens_details.cached_tokens``.
* **Errors** have ``type`` and ``message`` but no ``code``: classified by ``type``
  (``content_filter`` → 400 ``content_filter``, ``exceeded_current_quota_error`` → 429
  ``insufficient_quota``, ``engine_overloaded_error`` → 503, token-limit messages → 400
  ``context_length_exceeded`` …).
* No embeddings.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..catalogue import Capabilities, ModelSpec, PriceTier
from ..errors import (
    AuthenticationFailed,
    ContentFiltered,
    InsufficientQuota,
    ModelNotFound,
    PermissionDenied,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UnsupportedParameter,
    UpstreamError,
)
from ..types import ChatRequest
from ._compat_cn import CompatCN
from .base import Call, WireRequest

__all__ = ["FIXED_SAMPLING", "MODELS", "Moonshot", "provider"]

_V1 = Capabilities(tools=True, tool_choice_required=True, json_mode=True, n=True)
_K2 = Capabilities(tools=True, json_mode=True, vision=True, reasoning=True)
# Only kimi-k2.6 has a published list price, in USD, from one source (others.md §4.2); the date it took
# effect is not given, so ``since`` is the date it was read. moonshot-v1 CNY prices were not found.
_K2_PRICE = PriceTier.per_mtok(
    "0.95",
    "4.00",
    cached_input="0.16",
    currency="USD",
    since="2026-11-25",
    source="https://platform.kimi.ai/docs/pricing/chat",
)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("kimi-k2.6", context=262_144, caps=_K2, price=_K2_PRICE, max_output=32_768),
    ModelSpec("moonshot-v1-8k", context=8192, caps=_V1, max_output=8192),
    ModelSpec("moonshot-v1-32k", context=32_768, caps=_V1, max_output=32_768),
    ModelSpec("moonshot-v1-128k", context=131_072, caps=_V1, max_output=131_072),
)

FIXED_SAMPLING: dict[str, dict[str, float]] = {
    "kimi-k2.6": {"top_p": 0.95, "n": 1, "presence_penalty": 0, "frequency_penalty": 0},
}
"""Per model: sampling parameters Moonshot fixes (temperature depends on thinking, see module doc)."""


class Moonshot(CompatCN):
    """Kimi through Moonshot's OpenAI-compatible API."""

    name = "moonshot"
    display_name = "Moonshot AI Kimi (月之暗面)"
    default_base_url = "https://api.moonshot.cn/v1"
    credential_format = (
        "API key `sk-…` from platform.kimi.com (Bearer); keys of the global platform work only "
    )
    "with base_url https://api.moonshot.ai/v1"
    docs_url = "https://platform.kimi.com/docs/api/chat"
    emulator = "qiao.emulators.moonshot:create_app"
    emulator_base_path = "/v1"
    demo_credential: ClassVar[str | None] = "sk-emulator-moonshot"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {"gpt-4o-mini": ("moonshot-v1-32k", 3)}
    demo_models: ClassVar[tuple[str, ...] | None] = None
    echo_reasoning = True
    codes: ClassVar[dict[str, type[QiaoError]]] = {
        "content_filter": ContentFiltered,
        "invalid_authentication_error": AuthenticationFailed,
        "incorrect_api_key_error": AuthenticationFailed,
        "permission_denied_error": PermissionDenied,
        "resource_not_found_error": ModelNotFound,
        "rate_limit_reached_error": RateLimited,
        "exceeded_current_quota_error": InsufficientQuota,
        "engine_overloaded_error": ServiceUnavailable,
        "server_error": UpstreamError,
        "unexpected_output": UpstreamError,
    }
    context_markers = ("exceeded model token limit", "input token length too long")
    hints = (
        (
            "reasoning_content is missing",
            "keep the `reasoning_content` field of assistant tool-call messages when you send them back",
        ),
    )
    unsupported = frozenset(
        {
            "seed",
            "logit_bias",
            "logprobs",
            "top_logprobs",
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
    native_extras = frozenset({"thinking"})
    translations: ClassVar[dict[str, str]] = {
        "*": "forwarded unchanged (only `model` is replaced)",
        "temperature": "clamped to Moonshot's [0, 1] (`min(t, 1)`); kimi-k2.6: fixed (1 thinking / 0.6 not), "
        "another value → 400 `unsupported_parameter`",
        "top_p, n, presence_penalty, frequency_penalty": "kimi-k2.6: fixed (0.95, 1, 0, 0); another "
        "value → 400 "
        "`unsupported_parameter`",
        "messages[].reasoning_content": "forwarded; restored on assistant tool-call turns when dropped",
        "usage": "read from `choices[0].usage` (moonshot-v1 streams) or the top level; `cached_tokens` → "
        "`prompt_tokens_details.cached_tokens`",
    }

    def __init__(self) -> None:
        super().__init__(MODELS)

    def build_chat(self, req: ChatRequest, call: Call) -> WireRequest:
        fixed = FIXED_SAMPLING.get(call.spec.id)
        if fixed is not None:
            thinking = (getattr(req, "model_extra", None) or {}).get("thinking") or {}
            temp = 0.6 if isinstance(thinking, dict) and thinking.get("type") == "disabled" else 1.0
            for k, v in {"temperature": temp, **fixed}.items():
                sent = getattr(req, k, None)
                if sent is not None and sent != v:
                    raise UnsupportedParameter(
                        f"{call.spec.id} at Moonshot uses a fixed {k} ({v:g}); remove '{k}' from the request",
                        param=k,
                    )
        return super().build_chat(req, call)

    def adjust_body(self, body: dict[str, Any], req: ChatRequest, call: Call) -> None:
        super().adjust_body(body, req, call)
        fixed = FIXED_SAMPLING.get(call.spec.id)
        if fixed is not None:
            for k in ("temperature", *fixed):
                body.pop(k, None)  # equal to the fixed value (checked in build_chat): asks for nothing
            return
        t = body.get("temperature")
        if isinstance(t, int | float) and t > 1:
            body["temperature"] = 1.0


provider = Moonshot()
