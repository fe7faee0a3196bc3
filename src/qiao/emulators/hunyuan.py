"""Emulator of Tencent Hunyuan's OpenAI-compatible endpoint (``api.hunyuan.cloud.tencent.com/v1``,
others.md §8.1). The native Tencent Cloud v3 API was retired on 2026-09-30 and is not emulated.

* ``POST /v1/chat/completions``, ``POST /v1/embeddings`` (``hunyuan-embedding``, 1024 dimensions, at
  most 50 rows), ``GET /v1/models``; ``Authorization: Bearer <console API key>``.
* Native extras top level: ``enable_enhancement``, ``citation``, ``search_info``,
  ``enable_speed_search``, ``force_search_enhancement``, ``enable_thinking``.
* Assistant messages carrying ``reasoning_content`` are refused (400).
* Errors: OpenAI's envelope with Tencent Cloud error codes in ``code`` (``AuthFailure.*``,
  ``OperationDenied.TextIllegalDetected``, ``ResourceUnavailable.InArrears``…) [UNCERTAIN: the shape
  of this endpoint's errors is not documented; this follows third-party clients that parse them].
* Output moderation mid-answer ends with ``finish_reason: "sensitive"`` (the native value)
  [UNCERTAIN].
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from ._asgi import EmulatorApp, EmulatorOptions, Response
from ._cn_compat import CompatEmulator, EmuModel, ScenarioError

__all__ = ["DEFAULT_CREDENTIAL", "HunyuanEmulator", "create_app"]

DEFAULT_CREDENTIAL = "sk-emulator-hunyuan"


class HunyuanEmulator(CompatEmulator):
    name = "hunyuan"
    prefixes = ("/v1",)
    default_credential = DEFAULT_CREDENTIAL
    models: ClassVar[dict[str, EmuModel]] = {
        "hunyuan-turbos-latest": EmuModel(32_768),
        "hunyuan-t1-latest": EmuModel(32_768, reasoning=True),
        "hunyuan-a13b": EmuModel(229_376),
        "hunyuan-lite": EmuModel(262_144),
        "hunyuan-standard": EmuModel(32_768),
        "hunyuan-large": EmuModel(32_768),
        "hunyuan-vision": EmuModel(8192),
        "hunyuan-embedding": EmuModel(1024, dim=1024, batch=50),
    }
    bad_key = ScenarioError(
        401, "The API key is invalid or expired.", "authentication_error", "AuthFailure.UnauthorizedOperation"
    )
    scenarios: ClassVar[dict[str, ScenarioError]] = {
        "rate_limited": ScenarioError(
            429, "Requests exceed the concurrency limit.", "rate_limit_error", "RequestLimitExceeded", "1"
        ),
        "insufficient_quota": ScenarioError(
            400, "Account in arrears.", "invalid_request_error", "ResourceUnavailable.InArrears"
        ),
        "filtered": ScenarioError(
            400,
            "Text contains illegal content. Review failed.",
            "invalid_request_error",
            "OperationDenied.TextIllegalDetected",
        ),
        "server_error": ScenarioError(500, "Internal error.", "api_error", "InternalError"),
        "overloaded": ScenarioError(
            503, "Engine server limit exceeded.", "api_error", "FailedOperation.EngineServerLimitExceeded"
        ),
    }

    def model_not_found(self, model: str) -> Response:
        return self.error(
            400,
            f"Model {model} does not exist.",
            "invalid_request_error",
            "InvalidParameterValue.Model",
            "model",
        )

    def context_exceeded(self, limit: int, asked: int) -> Response:
        return self.error(
            400,
            f"Input exceeds the context length limit of the model ({limit}).",
            "invalid_request_error",
            "InvalidParameterValue.ContextLengthExceeded",
            "messages",
        )

    def thinks(self, body: dict[str, Any], info: EmuModel) -> bool:
        if body["model"] == "hunyuan-a13b":
            return body.get("enable_thinking") is not False
        return info.reasoning

    def validate(self, body: dict[str, Any], info: EmuModel) -> Response | None:
        for m in body["messages"]:
            if m.get("role") == "assistant" and m.get("reasoning_content") is not None:
                return self.error(
                    400,
                    "Messages.reasoning_content is not supported.",
                    "invalid_request_error",
                    "InvalidParameter",
                    "messages",
                )
        return None

    def filtered_midway(self, events: list[dict[str, Any]], cut: int) -> list[bytes]:
        last = dict(events[cut])
        last["choices"] = [{"index": 0, "delta": {"content": ""}, "finish_reason": "sensitive"}]
        return [b"data: " + orjson.dumps(last) + b"\n\n", b"data: [DONE]\n\n"]


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    return HunyuanEmulator(options).app()
