"""YAML loading, presets and validation: one clear line per mistake, naming the key."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import topo
from topo import CapacityError, SpecError, UnitError

REQUIRED = ["maia200", "maia200-16plane", "maia200-small", "maia100", "dgx-h100", "dgx-h200", "gb200-nvl72", "tpu-v5p",
            "tpu-v5p-pod", "mi300x", "h100-clos"]


def test_bundled_fabrics_listed():
    names = topo.list_fabrics()
    assert set(REQUIRED) <= set(names)
    assert all(topo.describe_fabrics()[n] for n in names)


@pytest.mark.parametrize("name", [n for n in topo.list_fabrics() if n not in ("maia200", "maia200-16plane", "tpu-v5p-pod")])
def test_every_bundled_fabric_builds_and_routes(name):
    fab = topo.load(name)
    assert fab.name == name and (fab.n_chips >= 8 or name == "cs3")  # one CS-3 system is one wafer
    assert fab.chip.name in topo.CHIPS
    r = fab.routes(fab.groups(fab.n_chips)[0][:-1], fab.groups(fab.n_chips)[0][1:])
    assert (r.path_counts() >= 1).all()
    # every path is a walk from src to dst
    src, dst = fab.edge_src, fab.edge_dst
    for j in range(r.n_paths):
        e = r.path_edges[r.path_ptr[j]:r.path_ptr[j + 1]]
        assert (dst[e[:-1]] == src[e[1:]]).all()


def test_presets_have_sources_and_figures():
    for name, c in topo.CHIPS.items():
        # SRAM-only chips (Cerebras CS-3, Groq LPU) have no HBM: their memory is on-chip SRAM
        assert c.name == name and c.source and (c.hbm_bytes > 0 or c.sram_bytes > 1e8) and c.peak_flops("bf16") > 0
    assert topo.chip_preset("maia200").injection_bandwidth == pytest.approx(1.4e12)
    with pytest.raises(SpecError, match="known: .*maia200"):
        topo.chip_preset("maia300")


def test_overrides_and_paths(tmp_path):
    assert topo.load("maia200", chips=256).n_chips == 256
    p = tmp_path / "mine.yaml"
    p.write_text("builder: torus\ndims: [3, 3]\nchip: {preset: tpu-v5p, hbm_bytes: 64GiB, flops: {bf16: 1PFLOPS}}\n"
                 "link_bandwidth: 800Gbps\n")
    fab = topo.load(str(p))
    assert fab.name == "mine" and fab.n_chips == 9
    assert fab.chip.hbm_bytes == 64 * 2**30 and fab.chip.peak_flops("bf16") == 1e15
    assert fab.edge_bandwidth.max() == pytest.approx(100e9)


@pytest.mark.parametrize(
    "text, exc, fragment",
    [
        ("builder: two_tier\nchipz: 8\n", SpecError, "unknown key 'chipz'.*valid keys: .*chips"),
        ("builder: two_tier\nchips: many\n", SpecError, "chips: expected an integer"),
        ("builder: two_tier\nchips: 256\nport_bandwidth: 0Gbps\n", SpecError, "port_bandwidth: must be > 0"),
        ("builder: two_tier\nchips: 256\nport_bandwidth: -5GB/s\n", SpecError, "port_bandwidth"),
        ("builder: two_tier\nchips: 256\nlink_latency: 400Gbps\n", UnitError, "link_latency.*expected a time"),
        ("builder: two_tier\nchips: 256\nport_bandwidth: 4 parsecs\n", UnitError, "port_bandwidth"),
        ("builder: hypercube\n", SpecError, "builder must be one of"),
        ("builder: torus\ndims: [4, 4]\nchip: {preset: tpu-v5p, colour: red}\n", SpecError, "unknown key 'colour'"),
        ("builder: two_tier\nchips: 9000\n", CapacityError, "largest two_tier fabric .* 8192 chips"),
        ("builder: [unclosed\n", SpecError, "invalid YAML"),
        ("builder: switch\nchips: 8\nefficiency: 1.5\n", SpecError, "efficiency: must be in"),
    ],
)
def test_bad_specs_give_one_clear_line(tmp_path, text, exc, fragment):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(exc, match=fragment) as info:
        topo.load(str(p))
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("bad.yaml")


def test_unknown_fabric_lists_bundled():
    with pytest.raises(SpecError, match="bundled: .*maia200"):
        topo.load("no-such-fabric")


def test_disconnected_user_graph_rejected():
    import networkx as nx

    g = nx.Graph()
    for i in range(4):
        g.add_node(i, kind="chip")
    g.add_edge(0, 1, bandwidth=1e9, latency=0.0)
    g.add_edge(2, 3, bandwidth=1e9, latency=0.0)
    with pytest.raises(SpecError, match="disconnected"):
        topo.Fabric.from_graph(g)


@given(x=st.floats(min_value=1e-3, max_value=1e4, allow_nan=False), unit=st.sampled_from(
    [("Gbps", 1e9 / 8), ("GB/s", 1e9), ("TB/s", 1e12), ("Mbps", 1e6 / 8), ("GiB/s", 2**30)]))
@settings(max_examples=50, deadline=None)
def test_bandwidth_units_in_yaml_keys(x, unit):
    name, factor = unit
    fab = topo.full_mesh(chips=4, chip="mi300x", link_bandwidth=f"{x!r}{name}")
    assert fab.edge_bandwidth[0] == pytest.approx(x * factor, rel=1e-12)


def test_unknown_builder_key_suggests_the_close_one(tmp_path):
    """A typo'd key (leaf_uplink for leaf_uplinks) listed all 29 valid keys with no pointer to the one meant."""
    p = tmp_path / "mine.yaml"
    p.write_text("builder: two_tier\nchips: 384\nleaf_uplink: 32\n")
    with pytest.raises(SpecError, match=r"unknown key 'leaf_uplink' for builder two_tier; valid keys: .*; "
                                        r"did you mean 'leaf_uplinks'\?$"):
        topo.load(str(p))
    with pytest.raises(SpecError, match=r"unknown key 'leaf_uplink' for (builder )?two_tier; valid keys: .*did you mean "
                                        r"'leaf_uplinks'\?$"):
        topo.load("maia200-small", leaf_uplink=32)
    with pytest.raises(SpecError) as e:  # nothing close: no guess
        topo.load("maia200-small", zzz=1)
    assert "did you mean" not in str(e.value)
