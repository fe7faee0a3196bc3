"""Which request parameters a target cannot honour, and what to do about them.

Every parameter a client sends is either translated by the provider or named here: the provider's
``unsupported`` set, extra (non-OpenAI) fields the provider does not list in ``native_extras``, and
capabilities the model lacks (tools, images, JSON mode, ``n``…). The default answer is a 400
``unsupported_parameter`` naming the first one; a route (or the server) with ``drop_params`` drops them
instead and the response names them in ``x-qiao-dropped-params``. Never silently wrong.
"""

from __future__ import annotations

from ..catalogue import ModelSpec
from ..errors import ContextLengthExceeded, UnsupportedParameter
from ..providers.base import Provider
from ..tokens import count_messages
from ..types import ChatRequest, has_image_input, message_text

__all__ = [
    "apply_param_policy",
    "check_context",
    "estimate_prompt_tokens",
    "fits_cheaply",
    "unsupported_params",
]

# Parameters that change nothing about the answer: silently accepted everywhere (OpenAI bookkeeping).
HARMLESS = frozenset(
    {
        "store",
        "metadata",
        "service_tier",
        "prompt_cache_key",
        "safety_identifier",
        "user",
        "stream",
        "stream_options",
        "model",
        "messages",
    }
)
# Defaults that are no-ops: sending them is not asking for anything.
_NOOP_VALUES: dict[str, object] = {
    "n": 1,
    "parallel_tool_calls": True,
    "logprobs": False,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "tool_choice": "none",
}


def unsupported_params(req: ChatRequest, provider: Provider, spec: ModelSpec) -> list[str]:
    sent = req.set_fields()
    d = req.__dict__  # one read through pydantic's attribute hook, not one per field (see set_fields)
    caps = spec.caps
    bad: list[str] = []
    asked = sent - HARMLESS
    if asked:
        unsupported = provider.unsupported_for(spec)
        for name in sorted(asked):
            if name in _NOOP_VALUES and d.get(name) == _NOOP_VALUES[name]:
                continue
            if name in unsupported:
                bad.append(name)
            elif name not in type(req).model_fields and name not in provider.native_extras:
                bad.append(name)
    if d["n"] is not None and d["n"] > 1 and not caps.n and "n" not in bad:
        bad.append("n")
    if req.plain_bytes is not None:
        return bad  # no tools, response format or images to check
    if (d["tools"] or d["functions"]) and not caps.tools:
        bad.extend(n for n in ("tools", "functions", "tool_choice") if n in sent and n not in bad)
    if (
        d["tool_choice"] == "required"
        and caps.tools
        and not caps.tool_choice_required
        and "tool_choice" not in bad
    ):
        bad.append("tool_choice")
    rf = d["response_format"]
    if rf is not None and rf.type != "text":
        if rf.type == "json_schema" and not caps.json_schema and "response_format" not in bad:
            bad.append("response_format")
        elif rf.type == "json_object" and not caps.json_mode and "response_format" not in bad:
            bad.append("response_format")
    if not caps.vision and "messages" not in bad and has_image_input(d["messages"]):
        bad.append("messages")  # image input
    return bad


def apply_param_policy(
    req: ChatRequest, provider: Provider, spec: ModelSpec, drop: bool, target_label: str
) -> ChatRequest:
    """Return the request to send (a copy with parameters dropped, if any), or raise 400."""
    st = req.__pydantic_private__
    if st is not None and "plain" in st:
        sent = st.get("sent")
        if sent is not None and sent <= HARMLESS:
            # A plain request (no tools, response format or images) of harmless parameters only (model,
            # messages, stream, user...; so no n either): nothing any target could refuse, as
            # unsupported_params would find (tests/gateway/test_params.py); ~2k instructions less
            return req
    bad = unsupported_params(req, provider, spec)
    if not bad:
        return req
    if "messages" in bad:
        raise UnsupportedParameter(f"{target_label} does not accept image input", param="messages")
    if not drop:
        raise UnsupportedParameter(
            f"{target_label} does not support the parameter '{bad[0]}'"
            + (f" (nor {', '.join(bad[1:])})" if len(bad) > 1 else "")
            + "; remove it, or set drop_params on the route to drop it",
            param=bad[0],
        )
    copy = req.model_copy(deep=False)
    copy.drop(tuple(bad))
    return copy


def estimate_prompt_tokens(req: ChatRequest, counter: object = None) -> int:
    texts = [message_text(m.content) for m in req.messages]
    for m in req.messages:
        if m.tool_calls:
            texts.extend(t.function.arguments for t in m.tool_calls)
    if req.tools:
        import orjson

        texts.append(orjson.dumps([t.model_dump(exclude_none=True) for t in req.tools]).decode())
    return count_messages(texts, counter)


def prompt_bytes(req: ChatRequest) -> int:
    """An upper bound of the prompt's tokens without tokenising (a token is at least one byte)."""
    d = req.__dict__  # see ChatRequest.set_fields: plain dict reads on the hot path
    upper = 3
    for m in d["messages"]:
        c = m.__dict__["content"]
        if isinstance(c, str):  # str.isascii() is O(1): no encode() of an ASCII prompt just to count bytes
            upper += len(c) if c.isascii() else len(c.encode())
        else:
            upper += len(message_text(c).encode())
        upper += 8
    tools = d["tools"]
    if tools:
        upper += sum(len(str(t.function.parameters or "")) + 64 for t in tools)
    return upper


def fits_cheaply(req: ChatRequest, spec: ModelSpec, upper: int | None = None) -> bool:
    """True when the request obviously fits (``upper``: :func:`prompt_bytes`, if already known): no
    tokenising needed. Also checks the output cap, which needs no counting."""
    out = req.output_limit or 0
    if out > spec.max_output and spec.max_output:
        raise UnsupportedParameter(
            f"max_tokens is too large: {out}. This model supports at most {spec.max_output} "
            "completion tokens",
            param="max_completion_tokens" if req.max_completion_tokens is not None else "max_tokens",
            code="invalid_value",
        )
    if upper is None:
        upper = prompt_bytes(req)
    return upper + out <= spec.context


def check_context(req: ChatRequest, spec: ModelSpec, est: int | None = None) -> int:
    """Raise 400 context_length_exceeded when prompt + requested output cannot fit; return the estimate.
    Tokenises unless ``est`` is given: call it off the event loop for large prompts (after
    :func:`fits_cheaply` said no)."""
    out = req.output_limit or 0
    if est is None:
        est = estimate_prompt_tokens(req)
    if est + out > spec.context:
        raise ContextLengthExceeded(
            f"This model's maximum context length is {spec.context} tokens. However, you requested about "
            f"{est + out} tokens ({est} in the messages, {out} in the completion). Please reduce the length "
            "of the messages or completion.",
            param="messages",
        )
    return est
