"""Emulator of a vLLM server's OpenAI-compatible API (see :mod:`qiao.providers.vllm`).

``qiao emulate vllm`` serves ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models`` and
``/health``. With a credential it behaves like ``--api-key``: a wrong key is a 401 ``{"error":
"Unauthorized"}`` (a plain string). Served names: the provider's demo models (others → 404
``NotFoundError``). Reasoning models (``…r1…``) answer with a **``reasoning``** field (current vLLM; the
option ``legacy_reasoning`` of :func:`create_app` uses the older ``reasoning_content``). Errors carry the
integer status as ``code`` and an exception name as ``type``; a mid-stream failure is a ``data:
{"error": …}`` frame followed by ``data: [DONE]``; unknown request fields are ignored, as vLLM does.
"""

from __future__ import annotations

from ._asgi import EmulatorApp, EmulatorOptions, Request, Response, json_response
from ._compat_server import NO_ERROR, CompatServer, Flavour, bearer_auth

__all__ = ["create_app", "vllm_error"]

SERVED = ("qwen2.5-7b-instruct", "deepseek-r1-distill-qwen-7b", "bge-m3")

_KINDS = {
    "bad_request": (400, "BadRequestError"),
    "context": (400, "BadRequestError"),
    "not_found": (404, "NotFoundError"),
    "rate_limit": (429, "RateLimitError"),
    "server": (500, "InternalServerError"),
    "overloaded": (503, "ServiceUnavailableError"),
}


def vllm_error(kind: str, message: str, param: str | None) -> Response:
    if kind == "auth":
        return json_response({"error": "Unauthorized"}, 401)
    if kind not in _KINDS:  # no content filter, no billing on a self-hosted server
        return NO_ERROR
    status, etype = _KINDS[kind]
    return json_response(
        {"error": {"message": message, "type": etype, "param": param, "code": status}}, status
    )


def create_app(options: EmulatorOptions | None = None, legacy_reasoning: bool = False) -> EmulatorApp:
    opts = options or EmulatorOptions()
    flavour = Flavour(
        "vllm",
        error=vllm_error,
        auth=bearer_auth(opts.credential, lambda: vllm_error("auth", "", None)),
        served=SERVED,
        reasoning_field="reasoning_content" if legacy_reasoning else "reasoning",
        fingerprint="vllm-0.11.2-emulator",
        done_after_error=True,
        stream_error=lambda kind, msg: {
            "error": {"message": msg, "type": "InternalServerError", "param": None, "code": 500}
        },
    )
    srv = CompatServer(flavour, opts)
    app = EmulatorApp("vllm", opts)
    app.route("POST", "/v1/chat/completions")(srv.chat)
    app.route("POST", "/v1/embeddings")(srv.embeddings)
    app.route("GET", "/v1/models")(srv.models)

    @app.route("GET", "/health")
    async def health(req: Request) -> Response:
        return Response(200, b"", "application/json")

    return app
