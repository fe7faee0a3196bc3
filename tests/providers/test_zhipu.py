"""Unit tests of the ``zhipu`` provider: translation, parsing (byte by byte), errors, auth."""

from __future__ import annotations

import random
import time
from typing import Any

import httpx
import jwt
import orjson
import pytest

from qiao.emulators import EmulatorOptions
from qiao.emulators.zhipu import DEFAULT_CREDENTIAL, check_auth, create_app
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
)
from qiao.gateway.params import unsupported_params
from qiao.providers._registry import get_provider
from qiao.providers._zhipu_wire import StopFilter, TokenCache, mint_jwt, user_id_for
from qiao.providers.base import Account, Call, SSEEvent, StreamState, WireRequest, WireResponse
from qiao.providers.zhipu import Zhipu, provider
from qiao.transport.sse import SSEDecoder
from qiao.types import ChatChunk, ChatRequest, EmbeddingRequest

ROOT = "http://zhipu.test"


def account(auth: str = "key", credential: str = DEFAULT_CREDENTIAL, **opts: Any) -> Account:
    return Account(
        "zhipu", "zhipu", credential, ROOT + "/api/paas/v4", options=(("auth", auth), *opts.items())
    )


def call(model: str = "glm-4-plus", stream: bool = False, acc: Account | None = None) -> Call:
    spec = provider.spec(model)
    assert spec is not None
    return Call(acc or account(), spec, "gpt-4o", "req-1", stream)


def chat(**kw: Any) -> ChatRequest:
    raw = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **kw}
    return ChatRequest.from_raw(raw)


def body_of(req: ChatRequest, model: str = "glm-4-plus", stream: bool = False) -> dict[str, Any]:
    wire = provider.build_chat(req, call(model, stream))
    assert wire.body is not None
    out: dict[str, Any] = orjson.loads(wire.body)
    return out


# ---- registry and catalogue ---------------------------------------------------------------------------


def test_registered_with_catalogue_and_demo_settings() -> None:
    p = get_provider("zhipu")
    assert isinstance(p, Zhipu)
    assert p.emulator_base_path == "/api/paas/v4"
    assert p.demo_aliases["gpt-4o"] == ("glm-4-plus", 30)
    assert p.demo_aliases["gpt-4o-mini"] == ("glm-4-flash", 30)
    assert p.demo_aliases["text-embedding-3-small"] == ("embedding-3", 30)
    for m in p.models:
        if m.price is not None:
            assert m.price.since and m.price.source.startswith("https://")
    e3 = p.spec("embedding-3")
    assert e3 is not None and e3.dimensions == 2048 and e3.embedding_batch == 64
    flash = p.spec("glm-4-flash")
    assert flash is not None and flash.price is not None and flash.price.input == 0


# ---- request translation ------------------------------------------------------------------------------


def test_basic_body() -> None:
    b = body_of(chat(max_completion_tokens=100, seed=7))
    assert b == {
        "model": "glm-4-plus",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 100,
        "seed": 7,
    }
    assert body_of(chat(), stream=True)["stream"] is True
    assert "stream_options" not in body_of(
        chat(stream=True, stream_options={"include_usage": True}), stream=True
    )


@pytest.mark.parametrize(
    ("t", "expected"), [(0.7, 0.7), (1.0, 0.99), (1.8, 0.99), (0.001, 0.01), (0.555, 0.56)]
)
def test_temperature_clamped_to_open_interval(t: float, expected: float) -> None:
    b = body_of(chat(temperature=t))
    assert b["temperature"] == expected and "do_sample" not in b


def test_temperature_zero_is_greedy() -> None:
    b = body_of(chat(temperature=0, top_p=0.5))
    assert b["do_sample"] is False and "temperature" not in b and "top_p" not in b


@pytest.mark.parametrize(("p", "expected"), [(1.0, 0.99), (0.0, 0.01), (0.9, 0.9)])
def test_top_p_clamped(p: float, expected: float) -> None:
    assert body_of(chat(top_p=p))["top_p"] == expected


def test_stop_first_upstream() -> None:
    assert body_of(chat(stop=["A", "B", "C"]))["stop"] == ["A"]
    assert body_of(chat(stop="X"))["stop"] == ["X"]


def test_user_id_rules() -> None:
    assert body_of(chat(user="user-000042"))["user_id"] == "user-000042"
    short = body_of(chat(user="u1"))["user_id"]
    assert 6 <= len(short) <= 128 and short == user_id_for("u1") and short != user_id_for("u2")
    assert 6 <= len(body_of(chat(user="x" * 300))["user_id"]) <= 128
    assert body_of(chat(safety_identifier="safety-1"))["user_id"] == "safety-1"


def test_messages_roles_and_repair() -> None:
    b = body_of(
        chat(
            messages=[
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": "q", "name": "bob"},
            ]
        )
    )
    assert b["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "q"}]
    only_system = body_of(chat(messages=[{"role": "system", "content": "say hi"}]))
    assert only_system["messages"] == [{"role": "user", "content": "say hi"}]
    with pytest.raises(UnsupportedParameter):
        body_of(chat(messages=[{"role": "function", "name": "f", "content": "x"}]))


def test_tool_round_trip_messages() -> None:
    msgs = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    b = body_of(chat(messages=msgs))
    assert b["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
    }
    assert b["messages"][2] == {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}


TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "d",
        "strict": True,
        "parameters": {"type": "object", "properties": {}},
    },
}


def test_tools_and_tool_choice() -> None:
    b = body_of(chat(tools=[TOOL]))
    assert b["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "d",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]
    assert b["tool_choice"] == "auto"
    assert body_of(chat(tools=[TOOL], tool_choice="auto"))["tool_choice"] == "auto"
    none = body_of(chat(tools=[TOOL], tool_choice="none"))
    assert "tools" not in none and "tool_choice" not in none
    with pytest.raises(UnsupportedParameter) as e:
        body_of(chat(tools=[TOOL], tool_choice={"type": "function", "function": {"name": "get_weather"}}))
    assert e.value.param == "tool_choice"
    spec = provider.spec("glm-4-plus")
    assert spec is not None
    assert "tool_choice" in unsupported_params(chat(tools=[TOOL], tool_choice="required"), provider, spec)


def test_web_search_options_become_the_web_search_tool() -> None:
    b = body_of(chat(web_search_options={}))
    assert b["tools"] == [{"type": "web_search", "web_search": {"enable": True}}]
    assert "tool_choice" not in b


def test_response_format_and_reasoning() -> None:
    assert body_of(chat(response_format={"type": "json_object"}))["response_format"] == {
        "type": "json_object"
    }
    assert "response_format" not in body_of(chat(response_format={"type": "text"}))
    assert body_of(chat(reasoning_effort="high"), "glm-4.5")["thinking"] == {"type": "enabled"}
    assert body_of(chat(reasoning_effort="none"), "glm-4.6")["thinking"] == {"type": "disabled"}
    with pytest.raises(UnsupportedParameter):
        body_of(chat(reasoning_effort="high"), "glm-4-plus")


def test_native_extras_pass_through() -> None:
    b = body_of(
        chat(do_sample=False, request_id="r-1", thinking={"type": "disabled"}, user_id="explicit-user")
    )
    assert b["do_sample"] is False and b["request_id"] == "r-1" and b["thinking"] == {"type": "disabled"}
    assert b["user_id"] == "explicit-user"


def test_unsupported_fields_are_named() -> None:
    spec = provider.spec("glm-4-plus")
    assert spec is not None
    req = chat(
        presence_penalty=0.5,
        frequency_penalty=0.5,
        logprobs=True,
        n=2,
        parallel_tool_calls=False,
        logit_bias={"1": 1},
        response_format={"type": "json_schema", "json_schema": {"name": "x"}},
    )
    bad = unsupported_params(req, provider, spec)
    for f in (
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "n",
        "parallel_tool_calls",
        "logit_bias",
        "response_format",
    ):
        assert f in bad
    assert unsupported_params(chat(presence_penalty=0, n=1, parallel_tool_calls=True), provider, spec) == []
    assert unsupported_params(chat(do_sample=True), provider, spec) == []
    assert unsupported_params(chat(mystery=True), provider, spec) == ["mystery"]
    # a text model refuses image input; vision models do not take tools
    img = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]
    assert "messages" in unsupported_params(chat(messages=img), provider, spec)
    vision = provider.spec("glm-4v-plus")
    assert vision is not None and "tools" in unsupported_params(chat(tools=[TOOL]), provider, vision)


def test_images() -> None:
    content = [
        {"type": "text", "text": "what"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    b = body_of(chat(messages=[{"role": "user", "content": content}]), "glm-4v-plus")
    assert b["messages"][0]["content"] == [
        {"type": "text", "text": "what"},
        {"type": "image_url", "image_url": {"url": "AAAA"}},
    ]
    with pytest.raises(UnsupportedParameter):
        body_of(chat(messages=[{"role": "user", "content": content}]), "glm-4v-flash")
    two = [
        {"type": "image_url", "image_url": {"url": "https://a/1.png"}},
        {"type": "image_url", "image_url": {"url": "https://a/2.png"}},
    ]
    with pytest.raises(UnsupportedParameter):
        body_of(chat(messages=[{"role": "user", "content": two}]), "glm-4v-flash")
    # text parts to a text model become a string
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert body_of(chat(messages=[{"role": "user", "content": parts}]))["messages"][0]["content"] == "ab"


# ---- responses ---------------------------------------------------------------------------------------


def resp(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> WireResponse:
    return WireResponse(status, headers or {}, orjson.dumps(obj))


def test_parse_chat() -> None:
    body = {
        "id": "2024",
        "created": 1719300000,
        "model": "glm-4-plus",
        "request_id": "r",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_abc",
                            "type": "function",
                            "function": {"name": "w", "arguments": '{"a":1}'},
                        },
                        {"type": "function", "function": {"name": "v", "arguments": "{}"}},
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4},
        },
    }
    out = provider.parse_chat(resp(body), chat(), call())
    c = out.choices[0]
    assert c.finish_reason == "tool_calls" and c.message.tool_calls[0].id == "call_abc"
    minted = c.message.tool_calls[1].id
    assert (
        minted.startswith("call_")
        and minted == provider.parse_chat(resp(body), chat(), call()).choices[0].message.tool_calls[1].id
    )
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.cached_tokens) == (10, 5, 4)
    d = out.to_dict()
    assert d["object"] == "chat.completion"


def _answer(content: str, finish: str = "stop", **msg: Any) -> dict[str, Any]:
    return {
        "id": "1",
        "created": 1,
        "choices": [
            {"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": content, **msg}}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def test_parse_chat_finish_reasons_and_reasoning() -> None:
    assert (
        provider.parse_chat(resp(_answer("x", "sensitive")), chat(), call()).choices[0].finish_reason
        == "content_filter"
    )
    assert (
        provider.parse_chat(resp(_answer("x", "model_context_window_exceeded")), chat(), call())
        .choices[0]
        .finish_reason
        == "length"
    )
    with pytest.raises(UpstreamError):
        provider.parse_chat(resp(_answer("", "network_error")), chat(), call())
    out = provider.parse_chat(resp(_answer("42", reasoning_content="thinking…")), chat(), call("glm-4.5"))
    assert out.choices[0].message.reasoning_content == "thinking…"
    with pytest.raises(UpstreamError):
        provider.parse_chat(WireResponse(200, {}, b"not json"), chat(), call())


def test_parse_chat_applies_the_other_stop_sequences() -> None:
    out = provider.parse_chat(resp(_answer("one two END three", "length")), chat(stop=["X", "END"]), call())
    assert out.choices[0].message.content == "one two " and out.choices[0].finish_reason == "stop"


# ---- streaming, byte by byte ----------------------------------------------------------------------------


async def emulator_bytes(body: dict[str, Any], headers: dict[str, str] | None = None) -> bytes:
    app = create_app(EmulatorOptions())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as c:
        r = await c.post(
            "/api/paas/v4/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {DEFAULT_CREDENTIAL}", **(headers or {})},
        )
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/event-stream")
        return r.content


def run_stream(raw: bytes, req: ChatRequest, model: str, sizes: str) -> tuple[list[ChatChunk], StreamState]:
    state = StreamState(call(model, True), req)
    dec = SSEDecoder()
    out: list[ChatChunk] = []
    rng = random.Random(7)
    i = 0
    while i < len(raw) and not state.done:
        n = 1 if sizes == "one" else rng.randint(1, 40)
        for ev in dec.feed(raw[i : i + n]):
            out.extend(provider.parse_event(ev, state))
        i += n
    for ev in dec.close():
        out.extend(provider.parse_event(ev, state))
    return out, state


def text_of(chunks: list[ChatChunk]) -> str:
    return "".join(c.delta.content or "" for ch in chunks for c in ch.choices)


@pytest.mark.parametrize("sizes", ["one", "random"])
async def test_stream_text_at_every_boundary(sizes: str) -> None:
    raw = await emulator_bytes(
        {
            "model": "glm-4-flash",
            "stream": True,
            "messages": [{"role": "user", "content": "Tell me about 杭州 please"}],
        }
    )
    req = chat(stream=True)
    chunks, state = run_stream(raw, req, "glm-4-flash", sizes)
    whole, _ = run_stream(raw, req, "glm-4-flash", "random")
    assert state.done
    assert "杭州" in text_of(chunks) and text_of(chunks) == text_of(whole)
    finishes = [c.finish_reason for ch in chunks for c in ch.choices if c.finish_reason]
    assert finishes == ["stop"]
    usage = [ch.usage for ch in chunks if ch.usage]
    assert len(usage) == 1 and usage[0] is not None and usage[0].completion_tokens > 0


@pytest.mark.parametrize("tool_stream", [False, True])
async def test_stream_tool_call(tool_stream: bool) -> None:
    raw = await emulator_bytes(
        {
            "model": "glm-4.6",
            "stream": True,
            "tool_stream": tool_stream,
            "thinking": {"type": "disabled"},
            "tools": [TOOL],
            "messages": [{"role": "user", "content": "get_weather in Hangzhou"}],
        }
    )
    chunks, _ = run_stream(raw, chat(tools=[TOOL]), "glm-4.6", "one")
    deltas = [t for ch in chunks for c in ch.choices for t in (c.delta.tool_calls or [])]
    assert deltas[0].id and deltas[0].name == "get_weather" and deltas[0].index == 0
    args = "".join(t.arguments or "" for t in deltas)
    assert isinstance(orjson.loads(args), dict)
    assert [c.finish_reason for ch in chunks for c in ch.choices if c.finish_reason] == ["tool_calls"]


async def test_stream_reasoning() -> None:
    raw = await emulator_bytes(
        {"model": "glm-4.5", "stream": True, "messages": [{"role": "user", "content": "why"}]}
    )
    chunks, _ = run_stream(raw, chat(), "glm-4.5", "random")
    assert "".join(c.delta.reasoning_content or "" for ch in chunks for c in ch.choices)
    assert text_of(chunks)


async def test_stream_sensitive_becomes_content_filter() -> None:
    raw = await emulator_bytes(
        {
            "model": "glm-4-flash",
            "stream": True,
            "messages": [{"role": "user", "content": "a long story please [[emulate:filtered_midway]]"}],
        }
    )
    chunks, state = run_stream(raw, chat(), "glm-4-flash", "one")
    assert [c.finish_reason for ch in chunks for c in ch.choices if c.finish_reason] == ["content_filter"]
    assert state.done


@pytest.mark.parametrize("sizes", ["one", "random"])
async def test_stream_extra_stop_sequences_cut_across_deltas(sizes: str) -> None:
    body = {
        "model": "glm-4-flash",
        "stream": True,
        "messages": [{"role": "user", "content": "alpha beta gamma delta"}],
    }
    raw = await emulator_bytes(body)
    full = text_of(run_stream(raw, chat(), "glm-4-flash", "random")[0])
    stop = "gamma del"  # straddles several deltas
    chunks, _ = run_stream(raw, chat(stop=["NEVER", stop]), "glm-4-flash", sizes)
    assert text_of(chunks) == full[: full.index(stop)]
    assert [c.finish_reason for ch in chunks for c in ch.choices if c.finish_reason] == ["stop"]
    # no stop found: everything released, including the held-back tail
    chunks, _ = run_stream(raw, chat(stop=["NEVER", "NOPE"]), "glm-4-flash", sizes)
    assert text_of(chunks) == full


def test_stop_filter_unit() -> None:
    f = StopFilter(("abc",))
    assert f.feed(0, "xxa") == ("x", False)
    assert f.feed(0, "b") == ("x", False)
    assert f.feed(0, "cyy") == ("", True)
    assert f.feed(0, "more") == ("", True)
    f2 = StopFilter(("abc",))
    out = [f2.feed(0, ch) for ch in "12abX"]
    assert "".join(o for o, _ in out) + f2.flush(0) == "12abX"


def test_stream_events_network_error_and_error_object() -> None:
    state = StreamState(call(stream=True), chat())
    ev = SSEEvent(
        orjson.dumps(
            {
                "id": "1",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "network_error",
                        "delta": {"role": "assistant", "content": ""},
                    }
                ],
            }
        ).decode()
    )
    with pytest.raises(UpstreamError) as e:
        provider.parse_event(ev, state)
    assert e.value.retryable
    ev = SSEEvent(orjson.dumps({"error": {"code": "1301", "message": "unsafe"}}).decode())
    with pytest.raises(ContentFiltered):
        provider.parse_event(ev, state)
    with pytest.raises(UpstreamError):
        provider.parse_event(SSEEvent("{not json"), state)
    assert provider.parse_event(SSEEvent("[DONE]"), state) == [] and state.done


# ---- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "1000", AuthenticationFailed),
        (401, "1001", AuthenticationFailed),
        (401, "1002", AuthenticationFailed),
        (401, "1003", AuthenticationFailed),
        (401, "1004", AuthenticationFailed),
        (429, "1113", InsufficientQuota),
        (429, "1302", RateLimited),
        (429, "1303", RateLimited),
        (429, "1305", RateLimited),
        (429, "1304", RateLimited),
        (400, "1301", ContentFiltered),
        (400, "1211", ModelNotFound),
        (400, "1210", InvalidRequest),
        (400, "1214", InvalidRequest),
        (400, "1213", InvalidRequest),
        (400, "1261", ContextLengthExceeded),
        (400, "1231", Conflict),
        (429, "1112", PermissionDenied),
        (400, "1220", PermissionDenied),
        (500, "500", UpstreamError),
        (500, "1234", UpstreamError),
        (429, "1120", ServiceUnavailable),
        (503, None, ServiceUnavailable),
        (418, None, InvalidRequest),
    ],
)
def test_classify(status: int, code: str | None, cls: type[QiaoError]) -> None:
    body: dict[str, Any] = {"error": {"code": code, "message": "msg with Bearer emulatorid.emulatorsecret"}}
    err = provider.classify(resp(body, status, {"retry-after": "3"}), call())
    assert type(err) is cls
    assert err is not None and err.provider == "zhipu" and "zhipu" in err.message
    assert "emulatorsecret" not in err.message and "emulatorsecret" not in (err.excerpt or "")
    if code is not None:
        assert err.vendor_code == code
    if cls is RateLimited and code in ("1302", "1303", "1305"):
        assert err.retryable and err.retry_after == 3.0
    if code == "1304":
        assert not err.retryable


def test_classify_success_and_200_error_body() -> None:
    assert provider.classify(resp(_answer("x")), call()) is None
    err = provider.classify(resp({"error": {"code": "1302", "message": "busy"}}), call())
    assert isinstance(err, RateLimited)
    err = provider.classify(WireResponse(502, {}, b"<html>bad gateway</html>"), call())
    assert isinstance(err, UpstreamError)


async def test_emulator_errors_classify_end_to_end() -> None:
    app = create_app(EmulatorOptions())
    transport = httpx.ASGITransport(app=app)
    cases = {
        "rate_limited": RateLimited,
        "insufficient_quota": InsufficientQuota,
        "filtered": ContentFiltered,
        "bad_key": AuthenticationFailed,
        "server_error": UpstreamError,
        "overloaded": RateLimited,
    }
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as c:
        for scn, cls in cases.items():
            r = await c.post(
                "/api/paas/v4/chat/completions",
                json={"model": "glm-4-plus", "messages": [{"role": "user", "content": "hi"}]},
                headers={"Authorization": f"Bearer {DEFAULT_CREDENTIAL}", "X-Emulator-Scenario": scn},
            )
            err = provider.classify(WireResponse(r.status_code, dict(r.headers), r.content), call())
            assert type(err) is cls, scn
        r = await c.post(
            "/api/paas/v4/chat/completions",
            json={"model": "glm-9", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {DEFAULT_CREDENTIAL}"},
        )
        assert isinstance(
            provider.classify(WireResponse(r.status_code, {}, r.content), call()), ModelNotFound
        )


# ---- auth --------------------------------------------------------------------------------------------


async def _no_fetch(w: WireRequest) -> WireResponse:  # the auth scheme never needs the network
    raise AssertionError("no fetch expected")


async def apply(acc: Account, auth: Any = None) -> str:
    wire = WireRequest("POST", ROOT, {})
    out = await (auth or Zhipu().auth).apply(wire, acc, _no_fetch)
    header: str = out.headers["Authorization"]
    return header


async def test_auth_key_mode_is_the_default() -> None:
    acc = Account("zhipu", "zhipu", DEFAULT_CREDENTIAL, ROOT)
    assert await apply(acc) == f"Bearer {DEFAULT_CREDENTIAL}"


async def test_auth_jwt_mode_matches_the_sdk() -> None:
    header = await apply(account("jwt"))
    token = header.removeprefix("Bearer ")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "sign_type": "SIGN", "typ": "JWT"}
    payload = jwt.decode(token, "emulatorsecret", algorithms=["HS256"], options={"verify_exp": False})
    now_ms = time.time() * 1000
    assert payload["api_key"] == "emulatorid"
    assert abs(payload["timestamp"] - now_ms) < 60_000 and payload["exp"] - payload["timestamp"] == 1_800_000
    assert check_auth(header, DEFAULT_CREDENTIAL) is None
    # the SDK's own token (PyJWT) is byte-compatible: same header and payload layout
    from zhipuai.core._jwt_token import generate_token

    sdk = generate_token(DEFAULT_CREDENTIAL)
    assert sdk.split(".")[0] == token.split(".")[0]


def test_jwt_signature_and_expiry_checked_by_the_emulator() -> None:
    good = mint_jwt("emulatorid", "emulatorsecret", int(time.time() * 1000), 60_000)
    assert check_auth(f"Bearer {good}", DEFAULT_CREDENTIAL) is None
    assert check_auth(good, DEFAULT_CREDENTIAL) is None  # bare token, as one-api sends it
    bad_sig = mint_jwt("emulatorid", "wrong", int(time.time() * 1000), 60_000)
    r = check_auth(f"Bearer {bad_sig}", DEFAULT_CREDENTIAL)
    assert r is not None and r.status == 401 and orjson.loads(r.body)["error"]["code"] == "1004"
    old = mint_jwt("emulatorid", "emulatorsecret", int(time.time() * 1000) - 120_000, 60_000)
    r = check_auth(f"Bearer {old}", DEFAULT_CREDENTIAL)
    assert r is not None and orjson.loads(r.body)["error"]["code"] == "1003"
    r = check_auth(None, DEFAULT_CREDENTIAL)
    assert r is not None and orjson.loads(r.body)["error"]["code"] == "1001"
    r = check_auth("Bearer other.key", DEFAULT_CREDENTIAL)
    assert r is not None and orjson.loads(r.body)["error"]["code"] == "1002"


async def test_jwt_cached_until_shortly_before_expiry() -> None:
    cache = TokenCache(ttl_s=600, refresh_before_s=60)
    t0 = 1_700_000_000.0
    a = cache.get("acc", DEFAULT_CREDENTIAL, "emulatorid", "emulatorsecret", now=t0)
    assert cache.get("acc", DEFAULT_CREDENTIAL, "emulatorid", "emulatorsecret", now=t0 + 500) == a
    b = cache.get("acc", DEFAULT_CREDENTIAL, "emulatorid", "emulatorsecret", now=t0 + 545)
    assert b != a
    # another key on the same account name gets its own token
    assert cache.get("acc", "id2.secret2", "id2", "secret2", now=t0 + 546) != b


async def test_jwt_expired_answer_forgets_the_token_and_asks_for_a_retry() -> None:
    p = Zhipu()
    acc = account("jwt", jwt_ttl_s=900)
    first = await apply(acc, p.auth)
    assert await apply(acc, p.auth) == first
    expired = provider.classify(resp({"error": {"code": "1003", "message": "expired"}}, 401), call(acc=acc))
    assert expired is not None and p.auth.on_auth_error(acc, expired)
    wrong = provider.classify(resp({"error": {"code": "1002", "message": "bad"}}, 401), call(acc=acc))
    assert wrong is not None and not p.auth.on_auth_error(acc, wrong)
    assert not p.auth.on_auth_error(account("key"), expired)


async def test_auth_refuses_bad_configuration() -> None:
    with pytest.raises(AuthenticationFailed) as e:
        await apply(account("jwt", credential="no-dot-key"))
    assert "no-dot-key" not in e.value.message
    with pytest.raises(AuthenticationFailed):
        await apply(Account("zhipu", "zhipu", None, ROOT))
    with pytest.raises(QiaoError):
        await apply(account("oauth"))


# ---- embeddings ---------------------------------------------------------------------------------------


def test_embeddings_build_and_parse() -> None:
    e3 = call("embedding-3")
    wire = provider.build_embeddings(
        EmbeddingRequest(model="x", input=["a", "b"], dimensions=512), ["a", "b"], e3
    )
    assert wire.url == ROOT + "/api/paas/v4/embeddings"
    assert orjson.loads(wire.body or b"") == {"model": "embedding-3", "input": ["a", "b"], "dimensions": 512}
    with pytest.raises(InvalidRequest):
        provider.build_embeddings(EmbeddingRequest(model="x", input="a", dimensions=300), ["a"], e3)
    e2 = call("embedding-2")
    wire = provider.build_embeddings(EmbeddingRequest(model="x", input="a", dimensions=1024), ["a"], e2)
    assert orjson.loads(wire.body or b"") == {"model": "embedding-2", "input": ["a"]}
    body = {
        "model": "embedding-3",
        "object": "list",
        "data": [
            {"index": 1, "object": "embedding", "embedding": [0.5, 0.5]},
            {"index": 0, "object": "embedding", "embedding": [1.0, 0.0]},
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 0, "total_tokens": 9},
    }
    out = provider.parse_embeddings(resp(body), e3)
    assert out.vectors == [[1.0, 0.0], [0.5, 0.5]] and out.usage.prompt_tokens == 9


# ---- the emulator's validation, and the adapter's bodies against it --------------------------------------


async def post(path: str, body: dict[str, Any], auth: str | None = DEFAULT_CREDENTIAL) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(EmulatorOptions()))
    headers = {"Authorization": f"Bearer {auth}"} if auth else {}
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as c:
        return await c.post("/api/paas/v4" + path, json=body, headers=headers)


def _msgs(text: str = "hi") -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"model": "glm-4-plus", "messages": _msgs(), "stop": ["a", "b"]}, "1214"),
        ({"model": "glm-4-plus", "messages": _msgs(), "user_id": "u1"}, "1214"),
        ({"model": "glm-4-plus", "messages": _msgs(), "tool_choice": "required"}, "1214"),
        ({"model": "glm-4-plus", "messages": _msgs(), "temperature": 1.5}, "1214"),
        ({"model": "glm-4-plus", "messages": _msgs(), "top_p": 0}, "1214"),
        ({"model": "glm-4-plus", "messages": [{"role": "system", "content": "x"}]}, "1214"),
        ({"model": "glm-4-plus", "messages": _msgs(), "response_format": {"type": "json_schema"}}, "1214"),
        (
            {
                "model": "glm-4-plus",
                "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
            },
            "1214",
        ),
        ({"model": "glm-9", "messages": _msgs()}, "1211"),
        ({"model": "embedding-3", "messages": _msgs()}, "1212"),
        ({"messages": _msgs()}, "1213"),
        (
            {
                "model": "glm-4v-plus",
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
                        ],
                    }
                ],
            },
            "1210",
        ),
        (
            {
                "model": "glm-4v-flash",
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "AAAA"}}]}
                ],
            },
            "1210",
        ),
    ],
)
async def test_emulator_refuses_what_zhipu_refuses(body: dict[str, Any], code: str) -> None:
    r = await post("/chat/completions", body)
    assert r.status_code == 400 and r.json()["error"]["code"] == code


async def test_emulator_accepts_explicit_nulls_and_refuses_a_repeated_request_id() -> None:
    app = create_app(EmulatorOptions())
    transport = httpx.ASGITransport(app=app)
    body = {
        "model": "glm-4-plus",
        "messages": _msgs(),
        "response_format": None,
        "thinking": None,
        "tools": None,
        "stop": None,
        "request_id": "same-id",
    }
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as c:
        headers = {"Authorization": f"Bearer {DEFAULT_CREDENTIAL}"}
        r = await c.post("/api/paas/v4/chat/completions", json=body, headers=headers)
        assert r.status_code == 200 and r.json()["request_id"] == "same-id" and "object" not in r.json()
        r = await c.post("/api/paas/v4/chat/completions", json=body, headers=headers)
        assert r.status_code == 400 and r.json()["error"]["code"] == "1231"


async def test_emulator_web_search_and_embedding_rules() -> None:
    r = await post(
        "/chat/completions",
        {
            "model": "glm-4-air-250414",
            "messages": _msgs("latest news"),
            "tools": [{"type": "web_search", "web_search": {"enable": True}}],
        },
    )
    assert r.status_code == 200 and r.json()["web_search"]
    r = await post("/embeddings", {"model": "embedding-3", "input": [f"t{i}" for i in range(65)]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "1214"
    r = await post("/embeddings", {"model": "embedding-3", "input": "x", "dimensions": 300})
    assert r.status_code == 400
    r = await post("/embeddings", {"model": "embedding-2", "input": ["a", "b"]})
    assert r.status_code == 200 and len(r.json()["data"][1]["embedding"]) == 1024
    assert r.json()["usage"]["completion_tokens"] == 0
    r = await post("/embeddings", {"model": "embedding-3", "input": "x"}, auth=None)
    assert r.status_code == 401 and r.json()["error"]["code"] == "1001"


IMG_URL = [
    {"type": "text", "text": "what is it"},
    {"type": "image_url", "image_url": {"url": "https://x/a.png"}},
]
IMG_B64 = [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/AAAA"}}]


@pytest.mark.parametrize(
    ("model", "req"),
    [
        ("glm-4-plus", chat(temperature=0, top_p=1, stop=["a", "b", "c"], user="u1", max_tokens=50)),
        ("glm-4-plus", chat(temperature=2, top_p=0, seed=3, user="x" * 200)),
        ("glm-4-plus", chat(messages=[{"role": "developer", "content": "only a system prompt"}])),
        ("glm-4-plus", chat(tools=[TOOL], tool_choice="auto", response_format={"type": "json_object"})),
        ("glm-4-plus", chat(tools=[TOOL], tool_choice="none")),
        ("glm-4-air-250414", chat(web_search_options={"search_context_size": "low"})),
        ("glm-4.5", chat(reasoning_effort="low")),
        ("glm-4.6", chat(reasoning_effort="none", stream=True)),
        ("glm-4v-plus", chat(messages=[{"role": "user", "content": IMG_B64}])),
        (
            "glm-4v-flash",
            chat(messages=[{"role": "system", "content": "x"}, {"role": "user", "content": IMG_URL}]),
        ),
    ],
)
async def test_every_translated_body_is_accepted_by_the_emulator(model: str, req: ChatRequest) -> None:
    r = await post("/chat/completions", body_of(req, model, stream=bool(req.stream)))
    assert r.status_code == 200, r.text


async def test_translated_embedding_bodies_are_accepted() -> None:
    for model, dims in (("embedding-3", 256), ("embedding-3", None), ("embedding-2", 1024)):
        wire = provider.build_embeddings(
            EmbeddingRequest(model="x", input="a", dimensions=dims), ["a", "b"], call(model)
        )
        r = await post("/embeddings", orjson.loads(wire.body or b""))
        assert r.status_code == 200, r.text
        assert len(provider.parse_embeddings(WireResponse(200, {}, r.content), call(model)).vectors) == 2


def test_minted_jwt_is_byte_identical_to_the_sdks_pyjwt_token() -> None:
    now_ms, ttl_ms = 1_719_300_210_000, 210_000
    sdk_style = jwt.encode(
        {"api_key": "emulatorid", "exp": now_ms + ttl_ms, "timestamp": now_ms},
        "emulatorsecret",
        algorithm="HS256",
        headers={"alg": "HS256", "sign_type": "SIGN"},
    )
    assert mint_jwt("emulatorid", "emulatorsecret", now_ms, ttl_ms) == sdk_style
