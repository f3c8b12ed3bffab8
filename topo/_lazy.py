"""Lazy package exports: a package's public names are imported on first use, not at ``import package``.

``scaleup --help`` and a small collective should not pay for networkx, scipy.sparse.csgraph, matplotlib
or numba compilation they never use. A package lists ``{public name: submodule}`` and gets a module-level
``__getattr__`` (PEP 562) that imports the submodule when the name is first read, plus ``__dir__`` so
``dir(package)`` and tab completion still show every name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` exporting ``names`` (public name -> relative submodule).

    A name that maps to its own submodule (``"presets": ".presets"``) returns the module itself.
    """

    def __getattr__(name: str) -> object:
        try:
            sub = names[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module = importlib.import_module(sub, package)
        value = module if sub.lstrip(".") == name else getattr(module, name)
        globals_ = importlib.import_module(package).__dict__
        globals_[name] = value  # later reads skip __getattr__
        return value

    def __dir__() -> list[str]:
        pkg = importlib.import_module(package)
        return sorted(set(pkg.__dict__) | set(names))

    return __getattr__, __dir__
