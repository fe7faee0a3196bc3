"""Emulator of DeepSeek's API (others.md §3, state 2026-11-25).

* ``POST /chat/completions`` and ``/v1/chat/completions`` (the ``v1`` is optional at DeepSeek),
  ``GET /models``; ``Authorization: Bearer sk-…``.
* Models ``deepseek-v4-flash`` and ``deepseek-v4-pro``; the retired ``deepseek-chat`` /
  ``deepseek-reasoner`` answer 400 ``Model Not Exist``.
* Thinking is on by default (``thinking: {"type": "disabled"}`` turns it off); reasoning comes in
  ``reasoning_content`` (message and delta, with ``content: null`` in reasoning deltas).
* In thinking mode every assistant message with ``tool_calls`` must carry its ``reasoning_content`` back,
  otherwise 400 ``The reasoning_content in the thinking mode must be passed back to the API.``
* While "queued" the server writes ``: keep-alive`` comment lines before a stream and blank lines before
  a JSON body; a stream's usage rides on its last chunk (with ``prompt_cache_hit_tokens`` /
  ``prompt_cache_miss_tokens``), whether or not ``include_usage`` was asked.
* Errors: ``{"error": {"message", "type", "param", "code"}}``; 402 ``Insufficient Balance``; input
  moderation is 400 ``Content Exists Risk``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ._asgi import EmulatorApp, EmulatorOptions, Response
from ._cn_compat import CompatEmulator, EmuModel, ScenarioError
from ._engine import GenChoice

__all__ = ["DEFAULT_CREDENTIAL", "DeepSeekEmulator", "create_app"]

DEFAULT_CREDENTIAL = "sk-emulator-deepseek"


class DeepSeekEmulator(CompatEmulator):
    name = "deepseek"
    prefixes = ("", "/v1")
    default_credential = DEFAULT_CREDENTIAL
    models: ClassVar[dict[str, EmuModel]] = {
        "deepseek-v4-flash": EmuModel(1_000_000, reasoning=True),
        "deepseek-v4-pro": EmuModel(1_000_000, reasoning=True),
    }
    bad_key = ScenarioError(
        401, "Authentication Fails, Your api key is invalid", "authentication_error", "invalid_request_error"
    )
    scenarios: ClassVar[dict[str, ScenarioError]] = {
        "rate_limited": ScenarioError(429, "Rate Limit Reached", "rate_limit_error", "rate_limit_exceeded"),
        "insufficient_quota": ScenarioError(
            402, "Insufficient Balance", "unknown_error", "invalid_request_error"
        ),
        "filtered": ScenarioError(
            400, "Content Exists Risk", "invalid_request_error", "invalid_request_error"
        ),
        "server_error": ScenarioError(500, "Server Error", "server_error", "server_error"),
        "overloaded": ScenarioError(503, "Server Overloaded", "server_error", "server_overloaded"),
    }

    def model_not_found(self, model: str) -> Response:
        return self.error(400, "Model Not Exist", "invalid_request_error", "invalid_request_error")

    def thinks(self, body: dict[str, Any], info: EmuModel) -> bool:
        t = body.get("thinking") or {}
        return bool(t.get("type", "enabled") != "disabled")

    def validate(self, body: dict[str, Any], info: EmuModel) -> Response | None:
        t = body.get("thinking")
        if t is not None and (not isinstance(t, dict) or t.get("type") not in ("enabled", "disabled")):
            return self.error(
                400,
                "thinking.type must be 'enabled' or 'disabled'",
                "invalid_request_error",
                None,
                "thinking",
            )
        effort = body.get("reasoning_effort")
        if effort is not None and effort not in ("low", "medium", "high", "xhigh", "max"):
            return self.error(400, f"invalid reasoning_effort: {effort}", "invalid_request_error")
        if self.thinks(body, info):
            for m in body["messages"]:
                if (
                    m.get("role") == "assistant"
                    and m.get("tool_calls")
                    and m.get("reasoning_content") is None
                ):
                    return self.error(
                        400,
                        "The reasoning_content in the thinking mode must be passed back to the API.",
                        "invalid_request_error",
                        "invalid_request_error",
                    )
        return None

    def body_prefix(self) -> bytes:
        return b"\n\n"  # blank lines written while the request waited in the queue

    def stream_prelude(self) -> list[bytes]:
        return [b": keep-alive\n\n", b": keep-alive\n\n"]

    @staticmethod
    def _usage(prompt: int, choices: list[GenChoice]) -> dict[str, Any]:
        completion = sum(c.completion_tokens for c in choices)
        reasoning = sum(len(c.reasoning or "") // 2 for c in choices)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
            "prompt_cache_hit_tokens": 0,
            "prompt_cache_miss_tokens": prompt,
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }

    def shape_completion(self, out: dict[str, Any], body: dict[str, Any], choices: list[GenChoice]) -> None:
        out["usage"] = self._usage(out["usage"]["prompt_tokens"], choices)
        out.pop("system_fingerprint", None)
        for c in out["choices"]:
            c["message"].pop("refusal", None)

    def shape_chunks(
        self, events: list[dict[str, Any]], body: dict[str, Any], choices: list[GenChoice], prompt: int
    ) -> list[dict[str, Any]]:
        out = [e for e in events if e["choices"]]
        for e in out:
            e.pop("usage", None)
            e.pop("system_fingerprint", None)
            for c in e["choices"]:
                d = c["delta"]
                d.pop("refusal", None)
                if "reasoning_content" in d:
                    d["content"] = None
        out[-1]["usage"] = self._usage(prompt, choices)
        return out


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    return DeepSeekEmulator(options).app()
