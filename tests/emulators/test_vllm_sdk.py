"""The official ``openai`` SDK against qiao's vLLM emulator (vLLM has no SDK of its own: its users use
``openai``). Checked: chat, streams with usage, ``reasoning`` (current vLLM's field name) and the older
``reasoning_content``, tools, JSON mode, embeddings, and errors the SDK must recognise — vLLM's integer
``code`` and its plain-string 401 body parse as ``APIStatusError`` subclasses."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from qiao.emulators import EmulatorOptions
from qiao.emulators.vllm import create_app
from tests.conftest import ThreadServer, emulator_in_thread
from tests.emulators import _openai_sdk_checks as checks

pytestmark = pytest.mark.sdk
KEY = "vllm-secret-key"


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    with emulator_in_thread("vllm", credential=KEY) as emu:
        yield openai.OpenAI(base_url=emu.url + "/v1", api_key=KEY, max_retries=0)


def test_chat(client: openai.OpenAI) -> None:
    checks.chat_non_stream(client, "qwen2.5-7b-instruct")
    checks.chat_stream(client, "qwen2.5-7b-instruct")


def test_reasoning_field_is_reasoning(client: openai.OpenAI) -> None:
    checks.reasoning(client, "deepseek-r1-distill-qwen-7b", "reasoning")


def test_legacy_reasoning_content() -> None:
    with ThreadServer(create_app(EmulatorOptions(credential=""), legacy_reasoning=True)) as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        checks.reasoning(c, "deepseek-r1-distill-qwen-7b", "reasoning_content")


def test_tools_and_json(client: openai.OpenAI) -> None:
    checks.tools_round_trip(client, "qwen2.5-7b-instruct", stream=True)
    checks.json_mode(client, "qwen2.5-7b-instruct")


def test_embeddings(client: openai.OpenAI) -> None:
    checks.embeddings(client, "bge-m3")


def test_errors(client: openai.OpenAI) -> None:
    bad = openai.OpenAI(base_url=str(client.base_url), api_key="wrong", max_retries=0)
    exc = checks.error_is(bad, "qwen2.5-7b-instruct", "none", openai.AuthenticationError)
    assert exc.body == "Unauthorized" or "Unauthorized" in str(exc)
    nf = checks.error_is(client, "nope", "none", openai.NotFoundError)
    assert nf.code == "404"  # vLLM sends the integer 404; the SDK keeps it as a string
    checks.error_is(client, "qwen2.5-7b-instruct", "server_error", openai.InternalServerError)
    checks.error_is(client, "qwen2.5-7b-instruct", "rate_limited", openai.RateLimitError)
