"""The official ``openai`` SDK (the client DeepSeek documents) against qiao's deepseek emulator on loopback."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from tests.emulators.cn_sdk_cases import OpenAISDKCases

pytestmark = pytest.mark.sdk


class TestDeepSeekSDK(OpenAISDKCases):
    slug = "deepseek"
    model = "deepseek-v4-flash"
    reasoning_model = "deepseek-v4-flash"
    embedding_model = None
    reasoning_extra: ClassVar[dict[str, Any]] = {}

    def test_keep_alives_and_blank_lines_do_not_bother_the_sdk(self, client: Any) -> None:
        c = client.chat.completions.create(model=self.model, messages=[{"role": "user", "content": "hi"}])
        assert c.choices[0].message.model_extra["reasoning_content"]
        assert c.usage.completion_tokens_details.reasoning_tokens > 0

    def test_insufficient_balance_is_402(self, client: Any) -> None:
        import openai

        with pytest.raises(openai.APIStatusError) as ei:
            client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": "[[emulate:insufficient_quota]]"}]
            )
        assert ei.value.status_code == 402
