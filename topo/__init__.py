"""topo: what the fabric is. Chip/link/switch specs, builders, routing, YAML loading, drawing."""

from . import presets
from .builders import BUILDERS, clos, dragonfly, full_mesh, switch, torus, two_tier
from .errors import CapacityError, RoutingError, ScaleupError, ScheduleError, SpecError, UnitError
from .fabric import BFSRouter, Fabric, Routes
from .loader import TOPOLOGIES_DIR, build, describe_fabrics, list_fabrics, load, parse_chip
from .presets import CHIPS, SWITCHES, chip_preset, switch_preset
from .specs import DTYPE_BYTES, DTYPES, ChipSpec, LinkSpec, SwitchSpec
from .units import format_bytes, parse_positive, parse_quantity, parse_size_range

__all__ = [
    "BFSRouter",
    "BUILDERS",
    "CHIPS",
    "SWITCHES",
    "TOPOLOGIES_DIR",
    "build",
    "chip_preset",
    "clos",
    "describe_fabrics",
    "dragonfly",
    "full_mesh",
    "list_fabrics",
    "load",
    "parse_chip",
    "presets",
    "switch",
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
