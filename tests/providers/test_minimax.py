"""MiniMax chatcompletion_v2: translation, base_resp errors in 200 bodies, <think> splitting, streams."""

from __future__ import annotations

import random
from typing import Any

import httpx
import orjson
import pytest

from qiao.emulators import EmulatorOptions
from qiao.emulators.minimax import create_app
from qiao.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    InvalidRequest,
    QiaoError,
    RateLimited,
    UnsupportedParameter,
    UpstreamError,
    UpstreamTimeout,
)
from qiao.providers.base import Account, Call, StreamState, WireResponse
from qiao.providers.minimax import ThinkSplitter, chat_body, provider, split_think
from qiao.transport.sse import SSEDecoder
from qiao.types import ChatChunk, ChatRequest, EmbeddingRequest

KEY = "minimax-emulator-key"


def make_call(model: str = "MiniMax-M2", stream: bool = False) -> Call:
    spec = provider.spec(model)
    assert spec is not None
    return Call(Account("mm", "minimax", KEY, "http://emu/v1"), spec, model, "rid1", stream)


def req(**kw: Any) -> ChatRequest:
    kw.setdefault("model", "MiniMax-M2")
    kw.setdefault("messages", [{"role": "user", "content": "hi"}])
    return ChatRequest.from_raw(kw)


def test_body() -> None:
    r = req(
        messages=[{"role": "developer", "content": "sys"}, {"role": "user", "content": "hi", "name": "Ann"}],
        temperature=0,
        top_p=1.0,
        max_tokens=9,
        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        tool_choice="auto",
    )
    body = chat_body(r, make_call(stream=True))
    assert body["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hi", "name": "Ann"},
    ]
    assert (body["temperature"], body["top_p"], body["max_completion_tokens"]) == (0.01, 1.0, 9)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["tool_choice"] == "auto"
    with pytest.raises(UnsupportedParameter):
        chat_body(req(tools=r.model_dump()["tools"], tool_choice="required"), make_call())


@pytest.mark.parametrize(
    "pieces",
    [
        ["<think>ab</think>\n\nanswer"],
        ["<th", "ink>a", "b</thi", "nk>", "\n\nans", "wer"],
        list("<think>ab</think>\n\nanswer"),
    ],
)
def test_think_splitter(pieces: list[str]) -> None:
    s = ThinkSplitter()
    r = c = ""
    for p in pieces:
        a, b = s.feed(p)
        r, c = r + a, c + b
    a, b = s.flush()
    assert (r + a, c + b) == ("ab", "answer")
    assert split_think("plain <think> not leading") == (None, "plain <think> not leading")


def test_parse_chat_inline_think_and_sensitive() -> None:
    body = {
        "id": "x",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "<think>hm</think>\n\nHi!"},
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        "output_sensitive": False,
        "base_resp": {"status_code": 0, "status_msg": ""},
    }
    out = provider.parse_chat(WireResponse(200, {}, orjson.dumps(body)), req(), make_call())
    assert (out.choices[0].message.reasoning_content, out.choices[0].message.content) == ("hm", "Hi!")
    body["output_sensitive"] = True
    out = provider.parse_chat(WireResponse(200, {}, orjson.dumps(body)), req(), make_call())
    assert out.choices[0].finish_reason == "content_filter"


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (1000, UpstreamError),
        (1001, UpstreamTimeout),
        (1002, RateLimited),
        (1004, AuthenticationFailed),
        (2049, AuthenticationFailed),
        (1008, InsufficientQuota),
        (1026, ContentFiltered),
        (1027, ContentFiltered),
        (1039, ContextLengthExceeded),
        (2013, InvalidRequest),
    ],
)
def test_base_resp_in_200_bodies(code: int, cls: type[QiaoError]) -> None:
    body = orjson.dumps({"id": "", "choices": None, "base_resp": {"status_code": code, "status_msg": "m"}})
    err = provider.classify(WireResponse(200, {}, body), make_call())
    assert type(err) is cls and err.provider == "minimax" and err.vendor_code == str(code)
    assert (
        provider.classify(
            WireResponse(200, {}, b'{"choices": [], "base_resp": {"status_code": 0}}'), make_call()
        )
        is None
    )


async def emulator(
    payload: dict[str, Any], path: str = "/v1/text/chatcompletion_v2", key: str = KEY
) -> httpx.Response:
    app = create_app(EmulatorOptions())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emu") as c:
        return await c.post(path, json=payload, headers={"Authorization": f"Bearer {key}"})


def run(pieces: list[bytes], r: ChatRequest) -> tuple[list[ChatChunk], StreamState]:
    d = SSEDecoder()
    state = StreamState(make_call(stream=True), r)
    out: list[ChatChunk] = []
    for p in pieces:
        for ev in d.feed(p):
            out.extend(provider.parse_event(ev, state))
    for ev in d.close():
        out.extend(provider.parse_event(ev, state))
    return out, state


async def test_stream_at_every_boundary_with_inline_think() -> None:
    r = req(messages=[{"role": "user", "content": "Tell me about Shanghai"}])
    plain = provider.parse_chat(
        WireResponse(200, {}, (await emulator(chat_body(r, make_call()))).content), r, make_call()
    )
    raw = (await emulator(chat_body(r, make_call(stream=True)))).content
    assert raw.startswith(b"data: {")
    rng = random.Random(2)
    rand, i = [], 0
    while i < len(raw):
        n = rng.randint(1, 25)
        rand.append(raw[i : i + n])
        i += n
    for pieces in ([raw], [raw[i : i + 1] for i in range(len(raw))], rand):
        chunks, state = run(pieces, r)
        assert (
            "".join(c.delta.content or "" for ch in chunks for c in ch.choices)
            == plain.choices[0].message.content
        )
        assert (
            "".join(c.delta.reasoning_content or "" for ch in chunks for c in ch.choices)
            == plain.choices[0].message.reasoning_content
        )
        assert [c.finish_reason for ch in chunks for c in ch.choices if c.finish_reason] == ["stop"]
        assert state.usage.completion_tokens == plain.usage.completion_tokens


async def test_stream_output_sensitive_frame() -> None:
    r = req(messages=[{"role": "user", "content": "[[emulate:filtered_midway]] tell me"}])
    raw = (await emulator(chat_body(r, make_call(stream=True)))).content
    with pytest.raises(ContentFiltered):
        run([raw], r)


async def test_emulator_answers_errors_with_200() -> None:
    r = await emulator(chat_body(req(), make_call()), key="wrong")
    assert r.status_code == 200 and r.json()["base_resp"]["status_code"] == 1004
    r = await emulator({**chat_body(req(), make_call()), "temperature": 0})
    assert r.json()["base_resp"]["status_code"] == 2013


async def test_embeddings() -> None:
    call = make_call("embo-01")
    w = provider.build_embeddings(EmbeddingRequest(model="m", input=["a", "b"]), ["a", "b"], call)
    assert orjson.loads(w.body or b"") == {"model": "embo-01", "texts": ["a", "b"], "type": "db"}
    resp = await emulator(orjson.loads(w.body or b""), "/v1/embeddings")
    res = provider.parse_embeddings(WireResponse(200, {}, resp.content), call)
    assert len(res.vectors) == 2 and len(res.vectors[0]) == 1536
    grouped = Call(
        Account("mm", "minimax", KEY, "http://emu/v1", options=(("group_id", "g1"),)), call.spec, "m", "r"
    )
    assert provider.build_embeddings(EmbeddingRequest(model="m", input="a"), ["a"], grouped).url.endswith(
        "?GroupId=g1"
    )
