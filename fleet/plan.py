"""Deployment planning: the cheapest fleet that meets TTFT/TPOT SLOs at a request rate.

:func:`plan` searches, for each candidate chip (a fabric preset the replicas run on):

- **colocated** deployments over TP (x EP) degrees and batch limits; for each, the fewest replicas that
  meet the SLOs, found by growing the count from a throughput lower bound until the simulation meets them
  and then bisecting (assumes more replicas never hurt, true for the least-loaded router);
- **disaggregated** deployments for every (prefill chip, decode chip) pair, each at the TP of its chip's
  best colocated deployment (or its smallest TP that fits): first the fewest prefill replicas that meet
  the TTFT objective with a generous decode pool, then the fewest decode replicas that meet both. The
  prefill:decode ratio is the outcome.

Every figure comes from :func:`simulate_serving` of the same synthetic trace (``rate`` x ``duration``
under ``seed``). A deployment *meets the SLOs* when at least ``attainment`` (default 0.9, DistServe's
convention) of its requests have TTFT <= ``slo_ttft`` and TPOT <= ``slo_tpot``. The plan is the feasible
deployment of lowest fleet $/h (at a fixed rate, also the lowest $/token); the others are listed with why
they lost. A plan is only ever returned from a simulation that met the SLOs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topo import CapacityError, ScaleupError, SpecError

from .pool import _tokens_per_step, kv_capacity_tokens
from .sim import (
    KV_FIT_FIX,
    ServingResult,
    build_step_model,
    check_serving_size,
    check_trace_context,
    simulate_serving,
)
from .spec import FleetSpec, KVNetworkSpec, PoolSpec
from .stepmodel import StepCache, StepModelLike
from .trace import Trace, check_burstiness, poisson_trace

__all__ = ["PlanCandidate", "PlanPoint", "PlanResult", "load_prices", "plan"]


def load_prices(path: str | os.PathLike) -> dict[str, float]:
    """Read a prices YAML: ``{chip or fabric preset: $ per chip-hour}`` (numbers or ``"$2.50"``). The file of
    ``scaleup infer --prices`` reads too (one prices file for every run): the mapping may sit under a top-level
    ``prices:`` key, and an entry may be ``{price_per_hour: $/h}`` or ``{capex: $}`` (priced by inference's cost
    model, :func:`inference.chip_cost_per_hour`, for the chip preset or bundled fabric the key names).

    Raises:
        SpecError: a missing or non-YAML file, a value that is not a number >= 0, a capex entry whose key names
            no chip preset or bundled fabric.
    """
    from pathlib import Path

    import yaml

    from topo.loader import read_text_utf8

    p = Path(path)
    if not p.is_file():
        raise SpecError(f"prices: file {path!r} not found")
    try:
        d = yaml.safe_load(read_text_utf8(p, "prices"))
    except yaml.YAMLError as exc:
        raise SpecError(f"prices {p.name}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(d, dict):
        raise SpecError(f"prices {p.name}: must map chip names to $ per chip-hour, e.g. 'maia200: 3.0'")
    return _price_table(d)


def _price_table(d: dict[str, Any]) -> dict[str, float]:
    """``{key: $ per chip-hour}`` from a mapping as a prices YAML holds it (:func:`load_prices`; ``plan(prices=...)``
    given as a dict reads the same): values numbers, ``"$2.50"``, ``{price_per_hour: $/h}`` or ``{capex: $}``,
    optionally under a top-level ``prices:`` key.

    Raises:
        SpecError: a value that is not a number >= 0, a capex entry whose key names no chip preset or bundled fabric.
    """
    from topo import parse_quantity

    if isinstance(d, dict) and isinstance(d.get("prices"), dict):  # infer's --prices file
        d = d["prices"]
    if not isinstance(d, dict):
        raise SpecError(f"prices: must map chip names to $ per chip-hour, e.g. {{'maia200': 3.0}}, got "
                        f"{type(d).__name__}")
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = _entry_per_hour(str(k), v)
        v = v.strip().lstrip("$").replace(",", "") if isinstance(v, str) else v  # "$2.50", "$1,200" as infer reads
        out[str(k)] = parse_quantity(v, "number", f"prices.{k}")
        if out[str(k)] < 0:
            raise SpecError(f"prices.{k}: must be >= 0 $ per chip-hour, got {v!r}")
    return out


def _entry_per_hour(key: str, entry: dict) -> float:
    """$ per chip-hour of an infer-style entry (``{price_per_hour: $/h}`` or ``{capex: $}``, checked as
    :func:`inference.load_prices` does): its price, else its capex amortised plus power for the chip preset or
    bundled fabric ``key`` names."""
    import topo
    from inference import chip_cost_per_hour
    from inference import load_prices as infer_prices

    over = infer_prices({key: entry})[key.lower()]
    if "price_per_hour" in over:
        return over["price_per_hour"]
    net = net_w = 0.0  # a bundled fabric's network per chip (topo.network_capex): capex amortised, power charged
    if key.lower() in topo.CHIPS:
        chip = topo.chip_preset(key.lower())
    elif key in topo.list_fabrics():
        fab = topo.load(key)
        counted = topo.network_capex(fab)
        chip, net, net_w = fab.chip, counted.per_chip, counted.power_per_chip
    else:
        raise SpecError(f"prices.{key}: a capex entry needs a chip preset or bundled fabric name (its power comes "
                        "from the chip); give price_per_hour ($ per chip-hour) instead")
    return chip_cost_per_hour(chip, capex_per_chip=over["capex"], network_capex_per_chip=net,
                              network_power_per_chip=net_w)


@dataclass
class PlanPoint:
    """One simulated deployment (costs in $, times in s)."""

    label: str
    mode: str
    fleet: FleetSpec
    cost_per_hour: float
    cost_per_mtok: float
    ttft_p90: float
    tpot_p90: float
    latency_p90: float
    attainment: float
    feasible: bool
    summary: dict[str, Any] = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label, "mode": self.mode, "cost_per_hour_usd": self.cost_per_hour,
            "cost_per_mtok_output_usd": self.cost_per_mtok, "ttft_p90_s": self.ttft_p90,
            "tpot_p90_s": self.tpot_p90, "latency_p90_s": self.latency_p90, "slo_attainment": self.attainment,
            "meets_slo": self.feasible,
            "pools": [{"name": p.name, "fabric": p.fabric, "role": p.role, "tp": p.tp, "ep": p.ep,
                       "batch": p.batch, "replicas": p.replicas,
                       **({"speculative": p.speculative} if p.speculative else {})} for p in self.fleet.pools],
        }


@dataclass
class PlanCandidate:
    """A deployment family (chip, TP/EP, batch, mode) with its smallest deployment meeting the SLOs."""

    config: str
    mode: str
    best: PlanPoint | None
    tried: list[PlanPoint]
    reason: str = ""

    @property
    def feasible(self) -> bool:
        return self.best is not None


@dataclass
class PlanResult:
    """Outcome of :func:`plan`: the chosen deployment, the ranked candidates, and every simulated point."""

    best: PlanCandidate | None
    candidates: list[PlanCandidate]
    points: list[PlanPoint]
    settings: dict[str, Any]

    def table(self) -> str:
        """The ranked candidates as a text table (units in the headers)."""
        head = (f"{'rank':>4}  {'deployment':<58} {'$/h':>9} {'$/Mtok':>8} {'TTFT p90 s':>10} "
                f"{'TPOT p90 ms':>11} {'SLO met':>7}  why")
        lines = [head, "-" * len(head)]
        for i, c in enumerate(self.candidates, 1):
            p = c.best or (c.tried[-1] if c.tried else None)
            if p is None:
                lines.append(f"{i:>4}  {c.config:<58} {'-':>9} {'-':>8} {'-':>10} {'-':>11} {'-':>7}  {c.reason}")
                continue
            lines.append(
                f"{i:>4}  {p.label:<58} {p.cost_per_hour:>9.2f} {p.cost_per_mtok:>8.3f} {p.ttft_p90:>10.3f} "
                f"{p.tpot_p90 * 1e3:>11.1f} {p.attainment:>7.1%}  {c.reason}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "best": self.best.best.to_dict() if self.best and self.best.best else None,
            "candidates": [
                {"config": c.config, "mode": c.mode, "feasible": c.feasible, "reason": c.reason,
                 "best": c.best.to_dict() if c.best else None,
                 "last_tried": c.tried[-1].to_dict() if c.tried and not c.best else None}
                for c in self.candidates
            ],
            "points": [p.to_dict() for p in self.points],
        }

    def plot(self, path: str) -> str:
        """Cost ($/Mtok output) vs P90 TTFT and vs P90 TPOT of every simulated deployment, with the
        Pareto fronts and the SLOs; writes a PNG and returns its path."""
        from topo.draw import check_figure_path

        check_figure_path(path, "--plot")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        pts = [p for p in self.points if np.isfinite(p.cost_per_mtok)]
        fig, axes = plt.subplots(1, 2, figsize=(13, 6.4))
        chosen = self.best.best if self.best else None
        for ax, attr, slo, unit, scale in (
            (axes[0], "ttft_p90", self.settings["slo_ttft_s"], "ms", 1e3),
            (axes[1], "tpot_p90", self.settings["slo_tpot_s"], "ms", 1e3),
        ):
            groups: dict[str, list[PlanPoint]] = {}
            for p in pts:
                if p.mode == "colocated":
                    g = p.fleet.pools[0].fabric + " colocated"
                else:
                    g = f"{p.fleet.pools[0].fabric} -> {p.fleet.pools[1].fabric} disagg"
                groups.setdefault(g, []).append(p)
            cmap = plt.get_cmap("tab20")
            for gi, (gname, gp) in enumerate(sorted(groups.items())):
                x = np.array([getattr(p, attr) * scale for p in gp])
                y = np.array([p.cost_per_mtok for p in gp])
                ok = np.array([p.feasible for p in gp])
                col = cmap(gi % 20)
                mk = "o" if gname.endswith("colocated") else "^"
                ax.scatter(x[ok], y[ok], s=30, color=col, marker=mk, label=gname if ax is axes[0] else None)
                ax.scatter(x[~ok], y[~ok], s=30, marker=mk, facecolors="none", edgecolors=[col])
            xs = np.array([getattr(p, attr) * scale for p in pts])
            ys = np.array([p.cost_per_mtok for p in pts])
            order = np.lexsort((ys, xs))
            fx, fy, best = [], [], np.inf
            for i in order:
                if ys[i] < best:
                    best = ys[i]
                    fx.append(xs[i])
                    fy.append(ys[i])
            first = ax is axes[0]
            ax.step(fx, fy, where="post", color="k", lw=1.2, label="Pareto front" if first else None)
            ax.axvline(slo * scale, color="r", ls="--", lw=1, label="SLO" if first else None)
            if chosen is not None:
                ax.scatter([getattr(chosen, attr) * scale], [chosen.cost_per_mtok], marker="*", s=260,
                           color="gold", edgecolors="k", zorder=5, label="plan" if first else None)
            if not (np.any(np.isfinite(xs) & (xs > 0)) and np.any(np.isfinite(ys) & (ys > 0))):
                # nothing simulated (no deployment fits): an empty panel that says so, not log axes of no data
                ax.text(0.5, 0.5, "no deployment was simulated\n(none fits: see the table's 'why')",
                        transform=ax.transAxes, ha="center", va="center")
                ax.set_yticks([])
            else:
                ax.set_xscale("log")
                ax.set_yscale("log")
                # plain tick labels (1, 2, 5 per decade: "200 ms", not "2x10^-1" s) on both log axes
                for axis in (ax.xaxis, ax.yaxis):
                    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}" if v >= 1 else f"{v:.3g}"))
                    axis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(f"P90 {'TTFT' if attr == 'ttft_p90' else 'TPOT'} ({unit})")
            ax.set_ylabel("cost ($ per million output tokens)")
            ax.grid(True, which="both", alpha=0.3)
        fig.legend(loc="lower center", ncol=4, fontsize=8, frameon=False)
        s = self.settings
        fig.suptitle(f"scaleup plan: {s['model']} at {s['rate_rps']:g} req/s (filled: meets SLOs at "
                     f"{s['attainment']:.0%}; hollow: misses)")
        fig.tight_layout(rect=(0, 0.17, 1, 1))
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def _offered_cost_per_mtok(res: ServingResult) -> float:
    """$ per million output tokens at the offered load: the fleet's $/h over the output tokens the trace asks for
    per hour (its output tokens over its arrival window). A fleet that meets the SLOs serves that load, so at one
    rate this follows $/h; the simulation's own $/Mtok (cost over the makespan, the drain after the last arrival
    included, ``ServingResult.cost_per_mtok``) ranked equal-$/h fleets by how long one short trace took to drain.
    The simulation's figure where the trace has no arrival window (a burst)."""
    if not res.duration > 0:
        return res.cost_per_mtok
    per_hour = float(res.output.sum()) / res.duration * 3600.0
    return res.fleet_cost_per_hour / per_hour * 1e6 if per_hour > 0 else float("inf")


def _verify_window(rate: float, duration: float, verify: float, max_replicas: int, disaggregated: bool,
                   burstiness: float = 1.0) -> float | None:
    """The steady-state check's trace length, s (:func:`plan`'s ``verify``): ``verify`` x ``duration``, shortened to
    the longest whose Poisson draw (6 standard deviations above its mean) fits one simulation's budget
    (:func:`fleet.sim.check_serving_size`): at a rate whose short trace just fits, the check's trace did not, and
    every candidate was dropped as holding 'none' over it. None: off (``verify`` <= 1), or no longer than the
    search's own trace."""
    if not verify > 1:
        return None
    over = duration * verify
    for _ in range(64):  # x0.9 a try: 64 tries reach 1 / 800 of the asked window
        n = rate * over
        try:
            check_serving_size(n + 6 * math.sqrt(n / min(burstiness, 1.0)), max_replicas, disaggregated, rate=rate)
            break
        except CapacityError:
            over *= 0.9
    else:
        return None
    return over if over > duration else None


def _mean_lengths(trace: Trace) -> tuple[float, float]:
    return float(trace.prompt.mean()), float(trace.output.mean())


def _check_inputs(model: Any, candidates: Sequence[str], tps: Sequence[int], router: Any, real: bool,
                  eps: Sequence[int] = (1,)) -> None:
    """Fail early, in one line, on a model, candidate, TP or EP list or router that no point could use."""
    import os

    import topo
    from inference import load_model

    from .routers import get_router

    if not isinstance(router, type) and not callable(router):
        get_router(router)
    if not real:
        return
    known = topo.list_fabrics()
    for c in candidates:
        if isinstance(c, str) and c not in known and not os.path.isfile(c):
            hosts = topo.fabrics_with_chip(c)
            if hosts:  # a chip preset: a candidate is a fabric its replicas run on
                raise SpecError(f"candidates: {c!r} is a chip preset, not a fabric; the bundled fabrics with this chip: "
                                f"{', '.join(hosts)}")
            raise SpecError(f"candidates: {c!r} is not a bundled fabric or a file; bundled: {', '.join(known)}")
    spec = load_model(model) if isinstance(model, str) else model
    heads = getattr(spec, "heads", None)
    if isinstance(heads, int) and tps and not any(t >= 1 and heads % t == 0 for t in tps):
        raise SpecError(f"tps: none of {', '.join(map(str, tps))} divides the {heads} attention heads of "
                        f"{getattr(spec, 'name', model)}; use divisors of {heads}")
    if getattr(spec, "experts", None) == 0 and eps and min(eps) > 1:  # every point was listed "cannot run: ep: ..."
        raise SpecError(f"eps: {getattr(spec, 'name', model)} has no experts, so every EP degree searched "
                        f"({', '.join(map(str, eps))}) is refused; use eps=(1,) (--ep 1)")


def _prices_by_candidate(prices: dict[str, float], candidates: Sequence[str]) -> dict[str, float]:
    """``{candidate: $ per chip-hour}`` from a prices table keyed by candidate (fabric) or by its chip preset
    (``h100-sxm`` prices ``dgx-h100``; preset names in any case, as ``scaleup infer`` reads them); the
    candidate's own key wins. A key that names no bundled fabric, no chip preset and no candidate is a
    :class:`SpecError` (a misspelt name would leave the default price)."""
    if not prices:
        return {}
    import topo

    # preset names in any case, as inference.load_prices reads them (one prices file for infer and plan); a
    # candidate's own spelling (a YAML path) is kept
    prices = {k if k in candidates else str(k).lower(): v for k, v in prices.items()}
    chip_of = {}
    for c in candidates:
        try:
            chip_of[c] = topo.load(c).chip.name
        except topo.ScaleupError:  # the candidate's own error comes from the search, in its row
            chip_of[c] = None
    out = {c: prices[c] if c in prices else prices[chip_of[c]] for c in candidates
           if c in prices or chip_of[c] in prices}
    known = set(topo.list_fabrics()) | set(topo.CHIPS) | set(candidates) | {ch for ch in chip_of.values() if ch}
    for key in prices:
        if key not in known:
            raise SpecError(f"prices.{key}: names no candidate ({', '.join(candidates)}), chip preset or bundled "
                            "fabric; key prices by candidate (maia200: 3.0) or by chip (h100-sxm: 2.5)")
    return out


def _chip_prices(candidates: Sequence[str], prices: dict[str, float]) -> dict[str, dict[str, Any]]:
    """``{candidate: {"usd_per_chip_hour", "basis"}}``: the chip-hour price each candidate is costed at and where it
    comes from (``given`` by ``prices``, else the preset's: ``sourced`` or ``ASSUMPTION``,
    :func:`inference.estimate.price_basis_kind`), so that a plan says which of its costs rest on assumed prices."""
    import topo
    from inference import chip_cost_per_hour
    from inference.estimate import price_basis_kind

    out: dict[str, dict[str, Any]] = {}
    for c in candidates:
        try:
            fab = topo.load(c)
        except ScaleupError:  # the candidate's own error comes from the search, in its row
            continue
        chip = fab.chip
        if c in prices:
            out[c] = {"usd_per_chip_hour": float(prices[c]), "basis": "given"}
        else:  # as the search prices it (Deployment.cost_per_hour): the fabric's network beside the chip
            counted = topo.network_capex(fab)
            out[c] = {"usd_per_chip_hour": chip_cost_per_hour(chip, network_capex_per_chip=counted.per_chip,
                                                              network_power_per_chip=counted.power_per_chip),
                      "basis": price_basis_kind(chip)}
    return out


def _check_speculative(speculative: Any, factory: bool) -> str | None:
    """``speculative`` as its label (``mtp:3@0.8``), None for none (None, ``off``, False); a bad string is the
    parser's one line, named ``speculative``."""
    if speculative is None or speculative is False:
        return None
    from inference.speculative import parse_speculative

    sp = parse_speculative(speculative)
    if sp is None:
        return None
    if factory:
        raise SpecError("speculative: applies to the candidates' own step models; a step_model_factory's models give "
                        "their draft + verify step times and tokens_per_step (drop speculative)")
    return sp.label()


def _check_plan_args(candidates: Sequence[str], attainment: float, modes: Sequence[str], slo_ttft: float,
                     slo_tpot: float, tps: Sequence[int], eps: Sequence[int], batches: Sequence[int]) -> None:
    """The search settings of :func:`plan`, each a :class:`SpecError` naming the argument when wrong."""
    if not candidates:
        raise SpecError("candidates: give at least one fabric preset or file, e.g. maia200,gb200-nvl72")
    if not (0 < attainment <= 1):
        raise SpecError(f"attainment: must be in (0, 1], got {attainment!r}")
    bad = set(modes) - {"colocated", "disaggregated"}
    if bad:
        raise SpecError(f"modes: unknown {sorted(bad)}; use colocated and/or disaggregated")
    if not modes:
        raise SpecError("modes: give at least one of colocated, disaggregated")
    for name, v in (("slo_ttft", slo_ttft), ("slo_tpot", slo_tpot)):
        if not (isinstance(v, (int, float)) and v > 0):
            raise SpecError(f"{name}: must be > 0 s, got {v!r}")
    for name, vals in (("tps", tps), ("eps", eps), ("batches", batches)):
        if not vals or any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1 for x in vals):
            raise SpecError(f"{name}: expected a non-empty list of integers >= 1, got {list(vals)!r}")


def _check_lengths(prompt: Any, output: Any, given_trace: bool, workload: str) -> tuple[Any, Any]:
    """:func:`plan`'s fixed ``prompt`` / ``output`` tokens: the (prompt, output) arguments of
    :func:`fleet.trace.poisson_trace` (``(workload, None)`` without them); a :class:`SpecError` naming the argument
    when only one is given, one is not an integer >= 1, or a ``trace`` brings its own lengths."""
    if prompt is None and output is None:
        return workload, None
    if prompt is None or output is None:
        raise SpecError(f"{'prompt' if prompt is None else 'output'}: fixed lengths need both prompt and output "
                        "tokens (or neither, for the workload's lengths)")
    for name, v in (("prompt", prompt), ("output", output)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise SpecError(f"{name}: must be an integer >= 1 tokens, got {v!r}")
    if given_trace:
        raise SpecError("prompt/output: a trace has its own lengths; drop prompt/output or the trace")
    return int(prompt), int(output)


def _check_dtype_stack(dtype: Any, stack: Any) -> None:
    """:func:`plan`'s ``dtype`` and ``stack``, a :class:`SpecError` each when not one scaleup knows (a typo had
    listed every candidate as 'cannot run: ...' and exited 0)."""
    from topo import DTYPE_BYTES

    from .spec import STACKS

    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        raise SpecError(f"dtype: unknown dtype {dtype!r}; known: {', '.join(DTYPE_BYTES)}")
    if stack is not None and stack not in STACKS:
        raise SpecError(f"stack: must be one of {', '.join(STACKS)} (or none: the chip's calibrated one), got "
                        f"{stack!r}")


_PLAN_KV_FIX = "search a larger tp (--tps) or shorter requests (--workload sharegpt, or --prompt and --output)"
"""What plan's user can change when a request does not fit a replica's KV cache (serve's fix names options plan
has not: --kv-dtype, a clipped --trace)."""


def _plan_reason(err: str, mode: str) -> str:
    """A simulation's error as a plan row's reason: serve's "pool 'NAME': " prefix becomes "NAME pool: " in a
    disaggregated row (whose pools are named prefill / decode) and goes in a colocated one (its one pool is
    named 'pool'); serve's KV-fit fix becomes plan's."""
    if err.startswith("pool '") and "': " in err:
        name, rest = err[len("pool '"):].split("': ", 1)
        err = f"{name} pool: {rest}" if mode == "disaggregated" else rest
    return err.replace(KV_FIT_FIX, _PLAN_KV_FIX)


def _in_pool(pool: str, why: str) -> str:
    """``why`` prefixed with the pool (prefill / decode) a disaggregated search step sized, unless it names its
    pool already (a simulation's error about either pool: the prefill step had read "prefill pool: pool
    'decode': ...")."""
    return why if why.startswith(("prefill pool: ", "decode pool: ")) else f"{pool} pool: {why}"


def plan(
    model: Any,
    rate: float,
    slo_ttft: float = 1.0,
    slo_tpot: float = 0.05,
    candidates: Sequence[str] | str = ("maia200", "gb200-nvl72", "dgx-h100"),
    *,
    prices: dict[str, float] | str | os.PathLike | None = None,
    duration: float = 60.0,
    workload: str = "azure-conv",
    trace: Trace | None = None,
    seed: int = 0,
    burstiness: float = 1.0,
    attainment: float = 0.9,
    tps: Sequence[int] = (1, 2, 4, 8),
    eps: Sequence[int] = (1,),
    batches: Sequence[int] = (32, 128),
    modes: Sequence[str] = ("colocated", "disaggregated"),
    prefill_batch: int = 16,
    token_budget: int = 8192,
    kv_network: KVNetworkSpec | None = None,
    router: str | Callable = "least-loaded",
    max_replicas: int = 512,
    chunked_prefill: bool = False,
    prompt: int | None = None,
    output: int | None = None,
    step_model_factory: Callable[[str, int, int], StepModelLike] | None = None,
    verify: float = 5.0,
    dtype: str = "fp8",
    stack: str | None = None,
    speculative: str | None = None,
) -> PlanResult:
    """Find the cheapest deployment of ``model`` meeting the SLOs at ``rate`` (see the module docstring).

    Args:
        model: model name or spec (for ``inference.StepModel``).
        rate: request rate, requests/s.
        slo_ttft, slo_tpot: objectives, s (default 1 s and 50 ms, as ``scaleup plan``).
        candidates: chip / fabric preset names (default ``maia200``, ``gb200-nvl72``, ``dgx-h100``, as ``scaleup
            plan``), or one comma-separated string of them as ``--candidates``.
        prices: $ per chip-hour by candidate name or by a candidate's chip preset (``h100-sxm``), or a prices
            YAML path as ``--prices`` (:func:`load_prices`) (default: inference's cost model).
        duration: simulated trace length, s. workload, trace, seed: the requests (a given ``trace`` wins).
        prompt, output: fixed prompt and output tokens of every request (both or neither; as ``scaleup serve
            --prompt/--output`` and ``scaleup infer``) instead of ``workload``'s lengths; not with a ``trace``.
        burstiness: gamma shape of the synthetic trace's inter-arrival times (1: Poisson; below 1 bursty; vLLM
            ``benchmark_serving.py --burstiness``, :func:`fleet.trace.poisson_trace`); not with a given ``trace``.
        attainment: fraction of requests that must meet both SLOs.
        tps, eps, batches: TP and EP degrees and batch limits searched.
        modes: ``colocated`` and/or ``disaggregated`` (a list, or a comma-separated string as ``--modes``).
        prefill_batch, token_budget: prefill pool batch limit and tokens per iteration.
        chunked_prefill: colocated pools mix prompt chunks into the decodes' iterations (``scaleup serve
            --chunked-prefill``, the default of ``scaleup serve --fabric``); default False: prefill first, as a
            fleet file's pool (``.settings["chunked_prefill"]``; ``scaleup plan`` prints which).
        kv_network: KV network of disaggregated deployments (default 400 Gb/s per replica, 2 us).
        router: router used in every simulation.
        max_replicas: largest pool searched.
        step_model_factory: ``(chip, tp, ep) -> step model``; default ``inference.StepModel``.
        verify: steady-state check: the cheapest deployment is re-simulated on a synthetic trace ``verify`` times
            as long (same rate, workload and seed); one that misses the SLOs there is re-sized on that trace
            and the ranking taken again, until the cheapest holds (a short trace starts empty and ends with a
            drain, so a fleet just short of the rate can pass it). 0 or 1: off; skipped for a given ``trace``.
        dtype, stack: weights / activations dtype and serving-stack profile of every candidate's step model (as
            ``scaleup infer --dtype / --stack``; a chip that cannot run ``dtype`` is reported ``cannot run: ...``).
        speculative: speculative decoding of every candidate (``mtp:K@A``, ``draft:MODEL:K@A``, ``ngram:K@A``; as
            ``scaleup serve --speculative``): each decode iteration is the draft + verify step and gains the expected
            accepted length E tokens per sequence, so the throughput lower bound and the TPOT floor divide the
            decode time by E; None or ``off``: none. Not with ``step_model_factory`` (its models say their own).

    Returns:
        :class:`PlanResult`; ``best`` is None when nothing meets the SLOs within ``max_replicas``.
    """
    if isinstance(candidates, str):  # "maia200,dgx-h100", as --candidates
        candidates = [c.strip() for c in candidates.split(",") if c.strip()]
    if isinstance(modes, str):  # "colocated", as --modes (not its letters)
        modes = [m.strip() for m in modes.split(",") if m.strip()]
    if isinstance(candidates, (list, tuple)) and all(isinstance(c, str) for c in candidates):
        candidates = list(dict.fromkeys(candidates))  # "dgx-h100,dgx-h100" searched (and ranked) it twice
    _check_plan_args(candidates, attainment, modes, slo_ttft, slo_tpot, tps, eps, batches)
    if isinstance(verify, bool) or not isinstance(verify, (int, float)) or not 0 <= verify < math.inf:
        raise SpecError(f"verify: must be a number >= 0 (times the trace length; 0 or 1: off), got {verify!r}")
    _check_dtype_stack(dtype, stack)
    lengths = _check_lengths(prompt, output, trace is not None, workload)
    if not isinstance(chunked_prefill, bool):
        raise SpecError(f"chunked_prefill: must be True or False, got {chunked_prefill!r}")
    speculative = _check_speculative(speculative, step_model_factory is not None)
    _check_inputs(model, candidates, tps, router, step_model_factory is None, eps)
    # a dict reads as a prices file does ("$3.00", {capex: $}); it was taken as it stood ('>=' of str and int)
    prices = load_prices(prices) if isinstance(prices, (str, os.PathLike)) else _price_table(dict(prices or {}))
    if step_model_factory is None:
        prices = _prices_by_candidate(prices, candidates)
    given = trace is not None
    burstiness = check_burstiness(burstiness)
    if given and burstiness != 1.0:
        raise SpecError("burstiness: shapes the arrivals of the synthetic trace; a given trace has its own (drop "
                        "burstiness or the trace)")
    if trace is None:
        if isinstance(rate, (int, float)) and isinstance(duration, (int, float)) and rate > 0 and duration > 0 \
                and math.isfinite(rate * duration):  # else poisson_trace names the bad rate or duration
            check_serving_size(rate * duration, max_replicas, "disaggregated" in modes, rate=rate)
        trace = poisson_trace(rate, duration, *lengths, seed=seed, burstiness=burstiness)
    if len(trace) == 0:  # the planner sizes replicas by the mean request: none is no answer
        raise SpecError("trace: no requests to plan for" if given else
                        f"duration: a {duration:g} s trace at {rate:g} requests/s drew no request; lengthen the "
                        "duration or raise the rate")
    if step_model_factory is None:  # every candidate would refuse the trace the same way: say it once, up front
        from inference import load_model

        check_trace_context(load_model(model), trace, "trace" if given else "workload")
    planner = _Planner(model, rate, slo_ttft, slo_tpot, candidates, prices=prices, trace=trace,
                       attainment=attainment, tps=tps, eps=eps, batches=batches, prefill_batch=prefill_batch,
                       token_budget=token_budget, kv_network=kv_network or KVNetworkSpec(bandwidth=50e9, latency=2e-6),
                       router=router, max_replicas=max_replicas, step_model_factory=step_model_factory,
                       dtype=dtype, stack=stack, speculative=speculative, chunked_prefill=chunked_prefill)
    if "colocated" in modes:
        planner._search_colocated()
    if "disaggregated" in modes:
        planner._search_disaggregated()
    verified_over = _verify_window(rate, duration, verify, max_replicas, "disaggregated" in modes, burstiness) \
        if not given else None
    if verified_over is not None and not planner._verify(
            poisson_trace(rate, verified_over, *lengths, seed=seed, burstiness=burstiness), verified_over,
            duration):
        verified_over = None  # nothing met the SLOs on the short trace: nothing was re-checked
    best, ranked = planner._rank()
    name = getattr(model, "name", model)
    if isinstance(model, str) and step_model_factory is None:  # a YAML path: its model's name ("r1.yaml at 5 req/s")
        from inference import load_model

        name = load_model(model).name
    chip_prices = _chip_prices(candidates, prices) if step_model_factory is None else {}
    settings = {"model": str(name), "rate_rps": rate, "slo_ttft_s": slo_ttft,
                "slo_tpot_s": slo_tpot, "attainment": attainment, "duration_s": duration, "requests": len(trace),
                "workload": workload if prompt is None else f"{prompt}+{output} tokens", "seed": seed, "burstiness": burstiness, "candidates": list(candidates), "dtype": dtype, "stack": stack,
                "speculative": speculative, "chunked_prefill": chunked_prefill,
                "simulations": len(planner.points), "chip_prices": chip_prices, "verified_over_s": verified_over}
    return PlanResult(best, ranked, planner.points, settings)


class _Planner:
    """The search of :func:`plan` (validated arguments; SI units), in named steps.

    :meth:`_search_colocated` and :meth:`_search_disaggregated` append :class:`PlanCandidate` rows to
    ``cands`` (every simulation to ``points``); :meth:`_rank` orders them and says why each lost.
    """

    def __init__(self, model: Any, rate: float, slo_ttft: float, slo_tpot: float, candidates: Sequence[str], *,
                 prices: dict[str, float], trace: Trace, attainment: float, tps: Sequence[int], eps: Sequence[int],
                 batches: Sequence[int], prefill_batch: int, token_budget: int, kv_network: KVNetworkSpec,
                 router: str | Callable, max_replicas: int,
                 step_model_factory: Callable[[str, int, int], StepModelLike] | None, dtype: str = "fp8",
                 stack: str | None = None, speculative: str | None = None, chunked_prefill: bool = False) -> None:
        self.model = model
        self.chunked_prefill = chunked_prefill
        self.rate = rate
        self.slo_ttft = slo_ttft
        self.slo_tpot = slo_tpot
        self.candidates = candidates
        self.prices = prices
        self.trace = trace
        self.attainment = attainment
        self.tps, self.eps, self.batches = tps, eps, batches
        self.prefill_batch = prefill_batch
        self.token_budget = token_budget
        self.kvspec = kv_network
        self.router = router
        self.max_replicas = max_replicas
        self.step_model_factory = step_model_factory
        self.dtype, self.stack, self.speculative = dtype, stack, speculative
        self.p_mean, self.o_mean = _mean_lengths(trace)
        self.p_med = float(np.median(trace.prompt))
        self.ctx = self.p_mean + self.o_mean / 2
        self.models: dict[tuple[str, int, int], StepModelLike | str] = {}
        self.pps: dict[tuple[str, int], int] = {}  # pipeline stages per (chip, tp): > 1 on SRAM-only chips
        self.points: list[PlanPoint] = []
        self.cands: list[PlanCandidate] = []
        self.best_colocated: dict[str, tuple[int, int]] = {}  # chip -> (tp, ep) of its cheapest colocated plan
        # per candidate config: its step models and how to size it again on another trace (plan(verify=))
        self._sms: dict[str, dict[str, StepModelLike]] = {}
        self._regrow: dict[str, Callable[[], tuple[PlanPoint | None, list, str]]] = {}
        self._notes: dict[str, str] = {}

    # ------------------------------------------------------------------ building blocks
    def get_model(self, chip: str, tp: int, ep: int) -> StepModelLike | str:
        """The step model of one replica of ``chip`` at (tp, ep), or why it does not fit (memoised)."""
        key = (chip, tp, ep)
        if key not in self.models:
            try:
                if self.step_model_factory is not None:
                    m = self.step_model_factory(chip, tp, ep)
                else:
                    from inference.layout import pipeline_stages  # CS-3 / Groq: stages from SRAM capacity

                    pp = self.pps[(chip, tp)] = pipeline_stages(self.model, chip, tp, dtype=self.dtype)
                    m = build_step_model(PoolSpec(name=chip, fabric=chip, tp=tp, ep=ep, pp=pp, dtype=self.dtype,
                                                  stack=self.stack, speculative=self.speculative,
                                                  price=self.prices.get(chip)), self.model)
                if m.max_batch(int(self.p_mean + self.o_mean)) < 1:
                    self.models[key] = self._no_room(m)
                else:
                    self.models[key] = m
            except CapacityError as exc:
                self.models[key] = f"does not fit: {exc}"
            except ScaleupError as exc:  # a dtype the chip cannot run: not a capacity question
                self.models[key] = f"cannot run: {exc}"
        return self.models[key]

    @staticmethod
    def _no_room(m: StepModelLike) -> str:
        """Why a step model holds no mean request: the weights leave no room for one token of KV cache (DeepSeek-V3
        on one H100: 673 GB of weights for 76 GB; the reason read "KV cache of one mean request does not fit next to
        the weights"), or the KV cache of a mean request does not fit next to them."""
        if m.max_batch(1) >= 1:
            return "KV cache of one mean request does not fit next to the weights"
        dep = getattr(m, "deployment", None)  # inference.StepModel: the figures of the memory check
        if dep is None:
            return "does not fit: no room for the KV cache of one token next to the weights"
        mem = dep.memory(1, 1, 0)
        w, usable = mem["weights"] / 1e9, mem["hbm_usable"] / 1e9
        what = (f"weights {w:,.1f} GB per chip of {usable:,.1f} GB usable" if w > usable else
                f"weights {w:,.1f} GB per chip with the engine's activations and buffers fill the {usable:,.1f} GB usable")
        return f"does not fit: {what} ({dep.chip.name}); a larger tp (or ep) or a chip with more memory"

    def evaluate(self, label: str, mode: str, pools: list[PoolSpec], sms: dict[str, StepModelLike],
                 criterion: str = "both") -> tuple[PlanPoint | None, bool, str]:
        """Simulate one fleet; (point, passes ``criterion`` ("both" SLOs or "ttft" only), error)."""
        fl = FleetSpec(pools=tuple(pools), kv_network=self.kvspec, name=label)
        try:
            res: ServingResult = simulate_serving(fl, self.trace, model=self.model, slo_ttft=self.slo_ttft,
                                                  slo_tpot=self.slo_tpot, router=self.router, step_models=sms)
        except ScaleupError as exc:
            return None, False, _plan_reason(str(exc), mode)
        s = res.summary()
        met = res.slo_attainment >= self.attainment
        pt = PlanPoint(label, mode, fl, res.fleet_cost_per_hour, _offered_cost_per_mtok(res), s["ttft_p90_s"],
                       s["tpot_p90_s"], s["latency_p90_s"], res.slo_attainment, met, s)
        self.points.append(pt)
        if criterion == "ttft":
            ok = float(np.mean(res.ttft <= self.slo_ttft)) >= self.attainment
        else:
            ok = met
        return pt, ok, ""

    def min_replicas(self, make: Callable[[int], tuple[str, list[PoolSpec]]], sms: dict[str, StepModelLike],
                     lo_guess: int, mode: str, criterion: str = "both",
                     known_fail: int = 0) -> tuple[PlanPoint | None, list, str]:
        """Fewest replicas (of the pool ``make`` varies) passing ``criterion``; (point, tried, reason).

        Grows the count by x1.5 from ``lo_guess`` until a simulation passes, then bisects between the last
        failing (at least ``known_fail``, a count known to miss) and the first passing count."""
        tried: list[PlanPoint] = []
        if (mode == "colocated" or criterion == "ttft") and self._cannot_keep_up(lo_guess):
            return None, tried, (f"needs >= {lo_guess:,} replicas for {self.rate:g} req/s at full batching, over "
                                 f"max_replicas {self.max_replicas}: not simulated")
        n = max(1, min(lo_guess, self.max_replicas))
        fail_n = known_fail
        ok_pt: PlanPoint | None = None
        ok_n = 0
        last_reason = ""
        while True:
            label, pools = make(n)
            pt, ok, err = self.evaluate(label, mode, pools, sms, criterion)
            if pt is None:
                return None, tried, err
            tried.append(pt)
            if ok:
                ok_pt, ok_n = pt, n
                break
            fail_n = n
            last_reason = (f"misses the SLOs even at {n} replicas (attainment {pt.attainment:.0%}, "
                           f"P90 TTFT {pt.ttft_p90:.3g} s, P90 TPOT {pt.tpot_p90 * 1e3:.3g} ms)")
            if n >= self.max_replicas:
                return None, tried, last_reason
            n = min(self.max_replicas, max(n + 1, math.ceil(n * 1.5)))
        while ok_n - fail_n > 1:
            mid = (ok_n + fail_n) // 2
            label, pools = make(mid)
            pt, ok, _ = self.evaluate(label, mode, pools, sms, criterion)
            if pt is None:
                break
            tried.append(pt)
            if ok:
                ok_pt, ok_n = pt, mid
            else:
                fail_n = mid
        return ok_pt, tried, ""

    def _cannot_keep_up(self, lo_guess: int) -> bool:
        """Whether ``max_replicas`` replicas cannot meet the TTFT SLO whatever the simulation says, so it is not
        run (at 100,000 req/s a 60 s trace holds 6 M requests: minutes per simulation, each bound to fail).

        ``lo_guess`` = rate x the replica-time one request costs at full batching, a lower bound of the replicas
        that keep up; at offered load rho = lo_guess / max_replicas the fleet finishes at most rate / rho
        requests per s, so at most (1 + slo_ttft / span) / rho of a trace spanning ``span`` s can see their first
        token within the SLO, whatever the order of service. Skipped when that is below ``attainment`` and
        rho >= 2 (a factor-2 margin on the estimate)."""
        rho = lo_guess / self.max_replicas
        span = float(np.max(self.trace.arrival) - np.min(self.trace.arrival)) if len(self.trace) else 0.0
        return rho >= 2 and span > 0 and self.attainment > (1 + self.slo_ttft / span) / rho

    def busy_per_request(self, m: StepModelLike, batch: int) -> tuple[float, float, float]:
        """(prefill s, decode s) of replica time one mean request costs at full batching, and TPOT floor. A decode
        iteration gains ``tokens_per_step`` (E: speculative decoding's expected accepted length, else 1) tokens per
        sequence, so the O - 1 tokens after the first take (O - 1) / E iterations and a token 1 / E of one."""
        sc = StepCache.of(m)
        e = _tokens_per_step(m)
        kcap = max(1.0, kv_capacity_tokens(m, self.token_budget, batch))
        b = max(1, min(batch, int(kcap // max(1.0, self.p_mean + self.o_mean))))
        k = max(1, int(self.token_budget // max(1.0, self.p_mean)))
        pre = sc.prefill(self.p_mean * k, k) / k
        dec = max(self.o_mean - 1, 0) / e * sc.decode1(b, self.ctx) / b
        return pre, dec, sc.decode1(1, self.ctx) / e

    # ------------------------------------------------------------------ the searches
    def _search_colocated(self) -> None:
        """Every (chip, tp, ep, batch): the fewest colocated replicas meeting the SLOs."""
        for chip in self.candidates:
            best_cost = np.inf
            for tp in self.tps:
                for ep in self.eps:
                    m = self.get_model(chip, tp, ep)
                    for batch in self.batches:
                        cfg = f"{chip} tp{tp}" + (f" ep{ep}" if ep > 1 else "") + f" b{batch}"
                        pt = self._colocated_one(chip, tp, ep, batch, cfg, m)
                        if pt is False:
                            break
                        if pt is not None and pt.cost_per_hour < best_cost:
                            best_cost = pt.cost_per_hour
                            self.best_colocated[chip] = (tp, ep)

    def _colocated_one(self, chip: str, tp: int, ep: int, batch: int, cfg: str,
                       m: StepModelLike | str) -> PlanPoint | None | bool:
        """One colocated configuration; its best point, None if it misses, False when larger batches need
        not be tried (the model does not fit, or batch-1 latency already misses an SLO)."""
        if isinstance(m, str):
            self.cands.append(PlanCandidate(cfg, "colocated", None, [], m))
            return False
        pre, dec, tpot1 = self.busy_per_request(m, batch)
        ttft1 = StepCache.of(m).prefill(self.p_med, 1)
        if self.attainment > 0.5 and tpot1 > self.slo_tpot:
            self.cands.append(PlanCandidate(cfg, "colocated", None, [],
                                            f"TPOT at batch 1 is {tpot1 * 1e3:.3g} ms > SLO"))
            return False
        if self.attainment > 0.5 and ttft1 > self.slo_ttft:
            self.cands.append(PlanCandidate(cfg, "colocated", None, [],
                                            f"prefill of a median prompt takes {ttft1:.3g} s > TTFT SLO"))
            return False
        lo = max(1, math.floor(self.rate * (pre + dec)))
        token_budget = self.token_budget

        def make(n: int) -> tuple[str, list[PoolSpec]]:
            return f"{cfg} x{n}", [PoolSpec(name="pool", fabric=chip, tp=tp, ep=ep, batch=batch, dtype=self.dtype,
                                            stack=self.stack, speculative=self.speculative,
                                            pp=self.pps.get((chip, tp), 1), replicas=n, token_budget=token_budget,
                                            chunked_prefill=self.chunked_prefill)]

        pt, tried, why = self.min_replicas(make, {"pool": m}, lo, "colocated")
        self.cands.append(PlanCandidate(cfg, "colocated", pt, tried, why))
        if pt is not None:
            n0 = pt.fleet.pools[0].replicas
            self._sms[cfg] = {"pool": m}
            self._regrow[cfg] = lambda: self.min_replicas(make, {"pool": m}, n0 + 1, "colocated", known_fail=n0)
        return pt

    def _chip_layout(self, chip: str) -> tuple[int, int] | None:
        """(TP, EP) of a chip in disaggregated pools: that of its best colocated plan, else the smallest searched that
        fits. (Its TP with EP 1 had been taken: a MoE whose best colocated plan needs EP, qwen3-235b-a22b on
        gb200-nvl72 at --tps 1 --eps 8, does not fit at tp1 ep1, and the planner stopped on an AssertionError.)"""
        if chip in self.best_colocated:
            return self.best_colocated[chip]
        for tp in sorted(self.tps):
            for ep in sorted(self.eps):
                if not isinstance(self.get_model(chip, tp, ep), str):
                    return tp, ep
        return None

    def _search_disaggregated(self) -> None:
        """Every (prefill chip, decode chip): fewest prefill replicas meeting TTFT, then fewest decode ones."""
        for pchip in self.candidates:
            for dchip in self.candidates:
                self._disaggregated_one(pchip, dchip)

    def _disaggregated_one(self, pchip: str, dchip: str) -> None:
        dbatch = max(self.batches)
        play, dlay = self._chip_layout(pchip), self._chip_layout(dchip)

        def par(lay: tuple[int, int] | None) -> str:  # " tp8", " tp4 ep8", "" (none fits)
            return "" if lay is None else f" tp{lay[0]}" + (f" ep{lay[1]}" if lay[1] > 1 else "")

        cfg = f"P {pchip}{par(play)} -> D {dchip}{par(dlay)} b{dbatch}"
        if play is None or dlay is None:  # the label had read "P cs3 tpNone -> D cs3 tpNone b128"
            tps = ", ".join(map(str, sorted(self.tps)))
            eps = "" if tuple(self.eps) == (1,) else f" x EP ({', '.join(map(str, sorted(self.eps)))})"
            chip = pchip if play is None else dchip
            why = self.get_model(chip, max(self.tps), max(self.eps))  # a dtype the chip cannot run: not a fit question
            at = f"tp{max(self.tps)}" + (f" ep{max(self.eps)}" if max(self.eps) > 1 else "")
            self.cands.append(PlanCandidate(cfg, "disaggregated", None, [],
                                            f"{chip}: {why}" if isinstance(why, str) and why.startswith("cannot run")
                                            else f"{chip}: no TP degree{eps} searched ({tps}) fits"
                                            + (f" (at {at}: {why})" if isinstance(why, str) else "")))
            return
        (ptp, pep), (dtp, dep) = play, dlay
        pm, dm = self.get_model(pchip, ptp, pep), self.get_model(dchip, dtp, dep)
        assert not isinstance(pm, str) and not isinstance(dm, str)
        pre, _, _ = self.busy_per_request(pm, self.prefill_batch)
        _, dec, tpot1 = self.busy_per_request(dm, dbatch)
        if self.attainment > 0.5 and tpot1 > self.slo_tpot:
            self.cands.append(PlanCandidate(cfg, "disaggregated", None, [],
                                            f"decode TPOT at batch 1 is {tpot1 * 1e3:.3g} ms > SLO"))
            return
        sms = {"prefill": pm, "decode": dm}
        nd_big = min(self.max_replicas, 2 * max(1, math.ceil(self.rate * dec)) + 1)
        prefill_batch, token_budget = self.prefill_batch, self.token_budget

        def pools(n_p: int, n_d: int) -> list[PoolSpec]:
            return [PoolSpec(name="prefill", fabric=pchip, tp=ptp, ep=pep, pp=self.pps.get((pchip, ptp), 1),
                             role="prefill",
                             dtype=self.dtype, stack=self.stack, speculative=self.speculative,
                             replicas=n_p, batch=prefill_batch, token_budget=token_budget),
                    PoolSpec(name="decode", fabric=dchip, tp=dtp, ep=dep, pp=self.pps.get((dchip, dtp), 1),
                             role="decode",
                             dtype=self.dtype, stack=self.stack, speculative=self.speculative,
                             replicas=n_d, batch=dbatch)]

        def label(n_p: int, n_d: int) -> str:
            return f"P {pchip}{par(play)} x{n_p} -> D {dchip}{par(dlay)} b{dbatch} x{n_d}"

        ppt, tried1, why = self.min_replicas(lambda n: (label(n, nd_big), pools(n, nd_big)), sms,
                                             max(1, math.floor(self.rate * pre)), "disaggregated", "ttft")
        if ppt is None:
            self.cands.append(PlanCandidate(cfg, "disaggregated", None, tried1, _in_pool("prefill", why)))
            return
        n_p = ppt.fleet.pools[0].replicas
        dpt, tried2, why = self.min_replicas(lambda n: (label(n_p, n), pools(n_p, n)), sms,
                                             max(1, math.floor(self.rate * dec)), "disaggregated")
        self.cands.append(PlanCandidate(cfg, "disaggregated", dpt, tried1 + tried2,
                                        _in_pool("decode", why) if dpt is None else ""))
        if dpt is None:
            return
        n_d = dpt.fleet.pools[1].replicas

        def regrow() -> tuple[PlanPoint | None, list, str]:
            """Both pools sized again on the planner's (longer) trace, prefill first, as above."""
            ppt, t1, why = self.min_replicas(lambda n: (label(n, nd_big), pools(n, nd_big)), sms, n_p,
                                             "disaggregated", "ttft")
            if ppt is None:
                return None, t1, _in_pool("prefill", why)
            n_p2 = ppt.fleet.pools[0].replicas
            dpt2, t2, why = self.min_replicas(lambda n: (label(n_p2, n), pools(n_p2, n)), sms, n_d, "disaggregated")
            return dpt2, t1 + t2, (_in_pool("decode", why) if dpt2 is None else "")

        self._sms[cfg] = sms
        self._regrow[cfg] = regrow

    def _verify(self, long: Trace, over: float, short: float) -> bool:
        """Steady-state check of :func:`plan` (``verify``): re-simulate the cheapest feasible candidate on the
        ``over``-second trace ``long``; if it misses the SLOs there, size it again on ``long`` (its short-trace
        size is a lower bound) and repeat with whichever candidate is then cheapest, until the cheapest is one
        sized or confirmed on ``long``. Candidates not reached keep their short-trace size, a lower bound of
        their cost, so the plan is the cheapest that holds over ``over`` s. Returns whether any candidate was
        re-simulated (none is when nothing met the SLOs on the short trace)."""
        short_trace, done = self.trace, set()
        self.trace = long
        try:
            for _ in range(len(self.cands)):
                feas = sorted([c for c in self.cands if c.best is not None], key=self._order)
                if not feas or feas[0].config in done:
                    return bool(done)
                c = feas[0]
                done.add(c.config)
                b = c.best
                pt, ok, err = self.evaluate(b.label, b.mode, list(b.fleet.pools), self._sms[c.config])
                if ok:
                    self._notes[c.config] = f"holds over {over:g} s ({pt.attainment:.0%} within the SLOs)"
                    return True
                was = f"{b.label} met them over {short:g} s" + (f" but {pt.attainment:.0%} over {over:g} s"
                                                                   if pt is not None else f"; {err}")
                new, tried, why = self._regrow[c.config]()
                c.tried += tried
                c.best = new
                if new is None:
                    c.reason = f"{was}; none holds over {over:g} s: {why}"
                else:
                    self._notes[c.config] = f"sized over {over:g} s ({was})"
            return bool(done)
        finally:
            self.trace = short_trace

    # ------------------------------------------------------------------ rank and explain
    def _order(self, c: PlanCandidate) -> tuple[float, float, float, str]:
        """Sort key of a feasible candidate: $/h, then $/Mtok, then the larger of P90 TTFT / SLO and P90 TPOT / SLO
        (at one price the one with more headroom: the tie had gone to the label's letters, so a disaggregated
        'P maia200 tp2 x1 -> D maia200 tp2' at TTFT P90 130 ms won over 'maia200 tp4 x1' at 59 ms for the same
        4 chips), then the label."""
        b = c.best
        ratios = [x for x in (b.ttft_p90 / self.slo_ttft, b.tpot_p90 / self.slo_tpot) if x == x]  # NaN: 1-token outputs
        return (b.cost_per_hour, b.cost_per_mtok, max(ratios, default=0.0), c.config)

    def _rank(self) -> tuple[PlanCandidate | None, list[PlanCandidate]]:
        """(cheapest feasible candidate or None, feasible by :meth:`_order` ($/h, $/Mtok, SLO headroom, name) +
        infeasible),
        each with its ``reason``."""
        feas = sorted([c for c in self.cands if c.best is not None], key=self._order)
        infeas = [c for c in self.cands if c.best is None]
        best = feas[0] if feas else None
        if best is not None:
            best.reason = "cheapest meeting the SLOs"
            for c in feas[1:]:
                d = c.best.cost_per_hour - best.best.cost_per_hour
                c.reason = f"costs ${d:.2f}/h more (+{d / best.best.cost_per_hour:.0%})"
                if c.best.cost_per_hour == best.best.cost_per_hour:
                    c.reason = "same $/h as the plan"
        for c in infeas:
            c.reason = c.reason or "misses the SLOs"
        for c in feas:
            if c.config in self._notes:
                c.reason += f"; {self._notes[c.config]}"
        return best, feas + infeas
