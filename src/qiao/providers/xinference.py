"""``xinference``: Xorbits Inference's OpenAI-compatible API (others.md §10.4).

* Base ``http://<host>:9997/v1``; ``/chat/completions``, ``/embeddings``. ``model`` is the launched
  **model UID** (not the family name): the account lists the UIDs it serves.
* Auth only when the server runs with an auth config: ``Authorization: Bearer <api key>``; a bad key is a
  401 ``{"detail": "..."}``.
* Errors are FastAPI's ``{"detail": "..."}`` (``detail`` may also be a list of validation errors):
  an unknown UID is a **400** "Model not found in the model list, uid: …" → 404 ``model_not_found``; 429
  "Rate limit reached" (the model's request limit) → ``rate_limit_exceeded``; 500 generation failures.
* Streams come from ``sse_starlette``: ``: ping`` comment lines now and then (ignored), chunks, then
  ``data: [DONE]``; a failure is a frame ``data: {"error": "<plain string>"}`` (a string, not an object).
* Usage in streams: not reliably sent and ``stream_options`` is not part of Xinference's schema, so it is
  **not asked for**; the gateway estimates streamed usage (marked estimated) unless a chunk carries one.
* Reasoning: ``reasoning_content`` (when the model family has a reasoning parser).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import ModelNotFound, QiaoError, provider_error
from ._selfhosted import SelfHosted
from .base import Call, WireResponse

__all__ = ["Xinference", "provider"]


def _detail_text(detail: Any) -> str:
    if isinstance(detail, list):  # FastAPI validation errors
        parts = []
        for d in detail:
            if isinstance(d, dict):
                loc = ".".join(str(x) for x in d.get("loc") or () if x != "body")
                parts.append(f"{loc}: {d.get('msg')}" if loc else str(d.get("msg")))
            else:
                parts.append(str(d))
        return "; ".join(parts)
    return str(detail)


class Xinference(SelfHosted):
    name = "xinference"
    display_name = "Xinference (self-hosted)"
    default_base_url = "http://127.0.0.1:9997/v1"
    docs_url = "https://inference.readthedocs.io/en/latest/"
    emulator = "qiao.emulators.xinference:create_app"
    reasoning_field: ClassVar[str] = "reasoning_content"
    stream_usage_supported: ClassVar[bool] = False
    demo_models: ClassVar[tuple[str, ...] | None] = ("qwen2.5-instruct", "deepseek-r1-distill-qwen", "bge-m3")
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {"text-embedding-3-small": ("bge-m3", 2)}
    translations: ClassVar[dict[str, str]] = {
        **SelfHosted.translations,
        "model": "the launched model UID",
        "stream_options.include_usage": (
            "not sent (not in Xinference's schema); streamed usage is estimated by the gateway"
        ),
    }

    def classify_body(self, obj: Any, status: int, resp: WireResponse | None, call: Call) -> QiaoError | None:
        if isinstance(obj, dict) and "detail" in obj and "error" not in obj:
            message = _detail_text(obj["detail"])
            if "model not found" in message.lower():
                return provider_error(
                    ModelNotFound,
                    self.name,
                    message,
                    upstream_status=status,
                    body=resp.body if resp is not None else None,
                    param="model",
                )
            obj = {"error": {"message": message}}
        return super().classify_body(obj, status, resp, call)


provider = Xinference()
