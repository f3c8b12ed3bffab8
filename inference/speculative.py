"""Speculative decoding: a draft proposes ``k`` tokens per sequence, the target model verifies them in one pass.

One decode *iteration* of a speculating engine (TensorRT-LLM MTP / Eagle / draft-target, vLLM and SGLang
speculative decoding) is:

* **draft**: ``k`` sequential proposals per sequence. ``mtp``: one extra decoder layer and the LM head per
  proposal (DeepSeek-V3's multi-token-prediction module, Eagle-style one-layer heads); ``draft:<model>``: ``k``
  decode steps of a separate, smaller model sharing the target's tokenizer, on the same chips at the same ``tp``;
  ``ngram``: prompt lookup on the host (no device time; ASSUMPTION: hidden behind the GPU step);
* **verify**: one target step over ``k + 1`` tokens per sequence (the last accepted token and the ``k``
  proposals): every GEMM runs ``k + 1`` times the rows, attention reads each KV cache once for ``k + 1``
  queries, and the LM head computes logits for all ``k + 1`` positions.

Tokens per iteration (the expected accepted length, Leviathan, Kalman & Matias, "Fast Inference from
Transformers via Speculative Decoding", ICML 2023, eq. 1): with each proposal accepted with probability ``a``
independently of the others (ASSUMPTION: real acceptance falls along the draft chain and depends on the data),

    E = (1 - a**(k + 1)) / (1 - a)        (k + 1 at a = 1)

or, given per position (``mtp:3@0.9,0.8,0.7``: proposal ``i`` accepted with probability ``a_i`` when every
proposal before it was, as TensorRT-LLM and vLLM report their acceptance per draft position),

    E = 1 + a_1 + a_1 a_2 + ... + a_1 ... a_k

so the time per output token is ``iteration / E``. The acceptance is an input, never a default: it depends on
the draft, the model and the prompts. For scale, DeepSeek-V3's MTP module accepts its first proposal 85-90 % of
the time (DeepSeek-V3 technical report, arXiv 2412.19437, section 5.4.3).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from topo import SpecError

#: methods: how the ``k`` proposals are drafted
METHODS = ("mtp", "draft", "ngram")

_FORMS = ("mtp:K@A, ngram:K@A or draft:MODEL:K@A (K proposals per step, A the probability each is accepted, or K "
          "comma-separated ones per position), e.g. mtp:3@0.8 or mtp:3@0.9,0.8,0.7")


@dataclass(frozen=True)
class Speculative:
    """A speculative-decoding configuration.

    Attributes:
        method: ``"mtp"``, ``"draft"`` or ``"ngram"`` (see the module docstring).
        k: proposals (draft tokens) per sequence per iteration, >= 1.
        acceptance: probability that a proposal is accepted, in (0, 1]; or a tuple of ``k`` of them, proposal
            ``i``'s given that every proposal before it was accepted.
        draft_model: the draft model (preset name or YAML path) for ``method="draft"``, else None.
    """

    method: str
    k: int
    acceptance: float | tuple[float, ...]
    draft_model: str | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SpecError(f"speculative: unknown method {self.method!r}; use one of {', '.join(METHODS)} ({_FORMS})")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or not 1 <= self.k <= 64:
            raise SpecError(f"speculative: k (proposals per step) must be an integer in 1..64, got {self.k!r}")
        a = self.acceptance
        if isinstance(a, list):
            object.__setattr__(self, "acceptance", tuple(a))
            a = self.acceptance
        if isinstance(a, tuple) and len(a) != self.k:
            raise SpecError(f"speculative: {len(a)} acceptances given per position for k={self.k} proposals; give one "
                            f"probability for all or {self.k} of them")
        for v in (a if isinstance(a, tuple) else (a,)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
                raise SpecError(f"speculative: acceptance must be a probability in (0, 1] (each proposal accepted "
                                f"with it), got {v!r}")
        if (self.method == "draft") != (self.draft_model is not None):
            raise SpecError("speculative: a draft model goes with method 'draft' only (draft:MODEL:K@A)")

    @property
    def tokens_per_step(self) -> float:
        """Expected tokens each sequence gains per iteration, ``(1 - a^(k+1)) / (1 - a)`` (``k + 1`` at a = 1)."""
        if isinstance(self.acceptance, tuple):  # per position: 1 + a1 + a1 a2 + ...
            total, run = 1.0, 1.0
            for v in self.acceptance:
                run *= float(v)
                total += run
            return total
        a, k = float(self.acceptance), self.k
        return float(k + 1) if a >= 1.0 else (1.0 - a ** (k + 1)) / (1.0 - a)

    def label(self) -> str:
        """The CLI form, e.g. ``mtp:3@0.8`` or ``mtp:3@0.9,0.8,0.7``."""
        head = f"draft:{self.draft_model}" if self.method == "draft" else self.method
        a = self.acceptance
        return f"{head}:{self.k}@{','.join(f'{v:g}' for v in a) if isinstance(a, tuple) else format(a, 'g')}"


def parse_speculative(value: Any) -> Speculative | None:
    """A :class:`Speculative` from its CLI form (``mtp:3@0.8``, ``draft:llama3.1-8b:4@0.7``, ``ngram:4@0.5``),
    a dict of its fields, an instance, or None / ``"off"`` / ``"none"`` / False (no speculation: YAML 1.1 reads an
    unquoted ``off`` in a sweep grid as False)."""
    if value is None or isinstance(value, Speculative):
        return value
    if value is False:
        return None
    if isinstance(value, dict):
        unknown = set(value) - {"method", "k", "acceptance", "draft_model"}
        if unknown:
            raise SpecError(f"speculative: unknown key(s) {', '.join(sorted(unknown))}; known: method, k, acceptance, "
                            "draft_model")
        try:
            return Speculative(**value)
        except TypeError as e:
            raise SpecError(f"speculative: {e}; give method, k and acceptance ({_FORMS})") from None
    if not isinstance(value, str):
        raise SpecError(f"speculative: expected {_FORMS}, got {value!r}")
    text = value.strip()
    if text.lower() in ("", "off", "none"):
        return None
    m = re.fullmatch(r"(?P<method>[A-Za-z]+)(?::(?P<model>.+?))?:(?P<k>[^:@]+)(?:@(?P<a>.*))?", text)
    if not m:
        raise SpecError(f"speculative: cannot read {text!r}; expected {_FORMS}")
    method = m["method"].lower()
    if m["a"] is None:
        raise SpecError(f"speculative: {text!r} gives no acceptance; append @A, the probability each proposal is "
                        "accepted (it depends on the draft and the data; DeepSeek-V3 reports 0.85-0.9 for its MTP "
                        f"module's first proposal), e.g. {text}@0.8")
    try:
        k = int(m["k"])
    except ValueError:
        raise SpecError(f"speculative: K must be an integer number of proposals, got {m['k']!r} in {text!r}") from None
    try:
        vals = tuple(float(v) for v in m["a"].split(","))
    except ValueError:
        raise SpecError(f"speculative: acceptance must be a number in (0, 1] (or K of them, comma-separated), got "
                        f"{m['a']!r} in {text!r}") from None
    if not all(math.isfinite(v) for v in vals):
        raise SpecError(f"speculative: acceptance must be a number in (0, 1], got {m['a']!r}")
    a = vals[0] if len(vals) == 1 else vals
    if method == "draft" and not m["model"]:
        raise SpecError(f"speculative: method 'draft' needs the draft model, draft:MODEL:K@A, got {text!r}")
    if method != "draft" and m["model"]:
        raise SpecError(f"speculative: {text!r}: only 'draft' takes a model ({_FORMS})")
    return Speculative(method, k, a, m["model"])
