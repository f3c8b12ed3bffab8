"""A model whose weights alone exceed every layout the fabric allows (DeepSeek-V3 at fp8 on the 8 H100s of dgx-h100)
was refused with "no batch fits at tp=8 (weights alone exceed HBM)" and no fix; scaleup plan's same refusal names one
(a larger tp or ep, or a chip with more memory). The line names it too, still one line, exit 2."""

from __future__ import annotations

from click.testing import CliRunner

from cli import main


def test_weights_exceed_every_layout_names_the_fix():
    res = CliRunner().invoke(main, ["infer", "--model", "deepseek-v3", "--fabric", "dgx-h100", "--tp", "8"])
    assert res.exit_code == 2, res.output
    out = res.output.strip()
    assert "\n" not in out and "Traceback" not in out, out
    assert "weights alone exceed HBM" in out
    assert "more memory" in out and "--dtype" in out and "more chips" in out, out
