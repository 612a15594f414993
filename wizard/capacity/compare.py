"""Two plans side by side: memory, fit, performance ranges, settings, and how their commands differ."""

from __future__ import annotations

import difflib
from collections.abc import Callable

from wizard.faces import format as fmt
from wizard.schema import PlanResponse, Range, Recommendation
from wizard.schema.results import Comparison, ComparisonRow, usd_per_million_tokens

# (label, getter) rows of the side-by-side table, grouped; every number as wizard.faces.format writes it.
MEMORY_ROWS = (
    ("GPU", lambda p: f"{p.hardware.gpus_used} x {p.hardware.gpu}"),
    ("layout", lambda p: f"TP {p.hardware.tensor_parallel_size} x PP {p.hardware.pipeline_parallel_size}, {p.hardware.nodes} node(s)"),
    ("budget per GPU", lambda p: fmt.gib(p.memory.budget_gib)),
    ("weights", lambda p: fmt.gib(p.memory.weights_gib)),
    ("activation peak", lambda p: _ranged(p, "activation_gib")),
    ("non-torch", lambda p: _ranged(p, "non_torch_gib")),
    ("CUDA graphs", lambda p: _ranged(p, "cuda_graph_gib")),
    ("KV cache", lambda p: _ranged(p, "kv_cache_gib")),
    ("KV cache tokens", lambda p: fmt.count(p.memory.kv_cache_tokens)),
    ("fits", lambda p: "yes" if p.feasibility.fits else "NO: " + "; ".join(p.feasibility.failed)),
    ("OOM risk", lambda p: p.feasibility.oom_risk),
    ("max concurrency", lambda p: fmt.count(p.feasibility.max_concurrency)),
)
PERF_ROWS = (
    ("time per output token", "itl_ms", fmt.duration_ms),
    ("time to first token", "ttft_ms", fmt.duration_ms),
    ("output", "output_tokens_per_s", fmt.tokens_per_s),
    ("requests/s sustained", "max_request_rate_per_s", fmt.number),
)


def _ranged(plan: PlanResponse, key: str) -> str:
    r = plan.memory.ranges[key]
    return f"{fmt.gib(getattr(plan.memory, key))} ({fmt.gib(r.low)} – {fmt.gib(r.high)})"


def _range_text(r: Range, unit: Callable[[float], str]) -> str:
    return f"{unit(r.expected)} ({unit(r.low)} – {unit(r.high)})"


def command_lines(plan: PlanResponse) -> list[str]:
    """The serve command one option per line (its own continuation layout), for a readable diff."""
    return [line.rstrip(" \\") for line in plan.artifacts.serve_command.splitlines()]


def no_performance(plan: PlanResponse) -> str:
    """What stands for a figure of a plan that has no performance: vLLM does not start, or refuses its requests."""
    return "n/a (requests refused)" if plan.feasibility.starts else "n/a (does not start)"


def compare(a: PlanResponse, b: PlanResponse, labels: tuple[str, str] = ("A", "B")) -> Comparison:
    """Both plans' numbers row by row, and the diff from A's serve command to B's."""
    rows = [ComparisonRow(group="memory", label=label, a=get(a), b=get(b)) for label, get in MEMORY_ROWS]
    for label, key, unit in PERF_ROWS:
        values = [_range_text(getattr(p.performance, key), unit) if p.performance else no_performance(p) for p in (a, b)]
        rows.append(ComparisonRow(group="performance", label=label, a=values[0], b=values[1]))
    for name in Recommendation.setting_names():
        rows.append(ComparisonRow(group="settings", label=name, a=fmt.setting(getattr(a.recommendation, name).value),
                                  b=fmt.setting(getattr(b.recommendation, name).value)))
    diff = list(difflib.unified_diff(command_lines(a), command_lines(b), fromfile=labels[0], tofile=labels[1], lineterm=""))
    return Comparison(labels=labels, plans=(a, b), rows=rows, command_diff=diff)


def plan_costs(plan: PlanResponse, usd_per_gpu_hour: float) -> tuple[int, float, float]:
    """The GPUs a plan rents (every replica's nodes), USD per hour for them, and per million output tokens while it
    serves the rate it sustains: the sweep rows' measure, for plans that come from elsewhere (two profiles)."""
    hw = plan.hardware
    gpus = hw.gpus_per_node * hw.nodes * hw.replicas
    rate = plan.performance.max_request_rate_per_s.expected if plan.performance else 0.0
    return gpus, usd_per_gpu_hour * gpus, usd_per_million_tokens(usd_per_gpu_hour * gpus, rate * plan.request.workload.gen_tokens)
