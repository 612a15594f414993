"""How fast this machine runs Python right now: context for the speed benchmarks' wall times.

The VMs these benchmarks run on change pace from day to day and within a day: the slowest
scenario of sim_speed.py took 0.21 s one day and 0.59 s the next, with the same instructions
(counted by valgrind's callgrind).  A fixed pure-Python loop timed beside a benchmark is a first
check of which changed, the machine or the code: compare its seconds between two runs before
comparing their results (it sees the processor's pace, not every cache or memory effect).
"""

from __future__ import annotations

import os
import time

REFERENCE_ADDITIONS = 2_000_000  # the loop's length: ~0.1-0.3 s on the 2-core VMs here
REFERENCE_RUNS = 3  # the best run is shown: noise only ever slows a run


def reference_loop_seconds() -> float:
    """Best wall time of REFERENCE_RUNS runs of a fixed loop of REFERENCE_ADDITIONS integer additions."""
    best = float("inf")
    for _ in range(REFERENCE_RUNS):
        start = time.perf_counter()
        total = 0
        for i in range(REFERENCE_ADDITIONS):
            total += i
        best = min(best, time.perf_counter() - start)
    return best


def pace_line() -> str:
    """One line for a benchmark's footer: the reference loop's time and the load now."""
    return (f"machine pace: {REFERENCE_ADDITIONS / 1e6:g} M additions in pure Python took {reference_loop_seconds():.3f} s "
            f"(best of {REFERENCE_RUNS}); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
