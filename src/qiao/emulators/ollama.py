"""Emulator of an Ollama server's native API, as the official ``ollama`` Python client sees it.

Paths (account base = the root, like ``http://127.0.0.1:11434``): ``GET /`` ("Ollama is running"),
``GET /api/version``, ``GET /api/tags``, ``POST /api/show``, ``POST /api/chat`` (NDJSON stream unless
``"stream": false`` — the default is true), ``POST /api/embed`` and the legacy ``POST /api/embeddings``.
No auth, as in Ollama (``options.credential`` is ignored).

Models pulled: ``qwen3:8b`` (tools, thinking), ``llama3.2:3b`` (tools), ``llava:7b`` (images, no tools),
``nomic-embed-text`` (768-d) and ``bge-m3`` (1024-d). Like Ollama: an unknown model → 404 ``{"error":
"model \\"x\\" not found, try pulling it first"}``; tools to a model without them, ``think`` to a model
without thinking, chat with an embedding model, tool-call ``arguments`` that are not an object → 400.

Scenarios (Ollama has no rate limits, keys, quotas or content filter, so those render as what a proxy in
front of it would answer): ``rate_limited`` → 429 ``{"error": "too many requests"}``; ``bad_key`` → 401
``{"error": "unauthorized"}``; ``overloaded`` → 503 ``server busy``; ``server_error`` → 500 runner
failure; ``filtered``/``insufficient_quota`` → 403 from the proxy; ``filtered_midway`` → an ``{"error"}``
line mid-stream; ``cut_stream``, ``slow_first_byte``, ``hang``.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson

from ._asgi import (
    CutStream,
    EmulatorApp,
    EmulatorOptions,
    Request,
    Response,
    json_response,
    stream_response,
    text_response,
)
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

__all__ = ["MODELS", "create_app"]

# name → (kind, dimension): kind is tools+think, tools, vision or embedding
MODELS: dict[str, tuple[str, int]] = {
    "qwen3:8b": ("think", 0),
    "llama3.2:3b": ("tools", 0),
    "llava:7b": ("vision", 0),
    "nomic-embed-text": ("embedding", 768),
    "bge-m3": ("embedding", 1024),
}
_FAMILY = {"qwen3:8b": "qwen3", "llama3.2:3b": "llama", "llava:7b": "llama", "nomic-embed-text": "nomic-bert"}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _err(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def _find(name: Any) -> tuple[str, tuple[str, int]] | None:
    if not isinstance(name, str):
        return None
    for key in (name, name + ":latest" if ":" not in name else name):
        if key in MODELS:
            return key, MODELS[key]
    if name.endswith(":latest") and name[:-7] in MODELS:
        return name[:-7], MODELS[name[:-7]]
    return None


def _messages(msgs: Any, kind: str) -> tuple[list[tuple[str, str]], int] | str:
    if not isinstance(msgs, list):
        return "messages must be an array"
    out: list[tuple[str, str]] = []
    images = 0
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
            return f"invalid role: {m.get('role') if isinstance(m, dict) else m!r}"
        c = m.get("content") or ""
        if not isinstance(c, str):
            return "json: cannot unmarshal array into Go struct field Message.messages.content of type string"
        for img in m.get("images") or ():
            try:
                base64.b64decode(img, validate=True)
            except ValueError:
                return "illegal base64 data at input byte 0"
            images += 1
        for t in m.get("tool_calls") or ():
            args = (t.get("function") or {}).get("arguments")
            if not isinstance(args, dict):
                return (
                    "json: cannot unmarshal string into Go struct field ToolCallFunction.messages.tool_calls."
                    "function.arguments of type api.ToolCallFunctionArguments"
                )
            c += orjson.dumps(args).decode()
        out.append((m["role"], c))
    if images and kind != "vision":
        images = 0  # Ollama ignores images for text-only models
    return out, images


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    opts = options or EmulatorOptions()
    app = EmulatorApp("ollama", opts)

    def scenario_error(scn: str | None) -> Response | None:
        table = {
            "rate_limited": (429, "too many requests"),
            "bad_key": (401, "unauthorized"),
            "insufficient_quota": (403, "forbidden: quota exhausted at the proxy"),
            "filtered": (403, "forbidden: blocked by the proxy's content policy"),
            "overloaded": (503, "server busy, please try again.  maximum pending requests exceeded"),
            "server_error": (500, "llama runner process has terminated: exit status 2"),
        }
        if scn in table:
            return _err(*table[scn])
        return None

    @app.route("GET", "/")
    async def root(req: Request) -> Response:
        return text_response("Ollama is running")

    @app.route("GET", "/api/version")
    async def version(req: Request) -> Response:
        return json_response({"version": "0.12.0"})

    @app.route("GET", "/api/tags")
    async def tags(req: Request) -> Response:
        listing = [
            {
                "name": name,
                "model": name,
                "modified_at": "2026-11-01T08:00:00Z",
                "size": 4_700_000_000 if kind != "embedding" else 274_000_000,
                "digest": orjson.dumps(name).hex()[:64].ljust(64, "0"),
                "details": {
                    "format": "gguf",
                    "family": _FAMILY.get(name, "bert"),
                    "parameter_size": name.rsplit(":", 1)[-1].upper() if ":" in name else "137M",
                    "quantization_level": "Q4_K_M",
                },
            }
            for name, (kind, _) in MODELS.items()
        ]
        return json_response({"models": listing})

    @app.route("POST", "/api/show")
    async def show(req: Request) -> Response:
        body = req.json() or {}
        found = _find(body.get("model") or body.get("name"))
        if found is None:
            return _err(404, f"model '{body.get('model')}' not found")
        kind = found[1][0]
        caps = {
            "embedding": ["embedding"],
            "vision": ["completion", "vision"],
            "tools": ["completion", "tools"],
        }
        return json_response(
            {
                "modelfile": f"FROM {found[0]}",
                "details": {"format": "gguf", "family": _FAMILY.get(found[0], "bert")},
                "capabilities": caps.get(kind, ["completion", "tools", "thinking"]),
            }
        )

    @app.route("POST", "/api/chat")
    async def chat(req: Request) -> Response:
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return _err(400, "invalid request body")
        found = _find(body.get("model"))
        if found is None:
            return _err(404, f'model "{body.get("model")}" not found, try pulling it first')
        name, (kind, _) = found
        if kind == "embedding":
            return _err(400, f'"{name}" does not support chat')
        if body.get("tools") and kind not in ("tools", "think"):
            return _err(400, f"registry.ollama.ai/library/{name} does not support tools")
        think = body.get("think")
        if think and kind != "think":
            return _err(400, f'"{name}" does not support thinking')
        parsed = _messages(body.get("messages"), kind)
        if isinstance(parsed, str):
            return _err(400, parsed)
        msgs, images = parsed
        o = body.get("options") or {}
        fmt = body.get("format")
        tools = [
            ToolDef(
                t["function"]["name"],
                t["function"].get("description") or "",
                t["function"].get("parameters") or {},
            )
            for t in body.get("tools") or ()
            if isinstance(t, dict) and isinstance(t.get("function"), dict)
        ]
        stop = o.get("stop")
        g = GenRequest(
            messages=msgs,
            max_tokens=o.get("num_predict")
            if isinstance(o.get("num_predict"), int) and o["num_predict"] > 0
            else None,
            stop=[stop] if isinstance(stop, str) else list(stop or ()),
            tools=tools,
            json_mode=fmt == "json",
            json_schema=fmt if isinstance(fmt, dict) else None,
            reasoning=bool(think) or (think is None and kind == "think"),
            seed=o.get("seed"),
            images=images,
        )
        scn, arg = detect_scenario([t for _, t in msgs], req.header("x-emulator-scenario"), opts.scenario)
        if (r := scenario_error(scn)) is not None:
            return r
        if not msgs:  # an empty request loads the model
            return json_response(
                {
                    "model": name,
                    "created_at": _now(),
                    "message": {"role": "assistant", "content": ""},
                    "done": True,
                    "done_reason": "load",
                }
            )
        c = generate(g)[0]
        delay = (
            3600.0 if scn == "hang" else (arg or opts.slow_first_byte if scn == "slow_first_byte" else 0.0)
        )
        prompt = g.prompt_tokens
        if body.get("stream", True) is False:
            msg: dict[str, Any] = {"role": "assistant", "content": c.text}
            if c.reasoning:
                msg["thinking"] = c.reasoning
            if c.tool_calls:
                msg["tool_calls"] = [_tool(n, a, i) for i, (n, a) in enumerate(c.tool_calls)]
            resp = json_response(_final(name, msg, c, prompt))
            resp.delay = delay
            return resp
        return stream_response(_lines(name, c, prompt, delay, scn), content_type="application/x-ndjson")

    def _tool(name: str, args: str, i: int) -> dict[str, Any]:
        return {"function": {"index": i, "name": name, "arguments": orjson.loads(args)}}

    def _final(name: str, msg: dict[str, Any], c: GenChoice, prompt: int) -> dict[str, Any]:
        return {
            "model": name,
            "created_at": _now(),
            "message": msg,
            "done": True,
            "done_reason": "length" if c.finish == "length" else "stop",
            "total_duration": 812_000_000,
            "load_duration": 1_200_000,
            "prompt_eval_count": prompt,
            "prompt_eval_duration": 40_000_000,
            "eval_count": c.completion_tokens,
            "eval_duration": 90_000_000,
        }

    async def _lines(
        name: str, c: GenChoice, prompt: int, delay: float, scn: str | None
    ) -> AsyncIterator[bytes]:
        if delay:
            await asyncio.sleep(delay)
        frames: list[dict[str, Any]] = []
        for piece in split_for_stream(c.reasoning or ""):
            frames.append({"role": "assistant", "content": "", "thinking": piece})
        for piece in split_for_stream(c.text):
            frames.append({"role": "assistant", "content": piece})
        if c.tool_calls:
            frames.append(
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [_tool(n, a, i) for i, (n, a) in enumerate(c.tool_calls)],
                }
            )
        cut = len(frames) // 2 if scn in ("cut_stream", "filtered_midway") else -1
        for j, m in enumerate(frames):
            if j == cut:
                if scn == "filtered_midway":
                    yield (
                        orjson.dumps(
                            {"error": "an error was encountered while running the model: unexpected EOF"}
                        )
                        + b"\n"
                    )
                    return
                raise CutStream()
            yield orjson.dumps({"model": name, "created_at": _now(), "message": m, "done": False}) + b"\n"
        yield orjson.dumps(_final(name, {"role": "assistant", "content": ""}, c, prompt)) + b"\n"

    async def _embed(req: Request, legacy: bool) -> Response:
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return _err(400, "invalid request body")
        found = _find(body.get("model"))
        if found is None:
            return _err(404, f'model "{body.get("model")}" not found, try pulling it first')
        name, (kind, dim) = found
        if kind != "embedding":
            return _err(400, f'"{name}" does not support embeddings')
        inp = body.get("prompt") if legacy else body.get("input")
        texts = [inp] if isinstance(inp, str) else inp
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return _err(400, "invalid input type")
        scn, _ = detect_scenario(texts, req.header("x-emulator-scenario"), opts.scenario)
        if (r := scenario_error(scn)) is not None:
            return r
        d: int = body["dimensions"] if isinstance(body.get("dimensions"), int) else dim
        vecs = [embed(t, min(d, dim)) for t in texts]
        if legacy:
            return json_response({"embedding": vecs[0] if vecs else []})
        tokens = sum(max(count_tokens(t), 1) for t in texts)
        return json_response(
            {
                "model": name,
                "embeddings": vecs,
                "total_duration": 14_000_000,
                "load_duration": 1_000_000,
                "prompt_eval_count": tokens,
            }
        )

    @app.route("POST", "/api/embed")
    async def embed_route(req: Request) -> Response:
        return await _embed(req, False)

    @app.route("POST", "/api/embeddings")
    async def embeddings_legacy(req: Request) -> Response:
        return await _embed(req, True)

    return app
