"""The search for a layout that fits: the smallest TP, relaxing the settings the user left open one at a time."""

from __future__ import annotations

from dataclasses import dataclass, replace

from wizard.errors import WizardError
from wizard.physics import quant
from wizard.physics.arch import Architecture
from wizard.physics.kv import block_size_for, kv_dtype_bytes
from wizard.physics.memory import Engine, MemoryPlan, plan_memory
from wizard.planning import recommend
from wizard.planning.feasibility import Verdict, judge
from wizard.planning.inputs import Hardware, Inputs
from wizard.planning.recommend import Choice

LEN_ROUNDING = 1024  # a recommended max_model_len that must shrink is rounded down to this


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


def _engine(inp: Inputs, tp: int, pp: int, kv_dtype: str, seqs: int, tokens: int, eager: bool) -> Engine:
    arch, gpu, rel = inp.arch, inp.hw.gpu, inp.rel
    dtype_bytes = quant.dtype_bytes(inp.dtype.value)
    return Engine(
        tp=tp,
        pp=pp,
        dtype_bytes=dtype_bytes,
        kv_bytes=kv_dtype_bytes(kv_dtype, dtype_bytes),
        block_size=block_size_for(arch, gpu),
        max_model_len=arch.max_model_len,
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
    return Choice(max(context, 1), "recommended", f"the requested context; the KV cache holds only {fitting:,} tokens per request")


def _longest(memory: MemoryPlan, which: str, limit: int) -> int:
    """Longest single request the pool holds at the low/expected/high end of the estimates."""
    stage = memory.limiting
    if getattr(stage.available, which) <= 0:
        return 0
    return stage.kv.max_tokens_per_request(memory.num_blocks_at(which), 1, limit)


def _evaluate(inp: Inputs, tp: int, pp: int, seqs: Choice, tokens: Choice, kv: Choice, eager: Choice) -> Candidate:
    arch, request = inp.arch, inp.request
    engine = _engine(inp, tp, pp, kv.value, seqs.value, tokens.value, eager.value)
    memory = plan_memory(arch, inp.fmt, engine, inp.hw.gpu.cuda_total_gib, inp.extra_params, inp.params_scale)
    wl = request.workload
    context = wl.prompt_tokens + wl.gen_tokens
    length = _max_model_len(memory, arch, request.model.max_model_len, context)
    resolved_len = length.value if isinstance(length.value, int) else max(
        1, memory.limiting.kv.max_tokens_per_request(memory.num_blocks, 1, arch.max_model_len))
    engine = replace(engine, max_model_len=resolved_len)
    verdict = judge(memory, resolved_len, arch.max_model_len, context, wl.requests_at_once, request.policy.headroom_gb,
                    inp.hw.gpu.consumer, inp.util.value)
    return Candidate(engine, seqs, memory, verdict, length, kv, eager)


@dataclass(frozen=True)
class Solution:
    """The chosen configuration and the choices behind it."""

    candidate: Candidate
    tensor_parallel_size: Choice
    pipeline_parallel_size: Choice
    max_num_seqs: Choice
    max_num_batched_tokens: Choice


def search(inp: Inputs) -> Solution:
    """Smallest TP that fits, relaxing the settings the user left open one at a time."""
    arch, fmt, hw, request = inp.arch, inp.fmt, inp.hw, inp.request
    hwr, wl, pol = request.hardware, request.workload, request.policy
    pp = hwr.pipeline_parallel_size or hw.nodes
    if hwr.tensor_parallel_size:
        recommend.check_tp(hwr.tensor_parallel_size, arch, fmt)
        tps = [hwr.tensor_parallel_size]
    else:
        tps = recommend.valid_tp_sizes(arch, fmt, hw.gpus_per_node)
        if not tps:
            raise WizardError(f"no tensor-parallel size up to {hw.gpus_per_node} splits this model's heads evenly", field="gpus")
    total = hw.gpus_per_node * hw.nodes
    if tps[0] * pp > total:
        raise WizardError(
            f"tensor_parallel_size {tps[0]} x pipeline_parallel_size {pp} needs {tps[0] * pp} GPUs; "
            f"only {total} are given (GPUs per node x nodes)", field="tensor_parallel_size"
        )
    tps = [tp for tp in tps if tp * pp <= total]
    if pp > arch.num_layers:
        raise WizardError(f"{pp} stages exceed the model's {arch.num_layers} layers", field="pipeline_parallel_size")
    seqs, tokens = recommend.batching(wl.batching_mode, hw.gpu, wl.requests_at_once, pol.max_num_seqs,
                                      pol.max_num_batched_tokens, inp.planned_len, inp.rel)
    kv_user, eager_user = request.model.kv_cache_dtype, pol.enforce_eager
    kv = Choice(kv_user, "user", "set by the user") if kv_user else Choice(
        "auto", "vllm default", "the model dtype: the workload fits without fp8")
    eager = Choice(eager_user, "user", "set by the user") if eager_user is not None else Choice(
        False, "vllm default", "CUDA graphs fit and speed up small batches")
    # Settings the user left open are relaxed one at a time, least costly first:
    # fewer scheduled sequences (never below the concurrency), then fp8 KV cache,
    # then eager mode.
    seq_options = [seqs]
    if seqs.source != "user":
        floor = max(recommend.LATENCY_MIN_SEQS, 1 << (wl.requests_at_once - 1).bit_length())
        seq_options += [Choice(smaller, "recommended", (
            f"lowered from {seqs.value}: vLLM's profiling run reserves sampler memory for max_num_seqs x vocabulary "
            f"logits, and at {smaller} the plan fits (still >= the requested concurrency)"))
            for smaller in (512, 256, 128, 64) if floor <= smaller < seqs.value]
    kv_options = [kv]
    if not kv_user and hw.gpu.fp8_native:
        kv_options.append(Choice("fp8", "recommended", f"the plan is limited by KV-cache memory and {hw.gpu.name} supports FP8: fp8 halves the cache"))
    eager_options = [eager]
    if eager_user is None:
        eager_options.append(Choice(True, "recommended", "CUDA graphs would not fit: eager mode frees their memory for the KV cache"))
    levels = [(s, k, e) for k in kv_options for e in eager_options for s in seq_options]
    def fits_at(level: tuple[Choice, Choice, Choice]) -> list[Candidate]:
        level_seqs, level_kv, level_eager = level
        return [c for c in (_evaluate(inp, tp, pp, level_seqs, tokens, level_kv, level_eager) for tp in tps) if c.verdict.fits]

    fitting = fits_at(levels[0])
    # Every relaxation only frees memory, so when even the last level (all of them
    # at once) fits nothing, the levels in between cannot fit either: skip them.
    if not fitting and len(levels) > 1 and fits_at(levels[-1]):
        for level in levels[1:]:
            fitting = fits_at(level)
            if fitting:
                break
    if fitting:
        # Prefer the smallest TP that also serves the model's whole context when the
        # user left max_model_len open; else the smallest TP that fits the workload.
        full = [c for c in fitting if c.engine.max_model_len >= arch.max_model_len]
        cand = (full or fitting)[0]
    else:
        # Nothing fits: report the largest TP with the user's (or vLLM's default) settings.
        cand = _evaluate(inp, tps[-1], pp, seqs, tokens, levels[0][1], levels[0][2])
    if cand.kv_cache_dtype is kv and not kv_user and not cand.verdict.fits:
        why = ("fp8 did not make it fit either" if hw.gpu.fp8_native else
               f"{hw.gpu.name} has no native FP8, so the planner does not choose an fp8 cache for it")
        cand = replace(cand, kv_cache_dtype=Choice("auto", "vllm default", f"the model dtype; {why}"))
    tp_choice, pp_choice = _tp_choices(cand, tps, hwr.tensor_parallel_size, pp, hwr.pipeline_parallel_size, hw, arch)
    return Solution(cand, tp_choice, pp_choice, cand.max_num_seqs, tokens)


def _tp_choices(cand: Candidate, tps: list[int], user_tp: int | None, pp: int, user_pp: int | None,
                hw: Hardware, arch: Architecture) -> tuple[Choice, Choice]:
    tp = cand.engine.tp
    if user_tp:
        tp_choice = Choice(tp, "user", "set by the user")
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
    if user_pp:
        pp_choice = Choice(pp, "user", "set by the user")
    elif pp > 1:
        pp_choice = Choice(pp, "recommended", f"one pipeline stage per node across {hw.nodes} nodes")
    else:
        pp_choice = Choice(1, "vllm default", "one node holds the model")
    return tp_choice, pp_choice
