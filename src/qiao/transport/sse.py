"""Incremental decoders for upstream streams, correct at any chunk boundary.

:class:`SSEDecoder` follows the WHATWG event-stream rules (``\\n``, ``\\r\\n`` and ``\\r`` line ends, one
optional space after the colon, comments ignored, ``data`` lines joined with ``\\n``), and is lenient
where providers are sloppy: ``data:[DONE]`` without the space is fine, and a bare JSON line (an error
object some providers write into a stream) comes out as an event named ``raw``.
:class:`NDJSONDecoder` yields one event per non-empty line (Ollama).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..providers.base import SSEEvent

__all__ = ["NDJSONDecoder", "SSEDecoder"]


class SSEDecoder:
    # No __init__ (a Python call per stream) and no __slots__: a new decoder's state is the class's
    # defaults below, and feed() and close() set instance attributes as they change it. ``_data`` starts
    # as an empty tuple, never appended to: _line makes a new list per data line (an event rarely has two).
    _buf = b""
    _data: Sequence[str] = ()
    _event: str | None = None
    _id: str | None = None
    idle = True
    """Nothing held back: the next byte fed starts a line of a new event. An attribute that feed() and
    close() keep up to date as they return, not a property: it is read once per streamed read
    (openai_compat's ContentTemplate), and a property costs a Python call each time."""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        # bytes.find, not ``in``: on CPython 3.11 ``b"x" in data`` first tries the needle as an int and
        # formats the TypeError it clears (~4k instructions per test); this runs once per streamed read.
        if (
            not self._buf
            and not self._data
            and self._event is None  # an ``event:`` line names only the next event, not all of these
            and chunk[-2:] == b"\n\n"
            and chunk.find(b"\r") < 0
        ):
            # Fast path for what nearly every upstream sends: whole ``data:`` events, one line each.
            ident = self._id
            fast: list[SSEEvent] = []
            for p in chunk[:-2].split(b"\n\n"):
                if p[:5] != b"data:" or p.find(b"\n") >= 0:
                    break
                fast.append(
                    SSEEvent((p[6:] if p[5:6] == b" " else p[5:]).decode("utf-8", "replace"), None, ident)
                )
            else:
                return fast
        buf = self._buf + chunk if self._buf else chunk
        if buf.find(b"\r") >= 0:
            # Keep a trailing CR: it may be the first half of a CRLF split across chunks.
            keep_cr = buf.endswith(b"\r")
            body = buf[:-1] if keep_cr else buf
            body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            buf = body + b"\r" if keep_cr else body
        out: list[SSEEvent] = []
        start = 0
        find = buf.find
        while True:
            nl = find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            start = nl + 1
            if not line:
                if self._data:
                    out.append(SSEEvent("\n".join(self._data), self._event, self._id))
                self._data = ()
                self._event = None
                continue
            self._line(line, out)
        rest = buf[start:]
        if rest.endswith(b"\r") and len(rest) > 1:
            # A lone CR ends a line when the next byte is not LF: only knowable on the next feed.
            pass
        self._buf = rest
        self.idle = not rest and not self._data and self._event is None
        return out

    def _line(self, line: bytes, out: list[SSEEvent]) -> None:
        if line[0] == 0x3A:  # ':' comment / keep-alive
            return
        colon = line.find(b":")
        if colon < 0:
            text = line.decode("utf-8", "replace").strip()
            if text.startswith(("{", "[")):
                out.append(SSEEvent(text, "raw", None))
            return
        name = line[:colon]
        value = line[colon + 1 :]
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data = [*self._data, value.decode("utf-8", "replace")]  # (see the class's comment)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            self._id = value.decode("utf-8", "replace")
        elif name[:1] in (b"{", b"["):
            out.append(SSEEvent(line.decode("utf-8", "replace").strip(), "raw", None))

    def close(self) -> list[SSEEvent]:
        """At end of stream: a final event without its blank line is still delivered."""
        out: list[SSEEvent] = []
        if self._buf:
            rest = self._buf.rstrip(b"\r")
            self._buf = b""
            if rest:
                self._line(rest, out)
        if self._data:
            out.append(SSEEvent("\n".join(self._data), self._event, self._id))
            self._data = ()
        self.idle = self._event is None
        return out


class NDJSONDecoder:
    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk if self._buf else chunk
        parts = buf.split(b"\n")
        self._buf = parts.pop()
        return [SSEEvent(p.decode("utf-8", "replace").strip()) for p in parts if p.strip()]

    def close(self) -> list[SSEEvent]:
        rest, self._buf = self._buf.strip(), b""
        return [SSEEvent(rest.decode("utf-8", "replace"))] if rest else []
