"""Random-input campaign for the engine (issue 18): hangs and errors per 1,000 valid cases, by class.

    python bench/fuzz.py --minutes 3            # the campaign; prints the table at the end
    python bench/fuzz.py --case 1234 --seed 0   # re-run one case in this process (prints its inputs)

Classes (cases are drawn in turn, each from its own seeded generator, so a case is reproducible by its index):
  traffic+deps    simulate_arrays on a tiny fabric of every builder, flows with random dependency shapes
  traffic         the same without dependencies (compiled batch kernels when method is numba)
  collectives     a random collective and algorithm on a small fabric or preset, sizes from 1 B up
  estimates       inference.estimate (token latency: ttft, tpot) on a preset, random parallelism and shape
Sizes are drawn with ties (one to three distinct values, the pattern that made hangs likely) or log-uniform.

Every case runs in a worker process; the parent gives each case ``--case-timeout`` seconds and counts one
that runs past it as a *hang* (then starts a fresh worker), so a hang is counted, not suffered. A typed
user error (a ScaleupError: an invalid combination the generator drew) counts as *refused*; any other
exception or a failed invariant (unfinished flow, bytes not conserved at a node, a link above capacity,
a non-finite or negative time) is an *error*. Target: 0 hangs and 0 errors.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# bench/ holds scripts named like the packages (collectives.py, inference.py): never import from it
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]
if ROOT not in sys.path:
    sys.path.append(ROOT)  # after the installed package, so PYTHONPATH can point at another engine

CLASSES = ["traffic+deps", "traffic", "collectives", "estimates"]
EFF = 4086 / 4150
SIZES = [0.0, 1.0, 8.0, 1024.0, 4259.0, 29523.0, 40805172.0, 8.0 * 2**20, 1e9 / 3]


# ----------------------------------------------------------------------------------------- generators
def _fabric(rng: np.random.Generator):
    import topo

    lat = [0.0, 3e-7][rng.integers(2)]
    eff = [1.0, EFF][rng.integers(2)]
    k = int(rng.integers(13))
    kw = dict(efficiency=eff)
    if k == 0:
        return topo.switch(chips=int(rng.integers(3, 53)), planes=int(rng.integers(1, 4)), bandwidth=1e9,
                           link_latency=lat, switch_latency=lat, **kw)
    if k == 1:
        return topo.switch(chips=8, tray_size=2, bandwidth=3e9, link_latency=lat, switch_latency=lat, **kw)
    if k == 2:
        return topo.two_tier(chips=8, tray_size=2, planes=1, switch_radix=4, link_latency=lat,
                             switch_latency=lat, **kw)
    if k == 3:
        return topo.two_tier(chips=[16, 32][rng.integers(2)], tray_size=4, planes=2, switch_radix=8,
                             link_latency=lat, switch_latency=lat, **kw)
    if k == 4:
        return topo.torus(dims=(int(rng.integers(2, 5)), int(rng.integers(2, 5))), link_bandwidth=1e9,
                          link_latency=lat, **kw)
    if k == 5:
        return topo.torus(dims=(2, 3, 2), wrap=False, link_latency=lat, **kw)
    if k == 6:
        return topo.clos(servers=int(rng.integers(2, 9)) * 4, chips_per_server=1, server_fabric="none",
                         leaf_radix=8, link_latency=lat, switch_latency=lat, **kw)
    if k == 7:
        return topo.clos(servers=4, chips_per_server=2, leaf_radix=4, link_latency=lat, server_latency=lat,
                         switch_latency=lat, rail_optimised=bool(rng.integers(2)), **kw)
    if k == 8:
        return topo.clos(servers=8, chips_per_server=2, leaf_radix=8, oversubscription=2, link_latency=lat,
                         switch_latency=lat, **kw)
    if k == 9:
        return topo.full_mesh(chips=int(rng.integers(3, 9)), link_latency=lat, **kw)
    if k == 10:
        return topo.full_mesh(chips=6, forwarding=True, two_hop=True, link_latency=lat, **kw)
    if k == 11:
        return topo.dragonfly(routers_per_group=2, chips_per_router=1, global_links_per_router=1,
                              link_latency=lat, global_latency=lat, switch_latency=lat, **kw)
    return topo.dragonfly(routers_per_group=2, chips_per_router=2, global_links_per_router=2, groups=3,
                          link_latency=lat, global_latency=lat, switch_latency=lat, **kw)


def _sizes(rng: np.random.Generator, n: int) -> np.ndarray:
    if rng.random() < 0.75:  # ties: one to three distinct sizes
        palette = rng.choice(SIZES, size=int(rng.integers(1, 4)))
        return palette[rng.integers(0, len(palette), n)]
    return np.exp(rng.uniform(0.0, np.log(1e9), n))


def _deps(rng: np.random.Generator, n: int) -> list[list[int]]:
    shape = ["chain", "layers", "random", "fan"][rng.integers(4)]
    pos: list[list[int]] = [[] for _ in range(n)]
    if shape == "chain":
        for i in range(1, n):
            pos[i] = [i - 1]
    elif shape == "layers":
        width = int(rng.integers(1, n))
        for i in range(width, n):
            lo = (i // width - 1) * width
            pos[i] = sorted(set(rng.integers(lo, min(lo + width, n), size=int(rng.integers(1, 3))).tolist()))
    elif shape == "random":
        for i in range(1, n):
            pos[i] = sorted(set(rng.integers(0, i, size=int(rng.integers(0, min(i, 3) + 1))).tolist()))
    else:
        for i in range(1, n - 1):
            pos[i] = [0]
        pos[n - 1] = list(range(1, n - 1)) or [0]
    perm = rng.permutation(n)
    deps: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        deps[int(perm[i])] = [int(perm[j]) for j in pos[i]]
    return deps


def traffic_case(rng: np.random.Generator, with_deps: bool) -> dict:
    fab = _fabric(rng)
    n = int(rng.integers(2 if with_deps else 1, 41))
    src = rng.integers(0, fab.n_chips, n)
    dst = rng.integers(0, fab.n_chips, n)
    if rng.random() < 0.8:
        dst = np.where(dst == src, (dst + 1) % fab.n_chips, dst)
    start = [np.zeros(n), np.array([0.0, 1e-6, 3e-6])[rng.integers(0, 3, n)], rng.random(n) * 1e-4][rng.integers(3)]
    return dict(fab=fab, src=src, dst=dst, size=_sizes(rng, n), start=start,
                deps=_deps(rng, n) if with_deps else None,
                routing=["ecmp", "hash", "ecmp-subflows"][rng.integers(3)], seed=int(rng.integers(10)),
                method=["numba", "numpy"][rng.integers(2)])


def run_traffic(case: dict) -> str:
    import traffic

    fab, src, dst, size = case["fab"], case["src"], case["dst"], case["size"]
    dep_ptr = dep_idx = None
    if case["deps"] is not None:
        dep_ptr = np.concatenate([[0], np.cumsum([len(d) for d in case["deps"]])]).astype(np.int64)
        dep_idx = np.array([j for d in case["deps"] for j in d], dtype=np.int64)
    method = case["method"] if traffic.HAVE_NUMBA else "numpy"
    r = traffic.simulate_arrays(fab, src, dst, size, case["start"], dep_ptr, dep_idx, routing=case["routing"],
                                seed=case["seed"], method=method)
    if not (np.isfinite(r.arrival).all() and np.isfinite(r.ready).all()):
        raise AssertionError("a flow never arrived")
    if (r.arrival < r.ready - 1e-12).any():
        raise AssertionError("a flow arrived before it was ready")
    moving = src != dst
    net = np.zeros(fab.n_nodes)
    np.add.at(net, src[moving], size[moving])
    np.subtract.at(net, dst[moving], size[moving])
    out = np.bincount(fab.edge_src, weights=r.link_bytes, minlength=fab.n_nodes)
    inn = np.bincount(fab.edge_dst, weights=r.link_bytes, minlength=fab.n_nodes)
    if not np.allclose(out - inn, net, rtol=0, atol=1e-9 * max(float(size.sum()), 1.0)):
        raise AssertionError("bytes not conserved at a node")
    if (r.link_peak > 1 + 1e-9).any():
        raise AssertionError(f"link above capacity: peak utilisation {float(r.link_peak.max())!r}")
    return f"makespan {r.makespan:.6g} s, {len(src)} flows, {r.events} events"


COLLECTIVE_PRESETS = ["torus-8x8", "tpu-v5p", "dgx-h100", "mi300x", "dragonfly-small", "gb200-nvl72"]
COLLECTIVE_SIZES = [1.0, 8.0, 1024.0, 4259.0, 2.0**20, 40805172.0, 8.0 * 2**20]


def collective_case(rng: np.random.Generator) -> dict:
    import collectives

    keys = sorted(collectives.ALGORITHMS)
    coll, alg = keys[rng.integers(len(keys))]
    fab = ("preset", COLLECTIVE_PRESETS[rng.integers(len(COLLECTIVE_PRESETS))]) if rng.random() < 0.5 \
        else ("random", int(rng.integers(2**31)))
    size = float(COLLECTIVE_SIZES[rng.integers(len(COLLECTIVE_SIZES))])
    if rng.random() < 0.3:
        size = float(np.exp(rng.uniform(0, np.log(1e9))))
    return dict(coll=coll, alg=alg, fab=fab, size=size, routing=["ecmp", "hash"][rng.integers(2)],
                mode=["auto", "exact", "steps"][rng.integers(3)])


def run_collective(case: dict) -> str:
    import collectives
    import topo

    kind, v = case["fab"]
    fab = topo.load(v) if kind == "preset" else _fabric(np.random.default_rng(v))
    r = getattr(collectives, case["coll"])(fab, case["size"], algorithm=case["alg"], routing=case["routing"],
                                           mode=case["mode"])
    if not (np.isfinite(r.time) and r.time > 0):
        raise AssertionError(f"time {r.time!r}")
    return f"time {r.time:.6g} s"


ESTIMATE_PRESETS = ["dgx-h100", "torus-8x8", "gb200-nvl72", "mi300x", "tpu-v5p"]


def estimate_case(rng: np.random.Generator) -> dict:
    import inference

    models = sorted(inference.MODELS)
    return dict(model=models[rng.integers(len(models))], fab=ESTIMATE_PRESETS[rng.integers(len(ESTIMATE_PRESETS))],
                tp=int([1, 2, 4, 8][rng.integers(4)]), batch=int([1, 8, 32, 128][rng.integers(4)]),
                prompt=int([16, 128, 2048, 8192][rng.integers(4)]), output=int([1, 16, 256][rng.integers(3)]))


def run_estimate(case: dict) -> str:
    import inference
    import topo

    r = inference.estimate(case["model"], topo.load(case["fab"]), tp=case["tp"], batch=case["batch"],
                           prompt=case["prompt"], output=case["output"])
    for k in ("ttft", "tpot", "latency"):
        v = getattr(r, k)
        if not (np.isfinite(v) and v > 0):
            raise AssertionError(f"{k} = {v!r}")
    return f"ttft {r.ttft:.6g} s, tpot {r.tpot:.6g} s"


def make_case(seed: int, i: int) -> tuple[str, dict]:
    cls = CLASSES[i % len(CLASSES)]
    rng = np.random.default_rng([seed, i])
    if cls == "traffic+deps":
        return cls, traffic_case(rng, True)
    if cls == "traffic":
        return cls, traffic_case(rng, False)
    if cls == "collectives":
        return cls, collective_case(rng)
    return cls, estimate_case(rng)


def run_case(cls: str, case: dict) -> str:
    if cls.startswith("traffic"):
        return run_traffic(case)
    if cls == "collectives":
        return run_collective(case)
    return run_estimate(case)


def classify(seed: int, i: int) -> tuple[str, str]:
    """Draw and run case ``i`` in this process: (status, detail), status one of ok / refused / error."""
    from topo import ScaleupError

    try:
        cls, case = make_case(seed, i)
        return "ok", run_case(cls, case)
    except ScaleupError as exc:
        return "refused", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - an internal error is what the campaign counts
        tb = traceback.format_exc(limit=-3).strip().splitlines()
        return "error", f"{type(exc).__name__}: {exc} | {' / '.join(tb[-3:])}"


# ---------------------------------------------------------------------------------------- processes
def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process, s; the wall clock where /proc is not available. A hang spins
    the CPU, so a limit in CPU seconds counts hangs the same on a loaded machine and an idle one."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            f = fh.read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.monotonic()


def worker(seed: int, first: int, stride: int) -> None:
    import collectives  # noqa: F401 - imports and numba's kernel load before the first timed case
    import inference  # noqa: F401
    import topo
    import traffic

    if traffic.HAVE_NUMBA:  # load the compiled kernels now, so that their load never counts against a case
        fab = topo.switch(chips=4, bandwidth=1e9)
        z = np.arange(4)
        traffic.simulate_arrays(fab, z, z[::-1].copy(), 1e3, method="numba")
        traffic.simulate_arrays(fab, z, z[::-1].copy(), 1e3, dep_ptr=np.array([0, 0, 1, 1, 1]),
                                dep_idx=np.array([0]), method="numba")
    print("READY", flush=True)
    i = first
    while True:
        cls = CLASSES[i % len(CLASSES)]
        print(json.dumps({"begin": i, "cls": cls}), flush=True)
        t0 = time.perf_counter()
        status, detail = classify(seed, i)
        print(json.dumps({"i": i, "cls": cls, "status": status, "s": time.perf_counter() - t0,
                          "detail": detail[:400]}), flush=True)
        i += stride


def campaign(minutes: float, seed: int, case_timeout: float, warm_timeout: float = 300.0) -> dict:
    counts = {c: {"cases": 0, "ok": 0, "refused": 0, "error": 0, "hang": 0} for c in CLASSES}
    failures: list[tuple[str, int, str, str]] = []
    t_end = time.monotonic() + minutes * 60
    nxt = 0
    while time.monotonic() < t_end:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", "--seed", str(seed),
                                 "--first", str(nxt)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                bufsize=1)
        current: tuple[int, str] | None = None
        deadline = time.monotonic() + warm_timeout
        cpu0 = 0.0
        buf = ""
        try:
            while True:
                now = time.monotonic()
                if current is None and now >= t_end:
                    break
                ready, _, _ = select.select([proc.stdout], [], [], 0.5)
                if not ready:
                    # a case is over its limit after case_timeout CPU seconds (or 5x that on the wall clock)
                    over = current is not None and cpu_seconds(proc.pid) - cpu0 > case_timeout
                    if over or time.monotonic() >= deadline:
                        if current is not None:  # the running case went past its time limit: a hang
                            i, cls = current
                            counts[cls]["cases"] += 1
                            counts[cls]["hang"] += 1
                            failures.append((cls, i, "hang", f"no answer in {case_timeout:g} CPU s"))
                            nxt = i + 1
                        break
                    if proc.poll() is not None:
                        break
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536).decode()
                if not chunk:  # the worker died (a crash counts as an error of its current case)
                    if current is not None:
                        i, cls = current
                        counts[cls]["cases"] += 1
                        counts[cls]["error"] += 1
                        failures.append((cls, i, "error", f"worker exited with {proc.wait()}"))
                        nxt = i + 1
                    break
                buf += chunk
                while "\n" in buf:
                    line, buf = buf.split("\n", 1)
                    if line == "READY":
                        deadline = time.monotonic() + 5 * case_timeout
                        continue
                    msg = json.loads(line)
                    if "begin" in msg:
                        current = (msg["begin"], msg["cls"])
                        deadline = time.monotonic() + 5 * case_timeout
                        cpu0 = cpu_seconds(proc.pid)
                    else:
                        c = counts[msg["cls"]]
                        c["cases"] += 1
                        c[msg["status"]] += 1
                        if msg["status"] == "error":
                            failures.append((msg["cls"], msg["i"], "error", msg["detail"]))
                        current = None
                        nxt = msg["i"] + 1
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    return {"counts": counts, "failures": failures, "next": nxt}


def table(res: dict, minutes: float, seed: int, case_timeout: float) -> str:
    rows = [f"scaleup fuzz campaign: {minutes:g} min, seed {seed}, {case_timeout:g} CPU s per case, "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
            f"{'class':<14}{'cases':>7}{'ok':>7}{'refused':>9}{'errors':>8}{'hangs':>7}"
            f"{'errors/1000':>13}{'hangs/1000':>12}"]
    tot = {"cases": 0, "ok": 0, "refused": 0, "error": 0, "hang": 0}
    for c in res["counts"].values():
        for k in tot:
            tot[k] += c[k]
    for cls, c in [*res["counts"].items(), ("all", tot)]:
        n = max(c["cases"], 1)
        rows.append(f"{cls:<14}{c['cases']:>7}{c['ok']:>7}{c['refused']:>9}{c['error']:>8}{c['hang']:>7}"
                    f"{1000 * c['error'] / n:>13.1f}{1000 * c['hang'] / n:>12.1f}")
    for cls, i, kind, detail in res["failures"][:20]:
        rows.append(f"  {kind}: {cls} case {i} (python bench/fuzz.py --case {i} --seed {seed}): {detail[:300]}")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0, help="campaign length (default 3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--case-timeout", type=float, default=20.0,
                    help="CPU seconds (5x that on the wall clock) before a case counts as a hang")
    ap.add_argument("--case", type=int, default=None, help="run this one case here and print it")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a.seed, a.first, 1)
        return
    if a.case is not None:
        cls, case = make_case(a.seed, a.case)
        print(cls, {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in case.items() if k != "fab"})
        print("fabric:", getattr(case["fab"], "name", case["fab"]))
        print(*classify(a.seed, a.case))
        return
    res = campaign(a.minutes, a.seed, a.case_timeout)
    print(table(res, a.minutes, a.seed, a.case_timeout))


if __name__ == "__main__":
    main()
