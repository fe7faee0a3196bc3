from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from qiao.config import Settings
from qiao.migrate._chart import png_bars, svg_bars, text_bars
from qiao.migrate.estimate import (
    HISTORICAL_GRANTS_2024,
    estimate,
    grants_from_settings,
    openai_cost_micros,
    read_usage,
)
from qiao.migrate.plan import load_catalogue
from qiao.providers.base import Provider

USAGE = Path(__file__).parent.parent / "fixtures" / "usage"


@pytest.mark.parametrize("name", ["openai-usage.csv", "openai-usage.json"])
def test_reads_csv_and_api_json_alike(name: str) -> None:
    u = read_usage(USAGE / name)
    assert sorted(u) == ["gpt-4o-2024-05-13", "gpt-4o-mini-2024-07-18", "text-embedding-3-small"]
    assert (u["gpt-4o-2024-05-13"].input, u["gpt-4o-2024-05-13"].output) == (50_000_000, 10_000_000)
    assert u["gpt-4o-2024-05-13"].requests == 2000


def test_openai_cost_at_list_price() -> None:
    usd, unknown = openai_cost_micros(read_usage(USAGE / "openai-usage.csv"))
    # gpt-4o 50M×2.5 + 10M×10 = 225; mini 100M×0.15 + 20M×0.6 = 27; embeddings 50M×0.02 = 1
    assert usd == 253_000_000 and unknown == []


def test_costs_per_provider_before_and_after_grants(providers: list[Provider]) -> None:
    usage = read_usage(USAGE / "openai-usage.csv")
    ests = {
        e.provider: e for e in estimate(usage, load_catalogue(None, providers), list(HISTORICAL_GRANTS_2024))
    }
    z = ests["zhipu"]
    lines = {ln.openai_model: (ln.target, ln.cost_micros) for ln in z.lines}
    # flagship → glm-4-plus 5/5: 60M tokens × 5 = 300 CNY; small → glm-4-air 0.5: 120M × 0.5 = 60;
    # embeddings 50M × 0.5 = 25
    assert lines["gpt-4o-2024-05-13"] == ("zhipu/glm-4-plus", 300_000_000)
    assert lines["gpt-4o-mini-2024-07-18"] == ("zhipu/glm-4-air", 60_000_000)
    assert lines["text-embedding-3-small"] == ("zhipu/embedding-3", 25_000_000)
    assert z.before_micros == 385_000_000
    # 150M free tokens: the 60M gpt-4o tokens and 90M of the 120M mini tokens are covered
    assert z.after_micros == 385_000_000 - 300_000_000 - 45_000_000
    assert z.grants_used and "historical" in z.grants_used[0]
    assert ests["sensenova"].unmapped == ["text-embedding-3-small"]


def test_grants_from_config_with_model_patterns(providers: list[Provider]) -> None:
    settings = Settings.model_validate(
        {
            "accounts": [
                {
                    "provider": "zhipu",
                    "credential": "k",
                    "grants": [
                        {"name": "welcome", "tokens": 10_000_000, "models": ["glm-4-air"]},
                        {"name": "voucher", "amount": "20.00"},
                    ],
                }
            ]
        }
    )
    usage = read_usage(USAGE / "openai-usage.json")
    cat = load_catalogue(settings, providers)
    (z,) = estimate(usage, cat, grants_from_settings(settings))
    assert z.before_micros - z.after_micros == 5_000_000 + 20_000_000
    assert z.grants_used == ["welcome", "voucher"]


def test_charts() -> None:
    rows = [("openai", 1_796_300_000, "¥1796.30"), ("zhipu", 40_000_000, "¥40.00")]
    bars = text_bars(rows, width=20)
    assert bars[0].count("█") == 20 and bars[1].count("█") == 0 + round(40 * 20 / 1796.3)
    svg = svg_bars(rows, "cost")
    assert svg.startswith("<svg") and "zhipu" in svg and "¥40.00" in svg
    png = png_bars(rows)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    idat = png.index(b"IDAT")
    length = int.from_bytes(png[idat - 4 : idat], "big")
    raw = zlib.decompress(png[idat + 4 : idat + 4 + length])
    assert len(raw) == (1 + 480 * 3) * (8 + 2 * 28)
