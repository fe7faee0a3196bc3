"""Emulator of ByteDance Doubao on Volcengine Ark (火山方舟, others.md §5; checked with the official
``volcengine-python-sdk[ark]``).

* ``POST /api/v3/chat/completions``, ``POST /api/v3/embeddings``, ``GET /api/v3/models``;
  ``Authorization: Bearer <ARK_API_KEY>``.
* ``model`` is a model id with its version suffix (``doubao-seed-1-6-251015``) or an inference endpoint
  id (``ep-20250612103045-abcde``: any well-formed ``ep-`` id is taken as an endpoint of
  doubao-seed-1.6 for chat, or of the text embedding model for ``/embeddings``); the answer's ``model``
  echoes what was sent.
* The official SDK sends every unused parameter as an explicit ``null``: accepted as absent.
* ``thinking: {"type": "enabled" | "disabled" | "auto"}``; reasoning in ``reasoning_content``.
* Output moderation: ``finish_reason: "content_filter"`` with ``moderation_hit_type`` on the choice.
* Errors: ``{"error": {"code": "<Reason.Detail>", "message": "... Request id: ...", "param": "",
  "type": "<HTTP reason word>"}}``; an overdue account is 403 ``AccountOverdueError``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, ClassVar

import orjson

from ._asgi import EmulatorApp, EmulatorOptions, Response, json_response
from ._cn_compat import CompatEmulator, EmuModel, ScenarioError

__all__ = ["DEFAULT_CREDENTIAL", "ArkEmulator", "create_app"]

DEFAULT_CREDENTIAL = "ark-emulator-2d9c1f4e-7b3a-4c1e-9f60-1b2a3c4d5e6f"
ENDPOINT = re.compile(r"^ep-\d{14}-[a-z0-9]{5}$")
_TYPES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 429: "TooManyRequests"}


class ArkEmulator(CompatEmulator):
    name = "ark"
    prefixes = ("/api/v3",)
    default_credential = DEFAULT_CREDENTIAL
    models: ClassVar[dict[str, EmuModel]] = {
        "doubao-seed-2-0-pro-260215": EmuModel(262_144, reasoning=True),
        "doubao-seed-2-0-lite-260215": EmuModel(262_144, reasoning=True),
        "doubao-seed-1-6-251015": EmuModel(262_144, reasoning=True),
        "doubao-seed-1-6-flash-250828": EmuModel(262_144, reasoning=True),
        "doubao-1-5-pro-32k-250115": EmuModel(32_768),
        "doubao-embedding-text-240715": EmuModel(4096, dim=2560, batch=256),
    }
    bad_key = ScenarioError(
        401,
        "The API key or AK/SK in the request is missing or invalid.",
        "Unauthorized",
        "AuthenticationError",
    )
    scenarios: ClassVar[dict[str, ScenarioError]] = {
        "rate_limited": ScenarioError(
            429,
            "The request has exceeded the RPM limit of the endpoint. Please try again later.",
            "TooManyRequests",
            "RateLimitExceeded.EndpointRPMExceeded",
            "1",
        ),
        "insufficient_quota": ScenarioError(
            403,
            "The request failed because your account has an overdue balance.",
            "Forbidden",
            "AccountOverdueError",
        ),
        "filtered": ScenarioError(
            400,
            "The request failed because the input text may contain sensitive information.",
            "BadRequest",
            "InputTextSensitiveContentDetected",
        ),
        "server_error": ScenarioError(
            500,
            "The service encountered an unexpected internal error.",
            "InternalServerError",
            "InternalServiceError",
        ),
        "overloaded": ScenarioError(
            429,
            "The service is currently overloaded. Please try again later.",
            "TooManyRequests",
            "ServerOverloaded",
            "1",
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
        rid = uuid.uuid4().hex[:24]
        body = {
            "error": {
                "code": code or "InvalidParameter",
                "message": f"{message} Request id: {rid}",
                "param": param or "",
                "type": type_ if type_ and type_[0].isupper() else _TYPES.get(status, "InternalServerError"),
            }
        }
        return json_response(body, status, headers)

    def lookup(self, model: str) -> EmuModel | None:
        if ENDPOINT.match(model):
            return self.models["doubao-seed-1-6-251015"]
        return self.models.get(model)

    def lookup_embedding(self, model: str) -> EmuModel | None:
        if ENDPOINT.match(model):
            return self.models["doubao-embedding-text-240715"]
        return self.models.get(model)

    def model_not_found(self, model: str) -> Response:
        return self.error(
            404,
            f"The model or endpoint {model} does not exist or you do not have access to it.",
            "NotFound",
            "InvalidEndpointOrModel.NotFound",
        )

    def context_exceeded(self, limit: int, asked: int) -> Response:
        return self.error(
            400,
            f"The total length of input and max_tokens ({asked}) exceeds the model's context window "
            f"({limit}).",
            "BadRequest",
            "InvalidParameter",
            "messages",
        )

    def thinks(self, body: dict[str, Any], info: EmuModel) -> bool:
        kind = (body.get("thinking") or {}).get("type", "enabled")
        return info.reasoning and kind != "disabled"

    def validate(self, body: dict[str, Any], info: EmuModel) -> Response | None:
        t = body.get("thinking")
        if t is not None and (
            not isinstance(t, dict) or t.get("type") not in ("enabled", "disabled", "auto")
        ):
            return self.error(
                400,
                "The parameter `thinking.type` specified in the request is not valid.",
                "BadRequest",
                "InvalidParameter",
                "thinking.type",
            )
        return None

    def filtered_midway(self, events: list[dict[str, Any]], cut: int) -> list[bytes]:
        last = dict(events[cut])
        last["choices"] = [
            {
                "index": 0,
                "delta": {"content": ""},
                "logprobs": None,
                "finish_reason": "content_filter",
                "moderation_hit_type": "severe_violation",
            }
        ]
        return [b"data: " + orjson.dumps(last) + b"\n\n", b"data: [DONE]\n\n"]


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    return ArkEmulator(options).app()
