"""Human units at the edge, SI inside.

One function, :func:`parse_quantity`, turns ``"400Gbps"``, ``"1.4TB/s"``, ``"500ns"``, ``"216GB"``,
``"64MiB"``, ``"5PFLOPS"`` or ``"750W"`` into a float in SI units (bytes/s, seconds, bytes, FLOP/s,
watts, dollars). Conventions (DESIGN.md): ``Gbps`` is 1e9 bits/s, ``GB/s`` 1e9 bytes/s, ``GiB`` 2**30
bytes. Plain numbers are taken as already in SI units.
"""

from __future__ import annotations

import math
import re

from .errors import UnitError

_DEC = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_BIN = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}
_TIME = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "ps": 1e-12, "min": 60.0, "h": 3600.0}

#: dimension name -> what the SI value is measured in (for messages)
DIMENSIONS = {
    "bandwidth": "bytes/s",
    "size": "bytes",
    "time": "seconds",
    "flops": "FLOP/s",
    "power": "watts",
    "number": "",
}

#: units to suggest in messages, per dimension
UNIT_HINTS = {
    "bandwidth": "Gbps, GB/s, TB/s",
    "size": "B, KiB, MiB, GiB, GB",
    "time": "ns, us, ms, s, min",
    "flops": "TFLOPS, PFLOPS",
    "power": "W, kW",
}

#: an example unit per dimension, for "write 50ms" hints
_EXAMPLE_UNIT = {"bandwidth": "GB/s", "size": "MiB", "time": "ms", "flops": "TFLOPS", "power": "W"}


def _hint(dimension: str | None) -> str:
    return UNIT_HINTS.get(dimension or "", "Gbps, GB/s, GiB, us, ns, TFLOPS, W")


_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_RE = re.compile(r"^\s*" + _NUM + r"\s*([A-Za-zµ/_]*)\s*$")


_D = r"([kKMGTPE]?)"  # decimal prefix
_B = r"(Ki|Mi|Gi|Ti|Pi)"  # binary prefix
#: (unit pattern with the prefix as group 1, dimension, prefix table, factor), tried in order
_UNITS = (
    (_D + r"(?:bps|bit/s|b/s)", "bandwidth", _DEC, 1 / 8),  # bits per second: bps, Gbps, Gbit/s, Gb/s
    (_B + r"(?:bps|bit/s|b/s)", "bandwidth", _BIN, 1 / 8),
    (_D + r"(?:B/s|Bps)", "bandwidth", _DEC, 1.0),  # bytes per second: GB/s, GBps, GiB/s
    (_B + r"(?:B/s|Bps)", "bandwidth", _BIN, 1.0),
    (_D + r"B", "size", _DEC, 1.0),  # sizes: B, KB, GB, KiB, GiB; bits: Gb, Gbit
    (_B + r"B", "size", _BIN, 1.0),
    (_D + r"(?:bit|b)", "size", _DEC, 1 / 8),
    (_D + r"(?:FLOPS|FLOP/s|flops|flop/s|OPS|OP/s)", "flops", _DEC, 1.0),  # FLOPS, TFLOPS, PFLOP/s, TOPS
    (r"([kKMG]?)W", "power", _DEC, 1.0),
)
_UNIT_RES = tuple((re.compile(p), dim, table, f) for p, dim, table, f in _UNITS)


def _unit_factor(unit: str) -> tuple[str, float] | None:
    """Return (dimension, factor to SI) for a unit string, or None if unknown."""
    if unit in _TIME:
        return "time", _TIME[unit]
    for pattern, dim, table, f in _UNIT_RES:
        m = pattern.fullmatch(unit)
        if m:
            return dim, table[m.group(1)] * f
    return None


#: a bare number (SI) beyond these, in a latency or bandwidth of a fabric file, is a unit left out: a latency of
#: 1 ms or more, a bandwidth under 1 MB/s (``link_latency: 150`` meant 150 ns and was read as 150 s;
#: ``port_bandwidth: 400`` meant 400 Gb/s and gave 1e-5 GB/s per chip); (low, high, units to suggest)
BARE_LIMITS = {"time": (None, 1e-3, ("ns", "us")), "bandwidth": (1e6, None, ("Gbps", "GB/s"))}
#: the SI unit a bare number of each dimension is read in (for :func:`check_bare`'s message)
_SI_UNIT = {"time": "s", "bandwidth": "bytes/s", "size": "bytes", "flops": "FLOP/s", "power": "W"}


def check_bare(field: str, value: object, dimension: str,
               limits: tuple[float | None, float | None, tuple[str, str]] | None = None) -> None:
    """Raise :class:`UnitError` when ``value`` is a bare number outside :data:`BARE_LIMITS` for ``dimension``
    (a number, or a string holding only a number: ``'150'`` is as bare as ``150``; a string with a unit, zero, or
    another dimension is never refused). ``limits`` (low, high, units to
    suggest) replaces the table's entry where a quantity's real range differs (a serving step takes ms).

    Raises:
        UnitError: naming ``field``, the value read in SI units (s or bytes/s) and two ways to write the unit.
    """
    lo, hi, example = limits or BARE_LIMITS.get(dimension, (None, None, ""))
    shown = value
    if isinstance(value, str):  # a quoted number without a unit ('150') is as bare as 150
        m = _RE.match(value)
        if not m or m.group(2) != "":
            return
        shown = m.group(1)
        value = float(shown)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        return
    if (lo is not None and value < lo) or (hi is not None and value >= hi):
        raise UnitError(f"{field}: the bare number {shown!r} is {float(value):g} "
                        f"{_SI_UNIT.get(dimension, 'bytes/s')} (SI); write the unit, e.g. "
                        f"'{shown}{example[0]}' or '{shown}{example[1]}'")


def parse_quantity(value: object, dimension: str | None = None, field: str = "value",
                   require_unit: bool = False) -> float:
    """Parse ``value`` into a float in SI units.

    Args:
        value: a number (taken as SI already) or a string such as ``"400Gbps"``, ``"1.4TB/s"``,
            ``"500ns"``, ``"64MiB"``, ``"5PFLOPS"``, ``"750W"``, ``"2**20"`` is *not* accepted.
        dimension: expected dimension (``"bandwidth"``, ``"size"``, ``"time"``, ``"flops"``,
            ``"power"``, ``"number"``); ``None`` accepts any.
        field: name used in the error message.
        require_unit: refuse a bare non-zero number (the command line sets this for times and sizes, so
            ``--slo-tpot 50`` is an error naming ``50ms``/``50s`` instead of silently meaning 50 seconds).

    Returns:
        The value in bytes/s, bytes, seconds, FLOP/s, watts, or a plain number.

    Raises:
        UnitError: naming ``field`` when the string cannot be parsed or has the wrong dimension.
    """
    if isinstance(value, bool):
        raise UnitError(f"{field}: expected a quantity, got boolean {value!r}")
    if isinstance(value, (int, float)):
        v = float(value)
        if not math.isfinite(v):
            raise UnitError(f"{field}: expected a finite number, got {value!r}")
        return v
    if not isinstance(value, str):
        raise UnitError(f"{field}: expected a number or a string with units, got {type(value).__name__}")
    m = _RE.match(value)
    if not m:
        if dimension == "number":  # a plain number (an efficiency, a price): no unit to suggest
            raise UnitError(f"{field}: cannot parse {value!r}; write a plain number, e.g. 2.5")
        raise UnitError(f"{field}: cannot parse {value!r}; write a number with a unit ({_hint(dimension)})")
    number = float(m.group(1))
    if not math.isfinite(number):
        raise UnitError(f"{field}: {value!r} is too large; expected a finite number")
    unit = m.group(2)
    if unit == "":
        if require_unit and number != 0 and dimension in _EXAMPLE_UNIT:
            raise UnitError(
                f"{field}: {value!r} has no unit; write e.g. '{m.group(1)}{_EXAMPLE_UNIT[dimension]}' "
                + (f"or '{m.group(1)}B' (bytes, as nccl-tests -b) " if dimension == "size" else "")
                + f"(units: {_hint(dimension)})"
            )
        return number
    found = _unit_factor(unit)
    if found is None:
        if dimension == "size" and unit in ("k", "K", "M", "G", "T"):  # nccl-tests' -b 1M / -e 1G: binary
            p, k = unit.upper(), "KMGT".index(unit.upper()) + 1
            raise UnitError(f"{field}: {value!r} lacks the byte unit; write '{m.group(1)}{p}iB' ({m.group(1)} x "
                            f"2^{10 * k} bytes, what nccl-tests' {value} means) or '{m.group(1)}{p}B' "
                            f"({m.group(1)} x 10^{3 * k} bytes)")
        raise UnitError(f"{field}: unknown unit {unit!r} in {value!r}; use e.g. {_hint(dimension)}")
    dim, factor = found
    if dimension is not None and dimension != "number" and dim != dimension:
        raise UnitError(
            f"{field}: {value!r} is a {dim}, expected a {dimension} (in {DIMENSIONS.get(dimension, '?')})"
        )
    if not math.isfinite(number * factor):
        raise UnitError(f"{field}: {value!r} is too large; expected a finite number")
    return number * factor


def parse_positive(value: object, dimension: str | None = None, field: str = "value",
                   require_unit: bool = False) -> float:
    """Like :func:`parse_quantity` but the result must be > 0."""
    v = parse_quantity(value, dimension, field, require_unit)
    if not v > 0:
        raise UnitError(f"{field}: must be > 0, got {value!r}")
    return v


def format_bytes(n: float) -> str:
    """Format a byte count the way nccl-tests users read it (binary prefixes): ``64MiB``."""
    for unit, f in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= f and float(n / f).is_integer():
            return f"{int(n // f)}{unit}"
    for unit, f in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= f:
            return f"{n / f:.3g}{unit}"
    return f"{int(n)}B" if float(n).is_integer() else f"{n:.3g}B"


#: most sizes a START:STOP range may expand to (a typo such as x1.0001 would otherwise exhaust memory)
MAX_RANGE_POINTS = 10_000


def _at_least_a_byte(v: float, text: str, field: str) -> float:
    """``v`` (bytes), or a UnitError: a message of less than one byte (``0.5B``) printed as a 0-byte row."""
    if v < 1:
        raise UnitError(f"{field}: {text!r} is less than one byte; messages are at least 1B")
    return v


def is_bare_number(text: str) -> bool:
    """Whether ``text`` is a number with no unit (``"4"``, ``"0.5"``)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_size_range(text: str, field: str = "sizes", require_unit: bool = False) -> list[float]:
    """Parse a size list or range: ``"1KiB:4GiB"`` (x2 steps), ``"1KiB:1GiB:x4"``, ``"8MiB,64MiB"``.

    Returns byte counts (floats). A range ``A:B[:xF|:+S]`` goes from A to B inclusive, multiplying by F
    (default 2) or adding S.
    """
    text = str(text).strip()
    if "," in text:
        return [v for part in text.split(",") for v in parse_size_range(part, field, require_unit)]
    if ":" not in text:
        return [_at_least_a_byte(parse_positive(text, "size", field, require_unit), text, field)]
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise UnitError(f"{field}: range {text!r} must be START:STOP or START:STOP:xFACTOR or START:STOP:+STEP")
    lo = _at_least_a_byte(parse_positive(parts[0], "size", field, require_unit), parts[0], field)
    hi = parse_positive(parts[1], "size", field, require_unit)
    if hi < lo:
        raise UnitError(f"{field}: range {text!r} ends before it starts")
    step = parts[2] if len(parts) == 3 else "x2"
    out = []
    if step.startswith("x"):
        f = parse_quantity(step[1:], "number", field)
        if not f > 1:
            raise UnitError(f"{field}: factor in {text!r} must be > 1")
        if math.log(hi / lo) / math.log(f) + 1 > MAX_RANGE_POINTS:
            raise UnitError(f"{field}: range {text!r} has more than {MAX_RANGE_POINTS} sizes; use a larger factor")
        v = lo
        while v <= hi * (1 + 1e-12):
            out.append(v)
            v *= f
    else:
        bare = is_bare_number(step.lstrip("+"))
        hint = f" (a step without x adds bytes; x{step.lstrip('+')} multiplies, as nccl-tests' -f)" if bare else ""
        if bare and require_unit:  # `1KiB:1GiB:4` meant x4 (nccl-tests -f 4) and ran as +4 bytes
            raise UnitError(f"{field}: step {step!r} of range {text!r} has no unit; write x{step.lstrip('+')} to "
                            f"multiply (nccl-tests -f) or +{step.lstrip('+')}KiB to add")
        s = parse_positive(step.lstrip("+"), "size", field)
        if (hi - lo) / s + 1 > MAX_RANGE_POINTS:
            raise UnitError(f"{field}: range {text!r} has more than {MAX_RANGE_POINTS} sizes; use a larger step{hint}")
        v = lo
        while v <= hi * (1 + 1e-12):
            out.append(v)
            v += s
    return out
