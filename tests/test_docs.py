"""Generated reference docs must match the code, and README keeps its two set-up commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from qiao.docgen import GENERATED

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("rel", sorted(GENERATED))
def test_generated_doc_is_current(rel: str) -> None:
    assert (ROOT / rel).read_text(encoding="utf-8") == GENERATED[rel](), (
        f"{rel} is stale: run `qiao docs --write`"
    )


def test_readme_two_commands_and_chinese_quick_start() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "qiao demo" in text and "bash scripts/test.sh" in text
    assert "中文快速开始" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci
