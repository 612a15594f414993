"""vLLM V1's scheduler stepped over time: the engine loop behind :func:`wizard.physics.simulate.simulate`.

The running set is a small numpy table (one column per request in admission
order); each step serves RUNNING requests first, then admits WAITING ones, and
pure-decode stretches are advanced without re-scheduling each step.  See
``physics/simulate.py`` for the semantics and what is left out.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wizard.errors import WizardError
from wizard.physics.kv import KvLayout
from wizard.physics.run_stats import SimResult, Timeline, WeightedSamples
from wizard.physics.scheduler_passes import Blocks, admit, schedule_running

# (decode sequences, Σ their context tokens, prefill tokens, Σ over prefill tokens of the
# context each attends to) -> seconds for the step.
StepCost = Callable[[int, int, int, int], float]
TIMELINE_POINTS = 300
# Rows of the running-set state (one column per running request, in admission order).
_ID, _COMP, _REM, _PROD, _OUT, _HELD = range(6)


@dataclass(frozen=True)
class EngineLimits:
    """The scheduler settings and KV pool one simulated vLLM engine runs with."""

    max_num_seqs: int
    max_num_batched_tokens: int
    num_gpu_blocks: int  # as vLLM logs it; block 0 is the null block, so one fewer is usable
    layout: KvLayout
    async_scheduling: bool = True
    chunked_prefill: bool = True

    @property
    def usable_blocks(self) -> int:
        return self.num_gpu_blocks - 1


class Run:
    """One simulation: the client, the API server's queue and the engine's scheduler state.

    The running set is ``state`` (rows _ID.._HELD, one column per request in
    admission order) with ``r_last`` (its last token time) and ``r_fin`` (when it
    finished; inf while it runs).  _REM is what a request must compute before its
    next sample: the rest of its prompt (or recompute), 1 in decode, 0 once done.
    """

    def __init__(self, arrival: np.ndarray, prompt: np.ndarray, out: np.ndarray, engine: EngineLimits, blocks: Blocks,
                 step_cost: StepCost, max_concurrency: int | None, ingest_s: float, jitter_s: np.ndarray) -> None:
        self.arrival, self.prompt, self.out, self.engine, self.blocks = arrival, prompt, out, engine, blocks
        self.step_cost, self.ingest_s, self.jitter_s = step_cost, ingest_s, jitter_s
        self.n = n = len(arrival)
        # Client side: bench's send times, its concurrency gate, then the API server's FIFO ingestion.
        self.send = np.full(n, math.inf)
        self.at_engine = np.full(n, math.inf)
        self.ingest_done = 0.0
        self.next_send = 0
        for _ in range(n if max_concurrency is None else min(max_concurrency, n)):
            self._dispatch(0.0)
        self.first_t = np.full(n, math.nan)
        self.last_t = np.full(n, math.nan)
        self.w_target = prompt.copy()  # tokens to compute before the next sample, for requests in WAITING
        self.w_prod = np.zeros(n, dtype=np.int64)
        self.w_last = np.zeros(n)  # last token time of a preempted request: its long gap starts there
        self.state = np.empty((6, 0), dtype=np.int64)
        self.r_last = np.empty(0)
        self.r_fin = np.empty(0)
        self.first_fin = math.inf
        self.waiting: deque[int] = deque()
        self.free = engine.usable_blocks
        self.preemptions = self.steps = self.finished = self.next_arrival = 0
        self.itl_values: list[float] = []
        self.itl_counts: list[int] = []
        self.itl_odd: list[np.ndarray] = []
        self.line: list[tuple[float, int, int, float, int]] = []
        self.prev_start = self.prev_end = self.sched_t = 0.0

    def run(self) -> SimResult:
        while self.finished < self.n:
            self._arrive_and_release()
            if not self.state.shape[1] and not self.waiting:
                self.sched_t = self._next_time()
                continue
            plan = self._schedule()
            if plan is None:
                self.sched_t = self._next_time()
                continue
            if self._execute(*plan):
                self._stretch()
        return self._result()

    def _dispatch(self, now: float) -> None:
        """Bench sends its next request (its semaphore let it go at ``now``); the API server queues it."""
        i = self.next_send
        self.send[i] = sent = max(now + float(self.jitter_s[i]), float(self.arrival[i]))
        self.ingest_done = max(sent, self.ingest_done) + self.ingest_s
        self.at_engine[i] = self.ingest_done
        self.next_send += 1

    def _next_time(self) -> float:
        """When scheduling can change: the step in flight ends, or the next request reaches the engine."""
        if self.prev_end > self.sched_t:
            return self.prev_end
        if self.next_arrival < self.n and self.at_engine[self.next_arrival] < math.inf:
            return float(self.at_engine[self.next_arrival])
        raise WizardError("the simulation stalled: nothing runs, nothing can be admitted and nothing else arrives")

    def _arrive_and_release(self) -> None:
        """Requests that reached the engine join WAITING; finished ones give back their seat and blocks."""
        at_engine, now = self.at_engine, self.sched_t
        while self.next_arrival < self.n and at_engine[self.next_arrival] <= now:
            self.waiting.append(self.next_arrival)
            self.next_arrival += 1
        if self.first_fin <= now:
            keep = self.r_fin > now
            self.free += int(self.state[_HELD, ~keep].sum())
            self.state, self.r_last, self.r_fin = self.state[:, keep], self.r_last[keep], self.r_fin[keep]
            self.first_fin = float(self.r_fin.min()) if self.r_fin.size else math.inf

    def _schedule(self) -> tuple[np.ndarray, np.ndarray, int, bool] | None:
        """One scheduling pass: tokens and new blocks per running request (admitted ones appended).

        Returns (tokens, blocks, total tokens, whether anything was admitted),
        or None when nothing can run.
        """
        engine, blocks, state = self.engine, self.blocks, self.state
        running = state.shape[1]
        budget, free = engine.max_num_batched_tokens, self.free
        seats = engine.max_num_seqs - running
        admitted: list[tuple[int, int, int]] = []
        victims: list[int] = []
        if not engine.chunked_prefill and self.waiting:  # V0: a prefill-only step whenever a prompt fits whole
            admitted, free, budget = admit(self.waiting, self.w_target, blocks, seats, budget, free, False)
        if running and not admitted:
            rem, comp, held = state[_REM], state[_COMP], state[_HELD]
            upto = rem.cumsum()
            wanted = int(upto[-1])
            sched = rem.copy() if wanted <= budget else np.minimum(rem, np.maximum(budget - (upto - rem), 0))
            need = blocks.held(comp + sched, comp) - held
            if blocks.sliding:
                need[sched == 0] = 0
                short = bool((need.cumsum() > free).any())
                taken = 0 if short else int(need.sum())
            else:
                taken = int(need.sum())
                short = taken > free
            if short:
                sched, need, victims, free, budget = schedule_running(rem, comp, held, blocks, budget, free)
            else:
                free -= taken
                budget -= wanted if wanted <= budget else int(sched.sum())
        else:
            sched = need = np.zeros(running, dtype=np.int64)
        if engine.chunked_prefill and not victims and self.waiting:
            admitted, free, budget = admit(self.waiting, self.w_target, blocks, seats, budget, free, True)
        self.free = free
        if victims:
            self._preempt(victims)
            gone = np.zeros(running, dtype=bool)
            gone[victims] = True
            sched, need = sched[~gone], need[~gone]
        if admitted:
            ids = [rid for rid, _, _ in admitted]
            new = np.zeros((6, len(ids)), dtype=np.int64)  # rows _ID.._HELD; nothing computed or held yet
            new[_ID], new[_REM], new[_PROD], new[_OUT] = ids, self.w_target[ids], self.w_prod[ids], self.out[ids]
            self.state = np.concatenate([self.state, new], axis=1)
            self.r_last = np.concatenate([self.r_last, self.w_last[ids]])
            self.r_fin = np.concatenate([self.r_fin, np.full(len(ids), math.inf)])
            sched = np.concatenate([sched, [chunk for _, chunk, _ in admitted]])
            need = np.concatenate([need, [taken for _, _, taken in admitted]])
        total = engine.max_num_batched_tokens - budget
        return (sched, need, total, bool(admitted)) if total else None

    def _preempt(self, victims: list[int]) -> None:
        """Victims (newest first) leave RUNNING for the head of WAITING, to be recomputed whole."""
        state = self.state
        self.preemptions += len(victims)
        for v in victims:  # each goes to the head, so the oldest ends up first
            rid = int(state[_ID, v])
            self.w_prod[rid] = state[_PROD, v]
            self.w_target[rid] = state[_PROD, v] + self.prompt[rid]
            self.w_last[rid] = self.r_last[v]
            self.waiting.appendleft(rid)
        keep = np.ones(state.shape[1], dtype=bool)
        keep[victims] = False
        self.state, self.r_last, self.r_fin = state[:, keep], self.r_last[keep], self.r_fin[keep]

    def _execute(self, sched: np.ndarray, need: np.ndarray, total: int, admitted: bool) -> bool:
        """Run the step: its cost, its tokens, who finishes.

        True if every running request now decodes and emitted in this step (so
        the next steps may be plain decodes of everyone)."""
        state, r_last = self.state, self.r_last
        comp, rem, prod = state[_COMP], state[_REM], state[_PROD]
        emit = (sched == rem) & (sched > 0)
        started = prod > 0
        decode = emit & (sched == 1) & started
        n_decode = int(np.count_nonzero(decode))
        decode_ctx = int(np.dot(comp, decode)) + n_decode
        prefill_ctx = 0
        if n_decode < total:
            prefill_ctx = int(np.dot(sched, comp)) + int(np.dot(sched, sched + 1)) // 2 - decode_ctx
        start = max(self.sched_t, self.prev_end)
        end = start + self.step_cost(n_decode, decode_ctx, total - n_decode, prefill_ctx)
        self.steps += 1
        gaps_from = r_last[decode if n_decode == total else emit & started]
        regular = gaps_from == self.prev_end
        n_regular = int(np.count_nonzero(regular))
        if n_regular:
            self.itl_values.append(end - self.prev_end)
            self.itl_counts.append(n_regular)
        if n_regular < len(gaps_from):
            self.itl_odd.append(end - gaps_from[~regular])
        if n_decode < total:
            self.first_t[state[_ID, emit & ~started]] = end
        r_last[emit] = end
        comp += sched
        state[_HELD] += need
        rem -= sched
        rem += emit
        prod += emit
        done = emit & (prod == state[_OUT])
        finished = int(np.count_nonzero(done))
        if finished:
            rem[done] = 0
            self.r_fin[done] = end
            self.first_fin = min(self.first_fin, end)
            self.last_t[state[_ID, done]] = end
            self.finished += finished
            for _ in range(min(finished, self.n - self.next_send)):  # bench's semaphore lets the next ones go
                self._dispatch(end)
        self.prev_start, self.prev_end = start, end
        self.sched_t = start if self.engine.async_scheduling else end
        self.line.append((end, state.shape[1], len(self.waiting), 1 - self.free / self.engine.usable_blocks,
                          self.preemptions))
        if finished or self.first_fin < math.inf:
            return False
        if not admitted and n_decode == state.shape[1]:
            return True
        if self.blocks.sliding:  # a prefill's last chunk can leave blocks that its first decode frees
            return False
        return bool((rem == 1).all() and (r_last == end).all() and (prod > 0).all())

    def _stretch(self) -> None:
        """Advance the plain decode steps that follow without re-scheduling each one.

        Every running request decodes and emitted in the step that just ended and
        nobody finished.  Each next step is then the same decode of everyone (one
        more token of context each) until one of them samples its last token, sees
        an arrival, would find a decode short of a block (a preemption), or would
        let the head of WAITING in.  Blocks follow each context's phase: a decode
        from c tokens takes a block per group when c is a multiple of the block
        size, and each sliding group frees one when c - window + 1 is (past 0).
        """
        state = self.state
        most = int((state[_OUT] - state[_PROD]).min()) - 1
        if most < 1:
            return
        done, left, prev_start, prev_end = self._plain_decodes(most)
        if done:
            self._advance(done, left, prev_start, prev_end)

    def _head_gate(self) -> float:
        """Free blocks that would let the head of WAITING in; inf when nothing waits or it has no seat or budget."""
        engine, running = self.engine, self.state.shape[1]
        if not self.waiting:
            return math.inf
        tokens = int(self.w_target[self.waiting[0]])
        v0 = not engine.chunked_prefill
        no_room = engine.max_num_seqs <= running or (
            tokens > engine.max_num_batched_tokens if v0 else engine.max_num_batched_tokens <= running)
        return math.inf if no_room else self.blocks.gate(tokens)

    def _sliding_frees(self) -> list[list[int]]:
        """When sliding groups free blocks, by phase (decode step mod block size); [] without sliding groups.

        Request i frees at step j when j > t_i and j = t_i (mod size), t_i = window - 1 - c_i;
        each phase lists its t_i in order."""
        blocks, comp = self.blocks, self.state[_COMP]
        if not blocks.sliding:
            return []
        thresholds = np.sort(blocks.window - 1 - comp)
        residues = thresholds % blocks.size
        return [thresholds[residues == r].tolist() for r in range(blocks.size)]

    def _plain_decodes(self, most: int) -> tuple[int, int, float, float]:
        """Time up to ``most`` plain decodes of everyone, recording their inter-token gaps.

        Returns (steps taken, free blocks after them, the last step's start and end)."""
        engine, blocks, comp = self.engine, self.blocks, self.state[_COMP]
        running = self.state.shape[1]
        v0 = not engine.chunked_prefill
        head_gate = self._head_gate()
        size = blocks.size
        phases = np.bincount(comp % size, minlength=size).tolist()
        per_block = blocks.full + blocks.sliding
        frees = self._sliding_frees()
        context = int(comp.sum()) + running
        horizon = float(self.at_engine[self.next_arrival]) if self.next_arrival < self.n else math.inf
        is_async, cost = engine.async_scheduling, self.step_cost
        prev_start, prev_end = self.prev_start, self.prev_end
        left, done = self.free, 0
        while done < most and (prev_start if is_async else prev_end) < horizon:
            if v0 and head_gate <= left:  # V0 would give the head a prefill-only step
                break
            take = per_block * phases[-done % size]
            if take > left:
                break
            after = left - take
            if frees:
                after += blocks.sliding * bisect_left(frees[done % size], done)
            if not v0 and head_gate <= after:  # the head would be admitted behind the decodes
                break
            end = prev_end + cost(running, context, 0, 0)
            self.itl_values.append(end - prev_end)
            self.itl_counts.append(running)
            prev_start, prev_end = prev_end, end
            context += running
            left = after
            done += 1
        return done, left, prev_start, prev_end

    def _advance(self, done: int, left: int, prev_start: float, prev_end: float) -> None:
        """Apply ``done`` plain decodes of everyone: contexts, tokens, blocks held, clocks and a timeline point."""
        state = self.state
        comp = state[_COMP]
        comp += done
        state[_PROD] += done
        state[_HELD] = self.blocks.held(comp, comp - 1)
        self.free = left
        self.r_last[:] = prev_end
        self.steps += done
        self.prev_start, self.prev_end = prev_start, prev_end
        self.sched_t = prev_start if self.engine.async_scheduling else prev_end
        self.line.append((prev_end, state.shape[1], len(self.waiting), 1 - left / self.engine.usable_blocks,
                          self.preemptions))

    def _result(self) -> SimResult:
        out = self.out
        ttft = self.first_t - self.send
        e2e = self.last_t - self.send
        many = out > 1
        tpot = (e2e[many] - ttft[many]) / (out[many] - 1)
        values = np.concatenate([np.array(self.itl_values), *self.itl_odd])
        counts = np.concatenate([np.array(self.itl_counts, dtype=np.int64),
                                 *[np.ones(len(g), dtype=np.int64) for g in self.itl_odd]])
        duration = float(np.max(self.last_t))
        total_out = int(out.sum())
        return SimResult(
            send_s=self.send, ttft_s=ttft, tpot_s=tpot, e2e_s=e2e, output_tokens=out, itl_s=WeightedSamples.of(values, counts),
            duration_s=duration,
            completed=self.n, total_input_tokens=int(self.prompt.sum()), total_output_tokens=total_out,
            request_throughput_per_s=self.n / duration, output_throughput_per_s=total_out / duration,
            preemptions=self.preemptions, steps=self.steps, timeline=_timeline(self.line),
        )


def _timeline(line: list[tuple[float, int, int, float, int]]) -> Timeline:
    """At most TIMELINE_POINTS points, spread evenly over time (the last one kept)."""
    rows = np.array(line, dtype=np.float64).reshape(-1, 5)
    if len(rows) > TIMELINE_POINTS:
        marks = np.linspace(rows[0, 0], rows[-1, 0], TIMELINE_POINTS)
        pick = np.unique(np.minimum(np.searchsorted(rows[:, 0], marks), len(rows) - 1))
        rows = rows[pick]
    return Timeline(rows[:, 0], rows[:, 1].astype(np.int64), rows[:, 2].astype(np.int64), rows[:, 3],
                    rows[:, 4].astype(np.int64))
