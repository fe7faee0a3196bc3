"""Emulator of MiniMax's native ``chatcompletion_v2`` API (and ``embo-01`` embeddings).

Paths (account base ``ROOT/v1``): ``POST /v1/text/chatcompletion_v2``, ``POST /v1/embeddings``.
Auth ``Authorization: Bearer <key>`` (``options.credential``, several separated by commas; default
``minimax-emulator-key``). As MiniMax does, errors come with **HTTP 200** and a ``base_resp`` whose
``status_code`` is not 0: a wrong key → 1004, invalid parameters (temperature or top_p outside (0, 1],
unknown fields such as ``n``) → 2013, unknown model → 2013 naming the model.

Answers: OpenAI-like plus ``input_sensitive`` / ``output_sensitive``, ``name`` on the message and
``base_resp``. MiniMax-M1 answers reasoning in ``reasoning_content``; MiniMax-M2 inline as a leading
``<think>…</think>`` block in ``content``. Streams: ``data: {json}`` chunks with ``delta``; the last one
has ``finish_reason``, ``usage`` and the whole ``message`` again; no ``[DONE]`` [UNCERTAIN].

Scenarios in MiniMax's vocabulary (all HTTP 200): ``rate_limited`` → 1002; ``bad_key`` → 1004;
``insufficient_quota`` → 1008; ``filtered`` → 1026 (input sensitive); ``filtered_midway`` → partial text,
then a frame with ``output_sensitive: true`` and base_resp 1027; ``server_error`` → 1000 (HTTP 200);
``overloaded`` → HTTP 503; ``cut_stream``, ``slow_first_byte``, ``hang``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from ._asgi import CutStream, EmulatorApp, EmulatorOptions, Request, Response, json_response, stream_response
from ._engine import (
    GenChoice,
    GenRequest,
    ToolDef,
    count_tokens,
    detect_scenario,
    embed,
    generate,
    split_for_stream,
)

__all__ = ["DEFAULT_KEY", "MODELS", "create_app"]

DEFAULT_KEY = "minimax-emulator-key"
MODELS = {"MiniMax-M2": "think-inline", "MiniMax-M1": "reasoning", "MiniMax-Text-01": "text"}
KNOWN = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "mask_sensitive_info",
        "response_format",
    }
)


def _base(code: int = 0, msg: str = "") -> dict[str, Any]:
    return {"status_code": code, "status_msg": msg or ("success" if code == 0 else "error")}


def _fail(code: int, msg: str, status: int = 200) -> Response:
    return json_response({"id": "", "choices": None, "base_resp": _base(code, msg)}, status)


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    opts = options or EmulatorOptions()
    keys = {k.strip() for k in (opts.credential or DEFAULT_KEY).split(",") if k.strip()}
    app = EmulatorApp("minimax", opts)
    counter = {"n": 0}

    def rid() -> str:
        counter["n"] += 1
        return hashlib.md5(f"minimax{counter['n']}{time.time()}".encode()).hexdigest()

    def auth(req: Request) -> Response | None:
        h = req.header("authorization") or ""
        if not h.startswith("Bearer ") or h[7:].strip() not in keys:
            return _fail(1004, "login fail: Please carry the API secret key in the 'Authorization' field")
        return None

    def scenario_error(scn: str | None) -> Response | None:
        table = {
            "rate_limited": (1002, "rate limit exceeded(RPM)"),
            "bad_key": (1004, "login fail: Please carry the API secret key in the 'Authorization' field"),
            "insufficient_quota": (1008, "insufficient balance"),
            "filtered": (1026, "input new_sensitive"),
            "server_error": (1000, "unknown error"),
        }
        if scn == "overloaded":
            return _fail(1000, "service overloaded, please try again later", 503)
        if scn in table:
            return _fail(*table[scn])
        return None

    @app.route("POST", "/v1/text/chatcompletion_v2")
    async def chat(req: Request) -> Response:
        if (e := auth(req)) is not None:
            return e
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return _fail(2013, "invalid params, body is not json")
        for k in body:
            if k not in KNOWN:
                return _fail(2013, f"invalid params, unknown field: {k}")
        model = body.get("model")
        if model not in MODELS:
            return _fail(2013, f"invalid params, unknown model: {model}")
        for k in ("temperature", "top_p"):
            v = body.get(k)
            if v is not None and not (isinstance(v, int | float) and 0 < v <= 1):
                return _fail(2013, f"invalid params, {k} must be in (0, 1]")
        msgs: list[tuple[str, str]] = []
        for m in body.get("messages") or ():
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
                return _fail(2013, "invalid params, invalid message role")
            c = m.get("content")
            text = (
                c
                if isinstance(c, str)
                else "".join(str(p.get("text") or "") for p in c or () if isinstance(p, dict))
            )
            for t in m.get("tool_calls") or ():
                text += str((t.get("function") or {}).get("arguments") or "")
            msgs.append((m["role"], text))
        if not msgs:
            return _fail(2013, "invalid params, messages is empty")
        tools = [
            ToolDef(
                t["function"]["name"],
                t["function"].get("description") or "",
                t["function"].get("parameters") or {},
            )
            for t in body.get("tools") or ()
            if isinstance(t, dict) and isinstance(t.get("function"), dict)
        ]
        kind = MODELS[model]
        g = GenRequest(
            messages=msgs,
            max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
            tools=tools,
            tool_choice=body.get("tool_choice") if isinstance(body.get("tool_choice"), str) else None,
            reasoning=kind != "text",
        )
        scn, arg = detect_scenario([t for _, t in msgs], req.header("x-emulator-scenario"), opts.scenario)
        if (r := scenario_error(scn)) is not None:
            return r
        c = generate(g)[0]
        if kind == "think-inline" and c.reasoning:
            c.text, c.reasoning = f"<think>\n{c.reasoning}\n</think>\n\n{c.text}", None
        delay = (
            3600.0 if scn == "hang" else (arg or opts.slow_first_byte if scn == "slow_first_byte" else 0.0)
        )
        rid_ = rid()
        prompt = g.prompt_tokens
        if not body.get("stream"):
            if scn == "filtered_midway":
                c.text, c.finish = c.text[: len(c.text) // 2], "stop"
            resp = json_response(_answer(rid_, model, c, prompt, scn == "filtered_midway"))
            resp.delay = delay
            return resp
        return stream_response(_events(rid_, model, c, prompt, delay, scn), content_type="text/event-stream")

    def _message(c: GenChoice, rid_: str) -> dict[str, Any]:
        m: dict[str, Any] = {"role": "assistant", "name": "MiniMax AI", "content": c.text}
        if c.reasoning:
            m["reasoning_content"] = c.reasoning
        if c.tool_calls:
            m["tool_calls"] = [
                {
                    "id": "call_function_" + hashlib.md5(f"{rid_}{j}".encode()).hexdigest()[:12],
                    "type": "function",
                    "function": {"name": n, "arguments": a},
                }
                for j, (n, a) in enumerate(c.tool_calls)
            ]
        return m

    def _usage(prompt: int, c: GenChoice) -> dict[str, Any]:
        u: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": c.completion_tokens,
            "total_tokens": prompt + c.completion_tokens,
            "total_characters": 0,
        }
        if c.reasoning:
            u["completion_tokens_details"] = {"reasoning_tokens": count_tokens(c.reasoning)}
        return u

    def _answer(rid_: str, model: str, c: GenChoice, prompt: int, out_sensitive: bool) -> dict[str, Any]:
        return {
            "id": rid_,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "finish_reason": c.finish, "message": _message(c, rid_)}],
            "usage": _usage(prompt, c),
            "input_sensitive": False,
            "output_sensitive": out_sensitive,
            "input_sensitive_type": 0,
            "output_sensitive_type": 5 if out_sensitive else 0,
            "base_resp": _base(),
        }

    async def _events(
        rid_: str, model: str, c: GenChoice, prompt: int, delay: float, scn: str | None
    ) -> AsyncIterator[bytes]:
        if delay:
            await asyncio.sleep(delay)
        created = int(time.time())
        deltas: list[dict[str, Any]] = [
            {"role": "assistant", "reasoning_content": p} for p in split_for_stream(c.reasoning or "")
        ]
        deltas += [{"role": "assistant", "content": p} for p in split_for_stream(c.text)]
        msg = _message(c, rid_)
        if c.tool_calls:
            deltas.append({"role": "assistant", "tool_calls": msg["tool_calls"]})
        if scn == "filtered_midway":
            deltas = deltas[: max(1, len(deltas) // 2)]
        cut = len(deltas) // 2 if scn == "cut_stream" else -1
        for j, d in enumerate(deltas):
            if j == cut:
                raise CutStream()
            chunk = {
                "id": rid_,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": d}],
                "input_sensitive": False,
                "output_sensitive": False,
                "input_sensitive_type": 0,
                "output_sensitive_type": 0,
            }
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
        if scn == "filtered_midway":
            final: dict[str, Any] = {
                "id": rid_,
                "choices": None,
                "output_sensitive": True,
                "output_sensitive_type": 5,
                "base_resp": _base(1027, "output new_sensitive"),
            }
            yield b"data: " + orjson.dumps(final) + b"\n\n"
            return
        final = {
            "id": rid_,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "finish_reason": c.finish, "message": msg}],
            "usage": _usage(prompt, c),
            "input_sensitive": False,
            "output_sensitive": False,
            "input_sensitive_type": 0,
            "output_sensitive_type": 0,
            "base_resp": _base(),
        }
        yield b"data: " + orjson.dumps(final) + b"\n\n"

    @app.route("POST", "/v1/embeddings")
    async def embeddings(req: Request) -> Response:
        if (e := auth(req)) is not None:
            return e
        body = req.json() if req.body else None
        if not isinstance(body, dict) or body.get("model") != "embo-01":
            return _fail(2013, f"invalid params, unknown model: {(body or {}).get('model')}")
        texts = body.get("texts")
        if body.get("type") not in ("db", "query"):
            return _fail(2013, "invalid params, type must be db or query")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            return _fail(2013, "invalid params, texts must be a non-empty array of strings")
        if len(texts) > 32:
            return _fail(2013, "invalid params, too many texts (at most 32)")
        scn, _ = detect_scenario(texts, req.header("x-emulator-scenario"), opts.scenario)
        if (r := scenario_error(scn)) is not None:
            return r
        tokens = sum(max(count_tokens(t), 1) for t in texts)
        return json_response(
            {"vectors": [embed(t, 1536) for t in texts], "total_tokens": tokens, "base_resp": _base()}
        )

    return app
