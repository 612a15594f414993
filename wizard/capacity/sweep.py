"""Capacity planning: every deployment worth renting for a model and workload, ranked by cost.

Enumerates GPU type x GPUs per node x nodes (TP inside a node, PP across
nodes) x real weight formats (the checkpoint's, or FP8 quantized online) x KV
dtype, plans each candidate through the very same path as ``plan()`` (so a
result re-planned alone gives the same verdict), screens its performance with
the fast analytic formula, then simulates the cheapest survivors (cost per hour
from ``wizard/data/prices.json``) until enough meet every target and keep up
with the requested rate: the simulation, not the screen, decides what is listed
with its figures.  Only the top results are assembled into full plans.
"""

from __future__ import annotations

import math
import time
from typing import Iterable

from wizard.capacity.prices import price_of
from wizard.catalog.gpus import GpuSpec, catalog, get_gpu
from wizard.catalog.metadata import resolve_model
from wizard.errors import WizardError
from wizard.physics import quant, screen
from wizard.planning.inputs import Inputs, resolve_inputs
from wizard.planning.performance import performance_report, screen_workload, step_model
from wizard.planning.planner import plan
from wizard.planning.recommend import valid_tp_sizes
from wizard.planning.search import Candidate, search
from wizard.schema import PlanRequest, Targets, parse_request
from wizard.schema.results import SweepResult, SweepRow

GPUS_PER_NODE = (1, 2, 4, 8)
NODES = (1, 2, 4)


# The analytic screen is a steady-state formula: it lets through what it rates up to this much
# worse than a target, so the simulation (which decides) does not lose what the formula misjudges
# (benchmarks/perf_accuracy.py: the formula's TPOT strays 40-65% on bursts).
SCREEN_SLACK = 1.6
VERIFIED_ROWS = 10  # cheapest rows the simulation verifies when no more full plans are asked for


def misses(targets: Targets, itl_ms: float, ttft_ms: float, output_tokens_per_s: float, rate_per_s: float,
           slack: float = 1.0) -> list[str]:
    """Which targets the performance misses (by more than ``slack`` times), and by how much."""
    out = []
    if targets.max_ttft_ms is not None and ttft_ms > targets.max_ttft_ms * slack:
        out.append(f"TTFT {ttft_ms:,.0f} ms > {targets.max_ttft_ms:g}")
    if targets.max_itl_ms is not None and itl_ms > targets.max_itl_ms * slack:
        out.append(f"time per token {itl_ms:.1f} ms > {targets.max_itl_ms:g}")
    if targets.min_output_tokens_per_s is not None and output_tokens_per_s * slack < targets.min_output_tokens_per_s:
        out.append(f"{output_tokens_per_s:,.0f} output tokens/s < {targets.min_output_tokens_per_s:g}")
    if targets.min_request_rate is not None and rate_per_s * slack < targets.min_request_rate:
        out.append(f"sustains {rate_per_s:.2f} requests/s < {targets.min_request_rate:g}")
    return out


def _keeps_up(base: PlanRequest, rate_per_s: float, slack: float = 1.0) -> bool:
    """A finite requested rate is sustained (within ``slack``)."""
    rate = base.workload.request_rate
    return rate is None or math.isinf(rate) or rate_per_s * slack >= rate


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
    screened: list[tuple[SweepRow, Inputs, Candidate]] = []
    rejected = {"does not fit": 0, "misses targets": 0, "cannot keep up": 0, "invalid": 0}
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
        rated = screen.estimate(step_model(inp, cand), cand.engine, cand.memory, workload, 0.0)
        figures = (rated.itl_ms[1], rated.ttft_ms[1], rated.output_tokens_per_s[1], rated.max_request_rate_per_s)
        if misses(base.targets, *figures, slack=SCREEN_SLACK):
            rejected["misses targets"] += 1
            continue
        if not _keeps_up(base, rated.max_request_rate_per_s, slack=SCREEN_SLACK):
            rejected["cannot keep up"] += 1
            continue
        screened.append((SweepRow(
            gpu=gpu.name, gpus_per_node=hw.gpus, nodes=hw.nodes, tensor_parallel_size=cand.engine.tp,
            pipeline_parallel_size=cand.engine.pp, quantization=request.model.quantization, weights=_weights(inp),
            kv_cache_dtype=str(cand.kv_cache_dtype.value), usd_per_gpu_hour=price.usd_per_gpu_hour,
            price_source=f"{price.provider} {price.date}".strip(), output_tokens_per_s=figures[2], itl_ms=figures[0],
            ttft_ms=figures[1], max_request_rate_per_s=figures[3], max_concurrency=cand.verdict.max_concurrency,
            simulated=False, request=request,
        ), inp, cand))
    screened.sort(key=lambda entry: (entry[0].cost_per_hour, entry[0].cost_per_million_output_tokens))
    elapsed = time.perf_counter() - start
    rows = _verify(base, screened, max(full_plans, VERIFIED_ROWS), rejected)
    for row in rows[:full_plans]:
        row.plan = plan(row.request)
    return SweepResult(candidates_evaluated=len(todo), seconds=elapsed, rejected=rejected, fitting=len(rows), results=rows)


def _verify(base: PlanRequest, screened: list[tuple[SweepRow, Inputs, Candidate]], wanted: int,
            rejected: dict[str, int]) -> list[SweepRow]:
    """The simulation decides, cheapest first, until ``wanted`` rows meet every target.

    Rows past those keep the screen's figures (``simulated`` false), and only
    when the screen rates them well inside the targets: the sweep never lists a
    configuration the simulation found to miss one, or to fall behind the rate.
    """
    rows: list[SweepRow] = []
    verified = 0
    for row, inp, cand in screened:
        if verified >= wanted:
            figures = (row.itl_ms, row.ttft_ms, row.output_tokens_per_s, row.max_request_rate_per_s)
            if not misses(base.targets, *figures) and _keeps_up(base, row.max_request_rate_per_s, slack=1 / SCREEN_SLACK):
                rows.append(row)
            continue
        report = performance_report(inp, cand)
        figures = (report.itl_ms.expected, report.ttft_ms.expected, report.output_tokens_per_s.expected,
                   report.max_request_rate_per_s.expected)
        if misses(base.targets, *figures):
            rejected["misses targets"] += 1
        elif report.keeps_up is False:
            rejected["cannot keep up"] += 1
        else:
            rows.append(row.model_copy(update={"itl_ms": figures[0], "ttft_ms": figures[1], "output_tokens_per_s": figures[2],
                                               "max_request_rate_per_s": figures[3], "simulated": True}))
            verified += 1
    return rows
