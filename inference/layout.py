"""Parallel layouts chosen from capacity: ``tp``/``pp`` when the user leaves them unset (issue 12).

On HBM chips the defaults stay 8 and 1. On SRAM-only chips (:func:`inference.placement.sram_only`) the
layout is the fewest chips whose SRAM holds the model with the KV cache of the batch: a CS-3 gets one
pipeline stage per wafer at ``tp = 1``; a Groq system gets ``tp`` = its node size (8) and as many stages as
the chips need, widening ``tp`` when stages would exceed layers. Used by :func:`inference.estimate`
(``tp=None``/``pp=None``), sweeps (``tp: null``) and ``fleet.plan`` (:func:`pipeline_stages`).
"""

from __future__ import annotations

import math
from typing import Any

from topo import DTYPE_BYTES, CapacityError

from .estimate import Deployment, _resolve_fabric
from .models import load_model
from .placement import DEFAULT_USABLE, chips_needed, is_spatial, sram_only, unit

__all__ = ["auto_layout", "pipeline_stages"]


def auto_layout(model: Any, fabric: Any, *, dtype: str = "fp8", kv_dtype: str | None = None, batch: int = 1,
                prompt: int = 2048, output: int = 256, tp: int | None = None, pp: int | None = None,
                hbm_usable: float | None = None, **_: Any) -> tuple[int, int]:
    """``(tp, pp)`` for ``tp``/``pp`` left unset: 8 and 1 on HBM chips; on SRAM-only chips the fewest
    chips that hold the model (a wafer: ``tp=1``, one pipeline stage per wafer; an LPU: ``tp`` = the
    fabric's node size (8), ``pp`` = the stages the remaining chips need).

    Raises:
        CapacityError: the model needs more chips/systems than the fabric has, or more stages than layers.
    """
    fab = _resolve_fabric(fabric)
    m = load_model(model)
    chip = fab.chip
    if not sram_only(chip):
        return (8 if tp is None else tp, 1 if pp is None else pp)
    # bytes per parameter as the deployment holds them (an MXFP4-expert checkpoint such as GPT-OSS at fp8 / fp4:
    # its published mix, Deployment.mean_weight_bytes; else the dtype's width)
    w = Deployment(m, fab, tp=1, pp=1, dp=1, dtype=dtype, kv_dtype=kv_dtype, hbm_usable=hbm_usable).mean_weight_bytes
    kv = DTYPE_BYTES.get(kv_dtype or dtype, 1.0)
    usable = DEFAULT_USABLE if hbm_usable is None else hbm_usable
    n = chips_needed(m, chip, w, kv, batch, prompt + output, usable)
    what = unit(chip)
    if n > fab.n_chips:
        # the bundled SRAM fabrics of this chip that hold n (it named cs3-cluster and groq-rack whatever the chip)
        big = [f"{name} ({f.n_chips})" for name in ("cs3-cluster", "groq-rack") if name != fab.name
               for f in [_resolve_fabric(name)] if f.chip.name == chip.name and f.n_chips >= n]
        one = chips_needed(m, chip, w, kv, 1, prompt + output, usable)
        raise CapacityError(f"memory: {m.name} ({dtype}, batch={batch}, {prompt}+{output} tokens) needs {n} {what} "
                            f"of {chip.sram_bytes / 1e9:g} GB SRAM (no HBM); the fabric {fab.name!r} has "
                            f"{fab.n_chips}; use a fabric of at least {n} {what}"
                            + (f", e.g. {', '.join(big)}" if big else f" (no bundled {chip.name} fabric has them)")
                            + (f", or a smaller --batch (batch 1 needs {one})" if batch > 1 and one <= fab.n_chips else ""))
    tps = [tp]
    if tp is None:
        tp = 1 if is_spatial(chip) else int(fab.meta.get("node_size", 8))
        while tp > 1 and m.heads % tp:
            tp //= 2
        # more stages than layers: widen the tensor-parallel group (while it divides the heads)
        tps = [tp * 2**k for k in range(8) if m.heads % (tp * 2**k) == 0 and tp * 2**k <= fab.n_chips]
    if pp is None:
        for tp in tps:
            pp = max(1, math.ceil(n / tp))
            while pp <= m.layers and tp * pp <= fab.n_chips:
                dep = Deployment(m, fab, tp=tp, pp=pp, dp=1, dtype=dtype, kv_dtype=kv_dtype, hbm_usable=hbm_usable)
                if dep.memory(batch, prompt, output)["fits"]:
                    return tp, pp
                pp += 1
        raise CapacityError(f"memory: {m.name} ({dtype}) needs at least {n} {what}; no tp={tp} x pp <= "
                            f"{min(m.layers, fab.n_chips // tp)} layout of {fab.name!r} holds it with its KV "
                            f"cache and activations; use a larger fabric or a smaller batch")
    return tp, pp


def pipeline_stages(model: Any, fabric: Any, tp: int, *, dtype: str = "fp8", kv_dtype: str | None = None,
                    batch: int = 1, prompt: int = 2048, output: int = 256) -> int:
    """Pipeline stages a planner should give one replica at ``tp``: 1 on HBM chips; on SRAM-only chips the
    fewest stages that hold the model at this ``tp`` (:func:`auto_layout`), so ``scaleup plan`` can size
    CS-3 and Groq replicas.

    Raises:
        CapacityError: no stage count up to the model's layers (and the fabric's chips) holds it.
    """
    if not sram_only(_resolve_fabric(fabric).chip):
        return 1
    return auto_layout(model, fabric, dtype=dtype, kv_dtype=kv_dtype, batch=batch, prompt=prompt, output=output,
                       tp=tp)[1]
