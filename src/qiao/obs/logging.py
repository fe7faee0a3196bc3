"""JSON logs, one object per line, with credentials redacted from every message.

Prompts, completions and keys are never logged by default (STYLE.md §4.10); hot-path numbers go to
metrics, not logs.
"""

from __future__ import annotations

import logging
import sys
import time

import orjson

from ..errors import redact

__all__ = ["JSONFormatter", "setup_logging"]


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(out).decode()


def setup_logging(level: str = "info") -> None:
    root = logging.getLogger("qiao")
    if any(isinstance(h.formatter, JSONFormatter) for h in root.handlers):
        return
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(JSONFormatter())
    root.addHandler(h)
    root.setLevel(level.upper())
    root.propagate = False
