"""DeepSeek: retired names, thinking/reasoning_effort translation, reasoning round trip, keep-alives,
usage with cache fields, 402 and content-risk classification."""

from __future__ import annotations

import orjson
import pytest

from qiao.errors import (
    AuthenticationFailed,
    ContentFiltered,
    InsufficientQuota,
    InvalidRequest,
    ModelNotFound,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
)
from qiao.providers.base import WireResponse
from qiao.providers.deepseek import DeepSeek, provider

from .cn_compat_helpers import (
    TOOLS,
    as_wire,
    cuts,
    emulator_post,
    make_call,
    replay,
    req,
    via_provider,
    wire_body,
)

S = "deepseek"
R0 = req(model="x", messages=[{"role": "user", "content": "x"}])


def test_retired_names_map_to_v4_flash_with_thinking() -> None:
    assert wire_body(S, "deepseek-chat")["model"] == "deepseek-v4-flash"
    assert wire_body(S, "deepseek-chat")["thinking"] == {"type": "disabled"}
    assert wire_body(S, "deepseek-reasoner")["thinking"] == {"type": "enabled"}
    assert wire_body(S, "deepseek-chat", thinking={"type": "enabled"})["thinking"] == {"type": "enabled"}
    assert "thinking" not in wire_body(S, "deepseek-v4-pro")


@pytest.mark.parametrize(
    ("effort", "sent", "thinking"),
    [("none", None, "disabled"), ("low", "high", None), ("medium", "high", None), ("xhigh", "max", None)],
)
def test_reasoning_effort(effort: str, sent: str | None, thinking: str | None) -> None:
    b = wire_body(S, "deepseek-v4-flash", reasoning_effort=effort)
    assert b.get("reasoning_effort") == sent
    assert (b.get("thinking") or {}).get("type") == thinking


def test_stream_asks_for_usage_and_non_stream_does_not() -> None:
    assert wire_body(S, "deepseek-v4-flash", True)["stream_options"] == {"include_usage": True}
    assert "stream" not in wire_body(S, "deepseek-v4-flash", stream_options={"include_usage": True})


async def test_non_stream_leading_blank_lines_reasoning_and_cache_usage() -> None:
    r = await via_provider(
        S, "deepseek-v4-flash", messages=[{"role": "user", "content": "Capital of France?"}]
    )
    assert r.content.startswith(b"\n\n")
    out = provider.parse_chat(as_wire(r), R0, make_call(S, "deepseek-v4-flash"))
    m = out.choices[0].message
    assert m.reasoning_content and "France" in m.reasoning_content
    assert m.content and m.reasoning_content not in m.content
    assert out.usage.reasoning_tokens > 0 and out.usage.prompt_tokens > 0
    hit = {
        "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "prompt_cache_hit_tokens": 8},
    }
    w = WireResponse(200, {}, orjson.dumps(hit))
    assert provider.parse_chat(w, R0, make_call(S, "deepseek-v4-flash")).usage.cached_tokens == 8


async def test_stream_keep_alives_reasoning_usage_at_every_boundary() -> None:
    msgs = [{"role": "user", "content": "Tell me about Paris"}]
    plain = (await via_provider(S, "deepseek-v4-flash", messages=msgs)).json()
    raw = (await via_provider(S, "deepseek-v4-flash", True, messages=msgs)).content
    assert raw.startswith(b": keep-alive\n\n")
    r = req(model="deepseek-v4-flash", messages=msgs, stream=True)
    for pieces in cuts(raw):
        rp = replay(S, "deepseek-v4-flash", raw, pieces, r)
        assert rp.state.done
        assert rp.text[0] == plain["choices"][0]["message"]["content"]
        assert rp.reasoning[0] == plain["choices"][0]["message"]["reasoning_content"]
        assert rp.finishes == ["stop"]
        assert rp.usage is not None and rp.usage.completion_tokens == plain["usage"]["completion_tokens"]
        assert rp.usage.reasoning_tokens > 0


async def test_reasoning_is_restored_for_tool_turns_when_the_client_drops_it() -> None:
    p = DeepSeek()  # fresh memory
    msgs = [{"role": "user", "content": "What is the weather in Beijing? use get_weather"}]
    call = make_call(S, "deepseek-v4-flash")
    w = p.build_chat(req(model="deepseek-v4-flash", messages=msgs, tools=TOOLS), call)
    r = await emulator_post(S, "/chat/completions", orjson.loads(w.body or b""))
    out = p.parse_chat(as_wire(r), R0, call)
    tc = out.choices[0].message.tool_calls[0]
    reasoning = out.choices[0].message.reasoning_content
    assert tc.name == "get_weather" and reasoning
    history = [
        *msgs,
        {  # what an OpenAI-minded client sends back: no reasoning_content
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": tc.id, "type": "function", "function": {"name": tc.name, "arguments": tc.arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": tc.id, "content": "sunny, 25C"},
    ]
    # without qiao's memory DeepSeek refuses, and the message says what to do
    bare = dict(orjson.loads(w.body or b""), messages=history)
    refused = await emulator_post(S, "/chat/completions", bare)
    assert refused.status_code == 400
    err = p.classify(as_wire(refused), call)
    assert isinstance(err, InvalidRequest) and "keep the `reasoning_content`" in err.message
    w2 = p.build_chat(req(model="deepseek-v4-flash", messages=history, tools=TOOLS), call)
    assert orjson.loads(w2.body or b"")["messages"][1]["reasoning_content"] == reasoning
    r2 = await emulator_post(S, "/chat/completions", orjson.loads(w2.body or b""))
    assert r2.status_code == 200 and "sunny" in r2.json()["choices"][0]["message"]["content"]


async def test_stream_tool_calls_are_remembered_too() -> None:
    p = DeepSeek()
    msgs = [{"role": "user", "content": "weather in Shanghai? use get_weather"}]
    raw = (await via_provider(S, "deepseek-v4-flash", True, messages=msgs, tools=TOOLS)).content
    from qiao.providers.base import StreamState
    from qiao.transport.sse import SSEDecoder

    state = StreamState(make_call(S, "deepseek-v4-flash", True), req(model="x", messages=msgs))
    ids = []
    for ev in SSEDecoder().feed(raw):
        for ch in p.parse_event(ev, state):
            ids += [t.id for c in ch.choices for t in c.delta.tool_calls or () if t.id]
    assert ids and p._memory.get(ids[0])


async def test_emulator_refuses_retired_names() -> None:
    r = await emulator_post(
        S, "/chat/completions", {"model": "deepseek-chat", "messages": [{"role": "user", "content": "x"}]}
    )
    assert r.status_code == 400 and r.json()["error"]["message"] == "Model Not Exist"
    assert isinstance(provider.classify(as_wire(r), make_call(S, "deepseek-v4-flash")), ModelNotFound)


@pytest.mark.parametrize(
    ("scenario", "cls"),
    [
        ("rate_limited", RateLimited),
        ("insufficient_quota", InsufficientQuota),
        ("filtered", ContentFiltered),
        ("bad_key", AuthenticationFailed),
        ("server_error", UpstreamError),
        ("overloaded", ServiceUnavailable),
    ],
)
async def test_error_families(scenario: str, cls: type[QiaoError]) -> None:
    r = await via_provider(
        S, "deepseek-v4-flash", messages=[{"role": "user", "content": f"[[emulate:{scenario}]]"}]
    )
    err = provider.classify(as_wire(r), make_call(S, "deepseek-v4-flash"))
    assert type(err) is cls
    assert "deepseek" in err.message and "sk-emulator" not in err.message
    if scenario == "insufficient_quota":
        assert r.status_code == 402 and err.status == 429 and err.code == "insufficient_quota"


def test_insufficient_system_resource_is_length() -> None:
    body = {
        "choices": [
            {"index": 0, "message": {"content": "cut"}, "finish_reason": "insufficient_system_resource"}
        ]
    }
    out = provider.parse_chat(
        WireResponse(200, {}, orjson.dumps(body)), R0, make_call(S, "deepseek-v4-flash")
    )
    assert out.choices[0].finish_reason == "length"
