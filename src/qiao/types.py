"""Canonical OpenAI-shaped types.

Inbound requests are pydantic models (validated once at the edge, with OpenAI's ranges, so a bad value
is a 400 naming its ``param``). Everything a provider returns is a slotted dataclass that knows how to
render itself exactly as OpenAI does (``to_dict``): fields OpenAI always sends are always present, fields
OpenAI omits when empty are omitted.

Reasoning ("thinking") output from any provider travels in one field, ``reasoning_content``, in both the
message and the stream delta, and is never counted as answer content.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatChoice",
    "ChatChunk",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "ChunkChoice",
    "CompletionRequest",
    "Delta",
    "EmbeddingRequest",
    "EmbeddingResult",
    "FunctionCall",
    "ImageURL",
    "JSONSchemaFormat",
    "Message",
    "ResponseFormat",
    "StreamOptions",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoiceFunction",
    "ToolFunction",
    "Usage",
    "WireChatResponse",
    "has_image_input",
    "message_text",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=False, populate_by_name=True)


class ImageURL(_Model):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ContentPart(_Model):
    type: Literal["text", "image_url", "input_audio", "file", "refusal"]
    text: str | None = None
    image_url: ImageURL | None = None
    refusal: str | None = None


class FunctionCall(_Model):
    name: str
    arguments: str


class ToolCallIn(_Model):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Model):
    """One chat message. Role-specific rules are checked by the gateway, not by separate classes:
    one flat model validates several times faster on the hot path."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None
    function_call: FunctionCall | None = None
    refusal: str | None = None
    reasoning_content: str | None = None


class ToolFunction(_Model):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_\-]+$")]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Model):
    type: Literal["function"]
    function: ToolFunction


class _NamedFunction(_Model):
    name: str


class ToolChoiceFunction(_Model):
    type: Literal["function"]
    function: _NamedFunction


class JSONSchemaFormat(_Model):
    name: Annotated[str, Field(max_length=64)]
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Model):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None


class StreamOptions(_Model):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


Temperature = Annotated[float, Field(ge=0, le=2)]
Penalty = Annotated[float, Field(ge=-2, le=2)]


class ChatRequest(_Model):
    """``POST /v1/chat/completions`` as OpenAI documents it.

    Unknown top-level fields are kept in ``model_extra``; the gateway rejects them with
    ``unsupported_parameter`` unless the serving provider lists them as native extras.
    """

    model: Annotated[str, Field(min_length=1)]
    messages: Annotated[list[Message], Field(min_length=1)]
    temperature: Temperature | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    n: Annotated[int, Field(ge=1, le=128)] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    user: str | None = None
    seed: int | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | ToolChoiceFunction | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    functions: list[ToolFunction] | None = None
    function_call: Literal["none", "auto"] | _NamedFunction | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    service_tier: str | None = None
    web_search_options: dict[str, Any] | None = None
    verbosity: str | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None

    # The decoded body and the dropped parameters live in pydantic's private-state dict, set directly:
    # declared PrivateAttrs cost several microseconds per request to initialise and to read (measured),
    # and this object is built on every request.

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> ChatRequest:
        """Validate a decoded JSON body, keeping it so OpenAI-shaped upstreams get it forwarded as sent."""
        plain = _build_plain(raw, True) if cls is ChatRequest else None
        if plain is None:
            req = cls.model_validate(raw)
            object.__setattr__(req, "__pydantic_private__", {"raw": raw, "dropped": ()})
            return req
        return plain[0]

    @property
    def plain_bytes(self) -> int | None:
        """For a plain request (text messages, scalar parameters, stop sequences and stream options only:
        no tools, images, response format, tool messages or vendor fields), the prompt's byte bound
        (:func:`gateway.params.prompt_bytes`), worked out while it was checked; None for any other
        request. Lets the per-request checks skip what a plain request cannot contain."""
        st = self.__pydantic_private__
        return None if st is None else st.get("plain")

    def _state(self) -> dict[str, Any]:
        st = self.__pydantic_private__
        if st is None:
            st = {"raw": None, "dropped": ()}
            object.__setattr__(self, "__pydantic_private__", st)
        return st

    def raw_body(self) -> dict[str, Any] | None:
        st = self.__pydantic_private__
        return None if st is None else st.get("raw")

    def forwarding(self) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
        """``(raw_body(), dropped)`` in one call (providers forwarding the body read both per request)."""
        st = self.__pydantic_private__
        return (None, ()) if st is None else (st.get("raw"), st.get("dropped", ()))

    @property
    def dropped(self) -> tuple[str, ...]:
        """Top-level parameters the gateway dropped for this call (named in a response header)."""
        st = self.__pydantic_private__
        return () if st is None else st.get("dropped", ())

    def drop(self, names: tuple[str, ...]) -> None:
        """Forget these parameters (as if never sent) and remember that they were dropped.
        Call it on a copy (``model_copy()``): the private state is copied, then replaced here."""
        st = dict(self._state())
        st.pop("sent", None)  # fields change below
        st["dropped"] = st.get("dropped", ()) + tuple(names)
        for n in names:
            if n in type(self).model_fields:
                setattr(self, n, None)
            elif self.model_extra:
                self.model_extra.pop(n, None)
        raw = st.get("raw")
        if raw is not None:
            st["raw"] = {k: v for k, v in raw.items() if k not in names}
        object.__setattr__(self, "__pydantic_private__", st)

    def with_params(self, params: Mapping[str, Any]) -> ChatRequest:
        """A copy with a route target's parameter overrides applied (validated when the config loaded)."""
        st = dict(self._state())
        copy = self.model_copy()
        for k, v in params.items():  # validated per field, so nested values become models
            copy.__pydantic_validator__.validate_assignment(copy, k, v)
        raw = st.get("raw")
        if raw is not None:
            st["raw"] = {**raw, **params}
        st.pop("plain", None)  # overrides may add anything (tools, a response format...)
        st.pop("sent", None)
        object.__setattr__(copy, "__pydantic_private__", st)
        return copy

    @property
    def output_limit(self) -> int | None:
        """``max_completion_tokens`` wins over the deprecated ``max_tokens``, as at OpenAI."""
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    @property
    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    @property
    def wants_usage_chunk(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def set_fields(self) -> set[str]:
        """Top-level fields the client actually sent (explicit nulls count as not sent)."""
        st = self.__pydantic_private__
        if st is not None and "sent" in st:  # a plain request's, noted while it was checked
            return set(st["sent"])
        # read through __dict__: every attribute read on a pydantic model goes through its __getattr__
        # hook (~400 instructions, and the interpreter cannot specialise it); this runs on every request
        d = self.__dict__
        out = {k for k in self.__pydantic_fields_set__ if d.get(k) is not None}
        extra = self.__pydantic_extra__
        if extra:
            out.update(k for k, v in extra.items() if v is not None)
        return out


# ---- the plain-request fast path ------------------------------------------------------------------------
# Most requests are plain: text messages and a few scalar parameters. For those, pydantic-core's validation
# of this 34-field model (and one Message per message) is ~35k instructions, a tenth of the gateway's
# per-request work. _plain_request checks such a body itself, with the same rules, and builds the same
# objects pydantic would (same __dict__, fields-set and extras); anything it is not sure of (another key,
# another type, a value out of range, a tool message...) returns None and goes to pydantic, which also
# writes the error messages. tests/test_types.py checks both paths agree on a corpus of bodies.


def _num(lo: float, hi: float) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        t = type(v)
        if (t is float or t is int) and lo <= v <= hi:
            return float(v)
        return _NO

    return check


def _int(lo: int, hi: int | None) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if type(v) is int and v >= lo and (hi is None or v <= hi):
            return v
        return _NO

    return check


def _of(t: type) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        return v if type(v) is t else _NO

    return check


def _stream_options(v: Any) -> Any:
    """``{"include_usage": bool}`` (what a streaming client asking for usage sends) as the StreamOptions
    pydantic would build; anything else (other keys, non-bool values) goes to pydantic."""
    if type(v) is not dict:
        return _NO
    d = dict(_SO_DEFAULTS)
    for k, x in v.items():
        if k not in _SO_DEFAULTS or (x is not None and type(x) is not bool):
            return _NO
        d[k] = x
    so = _new(StreamOptions)
    _set_dict(so, d)
    _set_fields_set(so, set(v))
    _set_extra(so, {})
    _set_private(so, None)
    return so


def _stop(v: Any) -> Any:
    """A stop string, or a list of at most four, as pydantic would keep it (a list is copied)."""
    if type(v) is str:
        return v
    if type(v) is list and len(v) <= 4:
        for x in v:
            if type(x) is not str:
                return _NO
        return list(v)
    return _NO


_NO: Any = object()
_SO_DEFAULTS: dict[str, Any] = {"include_usage": None, "include_obfuscation": None}
_PLAIN_PARAMS: dict[str, Callable[[Any], Any]] = {
    "stream_options": _stream_options,
    "stop": _stop,
    "temperature": _num(0, 2),
    "top_p": _num(0, 1),
    "presence_penalty": _num(-2, 2),
    "frequency_penalty": _num(-2, 2),
    "n": _int(1, 128),
    "max_tokens": _int(1, None),
    "max_completion_tokens": _int(1, None),
    "seed": _of(int),
    "stream": _of(bool),
    "logprobs": _of(bool),
    "parallel_tool_calls": _of(bool),
    "store": _of(bool),
    "user": _of(str),
    "service_tier": _of(str),
    "verbosity": _of(str),
    "prompt_cache_key": _of(str),
    "safety_identifier": _of(str),
}
_PLAIN_ROLES = frozenset({"system", "developer", "user", "assistant"})
_REQ_DEFAULTS: dict[str, Any] = {}
_MSG_DEFAULTS: dict[str, Any] = {}
_new = object.__new__
# BaseModel's slots set through their descriptors: object.__setattr__ looks the name up in the type and
# checks it is not bypassing a C-level __setattr__ on every call; the descriptor's own __set__ is about
# half the cost (8 sets per request: ~2k instructions less)
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def _defaults(model: type[BaseModel]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, f in model.model_fields.items():
        if f.is_required():
            out[name] = None  # always overwritten: the fast path only accepts bodies that carry it
        elif f.default_factory is not None:
            raise TypeError(f"{model.__name__}.{name}: the plain-request fast path assumes plain defaults")
        else:
            out[name] = f.default
    return out


def _plain_request(raw: dict[str, Any]) -> tuple[ChatRequest, int, frozenset[str]] | None:
    """The request, its prompt's byte bound and the fields sent (not null), or None when the body is not
    plain. The request is exactly what pydantic builds (no private state)."""
    return _build_plain(raw, False)


def plain_chat_request(raw: dict[str, Any]) -> ChatRequest | None:
    """``ChatRequest.from_raw(raw)`` when the body is plain, in one call (the server's hot path), else
    None (then from_raw, which validates with pydantic)."""
    plain = _build_plain(raw, True)
    return None if plain is None else plain[0]


def _build_plain(raw: dict[str, Any], keep: bool) -> tuple[ChatRequest, int, frozenset[str]] | None:
    """_plain_request; ``keep``: with from_raw's private state (the body kept, the plain marks)."""
    if not _REQ_DEFAULTS:
        _REQ_DEFAULTS.update(_defaults(ChatRequest))
        _MSG_DEFAULTS.update(_defaults(Message))
    model = raw.get("model")
    messages = raw.get("messages")
    if type(model) is not str or not model or type(messages) is not list or not messages:
        return None
    d = dict(_REQ_DEFAULTS)
    sent = ["model", "messages"]
    for k, v in raw.items():
        if k == "model" or k == "messages":
            continue
        check = _PLAIN_PARAMS.get(k)
        if check is None:
            return None
        if v is not None:
            v = check(v)
            if v is _NO:
                return None
            sent.append(k)
        d[k] = v
    msgs = []
    nbytes = 3  # the bound gateway.params.prompt_bytes computes: UTF-8 bytes + 8 per message + 3
    for m in messages:
        if type(m) is not dict or len(m) != 2:
            return None
        role = m.get("role")
        content = m.get("content")
        if type(role) is not str or role not in _PLAIN_ROLES or type(content) is not str:
            return None
        nbytes += (len(content) if content.isascii() else len(content.encode())) + 8
        msg = _new(Message)
        md = dict(_MSG_DEFAULTS)
        md["role"] = role
        md["content"] = content
        _set_dict(msg, md)
        _set_fields_set(msg, {"role", "content"})
        _set_extra(msg, {})
        _set_private(msg, None)
        msgs.append(msg)
    d["model"] = model
    d["messages"] = msgs
    req = _new(ChatRequest)
    _set_dict(req, d)
    _set_fields_set(req, set(raw))
    _set_extra(req, {})
    fs = frozenset(sent)
    _set_private(req, {"raw": raw, "dropped": (), "plain": nbytes, "sent": fs} if keep else None)
    return req, nbytes, fs


class CompletionRequest(_Model):
    """Legacy ``POST /v1/completions``; the gateway maps it onto chat."""

    model: Annotated[str, Field(min_length=1)]
    prompt: str | list[str]
    suffix: str | None = None
    max_tokens: Annotated[int, Field(ge=0)] | None = 16
    temperature: Temperature | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    n: Annotated[int, Field(ge=1, le=128)] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    logprobs: Annotated[int, Field(ge=0, le=5)] | None = None
    echo: bool | None = None
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    best_of: int | None = None
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    seed: int | None = None


class EmbeddingRequest(_Model):
    model: Annotated[str, Field(min_length=1)]
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: Annotated[int, Field(ge=1)] | None = None
    user: str | None = None


def has_image_input(messages: list[Message]) -> bool:
    """Whether any message carries an image part (read through ``__dict__``: see ``set_fields``)."""
    for m in messages:
        c = m.__dict__["content"]
        if isinstance(c, list) and any(p.type == "image_url" for p in c):
            return True
    return False


def message_text(content: str | list[ContentPart] | None) -> str:
    """The text of a message's content, parts joined (images are not text)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.text or "" for p in content if p.type == "text")


# ---------------------------------------------------------------------------------------------------------
# Outbound: what providers return, rendered exactly as OpenAI does.


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,  # (total_tokens, no property call)
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(slots=True)
class ChatMessage:
    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning_content: str | None = None
    refusal: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": "assistant", "content": self.content, "refusal": self.refusal}
        if self.tool_calls:
            out["tool_calls"] = [t.to_dict() for t in self.tool_calls]
        if self.reasoning_content is not None:
            out["reasoning_content"] = self.reasoning_content
        out["annotations"] = []
        return out


@dataclass(slots=True)
class ChatChoice:
    index: int
    message: ChatMessage
    finish_reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "message": self.message.to_dict(),
            "logprobs": None,
            "finish_reason": self.finish_reason,
        }


@dataclass(slots=True)
class ChatResponse:
    choices: list[ChatChoice]
    usage: Usage
    id: str = ""
    created: int = 0
    model: str = ""
    system_fingerprint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # the usual one-choice answer without the per-object calls (this runs once per request)
        choices = self.choices
        out = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [choices[0].to_dict()] if len(choices) == 1 else [c.to_dict() for c in choices],
            "usage": self.usage.to_dict(),
            "service_tier": "default",
        }
        if self.system_fingerprint:
            out["system_fingerprint"] = self.system_fingerprint
        return out


# ---- answers rendered while parsed ---------------------------------------------------------------------
# The usual answer (no tool calls, no reasoning) was parsed into ChatChoice/ChatMessage objects that the
# renderer turned straight back into dicts: ~10k instructions per answer. WireChatResponse takes the choices
# already rendered (a provider builds them while parsing: providers/openai_compat._render_plain) and builds
# the objects only if someone reads ``choices``. tests/test_wire_response.py checks both give the same bytes.


class WireChatResponse(ChatResponse):
    """A :class:`ChatResponse` over choices already rendered (``ChatChoice.to_dict``'s shape, without tool
    calls or reasoning). ``choices`` are built when first read (or set); from then on they, not the
    rendered dicts, are what ``to_dict`` renders, so code that changes them (vendor subclasses
    post-processing ``super().parse_chat``) is rendered as it changed them."""

    __slots__ = ("_sent", "_objects")

    def __init__(
        self,
        sent: list[dict[str, Any]],
        usage: Usage,
        id: str = "",
        created: int = 0,
        model: str = "",
        system_fingerprint: str | None = None,
    ) -> None:
        self._sent = sent
        self._objects: list[ChatChoice] | None = None
        self.usage = usage
        self.id = id
        self.created = created
        self.model = model
        self.system_fingerprint = system_fingerprint

    @property  # type: ignore[override]
    def choices(self) -> list[ChatChoice]:
        objs = self._objects
        if objs is None:
            # what the general parse builds for such a choice: no tool calls, no reasoning
            objs = self._objects = [
                ChatChoice(
                    c["index"],
                    ChatMessage(c["message"]["content"], [], None, c["message"]["refusal"]),
                    c["finish_reason"],
                )
                for c in self._sent
            ]
        return objs

    @choices.setter
    def choices(self, value: list[ChatChoice]) -> None:
        self._objects = value

    def to_dict(self) -> dict[str, Any]:
        if self._objects is not None:
            return ChatResponse.to_dict(self)
        out = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": self._sent,
            "usage": self.usage.to_dict(),
            "service_tier": "default",
        }
        if self.system_fingerprint:
            out["system_fingerprint"] = self.system_fingerprint
        return out


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index}
        if self.id is not None:
            out["id"] = self.id
            out["type"] = "function"
        fn: dict[str, Any] = {}
        if self.name is not None:
            fn["name"] = self.name
        if self.arguments is not None:
            fn["arguments"] = self.arguments
        out["function"] = fn
        return out


@dataclass(slots=True)
class Delta:
    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.role is not None:
            out["role"] = self.role
        if self.content is not None:
            out["content"] = self.content
        if self.reasoning_content is not None:
            out["reasoning_content"] = self.reasoning_content
        if self.tool_calls:
            out["tool_calls"] = [t.to_dict() for t in self.tool_calls]
        if self.role is not None:
            out.setdefault("content", "" if not self.tool_calls else None)
            out["refusal"] = None
        return out

    def is_empty(self) -> bool:
        return (
            self.role is None and not self.content and self.reasoning_content is None and not self.tool_calls
        )


@dataclass(slots=True)
class ChunkChoice:
    index: int
    delta: Delta
    finish_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "delta": self.delta.to_dict(),
            "logprobs": None,
            "finish_reason": self.finish_reason,
        }


@dataclass(slots=True)
class ChatChunk:
    """One streamed event as a provider parsed it. The gateway's stream assembler, not the provider,
    decides the id, model, role-first delta, where ``finish_reason`` and usage go, and ``[DONE]``."""

    choices: list[ChunkChoice] = field(default_factory=list)
    usage: Usage | None = None


@dataclass(slots=True)
class EmbeddingResult:
    vectors: list[list[float]]
    usage: Usage
