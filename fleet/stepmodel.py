"""Step models: how long one serving iteration of a replica takes.

The serving simulation needs, per replica, the time of a prefill iteration and of a decode iteration. Any
object with the methods of :class:`StepModelLike` will do; :class:`inference.StepModel` (the roofline and
simulated-collective model of a chip and fabric) is the one the CLI uses. :class:`LinearStepModel` is an
affine model of measured step times (the way Vidur and Splitwise fit profiles), useful for calibration
against a real engine and for closed-form tests.

:class:`StepCache` wraps a step model for the simulator: it evaluates it on a geometric grid of batch
sizes and token counts and interpolates bilinearly in between, so a 30,000-request run calls the
underlying model a few hundred times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from topo import SpecError

__all__ = ["LinearStepModel", "StepCache", "StepModelLike", "StepModelWrapper"]


@runtime_checkable
class StepModelLike(Protocol):
    """What the serving simulation needs from a replica's step model (units: s, bytes, tokens, $/h)."""

    def prefill_time(self, tokens: int, batch: int) -> float:
        """Time of one prefill iteration of ``tokens`` prompt tokens in total over ``batch`` sequences, s."""
        ...

    def decode_time(self, batch: int, context: int) -> float:
        """Time of one decode iteration (one token for each of ``batch`` sequences of mean ``context``), s."""
        ...

    def max_batch(self, context: int) -> int:
        """Most sequences of ``context`` tokens whose KV cache fits in the replica's memory."""
        ...

    @property
    def kv_bytes_per_token(self) -> float:
        """KV-cache bytes per token of context (all layers, whole replica), bytes."""
        ...

    @property
    def chips(self) -> int:
        """Chips per replica."""
        ...

    @property
    def cost_per_hour(self) -> float:
        """Price of one replica, $/h."""
        ...


@dataclass(frozen=True)
class LinearStepModel:
    """Affine step times, e.g. fitted to profiles of a real serving engine.

    ``prefill_time(tokens, batch) = prefill_base + prefill_per_token * tokens`` (tokens in total);
    ``decode_time(batch, context) = decode_base + decode_per_seq * batch + decode_per_kv_token * batch * context``.

    Attributes:
        prefill_base: fixed cost of a prefill iteration, s.
        prefill_per_token: time per prompt token, s.
        decode_base: fixed cost of a decode iteration (weight reads), s.
        decode_per_seq: extra time per sequence in the batch, s.
        decode_per_kv_token: time per token of KV cache read, s.
        kv_bytes_per_token: KV bytes per token, bytes.
        kv_capacity_tokens: tokens of KV cache that fit in the replica.
        chips: chips per replica.
        cost_per_hour: $/h per replica.
        tokens_per_step: tokens each sequence gains per decode iteration (>= 1; speculative decoding's expected
            accepted length E, the ``decode_*`` times then those of a draft + verify iteration; default 1).
    """

    prefill_base: float = 0.0
    prefill_per_token: float = 1e-4
    decode_base: float = 0.02
    decode_per_seq: float = 0.0
    decode_per_kv_token: float = 0.0
    kv_bytes_per_token: float = 327680.0
    kv_capacity_tokens: float = 1e6
    chips: int = 1
    cost_per_hour: float = 1.0
    tokens_per_step: float = 1.0

    def __post_init__(self) -> None:
        for name in ("prefill_base", "prefill_per_token", "decode_base", "decode_per_seq",
                     "decode_per_kv_token", "kv_bytes_per_token", "cost_per_hour"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise SpecError(f"LinearStepModel.{name}: must be a number >= 0, got {v!r}")
        if not self.prefill_base + self.prefill_per_token > 0:
            raise SpecError("LinearStepModel.prefill_per_token: prefill_base and prefill_per_token are both 0 (a "
                            "prefill would take no time); give one of them > 0 s")
        if not self.decode_base + self.decode_per_seq + self.decode_per_kv_token > 0:
            raise SpecError("LinearStepModel.decode_base: decode_base, decode_per_seq and decode_per_kv_token are all "
                            "0 (a decode step would take no time); give one of them > 0 s")
        if not self.kv_capacity_tokens > 0:
            raise SpecError(f"LinearStepModel.kv_capacity_tokens: must be > 0, got {self.kv_capacity_tokens!r}")
        e = self.tokens_per_step
        if isinstance(e, bool) or not isinstance(e, (int, float)) or not math.isfinite(e) or e < 1:
            raise SpecError(f"LinearStepModel.tokens_per_step: a decode iteration gains at least one token per "
                            f"sequence (speculative decoding: the expected accepted length), got {e!r}")
        if not (isinstance(self.chips, int) and self.chips >= 1):
            raise SpecError(f"LinearStepModel.chips: must be an integer >= 1, got {self.chips!r}")

    def prefill_time(self, tokens: int | np.ndarray, batch: int | np.ndarray) -> float | np.ndarray:
        """``prefill_base + prefill_per_token x tokens``, s (``tokens`` in total over ``batch`` sequences;
        vectorised over numpy arrays)."""
        return self.prefill_base + self.prefill_per_token * np.asarray(tokens, dtype=np.float64) + 0.0 * np.asarray(batch)

    def decode_time(self, batch: int | np.ndarray, context: int | np.ndarray) -> float | np.ndarray:
        """``decode_base + decode_per_seq x batch + decode_per_kv_token x batch x context``, s (one token for
        each of ``batch`` sequences of mean ``context`` tokens; vectorised over numpy arrays)."""
        b = np.asarray(batch, dtype=np.float64)
        c = np.asarray(context, dtype=np.float64)
        out = self.decode_base + self.decode_per_seq * b + self.decode_per_kv_token * b * c
        return float(out) if np.ndim(out) == 0 else out

    def max_batch(self, context: int) -> int:
        """Most sequences of ``context`` tokens whose KV cache fits ``kv_capacity_tokens``."""
        return max(0, int(self.kv_capacity_tokens // max(1, int(context))))


class StepModelWrapper:
    """A step model that answers everything by its wrapped ``inner`` model; subclasses override what they
    change (a price, a speed). Attributes beyond the protocol (``kv_capacity_tokens``, ``deployment``, ...)
    are the wrapped model's too."""

    def __init__(self, inner: StepModelLike) -> None:
        self._inner = inner

    def prefill_time(self, tokens, batch):  # noqa: ANN001
        return self._inner.prefill_time(tokens, batch)

    def decode_time(self, batch, context):  # noqa: ANN001
        return self._inner.decode_time(batch, context)

    def max_batch(self, context: int) -> int:
        return self._inner.max_batch(context)

    @property
    def kv_bytes_per_token(self) -> float:
        return self._inner.kv_bytes_per_token

    @property
    def chips(self) -> int:
        return self._inner.chips

    @property
    def cost_per_hour(self) -> float:
        return self._inner.cost_per_hour

    def __getattr__(self, name: str):  # noqa: ANN204
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)


def _grid(limit: int = 1 << 22) -> np.ndarray:
    """1, 2, 3, 4, 6, 8, 12, 16, 24, ...: powers of two and 1.5x them, up to ``limit``."""
    pts = [1]
    p = 2
    while p <= limit:
        pts.append(p)
        if p * 3 // 2 <= limit and p >= 2:
            pts.append(p * 3 // 2)
        p *= 2
    return np.array(sorted(set(pts)), dtype=np.int64)


_GRID = _grid()
_GRID_F = _GRID.astype(np.float64)


def _cell(x: float) -> tuple[int, float]:
    """Grid cell of ``x`` (>= 1): (index of the lower point, weight of the upper point in [0, 1))."""
    j = int(np.searchsorted(_GRID_F, x, side="right")) - 1
    j = min(max(j, 0), len(_GRID) - 2)
    x0, x1 = _GRID_F[j], _GRID_F[j + 1]
    return j, (x - x0) / (x1 - x0)


class StepCache:
    """Grid-and-interpolate wrapper around a step model (see the module docstring).

    Both arguments of ``prefill_time(tokens, batch)`` and ``decode_time(batch, context)`` are put on the
    grid 1, 2, 3, 4, 6, 8, 12, 16, 24, ... (powers of two and 1.5x them) and the time is interpolated
    bilinearly between the four surrounding evaluations, each memoised. Bilinear interpolation is exact
    for ``a + b x + c y + d x y`` (e.g. a decode step's weight reads plus KV reads of batch x context);
    the quadratic attention term of long prefills is over-estimated by at most a few percent of itself. That
    holds for a smooth model: one read from measured kernel tables may jump between grid points (a GEMM row),
    which interpolation misses, high or low (docs/fleet.md, "Step-time cache").
    A whole simulation therefore calls the model a few hundred times.

    Args:
        model: any :class:`StepModelLike`.
    """

    _shared: dict[int, tuple[StepModelLike, StepCache]] = {}

    @classmethod
    def of(cls, model: StepModelLike) -> StepCache:
        """The cache shared by every simulation of ``model`` (so planner runs reuse evaluations)."""
        hit = cls._shared.get(id(model))
        if hit is None or hit[0] is not model:
            if len(cls._shared) > 4096:
                cls._shared.clear()
            hit = (model, cls(model))
            cls._shared[id(model)] = hit
        return hit[1]

    def __init__(self, model: StepModelLike) -> None:
        self.model = model
        self._pre: dict[tuple[int, int], float] = {}
        self._dec: dict[tuple[int, int], float] = {}
        self._mpre: dict[tuple[int, int], float] = {}
        self._sav: dict[tuple[int, int, int], float] = {}
        self._pfx: dict[tuple[int, int], float] = {}
        self.fused = callable(getattr(model, "mixed_time", None))
        self.calls = 0

    def _pre_at(self, jt: int, jb: int) -> float:
        key = (jt, jb)
        v = self._pre.get(key)
        if v is None:
            t, b = int(_GRID[jt]), int(_GRID[jb])
            self.calls += 1
            v = float(self.model.prefill_time(max(t, b), b))
            if not (math.isfinite(v) and v > 0):
                raise SpecError(f"step model: prefill_time({max(t, b)}, {b}) returned {v!r}; step times must be finite and > 0 s")
            self._pre[key] = v
        return v

    def _dec_at(self, jb: int, jc: int) -> float:
        key = (jb, jc)
        v = self._dec.get(key)
        if v is None:
            b, c = int(_GRID[jb]), int(_GRID[jc])
            self.calls += 1
            v = float(self.model.decode_time(b, c))
            if not (math.isfinite(v) and v > 0):
                raise SpecError(f"step model: decode_time({b}, {c}) returned {v!r}; step times must be finite and > 0 s")
            self._dec[key] = v
        return v

    def _mpre_at(self, jt: int, jb: int) -> float:
        key = (jt, jb)
        v = self._mpre.get(key)
        if v is None:
            t, b = int(_GRID[jt]), int(_GRID[jb])
            self.calls += 1
            v = float(self.model.mixed_time(0, 0, max(t, b), b))
            self._mpre[key] = v
        return v

    def _sav_at(self, jb: int, jt: int, jc: int) -> float:
        """Time a fused step of ``b`` decoding sequences (context ``c``) and a ``t``-token chunk saves against
        the two run apart: ``decode(b, c) + mixed(0, t) - mixed(b, t)``, s (grid point, exact evaluations)."""
        key = (jb, jt, jc)
        v = self._sav.get(key)
        if v is None:
            b, t, c = int(_GRID[jb]), int(_GRID[jt]), int(_GRID[jc])
            self.calls += 3
            m = self.model
            v = float(m.decode_time(b, c)) + float(m.mixed_time(0, 0, t, 1)) - float(m.mixed_time(b, c, t, 1))
            self._sav[key] = v
        return v

    def _pfx_at(self, jt: int, jp: int) -> float:
        """Extra time of a ``t``-token chunk after ``p`` cached tokens of its own prompt (its attention to them)
        over the same chunk first in its prompt: ``mixed(0, 0, t, 1, p) - mixed(0, 0, t, 1, 0)``, s (grid point)."""
        key = (jt, jp)
        v = self._pfx.get(key)
        if v is None:
            t, p = int(_GRID[jt]), int(_GRID[jp])
            self.calls += 2
            m = self.model
            v = float(m.mixed_time(0, 0, t, 1, p)) - float(m.mixed_time(0, 0, t, 1, 0))
            self._pfx[key] = v
        return v

    def prefix(self, tokens: float, prefixes: np.ndarray | float) -> np.ndarray | float:
        """Extra time of a prompt chunk of ``tokens`` tokens whose request already holds ``prefixes`` cached
        prompt tokens (earlier chunks: the chunk attends to them), over the same chunk with none, s; one value
        per prefix. Interpolated on the grid (bilinear: exact for attention's ``tokens x prefix`` term); 0 for
        a prefix of 0 and for a step model without ``mixed_time`` (its ``prefill_time`` has no context)."""
        scalar = np.ndim(prefixes) == 0
        pf = np.atleast_1d(np.asarray(prefixes, dtype=np.float64))
        out = np.zeros(len(pf))
        if self.fused and tokens > 0:
            jt, wt = _cell(max(float(tokens), 1.0))
            for i, p in enumerate(pf):
                if p < 1:
                    continue
                jp, wp = _cell(float(p))
                lo = (1 - wt) * self._pfx_at(jt, jp) + (wt * self._pfx_at(jt + 1, jp) if wt else 0.0)
                hi = ((1 - wt) * self._pfx_at(jt, jp + 1) + (wt * self._pfx_at(jt + 1, jp + 1) if wt else 0.0)) if wp else 0.0
                out[i] = (1 - wp) * lo + wp * hi
        return float(out[0]) if scalar else out

    def _fused_prefill(self, tokens: float, chunks: int) -> float:
        """A prefill-only fused step of ``tokens`` over ``chunks`` sequences (one forward pass), interpolated."""
        jt, wt = _cell(max(float(tokens), 1.0))
        jb, wb = _cell(float(chunks))
        v = (1 - wb) * ((1 - wt) * self._mpre_at(jt, jb) + (wt * self._mpre_at(jt + 1, jb) if wt else 0.0))
        if wb:
            v += wb * ((1 - wt) * self._mpre_at(jt, jb + 1) + (wt * self._mpre_at(jt + 1, jb + 1) if wt else 0.0))
        return v

    def mixed(self, tokens: float, chunks: int, batch: int, contexts: np.ndarray | float) -> np.ndarray | float:
        """Time of a chunked-prefill iteration: ``tokens`` prompt tokens in ``chunks`` chunks plus one token for
        each of ``batch`` decoding sequences at each mean context in ``contexts``, s.

        With a step model that has ``mixed_time`` (``inference.StepModel``: one fused forward pass, weights
        read once) it is ``fused prefill(tokens, chunks) + decode(batch, context) - saving(batch, tokens)``,
        each term interpolated on the grid (the saving, which depends on the context only through the
        memory placement, at the grid point of the smallest context at or below it); otherwise the two
        add (``prefill(tokens, chunks) + decode(batch, context)``, e.g. :class:`LinearStepModel`)."""
        scalar = np.ndim(contexts) == 0
        c = np.atleast_1d(np.asarray(contexts, dtype=np.float64))
        if tokens <= 0 or chunks <= 0:
            out = self.decode(batch, c)
            return float(out[0]) if scalar else out
        if batch <= 0:
            v = self._fused_prefill(tokens, chunks) if self.fused else self.prefill(tokens, chunks)
            return v if scalar else np.full(len(c), v)
        if not self.fused:
            out = self.prefill(tokens, chunks) + self.decode(batch, c)
            return float(out[0]) if scalar else out
        jt, wt = _cell(max(float(tokens), 1.0))
        jb, wb = _cell(float(batch))
        jc, _ = _cell(max(float(c.min()), 1.0))
        sav = (1 - wb) * ((1 - wt) * self._sav_at(jb, jt, jc) + (wt * self._sav_at(jb, jt + 1, jc) if wt else 0.0))
        if wb:
            sav += wb * ((1 - wt) * self._sav_at(jb + 1, jt, jc) + (wt * self._sav_at(jb + 1, jt + 1, jc) if wt else 0.0))
        out = self._fused_prefill(tokens, chunks) + self.decode(batch, c) - sav
        if not np.all(out > 0):
            raise RuntimeError(f"step model: fused step of {batch} decodes + {tokens:g} prompt tokens came out <= 0 s")
        return float(out[0]) if scalar else out

    def prefill(self, tokens: float, batch: int) -> float:
        """Prefill iteration time for ``tokens`` prompt tokens in total over ``batch`` sequences, s."""
        if batch <= 0 or tokens <= 0:
            return 0.0
        jt, wt = _cell(max(float(tokens), 1.0))
        jb, wb = _cell(float(batch))
        v = (1 - wb) * ((1 - wt) * self._pre_at(jt, jb) + (wt * self._pre_at(jt + 1, jb) if wt else 0.0))
        if wb:
            v += wb * ((1 - wt) * self._pre_at(jt, jb + 1) + (wt * self._pre_at(jt + 1, jb + 1) if wt else 0.0))
        return v

    def _dec_line(self, jb: int, c: np.ndarray) -> np.ndarray:
        lo = int(np.searchsorted(_GRID_F, c.min(), side="right")) - 1
        hi = int(np.searchsorted(_GRID_F, c.max(), side="right"))
        lo, hi = max(lo, 0), min(max(hi, lo + 1), len(_GRID) - 1)
        xs = _GRID_F[lo:hi + 1]
        ys = np.array([self._dec_at(jb, j) for j in range(lo, hi + 1)])
        return np.interp(c, xs, ys)

    def decode(self, batch: int, contexts: np.ndarray) -> np.ndarray:
        """Decode iteration times for ``batch`` sequences at each mean context in ``contexts``, s."""
        c = np.maximum(np.asarray(contexts, dtype=np.float64), 1.0)
        if batch <= 0:
            return np.zeros_like(c)
        jb, wb = _cell(float(batch))
        out = self._dec_line(jb, c)
        if wb:
            out = (1 - wb) * out + wb * self._dec_line(jb + 1, c)
        return out

    def decode1(self, batch: int, context: float) -> float:
        """Scalar form of :meth:`decode`, s."""
        if batch <= 0:
            return 0.0
        jc, wc = _cell(max(float(context), 1.0))
        jb, wb = _cell(float(batch))
        v = (1 - wb) * ((1 - wc) * self._dec_at(jb, jc) + (wc * self._dec_at(jb, jc + 1) if wc else 0.0))
        if wb:
            v += wb * ((1 - wc) * self._dec_at(jb + 1, jc) + (wc * self._dec_at(jb + 1, jc + 1) if wc else 0.0))
        return v
