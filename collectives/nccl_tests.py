"""Parse nccl-tests stdout (``all_reduce_perf``, ``all_gather_perf``, ...) into measurement rows.

nccl-tests prints header lines starting with ``#`` (the command line, ``# nThread 1 nGpus 8 ...``, one
``#  Rank  0 Group  0 Pid ... device  0 [0x..] NVIDIA H100 ...`` line per rank, the column titles) and then
one row per size::

    #       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
    #        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
             256            64     float     sum      -1    15.82    0.02    0.03      0    15.61    0.02    0.03      0

The first time/algbw/busbw/#wrong group is out-of-place, the second in-place. ``size`` is bytes in
nccl-tests' convention (the same as scaleup's); ``time`` is microseconds. Some versions print ``N/A`` in
``#wrong`` (``-c 0``) and all_to_all / all_gather print ``none`` as redop and ``-1`` as root.
"""

from __future__ import annotations

import re
from pathlib import Path

from topo import SpecError

#: nccl-tests binary name -> scaleup collective
BINARIES = {
    "all_reduce_perf": "all_reduce", "all_gather_perf": "all_gather", "reduce_scatter_perf": "reduce_scatter",
    "alltoall_perf": "all_to_all", "broadcast_perf": "broadcast", "reduce_perf": "reduce",
    "sendrecv_perf": "send_recv",
}
_NUM = re.compile(r"^[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$")


def _collective_of(text: str, default: str | None) -> str | None:
    for binary, coll in BINARIES.items():
        if binary in text:
            return coll
    return default


def parse_nccl_tests(text: str, collective: str | None = None, source: str = "<stdout>",
                     in_place: bool = False) -> list[dict]:
    """Rows ``{collective, ranks, bytes, seconds, dtype, wrong}`` of an nccl-tests stdout (``wrong``: the row's
    ``#wrong`` count, data errors nccl-tests' check found; 0 for ``N/A``).

    Args:
        text: the whole stdout (several runs may be concatenated; each run's header sets its collective
            and rank count).
        collective: the collective when the stdout does not name its binary (e.g. ``"all_reduce"``).
        source: a name for error messages.
        in_place: take the in-place time (second group) instead of the out-of-place one.

    Raises:
        SpecError: no data rows, or the collective / rank count cannot be told (naming ``source``).
    """
    rows: list[dict] = []
    coll = _collective_of(text.split("\n", 3)[0] if text else "", collective)
    ranks = 0
    header_ranks = 0
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            c = _collective_of(s, None)
            if c is not None:
                coll = c
            m = re.search(r"nGpus\s+(\d+)", s)
            if m and "nThread" in s:
                header_ranks = 0  # a new run: count its rank lines
            if re.match(r"#\s+Rank\s+\d+\s", s):
                header_ranks += 1
                ranks = header_ranks
            continue
        parts = s.split()
        if len(parts) < 9 or not parts[0].isdigit() or not parts[1].isdigit():
            continue
        # size count type redop root time algbw busbw #wrong [time algbw busbw #wrong]
        t_col = 9 if in_place and len(parts) >= 13 else 5
        t = parts[t_col]
        if not _NUM.match(t):
            continue
        if coll is None:
            raise SpecError(f"{source}: cannot tell which collective this nccl-tests output is; "
                            "give the collective (CLI: --collective all_reduce; Python: collective='all_reduce')")
        if ranks < 1:
            raise SpecError(f"{source}: no '#  Rank N Group ...' header lines; cannot tell the number of ranks")
        w = parts[t_col + 3] if len(parts) > t_col + 3 else "0"  # #wrong: N/A (-c 0) counts as none
        rows.append({"collective": coll, "ranks": ranks, "bytes": float(parts[0]), "seconds": float(t) * 1e-6,
                     "dtype": parts[2], "wrong": int(w) if w.isdigit() else 0})
    if not rows:
        raise SpecError(f"{source}: no nccl-tests data rows found (expected lines 'size count type redop root "
                        "time algbw busbw #wrong ...')")
    return rows


def read_nccl_tests(path: str | Path, collective: str | None = None, in_place: bool = False) -> list[dict]:
    """:func:`parse_nccl_tests` of a file (the collective is also taken from its name, e.g.
    ``all_gather_perf.log``)."""
    p = Path(path)
    try:
        text = p.read_text(errors="replace")
    except OSError as exc:
        raise SpecError(f"measurements: cannot read {str(p)!r} ({exc.strerror})") from None
    return parse_nccl_tests(text, _collective_of(p.name, collective), source=p.name, in_place=in_place)
