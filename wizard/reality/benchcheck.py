"""A user's own ``vllm bench serve`` run against the plan: the same workload simulated on the same deployment.

The run's file (``--save-result`` JSON or the printed summary) gives the
workload: how many prompts, the rate and burstiness, the concurrency cap and
the lengths (every request's own when the file has ``input_lens`` /
``output_lens``, else their means).  The user gives the deployment (the same
fields as a plan).  Every metric the run reported is set beside the simulated
one and the simulation's range.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from wizard.errors import WizardError
from wizard.physics import perf
from wizard.physics.simulate import SimResult
from wizard.physics.traffic import Traffic
from wizard.planning.inputs import resolve_inputs
from wizard.planning.performance import (
    CUT_BECAUSE,
    MAX_SPREAD,
    TTFT_SPREAD_FACTOR,
    cut_short,
    published,
    simulate_plan,
    step_model,
)
from wizard.planning.planner import plan
from wizard.planning.search import search
from wizard.reality.bench_result import parse_bench_result
from wizard.schema import PlanRequest, parse_request
from wizard.schema.bench import BenchCheck, BenchResult, LatencyStats
from wizard.schema.results import CheckRow

# (bench's metric, the simulation's per-request seconds, unit) for the latency sections bench prints.
LATENCIES = ("ttft", "tpot", "itl", "e2el")


def bench_request(bench: BenchResult, values: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> PlanRequest:
    """The deployment the user names, serving the workload the run sent (the run's model unless one is given)."""
    sent = bench.num_prompts or bench.completed + (bench.failed or 0)
    workload: dict[str, Any] = {
        "num_prompts": max(sent, 1),
        "request_rate": "inf" if bench.request_rate_per_s is None or math.isinf(bench.request_rate_per_s)
        else bench.request_rate_per_s,
        "burstiness": bench.burstiness if bench.burstiness is not None else 1.0,
        "concurrency": bench.max_concurrency,
        "prompt_tokens": max(round(bench.mean_input_tokens or 1), 1),
        "gen_tokens": max(round(bench.mean_output_tokens or 1), 1),
        "length_distribution": "fixed",
    }
    named = "model" in values or (base or {}).get("model")
    if not bench.model_id and not named:  # a text summary does not name it; bench's JSON does
        raise WizardError("is required: this run's summary does not name the model it served", field="model")
    model = {"model": bench.model_id} if bench.model_id and not named else {}
    return parse_request({**workload, **model, **values}, base)


def _replay(bench: BenchResult, request: PlanRequest, max_model_len: int) -> Traffic | None:
    """The run's own per-request lengths (completed requests that produced a token), when the file has them."""
    if not bench.input_lens or not bench.output_lens:
        return None
    pairs = [(i, o) for i, o in zip(bench.input_lens, bench.output_lens) if i > 0 and o > 0 and i + o <= max_model_len]
    if not pairs:
        return None
    wl = request.workload
    return Traffic.replay([i for i, _ in pairs], [o for _, o in pairs], request_rate=math.inf if wl.request_rate is None
                          else wl.request_rate, burstiness=wl.burstiness, max_concurrency=wl.concurrency, seed=wl.seed)


def _simulated(result: SimResult, metric: str, statistic: str) -> float | None:
    """One of bench's statistics of one latency, in ms, from the simulated run (None when bench's has no such)."""
    if metric == "itl":
        samples = result.itl_s
        if statistic == "mean":
            return samples.mean() * 1000
        q = 50.0 if statistic == "median" else float(statistic)
        return samples.percentile(q) * 1000
    values = {"ttft": result.ttft_s, "tpot": result.tpot_s, "e2el": result.e2e_s}[metric] * 1000
    if not len(values):
        return None
    if statistic == "mean":
        return float(np.mean(values))
    if statistic == "std":
        return float(np.std(values))
    return float(np.percentile(values, 50.0 if statistic == "median" else float(statistic)))


def _row(name: str, unit: str, measured: float | None, predicted: float | None, spread: float) -> CheckRow | None:
    if measured is None or predicted is None:
        return None
    return CheckRow(quantity=name, unit=unit, measured=round(measured, 3), predicted=round(predicted, 3),
                    low=round(predicted * (1 - spread), 3), high=round(predicted * (1 + spread), 3))


def _rows(bench: BenchResult, result: SimResult, half: float) -> list[CheckRow]:
    """Every metric the run reported, beside the simulated figure and its range."""
    rows = [
        _row("duration", "s", bench.duration_s, result.duration_s, half),
        _row("request throughput", "req/s", bench.request_throughput_per_s, result.request_throughput_per_s, half),
        _row("output token throughput", "tok/s", bench.output_throughput_tokens_per_s, result.output_throughput_per_s, half),
        _row("total token throughput", "tok/s", bench.total_throughput_tokens_per_s,
             (result.total_input_tokens + result.total_output_tokens) / result.duration_s, half),
    ]
    for metric in LATENCIES:
        stats: LatencyStats | None = getattr(bench, metric)
        if stats is None:
            continue
        spread = min(TTFT_SPREAD_FACTOR * half, MAX_SPREAD) if metric == "ttft" else half
        rows.append(_row(f"mean {metric}", "ms", stats.mean_ms, _simulated(result, metric, "mean"), spread))
        rows.append(_row(f"median {metric}", "ms", stats.median_ms, _simulated(result, metric, "median"), spread))
        for p, value in sorted(stats.percentiles_ms.items()):
            rows.append(_row(f"p{p:g} {metric}", "ms", value, _simulated(result, metric, f"{p}"), spread))
    return [row for row in rows if row is not None]


def check_bench(text: str, values: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> BenchCheck:
    """Read a ``vllm bench serve`` result, simulate its workload on the given deployment, and compare."""
    bench = parse_bench_result(text)
    if not bench.completed:  # bench then writes 0 for every statistic: no measurement to set beside the simulation
        failed = f" (all {bench.failed:,} failed)" if bench.failed else ""
        raise WizardError(f"no request of this run completed{failed}: there is nothing measured to compare; "
                          "the server's log says why the requests failed")
    request = bench_request(bench, values, base)
    inp = resolve_inputs(request)
    cand = search(inp).candidate
    if not cand.verdict.starts:
        raise WizardError("this deployment would not start vLLM with these settings: "
                          + "; ".join(cand.verdict.failed), field="gpu")
    notes = list(bench.notes)
    run = _replay(bench, request, cand.engine.max_model_len)
    if run is None:
        notes.append(f"the file has no per-request lengths: simulated {request.workload.num_prompts:,} requests of the "
                     f"mean lengths ({request.workload.prompt_tokens:,} prompt + {request.workload.gen_tokens:,} output tokens)")
    else:
        left = min(len(bench.input_lens or ()), len(bench.output_lens or ())) - run.num_prompts
        notes.append(f"simulated the run's own {run.num_prompts:,} request lengths (input_lens, output_lens)" + (
            f"; {left:,} left out: no output token, or longer than max_model_len ({cand.engine.max_model_len:,})"
            if left else ""))
    result = simulate_plan(inp, cand, run)
    sent = run.num_prompts if run else request.workload.num_prompts
    if cut_short(result.completed, sent):
        notes.append(f"simulated in part: cut after {result.completed:,} of the {sent:,} "
                     f"requests completed, as {CUT_BECAUSE}; the simulated figures (duration and throughputs too) "
                     "are those of the requests served by then")
    half, why = perf.spread(step_model(inp, cand), inp.hw.gpu)
    notes.append(f"ranges +-{half:.0%} (TTFT +-{min(TTFT_SPREAD_FACTOR * half, MAX_SPREAD):.0%}): {why}")
    return BenchCheck(bench=bench, request=request, plan=plan(request), rows=_rows(bench, result, half),
                      measured=published(inp, cand), notes=notes)
