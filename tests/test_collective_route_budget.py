"""The path-edge budget refusal (traffic.routing.RouteBudgetError) as the CLI words it.

Before: `scaleup collective all-to-all --fabric torus-8x8 --set dims=[16,16,24] --group-size 6144 --algorithm direct`
(37.7 M flows in direct's one step, ~3.7e9 entries) said "... (routing='hash', one path per flow, would still need
about 5.28e+08)": a Python spelling, and the collective CLI has no routing option. It now names the options the
command has (--algorithm, --group-size, --concurrent-groups, --inter). `scaleup traffic --routing hash` past
MAX_HASH_EDGES (366c8fc) now says 'one path per flow', not the spray's 'over every equal-cost path'.
Triggered on torus-8x8 (64 chips; the whole-fabric all-to-all has 4,032 flows, ~43,000 every-path entries,
64 x 63 x mean distance 4 = 16,128 one-path entries) with the budgets scaled down."""
import pytest
from conftest import cli_error_line

import traffic.routing as TR

A2A = ["collective", "all-to-all", "--fabric", "torus-8x8", "--group-size", "64", "--sizes", "1MiB"]


def test_collective_cli_names_its_own_options(small_route_budget: pytest.MonkeyPatch) -> None:
    msg = cli_error_line([*A2A, "--algorithm", "direct"])
    assert "routing" not in msg, msg  # no --routing on this command, and no Python spelling
    assert msg.startswith("error: --algorithm direct: a step of 4,032 flows"), msg
    assert "(--algorithm hier or pairwise)" in msg and "a smaller --group-size" in msg, msg
    assert "--concurrent-groups" not in msg, msg


def test_collective_cli_concurrent_names_fewer_groups(small_route_budget: pytest.MonkeyPatch) -> None:
    # 2 groups of 32 at once, direct: 2 x 32 x 31 = 1,984 flows in one step
    small_route_budget.setattr(TR, "MAX_ROUTE_EDGES", 5_000)
    msg = cli_error_line(["collective", "all-gather", "--fabric", "torus-8x8", "--group-size", "32", "--concurrent",
                  "--sizes", "1MiB", "--algorithm", "direct"])
    assert "routing" not in msg, msg
    assert "1,984 flows" in msg and "drop --concurrent-groups" in msg and "--algorithm ring" in msg, msg


def test_traffic_cli_hash_refusal_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TR, "_ROUTE_SAMPLE_ABOVE", 1000)
    monkeypatch.setattr(TR, "MAX_HASH_EDGES", 10_000)
    msg = cli_error_line(["traffic", "--fabric", "torus-8x8", "--pattern", "all_to_all", "--size", "1MiB", "--routing", "hash"])
    assert msg.startswith("error: --routing hash: 4,032 flows would need about 1.6"), msg
    assert "limit 1e+04" in msg and "use fewer flows" in msg and "routing='" not in msg, msg
    assert "--routing ecmp" not in msg, msg  # every path holds more: not a fix
