"""Names a package exports but loads on first use (PEP 562), so that importing the
package for its light parts (a config model, an error) does not load a heavy one (pandas,
httpx, a protocol library)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, **modules: str) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `package.<module>` when one of its names is
    first asked for.

    Args:
        package: the package's `__name__`.
        **modules: module name → the names it provides, separated by spaces. A name may
            not be a module's own name: once imported, the module would shadow it.
    """
    where = {name: module for module, names in modules.items() for name in names.split()}
    clash = sorted(set(where) & set(modules))
    if clash:
        raise ValueError(f"{package}: {clash} name both a module and what it exports")

    def lazy_getattr(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return lazy_getattr
