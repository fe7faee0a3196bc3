"""Wire rules shared by both Baidu Qianfan protocols (``ernie`` = v2, ``ernie_v1`` = wenxinworkshop).

Kept apart from the two provider modules because both enforce the same ERNIE rules:

* **Message alternation** (Qianfan docs, still enforced on v2): after the system prompt, roles must
  alternate user/assistant, starting and ending on the user side; a ``tool``/``function`` result sits
  where a user message would. :func:`repair_messages` makes any OpenAI history conform, without losing
  content: every ``system``/``developer`` message is lifted into one system prompt (joined with a blank
  line, in order); consecutive user messages, and consecutive assistant messages without tool calls, are
  merged (text joined with a blank line, content parts concatenated); a history that starts with the
  assistant (a greeting) gets a ``"/"`` user turn in front; a user message directly after a tool result
  gets a ``"/"`` assistant turn between them; empty content becomes ``"/"`` (Baidu's own OpenAI adapter
  does the same: ERNIE rejects empty strings). A history that *ends* on the assistant (answer prefill)
  cannot be expressed: 400 ``unsupported_parameter`` on ``messages``.
* **Temperature**: ERNIE accepts (0, 1]. OpenAI values are *clamped*, not halved: temperature is the same
  softmax temperature at both vendors, so 0.7 stays 0.7; values above 1 become 1.0 and 0 (greedy) becomes
  :data:`MIN_TEMPERATURE`. (Baidu's own adapter halves instead; that turns OpenAI's common 0.7 into 0.35.)
* **Errors**: the ``error_code`` table (v1 answers these in HTTP 200 bodies; v2 occasionally too).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from ..errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    InvalidRequest,
    ModelNotFound,
    NotFound,
    PermissionDenied,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UnsupportedParameter,
    UpstreamError,
    provider_error,
)
from ..types import ChatRequest, Message

__all__ = [
    "FINISH",
    "MIN_TEMPERATURE",
    "PLACEHOLDER",
    "TOKEN_ERRORS",
    "clamp_temperature",
    "classify_code",
    "content_filtered",
    "mint_tool_id",
    "repair_messages",
    "tool_result_json",
]

MIN_TEMPERATURE = 0.0001
"""What OpenAI's ``temperature: 0`` becomes (ERNIE rejects 0; this is effectively greedy)."""
PLACEHOLDER = "/"
"""Content put where ERNIE needs a non-empty message (Baidu's own OpenAI adapter uses the same)."""

FINISH = {
    "normal": "stop",
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "function_call": "tool_calls",
    "tool_calls": "tool_calls",
}
"""ERNIE finish reasons → OpenAI's."""

TOKEN_ERRORS = frozenset({110, 111})
"""Access token invalid / expired: refresh the OAuth token and retry once."""


def clamp_temperature(t: float) -> float:
    return MIN_TEMPERATURE if t <= 0 else min(float(t), 1.0)


def mint_tool_id(seed: str, name: str, arguments: str, index: int = 0) -> str:
    """ERNIE v1 function calls carry no id: a stable one from the answer id, name, arguments and index."""
    return "call_" + hashlib.sha256(f"{seed}\x1f{name}\x1f{arguments}\x1f{index}".encode()).hexdigest()[:24]


# ---- messages -----------------------------------------------------------------------------------------


def _content(m: Message) -> Any:
    """A message's content as JSON (string or list of parts), ``None`` when absent."""
    c = m.content
    if c is None or isinstance(c, str):
        return c
    return [p.model_dump(mode="json", exclude_none=True) for p in c]


def _text_only(c: Any) -> str:
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    return "".join(p.get("text") or "" for p in c if p.get("type") == "text")


def _merge(a: Any, b: Any) -> Any:
    if a is None or a == "":
        return b
    if b is None or b == "":
        return a
    if isinstance(a, str) and isinstance(b, str):
        return a + "\n\n" + b
    pa = [{"type": "text", "text": a}] if isinstance(a, str) else list(a)
    pb = [{"type": "text", "text": b}] if isinstance(b, str) else list(b)
    return pa + pb


def _side(role: str) -> str:
    return "assistant" if role == "assistant" else "user"


def _nonempty(c: Any) -> Any:
    if c is None or (isinstance(c, str) and not c.strip()):
        return PLACEHOLDER
    if isinstance(c, list) and not c:
        return PLACEHOLDER
    return c


def repair_messages(req: ChatRequest, provider: str) -> tuple[str | None, list[dict[str, Any]]]:
    """(system prompt or None, OpenAI-shaped messages that satisfy ERNIE's alternation rules).

    Roles in the result: ``user``, ``assistant`` (with ``tool_calls`` kept) and ``tool`` (with
    ``tool_call_id``); consecutive tool results stay consecutive (one per call).
    """
    system_parts: list[str] = []
    out: list[dict[str, Any]] = []
    for m in req.messages:
        role = m.role
        if role in ("system", "developer"):
            text = _text_only(_content(m))
            if text:
                system_parts.append(text)
            continue
        if role == "function":  # legacy OpenAI function result
            role = "tool"
        msg: dict[str, Any] = {"role": role, "content": _content(m)}
        if role == "tool":
            msg["tool_call_id"] = m.tool_call_id or ""
            if m.name:
                msg["name"] = m.name
        if role == "assistant":
            calls = [t.model_dump(mode="json") for t in m.tool_calls or ()]
            if m.function_call is not None:
                fc = m.function_call.model_dump(mode="json")
                calls.append({"id": "", "type": "function", "function": fc})
            if calls:
                msg["tool_calls"] = calls
        prev = out[-1] if out else None
        if prev is not None and prev["role"] == role and role == "user":
            prev["content"] = _merge(prev["content"], msg["content"])
            continue
        if (
            prev is not None
            and role == "assistant"
            and prev["role"] == "assistant"
            and not prev.get("tool_calls")
        ):
            prev["content"] = _merge(prev["content"], msg["content"])
            if msg.get("tool_calls"):
                prev["tool_calls"] = msg["tool_calls"]
            continue
        if prev is None and role == "assistant":
            out.append({"role": "user", "content": PLACEHOLDER})
        elif prev is not None and prev["role"] == "tool" and role == "user":
            out.append({"role": "assistant", "content": PLACEHOLDER})
        elif prev is not None and role == "tool" and _side(prev["role"]) == "user" and prev["role"] != "tool":
            raise provider_error(
                UnsupportedParameter,
                provider,
                "a tool result must follow the assistant message that called the tool",
                param="messages",
            )
        out.append(msg)
    if not out:
        raise provider_error(
            UnsupportedParameter,
            provider,
            "ERNIE needs at least one user message besides the system prompt",
            param="messages",
        )
    if out[-1]["role"] == "assistant":
        raise provider_error(
            UnsupportedParameter,
            provider,
            "ERNIE requires the conversation to end with a user or tool message "
            "(an assistant prefill cannot be sent)",
            param="messages",
        )
    for msg in out:
        if msg["role"] == "assistant" and msg.get("tool_calls"):
            if msg["content"] is None or (isinstance(msg["content"], str) and not msg["content"].strip()):
                msg["content"] = ""
            continue
        msg["content"] = _nonempty(msg["content"])
    system = "\n\n".join(system_parts) if system_parts else None
    return system, out


# ---- errors -------------------------------------------------------------------------------------------

_CODES: dict[int, tuple[type[QiaoError], str]] = {
    1: (UpstreamError, "unknown error"),
    2: (ServiceUnavailable, "service temporarily unavailable"),
    3: (NotFound, "unsupported method"),
    4: (RateLimited, "cluster request limit reached"),
    6: (PermissionDenied, "no permission for this resource"),
    13: (AuthenticationFailed, "failed to get a service token"),
    14: (AuthenticationFailed, "IAM certification failed"),
    15: (AuthenticationFailed, "application does not exist"),
    17: (
        InsufficientQuota,
        "daily request limit reached (paid service not enabled, or the account is in arrears)",
    ),
    18: (RateLimited, "QPS limit reached"),
    19: (RateLimited, "total request limit reached"),
    100: (InvalidRequest, "invalid parameter"),
    110: (AuthenticationFailed, "access token invalid"),
    111: (AuthenticationFailed, "access token expired"),
    336000: (UpstreamError, "internal error"),
    336001: (InvalidRequest, "invalid argument"),
    336002: (InvalidRequest, "invalid JSON"),
    336003: (InvalidRequest, "invalid parameter"),
    336004: (PermissionDenied, "permission denied (is the service enabled for this application?)"),
    336005: (ModelNotFound, "API name does not exist"),
    336006: (InvalidRequest, "invalid input"),
    336007: (InvalidRequest, "invalid input"),
    336008: (InvalidRequest, "invalid input"),
    336100: (ServiceUnavailable, "server overloaded"),
    336101: (InvalidRequest, "invalid HTTP method"),
    336102: (InvalidRequest, "invalid input"),
    336103: (ContextLengthExceeded, "input too long"),
    336104: (InvalidRequest, "invalid system argument"),
    336105: (InvalidRequest, "invalid user setting"),
    336200: (UpstreamError, "internal error"),
    336303: (InvalidRequest, "invalid input"),
    336501: (RateLimited, "RPM rate limit reached"),
    336502: (RateLimited, "TPM rate limit reached"),
    337006: (InvalidRequest, "invalid input"),
    500000: (UpstreamError, "console internal error"),
}


def classify_code(
    provider: str, code: int, message: str, body: bytes | None, status: int, retry_after: float | None = None
) -> QiaoError:
    """Map an ERNIE ``error_code`` (an int, in a 200 body on v1) to the error tree."""
    cls, meaning = _CODES.get(
        code, (UpstreamError if code < 336000 or code >= 336200 else InvalidRequest, "error")
    )
    text = f"{message} ({meaning})" if message and code == 17 else (message or meaning)
    low = text.lower()
    if cls is InvalidRequest and ("too long" in low or "exceed" in low and "length" in low):
        cls = ContextLengthExceeded
    if cls is AuthenticationFailed:
        text = f"the upstream rejected the gateway's credential: {text}"
    kw: dict[str, Any] = {"vendor_code": code, "upstream_status": status, "body": body}
    if cls is RateLimited:
        return provider_error(cls, provider, text, retry_after=retry_after, **kw)
    if cls is ContextLengthExceeded:
        return provider_error(cls, provider, text, param="messages", **kw)
    return provider_error(cls, provider, text, **kw)


def content_filtered(provider: str, body: bytes | None) -> QiaoError:
    return provider_error(
        ContentFiltered,
        provider,
        "the prompt was judged unsafe by ERNIE's content safety "
        "(need_clear_history / ban_round); the conversation should be reset",
        body=body,
    )


def tool_result_json(content: str) -> str:
    """ERNIE handles function results best as a JSON object (Baidu's adapter): wrap anything else."""
    try:
        if isinstance(orjson.loads(content), dict):
            return content
    except orjson.JSONDecodeError:
        pass
    return orjson.dumps({"result": content}).decode()
