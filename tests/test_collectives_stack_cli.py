"""Serving-stack all-reduce ladders from the CLI (``scaleup collective all-reduce --stack``, ``scaleup calibrate
--stack``) and the Python API (``collectives.all_reduce(..., stack=)``): the CLI row is the Python function's
time, above the ladder the plain NCCL run, the rungs shown are the engines' rules restated here from their
sources (independently of collectives.stacks), inference runs the same, and bad inputs exit 2 with one line."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

import collectives as C
import topo
from cli import main
from collectives.stacks import FAMILY_OF_CHIP
from inference.comm import Groups, collective_choice

KiB, MiB = 1024.0, 1024.0 * 1024.0


def _rows(args: list[str]) -> list[dict]:
    r = CliRunner().invoke(main, ["collective", "all-reduce", *args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


# ---------------------------------------------------------------------- the engines' rules, restated
def trtllm_rung(family: str, n: int, size: float) -> str | None:
    """TensorRT-LLM AUTO (allreduceOp.cpp / customAllReduceUtils.h AllReduceBestStrategyTable, fusion NONE,
    hidden 4096 bf16): NCCL above the 64 MiB workspace, else the entry at floor(log2(tokens)); None = NCCL."""
    rows = {("hopper", 8): "444444405500000", ("hopper", 4): "444444445550000",
            ("blackwell", 8): "444444444555500", ("blackwell", 4): "444444444455000"}
    tokens = size / (4096 * 2)
    k = int(tokens).bit_length() - 1
    if size > 64 * MiB or k >= 15:
        return None
    return {"4": "oneshot", "5": "direct", "0": None}[rows[(family, n)][max(k, 0)]]


def vllm_rung(family: str, n: int, size: float) -> str | None:
    """vLLM cuda_communicator.all_reduce: custom (max_size = min(8 MiB, CUSTOM_ALL_REDUCE_MAX_SIZES)), 1-stage
    for 2 ranks / <= 4 ranks < 512 KiB / <= 8 ranks < 256 KiB, then symm-mem (multimem on
    _WORLD_SIZES_MULTIMEM, else two-shot) below SYMM_MEM_ALL_REDUCE_MAX_SIZES, then pynccl (None)."""
    ca = {"hopper": {4: 32 * MiB, 8: 256 * KiB}, "blackwell": {4: 2 * MiB, 8: 1 * MiB}}[family][n]
    sm = {"hopper": {4: 32 * MiB, 8: 64 * MiB}, "blackwell": {4: 32 * MiB, 8: 128 * MiB}}[family][n]
    if size < min(8 * MiB, ca):
        return "custom/" + ("oneshot" if (n <= 4 and size < 512 * KiB) or size < 256 * KiB else "direct")
    if size < sm:
        return "symm/" + ("inr" if n in {"hopper": (4, 6, 8), "blackwell": (6, 8)}[family] else "direct")
    return None


CASES = [  # (fabric, family, ranks, size)
    ("dgx-h100", "hopper", 8, 64 * KiB), ("dgx-h100", "hopper", 8, 1 * MiB), ("dgx-h100", "hopper", 8, 2 * MiB),
    ("dgx-h100", "hopper", 8, 8 * MiB), ("dgx-h100", "hopper", 8, 16 * MiB), ("dgx-h100", "hopper", 8, 128 * MiB),
    ("dgx-h100", "hopper", 4, 1 * MiB), ("dgx-h100", "hopper", 4, 4 * MiB),
    ("dgx-b200", "blackwell", 8, 64 * KiB), ("dgx-b200", "blackwell", 8, 512 * KiB),
    ("dgx-b200", "blackwell", 8, 4 * MiB), ("dgx-b200", "blackwell", 8, 8 * MiB),
    ("dgx-b200", "blackwell", 8, 64 * MiB), ("dgx-b200", "blackwell", 4, 4 * MiB),
]


@pytest.mark.parametrize("stack", ["trtllm", "vllm", "sglang"])
@pytest.mark.parametrize("fabric,family,n,size", CASES)
def test_the_cli_shows_the_engines_rung_and_the_python_functions_time(stack, fabric, family, n, size):
    row, = _rows(["--fabric", fabric, "--group-size", str(n), "--sizes", f"{int(size)}B", "--stack", stack])
    if stack == "trtllm":
        want = trtllm_rung(family, n, size)
        label = None if want is None else f"trtllm:{want}"
    elif stack == "vllm":
        want = vllm_rung(family, n, size)
        label = None if want is None else f"vllm:{want}"
    else:  # SGLang custom_all_reduce_v2: inp_size <= 16 MiB, one-shot or two-shot (the faster)
        label = None if size > 16 * MiB else "sglang:"
    alg = re.sub(r"/c\d+$", "", row["algorithm"])  # the chunk count of a pipelined algorithm
    if label is None:
        assert alg.startswith("nccl:"), alg
    elif stack == "sglang":
        assert alg in ("sglang:oneshot", "sglang:direct"), alg
    else:
        assert alg == label, (alg, label)
    fab = topo.load(fabric)
    r = C.all_reduce(fab, size, list(range(n)), stack=stack)
    assert row["time_us"] == pytest.approx(r.time * 1e6, rel=1e-12)
    assert r.rung == alg
    # inference's TP all-reduce under the same stack runs the same software: the same time
    t, _ = collective_choice(fab, "all_reduce", size, Groups([list(range(n))]), stack=stack)
    assert t == pytest.approx(r.time, rel=1e-12)


@pytest.mark.parametrize("fabric", ["dgx-h100", "dgx-b200"])
def test_above_every_ladder_the_stack_is_the_plain_nccl_run(fabric):
    args = ["--fabric", fabric, "--group-size", "8", "--sizes", "256MiB"]
    plain, = _rows(args)
    nccl, = _rows(args + ["--stack", "nccl"])
    assert nccl == plain  # --stack nccl is today's behaviour
    for stack in ("trtllm", "vllm", "sglang"):
        row, = _rows(args + ["--stack", stack])
        assert row["algorithm"] == "nccl:" + plain["algorithm"].removeprefix("auto:")
        assert row["time_us"] == plain["time_us"]
        assert C.all_reduce(topo.load(fabric), 256 * MiB, stack=stack).time * 1e6 == pytest.approx(plain["time_us"],
                                                                                                     rel=1e-12)


def test_below_the_ladder_the_stack_differs_from_nccl_and_the_header_names_it():
    plain, = _rows(["--fabric", "dgx-h100", "--sizes", "64KiB"])
    row, = _rows(["--fabric", "dgx-h100", "--sizes", "64KiB", "--stack", "trtllm"])
    assert row["algorithm"] == "trtllm:oneshot" and row["time_us"] != plain["time_us"]
    r = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "dgx-h100", "--sizes", "64KiB,1GiB",
                                  "--stack", "vllm"])
    assert r.exit_code == 0, r.output
    assert "serving stack vllm" in r.output and "vllm:custom/oneshot" in r.output and "nccl:" in r.output
    assert "fitted presets" not in r.output
    r = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "dgx-h200", "--sizes", "64KiB",
                                  "--stack", "vllm"])
    assert r.exit_code == 0 and "h200 runs the h100-fitted presets" in r.output and "vllm:custom/oneshot" in r.output


def test_concurrent_groups_run_the_rung_too():
    rows = _rows(["--fabric", "dgx-h100", "--group-size", "4", "--concurrent-groups", "--sizes", "64KiB",
                  "--stack", "vllm"])
    assert rows[0]["algorithm"] == "vllm:custom/oneshot" and rows[0]["groups"] == 2


def test_every_chip_with_a_ladder_has_inferences_family():
    from inference.kernels import CHIP_FAMILY

    assert FAMILY_OF_CHIP == {c: fam for c, (fam, _) in CHIP_FAMILY.items()}


@pytest.mark.parametrize("args,needle", [
    (["collective", "all-gather", "--fabric", "dgx-h100", "--stack", "vllm"], "--stack vllm: supported by all-reduce only"),
    (["collective", "all-reduce", "--fabric", "maia200-small", "--stack", "vllm"], "h100-sxm, h200, b200, gb200"),
    (["collective", "all-reduce", "--fabric", "dgx-h100", "--stack", "tensorrt"], "--stack: must be nccl, trtllm"),
    (["collective", "all-reduce", "--fabric", "dgx-h100", "--stack", "vllm", "--algorithm", "ring"], "drop --algorithm"),
    (["collective", "all-reduce", "--fabric", "dgx-h100", "--stack", "vllm", "--ideal"], "ideal"),
    (["calibrate", "--stack", "vllm", "--measurements", "aiconfigurator-sglang:h100_sxm"], "vllm's own table"),
    (["calibrate", "--stack", "mlc", "--measurements", "aiconfigurator-vllm:h100_sxm"], "--stack: must be one of"),
    (["calibrate", "--stack", "vllm", "--measurements", "rows.csv"], "--fabric: required"),
    (["calibrate", "--stack", "vllm", "--fabric", "dgx-b200", "--measurements", "aiconfigurator-vllm:h100_sxm"],
     "chip family"),
    (["calibrate", "--measurements", "aiconfigurator:h100_sxm"], "--fabric: required"),
])
def test_bad_stack_input_exits_2_with_one_line(args, needle):
    r = CliRunner().invoke(main, args + (["--sizes", "1MiB"] if args[0] == "collective" else []))
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert needle in r.output


def test_python_api_refuses_what_the_cli_refuses():
    fab = topo.load("dgx-h100")
    with pytest.raises(topo.ScheduleError, match="algorithm"):
        C.all_reduce(fab, MiB, algorithm="ring", stack="vllm")
    with pytest.raises(topo.SpecError, match="stack"):
        C.all_reduce(fab, MiB, stack="tensorrt")
    with pytest.raises(topo.SpecError, match="no serving-stack all-reduce ladder"):
        C.all_reduce(topo.load("maia200-small"), MiB, list(range(8)), stack="sglang")
    assert C.all_reduce(fab, MiB, stack="nccl").time == C.all_reduce(fab, MiB).time
    assert C.all_reduce(fab, MiB).rung is None


# ---------------------------------------------------------------------- scaleup calibrate --stack
def test_calibrate_stack_from_a_file_recovers_the_preset_that_generated_it(tmp_path):
    """Measurements the model makes on sglang-h100 itself, fitted back through the CLI: a small error."""
    fab = topo.load("dgx-h100")
    lines = ["collective,ranks,bytes,seconds"]
    for e in range(10, 25, 2):
        lines.append(f"all_reduce,8,{2 ** e},{C.all_reduce(fab, 2.0 ** e, stack='sglang').time!r}")
    p = tmp_path / "rows.csv"
    p.write_text("\n".join(lines) + "\n")
    out = tmp_path / "fit.yaml"
    r = CliRunner().invoke(main, ["calibrate", "--stack", "sglang", "--fabric", "dgx-h100", "--measurements", str(p),
                                  "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "name: sglang-h100" in r.output and "fit: user measurements" in r.output
    assert out.read_text() in r.output
    table = [ln for ln in r.output.splitlines() if ln.startswith("| sglang | sglang-h100/custom")]
    assert table and all(abs(float(ln.split("|")[6].strip().rstrip("%"))) < 5.0 for ln in table), table


def test_calibrate_stack_on_the_installed_table_prints_each_preset_and_its_error():
    pytest.importorskip("aiconfigurator_core")
    from collectives.calibrate import comm_yaml
    from collectives.stacks import calibrate_stack

    r = CliRunner().invoke(main, ["calibrate", "--stack", "vllm", "--measurements", "aiconfigurator-vllm:h100_sxm"])
    assert r.exit_code == 0, r.output
    cal = calibrate_stack("vllm", "h100_sxm")
    for name in ("vllm-h100", "vllm-h100-symm"):
        assert comm_yaml(cal.comms[name]) in r.output
    assert "| vllm | vllm-h100-symm/inr | 8 |" in r.output and "| vllm | nccl | 8 |" in r.output
    # the NCCL calibrate's refusal now names this command
    r = CliRunner().invoke(main, ["calibrate", "--fabric", "dgx-h100", "--measurements", "aiconfigurator-vllm:h100_sxm"])
    assert r.exit_code == 2 and "scaleup calibrate --stack vllm --measurements aiconfigurator-vllm:h100_sxm" in r.output
