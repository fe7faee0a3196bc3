"""iFlytek Spark: URL signing (iFlytek's test vector), frames, codes; the HTTP variant; the emulator's handshake."""

from __future__ import annotations

import base64
import time
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from qiao.emulators.spark import verify_handshake
from qiao.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    InvalidRequest,
    PermissionDenied,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UnsupportedParameter,
    UpstreamError,
)
from qiao.providers.base import Account, Call, SSEEvent, StreamState, WireRequest, WireResponse
from qiao.providers.spark import (
    SparkAuth,
    provider,
    request_frame,
    signed_url,
    spark_messages,
    split_credential,
)
from qiao.providers.spark_http import provider as http_provider
from qiao.types import ChatRequest

CRED = "emuappid:emuapikey:emuapisecret"


def make_call(model: str = "generalv3.5", stream: bool = False, base: str = "http://127.0.0.1:9") -> Call:
    spec = provider.spec(model)
    assert spec is not None
    return Call(Account("sp", "spark", CRED, base), spec, model, "rid1", stream)


def req(**kw: Any) -> ChatRequest:
    kw.setdefault("model", "generalv3.5")
    kw.setdefault("messages", [{"role": "user", "content": "hi"}])
    return ChatRequest.from_raw(kw)


def test_signature_matches_the_documented_vector() -> None:
    url = signed_url(
        "wss://spark-api.xf-yun.com/v4.0/chat",
        "key_example_0123456789abcdef",
        "secret_example_0123456789abcdef",
        "Thu, 01 Jan 2026 00:00:00 GMT",
    )
    q = parse_qs(urlsplit(url).query)
    assert q["host"] == ["spark-api.xf-yun.com"] and q["date"] == ["Thu, 01 Jan 2026 00:00:00 GMT"]
    assert q["authorization"] == [
        "YXBpX2tleT0ia2V5X2V4YW1wbGVfMDEyMzQ1Njc4OWFiY2RlZiIsIGFsZ29yaXRobT0iaG1hYy1zaGEyNTYiLCBoZWFkZXJzPSJob3N0IGRhdGUg"
        "cmVxdWVzdC1saW5lIiwgc2lnbmF0dXJlPSJLWkZKUWVySEpJeW1tNkZ4WHVmNWRTQnZhSjZVVEg2d200OFllSmdJR2EwPSI="
    ]
    assert "date=Thu%2C+01+Jan+2026+00%3A00%3A00+GMT" in url


def test_credential_format() -> None:
    assert split_credential(CRED) == ("emuappid", "emuapikey", "emuapisecret")
    for bad in ("a:b", "a::c", "", None):
        with pytest.raises(AuthenticationFailed):
            split_credential(bad)


async def test_auth_signs_at_send_time_and_the_emulator_verifies() -> None:
    wire = provider.build_chat(req(), make_call())
    assert wire.url == "ws://127.0.0.1:9/v3.5/chat"  # http base → ws

    async def no_fetch(w: WireRequest) -> WireResponse:
        raise AssertionError

    signed = await SparkAuth(clock=lambda: 1_800_000_000).apply(wire, make_call().account, no_fetch)
    u = urlsplit(signed.url)
    q = parse_qs(u.query)
    secrets = {"emuapikey": "emuapisecret"}
    assert verify_handshake(u.path, q, secrets, now=1_800_000_100) == "emuapikey"
    assert verify_handshake(u.path, q, secrets, now=1_800_000_400)[0] == 401  # date skew > 300 s
    assert verify_handshake("/v4.0/chat", q, secrets, now=1_800_000_000)[0] == 401  # signed for another path
    assert verify_handshake(u.path, q, {"emuapikey": "other"}, now=1_800_000_000)[0] == 401
    assert verify_handshake(u.path, q, {}, now=1_800_000_000)[0] == 403
    # the SDK's authorization string has extra spaces before headers=: tolerated
    origin = base64.b64decode(q["authorization"][0]).decode().replace(", headers", ",         headers")
    q2 = {**q, "authorization": [base64.b64encode(origin.encode()).decode()]}
    assert verify_handshake(u.path, q2, secrets, now=1_800_000_000) == "emuapikey"


def test_request_frame() -> None:
    r = req(
        temperature=0,
        max_tokens=100_000,
        user="x" * 40,
        top_k=3,
        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
    )
    f = request_frame(r, make_call(), "app1")
    assert f["header"]["app_id"] == "app1" and len(f["header"]["uid"]) == 32
    assert f["parameter"]["chat"] == {
        "domain": "generalv3.5",
        "temperature": 0.01,
        "max_tokens": 8192,
        "top_k": 3,
    }
    assert f["payload"]["functions"]["text"] == [{"name": "f", "parameters": {}}]
    x1 = request_frame(req(model="x1", temperature=2), make_call("x1"), "a")
    assert x1["parameter"]["chat"] == {"domain": "x1", "temperature": 2.0}
    with pytest.raises(UnsupportedParameter):
        request_frame(req(tools=r.model_dump()["tools"], tool_choice="required"), make_call(), "a")


def test_messages_roles_and_tool_turns() -> None:
    r = req(
        messages=[
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"city":"x"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "system", "content": "late system"},
        ]
    )
    assert spark_messages(r) == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": 'function_call: w({"city":"x"})'},
        {"role": "user", "content": "function w returned: sunny\n\nlate system"},
    ]
    lite = spark_messages(
        req(messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]), False
    )
    assert lite == [{"role": "user", "content": "sys\n\nhi"}]
    with pytest.raises(UnsupportedParameter):
        spark_messages(
            req(
                messages=[
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}
                ]
            )
        )


def frame(status: int, code: int = 0, message: str = "Success", **text: Any) -> SSEEvent:
    obj: dict[str, Any] = {"header": {"code": code, "message": message, "sid": "sid1", "status": status}}
    if code == 0:
        obj["payload"] = {
            "choices": {"status": status, "seq": 0, "text": [{"role": "assistant", "index": 0, **text}]}
        }
        if status == 2:
            obj["payload"]["usage"] = {
                "text": {"question_tokens": 1, "prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
            }
    return SSEEvent(orjson.dumps(obj).decode())


def test_parse_frames_text_function_call_and_usage() -> None:
    state = StreamState(make_call(stream=True), req())
    a = provider.parse_event(frame(0, content="Hel"), state)
    b = provider.parse_event(
        frame(2, content="", function_call={"name": "w", "arguments": '{"c": 1}'}), state
    )
    assert a[0].choices[0].delta.content == "Hel" and a[0].choices[0].finish_reason is None
    c = b[0].choices[0]
    assert c.finish_reason == "tool_calls" and state.done
    assert c.delta.tool_calls and c.delta.tool_calls[0].id and c.delta.tool_calls[0].name == "w"
    assert (state.usage.prompt_tokens, state.usage.completion_tokens) == (5, 2)
    s2 = StreamState(make_call(stream=True), req())
    assert provider.parse_event(frame(2, content="!"), s2)[0].choices[0].finish_reason == "stop"
    x = provider.parse_event(frame(1, content="", reasoning_content="think"), s2)
    assert x[0].choices[0].delta.reasoning_content == "think"


@pytest.mark.parametrize(
    ("code", "message", "cls"),
    [
        (10005, "bad value", InvalidRequest),
        (10013, "input not compliant", ContentFiltered),
        (10014, "output sensitive", ContentFiltered),
        (10907, "too long", ContextLengthExceeded),
        (11200, "AppIdNoAuthError", PermissionDenied),
        (10016, "token quota exhausted", InsufficientQuota),
        (11201, "daily limit", InsufficientQuota),
        (11202, "qps", RateLimited),
        (11203, "concurrency", RateLimited),
        (10110, "busy", ServiceUnavailable),
        (10012, "engine", UpstreamError),
        (11500, "auth", AuthenticationFailed),
    ],
)
def test_error_codes(code: int, message: str, cls: type[QiaoError]) -> None:
    with pytest.raises(cls) as e:
        provider.parse_event(frame(2, code, message), StreamState(make_call(), req()))
    assert e.value.provider == "spark" and e.value.vendor_code == str(code)
    body = orjson.dumps({"code": code, "message": message, "sid": "s"})
    assert type(http_provider.classify(WireResponse(200, {}, body), make_call())) is cls


def test_refused_upgrade_is_an_auth_error() -> None:
    err = provider.classify(
        WireResponse(401, {}, b'{"message": "HMAC signature cannot be verified"}'), make_call()
    )
    assert isinstance(err, AuthenticationFailed) and "emuapisecret" not in str(err)


def http_call(model: str = "generalv3.5") -> Call:
    spec = http_provider.spec(model)
    assert spec is not None
    return Call(Account("sh", "spark_http", "pw", "http://emu/v1"), spec, model, "r", True)


def test_http_body_and_paths() -> None:
    r = req(
        temperature=1.5,
        max_completion_tokens=99_999,
        n=1,
        store=False,
        stream_options={"include_usage": True},
        stream=True,
        user="u",
    )
    w = http_provider.build_chat(r, http_call())
    body = orjson.loads(w.body or b"")
    assert w.url == "http://emu/v1/chat/completions"
    assert body == {
        "model": "generalv3.5",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 1.0,
        "max_tokens": 8192,
        "stream": True,
        "user": "u",
    }
    assert http_provider.build_chat(req(model="x1"), http_call("x1")).url == "http://emu/v2/chat/completions"


def test_http_stream_chunks_and_errors() -> None:
    state = StreamState(http_call(), req())
    ok = SSEEvent(
        '{"code":0,"message":"Success","sid":"s","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}'
    )
    assert http_provider.parse_event(ok, state)[0].choices[0].delta.content == "Hi"
    with pytest.raises(ContentFiltered):
        http_provider.parse_event(SSEEvent('{"code":10014,"message":"output sensitive","sid":"s"}'), state)
    assert http_provider.parse_event(SSEEvent("[DONE]"), state) == [] and state.done
    auth = orjson.dumps(
        {"error": {"message": "invalid user", "type": "api_error", "param": None, "code": None}}
    )
    assert isinstance(http_provider.classify(WireResponse(401, {}, auth), http_call()), AuthenticationFailed)
    tools = {
        "code": 0,
        "sid": "s",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
            }
        ],
    }
    out = http_provider.parse_chat(WireResponse(200, {}, orjson.dumps(tools)), req(), http_call())
    assert out.choices[0].finish_reason == "tool_calls"


def test_date_is_rfc1123_gmt() -> None:
    assert formatdate(time.time(), usegmt=True).endswith(" GMT")
