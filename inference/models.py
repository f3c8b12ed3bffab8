"""Transformer model specs (:class:`ModelSpec`), presets from public configs, YAML loading.

A :class:`ModelSpec` carries exactly what the roofline needs: layer count, widths, attention layout
(GQA or DeepSeek's multi-head latent attention, MLA), MLP or mixture-of-experts layout, vocabulary.
Parameter counts follow from it (:meth:`ModelSpec.param_count`) and are checked in the tests against
the totals the model authors publish.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from topo import SpecError

#: bytes per weight of an MXFP4 tensor: a 4-bit E2M1 value plus one 8-bit E8M0 scale shared by a block of 32,
#: ``(4 + 8 / 32) / 8`` = 0.53125 (source: OCP Microscaling Formats (MX) Specification v1.0, 2023: MXFP4 =
#: block size 32, E8M0 scale, E2M1 elements; the gpt-oss checkpoint stores ``*_blocks`` (two values per byte)
#: and ``*_scales`` (one byte per 32 values))
MXFP4_BYTES = (4.0 + 8.0 / 32.0) / 8.0


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer.

    Attributes:
        name: preset or user name.
        layers: decoder layers.
        hidden: model width (d_model).
        heads: query heads.
        kv_heads: key/value heads (GQA); equal to ``heads`` for MHA. Ignored for MLA.
        head_dim: width of one head (q/k/v) for GQA attention.
        ffn: intermediate width of a dense (gated, SwiGLU) MLP.
        vocab: vocabulary size.
        experts: routed experts per MoE layer (0: dense model).
        top_k: routed experts per token.
        shared_experts: always-active experts per MoE layer (DeepSeek: 1).
        moe_ffn: intermediate width of one expert.
        dense_layers: leading layers with a dense MLP before the MoE layers start (DeepSeek-V3: 3).
        q_lora_rank, kv_lora_rank, qk_nope_dim, qk_rope_dim, v_head_dim: MLA dimensions (DeepSeek);
            ``kv_lora_rank > 0`` switches attention to MLA.
        sliding_window: attention window of the sliding-window layers, tokens (0: none).
        sliding_layers: how many layers use the sliding window (the others attend to everything).
        tied_embeddings: whether the LM head shares the embedding matrix.
        attn_bias: q/k/v/o projections carry biases (GPT-OSS).
        moe_bias: experts carry biases (GPT-OSS).
        fp8_block: side of the weight-scale blocks of the model's published FP8 checkpoint (DeepSeek-V3 / R1:
            128, ``quantization_config.weight_block_size [128, 128]``); 0 = per-tensor scales. With ``dtype="fp8"``
            the measured backend reads the block-scaled FP8 GEMM / MoE kernels (``fp8_block``) the serving
            stacks run for such a checkpoint (ignored by the analytic model: same bytes and peak).
        expert_dtype: format of the expert weight matrices (routed and shared; their biases stay at the model
            width) in the model's published checkpoint when only the experts
            are quantised: ``"mxfp4"`` (GPT-OSS: ``quantization_config.quant_method mxfp4``, OCP MX FP4 E2M1 values
            in blocks of 32 sharing one E8M0 scale, 4.25 bits per weight, with ``modules_to_not_convert`` = attention,
            router, embeddings and LM head, which stay BF16); ``""``: none. A deployment at ``dtype`` fp8 or fp4
            serves that checkpoint as published (see :class:`inference.estimate.Deployment`); bf16 / int8
            deployments keep their uniform width.
        context: longest sequence (prompt + output tokens) the model serves: config.json's
            ``max_position_embeddings``; 0 = not checked.
        source: where the figures come from.
    """

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    experts: int = 0
    top_k: int = 0
    shared_experts: int = 0
    moe_ffn: int = 0
    dense_layers: int = 0
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_nope_dim: int = 0
    qk_rope_dim: int = 0
    v_head_dim: int = 0
    sliding_window: int = 0
    sliding_layers: int = 0
    tied_embeddings: bool = False
    attn_bias: bool = False
    moe_bias: bool = False
    fp8_block: int = 0
    expert_dtype: str = ""
    context: int = 0
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"ModelSpec.name: expected a non-empty name, got {self.name!r}")
        for f in ("tied_embeddings", "attn_bias", "moe_bias"):  # a quoted 'false' is a truthy string
            v = getattr(self, f)
            if type(v).__name__ not in ("bool", "bool_"):
                raise SpecError(f"ModelSpec.{f}: expected true or false, got {v!r}")
        for f in ("layers", "hidden", "heads", "head_dim", "vocab"):
            v = getattr(self, f)
            if not isinstance(v, int) or v <= 0:
                raise SpecError(f"ModelSpec.{f}: must be a positive integer, got {v!r}")
        for f in ("kv_heads", "ffn", "experts", "top_k", "shared_experts", "moe_ffn", "dense_layers",
                  "q_lora_rank", "kv_lora_rank", "qk_nope_dim", "qk_rope_dim", "v_head_dim",
                  "sliding_window", "sliding_layers", "fp8_block", "context"):
            v = getattr(self, f)
            if not isinstance(v, int) or v < 0:
                raise SpecError(f"ModelSpec.{f}: must be an integer >= 0, got {v!r}")
        if not self.is_mla:
            if self.kv_heads <= 0 or self.heads % self.kv_heads:
                raise SpecError(f"ModelSpec.kv_heads: must divide heads={self.heads}, got {self.kv_heads}")
        else:
            if min(self.qk_nope_dim, self.qk_rope_dim, self.v_head_dim) <= 0:
                raise SpecError("ModelSpec: MLA (kv_lora_rank > 0) needs qk_nope_dim, qk_rope_dim, v_head_dim > 0")
        if self.experts:
            if not 0 < self.top_k <= self.experts:
                raise SpecError(f"ModelSpec.top_k: must be in 1..experts={self.experts}, got {self.top_k}")
            if self.moe_ffn <= 0:
                raise SpecError("ModelSpec.moe_ffn: must be > 0 for a mixture-of-experts model")
            if self.dense_layers > self.layers:
                raise SpecError(f"ModelSpec.dense_layers: must be <= layers={self.layers}")
        else:
            stray = [f"{f}={getattr(self, f)}" for f in ("top_k", "moe_ffn", "shared_experts") if getattr(self, f)]
            if stray:  # they were dropped without a word: a dense model ran
                raise SpecError(f"ModelSpec.experts: 0 (a dense model) but {', '.join(stray)}; give experts (the routed "
                                "experts per MoE layer) or drop the MoE fields")
            if self.ffn <= 0:
                raise SpecError("ModelSpec.ffn: must be > 0 for a dense model")
        if self.dense_layers and self.ffn <= 0:
            raise SpecError("ModelSpec.ffn: dense_layers > 0 needs the dense MLP width ffn > 0")
        if self.expert_dtype not in ("", "mxfp4"):
            raise SpecError(f"ModelSpec.expert_dtype: must be '' or 'mxfp4', got {self.expert_dtype!r}")
        if self.expert_dtype and not self.experts:
            raise SpecError(f"ModelSpec.expert_dtype: {self.expert_dtype!r} needs a mixture-of-experts model "
                            f"(experts > 0, got {self.experts}); drop expert_dtype for a dense model")
        if self.sliding_layers > self.layers:
            raise SpecError(f"ModelSpec.sliding_layers: must be <= layers={self.layers}")
        if self.sliding_layers and not self.sliding_window:
            raise SpecError("ModelSpec.sliding_window: sliding_layers > 0 needs a window > 0")

    # ------------------------------------------------------------------ derived shapes
    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def moe_layers(self) -> int:
        """Layers with a mixture-of-experts MLP."""
        return self.layers - self.dense_layers if self.is_moe else 0

    @property
    def mlp_dense_layers(self) -> int:
        """Layers with a dense MLP."""
        return self.dense_layers if self.is_moe else self.layers

    @property
    def q_dim(self) -> int:
        """Total query width (heads x per-head query width)."""
        if self.is_mla:
            return self.heads * (self.qk_nope_dim + self.qk_rope_dim)
        return self.heads * self.head_dim

    @property
    def attn_out_dim(self) -> int:
        """Width entering the output projection (heads x value width)."""
        return self.heads * (self.v_head_dim if self.is_mla else self.head_dim)

    @property
    def kv_elems_per_token_layer(self) -> int:
        """KV-cache elements one token stores in one layer (all heads; MLA: the compressed latent + rope key)."""
        if self.is_mla:
            return self.kv_lora_rank + self.qk_rope_dim
        return 2 * self.kv_heads * self.head_dim

    # ------------------------------------------------------------------ parameter counts
    def attention_params(self) -> int:
        """Parameters of one attention block (projections, their biases and the attention-side norms)."""
        h = self.hidden
        if self.is_mla:
            p = 0
            if self.q_lora_rank:
                p += h * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * self.q_dim
            else:
                p += h * self.q_dim
            p += h * (self.kv_lora_rank + self.qk_rope_dim) + self.kv_lora_rank
            p += self.kv_lora_rank * self.heads * (self.qk_nope_dim + self.v_head_dim)
            p += self.attn_out_dim * h
            return p
        qkv = h * (self.heads + 2 * self.kv_heads) * self.head_dim
        o = self.attn_out_dim * h
        bias = (self.heads + 2 * self.kv_heads) * self.head_dim + h if self.attn_bias else 0
        return qkv + o + bias

    def dense_mlp_params(self) -> int:
        return 3 * self.hidden * self.ffn

    def expert_params(self) -> int:
        """Parameters of one expert (gated MLP of width moe_ffn)."""
        p = 3 * self.hidden * self.moe_ffn
        if self.moe_bias:
            p += 2 * self.moe_ffn + self.hidden
        return p

    def moe_params(self) -> int:
        """Parameters of one MoE block: routed + shared experts + router."""
        return (self.experts + self.shared_experts) * self.expert_params() + self.hidden * self.experts + (
            self.experts if self.moe_bias else 0)

    def param_count(self) -> int:
        """Total parameters (embeddings and LM head included, tied ones once)."""
        per_norm = self.hidden
        total = self.layers * (self.attention_params() + 2 * per_norm)
        total += self.mlp_dense_layers * self.dense_mlp_params() + self.moe_layers * self.moe_params()
        total += self.vocab * self.hidden * (1 if self.tied_embeddings else 2) + per_norm
        return total

    def active_param_count(self) -> int:
        """Parameters touched per token (routed experts: top_k of them)."""
        total = self.param_count()
        if self.is_moe:
            total -= self.moe_layers * (self.experts - self.top_k) * self.expert_params()
        return total

    def kv_bytes_per_token(self, kv_bytes: float = 2.0) -> float:
        """KV-cache bytes one token stores across all layers (sliding-window layers included), bytes."""
        return self.layers * self.kv_elems_per_token_layer * kv_bytes

    def replace(self, **changes: object) -> ModelSpec:
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------------- presets (public configs)
MODELS: dict[str, ModelSpec] = {
    # https://huggingface.co/meta-llama/Llama-3.1-8B/blob/main/config.json ; 8.03 B parameters
    "llama3.1-8b": ModelSpec(
        "llama3.1-8b", layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128, ffn=14336, vocab=128256,
        context=131072, source="meta-llama/Llama-3.1-8B config.json"),
    # https://huggingface.co/meta-llama/Llama-3.1-70B/blob/main/config.json ; 70.6 B
    "llama3.1-70b": ModelSpec(
        "llama3.1-70b", layers=80, hidden=8192, heads=64, kv_heads=8, head_dim=128, ffn=28672, vocab=128256,
        context=131072, source="meta-llama/Llama-3.1-70B config.json"),
    # https://huggingface.co/meta-llama/Llama-3.1-405B/blob/main/config.json ; 405.9 B
    "llama3.1-405b": ModelSpec(
        "llama3.1-405b", layers=126, hidden=16384, heads=128, kv_heads=8, head_dim=128, ffn=53248,
        vocab=128256, context=131072, source="meta-llama/Llama-3.1-405B config.json"),
    # https://huggingface.co/meta-llama/Llama-2-70b-hf/blob/main/config.json ; 69 B (MLPerf Inference model)
    "llama2-70b": ModelSpec(
        "llama2-70b", layers=80, hidden=8192, heads=64, kv_heads=8, head_dim=128, ffn=28672, vocab=32000,
        context=4096, source="meta-llama/Llama-2-70b-hf config.json"),
    # https://huggingface.co/mistralai/Mixtral-8x7B-v0.1/blob/main/config.json ; 46.7 B total, 12.9 B active
    "mixtral-8x7b": ModelSpec(
        "mixtral-8x7b", layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128, ffn=14336, vocab=32000,
        experts=8, top_k=2, moe_ffn=14336, context=32768, source="mistralai/Mixtral-8x7B-v0.1 config.json"),
    # https://huggingface.co/Qwen/Qwen3-32B/blob/main/config.json ; 32.8 B (model card); dense, untied LM head
    # (tie_word_embeddings false), q/k RMS norms omitted as for the MoE Qwen3 models below
    "qwen3-32b": ModelSpec(
        "qwen3-32b", layers=64, hidden=5120, heads=64, kv_heads=8, head_dim=128, ffn=25600, vocab=151936,
        context=40960, source="Qwen/Qwen3-32B config.json"),
    # https://huggingface.co/Qwen/Qwen3-235B-A22B/blob/main/config.json ; 235 B total, 22 B active
    # (q/k RMS norms of width head_dim are omitted: 256 parameters per layer)
    "qwen3-235b-a22b": ModelSpec(
        "qwen3-235b-a22b", layers=94, hidden=4096, heads=64, kv_heads=4, head_dim=128, ffn=12288,
        vocab=151936, experts=128, top_k=8, moe_ffn=1536, context=40960, source="Qwen/Qwen3-235B-A22B config.json"),
    # https://huggingface.co/Qwen/Qwen3-30B-A3B/blob/main/config.json ; 30.5 B total, 3.3 B active (model card);
    # every layer MoE (decoder_sparse_step 1, mlp_only_layers []); q/k RMS norms omitted as for the 235B
    "qwen3-30b-a3b": ModelSpec(
        "qwen3-30b-a3b", layers=48, hidden=2048, heads=32, kv_heads=4, head_dim=128, ffn=6144,
        vocab=151936, experts=128, top_k=8, moe_ffn=768, context=40960, source="Qwen/Qwen3-30B-A3B config.json"),
    # https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json ; 671 B main model (685 B with
    # the multi-token-prediction module, not modelled), 37 B active
    "deepseek-v3": ModelSpec(
        "deepseek-v3", layers=61, hidden=7168, heads=128, kv_heads=128, head_dim=128, ffn=18432,
        vocab=129280, experts=256, top_k=8, shared_experts=1, moe_ffn=2048, dense_layers=3,
        q_lora_rank=1536, kv_lora_rank=512, qk_nope_dim=128, qk_rope_dim=64, v_head_dim=128,
        fp8_block=128,  # config.json quantization_config: fp8 e4m3, weight_block_size [128, 128] (V3 and R1)
        context=163840, source="deepseek-ai/DeepSeek-V3 config.json"),
    # https://huggingface.co/openai/gpt-oss-120b/blob/main/config.json ; 116.8 B total, 5.1 B active
    # (model card). Alternating sliding-window (128 tokens) and full attention layers; attention sinks
    # (64 scalars per layer) omitted. Published checkpoint: MXFP4 experts, everything else BF16
    # (config.json quantization_config: quant_method mxfp4, modules_to_not_convert self_attn / router /
    # embed_tokens / lm_head; TensorRT-LLM examples/models/core/gpt_oss/README.md: "MoE weights quantized with
    # mxfp4. All the other weights are in bf16")
    "gpt-oss-120b": ModelSpec(
        "gpt-oss-120b", layers=36, hidden=2880, heads=64, kv_heads=8, head_dim=64, ffn=2880, vocab=201088,
        experts=128, top_k=4, moe_ffn=2880, sliding_window=128, sliding_layers=18, attn_bias=True,
        moe_bias=True, expert_dtype="mxfp4", context=131072, source="openai/gpt-oss-120b config.json"),
    # https://huggingface.co/openai/gpt-oss-20b/blob/main/config.json ; 20.9 B total, 3.6 B active (model card);
    # the 120B's layout at 24 layers (12 sliding-window) and 32 experts, the same published checkpoint format
    "gpt-oss-20b": ModelSpec(
        "gpt-oss-20b", layers=24, hidden=2880, heads=64, kv_heads=8, head_dim=64, ffn=2880, vocab=201088,
        experts=32, top_k=4, moe_ffn=2880, sliding_window=128, sliding_layers=12, attn_bias=True,
        moe_bias=True, expert_dtype="mxfp4", context=131072, source="openai/gpt-oss-20b config.json"),
}

#: names of released models whose architecture is a preset's, checkpoint for checkpoint (config.json layouts equal):
#: ``load_model`` reads them as that preset (the report names the preset). DeepSeek-R1 / R1-0528: the DeepSeek-V3
#: config (deepseek-ai/DeepSeek-R1 config.json, "architectures": ["DeepseekV3ForCausalLM"], same sizes);
#: Llama 3.3 70B: Llama 3.1 70B's (meta-llama/Llama-3.3-70B-Instruct config.json, same sizes and vocabulary)
ALIASES: dict[str, str] = {"deepseek-r1": "deepseek-v3", "deepseek-r1-0528": "deepseek-v3",
                           "llama3.3-70b": "llama3.1-70b"}

_FIELDS = {f.name for f in dataclasses.fields(ModelSpec)}
#: Hugging Face config.json names -> ModelSpec fields (hints for a key copied from a checkpoint's config)
HF_KEYS = {"num_hidden_layers": "layers", "hidden_size": "hidden", "num_attention_heads": "heads",
           "num_key_value_heads": "kv_heads", "intermediate_size": "ffn", "vocab_size": "vocab",
           "num_local_experts": "experts", "num_experts": "experts", "n_routed_experts": "experts",
           "num_experts_per_tok": "top_k", "moe_intermediate_size": "moe_ffn", "n_shared_experts": "shared_experts",
           "first_k_dense_replace": "dense_layers", "tie_word_embeddings": "tied_embeddings",
           "attention_bias": "attn_bias", "max_position_embeddings": "context"}


def _unknown_key_hint(k: str) -> str:
    """What an unknown model key probably meant: the field of a Hugging Face config.json name, or a close
    spelling."""
    import difflib

    if k in HF_KEYS:
        return f" (Hugging Face config.json's name; scaleup's is {HF_KEYS[k]!r})"
    close = difflib.get_close_matches(k, sorted(_FIELDS), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _from_hf(cfg: dict) -> str:
    """The scaleup fields a Hugging Face config.json's keys translate to (:data:`HF_KEYS`; ``head_dim`` = hidden /
    heads where the config has none), as ``key: value`` text for an error message."""
    out = {}
    for k, v in cfg.items():
        if k in HF_KEYS and HF_KEYS[k] not in out and v is not None:
            out[HF_KEYS[k]] = v
    if "head_dim" in cfg and cfg["head_dim"]:
        out["head_dim"] = cfg["head_dim"]
    elif isinstance(out.get("hidden"), int) and isinstance(out.get("heads"), int) and out["heads"] > 0:
        out["head_dim"] = out["hidden"] // out["heads"]
    order = [f.name for f in dataclasses.fields(ModelSpec)]
    return ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}"
                     for k, v in sorted(out.items(), key=lambda kv: order.index(kv[0])))


def model_from_dict(d: dict, name: str = "custom") -> ModelSpec:
    """Build a :class:`ModelSpec` from a mapping (YAML); unknown keys raise :class:`SpecError`.

    A ``base: <preset>`` key starts from a preset and overrides the keys given.
    """
    if not isinstance(d, dict):
        raise SpecError(f"model spec: expected a mapping of fields, got {type(d).__name__}")
    d = dict(d)
    base = d.pop("base", None)
    if "architectures" in d or "model_type" in d:  # a checkpoint's config.json given as it is
        raise SpecError(f"model spec: this is a Hugging Face config.json ({d.get('model_type', '?')}), not a scaleup "
                        f"model YAML; its keys read as {{{_from_hf(d)}}} (check the MoE, MLA and sliding-window "
                        "fields against docs/inference.md, Models)")
    for k in d:
        if k not in _FIELDS:
            raise SpecError(f"model spec: unknown key {k!r}{_unknown_key_hint(str(k))}; known keys: "
                            f"{', '.join(sorted(_FIELDS))}")
    if base is not None:
        return load_model(str(base)).replace(**d)
    d.setdefault("name", name)
    required = ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab")
    missing = [k for k in required if k not in d]
    if missing:
        hint = ""
        if missing == ["head_dim"] and isinstance(d.get("hidden"), int) and isinstance(d.get("heads"), int) \
                and d["heads"] > 0 and d["hidden"] % d["heads"] == 0:  # HF configs without head_dim mean this
            hint = (f"; a Hugging Face config without head_dim means hidden / heads: add head_dim: "
                    f"{d['hidden'] // d['heads']}")
        raise SpecError(f"model spec {d['name']!r}: missing keys {', '.join(missing)}{hint}")
    return ModelSpec(**d)


def load_model(name_or_path: str | ModelSpec) -> ModelSpec:
    """A preset by name (see :data:`MODELS`; :data:`ALIASES` name released models of a preset's architecture), or a
    YAML file path describing a :class:`ModelSpec`."""
    if isinstance(name_or_path, ModelSpec):
        return name_or_path
    key = str(name_or_path)
    if key in MODELS:
        return MODELS[key]
    if key.lower() in MODELS:
        return MODELS[key.lower()]
    if key.lower() in ALIASES:
        return MODELS[ALIASES[key.lower()]]
    if os.path.isfile(key):
        import yaml

        from topo.loader import read_text_utf8

        try:
            data = yaml.safe_load(read_text_utf8(key, "model file"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise SpecError(f"model: {key}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
        if isinstance(data, dict) and "model" in data and isinstance(data["model"], dict):
            data = data["model"]
        stem = os.path.splitext(os.path.basename(key))[0]
        if isinstance(data, dict):  # reports name the file the spec came from (provenance ``inputs``)
            data = {**data, "source": f"file {key}" + (f" ({data['source']})" if data.get("source") else "")}
        return model_from_dict(data, name=stem)
    raise SpecError(f"model: unknown preset or file {key!r}; presets: {', '.join(MODELS)} (also "
                    f"{', '.join(f'{a} = {p}' for a, p in ALIASES.items())})")
