"""Where the bundled data files are: ``topologies/`` (fabric specs) and ``examples/`` (sweep specs, what-if
jobs, example fabrics), whatever the install.

- A source checkout or an editable install (``pip install -e .``): the top-level folders of the repository,
  next to the packages.
- A regular install (``pip install .``, a wheel): the same files, shipped as package data of the data-only
  package ``scaleup_data`` (``site-packages/scaleup_data/topologies``, ``.../scaleup_data/examples``);
  pyproject.toml maps the top-level folders there (``[tool.setuptools.package-dir]``), so the repository
  keeps its layout and nothing is copied.

:func:`bundled_dir` is the one place that finds them; ``topo.loader.TOPOLOGIES_DIR`` and
``sweep.spec.EXAMPLES_DIR`` are its answers, so the CLI resolves bundled names the same from any directory.
:func:`bundled_file` lets the docs' repository-relative paths (``scaleup jobs examples/whatif-jobs.yaml``) work
outside a checkout: a path ``examples/...`` or ``topologies/...`` that does not exist where the user runs the
command names the bundled file (a file of the user's own at that path always wins).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["BUNDLED", "DATA_PACKAGE", "bundled_dir", "bundled_file"]

#: the folders shipped with the package (top-level in the repository)
BUNDLED = ("topologies", "examples")
#: the package a regular install puts them in (``scaleup_data.topologies``, ``scaleup_data.examples``)
DATA_PACKAGE = "scaleup_data"

#: the repository root in a source checkout (the folder holding ``topo/``)
_SOURCE_ROOT = Path(__file__).resolve().parents[1]


def _installed(kind: str) -> Path | None:
    """The folder of ``scaleup_data.<kind>`` when a regular install shipped it, else None."""
    try:
        spec = importlib.util.find_spec(f"{DATA_PACKAGE}.{kind}")
    except (ImportError, ValueError):
        return None
    for loc in (spec.submodule_search_locations or []) if spec is not None else []:
        if Path(loc).is_dir():
            return Path(loc).resolve()
    return None


def bundled_dir(kind: str) -> Path:
    """The folder of the bundled ``kind`` files (``"topologies"`` or ``"examples"``).

    The installed package data (``scaleup_data/<kind>``) first, then the repository's ``<kind>/`` next to
    the packages (source checkout, editable install). The installed copy goes first so that an unrelated
    top-level ``examples/`` folder some other distribution left in site-packages is never taken for ours.

    Raises:
        ValueError: ``kind`` is not one of :data:`BUNDLED`.
        RuntimeError: neither exists (a broken install: reinstall the package).
    """
    if kind not in BUNDLED:
        raise ValueError(f"bundled_dir: kind {kind!r} is not one of {', '.join(BUNDLED)}")
    found = _installed(kind)
    if found is not None:
        return found
    source = _SOURCE_ROOT / kind
    if source.is_dir():
        return source
    raise RuntimeError(
        f"bundled {kind}/ not found: neither package data {DATA_PACKAGE}/{kind} nor {source}; "
        "reinstall scaleup-sim (pip install .)"
    )


def bundled_file(path: str | Path) -> Path | None:
    """The bundled file a repository-relative ``path`` names (``examples/whatif-jobs.yaml``,
    ``topologies/maia200.yaml``, ``examples/fabrics/my-256-chip.yaml``) when ``path`` does not exist as given;
    None when it exists, is absolute, does not start with one of :data:`BUNDLED`, or names no bundled file."""
    text = str(path)
    if not text or "\n" in text:
        return None
    try:
        p = Path(text)
        if p.is_absolute() or len(p.parts) < 2 or p.parts[0] not in BUNDLED or ".." in p.parts or p.exists():
            return None
        cand = bundled_dir(p.parts[0]).joinpath(*p.parts[1:])
        return cand if cand.is_file() else None
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte: not a bundled file
        return None
