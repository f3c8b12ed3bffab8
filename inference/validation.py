"""Predictions beside published measurements (the validation table of docs/inference.md).

Run ``python -m inference.validation`` to recompute the table. Every measured figure below is copied
from its public source (cited per row); every predicted figure comes from :func:`inference.estimate`
with the documented default knobs, nothing fitted to these rows.

Source for the throughput rows: TensorRT-LLM "Performance Overview" (docs/source/performance/
perf-overview.md, github.com/NVIDIA/TensorRT-LLM, version at commit 00f37686), ``trtllm-bench
throughput``: all requests queued at once, synthetic prompts of exactly ISL tokens and outputs of
exactly OSL tokens, in-flight batching, "Total Output Throughput (tokens/sec)" of the whole TP group,
ModelOpt FP8/FP4 checkpoints (FP8 KV cache), ``max_batch_size`` 2048 (the PyTorch backend default),
KV cache up to 0.95 of free memory. Llama-3.3-70B has the Llama-3.1-70B architecture.

How we predict a max-throughput run: the batch is the largest that fits in HBM (weights + KV cache for
ISL + OSL tokens + activations, ``hbm_usable=0.95``), capped at 2048; throughput is the replica's
``tokens_per_s`` (batch x OSL / (prefill of the batch + OSL decode steps)).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from topo import Fabric

from .estimate import Deployment
from .report import estimate, max_batch

TRTLLM = "TensorRT-LLM perf-overview.md (commit 00f37686), trtllm-bench throughput"


@dataclass(frozen=True)
class Setup:
    """One published measurement."""

    label: str
    model: str
    chip: str  # chip preset (topo.presets.CHIPS)
    fabric: str | None  # fabric preset when tp*ep > 1 (communication simulated), else one chip
    tp: int
    ep: int
    dtype: str
    prompt: int
    output: int
    measured: float  # output tokens/s of the whole deployment
    source: str = TRTLLM


SETUPS: tuple[Setup, ...] = (
    Setup("Llama-3.1-8B FP8, 1x H100, 128/128", "llama3.1-8b", "h100-sxm", None, 1, 1, "fp8", 128, 128, 28312),
    Setup("Llama-3.1-8B FP8, 1x H100, 2048/2048", "llama3.1-8b", "h100-sxm", None, 1, 1, "fp8", 2048, 2048, 9305),
    Setup("Llama-3.1-8B FP8, 1x H200, 2048/128", "llama3.1-8b", "h200", None, 1, 1, "fp8", 2048, 128, 3538),
    Setup("Llama-3.1-8B FP8, 1x H200, 1000/1000", "llama3.1-8b", "h200", None, 1, 1, "fp8", 1000, 1000, 17744),
    Setup("Llama-3.3-70B FP8, 1x H200, 1000/1000", "llama3.1-70b", "h200", None, 1, 1, "fp8", 1000, 1000, 2909),
    Setup("Llama-3.3-70B FP8, 1x H200, 2048/128", "llama3.1-70b", "h200", None, 1, 1, "fp8", 2048, 128, 442),
    Setup("Llama-3.3-70B FP4, 1x B200, 1000/1000", "llama3.1-70b", "b200", None, 1, 1, "fp4", 1000, 1000, 7007),
    Setup("Llama-3.3-70B FP8, 2x H100 TP2, 2048/2048", "llama3.1-70b", "h100-sxm", "dgx-h100", 2, 1, "fp8",
          2048, 2048, 3082),
    Setup("Llama-3.1-405B FP8, 8x H100 TP8, 2048/2048", "llama3.1-405b", "h100-sxm", "dgx-h100", 8, 1, "fp8",
          2048, 2048, 2296),
    Setup("Llama-3.1-405B FP8, 8x H200 TP8, 1000/1000", "llama3.1-405b", "h200", "dgx-h200", 8, 1, "fp8",
          1000, 1000, 3330),
    # MoE: the benchmark's MoE options enable attention data parallelism with expert parallelism over the
    # 8 GPUs; here tp=1 (8 attention groups) and ep=8, all-to-all dispatch/combine simulated on the fabric.
    Setup("Qwen3-235B-A22B FP8, 8x H100 (DP-attn + EP8), 1000/1000", "qwen3-235b-a22b", "h100-sxm", "dgx-h100",
          1, 8, "fp8", 1000, 1000, 14898),
)

BATCH_CAP = 2048
KNOBS = {"hbm_usable": 0.95}


def single_chip_fabric(chip_name: str) -> Fabric:
    """A fabric of one chip (no communication) with a chip preset."""
    from topo.presets import chip_preset

    g = nx.Graph()
    g.add_node(0, kind="chip")
    return Fabric.from_graph(g, chip=chip_preset(chip_name), name=f"1x {chip_name}")


def fabric_for(s: Setup) -> Fabric:
    if s.fabric is None:
        return single_chip_fabric(s.chip)
    from topo import load

    return load(s.fabric)


def predict(s: Setup) -> dict:
    """Predicted figures for one setup: batch used, output tokens/s, TTFT and TPOT."""
    fab = fabric_for(s)
    dep = Deployment(s.model, fab, tp=s.tp, ep=s.ep, dp=1, dtype=s.dtype, **KNOBS)
    b = min(BATCH_CAP, max_batch(dep, s.prompt, s.output))
    r = estimate(s.model, fab, tp=s.tp, ep=s.ep, dp=1, batch=b, prompt=s.prompt, output=s.output, dtype=s.dtype,
                 **KNOBS)
    return {"batch": b, "predicted": r.tokens_per_s["replica"], "ttft": r.ttft, "tpot": r.tpot}


def table(setups: tuple[Setup, ...] = SETUPS) -> list[dict]:
    """Rows of the validation table (skipping setups whose fabric preset is unavailable)."""
    rows = []
    for s in setups:
        try:
            p = predict(s)
        except Exception as exc:  # noqa: BLE001 - reported in the table, not hidden
            rows.append({"setup": s.label, "measured": s.measured, "predicted": float("nan"), "error": float("nan"),
                         "batch": 0, "note": f"not computed: {exc}"})
            continue
        err = (p["predicted"] - s.measured) / s.measured
        rows.append({"setup": s.label, "measured": s.measured, "predicted": p["predicted"], "error": err,
                     "batch": p["batch"], "tpot_ms": p["tpot"] * 1e3, "note": ""})
    return rows


def main() -> None:
    print("| setup | measured tokens/s | predicted tokens/s | error | batch used | TPOT ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in table():
        if r["note"]:
            print(f"| {r['setup']} | {r['measured']:,.0f} | - | - | - | {r['note']} |")
        else:
            print(f"| {r['setup']} | {r['measured']:,.0f} | {r['predicted']:,.0f} | {r['error']:+.0%} | "
                  f"{r['batch']} | {r['tpot_ms']:.1f} |")


if __name__ == "__main__":
    main()
