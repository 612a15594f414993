"""Fixes for a plan that does not fit: candidate changes, each verified by planning it (through a re-plan function handed in)."""

from __future__ import annotations

from typing import Any, Callable

from wizard.catalog.gpus import catalog
from wizard.catalog.metadata import catalog_ids, resolve_model
from wizard.errors import WizardError
from wizard.physics.arch import Architecture
from wizard.planning.inputs import Inputs
from wizard.schema import PlanRequest, PlanResponse, Suggestion, parse_request

MAX_SUGGESTIONS = 5  # verified fixes shown for a failing plan; each costs a full re-plan


def _variants(inp: Inputs, resp: PlanResponse) -> list[tuple[str, str, dict[str, Any]]]:
    """Candidate changes, cheapest first: fewer requests, shorter context, fp8 KV, quantization, more or bigger GPUs."""
    arch, request, hw = inp.arch, inp.request, inp.hw
    f = resp.feasibility
    out: list[tuple[str, str, dict[str, Any]]] = []  # (group, text, changes): one suggestion per group
    if f.starts and not f.workload_fits and 0 < f.max_concurrency < request.workload.requests_at_once:
        out.append(("load", f"serve {f.max_concurrency} requests at once instead of {request.workload.requests_at_once}",
                    {"concurrency": f.max_concurrency}))
    if not f.starts and f.max_context_tokens == 0 and isinstance(request.model.max_model_len, int):
        out.append(("context", "let vLLM fit max_model_len to memory", {"max_model_len": "auto"}))
    if resp.memory.kv_cache_dtype == "auto" and hw.gpu.ampere_or_newer:
        out.append(("kv", "store the KV cache in fp8 (half the bytes per token)", {"kv_cache_dtype": "fp8"}))
    if inp.fmt.kind == "none":
        for entry_id in quantized_siblings(arch):
            out.append(("checkpoint", f"use the pre-quantized checkpoint {entry_id}", {"model": entry_id, "quantization": None}))
        if hw.gpu.ampere_or_newer:
            out.append(("fp8", "quantize the weights to fp8 when vLLM loads them (vLLM's --quantization fp8)", {"quantization": "fp8"}))
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


def suggestions(inp: Inputs, resp: PlanResponse, replan: Callable[[PlanRequest], PlanResponse]) -> list[Suggestion]:
    """The variants that fit when ``replan`` plans them (at most MAX_SUGGESTIONS)."""
    flat = inp.request.flat()
    found: list[Suggestion] = []
    done: set[str] = set()
    for group, text, changes in _variants(inp, resp):
        if group in done:
            continue
        try:
            variant = replan(parse_request({**flat, **changes}))
        except WizardError:
            continue
        if variant.feasibility.fits:
            found.append(Suggestion(text=text, changes=changes))
            done.add(group)
        if len(found) == MAX_SUGGESTIONS:
            break
    return found
