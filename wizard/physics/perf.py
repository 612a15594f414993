"""The cost of one engine step: a roofline per GPU, with the host's work per sequence.

Step time (one GPU of a stage)::

    T = T_fix                                        engine overhead per step
      + max(weights / (eta_mem BW), linear FLOPs / (eta_comp peak))   GEMMs
      + KV bytes read / (eta_kv BW) + prefill attention FLOPs / (eta_comp peak)
      + layers x per-layer kernel overhead (+ MoE's) + 2 all-reduces per layer (latency + bytes / link)

Only the experts a step touches are read: E (1 - (1 - k/E)^tokens) per layer.
The host's work per running sequence (scheduling, sampling, streaming) adds to
the step, or hides behind the GPU's with async scheduling (:attr:`StepModel.step_seconds`).
The serving simulation (``physics/simulate.py``) charges this cost for every
step it runs; ``physics/screen.py`` uses it in the sweep's analytic screen.

Every efficiency factor is a named constant with its source; ``spread`` says
how far measurements strayed from it during calibration.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from wizard.catalog.gpus import GpuSpec
from wizard.physics.arch import Architecture, moe_layers_in
from wizard.physics.lazy import lazy_property
from wizard.physics.memory import Engine, MemoryPlan, stage_weights
from wizard.physics.params import kind_tensors, layer_tensors
from wizard.physics.quant import Mxfp4Kernel, WeightFormat

# ---- efficiency factors, calibrated on ../shared/truth/vllm_perf_results.csv
# (benchmarks/perf_accuracy.py prints the fit); starting values from
# ../shared/truth/perf_methods.md section 5.
# Weights stream from HBM at 0.90 of the peak, and every layer costs LAYER_OVERHEAD_S more whatever its
# shard: tensor parallelism divides the first, not the second.  Fitted on NVIDIA AIConfigurator's measured
# closed loops of dense models at TP 1-8 (wizard/data/measured/aiconfigurator.json): at concurrency 4-8,
# Llama-3.1-70B FP8 takes 21.5 / 13.9 / 9.9 / 7.9 ms at TP 1 / 2 / 4 / 8 on H200 (17.4 / 11.8 / 9.1 ms at
# TP 2 / 4 / 8 on H100): its 72 GB at 0.90 of the bandwidth over TP, plus ~5 ms whatever the TP, about 60 us
# per layer with the all-reduces; Qwen3-32B on H100 the same per layer.
# One efficiency of 0.80 for everything (perf_methods 3.1: 0.75-0.89) fitted TP 1-2 but was 30-40% fast at TP 8.
ETA_MEM = 0.90
# Per layer per step: the launches and tails of its norm, rotary, attention and activation kernels (charged on
# GDDR cards too, where no measured run at several TPs separates it from the bandwidth).
LAYER_OVERHEAD_S = 35e-6
# Paged attention reads the KV cache in scattered blocks: 0.80 (perf_methods 3.1), with which the bursts of
# ../shared/truth/vllm_perf_results.csv, hundreds of sequences reading their caches each step, were calibrated.
ETA_KV = 0.80
ETA_MEM_GDDR = 0.82  # GDDR cards (RTX, L40S, A10)
ETA_MEM_SMALL_SHARD = 0.6  # per-GPU shards under ~2 GB stream less efficiently (perf_methods 3.1)
# Prefill GEMMs end to end (perf_methods 3.2); the A100's from the burst rows of
# ../shared/truth/vllm_perf_results.csv, which 0.55 over-predicted by 6-40% (benchmarks/perf_accuracy.py).
ETA_COMP = {"hopper": 0.45, "blackwell": 0.45, "a100": 0.65, "other": 0.55}
ETA_COMP_MOE = 0.35  # MoE prefill (perf_methods 3.2)
# The V0 engine (before 0.8: no torch.compile, FlashAttention 2, prefill-only steps) reached less
# of the peak: the vLLM 0.6.0 blog's prefill-heavy runs (../shared/truth rows 96-109) need it.
ETA_COMP_V0_FACTOR = 0.9
ETA_COMP_ATTENTION = 0.35  # long-context attention kernels (perf_methods 5: 0.35-0.45 at >= 16K)
T_FIX_S = {"V1": 1.0e-3, "0.6": 1.5e-3, "old": 4.0e-3}  # per-step CPU overhead (perf_methods 2.2)
# Host work per running sequence per step: the engine's scheduling, input preparation and
# sampling, and the API server's detokenizing and streaming, whichever is slower. Without async
# scheduling it adds to the step; with it (0.12+) it hides behind the GPU unless it is longer.
# Fitted on the burst rows of ../shared/truth/vllm_perf_results.csv, where up to a thousand
# sequences run at once (benchmarks/perf_accuracy.py: mean TPOT 40-65% low without it).
CPU_PER_SEQ_S = {"V1": 60e-6, "0.6": 80e-6, "old": 80e-6}
# Routing and fused-MoE kernels per MoE layer per step, beyond LAYER_OVERHEAD_S (perf_methods 3.2 suggests
# 0.1-0.25 ms in all). Block-scaled FP8 experts (DeepSeek-V3/R1, Qwen3-235B-FP8) run the slow
# block-dequantizing kernels: DeepSeek-R1 H200 TP8 at concurrency 4 (19.4 ms, ../shared/truth) and
# Qwen3-235B-FP8 H200 TP2 at 12-20 (about 52 ms, AIConfigurator's measured runs) leave ~0.25 ms per layer
# in all; gpt-oss (MXFP4) and bf16 experts ~0.06 ms (gpt-oss-120b at concurrency 4: A100 TP1 11.7 ms,
# H200 TP1 6.3 ms, B200 TP1 3.5 ms, and TP 2-8 on H100 and H200). Fitted with benchmarks/perf_accuracy.py.
MOE_LAYER_OVERHEAD_S = {"fp8 block": 215e-6, "other": 25e-6}
ALLREDUCE_LATENCY_S = {"nvlink": 15e-6, "pcie": 60e-6, "pcie-no-p2p": 120e-6}  # per collective (perf_methods 5)
ALLREDUCE_BW_EFFICIENCY = 0.7  # of the per-GPU link bandwidth (perf_methods 5)
# Expert parallelism's dispatch / combine collectives: a launch-and-sync latency like an
# all-reduce's on NVLink, twice (uncalibrated: no expert-parallel run in ../shared/truth).
ALL_TO_ALL_LATENCY_S = 30e-6
PCIE_GBS = 25.0  # PCIe Gen4 x16 effective, when the catalog has no host-link figure
PIPELINE_SEND_LATENCY_S = 50e-6  # point-to-point activation send between stages on one node
# Between nodes a stage boundary crosses the network: latency plus the activations
# (tokens x hidden x 2 bytes) over the NIC. Assumptions, not calibrated (no multi-node
# run in ../shared/truth/vllm_perf_results.csv), so multi-node plans get the widest range:
# 100 us = twice the on-node send above, for the NIC and NCCL's network transport;
# 25 GB/s = one 200 Gb/s NIC per GPU, half of a DGX H100's 400 Gb/s ConnectX-7 per GPU
# (many clouds give less), so the estimate errs slow.
INTER_NODE_LATENCY_S = 100e-6
INTER_NODE_GBS = 25.0
# Ranges: how far measurements strayed from the expected value during calibration.
SPREAD = {"dense": 0.20, "tp": 0.30, "moe": 0.40, "uncalibrated": 0.45}
# Step token counts whose batch seconds a step model keeps (~100 B each): the sweeps of
# benchmarks/sweep_speed.py ask a simulated model for at most ~250 distinct ones.
BATCH_SECONDS_KEPT = 2048
CALIBRATED_GPUS = {"h100-sxm-80gb", "h100-pcie-80gb", "h200-sxm-141gb", "a100-sxm-80gb", "a100-pcie-80gb", "rtx-4090"}


@dataclass(frozen=True)
class StepModel:
    """Per-GPU costs of one engine step, from the plan's model, weights and GPUs."""

    dense_weight_bytes: float  # weights read every step on one GPU (non-expert)
    expert_bytes_per_layer: float  # all experts of one MoE layer on one GPU
    moe_layers: int
    num_experts: int
    top_k: int
    linear_flops_per_token: float  # 2 x active linear params on one GPU
    kv_bytes_per_ctx_token: float  # KV bytes read per context token per decode (one GPU, full layers)
    sliding_fraction: float  # share of layers that only read a window
    window: int | None
    attn_flops_per_ctx_token: float  # 4 x layers x heads/TP x head_dim
    hidden: int
    layers: int  # layers on one stage
    tp: int
    pp: int
    bandwidth: float  # bytes/s
    peak_flops: float  # FLOP/s used for GEMMs
    peak_attention_flops: float
    eta_mem: float  # of the bandwidth, streaming weights
    eta_kv: float  # of the bandwidth, reading the KV cache
    eta_comp: float
    t_fix: float
    allreduce_latency: float
    link_bandwidth: float  # bytes/s per GPU for all-reduce
    chunked_prefill: bool = True  # V1 mixes prefill into decode steps; V0 ran prefill-only steps
    inter_node_hops: int = 0  # pipeline stage boundaries that cross nodes
    cpu_per_seq: float = 0.0  # engine CPU seconds per running sequence per step (schedule, sample, detokenize)
    layer_overhead: float = 0.0  # kernel time per layer per step that no shard size changes
    moe_layer_overhead: float = 0.0  # routing and fused-MoE kernel time per MoE layer per step
    expert_token_scale: int = 1  # tokens a rank's experts see per local token: every DP engine's tokens
    all_to_all_latency: float = 0.0  # per dispatch or combine when data parallelism moves tokens to experts (0: none)
    all_to_all_bandwidth: float = 1.0  # bytes/s of one rank's dispatch or combine
    overlaps_cpu: bool = False  # async scheduling hides the CPU work behind the GPU's
    read_floor_bytes: float = 0.0  # weights any step reads whatever its batch (see step_floor_seconds)

    @lazy_property
    def step_seconds(self) -> Callable[[int, float, int, float], float]:
        """One engine step through every pipeline stage, from the batch's token counts: the simulator's step cost
        (``model.step_seconds(decode seqs, decode context sum, prefill tokens, prefill context sum)``).

        Contexts come as sums (over decoding sequences; over prefill tokens, of
        the context each attends to) and are averaged here.  For decode-only
        steps the decode context sum may be a numpy array: the seconds of each,
        elementwise.  A closure over the model's constants, built once: a sweep
        asks ~20,000 times, and reading them off the model each time made each
        call 1.1-1.5 us instead of 0.7-1.0.
        """
        window, sliding = self.window, self.sliding_fraction
        kv_bytes, kv_bytes_per_s = self.kv_bytes_per_ctx_token, self.eta_kv * self.bandwidth
        attention_flops, attention_flops_per_s = self.attn_flops_per_ctx_token, ETA_COMP_ATTENTION * self.peak_attention_flops
        t_fix, cpu_per_seq, overlaps_cpu, staged = self.t_fix, self.cpu_per_seq, self.overlaps_cpu, self.pp > 1
        batch_seconds = self._batch_seconds()
        by_tokens: dict[int, float] = {}  # a simulation asks for the same few hundred token counts again and again

        def step_seconds(decode: int, decode_ctx_sum: float, prefill: int, prefill_ctx_sum: float) -> float:
            tokens = decode + prefill
            batch = by_tokens.get(tokens)
            if batch is None:
                batch = batch_seconds(tokens)
                if len(by_tokens) < BATCH_SECONDS_KEPT:
                    by_tokens[tokens] = batch
            decode_ctx = decode_ctx_sum / decode if decode else 0.0
            # A run of decodes costed at once gives its context sums as an array: min and max elementwise.
            one = type(decode_ctx) is float
            if window:
                decode_ctx = (1 - sliding) * decode_ctx + sliding * (
                    min(decode_ctx, window) if one else decode_ctx.clip(max=window))
            kv_read = decode * decode_ctx * kv_bytes / kv_bytes_per_s
            prefill_ctx = prefill_ctx_sum / prefill if prefill else 0.0
            device = batch + kv_read + prefill * prefill_ctx * attention_flops / attention_flops_per_s
            if staged:
                device = pipeline_seconds(self, device, tokens)
            cpu = t_fix + cpu_per_seq * (decode + (1 if prefill else 0))
            if not overlaps_cpu:
                return device + cpu
            return max(device, cpu) if one else device.clip(min=cpu)

        return step_seconds

    def _batch_seconds(self) -> Callable[[int], float]:
        """The seconds of a step's tokens whatever their contexts: its GEMMs (weights read, or compute), the layers'
        kernel overheads and communication; a closure over the model's constants, as :attr:`step_seconds` is."""
        dense_bytes, moe_layers, layers, tp = self.dense_weight_bytes, self.moe_layers, self.layers, self.tp
        idle_expert = 1 - self.top_k / self.num_experts  # the chance a token leaves one expert alone
        experts_bytes, token_scale = self.expert_bytes_per_layer * moe_layers, self.expert_token_scale
        bytes_per_s, flops_per_s = self.eta_mem * self.bandwidth, self.eta_comp * self.peak_flops
        flops_per_token = self.linear_flops_per_token
        kernels = layers * self.layer_overhead + moe_layers * self.moe_layer_overhead
        # Two all-reduces per layer over TP of tokens x hidden bf16 values; each moves 2 (tp - 1) / tp of them.
        reduced_bytes_per_token = 2 * (tp - 1) / tp * self.hidden * 2
        allreduce_latency, link_bandwidth = self.allreduce_latency, self.link_bandwidth
        # The DP x TP MoE group: each MoE layer dispatches every token to its top-k experts' ranks and combines the
        # results back (two all-to-alls of tokens x k x hidden bf16 values; sliced experts all-gather and
        # reduce-scatter about as much).
        all_to_all = bool(self.all_to_all_latency and moe_layers)
        all_to_all_latency, dispatched_bytes_per_token = self.all_to_all_latency, self.top_k * self.hidden * 2
        all_to_all_bandwidth = self.all_to_all_bandwidth

        def batch_seconds(tokens: int) -> float:
            weights = dense_bytes
            if moe_layers:  # a rank's experts serve every DP rank's tokens under expert parallelism
                weights += (1 - idle_expert ** max(tokens * token_scale, 1)) * experts_bytes
            seconds = max(weights / bytes_per_s, flops_per_token * tokens / flops_per_s) + kernels
            if tp > 1:
                seconds += 2 * layers * (allreduce_latency + tokens * reduced_bytes_per_token / link_bandwidth)
            if all_to_all:
                seconds += 2 * moe_layers * (all_to_all_latency + tokens * dispatched_bytes_per_token / all_to_all_bandwidth)
            return seconds

        return batch_seconds


def _eta_comp(gpu: GpuSpec, moe: bool, version: tuple[int, int, int]) -> float:
    era = ETA_COMP_V0_FACTOR if version < (0, 8, 0) else 1.0
    if moe:
        return ETA_COMP_MOE * era
    cc = gpu.cc
    if cc and cc >= (10, 0):
        return ETA_COMP["blackwell"] * era
    if cc and cc >= (9, 0):
        return ETA_COMP["hopper"] * era
    if cc == (8, 0):
        return ETA_COMP["a100"] * era
    return ETA_COMP["other"] * era


def _host_era(version: tuple[int, int, int]) -> str:
    """The key of T_FIX_S and CPU_PER_SEQ_S for a release: the V1 engine, 0.6's, or older."""
    if version >= (0, 8, 0):
        return "V1"
    return "0.6" if version >= (0, 6, 0) else "old"


@cache
def _active_linear(arch: Architecture, moe: bool, tp: int) -> float:
    """Linear parameters one token touches in one layer on one GPU (top-k of the experts)."""
    total = 0.0
    for t in kind_tensors(arch, moe, tp):
        if t.kind == "expert" and arch.moe:
            total += t.params * arch.moe.top_k / arch.moe.num_experts
        elif t.kind in ("linear", "router", "runtime"):
            total += t.params
    return total


def step_model(arch: Architecture, fmt: WeightFormat, engine: Engine, memory: MemoryPlan, gpu: GpuSpec,
               interconnect: str, version: tuple[int, int, int], nodes: int = 1, async_scheduling: bool = False,
               scale: float = 1.0) -> StepModel:
    """Per-GPU step costs for the plan's heaviest stage (``scale``: the user's parameter-count override)."""
    stage = memory.limiting
    layers = stage.layers
    moe_layers = moe_layers_in(arch, layers.start, layers.stop)
    expert_bytes = _expert_bytes_per_layer(arch, fmt, engine, moe_layers[0]) if moe_layers else 0.0
    dense_bytes = stage.weights - expert_bytes * len(moe_layers)
    # What a step of any batch reads: the stage's layers but their experts, and the LM head on the last stage; not
    # the input embedding (a lookup), a vision tower (extra parameters) nor the RoPE cache.
    rope_bytes = arch.rope_positions * arch.rope_dim * (arch.rope_bytes or engine.dtype_bytes)
    read_floor = (stage_weights(arch, fmt, engine, layers, False, layers.stop == arch.num_layers, 0, scale)
                  - rope_bytes - expert_bytes * len(moe_layers) * scale)
    heads = math.ceil(arch.num_heads / engine.tp)
    head_dim = arch.mla.qk_nope_head_dim + arch.mla.qk_rope_head_dim if arch.mla else arch.head_dim
    kv_per_token = stage.kv.page_bytes / stage.kv.block_size * len(layers)
    sliding = _sliding_share(arch, layers)
    w8a8 = fmt.act_bits == 8 and gpu.fp8_native and fmt.kind == "float"
    bf16_peak = (gpu.bf16_tflops or 100.0) * 1e12
    peak = (gpu.fp8_tflops or bf16_peak / 1e12) * 1e12 if w8a8 else bf16_peak
    gddr = "GDDR" in gpu.memory_type
    eta_mem, eta_kv = (ETA_MEM_GDDR, ETA_MEM_GDDR) if gddr else (ETA_MEM, ETA_KV)
    if dense_bytes + expert_bytes * len(moe_layers) < 2 * 1024**3:
        eta_mem = eta_kv = ETA_MEM_SMALL_SHARD
    if interconnect == "nvlink" and gpu.interconnect_gbs:
        link = gpu.interconnect_gbs * 1e9 * ALLREDUCE_BW_EFFICIENCY
    else:
        link = (gpu.host_link_gbs or PCIE_GBS) * 1e9 * ALLREDUCE_BW_EFFICIENCY
    return StepModel(
        dense_weight_bytes=dense_bytes,
        expert_bytes_per_layer=expert_bytes,
        moe_layers=len(moe_layers),
        num_experts=arch.moe.num_experts if arch.moe else 1,
        top_k=arch.moe.top_k if arch.moe else 1,
        linear_flops_per_token=2 * _stage_linear(arch, engine.tp, layers),
        kv_bytes_per_ctx_token=kv_per_token,
        sliding_fraction=sliding,
        window=arch.sliding_window,
        attn_flops_per_ctx_token=4 * len(layers) * heads * head_dim,
        hidden=arch.hidden_size,
        layers=len(layers),
        tp=engine.tp,
        pp=engine.pp,
        bandwidth=(gpu.bandwidth_gbs or 1000.0) * 1e9,
        peak_flops=peak,
        peak_attention_flops=bf16_peak,
        eta_mem=eta_mem,
        eta_kv=eta_kv,
        eta_comp=_eta_comp(gpu, bool(moe_layers), version),
        t_fix=T_FIX_S[_host_era(version)],
        cpu_per_seq=CPU_PER_SEQ_S[_host_era(version)],
        layer_overhead=LAYER_OVERHEAD_S,
        moe_layer_overhead=MOE_LAYER_OVERHEAD_S["fp8 block" if fmt.kind == "float" and fmt.block else "other"],
        expert_token_scale=engine.dp,
        **_all_to_all(engine, nodes, link),
        overlaps_cpu=async_scheduling,
        chunked_prefill=not (engine.v0 and engine.max_num_batched_tokens >= engine.max_model_len),
        inter_node_hops=min(nodes - 1, engine.pp - 1),
        allreduce_latency=ALLREDUCE_LATENCY_S.get(interconnect, ALLREDUCE_LATENCY_S["pcie"]),
        link_bandwidth=link,
        read_floor_bytes=read_floor,
    )


def _expert_bytes_per_layer(arch: Architecture, fmt: WeightFormat, engine: Engine, layer: int) -> float:
    """Bytes of one MoE layer's experts on one GPU (sliced or whole, as the MoE group splits them)."""
    return _expert_bytes(arch, fmt, engine.tp, engine.dtype_bytes, engine.mxfp4_kernel, engine.moe_ranks,
                         engine.expert_parallel, layer)


@cache
def _expert_bytes(arch: Architecture, fmt: WeightFormat, tp: int, dtype_bytes: int, kernel: Mxfp4Kernel, moe_ranks: int,
                  whole_experts: bool, layer: int) -> float:
    """_expert_bytes_per_layer, kept: a sweep's candidates share a few dozen splits."""
    return sum(fmt.tensor_bytes(t, layer, dtype_bytes, kernel)
               for t in layer_tensors(arch, layer, tp, moe_ranks, whole_experts) if t.kind == "expert")


@cache
def _sliding_share(arch: Architecture, layers: range) -> float:
    """The share of a stage's layers that attend over a sliding window (kept: every candidate asks)."""
    return sum(1 for i in layers if arch.layer_kinds[i] == "sliding") / max(len(layers), 1)


@cache
def _stage_linear(arch: Architecture, tp: int, layers: range) -> float:
    """Active linear parameters one GPU multiplies per token in a stage: every tensor but the idle
    experts (embedding lookups are free), plus the LM head on the last stage."""
    linear = 0.0
    moe_layers = len(moe_layers_in(arch, layers.start, layers.stop))
    for moe in (False, True):
        count = moe_layers if moe else len(layers) - moe_layers
        if count:
            linear += count * _active_linear(arch, moe, tp)
    if layers.stop == arch.num_layers:
        linear += math.ceil(arch.vocab_size / tp) * arch.hidden_size  # LM head
    return linear


def _all_to_all(engine: Engine, nodes: int, link: float) -> dict[str, float]:
    """Latency and bandwidth of the MoE group's dispatch and combine: over the GPUs' links on one node;
    across nodes the remote share of every message, (nodes - 1) / nodes, crosses the NIC."""
    if engine.dp == 1:
        return {}
    if nodes > 1 and engine.pp == 1:
        return {"all_to_all_latency": INTER_NODE_LATENCY_S, "all_to_all_bandwidth": INTER_NODE_GBS * 1e9 * nodes / (nodes - 1)}
    return {"all_to_all_latency": ALL_TO_ALL_LATENCY_S, "all_to_all_bandwidth": link}


def step_floor_seconds(model: StepModel) -> float:
    """The shortest a step can take, whatever its batch: the weights it must use read once at the GPU's full memory
    bandwidth (one stage's, with a pipeline).  A decode or first token is never predicted faster."""
    return model.read_floor_bytes / model.bandwidth


def pipeline_seconds(model: StepModel, seconds: float, tokens: float = 1.0) -> float:
    """A step passes every stage: with PP the stages' times add up, plus the sends between them."""
    local = model.pp - 1 - model.inter_node_hops
    network = model.inter_node_hops * (INTER_NODE_LATENCY_S + tokens * model.hidden * 2 / (INTER_NODE_GBS * 1e9))
    return seconds * model.pp + local * PIPELINE_SEND_LATENCY_S + network


def spread(model: StepModel, gpu: GpuSpec) -> tuple[float, str]:
    """Relative half-width of the range, and why."""
    if gpu.id not in CALIBRATED_GPUS:
        return SPREAD["uncalibrated"], f"{gpu.name} has no published vLLM benchmark in the calibration set: wider range"
    if model.inter_node_hops:
        return SPREAD["uncalibrated"], "multi-node: no published multi-node vLLM benchmark in the calibration set, and networks differ"
    if model.all_to_all_latency:
        return SPREAD["uncalibrated"], ("data + expert parallel: no published vLLM benchmark of it in the calibration set, "
                                        "and its all-to-all kernels differ by release and network")
    if model.moe_layers:
        return SPREAD["moe"], "MoE: expert routing and kernel overheads vary most"
    if model.tp > 1 or model.pp > 1:
        return SPREAD["tp"], "multi-GPU: communication overheads add uncertainty"
    return SPREAD["dense"], "dense model on one calibrated GPU"
