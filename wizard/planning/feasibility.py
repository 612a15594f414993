"""Does the plan fit?  vLLM starts, and the workload fits in the KV pool.

``fits`` means both: vLLM loads the weights and its KV cache holds one
request of ``max_model_len`` tokens (the check vLLM makes at start-up), and
``concurrency`` requests of ``prompt + generated`` tokens, no longer than
``max_model_len`` (vLLM refuses longer ones), fit in the pool at once.  OOM
risk is a separate judgement about how close to the edge the plan runs, with
the thresholds stated in the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from wizard.physics.memory import MemoryPlan, StageMemory
from wizard.units import GIB

# Memory left outside vLLM's budget absorbs CUDA-graph capture beyond vLLM's
# estimate, the CUDA context and other tenants; below these it is thin.
OUTSIDE_BUDGET_HIGH_RISK_GIB = 0.5
OUTSIDE_BUDGET_MEDIUM_RISK_GIB = 1.0
# A GeForce card that drives a display loses 0.3-1 GiB to it before vLLM starts,
# and vLLM refuses to start when free memory is below the requested budget: 0.90
# leaves ~0.5 GiB more than vLLM's 0.92 default (the recommendation for such cards).
CONSUMER_UTILIZATION = 0.90


@dataclass(frozen=True)
class Verdict:
    fits: bool
    starts: bool
    workload_fits: bool
    refused: bool  # a request of the workload is longer than max_model_len: vLLM answers it with an error
    failed: list[str]
    oom_risk: str
    oom_risk_reason: str
    headroom_gib: float
    kv_needed_gib: float
    max_concurrency: int
    max_context_tokens: int
    max_concurrency_at_max_model_len: float
    budget_committed_fraction: float


def judge(
    mem: MemoryPlan,
    max_model_len: int,
    model_limit: int,
    context_tokens: int,
    concurrency: int,
    headroom_required_gib: float,
    consumer_gpu: bool,
    utilization: float,
    engines: int = 1,
) -> Verdict:
    """Judge one memory plan against the requested workload.

    ``concurrency`` is what one engine holds; with ``engines`` data-parallel
    engines (each its own pool) the deployment holds that many times more.
    """
    stage = mem.limiting
    layout = stage.kv
    blocks = mem.num_blocks
    weights_fit, starts, one_request, failed = _start_check(mem, max_model_len, model_limit)

    needed_blocks = concurrency * layout.blocks_per_request(context_tokens)
    kv_needed = needed_blocks * layout.bytes_per_block
    headroom = (blocks - needed_blocks) * layout.bytes_per_block / GIB if weights_fit else stage.available.expected / GIB - kv_needed / GIB
    refused = context_tokens > max_model_len
    workload_fits = weights_fit and not refused and headroom >= headroom_required_gib and needed_blocks <= blocks
    if refused:
        failed.append(f"the requested context ({context_tokens:,} tokens) is longer than max_model_len ({max_model_len:,})")
    elif weights_fit and needed_blocks > blocks:
        failed.append(
            f"{concurrency} requests of {context_tokens:,} tokens need {kv_needed / GIB:.2f} GiB of KV cache per GPU "
            f"but the pool holds {blocks * layout.bytes_per_block / GIB:.2f} GiB"
        )
    elif weights_fit and headroom < headroom_required_gib:
        failed.append(f"KV headroom {headroom:.2f} GiB is below the {headroom_required_gib:g} GiB required")

    max_conc, max_ctx, conc_at_len = (
        _maxima(mem, context_tokens, concurrency, max_model_len, model_limit) if weights_fit else (0, 0, 0.0))

    fits = starts and workload_fits
    # vLLM never admits a refused request: the risk is then the start-up's alone, and the memory is not at fault.
    risk, reason = _oom_risk(mem, starts, one_request, 0 if refused else needed_blocks, consumer_gpu, utilization)
    if not fits and not refused and risk != "high":  # the risk never tells a gentler story than a memory failure
        risk, reason = "high", f"the plan does not fit: {failed[0] if failed else 'see the failed conditions'}"
    return Verdict(
        fits=fits,
        starts=starts,
        workload_fits=workload_fits,
        refused=refused,
        failed=failed,
        oom_risk=risk,
        oom_risk_reason=reason,
        headroom_gib=headroom,
        kv_needed_gib=kv_needed / GIB,
        max_concurrency=int(max_conc) * engines,
        max_context_tokens=int(max_ctx),
        max_concurrency_at_max_model_len=round(conc_at_len, 2),
        budget_committed_fraction=committed_fraction(stage, kv_needed),
    )


def _start_check(mem: MemoryPlan, max_model_len: int, model_limit: int) -> tuple[bool, bool, int, list[str]]:
    """Whether vLLM starts: (weights fit, starts, blocks one max_model_len request needs, why it does not start)."""
    stage = mem.limiting
    layout = stage.kv
    blocks = mem.num_blocks
    available = stage.available
    failed: list[str] = []

    short = mem.pinned_shortfall  # a pool pinned by kv_cache_memory_bytes that does not fit beside the rest
    weights_fit = available.expected > 0 and short == 0
    one_request = layout.blocks_per_request(max_model_len)
    starts = weights_fit and blocks >= one_request
    if short:
        failed.append(
            f"vLLM does not start: weights, working memory, CUDA graphs and the {available.expected / GIB:.2f} GiB KV pool "
            f"asked for need {short / GIB:.2f} GiB more than the GPU has free"
        )
    elif not weights_fit:
        failed.append(
            f"vLLM does not start: weights and working memory need {stage.non_kv.expected / GIB:.2f} GiB per GPU "
            f"but the budget is {stage.budget / GIB:.2f} GiB ({-available.expected / GIB:.2f} GiB short)"
        )
    elif not starts:
        fit_len = layout.max_tokens_per_request(blocks, 1, model_limit)
        failed.append(
            f"vLLM does not start: one request of max_model_len {max_model_len:,} tokens needs "
            f"{one_request * layout.bytes_per_block / GIB:.2f} GiB of KV cache but only "
            f"{blocks * layout.bytes_per_block / GIB:.2f} GiB is available (longest that fits: {fit_len:,} tokens)"
        )
    return weights_fit, starts, one_request, failed


def _maxima(mem: MemoryPlan, context_tokens: int, concurrency: int, max_model_len: int,
            model_limit: int) -> tuple[int, int, float]:
    """What the pool holds: requests of ``context_tokens``, the longest context for ``concurrency``
    requests, and requests of ``max_model_len`` (fractional)."""
    layout, blocks = mem.limiting.kv, mem.num_blocks
    return (blocks // layout.blocks_per_request(context_tokens),
            layout.max_tokens_per_request(blocks, concurrency, model_limit),
            layout.max_concurrency(blocks, max_model_len))


def committed_fraction(stage: StageMemory, kv_needed_bytes: float) -> float:
    """Share of vLLM's budget the plan commits: everything but the KV cache, plus the KV the workload needs.

    Above 1 the workload does not fit at once; far above 1 vLLM does not even
    start (what the OOM gauge shows, and how many times the budget a plan needs).
    """
    if stage.kv_pinned is not None:  # a pinned pool sits beside the rest, not inside the utilization's budget
        return (stage.non_kv.expected + max(stage.kv_pinned, kv_needed_bytes)) / stage.budget
    return (stage.non_kv.expected + kv_needed_bytes) / stage.budget


def _oom_risk(mem: MemoryPlan, starts: bool, one_request: int, needed_blocks: int,
              consumer_gpu: bool, utilization: float) -> tuple[str, str]:
    """low / medium / high, with the rule that decided it."""
    outside = (mem.gpu_total - mem.budget) / GIB
    pessimistic = mem.num_blocks_at("low")
    if not starts:
        return "high", "vLLM would fail at start-up with these settings"
    if outside < OUTSIDE_BUDGET_HIGH_RISK_GIB:
        return "high", f"only {outside:.2f} GiB stays outside vLLM's budget (< {OUTSIDE_BUDGET_HIGH_RISK_GIB} GiB) for CUDA-graph capture and the CUDA context"
    if pessimistic < one_request:
        return "medium", "at the high end of the activation and CUDA-graph estimates the KV cache cannot hold one max_model_len request (vLLM would refuse to start)"
    if consumer_gpu and utilization > CONSUMER_UTILIZATION:
        return "medium", f"gpu_memory_utilization {utilization:g} > {CONSUMER_UTILIZATION} on a consumer card that may drive a display: vLLM refuses to start when free memory is below its budget"
    if outside < OUTSIDE_BUDGET_MEDIUM_RISK_GIB:
        return "medium", f"{outside:.2f} GiB outside vLLM's budget (< {OUTSIDE_BUDGET_MEDIUM_RISK_GIB} GiB) leaves little slack for CUDA-graph capture"
    if pessimistic < needed_blocks:
        return "medium", "at the high end of the estimates the requested workload no longer fits at once (vLLM would preempt requests)"
    return "low", (
        f"{outside:.2f} GiB stays outside the budget (>= {OUTSIDE_BUDGET_MEDIUM_RISK_GIB} GiB) and its memory fits even at the "
        "high end of the activation and CUDA-graph estimates"
    )
