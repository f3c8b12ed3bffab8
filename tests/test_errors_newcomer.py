"""Issue 14: bad input a newcomer hit that still escaped, and the defaults that tripped them.

Table-driven like tests/test_errors_cli.py: each CLI case must exit 2 with one ``error:`` line naming the
field; each Python case must raise the typed ScaleupError. Plus the behaviour the fixes promise (examples
by name, the default collective group, units required on the command line).
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import assert_cli_error, write_files

import inference
import sweep
import topo
import traffic
from cli import main
from topo import CapacityError, ScaleupError, ScheduleError, SpecError, UnitError

LATIN1 = "name: caf\xe9\nbuilder: switch\nchips: 8\n".encode("latin-1")  # 0xe9 alone is not UTF-8
BINARY = bytes(range(256))

FILES = {
    "latin1.yaml": LATIN1,
    "binary.yaml": BINARY,
    "model_latin1.yaml": "name: m\u00e9\nlayers: 2\n".encode("latin-1"),
    "sweep_latin1.yaml": "job: topo\nparams: {fabric: dgx-h100}\ndescription: caf\u00e9\n".encode("latin-1"),
    "builder_list.yaml": b"builder: [switch, torus]\nchips: 8\n",
    "builder_map.yaml": b"builder: {a: 1}\n",
    "huge_switch.yaml": b"builder: switch\nchip: h100-sxm\nchips: 1000000000\n",
    "huge_torus.yaml": b"builder: torus\ndims: [1000, 1000, 1000]\n",
    # a unit left out of a fabric file: bare numbers are SI, so 150 was 150 s and 400 was 400 bytes/s
    "bare_latency.yaml": b"builder: two_tier\nchip: maia200\nchips: 16\ntray_size: 4\nlink_latency: 150\n",
    "bare_bandwidth.yaml": b"builder: two_tier\nchip: maia200\nchips: 16\ntray_size: 4\nport_bandwidth: 400\n",
    "bare_comm.yaml": b"builder: switch\nchip: h100-sxm\nchips: 8\ncomm: {preset: assumed, call: 5}\n",
    "bare_chip.yaml": b"builder: switch\nchip: {preset: h100-sxm, hbm_bandwidth: 3350}\nchips: 8\n",
    # quoted, the same numbers were read as SI silently ('150' is as bare as 150)
    "quoted_latency.yaml": b"builder: two_tier\nchip: maia200\nchips: 16\ntray_size: 4\nlink_latency: '150'\n",
    "quoted_comm.yaml": b"builder: switch\nchip: h100-sxm\nchips: 8\ncomm: {preset: assumed, call: '0.5'}\n",
}

SERVE = ["serve", "--fleet", "colocated-maia200", "--model", "llama3.1-8b", "--rate", "1"]
COLL = ["collective", "all-reduce", "--fabric", "dgx-h100", "--group-size", "8"]

# (argv with {d} = directory of FILES, a fragment the one-line message must contain)
CASES = [
    (["topo", "show", "{d}/latin1.yaml"], "UTF-8"),
    (["topo", "show", "{d}/binary.yaml"], "UTF-8"),
    (["topo", "plot", "{d}/latin1.yaml", "-o", "{d}/x.png"], "UTF-8"),
    (["infer", "--model", "llama3.1-8b", "--fabric", "{d}/latin1.yaml"], "UTF-8"),
    (["infer", "--model", "{d}/model_latin1.yaml", "--fabric", "dgx-h100"], "UTF-8"),
    (["sweep", "{d}/sweep_latin1.yaml", "--dry-run"], "UTF-8"),
    (["topo", "show", "{d}/builder_list.yaml"], "builder"),
    (["topo", "show", "{d}/builder_map.yaml"], "builder"),
    (["topo", "show", "{d}/huge_switch.yaml"], "largest"),
    (["topo", "show", "{d}/huge_torus.yaml"], "largest"),
    (["topo", "show", "tpu-v5p", "--set", "dims=[100000,100000,100]"], "largest"),
    (["topo", "show", "{d}/bare_latency.yaml"], "link_latency: the bare number 150 is 150 s (SI); write the unit"),
    (["topo", "show", "{d}/bare_bandwidth.yaml"], "port_bandwidth: the bare number 400 is 400 bytes/s"),
    (["collective", "all-reduce", "--fabric", "{d}/bare_latency.yaml", "--sizes", "1MiB"], "'150ns'"),
    (["collective", "all-reduce", "--fabric", "{d}/bare_comm.yaml", "--sizes", "1MiB"], "comm.call: the bare number 5"),
    (["topo", "show", "{d}/bare_chip.yaml"], "chip.hbm_bandwidth: the bare number 3350 is 3350 bytes/s"),
    (["topo", "show", "{d}/quoted_latency.yaml"], "link_latency: the bare number '150' is 150 s (SI)"),
    (["collective", "all-reduce", "--fabric", "{d}/quoted_comm.yaml", "--sizes", "1MiB"],
     "comm.call: the bare number '0.5' is 0.5 s"),
    (["traffic", "--fabric", "dgx-h100", "--seed", "-1"], "seed"),
    # times and sizes need a unit on the command line; the hint names units of the right dimension
    ([*SERVE, "--slo-tpot", "50"], "50ms"),
    ([*SERVE, "--slo-ttft", "2"], "--slo-ttft"),
    ([*SERVE, "--duration", "600"], "--duration"),
    ([*COLL, "--sizes", "1MiB", "--overhead", "2"], "--overhead"),
    ([*COLL, "--sizes", "1024"], "--sizes"),
    ([*COLL, "--sizes", "1:1GiB"], "--sizes"),
    (["traffic", "--fabric", "dgx-h100", "--size", "64"], "--size"),
    ([*COLL, "--sizes", "1MiB", "--overhead", "2furlongs"], "us"),
    # nccl-tests' size suffixes (-b 1M -e 1G: binary) name the byte units they mean
    ([*COLL, "--sizes", "1M"], "'1MiB' (1 x 2^20 bytes"),
    ([*COLL, "--sizes", "8K:1G"], "'8KiB' (8 x 2^10 bytes"),
    (["traffic", "--fabric", "dgx-h100", "--size", "64M"], "or '64MB' (64 x 10^6 bytes)"),
    # a sweep by a name that is neither a file nor a bundled example: say so (was "expected a mapping")
    (["sweep", "no-such-example", "--dry-run"], "bundled"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("newcomer")
    write_files(d, FILES)
    return d


@pytest.mark.parametrize("argv,field", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_one_line_exit_2(files, argv, field):
    assert_cli_error(argv, files, field)


API_CASES = [
    ("non-UTF-8 fabric", lambda d: topo.load(d / "latin1.yaml"), SpecError, "UTF-8"),
    ("non-UTF-8 model", lambda d: inference.load_model(str(d / "model_latin1.yaml")), SpecError, "UTF-8"),
    ("non-UTF-8 sweep spec", lambda d: sweep.load_spec(str(d / "sweep_latin1.yaml")), SpecError, "UTF-8"),
    ("builder as a list", lambda d: topo.build({"builder": ["switch"]}), SpecError, "builder"),
    ("huge switch", lambda d: topo.switch(chips=10**9), CapacityError, "largest"),
    ("huge torus", lambda d: topo.torus(dims=[2000, 2000, 2000]), CapacityError, "largest"),
    ("bare latency", lambda d: topo.switch(chips=4, link_latency=2), SpecError, "link_latency"),
    ("bare bandwidth", lambda d: topo.switch(chips=4, bandwidth=100), SpecError, "bytes/s"),
    ("negative seed", lambda d: traffic.run_pattern(topo.load("dgx-h100"), "permutation", 1e6, seed=-1),
     ScheduleError, "seed"),
    ("bare time with require_unit", lambda d: topo.parse_quantity("50", "time", "slo", require_unit=True),
     UnitError, "ms"),
    ("time with a size unit", lambda d: topo.parse_quantity("5GiB", "time", "slo"), UnitError, "time"),
    ("unknown unit of a time", lambda d: topo.parse_quantity("5 parsecs", "time", "slo"), UnitError, "us"),
]


@pytest.mark.parametrize("make,exc,field", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_api_errors_typed(files, make, exc, field):
    with pytest.raises(exc) as info:
        make(files)
    assert isinstance(info.value, ScaleupError)
    assert field in str(info.value) and "\n" not in str(info.value)


def test_capacity_names_a_size_that_builds():
    """The largest chip count the CapacityError names is one that actually passes the size check."""
    with pytest.raises(CapacityError) as info:
        topo.switch(chips=10**8, planes=2)
    largest = int(str(info.value).split(" has ")[1].split(" chips")[0].replace(",", ""))
    from topo._capacity import MAX_GRAPH_ELEMENTS

    assert largest + 2 + 2 * largest * 2 <= MAX_GRAPH_ELEMENTS < (largest + 1) + 2 + 2 * (largest + 1) * 2 + 5


def test_unit_hints_follow_the_dimension():
    """A time field's hint lists time units, not bandwidths (issue 14)."""
    with pytest.raises(UnitError) as info:
        topo.parse_quantity("5 parsecs", "time", "t")
    assert "ms" in str(info.value) and "Gbps" not in str(info.value)
    assert topo.parse_quantity("0", "time", "t", require_unit=True) == 0.0  # zero needs no unit
    assert topo.parse_quantity("50", "time", "t") == 50.0  # YAML and Python keep bare SI numbers


def test_sweep_accepts_a_bundled_example_by_name(tmp_path, monkeypatch):
    """`scaleup sweep NAME` finds examples/NAME.yaml from any directory; a path still works."""
    monkeypatch.chdir(tmp_path)
    names = sweep.spec.list_examples()
    assert "busbw-maia200-vs-gb200" in names
    by_name = CliRunner().invoke(main, ["sweep", "busbw-maia200-vs-gb200", "--dry-run"])
    by_file = CliRunner().invoke(main, ["sweep", str(sweep.spec.EXAMPLES_DIR / "busbw-maia200-vs-gb200.yaml"),
                                        "--dry-run"])
    assert by_name.exit_code == 0 and by_name.output == by_file.output
    assert sweep.load_spec("tp-llama70b.yaml") == sweep.load_spec("tp-llama70b")


def test_collective_default_group_fits_the_fabric():
    """dgx-h100 has 8 chips: the default group is min(64, 8) = 8 and the header says so."""
    r = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "dgx-h100", "--sizes", "1MiB"])
    assert r.exit_code == 0, r.output
    header = r.output.splitlines()[0]
    assert "8 ranks per group" in header and "default min(64, chips)" in header
    explicit = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "dgx-h100", "--group-size", "8",
                                         "--sizes", "1MiB"])
    assert explicit.output.splitlines()[1:] == r.output.splitlines()[1:]


def test_collective_options_only_where_they_apply():
    """--root only on broadcast/reduce, --chunks not on all-to-all/sendrecv; every subcommand has a help line."""
    runner = CliRunner()
    top = runner.invoke(main, ["collective", "--help"]).output
    for sub in ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "broadcast", "reduce", "sendrecv"):
        line = next(ln for ln in top.splitlines() if ln.strip().startswith(sub + " "))
        assert len(line.split(None, 1)) == 2, line  # a one-line help after the name
        out = runner.invoke(main, ["collective", sub, "--help"]).output
        assert ("--root" in out) == (sub in ("broadcast", "reduce")), sub
        assert ("--chunks" in out) == (sub not in ("all-to-all", "sendrecv")), sub
    r = runner.invoke(main, ["collective", "all-to-all", "--fabric", "dgx-h100", "--sizes", "1MiB", "--root", "1"])
    assert r.exit_code == 2 and "--root" in r.output
