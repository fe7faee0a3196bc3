"""Money as integer micro-units of a currency. No floats anywhere in billing.

``Money.parse("0.8", "CNY")`` is 800_000 micro-CNY. Prices per 1M tokens are stored as micro-units per 1M
tokens, so the cost of ``n`` tokens is ``price * n // 1_000_000`` micro-units, rounded once (half up) at
settlement by :meth:`Price.cost`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = ["MICRO", "Money", "micros_text", "parse_micros"]

MICRO = 1_000_000


def parse_micros(value: str | int | Decimal) -> int:
    """Parse a decimal amount (``"0.8"``) into integer micro-units (800000), exactly."""
    try:
        d = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc
    q = (d * MICRO).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(q)


def micros_text(micros: int) -> str:
    """Micro-units as a plain decimal string: 1_500_000 → ``"1.5"``, 100_000_000 → ``"100"``."""
    return f"{(Decimal(micros) / MICRO).normalize():f}"


@dataclass(frozen=True, slots=True, order=True)
class Money:
    micros: int
    currency: str = "CNY"

    @classmethod
    def parse(cls, value: str | int | Decimal, currency: str = "CNY") -> Money:
        return cls(parse_micros(value), currency.upper())

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.micros + other.micros, self.currency)

    def __sub__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot subtract {other.currency} from {self.currency}")
        return Money(self.micros - other.micros, self.currency)

    def decimal(self) -> Decimal:
        return Decimal(self.micros) / MICRO

    def __str__(self) -> str:
        return f"{self.decimal().normalize():f} {self.currency}"
