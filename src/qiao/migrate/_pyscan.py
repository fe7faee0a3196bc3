"""Python scanner: ``ast`` only, never imports or runs the code it reads.

Three passes over the project. (1) Parse every module and record its imports, string constants,
functions and classes. (2) A fixpoint propagates "this value is an OpenAI client" through assignments,
``self.attr``s, return values and arguments of calls to functions defined anywhere in the project (so a
client passed through ``ask(client, q)`` or ``Service(client)`` is still known inside). (3) Emit a
:class:`Finding` for every client construction, API call, wrapper class, raw HTTP call and setting.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from ._model import (
    V0_CLASSES,
    FileResult,
    Finding,
    ScanIssue,
    features_from_keys,
    kind_for_path,
    kind_for_url,
)
from ._pymodule import (
    _CHILD_FIELDS,
    _INTERESTING_TYPES,
    Module,
    Scope,
    _child_fields,
    _module_name,
    _params,
    _symbol,
)

__all__ = ["PythonProject"]

CLIENT_CLASSES: dict[str, tuple[str, ...]] = {
    "openai.OpenAI": (),
    "openai.Client": (),
    "openai.AsyncOpenAI": ("async",),
    "openai.AsyncClient": ("async",),
    "openai.AzureOpenAI": ("azure",),
    "openai.AsyncAzureOpenAI": ("async", "azure"),
}
_LC_ROOTS = ("langchain", "langchain_openai", "langchain_community")
_LC_CLASSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ChatOpenAI": ("chat", ()),
    "AzureChatOpenAI": ("chat", ("azure",)),
    "OpenAIEmbeddings": ("embeddings", ()),
    "AzureOpenAIEmbeddings": ("embeddings", ("azure",)),
    "OpenAI": ("completions", ()),
    "AzureOpenAI": ("completions", ("azure",)),
}
_LI_CLASSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "OpenAI": ("chat", ()),
    "AzureOpenAI": ("chat", ("azure",)),
    "OpenAIEmbedding": ("embeddings", ()),
    "AzureOpenAIEmbedding": ("embeddings", ("azure",)),
}
_HTTP_LIBS = ("requests", "httpx", "aiohttp", "urllib")
_HTTP_METHODS = frozenset({"post", "get", "put", "request", "stream", "urlopen", "Request"})
_MODULE_SETTINGS = frozenset({"api_key", "api_base", "base_url", "api_type", "api_version", "organization"})
_ENV_PREFIXES = ("OPENAI_", "AZURE_OPENAI_")
_MODEL_KWS = ("model", "model_name", "engine", "deployment_id", "azure_deployment", "deployment_name")
# v1 resource paths distinctive enough to report on a receiver we could not resolve, in a module
# that imports openai.
_INFERRED = (("chat", "completions"), ("beta",), ("embeddings",), ("fine_tuning",), ("responses",))


class PythonProject:
    """Collects modules, then analyses them together (clients cross module boundaries)."""

    def __init__(self) -> None:
        self.modules: list[Module] = []
        self.issues: list[ScanIssue] = []
        self.constants: dict[str, str] = {}  # "pkg.mod.NAME" → value
        self.marks: dict[str, set[int | str]] = {}  # function key → client parameter positions/names
        self.returns_client: set[str] = set()
        self.class_attrs: dict[str, set[str]] = {}
        self.class_names: set[str] = set()
        self._annot_cache: dict[int, bool] = {}
        # module name → source (or the file holding it), parsed only if a constant is needed
        self.deferred: dict[str, str | Path] = {}

    def defer(self, rel: str, source: str | Path) -> None:
        """A module that cannot hold a finding: kept as text (not parsed: parsing is most of a scan's
        time), parsed only if another module imports a constant from it."""
        name = _module_name(rel)
        for n in {name, name.removeprefix("src.")}:
            self.deferred[n] = source

    def constant(self, qualified: str) -> str | None:
        if qualified in self.constants:
            return self.constants[qualified]
        modname = qualified.rpartition(".")[0]
        source = self.deferred.pop(modname, None)
        if isinstance(source, Path):  # a worker process: the scan's main process read it first
            try:
                source = source.read_bytes().decode("utf-8")
            except (OSError, UnicodeDecodeError):
                source = None
        if source is not None:
            try:
                tree = ast.parse(source)
            except (SyntaxError, ValueError):
                return None
            mod = Module(modname.replace(".", "/") + ".py", modname, tree)
            for stmt in tree.body:
                self._constants(stmt, mod, "")
        return self.constants.get(qualified)

    # ---- pass 1 -------------------------------------------------------------------------------------
    def add(self, rel: str, source: str) -> None:
        try:
            tree = ast.parse(source, filename=rel)
        except (SyntaxError, ValueError) as exc:
            line = exc.lineno if isinstance(exc, SyntaxError) else None
            self.issues.append(ScanIssue(rel, f"Python syntax error: {exc}", line))
            return
        mod = Module(rel, _module_name(rel), tree)
        self._collect(mod)
        self.modules.append(mod)

    def _collect(self, mod: Module) -> None:
        """One walk over the module: imports, classes, scopes and each scope's interesting nodes.

        Hand-written pre-order traversal in source order (as before): node kinds are
        dispatched on ``type`` and children are read through a per-class table of the fields that can
        hold nodes, which is several times faster than ``ast.iter_child_nodes`` and ``isinstance``."""
        pkg = mod.name.split(".")
        if not mod.rel.endswith("__init__.py"):
            pkg = pkg[:-1]
        top = Scope(mod.tree, mod, None, name="<module>", _nodes=[])
        mod.scopes.append(top)
        imports = mod.imports
        interesting = _INTERESTING_TYPES
        fields_of = _CHILD_FIELDS
        AST = ast.AST
        stack: list[tuple[ast.AST, Scope, str | None]] = [(c, top, None) for c in reversed(mod.tree.body)]
        pop, push = stack.pop, stack.append
        while stack:
            node, scope, cls = pop()
            t = type(node)
            if t in interesting:
                if t is ast.Import:
                    for a in node.names:  # type: ignore[attr-defined]
                        if a.asname:
                            imports[a.asname] = a.name
                        else:
                            root = a.name.split(".")[0]
                            imports[root] = root
                    continue
                if t is ast.ImportFrom:
                    base = node.module or ""  # type: ignore[attr-defined]
                    level = node.level  # type: ignore[attr-defined]
                    if level:
                        up = pkg[: len(pkg) - (level - 1)] if level > 1 else pkg
                        base = ".".join([*up, base] if base else up)
                    for a in node.names:  # type: ignore[attr-defined]
                        imports[a.asname or a.name] = f"{base}.{a.name}" if base else a.name
                    continue
                if t is ast.FunctionDef or t is ast.AsyncFunctionDef:
                    inner = Scope(node, mod, scope, cls=cls, name=node.name, _nodes=[])  # type: ignore[attr-defined]
                    mod.scopes.append(inner)
                    scope, cls = inner, None
                else:
                    scope.nodes.append(node)
                    if t is ast.ClassDef:
                        mod.classes.add(node.name)  # type: ignore[attr-defined]
                        self.class_names.add(node.name)  # type: ignore[attr-defined]
                        cls = node.name  # type: ignore[attr-defined]
            fields = fields_of.get(t)
            if fields is None:
                fields = fields_of[t] = _child_fields(node)
            for name, many in fields:
                v = getattr(node, name)
                if many:  # a list of nodes (``None`` stands for a missing one: ``{**x}``'s key)
                    for c in reversed(v):
                        if c is not None:
                            push((c, scope, cls))
                elif isinstance(v, AST):
                    push((v, scope, cls))
        for stmt in mod.tree.body:
            self._constants(stmt, mod, "")

    def _constants(self, stmt: ast.stmt, mod: Module, prefix: str) -> None:
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            val = stmt.value
            if (
                isinstance(val, ast.Call)
                and self.qual(val.func, mod) in ("os.getenv", "os.environ.get")
                and len(val.args) >= 2
            ):
                val = val.args[1]
            if isinstance(val, ast.Constant) and isinstance(val.value, str):
                for t in targets:
                    if isinstance(t, ast.Name):
                        mod.constants[prefix + t.id] = val.value
                        for name in {mod.name, mod.name.removeprefix("src.")}:
                            self.constants[f"{name}.{prefix}{t.id}"] = val.value
        elif isinstance(stmt, ast.ClassDef) and not prefix:
            for s in stmt.body:
                self._constants(s, mod, stmt.name + ".")

    # ---- expression helpers -------------------------------------------------------------------------
    @staticmethod
    def qual(expr: ast.expr, mod: Module) -> str | None:
        if isinstance(expr, ast.Name):
            return mod.imports.get(expr.id)
        if isinstance(expr, ast.Attribute):
            base = PythonProject.qual(expr.value, mod)
            return f"{base}.{expr.attr}" if base else None
        return None

    def is_client(self, expr: ast.expr, scope: Scope) -> bool:
        if isinstance(expr, ast.Await):
            return self.is_client(expr.value, scope)
        if isinstance(expr, ast.Call):
            q = self.qual(expr.func, scope.module)
            if q in CLIENT_CLASSES:
                return True
            f = expr.func
            if isinstance(f, ast.Attribute) and f.attr in ("with_options", "copy"):
                return self.is_client(f.value, scope)
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            return name is not None and name in self.returns_client
        if isinstance(expr, ast.Name):
            return scope.lookup_client(expr.id)
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            owner = scope.cls if expr.value.id in ("self", "cls") else expr.value.id
            return owner is not None and expr.attr in self.class_attrs.get(owner, set())
        return False

    def _annot_is_client(self, ann: ast.expr | None, mod: Module) -> bool:
        if ann is None:
            return False
        key = id(ann)
        if key not in self._annot_cache:
            self._annot_cache[key] = self._annot_check(ann, mod)
        return self._annot_cache[key]

    def _annot_check(self, ann: ast.expr, mod: Module) -> bool:
        if not any(q.startswith("openai") for q in mod.imports.values()):
            return False
        if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
            try:
                ann = ast.parse(ann.value, mode="eval").body
            except SyntaxError:
                return False
        for n in ast.walk(ann):
            if isinstance(n, ast.Name | ast.Attribute) and self.qual(n, mod) in CLIENT_CLASSES:
                return True
        return False

    def http_lib(self, expr: ast.expr, scope: Scope) -> str | None:
        if isinstance(expr, ast.Await):
            return self.http_lib(expr.value, scope)
        if isinstance(expr, ast.Call):
            q = self.qual(expr.func, scope.module)
            root = q.split(".")[0] if q else None
            return root if root in _HTTP_LIBS else None
        if isinstance(expr, ast.Name):
            return scope.lookup_http(expr.id)
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self":
            return scope.lookup_http("self." + expr.attr)
        return None

    # ---- pass 2 -------------------------------------------------------------------------------------
    def _fn_key(self, scope: Scope) -> str:
        if scope.cls and scope.name == "__init__":
            return f"{scope.cls}.__init__"
        return scope.name

    def _bind(self, target: ast.expr, value: ast.expr, scope: Scope) -> None:
        if self.is_client(value, scope):
            if isinstance(target, ast.Name):
                scope.clients.add(target.id)
            elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                owner = scope.cls if target.value.id in ("self", "cls") else None
                if owner:
                    self.class_attrs.setdefault(owner, set()).add(target.attr)
        lib = self.http_lib(value, scope)
        if lib:
            if isinstance(target, ast.Name):
                scope.http[target.id] = lib
            elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                scope.http[f"{target.value.id}.{target.attr}"] = lib
        if isinstance(target, ast.Name):
            if (
                isinstance(value, ast.Call)
                and self.qual(value.func, scope.module) == "json.dumps"
                and value.args
            ):
                value = value.args[0]
            if isinstance(value, ast.Dict):
                scope.dicts[target.id] = value
            s = self.resolve_str(value, scope)
            if s is not None and isinstance(value, ast.Constant | ast.Call | ast.BoolOp | ast.JoinedStr):
                scope.strings.setdefault(target.id, s)

    def _scope_pass(self, scope: Scope) -> None:
        node = scope.node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = scope.params is None
            if scope.params is None:  # what does not change from one pass to the next, worked out once
                scope.params = [
                    (p.arg, self._annot_is_client(p.annotation, scope.module))
                    for p in _params(node, scope.cls is not None)
                ]
            marks = self.marks.get(self._fn_key(scope), ())
            for i, (arg, typed) in enumerate(scope.params):
                if typed or i in marks or arg in marks:
                    scope.clients.add(arg)
            if not first:
                self._scope_nodes(scope)
                return
            defaults = node.args.defaults
            positional = [*node.args.posonlyargs, *node.args.args]
            for p, d in zip(positional[len(positional) - len(defaults) :], defaults, strict=True):
                if isinstance(d, ast.Constant) and isinstance(d.value, str):
                    scope.strings[p.arg] = d.value
            for p, kd in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True):
                if isinstance(kd, ast.Constant) and isinstance(kd.value, str):
                    scope.strings[p.arg] = kd.value
        self._scope_nodes(scope)

    def _scope_nodes(self, scope: Scope) -> None:
        for n in scope.nodes:  # calls first: most of the nodes
            if isinstance(n, ast.Call):
                if n.args or n.keywords:
                    self._mark_call(n, scope)
            elif isinstance(n, ast.Assign):
                for t in n.targets:
                    self._bind(t, n.value, scope)
            elif isinstance(n, ast.AnnAssign) and n.value is not None:
                self._bind(n.target, n.value, scope)
                if self._annot_is_client(n.annotation, scope.module) and isinstance(n.target, ast.Name):
                    scope.clients.add(n.target.id)
            elif isinstance(n, ast.withitem) and n.optional_vars is not None:
                self._bind(n.optional_vars, n.context_expr, scope)
            elif isinstance(n, ast.Return) and n.value is not None and self.is_client(n.value, scope):
                self.returns_client.add(scope.name)
            elif isinstance(n, ast.ClassDef):
                for s in n.body:
                    if isinstance(s, ast.Assign) and self.is_client(s.value, scope):
                        for t in s.targets:
                            if isinstance(t, ast.Name):
                                self.class_attrs.setdefault(n.name, set()).add(t.id)

    def _mark_call(self, call: ast.Call, scope: Scope) -> None:
        hits: list[int | str] = [i for i, a in enumerate(call.args) if self.is_client(a, scope)]
        hits += [k.arg for k in call.keywords if k.arg and self.is_client(k.value, scope)]
        if not hits:
            return
        f = call.func
        if isinstance(f, ast.Name):
            key = f"{f.id}.__init__" if f.id in self.class_names else f.id
        elif isinstance(f, ast.Attribute):
            key = f"{f.attr}.__init__" if f.attr in self.class_names else f.attr
        else:
            return
        self.marks.setdefault(key, set()).update(hits)

    def _state(self) -> tuple[int, int, int, int]:
        return (
            self.local_state(),
            sum(len(v) for v in self.marks.values()),
            len(self.returns_client),
            sum(len(v) for v in self.class_attrs.values()),
        )

    def analyse(self) -> None:
        for _ in range(10):
            before = self._state()
            self.analyse_once()
            if self._state() == before:
                break

    def analyse_once(self) -> None:
        """One pass of the fixpoint over every module (in the order they were added)."""
        for mod in self.modules:
            for scope in mod.scopes:
                self._scope_pass(scope)

    def local_state(self) -> int:
        """How much the fixpoint has learnt inside this project's own scopes (it only grows)."""
        return sum(len(s.clients) + len(s.http) for m in self.modules for s in m.scopes)

    def module_constants(self, mod: Module) -> dict[str, str]:
        """What adding ``mod`` wrote into :attr:`constants` (a worker sends it to be merged)."""
        names = {mod.name, mod.name.removeprefix("src.")}
        return {f"{n}.{k}": v for k, v in mod.constants.items() for n in names}

    # ---- value resolution ---------------------------------------------------------------------------
    def resolve_str(self, expr: ast.expr | None, scope: Scope) -> str | None:
        if expr is None:
            return None
        if isinstance(expr, ast.Constant):
            return expr.value if isinstance(expr.value, str) else None
        if isinstance(expr, ast.Name):
            local = scope.lookup_string(expr.id)
            if local is not None:
                return local
            if expr.id in scope.module.constants:
                return scope.module.constants[expr.id]
            q = scope.module.imports.get(expr.id)
            return self.constant(q) if q else None
        if isinstance(expr, ast.Attribute):
            if isinstance(expr.value, ast.Name):
                owner = scope.cls if expr.value.id in ("self", "cls") else expr.value.id
                c = scope.module.constants.get(f"{owner}.{expr.attr}")
                if c is not None:
                    return c
            q = self.qual(expr, scope.module)
            return self.constant(q) if q else None
        if isinstance(expr, ast.Call):
            q = self.qual(expr.func, scope.module)
            if q in ("os.getenv", "os.environ.get") and len(expr.args) >= 2:
                return self.resolve_str(expr.args[1], scope)
            return None
        if isinstance(expr, ast.BoolOp) and isinstance(expr.op, ast.Or):
            return self.resolve_str(expr.values[-1], scope)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            left, right = self.resolve_str(expr.left, scope), self.resolve_str(expr.right, scope)
            return left + right if left is not None and right is not None else None
        if isinstance(expr, ast.JoinedStr):
            out = []
            for v in expr.values:
                if isinstance(v, ast.FormattedValue):
                    s = self.resolve_str(v.value, scope)
                    out.append(s if s is not None else "{…}")
                else:
                    out.append(self.resolve_str(v, scope) or "")
            return "".join(out)
        return None

    # ---- pass 3 -------------------------------------------------------------------------------------
    def findings(self) -> Iterator[tuple[str, FileResult]]:
        for mod in self.modules:
            res = FileResult()
            for scope in mod.scopes:
                for n in scope.nodes:
                    if isinstance(n, ast.Call):
                        f = self._call(n, scope)
                        if f:
                            res.findings.append(f)
                        env = self._env_read(n, scope)
                        if env:
                            res.findings.append(env)
                    elif isinstance(n, ast.Subscript):
                        env = self._env_read(n, scope)
                        if env:
                            res.findings.append(env)
                    elif isinstance(n, ast.Assign):
                        for t in n.targets:
                            q = self.qual(t, mod) if isinstance(t, ast.Attribute) else None
                            if q and q.startswith("openai.") and q.split(".", 1)[1] in _MODULE_SETTINGS:
                                res.findings.append(self._mk(mod, n, "config", "openai-python v0", q))
            yield mod.rel, res

    def _mk(
        self,
        mod: Module,
        node: ast.expr | ast.stmt,
        kind: str,
        sdk: str,
        symbol: str,
        model: str | None = None,
        model_expr: str | None = None,
        features: tuple[str, ...] = (),
    ) -> Finding:
        return Finding(
            mod.rel, node.lineno, kind, sdk, "python", symbol, model, model_expr, features, node.col_offset
        )

    def _env_read(self, n: ast.Call | ast.Subscript, scope: Scope) -> Finding | None:
        mod = scope.module
        if isinstance(n, ast.Call):
            q = self.qual(n.func, mod)
            if q not in ("os.getenv", "os.environ.get") or not n.args:
                return None
            key = n.args[0]
        else:
            if self.qual(n.value, mod) != "os.environ" or not isinstance(n.ctx, ast.Load):
                return None
            key = n.slice
        if (
            isinstance(key, ast.Constant)
            and isinstance(key.value, str)
            and key.value.startswith(_ENV_PREFIXES)
        ):
            return self._mk(mod, n, "config", "environment", key.value)
        return None

    def _model_and_features(
        self, call: ast.Call, scope: Scope, kws: tuple[str, ...] = _MODEL_KWS, extra: set[str] | None = None
    ) -> tuple[str | None, str | None, tuple[str, ...]]:
        model: str | None = None
        expr: str | None = None
        keys: list[str] = []
        derived = set(extra or ())
        for k in call.keywords:
            if k.arg is None:
                derived.add("kwargs")
                continue
            if k.arg in kws and model is None and expr is None:
                model = self.resolve_str(k.value, scope)
                expr = None if model is not None else ast.unparse(k.value)
            if isinstance(k.value, ast.Constant) and (k.value.value is False or k.value.value is None):
                continue
            keys.append(k.arg)
            if k.arg == "response_format":
                derived |= self._response_format(k.value, scope, call)
            if k.arg == "messages":
                derived |= self._vision(k.value, scope)
        return model, expr, features_from_keys(keys, derived)

    def _response_format(self, v: ast.expr, scope: Scope, call: ast.Call) -> set[str]:
        if isinstance(v, ast.Name) and scope.lookup_dict(v.id) is not None:
            v = scope.lookup_dict(v.id)  # type: ignore[assignment]
        if isinstance(v, ast.Dict):
            for k, val in zip(v.keys, v.values, strict=True):
                if isinstance(k, ast.Constant) and k.value == "type":
                    t = self.resolve_str(val, scope)
                    if t == "json_object":
                        return {"json_mode"}
                    if t == "json_schema":
                        return {"json_schema"}
            return set()
        return {"json_schema"}  # a pydantic model or schema object (``.parse``)

    def _vision(self, v: ast.expr, scope: Scope) -> set[str]:
        if isinstance(v, ast.Name):
            found = None
            for n in scope.nodes:
                if isinstance(n, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == v.id for t in n.targets
                ):
                    found = n.value
            if found is None:
                return set()
            v = found
        for n in ast.walk(v):
            if isinstance(n, ast.Dict):
                for k, val in zip(n.keys, n.values, strict=True):
                    if isinstance(k, ast.Constant) and k.value == "image_url":
                        return {"vision"}
                    if (
                        isinstance(k, ast.Constant)
                        and k.value == "type"
                        and isinstance(val, ast.Constant)
                        and val.value in ("image_url", "input_image")
                    ):
                        return {"vision"}
        return set()

    def _call(self, call: ast.Call, scope: Scope) -> Finding | None:
        found = self._call_direct(call, scope)
        if found is not None:
            return found
        for arg in call.args[:1]:  # loop.run_in_executor / to_thread / functools.partial style
            if isinstance(arg, ast.Attribute):
                ref = ast.Call(
                    func=arg, args=[], keywords=call.keywords, lineno=arg.lineno, col_offset=arg.col_offset
                )
                found = self._call_direct(ref, scope)
                if found is not None and found.kind not in ("client", "config"):
                    return found
        return None

    def _call_direct(self, call: ast.Call, scope: Scope) -> Finding | None:
        mod = scope.module
        q = self.qual(call.func, mod)
        if q in CLIENT_CLASSES:
            extra = set(CLIENT_CLASSES[q])
            keys = [k.arg for k in call.keywords if k.arg in ("base_url", "azure_endpoint", "api_version")]
            return self._mk(
                mod, call, "client", "openai-python v1", q, None, None, tuple(sorted(extra | set(keys)))
            )
        if q:
            parts = q.split(".")
            if parts[0] == "openai" and len(parts) == 3 and parts[1] in V0_CLASSES:
                model, expr, feats = self._model_and_features(call, scope)
                return self._mk(mod, call, V0_CLASSES[parts[1]], "openai-python v0", q, model, expr, feats)
            if parts[0] == "openai" and len(parts) > 2:
                kind = kind_for_path(parts[1:])
                if kind:
                    model, expr, feats = self._model_and_features(
                        call, scope, extra=self._method_feats(parts)
                    )
                    return self._mk(
                        mod, call, kind, "openai-python v1 (module client)", q, model, expr, feats
                    )
            wrapper = None
            if parts[0] in _LC_ROOTS:
                wrapper = ("langchain", _LC_CLASSES.get(parts[-1]))
            elif parts[0] == "llama_index" and "openai" in q.lower():
                wrapper = ("llamaindex", _LI_CLASSES.get(parts[-1]))
            if wrapper and wrapper[1]:
                kind, extra_t = wrapper[1]
                model, expr, feats = self._model_and_features(call, scope, extra=set(extra_t))
                return self._mk(mod, call, kind, wrapper[0], q, model, expr, feats)
        f = call.func
        if isinstance(f, ast.Attribute):
            path: list[str] = []
            node: ast.expr = f
            while isinstance(node, ast.Attribute):
                path.insert(0, node.attr)
                node = node.value
                if self.is_client(node, scope):
                    kind = kind_for_path(path)
                    if kind:
                        model, expr, feats = self._model_and_features(
                            call, scope, extra=self._method_feats(path)
                        )
                        return self._mk(
                            mod, call, kind, "openai-python v1", _symbol(call), model, expr, feats
                        )
                    break
            else:
                kind = kind_for_path(path)
                if (
                    kind
                    and mod.imports_openai
                    and not mod.imports_other_sdk
                    and any(tuple(path[: len(p)]) == p for p in _INFERRED)
                    and not (isinstance(node, ast.Name) and node.id in mod.imports)
                ):
                    model, expr, feats = self._model_and_features(call, scope, extra=self._method_feats(path))
                    return self._mk(
                        mod,
                        call,
                        kind,
                        "openai-python v1 (inferred receiver)",
                        _symbol(call),
                        model,
                        expr,
                        feats,
                    )
        return self._http(call, scope, q)

    @staticmethod
    def _method_feats(path: list[str]) -> set[str]:
        return {"stream"} if path and path[-1] == "stream" else set()

    def _http(self, call: ast.Call, scope: Scope, q: str | None) -> Finding | None:
        f = call.func
        meth = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        if meth not in _HTTP_METHODS:
            return None
        url_expr: ast.expr | None = next((k.value for k in call.keywords if k.arg == "url"), None)
        if url_expr is None and call.args:
            first = call.args[0]
            is_method = isinstance(first, ast.Constant) and str(first.value).upper() in ("GET", "POST", "PUT")
            url_expr = call.args[1] if is_method and len(call.args) > 1 else first
        url = self.resolve_str(url_expr, scope)
        kind = kind_for_url(url) if url else None
        if kind is None:
            return None
        lib = q.split(".")[0] if q and q.split(".")[0] in _HTTP_LIBS else None
        if lib is None and isinstance(f, ast.Attribute):
            lib = self.http_lib(f.value, scope)
        if lib is None:
            roots = {v.split(".")[0] for v in scope.module.imports.values()}
            lib = next((x for x in _HTTP_LIBS if x in roots), "http")
        body: ast.expr | None = None
        for k in call.keywords:
            if k.arg in ("json", "data", "content"):
                body = k.value
        if isinstance(body, ast.Call) and self.qual(body.func, scope.module) == "json.dumps" and body.args:
            body = body.args[0]
        if isinstance(body, ast.Name):
            body = scope.lookup_dict(body.id)
        model: str | None = None
        expr: str | None = None
        feats: tuple[str, ...] = ()
        if isinstance(body, ast.Dict):
            keys: list[str] = []
            derived: set[str] = set()
            for dk, v in zip(body.keys, body.values, strict=True):
                if not (isinstance(dk, ast.Constant) and isinstance(dk.value, str)):
                    continue
                if dk.value == "model":
                    model = self.resolve_str(v, scope)
                    expr = None if model is not None else ast.unparse(v)
                elif not (isinstance(v, ast.Constant) and (v.value is False or v.value is None)):
                    keys.append(str(dk.value))
                if dk.value == "response_format":
                    derived |= self._response_format(v, scope, call)
                if dk.value == "messages":
                    derived |= self._vision(v, scope)
            feats = features_from_keys(keys, derived)
        return self._mk(scope.module, call, kind, lib, url or _symbol(call), model, expr, feats)
