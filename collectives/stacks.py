"""Serving stacks' tensor-parallel all-reduce (TensorRT-LLM, vLLM, SGLang): which software runs which size, and the fit of
its costs to aiconfigurator-core's measured tables. See docs/collectives.md, "Serving-stack all-reduce".

A stack's ``tensor_model_parallel_all_reduce`` is a ladder of implementations tried in order, each up to a
size limit (:func:`all_reduce_tier`; above the last one NCCL runs, the fabric's own ``comm:``):

- **TensorRT-LLM** (``AllReduceStrategy.AUTO``, ``cpp/tensorrt_llm/thop/allreduceOp.cpp``): NCCL above its
  64 MiB workspace, else the strategy of ``AllReduceBestStrategyTable`` (``customAllReduceUtils.h``, SM90 /
  SM100, by TP size and power-of-two token count): ONESHOT (scaleup's ``oneshot``), TWOSHOT (``direct``) or
  NCCL, read at hidden 4096 (the token width of aiconfigurator's collector) as byte rungs; preset
  ``trtllm-<chip>``. Its tables (TP2 / TP4 / TP8) send 32 / 16 / 8 MiB and up to NCCL on SM90 (TP8 also at
  1 - 2 MiB), 32 / 32 / 64 MiB and up on SM100; the measured custom table equals the nccl-tests one there.
- **vLLM** (``vllm/distributed/device_communicators/cuda_communicator.py``, ``all_reduce``): its custom
  all-reduce (``custom_all_reduce.py``, ``csrc/custom_all_reduce.cuh``) while ``bytes < max_size``, then
  PyTorch symmetric memory (``symm_mem.py``) while ``bytes < SYMM_MEM_ALL_REDUCE_MAX_SIZES``, then pynccl.
  With symmetric memory on (``VLLM_ALLREDUCE_USE_SYMM_MEM``, the default), the custom all-reduce's
  ``max_size`` is ``min(8 MiB, CUSTOM_ALL_REDUCE_MAX_SIZES[capability][ranks])``
  (``all_reduce_utils.py``). Inside it the kernel is 1-stage (every rank reads every peer's whole buffer
  and reduces: scaleup's ``oneshot``) for 2 ranks, or <= 4 ranks below 512 KiB, or <= 8 ranks below
  256 KiB, else 2-stage (reduce-scatter then all-gather over peer memory: ``direct``). Symmetric memory
  runs ``multimem_all_reduce_`` (NVLink SHARP multicast: scaleup's in-network ``inr``) on the world sizes
  of ``_WORLD_SIZES_MULTIMEM`` (SM90: 4, 6, 8; SM100: 6, 8), else ``two_shot_all_reduce_`` (``direct``).
  Each implementation's costs are a :data:`topo.presets.COMM` preset: ``vllm-<chip>`` (custom all-reduce:
  ``oneshot`` 1-stage, ``direct`` 2-stage) and ``vllm-<chip>-symm`` (``inr`` multimem, ``direct`` two-shot).
- **SGLang** (``python/sglang/srt/distributed/device_communicators/custom_all_reduce_v2.py``): its JIT
  custom all-reduce (one-shot push / pull, two-shot pull) while ``bytes <= 16 MiB`` (``max_pull_size``),
  NCCL above; between one-shot and two-shot it takes the hand-tuned crossover of
  ``configs/custom_all_reduce_v2.py`` ("sweeps ... fastest first"), modelled as the faster calibrated
  variant (``algorithm = "custom"``) of preset ``sglang-<chip>``.

On a fabric, :func:`stack_plan` picks the rung for the fabric's chip family (:func:`chip_family`), the group's
ranks and the bytes, and the fabric view that runs it: ``collectives.all_reduce(fab, size, stack=...)``
(:func:`stack_all_reduce`), ``scaleup collective all-reduce --stack``, the validation and ``inference.comm``
all run that. ``scaleup calibrate --stack`` runs :func:`calibrate_stack`.

Every preset is fitted by :func:`calibrate_stack` on the H100 and B200 tables only (each measured point
assigned to the implementation the ladder runs at its size); H200 and GB200 take them by the transfer rule
of :data:`FAMILY_OF_SYSTEM` (same NVLink generation) and are held out (``python -m collectives.validation``).
"""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from topo import Fabric, SpecError
from topo.specs import CommSpec

KiB = 1024.0
MiB = 1024.0 * 1024.0

#: serving stacks with a ladder here
STACKS = ("trtllm", "vllm", "sglang")
#: chip family -> the chip whose tables fit that family's presets
FAMILY_CHIP = {"hopper": "h100", "blackwell": "b200"}
#: aiconfigurator-core system -> chip family (H200 = SM90 like H100; GB200 = SM100 like B200)
FAMILY_OF_SYSTEM = {"h100_sxm": "hopper", "h200_sxm": "hopper", "b200_sxm": "blackwell", "gb200": "blackwell"}
#: chip family -> the NCCL preset that runs above a ladder (the fabric's own comm: on the DGX presets)
NCCL_PRESET = {"hopper": "nccl-h100", "blackwell": "nccl-b200"}

# vLLM all_reduce_utils.py (CUSTOM_ALL_REDUCE_MAX_SIZES / SYMM_MEM_ALL_REDUCE_MAX_SIZES, keyed by compute
# capability "9.0" / "10.0") and symm_mem.py (_WORLD_SIZES_MULTIMEM); custom_all_reduce.py max_size 8 MiB
_VLLM_CUSTOM_MAX = {"hopper": {2: 64 * MiB, 4: 32 * MiB, 6: 512 * KiB, 8: 256 * KiB},
                    "blackwell": {2: 2 * MiB, 4: 2 * MiB, 6: 1 * MiB, 8: 1 * MiB}}
_VLLM_DEFAULT_MAX = 8 * MiB
_VLLM_SYMM_MAX = {"hopper": {2: 64 * MiB, 4: 32 * MiB, 6: 64 * MiB, 8: 64 * MiB},
                  "blackwell": {2: 8 * MiB, 4: 32 * MiB, 6: 128 * MiB, 8: 128 * MiB}}
_VLLM_MULTIMEM = {"hopper": (4, 6, 8), "blackwell": (6, 8)}
# TensorRT-LLM AllReduceStrategy.AUTO (cpp/tensorrt_llm/thop/allreduceOp.cpp selectImplementation ->
# cpp/tensorrt_llm/common/customAllReduceUtils.h selectStrategyLookUpTable, AllReduceBestStrategyTable SM90 /
# SM100 with the 64 MiB getMaxRequiredWorkspaceSize): the strategy per (SM family, TP size, log2 num_tokens
# 0..14), fusion NONE, hidden 4096 rows (the token width of aiconfigurator's collector,
# collect_all_reduce.py get_input_shape_and_comm_size): one character per row entry, 4 = ONESHOT,
# 5 = TWOSHOT, 0 = NCCL; beyond the table, or above the workspace, NCCL. A size of S bytes is
# S / (4096 x 2 B) tokens; the table index is floor(log2(tokens)).
_TRT_TABLE = {"hopper": {2: "444444444444000", 4: "444444445550000", 8: "444444405500000"},
              "blackwell": {2: "444444444444000", 4: "444444444455000", 8: "444444444555500"}}
_TRT_TOKEN_BYTES = 4096 * 2.0
_TRT_RUNG = {"4": ("oneshot", "custom all-reduce one-shot (Lamport)"),
             "5": ("direct", "custom all-reduce two-shot (reduce-scatter + all-gather over peer memory)"),
             "0": ("auto", "NCCL (AUTO's table)")}
#: a rung whose ``comm`` is this runs NCCL (the fabric's own ``comm:``), as above the last rung
NCCL_RUNG = "nccl"
# SGLang custom_all_reduce_v2.py: max_pull_size 16 MiB, ``inp_size <= max_pull_size``; world sizes 2-8
_SGLANG_MAX = 16 * MiB
_SGLANG_RANKS = (2, 3, 4, 5, 6, 7, 8)

SOURCES = {
    "trtllm": "source: TensorRT-LLM allreduceOp.cpp selectImplementation (AUTO: NCCL above the 64 MiB workspace, "
              "else customAllReduceUtils.h AllReduceBestStrategyTable SM90/SM100, fusion NONE, hidden 4096: "
              "ONESHOT / TWOSHOT / NCCL per power-of-two token count)",
    "vllm": "source: vLLM cuda_communicator.py all_reduce (custom -> symm-mem -> pynccl), all_reduce_utils.py "
            "CUSTOM_ALL_REDUCE_MAX_SIZES / SYMM_MEM_ALL_REDUCE_MAX_SIZES, csrc/custom_all_reduce.cuh "
            "(1-stage: 2 ranks, <= 4 ranks < 512 KiB, <= 8 ranks < 256 KiB), symm_mem.py (multimem world sizes)",
    "sglang": "source: SGLang custom_all_reduce_v2.py (max_pull_size 16 MiB, inclusive; one-shot / two-shot by "
              "hand-tuned crossovers: the faster)",
}


@dataclass(frozen=True)
class Tier:
    """One rung of a stack's all-reduce ladder.

    Attributes:
        limit: bytes this implementation takes, up to (``inclusive``) or below ``limit``.
        comm: :data:`topo.presets.COMM` preset with its costs.
        algorithm: the registered algorithm it runs (``oneshot``, ``direct``, ``inr``), or ``"custom"``: the
            faster of the preset's custom algorithms.
        what: the engine's name for it.
        inclusive: ``size <= limit`` (SGLang) rather than ``size < limit`` (vLLM).
    """

    limit: float
    comm: str
    algorithm: str
    what: str
    inclusive: bool = False

    def covers(self, size: float) -> bool:
        """Whether a ``size``-byte all-reduce runs on this rung (given it did not fit an earlier one)."""
        return size <= self.limit if self.inclusive else size < self.limit


def ladder(stack: str, family: str, n: int) -> tuple[Tier, ...]:
    """The rungs of ``stack``'s TP all-reduce on ``n`` ranks of a ``family`` chip (empty: NCCL only)."""
    chip = FAMILY_CHIP.get(family)
    if chip is None or stack not in STACKS:
        return ()
    if stack == "trtllm":
        return _trtllm_ladder(family, chip, n)
    if stack == "sglang":
        if n not in _SGLANG_RANKS:
            return ()
        return (Tier(_SGLANG_MAX, f"sglang-{chip}", "custom", "custom all-reduce v2 (one-shot / two-shot)", True),)
    tiers: list[Tier] = []
    cap = _VLLM_CUSTOM_MAX[family].get(n)
    if cap is not None:
        cap = min(cap, _VLLM_DEFAULT_MAX)
        one = cap if n == 2 else min(cap, 512 * KiB if n <= 4 else 256 * KiB)
        tiers.append(Tier(one, f"vllm-{chip}", "oneshot", "custom all-reduce 1-stage"))
        if cap > one:
            tiers.append(Tier(cap, f"vllm-{chip}", "direct", "custom all-reduce 2-stage"))
    symm = _VLLM_SYMM_MAX[family].get(n)
    if symm is not None and symm > (tiers[-1].limit if tiers else 0.0):
        mm = n in _VLLM_MULTIMEM[family]
        tiers.append(Tier(symm, f"vllm-{chip}-symm", "inr" if mm else "direct",
                          "symm-mem multimem all-reduce" if mm else "symm-mem two-shot all-reduce"))
    return tuple(tiers)


def _trtllm_ladder(family: str, chip: str, n: int) -> tuple[Tier, ...]:
    """TensorRT-LLM AUTO's table row as rungs: runs of one strategy, each up to (excluding) twice the bytes of
    its last token count (the table index is floor(log2(tokens))); NCCL rungs have comm :data:`NCCL_RUNG`."""
    row = _TRT_TABLE[family].get(n)
    if row is None:
        return ()
    tiers: list[Tier] = []
    for k, c in enumerate(row):
        algorithm, what = _TRT_RUNG[c]
        comm = NCCL_RUNG if c == "0" else f"trtllm-{chip}"
        limit = 2.0 ** (k + 1) * _TRT_TOKEN_BYTES
        if tiers and tiers[-1].comm == comm and tiers[-1].algorithm == algorithm:
            tiers[-1] = Tier(limit, comm, algorithm, what)
        else:
            tiers.append(Tier(limit, comm, algorithm, what))
    while tiers and tiers[-1].comm == NCCL_RUNG:  # NCCL past the end anyway
        tiers.pop()
    return tuple(tiers)


def all_reduce_tier(stack: str, family: str, n: int, size: float) -> Tier | None:
    """The rung that runs a ``size``-byte all-reduce on ``n`` ranks under ``stack``, or None (NCCL)."""
    for t in ladder(stack, family, n):
        if t.covers(size):
            return None if t.comm == NCCL_RUNG else t
    return None


# ---------------------------------------------------------------------- running a stack on a fabric
#: chip preset name (``topo`` chips) -> the aiconfigurator-core system measured on it
SYSTEM_OF_CHIP = {"h100-sxm": "h100_sxm", "h200": "h200_sxm", "b200": "b200_sxm", "gb200": "gb200"}
#: chip preset name -> the family whose ladder it runs: H100 / H200 are SM90 (``hopper``), B200 / GB200 SM100
#: (``blackwell``); chips not here have no serving-stack ladder
FAMILY_OF_CHIP = {c: FAMILY_OF_SYSTEM[s] for c, s in SYSTEM_OF_CHIP.items()}
#: comm presets calibrated on one NVLink / NVSwitch domain: a fabric carrying one is a single NVLink domain
NVLINK_PRESETS = frozenset({"nccl-h100", "nccl-b200", "trtllm-h100", "trtllm-b200", "vllm-h100", "vllm-b200",
                            "vllm-h100-symm", "vllm-b200-symm", "sglang-h100", "sglang-b200"})
#: the label of NCCL (the fabric's own ``comm:``) in :func:`rung_label` and ``--stack``
NCCL = "nccl"


def chip_family(fabric: Fabric) -> str:
    """The chip family of ``fabric``'s chips whose ladders apply (:data:`FAMILY_OF_CHIP`); SpecError if none."""
    name = str(getattr(fabric.chip, "name", ""))
    fam = FAMILY_OF_CHIP.get(name)
    if fam is None:
        raise SpecError(f"stack: the chips of {fabric.name!r} ({name}) have no serving-stack all-reduce ladder; "
                        f"chips with one: {', '.join(FAMILY_OF_CHIP)} (SM90 / SM100); drop --stack (NCCL)")
    return fam


def one_nvlink_domain(fabric: Fabric, groups: Any) -> bool:
    """Whether every group (rows of chip indices) lies on one NVLink domain (a custom all-reduce needs peer
    memory between all its ranks): the whole fabric when its ``comm:`` is one of :data:`NVLINK_PRESETS`,
    else one tray."""
    comm = getattr(fabric, "comm", None)
    if getattr(comm, "name", comm) in NVLINK_PRESETS:
        return True
    g = np.atleast_2d(np.asarray(groups, dtype=np.int64))
    trays = np.asarray(fabric.trays)[g]
    return bool(np.all(trays == trays[:, :1]))


def restricted_comm(preset: str, algorithm: str) -> CommSpec:
    """Preset ``preset`` with its all-reduce restricted to ``algorithm`` (``"custom"``: the preset's custom
    algorithms; ``auto`` then picks the faster and its chunking)."""
    from topo.presets import comm_preset

    spec = comm_preset(preset)
    algs = {c: dict(a) for c, a in spec.algorithms}
    names = [a for a, _ in spec.custom] if algorithm == "custom" else [algorithm]
    algs["all_reduce"] = {a: 1.0 for a in names}
    return spec.replace(algorithms=algs)


_VIEWS: weakref.WeakKeyDictionary[Fabric, dict] = weakref.WeakKeyDictionary()


def comm_view(fabric: Fabric, preset: str, algorithm: str) -> Fabric:
    """A shallow copy of ``fabric`` whose ``comm`` is :func:`restricted_comm` (shares graph, routes and arrays;
    only the communication software differs); memoised per fabric."""
    per = _VIEWS.setdefault(fabric, {})
    v = per.get((preset, algorithm))
    if v is None:
        v = copy.copy(fabric)
        v.comm = restricted_comm(preset, algorithm)
        per[(preset, algorithm)] = v
    return v


def stack_plan(fabric: Fabric, stack: str, size: float, groups: Any) -> tuple[Tier | None, Fabric]:
    """The rung ``stack`` runs a ``size``-byte all-reduce on (None: NCCL) and the fabric view that runs it.

    ``groups``: one group or rows of groups (chip indices, all the same size: the rank count). The rung is
    :func:`all_reduce_tier` for the family of :func:`chip_family`, when the groups lie on one NVLink domain
    (:func:`one_nvlink_domain`); the view is ``fabric`` itself for NCCL (its own ``comm:``), else
    :func:`comm_view` of the rung's preset and algorithm. What ``collectives.all_reduce(..., stack=)``,
    ``collectives.benchmark(..., stack=)`` (``scaleup collective all-reduce --stack``) and
    ``python -m collectives.validation`` run.
    """
    if stack not in STACKS:
        raise SpecError(f"stack: must be one of {NCCL}, {', '.join(STACKS)}, got {stack!r}")
    fam = chip_family(fabric)
    g = np.atleast_2d(np.asarray(groups, dtype=np.int64))
    t = all_reduce_tier(stack, fam, int(g.shape[1]), float(size)) if one_nvlink_domain(fabric, g) else None
    return t, (fabric if t is None else comm_view(fabric, t.comm, t.algorithm))


def rung_label(stack: str, tier: Tier | None, algorithm: str) -> str:
    """``<stack>:<rung>`` for a table's algorithm column: ``trtllm:oneshot``, ``vllm:custom/direct``,
    ``vllm:symm/inr``, ``sglang:oneshot``; ``nccl:<algorithm>`` when NCCL ran (``algorithm``: what ran)."""
    if tier is None:
        return f"{NCCL}:{algorithm}"
    if stack == "vllm":
        return f"vllm:{'symm' if tier.comm.endswith('-symm') else 'custom'}/{algorithm}"
    return f"{stack}:{algorithm}"


def stack_all_reduce(fab: Fabric, size: Any, group: Any = None, stack: str = "trtllm", **opts: Any):
    """An all-reduce as serving stack ``stack`` runs it: on the rung of :func:`stack_plan` (its preset, ``auto``
    among the rung's algorithms), NCCL (``fab``'s own ``comm:``) above; ``result.rung`` says which
    (:func:`rung_label`). ``collectives.all_reduce(fab, size, group, stack=stack)`` calls this.

    Args:
        fab: the fabric (its chips need a ladder: :data:`FAMILY_OF_CHIP`). size: bytes (or ``"4MiB"``).
        group: chips, default all. stack: ``"trtllm"``, ``"vllm"`` or ``"sglang"``.
        **opts: run options of :func:`collectives.all_reduce` (not ``ideal``: a stack is software).
    """
    from topo import ScheduleError

    from .api import _group, collective, size_bytes

    if opts.get("ideal"):
        raise ScheduleError(f"ideal: stack={stack!r} is communication software; drop one of the two")
    S = size_bytes(size)
    G = _group(fab, group)
    t, f = stack_plan(fab, stack, S, G)
    r = collective("all_reduce", f, S, G.tolist(), "auto", **opts)
    r.rung = rung_label(stack, t, r.algorithm)
    return r


def stack_table(system: str, stack: str):
    """The measured TP all-reduce rows of ``stack`` on an aiconfigurator-core system (``stack`` column set;
    TensorRT-LLM's are the ``custom`` table of :data:`collectives.calibrate.CUSTOM_TABLE`)."""
    from .calibrate import aiconfigurator_table

    if stack == "trtllm":
        d = aiconfigurator_table(system, "custom")
        d["stack"] = "trtllm"
        return d
    return aiconfigurator_table(system, stack)


def tier_comm(tier: Tier) -> CommSpec:
    """The comm spec that runs ``tier`` alone: its preset with the all-reduce restricted to the tier's
    algorithm(s) (``auto`` then picks its chunking, or the faster custom variant for ``"custom"``)."""
    return restricted_comm(tier.comm, tier.algorithm)


# ---------------------------------------------------------------------- the fit
@dataclass
class StackCalibration:
    """Outcome of :func:`calibrate_stack`.

    Attributes:
        comms: {preset name: fitted :class:`topo.CommSpec`} (the NCCL base plus the rung's custom costs).
        data: the measured points (DataFrame) with ``tier`` (``"<preset>/<algorithm>"`` or ``"nccl"``),
            ``predicted`` (s) and ``ratio`` (predicted / measured).
    """

    comms: dict[str, CommSpec]
    data: Any

    def table(self) -> str:
        """Fit error per (tier, ranks, size bucket)."""
        from .calibrate import error_table

        return error_table(self.data, by=("stack", "tier", "ranks"))


def _points(df, tiers: list[Tier | None], preset: str, algorithm: str) -> str:
    """'ranks 2: 256 B - 4 MiB, ...': where the points fitting ``preset``'s ``algorithm`` lie."""
    def fmt(b: float) -> str:
        return f"{b / MiB:g} MiB" if b >= MiB else (f"{b / KiB:g} KiB" if b >= KiB else f"{b:g} B")
    out = []
    for m in sorted(set(int(x) for x in df["ranks"])):
        b = [float(df["bytes"][i]) for i, t in enumerate(tiers) if t is not None and t.comm == preset
             and int(df["ranks"][i]) == m and algorithm in (("oneshot", "direct") if t.algorithm == "custom"
                                                             else (t.algorithm,))]
        if b:
            out.append(f"ranks {m}: {fmt(min(b))} - {fmt(max(b))}")
    return ", ".join(out)


#: scale of the soft-L1 loss of :func:`calibrate_stack` (a 10% log error): residuals well past it count
#: linearly, not squared, so an isolated glitch in a table (8x H100 SGLang at 1 KiB: 38 us between 3.3 and
#: 3.5 us neighbours) does not pull the fit
ROBUST_SCALE = 0.1


def _soft_l1(r: np.ndarray, scale: float = ROBUST_SCALE) -> np.ndarray:
    """Residuals whose sum of squares is scipy's soft-L1 loss: scale^2 x sum 2 (sqrt(1 + (r / scale)^2) - 1)."""
    rho = 2.0 * (np.sqrt(1.0 + (r / scale) ** 2) - 1.0)
    return np.sign(r) * scale * np.sqrt(rho)


def _fit_target(system: str | None, fabric: Fabric | str | None, bundled: dict[str, str]) -> tuple[str, str, Fabric]:
    """(system, chip family, fabric probed) of a stack fit: the system given, or the one of ``fabric``'s chip
    (:data:`SYSTEM_OF_CHIP`); the fabric given, or the system's bundled one (``bundled``: system -> fabric name).

    Raises:
        SpecError: neither given, an unknown system, a chip without a ladder, or a fabric of another chip family
            than the system's (as ``scaleup calibrate --stack``: not silently mixed).
    """
    import topo

    given = topo.load(fabric) if isinstance(fabric, str) else fabric
    if system is None:
        if given is None:
            raise SpecError("system: give an aiconfigurator-core system (" + ", ".join(FAMILY_OF_SYSTEM)
                            + ") or a fabric whose chip has a ladder")
        chip_family(given)  # one line naming the chips with a ladder
        system = SYSTEM_OF_CHIP[given.chip.name]
    family = FAMILY_OF_SYSTEM.get(system)
    if family is None:
        raise SpecError(f"system: must be one of {', '.join(FAMILY_OF_SYSTEM)}, got {system!r}")
    if given is None:
        return system, family, topo.load(bundled[system])
    if chip_family(given) != family:
        raise SpecError(f"fabric: {given.name!r} ({given.chip.name}) is not of {system}'s chip family ({family}); "
                        "drop fabric or give the system of its chip")
    return system, family, given


def calibrate_stack(stack: str, system: str | None = None, fabric: Fabric | str | None = None,
                    base: CommSpec | str | None = None, measurements: Any = None,
                    collective: str | None = None) -> StackCalibration:
    """Fit the costs of ``stack``'s all-reduce rungs (:func:`ladder`) to one system's measured table.

    Each measured point is assigned to the rung the stack runs at its size and rank count; each preset's
    custom algorithms get ``call``, ``step``, ``efficiency`` and ``peer`` (s per call per peer: the kernels'
    flag barrier over the n - 1 peers) by least squares (soft-L1,
    :data:`ROBUST_SCALE`) on log(predicted / measured) over its points (the engine probed once per point: :func:`collectives.calibrate.probe`), the
    NCCL part of ``base`` held fixed. Points above the ladder run ``base`` (NCCL) and are reported only.

    Args:
        stack: ``"trtllm"``, ``"vllm"`` or ``"sglang"``.
        system: aiconfigurator-core system (:data:`FAMILY_OF_SYSTEM`); picks the family and the table. Default:
            the system of ``fabric``'s chip (:data:`SYSTEM_OF_CHIP`), as ``scaleup calibrate --stack`` does for a
            file of measurements.
        fabric: the fabric probed (default the system's bundled one, :data:`collectives.calibrate.SYSTEMS`).
        base: the NCCL stack underneath (default :data:`NCCL_PRESET` of the family).
        measurements: rows (collective, ranks, bytes, seconds), or anything
            :func:`collectives.calibrate.read_measurements` reads (a CSV / Parquet / nccl-tests stdout path),
            instead of the installed table.
        collective: what an nccl-tests stdout file measured when its output does not say (``--collective``).
    """

    from .calibrate import (
        AICONFIGURATOR_VERSION,
        CUSTOM_TABLE,
        NCCL_ALGORITHMS,
        STACK_TABLES,
        SYSTEMS,
        _custom_spec,
        _custom_values,
        _lsq,
        _predict_fields,
        _spec_values,
        check_ranks,
        custom_bounds,
        predict,
        probe,
        read_measurements,
    )

    if stack not in STACKS:
        raise SpecError(f"stack: must be one of {', '.join(STACKS)}, got {stack!r}")
    system, family, fab = _fit_target(system, fabric, SYSTEMS)
    from topo.presets import comm_preset

    base_spec = comm_preset(base or NCCL_PRESET[family]) if not isinstance(base, CommSpec) else base
    if measurements is None:
        df = stack_table(system, stack)
        src = (f"fit: aiconfigurator-core {AICONFIGURATOR_VERSION} {stack} {CUSTOM_TABLE[1]} custom_allreduce {system} "
               "(bf16)" if stack == "trtllm" else
               f"fit: aiconfigurator-core {AICONFIGURATOR_VERSION} {stack} {STACK_TABLES[stack][0]} "
               f"custom_allreduce {system} ({STACK_TABLES[stack][1]}, bf16)")
    else:
        df = read_measurements(measurements, collective)
        check_ranks(df, fab)
        src = "fit: user measurements"
    df = df[df["collective"] == "all_reduce"].reset_index(drop=True)
    df["stack"] = stack
    tiers = [all_reduce_tier(stack, family, int(m), float(b)) for m, b in zip(df["ranks"], df["bytes"])]
    df["tier"] = [f"{t.comm}/{t.algorithm}" if t else "nccl" for t in tiers]
    pred = np.full(len(df), np.nan)
    comms: dict[str, CommSpec] = {}
    meas = df["seconds"].to_numpy()
    base_v = _spec_values(base_spec)
    for preset in sorted({t.comm for t in tiers if t is not None}):
        rows = [i for i, t in enumerate(tiers) if t is not None and t.comm == preset]
        groups: dict[tuple[str, ...], list[int]] = {}
        for i in rows:
            t = tiers[i]
            assert t is not None
            key = ("oneshot", "direct") if t.algorithm == "custom" else (t.algorithm,)
            groups.setdefault(key, []).append(i)
        algs = sorted({a for k in groups for a in k})
        probes = [(probe(fab, [("all_reduce", int(df["ranks"][i]), float(df["bytes"][i])) for i in idx],
                         {"all_reduce": k}, base_spec.link_efficiency), np.asarray(idx)) for k, idx in groups.items()]
        prov = {f"custom.{a}": f"{src}, the points {stack} runs on it: " + _points(df, tiers, preset, a) +
                "; NCCL part held fixed" for a in algs}

        def resid(x, algs=algs, probes=probes):  # predict(_custom_spec(base_spec, x, ...)) bit for bit, no spec
            v = _custom_values(base_v, x, algs)
            return _soft_l1(np.concatenate([np.log(_predict_fields(v, pr) / meas[idx]) for pr, idx in probes]))

        lo, hi, x0s = custom_bounds(len(algs))  # (call, step, efficiency, peer) per algorithm (CUSTOM_FIT)
        x = _lsq(resid, x0s, lo, hi)
        spec = _custom_spec(base_spec, x, preset, prov, algs)
        comms[preset] = spec
        for pr, idx in probes:
            pred[idx] = predict(spec, pr)
    rest = [i for i, t in enumerate(tiers) if t is None]
    if rest:
        algs_n = NCCL_ALGORITHMS["all_reduce"] if fab.switch_can_reduce else ("ring",)
        pr = probe(fab, [("all_reduce", int(df["ranks"][i]), float(df["bytes"][i])) for i in rest],
                   {"all_reduce": algs_n}, base_spec.link_efficiency)
        pred[np.asarray(rest)] = predict(base_spec, pr)
    df["predicted"] = pred
    df["ratio"] = df["predicted"] / df["seconds"]
    return StackCalibration(comms, df)


__all__ = ["FAMILY_OF_CHIP", "FAMILY_OF_SYSTEM", "NCCL", "NCCL_PRESET", "NCCL_RUNG", "NVLINK_PRESETS", "SOURCES", "STACKS",
           "SYSTEM_OF_CHIP", "StackCalibration", "Tier", "all_reduce_tier", "calibrate_stack", "chip_family", "comm_view", "ladder",
           "one_nvlink_domain", "restricted_comm", "rung_label", "stack_all_reduce", "stack_plan", "stack_table",
           "tier_comm"]
