"""Canonical forms shared by sweep specs and jobs (the bottom of the sweep package: imports nothing from it).

:func:`canonical` is the text a point's id hashes; ``sweep.spec`` (ids) and ``sweep.jobs`` (fabric cache
keys) both use it, so it lives here and the two modules import one way: ``spec -> jobs -> _canon``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def _intify(v: float) -> int | float:
    """A float that is an integer as an int (sizes print and hash as ``1048576``, not ``1048576.0``)."""
    return int(v) if float(v).is_integer() and abs(v) < 2**63 else v


def canonical(job: str, params: Mapping[str, Any]) -> str:
    """Canonical JSON text of a point (sorted keys, exact float repr): what its id hashes."""

    def norm(v: Any) -> Any:
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            if v.is_integer() and math.isfinite(v) and abs(v) < 2**53:
                return int(v)
            return v
        if hasattr(v, "item"):  # numpy scalars
            return norm(v.item())
        if isinstance(v, Mapping):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [norm(x) for x in v]
        return str(v)

    return json.dumps({"job": job, "params": norm(dict(params))}, sort_keys=True, separators=(",", ":"))
