"""Embedding inputs and outputs: the checks of a request's ``input`` and the shaping of the vectors
(``dimensions``, ``encoding_format``). The requests themselves go through ``Gateway.embeddings``
(``gateway/pipeline.py``)."""

from __future__ import annotations

import base64
import math
import struct

from ..errors import InvalidRequest, UnsupportedParameter
from ..types import EmbeddingRequest

__all__ = ["embedding_inputs", "encode_embedding", "shorten"]


def embedding_inputs(req: EmbeddingRequest) -> list[str]:
    inp = req.input
    if isinstance(inp, str):
        items: list[str] = [inp]
    elif inp and isinstance(inp[0], int | list):
        raise UnsupportedParameter(
            "token arrays as embedding input are not supported; send text", param="input"
        )
    else:
        items = list(inp)  # type: ignore[arg-type]
    if not items:
        raise InvalidRequest("'input' must not be empty", param="input")
    for i, s in enumerate(items):
        if not s:
            raise InvalidRequest(f"'input[{i}]' must not be an empty string", param="input")
    return items


def shorten(vec: list[float], dim: int) -> list[float]:
    """Matryoshka-style shortening (as OpenAI's ``dimensions`` does): truncate and re-normalise."""
    v = vec[:dim]
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / n for x in v]


def encode_embedding(vec: list[float], fmt: str | None) -> list[float] | str:
    if fmt == "base64":
        return base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
    return vec
