"""Measured-kernel backend: GEMM, attention and MoE timings of aiconfigurator-core's tables.

The optional extra ``measured`` (``pip install 'scaleup-sim[measured]'``) installs ``aiconfigurator-core``,
which ships kernel timings measured per system (``h100_sxm``, ``h200_sxm``, ``b200_sxm``, ``gb200``, ...),
serving stack and version as parquet files under ``aiconfigurator_core/systems/data/<system>/<op>/<stack>/
<version>/``. They are read here at run time from the installed package (never copied into this repo),
one dense grid per table, and looked up by multilinear interpolation of log(latency) in log2 coordinates
(power-law between grid points: exact for a kernel whose time scales as a power of its size, e.g. linear
in n for a memory-bound GEMM, where interpolating the latency itself in log coordinates would be biased):

* exact on grid points (the weights are 0 or 1 there);
* monotone between neighbouring grid points along each axis (log of a convex combination of the two logs);
* ``None`` outside the grid or where a corner was not measured: the caller then uses the analytic model
  (:mod:`inference.kernels`). Decode attention past its table's batch x context frontier is the exception:
  the table's own rows are continued there (:meth:`Grid.beyond`; bench/attention_frontier.py checks the rule
  on each table's hidden frontier).

Tables used: ``gemm/gemm_perf`` (m, n, k per dtype), ``attention/context_attention_perf`` (batch x ISL per
heads/KV heads/head dim/dtypes), ``attention/generation_attention_perf`` (batch x context), ``moe/moe_perf``
(tokens per shape, parallelism and routing distribution), and for MLA (DeepSeek-V3) ``mla/context_mla_perf``
(batch x ISL per heads), ``mla/generation_mla_perf`` (batch x context per heads) and ``mla_bmm/mla_bmm_perf``
(the absorbed decode BMMs, tokens per heads). Latencies in the tables are ms; returned in s.

Which table answers a stack (the documented rule; :func:`tables`, :meth:`KernelTables.sources`):

1. **The stack's own tables**: ``stack="vllm"`` reads ``<system>/<op>/vllm/...``, ``"sglang"`` reads
   ``.../sglang/...``, ``"trtllm"`` reads ``.../trtllm/...``; never another stack's. Version: the newest
   version directory holding the file (GEMM and attention) or the newest that measured the looked-up key
   (MoE). With aiconfigurator-core 0.12.0 that is TRT-LLM 1.3.0rc20, vLLM 0.24.0 and SGLang 0.5.14 for
   GEMM and attention on h100_sxm / h200_sxm / b200_sxm / gb200 (aiconfigurator's own ``current`` slots).
2. **One kernel per lookup** (a table can hold several kernels, ``kernel_source``, for one shape): the
   stack's framework-default attention kernel for the chip's SM version as aiconfigurator-core itself
   declares it (``systems/attention_lane_defaults.yaml``, read at run time: SGLang 0.5.14 ``fa3`` on
   Hopper, ``triton`` on Blackwell; vLLM 0.24.0 declares none); else (or when that kernel did not measure
   the key) the kernel with the most rows in the table (vLLM: FlashAttention-3 on Hopper, FlashInfer's
   TRT-LLM prefill/decode kernels on Blackwell). MoE: the fastest kernel measured for the key, the
   min-latency kernels only up to :data:`MOE_MIN_LATENCY_TOKENS` tokens (TensorRT-LLM's min-latency mode).
3. **Dtype**: MoE FP8 from per-tensor ``fp8`` rows; a stack that ships only block-scaled FP8 MoE kernels
   (SGLang) answers from its ``fp8_block`` rows. A model whose published FP8 checkpoint is block-scaled
   (:attr:`inference.models.ModelSpec.fp8_block`, DeepSeek-V3 / R1) asks for the ``fp8_block`` GEMM and MoE
   rows (aiconfigurator-core's own rule: ``sdk/utils.py`` maps ``quant_method fp8`` + ``weight_block_size`` to
   ``fp8_block``), and the per-tensor ``fp8`` rows where a stack measured no block-scaled kernel. Context attention runs BF16 FMHA; over an FP8 KV cache, a
   stack that measured no BF16 FMHA for the shape answers from its FP8 FMHA rows (SGLang's FA3 on Hopper).
4. **Sibling check (MoE)**: B200 and GB200 carry the same GPU and HBM, so a kernel's times on the two differ by a
   small, nearly constant factor. A MoE key (dtype, shape, parallelism, kernel source) of one of them whose
   median time ratio to the other's, over the token counts both measured, exceeds that kernel's typical ratio
   between the two (the median over every key both measured) by more than :data:`SIBLING_FLAG` is read from the
   other chip's rows times the typical ratio (:func:`sibling_repair`; the report's sources name them). Only the
   slower side is replaced: a run can slow a timing down, not make it faster than the silicon.
5. **Expert TP from EP (MoE)**: a key with experts tensor-parallel (``moe_tp`` t > 1, ``moe_ep`` e) that the
   table did not measure is read from its expert-parallel key of the same degree (``moe_tp`` 1, ``moe_ep``
   t x e) at the same token count: both give each rank 1 / (t e) of every layer's expert weights and FLOPs
   (ASSUMPTION, checked on the tables' own keys measured both ways, :func:`tp_ep_ratios`, ``python
   bench/moe_tp_vs_ep.py``: over 1,234-1,406 TRT-LLM keys per chip (H100 / H200 / B200 / GB200) the median
   TP / EP time ratio is 0.995-1.003, quartiles 0.89-1.15; vLLM 0.94-0.99; SGLang 0.82-0.94, so on SGLang an
   EP-read TP key is up to ~18 % slow). aiconfigurator-core 0.12.0 measured GPT-OSS's MXFP4 experts at ``moe_tp`` 1
   only, so a TP 2-8 GPT-OSS deployment reads its EP rows; the report's sources mark such a lookup "(expert TP
   t read as EP t e)". Sensitivity: :data:`MOE_TP_FROM_EP` off (the analytic model for those keys).
6. **Nothing of the stack's own**: no GEMM table for (system, stack) -> no measured backend (the analytic
   profile of that stack, :func:`inference.kernels.profile_for`); a missing op table, key, kernel or a
   point outside the grid -> the analytic model for that kernel only (reported per op).
"""

from __future__ import annotations

import math
import os
import re
from functools import cache, lru_cache

import numpy as np

#: scaleup dtype -> aiconfigurator gemm/moe dtype label
GEMM_DTYPE = {"bf16": "bfloat16", "fp16": "bfloat16", "fp8": "fp8", "fp4": "nvfp4", "fp8_block": "fp8_block"}
KV_DTYPE = {"bf16": "bfloat16", "fp16": "bfloat16", "fp8": "fp8"}
#: MoE kernel labels of an MXFP4-expert checkpoint (GPT-OSS), read as they are: ``w4a16_mxfp4`` (MXFP4 weights x
#: BF16 activations, Hopper) and ``w4a8_mxfp4_mxfp8`` (x MXFP8 activations, Blackwell); see Deployment.moe_dtype
MOE_MX_DTYPES = ("w4a16_mxfp4", "w4a8_mxfp4_mxfp8")
#: routing distribution used for MoE lookups (aiconfigurator's default workload, power law alpha 1.01)
MOE_DISTRIBUTION = "power_law_1.01"
#: MoE dtype label tried when a stack measured no rows of the asked one (SGLang ships block-scaled FP8 only; a
#: block-scaled checkpoint on a stack that measured per-tensor FP8 only reads those)
MOE_DTYPE_FALLBACK = {"fp8": "fp8_block", "fp8_block": "fp8"}
#: MoE kernels TensorRT-LLM runs only in its min-latency mode, and the largest step (tokens entering the MoE
#: layer) that mode serves. source: TensorRT-LLM ``tensorrt_llm/_torch/models/modeling_deepseekv3.py``,
#: ``min_latency_mode = hidden_states.size(0) <= 128 and ... and self.is_nvfp4``; aiconfigurator-core 0.12.0's
#: static estimate switches at the same count (DeepSeek-V3 NVFP4 EP8 on b200_sxm: 128 tokens read the
#: ``moe_torch_flow_min_latency`` rows, 136 tokens the ``moe_torch_flow_cutlass`` rows). Above it the
#: throughput kernels answer, even where a min-latency row is faster (at 4,096 tokens: 0.34 ms against 0.54 ms).
MOE_MIN_LATENCY_LANE = "min_latency"
MOE_MIN_LATENCY_TOKENS = 128
#: aiconfigurator systems with the same GPU die and memory system (rule 4): B200 (HGX, 1,000 W) and GB200 (NVL72,
#: 1,200 W) are one Blackwell GPU with 8 TB/s HBM3e (../shared/reference/hardware.md; NVIDIA Blackwell datasheets).
#: H100 / H200 are not a pair: H200's HBM3e is 1.4x faster, so memory-bound kernels differ by design.
SIBLING_SYSTEMS = {"b200_sxm": "gb200", "gb200": "b200_sxm"}
#: a sibling key is a collection outlier when its median ratio to the other chip's exceeds the kernel's typical
#: ratio by more than this factor. ASSUMPTION: 1.25, the factor collectives.validation.OUTLIER_FACTOR states for a
#: measurement spike (set there, for issue 10, before this rule). aiconfigurator-core 0.12.0's TRT-LLM tables
#: (python bench/moe_sibling_tables.py): GEMM 1,761 keys, context / generation attention 605 / 328 keys, none
#: beyond it either way (typical ratios 0.99-1.05); MoE: CUTLASS 147 of 1,408 keys (125 slower on B200, by up to
#: 2x, e.g. the DeepSeek-V3 shape at EP 1 / 4 / 8; 22 slower on GB200), TRT-LLM-Gen MXFP4 2 of 80 (B200 slower),
#: DeepGEMM 0 of 479, min-latency 0 of 445; the rule runs on every stack's MoE table: SGLang Triton 9 of 382 (GB200
#: slower), vLLM none (``--stack``). Sensitivity: MOE_SIBLING_CHECK off (docs/inference.md, "Reading the misses").
SIBLING_FLAG = 1.25
#: rule 4 on or off (a sensitivity switch: clear :data:`_TABLES` after changing it)
MOE_SIBLING_CHECK = True
#: rule 5 on or off (a sensitivity switch: clear :data:`_TABLES` after changing it)
MOE_TP_FROM_EP = True
#: the fewest token counts both chips must have measured for a key to be compared
SIBLING_MIN_POINTS = 3
#: absorbed-MLA decode BMMs (TensorRT-LLM ``mla_gen_pre``: q_nope x W_UK, ``mla_gen_post``: latent x W_UV)
MLA_BMM_OPS = ("mla_gen_pre", "mla_gen_post")


#: what to tell a user when the ``measured`` extra is absent
MISSING_EXTRA = "aiconfigurator-core is not installed (pip install 'scaleup-sim[measured]')"


def available() -> bool:
    """Whether aiconfigurator-core is installed (the ``measured`` extra)."""
    return _data_root() is not None


@lru_cache(maxsize=1)
def _data_root() -> str | None:
    try:
        import importlib.util

        spec = importlib.util.find_spec("aiconfigurator_core")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = os.path.join(list(spec.submodule_search_locations)[0], "systems", "data")
    return root if os.path.isdir(root) else None


def package_version() -> str:
    """Installed aiconfigurator-core version (for the report's provenance line)."""
    try:
        from importlib.metadata import version

        return version("aiconfigurator-core")
    except Exception:  # noqa: BLE001 - provenance only
        return "unknown"


def _version_key(v: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.\-]|(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)", v) if p)


def table_paths(system: str, op: str, stack: str, filename: str) -> list[str]:
    """Paths of ``filename`` for (system, op, stack), newest version first."""
    root = _data_root()
    if root is None:
        return []
    d = os.path.join(root, system, op, stack)
    if not os.path.isdir(d):
        return []
    versions = sorted(os.listdir(d), key=lambda v: _version_key(v), reverse=True)
    return [p for p in (os.path.join(d, v, filename) for v in versions) if os.path.exists(p)]


def table_path(system: str, op: str, stack: str, filename: str) -> str | None:
    """Path of the newest version's ``filename`` for (system, op, stack), or None."""
    paths = table_paths(system, op, stack, filename)
    return paths[0] if paths else None


@cache
def _package_yaml(relpath: str) -> dict:
    """A YAML file of the installed aiconfigurator-core ``systems/`` folder ({} when absent or unreadable)."""
    root = _data_root()
    if root is None:
        return {}
    try:
        import yaml

        with open(os.path.join(os.path.dirname(root), relpath), encoding="utf-8") as f:
            return yaml.safe_load(f) or {}
    except Exception:  # noqa: BLE001 - optional metadata: the density rule answers without it
        return {}


def sm_version(system: str) -> int | None:
    """The SM version aiconfigurator-core records for ``system`` (``systems/<system>.yaml``), or None."""
    v = (_package_yaml(f"{system}.yaml").get("gpu") or {}).get("sm_version")
    return int(v) if v is not None else None


def default_lanes(system: str, stack: str, version: str) -> tuple[str, ...]:
    """The stack's framework-default attention kernel (``kernel_source``) for ``system`` at ``version``.

    From aiconfigurator-core's ``systems/attention_lane_defaults.yaml`` (floor-matched version, the system's
    SM version); ``()`` when it declares none or only ``default`` (then the densest kernel answers)."""
    by_version = _package_yaml("attention_lane_defaults.yaml").get(stack) or {}
    sm = sm_version(system)
    older = [v for v in by_version if _version_key(str(v)) <= _version_key(version)]
    if sm is None or not older:
        return ()
    lane = (by_version[max(older, key=lambda v: _version_key(str(v)))] or {}).get(sm)
    return () if lane in (None, "default") else (str(lane),)


def pick_lane(sel, density: dict[str, int], pinned: tuple[str, ...] = ()):
    """The rows of one kernel (``kernel_source``) of ``sel``: the first of ``pinned`` present in ``sel``, else the
    one with the most rows in its table (``density``; ties by name). Rows without the column pass through."""
    if "kernel_source" not in sel.columns:
        return sel
    lanes = sorted(set(sel.kernel_source))
    if len(lanes) <= 1:
        return sel
    lane = next((p for p in pinned if p in lanes), None)
    if lane is None:
        lane = min(lanes, key=lambda k: (-density.get(k, 0), k))
    return sel[sel.kernel_source == lane]


class Grid:
    """A dense grid of positive values (NaN = not measured) over sorted axes, interpolated log-log."""

    def __init__(self, axes: list[np.ndarray], values: np.ndarray) -> None:
        self.axes = [np.asarray(a, dtype=float) for a in axes]
        self.logs = [np.log2(a) for a in self.axes]
        self.values = np.asarray(values, dtype=float)
        self.source = ""
        self.point_sources: list[tuple[str, ...]] | None = None  # per point of a 1-D grid, where files differ
        self._overlap: tuple[float, float] | None = None
        self._overlap_done = False  # :meth:`overlap` memoised (its answer may be None)

    @classmethod
    def from_rows(cls, cols: list[np.ndarray], value: np.ndarray) -> Grid:
        axes = [np.unique(c) for c in cols]
        vals = np.full(tuple(len(a) for a in axes), np.nan)
        idx = tuple(np.searchsorted(a, c) for a, c in zip(axes, cols))
        vals[idx] = value
        return cls(axes, vals)

    def __call__(self, *point: float) -> float | None:
        """Multilinear interpolation of log(value) over log(axes) at ``point``; None outside or on a hole."""
        lo_idx, weights = [], []
        for x, ax, lg in zip(point, self.axes, self.logs):
            if x < ax[0] or x > ax[-1] or x <= 0:
                return None
            j = int(np.searchsorted(ax, x, side="right") - 1)
            if j >= len(ax) - 1:
                j, w = len(ax) - 2, 1.0
            else:
                w = (np.log2(x) - lg[j]) / (lg[j + 1] - lg[j])
            if len(ax) == 1:
                j, w = 0, 0.0
            lo_idx.append(j)
            weights.append(w)
        total = 0.0
        n = len(point)
        for corner in range(1 << n):
            wgt = 1.0
            idx = []
            for d in range(n):
                bit = (corner >> d) & 1
                w = weights[d]
                wd = w if bit else 1.0 - w
                if wd == 0.0:
                    wgt = 0.0
                    break
                wgt *= wd
                idx.append(lo_idx[d] + bit)
            if wgt == 0.0:
                continue
            v = self.values[tuple(idx)]
            if np.isnan(v) or v <= 0:
                return None
            if wgt == 1.0:  # on a grid point: the measured value itself, bit for bit
                return float(v)
            total += wgt * math.log(v)
        return float(math.exp(total))

    # ------------------------------------------------------------ beyond a 2-D grid's measured frontier
    #: exponents tried for the per-sequence / streaming overlap of :meth:`overlap` (1 = additive, large = max)
    OVERLAP_EXPONENTS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0)

    def frontier_slope(self) -> float | None:
        """Marginal value per unit of ``axis0 x axis1`` at the grid's measured frontier (2-D grids), or None.

        Each row (axis 0) ends at its largest measured axis-1 point (the frontier); a row's slope is the rise
        over its last measured step divided by ``axis0 x step``. Taken over the rows that reach the largest
        product measured (the frontier's streaming end: a decode-attention row there moves the most KV per
        call, its per-sequence cost the smallest share), their median. For generation attention (batch x
        context) this is the table's own marginal cost per sequence-token of KV streamed."""
        if len(self.axes) != 2:
            return None
        rows = []
        for i, b in enumerate(self.axes[0]):
            j = np.flatnonzero(~np.isnan(self.values[i]))
            if len(j) < 2 or j[-1] != j[-2] + 1:
                continue
            c1, c0 = self.axes[1][j[-1]], self.axes[1][j[-2]]
            rows.append((b * c1, (self.values[i, j[-1]] - self.values[i, j[-2]]) / (b * (c1 - c0))))
        if not rows:
            return None
        top = max(p for p, _ in rows)
        slopes = [k for p, k in rows if p >= top and k > 0]
        return float(np.median(slopes)) if slopes else None

    def overlap(self) -> tuple[float, float] | None:
        """``(kappa, q)`` of the form ``f(b, x) = (P_b^q + (kappa b x)^q)^(1/q)`` over a 2-D grid, or None.

        ``P_b`` is row ``b``'s value at its smallest measured ``x`` (a decode kernel's per-sequence cost at
        tiny context), ``kappa`` :meth:`frontier_slope` (its KV-streaming cost), ``q`` how the two overlap
        (1: they add; large: the larger hides the other), the exponent of :data:`OVERLAP_EXPONENTS` with the
        smallest median |log error| over every measured point of the grid. Memoised per grid."""
        if self._overlap_done:
            return self._overlap
        kappa = self.frontier_slope()
        best = None
        if kappa is not None:
            b = self.axes[0][:, None]
            x = self.axes[1][None, :]
            first = np.array([row[~np.isnan(row)][0] if np.any(~np.isnan(row)) else np.nan for row in self.values])
            ok = ~np.isnan(self.values) & (self.values > 0) & ~np.isnan(first)[:, None]
            for q in self.OVERLAP_EXPONENTS:
                f = (first[:, None] ** q + (kappa * b * x) ** q) ** (1.0 / q)
                err = float(np.median(np.abs(np.log(f[ok] / self.values[ok]))))
                if best is None or err < best[0]:
                    best = (err, q)
        self._overlap = None if best is None else (kappa, best[1])
        self._overlap_done = True
        return self._overlap

    def _row_value(self, i: int, x: float, kappa: float, q: float) -> float | None:
        """Row ``i`` at axis-1 value ``x``: log-log interpolation between its measured points; past its last
        measured point ``x_e``, that point's value plus ``f(x) - f(x_e)`` (:meth:`overlap`'s form)."""
        j = np.flatnonzero(~np.isnan(self.values[i]) & (self.values[i] > 0))
        if len(j) == 0 or x < self.axes[1][j[0]]:
            return None
        xs, vs = self.axes[1][j], self.values[i, j]
        if x <= xs[-1]:
            return float(np.exp(np.interp(np.log2(x), np.log2(xs), np.log(vs))))
        b = self.axes[0][i]

        def f(c: float) -> float:
            return (vs[0] ** q + (kappa * b * c) ** q) ** (1.0 / q)

        return float(vs[-1] + f(x) - f(xs[-1]))

    def beyond(self, b: float, x: float) -> float | None:
        """A 2-D grid's value at ``(b, x)`` where :meth:`__call__` has no answer because the point lies past
        the measured frontier (a row stops before ``x``) or past the last row: each bracketing row is
        extended from its last measured point by the rise of :meth:`overlap`'s fitted form and the rows are
        interpolated log-log in ``b``; past the last row, the last row scaled by ``b / b_last`` (a decode
        kernel's per-sequence cost and its KV traffic are both linear in the batch). None below the grid or
        without a frontier slope. bench/attention_frontier.py checks the rule on each table's own frontier."""
        fit = self.overlap()
        ax = self.axes[0]
        if fit is None or b < ax[0] or x <= 0 or b <= 0:
            return None
        if b >= ax[-1]:
            v = self._row_value(len(ax) - 1, x, *fit)
            return None if v is None else v * b / ax[-1]
        i = int(np.searchsorted(ax, b, side="right") - 1)
        lo, hi = self._row_value(i, x, *fit), self._row_value(i + 1, x, *fit)
        if lo is None or hi is None:
            return None
        w = (math.log2(b) - self.logs[0][i]) / (self.logs[0][i + 1] - self.logs[0][i])
        return float(math.exp((1.0 - w) * math.log(lo) + w * math.log(hi)))


def _source_at(grid: Grid, point: tuple) -> str:
    """The file(s) whose rows answer ``grid`` at ``point``: ``grid.source``, or where its grid points come from
    several files (``point_sources``, a MoE key after rule 4), those of the points a 1-D lookup interpolates
    between (every file of the key on a grid of more axes), joined by " + "."""
    per = grid.point_sources
    if per is None:
        return grid.source
    if len(grid.axes) == 1 and len(per) == len(grid.axes[0]):
        ax, x = grid.axes[0], point[0]
        lo = max(int(np.searchsorted(ax, x, side="right")) - 1, 0)
        hi = min(int(np.searchsorted(ax, x, side="left")), len(ax) - 1)
        names = set(per[lo]) | set(per[hi])
    else:
        names = {n for p in per for n in p}
    return " + ".join(sorted(names))


def _read(path: str, columns: list[str]):
    import pandas as pd

    return pd.read_parquet(path, columns=columns)


class KernelTables:
    """The measured tables of one system and stack, read lazily; one grid built per key looked up (memoised)."""

    def __init__(self, system: str, stack: str) -> None:
        self.system, self.stack = system, stack
        self._frames: dict[str, object] = {}
        self._grids: dict[tuple, Grid | None] = {}
        self.sources: set[str] = set()
        self.sibling_replaced: list[tuple] = []  # MoE keys read from the sibling chip (rule 4)
        self.last_source: str | None = None  # the table (and kernel) of the last lookup that answered

    def _frame(self, name: str, op: str, filename: str, columns: list[str], prepare=None, all_versions: bool = False):
        """The table ``name`` as a DataFrame (None if absent or unreadable); ``all_versions``: every version's
        rows with a ``_rank`` column (0 = newest), a key then uses the newest version that measured it."""
        if name in self._frames:
            return self._frames[name]
        frames = []
        for rank, p in enumerate(table_paths(self.system, op, self.stack, filename) if all_versions else
                                 table_paths(self.system, op, self.stack, filename)[:1]):
            try:
                df = _read(p, columns)
                if prepare is not None:
                    df = prepare(df)
            except Exception:  # noqa: BLE001 - a table of another schema: skipped (analytic model instead)
                continue
            frames.append(df.assign(_rank=rank, _source=os.path.relpath(p, _data_root() or "")))
        if not frames:
            self._frames[name] = None
            return None
        import pandas as pd

        df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        self._frames[name] = df
        return df

    def _lookup(self, name: str, df, key_cols: list[str], key: tuple, axes: list[str], point: tuple,
                agg: str = "median", beyond: bool = False) -> float | None:
        if df is None:
            return None
        gkey = (name, key)
        if gkey not in self._grids:
            sel = df
            for c, v in zip(key_cols, key):
                sel = sel[sel[c] == v]
            if len(sel) == 0:
                self._grids[gkey] = None
            else:
                sel = sel[sel._rank == sel._rank.min()]
                lane = ""
                if agg != "min":  # one kernel per lookup (module docstring, rule 2); MoE: the fastest kernel
                    version = str(sel._source.iloc[0]).split(os.sep)[-2]
                    pinned = (default_lanes(self.system, self.stack, version)
                              if name in ("ctx", "gen", "ctx_w", "gen_w") else ())
                    density = df[df._rank == sel._rank.iloc[0]].kernel_source.value_counts().to_dict() \
                        if "kernel_source" in df.columns else {}
                    sel = pick_lane(sel, density, pinned)
                    if "kernel_source" in sel.columns:
                        lane = f" [{sel.kernel_source.iloc[0]}]"
                g = sel.groupby(axes, as_index=False)["latency"].agg(agg)
                grid = Grid.from_rows([g[a].values for a in axes], g["latency"].values)
                grid.source = str(sel._source.iloc[0]) + lane
                if agg == "min" and sel._source.nunique() > 1:
                    # rows of several files answer this key (rule 4: the sibling chip's rows beside the chip's
                    # own): per grid point, the file(s) of its fastest row (order of ``g``, i.e. of the grid axes)
                    best = sel[sel.latency == sel.groupby(axes)["latency"].transform("min")]
                    grid.point_sources = [tuple(sorted(set(map(str, s))))
                                          for _, s in best.groupby(axes)["_source"]]
                self._grids[gkey] = grid
        grid = self._grids[gkey]
        v = None if grid is None else grid(*point)
        source = None if grid is None else _source_at(grid, point)
        if v is None and beyond and grid is not None:
            v = grid.beyond(*point)
            source = f"{grid.source} (continued past its measured frontier)"
        if v is None:
            return None
        self.sources.add(source)
        self.last_source = source
        return v * 1e-3

    # ----------------------------------------------------------------- GEMM
    def gemm(self, m: float, n: float, k: float, dtype: str) -> float | None:
        """Measured time (s) of an ``m x k @ k x n`` GEMM in ``dtype``, or None."""
        df = self._frame("gemm", "gemm", "gemm_perf.parquet", ["gemm_dtype", "kernel_source", "m", "n", "k", "latency"])
        return self._lookup("gemm", df, ["gemm_dtype"], (GEMM_DTYPE.get(dtype, ""),), ["m", "n", "k"], (m, n, k))

    # ----------------------------------------------------------------- attention
    _ATTN_COLS = ["kernel_source", "batch_size", "isl", "num_heads", "num_key_value_heads", "head_dim", "window_size", "attn_dtype",
                  "kv_cache_dtype", "step", "latency"]

    def decode_attention(self, batch: int, context: float, heads: int, kv_heads: int, head_dim: int,
                         kv_dtype: str, window: int = 0) -> float | None:
        """Measured decode (generation) attention time (s) for ``batch`` sequences at ``context`` tokens.

        ``window``: the sliding window of the layer (tokens; 0 = full attention), read from the table's rows of that
        ``window_size`` (TensorRT-LLM's kernel then reads only the last ``window`` cached tokens; aiconfigurator-core
        0.12.0 measured window 128, GPT-OSS's, for its head layout); None where the window was not measured."""
        win = int(window)
        name = "gen_w" if win else "gen"  # windowed rows apart (the full-attention lookups see the same frame)
        df = self._frame(name, "attention", "generation_attention_perf.parquet", self._ATTN_COLS,
                         lambda d: d[(d.window_size > 0) == bool(win)].assign(ctx=lambda x: x.isl + x.step))
        return self._lookup(name, df, ["num_heads", "num_key_value_heads", "head_dim", "kv_cache_dtype", "window_size"],
                            (heads, kv_heads, head_dim, KV_DTYPE.get(kv_dtype, ""), win), ["batch_size", "ctx"],
                            (batch, context), beyond=True)

    def prefill_attention(self, batch: int, isl: int, heads: int, kv_heads: int, head_dim: int,
                          kv_dtype: str, window: int = 0) -> float | None:
        """Measured context (prefill) attention time (s), BF16 FMHA, no prefix; with an FP8 KV cache, the FP8 FMHA
        rows when the stack measured no BF16 FMHA over an FP8 cache for the shape (SGLang's FA3, rule 3).
        ``window``: the layer's sliding window (tokens, 0 = full), from the rows of that ``window_size``."""
        win = int(window)
        name = "ctx_w" if win else "ctx"
        df = self._frame(name, "attention", "context_attention_perf.parquet", self._ATTN_COLS,
                         lambda d: d[(d.window_size > 0) == bool(win)])
        kv = KV_DTYPE.get(kv_dtype, "")
        cols = ["num_heads", "num_key_value_heads", "head_dim", "attn_dtype", "kv_cache_dtype", "window_size"]
        got = self._lookup(name, df, cols, (heads, kv_heads, head_dim, "bfloat16", kv, win), ["batch_size", "isl"],
                           (batch, isl))
        if got is None and kv == "fp8" and self._grids.get((name, (heads, kv_heads, head_dim, "bfloat16", kv, win)),
                                                           0) is None:
            got = self._lookup(name, df, cols, (heads, kv_heads, head_dim, "fp8", kv, win), ["batch_size", "isl"],
                               (batch, isl))
        return got

    # ----------------------------------------------------------------- MoE
    _MOE_COLS = ["moe_dtype", "kernel_source", "num_tokens", "hidden_size", "inter_size", "topk", "num_experts",
                 "moe_tp_size", "moe_ep_size", "distribution", "latency"]
    _MOE_KEY = ["moe_dtype", "hidden_size", "inter_size", "topk", "num_experts", "moe_tp_size", "moe_ep_size",
                "kernel_source"]

    @staticmethod
    def _moe_prepare(d):
        return d[(d.distribution == MOE_DISTRIBUTION) & ~d.kernel_source.str.contains("nongated")]

    def _moe_frame(self):
        """The MoE table after rule 4 (:func:`sibling_repair` against the :data:`SIBLING_SYSTEMS` chip, same stack),
        memoised; the table as read where the rule is off, the chip has no sibling or nothing is flagged."""
        if "moe_checked" in self._frames:
            return self._frames["moe_checked"]
        df = self._frame("moe", "moe", "moe_perf.parquet", self._MOE_COLS, self._moe_prepare, all_versions=True)
        other = SIBLING_SYSTEMS.get(self.system)
        if MOE_SIBLING_CHECK and df is not None and other is not None:
            sib = tables(other, self.stack) or KernelTables(other, self.stack)
            odf = sib._frame("moe", "moe", "moe_perf.parquet", self._MOE_COLS, self._moe_prepare, all_versions=True)
            df, self.sibling_replaced = sibling_repair(df, odf, self._MOE_KEY, label=f"read for {self.system}")
        self._frames["moe_checked"] = df
        return df

    def moe(self, tokens: float, hidden: int, inter: int, top_k: int, experts: int, tp: int, ep: int,
            dtype: str) -> float | None:
        """Measured MoE layer time (s) for ``tokens`` input tokens (routing + grouped GEMMs), or None.

        Gated (SwiGLU) kernels only, routing distribution :data:`MOE_DISTRIBUTION`, fastest kernel source; FP8
        from the block-scaled rows when the stack measured no per-tensor FP8 MoE (:data:`MOE_DTYPE_FALLBACK`);
        B200 / GB200 keys that fail the sibling check from the other chip's rows (rule 4)."""
        df = self._moe_frame()
        label = dtype if dtype in MOE_MX_DTYPES else GEMM_DTYPE.get(dtype, "")
        if df is not None and label in MOE_DTYPE_FALLBACK:
            if "moe_dtypes" not in self._frames:
                self._frames["moe_dtypes"] = frozenset(df.moe_dtype.unique())
            if label not in self._frames["moe_dtypes"]:
                label = MOE_DTYPE_FALLBACK[label]  # rule 3: the stack measured block-scaled FP8 only
        name = "moe"
        if df is not None and tokens > MOE_MIN_LATENCY_TOKENS:  # rule 2: min-latency kernels serve small steps only
            name = "moe_throughput"
            if name not in self._frames:
                self._frames[name] = df[~df.kernel_source.str.contains(MOE_MIN_LATENCY_LANE)]
            df = self._frames[name]
        key_cols = ["moe_dtype", "hidden_size", "inter_size", "topk", "num_experts", "moe_tp_size", "moe_ep_size"]
        key = (label, hidden, inter, top_k, experts, tp, ep)
        got = self._lookup(name, df, key_cols, key, ["num_tokens"], (tokens,), agg="min")
        grid = self._grids.get((name, key))
        if got is None and grid is not None and tokens > grid.axes[0][-1]:
            # ASSUMPTION: above the largest measured step (16,384 tokens in aiconfigurator-core 0.12.0) the layer's
            # time grows in proportion to its tokens (every expert active, compute-bound grouped GEMMs); the tables'
            # last doubling 8,192 -> 16,384 grows x1.95 (B200 NVFP4 DeepSeek-V3 EP8) and x1.87 (H100 FP8 Qwen3 EP8).
            # Sensitivity: a prefill step of 32,768 tokens reads 2 x the 16,384-token time (aiconfigurator's own
            # static estimate extrapolates to 2.0 x on B200 and 2.7 x on H100 for these shapes)
            top = float(grid.axes[0][-1])
            at_top = self._lookup(name, df, key_cols, key, ["num_tokens"], (top,), agg="min")
            got = None if at_top is None else at_top * tokens / top
        if got is None and tp > 1 and MOE_TP_FROM_EP and grid is None:
            # rule 5: an expert-TP key the table lacks reads its EP key of the same degree
            got = self.moe(tokens, hidden, inter, top_k, experts, 1, tp * ep, dtype)
            if got is not None and self.last_source:
                self.last_source = f"{self.last_source} (expert TP {tp} read as EP {tp * ep})"
                self.sources.add(self.last_source)
        return got

    # ----------------------------------------------------------------- MLA (DeepSeek-V3 attention)
    _MLA_COLS = ["kernel_source", "mla_dtype", "kv_cache_dtype", "num_heads", "batch_size", "isl", "step", "latency"]

    def mla_decode(self, batch: int, context: float, heads: int, kv_dtype: str) -> float | None:
        """Measured absorbed-MLA decode attention time (s): ``batch`` sequences at ``context`` cached tokens,
        ``heads`` query heads on the chip, over the latent cache (``generation_mla_perf``, BF16 MLA kernel)."""
        df = self._frame("mla_gen", "mla", "generation_mla_perf.parquet", self._MLA_COLS,
                         lambda d: d[d.mla_dtype == "bfloat16"].assign(ctx=lambda x: x.isl + x.step))
        return self._lookup("mla_gen", df, ["num_heads", "kv_cache_dtype"], (heads, KV_DTYPE.get(kv_dtype, "")),
                            ["batch_size", "ctx"], (batch, context))

    def mla_prefill(self, batch: int, isl: int, heads: int, kv_dtype: str) -> float | None:
        """Measured MLA context (prefill) attention time (s), no cached prefix (``context_mla_perf``)."""
        df = self._frame("mla_ctx", "mla", "context_mla_perf.parquet", self._MLA_COLS,
                         lambda d: d[(d.mla_dtype == "bfloat16") & (d.step == 0)])
        return self._lookup("mla_ctx", df, ["num_heads", "kv_cache_dtype"], (heads, KV_DTYPE.get(kv_dtype, "")),
                            ["batch_size", "isl"], (batch, isl))

    def mla_bmm(self, tokens: float, heads: int, dtype: str) -> tuple[float, float] | None:
        """Measured absorbed-MLA decode BMMs (s): (pre, post) for ``tokens`` tokens and ``heads`` heads, FP8 BMMs
        (dequantised to BF16 output) for 8-bit-or-narrower checkpoints, else BF16 (aiconfigurator-core's rule:
        the absorbed kv_b BMMs inherit the kv projection's dtype, FP8 whenever the GEMMs are quantised)."""
        df = self._frame("mla_bmm", "mla_bmm", "mla_bmm_perf.parquet",
                         ["op_name", "kernel_source", "bmm_dtype", "num_tokens", "num_heads", "latency"])
        label = "bfloat16" if GEMM_DTYPE.get(dtype, "bfloat16") == "bfloat16" else "fp8"
        out = [self._lookup("mla_bmm", df, ["op_name", "bmm_dtype", "num_heads"], (op, label, heads), ["num_tokens"],
                            (tokens,)) for op in MLA_BMM_OPS]
        return None if None in out else (out[0], out[1])


_TABLES: dict[tuple[str, str], KernelTables] = {}


def tp_ep_ratios(system: str, stack: str = "trtllm", max_tokens: float | None = None):
    """Rule 5's check: per MoE key measured with experts tensor-parallel (``moe_tp`` t > 1, ``moe_ep`` e) whose
    expert-parallel key of the same degree (``moe_tp`` 1, ``moe_ep`` t e) the same table (file) also measured,
    the time ratio TP / EP over the token counts both have (routing :data:`MOE_DISTRIBUTION`, gated kernels,
    the fastest kernel per point, every version file of the stack compared within itself); ``max_tokens``: only
    token counts up to it (e.g. 256, the decode range).

    Returns a DataFrame, one row per TP key with at least :data:`SIBLING_MIN_POINTS` common token counts:
    ``version``, the key columns, ``count`` and the ``median`` / ``min`` / ``max`` ratio; None without the
    extra or the table."""
    import pandas as pd

    key = ["moe_dtype", "hidden_size", "inter_size", "topk", "num_experts"]
    out = []
    for path in table_paths(system, "moe", stack, "moe_perf.parquet"):
        d = pd.read_parquet(path)
        if not set(key + ["moe_tp_size", "moe_ep_size", "num_tokens", "latency"]) <= set(d.columns):
            continue
        d = KernelTables._moe_prepare(d)
        if max_tokens is not None:
            d = d[d.num_tokens <= max_tokens]
        g = d.groupby(key + ["moe_tp_size", "moe_ep_size", "num_tokens"], as_index=False)["latency"].min()
        tp = g[g.moe_tp_size > 1].assign(degree=lambda x: x.moe_tp_size * x.moe_ep_size)
        ep = g[g.moe_tp_size == 1].assign(degree=lambda x: x.moe_ep_size)
        j = tp.merge(ep, on=key + ["degree", "num_tokens"], suffixes=("", "_ep"))
        if not len(j):
            continue
        j["ratio"] = j["latency"] / j["latency_ep"]
        r = j.groupby(key + ["moe_tp_size", "moe_ep_size"])["ratio"].agg(["count", "median", "min", "max"])
        out.append(r[r["count"] >= SIBLING_MIN_POINTS].reset_index().assign(version=path.split(os.sep)[-2]))
    return pd.concat(out, ignore_index=True) if out else None


def sibling_ratios(own, other, key_cols: list[str], axes: list[str]):
    """Rule 4's comparison: per key measured on both chips, ``time(own) / time(other)`` over the points both measured.

    Both frames hold ``key_cols`` (the last one the kernel source), the point columns ``axes``, ``latency`` and
    ``_rank`` (0 = newest version); each key is compared on its newest version, each point on its fastest row.
    Returns a DataFrame, one row per key with at least :data:`SIBLING_MIN_POINTS` common points: the key columns,
    ``count``, the ``median`` / ``min`` / ``max`` ratio, and ``typical``, the kernel source's median of the keys'
    medians (dimensionless); empty where no point is common."""

    def fastest(df):
        df = df[df["_rank"] == df.groupby(key_cols)["_rank"].transform("min")]
        return df.groupby(key_cols + axes, as_index=False)["latency"].min()

    j = fastest(own).merge(fastest(other), on=key_cols + axes, suffixes=("_own", "_other"))
    j["ratio"] = j["latency_own"] / j["latency_other"]
    out = j.groupby(key_cols)["ratio"].agg(["count", "median", "min", "max"]).reset_index()
    out = out[out["count"] >= SIBLING_MIN_POINTS].copy()
    kernel = key_cols[-1]
    out["typical"] = out[kernel].map(out.groupby(kernel)["median"].median())
    return out.reset_index(drop=True)


def sibling_repair(own, other, key_cols: list[str], axis: str = "num_tokens", flag: float = SIBLING_FLAG,
                   label: str = "sibling"):
    """Rule 4: ``own``'s MoE rows with its collection outliers replaced by ``other``'s (the sibling chip's) rows.

    The frames are as :func:`sibling_ratios` reads them, plus ``_source``. A key whose median ratio exceeds
    ``flag`` x its kernel source's typical ratio gets the other chip's newest rows x the typical ratio instead of
    its own (its ``_source`` says so; its ``_rank`` stays its own newest).

    Returns ``(frame, replaced)``: the frame (``own`` itself when nothing is replaced) and the replaced keys as
    tuples of ``key_cols`` values, sorted."""
    import pandas as pd

    if own is None or other is None:
        return own, []
    per_key = sibling_ratios(own, other, key_cols, [axis])
    bad = per_key[per_key["median"] > flag * per_key["typical"]][key_cols + ["typical"]]
    if bad.empty:
        return own, []
    flagged = own[key_cols].merge(bad, on=key_cols, how="left")["typical"].notna().to_numpy()
    newest_other = other[other["_rank"] == other.groupby(key_cols)["_rank"].transform("min")]
    rank = own.groupby(key_cols, as_index=False)["_rank"].min()
    rows = newest_other.drop(columns=["_rank"]).merge(bad, on=key_cols).merge(rank, on=key_cols)
    rows["latency"] = rows["latency"] * rows["typical"]
    rows["_source"] = [f"{src} ({label}, x{t:.3f})" for src, t in zip(rows["_source"], rows["typical"])]
    out = pd.concat([own[~flagged], rows.drop(columns=["typical"])], ignore_index=True)
    return out, sorted(tuple(v) for v in bad[key_cols].itertuples(index=False, name=None))


def tables(system: str | None, stack: str) -> KernelTables | None:
    """The (memoised) :class:`KernelTables` of ``system`` under ``stack``; None without the extra or tables."""
    if system is None or not available():
        return None
    if table_path(system, "gemm", stack, "gemm_perf.parquet") is None:
        return None
    key = (system, stack)
    t = _TABLES.get(key)
    if t is None:
        t = _TABLES[key] = KernelTables(system, stack)
    return t
