"""MiniMax has no official Python SDK for its native ``chatcompletion_v2`` API.

PyPI's ``minimax-client`` and ``minimax-python`` are unofficial; MiniMax's own packages there are MCP
servers and media tools (``minimax-mcp``, ``minimax-coding-plan-mcp``), and its documentation calls the
native API with plain HTTP (or its OpenAI-compatible endpoint with the ``openai`` SDK). So the MiniMax
emulator is held to MiniMax's API reference instead (tests/providers/test_minimax.py) and driven end to end
by the ``openai`` SDK through the gateway (tests/e2e/test_native_e2e.py).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.sdk


@pytest.mark.skip(
    reason="MiniMax publishes no official Python SDK for chatcompletion_v2 (only unofficial clients)"
)
def test_official_sdk() -> None:
    raise AssertionError("unreachable")
