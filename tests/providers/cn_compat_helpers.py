"""Helpers shared by the unit tests of the OpenAI-shaped Chinese vendors (deepseek, qwen, moonshot, ark,
hunyuan, stepfun, yi): build a call, talk to the vendor's emulator in-process, replay its SSE bytes cut at
every boundary through the real decoder and the provider's ``parse_event``."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from qiao.emulators import EmulatorOptions, load_emulator
from qiao.providers._registry import get_provider
from qiao.providers.base import Account, Call, StreamState, WireResponse
from qiao.transport.sse import SSEDecoder
from qiao.types import ChatChunk, ChatRequest, Usage

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def make_call(slug: str, model: str, stream: bool = False, **account: Any) -> Call:
    p = get_provider(slug)
    spec = p.spec(model)
    assert spec is not None, model
    acc = Account(
        name=account.pop("name", slug),
        provider=slug,
        credential=p.demo_credential,
        base_url=account.pop("base_url", p.default_base_url),
        options=tuple((account.pop("options", None) or {}).items()),
    )
    return Call(acc, spec, model, "req-1", stream)


def req(**body: Any) -> ChatRequest:
    return ChatRequest.from_raw(body)


def wire_body(slug: str, model: str, stream: bool = False, **body: Any) -> dict[str, Any]:
    p = get_provider(slug)
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    w = p.build_chat(req(model=model, **body), make_call(slug, model, stream))
    out: dict[str, Any] = orjson.loads(w.body or b"{}")
    return out


async def emulator_post(
    slug: str, path: str, payload: dict[str, Any], credential: str | None = None, **headers: str
) -> httpx.Response:
    p = get_provider(slug)
    app = load_emulator(slug, EmulatorOptions(credential=credential))
    h = {"Authorization": f"Bearer {credential or p.demo_credential}", **headers}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emu") as c:
        return await c.post(p.emulator_base_path + path, json=payload, headers=h)


async def via_provider(slug: str, model: str, stream: bool = False, **body: Any) -> httpx.Response:
    """Build the provider's wire body and send it to the emulator (as the gateway would)."""
    return await emulator_post(slug, "/chat/completions", wire_body(slug, model, stream, **body))


def as_wire(resp: httpx.Response) -> WireResponse:
    return WireResponse(resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, resp.content)


def cuts(raw: bytes, seed: int = 7) -> list[list[bytes]]:
    rng = random.Random(seed)
    one = [raw[i : i + 1] for i in range(len(raw))]
    rand: list[bytes] = []
    i = 0
    while i < len(raw):
        n = rng.randint(1, 40)
        rand.append(raw[i : i + n])
        i += n
    return [[raw], one, rand]


@dataclass
class Replay:
    chunks: list[ChatChunk]
    state: StreamState
    text: dict[int, str] = field(default_factory=dict)
    reasoning: dict[int, str] = field(default_factory=dict)
    finishes: list[str] = field(default_factory=list)
    usage: Usage | None = None
    tool_args: dict[int, str] = field(default_factory=dict)
    tool_ids: list[str] = field(default_factory=list)


def replay(slug: str, model: str, raw: bytes, pieces: list[bytes], r: ChatRequest) -> Replay:
    p = get_provider(slug)
    d = SSEDecoder()
    state = StreamState(make_call(slug, model, stream=True), r)
    chunks: list[ChatChunk] = []
    for piece in pieces:
        for ev in d.feed(piece):
            chunks.extend(p.parse_event(ev, state))
    for ev in d.close():
        chunks.extend(p.parse_event(ev, state))
    out = Replay(chunks, state)
    for ch in chunks:
        for c in ch.choices:
            out.text[c.index] = out.text.get(c.index, "") + (c.delta.content or "")
            out.reasoning[c.index] = out.reasoning.get(c.index, "") + (c.delta.reasoning_content or "")
            if c.finish_reason:
                out.finishes.append(c.finish_reason)
            for t in c.delta.tool_calls or ():
                out.tool_args[t.index] = out.tool_args.get(t.index, "") + (t.arguments or "")
                if t.id:
                    out.tool_ids.append(t.id)
        if ch.usage is not None:
            out.usage = ch.usage
    return out
