"""What a simulated run measured, the way ``vllm bench serve`` summarises it.

Per-request latencies, every token gap (stored as distinct values with counts),
run totals, and the engine's state over time for a chart.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True, eq=False)
class WeightedSamples:
    """Samples stored as distinct values with counts (sorted), e.g. every inter-token gap of a run."""

    values: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray, counts: np.ndarray) -> WeightedSamples:
        order = np.argsort(values, kind="stable")
        return cls(values[order], counts[order])

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def mean(self) -> float:
        return float((self.values * self.counts).sum() / self.count) if self.count else 0.0

    def percentile(self, q: float) -> float:
        """numpy.percentile (linear) of the samples written out one by one."""
        n = self.count
        if not n:
            return 0.0
        ends = np.cumsum(self.counts)
        return _linear_percentile(n, q, lambda i: float(self.values[np.searchsorted(ends, i, side="right")]))


@dataclass(frozen=True)
class Stats:
    """Mean, median, p90 and p99 as ``vllm bench serve`` computes them (numpy, linear percentiles)."""

    mean: float
    median: float
    p90: float
    p99: float


def stats(samples: np.ndarray | WeightedSamples) -> Stats:
    """Bench's summary of per-request values (TTFT, TPOT, E2EL) or of pooled ITL samples; 0s when empty."""
    if isinstance(samples, WeightedSamples):
        return Stats(samples.mean(), samples.percentile(50), samples.percentile(90), samples.percentile(99))
    if not len(samples):
        return Stats(0.0, 0.0, 0.0, 0.0)
    ordered = np.sort(samples)
    return Stats(float(np.mean(samples)), *(_linear_percentile(len(ordered), q, lambda i: float(ordered[i]))
                                            for q in (50, 90, 99)))


def _linear_percentile(n: int, q: float, nth: Callable[[int], float]) -> float:
    """numpy.percentile of ``n`` samples, ``nth(i)`` the i-th smallest, by its default 'linear' method step for
    step (the same float64 operations, so the same bits): numpy's own imports numpy.ma on first use, 80 ms of
    every cold start."""
    virtual = (n - 1) * (q / 100)
    if virtual >= n - 1:
        return nth(n - 1)
    below = math.floor(virtual)
    gamma = virtual - below
    a, b = nth(below), nth(below + 1)
    return b - (b - a) * (1 - gamma) if gamma >= 0.5 else a + (b - a) * gamma


@dataclass(frozen=True, eq=False)
class Timeline:
    """The engine over time (at most ~TIMELINE_POINTS points), for a chart."""

    time_s: np.ndarray
    running: np.ndarray
    waiting: np.ndarray
    kv_usage: np.ndarray  # fraction of the usable blocks in use
    preemptions: np.ndarray  # cumulative


@dataclass(frozen=True, eq=False)
class SimResult:
    """Per-request latencies (request order) and run totals, as ``vllm bench serve`` reports them."""

    send_s: np.ndarray  # when bench sent each request (after waiting for a --max-concurrency slot)
    ttft_s: np.ndarray
    tpot_s: np.ndarray  # (e2e - ttft) / (output - 1), only requests with more than one output token
    e2e_s: np.ndarray
    output_tokens: np.ndarray  # per request, as served
    itl_s: WeightedSamples  # every gap between consecutive tokens of every request
    duration_s: float  # from the first dispatch (t = 0) to the last token
    completed: int
    total_input_tokens: int
    total_output_tokens: int
    request_throughput_per_s: float
    output_throughput_per_s: float
    preemptions: int
    steps: int
    work: int  # what simulating one engine's share cost, in physics/scheduler.py's units (see STEP_WORK)
    timeline: Timeline

    def across(self, engines: int) -> SimResult:
        """The run on ``engines`` alike data-parallel engines, of which this is one: each request repeated per
        engine (means unchanged), totals and throughputs ``engines``-fold, the timeline summed."""
        if engines == 1:
            return self
        line = self.timeline
        return replace(
            self, send_s=np.tile(self.send_s, engines), ttft_s=np.tile(self.ttft_s, engines),
            tpot_s=np.tile(self.tpot_s, engines), e2e_s=np.tile(self.e2e_s, engines),
            output_tokens=np.tile(self.output_tokens, engines),
            itl_s=WeightedSamples(self.itl_s.values, self.itl_s.counts * engines),
            completed=self.completed * engines, total_input_tokens=self.total_input_tokens * engines,
            total_output_tokens=self.total_output_tokens * engines,
            request_throughput_per_s=self.request_throughput_per_s * engines,
            output_throughput_per_s=self.output_throughput_per_s * engines, preemptions=self.preemptions * engines,
            timeline=replace(line, running=line.running * engines, waiting=line.waiting * engines,
                             preemptions=line.preemptions * engines))
