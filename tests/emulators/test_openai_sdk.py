"""The official ``openai`` SDK against qiao's OpenAI emulator: the catalogue's models, reasoning models'
parameter rules (``max_tokens`` refused, ``max_completion_tokens`` and ``reasoning_effort`` taken), the
``developer`` role, no reasoning text but ``reasoning_tokens`` counted, and OpenAI's error envelope."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.conftest import emulator_in_thread
from tests.emulators import _openai_sdk_checks as checks

pytestmark = pytest.mark.sdk
KEY = "sk-proj-emulator"


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    with emulator_in_thread("openai") as emu:
        yield openai.OpenAI(base_url=emu.url + "/v1", api_key=KEY, max_retries=0)


def test_chat_stream_tools_json(client: openai.OpenAI) -> None:
    checks.chat_non_stream(client, "gpt-4o-mini")
    checks.chat_stream(client, "gpt-4o")
    checks.tools_round_trip(client, "gpt-4.1-mini", stream=True)
    checks.json_mode(client, "gpt-4o-mini")


def test_reasoning_model_rules(client: openai.OpenAI) -> None:
    checks.reasoning(client, "o4-mini", None)
    r = client.chat.completions.create(
        model="gpt-5-mini",
        messages=[{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        max_completion_tokens=200,
        reasoning_effort="minimal",
    )
    assert r.choices[0].message.content
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="o3", messages=[{"role": "user", "content": "hi"}], max_tokens=50
        )
    assert e.value.code == "unsupported_parameter" and e.value.param == "max_tokens"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="o3", messages=[{"role": "user", "content": "hi"}], temperature=0.2
        )
    assert e.value.code == "unsupported_value"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], reasoning_effort="low"
        )


def test_embeddings(client: openai.OpenAI) -> None:
    checks.embeddings(client, "text-embedding-3-small")


def test_errors(client: openai.OpenAI) -> None:
    bad = openai.OpenAI(base_url=str(client.base_url), api_key="sk-wrong", max_retries=0)
    assert checks.error_is(bad, "gpt-4o", "none", openai.AuthenticationError).code == "invalid_api_key"
    assert checks.error_is(client, "gpt-9", "none", openai.NotFoundError).code == "model_not_found"
    assert (
        checks.error_is(client, "gpt-4o", "rate_limited", openai.RateLimitError).code == "rate_limit_exceeded"
    )
    assert checks.error_is(client, "gpt-4o", "insufficient_quota", openai.RateLimitError).code == (
        "insufficient_quota"
    )
    assert checks.error_is(client, "gpt-4o", "filtered", openai.BadRequestError).code == "invalid_prompt"
