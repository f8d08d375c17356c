"""One way for a package to export names it imports only when first asked for (so `import phazelab`
stays light: the trainer, plots and widgets pull in far more than the model and its config)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str], namespace: dict[str, Any]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`: each name in `homes` is imported from its module
    (relative, e.g. ".trainer") on first access and then cached in the package's `namespace`."""

    def __getattr__(name: str) -> Any:
        if name in homes:
            value = getattr(import_module(homes[name], package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(homes))

    return __getattr__, __dir__
