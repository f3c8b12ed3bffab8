"""Step models: how long one serving iteration of a replica takes.

The serving simulation needs, per replica, the time of a prefill iteration and of a decode iteration. Any
object with the methods of :class:`StepModelLike` will do; :class:`inference.StepModel` (the roofline and
simulated-collective model of a chip and fabric) is the one the CLI uses. :class:`LinearStepModel` is an
affine model of measured step times (the way Vidur and Splitwise fit profiles), useful for calibration
against a real engine and for closed-form tests.

:class:`StepCache` wraps a step model for the simulator: it evaluates it on a grid of token counts
(``prefill_quantum`` and ``context_quantum`` tokens apart, exact in the batch size) and interpolates
linearly in between, so a 30,000-request run calls the underlying model a few thousand times at most. For
step times affine in tokens and context (a roofline in one regime) the interpolation is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from topo import SpecError

__all__ = ["LinearStepModel", "StepCache", "StepModelLike"]


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

    def __post_init__(self) -> None:
        for name in ("prefill_base", "prefill_per_token", "decode_base", "decode_per_seq",
                     "decode_per_kv_token", "kv_bytes_per_token", "cost_per_hour"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise SpecError(f"LinearStepModel.{name}: must be a number >= 0, got {v!r}")
        if not self.kv_capacity_tokens > 0:
            raise SpecError(f"LinearStepModel.kv_capacity_tokens: must be > 0, got {self.kv_capacity_tokens!r}")
        if not (isinstance(self.chips, int) and self.chips >= 1):
            raise SpecError(f"LinearStepModel.chips: must be an integer >= 1, got {self.chips!r}")

    def prefill_time(self, tokens, batch):  # noqa: ANN001 - vectorised over numpy arrays too
        return self.prefill_base + self.prefill_per_token * np.asarray(tokens, dtype=np.float64) + 0.0 * np.asarray(batch)

    def decode_time(self, batch, context):  # noqa: ANN001
        b = np.asarray(batch, dtype=np.float64)
        c = np.asarray(context, dtype=np.float64)
        out = self.decode_base + self.decode_per_seq * b + self.decode_per_kv_token * b * c
        return float(out) if np.ndim(out) == 0 else out

    def max_batch(self, context: int) -> int:
        return max(0, int(self.kv_capacity_tokens // max(1, int(context))))


class StepCache:
    """Grid-and-interpolate wrapper around a step model (see the module docstring).

    Args:
        model: any :class:`StepModelLike`.
        prefill_quantum: prompt-token spacing of the grid, tokens.
        context_quantum: context spacing of the decode grid, tokens.
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

    def __init__(self, model: StepModelLike, prefill_quantum: int = 64, context_quantum: int = 128) -> None:
        self.model = model
        self.pq = int(prefill_quantum)
        self.cq = int(context_quantum)
        self._pre: dict[tuple[int, int], float] = {}
        self._dec: dict[tuple[int, int], float] = {}
        self.calls = 0

    # grid points are max(1, j*quantum)
    def _pre_at(self, j: int, batch: int) -> float:
        key = (j, batch)
        v = self._pre.get(key)
        if v is None:
            self.calls += 1
            v = float(self.model.prefill_time(max(1, j * self.pq), batch))
            if not (math.isfinite(v) and v >= 0):
                raise SpecError(f"step model: prefill_time({max(1, j * self.pq)}, {batch}) returned {v!r}")
            self._pre[key] = v
        return v

    def _dec_at(self, batch: int, j: int) -> float:
        key = (batch, j)
        v = self._dec.get(key)
        if v is None:
            self.calls += 1
            v = float(self.model.decode_time(batch, max(1, j * self.cq)))
            if not (math.isfinite(v) and v >= 0):
                raise SpecError(f"step model: decode_time({batch}, {max(1, j * self.cq)}) returned {v!r}")
            self._dec[key] = v
        return v

    def prefill(self, tokens: float, batch: int) -> float:
        """Prefill iteration time for ``tokens`` prompt tokens in total over ``batch`` sequences, s."""
        if batch <= 0 or tokens <= 0:
            return 0.0
        x = float(tokens)
        j = int(x // self.pq)
        x0 = max(1, j * self.pq)
        x1 = (j + 1) * self.pq
        y0 = self._pre_at(j, batch)
        y1 = self._pre_at(j + 1, batch)
        return y0 + (y1 - y0) * (x - x0) / (x1 - x0)

    def decode(self, batch: int, contexts: np.ndarray) -> np.ndarray:
        """Decode iteration times for ``batch`` sequences at each mean context in ``contexts``, s."""
        c = np.asarray(contexts, dtype=np.float64)
        if batch <= 0:
            return np.zeros_like(c)
        js = np.floor(c / self.cq).astype(np.int64)
        lo, hi = int(js.min()), int(js.max()) + 1
        grid_x = np.array([max(1, j * self.cq) for j in range(lo, hi + 1)], dtype=np.float64)
        grid_y = np.array([self._dec_at(batch, j) for j in range(lo, hi + 1)], dtype=np.float64)
        return np.interp(c, grid_x, grid_y)

    def decode1(self, batch: int, context: float) -> float:
        """Scalar form of :meth:`decode`, s."""
        if batch <= 0:
            return 0.0
        j = int(context // self.cq)
        x0 = max(1, j * self.cq)
        x1 = (j + 1) * self.cq
        y0 = self._dec_at(batch, j)
        y1 = self._dec_at(batch, j + 1)
        return y0 + (y1 - y0) * (context - x0) / (x1 - x0)
