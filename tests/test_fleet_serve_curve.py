"""The serving latency-throughput curve: ``scaleup serve`` on one inline pool (``--fabric`` instead of ``--fleet``,
:func:`fleet.single_pool_fleet`), the curve's figures in :meth:`ServingResult.summary` (per chip, per user), the
``serve`` sweep job and a concurrency sweep.

Expected values are independent of the code under test: the same fleet written as YAML, figures recomputed from
the per-request arrays and the pool's chip count, and properties of a closed loop on one replica of affine step
times (LinearStepModel)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_cli_error

from cli import main
from fleet import load_fleet, simulate_serving, single_pool_fleet
from topo import SpecError

SMALL = {"model": "llama3.1-8b", "fabric": "dgx-h100", "tp": 1}  # the cheapest fabric-built pool
LOAD = {"concurrency": 4, "requests": 12, "prompt": 200, "output": 16}


def _same(a, b) -> None:
    """Two ServingResults are identical: every per-request array and every summary figure, bit for bit."""
    for k in ("arrival", "ttft", "tpot", "latency", "queue_delay", "prefill_replica", "decode_replica"):
        assert np.array_equal(getattr(a, k), getattr(b, k), equal_nan=True), k
    assert json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)


# ---------------------------------------------------------------------------------------------- inline pool
def test_inline_pool_equals_the_same_fleet_written_as_yaml(tmp_path):
    """single_pool_fleet(...) is the fleet of the YAML a user would write (name, fabric, tp, stack, batch, token
    budget, chunked prefill): the same spec, and a closed loop on it gives identical results."""
    f = tmp_path / "one.yaml"
    f.write_text("name: llama3.1-8b on dgx-h100\nmodel: llama3.1-8b\npools:\n  - name: dgx-h100\n    fabric: dgx-h100\n"
                 "    tp: 1\n    stack: vllm\n    batch: 4\n    token_budget: 8192\n    chunked_prefill: true\n")
    inline = single_pool_fleet("llama3.1-8b", "dgx-h100", tp=1, stack="vllm", concurrency=4)
    assert inline == load_fleet(str(f))
    _same(simulate_serving(inline, **LOAD), simulate_serving(str(f), **LOAD))


def test_inline_pool_defaults():
    """TP 8, FP8, one colocated replica, inference's default stack, token budget 8192, chunked prefill; the batch
    holds the whole concurrency (InferenceMAX's --max-num-seqs $CONC), 256 without one."""
    spec = single_pool_fleet("llama3.1-70b", "dgx-h100", concurrency=96)
    (p,) = spec.pools
    assert (p.tp, p.ep, p.pp, p.dtype, p.kv_dtype, p.stack, p.replicas, p.role) == \
        (8, 1, 1, "fp8", None, None, 1, "colocated")
    assert (p.batch, p.token_budget, p.chunked_prefill, p.price, p.fabric) == (96, 8192, True, None, "dgx-h100")
    assert spec.model == "llama3.1-70b"
    assert single_pool_fleet("llama3.1-70b", "dgx-h100").pools[0].batch == 256
    assert single_pool_fleet("llama3.1-70b", "dgx-h100", batch=7, concurrency=96).pools[0].batch == 7


@pytest.mark.parametrize("kw,field", [
    ({"model": None}, "model"),
    ({"fabric": None}, "fabric"),
    ({"stack": "tensorrt"}, "stack"),
    ({"tp": 0}, "tp"),
    ({"replicas": 1.5}, "replicas"),
    ({"batch": True}, "batch"),
    ({"concurrency": -2}, "concurrency"),
    ({"chunked_prefill": "yes"}, "chunked_prefill"),
])
def test_bad_inline_pool_is_one_spec_error_naming_the_argument(kw, field):
    args = {"model": "llama3.1-8b", "fabric": "dgx-h100", **kw}
    with pytest.raises(SpecError, match=rf"^{field}: "):
        single_pool_fleet(args.pop("model"), args.pop("fabric"), **args)


def test_cli_inline_pool_equals_cli_fleet_file(tmp_path):
    """scaleup serve --model M --fabric F --tp T --stack S --batch B prints what --fleet of that YAML prints."""
    f = tmp_path / "one.yaml"
    f.write_text("name: x\nmodel: llama3.1-8b\npools:\n  - name: dgx-h100\n    fabric: dgx-h100\n    tp: 1\n"
                 "    stack: sglang\n    batch: 8\n    chunked_prefill: true\n")
    load = ["--concurrency", "4", "--requests", "12", "--prompt", "200", "--output", "16", "--json"]
    a = CliRunner().invoke(main, ["serve", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "1", "--stack",
                                  "sglang", "--batch", "8", *load])
    b = CliRunner().invoke(main, ["serve", "--fleet", str(f), *load])
    assert a.exit_code == 0 and b.exit_code == 0, (a.output, b.output)
    assert a.output == b.output and json.loads(a.output)["requests"] == 12


@pytest.mark.parametrize("argv,field", [
    (["--fleet", "single-h100", "--fabric", "dgx-h100", "--model", "llama3.1-8b"], "--fleet and --fabric"),
    (["--fleet", "single-h100", "--tp", "2"], "--tp"),
    (["--fleet", "single-h100", "--no-chunked-prefill"], "--chunked-prefill"),
    (["--fabric", "dgx-h100"], "--model"),
    (["--model", "llama3.1-8b"], "--fleet"),
    (["--model", "llama3.1-8b", "--stack", "vllm"], "--stack"),
    (["--model", "llama3.1-8b", "--fabric", "dgx-h100", "--stack", "tensorrt"], "--stack"),
    (["--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "two"], "--tp"),
    (["--model", "llama3.1-8b", "--fabric", "dgx-h100", "--batch", "0"], "--batch"),
    (["--model", "llama3.1-8b", "--fabric", "dgx-h100", "--price", "-3"], "--price"),
    (["--model", "llama3.1-8b", "--fabric", "no-such-fabric"], "no-such-fabric"),
])
def test_cli_bad_inline_pool_exits_2_with_one_line(tmp_path, argv, field):
    assert_cli_error(["serve", *argv, "--concurrency", "2", "--prompt", "10", "--output", "2"], tmp_path, field)


# ---------------------------------------------------------------------------------------------- curve figures
def test_curve_figures_from_the_arrays_and_the_chip_count():
    """Per-chip and per-user figures, recomputed from the per-request arrays and the fleet's chips (tp x replicas):
    output and prompt + output tokens over the makespan, per chip; tokens/s per user = 1 / TPOT statistic."""
    spec = {"pools": [{"name": "c", "replicas": 3, "batch": 16, "chunked_prefill": True,
                       "step_model": {"prefill_per_token": "40us", "decode_base": "15ms", "decode_per_seq": "100us",
                                      "kv_capacity_tokens": 400000, "chips": 4}}]}
    res = simulate_serving(spec, concurrency=24, requests=96, workload="sharegpt", seed=3)
    s = res.summary()
    chips = 3 * 4
    assert s["chips"] == chips
    assert s["output_tokens_per_s_per_chip"] == pytest.approx(res.output.sum() / res.makespan / chips, rel=1e-12)
    assert s["total_tokens_per_s"] == pytest.approx((res.prompt.sum() + res.output.sum()) / res.makespan, rel=1e-12)
    assert s["total_tokens_per_s_per_chip"] == pytest.approx(s["total_tokens_per_s"] / chips, rel=1e-12)
    tpot = res.tpot[np.isfinite(res.tpot)]
    assert s["tokens_per_s_per_user_mean"] == pytest.approx(1 / tpot.mean(), rel=1e-12)
    assert s["tokens_per_s_per_user_p50"] == pytest.approx(1 / np.median(tpot), rel=1e-12)
    assert s["tokens_per_s_per_user_p99"] == pytest.approx(1 / np.percentile(tpot, 99), rel=1e-12)
    assert s["tokens_per_s_per_user_p99"] <= s["tokens_per_s_per_user_p50"]
    one = simulate_serving(spec, concurrency=2, requests=4, prompt=10, output=1).summary()
    assert np.isnan(one["tokens_per_s_per_user_p50"])  # no TPOT of one-token outputs
