from __future__ import annotations

from pathlib import Path

from qiao.config import Settings
from qiao.migrate.plan import load_catalogue, make_plan, render_plan_markdown
from qiao.migrate.scan import scan_path
from qiao.providers.base import Provider

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _plan(providers: list[Provider], project: str = "py_v1", settings: Settings | None = None):  # type: ignore[no-untyped-def]
    report = scan_path(FIXTURES / project)
    return make_plan(report.findings, load_catalogue(settings, providers))


def _site(plan, line: int, path: str = "app/services/chat.py"):  # type: ignore[no-untyped-def]
    return next(fp for fp in plan.findings if fp.finding.path == path and fp.finding.line == line)


def test_candidates_cover_every_feature(providers: list[Provider]) -> None:
    plan = _plan(providers)
    tools_n_seed = _site(plan, 22)  # tools + n + seed: only the fake SenseNova has seed but no tools
    assert tools_n_seed.needed == ["chat", "n", "seed", "tools"]
    assert tools_n_seed.missing == [] and tools_n_seed.candidates == []
    assert "No single model supports all of" in (tools_n_seed.advice or "")
    vision = _site(plan, 46)
    assert [c.target for c in vision.candidates] == ["zhipu/glm-4v-plus"]
    logprobs = _site(plan, 34)
    assert logprobs.missing == ["logprobs"] and logprobs.candidates == []
    assert "logprobs" in (logprobs.advice or "")


def test_no_equivalent_kinds_get_advice(providers: list[Provider]) -> None:
    plan = _plan(providers)
    kinds = {fp.finding.kind: fp for fp in plan.findings if fp.candidates == [] and fp.finding.kind != "chat"}
    for kind in ("assistants", "fine_tuning", "audio", "images", "moderations", "batch", "files"):
        assert kinds[kind].advice, kind
    responses = next(fp for fp in plan.findings if fp.finding.kind == "responses")
    assert "chat.completions" in (responses.advice or "") and responses.candidates


def test_alias_suggestion_primary_and_fallback(providers: list[Provider]) -> None:
    plan = _plan(providers, "langchain_llamaindex")
    by = {a.openai_model: a for a in plan.aliases}
    # gpt-4o flagship with stream+temperature: each provider's top model, cheapest first
    assert by["gpt-4o"].targets == ["zhipu/glm-4-plus", "ernie/ernie-4.0-8k"]
    assert by["gpt-4o-mini"].targets == [
        "zhipu/glm-4-air",
        "ernie/ernie-3.5-8k",
    ]  # small tier: cheapest paid model
    assert by["text-embedding-3-small"].targets == ["zhipu/embedding-3"]
    assert all(t.split("/")[1] != "glm-3-turbo" for a in plan.aliases for t in a.targets)  # deprecated


def test_config_restricts_providers_and_supplies_aliases(providers: list[Provider]) -> None:
    settings = Settings.model_validate(
        {
            "accounts": [{"provider": "ernie", "credential": "k"}],
            "aliases": {"gpt-4o": ["ernie/ernie-4.0-8k", "ernie/ernie-3.5-8k"]},
        }
    )
    plan = _plan(providers, "langchain_llamaindex", settings)
    by = {a.openai_model: a for a in plan.aliases}
    assert by["gpt-4o"].source == "config" and by["gpt-4o"].targets[0] == "ernie/ernie-4.0-8k"
    assert all(t.startswith("ernie/") for a in plan.aliases for t in a.targets)
    assert by["text-embedding-3-small"].targets == []  # no embedding model at the configured provider


def test_markdown_report(providers: list[Provider]) -> None:
    md = render_plan_markdown(_plan(providers), "py_v1")
    assert "## Suggested aliases" in md and "## No equivalent through qiao" in md
    assert "| `gpt-4o` | 2.5 / 10 USD |" in md
    assert "\n  gpt-4o: [" in md
