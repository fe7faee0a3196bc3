"""The official ``openai`` SDK's Azure client against qiao's Azure OpenAI emulator, both URL styles:
``AzureOpenAI(azure_endpoint=ROOT, api_version=…, api_key=…)`` (classic deployment URLs, ``api-key``
header) and ``OpenAI(base_url=ROOT/openai/v1)`` (the v1 API, Bearer).

Findings: the SDK's Azure client puts the body's ``model`` into the deployment path for chat and
embeddings and sends ``api-key``; it parses streams whose first chunk has empty ``choices`` and only
``prompt_filter_results``; the prompt-filter 400 comes back as ``BadRequestError`` with
``code == "content_filter"``; a ``finish_reason: "content_filter"`` chunk ends a stream normally."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from qiao.emulators.azure import DEFAULT_KEY
from tests.conftest import emulator_in_thread
from tests.emulators import _openai_sdk_checks as checks

pytestmark = pytest.mark.sdk


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with emulator_in_thread("azure") as emu:
        yield emu.url


@pytest.fixture(scope="module")
def classic(root: str) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=root, api_version="2024-10-21", api_key=DEFAULT_KEY, max_retries=0
    )


@pytest.fixture(scope="module")
def v1(root: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=root + "/openai/v1", api_key=DEFAULT_KEY, max_retries=0)


def test_classic_style(classic: openai.AzureOpenAI) -> None:
    checks.chat_non_stream(classic, "gpt-4o")
    checks.chat_stream(classic, "gpt-4o-mini")
    checks.tools_round_trip(classic, "gpt-4o", stream=True)
    checks.json_mode(classic, "gpt-4o")
    checks.embeddings(classic, "text-embedding-3-small")
    checks.reasoning(classic, "o4-mini", None)


def test_v1_style(v1: openai.OpenAI) -> None:
    checks.chat_non_stream(v1, "gpt-4o")
    checks.chat_stream(v1, "gpt-4.1")
    checks.embeddings(v1, "text-embedding-3-large")


def test_content_filter(classic: openai.AzureOpenAI) -> None:
    exc = checks.error_is(classic, "gpt-4o", "filtered", openai.BadRequestError)
    assert exc.code == "content_filter"
    assert exc.body["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    finish = None
    for chunk in classic.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "tell me [[emulate:filtered_midway]]"}],
        stream=True,
    ):
        for c in chunk.choices:
            finish = c.finish_reason or finish
    assert finish == "content_filter"


def test_errors(root: str, classic: openai.AzureOpenAI) -> None:
    bad = openai.AzureOpenAI(azure_endpoint=root, api_version="2024-10-21", api_key="wrong", max_retries=0)
    checks.error_is(bad, "gpt-4o", "none", openai.AuthenticationError)
    nf = checks.error_is(classic, "my-missing-deployment", "none", openai.NotFoundError)
    assert nf.code == "DeploymentNotFound"
    rl = checks.error_is(classic, "gpt-4o", "rate_limited", openai.RateLimitError)
    assert rl.response.headers["retry-after-ms"] == "1000"
    old = openai.AzureOpenAI(
        azure_endpoint=root, api_version="2024-06-01", api_key=DEFAULT_KEY, max_retries=0
    )
    with pytest.raises(openai.BadRequestError):
        checks.chat_stream(old, "gpt-4o")


def test_developer_role_needs_a_recent_api_version(root: str, classic: openai.AzureOpenAI) -> None:
    msgs: list[Any] = [{"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi"}]
    with pytest.raises(openai.BadRequestError):
        classic.chat.completions.create(model="gpt-4o", messages=msgs)  # 2024-10-21
    recent = openai.AzureOpenAI(
        azure_endpoint=root, api_version="2025-04-01-preview", api_key=DEFAULT_KEY, max_retries=0
    )
    assert recent.chat.completions.create(model="gpt-4o", messages=msgs).choices[0].message.content
