"""Refuse fabrics too large to build before allocating them.

A fabric is a NetworkX graph plus numpy arrays: about 750 bytes per node or directed edge (measured on
``switch(chips=20000)``: 43 MiB peak for 60,001 nodes and edges; a 16,384-chip 3D torus: 322 bytes).
A builder calls :func:`check_graph_size` with its node and edge counts, computed from the parameters
alone, so ``switch(chips=10**9)`` is a one-line :class:`CapacityError` naming the largest that fits instead
of a MemoryError after minutes of swapping.
"""

from __future__ import annotations

from .errors import CapacityError

#: bytes per graph element (node or directed edge), rounded up from the measurement above
BYTES_PER_ELEMENT = 1024
#: the most graph elements a builder may allocate (4 M elements, ~4 GiB; 6,144-chip maia200 is ~0.2 M)
MAX_GRAPH_ELEMENTS = 4_000_000


def check_graph_size(builder: str, field: str, value: object, n_nodes: int, n_edges: int, per_chip: float,
                     fixed: float = 0.0) -> None:
    """Raise :class:`CapacityError` when ``n_nodes + n_edges`` exceeds :data:`MAX_GRAPH_ELEMENTS`.

    Args:
        builder: builder name for the message.
        field, value: the parameter to change, as written by the user (``chips``, ``dims``).
        n_nodes, n_edges: what the builder would allocate.
        per_chip, fixed: elements per chip and fixed elements, so the message can name the largest chip
            count that fits: ``(MAX_GRAPH_ELEMENTS - fixed) // per_chip``.
    """
    total = int(n_nodes) + int(n_edges)
    if total <= MAX_GRAPH_ELEMENTS:
        return
    largest = int((MAX_GRAPH_ELEMENTS - fixed) // per_chip)
    gib = total * BYTES_PER_ELEMENT / 2**30
    raise CapacityError(
        f"{field}: {value!r} gives a {builder} fabric of {total:,} nodes and links (~{gib:,.0f} GiB); the largest "
        f"that fits the {MAX_GRAPH_ELEMENTS:,}-element budget has {largest:,} chips with these settings"
    )
