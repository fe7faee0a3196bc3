"""Fake providers for the planner and estimator: a few models with prices and capabilities, so tests do
not depend on which real providers are registered."""

from __future__ import annotations

import pytest

from qiao.catalogue import Capabilities, ModelSpec, PriceTier
from qiao.providers.base import Provider


def _provider(slug: str, display: str, models: tuple[ModelSpec, ...]) -> Provider:
    cls = type(f"Fake_{slug}", (Provider,), {"name": slug, "display_name": display, "models": models})
    return cls()  # type: ignore[no-any-return]


def _p(i: str, o: str) -> PriceTier:
    return PriceTier.per_mtok(i, o, since="2024-07-01", source="test")


CHAT = Capabilities(tools=True, json_mode=True, stream=True)

FAKE_PROVIDERS = [
    _provider(
        "zhipu",
        "Zhipu (fake)",
        (
            ModelSpec(
                "glm-4-plus",
                128_000,
                Capabilities(tools=True, json_mode=True, seed=False, n=True),
                _p("5", "5"),
            ),
            ModelSpec("glm-4-air", 128_000, CHAT, _p("0.5", "0.5")),
            ModelSpec("glm-4-flash", 128_000, CHAT, _p("0", "0")),
            ModelSpec("glm-4v-plus", 8_000, Capabilities(vision=True), _p("10", "10")),
            ModelSpec(
                "embedding-3", 8_000, Capabilities(chat=False, stream=False, embeddings=True), _p("0.5", "0")
            ),
            ModelSpec("glm-3-turbo", 128_000, CHAT, _p("1", "1"), deprecated="2025-06-30"),
        ),
    ),
    _provider(
        "ernie",
        "ERNIE (fake)",
        (
            ModelSpec(
                "ernie-4.0-8k", 8_000, Capabilities(tools=True, json_mode=True, n=True), _p("30", "90")
            ),
            ModelSpec("ernie-3.5-8k", 8_000, CHAT, _p("0.8", "2")),
            ModelSpec("ernie-speed-8k", 8_000, Capabilities(), _p("0", "0")),
        ),
    ),
    _provider(
        "sensenova",
        "SenseNova (fake)",
        (ModelSpec("sensechat-5", 32_000, Capabilities(seed=True, n=True), _p("40", "100")),),
    ),
]


@pytest.fixture
def providers() -> list[Provider]:
    return FAKE_PROVIDERS
