"""Emulator of Baidu Qianfan v1, the "wenxinworkshop" RPC API (``https://aip.baidubce.com``), served at root.

Paths:

* ``POST /oauth/2.0/token?grant_type=client_credentials&client_id=AK&client_secret=SK`` (``GET`` too):
  ``{"access_token", "expires_in": 2592000, ...}``; an unknown API key → HTTP 401
  ``{"error": "invalid_client", "error_description": "unknown client id"}``, a wrong secret →
  ``"Client authentication failed"``, another grant type → 400 ``unsupported_grant_type``.
* ``POST /rpc/2.0/ai_custom/v1/wenxinworkshop/chat/{slug}?access_token=…`` and ``…/embeddings/{slug}``.

The credential (``options.credential``) is ``API_KEY:SECRET_KEY``; default ``ernie-demo-ak:ernie-demo-sk``
(``""``: any key pair gets a token; tokens are still checked).
Tokens are remembered with their expiry (``app.tokens``; ``app.token_lifetime`` seconds, 30 days by
default): a missing or unknown token → ``error_code`` 110, an expired one → 111. **Every error is an
HTTP 200 JSON body** ``{"error_code", "error_msg", "id"}``, including on a stream request (plain JSON,
not SSE), as Baidu does.

Validation as ERNIE: roles ``user``/``assistant``/``function`` only (the system prompt is the top-level
``system`` field), alternation with an odd count, first and last on the user side (a ``function`` result
counts as user side), no empty content, temperature (0, 1], top_p [0, 1], penalty_score [1, 2],
``max_output_tokens`` [2, model limit], ``stop`` ≤ 4 strings of ≤ 20 characters, ``response_format`` a bare
string, ``tool_choice`` the object form only; functions, ``tool_choice`` and ``presence_penalty``/
``frequency_penalty`` only on the models whose parameter lists (in Baidu's SDK) have them. Unknown body
fields are ignored (the official SDK sends ``extra_parameters``).

Answers: ``result``, ``is_truncated``, ``need_clear_history``, ``finish_reason: "normal"``, ``function_call``
(no id, one per turn) and ``usage``. Streams: ``data: {…}`` events with ``sentence_id``, delta ``result``,
partial ``usage``, the last with ``is_end: true``; no ``[DONE]``.

Fault scenarios, all as 200 bodies: ``rate_limited`` → 336501 (with ``X-Ratelimit-*`` headers),
``insufficient_quota`` → 17, ``bad_key`` → 110, ``server_error`` → 336000, ``overloaded`` → 336100,
``filtered`` → ``need_clear_history: true`` with ``ban_round: -1``, ``filtered_midway`` → an answer cut with
``finish_reason: "content_filter"``; ``slow_first_byte``, ``cut_stream``, ``hang`` as the engine defines.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from ._asgi import CutStream, EmulatorApp, EmulatorOptions, Request, Response, json_response, stream_response
from ._engine import GenChoice, GenRequest, ToolDef, detect_scenario, embed, generate, split_for_stream
from .ernie import REFUSAL, alternation_error

__all__ = ["CHAT_SLUGS", "DEFAULT_CREDENTIAL", "EMBEDDING_SLUGS", "PENALTIES", "TOOL_CHOICE", "create_app"]

DEFAULT_CREDENTIAL = "ernie-demo-ak:ernie-demo-sk"
RPC = "/rpc/2.0/ai_custom/v1/wenxinworkshop"
TOKEN_LIFETIME = 2_592_000

# URL slug → (context tokens, max_output_tokens limit, function calling / response_format)
CHAT_SLUGS: dict[str, tuple[int, int, bool]] = {
    "completions_pro": (8192, 2048, True),
    "completions_adv_pro": (8192, 2048, True),
    "ernie-4.0-8k-latest": (8192, 2048, False),
    "ernie-4.0-turbo-8k": (8192, 2048, False),
    "ernie-4.0-turbo-128k": (131_072, 4096, False),
    "completions": (8192, 2048, True),
    "ernie-3.5-128k": (131_072, 4096, True),
    "ernie_speed": (8192, 2048, False),
    "ernie-speed-128k": (131_072, 4096, False),
    "ernie-speed-pro-128k": (131_072, 4096, False),
    "ernie-lite-8k": (8192, 2048, False),
    "eb-instant": (8192, 2048, False),
    "ernie-lite-pro-128k": (131_072, 4096, False),
    "ernie-tiny-8k": (8192, 2048, False),
    "ernie-char-8k": (8192, 2048, False),
    "ernie-char-fiction-8k": (8192, 2048, False),
    "ernie-novel-8k": (8192, 2048, False),
    "ernie-func-8k": (8192, 2048, True),
}
TOOL_CHOICE = frozenset({"completions", "ernie-3.5-128k", "ernie-func-8k"})
PENALTIES = frozenset(
    {
        "ernie_speed",
        "ernie-speed-128k",
        "ernie-speed-pro-128k",
        "ernie-lite-8k",
        "ernie-tiny-8k",
        "ernie-novel-8k",
    }
)
"""Slugs taking ``tool_choice``, and ``presence_penalty``/``frequency_penalty`` (per the SDK's lists)."""
# URL slug → (dimension, texts per call)
EMBEDDING_SLUGS: dict[str, tuple[int, int]] = {
    "embedding-v1": (384, 16),
    "bge_large_zh": (1024, 16),
    "bge_large_en": (1024, 16),
    "tao_8k": (1024, 1),
}

_SCENARIO_ERRORS: dict[str, tuple[int, str]] = {
    "rate_limited": (336501, "Rate limit reached for RPM"),
    "insufficient_quota": (17, "Open api daily request limit reached"),
    "bad_key": (110, "Access token invalid or no longer valid"),
    "server_error": (336000, "Internal error"),
    "overloaded": (336100, "Service is currently overloaded, please try again later"),
}


def _error(code: int, msg: str, rid: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return json_response({"error_code": code, "error_msg": msg, "id": rid}, 200, headers)


def _texts(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for m in messages:
        role = {"function": "tool"}.get(m["role"], m["role"])
        text = m.get("content") or ""
        if m.get("function_call"):
            text += (m["function_call"] or {}).get("arguments") or ""
        out.append((role, text))
    return out


def _validate(body: Any, limits: tuple[int, int, bool], rid: str, slug: str) -> Response | None:
    if not isinstance(body, dict):
        return _error(336002, "Invalid JSON", rid)
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return _error(336003, "messages is empty", rid)
    roles = []
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant", "function"):
            return _error(336003, "message role must be user, assistant or function", rid)
        roles.append(m["role"])
        c = m.get("content")
        if not isinstance(c, str) and not (c is None and m.get("function_call")):
            return _error(336003, "message content must be a string", rid)
        if (c is None or not c.strip()) and not m.get("function_call"):
            return _error(336003, "message content can not be empty", rid)
        if m["role"] == "function" and not m.get("name"):
            return _error(336003, "the name of a function message can not be empty", rid)
    problem = alternation_error(roles, frozenset({"user", "function"}), v1=True)
    if problem:
        return _error(336006, problem, rid)
    if len(roles) % 2 == 0:
        return _error(336006, "the length of messages must be an odd number", rid)
    checks: list[tuple[str, Any, str]] = [
        ("temperature", lambda v: 0 < v <= 1, "temperature range is (0, 1.0]"),
        ("top_p", lambda v: 0 <= v <= 1, "top_p range is [0, 1.0]"),
        ("penalty_score", lambda v: 1 <= v <= 2, "penalty_score range is [1.0, 2.0]"),
    ]
    for key, ok, msg in checks:
        v = body.get(key)
        if v is not None and not (isinstance(v, int | float) and ok(v)):
            return _error(336003, msg, rid)
    mot = body.get("max_output_tokens")
    if mot is not None and not (isinstance(mot, int) and 2 <= mot <= limits[1]):
        return _error(336003, f"max_output_tokens range is [2, {limits[1]}]", rid)
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) and len(s) <= 20 for s in stop)
    ):
        return _error(336003, "stop must be a list of at most 4 strings of at most 20 characters", rid)
    rf = body.get("response_format")
    if rf is not None and rf not in ("json_object", "text"):
        return _error(336003, "response_format must be 'json_object' or 'text'", rid)
    for key in ("presence_penalty", "frequency_penalty"):
        v = body.get(key)
        if v is not None and (slug not in PENALTIES or not (isinstance(v, int | float) and -2 <= v <= 2)):
            return _error(336003, f"invalid parameter {key}", rid)
    tc = body.get("tool_choice")
    if tc is not None and slug not in TOOL_CHOICE:
        return _error(336003, "invalid parameter tool_choice", rid)
    if tc is not None and not (
        isinstance(tc, dict)
        and tc.get("type") == "function"
        and isinstance((tc.get("function") or {}).get("name"), str)
    ):
        return _error(336003, "tool_choice must be an object {type: function, function: {name}}", rid)
    if body.get("functions") is not None:
        if not limits[2]:
            return _error(336003, "this model does not support functions", rid)
        fns = body["functions"]
        if not isinstance(fns, list) or not all(isinstance(f, dict) and f.get("name") for f in fns):
            return _error(336003, "functions must be a list of {name, description, parameters}", rid)
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        return _error(336104, "system must be a string", rid)
    return None


def create_app(options: EmulatorOptions | None = None) -> EmulatorApp:
    opts = options or EmulatorOptions()
    app = EmulatorApp("ernie_v1", opts)
    cred = DEFAULT_CREDENTIAL if opts.credential is None else opts.credential
    ak, _, sk = cred.partition(":")
    tokens: dict[str, float] = {}
    app.tokens = tokens  # type: ignore[attr-defined]
    app.token_lifetime = TOKEN_LIFETIME  # type: ignore[attr-defined]
    counter = {"n": 0, "tok": 0}
    rl_headers = [
        ("X-Ratelimit-Limit-Requests", "300"),
        ("X-Ratelimit-Limit-Tokens", "300000"),
        ("X-Ratelimit-Remaining-Requests", "299"),
        ("X-Ratelimit-Remaining-Tokens", "299000"),
    ]

    def rid() -> str:
        counter["n"] += 1
        return f"as-emu{counter['n']:08d}"

    async def token_endpoint(req: Request) -> Response:
        if req.q("grant_type") != "client_credentials":
            return json_response(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "The authorization grant type is not supported",
                },
                400,
            )
        if cred and req.q("client_id") != ak:
            return json_response({"error": "invalid_client", "error_description": "unknown client id"}, 401)
        if cred and req.q("client_secret") != sk:
            return json_response(
                {"error": "invalid_client", "error_description": "Client authentication failed"}, 401
            )
        counter["tok"] += 1
        life = int(app.token_lifetime)  # type: ignore[attr-defined]
        now = int(time.time())
        digest = hashlib.sha256(f"{ak}{counter['tok']}{now}".encode()).hexdigest()[:32]
        token = f"24.{digest}.{life}.{now + life}.282335-{10_000_000 + counter['tok']}"
        tokens[token] = time.time() + life
        return json_response(
            {
                "refresh_token": "25." + digest[::-1],
                "expires_in": life,
                "session_key": "9mzdD" + digest[:20],
                "access_token": token,
                "scope": "public brain_all_scope wenxinworkshop_mgr ai_custom_yiyan_com",
                "session_secret": digest[:32],
            }
        )

    app.route("POST", "/oauth/2.0/token")(token_endpoint)
    app.route("GET", "/oauth/2.0/token")(token_endpoint)

    def token_error(req: Request, r: str) -> Response | None:
        tok = req.q("access_token")
        if not tok or tok not in tokens:
            return _error(110, "Access token invalid or no longer valid", r)
        if tokens[tok] <= time.time():
            return _error(111, "Access token expired", r)
        return None

    @app.route("POST", RPC + "/chat/{slug}")
    async def chat(req: Request) -> Response:
        r = rid()
        if (e := token_error(req, r)) is not None:
            return e
        limits = CHAT_SLUGS.get(req.path_params["slug"])
        if limits is None:
            return _error(336005, "API name not exist", r)
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            body = None
        if (bad := _validate(body, limits, r, req.path_params["slug"])) is not None:
            return bad
        messages = _texts(body["messages"])
        if body.get("system"):
            messages.insert(0, ("system", body["system"]))
        tc = body.get("tool_choice")
        g = GenRequest(
            messages=messages,
            max_tokens=body.get("max_output_tokens"),
            stop=list(body.get("stop") or []),
            tools=[
                ToolDef(f["name"], f.get("description") or "", f.get("parameters") or {})
                for f in body.get("functions") or ()
            ],
            tool_choice=(tc or {}).get("function", {}).get("name") if tc else None,
            json_mode=body.get("response_format") == "json_object",
        )
        scn, arg = detect_scenario([t for _, t in messages], req.header("x-emulator-scenario"), opts.scenario)
        if scn in _SCENARIO_ERRORS:
            code, msg = _SCENARIO_ERRORS[scn]
            headers = (
                [("X-Ratelimit-Remaining-Requests", "0"), ("retry-after", "1")] if code == 336501 else []
            )
            return _error(code, msg, r, headers)
        if g.prompt_tokens > limits[0]:
            return _error(336103, "the length of messages is too long", r)
        prompt = g.prompt_tokens
        created = int(time.time())
        if scn == "filtered":
            out = {
                "id": r,
                "object": "chat.completion",
                "created": created,
                "result": REFUSAL,
                "is_truncated": False,
                "need_clear_history": True,
                "ban_round": -1,
                "finish_reason": "normal",
                "usage": {"prompt_tokens": prompt, "completion_tokens": 0, "total_tokens": prompt},
            }
            if body.get("stream"):
                out.update(sentence_id=0, is_end=True)
                return stream_response(_events([out], 0.0, None))
            return json_response(out, headers=rl_headers)
        choice = generate(g)[0]
        if scn == "filtered_midway":
            choice.text = choice.text[: len(choice.text) // 2]
            choice.finish = "content_filter"
        delay = (arg or opts.slow_first_byte) if scn == "slow_first_byte" else 0.0
        if scn == "hang":
            delay = 3600.0
        if not body.get("stream"):
            resp = json_response(_answer(choice, r, created, prompt), headers=rl_headers)
            resp.delay = delay
            return resp
        events = _stream_events(choice, r, created, prompt)
        return stream_response(_events(events, delay, scn), headers=rl_headers)

    @app.route("POST", RPC + "/embeddings/{slug}")
    async def embeddings(req: Request) -> Response:
        r = rid()
        if (e := token_error(req, r)) is not None:
            return e
        info = EMBEDDING_SLUGS.get(req.path_params["slug"])
        if info is None:
            return _error(336005, "API name not exist", r)
        try:
            body = req.json()
        except orjson.JSONDecodeError:
            return _error(336002, "Invalid JSON", r)
        inputs = body.get("input") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs or not all(isinstance(s, str) and s for s in inputs):
            return _error(336003, "input must be a non-empty list of non-empty strings", r)
        dim, batch = info
        if len(inputs) > batch:
            return _error(336003, f"embeddings max batch size is {batch}", r)
        data = [{"object": "embedding", "embedding": embed(s, dim), "index": i} for i, s in enumerate(inputs)]
        tokens_used = sum(max(1, len(s) // 3) for s in inputs)
        return json_response(
            {
                "id": r,
                "object": "embedding_list",
                "created": int(time.time()),
                "data": data,
                "usage": {"prompt_tokens": tokens_used, "total_tokens": tokens_used},
            },
            headers=rl_headers,
        )

    return app


def _base(rid: str, created: int) -> dict[str, Any]:
    return {"id": rid, "object": "chat.completion", "created": created}


def _answer(c: GenChoice, rid: str, created: int, prompt: int) -> dict[str, Any]:
    completion = c.completion_tokens
    out = _base(rid, created)
    finish = {"stop": "normal", "tool_calls": "function_call"}.get(c.finish, c.finish)
    out.update(
        result=c.text,
        is_truncated=c.finish == "length",
        need_clear_history=False,
        finish_reason=finish,
        usage={"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    )
    if c.tool_calls:
        name, args = c.tool_calls[0]
        out["function_call"] = {
            "name": name,
            "arguments": args,
            "thoughts": f"用户的问题需要调用{name}工具来回答。",
        }
    return out


def _stream_events(c: GenChoice, rid: str, created: int, prompt: int) -> list[dict[str, Any]]:
    pieces = split_for_stream(c.text, 6) or [""]
    events = []
    sent = ""
    final = _answer(c, rid, created, prompt)
    for i, piece in enumerate(pieces):
        sent += piece
        last = i == len(pieces) - 1
        ev = _base(rid, created)
        partial = len(sent) // 2
        ev.update(
            sentence_id=i,
            is_end=last,
            is_truncated=final["is_truncated"] if last else False,
            result=piece,
            need_clear_history=False,
            finish_reason=final["finish_reason"] if last else "normal",
            usage=final["usage"]
            if last
            else {"prompt_tokens": prompt, "completion_tokens": partial, "total_tokens": prompt + partial},
        )
        if last and "function_call" in final:
            ev["function_call"] = final["function_call"]
        events.append(ev)
    return events


async def _events(events: list[dict[str, Any]], delay: float, scn: str | None) -> AsyncIterator[bytes]:
    if delay:
        await asyncio.sleep(delay)
    cut = len(events) // 2 if scn == "cut_stream" and len(events) > 1 else -1
    for i, ev in enumerate(events):
        if i == cut:
            raise CutStream()
        yield b"data: " + orjson.dumps(ev) + b"\n\n"
