"""The stream assembler's content fast path writes exactly the bytes of its generic renderer."""

from __future__ import annotations

import random

import orjson

from qiao.gateway.stream import StreamAssembler
from qiao.types import ChatChunk, ChunkChoice, Delta


def _events(data: bytes) -> list[dict]:
    return [orjson.loads(line[6:]) for line in data.split(b"\n\n") if line.startswith(b"data: {")]


def test_content_deltas_match_the_generic_rendering() -> None:
    for include_usage in (False, True):
        asm = StreamAssembler("chatcmpl-1", 1700000000, "gpt-4o", include_usage)
        generic = StreamAssembler("chatcmpl-1", 1700000000, "gpt-4o", include_usage)
        for index in (0, 1, 9, -1):  # cached heads and the formatted ones
            for text in ("Hello", ' "quoted" \\ \n', "你好，世界", "\u2028 emoji 🎉"):
                chunk = ChatChunk([ChunkChoice(index, Delta(content=text))])
                got = asm.feed(chunk)
                role = (
                    b""
                    if index in generic._role_sent
                    else generic._delta(index, {"role": "assistant", "content": "", "refusal": None})
                )
                generic._role_sent.add(index)
                want = role + generic._delta(index, {"content": text})
                assert got == want
                assert _events(got)[-1]["choices"][0]["delta"] == {"content": text}
        assert asm.chunks_out == generic.chunks_out
        assert asm.text_of(0) == "Hello" + ' "quoted" \\ \n' + "你好，世界" + "\u2028 emoji 🎉"


TEXTS = ["Hello", "", ' "q" ', "a\\b", "line\nbreak", "\x01\x1f\x7f", "你好", "🎉\u2028", "/", '","']


def _generic_bytes(asm: StreamAssembler, index: int, text: str) -> bytes:
    return asm.feed(ChatChunk([ChunkChoice(index, Delta(content=text))]))


def _state(asm: StreamAssembler) -> tuple:
    return (asm.chunks_out, dict(asm.texts), sorted(asm._role_sent), dict(asm.finished))


def test_content_and_contents_write_what_feed_writes() -> None:
    """The lean entry points (one text, a run of texts, with or without the upstream's own encoding)
    against feed() of the chunk they stand for, in every assembler state they meet."""
    rng = random.Random(5)
    for legacy in (False, True):
        for include_usage in (False, True):
            for _ in range(60):
                args = ("chatcmpl-1", 1700000000, "gpt-4o", include_usage, legacy)
                lean, generic = StreamAssembler(*args), StreamAssembler(*args)
                for _ in range(8):
                    index = rng.choice((0, 0, 0, 1, 8, 12))
                    if rng.random() < 0.1:  # a finished choice writes nothing more
                        finish = ChatChunk([ChunkChoice(index, Delta(), "stop")])
                        assert lean.feed(finish) == generic.feed(finish)
                    texts = rng.choices(TEXTS, k=rng.randint(1, 4))
                    want = b"".join(_generic_bytes(generic, index, t) for t in texts)
                    if len(texts) == 1 and rng.random() < 0.5:
                        got = lean.content(index, texts[0])
                    else:
                        clean = all(t and orjson.dumps(t) == b'"' + t.encode() + b'"' for t in texts)
                        encoded = [t.encode() for t in texts] if clean and rng.random() < 0.7 else None
                        got = lean.contents(index, texts, encoded)
                    assert got == want
                    assert _state(lean) == _state(generic)
                assert lean.finish(None) == generic.finish(None)


def test_role_and_finish_chunks_are_the_generic_renderings() -> None:
    """``_role`` and ``_close`` write from bytes what ``_delta`` renders from the dicts, for the cached
    indexes, the formatted ones (8 and over, negative) and legacy completions."""
    for legacy in (False, True):
        for include_usage in (False, True):
            asm = StreamAssembler("chatcmpl-1", 1700000000, "gpt-4o", include_usage, legacy)
            generic = StreamAssembler("chatcmpl-1", 1700000000, "gpt-4o", include_usage, legacy)
            for index in (0, 1, 7, 8, 12, -1):
                want = (
                    b""
                    if legacy
                    else generic._delta(index, {"role": "assistant", "content": "", "refusal": None})
                )
                assert asm._role(index) == want
                assert asm._role(index) == b""  # once
                for reason in ("stop", "length", "tool_calls", 'odd "reason"\n', "é"):
                    assert asm._close(index, reason) == generic._delta(index, {}, reason)
                    assert asm.finished[index] == reason
            assert asm.chunks_out == generic.chunks_out


def test_finish_closes_what_the_general_loop_closes() -> None:
    """finish() skips its loop when every choice (0 included) is finished: the same bytes as the loop
    over every choice, on random chunk sequences."""
    rng = random.Random(3)

    def close_all(asm: StreamAssembler) -> bytes:  # the loop, always run
        out = []
        for i in sorted(asm._role_sent | {0}):
            if i not in asm.finished:
                out.append(asm._role(i))
                out.append(asm._close(i, "stop"))
        return b"".join(out)

    for _ in range(500):
        legacy, usage = rng.random() < 0.2, rng.random() < 0.5
        a = StreamAssembler("chatcmpl-1", 1, "m", usage, legacy)
        b = StreamAssembler("chatcmpl-1", 1, "m", usage, legacy)
        for _ in range(rng.randint(0, 6)):
            chunk = ChatChunk(
                [
                    ChunkChoice(
                        rng.choice([0, 0, 1, 2]),
                        Delta(content=rng.choice(["", "x"])),
                        rng.choice([None, "stop"]),
                    )
                    for _ in range(rng.randint(0, 2))
                ]
            )
            assert a.feed(chunk) == b.feed(chunk)
        assert a.finish(None) == close_all(b) + b.finish(None)
