"""Model catalogue: what each provider serves, what it can do, and what it costs.

Each provider module declares a tuple of :class:`ModelSpec`. Docs, ``GET /v1/models``, the migration
planner, cost accounting and routing all read this one source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .money import MICRO, parse_micros

__all__ = ["Capabilities", "ModelSpec", "PriceTier"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    chat: bool = True
    stream: bool = True
    tools: bool = False
    tool_choice_required: bool = False
    parallel_tool_calls: bool = False
    json_mode: bool = False
    json_schema: bool = False
    vision: bool = False
    embeddings: bool = False
    reasoning: bool = False
    stream_usage: bool = True
    n: bool = False
    seed: bool = False
    logprobs: bool = False

    def names(self) -> list[str]:
        return [k for k in self.__slots__ if getattr(self, k) is True]  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PriceTier:
    """Price per 1M tokens in integer micro-units of ``currency``, with the date it took effect and the
    public page it was read from."""

    input: int
    output: int
    cached_input: int | None = None
    currency: str = "CNY"
    since: str = ""
    source: str = ""

    @classmethod
    def per_mtok(
        cls,
        input: str,
        output: str,
        *,
        cached_input: str | None = None,
        currency: str = "CNY",
        since: str = "",
        source: str = "",
    ) -> PriceTier:
        return cls(
            parse_micros(input),
            parse_micros(output),
            None if cached_input is None else parse_micros(cached_input),
            currency,
            since,
            source,
        )

    def cost_micros(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> int:
        """Cost in micro-units of ``currency``, rounded half up once."""
        cached = min(cached_tokens, prompt_tokens) if self.cached_input is not None else 0
        num = (
            (prompt_tokens - cached) * self.input
            + cached * (self.cached_input or 0)
            + completion_tokens * self.output
        )
        return (num + MICRO // 2) // MICRO

    def per_mtok_decimal(self) -> tuple[Decimal, Decimal]:
        return Decimal(self.input) / MICRO, Decimal(self.output) / MICRO


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One upstream model.

    ``id`` is the name clients use after the provider slug (``zhipu/glm-4-plus``); ``upstream`` the name
    sent on the wire when it differs (an ERNIE v1 URL slug, an Ark endpoint id); ``dimensions`` for
    embedding models; ``max_output`` is the model's output cap (used for reservations when a request
    sets none).
    """

    id: str
    context: int
    caps: Capabilities = field(default_factory=Capabilities)
    price: PriceTier | None = None
    max_output: int = 4096
    upstream: str | None = None
    dimensions: int | None = None
    aliases: tuple[str, ...] = ()
    embedding_batch: int = 16
    deprecated: str | None = None

    @property
    def wire_name(self) -> str:
        return self.upstream or self.id
