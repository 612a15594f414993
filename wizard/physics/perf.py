"""Serving performance: a roofline per engine step inside a model of vLLM's scheduler.

Step time (one GPU of a stage)::

    T = T_fix                                        engine overhead per step
      + max(weights / (eta_mem BW), linear FLOPs / (eta_comp peak))   GEMMs
      + KV bytes read / (eta_mem BW) + prefill attention FLOPs / (eta_comp peak)
      + MoE per-layer overhead + 2 all-reduces per layer (latency + bytes / link)

Only the experts a step touches are read: E (1 - (1 - k/E)^tokens) per layer.
The scheduler is vLLM V1's continuous batching with chunked prefill: every
step carries the running decodes plus prefill tokens up to
``max_num_batched_tokens``; the batch is capped by ``max_num_seqs`` and by
the KV pool.  Workloads are closed loop (concurrency), open loop (Poisson
request rate, with queueing near saturation) or a burst of N prompts.

Every efficiency factor is a named constant with its source; the estimate is
returned as low / expected / high with the assumptions that produced it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache

from wizard.catalog.gpus import GpuSpec
from wizard.physics.arch import Architecture
from wizard.physics.memory import Engine, MemoryPlan
from wizard.physics.params import kind_tensors, layer_tensors
from wizard.physics.quant import WeightFormat

# ---- efficiency factors, calibrated on ../shared/truth/vllm_perf_results.csv
# (benchmarks/perf_accuracy.py prints the fit); starting values from
# ../shared/truth/perf_methods.md section 5.
ETA_MEM = 0.80  # weight/KV streaming, NVIDIA HBM (perf_methods 3.1: 0.75-0.89 for large shards)
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
# Routing and fused-MoE kernels per MoE layer per step (perf_methods 3.2 suggests 0.1-0.25 ms).
# Block-scaled FP8 experts (DeepSeek-V3/R1, Qwen3-235B-FP8) run the slow block-dequantizing
# kernels: DeepSeek-R1 H200 TP8 at concurrency 4 (19.4 ms, ../shared/truth) and Qwen3-235B-FP8
# H200 TP2 at 12-20 (about 52 ms, AIConfigurator's measured runs) leave ~0.25 ms per layer;
# gpt-oss (MXFP4) and bf16 experts leave 0.05-0.1 ms (gpt-oss-120b at concurrency 4: A100 TP1
# 11.7 ms, H200 TP1 6.3 ms, B200 TP1 3.5 ms). Fitted with benchmarks/perf_accuracy.py.
MOE_LAYER_OVERHEAD_S = {"fp8 block": 250e-6, "other": 50e-6}
ALLREDUCE_LATENCY_S = {"nvlink": 15e-6, "pcie": 60e-6, "pcie-no-p2p": 120e-6}  # per collective (perf_methods 5)
ALLREDUCE_BW_EFFICIENCY = 0.7  # of the per-GPU link bandwidth (perf_methods 5)
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
CALIBRATED_GPUS = {"h100-sxm-80gb", "h100-pcie-80gb", "h200-sxm-141gb", "a100-sxm-80gb", "a100-pcie-80gb", "rtx-4090"}


@dataclass(frozen=True)
class Workload:
    """What the engine is asked to serve."""

    prompt_tokens: int
    gen_tokens: int
    concurrency: int | None = None  # closed loop
    request_rate: float | None = None  # open loop (Poisson), requests per second
    burst: int | None = None  # N prompts sent at once (request rate infinite)


@dataclass(frozen=True)
class Estimate:
    """One metric as low / expected / high."""

    low: float
    expected: float
    high: float


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
    eta_mem: float
    eta_comp: float
    t_fix: float
    allreduce_latency: float
    link_bandwidth: float  # bytes/s per GPU for all-reduce
    chunked_prefill: bool = True  # V1 mixes prefill into decode steps; V0 ran prefill-only steps
    inter_node_hops: int = 0  # pipeline stage boundaries that cross nodes
    cpu_per_seq: float = 0.0  # engine CPU seconds per running sequence per step (schedule, sample, detokenize)
    moe_layer_overhead: float = 0.0  # routing and fused-MoE kernel time per MoE layer per step
    overlaps_cpu: bool = False  # async scheduling hides the CPU work behind the GPU's

    def step_time(self, decode: float, prefill: float, decode_ctx: float, prefill_ctx: float) -> float:
        """Seconds for one step with ``decode`` running sequences and ``prefill`` prompt tokens."""
        tokens = decode + prefill
        weights = self.dense_weight_bytes
        if self.moe_layers:
            touched = 1 - (1 - self.top_k / self.num_experts) ** max(tokens, 1)
            weights += touched * self.expert_bytes_per_layer * self.moe_layers
        gemm = max(weights / (self.eta_mem * self.bandwidth), self.linear_flops_per_token * tokens / (self.eta_comp * self.peak_flops))
        ctx = decode_ctx
        if self.window:
            ctx = (1 - self.sliding_fraction) * decode_ctx + self.sliding_fraction * min(decode_ctx, self.window)
        kv_read = decode * ctx * self.kv_bytes_per_ctx_token / (self.eta_mem * self.bandwidth)
        prefill_attention = prefill * prefill_ctx * self.attn_flops_per_ctx_token / (ETA_COMP_ATTENTION * self.peak_attention_flops)
        moe = self.moe_layers * self.moe_layer_overhead
        comm = 0.0
        if self.tp > 1:
            message = tokens * self.hidden * 2
            comm = 2 * self.layers * (self.allreduce_latency + 2 * (self.tp - 1) / self.tp * message / self.link_bandwidth)
        return self.t_fix + gemm + kv_read + prefill_attention + moe + comm


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


def _cpu_per_seq(version: tuple[int, int, int]) -> float:
    if version >= (0, 8, 0):
        return CPU_PER_SEQ_S["V1"]
    if version >= (0, 6, 0):
        return CPU_PER_SEQ_S["0.6"]
    return CPU_PER_SEQ_S["old"]


def _t_fix(version: tuple[int, int, int]) -> float:
    if version >= (0, 8, 0):
        return T_FIX_S["V1"]
    if version >= (0, 6, 0):
        return T_FIX_S["0.6"]
    return T_FIX_S["old"]


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
               interconnect: str, version: tuple[int, int, int], nodes: int = 1, async_scheduling: bool = False) -> StepModel:
    """Per-GPU step costs for the plan's heaviest stage."""
    stage = memory.limiting
    layers = stage.layers
    moe_layers = [i for i in layers if arch.is_moe_layer(i)]
    expert_bytes = 0.0
    if moe_layers:
        i = moe_layers[0]
        expert_bytes = sum(fmt.tensor_bytes(t, i, engine.dtype_bytes, engine.mxfp4_kernel)
                           for t in layer_tensors(arch, i, engine.tp) if t.kind == "expert")
    dense_bytes = stage.weights - expert_bytes * len(moe_layers)
    # Active linear parameters on one GPU: every tensor but the idle experts (embedding lookups are free).
    linear = 0.0
    for moe in (False, True):
        count = sum(1 for i in layers if arch.is_moe_layer(i) == moe)
        if count:
            linear += count * _active_linear(arch, moe, engine.tp)
    if layers.stop == arch.num_layers:
        linear += math.ceil(arch.vocab_size / engine.tp) * arch.hidden_size  # LM head
    heads = math.ceil(arch.num_heads / engine.tp)
    head_dim = arch.mla.qk_nope_head_dim + arch.mla.qk_rope_head_dim if arch.mla else arch.head_dim
    kv_per_token = stage.kv.page_bytes / stage.kv.block_size * len(layers)
    sliding = sum(1 for i in layers if arch.layer_kinds[i] == "sliding") / max(len(layers), 1)
    w8a8 = fmt.act_bits == 8 and gpu.fp8_native and fmt.kind == "float"
    bf16_peak = (gpu.bf16_tflops or 100.0) * 1e12
    peak = (gpu.fp8_tflops or bf16_peak / 1e12) * 1e12 if w8a8 else bf16_peak
    gddr = "GDDR" in gpu.memory_type
    eta_mem = ETA_MEM_GDDR if gddr else ETA_MEM
    if dense_bytes + expert_bytes * len(moe_layers) < 2 * 1024**3:
        eta_mem = ETA_MEM_SMALL_SHARD
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
        linear_flops_per_token=2 * linear,
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
        eta_comp=_eta_comp(gpu, bool(moe_layers), version),
        t_fix=_t_fix(version),
        cpu_per_seq=_cpu_per_seq(version),
        moe_layer_overhead=MOE_LAYER_OVERHEAD_S["fp8 block" if fmt.kind == "float" and fmt.block else "other"],
        overlaps_cpu=async_scheduling,
        chunked_prefill=not (engine.v0 and engine.max_num_batched_tokens >= engine.max_model_len),
        inter_node_hops=min(nodes - 1, engine.pp - 1),
        allreduce_latency=ALLREDUCE_LATENCY_S.get(interconnect, ALLREDUCE_LATENCY_S["pcie"]),
        link_bandwidth=link,
    )


# ------------------------------------------------------------------ scheduler


@dataclass(frozen=True)
class Operating:
    """Per-request latencies and the engine's rates in one regime."""

    batch: float  # sequences decoding per step
    tpot_s: float  # time per output token, as vllm bench's TPOT
    ttft_s: float
    output_tokens_per_s: float


@dataclass
class PerfResult:
    prefill_tokens_per_s: float
    decode_tokens_per_s: float  # per sequence
    itl_ms: tuple[float, float, float]
    ttft_ms: tuple[float, float, float]
    output_tokens_per_s: tuple[float, float, float]
    request_throughput_per_s: tuple[float, float, float]
    max_request_rate_per_s: float
    batch: float
    saturated: bool
    assumptions: list[str] = field(default_factory=list)


def _capacity(engine: Engine, memory: MemoryPlan, wl: Workload) -> tuple[int, str]:
    """Sequences that can run at once: max_num_seqs, or the KV pool at the average context."""
    layout = memory.limiting.kv
    avg_ctx = wl.prompt_tokens + wl.gen_tokens // 2
    kv_cap = memory.num_blocks // max(layout.blocks_per_request(max(avg_ctx, 1)), 1)
    if kv_cap < engine.max_num_seqs:
        return max(kv_cap, 1), f"the KV pool, which holds about {kv_cap} sequences at the average context of {avg_ctx:,} tokens"
    return engine.max_num_seqs, f"max_num_seqs ({engine.max_num_seqs})"


def _pipeline(model: StepModel, seconds: float, tokens: float = 1.0) -> float:
    """A step passes every stage: with PP the stages' times add up, plus the sends between them."""
    local = model.pp - 1 - model.inter_node_hops
    network = model.inter_node_hops * (INTER_NODE_LATENCY_S + tokens * model.hidden * 2 / (INTER_NODE_GBS * 1e9))
    return seconds * model.pp + local * PIPELINE_SEND_LATENCY_S + network


def step_seconds(model: StepModel, decode_seqs: int, decode_ctx_sum_tokens: int, prefill_tokens: int,
                 prefill_ctx_sum_tokens: int) -> float:
    """One engine step through every pipeline stage, from the batch's token counts.

    The simulator's step cost (``functools.partial(step_seconds, model)``): contexts
    come as sums (over decoding sequences; over prefill tokens, of the context each
    attends to) and StepModel.step_time takes their averages.
    """
    decode_ctx = decode_ctx_sum_tokens / decode_seqs if decode_seqs else 0.0
    prefill_ctx = prefill_ctx_sum_tokens / prefill_tokens if prefill_tokens else 0.0
    device = model.step_time(decode_seqs, prefill_tokens, decode_ctx, prefill_ctx) - model.t_fix
    device = _pipeline(model, device, decode_seqs + prefill_tokens)
    cpu = model.t_fix + model.cpu_per_seq * (decode_seqs + (1 if prefill_tokens else 0))
    return max(device, cpu) if model.overlaps_cpu else device + cpu


def _decode_ctx(wl: Workload) -> float:
    return wl.prompt_tokens + wl.gen_tokens / 2


def _steady(model: StepModel, engine: Engine, wl: Workload, decode: float) -> float:
    """Seconds per step when ``decode`` sequences run and are replaced one by one as they finish.

    Little's law: sequences finish at decode / gen_tokens per step and each
    replacement brings prompt_tokens of prefill.  V1's chunked prefill packs it
    into the decode steps (up to max_num_batched_tokens); V0 without chunked
    prefill runs it in separate steps while the decodes wait.
    """
    refill = decode * wl.prompt_tokens / wl.gen_tokens
    if not model.chunked_prefill:
        # decode / gen_tokens prompts arrive per step; at most one prefill step runs per decode step.
        arrivals = decode / wl.gen_tokens
        batched = max(arrivals, 1.0) * wl.prompt_tokens
        stall = min(arrivals, 1.0) * model.step_time(0, batched, 0, wl.prompt_tokens / 2)
        return _pipeline(model, model.step_time(decode, 0, _decode_ctx(wl), 0) + stall, decode + refill)
    prefill = min(refill, max(engine.max_num_batched_tokens - decode, 0))
    return _pipeline(model, model.step_time(decode, prefill, _decode_ctx(wl), wl.prompt_tokens / 2), decode + prefill)


def _waves(model: StepModel, engine: Engine, wl: Workload, running: int, requests: float) -> Operating:
    """Requests of equal length started together stay in step: each wave prefills, then decodes.

    A closed loop (or a burst) of fixed-length requests keeps ``running`` of them
    in flight that start and finish together.  A wave's prompts take
    ceil(running x prompt / max_num_batched_tokens) prefill steps, the first
    token of each request coming out of its last chunk; then gen_tokens - 1
    decode steps.  ``requests`` in all are served in waves of ``running``.
    """
    budget = engine.max_num_batched_tokens
    total_prefill = running * wl.prompt_tokens
    chunks = max(1, math.ceil(total_prefill / budget))
    riding = running * (chunks - 1) / (2 * chunks) if model.chunked_prefill else 0.0
    prefill_step = _pipeline(model, model.step_time(riding, total_prefill / chunks, _decode_ctx(wl), wl.prompt_tokens / 2),
                             riding + total_prefill / chunks)
    decode_step = _pipeline(model, model.step_time(running, 0, _decode_ctx(wl), 0), running)
    gen = max(wl.gen_tokens - 1, 1)
    cycle = chunks * prefill_step + gen * decode_step
    # Requests prefilled in early chunks decode through the later prefill steps.
    overlap = (chunks - 1) / 2 if model.chunked_prefill else 0.0
    tpot = (min(overlap, gen) * prefill_step + max(gen - overlap, 0) * decode_step) / gen
    waves = max(requests / running, 1.0)
    ttft = prefill_step * (chunks + 1) / 2 + cycle * (waves - 1) / 2 * (1 if requests > running else 0)
    return Operating(running, tpot, ttft, running * wl.gen_tokens / cycle)


def _steady_closed(model: StepModel, engine: Engine, wl: Workload, running: int, waiting: int) -> Operating:
    """Requests of varied lengths drift apart: a steady trickle of refills (the alternative to waves)."""
    step = _steady(model, engine, wl, running)
    budget = max(engine.max_num_batched_tokens - running, 1)
    own = _pipeline(model, model.step_time(running, min(wl.prompt_tokens, budget), _decode_ctx(wl), wl.prompt_tokens / 2),
                    running + min(wl.prompt_tokens, budget))
    queue = waiting * wl.gen_tokens * step / running
    ttft = 0.5 * step + math.ceil(wl.prompt_tokens / budget) * own + queue
    return Operating(running, step, ttft, running / step)


def _max_rate(model: StepModel, engine: Engine, wl: Workload, cap: int) -> float:
    """Requests per second the plan sustains: a full batch of cap, or the token budget."""
    step = _steady(model, engine, wl, cap)
    per_step = min(cap / wl.gen_tokens, engine.max_num_batched_tokens / (wl.prompt_tokens + wl.gen_tokens))
    return per_step / step


def _open_loop(model: StepModel, engine: Engine, wl: Workload, cap: int, rate: float, max_rate: float) -> Operating:
    """Poisson arrivals: the batch settles where arrivals equal completions; queueing near capacity."""
    decode = 1.0
    for _ in range(60):  # fixed point of decode = rate x gen_tokens x step(decode)
        decode = min(max(rate * wl.gen_tokens * _steady(model, engine, wl, decode), 1e-3), cap)
    step = _steady(model, engine, wl, decode)
    rho = min(rate / max_rate, 0.98)
    budget = max(engine.max_num_batched_tokens - decode, 1)
    own = _pipeline(model, model.step_time(decode, min(wl.prompt_tokens, budget), _decode_ctx(wl), wl.prompt_tokens / 2),
                    decode + min(wl.prompt_tokens, budget))
    # Waiting for a batch slot grows like rho / (1 - rho) steps as the rate nears capacity.
    ttft = 0.5 * step + math.ceil(wl.prompt_tokens / budget) * own + rho / (1 - rho) * step
    return Operating(decode, step, ttft, min(rate, max_rate) * wl.gen_tokens)


def _triple(values: list[float], half: float) -> tuple[float, float, float]:
    """(low, expected, high): the first value is expected; the range covers all with a margin."""
    return min(values) * (1 - half), values[0], max(values) * (1 + half)


def estimate(model: StepModel, engine: Engine, memory: MemoryPlan, wl: Workload, half: float) -> PerfResult:
    """Performance of the plan under the workload, each figure as (low, expected, high)."""
    cap, cap_reason = _capacity(engine, memory, wl)
    max_rate = _max_rate(model, engine, wl, cap)
    notes = [f"running batch capped by {cap_reason}"]
    saturated = False
    if wl.request_rate:
        saturated = wl.request_rate >= max_rate
        ops = [_open_loop(model, engine, wl, cap, wl.request_rate, max_rate)]
        notes.append(f"Poisson arrivals at {wl.request_rate:g} requests/s ({wl.request_rate / max_rate:.0%} of the {max_rate:.2f}/s the plan sustains)")
        if saturated:
            notes.append("the request rate exceeds what the plan sustains: the queue and TTFT grow for as long as the load lasts")
    else:
        requests = wl.burst or wl.concurrency or 1
        in_flight = min(wl.concurrency or requests, requests)
        running = min(in_flight, cap)
        saturated = in_flight > cap
        waves = _waves(model, engine, wl, running, requests if wl.burst else in_flight)
        steady = _steady_closed(model, engine, wl, running, in_flight - running)
        # Published closed-loop runs land between the two on TTFT: clients resubmit a few
        # milliseconds apart, so each wave's prompts are only partly batched together.
        blended = Operating(waves.batch, waves.tpot_s, (waves.ttft_s + steady.ttft_s) / 2, waves.output_tokens_per_s)
        ops = [blended, waves, steady]
        notes.append(f"{requests} prompts sent at once" if wl.burst else f"closed loop with {in_flight} requests in flight")
        notes.append("requests of equal length stay in step (waves of prefill then decode); varied lengths would smooth "
                     "TTFT and throughput towards the steady state, which bounds the range")
        if saturated:
            notes.append(f"{in_flight - running} requests wait for a slot: their wait is part of TTFT")
    op = ops[0]
    output = _triple([o.output_tokens_per_s for o in ops], half)
    prefill_step = _pipeline(model, model.step_time(0, engine.max_num_batched_tokens, 0, min(wl.prompt_tokens, engine.max_num_batched_tokens) / 2),
                             engine.max_num_batched_tokens)
    return PerfResult(
        prefill_tokens_per_s=engine.max_num_batched_tokens / prefill_step,
        decode_tokens_per_s=1 / op.tpot_s,
        itl_ms=_triple([o.tpot_s * 1000 for o in ops], half),
        ttft_ms=_triple([o.ttft_s * 1000 for o in ops], min(2 * half, 0.9)),
        output_tokens_per_s=output,
        request_throughput_per_s=tuple(v / wl.gen_tokens for v in output),  # type: ignore[arg-type]
        max_request_rate_per_s=max_rate,
        batch=op.batch,
        saturated=saturated,
        assumptions=notes,
    )


def spread(model: StepModel, gpu: GpuSpec) -> tuple[float, str]:
    """Relative half-width of the range, and why."""
    if gpu.id not in CALIBRATED_GPUS:
        return SPREAD["uncalibrated"], f"{gpu.name} has no published vLLM benchmark in the calibration set: wider range"
    if model.inter_node_hops:
        return SPREAD["uncalibrated"], "multi-node: no published multi-node vLLM benchmark in the calibration set, and networks differ"
    if model.moe_layers:
        return SPREAD["moe"], "MoE: expert routing and kernel overheads vary most"
    if model.tp > 1 or model.pp > 1:
        return SPREAD["tp"], "multi-GPU: communication overheads add uncertainty"
    return SPREAD["dense"], "dense model on one calibrated GPU"
