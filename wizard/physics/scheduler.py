"""vLLM V1's scheduler stepped over time: the engine loop behind :func:`wizard.physics.simulate.simulate`.

The running set is a small numpy table (one column per request in admission
order); each step serves RUNNING requests first, then admits WAITING ones.  The
steps where everyone running decodes, finishes or completes a fresh prefill are
folded: advanced in plain Python without re-scheduling each one (``Run._fold``).
A long closed loop of alike requests comes back to the same state round after
round: once a round repeats the one before, the rounds that follow are copied
(``Run._probe``).  See ``physics/simulate.py`` for the semantics and what is
left out.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from heapq import heappop, heappush
from itertools import chain
from typing import NamedTuple

import numpy as np

from wizard.errors import WizardError
from wizard.physics.kv import KvLayout
from wizard.physics.run_stats import SimResult, Timeline, WeightedSamples
from wizard.physics.scheduler_passes import Blocks, admit, schedule_running

# (decode sequences, Σ their context tokens, prefill tokens, Σ over prefill tokens of the
# context each attends to) -> seconds for the step; a pure function (a run remembers its answers).
# For decode-only steps (prefill 0) the context sums may come as a numpy array, answered elementwise (or with
# one number, by a cost that does not read them).
StepCost = Callable[[int, int, int, int], float]
TIMELINE_POINTS = 300
STEP_COSTS_KEPT = 1 << 14  # a run's recent step costs, a few MB: a closed loop repeats within a request's life
# A fold's run of decodes of everyone at least this long is costed at once, in numpy (its calls cost about as much as
# 20 steps in plain Python); shorter ones step by step.  Over the Llama-3.1-8B, Llama-3.1-405B and Qwen3-235B sweeps
# of benchmarks/sweep_speed.py (instructions counted by valgrind's callgrind) 24 steps cut the simulation's work by
# 9-13%, 12 or 32 by less.
VECTOR_RUN_STEPS = 24
CAP_CHECKS = 16  # a capped run checks its means this many times over its requests' completions
CAP_ROUNDING = 1 + 1e-9  # a bound summed in another order than the result's mean: only clearly past a cap counts
# A run's work, in units of about a microsecond of this planner on a 2-core VM: a step 1, and 2 more where its
# cost is computed one by one (not a repeat of a recent step's, nor in a run of decodes costed at once), 230 more
# for a step the step loop schedules in full (a preemption, a decode cut by the budget) with the fold restarted
# behind it, a request served 30.  Fitted to 14 runs of 200-100,000 requests (closed loops, rates, bursts; 600 to
# 48 million steps).  benchmarks/sim_work.py prints 13 of them: 0.12-0.96 us a unit (0.14-0.83 before runs of
# decodes were costed at once), up to 1.3 in a slow spell; the cheapest per unit are runs the fold advances in a
# few long stretches, so the budget errs towards cutting early.
STEP_WORK, COSTED_STEP_WORK, SCHEDULED_STEP_WORK, REQUEST_WORK = 1, 2, 230, 30
# A closed loop is probed for repeating rounds (Run._probe) only when it sends at least this many rounds of requests
# (one per client): the first rounds never repeat (the first wave, the clients' delayed second requests, the round
# compared) nor does the last (the drain), and each probe breaks a fold.  The 200-prompt loops of 32 clients (6
# rounds) a sweep simulates copy 2 rounds each: callgrind counts 1.1-1.9% fewer instructions for the gpt-oss-120b,
# Llama-3.1-405B and Qwen3-235B sweeps of benchmarks/sweep_speed.py than with 8 (not probed).  A plan of 20,000
# prompts at 32 clients (Llama-3.1-8B, 512 in, 128 out, on an H100) took 0.07 s instead of 0.67 s.
PROBED_ROUNDS = 6
# A round's relative times are compared to this many decimals (seconds): two rounds' times are sums of the same step
# costs from different starts, so their last bits differ.
ROUND_DECIMALS = 9
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


@dataclass(frozen=True)
class LatencyCaps:
    """Mean TPOT and TTFT (seconds) a caller needs the run to stay within: past either it is of no interest.

    The run stops (:meth:`Run.run` returns None) once the means are sure to
    exceed one, whatever the rest does: each token still to come takes at least
    one step with a single decode (after the time the tokens already sampled
    took), and each request still to sample its first token has a TTFT of at
    least the time it has already waited.  That bound holds for a step cost that
    grows with its batch (the roofline's does).
    """

    tpot_s: float = math.inf
    ttft_s: float = math.inf


# A request whose prefill completed in a fold: its column, virtual context and tokens produced (what they would be
# had it decoded from the fold's start), the step of its last token, and the blocks its prefill left it.  A plain
# tuple: a fold makes one per admitted request.
Joined = tuple[int, int, int, int, int]


class RoundMark(NamedTuple):
    """Where a closed loop stood at one of its probes (see :meth:`Run._probe`): the signature of its state, relative
    to the time and to the next request to send, and the counters and outputs a copy of the round since then extends."""

    signature: tuple
    steps: int
    scheduled: int
    preemptions: int
    finished: int
    next_send: int
    lowest: int  # the lowest request not finished
    end_s: float
    itl: int
    odd: int
    line: int


@dataclass
class Prefill:
    """A fresh prompt part-way through its prefill in a fold: its column, request, context so far,
    tokens still to compute and blocks held."""

    col: int
    rid: int
    comp: int
    rem: int
    held: int


class Run:
    """One simulation: the client, the API server's queue and the engine's scheduler state.

    The running set is ``state`` (rows _ID.._HELD, one column per request in
    admission order) with ``r_last`` (its last token time) and ``r_fin`` (when it
    finished; inf while it runs).  _REM is what a request must compute before its
    next sample: the rest of its prompt (or recompute), 1 in decode, 0 once done.
    """

    def __init__(self, arrival: np.ndarray, prompt: np.ndarray, out: np.ndarray, engine: EngineLimits, blocks: Blocks,
                 step_cost: StepCost, max_concurrency: int | None, ingest_s: float, jitter_s: np.ndarray,
                 caps: LatencyCaps | None = None, work_budget: int | None = None) -> None:
        self.prompt, self.out, self.engine, self.blocks = prompt, out, engine, blocks
        # A closed loop of alike requests comes back to the same batches: about half of its steps repeat one.
        self.step_cost = lru_cache(maxsize=STEP_COSTS_KEPT)(step_cost)
        self.run_cost = step_cost  # uncached: a run of decodes (see _fold), costed at once
        self.ingest_s = ingest_s
        # Read one at a time, per request: plain lists (a numpy element is several times slower to get or set).
        self.arrival_s, self.jitter_s, self.out_tokens = arrival.tolist(), jitter_s.tolist(), out.tolist()
        self.n = n = len(arrival)
        # Client side: bench's send times, its concurrency gate, then the API server's FIFO ingestion.
        self.send = [math.inf] * n
        self.at_engine = [math.inf] * n
        self.ingest_done = 0.0
        self.next_send = 0
        for _ in range(n if max_concurrency is None else min(max_concurrency, n)):
            self._dispatch(0.0)
        self.first_t = np.full(n, math.nan)
        self.last_t = np.full(n, math.nan)
        self.w_target = prompt.tolist()  # tokens to compute before the next sample, for requests in WAITING
        self.w_prod = [0] * n
        self.w_last = np.zeros(n)  # last token time of a preempted request: its long gap starts there
        self.state = np.empty((6, 0), dtype=np.int64)
        self.r_last = np.empty(0)
        self.r_fin = np.empty(0)
        self.first_fin = math.inf
        self.waiting: deque[int] = deque()
        self.free = engine.usable_blocks
        self.preemptions = self.steps = self.scheduled = self.finished = self.next_arrival = 0
        self.itl_values: list[float] = []
        self.itl_counts: list[int] = []
        self.itl_odd: list[np.ndarray] = []
        self.line: list[tuple[float, int, int, float, int]] = []
        self.prev_start = self.prev_end = self.sched_t = 0.0
        self.caps, self.work_budget = caps, work_budget
        self.stop_at = n + 1  # a completion count the run stops at (finish_times), as a checkpoint
        self.next_check = -(-n // CAP_CHECKS) if caps else n + 1
        # A closed loop of alike requests (every prompt and every output as long, all sent at once) is probed after
        # every round of max_concurrency completions (see _probe), from the completion count the last delayed send
        # has reached: every probe's state then has every delayed request sent, and the rounds it compares none.
        clients = max_concurrency or 0
        alike = 0 < PROBED_ROUNDS * clients <= n and not arrival.any() and bool(
            (prompt == prompt[0]).all() and (out == out[0]).all())
        self.round = clients if alike else 0
        quiet_from = int(np.flatnonzero(jitter_s)[-1]) + 1 if jitter_s.any() else 0
        self.next_probe = max(self.round, quiet_from) if alike else n + 1
        self.mark: RoundMark | None = None
        self.replayed_work = 0  # the work of the rounds copied, not stepped (see work())

    def run(self) -> SimResult | None:
        """The whole run measured, or None as soon as it is sure to exceed its caps.  A run whose work passes its
        budget is cut there and measured on the requests it completed."""
        return self._result() if self._advance(self.n) else None

    def finish_times(self, count: int) -> np.ndarray:
        """The first ``count`` completion times (sorted), the run stopped there (or where its work passed its
        budget, with fewer): every later completion ends a later step, so the rest of the run cannot change them."""
        self._advance(count)
        return np.sort(self.last_t[~np.isnan(self.last_t)])[:count]

    def _advance(self, count: int) -> bool:
        """Step until ``count`` requests have completed, or the work passes its budget; False as soon as the run is
        sure to exceed its caps."""
        self.stop_at = count if count < self.n else self.n + 1  # a checkpoint: the fold stops there too
        self.next_check = min(self.next_check, self.stop_at)
        while self.finished < count:
            if self.finished >= self.next_probe and self._probe():
                continue
            if self.finished >= self.next_check:
                if self._beyond_caps():
                    return False
                self._checked()
            if self.finished and self._over_budget(0):  # cut: measured on the requests completed
                break
            self._arrive_and_release()
            if not self.state.shape[1] and not self.waiting:
                self.sched_t = self._next_time()
                continue
            plan = self._schedule()
            if plan is None:
                self.sched_t = self._next_time()
                continue
            foldable, steady = self._execute(*plan)
            if foldable:
                self._fold(steady)
        return True

    def _probe(self) -> bool:
        """A probe of a closed loop of alike requests, after a round of completions (one per client): when the state
        equals the last probe's, shifted by the round's time and by the requests it sent, the run repeats that round
        for as long as requests remain to send (and before the count the run stops at), so the rounds up to there
        are copied instead of stepped (:meth:`_replay`).  True when it copied some."""
        self.next_probe = self._probe_after()
        mark, last = self._mark(), self.mark
        self.mark = mark
        if last is None or mark.signature != last.signature:
            return False
        sent = mark.next_send - last.next_send
        if not sent or sent != mark.finished - last.finished or sent != mark.lowest - last.lowest:
            return False
        rounds = min((self.n - mark.next_send) // sent, (self.stop_at - 1 - mark.finished) // sent)
        if rounds < 1:
            return False
        self._replay(last, mark, rounds)
        return True

    def _probe_after(self) -> int:
        """The completion count of the next probe: a round on, while a copy could still follow it (a round of
        requests left to send after it)."""
        return self.finished + self.round if self.next_send + 2 * self.round <= self.n else self.n + 1

    def _mark(self) -> RoundMark:
        """The run's state now as far as it decides what follows, relative to the end of the last step and to the
        next request to send (times to ROUND_DECIMALS), and its counters.  Records (sends, first and last tokens)
        decide nothing: they are left out."""
        now, base, state = self.prev_end, self.next_send, self.state
        waiting = np.array(self.waiting, dtype=np.int64)
        transit = slice(self.next_arrival, self.next_send)
        lowest = min(int(state[_ID, self.r_fin == math.inf].min(initial=base)), int(waiting.min(initial=base)),
                     self.next_arrival)

        def rel(times: np.ndarray | list[float]) -> bytes:
            return (np.round(np.asarray(times, dtype=np.float64) - now, ROUND_DECIMALS) + 0.0).tobytes()

        # (A request yet to sample holds a last token time of 0, or its preemption's: only a sampled one's counts.)
        relative = (state[_COMP:].tobytes(), (state[_ID] - base).tobytes(), (waiting - base).tobytes(),
                    rel(self.r_last[state[_PROD] > 0]), rel(self.r_fin), rel(self.send[transit]),
                    rel(self.at_engine[transit]), rel(self.w_last[waiting]), tuple(self.w_target[i] for i in waiting),
                    tuple(self.w_prod[i] for i in waiting),
                    rel([self.ingest_done, self.prev_start, self.sched_t, self.first_fin]), self.free,
                    lowest - base, self.next_arrival - base)
        return RoundMark(relative, self.steps, self.scheduled, self.preemptions, self.finished, base, lowest,
                         self.prev_end, len(self.itl_values), len(self.itl_odd), len(self.line))

    def _replay(self, last: RoundMark, mark: RoundMark, rounds: int) -> None:
        """Copy the round from ``last`` to ``mark`` ``rounds`` times: each copy sends ``sent`` requests more and ends
        ``period_s`` later, and the requests present now are moved on to where the last copy leaves them.

        A record a request has not yet (a send, a first or last token) comes ``k`` rounds from now, where ``k`` is
        the first for which the request ``k * sent`` before it has it now: that one got it in the round copied (the
        state a round before was the same), so it comes ``k * period_s`` later."""
        sent, period_s = mark.next_send - last.next_send, mark.end_s - last.end_s
        shift, shift_s = rounds * sent, rounds * period_s
        present = slice(mark.lowest, mark.next_send)
        later = slice(mark.lowest + shift, mark.next_send + shift)
        for name, unknown in (("send", math.inf), ("at_engine", math.inf), ("first_t", math.nan), ("last_t", math.nan)):
            field = getattr(self, name)
            # One row a round of requests, the round copied's (all finished) first; a column's unknown times follow
            # its last known one, a round later each: its known one plus whole rounds, as every time the state holds
            # is moved on (shift_s), so two times equal in the round copied stay equal, to the last bit.
            times = np.array(field[last.lowest:later.stop], dtype=np.float64)
            known_now = np.isfinite(times[sent:sent + present.stop - present.start])
            rows = -(-len(times) // sent)
            grid = np.full(rows * sent, math.nan)
            grid[:len(times)] = times
            grid = grid.reshape(rows, sent)
            row = np.arange(rows)[:, None]
            source = np.maximum.accumulate(np.where(np.isfinite(grid), row, 0), axis=0)
            block = (grid[source, np.arange(sent)] + (row - source) * period_s).ravel()[:len(times)]
            block[sent + shift:][~known_now] = unknown  # what the requests present then hold, they hold now
            field[present.start:later.stop] = block[sent:] if isinstance(field, np.ndarray) else block[sent:].tolist()
        # A preempted request's last token time moves on with it (one that never sampled keeps the 0 it has); read
        # before w_prod's present part, which ``later`` may overlap, is moved on.
        self.w_last[later] = np.where(np.array(self.w_prod[present]) > 0, self.w_last[present] + shift_s,
                                      self.w_last[present])
        for ints in (self.w_target, self.w_prod):
            ints[later] = ints[present]
        self.state[_ID] += shift
        self.waiting = deque(rid + shift for rid in self.waiting)
        self.r_last[self.state[_PROD] > 0] += shift_s  # (a request yet to sample holds its 0)
        self.r_fin += shift_s
        self.first_fin += shift_s
        self.prev_start += shift_s
        self.prev_end += shift_s
        self.sched_t += shift_s
        self.ingest_done += shift_s
        # The round's gaps once more, each counted once a copy: a long loop's copies would hold every gap.
        odd = [gap for gaps in self.itl_odd[last.odd:mark.odd] for gap in gaps.tolist()]
        self.itl_values += self.itl_values[last.itl:mark.itl] + odd
        self.itl_counts += [count * rounds for count in self.itl_counts[last.itl:mark.itl]] + [rounds] * len(odd)
        preempted = mark.preemptions - last.preemptions
        self.line += [(t + k * period_s, running, queued, used, p + k * preempted) for k in range(1, rounds + 1)
                      for t, running, queued, used, p in self.line[last.line:mark.line]]
        steps, scheduled = mark.steps - last.steps, mark.scheduled - last.scheduled
        self.replayed_work += rounds * (STEP_WORK * steps + SCHEDULED_STEP_WORK * scheduled + REQUEST_WORK * sent)
        self.steps += rounds * steps
        self.scheduled += rounds * scheduled
        self.preemptions += rounds * preempted
        self.finished += shift
        self.next_send += shift
        self.next_arrival += shift
        self.next_probe = self._probe_after()
        self.mark = self._mark()

    def _checked(self) -> None:
        """A check found the run within its caps: the next one comes CAP_CHECKS-th of the run later."""
        self.next_check = min(self.finished + -(-self.n // CAP_CHECKS), self.stop_at)

    def work(self, folded: int = 0, costed: int | None = None) -> int:
        """The run's work so far (see STEP_WORK), with ``folded`` steps not yet written back; ``costed`` step costs
        computed one by one (by default, as the step-cost cache counts them).  Rounds copied (:meth:`_replay`) are
        not work: their steps and requests are left out."""
        if costed is None:
            costed = self.step_cost.cache_info().misses
        return (STEP_WORK * (self.steps + folded) + COSTED_STEP_WORK * costed + SCHEDULED_STEP_WORK * self.scheduled
                + REQUEST_WORK * self.finished - self.replayed_work)

    def _over_budget(self, folded: int) -> bool:
        """Whether the run's work passed its budget.  Each step computes at most one cost (and the caps check one
        more): under a budget that bound allows, the computed ones are not counted."""
        if self.work_budget is None:
            return False
        most = self.work(folded, costed=self.steps + folded + 1)
        return most > self.work_budget and self.work(folded) > self.work_budget

    def _beyond_caps(self) -> bool:
        """Whether the run's mean TPOT or TTFT will exceed its cap, whatever the requests still running do."""
        state = self.state
        going = (state[_PROD] > 0) & (state[_PROD] < state[_OUT])
        return self._exceeds(self.last_t, state[_ID, going], self.r_last[going], state[_OUT, going] - state[_PROD, going],
                             self.prev_end)

    def _exceeds(self, last_t: np.ndarray, going: np.ndarray, going_last_s: np.ndarray, going_togo: np.ndarray,
                 now: float) -> bool:
        """Whether the means will exceed a cap: ``last_t`` the last token of every finished request (nan for the
        others), ``going`` the requests that sampled some tokens but not all, with their last token's time and
        tokens still to come; ``now`` the end of the last step."""
        caps, out, first_t = self.caps, self.out, self.first_t
        assert caps is not None
        many = out > 1
        if caps.tpot_s < math.inf and many.any():  # (no mean exceeds an infinite cap: nothing to sum)
            fin = many & ~np.isnan(last_t)
            least_s = self.step_cost(1, 1, 0, 0)  # a decode of one sequence: no step with a decode is shorter
            tpot_sum = float(((last_t[fin] - first_t[fin]) / (out[fin] - 1)).sum())
            # A running request that has sampled some tokens ends no sooner than a least step per token still to come.
            tpot_sum += float(((going_last_s - first_t[going] + going_togo * least_s) / (out[going] - 1)).sum())
            rest = np.count_nonzero(many) - np.count_nonzero(fin) - len(going)
            if tpot_sum + rest * least_s > caps.tpot_s * np.count_nonzero(many) * CAP_ROUNDING:
                return True
        if caps.ttft_s == math.inf:
            return False
        sampled, send = ~np.isnan(first_t), np.array(self.send)
        waited = ~sampled & (send < math.inf)  # their first token comes after the last step's end
        ttft_sum = float((first_t[sampled] - send[sampled]).sum() + (now - send[waited]).clip(0).sum())
        return ttft_sum > caps.ttft_s * self.n * CAP_ROUNDING

    def _dispatch(self, now: float) -> None:
        """Bench's semaphore lets its next request go at ``now``; it is sent after its delay (``jitter_s``, by
        dispatch: :func:`~wizard.physics.simulate.steady_phases`) and the API server queues it.

        Requests are numbered in send order, the API server's FIFO order: a request sent before others that
        still wait out their delay takes the place of the first of them, and they move one back, so that it
        does not queue behind sends yet to come."""
        i = self.next_send
        send = self.send
        sent = max(now + self.jitter_s[i], self.arrival_s[i])
        self.next_send += 1
        if not i or sent >= send[i - 1]:
            send[i] = sent
            self.ingest_done = max(sent, self.ingest_done) + self.ingest_s
            self.at_engine[i] = self.ingest_done
            return
        j = bisect_right(send, sent, 0, i)  # not at the engine yet: its send is later
        at_engine = self.at_engine
        send[j + 1:i + 1] = send[j:i]
        at_engine[j + 1:i + 1] = at_engine[j:i]
        send[j] = sent
        # The FIFO from request j on, as it ingests them: once a later send leaves it when it did before the
        # insertion, every one after it does too.
        done = max(sent, at_engine[j - 1] if j else 0.0) + self.ingest_s
        at_engine[j] = done
        for k, at in enumerate(send[j + 1:i + 1], start=j + 1):
            done = max(at, done) + self.ingest_s
            if done == at_engine[k]:
                break
            at_engine[k] = done
        self.ingest_done = at_engine[i]

    def _next_time(self) -> float:
        """When scheduling can change: the step in flight ends, or the next request reaches the engine."""
        if self.prev_end > self.sched_t:
            return self.prev_end
        if self.next_arrival < self.n and self.at_engine[self.next_arrival] < math.inf:
            return self.at_engine[self.next_arrival]
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
        for _ in admitted:
            self.waiting.popleft()
        self.free = free
        if victims:
            self._preempt(victims)
            gone = np.zeros(running, dtype=bool)
            gone[victims] = True
            sched, need = sched[~gone], need[~gone]
        if admitted:
            ids = [rid for rid, _, _ in admitted]
            new = np.zeros((6, len(ids)), dtype=np.int64)  # rows _ID.._HELD; nothing computed or held yet
            new[_ID], new[_OUT] = ids, self.out[ids]
            new[_REM], new[_PROD] = [self.w_target[rid] for rid in ids], [self.w_prod[rid] for rid in ids]
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
            self.w_prod[rid] = int(state[_PROD, v])
            self.w_target[rid] = self.w_prod[rid] + int(self.prompt[rid])
            self.w_last[rid] = self.r_last[v]
            self.waiting.appendleft(rid)
        keep = np.ones(state.shape[1], dtype=bool)
        keep[victims] = False
        self.state, self.r_last, self.r_fin = state[:, keep], self.r_last[keep], self.r_fin[keep]

    def _execute(self, sched: np.ndarray, need: np.ndarray, total: int, admitted: bool) -> tuple[bool, bool]:
        """Run the step: its cost, its tokens, who finishes.

        Returns whether the next steps may be folded (every running request now
        decodes and emitted in this step, or has finished) and whether they start
        a run of decodes of everyone (see :meth:`_fold`)."""
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
        self.scheduled += 1
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
        live = rem > 0  # the others have finished
        decoding = (rem == 1) & (r_last == end) & (prod > 0)
        prefilling = np.flatnonzero(live & ~decoding)
        # At most one fresh prefill in progress, the newest running request (decodes come first in the budget).
        foldable = not prefilling.size or (
            prefilling.size == 1 and prod[prefilling[0]] == 0 and not live[prefilling[0] + 1:].any())
        steady = not finished and self.first_fin == math.inf and (
            not admitted and n_decode == state.shape[1] or not self.blocks.sliding and bool(decoding.all()))
        return foldable, steady

    def _fold(self, steady: bool) -> None:
        """Advance the steps that follow without re-scheduling each one, while they stay simple.

        Every running request decodes (it emitted in the step that just ended),
        has finished and waits for its seat and blocks to come back, or, the
        newest one only, is a fresh prompt part-way through its prefill.  Each
        next step decodes every decoder (one token of context more each), gives
        the prefill what budget is left, and admits fresh requests from WAITING
        behind them, which is what the scheduler would decide until a decode
        would find a block short (a preemption), the head of WAITING is a
        preempted request or needs V0's prefill-only step, or nobody decodes; the
        step loop takes over there.  Arrivals join WAITING, requests whose
        prefill completes become decoders, requests that sample their last token
        leave them, bench sends its next requests, and seats and blocks return
        when the scheduler would see them finished.

        Blocks follow each context's phase: a decode from c tokens takes a block
        per group when c is a multiple of the block size, and each sliding group
        frees one when c - window + 1 is (past 0); a prefill's last chunk leaves
        the blocks that fell out of the window held until its first decode.  A
        decoder's context after step k (counted from 1 in this fold) is
        ``c0 + k``: its "virtual" ``c0`` is its context before the fold, or
        prompt - k for one whose prefill completed in step k.

        The timeline keeps the points the step loop records: one per step, except
        inside a run of decodes of everyone that starts after a step where nothing
        finished nor waits for release nor prefills (``steady``; with sliding
        groups, no prefill completed either) and lasts until an arrival, a
        possible admission or the step before the next finish; such a run gets
        one point, at its end.
        """
        state, blocks, engine = self.state, self.blocks, self.engine
        live = state[_REM] > 0
        fresh = live & (state[_PROD] == 0)
        cols = np.flatnonzero(live & ~fresh)
        if not cols.size:
            return
        # The decoders by the step that samples their last token, and their context before the fold.
        togo = state[_OUT, cols] - state[_PROD, cols]
        order = np.argsort(togo, kind="stable")
        cols, togo = cols[order], togo[order]
        first = state[_COMP, cols]
        lasts, firsts, col_of = togo.tolist(), first.tolist(), cols.tolist()
        # Requests whose prefill completes in the fold (see _apply_fold) and those admitted (new columns).
        joined: list[Joined] = []
        new_ids: list[int] = []
        join_heap: list[tuple[int, int, int]] = []  # joined decoders by last step: (that step, virtual c0, column)
        pre = None  # the prefill in progress
        if fresh.any():
            col = int(np.flatnonzero(fresh)[0])
            pre = Prefill(col, int(state[_ID, col]), int(state[_COMP, col]), int(state[_REM, col]), int(state[_HELD, col]))
        size, sliding, window = blocks.size, blocks.sliding, blocks.window
        phases = np.bincount(first % size, minlength=size).tolist()
        frees: list[list[int]] = []  # sliding frees by phase: request i frees at step k > t_i, k - 1 = t_i (mod size)
        extra: dict[int, int] = {}  # blocks a prefill's last chunk left past the window: its first decode frees them
        if sliding:
            thresholds = np.sort(window - 1 - first)
            residues = thresholds % size
            frees = [thresholds[residues == r].tolist() for r in range(size)]
            extra[0] = int((state[_HELD, cols] - blocks.held(first, first - 1)).sum())
        # Finished requests still holding their seat, by finish time: (time, column, blocks held).
        pending = deque(sorted((float(self.r_fin[c]), int(c), int(state[_HELD, c])) for c in np.flatnonzero(~live)))
        released: list[int] = []
        decoders, base = len(lasts), int(first.sum())
        seated, width = decoders + len(pending) + (pre is not None), state.shape[1]
        per_block, budget = blocks.full + sliding, engine.max_num_batched_tokens
        v0, is_async, cost = not engine.chunked_prefill, engine.async_scheduling, self.step_cost
        waiting, at_engine, n = self.waiting, self.at_engine, self.n
        usable, line, itl_values, itl_counts = engine.usable_blocks, self.line, self.itl_values, self.itl_counts
        gate = self._head_gate(seated, decoders)
        horizon = self._horizon()
        prev_start, prev_end, left = self.prev_start, self.prev_end, self.free
        ends: list[float] = []
        done = nxt = finishing = 0
        end = prev_end
        run_left = lasts[0] - 1 if steady else 0  # steps left in the step loop's current run of decodes
        run_from = 0
        # A capped run checks its means inside the fold: the requests of the columns, and those that left.
        capped = self.caps is not None
        rid_at = state[_ID].tolist() if capped else []
        gone: list[int] = []
        gone_s: list[float] = []

        def rid_of(col: int) -> int:
            return rid_at[col] if col < width else new_ids[col - width]

        def beyond_caps() -> bool:
            """The caps check of the step loop on the requests as they stand after this step."""
            last_t = self.last_t.copy()
            last_t[gone] = gone_s
            going = [rid_at[c] for c in col_of[nxt:]] + [rid_of(col) for _, _, col in join_heap]
            togo = [last - done for last in lasts[nxt:]] + [last - done for last, _, _ in join_heap]
            return self._exceeds(last_t, np.array(going, dtype=np.int64), np.full(len(going), end),
                                 np.array(togo, dtype=np.int64), end)

        def close_run() -> None:
            """The step loop's run of decodes stops before this step: its point."""
            if done > run_from:
                line.append((prev_end, seated, len(waiting), 1 - left / usable, self.preemptions))

        def join(rid: int, col: int, tokens: int, held: int) -> None:
            """A prefill of ``tokens`` completed in this step and sampled the first token: a decoder from now on."""
            nonlocal base, decoders, finishing
            self.first_t[rid] = end
            c0, last = tokens - done, done + self.out_tokens[rid] - 1
            joined.append((col, c0, 1 - done, last, held))
            if last == done:  # one output token: done already
                pending.append((end, col, held))
                finishing += 1
                return
            decoders += 1
            base += c0
            phases[c0 % size] += 1
            if frees:
                insort(frees[(window - 1 - c0) % size], window - 1 - c0)
                extra[done] = extra.get(done, 0) + held - blocks.held(tokens, tokens - 1)
            heappush(join_heap, (last, c0, col))

        def leave(c0: int, col: int) -> None:
            """A decoder sampled its last token in this step: it waits for its release."""
            nonlocal base, decoders, finishing
            phases[c0 % size] -= 1
            if frees:
                frees[(window - 1 - c0) % size].remove(window - 1 - c0)
            base -= c0
            decoders -= 1
            finishing += 1
            tokens = c0 + done
            pending.append((end, col, blocks.held(tokens, tokens - 1)))
            if capped:
                gone.append(rid_of(col))
                gone_s.append(end)

        def decode_run(now: float, step_s: float) -> bool:
            """Steps of the run of decodes costed at once (the same seconds, to the last bit), from this one (which
            the loop below found free to go, at ``step_s``) up to the first it would stop at; False when too few
            can go for that to pay.  Without sliding groups a step's blocks follow the phases alone: each decoder
            takes ``per_block`` every ``size`` steps.  The steps' costs grow with their contexts, so the next
            arrival comes within (its time - now) / step_s of them, plus the one async scheduling lags.  Sliding
            groups give blocks back as the loop below counts them, step by step (``frees``, ``extra``)."""
            nonlocal prev_start, prev_end, left, done, run_left, end
            length = min(run_left, (left // (per_block * decoders) + 1) * size)
            if horizon < math.inf and step_s > 0:
                length = min(length, int((horizon - now) / step_s) + 2)
            if length < VECTOR_RUN_STEPS:
                return False
            step = np.arange(length)
            takes = net = per_block * np.array(phases)[-(done + step) % size]
            if frees:
                net = takes - np.array([sliding * bisect_left(frees[k % size], k) + extra.get(k, 0)
                                        for k in range(done, done + length)])
            after = left - net.cumsum()
            before = after + net
            costs = self.run_cost(decoders, base + decoders * (done + 1 + step), 0, 0)
            if not isinstance(costs, np.ndarray):  # a cost that does not read the contexts
                costs = np.full(length, costs)
            ends_at = np.concatenate(([prev_end], costs)).cumsum()
            starts = np.concatenate(([prev_start], ends_at[:-2])) if is_async else ends_at[:-1]
            stop = (starts >= horizon) | (takes > before) | (gate <= (before if v0 else after))
            steps = int(stop.argmax()) if stop.any() else length
            if extra:  # the steps that go take their prefills' extras (the loop below pops one a step)
                for k in range(done, done + steps):
                    extra.pop(k, None)
            ends.extend(ends_at[1:steps + 1].tolist())
            itl_values.extend((ends_at[1:steps + 1] - ends_at[:steps]).tolist())
            itl_counts.extend([decoders] * steps)
            prev_start, prev_end, left = float(ends_at[steps - 1]), float(ends_at[steps]), int(after[steps - 1])
            end = prev_end
            done += steps
            run_left -= steps
            if not run_left:
                line.append((end, seated, len(waiting), 1 - left / usable, self.preemptions))
            return True

        while decoders:
            vector = True  # tried once a run: each later step is nearer the next arrival and the blocks' end
            while run_left:  # a step inside the run: only an arrival, the blocks or the head's admission ends it
                now = prev_start if is_async else prev_end
                take = per_block * phases[-done % size]
                after = left - take
                if frees:
                    after += sliding * bisect_left(frees[done % size], done) + extra.get(done, 0)
                if now >= horizon or take > left or (gate <= left if v0 else gate <= after):
                    break  # the step below decides it
                step_s = cost(decoders, base + decoders * (done + 1), 0, 0)
                if vector and run_left >= VECTOR_RUN_STEPS:
                    vector = False
                    if decode_run(now, step_s):
                        continue
                if frees:
                    extra.pop(done, None)
                end = prev_end + step_s
                itl_values.append(end - prev_end)
                itl_counts.append(decoders)
                prev_start, prev_end, left = prev_end, end, after
                ends.append(end)
                done += 1
                run_left -= 1
                if not run_left:
                    line.append((end, seated, len(waiting), 1 - left / usable, self.preemptions))
            now = prev_start if is_async else prev_end
            if now >= horizon:
                if run_left:
                    close_run()
                    run_left = 0
                while self.next_arrival < n and at_engine[self.next_arrival] <= now:
                    waiting.append(self.next_arrival)
                    self.next_arrival += 1
                horizon = self._horizon()
                gate = self._head_gate(seated, decoders)
            if pending and pending[0][0] <= now:
                while pending and pending[0][0] <= now:
                    _, col, held = pending.popleft()
                    released.append(col)
                    left += held
                    seated -= 1
                gate = self._head_gate(seated, decoders)
            if v0 and gate <= left:  # V0 would give the head a prefill-only step
                break
            chunk = grow = 0
            if pre:  # the newest request: what budget the decodes leave
                chunk = min(pre.rem, budget - decoders)
                if chunk < 1:
                    break
                grow = blocks.held(pre.comp + chunk, pre.comp) - pre.held
                gate = self._head_gate(seated, decoders + chunk)
            take = per_block * phases[-done % size]
            if take + max(grow, 0) > left:
                break
            after = left - take - grow
            if frees:
                after += sliding * bisect_left(frees[done % size], done) + extra.pop(done, 0)
            admitted: list[tuple[int, int, int]] = []
            prefill = chunk  # its tokens attend to pre.comp + 1 .. pre.comp + chunk tokens
            prefill_ctx = chunk * pre.comp + chunk * (chunk + 1) // 2 if pre else 0
            if not v0 and gate <= after:  # the head may be admitted behind the decodes
                if run_left:
                    close_run()
                    run_left = 0
                fresh_only = self._fold_admissions(seated, decoders + chunk, after)
                if fresh_only is None:
                    break
                admitted = fresh_only
                for _, tokens, taken in admitted:
                    after -= taken
                    prefill += tokens
                    prefill_ctx += tokens * (tokens + 1) // 2
            end = prev_end + cost(decoders, base + decoders * (done + 1), prefill, prefill_ctx)
            itl_values.append(end - prev_end)
            itl_counts.append(decoders)
            prev_start, prev_end, left = prev_end, end, after
            ends.append(end)
            done += 1
            finishing = 0
            while nxt < len(lasts) and lasts[nxt] == done:  # sampled its last token in this step
                leave(firsts[nxt], col_of[nxt])
                nxt += 1
            while join_heap and join_heap[0][0] == done:
                _, c0, col = heappop(join_heap)
                leave(c0, col)
            prefilled = bool(admitted)
            if pre:
                pre.comp, pre.rem, pre.held = pre.comp + chunk, pre.rem - chunk, pre.held + grow
                if not pre.rem:
                    join(pre.rid, pre.col, pre.comp, pre.held)
                    pre, prefilled = None, True
            for rid, tokens, taken in admitted:
                waiting.popleft()
                seated += 1
                col = width + len(new_ids)
                new_ids.append(rid)
                prompt = self.w_target[rid]
                if tokens < prompt:  # a partial chunk: the budget is spent, it is the last admitted
                    pre = Prefill(col, rid, tokens, prompt - tokens, taken)
                else:
                    join(rid, col, tokens, taken)
            checkpoint = False
            if finishing:
                self.finished += finishing
                for _ in range(min(finishing, n - self.next_send)):  # bench's semaphore lets the next ones go
                    self._dispatch(end)
                horizon = self._horizon()
                if self.finished >= self.next_check or self.finished >= self.next_probe:
                    # The fold stops at the completion count the run stops at, at a probe of its rounds, or where its
                    # means exceed a cap (the step loop then checks them on the written-back state and stops the run).
                    checkpoint = (self.finished >= self.stop_at or not capped or self.finished >= self.next_probe
                                  or beyond_caps())
                    if not checkpoint:
                        self._checked()
                checkpoint = checkpoint or self._over_budget(done)  # the step loop cuts the run
            if prefilled or finishing:
                gate = self._head_gate(seated, decoders)
            line.append((end, seated, len(waiting), 1 - left / usable, self.preemptions))
            if not (finishing or pending or pre or prefilled and sliding):  # the step loop starts a run here
                soonest = min(lasts[nxt] if nxt < len(lasts) else math.inf, join_heap[0][0] if join_heap else math.inf)
                run_left, run_from = int(soonest) - done - 1, done
            if checkpoint:  # the run stops here, or the step loop checks its caps or budget
                break
        if run_left:
            close_run()
        self.free = left
        if done:
            self._apply_fold(cols, togo, new_ids, joined, pre, np.array(ends), prev_start, prev_end)
        if released:
            keep = np.ones(self.state.shape[1], dtype=bool)
            keep[released] = False
            self.state, self.r_last, self.r_fin = self.state[:, keep], self.r_last[keep], self.r_fin[keep]
        self.first_fin = float(self.r_fin.min()) if self.r_fin.size else math.inf

    def _fold_admissions(self, seated: int, scheduled: int, free: int) -> list[tuple[int, int, int]] | None:
        """WAITING requests admitted behind ``scheduled`` tokens of running requests: (request, chunk, blocks).

        None when one of them is a preempted request (its recompute's first token
        is not its first): preempted requests go back to the head of WAITING, so the head is one if any is."""
        engine = self.engine
        admitted, _, _ = admit(self.waiting, self.w_target, self.blocks, engine.max_num_seqs - seated,
                               engine.max_num_batched_tokens - scheduled, free, True)
        return None if admitted and self.w_prod[admitted[0][0]] else admitted

    def _apply_fold(self, cols: np.ndarray, togo: np.ndarray, new_ids: list[int], joined: list[Joined], pre: Prefill | None,
                    ends: np.ndarray, prev_start: float, prev_end: float) -> None:
        """Write ``len(ends)`` folded steps back: contexts, tokens, blocks and times of the folded requests.

        ``cols`` are the decoders the fold started with and ``togo`` the tokens
        each had left to sample; ``new_ids`` the requests it admitted, which
        become new columns in admission order; ``joined`` the decoders whose
        prefill completed in it and ``pre`` the prefill still in progress."""
        done = len(ends)
        if new_ids:
            ids = np.array(new_ids, dtype=np.int64)
            new = np.zeros((6, len(ids)), dtype=np.int64)
            new[_ID], new[_OUT] = ids, self.out[ids]
            self.state = np.concatenate([self.state, new], axis=1)
            self.r_last = np.concatenate([self.r_last, self.w_last[ids]])
            self.r_fin = np.concatenate([self.r_fin, np.full(len(ids), math.inf)])
        state = self.state
        if pre:
            state[_COMP, pre.col], state[_REM, pre.col], state[_HELD, pre.col] = pre.comp, pre.rem, pre.held
        held_then = np.zeros(len(cols), dtype=np.int64)
        if joined:
            fields = np.fromiter(chain.from_iterable(joined), dtype=np.int64, count=5 * len(joined))
            j_cols, j_c0, j_p0, j_last, j_held = fields.reshape(-1, 5).T
            state[_COMP, j_cols], state[_PROD, j_cols] = j_c0, j_p0  # virtual: see _fold
            cols = np.concatenate([cols, j_cols])
            togo = np.concatenate([togo, j_last])
            held_then = np.concatenate([held_then, j_held])
        upto = np.minimum(togo, done)
        comp = state[_COMP, cols] + upto
        state[_COMP, cols] = comp
        state[_PROD, cols] += upto
        # A request whose one token came from its prefill holds what the prefill left; decodes hold the window's.
        state[_HELD, cols] = np.where(state[_PROD, cols] == 1, held_then, self.blocks.held(comp, comp - 1))
        fin = togo <= done
        state[_REM, cols] = np.where(fin, 0, 1)
        self.r_last[cols] = ends[upto - 1]
        self.r_fin[cols[fin]] = self.last_t[state[_ID, cols[fin]]] = ends[togo[fin] - 1]
        self.steps += done
        self.prev_start, self.prev_end = prev_start, prev_end
        self.sched_t = prev_start if self.engine.async_scheduling else prev_end

    def _horizon(self) -> float:
        """When the next request reaches the engine (inf while bench has not sent it)."""
        return self.at_engine[self.next_arrival] if self.next_arrival < self.n else math.inf

    def _head_gate(self, seated: int, scheduled: int) -> float:
        """Free blocks that would let the head of WAITING in behind ``scheduled`` tokens of running requests.

        inf when nothing waits or it has no seat (``seated`` counts every running
        request, finished ones not yet released too) or no budget."""
        engine = self.engine
        if not self.waiting:
            return math.inf
        tokens = self.w_target[self.waiting[0]]
        v0 = not engine.chunked_prefill
        no_room = engine.max_num_seqs <= seated or (
            tokens > engine.max_num_batched_tokens if v0 else engine.max_num_batched_tokens <= scheduled)
        return math.inf if no_room else self.blocks.gate(tokens)

    def _result(self) -> SimResult:
        """The run measured as bench measures it, on the requests it completed: every one, unless it was cut at its
        work budget (every gap between tokens so far counts, those of the requests still running too)."""
        served = slice(None) if self.finished == self.n else ~np.isnan(self.last_t)
        out, send, done = self.out[served], np.array(self.send)[served], self.finished
        ttft = self.first_t[served] - send
        e2e = self.last_t[served] - send
        many = out > 1
        tpot = (e2e[many] - ttft[many]) / (out[many] - 1)
        values = np.concatenate([np.array(self.itl_values), *self.itl_odd])
        counts = np.concatenate([np.array(self.itl_counts, dtype=np.int64),
                                 *[np.ones(len(g), dtype=np.int64) for g in self.itl_odd]])
        duration = float(np.max(self.last_t[served]))
        total_out = int(out.sum())
        return SimResult(
            send_s=send, ttft_s=ttft, tpot_s=tpot, e2e_s=e2e, output_tokens=out, itl_s=WeightedSamples.of(values, counts),
            duration_s=duration,
            completed=done, total_input_tokens=int(self.prompt[served].sum()), total_output_tokens=total_out,
            request_throughput_per_s=done / duration, output_throughput_per_s=total_out / duration,
            preemptions=self.preemptions, steps=self.steps, work=self.work(), timeline=_timeline(self.line),
        )


def _timeline(line: list[tuple[float, int, int, float, int]]) -> Timeline:
    """At most TIMELINE_POINTS points, spread evenly over time (the last one kept).  Only the picked points are
    converted to arrays: a run records one per step (thousands), and converting every tuple cost more than the pick."""
    if len(line) > TIMELINE_POINTS:
        times = np.fromiter((point[0] for point in line), dtype=np.float64, count=len(line))
        marks = np.linspace(times[0], times[-1], TIMELINE_POINTS)
        near = np.minimum(np.searchsorted(times, marks), len(times) - 1)  # non-decreasing: the marks are sorted
        pick = near[np.diff(near, prepend=-1) > 0]  # each once (np.unique would import numpy.ma: 80 ms cold)
        line = [line[i] for i in pick.tolist()]
    rows = np.array(line, dtype=np.float64).reshape(-1, 5)
    return Timeline(rows[:, 0], rows[:, 1].astype(np.int64), rows[:, 2].astype(np.int64), rows[:, 3],
                    rows[:, 4].astype(np.int64))
