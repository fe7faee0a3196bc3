"""``qiao migrate rewrite``: point OpenAI clients at the gateway, preserving formatting and comments.

Python is rewritten with a libcst codemod: ``OpenAI(...)``/``AsyncOpenAI(...)`` (however imported or
renamed) get ``base_url=os.environ["QIAO_BASE_URL"]`` and ``api_key=os.environ["QIAO_API_KEY"]``; v0
module settings ``openai.api_base``/``openai.api_key`` get the same values; model literals are renamed
through ``renames`` (the alias table). JS/TS client constructors get ``baseURL``/``apiKey`` from
``process.env``. The result of a second run is identical (idempotent). What cannot be rewritten safely
(Azure clients, ``**kwargs``, positional arguments, non-literal options) is listed, not touched.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import PositionProvider, QualifiedNameProvider

from ._jsscan import _CLIENTS, _File, language_for, parse_js, walk
from .scan import iter_files

__all__ = ["FileRewrite", "rewrite_js", "rewrite_path", "rewrite_python"]

BASE_ENV, KEY_ENV = "QIAO_BASE_URL", "QIAO_API_KEY"
_PY_CLIENTS = {"openai.OpenAI", "openai.AsyncOpenAI", "openai.Client", "openai.AsyncClient"}
_PY_AZURE = {"openai.AzureOpenAI", "openai.AsyncAzureOpenAI"}
_V0_SETTINGS = {"openai.api_base": BASE_ENV, "openai.base_url": BASE_ENV, "openai.api_key": KEY_ENV}


@dataclass(slots=True)
class FileRewrite:
    path: str
    old: str
    new: str
    unsafe: list[tuple[int, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.old.splitlines(keepends=True),
                self.new.splitlines(keepends=True),
                f"a/{self.path}",
                f"b/{self.path}",
            )
        )


def _env(name: str) -> cst.BaseExpression:
    return cst.parse_expression(f'os.environ["{name}"]')


class _Codemod(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(self, renames: dict[str, str]) -> None:
        super().__init__()
        self.renames = renames
        self.unsafe: list[tuple[int, str]] = []
        self.needs_os = False

    def _quals(self, node: cst.CSTNode) -> set[str]:
        return {q.name for q in self.get_metadata(QualifiedNameProvider, node, set())}

    def _line(self, node: cst.CSTNode) -> int:
        return self.get_metadata(PositionProvider, node).start.line

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        quals = self._quals(original.func)
        if quals & _PY_AZURE:
            self.unsafe.append(
                (self._line(original), "Azure client: replace with OpenAI(base_url=…) by hand")
            )
            return updated
        if quals & _PY_CLIENTS:
            return self._client(original, updated)
        return self._rename_model(updated)

    def _client(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        if any(a.keyword is None for a in updated.args):
            why = "**kwargs" if any(a.star == "**" for a in updated.args) else "positional arguments"
            self.unsafe.append(
                (self._line(original), f"client built with {why}: set base_url/api_key by hand")
            )
            return updated
        args = list(updated.args)
        for kw, env in (("base_url", BASE_ENV), ("api_key", KEY_ENV)):
            value = _env(env)
            idx = next((i for i, a in enumerate(args) if a.keyword and a.keyword.value == kw), None)
            if idx is None:
                if args and args[-1].comma is cst.MaybeSentinel.DEFAULT:
                    args[-1] = args[-1].with_changes(
                        comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
                    )
                args.append(
                    cst.Arg(
                        value=value,
                        keyword=cst.Name(kw),
                        equal=cst.AssignEqual(
                            whitespace_before=cst.SimpleWhitespace(""),
                            whitespace_after=cst.SimpleWhitespace(""),
                        ),
                    )
                )
                self.needs_os = True
            elif not args[idx].value.deep_equals(value):
                args[idx] = args[idx].with_changes(value=value)
                self.needs_os = True
        return updated.with_changes(args=args)

    def _rename_model(self, updated: cst.Call) -> cst.Call:
        if not self.renames:
            return updated
        args = list(updated.args)
        changed = False
        for i, a in enumerate(args):
            if a.keyword and a.keyword.value in ("model", "engine") and isinstance(a.value, cst.SimpleString):
                old = a.value.evaluated_value
                if isinstance(old, str) and old in self.renames:
                    q = a.value.quote
                    args[i] = a.with_changes(value=cst.SimpleString(f"{q}{self.renames[old]}{q}"))
                    changed = True
        return updated.with_changes(args=args) if changed else updated

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        for t in original.targets:
            for q in self._quals(t.target):
                if q == "openai.api_type":
                    self.unsafe.append((self._line(original), "openai.api_type (Azure v0): remove by hand"))
                env = _V0_SETTINGS.get(q)
                if env and not updated.value.deep_equals(_env(env)):
                    self.needs_os = True
                    return updated.with_changes(value=_env(env))
        return updated


def rewrite_python(rel: str, source: str, renames: dict[str, str] | None = None) -> FileRewrite:
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        return FileRewrite(rel, source, source, [(exc.raw_line, "not parsable: left as is")])
    wrapper = cst.MetadataWrapper(module)
    mod = _Codemod(renames or {})
    new = wrapper.visit(mod)
    if mod.needs_os:
        ctx = CodemodContext()
        AddImportsVisitor.add_needed_import(ctx, "os")
        new = AddImportsVisitor(ctx).transform_module(new)
    return FileRewrite(rel, source, new.code, mod.unsafe)


def rewrite_js(rel: str, source: str) -> FileRewrite:
    data = source.encode()
    lang = language_for(rel) or "javascript"
    tree = parse_js(data, lang)
    f = _File(rel, tree, lang)
    f.collect()
    edits: list[tuple[int, int, bytes]] = []
    unsafe: list[tuple[int, str]] = []
    want = {"baseURL": f"process.env.{BASE_ENV}", "apiKey": f"process.env.{KEY_ENV}"}
    for n in walk(tree.root_node):
        if n.type != "new_expression" or f.qual(n.child_by_field_name("constructor")) not in _CLIENTS:
            continue
        line = n.start_point[0] + 1
        if f.qual(n.child_by_field_name("constructor")) == "openai.AzureOpenAI":
            unsafe.append((line, "Azure client: replace with new OpenAI({ baseURL, apiKey }) by hand"))
            continue
        args = n.child_by_field_name("arguments")
        argv = args.named_children if args is not None else []
        if args is None or not argv:
            text = "({ " + ", ".join(f"{k}: {v}" for k, v in want.items()) + " })"
            if args is None:
                edits.append((n.end_byte, n.end_byte, text.encode()))
            else:
                edits.append((args.start_byte, args.end_byte, text.encode()))
            continue
        obj = argv[0]
        if obj.type != "object" or len(argv) > 1:
            unsafe.append((line, "client options are not an object literal: set baseURL/apiKey by hand"))
            continue
        present = {}
        for p in obj.named_children:
            if p.type == "pair":
                key = p.child_by_field_name("key")
                if key is not None and key.text is not None:
                    present[key.text.decode().strip("\"'")] = p.child_by_field_name("value")
        missing = []
        for k, v in want.items():
            node = present.get(k)
            if node is None:
                missing.append(f"{k}: {v}")
            elif node.text != v.encode():
                edits.append((node.start_byte, node.end_byte, v.encode()))
        if missing:
            at = obj.start_byte + 1
            sep = "," if obj.named_children else ""
            edits.append((at, at, (" " + ", ".join(missing) + sep).encode()))
    for start, end, chunk in sorted(edits, reverse=True):
        data = data[:start] + chunk + data[end:]
    return FileRewrite(rel, source, data.decode(), unsafe)


def rewrite_path(
    root: str | Path, renames: dict[str, str] | None = None, apply: bool = False
) -> list[FileRewrite]:
    base = Path(root)
    top = base if base.is_dir() else base.parent
    out: list[FileRewrite] = []
    for p in iter_files(base):
        rel = p.relative_to(top).as_posix()
        is_py = p.suffix == ".py"
        if not is_py and language_for(p.name) is None:
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if "openai" not in text.lower():
            continue
        res = rewrite_python(rel, text, renames) if is_py else rewrite_js(rel, text)
        if res.changed or res.unsafe:
            out.append(res)
        if apply and res.changed:
            p.write_text(res.new, encoding="utf-8")
    return out


def unsafe_report(results: Sequence[FileRewrite]) -> list[str]:
    return [f"{r.path}:{line}: {why}" for r in results for line, why in r.unsafe]
