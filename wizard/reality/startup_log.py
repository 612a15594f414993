"""Read a vLLM server start-up log: the settings it ran with and the memory it reported.

The text is a log pasted by a user or read from a file, from any release of the
V0 engine (vLLM ~0.4-0.10) or the V1 engine (0.8 ... 0.33). Nothing in it is ever
executed: settings come from regular expressions, and the one Python literal
vLLM prints (``non-default args: {...}``) goes through ``ast.literal_eval`` only.

Memory lines by release (all numbers GiB per GPU; V0's "GB" is GiB):

* weights: ``Loading model weights took 14.9888 GB`` (V0 <=0.6),
  ``Model loading took 15.41 GB and 9.0 seconds`` (V0 0.7-0.8),
  ``Model loading took 14.99 GiB [memory] and 5.3 seconds`` (V1);
* V0 0.6.4: ``Memory profiling results: total_gpu_memory=… peak_torch_memory=…
  non_torch_memory=… kv_cache_size=… gpu_memory_utilization=…``;
* V0 0.6.5-0.10: ``… total_gpu_memory (23.58GiB) x gpu_memory_utilization (0.90) …``
  and ``model weights take …; non_torch_memory takes …; PyTorch activation peak
  memory takes …; the rest of the memory reserved for KV Cache is ….``;
* V1: ``Available KV cache memory: 5.77 GiB``, ``GPU KV cache size: 47,120 tokens``,
  ``Maximum concurrency for 8,192 tokens per request: 5.75x``,
  ``Graph capturing finished in 7 secs, took 0.53 GiB``;
* V1 0.18+: ``Estimated CUDA graph memory: E GiB total`` and ``CUDA graph pool memory:
  G GiB (actual), E GiB (estimated), difference: …``;
* V1 summary (vllm/v1/worker/gpu_worker.py, after CUDA-graph capture, once per rank):
  ``Free memory on device (F/T GiB) on startup. Desired GPU memory utilization is
  (u, R GiB). Actual usage is W GiB for weight, A GiB for peak activation, N GiB for
  non-torch memory, and G GiB for CUDAGraph memory. Replace gpu_memory_utilization
  config with `--kv-cache-memory=S` to fit into requested memory, or
  `--kv-cache-memory=M` to fully utilize gpu memory. Current kv cache memory in use is
  K bytes.`` at INFO in 0.10.2; 0.11.0-0.25 add `` (X GiB)`` after S and M, print K in
  GiB and log the line at DEBUG only; 0.26.0 logs it at INFO again; 0.27.0+ print
  ``C GiB for consumed memory (weights + non-torch), A GiB for peak activation, and G
  GiB for CUDAGraph memory`` (A then includes the applied CUDA-graph estimate);
* blocks: ``# GPU blocks: 1952, # CPU blocks: 2048`` (also ``# cuda blocks``).

With several ranks each worker prints its own lines: per-rank values come from
rank 0 (the line without a worker tag, or tagged rank/TP 0), else the first one
seen; the KV cache memory is the minimum over ranks, as vLLM sizes the cache.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from wizard.errors import WizardError
from wizard.physics.kv import DEFAULT_BLOCK_SIZE
from wizard.reality import log_patterns as pat
from wizard.schema.results import StartupLog
from wizard.units import GIB

PRINTED_GIB_ROUNDING = 0.005  # vLLM prints GiB to two decimals: values this close may be the same number

NO_MEMORY_LINES = (
    "no vLLM memory lines found: expected 'Model loading took … GiB', "
    "'Available KV cache memory: … GiB' or '# GPU blocks: …' (paste the server's "
    "startup log from its first line to 'Application startup complete')"
)
EMPTY_LOG = (
    "the startup log is empty: paste the server's startup log from its first line "
    "to 'Application startup complete'"
)


def parse_startup_log(text: str) -> StartupLog:
    """Parse a vLLM server start-up log into the settings and memory numbers it reports.

    Raises WizardError with a one-line message when the text is empty or has
    none of vLLM's memory lines (weights, KV cache or GPU blocks).
    """
    if not text.strip():
        raise WizardError(EMPTY_LOG)
    lines = _rank0_first(pat.ANSI_RE.sub("", text).splitlines())
    notes: list[str] = []
    settings = _settings(lines, notes)

    weights_gib = _first_number(lines, pat.WEIGHTS_RES)
    kv_cache_gib = _kv_cache_gib(lines, notes)
    gpu_blocks = _first_int(lines, (pat.GPU_BLOCKS_RE,))
    block_size = _to_int(settings.get("block_size"))
    kv_cache_tokens = _kv_cache_tokens(lines, gpu_blocks, block_size, notes)
    if weights_gib is None and kv_cache_gib is None and kv_cache_tokens is None:
        raise WizardError(NO_MEMORY_LINES)

    concurrency = _first(lines, (pat.CONCURRENCY_RE,))
    max_model_len = _max_model_len(settings, concurrency, notes)
    # 0.27+'s summary line ("consumed memory (weights + non-torch)") changes what two numbers mean.
    consumed_summary = _first(lines, (pat.CONSUMED_RE,)) is not None
    free_memory = _first(lines, (pat.FREE_MEMORY_RE,))
    cuda_graph_estimate_gib = _first_number(lines, pat.CUDA_GRAPH_ESTIMATE_RES)
    suggested_fit, suggested_full = _suggested_kv_cache_memory(lines, consumed_summary, cuda_graph_estimate_gib, notes)
    cuda_graph_gib = _cuda_graph_gib(lines, notes)

    return StartupLog(
        **_engine_settings(lines, settings, notes),
        max_model_len=max_model_len,
        block_size=block_size,
        gpu_total_gib=_first_number(lines, pat.TOTAL_RES),
        gpu_free_at_startup_gib=None if free_memory is None else _number(free_memory.group(1)),
        requested_memory_gib=_first_number(lines, (pat.REQUESTED_RE,)),
        weights_gib=weights_gib,
        activation_gib=_activation_gib(lines, weights_gib, consumed_summary, notes),
        non_torch_gib=_non_torch_gib(lines, weights_gib, notes),
        weights_and_non_torch_gib=_first_number(lines, (pat.CONSUMED_RE,)),
        cuda_graph_gib=cuda_graph_gib,
        cuda_graph_estimate_gib=cuda_graph_estimate_gib,
        kv_cache_gib=kv_cache_gib,
        kv_cache_tokens=kv_cache_tokens,
        gpu_blocks=gpu_blocks,
        max_concurrency=None if concurrency is None else _number(concurrency.group(2)),
        suggested_kv_cache_memory_bytes=suggested_fit,
        suggested_kv_cache_memory_full_gpu_bytes=suggested_full,
        notes=tuple(notes),
        activation_includes_cuda_graphs=consumed_summary,
    )


# ---- lines and ranks


def _is_rank0(line: str) -> bool:
    """True unless the line carries a worker tag of a rank other than 0."""
    for tag in pat.WORKER_TAG_RE.finditer(line):
        digits = {ch for ch in tag.group(0) if ch.isdigit()}
        if digits != {"0"}:
            return False
    return True


def _rank0_first(lines: list[str]) -> list[str]:
    """Non-blank lines, rank 0's (and untagged ones) first, each group in log order."""
    kept = [line for line in lines if line.strip()]
    return sorted(kept, key=lambda line: not _is_rank0(line))


def _first(lines: list[str], patterns: tuple[re.Pattern[str], ...]) -> re.Match[str] | None:
    """The first match of the first pattern that matches any line."""
    for pattern in patterns:
        for line in lines:
            if match := pattern.search(line):
                return match
    return None


def _number(raw: str) -> float:
    """A number as vLLM prints it, thousands commas allowed."""
    return float(raw.replace(",", ""))


def _first_number(lines: list[str], patterns: tuple[re.Pattern[str], ...]) -> float | None:
    """The number in the last group of the first match, or None."""
    match = _first(lines, patterns)
    return None if match is None else _number(match.group(match.lastindex or 0))


def _first_int(lines: list[str], patterns: tuple[re.Pattern[str], ...]) -> int | None:
    """Like _first_number, as an int."""
    value = _first_number(lines, patterns)
    return None if value is None else int(value)


def _first_text(lines: list[str], patterns: tuple[re.Pattern[str], ...]) -> str | None:
    """Group 1 of the first match, or None."""
    match = _first(lines, patterns)
    return None if match is None else match.group(1)


# ---- settings


def _settings(lines: list[str], notes: list[str]) -> dict[str, str]:
    """Settings as raw text: the engine config line first, then non-default args, then Namespace args."""
    sources: list[dict[str, str]] = []
    if init := _first(lines, (pat.ENGINE_INIT_RE,)):
        sources.append(_pairs(init.group(3)))
    if non_default := _first(lines, (pat.NON_DEFAULT_ARGS_RE,)):
        sources.append(_literal_dict(non_default.group(1), notes))
    if namespace := _first(lines, (pat.NAMESPACE_RE,)):
        sources.append(_pairs(namespace.group(1)))
    merged: dict[str, str] = {}
    for source in sources:
        for key, value in source.items():
            if _to_text(value) is not None and not (key == "dtype" and value == "auto"):
                merged.setdefault("max_model_len" if key == "max_seq_len" else key, value)
    return merged


def _pairs(text: str) -> dict[str, str]:
    """``key=value`` or ``'key': value`` settings found in a config or args text, unquoted."""
    found: dict[str, str] = {}
    for key in pat.SETTING_KEYS:
        match = re.search(
            rf"(?<![\w.'\"])['\"]?{key}['\"]?\s*[=:]\s*('[^']*'|\"[^\"]*\"|[^,\s)}}\]]+)", text
        )
        if match:
            found[key] = match.group(1).strip("'\"")
    return found


def _literal_dict(text: str, notes: list[str]) -> dict[str, str]:
    """The non-default args dict via ast.literal_eval; by pattern when it is not a plain literal."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        notes.append("the 'non-default args' line is not a plain Python literal; read it by pattern only")
        return _pairs(text)
    if not isinstance(value, dict):
        return {}
    return {key: str(item) for key, item in value.items() if key in pat.SETTING_KEYS}


def _to_text(raw: str | None) -> str | None:
    """A setting's text, None for a missing or "None" value."""
    return None if raw in (None, "", "None") else raw


def _to_int(raw: str | None) -> int | None:
    """A setting as an int, None when missing or not a whole number."""
    try:
        return None if raw is None else int(raw.replace(",", ""))
    except ValueError:
        return None


def _to_float(raw: str | None) -> float | None:
    """A setting as a float, None when missing or not a number."""
    try:
        return None if raw is None else float(raw)
    except ValueError:
        return None


def _to_bool(raw: str | None) -> bool | None:
    """A flag as vLLM prints it (True/False), None when missing or anything else."""
    return {"True": True, "False": False}.get(raw or "")


def _dtype(raw: str | None) -> str | None:
    """``torch.bfloat16`` -> ``bfloat16``; None when missing."""
    text = _to_text(raw)
    return None if text is None else text.removeprefix("torch.")


def _engine_settings(lines: list[str], settings: dict[str, str], notes: list[str]) -> dict[str, Any]:
    """The StartupLog fields that name the release, the engine, the model and vLLM's settings."""
    gpu_memory_utilization = _to_float(settings.get("gpu_memory_utilization"))
    if gpu_memory_utilization is None:
        gpu_memory_utilization = _first_number(lines, pat.GMU_RES)
    return {
        "vllm_version": _version(lines),
        "engine": _engine(lines, notes),
        "model": _to_text(settings.get("model")) or _first_text(lines, pat.MODEL_RES),
        "tensor_parallel_size": _to_int(settings.get("tensor_parallel_size")),
        "pipeline_parallel_size": _to_int(settings.get("pipeline_parallel_size")),
        "data_parallel_size": _to_int(settings.get("data_parallel_size")),
        "enable_expert_parallel": _to_bool(settings.get("enable_expert_parallel")),
        "dtype": _dtype(settings.get("dtype")),
        "quantization": _to_text(settings.get("quantization")),
        "kv_cache_dtype": _to_text(settings.get("kv_cache_dtype")),
        "enforce_eager": _to_bool(settings.get("enforce_eager")),
        "gpu_memory_utilization": gpu_memory_utilization,
        "max_num_seqs": _to_int(settings.get("max_num_seqs")),
        "max_num_batched_tokens": _to_int(settings.get("max_num_batched_tokens")),
    }


def _version(lines: list[str]) -> str | None:
    """The vLLM release the log names, from the server banner or the engine config line."""
    init = _first(lines, (pat.ENGINE_INIT_RE,))
    if init and init.group(2) and init.group(2)[0].isdigit():
        return init.group(2)
    return _first_text(lines, pat.VERSION_RES)


def _engine(lines: list[str], notes: list[str]) -> str | None:
    """ "V1" or "V0": from the engine config line, else from V1-only or V0-only log lines."""
    if init := _first(lines, (pat.ENGINE_INIT_RE,)):
        return init.group(1) or "V0"  # "Initializing an LLM engine" is the V0 engine
    for engine, markers in (("V1", pat.V1_MARKERS_RE), ("V0", pat.V0_MARKERS_RE)):
        if any(markers.search(line) for line in lines):
            notes.append(f"engine {engine} inferred from its log lines (no 'Initializing … LLM engine' line)")
            return engine
    return None


# ---- memory


def _kv_cache_tokens(lines: list[str], gpu_blocks: int | None, block_size: int | None, notes: list[str]) -> int | None:
    """KV cache size in tokens as logged, else GPU blocks x block size (vLLM's default when the log shows none)."""
    tokens = _first_int(lines, (pat.KV_TOKENS_RE,))
    if tokens is None and gpu_blocks is not None:
        if block_size is None:
            notes.append(
                f"kv_cache_tokens = {gpu_blocks} GPU blocks x {DEFAULT_BLOCK_SIZE} "
                "(vLLM's default block size; the log does not show --block-size)"
            )
        tokens = gpu_blocks * (block_size or DEFAULT_BLOCK_SIZE)
    return tokens


def _max_model_len(settings: dict[str, str], concurrency: re.Match[str] | None, notes: list[str]) -> int | None:
    """max_model_len from the settings, else from the 'Maximum concurrency for N tokens per request' line."""
    max_model_len = _to_int(settings.get("max_model_len"))
    if max_model_len is None and concurrency is not None:
        max_model_len = int(_number(concurrency.group(1)))
        notes.append(f"max_model_len {max_model_len} read from the 'Maximum concurrency for … tokens per request' line")
    return max_model_len


def _cuda_graph_gib(lines: list[str], notes: list[str]) -> float | None:
    """CUDA-graph memory as measured, with a note when vLLM measured it negative."""
    cuda_graph_gib = _first_number(lines, pat.CUDA_GRAPH_RES)
    if cuda_graph_gib is not None and cuda_graph_gib < 0:
        notes.append(f"vLLM measured negative CUDA-graph memory ({cuda_graph_gib} GiB), a measurement error "
                     "(see vLLM PR #25683); any suggested --kv-cache-memory is too large by that much")
    return cuda_graph_gib


def _activation_gib(lines: list[str], weights_gib: float | None, consumed_summary: bool, notes: list[str]) -> float | None:
    """Peak activation; from V0 0.6.4's ``peak_torch_memory`` minus weights when that is all there is."""
    if (activation := _first_number(lines, pat.ACTIVATION_RES)) is not None:
        if consumed_summary:
            notes.append("activation_gib is vLLM's 'peak activation', which in this release includes the CUDA-graph memory estimate")
        return activation
    peak_torch = _first_number(lines, (pat.PEAK_TORCH_RE,))
    return _less_weights(peak_torch, weights_gib, notes, f"activation_gib = peak_torch_memory {peak_torch}",
                         f"peak_torch_memory={peak_torch} GiB includes the weights, which the log does not show: "
                         "activation unknown")


def _non_torch_gib(lines: list[str], weights_gib: float | None, notes: list[str]) -> float | None:
    """Non-torch memory; from 'consumed memory (weights + non-torch)' minus weights in later V1 releases."""
    if (non_torch := _first_number(lines, pat.NON_TORCH_RES)) is not None:
        return non_torch
    consumed = _first_number(lines, (pat.CONSUMED_RE,))
    return _less_weights(consumed, weights_gib, notes, f"non_torch_gib = consumed memory {consumed}",
                         f"consumed memory {consumed} GiB is weights + non-torch; the weights are not in the log: "
                         "non-torch unknown")


def _less_weights(total_gib: float | None, weights_gib: float | None, notes: list[str], how: str,
                  unknown: str) -> float | None:
    """A figure vLLM logs only together with the weights: the total minus the weights, and the note that says so
    (``how``), or the note that it cannot be known (``unknown``) when the log shows no weights."""
    if total_gib is None:
        return None
    if weights_gib is None:
        notes.append(unknown)
        return None
    notes.append(f"{how} - weights {weights_gib} GiB")
    return round(total_gib - weights_gib, 4)


def _kv_cache_gib(lines: list[str], notes: list[str]) -> float | None:
    """KV cache memory per GPU: the minimum over ranks and over the lines that report it."""
    values = [_number(m.group(1)) for p in pat.KV_GIB_RES for line in lines if (m := p.search(line))]
    values += [round(_number(m.group(1)) / GIB, 4) for line in lines if (m := pat.KV_BYTES_RE.search(line))]
    return _smallest_over_ranks(values, "KV cache memory", "GiB", "as vLLM does", PRINTED_GIB_ROUNDING, notes)


def _suggested_kv_cache_memory(lines: list[str], consumed_summary: bool, cuda_graph_estimate_gib: float | None,
                               notes: list[str]) -> tuple[int | None, int | None]:
    """The summary's two ``--kv-cache-memory=N`` suggestions in bytes: to fit the requested memory, to fill the GPU."""
    fit = _suggested_bytes(lines, pat.SUGGESTED_FIT_RE, "to fit into requested memory", notes)
    full = _suggested_bytes(lines, pat.SUGGESTED_FULL_RE, "to fully utilize gpu memory", notes)
    if consumed_summary and fit is not None:
        # 0.27+ compile_or_warm_up_model: total_consumed + peak_activation_memory (which holds the applied
        # CUDA-graph estimate) + the captured CUDA-graph pool.
        by = "the" if cuda_graph_estimate_gib is None else f"the {cuda_graph_estimate_gib} GiB"
        notes.append(
            "this release's suggested --kv-cache-memory values subtract CUDA-graph memory twice (the estimate "
            f"inside 'peak activation' and the captured pool): they are {by} CUDA-graph estimate below what fits "
            "(vLLM issue #57936)"
        )
    return fit, full


def _suggested_bytes(lines: list[str], pattern: re.Pattern[str], purpose: str, notes: list[str]) -> int | None:
    """One ``--kv-cache-memory=N`` suggestion in bytes: the smallest over ranks, which fits every rank."""
    values = [int(_number(m.group(1))) for line in lines if (m := pattern.search(line))]
    smallest = _smallest_over_ranks(values, f"the suggested --kv-cache-memory {purpose}", "bytes",
                                    "the one that fits every rank", 0, notes)
    if smallest is not None and smallest < 0:
        notes.append(f"vLLM suggested a negative --kv-cache-memory {purpose} ({smallest} bytes), which cannot be used")
    return None if smallest is None else int(smallest)


def _smallest_over_ranks(values: list[float], what: str, unit: str, why: str, rounding: float,
                         notes: list[str]) -> float | None:
    """The smallest value (None for none), with a note when ranks disagree by more than the log's rounding."""
    if not values:
        return None
    low, high = min(values), max(values)
    if high - low > rounding:
        notes.append(f"{what} differs across ranks ({low}-{high} {unit}); took the minimum, {why}")
    return low
