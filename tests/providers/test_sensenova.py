"""SenseNova native adapter: request translation, parsing, stream events at every byte boundary, error
classification, JWT / console-key auth, and the emulator's own checks (in-process)."""

from __future__ import annotations

import random
import time
from typing import Any

import httpx
import jwt
import orjson
import pytest

from qiao.catalogue import ModelSpec
from qiao.emulators import EmulatorOptions
from qiao.emulators.sensenova import create_app
from qiao.errors import (
    AuthenticationFailed,
    Conflict,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UnsupportedParameter,
    UpstreamError,
    UpstreamTimeout,
)
from qiao.providers.base import Account, Call, SSEEvent, StreamState, WireRequest, WireResponse
from qiao.providers.sensenova import SenseNovaAuth, chat_body, mint_jwt, provider, split_credential
from qiao.transport.sse import SSEDecoder
from qiao.types import ChatChunk, ChatRequest, EmbeddingRequest

CRED = "EMUAKID:emulatorsecret"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def spec(model: str) -> ModelSpec:
    s = provider.spec(model)
    assert s is not None
    return s


def make_call(model: str = "SenseChat-5", stream: bool = False, credential: str = CRED) -> Call:
    acct = Account("sn", "sensenova", credential, "http://emu/v1")
    return Call(acct, spec(model), model, "req-1", stream)


def req(**kw: Any) -> ChatRequest:
    kw.setdefault("model", "SenseChat-5")
    kw.setdefault("messages", [{"role": "user", "content": "hello"}])
    return ChatRequest.from_raw(kw)


def body_of(r: ChatRequest, model: str = "SenseChat-5", stream: bool = False) -> dict[str, Any]:
    return chat_body(r, make_call(model, stream))


# ---- request translation ----------------------------------------------------------------------------------


def test_build_chat_url_model_and_limits() -> None:
    w = provider.build_chat(req(max_tokens=100), make_call())
    assert w.method == "POST" and w.url == "http://emu/v1/llm/chat-completions"
    assert "Authorization" not in w.headers  # the auth scheme adds it
    b = orjson.loads(w.body or b"")
    assert b["model"] == "SenseChat-5" and b["max_new_tokens"] == 100 and b["stream"] is False
    assert "max_tokens" not in b
    assert body_of(req(max_tokens=5, max_completion_tokens=9))["max_new_tokens"] == 9


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("temperature", 0, 0.000001),
        ("temperature", 2, 2.0),
        ("temperature", 0.7, 0.7),
        ("top_p", 1, 0.999999),
        ("top_p", 0, 0.000001),
        ("top_p", 0.5, 0.5),
    ],
)
def test_sampling_is_clamped_into_open_bounds(field: str, value: float, expected: float) -> None:
    assert body_of(req(**{field: value}))[field] == expected


def test_penalties_map_to_repetition_penalty() -> None:
    assert body_of(req(frequency_penalty=0.4))["repetition_penalty"] == 1.2
    assert body_of(req(presence_penalty=-2))["repetition_penalty"] == 0.01
    assert body_of(req(frequency_penalty=2, presence_penalty=-1))["repetition_penalty"] == 2.0
    assert "repetition_penalty" not in body_of(req(frequency_penalty=0))
    assert body_of(req(frequency_penalty=1, repetition_penalty=1.05))["repetition_penalty"] == 1.05


def test_n_user_and_native_extras() -> None:
    b = body_of(req(n=3, user="u-42", know_ids=["k1"], plugins={"web_search": {"search_enable": True}}))
    assert b["n"] == 3 and b["user"] == "u-42" and b["know_ids"] == ["k1"]
    assert b["plugins"] == {"web_search": {"search_enable": True}}
    assert body_of(req(safety_identifier="hashed"))["user"] == "hashed"
    assert "n" not in body_of(req(n=1))
    with pytest.raises(UnsupportedParameter) as ei:
        body_of(req(n=5))
    assert ei.value.param == "n"


def test_messages_roles_tools_and_tool_results() -> None:
    r = req(
        messages=[
            {"role": "developer", "content": "be brief"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "weather "}, {"type": "text", "text": "Beijing"}],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
        tools=TOOLS,
        tool_choice="auto",
    )
    b = body_of(r)
    assert [m["role"] for m in b["messages"]] == ["system", "user", "assistant", "tool"]
    assert b["messages"][1]["content"] == "weather Beijing"
    assert b["messages"][2]["content"] == "" and b["messages"][2]["tool_calls"][0]["id"] == "call_1"
    assert b["messages"][3]["tool_call_id"] == "call_1"
    assert b["tools"][0]["function"]["name"] == "get_weather" and b["tool_choice"] == "auto"
    assert "tools" not in body_of(req(tools=TOOLS, tool_choice="none"))
    named = body_of(req(tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_weather"}}))
    assert named["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_vision_parts_and_json_mode() -> None:
    content = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    b = body_of(
        req(model="SenseChat-Vision", messages=[{"role": "user", "content": content}]), "SenseChat-Vision"
    )
    assert b["messages"][0]["content"] == [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": "https://example.com/a.png"},
        {"type": "image_base64", "image_base64": "iVBORw0KGgo="},
    ]
    assert body_of(req(response_format={"type": "json_object"}))["response_format"] == {"type": "json_object"}


# ---- auth -------------------------------------------------------------------------------------------------


def test_credential_forms() -> None:
    assert split_credential("AK:SK") == ("AK", "SK")
    assert split_credential("sk-console-key") is None
    with pytest.raises(AuthenticationFailed):
        split_credential("AK:")


def test_jwt_claims_and_header() -> None:
    token, exp = mint_jwt("AKID", "secret", now=1_700_000_000)
    assert exp == 1_700_001_800
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(
        token, "secret", algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False}
    )
    assert claims == {"iss": "AKID", "exp": 1_700_001_800, "nbf": 1_699_999_995}


async def test_auth_caches_and_renews_before_expiry() -> None:
    now = [1_700_000_000.0]
    auth = SenseNovaAuth(clock=lambda: now[0])
    acct = Account("sn", "sensenova", CRED, "http://emu/v1")

    async def header() -> str:
        async def no_fetch(w: WireRequest) -> WireResponse:
            raise AssertionError("no network for JWT auth")

        w = await auth.apply(WireRequest("POST", "u", {}), acct, no_fetch)
        return w.headers["Authorization"]

    first = await header()
    now[0] += 1000
    assert await header() == first  # cached
    now[0] += 600  # 200 s left: inside the refresh window
    second = await header()
    assert second != first
    claims = jwt.decode(
        second.split()[1], "emulatorsecret", algorithms=["HS256"], options={"verify_exp": False}
    )
    assert claims["exp"] == int(now[0]) + 1800
    # a 401 drops the cached token and asks for one retry; console keys have nothing to renew
    assert auth.on_auth_error(acct, AuthenticationFailed("x")) is True
    assert auth.on_auth_error(acct, AuthenticationFailed("x")) is False
    console = Account("c", "sensenova", "sk-console", "http://emu/v1")
    assert auth.on_auth_error(console, AuthenticationFailed("x")) is False
    assert auth.token("sk-console") == "sk-console"


# ---- parsing ----------------------------------------------------------------------------------------------


def test_parse_chat_text_usage_and_finish() -> None:
    body = {
        "data": {
            "id": "abc",
            "choices": [
                {"index": 0, "role": "assistant", "message": "Yangtze.", "finish_reason": "stop"},
                {"index": 1, "role": "assistant", "message": "Yel", "finish_reason": "sensitive"},
            ],
            "usage": {
                "prompt_tokens": 19,
                "knowledge_tokens": 5,
                "completion_tokens": 11,
                "total_tokens": 35,
            },
        }
    }
    r = provider.parse_chat(WireResponse(200, {}, orjson.dumps(body)), req(), make_call())
    assert [c.message.content for c in r.choices] == ["Yangtze.", "Yel"]
    assert [c.finish_reason for c in r.choices] == ["stop", "content_filter"]
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (24, 11, 35)


def test_parse_chat_tool_calls_with_and_without_ids() -> None:
    calls = [
        {"id": "call_x", "type": "function", "function": {"name": "a", "arguments": "{}"}},
        {"type": "function", "function": {"name": "b", "arguments": {"k": 1}}},
    ]
    body = {
        "data": {"choices": [{"index": 0, "message": "", "tool_calls": calls, "finish_reason": "tool_calls"}]}
    }
    r1 = provider.parse_chat(WireResponse(200, {}, orjson.dumps(body)), req(), make_call())
    r2 = provider.parse_chat(WireResponse(200, {}, orjson.dumps(body)), req(), make_call())
    m = r1.choices[0].message
    assert m.content is None and r1.choices[0].finish_reason == "tool_calls"
    assert m.tool_calls[0].id == "call_x" and m.tool_calls[1].arguments == '{"k":1}'
    assert (
        m.tool_calls[1].id.startswith("call_")
        and m.tool_calls[1].id == r2.choices[0].message.tool_calls[1].id
    )
    assert r1.usage.estimated


def test_parse_chat_garbage_is_upstream_error() -> None:
    with pytest.raises(UpstreamError):
        provider.parse_chat(WireResponse(200, {}, b'{"choices": []}'), req(), make_call())


async def emulator_bytes(
    payload: dict[str, Any], credential: str | None = None, **headers: str
) -> httpx.Response:
    app = create_app(EmulatorOptions(credential=credential))
    tok, _ = mint_jwt("EMUAKID", "emulatorsecret")
    h = {"Authorization": f"Bearer {tok}", **headers}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emu") as c:
        path = "/v1/llm/embeddings" if "input" in payload else "/v1/llm/chat-completions"
        return await c.post(path, json=payload, headers=h)


def run_events(raw: bytes, pieces: list[bytes], r: ChatRequest) -> tuple[list[ChatChunk], StreamState]:
    d = SSEDecoder()
    state = StreamState(make_call(stream=True), r)
    chunks: list[ChatChunk] = []
    for p in pieces:
        for ev in d.feed(p):
            chunks.extend(provider.parse_event(ev, state))
    for ev in d.close():
        chunks.extend(provider.parse_event(ev, state))
    return chunks, state


def cuts(raw: bytes, seed: int) -> list[list[bytes]]:
    rng = random.Random(seed)
    one = [raw[i : i + 1] for i in range(len(raw))]
    rand: list[bytes] = []
    i = 0
    while i < len(raw):
        n = rng.randint(1, 40)
        rand.append(raw[i : i + n])
        i += n
    return [[raw], one, rand]


async def test_stream_events_at_every_boundary() -> None:
    payload = {"model": "SenseChat-5", "messages": [{"role": "user", "content": "你好，介绍一下长江"}]}
    plain = (await emulator_bytes(payload)).json()["data"]
    resp = await emulator_bytes({**payload, "stream": True})
    assert resp.headers["content-type"].startswith("text/event-stream")
    raw = resp.content
    assert raw.startswith(b"data:{") and raw.endswith(b"data:[DONE]\n\n") and b"data: " not in raw
    r = req(**payload)
    for pieces in cuts(raw, 7):
        chunks, state = run_events(raw, pieces, r)
        assert state.done
        text = "".join(c.delta.content or "" for ch in chunks for c in ch.choices)
        assert text == plain["choices"][0]["message"]
        finishes = [c.finish_reason for ch in chunks for c in ch.choices if c.finish_reason]
        assert finishes == ["stop"]
        assert state.usage.prompt_tokens == plain["usage"]["prompt_tokens"]
        assert state.usage.completion_tokens == plain["usage"]["completion_tokens"]


async def test_stream_tool_calls_get_indexes_and_ids() -> None:
    payload = {
        "model": "SenseChat-5",
        "messages": [{"role": "user", "content": "get_weather in Beijing"}],
        "tools": TOOLS,
        "stream": True,
    }
    raw = (await emulator_bytes(payload)).content
    for pieces in cuts(raw, 3):
        chunks, state = run_events(raw, pieces, req(**payload))
        tcs = [t for ch in chunks for c in ch.choices for t in (c.delta.tool_calls or ())]
        assert [(t.index, t.name) for t in tcs] == [(0, "get_weather")]
        assert tcs[0].id and orjson.loads(tcs[0].arguments or "")["city"]
        assert [c.finish_reason for ch in chunks for c in ch.choices if c.finish_reason] == ["tool_calls"]


def test_stream_error_line_and_empty_finish() -> None:
    state = StreamState(make_call(stream=True), req())
    ok = {"data": {"choices": [{"index": 0, "role": "assistant", "delta": "hi", "finish_reason": ""}]}}
    [chunk] = provider.parse_event(SSEEvent(orjson.dumps(ok).decode()), state)
    assert chunk.choices[0].finish_reason is None and chunk.choices[0].delta.content == "hi"
    err = orjson.dumps({"error": {"code": 8, "message": "rate limit exceeded", "details": []}}).decode()
    with pytest.raises(RateLimited):
        provider.parse_event(SSEEvent(err), state)
    with pytest.raises(UpstreamError):
        provider.parse_event(SSEEvent("not json"), state)


async def test_filtered_midway_ends_with_content_filter() -> None:
    payload = {
        "model": "SenseChat-5",
        "messages": [{"role": "user", "content": "tell me [[emulate:filtered_midway]]"}],
    }
    raw = (await emulator_bytes({**payload, "stream": True})).content
    chunks, _ = run_events(raw, [raw], req(**payload))
    assert [c.finish_reason for ch in chunks for c in ch.choices if c.finish_reason] == ["content_filter"]


# ---- errors -----------------------------------------------------------------------------------------------


def err(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> QiaoError | None:
    body = orjson.dumps({"error": {"code": code, "message": message, "details": []}})
    return provider.classify(WireResponse(status, headers or {}, body), make_call())


@pytest.mark.parametrize(
    ("status", "code", "message", "cls"),
    [
        (401, 16, "invalid token", AuthenticationFailed),
        (401, 16, "安全令牌无效 (sensitive credentials invalid)", AuthenticationFailed),
        (429, 8, "rate limit exceeded", RateLimited),
        (429, 8, "insufficient balance: the account is in arrears (账户余额不足)", InsufficientQuota),
        (400, 3, "the input contains sensitive content", ContentFiltered),
        (400, 3, "the input plus max_new_tokens exceeds the maximum context length", ContextLengthExceeded),
        (400, 3, "temperature must be in (0, 2]", InvalidRequest),
        (404, 5, "model not found: SenseChat-9", ModelNotFound),
        (403, 7, "no permission", PermissionDenied),
        (409, 10, "aborted", Conflict),
        (500, 2, "internal error", UpstreamError),
        (503, 14, "service unavailable", ServiceUnavailable),
        (504, 4, "deadline exceeded", UpstreamTimeout),
        (408, 1, "cancelled", UpstreamTimeout),
    ],
)
def test_classify_families(status: int, code: int, message: str, cls: type[QiaoError]) -> None:
    e = err(status, code, message)
    assert type(e) is cls
    assert e.provider == "sensenova" and e.vendor_code == str(code) and e.upstream_status == status
    assert "sensenova" in e.message


def test_classify_details() -> None:
    e = err(429, 8, "rate limit exceeded", {"retry-after": "3"})
    assert isinstance(e, RateLimited) and e.retry_after == 3.0 and e.retryable
    assert err(409, 10, "aborted").retryable  # type: ignore[union-attr]
    assert not err(409, 6, "exists").retryable  # type: ignore[union-attr]
    assert provider.classify(WireResponse(200, {}, b'{"data": {"choices": []}}'), make_call()) is None
    bare = provider.classify(WireResponse(502, {}, b"<html>bad gateway</html>"), make_call())
    assert isinstance(bare, UpstreamError)
    in_200 = provider.classify(
        WireResponse(200, {}, b'{"error": {"code": 3, "message": "bad", "details": []}}'), make_call()
    )
    assert isinstance(in_200, InvalidRequest)
    leak = err(401, 16, "invalid token Bearer eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJFTVVBS0lEIn0.c2lnbmF0dXJlc2ln")
    assert leak is not None and "eyJ" not in leak.message


# ---- embeddings -------------------------------------------------------------------------------------------


async def test_embeddings_round_trip_through_the_emulator() -> None:
    call = Call(make_call().account, spec("nova-embedding-stable"), "e", "r")
    w = provider.build_embeddings(EmbeddingRequest(model="e", input=["a", "b"]), ["a", "b"], call)
    assert w.url.endswith("/v1/llm/embeddings")
    body = orjson.loads(w.body or b"")
    assert body == {"model": "nova-embedding-stable", "input": ["a", "b"]}
    resp = await emulator_bytes(body)
    res = provider.parse_embeddings(WireResponse(resp.status_code, dict(resp.headers), resp.content), call)
    assert len(res.vectors) == 2 and len(res.vectors[0]) == 1536 and res.usage.prompt_tokens > 0
    wrapped = orjson.dumps({"data": orjson.loads(resp.content)})
    assert provider.parse_embeddings(WireResponse(200, {}, wrapped), call).vectors == res.vectors
    assert spec("nova-embedding-stable").embedding_batch == 32
    too_many = await emulator_bytes({"model": "nova-embedding-stable", "input": ["x"] * 33})
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == 3


# ---- the emulator's own checks ----------------------------------------------------------------------------


async def test_translated_bodies_are_accepted_by_the_emulator() -> None:
    for r in (
        req(temperature=0, top_p=1, frequency_penalty=2, max_tokens=20, n=2, user="u"),
        req(tools=TOOLS, messages=[{"role": "user", "content": "weather in Beijing"}]),
        req(response_format={"type": "json_object"}),
    ):
        resp = await emulator_bytes(body_of(r))
        assert resp.status_code == 200, resp.text
        assert resp.headers["x-request-id"]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"max_tokens": 10}, 400, 3),
        ({"temperature": 0}, 400, 3),
        ({"top_p": 1.0}, 400, 3),
        ({"n": 5}, 400, 3),
        ({"model": "SenseChat-99"}, 404, 5),
        (
            {"model": "SenseChat-Turbo", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            400,
            3,
        ),
    ],
)
async def test_emulator_rejects_what_sensenova_rejects(
    change: dict[str, Any], status: int, code: int
) -> None:
    payload = {"model": "SenseChat-5", "messages": [{"role": "user", "content": "hi"}], **change}
    resp = await emulator_bytes(payload)
    assert resp.status_code == status
    assert resp.json() == {"error": {"code": code, "message": resp.json()["error"]["message"], "details": []}}


async def test_emulator_auth() -> None:
    payload = {"model": "SenseChat-5", "messages": [{"role": "user", "content": "hi"}]}
    now = int(time.time())

    def token(secret: str = "emulatorsecret", iss: str = "EMUAKID", **claims: int) -> str:
        return "Bearer " + jwt.encode({"iss": iss, "exp": now + 1800, "nbf": now - 5, **claims}, secret)

    cases = {
        token(): 200,
        token(secret="wrong"): 401,
        token(iss="OTHER"): 401,
        token(exp=now - 10): 401,
        token(nbf=now + 600): 401,
        "Bearer emulator-console-key": 200,
        "Bearer some-other-key": 401,
        "Basic abc": 401,
    }
    app = create_app(EmulatorOptions(credential=None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emu") as c:
        for header, status in cases.items():
            r = await c.post("/v1/llm/chat-completions", json=payload, headers={"Authorization": header})
            assert r.status_code == status, header
            if status == 401:
                assert r.json()["error"]["code"] == 16
    only_key = create_app(EmulatorOptions(credential="sk-only"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=only_key), base_url="http://emu") as c:
        r = await c.post("/v1/llm/chat-completions", json=payload, headers={"Authorization": token()})
        assert r.status_code == 401
        r = await c.post(
            "/v1/llm/chat-completions", json=payload, headers={"Authorization": "Bearer sk-only"}
        )
        assert r.status_code == 200


async def test_emulator_scenarios_in_sensenova_vocabulary() -> None:
    for scn, status, code in [
        ("rate_limited", 429, 8),
        ("insufficient_quota", 429, 8),
        ("bad_key", 401, 16),
        ("filtered", 400, 3),
        ("server_error", 500, 2),
        ("overloaded", 503, 14),
    ]:
        payload = {"model": "SenseChat-5", "messages": [{"role": "user", "content": f"x [[emulate:{scn}]]"}]}
        resp = await emulator_bytes(payload)
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code)
        e = provider.classify(WireResponse(resp.status_code, dict(resp.headers), resp.content), make_call())
        assert e is not None
