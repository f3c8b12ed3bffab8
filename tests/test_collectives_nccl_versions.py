"""collectives.validation.nccl_version_ratios: the measured ratios between the NCCL versions aiconfigurator-core
ships and of each serving stack's NCCL rung to each version, checked against the raw parquet files read here
(message_size = elements, latency = ms), and the stack columns present exactly where the ladder runs NCCL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import topo
from collectives.validation import nccl_version_ratios, nccl_versions

pytest.importorskip("aiconfigurator_core")
pd = pytest.importorskip("pandas")

MiB = 2.0**20


def _data() -> Path:
    import aiconfigurator_core

    return Path(aiconfigurator_core.__file__).resolve().parent / "systems" / "data"


def _raw_nccl(system: str, version: str, ranks: int, nbytes: float) -> float:
    """Median all-reduce seconds of one nccl_perf point, half precision (2 bytes an element)."""
    d = pd.read_parquet(_data() / system / "comm" / "nccl" / version / "nccl_perf.parquet")
    d = d[(d["op_name"] == "all_reduce") & (d["nccl_dtype"] == "half") & (d["num_gpus"] == ranks)
          & (d["message_size"] * 2 == nbytes)]
    assert len(d), (system, version, ranks, nbytes)
    return float(d["latency"].median()) * 1e-3


def _raw_trtllm(system: str, ranks: int, nbytes: float) -> float:
    d = pd.read_parquet(_data() / system / "comm" / "trtllm" / "1.3.0rc20" / "custom_allreduce_perf.parquet")
    d = d[(d["num_gpus"] == ranks) & (d["message_size"] * 2 == nbytes)]  # bfloat16
    assert len(d), (system, ranks, nbytes)
    return float(d["latency"].median()) * 1e-3


def test_versions_are_the_shipped_tables_oldest_first():
    base = _data() / "b200_sxm" / "comm" / "nccl"
    shipped = {p.name for p in base.iterdir() if (p / "nccl_perf.parquet").is_file()}
    got = nccl_versions("b200_sxm")
    assert set(got) == shipped and "2.29.2" in got
    keys = [tuple(int(x) for x in v.split(".")) for v in got]
    assert keys == sorted(keys)


def test_ratios_equal_the_raw_tables():
    r = nccl_version_ratios("b200_sxm")
    for version, ranks, nbytes in (("2.28.9", 4, 256 * MiB), ("2.27.5", 2, 64 * MiB), ("2.27.3", 8, 512 * MiB)):
        want = _raw_nccl("b200_sxm", version, ranks, nbytes) / _raw_nccl("b200_sxm", "2.29.2", ranks, nbytes)
        assert r.loc[(ranks, nbytes), f"{version}/2.29.2"] == pytest.approx(want, rel=1e-12)
    want = _raw_trtllm("b200_sxm", 4, 256 * MiB) / _raw_nccl("b200_sxm", "2.28.9", 4, 256 * MiB)
    assert r.loc[(4, 256 * MiB), "trtllm/2.28.9"] == pytest.approx(want, rel=1e-12)
    assert "2.29.2/2.29.2" not in r.columns


def test_stack_columns_only_on_the_nccl_rung():
    r = nccl_version_ratios("b200_sxm")
    # TensorRT-LLM AUTO on SM100 TP8: one-shot at 1 MiB, NCCL above its 64 MiB workspace
    assert np.isnan(r.loc[(8, 1 * MiB), "trtllm/2.29.2"])
    assert np.isfinite(r.loc[(8, 128 * MiB), "trtllm/2.29.2"])
    # vLLM on B200, 8 ranks: symmetric-memory multimem below 128 MiB, pynccl from 128 MiB
    assert np.isnan(r.loc[(8, 64 * MiB), "vllm/2.29.2"])
    assert np.isfinite(r.loc[(8, 128 * MiB), "vllm/2.29.2"])
    # the min_bytes cut
    assert (r.index.get_level_values("bytes") >= 0).all()
    big = nccl_version_ratios("b200_sxm", min_bytes=64 * MiB)
    assert big.index.get_level_values("bytes").min() == 64 * MiB


def test_missing_reference_is_a_spec_error():
    with pytest.raises(topo.SpecError, match="reference"):
        nccl_version_ratios("b200_sxm", reference="9.9.9")


def test_cli_prints_the_ratio_tables(capsys):
    from collectives.validation import main

    assert main(["--nccl-versions", "--systems", "h100_sxm"]) == 0
    out = capsys.readouterr().out
    assert "## h100_sxm" in out and "| 2.27.3/2.29.2 |" in out and "Median over the points >= 64 MiB" in out
    assert main(["--nccl-versions", "--systems", "no_such_system"]) == 2
    assert "reference" in capsys.readouterr().err
