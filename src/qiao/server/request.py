"""What the app reads of a request, in one place: the request interface qiao's protocol and ASGI both
offer (``Request``), the one-pass header scan, the client's request id, and pydantic's validation errors
turned into OpenAI's 400 naming the parameter."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
from pydantic import ValidationError

from ..errors import InvalidRequest

__all__ = ["Head", "Receive", "Request", "Scope", "Send"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Request(Protocol):
    """What the app reads of a request and how it answers: qiao's protocol's exchange
    (``protocol._Exchange``) or an ASGI request (``_AsgiRequest``)."""

    method: str
    path: str
    headers: list[tuple[bytes, bytes]]

    @property
    def scope(self) -> Scope: ...
    @property
    def receive(self) -> Receive: ...
    @property
    def send(self) -> Send: ...
    def body_ready(self) -> bytes | None: ...
    def finish(self, exc: BaseException | None) -> bool: ...
    def reply(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        before_write: Callable[[], object] | None = None,
    ) -> Awaitable[None] | None: ...
    def begin(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        before_last: Callable[[], object] | None = None,
    ) -> Awaitable[None]: ...
    def send_body(self, body: bytes, more: bool) -> Awaitable[None] | None: ...
    def watch(self) -> None: ...
    def unwatch(self) -> bool: ...


class _AsgiRequest:
    """An ASGI request behind the interface of qiao's protocol's exchange."""

    __slots__ = (
        "scope",
        "method",
        "path",
        "headers",
        "receive",
        "send",
        "_before_last",
        "_task",
        "_pending",
        "_watching",
        "_gone",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers: list[tuple[bytes, bytes]] = scope["headers"]
        self.receive = receive
        self.send = send
        self._before_last: Callable[[], object] | None = None
        self._task: asyncio.Task[Any] | None = None
        self._pending: Any = None  # the receive() coroutine being watched
        self._watching = False
        self._gone = False

    # ---- a stream: the messages the exchange's begin/send_body stand for ----------------------------
    def begin(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        before_last: Callable[[], object] | None = None,
    ) -> Awaitable[None]:
        self._before_last = before_last
        return self.send({"type": "http.response.start", "status": status, "headers": headers})

    def send_body(self, body: bytes, more: bool) -> Awaitable[None]:
        if not more and self._before_last is not None:
            self._before_last()
        return self.send({"type": "http.response.body", "body": body, "more_body": more})

    # The client leaving (``receive()`` answering ``http.disconnect``) cancels the watching task. Watched
    # without a task: ``receive()`` is stepped by hand up to the future it waits on, and that future's
    # done-callback steps it on. A watcher task cost ~40k instructions a stream (its creation, its first
    # step, and the cancellation that ended it: an exception thrown through its frames, another step).
    def watch(self) -> None:
        self._task = asyncio.current_task()
        self._watching = True
        self._gone = False
        self._step()

    def _step(self, _: object = None) -> None:
        while self._watching:
            pending = self._pending
            if pending is None:
                self._pending = pending = self.receive()
            try:
                waits_on = pending.send(None)
            except StopIteration as stop:  # receive() returned a message
                self._pending = None
                if stop.value["type"] == "http.disconnect":
                    self._gone = True
                    self._watching = False
                    self._task.cancel()  # type: ignore[union-attr]
                    return
                continue
            if waits_on is None:  # a bare yield (asyncio.sleep(0)): step again on the next turn
                asyncio.get_running_loop().call_soon(self._step)
            else:
                waits_on.add_done_callback(self._step)
            return

    def unwatch(self) -> bool:
        self._watching = False
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.close()  # its ``finally`` clauses run; a later wake-up finds watching off
        return self._gone

    def body_ready(self) -> bytes | None:
        return None  # read with receive()

    def finish(self, exc: BaseException | None) -> bool:
        return exc is not None  # the ASGI server deals with what escapes the app

    async def reply(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        before_write: Callable[[], object] | None = None,
    ) -> None:
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        if before_write is not None:
            before_write()
        await self.send({"type": "http.response.body", "body": body})


_RID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")


_WANTED = {
    b"authorization": 1,
    b"api-key": 2,
    b"content-length": 3,
    b"x-client-request-id": 4,
    b"x-request-id": 4,
}
Head = tuple[str | None, bytes | None]  # the request's key and its Content-Length header (_scan)


def _scan(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, bytes | None, bytes | None]:
    """The headers the app reads, in one pass (one dict lookup a header: three loops of comparisons
    cost ~8k instructions more): the key (``Authorization: Bearer KEY``, the first Authorization header
    deciding; else the last ``api-key``), the first ``Content-Length`` and the first client request id
    (``X-Client-Request-Id`` or ``X-Request-Id``)."""
    token = length = client = None
    auth_seen = False
    for k, v in headers:
        kind = _WANTED.get(k)
        if kind is None:
            continue
        if kind == 1:
            if not auth_seen:
                auth_seen = True
                s = v.decode("latin-1")
                if s[:7].lower() == "bearer ":
                    token = s[7:].strip()
        elif kind == 2:
            if not auth_seen:
                token = v.decode("latin-1").strip()
        elif kind == 3:
            if length is None:
                length = v
        elif client is None:
            client = v
    return token, length, client


def _client_request_id(value: bytes) -> str | None:
    """The client's own id (``X-Client-Request-Id``, or ``X-Request-Id``), echoed back and recorded.

    It is never the request's id: a client can repeat its ids, while the request id is the key of the
    usage record, the budget reservation and the response ids, so it must be unique (a repeated
    client id used to make records collapse into one and a reservation look already held)."""
    s = value.decode("latin-1")
    return s if _RID.match(s) else None


def _param_of(err: Any) -> str:
    out = ""
    for p in err.get("loc", ()):
        if isinstance(p, int):
            out += f"[{p}]"
        elif p in ("str", "list[str]", "list[int]", "list[list[int]]", "function-after") or (
            isinstance(p, str) and (p.startswith(("list[", "literal[", "dict[")))
        ):
            continue
        else:
            out += ("." if out else "") + str(p)
    return out


def _validation_error(exc: ValidationError) -> InvalidRequest:
    errs = exc.errors()
    first = errs[0]
    param = _param_of(first)
    msg = first["msg"]
    if first["type"] == "missing":
        text = f"Missing required parameter: '{param}'."
        return InvalidRequest(text, param=param, code="missing_required_parameter")
    value = first.get("input")
    shown = orjson.dumps(value).decode()[:80] if not isinstance(value, dict) else "object"
    return InvalidRequest(f"Invalid value for '{param}': {shown}. {msg}.", param=param, code="invalid_value")
