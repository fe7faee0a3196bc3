"""Protocol-faithful emulators of each provider, shipped so that ``qiao demo`` and users' own tests run
offline. ``load_emulator(slug, options)`` builds one by provider slug."""

from __future__ import annotations

import importlib

from ._asgi import EmulatorApp, EmulatorOptions

__all__ = ["EmulatorApp", "EmulatorOptions", "load_emulator"]


def load_emulator(provider: str, options: EmulatorOptions | None = None) -> EmulatorApp:
    from ..providers._registry import get_provider

    p = get_provider(provider)
    if not p.emulator:
        raise KeyError(f"provider {provider!r} has no emulator")
    module, _, attr = p.emulator.partition(":")
    factory = getattr(importlib.import_module(module), attr)
    app: EmulatorApp = factory(options or EmulatorOptions())
    return app
