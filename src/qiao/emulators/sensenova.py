"""Emulator of SenseNova's native API (SenseTime 商汤日日新), as the official ``sensenova`` SDK sees it.

Paths (under the account base ``ROOT/v1``): ``POST /v1/llm/chat-completions`` (JSON, or SSE when
``stream`` is true), ``POST /v1/llm/embeddings``, ``GET /v1/llm/models`` and ``/v1/llm/models/{id}``.

Auth: ``Authorization: Bearer <token>``. A token with three dot-separated parts is a JWT: it must be
HS256, name a known access key id in ``iss``, verify with that key's secret, carry ``exp`` in the future
and an ``nbf`` (if any) not in the future — otherwise 401 ``{"error": {"code": 16, ...}}``. Anything else
must be a known console API key. ``options.credential`` is in qiao's format: ``AK:SK`` (JWTs from that
pair), a console key (no colon), or several separated by commas; the default accepts the demo pair
``EMUAKID:emulatorsecret`` and the console key ``emulator-console-key``.

Shapes: answers in a ``data`` envelope with string ``message`` / ``delta``; streams as ``data:{json}``
lines (no space) ending ``data:[DONE]`` with ``Content-Type: text/event-stream`` — the SDK sends no
``Accept`` header and treats a reply as a stream only by its content type, and it ``eval()``s any body
that is not JSON, so every answer here is JSON or SSE. Every answer has an ``x-request-id`` header.
Errors: HTTP status + ``{"error": {"code": <int>, "message": ..., "details": []}}``; in a stream, a
``data:`` line holding that object.

Validation like SenseNova's: unknown top-level fields (e.g. OpenAI's ``max_tokens``), temperature outside
(0, 2], top_p outside (0, 1), repetition_penalty outside (0, 2], n outside [1, 4], images sent to a
text-only model, prompt + ``max_new_tokens`` over the context → 400 code 3; unknown model → 404 code 5;
more than 32 embedding inputs → 400 code 3.

Fault scenarios in SenseNova's vocabulary ([UNCERTAIN] where the real wording is not documented):
``rate_limited`` → 429 code 8; ``insufficient_quota`` → 429 code 8 with an arrears message; ``bad_key`` →
401 code 16; ``filtered`` → 400 code 3 naming sensitive content; ``filtered_midway`` → the answer stops
with ``finish_reason: "sensitive"``; ``server_error`` → 500 code 2; ``overloaded`` → 503 code 14;
``cut_stream`` → the connection drops mid-stream; ``slow_first_byte`` / ``hang`` delay the answer.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from ..providers import _jwt
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

__all__ = ["DEFAULT_CONSOLE_KEY", "DEFAULT_CREDENTIAL", "MODELS", "create_app", "error_body"]

DEFAULT_CREDENTIAL = "EMUAKID:emulatorsecret"
DEFAULT_CONSOLE_KEY = "emulator-console-key"

# model → (context, kind) where kind is "chat", "tools" (function calling), "vision" or "embedding"
MODELS: dict[str, tuple[int, str]] = {
    "SenseChat-5": (131_072, "tools"),
    "SenseChat-5-1202": (32_768, "tools"),
    "SenseChat-5-beta": (32_768, "chat"),
    "SenseChat-Turbo": (32_768, "tools"),
    "SenseChat-Turbo-1202": (32_768, "tools"),
    "SenseChat-Vision": (16_384, "vision"),
    "SenseNova-V6-Pro": (32_768, "vision"),
    "SenseNova-V6-Turbo": (32_768, "vision"),
    "SenseChat-5-Cantonese": (32_768, "chat"),
    "SenseChat-128K": (131_072, "chat"),
    "SenseChat-32K": (32_768, "chat"),
    "SenseChat": (4096, "chat"),
    "nova-embedding-stable": (512, "embedding"),
}
EMBEDDING_DIM = 1536
EMBEDDING_BATCH = 32

KNOWN = frozenset(
    {
        "model",
        "messages",
        "max_new_tokens",
        "temperature",
        "top_p",
        "repetition_penalty",
        "n",
        "stream",
        "user",
        "know_ids",
        "knowledge_config",
        "plugins",
        "tools",
        "tool_choice",
        "response_format",
    }
)
_IMAGE_PARTS = ("image_url", "image_base64", "image_file_id")


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": []}}


def _err(status: int, code: int, message: str, rid: str) -> Response:
    return json_response(error_body(code, message), status, [("x-request-id", rid)])


def _credentials(option: str | None) -> tuple[dict[str, str], set[str]]:
    raw = DEFAULT_CREDENTIAL + "," + DEFAULT_CONSOLE_KEY if option is None else option
    pairs: dict[str, str] = {}
    keys: set[str] = set()
    for item in (s.strip() for s in raw.split(",")):
        if not item:
            continue
        if ":" in item:
            ak, _, sk = item.partition(":")
            pairs[ak] = sk
        else:
            keys.add(item)
    return pairs, keys


def _check_auth(header: str | None, pairs: dict[str, str], keys: set[str]) -> str | None:
    """None when authorised, else the reason (as SenseNova words it, roughly)."""
    if not header or not header.startswith("Bearer "):
        return "missing Authorization header"
    token = header[len("Bearer ") :].strip()
    if token.count(".") == 2:
        try:
            head, claims = _jwt.decode_unverified(token)
        except _jwt.JWTError:
            return "invalid token"
        if head.get("alg") != "HS256":
            return "invalid token: alg must be HS256"
        secret = pairs.get(str(claims.get("iss")))
        if secret is None:
            return "invalid token: unknown access key id"
        try:
            _jwt.verify(token, secret)
        except _jwt.JWTError as exc:
            return {"expired": "token expired", "not_yet_valid": "token not yet valid"}.get(
                exc.reason, "invalid token: signature verification failed"
            )
        return None
    return None if token in keys else "invalid api key"


def _messages(msgs: Any, kind: str) -> tuple[list[tuple[str, str]], int] | str:
    """(role, text) pairs and the image count, or an error message."""
    if not isinstance(msgs, list) or not msgs:
        return "messages must be a non-empty array"
    out: list[tuple[str, str]] = []
    images = 0
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
            return "invalid message role"
        c = m.get("content")
        if isinstance(c, list):
            texts = []
            for p in c:
                t = p.get("type") if isinstance(p, dict) else None
                if t == "text":
                    texts.append(str(p.get("text") or ""))
                elif t in _IMAGE_PARTS:
                    if kind != "vision":
                        return "this model does not accept image input"
                    images += 1
                else:
                    return f"invalid content part type {t!r}"
            text = "".join(texts)
        elif isinstance(c, str):
            text = c
        else:
            return "message content must be a string"
        for t in m.get("tool_calls") or ():
            text += str((t.get("function") or {}).get("arguments") or "")
        out.append((m["role"], text))
    return out, images


def _validate(body: dict[str, Any]) -> str | None:
    for k in body:
        if k not in KNOWN:
            return f"invalid argument: unknown field {k!r}"
    t = body.get("temperature")
    if t is not None and not (isinstance(t, int | float) and 0 < t <= 2):
        return "temperature must be in (0, 2]"
    p = body.get("top_p")
    if p is not None and not (isinstance(p, int | float) and 0 < p < 1):
        return "top_p must be in (0, 1)"
    r = body.get("repetition_penalty")
    if r is not None and not (isinstance(r, int | float) and 0 < r <= 2):
        return "repetition_penalty must be in (0, 2]"
    n = body.get("n")
    if n is not None and not (isinstance(n, int) and 1 <= n <= 4):
        return "n must be in [1, 4]"
    mx = body.get("max_new_tokens")
    if mx is not None and not (isinstance(mx, int) and mx >= 1):
        return "max_new_tokens must be a positive integer"
    return None


def _gen_request(body: dict[str, Any], msgs: list[tuple[str, str]], images: int) -> GenRequest:
    tools = [
        ToolDef(
            t["function"]["name"],
            t["function"].get("description") or "",
            t["function"].get("parameters") or {},
        )
        for t in body.get("tools") or ()
        if isinstance(t, dict) and t.get("type") == "function"
    ]
    tc = body.get("tool_choice")
    if isinstance(tc, dict):
        tc = (tc.get("function") or {}).get("name")
    rf = body.get("response_format") or {}
    return GenRequest(
        messages=msgs,
        max_tokens=body.get("max_new_tokens"),
        n=int(body.get("n") or 1),
        tools=tools,
        tool_choice=tc,
        json_mode=rf.get("type") == "json_object",
        images=images,
    )


def _tool_calls(c: GenChoice, index: int, rid: str) -> list[dict[str, Any]]:
    return [
        {
            "id": "call_" + hashlib.sha256(f"{rid}{index}{j}{n}".encode()).hexdigest()[:20],
            "type": "function",
            "function": {"name": n, "arguments": a},
        }
        for j, (n, a) in enumerate(c.tool_calls)
    ]


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "knowledge_tokens": 0,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    opts = options or EmulatorOptions()
    pairs, keys = _credentials(opts.credential)
    app = EmulatorApp("sensenova", opts)
    counter = {"n": 0}

    def next_id() -> str:
        counter["n"] += 1
        return hashlib.sha256(f"sensenova{counter['n']}".encode()).hexdigest()[:24]

    def auth(req: Request, rid: str) -> Response | None:
        reason = _check_auth(req.header("authorization"), pairs, keys)
        return None if reason is None else _err(401, 16, reason, rid)

    def scenario_error(scn: str | None, rid: str) -> Response | None:
        if scn == "rate_limited":
            return _err(429, 8, "rate limit exceeded, please retry later", rid)
        if scn == "insufficient_quota":
            return _err(429, 8, "insufficient balance: the account is in arrears (账户余额不足)", rid)
        if scn == "bad_key":
            return _err(401, 16, "invalid token", rid)
        if scn == "filtered":
            return _err(400, 3, "the input contains sensitive content (输入内容包含敏感信息)", rid)
        if scn == "server_error":
            return _err(500, 2, "internal error", rid)
        if scn == "overloaded":
            return _err(503, 14, "service unavailable", rid)
        return None

    @app.route("GET", "/v1/llm/models")
    async def models(req: Request) -> Response:
        rid = next_id()
        if (e := auth(req, rid)) is not None:
            return e
        listing = [{"id": m, "object": "model", "owned_by": "SenseTime"} for m in MODELS]
        return json_response({"data": listing}, headers=[("x-request-id", rid)])

    @app.route("GET", "/v1/llm/models/{model}")
    async def model(req: Request) -> Response:
        rid = next_id()
        if (e := auth(req, rid)) is not None:
            return e
        name = req.path_params["model"]
        if name not in MODELS:
            return _err(404, 5, f"model not found: {name}", rid)
        return json_response(
            {"id": name, "object": "model", "owned_by": "SenseTime"}, headers=[("x-request-id", rid)]
        )

    @app.route("POST", "/v1/llm/chat-completions")
    async def chat(req: Request) -> Response:
        rid = next_id()
        if (e := auth(req, rid)) is not None:
            return e
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return _err(400, 3, "invalid argument: the body is not a JSON object", rid)
        if (bad := _validate(body)) is not None:
            return _err(400, 3, bad, rid)
        model = body.get("model")
        info = MODELS.get(model) if isinstance(model, str) else None
        if info is None or info[1] == "embedding":
            return _err(404, 5, f"model not found: {model}", rid)
        parsed = _messages(body.get("messages"), info[1])
        if isinstance(parsed, str):
            return _err(400, 3, parsed, rid)
        msgs, images = parsed
        if body.get("tools") and info[1] != "tools":
            return _err(400, 3, f"model {model} does not support tools", rid)
        g = _gen_request(body, msgs, images)
        scn, arg = detect_scenario([t for _, t in msgs], req.header("x-emulator-scenario"), opts.scenario)
        if (r := scenario_error(scn, rid)) is not None:
            return r
        prompt = g.prompt_tokens
        if prompt + (g.max_tokens or 0) > info[0]:
            return _err(
                400,
                3,
                f"the input plus max_new_tokens ({prompt} + {g.max_tokens or 0}) exceeds the "
                f"maximum context length of {info[0]} tokens",
                rid,
            )
        choices = generate(g)
        if scn == "filtered_midway":
            for c in choices:
                c.text, c.finish, c.tool_calls = c.text[: len(c.text) // 2], "sensitive", []
        delay = 3600.0 if scn == "hang" else 0.0
        if scn == "slow_first_byte":
            delay = arg or opts.slow_first_byte
        completion = sum(c.completion_tokens for c in choices)
        if not body.get("stream"):
            out = []
            for i, c in enumerate(choices):
                item: dict[str, Any] = {
                    "index": i,
                    "role": "assistant",
                    "finish_reason": c.finish,
                    "message": c.text if not c.tool_calls else "",
                }
                if c.tool_calls:
                    item["tool_calls"] = _tool_calls(c, i, rid)
                out.append(item)
            resp = json_response(
                {"data": {"id": rid, "choices": out, "usage": _usage(prompt, completion)}},
                headers=[("x-request-id", rid)],
            )
            resp.delay = delay
            return resp
        return stream_response(
            _events(choices, rid, prompt, delay, scn),
            content_type="text/event-stream",
            headers=[("x-request-id", rid), ("cache-control", "no-cache")],
        )

    async def _events(
        choices: list[GenChoice], rid: str, prompt: int, delay: float, scn: str | None
    ) -> AsyncIterator[bytes]:
        if delay:
            await asyncio.sleep(delay)
        frames: list[dict[str, Any]] = []
        done_tokens = 0
        for i, c in enumerate(choices):
            pieces = split_for_stream(c.text) or [""]
            for k, piece in enumerate(pieces):
                last = k == len(pieces) - 1
                done_tokens += count_tokens(piece)
                ch: dict[str, Any] = {
                    "index": i,
                    "role": "assistant",
                    "delta": piece,
                    "finish_reason": c.finish if last and not c.tool_calls else "",
                }
                frames.append({"id": rid, "choices": [ch], "usage": _usage(prompt, done_tokens)})
            if c.tool_calls:
                frames.append(
                    {
                        "id": rid,
                        "choices": [
                            {
                                "index": i,
                                "role": "assistant",
                                "delta": "",
                                "tool_calls": _tool_calls(c, i, rid),
                                "finish_reason": c.finish,
                            }
                        ],
                        "usage": _usage(prompt, done_tokens),
                    }
                )
        frames[-1]["usage"] = _usage(prompt, sum(c.completion_tokens for c in choices))
        cut = len(frames) // 2 if scn == "cut_stream" else -1
        for j, f in enumerate(frames):
            if j == cut:
                raise CutStream()
            yield b"data:" + orjson.dumps({"data": f}) + b"\n\n"
        yield b"data:[DONE]\n\n"

    @app.route("POST", "/v1/llm/embeddings")
    async def embeddings(req: Request) -> Response:
        rid = next_id()
        if (e := auth(req, rid)) is not None:
            return e
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return _err(400, 3, "invalid argument: the body is not a JSON object", rid)
        model = body.get("model")
        info = MODELS.get(model) if isinstance(model, str) else None
        if info is None:
            return _err(404, 5, f"model not found: {model}", rid)
        if info[1] != "embedding":
            return _err(400, 3, f"model {model} is not an embedding model", rid)
        inp = body.get("input")
        inputs = [inp] if isinstance(inp, str) else inp
        if not isinstance(inputs, list) or not inputs or not all(isinstance(s, str) and s for s in inputs):
            return _err(400, 3, "input must be a non-empty array of non-empty strings", rid)
        if len(inputs) > EMBEDDING_BATCH:
            return _err(400, 3, f"at most {EMBEDDING_BATCH} inputs per request", rid)
        scn, _ = detect_scenario(inputs, req.header("x-emulator-scenario"), opts.scenario)
        if (r := scenario_error(scn, rid)) is not None:
            return r
        tokens = 0
        items = []
        for i, text in enumerate(inputs):
            n = GenRequest([("user", text)]).prompt_tokens - 6
            if n > info[0]:
                return _err(400, 3, f"input {i} exceeds {info[0]} tokens", rid)
            tokens += max(n, 1)
            items.append(
                {
                    "index": i,
                    "embedding": embed(text, EMBEDDING_DIM),
                    "status_code": 0,
                    "status_message": "success",
                }
            )
        return json_response(
            {"embeddings": items, "usage": _usage(tokens, 0)}, headers=[("x-request-id", rid)]
        )

    return app
