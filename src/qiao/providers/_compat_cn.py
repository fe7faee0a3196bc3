"""Shared base of the OpenAI-shaped Chinese vendors (deepseek, qwen, moonshot, ark, hunyuan, stepfun, yi).

:class:`CompatCN` is a small subclass of :class:`~qiao.providers.openai_compat.OpenAICompatible` that
adds what several of these vendors need and OpenAI does not do:

* **reasoning in one field**: the vendor's field (``reasoning_content``, StepFun's ``reasoning``) comes
  out as ``reasoning_content`` in messages and deltas; reasoning tokens go to
  ``usage.completion_tokens_details.reasoning_tokens``;
* **reasoning echo** (``echo_reasoning``): DeepSeek and Kimi require an assistant tool-call turn to carry
  its ``reasoning_content`` back in later requests. Clients that keep the field get it forwarded as sent;
  for clients that drop it, the provider remembers the reasoning of each tool call it returned (by tool
  call id, bounded, per process) and puts it back. ``strip_reasoning`` removes the field instead, for
  vendors that reject it;
* **usage anywhere**: top level, inside the choice (Kimi's ``choices[0].usage``), cumulative on every
  chunk (StepFun: the last value wins), with ``cached_tokens`` / ``prompt_cache_hit_tokens`` variants;
* **finish reasons**: ``""`` → null, plus a per-vendor map (``finish_map``);
* **errors by vendor code**: ``codes`` (exact ``code`` or ``type``) and ``code_prefixes`` tables are
  consulted before the generic OpenAI classification; ``context_markers`` / ``filter_markers`` in the
  message pick context overflow and content safety.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar

import orjson

from ..catalogue import ModelSpec
from ..errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextLengthExceeded,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
    provider_error,
)
from ..types import ChatChunk, ChatRequest, ChatResponse, ChunkChoice, Delta, ToolCallDelta, Usage
from .base import Call, SSEEvent, StreamState, WireResponse
from .openai_compat import OpenAICompatible, parse_usage

__all__ = ["CompatCN", "usage_from"]

_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "tool_calls",
    "sensitive": "content_filter",
}
MEMORY_SIZE = 4096


def usage_from(u: Any) -> Usage | None:
    """OpenAI usage, plus the vendors' cache fields (``prompt_cache_hit_tokens``, top-level
    ``cached_tokens``)."""
    usage = parse_usage(u)
    if usage is not None and not usage.cached_tokens:
        usage.cached_tokens = int(u.get("cached_tokens") or 0)
    return usage


class CompatCN(OpenAICompatible):
    """An OpenAI-shaped vendor with the quirks listed in the module docstring."""

    echo_reasoning: ClassVar[bool] = False
    strip_reasoning: ClassVar[bool] = False
    finish_map: ClassVar[dict[str, str]] = {}
    codes: ClassVar[dict[str, type[QiaoError]]] = {}
    code_prefixes: ClassVar[tuple[tuple[str, type[QiaoError]], ...]] = ()
    context_markers: ClassVar[tuple[str, ...]] = ()
    filter_markers: ClassVar[tuple[str, ...]] = ()
    hints: ClassVar[tuple[tuple[str, str], ...]] = ()
    """(substring of an upstream message, advice appended to qiao's error message)."""

    def __init__(self, models: tuple[ModelSpec, ...]) -> None:
        super().__init__(models=models)
        self._memory: OrderedDict[str, str] = OrderedDict()

    # ---- reasoning round trip -------------------------------------------------------------------------
    def remember(self, tool_call_ids: list[str], reasoning: str | None) -> None:
        if not self.echo_reasoning or not reasoning:
            return
        for tid in tool_call_ids:
            self._memory[tid] = reasoning
            self._memory.move_to_end(tid)
        while len(self._memory) > MEMORY_SIZE:
            self._memory.popitem(last=False)

    def adjust_body(self, body: dict[str, Any], req: ChatRequest, call: Call) -> None:
        msgs = body.get("messages")
        if not isinstance(msgs, list):
            return
        if self.strip_reasoning:
            if any(isinstance(m, dict) and "reasoning_content" in m for m in msgs):
                body["messages"] = [
                    {k: v for k, v in m.items() if k != "reasoning_content"} if isinstance(m, dict) else m
                    for m in msgs
                ]
        elif self.echo_reasoning:
            out = []
            for m in msgs:
                if (
                    isinstance(m, dict)
                    and m.get("role") == "assistant"
                    and m.get("tool_calls")
                    and m.get("reasoning_content") is None
                ):
                    for t in m["tool_calls"]:
                        r = self._memory.get(str(t.get("id")))
                        if r is not None:
                            m = {**m, "reasoning_content": r}
                            break
                out.append(m)
            body["messages"] = out

    # ---- answers --------------------------------------------------------------------------------------
    def _finish(self, fr: Any) -> str | None:
        if not fr:
            return None
        fr = str(fr)
        return self.finish_map.get(fr) or _FINISH.get(fr, fr)

    def parse_chat(self, resp: WireResponse, req: ChatRequest, call: Call) -> ChatResponse:
        out = super().parse_chat(resp, req, call)
        try:
            data = orjson.loads(resp.body)
        except orjson.JSONDecodeError:  # pragma: no cover - super() already parsed it
            return out
        raw_choices = data.get("choices") or []
        for ch, raw in zip(out.choices, raw_choices, strict=False):
            ch.finish_reason = self._finish(raw.get("finish_reason")) or "stop"
            self.remember([t.id for t in ch.message.tool_calls], ch.message.reasoning_content)
        u = usage_from(data.get("usage"))
        if u is not None:
            out.usage = u
        return out

    def parse_event(self, event: SSEEvent, state: StreamState) -> list[ChatChunk]:
        data = event.data
        if data == "[DONE]":
            state.done = True
            return []
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise provider_error(
                UpstreamError, self.name, "malformed stream event", body=data.encode()
            ) from exc
        if not isinstance(obj, dict):
            raise provider_error(UpstreamError, self.name, "malformed stream event", body=data.encode())
        memo: dict[int, dict[str, Any]] = state.extra.setdefault("memo", {})
        if "error" in obj and not obj.get("choices"):
            err = self.classify_body(obj, 200, None, state.call)
            if isinstance(err, ContentFiltered) and memo:
                # Output moderation after part of the answer (Qwen's bare error frame): end every choice
                # cleanly with content_filter, whichever network read the frame arrived in.
                state.done = True
                return [ChatChunk([ChunkChoice(i, Delta(), "content_filter") for i in sorted(memo)])]
            raise err or provider_error(UpstreamError, self.name, "error in stream", body=data.encode())
        chunk = ChatChunk()
        for c in obj.get("choices") or ():
            idx = int(c.get("index") or 0)
            d = c.get("delta") or {}
            seen = memo.setdefault(idx, {"reasoning": [], "ids": []})
            tcd = None
            if d.get("tool_calls"):
                tcd = []
                for t in d["tool_calls"]:
                    fn = t.get("function") or {}
                    if t.get("id"):
                        seen["ids"].append(str(t["id"]))
                    tcd.append(
                        ToolCallDelta(
                            int(t.get("index") or 0), t.get("id") or None, fn.get("name"), fn.get("arguments")
                        )
                    )
            reasoning = d.get(self.reasoning_field)
            if reasoning is None and self.reasoning_field != "reasoning_content":
                reasoning = d.get("reasoning_content")
            if reasoning:
                seen["reasoning"].append(reasoning)
            fr = self._finish(c.get("finish_reason"))
            if fr and seen["ids"]:
                self.remember(seen["ids"], "".join(seen["reasoning"]))
            chunk.choices.append(
                ChunkChoice(idx, Delta(d.get("role") or None, d.get("content"), reasoning or None, tcd), fr)
            )
            if isinstance(c.get("usage"), dict):
                chunk.usage = usage_from(c["usage"])
        if isinstance(obj.get("usage"), dict):
            chunk.usage = usage_from(obj["usage"])
        return [chunk]

    # ---- errors ---------------------------------------------------------------------------------------
    def classify_body(self, obj: Any, status: int, resp: WireResponse | None, call: Call) -> QiaoError | None:
        err = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(err, dict):
            message = str(err.get("message") or "")
            code = str(err.get("code") or "")
            etype = str(err.get("type") or "")
            cls = self.codes.get(code) or self.codes.get(etype)
            if cls is None:
                for prefix, c in self.code_prefixes:
                    if code.startswith(prefix) or etype.startswith(prefix):
                        cls = c
                        break
            low = message.lower()
            if cls is None and any(m in low for m in self.context_markers):
                cls = ContextLengthExceeded
            if cls is None and any(m in low for m in self.filter_markers):
                cls = ContentFiltered
            for needle, advice in self.hints:
                if needle in low:
                    message = f"{message} ({advice})"
            if cls is not None:
                body = resp.body if resp is not None else None
                kw: dict[str, Any] = {
                    "vendor_code": code or etype or None,
                    "upstream_status": status,
                    "body": body,
                }
                if cls is AuthenticationFailed:
                    message = f"the upstream rejected the gateway's credential: {message}"
                if cls in (RateLimited, ServiceUnavailable):
                    kw["retry_after"] = _retry_after(resp)
                if cls is ContextLengthExceeded:
                    kw["param"] = "messages"
                return provider_error(cls, self.name, message, **kw)
            if self.hints and isinstance(obj, dict):
                obj = {**obj, "error": {**err, "message": message}}
        return super().classify_body(obj, status, resp, call)


def _retry_after(resp: WireResponse | None) -> float | None:
    if resp is None:
        return None
    v = resp.headers.get("retry-after")
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None
