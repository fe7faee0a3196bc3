"""``stepfun``: StepFun (阶跃星辰), OpenAI-compatible API at ``https://api.stepfun.com/v1`` (global:
``https://api.stepfun.ai/v1``; Step Plan subscriptions: ``https://api.stepfun.com/step_plan/v1``).

Wire protocol (others.md §6.1): OpenAI's chat completions with these stream quirks —

* reasoning models put their thinking in ``reasoning`` (not ``reasoning_content``): passed on as
  ``reasoning_content``, never as answer content;
* non-final chunks carry ``"finish_reason": ""`` (→ null) and ``delta.role: ""`` after the first;
* ``usage`` rides on **every** chunk, cumulative: the last one is kept, never summed; a top-level
  ``usage.cached_tokens`` → ``prompt_tokens_details.cached_tokens``.

Errors are OpenAI-shaped (assumed; undocumented). No embeddings. Prices were not found and are not listed.
``seed``, ``logit_bias`` and ``logprobs`` are not documented and are refused.
"""

from __future__ import annotations

from typing import ClassVar

from ..catalogue import Capabilities, ModelSpec
from ._compat_cn import CompatCN

__all__ = ["MODELS", "StepFun", "provider"]

_CHAT = Capabilities(tools=True, json_mode=True)
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "step-3.5-flash",
        context=262_144,
        caps=Capabilities(tools=True, json_mode=True, reasoning=True),
        max_output=65_536,
    ),
    ModelSpec("step-2-mini", context=32_768, caps=_CHAT, max_output=8192),
    ModelSpec("step-2-16k", context=16_384, caps=_CHAT, max_output=8192),
    ModelSpec("step-1-8k", context=8192, caps=_CHAT, max_output=4096),
    ModelSpec("step-1v-8k", context=8192, caps=Capabilities(vision=True), max_output=4096),
)


class StepFun(CompatCN):
    """StepFun through its OpenAI-compatible API."""

    name = "stepfun"
    display_name = "StepFun (阶跃星辰)"
    default_base_url = "https://api.stepfun.com/v1"
    credential_format = "StepFun API key (Bearer)"
    docs_url = "https://platform.stepfun.com/docs/api-reference/chat/chat-completion-create"
    emulator = "qiao.emulators.stepfun:create_app"
    emulator_base_path = "/v1"
    demo_credential: ClassVar[str | None] = "emulator-stepfun-key"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {"gpt-4o-mini": ("step-2-mini", 1)}
    demo_models: ClassVar[tuple[str, ...] | None] = None
    reasoning_field: ClassVar[str] = "reasoning"
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
    translations: ClassVar[dict[str, str]] = {
        "*": "forwarded unchanged (only `model` is replaced)",
        "reasoning": "StepFun's `reasoning` → `reasoning_content`",
        "usage": "cumulative on every chunk: the last value is kept",
    }

    def __init__(self) -> None:
        super().__init__(MODELS)


provider = StepFun()
