"""Frozen dataclasses describing hardware: chips, links, switches. SI units inside.

Bandwidths are bytes/s in one direction, latencies seconds, memory bytes, compute FLOP/s, power watts.
The presets with their sources live in :mod:`topo.presets`.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import SpecError

DTYPES = ("fp4", "fp6", "fp8", "int8", "bf16", "fp16", "fp32")
#: bytes per element of each dtype
DTYPE_BYTES = {"fp4": 0.5, "fp6": 0.75, "fp8": 1.0, "int8": 1.0, "bf16": 2.0, "fp16": 2.0, "fp32": 4.0}


def _require_positive(obj: object, name: str, value: float, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise SpecError(f"{type(obj).__name__}.{name}: must be {bound}, got {value!r}")


@dataclass(frozen=True)
class ChipSpec:
    """An accelerator.

    Attributes:
        name: preset or user name, e.g. ``"maia200"``.
        flops: peak dense FLOP/s per dtype (keys from :data:`DTYPES`); stored as sorted pairs so the
            spec stays hashable. Pass a dict; read with :meth:`peak_flops`.
        hbm_bytes: HBM capacity, bytes.
        hbm_bandwidth: HBM bandwidth, bytes/s.
        sram_bytes: on-die SRAM usable for weights/KV, bytes (0 if none is modelled).
        sram_bandwidth: SRAM bandwidth, bytes/s.
        tdp: thermal design power, watts.
        ports: scale-up ports per chip.
        port_bandwidth: bandwidth of one scale-up port, bytes/s per direction.
        compute_efficiency: achievable fraction of peak FLOP/s for large matmuls (calibration knob).
        memory_efficiency: achievable fraction of HBM/SRAM bandwidth for streaming reads (calibration knob).
        source: where the figures come from, and which are assumptions.
        cores: enabled matrix cores the peak counts (Maia tiles, GPU SMs); 0 = not modelled.
        clusters: groups of cores sharing the second SRAM tier (Maia clusters); 0 = none modelled.
        core_sram_bytes: SRAM tier 1, per core, bytes (Maia tile SRAM); 0 = not modelled.
        cluster_sram_bytes: SRAM tier 2, per cluster, bytes (Maia cluster SRAM); 0 = not modelled.
        capex: system capex per accelerator, $: the accelerator plus its share of the server or rack it ships
            in (host CPUs, memory, NICs, scale-up switches), not the building or the scale-out network; the one
            basis of every preset (docs/inference.md, "Energy and cost"). 0 = not given; the cost model then uses
            its default assumption.
        host_power: the host's and scale-up switches' power per accelerator, watts (system power per
            accelerator minus ``tdp``; 0 = none given). The cost model and energy figures charge
            :attr:`system_power` = ``tdp + host_power``, on the same basis as ``capex``.
        price_per_hour: public cloud price per chip-hour, $ (0 = not given).
        price_source: where ``capex`` / ``price_per_hour`` come from, or ``ASSUMPTION: <why>``.
        kernel_table: a ``scaleup measure`` table (path) the measured-kernel backend of ``inference`` uses for
            this chip ("" = none; ``scaleup infer --kernels`` overrides it).
    """

    name: str
    flops: Mapping[str, float] = field(default_factory=dict)
    hbm_bytes: float = 0.0
    hbm_bandwidth: float = 0.0
    sram_bytes: float = 0.0
    sram_bandwidth: float = 0.0
    tdp: float = 0.0
    ports: int = 0
    port_bandwidth: float = 0.0
    compute_efficiency: float = 0.7
    memory_efficiency: float = 0.8
    source: str = ""
    cores: int = 0
    clusters: int = 0
    core_sram_bytes: float = 0.0
    cluster_sram_bytes: float = 0.0
    capex: float = 0.0
    price_per_hour: float = 0.0
    price_source: str = ""
    kernel_table: str = ""
    host_power: float = 0.0

    def __post_init__(self) -> None:
        flops = self.flops
        if isinstance(flops, Mapping):
            pairs = tuple(sorted((str(k), float(v)) for k, v in flops.items()))
        else:
            pairs = tuple(sorted((str(k), float(v)) for k, v in flops))
        for k, v in pairs:
            if k not in DTYPES:
                raise SpecError(f"ChipSpec.flops: unknown dtype {k!r}; known: {', '.join(DTYPES)}")
            _require_positive(self, f"flops[{k}]", v)
        object.__setattr__(self, "flops", pairs)
        for name in ("hbm_bytes", "hbm_bandwidth", "sram_bytes", "sram_bandwidth", "tdp", "port_bandwidth",
                     "core_sram_bytes", "cluster_sram_bytes", "cores", "clusters", "capex", "price_per_hour",
                     "host_power"):
            _require_positive(self, name, getattr(self, name), allow_zero=True)
        if self.ports < 0:
            raise SpecError(f"ChipSpec.ports: must be >= 0, got {self.ports!r}")
        for name in ("compute_efficiency", "memory_efficiency"):
            v = getattr(self, name)
            if not 0 < v <= 1:
                raise SpecError(f"ChipSpec.{name}: must be in (0, 1], got {v!r}")

    @property
    def system_power(self) -> float:
        """Power per accelerator on the capex basis, watts: ``tdp`` plus its share of host and scale-up switches
        (``host_power``); 0 where the TDP is not public and no host share is given."""
        return self.tdp + self.host_power

    @property
    def flops_by_dtype(self) -> dict[str, float]:
        """Peak dense FLOP/s per dtype as a dict."""
        return dict(self.flops)

    def peak_flops(self, dtype: str) -> float:
        """Peak dense FLOP/s for ``dtype``; falls back to the nearest wider dtype the chip lists.

        A chip without an fp4 figure runs fp4 at its fp8 rate, fp8 at bf16, and so on: weights are
        upcast to the narrowest format the matrix engine supports.
        """
        table = dict(self.flops)
        order = ["fp4", "fp6", "fp8", "int8", "bf16", "fp16", "fp32"]
        if dtype not in order:
            raise SpecError(f"dtype: unknown {dtype!r}; known: {', '.join(order)}")
        for d in order[order.index(dtype):]:
            if d in table:
                return table[d]
        raise SpecError(f"ChipSpec {self.name!r} lists no FLOP/s for {dtype} or any wider dtype")

    def supported_dtypes(self) -> tuple[str, ...]:
        """Dtypes the chip runs: those it lists FLOP/s for, same-width formats (fp8 on an int8 engine, fp16
        on bf16), and 8-bit weights upcast to a wider listed format (fp8 on a BF16-only chip runs at its BF16
        rate, as :meth:`peak_flops` says). Sub-byte formats (fp4, fp6) need native support: fp4 on H100 is not
        supported."""
        widths = {DTYPE_BYTES[k] for k, _ in self.flops}
        return tuple(d for d in DTYPES if DTYPE_BYTES[d] in widths
                     or (DTYPE_BYTES[d] == 1.0 and any(w > 1.0 for w in widths)))

    @property
    def injection_bandwidth(self) -> float:
        """Total scale-up bandwidth per direction, bytes/s (ports x port bandwidth)."""
        return self.ports * self.port_bandwidth

    def replace(self, **changes: object) -> ChipSpec:
        """A copy with some fields changed (e.g. calibrated efficiencies)."""
        import dataclasses

        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class LinkSpec:
    """A point-to-point link, one direction.

    Attributes:
        bandwidth: line rate per direction, bytes/s.
        latency: propagation plus serialisation plus port-to-port latency, seconds.
        efficiency: fraction of line rate a transfer achieves (protocol and encoding overheads), in (0, 1].
    """

    bandwidth: float
    latency: float = 0.0
    efficiency: float = 1.0

    def __post_init__(self) -> None:
        _require_positive(self, "bandwidth", self.bandwidth)
        _require_positive(self, "latency", self.latency, allow_zero=True)
        if not 0 < self.efficiency <= 1:
            raise SpecError(f"LinkSpec.efficiency: must be in (0, 1], got {self.efficiency!r}")

    @property
    def capacity(self) -> float:
        """Achievable bytes/s: bandwidth x efficiency."""
        return self.bandwidth * self.efficiency


@dataclass(frozen=True)
class SwitchSpec:
    """A packet switch.

    Attributes:
        radix: number of ports.
        port_bandwidth: bytes/s per direction per port.
        latency: port-to-port latency, seconds (added to each link leaving the switch by builders).
        in_network_reduction: whether the switch can reduce (SHARP / NVLS style).
        name: e.g. ``"51.2T Ethernet"``.
        reduction_bandwidth: bytes/s per port per direction at which the switch folds the stream arriving
            on one port into an in-network reduction (SHARP / NVLS engine throughput as seen by one port);
            ``None`` = line rate (the reduction keeps up with the links). Collectives' ``inr`` caps each
            child -> switch reduction flow at this rate (builders carry it as the switch node attribute
            ``reduction_bandwidth``, per attached edge).
    """

    radix: int
    port_bandwidth: float
    latency: float = 0.0
    in_network_reduction: bool = False
    name: str = "switch"
    reduction_bandwidth: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.radix, int) or self.radix < 2:
            raise SpecError(f"SwitchSpec.radix: must be an integer >= 2, got {self.radix!r}")
        _require_positive(self, "port_bandwidth", self.port_bandwidth)
        _require_positive(self, "latency", self.latency, allow_zero=True)
        if self.reduction_bandwidth is not None:
            _require_positive(self, "reduction_bandwidth", self.reduction_bandwidth)


#: NCCL's protocols, in the order its tuner lists them (latency first, bandwidth last)
PROTOCOLS = ("ll", "ll128", "simple")


#: keys of :attr:`CommSpec.p2p` (NCCL's grouped point-to-point; docs/collectives.md)
P2P_KEYS = ("base_ll", "base_simple", "peer", "channel_bandwidth", "fill", "channels", "chunk")


def _pairs(mapping: Mapping | tuple) -> tuple:
    """A mapping as sorted (key, value) pairs, nested mappings too (keeps a frozen spec hashable)."""
    if isinstance(mapping, tuple):
        return mapping
    return tuple(sorted((str(k), _pairs(v) if isinstance(v, Mapping) else v) for k, v in mapping.items()))


@dataclass(frozen=True)
class CommSpec:
    """The communication software between a compiled collective schedule and the wire (one platform).

    ``collectives`` interprets it (see docs/collectives.md, "Calibrated communication model"): a call costs
    ``call`` plus a pass over the buffer at ``buffer_bandwidth``; each bulk-synchronous step of the schedule
    starts ``step[protocol]`` later; each flow moves at ``bandwidth[protocol] x efficiency(algorithm)`` of
    the links the engine gives it (its bytes on the wire are divided by that fraction), so contention
    between concurrent groups still comes from the engine. The protocol of an (algorithm, size) is the
    one with the least predicted time of this model (NCCL's tuner's rule, not its constants).

    Attributes:
        name: label, e.g. ``"nccl-h100"``.
        call: seconds per collective call (kernel launch + synchronisation).
        buffer_bandwidth: bytes/s of the per-call pass over the user buffer (``inf`` = none).
        base: (protocol, seconds) pairs: the protocol's own cost per call on top of ``call`` (NCCL's
            ``baseLat``; default 0).
        step: (protocol, seconds per step) pairs for the protocols in :data:`PROTOCOLS`.
        bandwidth: (protocol, fraction of link capacity in (0, 1]) pairs.
        algorithms: (collective, ((algorithm, efficiency), ...)) pairs: the algorithms the stack runs for a
            collective and the fraction of its protocol bandwidth each achieves; ``"*"`` stands for every
            other registered algorithm (and lets ``auto`` pick any); a collective not listed may use every
            registered algorithm at efficiency 1.
        custom: (algorithm, ((key, value), ...)) pairs for algorithms with their own costs outside the
            protocol model (custom all-reduce: ``call`` s, ``peer`` s per peer (n - 1 of them), ``step`` s,
            ``efficiency``, ``max_ranks``,
            ``max_size`` bytes).
        p2p: (key, value) pairs of NCCL's grouped point-to-point (all-to-all, send/recv), which runs outside
            the ring's per-step model (:data:`P2P_KEYS`): ``base_ll`` / ``base_simple`` s per call on top of
            ``call``, ``peer`` s per peer, ``channel_bandwidth`` bytes/s one channel moves with Simple (LL: x
            ``bandwidth.ll``), ``fill`` the fraction of a chunk's channel time the chunk pipeline adds,
            ``channels`` (NCCL's p2pnChannels) and ``chunk`` bytes (NCCL_P2P_NVL_CHUNKSIZE); empty = the
            ring's ``base`` / ``step`` (the model before it).
        provenance: (field, text) pairs: ``fit: <data, version, subset>``, ``source: <doc>`` or
            ``ASSUMPTION: <why>``.
        link_efficiency: fraction of line rate the links carry under this stack, replacing the fabric's
            ``efficiency`` (which on NVLink presets stands for NCCL's protocol overhead, now modelled by
            ``bandwidth``); None keeps the fabric's (e.g. Ethernet framing).
    """

    name: str = "generic"
    link_efficiency: float | None = None
    call: float = 0.0
    buffer_bandwidth: float = float("inf")
    base: tuple = ()
    step: tuple = ()
    bandwidth: tuple = ()
    algorithms: tuple = ()
    custom: tuple = ()
    provenance: tuple = ()
    p2p: tuple = ()

    def __post_init__(self) -> None:
        for f in ("base", "step", "bandwidth", "algorithms", "custom", "provenance", "p2p"):
            object.__setattr__(self, f, _pairs(getattr(self, f)))
        _require_positive(self, "call", self.call, allow_zero=True)
        if self.link_efficiency is not None and not 0 < self.link_efficiency <= 1:
            raise SpecError(f"CommSpec.link_efficiency: must be in (0, 1] or None, got {self.link_efficiency!r}")
        _require_positive(self, "buffer_bandwidth", self.buffer_bandwidth)
        for f in ("base", "step"):
            for p, v in getattr(self, f):
                if p not in PROTOCOLS:
                    raise SpecError(f"CommSpec.{f}: unknown protocol {p!r}; valid: {', '.join(PROTOCOLS)}")
                if not (isinstance(v, (int, float)) and v >= 0):
                    raise SpecError(f"CommSpec.{f}.{p}: must be >= 0 s, got {v!r}")
        for p, v in self.bandwidth:
            if p not in PROTOCOLS:
                raise SpecError(f"CommSpec.bandwidth: unknown protocol {p!r}; valid: {', '.join(PROTOCOLS)}")
            if not (isinstance(v, (int, float)) and 0 < v <= 1):
                raise SpecError(f"CommSpec.bandwidth.{p}: must be a fraction in (0, 1], got {v!r}")
        if not self.step:
            object.__setattr__(self, "step", (("simple", 0.0),))
        for coll, algs in self.algorithms:
            for a, e in algs:
                if not (isinstance(e, (int, float)) and 0 < e <= 1):
                    raise SpecError(f"CommSpec.algorithms.{coll}.{a}: efficiency must be in (0, 1], got {e!r}")
        for a, kv in self.custom:
            d = dict(kv)
            bad = set(d) - {"call", "peer", "step", "efficiency", "max_ranks", "max_size"}
            if bad:
                raise SpecError(f"CommSpec.custom.{a}: unknown key {sorted(bad)[0]!r}; valid: call, peer, step, "
                                "efficiency, max_ranks, max_size")
            for k in ("call", "peer", "step"):  # seconds: a negative or infinite cost is no kernel's
                v = d.get(k, 0.0)
                if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= v < float("inf"):
                    raise SpecError(f"CommSpec.custom.{a}.{k}: must be a time >= 0 s (e.g. 0.1us), got {v!r}")
            e = d.get("efficiency", 1.0)
            if not 0 < e <= 1:
                raise SpecError(f"CommSpec.custom.{a}.efficiency: must be in (0, 1], got {e!r}")
        d = dict(self.p2p)
        if d:
            bad = set(d) - set(P2P_KEYS)
            if bad:
                raise SpecError(f"CommSpec.p2p: unknown key {sorted(bad)[0]!r}; valid: {', '.join(P2P_KEYS)}")
            missing = [k for k in P2P_KEYS if k not in d]
            if missing:
                raise SpecError(f"CommSpec.p2p: missing key {missing[0]!r}; give all of {', '.join(P2P_KEYS)}")
            for k, v in d.items():
                if not (isinstance(v, (int, float)) and v >= 0) or (k in ("channel_bandwidth", "channels", "chunk")
                                                                    and not v > 0):
                    raise SpecError(f"CommSpec.p2p.{k}: must be {'> 0' if k in ('channel_bandwidth', 'channels', 'chunk') else '>= 0'}, got {v!r}")

    @property
    def protocols(self) -> tuple[str, ...]:
        """The protocols this stack has (those with a step latency), in :data:`PROTOCOLS` order."""
        have = {p for p, _ in self.step}
        return tuple(p for p in PROTOCOLS if p in have)

    def step_of(self, protocol: str) -> float:
        """Seconds per step of ``protocol``."""
        return float(dict(self.step)[protocol])

    def base_of(self, protocol: str) -> float:
        """Seconds per call of ``protocol`` on top of ``call`` (0 if not given)."""
        return float(dict(self.base).get(protocol, 0.0))

    def bandwidth_of(self, protocol: str) -> float:
        """Fraction of link capacity of ``protocol`` (1 if not given)."""
        return float(dict(self.bandwidth).get(protocol, 1.0))

    def algorithms_of(self, collective: str) -> dict[str, float] | None:
        """{algorithm: efficiency} the stack runs for ``collective``, or None (every algorithm, efficiency 1)."""
        for c, algs in self.algorithms:
            if c == collective:
                return dict(algs)
        return None

    def custom_of(self, algorithm: str) -> dict[str, float] | None:
        """The own costs of a custom algorithm (``call``, ``step``, ``efficiency``, ...), or None."""
        for a, kv in self.custom:
            if a == algorithm:
                return dict(kv)
        return None

    def p2p_of(self) -> dict[str, float] | None:
        """NCCL's point-to-point parameters (:data:`P2P_KEYS`), or None (the ring's costs stand in)."""
        return dict(self.p2p) or None

    def replace(self, **changes: object) -> CommSpec:
        """A copy with some fields changed (mappings accepted for the pair fields)."""
        import dataclasses

        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain nested mapping in SI units (what :func:`topo.loader.parse_comm` reads back)."""
        def un(v):
            return {k: un(x) for k, x in v} if isinstance(v, tuple) else v
        return {"name": self.name, "link_efficiency": self.link_efficiency, "call": self.call, "buffer_bandwidth": self.buffer_bandwidth,
                "base": un(self.base), "step": un(self.step), "bandwidth": un(self.bandwidth), "algorithms": un(self.algorithms),
                "custom": un(self.custom), "provenance": un(self.provenance), "p2p": un(self.p2p)}
