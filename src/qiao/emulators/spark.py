"""Emulator of iFlytek Spark's WebSocket chat API (讯飞星火), as the official ``spark-ai-python`` SDK sees it.

WebSocket paths (account base = the root; ``ws://``): ``/v1.1/chat`` (lite; the pre-2024 domain
``general`` that the official SDK's host map still uses is accepted there too), ``/v3.1/chat`` (generalv3),
``/chat/pro-128k``, ``/v3.5/chat`` (generalv3.5), ``/chat/max-32k``, ``/v4.0/chat`` (4.0Ultra), ``/v1/x1``
(x1). ``GET /`` answers a small JSON (for readiness checks).

The handshake is checked like iFlytek's gateway: the query must carry ``authorization``, ``date`` and
``host``; ``authorization`` decodes to ``api_key="…", algorithm="hmac-sha256", headers="host date
request-line", signature="…"`` (spaces around the parts tolerated, as the SDK adds some); the api_key must
be known, the date within 300 s of now, and the signature must equal base64(HMAC-SHA256(API_SECRET,
``"host: <host>\\ndate: <date>\\nGET <path> HTTP/1.1"``)). Failures refuse the upgrade with HTTP 401
(``{"message": "HMAC signature cannot be verified"}``, or a date message) or 403 (unknown key).
``options.credential``: ``APP_ID:API_KEY:API_SECRET`` (several separated by commas); default
``emuappid:emuapikey:emuapisecret``.

Then one request frame (Lite and Pro refuse a ``system`` message, code 10004); answer frames with
``header.status`` / ``payload.choices.status`` 0, 1 … 2, the usage in the last one, and the server
closes. ``header.app_id`` must belong to the key and the domain must match the path (else code 10005 /
11200 error frames). Tools → a ``function_call`` in the last frame.
X1 answers ``reasoning_content`` first.

Scenarios as Spark codes in an error frame: ``rate_limited`` → 11202; ``insufficient_quota`` → 11201;
``bad_key`` → the upgrade is refused (401); ``filtered`` → 10013; ``filtered_midway`` → partial text then
10014; ``server_error`` → 10012; ``overloaded`` → 10110; ``cut_stream`` closes mid-answer without a
status-2 frame; ``slow_first_byte`` / ``hang`` delay the first frame.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from ._asgi import EmulatorApp, EmulatorOptions, Request, Response, WebSocketSession, json_response
from ._engine import GenRequest, ToolDef, count_tokens, detect_scenario, generate, split_for_stream

__all__ = ["DEFAULT_CREDENTIAL", "PATHS", "create_app", "verify_handshake"]

DEFAULT_CREDENTIAL = "emuappid:emuapikey:emuapisecret"
PATHS: dict[str, tuple[str, bool]] = {  # path → (domain, functions supported)
    "/v1.1/chat": ("lite", False),
    "/v3.1/chat": ("generalv3", False),
    "/chat/pro-128k": ("pro-128k", False),
    "/v3.5/chat": ("generalv3.5", True),
    "/chat/max-32k": ("max-32k", True),
    "/v4.0/chat": ("4.0Ultra", True),
    "/v1/x1": ("x1", True),
}
MAX_SKEW = 300
_AUTH = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
_RESULT = re.compile(r"^function [\w-]+ returned: ")


def verify_handshake(
    path: str, query: dict[str, list[str]], secrets: dict[str, str], now: float | None = None
) -> tuple[int, str] | str:
    """The api_key when the signed URL verifies, else (HTTP status, message)."""
    try:
        authorization = base64.b64decode(query["authorization"][0]).decode()
        date = query["date"][0]
        host = query["host"][0]
    except (KeyError, IndexError, ValueError):
        return 401, "HMAC signature cannot be verified: authorization, date and host are required"
    fields = dict(_AUTH.findall(authorization))
    key = fields.get("api_key", "")
    if fields.get("algorithm") != "hmac-sha256" or fields.get("headers") != "host date request-line":
        return 401, "HMAC signature cannot be verified: unsupported algorithm or headers"
    if key not in secrets:
        return 403, "HMAC signature does not conform: unknown api_key"
    try:
        t = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return 401, "HMAC signature cannot be verified, a valid date or x-date header is required"
    if abs((time.time() if now is None else now) - t) > MAX_SKEW:
        return 401, "HMAC signature cannot be verified, the date is more than 300 seconds off"
    origin = f"host: {host}\ndate: {date}\nGET {path} HTTP/1.1"
    expected = base64.b64encode(
        hmac.new(secrets[key].encode(), origin.encode(), hashlib.sha256).digest()
    ).decode()
    if not hmac.compare_digest(expected, fields.get("signature", "")):
        return 401, "HMAC signature cannot be verified"
    return str(key)


def _credentials(option: str | None) -> tuple[dict[str, str], dict[str, str]]:
    secrets: dict[str, str] = {}
    apps: dict[str, str] = {}
    for item in (option or DEFAULT_CREDENTIAL).split(","):
        parts = item.strip().split(":")
        if len(parts) == 3:
            apps[parts[1]] = parts[0]
            secrets[parts[1]] = parts[2]
    return secrets, apps


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    opts = options or EmulatorOptions()
    secrets, apps = _credentials(opts.credential)
    app = EmulatorApp("spark", opts)
    counter = {"n": 0}

    @app.route("GET", "/")
    async def root(req: Request) -> Response:
        return json_response({"service": "spark emulator", "websocket_paths": sorted(PATHS)})

    def frame(sid: str, status: int, code: int = 0, message: str = "Success", **payload: Any) -> str:
        out: dict[str, Any] = {"header": {"code": code, "message": message, "sid": sid, "status": status}}
        if payload:
            out["payload"] = payload
        return orjson.dumps(out).decode()

    async def converse(ws: WebSocketSession) -> None:
        checked = verify_handshake(ws.path, ws.query, secrets)
        scenario_header = ws.headers.get("x-emulator-scenario")
        if isinstance(checked, tuple) or (scenario_header or opts.scenario or "").startswith("bad_key"):
            status, message = (
                checked if isinstance(checked, tuple) else (401, "HMAC signature cannot be verified")
            )
            await ws.reject(status, orjson.dumps({"message": message}))
            return
        await ws.accept()
        counter["n"] += 1
        sid = f"cht000{counter['n']:04x}@dx{hashlib.md5(str(time.time()).encode()).hexdigest()[:10]}"
        raw = await ws.receive_text()
        if raw is None:
            return
        try:
            req = orjson.loads(raw)
            header, chat = req["header"], req["parameter"]["chat"]
            texts = req["payload"]["message"]["text"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await ws.send_text(
                frame(sid, 2, 10003, "invalid message format: header/parameter/payload required")
            )
            await ws.close()
            return
        domain, functions_ok = PATHS[ws.path]
        err = None
        if header.get("app_id") != apps[checked]:
            err = (11200, "AppIdNoAuthError: app_id does not belong to the api_key")
        elif chat.get("domain") != domain and not (domain == "lite" and chat.get("domain") == "general"):
            err = (10005, f"invalid parameter value: domain {chat.get('domain')!r} does not match {ws.path}")
        else:
            t = chat.get("temperature")
            hi = 2.0 if domain == "x1" else 1.0
            if t is not None and not (isinstance(t, int | float) and 0 < t <= hi):
                err = (10005, f"invalid parameter value: temperature must be in (0, {hi}]")
            mx = chat.get("max_tokens")
            if mx is not None and not (
                isinstance(mx, int) and 1 <= mx <= (32_768 if domain == "x1" else 8192)
            ):
                err = (10005, "invalid parameter value: max_tokens out of range")
        msgs: list[tuple[str, str]] = []
        if err is None:
            for m in texts if isinstance(texts, list) else ():
                if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
                    err = (10004, "invalid message schema: role must be system, user or assistant")
                    break
                if m["role"] == "system" and domain in ("lite", "generalv3", "pro-128k"):
                    err = (10004, f"invalid message schema: {domain} does not take a system message")
                    break
                text = str(m.get("content") or "")
                # qiao's rendering of a tool result (the protocol has no role for it): answer it as one
                role = "tool" if m["role"] == "user" and _RESULT.match(text) else m["role"]
                msgs.append((role, _RESULT.sub("", text, count=1) if role == "tool" else text))
            if not msgs or msgs[-1][0] not in ("user", "tool"):
                err = err or (10004, "invalid message schema: the last message must be the user's")
        functions = (req["payload"].get("functions") or {}).get("text") or []
        if err is None and functions and not functions_ok:
            err = (10163, f"engine parameter schema check failed: {domain} does not support functions")
        if err is not None:
            await ws.send_text(frame(sid, 2, *err))
            await ws.close()
            return
        scn, arg = detect_scenario([t for _, t in msgs], scenario_header, opts.scenario)
        codes = {
            "rate_limited": (11202, "AppIdQpsOverFlowError: too many requests per second"),
            "insufficient_quota": (11201, "AppIdNoAuthError: daily token quota exceeded"),
            "filtered": (10013, "input content is not compliant (输入内容审核不通过)"),
            "server_error": (10012, "EngineInternalError"),
            "overloaded": (10110, "service busy, please try again later"),
        }
        if scn in ("slow_first_byte", "hang"):
            await asyncio.sleep(3600.0 if scn == "hang" else (arg or opts.slow_first_byte))
        if scn in codes:
            await ws.send_text(frame(sid, 2, *codes[scn]))
            await ws.close()
            return
        tools = [ToolDef(f["name"], f.get("description") or "", f.get("parameters") or {}) for f in functions]
        g = GenRequest(msgs, max_tokens=chat.get("max_tokens"), tools=tools, reasoning=domain == "x1")
        c = generate(g)[0]
        prompt = g.prompt_tokens
        pieces: list[dict[str, Any]] = [
            {"content": "", "reasoning_content": p, "role": "assistant", "index": 0}
            for p in split_for_stream(c.reasoning or "")
        ]
        pieces += [{"content": p, "role": "assistant", "index": 0} for p in split_for_stream(c.text)]
        if c.tool_calls:
            name, args = c.tool_calls[0]
            pieces.append(
                {
                    "content": "",
                    "role": "assistant",
                    "index": 0,
                    "function_call": {"name": name, "arguments": args},
                }
            )
        pieces = pieces or [{"content": "", "role": "assistant", "index": 0}]
        cut = len(pieces) // 2 if scn in ("cut_stream", "filtered_midway") else -1
        for seq, piece in enumerate(pieces):
            if seq == cut and cut > 0:
                if scn == "filtered_midway":
                    await ws.send_text(
                        frame(sid, 2, 10014, "output content is not compliant (输出内容涉及敏感信息)")
                    )
                await ws.close()
                return
            last = seq == len(pieces) - 1
            status = 2 if last else (0 if seq == 0 else 1)
            payload: dict[str, Any] = {"choices": {"status": status, "seq": seq, "text": [piece]}}
            if last:
                completion = c.completion_tokens
                payload["usage"] = {
                    "text": {
                        "question_tokens": count_tokens(msgs[-1][1]),
                        "prompt_tokens": prompt,
                        "completion_tokens": completion,
                        "total_tokens": prompt + completion,
                    }
                }
            await ws.send_text(frame(sid, status, **payload))
            if opts.chunk_delay:
                await asyncio.sleep(opts.chunk_delay)
        await ws.close()

    for path in PATHS:
        app.websocket(path)(converse)
    return app
