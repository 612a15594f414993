#!/usr/bin/env python3
"""The sweep's analytic screen against the simulation that decides: simulated / screened figures.

For each model, workload and length pair the whole catalog is screened as a
sweep screens it (every GPU, GPUs per node, nodes, weight format and KV dtype;
no targets, so nothing is left out for missing one), the fleets are ranked by
cost, and PER of them, evenly spread over the ranking, are simulated at the
fleet size the screen gave them.  The table shows, per workload kind, how far
the simulation's mean time per output token, mean TTFT and sustainable rate
land from the screen's (the time per output token of closed loops and bursts
also by the screen's prefill share of a steady step): the spread that the
sweep's pruning slacks (SCREEN_SLACK, and the time per output token's by kind
and prefill share) must cover below 1, so that the screen does not prune what
the simulation would accept, and sweep.SCREEN_LIST_SLACK above 1 (below 1 for
the rate), so that a row listed on the screen's word, unsimulated, meets the
targets in simulation too.

    python benchmarks/screen_error.py
"""

from __future__ import annotations

import statistics
from dataclasses import replace

from wizard.capacity import sweep as sw
from wizard.capacity.prices import price_of
from wizard.catalog.gpus import catalog
from wizard.physics import screen
from wizard.planning.performance import screen_workload, simulated_figures, step_model
from wizard.schema import parse_request

MODELS = ["meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-70B-Instruct", "openai/gpt-oss-120b",
          "Qwen/Qwen3-235B-A22B-FP8", "Qwen/Qwen3-8B", "Qwen/Qwen3-32B", "google/gemma-3-27b-it",
          "mistralai/Mixtral-8x7B-Instruct-v0.1", "deepseek-ai/DeepSeek-V3", "meta-llama/Llama-3.1-405B-Instruct"]
LENGTHS = [(1024, 256), (3000, 500), (200, 1000), (4000, 200)]  # prompt, output tokens
INF = float("inf")
WORKLOADS = {  # kind -> workload fields
    "closed loop, 1 client": [{"concurrency": 1}],
    "closed loop, 2-256 clients": [{"concurrency": c} for c in (2, 4, 8, 16, 32, 64, 128, 256)],
    "burst of 200 or 1,000": [{"concurrency": None, "request_rate": INF, "num_prompts": n} for n in (200, 1000)],
    "Poisson, 5 or 20 req/s": [{"concurrency": None, "request_rate": r, "num_prompts": 500} for r in (5.0, 20.0)],
}
PER = 6  # simulated fleets per model, workload and length pair


def ratios(model: str, fields: dict[str, object], prompt: int, output: int) -> list[tuple[float, float, float, float]]:
    """Simulated / screened mean TPOT, mean TTFT and sustainable rate of PER fleets spread over the cost ranking,
    and the screen's prefill share of a steady step (what a closed loop's or burst's slack follows)."""
    prices = {g.name: 1.0 for g in catalog() if price_of(g) is None}  # placeholder: the whole catalog
    base = parse_request({"model": model, "prompt_tokens": prompt, "gen_tokens": output, **fields})
    rows = sw.screen_all(base, prices=prices).rows
    out = []
    for row, inp, cand in rows[::max(1, len(rows) // PER)][:PER]:
        fleet = replace(inp, request=sw.with_replicas(inp.request, row.replicas))
        sim = simulated_figures(fleet, cand)
        model, wl = step_model(fleet, cand), screen_workload(base, cand.engine.dp * row.replicas)
        rated = screen.estimate(model, cand.engine, cand.memory, wl)
        out.append((sim.itl_ms / row.itl_ms, sim.ttft_ms / row.ttft_ms,
                    sim.max_request_rate_per_s / row.max_request_rate_per_s,
                    screen.prefill_share(model, cand.engine, wl, rated.batch)))
    return out


def _line(label: str, figure: str, v: list[float]) -> str:
    v, tail = sorted(v), len(v) // 20
    return (f"{label:<40} {figure:<6} {len(v):>6} {v[0]:>6.2f} {v[tail]:>6.2f} {statistics.median(v):>6.2f} "
            f"{v[-1 - tail]:>6.2f} {v[-1]:>6.2f}")


def _by_kind(slacks: dict[str, float]) -> str:
    return ", ".join(f"{slack} x for a {kind}" for kind, slack in slacks.items())


def main() -> None:
    print(f"{'workload':<40} {'figure':<6} {'fleets':>6} {'min':>6} {'p5':>6} {'median':>6} {'p95':>6} {'max':>6}")
    for kind, variants in WORKLOADS.items():
        found = [r for model in MODELS for fields in variants for p, o in LENGTHS for r in ratios(model, fields, p, o)]
        for i, figure in enumerate(("TPOT", "TTFT", "rate")):
            print(_line(kind, figure, [r[i] for r in found]))
        if not kind.startswith("Poisson"):  # a closed loop's or a burst's time per output token: by prefill share
            bands = ((0.0, sw.PREFILL_LIGHT_SHARE), (sw.PREFILL_LIGHT_SHARE, sw.PREFILL_HEAVY_SHARE),
                     (sw.PREFILL_HEAVY_SHARE, float("inf")))
            for low, high in bands:
                part = [r[0] for r in found if low <= r[3] < high]
                if part:
                    print(_line(f"  prefill share {low:g}-{high:g}", "TPOT", part))
    print(f"\nsimulated / screened: below 1 the screen is pessimistic, and prunes what it rates more than "
          f"{sw.SCREEN_SLACK} x a target (a time per output token target: {_by_kind(sw.TPOT_SLACK)}, "
          f"{sw.PREFILL_HEAVY_TPOT_SLACK} x for a closed loop or a burst where the prefill takes "
          f"{sw.PREFILL_HEAVY_SHARE:.0%} of a steady step or more, {sw.PREFILL_LIGHT_TPOT_SLACK} x for a closed loop "
          f"where it takes less than {sw.PREFILL_LIGHT_SHARE:.0%}); above 1 it is optimistic, and lists a row "
          f"unsimulated only {sw.SCREEN_LIST_SLACK} x inside every target (a time per output token target: "
          f"{_by_kind(sw.LIST_TPOT_SLACK)})")


if __name__ == "__main__":
    main()
