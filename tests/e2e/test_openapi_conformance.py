"""Our answers validate against OpenAI's own OpenAPI schemas (shared/specs/openai-openapi.yaml).

The spec is OpenAPI 3.1 (JSON Schema 2020-12); its few 3.0-style ``nullable: true`` markers are turned
into ``type: [X, "null"]`` before validating.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from tests.conftest import QiaoProcess, emulator_in_thread

pytestmark = pytest.mark.e2e
KEY = "sk-qiao-openapi"


def _spec_path() -> Path | None:
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "shared" / "specs" / "openai-openapi.yaml"
        if cand.exists():
            return cand
        cand = parent.parent / "shared" / "specs" / "openai-openapi.yaml"
        if cand.exists():
            return cand
    return None


def _fix_nullable(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _fix_nullable(v) for k, v in node.items()}
        if node.pop("nullable", False) is True:
            if isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
            if isinstance(node.get("enum"), list) and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
        return node
    if isinstance(node, list):
        return [_fix_nullable(v) for v in node]
    return node


@cache
def _components() -> dict[str, Any]:
    path = _spec_path()
    if path is None:
        pytest.skip("shared/specs/openai-openapi.yaml not found beside the checkout")
    with path.open("rb") as f:
        spec = yaml.load(f, Loader=yaml.CSafeLoader)
    return _fix_nullable(spec["components"])  # type: ignore[no-any-return]


def validate(obj: Any, name: str) -> None:
    schema = {"$ref": f"#/components/schemas/{name}", "components": _components()}
    jsonschema.Draft202012Validator(schema).validate(obj)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with emulator_in_thread("openai_compat") as emu:
        cfg = {
            "keys": [{"name": "t", "key": KEY}],
            "accounts": [
                {
                    "provider": "openai_compat",
                    "name": "emu",
                    "base_url": emu.url + "/v1",
                    "credential": "sk-emulator",
                    "models": ["gpt-4o", "text-embedding-3-small"],
                }
            ],
            "aliases": {"gpt-4o": "emu/gpt-4o"},
        }
        with QiaoProcess(cfg, tmp_path_factory.mktemp("oa")) as p:
            yield p.url + "/v1"


H = {"Authorization": f"Bearer {KEY}"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "look up a word",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
    }
]


def test_chat_completion_schema(gw: str) -> None:
    r = httpx.post(
        gw + "/chat/completions",
        headers=H,
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    )
    validate(r.json(), "CreateChatCompletionResponse")
    r = httpx.post(
        gw + "/chat/completions",
        headers=H,
        json={
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "lookup the word"}],
            "tools": TOOLS,
            "tool_choice": "required",
        },
    )
    assert r.json()["choices"][0]["message"]["tool_calls"]
    validate(r.json(), "CreateChatCompletionResponse")


@pytest.mark.parametrize("usage", [False, True])
@pytest.mark.parametrize("tools", [False, True])
def test_stream_chunk_schema_and_framing(gw: str, usage: bool, tools: bool) -> None:
    body: dict[str, Any] = {
        "model": "gpt-4o",
        "stream": True,
        "messages": [{"role": "user", "content": "lookup hello world"}],
    }
    if usage:
        body["stream_options"] = {"include_usage": True}
    if tools:
        body["tools"] = TOOLS
    with httpx.stream("POST", gw + "/chat/completions", headers=H, json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(r.iter_raw())
    assert raw.endswith(b"\n\ndata: [DONE]\n\n")
    events = raw.split(b"\n\n")[:-1]
    assert all(e.startswith(b"data: ") for e in events)
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    for c in chunks:
        assert ("usage" in c) == usage
        # The schema types `usage` as an object, but its own description (and OpenAI's real API) says it
        # "contains a null value except for the last chunk": validate the rest as the schema has it.
        validate(
            {k: v for k, v in c.items() if not (k == "usage" and v is None)},
            "CreateChatCompletionStreamResponse",
        )
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finals) == 1 and finals[0]["choices"][0]["delta"] == {}
    assert finals[0]["choices"][0]["finish_reason"] == ("tool_calls" if tools else "stop")
    if usage:
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_embeddings_models_errors_schema(gw: str) -> None:
    r = httpx.post(
        gw + "/embeddings", headers=H, json={"model": "emu/text-embedding-3-small", "input": ["a"]}
    )
    validate(r.json(), "CreateEmbeddingResponse")
    r = httpx.get(gw + "/models", headers=H)
    validate(r.json(), "ListModelsResponse")
    r = httpx.get(gw + "/models/gpt-4o", headers=H)
    validate(r.json(), "Model")
    r = httpx.post(gw + "/chat/completions", headers=H, json={"model": "x", "messages": []})
    assert r.status_code == 400
    validate(r.json(), "ErrorResponse")
    r = httpx.post(gw + "/completions", headers=H, json={"model": "gpt-4o", "prompt": "hi"})
    validate(r.json(), "CreateCompletionResponse")
