"""The answer engine shared by every provider emulator.

A vendor emulator translates its native request into a :class:`GenRequest`, calls :func:`generate`, and
renders the :class:`GenChoice` list in its native shape. Behaviour (deterministic for the same input):

* text answers echo the last user message and go on with plausible filler (Chinese if the prompt is);
* ``max_tokens`` cuts the answer (finish ``length``), stop sequences cut before the match (``stop``);
* ``n`` gives n different choices;
* tools offered → a tool call whose arguments satisfy the tool's JSON schema: always for a forced
  ``tool_choice`` (``required`` or a named function), for ``auto`` when the last message is the user's and
  mentions the tool (by name or description words); after a tool result, a text answer citing it;
* JSON mode → valid JSON (``json_object``), or JSON conforming to the given schema (``json_schema``);
* reasoning models → a short reasoning text besides the answer;
* embeddings → unit vectors of the model's dimension, deterministic per input.

Fault scenarios are picked without changing the model name: a ``[[emulate:NAME]]`` marker anywhere in the
prompt, an ``X-Emulator-Scenario: NAME`` request header, or the emulator's ``--scenario`` default.
Names: ``rate_limited``, ``bad_key``, ``filtered``, ``filtered_midway``, ``server_error``, ``overloaded``,
``insufficient_quota``, ``slow_first_byte[=SECONDS]``, ``cut_stream``, ``hang``.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from ..tokens import quick

__all__ = [
    "SCENARIOS",
    "GenChoice",
    "GenRequest",
    "ToolDef",
    "count_tokens",
    "detect_scenario",
    "embed",
    "generate",
    "schema_instance",
    "split_for_stream",
]

SCENARIOS = frozenset(
    {
        "rate_limited",
        "bad_key",
        "filtered",
        "filtered_midway",
        "server_error",
        "overloaded",
        "insufficient_quota",
        "slow_first_byte",
        "cut_stream",
        "hang",
    }
)
_MARKER = re.compile(r"\[\[emulate:([a-z_]+)(?:=([0-9.]+))?\]\]")


def count_tokens(text: str) -> int:
    """Emulators count with the quick estimator: consistent, fast, no vocabulary to load."""
    return quick(text)


@dataclass(frozen=True, slots=True)
class ToolDef:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class GenRequest:
    messages: list[tuple[str, str]]
    """(role, text) pairs; roles in OpenAI's vocabulary (system/user/assistant/tool)."""
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    n: int = 1
    tools: list[ToolDef] = field(default_factory=list)
    tool_choice: str | None = None
    """None/"auto", "none", "required", or a function name (forced)."""
    json_mode: bool = False
    json_schema: dict[str, Any] | None = None
    reasoning: bool = False
    seed: int | None = None
    images: int = 0
    parallel_tools: bool = False

    @property
    def prompt_tokens(self) -> int:
        return 3 + sum(3 + count_tokens(t) for _, t in self.messages)

    def last(self, role: str | None = None) -> tuple[str, str]:
        for r, t in reversed(self.messages):
            if role is None or r == role:
                return r, t
        return ("user", "")


@dataclass(slots=True)
class GenChoice:
    text: str
    finish: str  # stop | length | tool_calls
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments JSON)
    reasoning: str | None = None

    @property
    def completion_tokens(self) -> int:
        n = count_tokens(self.text) + count_tokens(self.reasoning or "")
        for name, args in self.tool_calls:
            n += count_tokens(name) + count_tokens(args) + 3
        return n


def detect_scenario(texts: list[str], header: str | None, default: str | None) -> tuple[str | None, float]:
    """The fault scenario asked for, and its numeric argument (seconds) if any."""
    for t in texts:
        if "[[emulate:" in t:
            m = _MARKER.search(t)
            if m and m.group(1) in SCENARIOS:
                return m.group(1), float(m.group(2) or 0)
    for raw in (header, default):
        if raw:
            name, _, arg = raw.partition("=")
            if name in SCENARIOS:
                return name, float(arg or 0)
    return None, 0.0


_CJK = re.compile(r"[\u4e00-\u9fff]")
_EN_FILLER = (
    "Here is a concise answer based on what you asked.",
    "The key point is to keep the interface stable while the backend changes.",
    "In practice, teams measure latency, cost and quality before they switch.",
    "Let me know if you would like more detail on any step.",
    "This reply comes from a deterministic emulator, so it is the same every time.",
    "A careful migration moves one call site at a time and compares the answers.",
)
_ZH_FILLER = (
    "这是根据您的问题给出的简要回答。",
    "关键在于保持接口稳定，同时更换底层服务。",
    "实际迁移时，团队通常会先比较延迟、成本和回答质量。",
    "如需了解某个步骤的更多细节，请告诉我。",
    "这是一个确定性的模拟器回复，每次结果都相同。",
    "稳妥的迁移方式是逐个调用点切换并对比答案。",
)


def _rng(*parts: object) -> random.Random:
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(h[:8], "big"))


def _truncate_tokens(text: str, limit: int) -> str:
    """Cut ``text`` so that :func:`count_tokens` of the result is at most ``limit``."""
    if count_tokens(text) <= limit:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def _base_text(req: GenRequest, index: int) -> str:
    role, last = req.last()
    zh = bool(_CJK.search(last))
    rng = _rng(last, index, req.seed)
    if role == "tool":
        head = f"根据工具返回的结果：{last}。" if zh else f"According to the tool result: {last}."
    else:
        snippet = last.strip().replace("\n", " ")
        if len(snippet) > 200:
            snippet = snippet[:200] + "…"
        if req.images:
            head = f"我看到了{req.images}张图片。" if zh else f"I can see {req.images} image(s). "
        else:
            head = ""
        head += f"您说：{snippet}。" if zh else f"You said: {snippet}. "
    pool = _ZH_FILLER if zh else _EN_FILLER
    picks = [pool[rng.randrange(len(pool))] for _ in range(2 + index % 2)]
    sep = "" if zh else " "
    return head + sep.join(picks)


def _cut(text: str, req: GenRequest) -> tuple[str, str]:
    finish = "stop"
    for s in req.stop:
        if s and s in text:
            text = text[: text.index(s)]
    if req.max_tokens is not None and count_tokens(text) > req.max_tokens:
        text = _truncate_tokens(text, req.max_tokens)
        finish = "length"
    return text, finish


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]{3,}|[\u4e00-\u9fff]{2}", text)}


def _pick_tools(req: GenRequest) -> list[ToolDef]:
    if not req.tools or req.tool_choice == "none":
        return []
    if req.tool_choice not in (None, "auto", "required"):
        return [t for t in req.tools if t.name == req.tool_choice][:1]
    role, last = req.last()
    if req.tool_choice != "required" and role != "user":
        return []
    text = last.lower()
    scored: list[tuple[int, int, ToolDef]] = []
    for i, t in enumerate(req.tools):
        score = 5 if t.name.lower() in text or t.name.lower().replace("_", " ") in text else 0
        score += len(_words(t.name.replace("_", " ") + " " + t.description) & _words(last))
        scored.append((score, -i, t))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    if req.tool_choice == "required":
        best = [s[2] for s in scored if s[0] > 0] or [req.tools[0]]
    else:
        best = [s[2] for s in scored if s[0] > 0]
    if not best:
        return []
    return best[:2] if req.parallel_tools and len(best) > 1 else best[:1]


def generate(req: GenRequest) -> list[GenChoice]:
    """The choices for ``req`` (length ``req.n``)."""
    import orjson

    out: list[GenChoice] = []
    for i in range(max(1, req.n)):
        reasoning = None
        if req.reasoning:
            _, last = req.last()
            reasoning = (
                f"用户问的是「{last[:40]}」，我先理解问题，再给出回答。"
                if _CJK.search(last)
                else f"The user asks about '{last[:60]}'. I will restate it, then answer."
            )
        tools = _pick_tools(req)
        if tools:
            _, last = req.last()
            calls = [
                (
                    t.name,
                    orjson.dumps(schema_instance(t.parameters or {}, _rng(t.name, last, i), last)).decode(),
                )
                for t in tools
            ]
            out.append(GenChoice("", "tool_calls", calls, reasoning))
            continue
        if req.json_schema is not None or req.json_mode:
            _, last = req.last()
            if req.json_schema is not None:
                obj = schema_instance(req.json_schema, _rng(last, i, req.seed), last)
            else:
                obj = {"answer": _base_text(req, i), "language": "zh" if _CJK.search(last) else "en"}
            text, finish = _cut(orjson.dumps(obj).decode(), GenRequest([], req.max_tokens))
            out.append(GenChoice(text, finish, [], reasoning))
            continue
        text, finish = _cut(_base_text(req, i), req)
        out.append(GenChoice(text, finish, [], reasoning))
    return out


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, dict) else {}
    return schema


def schema_instance(
    schema: dict[str, Any],
    rng: random.Random,
    hint: str = "",
    _root: Any = None,
    _name: str = "",
    _depth: int = 0,
) -> Any:
    """A value valid against a JSON schema (the subset tools and structured outputs use)."""
    root = schema if _root is None else _root
    schema = _resolve(schema, root)
    if _depth > 8:
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][rng.randrange(len(schema["enum"]))]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return schema_instance(schema[key][0], rng, hint, root, _name, _depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(_resolve(part, root))
        return schema_instance(merged, rng, hint, root, _name, _depth + 1)
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "null")
    if typ is None:
        typ = "object" if "properties" in schema else "string"
    if typ == "object":
        props: dict[str, Any] = schema.get("properties", {})
        obj = {}
        for k, sub in props.items():
            obj[k] = schema_instance(sub, rng, hint, root, k, _depth + 1)
        return obj
    if typ == "array":
        items = schema.get("items", {"type": "string"})
        n = max(int(schema.get("minItems", 1)), 1)
        if "maxItems" in schema:
            n = min(n, int(schema["maxItems"]))
        return [schema_instance(items, rng, hint, root, _name, _depth + 1) for _ in range(n)]
    if typ == "integer":
        lo = schema.get(
            "minimum", schema.get("exclusiveMinimum", 0) + (1 if "exclusiveMinimum" in schema else 0)
        )
        hi = schema.get("maximum", lo + 100)
        return int(rng.randint(int(math.ceil(lo)), int(max(math.ceil(lo), math.floor(hi)))))
    if typ == "number":
        lo = float(schema.get("minimum", 0))
        hi = float(schema.get("maximum", lo + 100))
        return round(lo + (hi - lo) * rng.random(), 2)
    if typ == "boolean":
        return bool(rng.randrange(2))
    if typ == "null":
        return None
    # string
    fmt = schema.get("format")
    if fmt == "date":
        return "2024-07-09"
    if fmt == "date-time":
        return "2024-07-09T10:00:00Z"
    if fmt == "email":
        return "user@example.com"
    if fmt in ("uri", "url"):
        return "https://example.com/"
    value = _string_for(_name, hint, rng)
    lo_len = int(schema.get("minLength", 0))
    hi_len = int(schema.get("maxLength", 10_000))
    if len(value) < lo_len:
        value = value + "x" * (lo_len - len(value))
    return value[:hi_len]


def _string_for(name: str, hint: str, rng: random.Random) -> str:
    words: list[str] = re.findall(r"[A-Z][a-z]+|[\u4e00-\u9fff]{2,4}", hint)
    if name.lower() in ("city", "location", "place", "城市") and words:
        return words[-1]
    if words:
        return words[rng.randrange(len(words))]
    return f"{name or 'value'}-{rng.randrange(1000)}"


def embed(text: str, dim: int) -> list[float]:
    """A deterministic unit vector for ``text``: same input, same vector; different inputs differ."""
    seed = hashlib.sha256(text.encode()).digest()
    raw = b""
    counter = 0
    while len(raw) < dim * 4:
        raw += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    vals = [((v / 0xFFFFFFFF) * 2.0 - 1.0) for v in struct.unpack(f">{dim}I", raw[: dim * 4])]
    norm = math.sqrt(sum(v * v for v in vals)) or 1.0
    return [round(v / norm, 8) for v in vals]


def split_for_stream(text: str, pieces: int = 0) -> list[str]:
    """Cut a text into stream deltas: about one token each (a word with its space, or one CJK char)."""
    if not text:
        return []
    parts = re.findall(r"\s*[A-Za-z]+(?:'[a-z]+)?|\s*\d{1,3}|\s*[^\sA-Za-z\d]|\s+$", text)
    if "".join(parts) != text:  # never lose a character
        parts = [text[i : i + 4] for i in range(0, len(text), 4)]
    if pieces and len(parts) > pieces:
        size = math.ceil(len(parts) / pieces)
        parts = ["".join(parts[i : i + size]) for i in range(0, len(parts), size)]
    return parts
