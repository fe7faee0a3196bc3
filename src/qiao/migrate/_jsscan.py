"""JavaScript / TypeScript scanner on tree-sitter syntax trees (``openai`` for Node, ``@langchain/openai``,
``fetch``/``axios`` to ``api.openai.com``, ``process.env.OPENAI_*``). One file at a time; clients passed
to functions declared in the same file are followed."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import tree_sitter as ts

from ._model import FileResult, Finding, features_from_keys, kind_for_path, kind_for_url

__all__ = ["language_for", "parse_js", "scan_js", "walk"]

_CLIENTS = {"openai.default": (), "openai.OpenAI": (), "openai.AzureOpenAI": ("azure",)}
_LC = {
    "ChatOpenAI": ("chat", ()),
    "AzureChatOpenAI": ("chat", ("azure",)),
    "OpenAIEmbeddings": ("embeddings", ()),
    "AzureOpenAIEmbeddings": ("embeddings", ("azure",)),
    "OpenAI": ("completions", ()),
}
_LC_SOURCES = ("@langchain/openai", "langchain/chat_models/openai", "langchain/embeddings/openai")
_MODEL_KEYS = ("model", "modelName", "deploymentName", "azureOpenAIApiDeploymentName")
_ENV_PREFIXES = ("OPENAI_", "AZURE_OPENAI_")


@cache
def _language(kind: str) -> ts.Language:
    if kind == "javascript":
        import tree_sitter_javascript as tsj

        return ts.Language(tsj.language())
    import tree_sitter_typescript as tst

    return ts.Language(tst.language_tsx() if kind == "tsx" else tst.language_typescript())


def language_for(path: str) -> str | None:
    ext = path.rsplit(".", 1)[-1].lower()
    if ext in ("js", "mjs", "cjs", "jsx"):
        return "javascript"
    if ext in ("ts", "mts", "cts"):
        return "typescript"
    if ext == "tsx":
        return "tsx"
    return None


def parse_js(source: bytes, lang: str) -> ts.Tree:
    return ts.Parser(_language(lang)).parse(source)


def walk(node: ts.Node) -> Iterator[ts.Node]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def _text(n: ts.Node | None) -> str:
    return n.text.decode("utf-8", "replace") if n is not None and n.text is not None else ""


def _string(n: ts.Node | None) -> str | None:
    if n is not None and n.type == "string":
        return "".join(_text(c) for c in n.named_children if c.type in ("string_fragment", "escape_sequence"))
    return None


class _File:
    def __init__(self, rel: str, tree: ts.Tree, lang: str) -> None:
        self.rel = rel
        self.root = tree.root_node
        self.lang = "typescript" if lang in ("typescript", "tsx") else "javascript"
        self.imports: dict[str, str] = {}
        self.consts: dict[str, str] = {}
        self.objects: dict[str, ts.Node] = {}
        self.clients: set[str] = set()
        self.functions: dict[str, list[str]] = {}

    # ---- pass 1 -------------------------------------------------------------------------------------
    def collect(self) -> None:
        for n in walk(self.root):
            if n.type == "import_statement":
                src = _string(n.child_by_field_name("source"))
                if src:
                    self._import(n, src)
            elif n.type == "variable_declarator":
                name, value = n.child_by_field_name("name"), n.child_by_field_name("value")
                if (
                    value is not None
                    and value.type == "call_expression"
                    and _text(value.child_by_field_name("function")) == "require"
                ):
                    args = value.child_by_field_name("arguments")
                    src = _string(args.named_children[0]) if args and args.named_children else None
                    if src and name is not None:
                        self._require(name, src)
                elif name is not None and name.type == "identifier" and value is not None:
                    s = self.resolve(value)
                    if s is not None:
                        self.consts[_text(name)] = s
                    if value.type == "object":
                        self.objects[_text(name)] = value
            elif n.type in ("function_declaration", "method_definition"):
                params = n.child_by_field_name("parameters")
                self.functions[_text(n.child_by_field_name("name"))] = [
                    _text(p.child_by_field_name("pattern") or p)
                    for p in (params.named_children if params else [])
                ]
        for _ in range(5):
            before = len(self.clients)
            self._propagate()
            if len(self.clients) == before:
                break

    def _import(self, n: ts.Node, src: str) -> None:
        clause = next((c for c in n.named_children if c.type == "import_clause"), None)
        if clause is None:
            return
        for c in clause.named_children:
            if c.type == "identifier":
                self.imports[_text(c)] = f"{src}.default"
            elif c.type == "namespace_import":
                ident = next((x for x in c.named_children if x.type == "identifier"), None)
                if ident is not None:
                    self.imports[_text(ident)] = src
            elif c.type == "named_imports":
                for spec in c.named_children:
                    if spec.type == "import_specifier":
                        orig = _text(spec.child_by_field_name("name"))
                        alias = spec.child_by_field_name("alias")
                        self.imports[_text(alias) if alias else orig] = f"{src}.{orig}"

    def _require(self, name: ts.Node, src: str) -> None:
        if name.type == "identifier":
            self.imports[_text(name)] = f"{src}.default"
        elif name.type == "object_pattern":
            for c in name.named_children:
                if c.type == "shorthand_property_identifier_pattern":
                    self.imports[_text(c)] = f"{src}.{_text(c)}"
                elif c.type == "pair_pattern":
                    key, val = c.child_by_field_name("key"), c.child_by_field_name("value")
                    self.imports[_text(val)] = f"{src}.{_text(key)}"

    def qual(self, n: ts.Node | None) -> str | None:
        if n is None:
            return None
        if n.type == "identifier":
            return self.imports.get(_text(n))
        if n.type == "member_expression":
            base = self.qual(n.child_by_field_name("object"))
            return f"{base}.{_text(n.child_by_field_name('property'))}" if base else None
        return None

    def _client_ctor(self, n: ts.Node | None) -> str | None:
        while n is not None and n.type in ("await_expression", "parenthesized_expression"):
            n = n.named_children[0] if n.named_children else None
        if n is not None and n.type == "new_expression":
            q = self.qual(n.child_by_field_name("constructor"))
            if q in _CLIENTS:
                return q
        return None

    def is_client(self, n: ts.Node | None) -> bool:
        if n is None:
            return False
        if self._client_ctor(n):
            return True
        if n.type in ("identifier", "member_expression"):
            return _text(n) in self.clients
        return False

    def _propagate(self) -> None:
        for n in walk(self.root):
            if n.type == "variable_declarator":
                if self.is_client(n.child_by_field_name("value")):
                    self.clients.add(_text(n.child_by_field_name("name")))
            elif n.type == "assignment_expression":
                if self.is_client(n.child_by_field_name("right")):
                    self.clients.add(_text(n.child_by_field_name("left")))
            elif n.type in ("public_field_definition", "field_definition"):
                if self.is_client(n.child_by_field_name("value")):
                    self.clients.add("this." + _text(n.child_by_field_name("property")))
            elif n.type in ("required_parameter", "optional_parameter"):
                ann = n.child_by_field_name("type")
                if ann is not None and any(
                    c.type == "type_identifier"
                    and f"openai.{_text(c)}" in _CLIENTS
                    or self.imports.get(_text(c)) in _CLIENTS
                    for c in walk(ann)
                ):
                    self.clients.add(_text(n.child_by_field_name("pattern")))
            elif n.type == "call_expression":
                fn = n.child_by_field_name("function")
                args = n.child_by_field_name("arguments")
                name = (
                    _text(fn.child_by_field_name("property"))
                    if fn and fn.type == "member_expression"
                    else _text(fn)
                )
                params = self.functions.get(name)
                if params and args:
                    for i, a in enumerate(args.named_children):
                        if i < len(params) and self.is_client(a):
                            self.clients.add(params[i])

    # ---- values -------------------------------------------------------------------------------------
    def resolve(self, n: ts.Node | None) -> str | None:
        if n is None:
            return None
        if n.type == "string":
            return _string(n)
        if n.type == "identifier":
            return self.consts.get(_text(n))
        if n.type == "template_string":
            out = []
            for c in n.named_children:
                if c.type == "string_fragment":
                    out.append(_text(c))
                elif c.type == "template_substitution":
                    v = self.resolve(c.named_children[0]) if c.named_children else None
                    out.append(v if v is not None else "{…}")
            return "".join(out)
        if n.type == "binary_expression" and _text(n.child_by_field_name("operator")) == "+":
            a, b = self.resolve(n.child_by_field_name("left")), self.resolve(n.child_by_field_name("right"))
            return a + b if a is not None and b is not None else None
        if n.type in ("binary_expression",) and _text(n.child_by_field_name("operator")) in ("??", "||"):
            return self.resolve(n.child_by_field_name("right"))
        if (
            n.type in ("parenthesized_expression", "as_expression", "satisfies_expression")
            and n.named_children
        ):
            return self.resolve(n.named_children[0])
        return None

    def _object(self, n: ts.Node | None) -> ts.Node | None:
        if n is not None and n.type == "identifier":
            return self.objects.get(_text(n))
        return n if n is not None and n.type == "object" else None

    def _obj_info(
        self, obj: ts.Node | None, model_keys: tuple[str, ...] = _MODEL_KEYS, extra: set[str] | None = None
    ) -> tuple[str | None, str | None, tuple[str, ...]]:
        model: str | None = None
        expr: str | None = None
        keys: list[str] = []
        derived = set(extra or ())
        obj = self._object(obj)
        if obj is None:
            return None, None, features_from_keys([], derived)
        for p in obj.named_children:
            if p.type == "spread_element":
                derived.add("kwargs")
                continue
            val: ts.Node | None
            if p.type == "shorthand_property_identifier":
                key, val = _text(p), p
            elif p.type == "pair":
                k = p.child_by_field_name("key")
                key = _string(k) or _text(k)
                val = p.child_by_field_name("value")
            else:
                continue
            if key in model_keys and model is None and expr is None:
                model = self.resolve(val)
                expr = None if model is not None else _text(val)
                continue
            if val is not None and val.type in ("false", "null", "undefined"):
                continue
            keys.append(key)
            if key == "response_format" and val is not None:
                t = _text(val)
                derived.add(
                    "json_schema" if "json_schema" in t else "json_mode" if "json_object" in t else ""
                )
            if key == "messages" and val is not None:
                for x in walk(val):
                    if x.type == "pair" and (
                        _text(x.child_by_field_name("key")).strip("\"'") == "image_url"
                        or _string(x.child_by_field_name("value")) in ("image_url", "input_image")
                    ):
                        derived.add("vision")
        derived.discard("")
        return model, expr, features_from_keys(keys, derived)

    # ---- pass 2 -------------------------------------------------------------------------------------
    def emit(self) -> list[Finding]:
        out: list[Finding] = []
        for n in walk(self.root):
            f: Finding | None = None
            if n.type == "new_expression":
                f = self._new(n)
            elif n.type == "call_expression":
                f = self._call(n)
            elif n.type in ("member_expression", "subscript_expression"):
                f = self._env(n)
            if f is not None:
                out.append(f)
        return out

    def _mk(
        self,
        n: ts.Node,
        kind: str,
        sdk: str,
        symbol: str,
        model: str | None = None,
        expr: str | None = None,
        feats: tuple[str, ...] = (),
    ) -> Finding:
        return Finding(
            self.rel, n.start_point[0] + 1, kind, sdk, self.lang, symbol, model, expr, feats, n.start_point[1]
        )

    def _new(self, n: ts.Node) -> Finding | None:
        ctor = n.child_by_field_name("constructor")
        q = self.qual(ctor)
        args = n.child_by_field_name("arguments")
        first = args.named_children[0] if args and args.named_children else None
        if q in _CLIENTS:
            obj = self._object(first)
            keys = set()
            if obj is not None:
                for p in obj.named_children:
                    k = _text(p.child_by_field_name("key")) if p.type == "pair" else _text(p)
                    if k in ("baseURL", "endpoint", "apiVersion"):
                        keys.add({"baseURL": "base_url", "endpoint": "azure_endpoint"}.get(k, "api_version"))
            return self._mk(n, "client", "openai-node", q, feats=tuple(sorted(set(_CLIENTS[q]) | keys)))
        if q and q.rsplit(".", 1)[0] in _LC_SOURCES and q.rsplit(".", 1)[1] in _LC:
            kind, extra = _LC[q.rsplit(".", 1)[1]]
            model, expr, feats = self._obj_info(first, extra=set(extra))
            return self._mk(n, kind, "langchain-js", q, model, expr, feats)
        return None

    def _call(self, n: ts.Node) -> Finding | None:
        fn = n.child_by_field_name("function")
        args = n.child_by_field_name("arguments")
        argv = args.named_children if args else []
        if fn is None:
            return None
        if fn.type == "member_expression":
            path: list[str] = []
            node: ts.Node | None = fn
            while node is not None and node.type == "member_expression":
                path.insert(0, _text(node.child_by_field_name("property")))
                node = node.child_by_field_name("object")
                if self.is_client(node):
                    kind = kind_for_path(path)
                    if kind:
                        extra = {"stream"} if path[-1] == "stream" else set()
                        model, expr, feats = self._obj_info(argv[0] if argv else None, ("model",), extra)
                        return self._mk(n, kind, "openai-node", _text(fn)[:120], model, expr, feats)
                    return None
        name = _text(fn)
        if name == "fetch" or name.startswith("axios"):
            url = self.resolve(argv[0]) if argv else None
            kind = kind_for_url(url) if url else None
            if kind is None or url is None:
                return None
            body: ts.Node | None = None
            if name == "fetch" and len(argv) > 1:
                init = self._object(argv[1])
                for p in init.named_children if init is not None else []:
                    if p.type == "pair" and _text(p.child_by_field_name("key")) == "body":
                        v = p.child_by_field_name("value")
                        if (
                            v is not None
                            and v.type == "call_expression"
                            and _text(v.child_by_field_name("function")) == "JSON.stringify"
                        ):
                            a = v.child_by_field_name("arguments")
                            body = a.named_children[0] if a and a.named_children else None
            elif len(argv) > 1:
                body = argv[1]
            model, expr, feats = self._obj_info(body, ("model",))
            return self._mk(n, kind, "fetch" if name == "fetch" else "axios", url, model, expr, feats)
        return None

    def _env(self, n: ts.Node) -> Finding | None:
        obj = n.child_by_field_name("object")
        if _text(obj) != "process.env":
            return None
        if n.type == "member_expression":
            key = _text(n.child_by_field_name("property"))
        else:
            key = _string(n.child_by_field_name("index")) or ""
        if key.startswith(_ENV_PREFIXES):
            return self._mk(n, "config", "environment", key)
        return None


def scan_js(rel: str, source: bytes) -> FileResult:
    lang = language_for(rel) or "javascript"
    tree = parse_js(source, lang)
    res = FileResult()
    f = _File(rel, tree, lang)
    f.collect()
    res.findings.extend(f.emit())
    if tree.root_node.has_error:
        from ._model import ScanIssue

        first = next((x for x in walk(tree.root_node) if x.type == "ERROR" or x.is_missing), None)
        line = first.start_point[0] + 1 if first is not None else None
        res.issues.append(ScanIssue(rel, "JS/TS syntax error (findings from the parsable parts kept)", line))
    return res
