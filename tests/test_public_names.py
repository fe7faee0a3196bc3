"""Every module's ``__all__`` names only things that exist (STYLE.md §4.3); ruff's RUF022 keeps it sorted."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import qiao

MODULES = sorted(m.name for m in pkgutil.walk_packages(qiao.__path__, "qiao."))


@pytest.mark.parametrize("name", MODULES)
def test_all_is_complete(name: str) -> None:
    if name.endswith("__main__"):
        return
    mod = importlib.import_module(name)
    names = getattr(mod, "__all__", None)
    if names is None:
        return
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"{name}.__all__ names missing objects: {missing}"
