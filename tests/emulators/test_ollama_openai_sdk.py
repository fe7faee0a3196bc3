"""The official ``openai`` SDK against qiao's emulator of Ollama's ``/v1`` (Ollama documents exactly this
use: ``OpenAI(base_url="http://localhost:11434/v1", api_key="ollama")``). Thinking models answer with a
``reasoning`` field; tool calls arrive whole in one delta; any key is accepted."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.conftest import emulator_in_thread
from tests.emulators import _openai_sdk_checks as checks

pytestmark = pytest.mark.sdk
MODEL = "qwen2.5:7b"


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    with emulator_in_thread("ollama_openai") as emu:
        yield openai.OpenAI(base_url=emu.url + "/v1", api_key="ollama", max_retries=0)


def test_chat_stream_reasoning(client: openai.OpenAI) -> None:
    checks.chat_non_stream(client, MODEL)
    checks.chat_stream(client, MODEL)
    checks.reasoning(client, "qwen3:8b", "reasoning")


def test_tools_json_embeddings(client: openai.OpenAI) -> None:
    checks.tools_round_trip(client, MODEL, stream=True)
    checks.json_mode(client, MODEL)
    checks.embeddings(client, "nomic-embed-text")


def test_errors(client: openai.OpenAI) -> None:
    nf = checks.error_is(client, "llama9:70b", "none", openai.NotFoundError)
    assert "try pulling it first" in str(nf)
    checks.error_is(client, MODEL, "server_error", openai.InternalServerError)
    any_key = openai.OpenAI(base_url=str(client.base_url), api_key="whatever", max_retries=0)
    checks.chat_non_stream(any_key, MODEL)
