"""The same collective from Python, the CLI and a sweep gives the same figures (the project's CLI <-> Python rule).

Before: ``collectives.all_reduce(fab, size)`` ran every chip in rank order while ``scaleup collective
--group-size <chips>`` and a sweep's ``group: null`` ran ``fab.groups(n)[0]``, a one-hop cycle on a torus (4x4
torus, bidir, 64 MiB: 569.95 us from Python, 554.95 us from the CLI). Now ``group=None`` is
``collectives.default_group(fab)``, the CLI's group.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

import collectives as C
import topo
from cli import main
from sweep import resolve_job

SIZE = 64 * 2**20
TORUS = ("torus-8x8", {"dims": [4, 4]})  # 16 chips: the CLI's default group size (min(64, chips)) is every chip


@pytest.fixture(scope="module")
def torus():
    return topo.load(TORUS[0], **TORUS[1])


def _cli_time_us(cmd: str, algorithm: str) -> float:
    r = CliRunner().invoke(main, ["collective", cmd, "--fabric", TORUS[0], "--set", "dims=[4,4]", "--sizes", "64MiB",
                                  "--algorithm", algorithm, "--json"])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.output)
    return row["time_us"]


@pytest.mark.parametrize("cmd, coll, algorithm", [("all-reduce", "all_reduce", "bidir"),
                                                  ("all-reduce", "all_reduce", "ring"),
                                                  ("all-gather", "all_gather", "ring"),
                                                  ("broadcast", "broadcast", "ring")])
def test_python_default_group_is_the_clis_on_a_torus(torus, cmd, coll, algorithm):
    py = C.collective(coll, torus, SIZE, algorithm=algorithm)
    assert py.time * 1e6 == _cli_time_us(cmd, algorithm)  # bit for bit (JSON keeps a float's repr)
    # and the sweep's collective job, group: null
    row = resolve_job("collective")({"fabric": TORUS[0], "fabric.dims": [4, 4], "collective": coll, "size": SIZE,
                                     "algorithm": algorithm})
    assert row["time_us"] == py.time * 1e6 and row["ranks"] == torus.n_chips


def test_default_group_is_the_first_tray_group(torus):
    g = C.default_group(torus)
    assert g == torus.groups(torus.n_chips)[0] and sorted(g) == list(range(16)) and g != list(range(16))
    # consecutive members (and the last and the first) are one hop apart: the ring steps one hop
    xy = [(r % 4, r // 4) for r in g]
    for (a, b), (c, d) in zip(xy, xy[1:] + xy[:1]):
        assert min(abs(a - c), 4 - abs(a - c)) + min(abs(b - d), 4 - abs(b - d)) == 1
    assert C.default_group(torus, 2) == [0, 1]
    # the closed form of a one-hop ring: rank order's wrap steps made it slower
    rank_order = C.all_reduce(torus, SIZE, group=range(16), algorithm="ring", ideal=True)
    default = C.all_reduce(torus, SIZE, algorithm="ring", ideal=True)
    assert default.time == pytest.approx(default.bound) and default.time < rank_order.time


def test_run_ops_without_group_take_the_default_group(torus):
    (r,) = C.run([C.AllReduce(SIZE, algorithm="bidir")], torus)
    assert r.time == C.all_reduce(torus, SIZE, group=C.default_group(torus), algorithm="bidir").time
    (s,) = C.run([C.SendRecv(SIZE)], torus)
    assert s.n == 2 and s.time == C.send_recv(torus, SIZE, group=[0, 1]).time


def test_whole_torus_all_to_all_in_cycle_order_is_the_exchange_of_every_pair(torus):
    """The default group on a torus is every chip out of rank order: the direct all-to-all is still every ordered
    pair at size/n (the engine's counting form), whatever the order."""
    a = C.all_to_all(torus, SIZE, group=range(16), algorithm="direct")
    b = C.all_to_all(torus, SIZE, algorithm="direct")
    assert a.time == b.time and a.bound == b.bound
    assert np.array_equal(a.link_stats.link_bytes, b.link_stats.link_bytes)


def test_to_json_is_strict_json():
    """A NaN was null but an infinity was written as Python's `Infinity` token, which is not JSON."""
    rows = [{"size": 1024, "time_us": math.inf, "ratio": -math.inf, "measured_us": math.nan, "busbw_GBps": 1.5,
             "x": np.float64(np.inf)}]
    text = C.to_json(rows)

    def refuse(tok):
        raise AssertionError(f"non-JSON token {tok}")

    (row,) = json.loads(text, parse_constant=refuse)
    assert row == {"size": 1024, "time_us": None, "ratio": None, "measured_us": None, "busbw_GBps": 1.5, "x": None}


def test_sweep_send_recv_defaults_to_two_ranks_as_the_cli(torus):
    """The sweep's collective job gave send_recv every chip when `group` was not given, and the point failed
    ("the group must name exactly 2 chips ..., got 16"), where `scaleup collective sendrecv` and
    `collectives.send_recv` take two."""
    row = resolve_job("collective")({"fabric": TORUS[0], "fabric.dims": [4, 4], "collective": "send_recv",
                                     "size": SIZE})
    r = C.send_recv(torus, SIZE)
    assert row["ranks"] == r.n == 2 and row["time_us"] == r.time * 1e6
    assert r.time * 1e6 == _cli_time_us("sendrecv", "auto")
