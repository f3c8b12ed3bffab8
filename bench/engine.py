"""Benchmark of the contention engine (traffic/): wall time and peak memory per case.

    python bench/engine.py            # every row, each in its own process (peak memory per row)
    python bench/engine.py --row a2a_full
    python bench/engine.py --fabric maia200-16plane   # the fabric docs/engine.md's table was measured on

Rows (targets on a 2-core machine, from issue 3):
  ring_alloc   one max-min allocation for the 6,144-flow ring on maia200 (routing + solve)   < 0.1 s
  perm_*       6,144-chip random permutation, unequal sizes, to completion; ecmp / hash / explicit paths
  simgrid      the same flows and explicit paths in SimGrid (CM02, no cross-traffic), side by side
  a2a_grouped  uniform all-to-all, 37.7 M pairs, solved as structural classes                  < 1 s
  a2a_full     the same with every flow split evenly over its ECMP paths              < 15 s, < 4 GiB
  rand512_*    1,000 random flows (unequal sizes and starts) on 512-chip fabrics               < 0.5 s
Times exclude loading the fabric and numba's one-off cache load (a warm-up call); the structure detection
of a fabric (once per fabric) is its own row. Peak RSS is the whole process (interpreter + fabric + engine).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

ROWS = ["structure", "ring_alloc", "ring_run", "perm_ecmp", "perm_hash", "perm_paths", "simgrid", "a2a_grouped",
        "a2a_full", "rand512_maia", "rand512_torus"]
TARGETS = {"ring_alloc": "< 0.1 s", "a2a_grouped": "< 1 s", "a2a_full": "< 15 s, < 4 GiB",
           "rand512_maia": "< 0.5 s", "rand512_torus": "< 0.5 s", "perm_paths": "<= SimGrid"}


def rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def warm() -> None:
    """Load numba's cached kernels on a tiny problem (one-off per process, not engine time)."""
    import topo
    import traffic

    fab = topo.load("maia200", chips=64)
    traffic.simulate_arrays(fab, np.arange(8), np.arange(8)[::-1].copy(), 1e6)
    traffic.simulate_arrays(fab, np.arange(8), np.arange(8)[::-1].copy(), 1e6, routing="hash")
    traffic.uniform_all_to_all(fab, 1e3, grouped=False)
    traffic.uniform_all_to_all(fab, 1e3, grouped=True)
    s, d = traffic.patterns.all_to_all(64)
    traffic.simulate_steps(fab, [traffic.Step(s, d, 1e3)])


def perm_flows(n: int = 6144, seed: int = 1):
    import traffic

    src, dst = traffic.patterns.permutation(n, seed=seed)
    size = np.round(traffic.patterns.sizes(n, 32 * 2**20, spread=0.9, seed=seed))  # 3.2-61 MiB, whole bytes
    return src, dst, size


def row(name: str, fabric: str = "maia200") -> dict:
    import topo
    import traffic
    from traffic.maxmin import _solve
    from traffic.structure import structure, structured_problem

    out: dict = {"row": name}
    t = time.perf_counter()
    if name.startswith("rand512"):
        fab = topo.load(fabric, chips=512) if name.endswith("maia") else topo.load("torus-8x8", dims=[8, 8, 8])
    else:
        fab = topo.load(fabric)
    out["load_s"] = time.perf_counter() - t
    warm()
    if name != "structure":
        structure(fab)
    base = rss_gib()
    t = time.perf_counter()
    if name == "structure":
        st = structure(fab)
        out["note"] = f"two-tier structure {'found' if st else 'absent'}: {len(st.col_cap) if st else 0} link columns"
    elif name == "ring_alloc":
        n = fab.n_chips
        src = np.arange(n)
        dst = (src + 1) % n
        p = structured_problem(fab, src, dst, "ecmp", 0)
        rate, _ = _solve(p.indptr, p.indices, p.data, p.col_cap, np.ones(n), np.arange(n))
        out["note"] = f"rates {rate.min() / 1e9:.1f}..{rate.max() / 1e9:.1f} GB/s"
    elif name == "ring_run":
        n = fab.n_chips
        r = traffic.simulate_arrays(fab, np.arange(n), (np.arange(n) + 1) % n, 64 * 2**20)
        out["note"] = f"64 MiB each, makespan {r.makespan * 1e6:.1f} us"
    elif name in ("perm_ecmp", "perm_hash", "perm_paths"):
        src, dst, size = perm_flows()
        if name == "perm_paths":
            paths = _hash_paths(fab, src, dst)
            t = time.perf_counter()
            r = traffic.simulate_arrays(fab, src, dst, size, paths=paths)
            out["paths_s"] = time.perf_counter() - t
        else:
            r = traffic.simulate_arrays(fab, src, dst, size, routing="ecmp" if name == "perm_ecmp" else "hash")
        out["note"] = f"makespan {r.makespan * 1e6:.1f} us, {r.events} allocation events"
        out["finish"] = r.finish.tolist() if name == "perm_paths" else None
    elif name == "simgrid":
        return _simgrid(fab, out)
    elif name == "a2a_grouped":
        r = traffic.uniform_all_to_all(fab, 2**20, grouped=True)
        out["note"] = f"1 MiB per pair, {r.time * 1e6:.1f} us, {r.meta.get('rows')} classes"
    elif name == "a2a_full":
        r = traffic.uniform_all_to_all(fab, 2**20, grouped=False)
        out["note"] = f"1 MiB per pair, {r.time * 1e6:.1f} us, every pair a flow (37.7 M)"
    elif name.startswith("rand512"):
        rng = np.random.default_rng(3)
        src = rng.integers(0, 512, 1000)
        dst = (src + rng.integers(1, 512, 1000)) % 512
        size = rng.uniform(0.1, 2.0, 1000) * 2**20
        start = rng.uniform(0, 20e-6, 1000)
        r = traffic.simulate_arrays(fab, src, dst, size, start=start)
        out["note"] = f"{fab.name}: makespan {r.makespan * 1e6:.1f} us, {r.events} allocation events"
    out["wall_s"] = time.perf_counter() - t
    out["peak_gib"] = rss_gib()
    out["base_gib"] = base
    return out


def _hash_paths(fab, src, dst):
    """One ECMP path per flow by the engine's hash (seed 0), as node lists: the flows SimGrid gets."""
    from traffic.routing import _hash_with_index

    ip, ix, _, _ = _hash_with_index(fab, src, dst, np.arange(len(src)), 0)
    paths = []
    for i in range(len(src)):
        e = ix[ip[i]:ip[i + 1]]
        paths.append([fab.nodes[int(src[i])]] + [fab.nodes[int(v)] for v in fab.edge_dst[e]])
    return paths


def _simgrid(fab, out: dict) -> dict:
    exe = "/usr/bin/python3"
    probe = subprocess.run([exe, "-c", "import simgrid"], capture_output=True) if os.path.exists(exe) else None
    if probe is None or probe.returncode != 0:
        out["note"] = "skipped: SimGrid not found (apt-get install python3-simgrid, for /usr/bin/python3)"
        return out
    from traffic.routing import _hash_with_index

    src, dst, size = perm_flows()
    ip, ix, _, _ = _hash_with_index(fab, src, dst, np.arange(len(src)), 0)
    used = np.unique(ix)
    spec = {"hosts": fab.n_chips, "links": [[int(e), float(fab.edge_capacity[e])] for e in used],
            "flows": [[int(src[i]), int(dst[i]), int(size[i]), ix[ip[i]:ip[i + 1]].tolist()]
                      for i in range(len(src))]}
    tmp = tempfile.mkdtemp(prefix="scaleup_sg_")
    try:
        fin, fout = os.path.join(tmp, "flows.json"), os.path.join(tmp, "out.json")
        json.dump(spec, open(fin, "w"))
        t = time.perf_counter()
        subprocess.run([exe, os.path.join(HERE, "simgrid_flows.py"), fin, fout], capture_output=True, check=True)
        out["wall_s"] = time.perf_counter() - t
        res = json.load(open(fout))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["finish"] = res["finish"]
    out["note"] = (f"SimGrid {res['total_s']:.2f} s in-process (platform {res['load_s']:.2f} s, "
                   f"solve {res['run_s']:.2f} s)")
    out["peak_gib"] = None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--row", choices=ROWS)
    ap.add_argument("--fabric", default="maia200",
                    help="the two-tier fabric of every row but the torus one (default maia200; docs/engine.md's "
                         "table: maia200-16plane)")
    a = ap.parse_args()
    if a.row:
        print(json.dumps(row(a.row, a.fabric)))
        return
    print(f"scaleup engine bench on {a.fabric}: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          "(other work on the machine slows these figures)")
    print(f"{'row':<14} {'wall (s)':>9} {'peak RSS (GiB)':>15} {'target':>16}  note")
    # numba compiles each kernel signature once and caches it on disk; a first pass over the cheap rows
    # pays that one-off cost here, so the timed rows below measure the engine, not the compiler.
    t = time.perf_counter()
    for name in ROWS:
        if name not in ("a2a_full", "simgrid"):
            subprocess.run([sys.executable, __file__, "--row", name, "--fabric", a.fabric], capture_output=True,
                           text=True)
    print(f"{'(warm-up)':<14} {time.perf_counter() - t:>9.3f} {'':>15} {'':>16}  untimed pass: numba compile "
          "(first run on a machine) or cache load, plus the fabric loads")
    results = {}
    for name in ROWS:
        p = subprocess.run([sys.executable, __file__, "--row", name, "--fabric", a.fabric], capture_output=True,
                           text=True)
        if p.returncode != 0:
            print(f"{name:<14} failed: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}")
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        results[name] = r
        wall = r.get("wall_s")
        peak = r.get("peak_gib")
        print(f"{name:<14} {wall if wall is not None else float('nan'):>9.3f} "
              f"{peak if peak is not None else float('nan'):>15.2f} {TARGETS.get(name, ''):>16}  {r.get('note', '')}")
    a_, b_ = results.get("perm_paths", {}).get("finish"), results.get("simgrid", {}).get("finish")
    if a_ and b_:
        a_, b_ = np.asarray(a_), np.asarray(b_)
        rel = np.abs(a_ - b_) / np.maximum(np.abs(b_), 1e-30)
        print(f"scaleup vs SimGrid on the same flows and paths: finish times differ by at most {rel.max():.2e} "
              f"(median {np.median(rel):.2e}) relative; speed ratio SimGrid / scaleup = "
              f"{results['simgrid']['wall_s'] / results['perm_paths']['wall_s']:.1f}x (scaleup timed with path "
              "validation; SimGrid including its platform build and interpreter start)")


if __name__ == "__main__":
    main()
