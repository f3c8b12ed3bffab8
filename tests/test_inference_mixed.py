"""The fused mixed (in-flight batching) step: decode tokens and a prefill chunk in one forward pass."""

import pytest

from inference import StepModel
from topo import load

DENSE = ("llama3.1-8b", "dgx-h100", {"tp": 1, "dtype": "fp8"})
TP2 = ("llama2-70b", "dgx-h100", {"tp": 2, "dtype": "fp8"})
MLA_DP = ("deepseek-v3", "dgx-b200", {"tp": 1, "ep": 8, "dtype": "fp4"})
PP2 = ("llama3.1-70b", "dgx-h100", {"tp": 2, "pp": 2, "dtype": "fp8"})
_SM: dict = {}


def sm(case, **kw) -> StepModel:
    key = (case[0], case[1], tuple(sorted({**case[2], **kw}.items())))
    if key not in _SM:
        _SM[key] = StepModel(case[0], load(case[1]), kv_dtype="fp8", hbm_usable=0.95, **{**case[2], **kw})
    return _SM[key]


@pytest.mark.parametrize("case", [DENSE, TP2, MLA_DP, PP2], ids=["dense", "tp2", "mla-dp-ep", "pp2"])
@pytest.mark.parametrize("b,ctx", [(1, 100), (48, 700), (256, 2000)])
def test_no_prefill_is_the_decode_step(case, b, ctx):
    m = sm(case)
    assert m.mixed_time(b, ctx, 0, 0) == m.decode_time(b, ctx)


@pytest.mark.parametrize("case", [DENSE, TP2, MLA_DP], ids=["dense", "tp2", "mla-dp-ep"])
@pytest.mark.parametrize("tokens,seqs", [(1, 1), (222, 1), (2000, 9), (4096, 16)])
def test_no_decode_is_the_prefill_step(case, tokens, seqs):
    """pp = 1 and a prefill within one step: the fused step of a chunk alone is the prefill step, per-step cost
    included (the prefill step's host cost)."""
    m = sm(case)
    assert m.mixed_time(0, 0, tokens, seqs) == pytest.approx(float(m.prefill_time(tokens, seqs)), rel=1e-12)


@pytest.mark.parametrize("case", [DENSE, TP2, MLA_DP, PP2], ids=["dense", "tp2", "mla-dp-ep", "pp2"])
def test_monotone_in_decode_batch_and_prefill_tokens(case):
    """On the analytic kernel model (the measured tables themselves are not monotone: Llama-3.1-8B FP8 on H100
    decodes batch 2 0.4 % faster than batch 1; DeepSeek's B200 MoE table runs 320 tokens faster than 164)."""
    m = sm(case, backend="analytic")
    tol = 1 + 1e-12
    batches = (1, 2, 8, 32, 100, 256, 512)
    tokens = (0, 1, 64, 222, 1000, 3000)
    for p in tokens:
        row = [m.mixed_time(b, 600, p, 1 if p else 0) for b in batches]
        assert all(x <= y * tol for x, y in zip(row, row[1:])), (p, row)
    for b in batches:
        col = [m.mixed_time(b, 600, p, 1 if p else 0) for p in tokens[1:]]
        assert all(x <= y * tol for x, y in zip(col, col[1:])), (b, col)


def _gemm_weight_bytes(m: StepModel) -> float:
    """Weight bytes one chip reads per step in its GEMMs (layers and LM head), bytes."""
    d = m.deployment
    st = d.step(1, 1, 0, "decode")
    return sum(r["hbm_bytes"] * r["layers"] for r in st.rows
               if r["op"] not in ("attention", "attention_swa", "embedding", "norms", "final_norm", "framework"))


@pytest.mark.parametrize("stack", ["ideal", "trtllm"])
@pytest.mark.parametrize("b,p", [(1, 1), (4, 16), (16, 32)])
def test_weights_are_read_once(stack, b, p):
    """At memory-bound sizes a fused step saves at least the weight reads of the smaller part against the two
    steps run apart: the roofline saves exactly one weight pass; the kernel model at least the weights at the
    chip's full bandwidth (no kernel streams faster)."""
    m = sm(DENSE, stack=stack)
    apart = m.decode_time(b, 500) + m.mixed_time(0, 0, p, 1)
    fused = m.mixed_time(b, 500, p, 1)
    chip = m.deployment.chip
    w = _gemm_weight_bytes(m)
    bw = chip.hbm_bandwidth * (chip.memory_efficiency if stack == "ideal" else 1.0)
    assert apart - fused >= w / bw * (1 - 1e-9)
    assert fused < apart


def test_a_fused_step_of_many_tokens_is_compute_bound_and_saves_little():
    """At large M the GEMMs are compute-bound: fusing saves the weights once, a small share of the step."""
    m = sm(DENSE, stack="ideal")
    apart = m.decode_time(512, 500) + m.mixed_time(0, 0, 8000, 8)
    fused = m.mixed_time(512, 500, 8000, 8)
    assert fused < apart and (apart - fused) / apart < 0.15


@pytest.mark.parametrize("bad", [dict(batch=-1), dict(prefill_tokens=10, prefill_seqs=0), dict(prefill_tokens=2,
                                  prefill_seqs=3), dict(batch=0, prefill_tokens=0, prefill_seqs=0)])
def test_bad_arguments_are_spec_errors(bad):
    from topo import SpecError

    kw = {"batch": 4, "context": 10, "prefill_tokens": 0, "prefill_seqs": 0, **bad}
    with pytest.raises(SpecError):
        sm(DENSE).mixed_time(**kw)
