"""What routers see: :class:`Pool` (runtime state of one pool) and :class:`RequestView` (one request).

Both :mod:`fleet.sim` (which updates the state) and :mod:`fleet.routers` (which reads it) import this
module; it imports neither, so the two never import each other in a circle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from topo import SpecError

from .spec import PoolSpec
from .stepmodel import StepCache, StepModelLike

__all__ = ["KV_TOKENS_CAP", "Pool", "RequestView", "kv_capacity_tokens", "no_kv_reason"]


#: most KV tokens a replica is taken to hold (a model whose every layer has a sliding window caches no
#: growing KV at all); large enough never to bind, small enough for integer arithmetic
KV_TOKENS_CAP = float(2**53)


def kv_capacity_tokens(sm: StepModelLike, token_budget: int = 8192, batch: int = 1) -> float:
    """KV-cache tokens one replica of step model ``sm`` holds (all sequences together), tokens.

    In order: the step model's declared ``kv_capacity_tokens`` (e.g. :class:`LinearStepModel`); for an
    ``inference.StepModel``, exactly ``(usable HBM - weights - activations) / KV bytes per token`` per chip,
    times the chips that hold different sequences (attention data-parallel groups), with the activations of a
    prefill iteration of ``token_budget`` tokens or a decode iteration of ``batch`` sequences, whichever is
    larger, and weights or activations placed in on-chip SRAM not counted (under a serving stack, the KV
    budget that stack sizes at start-up, ``memory()["kv_budget"]``: :mod:`inference.memory`); otherwise the longest single
    context with ``max_batch(context) >= 1`` (bisection; exact when memory is linear in tokens), which is
    also what SRAM-only chips (no HBM) get.
    """
    declared = getattr(sm, "kv_capacity_tokens", None)
    if isinstance(declared, (int, float)) and not isinstance(declared, bool):
        return min(float(declared), KV_TOKENS_CAP)
    dep = getattr(sm, "deployment", None)
    if dep is not None and float(getattr(getattr(dep, "chip", None), "hbm_bytes", 0.0) or 0.0) > 0:
        try:
            return _deployment_kv_tokens(dep, token_budget, batch)
        except (AttributeError, KeyError, TypeError):  # a memory model without these parts: ask max_batch
            pass
    return _longest_context(sm)  # also SRAM-only chips (no HBM), whose KV placement max_batch knows


def _deployment_kv_tokens(dep: Any, token_budget: int, batch: int) -> float:
    """Bytes free per chip after weights and activations over KV bytes per token per chip (see above)."""
    mem = dep.memory(1, max(1, int(token_budget)), 0)
    place = mem["placement"]
    mb = max(1, math.ceil(batch / max(1, min(getattr(dep, "pp", 1), batch))))
    act = max(float(mem["activations"]), float(dep.activation_bytes(mb, 1)))
    used = (0.0 if place.get("weights") == "sram" else float(mem["weights"]))
    used += 0.0 if place.get("activations") == "sram" else act
    free = float(mem["hbm_usable"]) - used
    if "kv_budget" in mem:  # a serving stack's start-up KV pool (inference/memory.py)
        free = float(mem["kv_budget"])
    per_token = float(dep.kv_bytes_per_seq_token())
    if free <= 0:
        return 0.0
    if per_token <= 0:
        return KV_TOKENS_CAP
    groups = getattr(getattr(dep, "shard", None), "attn_groups", 1) or 1
    return min(float(math.floor(free / per_token)) * groups, KV_TOKENS_CAP)


def _smaller_dtypes(dep: Any) -> list[str]:
    """The dtypes ``dep.chip`` runs whose bytes per element are fewer than ``dep.dtype``'s (fp4, fp6 below fp8 on a
    B200; none below fp8 on an H100), as ``scaleup infer``'s no-fit hint names them."""
    from topo import DTYPE_BYTES

    w = DTYPE_BYTES.get(dep.dtype, 1.0)
    try:
        runs = dep.chip.supported_dtypes()
    except AttributeError:
        return []
    return [d for d in runs if DTYPE_BYTES.get(d, w) < w]


def no_kv_reason(sm: StepModelLike, token_budget: int = 8192, batch: int = 1) -> str | None:
    """Why one replica of ``sm`` holds no KV cache at all, in words with the fix; None when it does hold some or
    the step model has no memory model to say why (a declared capacity, a chip without HBM).

    The weights and activations per chip of an ``inference.StepModel`` (as :func:`kv_capacity_tokens` counts
    them) against its chip's usable HBM, the chips the weights need (their bytes over the replica's chips,
    spread over the HBM left after the activations) and the fix: a larger tp, a smaller dtype the chip runs (none
    named when it runs nothing smaller: fp8 on an H100) or a larger fabric, as ``scaleup infer`` says of a model
    that does not fit."""
    dep = getattr(sm, "deployment", None)
    if dep is None or not float(getattr(getattr(dep, "chip", None), "hbm_bytes", 0.0) or 0.0) > 0:
        return None
    try:
        if _deployment_kv_tokens(dep, token_budget, batch) > 0:
            return None
        mem = dep.memory(1, max(1, int(token_budget)), 0)
        weights, usable = float(mem["weights"]), float(mem["hbm_usable"])
        act = max(float(mem["activations"]), float(dep.activation_bytes(max(1, batch), 1)))
        chips = int(getattr(dep, "replica_chips", dep.tp * dep.pp))
        fab_n = int(dep.fabric.n_chips)
        held = float(mem.get("engine", {}).get("held", weights + act))
    except (AttributeError, KeyError, TypeError):
        return None
    gb = lambda b: f"{b / 1e9:.2f} GB"  # noqa: E731
    smaller = " or ".join(_smaller_dtypes(dep))
    smallest = f"{dep.dtype} is the smallest dtype {dep.chip.name} runs"
    room = usable - act
    need = math.ceil(weights * chips / room) if room > 0 else None
    if need is not None and need <= chips:  # the weights fit: the activations or the stack's runtime fill the rest
        fix = f"lower token_budget (now {token_budget}) or batch, raise tp, or use a chip with more HBM"
    elif need is not None and need <= fab_n:
        fix = (f"raise tp (the weights need about {need} chips' HBM; tp x pp is {chips}, the fabric "
               f"{dep.fabric.name!r} has {fab_n}), "
               + (f"use a smaller dtype ({smaller}), or another fabric" if smaller else
                  f"or use another fabric ({smallest})"))
    else:
        fix = (f"the weights need {'about ' + str(need) if need else 'more'} chips' HBM, more than the fabric "
               f"{dep.fabric.name!r} has ({fab_n}): "
               + (f"use a smaller dtype ({smaller}) or another fabric" if smaller else
                  f"use a fabric with more chips or a chip with more memory ({smallest})"))
    return (f"{dep.model.name}'s weights take {gb(weights)} per chip ({dep.dtype}, tp={dep.tp}, pp={dep.pp}) and "
            f"activations {gb(act)}{f', the stack holds {gb(held)} in all' if 'engine' in mem else ''}, against "
            f"{gb(usable)} of usable HBM on one {dep.chip.name}: no room is left for a KV cache; {fix}")


def _longest_context(sm: StepModelLike, limit: int = 1 << 24) -> float:
    """Largest ``c`` with ``sm.max_batch(c) >= 1`` (0 if none), by bisection over 1..``limit``."""
    if sm.max_batch(1) < 1:
        return 0.0
    lo, hi = 1, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sm.max_batch(mid) >= 1:
            lo = mid
        else:
            hi = mid - 1
    return float(lo)


def _kv_capacity(pool: PoolSpec, sm: StepModelLike) -> float:
    """KV tokens per replica of ``pool``: its declared ``kv_capacity_tokens``, else :func:`kv_capacity_tokens`."""
    if pool.kv_capacity_tokens is not None:
        return float(pool.kv_capacity_tokens)
    return kv_capacity_tokens(sm, pool.token_budget, pool.batch)


@dataclass
class RequestView:
    """What a router sees of a request: index, arrival (s), prompt and output tokens, phase."""

    id: int
    arrival: float
    prompt: int
    output: int
    phase: str  # "prefill" (first placement) or "decode" (after a disaggregated prefill)


class Pool:
    """Runtime state of one pool, as routers see it (read-only for routers).

    Attributes:
        name, role, spec: from the fleet spec; ``index``: position in the fleet.
        model: the replica step model; ``step``: its :class:`StepCache`.
        n: replicas that serve; ``offset``: global index of replica 0 (KV endpoint rank); ``down``: replicas
            deployed but down (faults), charged and serving nothing.
        cost_per_hour: $/h per replica; ``chips``: chips per replica.
        network_cost_per_hour: the part of ``cost_per_hour`` that is the fabric's network (the step model's
            ``network_cost_per_hour``: switches and optics, amortised, and their power; 0 when it has none).
        kv_capacity: KV tokens per replica.
        load: outstanding tokens per replica (prompt + output of requests assigned, not finished).
        queued: requests waiting for admission per replica; ``running``: sequences in the batch per replica.
        decode_pools: for a ``prefill`` pool, the fleet's ``decode`` pools its requests move to (empty otherwise).
    """

    def __init__(self, spec: PoolSpec, index: int, model: StepModelLike, offset: int) -> None:
        self.spec = spec
        self.name = spec.name
        self.role = spec.role
        self.index = index
        self.model = model
        self.step = StepCache.of(model)
        self.n = spec.replicas
        self.offset = offset
        self.chips = int(model.chips)
        self.cost_per_hour = float(model.cost_per_hour)
        self.network_cost_per_hour = float(getattr(model, "network_cost_per_hour", 0.0))
        #: why the fabric's network counts $0 though it has switches (inference.StepModel.network_unpriced), or ""
        self.network_unpriced = str(getattr(model, "network_unpriced", "") or "")
        #: replicas of the pool that faults took down (``model.replicas_down``, :func:`fleet.fault_fleet`; 0 when it
        #: has none): they serve nothing, and the fleet's $/h still pays for them
        self.down = int(getattr(model, "replicas_down", 0) or 0)
        #: a given $/chip-hour's basis (a pool ``price``: "2 $/chip-hour (given, all-in ...)"), "" otherwise
        self.price_basis = str(getattr(model, "price_basis", "") or "")
        #: an ASSUMPTION line when the KV cache's dtype is one the chip does not compute (fp4 on Hopper:
        #: ``inference.Deployment.kv_dtype_note``), "" otherwise or for a step model without a deployment
        note = getattr(getattr(model, "deployment", None), "kv_dtype_note", None)
        self.kv_dtype_note = str(note() or "") if callable(note) else ""
        self.kv_capacity = _kv_capacity(spec, model)
        self.kv_bytes_per_token = float(model.kv_bytes_per_token)
        #: tokens a decoding sequence gains per decode iteration: the step model's ``tokens_per_step`` (speculative
        #: decoding's expected accepted length), 1 without
        self.tokens_per_step = _tokens_per_step(model)
        self.load = np.zeros(self.n)
        self.queued = np.zeros(self.n, dtype=np.int64)
        self.running = np.zeros(self.n, dtype=np.int64)
        self.replicas: list[Any] = []  # fleet.sim._Replica objects
        self.decode_pools: list[Pool] = []  # set by the simulation for a prefill pool
        self._cpt: dict[int, float] = {}

    def __repr__(self) -> str:
        return f"Pool({self.name!r}, role={self.role}, replicas={self.n})"

    def estimate(self, prompt: int, output: int, replica: int | None = None) -> tuple[float, float]:
        """Rough (TTFT s, TPOT s) a new request would see on ``replica`` (default: least loaded).

        Queued work ahead is taken as prefill at the pool's token budget; TPOT is one decode iteration at
        the replica's batch plus this request; a ``prefill`` pool, which decodes none of its requests, gives the
        lowest TPOT estimate of its fleet's ``decode`` pools (their least-loaded replicas), where the request's
        tokens will be generated. Used by the built-in routers; not a simulation.
        """
        r = int(np.argmin(self.load)) if replica is None else replica
        rep = self.replicas[r]
        tb = self.spec.token_budget
        ahead = rep.queued_tokens
        per_tok = self.step.prefill(min(tb, max(prompt, 1)), 1) / max(1, min(tb, prompt))
        ttft = ahead * per_tok + self.step.prefill(prompt, 1) if self.role != "decode" else 0.0
        if self.role == "prefill" and self.decode_pools:
            return ttft, min(d.estimate(prompt, output)[1] for d in self.decode_pools)
        b = min(self.spec.batch, int(self.running[r]) + 1)
        ctx = prompt + output / 2
        tpot = self.step.decode1(b, ctx) / self.tokens_per_step
        return ttft, tpot

    def cost_per_token(self, context: int = 1024) -> float:
        """$ per output token of one replica decoding at its batch limit (KV permitting), $/token."""
        key = int(context)
        hit = self._cpt.get(key)
        if hit is None:
            b = max(1, min(self.spec.batch, int(self.kv_capacity // max(1, context))))
            t = self.step.decode1(b, context) / self.tokens_per_step
            hit = self.cost_per_hour / 3600.0 * t / b if t > 0 else 0.0
            self._cpt[key] = hit
        return hit


def _tokens_per_step(model: StepModelLike) -> float:
    """``model.tokens_per_step`` (tokens per sequence per decode iteration, >= 1), 1.0 when it has none."""
    e = getattr(model, "tokens_per_step", 1.0)
    e = e() if callable(e) else e
    if isinstance(e, bool) or not isinstance(e, (int, float)) or not math.isfinite(e) or e < 1:
        raise SpecError(f"tokens_per_step: a decode iteration gains at least one token per sequence, got {e!r}")
    return float(e)
