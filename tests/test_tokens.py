"""The offline estimators: exact o200k from the bundled vocabulary, and the quick regex estimate whose
error against o200k is measured here (and documented in docs/tokens.md)."""

from __future__ import annotations

import pytest

from qiao import tokens

EN = (
    "The quick brown fox jumps over the lazy dog. Teams moving off OpenAI compare latency, cost and quality "
    "before they switch each call site; a gateway keeps the interface stable while the backend changes. "
) * 5
ZH = (
    "二零二四年七月，开放人工智能公司停止向中国开发者提供接口服务。国内多家大模型厂商随即推出迁移方案、"
    "降价和免费额度，帮助开发者在不改代码的情况下完成切换，并避免再次被单一厂商锁定。"
) * 5
CODE = 'def f(x):\n    return {"a": [1, 2, 3], "b": x ** 2}  # comment\n' * 10


def test_exact_vocabulary_loads_offline() -> None:
    assert tokens.load_exact()
    assert tokens.is_exact()
    assert tokens.count("hello world") == 2


@pytest.mark.parametrize("text,low,high", [(EN, 0.9, 1.1), (ZH, 1.2, 1.6), (CODE, 0.95, 1.2)])
def test_quick_estimate_error_bounds(text: str, low: float, high: float) -> None:
    """quick/exact ratios documented in docs/tokens.md: English ≈0.97, Chinese ≈1.39, code ≈1.03 (it over-
    counts, the safe side for reservations and context checks)."""
    tokens.load_exact()
    ratio = tokens.quick(text) / tokens.count(text)
    assert low <= ratio <= high, ratio


def test_count_messages_adds_framing() -> None:
    assert tokens.count_messages(["hi"], tokens.quick) == 3 + 3 + 1
