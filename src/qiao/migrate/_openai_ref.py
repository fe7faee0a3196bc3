"""OpenAI's side of the comparison: list prices and a rough tier per model family.

This is data about OpenAI (what the user pays today), not about any provider qiao routes to; provider
data always comes from the catalogue. Prices are USD per 1M tokens from OpenAI's public pricing page
as last checked; ``since`` tells when. Dated snapshots match by longest prefix (``gpt-4o-2024-08-06``
→ ``gpt-4o``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalogue import PriceTier

__all__ = ["OPENAI_MODELS", "OpenAIModel", "lookup"]

_SRC = "https://openai.com/api/pricing"


@dataclass(frozen=True, slots=True)
class OpenAIModel:
    family: str
    tier: str  # flagship | small | reasoning | embedding | legacy
    price: PriceTier | None


def _p(i: str, o: str, cached: str | None = None, since: str = "2024-10-01") -> PriceTier:
    return PriceTier.per_mtok(i, o, cached_input=cached, currency="USD", since=since, source=_SRC)


OPENAI_MODELS: dict[str, OpenAIModel] = {
    m.family: m
    for m in (
        OpenAIModel("gpt-4o", "flagship", _p("2.50", "10.00", "1.25")),
        OpenAIModel("gpt-4o-mini", "small", _p("0.15", "0.60", "0.075")),
        OpenAIModel("gpt-4.1", "flagship", _p("2.00", "8.00", "0.50", "2025-04-14")),
        OpenAIModel("gpt-4.1-mini", "small", _p("0.40", "1.60", "0.10", "2025-04-14")),
        OpenAIModel("gpt-4.1-nano", "small", _p("0.10", "0.40", "0.025", "2025-04-14")),
        OpenAIModel("gpt-4-turbo", "flagship", _p("10.00", "30.00")),
        OpenAIModel("gpt-4", "flagship", _p("30.00", "60.00")),
        OpenAIModel("gpt-3.5-turbo", "small", _p("0.50", "1.50")),
        OpenAIModel("o1", "reasoning", _p("15.00", "60.00", "7.50", "2024-12-17")),
        OpenAIModel("o1-mini", "reasoning", _p("1.10", "4.40", "0.55", "2024-12-17")),
        OpenAIModel("o3-mini", "reasoning", _p("1.10", "4.40", "0.55", "2025-01-31")),
        OpenAIModel("text-embedding-3-small", "embedding", _p("0.02", "0")),
        OpenAIModel("text-embedding-3-large", "embedding", _p("0.13", "0")),
        OpenAIModel("text-embedding-ada-002", "embedding", _p("0.10", "0")),
        OpenAIModel("text-davinci-003", "legacy", None),
        OpenAIModel("davinci-002", "legacy", _p("2.00", "2.00")),
        OpenAIModel("babbage-002", "legacy", _p("0.40", "0.40")),
    )
}


def lookup(model: str | None) -> OpenAIModel:
    """The family of ``model``, or a guess from its name when OpenAI's list does not have it."""
    name = (model or "").lower()
    best = max((f for f in OPENAI_MODELS if name == f or name.startswith(f + "-")), key=len, default=None)
    if best:
        return OPENAI_MODELS[best]
    if "embedding" in name:
        return OpenAIModel(name, "embedding", None)
    if name.startswith(("o1", "o3", "o4")):
        return OpenAIModel(name, "reasoning", None)
    if "mini" in name or "3.5" in name or "nano" in name:
        return OpenAIModel(name, "small", None)
    return OpenAIModel(name, "flagship", None)
