"""Turns the chunks providers parse into OpenAI's exact stream, byte for byte.

Whatever the provider does, the client sees what OpenAI sends: a first chunk per choice with
``{"role": "assistant", "content": "", "refusal": null}``, content / reasoning / tool-call deltas, the
``finish_reason`` in a chunk whose delta is ``{}``, with ``stream_options.include_usage`` a ``"usage":
null`` on every chunk and a last chunk with ``"choices": []`` and the usage, then ``data: [DONE]``.
This module is the only place that writes SSE (STYLE.md §4.5).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import QiaoError
from ..types import ChatChoice, ChatChunk, ChatMessage, ChatResponse, ToolCall, ToolCallDelta, Usage

__all__ = ["DONE", "ChunkCollector", "StreamAssembler", "sse_error"]

DONE = b"data: [DONE]\n\n"
_CONTENT_HEAD = [b'{"index":%d,"delta":{"content":' % i for i in range(8)]
_CONTENT_TAIL = b'},"logprobs":null,"finish_reason":null}'
# The role and finish chunks' choice as orjson.dumps writes {"index": i, "delta": {...}, "logprobs": None,
# "finish_reason": ...}: written from bytes, no dict built and dumped (two calls fewer each).
_ROLE = b'{"index":%d,"delta":{"role":"assistant","content":"","refusal":null}' + _CONTENT_TAIL[1:]
_CLOSE = b'{"index":%d,"delta":{},"logprobs":null,"finish_reason":'
_ROLES = [_ROLE % i for i in range(8)]
_CLOSES = [_CLOSE % i for i in range(8)]
_HEAD_CHUNK = b',"object":"chat.completion.chunk","created":'
_HEAD_END: dict[str, bytes] = {}  # model -> the end of its chunks' head (StreamAssembler.__init__)
_REASONS = {r: orjson.dumps(r) + b"}" for r in ("stop", "length", "tool_calls", "content_filter")}


def sse_error(err: QiaoError) -> bytes:
    """A mid-stream error as OpenAI sends one (the SDK raises ``APIError`` on it)."""
    return b"data: " + orjson.dumps(err.to_openai()) + b"\n\n"


class StreamAssembler:
    __slots__ = (
        "_head",
        "_tail",
        "_role_sent",
        "finished",
        "usage",
        "texts",
        "include_usage",
        "legacy",
        "_tool_ids",
        "chunks_out",
        "reasoning_chars",
        "reasoning",
    )

    def __init__(
        self, chunk_id: str, created: int, model: str, include_usage: bool, legacy: bool = False
    ) -> None:
        # (the model's part kept per model: one orjson.dumps a stream fewer)
        end = _HEAD_END.get(model)
        if end is None:
            if len(_HEAD_END) >= 256:
                _HEAD_END.clear()
            end = _HEAD_END[model] = b',"model":' + orjson.dumps(model) + b',"choices":['
        self._head = (
            b'data: {"id":'
            + orjson.dumps(chunk_id)
            + (b',"object":"text_completion","created":' if legacy else _HEAD_CHUNK)
            + b"%d" % created
            + end
        )
        self._tail = b'],"usage":null}\n\n' if include_usage else b"]}\n\n"
        self.include_usage = include_usage
        self.legacy = legacy
        self._role_sent: set[int] = set()
        self.finished: dict[int, str] = {}
        self.usage: Usage | None = None
        self.texts: dict[int, list[str]] = {}
        self._tool_ids: dict[tuple[int, int], str] = {}
        self.chunks_out = 0
        self.reasoning_chars = 0
        self.reasoning: dict[int, list[str]] = {}

    def _emit(self, choice: dict[str, Any]) -> bytes:
        self.chunks_out += 1
        return self._head + orjson.dumps(choice) + self._tail

    def _delta(self, index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        if self.legacy:
            return self._emit(
                {"text": delta.get("content", ""), "index": index, "logprobs": None, "finish_reason": finish}
            )
        return self._emit({"index": index, "delta": delta, "logprobs": None, "finish_reason": finish})

    def _role(self, index: int) -> bytes:
        """The choice's first chunk (``role``), once; b"" after that, and always for legacy completions."""
        if index in self._role_sent:
            return b""
        self._role_sent.add(index)
        if self.legacy:
            return b""
        self.chunks_out += 1
        return self._head + (_ROLES[index] if 0 <= index < 8 else _ROLE % index) + self._tail

    def _close(self, index: int, reason: str) -> bytes:
        """The chunk that ends a choice: an empty delta with its ``finish_reason``."""
        self.finished[index] = reason
        if self.legacy:
            return self._delta(index, {}, reason)
        self.chunks_out += 1
        return (
            self._head
            + (_CLOSES[index] if 0 <= index < 8 else _CLOSE % index)
            + (_REASONS.get(reason) or orjson.dumps(reason) + b"}")
            + self._tail
        )

    def feed(self, chunk: ChatChunk) -> bytes:
        out: list[bytes] = []
        for c in chunk.choices:
            i = c.index
            if i in self.finished:
                continue
            if i not in self._role_sent:
                out.append(self._role(i))
            d = c.delta
            if d.reasoning_content:
                self.reasoning_chars += len(d.reasoning_content)
                self.reasoning.setdefault(i, []).append(d.reasoning_content)
                out.append(self._delta(i, {"reasoning_content": d.reasoning_content}))
            if d.content:
                out.append(self._content(i, d.content))
            if d.tool_calls:
                out.append(self._delta(i, {"tool_calls": [self._tool(i, t) for t in d.tool_calls]}))
            if c.finish_reason:
                out.append(self._close(i, c.finish_reason))
        if chunk.usage is not None:
            self.usage = chunk.usage
        return b"".join(out)

    def plain(self, index: int | None, text: str | None, finish: str | None, usage: Usage | None) -> bytes:
        """What :meth:`feed` writes for a chunk of at most one choice (``index`` None: none) whose delta
        has no reasoning and no tool calls, only ``text`` (or nothing) and the choice's ``finish``, without
        the chunk (openai_compat's ``ContentTemplate.take`` reads such events: role, content, finish,
        usage)."""
        out = b""
        if index is not None and index not in self.finished:
            if index not in self._role_sent:
                out = self._role(index)
            if text:
                out += self._content(index, text)
            if finish:
                out += self._close(index, finish)
        if usage is not None:
            self.usage = usage
        return out

    def content(self, index: int, text: str) -> bytes:
        """What :meth:`feed` writes for a chunk of one choice whose delta is only ``text`` (no role, no
        finish, no usage), without the chunk: the lean path for a provider's plain content events."""
        if index in self.finished:
            return b""
        out = self._role(index) if index not in self._role_sent else b""
        return out + self._content(index, text) if text else out

    def contents(self, index: int, texts: list[str], encoded: list[bytes] | None = None) -> bytes:
        """What :meth:`content` writes for each of ``texts`` in turn, in one join (a run of plain content
        events of one upstream read). ``encoded``, if given, holds each text as ``orjson.dumps`` writes it,
        without the quotes (the upstream's own bytes, when they are that): no re-encoding then."""
        if (
            index in self.finished
            or self.legacy
            or index not in self._role_sent
            or not 0 <= index < 8
            or "" in texts
        ):
            return b"".join([self.content(index, t) for t in texts])
        self.texts.setdefault(index, []).extend(texts)
        self.chunks_out += len(texts)
        head = self._head + _CONTENT_HEAD[index]
        tail = _CONTENT_TAIL + self._tail
        if encoded is None:
            dumps = orjson.dumps
            encoded = [dumps(t) for t in texts]
        else:
            head += b'"'
            tail = b'"' + tail
        # head, text, tail + head, text, …, tail: one join, no copies of the whole run
        parts = [tail + head] * (2 * len(encoded) + 1)
        parts[1::2] = encoded
        parts[0] = head
        parts[-1] = tail
        return b"".join(parts)

    def _content(self, i: int, text: str) -> bytes:
        self.texts.setdefault(i, []).append(text)
        if self.legacy:
            return self._delta(i, {"content": text})
        # the usual event: the same bytes as _delta renders, without the dict round trip
        self.chunks_out += 1
        return (
            self._head
            + (_CONTENT_HEAD[i] if 0 <= i < 8 else b'{"index":%d,"delta":{"content":' % i)
            + orjson.dumps(text)
            + _CONTENT_TAIL
            + self._tail
        )

    def _tool(self, choice: int, t: ToolCallDelta) -> dict[str, Any]:
        d = t.to_dict()
        key = (choice, t.index)
        if key not in self._tool_ids:
            # OpenAI sends id, type and name on a tool call's first delta: make sure there is an id.
            self._tool_ids[key] = t.id or f"call_{choice}_{t.index}"
            d["id"] = self._tool_ids[key]
            d["type"] = "function"
            d["function"].setdefault("arguments", "")
        self.texts.setdefault(choice, []).append((t.name or "") + (t.arguments or ""))
        return d

    def finish(self, usage: Usage | None, default_reason: str = "stop") -> bytes:
        """Close every open choice, then the usage chunk (if asked for), then ``[DONE]``."""
        out: list[bytes] = []
        # Every choice finished (0 included) is the usual case, and then nothing to close: ``finished``
        # only holds choices whose role was sent (each _close follows a _role), so equal sizes say it.
        if 0 not in self.finished or len(self.finished) != len(self._role_sent):
            for i in sorted(self._role_sent | {0}):
                if i not in self.finished:
                    out.append(self._role(i))
                    reason = "tool_calls" if any(k[0] == i for k in self._tool_ids) else default_reason
                    out.append(self._close(i, reason))
        if self.include_usage:
            u = usage or self.usage or Usage(estimated=True)
            self.chunks_out += 1
            out.append(
                self._head
                + b'],"usage":'
                + orjson.dumps(
                    u.to_dict()
                    if not self.legacy
                    else {
                        "prompt_tokens": u.prompt_tokens,
                        "completion_tokens": u.completion_tokens,
                        "total_tokens": u.total_tokens,
                    }
                )
                + b"}\n\n"
            )
        out.append(DONE)
        return b"".join(out)

    def all_finished(self) -> bool:
        return bool(self.finished) and self.finished.keys() >= self._role_sent

    def text_of(self, index: int = 0) -> str:
        return "".join(self.texts.get(index, ()))


class ChunkCollector:
    """The other direction: folds a provider's chunks into one :class:`ChatResponse` (for upstreams
    that only stream, such as iFlytek Spark's WebSocket, when the client asked for a plain answer)."""

    __slots__ = ("_content", "_reasoning", "_tools", "finished", "usage")

    def __init__(self) -> None:
        self._content: dict[int, list[str]] = {}
        self._reasoning: dict[int, list[str]] = {}
        self._tools: dict[int, dict[int, list[str]]] = {}  # choice → tool index → [id, name, arguments]
        self.finished: dict[int, str] = {}
        self.usage: Usage | None = None

    def feed(self, chunk: ChatChunk) -> None:
        for c in chunk.choices:
            i = c.index
            self._content.setdefault(i, [])
            d = c.delta
            if d.content:
                self._content[i].append(d.content)
            if d.reasoning_content:
                self._reasoning.setdefault(i, []).append(d.reasoning_content)
            for t in d.tool_calls or ():
                slot = self._tools.setdefault(i, {}).setdefault(t.index, ["", "", ""])
                slot[0] = slot[0] or t.id or ""
                slot[1] = slot[1] or t.name or ""
                slot[2] += t.arguments or ""
            if c.finish_reason and i not in self.finished:
                self.finished[i] = c.finish_reason
        if chunk.usage is not None:
            self.usage = chunk.usage

    def has_output(self) -> bool:
        return any(self._content.values()) or bool(self._tools) or bool(self._reasoning)

    def result(self, default_reason: str = "stop") -> ChatResponse:
        choices = []
        for i in sorted(self._content or {0: []}):
            tools = [
                ToolCall(v[0] or f"call_{i}_{k}", v[1], v[2])
                for k, v in sorted(self._tools.get(i, {}).items())
            ]
            text = "".join(self._content.get(i, ()))
            reason = self.finished.get(i) or ("tool_calls" if tools else default_reason)
            reasoning = "".join(self._reasoning[i]) if i in self._reasoning else None
            msg = ChatMessage(None if tools and not text else text, tools, reasoning)
            choices.append(ChatChoice(i, msg, reason))
        return ChatResponse(choices, self.usage or Usage(estimated=True))
