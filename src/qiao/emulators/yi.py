"""Emulator of 01.AI's Yi platform (零一万物, ``api.lingyiwanwu.com/v1``, others.md §6.2).

A plain OpenAI-compatible API: ``POST /v1/chat/completions``, ``GET /v1/models``, Bearer key, models
``yi-lightning`` and ``yi-vision-v2``. No embeddings. Errors OpenAI-shaped (assumed).
"""

from __future__ import annotations

from typing import ClassVar

from ._asgi import EmulatorApp, EmulatorOptions
from ._cn_compat import CompatEmulator, EmuModel, ScenarioError

__all__ = ["DEFAULT_CREDENTIAL", "YiEmulator", "create_app"]

DEFAULT_CREDENTIAL = "emulator-yi-key"


class YiEmulator(CompatEmulator):
    name = "yi"
    prefixes = ("/v1",)
    default_credential = DEFAULT_CREDENTIAL
    models: ClassVar[dict[str, EmuModel]] = {
        "yi-lightning": EmuModel(16_384),
        "yi-vision-v2": EmuModel(16_384),
    }
    scenarios: ClassVar[dict[str, ScenarioError]] = {
        "rate_limited": ScenarioError(
            429, "Rate limit reached", "rate_limit_error", "rate_limit_exceeded", "1"
        ),
        "insufficient_quota": ScenarioError(
            429, "You exceeded your current quota", "insufficient_quota", "insufficient_quota"
        ),
        "filtered": ScenarioError(
            400, "The content violates the usage policy", "invalid_request_error", "content_filter"
        ),
        "server_error": ScenarioError(500, "Internal server error", "server_error", None),
        "overloaded": ScenarioError(503, "Service busy, please try again later", "server_error", None),
    }


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    return YiEmulator(options).app()
