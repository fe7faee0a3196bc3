"""Emulator of an OpenAI-shaped upstream (OpenAI's own API, as its reference documents it).

Paths: ``POST /v1/chat/completions`` (JSON or SSE), ``POST /v1/embeddings``, ``GET /v1/models``.
Auth: ``Authorization: Bearer <credential>`` (default credential ``sk-emulator``; with ``credential=""``
no auth is checked, like a self-hosted server). It validates like OpenAI: unknown parameters, values out
of range and context overflow are 400s naming the ``param``.

The helpers here (:func:`gen_request`, :func:`completion_body`, :func:`chunk_events`, :func:`error_body`)
are reused by the emulators of other OpenAI-shaped vendors.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from ._asgi import CutStream, EmulatorApp, EmulatorOptions, Request, Response, json_response, stream_response
from ._engine import GenChoice, GenRequest, ToolDef, detect_scenario, embed, generate, split_for_stream

__all__ = [
    "DEFAULT_CREDENTIAL",
    "chunk_events",
    "completion_body",
    "create_app",
    "error_body",
    "gen_request",
    "message_texts",
]

DEFAULT_CREDENTIAL = "sk-emulator"

KNOWN_PARAMS = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "n",
        "stream",
        "stream_options",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "user",
        "seed",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "functions",
        "function_call",
        "reasoning_effort",
        "modalities",
        "audio",
        "prediction",
        "store",
        "metadata",
        "service_tier",
        "web_search_options",
        "verbosity",
        "prompt_cache_key",
        "safety_identifier",
    }
)

# model id → (context window, embedding dimension or None, reasoning)
MODELS: dict[str, tuple[int, int | None, bool]] = {
    "gpt-4o": (128_000, None, False),
    "gpt-4o-mini": (128_000, None, False),
    "o3-mini": (200_000, None, True),
    "text-embedding-3-small": (8191, 1536, False),
    "text-embedding-3-large": (8191, 3072, False),
}


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def message_texts(messages: list[dict[str, Any]]) -> tuple[list[tuple[str, str]], int]:
    """(role, text) pairs and the number of images in OpenAI-shaped messages."""
    out: list[tuple[str, str]] = []
    images = 0
    for m in messages:
        c = m.get("content")
        if isinstance(c, list):
            texts = []
            for p in c:
                if p.get("type") == "text":
                    texts.append(p.get("text", ""))
                elif p.get("type") == "image_url":
                    images += 1
            text = "".join(texts)
        else:
            text = c or ""
        if m.get("tool_calls"):
            text += "".join(t.get("function", {}).get("arguments", "") for t in m["tool_calls"])
        out.append((m.get("role", "user"), text))
    return out, images


def gen_request(body: dict[str, Any], reasoning: bool = False) -> GenRequest:
    msgs, images = message_texts(body.get("messages") or [])
    tools = [
        ToolDef(
            t["function"]["name"],
            t["function"].get("description") or "",
            t["function"].get("parameters") or {},
        )
        for t in body.get("tools") or []
        if t.get("type") == "function"
    ]
    tc = body.get("tool_choice")
    if isinstance(tc, dict):
        tc = (tc.get("function") or {}).get("name")
    rf = body.get("response_format") or {}
    schema = None
    if rf.get("type") == "json_schema":
        schema = (rf.get("json_schema") or {}).get("schema") or {"type": "object"}
    stop = body.get("stop")
    return GenRequest(
        messages=msgs,
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        stop=[stop] if isinstance(stop, str) else list(stop or []),
        n=int(body.get("n") or 1),
        tools=tools,
        tool_choice=tc,
        json_mode=rf.get("type") == "json_object",
        json_schema=schema,
        reasoning=reasoning,
        seed=body.get("seed"),
        images=images,
        parallel_tools=body.get("parallel_tool_calls") is not False,
    )


def _call_id(name: str, args: str, i: int) -> str:
    return "call_" + hashlib.sha256(f"{name}{args}{i}".encode()).hexdigest()[:24]


def completion_body(
    choices: list[GenChoice],
    model: str,
    prompt_tokens: int,
    rid: str,
    reasoning_field: str = "reasoning_content",
) -> dict[str, Any]:
    out_choices = []
    completion = 0
    reasoning_tokens = 0
    for i, c in enumerate(choices):
        msg: dict[str, Any] = {
            "role": "assistant",
            "content": c.text if not c.tool_calls else None,
            "refusal": None,
        }
        if c.tool_calls:
            msg["tool_calls"] = [
                {"id": _call_id(n, a, j), "type": "function", "function": {"name": n, "arguments": a}}
                for j, (n, a) in enumerate(c.tool_calls)
            ]
        if c.reasoning is not None:
            msg[reasoning_field] = c.reasoning
            reasoning_tokens += len(c.reasoning) // 2
        out_choices.append({"index": i, "message": msg, "logprobs": None, "finish_reason": c.finish})
        completion += c.completion_tokens
    return {
        "id": rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": out_choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
        },
        "system_fingerprint": "fp_emulator",
    }


def chunk_events(
    choices: list[GenChoice],
    model: str,
    prompt_tokens: int,
    rid: str,
    include_usage: bool,
    reasoning_field: str = "reasoning_content",
) -> list[dict[str, Any]]:
    """The chat.completion.chunk objects OpenAI would stream for these choices."""
    created = int(time.time())

    def chunk(choices_: list[dict[str, Any]], usage: Any = None) -> dict[str, Any]:
        c: dict[str, Any] = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_emulator",
            "choices": choices_,
        }
        if include_usage:
            c["usage"] = usage
        return c

    out = []
    for i, c in enumerate(choices):
        out.append(
            chunk(
                [
                    {
                        "index": i,
                        "delta": {"role": "assistant", "content": "", "refusal": None},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ]
            )
        )
        if c.reasoning:
            for piece in split_for_stream(c.reasoning):
                out.append(
                    chunk(
                        [
                            {
                                "index": i,
                                "delta": {reasoning_field: piece},
                                "logprobs": None,
                                "finish_reason": None,
                            }
                        ]
                    )
                )
        for j, (name, args) in enumerate(c.tool_calls):
            out.append(
                chunk(
                    [
                        {
                            "index": i,
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": j,
                                        "id": _call_id(name, args, j),
                                        "type": "function",
                                        "function": {"name": name, "arguments": ""},
                                    }
                                ]
                            },
                            "logprobs": None,
                            "finish_reason": None,
                        }
                    ]
                )
            )
            for piece in split_for_stream(args, 4):
                out.append(
                    chunk(
                        [
                            {
                                "index": i,
                                "delta": {"tool_calls": [{"index": j, "function": {"arguments": piece}}]},
                                "logprobs": None,
                                "finish_reason": None,
                            }
                        ]
                    )
                )
        for piece in split_for_stream(c.text):
            out.append(
                chunk([{"index": i, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}])
            )
        out.append(chunk([{"index": i, "delta": {}, "logprobs": None, "finish_reason": c.finish}]))
    if include_usage:
        completion = sum(c.completion_tokens for c in choices)
        out.append(
            chunk(
                [],
                {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion,
                    "total_tokens": prompt_tokens + completion,
                },
            )
        )
    return out


def _validate(body: Any, models: dict[str, tuple[int, int | None, bool]]) -> Response | None:
    if not isinstance(body, dict):
        return json_response(
            error_body("We could not parse the JSON body of your request.", "invalid_request_error"), 400
        )
    for k in body:
        if k not in KNOWN_PARAMS:
            return json_response(
                error_body(f"Unrecognized request argument supplied: {k}", "invalid_request_error"), 400
            )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return json_response(
            error_body("you must provide a model parameter", "invalid_request_error", "model"), 400
        )
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return json_response(
            error_body("'messages' must be a non-empty array", "invalid_request_error", "messages"), 400
        )
    t = body.get("temperature")
    if t is not None and not (isinstance(t, int | float) and 0 <= t <= 2):
        return json_response(
            error_body(
                f"{t} is not a valid temperature (0 to 2)",
                "invalid_request_error",
                "temperature",
                "decimal_above_max_value",
            ),
            400,
        )
    n = body.get("n")
    if n is not None and not (isinstance(n, int) and 1 <= n <= 128):
        return json_response(error_body("n must be between 1 and 128", "invalid_request_error", "n"), 400)
    return None


def create_app(
    options: EmulatorOptions | None = None,
    models: dict[str, tuple[int, int | None, bool]] | None = None,
    accept_any_model: bool = True,
) -> EmulatorApp:
    """The ASGI app. ``accept_any_model`` answers for model names it does not know (a self-hosted
    server serving whatever it was started with); otherwise unknown models are 404."""
    opts = options or EmulatorOptions()
    table = dict(MODELS if models is None else models)
    app = EmulatorApp("openai_compat", opts)
    expected = DEFAULT_CREDENTIAL if opts.credential is None else opts.credential
    counter = {"n": 0}

    def auth_error(req: Request) -> Response | None:
        if not expected:
            return None
        got = req.header("authorization") or ""
        if got != f"Bearer {expected}":
            return json_response(
                error_body("Incorrect API key provided.", "invalid_request_error", None, "invalid_api_key"),
                401,
            )
        return None

    def model_info(name: str) -> tuple[int, int | None, bool] | None:
        if name in table:
            return table[name]
        return (131_072, 1024, False) if accept_any_model else None

    def scenario_response(scn: str | None) -> Response | None:
        if scn == "rate_limited":
            return json_response(
                error_body("Rate limit reached for requests", "requests", None, "rate_limit_exceeded"),
                429,
                [("retry-after", "1")],
            )
        if scn == "insufficient_quota":
            return json_response(
                error_body(
                    "You exceeded your current quota, please check your plan.",
                    "insufficient_quota",
                    None,
                    "insufficient_quota",
                ),
                429,
            )
        if scn == "bad_key":
            return json_response(
                error_body("Incorrect API key provided.", "invalid_request_error", None, "invalid_api_key"),
                401,
            )
        if scn == "filtered":
            return json_response(
                error_body(
                    "The response was filtered due to the prompt triggering the content management policy.",
                    "invalid_request_error",
                    "prompt",
                    "content_filter",
                ),
                400,
            )
        if scn == "server_error":
            return json_response(
                error_body("The server had an error while processing your request.", "server_error"), 500
            )
        if scn == "overloaded":
            return json_response(
                error_body("The engine is currently overloaded, please try again later", "server_error"),
                503,
                [("retry-after", "1")],
            )
        return None

    @app.route("GET", "/v1/models")
    async def list_models(req: Request) -> Response:
        if (e := auth_error(req)) is not None:
            return e
        return json_response(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 1715367049, "owned_by": "emulator"} for m in table
                ],
            }
        )

    @app.route("POST", "/v1/chat/completions")
    async def chat(req: Request) -> Response:
        if (e := auth_error(req)) is not None:
            return e
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            body = None
        if (bad := _validate(body, table)) is not None:
            return bad
        info = model_info(body["model"])
        if info is None:
            return json_response(
                error_body(
                    f"The model `{body['model']}` does not exist or you do not have access to it.",
                    "invalid_request_error",
                    None,
                    "model_not_found",
                ),
                404,
            )
        if body["model"] in table and info[1] is not None:
            return json_response(
                error_body(
                    "This is not a chat model and thus not supported in the v1/chat/completions endpoint.",
                    "invalid_request_error",
                    "model",
                    "model_not_supported",
                ),
                404,
            )
        g = gen_request(body, reasoning=info[2])
        texts = [t for _, t in g.messages]
        scn, arg = detect_scenario(texts, req.header("x-emulator-scenario"), opts.scenario)
        if (r := scenario_response(scn)) is not None:
            return r
        prompt_tokens = g.prompt_tokens
        limit = g.max_tokens or 0
        if prompt_tokens + limit > info[0]:
            return json_response(
                error_body(
                    f"This model's maximum context length is {info[0]} tokens. However, you requested "
                    f"{prompt_tokens + limit} tokens ({prompt_tokens} in the messages, "
                    f"{limit} in the completion). "
                    "Please reduce the length of the messages or completion.",
                    "invalid_request_error",
                    "messages",
                    "context_length_exceeded",
                ),
                400,
            )
        counter["n"] += 1
        rid = f"chatcmpl-emu{counter['n']:06d}"
        choices = generate(g)
        delay = (arg or opts.slow_first_byte) if scn == "slow_first_byte" else 0.0
        if scn == "hang":
            delay = 3600.0
        if not body.get("stream"):
            resp = json_response(completion_body(choices, body["model"], prompt_tokens, rid))
            resp.delay = delay
            return resp
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = chunk_events(choices, body["model"], prompt_tokens, rid, include_usage)
        return stream_response(_sse(events, delay, scn), delay=0)

    async def _sse(events: list[dict[str, Any]], delay: float, scn: str | None) -> AsyncIterator[bytes]:
        if delay:
            await asyncio.sleep(delay)
        cut = len(events) // 2 if scn in ("cut_stream", "filtered_midway") else -1
        for i, ev in enumerate(events):
            if i == cut:
                if scn == "filtered_midway":
                    yield (
                        b"data: "
                        + orjson.dumps(
                            error_body(
                                "Output data may contain inappropriate content.",
                                "invalid_request_error",
                                None,
                                "content_filter",
                            )
                        )
                        + b"\n\n"
                    )
                    return
                raise CutStream()
            yield b"data: " + orjson.dumps(ev) + b"\n\n"
        yield b"data: [DONE]\n\n"

    @app.route("POST", "/v1/embeddings")
    async def embeddings(req: Request) -> Response:
        if (e := auth_error(req)) is not None:
            return e
        body = req.json()
        inp = body.get("input")
        inputs = [inp] if isinstance(inp, str) else list(inp or [])
        if not inputs:
            return json_response(
                error_body("'input' must not be empty", "invalid_request_error", "input"), 400
            )
        info = model_info(body.get("model", ""))
        if info is None:
            return json_response(
                error_body("model not found", "invalid_request_error", None, "model_not_found"), 404
            )
        dim = int(body.get("dimensions") or info[1] or 1024)
        data = []
        tokens = 0
        for i, text in enumerate(inputs):
            s = text if isinstance(text, str) else " ".join(map(str, text))
            vec = embed(s, dim)
            tokens += max(1, len(s) // 3)
            if body.get("encoding_format") == "base64":
                emb: Any = base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode()
            else:
                emb = vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        return json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    return app


Factory = Callable[..., EmulatorApp]
