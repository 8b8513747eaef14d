"""Package attributes imported on first use (PEP 562 module __getattr__), so that importing
a package stays light: `import wno_edge.runtime` must not pull in torch."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module


def lazy_exports(package: str, modules: Mapping[str, tuple[str, ...]]) -> tuple[Callable[[str], object], list[str]]:
    """(__getattr__, names) for `package`: each name in modules[m] is looked up in the
    submodule m (relative, ".trainer") when first asked for."""
    where = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> object:
        if name in where:
            return getattr(import_module(where[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, list(where)
