"""An algorithm of a list (`scaleup collective all-to-all --algorithm hier,direct`, `collectives.benchmark(...,
skipped=)`) whose step is over the path-edge budget (traffic.routing.RouteBudgetError, a CapacityError) stopped the
whole table, while one that cannot compile on the group (a ScheduleError) is left out with a '# not run' line and
the others still print; and auto, whose candidates include a whole-fabric direct all-to-all, stopped on that
refusal instead of skipping the candidate as it skips one of too many flows. On a 16x16x24 torus with every chip in the group, hier runs (43 s) and direct's one step of
37.7 M flows (~3.7e9 entries) is refused: the table now has hier's row and '# not run: direct: a step of
37,742,592 flows would need about 3.72e+09 path-edge entries (ecmp; limit 4e+08): too large to route'.
Triggered on torus-8x8 (64 chips; the whole-fabric all-to-all has 4,032 flows, ~43,000 every-path entries)
with the budgets scaled down."""
import pytest
from click.testing import CliRunner

import collectives
import topo
import traffic.routing as TR
from cli import main

A2A = ["collective", "all-to-all", "--fabric", "torus-8x8", "--group-size", "64", "--sizes", "1MiB"]


def test_benchmark_list_skips_the_algorithm_over_the_budget(small_route_budget: pytest.MonkeyPatch) -> None:
    skipped: dict[str, str] = {}
    rows = collectives.benchmark("all_to_all", "torus-8x8", ["1MiB"], 64, "hier,direct", skipped=skipped)
    assert [r["algorithm"] for r in rows] == ["hier"]
    assert skipped == {"direct": "a step of 4,032 flows would need about 4.29e+04 path-edge entries (ecmp; limit "
                                 "3e+04): too large to route"}
    with pytest.raises(TR.RouteBudgetError):  # without skipped=, or alone, it is the refusal itself
        collectives.benchmark("all_to_all", "torus-8x8", ["1MiB"], 64, "hier,direct")


def test_cli_list_prints_the_others(small_route_budget: pytest.MonkeyPatch) -> None:
    res = CliRunner().invoke(main, [*A2A, "--algorithm", "hier,direct"])
    assert res.exit_code == 0, res.output
    rows = [ln.split() for ln in res.output.splitlines() if ln.strip().startswith("1048576")]
    assert [r[3] for r in rows] == ["hier"], res.output
    assert "# not run: direct: a step of 4,032 flows would need about 4.29e+04 path-edge entries" in res.output
    assert "routing='" not in res.output


def test_auto_skips_a_candidate_over_the_budget(small_route_budget: pytest.MonkeyPatch) -> None:
    fab = topo.load("torus-8x8")
    r = collectives.all_to_all(fab, 2**20, group=fab.chips)
    assert r.algorithm != "direct"
    assert str(r.candidates["direct"]).startswith("skipped: a step of 4,032 flows"), r.candidates
    # the same call by name is the refusal itself
    with pytest.raises(TR.RouteBudgetError):
        collectives.all_to_all(fab, 2**20, group=fab.chips, algorithm="direct")
