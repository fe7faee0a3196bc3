"""Emulator of Ollama's OpenAI-compatible ``/v1`` API (see :mod:`qiao.providers.ollama_openai`).

Paths ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models`` (plus ``GET /`` → "Ollama is
running"). No auth: any key is accepted, as Ollama does. Served tags: the provider's demo models; others
are a 404 ``not_found_error`` "model … not found, try pulling it first". Thinking models (``qwen3…``)
answer with a **``reasoning``** field. Tool calls arrive whole in one delta. Errors:
``{"error": {"message", "type", "param": null, "code": null}}``.
"""

from __future__ import annotations

from ._asgi import EmulatorApp, EmulatorOptions, Request, Response, json_response, text_response
from ._compat_server import NO_ERROR, CompatServer, Flavour

__all__ = ["create_app", "ollama_error"]

SERVED = ("qwen2.5:7b", "qwen3:8b", "nomic-embed-text")

_KINDS = {
    "bad_request": (400, "invalid_request_error"),
    "context": (400, "invalid_request_error"),
    "not_found": (404, "not_found_error"),
    "server": (500, "api_error"),
    "overloaded": (503, "api_error"),
}


def ollama_error(kind: str, message: str, param: str | None) -> Response:
    if kind not in _KINDS:  # no auth, no rate limits, no filters on a local Ollama
        return NO_ERROR
    if kind == "not_found" and "`" in message:
        message = f'model "{message.split("`")[1]}" not found, try pulling it first'
    if kind == "overloaded":
        message = "server busy, please try again.  maximum pending requests exceeded"
    status, etype = _KINDS[kind]
    return json_response({"error": {"message": message, "type": etype, "param": None, "code": None}}, status)


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    opts = options or EmulatorOptions()
    flavour = Flavour(
        "ollama",
        error=ollama_error,
        auth=lambda req: None,
        served=SERVED,
        reasoning_field="reasoning",
        fingerprint="fp_ollama",
        tools_whole=True,
        is_reasoning=lambda m: m.startswith(("qwen3", "deepseek-r1", "gpt-oss")),
        stream_error=lambda kind, msg: {"error": {"message": msg, "type": "api_error"}},
        models_extra={"owned_by": "library"},
    )
    srv = CompatServer(flavour, opts)
    app = EmulatorApp("ollama_openai", opts)
    app.route("POST", "/v1/chat/completions")(srv.chat)
    app.route("POST", "/v1/embeddings")(srv.embeddings)
    app.route("GET", "/v1/models")(srv.models)

    @app.route("GET", "/")
    async def root(req: Request) -> Response:
        return text_response("Ollama is running")

    return app
