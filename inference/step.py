"""``StepModel``: step times of one replica for the serving simulator (fleet), memoised."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from topo import Fabric, SpecError

from .estimate import Deployment
from .models import ModelSpec
from .report import COST_KEYS, KNOB_KEYS, max_batch
from .speculative import parse_speculative


class StepModel:
    """Step-time oracle of one replica (``max(tp, ep) x pp`` chips) of ``model`` on ``fabric``.

    Times include the replica's communication simulated with every DP replica of the fabric running
    the same collectives at once (the steady state of a fully loaded fleet).

    Args: as :func:`inference.estimate` (``tp``, ``ep``, ``pp``, ``dp``, ``dtype``, ``kv_dtype``,
    ``overlap``, ``price_per_chip_hour``, knobs and cost options).
    """

    def __init__(self, model: ModelSpec | str, fabric: Fabric | str, tp: int = 8, ep: int = 1, pp: int = 1,
                 dp: int | None = None, dtype: str = "fp8", kv_dtype: str | None = None, overlap: bool = False,
                 price_per_chip_hour: float | None = None, **knobs: Any) -> None:
        unknown = set(knobs) - set(COST_KEYS) - set(KNOB_KEYS)
        if unknown:
            raise SpecError(f"StepModel: unknown option(s) {', '.join(sorted(unknown))}")
        if "speculative" in knobs:  # a Speculative, its CLI form or dict; None / "off": none
            knobs["speculative"] = parse_speculative(knobs["speculative"])
        dep_kw = {k: v for k, v in knobs.items() if k in KNOB_KEYS}
        self._cost_kw = {k: v for k, v in knobs.items() if k in COST_KEYS}
        self.deployment = Deployment(model, fabric, tp=tp, ep=ep, pp=pp, dp=dp, dtype=dtype, kv_dtype=kv_dtype,
                                     **dep_kw)
        self.model = self.deployment.model
        self.fabric = self.deployment.fabric
        self.overlap = bool(overlap)
        self._price = price_per_chip_hour
        self._prefill = lru_cache(maxsize=65536)(self._prefill_one)
        self._decode = lru_cache(maxsize=65536)(self._decode_one)
        self._mixed = lru_cache(maxsize=65536)(self._mixed_one)
        self._max_batch = lru_cache(maxsize=4096)(self._max_batch_one)

    # ------------------------------------------------------------------ scalars
    @property
    def tokens_per_step(self) -> float:
        """Tokens each sequence gains per decode step (:meth:`decode_time`): 1, or under ``speculative`` the
        expected accepted length E (:attr:`inference.speculative.Speculative.tokens_per_step`); the serving
        simulator advances every decoding sequence by E per iteration (fleet.sim)."""
        return self.deployment.tokens_per_step

    @property
    def chips(self) -> int:
        """Chips of one replica."""
        return self.deployment.replica_chips

    @property
    def cost_per_hour(self) -> float:
        """$ per hour of one replica's chips."""
        return self.deployment.cost_per_hour(self._price, **self._cost_kw)

    @property
    def network_cost_per_hour(self) -> float:
        """$ per hour of one replica's share of the fabric's network (its switches' and optics' capex amortised and
        their power: :meth:`inference.Deployment.cost_parts`), part of :attr:`cost_per_hour`; 0 under a given
        $/chip-hour (all-in)."""
        return self.deployment.replica_chips * self.deployment.cost_parts(self._price, **self._cost_kw)[1]

    @property
    def network_unpriced(self) -> str:
        """Why the fabric's network counts $0 though it has switches ("2 switches, no cost: block"; see
        :func:`topo.network_capex`), or "" (priced, in the chip's price, no switches, a given $/chip-hour or a
        ``network_capex_per_chip`` knob)."""
        from topo import network_capex

        if self._price is not None or self._cost_kw.get("network_capex_per_chip") is not None:
            return ""
        net = network_capex(self.deployment.fabric)
        return "" if net.priced else f"{net.switches:,} switch{'' if net.switches == 1 else 'es'}, no cost: block"

    @property
    def kv_bytes_per_token(self) -> float:
        """KV-cache bytes one token of one sequence occupies across the replica (all its chips), bytes.

        TP ranks holding replicated KV heads (tp > kv_heads, or MLA's shared latent) each count.
        Sliding-window layers are excluded (their cache stops growing at the window)."""
        d = self.deployment
        return d.kv_bytes_per_seq_token() * d.tp * d.pp

    # ------------------------------------------------------------------ times
    def _prefill_one(self, tokens: int, batch: int) -> float:
        d = self.deployment
        q = math.ceil(tokens / batch)
        placement = d.memory(batch, q, 0)["placement"]
        total, steps = d.prefill(batch, q, placement, self.overlap)
        if d.speculative is None:
            return total
        return total + d.speculative_prefill(batch, q, steps, self.overlap)  # the draft's own prefill (or MTP layer)

    def _decode_one(self, batch: int, context: int) -> float:
        d = self.deployment
        placement = d.memory(batch, context, 0)["placement"]
        st = d.decode_step(batch, context, placement)
        return d.pp * st.time(self.overlap) + (d.pp - 1) * st.send

    def _mixed_one(self, batch: int, context: int, tokens: int, seqs: int, prefill_context: int) -> float:
        d = self.deployment
        if tokens == 0:
            return self._decode(batch, context)
        if d.speculative is not None and batch:
            # speculative decoding: the decodes' draft + verify step and the chunks' own step, not fused (the
            # verify step's k + 1 query tokens per sequence are not in mixed_step; conservative: weights read twice)
            return self._decode(batch, context) + self._mixed(0, 0, tokens, seqs, prefill_context)
        q = math.ceil(tokens / seqs)
        placement = d.memory(batch + seqs, max(context + 1 if batch else 0, q + prefill_context), 0)["placement"]
        # pp micro-batches per iteration (TensorRT-LLM in-flight batching: one per pipeline stage), each a fused
        # step of its share: decode sequences as decode_time splits them, prefill sequences round-robin
        mb = math.ceil(batch / min(d.pp, batch)) if batch else 0
        total, send = 0.0, 0.0
        sts = []
        for i in range(d.pp):
            n_i = seqs // d.pp + (1 if i < seqs % d.pp else 0)
            if mb == 0 and n_i == 0:
                continue
            st = d.mixed_step(mb, context, n_i, q if n_i else 0, prefill_context, placement)
            total += st.time(self.overlap)
            send = st.send
            sts.append((st, 1))
        if d.speculative is not None:  # the draft builds its own KV cache of the chunks (MTP: one layer of them)
            total += d.speculative_prefill(seqs, q, sts, self.overlap)
        return total + (d.pp - 1) * send

    def _max_batch_one(self, context: int) -> int:
        return max_batch(self.deployment, context, 0)

    @staticmethod
    def _vec(fn, a, b):
        if np.ndim(a) == 0 and np.ndim(b) == 0:
            return fn(int(a), int(b))
        A, B = np.broadcast_arrays(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
        out = np.empty(A.shape, dtype=float)
        for idx, (x, y) in enumerate(zip(A.ravel().tolist(), B.ravel().tolist())):
            out.flat[idx] = fn(x, y)
        return out

    def prefill_time(self, tokens: int | np.ndarray, batch: int | np.ndarray) -> float | np.ndarray:
        """Time (s) to prefill ``tokens`` prompt tokens in total, spread over ``batch`` sequences."""
        if np.any(np.asarray(batch) < 1) or np.any(np.asarray(tokens) < 1):
            raise SpecError("prefill_time: tokens and batch must be >= 1")
        return self._vec(self._prefill, tokens, batch)

    def decode_time(self, batch: int | np.ndarray, context: int | np.ndarray) -> float | np.ndarray:
        """Time (s) of one decode step of ``batch`` sequences whose KV caches hold ``context`` tokens each."""
        if np.any(np.asarray(batch) < 1) or np.any(np.asarray(context) < 0):
            raise SpecError("decode_time: batch must be >= 1 and context >= 0")
        return self._vec(self._decode, batch, context)

    def mixed_time(self, batch: int, context: int, prefill_tokens: int, prefill_seqs: int,
                   prefill_context: int = 0) -> float:
        """Time (s) of one in-flight-batching iteration that decodes one token for each of ``batch`` sequences
        at ``context`` cached tokens and prefills ``prefill_tokens`` prompt tokens spread over ``prefill_seqs``
        sequences (chunks after ``prefill_context`` cached tokens each), fused in one forward pass per pipeline
        micro-batch (:meth:`inference.estimate.Deployment.mixed_step`: weights read once, attention per
        request, one step's host cost).

        ``mixed_time(b, c, 0, 0) == decode_time(b, c)``; ``mixed_time(0, 0, p, n) == prefill_time(p, n)`` for
        ``pp = 1`` and a prefill within ``prefill_chunk``."""
        for name, v in (("batch", batch), ("context", context), ("prefill_tokens", prefill_tokens),
                        ("prefill_seqs", prefill_seqs), ("prefill_context", prefill_context)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise SpecError(f"mixed_time: {name} must be an integer >= 0, got {v!r}")
        if (prefill_tokens == 0) != (prefill_seqs == 0) or prefill_seqs > prefill_tokens:
            raise SpecError(f"mixed_time: prefill_seqs must be in 1..prefill_tokens when prefill_tokens > 0 (0 with "
                            f"0), got {prefill_seqs} sequences for {prefill_tokens} tokens")
        if batch == 0 and prefill_tokens == 0:
            raise SpecError("mixed_time: nothing to run; give batch >= 1 or prefill_tokens >= 1")
        return self._mixed(int(batch), int(context), int(prefill_tokens), int(prefill_seqs), int(prefill_context))

    def max_batch(self, context: int) -> int:
        """Largest number of sequences of ``context`` tokens whose KV cache fits next to the weights."""
        if context < 0:
            raise SpecError(f"max_batch: context must be >= 0, got {context}")
        return self._max_batch(int(context))
