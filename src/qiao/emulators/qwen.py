"""Emulator of Alibaba Cloud Model Studio's OpenAI-compatible mode (DashScope ``compatible-mode/v1``,
others.md §2.7–2.10).

* ``POST /compatible-mode/v1/chat/completions``, ``POST /compatible-mode/v1/embeddings``,
  ``GET /compatible-mode/v1/models``; ``Authorization: Bearer sk-…``.
* Ranges: ``temperature`` in [0, 2), ``top_p`` in (0, 1], ``n`` 1–4.
* Vendor fields top level: ``enable_thinking`` (hybrid models; only with ``stream: true``, otherwise
  400), ``thinking_budget``, ``enable_search``, ``top_k``, ``repetition_penalty`` …
* Reasoning in ``reasoning_content``. Streams carry ``"usage": null`` until the ``include_usage`` chunk.
* Output moderation mid-stream: a bare ``data: {"error": {... "data_inspection_failed"}}`` frame after
  partial content, and no ``[DONE]``. Errors carry a ``request_id`` beside ``error``.
* Models only the native API serves answer 404 ``model_not_supported``.
* Embeddings (``text-embedding-v3``/``-v4``): at most 10 rows per call, ``dimensions`` supported.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import orjson

from ._asgi import EmulatorApp, EmulatorOptions, Response, json_response
from ._cn_compat import CompatEmulator, EmuModel, ScenarioError
from .openai_compat import error_body

__all__ = ["DEFAULT_CREDENTIAL", "QwenEmulator", "create_app"]

DEFAULT_CREDENTIAL = "sk-emulator-dashscope"
HYBRID = frozenset({"qwen-plus", "qwen-flash", "qwen-turbo", "qwen3.5-plus", "qwen3-max"})
NATIVE_ONLY = frozenset({"qwen-audio-turbo", "qwen-audio-chat"})


class QwenEmulator(CompatEmulator):
    name = "qwen"
    prefixes = ("/compatible-mode/v1",)
    default_credential = DEFAULT_CREDENTIAL
    models: ClassVar[dict[str, EmuModel]] = {
        "qwen3-max": EmuModel(262_144),
        "qwen3.5-plus": EmuModel(1_000_000),
        "qwen-plus": EmuModel(131_072),
        "qwen-flash": EmuModel(1_000_000),
        "qwen-turbo": EmuModel(131_072),
        "qwen3-vl-plus": EmuModel(262_144),
        "qwen-vl-plus": EmuModel(131_072),
        "text-embedding-v4": EmuModel(8192, dim=1024, batch=10),
        "text-embedding-v3": EmuModel(8192, dim=1024, batch=10),
    }
    temperature_max_open = True
    top_p_min_open = True
    n_max = 4
    bad_key = ScenarioError(401, "Incorrect API key provided. ", "invalid_request_error", "invalid_api_key")
    scenarios: ClassVar[dict[str, ScenarioError]] = {
        "rate_limited": ScenarioError(
            429,
            "Requests rate limit exceeded, please try again later.",
            "limit_requests",
            "limit_requests",
            "1",
        ),
        "insufficient_quota": ScenarioError(
            400, "Access denied, please make sure your account is in good standing.", "Arrearage", "Arrearage"
        ),
        "filtered": ScenarioError(
            400,
            "Input data may contain inappropriate content.",
            "data_inspection_failed",
            "data_inspection_failed",
        ),
        "server_error": ScenarioError(
            500, "An internal error has occured, please try again later.", "internal_error", "internal_error"
        ),
        "overloaded": ScenarioError(
            503,
            "Model is currently unavailable, please try again later.",
            "ModelUnavailable",
            "ModelUnavailable",
        ),
    }

    def error(
        self,
        status: int,
        message: str,
        type_: str | None,
        code: str | None = None,
        param: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> Response:
        body = error_body(message, type_ or "invalid_request_error", param, code)
        body["request_id"] = str(uuid.uuid4())
        return json_response(body, status, headers)

    def model_not_found(self, model: str) -> Response:
        if model in NATIVE_ONLY:
            return self.error(
                404,
                f"Unsupported model `{model}` for OpenAI compatibility mode.",
                "invalid_request_error",
                "model_not_supported",
            )
        return self.error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )

    def context_exceeded(self, limit: int, asked: int) -> Response:
        return self.error(
            400,
            f"<400> InternalError.Algo.InvalidParameter: Range of input length should be [1, {limit}]",
            "invalid_request_error",
            "invalid_parameter_error",
        )

    def thinks(self, body: dict[str, Any], info: EmuModel) -> bool:
        return body.get("enable_thinking") is True and body["model"] in HYBRID

    def validate(self, body: dict[str, Any], info: EmuModel) -> Response | None:
        if body.get("enable_thinking") is True and not body.get("stream"):
            return self.error(
                400,
                "parameter.enable_thinking must be set to false for non-streaming calls",
                "invalid_request_error",
                "invalid_parameter_error",
            )
        return None

    def filtered_midway(self, events: list[dict[str, Any]], cut: int) -> list[bytes]:
        frame = error_body(
            "Output data may contain inappropriate content.",
            "data_inspection_failed",
            None,
            "data_inspection_failed",
        )
        return [b"data: " + orjson.dumps(frame) + b"\n\n"]


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    return QwenEmulator(options).app()
