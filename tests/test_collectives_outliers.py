"""collectives.validation.outlier_flags: the measurement-outlier flag printed beside the raw worst ratio. A point
is flagged only when it is a spike in its own table (more than the factor slower than both size neighbours) AND
the other shipped versions measured it more than the factor faster; checked on synthetic tables by hand, then on
the installed aiconfigurator-core tables (the B200 all-gather point at 128 KiB, 4 GPUs)."""

from __future__ import annotations

import numpy as np
import pytest

from collectives.validation import OUTLIER_FACTOR, outlier_flags, summary

pd = pytest.importorskip("pandas")

KiB = 1024.0


def _table(times: list[float], ranks: int = 4, collective: str = "all_gather"):
    """One (collective, ranks) row per size 1, 2, 4, ... KiB with the given seconds."""
    return pd.DataFrame({"collective": collective, "ranks": ranks,
                         "bytes": [KiB * 2**i for i in range(len(times))], "seconds": times})


def test_a_spike_that_the_other_versions_do_not_measure_is_flagged():
    t = _table([10.0, 10.5, 20.0, 11.0, 12.0])
    others = _table([10.0, 10.4, 10.8, 11.2, 12.0])
    assert outlier_flags(t, others).tolist() == [False, False, True, False, False]


def test_a_spike_the_other_versions_measure_too_is_not_flagged():
    t = _table([10.0, 10.5, 20.0, 11.0, 12.0])
    others = pd.concat([_table([10.0, 10.4, 19.0, 11.2, 12.0]), _table([10.0, 10.4, 10.8, 11.2, 12.0]),
                        _table([10.0, 10.4, 18.5, 11.2, 12.0])])  # median 18.5: within the factor of 20
    assert not outlier_flags(t, others).any()


def test_no_other_version_no_flag():
    t = _table([10.0, 10.5, 20.0, 11.0, 12.0])
    assert not outlier_flags(t, t.iloc[0:0]).any()
    # the other version lacks the point itself (another rank count)
    assert not outlier_flags(t, _table([10.0, 10.4, 10.8, 11.2, 12.0], ranks=8)).any()


def test_the_factor_is_a_strict_threshold_on_both_neighbours_and_the_other_versions():
    f = OUTLIER_FACTOR
    others = _table([10.0, 10.0, 10.0, 10.0])
    # 1.01 f x the larger neighbour but only 0.99 f x the smaller one: not a spike of both
    t = _table([10.0, 0.99 * f * 10.0 * 0.999, 0.99 * f * 10.0 * 0.999 / (1.01 * f), 30.0])
    assert not outlier_flags(t, others)[1]
    t = _table([10.0, 1.02 * f * 10.0, 10.0, 30.0])
    assert outlier_flags(t, others).tolist() == [False, True, False, False]
    assert not outlier_flags(t, others, factor=1.03 * f).any()


def test_dips_and_the_largest_size_are_never_flagged():
    """Only spikes: a point faster than both neighbours (the neighbour of a spike) stays; the last size has no
    larger neighbour to be compared with."""
    others = _table([10.0, 10.0, 10.0, 10.0, 10.0])
    assert not outlier_flags(_table([10.0, 10.0, 4.0, 10.0, 10.0]), others).any()
    assert not outlier_flags(_table([10.0, 10.0, 10.0, 10.0, 40.0]), others).any()


def test_the_smallest_size_is_compared_with_its_one_neighbour():
    others = _table([5.0, 5.0, 5.0])
    assert outlier_flags(_table([9.0, 5.0, 5.5]), others).tolist() == [True, False, False]
    assert not outlier_flags(_table([9.0, 5.0, 5.5]), _table([9.2, 5.0, 5.5])).any()


def test_repeats_are_taken_at_their_median_and_every_row_of_a_flagged_point_is_flagged():
    t = pd.concat([_table([10.0, 10.5, 20.0, 11.0]), _table([10.0, 10.5, 21.0, 11.0]),
                   _table([10.0, 10.5, 10.6, 11.0])], ignore_index=True)  # median at 4 KiB: 20.0
    got = outlier_flags(t, _table([10.0, 10.4, 10.8, 11.2]))
    assert got.tolist() == [False, False, True, False] * 3
    # groups are (collective, ranks): the same sizes on other rank counts are separate rows
    two = pd.concat([_table([10.0, 10.5, 20.0, 11.0], ranks=2), _table([10.0, 10.5, 10.7, 11.0], ranks=8)],
                    ignore_index=True)
    oth = pd.concat([_table([10.0, 10.4, 10.8, 11.2], ranks=2), _table([10.0, 10.4, 10.8, 11.2], ranks=8)])
    assert outlier_flags(two, oth).tolist() == [False, False, True, False] + [False] * 4


def test_summary_keeps_the_raw_worst_as_headline_and_prints_the_flagged_one_beside():
    df = pd.DataFrame({"system": "s", "role": "fit", "stack": "nccl", "collective": "all_gather", "ranks": 4,
                       "bytes": [1.0, 2.0, 2.0**27], "ratio": [1.12, 0.50, 0.95], "outlier": [False, True, False]})
    row = summary(df).splitlines()[2].split("|")
    # median |r - 1| over all three (12%, 50%, 5%): 12%; worst 0.50; >= 64 MiB: 5%; without the flagged: 1.12
    assert [c.strip() for c in row[5:11]] == ["3", "12.0%", "0.50", "5.0%", "1", "1.12"]
    df["outlier"] = False
    row = summary(df).splitlines()[2].split("|")
    assert [c.strip() for c in row[7:11]] == ["0.50", "5.0%", "0", "-"]


def test_installed_tables_flag_the_b200_all_gather_point_and_not_the_model_misses():
    """On the aiconfigurator-core tables: B200 all-gather, 4 GPUs, 128 KiB (NCCL 2.29.2: 19.4 us between 13-14 us
    neighbours; 2.27.3 / 2.27.5 / 2.28.9: 12.6-13.1 us) is flagged; GB200's vLLM rows (far off the model, but
    smooth in size) are not."""
    pytest.importorskip("aiconfigurator_core")
    from collectives.calibrate import aiconfigurator_table
    from collectives.stacks import stack_table
    from collectives.validation import _flag, table_versions

    assert table_versions("b200_sxm", "nccl") == ["2.27.3", "2.27.5", "2.28.9", "2.29.2"]
    assert "1.3.0rc20" in table_versions("b200_sxm", "trtllm")
    d = _flag("b200_sxm", "nccl", aiconfigurator_table("b200_sxm", "nccl"))
    hit = d[d["outlier"]]
    assert set(zip(hit["collective"], hit["ranks"], hit["bytes"])) == {("all_gather", 4, 128 * KiB)}
    g = _flag("gb200", "vllm", stack_table("gb200", "vllm"))
    assert not g["outlier"].any()
    assert np.isfinite(g["seconds"]).all()
