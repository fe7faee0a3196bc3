"""Worker processes for the Python scan of a large project (parsing is most of a scan's time).

Each worker is ``python -m qiao.migrate._pypool``, talking length-prefixed pickles over its stdin and
stdout (no ``multiprocessing``: its spawn start method re-imports the caller's ``__main__``). A worker
keeps the syntax trees of the modules it parsed: only small things cross the pipes.

1. ``add``: chunks of ``(index, rel, source)`` are handed to whichever worker is free; each parses and
   collects its modules and answers with their constants and class names.
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
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from ._model import FileResult, ScanIssue
from ._pyscan import PythonProject

__all__ = ["WorkerError", "scan_python_parallel"]

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
class _Worker:
    def __init__(self) -> None:
        import qiao

        env = dict(os.environ)
        here = str(Path(qiao.__file__).resolve().parent.parent)  # so the child imports this very qiao
        env["PYTHONPATH"] = os.pathsep.join(x for x in (here, env.get("PYTHONPATH")) if x)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "qiao.migrate._pypool"],
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


def scan_python_parallel(
    sources: Sequence[tuple[str, str]],
    deferred: dict[str, str],
    workers: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[FileResult], list[ScanIssue]]:
    """Scan ``(rel, source)`` modules in ``workers`` processes. Returns each module's findings (in the
    order of ``sources``) and the modules that did not parse. ``deferred`` maps module names of files
    not worth parsing to their paths; ``progress(n)`` is told as each chunk of n files is parsed.
    Raises :class:`WorkerError` when a worker cannot be started or fails."""
    size = max(4, min(64, len(sources) // (workers * 8) or 1))
    chunks: queue.SimpleQueue[list[tuple[int, str, str]]] = queue.SimpleQueue()
    for start in range(0, len(sources), size):
        chunks.put([(i, *sources[i]) for i in range(start, min(start + size, len(sources)))])
    done: queue.SimpleQueue[tuple[int, Any] | BaseException] = queue.SimpleQueue()
    pool: list[_Worker] = []
    try:
        for _ in range(workers):
            pool.append(_Worker())

        def feed(w: _Worker) -> None:
            try:
                while True:
                    try:
                        chunk = chunks.get_nowait()
                    except queue.Empty:
                        return
                    done.put((len(chunk), w.call("add", chunk)))
            except BaseException as exc:
                done.put(exc)

        threads = [threading.Thread(target=feed, args=(w,), daemon=True) for w in pool]
        for t in threads:
            t.start()
        consts: list[tuple[int, dict[str, str]]] = []
        class_names: set[str] = set()
        remaining = len(sources)
        failure: BaseException | None = None
        while remaining and failure is None:
            item = done.get()
            if isinstance(item, BaseException):
                failure = item
                break
            n, (c, names) = item
            consts += c
            class_names |= names
            remaining -= n
            if progress is not None:
                progress(n)
        for t in threads:
            t.join()
        if failure is not None:
            raise failure if isinstance(failure, WorkerError) else WorkerError(str(failure))

        constants: dict[str, str] = {}
        for _, c in sorted(consts, key=lambda x: x[0]):
            constants.update(c)
        with ThreadPoolExecutor(len(pool)) as ex:

            def everywhere(op: str, arg: object = None) -> list[Any]:
                return list(ex.map(lambda w: w.call(op, arg), pool))

            everywhere("globals", (constants, class_names, deferred))
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
    finally:
        for w in pool:
            w.close()
    results.sort(key=lambda x: x[0])
    issues.sort(key=lambda x: x[0])
    return [r for _, r in results], [i for _, i in issues]


if __name__ == "__main__":
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # the pipe carries only frames
    _serve(stdin, stdout)
