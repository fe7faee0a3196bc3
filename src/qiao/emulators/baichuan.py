"""Emulator of Baichuan AI's API (``https://api.baichuan-ai.com/v1``).

Paths: ``POST /v1/chat/completions`` (JSON or SSE), ``POST /v1/embeddings``, ``GET /v1/models`` (in
Baichuan's own shape: ``model``, ``model_show_name``, ``max_input_length``, ``max_tokens``,
``function_call``). Every answer carries an ``X-BC-Request-Id`` header.

Auth: ``Authorization: Bearer <key>`` (default key ``sk-baichuan-emulator``); a wrong key is 401
``invalid_api_key``, a missing one 401 ``api_key_empty``.

Validation follows Baichuan's documented ranges: ``temperature`` [0, 1], ``top_p`` [0, 1), ``top_k``
[0, 20] (larger values are clipped, as documented), ``max_tokens`` [1, 2048], ``frequency_penalty``
[1, 2], ``stop`` at most 4 strings; roles ``system``/``user``/``assistant``/``tool``; ``tools`` only on the
models with function calling, ``response_format`` ``json_object`` only on the models with JSON mode;
``with_search_enhance`` and ``knowledge_base`` accepted (a knowledge-base answer carries
``knowledge_base.cites``). Fields it does not know are ignored, as OpenAI-compatible servers commonly do;
``seen`` keeps the last request bodies so tests can check what an adapter sent. Embeddings: at most 16 texts
of at most 512 tokens; floats always (``encoding_format`` is ignored; the ``openai`` SDK decodes either).

Streams are framed as the docs' example shows: ``data:{json}`` (no space after the colon), every delta
with ``"role": "assistant"``, ``"finish_reason": ""`` until the last chunk, which carries the last text,
the finish reason and ``usage``; then ``data: [DONE]``. Tool calls arrive whole in one delta.

Errors: ``{"error": {"code", "message", "param", "type"}}`` with the statuses and messages of Baichuan's
status-code table (401 "Incorrect API key provided", 429 "Rate limit reached for requests" or
"Insufficient account balance, please recharge", 500 "Internal Server Error"). Scenarios: ``filtered``
answers with ``finish_reason: "content_filter"`` and no text (Baichuan's documented content-filter
signal); ``filtered_midway`` ends a stream that way halfway; ``overloaded`` is a 503 (not documented).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from ._asgi import CutStream, EmulatorApp, EmulatorOptions, Request, Response, json_response, stream_response
from ._engine import GenChoice, count_tokens, detect_scenario, embed, generate, split_for_stream
from .openai_compat import gen_request

__all__ = ["DEFAULT_CREDENTIAL", "MODELS", "BaichuanEmulator", "ModelInfo", "create_app"]

DEFAULT_CREDENTIAL = "sk-baichuan-emulator"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    show_name: str
    context: int
    tools: bool
    json_mode: bool


MODELS: dict[str, ModelInfo] = {
    "Baichuan4": ModelInfo("Baichuan4", 32_768, True, True),
    "Baichuan4-Turbo": ModelInfo("Baichuan4-Turbo", 32_768, True, True),
    "Baichuan4-Air": ModelInfo("Baichuan4-Air", 32_768, True, True),
    "Baichuan3-Turbo": ModelInfo("Baichuan3-Turbo", 32_768, True, True),
    "Baichuan3-Turbo-128k": ModelInfo("Baichuan3-Turbo-128k", 128_000, False, True),
    "Baichuan2-Turbo": ModelInfo("Baichuan2-Turbo", 32_768, False, False),
}
EMBEDDING_MODEL = "Baichuan-Text-Embedding"
EMBEDDING_DIM = 1024
EMBEDDING_BATCH = 16
EMBEDDING_MAX_TOKENS = 512
MAX_TOKENS = 2048


def _err(
    status: int,
    message: str,
    type_: str,
    code: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    return json_response(
        {"error": {"code": code or type_, "message": message, "param": None, "type": type_}}, status, headers
    )


def _bad(message: str) -> Response:
    return _err(400, message, "invalid_request_error")


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _validate(body: Any) -> Response | None:
    if not isinstance(body, dict):
        return _bad("Invalid request body: JSON object expected")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return _bad("model is required")
    if model not in MODELS:
        return _err(404, f"Model not found: {model}", "invalid_request_error", "model_not_found")
    info = MODELS[model]
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return _bad("messages must be a non-empty array")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
            return _bad(f"messages[{i}].role must be one of system, user, assistant, tool")
        c = m.get("content")
        if c is not None and not isinstance(c, str | list):
            return _bad(f"messages[{i}].content must be a string")
        if isinstance(c, list) and any(
            not isinstance(p, dict) or p.get("type") not in ("text", "file") for p in c
        ):
            return _bad(f"messages[{i}].content parts must be of type text or file")
        if m["role"] == "tool" and not m.get("tool_call_id"):
            return _bad(f"messages[{i}].tool_call_id is required for tool messages")
    t = body.get("temperature")
    if t is not None and not (_num(t) and 0 <= t <= 1):
        return _bad("temperature must be in [0, 1]")
    p = body.get("top_p")
    if p is not None and not (_num(p) and 0 <= p < 1):
        return _bad("top_p must be in [0, 1)")
    k = body.get("top_k")
    if k is not None and not (isinstance(k, int) and not isinstance(k, bool) and k >= 0):
        return _bad("top_k must be an integer in [0, 20]")
    mt = body.get("max_tokens")
    if mt is not None and not (isinstance(mt, int) and 1 <= mt <= MAX_TOKENS):
        return _bad(f"max_tokens must be in [1, {MAX_TOKENS}]")
    fp = body.get("frequency_penalty")
    if fp is not None and not (_num(fp) and 1 <= fp <= 2):
        return _bad("frequency_penalty must be between 1 and 2")
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str)
        or (isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop))
    ):
        return _bad("stop must be a string or a list of at most 4 strings")
    tools = body.get("tools")
    if tools:
        if not isinstance(tools, list):
            return _bad("tools must be an array")
        for t_ in tools:
            kind = t_.get("type") if isinstance(t_, dict) else None
            if kind == "function" and not info.tools:
                return _bad(f"model {model} does not support function calling")
            if kind not in ("function", "web_search", "retrieval"):
                return _bad(f"unsupported tool type: {kind}")
    rf = body.get("response_format")
    if rf is not None:
        kind = rf.get("type") if isinstance(rf, dict) else None
        if kind not in ("text", "json_object") or (kind == "json_object" and not info.json_mode):
            return _bad(f"response_format {kind} is not supported by model {model}")
    kb = body.get("knowledge_base")
    if kb is not None and not (isinstance(kb, dict) and isinstance(kb.get("ids"), list)):
        return _bad("knowledge_base.ids must be an array of knowledge base ids")
    return None


def _tool_id(name: str, args: str, i: int) -> str:
    """Baichuan's tool-call ids are short opaque strings (``3951017OF8doB0A``), not ``call_…``."""
    h = hashlib.sha256(f"{name}\x1f{args}\x1f{i}".encode()).hexdigest()
    return str(int(h[:12], 16))[:7] + h[12:20].upper()


class BaichuanEmulator(EmulatorApp):
    seen: deque[dict[str, Any]]
    """The last request bodies received (tests read them; bounded so a long ``qiao demo`` does not grow)."""


def create_app(options: EmulatorOptions | None = None) -> BaichuanEmulator:
    opts = options or EmulatorOptions()
    app = BaichuanEmulator("baichuan", opts)
    app.seen = deque(maxlen=64)
    expected = DEFAULT_CREDENTIAL if opts.credential is None else opts.credential
    counter = {"n": 0}

    def rid() -> str:
        counter["n"] += 1
        return f"{counter['n']:08d}{int(time.time()) % 10_000_000:07d}"

    def auth_error(req: Request) -> Response | None:
        if not expected:
            return None
        got = req.header("authorization") or ""
        if not got.strip() or got.strip() == "Bearer":
            return _err(
                401,
                "You didn't provide an API key. Provide it in the Authorization header "
                "(Authorization: Bearer YOUR_KEY)",
                "api_key_empty",
            )
        if got != f"Bearer {expected}":
            return _err(401, "Incorrect API key provided", "invalid_api_key")
        return None

    def scenario_error(scn: str | None) -> Response | None:
        if scn == "rate_limited":
            return _err(429, "Rate limit reached for requests", "rate_limit_reached")
        if scn == "insufficient_quota":
            return _err(429, "Insufficient account balance, please recharge", "insufficient_quota")
        if scn == "bad_key":
            return _err(401, "Invalid Authentication", "invalid_authentication")
        if scn == "server_error":
            return _err(500, "Internal Server Error", "internal_server_error")
        if scn == "overloaded":
            return _err(503, "The service is overloaded, please try again later", "server_overloaded")
        return None

    def with_id(resp: Response, request_id: str) -> Response:
        resp.headers.append(("X-BC-Request-Id", request_id))
        return resp

    @app.route("GET", "/v1/models")
    async def list_models(req: Request) -> Response:
        if (e := auth_error(req)) is not None:
            return with_id(e, rid())
        data = [
            {
                "model": m,
                "model_show_name": i.show_name,
                "max_input_length": i.context,
                "max_tokens": MAX_TOKENS,
                "function_call": i.tools,
            }
            for m, i in MODELS.items()
        ]
        return with_id(json_response({"object": "list", "data": data}), rid())

    @app.route("POST", "/v1/chat/completions")
    async def chat(req: Request) -> Response:
        request_id = rid()
        if (e := auth_error(req)) is not None:
            return with_id(e, request_id)
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            return with_id(_bad("Invalid request body: malformed JSON"), request_id)
        if isinstance(body, dict):
            app.seen.append(body)
        if (bad := _validate(body)) is not None:
            return with_id(bad, request_id)
        model = body["model"]
        if isinstance(body.get("top_k"), int) and body["top_k"] > 20:
            body["top_k"] = 20  # documented: clipped, not refused
        gbody = dict(body)
        gbody["tools"] = [t for t in body.get("tools") or [] if t.get("type") == "function"]
        gbody.pop("n", None)  # one choice only
        gbody.pop("tool_choice", None)
        g = gen_request(gbody)
        g.parallel_tools = False
        texts = [t for _, t in g.messages]
        scn, arg = detect_scenario(texts, req.header("x-emulator-scenario"), opts.scenario)
        if (r := scenario_error(scn)) is not None:
            return with_id(r, request_id)
        limit = g.max_tokens or 0
        if g.prompt_tokens + limit > MODELS[model].context:
            return with_id(
                _bad(
                    f"Input length exceeds the model's maximum context length "
                    f"({MODELS[model].context} tokens)"
                ),
                request_id,
            )
        choice = generate(g)[0]
        if scn == "filtered":
            choice = GenChoice("", "content_filter")
        cid = f"chatcmpl-M{hashlib.sha256(request_id.encode()).hexdigest()[:14]}"
        delay = (arg or opts.slow_first_byte) if scn == "slow_first_byte" else 0.0
        if scn == "hang":
            delay = 3600.0
        usage = {
            "prompt_tokens": g.prompt_tokens,
            "completion_tokens": choice.completion_tokens,
            "total_tokens": g.prompt_tokens + choice.completion_tokens,
        }
        if not body.get("stream"):
            msg: dict[str, Any] = {"role": "assistant", "content": choice.text}
            if choice.tool_calls:
                msg["tool_calls"] = [
                    {"id": _tool_id(n, a, j), "type": "function", "function": {"name": n, "arguments": a}}
                    for j, (n, a) in enumerate(choice.tool_calls)
                ]
            out: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": msg, "finish_reason": choice.finish}],
                "usage": usage,
            }
            if body.get("knowledge_base"):
                out["knowledge_base"] = {
                    "cites": [
                        {
                            "title": "emulated.pdf",
                            "content": choice.text[:40],
                            "file_id": "file-emulated0000000000000",
                        }
                    ]
                }
            resp = with_id(json_response(out), request_id)
            resp.delay = delay
            return resp
        events = _chunks(choice, model, cid, usage)
        return with_id(stream_response(_sse(events, delay, scn)), request_id)

    async def _sse(events: list[dict[str, Any]], delay: float, scn: str | None) -> AsyncIterator[bytes]:
        if delay:
            await asyncio.sleep(delay)
        half = len(events) // 2
        for i, ev in enumerate(events):
            if scn == "cut_stream" and i == half:
                raise CutStream()
            if scn == "filtered_midway" and i == half:
                last = dict(events[-1])
                last["choices"] = [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": "content_filter",
                    }
                ]
                yield b"data:" + orjson.dumps(last) + b"\n\n"
                break
            yield b"data:" + orjson.dumps(ev) + b"\n\n"
        yield b"data: [DONE]\n\n"

    @app.route("POST", "/v1/embeddings")
    async def embeddings(req: Request) -> Response:
        request_id = rid()
        if (e := auth_error(req)) is not None:
            return with_id(e, request_id)
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return with_id(_bad("Invalid request body: JSON object expected"), request_id)
        app.seen.append(body)
        if body.get("model") != EMBEDDING_MODEL:
            return with_id(
                _err(
                    404, f"Model not found: {body.get('model')}", "invalid_request_error", "model_not_found"
                ),
                request_id,
            )
        inp = body.get("input")
        inputs = [inp] if isinstance(inp, str) else inp
        if not isinstance(inputs, list) or not inputs or not all(isinstance(s, str) and s for s in inputs):
            return with_id(_bad("input must be a non-empty string or array of non-empty strings"), request_id)
        if len(inputs) > EMBEDDING_BATCH:
            return with_id(_bad(f"input array must contain at most {EMBEDDING_BATCH} texts"), request_id)
        scn, _ = detect_scenario(inputs, req.header("x-emulator-scenario"), opts.scenario)
        if (r := scenario_error(scn)) is not None:
            return with_id(r, request_id)
        tokens = 0
        data = []
        for i, text in enumerate(inputs):
            n = count_tokens(text)
            if n > EMBEDDING_MAX_TOKENS:
                return with_id(_bad(f"input[{i}] is longer than {EMBEDDING_MAX_TOKENS} tokens"), request_id)
            tokens += n
            data.append({"object": "embedding", "index": i, "embedding": embed(text, EMBEDDING_DIM)})
        out = {
            "object": "list",
            "model": EMBEDDING_MODEL,
            "data": data,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return with_id(json_response(out), request_id)

    return app


def _chunks(choice: GenChoice, model: str, cid: str, usage: dict[str, int]) -> list[dict[str, Any]]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str = "", last: bool = False) -> dict[str, Any]:
        c: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": {"role": "assistant", **delta}, "finish_reason": finish}],
        }
        if last:
            c["usage"] = usage
        return c

    out: list[dict[str, Any]] = []
    if choice.tool_calls:
        out.append(
            chunk(
                {
                    "content": "",
                    "tool_calls": [
                        {
                            "index": j,
                            "id": _tool_id(n, a, j),
                            "type": "function",
                            "function": {"name": n, "arguments": a},
                        }
                        for j, (n, a) in enumerate(choice.tool_calls)
                    ],
                }
            )
        )
        out.append(chunk({"content": ""}, choice.finish, True))
        return out
    pieces = split_for_stream(choice.text, 12) or [""]
    for p in pieces[:-1]:
        out.append(chunk({"content": p}))
    out.append(chunk({"content": pieces[-1]}, choice.finish, True))
    return out
