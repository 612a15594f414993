"""The search for a layout that fits: the smallest TP, relaxing the settings the user left open one at a time.

For a mixture-of-experts model the data-parallel + expert-parallel layout
(every GPU its own engine and KV cache, whole experts spread over all of them)
competes with tensor parallelism and wins when it holds much more KV cache.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from wizard.errors import WizardError
from wizard.physics import quant
from wizard.physics.arch import Architecture
from wizard.physics.kv import block_size_for, kv_dtype_bytes
from wizard.physics.memory import Engine, MemoryPlan, plan_memory
from wizard.planning import recommend
from wizard.planning.feasibility import Verdict, judge
from wizard.planning.inputs import Hardware, Inputs
from wizard.planning.recommend import Choice
from wizard.schema import HardwareSection

LEN_ROUNDING = 1024  # a recommended max_model_len that must shrink is rounded down to this
# DP + EP is recommended over tensor parallelism on the same GPUs when it holds at least this
# much more KV cache: MLA models, whose latent cache every TP rank stores whole, gain ~TP-fold.
DP_EP_KV_GAIN = 1.5


@dataclass(frozen=True)
class Layout:
    """How the GPUs are split: tensor x pipeline inside each engine, data-parallel engines, whole experts or slices."""

    tp: int
    pp: int = 1
    dp: int = 1
    expert_parallel: bool = False


@dataclass(frozen=True)
class Candidate:
    """One evaluated configuration."""

    engine: Engine
    max_num_seqs: Choice
    memory: MemoryPlan
    verdict: Verdict
    max_model_len: Choice
    kv_cache_dtype: Choice
    enforce_eager: Choice


def _engine_settings(inp: Inputs, layout: Layout, kv_dtype: str, seqs: int, tokens: int, eager: bool) -> dict[str, Any]:
    """An Engine's fields but max_model_len, which the memory plan does not read and its result resolves."""
    arch, gpu, rel = inp.arch, inp.hw.gpu, inp.rel
    dtype_bytes = quant.dtype_bytes(inp.dtype.value)
    return dict(
        tp=layout.tp,
        pp=layout.pp,
        dp=layout.dp,
        expert_parallel=layout.expert_parallel,
        dtype_bytes=dtype_bytes,
        kv_bytes=kv_dtype_bytes(kv_dtype, dtype_bytes),
        block_size=block_size_for(arch, gpu),
        max_num_seqs=seqs,
        max_num_batched_tokens=tokens,
        gpu_memory_utilization=inp.util.value,
        cuda_graphs=not eager,
        nvlink=inp.hw.interconnect == "nvlink",
        max_capture_ceiling=1024 if gpu.cc is not None and (10, 0) <= gpu.cc < (11, 0) else 512,
        sampler_copies=rel.sampler_copies,
        cuda_graphs_in_budget=rel.cuda_graphs_in_budget,
        v0=rel.engine == "V0",
        # V0 with chunked prefill (context > 32K) profiled partial prompts, which sample
        # nothing: its logs show no sampler peak (RTX 4090 / A10 rows, 0.19-0.22 GiB).
        sampler_in_profile=not (rel.engine == "V0" and tokens < inp.planned_len),
        overhead_gib=inp.request.policy.overhead_gb,
        fragmentation_factor=inp.request.policy.fragmentation_factor,
        mxfp4_kernel=quant.mxfp4_kernel(gpu.cc, gpu.vendor, rel.version, image=inp.request.policy.vllm_install == "image"),
        sliding_reserves_in_flight=rel.sliding_reserves_in_flight,
        kv_cache_memory_bytes=inp.request.policy.kv_cache_memory_bytes,
    )


def _max_model_len(memory: MemoryPlan, arch: Architecture, requested: int | str | None, context: int) -> Choice:
    limit = arch.max_model_len
    if isinstance(requested, int):
        if requested > limit:
            raise WizardError(
                f"{requested:,} is above the model's maximum of {limit:,} tokens; vLLM rejects it", field="max_model_len")
        return Choice(requested, "user", "set by the user")
    fitting = _longest(memory, "expected", limit)
    if requested == "auto":
        return Choice("auto", "user", f"vLLM fits it to memory at start-up: about {fitting:,} tokens")
    safe = _longest(memory, "low", limit)
    if safe >= limit:
        return Choice(limit, "recommended", f"the model's maximum ({limit:,}); the KV cache holds a request that long")
    for length, why in (
        (safe, f"the longest request the KV cache holds even at the high end of the memory estimates ({safe:,} tokens)"),
        (fitting, f"the longest request the expected KV cache holds ({fitting:,} tokens)"),
    ):
        rounded = length // LEN_ROUNDING * LEN_ROUNDING if length >= LEN_ROUNDING else length
        if rounded >= context:
            return Choice(rounded, "recommended", f"{why}, rounded down; the model allows {limit:,}")
    if context > limit:  # never above the model's maximum: vLLM would not start (and refuses such requests anyway)
        return Choice(limit, "recommended", f"the model's maximum ({limit:,}); the requested context ({context:,} tokens) "
                                            f"is longer, and the KV cache holds only {fitting:,} tokens per request")
    return Choice(max(context, 1), "recommended", f"the requested context; the KV cache holds only {fitting:,} tokens per request")


def _longest(memory: MemoryPlan, which: str, limit: int) -> int:
    """Longest single request the pool holds at the low/expected/high end of the estimates."""
    stage = memory.limiting
    if getattr(stage.available, which) <= 0:
        return 0
    return stage.kv.max_tokens_per_request(memory.num_blocks_at(which), 1, limit)


def _evaluate(inp: Inputs, layout: Layout, seqs: Choice, tokens: Choice, kv: Choice, eager: Choice) -> Candidate:
    arch, request = inp.arch, inp.request
    settings = _engine_settings(inp, layout, kv.value, seqs.value, tokens.value, eager.value)
    engine = Engine(**settings, max_model_len=arch.max_model_len)
    memory = plan_memory(arch, inp.fmt, engine, inp.hw.gpu.cuda_total_gib, inp.extra_params, inp.params_scale)
    wl = request.workload
    context = wl.prompt_tokens + wl.gen_tokens
    length = _max_model_len(memory, arch, request.model.max_model_len, context)
    resolved_len = length.value if isinstance(length.value, int) else max(
        1, memory.limiting.kv.max_tokens_per_request(memory.num_blocks, 1, arch.max_model_len))
    if resolved_len != engine.max_model_len:
        engine = Engine(**settings, max_model_len=resolved_len)
    # The load balancer spreads requests over the replicas, each API server over its engines.
    per_engine = -(-wl.requests_at_once // (layout.dp * request.hardware.replicas))
    verdict = judge(memory, resolved_len, arch.max_model_len, context, per_engine, request.policy.headroom_gb,
                    inp.hw.gpu.consumer, inp.util.value, layout.dp)
    return Candidate(engine, seqs, memory, verdict, length, kv, eager)


@dataclass(frozen=True)
class Solution:
    """The chosen configuration and the choices behind it."""

    candidate: Candidate
    tensor_parallel_size: Choice
    pipeline_parallel_size: Choice
    data_parallel_size: Choice
    expert_parallel: Choice
    max_num_seqs: Choice
    max_num_batched_tokens: Choice


def _layouts(inp: Inputs) -> tuple[list[Layout], list[Layout]]:
    """(the tensor-parallel layouts to try, smallest TP first; the data + expert parallel ones), checked."""
    arch, fmt, hw, hwr = inp.arch, inp.fmt, inp.hw, inp.request.hardware
    total = hw.gpus_per_node * hw.nodes
    dp_user, ep_user = hwr.data_parallel_size, hwr.enable_expert_parallel
    pp = hwr.pipeline_parallel_size or (1 if dp_user and dp_user > 1 else hw.nodes)
    if pp > arch.num_layers:
        if hwr.pipeline_parallel_size:
            raise WizardError(f"{pp} stages exceed the model's {arch.num_layers} layers", field="pipeline_parallel_size")
        raise WizardError(f"{hw.nodes} nodes are {pp} pipeline stages (one per node), more than the model's "
                          f"{arch.num_layers} layers: use fewer nodes, or set data parallelism to run an engine on each",
                          field="nodes")
    if ep_user and arch.moe is None:
        raise WizardError("this model has no experts to spread", field="enable_expert_parallel")
    if hwr.tensor_parallel_size:
        recommend.check_tp(hwr.tensor_parallel_size, arch, fmt)
        tps = [hwr.tensor_parallel_size]
    else:
        tps = recommend.valid_tp_sizes(arch, fmt, hw.gpus_per_node)
        if not tps:
            raise WizardError(f"no tensor-parallel size up to {hw.gpus_per_node} splits this model's heads evenly", field="gpus")
    dp = dp_user or 1
    if tps[0] * pp * dp > total:
        raise WizardError(f"TP {tps[0]} x {pp} pipeline stage(s) x {dp} data-parallel engine(s) needs {tps[0] * pp * dp} GPUs; "
                          f"only {total} are given (GPUs per node x nodes)",
                          field="data_parallel_size" if dp_user else "tensor_parallel_size")
    layouts = [Layout(tp, pp, dp, recommend.expert_parallel(arch, tp * dp).value if ep_user is None else ep_user)
               for tp in tps if tp * pp * dp <= total]
    if ep_user:
        layouts = [lay for lay in layouts if arch.moe.num_experts % (lay.tp * lay.dp) == 0] or _no_even_split(
            arch, layouts[0].tp * dp)
    wide = []
    if arch.moe and dp_user is None and ep_user is not False and not hwr.pipeline_parallel_size:
        # Every GPU an engine (or a few TP-wide ones) with whole experts spread over all of them.
        wide = [Layout(tp, 1, total // tp, True) for tp in tps
                if total % tp == 0 and total // tp > 1 and arch.moe.num_experts % total == 0]
    return layouts, wide


def _no_even_split(arch: Architecture, ep: int) -> list[Layout]:
    raise WizardError(f"{arch.moe.num_experts} experts do not spread evenly over {ep} GPUs", field="enable_expert_parallel")


def _levels(inp: Inputs, seqs: Choice) -> tuple[tuple[Choice, Choice, Choice], ...]:
    """The settings the user left open, relaxed one at a time, least costly first: fewer scheduled
    sequences (never below the concurrency), then fp8 KV cache, then eager mode."""
    request, gpu = inp.request, inp.hw.gpu
    return _relaxations(seqs, request.model.kv_cache_dtype, request.policy.enforce_eager,
                        request.workload.requests_at_once, gpu.name, gpu.fp8_native)


@lru_cache(maxsize=256)
def _relaxations(seqs: Choice, kv_user: str | None, eager_user: bool | None, requests_at_once: int, gpu_name: str,
                 fp8_native: bool) -> tuple[tuple[Choice, Choice, Choice], ...]:
    """:func:`_levels` from what it reads, kept: every candidate of a sweep asks, and a sweep's settings are few."""
    kv = Choice(kv_user, "user", "set by the user") if kv_user else Choice(
        "auto", "vllm default", "the model dtype: the workload fits without fp8")
    eager = Choice(eager_user, "user", "set by the user") if eager_user is not None else Choice(
        False, "vllm default", "CUDA graphs fit and speed up small batches")
    seq_options = [seqs]
    if seqs.source != "user":
        floor = max(recommend.LATENCY_MIN_SEQS, 1 << (requests_at_once - 1).bit_length())
        seq_options += [Choice(smaller, "recommended", (
            f"lowered from {seqs.value}: vLLM's profiling run reserves sampler memory for max_num_seqs x vocabulary "
            f"logits, and at {smaller} the plan fits (still >= the requested concurrency)"))
            for smaller in (512, 256, 128, 64) if floor <= smaller < seqs.value]
    kv_options = [kv]
    if not kv_user and fp8_native:
        kv_options.append(Choice("fp8", "recommended", f"the plan is limited by KV-cache memory and {gpu_name} "
                                                       "supports FP8: fp8 halves the cache"))
    eager_options = [eager]
    if eager_user is None:
        eager_options.append(Choice(True, "recommended", "CUDA graphs would not fit: eager mode frees their memory for the KV cache"))
    return tuple((s, k, e) for k in kv_options for e in eager_options for s in seq_options)


def _fitting(inp: Inputs, layouts: list[Layout], levels: tuple[tuple[Choice, Choice, Choice], ...],
             tokens: Choice) -> tuple[list[Candidate], list[Candidate]]:
    """The layouts that fit at the first level where any does (every relaxation only frees memory), and every
    layout evaluated at the first level (what a plan that fits nowhere reports)."""
    def evaluated_at(level: tuple[Choice, Choice, Choice]) -> list[Candidate]:
        level_seqs, level_kv, level_eager = level
        return [_evaluate(inp, lay, level_seqs, tokens, level_kv, level_eager) for lay in layouts]

    def fits_at(level: tuple[Choice, Choice, Choice]) -> list[Candidate]:
        return [c for c in evaluated_at(level) if c.verdict.fits]

    if not layouts:
        return [], []
    first = evaluated_at(levels[0])
    fitting = [c for c in first if c.verdict.fits]
    # When even the last level (every relaxation at once) fits nothing, the ones between cannot either; and
    # none can where the weights alone overflow.
    if (not fitting and len(levels) > 1 and not all(c.memory.weights_overflow for c in first)
            and fits_at(levels[-1])):
        for level in levels[1:]:
            fitting = fits_at(level)
            if fitting:
                break
    return fitting, first


def _kv_tokens(cand: Candidate, replicas: int = 1) -> int:
    """The deployment's KV cache in tokens: every engine's pool (and every replica's)."""
    return cand.memory.num_blocks * cand.memory.limiting.kv.block_size * cand.engine.dp * replicas


def search(inp: Inputs) -> Solution:
    """Smallest TP that fits, relaxing the settings the user left open one at a time; DP + EP when it holds far more."""
    arch, hw, request = inp.arch, inp.hw, inp.request
    wl, pol = request.workload, request.policy
    layouts, wide = _layouts(inp)
    seqs, tokens = recommend.batching(wl.batching_mode, hw.gpu, wl.requests_at_once, pol.max_num_seqs,
                                      pol.max_num_batched_tokens, inp.planned_len, inp.rel)
    levels = _levels(inp, seqs)
    fitting, first = _fitting(inp, layouts, levels, tokens)
    if fitting:
        # Prefer the smallest TP that also serves the model's whole context when the
        # user left max_model_len open; else the smallest TP that fits the workload.
        full = [c for c in fitting if c.engine.max_model_len >= arch.max_model_len]
        cand = (full or fitting)[0]
    else:
        # Nothing fits: report the largest TP with the user's (or vLLM's default) settings.
        cand = first[-1]
    dp_choice, ep_choice = _parallel_choices(inp, cand)
    spread = _spread_over_all(inp, cand, wide, levels, tokens)
    if spread:
        cand, dp_choice, ep_choice = spread
    if cand.kv_cache_dtype.source != "user" and cand.kv_cache_dtype.value == "auto" and not cand.verdict.fits:
        why = ("fp8 did not make it fit either" if hw.gpu.fp8_native else
               f"{hw.gpu.name} has no native FP8, so the planner does not choose an fp8 cache for it")
        cand = replace(cand, kv_cache_dtype=Choice("auto", "vllm default", f"the model dtype; {why}"))
    tp_choice, pp_choice = _tp_choices(cand, [lay.tp for lay in layouts], request.hardware, hw, arch, bool(spread))
    return Solution(cand, tp_choice, pp_choice, dp_choice, ep_choice, cand.max_num_seqs, tokens)


def _spread_over_all(inp: Inputs, cand: Candidate, wide: list[Layout],
                     levels: tuple[tuple[Choice, Choice, Choice], ...],
                     tokens: Choice) -> tuple[Candidate, Choice, Choice] | None:
    """The data + expert parallel layout holding the most KV cache, with its reasons, when it holds
    DP_EP_KV_GAIN times what the tensor-parallel candidate (replicated over the GPUs) does, or fits where it does not."""
    arch, hw = inp.arch, inp.hw
    spread = [c for c in _fitting(inp, wide, levels, tokens)[0] if c.engine.max_model_len >= cand.engine.max_model_len]
    if not spread:
        return None
    best = max(spread, key=_kv_tokens)
    experts, ep = arch.moe.num_experts, best.engine.ep
    if cand.verdict.fits:
        replicas = max(hw.gpus_per_node * hw.nodes // (cand.engine.tp * cand.engine.pp), 1)
        gain = _kv_tokens(best) / max(_kv_tokens(cand, replicas), 1)
        if gain < DP_EP_KV_GAIN:
            return None
        than = f"TP {cand.engine.tp}" + (f" x PP {cand.engine.pp}" if cand.engine.pp > 1 else "") + (
            f" x {replicas} replicas" if replicas > 1 else "")
        why = (f"holds {gain:.1f}x the KV cache of {than}: each of the {best.engine.dp} engines keeps its own pool"
               + (" and the latent cache whole" if arch.mla else "") + f", and every GPU only {experts // ep} whole experts")
    else:
        why = "fits where no tensor-parallel layout does"
    return (best, Choice(best.engine.dp, "recommended", f"data parallel with expert parallelism {why}"),
            Choice(True, "recommended", f"spreads the {experts} experts whole over all {ep} GPUs, {experts // ep} on each "
                                        "(vLLM's data + expert parallel recipe for MoE)"))


def _parallel_choices(inp: Inputs, cand: Candidate) -> tuple[Choice, Choice]:
    """Data parallelism and expert parallelism as the user set them, or as vLLM and the planner default them."""
    hwr, engine = inp.request.hardware, cand.engine
    dp = Choice(engine.dp, "user", "set by the user") if hwr.data_parallel_size else Choice(
        1, "vllm default", "one engine: tensor parallelism holds the model")
    if hwr.enable_expert_parallel is not None:
        return dp, Choice(hwr.enable_expert_parallel, "user", "set by the user")
    return dp, recommend.expert_parallel(inp.arch, engine.moe_ranks)


def _tp_choices(cand: Candidate, tps: list[int], user: HardwareSection, hw: Hardware, arch: Architecture,
                spread: bool) -> tuple[Choice, Choice]:
    tp, pp = cand.engine.tp, cand.engine.pp
    if user.tensor_parallel_size:
        tp_choice = Choice(tp, "user", "set by the user")
    elif spread:
        tp_choice = Choice(tp, "recommended", f"each of the {cand.engine.dp} engines runs attention on {tp} GPU(s): "
                                              "the data-parallel layout with the largest KV cache")
    elif cand.verdict.fits:
        smaller = [t for t in tps if t < tp]
        full = cand.engine.max_model_len >= arch.max_model_len
        why = "the smallest size that divides the attention heads and holds the model, the workload"
        why += f" and the model's full {arch.max_model_len:,}-token context" if full else ""
        if smaller:
            why += f" (TP {smaller[-1]} does not)"
        tp_choice = Choice(tp, "recommended", why)
    else:
        tp_choice = Choice(tp, "recommended", f"the largest valid size on {hw.gpus_per_node} GPUs per node; the plan still does not fit")
    if user.pipeline_parallel_size:
        pp_choice = Choice(pp, "user", "set by the user")
    elif pp > 1:
        pp_choice = Choice(pp, "recommended", f"one pipeline stage per node across {hw.nodes} nodes")
    elif hw.nodes > 1:
        pp_choice = Choice(1, "vllm default", f"the data-parallel engines span the {hw.nodes} nodes")
    else:
        pp_choice = Choice(1, "vllm default", "one node holds the model")
    return tp_choice, pp_choice
