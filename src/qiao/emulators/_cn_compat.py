"""A configurable emulator for OpenAI-shaped Chinese vendors (DeepSeek, Qwen compatible mode, Moonshot,
Ark, Hunyuan, StepFun, 01.AI).

Each vendor module subclasses :class:`CompatEmulator`, names its paths, credential, models and error
vocabulary, and overrides the hooks where the vendor differs from OpenAI (validation, answer shape,
stream shape, output-moderation signal). Answers come from the shared engine through the helpers of
:mod:`qiao.emulators.openai_compat` (``gen_request``, ``completion_body``, ``chunk_events``,
``error_body``), so every vendor answers the same prompt the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from ._asgi import CutStream, EmulatorApp, EmulatorOptions, Request, Response, json_response, stream_response
from ._engine import GenChoice, GenRequest, detect_scenario, embed
from .openai_compat import KNOWN_PARAMS, chunk_events, completion_body, error_body, gen_request

__all__ = ["CompatEmulator", "EmuModel", "ScenarioError"]


@dataclass(frozen=True, slots=True)
class EmuModel:
    context: int
    dim: int | None = None
    """Embedding dimension (an embedding model), else None."""
    reasoning: bool = False
    """Thinks by default."""
    batch: int = 0
    """Embedding rows per call (0 = no limit)."""


@dataclass(frozen=True, slots=True)
class ScenarioError:
    status: int
    message: str
    type: str | None
    code: str | None
    retry_after: str | None = None


class CompatEmulator:
    """One OpenAI-shaped vendor. Subclasses set the class attributes and override hooks."""

    name: ClassVar[str] = "compat"
    prefixes: ClassVar[tuple[str, ...]] = ("/v1",)
    default_credential: ClassVar[str] = "sk-emulator"
    models: ClassVar[dict[str, EmuModel]] = {}
    extra_params: ClassVar[frozenset[str]] = frozenset()
    """Vendor body fields accepted besides OpenAI's."""
    reject_unknown: ClassVar[bool] = False
    """Unknown body fields → 400 (most vendors ignore them)."""
    reasoning_field: ClassVar[str] = "reasoning_content"
    temperature_max: ClassVar[float] = 2.0
    temperature_max_open: ClassVar[bool] = False
    top_p_min_open: ClassVar[bool] = False
    n_max: ClassVar[int] = 128
    scenarios: ClassVar[dict[str, ScenarioError]] = {}
    bad_key: ClassVar[ScenarioError] = ScenarioError(
        401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
    )

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        self.options = options or EmulatorOptions()
        self.expected = (
            self.default_credential if self.options.credential is None else self.options.credential
        )
        self.counter = 0

    # ---- vocabulary -----------------------------------------------------------------------------------
    def error(
        self,
        status: int,
        message: str,
        type_: str | None,
        code: str | None = None,
        param: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> Response:
        """The vendor's error envelope (default: OpenAI's)."""
        return json_response(
            error_body(message, type_ or "invalid_request_error", param, code), status, headers
        )

    def scenario_error(self, e: ScenarioError) -> Response:
        headers = [("retry-after", e.retry_after)] if e.retry_after else None
        return self.error(e.status, e.message, e.type, e.code, headers=headers)

    def model_not_found(self, model: str) -> Response:
        return self.error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )

    def context_exceeded(self, limit: int, asked: int) -> Response:
        return self.error(
            400,
            f"This model's maximum context length is {limit} tokens. However, you requested {asked} tokens.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        )

    # ---- hooks ----------------------------------------------------------------------------------------
    def lookup(self, model: str) -> EmuModel | None:
        return self.models.get(model)

    def lookup_embedding(self, model: str) -> EmuModel | None:
        return self.models.get(model)

    def check_auth(self, req: Request) -> Response | None:
        if not self.expected:
            return None
        if (req.header("authorization") or "") != f"Bearer {self.expected}":
            return self.scenario_error(self.bad_key)
        return None

    def validate(self, body: dict[str, Any], info: EmuModel) -> Response | None:
        """Vendor rules beyond the common ones (called with explicit nulls already removed)."""
        return None

    def thinks(self, body: dict[str, Any], info: EmuModel) -> bool:
        return info.reasoning

    def shape_completion(self, out: dict[str, Any], body: dict[str, Any], choices: list[GenChoice]) -> None:
        """Change a non-streaming answer in place."""

    def shape_chunks(
        self, events: list[dict[str, Any]], body: dict[str, Any], choices: list[GenChoice], prompt: int
    ) -> list[dict[str, Any]]:
        """Change the stream's chunk objects (usage placement, finish reasons…)."""
        return events

    def filtered_midway(self, events: list[dict[str, Any]], cut: int) -> list[bytes]:
        """What the vendor sends when output moderation stops an answer (default: a content_filter finish)."""
        last = dict(events[cut])
        last["choices"] = [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "content_filter"}]
        return [b"data: " + orjson.dumps(last) + b"\n\n", b"data: [DONE]\n\n"]

    def stream_prelude(self) -> list[bytes]:
        return []

    def body_prefix(self) -> bytes:
        return b""

    # ---- the app --------------------------------------------------------------------------------------
    def _common_checks(self, body: Any) -> Response | None:
        if not isinstance(body, dict):
            return self.error(
                400, "We could not parse the JSON body of your request.", "invalid_request_error"
            )
        if self.reject_unknown:
            for k in body:
                if k not in KNOWN_PARAMS and k not in self.extra_params:
                    return self.error(
                        400, f"Unrecognized request argument supplied: {k}", "invalid_request_error", None, k
                    )
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self.error(
                400, "you must provide a model parameter", "invalid_request_error", None, "model"
            )
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return self.error(
                400, "'messages' must be a non-empty array", "invalid_request_error", None, "messages"
            )
        t = body.get("temperature")
        if t is not None:
            hi = self.temperature_max
            ok = isinstance(t, int | float) and 0 <= t and (t < hi if self.temperature_max_open else t <= hi)
            if not ok:
                bound = f"[0, {hi})" if self.temperature_max_open else f"[0, {hi}]"
                return self.error(
                    400,
                    f"temperature must be in {bound}, got {t}",
                    "invalid_request_error",
                    None,
                    "temperature",
                )
        p = body.get("top_p")
        if p is not None:
            ok = isinstance(p, int | float) and (0 < p if self.top_p_min_open else 0 <= p) and p <= 1
            if not ok:
                return self.error(
                    400, f"top_p must be in (0, 1], got {p}", "invalid_request_error", None, "top_p"
                )
        n = body.get("n")
        if n is not None and not (isinstance(n, int) and 1 <= n <= self.n_max):
            return self.error(
                400, f"n must be between 1 and {self.n_max}", "invalid_request_error", None, "n"
            )
        return None

    async def chat(self, req: Request) -> Response:
        if (e := self.check_auth(req)) is not None:
            return e
        try:
            raw = req.json()
        except orjson.JSONDecodeError:
            raw = None
        body = {k: v for k, v in raw.items() if v is not None} if isinstance(raw, dict) else raw
        if (bad := self._common_checks(body)) is not None:
            return bad
        assert isinstance(body, dict)
        info = self.lookup(body["model"])
        if info is None or info.dim is not None:
            return self.model_not_found(body["model"])
        if (bad := self.validate(body, info)) is not None:
            return bad
        g = gen_request(body, reasoning=self.thinks(body, info))
        scn, arg = detect_scenario(
            [t for _, t in g.messages], req.header("x-emulator-scenario"), self.options.scenario
        )
        if scn == "bad_key":
            return self.scenario_error(self.bad_key)
        if scn in self.scenarios:
            return self.scenario_error(self.scenarios[scn])
        prompt = g.prompt_tokens
        limit = g.max_tokens or 0
        if prompt + limit > info.context:
            return self.context_exceeded(info.context, prompt + limit)
        self.counter += 1
        rid = f"chatcmpl-{self.name}{self.counter:06d}"
        choices = self.generate(g)
        delay = (arg or self.options.slow_first_byte) if scn == "slow_first_byte" else 0.0
        if scn == "hang":
            delay = 3600.0
        if not body.get("stream"):
            out = completion_body(choices, body["model"], prompt, rid, self.reasoning_field)
            self.shape_completion(out, body, choices)
            resp = Response(200, self.body_prefix() + orjson.dumps(out), "application/json")
            resp.delay = delay
            return resp
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = chunk_events(choices, body["model"], prompt, rid, include_usage, self.reasoning_field)
        reasoning_tokens = sum(len(c.reasoning or "") // 2 for c in choices)
        for ev in events:
            if ev.get("usage"):  # the include_usage chunk, with the details non-streaming answers have
                ev["usage"]["prompt_tokens_details"] = {"cached_tokens": 0}
                ev["usage"]["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
        events = self.shape_chunks(events, body, choices, prompt)
        return stream_response(self._sse(events, delay, scn))

    def generate(self, g: GenRequest) -> list[GenChoice]:
        from ._engine import generate

        return generate(g)

    async def _sse(self, events: list[dict[str, Any]], delay: float, scn: str | None) -> AsyncIterator[bytes]:
        for piece in self.stream_prelude():
            yield piece
        if delay:
            await asyncio.sleep(delay)
        cut = len(events) // 2 if scn in ("cut_stream", "filtered_midway") else -1
        for i, ev in enumerate(events):
            if i == cut:
                if scn == "filtered_midway":
                    for piece in self.filtered_midway(events, cut):
                        yield piece
                    return
                raise CutStream()
            yield b"data: " + orjson.dumps(ev) + b"\n\n"
        yield b"data: [DONE]\n\n"

    async def embeddings(self, req: Request) -> Response:
        if (e := self.check_auth(req)) is not None:
            return e
        raw = req.json()
        body = {k: v for k, v in raw.items() if v is not None} if isinstance(raw, dict) else {}
        info = self.lookup_embedding(str(body.get("model") or ""))
        if info is None or info.dim is None:
            return self.model_not_found(str(body.get("model") or ""))
        inp = body.get("input")
        inputs = [inp] if isinstance(inp, str) else list(inp or [])
        if not inputs:
            return self.error(400, "'input' must not be empty", "invalid_request_error", None, "input")
        if info.batch and len(inputs) > info.batch:
            return self.error(
                400,
                f"batch size is invalid, it should not be larger than {info.batch}.",
                "invalid_request_error",
                "InvalidParameter",
                "input",
            )
        dim = int(body.get("dimensions") or info.dim)
        data, tokens = [], 0
        for i, text in enumerate(inputs):
            s = text if isinstance(text, str) else " ".join(map(str, text))
            tokens += max(1, len(s) // 3)
            data.append({"object": "embedding", "index": i, "embedding": embed(s, dim)})
        return json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def list_models(self, req: Request) -> Response:
        if (e := self.check_auth(req)) is not None:
            return e
        return json_response(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 1715367049, "owned_by": self.name}
                    for m in self.models
                ],
            }
        )

    def app(self) -> EmulatorApp:
        app = EmulatorApp(self.name, self.options)
        for prefix in self.prefixes:
            app.route("POST", prefix + "/chat/completions")(self.chat)
            app.route("GET", prefix + "/models")(self.list_models)
            if any(m.dim is not None for m in self.models.values()):
                app.route("POST", prefix + "/embeddings")(self.embeddings)
        return app
