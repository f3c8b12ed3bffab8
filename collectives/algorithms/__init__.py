"""Collective algorithms compiled to phases of flows, one registry record per (collective, algorithm).

Modules by family: :mod:`.ring`, :mod:`.direct` (one-step exchanges, pairwise all-to-all, send/recv),
:mod:`.halving_doubling`, :mod:`.trees`, :mod:`.rooted` (broadcast, reduce), :mod:`.hierarchical`,
:mod:`.inr` (in-network reduction), :mod:`.multirail` (all-port: tray and switched links at once);
:mod:`.registry` holds the :class:`Algorithm` records.

``REGISTRY[(collective, name)]`` is the record (compiler, block count, closed form, options, doc);
calling it, ``REGISTRY[(c, n)](group, size, fabric, symbolic=False, **opts)``, compiles a
:class:`~collectives.schedule.Schedule`. ``ALGORITHMS`` is the same mapping (the historical name).

To add an algorithm: one compiler function with ``@register(...)`` in the family module it belongs to
(or a new module imported below); see docs/collectives.md, "Adding an algorithm".
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from .registry import (
    CHUNKS,
    COLLECTIVES,
    FABRIC_KINDS,
    REGISTRY,
    ROOT,
    Algorithm,
    Option,
    algorithms_for,
    describe,
    record,
    register,
)

#: the family modules, imported (so registered) in this order: the order ``algorithms_for``, the CLI list
#: and ``auto`` use. A new family module goes here.
FAMILIES = ("ring", "halving_doubling", "trees", "direct", "hierarchical", "inr", "rooted", "multirail")
for _family in FAMILIES:
    importlib.import_module(f".{_family}", __name__)

from .trees import btree_parents, double_btree  # noqa: E402  (after the loop: trees registers in its turn)

#: (collective, name) -> callable record ``(group, size, fabric, symbolic=False, **opts) -> Schedule``
ALGORITHMS: dict[tuple[str, str], Algorithm] = REGISTRY


class _Summaries(Mapping):
    """(collective, name) -> one-line summary, read live from the registry."""

    def __getitem__(self, key: tuple[str, str]) -> str:
        return REGISTRY[key].summary

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(REGISTRY)

    def __len__(self) -> int:
        return len(REGISTRY)


#: (collective, name) -> one-line description (for the CLI and docs), derived from ``REGISTRY``
DESCRIPTIONS: Mapping[tuple[str, str], str] = _Summaries()

__all__ = [
    "ALGORITHMS",
    "CHUNKS",
    "COLLECTIVES",
    "DESCRIPTIONS",
    "FABRIC_KINDS",
    "FAMILIES",
    "REGISTRY",
    "ROOT",
    "Algorithm",
    "Option",
    "algorithms_for",
    "btree_parents",
    "describe",
    "double_btree",
    "record",
    "register",
]
