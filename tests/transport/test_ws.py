"""The WebSocket transport and the pipeline's WebSocket path, against the Spark emulator on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from qiao.config import Settings
from qiao.errors import AuthenticationFailed, ContentFiltered, RateLimited, UpstreamError, UpstreamTimeout
from qiao.gateway.pipeline import Gateway, RequestContext
from qiao.gateway.stream import ChunkCollector
from qiao.providers.base import Account, WireRequest
from qiao.providers.spark import signed_url
from qiao.transport.http import Timeouts
from qiao.transport.ws import MessageDecoder, WSTransport
from qiao.types import ChatChunk, ChatRequest, ChunkChoice, Delta, ToolCallDelta, Usage
from tests.conftest import ThreadServer, emulator_in_thread, free_port

CRED = "emuappid:emuapikey:emuapisecret"


@pytest.fixture(scope="module")
def emu() -> Iterator[ThreadServer]:
    with emulator_in_thread("spark") as srv:
        yield srv


def account(emu: ThreadServer, credential: str = CRED) -> Account:
    return Account("sp", "spark", credential, f"ws://127.0.0.1:{emu.port}")


def frame(text: str, domain: str = "generalv3.5") -> bytes:
    return orjson.dumps(
        {
            "header": {"app_id": "emuappid", "uid": "u"},
            "parameter": {"chat": {"domain": domain}},
            "payload": {"message": {"text": [{"role": "user", "content": text}]}},
        }
    )


def wire(emu: ThreadServer, text: str, secret: str = "emuapisecret") -> WireRequest:
    url = signed_url(f"ws://127.0.0.1:{emu.port}/v3.5/chat", "emuapikey", secret)
    return WireRequest("GET", url, {}, frame(text), True)


async def test_open_stream_yields_each_message(emu: ThreadServer) -> None:
    t = WSTransport()
    up = await t.stream(wire(emu, "hello rivers"), account(emu), Timeouts(2, 5, 5))
    assert up.status == 101
    dec = MessageDecoder()
    events = [ev for raw in [c async for c in up.iter_chunks()] for ev in dec.feed(raw)]
    up.close()
    statuses = [orjson.loads(e.data)["header"]["status"] for e in events]
    assert statuses[0] == 0 and statuses[-1] == 2 and len(events) > 2


async def test_refused_upgrade_is_a_status_and_body(emu: ThreadServer) -> None:
    up = await WSTransport().stream(wire(emu, "hi", secret="wrong"), account(emu), Timeouts(2, 5, 5))
    assert up.status == 401
    assert b"HMAC signature" in await up.read_all()
    assert [c async for c in up.iter_chunks()] == []


async def test_connect_errors_and_first_byte_timeout(emu: ThreadServer) -> None:
    port = free_port()
    acc = Account("sp", "spark", CRED, f"ws://127.0.0.1:{port}")
    with pytest.raises(UpstreamError) as e:
        await WSTransport().stream(
            WireRequest("GET", f"ws://127.0.0.1:{port}/v3.5/chat", {}, b"{}"), acc, Timeouts(1, 1, 1)
        )
    assert e.value.code == "upstream_connect_error"
    up = await WSTransport().stream(
        wire(emu, "[[emulate:slow_first_byte=2]] hi"), account(emu), Timeouts(2, 0.2, 5)
    )
    with pytest.raises(UpstreamTimeout):
        async for _ in up.iter_chunks():
            pass


def test_collector_folds_chunks() -> None:
    col = ChunkCollector()
    col.feed(ChatChunk([ChunkChoice(0, Delta(None, "Hel", "think"))]))
    col.feed(ChatChunk([ChunkChoice(0, Delta(None, "lo"))]))
    col.feed(ChatChunk([ChunkChoice(0, Delta(tool_calls=[ToolCallDelta(0, "c1", "f", '{"a"')]))]))
    col.feed(
        ChatChunk(
            [ChunkChoice(0, Delta(tool_calls=[ToolCallDelta(0, None, None, ": 1}")]), "tool_calls")],
            Usage(3, 4),
        )
    )
    out = col.result()
    m = out.choices[0].message
    assert (m.content, m.reasoning_content, out.choices[0].finish_reason) == ("Hello", "think", "tool_calls")
    assert (m.tool_calls[0].id, m.tool_calls[0].arguments) == ("c1", '{"a": 1}')
    assert out.usage.completion_tokens == 4


def gateway(emu: ThreadServer, credential: str = CRED, **server: Any) -> Gateway:
    acc = {"provider": "spark", "base_url": f"http://127.0.0.1:{emu.port}", "credential": credential}
    return Gateway(Settings.model_validate({"accounts": [acc], "server": server}))


def ctx() -> RequestContext:
    return RequestContext(f"ws{time.monotonic_ns()}", None)


def chat(text: str) -> ChatRequest:
    return ChatRequest.from_raw(
        {"model": "spark/generalv3.5", "messages": [{"role": "user", "content": text}]}
    )


async def test_pipeline_non_streaming_collects(emu: ThreadServer) -> None:
    gw = gateway(emu)
    try:
        out = await gw.chat(chat("Tell me about the Yellow River"), ctx())
        assert "Yellow River" in (out.choices[0].message.content or "")
        assert out.choices[0].finish_reason == "stop" and not out.usage.estimated
        partial = await gw.chat(chat("[[emulate:filtered_midway]] Tell me a long story"), ctx())
        assert partial.choices[0].finish_reason == "content_filter" and partial.choices[0].message.content
        with pytest.raises(ContentFiltered):
            await gw.chat(chat("[[emulate:filtered]] hi"), ctx())
        with pytest.raises(RateLimited):
            await gw.chat(chat("[[emulate:rate_limited]] hi"), ctx())
        with pytest.raises(UpstreamError) as e:
            await gw.chat(chat("[[emulate:cut_stream]] Tell me a long story"), ctx())
        assert e.value.code == "upstream_stream_cut"
    finally:
        await gw.aclose()
    bad = gateway(emu, "emuappid:emuapikey:nope")
    try:
        with pytest.raises(AuthenticationFailed):
            await bad.chat(chat("hi"), ctx())
    finally:
        await bad.aclose()


async def test_pipeline_streams_openai_chunks(emu: ThreadServer) -> None:
    gw = gateway(emu)
    sent: list[bytes] = []
    statuses: list[int] = []

    async def start(status: int, headers: list[tuple[bytes, bytes]]) -> None:
        statuses.append(status)

    async def send(data: bytes, more: bool) -> None:
        sent.append(data)

    try:
        r = ChatRequest.from_raw(
            {
                "model": "spark/generalv3.5",
                "messages": [{"role": "user", "content": "Tell me about tea"}],
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        )
        await gw.chat_stream(r, ctx(), start, send)
    finally:
        await gw.aclose()
    body = b"".join(sent)
    assert statuses == [200] and body.endswith(b"data: [DONE]\n\n")
    events = [orjson.loads(line[6:]) for line in body.split(b"\n\n") if line.startswith(b"data: {")]
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "tea" in "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] > 0
