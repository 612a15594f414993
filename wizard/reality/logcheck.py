"""A plan against reality: replay what a vLLM start-up log ran with, and set the prediction beside it.

``replay_request`` turns the settings vLLM actually used (its own defaults
included, not the planner's recommendations) into a plan request; it is shared
with ``benchmarks/memory_accuracy.py``.  ``check_log`` parses a log, plans the
same settings and lines up predicted against measured numbers.
"""

from __future__ import annotations

import re
from pathlib import PureWindowsPath
from typing import Any

from wizard.catalog.gpus import GpuSpec, catalog, custom_gpu, get_gpu
from wizard.catalog.metadata import catalog_ids, looks_like_path, resolve_model
from wizard.errors import WizardError
from wizard.physics.versions import release
from wizard.planning.planner import plan
from wizard.planning.recommend import batching
from wizard.reality.startup_log import parse_startup_log
from wizard.schema import (
    VLLM_VERSION,
    KvCacheDtype,
    PlanRequest,
    PlanResponse,
    Quantization,
    parse_request,
)
from wizard.schema.results import ROUNDING_GIB, CheckRow, LogCheck, StartupLog
from wizard.units import GIB

GPU_MATCH_GIB = 0.02  # a log's total names a catalog GPU when within this of its measured CUDA total (logs round to 0.01)
WEIGHTS_TOLERANCE = 0.03  # weights are exact arithmetic: within 3% counts as a match


def release_version(text: str | None, engine: str | None) -> str:
    """A log's vLLM version as the planner takes it; unknown ones as their engine's typical release."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if match and int(match.group(1)) == 0:
        return f"0.{match.group(2)}.{match.group(3) or 0}"
    return "0.6.0" if engine == "V0" else VLLM_VERSION


def gpus_for_total(total_gib: float) -> list[GpuSpec]:
    """Catalog GPUs whose measured CUDA-reported memory is this total, closest first (estimated totals never match)."""
    close = [g for g in catalog() if not g.cuda_total_estimated and abs(g.cuda_total_gib - total_gib) <= GPU_MATCH_GIB]
    return sorted(close, key=lambda g: abs(g.cuda_total_gib - total_gib))


def replay_request(model: str, *, gpu: GpuSpec | None, total_gib: float | None, vllm_version: str, tp: int = 1, pp: int = 1,
                   dp: int = 1, expert_parallel: bool = False, gpu_memory_utilization: float | None = None, max_model_len: int | None = None,
                   max_num_seqs: int | None = None, max_num_batched_tokens: int | None = None,
                   enforce_eager: bool = False, kv_cache_dtype: str = "auto", quantization: str | None = None,
                   dtype: str | None = None) -> PlanRequest:
    """The request that replays a real start-up: vLLM's own defaults fill what the run did not set."""
    if gpu is None and total_gib is None:
        raise WizardError("the GPU is unknown: the log shows no total GPU memory; name the GPU", field="gpu")
    arch = resolve_model(model).arch
    values: dict[str, Any] = {
        "model": model, "gpus": tp * pp * dp, "tensor_parallel_size": tp, "pipeline_parallel_size": pp,
        "data_parallel_size": dp, "enable_expert_parallel": expert_parallel and arch.moe is not None,
        "vllm_version": vllm_version, "concurrency": 1, "prompt_tokens": 1, "gen_tokens": 1,
        "enforce_eager": enforce_eager, "kv_cache_dtype": "fp8" if kv_cache_dtype.startswith("fp8") else kv_cache_dtype,
    }
    spec = gpu or get_gpu("H100")
    if gpu is not None:
        values["gpu"] = gpu.name
    if total_gib is not None:
        values["vram_gb"] = total_gib
        spec = custom_gpu(total_gib, spec)
    if gpu_memory_utilization is not None and 0 < gpu_memory_utilization <= 1:
        values["gpu_memory_utilization"] = gpu_memory_utilization
    if max_model_len:
        values["max_model_len"] = max_model_len
    if dtype in ("bfloat16", "float16", "float32"):
        values["dtype"] = dtype
    if quantization and arch.quantization_config is None:  # quantized online by vLLM at load time
        if quantization not in Quantization.__args__:
            raise WizardError(f"the run quantized online with {quantization!r}, which the planner does not model")
        values["quantization"] = quantization
    if values["kv_cache_dtype"] not in KvCacheDtype.__args__:
        raise WizardError(f"KV-cache dtype {kv_cache_dtype!r} is not one the planner models")
    rel = release(vllm_version, pre_ampere=not spec.ampere_or_newer)
    seqs, tokens = batching("balanced", spec, 1, max_num_seqs, max_num_batched_tokens, max_model_len or arch.max_model_len, rel)
    values["max_num_seqs"], values["max_num_batched_tokens"] = seqs.value, tokens.value
    return parse_request(values)


def _row(quantity: str, unit: str, measured: float, predicted: float, low: float, high: float) -> CheckRow:
    return CheckRow(quantity=quantity, unit=unit, measured=measured, predicted=predicted, low=low, high=high)


def compare_rows(log: StartupLog, p: PlanResponse) -> list[CheckRow]:
    """Each number the log reports beside the plan's prediction and range."""
    mem, rng = p.memory, p.memory.ranges
    rows = []
    if log.requested_memory_gib is not None:  # arithmetic on the log's own total and utilization, both rounded
        b = mem.budget_gib
        rows.append(_row("requested memory (total x utilization)", "GiB", log.requested_memory_gib,
                     b, b - ROUNDING_GIB, b + ROUNDING_GIB))
    w = mem.weights_gib
    if log.weights_gib is not None:
        rows.append(_row("model weights", "GiB", log.weights_gib, w, w * (1 - WEIGHTS_TOLERANCE), w * (1 + WEIGHTS_TOLERANCE)))
    if log.activation_gib is not None:
        act = rng["activation_gib"]
        if log.activation_includes_cuda_graphs and mem.cuda_graph_in_budget:
            cg = rng["cuda_graph_gib"]
            rows.append(_row("peak activation (with the CUDA-graph estimate, as this release reports it)", "GiB",
                     log.activation_gib, act.expected + cg.expected, act.low + cg.low, act.high + cg.high))
        else:
            rows.append(_row("activation peak", "GiB", log.activation_gib, act.expected, act.low, act.high))
    if log.weights_and_non_torch_gib is not None and log.non_torch_gib is None:  # 0.27+ summary without the weights line
        nt = rng["non_torch_gib"]
        rows.append(_row("weights + non-torch memory", "GiB", log.weights_and_non_torch_gib, w + nt.expected,
                     w * (1 - WEIGHTS_TOLERANCE) + nt.low, w * (1 + WEIGHTS_TOLERANCE) + nt.high))
    for measured, key, label in ((log.non_torch_gib, "non_torch_gib", "non-torch memory"),
                                 (log.cuda_graph_gib, "cuda_graph_gib", "CUDA graphs"),
                                 (log.cuda_graph_estimate_gib, "cuda_graph_gib", "CUDA-graph memory estimate")):
        if measured is not None:
            r = rng[key]
            rows.append(_row(label, "GiB", measured, r.expected, r.low, r.high))
    kv = rng["kv_cache_gib"]
    if log.kv_cache_gib is not None:
        rows.append(_row("available KV cache memory", "GiB", log.kv_cache_gib, kv.expected, kv.low, kv.high))
    # Tokens and concurrency scale with the KV pool: their range is the pool's.
    scale_low = kv.low / kv.expected if kv.expected > 0 else 0.0
    scale_high = kv.high / kv.expected if kv.expected > 0 else 0.0
    if log.kv_cache_tokens is not None:
        t = mem.kv_cache_tokens
        rows.append(_row("GPU KV cache size", "tokens", log.kv_cache_tokens, t, t * scale_low, t * scale_high))
    if log.max_concurrency is not None:
        c = p.feasibility.max_concurrency_at_max_model_len
        rows.append(_row("maximum concurrency at max_model_len", "x", log.max_concurrency, c, c * scale_low, c * scale_high))
    return rows


def suggestion_note(log: StartupLog, p: PlanResponse) -> str | None:
    """vLLM's own --kv-cache-memory advice beside the plan's KV pool, or None when the log has none."""
    fit, full = log.suggested_kv_cache_memory_bytes, log.suggested_kv_cache_memory_full_gpu_bytes
    if fit is None and full is None:
        return None
    advice = [f"--kv-cache-memory={value} ({value / GIB:.2f} GiB) {purpose}" for value, purpose in
              ((fit, "to fit the requested memory"), (full, "to use all free GPU memory")) if value is not None]
    return f"vLLM suggests {' or '.join(advice)}; the plan's KV pool is {p.memory.kv_cache_gib:.2f} GiB per GPU"


def infer_install(request: PlanRequest, weights_gib: float | None, activation_gib: float | None,
                  kv_cache_gib: float | None = None) -> tuple[PlanRequest, str | None]:
    """The installation a run's own numbers point to, and why (None when they cannot tell).

    How vLLM was installed changes two things before 0.12: the container images
    bundle FlashInfer (a smaller sampler peak) and the Triton MoE kernels (gpt-oss
    loads unpadded on Hopper).  A log never says which, but its weights, activation
    peak and KV pool do: the replay takes the installation whose plan lands closer.
    The KV pool decides only where the weights and activation peak cannot (absent,
    or both installs load the same), since the pool is what a replay is checked on.
    """
    measured = {"weights": weights_gib, "activation peak": activation_gib, "KV pool": kv_cache_gib}
    candidates = {}
    for install in ("image", "pip"):
        variant = request.model_copy(update={"policy": request.policy.model_copy(update={"vllm_install": install})})
        try:
            memory = plan(variant, detected=[], suggest=False).memory
        except WizardError:
            continue
        predicted = {"weights": memory.weights_gib, "activation peak": memory.activation_gib, "KV pool": memory.kv_cache_gib}
        candidates[install] = (variant, memory, {name: abs(predicted[name] - value)
                                                 for name, value in measured.items() if value is not None})
    if len(candidates) < 2:
        return request, None

    def miss(install: str, names: tuple[str, ...]) -> float:
        return sum(candidates[install][2].get(name, 0.0) for name in names)

    names = next((names for names in (("weights", "activation peak"), ("KV pool",))
                  if miss("image", names) != miss("pip", names)), None)
    if names is None or miss("image", names) < miss("pip", names):
        return request, None
    variant, memory, misses = candidates["pip"]
    named = " and ".join(name for name in names if name in misses)
    return variant, (f"the log's {named} match pip's vLLM {memory.vllm_version} "
                     f"(no bundled FlashInfer or Triton MoE kernels): planned as a pip install")


def _readable_here(path: str) -> None:
    """A log's model given as the server's directory must be one here too: else say to name the model it holds
    (the catalog's id of that name, when there is one)."""
    try:
        resolve_model(path)
    except WizardError as exc:
        folder = PureWindowsPath(path).name.lower()  # the last part: / and backslashes both split it
        same = [i for i in catalog_ids() if i.rsplit("/", 1)[-1].lower() == folder]
        hint = f" ({same[0]} in the catalog?)" if same else ""
        raise WizardError(f"the log's model is the server's directory {path!r}, which cannot be read here ({exc}): "
                          f"give the model it holds{hint}", field="model") from None


def check_log(text: str, model: str | None = None, gpu: str | None = None) -> LogCheck:
    """Parse a start-up log, plan what it ran with, and compare; ``model``/``gpu`` fill what the log lacks."""
    log = parse_startup_log(text)
    name = model or log.model
    if not name:
        raise WizardError("the log does not name the model: give it", field="model")
    if not model and looks_like_path(name):
        _readable_here(name)
    notes = list(log.notes)
    matches = gpus_for_total(log.gpu_total_gib) if log.gpu_total_gib and not gpu else []
    spec = get_gpu(gpu) if gpu else (matches[0] if matches else None)
    if len(matches) > 1:
        notes.append(f"{log.gpu_total_gib} GiB is the memory of {', '.join(g.name for g in matches)}: planned as "
                     f"{spec.name} (name the GPU to choose)")
    if spec is None and log.gpu_total_gib:
        notes.append(f"no catalog GPU has {log.gpu_total_gib} GiB: planned as a custom GPU of that size (name the GPU to choose)")
    if log.vllm_version is None:
        notes.append(f"the log shows no vLLM version: planned as vLLM {release_version(None, log.engine)}")
    request = replay_request(
        name, gpu=spec, total_gib=log.gpu_total_gib,
        vllm_version=release_version(log.vllm_version, log.engine), tp=log.tensor_parallel_size or 1,
        pp=log.pipeline_parallel_size or 1, dp=log.data_parallel_size or 1, expert_parallel=bool(log.enable_expert_parallel),
        gpu_memory_utilization=log.gpu_memory_utilization,
        max_model_len=log.max_model_len, max_num_seqs=log.max_num_seqs, max_num_batched_tokens=log.max_num_batched_tokens,
        enforce_eager=bool(log.enforce_eager), kv_cache_dtype=log.kv_cache_dtype or "auto", quantization=log.quantization,
        dtype=log.dtype)
    if log.gpu_memory_utilization is None:
        notes.append("the log shows no gpu_memory_utilization: planned with that release's default")
    try:
        request, install_note = infer_install(request, log.weights_gib, log.activation_gib, log.kv_cache_gib)
        resp = plan(request, detected=[])
    except WizardError as exc:
        # The log's settings carry vLLM's own names, which are the request's field names.
        why = "; ".join(f"{field}: {message}" if field else message for field, message in exc.problems)
        raise WizardError(f"cannot replay the log's settings for {name}: {why}") from None
    if install_note:
        notes.append(install_note)
    if advice := suggestion_note(log, resp):
        notes.append(advice)
    return LogCheck(log=log, request=request, plan=resp, rows=compare_rows(log, resp), notes=notes)
