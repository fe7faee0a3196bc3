"""The official ``ollama`` Python client (PyPI 0.6.3) against qiao's Ollama emulator on loopback.

Pointing it here: ``ollama.Client(host=ROOT)``. What the client does and needs:

* it always sends ``"tools": []`` and an explicit ``stream`` (the server's default is true);
* it parses answers into pydantic models: tool-call ``arguments`` must be an object (a string fails
  validation), ``message.thinking`` holds reasoning;
* a stream is NDJSON; a line with an ``error`` key raises ``ResponseError`` mid-stream; an HTTP error
  raises ``ResponseError`` with the ``error`` text and the status code;
* ``embed`` posts ``/api/embed`` and reads ``embeddings``; ``list`` reads ``/api/tags``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import emulator_in_thread

ollama = pytest.importorskip("ollama", reason="pip install ollama (the `test` extra)")

pytestmark = pytest.mark.sdk

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


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with emulator_in_thread("ollama") as emu:
        yield ollama.Client(host=emu.url)


def test_list(client: Any) -> None:
    names = [m.model for m in client.list().models]
    assert "qwen3:8b" in names and "nomic-embed-text" in names


def test_chat_non_stream(client: Any) -> None:
    r = client.chat(
        model="llama3.2:3b",
        messages=[{"role": "user", "content": "Say this is a test"}],
        options={"num_predict": 200, "temperature": 0.2, "seed": 1},
    )
    assert "Say this is a test" in r.message.content
    assert r.done and r.done_reason == "stop"
    assert r.prompt_eval_count > 0 and r.eval_count > 0


def test_chat_stream_with_thinking(client: Any) -> None:
    parts = list(
        client.chat(
            model="qwen3:8b",
            messages=[{"role": "user", "content": "why is the sky blue"}],
            stream=True,
            think=True,
        )
    )
    assert len(parts) > 3
    assert "".join(p.message.thinking or "" for p in parts)
    assert "why is the sky blue" in "".join(p.message.content for p in parts)
    assert parts[-1].done and parts[-1].eval_count > 0


def test_tools_round_trip(client: Any) -> None:
    msgs: list[Any] = [{"role": "user", "content": "What is the weather in Hangzhou? use get_weather"}]
    r = client.chat(model="qwen3:8b", messages=msgs, tools=TOOLS, think=False)
    call = r.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert isinstance(call.function.arguments, dict) and "city" in call.function.arguments
    msgs.append(r.message)
    msgs.append({"role": "tool", "content": "sunny, 25C", "tool_name": "get_weather"})
    r2 = client.chat(model="qwen3:8b", messages=msgs, tools=TOOLS, think=False)
    assert "sunny" in r2.message.content


def test_json_format_and_schema(client: Any) -> None:
    import json

    r = client.chat(
        model="llama3.2:3b", messages=[{"role": "user", "content": "a city as json"}], format="json"
    )
    assert isinstance(json.loads(r.message.content), dict)
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "pop": {"type": "integer"}},
        "required": ["city", "pop"],
    }
    r = client.chat(model="llama3.2:3b", messages=[{"role": "user", "content": "Hangzhou"}], format=schema)
    obj = json.loads(r.message.content)
    assert isinstance(obj["pop"], int)


def test_images(client: Any) -> None:
    img = base64.b64encode(b"\x89PNG fake").decode()
    r = client.chat(
        model="llava:7b", messages=[{"role": "user", "content": "What is this?", "images": [img]}]
    )
    assert "image" in r.message.content


def test_embed(client: Any) -> None:
    r = client.embed(model="nomic-embed-text", input=["hello", "world"])
    assert len(r.embeddings) == 2 and len(r.embeddings[0]) == 768


def test_errors(client: Any) -> None:
    with pytest.raises(ollama.ResponseError) as e:
        client.chat(model="nope:1b", messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 404 and "not found" in e.value.error
    with pytest.raises(ollama.ResponseError) as e:
        client.chat(model="llava:7b", messages=[{"role": "user", "content": "hi"}], tools=TOOLS)
    assert e.value.status_code == 400 and "does not support tools" in e.value.error


def test_mid_stream_error(client: Any) -> None:
    with pytest.raises(ollama.ResponseError):
        for _ in client.chat(
            model="llama3.2:3b",
            messages=[{"role": "user", "content": "[[emulate:filtered_midway]] tell me a story"}],
            stream=True,
        ):
            pass
