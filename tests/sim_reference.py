"""A literal, one-step-at-a-time model of vLLM V1's scheduler, to check wizard.physics.simulate against.

Written from ../shared/truth/vllm_scheduler_and_bench.md with one Python object
per request and no shortcuts: no vectorisation, no fast-forwarding, every gap
kept.  Slow, and only for small cases in tests.
"""

from __future__ import annotations

import math
from bisect import insort
from dataclasses import dataclass, field

from wizard.physics.kv import cdiv
from wizard.physics.simulate import EngineLimits, StepCost


@dataclass
class Req:
    rid: int
    prompt: int
    out: int
    computed: int = 0
    target: int = 0  # tokens to compute before the next sample (prompt + tokens sampled)
    produced: int = 0
    held: int = 0
    last: float = math.nan
    first: float = math.nan
    finish: float = math.inf
    gaps: list[float] = field(default_factory=list)


@dataclass
class Outcome:
    send: list[float]
    first: list[float]
    last: list[float]
    gaps: list[float]
    preemptions: int
    steps: int


def _held(engine: EngineLimits, tokens: int, computed: int) -> int:
    size, total = engine.layout.block_size, 0
    for g in engine.layout.groups:
        total += cdiv(tokens, size)
        if g.kind == "sliding" and g.window:
            total -= max(computed - g.window + 1, 0) // size
    return total


def _gate(engine: EngineLimits, tokens: int) -> int:
    size, total = engine.layout.block_size, 0
    for g in engine.layout.groups:
        if g.kind == "sliding" and g.window:
            total += min(cdiv(tokens, size), cdiv(g.window - 1 + engine.layout.in_flight_tokens, size) + 1)
        else:
            total += cdiv(tokens, size)
    return total


def _admit(engine: EngineLimits, waiting: list[Req], running: list[Req], plan: dict[int, tuple[int, int]], free: int,
           budget: int) -> tuple[int, int]:
    """FCFS admission until seats, budget or blocks run out; the head blocks everyone behind it."""
    while waiting and len(running) < engine.max_num_seqs and budget > 0:
        head = waiting[0]
        if not engine.chunked_prefill and head.target > budget:
            break
        tokens = min(head.target, budget)
        blocks = _held(engine, tokens, 0)
        if _gate(engine, head.target) > free or blocks > free:
            break
        free -= blocks
        budget -= tokens
        waiting.pop(0)
        running.append(head)
        plan[head.rid] = (tokens, blocks)
    return free, budget


def run(arrival: list[float], prompt: list[int], out: list[int], engine: EngineLimits, cost: StepCost,
        max_concurrency: int | None = None, ingest_s: float = 0.0, send_delay_s: list[float] | None = None) -> Outcome:
    """``send_delay_s``: how long each request waits to be sent once bench's semaphore lets it go (in the order
    it lets them go).  Requests are numbered in the order they are sent, and the API server ingests them in
    that order."""
    n = len(arrival)
    reqs = [Req(i, prompt[i], out[i], target=prompt[i]) for i in range(n)]
    send = [math.inf] * n
    at_engine = [math.inf] * n
    ingest_done = 0.0
    next_send = let_go = 0  # requests sent, and let go by the semaphore
    delays = send_delay_s or [0.0] * n
    due: list[float] = []  # send times of the requests let go but not sent yet, earliest first

    def let_one_go(t: float) -> None:
        nonlocal let_go
        insort(due, t + delays[let_go])  # after any due at the same time
        let_go += 1

    def send_due(t: float) -> None:
        nonlocal ingest_done, next_send
        while due and due[0] <= t:
            i = next_send
            send[i] = max(due.pop(0), arrival[i])
            ingest_done = max(send[i], ingest_done) + ingest_s
            at_engine[i] = ingest_done
            next_send += 1

    for _ in range(n if max_concurrency is None else min(max_concurrency, n)):
        let_one_go(0.0)
    send_due(0.0)
    free = engine.num_gpu_blocks - 1
    running: list[Req] = []
    waiting: list[Req] = []
    next_arrival = finished = preemptions = steps = 0
    sched_t = prev_end = 0.0
    while finished < n:
        send_due(sched_t)
        while next_arrival < n and at_engine[next_arrival] <= sched_t:
            waiting.append(reqs[next_arrival])
            next_arrival += 1
        for r in [r for r in running if r.finish <= sched_t]:
            running.remove(r)
            free += r.held
        budget = engine.max_num_batched_tokens
        plan: dict[int, tuple[int, int]] = {}  # rid -> (tokens, new blocks)
        preempted = False

        if not engine.chunked_prefill and waiting:
            free, budget = _admit(engine, waiting, running, plan, free, budget)
        if not plan:
            i = 0
            while i < len(running) and budget > 0:
                r = running[i]
                if r.produced == r.out:  # its last token is in flight: skipped
                    i += 1
                    continue
                tokens = min(r.target - r.computed, budget)
                need = _held(engine, r.computed + tokens, r.computed) - r.held
                victim = None
                while need > free:
                    victim = next(v for v in reversed(running) if v.produced < v.out)
                    running.remove(victim)
                    free += victim.held
                    victim.held = victim.computed = 0
                    victim.target = victim.prompt + victim.produced
                    waiting.insert(0, victim)
                    preemptions += 1
                    preempted = True
                    if victim is r:
                        break
                if victim is r:
                    break
                plan[r.rid] = (tokens, need)
                free -= need
                budget -= tokens
                i += 1
            if engine.chunked_prefill and not preempted:
                free, budget = _admit(engine, waiting, running, plan, free, budget)
        assert free >= 0, "more KV blocks handed out than the pool has"
        if not plan:
            if prev_end > sched_t:
                sched_t = prev_end
            else:
                sched_t = at_engine[next_arrival] if next_arrival < next_send else due[0]
            continue
        decode = decode_ctx = prefill = prefill_ctx = 0
        for r in running:
            if r.rid not in plan:
                continue
            tokens = plan[r.rid][0]
            if r.target - r.computed == 1 and r.produced >= 1:
                decode += 1
                decode_ctx += r.computed + 1
            else:
                prefill += tokens
                prefill_ctx += sum(r.computed + j for j in range(1, tokens + 1))
        start = max(sched_t, prev_end)
        end = start + cost(decode, decode_ctx, prefill, prefill_ctx)
        steps += 1
        for r in running:
            if r.rid not in plan:
                continue
            tokens, blocks = plan[r.rid]
            r.computed += tokens
            r.held += blocks
            if r.computed == r.target:
                if r.produced == 0:
                    r.first = end
                else:
                    r.gaps.append(end - r.last)
                r.last = end
                r.produced += 1
                r.target += 1
                if r.produced == r.out:
                    r.finish = end
                    finished += 1
                    send_due(end)  # requests due by now are sent first
                    if let_go < n:
                        let_one_go(end)
                        send_due(end)
        prev_end = end
        sched_t = start if engine.async_scheduling else end
    return Outcome(send, [r.first for r in reqs], [r.last for r in reqs], [g for r in reqs for g in r.gaps],
                   preemptions, steps)
