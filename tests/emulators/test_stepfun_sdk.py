"""The official ``openai`` SDK (the client StepFun documents) against qiao's stepfun emulator on loopback."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from tests.emulators.cn_sdk_cases import OpenAISDKCases

pytestmark = pytest.mark.sdk


class TestStepFunSDK(OpenAISDKCases):
    slug = "stepfun"
    model = "step-2-mini"
    reasoning_model = "step-3.5-flash"
    embedding_model = None
    reasoning_key = "reasoning"
    reasoning_extra: ClassVar[dict[str, Any]] = {}
