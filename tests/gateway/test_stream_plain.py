"""openai_compat's ``ContentTemplate.take`` + ``StreamAssembler.plain`` (role, finish, usage and
``[DONE]`` events read without chunk objects) against the general path (``parse_event`` +
``StreamAssembler.feed``): the same bytes, the same assembler and stream state, event after event, on
generated events of every shape (whatever ``take`` declines goes the general way in both)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from qiao.gateway.stream import StreamAssembler
from qiao.providers.base import SSEEvent, StreamState
from qiao.providers.openai_compat import ContentTemplate, OpenAICompatible

_ABSENT = object()


def _value(rng: random.Random, *choices: Any) -> Any:
    return rng.choice(choices)


def _delta(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.05:
        return _value(rng, None, [], "x", 3, [1])
    d: dict[str, Any] = {}
    for key, values in (
        ("role", ("assistant", None, "", 1)),
        ("content", ("", None, "Hi", " there", 0, ["a"], {"a": 1}, 'é\n"')),
        ("refusal", (None, "no")),
        ("reasoning_content", (None, "", "think")),
        ("reasoning", (None, "why")),
        ("tool_calls", (None, [], [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{}"}}])),
    ):
        if rng.random() < 0.4:
            d[key] = rng.choice(values)
    return d


def _choice(rng: random.Random) -> Any:
    if rng.random() < 0.03:
        return _value(rng, None, "c", 1)
    c: dict[str, Any] = {}
    if rng.random() < 0.9:
        c["index"] = _value(rng, 0, 0, 0, 1, 2, "1", 1.0, True, None)
    if rng.random() < 0.95:
        c["delta"] = _delta(rng)
    if rng.random() < 0.8:
        c["logprobs"] = None
    if rng.random() < 0.9:
        c["finish_reason"] = _value(
            rng, None, None, None, "stop", "length", "tool_calls", "function_call", "eos", "", 0, ["x"]
        )
    return c


def _event(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.05:
        return "[DONE]"
    if r < 0.08:
        return _value(rng, "{not json", "[1,2]", '"s"', "3", "null", "{}")
    obj: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1}
    k = rng.random()
    if k < 0.1:
        obj["choices"] = []
    elif k < 0.15:
        obj["choices"] = _value(rng, None, {}, "x", 0, {"a": 1})
    elif k < 0.2:
        obj["choices"] = [_choice(rng), _choice(rng)]
    elif k < 0.97:
        obj["choices"] = [_choice(rng)]
    if rng.random() < 0.5:
        obj["usage"] = _value(
            rng,
            None,
            {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
            {
                "prompt_tokens": 3,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 1},
                "completion_tokens_details": {"reasoning_tokens": 2},
            },
            {"prompt_tokens": "x"},
            {"prompt_tokens_details": 5},
            [1],
            0,
            {},
        )
    if rng.random() < 0.03:
        obj["error"] = {"message": "boom", "type": "server_error"}
    return orjson.dumps(obj).decode()


def _general(provider: OpenAICompatible, asm: StreamAssembler, state: StreamState, data: str) -> Any:
    try:
        chunks = provider.parse_event(SSEEvent(data), state)
    except Exception as exc:  # noqa: BLE001 - compared by type
        return ("raised", type(exc).__name__)
    return b"".join([asm.feed(ch) for ch in chunks])


def _snapshot(asm: StreamAssembler, state: StreamState) -> Any:
    return (
        asm.finished,
        asm.usage,
        asm.texts,
        asm._role_sent,
        asm.chunks_out,
        asm._tool_ids,
        asm.reasoning,
        state.done,
    )


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
@pytest.mark.parametrize("seed", range(4))
def test_plain_reads_events_as_parse_event_and_feed_do(seed: int, field: str) -> None:
    rng = random.Random(seed)
    provider = OpenAICompatible()
    provider.reasoning_field = field  # type: ignore[misc]
    taken = 0
    for _ in range(300):
        usage = rng.random() < 0.5
        legacy = rng.random() < 0.1
        g_asm = StreamAssembler("chatcmpl-x", 1, "m", usage, legacy)
        p_asm = StreamAssembler("chatcmpl-x", 1, "m", usage, legacy)
        g_state = StreamState(None, None)  # type: ignore[arg-type]
        p_state = StreamState(None, None)  # type: ignore[arg-type]
        tpl = ContentTemplate(provider, p_state)
        for _ in range(rng.randint(1, 8)):
            data = _event(rng)
            want = _general(provider, g_asm, g_state, data)
            got = tpl.take(data)
            if got is None:
                out = _general(provider, p_asm, p_state, data)
            else:
                taken += 1
                out = p_asm.plain(*got)
            assert out == want, data
            assert _snapshot(p_asm, p_state) == _snapshot(g_asm, g_state), data
        assert p_asm.finish(None) == g_asm.finish(None)
    assert taken > 300  # most events are simple enough


def test_the_benchmark_shape_takes_the_plain_path() -> None:
    provider = OpenAICompatible()
    state = StreamState(None, None)  # type: ignore[arg-type]
    tpl = ContentTemplate(provider, state)
    pre = '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    role = (
        pre + '[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null}]}'
    )
    finish = pre + '[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}'
    usage = pre + '[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}'
    assert tpl.take(role) == (0, "", None, None)
    assert tpl.take(finish) == (0, None, "stop", None)
    got = tpl.take(usage)
    assert got is not None and got[0] is None and got[3] is not None and got[3].total_tokens == 8
    assert not state.done and tpl.take("[DONE]") == (None, None, None, None) and state.done
