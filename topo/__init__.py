"""topo: what the fabric is. Chip/link/switch specs, builders, routing, YAML loading, drawing."""

from . import presets
from .builders import BUILDERS, clos, dragonfly, full_mesh, switch, torus, two_tier
from .draw import plot_fabric
from .errors import CapacityError, RoutingError, ScaleupError, ScheduleError, SpecError, UnitError
from .export import export_fabric, fabric_to_json
from .fabric import BFSRouter, Fabric, Routes
from .loader import TOPOLOGIES_DIR, build, describe_fabrics, list_fabrics, load, parse_chip
from .presets import CHIPS, SWITCHES, chip_preset, switch_preset
from .specs import DTYPE_BYTES, DTYPES, ChipSpec, LinkSpec, SwitchSpec
from .summary import bisection_bandwidth, cut_capacity, diameter, format_summary, hop_distances, summarize
from .units import format_bytes, parse_positive, parse_quantity, parse_size_range

__all__ = [
    "BFSRouter",
    "BUILDERS",
    "CHIPS",
    "SWITCHES",
    "TOPOLOGIES_DIR",
    "bisection_bandwidth",
    "build",
    "chip_preset",
    "clos",
    "cut_capacity",
    "describe_fabrics",
    "diameter",
    "dragonfly",
    "export_fabric",
    "fabric_to_json",
    "format_summary",
    "full_mesh",
    "hop_distances",
    "list_fabrics",
    "load",
    "parse_chip",
    "plot_fabric",
    "presets",
    "switch",
    "summarize",
    "switch_preset",
    "torus",
    "two_tier",
    "CapacityError",
    "ChipSpec",
    "DTYPES",
    "DTYPE_BYTES",
    "Fabric",
    "LinkSpec",
    "RoutingError",
    "Routes",
    "ScaleupError",
    "ScheduleError",
    "SpecError",
    "SwitchSpec",
    "UnitError",
    "format_bytes",
    "parse_positive",
    "parse_quantity",
    "parse_size_range",
]
