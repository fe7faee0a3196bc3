"""Emulator of OpenAI's chat-completions and embeddings API with its model catalogue (see
:mod:`qiao.providers.openai`).

Paths ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models``; ``Authorization: Bearer`` with the
configured key (default ``sk-proj-emulator``). Unknown body fields are a 400 ("Unrecognized request
argument supplied"). Reasoning models (o-series, GPT-5) behave as OpenAI's do: ``max_tokens`` is refused
(use ``max_completion_tokens``), ``temperature`` / ``top_p`` other than 1 are refused, ``reasoning_effort``
is checked per model and refused on other models; they return **no** reasoning text, only
``usage.completion_tokens_details.reasoning_tokens``. The ``developer`` role is accepted everywhere.
"""

from __future__ import annotations

from typing import Any

from ._asgi import EmulatorApp, EmulatorOptions, Response, json_response
from ._compat_server import CompatServer, ErrorFn, Flavour, bearer_auth
from .openai_compat import KNOWN_PARAMS

__all__ = ["CHAT_MODELS", "EMBEDDING_MODELS", "create_app", "openai_error", "reasoning_rules"]

EFFORTS: dict[str, frozenset[str]] = {
    "gpt-5.1": frozenset({"none", "low", "medium", "high"}),
    "gpt-5": frozenset({"minimal", "low", "medium", "high"}),
    "gpt-5-mini": frozenset({"minimal", "low", "medium", "high"}),
    "gpt-5-nano": frozenset({"minimal", "low", "medium", "high"}),
    "o3": frozenset({"low", "medium", "high"}),
    "o4-mini": frozenset({"low", "medium", "high"}),
    "o3-mini": frozenset({"low", "medium", "high"}),
    "o1": frozenset({"low", "medium", "high"}),
}
CHAT_MODELS = (*EFFORTS, "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "gpt-4o-mini")
EMBEDDING_MODELS = ("text-embedding-3-small", "text-embedding-3-large")

_KINDS: dict[str, tuple[int, str, str | None]] = {
    "bad_request": (400, "invalid_request_error", None),
    "unsupported": (400, "invalid_request_error", "unsupported_parameter"),
    "unsupported_value": (400, "invalid_request_error", "unsupported_value"),
    "auth": (401, "invalid_request_error", "invalid_api_key"),
    "not_found": (404, "invalid_request_error", "model_not_found"),
    "context": (400, "invalid_request_error", "context_length_exceeded"),
    "rate_limit": (429, "requests", "rate_limit_exceeded"),
    "quota": (429, "insufficient_quota", "insufficient_quota"),
    "filter": (400, "invalid_request_error", "invalid_prompt"),
    "server": (500, "server_error", None),
    "overloaded": (503, "server_error", None),
}


def openai_error(kind: str, message: str, param: str | None) -> Response:
    status, etype, code = _KINDS.get(kind, _KINDS["server"])
    if kind == "not_found":
        message = message.rstrip(".") + " or you do not have access to it."
    if kind == "filter":
        message = "Invalid prompt: your prompt was flagged as potentially violating our usage policy."
    headers = [("retry-after", "1")] if kind in ("rate_limit", "overloaded") else []
    return json_response(
        {"error": {"message": message, "type": etype, "param": param, "code": code}}, status, headers
    )


def reasoning_rules(body: dict[str, Any], model: str, error: ErrorFn = openai_error) -> Response | None:
    """OpenAI's parameter rules for reasoning models (shared with the Azure emulator)."""
    allowed = EFFORTS.get(model)
    effort = body.get("reasoning_effort")
    if allowed is None:
        if effort is not None:
            return error(
                "unsupported",
                "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                "reasoning_effort",
            )
        return None
    if "max_tokens" in body:
        return error(
            "unsupported",
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "max_tokens",
        )
    for k in ("temperature", "top_p"):
        v = body.get(k)
        if v is not None and v != 1:
            return error(
                "unsupported_value",
                f"Unsupported value: '{k}' does not support {v} with this model. "
                "Only the default (1) value is supported.",
                k,
            )
    if effort is not None and effort not in allowed:
        return error(
            "unsupported_value",
            f"Unsupported value: 'reasoning_effort' does not support '{effort}' with this model. "
            f"Supported values are: {', '.join(repr(e) for e in sorted(allowed))}.",
            "reasoning_effort",
        )
    return None


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    opts = options or EmulatorOptions()
    key = "sk-proj-emulator" if opts.credential is None else opts.credential
    flavour = Flavour(
        "openai",
        error=openai_error,
        auth=bearer_auth(key, lambda: openai_error("auth", "Incorrect API key provided.", None)),
        served=CHAT_MODELS + EMBEDDING_MODELS,
        reasoning_field=None,
        is_reasoning=lambda m: m in EFFORTS,
        is_embedding=lambda m: m in EMBEDDING_MODELS,
        context=128_000,
        fingerprint="fp_emulator",
        known_params=KNOWN_PARAMS,
        validate=reasoning_rules,
        models_extra={"owned_by": "system"},
        embedding_dim=lambda m: 3072 if m == "text-embedding-3-large" else 1536,
    )
    srv = CompatServer(flavour, opts)
    app = EmulatorApp("openai", opts)
    app.route("POST", "/v1/chat/completions")(srv.chat)
    app.route("POST", "/v1/embeddings")(srv.embeddings)
    app.route("GET", "/v1/models")(srv.models)
    return app
