"""The official ``openai`` SDK (the client Moonshot documents) against qiao's moonshot emulator on loopback."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from tests.emulators.cn_sdk_cases import OpenAISDKCases

pytestmark = pytest.mark.sdk


class TestMoonshotSDK(OpenAISDKCases):
    slug = "moonshot"
    model = "moonshot-v1-8k"
    reasoning_model = "kimi-k2.6"
    embedding_model = None
    reasoning_extra: ClassVar[dict[str, Any]] = {}

    def test_stream(self, client: Any) -> None:
        """moonshot-v1 streams put usage inside the finishing choice: the SDK keeps it as an extra field
        (``choice.model_extra["usage"]``), ``chunk.usage`` stays None — qiao reads it from there."""
        usage, text = None, ""
        for ch in client.chat.completions.create(
            model=self.model,
            messages=[{"role": "user", "content": "你好"}],
            stream=True,
            stream_options={"include_usage": True},
        ):
            assert ch.usage is None
            for c in ch.choices:
                text += c.delta.content or ""
                usage = (c.model_extra or {}).get("usage") or usage
        assert "你好" in text and usage and usage["completion_tokens"] > 0

    def test_fixed_sampling_model_refuses_temperature(self, client: Any) -> None:
        import openai

        with pytest.raises(openai.BadRequestError) as ei:
            client.chat.completions.create(
                model="kimi-k2.6", messages=[{"role": "user", "content": "x"}], temperature=0.3
            )
        assert "only 1" in str(ei.value)
