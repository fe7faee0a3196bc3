"""The rendered-while-parsed fast path (``types.WireChatResponse``, ``openai_compat._render_plain``): an
OpenAI-shaped upstream's choices rendered while parsed are the same bytes as the general parse (ChatChoice
objects) rendered, and the objects it builds on demand are the ones the general parse builds."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from qiao.catalogue import ModelSpec
from qiao.providers import openai_compat
from qiao.providers.base import Account, Call, WireResponse
from qiao.providers.openai_compat import OpenAICompatible, generic_spec
from qiao.types import ChatRequest, WireChatResponse

ACCOUNT = Account("a", "openai_compat", "k", "http://127.0.0.1:9/v1")
SPEC: ModelSpec = generic_spec("m")
REQ = ChatRequest.from_raw({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
CALL = Call(ACCOUNT, SPEC, "m", "rid", False)

CONTENTS: list[Any] = ["Hello!", "", None, 'é ✓ 你好 "q" \\n', "x" * 3000, ["odd", "list"], 5]


def _message(rng: random.Random) -> dict[str, Any]:
    m: dict[str, Any] = {
        "role": "assistant",
        "content": rng.choice(CONTENTS),
        "refusal": rng.choice([None, None, "I can't"]),
        "annotations": [],
    }
    r = rng.random()
    if r < 0.08:
        m["annotations"] = [{"type": "url_citation"}]
    elif r < 0.16:
        del m["annotations"]
    elif r < 0.22:
        del m["refusal"]
    elif r < 0.28:
        m = dict(reversed(list(m.items())))  # another key order
    elif r < 0.33:
        m["tool_calls"] = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    elif r < 0.38:
        m["reasoning_content"] = "thinking"
    elif r < 0.42:
        m["role"] = "assistant2"
    return m


def _choice(rng: random.Random, i: int) -> dict[str, Any]:
    c: dict[str, Any] = {
        "index": i,
        "message": _message(rng),
        "logprobs": None,
        "finish_reason": rng.choice(["stop", "stop", "length", "tool_calls", "content_filter"]),
    }
    r = rng.random()
    if r < 0.05:
        c["finish_reason"] = rng.choice(["eos", "function_call", None, "weird"])
    elif r < 0.09:
        c["logprobs"] = {"content": []}
    elif r < 0.12:
        c["index"] = rng.choice([True, 1.0, "0"])
    elif r < 0.15:
        del c["logprobs"]
    elif r < 0.18:
        c = {"finish_reason": c["finish_reason"], "index": i, "message": c["message"], "logprobs": None}
    return c


def _answer(rng: random.Random) -> dict[str, Any]:
    n = rng.choice([1, 1, 1, 2, 3])
    out: dict[str, Any] = {
        "id": rng.choice(["chatcmpl-1", "", None]),
        "object": "chat.completion",
        "created": rng.choice([1700000000, 0, None]),
        "model": "upstream-model",
        "choices": [_choice(rng, i) for i in range(n)],
    }
    r = rng.random()
    if r < 0.7:
        out["usage"] = {
            "prompt_tokens": rng.randint(0, 5000),
            "completion_tokens": rng.randint(0, 5000),
            "total_tokens": 1,
            "prompt_tokens_details": {"cached_tokens": rng.choice([0, 12])},
            "completion_tokens_details": {"reasoning_tokens": rng.choice([0, 7])},
        }
    elif r < 0.8:
        out["usage"] = None
    if rng.random() < 0.5:
        out["system_fingerprint"] = rng.choice(["fp_1", "", None])
    if rng.random() < 0.5:
        out["service_tier"] = "default"
    return out


def _general(provider: OpenAICompatible, resp: WireResponse, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        m.setattr(openai_compat, "_render_plain", lambda choices, field: None)
        return provider.parse_chat(resp, REQ, CALL)


def _render(r: Any) -> bytes:
    r.model = "m"
    r.id = "chatcmpl-rid"
    r.created = 1  # (the general path's `time.time()` for answers without one)
    return orjson.dumps(r.to_dict())


def test_generated_answers_render_the_same_bytes_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    provider = OpenAICompatible()
    fast = 0
    for _ in range(3000):
        resp = WireResponse(200, {}, orjson.dumps(_answer(rng)))
        got = provider.parse_chat(resp, REQ, CALL)
        want = _general(provider, resp, monkeypatch)
        assert type(want) is not WireChatResponse
        if isinstance(got, WireChatResponse):
            fast += 1
        assert _render(got) == _render(want)
        assert got.usage == want.usage and got.system_fingerprint == want.system_fingerprint
        assert got.choices == want.choices  # built on demand, as the general parse builds them
        assert _render(got) == _render(want)  # and rendered from those objects once they exist
    assert 300 < fast < 2700  # both paths were exercised


def test_choices_changed_after_parse_are_rendered_as_changed() -> None:
    body = {
        "id": "x",
        "created": 5,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi", "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
    }
    r = OpenAICompatible().parse_chat(WireResponse(200, {}, orjson.dumps(body)), REQ, CALL)
    assert isinstance(r, WireChatResponse)
    r.choices[0].finish_reason = "length"  # as a vendor subclass post-processing super().parse_chat does
    r.choices[0].message.content = "changed"
    d = r.to_dict()
    assert d["choices"][0]["finish_reason"] == "length"
    assert d["choices"][0]["message"]["content"] == "changed"
    assert body["choices"][0]["finish_reason"] == "stop"  # (the upstream's dict is not touched)


@pytest.mark.parametrize(
    "message",
    [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "function": {"name": "f"}}]},
        {"role": "assistant", "content": "a", "reasoning_content": "why"},
        {"role": "assistant", "content": "a", "reasoning": "why"},  # a vendor's reasoning field
    ],
)
def test_tool_calls_and_reasoning_take_the_general_path(message: dict[str, Any]) -> None:
    class VLLMish(OpenAICompatible):
        reasoning_field = "reasoning"

    choices = [{"index": 0, "message": message, "finish_reason": "stop"}]
    assert openai_compat._render_plain(choices, VLLMish.reasoning_field) is None
    body = orjson.dumps({"id": "x", "created": 5, "choices": choices})
    r = VLLMish().parse_chat(WireResponse(200, {}, body), REQ, CALL)
    assert type(r) is not WireChatResponse
