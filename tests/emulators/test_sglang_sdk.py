"""The official ``openai`` SDK against qiao's SGLang emulator: chat, streams with usage, reasoning as
``reasoning_content``, tools, embeddings, and SGLang's flat error bodies (no ``error`` envelope: the SDK
still raises the right ``APIStatusError`` subclass, by status, with the body's ``message``)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.conftest import emulator_in_thread
from tests.emulators import _openai_sdk_checks as checks

pytestmark = pytest.mark.sdk
KEY = "sglang-key"
MODEL = "qwen2.5-7b-instruct"


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    with emulator_in_thread("sglang", credential=KEY) as emu:
        yield openai.OpenAI(base_url=emu.url + "/v1", api_key=KEY, max_retries=0)


def test_chat_and_stream(client: openai.OpenAI) -> None:
    checks.chat_non_stream(client, MODEL)
    checks.chat_stream(client, MODEL)


def test_reasoning(client: openai.OpenAI) -> None:
    checks.reasoning(client, "qwq-32b", "reasoning_content")


def test_tools_json_embeddings(client: openai.OpenAI) -> None:
    checks.tools_round_trip(client, MODEL, stream=True)
    checks.json_mode(client, MODEL)
    checks.embeddings(client, "bge-m3")


def test_errors(client: openai.OpenAI) -> None:
    bad = openai.OpenAI(base_url=str(client.base_url), api_key="wrong", max_retries=0)
    checks.error_is(bad, MODEL, "none", openai.AuthenticationError)
    nf = checks.error_is(client, "nope", "none", openai.NotFoundError)
    assert "does not exist" in str(nf)
    checks.error_is(client, MODEL, "overloaded", openai.InternalServerError)
