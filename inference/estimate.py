"""Token latency, throughput, memory, energy and cost of one LLM deployment on a fabric.

:func:`estimate` is the public entry point; :class:`Deployment` is the engine shared with
:class:`inference.StepModel` (the serving simulator's step-time oracle).

Model of one step (DESIGN.md, "Token latency"):

* per op (see :mod:`inference.ops`): ``time = max(FLOPs / (peak[dtype] x compute_efficiency),
  bytes_hbm / (hbm_bandwidth x memory_efficiency), bytes_sram / (sram_bandwidth x memory_efficiency))
  + op_overhead``; the SRAM and HBM streams run concurrently;
* tiers: activations of a step live in SRAM when they fit, then the whole weight set of the chip if
  it fits in what is left, then the whole KV cache; everything else streams from HBM. The placement
  is reported (``Report.memory["placement"]``);
* communication per layer from the parallelism, simulated on the fabric with every group of every
  replica running concurrently (:func:`inference.comm.collective_time`);
* ``overlap=False``: a layer takes compute + communication; ``overlap=True``: max of the two (the
  communication hidden behind the layer's compute, as with two-micro-batch overlap). Both figures are
  reported, and the exposed communication of the chosen mode.

Calibration knobs (keyword arguments of :func:`estimate` / :class:`StepModel`, defaults below):
``compute_efficiency`` / ``memory_efficiency`` (default: the chip spec's, e.g. 0.7 / 0.8),
``op_overhead`` (s per op per layer, default 1.5 us: kernel launch gaps with CUDA graphs, an
assumption), ``hbm_usable`` (default 0.9: the stack's KV fraction, TensorRT-LLM's ``free_gpu_memory_fraction``
of the memory free after weights, activations, graphs and buffers, vLLM's ``gpu_memory_utilization`` /
SGLang's ``mem_fraction_static`` of the total; under ``ideal`` the share of HBM weights + KV + activations may
fill: :mod:`inference.memory`), ``max_num_tokens`` (tokens per rank of the engine's start-up profiling pass),
``power_factor`` (average draw / system power, i.e. TDP + host share, default 0.7, an assumption).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topo import CHIPS, DTYPE_BYTES, CapacityError, ChipSpec, Fabric, SpecError

from . import kernels as _kernels
from . import measured as _measured
from . import memory as _memory
from . import placement as _placement
from .comm import Groups, collective_choice, collective_time, tp_comm_note
from .models import MXFP4_BYTES, ModelSpec, load_model
from .ops import Op, Shard, head_ops, layer_ops
from .speculative import Speculative, parse_speculative

#: default knobs (documented in the module docstring and docs/inference.md)
DEFAULTS: dict[str, float] = {
    "op_overhead": 1.5e-6,
    "hbm_usable": 0.9,
    "power_factor": 0.7,
    # cost model (assumptions, override with your own figures):
    "capex_per_chip": 30_000.0,  # $ system capex per accelerator, the presets' basis (assumption)
    "amortisation_years": 4.0,  # straight-line depreciation (assumption; hyperscalers use 5-6 years)
    "power_price": 0.08,  # $ per kWh (assumption: US industrial electricity ~0.08 $/kWh, EIA 2024)
    "pue": 1.3,  # datacenter power usage effectiveness (assumption; Uptime Institute survey avg ~1.5)
}

HOURS_PER_YEAR = 8766.0


_FABRICS: dict[tuple[str, float], Fabric] = {}


#: serving stacks that run an MXFP4-expert checkpoint (GPT-OSS) with BF16 activations on Blackwell as well (the
#: ``w4a16_mxfp4`` MoE kernels at the BF16 rate) rather than MXFP8 x MXFP4. source: vLLM
#: ``vllm/model_executor/layers/quantization/mxfp4.py`` ``get_mxfp4_backend``: on SM100 with FlashInfer and none
#: of ``VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8[_CUTLASS]`` set, ``SM100_FI_MXFP4_BF16``; aiconfigurator-core 0.12.0's
#: vLLM 0.24.0 B200 / GB200 tables measured GPT-OSS's experts only as ``w4a16_mxfp4``
#: (``vllm_gptossmxfp4moe_flashinfer_trtllm_mxfp4_bf16``). TensorRT-LLM and SGLang: MXFP8 activations.
MXFP4_BF16_STACKS = ("vllm",)

#: How each stack's KV-cache pool holds a sliding-window layer (GPT-OSS: 18 of 36 layers, window 128): ``"window"``
#: (only the last ``window`` tokens: the cache stops growing) or ``"full"`` (every token, like a full-attention
#: layer; the kernel still reads the window only).
#: * trtllm ``"full"``: TensorRT-LLM's GPT-OSS passes the window per attention call
#:   (``_torch/models/modeling_gpt_oss.py``: ``attention_window_size=self.sliding_window``, every other layer) while
#:   its KV cache manager makes one pool per attention window it is configured with (docs/source/features/
#:   kvcache.md: "A separate pool is created for each combination of attention window size and number of heads"),
#:   from ``kv_cache_config.max_attention_window``, default every layer at the max sequence length; the
#:   perf-overview's GPT-OSS options set none. ASSUMPTION: the release of those runs derives no per-layer window
#:   from the Hugging Face config itself (NVIDIA/TensorRT-LLM PR #5722, which would have, was closed unmerged).
#:   Sensitivity (docs/inference.md, GPT-OSS): perf-overview H200 TP1 1000/1000 at trtllm-bench's default batch
#:   cap, batch 537 (full) against 1,009 (window), +8 % against +56 % error.
#: * vllm ``"window"``: the hybrid KV cache manager reserves "slots only for the most recent sliding_window_size
#:   tokens" on sliding-window layers, naming gpt-oss (docs.vllm.ai design/hybrid_kv_cache_manager).
#: * sglang ``"window"``: ASSUMPTION: its hybrid SWA memory pool, on by default (``--disable-hybrid-swa-memory``).
#: * ideal ``"window"``: the physical need.
SWA_KV_POOL = {"trtllm": "full", "vllm": "window", "sglang": "window", "ideal": "window"}


def _resolve_fabric(fabric: Fabric | str) -> Fabric:
    """A Fabric object as given, or loaded by name / path (memoised, so that repeated estimates on the same
    fabric name reuse its routes and the memoised collective times)."""
    if isinstance(fabric, Fabric):
        return fabric
    if isinstance(fabric, str):
        import os

        from topo import load

        key = (fabric, os.path.getmtime(fabric) if os.path.exists(fabric) else 0.0)
        fab = _FABRICS.get(key)
        if fab is None:
            fab = load(fabric)
            if len(_FABRICS) >= 8:
                _FABRICS.pop(next(iter(_FABRICS)))
            _FABRICS[key] = fab
        return fab
    raise SpecError(f"fabric: expected a preset name, a YAML path or a topo.Fabric, got {type(fabric).__name__}")


def _check_number(name: str, v: Any) -> None:
    """A SpecError naming knob ``name`` unless ``v`` is None or a real number (not a bool, not a string)."""
    if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real)):
        raise SpecError(f"{name}: must be a number, got {v!r}")


def _quantity(name: str, v: Any, dimension: str) -> Any:
    """``v`` as given, or a string read by :func:`topo.parse_quantity` (a sweep YAML's ``'2e-6'``, which YAML
    leaves a string, or ``'2us'``); a UnitError naming ``name`` when it cannot be read."""
    if isinstance(v, str):
        from topo import parse_quantity

        return parse_quantity(v, dimension, name)
    return v


def _time_at_least_zero(name: str, v: Any, example: str) -> Any:
    """``v`` (s; a sweep YAML's ``'2e-5'`` or ``'20us'`` read by :func:`_quantity`) when it is None or a finite real
    number >= 0; else a SpecError naming ``name`` with ``example`` (the per-sequence knobs ``host_per_seq`` and
    ``moe_per_seq``)."""
    v = _quantity(name, v, "time")
    if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= v < math.inf):
        got = f"{v:.6g} s" if isinstance(v, float) else repr(v)
        raise SpecError(f"{name}: must be a finite number of seconds >= 0 (e.g. {example}), got {got}")
    return v


def _dtype_bytes(name: str, field_name: str) -> float:
    if not isinstance(name, str) or name not in DTYPE_BYTES:  # a list or map: unhashable, a TypeError
        raise SpecError(f"{field_name}: unknown dtype {name!r}; known: {', '.join(DTYPE_BYTES)}")
    return DTYPE_BYTES[name]


def _graph_batches(sizes: Sequence[int] | None) -> tuple[int, ...]:
    """Sorted CUDA-graph batch sizes (empty: no padding); a SpecError names a bad entry."""
    if sizes is None:
        return ()
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise SpecError(f"graph_batches: must be a list of positive integers (captured decode batch sizes), "
                        f"got {sizes!r}")
    for v in sizes:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise SpecError(f"graph_batches: every entry must be a positive integer, got {v!r}")
    return tuple(sorted({int(v) for v in sizes}))


def padded_batch(b: int, sizes: Sequence[int]) -> int:
    """Batch a CUDA-graph decode step of ``b`` sequences runs as: the smallest captured size >= ``b``.

    ``b`` itself when no size holds it (the step runs eagerly, unpadded) or ``sizes`` is empty."""
    for v in sizes:
        if v >= b:
            return int(v)
    return int(b)


def replica_groups(fabric: Fabric, size: int, count: int, placement: str = "tray") -> np.ndarray:
    """``count`` disjoint groups of ``size`` chip ranks, tray-first (``fab.groups`` when available)."""
    if placement not in ("tray", "strided", "random"):
        raise SpecError(f"placement: must be 'tray', 'strided' or 'random', got {placement!r}")
    groups = None
    fn = getattr(fabric, "groups", None)
    if callable(fn):
        try:
            groups = fn(size, placement=placement)
        except Exception:  # noqa: BLE001 - fall back to consecutive ranks below
            groups = None
    if groups is None or len(groups) < count:
        n = (fabric.n_chips // size) * size
        groups = np.arange(n, dtype=np.int64).reshape(-1, size)
    return np.asarray(groups[:count], dtype=np.int64).reshape(count, size)


@dataclass
class StepTime:
    """One stage's step, one chip: per-op rows and totals (s)."""

    rows: list[dict]
    compute: float  # sum of op times (roofline max, incl. overhead), s
    flop_time: float  # sum of FLOP-limited times, s
    mem_time: float  # sum of memory-limited times, s
    comm: float  # communication, s
    exposed: float  # communication not hidden (depends on overlap), s
    serial: float  # stage time with no overlap, s
    overlapped: float  # stage time with overlap, s
    send: float = 0.0  # pipeline send to the next stage, s
    comm_rows: list[dict] = field(default_factory=list)
    # host_per_seq knob: the overlapped path's wait for the host beyond the ``host (exposed)`` row that
    # ``compute`` holds (that row is the serial path's), s; 0 when the step is not host-bound
    host_wait: float = 0.0

    def time(self, overlap: bool) -> float:
        return self.overlapped if overlap else self.serial


class Deployment:
    """A model placed on a fabric with a parallelism plan: computes step times. Used by estimate/StepModel."""

    def __init__(self, model: ModelSpec | str, fabric: Fabric | str, *, tp: int = 8, ep: int = 1, pp: int = 1,
                 dp: int | None = None, dtype: str = "fp8", kv_dtype: str | None = None,
                 compute_efficiency: float | None = None, memory_efficiency: float | None = None,
                 op_overhead: float | None = None, hbm_usable: float | None = None, sram: bool = True,
                 prefill_chunk: int | None = 8192, placement: str = "tray", act_dtype: str | None = None,
                 stack: str | None = None, backend: str = "auto", moe_skew: float | None = None,
                 kernels: Any = None, graph_batches: Sequence[int] | None = None,
                 max_num_tokens: int | None = None, max_seqs: int | None = None,
                 host_per_seq: float | None = None, moe_per_seq: float | None = None, speed: float | Sequence[float] | np.ndarray | None = None,
                 speculative: Speculative | str | dict | None = None, **_: Any) -> None:
        self.model = load_model(model)
        self.fabric = _resolve_fabric(fabric)
        chip_speed = None
        speed = _quantity("speed", speed, "number")  # a sweep YAML's 5e-1 is a string
        if speed is None:  # the fabric's stragglers (a fabric file's ``stragglers:``, ``--straggler``), else nominal
            speed = self.fabric.meta.get("chip_speed")
            speed = 1.0 if speed is None else speed
        if isinstance(speed, (list, tuple, np.ndarray)):  # one factor per chip of the fabric (its stragglers)
            try:
                chip_speed = np.asarray(speed, dtype=np.float64)
            except (TypeError, ValueError):
                chip_speed = np.zeros(0)
            if chip_speed.shape != (self.fabric.n_chips,) or not np.all((chip_speed > 0) & np.isfinite(chip_speed)):
                raise SpecError(f"speed: per chip, one finite factor > 0 for each of the {self.fabric.n_chips} chips "
                                f"of {self.fabric.name!r} (its meta['chip_speed']), got {str(speed)[:80]}")
            speed = 1.0
        if isinstance(speed, bool) or not isinstance(speed, numbers.Real) or not 0 < speed < math.inf:
            raise SpecError(f"speed: must be a finite number > 0 (1 = nominal, 0.5 = every kernel twice as long), "
                            f"got {speed!r}")
        #: the chips' speed factor (a straggler's): every kernel of a step, measured or analytic, takes 1 / speed
        #: as long; communication (the fabric's) and host costs do not change. Given per chip (default: the
        #: fabric's ``meta["chip_speed"]``), the slowest chip of the replicas that are up (set at the end of
        #: __init__, once the groups are built)
        self.speed = float(speed)
        self.chip: ChipSpec = self.fabric.chip
        for name, v in (("tp", tp), ("ep", ep), ("pp", pp)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise SpecError(f"{name}: must be a positive integer, got {v!r}")
        m = self.model
        if ep > 1:
            if not m.is_moe:
                raise SpecError(f"ep: {m.name} has no experts; use ep=1")
            if ep % tp:
                raise SpecError(f"ep: must be 1 or a multiple of tp={tp} (experts spread over the stage), got {ep}")
            if m.experts % ep:
                fits = ", ".join(str(d) for d in range(tp, m.experts + 1, tp) if m.experts % d == 0)
                raise SpecError(f"ep: must divide experts={m.experts}, got {ep}; use one of {fits or 1} (a multiple "
                                f"of tp={tp} that divides the experts)")
        if m.heads % tp:
            divisors = ", ".join(str(d) for d in range(1, m.heads + 1) if m.heads % d == 0)
            raise SpecError(f"tp: must divide the {m.heads} attention heads of {m.name}, got {tp}; use one of "
                            f"{divisors}")
        if pp > m.layers:
            raise SpecError(f"pp: at most layers={m.layers}, got {pp}")
        self.shard = Shard(int(tp), int(ep), int(pp))
        self.tp, self.ep, self.pp = int(tp), int(ep), int(pp)
        self.dtype = dtype
        self.kv_dtype = kv_dtype or dtype
        self.w = _dtype_bytes(dtype, "dtype")
        supported = self.chip.supported_dtypes() if hasattr(self.chip, "supported_dtypes") else None
        if supported is not None and dtype not in supported:
            raise SpecError(f"dtype: {self.chip.name} cannot run {dtype} GEMMs; it supports "
                            f"{', '.join(supported)} (pick one of those, or another chip)")
        # SRAM-only chips (Groq, CS-3) run no GPU serving stack: always the roofline + op_overhead
        # (inference/placement.py)
        self._set_stack("ideal" if _placement.sram_only(self.chip) else stack, backend, kernels)
        if moe_skew is not None:
            if isinstance(moe_skew, bool) or not isinstance(moe_skew, (int, float)) or not 0 <= moe_skew < math.inf:
                raise SpecError(f"moe_skew: must be a finite number >= 0 (0 balanced, 1 uniform top-k), got {moe_skew!r}")
            if self.profile is not None:
                import dataclasses

                self.profile = dataclasses.replace(self.profile, moe_skew=float(moe_skew))
        host_per_seq = _time_at_least_zero("host_per_seq", host_per_seq, "20e-6")
        #: the serving engine's host work per sequence per iteration on an x86 host, s (default: the stack
        #: profile's; 0 under ``ideal``)
        if self.ideal or self.profile is None:
            self.host_per_seq = 0.0
        else:
            self.host_per_seq = self.profile.host_per_seq if host_per_seq is None else float(host_per_seq)
        moe_per_seq = _time_at_least_zero("moe_per_seq", moe_per_seq, "0.2e-6")
        if moe_per_seq is not None and self.profile is not None:
            import dataclasses

            self.profile = dataclasses.replace(self.profile, moe_per_seq=float(moe_per_seq))
        # Activations (residual stream, GEMM outputs, TP/EP/PP messages) stay in BF16 when the weights are
        # 8-bit or narrower, as in FP8/FP4 serving engines (GEMM inputs are quantised on the fly);
        # wider dtypes keep their own width. Override with act_dtype.
        if act_dtype is None:
            act_dtype = dtype if self.w >= 2 else "bf16"
        self.act_dtype = act_dtype
        self.a = _dtype_bytes(act_dtype, "act_dtype")
        self.kv = _dtype_bytes(self.kv_dtype, "kv_dtype")
        self.peak = self.chip.peak_flops(dtype)
        # dtype of the dense GEMMs (attention, dense MLP) and of the MoE kernels, bytes per expert weight, MoE peak
        self.gemm_dtype, self.moe_dtype, self.we, self.moe_peak = dtype, dtype, self.w, self.peak
        if m.expert_dtype == "mxfp4" and dtype in ("fp8", "fp4"):
            # An MXFP4-expert checkpoint (GPT-OSS) served at 8 bits or narrower runs as published: the experts stay
            # MXFP4 (4.25 bits), every other weight BF16 (its ``modules_to_not_convert``). source: TensorRT-LLM
            # ``examples/models/core/gpt_oss/README.md`` (MoE support matrix: Hopper bf16 activations x mxfp4
            # weights, TRITON or CUTLASS; Blackwell mxfp8 activations x mxfp4 weights, CUTLASS or TRTLLM) and
            # ``tensorrt_llm/_torch/model_config.py`` ``get_mxfp4_quant_algo`` (SM >= 100: W4A8_MXFP4_MXFP8, else
            # W4A16_MXFP4); aiconfigurator-core maps ``quant_method mxfp4`` to BF16 GEMMs (sdk/models/helpers.py).
            # Blackwell is told apart by its native FP4 (ChipSpec.supported_dtypes): its block-scaled MMA runs
            # MXFP8 x MXFP4 at the FP8 rate; Hopper dequantises the weights to BF16 in the kernel (BF16 rate).
            # vLLM keeps BF16 activations on Blackwell too (MXFP4_BF16_STACKS).
            mx8 = ("fp4" in supported if supported is not None else False) and self.stack not in MXFP4_BF16_STACKS
            self.moe_dtype = "w4a8_mxfp4_mxfp8" if mx8 else "w4a16_mxfp4"
            self.moe_peak = self.chip.peak_flops("fp8" if mx8 else "bf16")
            self.we = MXFP4_BYTES
            self.gemm_dtype, self.w, self.peak = "bf16", 2.0, self.chip.peak_flops("bf16")
        compute_efficiency = _quantity("compute_efficiency", compute_efficiency, "number")
        memory_efficiency = _quantity("memory_efficiency", memory_efficiency, "number")
        self.ce = compute_efficiency if compute_efficiency is not None else self.chip.compute_efficiency
        self.me = memory_efficiency if memory_efficiency is not None else self.chip.memory_efficiency
        for name, v in (("compute_efficiency", self.ce), ("memory_efficiency", self.me)):
            _check_number(name, v)
            if not 0 < v <= 1:
                raise SpecError(f"{name}: must be in (0, 1], got {v!r}")
        op_overhead = _quantity("op_overhead", op_overhead, "time")
        _check_number("op_overhead", op_overhead)
        self.op_overhead = DEFAULTS["op_overhead"] if op_overhead is None else float(op_overhead)
        if not self.op_overhead >= 0:
            raise SpecError(f"op_overhead: must be >= 0 s per op, got {op_overhead}")
        hbm_usable = _quantity("hbm_usable", hbm_usable, "number")
        if hbm_usable is not None and (isinstance(hbm_usable, bool) or not isinstance(hbm_usable, numbers.Real)
                                       or not 0 < hbm_usable <= 1):
            raise SpecError(f"hbm_usable: must be a fraction in (0, 1] of the chip's memory (the stack's KV / memory "
                            f"fraction, e.g. 0.9), got {hbm_usable!r}")
        self.hbm_usable = DEFAULTS["hbm_usable"] if hbm_usable is None else float(hbm_usable)
        if prefill_chunk is not None and (isinstance(prefill_chunk, bool) or not isinstance(prefill_chunk, (int, np.integer))
                                          or prefill_chunk < 1):
            raise SpecError(f"prefill_chunk: must be a positive integer (tokens) or None, got {prefill_chunk!r}")
        self.prefill_chunk = prefill_chunk
        # CUDA-graph batch sizes captured for decode with padding (TensorRT-LLM ``cuda_graph_config:
        # enable_padding, batch_sizes``): a decode step's per-attention-group batch runs as the smallest
        # captured size that holds it (dummy sequences fill the rest; ``decode_padded``)
        self.graph_batches = _graph_batches(graph_batches)
        # the engine's start-up memory profile (inference/memory.py): tokens per rank of its estimation forward
        # pass (TensorRT-LLM max_num_tokens, vLLM max_num_batched_tokens; default the prefill budget, else 8192),
        # sequence slots (vLLM max_num_seqs; ASSUMPTION 256 by default) and the largest captured decode graph
        for name, v in (("max_num_tokens", max_num_tokens), ("max_seqs", max_seqs)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
                raise SpecError(f"{name}: must be a positive integer, got {v!r}")
        self.max_num_tokens = int(max_num_tokens or prefill_chunk or 8192)
        self.max_seqs = int(max_seqs or 256)
        self.graph_batch_max = max(self.graph_batches) if self.graph_batches else _memory.DEFAULT_GRAPH_BATCH
        self.placement = placement
        self.use_sram = bool(sram) and self.chip.sram_bytes > 0 and self.chip.sram_bandwidth > 0
        if self.chip.hbm_bandwidth <= 0 and not _placement.sram_only(self.chip):
            raise SpecError(f"chip {self.chip.name!r}: hbm_bandwidth must be > 0 for inference estimates")

        self.replica_chips = self.shard.stage_chips * self.pp
        n = self.fabric.n_chips
        if self.replica_chips > n:
            raise CapacityError(
                f"deployment: tp/ep x pp = {self.replica_chips} chips per replica, fabric "
                f"{self.fabric.name!r} has {n}; use a smaller tp/ep/pp")
        max_dp = n // self.replica_chips
        if dp is None:
            dp = max_dp
        if not isinstance(dp, (int, np.integer)) or dp < 1 or dp > max_dp:
            raise CapacityError(f"dp: must be in 1..{max_dp} (fabric of {n} chips, {self.replica_chips} per replica), got {dp}")
        self.dp = int(dp)
        self._groups_built = False
        self._step_cache: dict[tuple, StepTime] = {}
        if chip_speed is not None:  # a replica's step is as slow as its slowest chip; the slowest replica up
            up = self._replica_split()[1]  # (none up: _build_groups names --fail when a step needs the groups)
            self.speed = float(chip_speed[up].min()) if len(up) else 1.0
        #: speculative decoding (:mod:`inference.speculative`): a decode step is one draft + verify iteration
        #: that gains :attr:`tokens_per_step` tokens per sequence; None: one token per step
        self.speculative = parse_speculative(speculative)
        self.draft: Deployment | None = None
        if self.speculative is not None:
            self._set_speculative(dict(stack=stack, backend=backend, compute_efficiency=compute_efficiency,
                                       memory_efficiency=memory_efficiency, op_overhead=op_overhead, sram=sram,
                                       act_dtype=act_dtype, speed=self.speed, kernels=kernels))

    # ------------------------------------------------------------------ stack and kernel backend
    def _set_stack(self, stack: str | None, backend: str, kernels: Any = None) -> None:
        """Stack profile (``ideal`` = roofline) and kernel backend (``measured`` tables or ``analytic``).

        ``kernels``: a table written by ``scaleup measure`` (path or :class:`inference.measure.KernelTable`;
        default: the chip preset's ``kernel_table``), used instead of aiconfigurator-core's tables."""
        stack = _kernels.DEFAULT_STACK if stack is None else str(stack).lower()
        if stack not in _kernels.STACKS:
            raise SpecError(f"stack: must be one of {', '.join(_kernels.STACKS)}, got {stack!r}")
        if backend not in ("auto", "measured", "analytic"):
            raise SpecError(f"backend: must be 'auto', 'measured' or 'analytic', got {backend!r}")
        if stack == "ideal" and backend == "measured":  # it silently ran the roofline, reading no table
            if _placement.sram_only(self.chip):
                raise SpecError(f"backend: 'measured' unavailable: {self.chip.name} holds everything in SRAM and runs "
                                "no GPU serving stack (its steps are the roofline); use backend='auto'")
            raise SpecError("backend: 'measured' reads measured kernel tables and stack 'ideal' is the roofline "
                            "without them; drop one (stack 'ideal' with backend 'auto', or backend 'measured' with "
                            "stack trtllm, vllm or sglang)")
        self.stack = stack
        self.ideal = stack == "ideal"
        self.profile = None if self.ideal else _kernels.profile_for(self.chip, stack)
        self.tables = None
        if kernels is None and getattr(self.chip, "kernel_table", "") and not self.ideal and backend != "analytic":
            kernels = self.chip.kernel_table  # the chip preset's own table (ignored by ideal / analytic)
        if kernels is not None:
            if self.ideal:
                raise SpecError("kernels: stack 'ideal' is the roofline and uses no kernel table; pick another "
                                "stack (trtllm, vllm, sglang) or drop the table")
            if backend == "analytic":
                raise SpecError("kernels: backend 'analytic' ignores measured tables; use backend 'auto' or "
                                "'measured' with a kernel table")
            from .measure.table import load_table

            self.tables = load_table(kernels)
        elif not self.ideal and backend != "analytic":
            system = _kernels.CHIP_FAMILY.get(self.chip.name, (None, None))[1]
            self.tables = _measured.tables(system, stack)
            if self.tables is None and backend == "measured":
                why = (_measured.MISSING_EXTRA if not _measured.available() else f"no {stack} kernel tables for chip {self.chip.name}")
                raise SpecError(f"backend: 'measured' unavailable: {why}; use backend='analytic'")
        self._kernel_counts: dict[str, int] = {"measured": 0, "analytic": 0}
        self._analytic_ops: set[str] = set()
        self._table_sources: set[str] = set()  # the table files this model's own lookups read (provenance)

    def _set_speculative(self, kw: dict[str, Any]) -> None:
        """Check :attr:`speculative` against the deployment and build the draft model's :class:`Deployment`
        (``draft:MODEL``: same fabric, ``tp``, dtype and stack; one replica per attention group of the fabric)."""
        sp, m = self.speculative, self.model
        if _placement.sram_only(self.chip):
            raise SpecError(f"speculative: not modelled on {self.chip.name}, whose steps are a spatial pipeline over "
                            "on-die SRAM (inference/placement.py); use an HBM chip, or drop speculative")
        if sp.method != "draft":
            return
        try:
            draft = load_model(sp.draft_model)
        except SpecError as e:
            raise SpecError(f"speculative: draft model: {e}") from None
        if draft.vocab != m.vocab:
            raise SpecError(f"speculative: draft {draft.name} has a vocabulary of {draft.vocab:,} tokens and "
                            f"{m.name} {m.vocab:,}; a draft must share the target's tokenizer (e.g. llama3.1-8b "
                            "for llama3.1-70b / 405b)")
        groups = max(1, min(self.fabric.n_chips // self.tp, self.dp * self.shard.attn_groups))
        if draft.param_count() >= m.param_count():
            raise SpecError(f"speculative: draft {draft.name} ({draft.param_count() / 1e9:.1f}B parameters) is no "
                            f"smaller than {m.name} ({m.param_count() / 1e9:.1f}B); a draft model must be cheaper than "
                            "the target it drafts for (e.g. llama3.1-8b for llama3.1-70b)")
        try:
            self.draft = Deployment(draft, self.fabric, tp=self.tp, ep=1, pp=1, dp=groups, dtype=self.dtype,
                                    kv_dtype=self.kv_dtype, **kw)
        except SpecError as e:
            raise SpecError(f"speculative: draft {draft.name} at tp={self.tp}: {e}") from None

    @property
    def tokens_per_step(self) -> float:
        """Tokens each sequence gains per decode step: 1, or the expected accepted length under speculation."""
        return 1.0 if self.speculative is None else self.speculative.tokens_per_step

    def _format_notes(self) -> list[str]:
        """Notes for every backend: what the model's published checkpoint and the stack's KV pool make of the
        deployment dtype, and a straggler's speed."""
        notes = [n for n in (self.kv_dtype_note(),) if n]
        if self.speed != 1.0:
            notes.append(f"kernels at speed {self.speed:g}: the slowest chip of the replicas that are up (a straggler); "
                         "each kernel takes 1 / speed as long, communication and host costs unchanged")
        if self.we != self.w:
            notes.append(f"{self.model.name}'s published checkpoint served at {self.dtype}: MXFP4 experts "
                         f"({self.we * 8:g} bits) on {self.moe_dtype} MoE kernels, attention / router / embeddings / "
                         "LM head in BF16 (ModelSpec.expert_dtype)")
        if self.swa_kv_full:
            notes.append(f"{self.stack} KV pool holds the {self.model.sliding_layers} sliding-window layers at full "
                         "length (the kernel reads the window only; estimate.SWA_KV_POOL)")
        sp = self.speculative
        if sp is not None:
            draft = {"mtp": "one decoder layer + LM head per proposal (MTP / Eagle-style module)",
                     "ngram": "prompt lookup on the host (ASSUMPTION: no device time)",
                     "draft": f"{sp.draft_model} decode steps at tp={self.tp}"}[sp.method]
            notes.append(f"speculative {sp.label()}: each decode step drafts {sp.k} tokens ({draft}) and verifies "
                         f"{sp.k + 1} per sequence; {sp.tokens_per_step:.3g} tokens per step at acceptance "
                         f"{sp.label().rsplit('@', 1)[1]} (ASSUMPTION: "
                         + ("per position as given" if isinstance(sp.acceptance, tuple) else
                            "each proposal accepted independently")
                         + "; an input, not a calibrated value)")
        return notes

    def kv_dtype_note(self) -> str:
        """An ASSUMPTION line when the KV cache's dtype is one the chip does not compute (``ChipSpec.supported_dtypes``:
        fp4 on Hopper, fp6 on a chip without it), else "". Not an error: a KV cache is storage, dequantised to the
        attention's dtype as it is read, so the chip can hold it; but no serving stack is known to ship such a cache
        on such a chip (TensorRT-LLM's NVFP4 KV cache is for chips that compute FP4), so the capacity and the
        attention's KV reads at that width are a what-if."""
        sup = self.chip.supported_dtypes() if hasattr(self.chip, "supported_dtypes") else None
        if sup is None or self.kv_dtype in sup:
            return ""
        return (f"ASSUMPTION: kv_dtype {self.kv_dtype} on {self.chip.name}, which computes no {self.kv_dtype} (it "
                f"runs {', '.join(sup)}): the KV cache is held and read at {self.kv * 8:g} bits per element, "
                "dequantised in attention; no serving stack is known to ship such a KV cache on this chip (FP4 KV "
                "caches, TensorRT-LLM's NVFP4, are for chips that compute FP4): read the KV capacity and the "
                "attention's KV reads as a what-if")

    def inputs(self) -> list[str]:
        """What the user brought instead of a preset, one line each (provenance ``inputs``; the text report's
        ``given`` lines): a model that is no preset or a changed one (its file), a chip and a ``comm:`` block that
        are no preset (the comm's fit source) or a preset with fields changed. [] for presets only."""
        import dataclasses

        from topo.loader import preset_changes

        from .models import MODELS

        out = []
        m, base = self.model, MODELS.get(self.model.name)
        if base != m:
            changed = [] if base is None else [f.name for f in dataclasses.fields(m) if f.name not in ("name", "source")
                                              and getattr(m, f.name) != getattr(base, f.name)]
            out.append(f"model {m.name}: {m.source or 'your own spec'}"
                       + (f"; the preset with {', '.join(changed)} changed" if changed else ""))
        for kind, spec in (("chip", self.chip), ("comm", getattr(self.fabric, "comm", None))):
            if spec is None:
                continue
            changed = preset_changes(spec)
            if changed is None:
                if kind == "comm":  # its fit's sources where it has any (calibrate writes ``fit: <files>``)
                    prov = list(dict.fromkeys(str(v) for v in dict(spec.provenance).values()))
                    prov = [v for v in prov if v.startswith("fit")] or prov
                    what = f"({'; '.join(prov)})" if prov else "(no preset of that name)"
                else:
                    what = "(no preset of that name)" + (f"; {spec.source}" if spec.source else "")
                out.append(f"{kind} {spec.name}: your own {what}")
            elif changed:
                out.append(f"{kind} {spec.name}: the preset with {', '.join(changed)} changed")
        return out

    def provenance(self) -> dict[str, Any]:
        """Which backend and assumptions produced the step times (for reports and the CLI)."""
        if self.ideal:
            out = {"stack": "ideal", "backend": "roofline",
                   "assumptions": ["roofline: peak x compute_efficiency, bandwidth x memory_efficiency, "
                                   f"op_overhead {self.op_overhead * 1e6:.1f} us per op; no kernel floors",
                                   *self._format_notes()]}
            if self.inputs():
                out["inputs"] = self.inputs()
            return out
        tab = self.tables
        backend = "analytic"
        if tab is not None:
            backend = ("measured" if self._kernel_counts["analytic"] == 0 else "measured+analytic")
        out = {"stack": self.stack, "backend": backend, "family": self.profile.family,
               "kernels_measured": self._kernel_counts["measured"], "kernels_analytic": self._kernel_counts["analytic"],
               "assumptions": list(self.profile.assumptions) + self._format_notes()}
        if self.inputs():
            out["inputs"] = self.inputs()
        if self.tp > 1:
            out["assumptions"].append(tp_comm_note(self.fabric, self.stack, self.tp))
        if self.host_per_seq:
            cpu, f = _kernels.host_cpu(self.chip.name)
            out["assumptions"].append(
                f"host_per_seq {self.host_per_seq * 1e6:g} us per sequence per iteration x{f:.2f} ({cpu} host): an "
                "iteration takes max(GPU step, host) (ASSUMPTION, a sensitivity; docs/inference.md)")
        if self.model.moe_layers and not self.ideal and self.profile is not None and self.profile.moe_per_seq:
            out["assumptions"].append(
                f"moe_per_seq {self.profile.moe_per_seq * 1e6:g} us per sequence per MoE layer per iteration (the "
                f"{self.stack} profile's cost the MoE kernel tables do not time, fitted on TensorRT-LLM's H100 / B200 "
                "MoE throughput rows; its form is an ASSUMPTION: docs/inference.md \"The per-sequence MoE cost\")")
        if tab is not None:
            # this model's own lookups (the memoised tables' ``sources`` hold every lookup of the process; a
            # table without ``last_source`` describes itself); none where no lookup of this model answered
            used = self._table_sources if hasattr(tab, "last_source") else set(getattr(tab, "sources", ()))
            out["tables"] = (tab.describe() if hasattr(tab, "describe") else
                             f"aiconfigurator-core {_measured.package_version()}: "
                             + (", ".join(sorted(used)) or "no lookup answered (analytic model for every kernel)"))
            if hasattr(tab, "mismatch") and tab.mismatch(self.chip.name):
                out["assumptions"].append(tab.mismatch(self.chip.name))
            system = getattr(tab, "system", None)
            if system in _measured.SIBLING_SYSTEMS and any(s and f"(read for {system}" in s for s in used):
                out["assumptions"].append(
                    f"MoE rows of {system} more than {_measured.SIBLING_FLAG}x slower than the same kernel on "
                    f"{_measured.SIBLING_SYSTEMS[system]} (same GPU and HBM) are read from "
                    f"{_measured.SIBLING_SYSTEMS[system]}'s rows x the kernel's typical ratio (measured.sibling_repair; "
                    "ASSUMPTION: the slower collection is the outlier)")
            if any(s and " read as EP " in s for s in used):
                out["assumptions"].append(
                    "MoE keys with experts tensor-parallel that the table did not measure are read from its "
                    "expert-parallel key of the same degree at the same tokens (measured rule 5; ASSUMPTION: same "
                    "weights and FLOPs per rank; keys the tables measured both ways: median TP / EP 0.995-1.003 "
                    "TRT-LLM, 0.94-0.99 vLLM, 0.82-0.94 SGLang, bench/moe_tp_vs_ep.py)")
            if self._kernel_counts["analytic"]:
                out["assumptions"].append("kernels outside the measured grid use the analytic model "
                                          f"({self.profile.family} {self.stack} profile): "
                                          + ", ".join(sorted(self._analytic_ops)))
        else:
            out["assumptions"].append(f"analytic kernel model, {self.profile.family} {self.stack} profile "
                                      "(inference/kernels.py)")
        return out

    # ------------------------------------------------------------------ placement and groups
    def _build_groups(self) -> None:
        if self._groups_built:
            return
        reps, up, dead = self._replica_split()
        self.replicas = reps
        if not len(up):
            raise SpecError(f"fail: every one of the {self.dp} replicas holds a failed chip "
                            f"({', '.join(f'c{c}' for c in dead[:6])}{', ...' if len(dead) > 6 else ''}); fail fewer "
                            "chips or place fewer replicas (dp)")
        s = self.shard.stage_chips
        stages = up.reshape(len(up), self.pp, s)
        self.tp_groups = Groups(stages.reshape(-1, self.tp))
        self.stage_groups = Groups(stages.reshape(-1, s))
        if self.pp > 1:
            src = stages[:, :-1, :].reshape(-1)
            dst = stages[:, 1:, :].reshape(-1)
            self.pp_pairs = Groups(np.stack([src, dst], axis=1))
        else:
            self.pp_pairs = Groups(np.zeros((0, 2), dtype=np.int64))
        self._groups_built = True

    def _replica_split(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(every replica's chips (dp, pp x stage chips), those of the replicas that are up, the failed chips):
        a replica holding a chip the fabric's faults took out is down, it runs no collectives."""
        reps = replica_groups(self.fabric, self.replica_chips, self.dp, self.placement)  # (dp, pp*s)
        dead = self._failed_chips()
        return reps, (reps[~np.isin(reps, dead).any(axis=1)] if len(dead) else reps), dead

    def live_replicas(self) -> int:
        """Replicas whose chips all work: ``dp`` minus those holding a chip the fabric's faults took out
        (:func:`topo.faults.failed_chips`; a failed chip takes its replica down, as in the Monte Carlo)."""
        dead = self._failed_chips()
        if not len(dead):
            return self.dp
        self._build_groups()
        return int(self.dp - np.isin(self.replicas, dead).any(axis=1).sum())

    def _failed_chips(self) -> np.ndarray:
        from topo.faults import failed_chips

        return failed_chips(self.fabric) if self.fabric.meta.get("faults") else np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------ memory
    def held_weight_bytes(self) -> dict[str, float]:
        """Weight bytes each chip holds (worst stage: all its layers plus embedding and LM head), bytes."""
        m, tp, ep, w = self.model, self.tp, self.ep, self.w
        frac = 1.0 / self.pp
        attn = sum(op.weight_bytes * op.layers for op in layer_ops(m, self.shard, 1, 1, 0, w=w, a=self.a,
                                                                    kv=self.kv, decode=True, we=self.we)
                   if op.block == "attention")
        mlp = m.mlp_dense_layers * frac * 3 * m.hidden * m.ffn / tp * w
        moe = 0.0
        if m.is_moe:
            # expert matrices at the expert dtype (MXFP4: 4.25 bits), their biases at the dense width
            per_exp = m.expert_params() * w - 3 * m.hidden * m.moe_ffn * (w - self.we)
            routed = m.experts * per_exp / tp if ep == 1 else m.experts / ep * per_exp
            moe = m.moe_layers * frac * (routed + m.shared_experts * per_exp / tp + m.hidden * m.experts * w)
        emb = m.vocab * m.hidden * w / tp
        head = emb if (self.pp == 1 and not m.tied_embeddings) else 0.0
        spec = self._speculative_weight_bytes(attn, mlp, moe)
        out = {"attention": attn, "mlp": mlp, "moe": moe, "embeddings": emb + head,
               "total": attn + mlp + moe + emb + head + spec}
        if self.speculative is not None:
            out["speculative"] = spec
        return out

    def _speculative_weight_bytes(self, attn: float, mlp: float, moe: float) -> float:
        """Weight bytes the draft adds on a chip: ``mtp``, one decoder layer of the target (its MoE kind where the
        model has one; the module's small input projection and norms are left out); ``draft``, the draft model's
        weights at the same ``tp``; ``ngram`` none."""
        sp, m = getattr(self, "speculative", None), self.model
        if sp is None or sp.method == "ngram":
            return 0.0
        if sp.method == "draft":
            return self.draft.held_weight_bytes()["total"]
        frac = 1.0 / self.pp
        ffn = moe / (m.moe_layers * frac) if m.moe_layers else mlp / (m.mlp_dense_layers * frac)
        return attn / (m.layers * frac) + ffn

    @property
    def mean_weight_bytes(self) -> float:
        """Bytes per parameter over the whole model: ``w``, or with experts at ``we`` (MXFP4-expert checkpoints)
        ``(params x w - expert matrix params x (w - we)) / params``."""
        m = self.model
        if self.we == self.w:
            return self.w
        n = m.param_count()
        mx = m.moe_layers * (m.experts + m.shared_experts) * 3 * m.hidden * m.moe_ffn
        return (n * self.w - mx * (self.w - self.we)) / n

    @property
    def swa_kv_full(self) -> bool:
        """Whether the stack's KV pool holds sliding-window layers at full length (:data:`SWA_KV_POOL`)."""
        return bool(self.model.sliding_layers) and SWA_KV_POOL.get(self.stack, "window") == "full"

    def kv_bytes_per_seq_token(self) -> float:
        """KV-cache bytes per token of one sequence on one chip (its stage's layers): full-attention layers only,
        sliding-window layers too where the stack's pool keeps them at full length (:attr:`swa_kv_full`)."""
        m = self.model
        L_full = (m.layers - (0 if self.swa_kv_full else m.sliding_layers)) / self.pp
        if m.is_mla:
            per = m.kv_lora_rank + m.qk_rope_dim
        else:
            per = 2 * math.ceil(m.kv_heads / self.tp) * m.head_dim
        # the draft's cache beside the target's: the MTP module's one layer, or the draft model's every layer
        sp = getattr(self, "speculative", None)
        extra = 0.0
        if sp is not None and sp.method == "mtp":
            extra = per * self.kv
        elif sp is not None and sp.method == "draft":
            extra = self.draft.kv_bytes_per_seq_token()
        return L_full * per * self.kv + extra

    def kv_bytes_chip(self, seqs: int, context: int) -> float:
        """KV-cache bytes one chip holds for ``seqs`` sequences of the replica at ``context`` tokens, bytes."""
        m = self.model
        b_a = math.ceil(seqs / self.shard.attn_groups)
        per = (m.kv_lora_rank + m.qk_rope_dim) if m.is_mla else 2 * math.ceil(m.kv_heads / self.tp) * m.head_dim
        L_sw = m.sliding_layers / self.pp
        swa = L_sw * per * self.kv * min(context, m.sliding_window) if m.sliding_layers and not self.swa_kv_full \
            else 0.0
        return b_a * (self.kv_bytes_per_seq_token() * context + swa)

    def activation_bytes(self, seqs: int, q: int, decode: bool | None = None) -> float:
        """Peak activation bytes of a step on one chip: the largest op's inputs + outputs (one layer), bytes.
        ``decode`` (default ``q == 1``): a decode step (a speculative verification has ``q = k + 1``), whose
        LM head computes logits at every one of the ``q`` positions."""
        decode = (q == 1) if decode is None else decode
        ops = layer_ops(self.model, self.shard, seqs, q, 0, w=self.w, a=self.a, kv=self.kv, decode=decode,
                        we=self.we)
        ops += head_ops(self.model, self.shard, seqs, q, w=self.w, a=self.a, logits=q if decode else 1)
        return max(op.act_bytes for op in ops)

    @property
    def decode_q(self) -> int:
        """Tokens per sequence of a decode step: 1, or ``k + 1`` verified under speculative decoding."""
        return 1 if self.speculative is None else self.speculative.k + 1

    def memory(self, batch: int, prompt: int, output: int) -> dict[str, Any]:
        """Per-chip footprint of a replica serving ``batch`` sequences of prompt + output tokens, bytes."""
        if _placement.sram_only(self.chip):  # no HBM: everything in SRAM, chips from capacity
            return _placement.sram_memory(self, batch, prompt, output)
        weights = self.held_weight_bytes()["total"]
        mb = math.ceil(batch / min(self.pp, batch))
        kv = self.kv_bytes_chip(batch, prompt + output)
        pf = self.largest_prefill_step(batch, prompt)
        act_decode = self.activation_bytes(mb, self.decode_q, decode=True)
        act = max(self.activation_bytes(pf[0], pf[1]), act_decode)
        placement = {"activations": "hbm", "weights": "hbm", "kv_cache": "hbm"}
        sram_left = self.chip.sram_bytes if self.use_sram else 0.0
        # greedy, most reused first: decode activations, then the whole weight set, then the whole KV
        # cache; prefill activations use SRAM only if they fit in what is left (plus the decode share)
        if act_decode <= sram_left:
            placement["activations"] = "sram (decode) / hbm (prefill)"
            sram_left -= act_decode
        if weights <= sram_left:
            placement["weights"] = "sram"
            sram_left -= weights
        if 0 < kv <= sram_left:
            placement["kv_cache"] = "sram"
            sram_left -= kv
        if placement["activations"] != "hbm" and act - act_decode <= sram_left:
            placement["activations"] = "sram"
            sram_left -= act - act_decode
        hbm_need = (0 if placement["weights"] == "sram" else weights) + (0 if placement["kv_cache"] == "sram" else kv)
        hbm_need += 0 if placement["activations"] == "sram" else act
        cap = self.chip.hbm_bytes * self.hbm_usable
        out = {"weights": weights, "kv_cache": kv, "activations": act, "hbm_needed": hbm_need,
               "hbm_capacity": self.chip.hbm_bytes, "hbm_usable": cap, "fits": hbm_need <= cap,
               "sram_bytes": self.chip.sram_bytes, "sram_free": sram_left, "placement": placement}
        if self.ideal:
            return out
        # a serving stack sizes its KV pool at start-up (inference/memory.py): KV must fit the budget left by
        # the weights, the profiled activations at max_num_tokens, graphs, buffers and the runtime
        eng = _memory.engine_memory(self, weights=0.0 if placement["weights"] == "sram" else None,
                                    kv_per_rank=0.0 if placement["kv_cache"] == "sram" else kv,
                                    seq_len=int(prompt + output))
        kv_hbm = 0.0 if placement["kv_cache"] == "sram" else kv
        out.update(weights=eng["weights"] if placement["weights"] != "sram" else weights,
                   activations=max(act, eng["activations"]), hbm_needed=eng["held"] + kv_hbm,
                   hbm_usable=eng["usable"], fits=eng["fits"] or (kv_hbm == 0 and
                                                                               eng["kv_budget"] > 0),
                   kv_budget=eng["kv_budget"], engine=eng)
        return out

    # ------------------------------------------------------------------ one step of one stage
    def _op_row(self, op: Op, phase: str, placement: dict[str, str], act_in_sram: bool) -> dict:
        row = self._roofline_row(op, phase, placement, act_in_sram)
        row["source"] = "roofline"
        if not self.ideal and op.kind:
            row["time"] = self._kernel_time(op, phase, placement, act_in_sram)
            # where the op's kernel times came from: the measured table, the analytic model, or both
            row["source"] = self._op_source
        if self.speed != 1.0:  # a slow chip (straggler): its kernels, not the fabric or the host
            row["time"] /= self.speed
        return row

    def _kernel_time(self, op: Op, phase: str, placement: dict[str, str], act_in_sram: bool) -> float:
        """Time (s) of one op per layer under the stack profile: measured tables where they cover the
        shape, else the analytic per-kernel forms of :mod:`inference.kernels`; plus launch costs."""
        prof, tab, chip = self.profile, self.tables, self.chip
        ce, me = self.ce, self.me
        sram_bw = chip.sram_bandwidth if self.use_sram else 0.0
        w_bw = sram_bw if placement.get("weights") == "sram" and sram_bw else chip.hbm_bandwidth
        kv_bw = sram_bw if placement.get("kv_cache") == "sram" and sram_bw else chip.hbm_bandwidth
        a_bw = sram_bw if act_in_sram and sram_bw else chip.hbm_bandwidth
        counts = self._kernel_counts
        times: list[float] = []
        from_table: list[bool] = []  # per kernel of ``times``: looked up in the measured table
        own = getattr(tab, "own", False)  # a `scaleup measure` table: elementwise kernels too, launch included
        graph = phase == "decode" and prof.cuda_graph_decode

        def measured_or(value: float | None, analytic: float) -> float:
            from_table.append(value is not None)
            if value is None:
                counts["analytic"] += 1
                if tab is not None:
                    self._analytic_ops.add(f"{phase} {op.name}")
                return analytic
            counts["measured"] += 1
            src = getattr(tab, "last_source", None)
            if src:
                self._table_sources.add(src)
            return value

        # FP8/FP4 checkpoints keep the router (MoE gate) and the LM head in BF16 (source: TensorRT Model
        # Optimizer's default quantisation configs exclude "*router*"/"*mlp.gate*" and "*lm_head*"; vLLM's FP8
        # checkpoints likewise): those GEMMs run in BF16 on the serving stacks
        g_dtype, g_w, g_peak = self.gemm_dtype, self.w, self.peak
        if op.name in ("router", "lm_head") and self.w < 2 and "bf16" in chip.supported_dtypes():
            g_dtype, g_w, g_peak = "bf16", 2.0, chip.peak_flops("bf16")
        # a block-scaled FP8 checkpoint (DeepSeek-V3 / R1) runs the stacks' block-scale FP8 GEMM and MoE kernels:
        # their table rows first, the per-tensor FP8 rows where a stack measured none (inference/measured.py,
        # rule 3); the router and LM head stay BF16
        def lookup(fn, *args, dtype: str):
            got = fn(*args, "fp8_block") if dtype == "fp8" and self.model.fp8_block > 0 else None
            return fn(*args, dtype) if got is None else got

        bmm = tab.mla_bmm(op.mla_bmm[0], int(round(op.mla_bmm[1])), g_dtype) \
            if op.mla_bmm and hasattr(tab, "mla_bmm") else None
        if bmm is not None:  # MLA's absorbed decode BMMs, measured (pre and post attention)
            times.extend(measured_or(t, t) for t in bmm)
        for m, n, k in (() if bmm is not None else op.gemms):
            byt = n * k * g_w + m * (k + n) * self.a
            bw = w_bw if a_bw == w_bw else byt / (n * k * g_w / w_bw + m * (k + n) * self.a / a_bw)
            an = _kernels.gemm_time(m, n, k, prof=prof, dtype=g_dtype, peak=g_peak, ce=ce, me=me,
                                    bytes_moved=byt, bandwidth=bw)
            times.append(measured_or(lookup(tab.gemm, m, n, k, dtype=g_dtype) if tab else None, an))
        for byt in op.elementwise:
            an = _kernels.elementwise_time(byt, prof=prof, me=me, bandwidth=a_bw)
            if own:
                # a GEMM op's elementwise kernel is its activation (SwiGLU), the others norms / residuals
                kernel = "silu_mul" if op.kind == "gemm" else "rmsnorm"
                times.append(measured_or(tab.elementwise(byt, "graph" if graph else "eager", kernel), an))
            else:
                times.append(an)
                from_table.append(False)
        if op.kind == "elementwise" and op.name == "norms":
            # the attention block's norm / rope / residual / quantise kernels (per layer count of the stack)
            times = times * prof.elem_kernels_per_layer
            from_table = from_table * prof.elem_kernels_per_layer
        if op.attn:
            seqs, q, ctx, heads, kvh, hd, win, decode = op.attn
            heads = int(round(heads))
            mla = self.model.is_mla and hasattr(tab, "mla_decode")  # MLA kernels have their own tables
            # aiconfigurator-core's attention tables carry sliding-window rows (``window_size``); a `scaleup measure`
            # table does not (its windowed layers use the analytic kernel)
            windowed = bool(win) and isinstance(tab, _measured.KernelTables)
            if decode:
                an = _kernels.decode_attention_time(op.kv_bytes, prof=prof, me=me, bandwidth=kv_bw, flops=op.flops,
                                                    peak_bf16=chip.peak_flops("bf16"), ce=ce)
                span = min(ctx + q, win) if win else ctx + q
                got = None
                if tab and not win:
                    got = (tab.mla_decode(seqs, span, heads, self.kv_dtype) if mla else
                           tab.decode_attention(seqs, span, heads, kvh, hd, self.kv_dtype))
                elif tab and windowed and not mla:
                    # a sliding-window layer: the measured windowed kernel (it reads the last ``win`` tokens only)
                    got = tab.decode_attention(seqs, span, heads, kvh, hd, self.kv_dtype, window=win)
                if got is not None and q > 1:
                    # a speculative verification: q queries per sequence over one read of its cache; the tables
                    # time one query, so their time is scaled by the analytic kernel's q-query / one-query ratio
                    one = _kernels.decode_attention_time(op.kv_bytes, prof=prof, me=me, bandwidth=kv_bw,
                                                         flops=op.flops / q, peak_bf16=chip.peak_flops("bf16"), ce=ce)
                    got *= an / one
            else:
                span = (min(ctx + q, win) if win else ctx + q) / 2.0 + 0.5
                an = _kernels.fmha_time(op.flops, span, op.kv_bytes + op.act_bytes, prof=prof,
                                        peak_bf16=chip.peak_flops("bf16"), ce=ce, me=me, bandwidth=kv_bw)
                got = None
                if tab and not win and ctx == 0:
                    got = (tab.mla_prefill(seqs, q, heads, self.kv_dtype) if mla else
                           tab.prefill_attention(seqs, q, heads, kvh, hd, self.kv_dtype))
                elif tab and windowed and not mla and ctx == 0:
                    got = tab.prefill_attention(seqs, q, heads, kvh, hd, self.kv_dtype, window=win)
            times.append(measured_or(got, an))
        if op.moe:
            t_in, assign, e_loc, h, fm, k, E, tp, ep = op.moe
            got = lookup(tab.moe, t_in, h, fm, k, E, tp, ep, dtype=self.moe_dtype) if tab else None
            # the analytic grouped GEMMs of an MXFP4-expert checkpoint: their efficiency curves are those of the
            # activation dtype the kernel computes in (FP8 for MXFP8 x MXFP4, BF16 for the weight-only kernel)
            an_dtype = {"w4a8_mxfp4_mxfp8": "fp8", "w4a16_mxfp4": "bf16"}.get(self.moe_dtype, self.moe_dtype)
            an = _kernels.moe_time(assign * ep, ep, e_loc, h, fm / tp, prof=prof, dtype=an_dtype, peak=self.moe_peak,
                                   ce=ce, me=me, w=self.we, a=self.a, bandwidth=w_bw)
            times.append(measured_or(got, an))
        n_tab = sum(from_table)
        self._op_source = "model" if n_tab == 0 else ("table" if n_tab == len(from_table) else "table+model")
        if own and n_tab:
            # a `scaleup measure` table times kernels inside a captured graph (the in-graph gap included);
            # eager, a kernel shorter than the measured eager launch floor waits for the host
            floor = tab.launch_eager or prof.launch_eager
            mine = [t for t, f in zip(times, from_table) if f]
            rest = [t for t, f in zip(times, from_table) if not f]
            return (sum(mine) if graph else sum(max(t, floor) for t in mine)) + _kernels.launched(rest, prof, graph)
        return _kernels.launched(times, prof, graph=graph)

    def _roofline_row(self, op: Op, phase: str, placement: dict[str, str], act_in_sram: bool) -> dict:
        # the routed experts run at the MoE kernels' peak (an MXFP4-expert checkpoint: ``moe_peak``; else ``peak``)
        peak = (self.moe_peak if op.moe else self.peak) * self.ce
        hbm_bw = self.chip.hbm_bandwidth * self.me
        sram_bw = self.chip.sram_bandwidth * self.me if self.use_sram else 0.0
        hbm = sram = 0.0
        for kind, b in (("weights", op.weight_bytes), ("kv_cache", op.kv_bytes)):
            if placement.get(kind) == "sram":
                sram += b
            else:
                hbm += b
        if act_in_sram:
            sram += op.act_bytes
        else:
            hbm += op.act_bytes
        t_flop = op.flops / peak
        t_hbm = hbm / hbm_bw if hbm else 0.0
        t_sram = sram / sram_bw if sram else 0.0
        t_mem = max(t_hbm, t_sram)
        t = max(t_flop, t_mem)
        bottleneck = "compute" if t_flop >= t_mem else ("hbm" if t_hbm >= t_sram else "sram")
        total = t + self.op_overhead
        return {"phase": phase, "op": op.name, "block": op.block, "layers": op.layers, "flops": op.flops,
                "bytes": op.weight_bytes + op.kv_bytes + op.act_bytes, "hbm_bytes": hbm, "sram_bytes": sram,
                "flop_time": t_flop, "memory_time": t_mem, "time": total, "bottleneck": bottleneck,
                "intensity": op.flops / max(hbm + sram, 1e-30)}

    def step(self, seqs: int, q: int, context: int, phase: str, placement: dict[str, str] | None = None,
             spatial: bool = True) -> StepTime:
        """Time of one stage processing ``seqs`` sequences x ``q`` new tokens after ``context`` cached ones.

        On a wafer-scale chip (``spatial``) the stage's layers run as a spatial pipeline
        (:func:`inference.placement.spatial_step`); ``spatial=False`` gives the full-wafer roofline."""
        if placement is None:
            placement = self.memory(seqs, q + context, 0)["placement"]
        if spatial and _placement.is_spatial(self.chip):
            return _placement.spatial_step(self, seqs, q, context, phase, placement)
        key = (seqs, q, context, phase, tuple(sorted(placement.items())))
        hit = self._step_cache.get(key)
        if hit is not None:
            return hit
        decode = phase == "decode"
        m = self.model
        run = self.decode_padded(seqs) if decode else seqs  # CUDA-graph padding: dummy sequences ride along
        ops = layer_ops(m, self.shard, run, q, context, w=self.w, a=self.a, kv=self.kv, decode=decode, we=self.we)
        if run != seqs:  # the dummies have no KV cache: attention reads the real sequences' only
            real = iter([op for op in layer_ops(m, self.shard, seqs, q, context, w=self.w, a=self.a, kv=self.kv,
                                                decode=decode) if op.attn])
            ops = [next(real) if op.attn else op for op in ops]
        # a decode step over q > 1 tokens (speculative verification) needs logits at every position
        ops += head_ops(m, self.shard, run, q, w=self.w, a=self.a, logits=q if decode else 1)
        # communication per layer (padded decode steps move the dummies' tokens too)
        seqs_g = math.ceil(seqs / self.shard.attn_groups)  # real sequences of the busiest attention group
        return self._timed_step(key, ops, phase, placement, self._framework(decode, seqs), run, q, seqs_g * q,
                                host=self._host(seqs_g), group_seqs=seqs_g)

    def _host(self, seqs: int) -> float:
        """Host time (s) of one iteration of an attention group's ``seqs`` sequences under the ``host_per_seq``
        knob, scaled by the chip's host CPU (:func:`inference.kernels.host_factor`); 0 when the knob is off."""
        if not self.host_per_seq:
            return 0.0
        return self.host_per_seq * _kernels.host_factor(self.chip.name) * seqs

    def _framework(self, decode: bool, seqs: int) -> float:
        """The serving stack's per-step host cost (scheduling, sampling) of a decode step of ``seqs`` sequences
        or of a prefill step, s (0 for the ``ideal`` roofline)."""
        if self.ideal:
            return 0.0
        prof = self.profile
        return (prof.step_overhead + prof.step_overhead_per_seq * seqs if decode
                else prof.prefill_step_overhead + prof.prefill_overhead_per_layer * self.model.layers / self.pp)

    def _timed_step(self, key: tuple, ops: list[Op], phase: str, placement: dict[str, str], fw: float,
                    comm_seqs: int, comm_q: int, send_tokens: int, group_tokens: int | None = None,
                    host: float = 0.0, group_seqs: int = 0) -> StepTime:
        """A stage's :class:`StepTime` from its ops (per layer), the per-step host cost ``fw`` (s), the
        communication of ``comm_seqs x comm_q`` tokens per layer (``group_tokens`` of them in the busiest
        attention group, default ``ceil(comm_seqs / groups) x comm_q``) and the pipeline send of ``send_tokens``.

        ``host`` (s, the ``host_per_seq`` knob): the engine's host work for the iteration, which an overlap
        scheduler runs beside the previous iteration's GPU work, so the step takes ``max(GPU, host)``; the
        excess is a ``host (exposed)`` row.

        ``group_seqs``: sequences of the busiest attention group (decoding ones plus prefill chunks), charged the
        stack's per-sequence MoE cost (``StackProfile.moe_per_seq``) in every MoE layer as a ``moe per sequence``
        row."""
        m = self.model
        act = placement["activations"]
        act_sram = act == "sram" or (act.startswith("sram (decode)") and phase == "decode")
        rows = [self._op_row(op, phase, placement, act_sram) for op in ops]
        if not self.ideal:  # the serving stack's per-step cost (scheduling, sampling), once per step
            rows.append(_host_row(phase, "framework", fw))
        if not self.ideal and m.moe_layers and self.profile.moe_per_seq and group_seqs:
            # on the GPU (ASSUMPTION of its form): a slow chip's (speed < 1) takes as much longer as its kernels
            rows.append(_moe_seq_row(phase, m.moe_layers / self.pp,
                                     self.profile.moe_per_seq * group_seqs / self.speed))
        comm_rows = self._comm(comm_seqs, comm_q, phase, group_tokens)
        if phase == "decode" and not self.ideal and self.profile.cuda_graph_decode and \
                self.profile.shared_expert_overlap:
            _hide_shared_experts(rows, comm_rows)
        # per layer kind: compute of the layers vs their communication
        frac = 1.0 / self.pp
        n_dense_layers = m.mlp_dense_layers * frac
        n_moe_layers = m.moe_layers * frac
        L = m.layers * frac
        attn_c = sum(r["time"] * r["layers"] for r in rows if r["block"] == "attention")
        mlp_c = sum(r["time"] * r["layers"] for r in rows if r["block"] == "mlp")
        moe_c = sum(r["time"] * r["layers"] for r in rows if r["block"] == "moe")
        head_c = sum(r["time"] * r["layers"] for r in rows if r["block"] == "head")
        c_dense = {r["op"]: r["time"] for r in comm_rows if r["block"] == "mlp"}
        c_moe = {r["op"]: r["time"] for r in comm_rows if r["block"] == "moe"}
        per_dense_comm = sum(c_dense.values())
        per_moe_comm = sum(c_moe.values())
        comm = n_dense_layers * per_dense_comm + n_moe_layers * per_moe_comm
        compute = attn_c + mlp_c + moe_c + head_c
        # overlap at layer granularity: each layer hides its communication behind its own compute
        attn_per_layer = attn_c / L
        serial = compute + comm
        overl = head_c
        if n_dense_layers:
            overl += n_dense_layers * max(attn_per_layer + mlp_c / n_dense_layers, per_dense_comm)
        if n_moe_layers:
            overl += n_moe_layers * max(attn_per_layer + moe_c / n_moe_layers, per_moe_comm)
        flop_time = sum(r["flop_time"] * r["layers"] for r in rows)
        mem_time = sum(r["memory_time"] * r["layers"] for r in rows)
        send = 0.0
        if self.pp > 1:
            send = collective_time(self.fabric, "send_recv", send_tokens * m.hidden * self.a, self._pp_pairs(),
                                   ideal=self.ideal)
        compute, serial, overl, host_wait = _host_bound(rows, phase, host, compute, serial, overl)
        st = StepTime(rows, compute, flop_time, mem_time, comm, 0.0, serial, overl, send, comm_rows, host_wait)
        self._step_cache[key] = st
        return st

    def decode_padded(self, seqs: int) -> int:
        """Sequences a decode step of ``seqs`` real ones computes under CUDA-graph padding (``graph_batches``).

        Each attention group's share ``ceil(seqs / groups)`` is padded to the smallest captured size that
        holds it; with data-parallel attention every group pads to that common size (the engine replays one
        graph shape on all ranks). ``seqs`` when padding is off (no sizes, the ``ideal`` stack, a stack
        without CUDA-graph decode) or no captured size holds the share (eager step)."""
        if not self.graph_batches or self.ideal or not self.profile.cuda_graph_decode:
            return seqs
        groups = self.shard.attn_groups
        share = math.ceil(seqs / groups)
        if not any(v >= share for v in self.graph_batches):
            return seqs  # no captured graph holds the share: an eager step, unpadded
        # every group replays the common graph size, also when the busiest group's share is one exactly
        return padded_batch(share, self.graph_batches) * groups

    def _pp_pairs(self) -> Groups:
        self._build_groups()
        return self.pp_pairs

    def _comm(self, seqs: int, q: int, phase: str, group_tokens: int | None = None) -> list[dict]:
        """Communication of one layer of each kind (dense-MLP layers, MoE layers), per chip, s (``group_tokens``:
        tokens of the busiest attention group when not ``ceil(seqs / groups) x q``, as in a mixed step)."""
        m = self.model
        tp, ep = self.tp, self.ep
        b_a = math.ceil(seqs / self.shard.attn_groups)
        Ta = b_a * q if group_tokens is None else group_tokens
        Ts = seqs * q
        act = Ta * m.hidden * self.a
        rows: list[dict] = []
        if tp == 1 and ep == 1:
            return rows
        self._build_groups()
        fab = self.fabric

        def add(block: str, name: str, kind: str, size: float, groups: Groups) -> None:
            # the serving stack picks the all-reduce's software (custom one-/two-shot or NCCL) as it does
            t, how = collective_choice(fab, kind, size, groups, ideal=self.ideal, stack=self.stack)
            rows.append({"phase": phase, "block": block, "op": name, "collective": kind, "size": size,
                         "group_size": groups.size, "groups": len(groups), "time": t,
                         "comm": how.comm, "algorithm": how.algorithm})

        if m.mlp_dense_layers and tp > 1:
            add("mlp", "attn_all_reduce", "all_reduce", act, self.tp_groups)
            add("mlp", "mlp_all_reduce", "all_reduce", act, self.tp_groups)
        if m.moe_layers:
            if ep == 1 or self.shard.attn_groups == 1:
                # experts tensor-parallel (ep 1), or expert-parallel over the TP group itself (ep == tp, no
                # attention DP): after the attention all-reduce every rank holds every token, runs its own
                # experts' share on them and one all-reduce sums routed + shared outputs; no all-to-all (source:
                # TensorRT-LLM modeling_deepseekv3.py Deepseekv3MoE: ``if not self.use_dp and
                # self.mapping.tp_size > 1: final_hidden_states = self.allreduce(...)``, experts fed the
                # replicated hidden states; vLLM / SGLang FusedMoE without DP attention reduce the same way)
                if tp > 1:
                    add("moe", "attn_all_reduce", "all_reduce", act, self.tp_groups)
                    add("moe", "moe_all_reduce", "all_reduce", act, self.tp_groups)
            elif tp == 1 and self._ep_gathers() == "sglang":
                # SGLang DP attention with no MoE all-to-all backend: BF16 hidden states gathered, every rank routes
                # all of them; padded to the busiest rank (all-gather + reduce-scatter) or summed over a zero
                # buffer (two all-reduces), as :meth:`_ep_gathers` cites
                if phase == "decode" and 2 * Ts >= self.shard.attn_groups * Ta:
                    padded = self.shard.attn_groups * Ta * m.hidden * self.a
                    add("moe", "ep_dispatch", "all_gather", padded, self.stage_groups)
                    add("moe", "ep_combine", "reduce_scatter", padded, self.stage_groups)
                else:
                    add("moe", "ep_dispatch", "all_reduce", Ts * m.hidden * self.a, self.stage_groups)
                    add("moe", "ep_combine", "all_reduce", Ts * m.hidden * self.a, self.stage_groups)
            elif tp == 1 and self._ep_gathers():
                # attention DP + EP under TensorRT-LLM without its MoE all-to-all (ep <= top_k) or vLLM's default
                # all2all backend (allgather_reducescatter): the stage's tokens are all-gathered to every EP rank
                # after quantisation, each rank runs its experts on all of them and a reduce-scatter returns each
                # rank its own tokens' sum (:meth:`_ep_gather_bytes`)
                add("moe", "ep_dispatch", "all_gather", Ts * self._ep_gather_bytes(), self.stage_groups)
                add("moe", "ep_combine", "reduce_scatter", Ts * m.hidden * self.a, self.stage_groups)
            else:
                if tp > 1:
                    add("moe", "attn_reduce_scatter", "reduce_scatter", act, self.tp_groups)
                per_chip = Ts / self.shard.stage_chips * m.top_k * m.hidden * self.a
                add("moe", "ep_dispatch", "all_to_all", per_chip, self.stage_groups)
                add("moe", "ep_combine", "all_to_all", per_chip, self.stage_groups)
                if tp > 1:
                    add("moe", "moe_all_gather", "all_gather", act, self.tp_groups)
        return rows

    def _ep_gathers(self) -> str:
        """How the serving stack exchanges attention-DP tokens for expert parallelism when it does not run an
        all-to-all: ``"trtllm"`` / ``"vllm"`` (an all-gather of the quantised tokens with their routing, a
        reduce-scatter of the outputs), ``"sglang"`` (BF16 hidden states gathered, routed on every rank), or ``""``
        (the all-to-all of ``top_k`` BF16 copies each way: the roofline, TensorRT-LLM above top_k).

        TensorRT-LLM, when ``ep <= top_k``. Source: ``tensorrt_llm/_torch/modules/fused_moe/fused_moe_cutlass.py``
        (``CutlassFusedMoE``, the default MoE backend; the perf-overview and MLPerf DeepSeek-R1 configs name
        CUTLASS or none): ``enable_alltoall = moe_ep_size > experts_per_token and enable_attention_dp and tp_size
        > 1 and ... and MnnvlMemory.supports_mnnvl()``; otherwise ``run_post_quant_allgather = use_dp and
        parallel_size > 1`` all-gathers the (quantised) hidden states with the routing ids and weights,
        ``fused_moe`` runs on the gathered tokens and ``reducescatter`` returns the outputs (its docstring: "[+
        fp4_allgather] + FusedMoe Op[no allreduce] + reducescatter, with AttentionDP on");
        ``WideEPMoE.select_alltoall_method_type`` likewise disables its all-to-all for ``moe_ep_size <= top_k``.
        aiconfigurator-core prices TensorRT-LLM attention DP's ``moe_pre_dispatch`` / ``moe_post_dispatch`` the
        same way. ASSUMPTION: above top_k the NVLink check passes (an all-to-all, as before).

        vLLM, at every EP degree. Source (vllm-project/vllm main, 2026): ``vllm/config/parallel.py`` (@00193b82)
        ``ParallelConfig.all2all_backend: All2AllBackend = "allgather_reducescatter"`` (``VLLM_ALL2ALL_BACKEND``,
        deprecated for ``--all2all-backend``, sets it; the earlier default ``naive`` broadcast each rank's tokens,
        also a gather); ``vllm/distributed/device_communicators/all2all.py`` (@00143004) ``AgRsAll2AllManager``:
        ``dispatch`` = ``all_gatherv([hidden_states, topk_weights, topk_ids, scales])`` over the DP ranks,
        ``combine`` = ``reduce_scatterv``; ``fused_moe/prepare_finalize/naive_dp_ep.py`` (@003d383e)
        ``MoEPrepareAndFinalizeNaiveDPEPModular.prepare`` quantises before the dispatch
        (``_quantize_and_setup_dispatch``) and ``finalize`` reduces the top-k outputs to one BF16 row per token
        before the reduce-scatter. ASSUMPTION: the modular-kernel path; an expert kernel that defers input
        quantisation, or the legacy non-modular path (``fused_moe/runner/default_moe_runner.py`` @0144b8bf
        ``_maybe_dispatch``: ``dispatch_router_logits``), gathers BF16 hidden states with the router logits instead
        (sensitivity: DeepSeek-V3 NVFP4, 7,168 x (2 - 0.5625) + 256 x 4 - 8 x 8 = 11.3 kB
        more per token).

        SGLang, at every EP degree (``python/sglang/srt/server_args.py`` ``ServerArgs.moe_a2a_backend = "none"``;
        DeepEP / Mooncake / ... are opt-in). Source (sgl-project/sglang main, 2026):
        ``python/sglang/srt/layers/dp_attention.py`` (@00161092): the gathered
        buffer has the model dtype (``init_dp_gathered_buffer``: ``dtype=model_config.dtype``, BF16), the router
        runs on every rank after the gather; ``DpPaddingMode.get_dp_padding_mode``: with a prompt in the batch
        ``SUM_LEN`` (``_dp_gather_via_all_reduce``: the ranks' rows summed into a zero buffer by an all-reduce,
        and the MoE output all-reduced before ``dp_scatter``), otherwise ``MAX_LEN`` when ``2 sum >= max x
        ranks`` (``_dp_gather_via_all_gather``, every rank padded to the busiest; the combine
        ``dp_reduce_scatter_tensor``, ``LayerCommunicator._scatter_hidden_states``), ``SUM_LEN`` otherwise.
        ``SGLANG_DP_USE_GATHERV`` / ``SGLANG_ENABLE_DP_GATHER_FP8`` are off by default (not modelled)."""
        if self.ideal:
            return ""
        if self.stack == "trtllm":
            return "trtllm" if self.ep <= self.model.top_k else ""
        return self.stack if self.stack in ("vllm", "sglang") else ""

    def _ep_gather_bytes(self) -> float:
        """Bytes per token of the attention-DP all-gather before the MoE of TensorRT-LLM or vLLM (:meth:`_ep_gathers`).

        The hidden state as the MoE kernel consumes it, quantised before the all-gather (TensorRT-LLM
        ``CutlassFusedMoE.forward_chunk``; vLLM ``naive_dp_ep._quantize_and_setup_dispatch``): NVFP4 0.5 byte an
        element + one FP8 scale per 16 (``fp4_quantize``, ``scaling_vector_size`` 16); per-tensor FP8 1 byte
        (``static_quantize_e4m3_per_tensor``; vLLM skips a scalar scale); MXFP8 activations of an MXFP4 checkpoint
        on Blackwell 1 byte + one UE8M0 scale per 32 (``mxfp8_quantize``); block-scaled FP8 (DeepSeek's checkpoint)
        at BF16 on TensorRT-LLM (quantised inside the fused op), 1 byte + one FP32 scale per 128 on vLLM
        (per-token-group 1 x 128 quantisation, ``block_shape`` [128, 128]); W4A16 and BF16 at the activation width.
        Plus the routing, top_k ids (int32) and weights (fp32) of each token (TensorRT-LLM
        ``token_selected_experts`` / ``token_final_scales``; vLLM ``topk_ids`` / ``topk_weights``)."""
        m = self.model
        width = {"fp4": 0.5 + 1 / 16, "w4a8_mxfp4_mxfp8": 1 + 1 / 32}.get(self.moe_dtype, self.a)
        if self.moe_dtype == "fp8":
            if m.fp8_block == 0:
                width = 1.0
            elif self.stack == "vllm":
                width = 1 + 4 / m.fp8_block
        return m.hidden * min(width, self.a) + m.top_k * 8.0

    # ------------------------------------------------------------------ phases
    def prefill_plan(self, batch: int, prompt: int) -> list[tuple[int, int, int, int]]:
        """Steps of a batch's prefill as (sequences, new tokens, context, repeat count).

        Prefill is chunked to at most ``prefill_chunk`` tokens per scheduler step (vLLM / TensorRT-LLM
        ``max_num_tokens``): whole prompts are grouped while they fit, a longer prompt is split into
        chunks that attend to the chunks before them. With data-parallel attention (``ep > tp``) each of
        the ``attn_groups`` attention groups schedules its own sequences under its own budget (TensorRT-LLM
        and SGLang attention DP: ``max_num_tokens`` per rank), so a replica step holds up to
        ``attn_groups x prefill_chunk`` tokens, whole prompts within each group's share. With pipeline
        stages and an unchunked batch, the batch is split into ``min(pp, batch)`` micro-batches."""
        chunk = self.prefill_chunk
        g = self.shard.attn_groups
        if chunk is None or math.ceil(batch / g) * prompt <= chunk:
            m = min(self.pp, batch)
            mb = math.ceil(batch / m)
            return [(mb, prompt, 0, m)]
        if prompt <= chunk:
            per = max(1, chunk // prompt) * g
            full, rem = divmod(batch, per)
            plan = [(per, prompt, 0, full)] if full else []
            if rem:
                plan.append((rem, prompt, 0, 1))
            return plan
        plan = []
        done = 0
        seqs = min(g, batch)  # one chunk per attention group per step
        while done < prompt:
            q = min(chunk, prompt - done)
            plan.append((seqs, q, done, math.ceil(batch / seqs)))
            done += q
        return plan

    def largest_prefill_step(self, batch: int, prompt: int) -> tuple[int, int]:
        """(sequences, new tokens) of the :meth:`prefill_plan` step with the most tokens (its first such step),
        without building the plan: a long prompt's plan has one step per chunk, and memory() of a
        10**12-token prompt (or a pool's token budget) spent minutes listing them before refusing it."""
        chunk = self.prefill_chunk
        g = self.shard.attn_groups
        if chunk is None or math.ceil(batch / g) * prompt <= chunk:
            return math.ceil(batch / min(self.pp, batch)), prompt
        if prompt <= chunk:
            per = max(1, chunk // prompt) * g
            return (per if batch >= per else batch), prompt
        return min(g, batch), chunk

    def prefill(self, batch: int, prompt: int, placement: dict[str, str],
                overlap: bool = False) -> tuple[float, list[tuple[StepTime, int]]]:
        """Time (s) to prefill ``batch`` prompts (the TTFT of the batch's last request), and its steps."""
        steps = [(self.step(s, q, c, "prefill", placement), n) for s, q, c, n in self.prefill_plan(batch, prompt)]
        total = sum(st.time(overlap) * n for st, n in steps)
        last = steps[-1][0]
        total += (self.pp - 1) * (last.time(overlap) + last.send)
        return total, steps

    def decode_step(self, batch: int, context: int, placement: dict[str, str]) -> StepTime:
        """One stage's decode step of the replica's ``batch`` sequences (one pipeline micro-batch of them) at
        ``context`` cached tokens; under :attr:`speculative` the draft + verify iteration, which gains
        :attr:`tokens_per_step` tokens per sequence."""
        m_count = min(self.pp, batch)
        mb = math.ceil(batch / m_count)
        if self.speculative is None:
            return self.step(mb, 1, context, "decode", placement)
        return self._speculative_step(mb, context, placement)

    def _one_layer(self, st: StepTime) -> tuple[float, float]:
        """(one decoder layer of ``st``, its head ops), s: the mean layer's attention plus the model's MoE block (its
        MLP block without experts) with that block's per-layer collectives, as the MTP module runs it; host rows
        left out."""
        m = self.model
        kind, n = ("moe", m.moe_layers) if m.moe_layers else ("mlp", m.mlp_dense_layers)
        frac = 1.0 / self.pp
        per = {b: sum(r["time"] * r["layers"] for r in st.rows if r["block"] == b and r["bottleneck"] != "host")
               for b in ("attention", kind, "head")}
        comm = sum(r["time"] for r in st.comm_rows if r["block"] == kind)
        return per["attention"] / (m.layers * frac) + per[kind] / (n * frac) + comm, per["head"]

    def speculative_prefill(self, batch: int, prompt: int, steps: list[tuple[StepTime, int]],
                            overlap: bool = False) -> float:
        """Time (s) the draft adds to the prefill: it builds its own KV cache of the prompt before the first
        proposal. ``draft``: the draft model's prefill of each attention group's share of the ``batch`` prompts;
        ``mtp``: one decoder layer of each of the target's prefill ``steps`` (:meth:`prefill`'s); ``ngram`` and no
        speculation: 0."""
        sp = self.speculative
        if sp is None or sp.method == "ngram":
            return 0.0
        if sp.method == "draft":
            d = self.draft
            share = math.ceil(batch / self.shard.attn_groups)
            return d.prefill(share, prompt, d.memory(share, prompt, 0)["placement"], overlap)[0]
        return sum(self._one_layer(st)[0] * n for st, n in steps)

    def _speculative_step(self, seqs: int, context: int, placement: dict[str, str]) -> StepTime:
        """A speculative decode iteration of one stage (s): the target verifies ``k + 1`` tokens per sequence
        (:meth:`step` with ``q = k + 1``) after the draft's ``k`` proposals, which run before it on the same chips
        (a ``draft`` row, serial: the verification needs them). With pipeline stages the draft of each micro-batch
        is charged to the stage step (it runs on the last stage)."""
        sp = self.speculative
        key = ("speculative", seqs, context, tuple(sorted(placement.items())))
        hit = self._step_cache.get(key)
        if hit is not None:
            return hit
        verify = self.step(seqs, sp.k + 1, context, "decode", placement)
        if sp.method == "ngram":
            draft = 0.0
        elif sp.method == "draft":
            d = self.draft
            share = math.ceil(seqs / self.shard.attn_groups)  # each attention group drafts its own sequences
            d_place = d.memory(share, context + 1, 0)["placement"]
            draft = sp.k * d.decode_step(share, context, d_place).serial
        else:  # mtp: one decoder layer (attention + the model's MoE or MLP block, its collectives) + the LM head
            draft = sp.k * sum(self._one_layer(self.step(seqs, 1, context, "decode", placement)))
        row = _host_row("decode", f"draft ({sp.label()})", draft)
        row["bottleneck"] = "draft"
        # host_per_seq: the iteration takes max(draft + verify on the GPU, host), so the verify step's host-bound
        # excess (its ``host (exposed)`` row and overlapped wait) is taken off and charged again over both
        rows = [r for r in verify.rows if r["op"] != "host (exposed)"] + [row]
        exposed = sum(r["time"] for r in verify.rows if r["op"] == "host (exposed)")
        compute = verify.compute - exposed + draft
        serial = verify.serial - exposed + draft
        overl = verify.overlapped - (exposed + verify.host_wait) + draft
        compute, serial, overl, host_wait = _host_bound(rows, "decode", self._host(math.ceil(seqs / self.shard.attn_groups)),
                                                        compute, serial, overl)
        st = StepTime(rows, compute, verify.flop_time, verify.mem_time, verify.comm, verify.exposed, serial, overl,
                      verify.send, verify.comm_rows, host_wait)
        self._step_cache[key] = st
        return st

    def mixed_step(self, decode_seqs: int, context: int, prefill_seqs: int, prefill_q: int, prefill_context: int = 0,
                   placement: dict[str, str] | None = None) -> StepTime:
        """One stage's fused in-flight-batching step: ``decode_seqs`` sequences decode one token each at
        ``context`` cached tokens and ``prefill_seqs`` sequences prefill ``prefill_q`` prompt tokens each after
        ``prefill_context`` already cached (a chunk), in ONE forward pass, as TensorRT-LLM's in-flight batching
        and vLLM / SGLang chunked prefill run them.

        Every token-wise op (norms, QKV/O projections, MLP, router, experts, their communication, the
        embedding) runs once over ``decode_seqs + prefill_seqs x prefill_q`` tokens, so weights are read once;
        attention runs per request: paged decode attention for the decoding sequences, prefill (flash)
        attention of each chunk over its context (MLA: the absorbed form for decode, the decompressed form
        with its ``kv_b`` GEMM for the chunk); the LM head computes logits of the decoding sequences and of each
        chunk's last token. The step runs eagerly: TensorRT-LLM captures CUDA graphs for generation-only steps
        (source: TensorRT-LLM ``tensorrt_llm/_torch/pyexecutor/scheduler.py``,
        ``ScheduledRequests.can_run_cuda_graph``: no context requests), so no graph padding and eager launch
        costs. With data-parallel attention the busiest group holds ``ceil(decode / groups)`` decoding
        sequences and ``ceil(prefill / groups)`` chunks; routed experts see the stage's tokens. Its host cost
        is the larger of a decode step's and a prefill
        step's (one scheduler iteration). With no prefill it is :meth:`decode_step`'s stage step of
        ``decode_seqs``; with no decode it is :meth:`step` of the prefill (phase ``prefill``)."""
        for name, v in (("decode_seqs", decode_seqs), ("prefill_seqs", prefill_seqs), ("prefill_q", prefill_q),
                        ("context", context), ("prefill_context", prefill_context)):
            if v < 0:
                raise SpecError(f"mixed_step: {name} must be >= 0, got {v}")
        if prefill_seqs == 0 or prefill_q == 0:
            if decode_seqs == 0:
                raise SpecError("mixed_step: nothing to run (decode_seqs and prefill tokens are both 0)")
            return self.step(decode_seqs, 1, context, "decode", placement)
        if decode_seqs == 0:
            return self.step(prefill_seqs, prefill_q, prefill_context, "prefill", placement)
        if placement is None:
            placement = self.memory(decode_seqs + prefill_seqs, max(context + 1, prefill_q + prefill_context),
                                    0)["placement"]
        if _placement.is_spatial(self.chip):  # a spatial pipeline has no fused form here: the parts add
            d = self.step(decode_seqs, 1, context, "decode", placement)
            p = self.step(prefill_seqs, prefill_q, prefill_context, "prefill", placement)
            return StepTime(d.rows + p.rows, d.compute + p.compute, d.flop_time + p.flop_time,
                            d.mem_time + p.mem_time, d.comm + p.comm, 0.0, d.serial + p.serial,
                            d.overlapped + p.overlapped, d.send + p.send, d.comm_rows + p.comm_rows,
                            d.host_wait + p.host_wait)
        key = ("mixed", decode_seqs, context, prefill_seqs, prefill_q, prefill_context,
               tuple(sorted(placement.items())))
        hit = self._step_cache.get(key)
        if hit is not None:
            return hit
        m, kw = self.model, {"w": self.w, "a": self.a, "kv": self.kv, "we": self.we}
        g = self.shard.attn_groups
        tokens = decode_seqs + prefill_seqs * prefill_q  # of the stage
        # with data-parallel attention (g groups) each group runs its own sequences: the busiest holds
        # ceil(decode / g) decoding ones and ceil(prefill / g) chunks; routed experts see the stage's tokens
        seqs_g = math.ceil(decode_seqs / g) + math.ceil(prefill_seqs / g)
        tokens_g = math.ceil(decode_seqs / g) + math.ceil(prefill_seqs / g) * prefill_q

        def per_request(op: Op) -> bool:  # attention, and MLA's kv_b (absorbed in decode, decompressing in prefill)
            return bool(op.attn) or op.name == "kv_b"

        def stage_wide(op: Op) -> bool:  # ops over the stage's tokens after dispatch (expert parallelism)
            return self.ep > 1 and op.name in ("router", "experts")

        grouped = layer_ops(m, self.shard, g * tokens_g, 1, 0, decode=True, **kw)
        if g > 1:
            stage = iter([op for op in layer_ops(m, self.shard, tokens, 1, 0, decode=True, **kw) if stage_wide(op)])
            grouped = [next(stage) if stage_wide(op) else op for op in grouped]
        shared = [op for op in grouped if not per_request(op)]
        dec = [op for op in layer_ops(m, self.shard, decode_seqs, 1, context, decode=True, **kw) if per_request(op)]
        pre = [op for op in layer_ops(m, self.shard, prefill_seqs, prefill_q, prefill_context, decode=False, **kw)
               if per_request(op)]
        heads = head_ops(m, self.shard, g * tokens_g, 1, w=self.w, a=self.a)[:1]  # embedding of every token
        heads += head_ops(m, self.shard, g * seqs_g, 1, w=self.w, a=self.a)[1:]  # a logit row per sequence
        fw = max(self._framework(True, decode_seqs), self._framework(False, prefill_seqs))
        return self._timed_step(key, shared + dec + pre + heads, "mixed", placement, fw, tokens, 1, tokens_g,
                                group_tokens=tokens_g, host=self._host(seqs_g), group_seqs=seqs_g)

    def cost_per_hour(self, price_per_chip_hour: float | None = None, **cost: float) -> float:
        """$ per hour of one replica's chips: the given $/chip-hour, else capex amortisation + power, with the
        fabric's network capex per chip (:meth:`network_capex_per_chip`) amortised beside the chip's."""
        return self.replica_chips * sum(self.cost_parts(price_per_chip_hour, **cost))

    def network_capex_per_chip(self) -> float:
        """$ of network capex per chip of the fabric: its switches and optics counted from the graph and priced by
        its ``cost:`` block (:func:`topo.network_capex`; 0 when not priced or in the chip's capex)."""
        from topo import network_capex

        return network_capex(self.fabric).per_chip

    def network_power_per_chip(self) -> float:
        """W of network power per chip of the fabric: its switches' and optics' mean draw from its ``cost:`` block
        (:func:`topo.network_capex`; 0 when not given, not priced or in the chip's system power)."""
        from topo import network_capex

        return network_capex(self.fabric).power_per_chip

    def cost_parts(self, price_per_chip_hour: float | None = None, **cost: Any) -> tuple[float, float]:
        """``(chip, network)`` $ per chip-hour (:func:`chip_cost_parts`); ``network_capex_per_chip`` ($) and
        ``network_power_per_chip`` (W) in ``cost`` replace the fabric's own figures."""
        if cost.get("network_capex_per_chip") is None:
            cost = {**cost, "network_capex_per_chip": self.network_capex_per_chip()}
        if cost.get("network_power_per_chip") is None:
            cost = {**cost, "network_power_per_chip": self.network_power_per_chip()}
        return chip_cost_parts(self.chip, price_per_chip_hour, **{"fabric": self.fabric.name, **cost})


def _host_row(phase: str, op: str, time: float) -> dict:
    """A step row of host time (s) that moves no data: the stack's per-step cost or a host-bound excess."""
    return {"phase": phase, "op": op, "block": "head", "layers": 1, "flops": 0.0, "bytes": 0.0, "hbm_bytes": 0.0,
            "sram_bytes": 0.0, "flop_time": 0.0, "memory_time": 0.0, "time": time, "bottleneck": "host",
            "intensity": 0.0, "source": "model"}


def _moe_seq_row(phase: str, layers: float, time: float) -> dict:
    """A step row of the stack's per-sequence MoE cost: ``time`` (s) per MoE layer over ``layers`` of them, on the
    GPU in series with the layer's kernels (``StackProfile.moe_per_seq``, a calibrated term of no modelled op)."""
    return {"phase": phase, "op": "moe per sequence", "block": "moe", "layers": layers, "flops": 0.0, "bytes": 0.0,
            "hbm_bytes": 0.0, "sram_bytes": 0.0, "flop_time": 0.0, "memory_time": 0.0, "time": time,
            "bottleneck": "calibrated", "intensity": 0.0, "source": "model"}


def _host_bound(rows: list[dict], phase: str, host: float, compute: float, serial: float,
                overl: float) -> tuple[float, float, float, float]:
    """A step's ``(compute, serial, overlapped, host_wait)`` times (s) under the engine's host work ``host`` (s) for
    the iteration, which an overlap scheduler runs beside the previous iteration's GPU work: when ``host`` exceeds
    the overlapped step (a host-bound iteration; overlapped <= serial) the GPU waits for the scheduler, the serial
    step's excess is appended to ``rows`` as a ``host (exposed)`` row and the rest of the overlapped excess is
    ``host_wait``. Unchanged, with ``host_wait`` 0, otherwise."""
    if host <= overl:
        return compute, serial, overl, 0.0
    exposed, exposed_o = max(0.0, host - serial), host - overl
    rows.append(_host_row(phase, "host (exposed)", exposed))
    return compute + exposed, serial + exposed, overl + exposed_o, exposed_o - exposed


def _hide_shared_experts(rows: list[dict], comm_rows: list[dict]) -> None:
    """Shared experts on a side stream beside the routed path (TensorRT-LLM decode, ``shared_expert_overlap``):
    per MoE layer the ``shared_experts`` row keeps ``max(0, shared - routed)`` where ``routed`` = router + routed
    experts + the MoE layer's EP dispatch / combine (the exchanges inside the routed branch); the hidden part
    goes to ``hidden_time``. A layer then costs ``max(shared, routed)`` (aiconfigurator's ``OverlapOp``). The
    all-reduces of a layer without attention DP are not in either branch: the attention all-reduce runs before
    both, the MoE all-reduce sums their outputs after both (TensorRT-LLM ``Deepseekv3MoE.forward``:
    ``maybe_execute_in_parallel(shared, routed)``, then ``shared_output + routed_output``, then the all-reduce)."""
    shared = next((r for r in rows if r["op"] == "shared_experts"), None)
    if shared is None:
        return
    routed = sum(r["time"] for r in rows if r["block"] == "moe" and r["op"] in ("router", "experts"))
    routed += sum(r["time"] for r in comm_rows if r["block"] == "moe" and r["op"] in ("ep_dispatch", "ep_combine"))
    hidden = min(shared["time"], routed)
    shared["time"] -= hidden
    shared["hidden_time"] = hidden


def load_prices(prices: str | dict | None) -> dict[str, dict[str, float]]:
    """Per-chip price overrides: ``{chip: {"capex": $, "price_per_hour": $/h}}`` or ``{chip: $/h}``, from a
    dict or a YAML file of that shape (optionally under a top-level ``prices:`` key); a value may be a string,
    ``"$2.50"``, as ``fleet.load_prices`` (``scaleup plan --prices``) reads it. Keys are lowercased.

    Raises:
        SpecError: no such file, invalid YAML, an entry that is not a number >= 0 or ``{capex, price_per_hour}``.
    """
    if prices is None:
        return {}
    data: Any = prices
    if isinstance(prices, str):
        import os

        import yaml

        from topo.loader import read_text_utf8

        if not os.path.isfile(prices):
            raise SpecError(f"prices: no such file {prices!r}; expected a YAML mapping chip -> $/chip-hour "
                            "or chip -> {capex: $, price_per_hour: $/h}")
        try:
            data = yaml.safe_load(read_text_utf8(prices, "prices"))
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "syntax error"
            raise SpecError(f"prices: {prices}: not valid YAML ({first})") from None
    if isinstance(data, dict) and isinstance(data.get("prices"), dict):
        data = data["prices"]
    if not isinstance(data, dict):
        raise SpecError(f"prices: expected a mapping chip -> $/chip-hour or {{capex, price_per_hour}}, got "
                        f"{type(data).__name__}")
    def dollars(x: Any, field: str) -> Any:  # "$2.50" or "2.5" (as fleet.load_prices reads them): a number
        if isinstance(x, str):
            try:
                return float(x.strip().lstrip("$").replace(",", ""))
            except ValueError:
                raise SpecError(f"{field}: expected a number of $ (2.5 or '$2.50'), got {x!r}") from None
        return x

    out: dict[str, dict[str, float]] = {}
    for chip, v in data.items():
        v = dollars(v, f"prices.{chip}")
        entry = {"price_per_hour": v} if isinstance(v, (int, float)) and not isinstance(v, bool) else v
        if not isinstance(entry, dict) or not set(entry) <= {"capex", "price_per_hour"} or not entry:
            raise SpecError(f"prices.{chip}: expected a number ($/chip-hour) or {{capex: $, price_per_hour: $/h}}, "
                            f"got {v!r}")
        entry = {k: dollars(x, f"prices.{chip}.{k}") for k, x in entry.items()}
        for k, x in entry.items():
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 <= x < math.inf:
                raise SpecError(f"prices.{chip}.{k}: must be a finite number >= 0, got {x!r}")
        out[str(chip).lower()] = {k: float(x) for k, x in entry.items()}
    return out


def _price_override(chip: ChipSpec, prices: str | dict | None, fabric: str | None = None) -> dict[str, float]:
    """This run's entry of :func:`load_prices` (``{}`` when none): the ``fabric``'s own key, else the chip's (as
    ``scaleup plan`` prices a candidate). A key that names neither a chip preset, a bundled fabric, ``chip`` nor
    ``fabric`` is a :class:`SpecError`: a misspelt chip ("h100" for ``h100-sxm``) would otherwise leave the
    cost at the default without a word. Other chips' and fabrics' keys are not this run's (one prices file
    serves every run) and are left alone."""
    table = load_prices(prices)
    from topo import CHIPS, list_fabrics

    own = {chip.name.lower()} | ({str(fabric).lower()} if fabric else set())
    for key in table:
        if key not in own and key not in CHIPS and key not in list_fabrics():
            raise SpecError(f"prices.{key}: not a chip name; key prices by chip ({chip.name} here; presets: "
                            f"{', '.join(sorted(CHIPS))})")
    if fabric and str(fabric).lower() in table:
        return table[str(fabric).lower()]
    return table.get(chip.name.lower(), {})


def _power_basis(chip: ChipSpec) -> str:
    """The power a capex price is charged with, in words: the presets' system power (TDP + host share); a chip of
    the user's own without ``host_power`` is charged its TDP alone, which the line says (beside a preset it is on
    another basis)."""
    if chip.system_power <= 0:
        return "power (0 W: the TDP is not public)"
    if chip.host_power <= 0 and chip.tdp > 0 and chip.name not in CHIPS:  # a preset's 0 is its basis (CS-3: system)
        return (f"power (TDP {chip.tdp:,.0f} W alone: no host_power given; the presets add their host's share, "
                "e.g. 0.8 x TDP)")
    return "power"


def price_basis(chip: ChipSpec, price_per_chip_hour: float | None = None, prices: str | dict | None = None,
                capex_per_chip: float | None = None, fabric: str | None = None,
                network_capex_per_chip: float | None = None, network_source: str = "",
                network_power_per_chip: float | None = None, network_unpriced: str = "",
                amortisation_years: float | None = None, power_price: float | None = None, pue: float | None = None,
                power_factor: float | None = None) -> str:
    """One line saying where the chip-hour price comes from (for reports), and whether the fabric's network capex
    per chip (``network_capex_per_chip``, $; ``network_power_per_chip``, W; priced as ``network_source`` says) is
    in it: added to a capex basis, not to a given or cloud $/h. ``network_unpriced`` (e.g. "640 switches, no cost:
    block") says the fabric has switches nobody priced: a capex basis then says "network not priced" rather than
    let the $0 pass for a price. A capex basis ends with the terms it is charged on (years, power factor, PUE,
    $/kWh: those not given are the ASSUMPTIONS of :data:`DEFAULTS`)."""
    line = _price_basis(chip, price_per_chip_hour, prices, capex_per_chip, fabric, network_capex_per_chip,
                        network_source, network_power_per_chip, network_unpriced)
    if not line.startswith("price: capex") and not line.startswith("price: ASSUMPTION capex"):
        return line  # a given, override or cloud $/chip-hour: all-in, no terms
    given = {"amortisation_years": amortisation_years, "power_factor": power_factor, "pue": pue,
             "power_price": power_price}
    v = {k: DEFAULTS[k] if x is None else float(x) for k, x in given.items()}
    assumed = [k for k, x in given.items() if x is None]
    tag = ("" if not assumed else " (ASSUMPTIONS, docs/inference.md)" if len(assumed) == len(given) else
           f" ({', '.join(assumed)}: ASSUMPTION{'S' if len(assumed) > 1 else ''}, docs/inference.md; the rest given)")
    return (f"{line}; capex amortised over {v['amortisation_years']:g} years, power x power factor "
            f"{v['power_factor']:g} x PUE {v['pue']:g} x {v['power_price']:g} $/kWh{tag}")


def _price_basis(chip: ChipSpec, price_per_chip_hour: float | None, prices: str | dict | None,
                 capex_per_chip: float | None, fabric: str | None, network_capex_per_chip: float | None,
                 network_source: str, network_power_per_chip: float | None, network_unpriced: str) -> str:
    """:func:`price_basis` without the capex terms."""
    over = _price_override(chip, prices, fabric)
    net = network_capex_per_chip or 0.0
    watts = network_power_per_chip or 0.0
    all_in = (f"; all-in: the fabric's network capex {net:,.0f} $ per chip not added" if net > 0 else "")
    plus = (f" + network capex {net:,.0f} $"
            + (f" and {watts:,.0f} W" if watts > 0 else "") + " per chip (the fabric's cost: block"
            + (f": {network_source}" if network_source else "") + ")") if net > 0 or watts > 0 else ""
    if network_unpriced and not plus:
        plus = f" + network not priced ({network_unpriced}: counted as $0; give the fabric a cost: block)"
    if price_per_chip_hour is not None:
        return f"price: {price_per_chip_hour:g} $/chip-hour (given{all_in})"
    if "price_per_hour" in over:
        return f"price: {over['price_per_hour']:g} $/chip-hour (prices override{all_in})"
    if capex_per_chip is not None or "capex" in over:
        return (f"price: capex {capex_per_chip if capex_per_chip is not None else over['capex']:,.0f} $ (given){plus} + "
                f"{_power_basis(chip)}")
    if chip.capex > 0:
        return f"price: capex {chip.capex:,.0f} ${plus} + {_power_basis(chip)} ({chip.price_source})"
    if chip.price_per_hour > 0:
        return f"price: {chip.price_per_hour:g} $/chip-hour cloud ({chip.price_source}{all_in})"
    return (f"price: ASSUMPTION capex {DEFAULTS['capex_per_chip']:,.0f} ${plus} + {_power_basis(chip)} ({chip.name} "
            "has no public price; override with --price or --prices)")


def price_basis_kind(chip: ChipSpec, price_per_chip_hour: float | None = None, prices: str | dict | None = None,
                     capex_per_chip: float | None = None, fabric: str | None = None) -> str:
    """One word for :func:`price_basis` (the same precedence), for a side-by-side row: ``given`` (a price or capex
    given by the caller: ``--price``, ``--prices``, ``capex_per_chip``), ``sourced`` (the preset's price cites a
    public source) or ``ASSUMPTION`` (the preset's price is an assumption, or no preset price: the default)."""
    over = _price_override(chip, prices, fabric)
    if price_per_chip_hour is not None or over or capex_per_chip is not None:
        return "given"
    if (chip.capex > 0 or chip.price_per_hour > 0) and "ASSUMPTION" not in chip.price_source:
        from topo.loader import GIVEN_PRICE

        return "given" if chip.price_source.startswith(GIVEN_PRICE) else "sourced"  # a fabric file's chip block
    return "ASSUMPTION"


def chip_cost_per_hour(chip: ChipSpec, price_per_chip_hour: float | None = None, *,
                       capex_per_chip: float | None = None, amortisation_years: float | None = None,
                       power_price: float | None = None, pue: float | None = None,
                       power_factor: float | None = None, prices: str | dict | None = None,
                       fabric: str | None = None, network_capex_per_chip: float | None = None,
                       network_power_per_chip: float | None = None, **_: Any) -> float:
    """$ per chip-hour, first that applies: ``price_per_chip_hour``; the ``prices`` override for ``fabric`` (the
    fabric's name) or else for this chip ($/h, or its capex); ``capex_per_chip``; the preset's ``capex``; the
    preset's cloud ``price_per_hour``; the default capex assumption. Capex costs (capex + ``network_capex_per_chip``)
    / (years x 8766 h) + system power (``ChipSpec.system_power``: TDP + host share) x power factor x PUE x $/kWh
    + ``network_power_per_chip`` x PUE x $/kWh (defaults in :data:`DEFAULTS`, all assumptions).
    ``network_capex_per_chip`` ($) and ``network_power_per_chip`` (W: the switches' and optics' mean draw, no
    power factor) are the fabric's per chip (:func:`topo.network_capex`) and count only on a capex basis: a given
    or cloud $/chip-hour is all-in. The sum of :func:`chip_cost_parts`.

    Raises:
        SpecError: a knob that is not a number; a ``prices`` key naming no chip preset, no bundled fabric, not
            ``chip`` and not ``fabric`` (a misspelt chip); a bad prices file or entry.
    """
    return sum(chip_cost_parts(chip, price_per_chip_hour, capex_per_chip=capex_per_chip,
                               amortisation_years=amortisation_years, power_price=power_price, pue=pue,
                               power_factor=power_factor, prices=prices, fabric=fabric,
                               network_capex_per_chip=network_capex_per_chip,
                               network_power_per_chip=network_power_per_chip))


def chip_cost_parts(chip: ChipSpec, price_per_chip_hour: float | None = None, *,
                    capex_per_chip: float | None = None, amortisation_years: float | None = None,
                    power_price: float | None = None, pue: float | None = None,
                    power_factor: float | None = None, prices: str | dict | None = None,
                    fabric: str | None = None, network_capex_per_chip: float | None = None,
                    network_power_per_chip: float | None = None, **_: Any) -> tuple[float, float]:
    """``(chip, network)`` $ per chip-hour of :func:`chip_cost_per_hour`: the chip's price (capex amortised + power,
    or the given / cloud $/chip-hour) and the network's: its capex per chip amortised over the same years + its
    power per chip (W, mean draw) x PUE x $/kWh (0 when the price is a given or cloud $/chip-hour: that is all-in).

    Raises:
        SpecError: as :func:`chip_cost_per_hour`; a negative ``network_capex_per_chip`` or
            ``network_power_per_chip``.
    """
    for name, v in (("price_per_chip_hour", price_per_chip_hour), ("capex_per_chip", capex_per_chip),
                    ("amortisation_years", amortisation_years), ("power_price", power_price), ("pue", pue),
                    ("power_factor", power_factor), ("network_capex_per_chip", network_capex_per_chip),
                    ("network_power_per_chip", network_power_per_chip)):
        _check_number(name, v)
    net = 0.0 if network_capex_per_chip is None else float(network_capex_per_chip)
    if not 0 <= net < math.inf:
        raise SpecError(f"network_capex_per_chip: must be a finite number of $ >= 0, got {network_capex_per_chip}")
    net_w = 0.0 if network_power_per_chip is None else float(network_power_per_chip)
    if not 0 <= net_w < math.inf:
        raise SpecError(f"network_power_per_chip: must be a finite number of W >= 0, got {network_power_per_chip}")
    over = _price_override(chip, prices, fabric)
    if price_per_chip_hour is None and "price_per_hour" in over:
        price_per_chip_hour = over["price_per_hour"]
    if capex_per_chip is None and "capex" in over:
        capex_per_chip = over["capex"]
    if price_per_chip_hour is None and capex_per_chip is None and chip.capex <= 0 and chip.price_per_hour > 0:
        price_per_chip_hour = chip.price_per_hour
    if capex_per_chip is None and chip.capex > 0:
        capex_per_chip = chip.capex
    if price_per_chip_hour is not None:
        if not 0 <= price_per_chip_hour < math.inf:
            raise SpecError(f"price_per_chip_hour: must be a finite number >= 0 ($ per chip-hour), "
                            f"got {price_per_chip_hour}")
        return float(price_per_chip_hour), 0.0
    capex = DEFAULTS["capex_per_chip"] if capex_per_chip is None else capex_per_chip
    years = DEFAULTS["amortisation_years"] if amortisation_years is None else amortisation_years
    price = DEFAULTS["power_price"] if power_price is None else power_price
    p = DEFAULTS["pue"] if pue is None else pue
    pf = DEFAULTS["power_factor"] if power_factor is None else power_factor
    if not years > 0:
        raise SpecError(f"amortisation_years: must be > 0, got {years}")
    for name, v in (("capex_per_chip", capex), ("power_price", price)):
        if not v >= 0:
            raise SpecError(f"{name}: must be >= 0, got {v}")
    if not p >= 1:
        raise SpecError(f"pue: power usage effectiveness must be >= 1 (1.0 = no overhead), got {p}")
    if not 0 < pf <= 1:
        raise SpecError(f"power_factor: mean draw over system power (TDP + host share) must be in (0, 1], got {pf}")
    return (capex / (years * HOURS_PER_YEAR) + chip.system_power * pf * p * price / 1000.0,
            net / (years * HOURS_PER_YEAR) + net_w * p * price / 1000.0)
