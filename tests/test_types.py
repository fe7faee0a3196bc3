"""The plain-request fast path of ``ChatRequest.from_raw`` builds exactly what pydantic would, or steps aside."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pydantic import ValidationError

from qiao.gateway.params import prompt_bytes
from qiao.types import ChatRequest, _plain_request, plain_chat_request

MSG = [{"role": "user", "content": "你好, hello"}]

VALUES: dict[str, list[Any]] = {
    "temperature": [0, 1, 2, 0.7, 2.0, -0.1, 2.5, True, "1", None],
    "top_p": [0, 1, 0.5, 1.1, False, None],
    "presence_penalty": [-2, 2, 0.0, -2.5, None],
    "frequency_penalty": [1, -1.5, 3, None],
    "n": [1, 2, 128, 0, 129, 1.0, True, None],
    "max_tokens": [1, 4096, 0, -1, 2.0, "5", None],
    "max_completion_tokens": [1, 100, 0, None],
    "seed": [0, -5, 2**40, 1.5, None],
    "stream": [True, False, 1, "true", None],
    "logprobs": [False, True, 0, None],
    "parallel_tool_calls": [True, "no", None],
    "store": [False, None],
    "user": ["u-1", "", 5, None],
    "service_tier": ["default", 1, None],
    "verbosity": ["low", None],
    "prompt_cache_key": ["k", None],
    "safety_identifier": ["s", None],
    "stream_options": [
        {"include_usage": True},
        {"include_usage": False, "include_obfuscation": None},
        {},
        {"include_usage": None},
        {"include_usage": 1},
        {"include_usage": "yes"},
        {"other": True},
        [True],
        None,
    ],
    "stop": ["\n", "", ["a"], ["a", "b", "c", "d"], [], ["a", "b", "c", "d", "e"], [1], ("a",), 5, None],
    "tools": [None],
    "unknown_vendor_field": [1],
}
MESSAGES: list[Any] = [
    MSG,
    [
        {"role": "system", "content": ""},
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": "y"},
    ],
    [{"role": "developer", "content": "rules"}, {"role": "user", "content": "q"}],
    [{"role": "user", "content": [{"type": "text", "text": "parts"}]}],
    [{"role": "user", "content": None}],
    [{"role": "user", "content": "x", "name": "bob"}],
    [{"role": "tool", "content": "r", "tool_call_id": "c1"}],
    [{"role": "robot", "content": "x"}],
    [{"role": 1, "content": "x"}],
    [{"role": ["user"], "content": "x"}],
    ["not an object"],
    [],
    "not a list",
]


def _same(fast: ChatRequest, slow: ChatRequest) -> None:
    assert fast == slow
    assert list(fast.__dict__) == list(slow.__dict__)
    for k, v in slow.__dict__.items():
        assert type(fast.__dict__[k]) is type(v), k
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.__pydantic_extra__ == slow.__pydantic_extra__
    assert fast.__pydantic_private__ == slow.__pydantic_private__
    assert fast.model_dump() == slow.model_dump()
    assert fast.set_fields() == slow.set_fields()
    so, so_slow = fast.stream_options, slow.stream_options
    if so_slow is not None:  # the nested model, as pydantic builds it
        assert so is not None and so.model_fields_set == so_slow.model_fields_set
        assert so.__pydantic_extra__ == so_slow.__pydantic_extra__ and list(so.__dict__) == list(
            so_slow.__dict__
        )
        assert so.__pydantic_private__ == so_slow.__pydantic_private__
    for a, b in zip(fast.messages, slow.messages, strict=True):
        assert a == b and list(a.__dict__) == list(b.__dict__)
        assert a.model_fields_set == b.model_fields_set and a.__pydantic_extra__ == b.__pydantic_extra__


def _check(body: dict[str, Any]) -> str:
    got = _plain_request(body)
    one = plain_chat_request(body)  # the server's one-call version of from_raw's fast path
    assert (one is None) == (got is None)
    if one is not None and got is not None:
        kept = ChatRequest.from_raw(body)
        assert one.__dict__ == got[0].__dict__ == kept.__dict__
        assert one.model_fields_set == kept.model_fields_set and one.__pydantic_extra__ == {}
        private = {"raw": body, "dropped": (), "plain": got[1], "sent": got[2]}
        assert one.__pydantic_private__ == kept.__pydantic_private__ == private
    try:
        slow = ChatRequest.model_validate(body)
    except ValidationError:
        assert got is None, f"fast path accepted what pydantic refuses: {body}"
        return "refused"
    if got is None:
        return "fallback"
    fast, nbytes, sent = got
    _same(fast, slow)
    assert sent == slow.set_fields()
    assert nbytes == prompt_bytes(slow)  # the byte bound taken on the way is the router's bound
    return "fast"


def test_plain_bodies_take_the_fast_path_and_match_pydantic() -> None:
    assert _check({"model": "m", "messages": MSG}) == "fast"
    assert _check({"model": "m", "messages": MSG, "temperature": 1, "stream": True, "n": 2}) == "fast"
    assert _check({"model": "m", "messages": MSG, "temperature": None, "user": "u"}) == "fast"
    assert _check({"messages": MESSAGES[1], "model": "glm-4", "max_tokens": 7, "seed": -1}) == "fast"
    # a streaming client asking for usage, and stop sequences: the common shapes stay on the fast path
    body = {"model": "m", "messages": MSG, "stream": True, "stream_options": {"include_usage": True}}
    assert _check(body) == "fast"
    assert _check({"model": "m", "messages": MSG, "stop": ["\n\n", "END"]}) == "fast"
    assert _check({"model": "m", "messages": MSG, "stop": "END"}) == "fast"


def test_stream_options_defaults_follow_the_model() -> None:
    from qiao.types import _SO_DEFAULTS, StreamOptions

    assert _SO_DEFAULTS == {name: f.default for name, f in StreamOptions.model_fields.items()}


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "messages": MSG, "temperature": True},
        {"model": "m", "messages": MSG, "n": 0},
        {"model": "m", "messages": MSG, "stream": 1},
        {"model": "m", "messages": MSG, "max_tokens": 2.0},
        {"model": "", "messages": MSG},
        {"model": 5, "messages": MSG},
        {"messages": MSG},
        {"model": "m"},
        {"model": "m", "messages": MSG, "stream_options": {"include_usage": 1}},
        {"model": "m", "messages": MSG, "stream_options": {"include_usage": True, "x": 1}},
        {"model": "m", "messages": MSG, "stop": ["a", 2]},
        {"model": "m", "messages": MSG, "unknown_vendor_field": 1},
        *({"model": "m", "messages": m} for m in MESSAGES[3:]),
    ],
)
def test_anything_else_goes_to_pydantic(body: dict[str, Any]) -> None:
    assert _plain_request(body) is None
    assert _check(body) in ("fallback", "refused")


def test_random_bodies_agree_with_pydantic() -> None:
    rng = random.Random(7)
    seen = {"fast": 0, "fallback": 0, "refused": 0}
    for _ in range(3000):
        body: dict[str, Any] = {}
        if rng.random() < 0.97:
            body["model"] = rng.choice(["gpt-4o", "zhipu/glm-4-plus", "", 3])
        if rng.random() < 0.97:
            body["messages"] = rng.choice(MESSAGES[:3] * 4 + MESSAGES[3:])
        for k in rng.sample(sorted(VALUES), rng.randint(0, 4)):
            body[k] = rng.choice(VALUES[k])
        keys = list(body)
        rng.shuffle(keys)
        seen[_check({k: body[k] for k in keys})] += 1
    assert all(seen.values()), seen  # every outcome was exercised


def test_from_raw_keeps_the_body_on_both_paths() -> None:
    plain = {"model": "m", "messages": MSG}
    other = {"model": "m", "messages": MSG, "stream_options": {"include_usage": True}, "logit_bias": {"1": 2}}
    for raw in (plain, other):
        req = ChatRequest.from_raw(raw)
        assert req.raw_body() is raw and req.dropped == ()
    assert ChatRequest.from_raw(plain).plain_bytes == prompt_bytes(ChatRequest.model_validate(plain))
    assert ChatRequest.from_raw(other).plain_bytes is None
    # parameter overrides can add anything (tools...): the copy is no longer known to be plain
    assert ChatRequest.from_raw(plain).with_params({"temperature": 0.5}).plain_bytes is None
