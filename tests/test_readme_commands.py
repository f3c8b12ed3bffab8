"""Every command of the README's fenced blocks runs, as CI would on a clean clone: from an empty temporary
directory, as a separate process, with the bundled fabrics and examples found by name (a file the README says
is the user's own, an nccl-tests log, is written there first). Large cases are made
small by the substitutions below (the 384-chip Maia 200 slice for the 6,144-chip fabric, one message size,
seconds of serving instead of minutes); every other word of the command is the README's. A README command
that no longer runs, or a new one that fails, fails this test."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (pattern, replacement), applied in order to each command line
SUBSTITUTIONS = [
    (r"(?<![-\w])maia200(?![-\w])", "maia200-small"),  # the 6,144-chip fabric -> its 384-chip slice (same design)
    (r"\bmaia200-16plane\b", "maia200-small"),
    (r"--group-size 6144\b", "--group-size 384"),
    (r"--sizes \S+", "--sizes 64MiB"),
    (r"--duration \d+\w*", "--duration 5s"),
    (r"(scaleup (?:serve|plan) .*)--rate \d+", r"\1--rate 2"),  # a few requests per simulation
    (r"(scaleup plan .*)", r"\1 --duration 5s --tp 8 --batch 32 --modes colocated"),
    (r"(scaleup collective all-\w+ (?!.*--sizes).*)", r"\1 --sizes 1MiB"),
    # no GPU and no torch here: the collector's numpy dry run on the host, two quick sections
    (r"(scaleup measure .*)", r"\1 --device cpu --backend numpy --kinds floor,elementwise --max-m 4 --repeats 1"),
    # the example sweep with 2 sizes instead of 11 (the same job, fabrics and algorithms)
    (r"scaleup sweep busbw-maia200-vs-gb200\b", "scaleup sweep {tmp}/busbw-small.yaml"),
]

SMALL_BUSBW = """job: collective
name: busbw-maia200-vs-gb200
params: {collective: all_reduce}
grid:
  - {fabric: gb200-nvl72, algorithm: [ring, inr], size: [1MiB, 64MiB]}
  - {fabric: maia200-small, group: 64, algorithm: [ring, hier], size: [1MiB, 64MiB]}
"""


def nccl_tests_log() -> str:
    """A stand-in for the user's own measurement file the README's ``scaleup calibrate`` line reads: an
    all_reduce_perf stdout of 8 GPUs (1 KiB to 1 GiB, 10 us + size / 300 GB/s), in nccl-tests' format."""
    lines = ["# ./build/all_reduce_perf -b 1K -e 1G -f 4 -g 8",
             "# nThread 1 nGpus 8 minBytes 1024 maxBytes 1073741824 step: 4(factor) warmup iters: 5 iters: 20",
             "#", "# Using devices"]
    lines += [f"#  Rank  {i} Group  0 Pid   1000 on host device  {i} [0x00] NVIDIA H100 80GB HBM3" for i in range(8)]
    lines += ["#", "#       size         count      type   redop    root     time   algbw   busbw #wrong     time   "
              "algbw   busbw #wrong",
              "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  "
              "(GB/s)"]
    size = 1024
    while size <= 2**30:
        t = 10 + size / 300e3  # us
        a = size / t / 1e3
        row = f"{t:8.2f}  {a:6.2f}  {a * 1.75:6.2f}      0"
        lines.append(f"  {size:>10d}  {size // 4:>12d}     float     sum      -1  {row}  {row}")
        size *= 4
    return "\n".join(lines) + "\n"


def readme_blocks() -> list[tuple[str, str]]:
    """(language, text) of each fenced sh/python block of README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^```(sh|python)\n(.*?)^```", text, re.S | re.M)


def readme_commands() -> list[str]:
    cmds = []
    for lang, body in readme_blocks():
        if lang != "sh":
            continue
        for line in body.splitlines():
            line = re.split(r"\s+#", line)[0].strip()
            if line:
                cmds.append(line)
    return cmds


def small(cmd: str, tmp: Path) -> str:
    for pat, rep in SUBSTITUTIONS:
        cmd = re.sub(pat, rep, cmd)
    return cmd.replace("{tmp}", str(tmp))


def _argv(cmd: str) -> list[str]:
    args = shlex.split(cmd)
    if args[0] == "scaleup":
        return [sys.executable, "-m", "cli", *args[1:]]
    if args[0] == "python":
        return [sys.executable, *args[1:]]
    raise AssertionError(f"README command is neither scaleup nor python: {cmd!r}")


def _workdir(d: Path) -> Path:
    """``d`` as a clean working directory holding only the user's own files the README's commands read."""
    (d / "busbw-small.yaml").write_text(SMALL_BUSBW, encoding="utf-8")
    (d / "all_reduce_perf.log").write_text(nccl_tests_log(), encoding="utf-8")  # the user's own file
    return d


@pytest.fixture
def workdir(tmp_path):
    return _workdir(tmp_path)


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed package, as a user has it
    env["MPLBACKEND"] = "Agg"
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_readme_has_the_tour():
    cmds = readme_commands()
    assert len(cmds) >= 15 and any(c.startswith("scaleup sweep") for c in cmds)
    assert any(lang == "python" for lang, _ in readme_blocks())


OUT_FLAGS = ("-o", "--out", "--plot")


def readme_chains() -> list[list[str]]:
    """The README's commands in order, split into chains: a command that names a file an earlier command wrote
    (``-o`` / ``--out`` / ``--plot``) joins that command's chain, every other command starts its own. Chains are
    independent (each runs in its own empty directory), so the suite can spread them."""
    chains: list[list[str]] = []
    made: dict[str, int] = {}  # file name -> its chain
    for cmd in readme_commands():
        args = shlex.split(cmd)
        deps = sorted({made[a] for a in args if a in made})
        assert len(deps) <= 1, f"README command reads files of two chains: {cmd!r}"
        if not deps:
            chains.append([])
        i = deps[0] if deps else len(chains) - 1
        chains[i].append(cmd)
        made.update({val: i for flag, val in zip(args, args[1:]) if flag in OUT_FLAGS})
    return chains


def test_readme_chains_keep_every_command_once_in_order():
    chains = readme_chains()
    assert sorted(c for ch in chains for c in ch) == sorted(readme_commands())
    order = {c: i for i, c in enumerate(readme_commands())}
    assert all([order[c] for c in ch] == sorted(order[c] for c in ch) for ch in chains)
    # the plot reads what the sweep wrote: one chain
    (busbw,) = [ch for ch in chains if any("busbw.png" in c for c in ch)]
    assert any(c.startswith("scaleup sweep busbw") for c in busbw)


def _chain_id(chain: list[str]) -> str:
    return re.sub(r"[^\w.-]+", "_", chain[0])[:60]


@pytest.mark.parametrize("chain", readme_chains(), ids=_chain_id)
def test_readme_commands_run_from_an_empty_directory(chain, tmp_path):
    """Each chain of README commands, in README order, in one empty directory (the plot reads what the sweep
    wrote), exits 0; the files the README says it draws are there and not empty."""
    workdir = _workdir(tmp_path)
    failures = []
    for cmd in chain:
        run = small(cmd, workdir)
        proc = _run(_argv(run), workdir)
        if proc.returncode != 0:
            failures.append(f"{run!r} exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    assert not failures, "\n".join(failures)
    for produced in ("util.png", "busbw.parquet", "busbw.png"):
        if any(produced in c for c in chain):
            assert (workdir / produced).stat().st_size > 0, produced


def test_example_sweeps_by_name_from_an_empty_directory(workdir):
    """The bundled example the README names resolves by name anywhere (dry run: points only)."""
    proc = _run(_argv("scaleup sweep busbw-maia200-vs-gb200 --dry-run"), workdir)
    assert proc.returncode == 0 and "points (job collective)" in proc.stdout, proc.stderr


def test_readme_python_snippet_runs(workdir):
    (code,) = [body for lang, body in readme_blocks() if lang == "python"][:1]
    code = re.sub(r"\"maia200\"", '"maia200-small"', code)
    proc = _run([sys.executable, "-c", code], workdir)
    assert proc.returncode == 0, proc.stderr[-800:]
    assert len(proc.stdout.splitlines()) == 2
