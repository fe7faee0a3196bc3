"""Helpers for the unit tests of the OpenAI-shaped providers (self-hosted servers, OpenAI, Azure)."""

from __future__ import annotations

import random
from typing import Any

import httpx
import orjson

from qiao.catalogue import ModelSpec
from qiao.emulators import EmulatorOptions, load_emulator
from qiao.providers._registry import get_provider
from qiao.providers.base import Account, Call, Provider, StreamState, WireResponse
from qiao.providers.openai_compat import generic_spec
from qiao.transport.sse import SSEDecoder
from qiao.types import ChatChunk, ChatRequest


def call_for(slug: str, model: str, stream: bool = False, base: str = "http://emu/v1", **acct: Any) -> Call:
    p = get_provider(slug)
    spec: ModelSpec = p.spec(model) or generic_spec(model)
    options = tuple((acct.pop("options") or {}).items()) if "options" in acct else ()
    account = Account(
        acct.pop("name", slug), slug, acct.pop("credential", None), base, options=options, **acct
    )
    return Call(account, spec, model, "req-1", stream)


def req(**kw: Any) -> ChatRequest:
    kw.setdefault("messages", [{"role": "user", "content": "hello"}])
    return ChatRequest.from_raw(kw)


def body_of(slug: str, r: ChatRequest, call: Call) -> dict[str, Any]:
    w = get_provider(slug).build_chat(r, call)
    out: dict[str, Any] = orjson.loads(w.body or b"{}")
    return out


def resp(status: int, body: Any, headers: dict[str, str] | None = None) -> WireResponse:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return WireResponse(status, headers or {}, raw)


async def emulator_post(slug: str, path: str, payload: dict[str, Any], **headers: str) -> httpx.Response:
    app = load_emulator(slug, EmulatorOptions(credential=get_provider(slug).demo_credential))
    h = dict(headers)
    cred = get_provider(slug).demo_credential
    if cred:
        h.setdefault("authorization", f"Bearer {cred}")
        h.setdefault("api-key", cred)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emu") as c:
        return await c.post(path, json=payload, headers=h)


def cuts(raw: bytes, seed: int) -> list[list[bytes]]:
    rng = random.Random(seed)
    one = [raw[i : i + 1] for i in range(len(raw))]
    rand: list[bytes] = []
    i = 0
    while i < len(raw):
        n = rng.randint(1, 40)
        rand.append(raw[i : i + n])
        i += n
    return [[raw], one, rand]


def run_events(
    provider: Provider, pieces: list[bytes], call: Call, r: ChatRequest
) -> tuple[list[ChatChunk], StreamState]:
    d = SSEDecoder()
    state = StreamState(call, r)
    chunks: list[ChatChunk] = []
    for p in pieces:
        for ev in d.feed(p):
            if not state.done:
                chunks.extend(provider.parse_event(ev, state))
    for ev in d.close():
        if not state.done:
            chunks.extend(provider.parse_event(ev, state))
    return chunks, state


def summary(chunks: list[ChatChunk]) -> dict[str, Any]:
    text, reasoning, args, names, finish, usage = [], [], {}, {}, None, None
    for ch in chunks:
        for c in ch.choices:
            text.append(c.delta.content or "")
            reasoning.append(c.delta.reasoning_content or "")
            for t in c.delta.tool_calls or ():
                args[t.index] = args.get(t.index, "") + (t.arguments or "")
                if t.name:
                    names[t.index] = t.name
            finish = c.finish_reason or finish
        usage = ch.usage or usage
    return {
        "text": "".join(text),
        "reasoning": "".join(reasoning),
        "args": args,
        "names": names,
        "finish": finish,
        "usage": usage,
    }
