"""Load fabrics from YAML: ``topo.load("maia200")`` or ``topo.load("path/to/my.yaml", chips=256)``.

A fabric file is a mapping with

- ``builder``: one of ``two_tier``, ``switch``, ``torus``, ``clos``, ``full_mesh``, ``dragonfly``;
- ``name`` (optional, default the file name) and ``description`` (optional, free text);
- ``chip``: a preset name (``maia200``) or a mapping ``{preset: maia200, hbm_bytes: 216GB, flops: {bf16:
  1PFLOPS}, ...}`` whose other keys are :class:`ChipSpec` fields in human units;
- every other key: a keyword argument of the builder (see :mod:`topo.builders`), in human units.

Bundled files live in ``topologies/`` next to the packages. Validation errors are :class:`SpecError` lines
naming the file and the key.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import yaml

from . import builders as _builders
from .errors import ScaleupError, SpecError
from .fabric import Fabric
from .presets import chip_preset
from .specs import DTYPES, ChipSpec
from .units import parse_quantity

TOPOLOGIES_DIR = Path(__file__).resolve().parents[1] / "topologies"

_RESERVED = ("builder", "name", "description", "chip")

_CHIP_FIELDS = {
    "name": "str",
    "hbm_bytes": "size",
    "hbm_bandwidth": "bandwidth",
    "sram_bytes": "size",
    "sram_bandwidth": "bandwidth",
    "tdp": "power",
    "ports": "int",
    "port_bandwidth": "bandwidth",
    "compute_efficiency": "number",
    "memory_efficiency": "number",
    "source": "str",
}


def list_fabrics() -> list[str]:
    """Names of the bundled fabric files (``topologies/*.yaml``), sorted."""
    return sorted(p.stem for p in TOPOLOGIES_DIR.glob("*.yaml"))


def describe_fabrics() -> dict[str, str]:
    """Bundled fabric name -> its one-line ``description``."""
    out = {}
    for name in list_fabrics():
        try:
            spec = yaml.safe_load((TOPOLOGIES_DIR / f"{name}.yaml").read_text()) or {}
            out[name] = str(spec.get("description", "")).strip().splitlines()[0] if spec.get("description") else ""
        except (yaml.YAMLError, OSError):
            out[name] = "(unreadable)"
    return out


def _resolve_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if not p.is_file():
            raise SpecError(f"fabric file {str(p)!r} does not exist")
        return p
    cand = TOPOLOGIES_DIR / f"{name_or_path}.yaml"
    if cand.exists():
        return cand
    raise SpecError(
        f"fabric {str(name_or_path)!r}: not a bundled name or a file; bundled: {', '.join(list_fabrics())}"
    )


def parse_chip(spec: Any, field: str = "chip") -> ChipSpec | str | None:
    """A chip entry of a fabric file: preset name, ChipSpec, or mapping with ``preset`` and overrides."""
    if spec is None or isinstance(spec, (str, ChipSpec)):
        return spec
    if not isinstance(spec, dict):
        raise SpecError(f"{field}: expected a preset name or a mapping, got {type(spec).__name__}")
    spec = dict(spec)
    preset = spec.pop("preset", None)
    base = chip_preset(preset) if preset is not None else ChipSpec(name=str(spec.get("name", "custom")))
    changes: dict[str, Any] = {}
    flops = spec.pop("flops", None)
    if flops is not None:
        if not isinstance(flops, dict):
            raise SpecError(f"{field}.flops: expected a mapping dtype -> FLOP/s, e.g. {{bf16: 1PFLOPS}}")
        table = dict(base.flops)
        for k, v in flops.items():
            if k not in DTYPES:
                raise SpecError(f"{field}.flops: unknown dtype {k!r}; known: {', '.join(DTYPES)}")
            table[k] = parse_quantity(v, "flops", f"{field}.flops.{k}")
        changes["flops"] = table
    for k, v in spec.items():
        kind = _CHIP_FIELDS.get(k)
        if kind is None:
            valid = ", ".join(["preset", "flops", *_CHIP_FIELDS])
            raise SpecError(f"{field}: unknown key {k!r}; valid keys: {valid}")
        if kind == "str":
            changes[k] = str(v)
        elif kind == "int":
            if isinstance(v, bool) or not isinstance(v, int):
                raise SpecError(f"{field}.{k}: expected an integer, got {v!r}")
            changes[k] = v
        else:
            changes[k] = parse_quantity(v, kind, f"{field}.{k}")
    return base.replace(**changes) if changes else base


def build(spec: dict[str, Any], source: str = "<spec>", **overrides: Any) -> Fabric:
    """Build a fabric from a parsed spec mapping (the contents of a fabric file) plus overrides."""
    if not isinstance(spec, dict):
        raise SpecError(f"{source}: a fabric file must be a mapping of keys to values")
    spec = {**spec, **overrides}
    builder_name = spec.get("builder")
    if builder_name not in _builders.BUILDERS:
        raise SpecError(
            f"{source}: builder must be one of {', '.join(_builders.BUILDERS)}, got {builder_name!r}"
        )
    fn = _builders.BUILDERS[builder_name]
    params = [p for p in inspect.signature(fn).parameters if p not in ("name", "chip")]
    kwargs: dict[str, Any] = {}
    for k, v in spec.items():
        if k in _RESERVED:
            continue
        if k not in params:
            valid = ", ".join([*_RESERVED, *params])
            raise SpecError(f"{source}: unknown key {k!r} for builder {builder_name}; valid keys: {valid}")
        kwargs[k] = v
    try:
        chip = parse_chip(spec.get("chip"))
        name = str(spec.get("name") or Path(source).stem)
        fab = fn(chip=chip, name=name, **kwargs)
    except ScaleupError as exc:
        raise type(exc)(f"{source}: {exc}") from None
    fab.meta.setdefault("description", str(spec.get("description", "")).strip())
    fab.meta["source_file"] = source
    return fab


def load(name_or_path: str | Path, **overrides: Any) -> Fabric:
    """Load a bundled fabric by name (``"maia200"``) or a YAML file by path, with keyword overrides.

    Overrides replace the file's keys before building, e.g. ``load("maia200", chips=256)``.

    Raises:
        SpecError: unknown name/key, wrong type, non-positive bandwidth, disconnected result (one line,
            naming the file and the key); CapacityError when the fabric does not fit the switch radix.
    """
    path = _resolve_path(name_or_path)
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise SpecError(f"{path.name}: invalid YAML ({first})") from None
    return build(spec or {}, source=path.name, **overrides)
