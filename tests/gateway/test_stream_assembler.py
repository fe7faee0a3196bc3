"""The stream assembler's content fast path writes exactly the bytes of its generic renderer."""

from __future__ import annotations

import orjson

from qiao.gateway.stream import StreamAssembler
from qiao.types import ChatChunk, ChunkChoice, Delta


def _events(data: bytes) -> list[dict]:
    return [orjson.loads(line[6:]) for line in data.split(b"\n\n") if line.startswith(b"data: {")]


def test_content_deltas_match_the_generic_rendering() -> None:
    for include_usage in (False, True):
        asm = StreamAssembler("chatcmpl-1", 1700000000, "gpt-4o", include_usage)
        generic = StreamAssembler("chatcmpl-1", 1700000000, "gpt-4o", include_usage)
        for index in (0, 1, 9):  # cached heads and the formatted one
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
