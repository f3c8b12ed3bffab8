"""``scaleup measure``: time a model's kernels, the memory system and collectives; write one table.

:func:`measure` resolves the model and plan, checks the device and dtypes, lists the points
(:func:`inference.measure.shapes.points`), skips those the output table already holds (resume), times the
rest with a backend (:mod:`inference.measure.backends`) under a progress bar, and appends each row as it is
measured. With two or more GPUs, collectives run in one process per device through torch.distributed
(NCCL / RCCL) and are reported like nccl-tests (time, algbw, busbw); ``--device cpu --ranks N`` runs the same
collective code in N host processes over gloo (a dry run).
"""

from __future__ import annotations

import datetime
import math
import numbers
import os
import socket
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from topo import SpecError

from ..models import ModelSpec, load_model
from . import shapes as _shapes
from .backends import Backend, make_backend
from .table import FORMAT, FORMAT_VERSION, TableWriter, _complete, row_key


@dataclass
class MeasureResult:
    """What one :func:`measure` run did."""

    path: str
    measured: int  # rows timed by this run
    skipped: int  # rows already in the table (resume)
    failed: list[str] = field(default_factory=list)  # points that raised (e.g. out of memory), one line each
    remaining: int = 0  # points left when the time limit stopped the run
    seconds: float = 0.0
    provenance: dict[str, Any] = field(default_factory=dict)
    collectives: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how some points were timed (graph fallbacks, MoE loop)

    def summary(self) -> str:
        lines = [f"wrote {self.path}: {self.measured} rows measured, {self.skipped} already there, "
                 f"{len(self.failed)} failed, {self.remaining} left (time limit) in {self.seconds:.1f} s "
                 f"on {self.provenance.get('device', '?')}"]
        lines += [f"  failed: {f}" for f in self.failed[:10]]
        if len(self.failed) > 10:
            lines.append(f"  ... and {len(self.failed) - 10} more")
        lines += [f"  note: {n}" for n in self.notes]
        if self.remaining:
            lines.append("  run the same command again to measure the rest (the table resumes)")
        return "\n".join(lines)


def _parse_list(value: str | tuple | list | None, field_name: str, known: tuple[str, ...]) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if str(v).strip()]
    bad = [v for v in items if v not in known]
    if bad or not items:
        raise SpecError(f"{field_name}: unknown value {bad[0] if bad else value!r}; known: {', '.join(known)}")
    return tuple(items)


def measure(model: ModelSpec | str, out: str, *, tp: int = 1, ep: int = 1, dtypes: str | tuple | None = None,
            device: str = "cuda", backend: str = "auto", kinds: str | tuple | None = None,
            grid: _shapes.Grid | None = None, max_m: int | None = None, repeats: int | None = None,
            time_limit: float | None = None, progress: bool = True, seed: int = 0,
            backend_obj: Backend | None = None, ranks: int | None = None) -> MeasureResult:
    """Measure ``model``'s kernels under tensor/expert parallelism ``tp``/``ep`` on ``device``; write ``out``.

    Args:
        model: a model preset name, YAML path or :class:`ModelSpec`.
        out: the table to write or resume (``.csv`` or ``.parquet``).
        dtypes: GEMM dtypes (comma list); default bf16 and every lower precision the device runs.
        device: ``cuda``, ``cuda:N`` (ROCm GPUs too) or ``cpu`` (a dry run).
        backend: ``torch``, ``numpy`` (host only, CI) or ``auto`` (torch when installed).
        kinds: sections to run (:data:`inference.measure.shapes.SECTIONS`), default all.
        grid: sizes; default :class:`~inference.measure.shapes.Grid` on a GPU, ``TINY`` on the host.
        max_m: cap on GEMM / elementwise / MoE tokens (overrides the grid's).
        time_limit: stop after this many seconds (s); the table keeps what was measured and resumes.
        ranks: processes of the collective section: default every GPU torch sees (1 on the CPU, so none);
            on a GPU at most that many; with ``device="cpu"`` N host processes over gloo (a dry run).

    Raises:
        SpecError: unknown model, a tp/ep the model cannot split by, a dtype the device cannot run, a device
            that does not exist, torch absent (the message says ``pip install 'scaleup-sim[measure]'``), a
            ``ranks`` the device cannot give.
    """
    m = load_model(model)
    for name, v in (("tp", tp), ("ep", ep)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SpecError(f"{name}: must be a positive integer, got {v!r}")
    if m.heads % tp:
        raise SpecError(f"tp: must divide the {m.heads} attention heads of {m.name}, got {tp}")
    if ep > 1 and (not m.is_moe or m.experts % ep):
        raise SpecError(f"ep: {m.name} has {m.experts} experts; ep must divide them (or be 1), got {ep}")
    if time_limit is not None and not time_limit > 0:
        raise SpecError(f"time_limit: must be > 0 s, got {time_limit}")
    if ranks is not None and (isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < 1):
        raise SpecError(f"ranks: must be a positive integer (processes of the collectives), got {ranks!r}")
    if repeats is not None and (isinstance(repeats, bool) or not isinstance(repeats, numbers.Integral) or repeats < 1):
        raise SpecError(f"repeats: must be a positive integer (samples per point), got {repeats!r}")
    repeats = None if repeats is None else int(repeats)  # np.int64(5) ran before the check above
    sections = _parse_list(kinds, "kinds", _shapes.SECTIONS) or _shapes.SECTIONS
    be = backend_obj or make_backend(backend, device, repeats, seed)
    runs = be.dtypes()
    if dtypes is None:
        chosen = be.default_dtypes()
    else:
        chosen = _parse_list(dtypes, "dtypes", ("bf16", "fp16", "fp32", "fp8", "fp4"))
        for d in chosen:
            if d not in runs:
                raise SpecError(f"dtypes: {be.name} on {device} cannot run {d} GEMMs; it runs {', '.join(runs)}")
    if grid is None:
        grid = _shapes.Grid() if getattr(be, "gpu", False) else _shapes.TINY
    if max_m is not None:
        if isinstance(max_m, bool) or not isinstance(max_m, int) or max_m < 1:
            raise SpecError(f"max_m: must be a positive integer (tokens), got {max_m!r}")
        import dataclasses

        grid = dataclasses.replace(grid, max_m=max_m, max_lm_head_m=min(grid.max_lm_head_m, max_m))
    ranks = _ranks(be, ranks)
    prov = {**be.provenance(), "format": FORMAT, "version": FORMAT_VERSION,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "scaleup": _scaleup_version(), "model": m.name, "tp": tp, "ep": ep, "dtypes": list(chosen),
            "devices": ranks,
            "method": "warm-up; operands rotated over > 3x last-level cache; GPU: calls captured in a graph, "
                      "device events per replay; CPU: perf_counter; median of repeats"}
    if ranks >= 2 and "collective" in sections:
        prov["collective_backend"] = "nccl" if getattr(be, "gpu", False) else "gloo (host processes, a dry run)"
    writer = TableWriter(out, prov)
    pts = _shapes.points(m, tp, ep, chosen, grid, sections, ranks=ranks)
    local = [p for p in pts if p["kind"] != "collective"]
    todo = [p for p in local if row_key(_complete(p)) not in writer.done]
    res = MeasureResult(path=out, measured=0, skipped=len(local) - len(todo), provenance=writer.provenance)
    t0 = time.perf_counter()
    bar = _progress(len(todo), progress)
    try:
        last_kind = None
        for i, p in enumerate(todo):
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                res.remaining = len(todo) - i
                break
            if last_kind is not None and p["kind"] != last_kind:
                writer.flush()
            last_kind = p["kind"]
            if bar is not None:
                bar.set_description(f"{p['kind']} {p.get('name', '')}")
            try:
                med, fastest, reps = be.measure(p)
            except SpecError:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. out of memory at the largest shapes: recorded, skipped
                res.failed.append(f"{_label(p)}: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}")
                _free(be)
            else:
                writer.add({**p, "time_s": med, "min_s": fastest, "repeats": reps})
                res.measured += 1
            if bar is not None:
                bar.update(1)
        coll = [p for p in pts if p["kind"] == "collective" and row_key(_complete(p)) not in writer.done]
        res.skipped += sum(1 for p in pts if p["kind"] == "collective") - len(coll)
        if coll and res.remaining == 0:
            _free(be)  # the parent's cached blocks back to the driver before one process per GPU starts
            left = None if time_limit is None else max(1.0, time_limit - (time.perf_counter() - t0))
            rows, lacking = run_collectives(coll, ranks, be.repeats, left,
                                            device="cuda" if getattr(be, "gpu", False) else "cpu")
            for r in rows:
                writer.add(r)
            res.collectives = rows
            res.measured += len(rows)
            res.failed += [f"collective {c}: the process group cannot run it" for c in lacking]
            res.remaining += sum(1 for p in coll if p["name"] not in lacking) - len(rows)
    finally:
        if bar is not None:
            bar.close()
        writer.close()
    res.seconds = time.perf_counter() - t0
    if getattr(be, "graph_fallbacks", 0):
        res.notes.append(f"{be.graph_fallbacks} graph-mode point(s) could not be captured in a graph and were "
                         f"timed eagerly (first: {be.graph_error})")
    if getattr(be, "moe_loop_fallbacks", 0):
        res.notes.append(f"{be.moe_loop_fallbacks} MoE operand set(s) timed as a loop of expert GEMMs "
                         "(torch._grouped_mm raised)")
    return res


def _label(p: dict) -> str:
    keys = ("m", "n", "k", "batch", "seq", "bytes")
    return f"{p['kind']} {p.get('name', '')} {p.get('dtype', '')} " + " ".join(
        f"{k}={p[k]:g}" for k in keys if p.get(k))


def _free(be: Backend) -> None:
    torch = getattr(be, "torch", None)
    if torch is not None and getattr(be, "gpu", False):
        torch.cuda.empty_cache()


def _progress(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="pt", dynamic_ncols=True)


def _scaleup_version() -> str:
    try:
        from importlib.metadata import version

        return version("scaleup-sim")
    except Exception:  # noqa: BLE001 - provenance only
        return "unknown"


def _ranks(be: Backend, ranks: int | None) -> int:
    """Processes of the collective section: every GPU torch sees by default; on the host 1 unless asked."""
    if getattr(be, "gpu", False):
        have = int(be.torch.cuda.device_count())
        if ranks is not None and ranks > have:
            raise SpecError(f"ranks: {ranks} asked for, torch sees {have} GPU(s) here; use --ranks <= {have}")
        return have if ranks is None else ranks
    if ranks is not None and ranks > 1 and getattr(be, "torch", None) is None:
        raise SpecError(f"ranks: host collectives run through torch.distributed (gloo); the {be.name} backend "
                        "times none: use --backend torch (pip install 'scaleup-sim[measure]') or --ranks 1")
    return 1 if ranks is None else ranks


# ================================================================================================ collectives
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_collectives(points: list[dict], ranks: int, repeats: int = 11, time_limit: float | None = None,
                    device: str = "cuda") -> tuple[list[dict], list[str]]:
    """Time the collective ``points`` over ``ranks`` processes through torch.distributed: one per GPU over
    NCCL/RCCL (``device="cuda"``), or host processes over gloo (``device="cpu"``, a dry run).

    Each size: 5 warm-up calls, then ``repeats`` samples of 20 back-to-back calls between device events
    (``perf_counter`` on the host); a sample's time is the slowest rank's; the row is the median sample.
    ``bytes`` follows nccl-tests (the whole buffer: the all-gather output, the reduce-scatter input);
    algbw = bytes / time, busbw = algbw x :func:`~inference.measure.shapes.busbw_factor`. ``time_limit``
    (s) stops every rank at the same point (rank 0 decides, all follow). A collective the process group
    lacks is skipped with one warning line on stderr, the others still run.

    Returns:
        (rows measured, names of the collectives the process group could not run)."""
    import json
    import tempfile

    import torch.multiprocessing as tmp

    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        tmp.spawn(_collective_worker, args=(ranks, _free_port(), points, repeats, time_limit, path, device),
                  nprocs=ranks, join=True)
        with open(path) as fh:
            out = json.load(fh)
        return out["rows"], out["lacking"]
    finally:
        os.unlink(path)


def _collective_worker(rank: int, ranks: int, port: int, points: list[dict], repeats: int,
                       time_limit: float | None, path: str, device: str = "cuda") -> None:
    import json
    import sys
    import warnings

    import torch
    import torch.distributed as dist

    gpu = device != "cpu"
    if gpu:
        torch.cuda.set_device(rank)
    else:
        torch.set_num_threads(1)  # one core per host process (a dry run on a shared host)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.distributed")
    dev = f"cuda:{rank}" if gpu else "cpu"
    dist.init_process_group("nccl" if gpu else "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=ranks)
    t0 = time.perf_counter()
    rows, lacking = [], set()

    def slowest(x: float, op=dist.ReduceOp.MAX) -> float:
        t = torch.tensor([x], dtype=torch.float64 if not gpu else torch.float32, device=dev)
        dist.all_reduce(t, op=op)
        return float(t.item())

    try:
        for p in points:
            # one decision for every rank: a rank that stopped alone would leave the others in a collective
            late = time_limit is not None and time.perf_counter() - t0 > time_limit
            if slowest(1.0 if late else 0.0) > 0:
                break
            coll = p["name"]
            if coll in lacking:
                continue
            n = int(p["bytes"]) // 2  # bf16 elements of the whole buffer
            full = torch.ones(n, dtype=torch.bfloat16, device=dev)
            part = torch.ones(n // ranks, dtype=torch.bfloat16, device=dev)
            call = _collective_call(dist, coll, full, part)
            try:
                call()
                ok = 1.0
            except (RuntimeError, NotImplementedError, ValueError) as exc:  # e.g. a collective gloo lacks
                ok = 0.0
                err = f"{type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"
            if slowest(ok, dist.ReduceOp.MIN) == 0.0:  # every rank skips it if one could not run it
                lacking.add(coll)
                if rank == 0:
                    print(f"warning: collective {coll} skipped: the {dist.get_backend()} process group cannot run "
                          f"it ({err if not ok else 'another rank failed'})", file=sys.stderr)
                continue
            for _ in range(4):
                call()
            samples = []
            if gpu:
                torch.cuda.synchronize()
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            for _ in range(repeats):
                dist.barrier()
                if gpu:
                    a.record()
                    for _ in range(20):
                        call()
                    b.record()
                    b.synchronize()
                    local = a.elapsed_time(b) * 1e-3 / 20
                else:
                    c0 = time.perf_counter()
                    for _ in range(20):
                        call()
                    local = (time.perf_counter() - c0) / 20
                samples.append(slowest(local))
            med = statistics.median(samples)
            algbw = p["bytes"] / med
            rows.append({**p, "time_s": med, "min_s": min(samples), "repeats": repeats, "algbw": algbw,
                         "busbw": algbw * _shapes.busbw_factor(coll, ranks)})
        if rank == 0:
            with open(path, "w") as fh:
                json.dump({"rows": [_complete(r) for r in rows], "lacking": sorted(lacking)}, fh)
    finally:
        dist.destroy_process_group()


def _collective_call(dist, coll: str, full, part):
    """One call of ``coll`` on the whole buffer ``full`` (and the per-rank ``part``); the ``*_single`` names
    of torch >= 2.13 where they exist (the ``*_tensor`` ones are deprecated there)."""
    if coll == "all_reduce":
        return lambda: dist.all_reduce(full)
    if coll == "all_gather":
        gather = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
        return lambda: gather(full, part)
    if coll == "reduce_scatter":
        scatter = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor
        return lambda: scatter(part, full)
    out = full.new_empty(full.shape)
    return lambda: dist.all_to_all_single(out, full)


def format_collectives(rows: list[dict], device: str = "") -> str:
    """Collective rows as nccl-tests prints them (size B, count, type, redop, root, time us, algbw and busbw
    GB/s, #wrong), one block per collective with nccl-tests' header lines (binary name, ``nGpus``, one
    ``Rank`` line per device), so ``scaleup calibrate --measurements`` reads the printout like nccl-tests
    stdout."""
    binaries = {"all_reduce": "all_reduce_perf", "all_gather": "all_gather_perf",
                "reduce_scatter": "reduce_scatter_perf", "all_to_all": "alltoall_perf"}
    out = []
    for coll in binaries:
        sel = [r for r in rows if r["kind"] == "collective" and r["name"] == coll]
        if not sel:
            continue
        n = int(sel[0]["ranks"])
        out.append(f"# {binaries[coll]} (scaleup measure, torch.distributed)")
        out.append(f"# nThread 1 nGpus {n} minBytes {int(sel[0]['bytes'])} maxBytes {int(sel[-1]['bytes'])}")
        out += [f"#  Rank {i:2d} Group  0 Pid      0 on localhost device {i:2d} [0x00] {device}" for i in range(n)]
        out.append(f"# {'size':>10s} {'count':>12s} {'type':>8s} {'redop':>6s} {'root':>5s} {'time':>9s} "
                   f"{'algbw':>7s} {'busbw':>7s} {'#wrong':>6s}")
        out.append(f"# {'(B)':>10s} {'(elements)':>12s} {'':>8s} {'':>6s} {'':>5s} {'(us)':>9s} "
                   f"{'(GB/s)':>7s} {'(GB/s)':>7s}")
        for r in sel:
            red = "sum" if coll in ("all_reduce", "reduce_scatter") else "none"
            out.append(f"  {int(r['bytes']):>10d} {int(r['bytes']) // 2:>12d} {'bfloat16':>8s} {red:>6s} {-1:>5d} "
                       f"{r['time_s'] * 1e6:9.2f} {r['algbw'] / 1e9:7.2f} {r['busbw'] / 1e9:7.2f} {0:>6d}")
    return "\n".join(out)


def device_chip(device_name: str) -> str | None:
    """The chip preset a device name corresponds to (``NVIDIA H100 80GB HBM3`` -> ``h100-sxm``), or None."""
    d = device_name.lower()
    for key, chip in (("gb200", "gb200"), ("b200", "b200"), ("h200", "h200"), ("h100", "h100-sxm"),
                      ("mi300x", "mi300x")):
        if key in d:
            return chip
    return None


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
