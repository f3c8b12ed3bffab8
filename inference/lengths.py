"""Request lengths as distributions, and what continuous batching sees of them (issue 11).

A request of ``I`` prompt tokens and ``O`` output tokens holds a decode slot of an in-flight batch for ``O - 1``
iterations (its first token comes from the prefill); in the iteration that produces output token ``j + 1``
(``j = 1 .. O - 1``) its attention reads, and its KV cache holds, ``I + j`` tokens. Summed over its life:
``sum_{j=1}^{O-1} (I + j) = (O - 1) (I + O / 2)``. A steady in-flight batch is a renewal process over slots, so the
time (iteration) average context of a slot is length-biased (long outputs stay longer):

    E_slot[ctx] = E[(O - 1) (I + O / 2)] / E[O - 1]          (exact, discrete steps; :func:`slot_context`)

which is ``I + O / 2`` for constant lengths (the mean-length model) and larger than ``E[I] + E[O] / 2`` when the
outputs vary (``+ Var(O) / (2 E[O])`` for independent I, O) or when long outputs come with long prompts
(``Cov(I, O) / E[O]``). The KV cache held per slot is the same figure (paged KV, blocks allocated as a sequence
grows), so the sequences a KV budget admits fall by the same factor; a scheduler that reserves ``I + O`` on
admission holds ``E[(O - 1)(I + O)] / E[O - 1]`` per slot (:meth:`Lengths.reserved_per_slot`). A prompt of ``I``
tokens prefilled in chunks of ``c`` attends on average (token weighted) to ``max(I - c, 0) / 2`` earlier prompt
tokens; over prompts, ``E[I max(I - c, 0)] / (2 E[I])`` (:meth:`Lengths.chunk_prior_context`).

**Distributions** (:data:`DATASETS`): per-sample token counts of the MLPerf Inference datasets as exported by
github.com/openshift-psap/performance-dashboard at commit 71007029, ``mlperf-data/summaries/*.csv`` (columns
``input_length``, ``output_length``; made by its ``mlperf-data/original/generate_dataset_summaries.py`` from the
official MLCommons files: ``tok_input_length`` / ``tok_output_length`` of
``open_orca_gpt4_tokenized_llama.sampled_24576.pkl.gz`` for Llama-2-70B, ``tok_input_len`` /
``tok_ref_output_len`` of the Llama-3.1-405B and DeepSeek-R1 pickles; Llama-3.1-8B CNN/DailyMail: ``len(tok_input)``
of ``cnn_eval.json`` and the reference summary's characters / 4 for the output, an approximation). Only summaries
live here, computed with numpy over all samples: exact mean and population std of each, Pearson and Spearman
correlation of input and output, and the empirical quantiles (``numpy.quantile``, linear) at :data:`QUANTILE_P`.

**Fit** (what is sampled and integrated): each marginal is the piecewise-linear quantile function through those
quantiles (exact at the knots; its mean and std are within 1-2 % of the exact ones, the 8B output std +37 % from
one outlier at the top knot, 2,135 tokens, which the 128-token cap removes), joined by a Gaussian copula whose
correlation ``2 sin(pi rho_s / 6)`` reproduces the Spearman rank correlation (ASSUMPTION: the dependence is
Gaussian-copula shaped; it gives the slot context within 1-3 % of the exact per-sample figure:
Llama-2-70B 389 vs 377, 8B 991 vs 976, 405B 9,649 vs 9,585, R1 6,021 vs 5,827 tokens, reference lengths).
Expectations are Gauss-Hermite quadrature over the copula's two normal scores (deterministic); samples are drawn
from the same model with a fixed seed (:meth:`Lengths.sample`).

**Generated lengths.** The datasets' outputs are reference answers; a run generates its own. :meth:`Lengths.scaled`
sets the prompt mean (scaling the prompt quantiles) and the output mean (``O_run = min(s O_ref, cap)``, ``s`` solved
so that ``E[O_run]`` is the run's logged mean, ``cap`` the benchmark's max output tokens). ASSUMPTION: the run's
output lengths have the reference's shape and rank correlation with the input, scaled. Where the logged mean is
at or above the cap (Llama-3.1-8B: 129.0 tokens against the 128 cap, every sample runs to the cap) the outputs are
constant. ``spread`` stretches both marginals about their means (``m + k (q - m)``, clipped at one token) for the
sensitivity to the distributions' width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

__all__ = ["DATASETS", "OUTPUT_CAPS", "QUANTILE_P", "DatasetLengths", "Lengths", "slot_context"]

#: probability knots of the stored quantiles
QUANTILE_P = (0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)

_DASH = ("github.com/openshift-psap/performance-dashboard@71007029, mlperf-data/summaries/{f} (per-sample token "
         "counts of the official MLCommons dataset); summary by numpy over all samples")


@dataclass(frozen=True)
class DatasetLengths:
    """Summary statistics of one dataset's per-sample input / output token counts (see the module docstring)."""

    name: str
    source: str
    n: int
    prompt_mean: float
    prompt_std: float
    output_mean: float
    output_std: float
    pearson: float
    spearman: float
    prompt_q: tuple[float, ...]  # quantiles at QUANTILE_P
    output_q: tuple[float, ...]


DATASETS: dict[str, DatasetLengths] = {
    "openorca": DatasetLengths(
        "Llama-2-70B OpenOrca (24,576 samples; output: the GPT-4 reference answer)", _DASH.format(f="llama2-70b-99.csv"),
        24576, 222.3, 171.5, 218.9, 172.3, -0.1691, -0.1203,
        (48, 56, 73, 85, 102, 117, 132, 152, 186, 232, 312, 519, 614, 687, 791, 877, 990, 1021),
        (3, 4, 15, 31, 67, 102, 146, 190, 231, 276, 336, 449, 563, 698, 779, 843, 950, 1016)),
    "cnndm": DatasetLengths(
        "Llama-3.1-8B CNN/DailyMail (13,368 samples; output: reference summary characters / 4)",
        _DASH.format(f="llama3-1-8b-datacenter.csv"),
        13368, 870.7, 430.1, 81.6, 36.6, 0.2863, 0.3278,
        (79, 237, 327, 391, 497, 594, 688, 784, 898, 1025, 1206, 1479, 1750, 1984, 2118, 2217, 2324, 2540),
        (13, 31, 43, 50, 54, 64, 71, 74, 84, 91, 105, 123, 140, 163, 180, 197, 245, 2135)),
    "llama3.1-405b": DatasetLengths(
        "Llama-3.1-405B (8,313 samples; output: tok_ref_output_len)", _DASH.format(f="llama3-1-405b.csv"),
        8313, 9428.6, 4066.9, 684.7, 260.8, -0.1521, -0.1152,
        (476, 1598, 2783, 3678, 5122, 6999, 8803, 10112, 11038, 11731, 12757, 14156, 15831, 17934, 18956, 19484,
         19846, 19988),
        (3, 192, 210, 217, 423, 599, 691, 753, 800, 841, 881, 974, 1048, 1125, 1174, 1219, 1360, 1830)),
    "deepseek-r1": DatasetLengths(
        "DeepSeek-R1 (4,388 samples; output: tok_ref_output_len, reasoning traces, 1.1 % at the 32,768 reference cap)",
        _DASH.format(f="deepseek-r1.csv"),
        4388, 803.8, 405.6, 4043.4, 5064.8, -0.3377, -0.3433,
        (52, 73, 100, 124, 231, 759, 865, 902, 952, 1037, 1141, 1281, 1312, 1358, 1432, 1479, 1682, 3140),
        (209, 356, 502, 627, 867, 1157, 1598, 2194, 3038, 4217, 5950, 9477, 13854, 19114, 32768, 32768, 32768,
         32768)),
}

#: max output tokens of each benchmark's reference implementation (github.com/mlcommons/inference@b66003e1):
#: language/llama2-70b/SUT.py ``max_new_tokens`` 1024; language/llama3.1-8b/SUT_VLLM.py ``max_tokens`` 128;
#: language/llama3.1-405b/SUT_VLLM.py ``max_tokens`` 2000; language/deepseek-r1/utils/backend_registry.py
#: ``MAX_OSL = 20 * 1000``
OUTPUT_CAPS: dict[str, int] = {"openorca": 1024, "cnndm": 128, "llama3.1-405b": 2000, "deepseek-r1": 20000}

_GH_N = 96  # Gauss-Hermite nodes per normal score


def slot_context(prompt: np.ndarray, output: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Time (iteration) average context of a decode slot, tokens: ``sum w (O - 1)(I + O / 2) / sum w (O - 1)`` over
    requests (or quadrature nodes) of ``prompt`` / ``output`` tokens with weights ``weight`` (see the module
    docstring). ``I + O / 2`` for constant lengths."""
    i = np.asarray(prompt, dtype=np.float64)
    o = np.asarray(output, dtype=np.float64)
    w = np.ones_like(o) if weight is None else np.asarray(weight, dtype=np.float64)
    slots = float(np.sum(w * (o - 1.0)))
    if slots <= 0:  # one-token outputs never decode: the prompt is the context
        return float(np.sum(w * (i + 1.0)) / np.sum(w))
    return float(np.sum(w * (o - 1.0) * (i + o / 2.0)) / slots)


@dataclass(frozen=True)
class Lengths:
    """A joint distribution of (prompt, output) tokens: piecewise-linear quantile marginals at ``p`` joined by a
    Gaussian copula of correlation ``rho``, the output then scaled by ``out_scale`` and capped at ``out_cap``
    (module docstring). :meth:`constant` is the mean-length model; :meth:`discrete` a finite support."""

    p: tuple[float, ...]
    prompt_q: tuple[float, ...]
    output_q: tuple[float, ...]
    rho: float = 0.0
    out_scale: float = 1.0
    out_cap: float = math.inf
    support: tuple[tuple[float, float, float], ...] | None = None  # (prompt, output, probability), discrete only
    label: str = field(default="", compare=False)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def constant(cls, prompt: float, output: float) -> Lengths:
        """Every request ``prompt`` / ``output`` tokens (today's mean-length model)."""
        return cls.discrete([(prompt, output, 1.0)], label="constant")

    @classmethod
    def discrete(cls, support: list[tuple[float, float, float]], label: str = "discrete") -> Lengths:
        """Finitely many (prompt tokens, output tokens, probability) points; probabilities sum to 1."""
        tot = sum(w for _, _, w in support)
        if not support or abs(tot - 1.0) > 1e-9 or any(w < 0 or o < 1 or i < 1 for i, o, w in support):
            raise ValueError(f"lengths: support must have tokens >= 1 and probabilities summing to 1, got {support}")
        return cls((0.0, 1.0), (0.0, 0.0), (0.0, 0.0), support=tuple((float(i), float(o), float(w))
                                                                   for i, o, w in support), label=label)

    @classmethod
    def of_dataset(cls, key: str) -> Lengths:
        """The fitted distribution of :data:`DATASETS` ``[key]`` (reference outputs, no cap)."""
        d = DATASETS[key]
        return cls(QUANTILE_P, tuple(map(float, d.prompt_q)), tuple(map(float, d.output_q)),
                   rho=2.0 * math.sin(math.pi * d.spearman / 6.0), label=key)

    # ------------------------------------------------------------------ quadrature
    @cached_property
    def _nodes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(prompt, output, weight) at the quadrature nodes (or the discrete support); weights sum to 1."""
        if self.support is not None:
            a = np.array(self.support, dtype=np.float64)
            return a[:, 0], np.minimum(a[:, 1] * self.out_scale, self.out_cap), a[:, 2]
        x, w = np.polynomial.hermite_e.hermegauss(_GH_N)
        w = w / w.sum()
        z1, z2 = np.meshgrid(x, x, indexing="ij")
        zo = self.rho * z1 + math.sqrt(1.0 - self.rho ** 2) * z2
        from scipy.special import ndtr

        i = np.interp(ndtr(z1).ravel(), self.p, self.prompt_q)
        o = np.minimum(np.interp(ndtr(zo).ravel(), self.p, self.output_q) * self.out_scale, self.out_cap)
        return i, o, np.outer(w, w).ravel()

    def _mean(self, f) -> float:
        i, o, w = self._nodes
        return float(np.sum(w * f(i, o)))

    @property
    def mean_prompt(self) -> float:
        """E[I], tokens."""
        return self._mean(lambda i, o: i)

    @property
    def mean_output(self) -> float:
        """E[O], tokens."""
        return self._mean(lambda i, o: o)

    def std(self) -> tuple[float, float]:
        """(std of I, std of O), tokens."""
        mi, mo = self.mean_prompt, self.mean_output
        return (math.sqrt(max(0.0, self._mean(lambda i, o: (i - mi) ** 2))),
                math.sqrt(max(0.0, self._mean(lambda i, o: (o - mo) ** 2))))

    def slot_context(self) -> float:
        """Time-average context (and KV tokens) of a decode slot, tokens: :func:`slot_context` over the
        distribution."""
        return slot_context(*self._nodes)

    def reserved_per_slot(self) -> float:
        """Time-average KV tokens a slot holds when each request reserves ``I + O`` on admission:
        ``E[(O - 1)(I + O)] / E[O - 1]``, tokens (``I + O`` for constant lengths)."""
        i, o, w = self._nodes
        slots = float(np.sum(w * (o - 1.0)))
        return float(np.sum(w * (o - 1.0) * (i + o)) / slots) if slots > 0 else float(np.sum(w * (i + o)))

    def chunk_prior_context(self, chunk: float) -> float:
        """Earlier prompt tokens a prefill chunk of ``chunk`` tokens attends to on average when prompts are
        prefilled as ``E[I] / chunk`` chunks of ``chunk`` tokens each: ``max(0, E[I^2] / E[I] - chunk) / 2``,
        tokens. It conserves the causal attention work of the prompts, ``E[I^2] / 2`` per prompt (chunked or
        not: ``chunk (prior + chunk / 2)`` per chunk); ``(I - chunk) / 2`` for a constant prompt."""
        return max(0.0, self._mean(lambda i, o: i * i) / self.mean_prompt - chunk) / 2.0

    # ------------------------------------------------------------------ transforms
    def scaled(self, prompt_mean: float, output_mean: float, output_cap: float = math.inf,
               spread: float = 1.0) -> Lengths:
        """The distribution with ``E[I] = prompt_mean`` (prompt quantiles scaled) and ``E[O] = output_mean``
        (``O = min(s O_ref, output_cap)``, ``s`` solved; constant ``output_mean`` when the cap cannot be
        reached otherwise), both marginals first stretched about their means by ``spread``."""
        base = self._spread(spread) if spread != 1.0 else self
        base = replace(base, out_scale=1.0, out_cap=math.inf)
        if base.support is not None:
            mi = base.mean_prompt
            sup = tuple((i * prompt_mean / mi, o, w) for i, o, w in base.support)
            base = replace(base, support=sup)
        else:
            base = replace(base, prompt_q=tuple(q * prompt_mean / base.mean_prompt for q in base.prompt_q))
        if output_mean >= output_cap * (1.0 - 1e-9):
            return base._const_output(output_mean)
        _, o_ref, w = base._nodes

        def mean_at(scale: float) -> float:
            return float(np.sum(w * np.minimum(o_ref * scale, output_cap)))

        lo, hi = 0.0, output_mean / max(base.mean_output, 1e-12)
        while mean_at(hi) < output_mean:
            hi *= 2.0
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if mean_at(mid) < output_mean else (lo, mid)
        return replace(base, out_scale=0.5 * (lo + hi), out_cap=output_cap)

    def _const_output(self, output: float) -> Lengths:
        """The prompt distribution of ``self`` with every output ``output`` tokens."""
        if self.support is not None:
            return replace(self, support=tuple((i, output, w) for i, _, w in self.support), out_scale=1.0,
                           out_cap=math.inf)
        return replace(self, output_q=tuple(float(output) for _ in self.output_q), out_scale=1.0, out_cap=math.inf)

    def _spread(self, k: float) -> Lengths:
        if self.support is not None:
            mi, mo = self.mean_prompt, self.mean_output
            return replace(self, support=tuple((max(1.0, mi + k * (i - mi)), max(1.0, mo + k * (o - mo)), w)
                                               for i, o, w in self.support))
        mi = self.mean_prompt
        mo = replace(self, out_scale=1.0, out_cap=math.inf).mean_output
        return replace(self, prompt_q=tuple(max(1.0, mi + k * (q - mi)) for q in self.prompt_q),
                       output_q=tuple(max(1.0, mo + k * (q - mo)) for q in self.output_q))

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``n`` (prompt, output) token pairs, integers >= 1, drawn from the same model (fixed ``seed``:
        deterministic)."""
        rng = np.random.default_rng(seed)
        if self.support is not None:
            a = np.array(self.support, dtype=np.float64)
            k = rng.choice(len(a), size=n, p=a[:, 2] / a[:, 2].sum())
            i, o = a[k, 0], np.minimum(a[k, 1] * self.out_scale, self.out_cap)
        else:
            from scipy.special import ndtr

            z = rng.standard_normal((2, n))
            zo = self.rho * z[0] + math.sqrt(1.0 - self.rho ** 2) * z[1]
            i = np.interp(ndtr(z[0]), self.p, self.prompt_q)
            o = np.minimum(np.interp(ndtr(zo), self.p, self.output_q) * self.out_scale, self.out_cap)
        return (np.maximum(1, np.rint(i)).astype(np.int64), np.maximum(1, np.rint(o)).astype(np.int64))
