"""collectives: algorithms compiled to flow schedules, simulated with contention, reported like nccl-tests.

Public names:
- :func:`all_reduce`, :func:`all_gather`, :func:`reduce_scatter`, :func:`all_to_all`, :func:`broadcast`,
  :func:`reduce`, :func:`send_recv` -> :class:`CollectiveResult` (``.time`` s, ``.algbw``/``.busbw``
  bytes/s, ``.bound`` s, ``.algorithm``, ``.schedule``, ``.link_stats``).
- :class:`AllReduce`, :class:`AllGather`, ... and :func:`run` for many collectives at once.
- :data:`REGISTRY` (alias :data:`ALGORITHMS`) ``[(collective, name)]`` -> :class:`Algorithm` record (compiler,
  block count, closed form, options, doc); calling it, ``rec(group, size, fabric, **opts)``, compiles a
  :class:`Schedule`. :func:`register` adds one (docs/collectives.md, "Adding an algorithm").
- :mod:`collectives.bounds`: alpha-beta closed forms and lower bounds.
- :class:`Schedule`, :class:`Phase`, :func:`verify` (symbolic correctness check of a schedule).
"""

from . import bounds
from . import calibrate as calibrate_module
from .algorithms import (
    ALGORITHMS,
    COLLECTIVES,
    DESCRIPTIONS,
    REGISTRY,
    Algorithm,
    Option,
    algorithms_for,
    describe,
    double_btree,
    register,
)
from .api import (
    BUSBW_FACTOR,
    OPS,
    AllGather,
    AllReduce,
    AllToAll,
    Broadcast,
    CollectiveResult,
    LinkStats,
    Op,
    Reduce,
    ReduceScatter,
    SendRecv,
    all_gather,
    all_reduce,
    all_to_all,
    broadcast,
    collective,
    default_group,
    reduce,
    reduce_scatter,
    run,
    send_recv,
    size_bytes,
)
from .calibrate import Calibration, calibrate
from .comm import comm_of
from .nccl_tests import parse_nccl_tests, read_nccl_tests
from .report import benchmark, format_table, plot_busbw, to_csv, to_json
from .schedule import Phase, Schedule, verify

__all__ = [
    "ALGORITHMS",
    "BUSBW_FACTOR",
    "COLLECTIVES",
    "DESCRIPTIONS",
    "OPS",
    "REGISTRY",
    "Algorithm",
    "AllGather",
    "AllReduce",
    "AllToAll",
    "Broadcast",
    "Calibration",
    "CollectiveResult",
    "LinkStats",
    "Op",
    "Option",
    "Phase",
    "Reduce",
    "ReduceScatter",
    "Schedule",
    "SendRecv",
    "algorithms_for",
    "benchmark",
    "format_table",
    "plot_busbw",
    "to_csv",
    "to_json",
    "all_gather",
    "all_reduce",
    "all_to_all",
    "bounds",
    "broadcast",
    "calibrate",
    "calibrate_module",
    "collective",
    "comm_of",
    "default_group",
    "describe",
    "double_btree",
    "parse_nccl_tests",
    "read_nccl_tests",
    "reduce",
    "reduce_scatter",
    "register",
    "run",
    "send_recv",
    "size_bytes",
    "verify",
]
