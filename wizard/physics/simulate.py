"""vLLM V1's scheduler stepped over time, measured the way ``vllm bench serve`` measures it.

Follows ../shared/truth/vllm_scheduler_and_bench.md (vLLM 0.33). Each engine step:

1. requests that reached the engine join WAITING (FCFS); finished requests free
   their seat and KV blocks;
2. RUNNING requests, in admission order, get their remaining prompt (or recompute)
   chunk or one decode token while the token budget (``max_num_batched_tokens``)
   lasts.  KV blocks are allocated at scheduling time; when a request cannot get
   its blocks the newest running request is preempted (blocks freed, everything
   recomputed later, put at the head of WAITING, counted) until it can, or until
   it is the victim itself;
3. if nothing was preempted, WAITING requests are admitted FCFS while seats
   (``max_num_seqs``; partial prefills hold one) and budget last, each taking the
   leftover budget as its chunk; admission needs the whole current sequence to
   fit in the free blocks, and a head that does not fit blocks everyone behind it;
4. the step costs ``step_cost(decode seqs, Σ decode contexts, prefill tokens,
   Σ prefill attention contexts)`` seconds; the step holding a request's last
   prompt chunk samples its first token, later steps one token each, all emitted
   when the step ends.

With async scheduling (vLLM 0.33's default) step k+1 is scheduled when step k
starts: a new arrival starts computing one step later than in sync mode, a
finished request keeps its seat and blocks one step longer, and steps run back
to back.  In sync mode step k+1 is scheduled when step k ends; neither mode adds
CPU time between steps beyond what ``step_cost`` charges.  Without chunked
prefill (V0) a step either prefills admitted prompts whole or decodes the
running set, never both.

A burst reaches the engine one request every ``ingest_s`` (API-server handling).
Every token is its own streamed chunk, so ITL entries are per token.

Left out or simplified: prefix caching (a preempted request recomputes
everything; repeated prompts are not cheaper); speculative decoding; EOS stops
that async scheduling cannot see coming (each costs one wasted decode step);
``max_model_len`` truncation (pass lengths that fit); the API server merging
chunks when it lags; pipeline parallelism keeping several batches in flight
(steps run one after another here); a request whose last token is in flight is
never chosen as a preemption victim; sliding-window blocks leave the window by
the tokens computed before the step (vLLM counts one in-flight step less).

Steps that only decode, finish requests, take arrivals and admit or continue
fresh prefills behind the decodes (no preemption, no budget cut of a decode) are
advanced without re-scheduling each step; the results equal stepping one by one
(tests/test_simulate.py checks this against a literal step-by-step model).  In a
closed loop of at least six rounds of alike requests (one request per client
a round), a round that leaves the state as the round before did (shifted in time
and in request numbers) is copied for the rounds that follow, up to the drain:
the same results to 1e-12 s, as copied times are shifted, not summed step by step.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from numpy.random import default_rng

from wizard.errors import WizardError
from wizard.physics.run_stats import SimResult, Stats, WeightedSamples, stats
from wizard.physics.scheduler import EngineLimits, LatencyCaps, Run, StepCost
from wizard.physics.scheduler_passes import Blocks
from wizard.physics.traffic import Traffic, draw

__all__ = ["API_INGEST_S", "EngineLimits", "LatencyCaps", "SimResult", "Stats", "StepCost", "WeightedSamples",
           "finish_times", "phased", "simulate", "simulate_counted", "simulate_traffic", "stats", "steady_phases"]

# API-server time per request before the engine sees it: HTTP parsing, request validation and
# tokenizing a ~1k-token prompt in the single API-server process. ESTIMATE, not measured here:
# the published burst logs in ../shared/truth do not separate it from prefill queueing.
API_INGEST_S = 1.0e-3


def simulate(arrival_s: np.ndarray, prompt_tokens: np.ndarray, output_tokens: np.ndarray, engine: EngineLimits,
             step_cost: StepCost, max_concurrency: int | None = None, ingest_s: float = API_INGEST_S,
             client_jitter_s: np.ndarray | None = None, caps: LatencyCaps | None = None) -> SimResult | None:
    """Serve the requests (bench send times, prompt and output lengths) on one engine, step by step.

    ``max_concurrency`` gates sending as bench's semaphore does (a closed loop when
    every request is sent at 0); TTFT and E2E then start at the send, not at the
    scheduled arrival.  ``client_jitter_s`` delays each send past the moment the
    semaphore lets it go (by dispatch order).  With ``caps``, None as soon as the
    mean TPOT or TTFT is sure to exceed them.  Deterministic: same inputs, same result.
    """
    return _run(arrival_s, prompt_tokens, output_tokens, engine, step_cost, max_concurrency, ingest_s, client_jitter_s,
                caps, None).run()


def _run(arrival_s: np.ndarray, prompt_tokens: np.ndarray, output_tokens: np.ndarray, engine: EngineLimits,
         step_cost: StepCost, max_concurrency: int | None, ingest_s: float, client_jitter_s: np.ndarray | None,
         caps: LatencyCaps | None, work_budget: int | None) -> Run:
    """A run of the requests on one engine, checked and ready to step."""
    arrival = np.asarray(arrival_s, dtype=np.float64)
    prompt = np.asarray(prompt_tokens, dtype=np.int64)
    out = np.asarray(output_tokens, dtype=np.int64)
    blocks = Blocks(engine.layout)
    _validate(arrival, prompt, out, engine, blocks, max_concurrency, ingest_s)
    jitter = np.zeros(len(arrival)) if client_jitter_s is None else np.asarray(client_jitter_s, dtype=np.float64)
    return Run(arrival, prompt, out, engine, blocks, step_cost, max_concurrency, ingest_s, jitter, caps, work_budget)


def simulate_traffic(traffic: Traffic, engine: EngineLimits, step_cost: StepCost, ingest_s: float = API_INGEST_S,
                     engines: int = 1, caps: LatencyCaps | None = None, work_budget: int | None = None) -> SimResult | None:
    """Draw a ``vllm bench serve`` run (its seed decides the draws) and serve it on ``engines`` alike engines.

    With data parallelism vLLM's API server sends each request to the engine with
    the fewest waiting and running requests; for requests that look alike that is
    round robin, so one engine receives every ``engines``-th request and its
    share of a closed loop's clients.  The engines are alike: one is simulated and
    the run's totals are ``engines``-fold (:meth:`SimResult.across`).

    With ``work_budget`` (see :data:`~wizard.physics.scheduler.STEP_WORK`), a run
    is cut once its work passes it and measured on the requests it completed by
    then: the result's ``completed`` says how many.
    """
    return simulate_counted(traffic, engine, step_cost, ingest_s, engines, caps, work_budget)[0]


def simulate_counted(traffic: Traffic, engine: EngineLimits, step_cost: StepCost, ingest_s: float = API_INGEST_S,
                     engines: int = 1, caps: LatencyCaps | None = None,
                     work_budget: int | None = None) -> tuple[SimResult | None, int]:
    """:func:`simulate_traffic`, and the work the run took (completed, cut or given up at its caps): what a sweep
    budgets its verifying runs by."""
    run = _engine_share(traffic, engine, step_cost, ingest_s, engines, caps, work_budget)
    result = run.run()
    return (None if result is None else result.across(engines)), run.work()


def finish_times(traffic: Traffic, engine: EngineLimits, step_cost: StepCost, count: int,
                 ingest_s: float = API_INGEST_S, engines: int = 1, work_budget: int | None = None) -> np.ndarray:
    """The first ``count`` completion times (seconds, sorted) of one engine's share of the run (as
    :func:`simulate_traffic` splits it), the simulation stopped there: a saturated run's rate needs only the
    middle of its completions, not its drain.  Fewer when the run's work passes ``work_budget`` first."""
    return _engine_share(traffic, engine, step_cost, ingest_s, engines, None, work_budget).finish_times(count)


def _engine_share(traffic: Traffic, engine: EngineLimits, step_cost: StepCost, ingest_s: float, engines: int,
                  caps: LatencyCaps | None, work_budget: int | None) -> Run:
    """The run drawn from its seed, one of ``engines`` engines' share of it (every ``engines``-th request)."""
    arrival, prompt, output = draw(traffic)
    if engines > 1:
        arrival, prompt, output = arrival[::engines], prompt[::engines], output[::engines]
        clients = traffic.max_concurrency
        lens = {} if traffic.distribution != "explicit" else {"input_lens": tuple(prompt.tolist()),
                                                              "output_lens": tuple(output.tolist())}
        traffic = replace(traffic, num_prompts=len(arrival),
                          max_concurrency=None if clients is None else -(-clients // engines), **lens)
    return _run(arrival, prompt, output, engine, step_cost, traffic.max_concurrency, ingest_s,
                steady_phases(traffic, prompt, output, engine, step_cost), caps, work_budget)


def phased(max_concurrency: int | None, request_rate: float) -> bool:
    """Whether a run is a closed loop whose clients :func:`steady_phases` spreads over random phases."""
    return max_concurrency is not None and max_concurrency >= 2 and math.isinf(request_rate)


def steady_phases(traffic: Traffic, prompt: np.ndarray, output: np.ndarray, engine: EngineLimits,
                  step_cost: StepCost) -> np.ndarray | None:
    """Send delays (one per dispatch, in dispatch order) that spread a closed loop's clients over random phases.

    Bench sends the first ``max_concurrency`` requests at once, and that first
    wave's queue is simulated as sent.  Measured closed loops then drift apart
    into steady state, where a prompt arrives among running decodes; simulated
    equal-length requests would instead finish and resubmit together forever.  So
    each client's second request (the dispatches after the first wave's) waits a
    uniform share of one request's estimated lifetime (its prefill plus its decode
    at the full batch) before it is sent.  On AIConfigurator's 519 closed loops the
    simulated mean TTFT is then a median 0.79 of the measured one (360 within 50%);
    without the first wave (clients started at random phases) 0.51 (232), and all in
    lockstep 1.90 (171).  A ``warm`` loop is one already in steady state: its clients'
    first sends wait the random shares instead.  TTFT and E2E start at the send.
    """
    if not phased(traffic.max_concurrency, traffic.request_rate):
        return None
    clients = traffic.max_concurrency
    assert clients is not None
    p, o = float(prompt.mean()), float(output.mean())
    chunk = min(p, engine.max_num_batched_tokens)
    life = (math.ceil(p / chunk) * step_cost(0, 0, int(chunk), int(chunk * chunk / 2))
            + o * step_cost(clients, int(clients * (p + o / 2)), 0, 0))
    delays = np.zeros(len(prompt))
    first = 0 if traffic.warm else clients  # the dispatches that wait: the first wave's, or the second requests'
    count = max(min(clients, len(prompt) - first), 0)
    # Sorted: the later a client is let go, the later it sends, so sends mostly stay in dispatch order.
    delays[first:first + count] = np.sort(default_rng(traffic.seed + 1).uniform(0.0, life, count))
    return delays


def _validate(arrival: np.ndarray, prompt: np.ndarray, out: np.ndarray, engine: EngineLimits, blocks: Blocks,
              max_concurrency: int | None, ingest_s: float) -> None:
    """Clear messages for inputs the simulation cannot serve."""
    if not (len(arrival) == len(prompt) == len(out)) or not len(arrival):
        raise WizardError("the simulation needs one arrival time, prompt length and output length per request")
    if not np.all(np.isfinite(arrival)) or arrival.min() < 0 or np.any(np.diff(arrival) < 0):
        raise WizardError("arrival times must be finite, non-negative and in sending order")
    if prompt.min() < 1 or out.min() < 1:
        raise WizardError("every request needs at least one prompt token and one output token")
    if engine.max_num_seqs < 1 or engine.max_num_batched_tokens < 1 or engine.usable_blocks < 1:
        raise WizardError("max_num_seqs, max_num_batched_tokens and the KV pool must be positive")
    if max_concurrency is not None and max_concurrency < 1:
        raise WizardError(f"max_concurrency must be at least 1 (got {max_concurrency})")
    if ingest_s < 0:
        raise WizardError(f"the API-server ingestion time cannot be negative (got {ingest_s})")
    longest = int((prompt + out - 1).max())  # the last sampled token never needs a KV slot
    if blocks.gate(longest) > engine.usable_blocks:
        raise WizardError(f"a request of {longest:,} tokens needs {blocks.gate(longest):,} KV blocks but the pool has "
                          f"{engine.usable_blocks:,}: vLLM could never admit it")
    if not engine.chunked_prefill and longest > engine.max_num_batched_tokens:
        raise WizardError(f"without chunked prefill a sequence of {longest:,} tokens must fit max_num_batched_tokens "
                          f"({engine.max_num_batched_tokens:,})")
