"""Which providers exist: built-ins by module path, outside packages by the ``qiao.providers`` entry point.

Adding a built-in provider is one line here. Nothing else in qiao branches on a provider's name.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points

from .base import Provider

__all__ = ["BUILTIN", "all_providers", "get_provider", "provider_names"]

BUILTIN: dict[str, str] = {
    "ark": "qiao.providers.ark:provider",
    "azure": "qiao.providers.azure:provider",
    "baichuan": "qiao.providers.baichuan:provider",
    "dashscope": "qiao.providers.dashscope:provider",
    "deepseek": "qiao.providers.deepseek:provider",
    "ernie": "qiao.providers.ernie:provider",
    "ernie_v1": "qiao.providers.ernie_v1:provider",
    "hunyuan": "qiao.providers.hunyuan:provider",
    "llamacpp": "qiao.providers.llamacpp:provider",
    "minimax": "qiao.providers.minimax:provider",
    "moonshot": "qiao.providers.moonshot:provider",
    "ollama": "qiao.providers.ollama:provider",
    "ollama_openai": "qiao.providers.ollama_openai:provider",
    "openai": "qiao.providers.openai:provider",
    "openai_compat": "qiao.providers.openai_compat:provider",
    "qwen": "qiao.providers.qwen:provider",
    "sensenova": "qiao.providers.sensenova:provider",
    "sglang": "qiao.providers.sglang:provider",
    "spark": "qiao.providers.spark:provider",
    "spark_http": "qiao.providers.spark_http:provider",
    "stepfun": "qiao.providers.stepfun:provider",
    "vllm": "qiao.providers.vllm:provider",
    "xinference": "qiao.providers.xinference:provider",
    "yi": "qiao.providers.yi:provider",
    "zhipu": "qiao.providers.zhipu:provider",
}


def _load(ref: str) -> Provider:
    module, _, attr = ref.partition(":")
    obj = getattr(importlib.import_module(module), attr)
    if not isinstance(obj, Provider):
        raise TypeError(f"{ref} is not a qiao Provider")
    return obj


@cache
def _table() -> dict[str, str]:
    table = dict(BUILTIN)
    for ep in entry_points(group="qiao.providers"):
        table.setdefault(ep.name, ep.value)
    return table


def provider_names() -> list[str]:
    return sorted(_table())


@cache
def get_provider(name: str) -> Provider:
    try:
        ref = _table()[name]
    except KeyError:
        raise KeyError(f"unknown provider {name!r}; known: {', '.join(provider_names())}") from None
    return _load(ref)


def all_providers() -> list[Provider]:
    return [get_provider(n) for n in provider_names()]
