"""Defects a systems researcher coming from ASTRA-sim / SimAI meets in the CLI (persona pass).

`scaleup fabric show dgx-h100` (the word such users reach for) said only "No such command 'fabric'": click's
did-you-mean finds no name close to `topo`. The names other tools use now point at the scaleup command.
`scaleup collective sendrecv --group-size 8` said "send_recv: the group must name exactly 2 chips (sender,
receiver), got 8", naming no option, and its --help said "give the chip count for the whole fabric"."""
from click.testing import CliRunner

from cli import main


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_fabric_points_at_topo() -> None:
    res = _run("fabric", "show", "dgx-h100")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "No such command 'fabric'; use `scaleup topo` (export | list | plot | show)" in res.output, res.output


def test_collectives_points_at_collective() -> None:
    res = _run("collectives", "all-reduce")
    assert res.exit_code == 2
    assert "use `scaleup collective` (all-gather | all-reduce" in res.output, res.output


def test_other_unknown_names_keep_clicks_message() -> None:
    res = _run("fabrc")
    assert res.exit_code == 2 and "No such command 'fabrc'." in res.output and "scaleup topo" not in res.output
    assert _run("topo", "list").exit_code == 0


def test_sendrecv_group_size_names_the_option_and_the_fix() -> None:
    res = _run("collective", "sendrecv", "--fabric", "dgx-h100", "--group-size", "8", "--sizes", "1MiB")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "error: --group-size: sendrecv has one sender and one receiver, give 2 (--concurrent-groups" in res.output
    assert res.output.rstrip().endswith("got 8"), res.output
    assert "whole fabric" not in _run("collective", "sendrecv", "--help").output
