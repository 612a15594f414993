"""Plain-text reports for the terminal: a plan, a sweep, a comparison, a log check.

Pure formatting of schema objects: every number is computed in ``wizard``
and only laid out here.
"""

from __future__ import annotations

from typing import Any, Sequence

from wizard.faces.format import NO_DECODE, layout, number
from wizard.faces.verdict import overload, sweep_in_part, sweep_refused, sweep_stopped
from wizard.schema import HardwareReport, PlanResponse, Range, Recommendation
from wizard.schema.bench import BenchCheck
from wizard.schema.results import CheckRow, Comparison, LogCheck, SweepResult

LABEL_WIDTH = 24


def _layout(h: HardwareReport) -> str:
    return layout(h.tensor_parallel_size, h.pipeline_parallel_size, h.data_parallel_size, h.expert_parallel_size)


def _row(label: str, value: str) -> str:
    return f"  {label:<{LABEL_WIDTH}}{value}"


def _range(r: Range, unit: str, digits: int = 1) -> str:
    return f"{r.expected:,.{digits}f} {unit}  (range {r.low:,.{digits}f}-{r.high:,.{digits}f})"


def _memory_lines(resp: PlanResponse) -> list[str]:
    mem = resp.memory
    lines = [
        "memory per GPU (GiB)",
        _row("budget", f"{mem.budget_gib:.2f}  = {mem.gpu_total_gib} x {mem.gpu_memory_utilization:g}"),
        _row("weights", f"{mem.weights_gib:.2f}"),
    ]
    for key, label in (("activation_gib", "activation peak"), ("non_torch_gib", "non-torch"), ("cuda_graph_gib", "CUDA graphs")):
        r = mem.ranges[key]
        lines.append(_row(label, f"{getattr(mem, key):.2f}  (heuristic, range {r.low:.2f}-{r.high:.2f})"))
    if mem.overhead_gib:
        lines.append(_row("extra overhead", f"{mem.overhead_gib:.2f}"))
    kv = mem.ranges["kv_cache_gib"]
    lines.append(_row("KV cache", f"{mem.kv_cache_gib:.2f}  (range {kv.low:.2f}-{kv.high:.2f}) -> {mem.kv_cache_tokens:,} tokens, "
                      f"{mem.kv_blocks:,} blocks of {mem.block_size}, {mem.kv_bytes_per_token:,} B/token, kv {mem.kv_cache_dtype}"))
    if resp.hardware.data_parallel_size > 1:
        lines.append(_row("KV cache, all engines", f"{mem.kv_cache_tokens_all_engines:,} tokens in {resp.hardware.data_parallel_size} "
                                                    "data-parallel engines, each with its own pool"))
    return lines


def _performance_lines(resp: PlanResponse, explain: bool) -> list[str]:
    perf = resp.performance
    if perf is None:
        why = ("vLLM refuses requests longer than max_model_len" if resp.feasibility.starts
               else "vLLM would not start with these settings")
        return [f"performance: none ({why})"]
    decodes = perf.itl_ms.expected > 0  # else every request sampled one token: bench reports TPOT 0
    rate = perf.max_request_rate_per_s  # three significant digits: a few an hour is not 0.00
    lines = [
        f"performance ({perf.workload}; heuristic ranges)",
        _row("decode per request", _range(perf.decode_tokens_per_s, "tok/s") if decodes else NO_DECODE),
        _row("time per output token", _range(perf.itl_ms, "ms", 2) if decodes else NO_DECODE),
        _row("time to first token", _range(perf.ttft_ms, "ms", 0)),
        _row("prefill", _range(perf.prefill_tokens_per_s, "tok/s", 0)),
        _row("output throughput", _range(perf.output_tokens_per_s, "tok/s", 0)),
        _row("sustainable rate", f"{number(rate.expected)} req/s  (range {number(rate.low)}-{number(rate.high)})"),
    ]
    lines += [f"  assumption: {line}" for line in perf.assumptions] if explain else \
        ["  (--explain for the assumptions behind these numbers)"]
    return lines


def _verdict(resp: PlanResponse) -> str:
    """FITS, DOES NOT FIT or REFUSED (vLLM starts, but not for requests this long), and an overload first of all:
    the headline the page shows too."""
    if not resp.feasibility.fits:
        return resp.feasibility.verdict.upper()
    overloaded = overload(resp)
    return f"FITS, but OVERLOADED: {overloaded}" if overloaded else "FITS"


def render_plan(resp: PlanResponse, explain: bool) -> str:
    """The plan for the terminal: fit, memory, settings, performance, and the command to run."""
    m, h, mem, f, rec = resp.model, resp.hardware, resp.memory, resp.feasibility, resp.recommendation
    lines = [
        f"vLLM Wizard plan (memory model of vLLM {mem.vllm_version})",
        _row("model", f"{m.model} [{m.source}] {m.architecture}, {m.params_loaded / 1e9:.2f}B params, "
             f"{m.attention} {m.num_attention_heads}/{m.num_kv_heads} heads" + (f", {m.quantization}" if m.quantization else "")),
        _row("GPUs", (f"{h.replicas} replicas of " if h.replicas > 1 else "") + f"{h.gpus_used} x {h.gpu} ({h.gpu_total_gib} GiB as CUDA reports it), {_layout(h)}, {h.interconnect}"),
        f"verdict: {_verdict(resp)}; OOM risk {f.oom_risk}: {f.oom_risk_reason}",
        _row("max concurrency", f"{f.max_concurrency:,} requests of {f.context_tokens:,} tokens"),
        _row("max context", f"{f.max_context_tokens:,} tokens at concurrency {resp.request.workload.requests_at_once}"),
        _row("KV headroom", f"{f.headroom_gib:.2f} GiB per GPU (needs {f.kv_needed_gib:.2f})"),
    ]
    lines += [f"  failed: {reason}" for reason in f.failed]
    lines += _memory_lines(resp)
    lines.append("settings" + ("" if explain else " (--explain for the reasons)"))
    for name in Recommendation.setting_names():
        setting = getattr(rec, name)
        lines.append(_row(name, f"{setting.value}" + (f"  [{setting.source}] {setting.reason}" if explain else "")))
    if explain and mem.formulas:
        lines.append("how the numbers are calculated")
        lines += [_row(k, v) for k, v in mem.formulas.items()]
    lines += _performance_lines(resp, explain)
    if rec.suggestions:
        lines.append("to make it fit")
        lines += [f"  - {s.text}" for s in rec.suggestions]
    if resp.warnings:
        lines.append("warnings")
        lines += [f"  - {w}" for w in resp.warnings]
    if resp.artifacts:
        lines.append("vllm serve command" + ("" if f.fits else f" (the plan does NOT fit: {f.shortfall})"))
        lines.append(resp.artifacts.serve_command)
    return "\n".join(lines)


def table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """Left-aligned columns wide enough for their header and every cell."""
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    out = ["  ".join(c.ljust(widths[c]) for c in columns)]
    out += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(out)


SWEEP_COLUMNS = ["gpu", "replicas", "gpus_per_node", "nodes", "layout", "gpus", "weights", "kv", "usd_per_hour",
                 "usd_per_m_tokens", "req_s", "output_tok_s", "itl_ms", "ttft_ms", "figures"]


def render_sweep(result: SweepResult, limit: int | None) -> str:
    """The sweep's summary line and its cheapest rows as a table."""
    lines = [f"{result.candidates_evaluated} configurations screened in {result.seconds:.2f} s, the cheapest simulated in "
             f"{result.simulation_seconds:.2f} s; {len(result.results)} fit and meet "
             f"the targets (rejected: {', '.join(f'{k} {v}' for k, v in result.rejected.items())})"]
    if not result.results:
        lines.append(sweep_refused(result) or
                     "nothing fits: relax the targets, allow more GPUs per node or nodes, or name other GPUs")
        return "\n".join(lines)
    rows = [{"gpu": r.gpu, "replicas": r.replicas, "gpus_per_node": r.gpus_per_node, "nodes": r.nodes,
             "layout": layout(r.tensor_parallel_size, r.pipeline_parallel_size, r.data_parallel_size, r.expert_parallel_size),
             "gpus": r.total_gpus, "weights": r.weights, "kv": r.kv_cache_dtype, "usd_per_hour": f"{r.cost_per_hour:.2f}",
             "usd_per_m_tokens": f"{r.cost_per_million_output_tokens:.2f}", "req_s": f"{r.max_request_rate_per_s:.3g}",
             "output_tok_s": f"{r.output_tokens_per_s:.0f}", "itl_ms": f"{r.itl_ms:.1f}", "ttft_ms": f"{r.ttft_ms:.0f}",
             "figures": "simulated" if r.simulated else "screen"}
            for r in result.results[:limit or None]]
    lines.append(table(rows, SWEEP_COLUMNS))
    lines.append("cost: on-demand USD per GPU-hour x every GPU of every replica; usd_per_m_tokens while serving req_s "
                 "(the replicas' sustainable rate); performance: simulated means, or for rows past the cheapest the "
                 "screen's steady-state estimate (plan one row for its simulation, ranges and percentiles)")
    if stopped := sweep_stopped(result):
        lines.append(f"verified in part: {stopped}")
    if cut := sweep_in_part(result.results):
        lines.append(f"simulated in part: {cut}")
    if any(r.replicas > 1 for r in result.results):
        lines.append("replicas: identical deployments behind a load balancer that splits the requests evenly "
                     "(no prefix-cache affinity); a row's request (in --json) plans the whole fleet, replicas included")
    return "\n".join(lines)


def render_comparison(c: Comparison) -> str:
    """Plain-text side-by-side table and the command diff, for the terminal."""
    width = max(len(r.label) for r in c.rows) + 2
    col = max(24, len(c.labels[0]) + 1, *(len(r.a) for r in c.rows)) + 2
    lines = [f"{'':<{width + 2}}{c.labels[0]:<{col}}{c.labels[1]}"]
    group = None
    for r in c.rows:
        if r.group != group:
            lines.append(r.group)
            group = r.group
        lines.append(f"{'*' if r.differs else ' '} {r.label:<{width}}{r.a:<{col}}{r.b}")
    lines.append("serve command diff" + ("" if c.command_diff else ": identical"))
    lines += [f"  {line}" for line in c.command_diff]
    lines.append("(* marks rows that differ; performance numbers are heuristic ranges)")
    return "\n".join(lines)


def _check_lines(rows: list[CheckRow]) -> list[str]:
    """Measured against predicted, one row per quantity; columns widen for values past their usual width (a
    100,000-prompt run's TTFT in ms)."""
    cells = []
    for row in rows:
        digits = 0 if row.unit == "tokens" else 2
        cells.append((f"{row.quantity} ({row.unit})", f"{row.measured:,.{digits}f}", f"{row.predicted:,.{digits}f}",
                      f"{row.low:,.{digits}f}-{row.high:,.{digits}f}", row.verdict))
    header = ("quantity", "measured", "predicted", "range", "verdict")
    # The usual widths, or one more than the widest cell.
    quantity, measured, predicted, span = (max([least, *(len(c[i]) + 1 for c in cells)])
                                           for i, least in enumerate((44, 12, 12, 24)))
    return [f"  {q:<{quantity}}{m:>{measured}}{p:>{predicted}}  {r:<{span}}{v}" for q, m, p, r, v in [header, *cells]]


def render_log_check(check: LogCheck) -> str:
    """Predicted against measured, one quantity per line, for the terminal."""
    p, log = check.plan, check.log
    lines = [f"vLLM {log.vllm_version or '(version not in the log)'} {log.engine or ''} start-up of {p.model.model} on "
             f"{p.hardware.gpus_used} x {p.hardware.gpu} ({p.hardware.gpu_total_gib} GiB), {_layout(p.hardware)}; "
             f"planned as vLLM {p.memory.vllm_version}"]
    lines += _check_lines(check.rows)
    lines += [f"  note: {note}" for note in check.notes]
    return "\n".join(lines)


def render_bench_check(check: BenchCheck) -> str:
    """A user's vllm bench serve run against the simulation of the same workload, for the terminal."""
    p, b = check.plan, check.bench
    lines = [f"vllm bench serve run ({b.source}, {b.completed:,} requests) of {p.model.model} on {p.hardware.gpus_used} x "
             f"{p.hardware.gpu}, {_layout(p.hardware)}; simulated as vLLM {p.memory.vllm_version}: "
             f"{p.performance.workload if p.performance else ''}"]
    lines += _check_lines(check.rows)
    for run in check.measured:
        m = run.metrics
        lines.append(f"  measured ({run.source}): mean TPOT {m.mean_tpot_ms or '-'} ms, mean TTFT {m.mean_ttft_ms or '-'} ms, "
                     f"output {m.output_tokens_per_s or '-'} tok/s (vLLM {run.vllm_version or '?'})")
    lines += [f"  note: {note}" for note in check.notes]
    return "\n".join(lines)
