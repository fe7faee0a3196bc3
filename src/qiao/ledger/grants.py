"""Provider grants: free tokens or money per account, drawn before the paid balance.

A request's cost is drawn from the applicable grants of the account that served it (covering the
upstream model, started, not expired, not used up), soonest expiry first, then from the paid balance.
Use is kept in the ledger (``qiao_grant_draws``); this module holds the running totals of one process.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
from dataclasses import dataclass
from typing import Any

from ..config import AccountConfig
from ..money import MICRO, parse_micros
from .store import GrantDraw

__all__ = ["GrantBook", "GrantState", "fx_convert"]

log = logging.getLogger(__name__)

WARN_USED = 0.8
WARN_DAYS = 7


def fx_convert(micros: int, rate_micros: int) -> int:
    """Convert with a rate in micro-units (7.1 → 7_100_000), rounding half up once."""
    return (micros * rate_micros + MICRO // 2) // MICRO


def _date(s: str | None) -> dt.date | None:
    return dt.date.fromisoformat(s) if s else None


@dataclass(slots=True)
class GrantState:
    account: str
    provider: str
    name: str
    tokens: int | None
    micros: int | None
    currency: str
    models: tuple[str, ...]
    starts: dt.date | None
    expires: dt.date | None
    used_tokens: int = 0
    used_micros: int = 0
    warned: bool = False

    def active(self, today: dt.date) -> bool:
        return (self.starts is None or today >= self.starts) and (
            self.expires is None or today <= self.expires
        )

    def covers(self, model: str) -> bool:
        return any(fnmatch.fnmatchcase(model, p) for p in self.models)

    @property
    def granted(self) -> int:
        return self.tokens if self.tokens is not None else self.micros or 0

    @property
    def used(self) -> int:
        return self.used_tokens if self.tokens is not None else self.used_micros

    @property
    def left(self) -> int:
        return max(self.granted - self.used, 0)

    def days_left(self, today: dt.date) -> int | None:
        return None if self.expires is None else (self.expires - today).days

    def warnings(self, today: dt.date) -> list[str]:
        out = []
        if self.granted and self.used >= WARN_USED * self.granted:
            out.append(f"{self.used * 100 // self.granted}% used")
        d = self.days_left(today)
        if d is not None and 0 <= d <= WARN_DAYS and self.left > 0:
            out.append(f"expires in {d} day{'s' if d != 1 else ''}")
        if d is not None and d < 0:
            out.append("expired")
        return out

    def report(self, today: dt.date) -> dict[str, Any]:
        unit = "tokens" if self.tokens is not None else self.currency
        return {
            "account": self.account,
            "provider": self.provider,
            "grant": self.name,
            "unit": unit,
            "granted": self.granted,
            "used": self.used,
            "left": self.left,
            "used_ratio": round(self.used / self.granted, 4) if self.granted else 0.0,
            "models": list(self.models),
            "starts": self.starts.isoformat() if self.starts else None,
            "expires": self.expires.isoformat() if self.expires else None,
            "days_left": self.days_left(today),
            "warnings": self.warnings(today),
        }


class GrantBook:
    """Every configured grant with its running use; :meth:`draw` settles one request's cost."""

    def __init__(self, accounts: list[AccountConfig]) -> None:
        self.by_account: dict[str, list[GrantState]] = {}
        self.balance: dict[str, int | None] = {}
        for acc in accounts:
            name = acc.account_name
            self.balance[name] = parse_micros(acc.balance) if acc.balance is not None else None
            states = [
                GrantState(
                    name,
                    acc.provider,
                    g.name,
                    g.tokens,
                    parse_micros(g.amount) if g.amount is not None else None,
                    g.currency.upper(),
                    tuple(g.models),
                    _date(g.starts),
                    _date(g.expires),
                )
                for g in acc.grants
            ]
            if states:
                # soonest expiry first; grants that never expire last
                states.sort(key=lambda s: (s.expires is None, s.expires or dt.date.max))
                self.by_account[name] = states

    def load(self, used: dict[tuple[str, str], tuple[int, int]]) -> None:
        for states in self.by_account.values():
            for s in states:
                s.used_tokens, s.used_micros = used.get((s.account, s.name), (0, 0))

    def all(self) -> list[GrantState]:
        return [s for states in self.by_account.values() for s in states]

    def draw(
        self,
        request_id: str,
        account: str,
        model: str,
        tokens: int,
        cost_cny: int,
        fx: dict[str, int],
        now: float,
    ) -> tuple[list[GrantDraw], int]:
        """Draw one request from the account's grants; returns the draws and the CNY micro-units they
        covered (the rest is paid)."""
        states = self.by_account.get(account)
        if not states or (tokens <= 0 and cost_cny <= 0):
            return [], 0
        today = dt.datetime.fromtimestamp(now, dt.UTC).date()
        draws: list[GrantDraw] = []
        covered = 0
        tokens_left, cny_left = tokens, cost_cny
        for s in states:
            if tokens_left <= 0 and cny_left <= 0:
                break
            if s.left <= 0 or not s.active(today) or not s.covers(model):
                continue
            if s.tokens is not None:
                take = min(s.left, tokens_left)
                if take <= 0:
                    continue
                money = cny_left if take == tokens_left else cost_cny * take // max(tokens, 1)
                s.used_tokens += take
                tokens_left -= take
                cny_left -= money
                covered += money
                draws.append(GrantDraw(request_id, account, s.name, take, 0, "tokens", now))
            else:
                rate = fx.get(s.currency, MICRO)
                need = (cny_left * MICRO + rate - 1) // rate if s.currency != "CNY" else cny_left
                take = min(s.left, need)
                if take <= 0:
                    continue
                money = cny_left if take == need else fx_convert(take, rate)
                s.used_micros += take
                cny_left -= money
                covered += money
                # the tokens still to cover shrink in proportion to the money still to cover
                tokens_left = 0 if cny_left <= 0 else (tokens * cny_left + cost_cny - 1) // max(cost_cny, 1)
                draws.append(GrantDraw(request_id, account, s.name, 0, take, s.currency, now))
            if not s.warned and s.warnings(today):
                s.warned = True
                log.warning(
                    "grant %s/%s: %s (%d of %d used)",
                    account,
                    s.name,
                    ", ".join(s.warnings(today)),
                    s.used,
                    s.granted,
                )
        return draws, covered
