"""What a scan finds, shared by the Python, JS/TS and configuration scanners.

The tables here describe OpenAI's API surface (resource paths, v0 classes, request parameters), not any
provider: which provider can serve what is read from the catalogue by :mod:`qiao.migrate.plan`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FEATURE_KEYS",
    "KINDS",
    "OPENAI_HOSTS",
    "V0_CLASSES",
    "FileResult",
    "Finding",
    "ScanIssue",
    "features_from_keys",
    "kind_for_path",
    "kind_for_url",
]

KINDS = (
    "chat",
    "completions",
    "embeddings",
    "images",
    "audio",
    "moderations",
    "assistants",
    "responses",
    "fine_tuning",
    "batch",
    "files",
    "realtime",
    "client",
    "config",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One use of OpenAI's API. ``model`` is the literal or resolved value; when it cannot be resolved it
    is None and ``model_expr`` shows the source expression."""

    path: str
    line: int
    kind: str
    sdk: str
    language: str
    symbol: str
    model: str | None = None
    model_expr: str | None = None
    features: tuple[str, ...] = ()
    column: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "language": self.language,
            "kind": self.kind,
            "sdk": self.sdk,
            "symbol": self.symbol,
            "model": self.model,
            "model_expr": self.model_expr,
            "features": list(self.features),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        return cls(
            path=str(d["path"]),
            line=int(d["line"]),
            kind=str(d["kind"]),
            sdk=str(d.get("sdk", "")),
            language=str(d.get("language", "")),
            symbol=str(d.get("symbol", "")),
            model=d.get("model"),
            model_expr=d.get("model_expr"),
            features=tuple(d.get("features", ())),
            column=int(d.get("column", 0)),
        )


@dataclass(frozen=True, slots=True)
class ScanIssue:
    """A file the scan could not read or parse (reported, never fatal)."""

    path: str
    reason: str
    line: int | None = None


@dataclass(slots=True)
class FileResult:
    findings: list[Finding] = field(default_factory=list)
    issues: list[ScanIssue] = field(default_factory=list)


# v1 resource paths (after the client), longest prefix first. The final method is not part of the key:
# any method under these resources is a use of that kind.
_RESOURCES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("beta", "chat", "completions"), "chat"),
    (("chat", "completions"), "chat"),
    (("beta", "assistants"), "assistants"),
    (("beta", "threads"), "assistants"),
    (("beta", "vector_stores"), "assistants"),
    (("vector_stores",), "assistants"),
    (("beta", "realtime"), "realtime"),
    (("realtime",), "realtime"),
    (("fine_tuning",), "fine_tuning"),
    (("fine_tunes",), "fine_tuning"),
    (("completions",), "completions"),
    (("embeddings",), "embeddings"),
    (("images",), "images"),
    (("audio",), "audio"),
    (("moderations",), "moderations"),
    (("responses",), "responses"),
    (("batches",), "batch"),
    (("files",), "files"),
    (("uploads",), "files"),
)

# Wrappers that return the same resource tree (``client.with_options(...).chat...``).
_TRANSPARENT = frozenset({"with_raw_response", "with_streaming_response"})

V0_CLASSES: dict[str, str] = {
    "ChatCompletion": "chat",
    "Completion": "completions",
    "Embedding": "embeddings",
    "Image": "images",
    "Audio": "audio",
    "Moderation": "moderations",
    "FineTune": "fine_tuning",
    "FineTuningJob": "fine_tuning",
    "File": "files",
    "Engine": "completions",
    "Model": "completions",
}


def kind_for_path(path: list[str]) -> str | None:
    """``["chat", "completions", "create"]`` → ``chat``. The path must end in a method below a resource."""
    key = tuple(path)
    try:
        return _KIND_CACHE[key]
    except KeyError:
        pass
    kind = _KIND_CACHE[key] = _kind_for_path(path)
    return kind


_KIND_CACHE: dict[tuple[str, ...], str | None] = {}  # a scan asks for the same few paths again and again


def _kind_for_path(path: list[str]) -> str | None:
    parts = [p for p in path if p not in _TRANSPARENT]
    for prefix, kind in _RESOURCES:
        n = len(prefix)
        if len(parts) > n and tuple(parts[:n]) == prefix:
            return kind
    return None


_URL_KINDS: tuple[tuple[str, str], ...] = (
    ("/chat/completions", "chat"),
    ("/completions", "completions"),
    ("/embeddings", "embeddings"),
    ("/images/", "images"),
    ("/audio/", "audio"),
    ("/moderations", "moderations"),
    ("/assistants", "assistants"),
    ("/threads", "assistants"),
    ("/vector_stores", "assistants"),
    ("/responses", "responses"),
    ("/fine_tuning", "fine_tuning"),
    ("/fine-tunes", "fine_tuning"),
    ("/batches", "batch"),
    ("/files", "files"),
    ("/uploads", "files"),
    ("/realtime", "realtime"),
)

OPENAI_HOSTS = ("api.openai.com", ".openai.azure.com")


def kind_for_url(url: str) -> str | None:
    """The kind of a raw HTTP call, or None when the URL is not OpenAI's API."""
    if not any(h in url for h in OPENAI_HOSTS):
        return None
    for part, kind in _URL_KINDS:
        if part in url:
            return kind
    return "client"


# Request parameters worth reporting (they decide which provider can serve a call). Values are the
# feature names reported; ``function_call``/``functions`` both report ``functions``.
FEATURE_KEYS: dict[str, str] = {
    "stream": "stream",
    "streaming": "stream",
    "stream_options": "stream_options",
    "tools": "tools",
    "tool_choice": "tool_choice",
    "parallel_tool_calls": "parallel_tool_calls",
    "functions": "functions",
    "function_call": "functions",
    "response_format": "response_format",
    "logprobs": "logprobs",
    "top_logprobs": "logprobs",
    "n": "n",
    "seed": "seed",
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "maxTokens": "max_tokens",
    "stop": "stop",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "logit_bias": "logit_bias",
    "user": "user",
    "reasoning_effort": "reasoning",
    "reasoning": "reasoning",
    "dimensions": "dimensions",
    "modalities": "audio",
}


def features_from_keys(keys: list[str], extra: set[str] | None = None) -> tuple[str, ...]:
    out = {FEATURE_KEYS[k] for k in keys if k in FEATURE_KEYS}
    if extra:
        out |= extra
    return tuple(sorted(out))
