"""``plan()``: from a :class:`PlanRequest` to a :class:`PlanResponse`.

Resolves the model and the GPUs, chooses every vLLM setting the user left
open (smallest tensor-parallel size that fits, then fp8 KV cache, then eager
mode), sizes memory the way vLLM 0.33 does and judges the fit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from wizard.catalog.detect import DetectedGpu, detect_gpus
from wizard.catalog.gpus import GpuSpec, catalog, custom_gpu, get_gpu
from wizard.catalog.metadata import ModelInfo, catalog_ids, resolve_model
from wizard.deploy import artifacts
from wizard.errors import WizardError
from wizard.physics import perf, quant
from wizard.physics.arch import VERIFIED_MODEL_TYPES, Architecture
from wizard.physics.kv import block_size_for, kv_dtype_bytes
from wizard.physics.memory import GIB, Engine, MemoryPlan, plan_memory
from wizard.physics.params import active_params, count_params, mtp_params
from wizard.physics.versions import Release, release
from wizard.planning import recommend
from wizard.planning.feasibility import Verdict, judge
from wizard.planning.recommend import Choice
from wizard.schema import (
    Feasibility,
    FrontierPoint,
    GpuMemory,
    HardwareReport,
    MemoryReport,
    ModelReport,
    PerformanceReport,
    PlanRequest,
    PlanResponse,
    Range,
    Recommendation,
    Setting,
    Suggestion,
)

UNMODELLED_THRESHOLD = 0.003  # checkpoint tensors beyond the config's count worth reporting (0.3%)
LEN_ROUNDING = 1024  # a recommended max_model_len that must shrink is rounded down to this
MAX_SUGGESTIONS = 5  # verified fixes shown for a failing plan; each costs a full re-plan


@dataclass(frozen=True)
class Hardware:
    gpu: GpuSpec
    gpus_per_node: int
    nodes: int
    interconnect: str
    detected: bool
    warnings: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class Inputs:
    """Everything resolved before the search: model, weights format, GPUs, release, fixed choices."""

    request: PlanRequest
    info: ModelInfo
    fmt: quant.WeightFormat
    hw: Hardware
    rel: Release
    dtype: Choice
    util: Choice
    extra_params: int
    params_scale: float

    @property
    def arch(self) -> Architecture:
        return self.info.arch

    @property
    def planned_len(self) -> int:
        """max_model_len as far as it is known before memory is sized (the model's limit unless given)."""
        requested = self.request.model.max_model_len
        return requested if isinstance(requested, int) else self.arch.max_model_len


def _hardware(request: PlanRequest, detected: list[DetectedGpu] | None) -> Hardware:
    hw = request.hardware
    warnings: list[str] = []
    if hw.gpu in (None, "", "auto"):
        found = detected if detected is not None else detect_gpus()
        if not found:
            if hw.vram_gb:
                return Hardware(custom_gpu(hw.vram_gb), hw.gpus, hw.nodes, _link(hw.interconnect, "pcie"), False)
            raise WizardError("no GPU given and none detected on this machine: pass --gpu (e.g. --gpu H100) or --vram-gb")
        specs = [g.spec() for g in found]
        gpu = min(specs, key=lambda s: s.cuda_total_gib)
        if len({s.name for s in specs}) > 1:
            warnings.append(f"mixed GPUs detected ({', '.join(sorted({s.name for s in specs}))}); planning for the smallest, {gpu.name}")
        if hw.vram_gb:
            gpu = custom_gpu(hw.vram_gb, gpu)
        count = hw.gpus if "gpus" in hw.model_fields_set else len(found)
        return Hardware(gpu, count, hw.nodes, _link(hw.interconnect, gpu.interconnect), True, tuple(warnings))
    gpu = get_gpu(hw.gpu)
    if hw.vram_gb:
        gpu = custom_gpu(hw.vram_gb, gpu)
    return Hardware(gpu, hw.gpus, hw.nodes, _link(hw.interconnect, gpu.interconnect), False)


def _link(requested: str, default: str) -> str:
    return default if requested == "auto" else requested


def _weight_format(info: ModelInfo, request: PlanRequest, gpu: GpuSpec) -> quant.WeightFormat:
    fmt = quant.resolve(quant.from_checkpoint(info.arch.quantization_config), request.model.quantization)
    if fmt.kind in ("float", "mxfp4", "nvfp4") and fmt.bits <= 8 and not gpu.ampere_or_newer:
        raise WizardError(f"{fmt.label} needs compute capability 8.0 or newer; {gpu.name} is {gpu.compute_capability}")
    return fmt


def _params(info: ModelInfo, request: PlanRequest, fmt: quant.WeightFormat) -> tuple[int, int, float, list[str]]:
    """(extra unmodelled params, params vLLM loads, weight scale, notes)."""
    arch = info.arch
    counted = count_params(arch)
    notes: list[str] = []
    if arch.model_type not in VERIFIED_MODEL_TYPES:
        notes.append(
            f"model_type {arch.model_type!r} is not among the families checked against published parameter counts; "
            "weights assume a Llama-style layout (gated MLP, RMSNorm)."
        )
    extra = 0
    loaded = counted
    stored = info.params_loaded if info.params_loaded is not None else (
        info.params_total - mtp_params(arch) if info.params_total else None)
    if stored and fmt.kind == "none":
        diff = stored - counted
        tied_head = arch.vocab_size * arch.hidden_size
        if arch.tie_word_embeddings and abs(diff - tied_head) <= UNMODELLED_THRESHOLD * counted:
            # The checkpoint stores the LM head although the config ties it: vLLM loads it once.
            diff = 0
            notes.append("The checkpoint stores a copy of the tied LM head; vLLM ties it to the embedding and loads it once.")
        if diff > UNMODELLED_THRESHOLD * counted:
            extra = diff
            loaded = stored
            notes.append(
                f"The checkpoint holds {diff / 1e9:.2f}B parameters the text config does not describe "
                "(e.g. a vision tower); counted in the model dtype, split over TP."
            )
        elif diff < -UNMODELLED_THRESHOLD * counted:
            notes.append(
                f"The checkpoint holds {stored:,} parameters but the config describes {counted:,}; weights follow the config."
            )
    scale = 1.0
    if request.model.params_b:
        target = request.model.params_b * 1e9
        scale = target / (counted + extra)
        loaded = int(target)
        notes.append(f"Parameter count overridden to {request.model.params_b:g}B (weights scaled by {scale:.3f}); architecture from config.json.")
    return extra, loaded, scale, notes


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
    )


def _max_model_len(memory: MemoryPlan, arch: Architecture, requested: int | str | None, context: int) -> Choice:
    limit = arch.max_model_len
    if isinstance(requested, int):
        if requested > limit:
            raise WizardError(
                f"max_model_len {requested:,} is above the model's maximum of {limit:,} tokens; vLLM rejects it"
            )
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
    verdict = judge(memory, resolved_len, arch.max_model_len, context, wl.concurrency, request.policy.headroom_gb,
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
            raise WizardError(f"no tensor-parallel size up to {hw.gpus_per_node} splits this model's heads evenly")
    total = hw.gpus_per_node * hw.nodes
    if tps[0] * pp > total:
        raise WizardError(
            f"tensor_parallel_size {tps[0]} x pipeline_parallel_size {pp} needs {tps[0] * pp} GPUs; "
            f"only {total} are given (--gpus x --nodes)"
        )
    tps = [tp for tp in tps if tp * pp <= total]
    if pp > arch.num_layers:
        raise WizardError(f"pipeline_parallel_size {pp} exceeds the model's {arch.num_layers} layers")
    seqs, tokens = recommend.batching(wl.batching_mode, hw.gpu, wl.concurrency, pol.max_num_seqs,
                                      pol.max_num_batched_tokens, inp.planned_len, inp.rel)
    kv_user, eager_user = request.model.kv_cache_dtype, pol.enforce_eager
    kv = Choice(kv_user, "user", "set by the user") if kv_user else Choice(
        "auto", "vllm default", "the model dtype; the KV cache is not the limit")
    eager = Choice(eager_user, "user", "set by the user") if eager_user is not None else Choice(
        False, "vllm default", "CUDA graphs fit and speed up small batches")
    # Settings the user left open are relaxed one at a time, least costly first:
    # fewer scheduled sequences (never below the concurrency), then fp8 KV cache,
    # then eager mode.
    seq_options = [seqs]
    if seqs.source != "user":
        floor = max(recommend.LATENCY_MIN_SEQS, 1 << (wl.concurrency - 1).bit_length())
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


def _setting(choice: Choice) -> Setting:
    return Setting(value=choice.value, source=choice.source, reason=choice.reason)


def _gib(value: float) -> float:
    return round(value / GIB, 2)


def resolve_inputs(request: PlanRequest, detected: list[DetectedGpu] | None = None) -> Inputs:
    """Resolve the model, GPUs, release, weight format, dtype and utilization of a request."""
    info = resolve_model(request.model.model, request.model.revision)
    hw = _hardware(request, detected)
    rel = release(request.policy.vllm_version, pre_ampere=not hw.gpu.ampere_or_newer)
    fmt = _weight_format(info, request, hw.gpu)
    extra, _, scale, _ = _params(info, request, fmt)
    return Inputs(
        request=request,
        info=info,
        fmt=fmt,
        hw=hw,
        rel=rel,
        dtype=recommend.dtype(request.model.dtype, info.arch, hw.gpu),
        util=recommend.utilization(request.policy.gpu_memory_utilization, hw.gpu, rel),
        extra_params=extra,
        params_scale=scale,
    )


def plan(request: PlanRequest, detected: list[DetectedGpu] | None = None, suggest: bool = True) -> PlanResponse:
    """Plan a vLLM deployment. Raises :class:`WizardError` for bad input.

    When the plan does not fit and ``suggest`` is set, the changes that would
    make it fit are planned too and listed in ``recommendation.suggestions``.
    """
    inp = resolve_inputs(request, detected)
    response = _response(inp, search(inp))
    if suggest and not response.feasibility.fits:
        response.recommendation.suggestions = _suggestions(inp, response, detected)
    return response


def _variants(inp: Inputs, resp: PlanResponse) -> list[tuple[str, str, dict[str, Any]]]:
    """Candidate changes, cheapest first: fewer requests, shorter context, fp8 KV, quantization, more or bigger GPUs."""
    arch, request, hw = inp.arch, inp.request, inp.hw
    f = resp.feasibility
    out: list[tuple[str, str, dict[str, Any]]] = []  # (group, text, changes): one suggestion per group
    if f.starts and not f.workload_fits and 0 < f.max_concurrency < request.workload.concurrency:
        out.append(("load", f"serve {f.max_concurrency} requests at once instead of {request.workload.concurrency}",
                    {"concurrency": f.max_concurrency}))
    if not f.starts and f.max_context_tokens == 0 and isinstance(request.model.max_model_len, int):
        out.append(("context", "let vLLM fit max_model_len to memory", {"max_model_len": "auto"}))
    if resp.memory.kv_cache_dtype == "auto" and hw.gpu.ampere_or_newer:
        out.append(("kv", "store the KV cache in fp8 (half the bytes per token)", {"kv_cache_dtype": "fp8"}))
    if inp.fmt.kind == "none":
        for entry_id in quantized_siblings(arch):
            out.append(("checkpoint", f"use the pre-quantized checkpoint {entry_id}", {"model": entry_id, "quantization": None}))
        if hw.gpu.ampere_or_newer:
            out.append(("fp8", "quantize the weights to fp8 when vLLM loads them (--quantization fp8)", {"quantization": "fp8"}))
    gpus = hw.gpus_per_node
    if gpus < 8:
        more = 1 << gpus.bit_length() if gpus & (gpus - 1) == 0 else 1 << (gpus - 1).bit_length()
        out.append(("more", f"use {more} x {hw.gpu.name} with tensor parallelism", {"gpus": more, "tensor_parallel_size": None}))
    for bigger in sorted((g for g in catalog() if g.cuda_total_gib > hw.gpu.cuda_total_gib and g.vendor == hw.gpu.vendor),
                         key=lambda g: g.cuda_total_gib):
        out.append(("bigger", f"use {bigger.name} GPUs ({bigger.cuda_total_gib:g} GiB each)", {"gpu": bigger.name, "vram_gb": None}))
    return out


def quantized_siblings(arch: Architecture) -> list[str]:
    """Catalog checkpoints with the same shapes as ``arch`` but quantized weights."""
    keys = ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "vocab_size", "model_type")
    found = []
    for model_id in catalog_ids():
        other = resolve_model(model_id).arch
        if other.quantization_config and all(getattr(other, k) == getattr(arch, k) for k in keys):
            found.append(model_id)
    return found


def _suggestions(inp: Inputs, resp: PlanResponse, detected: list[DetectedGpu] | None) -> list[Suggestion]:
    """The variants that fit when planned (at most five)."""
    flat = inp.request.flat()
    found: list[Suggestion] = []
    done: set[str] = set()
    for group, text, changes in _variants(inp, resp):
        if group in done:
            continue
        try:
            variant = plan(PlanRequest.from_flat({**flat, **changes}), detected, suggest=False)
        except WizardError:
            continue
        if variant.feasibility.fits:
            found.append(Suggestion(text=text, changes=changes))
            done.add(group)
        if len(found) == MAX_SUGGESTIONS:
            break
    return found


# ------------------------------------------------------------------ response assembly


def _model_report(info: ModelInfo, fmt: quant.WeightFormat, loaded: int, kv_bytes: int, notes: list[str]) -> ModelReport:
    arch = info.arch
    counted = count_params(arch)
    kinds: dict[str, int] = {}
    for kind in arch.layer_kinds:
        label = f"sliding_attention (window {arch.sliding_window})" if kind == "sliding" else (
            "mla_attention" if arch.mla else "full_attention")
        kinds[label] = kinds.get(label, 0) + 1
    moe = None
    if arch.moe:
        m = arch.moe
        moe = f"{m.num_experts} experts, top-{m.top_k}, expert width {m.expert_intermediate}"
        if m.shared_intermediate:
            moe += f", shared width {m.shared_intermediate}"
        if m.dense_layers:
            moe += f", {len(m.dense_layers)} dense layers"
    total = info.params_total if (info.params_total and fmt.kind == "none") else counted + mtp_params(arch)
    return ModelReport(
        model=info.model,
        source=info.source,  # type: ignore[arg-type]
        revision=info.revision,
        architecture=arch.architecture,
        model_type=arch.model_type,
        params_total=total,
        params_loaded=loaded,
        params_source=info.params_source if fmt.kind == "none" else "config.json (packed quantized tensors are not a parameter count)",
        params_active=info.params_active or active_params(arch),
        num_layers=arch.num_layers,
        hidden_size=arch.hidden_size,
        num_attention_heads=arch.num_heads,
        num_kv_heads=arch.num_kv_heads,
        head_dim=arch.head_dim,
        vocab_size=arch.vocab_size,
        attention=arch.attention,
        layer_types=kinds,
        moe=moe,
        max_model_len_limit=arch.max_model_len,
        torch_dtype=arch.torch_dtype,
        quantization=None if fmt.kind == "none" or fmt.online else fmt.label,
        kv_bytes_per_token=arch.num_layers * arch.kv_elements_per_token_layer * kv_bytes,
        notes=list(info.notes) + notes,
    )


def _memory_report(cand: Candidate, rel: Release, kv_dtype: str, model_limit: int) -> MemoryReport:
    mem, engine = cand.memory, cand.engine
    stage = mem.limiting
    layout = stage.kv
    blocks = mem.num_blocks
    conc = layout.max_concurrency(blocks, engine.max_model_len) if blocks else 0.0
    per_gpu = []
    for s in mem.stages:
        for rank in range(engine.tp):
            index = s.stage * engine.tp + rank
            kv = max(0.0, s.kv.num_blocks(s.available.expected) * s.kv.bytes_per_block)
            per_gpu.append(GpuMemory(
                label=f"GPU {index}" + (f" (stage {s.stage})" if engine.pp > 1 else ""),
                gpu_total_gib=_gib(mem.gpu_total),
                budget_gib=_gib(mem.budget),
                weights_gib=_gib(s.weights),
                activation_gib=_gib(s.activation.expected),
                non_torch_gib=_gib(s.non_torch.expected),
                cuda_graph_gib=_gib(s.cuda_graph.expected),
                overhead_gib=_gib(s.overhead),
                kv_cache_gib=_gib(kv),
                outside_budget_gib=_gib(mem.gpu_total - mem.budget),
            ))
    avail = stage.available
    ranges = {
        "activation_gib": Range(low=_gib(stage.activation.low), expected=_gib(stage.activation.expected), high=_gib(stage.activation.high)),
        "non_torch_gib": Range(low=_gib(stage.non_torch.low), expected=_gib(stage.non_torch.expected), high=_gib(stage.non_torch.high)),
        "cuda_graph_gib": Range(low=_gib(stage.cuda_graph.low), expected=_gib(stage.cuda_graph.expected), high=_gib(stage.cuda_graph.high)),
        "kv_cache_gib": Range(low=_gib(max(0.0, avail.low)), expected=_gib(avail.expected), high=_gib(max(0.0, avail.high))),
    }
    total = mem.gpu_total / GIB
    formulas = {
        "budget_gib": f"{total:.2f} GiB (CUDA total) x {engine.gpu_memory_utilization:g} (gpu_memory_utilization) = {mem.budget / GIB:.2f} GiB",
        "kv_cache_gib": (
            f"{mem.budget / GIB:.2f} budget - {stage.weights / GIB:.2f} weights - {stage.activation.expected / GIB:.2f} activation "
            f"- {stage.non_torch.expected / GIB:.2f} non-torch - {stage.cuda_graph.expected / GIB:.2f} CUDA graphs"
            + (f" - {stage.overhead / GIB:.2f} overhead" if stage.overhead else "")
            + f" = {avail.expected / GIB:.2f} GiB"
        ),
        "kv_cache_tokens": (
            f"{blocks:,} blocks of {layout.block_size} tokens ({layout.bytes_per_block / 1024**2:.2f} MiB each) hold "
            f"{conc:.2f} requests of max_model_len {engine.max_model_len:,} -> {int(conc * engine.max_model_len):,} tokens"
        ),
        "kv_bytes_per_token": (
            f"{layout.attention_layers} layers x {layout.page_bytes // layout.block_size:,} B per token per layer "
            f"= {layout.bytes_per_token:,} B"
        ),
    }
    frontier = []
    if blocks:
        length, top = 1024, model_limit
        while length < top:
            frontier.append(FrontierPoint(tokens=length, max_requests=blocks // layout.blocks_per_request(length)))
            length *= 2
        frontier.append(FrontierPoint(tokens=top, max_requests=blocks // layout.blocks_per_request(top)))
    return MemoryReport(
        vllm_version=rel.label,
        engine=rel.engine,
        gpu_total_gib=round(total, 2),
        gpu_memory_utilization=engine.gpu_memory_utilization,
        budget_gib=_gib(mem.budget),
        weights_gib=_gib(stage.weights),
        activation_gib=_gib(stage.activation.expected),
        non_torch_gib=_gib(stage.non_torch.expected),
        cuda_graph_gib=_gib(stage.cuda_graph.expected),
        overhead_gib=_gib(stage.overhead),
        kv_cache_gib=_gib(avail.expected),
        kv_cache_tokens=int(conc * engine.max_model_len),
        kv_blocks=blocks,
        block_size=layout.block_size,
        kv_bytes_per_token=layout.bytes_per_token,
        kv_cache_dtype=kv_dtype,
        max_model_len=engine.max_model_len,
        max_num_seqs=engine.max_num_seqs,
        max_num_batched_tokens=engine.max_num_batched_tokens,
        cuda_graphs=engine.cuda_graphs,
        cuda_graph_in_budget=engine.cuda_graphs_in_budget,
        ranges=ranges,
        per_gpu=per_gpu,
        frontier=frontier,
        formulas=formulas,
    )


def _warnings(request: PlanRequest, hw: Hardware, cand: Candidate, arch: Architecture) -> list[str]:
    warnings = list(hw.warnings)
    engine, wl = cand.engine, request.workload
    gpu = hw.gpu
    if gpu.cuda_total_estimated:
        warnings.append(f"{gpu.name}: no vLLM log gives its CUDA memory; {gpu.cuda_total_gib} GiB is estimated from the driver's total")
    if wl.concurrency > engine.max_num_seqs:
        warnings.append(f"concurrency {wl.concurrency} exceeds max_num_seqs {engine.max_num_seqs}: the rest wait in vLLM's queue")
    used = engine.tp * engine.pp
    available = hw.gpus_per_node * hw.nodes
    if used < available:
        warnings.append(f"the plan uses {used} of {available} GPUs; run {available // used} replicas (data parallel) to use them all")
    if engine.tp > 1 and hw.interconnect == "pcie-no-p2p":
        warnings.append("tensor parallelism over PCIe without peer-to-peer (consumer cards) is slow: every layer waits on two all-reduces")
    if engine.tp > hw.gpus_per_node:
        warnings.append(f"tensor_parallel_size {engine.tp} spans nodes ({hw.gpus_per_node} GPUs per node): use pipeline parallelism across nodes instead")
    if "sliding" in arch.layer_kinds:
        warnings.append("sliding-window layers keep only their window: vLLM's token count is the full-attention equivalent of the pool")
    return warnings


def _response(inp: Inputs, sol: Solution) -> PlanResponse:
    request, info, fmt, hw, dtype, util = inp.request, inp.info, inp.fmt, inp.hw, inp.dtype, inp.util
    cand, tp, pp, seqs, tokens = sol.candidate, sol.tensor_parallel_size, sol.pipeline_parallel_size, sol.max_num_seqs, sol.max_num_batched_tokens
    arch = info.arch
    _, loaded, _, param_notes = _params(info, request, fmt)
    engine, verdict = cand.engine, cand.verdict
    kv_choice = cand.kv_cache_dtype
    model = _model_report(info, fmt, loaded, engine.kv_bytes, param_notes)
    hardware = HardwareReport(
        gpu=hw.gpu.name,
        gpu_id=hw.gpu.id,
        detected=hw.detected,
        gpus_per_node=hw.gpus_per_node,
        nodes=hw.nodes,
        gpus_used=engine.tp * engine.pp,
        gpu_total_gib=hw.gpu.cuda_total_gib,
        gpu_total_estimated=hw.gpu.cuda_total_estimated,
        memory_gb_marketed=hw.gpu.memory_gb_marketed,
        bandwidth_gbs=hw.gpu.bandwidth_gbs,
        bf16_tflops=hw.gpu.bf16_tflops,
        fp8_tflops=hw.gpu.fp8_tflops,
        fp8_native=hw.gpu.fp8_native,
        interconnect=hw.interconnect,
        tensor_parallel_size=engine.tp,
        pipeline_parallel_size=engine.pp,
    )
    memory = _memory_report(cand, inp.rel, str(kv_choice.value), arch.max_model_len)
    warnings = _warnings(request, hw, cand, arch)
    feasibility = Feasibility(
        fits=verdict.fits,
        starts=verdict.starts,
        workload_fits=verdict.workload_fits,
        failed=verdict.failed,
        oom_risk=verdict.oom_risk,  # type: ignore[arg-type]
        oom_risk_reason=verdict.oom_risk_reason,
        headroom_gib=round(verdict.headroom_gib, 2),
        kv_needed_gib=round(verdict.kv_needed_gib, 2),
        context_tokens=request.workload.prompt_tokens + request.workload.gen_tokens,
        max_concurrency=verdict.max_concurrency,
        max_context_tokens=verdict.max_context_tokens,
        max_concurrency_at_max_model_len=verdict.max_concurrency_at_max_model_len,
        warnings=warnings,
    )
    quant_choice = (
        Choice(fmt.method, "user" if request.model.quantization else "checkpoint", f"{fmt.label}" + (" quantized online by vLLM" if fmt.online else " (from the checkpoint's quantization_config)"))
        if fmt.kind != "none" else Choice(None, "checkpoint", "unquantized checkpoint")
    )
    expert_parallel = recommend.expert_parallel(arch, engine.tp)
    recommendation = Recommendation(
        tensor_parallel_size=_setting(tp),
        pipeline_parallel_size=_setting(pp),
        enable_expert_parallel=_setting(expert_parallel),
        dtype=_setting(dtype),
        quantization=_setting(quant_choice),
        kv_cache_dtype=_setting(kv_choice),
        max_model_len=_setting(cand.max_model_len),
        max_num_seqs=_setting(seqs),
        max_num_batched_tokens=_setting(tokens),
        gpu_memory_utilization=_setting(util),
        enforce_eager=_setting(cand.enforce_eager),
    )
    response = PlanResponse(
        request=request,
        model=model,
        hardware=hardware,
        memory=memory,
        feasibility=feasibility,
        recommendation=recommendation,
        performance=_performance(inp, cand) if cand.verdict.starts else None,
        warnings=warnings,
    )
    response.artifacts = artifacts.build(response)
    return response


def perf_workload(request: PlanRequest) -> perf.Workload:
    """The request's traffic as the performance model takes it (a request rate makes it open loop)."""
    wl = request.workload
    return perf.Workload(prompt_tokens=wl.prompt_tokens, gen_tokens=wl.gen_tokens,
                         concurrency=None if wl.request_rate else wl.concurrency, request_rate=wl.request_rate)


def step_model(inp: Inputs, cand: Candidate) -> perf.StepModel:
    """Per-step costs of a planned configuration (shared by plans, sweeps and the accuracy report)."""
    return perf.step_model(inp.arch, inp.fmt, cand.engine, cand.memory, inp.hw.gpu, inp.hw.interconnect, inp.rel.version,
                           inp.hw.nodes)


def _performance(inp: Inputs, cand: Candidate) -> PerformanceReport:
    """Throughput and latency ranges for the request's workload on the chosen configuration."""
    wl = inp.request.workload
    model = step_model(inp, cand)
    half, why = perf.spread(model, inp.hw.gpu)
    result = perf.estimate(model, cand.engine, cand.memory, perf_workload(inp.request), half)

    def rng(triple: tuple[float, float, float], digits: int = 1) -> Range:
        low, mid, high = triple
        return Range(low=round(low, digits), expected=round(mid, digits), high=round(high, digits))

    def band(value: float, digits: int = 1) -> Range:
        return rng((value * (1 - half), value, value * (1 + half)), digits)

    itl = result.itl_ms
    kind = (f"Poisson arrivals at {wl.request_rate:g} requests/s" if wl.request_rate
            else f"{wl.concurrency} concurrent requests") + f" of {wl.prompt_tokens:,} prompt + {wl.gen_tokens:,} output tokens"
    return PerformanceReport(
        workload=kind,
        prefill_tokens_per_s=band(result.prefill_tokens_per_s, 0),
        decode_tokens_per_s=rng((1000 / itl[2], 1000 / itl[1], 1000 / itl[0])),
        itl_ms=rng(itl, 2),
        ttft_ms=rng(result.ttft_ms),
        output_tokens_per_s=rng(result.output_tokens_per_s, 0),
        request_throughput_per_s=rng(result.request_throughput_per_s, 3),
        max_request_rate_per_s=band(result.max_request_rate_per_s, 3),
        batch_size=round(result.batch, 1),
        saturated=result.saturated,
        calibrated=inp.hw.gpu.id in perf.CALIBRATED_GPUS,
        assumptions=result.assumptions + [
            f"range +-{half:.0%}: {why}",
            f"roofline at {model.eta_mem:.0%} of {inp.hw.gpu.bandwidth_gbs or 0:g} GB/s and {model.eta_comp:.0%} of "
            f"{model.peak_flops / 1e12:g} TFLOPS, {model.t_fix * 1000:g} ms per step"
            + (f", all-reduce {model.allreduce_latency * 1e6:g} us + bytes at {model.link_bandwidth / 1e9:.0f} GB/s" if model.tp > 1 else ""),
        ] + ([f"{model.inter_node_hops} pipeline hop(s) between nodes, each {perf.INTER_NODE_LATENCY_S * 1e6:g} us + activations at "
              f"{perf.INTER_NODE_GBS:g} GB/s (an RDMA NIC of 200 Gb/s per GPU; plain TCP is slower)"] if model.inter_node_hops else []),
    )
