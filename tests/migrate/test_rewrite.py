"""Rewrite round-trips on copies of the fixture projects: the output parses, only the intended lines
change, a second run changes nothing, unsafe code is listed and left alone."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from qiao.migrate._jsscan import parse_js
from qiao.migrate.rewrite import rewrite_js, rewrite_path, rewrite_python

FIXTURES = Path(__file__).parent.parent / "fixtures"


def test_round_trip_on_fixtures(tmp_path: Path) -> None:
    root = tmp_path / "fx"
    shutil.copytree(FIXTURES, root)
    first = {r.path: r for r in rewrite_path(root, {"gpt-4o": "chat-default"}, apply=True)}
    expected_lines = {
        "py_v1/app/clients.py": [8],
        "py_v0/app/bot.py": [7],
        "py_v0/app/azure_v0.py": [6],  # plus `import os` added after the imports
        "py_async_azure/worker.py": [11, 46],
        "ts_app/src/llm.ts": [8, 9],
        "ts_app/src/legacy.js": [4],
    }
    assert {p for p, r in first.items() if r.changed} == set(expected_lines)
    for path, lines in expected_lines.items():
        r = first[path]
        old, new = r.old.splitlines(), r.new.splitlines()
        added = [ln for ln in new if ln not in old]
        removed = [i + 1 for i, ln in enumerate(old) if ln not in new]
        assert removed == lines, path
        assert all("QIAO_" in ln or "chat-default" in ln or ln == "import os" for ln in added), added
        if path.endswith(".py"):
            ast.parse(r.new)
        else:
            assert not parse_js(
                r.new.encode(), "typescript" if path.endswith(".ts") else "javascript"
            ).root_node.has_error
        assert (root / path).read_text() == r.new
    # comments and formatting elsewhere survive
    assert "# the classic v0 call, with function calling" in (root / "py_v0/app/bot.py").read_text()
    # unsafe sites are listed, not touched
    unsafe = {(p, line) for p, r in first.items() for line, _ in r.unsafe}
    assert ("py_async_azure/worker.py", 32) in unsafe and ("py_v0/app/azure_v0.py", 5) in unsafe
    assert "AsyncAzureOpenAI(\n    azure_endpoint" in first["py_async_azure/worker.py"].new
    # idempotent
    second = rewrite_path(root, {"gpt-4o": "chat-default"}, apply=True)
    assert [r.path for r in second if r.changed] == []


def test_python_adds_missing_arguments_and_import() -> None:
    src = "from openai import OpenAI as Client  # aliased\n\nc = Client(timeout=5)  # keep me\n"
    r = rewrite_python("a.py", src)
    assert r.new == (
        "from openai import OpenAI as Client  # aliased\nimport os\n\n"
        'c = Client(timeout=5, base_url=os.environ["QIAO_BASE_URL"], '
        'api_key=os.environ["QIAO_API_KEY"])  # keep me\n'
    )
    assert rewrite_python("a.py", r.new).changed is False


def test_python_unsafe_kwargs_left_alone() -> None:
    src = "import openai\nopts = {}\nc = openai.OpenAI(**opts)\n"
    r = rewrite_python("a.py", src)
    assert not r.changed and r.unsafe == [(3, "client built with **kwargs: set base_url/api_key by hand")]


def test_js_non_literal_options_listed() -> None:
    src = (
        'import OpenAI from "openai";\nconst opts = {};\n'
        "const c = new OpenAI(opts);\nconst d = new OpenAI({ timeout: 5 });\n"
    )
    r = rewrite_js("a.ts", src)
    assert r.unsafe and r.unsafe[0][0] == 3
    assert (
        "new OpenAI({ baseURL: process.env.QIAO_BASE_URL, apiKey: process.env.QIAO_API_KEY, timeout: 5 })"
        in r.new
    )
    assert rewrite_js("a.ts", r.new).changed is False
