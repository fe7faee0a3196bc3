"""``zhipu``: Zhipu AI's GLM models on the BigModel open platform, API v4 (智谱 ``/api/paas/v4``).

The v4 API is OpenAI-shaped, with differences this module translates (seed-four.md §2, checked against
the official ``zhipuai`` 2.1.5 SDK, which is the last word where it and the notes disagree):

Auth (``options: {auth: key | jwt}``, default ``key``)
    ``key``: ``Authorization: Bearer <id>.<secret>`` — what the official SDK sends by default, and no
    clock involved. ``jwt``: a self-signed HS256 token minted from the key exactly as the SDK does with
    ``disable_token_cache=False`` (header ``{"alg":"HS256","sign_type":"SIGN","typ":"JWT"}``, payload
    ``api_key``/``exp``/``timestamp`` in milliseconds, signed with the secret). Tokens live
    ``options.jwt_ttl_s`` seconds (default 1800; the SDK uses 210) and are reused until shortly before
    they expire; an "expired token" answer (1003) drops the cached token and the call is retried once.

Request
    * system / developer messages stay in ``messages`` (developer → system); a conversation without
      any user message gets its first system message sent as the user's (Zhipu refuses conversations
      of only system/assistant messages); ``name`` on messages is not sent (Zhipu has no such field).
    * ``temperature``: OpenAI's [0, 2] → Zhipu's (0, 1): 0 becomes ``do_sample: false`` (greedy; Zhipu
      then ignores temperature and top_p), other values are clamped to [0.01, 0.99] as the official SDK
      does (older GLM-4 models refuse 0 and 1). ``top_p`` is clamped to [0.01, 0.99] likewise.
    * ``max_completion_tokens`` / ``max_tokens`` → ``max_tokens``.
    * ``stop``: Zhipu takes one stop sequence. The first goes upstream; any others are applied here to
      the answer text (held back across stream deltas), ending the choice with ``stop`` as OpenAI would.
    * ``user`` (or ``safety_identifier``) → ``user_id``, which must be 6–128 characters: shorter or
      longer ids are replaced by a stable digest.
    * ``tools``: function tools as they are (``strict`` is not sent); ``tool_choice`` ``auto`` as is,
      ``none`` by not sending the tools; ``required`` and a named function are refused (400
      ``unsupported_parameter``): Zhipu only knows ``auto``, and a forced call cannot be guaranteed.
      Tool-call ids are Zhipu's; where one is missing a stable id is minted.
    * ``web_search_options`` → Zhipu's built-in ``web_search`` tool (citations are not passed back).
    * ``response_format`` ``json_object`` as is; ``json_schema`` is not supported.
    * ``reasoning_effort`` on thinking models (GLM-4.5+) → ``thinking: {type: enabled|disabled}``
      (``none``/``minimal`` disable thinking); reasoning comes back as ``reasoning_content``.
    * images: ``image_url`` parts for vision models; a ``data:`` URI is sent as bare base64, as the SDK
      does (the platform wants bare base64). GLM-4V-Flash takes one image, by URL only.
    * ``request_id`` is not sent by default (Zhipu refuses a repeated one with 1231, and qiao may retry a
      request); clients can pass Zhipu's own fields through ``extra_body``: ``do_sample``,
      ``request_id``, ``user_id``, ``thinking``, ``tool_stream``, ``sensitive_word_check``, ``meta``,
      ``extra``.
    * Not supported (400 ``unsupported_parameter``, or dropped with ``drop_params``): ``n`` > 1,
      ``presence_penalty``, ``frequency_penalty``, ``logit_bias``, ``logprobs``, ``top_logprobs``,
      ``parallel_tool_calls: false``, ``functions``/``function_call``, audio, ``prediction``,
      ``verbosity``.

Response
    Zhipu's body has no ``object``; the gateway renders OpenAI's. ``finish_reason`` ``sensitive`` →
    ``content_filter``; ``model_context_window_exceeded`` → ``length``; ``network_error`` (inference
    failed) has no OpenAI equivalent and becomes a retryable upstream error (an error event mid-stream).
    The stream is ``data: {chunk}`` … ``data: [DONE]`` with usage on the last chunk; without
    ``tool_stream`` a tool call arrives whole in one delta.

Errors
    ``{"error": {"code": "<string>", "message": …}}`` with an HTTP status; the code decides:
    1000–1004 auth → 401; 1110/1111/1112/1121/1220/1300 → 403; 1113 arrears → 429 insufficient_quota;
    1302/1303/1305 → 429 rate limit (1304 and 1308–1310, quotas over a day or a window, are rate
    limits that a retry will not cure); 1211 → 404 model_not_found; 1221/1222 → 404; 1231 → 409;
    1301 → 400 content_filter; 1261 / "too long" → 400 context_length_exceeded; other 12xx → 400;
    500/1230/1234 → 502; 1120 → 503.

Embeddings
    ``embedding-2`` (1024 dimensions, up to 16 inputs of ≤512 tokens per call: 8K tokens an array) and
    ``embedding-3`` (2048 by default; ``dimensions`` 256, 512, 1024 or 2048; up to 64 inputs a call).
    Other ``dimensions`` are refused rather than truncated (GLM vectors are not documented as
    shortenable).

Checked against the official SDK (zhipuai 2.1.5.20250825, tests/emulators/test_zhipu_sdk.py)
    * The notes say the JWT header has no ``typ``; the SDK's PyJWT adds ``"typ": "JWT"``. qiao mints the
      SDK's token byte for byte (the platform demonstrably accepts it).
    * The SDK sends ``"response_format": null`` and ``"thinking": null`` on every chat call; the emulator
      treats explicit nulls as absent.
    * Current docs allow temperature [0, 1] and top_p [0.01, 1]; the SDK still clamps both to
      [0.01, 0.99] and turns temperature ≤ 0 into ``do_sample: false``. qiao follows the SDK.
    * The SDK strips ``data:image/…;base64,`` from image URLs; so does qiao.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, ClassVar

import orjson

from ..catalogue import Capabilities, ModelSpec, PriceTier
from ..errors import (
    InvalidRequest,
    QiaoError,
    UnsupportedParameter,
    UpstreamError,
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
from ._zhipu_wire import NAME, StopFilter, ZhipuAuth, user_id_for, zhipu_error
from .base import (
    Call,
    Provider,
    SSEEvent,
    StreamState,
    WireRequest,
    WireResponse,
)
from .openai_compat import parse_usage

__all__ = ["MODELS", "Zhipu", "ZhipuAuth", "provider"]


_PRICES = "https://docs.bigmodel.cn/cn/guide/models/text/glm-4"
_PRICING = "https://open.bigmodel.cn/pricing"
_EMB = "https://docs.bigmodel.cn/api-reference/模型-api/文本嵌入"

_TEXT = Capabilities(tools=True, json_mode=True, seed=True)
_THINK = Capabilities(tools=True, json_mode=True, seed=True, reasoning=True)
_VISION = Capabilities(vision=True, seed=True)
_EMBED = Capabilities(chat=False, stream=False, embeddings=True, stream_usage=False)


def _cny(price: str, since: str, source: str, output: str | None = None) -> PriceTier:
    return PriceTier.per_mtok(price, output if output is not None else price, since=since, source=source)


# Prices: CNY per 1M tokens, input = output (embeddings: output 0). ``since`` is the date from which our
# sources attest the price (seed-four.md §2.7), not a vendor-announced change date, which is not
# established for most of them: ``_SNAPSHOT`` is one-api's price table (Feb 2025, read from the BigModel
# pricing page); 2025-04-14 is the GLM-4 "250414" release, after which the docs page shows its prices.
_SNAPSHOT = "2025-02-01"
_APR25 = "2025-04-14"

MODELS: tuple[ModelSpec, ...] = (
    # GLM-4-Plus: 50 in the Feb 2025 snapshot, 5 on the docs page of the 250414 series [UNCERTAIN day].
    ModelSpec("glm-4-plus", context=128_000, caps=_TEXT, max_output=4096, price=_cny("5", _APR25, _PRICES)),
    ModelSpec(
        "glm-4-air-250414", context=128_000, caps=_TEXT, max_output=16_384, price=_cny("0.5", _APR25, _PRICES)
    ),
    # GLM-4-Air launched June 2024 reportedly at 1 CNY, cut to 0.5 later [UNCERTAIN date].
    ModelSpec(
        "glm-4-air",
        context=128_000,
        caps=_TEXT,
        max_output=4096,
        price=_cny("0.5", _SNAPSHOT, _PRICING),
        deprecated="superseded by glm-4-air-250414",
    ),
    ModelSpec("glm-4-airx", context=8192, caps=_TEXT, max_output=4096, price=_cny("10", _SNAPSHOT, _PRICING)),
    ModelSpec(
        "glm-4-long", context=1_000_000, caps=_TEXT, max_output=4096, price=_cny("1", _SNAPSHOT, _PRICING)
    ),
    # Free since 2024, commonly reported as from 27 August 2024 [UNCERTAIN date].
    ModelSpec(
        "glm-4-flash", context=128_000, caps=_TEXT, max_output=4096, price=_cny("0", "2024-08-27", _PRICING)
    ),
    ModelSpec(
        "glm-4-flash-250414", context=128_000, caps=_TEXT, max_output=16_384, price=_cny("0", _APR25, _PRICES)
    ),
    ModelSpec(
        "glm-4-flashx", context=128_000, caps=_TEXT, max_output=4096, price=_cny("0.1", _SNAPSHOT, _PRICING)
    ),
    ModelSpec(
        "glm-4-flashx-250414",
        context=128_000,
        caps=_TEXT,
        max_output=16_384,
        price=_cny("0.1", _APR25, _PRICES),
    ),
    ModelSpec(
        "glm-4v-plus", context=8192, caps=_VISION, max_output=1024, price=_cny("4", _SNAPSHOT, _PRICING)
    ),
    ModelSpec(
        "glm-4v-flash", context=8192, caps=_VISION, max_output=1024, price=_cny("0", _SNAPSHOT, _PRICING)
    ),
    # Thinking models: priced per input-length tier with cache rates, which one PriceTier cannot
    # express; outside the founding price scope (seed-four.md §2.7), so no price is claimed.
    ModelSpec("glm-4.5", context=128_000, caps=_THINK, max_output=98_304),
    ModelSpec("glm-4.6", context=200_000, caps=_THINK, max_output=131_072),
    ModelSpec(
        "embedding-2",
        context=512,
        caps=_EMBED,
        dimensions=1024,
        embedding_batch=16,
        price=_cny("0.5", _SNAPSHOT, _EMB, output="0"),
    ),
    ModelSpec(
        "embedding-3",
        context=3072,
        caps=_EMBED,
        dimensions=2048,
        embedding_batch=64,
        price=_cny("0.5", _SNAPSHOT, _EMB, output="0"),
    ),
)

_EMBED_DIMENSIONS: dict[str, tuple[int, ...]] = {
    "embedding-2": (1024,),
    "embedding-3": (256, 512, 1024, 2048),
}
_ONE_IMAGE_URL_ONLY = frozenset({"glm-4v-flash"})

_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "sensitive": "content_filter",
    "model_context_window_exceeded": "length",
    "content_filter": "content_filter",
}


def _clamp(v: float) -> float:
    return min(max(round(v, 2), 0.01), 0.99)


def _mint_call_id(seed: str, name: str, args: str, index: int) -> str:
    return "call_" + hashlib.sha256(f"{seed}\x1f{name}\x1f{args}\x1f{index}".encode()).hexdigest()[:24]


class Zhipu(Provider):
    name = NAME
    display_name = "Zhipu AI GLM (BigModel v4)"
    default_base_url = "https://open.bigmodel.cn/api/paas/v4"
    credential_format = (
        "API key '<id>.<secret>' from open.bigmodel.cn; sent as a Bearer key, or with "
        "options.auth: jwt as a self-signed HS256 token"
    )
    docs_url = "https://docs.bigmodel.cn/api-reference/模型-api/对话补全"
    models = MODELS
    stream_format = "sse"
    emulator = "qiao.emulators.zhipu:create_app"
    emulator_base_path = "/api/paas/v4"
    # No default outbound limits: Zhipu caps concurrent requests per model with quotas that grow with the
    # account's spend tier, and the default numbers are not published (seed-four.md §2.8).
    default_limits: ClassVar[dict[str, int]] = {}
    demo_credential = "emulatorid.emulatorsecret"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {
        "gpt-4o": ("glm-4-plus", 30),
        "gpt-4o-mini": ("glm-4-flash", 30),
        "text-embedding-3-small": ("embedding-3", 30),
    }
    unsupported = frozenset(
        {
            "presence_penalty",
            "frequency_penalty",
            "logit_bias",
            "logprobs",
            "top_logprobs",
            "n",
            "parallel_tool_calls",
            "functions",
            "function_call",
            "modalities",
            "audio",
            "prediction",
            "verbosity",
        }
    )
    native_extras = frozenset(
        {
            "do_sample",
            "request_id",
            "user_id",
            "thinking",
            "tool_stream",
            "sensitive_word_check",
            "meta",
            "extra",
        }
    )
    translations: ClassVar[dict[str, str]] = {
        "messages": "system/developer kept in messages (developer → system); without a user message the "
        "first system message is sent as the user's; `name` not sent; data: image URIs sent "
        "as bare base64",
        "temperature": "0 → do_sample: false; otherwise clamped to [0.01, 0.99] (Zhipu's open interval)",
        "top_p": "clamped to [0.01, 0.99]",
        "max_tokens / max_completion_tokens": "max_tokens",
        "stop": "first sequence sent upstream (Zhipu takes one); the others applied by qiao to the text",
        "user / safety_identifier": "user_id (6–128 characters; other lengths replaced by a stable digest)",
        "tools": "function tools as they are (`strict` not sent)",
        "tool_choice": "auto as is; none → tools not sent; required / a named function → 400",
        "web_search_options": "Zhipu's web_search tool (citations not returned)",
        "response_format": "json_object as is; json_schema unsupported",
        "reasoning_effort": "thinking models: none/minimal → thinking disabled, others → enabled",
        "seed": "as is",
        "stream_options.include_usage": "not needed: Zhipu always sends usage on the last chunk",
    }

    def __init__(self) -> None:
        self.auth = ZhipuAuth()

    # ---- chat -----------------------------------------------------------------------------------------
    def build_chat(self, req: ChatRequest, call: Call) -> WireRequest:
        spec = call.spec
        body: dict[str, Any] = {"model": spec.wire_name, "messages": self._messages(req.messages, spec)}
        if req.temperature is not None:
            if req.temperature <= 0:
                body["do_sample"] = False
            else:
                body["temperature"] = _clamp(req.temperature)
        if req.top_p is not None and body.get("do_sample") is not False:
            body["top_p"] = _clamp(req.top_p)
        if req.output_limit is not None:
            body["max_tokens"] = req.output_limit
        stops = req.stop_list
        if stops:
            body["stop"] = [stops[0]]
        user = req.user or req.safety_identifier
        if user:
            body["user_id"] = user_id_for(user)
        if req.seed is not None:
            body["seed"] = req.seed
        tools = self._tools(req)
        if tools:
            body["tools"] = tools
            if any(t["type"] == "function" for t in tools):
                body["tool_choice"] = "auto"
        if req.response_format is not None and req.response_format.type == "json_object":
            body["response_format"] = {"type": "json_object"}
        if req.reasoning_effort is not None:
            if not spec.caps.reasoning:
                raise UnsupportedParameter(
                    f"{NAME}/{spec.id} is not a thinking model: 'reasoning_effort' is not supported",
                    param="reasoning_effort",
                )
            off = req.reasoning_effort in ("none", "minimal")
            body["thinking"] = {"type": "disabled" if off else "enabled"}
        for k, v in (req.model_extra or {}).items():
            if k in self.native_extras and v is not None:
                body[k] = v
        if call.stream:
            body["stream"] = True
        headers = {"Content-Type": "application/json"}
        headers.update(call.account.headers)
        url = self.base_url(call.account) + "/chat/completions"
        return WireRequest("POST", url, headers, orjson.dumps(body), call.stream)

    def _messages(self, messages: list[Message], spec: ModelSpec) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        images = 0
        for m in messages:
            if m.role == "function":
                raise UnsupportedParameter(
                    "legacy 'function' messages are not supported by zhipu; use tools and 'tool' messages",
                    param="messages",
                )
            msg: dict[str, Any] = {"role": "system" if m.role == "developer" else m.role}
            if isinstance(m.content, list):
                parts: list[dict[str, Any]] = []
                for p in m.content:
                    if p.type == "text":
                        parts.append({"type": "text", "text": p.text or ""})
                    elif p.type == "image_url" and p.image_url is not None:
                        images += 1
                        url = self._image(p.image_url.url, spec)
                        parts.append({"type": "image_url", "image_url": {"url": url}})
                    else:
                        raise UnsupportedParameter(
                            f"zhipu does not accept '{p.type}' content parts", param="messages"
                        )
                if spec.caps.vision and m.role == "user":
                    msg["content"] = parts
                else:
                    msg["content"] = "".join(p.get("text", "") for p in parts)
            else:
                msg["content"] = m.content
            if m.tool_calls:
                msg["tool_calls"] = [
                    {
                        "id": t.id,
                        "type": "function",
                        "function": {"name": t.function.name, "arguments": t.function.arguments},
                    }
                    for t in m.tool_calls
                ]
            if m.role == "tool":
                msg["tool_call_id"] = m.tool_call_id
            out.append(msg)
        if images > 1 and spec.id in _ONE_IMAGE_URL_ONLY:
            raise UnsupportedParameter(f"{NAME}/{spec.id} accepts one image per request", param="messages")
        if not any(m["role"] == "user" for m in out):
            for wire_msg in out:
                if wire_msg["role"] == "system":
                    wire_msg["role"] = "user"
                    break
        return out

    @staticmethod
    def _image(url: str, spec: ModelSpec) -> str:
        if url.startswith("data:"):
            if spec.id in _ONE_IMAGE_URL_ONLY:
                raise UnsupportedParameter(
                    f"{NAME}/{spec.id} takes images by URL only, not inline base64", param="messages"
                )
            return url.split("base64,", 1)[-1]
        return url

    @staticmethod
    def _tools(req: ChatRequest) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        tc = req.tool_choice
        if req.tools and tc != "none":
            if tc is not None and tc != "auto":
                raise UnsupportedParameter(
                    "zhipu supports only tool_choice 'auto' (and 'none'); a forced "
                    "tool call cannot be guaranteed",
                    param="tool_choice",
                )
            for t in req.tools:
                fn: dict[str, Any] = {"name": t.function.name}
                if t.function.description is not None:
                    fn["description"] = t.function.description
                if t.function.parameters is not None:
                    fn["parameters"] = t.function.parameters
                out.append({"type": "function", "function": fn})
        if req.web_search_options is not None:
            out.append({"type": "web_search", "web_search": {"enable": True}})
        return out

    def parse_chat(self, resp: WireResponse, req: ChatRequest, call: Call) -> ChatResponse:
        try:
            data = orjson.loads(resp.body)
            extra_stops = StopFilter(tuple(req.stop_list[1:]))
            choices: list[ChatChoice] = []
            for pos, c in enumerate(data["choices"]):
                fr = c.get("finish_reason") or "stop"
                if fr == "network_error":
                    raise provider_error(
                        UpstreamError,
                        NAME,
                        "inference failed (finish_reason network_error)",
                        vendor_code="network_error",
                        upstream_status=resp.status,
                        body=resp.body,
                    )
                m = c.get("message") or {}
                calls = [
                    ToolCall(
                        t.get("id")
                        or _mint_call_id(
                            call.request_id, t["function"]["name"], t["function"].get("arguments") or "", i
                        ),
                        t["function"]["name"],
                        t["function"].get("arguments") or "",
                    )
                    for i, t in enumerate(m.get("tool_calls") or [])
                    if t.get("type", "function") == "function"
                ]
                content = m.get("content")
                finish = _FINISH.get(fr, fr)
                if content and extra_stops.stops:
                    content, hit = extra_stops.cut(content)
                    if hit:
                        finish = "stop"
                choices.append(
                    ChatChoice(
                        int(c.get("index", pos)),
                        ChatMessage(content, calls, m.get("reasoning_content")),
                        finish,
                    )
                )
            usage = parse_usage(data.get("usage")) or Usage(estimated=True)
            created = int(data.get("created") or time.time())
            return ChatResponse(choices, usage, str(data.get("id") or ""), created)
        except (KeyError, TypeError, ValueError) as exc:
            raise provider_error(UpstreamError, NAME, f"unparsable answer ({exc})", body=resp.body) from exc

    def parse_event(self, event: SSEEvent, state: StreamState) -> list[ChatChunk]:
        data = event.data
        if data.startswith("[DONE]"):
            state.done = True
            return []
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise provider_error(UpstreamError, NAME, "malformed stream event", body=data.encode()) from exc
        if not isinstance(obj, dict):
            raise provider_error(UpstreamError, NAME, "malformed stream event", body=data.encode())
        if obj.get("error"):
            raise zhipu_error(obj, 200, data.encode(), None)
        stops: StopFilter | None = state.extra.get("stops")
        if stops is None:
            stops = state.extra["stops"] = StopFilter(tuple(state.request.stop_list[1:]))
        ids: dict[tuple[int, int], str] = state.extra.setdefault("tool_ids", {})
        chunk = ChatChunk()
        for c in obj.get("choices") or ():
            i = int(c.get("index", 0))
            d = c.get("delta") or {}
            fr = c.get("finish_reason")
            if fr == "network_error":
                raise provider_error(
                    UpstreamError,
                    NAME,
                    "inference failed mid-stream (finish_reason network_error)",
                    vendor_code="network_error",
                    body=data.encode(),
                )
            if i in stops.stopped:
                continue  # ended here by one of qiao's stop sequences: the rest is not the client's
            content = d.get("content")
            stopped = False
            if stops.stops:
                if content:
                    content, stopped = stops.feed(i, content)
                if fr and not stopped:
                    content = (content or "") + stops.flush(i)
            tcd: list[ToolCallDelta] | None = None
            if d.get("tool_calls") and not stopped:
                tcd = []
                for j, t in enumerate(d["tool_calls"]):
                    fn = t.get("function") or {}
                    k = int(t.get("index", j))
                    tid = t.get("id")
                    if (i, k) not in ids:
                        tid = ids[(i, k)] = tid or _mint_call_id(
                            state.call.request_id, fn.get("name") or "", "", k
                        )
                    tcd.append(ToolCallDelta(k, tid, fn.get("name"), fn.get("arguments")))
            finish = "stop" if stopped else (_FINISH.get(fr, fr) if fr else None)
            chunk.choices.append(
                ChunkChoice(i, Delta(None, content or None, d.get("reasoning_content"), tcd), finish)
            )
        if obj.get("usage"):
            chunk.usage = parse_usage(obj["usage"])
        return [chunk]

    # ---- errors ---------------------------------------------------------------------------------------
    def classify(self, resp: WireResponse, call: Call) -> QiaoError | None:
        try:
            obj = orjson.loads(resp.body) if resp.body else None
        except orjson.JSONDecodeError:
            obj = None
        if resp.status < 400:
            if isinstance(obj, dict) and obj.get("error") and "choices" not in obj and "data" not in obj:
                return zhipu_error(obj, resp.status, resp.body, resp)  # an error in a 200 body
            return None
        return zhipu_error(obj, resp.status, resp.body, resp)

    # ---- embeddings -----------------------------------------------------------------------------------
    def build_embeddings(self, req: EmbeddingRequest, inputs: list[str], call: Call) -> WireRequest:
        spec = call.spec
        body: dict[str, Any] = {"model": spec.wire_name, "input": inputs}
        if req.dimensions is not None:
            allowed = _EMBED_DIMENSIONS.get(spec.id, (spec.dimensions,) if spec.dimensions else ())
            if req.dimensions not in allowed:
                raise InvalidRequest(
                    f"{NAME}/{spec.id} supports dimensions "
                    f"{', '.join(map(str, allowed)) or 'none'}, not {req.dimensions}",
                    param="dimensions",
                )
            if len(allowed) > 1:
                body["dimensions"] = req.dimensions
        headers = {"Content-Type": "application/json"}
        headers.update(call.account.headers)
        return WireRequest("POST", self.base_url(call.account) + "/embeddings", headers, orjson.dumps(body))

    def parse_embeddings(self, resp: WireResponse, call: Call) -> EmbeddingResult:
        try:
            data = orjson.loads(resp.body)
            items = sorted(data["data"], key=lambda d: int(d.get("index", 0)))
            vectors = [[float(x) for x in d["embedding"]] for d in items]
            usage = parse_usage(data.get("usage")) or Usage(estimated=True)
            return EmbeddingResult(vectors, Usage(usage.prompt_tokens, 0, estimated=usage.estimated))
        except (KeyError, TypeError, ValueError) as exc:
            raise provider_error(
                UpstreamError, NAME, f"unparsable embeddings ({exc})", body=resp.body
            ) from exc


provider = Zhipu()
