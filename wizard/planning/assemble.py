"""The response: the chosen configuration's numbers as the schema's report blocks, with settings and reasons."""

from __future__ import annotations

from wizard.catalog.metadata import ModelInfo
from wizard.deploy import artifacts
from wizard.physics import kv, quant
from wizard.physics.arch import Architecture
from wizard.physics.memory import Engine, MemoryPlan, StageMemory
from wizard.physics.params import active_params, count_params, mtp_params
from wizard.physics.versions import Release
from wizard.planning.feasibility import Verdict
from wizard.planning.inputs import Hardware, Inputs, weight_params
from wizard.planning.performance import performance_report, performance_warnings
from wizard.planning.recommend import Choice
from wizard.planning.search import Candidate, Solution
from wizard.schema import (
    Feasibility,
    FrontierPoint,
    GpuMemory,
    HardwareReport,
    MemoryReport,
    ModelReport,
    PlanRequest,
    PlanResponse,
    Range,
    Recommendation,
    Setting,
)
from wizard.units import GIB


def _setting(choice: Choice) -> Setting:
    return Setting(value=choice.value, source=choice.source, reason=choice.reason)


def _gib(value: float) -> float:
    return round(value / GIB, 2)


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
        kv_bytes_per_token=arch.kv_bytes_per_token(kv_bytes),
        notes=list(info.notes) + notes,
    )


def _kv_formula(stage: StageMemory, budget_gib: float, graphs_in_budget: bool, release_label: str) -> tuple[float, str]:
    """The KV pool per GPU and the arithmetic that gives it, from the very numbers the plan prints (2 decimals)."""
    if stage.kv_pinned is not None:
        pool = _gib(stage.kv_pinned)
        return pool, f"{stage.kv_pinned:,.0f} B (kv_cache_memory_bytes) / 1,073,741,824 = {pool:.2f} GiB"
    terms = [("weights", _gib(stage.weights)), ("activation", _gib(stage.activation.expected)),
             ("non-torch", _gib(stage.non_torch.expected))]
    if graphs_in_budget:
        terms.append(("CUDA graphs", _gib(stage.cuda_graph.expected)))
    if stage.overhead:
        terms.append(("extra overhead", _gib(stage.overhead)))
    pool = round(budget_gib - sum(value for _, value in terms), 2)
    text = f"{budget_gib:.2f} budget " + " ".join(f"- {value:.2f} {name}" for name, value in terms) + f" = {pool:.2f} GiB"
    if not graphs_in_budget and stage.cuda_graph.expected:
        text += (f" (CUDA graphs, {_gib(stage.cuda_graph.expected):.2f} GiB, are captured outside the budget "
                 f"in vLLM {release_label})")
    return pool, text


def _per_gpu(mem: MemoryPlan, engine: Engine) -> list[GpuMemory]:
    """Every GPU of one replica, in rank order: data-parallel engines are alike, each its own copy of every stage."""
    out = []
    for engine_index in range(engine.dp):
        for s, rank in ((s, rank) for s in mem.stages for rank in range(engine.tp)):
            index = (engine_index * engine.pp + s.stage) * engine.tp + rank
            pool_bytes = max(0.0, s.kv.num_blocks(s.available.expected) * s.kv.bytes_per_block)
            out.append(GpuMemory(
                label=f"GPU {index}" + (f" (stage {s.stage})" if engine.pp > 1 else "")
                + (f" (engine {engine_index})" if engine.dp > 1 else ""),
                gpu_total_gib=_gib(mem.gpu_total),
                budget_gib=_gib(mem.budget),
                weights_gib=_gib(s.weights),
                activation_gib=_gib(s.activation.expected),
                non_torch_gib=_gib(s.non_torch.expected),
                cuda_graph_gib=_gib(s.cuda_graph.expected),
                overhead_gib=_gib(s.overhead),
                kv_cache_gib=_gib(pool_bytes),
                outside_budget_gib=_gib(mem.gpu_total - mem.budget),
            ))
    return out


def _memory_report(cand: Candidate, rel: Release, kv_dtype: str, model_limit: int) -> MemoryReport:
    mem, engine = cand.memory, cand.engine
    stage = mem.limiting
    layout = stage.kv
    blocks = mem.num_blocks
    avail = stage.available
    total, budget = mem.gpu_total / GIB, _gib(mem.budget)
    pool, pool_formula = _kv_formula(stage, budget, engine.cuda_graphs_in_budget, rel.label)
    ranges = {
        "activation_gib": Range(low=_gib(stage.activation.low), expected=_gib(stage.activation.expected), high=_gib(stage.activation.high)),
        "non_torch_gib": Range(low=_gib(stage.non_torch.low), expected=_gib(stage.non_torch.expected), high=_gib(stage.non_torch.high)),
        "cuda_graph_gib": Range(low=_gib(stage.cuda_graph.low), expected=_gib(stage.cuda_graph.expected), high=_gib(stage.cuda_graph.high)),
        "kv_cache_gib": Range(low=min(pool, _gib(max(0.0, avail.low))), expected=pool, high=max(pool, _gib(max(0.0, avail.high)))),
    }
    v0 = rel.engine == "V0"
    tokens = kv.reported_kv_tokens(layout, blocks, engine.max_model_len, rel.version, v0) if blocks else 0
    formulas = {
        "budget_gib": f"{total:g} GiB (CUDA total) x {engine.gpu_memory_utilization:g} (gpu_memory_utilization) = {budget:.2f} GiB",
        "kv_cache_gib": pool_formula,
        "kv_cache_tokens": kv.reported_kv_tokens_formula(layout, blocks, engine.max_model_len, rel.version, v0),
        "kv_bytes_per_token": (
            f"{layout.attention_layers} layers x {layout.page_bytes:,} B per page // {layout.block_size} tokens per page "
            f"= {layout.bytes_per_token:,} B"
        ),
    }
    return MemoryReport(
        vllm_version=rel.label,
        engine=rel.engine,
        gpu_total_gib=round(total, 2),
        gpu_memory_utilization=engine.gpu_memory_utilization,
        budget_gib=budget,
        weights_gib=_gib(stage.weights),
        activation_gib=_gib(stage.activation.expected),
        non_torch_gib=_gib(stage.non_torch.expected),
        cuda_graph_gib=_gib(stage.cuda_graph.expected),
        overhead_gib=_gib(stage.overhead),
        kv_cache_gib=pool,
        kv_cache_tokens=tokens,
        kv_cache_tokens_all_engines=tokens * engine.dp,
        kv_capacity_tokens=layout.capacity_tokens(blocks),
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
        per_gpu=_per_gpu(mem, engine),
        frontier=[FrontierPoint(tokens=n, max_requests=r) for n, r in kv.frontier(layout, blocks, model_limit)],
        formulas=formulas,
    )


def _warnings(request: PlanRequest, hw: Hardware, cand: Candidate, arch: Architecture) -> list[str]:
    warnings = list(hw.warnings)
    engine, wl = cand.engine, request.workload
    gpu = hw.gpu
    if gpu.cuda_total_estimated:
        warnings.append(f"{gpu.name}: no vLLM log gives its CUDA memory; {gpu.cuda_total_gib} GiB is estimated from the driver's total")
    if wl.requests_at_once > engine.max_num_seqs:
        warnings.append(f"concurrency {wl.requests_at_once} exceeds max_num_seqs {engine.max_num_seqs}: the rest wait in vLLM's queue")
    used = engine.tp * engine.pp * engine.dp
    available = hw.gpus_per_node * hw.nodes
    if used < available:
        per_engine = engine.tp * engine.pp
        warnings.append(f"the plan uses {used} of {available} GPUs; {available // per_engine} data-parallel engines "
                        f"(--data-parallel-size {available // per_engine}) or replicas would use them all")
    if engine.tp > 1 and hw.interconnect == "pcie-no-p2p":
        warnings.append("tensor parallelism over PCIe without peer-to-peer (consumer cards) is slow: every layer waits on two all-reduces")
    if engine.tp > hw.gpus_per_node:
        warnings.append(f"tensor_parallel_size {engine.tp} spans nodes ({hw.gpus_per_node} GPUs per node): use pipeline parallelism across nodes instead")
    if "sliding" in arch.layer_kinds:
        warnings.append("sliding-window layers keep only their window: vLLM's token count is the full-attention equivalent of the pool")
    return warnings


def _hardware_report(hw: Hardware, engine: Engine, replicas: int) -> HardwareReport:
    return HardwareReport(
        gpu=hw.gpu.name,
        gpu_id=hw.gpu.id,
        detected=hw.detected,
        gpus_per_node=hw.gpus_per_node,
        nodes=hw.nodes,
        gpus_used=engine.tp * engine.pp * engine.dp,
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
        data_parallel_size=engine.dp,
        expert_parallel_size=engine.ep,
        replicas=replicas,
    )


def _feasibility(request: PlanRequest, verdict: Verdict, warnings: list[str]) -> Feasibility:
    return Feasibility(
        fits=verdict.fits,
        starts=verdict.starts,
        workload_fits=verdict.workload_fits,
        refused=verdict.refused,
        failed=verdict.failed,
        oom_risk=verdict.oom_risk,  # type: ignore[arg-type]
        oom_risk_reason=verdict.oom_risk_reason,
        headroom_gib=round(verdict.headroom_gib, 2),
        kv_needed_gib=round(verdict.kv_needed_gib, 2),
        context_tokens=request.workload.prompt_tokens + request.workload.gen_tokens,
        max_concurrency=verdict.max_concurrency,
        max_context_tokens=verdict.max_context_tokens,
        max_concurrency_at_max_model_len=verdict.max_concurrency_at_max_model_len,
        budget_committed_fraction=round(verdict.budget_committed_fraction, 4),
        warnings=warnings,
    )


def _recommendation(inp: Inputs, sol: Solution) -> Recommendation:
    request, fmt, cand = inp.request, inp.fmt, sol.candidate
    quant_choice = (
        Choice(fmt.method, "user" if request.model.quantization else "checkpoint", f"{fmt.label}" + (
            " quantized online by vLLM" if fmt.online else " (from the checkpoint's quantization_config)"))
        if fmt.kind != "none" else Choice(None, "checkpoint", "unquantized checkpoint")
    )
    return Recommendation(
        tensor_parallel_size=_setting(sol.tensor_parallel_size),
        pipeline_parallel_size=_setting(sol.pipeline_parallel_size),
        data_parallel_size=_setting(sol.data_parallel_size),
        enable_expert_parallel=_setting(sol.expert_parallel),
        dtype=_setting(inp.dtype),
        quantization=_setting(quant_choice),
        kv_cache_dtype=_setting(cand.kv_cache_dtype),
        max_model_len=_setting(cand.max_model_len),
        max_num_seqs=_setting(sol.max_num_seqs),
        max_num_batched_tokens=_setting(sol.max_num_batched_tokens),
        gpu_memory_utilization=_setting(inp.util),
        enforce_eager=_setting(cand.enforce_eager),
    )


def response(inp: Inputs, sol: Solution, simulate: bool = True) -> PlanResponse:
    """The plan: every report block from the chosen configuration; the artifacts rendered from it.
    ``simulate`` off leaves out the performance report (its serving simulation), for a plan asked only whether it fits."""
    request, info, cand = inp.request, inp.info, sol.candidate
    _, loaded, _, param_notes = weight_params(info, request, inp.fmt)
    warnings = _warnings(request, inp.hw, cand, info.arch)
    # A workload vLLM refuses (requests longer than max_model_len) has no run to simulate.
    simulated = cand.verdict.starts and not cand.verdict.refused and simulate
    performance = performance_report(inp, cand) if simulated else None
    plan = PlanResponse(
        request=request,
        model=_model_report(info, inp.fmt, loaded, cand.engine.kv_bytes, param_notes),
        hardware=_hardware_report(inp.hw, cand.engine, request.hardware.replicas),
        memory=_memory_report(cand, inp.rel, str(cand.kv_cache_dtype.value), info.arch.max_model_len),
        feasibility=_feasibility(request, cand.verdict, warnings),
        recommendation=_recommendation(inp, sol),
        performance=performance,
        # What the simulated run says (an overload first of all) heads the list: it is the plan's verdict.
        warnings=performance_warnings(performance, request) + warnings,
    )
    plan.artifacts = artifacts.build(plan)
    return plan
