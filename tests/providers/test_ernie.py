"""``ernie`` (Qianfan v2): request translation, answers, streams cut anywhere, error classes; and the
ERNIE rules shared with v1 (``_ernie_wire``)."""

from __future__ import annotations

import random
from typing import Any

import httpx
import orjson
import pytest

from qiao.emulators import EmulatorOptions
from qiao.emulators.ernie import create_app
from qiao.errors import (
    AuthenticationFailed,
    ContentFiltered,
    InsufficientQuota,
    InvalidRequest,
    ModelNotFound,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UnsupportedParameter,
    UpstreamError,
)
from qiao.providers._ernie_wire import MIN_TEMPERATURE, clamp_temperature, repair_messages
from qiao.providers.base import Account, Call, SSEEvent, StreamState, WireResponse
from qiao.providers.ernie import provider
from qiao.transport.sse import SSEDecoder
from qiao.types import ChatChunk, ChatRequest

CRED = "bce-v3/ALTAK-demo/emulatorsecret"
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


def account(base: str = "http://emu/v2") -> Account:
    return Account("ernie", "ernie", CRED, base)


def call(model: str = "ernie-4.5-turbo-32k", stream: bool = False) -> Call:
    spec = provider.spec(model)
    assert spec is not None
    return Call(account(), spec, f"ernie/{model}", "req1", stream)


def req(messages: list[dict[str, Any]], **kw: Any) -> ChatRequest:
    return ChatRequest.from_raw({"model": "ernie/ernie-4.5-turbo-32k", "messages": messages, **kw})


def body_of(r: ChatRequest, stream: bool = False) -> dict[str, Any]:
    wire = provider.build_chat(r, call(stream=stream))
    assert wire.body is not None
    out: dict[str, Any] = orjson.loads(wire.body)
    return out


# ---- shared ERNIE rules -------------------------------------------------------------------------------


def test_temperature_is_clamped_not_halved() -> None:
    assert clamp_temperature(0) == MIN_TEMPERATURE
    assert clamp_temperature(0.7) == 0.7
    assert clamp_temperature(1.0) == 1.0
    assert clamp_temperature(1.8) == 1.0


def test_repair_lifts_system_and_merges_runs() -> None:
    system, msgs = repair_messages(
        req(
            [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "one"},
                {"role": "developer", "content": "Answer in English."},
                {"role": "user", "content": "two"},
            ]
        ),
        "ernie",
    )
    assert system == "Be brief.\n\nAnswer in English."
    assert msgs == [{"role": "user", "content": "one\n\ntwo"}]


def test_repair_placeholders() -> None:
    _, msgs = repair_messages(
        req(
            [
                {"role": "assistant", "content": "Hi, how can I help?"},
                {"role": "user", "content": ""},
            ]
        ),
        "ernie",
    )
    assert msgs == [
        {"role": "user", "content": "/"},
        {"role": "assistant", "content": "Hi, how can I help?"},
        {"role": "user", "content": "/"},
    ]


def test_repair_user_after_tool_result_gets_an_assistant_turn() -> None:
    _, msgs = repair_messages(
        req(
            [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                {"role": "user", "content": "thanks"},
            ]
        ),
        "ernie",
    )
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "assistant", "user"]
    assert msgs[1]["content"] == ""
    assert msgs[3]["content"] == "/"


def test_repair_refuses_assistant_last() -> None:
    with pytest.raises(UnsupportedParameter) as ei:
        repair_messages(
            req([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure"}]), "ernie"
        )
    assert ei.value.param == "messages"


def test_repair_merges_image_parts() -> None:
    _, msgs = repair_messages(
        req(
            [
                {"role": "user", "content": "look"},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
            ]
        ),
        "ernie",
    )
    assert msgs[0]["content"][0] == {"type": "text", "text": "look"}
    assert msgs[0]["content"][1]["type"] == "image_url"


# ---- build_chat -----------------------------------------------------------------------------------------


def test_build_chat_translations() -> None:
    b = body_of(
        req(
            [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}],
            temperature=0,
            max_tokens=1,
            presence_penalty=0.5,
            stop="END",
            user="u1",
            tools=TOOLS,
            tool_choice="auto",
            parallel_tool_calls=True,
            response_format={"type": "json_object"},
            penalty_score=1.2,
        )
    )
    assert b["model"] == "ernie-4.5-turbo-32k"
    assert b["messages"] == [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]
    assert b["temperature"] == MIN_TEMPERATURE
    assert b["max_completion_tokens"] == 2 and "max_tokens" not in b
    assert b["presence_penalty"] == 0.5 and b["penalty_score"] == 1.2
    assert b["stop"] == "END" and b["user"] == "u1"
    assert b["tools"] == TOOLS and b["tool_choice"] == "auto"
    assert "parallel_tool_calls" not in b
    assert b["response_format"] == {"type": "json_object"}


def test_build_chat_stream_asks_usage() -> None:
    wire = provider.build_chat(req([{"role": "user", "content": "hi"}], stream=True), call(stream=True))
    b = orjson.loads(wire.body or b"")
    assert wire.url == "http://emu/v2/chat/completions"
    assert b["stream"] is True and b["stream_options"] == {"include_usage": True}


def test_unsupported_fields_are_declared() -> None:
    for f in ("logit_bias", "logprobs", "seed", "functions", "reasoning_effort"):
        assert f in provider.unsupported
    spec = provider.spec("ernie-4.5-turbo-32k")
    assert spec is not None and not spec.caps.n and not spec.caps.tool_choice_required


# ---- answers ------------------------------------------------------------------------------------------


def resp(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> WireResponse:
    return WireResponse(status, headers or {}, orjson.dumps(obj))


def test_parse_chat_normal_is_stop() -> None:
    answer = {
        "id": "as-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "normal",
                "flag": 0,
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    out = provider.parse_chat(resp(answer), req([{"role": "user", "content": "hi"}]), call())
    assert out.choices[0].finish_reason == "stop"
    assert out.choices[0].message.content == "ok"
    assert out.usage.prompt_tokens == 3


def test_parse_chat_unsafe_prompt_is_content_filter() -> None:
    with pytest.raises(ContentFiltered):
        provider.parse_chat(
            resp(
                {
                    "id": "as-1",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "抱歉"},
                            "finish_reason": "normal",
                            "need_clear_history": True,
                            "ban_round": -1,
                            "flag": 1,
                        }
                    ],
                }
            ),
            req([{"role": "user", "content": "x"}]),
            call(),
        )


def test_parse_chat_flag_marks_content_filter() -> None:
    out = provider.parse_chat(
        resp(
            {
                "id": "as-1",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "part"},
                        "finish_reason": "normal",
                        "flag": 2,
                    }
                ],
            }
        ),
        req([{"role": "user", "content": "x"}]),
        call(),
    )
    assert out.choices[0].finish_reason == "content_filter"


# ---- streams from the emulator, cut at every boundary -------------------------------------------------


async def emulator_bytes(payload: dict[str, Any], scenario: str | None = None) -> bytes:
    app = create_app(EmulatorOptions(credential=CRED))
    headers = {"Authorization": f"Bearer {CRED}"}
    if scenario:
        headers["X-Emulator-Scenario"] = scenario
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emu") as c:
        r = await c.post("/v2/chat/completions", json=payload, headers=headers)
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
    assert b"".join(pieces) == raw
    return out, state


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


def summary(chunks: list[ChatChunk]) -> tuple[str, str | None, str, Any]:
    text, finish, args, usage = "", None, "", None
    for ch in chunks:
        for c in ch.choices:
            text += c.delta.content or ""
            for t in c.delta.tool_calls or ():
                args += t.arguments or ""
            finish = c.finish_reason or finish
        usage = ch.usage or usage
    return text, finish, args, usage


async def test_stream_text_any_cut() -> None:
    payload = {
        "model": "ernie-3.5-8k",
        "messages": [{"role": "user", "content": "你好，介绍一下北京"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    raw = await emulator_bytes(payload)
    assert b'"finish_reason":"normal"' in raw and raw.endswith(b"data: [DONE]\n\n")
    r = req(payload["messages"], stream=True)
    results = [summary(run_stream(raw, p, r)[0]) for p in cuts(raw, 1)]
    assert results[0] == results[1] == results[2]
    text, finish, _, usage = results[0]
    assert "北京" in text and finish == "stop" and usage.completion_tokens > 0


async def test_stream_tool_call_any_cut() -> None:
    payload = {
        "model": "ernie-3.5-8k",
        "stream": True,
        "tools": TOOLS,
        "messages": [{"role": "user", "content": "weather in Beijing? get_weather"}],
    }
    raw = await emulator_bytes(payload)
    r = req(payload["messages"], stream=True, tools=TOOLS)
    for pieces in cuts(raw, 2):
        _, finish, args, _ = summary(run_stream(raw, pieces, r)[0])
        assert finish == "tool_calls"
        assert orjson.loads(args) == {"city": "Beijing"}


async def test_stream_filtered_midway_finishes_content_filter() -> None:
    payload = {
        "model": "ernie-3.5-8k",
        "stream": True,
        "messages": [{"role": "user", "content": "tell me a story"}],
    }
    raw = await emulator_bytes(payload, "filtered_midway")
    for pieces in cuts(raw, 3):
        _, finish, _, _ = summary(run_stream(raw, pieces, req(payload["messages"]))[0])
        assert finish == "content_filter"


async def test_stream_unsafe_prompt_raises() -> None:
    payload = {"model": "ernie-3.5-8k", "messages": [{"role": "user", "content": "x"}], "stream": True}
    raw = await emulator_bytes(payload, "filtered")
    with pytest.raises(ContentFiltered):
        run_stream(raw, [raw], req(payload["messages"]))


def test_stream_error_code_event() -> None:
    state = StreamState(call(stream=True), req([{"role": "user", "content": "x"}]))
    with pytest.raises(RateLimited):
        provider.parse_event(SSEEvent('{"error_code":336501,"error_msg":"Rate limit reached"}'), state)


# ---- errors ---------------------------------------------------------------------------------------------


def err(code: str, type_: str, msg: str = "m") -> dict[str, Any]:
    return {"error": {"code": code, "message": msg, "type": type_}, "id": "as-1"}


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (429, err("rpm_rate_limit_exceeded", "rate_limit_exceeded"), RateLimited),
        (429, err("insufficient_quota", "insufficient_quota"), InsufficientQuota),
        (401, err("access_denied", "invalid_request_error"), AuthenticationFailed),
        (400, err("invalid_argument", "invalid_request_error"), InvalidRequest),
        (400, err("invalid_model", "invalid_request_error"), ModelNotFound),
        (500, err("internal_error", "server_error"), UpstreamError),
        (503, err("server_overloaded", "server_error"), ServiceUnavailable),
        (200, {"error_code": 17, "error_msg": "Open api daily request limit reached"}, InsufficientQuota),
        (200, {"error_code": 336005, "error_msg": "API name not exist"}, ModelNotFound),
    ],
)
def test_classify(status: int, body: dict[str, Any], cls: type[QiaoError]) -> None:
    e = provider.classify(resp(body, status, {"retry-after": "2"}), call())
    assert isinstance(e, cls)
    assert e.provider == "ernie" and "ernie" in e.message
    assert CRED not in e.message
    if cls is RateLimited:
        assert e.retry_after == 2.0


def test_classify_success_is_none() -> None:
    assert provider.classify(resp({"id": "x", "choices": []}), call()) is None


# ---- embeddings ---------------------------------------------------------------------------------------


def test_embeddings_specs_and_wire() -> None:
    from qiao.types import EmbeddingRequest

    tao = provider.spec("tao-8k")
    bge = provider.spec("bge-large-zh")
    assert tao is not None and tao.embedding_batch == 1
    assert bge is not None and bge.embedding_batch == 16 and bge.dimensions == 1024
    c = Call(account(), bge, "ernie/bge-large-zh", "r")
    wire = provider.build_embeddings(
        EmbeddingRequest(model="x", input=["a", "b"], dimensions=256, user="u"), ["a", "b"], c
    )
    assert wire.url == "http://emu/v2/embeddings"
    assert orjson.loads(wire.body or b"") == {
        "model": "bge-large-zh",
        "input": ["a", "b"],
        "encoding_format": "float",
    }
    out = provider.parse_embeddings(
        resp(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": 1, "embedding": [0.0, 1.0]},
                    {"object": "embedding", "index": 0, "embedding": [1.0, 0.0]},
                ],
                "usage": {"prompt_tokens": 2, "total_tokens": 2},
            }
        ),
        c,
    )
    assert out.vectors == [[1.0, 0.0], [0.0, 1.0]]
