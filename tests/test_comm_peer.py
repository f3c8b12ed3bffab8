"""The custom all-reduce's per-peer cost ``peer`` at the YAML / CommSpec edge: bad values are one-line SpecErrors
naming the field, a fitted block with ``peer`` round-trips through the file ``scaleup calibrate -o`` writes, and a
file of several blocks (``calibrate --stack vllm -o``) used as one fabric's ``comm:`` says so."""

from __future__ import annotations

import pytest

import collectives as C
import topo
from collectives.calibrate import comm_yaml


@pytest.mark.parametrize("value", ["-1us", -1e-6, ".inf", "-0.1ns"])
def test_a_negative_or_infinite_custom_time_is_refused_in_yaml(value):
    """A negative ``peer`` (or ``call`` / ``step``) gave negative fixed costs (the all-reduce faster with more
    peers); inf an infinite time. Both are user errors naming the field."""
    for key in ("peer", "call", "step"):
        v = float("inf") if value == ".inf" else value
        with pytest.raises(topo.SpecError, match=rf"custom\.oneshot\.{key}"):
            topo.parse_comm({"preset": "vllm-h100", "custom": {"oneshot": {key: v}}})


@pytest.mark.parametrize("value", [-1e-7, "1us", [1e-7], float("nan"), True])
def test_commspec_refuses_a_custom_time_that_is_not_seconds(value):
    """From Python (CommSpec.custom holds SI seconds): a string, a list, NaN, a bool or a negative is refused."""
    base = topo.comm_preset("vllm-h100")
    custom = {a: dict(kv) for a, kv in base.custom}
    custom["oneshot"]["peer"] = value
    with pytest.raises(topo.SpecError, match=r"CommSpec\.custom\.oneshot\.peer: must be a time >= 0 s"):
        base.replace(custom=custom)


def test_commspec_takes_numpy_numbers_as_seconds():
    """numpy scalars (a fit's output, a sweep's grid) are numbers: np.int64(0) and np.float32 pass, as 0 and a float do."""
    import numpy as np

    base = topo.comm_preset("vllm-h100")
    custom = {a: dict(kv) for a, kv in base.custom}
    custom["oneshot"]["peer"] = np.int64(0)
    custom["oneshot"]["call"] = np.float32(2e-6)
    spec = base.replace(custom=custom)
    assert spec.custom_of("oneshot")["peer"] == 0 and spec.custom_of("oneshot")["call"] == pytest.approx(2e-6)


def test_bad_peer_shapes_name_the_field():
    for value, what in (([1, 2], "list"), (0.5, "bare number"), ("1GB", "size")):
        with pytest.raises(topo.SpecError, match=r"comm\.custom\.oneshot\.peer") as e:
            topo.parse_comm({"preset": "vllm-h100", "custom": {"oneshot": {"peer": value}}})
        assert "\n" not in str(e.value), what


@pytest.mark.parametrize("preset", ["trtllm-h100", "vllm-h100", "sglang-b200"])
def test_a_comm_block_with_peer_round_trips_through_its_file(preset, tmp_path):
    """comm_yaml (what ``scaleup calibrate -o`` writes) keeps ``peer`` in us; ``topo.load(comm=file)`` reads it back
    and the custom all-reduce times equal the preset's to the file's 4 significant figures (the presets hold 4)."""
    spec = topo.comm_preset(preset)
    assert any(dict(kv).get("peer", 0) > 0 for _, kv in spec.custom)
    path = tmp_path / "fit.yaml"
    path.write_text(comm_yaml(spec))
    back = topo.parse_comm(str(path))
    for a, kv in spec.custom:
        for k, v in kv:
            assert back.custom_of(a)[k] == pytest.approx(v, rel=1e-3, abs=1e-12), (a, k)
    fab = "dgx-h100" if preset.endswith("h100") else "dgx-b200"
    a, b = topo.load(fab, comm=spec), topo.load(fab, comm=str(path))
    for n in (2, 8):
        for size in (1024, 256 * 1024):
            ra, rb = C.all_reduce(a, size, list(range(n))), C.all_reduce(b, size, list(range(n)))
            assert ra.algorithm == rb.algorithm and rb.time == pytest.approx(ra.time, rel=1e-3), (n, size)


def test_a_file_of_several_comm_blocks_is_named_not_called_invalid_yaml(tmp_path):
    """``scaleup calibrate --stack vllm -o f.yaml`` writes one block per preset ('---' between); ``--set comm=f.yaml``
    said "not valid YAML". It now names the blocks and the fix; one block alone loads."""
    a, b = topo.comm_preset("vllm-h100"), topo.comm_preset("vllm-h100-symm")
    path = tmp_path / "fit.yaml"
    path.write_text("---\n".join(comm_yaml(s) for s in (a, b)))
    with pytest.raises(topo.SpecError, match=r"holds 2 comm: blocks \(vllm-h100, vllm-h100-symm\).*own file"):
        topo.load("dgx-h100", comm=str(path))
    one = tmp_path / "one.yaml"
    one.write_text(comm_yaml(b) + "---\n")  # a trailing document separator is still one block
    assert topo.parse_comm(str(one)).name == "vllm-h100-symm"
