"""Emulator of iFlytek Spark's OpenAI-like HTTP API.

Paths (account base ``ROOT/v1``): ``POST /v1/chat/completions`` (lite, generalv3, pro-128k, generalv3.5,
max-32k, 4.0Ultra) and ``POST /v2/chat/completions`` (x1 only; other models there, or x1 on v1, → code
10404). Auth ``Authorization: Bearer <APIPassword>`` (``options.credential``: passwords or
``API_KEY:API_SECRET`` pairs, comma-separated; default ``spark-http-emulator-password``); a wrong one →
HTTP 401 ``{"error": {"message": "invalid user", "type": "api_error", ...}}`` as Spark answers.

Answers carry ``code`` / ``message`` / ``sid``; errors (bad parameters → 10005, unknown fields → 10163,
scenarios) come as **HTTP 200** with ``code != 0``. Streams: ``data:{json}`` lines (no space) without
``object`` / ``model``, no ``finish_reason`` until the last chunk, usage on the last chunk, then
``data: [DONE]``; a mid-stream error is a chunk with ``code != 0``.

Scenarios: ``rate_limited`` → 11202; ``insufficient_quota`` → 11201; ``bad_key`` → 401; ``filtered`` →
10013; ``filtered_midway`` → partial text then a 10014 chunk; ``server_error`` → 10012; ``overloaded`` →
10110; ``cut_stream``, ``slow_first_byte``, ``hang``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from ._asgi import CutStream, EmulatorApp, EmulatorOptions, Request, Response, json_response, stream_response
from ._engine import GenChoice, detect_scenario, generate, split_for_stream
from .openai_compat import gen_request

__all__ = ["DEFAULT_PASSWORD", "MODELS", "create_app"]

DEFAULT_PASSWORD = "spark-http-emulator-password"
MODELS: dict[str, tuple[bool, int]] = {  # model → (tools, max_tokens)
    "lite": (False, 4096),
    "generalv3": (False, 8192),
    "pro-128k": (False, 4096),
    "generalv3.5": (True, 8192),
    "max-32k": (True, 8192),
    "4.0Ultra": (True, 8192),
    "x1": (True, 32_768),
}
KNOWN = frozenset(
    {"model", "messages", "stream", "temperature", "max_tokens", "top_k", "tools", "tool_choice", "user"}
)


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    opts = options or EmulatorOptions()
    passwords = {p.strip() for p in (opts.credential or DEFAULT_PASSWORD).split(",") if p.strip()}
    app = EmulatorApp("spark_http", opts)
    counter = {"n": 0}

    def sid() -> str:
        counter["n"] += 1
        return f"cha000{counter['n']:04x}@dx{hashlib.md5(str(time.time()).encode()).hexdigest()[:12]}"

    def fail(code: int, message: str, sid_: str) -> Response:
        return json_response({"code": code, "message": message, "sid": sid_})

    async def chat(req: Request, version: str) -> Response:
        sid_ = sid()
        h = req.header("authorization") or ""
        if not h.startswith("Bearer ") or h[7:].strip() not in passwords:
            err = {"message": "invalid user", "type": "api_error", "param": None, "code": None}
            return json_response({"error": err}, 401)
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return fail(10003, "invalid message format", sid_)
        for k in body:
            if k not in KNOWN:
                return fail(10163, f"engine parameter schema check failed: unknown field {k}", sid_)
        model = body.get("model")
        if model not in MODELS or (model == "x1") != (version == "v2"):
            return fail(10404, f"model {model!r} is not served on /{version}/chat/completions", sid_)
        tools_ok, limit = MODELS[model]
        t = body.get("temperature")
        hi = 2.0 if model == "x1" else 1.0
        if t is not None and not (isinstance(t, int | float) and 0 < t <= hi):
            return fail(10005, f"invalid parameter value: temperature must be in (0, {hi}]", sid_)
        mx = body.get("max_tokens")
        if mx is not None and not (isinstance(mx, int) and 1 <= mx <= limit):
            return fail(10005, f"invalid parameter value: max_tokens must be in [1, {limit}]", sid_)
        if body.get("tools") and not tools_ok:
            return fail(10163, f"engine parameter schema check failed: {model} does not support tools", sid_)
        g = gen_request(body, reasoning=model == "x1")
        g.parallel_tools = False
        scn, arg = detect_scenario(
            [m for _, m in g.messages], req.header("x-emulator-scenario"), opts.scenario
        )
        codes = {
            "rate_limited": (11202, "AppIdQpsOverFlowError"),
            "insufficient_quota": (11201, "AppIdNoAuthError: daily token quota exceeded"),
            "filtered": (10013, "input content is not compliant"),
            "server_error": (10012, "EngineInternalError"),
            "overloaded": (10110, "service busy"),
        }
        if scn == "bad_key":
            err = {"message": "invalid user", "type": "api_error", "param": None, "code": None}
            return json_response({"error": err}, 401)
        if scn in codes:
            return fail(*codes[scn], sid_)
        c = generate(g)[0]
        delay = (
            3600.0 if scn == "hang" else (arg or opts.slow_first_byte if scn == "slow_first_byte" else 0.0)
        )
        prompt = g.prompt_tokens
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": c.completion_tokens,
            "total_tokens": prompt + c.completion_tokens,
        }
        if not body.get("stream"):
            if scn == "filtered_midway":
                return fail(10014, "output content is not compliant", sid_)
            resp = json_response(
                {
                    "code": 0,
                    "message": "Success",
                    "sid": sid_,
                    "choices": [{"index": 0, "message": _message(c, sid_)}],
                    "usage": usage,
                }
            )
            resp.delay = delay
            return resp
        return stream_response(_events(c, sid_, usage, delay, scn), content_type="text/event-stream")

    def _message(c: GenChoice, sid_: str) -> dict[str, Any]:
        m: dict[str, Any] = {"role": "assistant", "content": c.text}
        if c.reasoning:
            m["reasoning_content"] = c.reasoning
        if c.tool_calls:
            m["tool_calls"] = [
                {
                    "id": "call_" + hashlib.md5(f"{sid_}{j}".encode()).hexdigest()[:16],
                    "type": "function",
                    "function": {"name": n, "arguments": a},
                }
                for j, (n, a) in enumerate(c.tool_calls)
            ]
        return m

    async def _events(
        c: GenChoice, sid_: str, usage: dict[str, int], delay: float, scn: str | None
    ) -> AsyncIterator[bytes]:
        if delay:
            await asyncio.sleep(delay)
        created = int(time.time())
        deltas: list[dict[str, Any]] = [
            {"role": "assistant", "reasoning_content": p} for p in split_for_stream(c.reasoning or "")
        ]
        deltas += [{"role": "assistant", "content": p} for p in split_for_stream(c.text)]
        if c.tool_calls:
            deltas.append({"role": "assistant", "tool_calls": _message(c, sid_)["tool_calls"]})
        deltas = deltas or [{"role": "assistant", "content": ""}]
        cut = len(deltas) // 2 if scn in ("cut_stream", "filtered_midway") else -1
        for j, d in enumerate(deltas):
            if j == cut:
                if scn == "filtered_midway":
                    bad = {"code": 10014, "message": "output content is not compliant", "sid": sid_}
                    yield b"data:" + orjson.dumps(bad) + b"\n\n"
                    return
                raise CutStream()
            choice: dict[str, Any] = {"index": 0, "delta": d}
            chunk: dict[str, Any] = {
                "code": 0,
                "message": "Success",
                "sid": sid_,
                "id": sid_,
                "created": created,
            }
            if j == len(deltas) - 1:
                choice["finish_reason"] = "tool_calls" if c.tool_calls else c.finish
                chunk["usage"] = usage
            chunk["choices"] = [choice]
            yield b"data:" + orjson.dumps(chunk) + b"\n\n"
        yield b"data: [DONE]\n\n"

    @app.route("POST", "/v1/chat/completions")
    async def chat_v1(req: Request) -> Response:
        return await chat(req, "v1")

    @app.route("POST", "/v2/chat/completions")
    async def chat_v2(req: Request) -> Response:
        return await chat(req, "v2")

    return app
