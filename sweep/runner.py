"""Running a sweep: local processes or a Dask cluster, a crash-safe journal, resume, one table out.

Every finished point is appended at once to a journal next to the output (``OUT.journal.jsonl``, one
JSON line per point, flushed), so a crash, a killed worker or Ctrl-C loses nothing finished. At the end
(and on Ctrl-C) the journal is compacted into the output file (Parquet or CSV, chosen by extension)
with one row per point sorted by point index, whatever the completion order, and the journal removed.

``resume=True`` keeps every successful row already in the output or a left-over journal (matched by
point id) and runs only the rest; failed points are run again. A point that raises records
``"ExceptionType: message"`` in its ``error`` column and the sweep goes on.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from topo import SpecError

from .jobs import Job, fabric_key, resolve_job
from .spec import Point, SweepSpec, expand_points, load_spec

if TYPE_CHECKING:
    import pandas as pd

META = ("point", "id")
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}

ProgressHook = Callable[[int, int, dict], None]


@dataclass(frozen=True)
class SweepResult:
    """Outcome of :func:`run_sweep`.

    Attributes:
        path: the output file.
        total: points in the spec.
        ran: points run now (finished, failed or not).
        skipped: points kept from a previous run (``resume``).
        failed: rows of the final table with an error.
        interrupted: the run was stopped (Ctrl-C) before every point finished.
        seconds: wall time of the run (s).
    """

    path: str
    total: int
    ran: int
    skipped: int
    failed: int
    interrupted: bool
    seconds: float

    @property
    def ok(self) -> bool:
        """True when every point finished without error."""
        return self.failed == 0 and not self.interrupted

    @property
    def rate(self) -> float:
        """Points run per second of wall time (points/s)."""
        return self.ran / self.seconds if self.seconds > 0 else float("nan")

    def table(self) -> pd.DataFrame:
        """The results as a pandas DataFrame (see :func:`read_results`)."""
        return read_results(self.path)


# ------------------------------------------------------------------------------------------ worker side
def execute_point(job: Job, params: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Run one point in a worker: ``(outputs, None)`` or ``(None, "ExceptionType: message")``."""
    try:
        out = job(params)
        return {str(k): _plain(v) for k, v in out.items()}, None
    except Exception as exc:  # a failing point is recorded, never fatal
        msg = str(exc).strip().splitlines()
        text = f"{type(exc).__name__}: {msg[0] if msg else ''}".rstrip(": ")
        if not isinstance(exc, SpecError) and os.environ.get("SCALEUP_SWEEP_TRACEBACK"):
            text += "\n" + traceback.format_exc()
        return None, text


def _execute_many(
    job: Job, batch: list[tuple[str, dict[str, Any]]], started_path: str | None = None
) -> list[tuple[dict[str, Any] | None, str | None]]:
    """Run a batch of (id, params) in a worker; log each id to ``started_path`` as it starts."""
    out = []
    for pid, params in batch:
        if started_path:
            with open(started_path, "a", encoding="utf-8") as fh:
                fh.write(pid + "\n")
        out.append(execute_point(job, params))
    return out


def _exit_with_parent(parent: int, period: float = 0.5) -> None:
    """Worker initializer: a daemon thread that ends this worker once ``parent`` (the sweep) is gone.

    A sweep killed hard (``kill -9``, or SIGTERM with no handler) leaves its pool's workers orphaned; they
    waited on a queue whose write end they hold themselves, so they never exited. Polling the parent pid
    (it changes when the worker is re-parented) is portable and costs nothing the points would notice."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(period)
        os._exit(1)

    threading.Thread(target=watch, name="scaleup-sweep-parent-watch", daemon=True).start()


def _plain(v: Any) -> Any:
    if isinstance(v, (str, bool, int, float)) or v is None:
        return v
    if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:
        return v.item()
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, default=str)
    return str(v)


#: extensions of the input files a point may name (fabric, model, kernel table, ...)
FILE_EXTENSIONS = (".yaml", ".yml", ".graphml", ".json", ".csv", ".parquet", ".pq")


def job_params(point: Point) -> dict[str, Any]:
    """The parameters a point's job is called with: as written, except that a relative path to an existing
    input file (``fabric: my.yaml``) is made absolute here, in the process that runs the sweep. A Dask worker
    runs in its own directory (``dask worker`` started elsewhere), where the relative path named another file
    or none; the docs promise the directory ``scaleup sweep`` runs in. The row keeps the value as written."""
    out = dict(point.params)
    for k, v in out.items():
        if (isinstance(v, str) and v.lower().endswith(FILE_EXTENSIONS) and not os.path.isabs(v)
                and os.path.isfile(v)):
            out[k] = os.path.abspath(v)
    return out


# ------------------------------------------------------------------------------------------ files
def output_format(out: str | os.PathLike, field: str = "--out") -> str:
    """``"parquet"`` or ``"csv"`` from the output file's extension; SpecError (naming ``field``) otherwise."""
    ext = os.path.splitext(str(out))[1].lower()
    if ext not in FORMATS:
        raise SpecError(f"{field}: {str(out)!r} must end in .parquet or .csv")
    return FORMATS[ext]


def journal_path(out: str | os.PathLike) -> str:
    """Where the rows of a running sweep are journalled: ``OUT.journal.jsonl``."""
    return str(out) + ".journal.jsonl"


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read a sweep's output (Parquet or CSV) into a pandas DataFrame, exactly as written.

    CSV floats are read with round-trip precision and ``id``/``error`` as strings.
    """
    import pandas as pd

    path = str(path)
    if not os.path.exists(path):
        raise SpecError(f"results: file {path!r} does not exist")
    fmt = output_format(path, "results")
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        kw = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
        return pd.read_csv(path, dtype={"id": str, "error": str}, **kw)
    except (ValueError, OSError) as exc:  # pandas' EmptyDataError/ParserError and pyarrow's ArrowInvalid
        first = (str(exc).splitlines() or [""])[0][:160]
        raise SpecError(f"results: cannot read {path!r} as {fmt} ({type(exc).__name__}: {first}); "
                        "is it a sweep's output?") from None


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _read_rows(path: str) -> list[dict[str, Any]]:
    """Rows of an existing output file as dicts without missing values."""
    if not os.path.exists(path):
        return []
    df = read_results(path)
    rows = []
    for rec in df.to_dict("records"):
        rows.append({k: _plain(v) for k, v in rec.items() if not _missing(v)})
    return rows


def _read_journal(path: str) -> list[dict[str, Any]]:
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a crash: that point just runs again
                continue
    return rows


def _row(point: Point, out: Mapping[str, Any] | None, error: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {"point": point.index, "id": point.id}
    row.update(point.params)
    if out:
        row.update(out)
    if error is not None:
        row["error"] = error
    return row


#: key of the provenance record in a Parquet result's schema metadata (:func:`read_metadata`)
META_KEY = b"scaleup"


@functools.lru_cache(maxsize=1)
def provenance() -> dict[str, Any]:
    """What produced a result: ``scaleup`` (package version), ``git_rev`` and ``git_dirty`` of the source tree
    the package runs from (None when it is not a git checkout), ``python`` and ``numpy`` versions."""
    import platform
    import subprocess
    from importlib import metadata

    import numpy as np

    try:
        version = metadata.version("scaleup-sim")
    except metadata.PackageNotFoundError:
        version = None
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rev = dirty = None
    try:
        run = {"cwd": here, "capture_output": True, "text": True, "timeout": 10}
        r = subprocess.run(["git", "rev-parse", "--show-toplevel", "HEAD"], **run)
        lines = r.stdout.split()
        if r.returncode == 0 and len(lines) == 2 and os.path.samefile(lines[0], here):
            rev = lines[1]
            st = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **run)
            dirty = bool(st.stdout.strip()) if st.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"scaleup": version, "git_rev": rev, "git_dirty": dirty, "python": platform.python_version(),
            "numpy": np.__version__}


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The provenance a sweep recorded in its Parquet output: ``{"provenance": ... (see :func:`provenance`),
    "job", "name", "spec": {"params", "grid"} as written, "points"}``, plus ``kept_rows_from`` (the provenance
    of the run whose rows a ``--resume`` kept) when that differs. ``{}`` for a CSV or a file without it."""
    path = str(path)
    if output_format(path, "results") != "parquet" or not os.path.exists(path):
        return {}
    import pyarrow.parquet as pq

    try:
        md = pq.read_schema(path).metadata or {}
        return json.loads(md[META_KEY]) if META_KEY in md else {}
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid (not Parquet), a bad JSON record
        first = (str(exc).splitlines() or [""])[0][:160]
        raise SpecError(f"results: cannot read the metadata of {path!r} ({type(exc).__name__}: {first}); "
                        "is it a sweep's output?") from None


def _write_table(rows: list[dict[str, Any]], points: list[Point], out: str, meta: dict[str, Any] | None = None
                 ) -> None:
    """Write rows (sorted by point) with a deterministic column order; atomic replace. A Parquet file carries
    ``meta`` (JSON) in its schema metadata, and its ``error`` column is text even when no point failed."""
    import pandas as pd

    rows = sorted(rows, key=lambda r: r["point"])
    cols: dict[str, None] = dict.fromkeys(META)
    for p in points:
        cols.update(dict.fromkeys(p.params))
    for r in rows:
        cols.update(dict.fromkeys(k for k in r if k != "error"))
    cols["error"] = None
    df = pd.DataFrame.from_records(rows, columns=list(cols))
    for c in df.columns:
        if df[c].dtype == object:
            vals = [v for v in df[c] if not _missing(v)]
            if vals and not all(isinstance(v, str) for v in vals) and not all(isinstance(v, bool) for v in vals):
                # a list value (fabric.faults: [plane:3, plane:2]) as JSON, which reads back, not Python's repr
                df[c] = [None if _missing(v) else json.dumps(v, default=str) if isinstance(v, (list, tuple, dict))
                         else str(v) for v in df[c]]
    tmp = out + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    if output_format(out) == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=False)
        i = table.schema.get_field_index("error")
        text = table.schema.field("id").type  # string or large_string, as pandas writes text
        if table.schema.field(i).type != text:  # all NaN (no failure) was a float column: one schema always
            table = table.set_column(i, pa.field("error", text), table.column(i).cast(text))
        if meta is not None:
            md = dict(table.schema.metadata or {})
            md[META_KEY] = json.dumps(meta, sort_keys=True, default=str).encode()
            table = table.replace_schema_metadata(md)
        pq.write_table(table, tmp)
    else:
        df.to_csv(tmp, index=False)
    os.replace(tmp, out)


def _compact(out: str, points: list[Point], previous: list[dict[str, Any]], meta: dict[str, Any] | None = None
             ) -> list[dict[str, Any]]:
    """Merge previous rows and the journal into the output file (with ``meta``, see :func:`_write_table`);
    remove the journal. Returns the rows."""
    by_id = {p.id: p for p in points}
    merged: dict[str, dict[str, Any]] = {}
    for r in previous:
        if r.get("id") in by_id:
            merged[r["id"]] = r
    for j in _read_journal(journal_path(out)):
        p = by_id.get(j.get("id"))
        if p is not None:
            merged[p.id] = _row(p, j.get("out"), j.get("error"))
    rows = []
    for pid, r in merged.items():
        r = dict(r)
        r["point"] = by_id[pid].index
        rows.append(r)
    _write_table(rows, points, out, meta)
    try:
        os.remove(journal_path(out))
    except FileNotFoundError:
        pass
    return rows


# ------------------------------------------------------------------------------------------ runners
def _progress_bar(total: int, initial: int, progress: Any):
    if progress is False or callable(progress):
        return None
    if progress is None and not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="pt", dynamic_ncols=True, file=sys.stderr, smoothing=0.1)


def _run_inprocess(job, todo, record):
    for p in todo:
        out, err = execute_point(job, job_params(p))
        record(p, out, err)


def _run_processes(job, todo, record, workers: int, batch: int, started_path: str):
    """A ProcessPoolExecutor. Workers log each point they start; if a worker dies, the points started
    but unfinished are set aside, the pool is rebuilt for the rest, and each of them is then run alone:
    one that kills its worker again is recorded as failed (``WorkerDied``), the others normally."""
    pending = list(todo)
    suspects: list[Point] = []
    finished: set[str] = set()

    def pool_run(points: list[Point], n: int, b: int) -> list[Point]:
        """Run points; return those that were in flight when a worker died (empty if none did)."""
        open(started_path, "w").close()
        ex = ProcessPoolExecutor(max_workers=n, initializer=_exit_with_parent, initargs=(os.getpid(),))
        broken = False
        try:
            chunks = [points[i : i + b] for i in range(0, len(points), b)]
            futs = {ex.submit(_execute_many, job, [(p.id, job_params(p)) for p in c], started_path): c for c in chunks}
            for f in _as_done(futs):
                try:
                    results = f.result()
                except BrokenProcessPool:
                    broken = True
                    break
                except Exception as exc:  # the task could not be sent or returned (pickling)
                    pickling = "pickl" in (str(exc) + type(exc).__name__).lower()
                    hint = " (a job must be a module-level function for multi-process runs)" if pickling else ""
                    results = [(None, f"{type(exc).__name__}: {exc}{hint}")] * len(futs[f])
                for p, (out, err) in zip(futs[f], results):
                    record(p, out, err)
                    finished.add(p.id)
        finally:
            ex.shutdown(wait=True, cancel_futures=True)
        if not broken:
            return []
        with open(started_path, encoding="utf-8") as fh:
            started = {line.strip() for line in fh if line.strip()}
        return [p for p in points if p.id in started and p.id not in finished]

    try:
        while pending:
            lost = pool_run(pending, workers, batch)
            suspects.extend(lost)
            lost_ids = {p.id for p in lost}
            pending = [p for p in pending if p.id not in finished and p.id not in lost_ids]
            if lost and not pending:
                break
        for p in suspects:
            if p.id in finished:
                continue
            if pool_run([p], 1, 1):
                record(p, None, "WorkerDied: the worker process running this point exited")
    finally:
        try:
            os.remove(started_path)
        except FileNotFoundError:
            pass


def _as_done(futs):
    not_done = set(futs)
    while not_done:
        done, not_done = wait(not_done, return_when=FIRST_COMPLETED)
        yield from done


SCHEMES = ("tcp://", "tls://", "ws://", "wss://", "inproc://", "ucx://")


def _check_scheduler(scheduler: Any) -> None:
    if isinstance(scheduler, str) and scheduler != "local" and not scheduler.startswith(SCHEMES):
        raise SpecError(f"--scheduler: {scheduler!r} must be 'local' or an address like tcp://HOST:8786")


def _dask_client(scheduler: Any, workers: int):
    """(client, things to close): connect to / start the Dask cluster before anything is written."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SpecError(
            "--scheduler: Dask is not installed; install it with pip install 'scaleup-sim[dask]' "
            "(or drop --scheduler to run on local processes)"
        ) from None

    if isinstance(scheduler, str):
        if scheduler == "local":
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
            return client, [client, cluster]
        _check_scheduler(scheduler)
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as exc:
            raise SpecError(f"--scheduler: cannot reach {scheduler!r} ({exc})") from None
        return client, [client]
    if hasattr(scheduler, "submit"):
        return scheduler, []  # a distributed.Client owned by the caller
    client = Client(scheduler)  # a Cluster object
    return client, [client]


def _run_dask(job, todo, record, client: Any, batch: int):
    """Submit points in batches (consecutive points share a fabric); record each batch as it ends."""
    from distributed import as_completed

    futures = []
    try:
        by_key = {}
        for i in range(0, len(todo), batch):
            chunk = todo[i : i + batch]
            key = "sweep-" + "-".join(p.id for p in chunk[:1]) + f"-{len(chunk)}"
            f = client.submit(_execute_many, job, [(p.id, job_params(p)) for p in chunk], key=key, pure=False)
            by_key[f.key] = chunk
            futures.append(f)
        for f in as_completed(futures):
            chunk = by_key[f.key]
            try:
                results = f.result()
            except Exception as exc:  # the worker died (KilledWorker) or the task could not run
                results = [(None, f"{type(exc).__name__}: {exc}")] * len(chunk)
            for p, (out, err) in zip(chunk, results):
                record(p, out, err)
    finally:
        for f in futures:
            if not f.done():
                f.cancel()


def run_sweep(
    spec: str | os.PathLike | Mapping[str, Any] | SweepSpec,
    out: str | os.PathLike,
    workers: int | None = None,
    scheduler: Any = None,
    resume: bool = False,
    progress: bool | ProgressHook | None = None,
    batch: int | None = None,
) -> SweepResult:
    """Run every point of ``spec`` and write one row per point to ``out`` (``.parquet`` or ``.csv``).

    Args:
        spec: a YAML path, YAML text, dict or :class:`SweepSpec`.
        out: output file; its extension picks the format.
        workers: local worker processes (default: the core count); ``1`` runs in this process.
            With ``scheduler="local"`` it is the number of Dask workers.
        scheduler: ``None`` (local processes), ``"local"`` (start a ``dask.distributed.LocalCluster``),
            ``"tcp://HOST:8786"`` (an existing Dask scheduler), or a ``distributed.Client``.
        resume: keep the successful rows already in ``out`` (or its journal) and run only the rest.
        progress: ``None`` shows a tqdm bar when stderr is a terminal; ``True``/``False`` force it;
            a callable ``hook(done, total, row)`` is called after every finished point instead.
        batch: points per task (default: 1 per task below 128 points per worker, then up to 64, so
            that IPC stays a small part of cheap points). Rows are journalled as each task ends.

    Returns:
        A :class:`SweepResult`; ``.ok`` is False when a point failed or the run was interrupted.

    Raises:
        SpecError: bad spec or output path, before anything runs.
        KeyboardInterrupt: re-raised after the finished rows have been written to ``out``.
    """
    t0 = time.perf_counter()
    out = os.fspath(out)
    _check_run_args(out, scheduler, workers)
    spec = load_spec(spec)
    job = resolve_job(spec.job)
    points = expand_points(spec)
    total = len(points)
    jpath = journal_path(out)
    previous, done_ids = _previous_rows(out, jpath, points, job.upgrade) if resume else ([], set())
    meta = _run_metadata(spec, total, out if resume else None)
    if not previous:
        meta.pop("kept_rows_from", None)
    elif "kept_rows_from" in meta:
        k = meta["kept_rows_from"]
        print(f"sweep: keeping {len(previous)} rows of {out} computed by scaleup {k.get('scaleup')} (git "
              f"{str(k.get('git_rev'))[:12]}); this is scaleup {meta['provenance']['scaleup']} (git "
              f"{str(meta['provenance']['git_rev'])[:12]}): run without --resume to recompute them", file=sys.stderr)
    todo = _order_by_fabric([p for p in points if p.id not in done_ids])
    skipped = total - len(todo)
    client, closers = (None, [])
    if scheduler is not None and todo:
        client, closers = _dask_client(scheduler, workers or os.cpu_count() or 1)
    if os.path.exists(jpath):  # its rows are in `previous` (resume) or are being replaced
        os.remove(jpath)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)  # the journal goes there first
    rec = _Recorder(jpath, total, skipped, progress)
    interrupted = False
    try:
        _dispatch(job, todo, rec.record, client, workers, batch, jpath)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        rec.close()
        for c in closers:
            c.close()
        rows = _compact(out, points, previous, meta)
        if interrupted:
            print(
                f"sweep: interrupted; {len(rows)} of {total} points written to {out} (run again with --resume)",
                file=sys.stderr,
            )
    failed = sum(1 for r in rows if not _missing(r.get("error")))
    return SweepResult(
        path=out,
        total=total,
        ran=rec.ran,
        skipped=skipped,
        failed=failed,
        interrupted=len(rows) < total,
        seconds=time.perf_counter() - t0,
    )


# ------------------------------------------------------------------ the steps of run_sweep, in order
def _check_run_args(out: str, scheduler: Any, workers: int | None) -> None:
    """Step 1: refuse a bad output path, scheduler or worker count before anything runs."""
    output_format(out)
    _check_scheduler(scheduler)
    if workers is not None and workers < 1:
        raise SpecError(f"--workers: must be >= 1, got {workers}")


def _run_metadata(spec: SweepSpec, total: int, previous_out: str | None) -> dict[str, Any]:
    """Step 2a: the provenance recorded with the results (:func:`read_metadata`); with ``previous_out`` (resume),
    ``kept_rows_from`` = the provenance of that file when it differs from this run's (dropped when no row is
    kept)."""
    meta: dict[str, Any] = {"provenance": provenance(), "job": spec.job, "name": spec.name,
                            "spec": {"params": spec.params, "grid": list(spec.grid)}, "points": total}
    if previous_out is not None:
        before = read_metadata(previous_out).get("provenance")
        keys = ("scaleup", "git_rev", "git_dirty")
        if before and any(before.get(k) != meta["provenance"].get(k) for k in keys):
            meta["kept_rows_from"] = before
    return meta


def _previous_rows(out: str, jpath: str, points: list[Point], upgrade: Callable[..., dict[str, Any]] | None = None
                   ) -> tuple[list[dict[str, Any]], set[str]]:
    """Step 2 (``resume``): the successful rows of ``out`` and of its journal that are points of this spec,
    and their ids. Failed rows are dropped so that they run again and their new outcome replaces them. ``upgrade``
    (the job's :attr:`Job.upgrade`) rewrites each kept row in today's columns."""
    previous = _read_rows(out)
    for j in _read_journal(jpath):
        previous.append({"id": j.get("id"), "_journal": j})
    by_id = {p.id: p for p in points}
    prev_rows = []
    for r in previous:
        if "_journal" in r:
            p = by_id.get(r["id"])
            if p is not None:
                j = r["_journal"]
                prev_rows.append(_row(p, j.get("out"), j.get("error")))
        else:
            prev_rows.append(r)
    done_ids = {r["id"] for r in prev_rows if _missing(r.get("error")) and r.get("id") in by_id}
    kept = [r for r in prev_rows if r.get("id") in done_ids]
    if upgrade is not None:
        kept = [upgrade(dict(r), by_id[r["id"]].params) for r in kept]
    dropped = len({r.get("id") for r in _read_rows(out)} - set(by_id)) if os.path.exists(out) else 0
    if dropped:
        print(f"sweep: dropping {dropped} rows of {out} that are not points of this spec", file=sys.stderr)
    return kept, done_ids


def _order_by_fabric(todo: list[Point]) -> list[Point]:
    """Step 3: group the points to run by fabric (first appearance order), so that each worker builds each
    fabric once; within a fabric, points keep their index order."""
    first: dict[str, int] = {}
    for p in todo:
        first.setdefault(fabric_key(p.params), len(first))
    return sorted(todo, key=lambda p: (first[fabric_key(p.params)], p.index))


class _Recorder:
    """Step 4: journal every finished point (one JSON line, flushed: crash-safe) and report progress
    (a tqdm bar and/or the caller's ``hook(done, total, row)``)."""

    def __init__(self, jpath: str, total: int, skipped: int, progress: Any) -> None:
        self.total, self.skipped = total, skipped
        self.ran = 0
        self.failed = 0
        self.bar = _progress_bar(total, skipped, progress)
        self.hook = progress if callable(progress) else None
        self.jf = open(jpath, "a", encoding="utf-8")

    def record(self, p: Point, out_: dict[str, Any] | None, err: str | None) -> None:
        self.jf.write(json.dumps({"id": p.id, "point": p.index, "out": out_, "error": err}, default=str) + "\n")
        self.jf.flush()
        self.ran += 1
        if err is not None:
            self.failed += 1
        if self.bar is not None:
            self.bar.update(1)
            if self.failed:
                self.bar.set_postfix(failed=self.failed, refresh=False)
        if self.hook is not None:
            self.hook(self.skipped + self.ran, self.total, _row(p, out_, err))

    def close(self) -> None:
        self.jf.close()
        if self.bar is not None:
            self.bar.close()


def _dispatch(job: Job, todo: list[Point], record: Callable, client: Any, workers: int | None,
              batch: int | None, jpath: str) -> None:
    """Step 5: run ``todo`` on Dask (``client``), in this process (one worker or one point) or on local
    processes, in batches of ``batch`` points (default: 1 per task below 128 points per worker, then up
    to 64)."""
    if not todo:
        return
    if client is not None:
        n = max(1, len(client.scheduler_info().get("workers", {})) or (workers or 1))
        _run_dask(job, todo, record, client, batch or max(1, min(64, len(todo) // (n * 64))))
        return
    n = workers if workers is not None else (os.cpu_count() or 1)
    if n == 1 or len(todo) == 1:
        _run_inprocess(job, todo, record)
    else:
        b = batch or max(1, min(64, len(todo) // (n * 64)))
        _run_processes(job, todo, record, min(n, len(todo)), b, jpath + ".started")
