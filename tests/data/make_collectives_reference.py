"""Write tests/data/collectives_reference.json: nccl-tests-style rows of every registered algorithm.

The reference of issue #19 (the algorithms package split): every (collective, algorithm) with default
options, plus ``auto``, on dgx-h100, maia200-small and torus-8x8, for a few group sizes (powers of two and
not) and message sizes (small, odd, large). Each row stores time, algbw, busbw and bound as ``repr`` of
the float (exact), or the one-line error a user gets when the algorithm does not apply.

The committed file was written by the tree just before the split into ``collectives/algorithms/`` (commit
b19de2c, a worktree of it at /tmp/scaleup-ref)::

    PYTHONPATH=/tmp/scaleup-ref python3 tests/data/make_collectives_reference.py [out.json]

Regenerate it (with the current tree) only for a change that is meant to alter simulated times, e.g. in
the engine, and say so in the commit.

:func:`rows` is also what ``tests/test_collectives_reference.py`` recomputes and compares bit for bit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: (fabric preset, group sizes): first k ranks of each fabric
CASES = (("dgx-h100", (6, 8)), ("maia200-small", (12, 16)), ("torus-8x8", (6, 16)))
#: bytes: a small (latency-bound) message and a large, odd one (bandwidth-bound)
SIZES = (1000.0, 2.0**28 + 8)
#: run options of every call: the physics alone (no calibrated communication-software model)
RUN_OPTS: dict[str, Any] = {"ideal": True}


def rows(run_opts: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One dict per (fabric, collective, algorithm, n, size): the result's figures or the error text."""
    import collectives as C
    import topo

    opts = dict(RUN_OPTS if run_opts is None else run_opts)
    out = []
    for fabric, group_sizes in CASES:
        fab = topo.load(fabric)
        for coll in C.COLLECTIVES:
            names = sorted(C.algorithms_for(coll)) + ["auto"]
            for k in (2,) if coll == "send_recv" else group_sizes:
                for name in names:
                    for size in SIZES:
                        row: dict[str, Any] = {"fabric": fabric, "collective": coll, "algorithm": name, "n": k,
                                               "size": repr(size)}
                        try:
                            r = C.collective(coll, fab, size, list(range(k)), name, **opts)
                        except topo.ScaleupError as exc:
                            row["error"] = f"{type(exc).__name__}: {exc}"
                        else:
                            row.update(ran=r.algorithm, mode=r.mode, time=repr(r.time), algbw=repr(r.algbw),
                                       busbw=repr(r.busbw), bound=repr(r.bound))
                        out.append(row)
    return out


def main(path: str | None = None) -> None:
    dest = Path(path) if path else Path(__file__).with_name("collectives_reference.json")
    data = rows()
    dest.write_text("[\n" + ",\n".join(json.dumps(row) for row in data) + "\n]\n")
    print(f"wrote {dest}: {len(data)} rows")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
