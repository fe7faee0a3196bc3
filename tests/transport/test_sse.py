"""The SSE and NDJSON decoders must give the same events however the bytes are cut."""

from __future__ import annotations

import random

import pytest

from qiao.transport.sse import NDJSONDecoder, SSEDecoder

STREAM = (
    b": keep-alive\n\n"
    b'data: {"a":1}\n\n'
    b"event: message\nid: 7\ndata: line one\ndata: line two\n\n"
    b"data:[DONE]\r\n\r\n"
    b"data: \xe4\xbd\xa0\xe5\xa5\xbd\r\r"
    b'{"error_code":110,"error_msg":"Access token invalid"}\n'
)


def decode(pieces: list[bytes]) -> list[tuple[str, str | None, str | None]]:
    d = SSEDecoder()
    out = []
    for p in pieces:
        out.extend(d.feed(p))
    out.extend(d.close())
    return [(e.data, e.event, e.id) for e in out]


EXPECTED = [
    ('{"a":1}', None, None),
    ("line one\nline two", "message", "7"),
    ("[DONE]", None, "7"),
    ("你好", None, "7"),
    ('{"error_code":110,"error_msg":"Access token invalid"}', "raw", None),
]


def test_whole() -> None:
    assert decode([STREAM]) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_every_two_piece_cut(cut: int) -> None:
    assert decode([STREAM[:cut], STREAM[cut:]]) == EXPECTED


def test_byte_by_byte_and_random() -> None:
    assert decode([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED
    rng = random.Random(7)
    for _ in range(200):
        pieces, i = [], 0
        while i < len(STREAM):
            n = rng.randint(1, 12)
            pieces.append(STREAM[i : i + n])
            i += n
        assert decode(pieces) == EXPECTED


def test_last_event_without_blank_line_is_delivered() -> None:
    assert decode([b'data: {"x":1}']) == [('{"x":1}', None, None)]


def test_ndjson_any_boundary() -> None:
    data = b'{"a":1}\n{"b":2}\n\n{"c":"\xe4\xbd\xa0"}'
    for cut in range(1, len(data)):
        d = NDJSONDecoder()
        events = d.feed(data[:cut]) + d.feed(data[cut:]) + d.close()
        assert [e.data for e in events] == ['{"a":1}', '{"b":2}', '{"c":"你"}']


def test_an_event_name_applies_to_the_next_event_only() -> None:
    """The whole-events fast path must not give a pending ``event:`` name to every event of a read."""
    assert decode([b"event: foo\n", b"data: a\n\ndata: b\n\n"]) == [("a", "foo", None), ("b", None, None)]
    assert decode([b"event: foo\ndata: a\n\ndata: b\n\n"]) == [("a", "foo", None), ("b", None, None)]


def test_idle_means_the_next_byte_starts_an_event() -> None:
    d = SSEDecoder()
    assert d.idle
    for piece, idle in [
        (b'data: {"a":1}\n\n', True),
        (b"data: x", False),
        (b"\n", False),
        (b"\n", True),
        (b"event: e\n", False),
        (b"data: y\n\n", True),
        (b"id: 3\n", True),  # an id lasts for the whole stream: nothing is held back for one event
        (b"data: z\r", False),
        (b"\n\n", True),
    ]:
        d.feed(piece)
        assert d.idle is idle, piece


def test_idle_attribute_follows_the_state_at_any_cut() -> None:
    """``idle`` is an attribute feed() and close() keep up to date (not a property): after every feed, over
    random cuts of a stream with comments, names, ids, CRs and a bare JSON line, it says exactly whether
    anything is held back."""
    rng = random.Random(11)
    for _ in range(300):
        d = SSEDecoder()
        i = 0
        while i < len(STREAM):
            n = rng.randint(1, 20)
            d.feed(STREAM[i : i + n])
            i += n
            assert d.idle is (not d._buf and not d._data and d._event is None)
        d.close()
        assert d.idle is (not d._buf and not d._data and d._event is None)
