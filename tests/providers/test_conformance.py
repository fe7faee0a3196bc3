"""The shared conformance suite (STYLE.md §3): each registered provider × the capabilities its models declare.

Each provider's emulator runs under uvicorn on a free loopback port in a background thread (one per
provider per module, started on first use, via ``tests.conftest.emulator_in_thread``); a
:class:`~qiao.config.Settings` with one account pointing at it feeds a :class:`~qiao.gateway.pipeline.Gateway`,
driven directly:

* chat, non-streaming → OpenAI's response shape;
* stream → OpenAI's exact framing (role-first chunk, ``finish_reason`` chunk, usage chunk only with
  ``include_usage``, ``data: [DONE]`` last), with and without ``include_usage``;
* tools → a tool call with an id, and a text answer after the tool result (also streamed);
* JSON mode → valid JSON; vision → an answer to an image; embeddings → one vector per input, of the
  declared dimension, across the provider's batch limit.

It also fails when a provider has no emulator, or when a :class:`~qiao.types.ChatRequest` field is neither
translated (named by a key of ``translations``, or the passthrough marker ``"*"``) nor ``unsupported`` (the
bookkeeping fields in ``gateway/params.py``'s ``HARMLESS`` excepted); every ``unsupported`` field is refused
with 400 ``unsupported_parameter`` (or dropped under ``drop_params``), and every translated field, sent with a
typical value, yields a request the provider's emulator accepts. New providers join by registering.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest

from qiao.catalogue import ModelSpec
from qiao.config import Settings
from qiao.emulators import EmulatorOptions, load_emulator
from qiao.gateway.params import HARMLESS
from qiao.gateway.pipeline import Gateway, RequestContext
from qiao.providers._registry import all_providers, get_provider
from qiao.providers.base import Provider
from qiao.providers.openai_compat import generic_spec
from qiao.types import ChatRequest, EmbeddingRequest
from tests.conftest import emulator_in_thread

PROVIDERS = all_providers()
CAPABILITIES = ("chat", "stream", "tools", "json_mode", "vision", "embeddings")
# Which public name a capability's model is preferably taken from (a provider's demo aliases).
_PREFERRED = {"embeddings": ("text-embedding-3-small",)}
_PREFERRED_CHAT = ("gpt-4o", "gpt-4o-mini")

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
# 1×1 red PNG.
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx"
    "0gAAAABJRU5ErkJggg=="
)


def translated(p: Provider) -> set[str]:
    """Field names a provider's ``translations`` keys mention: a key may name several (``"tools / tool_choice"``)
    or a sub-field (``"stream_options.include_usage"``); ``"*"`` (forward everything) is kept as is."""
    out: set[str] = set()
    for key in p.translations:
        for part in re.split(r"[/,]", key):
            name = part.strip().split(".", 1)[0].strip("` ")
            if name:
                out.add(name)
    return out


def _specs(p: Provider) -> list[ModelSpec]:
    if p.models:
        return list(p.models)
    # as the resolver does: the provider's own spec for a declared model first (Ollama guesses from the name)
    return [p.spec(m) or generic_spec(m) for m in p.demo_models or ()]


def _has(spec: ModelSpec, cap: str) -> bool:
    if cap == "embeddings":
        return spec.caps.embeddings
    if not spec.caps.chat:
        return False
    return cap == "chat" or bool(getattr(spec.caps, cap))


def spec_for(p: Provider, cap: str) -> ModelSpec | None:
    """The model a capability is tested on: the demo alias's model when it has it, else the first."""
    specs = [s for s in _specs(p) if _has(s, cap)]
    if not specs:
        return None
    for alias in _PREFERRED.get(cap, _PREFERRED_CHAT):
        target = p.demo_aliases.get(alias)
        for s in specs:
            if target is not None and s.id == target[0]:
                return s
    if cap != "embeddings":  # a generic catalogue says every model embeds: prefer an embedding-named one
        return specs[0]
    return next((s for s in specs if "embed" in s.id.lower()), specs[0])


def _cases() -> list[Any]:
    out = []
    for p in PROVIDERS:
        for cap in CAPABILITIES:
            spec = spec_for(p, cap)
            if spec is not None:
                out.append(pytest.param(p.name, cap, spec.id, id=f"{p.name}-{cap}"))
    return out


CASES = _cases()


def _cases_for(cap: str) -> list[Any]:
    return [c for c in CASES if c.values[1] == cap]


# ---- emulators on loopback ------------------------------------------------------------------------------
class Emulators:
    """One running emulator per provider, started on first use, stopped at module teardown."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._urls: dict[str, str] = {}

    def url(self, slug: str) -> str:
        if slug not in self._urls:
            srv = self._stack.enter_context(emulator_in_thread(slug))
            self._urls[slug] = srv.url
        return self._urls[slug]

    def close(self) -> None:
        self._stack.close()
        self._urls.clear()


@pytest.fixture(scope="module")
def emulators() -> Iterator[Emulators]:
    emus = Emulators()
    try:
        yield emus
    finally:
        emus.close()


@contextlib.asynccontextmanager
async def gateway_for(emulators: Emulators, slug: str) -> AsyncIterator[Gateway]:
    p = get_provider(slug)
    account: dict[str, Any] = {"provider": slug, "base_url": emulators.url(slug) + p.emulator_base_path}
    if p.demo_credential:
        account["credential"] = p.demo_credential
    if not p.models:
        account["models"] = list(p.demo_models or ())
    gw = Gateway(Settings.model_validate({"accounts": [account]}))
    try:
        yield gw
    finally:
        await gw.aclose()


def ctx() -> RequestContext:
    return RequestContext(f"conf{time.monotonic_ns()}", None)


def chat_request(slug: str, model: str, **kw: Any) -> ChatRequest:
    body = {
        "model": f"{slug}/{model}",
        "messages": [{"role": "user", "content": "Tell me about rivers"}],
        **kw,
    }
    return ChatRequest.from_raw(body)


async def stream_bytes(gw: Gateway, req: ChatRequest) -> bytes:
    statuses: list[int] = []
    parts: list[bytes] = []
    ended: list[bool] = []

    async def start(status: int, headers: list[tuple[bytes, bytes]]) -> None:
        assert not statuses, "start called twice"
        statuses.append(status)

    async def send(data: bytes, more: bool) -> None:
        assert statuses, "body before start"
        assert not ended, "body after the last part"
        parts.append(data)
        if not more:
            ended.append(True)

    await gw.chat_stream(req, ctx(), start, send)
    assert statuses == [200] and ended == [True]
    return b"".join(parts)


def parse_frames(raw: bytes) -> list[Any]:
    assert raw.endswith(b"\n\n")
    out: list[Any] = []
    for block in raw.decode().split("\n\n")[:-1]:
        assert block.startswith("data: ") and "\n" not in block, block
        data = block[len("data: ") :]
        out.append(data if data == "[DONE]" else orjson.loads(data))
    return out


def check_framing(frames: list[Any], public: str, include_usage: bool) -> dict[str, Any]:
    """OpenAI's exact framing. Returns {"text", "tool_calls", "finish", "usage"} of choice 0."""
    assert frames[-1] == "[DONE]" and "[DONE]" not in frames[:-1]
    chunks = frames[:-1]
    assert chunks, "no chunk before [DONE]"
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1
    for c in chunks:
        assert c["object"] == "chat.completion.chunk" and c["model"] == public
        assert ("usage" in c) == include_usage
    first = chunks[0]["choices"][0]
    assert first["index"] == 0 and first["finish_reason"] is None
    assert first["delta"] == {"role": "assistant", "content": "", "refusal": None}
    usage = None
    if include_usage:
        last = chunks[-1]
        assert last["choices"] == [] and isinstance(last["usage"], dict)
        usage = last["usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        assert all(c["usage"] is None for c in chunks[:-1])
        chunks = chunks[:-1]
    text, finish, tool_calls = "", None, {}
    for c in chunks[1:]:
        assert len(c["choices"]) == 1
        ch = c["choices"][0]
        assert finish is None, "a chunk after finish_reason"
        assert "role" not in ch["delta"], "role sent twice"
        if ch["finish_reason"] is not None:
            assert ch["delta"] == {}
            finish = ch["finish_reason"]
            continue
        text += ch["delta"].get("content") or ""
        for t in ch["delta"].get("tool_calls") or []:
            slot = tool_calls.setdefault(t["index"], {"id": None, "name": "", "arguments": ""})
            if "id" in t:
                assert slot["id"] is None and t["type"] == "function"
                slot["id"] = t["id"]
            slot["name"] += t["function"].get("name") or ""
            slot["arguments"] += t["function"].get("arguments") or ""
    assert finish in ("stop", "length", "tool_calls", "content_filter")
    return {"text": text, "tool_calls": tool_calls, "finish": finish, "usage": usage}


# ---- the suite ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("slug", [p.name for p in PROVIDERS])
def test_provider_has_emulator(slug: str) -> None:
    p = get_provider(slug)
    assert p.emulator, f"{slug} declares no emulator"
    assert callable(load_emulator(slug, EmulatorOptions(credential=p.demo_credential)))
    assert _specs(p), f"{slug} declares no models (neither a catalogue nor demo_models)"


@pytest.mark.parametrize("slug", [p.name for p in PROVIDERS])
def test_every_request_field_is_translated_or_unsupported(slug: str) -> None:
    p = get_provider(slug)
    handled = set(p.unsupported) | translated(p)
    missing = [f for f in ChatRequest.model_fields if f not in HARMLESS and f not in handled]
    assert "*" in p.translations or not missing, (
        f"{slug}: these ChatRequest fields are neither in `translations` nor in `unsupported`: {missing}"
    )
    both = set(p.unsupported) & translated(p)
    assert not both, f"{slug}: fields both translated and unsupported: {sorted(both)}"


# A typical, valid OpenAI value per field: what migrating apps actually send.
ACCEPT_SAMPLES: dict[str, Any] = {
    "temperature": 0.7,
    "top_p": 0.9,
    "max_tokens": 64,
    "max_completion_tokens": 64,
    "stop": ["\n\n\n"],
    "presence_penalty": 0.5,
    "frequency_penalty": 0.5,
    "seed": 42,
    "user": "user-123456",
}
REFUSE_SAMPLES: dict[str, dict[str, Any]] = {
    **{k: {k: v} for k, v in ACCEPT_SAMPLES.items()},
    "n": {"n": 2},
    "logit_bias": {"logit_bias": {"50256": -100}},
    "logprobs": {"logprobs": True},
    "top_logprobs": {"logprobs": True, "top_logprobs": 2},
    "parallel_tool_calls": {"parallel_tool_calls": False, "tools": [WEATHER]},
    "reasoning_effort": {"reasoning_effort": "low"},
    "modalities": {"modalities": ["text"]},
    "audio": {"audio": {"voice": "alloy", "format": "wav"}},
    "prediction": {"prediction": {"type": "content", "content": "draft"}},
    "web_search_options": {"web_search_options": {"search_context_size": "low"}},
    "verbosity": {"verbosity": "low"},
    "functions": {"functions": [WEATHER["function"]]},
    "function_call": {"function_call": "auto", "functions": [WEATHER["function"]]},
}


def _field_cases(accepted: bool) -> list[Any]:
    out = []
    for p in PROVIDERS:
        spec = spec_for(p, "chat")
        if spec is None:
            continue
        if accepted:
            fields = [
                f
                for f in ACCEPT_SAMPLES
                if f not in p.unsupported and (f in translated(p) or "*" in p.translations)
            ]
        else:
            fields = [f for f in sorted(p.unsupported) if f in REFUSE_SAMPLES]
        out += [pytest.param(p.name, spec.id, f, id=f"{p.name}-{f}") for f in fields]
    return out


@pytest.mark.parametrize(("slug", "model", "field"), _field_cases(accepted=False))
def test_unsupported_fields_are_refused(slug: str, model: str, field: str) -> None:
    from qiao.errors import UnsupportedParameter
    from qiao.gateway.params import apply_param_policy

    p = get_provider(slug)
    spec = p.spec(model) or generic_spec(model)
    req = chat_request(slug, model, **REFUSE_SAMPLES[field])
    with pytest.raises(UnsupportedParameter):
        apply_param_policy(req, p, spec, False, f"{slug}/{model}")
    assert field in apply_param_policy(req, p, spec, True, f"{slug}/{model}").dropped


@pytest.mark.parametrize(("slug", "model", "field"), _field_cases(accepted=True))
async def test_translated_fields_reach_the_emulator(
    emulators: Emulators, slug: str, model: str, field: str
) -> None:
    """A translated field with a typical value must produce a request the provider (emulator) accepts."""
    async with gateway_for(emulators, slug) as gw:
        out = (await gw.chat(chat_request(slug, model, **{field: ACCEPT_SAMPLES[field]}), ctx())).to_dict()
    assert out["choices"][0]["message"]["content"]


@pytest.mark.parametrize(("slug", "cap", "model"), _cases_for("chat"))
async def test_chat(emulators: Emulators, slug: str, cap: str, model: str) -> None:
    async with gateway_for(emulators, slug) as gw:
        req = chat_request(slug, model)
        out = (await gw.chat(req, ctx())).to_dict()
    assert out["object"] == "chat.completion" and out["model"] == f"{slug}/{model}"
    msg = out["choices"][0]["message"]
    assert msg["role"] == "assistant" and isinstance(msg["content"], str) and msg["content"]
    assert out["choices"][0]["finish_reason"] in ("stop", "length")
    u = out["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] and u["completion_tokens"] > 0


@pytest.mark.parametrize(("slug", "cap", "model"), _cases_for("stream"))
@pytest.mark.parametrize("include_usage", [True, False], ids=["usage", "no-usage"])
async def test_stream_framing(
    emulators: Emulators, slug: str, cap: str, model: str, include_usage: bool
) -> None:
    kw: dict[str, Any] = {"stream": True}
    if include_usage:
        kw["stream_options"] = {"include_usage": True}
    async with gateway_for(emulators, slug) as gw:
        raw = await stream_bytes(gw, chat_request(slug, model, **kw))
    got = check_framing(parse_frames(raw), f"{slug}/{model}", include_usage)
    assert got["finish"] in ("stop", "length") and got["text"]
    if include_usage:
        assert got["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize(("slug", "cap", "model"), _cases_for("tools"))
async def test_tools_round_trip(emulators: Emulators, slug: str, cap: str, model: str) -> None:
    ask = {"role": "user", "content": "What is the weather in Beijing? Please use get_weather."}
    async with gateway_for(emulators, slug) as gw:
        first = (await gw.chat(chat_request(slug, model, messages=[ask], tools=[WEATHER]), ctx())).to_dict()
        choice = first["choices"][0]
        assert choice["finish_reason"] == "tool_calls"
        call = choice["message"]["tool_calls"][0]
        assert call["id"] and call["type"] == "function" and call["function"]["name"] == "get_weather"
        assert isinstance(json.loads(call["function"]["arguments"]), dict)
        turn2 = [
            ask,
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": '{"temperature_c": 21}'},
        ]
        second = (await gw.chat(chat_request(slug, model, messages=turn2, tools=[WEATHER]), ctx())).to_dict()
        assert second["choices"][0]["finish_reason"] in ("stop", "length")
        assert second["choices"][0]["message"]["content"]
        raw = await stream_bytes(gw, chat_request(slug, model, messages=[ask], tools=[WEATHER], stream=True))
    got = check_framing(parse_frames(raw), f"{slug}/{model}", False)
    assert got["finish"] == "tool_calls"
    streamed = got["tool_calls"][0]
    assert streamed["id"] and streamed["name"] == "get_weather"
    assert isinstance(json.loads(streamed["arguments"]), dict)


@pytest.mark.parametrize(("slug", "cap", "model"), _cases_for("json_mode"))
async def test_json_mode(emulators: Emulators, slug: str, cap: str, model: str) -> None:
    req = chat_request(
        slug,
        model,
        response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Describe a river. Reply in JSON."}],
    )
    async with gateway_for(emulators, slug) as gw:
        out = (await gw.chat(req, ctx())).to_dict()
    assert isinstance(json.loads(out["choices"][0]["message"]["content"]), dict | list)


@pytest.mark.parametrize(("slug", "cap", "model"), _cases_for("vision"))
async def test_vision(emulators: Emulators, slug: str, cap: str, model: str) -> None:
    req = chat_request(
        slug,
        model,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": PIXEL}},
                ],
            }
        ],
    )
    async with gateway_for(emulators, slug) as gw:
        out = (await gw.chat(req, ctx())).to_dict()
    assert out["choices"][0]["message"]["content"]


@pytest.mark.parametrize(("slug", "cap", "model"), _cases_for("embeddings"))
async def test_embeddings(emulators: Emulators, slug: str, cap: str, model: str) -> None:
    spec = get_provider(slug).spec(model) or generic_spec(model)
    n = max(1, spec.embedding_batch) + 1  # one more than a batch: the gateway splits and reassembles
    texts = [f"river number {i} 第{i}条河" for i in range(n)]
    async with gateway_for(emulators, slug) as gw:
        res = await gw.embeddings(EmbeddingRequest(model=f"{slug}/{model}", input=texts), ctx())
        single = await gw.embeddings(EmbeddingRequest(model=f"{slug}/{model}", input=texts[3]), ctx())
    assert len(res.vectors) == n
    dims = {len(v) for v in res.vectors}
    assert len(dims) == 1
    if spec.dimensions is not None:
        assert dims == {spec.dimensions}
    assert single.vectors[0] == pytest.approx(res.vectors[3])  # order kept across batches
    assert len({tuple(v[:8]) for v in res.vectors}) == n
