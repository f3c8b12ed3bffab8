"""Single-user decode speed of the SRAM and custom systems beside the vendors' published figures (issue 12).

Run ``python -m inference.systems_validation`` to recompute the table of docs/inference.md and
docs/fabrics.md. Each measured figure is copied from ../shared/reference/seed_systems.md (section 7, with
its source and tag); each prediction is ``1 / TPOT`` of :func:`inference.estimate` at batch 1 with the
default knobs and the layout :func:`inference.layout.auto_layout` picks (or the published chip count
where there is one). Nothing here is fitted to these figures; the errors are reported as they come out.

ASSUMPTION (the sources do not give them): 1,024 prompt tokens and 256 output tokens per request; the
dtype where a row says ``n/s`` (not stated) is the one marked in the row.
"""

from __future__ import annotations

from dataclasses import dataclass

from .report import estimate


@dataclass(frozen=True)
class SpeedRow:
    """One published single-stream speed (output tokens/s per user)."""

    system: str
    model: str
    fabric: str
    dtype: str
    measured: float | None  # tokens/s per user; None = no published figure
    source: str
    note: str = ""
    tp: int | None = None  # None: auto_layout
    pp: int | None = None


ROWS: tuple[SpeedRow, ...] = (
    SpeedRow("Cerebras CS-3", "llama3.1-8b", "cs3", "bf16", 1800.0,
             "Cerebras blog 2024-08-27 [P]; AA >1,800", "16-bit, 1 wafer"),
    SpeedRow("Cerebras CS-3", "llama3.1-70b", "cs3-cluster", "bf16", 450.0,
             "Cerebras blog 2024-08-27 [P]; AA 446", "16-bit, 4 CS-3"),
    SpeedRow("Cerebras CS-3", "llama3.1-70b", "cs3-cluster", "bf16", 2100.0,
             "The Register 2024-10 [S]", "with speculative decoding (not modelled)"),
    SpeedRow("Cerebras CS-3", "llama3.1-405b", "cs3-cluster", "bf16", 969.0,
             "Tom's Hardware 2024-11-18 [S]", "bf16 per HN [U]; wafer count not published"),
    SpeedRow("Cerebras CS-3", "qwen3-235b-a22b", "cs3-cluster", "bf16", 1500.0,
             "inference-docs.cerebras.ai [P]", "dtype n/s: bf16 ASSUMED"),
    SpeedRow("Cerebras CS-3", "gpt-oss-120b", "cs3-cluster", "bf16", 1844.1,
             "Artificial Analysis (low) [P]", "MXFP4 release; CS-3 has no FP4: bf16 ASSUMED"),
    SpeedRow("Groq LPU v1", "llama2-70b", "groq-rack", "int8", 300.0,
             "Groq 2023-11/2024-02 via TechPowerUp [S]", "INT8, 576 chips (tp 8 x pp 72)", tp=8, pp=72),
    SpeedRow("Groq LPU v1", "mixtral-8x7b", "groq-rack", "int8", 480.0,
             "TechPowerUp 2024-02 [S]", "dtype n/s: INT8 ASSUMED as Llama 2 70B"),
    SpeedRow("Groq LPU v1", "gpt-oss-120b", "groq-rack", "int8", 476.0,
             "AA via ailearningguides.com [S]", "MXFP4 release: INT8 ASSUMED"),
    SpeedRow("Groq LPU v1", "llama3.1-70b", "groq-rack", "int8", 330.0,
             "kickllm.com aggregator [U] (Llama 3.3 70B)", "weak source; INT8 ASSUMED"),
    SpeedRow("Trn3 UltraServer", "llama3.1-70b", "trn3-ultraserver", "fp8", None,
             "none published (AWS: relative claims only)", "TP 8", tp=8, pp=1),
    SpeedRow("TPU7x Ironwood", "llama3.1-70b", "ironwood-slice", "fp8", None,
             "none published", "TP 8", tp=8, pp=1),
)


def predict(row: SpeedRow, prompt: int = 1024, output: int = 256) -> dict:
    """Prediction for one row: tokens/s per user (1 / TPOT), TTFT, chips of the replica, error."""
    rep = estimate(row.model, row.fabric, tp=row.tp, pp=row.pp, dp=1, batch=1, prompt=prompt, output=output,
                   dtype=row.dtype)
    speed = 1.0 / rep.tpot
    err = None if row.measured is None else speed / row.measured - 1.0
    return {"system": row.system, "model": row.model, "dtype": row.dtype, "chips": rep.chips_per_replica,
            "tp": rep.tp, "pp": rep.pp, "predicted": speed, "measured": row.measured, "error": err,
            "ttft_s": rep.ttft, "source": row.source, "note": row.note}


def table(rows: tuple[SpeedRow, ...] = ROWS) -> str:
    """The markdown table of docs/inference.md."""
    lines = ["| system | model | dtype | chips (tp x pp) | predicted tok/s/user | published | error | source; note |",
             "|---|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        p = predict(r)
        meas = "-" if p["measured"] is None else f"{p['measured']:,.0f}"
        err = "-" if p["error"] is None else f"{p['error'] * 100:+.0f}%"
        lines.append(f"| {p['system']} | {p['model']} | {p['dtype']} | {p['chips']} ({p['tp']} x {p['pp']}) | "
                     f"{p['predicted']:,.0f} | {meas} | {err} | {p['source']}; {p['note']} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - a report script
    print(table())
