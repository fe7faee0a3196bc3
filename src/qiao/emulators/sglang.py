"""Emulator of an SGLang server's OpenAI-compatible API (see :mod:`qiao.providers.sglang`).

Paths ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models``, ``/health``. With a credential it
behaves like ``--api-key`` (401 ``{"error": "Unauthorized"}``). Errors are flat: ``{"object": "error",
"message", "type", "param", "code": <int>}``. Reasoning models (``qwq…``) answer with
``reasoning_content``; choices carry SGLang's ``matched_stop``.
"""

from __future__ import annotations

from typing import Any

from ._asgi import EmulatorApp, EmulatorOptions, Request, Response, json_response
from ._compat_server import NO_ERROR, CompatServer, Flavour, bearer_auth
from ._engine import GenChoice

__all__ = ["create_app", "sglang_error"]

SERVED = ("qwen2.5-7b-instruct", "qwq-32b", "bge-m3")

_KINDS = {
    "bad_request": (400, "BadRequestError"),
    "context": (400, "BadRequestError"),
    "not_found": (404, "NotFoundError"),
    "rate_limit": (429, "TooManyRequestsError"),
    "server": (500, "InternalServerError"),
    "overloaded": (503, "ServiceUnavailableError"),
}


def sglang_error(kind: str, message: str, param: str | None) -> Response:
    if kind == "auth":
        return json_response({"error": "Unauthorized"}, 401)
    if kind not in _KINDS:
        return NO_ERROR
    status, etype = _KINDS[kind]
    return json_response(
        {"object": "error", "message": message, "type": etype, "param": param, "code": status}, status
    )


def _matched_stop(c: GenChoice) -> dict[str, Any]:
    return {"matched_stop": 151645 if c.finish == "stop" else None}


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    opts = options or EmulatorOptions()
    flavour = Flavour(
        "sglang",
        error=sglang_error,
        auth=bearer_auth(opts.credential, lambda: sglang_error("auth", "", None)),
        served=SERVED,
        reasoning_field="reasoning_content",
        choice_extra=_matched_stop,
        stream_error=lambda kind, msg: {
            "error": {"object": "error", "message": msg, "type": "InternalServerError", "code": 500}
        },
    )
    srv = CompatServer(flavour, opts)
    app = EmulatorApp("sglang", opts)
    app.route("POST", "/v1/chat/completions")(srv.chat)
    app.route("POST", "/v1/embeddings")(srv.embeddings)
    app.route("GET", "/v1/models")(srv.models)

    @app.route("GET", "/health")
    async def health(req: Request) -> Response:
        return Response(200, b"", "text/plain")

    return app
