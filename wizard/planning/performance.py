"""Serving performance of a planned configuration: vLLM's scheduler simulated under the request's workload.

The request's workload becomes a ``vllm bench serve`` run (:func:`traffic`);
the chosen configuration becomes one engine (:func:`engine_limits`, the KV
pool in blocks, the roofline step cost of ``physics/perf.py``); the
simulation (``physics/simulate.py``) serves the run step by step, and every
reported figure is measured on it as bench measures it.  A second, saturated
run (a closed loop as wide as ``max_num_seqs``) gives the rate the plan
sustains.  The analytic steady-state model of ``physics/screen.py`` is kept only
as the sweep's fast screen (:func:`screen_workload`).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from wizard.physics import perf, screen
from wizard.physics.simulate import (
    EngineLimits,
    LatencyCaps,
    SimResult,
    Stats,
    finish_times,
    phased,
    simulate_counted,
    stats,
)
from wizard.physics.traffic import Traffic
from wizard.planning.inputs import Inputs
from wizard.planning.search import Candidate
from wizard.reality.measured import find_measurements, weight_format_of
from wizard.schema import (
    LatencyDistribution,
    Percentiles,
    PerformanceReport,
    PlanRequest,
    Range,
    TimelinePoint,
    WorkloadSection,
)
from wizard.schema.measured import MeasuredRun

# The saturated run that measures the sustainable rate: a closed loop as wide as the engine runs
# at once (max_num_seqs, or what the KV cache holds), each client sending three requests in turn so
# that the middle third of the completions is past the first wave (with fewer, that wave's requests,
# prefilled during the ramp, finish together and inflate the rate: 1.2 runs per client read 148
# req/s for DeepSeek-V3 on 8 H200 at TP8, where 3 to 8 runs per client all read 20-23).
SATURATION_RUNS_PER_CLIENT = 3
SATURATION_MIN_REQUESTS = 100
# The sustainable rate is the completion rate between these quantiles of the saturated run's
# completions: the clients' second requests, past the first wave and before any client has left
# (the drain).  Against the middle half of 8 runs per client, on 12 deployments of
# benchmarks/saturation_window.py, this window reads within 0.1% (median); the middle half of 3
# runs, which reaches into the drain, read 5.4% off (median) and needed 12% more of the run, and
# half this window 19% off: the window must span a whole request's life of every client.
STEADY_QUANTILES = (1 / 3, 2 / 3)
MEASURED_SHOWN = 2  # published runs of the same deployment shown beside an estimate
TTFT_SPREAD_FACTOR = 2.0  # TTFT strays twice as far as TPOT (queueing amplifies step-time errors)
MAX_SPREAD = 0.9
# The API server's own work per request (HTTP, chat template, tokenizing, streaming every token back) runs in
# one process beside the engine, and only ever slows a run; the simulation counts API_INGEST_S (1 ms) of it.
# Bursts of 1,000 short requests measured 2-14 s more than the GPU work explains (benchmarks/perf_accuracy.py
# --verbose: the 128-in/4-out bursts of Qwen3-14B/32B on H100, ~14 ms per request; gpt-oss-20b ~2 ms), varying
# with the host and the endpoint: the high end of the TPOT and TTFT ranges adds that share of the run.
API_WORK_HIGH_S = 14e-3
# The most work (physics/scheduler.py's units, about a microsecond each here) one simulated run may take before it
# is cut and measured on the requests it completed: a rerun stays within a few seconds whatever the form asks.  Bench's usual runs (1,000 prompts, an 8B closed loop of 20,000) take a tenth of it or less; 100,000
# prompts of 4,096 tokens one at a time took 400 s and 24 GB uncut, stepped (alike, their rounds are now copied:
# physics/scheduler.py, Run._probe), and a burst of 100,000 prompts 27 s.
SIM_WORK_BUDGET = 1_500_000
CUT_BECAUSE = "serving them all step by step would take this planner more than a few seconds"  # why a run was cut
OVERLOADED = "overloaded: "  # how the warning of a rate beyond what the plan sustains starts (the page's verdict shows it)
# Decimals of the reported expected time per output token and TTFT (ms), and of output tokens/s (or three
# significant digits where that shows more).
ITL_DIGITS, TTFT_DIGITS, OUTPUT_DIGITS = 2, 1, 0
RATE_DIGITS = 3  # decimals of a reported request rate, or three significant digits where that shows more
# Simulated runs (and saturated runs' rates) kept for reuse: a sweep checks a row's run before its report
# needs it, and the Compare page plans the sweep's rows again (each run ~20-150 ms).  A result holds a few
# arrays of one value per request: ~0.2 MB on average and ~1 MB for the widest data-parallel runs of the
# sweeps in benchmarks/sweep_speed.py, so at most ~130 MB kept; a sweep simulates up to ~80 runs.
KEPT_RUNS = 128
_Kept = SimResult | float  # a run, or the sustainable rate measured on a saturated one
_KEPT: OrderedDict[tuple, _Kept] = OrderedDict()
_KEPT_LOCK = threading.Lock()


def screen_workload(request: PlanRequest, engines: int = 1) -> screen.Workload:
    """One of ``engines`` engines' even share of the request's traffic, as the analytic screen takes it
    (the sweep's first pass, before simulation)."""
    wl = request.workload

    def share(n: int | None) -> int | None:
        return None if n is None else -(-n // engines)

    common = {"prompt_tokens": wl.prompt_tokens, "gen_tokens": wl.gen_tokens, "prompts": share(wl.num_prompts)}
    if wl.request_rate is not None and not math.isinf(wl.request_rate):
        return screen.Workload(**common, request_rate=wl.request_rate / engines)
    if wl.concurrency is None:
        return screen.Workload(**common, burst=share(wl.num_prompts))
    return screen.Workload(**common, concurrency=share(wl.concurrency))


def async_scheduling(inp: Inputs, cand: Candidate) -> bool:
    """Whether vLLM schedules step k+1 while step k runs (the release's default; not with PP before 0.15)."""
    return inp.rel.async_scheduling and (cand.engine.pp == 1 or inp.rel.async_with_pipeline)


def step_model(inp: Inputs, cand: Candidate) -> perf.StepModel:
    """Per-step costs of a planned configuration (shared by plans, sweeps and the accuracy report)."""
    return perf.step_model(inp.arch, inp.fmt, cand.engine, cand.memory, inp.hw.gpu, inp.hw.interconnect, inp.rel.version,
                           inp.hw.nodes, async_scheduling(inp, cand), inp.params_scale)


def traffic(wl: WorkloadSection, max_model_len: int) -> Traffic:
    """The workload as one ``vllm bench serve`` run; lengths capped so a request fits max_model_len."""
    output = min(wl.gen_tokens, max(max_model_len - 1, 1))
    prompt = min(wl.prompt_tokens, max(max_model_len - output, 1))
    return Traffic(num_prompts=wl.num_prompts, request_rate=math.inf if wl.request_rate is None else wl.request_rate,
                   burstiness=wl.burstiness, max_concurrency=wl.concurrency, prompt_tokens=prompt, output_tokens=output,
                   distribution=wl.length_distribution, range_ratio=wl.range_ratio, seed=wl.seed)


def engine_limits(inp: Inputs, cand: Candidate, model: perf.StepModel) -> EngineLimits:
    """The engine the simulation runs: vLLM's batch limits, the KV pool in blocks, the release's scheduling."""
    engine = cand.engine
    return EngineLimits(max_num_seqs=engine.max_num_seqs, max_num_batched_tokens=engine.max_num_batched_tokens,
                        num_gpu_blocks=cand.memory.num_blocks, layout=cand.memory.limiting.kv,
                        async_scheduling=async_scheduling(inp, cand), chunked_prefill=model.chunked_prefill)


def _fitting(run: Traffic, max_model_len: int) -> Traffic:
    """Spread lengths drawn past max_model_len are what vLLM would refuse: keep every request inside it."""
    return replace(run, prompt_tokens=min(run.prompt_tokens, max_model_len // 2), output_tokens=min(
        run.output_tokens, max_model_len // 2)) if run.distribution != "fixed" else run


def fleet_target(request: PlanRequest) -> float | None:
    """The rate the deployment must sustain: the workload's finite request rate or the rate target, the higher."""
    rates = [r for r in (request.workload.request_rate, request.targets.min_request_rate)
             if r is not None and not math.isinf(r)]
    return max(rates) if rates else None


def replicas_for(target_per_s: float, per_replica_per_s: float) -> int:
    """Identical replicas whose summed sustainable rate covers the target (an even split assumed)."""
    return max(1, math.ceil(target_per_s / per_replica_per_s - 1e-9))


def engines(inp: Inputs, cand: Candidate) -> int:
    """Engines the requests are spread over: every replica's data-parallel engines."""
    return cand.engine.dp * inp.request.hardware.replicas


def simulate_plan(inp: Inputs, cand: Candidate, run: Traffic | None = None) -> SimResult:
    """Serve the request's workload (or ``run``) on the planned engines (each replica and DP engine takes a share)."""
    result, _ = _served(inp, cand, run)
    assert result is not None  # an uncapped run always finishes
    return result


def simulate_within(inp: Inputs, cand: Candidate, caps: LatencyCaps) -> tuple[SimResult | None, int]:
    """The workload's simulation, or None as soon as its mean TPOT or TTFT is sure to exceed ``caps`` (a sweep
    rejects a configuration without paying for the whole run), and the work it took."""
    return _served(inp, cand, None, caps)


def _served(inp: Inputs, cand: Candidate, run: Traffic | None,
            caps: LatencyCaps | None = None) -> tuple[SimResult | None, int]:
    """The simulation of ``run`` (the workload by default), kept (see :func:`_kept`; one stopped at its caps is
    not), and the work it took (a kept run's too: a sweep's budget does not depend on what is kept)."""
    run, limits, model, n_engines = _prepared(inp, cand, run or traffic(inp.request.workload, cand.engine.max_model_len))
    spent = 0

    def served() -> SimResult | None:
        nonlocal spent
        result, spent = simulate_counted(run, limits, model.step_seconds, engines=n_engines, caps=caps,
                                         work_budget=SIM_WORK_BUDGET)
        return result

    result = _kept(("run", run, limits, model, n_engines), served)
    return result, spent if result is None else result.work


def _prepared(inp: Inputs, cand: Candidate, run: Traffic) -> tuple[Traffic, EngineLimits, perf.StepModel, int]:
    """What a simulation of ``run`` on the plan takes: the run (spread lengths kept inside max_model_len), one
    engine's limits and step costs, and the engines sharing the requests."""
    model = step_model(inp, cand)
    if run.distribution in ("random", "sharegpt") and run.prompt_tokens + run.output_tokens > cand.engine.max_model_len // 2:
        run = _fitting(run, cand.engine.max_model_len)
    return run, engine_limits(inp, cand, model), model, engines(inp, cand)


def _kept(key: tuple, compute: Callable[[], _Kept | None]) -> _Kept | None:
    """``compute()``, kept by ``key``: a simulation is deterministic in its (frozen) inputs, and callers only read
    it.  The last KEPT_RUNS answers are kept; None (a run stopped at its caps) is not."""
    with _KEPT_LOCK:  # the dashboard's sessions plan in threads of one process
        if key in _KEPT:
            _KEPT.move_to_end(key)
            return _KEPT[key]
    value = compute()
    if value is not None:
        with _KEPT_LOCK:
            _KEPT[key] = value
            if len(_KEPT) > KEPT_RUNS:
                _KEPT.popitem(last=False)
    return value


def expected_figures(result: SimResult) -> tuple[float, float, float]:
    """A run's mean time per output token and mean TTFT (ms) and its output tokens/s, rounded as its report's
    expected values are: a sweep judges the latency targets on them before it pays for the saturated run."""
    return (round(stats(result.tpot_s).mean * 1000, ITL_DIGITS), round(stats(result.ttft_s).mean * 1000, TTFT_DIGITS),
            round(result.output_throughput_per_s, rate_digits(result.output_throughput_per_s, OUTPUT_DIGITS)))


@dataclass(frozen=True)
class Figures:
    """A simulated plan's expected figures as its report rounds them: what a sweep ranks and judges by."""

    itl_ms: float
    ttft_ms: float
    output_tokens_per_s: float
    max_request_rate_per_s: float
    keeps_up: bool | None
    simulated_requests: int  # fewer than the workload's when the run was cut at its work budget
    work: int  # the workload run's work: what a sweep budgets its verification by


def simulated_figures(inp: Inputs, cand: Candidate) -> Figures:
    """The report's expected figures without the rest of it (percentiles, timeline, measured runs, words)."""
    result, work = _served(inp, cand, None)
    assert result is not None  # an uncapped run always finishes
    rate = sustainable_rate(inp, cand)
    return Figures(*expected_figures(result), round(rate, rate_digits(rate)), _keeps_up(inp.request.workload, rate),
                   result.completed, work)


def cut_short(simulated_requests: int, sent_requests: int) -> bool:
    """Whether a run was cut at SIM_WORK_BUDGET: it served fewer requests than it sends (the workload's num_prompts,
    or the lengths a benchmark file replays).  A whole run spread over engines serves at least that many (each
    engine's share is rounded up)."""
    return simulated_requests < sent_requests


def rate_digits(rate_per_s: float, least: int = RATE_DIGITS) -> int:
    """Decimals a rate is reported with: ``least``, or three significant digits where that shows more (requests of
    100,000 tokens are served a few an hour: 0.0016/s, not 0.002; a million-token prompt's output 0.502 tok/s,
    not 1)."""
    return max(least, 2 - math.floor(math.log10(rate_per_s))) if rate_per_s > 0 else least


def _keeps_up(wl: WorkloadSection, rate_per_s: float) -> bool | None:
    """Whether a finite request rate is within what the plan sustains (None for a closed loop or a burst)."""
    return None if wl.request_rate is None or math.isinf(wl.request_rate) else bool(wl.request_rate <= rate_per_s)


def _engine_fit(cand: Candidate) -> int:
    """Requests of the workload's length one engine's KV pool holds at once (the verdict counts every engine's)."""
    return cand.verdict.max_concurrency // cand.engine.dp


def saturated_run(inp: Inputs, cand: Candidate, runs_per_client: float = SATURATION_RUNS_PER_CLIENT) -> Traffic:
    """The closed loop that saturates the plan: as many clients per engine as it runs at once (max_num_seqs, or one
    more than its KV pool holds, which keeps the pool full), each sending ``runs_per_client`` requests in turn,
    started at random phases (``warm``): in steady state from the first requests on, no first wave."""
    width = max(min(cand.engine.max_num_seqs, _engine_fit(cand) + 1), 1)
    count = max(int(runs_per_client * width), SATURATION_MIN_REQUESTS)
    n_engines = engines(inp, cand)
    return replace(traffic(inp.request.workload, cand.engine.max_model_len), num_prompts=count * n_engines,
                   request_rate=math.inf, max_concurrency=width * n_engines, warm=True)


def sustainable_rate(inp: Inputs, cand: Candidate) -> float:
    """Requests per second the plan completes when saturated (:func:`saturated_run`).  Its engines are alike:
    the plan completes ``engines`` times what one engine's share does between the STEADY_QUANTILES of its
    completions (that engine's run is stopped at the later one).  One engine's share does not depend on the
    replicas, so a sweep that resizes a fleet simulates it once."""
    n_engines = engines(inp, cand)
    saturated = saturated_run(inp, cand)
    one = replace(saturated, num_prompts=saturated.num_prompts // n_engines,
                  max_concurrency=saturated.max_concurrency // n_engines)
    run, limits, model, _ = _prepared(inp, cand, one)
    first, last = (int(q * (one.num_prompts - 1)) for q in STEADY_QUANTILES)

    def measured() -> float:
        done_s = finish_times(run, limits, model.step_seconds, last + 1, work_budget=SIM_WORK_BUDGET)
        if len(done_s) > last:
            return _steady_rate(done_s, first, last)
        # Cut at its work budget first: the later half of what it completed (its clients started in steady state).
        return _steady_rate(done_s, len(done_s) // 2, len(done_s) - 1)

    rate = _kept(("rate", run, limits, model), measured)
    assert rate is not None
    return n_engines * float(rate) if rate > 0 else simulate_plan(inp, cand, saturated).request_throughput_per_s


def _steady_rate(done_s: np.ndarray, first: int, last: int) -> float:
    """Completions per second between the ``first`` and ``last`` completion (0 when they end the same step)."""
    span = float(done_s[last] - done_s[first])
    return (last - first) / span if span > 0 else 0.0


def published(inp: Inputs, cand: Candidate) -> list[MeasuredRun]:
    """Published runs that measured this very deployment under a similar load (at most MEASURED_SHOWN)."""
    wl, engine = inp.request.workload, cand.engine
    closed = wl.request_rate is None or (math.isinf(wl.request_rate) and wl.concurrency is not None)
    kind = "concurrency" if closed else ("burst" if math.isinf(wl.request_rate) else "rate")
    load = wl.request_rate if kind == "rate" else (wl.concurrency if kind == "concurrency" else wl.num_prompts)
    runs = find_measurements(inp.info.model, inp.hw.gpu.id, engine.tp, engine.pp, wl.prompt_tokens, wl.gen_tokens, kind,
                             concurrency=load if kind != "rate" else None, request_rate=load if kind == "rate" else None,
                             vllm_version=inp.rel.label, weight_format=weight_format_of(inp.fmt))

    def similar_load(run: MeasuredRun) -> bool:
        w = run.workload
        theirs = {"rate": w.request_rate_per_s, "concurrency": w.max_concurrency, "burst": w.num_prompts}[kind]
        return run.workload.kind == kind and theirs is not None and load is not None and abs(theirs - load) <= 0.25 * load

    return [run for run in runs if similar_load(run)][:MEASURED_SHOWN]


def _percentiles(s: Stats) -> Percentiles:
    return Percentiles(mean=round(s.mean * 1000, 3), p50=round(s.median * 1000, 3), p90=round(s.p90 * 1000, 3),
                       p99=round(s.p99 * 1000, 3))


def _goodput(result: SimResult, request: PlanRequest) -> float | None:
    """Requests per second that met every latency target (vllm bench's --goodput), None without targets."""
    targets = request.targets
    if targets.max_ttft_ms is None and targets.max_itl_ms is None:
        return None
    good = np.ones(len(result.ttft_s), dtype=bool)
    if targets.max_ttft_ms is not None:
        good &= result.ttft_s * 1000 <= targets.max_ttft_ms
    if targets.max_itl_ms is not None:
        # vllm bench counts TPOT as 0 for a request with a single output token.
        out = result.output_tokens
        tpot_ms = np.where(out > 1, (result.e2e_s - result.ttft_s) / np.maximum(out - 1, 1), 0.0) * 1000
        good &= tpot_ms <= targets.max_itl_ms
    return float(good.sum() / result.duration_s) if result.duration_s else 0.0


def describe(wl: WorkloadSection) -> str:
    """The workload in words, as vllm bench would be told to send it."""
    lengths = f"{wl.prompt_tokens:,} prompt + {wl.gen_tokens:,} output tokens"
    if wl.length_distribution == "random" and wl.range_ratio:
        lengths += f" (random, +-{wl.range_ratio:.0%})"
    elif wl.length_distribution == "sharegpt":
        lengths = f"ShareGPT-like lengths averaging {lengths}"
    loop = f"a closed loop of {wl.concurrency} concurrent request{'s' if wl.concurrency != 1 else ''}"
    if wl.request_rate is None:
        sending = loop
    elif math.isinf(wl.request_rate):
        sending = loop if wl.concurrency else "all sent at once"
    else:
        shape = ("Poisson" if wl.burstiness == 1 else "evenly spaced, burstiness inf" if math.isinf(wl.burstiness)
                 else f"gamma arrivals, burstiness {wl.burstiness:g}")
        sending = f"{wl.request_rate:g} requests/s ({shape})" + (f", at most {wl.concurrency} in flight" if wl.concurrency else "")
    return f"{wl.num_prompts:,} request{'s' if wl.num_prompts != 1 else ''} of {lengths}, {sending}"


def performance_report(inp: Inputs, cand: Candidate) -> PerformanceReport:
    """Every figure measured on the simulated run, with the calibration's spread as its range."""
    request, engine = inp.request, cand.engine
    wl = request.workload
    model = step_model(inp, cand)
    half, why = perf.spread(model, inp.hw.gpu)
    result = simulate_plan(inp, cand)
    rate = sustainable_rate(inp, cand)
    tpot, ttft = stats(result.tpot_s), stats(result.ttft_s)

    def band(value: float, spread: float = half, digits: int = 2, slower: float = 0.0, least: float = 0.0,
             most: float = math.inf) -> Range:
        """The value with the calibration's spread, its ends kept within what physics allows (least, most; rounded
        inwards)."""
        low = max(round(value * (1 - spread), digits), math.ceil(least * 10**digits) / 10**digits)
        high = round(value * (1 + spread + slower), digits)
        return Range(low=low, expected=round(value, digits),
                     high=high if math.isinf(most) else min(high, math.floor(most * 10**digits) / 10**digits))

    floor_ms = perf.step_floor_seconds(model) * 1000  # no token comes faster than one read of the weights
    # Nor more tokens a step than requests run at once: a ceiling on the output's high end, and on the sustainable
    # rate's (the saturated loop's requests each take at least their output's steps).
    n_engines = engines(inp, cand)
    running = n_engines * min(engine.max_num_seqs, -(-(wl.concurrency or wl.num_prompts) // n_engines))
    most_rate = saturated_run(inp, cand).max_concurrency * 1000 / (wl.gen_tokens * floor_ms)

    api_share = _api_server_share(result)

    ttft_half = min(TTFT_SPREAD_FACTOR * half, MAX_SPREAD)
    prefill_s = model.step_seconds(0, 0, engine.max_num_batched_tokens,
                                   engine.max_num_batched_tokens * min(wl.prompt_tokens, engine.max_num_batched_tokens) // 2)
    keeps_up = _keeps_up(wl, rate)
    # More at once than an engine runs (its seats or its KV pool) queues for good; a request that waits a step
    # for the chunked-prefill budget does not.
    at_once = wl.num_prompts if wl.bursty else wl.requests_at_once
    queued = -(-at_once // n_engines) > min(engine.max_num_seqs, _engine_fit(cand))
    mean_tpot_ms = tpot.mean * 1000
    timeline = result.timeline
    return PerformanceReport(
        workload=describe(wl),
        prefill_tokens_per_s=band(engine.max_num_batched_tokens / prefill_s, digits=0),
        decode_tokens_per_s=Range(low=round(1000 / (mean_tpot_ms * (1 + half)), 1), expected=round(1000 / mean_tpot_ms, 1),
                                  high=min(round(1000 / (mean_tpot_ms * (1 - half)), 1), math.floor(10000 / floor_ms) / 10))
        if mean_tpot_ms else band(0.0),
        itl_ms=band(mean_tpot_ms, digits=ITL_DIGITS, slower=api_share, least=floor_ms if mean_tpot_ms else 0.0),
        ttft_ms=band(ttft.mean * 1000, ttft_half, TTFT_DIGITS, slower=api_share, least=floor_ms),
        output_tokens_per_s=band(result.output_throughput_per_s, digits=rate_digits(result.output_throughput_per_s,
                                                                                    OUTPUT_DIGITS),
                                 most=running * 1000 / floor_ms),
        request_throughput_per_s=band(result.request_throughput_per_s, digits=rate_digits(result.request_throughput_per_s)),
        max_request_rate_per_s=band(rate, digits=rate_digits(rate), most=most_rate),
        batch_size=round(float(np.mean(timeline.running)) / n_engines if len(timeline.running) else 0.0, 1),
        saturated=queued or keeps_up is False,
        replicas_to_keep_up=_replicas_to_keep_up(request, rate),
        keeps_up=keeps_up,
        distribution=LatencyDistribution(ttft_ms=_percentiles(ttft), tpot_ms=_percentiles(tpot),
                                         itl_ms=_percentiles(stats(result.itl_s)), e2e_ms=_percentiles(stats(result.e2e_s))),
        duration_s=round(result.duration_s, 3),
        goodput_per_s=_goodput(result, request),
        preemptions=result.preemptions,
        simulated_requests=result.completed,
        # Built from typed columns: constructed without re-validating each of up to 300 points.
        timeline=[TimelinePoint.model_construct(time_s=round(float(t), 4), running=int(r), waiting=int(w),
                                                kv_usage=round(float(k), 4), preemptions=int(p))
                  for t, r, w, k, p in zip(timeline.time_s, timeline.running, timeline.waiting, timeline.kv_usage,
                                           timeline.preemptions)],
        calibrated=inp.hw.gpu.id in perf.CALIBRATED_GPUS,
        measured=published(inp, cand),
        assumptions=[
            f"simulated: {result.completed:,} requests served step by step by vLLM {inp.rel.label}'s scheduler "
            f"({result.steps:,} engine steps, {result.preemptions:,} preemptions)",
            f"sustainable rate: a saturated closed loop (as many clients as the engine runs at once) completes "
            f"{rate:.3g} requests/s",
            *([start] if (start := closed_loop_start(inp.request, cand.engine.dp)) else []),
            f"range +-{half:.0%} (TTFT +-{ttft_half:.0%}): {why}; the high ends add {api_share:.0%} more: the API "
            f"server's own work for {result.completed:,} requests, up to {API_WORK_HIGH_S * 1000:g} ms each (not simulated)",
            f"no token comes faster than one read of the weights a step uses at the GPU's full memory bandwidth, "
            f"{floor_ms:.3g} ms: the low ends of the time per output token and TTFT stop there, and the output's "
            f"high end at {running:,} request{'s' if running != 1 else ''} at once",
            *_model_assumptions(inp, cand, model),
        ],
    )


def closed_loop_start(request: PlanRequest, dp: int) -> str | None:
    """How the simulation starts a closed loop's clients and spreads them, in words (None for other workloads, and
    for a loop whose engines, ``dp`` per replica, get one client each): an assumption of the report, and what the
    run's chart shows after the first wave."""
    wl, n_engines = request.workload, dp * request.hardware.replicas
    per_engine = None if wl.concurrency is None else -(-wl.concurrency // n_engines)  # as the engines share them
    if not phased(per_engine, math.inf if wl.request_rate is None else wl.request_rate):
        return None
    shared = f" ({per_engine} per engine)" if n_engines > 1 else ""
    return (f"closed loop: the {wl.concurrency} clients{shared} send at once, as bench starts them, and that first "
            "wave queues; each client's second request then waits a random share of one request's life (the dip "
            "after the first wave), so that later prompts arrive among running decodes, as a long run settles")


def _api_server_share(result: SimResult) -> float:
    """The share of the run the API server's own work could add at most: API_WORK_HIGH_S per request."""
    return result.completed * API_WORK_HIGH_S / result.duration_s if result.duration_s else 0.0


def _replicas_to_keep_up(request: PlanRequest, rate_per_s: float) -> int | None:
    """When the plan sustains less than its target rate: the fewest replicas of one deployment that would."""
    target, per_replica = fleet_target(request), rate_per_s / request.hardware.replicas
    if target is None or rate_per_s >= target or per_replica <= 0:
        return None
    return replicas_for(target, per_replica)


def _model_assumptions(inp: Inputs, cand: Candidate, model: perf.StepModel) -> list[str]:
    """The step-cost model and the traffic split in words."""
    out = [f"step time: roofline at {model.eta_mem:.0%} of {inp.hw.gpu.bandwidth_gbs or 0:g} GB/s for weights "
           f"({model.eta_kv:.0%} for the KV cache) and {model.eta_comp:.0%} of {model.peak_flops / 1e12:g} TFLOPS, "
           f"{model.t_fix * 1000:g} ms per step and {model.layer_overhead * 1e6:g} us per layer"
           + (f", all-reduce {model.allreduce_latency * 1e6:g} us + bytes at {model.link_bandwidth / 1e9:.0f} GB/s"
              if model.tp > 1 else "")]
    if engines(inp, cand) > 1:
        out.append(_split_assumption(cand.engine.dp, inp.request.hardware.replicas))
    if model.inter_node_hops:
        out.append(f"{model.inter_node_hops} pipeline hop(s) between nodes, each {perf.INTER_NODE_LATENCY_S * 1e6:g} us + "
                   f"activations at {perf.INTER_NODE_GBS:g} GB/s (an RDMA NIC of 200 Gb/s per GPU; plain TCP is slower)")
    return out


def _split_assumption(dp: int, replicas: int) -> str:
    """How the requests are shared out, in words: the replicas' load balancer, each API server's engines."""
    parts = []
    if replicas > 1:
        parts.append(f"a load balancer splits the requests evenly over the {replicas} replicas (round robin, no "
                     "prefix-cache affinity)")
    if dp > 1:
        whose = "each replica's" if replicas > 1 else "the"
        parts.append(f"vLLM's API server spreads {whose} requests evenly over {dp} data-parallel engines "
                     "(the others' tokens reach its experts)")
    return ("; ".join(parts) + f": one engine's share is simulated and the throughputs are {dp * replicas}-fold")


def performance_warnings(report: PerformanceReport | None, request: PlanRequest) -> list[str]:
    """What the simulated run says a person must know first: overload, preemption, missed targets."""
    if report is None:
        return []
    out = []
    wl, rate, needed = request.workload, report.max_request_rate_per_s.expected, report.replicas_to_keep_up
    more_replicas = f"; {needed} replicas of this deployment would keep up (replicas: {needed})" if needed else ""

    if report.keeps_up is False:
        out.append(f"{OVERLOADED}requests arrive at {wl.request_rate:g}/s but the plan sustains about {rate:.3g}/s; "
                   "its queue and time to first token grow for as long as the load lasts" + more_replicas)
    if cut_short(report.simulated_requests, wl.num_prompts):
        out.append(f"simulated in part: the run was cut after {report.simulated_requests:,} of its {wl.num_prompts:,} "
                   f"requests completed, as {CUT_BECAUSE}; the figures and the chart are those of the requests served "
                   "by then (a steady run's means hold for the rest, but where a queue builds, in a burst or an "
                   "overload, later requests wait longer)")
    if report.preemptions:
        out.append(f"the KV cache ran out {report.preemptions:,} times in the simulated run: vLLM preempted requests and "
                   "recomputed them (each shows as one long gap between tokens)")
    targets = request.targets
    if targets.max_ttft_ms is not None and report.ttft_ms.expected > targets.max_ttft_ms:
        out.append(f"misses the TTFT target: {report.ttft_ms.expected:,.0f} ms > {targets.max_ttft_ms:g} ms")
    if targets.max_itl_ms is not None and report.itl_ms.expected > targets.max_itl_ms:
        out.append(f"misses the time-per-token target: {report.itl_ms.expected:,.1f} ms > {targets.max_itl_ms:g} ms")
    if targets.min_output_tokens_per_s is not None and report.output_tokens_per_s.expected < targets.min_output_tokens_per_s:
        out.append(f"misses the throughput target: {report.output_tokens_per_s.expected:,.0f} output tokens/s < "
                   f"{targets.min_output_tokens_per_s:g}")
    if targets.min_request_rate is not None and rate < targets.min_request_rate:
        out.append(f"misses the request-rate target: sustains {rate:.3g}/s < {targets.min_request_rate:g}/s"
                   + more_replicas)
    return out
