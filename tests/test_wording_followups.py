"""Wording follow-ups of the persona passes: plan rows name their pool once and offer plan's options."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import cli_error_line

from fleet.trace import Trace


@pytest.fixture(scope="module")
def groq_rows() -> dict[str, str]:
    """plan on groq-rack tp8 (5,920 KV tokens) with one 7,000-token request: its prompt (5,000) fits the prefill
    pool, prompt + output does not fit the decode pool or a colocated one."""
    from fleet.plan import plan

    t = Trace(np.arange(8) * 0.5, np.array([200] * 7 + [5000]), np.array([100] * 7 + [2000]))
    r = plan("llama3.1-70b", 2, 1.0, 0.02, ["groq-rack"], trace=t, tps=(8,), batches=(32,), verify=0)
    return {c.mode: c.reason for c in r.candidates}


def test_plan_disaggregated_row_names_the_pool_it_is_about_once(groq_rows: dict[str, str]) -> None:
    why = groq_rows["disaggregated"]
    assert why.startswith("decode pool: a request of 7000 tokens"), why  # had read "prefill pool: pool 'decode': "
    assert "pool '" not in why and why.count("pool:") == 1


def test_plan_colocated_row_has_no_pool_name(groq_rows: dict[str, str]) -> None:
    assert groq_rows["colocated"].startswith("a request of 7000 tokens"), groq_rows["colocated"]  # "pool 'pool': "


def test_plan_kv_fit_hint_names_plan_options(groq_rows: dict[str, str]) -> None:
    for why in groq_rows.values():
        assert "kv_dtype" not in why and "clip the trace" not in why, why  # serve's options; plan has neither
        assert "--tps" in why and "--workload" in why, why


def test_serve_keeps_its_kv_fit_hint() -> None:
    from fleet.sim import KV_FIT_FIX

    assert KV_FIT_FIX == "raise tp, lower kv_dtype, or clip the trace"


def _sweep_point(job: str, **given: object) -> dict:
    from sweep.jobs import resolve_job

    j = resolve_job(job)
    p = {k: v.default for k, v in j.params.items()}
    p.update({"fabric": "torus-8x8", "size": 2**20, **given})
    return j.fn(p)


def test_collective_sweep_route_budget_names_the_spec_key(small_route_budget: pytest.MonkeyPatch) -> None:
    """A collective sweep's path-edge refusal had offered routing='hash' (Python); a spec sets it as opt.routing."""
    from traffic.routing import RouteBudgetError

    with pytest.raises(RouteBudgetError) as e:
        _sweep_point("collective", collective="all_to_all", algorithm="direct")
    msg = str(e.value)
    assert "routing='hash'" not in msg and "opt.routing: hash (one path per flow)" in msg, msg
    assert msg.startswith("opt.routing: ecmp: 4,032 flows"), msg


def test_traffic_sweep_route_budget_names_the_spec_key(small_route_budget: pytest.MonkeyPatch) -> None:
    import traffic.routing as TR

    with pytest.raises(TR.RouteBudgetError) as e:
        _sweep_point("traffic", pattern="all_to_all")
    msg = str(e.value)
    assert "routing='hash'" not in msg and msg.startswith("routing: ecmp: 4,032 flows"), msg
    assert "or routing: hash (one path per flow)" in msg and "pattern: permutation" in msg, msg
    small_route_budget.setattr(TR, "MAX_HASH_EDGES", 3_000)
    with pytest.raises(TR.RouteBudgetError) as e:
        _sweep_point("traffic", pattern="all_to_all", routing="hash")
    assert str(e.value).startswith("routing: hash: 4,032 flows would need about"), str(e.value)


def test_traffic_sweep_without_group_runs_on_every_chip() -> None:
    """A traffic point without `group` had failed with KeyError 'collective' (the collective job's default)."""
    out = _sweep_point("traffic", pattern="ring", size=1024)
    assert out["flows"] == 64


@pytest.mark.parametrize("argv,start", [
    (["--group-size", "1"], "error: --group-size: must be 2..8 chips of 'dgx-h100'"),
    (["--group-size", "3", "--concurrent-groups"], "error: --group-size: 3 does not divide the 8 chips"),
    (["--chunks", "0", "--algorithm", "ring"], "error: --chunks: must be a positive integer, got 0"),
])
def test_collective_cli_errors_name_the_option(argv: list[str], start: str) -> None:
    """collectives.benchmark's errors start with its Python fields (group_size:, chunks:); the CLI names options."""
    line = cli_error_line(["collective", "all-reduce", "--fabric", "dgx-h100", "--sizes", "1MiB", *argv])
    assert line.startswith(start), line
