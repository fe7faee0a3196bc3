"""Every OpenAI-shaped provider of this family parses its own emulator's SSE bytes identically however
they are cut (whole, one byte at a time, random pieces): text, reasoning (always as
``reasoning_content``), tool-call fragments, finish reason and usage, wherever the server puts it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from qiao.providers._registry import get_provider
from tests.providers._compat_helpers import call_for, cuts, emulator_post, req, run_events, summary

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]

# slug → (chat path, chat model, reasoning model or None, usage expected in the stream)
CASES = {
    "vllm": ("/v1/chat/completions", "qwen2.5-7b-instruct", "deepseek-r1-distill-qwen-7b", True),
    "sglang": ("/v1/chat/completions", "qwen2.5-7b-instruct", "qwq-32b", True),
    "llamacpp": ("/v1/chat/completions", "any.gguf", "deepseek-r1.gguf", True),
    "xinference": ("/v1/chat/completions", "qwen2.5-instruct", "deepseek-r1-distill-qwen", False),
    "ollama_openai": ("/v1/chat/completions", "qwen2.5:7b", "qwen3:8b", True),
    "openai": ("/v1/chat/completions", "gpt-4o-mini", None, True),
    "azure": ("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", "gpt-4o", None, True),
}


async def _stream_bytes(slug: str, payload: dict[str, Any]) -> bytes:
    p = get_provider(slug)
    path, model, _, _ = CASES[slug]
    r = req(**payload)
    wire = p.build_chat(r, call_for(slug, payload["model"], stream=True))
    body = orjson.loads(wire.body or b"{}")
    resp = await emulator_post(
        slug, path if slug != "azure" else path.replace("gpt-4o", payload["model"]), body
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/event-stream")
    return resp.content


@pytest.mark.parametrize("slug", list(CASES))
@pytest.mark.parametrize("kind", ["text", "reasoning", "tools"])
async def test_stream_at_every_boundary(slug: str, kind: str) -> None:
    _, model, rmodel, usage_expected = CASES[slug]
    payload: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": "你好，介绍一下长江"}],
    }
    if kind == "reasoning":
        if rmodel is None:
            pytest.skip("no reasoning text from this upstream")
        payload["model"] = rmodel
    if kind == "tools":
        payload.update(tools=TOOLS, tool_choice="required")
    raw = await _stream_bytes(slug, payload)
    p = get_provider(slug)
    r = req(**{**payload, "stream": True})
    results = []
    for pieces in cuts(raw, 11):
        chunks, state = run_events(p, pieces, call_for(slug, payload["model"], stream=True), r)
        assert state.done  # every server here ends with data: [DONE]
        results.append(summary(chunks))
    first = results[0]
    assert all(x == first for x in results)
    if kind == "tools":
        assert first["names"] == {0: "get_weather"} and orjson.loads(first["args"][0])["city"]
        assert first["finish"] == "tool_calls"
    else:
        assert first["text"] and first["finish"] == "stop"
    if kind == "reasoning":
        assert first["reasoning"] and first["reasoning"] not in first["text"]
    assert (first["usage"] is not None) == usage_expected
    if kind == "reasoning" and usage_expected:
        assert first["usage"].reasoning_tokens > 0
