"""Offline token estimates (context-window checks, reservations, usage a provider does not report).

Two estimators:

* :func:`count` — exact for OpenAI's ``o200k_base`` (GPT-4o family) using the ``bpe-openai`` wheel, which
  carries the vocabulary inside the package: nothing is downloaded (tiktoken downloads its vocabularies on
  first use, which fails offline and on air-gapped servers). Loading takes a couple of seconds and about
  70 MB, so it happens in a background thread the first time an exact count is wanted (most requests
  never need one: a request that obviously fits its context window is not tokenised, and providers
  report usage); until it is loaded, :func:`count` falls back to :func:`quick`.
* :func:`quick` — a regex estimate: one token per CJK character, per word, per digit and per symbol.
  Microseconds, no vocabulary. Its error against o200k is measured by ``tests/test_tokens.py`` and
  documented in ``docs/tokens.md``.

Chinese providers use their own tokenizers (ERNIE counts roughly 1 token per 1.3–1.5 Chinese characters,
GLM and Qwen near 1 per 1.5); both estimators are upper-bound-leaning for Chinese text, which is the safe
side for reservations and context checks. Usage that a provider reports always wins over an estimate.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["count", "count_messages", "is_exact", "load_exact", "quick"]

_TOKEN_RE = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]"  # CJK, kana, hangul: 1 each
    r"|[A-Za-z]+(?:'[a-z]+)?"  # a word
    r"|\d{1,3}"  # digits in groups of three, as o200k does
    r"|[^\sA-Za-z\d]"  # any other visible symbol
)

_enc: Any = None
_lock = threading.Lock()


def quick(text: str) -> int:
    """Cheap estimate, no vocabulary."""
    return len(_TOKEN_RE.findall(text))


def load_exact() -> bool:
    """Load the o200k vocabulary (blocking; call from a thread). Returns whether it is available."""
    global _enc
    if _enc is not None:
        return True
    with _lock:
        if _enc is None:
            try:
                import warnings

                with warnings.catch_warnings():  # it uses a deprecated importlib.resources call
                    warnings.simplefilter("ignore")
                    import bpe_openai

                    _enc = bpe_openai.get_encoding("o200k_base")
            except Exception:  # pragma: no cover - the wheel is a dependency; degrade to quick()
                return False
    return True


def is_exact() -> bool:
    return _enc is not None


_loading: threading.Thread | None = None


def _start_loading() -> None:
    global _loading
    with _lock:
        if _loading is None:
            _loading = threading.Thread(target=load_exact, name="qiao-vocabulary", daemon=True)
            _loading.start()


def count(text: str) -> int:
    """Exact o200k count when the vocabulary is loaded, else :func:`quick` (and start loading it)."""
    if not text:
        return 0
    enc = _enc
    if enc is None:
        if _loading is None:
            _start_loading()
        return quick(text)
    return len(enc.encode_ordinary(text))


def count_messages(texts: Iterable[str], counter: Any = None) -> int:
    """Prompt tokens of a chat the way OpenAI bills it: 3 per message + content, + 3 to prime the reply."""
    fn = counter or count
    n = 3
    for t in texts:
        n += 3 + fn(t)
    return n
