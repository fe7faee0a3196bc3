"""iFlytek's official ``spark-ai-python`` SDK (PyPI 0.4.5, import ``sparkai``) against qiao's Spark emulator.

Pointing it here: ``ChatSparkLLM(spark_api_url="ws://127.0.0.1:PORT/v3.5/chat", spark_llm_domain=...)`` — the
SDK keeps a URL that differs from its own host map (with a warning) and signs it: ``host`` is the URL's
netloc *with the port*, the date comes from the local clock (``format_date_time(mktime(now))``), and its
``authorization`` string has extra spaces before ``headers=`` (a line continuation in its source), which the
emulator, like iFlytek, tolerates. What the SDK needs back:

* frames with ``header.code`` / ``header.sid`` / ``payload.choices.status`` / ``text[0].content``; it stops
  at status 2 and reads ``payload.usage.text``; a non-zero ``header.code`` raises ``SparkAIConnectionError``
  carrying the code;
* a function call as ``text[0].function_call`` (it returns a ``FunctionCallMessage``).

The SDK runs the socket in a thread with ``websocket-client``; the emulator runs under uvicorn in another.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import emulator_in_thread

sparkai_llm = pytest.importorskip("sparkai.llm.llm", reason="pip install spark-ai-python (the `test` extra)")
messages_mod = pytest.importorskip("sparkai.core.messages")

pytestmark = pytest.mark.sdk

APP, KEY, SECRET = "emuappid", "emuapikey", "emuapisecret"


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with emulator_in_thread("spark") as emu:
        yield f"ws://127.0.0.1:{emu.port}"


def llm(root: str, path: str = "/v3.5/chat", domain: str = "generalv3.5", **kw: Any) -> Any:
    return sparkai_llm.ChatSparkLLM(
        spark_api_url=root + path,
        spark_app_id=kw.pop("app_id", APP),
        spark_api_key=kw.pop("api_key", KEY),
        spark_api_secret=kw.pop("api_secret", SECRET),
        spark_llm_domain=domain,
        request_timeout=10,
        **kw,
    )


def test_generate(root: str) -> None:
    handler_out = llm(root).generate(
        [[messages_mod.ChatMessage(role="user", content="Name three rivers in China")]]
    )
    gen = handler_out.generations[0][0]
    assert "Name three rivers in China" in gen.text
    usage = handler_out.llm_output["token_usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0


def test_stream(root: str) -> None:
    chunks = list(
        llm(root, streaming=True).stream([messages_mod.ChatMessage(role="user", content="Tell me about tea")])
    )
    text = "".join(str(c.content) for c in chunks)
    assert len(chunks) > 3 and "Tell me about tea" in text


def test_lite_and_ultra_paths(root: str) -> None:
    for path, domain in (("/v1.1/chat", "lite"), ("/v4.0/chat", "4.0Ultra")):
        out = llm(root, path, domain).generate([[messages_mod.ChatMessage(role="user", content="hello")]])
        assert "hello" in out.generations[0][0].text


def test_function_call(root: str) -> None:
    fn = {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    out = llm(root).generate(
        [[messages_mod.ChatMessage(role="user", content="What is the weather in Hangzhou? use get_weather")]],
        function_definition=[fn],
    )
    msg = out.generations[0][0].message
    assert msg.function_call["name"] == "get_weather"
    assert "city" in msg.function_call["arguments"]


def test_wrong_secret_is_refused(root: str) -> None:
    from sparkai.errors import SparkAIConnectionError

    with pytest.raises((SparkAIConnectionError, TimeoutError)):
        llm(root, api_secret="wrong").generate([[messages_mod.ChatMessage(role="user", content="hi")]])


def test_domain_mismatch_is_an_error_frame(root: str) -> None:
    from sparkai.errors import SparkAIConnectionError

    with pytest.raises(SparkAIConnectionError) as e:
        llm(root, "/v4.0/chat", "generalv3.5").generate(
            [[messages_mod.ChatMessage(role="user", content="hi")]]
        )
    assert "10005" in str(e.value)


def test_error_code_frame(root: str) -> None:
    from sparkai.errors import SparkAIConnectionError

    with pytest.raises(SparkAIConnectionError) as e:
        llm(root).generate([[messages_mod.ChatMessage(role="user", content="[[emulate:rate_limited]] hi")]])
    assert "11202" in str(e.value)


def test_sdk_default_domain_for_v1_1(root: str) -> None:
    """The SDK's host map still pairs /v1.1/chat with the pre-2024 domain ``general``."""
    out = llm(root, "/v1.1/chat", "general").generate(
        [[messages_mod.ChatMessage(role="user", content="hello")]]
    )
    assert "hello" in out.generations[0][0].text
