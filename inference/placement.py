"""Where a model's bytes live on chips without HBM, and how a wafer runs its layers (issue 12).

Two kinds of SRAM-only chip change the inference model:

* **SRAM-only chips** (``hbm_bytes == 0``; Groq LPU, Cerebras CS-3): weights, KV cache and activations
  must all fit in on-chip SRAM, so the number of chips follows from capacity. The compiler spreads the
  whole parameter set (layers, embeddings, LM head) over the replica's ``tp x pp`` chips, so one chip holds
  ``W / (tp x pp)`` weight bytes plus its KV share and the step's activations. The closed form

      chips_needed = ceil((W + KV) / (sram_bytes x usable))

  with ``W = params x bytes(dtype)`` and ``KV = batch x (prompt + output) x kv_bytes_per_token`` is what
  :func:`chips_needed` returns; :func:`inference.layout.auto_layout` picks the smallest ``tp x pp`` at least that large
  that fits (``usable`` is the ``hbm_usable`` knob, default 0.9: the share the runtime may fill).
* **Wafer-scale chips** (:data:`SPATIAL_CHIPS`; Cerebras CS-3): a wafer is not a GPU with big SRAM. Its
  ``Lw = layers / pp`` layers are laid out side by side, each on ``1/Lw`` of the cores, SRAM bandwidth and
  FLOP/s; a token crosses the layers in turn. A layer on its region takes ``Lw x`` its full-wafer roofline
  time, plus the per-op latency (``op_overhead``: here the activation's trip across the wafer's 2D mesh,
  ~1,000 core hops at ~1 GHz, about 1 us per op; ASSUMPTION). ``m = min(Lw, units)`` micro-batches
  (sequences in decode, prompt chunks in prefill) fill the ``Lw``-deep pipeline, so a stage's step is

      T_stage = (Lw + m - 1) x (R(x) + ov_layer),    x = units / m

  where ``R(x)`` is the stage's full-wafer roofline time for one micro-batch (the sum over its layers of
  max(FLOP, SRAM bytes) at full-wafer rates = one layer on its region) and ``ov_layer`` is the per-layer
  latency. Pipeline depth across wafers and the inter-wafer link are the estimate's ``pp`` stages and
  ``send`` (activations only), so TPOT = pp x T_stage + (pp - 1) x send.

Hooks: :class:`inference.Deployment` calls :func:`sram_memory` from ``memory()``, :func:`spatial_step`
from ``step()``; :func:`inference.estimate` calls :func:`inference.layout.auto_layout` when ``tp``/``pp`` are None and
:func:`capacity_message` when an SRAM-only deployment does not fit.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from topo import ChipSpec, SpecError

# ``dep`` arguments are :class:`inference.Deployment` objects (not imported: estimate imports this module)
Deployment = Any
StepTime = Any

__all__ = ["DEFAULT_USABLE", "SPATIAL_CHIPS", "capacity_message", "chips_needed", "is_spatial", "sram_memory",
           "sram_only", "spatial_step", "unit"]

#: chip presets whose layers are laid out spatially on one wafer (add a custom wafer's name here)
SPATIAL_CHIPS = frozenset({"cs3"})

#: fraction of SRAM the runtime may fill on an SRAM-only chip when ``hbm_usable`` is not given
DEFAULT_USABLE = 0.9


def sram_only(chip: ChipSpec) -> bool:
    """True for a chip with no HBM whose SRAM holds everything (Groq LPU, Cerebras wafer)."""
    return chip.hbm_bytes <= 0 and chip.sram_bytes > 0 and chip.sram_bandwidth > 0


def is_spatial(chip: ChipSpec) -> bool:
    """True for a wafer-scale chip that lays its layers out side by side (:data:`SPATIAL_CHIPS`)."""
    return sram_only(chip) and chip.name in SPATIAL_CHIPS


def unit(chip: ChipSpec) -> str:
    """``"systems"`` for a wafer (one per CS-3 system), else ``"chips"``: the word the memory check uses."""
    return "systems" if is_spatial(chip) else "chips"


def chips_needed(model: Any, chip: ChipSpec, dtype_bytes: float, kv_bytes: float, batch: int, context: int,
                 usable: float | None = None) -> int:
    """Closed form: chips whose SRAM (HBM, on a chip that has it) holds the weights and the KV cache of ``batch`` sequences of ``context``
    tokens, ``ceil((params x dtype_bytes + batch x context x kv_bytes_per_token) / (sram x usable))``.

    Args:
        model: a :class:`inference.ModelSpec`.
        dtype_bytes, kv_bytes: bytes per weight and per KV element.
        usable: share of SRAM the runtime may fill (default :data:`DEFAULT_USABLE`).
    """
    u = DEFAULT_USABLE if usable is None else usable
    cap = (chip.hbm_bytes if chip.hbm_bytes > 0 else chip.sram_bytes) * u  # HBM chips: the same form over HBM
    if not cap > 0:
        raise SpecError(f"chip {chip.name!r}: no HBM or SRAM to place a model in")
    need = model.param_count() * dtype_bytes + batch * context * model.kv_bytes_per_token(kv_bytes)
    return max(1, math.ceil(need / cap - 1e-12))


def sram_memory(dep: Deployment, batch: int, prompt: int, output: int) -> dict[str, Any]:
    """Per-chip footprint of an SRAM-only deployment (same keys as ``Deployment.memory``), bytes.

    Weights: the whole parameter set spread over the replica's chips. ``hbm_needed``/``hbm_usable`` hold
    the SRAM need and capacity (the chip's only memory); ``chips_needed`` is :func:`chips_needed`.
    """
    _cap_prefill_chunk(dep)
    chips = dep.replica_chips
    weights = dep.model.param_count() * dep.mean_weight_bytes / chips
    kv = dep.kv_bytes_chip(batch, prompt + output)
    pf = dep.largest_prefill_step(batch, prompt)
    mb = math.ceil(batch / min(dep.pp, batch))
    act = max(dep.activation_bytes(pf[0], pf[1]), dep.activation_bytes(mb, 1))
    need = weights + kv + act
    cap = dep.chip.sram_bytes * dep.hbm_usable
    return {"weights": weights, "kv_cache": kv, "activations": act, "hbm_needed": need,
            "hbm_capacity": dep.chip.sram_bytes, "hbm_usable": cap, "fits": need <= cap,
            "sram_bytes": dep.chip.sram_bytes, "sram_free": max(cap - need, 0.0), "sram_only": True,
            "chips_needed": chips_needed(dep.model, dep.chip, dep.mean_weight_bytes, dep.kv, batch, prompt + output,
                                         dep.hbm_usable),
            "placement": {"activations": "sram", "weights": "sram", "kv_cache": "sram"}}


def _cap_prefill_chunk(dep: Deployment) -> None:
    """Shrink ``dep.prefill_chunk`` (once) to the largest power of two whose prefill activations fit in a
    eighth of the chip's usable SRAM. ASSUMPTION: an SRAM-only system streams a prompt through its
    pipeline in such chunks (Groq's compiler, Cerebras's wafer pipeline); a GPU-sized 8,192-token chunk
    would need more SRAM for activations than a 230 MB LPU has."""
    if getattr(dep, "_sram_chunk_capped", False):
        return
    dep._sram_chunk_capped = True
    budget = 0.125 * dep.chip.sram_bytes * dep.hbm_usable
    chunk = dep.prefill_chunk or 8192
    while chunk > 16 and dep.activation_bytes(1, chunk) > budget:
        chunk //= 2
    dep.prefill_chunk = chunk


def capacity_message(dep: Deployment, mem: dict[str, Any], batch: int, prompt: int, output: int) -> str:
    """The one-line CapacityError of an SRAM-only deployment that does not fit: how many chips/systems."""
    n = mem["chips_needed"]
    what = unit(dep.chip)
    fab_n = dep.fabric.n_chips
    gb = dep.chip.sram_bytes / 1e9
    where = (f"the fabric {dep.fabric.name!r} has {fab_n}; use a fabric with at least {n} (e.g. cs3-cluster, "
             f"groq-rack)" if n > fab_n else
             f"this layout has tp x pp = {dep.replica_chips}; use more pipeline stages, e.g. --pp "
             f"{math.ceil(n / max(dep.tp, 1))} (or leave --tp/--pp unset to choose automatically)")
    return (f"memory: {dep.model.name} ({dep.dtype}, batch={batch}, {prompt}+{output} tokens) needs "
            f"{_fmt(mem['hbm_needed'])} per chip (weights {_fmt(mem['weights'])}, KV {_fmt(mem['kv_cache'])}, "
            f"activations {_fmt(mem['activations'])}) but {dep.chip.name} has {_fmt(mem['hbm_usable'])} usable SRAM "
            f"and no HBM: the model needs {n} {what} of {gb:g} GB SRAM; {where}")


def _fmt(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if abs(n) >= 1e8 else f"{n / 1e6:.1f} MB"


def spatial_step(dep: Deployment, seqs: int, q: int, context: int, phase: str,
                 placement: dict[str, str]) -> StepTime:
    """One pipeline stage's step on a wafer whose ``Lw`` layers are laid out spatially (module docstring).

    Calls ``dep.step(..., spatial=False)`` for one micro-batch at full-wafer rates and rescales it:
    ``(Lw + m - 1) x (roofline + per-layer latency)``. Rows keep their full-wafer op times.
    """
    layers_w = max(1, math.ceil(dep.model.layers / dep.pp))
    units = seqs if phase == "decode" else seqs * q
    m = max(1, min(layers_w, units))
    if phase == "decode" or seqs >= m:
        x_seqs, x_q = math.ceil(seqs / m), q
    else:
        x_seqs, x_q = seqs, math.ceil(q / math.ceil(m / seqs))
    key = ("spatial", seqs, q, context, phase, tuple(sorted(placement.items())))
    hit = dep._step_cache.get(key)
    if hit is not None:
        return hit
    base = dep.step(x_seqs, x_q, context, phase, placement, spatial=False)
    # per-op latencies of the stage (a straggler's ops take 1 / speed as long, overhead included: Deployment._op_row)
    overhead = sum(r["layers"] for r in base.rows) * dep.op_overhead / dep.speed
    roofline = max(base.compute - overhead, 0.0)
    factor = (layers_w + m - 1) / layers_w  # layer time on its region = roofline (sum over Lw layers / Lw x Lw)
    per_layer = roofline + overhead / layers_w
    stage = (layers_w + m - 1) * per_layer
    scale = stage / base.compute if base.compute > 0 else 1.0
    st = replace(base, compute=stage, flop_time=base.flop_time * layers_w * factor,
                 mem_time=base.mem_time * layers_w * factor, serial=base.serial - base.compute + stage,
                 overlapped=max(base.overlapped * scale, stage))
    dep._step_cache[key] = st
    return st
