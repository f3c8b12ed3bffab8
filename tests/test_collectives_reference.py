"""Every algorithm's nccl-tests figures are unchanged, bit for bit, by the split of collectives.algorithms.

tests/data/collectives_reference.json holds, for every registered (collective, algorithm) and ``auto`` on
dgx-h100, maia200-small and torus-8x8 (two group sizes each, one not a power of two; a small and a large
odd message), the time, algbw, busbw and bound as ``repr`` of the float, or the error a user gets,
written by tests/data/make_collectives_reference.py on the tree before the split (physics: ideal=True).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

DATA = Path(__file__).parent / "data"


def _maker():
    spec = importlib.util.spec_from_file_location("make_collectives_reference", DATA / "make_collectives_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tables_match_the_reference_bit_for_bit():
    """Every reference row is reproduced exactly (algorithms registered later add rows, not checked here;
    one that wins ``auto`` changes an auto row: regenerate the file and say why in the commit)."""
    key = ("fabric", "collective", "algorithm", "n", "size")
    want = {tuple(r[k] for k in key): r for r in json.loads((DATA / "collectives_reference.json").read_text())}
    got = {tuple(r[k] for k in key): r for r in _maker().rows({"ideal": True})}
    assert not set(want) - set(got), f"rows missing: {sorted(set(want) - set(got))[:3]}"
    diffs = [(want[k], got[k]) for k in want if want[k] != got[k]]
    assert not diffs, f"{len(diffs)} rows differ, first (reference, now): {diffs[0]}"
    assert sum("time" in r for r in want.values()) > 300  # the reference is not a table of errors
