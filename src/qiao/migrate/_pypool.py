"""Worker processes for the Python scan of a large project (parsing is most of a scan's time).

Each worker is ``python -m qiao.migrate._pypool``, talking length-prefixed pickles over its stdin and
stdout (not ``multiprocessing``: its spawn start method re-imports the caller's ``__main__``, and fork
is unsafe beside the progress bar's thread). A worker keeps the syntax trees of the modules it parsed:
only small things cross the pipes.

1. ``add``: chunks of ``(index, rel, source)``, handed over while the scan is still reading files, go to
   whichever worker is free; it parses and collects them and answers with their constants and class
   names.
2. ``globals``: the constants merged in file order (later files win, as in one process), every class
   name and the deferred modules (name → path, read again only if a constant is needed).
3. ``round``: one pass of the client fixpoint on each worker with the project-wide facts (client
   parameters, functions returning clients, client attributes of classes) merged from the last round,
   until a round teaches nothing anywhere: the same fixpoint as :meth:`PythonProject.analyse`.
4. ``findings``: each module's findings, merged back in file order.
"""

from __future__ import annotations

import gc
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from ._model import FileResult, ScanIssue
from ._pyscan import PythonProject

__all__ = ["ParallelScan", "WorkerError"]

_HEADER = struct.Struct("<Q")
MAX_ROUNDS = 30  # one process stops after 10 passes; here facts cross workers one round late


class WorkerError(RuntimeError):
    """A worker failed or could not be started (the caller scans in-process instead)."""


def _send(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _recv(stream: IO[bytes]) -> Any:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError("worker closed its pipe")
    (size,) = _HEADER.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("worker closed its pipe")
    return pickle.loads(data)


# ---- worker side ------------------------------------------------------------------------------------
class _State:
    def __init__(self) -> None:
        self.project = PythonProject()
        self.index: list[int] = []  # file index of each module of the project, in order
        self.issues: list[tuple[int, ScanIssue]] = []

    def add(self, chunk: list[tuple[int, str, str]]) -> tuple[list[tuple[int, dict[str, str]]], set[str]]:
        p = self.project
        consts = []
        for idx, rel, source in chunk:
            n, k = len(p.modules), len(p.issues)
            p.add(rel, source)
            self.issues += [(idx, i) for i in p.issues[k:]]
            if len(p.modules) > n:
                self.index.append(idx)
                consts.append((idx, p.module_constants(p.modules[-1])))
        return consts, set(p.class_names)

    def set_globals(self, arg: tuple[dict[str, str], set[str], dict[str, str]]) -> None:
        constants, class_names, deferred = arg
        p = self.project
        p.constants = dict(constants)
        p.class_names = set(class_names)
        p.deferred = {name: Path(path) for name, path in deferred.items()}

    def round(
        self, facts: tuple[dict[str, set[int | str]], set[str], dict[str, set[str]]]
    ) -> tuple[Any, ...]:
        marks, returns_client, class_attrs = facts
        p = self.project
        for key, v in marks.items():
            p.marks.setdefault(key, set()).update(v)
        p.returns_client |= returns_client
        for key, attrs in class_attrs.items():
            p.class_attrs.setdefault(key, set()).update(attrs)
        p.analyse_once()
        return p.marks, p.returns_client, p.class_attrs, p.local_state()

    def findings(self) -> tuple[list[tuple[int, FileResult]], list[tuple[int, ScanIssue]]]:
        out = [(idx, res) for idx, (_, res) in zip(self.index, self.project.findings(), strict=True)]
        return out, self.issues


def _serve(inp: IO[bytes], out: IO[bytes]) -> None:
    gc.disable()  # syntax trees hold no cycles; the collector only slows parsing down
    warnings.simplefilter("ignore")  # e.g. invalid escape sequences: nothing to print over a progress bar
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's; its exit closes our stdin
    state = _State()
    ops: dict[str, Callable[[Any], Any]] = {
        "add": state.add,
        "globals": state.set_globals,
        "round": state.round,
        "findings": lambda _: state.findings(),
    }
    while True:
        try:
            op, arg = _recv(inp)
        except EOFError:
            return
        if op == "stop":
            return
        try:
            reply = ("ok", ops[op](arg))
        except BaseException as exc:  # reported to the parent, which scans in-process instead
            reply = ("error", f"{type(exc).__name__}: {exc}")
        _send(out, reply)


# ---- parent side ------------------------------------------------------------------------------------
def _command() -> list[str]:
    return [sys.executable, "-m", "qiao.migrate._pypool"]


class _Worker:
    def __init__(self) -> None:
        import qiao

        env = dict(os.environ)
        here = str(Path(qiao.__file__).resolve().parent.parent)  # so the child imports this very qiao
        env["PYTHONPATH"] = os.pathsep.join(x for x in (here, env.get("PYTHONPATH")) if x)
        cmd = _command()
        if not cmd[0]:  # an embedded interpreter without an executable
            raise WorkerError("cannot start a scan worker: no Python executable")
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            raise WorkerError(f"cannot start a scan worker: {exc}") from exc

    def call(self, op: str, arg: object = None) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            _send(self.proc.stdin, (op, arg))
            status, payload = _recv(self.proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            raise WorkerError(f"scan worker failed: {exc}") from exc
        if status != "ok":
            raise WorkerError(f"scan worker failed: {payload}")
        return payload

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                _send(self.proc.stdin, ("stop", None))
                self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class ParallelScan:
    """Python modules handed over one by one (:meth:`submit`, while the caller is still reading files)
    are parsed by ``workers`` processes in chunks; :meth:`finish` runs the project-wide analysis and
    returns each module's findings in submission order and the modules that did not parse. Raises
    :class:`WorkerError` when a worker cannot be started or fails (call :meth:`abort` then)."""

    def __init__(self, workers: int, chunk: int = 16) -> None:
        self.chunk = chunk
        self.pool: list[_Worker] = []
        self.chunks: queue.SimpleQueue[list[tuple[int, str, str]] | None] = queue.SimpleQueue()
        self.done: queue.SimpleQueue[tuple[int, Any] | BaseException] = queue.SimpleQueue()
        self.buf: list[tuple[int, str, str]] = []
        self.sent = self.parsed = 0
        self.consts: list[tuple[int, dict[str, str]]] = []
        self.class_names: set[str] = set()
        try:
            for _ in range(workers):
                self.pool.append(_Worker())
        except WorkerError:
            self.abort()
            raise
        self.threads = [threading.Thread(target=self._feed, args=(w,), daemon=True) for w in self.pool]
        for t in self.threads:
            t.start()

    def _feed(self, w: _Worker) -> None:
        while (chunk := self.chunks.get()) is not None:
            try:
                self.done.put((len(chunk), w.call("add", chunk)))
            except BaseException as exc:
                self.done.put(exc)
                return

    def submit(self, rel: str, source: str) -> None:
        self.buf.append((self.sent, rel, source))
        self.sent += 1
        if len(self.buf) >= self.chunk:
            self.chunks.put(self.buf)
            self.buf = []

    def _take(self, item: tuple[int, Any] | BaseException) -> int:
        if isinstance(item, BaseException):
            raise item if isinstance(item, WorkerError) else WorkerError(str(item))
        n, (consts, names) = item
        self.consts += consts
        self.class_names |= names
        self.parsed += n
        return n

    def poll(self) -> int:
        """How many more modules were parsed since the last call (does not wait)."""
        n = 0
        while True:
            try:
                n += self._take(self.done.get_nowait())
            except queue.Empty:
                return n

    def finish(
        self, deferred: dict[str, str], progress: Callable[[int], None] | None = None
    ) -> tuple[list[FileResult], list[ScanIssue]]:
        """``deferred`` maps module names of files not worth parsing to their paths; ``progress(n)``
        is told as each chunk of n more modules is parsed."""
        if self.buf:
            self.chunks.put(self.buf)
            self.buf = []
        for _ in self.threads:
            self.chunks.put(None)
        while self.parsed < self.sent:
            n = self._take(self.done.get())
            if progress is not None:
                progress(n)
        for t in self.threads:
            t.join()
        constants: dict[str, str] = {}
        for _, c in sorted(self.consts, key=lambda x: x[0]):  # later files win, as in one process
            constants.update(c)
        with ThreadPoolExecutor(len(self.pool)) as ex:

            def everywhere(op: str, arg: object = None) -> list[Any]:
                return list(ex.map(lambda w: w.call(op, arg), self.pool))

            everywhere("globals", (constants, self.class_names, deferred))
            marks: dict[str, set[int | str]] = {}
            returns_client: set[str] = set()
            class_attrs: dict[str, set[str]] = {}
            state = (0, 0, 0, 0)
            for _ in range(MAX_ROUNDS):
                local = 0
                for m, r, a, n in everywhere("round", (marks, returns_client, class_attrs)):
                    for key, v in m.items():
                        marks.setdefault(key, set()).update(v)
                    returns_client |= r
                    for key, attrs in a.items():
                        class_attrs.setdefault(key, set()).update(attrs)
                    local += n
                new = (
                    local,
                    sum(len(v) for v in marks.values()),
                    len(returns_client),
                    sum(len(v) for v in class_attrs.values()),
                )
                if new == state:
                    break
                state = new
            results: list[tuple[int, FileResult]] = []
            issues: list[tuple[int, ScanIssue]] = []
            for res, iss in everywhere("findings"):
                results += res
                issues += iss
        for w in self.pool:
            w.close()
        self.pool = []
        results.sort(key=lambda x: x[0])
        issues.sort(key=lambda x: x[0])
        return [r for _, r in results], [i for _, i in issues]

    def abort(self) -> None:
        """Stop the workers (after a failure, or when the caller gives up)."""
        for _ in self.pool:
            self.chunks.put(None)
        for w in self.pool:
            w.kill()
        self.pool = []


if __name__ == "__main__":
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # the pipe carries only frames
    _serve(stdin, stdout)
