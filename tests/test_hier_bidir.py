"""hier / hier_ml with ``intra="bidir"``: a bidirectional ring inside each part (a torus line's two directions),
half of every piece each way round. Before, ``intra`` took direct or ring only, so a torus dimension ran one
direction of its links (ASTRA-sim's per-dimension ring); the bidir form halves each dimension's bandwidth term."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import collectives as C
import topo
from cli import main

S, B, A = 2.0**26, 100e9, 1e-6


def _bidir_pieces(n: int, size: float, c: int = 1) -> float:
    """Closed form of a bidirectional ring reduce-scatter / all-gather of ``size`` over n chips (n > 2)."""
    return (n - 1) / n * size / (2 * B) + (n - 2 + c) * A


@pytest.fixture(scope="module")
def torus88():
    return topo.torus(dims=[8, 8], link_bandwidth="100GB/s", link_latency="1us")


def test_hier_bidir_on_a_2d_torus_is_the_bidirectional_ring_per_dimension(torus88):
    g = C.default_group(torus88)  # a one-hop cycle: x-lines in the snake's order
    # reduce-scatter along x (bidir, 8 chips), bidir all-reduce of S/8 along y, all-gather along x
    ar = 2 * _bidir_pieces(8, S) + 2 * 7 / 8 * (S / 8) / (2 * B) + 14 * A
    r = C.all_reduce(torus88, S, group=g, algorithm="hier", intra="bidir", inter="bidir", ideal=True)
    assert r.time == pytest.approx(ar, rel=1e-9) and r.bound == pytest.approx(ar, rel=1e-9)
    ring = C.all_reduce(torus88, S, group=g, algorithm="hier", intra="ring", inter="bidir", ideal=True)
    assert r.time < ring.time
    # all-gather: ring across the y-lines of S/8 (one way), then bidir along x; reduce-scatter the mirror image
    ag = 7 / 8 * (S / 8) / B + 7 * A + _bidir_pieces(8, S)
    for coll in ("all_gather", "reduce_scatter"):
        r = C.collective(coll, torus88, S, group=g, algorithm="hier", intra="bidir", ideal=True)
        assert r.time == pytest.approx(ag, rel=1e-9), coll


def test_hier_bidir_exact_mode():
    """The engine's exact mode (per-rank dependencies, two chains running at once) gives the same closed form."""
    fab = topo.torus(dims=[4, 4], link_bandwidth="100GB/s", link_latency="1us")
    ar = 2 * _bidir_pieces(4, S) + 2 * 3 / 4 * (S / 4) / (2 * B) + 6 * A
    r = C.all_reduce(fab, S, algorithm="hier", intra="bidir", inter="bidir", ideal=True, mode="exact")
    assert r.time == pytest.approx(ar, rel=1e-9)


def test_hier_ml_bidir_on_a_3d_torus_and_its_closed_form():
    fab = topo.torus(dims=[4, 4, 4], link_bandwidth="100GB/s", link_latency="1us")
    g = C.default_group(fab)
    want = 2 * _bidir_pieces(4, S) + 2 * _bidir_pieces(4, S / 4) + 2 * 3 / 4 * (S / 16) / (2 * B) + 6 * A
    r = C.all_reduce(fab, S, group=g, algorithm="hier_ml", intra="bidir", inter="bidir", ideal=True)
    assert r.time == pytest.approx(want, rel=1e-9)
    assert C.bounds.all_reduce(64, S, B, A, algorithm="hier_ml", intra="bidir", inter="bidir",
                               part_sizes=(4, 4)) == pytest.approx(want, rel=1e-12)


def test_hier_bidir_block_labels_replay():
    """Every piece's two halves go opposite ways; the symbolic replay checks every rank ends with its result."""
    fab = topo.torus(dims=[4, 3, 2], link_bandwidth="100GB/s", link_latency="1us")
    g = np.asarray(C.default_group(fab))
    for coll in ("all_reduce", "all_gather", "reduce_scatter"):
        for name, opts in (("hier", {"intra": "bidir"}), ("hier_ml", {"intra": "bidir", "chunks": 3, "inter": "ring"})):
            C.verify(C.REGISTRY[(coll, name)](g, 7 * 2**20 + 5, fab, symbolic=True, **opts))


def test_hier_bidir_parts_of_two_take_the_rings_form():
    """On 2 ranks both halves cross the one pair of links: the ring's time, as the bidir all-reduce's closed form."""
    fab = topo.torus(dims=[2, 8], link_bandwidth="100GB/s", link_latency="1us")
    g = C.default_group(fab)
    bidir = C.all_gather(fab, S, group=g, algorithm="hier", intra="bidir", ideal=True)
    ring = C.all_gather(fab, S, group=g, algorithm="hier", intra="ring", ideal=True)
    assert bidir.time == pytest.approx(ring.time, rel=1e-12) and bidir.bound == pytest.approx(bidir.time, rel=1e-9)


def test_cli_takes_intra_bidir():
    res = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "torus-8x8", "--set", "link_bandwidth=100GB/s",
                                    "--set", "link_latency=1us", "--group-size", "64", "--sizes", "64MiB", "--ideal",
                                    "--algorithm", "hier", "--intra", "bidir", "--inter", "bidir", "--json"])
    assert res.exit_code == 0, res.output
    want = 2 * _bidir_pieces(8, S) + 2 * 7 / 8 * (S / 8) / (2 * B) + 14 * A
    assert json.loads(res.output)[0]["time_us"] == pytest.approx(want * 1e6, rel=1e-9)
