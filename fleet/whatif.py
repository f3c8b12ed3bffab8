"""What-if studies above the fabric: Monte Carlo over random faults, and jobs that share a fabric.

- :func:`collective_monte_carlo`: a collective (one group or every group of a size, at once) on a fabric
  under random faults drawn per sample (:func:`topo.faults.random_faults`); the distribution (P50/P99)
  of its time over the samples where every member is reachable, and the availability (the fraction of
  samples where it is). Deterministic under ``seed``.
- :func:`serve_monte_carlo`: a fleet's serving simulation under random faults: a replica whose chips
  include a failed chip is down and is replaced from the fabric's spare groups when there are any; the
  distribution of goodput and TPOT and the availability (all replicas up) over the samples.
- :func:`place` and :func:`run_jobs`: several jobs on one fabric at once, placed by a policy (tray-first,
  strided, random, or a callable); each job keeps its own result and the report shows its time alone
  and together.

Faults change the fabric (:meth:`topo.Fabric.with_faults`); the collectives and the engine see a faulted
fabric like any other, so nothing below this module knows about faults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import collectives
import topo
from topo import RoutingError, SpecError
from topo.faults import random_faults

from .stepmodel import StepModelWrapper

__all__ = [
    "Job",
    "JobsResult",
    "MonteCarloResult",
    "collective_monte_carlo",
    "load_jobs",
    "fault_fleet",
    "infer_monte_carlo",
    "place",
    "run_jobs",
    "serve_monte_carlo",
    "straggler_fleet",
]


def _fabric(fabric: Any) -> topo.Fabric:
    return fabric if isinstance(fabric, topo.Fabric) else topo.load(fabric)


# ------------------------------------------------------------------------------------------ Monte Carlo
@dataclass
class MonteCarloResult:
    """Samples of one metric under random faults.

    Attributes:
        metric: name with unit (``"time_s"``, ``"goodput_rps"``). values: one per sample (NaN where the job
        was unavailable). healthy: the metric with no fault. available: bool per sample. draws: counts of
        failed parts per sample. seed, samples: as given. extra: other per-sample series (e.g. ``tpot_s``).
    """

    metric: str
    values: np.ndarray
    healthy: float
    available: np.ndarray
    draws: list[dict[str, int]]
    seed: int
    samples: int
    label: str = ""
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def availability(self) -> float:
        """Fraction of samples in which the job could run at all."""
        return float(self.available.mean()) if len(self.available) else 1.0

    def quantile(self, q: float, values: np.ndarray | None = None) -> float:
        v = self.values if values is None else values
        v = v[np.isfinite(v)]
        return float(np.quantile(v, q)) if len(v) else float("nan")

    def to_dict(self) -> dict[str, Any]:
        out = {"metric": self.metric, "label": self.label, "samples": self.samples, "seed": self.seed,
               "healthy": self.healthy, "p50": self.quantile(0.5), "p99": self.quantile(0.99),
               "p01": self.quantile(0.01), "mean": float(np.nanmean(self.values)) if self.available.any() else None,
               "availability": self.availability,
               "mean_failed_parts": {k: float(np.mean([d.get(k, 0) for d in self.draws])) for k in
                                     (self.draws[0] if self.draws else {})}}
        for k, v in self.extra.items():
            out[f"{k}_p50"] = self.quantile(0.5, v)
            out[f"{k}_p99"] = self.quantile(0.99, v)
            out[f"{k}_mean"] = float(np.nanmean(v)) if np.isfinite(v).any() else None
        return out

    def _unit(self) -> tuple[float, str]:
        if self.metric == "time_s":
            return 1e6, "us"
        if self.metric.endswith("_s"):
            return 1e3, "ms"
        return 1.0, self.metric.split("_")[-1]

    def table(self) -> str:
        d = self.to_dict()
        scale, unit = self._unit()
        name = self.metric.rsplit("_", 1)[0]
        lines = [f"# {self.label}: {self.samples} samples (seed {self.seed})",
                 f"{name} healthy   {self.healthy * scale:,.4g} {unit}",
                 f"{name} P50       {d['p50'] * scale:,.4g} {unit}",
                 f"{name} P99       {d['p99'] * scale:,.4g} {unit}   (P01 {d['p01'] * scale:,.4g} {unit})",
                 f"availability     {d['availability']:.1%} of samples (every member reachable / every replica up)"]
        for k in self.extra:  # a series in s prints in ms under its name without the SI suffix; a count bare
            u, sc, name = (" ms", 1e3, k[:-2]) if k.endswith("_s") else ("", 1.0, k)
            lines.append(f"{name:<16} P50 {d[f'{k}_p50'] * sc:,.4g}{u}, P99 {d[f'{k}_p99'] * sc:,.4g}{u}")
        parts = ", ".join(f"{k} {v:.2f}" for k, v in d["mean_failed_parts"].items())
        lines.append(f"failed per sample mean: {parts}")
        return "\n".join(lines)

    def plot(self, path: str) -> str:
        """Histogram of the metric over the available samples, with the healthy value and P50/P99 marked."""
        from topo.draw import check_figure_path, pyplot

        check_figure_path(path)
        plt = pyplot()
        scale, unit = self._unit()
        v = self.values[np.isfinite(self.values)] * scale
        fig, ax = plt.subplots(figsize=(7, 4))
        if len(v):
            ax.hist(v, bins=min(40, max(5, len(v) // 3)), color="#4C72B0", alpha=0.8)
        ax.axvline(self.healthy * scale, color="k", ls="--", label="healthy")
        for q, c in ((0.5, "#DD8452"), (0.99, "#C44E52")):
            x = self.quantile(q) * scale
            if np.isfinite(x):
                ax.axvline(x, color=c, label=f"P{int(q * 100)} {x:,.4g} {unit}")
        ax.set_xlabel(f"{self.metric.rsplit('_', 1)[0]} ({unit})")
        ax.set_ylabel("samples")
        ax.set_title(f"{self.label}\n{self.samples} samples, availability {self.availability:.1%}", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=130)
        plt.close(fig)
        return path


def _seeds(seed: int, n: int) -> list[int]:
    """Independent per-sample seeds derived from one seed (numpy SeedSequence)."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n)]


def collective_monte_carlo(
    collective: str,
    fabric: Any,
    size: Any,
    group_size: int | None = None,
    *,
    groups: Sequence[Sequence[int]] | None = None,
    placement: str = "tray",
    concurrent: bool = False,
    rates: Any = None,
    scale: float = 1.0,
    samples: int = 100,
    seed: int = 0,
    algorithm: str = "auto",
    faults: Any = None,
    stragglers: Any = None,
    **opts: Any,
) -> MonteCarloResult:
    """Distribution of a collective's time under random faults (see the module docstring).

    ``algorithm="auto"`` is resolved once, on the healthy run, and kept in every sample (a tuner's static
    choice). In a sample, a group that has a failed chip is down: the surviving groups run (their time is the
    sample's value, ``extra["groups_lost"]`` counts the others) and the sample counts as unavailable;
    a sample where failed links cut a live group from a member has no value (NaN).

    Args:
        collective: ``"all_reduce"``, ... fabric: a Fabric or preset name. size: bytes or ``"256MiB"``.
        group_size: ranks per group (groups cut by ``placement``; default, as ``--group-size``, min(64, chips),
            send_recv 2); or ``groups`` explicitly.
        concurrent: every group at once (True) or the first group alone (False, the default, as ``scaleup
            collective ... --fail-random`` without ``--concurrent-groups``).
        rates: failure rates (:func:`topo.faults.parse_rates`); scale: multiplies every probability.
        samples, seed: Monte Carlo samples, deterministic under ``seed``.
        faults: fixed faults applied in every sample (on top of the random ones).
        stragglers: a straggler spec (:func:`topo.faults.parse_speeds`) drawn anew in every sample with the
            sample's seed (``"normal:0.95,0.03"``, ``"2@0.5"``); the healthy value has no stragglers.
        opts: passed to :func:`collectives.run` (mode, ideal, ...).
    """
    fab = _fabric(fabric)
    if samples < 1:
        raise SpecError(f"samples: must be >= 1, got {samples}")
    collective = collectives.api.canonical_collective(collective)  # the CLI's all-reduce too
    if groups is None:  # as --group-size: min(64, chips), send_recv 2
        k = group_size or min(2 if collective == "send_recv" else 64, fab.n_chips)
        groups = fab.groups(k, placement)
        if not concurrent:
            groups = groups[:1]
    groups = [list(map(int, g)) for g in groups]
    members = np.zeros(fab.n_chips, dtype=bool)
    members[np.concatenate([np.asarray(g) for g in groups])] = True
    cls = collectives.OPS.get(collective)
    if cls is None:
        raise SpecError(f"collective: {collective!r} is not one of {', '.join(collectives.OPS)}")
    run_kw = {k: opts.pop(k) for k in ("mode", "routing", "ideal", "overhead") if k in opts}

    chosen = [algorithm]

    def run(f: topo.Fabric, live: tuple[int, ...]) -> float:
        res = collectives.run([cls(size, groups[i], chosen[0], **opts) for i in live], f, **run_kw)
        chosen[0] = res[0].algorithm  # the healthy run's choice of "auto" holds for every sample
        return max(r.time for r in res)

    base = fab.with_faults(faults) if faults else fab
    everyone = tuple(range(len(groups)))
    healthy = run(base, everyone)
    memo: dict[tuple, float] = {((), everyone): healthy}
    group_of = np.full(fab.n_chips, -1)
    for gi, g in enumerate(groups):
        group_of[g] = gi
    values = np.full(samples, np.nan)
    avail = np.zeros(samples, dtype=bool)
    lost = np.zeros(samples)
    draws = []
    for i, s in enumerate(_seeds(seed, samples)):
        d = random_faults(fab, rates, seed=s, scale=scale)
        draws.append(d.counts)
        dead = {int(f[6:]) for f in d.faults if f.startswith("chip:c") and f[6:].isdigit()}
        down = {int(group_of[c]) for c in dead if members[c]}
        live = tuple(g for g in everyone if g not in down)
        lost[i] = len(down)
        if not live:
            continue
        key = (tuple(sorted(f for f in d.faults if not f.startswith("chip:"))), live, s if stragglers else None)
        if key not in memo:
            f = base.with_faults(list(key[0])) if key[0] else base
            if stragglers is not None:
                f = f.with_stragglers(stragglers, seed=s)
            try:
                memo[key] = run(f, live)
            except RoutingError:
                memo[key] = float("nan")  # a live group lost a member to the cut
        values[i] = memo[key]
        avail[i] = not down and np.isfinite(values[i])
    n = len(groups)
    label = (f"{collective} {topo.format_bytes(collectives.size_bytes(size))} on {fab.name}, "
             f"{n} group{'s' if n > 1 else ''} of {len(groups[0])}" + (" at once" if n > 1 else ""))
    out = MonteCarloResult("time_s", values, healthy, avail, draws, seed, samples, label)
    out.extra["groups_lost"] = lost
    return out


def infer_monte_carlo(
    model: Any,
    fabric: Any,
    *,
    rates: Any = None,
    scale: float = 1.0,
    samples: int = 20,
    seed: int = 0,
    **estimate_kw: Any,
) -> MonteCarloResult:
    """TPOT distribution of :func:`inference.estimate` under random faults.

    In each sample the failed cables and switches are applied to the fabric and the deployment's TPOT is
    estimated on it (every replica's collectives run concurrently on the faulted fabric, as ``estimate``
    does); failed chips do not enter the fabric: a sample with a failed chip among the deployment's chips
    (tray-first replicas of ``chips_per_replica`` chips, ``dp`` of them) counts as unavailable (a replica is
    down) and its TPOT is still reported for the replicas that remain. ``extra["replicas_down"]`` counts
    them. Deterministic under ``seed``.
    """
    from inference import estimate

    fab = _fabric(fabric)
    if samples < 1:
        raise SpecError(f"samples: must be >= 1, got {samples}")
    healthy_rep = estimate(model, fab, **estimate_kw)
    k = int(healthy_rep.chips_per_replica)
    used = min(int(healthy_rep.dp) * k, fab.n_chips)
    memo: dict[tuple, float] = {(): float(healthy_rep.tpot)}
    values = np.full(samples, np.nan)
    avail = np.zeros(samples, dtype=bool)
    down = np.zeros(samples)
    draws = []
    for i, s in enumerate(_seeds(seed, samples)):
        d = random_faults(fab, rates, seed=s, scale=scale)
        draws.append(d.counts)
        dead = {int(f[6:]) for f in d.faults if f.startswith("chip:c") and f[6:].isdigit()}
        down[i] = len({c // k for c in dead if c < used})
        key = tuple(sorted(f for f in d.faults if not f.startswith("chip:")))
        if key not in memo:
            try:
                memo[key] = float(estimate(model, fab.with_faults(list(key)), **estimate_kw).tpot)
            except RoutingError:
                memo[key] = float("nan")
        values[i] = memo[key]
        avail[i] = down[i] == 0 and np.isfinite(values[i])
    label = f"TPOT of {healthy_rep.model} on {fab.name}, tp={healthy_rep.tp}, {healthy_rep.dp} replicas"
    out = MonteCarloResult("tpot_s", values, float(healthy_rep.tpot), avail, draws, seed, samples, label)
    out.extra["replicas_down"] = down
    return out


def serve_monte_carlo(
    fleet: Any,
    *,
    rates: Any = None,
    scale: float = 1.0,
    samples: int = 20,
    seed: int = 0,
    trace_seed: int | None = 0,
    **serve_kw: Any,
) -> MonteCarloResult:
    """Goodput distribution of :func:`fleet.simulate_serving` under random faults.

    ``seed`` draws the faults; ``trace_seed`` the requests (``simulate_serving``'s ``seed``: Poisson arrivals,
    workload lengths; default 0 as ``scaleup serve --seed``; None: ``seed``), so ``scaleup serve --seed S
    --fail-random ... --fail-seed F`` is ``serve_monte_carlo(..., seed=F, trace_seed=S)`` and runs the requests of
    ``scaleup serve --seed S``.

    Model (documented): in each sample, faults are drawn on each pool's fabric; the pool's chips are cut
    into tray-first groups of one replica's chips (``max(tp, ep) x pp``); a group containing a failed chip
    is down; the pool runs ``min(replicas, healthy groups)`` replicas (spare groups replace failed ones).
    Failed cables and switches degrade bandwidth but do not take a replica down here (their effect on a
    collective's time is what :func:`collective_monte_carlo` measures). Identical replica counts share one
    simulation (memoised), so the cost grows with the distinct outcomes, not the samples.
    """
    from .sim import simulate_serving
    from .spec import load_fleet

    if samples < 1:
        raise SpecError(f"samples: must be >= 1, got {samples}")
    spec = load_fleet(fleet)
    pools = [p for p in spec.pools]
    fabs = {p.name: _fabric(p.fabric) for p in pools if p.fabric is not None}

    serve_kw["seed"] = seed if trace_seed is None else trace_seed

    def sim(counts: tuple[int, ...]):
        new = [dataclasses.replace(p, replicas=c) for p, c in zip(pools, counts)]
        return simulate_serving(dataclasses.replace(spec, pools=tuple(new)), **serve_kw)

    full = tuple(p.replicas for p in pools)
    healthy_res = sim(full)
    memo = {full: healthy_res}
    values = np.full(samples, np.nan)
    tpot = np.full(samples, np.nan)
    avail = np.zeros(samples, dtype=bool)
    draws = []
    for i, s in enumerate(_seeds(seed, samples)):
        counts = []
        tot: dict[str, int] = {}
        for j, p in enumerate(pools):
            if p.name not in fabs:
                counts.append(p.replicas)
                continue
            f = fabs[p.name]
            d = random_faults(f, rates, seed=s + j, scale=scale)
            for k, v in d.counts.items():
                tot[k] = tot.get(k, 0) + v
            k_chips = max(p.tp, p.ep) * p.pp
            n_groups = f.n_chips // k_chips
            dead = np.zeros(f.n_chips, dtype=bool)
            for flt in d.faults:
                if flt.startswith("chip:c") and flt[6:].isdigit():
                    dead[int(flt[6:])] = True
            bad = dead[: n_groups * k_chips].reshape(n_groups, k_chips).any(axis=1)
            counts.append(min(p.replicas, int((~bad).sum())))
        draws.append(tot)
        key = tuple(counts)
        avail[i] = key == full
        if min(key) < 1:
            values[i] = 0.0
            continue
        if key not in memo:
            memo[key] = sim(key)
        values[i] = memo[key].goodput
        tpot[i] = float(np.nanmean(memo[key].tpot))
    label = f"serving {spec.name} under random faults (goodput, requests/s meeting both SLOs)"
    out = MonteCarloResult("goodput_rps", values, healthy_res.goodput, avail, draws, seed, samples, label)
    out.extra["tpot_s"] = tpot
    return out


# ------------------------------------------------------------------------------------------ stragglers
class _Slowed(StepModelWrapper):
    """A step model whose iterations take ``1 / speed`` as long (its slowest chip's speed)."""

    def __init__(self, inner: Any, speed: float) -> None:
        super().__init__(inner)
        self._speed = float(speed)

    def prefill_time(self, tokens, batch):  # noqa: ANN001
        return self._inner.prefill_time(tokens, batch) / self._speed

    def decode_time(self, batch, context):  # noqa: ANN001
        return self._inner.decode_time(batch, context) / self._speed

    def __getattr__(self, name: str):  # noqa: ANN204
        # mixed_time (a chunked pool's fused prefill + decode iteration) slows as the others do; it stays absent
        # when the wrapped model has none (the simulator then adds prefill_time and decode_time)
        attr = super().__getattr__(name)
        if name == "mixed_time":
            speed = self._speed
            return lambda *args, **kw: attr(*args, **kw) / speed
        return attr


def straggler_fleet(fleet: Any, stragglers: Any, seed: int = 0, model: Any = None):
    """A fleet whose replicas run at their slowest chip's speed: ``(spec, step_models)`` for
    :func:`fleet.simulate_serving`.

    Each pool built on a fabric gets per-chip speeds (:func:`topo.faults.parse_speeds` of ``stragglers``,
    seeded); replica ``r`` holds the tray-first chips ``r*k .. r*k+k-1`` (``k = max(tp, ep) x pp``) and
    its iterations take ``1 / min(speed)`` as long (ASSUMPTION: the whole iteration slows, communication
    included; decode iterations are compute/memory bound). Replicas of equal speed stay one pool; the
    others become pools named ``<pool>@<speed>`` with the same role, so the router sees them apart.
    """
    from topo.faults import parse_speeds

    from .sim import build_step_model
    from .spec import load_fleet

    spec = load_fleet(fleet)
    new_pools, models = [], {}
    for j, p in enumerate(spec.pools):
        if p.fabric is None:
            new_pools.append(p)
            continue
        fab = _fabric(p.fabric)
        k = max(p.tp, p.ep) * p.pp
        if p.replicas * k > fab.n_chips:
            raise SpecError(f"pool {p.name!r}: {p.replicas} replicas of {k} chips exceed the {fab.n_chips} chips of "
                            f"{fab.name!r}, so stragglers cannot be placed")
        v = parse_speeds(stragglers, fab.n_chips, seed + j)
        rs = v[: p.replicas * k].reshape(p.replicas, k).min(axis=1)
        inner = build_step_model(p, model if model is not None else spec.model)
        for sp in sorted(set(rs.tolist()), reverse=True):
            n = int((rs == sp).sum())
            name = p.name if sp == 1.0 else f"{p.name}@{sp:g}"
            new_pools.append(dataclasses.replace(p, name=name, replicas=n))
            models[name] = inner if sp == 1.0 else _Slowed(inner, sp)
    return dataclasses.replace(spec, pools=tuple(new_pools)), models


class _Down(StepModelWrapper):
    """A pool's step model whose pool lost ``replicas_down`` replicas to faults: they serve nothing and are still
    paid for (:func:`fleet.simulate_serving` charges ``replicas + replicas_down`` replicas of the pool)."""

    def __init__(self, inner: Any, replicas_down: int) -> None:
        super().__init__(inner)
        self.replicas_down = int(replicas_down)


def fault_fleet(fleet: Any, faults: Any, model: Any = None):
    """A fleet on faulted fabrics: ``(spec, step_models)`` for :func:`fleet.simulate_serving`.

    Each pool built on a fabric gets ``faults`` (:meth:`topo.Fabric.with_faults`; names as that fabric prints
    them): its step model (``inference.StepModel``) simulates the replica's communication on the faulted
    fabric, and a replica (tray-first group of ``max(tp, ep) x pp`` chips) holding a chip that lost every link
    is down; the pool keeps ``min(replicas, healthy groups)`` replicas (spare groups replace failed ones). A
    fault in any group, the first included, is simulated alike: the step model runs the replicas that are up.

    The replicas lost (no spare group left to replace them) are still charged: their pool's step model carries
    ``replicas_down`` and :func:`fleet.simulate_serving` counts them in the pool's and the fleet's $/h (the owner
    pays for the chips, and the network, of a replica that is down), though they serve nothing.
    """
    from inference import StepModel  # type: ignore[attr-defined]

    from .sim import _Priced
    from .spec import load_fleet

    spec = load_fleet(fleet)
    new_pools, models = [], {}
    for p in spec.pools:
        if p.fabric is None:
            new_pools.append(p)
            continue
        fab = _fabric(p.fabric).with_faults(faults)
        k = max(p.tp, p.ep) * p.pp
        n_groups = fab.n_chips // k
        deg = np.bincount(fab.edge_src, minlength=fab.n_nodes)[: fab.n_chips]
        bad = (deg[: n_groups * k] == 0).reshape(n_groups, k).any(axis=1)
        n = min(p.replicas, int((~bad).sum()))
        if n < 1:
            raise SpecError(f"pool {p.name!r}: no replica of {k} healthy chips is left on {fab.name!r} under the faults")
        new_pools.append(dataclasses.replace(p, replicas=n))
        m = p.model or model or spec.model
        if m is None:  # as build_step_model says it
            raise SpecError(f"pool {p.name!r}: no model; pass --model or set 'model' in the fleet YAML")
        kw: dict[str, Any] = {"tp": p.tp, "ep": p.ep, "pp": p.pp, "dtype": p.dtype}
        if p.kv_dtype is not None:
            kw["kv_dtype"] = p.kv_dtype
        if p.stack is not None:
            kw["stack"] = p.stack
        if p.speculative is not None:
            kw["speculative"] = p.speculative
        # the step model simulates the replicas that are up (inference.Deployment: every DP group whose chips all
        # work runs its collectives at once), so a fault in the first tray-first group is as one in any other
        sm = StepModel(m, fab, **kw)
        sm = _Priced(sm, p.price) if p.price is not None else sm  # the pool's $/chip-hour, as build_step_model
        # (and so --straggler) applies it
        models[p.name] = _Down(sm, p.replicas - n) if n < p.replicas else sm
    return dataclasses.replace(spec, pools=tuple(new_pools)), models


# ------------------------------------------------------------------------------------------ sharing
def place(fabric: Any, n_groups: int, k: int, policy: str | Callable = "tray", seed: int = 0,
          free: np.ndarray | None = None) -> list[list[int]]:
    """``n_groups`` groups of ``k`` chips among the ``free`` chips (bool mask; default all).

    Policies: ``"tray"`` (consecutive free ranks: fills trays, then leaves), ``"strided"`` (group i takes
    every ``n_groups``-th free chip: spread over the fabric), ``"random"`` (a seeded permutation of the
    free chips), or a callable ``(fabric, n_groups, k, free_ranks) -> list of rank lists``.
    """
    fab = _fabric(fabric)
    ranks = np.flatnonzero(np.ones(fab.n_chips, dtype=bool) if free is None else free)
    need = n_groups * k
    if need > len(ranks):
        raise SpecError(f"place: {n_groups} groups of {k} chips need {need} chips; {len(ranks)} are free")
    if callable(policy):
        out = [list(map(int, g)) for g in policy(fab, n_groups, k, ranks)]
        flat = np.concatenate([np.asarray(g) for g in out]) if out else np.zeros(0, int)
        if len(out) != n_groups or any(len(g) != k for g in out) or len(np.unique(flat)) != need \
                or not np.isin(flat, ranks).all():
            raise SpecError(f"place: the placement callable must return {n_groups} disjoint groups of {k} free chips")
        return out
    if policy == "tray":
        return ranks[:need].reshape(n_groups, k).tolist()
    if policy == "strided":
        step = len(ranks) // need
        return ranks[: need * step: step].reshape(k, n_groups).T.tolist()
    if policy == "random":
        return np.random.default_rng(seed).permutation(ranks)[:need].reshape(n_groups, k).tolist()
    raise SpecError(f"place: policy must be 'tray', 'strided', 'random' or a callable, got {policy!r}")


@dataclass
class Job:
    """One tenant's collectives: ``n_groups`` groups of ``group_size`` chips, each running ``collective``
    of ``size`` bytes, placed by ``placement`` (or ``groups`` given explicitly)."""

    name: str
    collective: str = "all_reduce"
    size: Any = "64MiB"
    group_size: int = 8
    n_groups: int = 1
    placement: str | Callable = "tray"
    groups: list[list[int]] | None = None
    algorithm: str = "auto"
    opts: dict = field(default_factory=dict)


def load_jobs(source: Any) -> tuple[Any, list[Job]]:
    """``(fabric, jobs)`` from a YAML path or mapping ``{fabric: NAME, faults: [...], jobs: [{name, collective,
    size, group_size, n_groups, placement, groups, algorithm}, ...]}`` (``faults`` optional)."""
    import yaml

    from topo.bundled import bundled_file
    from topo.loader import read_text_utf8

    if not isinstance(source, dict):
        source = bundled_file(source) or source  # examples/whatif-jobs.yaml works outside a checkout
        try:
            source = yaml.safe_load(read_text_utf8(source, "jobs file")) or {}
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "syntax error"
            raise SpecError(f"jobs file: not valid YAML ({first})") from None
    if not isinstance(source, dict) or not isinstance(source.get("jobs"), list) or not source["jobs"]:
        raise SpecError("jobs file: expected a mapping with 'fabric' and a non-empty list 'jobs'")
    unknown = set(source) - {"fabric", "faults", "jobs", "name", "description"}
    if unknown:
        raise SpecError(f"jobs file: unknown key(s) {sorted(unknown)}; use fabric, faults, jobs")
    fab = _fabric(source.get("fabric", "maia200"))
    if source.get("faults"):
        fab = fab.with_faults(source["faults"])
    names = {f.name for f in dataclasses.fields(Job)} - {"opts"}
    jobs = []
    for i, j in enumerate(source["jobs"]):
        if not isinstance(j, dict):
            raise SpecError(f"jobs[{i}]: expected a mapping (name, collective, size, group_size, n_groups, ...)")
        opts = {k: v for k, v in j.items() if k not in names}
        jobs.append(Job(**{"name": f"job{i}", **{k: v for k, v in j.items() if k in names}}, opts=opts))
    return fab, jobs


@dataclass
class JobsResult:
    """Per job: its groups, time alone and time together (s), and the slowdown (together / alone)."""

    jobs: list[Job]
    alone: list[float]
    together: list[float]

    def slowdown(self) -> list[float]:
        return [t / a if a > 0 else float("nan") for a, t in zip(self.alone, self.together)]

    def table(self) -> str:
        lines = [f"{'job':<12} {'collective':<14} {'groups':>7} {'alone us':>10} {'together us':>12} {'slowdown':>9}"]
        for j, a, t, s in zip(self.jobs, self.alone, self.together, self.slowdown()):
            lines.append(f"{j.name:<12} {j.collective:<14} {len(j.groups or []):>7} {a * 1e6:>10,.1f} "
                         f"{t * 1e6:>12,.1f} {s:>8.3f}x")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"jobs": [{"name": j.name, "collective": j.collective, "groups": j.groups, "alone_s": a,
                          "together_s": t, "slowdown": s}
                         for j, a, t, s in zip(self.jobs, self.alone, self.together, self.slowdown())]}


def run_jobs(fabric: Any, jobs: Sequence[Job], seed: int = 0, mode: str = "exact", **run_kw: Any) -> JobsResult:
    """Run each job alone, then all at once on one fabric (:func:`collectives.run`); jobs without explicit
    groups are placed in order on the chips the earlier jobs left free.

    ``mode="exact"`` (the default) runs every rank's flows on their own dependencies, so a job of short steps
    is not held to the step boundaries of a job of long ones; ``mode="steps"`` (faster at scale) runs the
    k-th steps of all jobs together, which makes jobs with different step lengths wait for each other (an
    over-estimate of the interference)."""
    fab = _fabric(fabric)
    run_kw["mode"] = mode
    free = np.ones(fab.n_chips, dtype=bool)
    placed = []
    for j in jobs:
        if j.groups is None:
            for name, v in (("group_size", j.group_size), ("n_groups", j.n_groups)):
                if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                    raise SpecError(f"job {j.name!r}: {name} must be a positive integer, got {v!r}")
        g = j.groups if j.groups is not None else place(fab, j.n_groups, j.group_size, j.placement, seed, free)
        if not isinstance(g, (list, tuple, np.ndarray)) or not len(g) or not all(
                isinstance(x, (list, tuple, range, np.ndarray)) and len(x) and all(
                    isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in x) for x in g):
            raise SpecError(f"job {j.name!r}: groups must be a list of lists of chip ranks (integers), got {g!r}")
        used = np.concatenate([np.asarray(x, dtype=np.int64) for x in g])
        out = used[(used < 0) | (used >= fab.n_chips)]
        if len(out):
            raise SpecError(f"job {j.name!r}: chip {int(out[0])} does not exist in {fab.name!r}; ranks are "
                            f"0..{fab.n_chips - 1}")
        if not free[used].all():
            raise SpecError(f"job {j.name!r}: its groups overlap chips of an earlier job")
        free[used] = False
        placed.append(dataclasses.replace(j, groups=[list(map(int, x)) for x in g]))
    ops_of = []
    for j in placed:
        coll = collectives.api.canonical_collective(j.collective)  # the CLI's all-reduce too
        cls = collectives.OPS.get(coll) if isinstance(coll, str) else None
        if cls is None:
            raise SpecError(f"job {j.name!r}: collective {j.collective!r} is not one of {', '.join(collectives.OPS)}")
        ops_of.append([cls(j.size, g, j.algorithm, **j.opts) for g in j.groups])
    alone = [max(r.time for r in collectives.run(ops, fab, seed=seed, **run_kw)) for ops in ops_of]
    flat = [op for ops in ops_of for op in ops]
    res = collectives.run(flat, fab, seed=seed, **run_kw)
    together, k = [], 0
    for ops in ops_of:
        together.append(max(r.time for r in res[k:k + len(ops)]))
        k += len(ops)
    return JobsResult(placed, alone, together)
