"""The one place where inference talks to :mod:`collectives`.

Every collective of a step (TP all-reduce, EP all-to-all, PP send/recv, ...) is simulated on the fabric
with *all* groups of the deployment running it at once (every DP replica, every pipeline stage), via
``collectives.run``, so contention between groups on shared links shows. Results are memoised per fabric
by (collective, size, group structure): all layers repeat the same collectives, so one estimate simulates
only a handful of distinct ones.

Serving stacks (``stack=``) pick the communication software of their tensor-parallel all-reduce as the
real engines do (:func:`tp_all_reduce_plan`): TensorRT-LLM, vLLM and SGLang run their own custom
all-reduce (one-shot, or two-shot = ``direct``) over NVLink peer memory up to a size limit and NCCL above
it; vLLM puts PyTorch symmetric memory (multimem = ``inr``, or two-shot) between the two
(:mod:`collectives.stacks` holds every stack's ladder: TensorRT-LLM's is AUTO's strategy table). The costs are presets of :mod:`topo.presets`
calibrated by :mod:`collectives` on each stack's own measured tables (``trtllm-*``, ``vllm-*``,
``vllm-*-symm``, ``sglang-*``, H100 and B200); the run happens on a view of the fabric whose ``comm`` is
that preset, with every group of the deployment at once, so contention still comes from the engine. NCCL
and every other collective keep the fabric's own ``comm:`` block; chips without a calibrated custom
all-reduce (Maia, TPU, Trainium, MI300X, ...) keep it for the all-reduce too. ``stack="ideal"`` is the
physics.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass

import numpy as np

from topo import Fabric, SpecError

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

KiB = 1024.0
MiB = 1024.0 * 1024.0


@dataclass(frozen=True)
class CustomAllReduce:
    """How one serving stack runs its tensor-parallel all-reduce on one chip family.

    Attributes:
        stack: serving stack (``trtllm``, ``vllm``, ``sglang``).
        family: chip family (``hopper``, ``blackwell``; :data:`inference.kernels.CHIP_FAMILY`).
        preset: :data:`topo.presets.COMM` preset whose ``custom`` entries give the one-shot (``oneshot``) and
            two-shot (``direct``) costs.
        limits: (ranks, custom all-reduce up to bytes) pairs; ranks not listed, and larger sizes, run NCCL.
        inclusive: whether a size equal to the limit still runs the custom all-reduce (TRT-LLM's table lists
            the power-of-two token counts that run it; vLLM / SGLang compare with ``<``).
        source: where the selection rule comes from. assumption: what is transferred, and why ('' = none).
        ladder: True when the stack's rungs come from :func:`collectives.stacks.ladder` (every stack: each
            size runs the implementation the engine runs, each with its own fitted preset); ``preset`` and
            ``limits`` then summarise it (its custom all-reduce preset, and where its last rung ends).

    Where a rung's algorithm is ``"custom"`` (SGLang), the faster calibrated variant of one-shot and
    two-shot runs: the preset was fitted that way (:func:`collectives.stacks.calibrate_stack`: each measured
    point is the faster of the two), as SGLang's hand-tuned crossovers pick the faster kernel. TensorRT-LLM
    and vLLM rungs name their algorithm (AUTO's table; vLLM's 1-stage / 2-stage limits).
    """

    stack: str
    family: str
    preset: str
    limits: tuple[tuple[int, float], ...]
    inclusive: bool
    source: str
    assumption: str = ""
    ladder: bool = False

    def tier(self, size: float, n: int):
        """The :class:`collectives.stacks.Tier` running a ``size``-byte all-reduce on ``n`` ranks (None: NCCL);
        only for ``ladder`` policies."""
        from collectives.stacks import all_reduce_tier

        return all_reduce_tier(self.stack, self.family, n, size)

    def applies(self, size: float, n: int) -> bool:
        """Whether a ``size``-byte all-reduce on ``n`` ranks runs the custom all-reduce (else NCCL)."""
        if self.ladder:
            return self.tier(size, n) is not None
        for ranks, cap in self.limits:
            if ranks == n:
                return size <= cap if self.inclusive else size < cap
        return False


# Every stack: the ladders of collectives.stacks, the one source of truth (TensorRT-LLM: AUTO's
# AllReduceBestStrategyTable, SM90 / SM100, hidden 4096 rows: ONESHOT / TWOSHOT / NCCL per power-of-two token
# count, NCCL above; vLLM: custom all-reduce 1-stage / 2-stage below min(8 MiB, CUSTOM_ALL_REDUCE_MAX_SIZES),
# symm-mem multimem / two-shot below SYMM_MEM_ALL_REDUCE_MAX_SIZES, pynccl above; SGLang: custom all-reduce v2
# up to 16 MiB, NCCL above), each rung with its preset fitted on the stack's own aiconfigurator-core table
# (trtllm / vllm 0.24.0 / sglang 0.5.14, H100 and B200).
_TRANSFER = {"h200": "ASSUMPTION: H200 uses the H100 fit (same NVLink 4 / NVSwitch generation)",
             "gb200": "ASSUMPTION: GB200 uses the B200 fit (same NVLink 5 generation)"}

#: (stack, chip family) -> its tensor-parallel all-reduce policy
TP_ALL_REDUCE: dict[tuple[str, str], CustomAllReduce] = {}


def _ladder_policy(stack: str, family: str) -> CustomAllReduce:
    from collectives.stacks import FAMILY_CHIP, SOURCES, ladder

    limits = tuple((n, rungs[-1].limit) for n in range(2, 9) if (rungs := ladder(stack, family, n)))
    return CustomAllReduce(stack, family, f"{stack}-{FAMILY_CHIP[family]}", limits, stack == "sglang",
                           SOURCES[stack], ladder=True)


for _stack in ("trtllm", "vllm", "sglang"):
    for _fam in ("hopper", "blackwell"):
        TP_ALL_REDUCE[(_stack, _fam)] = _ladder_policy(_stack, _fam)


def tp_policy(fabric: Fabric, stack: str | None) -> CustomAllReduce | None:
    """The custom all-reduce policy of ``stack`` on ``fabric``'s chips, or None (NCCL / the fabric's ``comm:``).

    None for ``stack`` None or ``"ideal"``, and for chips outside :data:`inference.kernels.CHIP_FAMILY` (no
    calibrated custom all-reduce: their fabric's ``comm:`` block stays)."""
    if stack is None or stack == "ideal":
        return None
    from .kernels import CHIP_FAMILY

    fam = CHIP_FAMILY.get(getattr(fabric.chip, "name", ""), (None, None))[0]
    return TP_ALL_REDUCE.get((str(stack), fam)) if fam else None


def _one_nvlink_domain(fabric: Fabric, groups: Groups) -> bool:
    """Whether every group lies on one NVLink domain (custom all-reduce needs peer memory between all ranks):
    the whole fabric when its ``comm:`` is a preset calibrated on one NVLink domain, else one tray."""
    from collectives.stacks import one_nvlink_domain

    return one_nvlink_domain(fabric, groups.groups)


@dataclass(frozen=True)
class CommChoice:
    """Which software runs one collective: ``comm`` (preset name, ``"physics"`` for ideal), ``algorithm``
    (``"auto"`` = the calibrated model's ``auto`` picks among the stack's algorithms, not NCCL's own tuner;
    ``"custom"`` = the faster of the stack's one-shot and two-shot custom all-reduce; ``"oneshot"`` /
    ``"direct"`` / ``"inr"`` = the one the stack's ladder runs at this size; after the run, the algorithm that
    ran), and why."""

    comm: str
    algorithm: str
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.comm}/{self.algorithm}"


def tp_all_reduce_plan(fabric: Fabric, stack: str | None, size: float, groups: Groups,
                       ideal: bool = False) -> CommChoice:
    """The communication stack and algorithm ``stack`` uses for an all-reduce of ``size`` bytes per rank on
    ``groups`` (the real engines' rule; see :data:`TP_ALL_REDUCE`)."""
    if ideal or stack == "ideal":
        return CommChoice("physics", "auto", "ideal: no communication software")
    own = _fabric_comm_name(fabric)
    pol = tp_policy(fabric, stack)
    if pol is None:
        return CommChoice(own, "auto", f"{stack}: no calibrated custom all-reduce for {fabric.chip.name}")
    if not pol.applies(size, groups.size):
        return CommChoice(own, "auto", f"{stack}: above its custom all-reduce limit (or {groups.size} ranks): NCCL")
    if not _one_nvlink_domain(fabric, groups):
        return CommChoice(own, "auto", f"{stack}: TP group spans NVLink domains: NCCL")
    note = pol.source + ("; " + pol.assumption if pol.assumption else "")
    t = _TRANSFER.get(fabric.chip.name)
    if pol.ladder:
        rung = pol.tier(size, groups.size)
        assert rung is not None  # pol.applies said so
        return CommChoice(rung.comm, rung.algorithm, f"{stack} {rung.what}; " + note + ("; " + t if t else ""))
    return CommChoice(pol.preset, "custom", note + ("; " + t if t else ""))


def tp_comm_note(fabric: Fabric, stack: str, tp: int) -> str:
    """One line: which communication software the stack's TP all-reduce runs on this fabric (and its sources)."""
    own = _fabric_comm_name(fabric)
    pol = tp_policy(fabric, stack)
    lim = dict(pol.limits).get(tp) if pol is not None else None
    if lim is None:
        why = "no calibrated custom all-reduce for this chip" if pol is None else f"no custom all-reduce on {tp} ranks"
        from collectives.comm import resolve

        algs = resolve(fabric).algorithms_of("all_reduce")
        if algs is None or "*" in algs:  # e.g. `assumed`: NCCL's costs, but auto free to pick any algorithm
            return (f"TP all-reduce: {stack} runs comm {own!r} ({why}): NCCL's per-call costs with every algorithm "
                    f"allowed, so auto may pick ones NCCL does not run (direct, oneshot, multirail, hier); NCCL's "
                    f"own set (ring, NVLS): --set comm=nccl-h100")
        return f"TP all-reduce: {stack} runs NCCL, comm {own!r} ({why})"
    extra = "; ".join(x for x in (pol.source, pol.assumption, _TRANSFER.get(fabric.chip.name, "")) if x)
    if pol.ladder:
        from collectives.stacks import NCCL_RUNG, ladder

        def mib(b: float) -> str:
            return f"{b / 2**20:g} MiB" if b >= 2**20 else f"{b / 2**10:g} KiB"

        rungs = ", ".join(f"{r.what} (comm {own if r.comm == NCCL_RUNG else r.comm!r}) "
                          f"{'<=' if r.inclusive else '<'} {mib(r.limit)}" for r in ladder(pol.stack, pol.family, tp))
        return f"TP all-reduce: {stack} runs {rungs} on one NVLink domain, NCCL (comm {own!r}) above; {extra}"
    return (f"TP all-reduce: {stack} custom all-reduce (comm {pol.preset!r}: one-shot / two-shot, the faster) up to "
            f"{lim / 2**20:g} MiB on one NVLink domain, NCCL (comm {own!r}) above; {extra}")


def _fabric_comm_name(fabric: Fabric) -> str:
    comm = getattr(fabric, "comm", None)
    if comm is None:
        return "assumed"
    return str(getattr(comm, "name", comm))


def _comm_view(fabric: Fabric, preset: str, algorithm: str = "custom") -> Fabric:
    """A shallow copy of ``fabric`` whose ``comm`` is the preset ``preset`` with the all-reduce restricted to
    ``algorithm`` (``"custom"``: the preset's custom algorithms, the faster runs); cached per fabric
    (:func:`collectives.stacks.comm_view`, what the CLI's ``--stack`` and the validation run too)."""
    from collectives.stacks import comm_view

    return comm_view(fabric, preset, algorithm)


class Groups:
    """An immutable set of disjoint chip groups (rank lists) with a cheap, stable hash key."""

    __slots__ = ("groups", "key")

    def __init__(self, groups: list[list[int]] | np.ndarray) -> None:
        arr = np.asarray(groups, dtype=np.int64)
        if arr.ndim != 2:
            raise SpecError("groups: expected equal-sized rank lists")
        self.groups = arr
        self.key = (arr.shape, hashlib.blake2b(arr.tobytes(), digest_size=16).hexdigest())

    @property
    def size(self) -> int:
        """Chips per group."""
        return int(self.groups.shape[1])

    def __len__(self) -> int:
        return int(self.groups.shape[0])


def collective_time(fabric: Fabric, kind: str, size: float, groups: Groups, ideal: bool = False,
                    stack: str | None = None, **opts: object) -> float:
    """Time (s) for every group of ``groups`` to run collective ``kind`` of ``size`` bytes concurrently.

    ``size`` follows nccl-tests: the per-rank buffer for all-reduce, the whole (gathered) buffer for
    all-gather / reduce-scatter, the bytes each rank sends in total for all-to-all, the message for
    send/recv (groups are then (src, dst) pairs). The slowest group sets the time (the step waits for it).
    A group of one chip, or a size of zero, costs nothing. ``ideal=True`` asks ``collectives.run`` for
    physics only (no calibrated software costs) when it offers that switch (``stack="ideal"``). ``stack``
    (a serving stack) picks the all-reduce's software as that stack does (:func:`tp_all_reduce_plan`).
    """
    return collective_choice(fabric, kind, size, groups, ideal=ideal, stack=stack, **opts)[0]


def collective_choice(fabric: Fabric, kind: str, size: float, groups: Groups, ideal: bool = False,
                      stack: str | None = None, **opts: object) -> tuple[float, CommChoice]:
    """:func:`collective_time` and the :class:`CommChoice` (communication stack / algorithm) that produced it."""
    planned = False  # the stack's plan picked a preset (and algorithm) of its own
    if ideal or stack == "ideal":
        choice = CommChoice("physics", "auto")
    elif kind == "all_reduce" and stack is not None and "algorithm" not in opts:
        choice = tp_all_reduce_plan(fabric, stack, size, groups)
        planned = choice.algorithm != "auto"
    else:
        choice = CommChoice(_fabric_comm_name(fabric), str(opts.get("algorithm", "auto")))
    if size <= 0 or groups.size <= 1 or len(groups) == 0:
        return 0.0, CommChoice(choice.comm, "none", choice.note)
    cache = _CACHE.setdefault(fabric, {})
    key = (kind, float(size), groups.key, tuple(sorted(opts.items())), bool(ideal), choice.comm, choice.algorithm)
    hit = cache.get(key)
    if hit is not None:
        return hit
    run_fab = _comm_view(fabric, choice.comm, choice.algorithm) if planned else fabric
    t, alg = _simulate(run_fab, kind, float(size), groups, ideal=bool(ideal or stack == "ideal"), **opts)
    out = (t, CommChoice(choice.comm, alg, choice.note))
    cache[key] = out
    return out


def _run_accepts_ideal(run: object) -> bool:
    import inspect

    try:
        return "ideal" in inspect.signature(run).parameters
    except (TypeError, ValueError):
        return False


def _simulate(fabric: Fabric, kind: str, size: float, groups: Groups, ideal: bool = False,
              **opts: object) -> tuple[float, str]:
    try:
        import collectives
    except ImportError as exc:  # pragma: no cover - the package exists in the tree
        raise SpecError(f"communication: the collectives package is unavailable ({exc})") from exc
    cls = collectives.OPS.get(kind)  # the collective's Op class (one map, collectives.OPS)
    if cls is None:
        raise SpecError(f"communication: unknown collective {kind!r}; known: {', '.join(collectives.OPS)}")
    run = collectives.run
    ops = [cls(size, group=g, **opts) for g in groups.groups.tolist()]  # send_recv: group = [src, dst]
    results = run(ops, fabric, ideal=True) if ideal and _run_accepts_ideal(run) else run(ops, fabric)
    slow = max(results, key=lambda r: r.time)
    alg = str(getattr(slow, "algorithm", opts.get("algorithm", "auto")))
    proto = getattr(slow, "protocol", None)
    return float(slow.time), (f"{alg}({proto})" if proto and proto != "custom" else alg)


def clear_cache(fabric: Fabric | None = None) -> None:
    """Forget memoised collective times (of one fabric, or all)."""
    if fabric is None:
        _CACHE.clear()
    else:
        _CACHE.pop(fabric, None)
