"""Configuration scanner: ``.env`` files, YAML, TOML and JSON settings.

A finding is a key named like an OpenAI setting (``OPENAI_API_KEY``, ``openai_api_base``, …), a
``KEY=value`` string naming one (docker-compose ``environment:`` lists), or a value pointing at
OpenAI's API host. ``.env`` lines are split with a regular expression (they are not code); YAML and
JSON go through PyYAML's composer for line numbers; TOML is validated by ``tomllib`` and its keys are
located line by line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from typing import Any

import yaml

from ._model import OPENAI_HOSTS, FileResult, Finding, ScanIssue

__all__ = ["is_config_file", "scan_config"]

_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_SETTING = re.compile(
    r"^(azure_)?openai[_.\-]?(api[_\-]?key|api[_\-]?base|base[_\-]?url|organization|org[_\-]?id|"
    r"api[_\-]?type|api[_\-]?version|model|chat[_\-]?model|embedding[_\-]?model|endpoint|"
    r"deployment(?:[_\-]?name)?)$",
    re.IGNORECASE,
)
# Dependency declarations (package.json, poetry tables): the SDK itself is a migration item.
_DEPENDENCIES = frozenset(
    {"openai", "@langchain/openai", "@azure/openai", "langchain-openai", "llama-index-llms-openai"}
)
_SKIP_JSON = ("package-lock.json", "tsconfig.json", "composer.lock")


def is_config_file(name: str) -> str | None:
    low = name.lower()
    if low == ".env" or low.startswith(".env.") or low.endswith(".env"):
        return "dotenv"
    ext = low.rsplit(".", 1)[-1] if "." in low else ""
    if ext in ("yaml", "yml"):
        return "yaml"
    if ext == "toml":
        return "toml"
    if ext == "json" and low not in _SKIP_JSON:
        return "json"
    return None


def _is_setting(key: str) -> bool:
    return bool(_SETTING.match(key.strip())) or key.strip() in _DEPENDENCIES


def _model_of(key: str, value: str) -> str | None:
    return value.strip("\"'") or None if "model" in key.lower() or "deployment" in key.lower() else None


def _points_at_openai(value: str) -> bool:
    return any(h in value for h in OPENAI_HOSTS)


def scan_config(rel: str, text: str, fmt: str) -> FileResult:
    res = FileResult()
    try:
        if fmt == "dotenv":
            items = list(_dotenv(text))
        elif fmt == "toml":
            items = list(_toml(text))
        else:
            items = list(_yaml(text))
    except (yaml.YAMLError, tomllib.TOMLDecodeError, RecursionError) as exc:
        res.issues.append(ScanIssue(rel, f"{fmt} parse error: {str(exc).splitlines()[0]}"))
        return res
    for line, key, value in items:
        if _is_setting(key) or _points_at_openai(value):
            model = _model_of(key, value) if _is_setting(key) else None
            res.findings.append(Finding(rel, line, "config", fmt, "config", key, model))
    return res


def _dotenv(text: str) -> Iterator[tuple[int, str, str]]:
    for i, raw in enumerate(text.splitlines(), 1):
        if raw.lstrip().startswith("#"):
            continue
        m = _ENV_LINE.match(raw)
        if m:
            yield i, m.group(1), m.group(2)


def _yaml(text: str) -> Iterator[tuple[int, str, str]]:
    for doc in yaml.compose_all(text, Loader=yaml.SafeLoader):
        if doc is not None:
            yield from _walk_node(doc)


def _walk_node(node: yaml.Node) -> Iterator[tuple[int, str, str]]:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = str(k.value) if isinstance(k, yaml.ScalarNode) else ""
            if isinstance(v, yaml.ScalarNode):
                yield k.start_mark.line + 1, key, str(v.value)
            else:
                if _is_setting(key):
                    yield k.start_mark.line + 1, key, ""
                yield from _walk_node(v)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            yield from _walk_node(v)
    elif isinstance(node, yaml.ScalarNode):
        s = str(node.value)
        m = _ENV_LINE.match(s)
        if m and _is_setting(m.group(1)):
            yield node.start_mark.line + 1, m.group(1), m.group(2)
        elif _points_at_openai(s):
            yield node.start_mark.line + 1, "", s


def _toml(text: str) -> Iterator[tuple[int, str, str]]:
    data = tomllib.loads(text)
    lines = text.splitlines()
    used: set[int] = set()

    def locate(key: str) -> int:
        for i, line in enumerate(lines, 1):
            stripped = line.lstrip().strip("\"'")
            if i not in used and stripped.startswith((key, f'"{key}"')):
                used.add(i)
                return i
        return 1

    def walk(obj: Any) -> Iterator[tuple[str, str]]:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(v, dict | list):
                    yield from walk(v)
                else:
                    yield str(k), str(v)
        elif isinstance(obj, list):
            for v in obj:
                if isinstance(v, str):
                    m = _ENV_LINE.match(v)
                    if m:
                        yield m.group(1), m.group(2)
                else:
                    yield from walk(v)

    for key, value in walk(data):
        if _is_setting(key) or _points_at_openai(value):
            yield locate(key), key, value
