"""A model's architecture, read exactly from its ``config.json``.

Only the numbers that decide memory and speed are kept: layer count, widths,
attention layout (MHA/GQA/MQA, explicit ``head_dim``, MLA), MoE layout, which
layers use a sliding window, and the context length vLLM derives.  Nothing is
guessed from a parameter count; a config that lacks a needed key is an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Mapping

from wizard.errors import WizardError
from wizard.physics.lazy import fields_hash, lazy_property

# vLLM's _get_and_verify_max_len (vllm/config/model.py, 0.33.0) reads the first
# of these keys that is present, then applies RoPE scaling factors.
_MAX_LEN_KEYS = (
    "max_position_embeddings", "n_positions", "max_seq_len", "seq_length",
    "model_max_length", "max_sequence_length", "max_seq_length", "seq_len",
)
# RoPE types whose max_position_embeddings is already the scaled length (same file).
_PRESCALED_ROPE = {"su", "longrope", "llama3", "yarn", "deepseek_yarn", "deepseek_llama_scaling"}
# Qwen2-family models whose sliding window only applies when use_sliding_window is true.
_OPT_IN_SLIDING = {"qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "qwen2_vl", "qwen2_5_vl"}
# Architectures that are not decoder-only transformers with attention KV caches.
_UNSUPPORTED_HINTS = ("mamba", "ssm", "rwkv", "jamba", "nemotron_h", "whisper", "t5", "bart")
# Families whose MLP is not gated, or whose layers carry learned position
# embeddings and biased layer norms: their parameter count is not modelled.
_NON_GATED = {"opt", "gpt2", "gpt_neox", "gpt_bigcode", "gptj", "falcon", "phi", "bloom", "mpt", "starcoder2", "chatglm", "glm"}
# Families whose RoPE cos/sin cache vLLM keeps in float32 whatever the model dtype
# (vllm/model_executor/models/gpt_oss.py passes dtype=torch.float32 to get_rope).
_FP32_ROPE = {"gpt_oss"}
# Families whose accounting is checked against published parameter counts
# (tests/test_params.py); others get a note that a Llama-style layout is assumed.
VERIFIED_MODEL_TYPES = {
    "llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen3_moe", "deepseek_v2", "deepseek_v3", "gemma2", "gemma3",
    "gemma3_text", "phi3", "gpt_oss",
}


@dataclass(frozen=True)
class MlaDims:
    """Multi-head latent attention (DeepSeek V2/V3) widths."""

    q_lora_rank: int | None
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int


@dataclass(frozen=True)
class MoeDims:
    """Mixture-of-experts layout."""

    num_experts: int
    top_k: int
    expert_intermediate: int
    shared_intermediate: int  # all shared experts together; 0 when none
    shared_gate: bool  # Qwen2-MoE's sigmoid gate on the shared expert
    router_bias: bool
    expert_bias: bool  # gpt-oss experts carry biases
    score_bias: bool  # DeepSeek-V3 e_score_correction_bias
    dense_layers: frozenset[int]  # layers with a dense MLP instead of experts


@dataclass(frozen=True)
class Architecture:
    """The memory-relevant shape of a decoder-only transformer."""

    model_type: str
    architecture: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    intermediate_size: int
    tie_word_embeddings: bool
    torch_dtype: str
    qkv_bias: bool
    o_bias: bool
    mlp_bias: bool
    mlp_gated: bool
    qk_norm: bool
    norms_per_layer: int
    attention_sinks: bool
    mla: MlaDims | None
    moe: MoeDims | None
    layer_kinds: tuple[str, ...]  # "full" or "sliding", one per layer
    sliding_window: int | None
    mtp_layers: int
    max_model_len: int
    rope_dim: int
    rope_positions: int
    rope_bytes: int  # bytes per element of the cos/sin cache; 0 = the model dtype
    multimodal: bool
    # Not part of equality or the hash: architectures key caches of per-layer tensors.
    quantization_config: Mapping[str, Any] | None = field(default=None, compare=False)

    def __hash__(self) -> int:
        return self._hash

    @lazy_property
    def _hash(self) -> int:
        """The compared fields' hash, computed once: architectures key the per-layer caches every sweep
        candidate asks (hashing ~30 fields and a tuple per layer each time cost more than the lookups)."""
        return fields_hash(self)

    @property
    def attention(self) -> str:
        """MLA, MHA, MQA or GQA."""
        if self.mla:
            return "MLA"
        if self.num_kv_heads == self.num_heads:
            return "MHA"
        return "MQA" if self.num_kv_heads == 1 else "GQA"

    @property
    def kv_elements_per_token_layer(self) -> int:
        """Cached elements per token in one layer, before tensor parallelism."""
        if self.mla:
            return self.mla.kv_lora_rank + self.mla.qk_rope_head_dim
        return 2 * self.num_kv_heads * self.head_dim

    def kv_bytes_per_token(self, element_bytes: int) -> int:
        """KV-cache bytes one token takes in every layer, before tensor parallelism."""
        return self.num_layers * self.kv_elements_per_token_layer * element_bytes

    def is_moe_layer(self, layer: int) -> bool:
        return self.moe is not None and layer not in self.moe.dense_layers


@cache
def moe_layers_in(arch: Architecture, start: int, stop: int) -> tuple[int, ...]:
    """The MoE layers among layers start..stop-1 (kept: every candidate's memory plan and step model asks)."""
    return tuple(i for i in range(start, stop) if arch.is_moe_layer(i))


def _need(cfg: Mapping[str, Any], *keys: str) -> Any:
    """The first present key's value, or a WizardError naming what is missing."""
    for key in keys:
        if cfg.get(key) is not None:
            return cfg[key]
    raise WizardError(f"config.json has no {' / '.join(keys)}: cannot read the model's architecture")


def _text_config(config: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Merge a nested ``text_config`` (multimodal models) over the top level."""
    for key in ("text_config", "language_config", "llm_config"):
        nested = config.get(key)
        if isinstance(nested, Mapping):
            merged = {k: v for k, v in config.items() if k != key}
            merged.update(nested)
            return merged, True
    return dict(config), False


def _layer_kinds(cfg: Mapping[str, Any], model_type: str, num_layers: int) -> tuple[tuple[str, ...], int | None]:
    """Per-layer attention kind as vLLM 0.33 builds it, and the window size.

    Explicit ``layer_types`` win; Gemma 2/3 get their transformers-default
    patterns; Qwen2-style configs slide only with ``use_sliding_window``; any
    other config with a ``sliding_window`` slides on every layer, because vLLM
    then sets CacheConfig.sliding_window (vllm/engine/arg_utils.py).
    """
    window = cfg.get("sliding_window") or None
    layer_types = cfg.get("layer_types")
    if layer_types:
        if len(layer_types) < num_layers:
            raise WizardError(f"config.json layer_types lists {len(layer_types)} layers, expected {num_layers}")
        kinds = tuple("sliding" if t in ("sliding_attention", "chunked_attention") else "full" for t in layer_types[:num_layers])
    elif model_type == "gemma2":
        kinds = tuple("sliding" if i % 2 == 0 else "full" for i in range(num_layers))
    elif model_type in ("gemma3", "gemma3_text"):
        pattern = int(cfg.get("sliding_window_pattern") or 6)
        kinds = tuple("full" if (i + 1) % pattern == 0 else "sliding" for i in range(num_layers))
    elif model_type in _OPT_IN_SLIDING:
        if cfg.get("use_sliding_window") and window:
            first = int(cfg.get("max_window_layers") or 0)
            kinds = tuple("sliding" if i >= first else "full" for i in range(num_layers))
        else:
            kinds = ("full",) * num_layers
    else:
        kinds = ("sliding" if window else "full",) * num_layers
    if "sliding" in kinds and not window:
        raise WizardError("config.json marks sliding-window layers but gives no sliding_window size")
    return kinds, (int(window) if "sliding" in kinds else None)


def _max_model_len(cfg: Mapping[str, Any], model_type: str) -> int:
    """Longest context as vLLM derives it from the config (RoPE scaling included)."""
    lengths = [int(cfg[k]) for k in _MAX_LEN_KEYS if isinstance(cfg.get(k), (int, float))]
    derived = min(lengths) if lengths else 2048  # vLLM's fallback when no key exists
    rope = cfg.get("rope_scaling") or cfg.get("rope_parameters")
    if isinstance(rope, Mapping) and "gemma3" not in model_type:
        rope_type = rope.get("rope_type") or rope.get("type") or "default"
        factor = rope.get("factor")
        if rope_type not in _PRESCALED_ROPE and isinstance(factor, (int, float)):
            derived = int(derived * factor)
    return derived


def _moe(cfg: Mapping[str, Any], model_type: str, num_layers: int) -> MoeDims | None:
    experts = cfg.get("num_local_experts") or cfg.get("num_experts") or cfg.get("n_routed_experts")
    if not experts:
        return None
    top_k = int(_need(cfg, "num_experts_per_tok", "experts_per_token", "moe_topk"))
    expert_inter = int(cfg.get("moe_intermediate_size") or _need(cfg, "intermediate_size"))
    dense: set[int] = set()
    if cfg.get("first_k_dense_replace"):
        dense.update(range(int(cfg["first_k_dense_replace"])))
    freq = int(cfg.get("moe_layer_freq") or 1)
    if freq > 1:
        dense.update(i for i in range(num_layers) if i % freq != 0)
    step = int(cfg.get("decoder_sparse_step") or 1)
    if step > 1:
        dense.update(i for i in range(num_layers) if (i + 1) % step != 0)
    dense.update(int(i) for i in cfg.get("mlp_only_layers") or [])
    shared = 0
    if cfg.get("n_shared_experts"):
        shared = int(cfg["n_shared_experts"]) * expert_inter
    elif cfg.get("shared_expert_intermediate_size"):
        shared = int(cfg["shared_expert_intermediate_size"])
    return MoeDims(
        num_experts=int(experts),
        top_k=top_k,
        expert_intermediate=expert_inter,
        shared_intermediate=shared,
        shared_gate=model_type == "qwen2_moe" and shared > 0,
        router_bias=model_type == "gpt_oss",
        expert_bias=model_type == "gpt_oss",
        score_bias=cfg.get("topk_method") == "noaux_tc",
        dense_layers=frozenset(dense),
    )


def _identify(config: Mapping[str, Any], cfg: Mapping[str, Any]) -> tuple[str, str]:
    """(model_type, architecture name), refusing layouts whose memory the planner does not model."""
    model_type = str(cfg.get("model_type") or config.get("model_type") or "")
    architectures = config.get("architectures") or cfg.get("architectures") or [model_type or "unknown"]
    arch_name = str(architectures[0])
    lowered = (model_type + " " + arch_name).lower()
    if any(hint in lowered for hint in _UNSUPPORTED_HINTS) or cfg.get("is_encoder_decoder"):
        raise WizardError(
            f"{arch_name} ({model_type}) is not a decoder-only attention model; the planner "
            "does not model its memory (state-space, encoder-decoder or recurrent layers)"
        )
    if model_type in _NON_GATED:
        raise WizardError(
            f"{arch_name} ({model_type}) uses a layer layout (non-gated MLP, learned positions or biased norms) "
            "that the planner does not model; its memory would be wrong"
        )
    return model_type, arch_name


def _kv_heads(cfg: Mapping[str, Any], heads: int) -> int:
    """KV heads: the config's count (GQA), else one per attention head; 1 for multi-query attention."""
    kv_heads = int(cfg.get("num_key_value_heads") or cfg.get("num_kv_heads") or heads)
    return 1 if cfg.get("multi_query") else kv_heads


def _mla(cfg: Mapping[str, Any]) -> MlaDims | None:
    """The latent-attention widths when the config has a ``kv_lora_rank``, else None."""
    if not cfg.get("kv_lora_rank"):
        return None
    return MlaDims(
        q_lora_rank=int(cfg["q_lora_rank"]) if cfg.get("q_lora_rank") else None,
        kv_lora_rank=int(cfg["kv_lora_rank"]),
        qk_nope_head_dim=int(_need(cfg, "qk_nope_head_dim")),
        qk_rope_head_dim=int(_need(cfg, "qk_rope_head_dim")),
        v_head_dim=int(_need(cfg, "v_head_dim")),
    )


def _rope_positions(cfg: Mapping[str, Any]) -> int:
    """Positions of the RoPE cos/sin cache: max_position_embeddings, or YaRN's original length x factor."""
    rope = cfg.get("rope_scaling") or {}
    positions = int(cfg.get("max_position_embeddings") or 2048)
    if isinstance(rope, Mapping) and (rope.get("rope_type") or rope.get("type")) in ("yarn", "deepseek_yarn"):
        original = rope.get("original_max_position_embeddings")
        if original and rope.get("factor"):
            positions = int(original * rope["factor"])
    return positions


def parse_config(config: Mapping[str, Any]) -> Architecture:
    """Read an :class:`Architecture` from a ``config.json`` dictionary."""
    if not isinstance(config, Mapping):
        raise WizardError("config.json is not a JSON object")
    cfg, multimodal = _text_config(config)
    model_type, arch_name = _identify(config, cfg)
    hidden = int(_need(cfg, "hidden_size", "n_embd", "d_model"))
    layers = int(_need(cfg, "num_hidden_layers", "n_layer", "num_layers"))
    heads = int(_need(cfg, "num_attention_heads", "n_head"))
    kv_heads = _kv_heads(cfg, heads)
    head_dim = int(cfg.get("head_dim") or hidden // heads)
    vocab = int(_need(cfg, "vocab_size"))
    mla = _mla(cfg)
    moe = _moe(cfg, model_type, layers)
    intermediate = int(cfg.get("intermediate_size") or cfg.get("n_inner") or 4 * hidden)
    kinds, window = _layer_kinds(cfg, model_type, layers)
    dtype = str(cfg.get("torch_dtype") or cfg.get("dtype") or config.get("torch_dtype") or "bfloat16")
    rope_dim = mla.qk_rope_head_dim if mla else int(head_dim * float(cfg.get("partial_rotary_factor") or 1.0))
    rope_positions = _rope_positions(cfg)
    return Architecture(
        model_type=model_type,
        architecture=arch_name,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=vocab,
        intermediate_size=intermediate,
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", config.get("tie_word_embeddings", True))),
        torch_dtype=dtype.replace("torch.", ""),
        qkv_bias=bool(cfg.get("attention_bias") or cfg.get("qkv_bias") or model_type in ("qwen2", "qwen2_moe", "qwen2_vl", "qwen2_5_vl")),
        o_bias=bool(cfg.get("attention_bias")),
        mlp_bias=bool(cfg.get("mlp_bias")),
        mlp_gated=True,
        qk_norm=model_type in ("qwen3", "qwen3_moe", "gemma3", "gemma3_text", "olmo2"),
        norms_per_layer=4 if model_type in ("gemma2", "gemma3", "gemma3_text") else 2,
        attention_sinks=model_type == "gpt_oss",
        mla=mla,
        moe=moe,
        layer_kinds=kinds,
        sliding_window=window,
        mtp_layers=int(cfg.get("num_nextn_predict_layers") or 0),
        max_model_len=_max_model_len(cfg, model_type),
        rope_dim=rope_dim,
        rope_positions=rope_positions,
        rope_bytes=4 if model_type in _FP32_ROPE else 0,
        multimodal=multimodal,
        quantization_config=config.get("quantization_config") or cfg.get("quantization_config"),
    )


def kv_heads_per_rank(arch: Architecture, tp: int) -> int:
    """KV heads one GPU stores: split by TP, replicated once TP exceeds them."""
    if arch.mla:
        return 1
    return max(1, math.ceil(arch.num_kv_heads / tp))
