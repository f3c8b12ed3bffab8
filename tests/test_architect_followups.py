"""Follow-ups of the architect persona's pass (notes/persona_architect.md, 'Reported, not fixed').

Each test fails before its fix. Expected values are independent of the code under test: a price given per
chip-hour times the chips deployed; one replica's figures times the replica counts; the same answer for a fault in
either of two groups of a fabric whose groups are alike.
"""

from __future__ import annotations

import numpy as np
import pytest

from fleet import fault_fleet, simulate_serving

#: every tray-first group of maia200-small (384 chips) holds a replica: a failed chip leaves no spare group
PRICE = 7.0


def _fleet(tp: int) -> dict:
    return {"name": "t", "model": "llama3.1-8b",
            "pools": [{"name": "g", "fabric": "maia200-small", "tp": tp, "batch": 8, "replicas": 384 // tp,
                       "price": PRICE}]}


LOOP = {"concurrency": 8, "requests": 8, "prompt": 100, "output": 4}


def test_serve_fail_still_charges_the_replica_that_is_down():
    """serve --fail: the pool lost a replica (no spare group) and was charged for the replicas left, so a failure
    made the fleet cheaper per hour ($97.03/h -> $86.25/h on gb200-nvl72 tp8 x9). The owner still pays for the
    down replica's chips: 384 chips deployed at $7/chip-hour are $2,688/h, up or not."""
    spec, models = fault_fleet(_fleet(1), ["chip:c5"])
    assert spec.pools[0].replicas == 383  # the simulation serves on the replicas that are up
    res = simulate_serving(spec, step_models=models, **LOOP)
    assert res.fleet_cost_per_hour == pytest.approx(384 * PRICE)
    assert res.pools[0]["cost_per_hour_usd"] == pytest.approx(384 * PRICE)
    assert res.pools[0]["replicas"] == 383 and res.pools[0]["replicas_down"] == 1
    assert "replicas down in pool g: 1 of 384" in res.table() and "still charged" in res.table()
    healthy = simulate_serving(_fleet(1), **LOOP)
    assert healthy.fleet_cost_per_hour == pytest.approx(res.fleet_cost_per_hour)
    assert "replicas down" not in healthy.table()


def test_infer_fail_cost_line_charges_the_fabric_for_every_replica():
    """infer --fail reports 8 of 9 replicas up; its cost line gave only a running replica's $/M tokens. It adds the
    fabric's: every replica charged, the tokens of those up (one replica's $/M x dp / replicas up)."""
    import topo
    from inference import estimate

    rep = estimate("llama3.1-8b", topo.load("maia200-small").with_faults(["chip:c5"]), tp=1, batch=8, prompt=100,
                   output=4)
    assert rep.dp == 384 and rep.extra["replicas_down"] == 1
    line = next(x for x in rep.table().splitlines() if x.strip().startswith("cost "))
    fabric = rep.cost_per_mtok * 384 / 383
    assert f"fabric {rep.cost_per_hour * 384:,.2f} $/h for its 384 replicas, the 1 down still charged: " \
           f"{fabric:.4f} $ per M output tokens" in line


def test_serve_fail_in_the_first_group_is_simulated_as_in_any_other():
    """serve --fail chip:c0 (a chip of the first TP group) was refused ('the step model simulates that group') while
    infer --fail chip:c0 ran. The step model runs the replicas that are up, so on a fabric whose groups are alike
    (mi300x: 8 chips, a link between every pair) a chip down in group 0 and one in group 2 give the same run."""
    fleet = {"name": "t", "model": "llama3.1-8b",
             "pools": [{"name": "g", "fabric": "mi300x", "tp": 2, "batch": 8, "replicas": 4, "price": PRICE}]}
    runs = []
    for chip in ("c0", "c5"):
        spec, models = fault_fleet(fleet, [f"chip:{chip}"])
        assert spec.pools[0].replicas == 3
        runs.append(simulate_serving(spec, step_models=models, **LOOP))
    a, b = runs
    assert np.array_equal(a.latency, b.latency) and np.array_equal(a.ttft, b.ttft)
    assert a.fleet_cost_per_hour == b.fleet_cost_per_hour == pytest.approx(8 * PRICE)


def test_serve_with_a_given_price_says_it_is_all_in():
    """serve --price 2 on a fabric whose network is priced dropped the network-share line and said nothing of the
    basis, where infer says 'price: 2 $/chip-hour (given; all-in: the fabric's network capex ... $ per chip not
    added)'. serve says the same of each pool with a given price."""
    from inference import estimate

    fleet = {"name": "t", "model": "llama3.1-8b",
             "pools": [{"name": "g", "fabric": "maia200-small", "tp": 1, "batch": 8, "price": 2.0}]}
    res = simulate_serving(fleet, **LOOP)
    line = next(x for x in res.table().splitlines() if x.startswith("cost basis pool g: "))
    infer = estimate("llama3.1-8b", "maia200-small", tp=1, batch=8, prompt=100, output=4, price_per_chip_hour=2.0)
    net = infer.provenance["price"].split("all-in", 1)[1]  # ": the fabric's network capex 15,667 $ per chip not added)"
    assert net.startswith(": the fabric's network capex ") and line.endswith(f"2 $/chip-hour (given, all-in{net}")
    assert res.pools[0]["price_basis"] == line.split(": ", 1)[1]
    pool = {k: v for k, v in fleet["pools"][0].items() if k != "price"}
    own = simulate_serving({**fleet, "pools": [pool]}, **LOOP)
    assert "cost basis" not in own.table() and own.pools[0]["price_basis"] == ""


def test_kv_fp4_on_a_chip_without_fp4_is_an_assumption_line():
    """--kv-dtype fp4 on H100 ran with no note, though H100 computes no FP4 (topo's h100-sxm lists fp8, int8, bf16,
    fp16, fp32) and no serving stack is known to run an FP4 KV cache on Hopper. Not an error (a KV cache is storage,
    dequantised as attention reads it): an ASSUMPTION line in infer's report and in serve's table, none where the
    chip computes FP4 (B200) or for an FP8 KV cache."""
    import topo
    from inference import Deployment

    assert "fp4" not in topo.chip_preset("h100-sxm").supported_dtypes()
    note = Deployment("llama3.1-8b", "dgx-h100", tp=1, kv_dtype="fp4").kv_dtype_note()
    assert note.startswith("ASSUMPTION: kv_dtype fp4 on h100-sxm, which computes no fp4") and "4 bits" in note
    assert note in Deployment("llama3.1-8b", "dgx-h100", tp=1, kv_dtype="fp4").provenance()["assumptions"]
    assert Deployment("llama3.1-8b", "dgx-b200", tp=1, kv_dtype="fp4").kv_dtype_note() == ""
    assert Deployment("llama3.1-8b", "dgx-h100", tp=1, kv_dtype="fp8").kv_dtype_note() == ""
    fleet = {"name": "t", "model": "llama3.1-8b",
             "pools": [{"name": "g", "fabric": "mi300x", "tp": 1, "batch": 8, "replicas": 1, "kv_dtype": "fp4"}]}
    res = simulate_serving(fleet, **LOOP)
    assert "pool g: ASSUMPTION: kv_dtype fp4 on mi300x, which computes no fp4" in res.table()
    assert res.pools[0]["kv_dtype_note"].startswith("ASSUMPTION: kv_dtype fp4 on mi300x")


def test_estimate_reports_the_largest_batch_meeting_a_tpot_or_ttft_target():
    """infer had no 'largest batch meeting a TPOT / TTFT target' answer (an architect's first question per fabric):
    only a sweep over batch and a filter. estimate(..., slo_tpot=, slo_ttft=) (infer --slo-tpot / --slo-ttft) is the
    report at that batch; plain estimates at that batch and the next say it is where the target stops being met."""
    from inference import compare, compare_table, estimate
    from topo import CapacityError, SpecError

    kw = dict(tp=1, prompt=512, output=64, stack="ideal")
    inf = float("inf")
    for slo, tpot, ttft in (({"slo_tpot": "4ms"}, 0.004, inf), ({"slo_ttft": 0.5}, inf, 0.5),
                            ({"slo_tpot": 0.004, "slo_ttft": "300ms"}, 0.004, 0.3)):
        rep = estimate("llama3.1-8b", "maia200-small", **slo, **kw)
        at = estimate("llama3.1-8b", "maia200-small", batch=rep.batch, **kw)
        after = estimate("llama3.1-8b", "maia200-small", batch=rep.batch + 1, **kw)
        assert (at.tpot, at.ttft) == (rep.tpot, rep.ttft) and rep.batch > 1
        assert at.tpot <= tpot and at.ttft <= ttft and (after.tpot > tpot or after.ttft > ttft), slo
        assert rep.extra["slo_limit"] == ("tpot" if after.tpot > tpot else "ttft")
        assert f"  SLO batch       {rep.batch:12,d}   (the largest batch meeting " in rep.table()
    # a target every batch that fits meets: the memory limit stops it (the largest batch estimate's hint names)
    big = estimate("llama3.1-8b", "maia200-small", slo_tpot="10s", **kw)
    assert big.extra["slo_limit"] == "memory"
    with pytest.raises(CapacityError, match=f"largest batch that fits at tp=1: {big.batch}$"):
        estimate("llama3.1-8b", "maia200-small", batch=big.batch + 1, **kw)
    with pytest.raises(SpecError, match=r"^slo_tpot: not met even at batch 1 \(TPOT [0-9.]+ ms > 0.1 ms"):
        estimate("llama3.1-8b", "maia200-small", slo_tpot="100us", **kw)
    with pytest.raises(SpecError, match="^slo_ttft: must be a time > 0"):
        estimate("llama3.1-8b", "maia200-small", slo_ttft=-1.0, **kw)
    reps = compare("llama3.1-8b", "maia200-small,mi300x", slo_tpot="4ms", **kw)
    assert len({r.batch for r in reps}) == 2  # one batch per fabric, in a row of the table
    table = compare_table(reps)
    assert "batch=per column" in table.splitlines()[0]
    assert any(x.startswith("batch (largest meeting SLOs)") and x.split()[-2:] == [f"{r.batch:,}" for r in reps]
               for x in table.splitlines())
