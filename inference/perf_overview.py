"""Every row of TensorRT-LLM's perf-overview throughput tables, as a held-out validation set (issue 11).

Run ``python -m inference.perf_overview [--source 00f37686|03e27c7d]`` for the rows (measured, predicted,
error, batch, role) and their summaries. :mod:`inference.validation` keeps a hand-picked subset of the
older release (``validation.SETUPS``); here every row of every table whose model scaleup has is predicted
the same way (:func:`inference.validation.predict`: trtllm-bench's engine settings, CUDA-graph padding, the
source's own request count, waves). Rows that are ``validation.SETUPS`` calibration rows are reported as
``calibration``, and so is every MoE row on H100 and B200 (:data:`MOE_CALIBRATION`: the rows the per-sequence MoE
cost ``StackProfile.moe_per_seq`` is fitted on, :func:`fit_moe_per_seq`, issue 11's "TensorRT-LLM throughput rows
for H100 and B200"); every other row (H200 and GB200 MoE, every dense row not in validation.SETUPS' calibration
set) is held out, nothing fitted to it.

**Sources** (github.com/NVIDIA/TensorRT-LLM, "Performance Overview", ``trtllm-bench throughput``; the tables
below are copied verbatim from the document, one Markdown table per model, column headers as published):

- ``00f37686``: docs/source/performance/perf-overview.md at commit 00f37686aa854010d68bcbd0f4ab000221541ca6
  (the release :data:`inference.validation.TRTLLM` cites). Metric "Total Output Throughput (tokens/sec)" of
  the deployment. ISL/OSL 128/128 ... 20000/2000 (ten pairs).
- ``03e27c7d``: docs/source/developer-guide/perf-overview.md at commit
  03e27c7d5ff0c6e89f8328838c0a8e64f1b34f9d (a newer release). Metric "Output Throughput per GPU
  (tokens/sec/GPU)": multiplied here by the column's GPU count to give the deployment's tokens/s.
  ISL/OSL 1000/1000, 1024/1024, 1024/8192, 1024/32768, 8192/1024, 32768/1024.

**Included** (document heading -> scaleup model): 00f37686: "Llama 3.3 70B" -> llama3.1-70b (the
Llama-3.1-70B architecture), "Qwen3-235B-A22B" -> qwen3-235b-a22b, "Qwen3-30B-A3B" -> qwen3-30b-a3b, "Llama 3.1
405B" -> llama3.1-405b, "Llama 3.1 8B" -> llama3.1-8b. 03e27c7d: "Deepseek R1 0528" -> deepseek-v3 (the
DeepSeek-V3 architecture; no speculative decoding in the command), "GPT-OSS 120B" -> gpt-oss-120b, "GPT-OSS 20B"
-> gpt-oss-20b, "LLaMA v3.3 70B" -> llama3.1-70b, "Qwen3 235B A22B" -> qwen3-235b-a22b, "Qwen3 30B A3B" ->
qwen3-30b-a3b. Every B200 / GB200 / H200 / H100 column of those tables, every non-empty cell.

**Skipped** (scaleup has no such model): 00f37686 "Llama 4 Scout", "Llama 4 Maverick"; 03e27c7d "LLaMA v4
Maverick". Skipped (no RTX 6000 Pro chip preset, and
pipeline-parallel layouts): every "RTX 6000 Pro Blackwell Server Edition" table (00f37686: those of Llama 4
Scout, Llama 3.3 70B, Qwen3-235B-A22B, Qwen3-30B-A3B, Llama 4 Maverick, Llama 3.1 405B; 03e27c7d: those of
LLaMA v3.3 70B, Qwen3 235B A22B, Qwen3 30B A3B). 00f37686 has no DeepSeek table (it points to a separate
performance guide).

**Deployments.** Column header -> chip (B200 -> b200, GB200 -> gb200, H200 -> h200, H100 -> h100-sxm), GPU
count N (``TPn`` / ``DEPn``) and the precision of the checkpoint (``(FP8)`` / ``(FP4)``). Dense models run
``tp=N``. MoE models run attention data parallelism with expert parallelism over the N GPUs (``tp=1,
ep=N``): ``DEPn`` says so; 00f37686's MoE ``llm_options.yml`` enables attention DP for its ``TP8`` columns
(as ``validation.SETUPS`` already models them); 03e27c7d's GPT-OSS / DeepSeek R1 / Qwen3 options set
``enable_attention_dp: true``. One GPU: no fabric; N GPUs: the chip's DGX / NVL72 fabric preset.
As published, 00f37686's MoE ``llm_options.yml`` nests ``enable_attention_dp: true`` inside ``cuda_graph_config``,
where TensorRT-LLM's ``CudaGraphConfig`` (a ``StrictBaseModel``, ``extra = "forbid"``, ``tensorrt_llm/llmapi/
llm_args.py``) would refuse the file, so the runs did not use it verbatim; 03e27c7d's options put the key at the top
level, and its ``DEPn`` headers say attention DP. ASSUMPTION: the 00f37686 MoE runs used attention DP as the
document says; ``--attention tp`` (:func:`rows`) is the sensitivity (attention TP + EP on the same GPUs). The
checkpoints are the ones the document lists, ModelOpt's ``nvidia/<model>-FP8`` / ``-FP4`` (per-tensor FP8 for
Qwen3-235B-A22B, not the block-scaled ``Qwen/Qwen3-235B-A22B-FP8``).
KV cache dtype (:data:`KV_DTYPE`): FP8 (the ModelOpt checkpoints' KV quantisation; 03e27c7d's DeepSeek R1
options ``kv_cache_config: dtype: fp8``), except 03e27c7d's GPT-OSS on Hopper: its options say ``dtype:
fp8  # Hopper: use auto``, and ``auto`` takes the checkpoint's dtype, BF16. Not modelled: 03e27c7d's MoE
backend choices (CUTLASS, TRITON on Hopper for GPT-OSS) and DeepSeek R1's attention-DP balancing options.
"""

from __future__ import annotations

import math
import numbers
import re
import statistics
from dataclasses import dataclass

from topo import SpecError

from .kernels import STACKS
from .validation import CAL, SETUPS, TRTLLM, TRTLLM_NUM_REQUESTS, Setup, predict

REPO = "NVIDIA/TensorRT-LLM"
#: 03e27c7d rows' ``Setup.source`` (00f37686 rows use :data:`inference.validation.TRTLLM`, the same release)
TRTLLM_03E27C7D = ("TensorRT-LLM developer-guide/perf-overview.md (commit 03e27c7d), trtllm-bench throughput, "
                   "per-GPU output tokens/s x GPUs")


@dataclass(frozen=True)
class Table:
    """One model's throughput table of a perf-overview release, copied verbatim (Markdown)."""

    heading: str  # the document's section heading
    model: str  # scaleup model (inference.models.MODELS)
    text: str  # the table as published: header row, rule, one row per ISL/OSL; an empty cell: not measured


@dataclass(frozen=True)
class Source:
    """One release of TensorRT-LLM's perf-overview document."""

    key: str  # short name (``--source``): the commit's first 8 hex digits
    repo: str
    path: str
    commit: str
    setup_source: str  # the ``Setup.source`` of its rows
    per_gpu: bool  # published values are per GPU (x the column's GPU count = the deployment's tokens/s)
    num_requests: dict[tuple[int, int], int]  # ``$num_requests`` per (ISL, OSL) ("Preparing a Dataset")
    tables: tuple[Table, ...]
    llm_options: tuple[tuple[str, str], ...]  # (which models, the ``llm_options.yml`` as published), verbatim


# ------------------------------------------------------------------------------------------------ 00f37686
# source: github.com/NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md @ 00f37686 ("Throughput
# Measurements"), values verbatim; "Running the Benchmark": the llm_options below and
# ``--kv_cache_free_gpu_mem_fraction 0.95`` "in many cases" (validation.KNOBS hbm_usable 0.95).
_GRAPHS_00F = """cuda_graph_config:
  enable_padding: true
  batch_sizes:
    - 1
    - 2
    - 4
    - 8
    - 16
    - 32
    - 64
    - 128
    - 256
    - 384
    - 512
    - 1024
    - 2048
    - 4096
    - 8192
"""
_00F_OPTIONS = (
    ("dense / non-MoE models", _GRAPHS_00F),
    # as published, enable_attention_dp sits inside cuda_graph_config; the document calls it the MoE options
    # and validation.SETUPS models its MoE rows with attention DP
    ("MoE models", _GRAPHS_00F.replace("cuda_graph_config:\n", "cuda_graph_config:\n  enable_attention_dp: true\n")),
)
_00F_TABLES = (
    Table("Llama 3.3 70B", "llama3.1-70b", """
| Sequence Length (ISL/OSL) | B200<br/>TP1 (FP4) | GB200<br/>TP1 (FP4) | H200<br/>TP1 (FP8) | H100<br/>TP2 (FP8) |
|---|---|---|---|---|
| 128/128 | 11,147 | 12,189 | 3,803 | 6,378 |
| 128/2048 | 9,922 | 11,309 | 4,336 | 6,651 |
| 128/4096 | 6,831 | 7,849 | 2,872 | 4,199 |
| 500/2000 | 7,762 | 9,028 | 3,666 | 5,222 |
| 1000/1000 | 7,007 | 7,326 | 2,909 | 4,205 |
| 1000/2000 | 6,271 | 6,513 | 2,994 | 4,146 |
| 2048/128 | 1,339 | 1,450 | 442 | 762 |
| 2048/2048 | 4,783 | 5,646 | 2,003 | 3,082 |
| 5000/500 | 1,459 | 1,602 | 566 | 898 |
| 20000/2000 | 665 | 755 | 283 | 437 |
"""),
    Table("Qwen3-235B-A22B", "qwen3-235b-a22b", """
| Sequence Length (ISL/OSL) | B200<br/>TP8 (FP4) | H200<br/>TP8 (FP8) | H100<br/>TP8 (FP8) |
|---|---|---|---|
| 128/128 | 63,362 | 30,429 | |
| 128/2048 | 66,057 | 42,821 | 19,658 |
| 128/4096 | 39,496 | 26,852 | 12,447 |
| 500/2000 | 57,117 | 28,026 | 18,351 |
| 1000/1000 | 42,391 | 23,789 | 14,898 |
| 1000/2000 | 34,105 | 22,061 | 15,136 |
| 2048/128 | 7,329 | 3,331 | |
| 2048/2048 | 26,854 | 16,672 | 9,924 |
| 5000/500 | 8,190 | 3,623 | 3,225 |
| 20000/2000 | 4,453 | 1,876 | |
"""),
    Table("Qwen3-30B-A3B", "qwen3-30b-a3b", """
| Sequence Length (ISL/OSL) | B200<br/>TP1 (FP4) | GB200<br/>TP1 (FP4) |
|---|---|---|
| 128/128 | 39,827 | 24,107 |
| 128/2048 | 37,844 | 31,311 |
| 128/4096 | 24,953 | 26,337 |
| 500/2000 | 27,817 | 20,604 |
| 1000/1000 | 25,828 | 17,481 |
| 1000/2000 | 22,051 | 17,177 |
| 2048/128 | 6,251 | 6,595 |
| 2048/2048 | 17,554 | 14,719 |
| 5000/500 | 6,142 | 5,908 |
| 20000/2000 | 2,944 | 3,203 |
"""),
    Table("Llama 3.1 405B", "llama3.1-405b", """
| Sequence Length (ISL/OSL) | B200<br/>TP4 (FP4) | GB200<br/>TP4 (FP4) | H200<br/>TP8 (FP8) | H100<br/>TP8 (FP8) |
|---|---|---|---|---|
| 128/128 | 6,281 | 6,740 | 3,814 | 3,627 |
| 128/2048 | 8,020 | 8,151 | 5,348 | 4,340 |
| 128/4096 | 6,345 | 6,608 | 4,741 | 3,116 |
| 500/2000 | 6,244 | 6,540 | 4,724 | 3,994 |
| 1000/1000 | 5,209 | 5,389 | 3,330 | 2,919 |
| 1000/2000 | 4,933 | 5,135 | 3,722 | 2,895 |
| 2048/128 | 749 | 797 | 456 | 453 |
| 2048/2048 | 4,212 | 4,407 | 2,948 | 2,296 |
| 5000/500 | 1,048 | 1,112 | 650 | 610 |
| 20000/2000 | 672 | 739 | 505 | 345 |
"""),
    Table("Llama 3.1 8B", "llama3.1-8b", """
| Sequence Length (ISL/OSL) | H200<br/>TP1 (FP8) | H100<br/>TP1 (FP8) |
|---|---|---|
| 128/128 | 27,911 | 28,312 |
| 128/2048 | 26,221 | 22,714 |
| 128/4096 | 18,027 | 14,325 |
| 500/2000 | 20,770 | 17,660 |
| 1000/1000 | 17,744 | 15,220 |
| 1000/2000 | 16,828 | 13,899 |
| 2048/128 | 3,538 | 3,450 |
| 2048/2048 | 12,194 | 9,305 |
| 5000/500 | 3,902 | 3,459 |
| 20000/2000 | 1,804 | 1,351 |
"""),
)

# ------------------------------------------------------------------------------------------------ 03e27c7d
# source: github.com/NVIDIA/TensorRT-LLM docs/source/developer-guide/perf-overview.md @ 03e27c7d, values
# verbatim (unit: output tokens per second per GPU); "Running the Benchmark": the llm_options below.
_GRAPHS_03E = """cuda_graph_config:
  enable_padding: true
  batch_sizes: [1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096, 8192]
"""
_03E_OPTIONS = (
    ("Llama 3.3", _GRAPHS_03E),
    ("GPT-OSS", _GRAPHS_03E + """enable_attention_dp: true
kv_cache_config:
  dtype: fp8
  # Hopper: use auto
moe_config:
  backend: CUTLASS
  # Hopper: use TRITON
"""),
    ("DeepSeek R1", """attention_dp_config:
  batching_wait_iters: 0
  enable_balance: true
  timeout_iters: 60
enable_attention_dp: true
""" + _GRAPHS_03E + """moe_config:
  backend: CUTLASS
kv_cache_config:
  dtype: fp8
"""),
    ("Qwen3 MoE, Llama4 Maverick", "enable_attention_dp: true\n" + _GRAPHS_03E),
)
_03E_TABLES = (
    Table("Deepseek R1 0528", "deepseek-v3", """
| Sequence Length (ISL/OSL) | B200<br/>DEP4 (FP4) | GB200<br/>DEP4 (FP4) | H200<br/>DEP8 (FP8) |
|---|---|---|---|
| 1000/1000 | 6,463 | 6,939 | 1,627 |
| 1024/1024 | 6,430 | 6,924 | 1,620 |
| 1024/8192 | 3,862 | 4,379 | 1,218 |
| 1024/32768 | 1,451 | 1,465 | 438 |
| 8192/1024 | 1,168 | 1,192 | |
"""),
    Table("GPT-OSS 120B", "gpt-oss-120b", """
| Sequence Length (ISL/OSL) | B200<br/>DEP2 (FP4) | GB200<br/>TP1 (FP4) | H200<br/>TP1 (FP8) | H100<br/>DEP4 (FP8) |
|---|---|---|---|---|
| 1000/1000 | 25,943 | 27,198 | 6,868 | 4,685 |
| 1024/1024 | 25,870 | 26,609 | 6,798 | 4,715 |
| 1024/8192 | 17,289 | 14,800 | 3,543 | |
| 1024/32768 | 6,279 | 5,556 | | 1,177 |
| 8192/1024 | 6,111 | 6,835 | 1,828 | 1,169 |
| 32768/1024 | 1,392 | 1,645 | 519 | 333 |
"""),
    Table("GPT-OSS 20B", "gpt-oss-20b", """
| Sequence Length (ISL/OSL) | B200<br/>TP1 (FP4) | GB200<br/>TP1 (FP4) | H200<br/>TP1 (FP8) | H100<br/>TP1 (FP8) |
|---|---|---|---|---|
| 1000/1000 | 53,812 | 55,823 | 13,858 | 11,557 |
| 1024/1024 | 53,491 | 56,528 | 13,890 | 11,403 |
| 1024/8192 | 34,702 | 38,100 | 12,743 | 8,617 |
| 1024/32768 | 14,589 | 16,463 | | |
| 8192/1024 | 11,904 | 12,941 | 4,015 | 3,366 |
| 32768/1024 | 2,645 | 2,905 | 915 | 785 |
"""),
    Table("LLaMA v3.3 70B", "llama3.1-70b", """
| Sequence Length (ISL/OSL) | B200<br/>TP1 (FP4) | GB200<br/>TP1 (FP4) | H200<br/>TP2 (FP8) | H100<br/>TP2 (FP8) |
|---|---|---|---|---|
| 1000/1000 | 6,920 | 7,769 | 2,587 | 2,209 |
| 1024/1024 | 6,842 | 7,751 | 2,582 | |
| 1024/8192 | 3,242 | 3,805 | 2,009 | |
| 8192/1024 | 1,362 | 1,491 | 537 | 398 |
| 32768/1024 | 274 | 302 | 120 | |
"""),
    Table("Qwen3 235B A22B", "qwen3-235b-a22b", """
| Sequence Length (ISL/OSL) | B200<br/>DEP4 (FP4) | GB200<br/>DEP4 (FP4) | H200<br/>DEP4 (FP8) | H100<br/>DEP8 (FP8) |
|---|---|---|---|---|
| 1000/1000 | 5,764 | 6,172 | 3,288 | 1,932 |
| 1024/1024 | 5,756 | 5,862 | 3,268 | 1,935 |
| 1024/8192 | 3,389 | 3,423 | 1,417 | 873 |
| 1024/32768 | 1,255 | | | |
| 8192/1024 | 1,410 | 1,464 | 627 | |
| 32768/1024 | 319 | 333 | 134 | |
"""),
    Table("Qwen3 30B A3B", "qwen3-30b-a3b", """
| Sequence Length (ISL/OSL) | B200<br/>TP1 (FP4) | GB200<br/>TP1 (FP4) |
|---|---|---|
| 1000/1000 | 26,971 | 22,856 |
| 1024/1024 | 26,611 | 22,201 |
| 1024/8192 | 13,497 | 14,272 |
| 1024/32768 | 4,494 | 4,925 |
| 8192/1024 | 5,735 | 6,201 |
| 32768/1024 | 1,265 | 1,380 |
"""),
)

#: ``$num_requests`` of the 03e27c7d release ("Preparing a Dataset": 1024/1024 3000, 8192/1024 1500, 1024/8192
#: 1500, 32768/1024 1000, 1024/32768 1000)
NUM_REQUESTS_03E27C7D = {(1024, 1024): 3000, (8192, 1024): 1500, (1024, 8192): 1500, (32768, 1024): 1000,
                         (1024, 32768): 1000,
                         # ASSUMPTION: 1000/1000 is in the tables but not in the document's request list; 3000
                         # is what the same document lists for 1024/1024 (the nearly equal pair) and what the
                         # 00f37686 release lists for 1000/1000, and the measured 1000/1000 and 1024/1024 figures
                         # agree within 2.2 % on 13 of the 14 columns holding both (Qwen3 GB200 5.3 %), as runs
                         # of one request count would. Sensitivity (1500 / unlimited instead): docs/inference.md,
                         # "Every row of the source tables".
                         (1000, 1000): 3000}

SOURCES: dict[str, Source] = {
    "00f37686": Source("00f37686", REPO, "docs/source/performance/perf-overview.md",
                       "00f37686aa854010d68bcbd0f4ab000221541ca6", TRTLLM, False, TRTLLM_NUM_REQUESTS, _00F_TABLES,
                       _00F_OPTIONS),
    "03e27c7d": Source("03e27c7d", REPO, "docs/source/developer-guide/perf-overview.md",
                       "03e27c7d5ff0c6e89f8328838c0a8e64f1b34f9d", TRTLLM_03E27C7D, True, NUM_REQUESTS_03E27C7D,
                       _03E_TABLES, _03E_OPTIONS),
}

#: column header chip -> (chip preset, fabric preset of a multi-GPU run; source: the documents' "Hardware":
#: H100 SXM 80GB (DGX H100), H200 SXM 141GB (DGX H200), B200 180GB (DGX B200), GB200 192GB (GB200 NVL72))
CHIPS = {"B200": ("b200", "dgx-b200"), "GB200": ("gb200", "gb200-nvl72"), "H200": ("h200", "dgx-h200"),
         "H100": ("h100-sxm", "dgx-h100")}
#: KV-cache dtype overrides ``(source, model, chip) -> dtype``; every other row runs an FP8 KV cache. Source:
#: 03e27c7d's GPT-OSS llm_options ``kv_cache_config: dtype: fp8  # Hopper: use auto`` (auto: the checkpoint's
#: dtype, BF16; the same options serve GPT-OSS 120B and 20B)
KV_DTYPE = {("03e27c7d", m, chip): "bf16" for m in ("gpt-oss-120b", "gpt-oss-20b") for chip in ("h200", "h100-sxm")}

_HEADER = re.compile(r"^(B200|GB200|H200|H100)<br/>(TP|DEP)(\d+) \((FP4|FP8)\)$")
BEYOND = 0.30  # the bound on any held-out row


@dataclass(frozen=True)
class Cell:
    """One published measurement of a perf-overview table, with the deployment it maps to."""

    source: str  # Source.key
    table: str  # Table.heading
    column: str  # the column header as published ("H100<br/>TP2 (FP8)")
    model: str
    chip: str
    gpus: int
    published: float  # the value as printed (tokens/s, per GPU where Source.per_gpu)
    setup: Setup  # what inference.validation.predict runs (measured = the deployment's output tokens/s)


def cells(source: str | None = None) -> list[Cell]:
    """Every non-empty cell of the included tables of one source (``None``: both), in document order."""
    from .models import load_model

    keys = list(SOURCES) if source is None else [source]
    out = []
    for key in keys:
        src = SOURCES[key]
        for t in src.tables:
            moe = load_model(t.model).is_moe
            lines = [ln.strip() for ln in t.text.strip().splitlines()]
            headers = [c.strip() for c in lines[0].strip("|").split("|")][1:]
            for line in lines[2:]:
                vals = [c.strip() for c in line.strip("|").split("|")]
                isl, osl = (int(x) for x in vals[0].split("/"))
                for head, v in zip(headers, vals[1:]):
                    if not v:
                        continue  # not measured
                    m = _HEADER.match(head)
                    if m is None:
                        raise RuntimeError(f"{key} {t.heading}: unparsed column header {head!r}")
                    chip, fabric = CHIPS[m.group(1)]
                    n = int(m.group(3))
                    tp, ep = (1, n) if moe else (n, 1)
                    published = float(v.replace(",", ""))
                    measured = published * n if src.per_gpu else published
                    col = head.replace("<br/>", " ")
                    s = Setup(f"{t.heading}, {col}, {isl}/{osl}", t.model, chip, fabric if n > 1 else None, tp, ep,
                              m.group(4).lower(), isl, osl, measured, source=src.setup_source,
                              role=_role(src, t.model, chip, tp, ep, m.group(4).lower(), isl, osl),
                              kv_dtype=KV_DTYPE.get((key, t.model, chip), "fp8"),
                              num_requests=src.num_requests[(isl, osl)])
                    out.append(Cell(key, t.heading, head, t.model, chip, n, published, s))
    return out


def _setups_key(s: Setup) -> tuple:
    return (s.source, s.model, s.chip, s.tp, s.ep, s.dtype, s.prompt, s.output)


def _subset() -> dict[tuple, Setup]:
    """validation.SETUPS' trtllm-bench throughput rows by deployment key."""
    return {_setups_key(s): s for s in SETUPS
            if isinstance(s, Setup) and s.source == TRTLLM and s.metric == "throughput" and s.batch is None}


#: family -> the chip whose perf-overview MoE rows calibrate that family's ``StackProfile.moe_per_seq`` (TensorRT-LLM
#: profiles, inference/kernels.py); the other chip of each family (H200, GB200) is held out
MOE_CALIBRATION = {"hopper": "h100-sxm", "blackwell": "b200"}
#: the grid of :func:`fit_moe_per_seq`, s per sequence per MoE layer per iteration (0-2 us in 0.05 us steps)
MOE_GRID = tuple(round(0.05 * i, 2) * 1e-6 for i in range(41))


def _role(src: Source, model: str, chip: str, tp: int, ep: int, dtype: str, isl: int, osl: int) -> str:
    from .models import load_model

    if chip in MOE_CALIBRATION.values() and load_model(model).is_moe:
        return CAL
    s = _subset().get((src.setup_source, model, chip, tp, ep, dtype, isl, osl))
    return CAL if s is not None and s.role == CAL else "held-out"


def fit_moe_per_seq(family: str, grid: tuple[float, ...] = MOE_GRID, **knobs) -> tuple[float, float, float]:
    """Grid fit of the per-sequence MoE cost (s per sequence of an attention group per MoE layer per iteration,
    ``StackProfile.moe_per_seq``) of ``family`` (``hopper`` / ``blackwell``) on its calibration rows only: every MoE
    cell of both sources on :data:`MOE_CALIBRATION` ``[family]`` (TensorRT-LLM, the default stack and backend unless
    ``knobs`` say otherwise). Objective: :func:`inference.validation.calibration_loss` (mean |log(predicted /
    measured)|) over the computed rows. Returns (the value, its loss, the rows' median |error| there).

    Raises:
        SpecError: ``family`` is not a key of :data:`MOE_CALIBRATION`."""
    from .models import load_model
    from .validation import calibration_loss

    if family not in MOE_CALIBRATION:
        raise SpecError(f"family: must be one of {', '.join(MOE_CALIBRATION)}, got {family!r}")
    cal = [c for c in cells() if c.chip == MOE_CALIBRATION[family] and load_model(c.model).is_moe]
    subset = _subset()
    best = (0.0, math.inf, math.nan)
    for x in grid:
        rs = [r for r in (_row(c, None, "dp", subset, {**knobs, "moe_per_seq": x}) for c in cal)
              if not math.isnan(r["error"])]
        loss = calibration_loss(rs)
        if loss < best[1]:
            best = (x, loss, float(statistics.median(abs(r["error"]) for r in rs)))
    return best


def rows(source: str | None = None, stack: str | None = None, attention: str = "dp", **knobs) -> list[dict]:
    """Measured beside predicted for every cell of :func:`cells` (a cell that cannot be computed is reported
    with its reason in ``note``, prediction and error NaN). Throughput in output tokens/s of the deployment;
    ``error`` = predicted / measured - 1; ``batch`` = the concurrency predicted; ``role`` = ``calibration`` for
    validation.SETUPS' calibration rows, else ``held-out``; ``in_setups`` = the row is in validation.SETUPS.

    ``attention``: ``"dp"`` (default) runs the MoE columns as the options say, attention data parallelism with
    expert parallelism over the N GPUs (``tp=1, ep=N``); ``"tp"`` runs them with attention tensor parallelism
    instead (``tp=N, ep=N``: one attention group, the experts' outputs summed by one all-reduce), a sensitivity
    (00f37686's MoE ``llm_options.yml`` nests ``enable_attention_dp`` inside ``cuda_graph_config``, module
    docstring). Dense columns are the same either way.

    Raises:
        SpecError: ``attention`` is neither ``"dp"`` nor ``"tp"``."""
    if attention not in ("dp", "tp"):
        raise SpecError(f"attention: must be 'dp' (attention data parallel, as the options say) or 'tp', got "
                        f"{attention!r}")
    subset = _subset()
    return [_row(c, stack, attention, subset, knobs) for c in cells(source)]


def _row(c: Cell, stack: str | None, attention: str, subset: dict[tuple, Setup], knobs: dict) -> dict:
    """One :func:`rows` row: the cell measured beside predicted (``note`` says why a prediction failed)."""
    from dataclasses import replace

    from .models import load_model

    s = c.setup
    if attention == "tp" and s.ep > 1:
        s = replace(s, tp=s.ep)
    base = {"source": c.source, "table": c.table, "column": c.column.replace("<br/>", " "), "model": c.model,
            "chip": c.chip, "gpus": c.gpus, "tp": s.tp, "ep": s.ep, "dtype": s.dtype, "kv_dtype": s.kv_dtype,
            "prompt": s.prompt, "output": s.output, "published": c.published, "measured": s.measured,
            "num_requests": s.num_requests, "role": s.role, "in_setups": _setups_key(s) in subset,
            "moe": load_model(c.model).is_moe, "setup": s.label}
    try:
        p = predict(s, stack, **knobs)
    except Exception as exc:  # noqa: BLE001 - reported in the table, not hidden
        return {**base, "predicted": float("nan"), "error": float("nan"), "batch": 0, "backend": "",
                "note": f"not computed: {exc}"}
    return {**base, "predicted": p["predicted"], "error": (p["predicted"] - s.measured) / s.measured,
            "batch": p["batch"], "backend": p["backend"], "note": ""}


#: weights of :func:`nearest`'s distance: |log| ratios of active parameters, ISL, OSL and GPU count, a
#: different dense/MoE class and a different precision. ASSUMPTION: the model's error is shared most by rows of the same
#: kind of model (size, dense or MoE), then of the same sequence shape; the weights only rank rows, every
#: listed row is reported with its own error, and ``k`` more rows show the neighbourhood.
NEAREST_WEIGHTS = {"params": 2.0, "prompt": 1.0, "output": 1.0, "gpus": 0.5, "moe": 4.0, "dtype": 0.5}


def nearest(model: str, chip: str, prompt: int, output: int, dtype: str | None = None, gpus: int | None = None,
            k: int = 3, stack: str | None = None, **knobs) -> list[dict]:
    """The ``k`` published throughput measurements (every row of both perf-overview sources) most like a
    deployment of ``model`` on ``chip`` at ``prompt`` / ``output`` tokens, each predicted now as :func:`rows`
    does (its own deployment: the published GPUs, parallelism and concurrency), with the error.

    This says how far the model has been off on the nearest measured cases, not what the deployment asked
    about will measure. Only rows on ``chip`` itself qualify (a chip without rows returns ``[]``: its figures
    are unvalidated); they are ranked by :data:`NEAREST_WEIGHTS` (ties: document order).

    Args:
        model: model preset name (``llama3.1-70b``...) or a spec with a ``name``; chip: chip preset name
            (``b200``, ``h100-sxm``...); prompt, output: tokens; dtype: weights dtype (``fp8``, ``fp4``...);
        gpus: chips of one replica (None: not ranked by it);
        k: rows to return (>= 1); stack, knobs: as :func:`rows` (e.g. ``backend``, ``host_per_seq``).

    Raises:
        SpecError: ``k`` below 1, or ``prompt`` / ``output`` below 1.
    """
    from .models import load_model

    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise SpecError(f"nearest: k must be an integer >= 1, got {k!r}")
    k = int(k)
    if prompt < 1 or output < 1:
        raise SpecError(f"nearest: prompt and output must be >= 1 token, got {prompt} / {output}")
    m = load_model(model)
    w = NEAREST_WEIGHTS
    params = m.active_param_count()

    def distance(c: Cell) -> float:
        cm = load_model(c.model)
        d = w["params"] * abs(math.log(params / cm.active_param_count()))
        d += w["prompt"] * abs(math.log(prompt / c.setup.prompt)) + w["output"] * abs(math.log(output / c.setup.output))
        d += w["moe"] * (cm.is_moe != m.is_moe)
        if gpus is not None:
            d += w["gpus"] * abs(math.log(max(gpus, 1) / c.gpus))
        return d + w["dtype"] * (dtype is not None and dtype != c.setup.dtype)

    cand = [c for c in cells() if c.chip == chip]
    cand = sorted(cand, key=distance)[:k]  # stable: document order breaks ties
    subset = _subset()
    return [{**_row(c, stack, "dp", subset, knobs), "distance": distance(c)} for c in cand]


def chips_with_rows() -> list[str]:
    """Chip presets that :func:`nearest` has published rows for."""
    return sorted({c.chip for c in cells()})


def format_nearest(rs: list[dict], chip: str) -> str:
    """:func:`nearest`'s rows as a short table (or the line saying the chip has none)."""
    if not rs:
        return (f"nearest measurements: none on {chip} (published TensorRT-LLM throughput rows exist for "
                f"{', '.join(chips_with_rows())}): the figures above are not validated on this chip")
    lines = ["nearest measurements (TensorRT-LLM perf overview, trtllm-bench throughput at its own concurrency; "
             "predicted now by this model):",
             f"  {'source':<9} {'model':<18} {'GPUs':<16} {'ISL/OSL':>11} {'measured':>10} {'predicted':>10} "
             f"{'error':>7}  role"]
    for r in rs:
        pred, err = ("-", r["note"]) if r["note"] else (f"{r['predicted']:,.0f}", f"{r['error']:+.0%}")
        lines.append(f"  {r['source']:<9} {r['table']:<18} {r['column']:<16} {str(r['prompt']) + '/' + str(r['output']):>11} "
                     f"{r['measured']:>10,.0f} {pred:>10} {err:>7}  {r['role']}")
    lines.append("  (output tokens/s of the deployment; how far this model was off nearby, not a prediction of this "
                 "run's error)")
    if any(r["role"] == CAL for r in rs):
        lines.append("  (calibration: a row the model was fitted on, so its error says less than a held-out row's; "
                     "docs/inference.md)")
    return "\n".join(lines)


def summary(rows: list[dict]) -> dict[str, dict]:
    """Summaries of :func:`rows`, in a stable order: ``name -> {n, median, worst, beyond, not_computed}``
    (median and worst of |error| over the computed rows, ``beyond`` = rows with |error| > 30 %).

    Names: ``all`` (every held-out row), ``dense`` / ``MoE``, then per source ``<source>``, ``<source> dense``,
    ``<source> MoE``, ``<source> not in validation.SETUPS`` and ``<source> <model> <chip>``, held-out rows
    only; last ``calibration`` (the validation.SETUPS calibration rows and the H100 / B200 MoE rows, reported, not
    counted) and ``calibration <source> <model> <chip>``."""
    groups: dict[str, list[dict]] = {"all": [], "dense": [], "MoE": []}
    for r in rows:
        if r["role"] != CAL:
            groups["all"].append(r)
            groups["MoE" if r["moe"] else "dense"].append(r)
    for r in rows:
        if r["role"] == CAL:
            continue
        src = r["source"]
        names = [src, f"{src} {'MoE' if r['moe'] else 'dense'}"]
        if not r["in_setups"]:
            names.append(f"{src} not in validation.SETUPS")
        names.append(f"{src} {r['model']} {r['chip']}")
        for name in names:
            groups.setdefault(name, []).append(r)
    # stable order: the fixed groups, then per source in row order (source totals before their parts)
    order = ["all", "dense", "MoE"]
    for r in rows:
        src = r["source"]
        for name in (src, f"{src} dense", f"{src} MoE", f"{src} not in validation.SETUPS"):
            if name in groups and name not in order:
                order.append(name)
    order += [n for n in groups if n not in order]
    groups["calibration"] = [r for r in rows if r["role"] == CAL]
    order.append("calibration")
    for r in groups["calibration"]:  # per source, model and chip, in row order
        name = f"calibration {r['source']} {r['model']} {r['chip']}"
        if name not in groups:
            groups[name] = []
            order.append(name)
        groups[name].append(r)
    return {name: _stats(groups[name]) for name in order if groups[name]}


def _stats(rs: list[dict]) -> dict:
    errs = [abs(r["error"]) for r in rs if not math.isnan(r["error"])]
    return {"n": len(errs), "median": statistics.median(errs) if errs else float("nan"),
            "worst": max(errs) if errs else float("nan"), "beyond": sum(e > BEYOND for e in errs),
            "not_computed": len(rs) - len(errs)}


def summary_line(name: str, st: dict) -> str:
    """One summary as printed: ``held-out <name>: median |error| X%, worst Y% (N rows, K beyond 30%)``
    (``calibration...: ...`` for the calibration groups; ``, M not computed`` appended where rows failed)."""
    head = name if name.startswith("calibration") else f"held-out {name}"
    tail = f", {st['not_computed']} not computed" if st["not_computed"] else ""
    return (f"{head}: median |error| {st['median']:.1%}, worst {st['worst']:.1%} ({st['n']} rows, "
            f"{st['beyond']} beyond 30%{tail})")


def print_rows(rs: list[dict]) -> None:
    """Print :func:`rows` as a Markdown table, then the summaries of :func:`summary` and the rows beyond 30 %."""
    print("| source | model | GPUs | ISL/OSL | role | requests | measured tok/s | predicted tok/s | error | batch "
          "| backend |")
    print("|---|---|---|---|---|---:|---:|---:|---:|---:|---|")
    for r in rs:
        role = r["role"] + (" (SETUPS)" if r["in_setups"] and r["role"] != CAL else "")
        head = (f"| {r['source']} | {r['table']} | {r['column']} | {r['prompt']}/{r['output']} | {role} | "
                f"{r['num_requests']} | {r['measured']:,.0f} |")
        if r["note"]:
            print(f"{head} - | - | - | {r['note']} |")
        else:
            print(f"{head} {r['predicted']:,.0f} | {r['error']:+.1%} | {r['batch']} | {r['backend']} |")
    print()
    for name, st in summary(rs).items():
        print(summary_line(name, st))
    for r in rs:
        if r["role"] != CAL and not math.isnan(r["error"]) and abs(r["error"]) > BEYOND:
            print(f"beyond 30%: {r['source']} {r['setup']}: {r['error']:+.1%}")
        elif r["note"]:
            print(f"not computed: {r['source']} {r['setup']}: {r['note']}")


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m inference.perf_overview", description="every row of TensorRT-LLM's perf-overview tables, predicted "
                                             "(held-out validation, docs/inference.md)")
    ap.add_argument("--source", default="all", choices=(*SOURCES, "all"),
                    help="which release of the document (default: both)")
    ap.add_argument("--stack", default=None, choices=STACKS, help="serving stack (default: trtllm)")
    ap.add_argument("--backend", default=None, choices=("auto", "measured", "analytic"),
                    help="kernel backend: auto (default), measured or analytic")
    ap.add_argument("--attention", default="dp", choices=("dp", "tp"),
                    help="MoE columns: attention data parallel + EP (dp, default, as the options say) or attention "
                         "tensor parallel + EP (tp, a sensitivity)")
    ap.add_argument("--host-per-seq", default=None, type=float, metavar="US",
                    help="host work per sequence per iteration on an x86 host, us (a sensitivity; default 0: off; "
                         "Grace hosts x2.75, inference.kernels.HOST_CPU)")
    ap.add_argument("--moe-per-seq", default=None, type=float, metavar="US",
                    help="per-sequence MoE cost per MoE layer per iteration, us (a sensitivity; default the stack "
                         "profile's calibrated value, 0 turns it off)")
    ap.add_argument("--fit-moe", action="store_true",
                    help="fit the per-sequence MoE cost of each family on its calibration rows (H100 / B200 MoE) "
                         "and print it, instead of the table")
    args = ap.parse_args(argv)
    knobs = {"backend": args.backend} if args.backend else {}
    for key, us in (("host_per_seq", args.host_per_seq), ("moe_per_seq", args.moe_per_seq)):
        if us is not None:
            if not 0 <= us < float("inf"):
                ap.error(f"--{key.replace('_', '-')}: must be a finite number of microseconds >= 0, got {us}")
            knobs[key] = us * 1e-6
    if args.fit_moe:
        for fam, chip in MOE_CALIBRATION.items():
            x, loss, med = fit_moe_per_seq(fam, **knobs)
            print(f"{fam}: moe_per_seq {x * 1e6:.2f} us (calibration rows: every {chip} MoE row; mean |log error| "
                  f"{loss:.4f}, median |error| {med:.1%})")
        return
    print_rows(rows(None if args.source == "all" else args.source, args.stack, args.attention, **knobs))


if __name__ == "__main__":
    main()
