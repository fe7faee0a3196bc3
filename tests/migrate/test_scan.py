"""Scan precision and recall on hand-labelled sample projects (tests/fixtures/<name>/ with
<name>.expected.json beside it). Both must be 100%, and every matched finding must agree on sdk, model
and features."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from qiao.migrate.scan import render_markdown, render_sarif, scan_path

FIXTURES = Path(__file__).parent.parent / "fixtures"
PROJECTS = sorted(p.name.removesuffix(".expected.json") for p in FIXTURES.glob("*.expected.json"))


def _key(f: dict[str, object]) -> tuple[object, ...]:
    return (f["path"], f["line"], f["kind"])


@pytest.mark.parametrize("project", PROJECTS)
def test_precision_and_recall_are_total(project: str) -> None:
    expected = json.loads((FIXTURES / f"{project}.expected.json").read_text())
    report = scan_path(FIXTURES / project).to_json()
    got = Counter(_key(f) for f in report["findings"])
    want = Counter(_key(f) for f in expected["findings"])
    true_pos = sum((got & want).values())
    precision = true_pos / max(1, sum(got.values()))
    recall = true_pos / max(1, sum(want.values()))
    assert (precision, recall) == (1.0, 1.0), (
        f"precision {precision:.2%} recall {recall:.2%}\n"
        f"unexpected: {sorted(got - want)}\nmissed: {sorted(want - got)}"
    )
    for exp in expected["findings"]:
        same = [f for f in report["findings"] if _key(f) == _key(exp)]
        f = next((g for g in same if g["sdk"] == exp["sdk"]), same[0])
        for field in ("sdk", "model", "features", "model_expr"):
            if field in exp:
                assert f[field] == exp[field], (exp, f)
    unreadable = sorted(u["path"] for u in report["summary"]["unreadable"])
    assert unreadable == sorted(expected.get("unreadable", []))


def test_summary_and_formats() -> None:
    report = scan_path(FIXTURES / "py_v1")
    s = report.summary()
    assert s["by_kind"]["chat"] == 4 and s["by_kind"]["audio"] == 2
    assert s["models"]["gpt-4o"] == 2
    md = render_markdown(report)
    assert "| `app/services/chat.py:22` | chat | openai-python v1 | gpt-4o |" in md
    assert "app/broken.py" in md
    sarif = render_sarif(report)
    assert sarif["version"] == "2.1.0"
    assert len(sarif["runs"][0]["results"]) == len(report.findings)


def test_unreadable_files_are_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("import openai\nopenai.Embedding.create(model='m', input='x')\n")
    (tmp_path / "latin1.py").write_bytes(b"# caf\xe9\nimport openai\n")
    (tmp_path / "bad.py").write_text("def (:\n    client.chat.completions.create()\n")
    report = scan_path(tmp_path)
    assert [f.kind for f in report.findings] == ["embeddings"]
    assert {i.path for i in report.issues} == {"latin1.py", "bad.py"}


def test_non_openai_code_has_no_findings(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "import requests\nfrom zhipuai import ZhipuAI\n"
        "ZhipuAI().chat.completions.create(model='glm-4')\n"
        "requests.post('https://example.com/v1/chat/completions', json={'model': 'x'})\n"
        "class C:\n    def create(self): return self.chat.completions.create()\n"
    )
    (tmp_path / "b.ts").write_text("const c = new Other(); c.chat.completions.create({model: 'x'});\n")
    assert scan_path(tmp_path).findings == []


def test_large_tree_scan_reports_progress_and_time(tmp_path: Path) -> None:
    body = "def f(x):\n    return [i * 2 for i in range(x)]\n" * 20
    for d in range(20):
        sub = tmp_path / f"pkg{d}"
        sub.mkdir()
        for i in range(50):
            (sub / f"m{i}.py").write_text(body)
    (tmp_path / "pkg0" / "use.py").write_text(
        "from openai import OpenAI\nOpenAI().embeddings.create(model='e')\n"
    )
    calls: list[tuple[int, int]] = []
    report = scan_path(tmp_path, progress=lambda done, total: calls.append((done, total)))
    assert report.files_scanned == 1001
    assert [f.kind for f in report.findings] == ["client", "embeddings"]
    assert calls[-1] == (1001, 1001)
    assert report.seconds >= 0  # reported; speed is measured by hand (docs/migration-guide.md), not tested


_USES = """from openai import OpenAI

from pkg{p:02d}.factory import make_client
from pkg{p:02d}.service import Service

MODEL = "gpt-4o-mini"
client = OpenAI()


def ask(q):
    return client.chat.completions.create(model=MODEL, messages=[{{"role": "user", "content": q}}])


def embed(texts):
    return make_client().embeddings.create(model="text-embedding-3-small", input=texts)


Service(client).run()
"""
_FACTORY = "import openai\n\n\ndef make_client():\n    return openai.OpenAI()\n"
# The client reaches this class only through ``Service(client)`` in other modules (other workers).
_SERVICE = """class Service:
    def __init__(self, c):
        self.c = c

    def run(self):
        return self.c.moderations.create(input="x")
"""
_PLAIN = "import math\n\n\ndef area(r):\n    return math.pi * r * r\n" * 10


def test_generated_tree_same_findings_in_one_process_and_in_workers(tmp_path: Path) -> None:
    """A few thousand files, a tenth of them using the SDK, with clients crossing modules (a factory
    in one module, a class given a client in another): every worker count finds the same."""
    for p in range(20):
        pkg = tmp_path / f"pkg{p:02d}"
        pkg.mkdir()
        (pkg / "__init__.py").write_text("")
        (pkg / "factory.py").write_text(_FACTORY)
        (pkg / "service.py").write_text(_SERVICE)
        for i in range(97):
            (pkg / f"m{i:02d}.py").write_text(_USES.format(p=p) if i % 10 == 0 else _PLAIN)
    calls: list[tuple[int, int]] = []
    reports = [
        scan_path(tmp_path, progress=lambda d, t: calls.append((d, t))),
        scan_path(tmp_path, workers=1),
        scan_path(tmp_path, workers=2),
    ]
    users = 20 * 10
    kinds = Counter(f.kind for f in reports[0].findings)
    # per user: client, chat, embeddings; per package: the factory's client, the service's moderation
    assert kinds == {"client": users + 20, "chat": users, "embeddings": users, "moderations": 20}
    assert reports[0].files_scanned == 20 * 100
    assert calls[-1] == (2000, 2000)
    assert all(a <= b for (a, _), (b, _) in zip(calls, calls[1:], strict=False))
    jsons = [r.to_json() for r in reports]
    for j in jsons:
        assert isinstance(j["summary"].pop("seconds"), float)
    assert jsons[0] == jsons[1] == jsons[2]


def test_a_failing_worker_falls_back_to_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from qiao.migrate import _pypool

    want = scan_path(FIXTURES / "py_v1", workers=1).to_json()
    monkeypatch.setattr(_pypool, "_command", lambda: [sys.executable, "-c", "pass"])  # dies at once
    got = scan_path(FIXTURES / "py_v1", workers=2).to_json()
    for r in (want, got):
        r["summary"].pop("seconds")
    assert got == want
