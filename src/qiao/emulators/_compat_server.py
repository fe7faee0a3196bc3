"""A configurable OpenAI-shaped server: the skeleton the vLLM, SGLang, llama.cpp, Xinference, Ollama ``/v1``,
OpenAI and Azure emulators share.

Each of those emulators is a :class:`Flavour` — how it checks auth, which models it serves, the name of its
reasoning field, where it puts usage in a stream, the shape of its errors (and of errors inside a stream),
extra fields on its chunks — plus the routes it mounts. Requests are turned into the shared engine's
:class:`~qiao.emulators._engine.GenRequest` with :func:`~qiao.emulators.openai_compat.gen_request`, so
answers, tools, JSON mode and fault scenarios behave the same in every emulator.

Error *kinds* (``bad_request``, ``auth``, ``not_found``, ``context``, ``rate_limit``, ``quota``,
``filter``, ``server``, ``overloaded``, ``not_supported``) are rendered by the flavour in the vendor's own
vocabulary; a fault scenario whose kind the vendor does not have (a content filter on a self-hosted
server) is ignored, as the real server would never produce it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from ._asgi import CutStream, EmulatorOptions, Request, Response, json_response, stream_response
from ._engine import GenChoice, count_tokens, detect_scenario, embed, generate, split_for_stream
from .openai_compat import gen_request

__all__ = ["NO_ERROR", "CompatServer", "ErrorFn", "Flavour", "bearer_auth", "default_message"]

ErrorFn = Callable[[str, str, str | None], Response]
"""(kind, message, param) → the vendor's error response."""

_SCENARIO_KIND = {
    "rate_limited": "rate_limit",
    "bad_key": "auth",
    "filtered": "filter",
    "server_error": "server",
    "overloaded": "overloaded",
    "insufficient_quota": "quota",
}

_MESSAGES = {
    "rate_limit": "Rate limit reached for requests",
    "auth": "Incorrect API key provided.",
    "filter": "The prompt was filtered due to triggering the content management policy.",
    "server": "The server had an error while processing your request.",
    "overloaded": "The server is currently overloaded, please try again later.",
    "quota": "You exceeded your current quota, please check your plan and billing details.",
}


def default_message(kind: str) -> str:
    return _MESSAGES.get(kind, kind)


def bearer_auth(expected: str | None, reject: Callable[[], Response]) -> Callable[[Request], Response | None]:
    """A server started with ``--api-key``: ``Authorization: Bearer <key>`` or ``reject()``."""

    def check(req: Request) -> Response | None:
        if not expected:
            return None
        if (req.header("authorization") or "") != f"Bearer {expected}":
            return reject()
        return None

    return check


def _reasoning_by_name(model: str) -> bool:
    low = model.lower()
    return any(k in low for k in ("r1", "qwq", "think", "qwen3"))


def _embedding_by_name(model: str) -> bool:
    low = model.lower()
    return any(k in low for k in ("embed", "bge", "e5-", "gte-"))


@dataclass
class Flavour:
    name: str
    error: ErrorFn
    auth: Callable[[Request], Response | None]
    served: tuple[str, ...] | None = None
    """Model names served (others → ``not_found``); None = any name (llama.cpp)."""
    reasoning_field: str | None = "reasoning_content"
    """Where reasoning text goes; None = not returned at all (OpenAI), only counted."""
    is_reasoning: Callable[[str], bool] = _reasoning_by_name
    is_embedding: Callable[[str], bool] = _embedding_by_name
    context: int = 32_768
    usage_mode: Literal["include_usage", "finish_chunk", "never"] = "include_usage"
    fingerprint: str | None = None
    stream_error: Callable[[str, str], dict[str, Any]] | None = None
    """(kind, message) → the object of a mid-stream error frame (default: ``{"error": {...}}``)."""
    done_after_error: bool = False
    ping: bool = False
    tools_whole: bool = False
    """Tool calls in one delta (Ollama) instead of name first, then argument fragments."""
    known_params: frozenset[str] | None = None
    """Top-level fields accepted (others → 400); None = unknown fields ignored (vLLM, SGLang…)."""
    validate: Callable[[dict[str, Any], str], Response | None] | None = None
    choice_extra: Callable[[GenChoice], dict[str, Any]] | None = None
    finish_chunk_extra: Callable[[int, int], dict[str, Any]] | None = None
    head_chunks: Callable[[str], list[dict[str, Any]]] | None = None
    """Chunks sent before the first choice (Azure's ``prompt_filter_results`` chunk)."""
    id_prefix: str = "chatcmpl-"
    filter_chunks: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None
    """``filtered_midway`` as chunks (Azure: ``finish_reason: content_filter``) instead of an error frame."""
    embeddings_error: Callable[[str], Response | None] | None = None
    models_extra: dict[str, Any] = field(default_factory=dict)
    embedding_dim: Callable[[str], int] = lambda model: 1024
    """The native dimension of an embedding model (``dimensions`` in a request shortens it)."""


def _usage(prompt: int, choices: list[GenChoice]) -> dict[str, Any]:
    completion = sum(c.completion_tokens for c in choices)
    reasoning = sum(count_tokens(c.reasoning or "") for c in choices)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def _call_id(name: str, args: str, i: int) -> str:
    return "call_" + hashlib.sha256(f"{name}{args}{i}".encode()).hexdigest()[:24]


class CompatServer:
    """The handlers; an emulator module mounts them on its own paths."""

    def __init__(self, flavour: Flavour, options: EmulatorOptions) -> None:
        self.f = flavour
        self.opts = options
        self.counter = 0

    # ---- helpers ----------------------------------------------------------------------------------------
    def _check_body(self, body: Any) -> Response | None:
        f = self.f
        if not isinstance(body, dict):
            return f.error("bad_request", "We could not parse the JSON body of your request.", None)
        if f.known_params is not None:
            for k in body:
                if k not in f.known_params:
                    return f.error("bad_request", f"Unrecognized request argument supplied: {k}", k)
        if not isinstance(body.get("model"), str) or not body["model"]:
            return f.error("bad_request", "you must provide a model parameter", "model")
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return f.error("bad_request", "'messages' must be a non-empty array", "messages")
        t = body.get("temperature")
        if t is not None and not (isinstance(t, int | float) and 0 <= t <= 2):
            return f.error("bad_request", f"{t} is not a valid temperature (0 to 2)", "temperature")
        return None

    def _model_error(self, model: str) -> Response | None:
        if self.f.served is not None and model not in self.f.served:
            return self.f.error("not_found", f"The model `{model}` does not exist.", "model")
        return None

    def scenario(self, req: Request, texts: list[str]) -> tuple[str | None, float, Response | None]:
        scn, arg = detect_scenario(texts, req.header("x-emulator-scenario"), self.opts.scenario)
        kind = _SCENARIO_KIND.get(scn or "")
        if kind is None:
            return scn, arg, None
        r = self.f.error(kind, default_message(kind), None)
        return scn, arg, (None if r.status == 0 else r)

    # ---- chat -------------------------------------------------------------------------------------------
    async def chat(self, req: Request, model: str | None = None) -> Response:
        f = self.f
        if (e := f.auth(req)) is not None:
            return e
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict) and model is not None:
            body = {**body, "model": model}
        if (bad := self._check_body(body)) is not None:
            return bad
        name = body["model"]
        if (bad := self._model_error(name)) is not None:
            return bad
        if f.is_embedding(name):
            return f.error(
                "bad_request", f"The model `{name}` does not support Chat Completions API", "model"
            )
        if f.validate is not None and (bad := f.validate(body, name)) is not None:
            return bad
        g = gen_request(body, reasoning=f.is_reasoning(name))
        scn, arg, fault = self.scenario(req, [t for _, t in g.messages])
        if fault is not None:
            return fault
        prompt = g.prompt_tokens
        limit = g.max_tokens or 0
        if prompt + limit > f.context:
            return f.error(
                "context",
                f"This model's maximum context length is {f.context} tokens. However, you requested "
                f"{prompt + limit} tokens ({prompt} in the messages, {limit} in the completion). "
                "Please reduce the length of the messages or completion.",
                "messages",
            )
        self.counter += 1
        rid = f"{f.id_prefix}emu{self.counter:06d}"
        choices = generate(g)
        delay = (arg or self.opts.slow_first_byte) if scn == "slow_first_byte" else 0.0
        if scn == "hang":
            delay = 3600.0
        if not body.get("stream"):
            resp = json_response(self.completion(choices, name, prompt, rid))
            resp.delay = delay
            return resp
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = self.chunks(choices, name, prompt, rid, include_usage)
        return stream_response(self._sse(events, delay, scn))

    def completion(self, choices: list[GenChoice], model: str, prompt: int, rid: str) -> dict[str, Any]:
        f = self.f
        out = []
        for i, c in enumerate(choices):
            msg: dict[str, Any] = {"role": "assistant", "content": c.text if not c.tool_calls else None}
            if f.reasoning_field and c.reasoning is not None:
                msg[f.reasoning_field] = c.reasoning
            if c.tool_calls:
                msg["tool_calls"] = [
                    {"id": _call_id(n, a, j), "type": "function", "function": {"name": n, "arguments": a}}
                    for j, (n, a) in enumerate(c.tool_calls)
                ]
            ch: dict[str, Any] = {"index": i, "message": msg, "logprobs": None, "finish_reason": c.finish}
            if f.choice_extra is not None:
                ch.update(f.choice_extra(c))
            out.append(ch)
        body: dict[str, Any] = {
            "id": rid,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": out,
            "usage": _usage(prompt, choices),
        }
        if f.fingerprint:
            body["system_fingerprint"] = f.fingerprint
        return body

    def chunks(
        self, choices: list[GenChoice], model: str, prompt: int, rid: str, include_usage: bool
    ) -> list[dict[str, Any]]:
        f = self.f
        created = int(time.time())
        usage_chunk = f.usage_mode == "include_usage" and include_usage

        def chunk(chs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            c: dict[str, Any] = {
                "id": rid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": chs,
            }
            if f.fingerprint:
                c["system_fingerprint"] = f.fingerprint
            if usage_chunk:
                c["usage"] = None
            c.update(extra)
            return c

        def delta(i: int, d: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"index": i, "delta": d, "logprobs": None, "finish_reason": finish}

        out = list(f.head_chunks(model)) if f.head_chunks is not None else []
        for i, c in enumerate(choices):
            out.append(chunk([delta(i, {"role": "assistant", "content": ""})]))
            if c.reasoning and f.reasoning_field:
                for piece in split_for_stream(c.reasoning):
                    out.append(chunk([delta(i, {f.reasoning_field: piece})]))
            for j, (name, args) in enumerate(c.tool_calls):
                head = {"index": j, "id": _call_id(name, args, j), "type": "function"}
                if f.tools_whole:
                    tc = {**head, "function": {"name": name, "arguments": args}}
                    out.append(chunk([delta(i, {"tool_calls": [tc]})]))
                    continue
                tc = {**head, "function": {"name": name, "arguments": ""}}
                out.append(chunk([delta(i, {"tool_calls": [tc]})]))
                for piece in split_for_stream(args, 4):
                    out.append(
                        chunk([delta(i, {"tool_calls": [{"index": j, "function": {"arguments": piece}}]})])
                    )
            for piece in split_for_stream(c.text):
                out.append(chunk([delta(i, {"content": piece})]))
            fin = delta(i, {}, c.finish)
            if f.choice_extra is not None:
                fin.update(f.choice_extra(c))
            extra: dict[str, Any] = {}
            if f.usage_mode == "finish_chunk" and i == len(choices) - 1:
                extra["usage"] = _usage(prompt, choices)
                if f.finish_chunk_extra is not None:
                    extra.update(f.finish_chunk_extra(prompt, extra["usage"]["completion_tokens"]))
            out.append(chunk([fin], **extra))
        if usage_chunk:
            out.append(chunk([], usage=_usage(prompt, choices)))
        return out

    async def _sse(self, events: list[dict[str, Any]], delay: float, scn: str | None) -> AsyncIterator[bytes]:
        f = self.f
        if f.ping:
            yield b": ping - 2026-11-25 08:00:00.000000\r\n\r\n"
        if delay:
            await asyncio.sleep(delay)
        cut = len(events) // 2 if scn in ("cut_stream", "filtered_midway") else -1
        for i, ev in enumerate(events):
            if i == cut:
                if scn == "filtered_midway":
                    frame = self.midway_filter(ev)
                    if frame is not None:
                        yield frame
                        return
                else:
                    raise CutStream()
            yield b"data: " + orjson.dumps(ev) + b"\n\n"
        yield b"data: [DONE]\n\n"

    def midway_filter(self, ev: dict[str, Any]) -> bytes | None:
        """``filtered_midway``: the vendor's mid-stream error frame (None: the vendor has no filter)."""
        f = self.f
        if f.filter_chunks is not None:
            evs = f.filter_chunks(ev)
            return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in evs) + b"data: [DONE]\n\n"
        r = f.error("filter", "x", None)
        if r.status == 0:
            return None
        msg = "Output data may contain inappropriate content."
        obj = (
            f.stream_error("filter", msg)
            if f.stream_error is not None
            else {"error": {"message": msg, "type": "invalid_request_error", "code": "content_filter"}}
        )
        frame = b"data: " + orjson.dumps(obj) + b"\n\n"
        if f.done_after_error:
            frame += b"data: [DONE]\n\n"
        return frame

    # ---- embeddings and models -------------------------------------------------------------------------
    async def embeddings(self, req: Request, model: str | None = None) -> Response:
        f = self.f
        if (e := f.auth(req)) is not None:
            return e
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return f.error("bad_request", "We could not parse the JSON body of your request.", None)
        name = model or body.get("model") or ""
        if (bad := self._model_error(name)) is not None:
            return bad
        if f.embeddings_error is not None and (bad := f.embeddings_error(name)) is not None:
            return bad
        if not f.is_embedding(name):
            return f.error("bad_request", f"The model `{name}` does not support Embeddings API", "model")
        inp = body.get("input")
        inputs = [inp] if isinstance(inp, str) else list(inp or [])
        if not inputs:
            return f.error("bad_request", "'input' must not be empty", "input")
        dim = int(body.get("dimensions") or f.embedding_dim(name))
        data = []
        tokens = 0
        for i, text in enumerate(inputs):
            s = text if isinstance(text, str) else " ".join(map(str, text))
            vec = embed(s, dim)
            tokens += max(1, count_tokens(s))
            emb: Any = vec
            if body.get("encoding_format") == "base64":
                emb = base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        return json_response(
            {
                "object": "list",
                "data": data,
                "model": name,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def models(self, req: Request) -> Response:
        if (e := self.f.auth(req)) is not None:
            return e
        names = self.f.served or ()
        return json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": m,
                        "object": "model",
                        "created": 1732500000,
                        "owned_by": self.f.name,
                        **self.f.models_extra,
                    }
                    for m in names
                ],
            }
        )


NO_ERROR = Response(0)
"""Returned by a flavour's error function for a kind the vendor never produces."""
