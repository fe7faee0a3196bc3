"""Emulator of StepFun's API (阶跃星辰, ``api.stepfun.com/v1``, others.md §6.1).

* ``POST /v1/chat/completions``, ``GET /v1/models``; ``Authorization: Bearer <key>``. No embeddings.
* Reasoning models (``step-3.5-flash``…) put their thinking in ``reasoning`` (not ``reasoning_content``).
* Streams, as on StepFun's streaming page: non-final chunks have ``"finish_reason": ""``; ``delta.role``
  is ``""`` after the first chunk; ``usage`` rides on **every** chunk, cumulative, top level, with a
  ``cached_tokens`` field — no separate usage chunk.
* Errors: OpenAI-shaped (assumed; not documented).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ._asgi import EmulatorApp, EmulatorOptions
from ._cn_compat import CompatEmulator, EmuModel, ScenarioError
from ._engine import GenChoice, count_tokens

__all__ = ["DEFAULT_CREDENTIAL", "StepFunEmulator", "create_app"]

DEFAULT_CREDENTIAL = "emulator-stepfun-key"


class StepFunEmulator(CompatEmulator):
    name = "stepfun"
    prefixes = ("/v1",)
    default_credential = DEFAULT_CREDENTIAL
    reasoning_field = "reasoning"
    models: ClassVar[dict[str, EmuModel]] = {
        "step-3.5-flash": EmuModel(262_144, reasoning=True),
        "step-2-mini": EmuModel(32_768),
        "step-2-16k": EmuModel(16_384),
        "step-1-8k": EmuModel(8192),
        "step-1v-8k": EmuModel(8192),
    }
    scenarios: ClassVar[dict[str, ScenarioError]] = {
        "rate_limited": ScenarioError(
            429, "Rate limit exceeded", "rate_limit_error", "rate_limit_exceeded", "1"
        ),
        "insufficient_quota": ScenarioError(
            402, "Insufficient balance, please recharge", "insufficient_quota", "insufficient_quota"
        ),
        "filtered": ScenarioError(
            400, "The content may contain sensitive information", "invalid_request_error", "content_filter"
        ),
        "server_error": ScenarioError(500, "Internal server error", "server_error", "server_error"),
        "overloaded": ScenarioError(503, "Service overloaded", "server_error", "server_overloaded"),
    }

    def shape_chunks(
        self, events: list[dict[str, Any]], body: dict[str, Any], choices: list[GenChoice], prompt: int
    ) -> list[dict[str, Any]]:
        out = [e for e in events if e["choices"]]
        produced = 0
        for k, e in enumerate(out):
            for c in e["choices"]:
                d = c["delta"]
                d.pop("refusal", None)
                if k > 0:
                    d.setdefault("role", "")
                if c["finish_reason"] is None:
                    c["finish_reason"] = ""
                produced += count_tokens((d.get("content") or "") + (d.get("reasoning") or ""))
                for t in d.get("tool_calls") or ():
                    produced += count_tokens(t["function"].get("arguments") or "")
            if k == len(out) - 1:
                produced = sum(c.completion_tokens for c in choices)
            e["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": produced,
                "total_tokens": prompt + produced,
                "cached_tokens": 0,
            }
        return out


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    return StepFunEmulator(options).app()
