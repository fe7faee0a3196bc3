"""``vllm``: a vLLM server's OpenAI-compatible API (others.md §10.1).

* Base ``http://<host>:8000/v1``; ``/chat/completions`` and ``/embeddings`` (embedding models only). No
  catalogue: the account lists the ``--served-model-name``\\ s it serves (``models: [...]``); vLLM answers
  404 for any other name.
* Auth: optional ``--api-key`` → ``Authorization: Bearer``. A wrong key is a 401 whose ``error`` is a
  **plain string** (``{"error": "Unauthorized"}``), classified as an authentication failure.
* Reasoning (with ``--reasoning-parser``): current releases emit **``reasoning``**, older ones
  ``reasoning_content``; both are read, and re-emitted as ``reasoning_content`` (message and delta).
  Reasoning token counts come from ``usage.completion_tokens_details.reasoning_tokens`` when vLLM sends it.
* Errors: ``{"error": {"message", "type": "BadRequestError", "param", "code": 400}}`` — ``code`` is the
  **integer** HTTP status, ``type`` an exception name; older releases send the same fields flat
  (``{"object": "error", "message", ..., "code": 400}``). Mid-stream: a ``data: {"error": {...}}`` frame,
  then ``data: [DONE]``. Context overflow is a 400 naming "maximum context length" →
  ``context_length_exceeded``.
* ``finish_reason`` ``abort`` / ``repetition`` → ``stop``.
* Usage in streams: ``stream_options.include_usage`` is honoured (a final ``choices: []`` chunk).
* Native extras passed through (``extra_body``): sampling (``top_k``, ``min_p``, ``repetition_penalty``,
  ``min_tokens``, ``ignore_eos``, ``bad_words``…), ``chat_template_kwargs``, ``include_reasoning``,
  ``thinking_token_budget``, ``structured_outputs``. The removed ``guided_json`` / ``guided_regex`` /
  ``guided_choice`` / ``guided_grammar`` are **not** passed: current vLLM ignores them silently (an
  unconstrained answer), so qiao refuses them (400 ``unsupported_parameter``); use ``response_format``.
* Trap (documented, not detectable): ``tool_choice: "auto"`` only works when the server runs with
  ``--enable-auto-tool-choice --tool-call-parser …``; otherwise the tool syntax stays in ``content``.
"""

from __future__ import annotations

from typing import ClassVar

from ._selfhosted import SelfHosted

__all__ = ["VLLM", "provider"]


class VLLM(SelfHosted):
    name = "vllm"
    display_name = "vLLM (self-hosted)"
    default_base_url = "http://127.0.0.1:8000/v1"
    docs_url = "https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html"
    emulator = "qiao.emulators.vllm:create_app"
    reasoning_field: ClassVar[str] = "reasoning"
    stream_usage_supported: ClassVar[bool] = True
    demo_models: ClassVar[tuple[str, ...] | None] = (
        "qwen2.5-7b-instruct",
        "deepseek-r1-distill-qwen-7b",
        "bge-m3",
    )
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {
        "gpt-4o-mini": ("qwen2.5-7b-instruct", 3),
        "text-embedding-3-small": ("bge-m3", 1),
    }
    native_extras = frozenset(
        {
            "top_k",
            "min_p",
            "repetition_penalty",
            "length_penalty",
            "min_tokens",
            "ignore_eos",
            "bad_words",
            "stop_token_ids",
            "skip_special_tokens",
            "spaces_between_special_tokens",
            "include_stop_str_in_output",
            "chat_template_kwargs",
            "include_reasoning",
            "thinking_token_budget",
            "structured_outputs",
            "priority",
            "request_id",
        }
    )
    translations: ClassVar[dict[str, str]] = {
        **SelfHosted.translations,
        "reasoning": "`reasoning` (or the older `reasoning_content`) → `reasoning_content`",
        "stream_options.include_usage": "always requested upstream (vLLM honours it)",
        "guided_json / guided_regex / guided_choice / guided_grammar": (
            "refused (400): current vLLM ignores them silently; use `response_format`"
        ),
    }


provider = VLLM()
