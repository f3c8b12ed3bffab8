"""inference: model specs, per-kernel serving-stack model and roofline, parallelism plans, token latency, cost,
step model for serving."""

from .comm import clear_cache, collective_time
from .estimate import DEFAULTS, Deployment, chip_cost_parts, chip_cost_per_hour, load_prices
from .kernels import (
    DEFAULT_STACK,
    STACKS,
    StackProfile,
    decode_attention_time,
    elementwise_time,
    fmha_time,
    gemm_time,
    hot_rank_tokens,
    launched,
    moe_time,
    profile_for,
)
from .measured import Grid, KernelTables, table_path
from .measured import tables as measured_tables
from .models import MODELS, ModelSpec, load_model, model_from_dict
from .ops import Op, Shard, causal_pairs, distinct_experts, head_ops, layer_ops
from .report import Report, compare, compare_table, estimate, largest_batch, max_batch
from .speculative import Speculative, parse_speculative
from .step import StepModel

__all__ = [
    "DEFAULTS",
    "DEFAULT_STACK",
    "Grid",
    "KernelTables",
    "STACKS",
    "StackProfile",
    "decode_attention_time",
    "elementwise_time",
    "fmha_time",
    "gemm_time",
    "hot_rank_tokens",
    "launched",
    "load_prices",
    "measured_tables",
    "moe_time",
    "profile_for",
    "table_path",
    "Deployment",
    "MODELS",
    "ModelSpec",
    "Op",
    "Report",
    "Shard",
    "Speculative",
    "StepModel",
    "causal_pairs",
    "chip_cost_parts",
    "chip_cost_per_hour",
    "clear_cache",
    "collective_time",
    "compare",
    "compare_table",
    "distinct_experts",
    "estimate",
    "largest_batch",
    "head_ops",
    "layer_ops",
    "parse_speculative",
    "load_model",
    "max_batch",
    "model_from_dict",
]
