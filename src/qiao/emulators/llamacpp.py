"""Emulator of llama.cpp's ``llama-server`` (see :mod:`qiao.providers.llamacpp`).

Paths ``/v1/chat/completions``, ``/v1/embeddings`` (only with ``embeddings=True``, as ``--embeddings``;
otherwise 501 ``not_supported_error``), ``/v1/models``, ``/health``. One model per process: any
``model`` name is answered. With a credential: ``--api-key`` (401 ``authentication_error``). Errors are
``{"error": {"code": <int>, "message", "type"}}``; prompts over the context are 400
``exceed_context_size_error`` with ``n_prompt_tokens`` / ``n_ctx``. Streams put ``usage`` and a
``timings`` object on the finish chunk (builds since b6210), whatever ``stream_options`` says.
Reasoning (names with ``r1`` / ``qwq`` / ``think``) as ``reasoning_content`` (``--reasoning-format
deepseek``).
"""

from __future__ import annotations

from typing import Any

from ._asgi import EmulatorApp, EmulatorOptions, Request, Response, json_response
from ._compat_server import NO_ERROR, CompatServer, Flavour, bearer_auth

__all__ = ["create_app", "llamacpp_error"]

N_CTX = 8192

_KINDS = {
    "bad_request": (400, "invalid_request_error"),
    "not_found": (404, "not_found_error"),
    "auth": (401, "authentication_error"),
    "server": (500, "server_error"),
    "overloaded": (503, "unavailable_error"),
    "not_supported": (501, "not_supported_error"),
}


def llamacpp_error(kind: str, message: str, param: str | None) -> Response:
    if kind == "auth":
        message = "Invalid API Key"
    if kind == "overloaded":
        message = "Loading model"
    if kind == "context":
        return json_response(
            {
                "error": {
                    "code": 400,
                    "message": "the request exceeds the available context size, try increasing it",
                    "type": "exceed_context_size_error",
                    "n_prompt_tokens": N_CTX + 1,
                    "n_ctx": N_CTX,
                }
            },
            400,
        )
    if kind not in _KINDS:  # llama-server has no rate limits, filters or billing
        return NO_ERROR
    status, etype = _KINDS[kind]
    return json_response({"error": {"code": status, "message": message, "type": etype}}, status)


def _timings(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "timings": {
            "prompt_n": prompt,
            "prompt_ms": 12.5,
            "predicted_n": completion,
            "predicted_ms": 80.0,
            "predicted_per_second": 42.0,
        }
    }


def create_app(options: EmulatorOptions | None = None, embeddings: bool = True) -> EmulatorApp:
    opts = options or EmulatorOptions()

    def no_embeddings(model: str) -> Response | None:
        if embeddings:
            return None
        return llamacpp_error(
            "not_supported",
            "This server does not support embeddings. Start it with `--embeddings`",
            None,
        )

    flavour = Flavour(
        "llamacpp",
        error=llamacpp_error,
        auth=bearer_auth(opts.credential, lambda: llamacpp_error("auth", "", None)),
        served=None,
        context=N_CTX,
        usage_mode="finish_chunk",
        fingerprint="b6210-a094f381",
        finish_chunk_extra=_timings,
        embeddings_error=no_embeddings,
        stream_error=lambda kind, msg: {"error": {"code": 500, "message": msg, "type": "server_error"}},
    )
    srv = CompatServer(flavour, opts)
    app = EmulatorApp("llamacpp", opts)
    app.route("POST", "/v1/chat/completions")(srv.chat)
    app.route("POST", "/v1/embeddings")(srv.embeddings)

    @app.route("GET", "/v1/models")
    async def models(req: Request) -> Response:
        if (e := flavour.auth(req)) is not None:
            return e
        return json_response(
            {"object": "list", "data": [{"id": "model.gguf", "object": "model", "owned_by": "llamacpp"}]}
        )

    @app.route("GET", "/health")
    async def health(req: Request) -> Response:
        return json_response({"status": "ok"})

    return app
