"""The sweep's analytic screen: a steady-state formula of vLLM's scheduler on the step cost.

Fast enough to rate thousands of candidates a second; the simulation
(``planning/performance.py``) decides what is reported.  The scheduler is vLLM
V1's continuous batching with chunked prefill: every step carries the running
decodes plus prefill tokens up to ``max_num_batched_tokens``; the batch is
capped by ``max_num_seqs`` and by the KV pool.  Workloads are closed loop
(concurrency), open loop (Poisson request rate; the queue near saturation is left
to the simulation) or a burst of N prompts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wizard.physics.memory import Engine, MemoryPlan
from wizard.physics.perf import StepModel

# The open loop's batch is iterated to this relative change: 1-34 iterations (6-15 mostly; 60 at most)
# on sweeps of Llama-3.1-70B at 20 requests/s and Qwen3-235B at 5.
FIXED_POINT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Workload:
    """What the engine is asked to serve."""

    prompt_tokens: int
    gen_tokens: int
    concurrency: int | None = None  # closed loop
    request_rate: float | None = None  # open loop (Poisson), requests per second
    burst: int | None = None  # N prompts sent at once (request rate infinite)
    prompts: int | None = None  # requests in all: an open loop's batch never holds more; a closed loop's first wave


@dataclass(frozen=True)
class Operating:
    """Per-request latencies and the engine's rates in one regime."""

    batch: float  # sequences decoding per step
    tpot_s: float  # time per output token, as vllm bench's TPOT
    ttft_s: float
    output_tokens_per_s: float


@dataclass(frozen=True)
class Screened:
    """A candidate's expected figures under the workload: what the sweep screens it by."""

    itl_ms: float  # mean time per output token
    ttft_ms: float
    output_tokens_per_s: float
    max_request_rate_per_s: float
    batch: float  # sequences decoding per step where the figures come from (a closed loop's or burst's wave)


def _capacity(engine: Engine, memory: MemoryPlan, wl: Workload) -> int:
    """Sequences that can run at once: max_num_seqs, or what the KV pool holds at the average context."""
    return _at_once(engine, memory, wl.prompt_tokens + wl.gen_tokens // 2)


def _admitted(engine: Engine, memory: MemoryPlan, wl: Workload) -> int:
    """Prompts vLLM admits at once: its admission needs a prompt's blocks free, not its output's (which grow
    later, and preempt the newest when the pool runs out)."""
    return _at_once(engine, memory, wl.prompt_tokens)


def _at_once(engine: Engine, memory: MemoryPlan, tokens: int) -> int:
    """Sequences of ``tokens`` tokens that run at once: max_num_seqs, or what the KV pool holds (at least one)."""
    kv_cap = memory.num_blocks // max(memory.limiting.kv.blocks_per_request(max(tokens, 1)), 1)
    return max(min(kv_cap, engine.max_num_seqs), 1)


def _decode_ctx(wl: Workload) -> float:
    return wl.prompt_tokens + wl.gen_tokens / 2


def _step(model: StepModel, decode: float, prefill: float, decode_ctx: float, prefill_ctx: float) -> float:
    """One step, priced as the simulation prices it (:attr:`StepModel.step_seconds`: every pipeline stage, and the
    engine's CPU work, hidden behind the device's with async scheduling), from a batch's average contexts."""
    return model.step_seconds(decode, decode * decode_ctx, prefill, prefill * prefill_ctx)


def _steady(model: StepModel, engine: Engine, wl: Workload, decode: float) -> float:
    """Seconds per step when ``decode`` sequences run and are replaced one by one as they finish.

    Little's law: sequences finish at decode / gen_tokens per step and each
    replacement brings prompt_tokens of prefill.  V1's chunked prefill packs it
    into the decode steps (up to max_num_batched_tokens): when the prompts come
    slower than one chunk a step, a share of the steps carries a chunk and the
    rest only decode (a MoE step touches more experts the more tokens it
    carries, so spreading the prefill evenly would overcharge it); V0 without
    chunked prefill runs it in separate steps while the decodes wait.
    """
    refill = decode * wl.prompt_tokens / wl.gen_tokens
    if not model.chunked_prefill:
        # decode / gen_tokens prompts arrive per step; at most one prefill step runs per decode step.
        arrivals = decode / wl.gen_tokens
        batched = max(arrivals, 1.0) * wl.prompt_tokens
        stall = min(arrivals, 1.0) * _step(model, 0, batched, 0, wl.prompt_tokens / 2)
        return _step(model, decode, 0, _decode_ctx(wl), 0) + stall
    room = max(engine.max_num_batched_tokens - decode, 0)
    chunk = min(wl.prompt_tokens, room)
    if refill >= chunk:
        return _step(model, decode, min(refill, room), _decode_ctx(wl), wl.prompt_tokens / 2)
    share = refill / chunk  # of the steps that carry a chunk
    return (share * _step(model, decode, chunk, _decode_ctx(wl), wl.prompt_tokens / 2)
            + (1 - share) * _step(model, decode, 0, _decode_ctx(wl), 0))


def _waves(model: StepModel, engine: Engine, wl: Workload, running: int, requests: float) -> Operating:
    """Requests of equal length started together stay in step: each wave prefills, then decodes.

    A closed loop (or a burst) of fixed-length requests keeps ``running`` of them
    in flight that start and finish together.  A wave's prompts take
    ceil(running x prompt / max_num_batched_tokens) prefill steps, the first
    token of each request coming out of its last chunk; then gen_tokens - 1
    decode steps.  ``requests`` in all are served in waves of ``running``.
    """
    budget = engine.max_num_batched_tokens
    total_prefill = running * wl.prompt_tokens
    chunks = max(1, math.ceil(total_prefill / budget))
    riding = running * (chunks - 1) / (2 * chunks) if model.chunked_prefill else 0.0
    prefill_step = _step(model, riding, total_prefill / chunks, _decode_ctx(wl), wl.prompt_tokens / 2)
    decode_step = _step(model, running, 0, _decode_ctx(wl), 0)
    gen = max(wl.gen_tokens - 1, 1)
    cycle = chunks * prefill_step + gen * decode_step
    # Requests prefilled in early chunks decode through the later prefill steps.
    overlap = (chunks - 1) / 2 if model.chunked_prefill else 0.0
    tpot = (min(overlap, gen) * prefill_step + max(gen - overlap, 0) * decode_step) / gen
    waves = max(requests / running, 1.0)
    ttft = prefill_step * (chunks + 1) / 2 + cycle * (waves - 1) / 2 * (1 if requests > running else 0)
    return Operating(running, tpot, ttft, running * wl.gen_tokens / cycle)


def _steady_ttft_s(model: StepModel, engine: Engine, wl: Workload, decode: float, step: float) -> float:
    """A prompt that arrives among ``decode`` running decodes of ``step`` seconds: half a step's wait, then its
    own chunks beside the decodes (the budget they leave)."""
    budget = max(engine.max_num_batched_tokens - decode, 1)
    own = _step(model, decode, min(wl.prompt_tokens, budget), _decode_ctx(wl), wl.prompt_tokens / 2)
    return 0.5 * step + math.ceil(wl.prompt_tokens / budget) * own


def _closed_loop_ttft_s(model: StepModel, engine: Engine, wl: Workload, running: int, waiting: int,
                        step: float) -> float:
    """TTFT once a closed loop's requests drift apart (a steady trickle of refills, the alternative to waves),
    with ``waiting`` more clients than run at once queued for a seat; ``step`` is :func:`_steady` of ``running``."""
    return _steady_ttft_s(model, engine, wl, running, step) + waiting * wl.gen_tokens * step / running


def _later_tpot_s(model: StepModel, wl: Workload, running: int, later: int, step: float) -> float:
    """Mean TPOT of a closed loop's requests after its first wave: sent at random phases, each decodes among
    ``running`` requests whose refills' prefill rides in its steps (the others', its own comes before its first
    token) until the clients run out of requests; the last ``running`` see the batch drain, about half of it on
    average, with no prefill left.  ``step`` is :func:`_steady` of ``running``."""
    if later <= 0:
        return 0.0
    drained = min(later, running)
    decode = _step(model, running, 0, _decode_ctx(wl), 0)
    steady = decode + (step - decode) * (running - 1) / running
    drain = _step(model, max(drained / 2, 1.0), 0, _decode_ctx(wl), 0)
    return ((later - drained) * steady + drained * drain) / later


def _max_rate(model: StepModel, engine: Engine, wl: Workload, cap: int) -> float:
    """Requests per second the plan sustains: a full batch of cap, or the token budget."""
    step = _steady(model, engine, wl, cap)
    per_step = min(cap / wl.gen_tokens, engine.max_num_batched_tokens / (wl.prompt_tokens + wl.gen_tokens))
    return per_step / step


def _mean_batch(rate: float, life_s: float, prompts: int | None) -> float:
    """The batch a finite Poisson run's tokens see on average: ``prompts`` requests at ``rate`` for T = prompts /
    rate seconds, each running ``life_s``, none queued.  Averaged over the requests' lives, the requests in flight
    are rate x L x (1 - L / 3T) when L <= T, and N x (1 - T / 3L) when they outlive the arrivals: rate x L in
    a long run, tending to all N when each outlives the rest."""
    if not prompts:
        return rate * life_s
    arrivals_s = prompts / rate
    if life_s <= arrivals_s:
        return rate * life_s * (1 - life_s / (3 * arrivals_s))
    return prompts * (1 - arrivals_s / (3 * life_s))


def _open_loop(model: StepModel, engine: Engine, wl: Workload, cap: int, rate: float, max_rate: float) -> Operating:
    """Poisson arrivals: the batch settles where arrivals equal completions, or in a run too short to get
    there, at what its requests see on average (:func:`_mean_batch`).

    TTFT leaves out the queue that builds near capacity: the screen only
    prunes, and a wait of rho / (1 - rho) steps overstated the simulated TTFT of
    fleets sized near capacity 2-17x (8B on L4 at 4 requests/s: 6.8 s against
    0.38 s), which pruned configurations the simulation accepts."""
    decode = 1.0
    for _ in range(60):  # fixed point of decode = mean batch of requests living gen_tokens x step(decode)
        settled, decode = decode, min(max(_mean_batch(rate, wl.gen_tokens * _steady(model, engine, wl, decode),
                                                      wl.prompts), 1e-3), cap)
        if abs(decode - settled) <= FIXED_POINT_TOLERANCE * settled:
            break
    step = _steady(model, engine, wl, decode)
    return Operating(decode, step, _steady_ttft_s(model, engine, wl, decode, step), min(rate, max_rate) * wl.gen_tokens)


def estimate(model: StepModel, engine: Engine, memory: MemoryPlan, wl: Workload) -> Screened:
    """The plan's expected figures under the workload."""
    cap = _capacity(engine, memory, wl)
    max_rate = _max_rate(model, engine, wl, cap)
    if wl.request_rate:
        op = _open_loop(model, engine, wl, cap, wl.request_rate, max_rate)
        ttft_s, tpot_s = op.ttft_s, op.tpot_s
    elif wl.burst:  # every prompt arrives at once: each waits for its wave's prefill
        # As many as vLLM admits, by their prompts: where the pool holds fewer whole requests, it preempts the newest
        # as the outputs grow instead of holding prompts back (waves of whole requests rated such bursts' TTFT up
        # to 30 times the simulation's: Qwen3-235B-FP8 on an MI325X, 200 prompts of 200 tokens and 1,000 out).
        running = min(wl.burst, _admitted(engine, memory, wl))
        op = _waves(model, engine, wl, running, wl.burst)
        ttft_s, tpot_s = op.ttft_s, op.tpot_s
    else:
        # A closed loop's first concurrency requests are sent at once and wait for their wave's prefill; the
        # simulation then spreads the clients over a request's life (steady_phases): later prompts wait behind
        # the running decodes.
        clients = wl.concurrency or 1
        total = max(wl.prompts or clients, 1)
        in_flight = min(clients, total)
        running = min(in_flight, cap)
        op = _waves(model, engine, wl, running, in_flight)
        step = _steady(model, engine, wl, running)
        steady = _closed_loop_ttft_s(model, engine, wl, running, in_flight - running, step)
        ttft_s = (in_flight * op.ttft_s + (total - in_flight) * steady) / total
        later = total - in_flight
        tpot_s = (in_flight * op.tpot_s + later * _later_tpot_s(model, wl, running, later, step)) / total
    return Screened(itl_ms=tpot_s * 1000, ttft_ms=ttft_s * 1000, output_tokens_per_s=op.output_tokens_per_s,
                    max_request_rate_per_s=max_rate, batch=op.batch)


def prefill_share(model: StepModel, engine: Engine, wl: Workload, batch: float) -> float:
    """The share of a steady step's seconds that the refills' prefill takes, ``batch`` sequences decoding (a closed
    loop's or burst's :attr:`Screened.batch`): where it is large, the formula strays furthest from the simulation."""
    return 1 - _step(model, batch, 0, _decode_ctx(wl), 0) / _steady(model, engine, wl, batch)
