"""The official ``openai`` SDK against qiao's llama.cpp server emulator. The SDK copes with usage on the
finish chunk (the chunk still has its choice) and the extra ``timings`` object; llama.cpp's own error
types (``exceed_context_size_error``, ``not_supported_error`` 501) surface as ``BadRequestError`` /
``InternalServerError``."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from qiao.emulators import EmulatorOptions
from qiao.emulators.llamacpp import create_app
from tests.conftest import ThreadServer, emulator_in_thread
from tests.emulators import _openai_sdk_checks as checks

pytestmark = pytest.mark.sdk
MODEL = "qwen2.5-7b-instruct-q4_k_m"


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    with emulator_in_thread("llamacpp") as emu:  # no --api-key
        yield openai.OpenAI(base_url=emu.url + "/v1", api_key="sk-no-key-required", max_retries=0)


def test_chat_and_stream_usage_on_finish_chunk(client: openai.OpenAI) -> None:
    checks.chat_non_stream(client, MODEL)
    checks.chat_stream(client, MODEL)
    chunks = list(
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True)
    )
    last = chunks[-1]
    assert last.choices and last.choices[0].finish_reason == "stop" and last.usage is not None
    assert (last.model_extra or {}).get("timings")


def test_reasoning_tools_embeddings(client: openai.OpenAI) -> None:
    checks.reasoning(client, "deepseek-r1-q4", "reasoning_content")
    checks.tools_round_trip(client, MODEL, stream=True)
    checks.embeddings(client, "embeddinggemma-300m")


def test_errors() -> None:
    with ThreadServer(create_app(EmulatorOptions(credential="llama-key"), embeddings=False)) as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="llama-key", max_retries=0)
        bad = openai.OpenAI(base_url=srv.url + "/v1", api_key="wrong", max_retries=0)
        exc = checks.error_is(bad, MODEL, "none", openai.AuthenticationError)
        assert "Invalid API Key" in str(exc)
        with pytest.raises(openai.BadRequestError) as ctx:
            c.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=9000
            )
        assert "exceed_context_size_error" in str(ctx.value.body)
        with pytest.raises(openai.InternalServerError) as e501:
            c.embeddings.create(model="embeddinggemma-300m", input="hi")
        assert e501.value.status_code == 501
