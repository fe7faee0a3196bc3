"""Ark: the official ``volcengine-python-sdk[ark]`` (``volcenginesdkarkruntime.Ark``) and the ``openai``
SDK against qiao's Ark emulator on loopback.

Pointing the SDK here: ``Ark(base_url=ROOT/api/v3, api_key=…)`` with the Volcengine ``VOLC_ACCESSKEY`` /
``VOLC_SECRETKEY`` variables unset (otherwise it mints keys through STS). What the SDK taught the emulator:

* it sends every unused parameter as an explicit ``null`` (``"stream": null``, ``"tools": null``,
  ``"thinking": null`` …): the emulator treats a null like an absent field, as Ark does;
* it parses ``reasoning_content`` and ``moderation_hit_type`` as declared fields of its own types;
* errors are raised by HTTP status (401 → ``ArkAuthenticationError``, 403 → ``ArkPermissionDeniedError``,
  404 → ``ArkNotFoundError``, 429 → ``ArkRateLimitError``, from ``volcenginesdkarkruntime._exceptions``)
  and keep the ``error.code`` in the message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from tests.conftest import ThreadServer
from tests.emulators.cn_sdk_cases import TOOLS, OpenAISDKCases

pytestmark = pytest.mark.sdk

ark_runtime = pytest.importorskip(
    "volcenginesdkarkruntime", reason="install with `pip install 'volcengine-python-sdk[ark]'`"
)

EP = "ep-20250612103045-abcde"


class TestArkOpenAISDK(OpenAISDKCases):
    slug = "ark"
    model = "doubao-seed-1-6-flash-250828"
    reasoning_model = "doubao-seed-1-6-251015"
    embedding_model = "doubao-embedding-text-240715"
    reasoning_extra: ClassVar[dict[str, Any]] = {"thinking": {"type": "enabled"}}

    def test_stream(self, client: Any) -> None:  # thinking models answer "你好" after reasoning
        super().test_stream(client)


@pytest.fixture(scope="module")
def ark(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[Any]:
    from qiao.emulators import EmulatorOptions, load_emulator
    from qiao.providers.ark import provider

    for var in ("VOLC_ACCESSKEY", "VOLC_SECRETKEY", "ARK_API_KEY"):
        monkeypatch_module.delenv(var, raising=False)
    app = load_emulator("ark", EmulatorOptions(credential=provider.demo_credential))
    with ThreadServer(app) as srv:
        yield (
            ark_runtime.Ark(
                base_url=srv.url + "/api/v3", api_key=str(provider.demo_credential), max_retries=0
            ),
            srv.url,
        )


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_chat_with_endpoint_id_and_thinking(ark: Any) -> None:
    client, _ = ark
    c = client.chat.completions.create(
        model=EP, messages=[{"role": "user", "content": "介绍一下火山方舟"}], thinking={"type": "enabled"}
    )
    assert c.model == EP and "火山方舟" in c.choices[0].message.content
    assert c.choices[0].message.reasoning_content
    assert c.usage.completion_tokens_details.reasoning_tokens > 0


def test_thinking_disabled(ark: Any) -> None:
    client, _ = ark
    c = client.chat.completions.create(
        model="doubao-seed-1-6-251015",
        messages=[{"role": "user", "content": "hi"}],
        thinking={"type": "disabled"},
    )
    assert c.choices[0].message.reasoning_content is None and c.choices[0].finish_reason == "stop"


def test_stream_with_usage(ark: Any) -> None:
    client, _ = ark
    text, reasoning, usage = "", "", None
    for ch in client.chat.completions.create(
        model=EP,
        messages=[{"role": "user", "content": "hello"}],
        stream=True,
        stream_options={"include_usage": True},
    ):
        usage = ch.usage or usage
        for c in ch.choices:
            text += c.delta.content or ""
            reasoning += c.delta.reasoning_content or ""
    assert "hello" in text and reasoning and usage.total_tokens > 0


def test_moderation_hit_is_a_declared_field(ark: Any) -> None:
    client, _ = ark
    finish, hit = None, None
    for ch in client.chat.completions.create(
        model=EP,
        messages=[{"role": "user", "content": "long answer [[emulate:filtered_midway]]"}],
        stream=True,
    ):
        for c in ch.choices:
            finish = c.finish_reason or finish
            hit = getattr(c, "moderation_hit_type", None) or hit
    assert finish == "content_filter" and hit == "severe_violation"


def test_tools(ark: Any) -> None:
    client, _ = ark
    msgs: list[Any] = [{"role": "user", "content": "weather in Beijing? use get_weather"}]
    c = client.chat.completions.create(model=EP, messages=msgs, tools=TOOLS, thinking={"type": "disabled"})
    tc = c.choices[0].message.tool_calls[0]
    assert tc.function.name == "get_weather" and c.choices[0].finish_reason == "tool_calls"
    msgs += [
        c.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": tc.id, "content": "晴"},
    ]
    c2 = client.chat.completions.create(model=EP, messages=msgs, tools=TOOLS, thinking={"type": "disabled"})
    assert "晴" in c2.choices[0].message.content


def test_embeddings_with_endpoint(ark: Any) -> None:
    client, _ = ark
    e = client.embeddings.create(model=EP, input=["天空", "海洋"])
    assert len(e.data) == 2 and len(e.data[0].embedding) == 2560


def test_errors(ark: Any) -> None:
    from volcenginesdkarkruntime._exceptions import (
        ArkAuthenticationError,
        ArkNotFoundError,
        ArkPermissionDeniedError,
        ArkRateLimitError,
    )

    client, url = ark
    bad = ark_runtime.Ark(base_url=url + "/api/v3", api_key="wrong", max_retries=0)
    with pytest.raises(ArkAuthenticationError):
        bad.chat.completions.create(model=EP, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(ArkPermissionDeniedError) as ei:
        client.chat.completions.create(
            model=EP, messages=[{"role": "user", "content": "[[emulate:insufficient_quota]]"}]
        )
    assert "AccountOverdueError" in str(ei.value)
    with pytest.raises(ArkRateLimitError):
        client.chat.completions.create(
            model=EP, messages=[{"role": "user", "content": "[[emulate:rate_limited]]"}]
        )
    with pytest.raises(ArkNotFoundError):
        client.chat.completions.create(model="doubao-nope", messages=[{"role": "user", "content": "x"}])


def test_sdk_sends_explicit_nulls_and_they_are_accepted(ark: Any) -> None:
    """Capture what the SDK puts on the wire (through its own httpx client) and check the nulls."""
    import httpx
    import orjson

    _, url = ark
    seen: list[dict[str, Any]] = []

    def hook(request: httpx.Request) -> None:
        seen.append(orjson.loads(request.content))

    from qiao.providers.ark import provider

    client = ark_runtime.Ark(
        base_url=url + "/api/v3",
        api_key=str(provider.demo_credential),
        max_retries=0,
        http_client=httpx.Client(event_hooks={"request": [hook]}),
    )
    c = client.chat.completions.create(model=EP, messages=[{"role": "user", "content": "x"}])
    assert c.choices[0].message.content
    nulls = {k for k, v in seen[0].items() if v is None}
    # The observation of sdk-observations.md: unused parameters arrive as explicit nulls.
    assert nulls, seen[0]
