"""``ollama_openai``: Ollama's OpenAI-compatible ``/v1`` API (others.md §10.2).

Ollama speaks two protocols; this slug is the OpenAI-shaped one (the native NDJSON ``/api/chat`` is the
``ollama`` provider). Use it when the server sits behind something that only forwards ``/v1``, or to
get ``tool_choice`` / ``n`` / ``logprobs`` semantics Ollama only implements there.

* Base ``http://<host>:11434/v1``; ``/chat/completions``, ``/embeddings``. No catalogue: the account lists
  pulled model tags (``qwen3:8b``); an unpulled model is a 404 "model … not found, try pulling it first".
* No auth: Ollama accepts any key (the credential is optional and only useful behind an auth proxy).
* Reasoning: thinking models answer with a **``reasoning``** field (message and delta) → re-emitted as
  ``reasoning_content``. ``reasoning_effort`` (``low``/``medium``/``high`` on, ``none`` off) is forwarded.
* Errors: ``{"error": {"message", "type": "invalid_request_error" | "not_found_error" | "api_error",
  "param": null, "code": null}}``.
* Tool calls arrive whole in one delta (with ``index``); a tool-call answer that says ``stop`` (older
  releases) says ``tool_calls``.
* Usage in streams: ``stream_options.include_usage`` is honoured.
* Traps (documented): ``max_tokens`` is capped by the model's ``num_predict``; the context window is the
  server's ``num_ctx`` (long prompts may be truncated silently); ``json_schema`` may fall back to JSON mode.
"""

from __future__ import annotations

from typing import ClassVar

from ._selfhosted import SelfHosted

__all__ = ["OllamaOpenAI", "provider"]


class OllamaOpenAI(SelfHosted):
    name = "ollama_openai"
    display_name = "Ollama (OpenAI-compatible /v1)"
    default_base_url = "http://127.0.0.1:11434/v1"
    credential_format = "none (Ollama has no auth; any value is accepted, e.g. behind an auth proxy)"
    docs_url = "https://docs.ollama.com/api/openai-compatibility"
    emulator = "qiao.emulators.ollama_openai:create_app"
    reasoning_field: ClassVar[str] = "reasoning"
    stream_usage_supported: ClassVar[bool] = True
    demo_models: ClassVar[tuple[str, ...] | None] = ("qwen2.5:7b", "qwen3:8b", "nomic-embed-text")
    translations: ClassVar[dict[str, str]] = {
        **SelfHosted.translations,
        "reasoning": "`reasoning` → `reasoning_content`",
        "stream_options.include_usage": "always requested upstream (Ollama honours it)",
    }


provider = OllamaOpenAI()
