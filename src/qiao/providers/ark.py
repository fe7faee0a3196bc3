"""``ark``: ByteDance Doubao (豆包) on Volcengine Ark (火山方舟), OpenAI-compatible API at
``https://ark.cn-beijing.volces.com/api/v3``. Accounts that must call their own inference endpoints map a
catalogue model to one with ``options: {endpoints: {doubao-seed-1-6-251015: ep-20250612103045-abcde}}``
(price and capabilities kept), or list the endpoint ids as ``models: [ep-…]`` and name them with an alias.

Wire protocol (others.md §5, checked against the official ``volcengine-python-sdk[ark]``): OpenAI's chat
completions and embeddings, with these differences —

* **Endpoint ids as model names.** Many accounts must call an *inference endpoint* created in the Ark
  console (``ep-20250612103045-abcde``) instead of a model id. Two ways to use one:

  1. map a catalogue model to the account's endpoint, keeping its price and capabilities::

         accounts:
           - provider: ark
             credential: ${ARK_API_KEY}
             options:
               endpoints: {doubao-seed-1-6-251015: ep-20250612103045-abcde}

     ``ark/doubao-seed-1-6-251015`` (or an alias pointing at it) is then sent as the endpoint id;
  2. list the endpoint ids themselves: ``models: [ep-20250612103045-abcde]`` serves
     ``ark/ep-20250612103045-abcde`` with generous default capabilities and no price, and an alias
     (``aliases: {doubao: ark/ep-…}``) gives it a public name.

  Ark echoes the endpoint id as the answer's ``model``; qiao answers with the name the client used.
* **Thinking**: ``thinking: {"type": "enabled"|"disabled"|"auto"}`` is a native extra (enabled by
  default on Seed models); ``reasoning_effort`` is forwarded; reasoning arrives in
  ``reasoning_content``; ``completion_tokens_details.reasoning_tokens`` is kept.
* **Moderation**: ``finish_reason: "content_filter"`` (with Ark's ``moderation_hit_type``) is passed on;
  input moderation (``SensitiveContentDetected*``, ``Input*SensitiveContentDetected``,
  ``*RiskDetection``) → 400 ``content_filter``.
* **Errors** by ``code``: ``AccountOverdueError`` (403) → 429 ``insufficient_quota``;
  ``RateLimitExceeded.*`` → 429; ``ServerOverloaded`` → 503; ``InvalidEndpointOrModel.*`` / ``ModelNotOpen``
  → 404; ``AuthenticationError`` → 401.
* The official SDK sends every unused parameter as an explicit ``null``; qiao's emulator accepts them
  the way Ark does.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

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
    UpstreamError,
)
from ..types import ChatRequest, EmbeddingRequest
from ._compat_cn import CompatCN
from .base import Call, WireRequest

__all__ = ["MODELS", "Ark", "endpoint_spec", "provider"]

_SEED = Capabilities(tools=True, json_mode=True, vision=True, reasoning=True)
_PRO15 = Capabilities(tools=True, json_mode=True)
_EMB = Capabilities(chat=False, stream=False, embeddings=True)
_ENDPOINT = Capabilities(tools=True, json_mode=True, vision=True, reasoning=True, embeddings=True)
PRICE_SOURCE = "https://www.volcengine.com/docs/82379/1544106"
# Seed 2.0 Pro, first tier (input ≤ 32K): a reseller listing (3.25 / 16.5), rounded by the notes to the
# official-looking 3.2 / 16 — uncertain, and the only price given. Others carry none (others.md §5.7).
_SEED2_PRO = PriceTier.per_mtok("3.2", "16", since="2026-02-15", source=PRICE_SOURCE)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "doubao-seed-2-0-pro-260215", context=262_144, caps=_SEED, price=_SEED2_PRO, max_output=131_072
    ),
    ModelSpec("doubao-seed-2-0-lite-260215", context=262_144, caps=_SEED, max_output=131_072),
    ModelSpec("doubao-seed-1-6-251015", context=262_144, caps=_SEED, max_output=32_768),
    ModelSpec("doubao-seed-1-6-flash-250828", context=262_144, caps=_SEED, max_output=32_768),
    ModelSpec("doubao-1-5-pro-32k-250115", context=32_768, caps=_PRO15, max_output=12_288),
    # Dimension from the model card as remembered [UNCERTAIN]; batch limit likewise.
    ModelSpec("doubao-embedding-text-240715", context=4096, caps=_EMB, dimensions=2560, embedding_batch=256),
)


def endpoint_spec(endpoint_id: str) -> ModelSpec:
    """What qiao assumes of an account's own inference endpoint (any Doubao model: no price)."""
    return ModelSpec(endpoint_id, context=131_072, caps=_ENDPOINT, max_output=32_768, embedding_batch=256)


class Ark(CompatCN):
    """Doubao and other models through Volcengine Ark's OpenAI-compatible API."""

    name = "ark"
    display_name = "ByteDance Doubao on Volcengine Ark (火山方舟)"
    default_base_url = "https://ark.cn-beijing.volces.com/api/v3"
    credential_format = "Ark API key from the Ark console (Bearer); endpoint ids via `options.endpoints`"
    docs_url = "https://www.volcengine.com/docs/82379/1494384"
    emulator = "qiao.emulators.ark:create_app"
    emulator_base_path = "/api/v3"
    demo_credential: ClassVar[str | None] = "ark-emulator-2d9c1f4e-7b3a-4c1e-9f60-1b2a3c4d5e6f"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {
        "gpt-4o": ("doubao-seed-2-0-pro-260215", 2),
        "gpt-4o-mini": ("doubao-seed-1-6-flash-250828", 2),
    }
    demo_models: ClassVar[tuple[str, ...] | None] = None
    codes: ClassVar[dict[str, type[QiaoError]]] = {
        "AuthenticationError": AuthenticationFailed,
        "AccountOverdueError": InsufficientQuota,
        "AccessDenied": PermissionDenied,
        "ModelNotOpen": ModelNotFound,
        "ServerOverloaded": ServiceUnavailable,
        "QuotaExceeded": RateLimited,
        "InternalServiceError": UpstreamError,
    }
    code_prefixes = (
        ("InvalidEndpointOrModel", ModelNotFound),
        ("InvalidEndpoint.NotFound", ModelNotFound),
        ("SensitiveContentDetected", ContentFiltered),
        ("InputTextSensitiveContentDetected", ContentFiltered),
        ("InputImageSensitiveContentDetected", ContentFiltered),
        ("OutputTextSensitiveContentDetected", ContentFiltered),
        ("InputTextRiskDetection", ContentFiltered),
        ("OutputTextRiskDetection", ContentFiltered),
        ("RateLimitExceeded", RateLimited),
    )
    context_markers = ("context window", "exceeds the model's context")
    unsupported = frozenset(
        {
            "seed",
            "functions",
            "function_call",
            "modalities",
            "audio",
            "prediction",
            "web_search_options",
            "verbosity",
        }
    )
    native_extras = frozenset({"thinking", "repetition_penalty"})
    translations: ClassVar[dict[str, str]] = {
        "*": "forwarded unchanged (only `model` is replaced)",
        "model": "the account's endpoint id when `options.endpoints` maps the model to one "
        "(`{model: ep-…}`); "
        "`ep-…` ids listed in `models:` are served as they are",
        "stream_options.include_usage": "always requested upstream",
        "finish_reason": "`content_filter` (output moderation) passed on",
    }

    def __init__(self) -> None:
        super().__init__(MODELS)

    def spec(self, model_id: str) -> ModelSpec | None:
        found = super().spec(model_id)
        if found is None and model_id.startswith("ep-"):
            return endpoint_spec(model_id)
        return found

    @staticmethod
    def wire_model(call: Call) -> str:
        endpoints = call.account.option("endpoints") or {}
        if isinstance(endpoints, dict):
            ep = endpoints.get(call.spec.id)
            if isinstance(ep, str) and ep:
                return ep
        return call.spec.wire_name

    def adjust_body(self, body: dict[str, Any], req: ChatRequest, call: Call) -> None:
        super().adjust_body(body, req, call)
        body["model"] = self.wire_model(call)

    def build_embeddings(self, req: EmbeddingRequest, inputs: list[str], call: Call) -> WireRequest:
        wire = super().build_embeddings(req, inputs, call)
        body = orjson.loads(wire.body or b"{}")
        body["model"] = self.wire_model(call)
        wire.body = orjson.dumps(body)
        return wire


provider = Ark()
