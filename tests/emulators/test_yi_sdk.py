"""The official ``openai`` SDK (the client Yi documents) against qiao's yi emulator on loopback."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from tests.emulators.cn_sdk_cases import OpenAISDKCases

pytestmark = pytest.mark.sdk


class TestYiSDK(OpenAISDKCases):
    slug = "yi"
    model = "yi-lightning"
    reasoning_model = None
    embedding_model = None
    reasoning_extra: ClassVar[dict[str, Any]] = {}
    tools = False
