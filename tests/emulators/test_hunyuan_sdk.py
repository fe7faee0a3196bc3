"""The official ``openai`` SDK (the client Hunyuan documents) against qiao's hunyuan emulator on loopback."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from tests.emulators.cn_sdk_cases import OpenAISDKCases

pytestmark = pytest.mark.sdk


class TestHunyuanSDK(OpenAISDKCases):
    slug = "hunyuan"
    model = "hunyuan-turbos-latest"
    reasoning_model = "hunyuan-t1-latest"
    embedding_model = "hunyuan-embedding"
    reasoning_extra: ClassVar[dict[str, Any]] = {}
