"""Emulator of Zhipu's BigModel open platform, API v4 (``/api/paas/v4``).

Paths: ``POST /api/paas/v4/chat/completions`` (JSON, or SSE with ``stream: true``) and
``POST /api/paas/v4/embeddings``.

Auth, as the platform does it (seed-four.md §2.2, zhipuai 2.1.5): ``Authorization: Bearer <id>.<secret>``
(the plain key), or ``Bearer <JWT>`` signed HS256 with the secret, payload ``api_key`` = id and ``exp`` /
``timestamp`` in milliseconds (a token whose ``exp`` is in seconds is therefore already expired). The
bare token without ``Bearer`` is accepted too (one-api sends it so). Refusals are HTTP 401 with the
1000-series codes: 1001 no header, 1002 malformed token or unknown key, 1003 expired, 1004 bad signature.

Bodies: explicit ``null`` for any field means "not sent" (the official SDK always sends
``"response_format": null`` and ``"thinking": null``). Validation follows the documented rules, each
refusal an HTTP 400 ``{"error": {"code": "<string>", "message": …}}``: unknown model 1211, a chat call to
an embedding model 1212, missing field 1213, bad field 1214 (temperature outside [0, 1], top_p outside
(0, 1], more than one stop sequence, ``user_id`` not 6–128 characters, ``tool_choice`` other than
``auto``, more than 128 tools, a conversation of only system/assistant messages, content parts for a
text model, …), duplicate ``request_id`` 1231, prompt too long 1261 [code UNCERTAIN]. Vision models take
``image_url`` parts with a URL or *bare* base64 (a ``data:`` URI is refused [UNCERTAIN: the official SDK
strips the prefix, which suggests the platform does not take it]); GLM-4V-Flash takes one image, by URL.

Answers: no ``object`` field; ``request_id``; ``reasoning_content`` for thinking models unless
``thinking.type`` is ``disabled``; a ``web_search`` array when the ``web_search`` tool is on. Streams are
``data: {chunk}`` events where every delta carries ``role``, a tool call arrives whole in one delta
(incrementally with ``tool_stream``), the last chunk carries the last piece, the ``finish_reason`` and
``usage``, then ``data: [DONE]``.

Fault scenarios (``_engine``) in Zhipu's vocabulary: ``rate_limited`` 429 1302, ``overloaded`` 429 1305,
``insufficient_quota`` 429 1113, ``bad_key`` 401 1002, ``filtered`` 400 1301, ``filtered_midway`` a
stream ending with ``finish_reason: "sensitive"`` (400 1301 without streaming), ``server_error`` 500
code "500", ``cut_stream``, ``slow_first_byte``, ``hang``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
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

__all__ = ["DEFAULT_CREDENTIAL", "MODELS", "create_app"]

DEFAULT_CREDENTIAL = "emulatorid.emulatorsecret"


@dataclass(frozen=True, slots=True)
class _Model:
    kind: str  # text | think | vision | embed
    context: int = 128_000
    max_output: int = 4096
    dimensions: tuple[int, ...] = ()


MODELS: dict[str, _Model] = {
    "glm-4-plus": _Model("text"),
    "glm-4-0520": _Model("text"),
    "glm-4": _Model("text"),
    "glm-4-air": _Model("text"),
    "glm-4-air-250414": _Model("text", max_output=16_384),
    "glm-4-airx": _Model("text", context=8192),
    "glm-4-long": _Model("text", context=1_000_000),
    "glm-4-flash": _Model("text"),
    "glm-4-flash-250414": _Model("text", max_output=16_384),
    "glm-4-flashx": _Model("text"),
    "glm-4-flashx-250414": _Model("text", max_output=16_384),
    "glm-4v-plus": _Model("vision", context=8192, max_output=1024),
    "glm-4v-flash": _Model("vision", context=8192, max_output=1024),
    "glm-4.5": _Model("think", max_output=98_304),
    "glm-4.6": _Model("think", context=200_000, max_output=131_072),
    "embedding-2": _Model("embed", context=512, dimensions=(1024,)),
    "embedding-3": _Model("embed", context=3072, dimensions=(2048, 1024, 512, 256)),
}

_JSON = "application/json; charset=UTF-8"
_SSE = "text/event-stream;charset=UTF-8"

_MSG = {
    "1001": "Header中未收到Authorization参数，无法进行身份验证。",
    "1002": "Authorization Token非法，请确认Authorization Token正确传递。",
    "1003": "Authorization Token已过期，请重新生成/获取。",
    "1004": "Authorization Token认证失败，请确认Authorization Token正确。",
    "1113": "您的账户已欠费，请充值后重试。",
    "1211": "模型不存在，请检查模型代码。",
    "1301": (
        "系统检测到输入或生成内容可能包含不安全或敏感内容，请您避免输入易产生敏感内容的提示语，感谢您的配合。"
    ),
    "1302": "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。",
    "1305": "当前API请求过多，请稍后重试。",
    "500": "Internal Error",
}


def error_body(code: str, message: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message or _MSG.get(code, "")}}


def _err(status: int, code: str, message: str | None = None) -> Response:
    return json_response(error_body(code, message), status, content_type=_JSON)


def _bad(field_: str, why: str = "") -> Response:
    return _err(400, "1214", f"{field_}参数非法。请检查文档。" + (f"（{why}）" if why else ""))


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def check_auth(header: str | None, credential: str, now_ms: int | None = None) -> Response | None:
    """None when the Authorization header is acceptable, else Zhipu's 401 answer."""
    if not credential:
        return None
    if not header:
        return _err(401, "1001")
    token = header[7:].strip() if header[:7].lower() == "bearer " else header.strip()
    if hmac.compare_digest(token.encode(), credential.encode()):
        return None
    api_id, _, secret = credential.partition(".")
    parts = token.split(".")
    if len(parts) != 3 or not secret:
        return _err(401, "1002")
    try:
        head = json.loads(_b64url_decode(parts[0]))
        payload = json.loads(_b64url_decode(parts[1]))
        sig = _b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        return _err(401, "1002")
    if not isinstance(head, dict) or not isinstance(payload, dict) or head.get("alg") != "HS256":
        return _err(401, "1002")
    if payload.get("api_key") != api_id or not isinstance(payload.get("exp"), int):
        return _err(401, "1002")
    want = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(want, sig):
        return _err(401, "1004")
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if payload["exp"] <= now_ms:
        return _err(401, "1003")
    return None


def _scenario_response(scn: str | None) -> Response | None:
    if scn == "rate_limited":
        return _err(429, "1302")
    if scn == "overloaded":
        return _err(429, "1305")
    if scn == "insufficient_quota":
        return _err(429, "1113")
    if scn == "bad_key":
        return _err(401, "1002")
    if scn == "filtered":
        return _err(400, "1301")
    if scn == "server_error":
        return _err(500, "500")
    return None


_Texts = tuple[list[tuple[str, str]], int, Response | None]


def _texts(messages: list[dict[str, Any]], model: _Model) -> _Texts:
    out: list[tuple[str, str]] = []
    images = 0
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
            return [], 0, _bad("messages", "role")
        c = m.get("content")
        if isinstance(c, list):
            if model.kind != "vision":
                return [], 0, _bad("messages", "content must be a string for this model")
            texts = []
            for p in c:
                if not isinstance(p, dict):
                    return [], 0, _bad("messages")
                if p.get("type") == "text":
                    texts.append(str(p.get("text") or ""))
                elif p.get("type") == "image_url":
                    url = str((p.get("image_url") or {}).get("url") or "")
                    if not url or url.startswith("data:"):
                        return [], 0, _err(400, "1210", "图片输入格式/解析错误")
                    images += 1
                else:
                    return [], 0, _bad("messages", f"content type {p.get('type')}")
            text = "".join(texts)
        elif c is None:
            if m["role"] != "assistant" or not m.get("tool_calls"):
                return [], 0, _bad("messages", "content")
            text = ""
        elif isinstance(c, str):
            text = c
        else:
            return [], 0, _bad("messages", "content")
        for t in m.get("tool_calls") or []:
            text += str((t.get("function") or {}).get("arguments") or "")
        out.append((m["role"], text))
    return out, images, None


def _validate(body: dict[str, Any], seen_ids: set[str]) -> Response | None:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return _err(400, "1213", "messages参数未正常接收。")
    if not any(isinstance(m, dict) and m.get("role") in ("user", "tool") for m in msgs):
        return _bad("messages", "不能只包含system或assistant消息")
    t = body.get("temperature")
    if t is not None and not (isinstance(t, int | float) and not isinstance(t, bool) and 0 <= t <= 1):
        return _bad("temperature", "取值范围[0.0, 1.0]")
    p = body.get("top_p")
    if p is not None and not (isinstance(p, int | float) and not isinstance(p, bool) and 0 < p <= 1):
        return _bad("top_p", "取值范围(0.0, 1.0]")
    ds = body.get("do_sample")
    if ds is not None and not isinstance(ds, bool):
        return _bad("do_sample")
    mt = body.get("max_tokens")
    if mt is not None and not (isinstance(mt, int) and not isinstance(mt, bool) and 1 <= mt):
        return _bad("max_tokens")
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str)
        or (isinstance(stop, list) and len(stop) <= 1 and all(isinstance(s, str) for s in stop))
    ):
        return _bad("stop", "仅支持单个停止词")
    uid = body.get("user_id")
    if uid is not None and not (isinstance(uid, str) and 6 <= len(uid) <= 128):
        return _bad("user_id", "长度要求最少6个字符，最多128个字符")
    rid = body.get("request_id")
    if rid is not None:
        if not isinstance(rid, str) or not rid:
            return _bad("request_id")
        if rid in seen_ids:
            return _err(400, "1231", f"您当前已有请求：{rid}")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or len(tools) > 128:
            return _bad("tools")
        for tool in tools:
            typ = tool.get("type") if isinstance(tool, dict) else None
            if typ not in ("function", "web_search", "retrieval", "mcp"):
                return _bad("tools", f"type {typ}")
            if typ == "function" and not (tool.get("function") or {}).get("name"):
                return _err(400, "1213", "tools.function.name参数未正常接收。")
    tc = body.get("tool_choice")
    if tc is not None and tc != "auto":
        return _bad("tool_choice", "仅支持auto")
    rf = body.get("response_format")
    if rf is not None and not (isinstance(rf, dict) and rf.get("type") in ("text", "json_object")):
        return _bad("response_format")
    th = body.get("thinking")
    if th is not None and not (isinstance(th, dict) and th.get("type") in ("enabled", "disabled")):
        return _bad("thinking")
    if body.get("stream") is not None and not isinstance(body.get("stream"), bool):
        return _bad("stream")
    return None


def _rid() -> str:
    salt = hashlib.sha256(str(time.perf_counter_ns()).encode()).hexdigest()[:18]
    return time.strftime("%Y%m%d%H%M%S") + salt


def _call_id(name: str, args: str, i: int) -> str:
    return "call_" + str(int(hashlib.sha256(f"{name}{args}{i}".encode()).hexdigest()[:15], 16))


def _usage(prompt: int, choice: GenChoice) -> dict[str, Any]:
    c = choice.completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": c,
        "total_tokens": prompt + c,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def _web_search(query: str) -> list[dict[str, Any]]:
    return [
        {
            "icon": "",
            "title": f"关于「{query[:20]}」的搜索结果",
            "link": "https://example.com/search/1",
            "media": "emulator",
            "content": query[:100],
            "refer": "ref_1",
        }
    ]


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    opts = options or EmulatorOptions()
    app = EmulatorApp("zhipu", opts)
    credential = DEFAULT_CREDENTIAL if opts.credential is None else opts.credential
    seen_ids: set[str] = set()

    def parse(req: Request) -> dict[str, Any] | Response:
        if (e := check_auth(req.header("authorization"), credential)) is not None:
            return e
        try:
            raw = req.json()
        except orjson.JSONDecodeError:
            raw = None
        if not isinstance(raw, dict):
            return _err(400, "1210", "API 调用参数有误，请检查文档。")
        body = {k: v for k, v in raw.items() if v is not None}  # explicit null = not sent
        if not isinstance(body.get("model"), str) or not body["model"]:
            return _err(400, "1213", "model参数未正常接收。")
        return body

    @app.route("POST", "/api/paas/v4/chat/completions")
    async def chat(req: Request) -> Response:
        body = parse(req)
        if isinstance(body, Response):
            return body
        name = body["model"]
        model = MODELS.get(name)
        if model is None:
            return _err(400, "1211")
        if model.kind == "embed":
            return _err(400, "1212", f"当前模型不支持chat/completions调用方式: {name}")
        if (bad := _validate(body, seen_ids)) is not None:
            return bad
        msgs, images, bad = _texts(body["messages"], model)
        if bad is not None:
            return bad
        if name == "glm-4v-flash" and images > 1:
            return _err(400, "1210", "glm-4v-flash 仅支持单张图片")
        if name == "glm-4v-flash" and any(
            not str((p.get("image_url") or {}).get("url", "")).startswith(("http://", "https://"))
            for m in body["messages"]
            if isinstance(m.get("content"), list)
            for p in m["content"]
            if p.get("type") == "image_url"
        ):
            return _err(400, "1210", "glm-4v-flash 不支持base64图片")
        scn, arg = detect_scenario([t for _, t in msgs], req.header("x-emulator-scenario"), opts.scenario)
        if (r := _scenario_response(scn)) is not None:
            return r
        if scn == "filtered_midway" and not body.get("stream"):
            return _err(400, "1301")
        tools = [
            ToolDef(
                t["function"]["name"],
                t["function"].get("description") or "",
                t["function"].get("parameters") or {},
            )
            for t in body.get("tools") or []
            if t.get("type") == "function"
        ]
        searching = any(
            t.get("type") == "web_search" and (t.get("web_search") or {}).get("enable", True) is not False
            for t in body.get("tools") or []
        )
        stop = body.get("stop")
        thinking = model.kind == "think" and (body.get("thinking") or {}).get("type") != "disabled"
        g = GenRequest(
            msgs,
            max_tokens=body.get("max_tokens"),
            stop=[stop] if isinstance(stop, str) else list(stop or []),
            tools=tools,
            tool_choice=None,
            json_mode=(body.get("response_format") or {}).get("type") == "json_object",
            reasoning=thinking,
            seed=body.get("seed"),
            images=images,
        )
        prompt = g.prompt_tokens
        if prompt + (g.max_tokens or 0) > model.context:
            return _err(
                400, "1261", f"Prompt tokens too long: {prompt} + {g.max_tokens or 0} > {model.context}"
            )
        if "request_id" in body:
            seen_ids.add(body["request_id"])
        choice = generate(g)[0]
        rid = _rid()
        delay = (arg or opts.slow_first_byte) if scn == "slow_first_byte" else 0.0
        if scn == "hang":
            delay = 3600.0
        extra: dict[str, Any] = {}
        if searching:
            extra["web_search"] = _web_search(g.last("user")[1])
        if not body.get("stream"):
            msg: dict[str, Any] = {
                "content": choice.text if not choice.tool_calls else None,
                "role": "assistant",
            }
            if choice.reasoning is not None:
                msg["reasoning_content"] = choice.reasoning
            if choice.tool_calls:
                msg["tool_calls"] = [
                    {
                        "function": {"arguments": a, "name": n},
                        "id": _call_id(n, a, j),
                        "index": j,
                        "type": "function",
                    }
                    for j, (n, a) in enumerate(choice.tool_calls)
                ]
            out = {
                "choices": [{"finish_reason": choice.finish, "index": 0, "message": msg}],
                "created": int(time.time()),
                "id": rid,
                "model": name,
                "request_id": body.get("request_id", rid),
                "usage": _usage(prompt, choice),
                **extra,
            }
            resp = json_response(out, content_type=_JSON)
            resp.delay = delay
            return resp
        events = _chunks(choice, name, rid, prompt, bool(body.get("tool_stream")), extra)
        return stream_response(_sse(events, delay, scn), content_type=_SSE)

    async def _sse(events: list[dict[str, Any]], delay: float, scn: str | None) -> AsyncIterator[bytes]:
        if delay:
            await asyncio.sleep(delay)
        cut = len(events) // 2 if scn in ("cut_stream", "filtered_midway") else -1
        for i, ev in enumerate(events):
            if i == cut:
                if scn == "cut_stream":
                    raise CutStream()
                last = events[-1]
                last["choices"][0]["finish_reason"] = "sensitive"
                last["choices"][0]["delta"] = {"role": "assistant", "content": ""}
                yield b"data: " + orjson.dumps(last) + b"\n\n"
                break
            yield b"data: " + orjson.dumps(ev) + b"\n\n"
        yield b"data: [DONE]\n\n"

    @app.route("POST", "/api/paas/v4/embeddings")
    async def embeddings(req: Request) -> Response:
        body = parse(req)
        if isinstance(body, Response):
            return body
        name = body["model"]
        model = MODELS.get(name)
        if model is None:
            return _err(400, "1211")
        if model.kind != "embed":
            return _err(400, "1212", f"当前模型不支持embeddings调用方式: {name}")
        inp = body.get("input")
        inputs = [inp] if isinstance(inp, str) else inp
        if not isinstance(inputs, list) or not inputs or not all(isinstance(s, str) and s for s in inputs):
            return _bad("input")
        if name == "embedding-3" and len(inputs) > 64:
            return _bad("input", "数组最大不得超过64条")
        if any(count_tokens(s) > model.context for s in inputs):
            return _bad("input", f"单条最多支持{model.context}Tokens")
        if name == "embedding-2" and sum(count_tokens(s) for s in inputs) > 8192:
            return _bad("input", "数组总长度不得超过8K")
        dim = body.get("dimensions", model.dimensions[0])
        if dim not in model.dimensions:
            return _bad("dimensions")
        scn, _ = detect_scenario(inputs, req.header("x-emulator-scenario"), opts.scenario)
        if (r := _scenario_response(scn)) is not None:
            return r
        tokens = sum(count_tokens(s) for s in inputs)
        data = [{"index": i, "object": "embedding", "embedding": embed(s, dim)} for i, s in enumerate(inputs)]
        return json_response(
            {
                "model": name,
                "data": data,
                "object": "list",
                "usage": {"completion_tokens": 0, "prompt_tokens": tokens, "total_tokens": tokens},
            },
            content_type=_JSON,
        )

    return app


def _chunks(
    choice: GenChoice, model: str, rid: str, prompt: int, tool_stream: bool, extra: dict[str, Any]
) -> list[dict[str, Any]]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> dict[str, Any]:
        c: dict[str, Any] = {
            "id": rid,
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": {"role": "assistant", **delta}}],
        }
        if finish is not None:
            c["choices"][0]["finish_reason"] = finish
            c["usage"] = usage
            c.update(extra)
        return c

    out = [chunk({"reasoning_content": p}) for p in split_for_stream(choice.reasoning or "")]
    for j, (n, a) in enumerate(choice.tool_calls):
        tid = _call_id(n, a, j)
        if tool_stream:
            out.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "id": tid,
                                "index": j,
                                "type": "function",
                                "function": {"name": n, "arguments": ""},
                            }
                        ]
                    }
                )
            )
            out.extend(
                chunk({"tool_calls": [{"index": j, "function": {"arguments": p}}]})
                for p in split_for_stream(a, 4)
            )
        else:
            out.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "id": tid,
                                "index": j,
                                "type": "function",
                                "function": {"name": n, "arguments": a},
                            }
                        ]
                    }
                )
            )
    pieces = split_for_stream(choice.text)
    last = pieces.pop() if pieces else ""
    out.extend(chunk({"content": p}) for p in pieces)
    out.append(chunk({"content": last}, choice.finish, _usage(prompt, choice)))
    return out
