"""``hunyuan``: Tencent Hunyuan (腾讯混元) through its OpenAI-compatible endpoint
``https://api.hunyuan.cloud.tencent.com/v1`` (console API key, Bearer).

The native Tencent Cloud API v3 (``ChatCompletions`` with TC3 signing) was retired with the old console
on 2026-09-30 and is deliberately not supported. Wire protocol (others.md §8.1): OpenAI's chat
completions and embeddings, with these differences —

* **Native extras** go top level (the openai SDK's ``extra_body``) and are passed through:
  ``enable_enhancement`` (search/feature enhancement, off by default since 2025-04-20), ``citation``,
  ``search_info``, ``enable_speed_search``, ``force_search_enhancement``, ``enable_thinking``
  (hunyuan-a13b).
* **Reasoning** (hunyuan-t1, hunyuan-a13b) arrives in ``reasoning_content``; Hunyuan rejects
  ``reasoning_content`` on assistant messages sent back, so qiao removes it from the history.
* **Not supported**: ``n``, penalties, ``seed``, ``logit_bias``, ``logprobs`` (absent from Hunyuan's
  parameter set; the compatible endpoint would ignore them).
* **Errors**: OpenAI's envelope carrying Tencent Cloud error codes [UNCERTAIN: undocumented, modelled on
  third-party clients]: ``AuthFailure.*`` → 401; ``OperationDenied.*IllegalDetected`` → 400
  ``content_filter``; ``ResourceUnavailable.InArrears`` / ``LowBalance`` /
  ``ResourceInsufficient.ChargeResourceExhaust`` / ``*ResourcePackExhausted`` → 429 ``insufficient_quota``;
  ``RequestLimitExceeded`` / ``LimitExceeded`` → 429; ``FailedOperation.EngineServerLimitExceeded`` → 503;
  ``InvalidParameterValue.Model`` → 404.
* ``finish_reason: "sensitive"`` (output moderation) → ``content_filter``.
* Embeddings: ``hunyuan-embedding``, 1024 dimensions, at most 50 texts per call.
"""

from __future__ import annotations

from typing import ClassVar

from ..catalogue import Capabilities, ModelSpec
from ..errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    ModelNotFound,
    PermissionDenied,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
)
from ._compat_cn import CompatCN

__all__ = ["MODELS", "Hunyuan", "provider"]

_CHAT = Capabilities(tools=True, json_mode=True)
_THINK = Capabilities(tools=True, json_mode=True, reasoning=True)
_VISION = Capabilities(vision=True)
_EMB = Capabilities(chat=False, stream=False, embeddings=True)

# No reliable 2026 CNY price list was found (others.md §8.8): the catalogue carries no prices.
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("hunyuan-turbos-latest", context=32_768, caps=_CHAT, max_output=16_384),
    ModelSpec("hunyuan-t1-latest", context=32_768, caps=_THINK, max_output=32_768),
    ModelSpec("hunyuan-a13b", context=229_376, caps=_THINK, max_output=32_768),
    ModelSpec("hunyuan-lite", context=262_144, caps=Capabilities(), max_output=6144),
    ModelSpec("hunyuan-standard", context=32_768, caps=_CHAT, max_output=2048),
    ModelSpec("hunyuan-large", context=32_768, caps=_CHAT, max_output=4096),
    ModelSpec("hunyuan-vision", context=8192, caps=_VISION, max_output=2048),
    ModelSpec("hunyuan-embedding", context=1024, caps=_EMB, dimensions=1024, embedding_batch=50),
)


class Hunyuan(CompatCN):
    """Hunyuan through Tencent's OpenAI-compatible endpoint."""

    name = "hunyuan"
    display_name = "Tencent Hunyuan (腾讯混元, OpenAI-compatible endpoint)"
    default_base_url = "https://api.hunyuan.cloud.tencent.com/v1"
    credential_format = "Hunyuan console API key (Bearer; not a SecretId/SecretKey pair)"
    docs_url = "https://cloud.tencent.com/document/product/1729/111007"
    emulator = "qiao.emulators.hunyuan:create_app"
    emulator_base_path = "/v1"
    demo_credential: ClassVar[str | None] = "sk-emulator-hunyuan"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {
        "gpt-4o-mini": ("hunyuan-turbos-latest", 1),
        "text-embedding-3-small": ("hunyuan-embedding", 2),
    }
    demo_models: ClassVar[tuple[str, ...] | None] = None
    # No default outbound limits: the concurrency of 5 per account (others.md §8.6) is documented for the
    # retired native ChatCompletions action, not for this OpenAI-compatible endpoint.
    default_limits: ClassVar[dict[str, int]] = {}
    strip_reasoning = True
    codes: ClassVar[dict[str, type[QiaoError]]] = {
        "RequestLimitExceeded": RateLimited,
        "LimitExceeded": RateLimited,
        "FailedOperation.EngineServerLimitExceeded": ServiceUnavailable,
        "ServiceUnavailable": ServiceUnavailable,
        "ResourceInsufficient.ChargeResourceExhaust": InsufficientQuota,
        "InternalError": UpstreamError,
        "FailedOperation.EngineServerError": UpstreamError,
        "InvalidParameterValue.ContextLengthExceeded": ContextLengthExceeded,
    }
    code_prefixes = (
        ("AuthFailure", AuthenticationFailed),
        ("OperationDenied", ContentFiltered),
        ("ResourceUnavailable.InArrears", InsufficientQuota),
        ("ResourceUnavailable.LowBalance", InsufficientQuota),
        ("FailedOperation.FreeResourcePackExhausted", InsufficientQuota),
        ("FailedOperation.ResourcePackExhausted", InsufficientQuota),
        ("FailedOperation.ServiceNotActivated", PermissionDenied),
        ("FailedOperation.ServiceStop", PermissionDenied),
        ("ResourceUnavailable.StopUsing", PermissionDenied),
        ("InvalidParameterValue.Model", ModelNotFound),
        ("RequestLimitExceeded", RateLimited),
    )
    unsupported = frozenset(
        {
            "n",
            "seed",
            "presence_penalty",
            "frequency_penalty",
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
    native_extras = frozenset(
        {
            "enable_enhancement",
            "citation",
            "search_info",
            "enable_speed_search",
            "force_search_enhancement",
            "enable_thinking",
        }
    )
    translations: ClassVar[dict[str, str]] = {
        "*": "forwarded unchanged (only `model` is replaced)",
        "messages[].reasoning_content": "removed (Hunyuan rejects it on assistant messages)",
        "stream_options.include_usage": "always requested upstream",
        "finish_reason": "`sensitive` → `content_filter`",
    }

    def __init__(self) -> None:
        super().__init__(MODELS)


provider = Hunyuan()
