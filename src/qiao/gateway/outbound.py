"""TEMPORARY stub (lead) — replaced by the helper's module."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..config import AccountConfig


@dataclass(frozen=True)
class AccountQuota:
    rpm: int | None
    tpm: int | None
    concurrency: int | None
    max_wait_s: float
    queue: int


def quota_for(account: AccountConfig, provider_defaults: dict[str, int]) -> AccountQuota | None:
    lim = account.limits
    if lim.rpm is None and lim.tpm is None and lim.concurrency is None:
        return None
    return AccountQuota(lim.rpm, lim.tpm, lim.concurrency, lim.max_wait_s, lim.queue)


class Permit:
    def release(self, tokens_used: int | None = None) -> None:
        pass


class OutboundLimiter:
    def __init__(self, quotas: dict[str, AccountQuota], clock: Any = time.monotonic) -> None:
        self.quotas = dict(quotas)

    def limited(self, account: str) -> bool:
        return account in self.quotas

    async def acquire(self, account: str, tokens: int, deadline: float | None = None) -> Permit | None:
        return Permit()

    def update(self, quotas: dict[str, AccountQuota]) -> None:
        self.quotas = dict(quotas)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {}

    async def start_shared(self, redis_url: str, prefix: str) -> None:
        pass

    async def aclose(self) -> None:
        pass
