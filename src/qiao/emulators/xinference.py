"""Emulator of Xinference's OpenAI-compatible API (see :mod:`qiao.providers.xinference`).

Paths ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models``. Model names are launched model UIDs
(the provider's demo models); an unknown UID is a **400** ``{"detail": "Model not found in the model list,
uid: …"}``. Errors are FastAPI's ``{"detail": "..."}``; with a credential, auth is on (Bearer API key;
a bad one is a 401 ``{"detail": "Invalid credential"}``). Streams start with an ``: ping`` comment (as
``sse_starlette`` sends), carry no usage, end with ``data: [DONE]``; a mid-stream failure is
``data: {"error": "<plain string>"}`` and the stream ends.
"""

from __future__ import annotations

from ._asgi import EmulatorApp, EmulatorOptions, Request, Response, json_response
from ._compat_server import NO_ERROR, CompatServer, Flavour, bearer_auth

__all__ = ["create_app", "xinference_error"]

SERVED = ("qwen2.5-instruct", "deepseek-r1-distill-qwen", "bge-m3")

_STATUS = {"bad_request": 400, "context": 400, "rate_limit": 429, "server": 500, "overloaded": 503}


def xinference_error(kind: str, message: str, param: str | None) -> Response:
    if kind == "auth":
        return json_response({"detail": "Invalid credential"}, 401, [("www-authenticate", "Bearer")])
    if kind == "not_found":
        uid = message.split("`")[1] if "`" in message else "?"
        return json_response({"detail": f"Model not found in the model list, uid: {uid}"}, 400)
    if kind == "rate_limit":
        message = "Rate limit reached for the model. Request limit 4 for the model: qwen2.5-instruct"
    if kind not in _STATUS:
        return NO_ERROR
    return json_response({"detail": message}, _STATUS[kind])


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    opts = options or EmulatorOptions()
    flavour = Flavour(
        "xinference",
        error=xinference_error,
        auth=bearer_auth(opts.credential, lambda: xinference_error("auth", "", None)),
        served=SERVED,
        reasoning_field="reasoning_content",
        usage_mode="never",
        ping=True,
        stream_error=lambda kind, msg: {"error": msg},
        models_extra={"owned_by": "xinference"},
    )
    srv = CompatServer(flavour, opts)
    app = EmulatorApp("xinference", opts)
    app.route("POST", "/v1/chat/completions")(srv.chat)
    app.route("POST", "/v1/embeddings")(srv.embeddings)
    app.route("GET", "/v1/models")(srv.models)

    @app.route("GET", "/status")
    async def status(req: Request) -> Response:
        return json_response({})

    return app
