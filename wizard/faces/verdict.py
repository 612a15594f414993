"""The plan's overload verdict in words, one sentence for every face (the page's headline, the CLI's verdict line).

A plan that fits can still be overloaded (``PerformanceReport.saturated``): requests arrive faster than it
sustains, or more are asked for at once than vLLM runs at once, and the rest wait in its queue.
"""

from __future__ import annotations

from wizard.faces import format as fmt
from wizard.planning.performance import CUT_BECAUSE, cut_short
from wizard.schema import PlanResponse
from wizard.schema.results import SweepResult, SweepRow


def overload(resp: PlanResponse) -> str | None:
    """Why a plan that fits is overloaded, in a few words; None when it is not (or nothing was simulated)."""
    perf, wl = resp.performance, resp.request.workload
    if perf is None or not perf.saturated:
        return None
    if perf.keeps_up is False:  # a finite rate beyond what the plan sustains
        return (f"sustains about {fmt.number(perf.max_request_rate_per_s.expected)} requests/s, "
                f"not the {fmt.number(wl.request_rate)} asked")
    at_once = wl.num_prompts if wl.bursty else wl.requests_at_once  # a burst asks for every prompt at once
    return f"not all {fmt.requests(at_once)} are served at once"


def simulated_in_part(resp: PlanResponse) -> bool:
    """Whether the simulation was cut before every request of the run completed (too long to simulate in full)."""
    return resp.performance is not None and cut_short(resp.performance.simulated_requests, resp.request.workload.num_prompts)


def sweep_refused(result: SweepResult) -> str | None:
    """Why a sweep that lists nothing because vLLM refuses the requests cannot list anything (None otherwise)."""
    if result.results or not result.rejected.get("refused"):
        return None
    return ("vLLM refuses these requests on every GPU: they are longer than max_model_len (the one set, or the "
            "model's maximum). Set a longer max_model_len where the model allows it, or shorten the requests.")


def sweep_stopped(result: SweepResult) -> str | None:
    """Why a sweep's simulation verified fewer rows than usual, in words (None when it did not stop short)."""
    if not result.verification_stopped:
        return None
    return ("simulating every configuration near a target for this workload would take more than a few seconds, so "
            "the simulation stopped at its work budget and verified the cheapest the screen rates well inside the "
            f"targets; {fmt.count(result.rejected.get('unverified', 0))} configurations near a target are left "
            "unverified (sweep fewer GPU types, or plan one to simulate it)")


def sweep_in_part(rows: list[SweepRow]) -> str | None:
    """The sweep's simulated runs that were cut before all their requests completed, in words (None if none was)."""
    cut = [r.simulated_requests for r in rows
           if r.simulated_requests is not None and cut_short(r.simulated_requests, r.request.workload.num_prompts)]
    if not cut:
        return None
    served = fmt.count(min(cut)) if min(cut) == max(cut) else f"{fmt.count(min(cut))}–{fmt.count(max(cut))}"
    return (f"{fmt.count(len(cut))} simulated run{'s were' if len(cut) > 1 else ' was'} cut after {served} of the "
            f"{fmt.count(rows[0].request.workload.num_prompts)} requests completed, as {CUT_BECAUSE}: their figures "
            "are those of the requests served by then")


def at_a_time(resp: PlanResponse) -> str:
    """What vLLM runs at once across the deployment, and which limit holds it there: the seats (max_num_seqs of
    every engine of every replica) or the KV cache (its request count is one replica's engines)."""
    hw, f = resp.hardware, resp.feasibility
    seats = resp.memory.max_num_seqs * hw.data_parallel_size * hw.replicas
    held = f.max_concurrency * hw.replicas
    if seats <= held:
        return f"{fmt.count(seats)} sequence{'s' if seats != 1 else ''} at a time (max_num_seqs)"
    return f"{fmt.requests(held)} of {fmt.tokens(f.context_tokens)} at a time (what the KV cache holds)"
