"""The official ``openai`` SDK (the client Qwen documents) against qiao's qwen emulator on loopback."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from tests.emulators.cn_sdk_cases import OpenAISDKCases

pytestmark = pytest.mark.sdk


class TestQwenSDK(OpenAISDKCases):
    slug = "qwen"
    model = "qwen-plus"
    reasoning_model = "qwen-plus"
    embedding_model = "text-embedding-v4"
    reasoning_extra: ClassVar[dict[str, Any]] = {"enable_thinking": True}

    def test_mid_stream_moderation_raises_in_the_sdk(self, client: Any) -> None:
        """The bare error frame makes the openai SDK raise APIError: qiao turns it into a clean ending."""
        import openai

        with pytest.raises(openai.APIError):
            for _ in client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": "story [[emulate:filtered_midway]]"}],
                stream=True,
            ):
                pass
