"""Bad input gets one clear line and exit code 2 (CLI) or a typed ScaleupError (Python API); same inputs,
same output (determinism).

Each CLI case names the field the message must mention: the standard is "one readable line naming the
field and the fix", never a traceback.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from click.testing import CliRunner

import collectives
import fleet
import inference
import sweep
import topo
import traffic
from cli import main
from topo import CapacityError, RoutingError, ScaleupError, ScheduleError, SpecError, UnitError

FILES = {
    "unknown_key.yaml": "name: bad\nbuilder: two_tier\nchip: maia200\nchips: 16\ntray_size: 4\nbogus_key: 3\n",
    "neg_bw.yaml": "name: nb\nbuilder: two_tier\nchip: maia200\nchips: 16\ntray_size: 4\nport_bandwidth: -400Gbps\n",
    "bad_builder.yaml": "name: x\nbuilder: nope\n",
    "broken.yaml": "key: [\n",
    "sweep_badjob.yaml": "job: nope\nparams: {}\n",
    "sweep_badkey.yaml": "job: infer\nparams: {model: llama3.1-8b}\ngrid: {tp: [1, 2]}\nbogus: 1\n",
    "sweep_badrange.yaml": "job: infer\nparams: {model: llama3.1-8b, fabric: dgx-h100}\ngrid: {tp: '1:8:x0'}\n",
    "sweep_badparam.yaml": "job: infer\nparams: {model: llama3.1-8b, fabric: dgx-h100, wat: 1}\ngrid: {tp: [1]}\n",
    "sweep_huge.yaml": "job: infer\nparams: {model: llama3.1-8b, fabric: dgx-h100}\ngrid: {tp: '1:1e9:+1'}\n",
    "sweep_prod.yaml": ("job: infer\nparams: {model: llama3.1-8b, fabric: dgx-h100}\n"
                        "grid: {tp: '1:5000:+1', batch: '1:5000:+1'}\n"),
    "fleet_nopools.yaml": "pools: 3\n",
    "fleet_badkey.yaml": ("model: llama3.1-8b\npools:\n  - name: a\n    fabric: dgx-h100\n    tp: 8\n"
                          "    replicas: 1\n    bogus: 2\n"),
    "trace_bad.csv": "arrival_s,prompt_tokens,output_tokens\n0,100,10\n-1,100,abc\n",
    "prices_bad.yaml": "dgx-h100: -3\n",
    "model_missing.yaml": "name: m\nhidden: 4096\n",
    "model_badkey.yaml": ("name: m\nlayers: 2\nhidden: 64\nheads: 2\nkv_heads: 2\nhead_dim: 32\nffn: 128\n"
                          "vocab: 100\nbogus: 1\n"),
    "model_neg.yaml": "name: m\nlayers: -2\nhidden: 64\nheads: 2\nkv_heads: 2\nhead_dim: 32\nffn: 128\nvocab: 100\n",
    "results.csv": "a,b\n1,2\n",
    "empty.csv": "",
    "corrupt.parquet": "not a parquet file\n",
    "sweep_ok.yaml": "job: topo\nparams: {fabric: dgx-h100}\n",
    "sweep_nomodel.yaml": "job: infer\nparams: {model: nosuch, fabric: dgx-h100}\n",
    "sweep_nofabric.yaml": "job: collective\nparams: {fabric: nosuch, size: 1MiB}\n",
    "a_file": "not a directory\n",
}

SMALL = ["--fabric", "maia200-small", "--group-size", "8", "--sizes", "1MiB"]
INFER = ["infer", "--model", "llama3.1-8b", "--fabric", "dgx-h100"]
SERVE = ["serve", "--fleet", "colocated-maia200", "--model", "llama3.1-8b"]
PLAN = ["plan", "--model", "llama3.1-8b", "--candidates", "dgx-h100"]

# (argv with {d} = directory of FILES, a fragment the one-line message must contain)
CASES = [
    # topo: names, files, unknown keys, bad values and units, disconnected / impossible structures
    (["topo", "show", "nosuchfabric"], "nosuchfabric"),
    (["topo", "show", "{d}/unknown_key.yaml"], "bogus_key"),
    (["topo", "show", "{d}/neg_bw.yaml"], "port_bandwidth"),
    (["topo", "show", "{d}/bad_builder.yaml"], "builder"),
    (["topo", "show", "{d}/broken.yaml"], "YAML"),
    (["topo", "show", "{d}/missing.yaml"], "missing.yaml"),
    (["topo", "show", "dgx-h100", "--set", "chips=0"], "chips"),
    (["topo", "show", "maia200-small", "--set", "chips=10"], "chips"),
    (["topo", "show", "maia200-small", "--set", "port_bandwidth=0"], "port_bandwidth"),
    (["topo", "show", "maia200-small", "--set", "port_bandwidth=abc"], "port_bandwidth"),
    (["topo", "show", "maia200-small", "--set", "port_bandwidth=5s"], "port_bandwidth"),
    (["topo", "show", "maia200-small", "--set", "efficiency=2"], "efficiency"),
    (["topo", "show", "maia200-small", "--set", "link_latency=-1ns"], "link_latency"),
    (["topo", "show", "maia200-small", "--set", "wat=1"], "wat"),
    (["topo", "show", "maia200-small", "--set", "chip=nochip"], "chip"),
    (["topo", "show", "maia200-small", "--set", "noequals"], "--set"),
    (["topo", "show", "maia200-small", "--set", "switch_radix=2"], "switch_radix"),
    (["topo", "show", "torus-8x8", "--set", "dims=[0,8]"], "dims"),
    (["topo", "show", "h100-clos", "--set", "oversubscription=-1"], "oversubscription"),
    (["topo", "show", "maia200-small", "--set", "oversubscription=2"], "oversubscription"),
    (["topo", "plot", "dgx-h100", "-o", "{d}/x.unknownext"], "-o"),
    (["topo", "plot", "dgx-h100", "-o", "{d}/a_file/x.png"], "-o"),
    (["topo", "export", "dgx-h100", "-o", "{d}/x.txt"], "format"),
    (["topo", "export", "dgx-h100", "-o", "{d}/a_file/x.json"], "a_file"),
    # collectives: group size, sizes and units, algorithm names, options
    (["collective", "all-reduce", "--fabric", "nosuch"], "nosuch"),
    (["collective", "all-reduce", "--fabric", "maia200-small", "--group-size", "0", "--sizes", "1MiB"], "--group-size"),
    (["collective", "all-reduce", "--fabric", "maia200-small", "--group-size", "1", "--sizes", "1MiB"], "--group-size"),
    (["collective", "all-reduce", "--fabric", "dgx-h100", "--group-size", "16", "--sizes", "1MiB"], "--group-size"),
    (["collective", "all-reduce", "--fabric", "maia200-small", "--group-size", "5", "--sizes", "1MiB",
      "--concurrent-groups"], "--group-size"),
    (["collective", "all-reduce", *SMALL[:4], "--sizes", "abc"], "sizes"),
    (["collective", "all-reduce", *SMALL[:4], "--sizes", "1MiB:1KiB"], "sizes"),
    (["collective", "all-reduce", *SMALL[:4], "--sizes", "1KiB:1MiB:x1"], "sizes"),
    (["collective", "all-reduce", *SMALL[:4], "--sizes", "0"], "sizes"),
    (["collective", "all-reduce", *SMALL[:4], "--sizes", "-1MiB"], "sizes"),
    (["collective", "all-reduce", *SMALL[:4], "--sizes", "1s"], "sizes"),
    (["collective", "all-reduce", *SMALL[:4], "--sizes", "0.5B,1KiB"], "one byte"),  # was a row of size 0
    (["collective", "all-reduce", *SMALL[:4], "--sizes", "0.25B:1KiB"], "one byte"),
    (["collective", "all-reduce", *SMALL[:4], "--sizes", "1:1e30:x1.0000001"], "sizes"),
    (["collective", "all-reduce", *SMALL, "--algorithm", "nosuch"], "algorithm"),
    (["collective", "all-reduce", *SMALL, "--algorithm", ","], "algorithm"),
    (["collective", "all-to-all", *SMALL, "--algorithm", "ring"], "algorithm"),
    (["collective", "all-reduce", *SMALL, "--chunks", "0"], "--chunks"),
    (["collective", "all-reduce", *SMALL, "--algorithm", "ring", "--chunks", "-1"], "--chunks"),
    (["collective", "broadcast", *SMALL, "--root", "8"], "root"),
    (["collective", "all-reduce", *SMALL, "--overhead", "-1us"], "overhead"),
    (["collective", "all-reduce", *SMALL, "--overhead", "1GB"], "overhead"),
    (["collective", "all-reduce", *SMALL, "--overhead", "1e400s"], "overhead"),
    (["collective", "all-reduce", *SMALL, "--dtype", "nosuch"], "dtype"),
    (["collective", "all-reduce", *SMALL, "--plot", "{d}/x.bogus"], "--plot"),
    (["collective", "all-reduce", *SMALL, "--plot", "{d}/a_file/x.png"], "--plot"),
    (["collective", "sendrecv", "--fabric", "maia200-small", "--group-size", "3", "--sizes", "1MiB"], "group"),
    # inference: model names and files, parallelism, memory, dtypes, knobs
    (["infer", "--model", "nosuch", "--fabric", "dgx-h100"], "model"),
    (["infer", "--model", "{d}/model_missing.yaml", "--fabric", "dgx-h100"], "layers"),
    (["infer", "--model", "{d}/model_badkey.yaml", "--fabric", "dgx-h100", "--tp", "1"], "bogus"),
    (["infer", "--model", "{d}/model_neg.yaml", "--fabric", "dgx-h100", "--tp", "1"], "layers"),
    (["infer", "--model", "{d}/broken.yaml", "--fabric", "dgx-h100"], "YAML"),
    (["infer", "--model", "llama3.1-8b", "--fabric", "nosuch"], "nosuch"),
    (["infer", "--model", "llama3.1-405b", "--fabric", "dgx-h100", "--tp", "1", "--dtype", "bf16"], "memory"),
    ([*INFER, "--prompt", "10000000"], "context"),  # 10M tokens: beyond the 131,072 context before memory
    ([*INFER, "--prompt", "1000000000000"], "context"),  # listed 10**8 prefill chunks (minutes) before refusing
    ([*INFER, "--tp", "0"], "tp"),
    ([*INFER, "--tp", "3"], "tp"),
    ([*INFER, "--tp", "16"], "tp"),
    ([*INFER, "--ep", "3"], "ep"),
    (["infer", "--model", "mixtral-8x7b", "--fabric", "dgx-h100", "--tp", "2", "--ep", "3"], "ep"),
    ([*INFER, "--pp", "1000"], "pp"),
    ([*INFER, "--dp", "100"], "dp"),
    ([*INFER, "--batch", "0"], "batch"),
    ([*INFER, "--prompt", "-5"], "prompt"),
    ([*INFER, "--output", "0"], "output"),
    ([*INFER, "--dtype", "fp3"], "dtype"),
    ([*INFER, "--kv-dtype", "zzz"], "kv_dtype"),
    ([*INFER, "--price", "-1"], "price"),
    ([*INFER, "--price", "nan"], "price"),
    ([*INFER, "--compute-efficiency", "1.5"], "compute_efficiency"),
    ([*INFER, "--compare", ","], "--compare"),
    ([*INFER, "--compare", "dgx-h100,nosuch"], "nosuch"),
    # serving: fleets, rates, durations, SLOs, traces, routers, output files
    (["serve", "--fleet", "nosuch", "--rate", "1", "--duration", "5s"], "fleet"),
    (["serve", "--fleet", "{d}/fleet_nopools.yaml", "--rate", "1", "--duration", "5s"], "pools"),
    (["serve", "--fleet", "{d}/fleet_badkey.yaml", "--rate", "1", "--duration", "5s"], "bogus"),
    (["serve", "--fleet", "{d}/broken.yaml", "--rate", "1", "--duration", "5s"], "YAML"),
    ([*SERVE, "--duration", "5s"], "--rate"),
    ([*SERVE, "--rate", "-1", "--duration", "5s"], "rate"),
    ([*SERVE, "--rate", "0", "--duration", "5s"], "rate"),
    ([*SERVE, "--rate", "1", "--duration", "-5s"], "--duration"),
    ([*SERVE, "--rate", "1", "--duration", "5GB"], "--duration"),
    ([*SERVE, "--rate", "1", "--duration", "5s", "--slo-ttft", "0"], "--slo-ttft"),
    ([*SERVE, "--rate", "1", "--duration", "5s", "--slo-tpot", "-1ms"], "--slo-tpot"),
    ([*SERVE, "--rate", "1e9", "--duration", "1000000s"], "rate"),
    ([*SERVE, "--rate", "1", "--duration", "5s", "--workload", "nosuch"], "workload"),
    ([*SERVE, "--rate", "1", "--duration", "5s", "--router", "nosuch"], "router"),
    ([*SERVE, "--trace", "{d}/missing.csv"], "trace"),
    ([*SERVE, "--trace", "{d}/trace_bad.csv"], "line 3"),
    (["serve", "--fleet", "nosuch-fleet", "--model", "nosuch", "--rate", "1"], "fleet"),
    # planning
    (["plan", "--model", "nosuch", "--rate", "1"], "model"),
    ([*PLAN, "--rate", "0"], "rate"),
    ([*PLAN, "--rate", "1", "--slo-ttft", "0"], "--slo-ttft"),
    ([*PLAN, "--rate", "1", "--slo-tpot", "abc"], "--slo-tpot"),
    (["plan", "--model", "llama3.1-8b", "--rate", "1", "--candidates", "nosuch"], "candidates"),
    (["plan", "--model", "llama3.1-8b", "--rate", "1", "--candidates", ","], "candidates"),
    ([*PLAN, "--rate", "1", "--prices", "{d}/missing.yaml"], "prices"),
    ([*PLAN, "--rate", "1", "--prices", "{d}/prices_bad.yaml"], "prices"),
    ([*PLAN, "--rate", "1", "--attainment", "1.5"], "attainment"),
    ([*PLAN, "--rate", "1", "--tp", "0"], "--tp"),
    ([*PLAN, "--rate", "1", "--tp", "3"], "tps"),
    ([*PLAN, "--rate", "1", "--modes", ","], "modes"),
    ([*PLAN, "--rate", "1", "--modes", "nosuch"], "modes"),
    ([*PLAN, "--rate", "1", "--router", "nosuch"], "router"),
    ([*PLAN, "--rate", "1", "--plot", "{d}/x.bogus"], "--plot"),
    # sweeps and plots
    (["sweep", "{d}/missing.yaml"], "missing.yaml"),
    (["sweep", "{d}/sweep_badjob.yaml", "--dry-run"], "job"),
    (["sweep", "{d}/sweep_badkey.yaml", "--dry-run"], "bogus"),
    (["sweep", "{d}/sweep_badrange.yaml", "--dry-run"], "grid.tp"),
    (["sweep", "{d}/sweep_badparam.yaml", "--dry-run"], "params.wat"),
    (["sweep", "{d}/sweep_huge.yaml", "--dry-run"], "grid.tp"),
    (["sweep", "{d}/sweep_nomodel.yaml", "-j", "1", "-o", "{d}/nm.csv"], "params.model"),
    (["sweep", "{d}/sweep_nofabric.yaml", "--dry-run"], "params.fabric"),
    (["sweep", "{d}/sweep_prod.yaml", "--dry-run"], "grid"),
    (["sweep", "{d}/broken.yaml", "--dry-run"], "YAML"),
    (["sweep", "{d}/sweep_badparam.yaml", "-o", "{d}/o.txt"], "--out"),
    (["sweep", "{d}/sweep_badrange.yaml", "-j", "0", "-o", "{d}/o.csv"], "--workers"),
    (["plot", "{d}/results.csv", "-o", "{d}/x.png", "--x", "nosuch", "--y", "b"], "nosuch"),
    (["plot", "{d}/results.csv", "-o", "{d}/x.png"], "--x"),
    (["plot", "{d}/results.csv", "-o", "{d}/x.png", "--kind", "busbw"], "size"),
    (["plot", "{d}/results.csv", "-o", "{d}/x.png", "--x", "a", "--y", "b", "--where", "zz == 3"], "--where"),
    (["plot", "{d}/results.csv", "-o", "{d}/x.bogus", "--x", "a", "--y", "b"], "-o"),
    (["plot", "{d}/broken.yaml", "-o", "{d}/x.png", "--x", "a", "--y", "b"], "results"),
    (["plot", "{d}/empty.csv", "-o", "{d}/x.png", "--x", "a", "--y", "b"], "results"),
    (["plot", "{d}/corrupt.parquet", "-o", "{d}/x.png", "--x", "a", "--y", "b"], "results"),
    (["sweep", "{d}/sweep_ok.yaml", "-j", "1", "-o", "{d}/corrupt.parquet", "--resume"], "results"),
    # traffic (the engine's own CLI section)
    (["traffic", "--fabric", "nosuch"], "nosuch"),
    (["traffic", "--fabric", "dgx-h100", "--size", "-1MiB"], "size"),
    (["traffic", "--fabric", "dgx-h100", "--size", "1s"], "--size"),
    (["traffic", "--fabric", "dgx-h100", "--spread", "2"], "spread"),
    (["traffic", "--fabric", "dgx-h100", "--pattern", "incast", "--k", "100"], "k"),
    (["traffic", "--fabric", "dgx-h100", "--pattern", "bit_reversal", "--set", "chips=6"], "bit_reversal"),
    (["traffic", "--fabric", "dgx-h100", "--plot", "{d}/util.bogus"], "--plot"),
    (["traffic", "--fabric", "dgx-h100", "--size", "0"], "--size"),
    (["traffic", "--fabric", "dgx-h100", "--size", "0.5B"], "one byte"),  # ran flows of half a byte
    (["traffic", "--fabric", "dgx-h100", "--top", "-1"], "--top"),
    (["traffic", "--fabric", "dgx-h100", "--pattern", "ring", "--k", "3"], "--k"),
    # Monte Carlo: --samples 0 is refused, not read as the default count
    ([*INFER, "--fail-random", "default", "--samples", "0"], "samples"),
    (["collective", "all-reduce", *SMALL, "--fail-random", "default", "--samples", "0"], "samples"),
    ([*SERVE, "--rate", "1", "--duration", "5s", "--fail-random", "default", "--samples", "0"], "samples"),
]

def test_bad_input_loses_nothing(files):
    """A failing command leaves the files it was pointed at as they were."""
    before = (files / "corrupt.parquet").read_bytes()
    r = _run(["sweep", "{d}/sweep_ok.yaml", "-j", "1", "-o", "{d}/corrupt.parquet", "--resume"], files)
    assert r.exit_code == 2 and (files / "corrupt.parquet").read_bytes() == before
    out = files / "kept.csv"
    assert _run(["sweep", "{d}/sweep_ok.yaml", "-j", "1", "-o", str(out)], files).exit_code == 0
    kept = out.read_bytes()
    r = _run(["sweep", "{d}/sweep_badparam.yaml", "-j", "1", "-o", str(out)], files)
    assert r.exit_code == 2 and out.read_bytes() == kept


# click's own usage errors (choices, missing arguments): exit 2, "Error: ..." naming the option
USAGE_CASES = [
    (["traffic", "--fabric", "dgx-h100", "--pattern", "nosuch"], "--pattern"),
    (["traffic", "--fabric", "dgx-h100", "--routing", "nosuch"], "--routing"),
    (["collective", "all-reduce", *SMALL, "--placement", "nosuch"], "--placement"),
    (["collective", "all-reduce", *SMALL, "--mode", "nosuch"], "--mode"),
    (["infer", "--fabric", "dgx-h100"], "--model"),
    (["plot", "{d}/missing.csv", "-o", "x.png"], "RESULTS"),
    (["collective", "nosuch"], "nosuch"),
    (["collective", "all-reduce", *SMALL, "--root", "1"], "--root"),  # --root exists on broadcast/reduce only
    (["topo", "export", "dgx-h100"], "--output"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    for name, text in FILES.items():
        (d / name).write_text(text)
    return d


def _run(argv, d):
    args = [a.replace("{d}", str(d)) for a in argv]
    return CliRunner().invoke(main, args)


@pytest.mark.parametrize("argv,field", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_one_line_exit_2(files, argv, field):
    r = _run(argv, files)
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    assert isinstance(r.exception, SystemExit), repr(r.exception)  # no other exception escaped
    err = r.stderr.strip()
    assert "Traceback" not in r.output
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert field in lines[0], (field, err)


@pytest.mark.parametrize("argv,field", USAGE_CASES, ids=[" ".join(a) for a, _ in USAGE_CASES])
def test_usage_errors_exit_2(files, argv, field):
    r = _run(argv, files)
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert isinstance(r.exception, SystemExit)
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and field in last, r.stderr


# ------------------------------------------------------------------------------------ Python API
@pytest.fixture(scope="module")
def fab():
    return topo.load("maia200-small")


@pytest.fixture(scope="module")
def dgx():
    return topo.load("dgx-h100")


def _two_chips(bw):
    g = nx.Graph()
    g.add_node(0, kind="chip")
    g.add_node(1, kind="chip")
    if bw is not None:
        g.add_edge(0, 1, bandwidth=bw, latency=1e-6)
    return topo.Fabric.from_graph(g)


API_CASES = [
    ("disconnected fabric", lambda f, d: _two_chips(None), SpecError, "disconnected"),
    ("zero bandwidth", lambda f, d: _two_chips(0.0), SpecError, "bandwidth"),
    ("negative bandwidth", lambda f, d: _two_chips(-5.0), SpecError, "bandwidth"),
    ("nan bandwidth", lambda f, d: _two_chips(float("nan")), SpecError, "bandwidth"),
    ("empty graph", lambda f, d: topo.Fabric.from_graph(nx.Graph()), SpecError, "no chips"),
    ("unknown fabric", lambda f, d: topo.load("nosuch"), SpecError, "nosuch"),
    ("unknown override", lambda f, d: topo.load("dgx-h100", wat=1), SpecError, "wat"),
    ("unknown chip", lambda f, d: topo.chip_preset("nosuch"), SpecError, "nosuch"),
    ("bad unit", lambda f, d: topo.parse_quantity("12 furlongs", "size"), UnitError, "furlongs"),
    ("wrong dimension", lambda f, d: topo.parse_quantity("5s", "size", "size"), UnitError, "size"),
    ("runaway range", lambda f, d: topo.parse_size_range("1:1e30:x1.0000001"), UnitError, "sizes"),
    ("groups not dividing", lambda f, d: f.groups(5), SpecError, "k=5"),
    ("bad placement", lambda f, d: f.groups(4, placement="zz"), SpecError, "placement"),
    ("route out of range", lambda f, d: f.routes(np.array([0]), np.array([99999])), RoutingError, "99999"),
    ("unknown node", lambda f, d: f.paths("zzz", 0), RoutingError, "zzz"),
    ("group names missing chip", lambda f, d: collectives.all_reduce(f, 1e6, group=[0, 999]), ScheduleError, "999"),
    ("group duplicate chip", lambda f, d: collectives.all_reduce(f, 1e6, group=[0, 0, 1]), ScheduleError, "group"),
    ("group empty", lambda f, d: collectives.all_reduce(f, 1e6, group=[]), ScheduleError, "group"),
    ("group of groups", lambda f, d: collectives.all_reduce(f, 1e6, group=[[0, 1], [2]]), ScheduleError, "group"),
    ("size zero", lambda f, d: collectives.all_reduce(f, 0, group=[0, 1]), ScheduleError, "size"),
    ("size nan", lambda f, d: collectives.all_reduce(f, float("nan"), group=[0, 1]), ScheduleError, "size"),
    ("unknown algorithm", lambda f, d: collectives.all_reduce(f, 1e6, group=[0, 1], algorithm="zz"), ScheduleError,
     "algorithm"),
    ("unknown option (auto)", lambda f, d: collectives.all_reduce(f, 1e6, group=[0, 1, 2, 3], bogus=1), ScheduleError,
     "bogus"),
    # a list as the algorithm was an unhashable-type TypeError (a jobs file's `algorithm: [ring]`)
    ("algorithm a list", lambda f, d: collectives.all_reduce(f, 1e6, group=[0, 1], algorithm=["ring"]), ScheduleError,
     "algorithm"),
    ("run: algorithm a list", lambda f, d: collectives.run([collectives.AllReduce(1e6, [0, 1], ["ring"])], f),
     ScheduleError, "algorithm"),
    # words, lists and maps where numbers belong were ValueError / TypeError / OverflowError tracebacks (a sweep's
    # params reach these keywords as written in its YAML)
    ("overhead a word", lambda f, d: collectives.all_reduce(f, 1e6, group=[0, 1], overhead="abc"), ScheduleError,
     "overhead"),
    ("overhead nan", lambda f, d: collectives.all_reduce(f, 1e6, group=[0, 1], overhead=float("nan")), ScheduleError,
     "overhead"),
    ("seed a word", lambda f, d: collectives.all_reduce(f, 1e6, group=[0, 1], seed="hash"), ScheduleError, "seed"),
    ("seed inf", lambda f, d: collectives.run([collectives.AllReduce(1e6, [0, 1])], f, seed=float("inf")),
     ScheduleError, "seed"),
    ("reduce_bandwidth a list", lambda f, d: collectives.all_reduce(f, 1e6, group=[0, 1], reduce_bandwidth=[1]),
     ScheduleError, "reduce_bandwidth"),
    ("act_dtype a map", lambda f, d: inference.estimate("llama3.1-8b", d, tp=1, act_dtype={}), SpecError, "act_dtype"),
    ("pattern spread a word", lambda f, d: traffic.run_pattern(d, "ring", 1e6, spread="abc"), ScheduleError, "spread"),
    ("incast k a word", lambda f, d: traffic.run_pattern(d, "incast", 1e6, k="x"), ScheduleError, "k must"),
    ("serving slo a word", lambda f, d: fleet.simulate_serving(
        {"pools": [{"name": "c", "step_model": {"decode_base": "15ms"}, "replicas": 1}]}, rate=1.0, duration=2.0,
        slo_tpot="50ms"), SpecError, "SLO"),
    ("serving macro_cap None", lambda f, d: fleet.simulate_serving(
        {"pools": [{"name": "c", "step_model": {"decode_base": "15ms"}, "replicas": 1}]}, rate=1.0, duration=2.0,
        macro_cap=None), SpecError, "macro_cap"),
    # a run option among an op's options was passed twice (TypeError: got multiple values for 'mode')
    ("run: op with a run option", lambda f, d: collectives.run([collectives.AllReduce(1e6, [0, 1], mode="steps")], f),
     ScheduleError, "whole run"),
    ("jobs: job with a run option", lambda f, d: fleet.run_jobs(*fleet.load_jobs(
        {"fabric": "dgx-h100", "jobs": [{"group_size": 4, "routing": "hash"}]})), ScheduleError, "routing"),
    # a jobs file's fabric: that is not a string (fabric: 1) was a TypeError from pathlib
    ("jobs: fabric a number", lambda f, d: fleet.load_jobs({"fabric": 1, "jobs": [{"group_size": 4}]}), SpecError,
     "fabric"),
    ("load a number", lambda f, d: topo.load(None), SpecError, "fabric"),
    ("jobs: collective a list", lambda f, d: fleet.run_jobs(*fleet.load_jobs(
        {"fabric": "dgx-h100", "jobs": [{"collective": ["all_reduce"], "group_size": 4}]})), SpecError, "collective"),
    # 10**6 chunks on 4 ranks compiled millions of steps (minutes, gigabytes); the limit is chunks x ranks
    ("chunks past the pipeline limit", lambda f, d: collectives.all_reduce(f, 1e6, group=[0, 1, 2, 3], algorithm="ring",
                                                                           chunks=2**17 + 1), ScheduleError,
     "at most 131,072 chunks"),
    ("chunks 0 (auto)", lambda f, d: collectives.all_reduce(f, 1e6, group=[0, 1, 2, 3], chunks=0), ScheduleError,
     "chunks"),
    ("root out of group (auto)", lambda f, d: collectives.broadcast(f, 1e6, group=[0, 1, 2, 3], root=4),
     ScheduleError, "root"),
    ("bad mode", lambda f, d: collectives.all_reduce(f, 1e6, group=[0, 1], mode="zz"), ScheduleError, "mode"),
    ("bad routing", lambda f, d: collectives.all_reduce(f, 1e6, group=[0, 1], routing="zz"), RoutingError, "routing"),
    ("unknown collective", lambda f, d: collectives.collective("zz", f, 1e6), ScheduleError, "collective"),
    ("benchmark no sizes", lambda f, d: collectives.benchmark("all_reduce", f, [], 8), ScheduleError, "sizes"),
    ("benchmark no algorithms", lambda f, d: collectives.benchmark("all_reduce", f, [1e6], 8, []), ScheduleError,
     "algorithm"),
    ("bound bandwidth 0", lambda f, d: collectives.bounds.all_reduce(8, 1e6, 0, 1e-6), ScheduleError, "bandwidth"),
    ("unknown model", lambda f, d: inference.estimate("nosuch", d), SpecError, "model"),
    ("tp not dividing heads", lambda f, d: inference.estimate("llama3.1-8b", d, tp=3), SpecError, "tp"),
    ("model does not fit", lambda f, d: inference.estimate("llama3.1-405b", d, tp=1, dtype="bf16"), CapacityError,
     "memory"),
    ("unknown dtype", lambda f, d: inference.estimate("llama3.1-8b", d, dtype="fp3"), SpecError, "dtype"),
    ("unknown estimate option", lambda f, d: inference.estimate("llama3.1-8b", d, bogus=1), SpecError, "bogus"),
    ("pue below 1", lambda f, d: inference.estimate("llama3.1-8b", d, pue=0.5), SpecError, "pue"),
    ("negative power price", lambda f, d: inference.estimate("llama3.1-8b", d, power_price=-1), SpecError,
     "power_price"),
    ("negative capex", lambda f, d: inference.estimate("llama3.1-8b", d, capex_per_chip=-1), SpecError,
     "capex_per_chip"),
    ("negative op_overhead", lambda f, d: inference.estimate("llama3.1-8b", d, op_overhead=-1), SpecError,
     "op_overhead"),
    ("fleet of wrong type", lambda f, d: fleet.simulate_serving(42, rate=1, duration=5), SpecError, "fleet"),
    ("slo 0", lambda f, d: fleet.simulate_serving("colocated-maia200", rate=1, duration=5, slo_ttft=0), SpecError,
     "SLO"),
    ("negative rate", lambda f, d: fleet.poisson_trace(-1, 5), SpecError, "rate"),
    ("negative duration", lambda f, d: fleet.poisson_trace(1, -5), SpecError, "duration"),
    ("runaway trace", lambda f, d: fleet.poisson_trace(1e9, 1e6), SpecError, "rate"),
    ("trace negative arrival", lambda f, d: fleet.Trace(np.array([-1.0]), np.array([10]), np.array([10])),
     SpecError, "arrival"),
    ("unknown router", lambda f, d: fleet.get_router("zz"), SpecError, "router"),
    ("plan slo 0", lambda f, d: fleet.plan("llama3.1-8b", 1, 0, 0.05, ["dgx-h100"]), SpecError, "slo_ttft"),
    ("plan empty tps", lambda f, d: fleet.plan("llama3.1-8b", 1, 1, 0.05, ["dgx-h100"], tps=()), SpecError, "tps"),
    ("plan unknown candidate", lambda f, d: fleet.plan("llama3.1-8b", 1, 1, 0.05, ["nosuch"]), SpecError,
     "candidates"),
    ("plan unknown model", lambda f, d: fleet.plan("nosuch", 1, 1, 0.05, ["dgx-h100"]), SpecError, "model"),
    ("sweep unknown job", lambda f, d: sweep.expand_points({"job": "zz", "params": {}}), SpecError, "job"),
    ("sweep missing job", lambda f, d: sweep.expand_points({"params": {}}), SpecError, "job"),
    ("sweep runaway range", lambda f, d: sweep.expand_points(
        {"job": "infer", "params": {"model": "llama3.1-8b"}, "grid": {"tp": "1:1e9:+1"}}), SpecError, "grid.tp"),
    ("sweep missing results", lambda f, d: sweep.read_results("/nonexistent-dir/x.csv"), SpecError, "results"),
]


@pytest.mark.parametrize("name,call,exc,field", API_CASES, ids=[c[0] for c in API_CASES])
def test_python_api_raises_typed_error(fab, dgx, name, call, exc, field):
    with pytest.raises(exc) as info:
        call(fab, dgx)
    assert isinstance(info.value, ScaleupError)
    msg = str(info.value)
    assert "\n" not in msg and field in msg, msg


# ------------------------------------------------------------------------------------ determinism
@pytest.mark.parametrize("argv", [
    ["topo", "show", "maia200-small", "--json"],
    ["collective", "all-reduce", "--fabric", "maia200-small", "--group-size", "16", "--sizes", "1MiB,16MiB", "--json"],
    ["collective", "all-to-all", "--fabric", "maia200-small", "--group-size", "8", "--sizes", "1MiB",
     "--placement", "random", "--concurrent-groups", "--json"],
    ["infer", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--json"],
    ["serve", "--fleet", "colocated-maia200", "--model", "llama3.1-8b", "--rate", "2", "--duration", "5s", "--json"],
    ["traffic", "--fabric", "dgx-h100", "--routing", "hash", "--spread", "0.5", "--seed", "3"],
], ids=lambda a: " ".join(a[:2]))
def test_same_inputs_same_output(argv):
    a = CliRunner().invoke(main, argv)
    b = CliRunner().invoke(main, argv)
    assert a.exit_code == 0, a.output
    assert a.output == b.output


@pytest.mark.parametrize("argv", [
    ["collective", "all-reduce", "--fabric", "maia200-small", "--group-size", "16", "--sizes", "1MiB", "--json"],
    ["serve", "--fleet", "colocated-maia200", "--model", "llama3.1-8b", "--rate", "2", "--duration", "5s", "--json"],
], ids=lambda a: a[0])
def test_same_output_across_processes(argv):
    """Two fresh interpreters (different hash seeds) print the same bytes."""
    import os
    import subprocess
    import sys

    code = "import sys; from cli import main; main(sys.argv[1:])"
    outs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        p = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env,
                           cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), timeout=120)
        assert p.returncode == 0, p.stderr
        outs.append(p.stdout)
    assert outs[0] == outs[1]
