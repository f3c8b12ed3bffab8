"""All-port collectives on the published Maia 200 design: ring / hier / multirail all-reduce of 1 GiB on
an 8-chip (2 trays), a 64-chip and the 6,144-chip group; simulated time (calibrated default and physics,
``ideal=True``), the schedule's alpha-beta bound and the multirail record's closed form (its all-ports
bound, per-class bandwidths read from the fabric). Prints the table of docs/maia200.md.

Usage: python bench/maia200_collectives.py [--preset maia200] [--size 1GiB]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

# bench/collectives.py is named like the package: drop bench/ from the path so `import collectives` finds it
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import collectives as C  # noqa: E402
import topo  # noqa: E402
from collectives.algorithms import REGISTRY  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="maia200")
    ap.add_argument("--size", default="1GiB")
    ap.add_argument("--groups", default="8,64,6144")
    a = ap.parse_args()
    fab = topo.load(a.preset)
    S = C.size_bytes(a.size)
    print(f"{a.preset}, all-reduce of {a.size}; times in ms")
    print("| group | algorithm | time (calibrated) | time (ideal) | bound (schedule) | closed form (all-ports) | wall s |")
    print("|---|---|---|---|---|---|---|")
    for n in (int(x) for x in a.groups.split(",")):
        g = np.arange(n)
        auto = C.all_reduce(fab, S, g, stats=False)
        for alg in ("ring", "hier", "multirail", "auto"):
            t0 = time.time()
            name = auto.algorithm if alg == "auto" else alg
            r = auto if alg == "auto" else C.all_reduce(fab, S, g, alg, stats=False)
            opts = dict(r.schedule.params)
            ri = C.all_reduce(fab, S, g, name, ideal=True, stats=False, **opts)
            cf = ""
            if name == "multirail":
                rec = REGISTRY[("all_reduce", "multirail")]
                cf = f"{rec.closed_form(n, S, 0.0, 0.0, **opts, **rec.closed_form_params(fab, g)) * 1e3:.3f}"
            label = f"auto = {name}" + (f" (chunks={opts['chunks']})" if name == "multirail" else "") if alg == "auto" \
                else alg
            print(f"| {n} | {label} | {r.time * 1e3:.3f} | {ri.time * 1e3:.3f} | {ri.bound * 1e3:.3f} | {cf} | "
                  f"{time.time() - t0:.1f} |", flush=True)


if __name__ == "__main__":
    main()
