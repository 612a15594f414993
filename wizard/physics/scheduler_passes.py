"""The scheduler's two passes over its queues, RUNNING then WAITING, and the KV blocks they count.

:class:`Blocks` says how many KV blocks a request holds or needs (full-attention
and sliding-window groups); :func:`schedule_running` and :func:`admit` give
each request its tokens and blocks for one step, as vLLM V1's scheduler does.
Used by :class:`wizard.physics.scheduler.Run`.
"""

from __future__ import annotations

from collections import deque
from typing import TypeVar

import numpy as np

from wizard.physics.kv import KvLayout, cdiv

T = TypeVar("T", int, np.ndarray)


class Blocks:
    """KV blocks a request holds, from the layout's full-attention and sliding-window groups."""

    def __init__(self, layout: KvLayout) -> None:
        self.size = layout.block_size
        self.full = sum(1 for g in layout.groups if g.kind != "sliding" or not g.window)
        sliding = [g.window for g in layout.groups if g.kind == "sliding" and g.window]
        self.sliding = len(sliding)
        self.window = sliding[0] if sliding else 0
        # Admission cap of a sliding group (SlidingWindowSpec.max_admission_blocks_per_request).
        self.sliding_cap = cdiv(self.window - 1 + layout.in_flight_tokens, self.size) + 1 if sliding else 0

    def held(self, tokens: T, computed: T) -> T:
        """Blocks held once ``tokens`` have slots, ``computed`` of them before this step (arrays or ints).

        Sliding groups drop the blocks that fell out of the window before the step
        (vLLM frees on the processed tokens; the one step async keeps in flight is ignored)."""
        per_group = (tokens + self.size - 1) // self.size
        if not self.sliding:
            return self.full * per_group
        past = computed - self.window + 1
        skipped = past * (past > 0) // self.size  # max(past, 0), for ints without a numpy round trip
        return (self.full + self.sliding) * per_group - self.sliding * skipped

    def chunk(self, tokens: int) -> int:
        """Blocks a first chunk of ``tokens`` takes (nothing has left a window yet)."""
        return (self.full + self.sliding) * -(-tokens // self.size)  # cdiv inline: once per admitted request

    def gate(self, tokens: int) -> int:
        """Blocks admission requires free for a whole sequence of ``tokens`` (no prefix hits)."""
        per_group = -(-tokens // self.size)  # cdiv inline: several times per admitted request
        if not self.sliding:
            return self.full * per_group
        return self.full * per_group + self.sliding * min(per_group, self.sliding_cap)


def schedule_running(rem: np.ndarray, comp: np.ndarray, held: np.ndarray, blocks: Blocks, budget: int,
                     free: int) -> tuple[np.ndarray, np.ndarray, list[int], int, int]:
    """The RUNNING loop: tokens and new blocks per running request, and the preempted (newest first).

    Runs vectorised up to the first request that cannot get its blocks, preempts
    from the tail for it, and carries on from the next request.
    """
    running = len(rem)
    demand = rem.copy()  # victims' turn to 0 as they go
    sched = np.zeros(running, dtype=np.int64)
    need = np.zeros(running, dtype=np.int64)
    victims: list[int] = []
    tail = running - 1
    pos = 0
    while pos < running and budget > 0:
        wants = demand[pos:]
        upto = np.cumsum(wants)
        got = np.minimum(wants, np.maximum(budget - (upto - wants), 0))
        extra = blocks.held(comp[pos:] + got, comp[pos:]) - held[pos:]
        extra[got == 0] = 0
        spent = np.cumsum(extra)
        short = spent > free
        if not short.any():
            sched[pos:], need[pos:] = got, extra
            free -= int(spent[-1])
            budget -= int(got.sum())
            break
        j = int(short.argmax())
        me = pos + j
        sched[pos:me], need[pos:me] = got[:j], extra[:j]
        if j:
            free -= int(spent[j - 1])
            budget -= int(got[:j].sum())
        while int(extra[j]) > free:
            while tail > me and demand[tail] == 0:  # finished (or already preempted): not a victim
                tail -= 1
            victims.append(tail)
            free += int(held[tail])
            demand[tail] = 0
            tail -= 1
            if victims[-1] == me:
                return sched, need, victims, free, budget
        sched[me], need[me] = got[j], extra[j]
        free -= int(extra[j])
        budget -= int(got[j])
        pos = me + 1
    return sched, need, victims, free, budget


def admit(waiting: deque[int], w_target: list[int], blocks: Blocks, seats: int, budget: int, free: int,
          chunked: bool) -> tuple[list[tuple[int, int, int]], int, int]:
    """The WAITING loop: (request, chunk tokens, blocks) admitted FCFS until seats, budget or KV run out.

    The admitted are the first ones of ``waiting``; the caller takes them off it.  A whole prompt's first chunk
    takes at least the blocks its admission requires free (:meth:`Blocks.gate`), so only a part's is checked."""
    admitted = []
    for rid in waiting:
        if seats <= 0 or budget <= 0:
            break
        tokens = w_target[rid]
        chunk = tokens if tokens < budget else budget  # not min(): a call, in a sweep's hottest loop
        taken = blocks.chunk(chunk)
        if taken > free or chunk < tokens and (not chunked or blocks.gate(tokens) > free):
            break  # head-of-line blocking: nobody behind is tried
        admitted.append((rid, chunk, taken))
        free -= taken
        budget -= chunk
        seats -= 1
    return admitted, free, budget
