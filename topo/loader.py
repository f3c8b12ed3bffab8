"""Load fabrics from YAML: ``topo.load("maia200")`` or ``topo.load("path/to/my.yaml", chips=256)``.

A fabric file is a mapping with

- ``builder``: one of ``two_tier``, ``switch``, ``torus``, ``clos``, ``full_mesh``, ``dragonfly``;
- ``name`` (optional, default the file name) and ``description`` (optional, free text);
- ``cost`` (optional): the network's prices, ``included`` or a mapping of :data:`topo.netcost.COST_KEYS`
  (:mod:`topo.netcost`);
- ``chip``: a preset name (``maia200``) or a mapping ``{preset: maia200, hbm_bytes: 216GB, flops: {bf16:
  1PFLOPS}, ...}`` whose other keys are :class:`ChipSpec` fields in human units;
- every other key: a keyword argument of the builder (see :mod:`topo.builders`), in human units.

Bundled files live in ``topologies/`` next to the packages (package data in a regular install: see
:mod:`topo.bundled`). Validation errors are :class:`SpecError` lines naming the file and the key.
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .bundled import bundled_dir, bundled_file
from .errors import ScaleupError, SpecError
from .netcost import parse_network_cost
from .presets import chip_preset, comm_preset
from .specs import DTYPES, P2P_KEYS, PROTOCOLS, ChipSpec, CommSpec
from .units import check_bare, parse_quantity

if TYPE_CHECKING:
    from .fabric import Fabric

#: the bundled fabric files (``topologies/`` of the repository, or the installed package data: see :mod:`topo.bundled`)
TOPOLOGIES_DIR = bundled_dir("topologies")

_RESERVED = ("builder", "name", "description", "chip", "comm", "cost", "faults", "stragglers")

_CHIP_FIELDS = {
    "name": "str",
    "kernel_table": "str",
    "hbm_bytes": "size",
    "hbm_bandwidth": "bandwidth",
    "sram_bytes": "size",
    "sram_bandwidth": "bandwidth",
    "tdp": "power",
    "host_power": "power",
    "ports": "int",
    "port_bandwidth": "bandwidth",
    "compute_efficiency": "number",
    "memory_efficiency": "number",
    "source": "str",
    "cores": "int",
    "clusters": "int",
    "core_sram_bytes": "size",
    "cluster_sram_bytes": "size",
    "capex": "number",
    "price_per_hour": "number",
    "price_source": "str",
}
#: how a price given in a fabric file's chip block is labelled in ``ChipSpec.price_source`` (reports say "given")
GIVEN_PRICE = "given in the fabric file's chip block"


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
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            out[name] = "(unreadable)"
    return out


def read_text_utf8(path: str | Path, what: str = "file") -> str:
    """The text of ``path`` decoded as UTF-8; a binary or otherwise non-UTF-8 file is a :class:`SpecError`
    naming the file and the byte offset (YAML and CSV inputs are UTF-8 text)."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{what} {str(path)!r}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8 YAML"
        ) from None


def _resolve_path(name_or_path: str | Path) -> Path:
    if not isinstance(name_or_path, (str, os.PathLike)):  # e.g. `fabric: 1` in a jobs file: Path() raised TypeError
        raise SpecError(f"fabric: expected a bundled name or a YAML path, got {name_or_path!r}; bundled: "
                        f"{', '.join(list_fabrics())}")
    p = bundled_file(name_or_path) or Path(name_or_path)  # examples/fabrics/x.yaml works outside a checkout
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if not p.is_file():
            raise SpecError(f"fabric file {str(p)!r} does not exist")
        return p
    cand = TOPOLOGIES_DIR / f"{name_or_path}.yaml"
    if cand.exists():
        return cand
    hosts = fabrics_with_chip(str(name_or_path))
    if hosts:  # a chip preset (ironwood, h100-sxm) where a fabric is asked for
        raise SpecError(f"fabric {str(name_or_path)!r}: a chip preset, not a fabric; the bundled fabrics with this "
                        f"chip: {', '.join(hosts)}")
    raise SpecError(
        f"fabric {str(name_or_path)!r}: not a bundled name or a file; bundled: {', '.join(list_fabrics())}"
        + _did_you_mean(name_or_path, list_fabrics())
    )


def fabrics_with_chip(name: str) -> list[str]:
    """The bundled fabrics whose ``chip:`` is the chip preset ``name`` (none when it is no chip preset)."""
    from .presets import CHIPS

    if name not in CHIPS:
        return []
    out = []
    for fab in list_fabrics():
        try:
            chip = yaml.safe_load((TOPOLOGIES_DIR / f"{fab}.yaml").read_text(encoding="utf-8")).get("chip")
        except (OSError, yaml.YAMLError, AttributeError):
            continue
        if chip == name:
            out.append(fab)
    return out


#: a bare number below these in a chip block is a unit left out (``hbm_bytes: 288`` meant GB, ``bf16: 2.5`` meant
#: PFLOPS); (low, high, units to suggest), as :data:`topo.units.BARE_LIMITS`
_CHIP_BARE = {"size": (1e6, None, ("GB", "GiB")), "flops": (1e9, None, ("TFLOPS", "PFLOPS"))}


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
            check_bare(f"{field}.flops.{k}", v, "flops", _CHIP_BARE["flops"])  # bf16: 2.5 is 2.5 FLOP/s
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
            if k in ("capex", "price_per_hour") and isinstance(v, str):  # "$25,000", as a prices file reads it
                v = v.strip().lstrip("$").replace(",", "")
            check_bare(f"{field}.{k}", v, kind, _CHIP_BARE.get(kind))  # hbm_bandwidth: 3350 is 3350 bytes/s
            changes[k] = parse_quantity(v, kind, f"{field}.{k}")
    if "capex" in changes or "price_per_hour" in changes or "price_source" in changes:  # my price, not the preset's
        own = changes.get("price_source", "")
        changes["price_source"] = f"{GIVEN_PRICE}: {own}" if own else GIVEN_PRICE
    return base.replace(**changes) if changes else base


def preset_changes(spec: ChipSpec | CommSpec) -> list[str] | None:
    """The fields in which a chip or comm spec differs from the preset of its name (``[]``: it is the preset), or
    None when no preset has its name (the user's own). Descriptive fields (``source``, ``price_source``,
    ``provenance``) are not compared. For reports that say what the user brought (``inference`` provenance
    ``inputs``)."""
    import dataclasses

    from .presets import CHIPS, COMM

    base = (CHIPS if isinstance(spec, ChipSpec) else COMM).get(spec.name)
    if base is None:
        return None
    skip = ("name", "source", "price_source", "provenance")
    return [f.name for f in dataclasses.fields(spec) if f.name not in skip
            and getattr(spec, f.name) != getattr(base, f.name)]


def _quantity(v: Any, kind: str, field: str) -> float:
    if kind == "number":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SpecError(f"{field}: expected a number, got {v!r}")
        return float(v)
    if v in ("inf", float("inf")):
        return float("inf")
    check_bare(field, v, kind)  # comm: {call: 5} is 5 s: ask for the unit
    return parse_quantity(v, kind, field)


def _comm_file(path: str, field: str) -> Any:
    """The ``comm:`` mapping of a YAML file (what ``scaleup calibrate -o comm.yaml`` writes), or the file's
    mapping itself when it has no ``comm:`` key."""
    if not os.path.isfile(path):
        raise SpecError(f"{field}: no such file {path!r}; give a preset name or the file `scaleup calibrate -o` "
                        "wrote")
    try:
        docs = list(yaml.safe_load_all(read_text_utf8(path, field)))
    except yaml.YAMLError as exc:
        raise SpecError(f"{field}: {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    docs = [d for d in docs if d is not None] or [None]
    if len(docs) > 1:  # `scaleup calibrate --stack vllm -o f.yaml`: one block per preset, '---' between
        blocks = [d.get("comm", d) if isinstance(d, dict) else None for d in docs]
        names = [str(b.get("name", "?")) if isinstance(b, dict) else "?" for b in blocks]
        raise SpecError(f"{field}: {path} holds {len(docs)} comm: blocks ({', '.join(names)}); a fabric runs one: "
                        "put the one you mean in its own file")
    data = docs[0]
    if isinstance(data, dict) and "comm" in data:
        data = data["comm"]
    if not isinstance(data, dict):
        raise SpecError(f"{field}: {path} holds no comm: mapping")
    return data


def parse_comm(spec: Any, field: str = "comm") -> CommSpec | None:
    """A ``comm:`` entry of a fabric file: a preset name (``nccl-h100``), a :class:`CommSpec`, a YAML file path
    holding a ``comm:`` block (``scaleup calibrate -o comm.yaml``; ``--set comm=comm.yaml``), or a mapping
    with an optional ``preset`` and overrides in human units::

        comm:
          preset: nccl-h100
          link_efficiency: 1.0        # replaces the fabric's efficiency under this stack (None: keep it)
          call: 12us                  # per collective call
          buffer_bandwidth: 1.2TB/s   # per-call pass over the buffer
          base: {ll128: 2us, simple: 40us}  # per call, per protocol (NCCL's baseLat)
          step: {ll: 0.6us, ll128: 1.2us, simple: 4us}
          bandwidth: {ll: 0.5, ll128: 0.9}
          algorithms: {all_reduce: {ring: 0.9, inr: 0.6}}
          custom: {oneshot: {call: 3us, peer: 0.1us, step: 0.5us, efficiency: 0.5, max_ranks: 8,
                            max_size: 64MiB}}   # peer: per call per peer (n - 1), the kernels' flag barrier
          p2p: {base_ll: 1us, base_simple: 4us, peer: 0.5us, channel_bandwidth: 20GB/s, fill: 0.4,
                channels: 32, chunk: 512KiB}   # NCCL's grouped send/recv (all-to-all)
          provenance: {call: "fit: ...", step: "ASSUMPTION: ..."}

    Raises:
        SpecError: unknown preset or key, a value of the wrong kind (one line naming ``comm.<key>``).
    """
    if spec is None or isinstance(spec, CommSpec):
        return spec
    if isinstance(spec, str) and spec.endswith((".yaml", ".yml")):  # the file `scaleup calibrate -o` wrote
        spec = _comm_file(spec, field)
    if isinstance(spec, str):
        return comm_preset(spec)
    if not isinstance(spec, dict):
        raise SpecError(f"{field}: expected a preset name or a mapping, got {type(spec).__name__}")
    spec = dict(spec)
    preset = spec.pop("preset", None)
    base = comm_preset(preset).to_dict() if preset is not None else {}
    out: dict[str, Any] = dict(base)
    for k, v in spec.items():
        f = f"{field}.{k}"
        if k == "name":
            out[k] = str(v)
        elif k == "call":
            out[k] = _quantity(v, "time", f)
        elif k == "buffer_bandwidth":
            out[k] = _quantity(v, "bandwidth", f)
        elif k == "link_efficiency":
            out[k] = None if v is None else _quantity(v, "number", f)
        elif k in ("base", "step", "bandwidth"):
            if not isinstance(v, dict):
                raise SpecError(f"{f}: expected a mapping protocol -> value ({', '.join(PROTOCOLS)})")
            cur = dict(base.get(k, {}))
            for p, x in v.items():
                if p not in PROTOCOLS:
                    raise SpecError(f"{f}: unknown protocol {p!r}; valid: {', '.join(PROTOCOLS)}")
                cur[p] = _quantity(x, "number" if k == "bandwidth" else "time", f"{f}.{p}")
            out[k] = cur
        elif k == "algorithms":
            if not isinstance(v, dict) or not all(isinstance(a, dict) for a in v.values()):
                raise SpecError(f"{f}: expected {{collective: {{algorithm: efficiency}}}}")
            cur = {c: dict(a) for c, a in base.get(k, {}).items()}
            for c, algs in v.items():
                cur[str(c)] = {str(a): _quantity(e, "number", f"{f}.{c}.{a}") for a, e in algs.items()}
            out[k] = cur
        elif k == "custom":
            if not isinstance(v, dict) or not all(isinstance(a, dict) for a in v.values()):
                raise SpecError(f"{f}: expected {{algorithm: {{call: .., step: .., efficiency: ..}}}}")
            cur = {a: dict(kv) for a, kv in base.get(k, {}).items()}
            kinds = {"call": "time", "peer": "time", "step": "time", "efficiency": "number",
                     "max_ranks": "number", "max_size": "size"}
            for a, kv in v.items():
                d = dict(cur.get(str(a), {}))
                for kk, x in kv.items():
                    if kk not in kinds:
                        raise SpecError(f"{f}.{a}: unknown key {kk!r}; valid: {', '.join(kinds)}")
                    d[kk] = _quantity(x, kinds[kk], f"{f}.{a}.{kk}")
                cur[str(a)] = d
            out[k] = cur
        elif k == "p2p":
            if not isinstance(v, dict):
                raise SpecError(f"{f}: expected a mapping {{{', '.join(P2P_KEYS)}}}")
            kinds = {"base_ll": "time", "base_simple": "time", "peer": "time", "channel_bandwidth": "bandwidth",
                     "fill": "number", "channels": "number", "chunk": "size"}
            cur = dict(base.get(k, {}))
            for kk, x in v.items():
                if kk not in kinds:
                    raise SpecError(f"{f}: unknown key {kk!r}; valid: {', '.join(P2P_KEYS)}")
                cur[str(kk)] = _quantity(x, kinds[kk], f"{f}.{kk}")
            out[k] = cur
        elif k == "provenance":
            if not isinstance(v, dict):
                raise SpecError(f"{f}: expected a mapping field -> text")
            out[k] = {**base.get(k, {}), **{str(a): str(b) for a, b in v.items()}}
        else:
            valid = ("preset, name, link_efficiency, call, buffer_bandwidth, base, step, bandwidth, algorithms, "
                     "custom, p2p, provenance")
            raise SpecError(f"{field}: unknown key {k!r}; valid keys: {valid}")
    try:
        return CommSpec(**out)
    except SpecError as exc:
        raise SpecError(f"{field}: {exc}") from None


def build(spec: dict[str, Any], source: str = "<spec>", **overrides: Any) -> Fabric:
    """Build a fabric from a parsed spec mapping (the contents of a fabric file) plus overrides."""
    if not isinstance(spec, dict):
        raise SpecError(f"{source}: a fabric file must be a mapping of keys to values")
    from . import builders as _builders  # networkx and numpy: imported when a fabric is built, not at import
    from . import systems as _systems  # noqa: F401 - registers ultraserver, ocs_torus, groq_dragonfly

    if isinstance(overrides.get("cost"), dict) and isinstance(spec.get("cost"), dict):  # --set 'cost={switch: 6e4}'
        overrides = {**overrides, "cost": {**spec["cost"], **overrides["cost"]}}  # replaces those prices only
    spec = {**spec, **overrides}
    builder_name = spec.get("builder")
    if not isinstance(builder_name, str) or builder_name not in _builders.BUILDERS:
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
            raise SpecError(f"{source}: unknown key {k!r} for builder {builder_name}; valid keys: {valid}"
                            + _did_you_mean(k, [*_RESERVED, *params]))
        kwargs[k] = v
    try:
        chip = parse_chip(spec.get("chip"))
        name = str(spec.get("name") or Path(source).stem)
        fab = fn(chip=chip, name=name, **kwargs)
        fab.comm = parse_comm(spec.get("comm"))
        fab.network_cost = parse_network_cost(spec.get("cost"))
    except ScaleupError as exc:
        raise type(exc)(f"{source}: {exc}") from None
    fab.meta.setdefault("description", str(spec.get("description", "")).strip())
    fab.meta["source_file"] = source
    return _what_if(fab, spec, source)


def _what_if(fab: Fabric, spec: dict[str, Any], source: str) -> Fabric:
    """``fab`` under the what-if keys of ``spec`` (``faults``, ``stragglers``: topo.faults, issue 13); an error names
    ``source``."""
    try:
        if spec.get("faults"):
            fab = fab.with_faults(spec["faults"])
        if spec.get("stragglers") is not None:
            fab = fab.with_stragglers(spec["stragglers"])
    except ScaleupError as exc:
        raise type(exc)(f"{source}: {exc}") from None
    return fab


#: the overrides a graph file takes (it has no builder keys: they would rebuild the graph)
GRAPH_OVERRIDES = ("comm", "faults", "stragglers")


def _is_graph_file(path: Path) -> bool:
    """Whether :func:`load` reads ``path`` as a graph (:func:`topo.export.import_fabric`): a ``.graphml``, or a
    ``.json`` unless it is a fabric spec (JSON is YAML: a mapping with ``builder`` and no ``nodes``)."""
    from .export import GRAPH_SUFFIXES

    suffix = path.suffix.lower()
    if suffix not in GRAPH_SUFFIXES:
        return False
    if suffix != ".json":
        return True
    text = read_text_utf8(path, "fabric file")
    if '"nodes"' in text:
        return True
    try:
        data = json.loads(text)
    except ValueError:
        return True  # import_fabric names what is wrong with it
    return not (isinstance(data, dict) and "builder" in data)


def check_override_keys(name_or_path: str | Path, keys: Any) -> None:
    """Raise the :class:`SpecError` :func:`load` would raise for an override key the fabric's builder does not take,
    without building it (a sweep checks its ``fabric.*`` keys before its points run). Reads only the file.

    ``keys``: the override keys, or a mapping of them to their values (an overridden ``builder``'s value picks the
    builder the keys are checked against; without its value nothing is checked).
    """
    path = _resolve_path(name_or_path)
    if _is_graph_file(path):
        allowed: tuple[str, ...] = GRAPH_OVERRIDES
        builder_name = "graph file"
    else:
        try:
            spec = yaml.safe_load(read_text_utf8(path, "fabric file")) or {}
        except yaml.YAMLError:
            return  # load() names the syntax error
        builder_name = spec.get("builder") if isinstance(spec, dict) else None
        if "builder" in keys:  # load() merges the overrides first: the overridden builder takes the keys
            builder_name = keys["builder"] if isinstance(keys, dict) else None
        from . import builders as _builders
        from . import systems as _systems  # noqa: F401 - registers ultraserver, ocs_torus, groq_dragonfly

        fn = _builders.BUILDERS.get(builder_name) if isinstance(builder_name, str) else None
        if fn is None:
            return  # load() names the builder
        allowed = (*_RESERVED, *[k for k in inspect.signature(fn).parameters if k not in ("name", "chip")])
    for k in keys:
        if k not in allowed:
            raise SpecError(f"{path.name}: unknown key {k!r} for {builder_name}; valid keys: {', '.join(allowed)}"
                            + _did_you_mean(k, allowed))


def _did_you_mean(key: Any, valid: Any) -> str:
    """'; did you mean 'x'?' for the valid key closest to a typo'd ``key`` (difflib), or '' when none is close."""
    close = difflib.get_close_matches(str(key), [str(v) for v in valid], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _load_graph(path: Path, overrides: dict[str, Any]) -> Fabric:
    """A GraphML / node-link JSON file as a Fabric (:func:`topo.export.import_fabric`); of the overrides only the
    ones that do not rebuild the graph apply: ``comm``, ``faults``, ``stragglers``."""
    from .export import import_fabric

    allowed = GRAPH_OVERRIDES
    bad = [k for k in overrides if k not in allowed]
    if bad:
        raise SpecError(f"{path.name}: {bad[0]!r} cannot be overridden on a graph file (it has no builder keys); "
                        f"edit the graph, or override only {', '.join(allowed)}")
    fab = import_fabric(path)
    if "comm" in overrides:
        try:
            fab.comm = parse_comm(overrides["comm"])
        except ScaleupError as exc:
            raise type(exc)(f"{path.name}: {exc}") from None
    return _what_if(fab, overrides, path.name)


def load(name_or_path: str | Path, **overrides: Any) -> Fabric:
    """Load a bundled fabric by name (``"maia200"``), a YAML file by path, or a graph file (``.graphml`` /
    node-link ``.json``, as ``scaleup topo export`` writes: :func:`topo.export.import_fabric`), with keyword
    overrides.

    Overrides replace the file's keys before building, e.g. ``load("maia200", chips=256)``; a graph file takes only
    ``comm``, ``faults`` and ``stragglers``.

    Raises:
        SpecError: unknown name/key, wrong type, non-positive bandwidth, disconnected result (one line,
            naming the file and the key); CapacityError when the fabric does not fit the switch radix.
    """
    path = _resolve_path(name_or_path)
    if _is_graph_file(path):  # a graph (GraphML / node-link JSON), e.g. `scaleup topo export`'s
        return _load_graph(path, overrides)
    try:
        spec = yaml.safe_load(read_text_utf8(path, "fabric file"))
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise SpecError(f"{path.name}: invalid YAML ({first})") from None
    return build(_beside(spec, path.parent), source=path.name, **overrides)


def _beside(spec: Any, folder: Path) -> Any:
    """A fabric file's relative ``chip: {kernel_table: FILE}`` and ``comm: FILE.yaml`` that do not exist from the
    working directory but beside the fabric file, rewritten to that path (``scaleup infer --fabric ../x.yaml`` from
    another directory said "no such file"); paths that exist from the working directory stay as they were."""
    if not isinstance(spec, dict):
        return spec or {}

    def near(p: Any) -> Any:
        if isinstance(p, str) and p and not os.path.isabs(p) and not os.path.exists(p) and (folder / p).is_file():
            return str(folder / p)
        return p

    out = dict(spec)
    chip = out.get("chip")
    if isinstance(chip, dict) and "kernel_table" in chip:
        out["chip"] = {**chip, "kernel_table": near(chip["kernel_table"])}
    if isinstance(out.get("comm"), str) and out["comm"].endswith((".yaml", ".yml")):
        out["comm"] = near(out["comm"])
    return out
