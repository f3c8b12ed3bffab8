"""topo: what the fabric is. Chip/link/switch specs, builders, routing, YAML loading, drawing."""

from .errors import CapacityError, RoutingError, ScaleupError, ScheduleError, SpecError, UnitError
from .fabric import BFSRouter, Fabric, Routes
from .specs import DTYPE_BYTES, DTYPES, ChipSpec, LinkSpec, SwitchSpec
from .units import format_bytes, parse_positive, parse_quantity, parse_size_range

__all__ = [
    "BFSRouter",
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
