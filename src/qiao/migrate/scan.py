"""``qiao migrate scan``: find every use of OpenAI's API in a codebase without running it.

Python goes through ``ast`` (:mod:`._pyscan`), JavaScript/TypeScript through tree-sitter
(:mod:`._jsscan`), settings files through their parsers (:mod:`._cfgscan`). Files that cannot be read
or parsed are listed in the report, never fatal. The JSON shape (``{"findings": [...], "summary":
{...}}``) is documented in ``docs/migration-guide.md``.
"""

from __future__ import annotations

import gc
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
from ._pymodule import _module_name
from ._pypool import ParallelScan, WorkerError
from ._pyscan import PythonProject

__all__ = [
    "MAX_WORKERS",
    "PARALLEL_MIN_FILES",
    "SKIP_DIRS",
    "ScanReport",
    "iter_files",
    "render_markdown",
    "render_sarif",
    "scan_path",
]

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
_PY_BYTES = tuple(w.encode() for w in _PY_WORDS)
PARALLEL_MIN_FILES = 200  # below this, starting worker processes costs more than it saves
MAX_WORKERS = 8

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


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def scan_path(root: str | Path, progress: Progress | None = None, workers: int | None = None) -> ScanReport:
    """Scan a directory (or one file). ``progress(done, total)`` is called as files are done.

    Python modules that may hold a finding are parsed in ``workers`` processes (default: one per CPU,
    up to :data:`MAX_WORKERS`, when there are at least :data:`PARALLEL_MIN_FILES` of them; ``1``: in
    this process). The findings are the same either way."""
    enabled = gc.isenabled()
    gc.disable()  # syntax trees hold no cycles; with the collector on, parsing takes three times as long
    try:
        return _scan(root, progress, workers)
    finally:
        if enabled:
            gc.enable()


def _module_names(rel: str) -> set[str]:
    name = _module_name(rel)
    return {name, name.removeprefix("src.")}


def _scan(root: str | Path, progress: Progress | None, workers: int | None) -> ScanReport:
    t0 = time.perf_counter()
    base = Path(root)
    top = base if base.is_dir() else base.parent
    report = ScanReport(str(base))
    files = [(p, k) for p in iter_files(base) if (k := _kind_of(p))]
    total = len(files)
    results: list[FileResult] = []
    sources: list[tuple[str, str]] = []  # Python modules to parse, in file order
    deferred: list[tuple[str, Path, str]] = []  # the others: parsed only if a constant is needed
    n_workers = workers if workers is not None else min(_cpu_count(), MAX_WORKERS)
    # Workers start once this many modules are to be parsed, and parse them while files are still read.
    start_at = 1 if workers is not None else PARALLEL_MIN_FILES
    pool: ParallelScan | None = None
    parsed = 0  # by the workers, so far
    too_big = f"skipped: larger than {MAX_BYTES // 1024 // 1024} MiB"

    def give_up() -> None:  # a worker failed: everything is parsed again in this process
        nonlocal pool, parsed, n_workers
        if pool is not None:
            pool.abort()
        pool, parsed, n_workers = None, 0, 1

    try:
        for i, (p, kind) in enumerate(files, 1):
            rel = p.relative_to(top).as_posix()
            try:
                if p.stat().st_size > MAX_BYTES:
                    report.issues.append(ScanIssue(rel, too_big))
                    continue
                data = p.read_bytes()
            except OSError as exc:
                report.issues.append(ScanIssue(rel, f"unreadable: {exc.strerror or exc}"))
                continue
            report.files_scanned += 1
            low = data.lower()  # every word looked for is ASCII: search the bytes, decode only if needed
            if kind == "js":
                if b"openai" in low:
                    results.append(scan_js(rel, data))
            else:
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    report.issues.append(ScanIssue(rel, "unreadable: not UTF-8 text"))
                    continue
                if kind == "python":
                    if any(w in low for w in _PY_BYTES):
                        sources.append((rel, text.removeprefix("\ufeff")))
                        try:
                            if pool is not None:
                                pool.submit(*sources[-1])
                            elif n_workers > 1 and len(sources) >= start_at:
                                pool = ParallelScan(n_workers)
                                for src in sources:
                                    pool.submit(*src)
                        except WorkerError:
                            give_up()
                    else:
                        deferred.append((rel, p, text))
                elif b"openai" in low:  # every config finding names OpenAI in its key or host
                    results.append(scan_config(rel, text, kind))
            if i % 50 == 0:
                if pool is not None:
                    try:
                        parsed += pool.poll()
                    except WorkerError:
                        give_up()
                if progress is not None:
                    progress(i - len(sources) + parsed, total)

        done = total - len(sources) + parsed
        if progress is not None:
            progress(done, total)

        def step(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(done, total)

        py: tuple[list[FileResult], list[ScanIssue]] | None = None
        if pool is not None:
            paths = {n: str(path) for rel, path, _ in deferred for n in _module_names(rel)}
            try:
                py = pool.finish(paths, step)
            except WorkerError:
                give_up()
                done = total - len(sources)
    except BaseException:  # Ctrl-C too: no worker is left waiting
        if pool is not None:
            pool.abort()
        raise
    if py is None:
        py = _scan_python(sources, deferred, step)
    report.issues.extend(py[1])
    results.extend(py[0])
    for res in results:
        report.findings.extend(res.findings)
        report.issues.extend(res.issues)
    report.findings.sort(key=lambda f: (f.path, f.line, f.column, f.kind))
    report.issues.sort(key=lambda i: i.path)
    report.seconds = time.perf_counter() - t0
    return report


def _scan_python(
    sources: list[tuple[str, str]], deferred: list[tuple[str, Path, str]], step: Callable[[int], None]
) -> tuple[list[FileResult], list[ScanIssue]]:
    project = PythonProject()
    for rel, _, text in deferred:
        project.defer(rel, text)
    for k, (rel, text) in enumerate(sources, 1):
        project.add(rel, text)
        if k % 50 == 0 or k == len(sources):
            step(50 if k % 50 == 0 else k % 50)
    project.analyse()
    return [res for _, res in project.findings()], project.issues


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
