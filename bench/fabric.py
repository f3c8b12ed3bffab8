"""Benchmark: build the 6,144-chip Maia 200 fabric, summarise it, route a ring and a permutation, all-to-all.

Prints a table of wall time and CPU time (s) and memory (MiB) per step. Memory: the process's peak resident set size
after the step (``resource.getrusage``, includes the interpreter and imports), and the step's own peak of
traced allocations (``tracemalloc``, numpy included) measured in a second, traced pass (tracing slows
Python code, so times come from the untraced pass). Target on a 2-core machine: under 3 s and 1 GiB total for
build, summary and routes; build + a 1 GiB all-to-all over every chip under 5 s (issue 16; the last row is
``collectives.all_to_all(fab, 1 GiB)``, algorithm auto, run once, numba kernels loaded from the cache).

Usage: python bench/fabric.py [--fabric maia200] [--seed 0]   (--fabric maia200-16plane: the earlier assumption)
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
import tracemalloc

import numpy as np

# bench/collectives.py sits beside this file: keep this directory from shadowing the collectives package
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]


def _rss_mib() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20


def steps(name: str, seed: int):
    import topo
    from topo.summary import summarize

    state: dict = {}

    def build():
        state["fab"] = topo.load(name)
        return f"{state['fab'].n_chips} chips, {state['fab'].n_edges} directed edges"

    def summary():
        s = summarize(state["fab"])
        return f"bisection {s['bisection_bandwidth'] / 1e12:.1f} TB/s, diameter {s['diameter_hops']} hops"

    def ring():
        n = state["fab"].n_chips
        r = state["fab"].routes(np.arange(n), (np.arange(n) + 1) % n)
        return f"{r.n_pairs} flows, {r.n_paths} paths, {len(r.path_edges)} edge entries"

    def perm():
        n = state["fab"].n_chips
        p = np.random.default_rng(seed).permutation(n)
        r = state["fab"].routes(np.arange(n), p)
        return f"{r.n_pairs} flows, {r.n_paths} paths, {len(r.path_edges)} edge entries"

    def all_to_all():
        import collectives

        r = collectives.all_to_all(state["fab"], 2**30)
        return f"1 GiB per rank, {r.algorithm} ({r.mode}), simulated {r.time * 1e3:.3f} ms"

    return [("build " + name, build), ("summary", summary), ("routes: ring", ring),
            ("routes: random permutation", perm), ("all-to-all 1 GiB, all chips", all_to_all)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fabric", default="maia200")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t_import = time.perf_counter()
    import topo  # noqa: F401

    t_import = time.perf_counter() - t_import
    rows = []
    total = 0.0
    total_cpu = 0.0
    for label, fn in steps(args.fabric, args.seed):
        gc.collect()
        t = time.perf_counter()
        c = time.process_time()
        note = fn()
        dt = time.perf_counter() - t
        dc = time.process_time() - c
        total += dt
        total_cpu += dc
        rows.append([label, dt, dc, _rss_mib(), note])
    # second pass with tracemalloc for per-step allocation peaks
    traced = []
    tracemalloc.start()
    for _label, fn in steps(args.fabric, args.seed):
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        traced.append((tracemalloc.get_traced_memory()[1] - base) / 2**20)
    tracemalloc.stop()
    print(f"scaleup bench/fabric.py  fabric={args.fabric}  (import topo: {t_import:.2f} s)")
    print(f"{'step':<28} {'wall (s)':>9} {'cpu (s)':>8} {'peak RSS (MiB)':>15} {'step alloc peak (MiB)':>22}  notes")
    for (label, dt, dc, rss, note), tm in zip(rows, traced):
        print(f"{label:<28} {dt:>9.3f} {dc:>8.3f} {rss:>15.0f} {tm:>22.0f}  {note}")
    print(f"{'total (untraced pass)':<28} {total:>9.3f} {total_cpu:>8.3f} {rows[-1][3]:>15.0f}")
    print(f"{'build + all-to-all':<28} {rows[0][1] + rows[-1][1]:>9.3f} {rows[0][2] + rows[-1][2]:>8.3f}"
          f"{'':>16} target < 5 s")
    print("wall > cpu means the process waited (other processes on the 2 cores, page faults).")


if __name__ == "__main__":
    main()
