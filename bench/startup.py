"""Start-up time of the ``scaleup`` command, measured as a process (hyperfine-like).

Run: ``python bench/startup.py [--runs N]``. Each case runs once untimed (warms the OS file cache and the
numba on-disk cache), then N times; the table prints the median, min and max wall time of the whole
process. The command is the ``scaleup`` console script next to this interpreter (no pyenv shim), or
``python -c 'from cli import main; main()'`` when that script is absent.

Targets (issue 14): ``scaleup --help`` <= 0.25 s; an 8-GPU all-reduce on ``dgx-h100`` at one size
<= 0.5 s with a warm numba cache. ``python -c pass`` is printed as the floor (interpreter start-up). The
``cpu s`` column (user + system time of the process) is less sensitive to other load on the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

CASES = [
    ("python -c pass (floor)", None, [sys.executable, "-c", "pass"]),
    ("scaleup --help", 0.25, ["--help"]),
    ("scaleup collective --help", 0.25, ["collective", "--help"]),
    ("scaleup topo list", None, ["topo", "list"]),
    ("scaleup topo show dgx-h100", None, ["topo", "show", "dgx-h100"]),
    ("collective all-reduce dgx-h100 8 ranks 1MiB", 0.5,
     ["collective", "all-reduce", "--fabric", "dgx-h100", "--group-size", "8", "--sizes", "1MiB"]),
]


def scaleup_argv() -> list[str]:
    """The argv prefix that starts ``scaleup`` without any shell shim in front of it."""
    script = os.path.join(os.path.dirname(sys.executable), "scaleup")
    if os.path.isfile(script):
        return [sys.executable, script]
    found = shutil.which("scaleup")
    if found and not found.endswith("/shims/scaleup"):
        return [found]
    return [sys.executable, "-c", "from cli import main; main()"]


def time_once(argv: list[str]) -> tuple[float, float]:
    """(wall s, CPU s = user + system) of one run of ``argv`` (output discarded); raises when it fails.
    CPU time is what the process itself needs: on a loaded machine wall time also counts waiting."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-300:]}")
    return dt, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="timed runs per case (median reported)")
    args = ap.parse_args()
    prefix = scaleup_argv()
    print(f"# {args.runs} runs per case after one warm-up; command: {' '.join(prefix)}")
    print(f"# load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'case':<46} {'median s':>9} {'min s':>7} {'max s':>7} {'cpu s':>7} {'target s':>9}  ok")
    for name, target, argv in CASES:
        full = argv if argv[0] == sys.executable else prefix + argv
        time_once(full)
        runs = [time_once(full) for _ in range(args.runs)]
        times = [w for w, _ in runs]
        med = statistics.median(times)
        cpu = statistics.median(c for _, c in runs)
        ok = "" if target is None else ("yes" if med <= target else "NO")
        tgt = "-" if target is None else f"{target:.2f}"
        print(f"{name:<46} {med:9.3f} {min(times):7.3f} {max(times):7.3f} {cpu:7.3f} {tgt:>9}  {ok}")


if __name__ == "__main__":
    main()
