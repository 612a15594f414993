"""Capacity planning: every deployment worth renting for a model and workload, ranked by cost.

Enumerates GPU type x GPUs per node x nodes (TP inside a node, PP across
nodes) x real weight formats (the checkpoint's, or FP8 quantized online) x KV
dtype, plans each candidate through the very same path as ``plan()`` (so a
result re-planned alone gives the same verdict), keeps those that fit and meet
the targets, and ranks them by cost per hour from ``wizard/data/prices.json``.
Only the top results are assembled into full plans.
"""

from __future__ import annotations

import time
from typing import Iterable

from wizard.capacity.prices import price_of
from wizard.catalog.gpus import GpuSpec, catalog, get_gpu
from wizard.catalog.metadata import resolve_model
from wizard.errors import WizardError
from wizard.physics import perf, quant
from wizard.planning.inputs import Inputs, resolve_inputs
from wizard.planning.performance import screen_workload, step_model
from wizard.planning.planner import plan
from wizard.planning.recommend import valid_tp_sizes
from wizard.planning.search import search
from wizard.schema import PlanRequest, Targets, parse_request
from wizard.schema.results import SweepResult, SweepRow

GPUS_PER_NODE = (1, 2, 4, 8)
NODES = (1, 2, 4)


def misses(targets: Targets, result: perf.PerfResult) -> list[str]:
    """Which targets the expected performance misses, and by how much."""
    out = []
    if targets.max_ttft_ms is not None and result.ttft_ms[1] > targets.max_ttft_ms:
        out.append(f"TTFT {result.ttft_ms[1]:.0f} ms > {targets.max_ttft_ms:g}")
    if targets.max_itl_ms is not None and result.itl_ms[1] > targets.max_itl_ms:
        out.append(f"time per token {result.itl_ms[1]:.1f} ms > {targets.max_itl_ms:g}")
    if targets.min_output_tokens_per_s is not None and result.output_tokens_per_s[1] < targets.min_output_tokens_per_s:
        out.append(f"{result.output_tokens_per_s[1]:.0f} output tokens/s < {targets.min_output_tokens_per_s:g}")
    if targets.min_request_rate is not None and result.max_request_rate_per_s < targets.min_request_rate:
        out.append(f"sustains {result.max_request_rate_per_s:.2f} requests/s < {targets.min_request_rate:g}")
    return out


def _quantizations(base: PlanRequest, gpu: GpuSpec, checkpoint_quantized: bool) -> list[str | None]:
    """The checkpoint's own format, plus FP8 quantized online for 16-bit checkpoints (Ampere and newer)."""
    if base.model.quantization:
        return [base.model.quantization]
    options: list[str | None] = [None]
    if not checkpoint_quantized and gpu.ampere_or_newer:
        options.append("fp8")
    return options


def _weights(inp: Inputs) -> str:
    """How the weights are stored: the checkpoint's format, or the one vLLM quantizes to online."""
    if inp.fmt.method == "none":
        return inp.request.model.dtype if inp.request.model.dtype != "auto" else inp.arch.torch_dtype
    return inp.fmt.label if inp.fmt.online else f"{inp.fmt.label} (checkpoint)"


def _kv_dtypes(base: PlanRequest, gpu: GpuSpec) -> list[str]:
    """The user's KV dtype, else the model dtype and FP8 (Ampere and newer)."""
    if base.model.kv_cache_dtype:
        return [base.model.kv_cache_dtype]
    return ["auto", "fp8"] if gpu.ampere_or_newer else ["auto"]


def candidates(base: PlanRequest, gpus: Iterable[GpuSpec], per_node: Iterable[int] = GPUS_PER_NODE,
               nodes: Iterable[int] = NODES) -> list[PlanRequest]:
    """Every configuration to try, as plan requests with the parallel layout fixed."""
    flat = base.flat()
    arch = resolve_model(base.model.model, base.model.revision).arch
    fmt = quant.resolve(quant.from_checkpoint(arch.quantization_config), base.model.quantization)
    quantized = fmt.kind != "none"
    out = []
    for gpu in gpus:
        for g in per_node:
            if g not in valid_tp_sizes(arch, fmt, g):
                continue
            for n in nodes:
                if n > arch.num_layers:
                    continue
                for q in _quantizations(base, gpu, quantized):
                    for kv in _kv_dtypes(base, gpu):
                        values = {**flat, "gpu": gpu.name, "vram_gb": None, "gpus": g, "nodes": n,
                                  "tensor_parallel_size": g, "pipeline_parallel_size": n,
                                  "quantization": q, "kv_cache_dtype": kv}
                        out.append(parse_request(values))
    return out


def sweep(base: PlanRequest, gpu_names: list[str] | None = None,
          provider: str | None = None, prices: dict[str, float] | None = None, full_plans: int = 10,
          per_node: Iterable[int] = GPUS_PER_NODE, nodes: Iterable[int] = NODES) -> SweepResult:
    """Plan every candidate and return those that fit and meet the targets, cheapest first.

    ``full_plans``: how many of the cheapest rows get their complete
    :class:`PlanResponse` (the one ``plan()`` gives for that request).
    """
    start = time.perf_counter()
    if gpu_names:
        gpus = [get_gpu(name) for name in gpu_names]
        unpriced = [g.name for g in gpus if price_of(g, provider, prices) is None]
        if unpriced:
            raise WizardError(f"no price for {', '.join(unpriced)} in the {provider or 'default'} price list: "
                              "give one in USD per GPU-hour")
    else:
        gpus = [g for g in catalog() if price_of(g, provider, prices) is not None]
    workload = screen_workload(base)
    rows: list[SweepRow] = []
    rejected = {"does not fit": 0, "misses targets": 0, "invalid": 0}
    todo = candidates(base, gpus, per_node, nodes)
    for request in todo:
        hw = request.hardware
        gpu = get_gpu(hw.gpu or "")
        price = price_of(gpu, provider, prices)
        assert price is not None  # every swept GPU has one
        try:
            inp = resolve_inputs(request, detected=[])
            cand = search(inp).candidate
        except WizardError:
            rejected["invalid"] += 1
            continue
        if not cand.verdict.fits:
            rejected["does not fit"] += 1
            continue
        result = perf.estimate(step_model(inp, cand), cand.engine, cand.memory, workload, 0.0)
        if misses(base.targets, result):
            rejected["misses targets"] += 1
            continue
        rows.append(SweepRow(
            gpu=gpu.name, gpus_per_node=hw.gpus, nodes=hw.nodes, tensor_parallel_size=cand.engine.tp,
            pipeline_parallel_size=cand.engine.pp, quantization=request.model.quantization, weights=_weights(inp),
            kv_cache_dtype=str(cand.kv_cache_dtype.value), usd_per_gpu_hour=price.usd_per_gpu_hour,
            price_source=f"{price.provider} {price.date}".strip(),
            output_tokens_per_s=result.output_tokens_per_s[1], itl_ms=result.itl_ms[1], ttft_ms=result.ttft_ms[1],
            max_request_rate_per_s=result.max_request_rate_per_s, max_concurrency=cand.verdict.max_concurrency,
            request=request,
        ))
    rows.sort(key=lambda r: (r.cost_per_hour, r.cost_per_million_output_tokens))
    elapsed = time.perf_counter() - start
    for row in rows[:full_plans]:
        row.plan = plan(row.request)
    return SweepResult(candidates_evaluated=len(todo), seconds=elapsed, rejected=rejected, fitting=len(rows), results=rows)
