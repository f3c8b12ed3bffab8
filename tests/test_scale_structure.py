"""traffic.structure._coarse_maps is computed once per fabric structure (a step-mode solve asked for it at every
step: ~50 ms each on 6,144 maia200 chips, ~1 s of a 6,144-rank hd all-reduce's run), read-only, and step results
are the same as when it is recomputed."""

from __future__ import annotations

import numpy as np
import pytest

import topo
import traffic
import traffic.structure as structure


def test_coarse_maps_once_per_structure_same_steps():
    fab = topo.load("maia200-small")
    st = structure.structure(fab)
    calls = []
    orig = structure._coarse_maps_of

    def spy(s):
        calls.append(1)
        return orig(s)

    steps = [traffic.Step(np.arange(0, 384, 2), np.arange(1, 384, 2), 1e6 * (k + 1)) for k in range(4)]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(structure, "_coarse_maps_of", spy)
        st.coarse = None
        a = traffic.simulate_steps(fab, steps, grouping="structure")
        assert len(calls) == 1
        coarse = structure._coarse_maps(st)[0]
        assert not coarse.flags.writeable
        with pytest.raises(ValueError):
            coarse[0] = 1
    fresh = topo.load("maia200-small")  # a new fabric: its own structure, maps built afresh
    b = traffic.simulate_steps(fresh, steps, grouping="structure")
    np.testing.assert_array_equal(a.step_times, b.step_times)
    np.testing.assert_array_equal(a.link_bytes, b.link_bytes)
    c = traffic.simulate_steps(fab, steps, grouping="none")
    np.testing.assert_allclose(a.step_times, c.step_times, rtol=1e-11, atol=0)
