"""Names a module offers but imports on first use (a PEP 562 module `__getattr__`), for the cold start:
a function loads the definitions its code path uses, not every one its imports could reach."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(namespace: dict[str, Any], where: Mapping[str, str]) -> Callable[[str], Any]:
    """The `__getattr__` of the module whose `globals()` is `namespace`: each name of `where` is imported
    from its module (relative to the package, e.g. `".document"`) the first time it is asked for, and is
    a plain attribute from then on. `from module import Name` works as if it were defined there."""

    def __getattr__(name: str) -> Any:
        source = where.get(name)
        if source is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source, namespace["__package__"]), name)
        namespace[name] = value
        return value

    return __getattr__
