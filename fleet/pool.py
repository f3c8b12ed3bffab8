"""What routers see: :class:`Pool` (runtime state of one pool) and :class:`RequestView` (one request).

Both :mod:`fleet.sim` (which updates the state) and :mod:`fleet.routers` (which reads it) import this
module; it imports neither, so the two never import each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .spec import PoolSpec
from .stepmodel import StepCache, StepModelLike

__all__ = ["Pool", "RequestView"]


def _kv_capacity(pool: PoolSpec, sm: StepModelLike) -> float:
    if pool.kv_capacity_tokens is not None:
        return float(pool.kv_capacity_tokens)
    best = 0.0
    for c in (1024, 4096, 16384):
        best = max(best, float(sm.max_batch(c)) * c)
    return best


@dataclass
class RequestView:
    """What a router sees of a request: index, arrival (s), prompt and output tokens, phase."""

    id: int
    arrival: float
    prompt: int
    output: int
    phase: str  # "prefill" (first placement) or "decode" (after a disaggregated prefill)


class Pool:
    """Runtime state of one pool, as routers see it (read-only for routers).

    Attributes:
        name, role, spec: from the fleet spec; ``index``: position in the fleet.
        model: the replica step model; ``step``: its :class:`StepCache`.
        n: replicas; ``offset``: global index of replica 0 (KV endpoint rank).
        cost_per_hour: $/h per replica; ``chips``: chips per replica.
        kv_capacity: KV tokens per replica.
        load: outstanding tokens per replica (prompt + output of requests assigned, not finished).
        queued: requests waiting for admission per replica; ``running``: sequences in the batch per replica.
    """

    def __init__(self, spec: PoolSpec, index: int, model: StepModelLike, offset: int) -> None:
        self.spec = spec
        self.name = spec.name
        self.role = spec.role
        self.index = index
        self.model = model
        self.step = StepCache.of(model)
        self.n = spec.replicas
        self.offset = offset
        self.chips = int(model.chips)
        self.cost_per_hour = float(model.cost_per_hour)
        self.kv_capacity = _kv_capacity(spec, model)
        self.kv_bytes_per_token = float(model.kv_bytes_per_token)
        self.load = np.zeros(self.n)
        self.queued = np.zeros(self.n, dtype=np.int64)
        self.running = np.zeros(self.n, dtype=np.int64)
        self.replicas: list[Any] = []  # fleet.sim._Replica objects
        self._cpt: dict[int, float] = {}

    def __repr__(self) -> str:
        return f"Pool({self.name!r}, role={self.role}, replicas={self.n})"

    def estimate(self, prompt: int, output: int, replica: int | None = None) -> tuple[float, float]:
        """Rough (TTFT s, TPOT s) a new request would see on ``replica`` (default: least loaded).

        Queued work ahead is taken as prefill at the pool's token budget; TPOT is one decode iteration at
        the replica's batch plus this request. Used by the built-in routers; not a simulation.
        """
        r = int(np.argmin(self.load)) if replica is None else replica
        rep = self.replicas[r]
        tb = self.spec.token_budget
        ahead = rep.queued_tokens
        per_tok = self.step.prefill(min(tb, max(prompt, 1)), 1) / max(1, min(tb, prompt))
        ttft = ahead * per_tok + self.step.prefill(prompt, 1) if self.role != "decode" else 0.0
        b = min(self.spec.batch, int(self.running[r]) + 1)
        ctx = prompt + output / 2
        tpot = self.step.decode1(b, ctx)
        return ttft, tpot

    def cost_per_token(self, context: int = 1024) -> float:
        """$ per output token of one replica decoding at its batch limit (KV permitting), $/token."""
        key = int(context)
        hit = self._cpt.get(key)
        if hit is None:
            b = max(1, min(self.spec.batch, int(self.kv_capacity // max(1, context))))
            t = self.step.decode1(b, context)
            hit = self.cost_per_hour / 3600.0 * t / b if t > 0 else 0.0
            self._cpt[key] = hit
        return hit
