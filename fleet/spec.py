"""FLEET.yaml: pools of replicas and the KV-transfer network between them.

Example (the bundled ``fleet/data/disagg-gb200-maia200.yaml``)::

    name: disagg-gb200-maia200
    pools:
      - name: prefill-gb200
        fabric: gb200-nvl72      # topo preset or fabric YAML the replicas run on
        tp: 8                    # tensor-parallel degree (chips per replica with ep=1)
        role: prefill            # colocated | prefill | decode
        replicas: 4
        batch: 16                # most sequences per iteration
        token_budget: 16384      # most tokens per iteration (prefill / chunked prefill)
        price: 6.50              # $ per chip-hour
      - name: decode-maia200
        fabric: maia200
        tp: 4
        role: decode
        replicas: 12
        batch: 128
        price: 3.00
    kv_network:
      bandwidth: 400Gbps         # per replica, each direction (its scale-out NIC)
      latency: 2us               # per hop
      pool_uplink: 6.4Tbps       # optional: each pool's leaf to the core (oversubscription)
      # fabric: <topo preset or YAML>  instead: replicas take chip ranks 0.. in pool order

A pool built from a fabric may name its serving stack, ``stack: trtllm | vllm | sglang | ideal`` (default:
inference's default, trtllm; ``ideal`` is the physics roofline), which sets the step model's kernel
efficiencies and per-step host cost (``inference.StepModel(..., stack=...)``).

A pool may give ``step_model: {prefill_per_token: 80us, decode_base: 20ms, ...}`` (a
:class:`LinearStepModel`, e.g. fitted to a real engine) instead of ``fabric``. Every bad key gives a
:class:`topo.SpecError` naming it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from topo import SpecError, parse_positive, parse_quantity
from topo.bundled import bundled_file
from topo.units import check_bare

from .trace import _count

__all__ = ["FleetSpec", "KVNetworkSpec", "PoolSpec", "ROLES", "bundled_fleets", "load_fleet", "single_pool_fleet"]

ROLES = ("colocated", "prefill", "decode")
DATA = Path(__file__).parent / "data"

_POOL_KEYS = {
    "name", "fabric", "model", "tp", "ep", "pp", "role", "replicas", "batch", "token_budget", "price",
    "dtype", "kv_dtype", "chunked_prefill", "step_model", "kv_capacity_tokens", "stack", "speculative",
}
#: serving stacks a fabric-built pool may name (``inference.kernels.STACKS``; kept equal by a test)
STACKS = ("trtllm", "vllm", "sglang", "ideal")
_LINEAR_KEYS = {
    "prefill_base": "time", "prefill_per_token": "time", "decode_base": "time", "decode_per_seq": "time",
    "decode_per_kv_token": "time", "kv_bytes_per_token": "size", "kv_capacity_tokens": "number",
    "chips": "number", "cost_per_hour": "number", "tokens_per_step": "number",
}
#: a step_model time written bare (SI seconds) of a second or more is a unit left out, not a serving step:
#: ``prefill_per_token: 80`` meant 80 us and was 80 s per token. Steps take us to ms, so the fabric-latency limit
#: of :func:`topo.units.check_bare` (1 ms) would refuse a real ``decode_base: 0.015``; a one-second step is none.
_STEP_BARE = (None, 1.0, ("us", "ms"))
_KV_KEYS = {"bandwidth", "latency", "pool_uplink", "fabric"}
_TOP_KEYS = {"name", "model", "pools", "kv_network", "description"}


@dataclass(frozen=True)
class PoolSpec:
    """One pool of identical replicas.

    Attributes:
        name: unique pool name.
        role: ``colocated`` (prefill and decode), ``prefill`` or ``decode``.
        replicas: number of replicas.
        fabric: topo preset name or fabric YAML path the replicas run on (None with ``step_model``).
        model: model override for this pool (None: the fleet's / CLI's model).
        tp, ep, pp: parallel degrees of one replica.
        batch: most sequences per iteration (continuous-batching slots).
        token_budget: most tokens per iteration (prompt tokens of a prefill iteration; decode plus
            prefill-chunk tokens with chunked prefill).
        price: $ per chip-hour (None: the step model's own ``cost_per_hour``).
        dtype, kv_dtype: weight/activation and KV-cache dtypes.
        chunked_prefill: mix prefill chunks into decode iterations (Sarathi-Serve style).
        step_model: parameters of a :class:`LinearStepModel` (SI units) instead of a fabric.
        kv_capacity_tokens: override of the KV tokens a replica holds (None: from ``max_batch``).
        stack: serving-stack profile of a fabric-built pool's step model, one of :data:`STACKS`
            (``inference.StepModel(..., stack=...)``: kernel efficiencies, per-step host cost, KV pool);
            None: inference's default stack (trtllm).
        speculative: speculative decoding of a fabric-built pool (``mtp:K@A``, ``draft:MODEL:K@A``,
            ``ngram:K@A``; :mod:`inference.speculative`), as its label: each decode iteration is a draft + verify
            step that gains E (the expected accepted length) tokens per sequence; None: none. A ``step_model`` pool
            gives ``tokens_per_step`` instead.
    """

    name: str
    role: str = "colocated"
    replicas: int = 1
    fabric: str | None = None
    model: str | None = None
    tp: int = 8
    ep: int = 1
    pp: int = 1
    batch: int = 64
    token_budget: int = 8192
    price: float | None = None
    dtype: str = "fp8"
    kv_dtype: str | None = None
    chunked_prefill: bool = False
    step_model: tuple[tuple[str, float], ...] | None = None
    kv_capacity_tokens: float | None = None
    stack: str | None = None
    speculative: str | None = None

    def __post_init__(self) -> None:
        where = f"pool {self.name!r}"
        if self.stack is not None and self.stack not in STACKS:
            raise SpecError(f"{where}: stack must be one of {', '.join(STACKS)}, got {self.stack!r}")
        if self.speculative is not None and self.step_model is not None:
            raise SpecError(f"{where}: speculative applies to a pool built from a fabric; a step_model pool gives its "
                            "draft + verify step times and tokens_per_step (drop 'speculative' or give 'fabric')")
        if self.stack is not None and self.step_model is not None:
            raise SpecError(f"{where}: stack applies to a pool built from a fabric; a step_model pool has its own "
                            "times (drop 'stack' or give 'fabric')")
        if self.role not in ROLES:
            raise SpecError(f"{where}: role must be one of {', '.join(ROLES)}, got {self.role!r}")
        for k in ("replicas", "tp", "ep", "pp", "batch", "token_budget"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SpecError(f"{where}: {k} must be an integer >= 1, got {v!r}")
        if self.price is not None and not self.price >= 0:
            raise SpecError(f"{where}: price must be >= 0 $ per chip-hour, got {self.price!r}")
        if self.fabric is None and self.step_model is None:
            raise SpecError(f"{where}: give 'fabric' (a topo preset such as maia200) or 'step_model'")


@dataclass(frozen=True)
class KVNetworkSpec:
    """The network KV caches cross between pools.

    Attributes:
        bandwidth: per-replica NIC bandwidth, bytes/s each direction.
        latency: per-hop latency, s.
        pool_uplink: bandwidth between each pool's leaf switch and the core, bytes/s (None: one
            non-blocking switch).
        fabric: a topo preset/YAML used instead; replica ``i`` (in pool order) is chip rank ``i``.
    """

    bandwidth: float = 50e9
    latency: float = 2e-6
    pool_uplink: float | None = None
    fabric: str | None = None


@dataclass(frozen=True)
class FleetSpec:
    """Pools plus the KV network. ``model`` is a default the CLI's ``--model`` overrides."""

    pools: tuple[PoolSpec, ...]
    kv_network: KVNetworkSpec = field(default_factory=KVNetworkSpec)
    name: str = "fleet"
    model: str | None = None

    def __post_init__(self) -> None:
        if not self.pools:
            raise SpecError(f"fleet {self.name!r}: pools: need at least one pool")
        names = [p.name for p in self.pools]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise SpecError(f"fleet {self.name!r}: pools: duplicate pool name(s) {sorted(dup)}")
        roles = {p.role for p in self.pools}
        if "prefill" in roles and "decode" not in roles:
            raise SpecError(f"fleet {self.name!r}: pools: a 'prefill' pool needs a 'decode' pool to hand off to")
        if "decode" in roles and "prefill" not in roles:
            # colocated pools prefill and decode themselves; only a 'prefill' pool hands requests to a decode pool
            dec = next(p.name for p in self.pools if p.role == "decode")
            raise SpecError(
                f"fleet {self.name!r}: pool {dec!r} (role decode) has no 'prefill' pool to hand requests to it "
                "(colocated pools decode their own requests); add a pool with role: prefill, or remove it"
            )

    @property
    def disaggregated(self) -> bool:
        return any(p.role == "prefill" for p in self.pools)

    @property
    def n_replicas(self) -> int:
        return sum(p.replicas for p in self.pools)


def _int(v: Any, field_: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or float(v) != int(v):
        raise SpecError(f"{field_}: must be an integer, got {v!r}")
    return int(v)


def _no_unknown(d: dict, valid, prefix: str) -> None:
    """Raise on the first (sorted) key of ``d`` not in ``valid``, named as ``prefix + key``."""
    unknown = set(d) - set(valid)
    if unknown:
        k = sorted(map(str, unknown))[0]
        raise SpecError(f"{prefix}{k}: unknown key; valid keys: {', '.join(sorted(valid))}")


def _pool(d: Any, i: int) -> PoolSpec:
    where = f"pools[{i}]"
    if not isinstance(d, dict):
        raise SpecError(f"{where}: must be a mapping of pool keys, got {type(d).__name__}")
    _no_unknown(d, _POOL_KEYS, f"{where}.")
    if "name" not in d:
        raise SpecError(f"{where}.name: missing; every pool needs a name")
    name = str(d["name"])
    where = f"pools[{i}] ({name})"
    kw: dict[str, Any] = {"name": name}
    for k in ("replicas", "tp", "ep", "pp", "batch", "token_budget"):
        if k in d:
            kw[k] = _int(d[k], f"{where}.{k}")
    if "role" in d:
        if d["role"] not in ROLES:
            raise SpecError(f"{where}.role: must be one of {', '.join(ROLES)}, got {d['role']!r}")
        kw["role"] = d["role"]
    if "price" in d:
        p = d["price"]
        if isinstance(p, str):
            p = p.strip().lstrip("$")
        kw["price"] = parse_quantity(p, "number", f"{where}.price")
        if kw["price"] < 0:
            raise SpecError(f"{where}.price: must be >= 0 $ per chip-hour, got {d['price']!r}")
    for k in ("fabric", "model", "dtype", "kv_dtype"):
        if k in d and d[k] is not None:
            kw[k] = str(d[k])
    if d.get("stack") is not None:
        st = str(d["stack"]).lower()
        if st not in STACKS:
            raise SpecError(f"{where}.stack: must be one of {', '.join(STACKS)}, got {d['stack']!r}")
        kw["stack"] = st
    if d.get("speculative") is not None and d.get("speculative") is not False:
        from inference.speculative import parse_speculative

        try:
            sp = parse_speculative(d["speculative"])
        except SpecError as exc:
            raise SpecError(f"{where}.{exc}") from None
        if sp is not None:
            kw["speculative"] = sp.label()
    if "chunked_prefill" in d:
        if not isinstance(d["chunked_prefill"], bool):
            raise SpecError(f"{where}.chunked_prefill: must be true or false, got {d['chunked_prefill']!r}")
        kw["chunked_prefill"] = d["chunked_prefill"]
    if "kv_capacity_tokens" in d:
        kw["kv_capacity_tokens"] = parse_positive(d["kv_capacity_tokens"], "number", f"{where}.kv_capacity_tokens")
    if "step_model" in d:
        sm = d["step_model"]
        if not isinstance(sm, dict):
            raise SpecError(f"{where}.step_model: must be a mapping of {', '.join(sorted(_LINEAR_KEYS))}")
        pairs = []
        for k, v in sm.items():
            if k not in _LINEAR_KEYS:
                raise SpecError(
                    f"{where}.step_model.{k}: unknown key; valid keys: {', '.join(sorted(_LINEAR_KEYS))}"
                )
            if _LINEAR_KEYS[k] == "time":
                check_bare(f"{where}.step_model.{k}", v, "time", _STEP_BARE)
            val = parse_quantity(v, _LINEAR_KEYS[k], f"{where}.step_model.{k}")
            pairs.append((k, val))
        kw["step_model"] = tuple(sorted(pairs))
    return PoolSpec(**kw)


def fleet_from_dict(d: Any, name: str = "fleet") -> FleetSpec:
    """Build a :class:`FleetSpec` from a parsed YAML mapping (keys as in the module docstring)."""
    if not isinstance(d, dict):
        raise SpecError(f"fleet {name!r}: top level must be a mapping with a 'pools' list")
    _no_unknown(d, _TOP_KEYS, f"fleet {name!r}: ")
    name = str(d.get("name", name))
    pools = d.get("pools")
    if not isinstance(pools, list) or not pools:
        raise SpecError(f"fleet {name!r}: pools: must be a non-empty list of pools")
    kv = d.get("kv_network") or {}
    if not isinstance(kv, dict):
        raise SpecError(f"fleet {name!r}: kv_network: must be a mapping of {', '.join(sorted(_KV_KEYS))}")
    _no_unknown(kv, _KV_KEYS, f"fleet {name!r}: kv_network.")
    kvkw: dict[str, Any] = {}
    for k, dim in (("bandwidth", "bandwidth"), ("latency", "time"), ("pool_uplink", "bandwidth")):
        check_bare(f"kv_network.{k}", kv.get(k), dim)  # bandwidth: 400 is 400 bytes/s, latency: 2 is 2 s
    if "bandwidth" in kv:
        kvkw["bandwidth"] = parse_positive(kv["bandwidth"], "bandwidth", "kv_network.bandwidth")
    if "latency" in kv:
        kvkw["latency"] = parse_quantity(kv["latency"], "time", "kv_network.latency")
        if kvkw["latency"] < 0:
            raise SpecError(f"kv_network.latency: must be >= 0 s, got {kv['latency']!r}")
    if kv.get("pool_uplink") is not None:
        kvkw["pool_uplink"] = parse_positive(kv["pool_uplink"], "bandwidth", "kv_network.pool_uplink")
    if kv.get("fabric") is not None:
        kvkw["fabric"] = str(kv["fabric"])
    return FleetSpec(
        pools=tuple(_pool(p, i) for i, p in enumerate(pools)),
        kv_network=KVNetworkSpec(**kvkw),
        name=name,
        model=str(d["model"]) if d.get("model") is not None else None,
    )


def bundled_fleets() -> list[str]:
    """Names of the example fleets shipped in ``fleet/data`` (usable as ``--fleet NAME``)."""
    return sorted(p.stem for p in DATA.glob("*.yaml"))


def load_fleet(source: str | Path | dict | FleetSpec) -> FleetSpec:
    """Load a fleet from a YAML path, a bundled example name, a dict, or pass a FleetSpec through."""
    if isinstance(source, FleetSpec):
        return source
    if isinstance(source, dict):
        return fleet_from_dict(source)
    if not isinstance(source, (str, Path)):
        raise SpecError(f"fleet: expected a FleetSpec, a dict, a FLEET.yaml path or a bundled name "
                        f"({', '.join(bundled_fleets())}), got {type(source).__name__}")
    path = bundled_file(source) or Path(source)  # examples/whatif-serve.yaml works outside a checkout
    if not path.is_file():
        cand = DATA / f"{source}.yaml"
        if cand.is_file():
            path = cand
        else:
            raise SpecError(
                f"fleet: {str(source)!r} is neither a file nor a bundled fleet ({', '.join(bundled_fleets())})"
            )
    try:
        from topo.loader import read_text_utf8

        d = yaml.safe_load(read_text_utf8(path, "fleet"))
    except yaml.YAMLError as exc:
        raise SpecError(f"fleet {path.name}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return fleet_from_dict(d, name=path.stem)


#: the batch of an inline pool given neither a batch nor a concurrency. The defaults of an inline pool
#: (:func:`single_pool_fleet`, ``scaleup serve --fabric``), as serving benchmarks run
#: a single server: InferenceMAX's vLLM launch (``--max-num-seqs $CONC --max-num-batched-tokens 8192
#: --enable-chunked-prefill``, its benchmark ``--num-prompts $CONC*10 --max-concurrency $CONC``), vLLM V1's
#: OpenAI-server token budget (8192; ASSUMPTION: version-dependent, as in fleet/data/single-h100.yaml) and
#: trtllm-serve's ``max_num_tokens`` (8192). Without a concurrency the batch is 256, vLLM's long-standing
#: ``max_num_seqs`` (ASSUMPTION: V1 raised it on large GPUs). Chunked prefill on: vLLM V1 always chunks, and
#: TensorRT-LLM's in-flight batching and SGLang run prompts in the same forward pass as the running decodes.
INLINE_POOL_BATCH = 256


def single_pool_fleet(
    model: str | None,
    fabric: str | None,
    *,
    tp: int = 8,
    ep: int = 1,
    pp: int = 1,
    dtype: str = "fp8",
    kv_dtype: str | None = None,
    stack: str | None = None,
    replicas: int = 1,
    batch: int | None = None,
    token_budget: int = 8192,
    chunked_prefill: bool = True,
    price: float | None = None,
    concurrency: int | None = None,
    speculative: str | None = None,
) -> FleetSpec:
    """One colocated pool of ``replicas`` replicas of ``model`` on ``fabric``, as a :class:`FleetSpec`: the
    fleet ``scaleup serve --model M --fabric F --tp T ...`` builds instead of reading a ``--fleet`` file.

    It is exactly the fleet of the YAML ``{model: M, pools: [{name: F, fabric: F, tp: T, ...}]}`` (built by
    :func:`fleet_from_dict`, so the same checks apply), with the defaults serving benchmarks run a single
    server with (sources beside :data:`INLINE_POOL_BATCH`): TP 8, FP8, inference's default stack (trtllm), one replica, token budget 8,192, chunked prefill on.

    Args:
        model: model preset name or YAML path (required: the pool is built from a fabric).
        fabric: topo preset name or fabric YAML path of every replica.
        tp, ep, pp: parallel degrees of one replica. dtype, kv_dtype: weight/activation and KV-cache dtypes.
        stack: serving stack of the step model (trtllm, vllm, sglang, ideal; None: inference's default).
        replicas: replicas in the pool.
        batch: most sequences per iteration; None: ``concurrency`` (every request of a closed loop has a slot
            on any replica, as InferenceMAX sets ``--max-num-seqs`` to the concurrency), else 256.
        token_budget: most tokens per iteration. chunked_prefill: Sarathi-style mixed iterations.
        price: $ per chip-hour (None: inference's capex + power model of the chip).
        concurrency: the closed loop's requests in flight, used only for the default ``batch``.
        speculative: speculative decoding (``mtp:3@0.8``, ...; :class:`PoolSpec`), None: none.

    Raises:
        SpecError: no model or fabric, an unknown stack, a count that is not an integer >= 1 (naming the
            argument).
    """
    if model is None or str(model).strip() == "":
        raise SpecError("model: an inline pool needs a model (a preset such as llama3.1-70b, or a model YAML)")
    if fabric is None or str(fabric).strip() == "":
        raise SpecError("fabric: an inline pool needs a fabric (a topo preset such as dgx-h100, or a fabric YAML)")
    if stack is not None and str(stack).lower() not in STACKS:
        raise SpecError(f"stack: must be one of {', '.join(STACKS)}, got {stack!r}")
    counts = {"tp": tp, "ep": ep, "pp": pp, "replicas": replicas, "token_budget": token_budget}
    if batch is not None:
        counts["batch"] = batch
    if concurrency is not None:
        counts["concurrency"] = concurrency
    for k, v in counts.items():
        _count(v, k)  # one check of counts for the fleet package (closed-loop requests / concurrency use it too)
    if not isinstance(chunked_prefill, bool):
        raise SpecError(f"chunked_prefill: must be true or false, got {chunked_prefill!r}")
    if batch is None:
        batch = int(concurrency) if concurrency is not None else INLINE_POOL_BATCH
    name = Path(str(fabric)).stem if str(fabric).endswith((".yaml", ".yml")) else str(fabric)
    pool: dict[str, Any] = {"name": name, "fabric": str(fabric), "role": "colocated", "tp": int(tp), "ep": int(ep),
                            "pp": int(pp), "replicas": int(replicas), "batch": int(batch),
                            "token_budget": int(token_budget), "chunked_prefill": chunked_prefill, "dtype": str(dtype)}
    for k, v in (("kv_dtype", kv_dtype), ("stack", stack), ("price", price), ("speculative", speculative)):
        if v is not None:
            pool[k] = v
    return fleet_from_dict({"name": f"{model} on {name}", "model": str(model), "pools": [pool]})
