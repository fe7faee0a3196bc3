"""The lean path for plain content events (openai_compat's ContentTemplate, the SSE decoder's ``idle``,
the assembler's ``contents``) against the general path (decoder → ``parse_event`` → ``feed``): the same
client bytes, usage and errors for many generated upstream streams, whatever the read boundaries.

Each stream goes through a real gateway pipeline from a raw TCP upstream twice, once as it is and once
with ``OpenAICompatible.content_template`` switched off."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from typing import Any

import orjson
import pytest

from qiao.config import Settings
from qiao.errors import QiaoError
from qiao.gateway.pipeline import Gateway, RequestContext
from qiao.gateway.stream import StreamAssembler
from qiao.providers.base import StreamState
from qiao.providers.openai_compat import ContentTemplate, OpenAICompatible
from qiao.transport.sse import SSEDecoder
from qiao.types import ChatRequest

from ._faults import raw_upstream, read_request

TEXTS = [
    "Hello",
    " world",
    "你好，世界",
    "🎉 emoji",
    "\u2028",
    "a/b",
    "x" * 300,
    ' "quoted" ',
    "back\\slash",
    "new\nline",
    "\x01ctl",
    '","',
    "\\",
    "é",
]


def _prefix(
    rng: random.Random, created: int, shape: tuple[str, ...] = ("chatcmpl-up1", "fp_x", "gpt-4o")
) -> str:
    ident, fp, model = shape
    return (
        '{"id":"'
        + ident
        + '","object":"chat.completion.chunk","created":'
        + str(created)
        + ',"model":"'
        + model
        + '"'
        + (',"system_fingerprint":"' + fp + '"' if fp else "")
        + ',"choices":'
    )


def _shape(rng: random.Random) -> tuple[str, ...]:
    """A stream's id, fingerprint and model: the first two are what a template kept from an earlier
    stream lets differ (including values it must not take: a control character, an escape)."""
    return (
        rng.choice(["chatcmpl-up1", "chatcmpl-up22", "", "x y", "a\\u0001b", "a\x01b", "é你"]),
        rng.choice(["fp_x", "fp_yy", "", "\x7f"]),
        rng.choice(["gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o-mini"]),
    )


def _literal(rng: random.Random, text: str) -> str:
    """The text as JSON, sometimes escaped as other encoders do (\\uXXXX for non-ASCII, \\/)."""
    if rng.random() < 0.15:
        return orjson.dumps(text).decode().replace("/", "\\/")
    if rng.random() < 0.15:
        import json

        return json.dumps(text)  # ensure_ascii
    return orjson.dumps(text).decode()


def _stream(rng: random.Random) -> list[str]:
    """The data of each event of one upstream stream (mostly plain content, some of everything else)."""
    created = rng.choice([1700000000, 1700000001, 0, 17])
    usage_null = ',"usage":null' if rng.random() < 0.7 else ""
    shape = _shape(rng)
    pre = _prefix(rng, created, shape)
    out = [
        pre + '[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},'
        '"logprobs":null,"finish_reason":null}]' + usage_null + "}"
    ]
    for _ in range(rng.randint(0, 30)):
        r = rng.random()
        lit = _literal(rng, rng.choice(TEXTS))
        if r < 0.75:
            out.append(
                pre
                + '[{"index":0,"delta":{"content":'
                + lit
                + '},"logprobs":null,"finish_reason":null}]'
                + usage_null
                + "}"
            )
        elif r < 0.80:  # the same content, keys in another order
            out.append('{"choices":[{"delta":{"content":' + lit + '},"index":0}],"id":"x"}')
        elif r < 0.83:
            out.append(pre + '[{"index":0,"delta":{"reasoning_content":' + lit + "}}]}")
        elif r < 0.86:
            out.append(pre + '[{"index":1,"delta":{"content":' + lit + "}}]}")
        elif r < 0.88:  # a field that changes mid-stream
            created += 1
            pre = _prefix(rng, created, shape)
        elif r < 0.90:
            out.append(pre + '[{"index":0,"delta":{"content":null}}]}')
        elif r < 0.92:  # a duplicate key: the last one wins
            out.append(pre + '[{"index":0,"delta":{"content":"a","content":' + lit + "}}]}")
        elif r < 0.94:
            out.append(
                pre
                + '[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function",'
                + '"function":{"name":"f","arguments":'
                + lit
                + "}}]}}]}"
            )
        elif r < 0.96:
            out.append(pre + '[{"index":0,"delta":{"content":' + lit + '}},{"index":1,"delta":{}}]}')
        elif r < 0.97:
            out.append('{"error":{"message":"boom","type":"server_error","code":"x"}}')
        elif r < 0.98:
            out.append("{not json")
        else:
            out.append(pre + '[{"index":0,"delta":{"content":' + lit + "} }]}")
    if rng.random() < 0.9:
        out.append(pre + '[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]' + usage_null + "}")
        out.append(pre + '[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}')
        out.append("[DONE]")
    return out


def _frame(rng: random.Random, events: list[str]) -> bytes:
    """SSE bytes for the events: mostly ``data: X\\n\\n``, sometimes other legal framings."""
    style = rng.random()
    parts = []
    for i, data in enumerate(events):
        if style < 0.1:
            parts.append(b"data:" + data.encode() + b"\r\n\r\n")
        elif style < 0.15 and i % 3 == 1:
            parts.append(b": keep-alive\n\nevent: message\ndata: " + data.encode() + b"\n\n")
        else:
            parts.append(b"data: " + data.encode() + b"\n\n")
    return b"".join(parts)


def _cuts(rng: random.Random, body: bytes) -> list[bytes]:
    """The body in pieces: whole, at event boundaries, or anywhere (each piece one chunked frame)."""
    mode = rng.random()
    if mode < 0.3:
        return [body]
    if mode < 0.6:
        events = body.split(b"\n\n")
        pieces, cur = [], b""
        for i, e in enumerate(events[:-1]):
            cur += e + b"\n\n"
            if rng.random() < 0.3 or i == len(events) - 2:
                pieces.append(cur)
                cur = b""
        return [p for p in pieces if p] + ([cur + events[-1]] if cur + events[-1] else [])
    pieces, i = [], 0
    while i < len(body):
        n = rng.randint(1, 400)
        pieces.append(body[i : i + n])
        i += n
    return pieces


async def _run(url: str, req: ChatRequest) -> tuple[Any, ...]:
    s = Settings.model_validate(
        {
            "accounts": [{"provider": "openai_compat", "name": "a", "base_url": url, "models": ["gpt-4o"]}],
            "routes": {"m": {"targets": [{"target": "a/gpt-4o"}], "retries_per_target": 0}},
        }
    )
    gw = Gateway(s)
    ctx = RequestContext("lean1", None)
    out: list[bytes] = []
    status: list[int] = []

    async def start(st: int, headers: list[tuple[bytes, bytes]]) -> None:
        status.append(st)

    async def send(data: bytes, more: bool) -> None:
        out.append(data)

    err = None
    try:
        await gw.chat_stream(req, ctx, start, send)
    except QiaoError as e:
        err = (type(e).__name__, e.status, e.code)
    finally:
        await gw.aclose()
    body = re.sub(rb'"created":\d+', b'"created":0', b"".join(out))
    return status, body, err, ctx.status, ctx.usage


def _upstream(pieces: list[bytes]) -> Any:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await read_request(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            )
            for p in pieces:
                writer.write(b"%x\r\n%b\r\n" % (len(p), p))
                await writer.drain()
                await asyncio.sleep(0)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        writer.close()

    return handler


def _request(rng: random.Random) -> ChatRequest:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    if rng.random() < 0.5:
        body["stream_options"] = {"include_usage": True}
    return ChatRequest.from_raw(body)


@pytest.mark.parametrize("seed", range(8))
async def test_lean_and_general_paths_give_the_same_stream(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    for _ in range(25):
        pieces = _cuts(rng, _frame(rng, _stream(rng)))
        req = _request(rng)
        async with raw_upstream(_upstream(pieces)) as url:
            lean = await _run(url, req)
            with monkeypatch.context() as m:
                m.setattr(OpenAICompatible, "content_template", None)
                general = await _run(url, req)
        assert lean == general


async def test_a_whole_answer_in_one_read_takes_the_lean_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's shape (role, many content events, finish, usage, [DONE] in one read): most
    content events go as one run, and the bytes are the general path's. The next stream (another id,
    created and fingerprint) reuses the template: all its content events go as one run."""
    from qiao.providers import openai_compat

    runs: list[int] = []
    probes: list[int] = []
    real = StreamAssembler.contents
    real_plain = ContentTemplate._plain

    def spy(self: StreamAssembler, index: int, texts: list[str], encoded: Any = None) -> bytes:
        runs.append(len(texts))  # a run of plain content events, taken from the read as one
        return real(self, index, texts, encoded)

    def spy_plain(self: ContentTemplate, obj: Any) -> Any:
        got = real_plain(self, obj)
        probes.extend([1] if got is not None and got[1] == openai_compat._PROBE[1:-1] else [])
        return got

    def answer(pre: str) -> list[bytes]:
        events = [pre + '[{"index":0,"delta":{"role":"assistant","content":""}}]}']
        events += [pre + '[{"index":0,"delta":{"content":"w' + str(i) + ' "}}]}' for i in range(20)]
        events += [pre + '[{"index":0,"delta":{},"finish_reason":"stop"}]}', "[DONE]"]
        return [b"".join(b"data: " + e.encode() + b"\n\n" for e in events)]

    rng = random.Random(1)
    req = _request(rng)
    monkeypatch.setattr(openai_compat.provider, "_shape", None)
    for pre, want, probed in (
        (_prefix(rng, 1700000000), [19], [1]),  # the first content event teaches the template
        (_prefix(rng, 1700000001, ("chatcmpl-up22", "fp_yy", "gpt-4o")), [20], []),  # kept: no probe
        (_prefix(rng, 1700000001, ("chatcmpl-up22", "fp_yy", "gpt-4o-mini")), [20], [1]),  # another shape
    ):
        runs.clear()
        probes.clear()
        async with raw_upstream(_upstream(answer(pre))) as url:
            with monkeypatch.context() as m:
                m.setattr(StreamAssembler, "contents", spy)
                m.setattr(ContentTemplate, "_plain", spy_plain)
                lean = await _run(url, req)
            with monkeypatch.context() as m:
                m.setattr(OpenAICompatible, "content_template", None)
                general = await _run(url, req)
        assert lean == general
        assert runs == want and probes == probed, pre
        assert b"w0 w1" not in lean[1] and lean[1].count(b'"content":"w') == 20


def test_the_template_proves_where_the_content_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """The candidate (the last "content" key's string) is taken only if parse_event says it is the
    delta's content; a template, once learned, takes only events that differ in that string alone."""
    provider = OpenAICompatible()
    state = StreamState(None, None)  # type: ignore[arg-type]
    tpl = ContentTemplate(provider, state)
    # a later "content" key elsewhere (and the role event's empty content) teach nothing; take() still
    # reads them as parse_event does
    decoy = '{"choices":[{"index":0,"delta":{"content":"Hi"}}],"meta":{"content":"Yo"}}'
    assert tpl.take(decoy) == (0, "Hi", None, None)
    assert tpl.take('{"choices":[{"delta":{"role":"x","content":""}}]}') == (0, "", None, None)
    assert tpl._pre is None and tpl._tries == 2
    data = '{"id":"Hi","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}'
    assert tpl.take(data) == (0, "Hi", None, None) and tpl._pre is not None
    # from here on, what the template alone takes (the general reading switched off)
    monkeypatch.setattr(ContentTemplate, "_plain", lambda self, obj: None)

    def match(data: str) -> str | None:
        got = tpl.take(data)
        return got[1] if got is not None else None

    assert match(data.replace('"content":"Hi"', '"content":"Yo \\u4f60"')) == "Yo 你"
    assert match(data.replace('"id":"Hi"', '"id":"Yo"')) is None
    assert match(data.replace('"content":"Hi"', '"content":"a","b":"c"')) is None
    assert match(data.replace('"content":"Hi"', '"content":1')) is None
    for other in ('"finish_reason":"stop"', '"finish_reason":null,"x":1'):
        assert match(data.replace('"finish_reason":null', other)) is None


def test_run_rejects_anything_but_plain_literals() -> None:
    provider = OpenAICompatible()
    state = StreamState(None, None)  # type: ignore[arg-type]
    tpl = ContentTemplate(provider, state)
    assert tpl.take('{"choices":[{"index":0,"delta":{"content":"Hi"}}]}') == (0, "Hi", None, None)
    assert tpl._pre is not None

    def ev(lit: str) -> bytes:
        return b'data: {"choices":[{"index":0,"delta":{"content":' + lit.encode() + b"}}]}\n\n"

    def run(*lits: str) -> Any:
        out = list(tpl.events(b"".join(ev(x) for x in lits), SSEDecoder()))
        return [o if isinstance(o, tuple) else o.data for o in out]

    def general(*lits: str) -> list[str]:
        return [e.data for e in SSEDecoder().feed(b"".join(ev(x) for x in lits))]

    assert run('"a"', '"b"') == [(0, ["a", "b"], [b"a", b"b"])]
    assert run('"a\\"b"', '"\\n"') == [(0, ['a"b', "\n"], None)]  # escapes: each literal parsed alone
    # anything else in the run, and the whole read goes the general way (the template's match() still
    # takes the plain events one by one in the pipeline)
    for case in [
        ('"a"', '"b","c"'),
        ('"a\\"', '","b"'),
        ('"\x01"',),
        ('"a"\n',),
        ("", '"a"'),
        ('"a","b"',),
        ('"a"', '"b\\"', '","c"'),
    ]:
        assert run(*case) == general(*case), case
    # a run ends at the last event that ends as the template does: what follows goes the general way
    assert run('"a"', "1") == [(0, ["a"], [b"a"]), *general("1")]


@pytest.mark.parametrize("seed", range(3))
def test_a_kept_template_takes_only_what_parse_event_reads_alike(seed: int) -> None:
    """A template kept from an earlier stream, tried on events that differ from its own anywhere in the
    text before the content (ids, numbers, keys, quotes, structure): take() reads each one exactly as
    the decoded event reads (None where parse_event would raise)."""
    rng = random.Random(seed)
    provider = OpenAICompatible()
    base = (
        '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"m",'
        '"system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,'
        '"finish_reason":null}],"usage":null}'
    )
    first = ContentTemplate(provider, StreamState(None, None))  # type: ignore[arg-type]
    assert first.take(base) == (0, "Hi", None, None) and provider._shape is not None
    cut = base.index('"content":"Hi"') + 10
    alphabet = [
        '"',
        ":",
        ",",
        "0",
        "1",
        "9",
        "a",
        "x",
        "{",
        "}",
        "[",
        "]",
        " ",
        "\x01",
        "\\",
        "é",
        "null",
        "9" * 320,
    ]
    reused = 0
    for _ in range(3000):
        pre = base[:cut]
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(pre) - 10)
            op = rng.random()
            if op < 0.4:
                pre = pre[:i] + rng.choice(alphabet) + pre[i + 1 :]
            elif op < 0.7:
                pre = pre[:i] + rng.choice(alphabet) + pre[i:]
            else:
                pre = pre[:i] + pre[i + 1 :]
        data = pre + base[cut:].replace("Hi", rng.choice(["Hi", "Yo", "x y"]), 1)
        kept = provider._shape
        tpl = ContentTemplate(provider, StreamState(None, None))  # type: ignore[arg-type]
        try:
            want = tpl._plain(orjson.loads(data))
        except orjson.JSONDecodeError:
            want = None
        assert tpl.take(data) == want, data
        reused += provider._shape is kept and tpl._pre is not None
        provider._shape = kept
    assert reused > 100


def test_only_providers_reading_events_as_openai_compat_does_get_the_lean_path() -> None:
    from qiao.providers._registry import all_providers

    seen = 0
    for p in all_providers():
        if isinstance(p, OpenAICompatible):
            own = type(p).parse_event is OpenAICompatible.parse_event
            assert p.content_template is (ContentTemplate if own else None), p.name
            seen += own
    assert seen >= 3  # openai_compat itself and the vendors that keep its parse_event
