"""Rule 5 of the measured backend checked on the tables themselves: expert TP against expert EP of the same degree
(prints a table; no assertions).

A MoE layer whose experts are tensor-parallel over t ranks (``moe_tp`` t) gives each rank 1 / t of every expert's
weights and FLOPs; expert parallelism over the same t ranks (``moe_ep`` t) gives each rank 1 / t of the experts.
aiconfigurator-core measured some keys both ways; where it measured only the EP key (GPT-OSS's MXFP4 experts:
``moe_tp`` 1 only), :meth:`inference.measured.KernelTables.moe` reads the EP key for a TP deployment (rule 5).
This prints, per system and stack, how the keys measured both ways compare (:func:`inference.measured.tp_ep_ratios`:
per key the median TP / EP time ratio over its common token counts; here the median and quartiles of those
medians over keys, and the same for steps of at most 256 tokens, the decode range). Nothing is fitted.

Usage: python bench/moe_tp_vs_ep.py [--systems h100_sxm,h200_sxm,b200_sxm,gb200] [--stacks trtllm,vllm,sglang]
       (skipped, exit 0, without aiconfigurator-core)
"""

from __future__ import annotations

import argparse
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", default="h100_sxm,h200_sxm,b200_sxm,gb200")
    ap.add_argument("--stacks", default="trtllm,vllm,sglang")
    args = ap.parse_args(argv)
    from inference import measured

    if not measured.available():
        print(f"skipped: {measured.MISSING_EXTRA}")
        return 0
    print(f"MoE keys measured with experts TP and EP of the same degree: TP / EP time (routing "
          f"{measured.MOE_DISTRIBUTION}; per key the median over its token counts; quartiles over keys)")
    print()
    print("| system | stack | keys | median | quartiles | keys <= 256 tokens | median | quartiles |")
    print("|---|---|---:|---:|---|---:|---:|---|")
    for system in args.systems.split(","):
        for stack in args.stacks.split(","):
            r = measured.tp_ep_ratios(system, stack)
            if r is None or not len(r):
                print(f"| {system} | {stack} | 0 | - | - | 0 | - | - |")
                continue
            q = r["median"].quantile([0.25, 0.5, 0.75])
            print(f"| {system} | {stack} | {len(r)} | {q[0.5]:.3f} | {q[0.25]:.2f} - {q[0.75]:.2f} |", end="")
            small = measured.tp_ep_ratios(system, stack, max_tokens=256)
            if small is None or not len(small):
                print(" 0 | - | - |")
            else:
                qs = small["median"].quantile([0.25, 0.5, 0.75])
                print(f" {len(small)} | {qs[0.5]:.3f} | {qs[0.25]:.2f} - {qs[0.75]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
