"""Two plans side by side: memory, fit, performance ranges, settings, and how their commands differ."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from wizard.schema import PlanResponse, Range

# (label, getter) rows of the side-by-side table, grouped.
MEMORY_ROWS = (
    ("GPU", lambda p: f"{p.hardware.gpus_used} x {p.hardware.gpu}"),
    ("layout", lambda p: f"TP {p.hardware.tensor_parallel_size} x PP {p.hardware.pipeline_parallel_size}, {p.hardware.nodes} node(s)"),
    ("budget GiB per GPU", lambda p: f"{p.memory.budget_gib:.2f}"),
    ("weights GiB", lambda p: f"{p.memory.weights_gib:.2f}"),
    ("activation peak GiB", lambda p: _ranged(p, "activation_gib")),
    ("non-torch GiB", lambda p: _ranged(p, "non_torch_gib")),
    ("CUDA graphs GiB", lambda p: _ranged(p, "cuda_graph_gib")),
    ("KV cache GiB", lambda p: _ranged(p, "kv_cache_gib")),
    ("KV cache tokens", lambda p: f"{p.memory.kv_cache_tokens:,}"),
    ("fits", lambda p: "yes" if p.feasibility.fits else "NO: " + "; ".join(p.feasibility.failed)),
    ("OOM risk", lambda p: p.feasibility.oom_risk),
    ("max concurrency", lambda p: f"{p.feasibility.max_concurrency:,}"),
)
PERF_ROWS = (
    ("time per output token ms", "itl_ms"),
    ("time to first token ms", "ttft_ms"),
    ("output tokens/s", "output_tokens_per_s"),
    ("requests/s sustained", "max_request_rate_per_s"),
)
SETTING_ROWS = ("tensor_parallel_size", "pipeline_parallel_size", "dtype", "quantization", "kv_cache_dtype", "max_model_len",
                "max_num_seqs", "max_num_batched_tokens", "gpu_memory_utilization", "enforce_eager")


def _ranged(plan: PlanResponse, key: str) -> str:
    r = plan.memory.ranges[key]
    return f"{getattr(plan.memory, key):.2f} ({r.low:.2f}-{r.high:.2f})"


def _range_text(r: Range) -> str:
    return f"{r.expected:,.1f} ({r.low:,.1f}-{r.high:,.1f})"


@dataclass(frozen=True)
class Comparison:
    labels: tuple[str, str]
    plans: tuple[PlanResponse, PlanResponse]
    rows: list[tuple[str, str, str, str]]  # (group, label, first, second)
    command_diff: list[str]  # unified diff of the two serve commands, one argument per line

    def to_json(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "rows": [{"group": g, "label": label, "a": a, "b": b, "differs": a != b} for g, label, a, b in self.rows],
            "command_diff": self.command_diff,
            "plans": [p.model_dump(mode="json") for p in self.plans],
        }


def command_lines(plan: PlanResponse) -> list[str]:
    """The serve command one option per line (its own continuation layout), for a readable diff."""
    return [line.rstrip(" \\") for line in plan.artifacts.serve_command.splitlines()]


def compare(a: PlanResponse, b: PlanResponse, labels: tuple[str, str] = ("A", "B")) -> Comparison:
    """Both plans' numbers row by row, and the diff from A's serve command to B's."""
    rows = [("memory", label, get(a), get(b)) for label, get in MEMORY_ROWS]
    for label, key in PERF_ROWS:
        values = [_range_text(getattr(p.performance, key)) if p.performance else "n/a (does not start)" for p in (a, b)]
        rows.append(("performance", label, values[0], values[1]))
    for name in SETTING_ROWS:
        rows.append(("settings", name, str(getattr(a.recommendation, name).value), str(getattr(b.recommendation, name).value)))
    diff = list(difflib.unified_diff(command_lines(a), command_lines(b), fromfile=labels[0], tofile=labels[1], lineterm=""))
    return Comparison(labels=labels, plans=(a, b), rows=rows, command_diff=diff)
