"""Serving what-ifs (``scaleup serve --straggler / --fail / --fail-random``) on the closed-loop client and on
chunked-prefill pools: the what-if changes what it claims to change, and nothing else.

Expected values are independent of the simulator's code: a replica whose every iteration takes ``1 / s`` as long
runs a closed loop (no think time) on a timeline stretched by exactly ``1 / s``; a fault far from the replica the
step model simulates changes no time and no price.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_cli_error

from cli import main
from fleet import build_step_model, fault_fleet, fleet_from_dict, simulate_serving, straggler_fleet

#: one H100 of a DGX H100 under vLLM, chunked prefill (the bundled single-h100 fleet, small)
CHUNKED = {"name": "one", "model": "llama3.1-8b",
           "pools": [{"name": "g", "fabric": "dgx-h100", "tp": 1, "batch": 16, "token_budget": 1024,
                      "chunked_prefill": True, "stack": "vllm"}]}
LOOP = {"concurrency": 6, "requests": 18, "prompt": 1500, "output": 40}


def test_straggler_slows_the_chunked_iterations_too():
    """docs/whatif.md: a straggling replica's iterations take 1 / min(speed) as long, the whole iteration. A chunked
    pool's iterations are fused prefill + decode steps (mixed_time): they slowed not at all before, so TTFT stayed
    the healthy one. With every iteration 2x as long, the closed loop's whole timeline is 2x as long."""
    spec, models = straggler_fleet(CHUNKED, "c0@0.5")
    assert [p.name for p in spec.pools] == ["g@0.5"]
    base = build_step_model(fleet_from_dict(CHUNKED).pools[0], "llama3.1-8b")
    assert models["g@0.5"].mixed_time(4, 2000, 512, 2) == pytest.approx(2 * base.mixed_time(4, 2000, 512, 2), rel=1e-12)
    healthy = simulate_serving(CHUNKED, **LOOP)
    res = simulate_serving(spec, step_models=models, **LOOP)
    for name in ("arrival", "ttft", "latency", "tpot"):
        assert np.allclose(getattr(res, name), 2 * getattr(healthy, name), rtol=1e-9, atol=0), name
    assert res.makespan == pytest.approx(2 * healthy.makespan, rel=1e-9)


def test_fault_fleet_keeps_the_pool_price():
    """A pool's ``price`` ($/chip-hour) set the fleet's cost under --straggler but was dropped under --fail (the
    step model's own price came back). A fault on a chip no replica uses changes neither times nor cost."""
    priced = {**CHUNKED, "pools": [{**CHUNKED["pools"][0], "price": 7.0}]}
    healthy = simulate_serving(priced, **LOOP)
    assert healthy.fleet_cost_per_hour == pytest.approx(7.0)
    spec, models = fault_fleet(priced, ["chip:c5"])
    res = simulate_serving(spec, step_models=models, **LOOP)
    assert res.fleet_cost_per_hour == pytest.approx(7.0)
    assert res.cost_per_mtok == pytest.approx(healthy.cost_per_mtok, rel=1e-12)
    assert np.array_equal(res.latency, healthy.latency)


LIN_FLEET = ("pools:\n  - name: c\n    replicas: 2\n    batch: 8\n"
             "    step_model: {prefill_per_token: 40us, decode_base: 15ms, decode_per_seq: 100us, "
             "kv_capacity_tokens: 300000}\n")


@pytest.mark.parametrize("load", [["--concurrency", "4", "--requests", "24"], ["--rate", "2", "--duration", "10s"]])
def test_fail_random_uses_the_seed_of_the_requests(tmp_path, load):
    """``--seed`` draws the requests (closed-loop lengths, Poisson arrivals) and ``--fail-seed`` the faults; under
    --fail-random the requests were drawn under --fail-seed and --seed was ignored. The healthy figure is the plain
    run's under --seed."""
    f = tmp_path / "fleet.yaml"
    f.write_text(LIN_FLEET)
    kw = ({"concurrency": 4, "requests": 24} if load[0] == "--concurrency" else {"rate": 2.0, "duration": 10.0})
    for seed in (3, 11):
        r = CliRunner().invoke(main, ["serve", "--fleet", str(f), *load, "--seed", str(seed), "--fail-random",
                                      "default", "--samples", "2", "--json"])
        assert r.exit_code == 0, r.output
        want = simulate_serving(str(f), seed=seed, **kw).goodput
        assert json.loads(r.output)["healthy"] == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("load", [["--concurrency", "2", "--requests", "6"], ["--rate", "1", "--duration", "5s"]])
def test_fail_random_refuses_out(tmp_path, load):
    """--out writes one run's per-request rows; --fail-random runs one simulation per fault outcome and wrote no
    file, silently. It is a one-line error (exit 2) naming --out, and no file is left behind."""
    (tmp_path / "fleet.yaml").write_text(LIN_FLEET)
    assert_cli_error(["serve", "--fleet", "{d}/fleet.yaml", *load, "--fail-random", "default", "--samples", "2",
                      "--out", "{d}/rows.csv"], tmp_path, "--out")
    assert not (tmp_path / "rows.csv").exists()


@pytest.mark.parametrize("whatif", [["--fail", "chip:c5"], ["--straggler", "c5@0.5"]])
def test_whatif_on_a_fleet_without_a_model_names_the_fix(tmp_path, whatif):
    """A fabric pool with no model (no --model, no 'model' key): --straggler said 'no model; pass --model ...', as a
    plain serve does; --fail said "model: unknown preset or file 'None'". Both name the pool and the fix now."""
    (tmp_path / "fleet.yaml").write_text("pools:\n  - name: g\n    fabric: dgx-h100\n    tp: 1\n")
    assert_cli_error(["serve", "--fleet", "{d}/fleet.yaml", "--concurrency", "2", "--prompt", "10", "--output", "2",
                      *whatif], tmp_path, "pool 'g': no model; pass --model")
