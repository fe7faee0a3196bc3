"""The official ``dashscope`` SDK (PyPI 2.0.2) against qiao's DashScope emulator on loopback.

Pointing it here: ``dashscope.base_http_api_url = ROOT/api/v1`` (read at call time). What the SDK does
and needs (it wins over the notes):

* it sends no ``stream`` field: streaming is only the ``X-DashScope-SSE: enable`` header (plus
  ``Accept: text/event-stream``); it reads ``id:`` / ``event:`` / ``status:`` / ``data:`` lines and skips
  ``:HTTP_STATUS/200`` comments; an ``event:error`` frame yields a response whose status is the last
  ``status:`` line (400 when there is none) and ends the stream;
* ``incremental_output``: left unset, the SDK sends nothing and the server's default applies (cumulative
  text for most models, so the emulator repeats the whole text on each event); set to ``False`` on a
  stream, the SDK sends ``true`` and merges the deltas back into cumulative text itself (2.0.2
  ``Generation.call`` + ``ParamUtil.should_modify_incremental_output``); either way the emulator must
  honour the parameter;
* a wrong key comes back as a response object with ``status_code`` 401 and ``code`` ``InvalidApiKey``,
  not an exception;
* embeddings send ``{"input": {"texts": [...]}}`` and read ``output.embeddings[i].embedding``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import emulator_in_thread

dashscope = pytest.importorskip("dashscope", reason="pip install dashscope (the `test` extra)")

pytestmark = pytest.mark.sdk

KEY = "sk-dashscope-emulator"
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
def root() -> Iterator[str]:
    with emulator_in_thread("dashscope") as emu:
        old = dashscope.base_http_api_url
        dashscope.base_http_api_url = emu.url + "/api/v1"
        try:
            yield emu.url
        finally:
            dashscope.base_http_api_url = old


def gen(**kw: Any) -> Any:
    kw.setdefault("api_key", KEY)
    kw.setdefault("model", "qwen-plus")
    return dashscope.Generation.call(**kw)


def test_chat_non_stream(root: str) -> None:
    resp = gen(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say this is a test"},
        ],
        result_format="message",
        max_tokens=200,
    )
    assert resp.status_code == 200, resp
    choice = resp.output.choices[0]
    assert "Say this is a test" in choice.message.content
    assert choice.finish_reason == "stop"
    assert resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0
    assert resp.request_id


def test_chat_text_format(root: str) -> None:
    resp = gen(prompt="hello there", result_format="text")
    assert resp.status_code == 200
    assert "hello there" in resp.output.text


def test_stream_incremental(root: str) -> None:
    parts = []
    last = None
    for r in gen(
        messages=[{"role": "user", "content": "Tell me about Hangzhou"}],
        result_format="message",
        stream=True,
        incremental_output=True,
    ):
        assert r.status_code == 200, r
        parts.append(r.output.choices[0].message.content)
        last = r
    assert len(parts) > 3
    assert "Tell me about Hangzhou" in "".join(parts)
    assert last is not None and last.output.choices[0].finish_reason == "stop"
    assert last.usage.output_tokens > 0


@pytest.mark.parametrize("incremental", [None, False])
def test_stream_cumulative_when_not_incremental(root: str, incremental: bool | None) -> None:
    kw = {} if incremental is None else {"incremental_output": incremental}
    msgs = [{"role": "user", "content": "Describe tea"}]
    texts = [
        r.output.choices[0].message.content
        for r in gen(messages=msgs, result_format="message", stream=True, **kw)
    ]
    assert len(texts) > 2
    assert texts[-1].startswith(texts[0]) and len(texts[-1]) > len(texts[0])
    assert "Describe tea" in texts[-1]


def test_thinking_stream(root: str) -> None:
    reasoning, content = "", ""
    for r in gen(
        messages=[{"role": "user", "content": "Why is the sky blue?"}],
        result_format="message",
        stream=True,
        incremental_output=True,
        enable_thinking=True,
    ):
        assert r.status_code == 200, r
        m = r.output.choices[0].message
        reasoning += m.get("reasoning_content") or ""
        content += m.content or ""
    assert reasoning and content


def test_thinking_non_stream_is_refused(root: str) -> None:
    resp = gen(messages=[{"role": "user", "content": "hi"}], result_format="message", enable_thinking=True)
    assert resp.status_code == 400
    assert resp.code == "InvalidParameter"


def test_tools_round_trip(root: str) -> None:
    msgs: list[dict[str, Any]] = [
        {"role": "user", "content": "What is the weather in Hangzhou? use get_weather"}
    ]
    resp = gen(messages=msgs, tools=TOOLS, result_format="message")
    assert resp.status_code == 200, resp
    m = resp.output.choices[0].message
    assert resp.output.choices[0].finish_reason == "tool_calls"
    call = m.tool_calls[0]
    assert call["function"]["name"] == "get_weather" and call["id"]
    msgs.append({"role": "assistant", "content": "", "tool_calls": m.tool_calls})
    msgs.append({"role": "tool", "content": "sunny, 25C", "tool_call_id": call["id"], "name": "get_weather"})
    resp2 = gen(messages=msgs, tools=TOOLS, result_format="message")
    assert "sunny" in resp2.output.choices[0].message.content


def test_stream_tools(root: str) -> None:
    args = ""
    name = None
    finish = None
    for r in gen(
        messages=[{"role": "user", "content": "weather in Beijing? call get_weather"}],
        tools=TOOLS,
        result_format="message",
        stream=True,
        incremental_output=True,
    ):
        c = r.output.choices[0]
        for t in c.message.get("tool_calls") or ():
            name = name or t["function"].get("name")
            args += t["function"].get("arguments") or ""
        finish = c.finish_reason
    assert name == "get_weather"
    assert '"city"' in args
    assert finish == "tool_calls"


def test_multimodal(root: str) -> None:
    resp = dashscope.MultiModalConversation.call(
        api_key=KEY,
        model="qwen-vl-plus",
        messages=[
            {"role": "user", "content": [{"image": "https://example.com/cat.png"}, {"text": "What is this?"}]}
        ],
    )
    assert resp.status_code == 200, resp
    assert "image" in resp.output.choices[0].message.content[0]["text"]


def test_wrong_key_is_a_401_response(root: str) -> None:
    resp = gen(api_key="sk-wrong", messages=[{"role": "user", "content": "hi"}], result_format="message")
    assert resp.status_code == 401
    assert resp.code == "InvalidApiKey"


def test_error_scenarios(root: str) -> None:
    resp = gen(messages=[{"role": "user", "content": "[[emulate:rate_limited]] hi"}], result_format="message")
    assert (resp.status_code, resp.code) == (429, "Throttling.RateQuota")
    resp = gen(messages=[{"role": "user", "content": "[[emulate:filtered]] hi"}], result_format="message")
    assert (resp.status_code, resp.code) == (400, "DataInspectionFailed")


def test_stream_error_frame(root: str) -> None:
    out = list(
        gen(
            messages=[{"role": "user", "content": "[[emulate:filtered_midway]] Tell me a story"}],
            result_format="message",
            stream=True,
            incremental_output=True,
        )
    )
    assert out[0].status_code == 200
    assert out[-1].status_code == 400 and out[-1].code == "DataInspectionFailed"


def test_embeddings(root: str) -> None:
    resp = dashscope.TextEmbedding.call(
        api_key=KEY, model="text-embedding-v4", input=["风很大", "the wind is strong"], dimension=512
    )
    assert resp.status_code == 200, resp
    embs = resp.output["embeddings"]
    assert [e["text_index"] for e in embs] == [0, 1]
    assert len(embs[0]["embedding"]) == 512
    assert resp.usage["total_tokens"] > 0


def test_embeddings_batch_limit(root: str) -> None:
    resp = dashscope.TextEmbedding.call(
        api_key=KEY, model="text-embedding-v4", input=[f"t{i}" for i in range(11)]
    )
    assert resp.status_code == 400
    assert "batch size" in resp.message
