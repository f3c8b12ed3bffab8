"""Throughput of the sweep runner: points per second for a 1,000-point collective sweep.

Run: ``python bench/sweep.py [--points 1000] [--fabric maia200-small]``. Prints a table: runner,
workers, points, wall time (s), points per second, fabric builds. Rows:

- ``overhead``: a job that does nothing (the runner's own cost per point: expansion, IPC, journal,
  compaction) - an upper bound on throughput;
- ``collective``: all-reduce over group sizes (8-64), algorithms (ring, hd, hier, direct) and message
  sizes (1-63 MiB) on the 384-chip Maia 200 slice ``maia200-small``, the way a user sweeps (1,008 points), on 2 local
  worker processes; ``--all`` adds 1 worker (in process) and a 2-worker Dask LocalCluster.

Figures depend on the machine and its load: on a shared 2-core box they are a lower bound.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from sweep import expand_points, register_job, run_sweep  # noqa: E402


def noop(params: dict) -> dict:
    """The cheapest job: measures the runner, not the model."""
    return {"x": 1.0}


register_job("bench_noop", noop)


def collective_spec(n_points: int, fabric: str) -> dict:
    """A realistic all-reduce sweep of about ``n_points`` points: group x algorithm x message size."""
    groups = [8, 16, 32, 64]
    algos = ["ring", "hd", "hier", "direct"]
    per = max(1, math.ceil(n_points / (len(groups) * len(algos))))
    return {
        "job": "collective",
        "params": {"fabric": fabric, "collective": "all_reduce"},
        "grid": {"group": groups, "algorithm": algos, "size": f"1MiB:{per}MiB:+1MiB"},
    }


def run(label: str, spec: dict, workers: int | None, scheduler=None) -> tuple:
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "r.parquet")
        t = time.perf_counter()
        res = run_sweep(spec, out, workers=workers, scheduler=scheduler, progress=False)
        dt = time.perf_counter() - t
        failed = res.failed
    return label, "dask" if scheduler else ("in-process" if workers == 1 else "processes"), workers, res.total, dt, res.total / dt, failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--fabric", default="maia200-small")
    ap.add_argument("--all", action="store_true", help="also 1 worker and a 2-worker Dask LocalCluster")
    args = ap.parse_args()

    noop_spec = {"job": "bench_noop", "grid": {"i": list(range(args.points))}}
    coll = collective_spec(args.points, args.fabric)
    n_coll = len(expand_points(coll))
    rows = [run("overhead (no-op job)", noop_spec, 1), run("overhead (no-op job)", noop_spec, 2)]
    try:
        import collectives

        have = hasattr(collectives, "all_reduce")
    except ImportError:
        have = False
    if have:
        if args.all:
            rows.append(run(f"collective, {args.fabric}", coll, 1))
        rows.append(run(f"collective, {args.fabric}", coll, 2))
        if args.all:
            from distributed import Client, LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, Client(cl) as c:
                rows.append(run(f"collective, {args.fabric}", coll, 2, scheduler=c))
    else:
        print(f"(collectives.all_reduce not available: skipping the {n_coll}-point collective sweep)")

    print(f"{'job':34s} {'runner':>11s} {'workers':>7s} {'points':>7s} {'wall s':>8s} {'points/s':>9s} {'failed':>6s}")
    for label, runner, w, n, dt, rate, failed in rows:
        print(f"{label:34s} {runner:>11s} {w:7d} {n:7d} {dt:8.2f} {rate:9.1f} {failed:6d}")
    print(f"(cpu count {os.cpu_count()}; measured on a shared machine: treat as lower bounds)")


if __name__ == "__main__":
    main()
