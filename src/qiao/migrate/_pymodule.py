"""The per-module model of the Python scanner: scopes, modules and the one-pass AST walk helpers.

Split out of ``_pyscan`` (which holds the project-wide analysis) to keep both modules readable.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["Module", "Scope"]

_OTHER_SDKS = ("zhipuai", "zai", "dashscope", "qianfan", "sensenova", "volcenginesdkarkruntime")


def _module_name(rel: str) -> str:
    parts = rel[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@dataclass(slots=True)
class Scope:
    node: ast.AST
    module: Module
    parent: Scope | None
    cls: str | None = None
    name: str = ""
    clients: set[str] = field(default_factory=set)
    http: dict[str, str] = field(default_factory=dict)
    strings: dict[str, str] = field(default_factory=dict)
    dicts: dict[str, ast.Dict] = field(default_factory=dict)
    _nodes: list[ast.AST] | None = None
    params: list[tuple[str, bool]] | None = None  # a function's: (name, annotated as a client)

    @property
    def nodes(self) -> list[ast.AST]:
        """The nodes of this scope that matter to the analysis, walked once."""
        if self._nodes is None:
            self._nodes = [n for n in _body_nodes(self.node) if isinstance(n, _INTERESTING)]
        return self._nodes

    def lookup_client(self, name: str) -> bool:
        s: Scope | None = self
        while s is not None:
            if name in s.clients:
                return True
            s = s.parent
        return False

    def lookup_http(self, name: str) -> str | None:
        s: Scope | None = self
        while s is not None:
            if name in s.http:
                return s.http[name]
            s = s.parent
        return None

    def lookup_string(self, name: str) -> str | None:
        s: Scope | None = self
        while s is not None:
            if name in s.strings:
                return s.strings[name]
            s = s.parent
        return None

    def lookup_dict(self, name: str) -> ast.Dict | None:
        s: Scope | None = self
        while s is not None:
            if name in s.dicts:
                return s.dicts[name]
            s = s.parent
        return None


@dataclass(slots=True)
class Module:
    rel: str
    name: str
    tree: ast.Module
    imports: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    scopes: list[Scope] = field(default_factory=list)
    classes: set[str] = field(default_factory=set)

    @property
    def imports_openai(self) -> bool:
        return any(q == "openai" or q.startswith("openai.") for q in self.imports.values())

    @property
    def imports_other_sdk(self) -> bool:
        return any(q.split(".")[0] in _OTHER_SDKS for q in self.imports.values())


_INTERESTING = (ast.Assign, ast.AnnAssign, ast.withitem, ast.Return, ast.Call, ast.ClassDef, ast.Subscript)


# What ``_collect`` dispatches on (exact types: ``ast.parse`` never makes subclasses).
_INTERESTING_TYPES = frozenset(
    {*_INTERESTING, ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef}
)
# Fields that never hold a node worth visiting: contexts and operators are nodes but never interesting;
# the others are identifiers, flags and numbers, or lists of identifiers (``global``'s ``names``; an
# import's ``names`` are never walked).
_LEAF_FIELDS = frozenset(
    {"ctx", "op", "ops", "type_comment", "kind", "conversion", "level", "is_async", "names", "kwd_attrs"}
)
# Per node class, in reverse order (children are pushed on a stack): (field, holds a list of nodes).
_CHILD_FIELDS: dict[type, tuple[tuple[str, bool], ...]] = {ast.Name: (), ast.Constant: ()}


def _child_fields(node: ast.AST) -> tuple[tuple[str, bool], ...]:
    """A node class's fields that may hold nodes, read from its first node (``ast.parse`` sets every
    field, a list field always to a list)."""
    names = [f for f in type(node)._fields if f not in _LEAF_FIELDS]
    return tuple((f, isinstance(getattr(node, f, None), list)) for f in reversed(names))


def _body_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node of a scope, not descending into nested functions (they are scopes of their own)."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        stack.extend(ast.iter_child_nodes(n))


def _symbol(call: ast.Call) -> str:
    """A call's callee as source text (only for findings: ``ast.unparse`` is slow)."""
    return ast.unparse(call.func)[:120]


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> list[ast.arg]:
    ps = [*fn.args.posonlyargs, *fn.args.args]
    if (
        method
        and ps
        and not any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in fn.decorator_list)
    ):
        ps = ps[1:]
    return ps + fn.args.kwonlyargs
