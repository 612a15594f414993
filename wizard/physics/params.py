"""The weight tensors of a model, shaped as one GPU holds them.

vLLM splits column-parallel layers (q/k/v, gate/up) by output and row-parallel
layers (o, down) by input over the tensor-parallel ranks, pads the vocabulary
to a multiple of 64 before splitting it, replicates KV heads once TP exceeds
them, and keeps norms, routers and MLA's low-rank down-projections whole on
every rank.  Experts are split over TP x DP ranks (vLLM's MoE group): sliced
like the dense MLP by default, or, with expert parallelism, E / (TP x DP) whole
experts per rank.  Listing tensors with their per-rank shapes lets quantization
formats (group scales, block scales, MXFP4 padding) be applied exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from wizard.physics.arch import Architecture, kv_heads_per_rank

VOCAB_PADDING = 64  # vllm/model_executor/layers/vocab_parallel_embedding.py DEFAULT_VOCAB_PADDING_SIZE


@dataclass(frozen=True)
class Tensor:
    """``count`` identical weight matrices of ``rows`` x ``cols`` on one GPU."""

    module: str  # HF-style module path inside a layer ("self_attn.q_proj") or at the top
    kind: str  # linear | expert | expert_bias | router | embedding | lm_head | norm | bias | runtime
    rows: int
    cols: int = 1
    count: int = 1

    @property
    def params(self) -> int:
        return self.rows * self.cols * self.count


def _stored(tensors: tuple[Tensor, ...]) -> int:
    """Parameters a checkpoint stores (runtime-only copies excluded)."""
    return sum(t.params for t in tensors if t.kind != "runtime")


def _split(value: int, tp: int) -> int:
    return math.ceil(value / tp)


def _attention(arch: Architecture, tp: int) -> list[Tensor]:
    h = arch.hidden_size
    heads = _split(arch.num_heads, tp)
    out: list[Tensor] = []
    if arch.mla:
        m = arch.mla
        qk = m.qk_nope_head_dim + m.qk_rope_head_dim
        if m.q_lora_rank:
            out += [
                Tensor("self_attn.q_a_proj", "linear", m.q_lora_rank, h),
                Tensor("self_attn.q_a_layernorm", "norm", m.q_lora_rank),
                Tensor("self_attn.q_b_proj", "linear", heads * qk, m.q_lora_rank),
            ]
        else:
            out.append(Tensor("self_attn.q_proj", "linear", heads * qk, h))
        out += [
            Tensor("self_attn.kv_a_proj_with_mqa", "linear", m.kv_lora_rank + m.qk_rope_head_dim, h),
            Tensor("self_attn.kv_a_layernorm", "norm", m.kv_lora_rank),
            Tensor("self_attn.kv_b_proj", "linear", heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank),
            Tensor("self_attn.o_proj", "linear", h, heads * m.v_head_dim),
            # vLLM's MLA backends keep a dequantized copy of kv_b_proj split into
            # W_UK / W_UV for weight absorption (MLACommonImpl.process_weights_after_loading).
            Tensor("self_attn.kv_b_proj.absorbed", "runtime", heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank),
        ]
        return out
    kv = kv_heads_per_rank(arch, tp)
    d = arch.head_dim
    out += [
        Tensor("self_attn.q_proj", "linear", heads * d, h),
        Tensor("self_attn.k_proj", "linear", kv * d, h),
        Tensor("self_attn.v_proj", "linear", kv * d, h),
        Tensor("self_attn.o_proj", "linear", h, heads * d),
    ]
    if arch.qkv_bias:
        out.append(Tensor("self_attn.qkv_proj.bias", "bias", (heads + 2 * kv) * d))
    if arch.o_bias:
        out.append(Tensor("self_attn.o_proj.bias", "bias", h))
    if arch.qk_norm:
        out.append(Tensor("self_attn.qk_norm", "norm", 2 * d))
    if arch.attention_sinks:
        out.append(Tensor("self_attn.sinks", "bias", heads))
    return out


def _dense_mlp(arch: Architecture, tp: int, intermediate: int, prefix: str = "mlp") -> list[Tensor]:
    h = arch.hidden_size
    inter = _split(intermediate, tp)
    out = [
        Tensor(f"{prefix}.gate_proj", "linear", inter, h),
        Tensor(f"{prefix}.up_proj", "linear", inter, h),
        Tensor(f"{prefix}.down_proj", "linear", h, inter),
    ]
    if arch.mlp_bias:
        out.append(Tensor(f"{prefix}.bias", "bias", 2 * inter + h))
    return out


def _moe_mlp(arch: Architecture, tp: int, ranks: int, whole: bool) -> list[Tensor]:
    moe = arch.moe
    assert moe is not None
    h = arch.hidden_size
    # vllm/model_executor/layers/fused_moe/layer.py: the MoE group is TP x DP ranks; with expert
    # parallelism a rank owns num_experts / group whole experts, else a 1/group slice of every expert.
    inter = moe.expert_intermediate if whole else _split(moe.expert_intermediate, ranks)
    e = _split(moe.num_experts, ranks) if whole else moe.num_experts
    out = [
        Tensor("mlp.router", "router", moe.num_experts, h),
        Tensor("mlp.experts.gate_up_proj", "expert", 2 * inter, h, e),
        Tensor("mlp.experts.down_proj", "expert", h, inter, e),
    ]
    if moe.router_bias:
        out.append(Tensor("mlp.router.bias", "bias", moe.num_experts))
    if moe.score_bias:
        out.append(Tensor("mlp.gate.e_score_correction_bias", "bias", moe.num_experts))
    if moe.expert_bias:
        out += [
            Tensor("mlp.experts.gate_up_proj.bias", "expert_bias", 2 * inter, 1, e),
            Tensor("mlp.experts.down_proj.bias", "expert_bias", h, 1, e),
        ]
    if moe.shared_intermediate:
        out += _dense_mlp(arch, tp, moe.shared_intermediate, prefix="mlp.shared_experts")
    if moe.shared_gate:
        out.append(Tensor("mlp.shared_expert_gate", "router", 1, h))
    return out


def layer_tensors(arch: Architecture, layer: int, tp: int = 1, moe_ranks: int | None = None,
                  whole_experts: bool = False) -> tuple[Tensor, ...]:
    """Weights of decoder layer ``layer`` as one of ``tp`` ranks holds them (experts over ``moe_ranks``, default tp)."""
    return kind_tensors(arch, arch.is_moe_layer(layer), tp, moe_ranks, whole_experts)


@cache
def kind_tensors(arch: Architecture, moe: bool, tp: int, moe_ranks: int | None = None,
                 whole_experts: bool = False) -> tuple[Tensor, ...]:
    """Every dense (or every MoE) layer holds the same tensors: built once per architecture and split."""
    mlp = _moe_mlp(arch, tp, moe_ranks or tp, whole_experts) if moe else _dense_mlp(arch, tp, arch.intermediate_size)
    norms = Tensor("layernorms", "norm", arch.norms_per_layer * arch.hidden_size)
    return tuple(_attention(arch, tp) + mlp + [norms])


def padded_vocab(arch: Architecture) -> int:
    return math.ceil(arch.vocab_size / VOCAB_PADDING) * VOCAB_PADDING


def embedding_tensors(arch: Architecture, tp: int = 1, padded: bool = True) -> tuple[Tensor, Tensor | None]:
    """Input embedding and (unless tied) LM head, vocabulary-split over TP."""
    vocab = _split(padded_vocab(arch) if padded else arch.vocab_size, tp)
    embed = Tensor("embed_tokens", "embedding", vocab, arch.hidden_size)
    head = None if arch.tie_word_embeddings else Tensor("lm_head", "lm_head", vocab, arch.hidden_size)
    return embed, head


def final_norm(arch: Architecture) -> Tensor:
    return Tensor("norm", "norm", arch.hidden_size)


@cache
def mtp_params(arch: Architecture) -> int:
    """Parameters of multi-token-prediction layers as checkpoints store them.

    DeepSeek-V3 stores each MTP module as a full decoder layer plus two norms,
    a 2H x H projection, a head norm and its own copies of the embedding and
    LM head (README_WEIGHTS.md).  vLLM loads them only for speculative decoding.
    """
    if not arch.mtp_layers:
        return 0
    h = arch.hidden_size
    layer = _stored(layer_tensors(arch, arch.num_layers))
    embed, head = embedding_tensors(arch, padded=False)
    per_module = layer + 3 * h + 2 * h * h + embed.params + (head.params if head else 0)
    return arch.mtp_layers * per_module


@cache
def count_params(arch: Architecture) -> int:
    """Parameters of the served model (no MTP), unsharded and unpadded."""
    total = sum(_stored(layer_tensors(arch, i)) for i in range(arch.num_layers))
    embed, head = embedding_tensors(arch, padded=False)
    return total + embed.params + (head.params if head else 0) + final_norm(arch).params


@cache
def active_params(arch: Architecture) -> int | None:
    """Parameters used per token: all but the unused routed experts (MoE only)."""
    if arch.moe is None:
        return None
    moe = arch.moe
    idle = (moe.num_experts - moe.top_k) / moe.num_experts
    unused = 0.0
    for layer in range(arch.num_layers):
        for t in layer_tensors(arch, layer):
            if t.kind in ("expert", "expert_bias"):
                unused += t.params * idle
    return int(count_params(arch) - unused)


def pp_layer_ranges(num_layers: int, pp: int) -> list[range]:
    """Layers of each pipeline stage, as vllm/distributed/utils.py get_pp_indices splits them.

    Every stage gets num_layers // pp layers; the remainder goes one each to
    the stages before the last, counting back from the second-to-last.
    """
    base, extra = divmod(num_layers, pp)
    sizes = [base] * pp
    for i in range(2, extra + 2):
        sizes[-i] += 1
    ranges, start = [], 0
    for size in sizes:
        ranges.append(range(start, start + size))
        start += size
    return ranges
