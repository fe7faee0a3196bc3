"""``deepseek``: DeepSeek (深度求索), OpenAI-compatible API at ``https://api.deepseek.com``.

Wire protocol (others.md §3, state 2026-11-25): OpenAI's chat completions with these differences —

* **Models**: ``deepseek-v4-flash`` and ``deepseek-v4-pro`` (1M context, 384K output). The retired
  names are mapped: ``deepseek-chat`` → ``deepseek-v4-flash`` with ``thinking: disabled`` and
  ``deepseek-reasoner`` → ``deepseek-v4-flash`` with ``thinking: enabled`` (unless the client sends
  ``thinking`` itself).
* **Thinking** is on by default on V4. ``thinking: {"type": "enabled"|"disabled"}`` is a native extra;
  OpenAI's ``reasoning_effort`` is translated: ``none``/``minimal`` → ``thinking: disabled``,
  ``low``/``medium``/``high`` → ``high``, ``xhigh`` → ``max`` (DeepSeek's two levels).
* **Reasoning output** arrives in ``reasoning_content`` (message and delta) and is passed on under that
  name, never as answer content; ``completion_tokens_details.reasoning_tokens`` is kept.
* **Reasoning round trip** (§3.5): in thinking mode an assistant message with ``tool_calls`` must carry
  its ``reasoning_content`` in every later request, or DeepSeek answers 400. Clients that keep the field
  have it forwarded; for clients that drop it qiao restores it from the tool-call ids it returned (see
  :mod:`qiao.providers._compat_cn`); if it cannot, the 400 says what to do.
* **Queue keep-alives**: ``: keep-alive`` SSE comments before a stream starts and blank lines before a
  JSON body; both are skipped.
* **Usage**: ``prompt_cache_hit_tokens`` → ``prompt_tokens_details.cached_tokens``; usage rides on the
  last stream chunk (``include_usage`` is asked for anyway).
* **Errors**: 402 ``Insufficient Balance`` → 429 ``insufficient_quota``; 400 ``Content Exists Risk`` →
  400 ``content_filter``; 400 ``Model Not Exist`` → 404 ``model_not_found``; 422 → 400.
* ``finish_reason: insufficient_system_resource`` (capacity cut the answer) → ``length``.
* No embeddings; ``n``, ``seed``, ``logit_bias`` and OpenAI-only fields are not supported.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..catalogue import Capabilities, ModelSpec, PriceTier
from ..errors import InsufficientQuota, ModelNotFound, QiaoError, provider_error
from ..types import ChatRequest
from ._compat_cn import CompatCN
from .base import Call, WireResponse

__all__ = ["MODELS", "DeepSeek", "provider"]

PRICE_SOURCE = "https://api-docs.deepseek.com/quick_start/pricing"
_CAPS = Capabilities(
    tools=True,
    tool_choice_required=True,
    parallel_tool_calls=True,
    json_mode=True,
    reasoning=True,
    logprobs=True,
)
# CNY per 1M tokens (input on cache miss / output; cached input). V4 launched 2026-04-24; the Pro launch
# discount (75%) ended in May 2026, so the Pro price below is the list price (archived official page,
# USD converted by DeepSeek's own CNY table as reported; others.md §3.2).
_FLASH = PriceTier.per_mtok("1", "2", cached_input="0.2", since="2026-04-24", source=PRICE_SOURCE)
_PRO = PriceTier.per_mtok("12", "24", cached_input="1", since="2026-04-24", source=PRICE_SOURCE)
_RETIRED = "retired after 2026-07-24; served by deepseek-v4-flash"

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("deepseek-v4-flash", context=1_000_000, caps=_CAPS, price=_FLASH, max_output=384_000),
    ModelSpec("deepseek-v4-pro", context=1_000_000, caps=_CAPS, price=_PRO, max_output=384_000),
    ModelSpec(
        "deepseek-chat",
        context=1_000_000,
        caps=_CAPS,
        price=_FLASH,
        max_output=384_000,
        upstream="deepseek-v4-flash",
        deprecated=_RETIRED + " (thinking disabled)",
    ),
    ModelSpec(
        "deepseek-reasoner",
        context=1_000_000,
        caps=_CAPS,
        price=_FLASH,
        max_output=384_000,
        upstream="deepseek-v4-flash",
        deprecated=_RETIRED + " (thinking enabled)",
    ),
)
_THINKING_BY_NAME = {"deepseek-chat": "disabled", "deepseek-reasoner": "enabled"}
_EFFORT = {"low": "high", "medium": "high", "high": "high", "xhigh": "max"}


class DeepSeek(CompatCN):
    """DeepSeek V4 through its OpenAI-compatible API."""

    name = "deepseek"
    display_name = "DeepSeek (深度求索)"
    default_base_url = "https://api.deepseek.com"
    credential_format = "API key `sk-…` from platform.deepseek.com (sent as a Bearer token)"
    docs_url = "https://api-docs.deepseek.com/"
    emulator = "qiao.emulators.deepseek:create_app"
    emulator_base_path = ""
    demo_credential: ClassVar[str | None] = "sk-emulator-deepseek"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {
        "gpt-4o": ("deepseek-v4-pro", 5),
        "gpt-4o-mini": ("deepseek-v4-flash", 5),
    }
    demo_models: ClassVar[tuple[str, ...] | None] = None
    # No default outbound limits: DeepSeek's cap is a dynamic concurrency limit, not a published number
    # (others.md §3.6); requests wait in its queue (keep-alive lines) rather than being refused early.
    default_limits: ClassVar[dict[str, int]] = {}
    echo_reasoning = True
    finish_map: ClassVar[dict[str, str]] = {"insufficient_system_resource": "length"}
    filter_markers = ("content exists risk",)
    hints = (
        (
            "reasoning_content in the thinking mode must be passed back",
            "keep the `reasoning_content` field of assistant tool-call messages when you send them back",
        ),
    )
    unsupported = frozenset(
        {
            "seed",
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
    native_extras = frozenset({"thinking"})
    translations: ClassVar[dict[str, str]] = {
        "*": "forwarded unchanged (only `model` is replaced by the upstream name)",
        "model": "`deepseek-chat` / `deepseek-reasoner` (retired) → `deepseek-v4-flash` with thinking "
        "disabled / enabled",
        "reasoning_effort": "`none`/`minimal` → `thinking: {type: disabled}`; `low`/`medium`/`high` → "
        "`high`; `xhigh` → `max`",
        "messages[].reasoning_content": "forwarded; restored on assistant tool-call turns when the client "
        "dropped it (DeepSeek requires it back in thinking mode)",
        "stream_options.include_usage": "always requested upstream; usage comes on the last chunk",
        "max_tokens": "forwarded; at DeepSeek it covers reasoning + answer",
    }

    def __init__(self) -> None:
        super().__init__(MODELS)

    def adjust_body(self, body: dict[str, Any], req: ChatRequest, call: Call) -> None:
        super().adjust_body(body, req, call)
        effort = body.get("reasoning_effort")
        if effort in ("none", "minimal"):
            body.pop("reasoning_effort")
            body.setdefault("thinking", {"type": "disabled"})
        elif effort in _EFFORT:
            body["reasoning_effort"] = _EFFORT[effort]
        forced = _THINKING_BY_NAME.get(call.spec.id)
        if forced and "thinking" not in body:
            body["thinking"] = {"type": forced}
        if (body.get("thinking") or {}).get("type") == "disabled":
            body.pop("reasoning_effort", None)

    def classify_body(self, obj: Any, status: int, resp: WireResponse | None, call: Call) -> QiaoError | None:
        err = obj.get("error") if isinstance(obj, dict) else None
        msg = str(err.get("message") or "") if isinstance(err, dict) else ""
        body = resp.body if resp is not None else None
        if msg == "Model Not Exist":
            return provider_error(
                ModelNotFound,
                self.name,
                f"{msg} (DeepSeek serves deepseek-v4-flash and deepseek-v4-pro)",
                upstream_status=status,
                body=body,
            )
        if status == 402:
            return provider_error(
                InsufficientQuota,
                self.name,
                msg or "Insufficient Balance",
                upstream_status=status,
                body=body,
            )
        return super().classify_body(obj, status, resp, call)


provider = DeepSeek()
