"""Emulator of Alibaba Cloud DashScope's native API (百炼), as the official ``dashscope`` SDK sees it.

Paths (account base ``ROOT/api/v1``): ``POST /api/v1/services/aigc/text-generation/generation``,
``POST /api/v1/services/aigc/multimodal-generation/generation`` (Qwen-VL) and
``POST /api/v1/services/embeddings/text-embedding/text-embedding``. Auth ``Authorization: Bearer <key>``
(``options.credential``: one key or several separated by commas; default ``sk-dashscope-emulator``);
a wrong key → 401 ``{"code": "InvalidApiKey", "message": "Invalid API-key provided.", "request_id"}``.

Streaming only with the header ``X-DashScope-SSE: enable``; frames ``id:N`` / ``event:result`` /
``:HTTP_STATUS/200`` / ``data:{json}``; ``finish_reason`` the string ``"null"`` until the end, cumulative
``usage`` on every event, no ``[DONE]``. With ``incremental_output`` false (the default) every event
carries the whole text so far, as DashScope does. Errors mid-stream: ``event:error`` + ``:HTTP_STATUS/400``
+ ``data:{"code", "message", "request_id"}``.

Validation like DashScope's: temperature outside [0, 2), top_p outside (0, 1], ``tool_choice: "required"``,
n outside [1, 4], thinking without streaming or without ``incremental_output``, a VL model on the text path
(``url error, please check url!``), too many embedding texts, a ``dimension`` the model lacks → 400
``InvalidParameter``; unknown model → 404 ``ModelNotFound``.

Scenarios: ``rate_limited`` → 429 ``Throttling.RateQuota``; ``insufficient_quota`` → 400 ``Arrearage``;
``bad_key`` → 401 ``InvalidApiKey``; ``filtered`` → 400 ``DataInspectionFailed`` (input);
``filtered_midway`` → partial text then an ``event:error`` ``DataInspectionFailed`` (output) frame;
``server_error`` → 500 ``InternalError``; ``overloaded`` → 503 ``ModelUnavailable``; ``cut_stream``,
``slow_first_byte``, ``hang``.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson

from ._asgi import CutStream, EmulatorApp, EmulatorOptions, Request, Response, json_response, stream_response
from ._engine import GenChoice, GenRequest, ToolDef, count_tokens, detect_scenario, embed, generate
from ._engine import split_for_stream as _split

__all__ = ["DEFAULT_KEY", "MODELS", "create_app"]

DEFAULT_KEY = "sk-dashscope-emulator"

# model → (context, kind): chat, thinking (hybrid: enable_thinking allowed), stream (stream-only
# reasoning), vl, embedding
MODELS: dict[str, tuple[int, str]] = {
    "qwen3-max": (262_144, "chat"),
    "qwen-plus": (131_072, "thinking"),
    "qwen-flash": (1_000_000, "thinking"),
    "qwen-turbo": (1_000_000, "thinking"),
    "qwq-plus": (131_072, "stream"),
    "qwen3-vl-plus": (262_144, "vl"),
    "qwen-vl-plus": (131_072, "vl"),
    "text-embedding-v4": (8192, "embedding"),
    "text-embedding-v3": (8192, "embedding"),
    "text-embedding-v2": (2048, "embedding"),
    "text-embedding-v1": (2048, "embedding"),
}
EMB_DIMS = {
    "text-embedding-v4": ((64, 128, 256, 512, 768, 1024, 1536, 2048), 1024, 10),
    "text-embedding-v3": ((64, 128, 256, 512, 768, 1024), 1024, 10),
    "text-embedding-v2": ((1536,), 1536, 25),
    "text-embedding-v1": ((1536,), 1536, 25),
}


def _err(status: int, code: str, message: str, rid: str) -> Response:
    return json_response({"code": code, "message": message, "request_id": rid}, status)


def _messages(msgs: Any, vl: bool) -> tuple[list[tuple[str, str]], int] | str:
    if not isinstance(msgs, list) or not msgs:
        return "Input should be a valid dictionary: input.messages is required"
    out: list[tuple[str, str]] = []
    images = 0
    asked_tools = False
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
            return "Role must be in [system, user, assistant, tool]"
        c = m.get("content")
        if isinstance(c, list):
            if not vl:
                return "Input should be a valid string: content"
            text = ""
            for item in c:
                if isinstance(item, dict) and "image" in item:
                    images += 1
                elif isinstance(item, dict) and "text" in item:
                    text += str(item["text"])
        elif isinstance(c, str) or (c is None and m.get("tool_calls")):
            text = c or ""
        else:
            return "Input should be a valid string: content"
        for t in m.get("tool_calls") or ():
            text += str((t.get("function") or {}).get("arguments") or "")
        asked_tools = asked_tools or bool(m.get("tool_calls"))
        if m["role"] == "tool" and not asked_tools:
            return 'messages with role "tool" must be a response to a preceeding message with "tool_calls".'
        out.append((m["role"], text))
    return out, images


def _validate(p: dict[str, Any], kind: str, stream: bool) -> str | None:
    t = p.get("temperature")
    if t is not None and not (isinstance(t, int | float) and 0 <= t < 2):
        return "Temperature should be in [0.0, 2.0)"
    tp = p.get("top_p")
    if tp is not None and not (isinstance(tp, int | float) and 0 < tp <= 1):
        return "Range of top_p should be (0.0, 1.0]"
    n = p.get("n")
    if n is not None and not (isinstance(n, int) and 1 <= n <= 4):
        return "Range of n should be [1, 4]"
    if p.get("tool_choice") == "required" or (
        isinstance(p.get("tool_choice"), str) and p["tool_choice"] not in ("auto", "none")
    ):
        return "tool_choice should be one of ['none', 'auto'] or a function object"
    mx = p.get("max_tokens")
    if mx is not None and not (isinstance(mx, int) and mx >= 1):
        return "Range of max_tokens should be [1, 65536]"
    thinking = p.get("enable_thinking")
    if kind == "stream":
        if not stream:
            return (
                "This model only support stream mode, please enable the stream parameter to access the model."
            )
        thinking = True
    if thinking:
        if kind not in ("thinking", "stream"):
            return "The model does not support enable_thinking"
        if not stream:
            return "parameter.enable_thinking must be set to false for non-streaming calls"
        if not p.get("incremental_output"):
            return 'The incremental_output parameter must be "true" when enable_thinking is true'
    return None


def _gen(p: dict[str, Any], msgs: list[tuple[str, str]], images: int, reasoning: bool) -> GenRequest:
    tools = [
        ToolDef(
            t["function"]["name"],
            t["function"].get("description") or "",
            t["function"].get("parameters") or {},
        )
        for t in p.get("tools") or ()
        if isinstance(t, dict) and t.get("type") == "function"
    ]
    tc = p.get("tool_choice")
    if isinstance(tc, dict):
        tc = (tc.get("function") or {}).get("name")
    rf = p.get("response_format") or {}
    schema = (rf.get("json_schema") or {}).get("schema") if rf.get("type") == "json_schema" else None
    stop = p.get("stop")
    return GenRequest(
        messages=msgs,
        max_tokens=p.get("max_tokens"),
        stop=[stop] if isinstance(stop, str) else [s for s in stop or () if isinstance(s, str)],
        n=int(p.get("n") or 1),
        tools=tools,
        tool_choice=tc,
        json_mode=rf.get("type") == "json_object",
        json_schema=schema,
        reasoning=reasoning,
        seed=p.get("seed"),
        images=images,
        parallel_tools=bool(p.get("parallel_tool_calls")),
    )


def _tool_calls(c: GenChoice, rid: str, i: int) -> list[dict[str, Any]]:
    return [
        {
            "index": j,
            "id": "call_" + hashlib.sha256(f"{rid}{i}{j}".encode()).hexdigest()[:22],
            "type": "function",
            "function": {"name": n, "arguments": a},
        }
        for j, (n, a) in enumerate(c.tool_calls)
    ]


def _usage(prompt: int, out: int, reasoning: int = 0) -> dict[str, Any]:
    u: dict[str, Any] = {"input_tokens": prompt, "output_tokens": out, "total_tokens": prompt + out}
    if reasoning:
        u["output_tokens_details"] = {"reasoning_tokens": reasoning}
    return u


def _frame(n: int, obj: dict[str, Any], event: str = "result", status: int = 200) -> bytes:
    return f"id:{n}\nevent:{event}\n:HTTP_STATUS/{status}\ndata:".encode() + orjson.dumps(obj) + b"\n\n"


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    opts = options or EmulatorOptions()
    keys = {k.strip() for k in (opts.credential or DEFAULT_KEY).split(",") if k.strip()}
    app = EmulatorApp("dashscope", opts)

    def auth(req: Request, rid: str) -> Response | None:
        h = req.header("authorization") or ""
        if not h.startswith("Bearer ") or h[7:].strip() not in keys:
            return _err(401, "InvalidApiKey", "Invalid API-key provided.", rid)
        return None

    def scenario_error(scn: str | None, rid: str) -> Response | None:
        table = {
            "rate_limited": (
                429,
                "Throttling.RateQuota",
                "Requests rate limit exceeded, please try again later.",
            ),
            "insufficient_quota": (
                400,
                "Arrearage",
                "Access denied, please make sure your account is in good standing.",
            ),
            "bad_key": (401, "InvalidApiKey", "Invalid API-key provided."),
            "filtered": (400, "DataInspectionFailed", "Input data may contain inappropriate content."),
            "server_error": (500, "InternalError", "An internal error has occured, please try again later."),
            "overloaded": (503, "ModelUnavailable", "Model is unavailable, please try again later."),
        }
        if scn in table:
            s, c, m = table[scn]
            return _err(s, c, m, rid)
        return None

    async def generation(req: Request, multimodal: bool) -> Response:
        rid = str(uuid.uuid4())
        if (e := auth(req, rid)) is not None:
            return e
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
            return _err(400, "InvalidParameter", "Input should be a valid dictionary", rid)
        model = body.get("model")
        info = MODELS.get(model) if isinstance(model, str) else None
        if info is None or info[1] == "embedding":
            return _err(404, "ModelNotFound", "Model not exist.", rid)
        kind = info[1]
        if (kind == "vl") != multimodal:
            return _err(400, "InvalidParameter", "url error, please check url!", rid)
        stream = (req.header("x-dashscope-sse") or "").lower() == "enable"
        p = body.get("parameters") or {}
        if (bad := _validate(p, kind, stream)) is not None:
            return _err(400, "InvalidParameter", bad, rid)
        inp = body["input"]
        msgs_in = list(inp.get("messages") or ())
        if isinstance(inp.get("prompt"), str):  # legacy form: appended as a user turn
            msgs_in.append({"role": "user", "content": inp["prompt"]})
        parsed = _messages(msgs_in, kind == "vl")
        if isinstance(parsed, str):
            return _err(400, "InvalidParameter", parsed, rid)
        msgs, images = parsed
        thinking = kind == "stream" or bool(p.get("enable_thinking"))
        g = _gen(p, msgs, images, thinking)
        scn, arg = detect_scenario([t for _, t in msgs], req.header("x-emulator-scenario"), opts.scenario)
        if (r := scenario_error(scn, rid)) is not None:
            return r
        prompt = g.prompt_tokens
        if prompt > info[0]:
            return _err(400, "InvalidParameter", f"Range of input length should be [1, {info[0]}]", rid)
        choices = generate(g)
        delay = (
            3600.0 if scn == "hang" else (arg or opts.slow_first_byte if scn == "slow_first_byte" else 0.0)
        )
        message_format = p.get("result_format") == "message" or kind in ("stream", "vl")
        if not stream:
            if scn == "filtered_midway":
                return _err(
                    400, "DataInspectionFailed", "Output data may contain inappropriate content.", rid
                )
            resp = json_response(_answer(choices, rid, prompt, message_format, kind == "vl"))
            resp.delay = delay
            return resp
        return stream_response(
            _events(choices, rid, prompt, bool(p.get("incremental_output")), message_format, delay, scn),
            content_type="text/event-stream;charset=UTF-8",
            headers=[("x-dashscope-call-gateway", "true")],
        )

    def _answer(
        choices: list[GenChoice], rid: str, prompt: int, message_format: bool, vl: bool
    ) -> dict[str, Any]:
        completion = sum(c.completion_tokens for c in choices)
        reasoning = sum(count_tokens(c.reasoning or "") for c in choices)
        if not message_format:
            c = choices[0]
            return {
                "output": {"text": c.text, "finish_reason": c.finish},
                "usage": _usage(prompt, completion),
                "request_id": rid,
            }
        out = []
        for i, c in enumerate(choices):
            msg: dict[str, Any] = {"role": "assistant", "content": [{"text": c.text}] if vl else c.text}
            if c.tool_calls:
                msg["tool_calls"] = _tool_calls(c, rid, i)
            item: dict[str, Any] = {"finish_reason": c.finish, "message": msg}
            if len(choices) > 1:
                item["index"] = i
            out.append(item)
        return {"output": {"choices": out}, "usage": _usage(prompt, completion, reasoning), "request_id": rid}

    async def _events(
        choices: list[GenChoice],
        rid: str,
        prompt: int,
        incremental: bool,
        message_format: bool,
        delay: float,
        scn: str | None,
    ) -> AsyncIterator[bytes]:
        if delay:
            await asyncio.sleep(delay)
        frames: list[dict[str, Any]] = []
        used = 0
        for i, c in enumerate(choices):
            acc = ""
            pieces: list[tuple[str, str]] = [("r", s) for s in _split(c.reasoning or "")]
            pieces += [("c", s) for s in _split(c.text)]
            if scn == "filtered_midway":
                pieces = pieces[: max(1, len(pieces) // 2)]
            for k, (what, piece) in enumerate(pieces):
                used += count_tokens(piece)
                acc += piece if what == "c" else ""
                last = k == len(pieces) - 1 and not c.tool_calls and scn != "filtered_midway"
                content = (piece if incremental else acc) if what == "c" else ""
                m: dict[str, Any] = {"role": "assistant", "content": content}
                if what == "r":
                    m["reasoning_content"] = piece
                item: dict[str, Any] = {"message": m, "finish_reason": c.finish if last else "null"}
                if len(choices) > 1:
                    item["index"] = i
                frames.append(
                    {"output": {"choices": [item]}, "usage": _usage(prompt, used), "request_id": rid}
                )
            for tc in _tool_calls(c, rid, i) if c.tool_calls else ():
                args = tc["function"]["arguments"]
                half = len(args) // 2
                head = dict(tc, function={"name": tc["function"]["name"], "arguments": args[:half]})
                tail = {"index": tc["index"], "function": {"arguments": args[half:]}}
                for part in (head, tail):
                    used += 2
                    m = {"role": "assistant", "content": "", "tool_calls": [part]}
                    frames.append(
                        {
                            "output": {"choices": [{"message": m, "finish_reason": "null"}]},
                            "usage": _usage(prompt, used),
                        }
                    )
                    frames[-1]["request_id"] = rid
            if c.tool_calls:
                m = {"role": "assistant", "content": ""}
                frames.append(
                    {
                        "output": {"choices": [{"message": m, "finish_reason": "tool_calls"}]},
                        "usage": _usage(prompt, used),
                        "request_id": rid,
                    }
                )
        if not message_format and frames:
            frames = [
                {
                    "output": {
                        "text": f["output"]["choices"][0]["message"]["content"],
                        "finish_reason": f["output"]["choices"][0]["finish_reason"],
                    },
                    "usage": f["usage"],
                    "request_id": rid,
                }
                for f in frames
            ]
        total = sum(c.completion_tokens for c in choices)
        if frames and scn != "filtered_midway":
            reasoning = sum(count_tokens(c.reasoning or "") for c in choices)
            frames[-1]["usage"] = _usage(prompt, total, reasoning)
        cut = len(frames) // 2 if scn == "cut_stream" else -1
        n = 0
        for j, f in enumerate(frames):
            if j == cut:
                raise CutStream()
            n += 1
            yield _frame(n, f)
        if scn == "filtered_midway":
            err = {
                "code": "DataInspectionFailed",
                "message": "Output data may contain inappropriate content.",
                "request_id": rid,
            }
            yield _frame(n + 1, err, "error", 400)

    @app.route("POST", "/api/v1/services/aigc/text-generation/generation")
    async def text_generation(req: Request) -> Response:
        return await generation(req, False)

    @app.route("POST", "/api/v1/services/aigc/multimodal-generation/generation")
    async def multimodal_generation(req: Request) -> Response:
        return await generation(req, True)

    @app.route("POST", "/api/v1/services/embeddings/text-embedding/text-embedding")
    async def embeddings(req: Request) -> Response:
        rid = str(uuid.uuid4())
        if (e := auth(req, rid)) is not None:
            return e
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return _err(400, "InvalidParameter", "Input should be a valid dictionary", rid)
        model = body.get("model")
        if model not in EMB_DIMS:
            return _err(404, "ModelNotFound", "Model not exist.", rid)
        dims, default, batch = EMB_DIMS[model]
        texts = (body.get("input") or {}).get("texts")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            return _err(400, "InvalidParameter", "input.texts should be a non-empty array of strings", rid)
        if len(texts) > batch:
            return _err(
                400, "InvalidParameter", f"batch size is invalid, it should not be larger than {batch}.", rid
            )
        dim = (body.get("parameters") or {}).get("dimension") or default
        if dim not in dims:
            return _err(400, "InvalidParameter", f"Dimension should be one of {list(dims)}", rid)
        scn, _ = detect_scenario(texts, req.header("x-emulator-scenario"), opts.scenario)
        if (r := scenario_error(scn, rid)) is not None:
            return r
        items = [{"text_index": i, "embedding": embed(t, dim)} for i, t in enumerate(texts)]
        tokens = sum(max(count_tokens(t), 1) for t in texts)
        return json_response(
            {"output": {"embeddings": items}, "usage": {"total_tokens": tokens}, "request_id": rid}
        )

    return app
