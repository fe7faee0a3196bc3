"""``llamacpp``: llama.cpp's ``llama-server`` (others.md §10.3).

* Base ``http://<host>:8080/v1``; one model per process (the request's ``model`` is mostly ignored; in
  router mode it picks the model). No catalogue: the account names the model it serves.
* Auth: optional ``--api-key`` → ``Authorization: Bearer``; a wrong key is a 401
  ``{"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}}``.
* Reasoning: ``reasoning_content`` with ``--reasoning-format deepseek``.
* Errors: ``{"error": {"code": <int>, "message", "type"}}`` with llama.cpp's own types:
  ``exceed_context_size_error`` (400, with ``n_prompt_tokens`` / ``n_ctx``) → ``context_length_exceeded``;
  ``not_supported_error`` (501: ``/v1/embeddings`` on a server started without ``--embeddings``) → a
  400 that says so (not retried: another attempt cannot help); ``unavailable_error`` (503 "Loading
  model") → 503, retried.
* Streams: usage (plus a llama.cpp ``timings`` object) rides on the **finish chunk**, which still has its
  choice, in builds since b6210 — with or without ``include_usage``; a separate ``choices: []`` chunk in
  others. Both are read; ``stream_options`` is sent.
* Extras: ``cache_prompt``, ``grammar``, ``json_schema``, ``mirostat*``, ``n_probs``, ``samplers``,
  ``timings_per_token``, ``top_k``, ``min_p``, ``repeat_penalty``.
* Trap: tool calling needs ``--jinja``; without it tools are not parsed.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import ContextLengthExceeded, InvalidRequest, QiaoError, provider_error
from ._selfhosted import SelfHosted
from .base import Call, WireResponse

__all__ = ["LlamaCpp", "provider"]


class LlamaCpp(SelfHosted):
    name = "llamacpp"
    display_name = "llama.cpp server (self-hosted)"
    default_base_url = "http://127.0.0.1:8080/v1"
    docs_url = "https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md"
    emulator = "qiao.emulators.llamacpp:create_app"
    reasoning_field: ClassVar[str] = "reasoning_content"
    stream_usage_supported: ClassVar[bool] = True
    demo_models: ClassVar[tuple[str, ...] | None] = ("qwen2.5-7b-instruct-q4_k_m", "embeddinggemma-300m")
    native_extras = frozenset(
        {
            "cache_prompt",
            "grammar",
            "json_schema",
            "mirostat",
            "mirostat_tau",
            "mirostat_eta",
            "n_probs",
            "samplers",
            "timings_per_token",
            "top_k",
            "min_p",
            "typical_p",
            "repeat_penalty",
            "repeat_last_n",
            "chat_template_kwargs",
            "id_slot",
        }
    )
    translations: ClassVar[dict[str, str]] = {
        **SelfHosted.translations,
        "stream_options.include_usage": "sent; usage is read from the finish chunk or a `choices: []` chunk",
    }

    def classify_body(self, obj: Any, status: int, resp: WireResponse | None, call: Call) -> QiaoError | None:
        err = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(err, dict):
            etype = str(err.get("type") or "")
            message = str(err.get("message") or "")
            kw: dict[str, Any] = {
                "vendor_code": etype or None,
                "upstream_status": status,
                "body": resp.body if resp is not None else None,
            }
            if etype == "exceed_context_size_error":
                n_ctx, n_prompt = err.get("n_ctx"), err.get("n_prompt_tokens")
                detail = f" ({n_prompt} prompt tokens, context {n_ctx})" if n_ctx else ""
                return provider_error(
                    ContextLengthExceeded, self.name, message + detail, param="messages", **kw
                )
            if etype == "not_supported_error" or status == 501:
                return provider_error(
                    InvalidRequest,
                    self.name,
                    f"{message} (the llama.cpp server does not offer this; e.g. start it with --embeddings)",
                    code="model_not_supported",
                    retryable=False,
                    **kw,
                )
        return super().classify_body(obj, status, resp, call)


provider = LlamaCpp()
