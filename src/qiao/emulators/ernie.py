"""Emulator of Baidu Qianfan v2 (``https://qianfan.baidubce.com/v2``), the OpenAI-style ERNIE surface.

Paths: ``POST /v2/chat/completions`` (JSON or SSE ending in ``data: [DONE]``), ``POST /v2/embeddings``,
``GET /v2/models``. Auth: ``Authorization: Bearer bce-v3/ALTAK-…/…`` (default
``bce-v3/ALTAK-demo/emulatorsecret``); anything else is a 401.

It enforces what Qianfan enforces and OpenAI does not: temperature in (0, 1], ``max_completion_tokens``
≥ 2, ``penalty_score`` in [1, 2], no empty message content, and ERNIE's role alternation (after an
optional leading ``system``: user/assistant alternating, tool results after an assistant tool call, the
last message from the user or a tool). Answers carry ERNIE's quirks: ``finish_reason: "normal"`` for a
natural end, ``flag`` on each choice, ids starting ``as-``, one tool call per turn. Errors are HTTP
4xx/5xx with ``{"error": {"code", "message", "type"}, "id"}``.

Fault scenarios (``[[emulate:NAME]]``, ``X-Emulator-Scenario``, ``--scenario``) in Qianfan's words:
``rate_limited`` → 429 ``rpm_rate_limit_exceeded``; ``insufficient_quota`` → 429 ``insufficient_quota``
[the exact v2 arrears code is not documented]; ``bad_key`` → 401 ``access_denied``; ``filtered`` → 200 with
``need_clear_history``/``ban_round: -1`` and a canned refusal; ``filtered_midway`` → the stream ends with
``finish_reason: "content_filter"`` and ``flag: 2``; ``server_error`` → 500; ``overloaded`` → 503;
``slow_first_byte``, ``cut_stream``, ``hang`` as the engine defines them.

The helpers :data:`MODELS` and :func:`alternation_error` are shared with the v1 emulator.
"""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from ._asgi import CutStream, EmulatorApp, EmulatorOptions, Request, Response, json_response, stream_response
from ._engine import GenChoice, detect_scenario, embed, generate
from .openai_compat import chunk_events, completion_body, gen_request

__all__ = ["DEFAULT_CREDENTIAL", "EMBEDDINGS", "MODELS", "alternation_error", "create_app"]

DEFAULT_CREDENTIAL = "bce-v3/ALTAK-demo/emulatorsecret"

# v2 model id → (context tokens, max output tokens, function calling, reasoning)
MODELS: dict[str, tuple[int, int, bool, bool]] = {
    "ernie-4.5-turbo-128k": (131_072, 12_288, True, False),
    "ernie-4.5-turbo-32k": (32_768, 12_288, True, False),
    "ernie-4.5-turbo-vl-32k": (32_768, 12_288, False, False),
    "ernie-x1-turbo-32k": (32_768, 28_160, False, True),
    "ernie-4.0-turbo-8k": (8192, 2048, False, False),
    "ernie-4.0-turbo-128k": (131_072, 4096, False, False),
    "ernie-4.0-8k": (8192, 2048, True, False),
    "ernie-3.5-8k": (8192, 2048, True, False),
    "ernie-3.5-128k": (131_072, 4096, True, False),
    "ernie-speed-8k": (8192, 2048, False, False),
    "ernie-speed-128k": (131_072, 4096, False, False),
    "ernie-speed-pro-128k": (131_072, 4096, False, False),
    "ernie-lite-8k": (8192, 2048, False, False),
    "ernie-lite-pro-128k": (131_072, 4096, True, False),
    "ernie-tiny-8k": (8192, 2048, False, False),
    "ernie-char-8k": (8192, 2048, False, False),
    "ernie-novel-8k": (8192, 2048, False, False),
}
VISION = frozenset({"ernie-4.5-turbo-vl-32k"})
# embedding model id → (dimension, texts per call)
EMBEDDINGS: dict[str, tuple[int, int]] = {
    "embedding-v1": (384, 16),
    "bge-large-zh": (1024, 16),
    "bge-large-en": (1024, 16),
    "tao-8k": (1024, 1),
}

_IRE = "invalid_request_error"
REFUSAL = "抱歉，我无法回答这个问题。我们换个话题吧。"


def alternation_error(roles: list[str], user_side: frozenset[str], v1: bool) -> str | None:
    """Qianfan's message-order check; the message text follows Baidu's wording."""
    if not roles:
        return "the length of messages must be an odd number" if v1 else "messages must not be empty"
    expect_user = True
    for i, r in enumerate(roles):
        if r == "tool" and i > 0 and roles[i - 1] == "tool":
            continue  # several results of one turn's calls (v2)
        is_user = r in user_side
        if is_user != expect_user:
            which = "odd" if i % 2 == 1 else "even"
            return (
                f"the role of message with {which} index in the messages must be "
                f"{'user' if expect_user else 'assistant'}"
            )
        expect_user = not expect_user
    if roles[-1] not in user_side:
        return "the last message must be from the user" + (" or a function" if v1 else " or a tool")
    return None


def _rid(counter: dict[str, int]) -> str:
    counter["n"] += 1
    return f"as-emu{counter['n']:08d}"


def _err(
    code: str, message: str, type_: str, rid: str, status: int, headers: list[tuple[str, str]] | None = None
) -> Response:
    return json_response(
        {"error": {"code": code, "message": message, "type": type_}, "id": rid}, status, headers
    )


def _validate(body: Any, rid: str) -> Response | None:
    if not isinstance(body, dict):
        return _err("malformed_json", "Invalid JSON body", _IRE, rid, 400)
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return _err("invalid_argument", "messages must not be empty", _IRE, rid, 400)
    roles: list[str] = [str(m.get("role")) for m in msgs if isinstance(m, dict)]
    if len(roles) != len(msgs) or any(r not in ("system", "user", "assistant", "tool") for r in roles):
        return _err("invalid_argument", "invalid message role", _IRE, rid, 400)
    for m in msgs:
        c = m.get("content")
        empty = c is None or c == "" or c == []
        if empty and not (m["role"] == "assistant" and m.get("tool_calls")):
            return _err("invalid_argument", "message content can not be empty", _IRE, rid, 400)
    rest = roles[1:] if roles[0] == "system" else roles
    if "system" in rest:
        return _err("invalid_argument", "the system message must be the first message", _IRE, rid, 400)
    problem = alternation_error(rest, frozenset({"user", "tool"}), v1=False)
    if problem:
        return _err("invalid_argument", problem, _IRE, rid, 400)
    t = body.get("temperature")
    if t is not None and not (isinstance(t, int | float) and 0 < t <= 1):
        return _err("invalid_argument", "temperature range is (0, 1.0]", _IRE, rid, 400)
    tp = body.get("top_p")
    if tp is not None and not (isinstance(tp, int | float) and 0 <= tp <= 1):
        return _err("invalid_argument", "top_p range is [0, 1.0]", _IRE, rid, 400)
    ps = body.get("penalty_score")
    if ps is not None and not (isinstance(ps, int | float) and 1 <= ps <= 2):
        return _err("invalid_argument", "penalty_score range is [1.0, 2.0]", _IRE, rid, 400)
    for k in ("max_completion_tokens", "max_tokens"):
        v = body.get(k)
        if v is not None and not (isinstance(v, int) and v >= 2):
            return _err("invalid_argument", f"{k} must be at least 2", _IRE, rid, 400)
    n = body.get("n")
    if n not in (None, 1):
        return _err("invalid_argument", "n is not supported", _IRE, rid, 400)
    return None


def _ernie_finish(body: dict[str, Any]) -> None:
    for c in body.get("choices") or ():
        if c.get("finish_reason") == "stop":
            c["finish_reason"] = "normal"
        c["flag"] = 0


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    opts = options or EmulatorOptions()
    app = EmulatorApp("ernie", opts)
    expected = DEFAULT_CREDENTIAL if opts.credential is None else opts.credential
    counter = {"n": 0}

    def auth_error(req: Request, rid: str) -> Response | None:
        got = req.header("authorization") or ""
        if expected and got != f"Bearer {expected}":
            if not got.startswith("Bearer bce-v3/"):
                return _err(
                    "invalid_iam_token",
                    "IAM Certification failed: the Authorization header must be 'Bearer bce-v3/ALTAK-…/…'",
                    _IRE,
                    rid,
                    401,
                )
            return _err("access_denied", "Access denied: the API key is not valid", _IRE, rid, 401)
        return None

    def scenario_response(scn: str | None, rid: str) -> Response | None:
        if scn == "rate_limited":
            return _err(
                "rpm_rate_limit_exceeded",
                "Rate limit reached for RPM",
                "rate_limit_exceeded",
                rid,
                429,
                [
                    ("retry-after", "1"),
                    ("X-Ratelimit-Limit-Requests", "300"),
                    ("X-Ratelimit-Remaining-Requests", "0"),
                ],
            )
        if scn == "insufficient_quota":
            return _err(
                "insufficient_quota",
                "Your account balance is insufficient (账户已欠费), please recharge",
                "insufficient_quota",
                rid,
                429,
            )
        if scn == "bad_key":
            return _err("access_denied", "Access denied: the API key is not valid", _IRE, rid, 401)
        if scn == "server_error":
            return _err("internal_error", "Internal error", "server_error", rid, 500)
        if scn == "overloaded":
            return _err(
                "server_overloaded",
                "Service is overloaded, please try again later",
                "server_error",
                rid,
                503,
                [("retry-after", "1")],
            )
        return None

    @app.route("GET", "/v2/models")
    async def list_models(req: Request) -> Response:
        rid = _rid(counter)
        if (e := auth_error(req, rid)) is not None:
            return e
        ids = list(MODELS) + list(EMBEDDINGS)
        return json_response(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 1719300000, "owned_by": "baidu"} for m in ids
                ],
            }
        )

    @app.route("POST", "/v2/chat/completions")
    async def chat(req: Request) -> Response:
        rid = _rid(counter)
        if (e := auth_error(req, rid)) is not None:
            return e
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            body = None
        if (bad := _validate(body, rid)) is not None:
            return bad
        info = MODELS.get(body.get("model"))
        if info is None:
            return _err(
                "invalid_model",
                f"model {body.get('model')!r} does not exist or is not enabled",
                _IRE,
                rid,
                400,
            )
        context, max_out, functions, reasoning = info
        if body["model"] not in VISION and any(
            isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
            for m in body["messages"]
        ):
            return _err("invalid_argument", "this model does not support image input", _IRE, rid, 400)
        if body.get("tools") and not functions:
            return _err("invalid_argument", "this model does not support function calling", _IRE, rid, 400)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if limit is not None and limit > max_out:
            return _err("invalid_argument", f"max_completion_tokens range is [2, {max_out}]", _IRE, rid, 400)
        g = gen_request(body, reasoning=reasoning)
        g.parallel_tools = False  # ERNIE returns at most one call per turn
        texts = [t for _, t in g.messages]
        scn, arg = detect_scenario(texts, req.header("x-emulator-scenario"), opts.scenario)
        if (r := scenario_response(scn, rid)) is not None:
            return r
        if g.prompt_tokens > context:
            return _err("characters_too_long", "the input is too long for this model", _IRE, rid, 400)
        if scn == "filtered":
            return _filtered(body, rid, g.prompt_tokens)
        choices = generate(g)
        delay = (arg or opts.slow_first_byte) if scn == "slow_first_byte" else 0.0
        if scn == "hang":
            delay = 3600.0
        if not body.get("stream"):
            if scn == "filtered_midway":
                choices[0].text = choices[0].text[: len(choices[0].text) // 2]
                choices[0].finish = "content_filter"
            out = completion_body(choices, body["model"], g.prompt_tokens, rid)
            out.pop("system_fingerprint", None)
            _ernie_finish(out)
            if scn == "filtered_midway":
                out["choices"][0]["flag"] = 2
            resp = json_response(out)
            resp.delay = delay
            return resp
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = chunk_events(choices, body["model"], g.prompt_tokens, rid, include_usage)
        for ev in events:
            ev.pop("system_fingerprint", None)
            for c in ev.get("choices") or ():
                if c.get("finish_reason") == "stop":
                    c["finish_reason"] = "normal"
        return stream_response(_sse(events, delay, scn, choices))

    def _filtered(body: dict[str, Any], rid: str, prompt_tokens: int) -> Response:
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": REFUSAL},
            "finish_reason": "normal",
            "flag": 1,
            "ban_round": -1,
            "need_clear_history": True,
        }
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": 0, "total_tokens": prompt_tokens}
        if not body.get("stream"):
            return json_response(
                {
                    "id": rid,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [choice],
                    "usage": usage,
                }
            )
        delta_choice = {
            "index": 0,
            "delta": {"role": "assistant", "content": REFUSAL},
            "finish_reason": "normal",
            "flag": 1,
            "ban_round": -1,
            "need_clear_history": True,
        }
        chunk = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [delta_choice],
        }

        async def gen() -> AsyncIterator[bytes]:
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
            yield b"data: [DONE]\n\n"

        return stream_response(gen())

    async def _sse(
        events: list[dict[str, Any]], delay: float, scn: str | None, choices: list[GenChoice]
    ) -> AsyncIterator[bytes]:
        if delay:
            await asyncio.sleep(delay)
        cut = max(1, len(events) // 2) if scn in ("cut_stream", "filtered_midway") else -1
        for i, ev in enumerate(events):
            if i == cut:
                if scn == "filtered_midway":
                    stop = dict(ev)
                    stop["choices"] = [
                        {"index": 0, "delta": {}, "finish_reason": "content_filter", "flag": 2}
                    ]
                    yield b"data: " + orjson.dumps(stop) + b"\n\n"
                    yield b"data: [DONE]\n\n"
                    return
                raise CutStream()
            yield b"data: " + orjson.dumps(ev) + b"\n\n"
        yield b"data: [DONE]\n\n"

    @app.route("POST", "/v2/embeddings")
    async def embeddings(req: Request) -> Response:
        rid = _rid(counter)
        if (e := auth_error(req, rid)) is not None:
            return e
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return _err("malformed_json", "Invalid JSON body", _IRE, rid, 400)
        info = EMBEDDINGS.get(str(body.get("model")))
        if info is None:
            return _err(
                "invalid_model",
                f"model {body.get('model')!r} does not exist or is not enabled",
                _IRE,
                rid,
                400,
            )
        inp = body.get("input")
        inputs = [inp] if isinstance(inp, str) else list(inp or [])
        if not inputs or any(not isinstance(s, str) or not s for s in inputs):
            return _err(
                "invalid_argument", "input must be a non-empty list of non-empty strings", _IRE, rid, 400
            )
        dim, batch = info
        if len(inputs) > batch:
            return _err(
                "invalid_argument", f"the number of input texts exceeds the limit of {batch}", _IRE, rid, 400
            )
        data = []
        tokens = 0
        for i, text in enumerate(inputs):
            vec = embed(text, dim)
            tokens += max(1, len(text) // 3)
            emb: Any = vec
            if body.get("encoding_format") == "base64":
                emb = base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode()
            data.append({"object": "embedding", "embedding": emb, "index": i})
        return json_response(
            {
                "id": rid,
                "object": "list",
                "created": int(time.time()),
                "model": body["model"],
                "data": data,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    return app
