"""What self-hosted OpenAI-shaped servers (vLLM, SGLang, llama.cpp, Xinference, Ollama ``/v1``) share.

They speak OpenAI at ``<host>/v1`` but were not written by OpenAI (others.md §10):

* **No catalogue, usually no auth.** An account declares the models its server serves
  (``models: [...]``; each gets :func:`~qiao.providers.openai_compat.generic_spec`); the credential is
  optional and, when set, sent as ``Authorization: Bearer`` (the server's ``--api-key``).
* **Roles.** ``developer`` becomes ``system``: chat templates of open models know no ``developer`` role
  and some raise on it (a 400 or a 500 from Jinja).
* **Finish reasons** outside OpenAI's set (vLLM ``abort`` / ``repetition``, anything new) become ``stop``;
  a choice that carries tool calls but says ``stop`` (older Ollama, some tool parsers) says
  ``tool_calls``, as OpenAI would.
* **Usage in streams** is asked for with ``stream_options.include_usage`` where the server honours it
  (:attr:`stream_usage_supported`); elsewhere the gateway estimates it and marks it estimated. Usage found
  on any chunk (llama.cpp puts it on the finish chunk) is taken; the last value wins.
* **Reasoning** arrives under the server's own field name (:attr:`reasoning_field`, with
  ``reasoning_content`` as fallback) and leaves as ``reasoning_content``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from ..catalogue import ModelSpec
from ..types import ChatChunk, ChatRequest, ChatResponse
from .base import Call, SSEEvent, StreamState, WireResponse
from .openai_compat import OpenAICompatible, generic_spec

__all__ = ["OPENAI_FINISH", "SelfHosted", "normalise_finish"]

OPENAI_FINISH = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})


def normalise_finish(reason: str | None, has_tools: bool) -> str | None:
    """OpenAI's vocabulary only: unknown reasons → ``stop``; ``stop`` after tool calls → ``tool_calls``."""
    if reason is None:
        return None
    if reason == "function_call":
        return "tool_calls"
    if reason not in OPENAI_FINISH:
        reason = "stop"
    if reason == "stop" and has_tools:
        return "tool_calls"
    return reason


class SelfHosted(OpenAICompatible):
    """Base of the self-hosted servers' providers (a small subclass of :class:`OpenAICompatible`)."""

    credential_format = (
        "optional: the server's `--api-key` (sent as a Bearer token); omit it when the server has no auth"
    )
    demo_credential: ClassVar[str | None] = None
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {}
    translations: ClassVar[dict[str, str]] = {
        "*": "forwarded unchanged (only `model` is replaced by the served model name)",
        "messages[].role=developer": "sent as `system` (open models' chat templates know no developer role)",
        "finish_reason": "values outside OpenAI's set (vLLM `abort`, `repetition`) → `stop`",
    }

    def spec(self, model_id: str) -> ModelSpec | None:
        """Any model an account declares: the generic spec, saying honestly whether streams report usage
        (the migration planner reads ``caps.stream_usage``)."""
        s = generic_spec(model_id)
        if self.stream_usage_supported:
            return s
        return dataclasses.replace(s, caps=dataclasses.replace(s.caps, stream_usage=False))

    def adjust_body(self, body: dict[str, Any], req: ChatRequest, call: Call) -> None:
        if not self.stream_usage_supported:
            body.pop("stream_options", None)  # the client's own, forwarded as sent: the server lacks it
        msgs = body.get("messages")
        if isinstance(msgs, list) and any(isinstance(m, dict) and m.get("role") == "developer" for m in msgs):
            body["messages"] = [
                {**m, "role": "system"} if isinstance(m, dict) and m.get("role") == "developer" else m
                for m in msgs
            ]

    def parse_chat(self, resp: WireResponse, req: ChatRequest, call: Call) -> ChatResponse:
        out = super().parse_chat(resp, req, call)
        for c in out.choices:
            c.finish_reason = normalise_finish(c.finish_reason, bool(c.message.tool_calls)) or "stop"
        return out

    def parse_event(self, event: SSEEvent, state: StreamState) -> list[ChatChunk]:
        chunks = super().parse_event(event, state)
        tools: set[int] = state.extra.setdefault("tool_choices", set())
        for ch in chunks:
            for c in ch.choices:
                if c.delta.tool_calls:
                    tools.add(c.index)
                c.finish_reason = normalise_finish(c.finish_reason, c.index in tools)
        return chunks
