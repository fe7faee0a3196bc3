"""The provider seam: a provider is a sans-I/O translator plus an auth scheme.

A provider never opens a socket. The gateway gives it a canonical request and a :class:`Call` (which
account, which model); it returns a :class:`WireRequest`. The transport sends it; the provider then
``classify``-es the answer (an error, even inside an HTTP 200, becomes a :class:`~qiao.errors.QiaoError`)
and ``parse``-es it into canonical types. Streams are decoded into :class:`SSEEvent`s by one decoder
(``qiao.transport.sse``) and each event goes through ``parse_event``.

Adding a provider: one module under ``qiao.providers``, one line in ``_registry.py``, one emulator
under ``qiao.emulators``, its tests (STYLE.md §3).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..catalogue import ModelSpec
from ..errors import QiaoError
from ..types import ChatChunk, ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResult

__all__ = [
    "Account",
    "AuthScheme",
    "Call",
    "FetchFn",
    "NoAuth",
    "Provider",
    "SSEEvent",
    "StreamState",
    "WireRequest",
    "WireResponse",
]


@dataclass(frozen=True, slots=True)
class Account:
    """A resolved provider account (from config), credential kept secret."""

    name: str
    provider: str
    credential: str | None
    base_url: str
    headers: tuple[tuple[str, str], ...] = ()
    proxy: str | None = None
    ca_bundle: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    weight: int = 1

    def option(self, key: str, default: Any = None) -> Any:
        for k, v in self.options:
            if k == key:
                return v
        return default

    def __repr__(self) -> str:  # never show the credential
        return f"Account(name={self.name!r}, provider={self.provider!r}, base_url={self.base_url!r})"


# Built per request (or per streamed event), so not frozen: a frozen dataclass's __init__ sets each field
# through object.__setattr__, ~1k instructions a field. Treat them as immutable all the same.
@dataclass(slots=True)
class Call:
    """Everything a provider needs to know about one upstream call besides the request itself."""

    account: Account
    spec: ModelSpec
    public_model: str
    request_id: str
    stream: bool = False


@dataclass(slots=True)
class WireRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None
    stream: bool = False


@dataclass(slots=True)
class WireResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class SSEEvent:
    """One server-sent event (or one NDJSON line, as ``data``)."""

    data: str
    event: str | None = None
    id: str | None = None


@dataclass(slots=True)
class StreamState:
    """Per-stream scratch space for ``parse_event`` (tool-call indexes, running usage, flags)."""

    call: Call
    request: ChatRequest
    done: bool = False
    usage: Any = None
    finish_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)


FetchFn = Callable[[WireRequest], Awaitable[WireResponse]]
"""How an auth scheme reaches the network (a token endpoint): injected by the transport."""


class AuthScheme:
    """Puts credentials on a wire request. ``apply`` may fetch and cache a token through ``fetch``.

    ``on_auth_error`` is called when the provider classified an answer as an auth failure that a fresh
    token may cure (e.g. ERNIE codes 110/111); returning True asks the gateway to retry once.
    """

    async def apply(self, wire: WireRequest, account: Account, fetch: FetchFn) -> WireRequest:
        raise NotImplementedError

    def on_auth_error(self, account: Account, error: QiaoError) -> bool:
        return False


class NoAuth(AuthScheme):
    async def apply(self, wire: WireRequest, account: Account, fetch: FetchFn) -> WireRequest:
        return wire


class Provider:
    """Base class of every provider. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""
    credential_format: ClassVar[str] = "API key"
    docs_url: ClassVar[str] = ""
    models: tuple[ModelSpec, ...] = ()
    auth: AuthScheme = NoAuth()
    stream_format: ClassVar[Literal["sse", "ndjson", "websocket"]] = "sse"
    """How the upstream streams. ``websocket``: ``build_chat`` returns the ``ws(s)://`` URL, upgrade
    headers and the first message (``body``); every text message is one event, streaming or not (a
    non-streaming call is collected from the events, ``parse_chat`` is not used)."""
    emulator: ClassVar[str] = ""
    """``module:attribute`` of this provider's emulator app factory (``create_app(options)``)."""
    emulator_base_path: ClassVar[str] = "/v1"
    """Appended to an emulator's root URL to make the account's ``base_url``."""
    demo_credential: ClassVar[str | None] = "sk-emulator"
    """A credential in the provider's own format that ``qiao demo`` gives its emulator and its account."""
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {}
    """Public names ``qiao demo`` may point at this provider: name → (model id, priority; higher wins)."""
    demo_models: ClassVar[tuple[str, ...] | None] = None
    """For providers without a catalogue: the models a demo account declares."""

    default_limits: ClassVar[dict[str, int]] = {}
    """The provider's documented default quota of a new account (``rpm``, ``tpm``, ``concurrency``),
    applied as outbound caps where the account sets none (``limits.provider_defaults``)."""

    unsupported: frozenset[str] = frozenset()
    """ChatRequest fields this provider cannot honour: 400 ``unsupported_parameter`` or dropped."""
    native_extras: frozenset[str] = frozenset()
    """Non-OpenAI top-level fields (sent by clients via ``extra_body``) passed through to the provider."""
    translations: ClassVar[dict[str, str]] = {}
    """Human-readable notes on how OpenAI fields are translated (rendered into docs/providers.md)."""

    # ---- chat -----------------------------------------------------------------------------------------
    def build_chat(self, req: ChatRequest, call: Call) -> WireRequest:
        raise NotImplementedError

    def parse_chat(self, resp: WireResponse, req: ChatRequest, call: Call) -> ChatResponse:
        raise NotImplementedError

    def parse_event(self, event: SSEEvent, state: StreamState) -> list[ChatChunk]:
        """Translate one upstream event. Set ``state.done`` on the provider's own end marker."""
        raise NotImplementedError

    def classify(self, resp: WireResponse, call: Call) -> QiaoError | None:
        """Return the error this answer represents (including errors in 200 bodies), or None."""
        raise NotImplementedError

    # ---- embeddings -----------------------------------------------------------------------------------
    def build_embeddings(self, req: EmbeddingRequest, inputs: list[str], call: Call) -> WireRequest:
        raise NotImplementedError

    def parse_embeddings(self, resp: WireResponse, call: Call) -> EmbeddingResult:
        raise NotImplementedError

    def unsupported_for(self, spec: ModelSpec) -> frozenset[str]:
        """Parameters this model cannot honour: ``unsupported`` by default; override for per-model rules
        (a model with fixed sampling, a parameter only one model version accepts)."""
        return self.unsupported

    # ---- catalogue ------------------------------------------------------------------------------------
    def spec(self, model_id: str) -> ModelSpec | None:
        for m in self.models:
            if m.id == model_id or model_id in m.aliases:
                return m
        return None

    def base_url(self, account: Account) -> str:
        return (account.base_url or self.default_base_url).rstrip("/")
