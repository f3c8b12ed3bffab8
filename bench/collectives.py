"""Benchmark of the collectives layer at 6,144 chips (maia200): wall time and peak memory.

Run: ``python bench/collectives.py`` (add ``--quick`` to skip the all-to-all). Prints a table. Each case
runs once to warm caches (numba compilation, fabric arrays), then is timed; peak memory is the largest
traced allocation (tracemalloc) during a second run. Targets (issue 4, 2 cores): ring < 0.5 s, hierarchical
< 0.2 s, auto < 2 s, all-to-all < 15 s, 768 concurrent 8-chip all-reduces < 2 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc

# this file is named collectives.py: keep its directory from shadowing the collectives package
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import collectives as C  # noqa: E402
import topo  # noqa: E402

GiB = 2**30


def cases(fab, quick: bool):
    out = [
        ("all-reduce ring 6,144 x 1 GiB", 0.5, lambda: C.all_reduce(fab, GiB, algorithm="ring")),
        ("all-reduce hier 6,144 x 1 GiB", 0.2, lambda: C.all_reduce(fab, GiB, algorithm="hier")),
        ("all-reduce hier_ml 6,144 x 1 GiB", None, lambda: C.all_reduce(fab, GiB, algorithm="hier_ml")),
        ("all-reduce auto 6,144 x 1 GiB", 2.0, lambda: C.all_reduce(fab, GiB, algorithm="auto")),
        ("768 x all-reduce ring 8 chips 1 GiB", 2.0,
         lambda: C.run([C.AllReduce(GiB, group=g, algorithm="ring") for g in fab.groups(8)], fab)[0]),
        ("768 x all-reduce auto 8 chips 1 GiB", 2.0,
         lambda: C.run([C.AllReduce(GiB, group=g) for g in fab.groups(8)], fab)[0]),
        ("all-to-all hier 6,144 x 1 GiB", 15.0, lambda: C.all_to_all(fab, GiB, algorithm="hier")),
    ]
    if not quick:
        out.append(("all-to-all direct 6,144 x 1 GiB", 15.0, lambda: C.all_to_all(fab, GiB, algorithm="direct")))
        out.append(("all-to-all auto 6,144 x 1 GiB", 15.0, lambda: C.all_to_all(fab, GiB, algorithm="auto")))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fabric", default="maia200")
    ap.add_argument("--quick", action="store_true", help="skip the 37.7 M-pair direct all-to-all cases")
    args = ap.parse_args()
    t0 = time.perf_counter()
    fab = topo.load(args.fabric)
    print(f"# fabric {fab.name}: {fab.n_chips} chips, loaded in {time.perf_counter() - t0:.2f} s")
    C.all_reduce(fab, 2**20, group=list(range(8)), algorithm="ring", mode="steps")  # numba warm-up
    C.all_reduce(fab, 2**20, group=list(range(8)), algorithm="ring", mode="exact")
    print(f"{'case':<38} {'wall (s)':>9} {'target (s)':>10} {'peak mem (MiB)':>15} {'sim time (us)':>14} "
          f"{'busbw (GB/s)':>12} {'algorithm':>10} {'mode':>6}")
    for name, target, fn in cases(fab, args.quick):
        fn()  # warm: routes, structure detection
        t = time.perf_counter()
        r = fn()
        wall = time.perf_counter() - t
        tracemalloc.start()
        fn()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        tgt = f"{target:.1f}" if target else "-"
        print(f"{name:<38} {wall:>9.3f} {tgt:>10} {peak / 2**20:>15.0f} {r.time * 1e6:>14.1f} "
              f"{r.busbw / 1e9:>12.1f} {r.algorithm:>10} {r.mode:>6}", flush=True)


if __name__ == "__main__":
    main()
