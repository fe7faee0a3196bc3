"""Shared checks for the OpenAI-shaped Chinese vendors: the official ``openai`` SDK (which each of these
vendors documents as its client) against the vendor's emulator on loopback. Each
``tests/emulators/test_<slug>_sdk.py`` subclasses :class:`OpenAISDKCases` and adds its own quirks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import openai
import pytest
from openai import OpenAI

from tests.conftest import emulator_in_thread

TOOLS: list[Any] = [
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


class OpenAISDKCases:
    slug: ClassVar[str] = ""
    model: ClassVar[str] = ""
    reasoning_model: ClassVar[str | None] = None
    reasoning_key: ClassVar[str] = "reasoning_content"
    reasoning_extra: ClassVar[dict[str, Any]] = {}
    embedding_model: ClassVar[str | None] = None
    tools: ClassVar[bool] = True

    @pytest.fixture(scope="class")
    @classmethod
    def emu(cls) -> Iterator[tuple[str, str]]:
        from qiao.providers._registry import get_provider

        p = get_provider(cls.slug)
        with emulator_in_thread(cls.slug) as srv:
            yield srv.url + p.emulator_base_path, str(p.demo_credential)

    @pytest.fixture()
    def client(self, emu: tuple[str, str]) -> OpenAI:
        return OpenAI(base_url=emu[0], api_key=emu[1], max_retries=0)

    def test_chat(self, client: OpenAI) -> None:
        c = client.chat.completions.create(
            model=self.model, messages=[{"role": "user", "content": "Say hello to Hangzhou"}], max_tokens=200
        )
        assert "Hangzhou" in (c.choices[0].message.content or "")
        assert c.choices[0].finish_reason == "stop"
        assert c.usage is not None and c.usage.total_tokens > 0

    def test_stream(self, client: OpenAI) -> None:
        text, finish, usage = "", None, None
        for ch in client.chat.completions.create(
            model=self.model,
            messages=[{"role": "user", "content": "你好"}],
            stream=True,
            stream_options={"include_usage": True},
        ):
            if ch.usage:
                usage = ch.usage
            for c in ch.choices:
                text += c.delta.content or ""
                finish = c.finish_reason or finish
        assert "你好" in text and finish == "stop"
        assert usage is not None and usage.completion_tokens > 0

    def test_tool_round_trip(self, client: OpenAI) -> None:
        if not self.tools:
            pytest.skip("no tool calling on this vendor's models")
        msgs: list[Any] = [{"role": "user", "content": "What is the weather in Beijing? use get_weather"}]
        c = client.chat.completions.create(model=self.model, messages=msgs, tools=TOOLS)
        msg = c.choices[0].message
        assert c.choices[0].finish_reason == "tool_calls" and msg.tool_calls
        tc = msg.tool_calls[0]
        msgs.append(msg.model_dump(exclude_none=True))
        msgs.append({"role": "tool", "tool_call_id": tc.id, "content": "sunny, 25C"})
        c2 = client.chat.completions.create(model=self.model, messages=msgs, tools=TOOLS)
        assert "sunny" in (c2.choices[0].message.content or "")

    def test_reasoning(self, client: OpenAI) -> None:
        if self.reasoning_model is None:
            pytest.skip("no reasoning model")
        stream = client.chat.completions.create(
            model=self.reasoning_model,
            messages=[{"role": "user", "content": "why is the sky blue"}],
            stream=True,
            extra_body=self.reasoning_extra or None,
        )
        reasoning = ""
        for ch in stream:
            for c in ch.choices:
                reasoning += (c.delta.model_extra or {}).get(self.reasoning_key) or ""
        assert reasoning

    def test_embeddings(self, client: OpenAI) -> None:
        if self.embedding_model is None:
            pytest.skip("no embeddings at this vendor")
        e = client.embeddings.create(model=self.embedding_model, input=["a", "b"], encoding_format="float")
        assert len(e.data) == 2 and len(e.data[0].embedding) > 0

    def test_bad_key(self, emu: tuple[str, str]) -> None:
        bad = OpenAI(base_url=emu[0], api_key="sk-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            bad.chat.completions.create(model=self.model, messages=[{"role": "user", "content": "x"}])

    def test_rate_limit(self, client: OpenAI) -> None:
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": "[[emulate:rate_limited]]"}]
            )

    def test_models(self, client: OpenAI) -> None:
        assert self.model in [m.id for m in client.models.list()]
