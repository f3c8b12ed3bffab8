"""Parity gaps found reviewing the CLI <-> Python defaults (tests/test_api_parity.py has the rest): the same call
gives the same figures from both sides."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import topo
from cli import _json_text, main


def _cli_json(*args: str):
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


@pytest.mark.parametrize("name", ["sendrecv", "send_recv"])
def test_send_recv_monte_carlo_defaults_to_two_ranks_as_the_cli(name):
    """`scaleup collective sendrecv --fail-random` runs a group of 2 (its --group-size default); without group_size
    collective_monte_carlo cut groups of min(64, chips) and send_recv refused them (ScheduleError)."""
    from fleet import collective_monte_carlo

    out = _cli_json("collective", "sendrecv", "--fabric", "dgx-h100", "--sizes", "1MiB", "--fail-random", "x0",
                    "--samples", "1", "--ideal", "--json")
    mc = collective_monte_carlo(name, "dgx-h100", "1MiB", rates="x0", samples=1, ideal=True)
    assert out == [json.loads(_json_text(mc.to_dict()))]
    assert "1 group of 2" in mc.to_dict()["label"]


def test_serve_without_a_rate_says_the_duration_is_optional():
    """A rate alone is enough (600 s, as `scaleup serve --rate`): the error for no load no longer asks for both."""
    from fleet import simulate_serving

    with pytest.raises(topo.SpecError, match="duration default 600 s") as e:
        simulate_serving("single-h100")
    assert "a rate (requests/s) and a duration" not in str(e.value)


def test_calibrate_stack_refuses_a_fabric_of_another_chip_family_as_the_cli():
    """`scaleup calibrate --stack vllm --measurements aiconfigurator-vllm:b200_sxm --fabric dgx-h100` is refused (the
    B200 ladder on H100 chips); calibrate_stack("vllm", "b200_sxm", fabric="dgx-h100") fitted it silently."""
    from collectives.stacks import calibrate_stack

    r = CliRunner().invoke(main, ["calibrate", "--stack", "vllm", "--measurements", "aiconfigurator-vllm:b200_sxm",
                                  "--fabric", "dgx-h100"])
    assert r.exit_code == 2 and "chip family" in r.output
    rows = [{"collective": "all_reduce", "ranks": n, "bytes": 1024.0 * 4**i, "seconds": 5e-6 + 1e-6 * n + 1e-11 * 4**i}
            for n in (2, 4, 8) for i in range(8)]
    with pytest.raises(topo.SpecError, match="chip family"):
        calibrate_stack("vllm", "b200_sxm", fabric="dgx-h100", measurements=rows)


def test_serve_monte_carlo_draws_the_requests_of_the_cli_s_default_seed():
    """`scaleup serve --fail-random R --fail-seed 5` draws its requests under --seed (default 0);
    serve_monte_carlo(seed=5) drew them under 5 (trace_seed None = seed), so the healthy goodput differed."""
    from fleet import serve_monte_carlo

    out = _cli_json("serve", "--fleet", "single-h100", "--rate", "2", "--duration", "20s", "--fail-random", "x0",
                    "--samples", "2", "--fail-seed", "5", "--json")
    mc = serve_monte_carlo("single-h100", rates="x0", samples=2, seed=5, rate=2, duration=20.0)
    assert out == json.loads(_json_text(mc.to_dict()))
    assert mc.healthy != serve_monte_carlo("single-h100", rates="x0", samples=2, seed=5, trace_seed=5, rate=2,
                                           duration=20.0).healthy  # the requests' seed matters here
