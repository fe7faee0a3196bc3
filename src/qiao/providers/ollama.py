"""``ollama``: a self-hosted Ollama server, through its native API (``/api/chat``, ``/api/embed``).

Wire protocol (others.md §10.2, checked against the official ``ollama`` Python client 0.6.3):

* ``POST {base}/api/chat``, base ``http://127.0.0.1:11434`` (the server root, no ``/v1``); no auth (a
  credential, when an account sets one for a reverse proxy in front of Ollama, goes out as a Bearer
  token). ``GET /api/tags`` lists the pulled models; the catalogue is the account's ``models:`` list
  (nothing is priced: it is your hardware).
* ``stream`` **defaults to true** on ``/api/chat``: qiao always sends it explicitly. A stream is NDJSON
  (one JSON object per line, ``application/x-ndjson``); the last line has ``"done": true``,
  ``done_reason`` (``stop`` / ``length`` / ``load``) and the usage: ``prompt_eval_count`` → prompt
  tokens, ``eval_count`` → completion tokens. A line ``{"error": "..."}`` is a mid-stream failure.
* Tool calls come whole (never in fragments) as ``message.tool_calls[{"function": {"name", "arguments":
  {...}}}]`` — ``arguments`` is a JSON **object** (re-serialised to OpenAI's string), and older servers
  send no ``id``: a stable ``call_…`` id is minted from the position and the call. Tool results go back as
  ``{"role": "tool", "content", "tool_name"}`` (the name is looked up from the assistant turn that
  made the call); assistant tool calls go back with object arguments.
* Reasoning: ``think: true|false`` in, ``message.thinking`` out (→ ``reasoning_content``).
* Errors: HTTP status + ``{"error": "<text>"}`` — 404 unknown model ("try pulling it first"), 400 bad
  request (including "does not support tools / thinking"), 500 runner failures, 503 "server busy".
  Ollama has no rate limits, quotas or content filter of its own.
* Embeddings: ``POST /api/embed {"model", "input": [...]}`` → ``{"embeddings": [[...]],
  "prompt_eval_count": N}``.

What the official client (ollama 0.6.3, tests/emulators/test_ollama_sdk.py) showed: it always sends
an explicit ``stream`` and a ``tools`` list (empty when none), validates answers with pydantic (tool-call
``arguments`` must be an object, a string fails), raises ``ResponseError`` for any line carrying
``error`` in a stream and for HTTP errors (with the ``error`` text), and reads ``/api/tags`` into
``models[].model``.

OpenAI → Ollama translation:

* messages kept in order (system stays a message), ``developer`` → ``system``; images only as ``data:``
  URLs (→ bare base64 in ``images``; Ollama cannot fetch URLs and qiao does not fetch them for it).
* ``max_completion_tokens`` / ``max_tokens`` → ``options.num_predict``; ``temperature``, ``top_p``,
  ``seed``, ``stop``, ``presence_penalty``, ``frequency_penalty`` → the same names in ``options``
  (Ollama takes OpenAI's ranges). A client's own ``options`` (e.g. ``num_ctx``) is merged in.
* ``response_format`` ``json_object`` → ``format: "json"``; ``json_schema`` → ``format: <schema>``.
* ``tools`` → ``tools``; ``tool_choice`` ``auto`` as is, ``none`` → tools not sent; ``required`` and
  named functions are unsupported (Ollama has no tool_choice).
* ``reasoning_effort`` → ``think`` (``none``/``minimal`` → false, else true).
* unsupported: ``n``, ``logit_bias``, ``logprobs``, ``top_logprobs``, ``parallel_tool_calls: false``,
  audio/modalities/prediction/web search/verbosity; ``user`` is not sent.

Model capabilities are guessed from the name (``*embed*`` / ``bge*`` → embeddings; ``llava``, ``*-vl``,
``*vision*``, ``gemma3``, ``minicpm-v`` → images; ``qwen3``, ``deepseek-r1``, ``qwq``, ``gpt-oss`` →
reasoning); a wrong guess is answered by Ollama itself with a 400 that is passed on.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any, ClassVar

import orjson

from ..catalogue import Capabilities, ModelSpec
from ..errors import (
    AuthenticationFailed,
    InvalidRequest,
    ModelNotFound,
    NotFound,
    PermissionDenied,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UnsupportedParameter,
    UpstreamError,
    UpstreamTimeout,
    provider_error,
)
from ..types import (
    ChatChoice,
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ChunkChoice,
    Delta,
    EmbeddingRequest,
    EmbeddingResult,
    Message,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from .base import Call, Provider, SSEEvent, StreamState, WireRequest, WireResponse
from .openai_compat import BearerAuth

__all__ = ["Ollama", "chat_body", "classify_error", "model_spec", "provider"]

_EMBED = re.compile(r"embed|^bge|^m3e|^mxbai|^snowflake-arctic-embed|^granite-embedding", re.I)
_VISION = re.compile(
    r"llava|vision|-vl|vl:|minicpm-v|gemma3|bakllava|moondream|qwen2\.5vl|qwen3-vl|mistral-small3", re.I
)
_REASONING = re.compile(r"qwen3|deepseek-r1|qwq|gpt-oss|magistral|phi4-reasoning", re.I)


def model_spec(model_id: str) -> ModelSpec:
    """What qiao assumes of a model an Ollama account declares (guessed from its name)."""
    if _EMBED.search(model_id):
        caps = Capabilities(chat=False, stream=False, embeddings=True)
        return ModelSpec(model_id, context=8192, caps=caps, embedding_batch=64)
    caps = Capabilities(
        tools=True,
        json_mode=True,
        json_schema=True,
        seed=True,
        vision=bool(_VISION.search(model_id)),
        reasoning=bool(_REASONING.search(model_id)),
    )
    return ModelSpec(model_id, context=32_768, caps=caps, max_output=8192)


def classify_error(message: str, status: int, body: bytes | None) -> QiaoError:
    low = message.lower()
    kw: dict[str, Any] = {"upstream_status": status, "body": body}
    if status == 404 or "not found" in low and "model" in low:
        cls: type[QiaoError] = ModelNotFound if "model" in low or "pull" in low else NotFound
        return provider_error(cls, "ollama", message, **kw)
    if status == 400 and "does not support" in low:
        return provider_error(UnsupportedParameter, "ollama", message, **kw)
    table: dict[int, type[QiaoError]] = {
        400: InvalidRequest,
        401: AuthenticationFailed,
        403: PermissionDenied,
        408: UpstreamTimeout,
        429: RateLimited,
        503: ServiceUnavailable,
        504: UpstreamTimeout,
    }
    cls = table.get(status) or (InvalidRequest if 400 <= status < 500 else UpstreamError)
    if cls is AuthenticationFailed:
        message = f"the proxy in front of Ollama rejected the gateway's credential: {message}"
    return provider_error(cls, "ollama", message, **kw)


def _error_text(body: bytes) -> str | None:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(obj, dict) and obj.get("error") is not None:
        err = obj["error"]
        return str(err.get("message") if isinstance(err, dict) else err)
    return None


# ---- request translation ---------------------------------------------------------------------------------


def _images(m: Message) -> list[str]:
    out: list[str] = []
    if isinstance(m.content, list):
        for p in m.content:
            if p.type == "image_url" and p.image_url is not None:
                url = p.image_url.url
                if not url.startswith("data:"):
                    raise UnsupportedParameter(
                        "ollama takes images only inline: send them as data: URLs (base64)", param="messages"
                    )
                out.append(url.partition(",")[2])
    return out


def _args_object(raw: str) -> Any:
    try:
        return orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "ollama needs tool-call arguments that are valid JSON objects", param="messages"
        ) from None


def _messages(req: ChatRequest) -> list[dict[str, Any]]:
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for m in req.messages:
        role = "system" if m.role == "developer" else m.role
        if role == "function":
            raise UnsupportedParameter(
                "ollama: legacy `function` messages are not supported", param="messages"
            )
        c = m.content
        text = c if isinstance(c, str) else "".join(p.text or "" for p in c or () if p.type == "text")
        msg: dict[str, Any] = {"role": role, "content": text}
        imgs = _images(m)
        if imgs:
            msg["images"] = imgs
        if m.tool_calls:
            msg["tool_calls"] = []
            for t in m.tool_calls:
                names[t.id] = t.function.name
                fn = {"name": t.function.name, "arguments": _args_object(t.function.arguments)}
                msg["tool_calls"].append({"function": fn})
        if role == "tool":
            name = m.name or names.get(m.tool_call_id or "")
            if name:
                msg["tool_name"] = name
        out.append(msg)
    return out


def chat_body(req: ChatRequest, call: Call) -> dict[str, Any]:
    """The native request body (pure)."""
    extra = req.model_extra or {}
    options: dict[str, Any] = {}
    if req.output_limit is not None:
        options["num_predict"] = req.output_limit
    for k in ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty"):
        v = getattr(req, k)
        if v is not None:
            options[k] = v
    if req.stop is not None:
        options["stop"] = req.stop_list
    if isinstance(extra.get("options"), dict):
        options.update(extra["options"])
    body: dict[str, Any] = {
        "model": call.spec.wire_name,
        "messages": _messages(req),
        "stream": bool(call.stream),
    }
    if options:
        body["options"] = options
    if req.tools and req.tool_choice != "none":
        if req.tool_choice is not None and req.tool_choice != "auto":
            raise UnsupportedParameter(
                "ollama has no tool_choice: only `auto` (or `none`) can be honoured", param="tool_choice"
            )
        body["tools"] = [t.model_dump(mode="json", exclude_none=True) for t in req.tools]
    rf = req.response_format
    if rf is not None and rf.type == "json_object":
        body["format"] = "json"
    elif rf is not None and rf.type == "json_schema":
        schema = rf.json_schema.schema_ if rf.json_schema is not None else None
        body["format"] = schema or "json"
    if extra.get("think") is not None:
        body["think"] = extra["think"]
    elif req.reasoning_effort is not None:
        body["think"] = req.reasoning_effort not in ("none", "minimal")
    if extra.get("keep_alive") is not None:
        body["keep_alive"] = extra["keep_alive"]
    return body


# ---- answers -----------------------------------------------------------------------------------------------


def _call_id(seed: str, index: int, name: str, args: str) -> str:
    return "call_" + hashlib.sha256(f"{seed}\x1f{index}\x1f{name}\x1f{args}".encode()).hexdigest()[:24]


def _tool_calls(raw: Any, seed: str, offset: int = 0) -> list[ToolCall]:
    out: list[ToolCall] = []
    for j, t in enumerate(raw or ()):
        fn = t.get("function") or {}
        name = str(fn.get("name") or "")
        args = fn.get("arguments")
        text = args if isinstance(args, str) else orjson.dumps(args if args is not None else {}).decode()
        out.append(ToolCall(str(t.get("id") or _call_id(seed, offset + j, name, text)), name, text))
    return out


def _usage(obj: dict[str, Any]) -> Usage | None:
    if "prompt_eval_count" not in obj and "eval_count" not in obj:
        return None
    return Usage(int(obj.get("prompt_eval_count") or 0), int(obj.get("eval_count") or 0))


def _finish(obj: dict[str, Any], tools: bool) -> str:
    if tools:
        return "tool_calls"
    return "length" if obj.get("done_reason") == "length" else "stop"


class Ollama(Provider):
    name = "ollama"
    display_name = "Ollama (self-hosted, native API)"
    default_base_url = "http://127.0.0.1:11434"
    credential_format = (
        "none (Ollama has no auth; a credential is sent as a Bearer token to a proxy in front)"
    )
    docs_url = "https://docs.ollama.com/api"
    models = ()
    auth = BearerAuth()
    stream_format = "ndjson"
    emulator = "qiao.emulators.ollama:create_app"
    emulator_base_path = ""
    demo_credential = None
    demo_models: ClassVar[tuple[str, ...] | None] = (
        "qwen3:8b",
        "llama3.2:3b",
        "llava:7b",
        "nomic-embed-text",
    )
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {
        "gpt-4o-mini": ("qwen3:8b", 2),
        "text-embedding-3-small": ("nomic-embed-text", 2),
    }
    unsupported = frozenset(
        {
            "n",
            "logit_bias",
            "logprobs",
            "top_logprobs",
            "parallel_tool_calls",
            "functions",
            "function_call",
            "modalities",
            "audio",
            "prediction",
            "web_search_options",
            "verbosity",
        }
    )
    native_extras = frozenset({"options", "think", "keep_alive"})
    translations: ClassVar[dict[str, str]] = {
        "messages": "kept in order; developer → system; data: URL images → base64 `images`; tool results "
        "carry `tool_name`; assistant tool-call arguments go back as JSON objects",
        "stream": "always sent explicitly (Ollama defaults to true); NDJSON answers",
        "max_tokens / max_completion_tokens": "options.num_predict",
        "temperature / top_p / seed / stop / presence_penalty / frequency_penalty": "same names in options",
        "response_format": "json_object → format: json; json_schema → format: <schema>",
        "tools / tool_choice": "tools; tool_choice auto/none only; tool-call ids minted when missing, "
        "object arguments → JSON strings",
        "reasoning_effort": "think (none/minimal → false); message.thinking → reasoning_content",
        "usage": "prompt_eval_count / eval_count of the final (done) line",
        "user": "not sent",
    }

    def spec(self, model_id: str) -> ModelSpec | None:
        """Any model the account declares: Ollama serves whatever was pulled."""
        return model_spec(model_id) if model_id else None

    def _headers(self, call: Call) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/x-ndjson, application/json"}
        h.update(call.account.headers)
        return h

    def build_chat(self, req: ChatRequest, call: Call) -> WireRequest:
        body = orjson.dumps(chat_body(req, call))
        return WireRequest(
            "POST", self.base_url(call.account) + "/api/chat", self._headers(call), body, call.stream
        )

    def parse_chat(self, resp: WireResponse, req: ChatRequest, call: Call) -> ChatResponse:
        try:
            obj = orjson.loads(resp.body)
            m = obj.get("message") or {}
            tcs = _tool_calls(m.get("tool_calls"), str(obj.get("created_at") or call.request_id))
            content = m.get("content") or ""
            msg = ChatMessage(None if tcs and not content else content, tcs, m.get("thinking") or None)
            usage = _usage(obj) or Usage(estimated=True)
            return ChatResponse([ChatChoice(0, msg, _finish(obj, bool(tcs)))], usage, "", int(time.time()))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise provider_error(
                UpstreamError, self.name, f"unparsable answer ({exc})", body=resp.body
            ) from exc

    def parse_event(self, event: SSEEvent, state: StreamState) -> list[ChatChunk]:
        raw = event.data.strip()
        if not raw:
            return []
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise provider_error(
                UpstreamError, self.name, "malformed stream line", body=raw.encode()
            ) from exc
        if not isinstance(obj, dict):
            raise provider_error(UpstreamError, self.name, "stream line is not an object", body=raw.encode())
        if obj.get("error") is not None:
            raise classify_error(str(obj["error"]), 500, raw.encode())
        m = obj.get("message") or {}
        seen = int(state.extra.get("tools", 0))
        tcd = None
        if m.get("tool_calls"):
            calls = _tool_calls(m["tool_calls"], str(state.call.request_id), seen)
            tcd = [ToolCallDelta(seen + j, t.id, t.name, t.arguments) for j, t in enumerate(calls)]
            state.extra["tools"] = seen + len(calls)
        finish = None
        chunk = ChatChunk()
        if obj.get("done"):
            state.done = True
            finish = _finish(obj, bool(state.extra.get("tools")))
            usage = _usage(obj)
            if usage is not None:
                chunk.usage = state.usage = usage
        delta = Delta(None, m.get("content") or None, m.get("thinking") or None, tcd)
        chunk.choices.append(ChunkChoice(0, delta, finish))
        return [chunk]

    def classify(self, resp: WireResponse, call: Call) -> QiaoError | None:
        if resp.status < 400:
            text = _error_text(resp.body) if resp.body[:1] == b"{" and b'"error"' in resp.body[:200] else None
            return None if text is None else classify_error(text, 500, resp.body)
        text = _error_text(resp.body) or resp.body[:200].decode("utf-8", "replace") or f"HTTP {resp.status}"
        return classify_error(text, resp.status, resp.body)

    # ---- embeddings -------------------------------------------------------------------------------------
    def build_embeddings(self, req: EmbeddingRequest, inputs: list[str], call: Call) -> WireRequest:
        body = {"model": call.spec.wire_name, "input": inputs}
        return WireRequest(
            "POST", self.base_url(call.account) + "/api/embed", self._headers(call), orjson.dumps(body)
        )

    def parse_embeddings(self, resp: WireResponse, call: Call) -> EmbeddingResult:
        try:
            obj = orjson.loads(resp.body)
            vectors = [[float(x) for x in v] for v in obj["embeddings"]]
            n = int(obj.get("prompt_eval_count") or 0)
            return EmbeddingResult(vectors, Usage(n, 0) if n else Usage(estimated=True))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise provider_error(
                UpstreamError, self.name, f"unparsable embeddings ({exc})", body=resp.body
            ) from exc


provider = Ollama()
