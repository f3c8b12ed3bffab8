"""collectives.validation's marginal busbw (the >= 64 MiB residual's slope vs shape): closed forms, and the
report on the installed aiconfigurator-core tables recomputed independently."""

from __future__ import annotations

import numpy as np
import pytest

from collectives import validation as V

MiB = 2.0**20


@pytest.mark.parametrize("n", [2, 4, 8])
def test_marginal_of_an_affine_curve_is_its_rate_and_intercept(n):
    t0, rate = 37e-6, 412e9  # s, bytes/s
    sizes = np.array([32, 64, 128, 512]) * MiB
    bus, icpt = V.marginal(sizes, t0 + sizes / rate, n, 64 * MiB, 512 * MiB)
    assert bus == pytest.approx(rate * 2 * (n - 1) / n, rel=1e-12)
    assert icpt == pytest.approx(t0, rel=1e-9)


def test_marginal_sees_a_falling_per_byte_cost():
    # t = t0 + S / r + c sqrt(S): concave, so the marginal rate rises with size (what an affine model cannot)
    sizes = np.array([32, 64, 128, 512]) * MiB
    t = 20e-6 + sizes / 300e9 + 1e-8 * np.sqrt(sizes)
    lo = V.marginal(sizes, t, 2, 32 * MiB, 64 * MiB)[0]
    hi = V.marginal(sizes, t, 2, 128 * MiB, 512 * MiB)[0]
    assert lo < hi < 300e9


def test_marginal_busbw_recomputed_from_the_table_and_the_model(capsys):
    pytest.importorskip("aiconfigurator_core")
    import topo
    from collectives import all_reduce
    from collectives.calibrate import SYSTEMS, aiconfigurator_table

    r = V.marginal_busbw("h100_sxm")
    assert list(r.index) == [2, 4, 8]
    d = aiconfigurator_table("h100_sxm", "nccl")
    d = d[(d["collective"] == "all_reduce") & (d["ranks"] == 4)].groupby("bytes")["seconds"].median()
    t64, t128 = d[64 * MiB], d[128 * MiB]
    assert r.loc[4, "meas 64-128"] == pytest.approx(1.5 * 64 * MiB / (t128 - t64) / 1e9, rel=1e-12)
    fab = topo.load(SYSTEMS["h100_sxm"])
    m128, m512 = (all_reduce(fab, s * MiB, list(range(8))).time for s in (128, 512))
    assert r.loc[8, "model 128-512"] == pytest.approx(1.75 * 384 * MiB / (m512 - m128) / 1e9, rel=1e-12)
    assert r.loc[8, "model intercept us"] == pytest.approx((m128 - 128 * MiB * (m512 - m128) / (384 * MiB)) * 1e6,
                                                           rel=1e-9)
    assert V.main(["--marginal", "--systems", "h100_sxm"]) == 0
    out = capsys.readouterr().out
    assert "| h100_sxm (fit) | 8 |" in out and "128-512 MiB" in out


@pytest.mark.parametrize("flag", [[], ["--marginal"]])
def test_unknown_system_is_one_line_and_exit_2(flag, capsys):
    assert V.main([*flag, "--systems", "h100_sxm,bogus"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'bogus'" in err and "h100_sxm" in err
