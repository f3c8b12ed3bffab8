"""scaleup serve of a model whose weights leave no KV cache: the fix names only a dtype the chip runs that is
smaller than the pool's (it said "use a smaller dtype" to fp8 on an H100, which runs nothing smaller)."""
from click.testing import CliRunner

from cli import main
from topo import DTYPE_BYTES, load


def _serve(*args: str) -> str:
    res = CliRunner().invoke(main, ["serve", "--rate", "1", *args])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, res.output
    return lines[0]


def test_fp8_on_h100_names_no_smaller_dtype() -> None:
    chip = load("dgx-h100").chip
    assert not [d for d in chip.supported_dtypes() if DTYPE_BYTES[d] < DTYPE_BYTES["fp8"]]
    msg = _serve("--model", "deepseek-v3", "--fabric", "dgx-h100")
    assert "smaller dtype" not in msg, msg
    assert "more chips" in msg and "more memory" in msg and "fp8 is the smallest dtype h100-sxm runs" in msg, msg


def test_bf16_on_h100_names_the_smaller_dtypes_it_runs() -> None:
    msg = _serve("--model", "deepseek-v3", "--fabric", "dgx-h100", "--dtype", "bf16")
    named = msg.split("smaller dtype (")[1].split(")")[0].split(" or ")
    runs = load("dgx-h100").chip.supported_dtypes()
    assert named and all(d in runs and DTYPE_BYTES[d] < DTYPE_BYTES["bf16"] for d in named), msg
    assert "fp4" not in named
