"""``ernie_v1`` (Qianfan v1, wenxinworkshop): request translation, answers, streams cut anywhere, errors
in 200 bodies, and the OAuth token cache (fetch, reuse, refresh ahead of expiry and on 110/111)."""

from __future__ import annotations

import random
from typing import Any

import httpx
import orjson
import pytest

from qiao.emulators import EmulatorOptions
from qiao.emulators.ernie_v1 import create_app
from qiao.errors import (
    AuthenticationFailed,
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
)
from qiao.providers._ernie_wire import MIN_TEMPERATURE
from qiao.providers.base import Account, Call, SSEEvent, StreamState, WireRequest, WireResponse
from qiao.providers.ernie_v1 import RPC, SLUGS, BaiduOAuth, provider
from qiao.transport.sse import SSEDecoder
from qiao.types import ChatChunk, ChatRequest, EmbeddingRequest

CRED = "ernie-demo-ak:ernie-demo-sk"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def account(cred: str = CRED, base: str = "http://emu") -> Account:
    return Account("ernie_v1", "ernie_v1", cred, base)


def call(model: str = "ernie-3.5-8k", stream: bool = False) -> Call:
    spec = provider.spec(model)
    assert spec is not None
    return Call(account(), spec, f"ernie_v1/{model}", "req1", stream)


def req(messages: list[dict[str, Any]], **kw: Any) -> ChatRequest:
    return ChatRequest.from_raw({"model": "ernie_v1/ernie-3.5-8k", "messages": messages, **kw})


def body_of(r: ChatRequest, model: str = "ernie-3.5-8k", stream: bool = False) -> tuple[str, dict[str, Any]]:
    wire = provider.build_chat(r, call(model, stream))
    out: dict[str, Any] = orjson.loads(wire.body or b"")
    return wire.url, out


# ---- catalogue ----------------------------------------------------------------------------------------


def test_slugs_come_from_the_table() -> None:
    assert provider.spec("ernie-4.0-8k").wire_name == "completions_pro"  # type: ignore[union-attr]
    assert provider.spec("ernie-speed-8k").wire_name == "ernie_speed"  # type: ignore[union-attr]
    assert provider.spec("ERNIE-Bot").wire_name == "completions"  # type: ignore[union-attr]
    assert provider.spec("bge-large-zh").wire_name == "bge_large_zh"  # type: ignore[union-attr]
    assert {m.id for m in provider.models} == set(SLUGS)
    tao = provider.spec("tao-8k")
    assert tao is not None and tao.embedding_batch == 1 and tao.wire_name == "tao_8k"


# ---- build_chat ---------------------------------------------------------------------------------------


def test_build_chat_translations() -> None:
    url, b = body_of(
        req(
            [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "Capital of France?"},
                {"role": "assistant", "content": "Paris."},
                {"role": "user", "content": "And of Italy?"},
            ],
            temperature=0.7,
            top_p=0.8,
            max_tokens=256,
            stop="\n\n",
            user="u-1024",
            presence_penalty=1.0,
            frequency_penalty=-1.0,
            response_format={"type": "json_object"},
            disable_search=True,
        )
    )
    assert url == f"http://emu{RPC}/chat/completions"
    assert b["system"] == "Be terse."
    assert [m["role"] for m in b["messages"]] == ["user", "assistant", "user"]
    assert b["temperature"] == 0.7 and b["top_p"] == 0.8
    assert b["max_output_tokens"] == 256
    assert b["stop"] == ["\n\n"] and b["user_id"] == "u-1024"
    assert b["penalty_score"] == 1.5
    assert b["response_format"] == "json_object"
    assert b["disable_search"] is True
    assert "stream" not in b


def test_build_chat_edges() -> None:
    _, b = body_of(
        req([{"role": "user", "content": "hi"}], temperature=0, max_tokens=1, presence_penalty=-2),
        stream=True,
    )
    assert b["temperature"] == MIN_TEMPERATURE and b["max_output_tokens"] == 2
    assert "penalty_score" not in b and b["stream"] is True
    _, b = body_of(req([{"role": "user", "content": "hi"}], temperature=2))
    assert b["temperature"] == 1.0
    with pytest.raises(UnsupportedParameter) as ei:
        body_of(req([{"role": "user", "content": "hi"}], stop=["x" * 21]))
    assert ei.value.param == "stop"


def test_build_chat_tools_and_choice() -> None:
    _, b = body_of(req([{"role": "user", "content": "hi"}], tools=TOOLS, tool_choice="auto"))
    assert b["functions"] == [TOOLS[0]["function"]] and "tool_choice" not in b
    _, b = body_of(
        req(
            [{"role": "user", "content": "hi"}],
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
        )
    )
    assert b["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    _, b = body_of(req([{"role": "user", "content": "hi"}], tools=TOOLS, tool_choice="none"))
    assert "functions" not in b


def test_per_model_parameter_lists() -> None:
    r = req([{"role": "user", "content": "hi"}], presence_penalty=-0.5, frequency_penalty=0.4)
    _, b = body_of(r, "ernie-speed-8k")  # light models take OpenAI's penalties as they are
    assert (b["presence_penalty"], b["frequency_penalty"]) == (-0.5, 0.4) and "penalty_score" not in b
    _, b = body_of(r, "ernie-3.5-8k")
    assert b["penalty_score"] == 1.2 and "presence_penalty" not in b
    forced = req(
        [{"role": "user", "content": "hi"}],
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    with pytest.raises(UnsupportedParameter) as ei:
        body_of(forced, "ernie-4.0-8k")  # functions yes, tool_choice no
    assert ei.value.param == "tool_choice"
    assert provider.spec("ernie-4.0-8k").caps.tools  # type: ignore[union-attr]
    assert not provider.spec("ernie-4.0-turbo-8k").caps.tools  # type: ignore[union-attr]
    assert not provider.spec("ernie-speed-8k").caps.tools  # type: ignore[union-attr]


def test_build_chat_tool_round_trip_and_parallel_calls() -> None:
    fa = {"name": "get_weather", "arguments": '{"city":"A"}'}
    fb = {"name": "get_time", "arguments": '{"tz":"B"}'}
    calls = [
        {"id": "c1", "type": "function", "function": fa},
        {"id": "c2", "type": "function", "function": fb},
    ]
    _, b = body_of(
        req(
            [
                {"role": "user", "content": "weather and time?"},
                {"role": "assistant", "content": None, "tool_calls": calls},
                {"role": "tool", "tool_call_id": "c2", "content": "12:00"},
                {"role": "tool", "tool_call_id": "c1", "content": '{"sky": "sunny"}'},
            ]
        )
    )
    assert b["messages"] == [
        {"role": "user", "content": "weather and time?"},
        {"role": "assistant", "content": "", "function_call": fa},
        {"role": "function", "name": "get_weather", "content": '{"sky": "sunny"}'},
        {"role": "assistant", "content": "", "function_call": fb},
        {"role": "function", "name": "get_time", "content": '{"result":"12:00"}'},
    ]


def test_build_chat_missing_tool_result() -> None:
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    with pytest.raises(UnsupportedParameter):
        body_of(
            req(
                [
                    {"role": "user", "content": "x"},
                    {"role": "assistant", "tool_calls": calls},
                    {"role": "user", "content": "y"},
                ]
            )
        )


# ---- answers ------------------------------------------------------------------------------------------


def resp(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> WireResponse:
    return WireResponse(status, headers or {}, orjson.dumps(obj))


def test_parse_chat_text_and_truncation() -> None:
    base = {
        "id": "as-1",
        "object": "chat.completion",
        "created": 5,
        "result": "Rome.",
        "is_truncated": False,
        "need_clear_history": False,
        "finish_reason": "normal",
        "usage": {"prompt_tokens": 21, "completion_tokens": 2, "total_tokens": 23},
    }
    out = provider.parse_chat(resp(base), req([{"role": "user", "content": "x"}]), call())
    assert out.choices[0].message.content == "Rome." and out.choices[0].finish_reason == "stop"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (21, 2)
    out = provider.parse_chat(
        resp({**base, "is_truncated": True}), req([{"role": "user", "content": "x"}]), call()
    )
    assert out.choices[0].finish_reason == "length"
    out = provider.parse_chat(
        resp({**base, "finish_reason": "content_filter"}), req([{"role": "user", "content": "x"}]), call()
    )
    assert out.choices[0].finish_reason == "content_filter"
    with pytest.raises(ContentFiltered):
        provider.parse_chat(
            resp({**base, "need_clear_history": True, "ban_round": -1}),
            req([{"role": "user", "content": "x"}]),
            call(),
        )


def test_parse_chat_function_call_gets_a_stable_id() -> None:
    body = {
        "id": "as-9q2w",
        "result": "",
        "finish_reason": "function_call",
        "function_call": {"name": "get_weather", "arguments": '{"city":"Beijing"}', "thoughts": "…"},
        "usage": {"prompt_tokens": 88, "completion_tokens": 19, "total_tokens": 107},
    }
    a = provider.parse_chat(resp(body), req([{"role": "user", "content": "x"}]), call())
    b = provider.parse_chat(resp(body), req([{"role": "user", "content": "x"}]), call())
    tc = a.choices[0].message.tool_calls[0]
    assert tc.id.startswith("call_") and tc.id == b.choices[0].message.tool_calls[0].id
    assert tc.name == "get_weather" and tc.arguments == '{"city":"Beijing"}'
    assert a.choices[0].finish_reason == "tool_calls" and a.choices[0].message.content is None


# ---- streams from the emulator, cut anywhere -------------------------------------------------------


async def emulator_bytes(slug: str, payload: dict[str, Any], scenario: str | None = None) -> bytes:
    app = create_app(EmulatorOptions(credential=CRED))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emu") as c:
        pair = {"client_id": "ernie-demo-ak", "client_secret": "ernie-demo-sk"}
        t = await c.post("/oauth/2.0/token", params={"grant_type": "client_credentials", **pair})
        headers = {"X-Emulator-Scenario": scenario} if scenario else {}
        token = t.json()["access_token"]
        r = await c.post(f"{RPC}/chat/{slug}", params={"access_token": token}, json=payload, headers=headers)
        return r.content


def run_stream(raw: bytes, pieces: list[bytes], r: ChatRequest) -> tuple[list[ChatChunk], StreamState]:
    state = StreamState(call(stream=True), r)
    dec = SSEDecoder()
    out: list[ChatChunk] = []
    for p in pieces:
        for ev in dec.feed(p):
            if not state.done:
                out.extend(provider.parse_event(ev, state))
    for ev in dec.close():
        if not state.done:
            out.extend(provider.parse_event(ev, state))
    return out, state


def cuts(raw: bytes, seed: int) -> list[list[bytes]]:
    rng = random.Random(seed)
    rand: list[bytes] = []
    i = 0
    while i < len(raw):
        n = rng.randint(1, 40)
        rand.append(raw[i : i + n])
        i += n
    return [[raw], [raw[i : i + 1] for i in range(len(raw))], rand]


def summary(chunks: list[ChatChunk]) -> tuple[str, str | None, list[tuple[str | None, str | None]]]:
    text, finish, tools = "", None, []
    for ch in chunks:
        for c in ch.choices:
            text += c.delta.content or ""
            tools += [(t.name, t.arguments) for t in c.delta.tool_calls or ()]
            finish = c.finish_reason or finish
    return text, finish, tools


async def test_stream_text_any_cut_usage_from_is_end_only() -> None:
    payload = {"messages": [{"role": "user", "content": "你好，介绍一下北京"}], "stream": True}
    raw = await emulator_bytes("completions", payload)
    assert b'"is_end":true' in raw and b"[DONE]" not in raw
    r = req(payload["messages"], stream=True)
    results = []
    for pieces in cuts(raw, 7):
        chunks, state = run_stream(raw, pieces, r)
        assert state.done
        usages = [c.usage for c in chunks if c.usage is not None]
        assert len(usages) == 1  # partial usage of intermediate events is ignored
        results.append((summary(chunks), usages[0].completion_tokens))
    assert results[0] == results[1] == results[2]
    (text, finish, _), completion = results[0]
    assert "北京" in text and finish == "stop" and completion > 0


async def test_stream_function_call_any_cut() -> None:
    payload = {
        "messages": [{"role": "user", "content": "weather in Beijing? get_weather"}],
        "stream": True,
        "functions": [TOOLS[0]["function"]],
    }
    raw = await emulator_bytes("completions", payload)
    for pieces in cuts(raw, 8):
        _, finish, tools = summary(run_stream(raw, pieces, req(payload["messages"]))[0])
        assert finish == "tool_calls" and tools == [("get_weather", '{"city":"Beijing"}')]


async def test_stream_filtered_and_errors() -> None:
    r = req([{"role": "user", "content": "story"}])
    raw = await emulator_bytes(
        "completions", {"messages": [{"role": "user", "content": "story"}], "stream": True}, "filtered_midway"
    )
    assert summary(run_stream(raw, [raw], r)[0])[1] == "content_filter"
    one = {"messages": [{"role": "user", "content": "x"}], "stream": True}
    raw = await emulator_bytes("completions", one, "filtered")
    with pytest.raises(ContentFiltered):
        run_stream(raw, [raw], r)
    # a failed stream start is a plain JSON body: the gateway classifies it like a non-stream answer
    raw = await emulator_bytes("completions", one, "rate_limited")
    assert raw.startswith(b"{")
    assert isinstance(provider.classify(WireResponse(200, {}, raw), call()), RateLimited)
    with pytest.raises(RateLimited):
        provider.parse_event(SSEEvent(raw.decode(), "raw"), StreamState(call(stream=True), r))


# ---- errors in 200 bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (336501, RateLimited),
        (336502, RateLimited),
        (18, RateLimited),
        (4, RateLimited),
        (17, InsufficientQuota),
        (110, AuthenticationFailed),
        (111, AuthenticationFailed),
        (14, AuthenticationFailed),
        (6, PermissionDenied),
        (336004, PermissionDenied),
        (336003, InvalidRequest),
        (336001, InvalidRequest),
        (336103, ContextLengthExceeded),
        (336005, ModelNotFound),
        (336100, ServiceUnavailable),
        (2, ServiceUnavailable),
        (336000, UpstreamError),
        (1, UpstreamError),
    ],
)
def test_classify_200_bodies(code: int, cls: type[QiaoError]) -> None:
    e = provider.classify(
        resp({"error_code": code, "error_msg": "msg", "id": "as-1"}, headers={"retry-after": "3"}), call()
    )
    assert type(e) is cls
    assert e.provider == "ernie_v1" and e.vendor_code == str(code)
    if cls is RateLimited:
        assert e.retry_after == 3.0


def test_classify_doc_shape_and_success() -> None:
    assert isinstance(provider.classify(resp({"code": 336501, "msg": "rpm"}), call()), RateLimited)
    assert provider.classify(resp({"id": "as-1", "result": "ok", "usage": {}}), call()) is None
    assert isinstance(provider.classify(WireResponse(502, {}, b"bad gateway"), call()), UpstreamError)


# ---- OAuth --------------------------------------------------------------------------------------------


class FakeTokenEndpoint:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.answer: tuple[int, dict[str, Any]] = (200, {"access_token": "24.tok", "expires_in": 2_592_000})

    async def __call__(self, wire: WireRequest) -> WireResponse:
        self.calls.append(wire.url)
        status, body = self.answer
        n = len(self.calls)
        if "access_token" in body:
            body = {**body, "access_token": f"24.tok{n}"}
        return WireResponse(status, {}, orjson.dumps(body))


async def test_oauth_fetches_once_and_caches_per_pair() -> None:
    now = [1000.0]
    auth = BaiduOAuth(clock=lambda: now[0])
    fetch = FakeTokenEndpoint()
    w = await auth.apply(WireRequest("POST", "http://emu/rpc/x", {}), account(), fetch)
    assert w.url == "http://emu/rpc/x?access_token=24.tok1"
    query = "grant_type=client_credentials&client_id=ernie-demo-ak&client_secret=ernie-demo-sk"
    assert query in fetch.calls[0]
    assert fetch.calls[0].startswith("http://emu/oauth/2.0/token?")
    await auth.apply(WireRequest("POST", "http://emu/rpc/x", {}), account(), fetch)
    assert len(fetch.calls) == 1
    w = await auth.apply(WireRequest("POST", "http://emu/rpc/x", {}), account("other:pair"), fetch)
    assert len(fetch.calls) == 2 and w.url.endswith("24.tok2")
    # refreshed a day before the 30 days are over
    now[0] += 2_592_000 - 86_400 + 1
    w = await auth.apply(WireRequest("POST", "http://emu/rpc/x", {}), account(), fetch)
    assert len(fetch.calls) == 3 and w.url.endswith("24.tok3")


async def test_oauth_short_lived_token_is_still_cached() -> None:
    now = [0.0]
    auth = BaiduOAuth(clock=lambda: now[0])
    fetch = FakeTokenEndpoint()
    fetch.answer = (200, {"access_token": "24.t", "expires_in": 3600})
    for _ in range(3):
        await auth.apply(WireRequest("POST", "http://emu/x", {}), account(), fetch)
    assert len(fetch.calls) == 1
    now[0] = 3300.0  # within the last tenth of its life
    await auth.apply(WireRequest("POST", "http://emu/x", {}), account(), fetch)
    assert len(fetch.calls) == 2


async def test_oauth_refresh_on_110_111_only() -> None:
    auth = BaiduOAuth()
    fetch = FakeTokenEndpoint()
    await auth.apply(WireRequest("POST", "http://emu/x", {}), account(), fetch)
    for code in (110, 111):
        e = provider.classify(resp({"error_code": code, "error_msg": "token"}), call())
        assert e is not None and auth.on_auth_error(account(), e) is True
        assert auth.cached(account()) is None
        await auth.apply(WireRequest("POST", "http://emu/x", {}), account(), fetch)
    e14 = provider.classify(resp({"error_code": 14, "error_msg": "iam"}), call())
    assert e14 is not None and auth.on_auth_error(account(), e14) is False
    assert len(fetch.calls) == 3


@pytest.mark.parametrize("desc", ["unknown client id", "Client authentication failed"])
async def test_oauth_refused_pair_is_401_without_secrets(desc: str) -> None:
    fetch = FakeTokenEndpoint()
    fetch.answer = (401, {"error": "invalid_client", "error_description": desc})
    with pytest.raises(AuthenticationFailed) as ei:
        await BaiduOAuth().apply(WireRequest("POST", "http://emu/x", {}), account("myak123:mysk456"), fetch)
    assert "myak123" not in ei.value.message and "mysk456" not in ei.value.message
    assert ei.value.status == 401


async def test_oauth_bad_credential_format() -> None:
    with pytest.raises(AuthenticationFailed):
        await BaiduOAuth().apply(
            WireRequest("POST", "http://emu/x", {}), account("no-colon"), FakeTokenEndpoint()
        )


# ---- the gateway against the emulator: expired token → 111 → refresh → retry ------------------------


async def test_gateway_refreshes_an_expired_token() -> None:
    from qiao.config import Settings
    from qiao.gateway.pipeline import Gateway, RequestContext
    from qiao.providers.base import WireResponse as WR
    from qiao.transport.http import Transport

    app = create_app(EmulatorOptions(credential=CRED))
    seen: list[str] = []

    class ASGITransport(Transport):
        async def send(self, wire: WireRequest, account: Account, timeouts: Any = None) -> WR:
            seen.append(wire.url.split("?")[0].replace("http://emu", ""))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emu") as c:
                r = await c.request(wire.method, wire.url, content=wire.body, headers=wire.headers)
            return WR(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)

    settings = Settings.model_validate(
        {"accounts": [{"provider": "ernie_v1", "base_url": "http://emu", "credential": CRED}]}
    )
    gw = Gateway(settings, ASGITransport())
    r = req([{"role": "user", "content": "hi"}])
    out = await gw.chat(r, RequestContext("r1", None))
    assert out.choices[0].message.content
    for tok in list(app.tokens):  # type: ignore[attr-defined]
        app.tokens[tok] = 0.0  # type: ignore[attr-defined]  # Baidu expired it
    out = await gw.chat(r, RequestContext("r2", None))
    assert out.choices[0].message.content
    token_calls = [s for s in seen if s.startswith("/oauth")]
    assert len(token_calls) == 2
    assert seen[-3:] == [f"{RPC}/chat/completions", "/oauth/2.0/token", f"{RPC}/chat/completions"]
    # embeddings with a revoked token: refreshed and retried once by the gateway too
    app.tokens.clear()  # type: ignore[attr-defined]
    one = EmbeddingRequest(model="ernie_v1/embedding-v1", input=["x"])
    del seen[:]
    assert (await gw.embeddings(one, RequestContext("e", None))).vectors
    assert seen == [f"{RPC}/embeddings/embedding-v1", "/oauth/2.0/token", f"{RPC}/embeddings/embedding-v1"]
    del seen[:]
    out = await gw.chat(r, RequestContext("r2b", None))
    assert seen == [f"{RPC}/chat/completions"]
    # embeddings ride on the same token; 20 inputs are split into batches of 16
    ereq = EmbeddingRequest(model="ernie_v1/embedding-v1", input=[str(i) for i in range(20)])
    res = await gw.embeddings(ereq, RequestContext("r3", None))
    assert len(res.vectors) == 20 and len(res.vectors[0]) == 384
    await gw.aclose()
