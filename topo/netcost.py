"""The fabric's network capital cost: its switches and the links to them, counted from the built graph and
priced by the fabric file's ``cost:`` block.

Price basis. A chip preset's ``capex`` is the accelerator plus its share of the server or rack it ships in
(:mod:`topo.presets`): the NVSwitch trays of a DGX or a GB200 NVL72 rack and the NeuronSwitches of a Trn
UltraServer are in it. A fabric whose switches sit outside that server (Maia 200's tier-0 / tier-1 Ethernet
planes) prices them in its ``cost:`` block; a fabric whose switches are in the chip's price says
``cost: included``. What is counted (exact, from the edges):

- ``switches``: switch nodes;
- ``chip_switch_links`` / ``switch_switch_links``: physical links (``edge_links``) between a chip and a switch /
  between two switches; each carries ``chip_switch_optics`` / 2 transceivers (one at each end; 0 for copper);
- ``chip_links``: physical chip-to-chip links (in-tray copper; priced at ``chip_link``, default 0);
- ``switch_ports``: switch ports in use (a switch end of a switch-attached link), priced at ``switch_port`` for a
  switch node that stands for a share of a box (a plane switch shared with hosts the fabric does not model) or
  for a whole network (one non-blocking node for a Clos).

A fabric whose chip price holds some of its switches and not others (a DGX's NVSwitches under an InfiniBand
leaf / spine; an UltraServer's NeuronSwitches beside its EFA network) names the held switches' tiers in
``included_tiers``: those switches, and the links from chips or held switches to them, are left out of the
counts.

Network capex = switches x ``switch`` + switch ports x ``switch_port`` + optics x ``optic`` + switch-attached
links x ``cable`` + chip links x ``chip_link`` ($). Per chip it is that over the fabric's chips; ``inference``
amortises it over the same years as the chip's capex and adds it to a capex-derived $/chip-hour (never to a given
$/chip-hour).

Network power = switches x ``switch_power`` + switch ports x ``switch_port_power`` + optics x ``optic_power`` (W,
the mean draw: a switch's SerDes and a transceiver's lasers draw about the same busy or idle, so no utilisation
factor applies). ``inference`` charges it per chip beside the chip's power (x PUE x $/kWh) on a capex basis and
adds it to the energy per token.

A fabric with faults is costed as built: the hardware was bought whether or not a port is down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import SpecError

if TYPE_CHECKING:
    from .fabric import Fabric

#: the keys of a fabric file's ``cost:`` block ($ unless said)
COST_KEYS = ("switch", "optic", "cable", "chip_link", "chip_switch_optics", "switch_port", "included_tiers",
             "switch_power", "optic_power", "switch_port_power", "source")
#: the keys that are $ or W amounts (>= 0)
_AMOUNTS = ("switch", "optic", "cable", "chip_link", "switch_port", "switch_power", "optic_power",
            "switch_port_power")
#: ``cost: included``: the chip preset's system capex already holds the switches (DGX, NVL72, UltraServer)
INCLUDED = "included"


@dataclass(frozen=True)
class NetworkCostSpec:
    """Prices of a fabric's network hardware ($), from a fabric file's ``cost:`` block.

    Attributes:
        switch: $ per switch (the whole box: chassis, ASIC, fans, power supplies).
        optic: $ per transceiver; a switch-switch link has one at each end, a chip-switch link
            ``chip_switch_optics``.
        cable: $ per switch-attached physical link (fibre, DAC or AEC), beside its optics.
        chip_link: $ per chip-to-chip physical link (in-tray copper; 0 = in the chip's server price).
        chip_switch_optics: transceivers per chip-switch link: 2 (optical both ends), 1 (the switch end only:
            an active optical cable counted as one) or 0 (copper).
        switch_port: $ per switch port in use (a share of a box, or a node standing for a whole network).
        included_tiers: switch tiers whose switches (and the links from chips or held switches to them) are in the
            chip preset's system capex: not counted.
        switch_power: W per switch (mean draw); optic_power: W per transceiver; switch_port_power: W per switch
            port in use.
        source: where the prices come from (a citation, or ``ASSUMPTION: ...``).
        included: the switches are in the chip preset's system capex (``cost: included``); the prices are then 0.
    """

    switch: float = 0.0
    optic: float = 0.0
    cable: float = 0.0
    chip_link: float = 0.0
    chip_switch_optics: int = 2
    switch_port: float = 0.0
    included_tiers: tuple[int, ...] = ()
    switch_power: float = 0.0
    optic_power: float = 0.0
    switch_port_power: float = 0.0
    source: str = ""
    included: bool = False

    def __post_init__(self) -> None:
        for k in _AMOUNTS:
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < math.inf:
                unit = "W" if k.endswith("_power") else "$"
                raise SpecError(f"cost.{k}: must be a finite number of {unit} >= 0, got {v!r}")
        t = self.included_tiers
        if not isinstance(t, tuple) or any(isinstance(x, bool) or not isinstance(x, int) for x in t):
            raise SpecError(f"cost.included_tiers: a list of switch tiers (integers: 0 = in the server, 1 = leaf, "
                            f"...), got {t!r}")
        v = self.chip_switch_optics
        if isinstance(v, bool) or not isinstance(v, int) or v not in (0, 1, 2):
            raise SpecError(f"cost.chip_switch_optics: transceivers per chip-switch link, 0 (copper), 1 or 2; "
                            f"got {v!r}")


def parse_network_cost(spec: Any, field: str = "cost") -> NetworkCostSpec | None:
    """A fabric file's ``cost:`` entry: None (no block: the network is not priced), ``included`` (the chip's capex
    holds it), a :class:`NetworkCostSpec`, or a mapping of :data:`COST_KEYS` (numbers, or strings such as
    ``"$30,000"``).

    Raises:
        SpecError: an unknown key, a price that is not a number >= 0 (one line naming ``cost.<key>``).
    """
    if spec is None or isinstance(spec, NetworkCostSpec):
        return spec
    if isinstance(spec, str) and spec.strip().lower() == INCLUDED:
        return NetworkCostSpec(included=True, source="in the chip's system capex")
    if not isinstance(spec, dict):
        raise SpecError(f"{field}: expected '{INCLUDED}' or a mapping of {', '.join(COST_KEYS)}, got {spec!r}")
    out: dict[str, Any] = {}
    for k, v in spec.items():
        if k not in COST_KEYS:
            raise SpecError(f"{field}: unknown key {k!r}; valid keys: {', '.join(COST_KEYS)}")
        if k == "source":
            out[k] = str(v)
            continue
        if k == "included_tiers":
            vs = v if isinstance(v, (list, tuple)) else [v]
            if any(isinstance(x, bool) or not isinstance(x, int) for x in vs):
                raise SpecError(f"{field}.included_tiers: a list of switch tiers (integers: 0 = in the server, "
                                f"1 = leaf, ...), got {v!r}")
            out[k] = tuple(sorted(set(vs)))
            continue
        if isinstance(v, str):  # "$30,000", as a prices file reads it
            try:
                v = float(v.strip().lstrip("$").replace(",", ""))
            except ValueError:
                what = "W (e.g. 1500)" if k.endswith("_power") else "$ (30000 or '$30,000')"
                raise SpecError(f"{field}.{k}: expected a number of {what}, got {v!r}") from None
        if k == "chip_switch_optics" and isinstance(v, float) and v.is_integer():
            v = int(v)
        elif k != "chip_switch_optics" and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        out[k] = v
    try:
        return NetworkCostSpec(**out)
    except SpecError as exc:
        raise SpecError(str(exc).replace("cost.", f"{field}.", 1)) from None


@dataclass(frozen=True)
class NetworkCapex:
    """A fabric's network hardware, counted from its graph, and its price ($).

    ``priced`` False: the fabric has switches and no ``cost:`` block (``per_chip`` 0, the text says so);
    ``included`` True: the chip's system capex holds the switches (``per_chip`` 0). Counts leave out the switches
    of ``included_tiers`` and the links to them.
    """

    chips: int
    switches: int
    chip_switch_links: int
    switch_switch_links: int
    chip_links: int
    optics: int
    spec: NetworkCostSpec | None
    #: switch ports in use: a chip-switch link has one, a switch-switch link two
    switch_ports: int = 0
    #: switches left out as in the chip's system capex (``included_tiers``)
    included_switches: int = 0

    @property
    def priced(self) -> bool:
        """Whether the figure is a price: a ``cost:`` block, or a fabric with no switches (nothing to price)."""
        return self.spec is not None or self.switches == 0

    @property
    def included(self) -> bool:
        """Whether the chip's system capex already holds the network (``cost: included``)."""
        return self.spec is not None and self.spec.included

    @property
    def switch_usd(self) -> float:
        """$ of the switches (per box and per port in use)."""
        if self.spec is None:
            return 0.0
        return self.switches * self.spec.switch + self.switch_ports * self.spec.switch_port

    @property
    def links_usd(self) -> float:
        """$ of the switch-attached links: their optics and cables."""
        if self.spec is None:
            return 0.0
        return self.optics * self.spec.optic + (self.chip_switch_links + self.switch_switch_links) * self.spec.cable

    @property
    def chip_links_usd(self) -> float:
        """$ of the chip-to-chip links."""
        return self.chip_links * self.spec.chip_link if self.spec is not None else 0.0

    @property
    def total_usd(self) -> float:
        """$ of the whole network (0 when not priced or included)."""
        return self.switch_usd + self.links_usd + self.chip_links_usd

    @property
    def per_chip(self) -> float:
        """$ of network per chip of the fabric."""
        return self.total_usd / self.chips if self.chips else 0.0

    @property
    def power_w(self) -> float:
        """W of the whole network's mean draw: switches, ports in use, optics (0 when not priced or included)."""
        sp = self.spec
        if sp is None:
            return 0.0
        return self.switches * sp.switch_power + self.switch_ports * sp.switch_port_power + self.optics * sp.optic_power

    @property
    def power_per_chip(self) -> float:
        """W of network power per chip of the fabric."""
        return self.power_w / self.chips if self.chips else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Flat figures (counts, $) and ``summary`` (:meth:`line`), for ``topo show --json`` and reports."""
        return {"switches": self.switches, "chip_switch_links": self.chip_switch_links,
                "switch_switch_links": self.switch_switch_links,
                "switch_attached_links": self.chip_switch_links + self.switch_switch_links, "chip_links": self.chip_links,
                "optics": self.optics, "switch_usd": self.switch_usd, "links_usd": self.links_usd,
                "chip_links_usd": self.chip_links_usd, "total_usd": self.total_usd,
                "per_chip_usd": self.per_chip, "switch_ports": self.switch_ports,
                "included_switches": self.included_switches, "power_w": self.power_w,
                "power_per_chip_w": self.power_per_chip, "priced": self.priced, "included": self.included,
                "source": self.spec.source if self.spec is not None else "", "summary": self.line()}

    def line(self) -> str:
        """One line for ``topo show``: $ per chip, the counts behind it and the price basis."""
        counts = (f"{self.switches:,} switch{'' if self.switches == 1 else 'es'}, "
                  f"{self.chip_switch_links + self.switch_switch_links:,} switch-attached links")
        if self.switches == 0 and (self.spec is None or self.spec.chip_link == 0):
            return "$0 per chip (no switches; chip-to-chip links in the chip's system capex)"
        if self.spec is None:
            return f"not priced ({counts}; the fabric file has no cost: block)"
        if self.spec.included:
            return f"in the chip's system capex ({counts}; cost: included)"
        held = (f"; {self.included_switches:,} switches of tier {', '.join(map(str, self.spec.included_tiers))} in "
                "the chip's system capex" if self.included_switches else "")
        return (f"${self.per_chip:,.0f} per chip, {_usd(self.total_usd)} in all: {counts} "
                f"({self.optics:,} optics{held}); "
                f"switches {_usd(self.switch_usd)}, links {_usd(self.links_usd)}"
                + (f", chip links {_usd(self.chip_links_usd)}" if self.chip_links_usd else "")
                + (f"; power {self.power_per_chip:,.0f} W per chip" if self.power_w else "")
                + (f" ({self.spec.source})" if self.spec.source else ""))


def _usd(x: float) -> str:
    """$ for a line: millions as "$84.74 M", less as "$4,275"."""
    return f"${x / 1e6:,.2f} M" if x >= 1e6 else f"${x:,.0f}"


def network_capex(fab: Fabric, cost: Any = None) -> NetworkCapex:
    """The network hardware of ``fab`` counted from its graph and priced by ``cost`` (a ``cost:`` block: mapping,
    ``"included"`` or :class:`NetworkCostSpec`; default the fabric's own, ``fab.network_cost``).

    A fabric with faults is counted as built (the base fabric of ``with_faults``).

    Raises:
        SpecError: a bad ``cost`` block.
    """
    base = getattr(fab.router, "base", None)  # topo.faults.FaultedRouter: the fabric as built
    if base is not None and getattr(base, "n_chips", None) == fab.n_chips:
        fab = base
    spec = parse_network_cost(cost) if cost is not None else getattr(fab, "network_cost", None)
    n = fab.n_chips
    src, dst, links = fab.edge_src, fab.edge_dst, fab.edge_links
    held = np.zeros(n + len(fab.switches), dtype=bool)  # switches in the chip's system capex (included_tiers)
    if spec is not None and spec.included_tiers:
        tiers = set(spec.included_tiers)
        held[n:] = [fab.graph.nodes[s].get("tier") in tiers for s in fab.switches]
    sw_src, sw_dst = src >= n, dst >= n
    # a link to a held switch from a chip or another held switch is in the chip's price too
    out = (held[src] & (held[dst] | ~sw_dst)) | (held[dst] & (held[src] | ~sw_src))
    # each physical link is two directed edges carrying the same link count: halve the directed sums
    chip_sw = int(round(float(links[(sw_src != sw_dst) & ~out].sum()) / 2))
    sw_sw = int(round(float(links[sw_src & sw_dst & ~out].sum()) / 2))
    chip_chip = int(round(float(links[~sw_src & ~sw_dst].sum()) / 2))
    per_chip_link = spec.chip_switch_optics if spec is not None else 2
    n_held = int(held.sum())
    return NetworkCapex(chips=n, switches=len(fab.switches) - n_held,
                        chip_switch_links=chip_sw, switch_switch_links=sw_sw, chip_links=chip_chip,
                        optics=chip_sw * per_chip_link + 2 * sw_sw, spec=spec, switch_ports=chip_sw + 2 * sw_sw,
                        included_switches=n_held)
