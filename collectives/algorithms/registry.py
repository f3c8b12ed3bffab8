"""The algorithm registry: one :class:`Algorithm` record per (collective, name).

A record holds everything the rest of the package needs to know about one algorithm: the compiler,
its symbolic block count, its alpha-beta closed form, its options (types, defaults, help) and its
documentation (the compiler's docstring: steps, bytes per step, closed form, reference). ``auto``
(:mod:`collectives.api`), :mod:`collectives.bounds`, ``scaleup collective list`` and ``scaleup collective
--help`` read the records; nothing else keys on algorithm names.

Adding an algorithm (see docs/collectives.md, "Adding an algorithm"): write one compiler function in the
family module it belongs to (or a new module imported by ``collectives/algorithms/__init__.py``) and put
``@register(...)`` on it::

    @register("all_gather", "ring", "ring all-gather (m-1 steps); chunks= pipelining",
              n_blocks=per_rank_chunks, closed_form=ring_all_gather_time, options=(CHUNKS,))
    def ring_all_gather(rows, size, fabric, block_table, n_blocks, *, chunks):
        '''Steps, bytes per step, closed form, reference.'''
        return flat_segment(...)

Notation (compilers): ``rows`` is an int64 matrix (g x m) of node indices, one group per row (a
collective's group is a 1-row batch; hierarchical algorithms and concurrent groups use many rows);
``block_table`` (g x n_blocks) maps each row's local block ids to global ones in symbolic mode, None
otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from topo import ScheduleError

from ..schedule import Phase, Schedule

if TYPE_CHECKING:
    from topo import Fabric

#: every collective, in the order the CLI lists them
COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "reduce", "send_recv")

#: what the ``bandwidth`` and ``latency`` of a closed form are measured on (``Algorithm.exact_on``)
FABRIC_KINDS = {
    "switch": "every rank has one full-duplex port of bandwidth B to one switch; alpha = one path (2 hops)",
    "ring": "ranks on a ring of direct links of bandwidth B each way; alpha = one link",
}


@dataclass(frozen=True)
class Option:
    """One option of an algorithm.

    Attributes:
        name: keyword, e.g. ``"chunks"``.
        type: ``int``, ``bool`` or ``str``.
        default: value when the caller gives none.
        help: one line for ``scaleup collective --help`` and docs.
        choices: for ``str`` options, the valid values (checked before compiling).
        rank: for ``int`` options, a rank position 0..m-1 of the group (else a positive integer).
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    rank: bool = False

    def parse(self, value: Any, m: int) -> Any:
        """The checked value of this option for a group of ``m`` ranks.

        Raises:
            ScheduleError: a non-positive or non-integer count, a root outside the group, an unknown choice.
        """
        if self.type is bool:
            return bool(value)
        if self.type is int:
            bad = isinstance(value, bool) or not isinstance(value, (int, np.integer))
            if self.rank:
                if bad or not 0 <= value < m:
                    raise ScheduleError(f"{self.name}: must be a rank position 0..{m - 1} of the group, got {value!r}")
            elif bad or value < 1:
                raise ScheduleError(f"{self.name}: must be a positive integer, got {value!r}")
            return int(value)
        if self.choices and value not in self.choices:
            raise ScheduleError(f"{self.name}: unknown algorithm {value!r}; valid: {', '.join(sorted(self.choices))}")
        return value


#: most chunks x ranks of one schedule: a ring compiles 2 (m - 1) x chunks steps, ~1 KB each (1,000,000 chunks on
#: 8 ranks took 7 GB and minutes); auto tries at most 64 chunks on 1,024 ranks (65,536)
MAX_PIPELINE_BLOCKS = 2**19
#: the pipelining option shared by ring, tree, hierarchical and in-network algorithms
CHUNKS = Option("chunks", int, 1, "pipelining: cut the data into this many chunks that follow each other")
#: the root option of broadcast and reduce
ROOT = Option("root", int, 0, "rank position (in the group) of the root", rank=True)


@dataclass(frozen=True)
class Algorithm:
    """The record of one (collective, algorithm).

    Attributes:
        collective: ``"all_reduce"``, ``"all_gather"``, ...
        name: the algorithm's name (``algorithm=`` of the API, ``--algorithm`` of the CLI).
        compile: ``compile(rows, size, fabric, block_table, n_blocks, **options) -> segments`` (a list of
            lists of :class:`Phase`); ``size`` is bytes in the nccl-tests convention of the collective.
            Its docstring is the algorithm's documentation: steps, bytes per step, closed form, reference.
        summary: one line for ``scaleup collective list``.
        n_blocks: ``n_blocks(rows, fabric, options) -> int``: how many equal data blocks the symbolic
            labels cut the data into (every step must move whole blocks).
        closed_form: ``closed_form(n, size, bandwidth, latency, **params) -> s``: the alpha-beta time with
            no contention on the fabric kind ``exact_on``; ``params`` are the options plus
            ``closed_form_params``; unused keywords are ignored.
        options: the :class:`Option` s it takes.
        exact_on: the fabric kind (a key of ``FABRIC_KINDS``) on which the simulation reproduces
            ``closed_form`` exactly.
        latency: what alpha is: ``"path"`` (a chip-to-chip path) or ``"hop"`` (one link).
        closed_form_params: ``(fabric, group) -> dict`` of the fabric-dependent parameters of the closed
            form (switch levels, part sizes), or None.
        max_step_flows: ``(m) -> int`` flows of its largest step, when ``auto`` should skip it by that count
            before compiling; None: auto compiles it and counts.
        serial: its m-1 steps all differ (no template key), so step mode solves each; auto skips it on
            large groups.
        auto_chunks: ``auto`` also tries it with ``chunks`` in ``AUTO_CHUNKS`` (pipelined algorithms).
        uniform_exchange: one step where every rank sends size/n to every other rank (the engine's
            counting form solves it over a whole fabric).
        in_network: switches reduce the data (the run caps edges into reducing switches).
        batched: compiles many groups (rows) at once; False: :func:`collectives.run` compiles each group.
        ignores: options accepted and ignored (kept for callers that pass them to every algorithm).
    """

    collective: str
    name: str
    compile: Callable[..., list[list[Phase]]]
    summary: str
    n_blocks: Callable[[np.ndarray, Fabric, dict], int]
    closed_form: Callable[..., float]
    options: tuple[Option, ...] = ()
    exact_on: str = "switch"
    latency: str = "path"
    closed_form_params: Callable[[Fabric, np.ndarray], dict] | None = None
    max_step_flows: Callable[[int], int] | None = None
    serial: bool = False
    auto_chunks: bool = False
    uniform_exchange: bool = False
    in_network: bool = False
    batched: bool = True
    ignores: tuple[str, ...] = ()

    @property
    def doc(self) -> str:
        """The compiler's docstring (steps, bytes per step, closed form, reference)."""
        return self.compile.__doc__ or ""

    @property
    def option_names(self) -> tuple[str, ...]:
        """Names of the options this algorithm takes."""
        return tuple(o.name for o in self.options)

    def parse_options(self, opts: dict, m: int) -> dict:
        """Every option with its checked value (defaults filled in) for a group of ``m`` ranks.

        Raises:
            ScheduleError: an unknown option or a bad value.
        """
        opts = dict(opts)
        opts.pop("symbolic", None)
        for name in self.ignores:
            opts.pop(name, None)
        unknown = sorted(k for k in opts if k not in self.option_names)
        if unknown:
            raise ScheduleError(f"{self.name}: unknown option(s) {', '.join(unknown)}")
        out = {o.name: o.parse(opts.get(o.name, o.default), m) for o in self.options}
        if out.get("chunks", 1) * m > MAX_PIPELINE_BLOCKS:  # steps (and memory) grow as chunks x ranks
            raise ScheduleError(
                f"chunks: {out['chunks']:,} chunks x {m} ranks = {out['chunks'] * m:,} pipeline blocks, more than the "
                f"{MAX_PIPELINE_BLOCKS:,} a schedule may have; use at most {MAX_PIPELINE_BLOCKS // m:,} chunks here")
        return out

    def __call__(self, group: Any, size: float, fabric: Fabric, symbolic: bool = False, **opts: Any) -> Schedule:
        """Compile this algorithm for ``group`` (ranks, or a g x m matrix of groups) and ``size`` bytes.

        ``symbolic=True`` labels every flow with the data blocks it carries (for :func:`collectives.verify`).

        Raises:
            ScheduleError: a bad option, or a group or fabric the algorithm does not apply to.
        """
        rows = group_rows(group)
        options = self.parse_options(opts, rows.shape[1])
        n_blocks = int(self.n_blocks(rows, fabric, options)) if symbolic else 0
        table = block_table(n_blocks, rows.shape[0]) if symbolic else None
        segments = self.compile(rows, float(size), fabric, table, n_blocks, **options)
        root = options.get("root")
        return Schedule(self.collective, self.name, rows[0].copy(), float(size), segments, n_blocks=n_blocks,
                        root=root, params=options, rows=rows if rows.shape[0] > 1 else None)


#: (collective, name) -> :class:`Algorithm`, in registration order
REGISTRY: dict[tuple[str, str], Algorithm] = {}


def register(collective: str, name: str, summary: str, *, n_blocks: Callable[[np.ndarray, Fabric, dict], int],
             closed_form: Callable[..., float], options: tuple[Option, ...] = (), **flags: Any):
    """Decorator: register ``compile`` as algorithm ``name`` of ``collective`` (see :class:`Algorithm`).

    Raises:
        RuntimeError: the pair is registered already, or the compiler has no docstring.
    """
    if collective not in COLLECTIVES:
        raise RuntimeError(f"register: unknown collective {collective!r}")

    def deco(compile_fn):
        """Record ``compile_fn`` in REGISTRY and return it unchanged."""
        if (collective, name) in REGISTRY:
            raise RuntimeError(f"register: {collective} {name!r} is registered twice")
        if not (compile_fn.__doc__ or "").strip():
            raise RuntimeError(f"register: {compile_fn.__name__} has no docstring")
        REGISTRY[(collective, name)] = Algorithm(collective, name, compile_fn, summary, n_blocks, closed_form,
                                                 tuple(options), **flags)
        return compile_fn

    return deco


def record(collective: str, name: str) -> Algorithm:
    """The record of ``name`` for ``collective``.

    Raises:
        ScheduleError: no such algorithm (the message lists the valid ones).
    """
    rec = REGISTRY.get((collective, name)) if isinstance(name, str) else None  # a list: unhashable, TypeError
    if rec is None:
        valid = ", ".join(algorithms_for(collective) + ["auto"])
        raise ScheduleError(f"algorithm: {name!r} is not an algorithm for {collective}; valid: {valid}")
    return rec


def algorithms_for(collective: str) -> list[str]:
    """Registered algorithm names of one collective."""
    return [n for (c, n) in REGISTRY if c == collective]


def describe() -> dict[str, Any]:
    """{collective: {name: one-line summary}} of the registry."""
    out: dict[str, Any] = {}
    for (c, n), rec in REGISTRY.items():
        out.setdefault(c, {})[n] = rec.summary
    return out


# ---------------------------------------------------------------------- helpers shared by the compilers


def group_rows(group: Any) -> np.ndarray:
    """A group (1-D) or a batch of equal-sized groups (2-D, one per row) as an int64 matrix."""
    rows = np.asarray(group, dtype=np.int64)
    return rows[None, :] if rows.ndim == 1 else rows


def block_table(n_blocks: int, n_rows: int = 1) -> np.ndarray:
    """Block table of ``n_rows`` rows: each row's local blocks are global blocks 0..n_blocks-1."""
    return np.repeat(np.arange(n_blocks, dtype=np.int64)[None, :], n_rows, axis=0)


def label(table: np.ndarray | None, rows: np.ndarray, local: np.ndarray) -> np.ndarray | None:
    """Global block ids (n_flows, q) of flows of the given ``rows`` carrying local blocks ``local``."""
    if table is None:
        return None
    local = np.asarray(local, dtype=np.int64)
    if local.ndim == 1:
        local = local[:, None]
    return table[np.asarray(rows, dtype=np.int64)[:, None], local]


def row_index(n_rows: int, per_row: int) -> np.ndarray:
    """Row id of each flow when every row has ``per_row`` flows, row after row."""
    return np.repeat(np.arange(n_rows, dtype=np.int64), per_row)


def sort_phases(phases: list[Phase]) -> list[Phase]:
    """Phases in pipeline order (slot, chain, chunk, stage)."""
    return sorted(phases, key=lambda p: (p.slot, p.chain, p.chunk, p.stage))


def flat_segment(phases: list[Phase]) -> list[list[Phase]]:
    """One segment of the given phases (none when there are no phases)."""
    return [sort_phases(phases)] if phases else []


def is_pow2(m: int) -> bool:
    """Whether m is a power of two."""
    return m > 0 and (m & (m - 1)) == 0


def per_rank(rows: np.ndarray, fabric: Fabric, options: dict) -> int:
    """Block count: one block per rank (m)."""
    return rows.shape[1]


def per_rank_chunk(rows: np.ndarray, fabric: Fabric, options: dict) -> int:
    """Block count: one block per rank and chunk (m x chunks)."""
    return rows.shape[1] * options["chunks"]


def per_pair(rows: np.ndarray, fabric: Fabric, options: dict) -> int:
    """Block count: one block per ordered pair of ranks (m x m, all-to-all)."""
    return rows.shape[1] ** 2


def one_block(rows: np.ndarray, fabric: Fabric, options: dict) -> int:
    """Block count: the whole buffer is one block."""
    return 1
