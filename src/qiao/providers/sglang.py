"""``sglang``: an SGLang server's OpenAI-compatible API.

* Base ``http://<host>:30000/v1``; ``/chat/completions``, ``/embeddings`` (embedding models). No
  catalogue: the account lists the served model names.
* Auth: optional ``--api-key`` → ``Authorization: Bearer``; a wrong key is a 401 ``{"error":
  "Unauthorized"}`` (a string, as vLLM).
* Reasoning (with ``--reasoning-parser``): ``reasoning_content`` in message and delta (others.md §1.2).
* Errors: the flat vLLM-style body ``{"object": "error", "message", "type": "BadRequestError", "param",
  "code": 400}`` (integer code); mid-stream a ``data: {"error": {...}}`` frame.
* Choices carry an extra ``matched_stop`` (the stop token or string that ended the answer): ignored.
* Usage in streams: ``stream_options.include_usage`` is honoured.
* Native extras: ``top_k``, ``min_p``, ``repetition_penalty``, ``min_tokens``, ``regex``, ``ebnf``,
  ``json_schema``, ``separate_reasoning``, ``stream_reasoning``, ``chat_template_kwargs``, ``ignore_eos``,
  ``no_stop_trim``, ``skip_special_tokens``, ``lora_path``.
"""

from __future__ import annotations

from typing import ClassVar

from ._selfhosted import SelfHosted

__all__ = ["SGLang", "provider"]


class SGLang(SelfHosted):
    name = "sglang"
    display_name = "SGLang (self-hosted)"
    default_base_url = "http://127.0.0.1:30000/v1"
    docs_url = "https://docs.sglang.ai/basic_usage/openai_api_completions.html"
    emulator = "qiao.emulators.sglang:create_app"
    reasoning_field: ClassVar[str] = "reasoning_content"
    stream_usage_supported: ClassVar[bool] = True
    demo_models: ClassVar[tuple[str, ...] | None] = ("qwen2.5-7b-instruct", "qwq-32b", "bge-m3")
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {"text-embedding-3-small": ("bge-m3", 1)}
    native_extras = frozenset(
        {
            "top_k",
            "min_p",
            "repetition_penalty",
            "min_tokens",
            "regex",
            "ebnf",
            "json_schema",
            "separate_reasoning",
            "stream_reasoning",
            "chat_template_kwargs",
            "ignore_eos",
            "no_stop_trim",
            "skip_special_tokens",
            "lora_path",
            "rid",
        }
    )
    translations: ClassVar[dict[str, str]] = {
        **SelfHosted.translations,
        "reasoning_content": "passed through (SGLang's own name)",
        "stream_options.include_usage": "always requested upstream (SGLang honours it)",
    }


provider = SGLang()
