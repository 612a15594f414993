"""Capacity planning: every fleet worth renting for a model and workload, ranked by cost.

Enumerates GPU type x GPUs per node x nodes (TP inside a node, PP across
nodes, or for MoE data + expert parallelism when the search prefers it) x real
weight formats (the checkpoint's, or FP8 quantized online) x KV dtype, plans
each candidate through the very same path as ``plan()`` (so a result re-planned
alone gives the same verdict), and sizes a fleet of it: with a target rate (the
request rate, or targets.min_request_rate) the fewest identical replicas whose
summed sustainable rate covers it, the requests split evenly among them.  The
fast analytic formula screens each fleet; the simulation then verifies the
cheapest survivors (cost per hour from ``wizard/data/prices.json``) until enough
meet every target: the simulation, not the screen, decides what is listed with
its figures.  Only the top results are assembled into full plans.
"""

from __future__ import annotations

import math
import time
from bisect import insort
from dataclasses import replace
from typing import Iterable, NamedTuple

from wizard.capacity.prices import Price, price_of
from wizard.catalog.gpus import GpuSpec, catalog, get_gpu
from wizard.catalog.metadata import ModelInfo, resolve_model
from wizard.errors import WizardError
from wizard.physics import quant, screen
from wizard.physics.arch import Architecture
from wizard.physics.perf import StepModel
from wizard.physics.simulate import LatencyCaps
from wizard.planning.inputs import Inputs, resolve_inputs
from wizard.planning.performance import (
    SIM_WORK_BUDGET,
    Figures,
    expected_figures,
    fleet_target,
    replicas_for,
    screen_workload,
    simulate_within,
    simulated_figures,
    step_model,
)
from wizard.planning.planner import plan
from wizard.planning.recommend import valid_tp_sizes
from wizard.planning.search import Candidate, search
from wizard.schema import (
    HardwareSection,
    PlanRequest,
    Targets,
    parse_request,
)
from wizard.schema.results import SweepResult, SweepRow

GPUS_PER_NODE = (1, 2, 4, 8)
NODES = (1, 2, 4)


# The analytic screen is a steady-state formula: it lets through what it rates up to this much
# worse than a target, so the simulation (which decides) does not lose what the formula misjudges.
# Simulated / screened over 3,120 fleets of 10 models' sweeps at 4 length pairs (benchmarks/screen_error.py): TTFT
# 0.67-1.00 at concurrency 1, 0.73-3.6 at 2-256, 0.68-3.64 for bursts (0.03-1.41 while the screen admitted a
# burst's prompts by their whole length: physics/screen.py, _admitted), 0.75-4.0 for Poisson rates; the
# sustainable rate 0.60-1.72; the time per output token below.
SCREEN_SLACK = 1.6
# The time per output token, the target a sweep is most often given, has its own slacks: the screen strays from the
# simulation by how much of a steady step the refills' prefill takes (screen.prefill_share), and by the workload's
# kind.  Simulated / screened over 10 models, 4 length pairs (prompts 0.2-20 times the output) and fleets spread
# over each ranking (benchmarks/screen_error.py, run with PER 6 and 10: 3,368 closed loops at 1-256 clients):
# below a share of PREFILL_HEAVY_SHARE a closed loop's ratio was 0.94-1.16 (2,343 fleets), a burst's 0.85-2.1
# (199, PER 6; the screen admitting prompts as vLLM does); at or above it 0.71-1.94 (1,025) and 0.75-3.7 (281)
# (the H20's slow prefill; prompts 20 times the output on any GPU); a Poisson rate's 0.79-1.39 either way (480).
# Each slack covers 1 / the lowest ratio with 5-12% to spare.  The closed loop's narrow one spares a Qwen3-235B
# sweep 18 of the 26 rows it simulated only to find them 53-63 ms against a 50 ms target; the wide one lists fleets
# a single slack of 1.3 left out though the simulation meets the target (test_sweep.py: Llama-3.1-70B on H20).  Below a share of PREFILL_LIGHT_SHARE a closed loop's
# ratio was 0.954-1.09 (3,369 fleets: PER 6 at 2-256 clients, PER 10 at 1-256; the lowest, Qwen3-8B on an H20 with two
# pipeline stages): its slack covers 1 / 0.954 with 3% to spare, and spares a Qwen3-235B sweep 3 of the 12 rows it
# simulated only to find them 53-56 ms against a 50 ms target.
TPOT_SLACK = {"closed loop": 1.12, "burst": 1.25, "rate": 1.35}  # by workload kind (see _kind)
PREFILL_HEAVY_SHARE = 0.5
PREFILL_HEAVY_TPOT_SLACK = 1.5  # a closed loop's or a burst's where the prefill takes PREFILL_HEAVY_SHARE or more
PREFILL_LIGHT_SHARE = 0.3
PREFILL_LIGHT_TPOT_SLACK = 1.08  # a closed loop's where the prefill takes less than PREFILL_LIGHT_SHARE
# Listing a row on the screen's word, unsimulated (past the rows the simulation verifies), takes the screen's worst
# optimism instead.  Simulated / screened (benchmarks/screen_error.py, above) reached 3.6 for a closed loop's TTFT
# and 4.0 for a Poisson rate's (its queue near capacity, which the screen leaves out), and the screen's sustainable
# rate was up to 1 / 0.60 = 1.67 times the simulation's: SCREEN_LIST_SLACK covers them with 5% to spare.  The time
# per output token's own reached 1.94 for closed loops, 3.8 for bursts (small KV pools preempt: 7 of 15 Gemma-3-27B
# rows listed at 1.6 missed a 100 ms target in simulation) and 1.39 for rates: each list slack covers its kind's.
SCREEN_LIST_SLACK = 4.2
LIST_TPOT_SLACK = {"closed loop": 2.1, "burst": 4.0, "rate": 1.5}
VERIFIED_ROWS = 10  # cheapest rows the simulation verifies when no more full plans are asked for
# The work (physics/scheduler.py's units, ~0.5 us each here) a sweep's verifying workload runs may take before it
# stops verifying and lists the rest on the screen's word (three runs cut at SIM_WORK_BUDGET, ~2 s here).  The
# sweeps of benchmarks/sweep_speed.py spend 0.04-0.4 M units; 20,000 prompts at concurrency 256 (Llama-3.1-8B, a
# 50 ms target) spent 3.6 M (3.9 s) verifying 10 rows, their loops' repeating rounds copied, not stepped
# (physics/scheduler.py: Run._probe); stepped, it stopped at 5.3 M with 2.
VERIFY_WORK_BUDGET = 3 * SIM_WORK_BUDGET
STOPPED_ROWS = 3  # simulated rows a verification stopped short still lists (of those the screen rates well inside)
# A fleet the simulation finds short is resized at most this many times, and never past this factor
# of the screen's size: beyond that the layout is not what the screen thought, and cheaper ones exist.
FLEET_RESIZES = 2
FLEET_GROWTH = 2
CAP_MARGIN = 1e-3  # a simulation is given up only this far past a latency target (reported means are rounded)


def misses(targets: Targets, itl_ms: float, ttft_ms: float, output_tokens_per_s: float, rate_per_s: float,
           slack: float = 1.0, tpot_slack: float | None = None) -> list[str]:
    """Which targets the performance misses (by more than ``slack`` times; ``tpot_slack`` for the time per output
    token, ``slack`` unless given), and by how much."""
    out = []
    tpot_slack = slack if tpot_slack is None else tpot_slack
    if targets.max_ttft_ms is not None and ttft_ms > targets.max_ttft_ms * slack:
        out.append(f"TTFT {ttft_ms:,.0f} ms > {targets.max_ttft_ms:g}")
    if targets.max_itl_ms is not None and itl_ms > targets.max_itl_ms * tpot_slack:
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


def with_replicas(request: PlanRequest, replicas: int) -> PlanRequest:
    """The same deployment, ``replicas`` times over (the request itself when it already is)."""
    if request.hardware.replicas == replicas:
        return request
    return request.model_copy(update={"hardware": request.hardware.model_copy(update={"replicas": replicas})})


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
               nodes: Iterable[int] = NODES, info: ModelInfo | None = None) -> list[PlanRequest]:
    """Every configuration to try, as plan requests with the parallel layout fixed (``info``: the model resolved)."""
    flat = base.flat()
    arch = (info or resolve_model(base.model.model, base.model.revision)).arch
    fmt = quant.resolve(quant.from_checkpoint(arch.quantization_config), base.model.quantization)
    quantized = fmt.kind != "none"
    parsed: dict[tuple[str | None, str], PlanRequest] = {}
    hardware_of: dict[tuple[object, ...], HardwareSection] = {}

    def request(values: dict[str, object]) -> PlanRequest:
        """parse_request(values), the hardware section alone validated once a request with the same model section
        is (and once for the weight and KV formats that share it)."""
        key = (values["quantization"], values["kv_cache_dtype"])  # the only model fields candidates vary
        if key not in parsed:
            parsed[key] = parse_request(values)
            return parsed[key]
        fields = tuple(values[name] for name in HardwareSection.model_fields)
        if fields not in hardware_of:
            hardware_of[fields] = HardwareSection.model_validate(dict(zip(HardwareSection.model_fields, fields)))
        return parsed[key].model_copy(update={"hardware": hardware_of[fields]})

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
                                  "quantization": q, "kv_cache_dtype": kv}
                        for layout in _layouts(arch, base, g, n):
                            out.append(request({**values, **layout}))
    return out


def _layouts(arch: Architecture, base: PlanRequest, per_node: int, nodes: int) -> list[dict[str, object]]:
    """TP inside each node and a pipeline stage per node; for MoE also vLLM's data + expert parallel
    recipe, one engine per GPU with the experts spread over all of them."""
    out: list[dict[str, object]] = [{"tensor_parallel_size": per_node, "pipeline_parallel_size": nodes,
                                     "data_parallel_size": 1}]
    gpus = per_node * nodes
    if arch.moe and gpus > 1 and arch.moe.num_experts % gpus == 0 and base.hardware.enable_expert_parallel is not False:
        out.append({"tensor_parallel_size": 1, "pipeline_parallel_size": 1, "data_parallel_size": gpus,
                    "enable_expert_parallel": True})
    return out


def _swept_gpus(gpu_names: list[str] | None, provider: str | None, prices: dict[str, float] | None) -> list[GpuSpec]:
    """The GPUs named (each must have a price), or every catalog GPU with one."""
    if not gpu_names:
        return [g for g in catalog() if price_of(g, provider, prices) is not None]
    gpus = [get_gpu(name) for name in gpu_names]
    unpriced = [g.name for g in gpus if price_of(g, provider, prices) is None]
    if unpriced:
        raise WizardError(f"no price for {', '.join(unpriced)} in the {provider or 'default'} price list: "
                          "give one in USD per GPU-hour")
    return gpus


def _weights_key(request: PlanRequest) -> tuple[object, ...]:
    """What a candidate's weights depend on: everything it varies but the KV dtype (see :func:`candidates`)."""
    hw = request.hardware
    return (hw.gpu, hw.gpus, hw.nodes, hw.tensor_parallel_size, hw.pipeline_parallel_size, hw.data_parallel_size,
            hw.enable_expert_parallel, request.model.quantization)


def _screened(base: PlanRequest, request: PlanRequest, price: Price, info: ModelInfo,
              overflowing: dict[tuple[object, ...], str]) -> tuple[SweepRow, Inputs, Candidate] | str:
    """One candidate planned, sized into a fleet and screened: its row, or why it is left out.

    ``overflowing``: why the configurations whose weights alone overflow a GPU's budget were left out, by
    :func:`_weights_key`.  Their other KV dtype is left out for the same reason without a search: the KV dtype
    changes no weight, every setting the search relaxes only frees memory the weights cannot use, and the
    workload's max_model_len, which decides a refusal, then comes out the same."""
    try:
        inp = resolve_inputs(request, detected=[], info=info)
        key = _weights_key(request)
        if key in overflowing:
            return overflowing[key]
        cand = search(inp).candidate
    except WizardError:
        return "invalid"
    if not cand.verdict.fits:  # a refused workload is refused on every GPU (max_model_len is the user's or the model's)
        outcome = "refused" if cand.verdict.refused else "does not fit"
        if cand.memory.weights_overflow:
            overflowing[key] = outcome
        return outcome
    target = fleet_target(base)
    model, dp = step_model(inp, cand), cand.engine.dp
    # The sustainable rate does not depend on the offered load: size the fleet, then screen one engine's share.
    wl = screen_workload(base, dp)
    rated = screen.estimate(model, cand.engine, cand.memory, wl)
    per_replica = dp * rated.max_request_rate_per_s
    replicas = replicas_for(target, per_replica) if target and per_replica > 0 else 1
    if replicas > 1:
        wl = screen_workload(base, dp * replicas)
        rated = screen.estimate(model, cand.engine, cand.memory, wl)
    figures = (rated.itl_ms, rated.ttft_ms, rated.output_tokens_per_s * dp * replicas,
               rated.max_request_rate_per_s * dp * replicas)
    if misses(base.targets, *figures, slack=SCREEN_SLACK, tpot_slack=_tpot_slack(base, model, cand, wl, rated)):
        return "misses targets"
    if not _keeps_up(base, figures[3], slack=SCREEN_SLACK):
        return "cannot keep up"
    hw = request.hardware
    return SweepRow(
        gpu=inp.hw.gpu.name, gpus_per_node=hw.gpus, nodes=hw.nodes, tensor_parallel_size=cand.engine.tp,
        pipeline_parallel_size=cand.engine.pp, data_parallel_size=dp, expert_parallel_size=cand.engine.ep,
        quantization=request.model.quantization, weights=_weights(inp), kv_cache_dtype=str(cand.kv_cache_dtype.value),
        usd_per_gpu_hour=price.usd_per_gpu_hour, price_source=f"{price.provider} {price.date}".strip(), replicas=replicas,
        output_tokens_per_s=figures[2], itl_ms=figures[0], ttft_ms=figures[1], max_request_rate_per_s=figures[3],
        output_tokens_per_request=base.workload.gen_tokens, max_concurrency=cand.verdict.max_concurrency,
        simulated=False, request=with_replicas(request, replicas),
    ), inp, cand


def _kind(wl: screen.Workload) -> str:
    """The workload's kind, as the slacks are keyed: a closed loop, a burst, or a request rate."""
    return "rate" if wl.request_rate else "burst" if wl.burst else "closed loop"


def _tpot_slack(base: PlanRequest, model: StepModel, cand: Candidate, wl: screen.Workload,
                rated: screen.Screened) -> float:
    """How much worse than a time per output token target the screen may rate a fleet and still let it through.
    A closed loop's or a burst's slack widens where the prefill takes much of a steady step (the formula strays
    furthest there), and a closed loop's narrows where it takes little; that share is only worked out where it
    decides (the fleet rated past the narrowest slack)."""
    kind = _kind(wl)
    narrow, target = TPOT_SLACK[kind], base.targets.max_itl_ms
    least = PREFILL_LIGHT_TPOT_SLACK if kind == "closed loop" else narrow
    if kind == "rate" or target is None or rated.itl_ms <= target * least:
        return least
    share = screen.prefill_share(model, cand.engine, wl, rated.batch)
    if share >= PREFILL_HEAVY_SHARE:
        return PREFILL_HEAVY_TPOT_SLACK
    return least if share < PREFILL_LIGHT_SHARE else narrow


def _by_cost(row: SweepRow) -> tuple[float, float]:
    return row.cost_per_hour, row.cost_per_million_output_tokens


class Screening(NamedTuple):
    """The screen's pass over every candidate: the rows it lets through (cheapest first, with the inputs and
    candidate the simulation takes), why the others are left out, and how many it evaluated."""

    rows: list[tuple[SweepRow, Inputs, Candidate]]
    rejected: dict[str, int]
    evaluated: int


def screen_all(base: PlanRequest, gpu_names: list[str] | None = None, provider: str | None = None,
               prices: dict[str, float] | None = None, per_node: Iterable[int] = GPUS_PER_NODE,
               nodes: Iterable[int] = NODES) -> Screening:
    """Plan and screen every candidate (the sweep's first pass, before the simulation verifies the cheapest)."""
    gpus = _swept_gpus(gpu_names, provider, prices)
    price_by_name = {gpu.name: price_of(gpu, provider, prices) for gpu in gpus}
    info = resolve_model(base.model.model, base.model.revision)  # once: every candidate serves the same model
    screened: list[tuple[SweepRow, Inputs, Candidate]] = []
    rejected = {"does not fit": 0, "refused": 0, "misses targets": 0, "cannot keep up": 0, "invalid": 0, "unverified": 0}
    todo = candidates(base, gpus, per_node, nodes, info)
    overflowing: dict[tuple[object, ...], str] = {}
    for request in todo:
        price = price_by_name[request.hardware.gpu or ""]
        assert price is not None  # every swept GPU has one
        outcome = _screened(base, request, price, info, overflowing)
        if isinstance(outcome, str):
            rejected[outcome] += 1
        else:
            screened.append(outcome)
    screened.sort(key=lambda entry: _by_cost(entry[0]))
    return Screening(screened, rejected, len(todo))


def sweep(base: PlanRequest, gpu_names: list[str] | None = None,
          provider: str | None = None, prices: dict[str, float] | None = None, full_plans: int = 10,
          per_node: Iterable[int] = GPUS_PER_NODE, nodes: Iterable[int] = NODES) -> SweepResult:
    """Plan every candidate and return those that fit and meet the targets, cheapest first.

    ``full_plans``: how many of the cheapest rows get their complete
    :class:`PlanResponse` (the one ``plan()`` gives for that request).
    """
    start = time.perf_counter()
    screening = screen_all(base, gpu_names, provider, prices, per_node, nodes)
    screened_at = time.perf_counter()
    rows, stopped = _verify(base, screening.rows, max(full_plans, VERIFIED_ROWS), screening.rejected)
    for row in rows[:full_plans]:
        row.plan = plan(row.request)
    return SweepResult(candidates_evaluated=screening.evaluated, seconds=screened_at - start,
                       simulation_seconds=time.perf_counter() - screened_at, rejected=screening.rejected,
                       fitting=len(rows), results=rows, verification_stopped=stopped)


def _verify(base: PlanRequest, screened: list[tuple[SweepRow, Inputs, Candidate]], wanted: int,
            rejected: dict[str, int]) -> tuple[list[SweepRow], bool]:
    """The rows to list, cheapest first.  The simulation decides, cheapest first, until ``wanted`` rows meet
    every target and no row it has not simulated ranks before the ``wanted``-th cheapest of them (a simulated
    row can rank below later ones once its own figures replace the screen's: a lower sustained rate, more
    replicas), so the ``wanted`` cheapest rows listed are the cheapest configurations that pass it.

    Rows past those keep the screen's figures (``simulated`` false), and only
    when the screen rates them well inside the targets (by SCREEN_LIST_SLACK,
    for the time per output token by its workload kind's: the screen can be that
    optimistic): the sweep never lists a configuration the
    simulation found to miss one, or to fall behind the rate.  Such a row that
    ranks before a simulated one is simulated too: the simulated rows are the
    cheapest ones listed.

    The verification stops short once its workload runs have taken
    VERIFY_WORK_BUDGET (the second value returned is then true): the rows it
    has not reached are listed, or not, as the rows past the ``wanted`` ones,
    and the cheapest of those listed are simulated until STOPPED_ROWS pass (or
    STOPPED_ROWS runs' budgets more are spent).
    """
    listed: list[tuple[SweepRow, Inputs, Candidate]] = []
    ranks: list[tuple[float, float]] = []  # of the simulated rows listed, sorted
    spent = 0  # the verifying workload runs' work

    def simulated(row: SweepRow, inp: Inputs, cand: Candidate) -> None:
        """The row listed with its simulated figures if it passes the simulation, else its rejection counted."""
        nonlocal spent
        verdict, replicas, figures, work = _simulated_fleet(base, inp, cand, row.replicas)
        spent += work
        if verdict:
            rejected[verdict] += 1
            return
        listed.append((row.model_copy(update={
            "itl_ms": figures.itl_ms, "ttft_ms": figures.ttft_ms, "output_tokens_per_s": figures.output_tokens_per_s,
            "max_request_rate_per_s": figures.max_request_rate_per_s, "replicas": replicas,
            "request": with_replicas(row.request, replicas), "simulated": True,
            "simulated_requests": figures.simulated_requests}), inp, cand))
        insort(ranks, _by_cost(listed[-1][0]))

    def more() -> bool:
        """Whether the next screened row must be simulated to list the ``wanted`` cheapest that pass."""
        return done < len(screened) and (len(ranks) < wanted or _by_cost(screened[done][0]) < ranks[wanted - 1])

    done = 0  # screened rows simulated
    while more() and spent <= VERIFY_WORK_BUDGET:
        simulated(*screened[done])
        done += 1
    stopped = more()
    well_inside, tpot_inside = 1 / SCREEN_LIST_SLACK, 1 / LIST_TPOT_SLACK[_kind(screen_workload(base))]
    for row, inp, cand in screened[done:]:
        figures = (row.itl_ms, row.ttft_ms, row.output_tokens_per_s, row.max_request_rate_per_s)
        if (not misses(base.targets, *figures, slack=well_inside, tpot_slack=tpot_inside)
                and _keeps_up(base, figures[3], slack=well_inside)):
            listed.append((row, inp, cand))
        else:  # too near a target for the screen's word, past the rows the simulation verifies
            rejected["unverified"] += 1
    while True:
        listed.sort(key=lambda entry: _by_cost(entry[0]))
        is_simulated = [row.simulated for row, _, _ in listed]
        stray = is_simulated.index(False) if False in is_simulated else len(is_simulated)  # the first screen-only row
        # Stopped short, the cheapest rows the screen rates well inside the targets are simulated in their place.
        short = (stopped and len(ranks) < min(wanted, STOPPED_ROWS)
                 and spent <= VERIFY_WORK_BUDGET + STOPPED_ROWS * SIM_WORK_BUDGET)
        if stray == len(listed) or (True not in is_simulated[stray:] and not short):
            return [row for row, _, _ in listed], stopped
        simulated(*listed.pop(stray))


def _caps(targets: Targets) -> LatencyCaps:
    """The latency targets as a simulation's caps, a hair above them: the reported means are rounded, and a run
    is only given up once it surely misses."""
    def cap_s(target_ms: float | None) -> float:
        return math.inf if target_ms is None else target_ms / 1000 * (1 + CAP_MARGIN)

    return LatencyCaps(tpot_s=cap_s(targets.max_itl_ms), ttft_s=cap_s(targets.max_ttft_ms))


def _simulated_fleet(base: PlanRequest, inp: Inputs, cand: Candidate,
                     replicas: int) -> tuple[str, int, Figures | None, int]:
    """Simulate the fleet the screen sized; where it falls short of the target rate, or misses a latency
    target only because each replica runs near saturation, add replicas (FLEET_RESIZES times at most); where
    fewer replicas sustain the target rate (the screen rated them low), try the fewest once.
    Returns the rejection reason (empty when it passes), the replicas, their simulated performance and the
    workload runs' work.

    Without a target rate nothing is resized and no rate is judged: a run that misses a latency target
    is rejected before the saturated run (half the simulation) is paid for."""
    def fleet(replicas: int) -> Inputs:
        return replace(inp, request=with_replicas(inp.request, replicas))

    def passes(figures: Figures) -> bool:
        missed = misses(base.targets, figures.itl_ms, figures.ttft_ms, figures.output_tokens_per_s,
                        figures.max_request_rate_per_s)
        return not missed and figures.keeps_up is not False

    target, work = fleet_target(base), 0
    if not target:
        result, work = simulate_within(fleet(replicas), cand, _caps(base.targets))
        if result is None or misses(base.targets, *expected_figures(result), math.inf):
            return "misses targets", replicas, None, work
    for _ in range(FLEET_RESIZES + 1):
        figures = simulated_figures(fleet(replicas), cand)
        work += figures.work
        rate = figures.max_request_rate_per_s
        behind = figures.keeps_up is False
        if passes(figures):
            # A replica's sustainable rate is one engine's share, whatever the fleet: the fewest that cover the
            # target sustain it by construction, and only their latencies (more load on each) are left to check.
            fewest = replicas_for(target, rate / replicas) if target else replicas
            if fewest < replicas:
                smaller = simulated_figures(fleet(fewest), cand)
                work += smaller.work
                if passes(smaller):
                    return "", fewest, smaller, work
            return "", replicas, figures, work
        if not target:
            break
        resized = max(replicas_for(target, rate / replicas), replicas + 1)
        if resized > replicas * FLEET_GROWTH:
            break
        replicas = resized
    return ("cannot keep up" if behind else "misses targets"), replicas, figures, work
