"""The calibrated communication model (collectives.comm) against closed forms, the physics and invariants."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import star_fabric

import collectives as C
import topo
from cli import main
from topo.specs import CommSpec

B = 1e9  # bytes/s per link
H = 1e-6  # s per hop
S = 3 * 2**20


def star(n: int, comm: CommSpec | None = None) -> topo.Fabric:
    return star_fabric(n, B, H, comm)


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


ONE = CommSpec(name="one", call=7e-6, buffer_bandwidth=50e9, base={"simple": 3e-6}, step={"simple": 2e-6},
               bandwidth={"simple": 0.8}, algorithms={"all_reduce": {"ring": 0.5}})


@pytest.mark.parametrize("n", [2, 4, 7])
@pytest.mark.parametrize("mode", ["exact", "steps"])
def test_calibrated_ring_is_its_closed_form(n, mode):
    """call + base + shard pass + steps x step + ring time at bandwidth x efficiency of the link."""
    r = C.all_reduce(star(n, ONE), S, algorithm="ring", mode=mode)
    k = 2 * (n - 1)
    want = 7e-6 + 3e-6 + S / n / 50e9 + k * 2e-6 + 2 * (n - 1) / n * S / (B * 0.8 * 0.5) + k * 2 * H
    assert r.protocol == "simple"
    assert rel(r.time, want) < 1e-12
    # the bound column stays the physics' alpha-beta bound
    assert rel(r.bound, 2 * (n - 1) / n * S / B + k * 2 * H) < 1e-12


@pytest.mark.parametrize("coll", ["all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast"])
def test_ideal_is_the_physics_bit_for_bit_and_ignores_comm(coll):
    """ideal=True on a fabric with a comm: block equals the closed form and the fabric without it."""
    n = 6
    alg = "direct" if coll == "all_to_all" else "ring"
    a = C.collective(coll, star(n, topo.comm_preset("nccl-h100")), S, algorithm=alg, ideal=True)
    b = C.collective(coll, star(n, None), S, algorithm=alg, ideal=True)
    assert a.time == b.time and a.protocol is None
    if coll == "all_reduce":
        assert rel(a.time, 2 * (n - 1) / n * S / B + 2 * (n - 1) * 2 * H) < 1e-12


def test_ideal_run_equals_the_physics_of_concurrent_groups():
    fab = topo.load("dgx-h100")
    ops = [C.AllReduce(2**20, group=[0, 1, 2, 3]), C.AllReduce(2**20, group=[4, 5, 6, 7])]
    ideal = C.run(ops, fab, ideal=True)
    per_op = C.run([C.AllReduce(2**20, group=[0, 1, 2, 3], ideal=True),
                    C.AllReduce(2**20, group=[4, 5, 6, 7])], fab)
    assert [r.time for r in ideal] == [r.time for r in per_op]
    assert all(r.protocol is None for r in ideal)


def test_calibrated_is_slower_than_physics_and_software_costs_dominate_small_messages():
    fab = topo.load("dgx-h100")
    small = C.all_reduce(fab, 1024, group=list(range(8)))
    phys = C.all_reduce(fab, 1024, group=list(range(8)), ideal=True)
    assert small.time > 10 * phys.time  # tens of us, not 0.3 us
    assert small.protocol in ("ll", "ll128")
    big = C.all_reduce(fab, 2**29, group=list(range(8)))
    assert big.protocol == "simple" and big.time > C.all_reduce(fab, 2**29, group=list(range(8)), ideal=True).time


@pytest.mark.parametrize("fabric,coll,alg", [("dgx-h100", "all_reduce", "ring"), ("dgx-b200", "all_gather", "ring"),
                                            ("dgx-h100", "reduce_scatter", "ring")])
def test_protocol_choice_is_monotone_in_size(fabric, coll, alg):
    """NCCL's order: LL, then LL128, then Simple as the message grows; never back."""
    fab = topo.load(fabric)
    order = {"ll": 0, "ll128": 1, "simple": 2}
    seen = [order[C.collective(coll, fab, 2.0**k, group=list(range(8)), algorithm=alg).protocol]
            for k in range(8, 31, 2)]
    assert seen == sorted(seen) and seen[0] == 0 and seen[-1] == 2


def test_time_grows_with_size_and_concurrent_groups_still_contend():
    """Contention is the engine's: two groups whose rings share links are slower than one alone, while the
    per-call software costs are paid once per group (not doubled)."""
    fab = star(8, ONE)
    alone = C.run([C.AllReduce(S, group=[0, 1, 2, 3], algorithm="ring")], fab)[0].time
    both = C.run([C.AllReduce(S, group=[0, 1, 2, 3], algorithm="ring"),
                  C.AllReduce(S, group=[0, 1, 2, 3], algorithm="ring")], fab)
    assert both[0].time > alone
    wire = 2 * 3 / 4 * S / (B * 0.8 * 0.5)
    assert both[0].time - alone == pytest.approx(wire, rel=1e-9)  # the links are shared, the call is not


def test_generic_default_for_fabrics_without_comm():
    fab = star(4)
    assert C.comm_of(fab).name == "assumed" and C.comm_of(fab).link_efficiency is None
    assert "ASSUMPTION" in dict(C.comm_of(fab).provenance)["*"]
    assert C.all_reduce(fab, 1024).protocol is not None


def test_custom_all_reduce_costs_and_limits():
    fab = topo.load("dgx-h100", comm="trtllm-h100")
    r = C.all_reduce(fab, 4096, group=list(range(8)))
    assert r.algorithm == "oneshot" and r.protocol == "custom"
    assert 2e-6 < r.time < 5e-6  # the TRT-LLM floor, measured 3.2-3.5 us at 8 GPUs
    lim = topo.load("dgx-h100", comm={"preset": "trtllm-h100", "custom": {"oneshot": {"max_size": "1MiB"}}})
    with pytest.raises(topo.ScheduleError, match="at most"):
        C.all_reduce(lim, 2**21, group=list(range(8)), algorithm="oneshot")
    assert C.all_reduce(lim, 2**21, group=list(range(8))).algorithm != "oneshot"


def test_two_gpu_busbw_is_below_eight_and_near_measured():
    """The per-call shard pass (size / n) is what makes 2-GPU groups slower per byte (issue: 2x B200 busbw
    534 GB/s measured, 720 before)."""
    fab = topo.load("dgx-b200")
    two = C.all_reduce(fab, 2**29, group=[0, 1])
    assert 480e9 < two.busbw < 590e9
    assert C.all_reduce(fab, 2**29, group=[0, 1], ideal=True).busbw == pytest.approx(720e9, rel=1e-3)


def test_comm_yaml_block_parses_and_errors_name_the_key(tmp_path):
    spec = topo.parse_comm({"preset": "nccl-h100", "call": "9us", "step": {"ll": "1us"},
                            "algorithms": {"all_gather": {"ring": 0.7}}})
    assert spec.call == pytest.approx(9e-6) and spec.step_of("ll") == pytest.approx(1e-6)
    assert spec.algorithms_of("all_gather") == {"ring": 0.7}
    for bad, field in [({"calls": 1}, "calls"), ({"step": {"fast": "1us"}}, "fast"), ({"bandwidth": {"ll": 2}}, "ll"),
                       ("nope", "nope")]:
        with pytest.raises(topo.SpecError, match=field):
            topo.parse_comm(bad)
    back = topo.parse_comm(__import__("yaml").safe_load(C.calibrate_module.comm_yaml(spec))["comm"])
    assert back.call == pytest.approx(spec.call, rel=1e-3) and back.algorithms_of("all_gather") == {"ring": 0.7}



def test_comm_yaml_prints_a_cost_at_its_lower_bound_as_zero():
    """A fitted cost that sits at its bound (1e-25 s from the optimiser) prints as 0us, not 6.39e-19us, and reads
    back as 0; a real sub-microsecond cost keeps its digits."""
    base = topo.parse_comm({"preset": "vllm-h100-symm"})
    spec = base.replace(custom={"inr": {"call": 6.39e-25, "peer": 0.0, "step": 9.184e-07, "efficiency": 0.77}})
    text = C.calibrate_module.comm_yaml(spec)
    assert "call: 0us" in text and "e-19" not in text and "step: 0.9184us" in text
    back = topo.parse_comm(__import__("yaml").safe_load(text)["comm"])
    assert back.custom_of("inr")["call"] == 0.0 and back.custom_of("inr")["step"] == pytest.approx(9.184e-07)


def test_a_calibrated_comm_file_is_usable_as_written(tmp_path):
    """`scaleup calibrate -o comm.yaml` wrote a block nothing could read back ("--set comm=comm.yaml": unknown
    preset 'comm.yaml'): a .yaml path is read as its comm: block, in parse_comm, topo.load and --set."""
    spec = topo.parse_comm({"preset": "nccl-h100", "call": "9us"})
    path = tmp_path / "comm.yaml"
    path.write_text(C.calibrate_module.comm_yaml(spec))
    want = topo.parse_comm(__import__("yaml").safe_load(path.read_text())["comm"])
    assert topo.parse_comm(str(path)) == want
    assert topo.load("dgx-h100", comm=str(path)).comm == want
    r = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "dgx-h100", "--sizes", "1KiB", "--json",
                                  "--set", f"comm={path}"])
    assert r.exit_code == 0, r.output
    t_file = __import__("json").loads(r.output)[0]["time_us"]
    assert t_file == pytest.approx(C.all_reduce(topo.load("dgx-h100", comm=want), 1024).time * 1e6, rel=1e-12)
    with pytest.raises(topo.SpecError, match="no such file"):
        topo.parse_comm(str(tmp_path / "missing.yaml"))


def test_cli_ideal_flag_and_calibrated_header():
    r = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "dgx-h100", "--group-size", "8",
                                  "--sizes", "1KiB"])
    assert r.exit_code == 0, r.output
    assert "calibrated comm: nccl-h100" in r.output
    t_cal = float(r.output.strip().splitlines()[-1].split()[4])
    r = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "dgx-h100", "--group-size", "8",
                                  "--sizes", "1KiB", "--ideal"])
    assert r.exit_code == 0 and "ideal" in r.output.splitlines()[0]
    assert float(r.output.strip().splitlines()[-1].split()[4]) < t_cal / 10


def test_dgx_b200_preset():
    fab = topo.load("dgx-b200")
    assert fab.n_chips == 8 and fab.chip.name == "b200"
    assert fab.comm.name == "nccl-b200"
    inj = np.bincount(fab.edge_src, weights=fab.edge_bandwidth, minlength=fab.n_nodes)[:8]
    assert np.allclose(inj, 900e9)


def test_point_to_point_collectives_follow_nccls_ll_threshold():
    """All-to-all is grouped send/recv in NCCL: LL up to 16 KiB per peer, then Simple; never LL128."""
    fab = topo.load("dgx-h100")
    protos = {s: C.all_to_all(fab, s, group=list(range(8)), algorithm="direct").protocol
              for s in (8 * 2**10, 8 * 16 * 2**10, 8 * 16 * 2**10 + 8, 8 * 2**20)}
    assert list(protos.values()) == ["ll", "ll", "simple", "simple"]


def test_cli_header_says_when_the_comm_preset_replaces_the_fabric_efficiency():
    """nccl-h100 runs the links at its link_efficiency 1.0, so a user's --set efficiency moves only --ideal: the
    header says so (a calibrated sweep of fabric.efficiency gave equal rows without a word); the assumed preset
    keeps the fabric's efficiency and says nothing more."""
    def run(*extra):
        r = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "dgx-h100", "--sizes", "256MiB", *extra])
        assert r.exit_code == 0, r.output
        return r.output.splitlines()[0], float(r.output.strip().splitlines()[-1].split()[4])

    head, t = run("--set", "efficiency=0.9")
    assert "link_efficiency 1" in head and "fabric's efficiency 0.9" in head
    assert run()[1] == t  # calibrated: the fabric's efficiency does not move it
    assert run("--ideal")[1] != run("--ideal", "--set", "efficiency=0.9")[1]
    r = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "maia200-small", "--sizes", "1MiB"])
    assert r.exit_code == 0 and "link_efficiency" not in r.output.splitlines()[0]
