"""Sweep jobs: what one point of a sweep computes.

``JOBS[name]`` is a :class:`Job`, callable as ``job(params) -> dict`` of output columns. A job declares
its parameters (kind, default, allowed values) so that a spec with an unknown or malformed parameter
fails before anything runs, naming the key. Built-in jobs:

- ``collective``: one collective on a fabric (``collectives.all_reduce`` & co.): time, algbw, busbw
  (nccl-tests conventions), the alpha-beta bound, the algorithm chosen.
- ``infer``: token latency and cost of a model on a fabric (``inference.estimate(...).to_dict()``).
- ``traffic``: a synthetic traffic pattern through the contention engine: makespan, throughput,
  link utilisation.
- ``topo``: the structural summary of a fabric (``topo.summarize``).
- ``serve``: a serving simulation of one inline pool (``fleet.single_pool_fleet`` + ``fleet.simulate_serving``,
  closed loop or Poisson rate): ``ServingResult.summary()``, the points of a latency-throughput curve.

Fabrics are built once per distinct fabric spec (name plus ``fabric.*`` overrides) per worker process
and kept in a small LRU cache (:func:`fabric_for`); points are dispatched grouped by fabric so the
cache hits.

A user job is any importable ``fn(params: dict) -> dict``; name it in a spec as
``job: package.module:function`` or register it with :func:`register_job`.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from topo import SpecError, parse_quantity

from ._canon import _intify, canonical

if TYPE_CHECKING:
    from topo import Fabric

REQUIRED: Any = object()

#: parameter kinds and how a value is converted (SI units inside)
KINDS = ("size", "time", "bandwidth", "int", "float", "str", "bool", "any")


@dataclass(frozen=True)
class Param:
    """A job parameter: its kind (see :data:`KINDS`), default (``REQUIRED`` if none), allowed values."""

    kind: str = "any"
    default: Any = REQUIRED
    help: str = ""
    choices: tuple[Any, ...] = ()
    nullable: bool = False
    #: a further check of the converted value (``check(value, field_)`` raises SpecError), e.g. a known name
    check: Callable[[Any, str], None] | None = None
    #: maps an accepted alternative spelling of the converted value to its canonical one before ``choices`` are
    #: checked (the CLI's ``all-reduce`` -> ``all_reduce``); an unknown value is returned unchanged
    canon: Callable[[Any], Any] | None = None

    def convert(self, value: Any, field_: str) -> Any:
        """Convert a raw YAML value to this parameter's SI value; SpecError naming ``field_`` if bad."""
        if value is None:
            if self.nullable or self.default is None:
                return None
            raise SpecError(f"{field_}: a value is required (got null)")
        k = self.kind
        try:
            if k in ("size", "time", "bandwidth"):
                if isinstance(value, bool):
                    raise SpecError(f"{field_}: expected a {k}, got {value!r}")
                v = parse_quantity(value, k, field_)
                if v < 0:
                    raise SpecError(f"{field_}: must be >= 0, got {value!r}")
                value = _intify(v) if k == "size" else v
            elif k == "int":
                if isinstance(value, bool):
                    raise SpecError(f"{field_}: expected an integer, got {value!r}")
                if isinstance(value, str):
                    try:
                        value = parse_quantity(value, "number", field_)
                    except SpecError:  # its hint lists units (Gbps, GiB, ...): an integer takes none
                        raise SpecError(f"{field_}: expected an integer, got {value!r}") from None
                if not float(value).is_integer():
                    raise SpecError(f"{field_}: expected an integer, got {value!r}")
                value = int(value)
            elif k == "float":
                if isinstance(value, bool):
                    raise SpecError(f"{field_}: expected a number, got {value!r}")
                value = float(parse_quantity(value, None, field_))
            elif k == "str":
                if isinstance(value, (dict, list)):
                    raise SpecError(f"{field_}: expected a string, got {value!r}")
                value = str(value)
            elif k == "bool":
                if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
                    value = value.lower() in ("true", "yes", "on", "1")
                elif not isinstance(value, bool):
                    raise SpecError(f"{field_}: expected true or false, got {value!r}")
        except (TypeError, ValueError) as exc:
            if isinstance(exc, SpecError):
                raise
            raise SpecError(f"{field_}: expected a {k}, got {value!r}") from None
        if self.canon is not None:
            value = self.canon(value)
        if self.choices and value not in self.choices:
            raise SpecError(f"{field_}: {value!r} is not one of {', '.join(map(str, self.choices))}")
        if self.check is not None:
            self.check(value, field_)
        return value


def _known_fabric(value: Any, field_: str) -> None:
    """A bundled fabric name or an existing file: caught when the spec is expanded, not per point."""
    import topo

    names = topo.list_fabrics()
    if value not in names and not os.path.isfile(str(value)):
        where = (f" (a relative path is read from the directory scaleup runs in, {os.getcwd()!r}, not the spec's)"
                 if not os.path.isabs(str(value)) and str(value).endswith((".yaml", ".yml", ".graphml", ".json"))
                 else "")
        raise SpecError(f"{field_}: {value!r} is not a bundled fabric or a file{where}; bundled: {', '.join(names)}")


def _known_model(value: Any, field_: str) -> None:
    """A model preset name or an existing file."""
    from inference import MODELS
    from inference.models import ALIASES

    if str(value).lower() not in MODELS and str(value).lower() not in ALIASES and not os.path.isfile(str(value)):
        raise SpecError(f"{field_}: {value!r} is not a model preset or a file; presets: {', '.join(MODELS)}")


@functools.lru_cache(maxsize=256)
def _check_fabric_keys(fabric: str, keys: tuple[str, ...], builder: Any = None) -> None:
    """:func:`topo.loader.check_override_keys`, once per (fabric, keys, overridden builder) however many points
    share them; a fabric that is not found is left to the point (its row names it)."""
    from topo.loader import check_override_keys

    try:
        check_override_keys(fabric, {**dict.fromkeys(keys), "builder": builder} if "builder" in keys else keys)
    except SpecError as exc:
        if "unknown key" in str(exc):
            raise


@dataclass
class Job:
    """A sweep job: ``fn(params) -> dict`` of output columns, with declared parameters.

    Attributes:
        name: the job's name in specs.
        fn: the function; it receives every declared parameter (defaults filled in) plus the
            ``fabric.*`` overrides, all in SI units.
        params: parameter name -> :class:`Param`. ``None`` accepts any parameter unchecked.
        fabric: whether ``fabric.*`` overrides are accepted (passed to ``topo.load``).
        prefixes: further dotted prefixes passed through unchecked (``"opt."`` -> algorithm options).
        extra: a callable returning further accepted parameter names (e.g. from a signature).
        help: one line for ``scaleup sweep --list-jobs``.
        upgrade: ``upgrade(row, params) -> row``: a row an older version of the job wrote (kept by a resume, with
            the point's given ``params``) in today's columns, so one table never mixes two meanings of a column.
    """

    name: str
    fn: Callable[[dict[str, Any]], Mapping[str, Any]]
    params: dict[str, Param] | None = None
    fabric: bool = False
    extra: Callable[[], dict[str, Param]] | None = None
    help: str = ""
    prefixes: tuple[str, ...] = ()
    upgrade: Callable[[dict[str, Any], Mapping[str, Any]], dict[str, Any]] | None = None
    _extra_cache: dict[str, Param] | None = field(default=None, repr=False)

    def all_params(self) -> dict[str, Param] | None:
        if self.params is None:
            return None
        if self.extra is None:
            return self.params
        if self._extra_cache is None:
            try:
                more = self.extra()
            except Exception:  # the package behind it may not be importable yet
                more = {}
            self._extra_cache = {k: v for k, v in more.items() if k not in self.params}
        return {**self.params, **self._extra_cache}

    def validate(self, params: Mapping[str, Any], locate: Callable[[str], str] | None = None) -> dict[str, Any]:
        """Check names and convert values; returns only the given parameters (no defaults), in order.

        Raises:
            SpecError: naming the key for an unknown parameter (listing valid ones), a bad value, or a
                missing required one.
        """
        locate = locate or (lambda k: k)
        schema = self.all_params()
        if schema is None:
            return dict(params)
        out: dict[str, Any] = {}
        for key, value in params.items():
            if key.startswith("fabric."):
                if not self.fabric:
                    raise SpecError(f"{locate(key)}: job {self.name!r} takes no fabric overrides")
                if not key[7:]:
                    raise SpecError(f"{locate(key)}: name the fabric parameter, e.g. fabric.tray_size")
                out[key] = value
                continue
            if any(key.startswith(pre) and len(key) > len(pre) for pre in self.prefixes):
                out[key] = value
                continue
            if key not in schema:
                raise SpecError(
                    f"{locate(key)}: unknown parameter of job {self.name!r}; valid: {', '.join(schema)}"
                    + (", fabric.<override>" if self.fabric else "")
                    + "".join(f", {pre}<name>" for pre in self.prefixes)
                )
            out[key] = schema[key].convert(value, locate(key))
        missing = [k for k, p in schema.items() if p.default is REQUIRED and k not in out]
        if missing:
            raise SpecError(f"job {self.name!r}: missing parameter {missing[0]!r} (set it in params or grid)")
        overrides = tuple(k[7:] for k in out if k.startswith("fabric."))
        if overrides and isinstance(out.get("fabric"), str):  # a typo fails here, not in every point
            key = next(k for k in out if k.startswith("fabric."))
            try:
                builder = out.get("fabric.builder")
                _check_fabric_keys(out["fabric"], overrides, builder if isinstance(builder, str) else None)
            except SpecError as exc:  # name the key refused, not the first fabric.* key
                key = next((k for k in out if k.startswith("fabric.") and f"unknown key {k[7:]!r}" in str(exc)), key)
                raise SpecError(f"{locate(key)}: {exc}") from None
        return out

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Validated parameters with defaults filled in (what ``fn`` receives)."""
        out = self.validate(params)
        schema = self.all_params()
        if schema:
            for k, p in schema.items():
                if k not in out and p.default is not REQUIRED:
                    out[k] = p.default
        return out

    def __call__(self, params: Mapping[str, Any]) -> dict[str, Any]:
        result = self.fn(self.resolve(params))
        if not isinstance(result, Mapping):
            raise TypeError(f"job {self.name!r} returned {type(result).__name__}, expected a dict")
        return dict(result)


JOBS: dict[str, Job] = {}


def register_job(
    name: str,
    fn: Callable[[dict[str, Any]], Mapping[str, Any]] | Job,
    params: dict[str, Param] | None = None,
    fabric: bool = False,
    help: str = "",
) -> Job:
    """Register ``fn`` as job ``name`` (replacing any previous one) and return the :class:`Job`.

    For multi-process runs the function must be importable (module level) so workers can unpickle it.
    """
    job = fn if isinstance(fn, Job) else Job(name=name, fn=fn, params=params, fabric=fabric, help=help)
    JOBS[name] = job
    return job


def resolve_job(name: str) -> Job:
    """The job named ``name``: a key of :data:`JOBS` or an import path ``"pkg.module:function"``.

    Raises:
        SpecError: unknown job, listing the valid names.
    """
    if name in JOBS:
        return JOBS[name]
    if ":" in name:
        mod, _, attr = name.partition(":")
        try:
            obj = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as exc:
            raise SpecError(f"job: cannot import {name!r} ({exc})") from None
        if isinstance(obj, Job):
            return obj
        if not callable(obj):
            raise SpecError(f"job: {name!r} is not callable")
        return Job(name=name, fn=obj, params=None, fabric=True)
    raise SpecError(f"job: unknown job {name!r}; valid: {', '.join(sorted(JOBS))} (or package.module:function)")


# ------------------------------------------------------------------------------------ fabric cache
_FABRICS: OrderedDict[str, Any] = OrderedDict()
_STATS = {"builds": 0, "hits": 0}


def fabric_key(params: Mapping[str, Any]) -> str:
    """Canonical key of the fabric a point uses: its name plus its ``fabric.*`` overrides ('' if none)."""
    if "fabric" not in params and not any(k.startswith("fabric.") for k in params):
        return ""
    spec = {"name": params.get("fabric")}
    spec.update({k[7:]: v for k, v in params.items() if k.startswith("fabric.")})
    return canonical("fabric", spec)


def fabric_for(params: Mapping[str, Any]) -> Fabric:
    """The :class:`topo.Fabric` of a point: ``topo.load(params["fabric"], **overrides)``, cached per process.

    The cache is keyed by :func:`fabric_key` and holds the ``SCALEUP_SWEEP_FABRICS`` (default 4) most
    recently used fabrics, so a worker builds each distinct fabric once when points arrive grouped.
    """
    import topo

    key = fabric_key(params)
    if key in _FABRICS:
        _FABRICS.move_to_end(key)
        _STATS["hits"] += 1
        return _FABRICS[key]
    name = params.get("fabric")
    if not name:
        raise SpecError("fabric: this job needs a fabric (a preset name or a YAML path)")
    overrides = {k[7:]: v for k, v in params.items() if k.startswith("fabric.")}
    fab = topo.load(name, **overrides)
    _STATS["builds"] += 1
    _FABRICS[key] = fab
    limit = max(1, int(os.environ.get("SCALEUP_SWEEP_FABRICS", "4")))
    while len(_FABRICS) > limit:
        _FABRICS.popitem(last=False)
    return fab


def fabric_cache_info() -> dict[str, int]:
    """Counters of this process's fabric cache: ``builds``, ``hits``, ``size``."""
    return {"builds": _STATS["builds"], "hits": _STATS["hits"], "size": len(_FABRICS)}


def clear_fabric_cache() -> None:
    """Empty this process's fabric cache and reset its counters."""
    _FABRICS.clear()
    _STATS["builds"] = _STATS["hits"] = 0


# ------------------------------------------------------------------------------------ built-in jobs
GBPS = 1e9  # bytes/s per GB/s
COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "reduce", "send_recv")


def _opts(params: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def _route_budget_sweep(exc: Any, key: str, fewer: str) -> Exception:
    """A :class:`traffic.routing.RouteBudgetError` as a sweep spec words it: the routing as the spec key that sets
    it (``key``: ``opt.routing`` in a collective job, ``routing`` in a traffic job), not the Python spelling
    (``routing='hash'``) of its message; ``fewer``: the keys that give fewer flows per step."""
    from traffic.routing import MAX_HASH_EDGES, _budget_error

    if exc.routing == "hash":  # every path (ecmp) holds at least as many entries: only fewer flows help
        msg = (f"{key}: hash: {exc.flows:,} flows would need about {exc.entries:.3g} path-edge entries (one path "
               f"per flow; ~{exc.gib:,.0f} GiB; limit {exc.limit:.0e}); use fewer flows ({fewer})")
    else:
        fix = (f"; {key}: hash (one path per flow) would still need about {exc.hash_entries:.3g} (limit "
               f"{MAX_HASH_EDGES:.0e})" if exc.hash_entries > MAX_HASH_EDGES else f", or {key}: hash (one path per flow)")
        what = "(one sub-flow per equal-cost path)" if exc.routing == "ecmp-subflows" else "over every equal-cost path"
        gib = f"~{exc.gib:,.0f} GiB; " if exc.gib else ""
        msg = (f"{key}: {exc.routing}: {exc.flows:,} flows {what} would need about {exc.entries:.3g} path-edge "
               f"entries ({gib}limit {exc.limit:.0e}); use fewer flows ({fewer}){fix}")
    return _budget_error(msg, exc.routing, exc.flows, exc.entries, exc.limit, exc.gib, exc.hash_entries)


def _collective_job(p: dict[str, Any]) -> dict[str, Any]:
    import collectives

    fab = fabric_for(p)
    fn = getattr(collectives, p["collective"])
    n = fab.n_chips
    # the default group: every chip (send_recv: 2 ranks), as scaleup collective --group-size and
    # collectives.default_group
    k = p["group"] if p["group"] is not None else (2 if p["collective"] == "send_recv" else n)
    if not 2 <= k <= n:  # as scaleup collective --group-size: a 1-rank "collective" gave busbw 0 and a call cost
        raise SpecError(f"group: must be 2..{n} ranks on this fabric of {n} chips (a collective needs two ranks), "
                        f"got {k}")
    if n % k and not p["concurrent"]:  # one group of k ranks cut by the placement, as `scaleup collective
        # --group-size` (collectives.benchmark): tray 0..k-1, strided every n // k, random the permutation's first k
        if p["placement"] == "strided":
            groups = [[i * (n // k) for i in range(k)]]
        elif p["placement"] == "random":
            import numpy as np

            groups = [np.random.default_rng(p["seed"]).permutation(n)[:k].tolist()]
        else:
            groups = [list(range(k))]
    elif n % k:
        raise SpecError(f"group: {k} does not divide the {n} chips, so concurrent groups cannot tile the fabric; "
                        "pick a divisor (or concurrent: false for one group)")
    else:
        groups = fab.groups(k, placement=p["placement"], seed=p["seed"])
    opts = _opts(p, "opt.")
    from traffic.routing import RouteBudgetError

    try:
        if p["concurrent"] and len(groups) > 1:
            op_cls = collectives.OPS[p["collective"]]
            ops = [op_cls(p["size"], group=g, algorithm=p["algorithm"], **opts) for g in groups]
            results = collectives.run(ops, fab)
            res = max(results, key=lambda r: r.time)
        else:
            res = fn(fab, p["size"], group=groups[0], algorithm=p["algorithm"], **opts)
    except RouteBudgetError as exc:  # its message spells the fix in Python (routing='hash'): say it as spec keys
        raise _route_budget_sweep(exc, "opt.routing", "a smaller group, or an algorithm with fewer flows per "
                                  "step such as pairwise" + (", or concurrent: false" if p["concurrent"] else "")) from None
    chunks = res.schedule.params.get("chunks", 1) if res.schedule is not None else 1
    out = {
        # the algorithm asked for (the series of a busbw-vs-size plot: `auto` is one line, as nccl-tests users
        # plot NCCL's choice) and the one run (auto's pick per size; the algorithm itself otherwise)
        "algorithm": p["algorithm"],
        "picked": res.algorithm,
        # the calibrated model's NCCL protocol (ll, ll128, simple), "ideal" for opt.ideal; the pipelining chunks
        # of the variant run (`auto` picks them too): the CLI table's algorithm/cN and protocol
        "protocol": res.protocol or "ideal",
        "chunks": int(chunks or 1),
        "ranks": len(groups[0]),
        "groups": len(groups) if p["concurrent"] else 1,
        "time_us": res.time * 1e6,
        "algbw_GBps": res.algbw / GBPS,
        "busbw_GBps": res.busbw / GBPS,
        "bound_us": res.bound * 1e6 if res.bound is not None else float("nan"),
    }
    out["time_over_bound"] = out["time_us"] / out["bound_us"] if out["bound_us"] > 0 else float("nan")
    return out


def _collective_upgrade(row: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A collective row written before the ``picked`` column: its ``algorithm`` was the algorithm run (auto's pick
    replaced the ``auto`` asked for); it becomes ``picked`` and ``algorithm`` the point's own (default auto)."""
    if "picked" in row or "algorithm" not in row:
        return row
    return {**row, "algorithm": params.get("algorithm", "auto"), "picked": row["algorithm"]}


def _canonical_collective(value: Any) -> Any:
    """The collective name as :data:`collectives.COLLECTIVES` spells it, from the CLI's spelling too (``all-reduce``,
    ``sendrecv``: ``collectives.api.canonical_collective``); other values unchanged."""
    from collectives.api import canonical_collective

    return canonical_collective(value)


def _collective_extra() -> dict[str, Param]:
    return {}


def _infer_extra() -> dict[str, Param]:
    """Further keyword parameters of inference.estimate (from its signature), unchecked kinds."""
    import inference
    from inference.report import KNOB_KEYS

    sig = inspect.signature(inference.estimate)
    out = {}
    for name, prm in sig.parameters.items():
        if name in ("model", "fabric") or prm.kind in (prm.VAR_KEYWORD, prm.VAR_POSITIONAL):
            continue
        out[name] = Param("any", default=prm.default if prm.default is not prm.empty else REQUIRED)
    # the knobs estimate takes through **knobs (host_per_seq, speed, graph_batches, ...): None = its default
    for name in KNOB_KEYS:
        out.setdefault(name, Param("any", default=None))
    return out


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, (list, tuple)):
            out[key] = str(list(v))
        elif hasattr(v, "item") and not isinstance(v, (str, bytes)):
            out[key] = v.item()
        else:
            out[key] = v
    return out


_INFER_FIXED = ("model", "fabric")


def _knob_only() -> frozenset[str]:
    """estimate's knobs outside its signature (inference.report.KNOB_KEYS less its named parameters)."""
    import inference
    from inference.report import KNOB_KEYS

    return frozenset(KNOB_KEYS) - set(inspect.signature(inference.estimate).parameters)


def _infer_job(p: dict[str, Any]) -> dict[str, Any]:
    import inference

    fab = fabric_for(p)
    knob_only = _knob_only()
    kw = {k: v for k, v in p.items() if k not in _INFER_FIXED and "." not in k
          and not (v is None and k in knob_only)}  # an unset **knobs key keeps estimate's own default
    kw.update(_opts(p, "cost."))
    report = inference.estimate(p["model"], fab, **kw)
    out = _flatten(report.to_dict())
    out.update(_bound_split(report, out))
    return out


def _bound_split(report: Any, d: Mapping[str, Any]) -> dict[str, float]:
    """Split each phase's compute time (``{phase}_compute_s``) between compute-bound and memory-bound ops.

    The time of every op (roofline max plus its overhead, times its layer count; ``Report.ops``) goes
    to its bottleneck; the shares scale ``{phase}_compute_s`` (which counts every prefill chunk), so
    ``{phase}_compute_bound_s + {phase}_memory_bound_s == {phase}_compute_s``.
    """
    out: dict[str, float] = {}
    for phase in ("prefill", "decode"):
        total = d.get(f"{phase}_compute_s")
        rows = [o for o in getattr(report, "ops", []) or [] if o.get("phase") == phase]
        if total is None or not rows:
            continue
        cb = sum(o["time"] * o["layers"] for o in rows if o["bottleneck"] == "compute")
        allt = sum(o["time"] * o["layers"] for o in rows)
        frac = cb / allt if allt > 0 else 0.0
        out[f"{phase}_compute_bound_s"] = total * frac
        out[f"{phase}_memory_bound_s"] = total - total * frac
    return out


def _traffic_job(p: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    import traffic

    fab = fabric_for(p)
    n = fab.n_chips
    # the default group: every chip (a traffic job has no collective: reading one's send_recv default had raised
    # KeyError 'collective' on every point without a group)
    k = p["group"] if p["group"] is not None else n
    if not 2 <= k <= n:
        raise SpecError(f"group: {k} chips requested on a fabric of {n} chips (need 2..{n})")
    src, dst = traffic.patterns.make(p["pattern"], k, seed=p["seed"], **_opts(p, "pattern."))
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    size = np.full(len(src), float(p["size"]))
    from traffic.routing import RouteBudgetError

    try:
        res = traffic.simulate_arrays(fab, src, dst, size, routing=p["routing"], seed=p["seed"])
    except RouteBudgetError as exc:  # as in _collective_job
        raise _route_budget_sweep(exc, "routing", "a smaller group, or pattern: permutation or ring, one flow "
                                  "per chip") from None
    total = float(size.sum())
    util = np.asarray(res.utilisation, dtype=float)
    used = util[util > 0]
    return {
        "flows": int(len(src)),
        "total_bytes": total,
        "makespan_us": res.makespan * 1e6,
        "throughput_GBps": total / res.makespan / GBPS if res.makespan > 0 else float("nan"),
        "per_chip_GBps": total / res.makespan / GBPS / max(1, len(set(src.tolist()))) if res.makespan > 0 else float("nan"),
        "max_link_util": float(util.max()) if util.size else 0.0,
        "mean_link_util": float(used.mean()) if used.size else 0.0,
        "links_used": int(used.size),
    }


def _topo_job(p: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    import topo

    fab = fabric_for(p)
    summarize = getattr(topo, "summarize", None)
    if summarize is not None:
        s = summarize(fab)
        flat = _flatten(s if isinstance(s, Mapping) else vars(s))
        out: dict[str, Any] = {}
        for k, v in flat.items():  # name the unit of every SI figure in its column
            if k in ("meta.description", "meta.source_file"):
                continue
            numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
            if numeric and ("bandwidth" in k or k.startswith("injection") or k == "bisection_per_chip"):
                out[f"{k}_GBps"] = v / GBPS
            elif numeric and "latency" in k:
                out[f"{k}_s"] = v
            else:
                out[k] = v
        return out
    # fallback until topo.summarize exists: counts, injection bandwidth, builder parameters
    chip_out = np.bincount(fab.edge_src, weights=fab.edge_bandwidth, minlength=fab.n_nodes)[: fab.n_chips]
    out = {
        "chips": fab.n_chips,
        "switches": fab.n_nodes - fab.n_chips,
        "links": fab.n_edges // 2,
        "injection_GBps": float(chip_out.mean()) / GBPS,
    }
    for k, v in fab.meta.items():
        if isinstance(v, (int, float, bool)) and k not in out and k != "chips":
            out[f"meta.{k}"] = v
    return out


def _known_stack(value: Any, field_: str) -> None:
    """A serving stack a fleet pool takes (``fleet.spec.STACKS``)."""
    from fleet.spec import STACKS

    if value not in STACKS:
        raise SpecError(f"{field_}: {value!r} is not one of {', '.join(STACKS)}")


def _known_workload(value: Any, field_: str) -> None:
    """A bundled request-length workload (``fleet.WORKLOADS``)."""
    from fleet import WORKLOADS

    if value not in WORKLOADS:
        raise SpecError(f"{field_}: {value!r} is not one of {', '.join(WORKLOADS)}")


#: the inline pool's parameters of the serve job (``fleet.single_pool_fleet``'s keyword arguments)
SERVE_POOL = ("tp", "ep", "pp", "dtype", "kv_dtype", "stack", "replicas", "batch", "token_budget", "chunked_prefill",
              "price", "speculative")
#: arrival window of an open-loop serve point given a rate but no duration, s (``scaleup serve``'s default)
SERVE_DURATION = 600.0


def _speculative_off(value: Any) -> Any:
    """A serve point's ``speculative`` as ``parse_speculative`` reads it: YAML 1.1 reads an unquoted ``off`` in a grid
    as False, which the str parameter made ``"False"``; that is ``"off"`` (no speculation), as in the infer job."""
    return "off" if value == "False" else value


def _serve_job(p: dict[str, Any]) -> dict[str, Any]:
    """One point of a serving curve: ``fleet.simulate_serving`` of the inline pool
    ``fleet.single_pool_fleet(model, fabric, ...)`` under a closed loop (``concurrency``) or a Poisson ``rate``;
    the columns are ``ServingResult.summary()`` (SI units, names carry them) plus the pool's ``batch`` (the one
    used) and ``kv_capacity_tokens`` per replica."""
    import fleet

    if p["concurrency"] is None and p["rate"] is None:
        raise SpecError("concurrency: give a concurrency (closed loop, requests in flight) or a rate (open loop, "
                        "requests/s, with a duration)")
    spec = fleet.single_pool_fleet(p["model"], p["fabric"], concurrency=p["concurrency"],
                                   **{k: p[k] for k in SERVE_POOL})
    duration = p["duration"]
    if duration is None and p["concurrency"] is None:
        duration = SERVE_DURATION
    # a closed loop given a rate or duration, or requests / think without one, is simulate_serving's SpecError
    res = fleet.simulate_serving(spec, slo_ttft=p["slo_ttft"], slo_tpot=p["slo_tpot"], router=p["router"],
                                 prompt=p["prompt"], output=p["output"], workload=p["workload"], seed=p["seed"],
                                 concurrency=p["concurrency"], requests=p["requests"], think=p["think"],
                                 rate=p["rate"], duration=duration, burstiness=p["burstiness"])
    out = res.summary()
    out["batch"] = spec.pools[0].batch
    out["kv_capacity_tokens"] = float(res.pools[0]["kv_capacity_tokens"])
    return out


PATTERNS = ("ring", "permutation", "all_to_all", "incast", "tornado", "bit_reversal")

register_job(
    "collective",
    Job(
        name="collective",
        fn=_collective_job,
        fabric=True,
        extra=_collective_extra,
        prefixes=("opt.",),
        help="one collective on a fabric: time_us, algbw_GBps, busbw_GBps (nccl-tests), bound_us, picked (the "
             "algorithm run; auto's choice)",
        upgrade=_collective_upgrade,
        params={
            "fabric": Param("str", help="fabric preset name or YAML path", check=_known_fabric),
            "collective": Param("str", "all_reduce", choices=COLLECTIVES, canon=_canonical_collective),
            "size": Param("size", help="message size (bytes; nccl-tests convention)"),
            "group": Param("int", None, "ranks per group (default: every chip)", nullable=True),
            "placement": Param("str", "tray", choices=("tray", "strided", "random")),
            "concurrent": Param("bool", False, "run every group of that size at once (contention)"),
            "algorithm": Param("str", "auto"),
            "seed": Param("int", 0),
        },
    ),
)
register_job(
    "infer",
    Job(
        name="infer",
        fn=_infer_job,
        fabric=True,
        extra=_infer_extra,
        prefixes=("cost.",),
        help="token latency and cost of a model on a fabric: inference.estimate(...).to_dict()",
        params={
            "model": Param("str", help="model preset name or YAML path", check=_known_model),
            "fabric": Param("str", check=_known_fabric),
            "tp": Param("int", 8, "null: chosen per fabric (inference.layout.auto_layout)", nullable=True),
            "ep": Param("int", 1),
            "pp": Param("int", 1, "null: chosen per fabric (SRAM-only chips: stages from capacity)", nullable=True),
            "dp": Param("int", None, nullable=True),
            "batch": Param("int", 32),
            "prompt": Param("int", 2048),
            "output": Param("int", 256),
            "dtype": Param("str", "fp8"),
            "kv_dtype": Param("str", None, nullable=True),
            "overlap": Param("bool", False),
        },
    ),
)
register_job(
    "traffic",
    Job(
        name="traffic",
        fn=_traffic_job,
        fabric=True,
        prefixes=("pattern.",),
        help="a traffic pattern through the contention engine: makespan_us, throughput_GBps, link utilisation",
        params={
            "fabric": Param("str", check=_known_fabric),
            "pattern": Param("str", "ring", choices=PATTERNS),
            "size": Param("size", help="bytes per flow"),
            "group": Param("int", None, "chips taking part (ranks 0..group-1; default all)", nullable=True),
            "routing": Param("str", "ecmp", choices=("ecmp", "ecmp-subflows", "hash")),
            "seed": Param("int", 0),
        },
    ),
)
register_job(
    "serve",
    Job(
        name="serve",
        fn=_serve_job,
        help="serving one inline pool (fleet.single_pool_fleet + simulate_serving): TTFT/TPOT mean and percentiles, "
             "tokens/s per chip and per user, goodput, SLO attainment, $/M tokens",
        params={
            "model": Param("str", help="model preset name or YAML path", check=_known_model),
            "fabric": Param("str", help="fabric preset name or YAML path of every replica", check=_known_fabric),
            "tp": Param("int", 8),
            "ep": Param("int", 1),
            "pp": Param("int", 1),
            "dtype": Param("str", "fp8"),
            "kv_dtype": Param("str", None, nullable=True),
            "stack": Param("str", None, "trtllm | vllm | sglang | ideal (null: inference's default)", nullable=True,
                           check=_known_stack),
            "replicas": Param("int", 1),
            "batch": Param("int", None, "most sequences per iteration (null: the concurrency, else 256)",
                           nullable=True),
            "token_budget": Param("int", 8192),
            "chunked_prefill": Param("bool", True),
            "price": Param("float", None, "$ per chip-hour (null: the chip's capex + power model)", nullable=True),
            "speculative": Param("str", None, "speculative decoding, mtp:K@A | draft:MODEL:K@A | ngram:K@A (null: "
                                 "off; scaleup serve --speculative)", nullable=True,
                                 canon=_speculative_off),
            "concurrency": Param("int", None, "closed loop: requests in flight", nullable=True),
            "requests": Param("int", None, "closed loop: requests sent in all (null: 10 x concurrency)",
                              nullable=True),
            "think": Param("time", 0.0, "closed loop: time from a completion to the next send"),
            "rate": Param("float", None, "open loop: Poisson requests/s", nullable=True),
            "duration": Param("time", None, "open loop: arrival window (null: 600 s)", nullable=True),
            "burstiness": Param("float", 1.0, "open loop: gamma shape of the arrival gaps (1 Poisson, below 1 "
                                "bursty; vllm benchmark_serving --burstiness)"),
            "prompt": Param("int", None, "fixed prompt tokens (with output; null: the workload's)", nullable=True),
            "output": Param("int", None, "fixed output tokens (with prompt)", nullable=True),
            "workload": Param("str", "azure-conv", check=_known_workload),
            "router": Param("str", "least-loaded"),
            "seed": Param("int", 0),
            "slo_ttft": Param("time", 1.0),
            "slo_tpot": Param("time", 0.05),
        },
    ),
)
register_job(
    "topo",
    Job(
        name="topo",
        fn=_topo_job,
        fabric=True,
        help="structural summary of a fabric (topo.summarize): chips, switches, links, bisection, cost",
        params={"fabric": Param("str", check=_known_fabric)},
    ),
)

__all__ = [
    "JOBS",
    "Job",
    "KINDS",
    "Param",
    "REQUIRED",
    "clear_fabric_cache",
    "fabric_cache_info",
    "fabric_for",
    "fabric_key",
    "register_job",
    "resolve_job",
]
