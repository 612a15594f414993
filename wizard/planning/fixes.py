"""Fixes for a plan that does not fit: candidate changes, each planned through the function handed in, ranked.

A change is offered only when its re-plan fits, so every link a face builds from a suggestion opens a plan that
fits.  The candidates: the KV cache in fp8, a quantized checkpoint or fp8 weights, the wizard's own sizing instead
of the user's overrides, a shorter context, fewer concurrent requests; then hardware: the smallest layout of the same
GPU that fits (more GPUs per node, then more nodes as pipeline stages, alone and with the lightest weight change),
and the smallest bigger GPU at the same count.  They are ranked by the GPU memory they rent (a stand-in for what
they cost), then by how much of the request they change: the same hardware first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wizard.catalog.gpus import GpuSpec, catalog
from wizard.catalog.metadata import catalog_ids, resolve_model
from wizard.errors import WizardError
from wizard.physics.arch import Architecture
from wizard.planning.inputs import Inputs
from wizard.schema import PlanRequest, PlanResponse, Suggestion, parse_request

MAX_SUGGESTIONS = 4  # shown for a failing plan: the cheapest few, one per kind of change
MAX_REPLANS = 40  # candidates planned at most (each ~5-50 ms), so a failing plan stays fast to show
MAX_NODES = 8  # the most nodes a suggestion proposes (one pipeline stage per node)
NODE_GPUS = 8  # GPUs per node when a suggestion adds nodes: the usual 8-GPU server
MAX_SIBLINGS = 2  # quantized checkpoints of the same model tried
MAX_BIGGER_GPUS = 4  # bigger GPU types tried (smallest first, those that cannot hold the plan skipped)
# A bigger GPU is tried only when its memory could hold what the failing plan commits per GPU: vLLM's
# default budget is 0.92 of it, and the estimate of what a plan commits moves a little with the GPU.
DEFAULT_UTILIZATION = 0.92
NEED_TOLERANCE = 0.9
CONTEXT_ROUNDING = 1024  # a shortened prompt is rounded down to this when it is longer
# The user's own settings that can keep a plan from fitting, and what leaves each to the wizard.
OVERRIDES = {
    "gpu_memory_utilization": None, "max_num_seqs": None, "max_num_batched_tokens": None, "enforce_eager": None,
    "kv_cache_memory_bytes": None, "overhead_gb": 0.0, "headroom_gb": 0.0, "fragmentation_factor": 1.0,
}


Fitting = tuple[PlanRequest, PlanResponse]  # a changed request and its plan, which fits
Planned = Callable[[dict[str, Any]], "Fitting | None"]  # plans a change; None unless it fits


@dataclass(frozen=True)
class _Fix:
    """A candidate change: its kind (one suggestion per kind), words, request changes and how much it changes."""

    kind: str
    text: str
    changes: dict[str, Any]
    change_rank: int  # 0 changes least; breaks ties between fixes that rent the same hardware


def quantized_siblings(arch: Architecture) -> list[str]:
    """Catalog checkpoints with the same shapes as ``arch`` but quantized weights."""
    keys = ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "vocab_size", "model_type")
    found = []
    for model_id in catalog_ids():
        other = resolve_model(model_id).arch
        if other.quantization_config and all(getattr(other, k) == getattr(arch, k) for k in keys):
            found.append(model_id)
    return found


def _weight_changes(inp: Inputs) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, words, changes) that store the weights in fewer bytes: quantized checkpoints, then fp8 online."""
    if inp.fmt.kind != "none":
        return []
    out = [("checkpoint", f"the pre-quantized checkpoint {entry_id}", {"model": entry_id, "quantization": None})
           for entry_id in quantized_siblings(inp.arch)[:MAX_SIBLINGS]]
    if inp.hw.gpu.ampere_or_newer:
        out.append(("fp8", "fp8 weights (vLLM quantizes them when it loads the model)", {"quantization": "fp8"}))
    return out


def _prompt_change(inp: Inputs, context_tokens: int) -> tuple[str, dict[str, Any]] | None:
    """Prompts shortened so a request holds ``context_tokens`` (rounded down); None when that is no shorter."""
    wl = inp.request.workload
    prompt = context_tokens - wl.gen_tokens
    prompt = prompt // CONTEXT_ROUNDING * CONTEXT_ROUNDING if prompt > CONTEXT_ROUNDING else prompt
    if not 0 < prompt < wl.prompt_tokens:
        return None
    return f"prompts of {prompt:,} tokens (not {wl.prompt_tokens:,})", {"prompt_tokens": prompt}


def _setting_fixes(inp: Inputs, resp: PlanResponse) -> list[_Fix]:
    """Changes on the same hardware, least disruptive first (one per kind is kept: the first that fits)."""
    request, f = inp.request, resp.feasibility
    wl, pol = request.workload, request.policy
    fixes = []
    overridden = {name: empty for name, empty in OVERRIDES.items() if getattr(pol, name) != empty}
    if overridden:
        fixes.append(_Fix("overrides", f"leave {', '.join(overridden)} to the wizard (not your own values)", overridden, 0))
    if resp.memory.kv_cache_dtype in ("auto", "bfloat16", "float16") and inp.hw.gpu.ampere_or_newer:
        fixes.append(_Fix("kv", "store the KV cache in fp8 (half the bytes per token)", {"kv_cache_dtype": "fp8"}, 1))
    for kind, words, changes in _weight_changes(inp):
        fixes.append(_Fix(kind, f"use {words}", changes, 2 if kind == "checkpoint" else 3))
    if isinstance(request.model.max_model_len, int) and (not f.starts or f.context_tokens > request.model.max_model_len):
        fixes.append(_Fix("context", f"leave max_model_len to the wizard (not {request.model.max_model_len:,})",
                          {"max_model_len": None}, 4))
    limit = resp.model.max_model_len_limit
    for context in (limit, min(limit, f.max_context_tokens)):  # the model's longest, then what fits at this load
        change = _prompt_change(inp, context) if context else None
        if change:
            fixes.append(_Fix("prompt", f"send {change[0]}", change[1], 5))
    if f.starts and 0 < f.max_concurrency < wl.requests_at_once:
        fixes.append(_Fix("load", f"serve {f.max_concurrency:,} requests at once instead of {wl.requests_at_once:,}",
                          {"concurrency": f.max_concurrency}, 6))
    return fixes


def _layouts(inp: Inputs) -> list[tuple[int, int]]:
    """(GPUs per node, nodes) beyond the request's, fewest GPUs first: more per node, then more nodes."""
    per_node, nodes = inp.hw.gpus_per_node, inp.hw.nodes
    out = []
    size = 1
    while size <= NODE_GPUS:
        if size > per_node:
            out.append((size, nodes))
        size *= 2
    wide = max(per_node, NODE_GPUS)
    out += [(wide, n) for n in range(nodes + 1, MAX_NODES + 1)]
    return out


def _layout(per_node: int, nodes: int) -> dict[str, Any]:
    """The request changes of a layout: the wizard picks the parallel sizes for it."""
    return {"gpus": per_node, "nodes": nodes, "tensor_parallel_size": None, "pipeline_parallel_size": None}


def _layout_words(gpu: GpuSpec, per_node: int, nodes: int) -> str:
    if nodes == 1:
        return f"{per_node} x {gpu.name}"
    return f"{nodes} nodes of {per_node} x {gpu.name} ({nodes * per_node} GPUs, one pipeline stage per node)"


def _rented_gib(request: PlanRequest, gpu_gib: float) -> float:
    """GPU memory a request rents in all: what the fixes are ranked by."""
    return request.hardware.gpus * request.hardware.nodes * gpu_gib


def _bigger_gpus(gpu: GpuSpec, need_gib: float) -> list[GpuSpec]:
    """Catalog GPUs of the same vendor with more memory, smallest first, leaving out those whose default budget
    cannot hold what the failing plan commits per GPU (``need_gib``)."""
    same = [g for g in catalog() if g.vendor == gpu.vendor or gpu.vendor == "unknown"]  # a custom GPU: any
    return sorted((g for g in same if g.cuda_total_gib > gpu.cuda_total_gib
                   and g.cuda_total_gib * DEFAULT_UTILIZATION >= need_gib * NEED_TOLERANCE), key=lambda g: g.cuda_total_gib)


def suggestions(inp: Inputs, resp: PlanResponse, replan: Callable[[PlanRequest], PlanResponse]) -> list[Suggestion]:
    """The changes that make the plan fit when ``replan`` plans them, cheapest first (at most MAX_SUGGESTIONS)."""
    flat = inp.request.flat()
    budget = [MAX_REPLANS]

    def planned(changes: dict[str, Any]) -> Fitting | None:
        """The changed request and its plan when it fits; None when it does not, is refused, or the budget is spent."""
        if budget[0] <= 0:
            return None
        budget[0] -= 1
        try:
            request = parse_request({**flat, **changes})
            variant = replan(request)
        except WizardError:
            return None
        return (request, variant) if variant.feasibility.fits else None

    found: list[tuple[float, int, Suggestion]] = []
    kinds: set[str] = set()

    def keep(fix: _Fix, result: Fitting | None) -> bool:
        """Keep a fix whose re-plan fits, the first of its kind; whether it was kept."""
        if result is None:
            return False
        request, variant = result
        kinds.add(fix.kind)
        found.append((_rented_gib(request, variant.hardware.gpu_total_gib), fix.change_rank,
                      Suggestion(text=fix.text, changes=fix.changes)))
        return True

    for fix in _setting_fixes(inp, resp):
        if fix.kind not in kinds:
            keep(fix, planned(fix.changes))

    # The fewest GPUs of this type: as they are; unless a weight change alone fits, with the lightest one; and for
    # a context longer than the model allows (no hardware helps), with the model's longest.
    gpu, layouts = inp.hw.gpu, _layouts(inp)
    bases = [("", "", {})] + ([] if kinds & {"checkpoint", "fp8"} else _weight_changes(inp)[:1])
    longest = _prompt_change(inp, resp.model.max_model_len_limit)
    if longest:
        bases.append(("prompt", *longest))
    for kind, words, changes in bases:
        layout = _smallest_layout(layouts, planned, changes)
        if layout is not None:
            per_node, nodes, result = layout
            more = "more GPUs" if nodes == inp.hw.nodes else "more nodes"
            keep(_Fix(f"{more} {kind}".strip(), f"use {_layout_words(gpu, per_node, nodes)}" + (f" with {words}" if words else ""),
                      {**changes, **_layout(per_node, nodes)}, 8 if kind else 6), result)

    # The smallest bigger GPU at the same count.
    need_gib = resp.feasibility.budget_committed_fraction * resp.memory.budget_gib
    same_count = {"gpus": inp.hw.gpus_per_node, "nodes": inp.hw.nodes, "tensor_parallel_size": None}
    for spec in _bigger_gpus(gpu, need_gib)[:MAX_BIGGER_GPUS]:
        fix = _Fix("bigger GPU", f"use {spec.name} GPUs ({spec.cuda_total_gib:g} GiB each) instead of {gpu.name}",
                   {"gpu": spec.name, "vram_gb": None, **same_count}, 7)
        if keep(fix, planned(fix.changes)):
            break

    found.sort(key=lambda item: (item[0], item[1]))
    return [suggestion for _, _, suggestion in found[:MAX_SUGGESTIONS]]


def _smallest_layout(layouts: list[tuple[int, int]], planned: Planned, weight: dict[str, Any]
                     ) -> tuple[int, int, tuple[PlanRequest, PlanResponse]] | None:
    """The fewest GPUs in ``layouts`` that fit (with a weight change, if given), by binary search: layouts fit more
    as they grow.  (GPUs per node, nodes, the fitting plan): the layout returned was planned and fits."""
    if not layouts:
        return None
    def attempt(index: int) -> Fitting | None:
        return planned({**weight, **_layout(*layouts[index])})

    best = attempt(len(layouts) - 1)
    if best is None:
        return None
    low, high = 0, len(layouts) - 1
    while low < high:
        middle = (low + high) // 2
        result = attempt(middle)
        if result is None:
            low = middle + 1
        else:
            high, best = middle, result
    return (*layouts[high], best)
