"""The one exception hierarchy of scaleup.

Every error a user can cause (a bad spec, an impossible route, a model that does not fit) is a
subclass of :class:`ScaleupError`. Its message is one readable line naming the field or object, the
value, and what would be valid. The CLI catches ``ScaleupError``, prints the message and exits 2.
Anything else escaping is a bug.
"""

from __future__ import annotations


class ScaleupError(Exception):
    """Root of every user-facing error in scaleup."""


class SpecError(ScaleupError, ValueError):
    """A spec (YAML, keyword argument, dataclass field) is invalid: unknown key, wrong type, bad value."""


class UnitError(SpecError):
    """A quantity with units could not be parsed or has the wrong dimension."""


class RoutingError(ScaleupError):
    """No route exists, a path is not a path of the graph, or a node is unknown."""


class CapacityError(ScaleupError):
    """Something does not fit: ports beyond a switch radix, a model beyond HBM, a zero-capacity link."""


class ScheduleError(ScaleupError):
    """A flow set or schedule is malformed: negative size, dependency cycle, bad group."""
