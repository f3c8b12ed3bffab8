"""Fit a platform's communication-software parameters (a ``comm:`` block) to measured collective times.

``calibrate(fabric, measurements)`` takes measurements as nccl-tests stdout files, CSV/Parquet tables of
``(collective, ranks, bytes, seconds)``, the aiconfigurator-core tables (``aiconfigurator:h100_sxm``; the
optional extra ``scaleup-sim[measured]``, read at run time from the installed package, never copied), or a
DataFrame / list of rows. It fits the :class:`topo.CommSpec` the calibrated model (:mod:`collectives.comm`)
uses, by least squares on log(predicted / measured), and reports the error per size bucket.

How the fit stays fast and exact: for every measured point and every candidate (algorithm, chunking) the
fabric is probed once in the engine at two flow inflations (1 and 2). Engine time is affine in a uniform
stretch of the flow bytes (max-min rates do not depend on sizes; latency adds), so the calibrated model's
prediction for any parameters is a closed form of the probes, the step count and the alpha-beta bound;
``tests/test_comm_calibrate.py`` checks it against full runs.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from topo import Fabric, ScheduleError, SpecError
from topo.specs import PROTOCOLS, CommSpec

from . import api
from . import comm as _comm
from .algorithms import ALGORITHMS, REGISTRY, algorithms_for

#: aiconfigurator-core system directory -> bundled fabric
SYSTEMS = {"h100_sxm": "dgx-h100", "b200_sxm": "dgx-b200", "h200_sxm": "dgx-h200", "gb200": "gb200-nvl72"}
#: systems the presets are fitted on; the others are held out (reported, never tuned)
FIT_SYSTEMS = ("h100_sxm", "b200_sxm")
HELD_OUT = ("h200_sxm", "gb200")
NCCL_VERSION = "2.29.2"
#: (framework, version) of the custom all-reduce tables used
CUSTOM_TABLE = ("trtllm", "1.3.0rc20")
#: serving stack -> (version, backend) of its all-reduce table (the newest aiconfigurator-core 0.12.0 ships on
#: h100_sxm, b200_sxm, h200_sxm, gb200): the stack's whole ``tensor_model_parallel_all_reduce`` timed inside
#: a CUDA graph (its eager rows add the host's per-call dispatch, which a served prefill overlaps)
STACK_TABLES = {"vllm": ("0.24.0", "vllm_graph"), "sglang": ("0.5.14", "sglang_graph")}
AICONFIGURATOR_VERSION = "0.12.0"
_OPS = {"all_reduce": "all_reduce", "all_gather": "all_gather", "reduce_scatter": "reduce_scatter",
        "alltoall": "all_to_all"}
_DTYPE_BYTES = {"half": 2, "float16": 2, "bfloat16": 2, "int8": 1, "float": 4, "float32": 4}
#: NCCL's algorithm set per collective on one NVLink domain (NVLS where the switch reduces)
NCCL_ALGORITHMS = {"all_reduce": ("ring", "inr"), "all_gather": ("ring",), "reduce_scatter": ("ring",),
                   "all_to_all": ("direct",)}
#: collectives the presets are fitted on (NCCL's all-to-all is grouped point-to-point with its own
#: costs; its table is reported, not fitted)
FIT_COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter")
#: the custom all-reduce algorithms (TensorRT-LLM / vLLM): one-shot, and two-shot = scaleup's ``direct``
CUSTOM_ALGORITHMS = ("oneshot", "direct")
#: random (seeded) restarts of the least-squares fit beside the fixed starting points
RESTARTS = 6
#: size buckets of the error report, bytes (lower edges)
BUCKETS = ((0, "< 64 KiB"), (64 * 2**10, "64 KiB - 1 MiB"), (2**20, "1 - 16 MiB"), (16 * 2**20, "16 - 64 MiB"),
           (64 * 2**20, ">= 64 MiB"))


# ---------------------------------------------------------------------- measurements
def _pd():
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise SpecError(f"measurements: pandas is needed ({exc})") from None
    return pd


def aiconfigurator_dir() -> Path:
    """The installed aiconfigurator-core system data directory.

    Raises:
        SpecError: when the optional extra is not installed.
    """
    try:
        import aiconfigurator_core
    except ImportError:
        raise SpecError("measurements: aiconfigurator-core is not installed; pip install 'scaleup-sim[measured]' "
                        "(Python >= 3.11)") from None
    return Path(aiconfigurator_core.__file__).resolve().parent / "systems" / "data"


def aiconfigurator_table(system: str, kind: str = "nccl", version: str | None = None, dtype: str = "half"):
    """Measured rows of one aiconfigurator-core system as a DataFrame (collective, ranks, bytes, seconds).

    Args:
        system: e.g. ``"h100_sxm"`` (see :data:`SYSTEMS`).
        kind: ``"nccl"`` (nccl_perf: all-reduce, all-gather, reduce-scatter, all-to-all), ``"custom"``
            (the custom all-reduce of :data:`CUSTOM_TABLE`; rows get ``stack = "custom"``), or ``"vllm"`` /
            ``"sglang"`` (the stack's TP all-reduce of :data:`STACK_TABLES`, CUDA-graph rows; ``stack`` = kind).
        version: table version (default :data:`NCCL_VERSION` / the custom table's / :data:`STACK_TABLES`).
        dtype: nccl_perf element type (``message_size`` is an element count; ``latency`` is ms).
    """
    pd = _pd()
    base = aiconfigurator_dir() / system / "comm"
    if kind == "nccl":
        f = base / "nccl" / (version or NCCL_VERSION) / "nccl_perf.parquet"
    elif kind == "custom":
        f = base / CUSTOM_TABLE[0] / (version or CUSTOM_TABLE[1]) / "custom_allreduce_perf.parquet"
    elif kind in STACK_TABLES:
        f = base / kind / (version or STACK_TABLES[kind][0]) / "custom_allreduce_perf.parquet"
    else:
        raise SpecError(f"kind: must be 'nccl', 'custom', {', '.join(map(repr, STACK_TABLES))}, got {kind!r}")
    if not f.is_file():
        raise SpecError(f"measurements: no table {f.relative_to(base.parent.parent)} in aiconfigurator-core; "
                        f"systems: {', '.join(sorted(p.name for p in base.parent.parent.iterdir()))}")
    df = pd.read_parquet(f)
    if kind in STACK_TABLES and "backend" in df.columns:
        df = df[df["backend"] == STACK_TABLES[kind][1]]
    if kind == "nccl":
        df = df[df["nccl_dtype"] == dtype]
        el = _DTYPE_BYTES[dtype]
        coll = df["op_name"].map(_OPS)
    else:
        el = df["allreduce_dtype"].map(_DTYPE_BYTES).astype(float)
        coll = "all_reduce"
    out = pd.DataFrame({"collective": coll, "ranks": df["num_gpus"].astype(int),
                        "bytes": df["message_size"].astype(float) * el, "seconds": df["latency"].astype(float) * 1e-3})
    out["stack"] = kind if kind in STACK_TABLES else ("custom" if kind == "custom" else "nccl")
    out["system"] = system
    return out.dropna().reset_index(drop=True)


def _from_measure_table(df, path: Path):
    """The collective rows of a ``scaleup measure`` table (kind ``collective``: name, ranks, bytes, time_s)
    as (collective, ranks, bytes, seconds); its size convention is nccl-tests' (the whole buffer)."""
    missing = {"kind", "name", "ranks", "bytes", "time_s"} - set(df.columns)
    if missing:
        raise SpecError(f"measurements: {path.name}: missing column(s) {', '.join(sorted(missing))} of a scaleup "
                        "measure table (kind, name, ranks, bytes, time_s)")
    sel = df[df["kind"] == "collective"]
    if len(sel) == 0:
        raise SpecError(f"measurements: {path} is a scaleup measure table without collective rows (measure on "
                        ">= 2 devices with --kinds collective)")
    return _pd().DataFrame({"collective": sel["name"].astype(str), "ranks": sel["ranks"],
                            "bytes": sel["bytes"], "seconds": sel["time_s"]})


def read_measurements(source: Any, collective: str | None = None):
    """Measurements as a DataFrame with columns collective, ranks, bytes, seconds (and stack).

    ``source``: a DataFrame; a list of row dicts; a path to CSV / Parquet (those columns, or a table written
    by ``scaleup measure``: its collective rows) or to nccl-tests stdout (any other extension);
    ``"aiconfigurator:<system>"``, ``"aiconfigurator-custom:<system>"``, ``"aiconfigurator-vllm:<system>"`` or
    ``"aiconfigurator-sglang:<system>"``; or a list of those (concatenated).
    """
    pd = _pd()
    if isinstance(source, (list, tuple)) and source and not isinstance(source[0], dict):
        return pd.concat([read_measurements(s, collective) for s in source], ignore_index=True)
    if isinstance(source, pd.DataFrame):
        df = source.copy()
    elif isinstance(source, (list, tuple)):
        df = pd.DataFrame(list(source))
    elif isinstance(source, str) and source.startswith("aiconfigurator"):
        kind, _, system = source.partition(":")
        sub = kind.partition("-")[2]
        if kind != "aiconfigurator" and sub not in ("custom", *STACK_TABLES):
            raise SpecError(f"measurements: {kind!r} is not a table; use aiconfigurator:<system> (nccl-tests), "
                            f"aiconfigurator-custom:<system> (TensorRT-LLM's) or "
                            f"{', '.join(f'aiconfigurator-{k}:<system>' for k in STACK_TABLES)}")
        return aiconfigurator_table(system, sub or "nccl")
    else:
        p = Path(source)
        if not p.is_file():
            raise SpecError(f"measurements: {str(p)!r} is not a file (nccl-tests stdout, .csv or .parquet)")
        if p.suffix == ".csv":
            import io

            try:
                text = p.read_bytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SpecError(f"measurements: {p.name}: not UTF-8 text (offset {exc.start}); expected a CSV of "
                                "collective,ranks,bytes,seconds") from None
            own = text.startswith("# scaleup-kernels")
            if not own:  # leading '# measured on node01 ...' lines are notes, not the header
                lines = text.splitlines(keepends=True)
                while lines and lines[0].lstrip().startswith("#"):
                    lines.pop(0)
                text = "".join(lines)
            try:
                df = pd.read_csv(io.StringIO(text), comment="#" if own else None)
            except pd.errors.EmptyDataError:
                raise SpecError(f"measurements: {p.name} is empty; expected a CSV header collective,ranks,bytes,"
                                "seconds and one row per measurement") from None
            except pd.errors.ParserError as exc:
                raise SpecError(f"measurements: {p.name}: not a valid CSV ({str(exc).splitlines()[0]})") from None
            if own:
                df = _from_measure_table(df, p)
        elif p.suffix in (".parquet", ".pq"):
            try:
                df = pd.read_parquet(p)
            except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid / ArrowIOError derive from these
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise SpecError(f"measurements: {p.name} is not a Parquet file pandas can read ({first})") from None
            if "kind" in df.columns and "time_s" in df.columns:
                df = _from_measure_table(df, p)
        else:
            from .nccl_tests import read_nccl_tests
            df = pd.DataFrame(read_nccl_tests(p, collective))
    missing = {"collective", "ranks", "bytes", "seconds"} - set(df.columns)
    if missing:
        raise SpecError(f"measurements: missing column(s) {', '.join(sorted(missing))}; need collective, ranks, "
                        "bytes, seconds")
    df["collective"] = df["collective"].astype(str).str.replace("-", "_")
    bad = sorted(set(df["collective"]) - set(NCCL_ALGORITHMS) - {"broadcast", "reduce", "send_recv"})
    if bad:
        valid = sorted(set(NCCL_ALGORITHMS) | {"broadcast", "reduce", "send_recv"})
        raise SpecError(f"measurements: unknown collective {bad[0]!r}; use one of {', '.join(valid)}")
    if "stack" not in df.columns:
        df["stack"] = "nccl"
    for col in ("ranks", "bytes", "seconds"):
        if not pd.api.types.is_numeric_dtype(df[col]):
            num = pd.to_numeric(df[col], errors="coerce")
            bad = num.isna() & df[col].notna()
            if bad.any():
                raise SpecError(f"measurements: column {col} must hold numbers, got {df[col][bad].iloc[0]!r}")
            df[col] = num
    ranks = df["ranks"]
    if not (ranks >= 1).all() or not (ranks % 1 == 0).all():
        bad_r = ranks[~((ranks >= 1) & (ranks % 1 == 0))].iloc[0]
        raise SpecError(f"measurements: ranks must be whole numbers >= 1, got {float(bad_r):g}")
    if not pd.api.types.is_integer_dtype(ranks):
        df["ranks"] = ranks.astype(int)
    if not (df["seconds"] > 0).all() or not (df["bytes"] > 0).all():
        raise SpecError("measurements: bytes and seconds must be > 0")
    if not np.isfinite(df["seconds"].to_numpy(float)).all() or not np.isfinite(df["bytes"].to_numpy(float)).all():
        raise SpecError("measurements: bytes and seconds must be finite numbers (got inf)")
    return df.reset_index(drop=True)


# ---------------------------------------------------------------------- probes
@dataclass
class Probes:
    """Engine probes of every (point, candidate): arrays over rows, ``point`` maps a row to its point."""

    point: np.ndarray
    algorithm: list[str]
    collective: list[str]
    size: np.ndarray
    n_steps: np.ndarray
    bound: np.ndarray
    t1: np.ndarray
    t2: np.ndarray
    n_points: int
    ranks: np.ndarray
    labels: list[str] = field(default_factory=list)
    #: the rows grouped by (collective, algorithm) with their x-independent arrays (:func:`_plan`), built once
    _plan: list[_Group] | None = field(default=None, repr=False, compare=False)
    #: per (group, p2p channels, chunk): the point-to-point channel arrays of :func:`_p2p_parts`, built once
    _p2p: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class _Group:
    """The probe rows of one (collective, algorithm) and what :func:`predict` reads of them that no parameter
    changes: sizes S (bytes), ranks m, m - 1, S / m, step counts k, alpha-beta bounds b (s), the engine times t1
    and t2 - t1 (s) and the point of each row."""

    collective: str
    algorithm: str
    rows: np.ndarray
    S: np.ndarray
    m: np.ndarray
    m1: np.ndarray
    Sm: np.ndarray
    k: np.ndarray
    b: np.ndarray
    t1: np.ndarray
    dt: np.ndarray
    point: np.ndarray
    in_network: bool
    #: point-to-point collectives: whether a peer's bytes are within NCCL's LL threshold (None otherwise)
    ll_ok: np.ndarray | None


def _plan(pr: Probes) -> list[_Group]:
    """``pr``'s rows grouped by (collective, algorithm), sorted as :func:`predict` visits them; cached on ``pr``
    (a fit evaluates its residual thousands of times on the same probes)."""
    if pr._plan is None:
        coll = np.asarray(pr.collective)
        alg = np.asarray(pr.algorithm)
        groups = []
        for c_name in np.unique(coll):
            for a_name in np.unique(alg[coll == c_name]):
                rows = np.flatnonzero((coll == c_name) & (alg == a_name))
                S, m = pr.size[rows], pr.ranks[rows]
                rec = REGISTRY.get((str(c_name), str(a_name)))
                groups.append(_Group(str(c_name), str(a_name), rows, S, m, m - 1, S / m, pr.n_steps[rows],
                                     pr.bound[rows], pr.t1[rows], pr.t2[rows] - pr.t1[rows], pr.point[rows],
                                     bool(rec is not None and rec.in_network),
                                     _comm.peer_bytes(str(c_name), S, m) <= _comm.P2P_LL_THRESHOLD
                                     if str(c_name) in _comm.P2P else None))
        pr._plan = groups
    return pr._plan


def _variants(coll: str, m: int, algs: Sequence[str]) -> list[tuple[str, str, dict]]:
    out = []
    for name in algs:
        if (coll, name) not in ALGORITHMS:
            continue
        out.append((name, name, {}))
        if REGISTRY[(coll, name)].auto_chunks and (m <= api.AUTO_MAX_CHUNKED or
                                                   (coll, name) in api.AUTO_CHUNKED_ANY_SIZE):
            out += [(f"{name}(chunks={k})", name, {"chunks": k}) for k in api.AUTO_CHUNKS]
    return out


def probe(fab: Fabric, rows: Iterable[tuple[str, int, float]], algorithms: dict[str, Sequence[str]],
          link_efficiency: float | None = None) -> Probes:
    """Probe ``fab`` for each (collective, ranks, bytes) row (group = the first ``ranks`` chips) and each
    candidate of ``algorithms[collective]`` (with ``auto``'s chunked variants), on links at
    ``link_efficiency`` of line rate (None: the fabric's efficiency)."""
    link = None if link_efficiency is None else CommSpec(link_efficiency=link_efficiency)
    keys = ("point", "algorithm", "collective", "size", "n_steps", "bound", "t1", "t2", "labels", "ranks")
    cols: dict[str, list] = {k: [] for k in keys}
    rows = list(rows)
    for i, (coll, m, S) in enumerate(rows):
        G = api._group(fab, list(range(int(m))))
        for label, name, opts in _variants(coll, int(m), algorithms.get(coll, algorithms_for(coll))):
            try:
                sch = ALGORITHMS[(coll, name)](G, float(S), fab, **opts)
            except ScheduleError:
                continue
            fv = api._fab_for(_comm.view(fab, link), [sch])
            b = api._bound(sch, fv, 0.0, None, cheap=True)
            md = api._choose_mode([sch], "auto", 0.0, None)
            ts = [api._simulate(fv, [sch], md, "ecmp", 0, 0.0, None, stats=False,
                                costs=[_comm.Cost("simple", c, 0.0, 0.0)])[1] for c in (1.0, 2.0)]
            for k, v in zip(keys, (i, name, coll, float(S), len(sch.steps()), b, ts[0], ts[1], label, int(m))):
                cols[k].append(v)
    return Probes(np.asarray(cols["point"]), cols["algorithm"], cols["collective"], np.asarray(cols["size"]),
                  np.asarray(cols["n_steps"], dtype=float), np.asarray(cols["bound"]), np.asarray(cols["t1"]),
                  np.asarray(cols["t2"]), len(rows), np.asarray(cols["ranks"]), cols["labels"])


def predict(spec: CommSpec, pr: Probes) -> np.ndarray:
    """The calibrated model's time of every probed point under ``spec`` (closed form of the probes), s.

    Per candidate: the protocol by the tuner's estimate (fixed costs + bound x inflation), then fixed costs
    + the engine time stretched by the inflation (affine in it); per point: the fastest candidate."""
    best = np.full(pr.n_points, np.inf)
    allowed_of: dict[str, list[str] | None] = {}
    for g in _plan(pr):
        c_name, a_name = g.collective, g.algorithm
        if c_name not in allowed_of:
            allowed_of[c_name] = _comm.algorithm_set(spec, c_name)
        allowed = allowed_of[c_name]
        if allowed is not None and a_name not in allowed:
            continue
        S, m, k, b = g.S, g.m, g.k, g.b
        n = len(g.rows)
        ok = np.array([_comm.applies(spec, c_name, a_name, int(mm), float(ss)) is None
                       for mm, ss in zip(m, S)]) if spec.custom_of(a_name) else None
        cands = _comm.costs(spec, c_name, a_name)
        fixed = np.array([c.call + c.peer_cost * g.m1 + g.Sm / c.buffer_bandwidth + k * c.step for c in cands])
        infl = np.array([c.inflation for c in cands])[:, None]
        p2p = c_name in _comm.P2P and spec.p2p_of() is not None
        if p2p:  # NCCL's grouped send/recv: per-peer cost; LL by the threshold rule, not least time
            est = np.array([np.where(g.ll_ok, 0.0, np.inf) if c.protocol == "ll" else np.full(n, 1.0)
                            for c in cands])
        else:
            est = fixed + b * infl
        if c_name in _comm.P2P and not p2p:  # NCCL's point-to-point LL threshold
            for q, c in enumerate(cands):
                if c.protocol == "ll":
                    est[q] = np.where(g.ll_ok, est[q], np.inf)
        pick = np.argmin(est, axis=0)  # ties: the earlier protocol, as min() does
        j = np.arange(n)
        if p2p:  # the channels' pace and the chunk pipeline's fill (comm.Cost.data_time)
            data = g.t1 + (infl[pick, 0] - 1.0) * g.dt
            t = fixed[pick, j] + np.array([cands[q].data_time(float(e), float(ss), int(mm), int(kk))
                                           for q, e, ss, mm, kk in zip(pick, data, S, m, k)])
        else:
            t = fixed[pick, j] + g.t1 + (infl[pick, 0] - 1.0) * g.dt
        if ok is not None:
            t = np.where(ok, t, np.inf)
        np.minimum.at(best, g.point, t)
    return best


# ---------------------------------------------------------------------- the fit
def _nccl_values(x: np.ndarray, effs: list[tuple[str, str]]) -> dict[str, Any]:
    """The :class:`CommSpec` fields of the shared NCCL fit's parameter vector ``x`` (all but name, link efficiency
    and provenance): call s, buffer_bandwidth bytes/s, per-protocol base and step s and bandwidth fractions,
    algorithm efficiencies per collective."""
    # ordered like NCCL's protocols: step latency LL <= LL128 <= Simple, bandwidth LL <= LL128 <= Simple
    call, tb, s_ll, d_ll128, d_simple, r_ll, b_ll128, base_ll128, base_simple = x[:9]
    s_ll128 = s_ll + d_ll128
    s_simple = s_ll128 + d_simple
    b_ll = b_ll128 * r_ll
    algs: dict[str, dict[str, float]] = {}
    for (coll, a), e in zip(effs, x[9:]):
        algs.setdefault(coll, {})[a] = float(e)
    return {"call": float(call), "buffer_bandwidth": 1.0 / tb if tb > 0 else float("inf"),
            "base": {"ll128": float(base_ll128), "simple": float(base_simple)},
            "step": {"ll": float(s_ll), "ll128": float(s_ll128), "simple": float(s_simple)},
            "bandwidth": {"ll": float(b_ll), "ll128": float(b_ll128), "simple": 1.0}, "algorithms": algs}


def _nccl_spec(x: np.ndarray, effs: list[tuple[str, str]], name: str, prov: dict,
               link_efficiency: float | None) -> CommSpec:
    return CommSpec(name=name, link_efficiency=link_efficiency, provenance=prov, **_nccl_values(x, effs))


def _spec_values(spec: CommSpec) -> dict[str, Any]:
    """The fields of ``spec`` that :func:`predict` reads, as plain mappings (:func:`_predict_fields`' input)."""
    return {"call": spec.call, "buffer_bandwidth": spec.buffer_bandwidth, "base": dict(spec.base),
            "step": dict(spec.step), "bandwidth": dict(spec.bandwidth),
            "algorithms": {c: dict(a) for c, a in spec.algorithms}, "custom": {a: dict(kv) for a, kv in spec.custom},
            "p2p": dict(spec.p2p)}


def _p2p_parts(pr: Probes, gi: int, g: _Group, channels: int, chunk: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row of group ``g`` (index ``gi``) of a point-to-point collective: share x part (bytes: the parts one
    channel carries one after the other times a part) and min(part, chunk), as :meth:`collectives.comm.Cost.pace`
    computes them for a grouped call (ops = n); no fitted parameter changes them, so cached on ``pr``."""
    key = (gi, channels, chunk)
    if key not in pr._p2p:
        sp, mp = [], []
        for ss, mm in zip(g.S, g.m):
            n = int(mm)
            peer = float(_comm.peer_bytes(g.collective, float(ss), n))
            k = _comm.p2p_channels(peer, n, channels, chunk)
            part = peer / k
            sp.append(-(-max(n, 1) * k // max(channels, 1)) * part)
            mp.append(min(part, chunk))
        pr._p2p[key] = (np.array(sp, dtype=float), np.array(mp, dtype=float))
    return pr._p2p[key]


def _predict_fields(v: dict[str, Any], pr: Probes) -> np.ndarray:
    """``predict(CommSpec(**v), pr)`` for plain spec fields ``v`` (:func:`_nccl_values`, :func:`_spec_values`,
    :func:`_rest_values`, :func:`_custom_values`; ``custom`` and ``p2p`` optional), s, without building and
    validating a spec: the fits' residuals call it thousands of times. The candidates of
    :func:`collectives.comm.costs` as columns and the same element-wise operations in the same order as
    :func:`predict` (custom algorithms' size / rank limits of :func:`collectives.comm.applies`; NCCL's grouped
    point-to-point data time of :meth:`collectives.comm.Cost.data_time` per row), so the same bits
    (tests/test_comm_calibrate.py checks it at random parameters)."""
    best = np.full(pr.n_points, np.inf)
    call, bb, base, bw = v["call"], v["buffer_bandwidth"], v["base"], v["bandwidth"]
    step = v["step"] or {"simple": 0.0}  # CommSpec's default
    custom = v.get("custom") or {}
    p2p = v.get("p2p") or None  # CommSpec.p2p_of
    have = tuple(p for p in PROTOCOLS if p in step)  # CommSpec.protocols
    inf = float("inf")
    for gi, g in enumerate(_plan(pr)):
        algs = v["algorithms"].get(g.collective)  # CommSpec.algorithms_of
        if algs is not None and "*" not in algs and g.algorithm not in algs:  # comm.algorithm_set
            continue
        n = len(g.rows)
        cust = custom.get(g.algorithm)
        ok = None
        if cust:  # predict: comm.applies per row (a custom block's limits bind the all-reduce only)
            ok = np.ones(n, dtype=bool)
            if g.collective == "all_reduce":
                if "max_ranks" in cust:
                    ok &= ~(g.m > cust["max_ranks"])
                if "max_size" in cust:
                    ok &= ~(g.S > cust["max_size"])
        pp = None
        if cust is not None and g.collective == "all_reduce":  # comm.costs: the algorithm's own costs
            protos: tuple[str, ...] = ("custom",)
            calls = np.array([[float(cust.get("call", call))]])
            peers = np.array([[float(cust.get("peer", 0.0))]])
            bbs = np.array([[inf]])
            steps = np.array([[float(cust.get("step", 0.0))]])
            infl = np.array([[1.0 / float(cust.get("efficiency", 1.0))]])
        else:
            eff = float(algs.get(g.algorithm, algs.get("*", min(algs.values())))) if algs else 1.0
            protos = have
            if g.in_network and "simple" in protos:
                protos = ("simple",)
            if g.ll_ok is not None and len(protos) > 1:  # point-to-point: no LL128
                protos = tuple(p for p in protos if p != "ll128") or protos
            pp = p2p if g.ll_ok is not None else None
            if pp is not None:  # NCCL's grouped send/recv: its own per-call and per-peer costs
                protos = tuple(p for p in ("ll", "simple") if p in protos or p == "simple")
                calls = np.array([[call + float(pp[f"base_{p}"])] for p in protos])
                peers = np.array([[float(pp["peer"])] for _ in protos])
                bbs = np.array([[inf] for _ in protos])
                steps = np.array([[0.0] for _ in protos])
            else:
                calls = np.array([[call + float(base.get(p, 0.0))] for p in protos])
                peers = np.array([[0.0] for _ in protos])
                bbs = np.array([[bb] for _ in protos])
                steps = np.array([[float(step[p])] for p in protos])
            infl = np.array([[1.0 / (float(bw.get(p, 1.0)) * eff)] for p in protos])
        # comm.Cost.fixed per candidate (call + peer x (m - 1) + S / m / buffer_bandwidth + steps x step)
        fixed = calls + peers * g.m1 + g.Sm / bbs + g.k * steps
        if pp is not None:  # LL by the threshold rule, not least time
            est = np.array([np.where(g.ll_ok, 0.0, np.inf) if p == "ll" else np.full(n, 1.0) for p in protos])
        else:
            est = fixed + g.b * infl
            if g.ll_ok is not None and protos[0] == "ll":  # NCCL's point-to-point LL threshold
                est[0] = np.where(g.ll_ok, est[0], np.inf)
        pick = np.argmin(est, axis=0)  # ties: the earlier protocol, as min() does
        j = np.arange(n)
        if pp is not None:  # comm.Cost.data_time: the channels' pace where slower, plus the pipeline's fill
            data = g.t1 + (infl[pick, 0] - 1.0) * g.dt
            sp, mp = _p2p_parts(pr, gi, g, int(pp["channels"]), float(pp["chunk"]))
            rate = np.array([float(pp["channel_bandwidth"]) * float(bw.get(p, 1.0)) for p in protos])[pick]
            total = g.k * (sp / rate)
            paced = np.where(total > data, total, data) + g.k * (float(pp["fill"]) * mp / rate)
            t = fixed[pick, j] + np.where(np.isfinite(rate), paced, data)
        else:
            t = fixed[pick, j] + g.t1 + (infl[pick, 0] - 1.0) * g.dt
        if ok is not None:
            t = np.where(ok, t, np.inf)
        np.minimum.at(best, g.point, t)
    return best


#: the fitted costs of one custom all-reduce algorithm, in the order of the fits' parameter vectors: ``call`` s,
#: ``step`` s, ``efficiency``, ``peer`` s per peer (the kernels' flag barrier over the n - 1 peers)
CUSTOM_FIT = ("call", "step", "efficiency", "peer")
#: bounds and starting points of one algorithm's CUSTOM_FIT values (s, s, fraction, s)
CUSTOM_LO, CUSTOM_HI = (0.0, 0.0, 0.05, 0.0), (60e-6, 20e-6, 1.0, 5e-6)
CUSTOM_X0 = ((4e-6, 0.5e-6, 0.5, 0.1e-6), (2e-6, 1e-6, 0.8, 0.2e-6), (8e-6, 0.2e-6, 0.3, 0.05e-6))


def _custom_fields(algorithms: dict[str, dict[str, float]], x: np.ndarray,
                   algs: Sequence[str]) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """(custom, algorithms) of :func:`_custom_spec` from the base's {collective: {algorithm: efficiency}}."""
    k = len(CUSTOM_FIT)
    custom = {a: {key: float(x[k * i + j]) for j, key in enumerate(CUSTOM_FIT)} for i, a in enumerate(algs)}
    al = {c: dict(a) for c, a in algorithms.items()}
    al["all_reduce"] = {**al.get("all_reduce", {}), **{a: 1.0 for a in algs}}
    return custom, al


def _custom_spec(base: CommSpec, x: np.ndarray, name: str, prov: dict,
                 algs: Sequence[str] = CUSTOM_ALGORITHMS) -> CommSpec:
    """``base`` plus custom all-reduce algorithms ``algs`` with the costs of vector ``x`` (:data:`CUSTOM_FIT` per
    algorithm), each runnable by ``auto`` at efficiency 1 (its own ``efficiency`` applies)."""
    custom, al = _custom_fields(dict(base.algorithms), x, algs)
    return base.replace(name=name, custom=custom, algorithms=al, provenance={**dict(base.provenance), **prov})


def _custom_values(base: dict[str, Any], x: np.ndarray, algs: Sequence[str] = CUSTOM_ALGORITHMS) -> dict[str, Any]:
    """The fields of ``_custom_spec(spec, x, ...)`` for ``base = _spec_values(spec)`` (:func:`_predict_fields`:
    a custom fit's residual without a spec per evaluation)."""
    custom, al = _custom_fields(base["algorithms"], x, algs)
    return {**base, "custom": custom, "algorithms": al}


#: NCCL's grouped point-to-point costs a rest fit adds before its efficiencies (CommSpec.p2p keys)
REST_P2P = ("base_ll", "base_simple", "peer", "channel_bandwidth", "fill")


def _rest_fields(algorithms: dict[str, dict[str, float]], xr: np.ndarray, reffs: Sequence[tuple[str, str]],
                 n_p2p: int) -> tuple[dict[str, dict[str, float]], dict[str, float] | None]:
    """(algorithms, p2p or None) of the rest fit's vector ``xr``: the :data:`REST_P2P` costs (first ``n_p2p``
    entries) and the efficiency of each (collective, algorithm) of ``reffs`` on top of ``algorithms``."""
    algs = {c: dict(a) for c, a in algorithms.items()}
    for (c, a), e in zip(reffs, xr[n_p2p:]):
        algs.setdefault(c, {})[a] = float(e)
    if not n_p2p:
        return algs, None
    return algs, {**dict(zip(REST_P2P, map(float, xr[:n_p2p]))), **_comm.P2P_DEFAULTS}


def _rest_spec(spec: CommSpec, xr: np.ndarray, reffs: Sequence[tuple[str, str]], n_p2p: int,
               prov: dict) -> CommSpec:
    """The shared fit's ``spec`` with the rest fit's vector ``xr`` (:func:`_rest_fields`; ``prov`` joins the
    provenance where NCCL's point-to-point costs are fitted)."""
    algs, p2p = _rest_fields(dict(spec.algorithms), xr, reffs, n_p2p)
    if p2p is None:
        return spec.replace(algorithms=algs)
    return spec.replace(algorithms=algs, p2p=p2p, provenance={**dict(spec.provenance), **prov})


def _rest_values(base: dict[str, Any], xr: np.ndarray, reffs: Sequence[tuple[str, str]],
                 n_p2p: int) -> dict[str, Any]:
    """The fields of ``_rest_spec(spec, xr, ...)`` for ``base = _spec_values(spec)`` (:func:`_predict_fields`)."""
    algs, p2p = _rest_fields(base["algorithms"], xr, reffs, n_p2p)
    return {**base, "algorithms": algs} if p2p is None else {**base, "algorithms": algs, "p2p": p2p}


def custom_bounds(n_algs: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(lower, upper, starting points) of a fit of ``n_algs`` custom algorithms' :data:`CUSTOM_FIT` vectors."""
    return (np.array(CUSTOM_LO * n_algs), np.array(CUSTOM_HI * n_algs),
            [np.array(x0 * n_algs) for x0 in CUSTOM_X0])


#: residual the fits give a non-finite parameter vector or prediction (|log ratio| of finite times is < 745)
_BAD_RESIDUAL = 1e3
#: evaluations one least-squares start may take
MAX_NFEV = 3000


def _nan_start(r0: Any, lo: np.ndarray, hi: np.ndarray, scale: np.ndarray) -> bool:
    """Whether scipy's ``least_squares`` (method ``trf``, bounds, ``x_scale`` = ``scale``, linear loss, exact
    trust-region solver) on :func:`_lsq`'s residual, from the start whose ``max_nfev=1`` result is ``r0``, has a
    NaN trust radius from its first iteration on, so that the full run returns ``r0``'s x and cost.

    ``r0`` holds what the full run starts from: x0 made strictly feasible, its cost and gradient J^T f. The
    radius is trf_bounds' ``Delta = norm(x0 * scale_inv / v**0.5)`` (scipy/optimize/_lsq/trf.py; ``v`` the
    Coleman-Li scaling vector of common.CL_scaling_vector, rescaled by ``scale_inv`` where ``dv != 0``).
    It is NaN when a parameter sits on a bound at 0 with its gradient pointing out (0 / 0): make_strictly_feasible's
    relative step of 1e-10 puts a parameter whose range is that narrow (the shared fit's 1 / buffer_bandwidth,
    [0, 1e-10] s/B) exactly on a bound. From then on, every iteration of trf_bounds' inner loop:

    - solve_lsq_trust_region ends with ``p *= Delta / norm(p)``: the step is all NaN (its Gauss-Newton early
      return needs ``norm(p) <= Delta``, false for NaN);
    - select_step: ``x + p`` is not in bounds; step_size_to_bound gives a NaN stride (np.min propagates NaN), so
      no reflection (``r_stride > 0`` is false, ``r_value = inf``); the gradient step's stride is ``Delta /
      norm(ag_h)`` = NaN, which minimize_quadratic_1d returns (np.argmin picks the NaN): the all-NaN gradient step
      is returned (NaN < ... is false) with a NaN predicted reduction;
    - make_strictly_feasible(x + step, rstep=0) leaves NaN as it is: the residual sees a non-finite x and returns
      the constant :data:`_BAD_RESIDUAL` vector, whose cost ``0.5 m 1e6`` is >= the current cost (x0's, checked
      here), so ``actual_reduction <= 0``;
    - update_tr_radius: the predicted reduction is not > 0 and not == 0, so ``ratio = 0`` and ``Delta = 0.25 *
      norm(step_h)`` = NaN again; check_termination gives None (``ratio > 0.25`` and ``dx_norm < ...`` are false).

    So no step is accepted and the loop runs to ``max_nfev`` (status 0) returning x0 and its cost, unchanged:
    exactly ``r0.x`` and ``r0.cost`` (the full run's only further step that can raise is the SVD of a finite
    matrix). tests/test_comm_calibrate.py checks it against the full run.
    """
    x, g = r0.x, r0.grad
    v, dv = np.ones_like(x), np.zeros_like(x)  # common.CL_scaling_vector
    out = (g < 0) & np.isfinite(hi)
    v[out], dv[out] = hi[out] - x[out], -1
    out = (g > 0) & np.isfinite(lo)
    v[out], dv[out] = x[out] - lo[out], 1
    scale_inv = 1 / scale
    v[dv != 0] *= scale_inv[dv != 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.linalg.norm(x * scale_inv / v**0.5)
    bad = np.full(len(r0.fun), _BAD_RESIDUAL)
    return bool(np.isnan(delta)) and r0.cost <= 0.5 * np.dot(bad, bad)


def _safe(fun, lo: np.ndarray, hi: np.ndarray, n_res: int):
    """``fun`` as :func:`_lsq` hands it to scipy: on ``x`` clipped to [lo, hi]; a non-finite ``x`` or residual
    gives :data:`_BAD_RESIDUAL` (the whole vector for a non-finite ``x``)."""
    def safe(x):
        if not np.all(np.isfinite(x)):
            return np.full(n_res, _BAD_RESIDUAL)
        r = fun(np.clip(x, lo, hi))
        return np.where(np.isfinite(r), r, _BAD_RESIDUAL)
    return safe


def _lsq(fun, x0s: list[np.ndarray], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    from scipy.optimize import least_squares

    best = None
    rng = np.random.default_rng(0)  # deterministic extra starts: the protocol choice makes the cost piecewise
    x0s = list(x0s) + [lo + (hi - lo) * rng.uniform(0.05, 0.6, len(lo)) for _ in range(RESTARTS)]
    safe = _safe(fun, lo, hi, len(fun(np.clip(x0s[0], lo, hi))))
    scale = np.maximum(np.abs(x0s[0]), 1e-15)  # typical magnitudes (the first start is a typical stack)
    opts = {"bounds": (lo, hi), "x_scale": scale, "loss": "linear"}
    for x0 in x0s:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # scipy's trust region at a degenerate start
                # a start with a NaN trust radius would spend MAX_NFEV evaluations to return where it started
                # (_nan_start): take that from its first iteration
                r = least_squares(safe, np.clip(x0, lo, hi), max_nfev=1, **opts)
                if not _nan_start(r, lo, hi, scale):
                    r = least_squares(safe, np.clip(x0, lo, hi), max_nfev=MAX_NFEV, **opts)
        except (ValueError, FloatingPointError):  # a degenerate start: skip it
            continue
        if not np.all(np.isfinite(r.x)):
            continue
        if best is None or r.cost < best.cost:
            best = r
    return best.x


@dataclass
class Calibration:
    """Outcome of :func:`calibrate`.

    Attributes:
        comm: the fitted :class:`topo.CommSpec`. ratios: predicted / measured per point.
        data: the measurements (DataFrame) with a ``predicted`` column, s.
    """

    comm: CommSpec
    data: Any
    ratios: np.ndarray
    #: one line per thing the user should check (a unit, too few points, an algorithm the fit lacks); the CLI
    #: prints each as ``warning: ...``
    warnings: list[str] = field(default_factory=list)

    def yaml(self) -> str:
        """The fitted ``comm:`` block as fabric-file YAML (human units)."""
        return comm_yaml(self.comm)

    def table(self) -> str:
        """Fit error per (stack, collective, ranks, size bucket): median |ratio - 1| and worst ratio."""
        return error_table(self.data)


def check_ranks(df: Any, fab: Fabric) -> None:
    """A measurement row of more ranks than ``fab`` has chips is a :class:`SpecError` naming the row's ranks and
    the fabric (the probes run on the fabric's first ``ranks`` chips; it read "group: chip 8 does not exist")."""
    if len(df) and int(df["ranks"].max()) > fab.n_chips:
        raise SpecError(f"measurements: a row has ranks={int(df['ranks'].max())} but fabric {fab.name!r} has "
                        f"{fab.n_chips} chips; calibrate on the fabric the measurements ran on (--fabric)")


def calibrate(fabric: Fabric | str, measurements: Any, name: str | None = None, source: str | None = None,
              custom: bool | None = None, link_efficiency: float | None = 1.0,
              algorithms: dict[str, Sequence[str]] | None = None, collective: str | None = None) -> Calibration:
    """Fit the communication parameters of ``fabric`` to ``measurements`` (see :func:`read_measurements`).

    NCCL rows of :data:`FIT_COLLECTIVES` fit ``call``, ``buffer_bandwidth``, per-protocol ``base``, ``step``
    and ``bandwidth`` and per-algorithm efficiencies (NCCL's algorithm set, :data:`NCCL_ALGORITHMS`); rows of
    other collectives (all-to-all: NCCL's grouped send/recv) then fit only their algorithm efficiency, the
    shared costs held fixed; rows with ``stack == "custom"`` last fit the custom all-reduce (one-shot,
    two-shot) on top.

    Args:
        fabric: a :class:`topo.Fabric` or a fabric name (groups are its first ``ranks`` chips).
        measurements: as :func:`read_measurements` accepts.
        name: the fitted spec's name (default ``"<fabric>-fit"``).
        source: provenance text (default: the measurement sources).
        custom: fit the custom all-reduce (default: when custom rows are present).
        link_efficiency: the links' fraction of line rate under the fitted stack (default 1: the fitted
            protocol bandwidths carry the software's share); None keeps the fabric's ``efficiency``.
        algorithms: {collective: algorithms the stack runs} (default :data:`NCCL_ALGORITHMS`; ``inr`` only
            where the fabric's switches reduce).
        collective: what an nccl-tests stdout file measured when its output does not say
            (:func:`read_measurements`; the CLI's ``--collective``).
    """
    import topo

    fab = topo.load(fabric) if isinstance(fabric, str) else fabric
    df = read_measurements(measurements, collective)
    check_ranks(df, fab)
    # a one-GPU run (nccl-tests -g 1) moves nothing between GPUs: its time is a local copy, not the fabric's
    solo = int((df["ranks"] == 1).sum())
    if solo == len(df):
        raise SpecError(f"measurements: every row ({solo}) is of 1 rank, which moves no data between chips (nccl-tests "
                        "-g 1 times a local copy); measure 2 or more GPUs (e.g. -g 8)")
    if solo:
        df = df[df["ranks"] > 1].reset_index(drop=True)
    name = name or f"{fab.name}-fit"
    if source is None and isinstance(measurements, (list, tuple)) and measurements \
            and all(isinstance(m, (str, Path)) for m in measurements):
        source = f"fit: {', '.join(str(m) for m in measurements)}"  # the files, as the CLI names them
    src = source or (f"fit: {measurements}" if isinstance(measurements, (str, Path)) else "fit: user measurements")
    stacks = sorted(set(df["stack"]) & set(STACK_TABLES))
    if stacks:
        systems = sorted(set(df["system"])) if "system" in df.columns else []
        raise SpecError(f"measurements: {stacks[0]} rows are a serving stack's TP all-reduce ladder; fit them with "
                        f"`scaleup calibrate --stack {stacks[0]} --measurements aiconfigurator-{stacks[0]}:"
                        f"{systems[0] if systems else '<system>'}` (collectives.stacks.calibrate_stack)")
    nccl = df[df["stack"] != "custom"].reset_index(drop=True)
    cust = df[df["stack"] == "custom"].reset_index(drop=True)
    if len(nccl) == 0:
        raise SpecError("measurements: no NCCL rows to fit (stack != 'custom')")
    # ---- NCCL stack: the shared costs on the ring-family collectives (FIT_COLLECTIVES) when present,
    # then each other collective's algorithm efficiency alone with the shared costs held fixed
    allsets = {c: tuple((algorithms or NCCL_ALGORITHMS).get(c, algorithms_for(c))) for c in set(nccl["collective"])}
    if not fab.switch_can_reduce:
        allsets = {c: tuple(a for a in v if a != "inr") or v for c, v in allsets.items()}
    main_mask = np.array(nccl["collective"].isin(FIT_COLLECTIVES), dtype=bool)  # a writable copy
    if not main_mask.any():
        main_mask[:] = True
    first, rest = nccl[main_mask], nccl[~main_mask]
    colls = sorted(set(first["collective"]))
    algsets = {c: allsets[c] for c in colls}
    pr = probe(fab, zip(first["collective"], first["ranks"], first["bytes"]), algsets, link_efficiency)
    meas = first["seconds"].to_numpy()
    check_units(pr, meas)
    effs = [(c, a) for c in colls for a in algsets[c]]
    prov = {k: src for k in ("call", "buffer_bandwidth", "step", "bandwidth", "algorithms")}
    prov["bandwidth.simple"] = "reference: Simple's fraction is 1 (the algorithm efficiencies carry it)"

    def resid(x):  # = np.log(predict(_nccl_spec(x, ...), pr) / meas), bit for bit, without the spec
        return np.log(_predict_fields(_nccl_values(x, effs), pr) / meas)

    lo = np.array([0, 0, 0, 0, 0, 0.05, 0.05, 0, 0] + [0.05] * len(effs))
    hi = np.array([100e-6, 1e-10, 20e-6, 20e-6, 50e-6, 1, 1, 100e-6, 200e-6] + [1] * len(effs))
    x0s = [np.array([8e-6, 1e-12, 0.6e-6, 0.7e-6, 3e-6, 0.5, 0.9, 2e-6, 40e-6] + [0.8] * len(effs)),
           np.array([15e-6, 5e-13, 0.3e-6, 0.7e-6, 1e-6, 0.3, 0.7, 5e-6, 10e-6] + [0.6] * len(effs)),
           np.array([5e-6, 1e-12, 0.5e-6, 0.2e-6, 0.5e-6, 0.4, 0.8, 5e-6, 50e-6] + [0.85] * len(effs))]
    x = _lsq(resid, x0s, lo, hi)
    spec = _nccl_spec(x, effs, name, prov, link_efficiency)
    pred = np.empty(len(nccl))
    pred[main_mask] = predict(spec, pr)
    if len(rest):
        rcolls = sorted(set(rest["collective"]))
        reffs = [(c, a) for c in rcolls for a in allsets[c]]
        prr = probe(fab, zip(rest["collective"], rest["ranks"], rest["bytes"]), {c: allsets[c] for c in rcolls},
                    link_efficiency)
        measr = rest["seconds"].to_numpy()

        # NCCL's grouped send/recv (all-to-all): its own per-call, per-peer and channel costs beside the
        # efficiency (channels and chunk size are NCCL's, not fitted: comm.P2P_DEFAULTS)
        n_p2p = len(REST_P2P) if set(rcolls) & _comm.P2P else 0
        pprov = {"p2p": src + " (all_to_all: base_ll, base_simple, peer, channel_bandwidth, fill)",
                 "p2p.channels": _comm.P2P_DEFAULTS_SOURCE, "p2p.chunk": _comm.P2P_DEFAULTS_SOURCE} if n_p2p else {}
        base_v = _spec_values(spec)

        def resid_r(xr):  # = np.log(predict(_rest_spec(spec, xr, ...), prr) / measr), bit for bit
            return np.log(_predict_fields(_rest_values(base_v, xr, reffs, n_p2p), prr) / measr)

        lo_r = np.array([0.0, 0.0, 0.0, 1e9, 0.0][:n_p2p] + [0.05] * len(reffs))
        hi_r = np.array([50e-6, 50e-6, 5e-6, 500e9, 4.0][:n_p2p] + [1.0] * len(reffs))
        x0r = [np.array([1e-6, 4e-6, 0.4e-6, 20e9, 0.5][:n_p2p] + [0.8] * len(reffs)),
               np.array([0.5e-6, 8e-6, 0.2e-6, 40e9, 1.0][:n_p2p] + [0.6] * len(reffs))]
        xr = _lsq(resid_r, x0r, lo_r, hi_r)
        spec = _rest_spec(spec, xr, reffs, n_p2p, pprov)
        pred[~main_mask] = predict(spec, prr)
    df.loc[df["stack"] != "custom", "predicted"] = pred
    # ---- custom all-reduce on top
    if custom is None:
        custom = len(cust) > 0
    if custom and len(cust):
        algsets_c = {"all_reduce": (*algsets.get("all_reduce", ("ring",)), *CUSTOM_ALGORITHMS)}
        prc = probe(fab, zip(cust["collective"], cust["ranks"], cust["bytes"]), algsets_c, link_efficiency)
        measc = cust["seconds"].to_numpy()
        cprov = {"custom": src.replace("fit:", "fit (custom all-reduce):", 1)}

        base_c = _spec_values(spec)

        def resid_c(x):  # = np.log(predict(_custom_spec(spec, x, ...), prc) / measc), bit for bit
            return np.log(_predict_fields(_custom_values(base_c, x), prc) / measc)

        lo_c, hi_c, x0c = custom_bounds(len(CUSTOM_ALGORITHMS))
        xc = _lsq(resid_c, x0c, lo_c, hi_c)
        spec = _custom_spec(spec, xc, name, cprov)
        df.loc[df["stack"] == "custom", "predicted"] = predict(spec, prc)
    df["ratio"] = df["predicted"] / df["seconds"]
    notes = fit_warnings(fab, df, len(x), allsets, link_efficiency)
    counts = sorted(set(int(m) for m in df.loc[df["stack"] != "custom", "ranks"]))
    if len(counts) == 1 and not any("under-determined" in w or "is the seconds column" in w for w in notes):
        # last: the other warnings say what is wrong with these rows; this one what they cannot tell
        notes.append(f"one rank count ({counts[0]}): the per-call, per-step and buffer-copy costs scale differently "
                     "with the ranks, and one count cannot tell them apart (the fit reproduces these rows but may "
                     "predict other group sizes poorly); measure 2 or more, e.g. nccl-tests -g 2, 4 and 8")
    if solo:
        notes.insert(0, f"{solo} rows of 1 rank left out: a one-GPU run moves no data between chips (nccl-tests -g 1 "
                        "times a local copy), so it says nothing about the fabric or the library's costs")
    return Calibration(spec, df, df["ratio"].to_numpy(), notes)


#: predicted / measured below this (median over the points): the measured times are in another unit
UNIT_RATIO = 1e-2
#: the links' own time (no software costs) / measured below this at every point: refused before the fit
PHYSICS_UNIT_RATIO = 1e-2


def check_units(pr: Probes, seconds: np.ndarray) -> None:
    """Refuse measurements whose every time is 1 / :data:`PHYSICS_UNIT_RATIO` or more above what the fabric's links
    take alone (no software costs; a real table has points near that, at least its large sizes, and software
    costs of ~10-50 us against ~0.3-5 us of links at its smallest): ``seconds`` holding microseconds or
    milliseconds (a 1 KiB all-reduce of 20 "seconds"); the fit would only report a 100 % error.

    Raises:
        SpecError: naming the factor and the likely unit."""
    phys = np.full(pr.n_points, np.inf)
    np.minimum.at(phys, pr.point, pr.t1)
    ok = np.isfinite(phys) & (phys > 0)
    if not ok.any():
        return
    closest = float(np.max(phys[ok] / seconds[ok]))
    if closest < PHYSICS_UNIT_RATIO:
        unit = "microseconds" if closest < 3e-5 else "milliseconds"
        raise SpecError(f"measurements: every time is >= {1 / closest:.3g}x what the fabric's links take ("
                        f"{int(ok.sum())} points); the seconds column looks like {unit}: convert it to seconds "
                        "(nccl-tests' time column is us: x 1e-6), or check the fabric's bandwidth")


#: predicted / measured above this at the largest sizes: the fit cannot reach the measured bandwidth
SLOW_RATIO = 1.5


def fit_warnings(fab: Fabric, df: Any, n_params: int, algorithms: dict[str, Sequence[str]],
                 link_efficiency: float | None = 1.0) -> list[str]:
    """What a user should check about a fit (:attr:`Calibration.warnings`), one line each.

    ``df``: the measurements with ``predicted`` and ``ratio``; ``n_params``: parameters of the shared fit;
    ``algorithms``: the algorithm set fitted per collective. Checks: the measured times are far above the model
    at every size (seconds holding microseconds: 1e6 x); fewer distinct points than parameters; the largest
    sizes still slower than measured, and whether another algorithm on the fabric's links reaches them (a
    library that keeps every link of a full mesh busy, where NCCL's ring uses two)."""
    out = []
    ratio = df["ratio"].to_numpy(float)
    med = float(np.median(ratio)) if len(ratio) else 1.0
    if med < UNIT_RATIO:
        out.append(f"the measured times are {1 / med:.3g}x the fitted model's (median over {len(ratio)} points); is "
                   "the seconds column in seconds? microseconds (nccl-tests' time column) read as seconds are "
                   "1e6x too long")
        return out
    if "wrong" in df.columns and (df["wrong"].fillna(0) > 0).any():
        bad = df[df["wrong"].fillna(0) > 0]
        out.append(f"{len(bad)} rows report #wrong > 0 (nccl-tests' data check failed: {bad['collective'].iloc[0]} on "
                   f"{int(bad['ranks'].iloc[0])} ranks at {int(bad['bytes'].iloc[0])} B, ...); their times are fitted "
                   "as they are: rerun them, or drop them")
    points = len(df.drop_duplicates(["stack", "collective", "ranks", "bytes"]))
    if points < n_params:
        out.append(f"{points} points for {n_params} parameters: the fit is under-determined (the parameters are not "
                   "pinned down; measure more sizes, e.g. 1 KiB - 1 GiB in steps of x2, and more rank counts)")
    nccl = df[df["stack"] != "custom"]
    big = nccl[nccl["bytes"] >= 0.5 * nccl.groupby(["collective", "ranks"])["bytes"].transform("max")]
    # per (collective, ranks): one rank count far off is not hidden by the median of the others
    per = big.groupby(["collective", "ranks"])["ratio"].median() if len(big) else None
    if per is None or float(per.max()) <= SLOW_RATIO:
        return out
    slow = float(per.max())
    where = ", ".join(f"{c} on {int(m)} ranks" for (c, m), v in per.items() if v > SLOW_RATIO)
    hints: list[str] = []
    fixes: dict[str, str] = {}
    top = nccl.loc[nccl.groupby(["collective", "ranks"])["bytes"].idxmax()]
    for coll, m, size, secs in zip(top["collective"], top["ranks"], top["bytes"], top["seconds"]):
        fitted = tuple(algorithms.get(coll, ()))
        others = [a for a in algorithms_for(coll) if a not in fitted and a not in ("oneshot", "inr")]
        try:
            pr = probe(fab, [(coll, int(m), float(size))], {coll: fitted + tuple(others)}, link_efficiency)
        except (ScheduleError, SpecError):
            continue
        best: dict[str, float] = {}
        for a, t in zip(pr.algorithm, pr.t1):
            best[a] = min(best.get(a, np.inf), float(t))
        own = min((best[a] for a in fitted if a in best), default=np.inf)
        alt = min((a for a in best if a not in fitted), key=best.get, default=None)
        if own > secs and alt is not None and best[alt] <= secs:
            hints.append(f"{coll} on {int(m)} ranks by {', '.join(fitted)} takes {own * 1e6:.4g} us on the links of "
                         f"{fab.name!r} even without software costs, {alt} {best[alt] * 1e6:.4g} us (measured "
                         f"{secs * 1e6:.4g} us)")
            fixes.setdefault(coll, f"--algorithms {coll}={','.join((*fitted, alt))}")
    hint = (f": {'; '.join(hints)}; the measured library may run them: refit with {' '.join(fixes.values())} "
            "(Python: algorithms=)") if hints else ""
    out.append(f"at the largest sizes the fitted model is still {slow:.1f}x slower than measured ({where})"
               + (hint or f": the links of {fab.name!r} are slower than the measured system's (check its bandwidth); "
                          "a comm: block only adds software costs"))
    return out


# ---------------------------------------------------------------------- reports
def _bucket(b: float) -> str:
    lab = BUCKETS[0][1]
    for lo, name in BUCKETS:
        if b >= lo:
            lab = name
    return lab


def error_table(df, by: Sequence[str] = ("stack", "collective", "ranks")) -> str:
    """Markdown table: per group and size bucket, points, median |ratio - 1| and worst ratio (pred / meas)."""
    d = df.copy()
    d["bucket"] = d["bytes"].map(_bucket)
    order = {name: i for i, (_, name) in enumerate(BUCKETS)}
    keys = [k for k in by if k in d.columns]
    lines = ["| " + " | ".join([*keys, "size", "points", "median abs err", "worst ratio"]) + " |",
             "|" + "---|" * (len(keys) + 4)]
    for gk, g in sorted(d.groupby([*keys, "bucket"]), key=lambda kv: (*kv[0][:-1], order[kv[0][-1]])):
        r = g["ratio"].to_numpy()
        worst = r[np.argmax(np.abs(np.log(r)))]
        lines.append("| " + " | ".join([*(str(v) for v in gk), str(len(r)), f"{np.median(np.abs(r - 1)):.1%}",
                                        f"{worst:.2f}"]) + " |")
    return "\n".join(lines)


def comm_yaml(spec: CommSpec) -> str:
    """A ``comm:`` block in fabric-file YAML with human units (us, GB/s)."""
    def us(v: float) -> str:  # a fitted value at its lower bound (1e-19 s) prints as 0
        return f"{v * 1e6:.4g}us" if abs(v) >= 1e-12 else "0us"
    lines = ["comm:", f"  name: {spec.name}"]
    if spec.link_efficiency is not None:
        lines.append(f"  link_efficiency: {spec.link_efficiency:.4g}")
    lines.append(f"  call: {us(spec.call)}")
    bb = spec.buffer_bandwidth
    lines.append(f"  buffer_bandwidth: {'inf' if not np.isfinite(bb) else f'{bb / 1e9:.4g}GB/s'}")
    if spec.base:
        lines.append("  base: {" + ", ".join(f"{p}: {us(v)}" for p, v in spec.base) + "}")
    lines.append("  step: {" + ", ".join(f"{p}: {us(v)}" for p, v in spec.step) + "}")
    if spec.bandwidth:
        lines.append("  bandwidth: {" + ", ".join(f"{p}: {v:.4g}" for p, v in spec.bandwidth) + "}")
    if spec.algorithms:
        lines.append("  algorithms:")
        for c, algs in spec.algorithms:
            lines.append(f"    {c}: {{" + ", ".join(f"{json.dumps(a) if a == '*' else a}: {e:.4g}" for a, e in algs)
                         + "}")  # "*" (any algorithm) quoted: a bare * starts a YAML alias
    if spec.custom:
        lines.append("  custom:")
        for a, kv in spec.custom:
            d = dict(kv)
            parts = [f"{k}: {us(v) if k in ('call', 'step', 'peer') else f'{v:.4g}'}" for k, v in d.items()]
            lines.append(f"    {a}: {{" + ", ".join(parts) + "}")
    if spec.p2p:
        kinds = {"base_ll": us, "base_simple": us, "peer": us, "channel_bandwidth": lambda v: f"{v / 1e9:.4g}GB/s",
                 "chunk": lambda v: f"{v / 1024:.4g}KiB"}
        lines.append("  p2p: {" + ", ".join(f"{k}: {kinds.get(k, lambda v: f'{v:.4g}')(v)}" for k, v in spec.p2p) + "}")
    if spec.provenance:
        lines.append("  provenance:")
        for k, v in spec.provenance:
            lines.append(f"    {json.dumps(k)}: {json.dumps(v)}")
    return "\n".join(lines) + "\n"


__all__ = ["Calibration", "Probes", "aiconfigurator_table", "calibrate", "comm_yaml", "error_table", "predict",
           "probe", "read_measurements", "PROTOCOLS"]
