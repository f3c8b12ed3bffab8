"""Sweep specs: what to run (a job) over which grid of parameters.

A spec is YAML (or the equivalent dict)::

    job: collective                 # collective | infer | traffic | topo | serve | "package.module:function"
    name: maia200-busbw             # optional label
    params:                         # fixed parameters of every point
      collective: all_reduce
    grid:                           # cartesian product; the first key varies slowest
      fabric: [maia200, gb200-nvl72]
      fabric.tray_size: [2, 4]      # a fabric override, passed to topo.load(name, tray_size=...)
      zip:                          # values that vary together (one axis of the product)
        group: [8, 16, 32]
        algorithm: [ring, ring, tree]
      size: 1KiB:1GiB:x2            # a range with units: START:STOP[:xFACTOR|:+STEP], inclusive

``grid`` may also be a list of such mappings: the points of each are concatenated (a union of
products). A value is a scalar, a list, or a range string; ranges inside lists are expanded in place.
Values are converted to SI at this edge (sizes to bytes, times to seconds) according to the job's
declared parameter kinds, so every point holds plain numbers and strings.

Every point gets a stable id: a hash of the job name and its canonical parameters (independent of
the order of keys, of the grid layout, and of the Python process). ``--resume`` matches on it.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from topo import SpecError, UnitError, parse_quantity, parse_size_range
from topo.bundled import bundled_dir, bundled_file
from topo.loader import read_text_utf8

from ._canon import _intify, canonical
from .jobs import resolve_job

#: the bundled sweep specs (``examples/*.yaml``), accepted by name as fabrics are (``scaleup sweep tp-llama70b``)
EXAMPLES_DIR = bundled_dir("examples")  # the repository's examples/, or the installed package data

#: top-level keys a spec may hold
SPEC_KEYS = ("job", "name", "description", "params", "grid")

_RANGE_RE = re.compile(r"^\s*([^:\s][^:]*):([^:]+)(?::([^:]+))?\s*$")


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep spec.

    Attributes:
        job: job name (a key of :data:`sweep.JOBS`) or an import path ``"pkg.module:function"``.
        params: fixed parameters of every point (raw, as written).
        grid: list of grid mappings (raw, as written); their products are concatenated.
        name: label of the sweep (the spec file's stem by default).
        description: free text.
    """

    job: str
    params: dict[str, Any] = field(default_factory=dict)
    grid: tuple[dict[str, Any], ...] = ()
    name: str = "sweep"
    description: str = ""


@dataclass(frozen=True)
class Point:
    """One point of a sweep: its position in the expansion, stable id, and parameters (SI units)."""

    index: int
    id: str
    params: dict[str, Any]


def list_examples() -> list[str]:
    """Names of the bundled sweep specs (``examples/*.yaml``), sorted."""
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.yaml"))


#: files under examples/ (or given to ``scaleup sweep``) that are another command's input, by a top-level key a
#: sweep spec never has: (key, what the file is, the command that runs it; {path} = the file)
_OTHER_INPUTS = (("builder", "a fabric file", "scaleup topo show {path}` or `--fabric {path}"),
                 ("pools", "a fleet file", "scaleup serve --fleet {path}"),
                 ("jobs", "a jobs file", "scaleup jobs {path}"))


def sweep_examples() -> list[str]:
    """Names of the bundled examples that are sweep specs (a top-level ``job:`` key), sorted; the others in
    ``examples/`` are fabric, fleet or jobs files of other commands (``whatif-*.yaml``)."""
    return [n for n in list_examples()
            if re.search(r"^job\s*:", (EXAMPLES_DIR / f"{n}.yaml").read_text(encoding="utf-8", errors="replace"),
                         re.M)]


def _example_path(text: str) -> Path | None:
    """The bundled example ``text`` names (``tp-llama70b`` or ``tp-llama70b.yaml``), when ``text`` is not an
    existing path itself; the bundled file a repository-relative path ``examples/NAME.yaml`` names when that
    path does not exist here (outside a checkout); None otherwise."""
    if "/" in text or "\\" in text:
        return bundled_file(text)
    if not text or os.path.exists(text) or "\n" in text:
        return None
    cand = EXAMPLES_DIR / (text if text.endswith((".yaml", ".yml")) else f"{text}.yaml")
    return cand if cand.is_file() else None


def load_spec(source: str | os.PathLike | Mapping[str, Any] | SweepSpec) -> SweepSpec:
    """Read a spec from a YAML file path, a YAML string, a dict, or pass a :class:`SweepSpec` through.

    Raises:
        SpecError: naming the offending key (unknown top-level key, missing ``job``, bad ``grid``).
    """
    if isinstance(source, SweepSpec):
        return source
    name = "sweep"
    shown = "the spec"  # how an error names the input (the path as the user can pass it to another command)
    if isinstance(source, Mapping):
        data: Any = dict(source)
    else:
        text = str(source)
        example = _example_path(text)
        shown = text
        if example is not None:
            text = str(example)
            shown = f"examples/{example.name}"
        if os.path.exists(text) or text.endswith((".yaml", ".yml")):
            if not os.path.exists(text):
                raise SpecError(f"sweep spec: file {text!r} does not exist")
            name = os.path.splitext(os.path.basename(text))[0]
            text = read_text_utf8(text, "sweep spec")
        elif "\n" not in text and ":" not in text:  # a bare word: meant as a file or an example name
            raise SpecError(
                f"sweep spec: {text!r} is neither a file nor a bundled example; bundled: "
                f"{', '.join(sweep_examples())} (or give a path to a YAML spec)"
            )
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError(f"sweep spec: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, Mapping):
        raise SpecError(f"sweep spec: expected a mapping with keys job, params, grid, got {type(data).__name__}")
    for key, what, command in _OTHER_INPUTS:
        if "job" not in data and key in data:
            raise SpecError(f"sweep spec: {shown} is {what}, not a sweep spec (no 'job:' key); run it with "
                            f"`{command.format(path=shown)}`")
    unknown = [k for k in data if k not in SPEC_KEYS]
    if unknown:
        raise SpecError(f"sweep spec: unknown key {unknown[0]!r}; valid keys: {', '.join(SPEC_KEYS)}")
    if "job" not in data:
        raise SpecError("sweep spec: missing 'job' (one of collective, infer, traffic, topo, serve)")
    job = data["job"]
    if not isinstance(job, str):
        raise SpecError(f"sweep spec: job must be a string, got {job!r}")
    params = data.get("params") or {}
    if not isinstance(params, Mapping):
        raise SpecError("sweep spec: 'params' must be a mapping of parameter: value")
    grid = data.get("grid") or {}
    if isinstance(grid, Mapping):
        grids: tuple[dict[str, Any], ...] = (dict(grid),)
    elif isinstance(grid, Sequence) and not isinstance(grid, str) and all(isinstance(g, Mapping) for g in grid):
        grids = tuple(dict(g) for g in grid) or ({},)
    else:
        raise SpecError("sweep spec: 'grid' must be a mapping (or a list of mappings) of parameter: values")
    for g in grids:
        for k in g:
            if not isinstance(k, str):
                raise SpecError(f"sweep spec: grid key {k!r} must be a string")
    return SweepSpec(
        job=job,
        params={str(k): v for k, v in params.items()},
        grid=grids,
        name=str(data.get("name") or name),
        description=str(data.get("description") or ""),
    )


# ---------------------------------------------------------------------------------------- ranges
def _quantity_dim(text: str) -> str | None:
    """Dimension of a quantity string (None for a plain number); raises UnitError if not a quantity."""
    m = re.match(r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*(.*?)\s*$", text)
    if not m:
        raise UnitError(f"{text!r} is not a quantity")
    unit = m.group(1)
    if not unit:
        return None
    for dim in ("size", "time", "bandwidth", "flops", "power"):
        try:
            parse_quantity(text, dim)
            return dim
        except UnitError:
            continue
    raise UnitError(f"{text!r}: unknown unit {unit!r}")


def is_range(value: Any) -> bool:
    """Whether ``value`` is a range string ``START:STOP[:STEP]`` whose ends are quantities."""
    if not isinstance(value, str):
        return False
    m = _RANGE_RE.match(value)
    if not m:
        return False
    try:
        _quantity_dim(m.group(1))
        _quantity_dim(m.group(2))
    except UnitError:
        return False
    return True


#: most values one range may expand to, and most points one spec may expand to (a typo such as
#: ``1:1e9:+1`` would otherwise hang or exhaust memory)
MAX_RANGE_POINTS = 10_000
MAX_POINTS = 1_000_000


def parse_range(text: str, field: str = "value") -> list[int | float]:
    """Expand a range string into SI values.

    ``START:STOP`` (x2 steps), ``START:STOP:xF`` (geometric, factor F > 1) or ``START:STOP:+S`` /
    ``START:STOP:S`` (arithmetic, step S > 0); STOP is included when reached. Ends may carry units
    (``1KiB:1GiB:x2`` -> bytes via :func:`topo.parse_size_range`; ``1us:1ms:x10`` -> seconds); plain
    numbers give ints when integral (``1:64:x2`` -> 1, 2, 4, ..., 64).

    Raises:
        SpecError: naming ``field`` for a malformed range, mixed dimensions, or an empty range.
    """
    m = _RANGE_RE.match(str(text))
    if not m:
        raise SpecError(f"{field}: bad range {text!r}; write START:STOP[:xFACTOR|:+STEP], e.g. 1KiB:1GiB:x2")
    a, b, step = m.group(1).strip(), m.group(2).strip(), (m.group(3) or "x2").strip()
    try:
        da, db = _quantity_dim(a), _quantity_dim(b)
    except UnitError as exc:
        raise SpecError(f"{field}: bad range {text!r}: {exc}") from None
    if da != db and None not in (da, db):
        raise SpecError(f"{field}: range {text!r} mixes a {da} and a {db}")
    dim = da or db
    try:
        if dim == "size":
            vals = parse_size_range(f"{a}:{b}:{step}", field)
            return [_intify(v) for v in vals]
        lo = parse_quantity(a, dim, field)
        hi = parse_quantity(b, dim, field)
        if hi < lo:
            raise SpecError(f"{field}: range {text!r} ends before it starts")
        out: list[float] = []
        if step.startswith("x"):
            f = parse_quantity(step[1:], "number", field)
            if not f > 1:
                raise SpecError(f"{field}: factor in range {text!r} must be > 1")
            if not lo > 0:
                raise SpecError(f"{field}: a geometric range {text!r} must start above 0")
            if math.log(hi / lo) / math.log(f) + 1 > MAX_RANGE_POINTS:
                raise SpecError(f"{field}: range {text!r} has more than {MAX_RANGE_POINTS} values; use a larger factor")
            k = 0
            while True:
                v = lo * f**k
                if v > hi * (1 + 1e-12):
                    break
                out.append(v)
                k += 1
        else:
            s = parse_quantity(step.lstrip("+"), dim, field)
            if not s > 0:
                raise SpecError(f"{field}: step in range {text!r} must be > 0")
            if (hi - lo) / s + 1 > MAX_RANGE_POINTS:
                raise SpecError(f"{field}: range {text!r} has more than {MAX_RANGE_POINTS} values; use a larger step")
            k = 0
            while True:
                v = lo + k * s
                if v > hi + abs(hi) * 1e-12 + 1e-300:  # a tolerance that widens for negative ends too
                    break
                out.append(v)
                k += 1
    except UnitError as exc:
        raise SpecError(str(exc)) from None
    # 12 significant digits: 0.1 + 2 * 0.1 is 0.3, not 0.30000000000000004
    return [_intify(v) if float(v).is_integer() else float(f"{v:.12g}") for v in out]


# ---------------------------------------------------------------------------------------- expansion
def _values(key: str, value: Any, where: str) -> list[Any]:
    """Values of one grid axis: a list (ranges inside expanded), a range string, or one scalar."""
    field_ = f"{where}.{key}"
    if isinstance(value, Mapping):
        raise SpecError(f"{field_}: expected a list, a range or a value, got a mapping")
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    out: list[Any] = []
    for item in items:
        if isinstance(item, str) and is_range(item):
            out.extend(parse_range(item, field_))
        else:
            out.append(item)
    if not out:
        raise SpecError(f"{field_}: empty list of values")
    return out


def _axes(grid: Mapping[str, Any], where: str) -> list[tuple[list[str], list[tuple[Any, ...]]]]:
    """Turn one grid mapping into axes: (keys, list of value tuples) in key order."""
    axes: list[tuple[list[str], list[tuple[Any, ...]]]] = []
    for key, value in grid.items():
        if key == "zip":
            groups = value if isinstance(value, list) else [value]
            for zi, group in enumerate(groups):
                zwhere = f"{where}.zip" if len(groups) == 1 else f"{where}.zip[{zi}]"
                if not isinstance(group, Mapping) or not group:
                    raise SpecError(f"{zwhere}: expected a mapping of parameter: list of values")
                keys = [str(k) for k in group]
                cols = [_values(k, group[k], zwhere) for k in keys]
                lengths = {len(c) for c in cols}
                if len(lengths) != 1:
                    desc = ", ".join(f"{k}={len(c)}" for k, c in zip(keys, cols))
                    raise SpecError(f"{zwhere}: zipped lists must have equal lengths, got {desc}")
                axes.append((keys, list(zip(*cols))))
        else:
            axes.append(([key], [(v,) for v in _values(key, value, where)]))
    return axes


def expand_raw(spec: SweepSpec) -> list[dict[str, Any]]:
    """Expand the grid without validating against a job (values as written, ranges expanded)."""
    fixed = dict(spec.params)
    points: list[dict[str, Any]] = []
    for gi, grid in enumerate(spec.grid):
        where = "grid" if len(spec.grid) == 1 else f"grid[{gi}]"
        axes = _axes(grid, where)
        seen: dict[str, str] = {}
        for keys, _ in axes:
            for k in keys:
                if k in seen:
                    raise SpecError(f"{where}.{k}: parameter appears twice in the grid")
                seen[k] = k
        total = len(points) + math.prod(len(vals) for _, vals in axes)
        if total > MAX_POINTS:
            raise SpecError(f"{where}: expands to {total:,} points, more than {MAX_POINTS:,}; split the sweep or "
                            "use fewer values per axis")
        for combo in itertools.product(*[vals for _, vals in axes]):
            p = dict(fixed)
            for (keys, _), vals in zip(axes, combo):
                for k, v in zip(keys, vals):
                    p[k] = v
            points.append(p)
    return points


def expand_grid(spec: str | os.PathLike | Mapping[str, Any] | SweepSpec) -> list[dict[str, Any]]:
    """Expand a spec into its points' parameters, in deterministic order.

    Order: grids in the order given; within one, the cartesian product with the first axis varying
    slowest (like nested for-loops in key order). Parameters are validated against the job (unknown
    names are an error) and converted to SI values (sizes in bytes, times in seconds).

    Returns:
        One dict of parameters per point; fabric overrides keep their dotted names
        (``"fabric.tray_size"``).

    Raises:
        SpecError: naming the key: unknown job (listing valid ones), unknown parameter, bad range.
    """
    return [p.params for p in expand_points(spec)]


def point_id(job: str, params: Mapping[str, Any]) -> str:
    """Stable 16-hex-digit id of a point (BLAKE2b of :func:`canonical`), prefixed ``p`` to stay a string."""
    return "p" + hashlib.blake2b(canonical(job, params).encode(), digest_size=8).hexdigest()


def expand_points(spec: str | os.PathLike | Mapping[str, Any] | SweepSpec) -> list[Point]:
    """Like :func:`expand_grid` but returns :class:`Point` objects with index and stable id.

    A point met twice (overlapping grids of a list, or ``1MiB`` and ``1048576`` in one list: the same id) is
    kept once, at its first position; indices count the distinct points (0, 1, 2, ...). Two points with one
    id would be one row of the table, so keeping both lost a point and left the count short."""
    spec = load_spec(spec)
    job = resolve_job(spec.job)
    raw = expand_raw(spec)
    fixed = set(spec.params)

    def locate(key: str) -> str:
        return f"params.{key}" if key in fixed else f"grid.{key}"

    points: list[Point] = []
    seen: set[str] = set()
    for p in raw:
        params = job.validate(p, locate)
        pid = point_id(spec.job, params)
        if pid in seen:
            continue
        seen.add(pid)
        points.append(Point(index=len(points), id=pid, params=params))
    return points
