"""vLLM settings: the user's where given, else a recommendation with its reason.

Each choice is a :class:`Choice` (value, where it came from, one-line reason);
the planner turns them into the response's ``recommendation`` block, and the
serve command is rendered from that same block.
"""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

from wizard.catalog.gpus import GpuSpec
from wizard.errors import WizardError
from wizard.physics.arch import Architecture
from wizard.physics.quant import WeightFormat
from wizard.physics.versions import Release
from wizard.planning.feasibility import CONSUMER_UTILIZATION

LATENCY_BATCHED_TOKENS = 2048  # small prefill chunks keep decode steps short
LATENCY_MIN_SEQS = 8


class Choice(NamedTuple):
    """A setting's value, who chose it and why (a named tuple: a sweep builds ~15 per candidate)."""

    value: Any
    source: str  # "user" | "recommended" | "vllm default" | "checkpoint"
    reason: str


def vllm_batch_defaults(gpu: GpuSpec) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) vLLM 0.33's API server picks for this GPU.

    vllm/engine/arg_utils.py get_batch_defaults: >= 160 GiB: 16384 / 1024;
    >= 70 GiB and not an A100: 8192 / 1024; otherwise 2048 / 256.
    """
    if gpu.cuda_total_gib >= 160:
        return 16384, 1024
    if gpu.large_defaults:
        return 8192, 1024
    return 2048, 256


def batching(mode: str, gpu: GpuSpec, concurrency: int, user_seqs: int | None,
             user_tokens: int | None, max_model_len: int, rel: Release) -> tuple[Choice, Choice]:
    """max_num_seqs and max_num_batched_tokens for a batching mode, user values first."""
    if rel.engine == "V0":
        # V0 (vllm/config.py SchedulerConfig): 256 sequences; without chunked prefill a
        # step must hold a whole prompt, so max(max_model_len, 2048) tokens; chunked
        # prefill switches on above 32K context with a small budget.
        seqs = 256
        tokens = rel.v0_chunked_prefill_tokens if max_model_len > 32768 else max(max_model_len, 2048)
        default_why = f"vLLM {rel.label} (V0 engine) default: " + (
            "chunked prefill above 32K context" if max_model_len > 32768 else "a step holds a whole max_model_len prompt")
    else:
        tokens, seqs = vllm_batch_defaults(gpu)
        default_why = f"vLLM's default for {gpu.name} (balanced mode)"
    if mode == "throughput":
        tokens, seqs = (tokens if rel.engine == "V0" else tokens * 2), seqs * 2
        why = "throughput mode: twice vLLM's defaults for this GPU (vLLM's own --performance-mode throughput rule)"
    elif mode == "latency":
        seqs = min(seqs, max(LATENCY_MIN_SEQS, 1 << (concurrency - 1).bit_length()))
        tokens = tokens if rel.engine == "V0" else min(tokens, LATENCY_BATCHED_TOKENS)
        why = "latency mode: batch sized to the requested concurrency, small prefill chunks keep each decode step short"
    else:
        why = default_why
    seq_choice = Choice(user_seqs, "user", "set by the user") if user_seqs else Choice(seqs, "recommended", why)
    if user_tokens:
        tok_choice = Choice(user_tokens, "user", "set by the user")
    else:
        # vLLM caps the default at max_num_seqs x max_model_len (arg_utils.py).
        tok_choice = Choice(min(tokens, seq_choice.value * max_model_len), "recommended", why)
    if tok_choice.value < seq_choice.value:
        raise WizardError(
            f"{tok_choice.value:,} must be at least max_num_seqs ({seq_choice.value:,}); vLLM rejects it",
            field="max_num_batched_tokens")
    return seq_choice, tok_choice


def utilization(user: float | None, gpu: GpuSpec, rel: Release) -> Choice:
    if user is not None:
        return Choice(user, "user", "set by the user")
    if gpu.consumer:
        return Choice(min(CONSUMER_UTILIZATION, rel.default_utilization), "recommended",
                      f"consumer card that may drive a display: {CONSUMER_UTILIZATION:g} keeps vLLM's free-memory start-up check from failing")
    return Choice(rel.default_utilization, "vllm default", f"vLLM {rel.label}'s default")


def dtype(user: str, arch: Architecture, gpu: GpuSpec) -> Choice:
    """The dtype vLLM runs in; 'auto' resolved the way vLLM resolves it."""
    if user != "auto":
        if user == "bfloat16" and not gpu.ampere_or_newer:
            raise WizardError(f"{gpu.name} has no bfloat16 support (compute capability {gpu.compute_capability}); use float16",
                              field="dtype")
        return Choice(user, "user", "set by the user")
    config_dtype = arch.torch_dtype if arch.torch_dtype in ("bfloat16", "float16", "float32") else "bfloat16"
    if config_dtype == "float32":
        config_dtype = "bfloat16"  # vLLM serves float32 checkpoints in half precision under 'auto'
    if config_dtype == "bfloat16" and not gpu.ampere_or_newer:
        return Choice("float16", "recommended", f"{gpu.name} lacks bfloat16, so 'auto' runs the bfloat16 checkpoint in float16")
    return Choice(config_dtype, "checkpoint", f"the checkpoint's torch_dtype ({arch.torch_dtype}); passed as --dtype auto")


@cache
def valid_tp_sizes(arch: Architecture, fmt: WeightFormat, max_gpus: int) -> tuple[int, ...]:
    """TP sizes vLLM accepts for this model, up to ``max_gpus`` (kept: every sweep candidate asks twice).

    Attention heads must split evenly; KV heads must split evenly or be
    replicated evenly; MLP and expert widths must split evenly; for
    group-quantized formats each rank's share of a row-parallel input must be a
    whole number of groups.
    """
    sizes = []
    for tp in range(1, max_gpus + 1):
        if arch.num_heads % tp:
            continue
        if not arch.mla and arch.num_kv_heads % tp and tp % arch.num_kv_heads:
            continue
        widths = [arch.intermediate_size] + ([arch.moe.expert_intermediate] if arch.moe else [])
        if any(w % tp for w in widths):
            continue
        if fmt.group_size and any((w // tp) % fmt.group_size for w in widths):
            continue
        sizes.append(tp)
    return tuple(sizes)


def check_tp(tp: int, arch: Architecture, fmt: WeightFormat) -> None:
    """Raise a clear error for a TP size vLLM would reject."""
    if tp in valid_tp_sizes(arch, fmt, tp):
        return
    if arch.num_heads % tp:
        raise WizardError(f"{tp} does not divide the {arch.num_heads} attention heads", field="tensor_parallel_size")
    if not arch.mla and arch.num_kv_heads % tp and tp % arch.num_kv_heads:
        raise WizardError(f"{tp} neither divides nor is a multiple of the {arch.num_kv_heads} KV heads",
                          field="tensor_parallel_size")
    raise WizardError(f"{tp} does not split the MLP width evenly (or into whole quantization groups)",
                      field="tensor_parallel_size")


# Below this many intermediate columns per GPU an expert's GEMMs get too thin to
# run efficiently, and splitting whole experts over the GPUs (expert
# parallelism) beats slicing every expert (DeepSeek-V3 2048/8 = 256, Qwen3-235B 1536/8 = 192).
EP_MIN_EXPERT_WIDTH = 512


def expert_parallel(arch: Architecture, ranks: int) -> Choice:
    """--enable-expert-parallel: whole experts per GPU when the MoE group (TP x DP ranks) would slice them thin."""
    if arch.moe is None:
        return Choice(False, "vllm default", "dense model: no experts to distribute")
    if ranks == 1:
        return Choice(False, "vllm default", "one GPU holds every expert")
    width = arch.moe.expert_intermediate // ranks
    if arch.moe.num_experts % ranks == 0 and width < EP_MIN_EXPERT_WIDTH:
        return Choice(True, "recommended", (
            f"slicing each expert over {ranks} GPUs would leave {width} columns; expert parallelism places "
            f"{arch.moe.num_experts // ranks} whole experts on each GPU instead (about the same memory)"))
    return Choice(False, "recommended", f"each GPU keeps a {width}-column slice of every expert, wide enough for efficient GEMMs")
