"""Request traces: Poisson (or bursty, gamma) arrivals, CSV trace files, and a synthetic generator with realistic lengths.

A :class:`Trace` is three arrays, one entry per request: arrival time (s), prompt tokens, output tokens.
Everything is deterministic under a seed (``numpy.random.default_rng(seed)``).

Synthetic length distributions (:data:`WORKLOADS`) are lognormal, with medians taken from public traces:

- ``azure-conv`` and ``azure-code``: the Azure LLM inference traces of November 2023 released with the
  Splitwise paper (Patel et al., "Splitwise: Efficient generative LLM inference using phase splitting",
  ISCA 2024, section III / Fig. 3): conversation prompts have a median of about 1,020 tokens and outputs
  about 129; coding prompts about 1,500 tokens and outputs about 13.
- ``sharegpt``: the ShareGPT conversations as used by vLLM (Kwon et al., SOSP 2023, Fig. 11): mean prompt
  about 161 tokens, mean output about 338 tokens.

The spreads (``sigma`` of the log) are **assumptions** chosen so that the P99/P50 ratios resemble the
published CDFs (a long right tail of a few x to ~10x the median); they are not fitted to the raw data,
which this package does not bundle. Lengths are clipped to ``[min, max]`` tokens.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from topo import SpecError
from topo.units import is_bare_number

__all__ = ["Trace", "WORKLOADS", "Workload", "closed_loop_trace", "load_trace", "poisson_trace", "synthetic_trace"]


@dataclass(frozen=True)
class Workload:
    """Lognormal request lengths (tokens): ``median`` and ``sigma`` of the natural log, clipped."""

    name: str
    prompt_median: float
    prompt_sigma: float
    output_median: float
    output_sigma: float
    prompt_max: int = 32768
    output_max: int = 4096
    source: str = ""


#: bundled synthetic workloads (see the module docstring for sources; sigmas are assumptions)
WORKLOADS: dict[str, Workload] = {
    "azure-conv": Workload(
        "azure-conv", 1020.0, 1.0, 129.0, 0.9, 16384, 2048,
        "Azure LLM inference trace 2023 (conversation), medians from Splitwise (ISCA 2024); sigmas assumed",
    ),
    "azure-code": Workload(
        "azure-code", 1500.0, 0.9, 13.0, 1.2, 16384, 2048,
        "Azure LLM inference trace 2023 (coding), medians from Splitwise (ISCA 2024); sigmas assumed",
    ),
    # lognormal mean = median * exp(sigma^2 / 2): medians chosen so the means are 161 and 338 tokens
    "sharegpt": Workload(
        "sharegpt", 161.0 / math.exp(0.5 * 1.1**2), 1.1, 338.0 / math.exp(0.5 * 0.9**2), 0.9, 8192, 2048,
        "ShareGPT as used by vLLM (SOSP 2023): means 161 prompt / 338 output tokens; sigmas assumed",
    ),
}


@dataclass(frozen=True)
class Trace:
    """A request trace, sorted by arrival.

    Attributes:
        arrival: arrival times, s (non-decreasing, >= 0).
        prompt: prompt lengths, tokens (>= 1).
        output: output lengths, tokens (>= 1; the first is produced by the prefill).
        name: a label.
    """

    arrival: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    name: str = "trace"

    def __post_init__(self) -> None:
        a = np.asarray(self.arrival, dtype=np.float64).ravel()
        p = np.asarray(self.prompt).ravel()
        o = np.asarray(self.output).ravel()
        if not (len(a) == len(p) == len(o)):
            raise SpecError(
                f"trace {self.name!r}: arrival, prompt and output must have the same length, "
                f"got {len(a)}, {len(p)}, {len(o)}"
            )
        if len(a) and (not np.all(np.isfinite(a)) or np.any(a < 0)):
            raise SpecError(f"trace {self.name!r}: arrival times must be finite and >= 0 s")
        for label, arr in (("prompt", p), ("output", o)):
            if len(arr) and (not np.all(np.isfinite(arr)) or np.any(arr < 1) or np.any(arr != np.floor(arr))):
                raise SpecError(f"trace {self.name!r}: {label} tokens must be integers >= 1")
        order = np.argsort(a, kind="stable")
        object.__setattr__(self, "arrival", a[order])
        object.__setattr__(self, "prompt", p.astype(np.int64)[order])
        object.__setattr__(self, "output", o.astype(np.int64)[order])

    def __len__(self) -> int:
        return len(self.arrival)

    @property
    def duration(self) -> float:
        """Time of the last arrival, s (0 for an empty trace)."""
        return float(self.arrival[-1]) if len(self.arrival) else 0.0

    @property
    def rate(self) -> float:
        """Mean arrival rate, requests/s."""
        return len(self) / self.duration if self.duration > 0 else float("nan")

    def save(self, path: str | Path) -> None:
        """Write the trace as CSV with columns ``arrival_s,prompt_tokens,output_tokens``."""
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["arrival_s", "prompt_tokens", "output_tokens"])
            for a, p, o in zip(self.arrival.tolist(), self.prompt.tolist(), self.output.tolist()):
                w.writerow([repr(a), p, o])


def _lognormal_int(rng: np.random.Generator, n: int, median: float, sigma: float, hi: int) -> np.ndarray:
    x = rng.lognormal(mean=math.log(median), sigma=sigma, size=n)
    return np.clip(np.rint(x), 1, hi).astype(np.int64)


#: most requests a synthetic trace may hold (a typo such as --rate 1e9 would otherwise exhaust memory)
MAX_REQUESTS = 10_000_000


def _check_seed(seed: Any) -> None:
    """A seed is an integer in [0, 2**63) (``numpy.random.default_rng``'s range); else a :class:`SpecError`."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise SpecError(f"seed: must be an integer in [0, 2**63), got {seed!r}")


def check_burstiness(burstiness: Any) -> float:
    """``burstiness`` as a float > 0 (finite), else a one-line :class:`SpecError` naming it."""
    if isinstance(burstiness, bool) or not isinstance(burstiness, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(burstiness)) or not float(burstiness) > 0:
        raise SpecError(f"burstiness: must be a number > 0 (1 = Poisson; below 1 burstier, above 1 more even), "
                        f"got {burstiness!r}")
    return float(burstiness)


def _arrival_gaps(rng: np.random.Generator, rate: float, burstiness: float, n: int) -> np.ndarray:
    """``n`` inter-arrival times, s: exponential (Poisson) at ``burstiness`` 1, else gamma with shape ``burstiness``
    and mean ``1 / rate`` (scale ``1 / (rate x burstiness)``), as vLLM's ``benchmark_serving.py --burstiness``."""
    if burstiness == 1.0:  # the Poisson draw of old, bit for bit
        return rng.exponential(1.0 / rate, size=n)
    return rng.gamma(shape=burstiness, scale=1.0 / (rate * burstiness), size=n)


def poisson_trace(
    rate: float,
    duration: float,
    prompt: int | str = "azure-conv",
    output: int | None = None,
    seed: int = 0,
    burstiness: float = 1.0,
) -> Trace:
    """Poisson arrivals at ``rate`` requests/s over ``duration`` s (or bursty ones, ``burstiness`` != 1).

    Args:
        rate: mean arrival rate, requests/s (> 0).
        duration: length of the arrival window, s (> 0).
        prompt: either a fixed prompt length (tokens, with ``output`` fixed too) or the name of a
            synthetic workload in :data:`WORKLOADS` for lognormal lengths.
        output: fixed output length, tokens (only with a fixed ``prompt``).
        seed: random seed; the same seed gives the same trace, bit for bit.
        burstiness: shape of gamma-distributed inter-arrival times of mean ``1 / rate`` (vLLM
            ``benchmark_serving.py --burstiness``): 1 is the Poisson process (exponential gaps, the same draw as
            without it, bit for bit); below 1 the arrivals come in bursts (coefficient of variation of the gaps
            ``1 / sqrt(burstiness)``), above 1 more evenly spaced.
    """
    if not (isinstance(rate, (int, float)) and rate > 0 and math.isfinite(rate)):
        raise SpecError(f"rate: must be a positive number of requests/s, got {rate!r}")
    if not (isinstance(duration, (int, float)) and duration > 0 and math.isfinite(duration)):
        raise SpecError(f"duration: must be a positive number of seconds, got {duration!r}")
    if rate * duration > MAX_REQUESTS:
        raise SpecError(f"rate x duration: {rate:g} requests/s for {duration:g} s is about {rate * duration:.3g} "
                        f"requests, more than {MAX_REQUESTS:,}; lower the rate or shorten the duration")
    _check_seed(seed)
    b = check_burstiness(burstiness)
    rng = np.random.default_rng(seed)
    # draw a few more gaps than expected, then cut at the window (exact renewal process); the count's variance is
    # ~ rate x duration / burstiness, so bursty traces draw a wider margin (capped: more is refused below)
    n_guess = int(min(rate * duration + 10 * math.sqrt(rate * duration / min(b, 1.0)) + 20, MAX_REQUESTS + 1))
    t = np.cumsum(_arrival_gaps(rng, rate, b, n_guess))
    while t[-1] < duration:
        if len(t) > MAX_REQUESTS:
            break
        more = np.cumsum(_arrival_gaps(rng, rate, b, n_guess)) + t[-1]
        t = np.concatenate([t, more])
    t = t[t < duration]
    n = len(t)
    if n > MAX_REQUESTS:
        raise SpecError(f"burstiness: {b:g} drew {n:,} requests in {duration:g} s at {rate:g} requests/s, more than "
                        f"{MAX_REQUESTS:,}; raise the burstiness, lower the rate or shorten the duration")
    kind = "poisson" if b == 1.0 else f"gamma{b:g}"
    if isinstance(prompt, str):
        if prompt not in WORKLOADS:
            raise SpecError(f"workload {prompt!r}: unknown; known: {', '.join(WORKLOADS)} (or a fixed length)")
        if output is not None:
            raise SpecError("output: give a fixed output length only together with a fixed prompt length")
        w = WORKLOADS[prompt]
        p = _lognormal_int(rng, n, w.prompt_median, w.prompt_sigma, w.prompt_max)
        o = _lognormal_int(rng, n, w.output_median, w.output_sigma, w.output_max)
        name = f"{kind}-{rate:g}rps-{w.name}"
    else:
        if output is None:
            raise SpecError("output: a fixed prompt length needs a fixed output length too")
        if int(prompt) < 1 or int(output) < 1:
            raise SpecError(f"prompt/output: fixed lengths must be >= 1 token, got {prompt!r}/{output!r}")
        p = np.full(n, int(prompt), dtype=np.int64)
        o = np.full(n, int(output), dtype=np.int64)
        name = f"{kind}-{rate:g}rps-{int(prompt)}x{int(output)}"
    return Trace(t, p, o, name=name)


def _count(v: object, field_: str, least: int = 1) -> int:
    """``v`` as an integer >= ``least`` (numpy integers and integral floats too), else a one-line SpecError."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(v)) or float(v) != int(v) or int(v) < least:
        raise SpecError(f"{field_}: must be an integer >= {least}, got {v!r}")
    return int(v)


def _fixed_lengths(prompt: object, output: object) -> tuple[int, int] | None:
    """``(prompt, output)`` tokens of every request when both are given, None when neither is (the workload's
    lengths then); only one, or a count that is not an integer >= 1, is a one-line SpecError naming it."""
    if prompt is None and output is None:
        return None
    if prompt is None or output is None:
        raise SpecError(f"{'prompt' if output is None else 'output'}: fixed lengths need both prompt and output "
                        "tokens (or neither, for the workload's lengths)")
    return _count(prompt, "prompt"), _count(output, "output")


def closed_loop_trace(requests: int, prompt: int | None = None, output: int | None = None,
                      workload: str = "azure-conv", seed: int = 0) -> Trace:
    """The ``requests`` requests of a closed-loop (fixed-concurrency) run, every arrival time 0 s.

    :func:`fleet.simulate_serving` with ``concurrency`` fills the arrival times in as the run goes (each
    completion releases the next request). Lengths: fixed ``prompt`` and ``output`` tokens (the benchmark
    case, every request the same), or, when neither is given, lognormal lengths of ``workload``
    (:data:`WORKLOADS`) drawn under ``seed`` (prompts first, then outputs, from one generator).

    Raises:
        SpecError: a count that is not an integer >= 1, only one of ``prompt`` / ``output``, an unknown workload.
    """
    n = _count(requests, "requests")
    if n > MAX_REQUESTS:
        raise SpecError(f"requests: {n:,} is more than {MAX_REQUESTS:,}; lower it")
    _check_seed(seed)  # also with fixed lengths, which draw nothing: a bad seed is refused whatever the load
    fixed = _fixed_lengths(prompt, output)
    if fixed is not None:
        p, o = fixed
        return Trace(np.zeros(n), np.full(n, p, dtype=np.int64), np.full(n, o, dtype=np.int64),
                     name=f"closed-loop-{p}x{o}")
    if workload not in WORKLOADS:
        raise SpecError(f"workload {workload!r}: unknown; known: {', '.join(WORKLOADS)} (or fixed prompt/output)")
    w = WORKLOADS[workload]
    rng = np.random.default_rng(seed)
    p_arr = _lognormal_int(rng, n, w.prompt_median, w.prompt_sigma, w.prompt_max)
    o_arr = _lognormal_int(rng, n, w.output_median, w.output_sigma, w.output_max)
    return Trace(np.zeros(n), p_arr, o_arr, name=f"closed-loop-{w.name}")


def synthetic_trace(rate: float, duration: float, workload: str = "azure-conv", seed: int = 0,
                    burstiness: float = 1.0) -> Trace:
    """A bundled synthetic trace: Poisson arrivals (gamma gaps of shape ``burstiness`` when it is not 1, see
    :func:`poisson_trace`) with lognormal lengths from :data:`WORKLOADS`."""
    return poisson_trace(rate, duration, prompt=workload, seed=seed, burstiness=burstiness)


def _rows(reader: Any, name: str) -> Any:
    """The rows of a csv reader; a malformed file (NUL bytes, ...) is a :class:`SpecError`."""
    try:
        yield from reader
    except csv.Error as exc:
        raise SpecError(f"trace {name} line {reader.line_num}: not a CSV of numbers ({exc})") from None

_TRACE_COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens")


def _header_columns(row: list[str], name: str, lineno: int) -> tuple[int, int, int]:
    """The positions of arrival_s, prompt_tokens, output_tokens in a header row; a header naming other
    columns is a :class:`SpecError` (its arrival might be in ms, its columns in another order)."""
    names = [f.strip().lower() for f in row]
    missing = [c for c in _TRACE_COLUMNS if c not in names]
    if missing:
        raise SpecError(
            f"trace {name} line {lineno}: header {[f.strip() for f in row]!r} lacks column(s) {', '.join(missing)}; "
            "name the columns arrival_s (seconds), prompt_tokens, output_tokens (any order; other columns are "
            "ignored), or drop the header to read the first three columns in that order"
        )
    return names.index("arrival_s"), names.index("prompt_tokens"), names.index("output_tokens")


def load_trace(path: str | Path) -> Trace:
    """Read a CSV trace: columns arrival time (s), prompt tokens, output tokens.

    A header row is optional: the first row that is not blank or a ``#`` comment is a header when it has three
    or more fields and its first is not a number. A header must name the columns ``arrival_s``, ``prompt_tokens`` and
    ``output_tokens`` (any order, case and surrounding spaces ignored); they are read by name. A header naming
    other columns (``timestamp_ms,input,output``) is a :class:`SpecError`: read by position it would be
    taken silently in seconds. Without a header the first three columns are read in that order. Extra
    columns are ignored.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"trace: file {str(path)!r} not found")
    rows: list[tuple[float, float, float]] = []
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"trace {path.name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                        "save it as a UTF-8 CSV of arrival_s,prompt_tokens,output_tokens") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    cols = (0, 1, 2)
    first = True
    for lineno, row in enumerate(_rows(reader, path.name), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if first:
            first = False
            if len(row) >= 3 and not is_bare_number(row[0]):
                cols = _header_columns(row, path.name, lineno)
                continue
        if len(row) <= max(cols):
            raise SpecError(
                f"trace {path.name} line {lineno}: need {max(cols) + 1} comma-separated columns (arrival_s, "
                f"prompt_tokens, output_tokens), got {len(row)}"
            )
        fields = [row[c] for c in cols]
        try:
            rows.append((float(fields[0]), float(fields[1]), float(fields[2])))
        except ValueError:
            raise SpecError(
                f"trace {path.name} line {lineno}: arrival_s, prompt_tokens, output_tokens must be "
                f"numbers, got {fields!r}"
            ) from None
    if not rows:
        raise SpecError(f"trace {path.name}: no requests")
    arr = np.array(rows, dtype=np.float64)
    return Trace(arr[:, 0], arr[:, 1], arr[:, 2], name=path.stem)
