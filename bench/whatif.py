"""What-if speed (issue 13): a fault scenario on 6,144 chips vs the healthy run, and a 100-sample Monte Carlo.

Targets: one fault scenario costs at most 2x the healthy run; a 100-sample Monte Carlo of a 768-group
all-reduce under random faults finishes in under 60 s. Prints a table (wall seconds, this machine).

    python bench/whatif.py
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]  # bench/collectives.py shadows the package

import collectives  # noqa: E402
import topo  # noqa: E402
from fleet.whatif import collective_monte_carlo  # noqa: E402


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def main() -> None:
    fab = topo.load("maia200")
    rows = []
    scenarios = [
        ("plane:3", ["plane:3"]),
        ("one cable", ["cable:c100-p1.leaf2"]),
        ("one leaf switch", ["switch:p0.leaf7"]),
    ]
    for label, k, size in (("768 groups x 8, 256MiB", 8, "256MiB"), ("96 groups x 64, 256MiB", 64, "256MiB")):
        groups = fab.groups(k)
        ops = [collectives.AllReduce(size, g) for g in groups]
        collectives.run(ops, fab)  # warm (numba, caches)
        res, t_h = timed(collectives.run, ops, fab)
        healthy = max(r.time for r in res)
        for name, flt in scenarios:
            (f, t_f0) = timed(fab.with_faults, flt)
            res, t_f = timed(collectives.run, ops, f)
            rows.append((label, name, healthy, max(r.time for r in res), t_h, t_f0 + t_f))
    print(f"{'workload (maia200, 6,144 chips)':<28} {'fault':<16} {'healthy us':>11} {'faulted us':>11} "
          f"{'healthy s':>10} {'faulted s':>10} {'ratio':>6}")
    for label, name, h, f, th, tf in rows:
        print(f"{label:<28} {name:<16} {h * 1e6:>11.1f} {f * 1e6:>11.1f} {th:>10.2f} {tf:>10.2f} {tf / th:>6.2f}")
    mc, t = timed(lambda: collective_monte_carlo("all_reduce", fab, "256MiB", 8, samples=100, seed=0))
    d = mc.to_dict()
    print(f"\nMonte Carlo, 100 samples, all-reduce 256MiB over 768 groups of 8 at once, default failure rates: "
          f"{t:.1f} s wall")
    print(f"  healthy {mc.healthy * 1e6:.1f} us, P50 {d['p50'] * 1e6:.1f} us, P99 {d['p99'] * 1e6:.1f} us, "
          f"availability {d['availability']:.0%}, mean failed parts {d['mean_failed_parts']}")
    mc, t = timed(lambda: collective_monte_carlo("all_reduce", fab, "256MiB", 8, samples=100, seed=0, scale=10))
    d = mc.to_dict()
    print(f"Monte Carlo, same, failure rates x10: {t:.1f} s wall; P50 {d['p50'] * 1e6:.1f} us, "
          f"P99 {d['p99'] * 1e6:.1f} us, availability {d['availability']:.0%}, "
          f"groups lost P50 {np.nanmedian(mc.extra['groups_lost']):.0f}")


if __name__ == "__main__":
    main()
