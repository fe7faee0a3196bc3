"""``qiao migrate scan``: find every use of OpenAI's API in a codebase without running it.

Python goes through ``ast`` (:mod:`._pyscan`), JavaScript/TypeScript through tree-sitter
(:mod:`._jsscan`), settings files through their parsers (:mod:`._cfgscan`). Files that cannot be read
or parsed are listed in the report, never fatal. The JSON shape (``{"findings": [...], "summary":
{...}}``) is documented in ``docs/migration-guide.md``.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._cfgscan import is_config_file, scan_config
from ._jsscan import language_for, scan_js
from ._model import KINDS, FileResult, Finding, ScanIssue
from ._pyscan import PythonProject

__all__ = ["SKIP_DIRS", "ScanReport", "iter_files", "render_markdown", "render_sarif", "scan_path"]

SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        ".venv",
        "venv",
        "env",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".tox",
        ".nox",
        "dist",
        "build",
        "site-packages",
        ".next",
        ".idea",
    }
)
MAX_BYTES = 2 * 1024 * 1024
# A Python file without any of these words cannot contain a finding (the OpenAI resource names, or a
# client handed over by a caller); it is still parsed lazily when another module imports a constant
# from it.
_PY_WORDS = (
    "openai",
    "client",
    "completions",
    "embeddings",
    "images",
    "audio",
    "moderations",
    "assistants",
    "threads",
    "responses",
    "fine_tuning",
    "batches",
    "files",
    "realtime",
    "vector_stores",
    "uploads",
)

Progress = Callable[[int, int], None]


@dataclass(slots=True)
class ScanReport:
    root: str
    findings: list[Finding] = field(default_factory=list)
    issues: list[ScanIssue] = field(default_factory=list)
    files_scanned: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        by_kind = Counter(f.kind for f in self.findings)
        models = Counter(f.model for f in self.findings if f.model)
        feats = Counter(x for f in self.findings for x in f.features)
        return {
            "root": self.root,
            "files_scanned": self.files_scanned,
            "files_with_findings": len({f.path for f in self.findings}),
            "findings": len(self.findings),
            "by_kind": {k: by_kind[k] for k in KINDS if by_kind[k]},
            "by_sdk": dict(sorted(Counter(f.sdk for f in self.findings).items())),
            "models": dict(sorted(models.items())),
            "unresolved_models": sum(1 for f in self.findings if f.model is None and f.model_expr),
            "features": dict(sorted(feats.items())),
            "unreadable": [{"path": i.path, "reason": i.reason, "line": i.line} for i in self.issues],
            "seconds": round(self.seconds, 3),
        }

    def to_json(self) -> dict[str, Any]:
        return {"findings": [f.to_dict() for f in self.findings], "summary": self.summary()}


def iter_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            yield Path(dirpath, name)


def _kind_of(path: Path) -> str | None:
    name = path.name
    if name.endswith(".py"):
        return "python"
    if language_for(name):
        return "js"
    return is_config_file(name)


def scan_path(root: str | Path, progress: Progress | None = None) -> ScanReport:
    """Scan a directory (or one file). ``progress(done, total)`` is called as files are read."""
    t0 = time.perf_counter()
    base = Path(root)
    top = base if base.is_dir() else base.parent
    report = ScanReport(str(base))
    files = [(p, k) for p in iter_files(base) if (k := _kind_of(p))]
    total = len(files)
    project = PythonProject()
    results: list[FileResult] = []
    for i, (p, kind) in enumerate(files, 1):
        rel = p.relative_to(top).as_posix()
        try:
            if p.stat().st_size > MAX_BYTES:
                report.issues.append(ScanIssue(rel, f"skipped: larger than {MAX_BYTES // 1024 // 1024} MiB"))
                continue
            data = p.read_bytes()
        except OSError as exc:
            report.issues.append(ScanIssue(rel, f"unreadable: {exc.strerror or exc}"))
            continue
        report.files_scanned += 1
        if kind == "js":
            if b"openai" in data.lower():
                results.append(scan_js(rel, data))
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                report.issues.append(ScanIssue(rel, "unreadable: not UTF-8 text"))
                continue
            low = text.lower()
            if kind == "python":
                if any(w in low for w in _PY_WORDS):
                    project.add(rel, text.removeprefix("\ufeff"))
                else:
                    project.defer(rel, text)
            elif "openai" in low:  # every config finding names OpenAI in its key or host
                results.append(scan_config(rel, text, kind))
        if progress is not None and (i % 50 == 0 or i == total):
            progress(i, total)
    project.analyse()
    report.issues.extend(project.issues)
    for _, res in project.findings():
        results.append(res)
    for res in results:
        report.findings.extend(res.findings)
        report.issues.extend(res.issues)
    report.findings.sort(key=lambda f: (f.path, f.line, f.column, f.kind))
    report.issues.sort(key=lambda i: i.path)
    report.seconds = time.perf_counter() - t0
    return report


def _model_cell(f: Finding) -> str:
    if f.model:
        return f.model
    return f"? `{f.model_expr}`" if f.model_expr else ""


def render_markdown(report: ScanReport) -> str:
    s = report.summary()
    lines = [
        f"# OpenAI usage in `{report.root}`",
        "",
        f"{s['findings']} findings in {s['files_with_findings']} of {s['files_scanned']} files "
        f"({', '.join(f'{k}: {v}' for k, v in s['by_kind'].items()) or 'none'}).",
        "",
        "| Location | Kind | SDK | Model | Features |",
        "|---|---|---|---|---|",
    ]
    for f in report.findings:
        cell = _model_cell(f).replace("|", "\\|")
        lines.append(f"| `{f.path}:{f.line}` | {f.kind} | {f.sdk} | {cell} | {', '.join(f.features)} |")
    if report.issues:
        lines += ["", "## Files not scanned", ""]
        lines += [f"- `{i.path}`{f':{i.line}' if i.line else ''}: {i.reason}" for i in report.issues]
    return "\n".join(lines) + "\n"


def render_sarif(report: ScanReport) -> dict[str, Any]:
    """SARIF 2.1.0, one rule per kind, so code-scanning UIs can show the call sites."""
    rules = [{"id": f"openai-{k}", "shortDescription": {"text": f"OpenAI API use: {k}"}} for k in KINDS]
    results = []
    for f in report.findings:
        msg = f"{f.kind} via {f.sdk}" + (f" (model {f.model})" if f.model else "")
        if f.features:
            msg += f"; features: {', '.join(f.features)}"
        results.append(
            {
                "ruleId": f"openai-{f.kind}",
                "level": "note",
                "message": {"text": msg},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": f.path},
                            "region": {"startLine": f.line, "startColumn": f.column + 1},
                        }
                    }
                ],
            }
        )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "qiao migrate scan", "rules": rules}}, "results": results}],
    }


def dumps(report: ScanReport) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False, indent=2)
