"""Emulator of Moonshot AI's Kimi API (others.md §4; China platform ``api.moonshot.cn/v1``).

* ``POST /v1/chat/completions``, ``GET /v1/models``; ``Authorization: Bearer sk-…``. No embeddings.
* ``temperature`` in [0, 1]; with ``temperature`` below 0.3, ``n`` must be 1.
* ``kimi-k2.6`` has fixed sampling: ``temperature`` 1 (thinking) / 0.6 (``thinking: {"type":
  "disabled"}``), ``top_p`` 0.95, ``n`` 1, penalties 0 — any other value is a 400. In thinking mode
  ``tool_choice: "required"`` is refused, and assistant tool-call turns must carry their
  ``reasoning_content`` back.
* Errors have ``type`` and ``message`` and **no** ``code``.
* ``moonshot-v1-*`` streams put the usage inside the finishing choice (``choices[0].usage``) and never
  as a separate chunk; ``kimi-k2.6`` follows ``include_usage``. Usage has a top-level ``cached_tokens``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ._asgi import EmulatorApp, EmulatorOptions, Response, json_response
from ._cn_compat import CompatEmulator, EmuModel, ScenarioError
from ._engine import GenChoice

__all__ = ["DEFAULT_CREDENTIAL", "MoonshotEmulator", "create_app"]

DEFAULT_CREDENTIAL = "sk-emulator-moonshot"
FIXED = {"temperature": None, "top_p": 0.95, "n": 1, "presence_penalty": 0, "frequency_penalty": 0}


class MoonshotEmulator(CompatEmulator):
    name = "moonshot"
    prefixes = ("/v1",)
    default_credential = DEFAULT_CREDENTIAL
    models: ClassVar[dict[str, EmuModel]] = {
        "kimi-k2.6": EmuModel(262_144, reasoning=True),
        "moonshot-v1-8k": EmuModel(8192),
        "moonshot-v1-32k": EmuModel(32_768),
        "moonshot-v1-128k": EmuModel(131_072),
    }
    temperature_max = 1.0
    n_max = 5
    bad_key = ScenarioError(401, "Invalid Authentication", "invalid_authentication_error", None)
    scenarios: ClassVar[dict[str, ScenarioError]] = {
        "rate_limited": ScenarioError(
            429,
            "Your account org-emulator request reached max request: 3, please try again after 1 seconds",
            "rate_limit_reached_error",
            None,
            "1",
        ),
        "insufficient_quota": ScenarioError(
            429,
            "Your account org-emulator is suspended, please check your plan and billing details",
            "exceeded_current_quota_error",
            None,
        ),
        "filtered": ScenarioError(
            400, "The request was rejected because it was considered high risk", "content_filter", None
        ),
        "server_error": ScenarioError(500, "unexpected output", "server_error", None),
        "overloaded": ScenarioError(
            429,
            "The engine is currently overloaded, please try again later",
            "engine_overloaded_error",
            None,
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
        return json_response(
            {"error": {"message": message, "type": type_ or "invalid_request_error"}}, status, headers
        )

    def model_not_found(self, model: str) -> Response:
        return self.error(
            404, f"Not found the model {model} or Permission denied", "resource_not_found_error"
        )

    def context_exceeded(self, limit: int, asked: int) -> Response:
        return self.error(
            400, f"Invalid request: Your request exceeded model token limit: {limit}", "invalid_request_error"
        )

    def thinks(self, body: dict[str, Any], info: EmuModel) -> bool:
        return info.reasoning and (body.get("thinking") or {}).get("type", "enabled") != "disabled"

    def validate(self, body: dict[str, Any], info: EmuModel) -> Response | None:
        t = body.get("temperature")
        n = body.get("n") or 1
        if t is not None and t < 0.3 and n > 1:
            return self.error(
                400, f"Invalid request: when temperature is {t}, n must be 1", "invalid_request_error"
            )
        if body["model"] != "kimi-k2.6":
            if "thinking" in body:
                return self.error(
                    400, "Invalid request: thinking is not supported by this model", "invalid_request_error"
                )
            return None
        thinking = self.thinks(body, info)
        fixed = dict(FIXED, temperature=1.0 if thinking else 0.6)
        for k, v in fixed.items():
            if k in body and body[k] != v:
                return self.error(
                    400, f"invalid {k}: only {v} is allowed for this model", "invalid_request_error"
                )
        if thinking:
            if body.get("tool_choice") == "required":
                return self.error(
                    400,
                    "Invalid request: tool_choice 'required' is not supported when thinking is enabled",
                    "invalid_request_error",
                )
            for m in body["messages"]:
                if (
                    m.get("role") == "assistant"
                    and m.get("tool_calls")
                    and m.get("reasoning_content") is None
                ):
                    return self.error(
                        400,
                        "Invalid request: reasoning_content is missing in assistant tool call message",
                        "invalid_request_error",
                    )
        return None

    @staticmethod
    def _usage(prompt: int, choices: list[GenChoice]) -> dict[str, Any]:
        completion = sum(c.completion_tokens for c in choices)
        out: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "cached_tokens": 0,
        }
        reasoning = sum(len(c.reasoning or "") // 2 for c in choices)
        if reasoning:
            out["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        return out

    def shape_completion(self, out: dict[str, Any], body: dict[str, Any], choices: list[GenChoice]) -> None:
        out["usage"] = self._usage(out["usage"]["prompt_tokens"], choices)
        out.pop("system_fingerprint", None)
        for c in out["choices"]:
            c["message"].pop("refusal", None)

    def shape_chunks(
        self, events: list[dict[str, Any]], body: dict[str, Any], choices: list[GenChoice], prompt: int
    ) -> list[dict[str, Any]]:
        for e in events:
            e.pop("system_fingerprint", None)
            for c in e["choices"]:
                c["delta"].pop("refusal", None)
        if body["model"].startswith("kimi-"):
            for e in events:
                if e.get("usage"):
                    e["usage"] = self._usage(prompt, choices)
            return events
        out = [e for e in events if e["choices"]]
        for e in out:
            e.pop("usage", None)
        last = out[-1]["choices"][0]
        last["usage"] = self._usage(prompt, choices)
        return out


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    return MoonshotEmulator(options).app()
