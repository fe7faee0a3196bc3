"""The official ``openai`` SDK against qiao's Xinference emulator. Findings: FastAPI's ``{"detail": …}``
errors parse (the SDK keeps the body as ``exc.body``); ``: ping`` comments are skipped; a stream without
usage (Xinference sends none) simply has no usage chunk."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.conftest import emulator_in_thread
from tests.emulators import _openai_sdk_checks as checks

pytestmark = pytest.mark.sdk
MODEL = "qwen2.5-instruct"


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    with emulator_in_thread("xinference") as emu:  # auth off, as by default
        yield openai.OpenAI(base_url=emu.url + "/v1", api_key="not-used", max_retries=0)


def test_chat_and_stream_without_usage(client: openai.OpenAI) -> None:
    checks.chat_non_stream(client, MODEL)
    checks.chat_stream(client, MODEL, usage_expected=False)


def test_reasoning_tools_embeddings(client: openai.OpenAI) -> None:
    checks.reasoning(client, "deepseek-r1-distill-qwen", "reasoning_content")
    checks.tools_round_trip(client, MODEL, stream=True)
    checks.embeddings(client, "bge-m3")


def test_errors(client: openai.OpenAI) -> None:
    nf = checks.error_is(client, "no-such-uid", "none", openai.BadRequestError)
    assert nf.body == {"detail": "Model not found in the model list, uid: no-such-uid"}
    checks.error_is(client, MODEL, "rate_limited", openai.RateLimitError)
    checks.error_is(client, MODEL, "server_error", openai.InternalServerError)


def test_auth_on() -> None:
    with emulator_in_thread("xinference", credential="sk-xinf") as emu:
        bad = openai.OpenAI(base_url=emu.url + "/v1", api_key="wrong", max_retries=0)
        checks.error_is(bad, MODEL, "none", openai.AuthenticationError)
        ok = openai.OpenAI(base_url=emu.url + "/v1", api_key="sk-xinf", max_retries=0)
        checks.chat_non_stream(ok, MODEL)
