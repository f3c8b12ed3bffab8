"""An SRAM-only fabric too small for the model suggested "use a larger fabric (e.g. cs3-cluster, groq-rack)" whatever
the chip and need: groq-rack itself for DeepSeek-V3 on groq-rack (720 LPUs, 3,255 needed), and groq-rack (LPUs) for
a CS-3 that needs 18 wafers. The hint names only bundled fabrics of the same chip with enough of them, else says
none is bundled."""

from __future__ import annotations

import pytest

import inference
from topo import CapacityError


def test_groq_rack_too_small_does_not_suggest_itself():
    with pytest.raises(CapacityError) as exc:
        inference.estimate("deepseek-v3", "groq-rack")
    msg = str(exc.value)
    assert "groq-rack has 720" in msg or "'groq-rack' has 720" in msg
    hint = msg.split("; use", 1)[1]
    assert "groq-rack" not in hint and "cs3-cluster" not in hint, msg
    assert "3255" in hint or "3,255" in hint, msg


def test_cs3_suggests_the_cs3_cluster_only():
    with pytest.raises(CapacityError) as exc:
        inference.estimate("deepseek-v3", "cs3")
    hint = str(exc.value).split("; use", 1)[1]
    assert "cs3-cluster" in hint and "groq-rack" not in hint, hint
