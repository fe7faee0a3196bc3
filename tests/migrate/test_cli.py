from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from qiao.cli.migrate import migrate
from qiao.providers import _registry
from qiao.providers.base import Provider

from .fake_openai import serve

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture(autouse=True)
def fake_registry(monkeypatch: pytest.MonkeyPatch, providers: list[Provider]) -> None:
    table = {p.name: p for p in providers}
    monkeypatch.setattr(_registry, "provider_names", lambda: sorted(table))
    monkeypatch.setattr(_registry, "get_provider", lambda name: table[name])


def test_scan_json_and_table(tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    r = CliRunner().invoke(migrate, ["scan", str(FIXTURES / "ts_app"), "--format", "json", "-o", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert set(data) == {"findings", "summary"}
    assert data["summary"]["by_kind"]["chat"] == 4
    r = CliRunner().invoke(migrate, ["scan", str(FIXTURES / "py_v0")])
    assert r.exit_code == 0 and "app/bot.py:17" in r.output and "13 findings" in r.output
    r = CliRunner().invoke(migrate, ["scan", str(FIXTURES / "py_v0"), "--workers", "2"])
    assert r.exit_code == 0 and "app/bot.py:17" in r.output and "13 findings" in r.output


def test_plan_markdown() -> None:
    r = CliRunner().invoke(migrate, ["plan", str(FIXTURES / "langchain_llamaindex"), "--format", "markdown"])
    assert r.exit_code == 0, r.output
    assert "gpt-4o: [zhipu/glm-4-plus, ernie/ernie-4.0-8k]" in r.output
    r = CliRunner().invoke(migrate, ["plan", str(FIXTURES / "py_v1")])
    assert r.exit_code == 0 and "Suggested aliases" in r.output


def test_plan_with_config(tmp_path: Path) -> None:
    cfg = tmp_path / "qiao.yaml"
    cfg.write_text("accounts:\n  - provider: ernie\n    credential: k\n")
    r = CliRunner().invoke(
        migrate, ["plan", str(FIXTURES / "langchain_llamaindex"), "--config", str(cfg), "--format", "json"]
    )
    assert r.exit_code == 0, r.output
    aliases = {a["model"]: a["targets"] for a in json.loads(r.output)["aliases"]}
    assert aliases["gpt-4o"] == ["ernie/ernie-4.0-8k"]


def test_estimate_with_historical_grants_and_plots(tmp_path: Path) -> None:
    usage = str(FIXTURES / "usage" / "openai-usage.csv")
    svg, png = tmp_path / "c.svg", tmp_path / "c.png"
    r = CliRunner().invoke(migrate, ["estimate", "--usage", usage, "--historical-grants", "--plot", str(svg)])
    assert r.exit_code == 0, r.output
    assert "historical" in r.output and "zhipu" in r.output and "█" in r.output
    assert svg.read_text().startswith("<svg")
    r = CliRunner().invoke(migrate, ["estimate", "--usage", usage, "--plot", str(png), "--json"])
    data = json.loads(r.output.split("wrote")[0])
    assert data["openai"]["usd_micros"] == 253_000_000
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_estimate_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "u.json"
    bad.write_text("{not json")
    r = CliRunner().invoke(migrate, ["estimate", "--usage", str(bad)])
    assert r.exit_code == 1 and "cannot read usage export" in r.output


def test_rewrite_dry_run_then_apply(tmp_path: Path) -> None:
    proj = tmp_path / "p"
    shutil.copytree(FIXTURES / "py_v1", proj)
    before = (proj / "app" / "clients.py").read_text()
    r = CliRunner().invoke(migrate, ["rewrite", str(proj)])
    assert r.exit_code == 0 and "+++ b/app/clients.py" in r.output
    assert (proj / "app" / "clients.py").read_text() == before
    r = CliRunner().invoke(migrate, ["rewrite", str(proj), "--apply"])
    assert r.exit_code == 0 and "QIAO_BASE_URL" in (proj / "app" / "clients.py").read_text()
    r = CliRunner().invoke(migrate, ["rewrite", str(proj)])
    assert "would rewrite 0 file(s)" in r.output


def test_compare_writes_html_and_json(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    out = tmp_path / "report.html"
    with serve() as url:
        r = CliRunner().invoke(
            migrate,
            [
                "compare",
                "--prompts",
                str(prompts),
                "--models",
                "zhipu/glm-4-plus,broken",
                "--gateway",
                url,
                "--out",
                str(out),
            ],
        )
    assert r.exit_code == 0, r.output
    assert "2 answers, 1 errors" in r.output
    raw = json.loads(out.with_suffix(".json").read_text())
    ok = raw["results"][0]
    assert ok["model"] == "zhipu/glm-4-plus" and ok["cost_micros"] == 65  # (10 + 3) tokens × 5 CNY/1M
    assert "<!doctype html>" in out.read_text()
