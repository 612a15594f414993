"""GPU memory per rank, the way vLLM 0.33's V1 engine accounts for it.

vllm/v1/worker/gpu_worker.py ``determine_available_memory``:

    available_kv = total x gpu_memory_utilization
                   - weights - activation peak - non-torch increase
                   - estimated CUDA-graph memory      (default since v0.21)

or, with ``--kv-cache-memory-bytes`` (0.10.2+), exactly the bytes given: the
profile run still compiles the model but nothing is measured or subtracted and
the utilization no longer sizes the pool, so what decides whether vLLM starts
is whether weights, working memory, graphs and that pool fit in the free memory.

Weights are computed exactly from the tensor list and the weight format.
The activation peak, non-torch memory and CUDA-graph memory are heuristics
calibrated on real start-up logs (sources beside each constant); each comes
with a low/high range, and so does the KV pool they leave.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import NamedTuple

from wizard.physics.arch import Architecture, kv_heads_per_rank, moe_layers_in
from wizard.physics.kv import KvLayout, layout
from wizard.physics.lazy import lazy_property
from wizard.physics.params import (
    embedding_tensors,
    final_norm,
    layer_tensors,
    pp_layer_ranges,
)
from wizard.physics.quant import MXFP4_MARLIN, Mxfp4Kernel, WeightFormat
from wizard.units import GIB, MIB

# ---- activation peak of the profiling run (vllm/v1/worker/gpu_model_runner.py profile_run)
# Forward pass over max_num_batched_tokens tokens: per token, the gate/up output,
# the activation output and the down input of the MLP (3 x intermediate) plus
# slack; fitted on Qwen2.5-0.5B at 2048/8192/32768 batched tokens (0.25, 0.31,
# 1.06 GiB, vLLM 0.26-0.27 logs): 3.4 x intermediate x 2 bytes per token.
FORWARD_MLP_FACTOR = 3.4
# Fused-MoE workspaces per token: top_k x (2 I + I + hidden) elements
# (vllm/model_executor/layers/fused_moe intermediate caches); Qwen3-235B-FP8 TP4
# at 8192 tokens measured 0.76 GiB (vLLM ~0.27, RTX PRO 6000 log).
MOE_WORKSPACE_FACTOR = 1.0
# The dummy sampler run holds max_num_seqs rows of full-vocabulary fp32 logits
# times a release-dependent number of copies (wizard/physics/versions.py).
ACTIVATION_BASE_GIB = 0.05  # small buffers (positions, block tables, compile scratch)
# Low / expected / high multipliers of the forward peak: a heuristic spread around the
# fit above, like CUDA_GRAPH_RANGE (benchmarks/memory_accuracy.py checks the KV pool it leaves).
FORWARD_RANGE = (0.8, 1.0, 1.3)

# ---- non-torch memory (NCCL, custom all-reduce, cuBLAS/attention workspaces)
# Single GPU: 0.02-0.26 GiB in V1 logs (0.10-0.31). With TP over NVLink each rank
# adds 0.4-1.3 GiB (H100 TP2 0.55, GB200 TP4 0.95); PCIe-only boxes stay small
# (L40S TP8 0.21, A30 TP4 0.09) because custom all-reduce is off.
NON_TORCH_BASE_GIB = (0.05, 0.2, 0.35)
NON_TORCH_NVLINK_GIB = (0.3, 0.55, 1.3)  # added once TP > 1 over NVLink
NON_TORCH_PER_DOUBLING_GIB = 0.1  # per doubling of TP beyond 2
NON_TORCH_PIPELINE_GIB = 0.2  # NCCL send/recv buffers of a pipeline stage boundary

# ---- CUDA graphs (vllm/config/vllm.py _set_cudagraph_sizes; gpu_model_runner
# profile_cudagraph_memory). Measured 0.23-0.37 MiB per (layer x piecewise graph)
# for dense models (llava-7B 0.67 GiB with 67 sizes, Qwen3-8B 0.68, Qwen2.5-7B
# 0.31 with 35); MoE about 1.8x (Qwen3-235B TP8+EP 3.45 GiB, gpt-oss-120b 1.03).
# vLLM's estimate runs 5-20% above the actual pool and it is the estimate that
# is subtracted.
CUDA_GRAPH_MIB_PER_LAYER_GRAPH = 0.32
CUDA_GRAPH_FULL_MIB_PER_LAYER_GRAPH = 0.05  # FULL decode graphs add little for attention models
CUDA_GRAPH_MOE_FACTOR = 1.8
CUDA_GRAPH_ESTIMATE_FACTOR = 1.1
CUDA_GRAPH_RANGE = (0.6, 1.6)

# ---- memory free when vLLM takes its baseline (after the CUDA context and NCCL set-up):
# "Free memory on device (78.84/79.25 GiB)" (A100, v0.31) and (78.66/79.19 GiB)
# (H100, v0.10.2): 0.41-0.53 GiB taken before vLLM measures anything.
CUDA_CONTEXT_GIB = 0.5


class Triple(NamedTuple):
    """low / expected / high of a heuristic quantity, in bytes (a named tuple: every candidate of a sweep
    builds a dozen, and a frozen dataclass is several times slower to build)."""

    low: float
    expected: float
    high: float

    def __add__(self, other: Triple) -> Triple:  # type: ignore[override]
        return Triple(self.low + other.low, self.expected + other.expected, self.high + other.high)

    @staticmethod
    def exact(value: float) -> Triple:
        return Triple(value, value, value)


class Engine(NamedTuple):
    """The resolved vLLM settings the memory model depends on (a named tuple: every candidate of a sweep builds two,
    and a frozen dataclass of these fields is three times slower to build)."""

    tp: int
    pp: int
    dtype_bytes: int
    kv_bytes: int  # bytes per cached element
    block_size: int
    max_model_len: int
    max_num_seqs: int
    max_num_batched_tokens: int
    gpu_memory_utilization: float
    cuda_graphs: bool
    nvlink: bool
    max_capture_ceiling: int  # 512, or 1024 on datacenter Blackwell
    sampler_copies: tuple[float, float, float] = (4.5, 9.0, 11.8)
    cuda_graphs_in_budget: bool = True
    v0: bool = False
    sampler_in_profile: bool = True
    overhead_gib: float = 0.0
    fragmentation_factor: float = 1.0
    dp: int = 1  # data-parallel ranks: engines with their own KV pool, each TP-wide
    expert_parallel: bool = False  # --enable-expert-parallel: whole experts per rank, not slices
    mxfp4_kernel: Mxfp4Kernel = MXFP4_MARLIN  # quant.mxfp4_kernel(gpu.cc, gpu.vendor, release.version)
    sliding_reserves_in_flight: bool = True  # Release.sliding_reserves_in_flight (vLLM 0.26+)
    kv_cache_memory_bytes: int | None = None  # --kv-cache-memory-bytes: the pool per GPU, utilization ignored

    @property
    def moe_ranks(self) -> int:
        """vLLM's MoE group: experts are split over every rank of every data-parallel engine."""
        return self.tp * self.dp

    @property
    def ep(self) -> int:
        """Expert-parallel size: the MoE group under --enable-expert-parallel, else 1."""
        return self.moe_ranks if self.expert_parallel else 1

    @property
    def in_flight_tokens(self) -> int:
        """Tokens a sliding window reserves beyond itself: from 0.26 every batch in flight
        (async scheduling keeps two without PP, PP one per stage: VllmConfig.max_in_flight_tokens);
        before, one max_num_batched_tokens chunk (SlidingWindowSpec.max_memory_usage_bytes)."""
        if self.v0 or not self.sliding_reserves_in_flight:
            return self.max_num_batched_tokens
        return (2 if self.pp == 1 else self.pp) * self.max_num_batched_tokens


@dataclass(frozen=True)
class StageMemory:
    """Memory of every GPU of one pipeline stage (its TP ranks are alike)."""

    stage: int
    layers: range
    budget: float
    weights: float
    activation: Triple
    non_torch: Triple
    cuda_graph: Triple
    overhead: float
    kv: KvLayout
    cuda_graph_in_budget: bool = True
    kv_pinned: float | None = None  # --kv-cache-memory-bytes
    device_free: float = 0.0  # free memory when vLLM takes its baseline

    @lazy_property
    def non_kv(self) -> Triple:
        """Everything vLLM takes from the budget before the KV cache."""
        graphs = self.cuda_graph if self.cuda_graph_in_budget else Triple.exact(0.0)
        return Triple.exact(self.weights + self.overhead) + self.activation + self.non_torch + graphs

    @lazy_property
    def available(self) -> Triple:
        """KV-cache bytes left: high when the heuristics come out low and vice versa.

        A pinned pool (``--kv-cache-memory-bytes``) is exactly what was asked for.
        """
        if self.kv_pinned is not None:
            return Triple.exact(self.kv_pinned)
        non_kv = self.non_kv
        return Triple(self.budget - non_kv.high, self.budget - non_kv.expected, self.budget - non_kv.low)

    @lazy_property
    def unallocated(self) -> Triple:
        """Device memory left once weights, working memory, captured graphs and the pool are in.

        Graphs count as captured (the estimate over CUDA_GRAPH_ESTIMATE_FACTOR)
        whether or not vLLM subtracted them.  Below zero a pinned pool does not
        start: vLLM runs out of memory allocating it or capturing graphs.
        """
        graphs = Triple(*(g / CUDA_GRAPH_ESTIMATE_FACTOR for g in (self.cuda_graph.low, self.cuda_graph.expected,
                                                                    self.cuda_graph.high)))
        used = Triple.exact(self.weights + self.overhead) + self.activation + self.non_torch + graphs
        pool = self.available
        return Triple(self.device_free - used.high - pool.high, self.device_free - used.expected - pool.expected,
                      self.device_free - used.low - pool.low)


@dataclass(frozen=True)
class MemoryPlan:
    stages: tuple[StageMemory, ...]
    gpu_total: float
    budget: float

    @lazy_property
    def num_blocks(self) -> int:
        """Blocks every rank gets: the minimum over workers (vLLM takes the min)."""
        return min(s.kv.num_blocks(s.available.expected) for s in self.stages)

    def num_blocks_at(self, which: str) -> int:
        return min(s.kv.num_blocks(getattr(s.available, which)) for s in self.stages)

    @lazy_property
    def limiting(self) -> StageMemory:
        """The stage whose memory sets the block count."""
        return min(self.stages, key=lambda s: s.kv.num_blocks(s.available.expected))

    @lazy_property
    def weights_overflow(self) -> bool:
        """Some GPU's weights (with the user's overhead) alone fill its budget: no KV dtype, batch or graph
        setting makes room (everything else only adds), unless the pool is pinned outside the budget."""
        return self.stages[0].kv_pinned is None and any(s.weights + s.overhead >= s.budget for s in self.stages)

    @lazy_property
    def pinned_shortfall(self) -> float:
        """Bytes a pinned pool (--kv-cache-memory-bytes) overcommits the tightest GPU by; 0 when it fits."""
        if self.stages[0].kv_pinned is None:
            return 0.0
        return max(0.0, -min(s.unallocated.expected for s in self.stages))


@lru_cache(maxsize=256)
def capture_sizes(max_num_seqs: int, max_num_batched_tokens: int, ceiling: int) -> tuple[int, ...]:
    """CUDA-graph capture sizes vLLM 0.33 picks by default (VllmConfig._set_cudagraph_sizes); kept, since
    every candidate of a sweep asks and the settings are few."""
    largest = min(min(2 * max_num_seqs, ceiling), max_num_batched_tokens)
    sizes = [s for s in (1, 2, 4) if s <= largest]
    if largest >= 8:
        sizes += list(range(8, min(largest + 1, 256), 8))
    if largest >= 256:
        sizes += list(range(256, largest + 1, 16))
    if max_num_batched_tokens <= largest:
        sizes.append(max_num_batched_tokens)
    return tuple(sorted(set(sizes)))


def stage_weights(arch: Architecture, fmt: WeightFormat, engine: Engine, layers: range,
                  first: bool, last: bool, extra_params: int = 0, scale: float = 1.0) -> float:
    """Bytes of weights one GPU of a stage loads.

    ``extra_params`` are checkpoint tensors the config does not describe (e.g. a
    vision tower), held in the model dtype and split over TP; ``scale`` applies a
    user's parameter-count override to every tensor.
    """
    return _stage_weights(arch, fmt, engine.tp, engine.dtype_bytes, layers.start, layers.stop, first, last,
                          extra_params, scale, engine.mxfp4_kernel, engine.moe_ranks, engine.expert_parallel)


@cache
def _stage_weights(arch: Architecture, fmt: WeightFormat, tp: int, dtype_bytes: int, start: int, stop: int,
                   first: bool, last: bool, extra_params: int, scale: float, kernel: Mxfp4Kernel, moe_ranks: int,
                   whole_experts: bool) -> float:
    total = 0.0
    # Layers of one kind weigh the same: size the first of each, multiply by how many the stage holds.
    kinds = _weight_kinds(arch, fmt)[start:stop]
    for kind, count in Counter(kinds).items():
        layer = start + kinds.index(kind)
        total += count * sum(fmt.tensor_bytes(t, layer, dtype_bytes, kernel)
                             for t in layer_tensors(arch, layer, tp, moe_ranks, whole_experts))
    embed, head = embedding_tensors(arch, tp)
    if first:
        total += embed.params * dtype_bytes
    if last:
        total += final_norm(arch).params * dtype_bytes
        if head is not None:
            total += head.params * dtype_bytes
        elif not first:  # tied LM head on another stage than the embedding: its own copy
            total += embed.params * dtype_bytes
    total *= scale
    total += extra_params * dtype_bytes / tp
    # RoPE cos/sin cache, one per model in the model dtype (Llama-3.1-8B loads
    # 14.9888 GiB = 16.06e9 B of weights + 131072 x 128 x 2 B), float32 where the model asks.
    total += arch.rope_positions * arch.rope_dim * (arch.rope_bytes or dtype_bytes)
    return total


@cache
def _weight_kinds(arch: Architecture, fmt: WeightFormat) -> tuple[tuple[bool, ...], ...]:
    """Each layer's kind as its weights' size depends on it: dense or MoE, and for a format that names particular
    layers which of its tensors the format quantizes (covers() reads a tensor's kind and module path, which no
    split changes: one pattern per layer serves every TP and stage)."""
    if not fmt.layer_specific:
        return tuple((arch.is_moe_layer(layer),) for layer in range(arch.num_layers))
    return tuple((arch.is_moe_layer(layer),) + tuple(fmt.covers(t, layer) for t in layer_tensors(arch, layer))
                 for layer in range(arch.num_layers))


def activation(arch: Architecture, engine: Engine, layers: range, last: bool) -> Triple:
    """Peak activation of the profiling run: the larger of the forward pass and the sampler."""
    return _activation(arch, layers, last, engine.max_num_batched_tokens, engine.tp, engine.moe_ranks,
                       engine.expert_parallel, engine.dtype_bytes, engine.sampler_in_profile, engine.max_num_seqs,
                       engine.sampler_copies)


@cache
def _activation(arch: Architecture, layers: range, last: bool, tokens: int, tp: int, moe_ranks: int, whole_experts: bool,
                dtype_bytes: int, sampler_in_profile: bool, max_num_seqs: int,
                sampler_copies: tuple[float, float, float]) -> Triple:
    """activation(), kept: a sweep's weight and KV formats of one layout share it."""
    h = arch.hidden_size
    per_token = 0.0
    heads = math.ceil(arch.num_heads / tp)
    attn = heads * arch.head_dim * 2 + 2 * kv_heads_per_rank(arch, tp) * arch.head_dim
    if arch.mla:
        m = arch.mla
        attn = heads * (2 * m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim) + m.kv_lora_rank
    per_token = max(per_token, attn + 2 * h)
    moe_layers = len(moe_layers_in(arch, layers.start, layers.stop))
    if moe_layers < len(layers):  # a dense MLP layer
        per_token = max(per_token, FORWARD_MLP_FACTOR * math.ceil(arch.intermediate_size / tp) + 2 * h)
    if arch.moe and moe_layers:
        inter = arch.moe.expert_intermediate if whole_experts else math.ceil(arch.moe.expert_intermediate / moe_ranks)
        per_token = max(per_token, MOE_WORKSPACE_FACTOR * arch.moe.top_k * (3 * inter + h) + 2 * h)
    forward = tokens * per_token * dtype_bytes
    base = ACTIVATION_BASE_GIB * GIB
    if not last or not sampler_in_profile:
        return Triple(*(forward * f + base for f in FORWARD_RANGE))
    rows = min(max_num_seqs, tokens)
    logits = rows * arch.vocab_size * 4
    low, mid, high = (max(forward * f, logits * c) + base for f, c in zip(FORWARD_RANGE, sampler_copies))
    return Triple(low, mid, high)


def non_torch(engine: Engine, stage_count: int) -> Triple:
    """Memory outside PyTorch's allocator that appears during start-up."""
    return _non_torch(engine.moe_ranks, engine.nvlink, stage_count)


@cache
def _non_torch(ranks: int, nvlink: bool, stage_count: int) -> Triple:
    """non_torch(), kept: it depends on the MoE group, the link and the stages only."""
    low, mid, high = NON_TORCH_BASE_GIB
    if ranks > 1:  # data-parallel engines join one group (MoE layers, dummy-batch sync)
        doublings = max(0.0, math.log2(ranks) - 1)
        if nvlink:
            low, mid, high = (v + n for v, n in zip((low, mid, high), NON_TORCH_NVLINK_GIB))
        extra = doublings * NON_TORCH_PER_DOUBLING_GIB
        low, mid, high = low + extra / 2, mid + extra, high + 2 * extra
    if stage_count > 1:
        low, mid, high = low + NON_TORCH_PIPELINE_GIB / 2, mid + NON_TORCH_PIPELINE_GIB, high + 2 * NON_TORCH_PIPELINE_GIB
    return Triple(low * GIB, mid * GIB, high * GIB)


def cuda_graph(arch: Architecture, engine: Engine, layers: range) -> Triple:
    """vLLM's estimate of CUDA-graph memory, which it subtracts before sizing the KV cache."""
    if not engine.cuda_graphs:
        return Triple.exact(0.0)
    return _cuda_graph(arch, layers, engine.max_num_seqs, engine.max_num_batched_tokens, engine.max_capture_ceiling)


@cache
def _cuda_graph(arch: Architecture, layers: range, max_num_seqs: int, max_num_batched_tokens: int, ceiling: int) -> Triple:
    """cuda_graph() with graphs captured, kept: a sweep's weight and KV formats of one layout share it."""
    sizes = capture_sizes(max_num_seqs, max_num_batched_tokens, ceiling)
    full = bisect_right(sizes, max_num_seqs)  # sizes up to max_num_seqs (sorted)
    per_layer_mib = len(sizes) * CUDA_GRAPH_MIB_PER_LAYER_GRAPH + full * CUDA_GRAPH_FULL_MIB_PER_LAYER_GRAPH
    moe = CUDA_GRAPH_MOE_FACTOR if arch.moe and moe_layers_in(arch, layers.start, layers.stop) else 1.0
    mid = len(layers) * per_layer_mib * moe * CUDA_GRAPH_ESTIMATE_FACTOR * MIB
    return Triple(mid * CUDA_GRAPH_RANGE[0], mid, mid * CUDA_GRAPH_RANGE[1])


@lru_cache(maxsize=2048)
def plan_memory(
    arch: Architecture,
    fmt: WeightFormat,
    engine: Engine,
    gpu_total_gib: float,
    extra_params: int = 0,
    params_scale: float = 1.0,
) -> MemoryPlan:
    """Per-stage memory of a deployment of ``arch`` on GPUs of ``gpu_total_gib``.

    Kept (the plan is frozen; what it derives, its limiting stage and blocks, is worked out once): a MoE sweep plans
    the same data + expert parallel layouts for every split of its GPUs over nodes (a third of Qwen3-235B's 619), and
    the Compare page plans a sweep's every candidate again when only a target changed (that screen ~20% faster:
    Qwen3-235B's 123 -> 97 ms)."""
    total = gpu_total_gib * GIB
    budget = total * engine.gpu_memory_utilization
    ranges = pp_layer_ranges(arch.num_layers, engine.pp)
    stages = []
    for index, layers in enumerate(ranges):
        first, last = index == 0, index == len(ranges) - 1
        stages.append(
            StageMemory(
                stage=index,
                layers=layers,
                budget=budget,
                weights=stage_weights(arch, fmt, engine, layers, first, last, extra_params, params_scale),
                activation=activation(arch, engine, layers, last),
                non_torch=non_torch(engine, len(ranges)),
                cuda_graph=cuda_graph(arch, engine, layers),
                overhead=engine.overhead_gib * GIB,
                kv=layout(arch, layers, engine.tp, engine.kv_bytes, engine.block_size,
                          engine.in_flight_tokens, engine.fragmentation_factor),
                cuda_graph_in_budget=engine.cuda_graphs_in_budget,
                kv_pinned=None if engine.kv_cache_memory_bytes is None else float(engine.kv_cache_memory_bytes),
                device_free=total - CUDA_CONTEXT_GIB * GIB,
            )
        )
    return MemoryPlan(stages=tuple(stages), gpu_total=total, budget=budget)
