"""Emulator of Azure OpenAI (see :mod:`qiao.providers.azure`).

Routes, on the emulator's root (the resource endpoint):

* classic: ``POST /openai/deployments/{deployment}/chat/completions?api-version=…`` and
  ``…/embeddings``; key in the ``api-key`` header (``Authorization: Bearer`` is accepted too, as for an
  Entra token); no ``api-version`` → 404 "Resource not found"; the body's ``model`` is ignored;
* v1: ``POST /openai/v1/chat/completions``, ``/openai/v1/embeddings``, ``GET /openai/v1/models``; body
  ``model`` = deployment; ``api-key`` or Bearer.

Deployments are named like the models they serve (the OpenAI catalogue); another name is a 404
``DeploymentNotFound``. Streams start with a ``choices: []`` chunk carrying only
``prompt_filter_results`` (and an empty ``model``); choices carry ``content_filter_results``. Faults in
Azure's words: ``filtered`` → 400 ``content_filter`` with ``innererror.content_filter_result``;
``filtered_midway`` → a chunk with ``finish_reason: "content_filter"``; 429 with ``retry-after`` and
``retry-after-ms``. api-versions before 2024-09-01 refuse ``stream_options``, before 2024-12-01 the
``developer`` role. OpenAI's reasoning-model
parameter rules apply.
"""

from __future__ import annotations

from typing import Any

from ._asgi import EmulatorApp, EmulatorOptions, Request, Response, json_response
from ._compat_server import NO_ERROR, CompatServer, Flavour
from ._engine import GenChoice
from .openai import CHAT_MODELS, EFFORTS, EMBEDDING_MODELS, reasoning_rules
from .openai_compat import KNOWN_PARAMS

__all__ = ["DEFAULT_KEY", "azure_error", "create_app"]

DEFAULT_KEY = "azure-emulator-key-0123456789abcdef"
_SAFE = {k: {"filtered": False, "severity": "safe"} for k in ("hate", "self_harm", "sexual", "violence")}


def azure_error(kind: str, message: str, param: str | None) -> Response:
    if kind == "auth":
        return json_response(
            {
                "error": {
                    "code": "401",
                    "message": "Access denied due to invalid subscription key or wrong API endpoint. "
                    "Make sure to provide a valid key for an active subscription and use a correct "
                    "regional API endpoint for your resource.",
                }
            },
            401,
        )
    if kind == "not_found":
        return json_response(
            {
                "error": {
                    "code": "DeploymentNotFound",
                    "message": "The API deployment for this resource does not exist. If you created the "
                    "deployment within the last 5 minutes, please wait a moment and try again.",
                }
            },
            404,
        )
    if kind == "filter":
        result = dict(_SAFE)
        result["violence"] = {"filtered": True, "severity": "medium"}
        result["jailbreak"] = {"filtered": False, "detected": False}
        return json_response(
            {
                "error": {
                    "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
                    "content management policy. Please modify your prompt and retry.",
                    "type": None,
                    "param": "prompt",
                    "code": "content_filter",
                    "status": 400,
                    "innererror": {
                        "code": "ResponsibleAIPolicyViolation",
                        "content_filter_result": result,
                    },
                }
            },
            400,
        )
    if kind == "rate_limit":
        return json_response(
            {
                "error": {
                    "code": "429",
                    "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
                    "version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing "
                    "tier. Please retry after 1 second.",
                }
            },
            429,
            [("retry-after", "1"), ("retry-after-ms", "1000")],
        )
    if kind == "server":
        return json_response(
            {
                "error": {
                    "code": "InternalServerError",
                    "message": "The server had an error while processing your request. Sorry about that!",
                }
            },
            500,
        )
    if kind == "overloaded":
        return json_response(
            {
                "error": {
                    "code": "ServiceUnavailable",
                    "message": "The service is temporarily unable to "
                    "process your request. Please try again later.",
                }
            },
            503,
            [("retry-after", "1")],
        )
    if kind == "quota":
        return NO_ERROR
    code = {"context": "context_length_exceeded"}.get(kind)
    if kind in ("unsupported", "unsupported_value"):
        code = "unsupported_parameter" if kind == "unsupported" else "unsupported_value"
    return json_response(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}, 400
    )


def _filter_results(c: GenChoice) -> dict[str, Any]:
    return {"content_filter_results": dict(_SAFE)}


def _head(model: str) -> list[dict[str, Any]]:
    return [
        {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": dict(_SAFE)}],
        }
    ]


def _filtered_stop(ev: dict[str, Any]) -> list[dict[str, Any]]:
    out = dict(ev)
    out["choices"] = [
        {
            "index": 0,
            "delta": {},
            "finish_reason": "content_filter",
            "content_filter_results": {**_SAFE, "violence": {"filtered": True, "severity": "medium"}},
        }
    ]
    return [out]


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    opts = options or EmulatorOptions()
    key = DEFAULT_KEY if opts.credential is None else opts.credential
    version: dict[str, str | None] = {"v": None}

    def auth(req: Request) -> Response | None:
        if not key:
            return None
        got = req.header("api-key")
        bearer = req.header("authorization") or ""
        if got == key or bearer == f"Bearer {key}":
            return None
        return azure_error("auth", "", None)

    def validate(body: dict[str, Any], model: str) -> Response | None:
        v = version["v"]
        if v is not None and v[:10] < "2024-09-01" and "stream_options" in body:
            return azure_error("bad_request", "Unrecognized request argument supplied: stream_options", None)
        if v is not None and v[:10] < "2024-12-01":
            for i, m in enumerate(body.get("messages") or ()):
                if isinstance(m, dict) and m.get("role") == "developer":
                    return azure_error(
                        "bad_request",
                        f"Invalid value: 'developer'. Supported values are: 'system', 'assistant', 'user', "
                        f"'function', and 'tool'. (messages[{i}].role)",
                        f"messages[{i}].role",
                    )
        return reasoning_rules(body, model, azure_error)

    flavour = Flavour(
        "azure",
        error=azure_error,
        auth=auth,
        served=CHAT_MODELS + EMBEDDING_MODELS,
        reasoning_field=None,
        is_reasoning=lambda m: m in EFFORTS,
        is_embedding=lambda m: m in EMBEDDING_MODELS,
        context=128_000,
        fingerprint="fp_azure_emulator",
        known_params=KNOWN_PARAMS,
        validate=validate,
        choice_extra=_filter_results,
        head_chunks=_head,
        filter_chunks=_filtered_stop,
        embedding_dim=lambda m: 3072 if m == "text-embedding-3-large" else 1536,
    )
    srv = CompatServer(flavour, opts)
    app = EmulatorApp("azure", opts)

    def classic(req: Request) -> Response | None:
        v = req.q("api-version")
        if not v:
            return json_response({"error": {"code": "404", "message": "Resource not found"}}, 404)
        version["v"] = v
        return None

    @app.route("POST", "/openai/deployments/{deployment}/chat/completions")
    async def chat_classic(req: Request) -> Response:
        if (e := auth(req)) is not None:
            return e
        if (e := classic(req)) is not None:
            return e
        return await srv.chat(req, model=req.path_params["deployment"])

    @app.route("POST", "/openai/deployments/{deployment}/embeddings")
    async def embeddings_classic(req: Request) -> Response:
        if (e := auth(req)) is not None:
            return e
        if (e := classic(req)) is not None:
            return e
        return await srv.embeddings(req, model=req.path_params["deployment"])

    @app.route("POST", "/openai/v1/chat/completions")
    async def chat_v1(req: Request) -> Response:
        version["v"] = None
        return await srv.chat(req)

    app.route("POST", "/openai/v1/embeddings")(srv.embeddings)
    app.route("GET", "/openai/v1/models")(srv.models)
    return app
