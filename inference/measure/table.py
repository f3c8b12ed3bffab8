"""The table ``scaleup measure`` writes, and its reader for the measured-kernel backend.

Format ``scaleup-kernels`` version :data:`FORMAT_VERSION`: one row per measured point, long format, SI units.
CSV (``.csv``): two comment lines, then a header and the rows::

    # scaleup-kernels v1
    # provenance: {"device": "NVIDIA H100 80GB HBM3", "driver": "550.54", "torch": "2.13.0", ...}
    kind,name,dtype,mode,m,n,k,batch,seq,heads,kv_heads,head_dim,experts,top_k,tp,ep,ranks,bytes,time_s,...

Parquet (``.parquet``): the same columns, the provenance JSON in the schema metadata key
``scaleup-kernels`` (with ``version``). Columns (unused ones are 0 / empty):

========== =====================================================================================
kind       ``gemm`` | ``attn_prefill`` | ``attn_decode`` | ``moe`` | ``elementwise`` | ``floor`` |
           ``hbm_read`` | ``hbm_copy`` | ``collective``
name       model op of a GEMM (``qkv``, ``o_proj``, ``gate_up``, ``down``, ``lm_head``, ``router``),
           elementwise kernel (``rmsnorm``, ``rope``, ``silu_mul``, ``add``), collective
           (``all_reduce`` ...), ``empty`` for the launch floor
dtype      ``bf16`` / ``fp8`` / ``fp4`` / ``fp32`` (compute dtype; attention: the Q/K/V dtype)
mode       ``graph`` (inside a captured graph, time per kernel incl. the in-graph gap) or ``eager``
m, n, k    GEMM ``m x k @ k x n``; MoE: m = input tokens, n = expert ffn (whole expert), k = hidden
batch, seq attention: sequences and sequence length (prefill) or context (decode)
heads ...  attention heads / KV heads / head dim per device; experts/top_k/tp/ep of a MoE layer
ranks      devices of a collective
bytes      bytes moved: elementwise (as :mod:`inference.ops` counts them), HBM read/copy, collective
           size (nccl-tests convention)
time_s     median time of the repeats, s; ``min_s`` the fastest; ``repeats`` how many
algbw      collectives: bytes / time, bytes/s; ``busbw`` algbw x the nccl-tests bus factor
========== =====================================================================================

:class:`KernelTable` answers the same questions as :class:`inference.measured.KernelTables` (``gemm``,
``decode_attention``, ``prefill_attention``, ``moe``) plus ``elementwise``, by the same log-log multilinear
interpolation (:class:`inference.measured.Grid`): exact on grid points, monotone between neighbours, None
outside the grid (the caller then uses the analytic model). Its times are taken inside a captured graph,
so they already hold the per-kernel gap (``includes_launch``).
"""

from __future__ import annotations

import csv
import json
import math
import os
from typing import Any

import numpy as np

from topo import SpecError

from ..measured import Grid

FORMAT = "scaleup-kernels"
FORMAT_VERSION = 1
KINDS = ("gemm", "attn_prefill", "attn_decode", "moe", "elementwise", "floor", "hbm_read", "hbm_copy",
         "collective")
#: columns that identify a measured point (the resume key), then the measured values
KEY_COLUMNS = ("kind", "name", "dtype", "mode", "m", "n", "k", "batch", "seq", "heads", "kv_heads", "head_dim",
               "experts", "top_k", "tp", "ep", "ranks", "bytes")
VALUE_COLUMNS = ("time_s", "min_s", "repeats", "algbw", "busbw")
COLUMNS = KEY_COLUMNS + VALUE_COLUMNS
_STR_COLUMNS = ("kind", "name", "dtype", "mode")
#: elementwise kernel the model's norms, residuals and embedding are looked up on (bytes read + written ->
#: time); the MLP activation is looked up on ``silu_mul``
ELEMENTWISE_REFERENCE = "rmsnorm"


def row_key(row: dict) -> tuple:
    """The resume key of a row: its identifying columns, numbers rounded to 6 significant digits."""
    out = []
    for c in KEY_COLUMNS:
        v = row.get(c, "" if c in _STR_COLUMNS else 0)
        out.append(str(v) if c in _STR_COLUMNS else float(f"{float(v):.6g}"))
    return tuple(out)


def _complete(row: dict) -> dict:
    full = {c: ("" if c in _STR_COLUMNS else 0) for c in COLUMNS}
    full.update(row)
    return full


# ---------------------------------------------------------------------------------------------- writing
class TableWriter:
    """Appends rows to a table file as they are measured (CSV: one line per row, flushed; Parquet: the
    whole file rewritten on :meth:`flush`), so an interrupted run resumes where it stopped.

    Opening an existing table checks its format and that it was measured on the same device; its keys are
    in :attr:`done` (``scaleup measure`` skips them)."""

    def __init__(self, path: str, provenance: dict[str, Any]) -> None:
        self.path = path
        self.parquet = path.endswith((".parquet", ".pq"))
        if not (self.parquet or path.endswith(".csv")):
            raise SpecError(f"out: {path!r} must end in .csv or .parquet (the table format)")
        d = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(d):
            raise SpecError(f"out: directory {d!r} does not exist; create it or pick another path")
        self.provenance = dict(provenance)
        self.rows: list[dict] = []
        self.done: set[tuple] = set()
        if os.path.exists(path) and os.path.getsize(path) > 0:
            old = read_table(path)
            was, now = old.provenance.get("device"), self.provenance.get("device")
            if was != now:
                raise SpecError(f"out: {path} was measured on {was!r}, this run is on {now!r}; "
                                "write to another file (one table per device)")
            self.rows = old.rows
            self.done = {row_key(r) for r in old.rows}
            self.provenance = {**old.provenance, **{k: v for k, v in self.provenance.items() if k != "date"},
                               "resumed": self.provenance.get("date", "")}
            if not self.parquet:  # CSV: keep the file, append to it
                self._fh = open(path, "a", newline="")
                self._csv = csv.DictWriter(self._fh, fieldnames=list(COLUMNS))
                return
        if not self.parquet:
            self._fh = open(path, "w", newline="")
            self._fh.write(f"# {FORMAT} v{FORMAT_VERSION}\n")
            self._fh.write("# provenance: " + json.dumps(self.provenance, sort_keys=True) + "\n")
            self._csv = csv.DictWriter(self._fh, fieldnames=list(COLUMNS))
            self._csv.writeheader()
            self._fh.flush()

    def add(self, row: dict) -> None:
        """Record one measured row (written through at once for CSV)."""
        row = _complete(row)
        self.rows.append(row)
        self.done.add(row_key(row))
        if not self.parquet:
            self._csv.writerow(row)
            self._fh.flush()

    def flush(self) -> None:
        """Parquet: rewrite the file with every row so far (CSV rows are already on disk)."""
        if self.parquet:
            write_parquet(self.path, self.rows, self.provenance)

    def close(self) -> None:
        self.flush()
        if not self.parquet:
            self._fh.close()


def write_parquet(path: str, rows: list[dict], provenance: dict[str, Any]) -> None:
    """The rows and provenance as one Parquet file (provenance in the schema metadata)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = pd.DataFrame([_complete(r) for r in rows], columns=list(COLUMNS))
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[FORMAT.encode()] = json.dumps({"version": FORMAT_VERSION, **provenance}, sort_keys=True).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)


# ---------------------------------------------------------------------------------------------- reading
def read_table(path: str) -> KernelTable:
    """A ``scaleup-kernels`` table (CSV or Parquet) as a :class:`KernelTable`.

    Raises:
        SpecError: no such file, not a scaleup-kernels table, an unsupported version, a missing column or a
            non-positive time (the message names the file and the field)."""
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise SpecError(f"kernels: no such file {str(path)!r}; write one with `scaleup measure --out FILE`")
    path = str(path)
    if path.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        try:
            t = pq.read_table(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input
            raise SpecError(f"kernels: {path}: not a readable Parquet file ({exc})") from None
        meta = (t.schema.metadata or {}).get(FORMAT.encode())
        if meta is None:
            raise SpecError(f"kernels: {path}: no {FORMAT} metadata; not a table written by `scaleup measure`")
        try:
            prov = json.loads(meta)
            version = int(prov.pop("version", 0))
        except (ValueError, TypeError, AttributeError) as exc:
            raise SpecError(f"kernels: {path}: bad {FORMAT} metadata ({exc})") from None
        records = t.to_pandas().to_dict("records")
    else:
        try:
            version, prov, records = _read_csv(path)
        except UnicodeDecodeError as exc:
            raise SpecError(f"kernels: {path}: not UTF-8 text (offset {exc.start}); not a table written by "
                            "`scaleup measure`") from None
        except csv.Error as exc:
            raise SpecError(f"kernels: {path}: not a readable CSV ({exc})") from None
    if version != FORMAT_VERSION:
        raise SpecError(f"kernels: {path}: {FORMAT} version {version}, this scaleup reads v{FORMAT_VERSION}")
    return KernelTable(_normalise(records, path), prov, path)


def _read_csv(path: str) -> tuple[int, dict, list[dict]]:
    """(format version, provenance, rows) of a CSV ``scaleup-kernels`` table (:func:`read_table`)."""
    with open(path, newline="") as fh:
        first = fh.readline().strip()
        if not first.startswith(f"# {FORMAT} v"):
            raise SpecError(f"kernels: {path}: first line must be '# {FORMAT} v{FORMAT_VERSION}'; "
                            "not a table written by `scaleup measure`")
        try:
            version = int(first.rsplit("v", 1)[1])
        except ValueError:
            raise SpecError(f"kernels: {path}: bad version in {first!r}") from None
        second = fh.readline().strip()
        prefix = "# provenance:"
        if not second.startswith(prefix):
            raise SpecError(f"kernels: {path}: second line must be '{prefix} {{json}}'")
        try:
            prov = json.loads(second[len(prefix):])
        except json.JSONDecodeError as exc:
            raise SpecError(f"kernels: {path}: provenance is not JSON ({exc.msg})") from None
        records = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    return version, prov, records


#: compute dtypes a row may name ("" = none): scaleup's, and the MoE kernel labels of an MXFP4 checkpoint
_DTYPES = ("", "fp4", "fp6", "fp8", "int8", "bf16", "fp16", "fp32", "fp8_block", "w4a16_mxfp4", "w4a8_mxfp4_mxfp8")
_MODES = ("", "graph", "eager")


def _normalise(records: list[dict], path: str) -> list[dict]:
    rows = []
    if records:  # a renamed column (M for m, time_us) matched nothing and every op fell back without a word
        missing = [c for c in ("kind", "time_s") if c not in records[0]]
        if missing:
            raise SpecError(f"kernels: {path}: missing column {missing[0]!r}")
        unknown = [c for c in records[0] if c is not None and c not in COLUMNS]
        if unknown:
            raise SpecError(f"kernels: {path}: unknown column {unknown[0]!r}; columns: {', '.join(COLUMNS)} "
                            "(SI units: time_s in s)")
    for i, rec in enumerate(records):
        missing = [c for c in ("kind", "time_s") if c not in rec]
        if missing:
            raise SpecError(f"kernels: {path}: missing column {missing[0]!r}")
        row = {}
        for c in COLUMNS:
            v = rec.get(c, "")
            if c in _STR_COLUMNS:
                row[c] = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            else:
                try:
                    row[c] = float(v) if v not in ("", None) else 0.0
                except (TypeError, ValueError):
                    raise SpecError(f"kernels: {path}: row {i + 1}: {c} must be a number, got {v!r}") from None
        if row["kind"] not in KINDS:
            raise SpecError(f"kernels: {path}: row {i + 1}: unknown kind {row['kind']!r}; known: {', '.join(KINDS)}")
        if row["dtype"] not in _DTYPES:
            raise SpecError(f"kernels: {path}: row {i + 1}: unknown dtype {row['dtype']!r}; known: "
                            f"{', '.join(d for d in _DTYPES if d)}")
        if row["mode"] not in _MODES:
            raise SpecError(f"kernels: {path}: row {i + 1}: unknown mode {row['mode']!r}; known: graph, eager")
        if not row["time_s"] > 0:
            raise SpecError(f"kernels: {path}: row {i + 1}: time_s must be > 0 s, got {row['time_s']!r}")
        rows.append(row)
    return rows


_TABLES: dict[tuple[str, float], KernelTable] = {}


def load_table(path: str | KernelTable) -> KernelTable:
    """:func:`read_table`, memoised per (path, modification time); a :class:`KernelTable` passes through."""
    if isinstance(path, KernelTable):
        return path
    if not isinstance(path, (str, os.PathLike)):
        raise SpecError(f"kernels: expected a table path, got {type(path).__name__}")
    key = (os.path.abspath(path), os.path.getmtime(path) if os.path.exists(path) else 0.0)
    t = _TABLES.get(key)
    if t is None:
        t = _TABLES[key] = read_table(str(path))
    return t


# ---------------------------------------------------------------------------------------------- lookup
def _kv_label(dtype: str) -> str:
    return "bf16" if dtype in ("bf16", "fp16") else dtype


class KernelTable:
    """Measured rows of one device with lookups for the measured-kernel backend (times in s, or None).

    Attributes:
        rows: the table's rows (dicts of :data:`COLUMNS`).
        provenance: device, driver, library versions, clocks, date, backend.
        path: the file it was read from.
        includes_launch: True: the times were taken inside a captured graph and hold the per-kernel gap.
        launch_eager: measured time per eagerly launched empty kernel, s (0 if not measured).
        sources: which kinds were looked up (for the report's provenance).
    """

    own = True  # a table written by `scaleup measure` (vs aiconfigurator-core's)
    includes_launch = True

    def __init__(self, rows: list[dict], provenance: dict[str, Any], path: str = "") -> None:
        self.rows = rows
        self.provenance = provenance
        self.path = path
        self._grids: dict[tuple, Grid | None] = {}
        self.sources: set[str] = set()
        eager = [r["time_s"] for r in rows if r["kind"] == "floor" and r["mode"] == "eager"]
        self.launch_eager = float(np.median(eager)) if eager else 0.0

    def __len__(self) -> int:
        return len(self.rows)

    def describe(self) -> str:
        """One line: file, device, backend, date."""
        p = self.provenance
        return (f"scaleup measure table {os.path.basename(self.path)} ({len(self.rows)} rows; device "
                f"{p.get('device', '?')}, backend {p.get('backend', '?')}, {p.get('date', '?')})")

    def mismatch(self, chip: str) -> str:
        """An assumption line when the table was not measured on ``chip`` (a chip preset name), else ""."""
        from .collect import device_chip

        dev = str(self.provenance.get("device", "?"))
        if device_chip(dev) == chip:
            return ""
        return (f"ASSUMPTION: kernel table {os.path.basename(self.path)} was measured on {dev!r}, not on {chip}; "
                "its times are used as they are")

    def _grid(self, kind: str, match: dict, axes: tuple[str, ...]) -> Grid | None:
        key = (kind, tuple(sorted(match.items())), axes)
        if key not in self._grids:
            sel = [r for r in self.rows if r["kind"] == kind
                   and all(r[c] == v if isinstance(v, str) else math.isclose(r[c], v, rel_tol=1e-9)
                           for c, v in match.items())]
            if not sel:
                self._grids[key] = None
            else:
                # repeated points (a resumed run measured one twice): their median
                pts: dict[tuple, list[float]] = {}
                for r in sel:
                    pts.setdefault(tuple(r[a] for a in axes), []).append(r["time_s"])
                cols = [np.array([p[i] for p in pts]) for i in range(len(axes))]
                vals = np.array([float(np.median(v)) for v in pts.values()])
                self._grids[key] = Grid.from_rows(cols, vals)
        return self._grids[key]

    def _lookup(self, kind: str, match: dict, axes: tuple[str, ...], point: tuple) -> float | None:
        g = self._grid(kind, match, axes)
        v = None if g is None else g(*point)
        if v is not None:
            self.sources.add(kind)
        return v

    def _gemm_grid_n_k(self, dtype: str, n: float, k: float) -> dict:
        # the GEMM grid is per (n, k) pair: model shards are a handful of shapes, interpolated over m only
        return {"dtype": dtype, "n": float(n), "k": float(k)}

    def gemm(self, m: float, n: float, k: float, dtype: str) -> float | None:
        """Measured time (s) of an ``m x k @ k x n`` GEMM in ``dtype``, interpolated over m; None off the grid."""
        return self._lookup("gemm", self._gemm_grid_n_k(dtype, n, k), ("m",), (m,))

    def prefill_attention(self, batch: int, isl: int, heads: int, kv_heads: int, head_dim: int,
                          kv_dtype: str) -> float | None:
        """Causal prefill attention of ``batch`` sequences of ``isl`` tokens (BF16 Q/K/V), s; or None."""
        return self._lookup("attn_prefill", {"heads": float(heads), "kv_heads": float(kv_heads),
                                             "head_dim": float(head_dim), "dtype": _kv_label(kv_dtype)},
                            ("batch", "seq"), (batch, isl))

    def decode_attention(self, batch: int, context: float, heads: int, kv_heads: int, head_dim: int,
                         kv_dtype: str) -> float | None:
        """Decode attention, one query token per sequence over ``context`` cached tokens, s; or None."""
        return self._lookup("attn_decode", {"heads": float(heads), "kv_heads": float(kv_heads),
                                            "head_dim": float(head_dim), "dtype": _kv_label(kv_dtype)},
                            ("batch", "seq"), (batch, context))

    def moe(self, tokens: float, hidden: int, inter: int, top_k: int, experts: int, tp: int, ep: int,
            dtype: str) -> float | None:
        """Routed-expert layer (routing, permute, grouped GEMMs, combine) for ``tokens`` input tokens, s."""
        return self._lookup("moe", {"dtype": dtype, "k": float(hidden), "n": float(inter), "top_k": float(top_k),
                                    "experts": float(experts), "tp": float(tp), "ep": float(ep)},
                            ("m",), (tokens,))

    def elementwise(self, bytes_moved: float, mode: str = "graph", kernel: str = ELEMENTWISE_REFERENCE
                    ) -> float | None:
        """A memory-bound kernel moving ``bytes_moved`` bytes (read + written), looked up over bytes on the rows
        of ``kernel`` (``rmsnorm``, ``silu_mul``, ``add``, ``rope``) in ``mode`` (``graph`` / ``eager``), s;
        or None."""
        return self._lookup("elementwise", {"name": kernel, "mode": mode}, ("bytes",), (bytes_moved,))
