"""``yi``: 01.AI Yi (零一万物), OpenAI-compatible API at ``https://api.lingyiwanwu.com/v1``.

A plain OpenAI-compatible channel (others.md §6.2): chat completions with Bearer keys, no embeddings,
reasoning none. The platform now presents itself as a multi-model aggregator and its model list has
been unstable: check ``GET /v1/models`` with your key. ``yi-lightning``'s price (¥0.99 per 1M tokens in
and out) is from a 2026-04 third-party audit and unverified. ``seed``, ``logit_bias``, ``logprobs`` and
OpenAI-only fields are refused.
"""

from __future__ import annotations

from typing import ClassVar

from ..catalogue import Capabilities, ModelSpec, PriceTier
from ._compat_cn import CompatCN

__all__ = ["MODELS", "Yi", "provider"]

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "yi-lightning",
        context=16_384,
        caps=Capabilities(json_mode=True),
        price=PriceTier.per_mtok(
            "0.99", "0.99", since="2024-10-16", source="https://platform.lingyiwanwu.com/docs/pricing"
        ),
        max_output=4096,
    ),
    ModelSpec("yi-vision-v2", context=16_384, caps=Capabilities(vision=True), max_output=4096),
)


class Yi(CompatCN):
    """01.AI's Yi models through its OpenAI-compatible API."""

    name = "yi"
    display_name = "01.AI Yi (零一万物)"
    default_base_url = "https://api.lingyiwanwu.com/v1"
    credential_format = "01.AI platform API key (Bearer)"
    docs_url = "https://platform.lingyiwanwu.com/docs"
    emulator = "qiao.emulators.yi:create_app"
    emulator_base_path = "/v1"
    demo_credential: ClassVar[str | None] = "emulator-yi-key"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {}
    demo_models: ClassVar[tuple[str, ...] | None] = None
    strip_reasoning = True
    unsupported = frozenset(
        {
            "seed",
            "logit_bias",
            "logprobs",
            "top_logprobs",
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
        "*": "forwarded unchanged (only `model` is replaced)",
        "stream_options.include_usage": "always requested upstream",
    }

    def __init__(self) -> None:
        super().__init__(MODELS)


provider = Yi()
