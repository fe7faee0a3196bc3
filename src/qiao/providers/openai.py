"""``openai``: OpenAI's own API (others.md §11.1), a configured :class:`OpenAICompatible` with a catalogue.

* ``POST https://api.openai.com/v1/chat/completions`` / ``/embeddings``, ``Authorization: Bearer sk-…``;
  account options ``organization`` / ``project`` become the ``OpenAI-Organization`` /
  ``OpenAI-Project`` headers.
* The request is forwarded as sent (model replaced), with ``stream_options.include_usage`` asked for.
  ``developer`` messages are forwarded as such (every catalogue model accepts them).
* **Reasoning models** (o-series, GPT-5 family — :data:`REASONING_EFFORTS`): ``max_tokens`` is renamed
  ``max_completion_tokens`` (OpenAI rejects ``max_tokens`` on them); ``temperature`` / ``top_p`` equal to
  the default 1 and zero penalties are dropped, other values (and ``logprobs``, ``logit_bias``) are a 400
  ``unsupported_parameter`` — OpenAI would refuse them too, and silently dropping them would change the
  answer; ``reasoning_effort`` is checked against the values the model takes. On other models
  ``reasoning_effort`` is a 400 ``unsupported_parameter``.
* OpenAI returns no reasoning text in chat completions; the reasoning token count arrives in
  ``usage.completion_tokens_details.reasoning_tokens`` and is passed on.
* Errors: OpenAI's own envelope; 429 ``rate_limit_exceeded`` (retried, ``Retry-After`` kept) vs
  ``insufficient_quota`` (not retried); prompt moderation (``content_policy_violation`` /
  ``invalid_prompt``) → ``content_filter``.
* Prices: USD per 1M tokens (OpenAI's list prices, standard tier), with cached-input prices.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..catalogue import Capabilities, ModelSpec, PriceTier
from ..errors import ContentFiltered, QiaoError, UnsupportedParameter, provider_error
from ..types import ChatRequest
from .base import Call, WireResponse
from .openai_compat import BearerAuth, OpenAICompatible

__all__ = ["MODELS", "REASONING_EFFORTS", "OpenAI", "check_reasoning_params", "provider"]

PRICE_SOURCE = "https://platform.openai.com/docs/pricing"
"""Read 2026-11-25 through copies of the page (deploybase.ai, tokenmath.io, March–June 2026)."""

_CHAT = Capabilities(
    tools=True,
    tool_choice_required=True,
    parallel_tool_calls=True,
    json_mode=True,
    json_schema=True,
    vision=True,
    n=True,
    seed=True,
    logprobs=True,
)
_REASONING = Capabilities(
    tools=True,
    tool_choice_required=True,
    parallel_tool_calls=True,
    json_mode=True,
    json_schema=True,
    vision=True,
    reasoning=True,
    n=True,
    seed=True,
)
_REASONING_TEXT = Capabilities(
    tools=True,
    tool_choice_required=True,
    parallel_tool_calls=True,
    json_mode=True,
    json_schema=True,
    reasoning=True,
    n=True,
    seed=True,
)
_EMBED = Capabilities(chat=False, stream=False, embeddings=True, stream_usage=False)


def _usd(inp: str, out: str, cached: str | None, since: str) -> PriceTier:
    return PriceTier.per_mtok(inp, out, cached_input=cached, currency="USD", since=since, source=PRICE_SOURCE)


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("gpt-5.1", 400_000, _REASONING, _usd("1.25", "10", "0.125", "2025-11-13"), max_output=128_000),
    ModelSpec("gpt-5", 400_000, _REASONING, _usd("1.25", "10", "0.125", "2025-08-07"), max_output=128_000),
    ModelSpec(
        "gpt-5-mini", 400_000, _REASONING, _usd("0.25", "2", "0.025", "2025-08-07"), max_output=128_000
    ),
    ModelSpec(
        "gpt-5-nano", 400_000, _REASONING, _usd("0.05", "0.40", "0.005", "2025-08-07"), max_output=128_000
    ),
    ModelSpec("gpt-4.1", 1_047_576, _CHAT, _usd("2", "8", "0.50", "2025-04-14"), max_output=32_768),
    ModelSpec(
        "gpt-4.1-mini", 1_047_576, _CHAT, _usd("0.40", "1.60", "0.10", "2025-04-14"), max_output=32_768
    ),
    ModelSpec(
        "gpt-4.1-nano", 1_047_576, _CHAT, _usd("0.10", "0.40", "0.025", "2025-04-14"), max_output=32_768
    ),
    ModelSpec("gpt-4o", 128_000, _CHAT, _usd("2.50", "10", "1.25", "2024-10-02"), max_output=16_384),
    ModelSpec("gpt-4o-mini", 128_000, _CHAT, _usd("0.15", "0.60", "0.075", "2024-07-18"), max_output=16_384),
    ModelSpec("o3", 200_000, _REASONING, _usd("2", "8", "0.50", "2025-06-10"), max_output=100_000),
    ModelSpec(
        "o4-mini", 200_000, _REASONING, _usd("1.10", "4.40", "0.275", "2025-04-16"), max_output=100_000
    ),
    ModelSpec(
        "o3-mini", 200_000, _REASONING_TEXT, _usd("1.10", "4.40", "0.55", "2025-01-31"), max_output=100_000
    ),
    ModelSpec("o1", 200_000, _REASONING, _usd("15", "60", "7.50", "2024-12-17"), max_output=100_000),
    ModelSpec(
        "text-embedding-3-small",
        8191,
        _EMBED,
        _usd("0.02", "0", None, "2024-01-25"),
        dimensions=1536,
        embedding_batch=2048,
    ),
    ModelSpec(
        "text-embedding-3-large",
        8191,
        _EMBED,
        _usd("0.13", "0", None, "2024-01-25"),
        dimensions=3072,
        embedding_batch=2048,
    ),
)

REASONING_EFFORTS: dict[str, frozenset[str]] = {
    "gpt-5.1": frozenset({"none", "low", "medium", "high"}),
    "gpt-5": frozenset({"minimal", "low", "medium", "high"}),
    "gpt-5-mini": frozenset({"minimal", "low", "medium", "high"}),
    "gpt-5-nano": frozenset({"minimal", "low", "medium", "high"}),
    "o3": frozenset({"low", "medium", "high"}),
    "o4-mini": frozenset({"low", "medium", "high"}),
    "o3-mini": frozenset({"low", "medium", "high"}),
    "o1": frozenset({"low", "medium", "high"}),
}
"""Reasoning models and the ``reasoning_effort`` values each accepts."""

_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


def is_reasoning_model(model: str) -> bool:
    return model in REASONING_EFFORTS or model.startswith(_REASONING_PREFIXES)


def check_reasoning_params(body: dict[str, Any], model: str, label: str) -> None:
    """Translate (in place) what a reasoning model needs; raise 400 for what it cannot honour."""
    if is_reasoning_model(model):
        if "max_tokens" in body:
            mt = body.pop("max_tokens")
            body.setdefault("max_completion_tokens", mt)
        for k in ("temperature", "top_p"):
            if k in body and body[k] is not None and body[k] != 1:
                raise UnsupportedParameter(
                    f"{label} is a reasoning model: '{k}' does not support {body[k]} (only the default 1)",
                    param=k,
                )
            body.pop(k, None)
        for k in ("presence_penalty", "frequency_penalty"):
            if body.get(k):
                raise UnsupportedParameter(f"{label} is a reasoning model: '{k}' is not supported", param=k)
            body.pop(k, None)
        for k in ("logprobs", "top_logprobs", "logit_bias"):
            if body.get(k):
                raise UnsupportedParameter(f"{label} is a reasoning model: '{k}' is not supported", param=k)
            body.pop(k, None)
        effort = body.get("reasoning_effort")
        allowed = REASONING_EFFORTS.get(model)
        if effort is not None and allowed is not None and effort not in allowed:
            raise UnsupportedParameter(
                f"{label} does not support reasoning_effort '{effort}' "
                f"(supported: {', '.join(sorted(allowed))})",
                param="reasoning_effort",
                code="unsupported_value",
            )
    elif body.get("reasoning_effort") is not None:
        raise UnsupportedParameter(
            f"{label} is not a reasoning model: 'reasoning_effort' is not supported", param="reasoning_effort"
        )


class OpenAI(OpenAICompatible):
    name = "openai"
    display_name = "OpenAI"
    default_base_url = "https://api.openai.com/v1"
    credential_format = "OpenAI API key `sk-…` (Bearer)"
    docs_url = "https://platform.openai.com/docs/api-reference/chat"
    emulator = "qiao.emulators.openai:create_app"
    demo_credential: ClassVar[str | None] = "sk-proj-emulator"
    demo_models: ClassVar[tuple[str, ...] | None] = None
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {
        "gpt-4o": ("gpt-4o", 5),
        "gpt-4o-mini": ("gpt-4o-mini", 5),
        "text-embedding-3-small": ("text-embedding-3-small", 5),
    }
    stream_usage_supported: ClassVar[bool] = True
    translations: ClassVar[dict[str, str]] = {
        "*": "forwarded unchanged (only `model` is replaced)",
        "stream_options.include_usage": "always requested upstream",
        "max_tokens": "→ `max_completion_tokens` on reasoning models (o-series, GPT-5)",
        "temperature / top_p / penalties / logprobs": (
            "reasoning models: defaults dropped, other values refused (400) as OpenAI does"
        ),
        "reasoning_effort": "reasoning models only, checked against the values each model takes",
        "messages[].role=developer": "forwarded",
        "(account) options": "`organization`, `project` → `OpenAI-Organization` / `OpenAI-Project` headers",
    }

    def __init__(self) -> None:
        super().__init__(auth=BearerAuth(), models=MODELS)

    def headers(self, call: Call) -> dict[str, str]:
        h = super().headers(call)
        org = call.account.option("organization")
        project = call.account.option("project")
        if org:
            h["OpenAI-Organization"] = str(org)
        if project:
            h["OpenAI-Project"] = str(project)
        return h

    def reasoning_name(self, call: Call) -> str:
        """The OpenAI model whose rules apply (Azure: the catalogue model behind a deployment)."""
        return call.spec.id

    def adjust_body(self, body: dict[str, Any], req: ChatRequest, call: Call) -> None:
        check_reasoning_params(body, self.reasoning_name(call), f"{self.name}/{call.spec.id}")

    def classify_body(self, obj: Any, status: int, resp: WireResponse | None, call: Call) -> QiaoError | None:
        err = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(err, dict) and err.get("code") in ("content_policy_violation", "invalid_prompt"):
            return provider_error(
                ContentFiltered,
                self.name,
                str(err.get("message") or ""),
                vendor_code=str(err.get("code")),
                upstream_status=status,
                body=resp.body if resp is not None else None,
            )
        return super().classify_body(obj, status, resp, call)


provider = OpenAI()
