"""qiao (桥): an OpenAI-compatible gateway to Chinese and self-hosted LLM providers.

The public API is small on purpose: the app factory, the provider seam and the error tree.
Everything else is reached through the ``qiao`` command line.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
