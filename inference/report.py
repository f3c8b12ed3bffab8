"""``estimate()`` and its :class:`Report`: TTFT, TPOT, throughput, breakdown, memory, energy, cost."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from topo import CapacityError, Fabric, SpecError

from . import layout as _layout
from . import placement as _placement
from .estimate import DEFAULTS, Deployment, StepTime, _quantity, price_basis, price_basis_kind
from .models import ModelSpec, load_model


def format_bytes(n: float) -> str:
    """Bytes as decimal GB (1e9 bytes) or MB, for reports."""
    return f"{n / 1e9:.2f} GB" if abs(n) >= 1e8 else f"{n / 1e6:.1f} MB"


COST_KEYS = ("capex_per_chip", "amortisation_years", "power_price", "pue", "power_factor", "prices",
             "network_capex_per_chip", "network_power_per_chip")
KNOB_KEYS = ("compute_efficiency", "memory_efficiency", "op_overhead", "hbm_usable", "sram", "prefill_chunk",
              "placement", "act_dtype", "stack", "backend", "moe_skew", "kernels", "graph_batches",
              "max_num_tokens", "max_seqs", "host_per_seq", "moe_per_seq", "speed", "speculative")


@dataclass
class Report:
    """Result of :func:`estimate`. Times in s, rates in tokens/s, bytes, J, $.

    Attributes:
        ttft: time to first token of a request (prefill of the batch), s.
        tpot: mean time per output token over the output (decode steps), s.
        latency: end-to-end request time, ttft + (output - 1) x tpot, s.
        tokens_per_s: output tokens/s per ``"replica"``, per ``"chip"`` and for the ``"fabric"`` (the DP replicas
            that are up: a replica holding a chip the fabric's faults took out is down, ``extra["replicas_down"]``).
        layers: per-phase breakdown of one average layer and of the whole step (compute, memory,
            communication, exposed communication), list of dicts.
        ops: per-op rows (FLOPs, bytes, times, bottleneck, tier) for prefill and decode (at mean context).
        comm: the collectives of one layer with their simulated times.
        memory: per-chip footprint (bytes) and the SRAM/HBM placement.
        energy_per_token: J per output token (replica chips x (system power (``ChipSpec.system_power``: TDP +
            host share) x power factor + the fabric's network power per chip) x latency / tokens); NaN when the
            chip's TDP is not public (0 W).
        cost_per_mtok: $ per million output tokens.
        cost_per_hour: $ per hour of one replica.
    """

    model: str
    fabric: str
    chip: str
    tp: int
    ep: int
    pp: int
    dp: int
    chips_per_replica: int
    batch: int
    prompt: int
    output: int
    dtype: str
    kv_dtype: str
    overlap: bool
    ttft: float
    tpot: float
    latency: float
    tokens_per_s: dict[str, float]
    layers: list[dict]
    ops: list[dict]
    comm: list[dict]
    memory: dict[str, Any]
    energy_per_token: float
    cost_per_mtok: float
    cost_per_hour: float
    extra: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Flat dict of scalar figures (SI units; for sweeps and ``--json``)."""
        d: dict[str, Any] = {
            "model": self.model, "fabric": self.fabric, "chip": self.chip, "tp": self.tp, "ep": self.ep,
            "pp": self.pp, "dp": self.dp, "chips_per_replica": self.chips_per_replica,
            "chips_used": self.chips_per_replica * self.dp, "batch": self.batch, "prompt": self.prompt,
            "output": self.output, "dtype": self.dtype, "kv_dtype": self.kv_dtype, "overlap": self.overlap,
            "ttft_s": self.ttft, "tpot_s": self.tpot, "latency_s": self.latency,
            "tokens_per_s_replica": self.tokens_per_s["replica"], "tokens_per_s_chip": self.tokens_per_s["chip"],
            "tokens_per_s_fabric": self.tokens_per_s["fabric"],
            "energy_per_token_j": self.energy_per_token, "cost_per_mtok_usd": self.cost_per_mtok,
            "cost_per_hour_usd": self.cost_per_hour,
        }
        for k in ("weights", "kv_cache", "activations", "hbm_needed", "hbm_capacity"):
            d[f"mem_{k}_bytes"] = self.memory[k]
        for k, v in self.memory["placement"].items():
            d[f"tier_{k}"] = v
        for row in self.layers:
            if row["scope"] != "step":
                continue
            p = row["phase"]
            for k in ("compute", "flop", "memory", "communication", "exposed_communication"):
                d[f"{p}_{k}_s"] = row[k]
        d.update(self.extra)
        if self.provenance:
            d["stack"] = self.provenance.get("stack", "")
            d["backend"] = self.provenance.get("backend", "")
        return d

    def breakdown(self) -> dict[str, list[dict]]:
        """Per-op and per-collective rows (SI units; for ``--json``): ``ops`` (phase, op, block, layers,
        flops, bytes, time_s per layer, bound, source: ``table`` / ``model`` / ``table+model`` /
        ``roofline``) and ``collectives`` (phase, op, collective, size_bytes, group_size, groups, time_s,
        comm: the communication stack, algorithm: the one that ran)."""
        ops = [{"phase": r["phase"], "op": r["op"], "block": r["block"], "layers": r["layers"], "flops": r["flops"],
                "bytes": r["bytes"], "hbm_bytes": r.get("hbm_bytes", 0.0), "sram_bytes": r.get("sram_bytes", 0.0),
                "flop_time_s": r.get("flop_time", 0.0), "memory_time_s": r.get("memory_time", 0.0),
                "time_s": r["time"], "bound": r["bottleneck"], "source": r.get("source", "model")}
               for r in self.ops]
        colls = [{"phase": r["phase"], "block": r.get("block", ""), "op": r["op"], "collective": r.get("collective", ""),
                  "size_bytes": r["size"], "group_size": r["group_size"], "groups": r["groups"], "time_s": r["time"],
                  "comm": r.get("comm", ""), "algorithm": r.get("algorithm", "")}
                 for r in self.comm]
        return {"ops": ops, "collectives": colls}

    def _slo_line(self) -> str:
        """``largest_batch``'s answer: the batch, the targets it meets and what stops the next one."""
        x = self.extra
        met = " and ".join(f"{n} <= {x[k] * 1e3:g} ms" for n, k in (("TPOT", "slo_tpot_s"), ("TTFT", "slo_ttft_s"))
                           if x.get(k) is not None)
        nxt = f"{self.batch + 1:,}"
        why = {"tpot": f"batch {nxt}: TPOT {x['slo_next_tpot_s'] * 1e3:.3f} ms",
               "ttft": f"batch {nxt}: TTFT {x['slo_next_ttft_s'] * 1e3:.2f} ms",
               "memory": f"batch {nxt} does not fit memory",
               "search limit": "the largest batch searched"}[x["slo_limit"]]
        return (f"  SLO batch       {self.batch:12,d}   (the largest batch meeting {met}; {why}; bisection over "
                f"batch, {x['slo_estimates']} estimates; ASSUMPTION: TPOT and TTFT grow with the batch)")

    def table(self) -> str:
        """Human-readable summary (units in every label)."""
        m = self.memory
        lines = [
            f"{self.model} on {self.fabric} ({self.chip}): tp={self.tp} ep={self.ep} pp={self.pp} dp={self.dp} "
            f"({self.chips_per_replica} chip{'s' if self.chips_per_replica != 1 else ''}/replica), "
            f"batch={self.batch}, prompt={self.prompt}, "
            f"output={self.output}, dtype={self.dtype}, kv={self.kv_dtype}, overlap={self.overlap}",
            f"  TTFT            {self.ttft * 1e3:12.2f} ms"
            + (f"   (the batch's {self.batch} prompts prefilled at once; requests kept in flight one by one: "
               "scaleup serve --concurrency)" if self.batch > 1 else ""),
            f"  TPOT            {self.tpot * 1e3:12.3f} ms   ({1 / self.tpot:,.1f} output tokens/s per user"
            + (f"; speculative {self.extra['speculative']}: a {self.extra['decode_iteration_s'] * 1e3:.3f} ms draft + "
               f"verify step per {self.extra['tokens_per_step']:.3g} tokens" if "speculative" in self.extra else "")
            + ")",
            f"  latency         {self.latency:12.3f} s",
            *([self._slo_line()] if "slo_limit" in self.extra else []),
            f"  throughput      {self.tokens_per_s['replica']:12,.0f} output tokens/s per replica, "
            f"{self.tokens_per_s['chip']:,.1f} per chip, {self.tokens_per_s['fabric']:,.0f} fabric"
            + (f" ({self.dp - self.extra['replicas_down']} of {self.dp} replicas up: "
               f"{self.extra['replicas_down']} hold{'s' if self.extra['replicas_down'] == 1 else ''} a failed chip)"
               if self.extra.get("replicas_down") else ""),
            (f"  energy          {self.energy_per_token:12.4f} J per output token"
             + (f"   ({self.extra['power_per_replica_w'] / 1e3:,.2f} kW per replica: chips x system power x power factor"
                + (f" + network {self.extra['network_power_per_chip_w']:,.0f} W per chip"
                   if self.extra.get("network_power_per_chip_w") else "") + ")"
                if "power_per_replica_w" in self.extra else "")
             if self.energy_per_token == self.energy_per_token else  # NaN: the chip's TDP is not public
             f"  energy          {'n/a':>12}   ({self.chip}: TDP not public; power counts 0 in the cost)"),
            f"  cost            {self.cost_per_mtok:12.4f} $ per M output tokens   ({self.cost_per_hour:,.2f} $/h per replica"
            + (f", {self.extra['price_per_chip_hour_usd']:.3f} $ per chip-hour" if "price_per_chip_hour_usd" in self.extra
               else "") + ")"
            # replicas down still cost: the fabric pays for all dp replicas and earns the tokens of those up
            + (f"; fabric {self.cost_per_hour * self.dp:,.2f} $/h for its {self.dp} replicas, the "
               f"{self.extra['replicas_down']} down still charged: "
               f"{self.cost_per_hour * self.dp / (self.tokens_per_s['fabric'] * 3600.0) * 1e6:.4f} $ per M output "
               "tokens" if self.extra.get("replicas_down") and self.tokens_per_s.get("fabric") else ""),
            *([f"  network share   {self.extra['network_cost_per_mtok_usd']:12.4f} $ per M output tokens   (chip "
               f"{self.extra['chip_per_chip_hour_usd']:.3f} + network "
               f"{self.extra['network_per_chip_hour_usd']:.3f} $ per chip-hour: "
               f"{self.extra['network_capex_per_chip_usd']:,.0f} $ of switches and optics per chip, amortised"
               + (f", + {self.extra['network_power_per_chip_w']:,.0f} W of their power"
                  if self.extra.get("network_power_per_chip_w") else "") + ")"]
              if self.extra.get("network_in_price") else
              [f"  network share   {'n/a':>12}   (the $/chip-hour is all-in: the fabric's network capex "
               f"{self.extra['network_capex_per_chip_usd']:,.0f} $ per chip not added)"]
              if self.extra.get("network_capex_per_chip_usd") else []),
            f"  memory/chip     weights {format_bytes(m['weights'])}, KV {format_bytes(m['kv_cache'])}, "
            f"activations {format_bytes(m['activations'])}; {'SRAM' if m.get('sram_only') else 'HBM'} need "
            f"{format_bytes(m['hbm_needed'])} of {format_bytes(m['hbm_capacity'])}",
            f"  capacity        the model needs >= {m.get('chips_needed', 0)} "
            f"{'system' if m.get('sram_only') and self.chip in _placement.SPATIAL_CHIPS else 'chip'}"
            f"{'' if m.get('chips_needed', 0) == 1 else 's'} "
            f"(weights + KV of the batch over usable memory); this replica has {self.chips_per_replica}",
            "  placement       " + ", ".join(f"{k}: {v}" for k, v in m["placement"].items()),
        ]
        e = m.get("engine")
        if e:  # the serving stack's start-up KV sizing (inference/memory.py)
            rule = {"free": "of free memory", "total": "of total memory", "static": "static pool"}[e["rule"]]
            lines.append(f"  KV budget       {format_bytes(e['kv_budget'])} per chip ({e['kv_tokens']:,.0f} tokens; "
                         f"{e['fraction']:g} {rule} after weights {format_bytes(e['weights'])}, activations at "
                         f"{e['max_num_tokens']} tokens {format_bytes(e['activations'])}, CUDA graphs "
                         f"{format_bytes(e['cuda_graphs'])}, buffers {format_bytes(e['comm_buffers'])}, runtime "
                         f"{format_bytes(e['runtime'])})")
        p = self.provenance
        if p:
            counts = (f" ({p['kernels_measured']} kernel lookups measured, {p['kernels_analytic']} analytic)"
                      if "kernels_measured" in p else "")
            lines.append(f"  stack/backend   {p.get('stack')} / {p.get('backend')}{counts}")
            for g in p.get("inputs", []):  # what the user brought: their model file, chip, comm block
                lines.append(f"  given           {g}")
            if p.get("tables"):
                lines.append(f"  tables          {p['tables']}")
            if p.get("price"):
                lines.append(f"  cost basis      {p['price']}")
            for a in p.get("assumptions", []):
                lines.append(f"  assumption      {a}")
        lines += [
            "",
            f"  {'phase':8s} {'scope':6s} {'compute ms':>11s} {'flop ms':>9s} {'memory ms':>10s} "
            f"{'comm ms':>9s} {'exposed ms':>11s}",
        ]
        for r in self.layers:
            lines.append(f"  {r['phase']:8s} {r['scope']:6s} {r['compute'] * 1e3:11.4f} {r['flop'] * 1e3:9.4f} "
                         f"{r['memory'] * 1e3:10.4f} {r['communication'] * 1e3:9.4f} "
                         f"{r['exposed_communication'] * 1e3:11.4f}")
        lines += ["", f"  {'phase':8s} {'op':16s} {'layers':>6s} {'GFLOP':>10s} {'MB':>10s} {'time us':>10s} "
                      f"{'bound':>8s} {'source':>11s}"]
        for r in self.ops:
            lines.append(f"  {r['phase']:8s} {r['op']:16s} {r['layers']:6.1f} {r['flops'] / 1e9:10.3f} "
                         f"{r['bytes'] / 1e6:10.3f} {r['time'] * 1e6:10.2f} {r['bottleneck']:>8s} "
                         f"{r.get('source', ''):>11s}")
        if self.comm:
            lines += ["", f"  {'phase':8s} {'collective':20s} {'size KB':>10s} {'group':>6s} {'groups':>7s} "
                          f"{'time us':>10s}  comm stack/algorithm"]
            for r in self.comm:
                how = f"{r['comm']}/{r['algorithm']}" if r.get("comm") else ""
                lines.append(f"  {r['phase']:8s} {r['op']:20s} {r['size'] / 1e3:10.1f} {r['group_size']:6d} "
                             f"{r['groups']:7d} {r['time'] * 1e6:10.2f}  {how}")
        return "\n".join(lines)


def _combine(steps: list[tuple[StepTime, int]], pp: int) -> StepTime:
    """Totals of a sequence of steps (each repeated n times), for the prefill breakdown."""
    def tot(attr: str) -> float:
        return sum(getattr(st, attr) * n for st, n in steps)

    first = steps[0][0]
    return StepTime(first.rows, tot("compute"), tot("flop_time"), tot("mem_time"), tot("comm"), 0.0,
                    tot("serial"), tot("overlapped"), first.send, first.comm_rows, tot("host_wait"))


def _phase_rows(phase: str, st: StepTime, layers: float, overlap: bool) -> list[dict]:
    # a host-bound step's overlapped wait for the host (host_per_seq) is not communication
    exposed = st.comm if not overlap else max(0.0, st.overlapped - st.compute - st.host_wait)
    step = {"phase": phase, "scope": "step", "compute": st.compute, "flop": st.flop_time,
            "memory": st.mem_time, "communication": st.comm, "exposed_communication": exposed,
            "time": st.time(overlap), "time_serial": st.serial, "time_overlapped": st.overlapped}
    layer = {k: (v / layers if isinstance(v, float) else v) for k, v in step.items()}
    layer["scope"] = "layer"
    return [layer, step]


def _ttft(dep: Deployment, batch: int, prompt: int, placement: dict[str, str], overlap: bool) -> float:
    """TTFT (s) of the batch: the target's prefill and the speculative draft's own (:meth:`Deployment.speculative_prefill`)."""
    t, steps = dep.prefill(batch, prompt, placement, overlap)
    return t + dep.speculative_prefill(batch, prompt, steps, overlap)


def _check_int(name: str, v: object, lo: int = 1) -> int:
    """``v`` as an int (numpy integers too); a SpecError naming ``name`` unless it is an integer >= ``lo``."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
        raise SpecError(f"{name}: must be an integer >= {lo}, got {v!r}")
    return int(v)


def _suggest(dep: Deployment, batch: int, prompt: int, output: int, kw: dict) -> str:
    """What would fit: the smallest TP at this batch, and the largest batch at this TP."""
    hints = []
    n = dep.fabric.n_chips
    tp = 1
    while tp * dep.pp <= n and tp <= 1024:
        ep = dep.ep if (dep.ep == 1 or dep.ep % tp == 0) else tp
        if tp != dep.tp or ep != dep.ep:
            try:
                d2 = Deployment(dep.model, dep.fabric, tp=tp, ep=ep, pp=dep.pp, dtype=dep.dtype,
                                kv_dtype=dep.kv_dtype, **kw)
                if d2.memory(batch, prompt, output)["fits"]:
                    hints.append(f"smallest tp that fits: {tp}" + (f" (ep={ep})" if ep != dep.ep else ""))
                    break
            except Exception:  # noqa: BLE001 - an infeasible candidate just is not suggested
                pass
        tp *= 2
    lo = max_batch(dep, prompt, output, limit=batch)
    if lo:
        hints.append(f"largest batch that fits at tp={dep.tp}: {lo}")
    elif dep.memory(1, 1, 1)["fits"]:
        hints.append(f"no batch fits at tp={dep.tp} (one sequence of {prompt}+{output} tokens is too long)")
    else:
        hints.append(f"no batch fits at tp={dep.tp} (weights alone exceed HBM)")
        if len(hints) == 1:  # no tp on this fabric fits either: name what would (as fleet.plan's refusal does)
            from topo import DTYPE_BYTES

            w = DTYPE_BYTES.get(dep.dtype, 1.0)
            smaller = [d for d in dep.chip.supported_dtypes() if DTYPE_BYTES.get(d, w) < w]
            hints.append(f"use a fabric with more chips (a larger tp, ep or pp than its {n} allow) or a chip with more "
                         "memory" + (f", or a smaller --dtype ({', '.join(smaller)})" if smaller else
                                     f" ({dep.dtype} is the smallest --dtype {dep.chip.name} runs)"))
    return "; ".join(hints)


def estimate(model: ModelSpec | str, fabric: Fabric | str, tp: int | None = None, ep: int = 1, pp: int | None = None,
             dp: int | None = None, batch: int = 32, prompt: int = 2048, output: int = 256,
             dtype: str = "fp8", kv_dtype: str | None = None, overlap: bool = False,
             price_per_chip_hour: float | None = None, decode_points: int = 8,
             compute_efficiency: float | None = None, memory_efficiency: float | None = None,
             op_overhead: float | None = None, hbm_usable: float | None = None, sram: bool = True,
             prefill_chunk: int | None = 8192, act_dtype: str | None = None, stack: str | None = None,
             backend: str = "auto", ideal: bool = False, slo_tpot: Any = None, slo_ttft: Any = None,
             **knobs: Any) -> Report:
    """Token latency, throughput, memory, energy and cost of serving ``model`` on ``fabric`` (``scaleup infer``:
    the same parameter names and defaults).

    Args:
        model: a preset name (:data:`inference.MODELS`), a YAML path or a :class:`ModelSpec`.
        fabric: a preset name / YAML path (``topo.load``) or a :class:`topo.Fabric`.
        tp, ep, pp: tensor-, expert- and pipeline-parallel degrees (``ep`` is 1 or a multiple of ``tp``).
            ``None`` (the default of ``tp`` and ``pp``, as ``scaleup infer``) or ``"auto"``: chosen by
            :func:`inference.layout.auto_layout` (8 and 1 on HBM chips; on SRAM-only chips the fewest chips that hold
            the model: one stage per CS-3 wafer, LPU nodes of 8 x stages).
        dp: replicas; default fills the fabric (chips // (max(tp, ep) x pp)).
        batch: sequences per replica decoded together.
        prompt, output: tokens per request.
        dtype: weights and GEMM compute (``fp8``, ``bf16``, ``fp4``...); ``kv_dtype`` defaults to it.
            Activations and messages are BF16 for 8-bit-or-narrower dtypes (``act_dtype`` overrides).
        overlap: hide each layer's communication behind its compute (both figures are reported).
        price_per_chip_hour: $/chip-hour; else capex + power (``capex_per_chip``, ``amortisation_years``,
            ``power_price`` $/kWh, ``pue``; defaults in :data:`inference.DEFAULTS`, assumptions).
        decode_points: contexts sampled over the output to average the decode step.
        knobs: ``compute_efficiency``, ``memory_efficiency``, ``op_overhead`` (s), ``hbm_usable``,
            ``sram`` (False to ignore on-die SRAM), ``prefill_chunk`` (tokens, None = unchunked),
            ``placement`` (``tray``/``strided``/``random``), ``act_dtype``, ``power_factor``, ``moe_skew``
            (routing skew of the analytic MoE kernels: 0 balanced, 1 uniform top-k, default the profile's),
            ``graph_batches`` (CUDA-graph decode batch sizes captured with padding: each attention group's
            decode batch runs padded to the smallest size that holds it; default none, no padding),
            ``host_per_seq`` (s of host work per sequence per iteration on an x86 host; an iteration takes
            max(GPU step, host); default the profile's 0, off), ``moe_per_seq`` (s per sequence of the busiest
            attention group per MoE layer per iteration, on the GPU; default the profile's calibrated value,
            :data:`inference.kernels` TensorRT-LLM profiles; 0 turns it off), ``speed`` (the chips' speed factor, default the fabric's
            ``meta["chip_speed"]``, 1 without stragglers: every kernel, measured or analytic, and the per-sequence MoE cost take 1 / speed as long, communication and host costs unchanged;
            or one factor per chip of the fabric: the slowest chip of the replicas that are up), ``prices`` (per-chip price overrides, dict
            or YAML path), ``speculative`` (speculative decoding, :mod:`inference.speculative`: ``"mtp:3@0.8"``,
            ``"draft:llama3.1-8b:4@0.7"``, ``"ngram:4@0.5"`` or a :class:`Speculative`; TPOT is the draft + verify
            iteration over the expected accepted tokens; default off).
        stack: serving stack profile, ``trtllm`` (default, calibrated), ``vllm``, ``sglang`` or ``ideal``
            (the physics roofline: peak x efficiency, no kernel floors, launch or framework costs).
        ideal: True = ``stack="ideal"`` (``scaleup infer --ideal``, as ``collectives``' ``ideal=True``); with
            another ``stack`` a SpecError.
        backend: ``auto`` (measured kernel tables of aiconfigurator-core when installed and the chip has
            them, else analytic), ``measured`` (error if unavailable) or ``analytic``.
        slo_tpot, slo_ttft: targets, s (or ``"20ms"``; ``scaleup infer --slo-tpot 20ms``): the report is then the
            one at the **largest batch** whose TPOT (and TTFT: the batch's prompts prefilled at once) meet them,
            ``batch`` unused (:func:`largest_batch`: doubling, then bisection over batch with this same estimate;
            ``extra["slo_*"]`` say what stops the next batch).

    Raises:
        CapacityError: the deployment does not fit in HBM (says by how much and what would fit).
        SpecError: ``slo_tpot`` / ``slo_ttft`` not met even at batch 1.
    """
    if slo_tpot is not None or slo_ttft is not None:
        return largest_batch(model, fabric, slo_tpot=slo_tpot, slo_ttft=slo_ttft, tp=tp, ep=ep, pp=pp, dp=dp,
                             prompt=prompt, output=output, dtype=dtype, kv_dtype=kv_dtype, overlap=overlap,
                             price_per_chip_hour=price_per_chip_hour, decode_points=decode_points,
                             compute_efficiency=compute_efficiency, memory_efficiency=memory_efficiency,
                             op_overhead=op_overhead, hbm_usable=hbm_usable, sram=sram, prefill_chunk=prefill_chunk,
                             act_dtype=act_dtype, stack=stack, backend=backend, ideal=ideal, **knobs)
    if ideal:  # --ideal: the physics alone, the same as stack="ideal"
        if stack is not None and str(stack).lower() != "ideal":
            raise SpecError(f"ideal: stack={stack!r} is a serving stack, ideal=True the physics without one; drop one")
        stack = "ideal"
    batch = _check_int("batch", batch)
    prompt = _check_int("prompt", prompt)
    output = _check_int("output", output)
    _check_int("decode_points", decode_points)
    unknown = set(knobs) - set(COST_KEYS) - set(KNOB_KEYS)
    if unknown:
        raise SpecError(f"estimate: unknown option(s) {', '.join(sorted(unknown))}; known: "
                        f"{', '.join(COST_KEYS + KNOB_KEYS)}")
    knobs.update(compute_efficiency=compute_efficiency, memory_efficiency=memory_efficiency,
                 op_overhead=op_overhead, hbm_usable=hbm_usable, sram=sram, prefill_chunk=prefill_chunk,
                 act_dtype=act_dtype, stack=stack, backend=backend)
    dep_kw = {k: v for k, v in knobs.items() if k in KNOB_KEYS}
    # a sweep YAML's 3e4 / 1e-1 (strings under YAML 1.1) are numbers, as the other knobs' are
    cost_kw = {k: (v if k == "prices" else _quantity(k, v, "number")) for k, v in knobs.items() if k in COST_KEYS}
    if isinstance(price_per_chip_hour, str):  # "$2.50" as a prices entry (load_prices) and `serve --price` read it
        price_per_chip_hour = price_per_chip_hour.strip().lstrip("$").replace(",", "")
    price_per_chip_hour = _quantity("price_per_chip_hour", price_per_chip_hour, "number")
    tp = None if tp == "auto" else tp  # "auto" (sweep specs, where null means "missing") = None
    pp = None if pp == "auto" else pp
    spec = load_model(model)
    if spec.context and prompt + output > spec.context:  # a 200k prompt on Llama 3.1 was priced as if served
        raise SpecError(f"prompt + output: {prompt:,} + {output:,} tokens exceed {spec.name}'s context of "
                        f"{spec.context:,} (config.json max_position_embeddings); shorten them, or give a model "
                        "YAML with a longer `context:` for a rope-scaled (YaRN) deployment")
    if tp is None or pp is None:
        tp, pp = _layout.auto_layout(model, fabric, dtype=dtype, kv_dtype=kv_dtype, batch=batch, prompt=prompt,
                                        output=output, tp=tp, pp=pp, hbm_usable=hbm_usable)
    dep = Deployment(model, fabric, tp=tp, ep=ep, pp=pp, dp=dp, dtype=dtype, kv_dtype=kv_dtype, **dep_kw)
    mem = dep.memory(batch, prompt, output)
    mem.setdefault("chips_needed", _placement.chips_needed(dep.model, dep.chip, dep.mean_weight_bytes, dep.kv,
                                                            batch, prompt + output, dep.hbm_usable))
    if not mem["fits"] and mem.get("sram_only"):
        raise CapacityError(_placement.capacity_message(dep, mem, batch, prompt, output))
    if not mem["fits"]:
        over = mem["hbm_needed"] - mem["hbm_usable"]
        raise CapacityError(
            f"memory: {dep.model.name} ({dtype}, batch={batch}, {prompt}+{output} tokens, tp={dep.tp}, "
            f"ep={dep.ep}, pp={dep.pp}) needs {format_bytes(mem['hbm_needed'])} per chip (weights "
            f"{format_bytes(mem['weights'])}, KV {format_bytes(mem['kv_cache'])}, activations "
            f"{format_bytes(mem['activations'])}) but {dep.chip.name} offers {format_bytes(mem['hbm_usable'])} "
            f"usable HBM; over by {format_bytes(over)}; {_suggest(dep, batch, prompt, output, dep_kw)}")
    placement = mem["placement"]
    pp = dep.pp

    ttft, pf_steps = dep.prefill(batch, prompt, placement, overlap)
    ttft += dep.speculative_prefill(batch, prompt, pf_steps, overlap)  # the draft's own KV cache of the prompt
    st_pf = _combine([(st, n) for st, n in pf_steps], pp)

    n = max(1, min(decode_points, output - 1)) if output > 1 else 1
    ctxs = [prompt + int(round((i + 0.5) * (output - 1) / n)) for i in range(n)] if output > 1 else [prompt]
    steps = [dep.decode_step(batch, c, placement) for c in ctxs]
    gain = dep.tokens_per_step  # tokens per sequence per decode step (speculative decoding: the accepted length)
    tpots = [(pp * s.time(overlap) + (pp - 1) * s.send) / gain for s in steps]
    tpot = sum(tpots) / len(tpots)
    tpot_serial = sum(pp * s.serial + (pp - 1) * s.send for s in steps) / len(steps) / gain
    tpot_overl = sum(pp * s.overlapped + (pp - 1) * s.send for s in steps) / len(steps) / gain
    latency = ttft + (output - 1) * tpot

    mid = steps[len(steps) // 2]
    layers_stage = dep.model.layers / pp
    rows = _phase_rows("prefill", st_pf, layers_stage, overlap) + _phase_rows("decode", mid, layers_stage, overlap)
    per_replica = batch * output / latency
    chips = dep.replica_chips
    live = dep.live_replicas()
    tps = {"replica": per_replica, "chip": per_replica / chips, "fabric": per_replica * live}
    chip_h, net_h = dep.cost_parts(price_per_chip_hour, **cost_kw)  # first: it checks the cost knobs, power_factor too
    cph = chips * (chip_h + net_h)
    net_capex = cost_kw.get("network_capex_per_chip")
    net_capex = dep.network_capex_per_chip() if net_capex is None else float(net_capex)
    from topo import network_capex

    counted = network_capex(dep.fabric)  # the fabric's switches and optics, counted and priced by its cost: block
    net_w = cost_kw.get("network_power_per_chip")
    net_w = counted.power_per_chip if net_w is None else float(net_w)  # switches + optics, mean draw, W
    pf = cost_kw.get("power_factor", DEFAULTS["power_factor"])
    # a chip whose TDP is not public (tdp 0: TPU v5p, Trainium2) has no energy figure, not 0 J
    watts = dep.chip.system_power  # TDP + host share: the basis the cost charges
    draw = watts * pf + net_w  # W per chip: the chip's mean draw and its share of the network's
    energy = chips * draw * latency / (batch * output) if watts > 0 else float("nan")
    cost = cph / (per_replica * 3600.0) * 1e6
    extra = {
        "ttft_serial_s": _ttft(dep, batch, prompt, placement, False),
        "ttft_overlapped_s": _ttft(dep, batch, prompt, placement, True),
        "prefill_steps": sum(n for _, n in pf_steps),
        "tpot_serial_s": tpot_serial, "tpot_overlapped_s": tpot_overl,
        "decode_tokens_per_s_replica": batch / tpot,
        "decode_padded_batch": dep.decode_padded(math.ceil(batch / min(pp, batch))),
        "pp_send_prefill_s": st_pf.send, "pp_send_decode_s": mid.send,
        "replicas_down": dep.dp - live,  # replicas holding a chip the fabric's faults took out
        # what a buyer prices: the chip-hour behind the $/Mtok, and the replica's mean draw (chips x system power x power
        # factor, the power of the energy figure; NaN when the TDP is not public)
        "price_per_chip_hour_usd": cph / chips,
        "power_per_replica_w": chips * draw if watts > 0 else float("nan"),
        # the fabric's network (switches, optics: topo.network_capex) per chip, and the part of the chip-hour and of
        # the $/Mtok it adds (0 when the price is a given or cloud $/chip-hour: all-in)
        "network_capex_per_chip_usd": net_capex,
        "network_power_per_chip_w": net_w,
        "chip_per_chip_hour_usd": chip_h,
        "network_per_chip_hour_usd": net_h,
        "network_cost_per_mtok_usd": cost * net_h / (chip_h + net_h) if chip_h + net_h > 0 else 0.0,
        "network_in_price": net_h > 0,
    }
    extra["tokens_per_step"] = gain  # tokens per sequence per decode step: 1, or speculative decoding's E
    if dep.speculative is not None:
        extra.update(speculative=dep.speculative.label(), decode_iteration_s=tpot * gain)
    price_args = (dep.chip, price_per_chip_hour, cost_kw.get("prices"), cost_kw.get("capex_per_chip"), dep.fabric.name)
    net_spec = getattr(dep.fabric, "network_cost", None)  # where the counted network's prices come from
    net_source = ("given (network_capex_per_chip)" if cost_kw.get("network_capex_per_chip") is not None
                  else net_spec.source if net_spec is not None else "")
    extra["network_priced"] = counted.priced  # False: switches and no cost: block, counted as $0 (the basis says so)
    # True: the chip's system capex holds the fabric's switches (cost: included), so its $0 network part is not "free"
    # (a fabric without switches whose chip links are not priced apart too: topo show's "in the chip's system capex")
    extra["network_included"] = cost_kw.get("network_capex_per_chip") is None and (
        counted.included or (counted.switches == 0 and counted.total_usd == 0))
    unpriced = ("" if counted.priced or cost_kw.get("network_capex_per_chip") is not None else
                f"{counted.switches:,} switch{'es' if counted.switches != 1 else ''}, no cost: block")
    basis = price_basis(*price_args, network_capex_per_chip=net_capex, network_source=net_source,
                        network_power_per_chip=net_w, network_unpriced=unpriced,
                        **{k: cost_kw.get(k) for k in ("amortisation_years", "power_price", "pue", "power_factor")})
    return Report(
        model=dep.model.name, fabric=dep.fabric.name, chip=dep.chip.name, tp=dep.tp, ep=dep.ep, pp=pp, dp=dep.dp,
        chips_per_replica=chips, batch=batch, prompt=prompt, output=output, dtype=dtype, kv_dtype=dep.kv_dtype,
        overlap=bool(overlap), ttft=ttft, tpot=tpot, latency=latency, tokens_per_s=tps, layers=rows,
        ops=pf_steps[0][0].rows + mid.rows, comm=pf_steps[0][0].comm_rows + mid.comm_rows, memory=mem, energy_per_token=energy,
        cost_per_mtok=cost, cost_per_hour=cph, extra=extra,
        provenance={**dep.provenance(), "price": basis, "price_kind": price_basis_kind(*price_args)})


#: the largest batch :func:`largest_batch` tries (sequences per replica)
SLO_BATCH_LIMIT = 1 << 16


def largest_batch(model: ModelSpec | str, fabric: Fabric | str, *, slo_tpot: Any = None, slo_ttft: Any = None,
                  **estimate_kw: Any) -> Report:
    """The :func:`estimate` report at the largest batch whose TPOT <= ``slo_tpot`` and TTFT <= ``slo_ttft`` (s, or
    ``"20ms"``; either or both), and that fits memory: ``estimate(..., slo_tpot=...)``, ``scaleup infer --slo-tpot``.

    Search: batch 1, 2, 4, ... until one misses a target or does not fit (at most :data:`SLO_BATCH_LIMIT`), then
    bisection between the last batch that met them and that one, every point the same estimate. It finds where the
    targets stop being met as the batch grows (ASSUMPTION: TPOT and TTFT grow with the batch; a measured table's
    steps can leave a larger batch that meets them too). ``extra``: ``slo_tpot_s`` / ``slo_ttft_s`` (None when not
    given), ``slo_limit`` (what stops batch + 1: ``"tpot"``, ``"ttft"``, ``"memory"`` or ``"search limit"``),
    ``slo_next_tpot_s`` / ``slo_next_ttft_s`` (batch + 1's, NaN where it does not fit), ``slo_estimates``.

    Raises:
        SpecError: a target that is not a time > 0, none given, or not met at batch 1 (the message says by how much).
        CapacityError: batch 1 does not fit (as :func:`estimate`).
    """
    targets = {}
    for name, v in (("slo_tpot", slo_tpot), ("slo_ttft", slo_ttft)):
        v = _quantity(name, v, "time")
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 < v < math.inf:
            raise SpecError(f"{name}: must be a time > 0 (e.g. 20ms, or 0.02 s in Python), got {v!r}")
        targets[name] = float(v)
    if not targets:
        raise SpecError("largest_batch: give slo_tpot and/or slo_ttft (s), the targets the batch must meet")
    estimate_kw.pop("batch", None)
    reports: dict[int, Report | None] = {}

    def run(b: int) -> Report | None:
        if b not in reports:
            try:
                reports[b] = estimate(model, fabric, batch=b, **estimate_kw)
            except CapacityError:
                if b == 1:
                    raise
                reports[b] = None  # does not fit: as a miss
        return reports[b]

    def meets(r: Report | None) -> bool:
        return r is not None and r.tpot <= targets.get("slo_tpot", math.inf) and r.ttft <= targets.get("slo_ttft",
                                                                                                          math.inf)

    first = run(1)
    if not meets(first):
        miss = [f"{n[4:].upper()} {getattr(first, n[4:]) * 1e3:.4g} ms > {t * 1e3:g} ms" for n, t in targets.items()
                if getattr(first, n[4:]) > t]
        raise SpecError(f"{'/'.join(targets)}: not met even at batch 1 ({', '.join(miss)} at tp={first.tp}, "
                        f"pp={first.pp} on {first.fabric}); loosen the target, or try a larger tp, another fabric "
                        "or stack")
    lo, hi = 1, 2
    while hi <= SLO_BATCH_LIMIT and meets(run(hi)):
        lo, hi = hi, hi * 2
    hi = min(hi, SLO_BATCH_LIMIT + 1)  # past the limit: every batch searched met them
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if meets(run(mid)) else (lo, mid)
    best = reports[lo]
    assert best is not None
    nxt = run(hi) if hi <= SLO_BATCH_LIMIT else None
    if hi > SLO_BATCH_LIMIT:
        limit = "search limit"
    elif nxt is None:
        limit = "memory"
    elif nxt.tpot > targets.get("slo_tpot", math.inf):
        limit = "tpot"
    else:
        limit = "ttft"
    best.extra.update(slo_tpot_s=targets.get("slo_tpot"), slo_ttft_s=targets.get("slo_ttft"), slo_limit=limit,
                      slo_next_tpot_s=nxt.tpot if nxt is not None else float("nan"),
                      slo_next_ttft_s=nxt.ttft if nxt is not None else float("nan"), slo_estimates=len(reports))
    return best


def max_batch(dep: Deployment, prompt: int, output: int, limit: int = 1 << 16) -> int:
    """Largest batch whose footprint fits the chip's usable HBM (0 if none)."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if dep.memory(mid, prompt, output)["fits"]:
            lo = mid
        else:
            hi = mid - 1
    return lo





#: rows of :func:`compare_table`: (label with unit, :meth:`Report.to_dict` key, scale (None: a word), format)
COMPARE_ROWS = (
    ("TTFT ms", "ttft_s", 1e3, "{:.2f}"),
    ("TPOT ms", "tpot_s", 1e3, "{:.3f}"),
    ("latency s", "latency_s", 1.0, "{:.3f}"),
    ("output tokens/s per replica", "tokens_per_s_replica", 1.0, "{:,.0f}"),
    ("output tokens/s per chip", "tokens_per_s_chip", 1.0, "{:,.1f}"),
    ("output tokens/s fabric", "tokens_per_s_fabric", 1.0, "{:,.0f}"),
    ("replicas", "dp", 1, "{:d}"),
    ("chips per replica", "chips_per_replica", 1, "{:d}"),
    ("tp", "tp", 1, "{:d}"),
    ("ep", "ep", 1, "{:d}"),
    ("pp", "pp", 1, "{:d}"),
    ("decode exposed comm ms/step", "decode_exposed_communication_s", 1e3, "{:.3f}"),
    ("prefill exposed comm ms", "prefill_exposed_communication_s", 1e3, "{:.2f}"),
    ("weights held in", "tier_weights", None, "{}"),  # HBM, or SRAM on the SRAM-only chips (CS-3, Groq)
    ("HBM/SRAM needed GB/chip", "mem_hbm_needed_bytes", 1e-9, "{:.1f}"),  # that memory's figures
    ("HBM/SRAM capacity GB/chip", "mem_hbm_capacity_bytes", 1e-9, "{:.0f}"),
    ("energy J per output token", "energy_per_token_j", 1.0, "{:.4f}"),
    ("power kW per replica", "power_per_replica_w", 1e-3, "{:.2f}"),
    ("cost $ per M output tokens", "cost_per_mtok_usd", 1.0, "{:.4f}"),
    ("cost $ per chip-hour", "price_per_chip_hour_usd", 1.0, "{:.3f}"),
    ("of which network $ per chip-hour", "network_per_chip_hour_usd", 1.0, "{:.3f}"),
    ("cost $ per hour per replica", "cost_per_hour_usd", 1.0, "{:,.2f}"),
)


def compare(model: ModelSpec | str, fabrics: Sequence[Fabric | str] | str, *, unfit: dict[str, str] | None = None,
            **kw: Any) -> list[Report]:
    """:func:`estimate` of one deployment on each of ``fabrics`` (``scaleup infer --compare``).

    ``fabrics``: Fabric objects, preset names / YAML paths, or one comma-separated string of them (a name given
    twice is one column, as ``fleet.plan`` searches a repeated candidate once).
    ``kw``: as :func:`estimate` (tp, batch, prompt, output, ...). Returns one :class:`Report` per fabric.
    ``unfit``: a dict to collect the fabrics the deployment does not fit on (fabric name -> the CapacityError's
    line) instead of raising, as ``scaleup infer --compare`` does (:func:`compare_table` lists them); their reports
    are left out. Raises the first CapacityError all the same when none fits.
    """
    if isinstance(fabrics, str):
        fabrics = [f.strip() for f in fabrics.split(",") if f.strip()]
    if all(isinstance(f, str) for f in fabrics):  # "dgx-h100,dgx-h100" gave two equal columns (plan searches one)
        fabrics = list(dict.fromkeys(fabrics))
    if not fabrics:
        raise SpecError("--compare: expected comma-separated fabrics, e.g. maia200,gb200-nvl72")
    if unfit is None:
        return [estimate(model, f, **kw) for f in fabrics]
    out, first = [], None
    for f in fabrics:
        try:
            out.append(estimate(model, f, **kw))
        except CapacityError as exc:
            unfit[getattr(f, "name", str(f))] = str(exc)
            first = first or exc
    if not out and first is not None:
        raise first
    return out


def compare_table(reports: Sequence[Report], unfit: dict[str, str] | None = None) -> str:
    """Reports side by side, one column per fabric; units in the row labels (ms, s, tokens/s, GB, J, $);
    ``unfit`` (from :func:`compare`): the fabrics left out, each with why, under the table."""
    if not reports:  # was an IndexError
        raise SpecError("compare_table: no reports to set side by side; give inference.compare(...)'s list")
    r0 = reports[0]
    # the layout is common unless a column chose its own (SRAM-only systems: tp/pp from capacity): then per column
    same = len({(r.tp, r.ep, r.pp) for r in reports}) == 1
    layout = f"tp={r0.tp} ep={r0.ep} pp={r0.pp}" if same else "tp/ep/pp per column"
    # one batch, or (largest_batch: the largest meeting an SLO on each fabric) a batch per column, in a row
    one_batch = len({r.batch for r in reports}) == 1
    lines = [f"{r0.model}: {layout}, batch={r0.batch if one_batch else 'per column'}, prompt={r0.prompt}, "
             f"output={r0.output}, dtype={r0.dtype}, kv={r0.kv_dtype}, overlap={r0.overlap}"]
    dicts = [r.to_dict() for r in reports]
    prov = [r.provenance for r in reports]
    kernels = [f"{p.get('stack', '')}/{p.get('backend', '')}" for p in prov]
    # a long chip name (or stack/backend cell) stays apart too
    width = max(14, *(max(len(r.fabric), len(r.chip), len(k)) + 2 for r, k in zip(reports, kernels)))
    lines.append(f"{'':30s}" + "".join(f"{r.fabric:>{width}s}" for r in reports))
    lines.append(f"{'chip':30s}" + "".join(f"{r.chip:>{width}s}" for r in reports))
    if not one_batch or "slo_limit" in r0.extra:
        label = "batch (largest meeting SLOs)" if "slo_limit" in r0.extra else "batch"
        lines.append(f"{label:30s}" + "".join(f"{r.batch:>{width},d}" for r in reports))
    for label, key, scale, fmt in COMPARE_ROWS:
        cells = []
        for d in dicts:
            v = d.get(key, 0)
            if scale is None:  # a word (the memory the weights are in)
                cells.append(f"{str(v).upper():>{width}s}")
                continue
            v = int(v) if fmt == "{:d}" else v * scale
            cell = "n/a" if v != v else fmt.format(v)  # NaN: energy of a chip without TDP
            if key.startswith("mem_") and 0 < v < 1:  # a Groq LPU's 0.23 GB of SRAM printed as "0"
                cell = f"{v:.2f}"
            if key == "network_per_chip_hour_usd" and not v:  # a $0 network part says why (topo show's basis)
                cell = ("all-in" if d.get("network_capex_per_chip_usd", 0) > 0 and not d.get("network_in_price")
                        and not d.get("network_included") else "in capex" if d.get("network_included")
                        else "not priced" if not d.get("network_priced", True) else cell)
            cells.append(f"{cell:>{width}s}")
        lines.append(f"{label:30s}" + "".join(cells))
    # where each column's figures come from: measured kernel tables or the analytic model (a chip without tables
    # runs a transferred profile), and whether its price is sourced, an ASSUMPTION or given; then each column's
    # cost basis and assumptions in full, once per distinct text, naming the fabrics it applies to
    lines.append(f"{'kernels (stack/backend)':30s}" + "".join(f"{k:>{width}s}" for k in kernels))
    lines.append(f"{'price basis':30s}" + "".join(f"{p.get('price_kind', ''):>{width}s}" for p in prov))
    notes: dict[str, list[str]] = {}
    for r, p in zip(reports, prov):
        for text in ([f"given: {g}" for g in p.get("inputs", [])]  # what the user brought (their files)
                     + ([f"cost basis: {p['price']}"] if p.get("price") else []) + list(p.get("assumptions", []))):
            notes.setdefault(text, []).append(r.fabric)
    if notes:
        lines += ["", "assumptions and sources (fabrics they apply to):"]
        lines += [f"  [{', '.join(fabs)}] {text}" for text, fabs in notes.items()]
    if unfit:
        lines += ["", "not compared, the deployment does not fit:"]
        lines += [f"  [{name}] {why}" for name, why in unfit.items()]
    return "\n".join(lines)
