#!/usr/bin/env python3
"""Simulation work: the units that bound a simulated run (physics/scheduler.py's STEP_WORK and the others)
against the wall time they stand for, and what the budget does to runs too long to simulate whole.

The first table simulates bench-shaped runs whole (no budget) and prints each run's work in units and its
wall time per unit: the unit weights hold while every run reads roughly the same microseconds a unit (they
were fitted to read 0.5-1.3 us here).  The second plans runs far past the budget through the planner
(SIM_WORK_BUDGET): each must answer in a few seconds, with how many of its requests it served.

    python benchmarks/sim_work.py
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from wizard.physics.simulate import simulate_traffic
from wizard.planning.inputs import resolve_inputs
from wizard.planning.performance import (
    SIM_WORK_BUDGET,
    engine_limits,
    engines,
    step_model,
    traffic,
)
from wizard.planning.planner import plan
from wizard.planning.search import search
from wizard.schema import parse_request

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
WHOLE = [  # (model, gpu, workload): closed loops, rates and bursts of 200-20,000 requests
    (LLAMA_8B, "H100", {"num_prompts": 2000, "concurrency": 1, "prompt_tokens": 128, "gen_tokens": 1024}),
    (LLAMA_8B, "H100", {"num_prompts": 5000, "request_rate": "inf", "prompt_tokens": 1024, "gen_tokens": 1024}),
    (LLAMA_8B, "H100", {"num_prompts": 5000, "request_rate": "inf", "prompt_tokens": 128, "gen_tokens": 128}),
    (LLAMA_8B, "H100", {"num_prompts": 5000, "request_rate": 2, "prompt_tokens": 512, "gen_tokens": 512}),
    (LLAMA_8B, "H100", {"num_prompts": 5000, "request_rate": 50, "prompt_tokens": 512, "gen_tokens": 512}),
    (LLAMA_8B, "H100", {"num_prompts": 5000, "concurrency": 64, "prompt_tokens": 2048, "gen_tokens": 256}),
    (LLAMA_8B, "H100", {"num_prompts": 200, "concurrency": 4, "prompt_tokens": 100000, "gen_tokens": 256}),
    (LLAMA_8B, "RTX 4090", {"num_prompts": 3000, "request_rate": "inf", "prompt_tokens": 1024, "gen_tokens": 512}),
    ("Qwen/Qwen3-30B-A3B", "H100", {"num_prompts": 3000, "request_rate": "inf", "prompt_tokens": 256, "gen_tokens": 2048}),
    (LLAMA_8B, "H100", {"num_prompts": 20000, "concurrency": 256, "prompt_tokens": 256, "gen_tokens": 256}),
    ("google/gemma-3-27b-it", "H100", {"num_prompts": 1000, "request_rate": "inf", "prompt_tokens": 1024,
                                       "gen_tokens": 1000}),
    (LLAMA_8B, "H100", {"num_prompts": 3000, "request_rate": 0.5, "prompt_tokens": 8000, "gen_tokens": 2000,
                        "length_distribution": "sharegpt"}),
    ("openai/gpt-oss-120b", "H100", {"num_prompts": 3000, "request_rate": 20, "prompt_tokens": 1000, "gen_tokens": 1000}),
]
PAST_THE_BUDGET = [  # uncut, these took 27 s to 400 s (and 24 GB) here
    (LLAMA_8B, "H100", {"num_prompts": 100000, "concurrency": 1, "prompt_tokens": 128, "gen_tokens": 4096}),
    (LLAMA_8B, "H100", {"num_prompts": 100000, "request_rate": "inf", "prompt_tokens": 1024, "gen_tokens": 1024}),
    (LLAMA_8B, "H100", {"num_prompts": 100000, "request_rate": 0.2, "prompt_tokens": 1024, "gen_tokens": 8192}),
    (LLAMA_8B, "H100", {"num_prompts": 10, "concurrency": 1, "prompt_tokens": 128, "gen_tokens": 130000}),
]


def label(model: str, gpu: str, workload: dict) -> str:
    shape = ", ".join(f"{k}={v}" for k, v in workload.items() if k not in ("prompt_tokens", "gen_tokens"))
    return f"{model.split('/')[1][:14]} {gpu} {workload['prompt_tokens']}+{workload['gen_tokens']} {shape}"[:78]


def main() -> int:
    print(f"{'whole run (no budget)':<78} {'steps':>10} {'work':>11} {'wall s':>7} {'us/unit':>8}")
    per_unit = []
    for model, gpu, workload in WHOLE:
        request = parse_request({"model": model, "gpu": gpu, **workload})
        inp = resolve_inputs(request)
        cand = search(inp).candidate
        costs = step_model(inp, cand)
        run = traffic(request.workload, cand.engine.max_model_len)
        start = time.perf_counter()
        result = simulate_traffic(run, engine_limits(inp, cand, costs), costs.step_seconds,
                                  engines=engines(inp, cand))
        seconds = time.perf_counter() - start
        assert result is not None
        per_unit.append(seconds / result.work * 1e6)
        print(f"{label(model, gpu, workload):<78} {result.steps:>10,} {result.work:>11,} {seconds:>7.2f} {per_unit[-1]:>8.2f}")
    print(f"\nwall time per unit of work: {min(per_unit):.2f}-{max(per_unit):.2f} us over {len(per_unit)} runs\n")
    print(f"{'planned past the budget (' + format(SIM_WORK_BUDGET, ',') + ' units)':<78} {'served':>15} {'wall s':>7}")
    for model, gpu, workload in PAST_THE_BUDGET:
        start = time.perf_counter()
        perf = plan(parse_request({"model": model, "gpu": gpu, **workload}), detected=[]).performance
        seconds = time.perf_counter() - start
        assert perf is not None
        served = f"{perf.simulated_requests:,}/{workload['num_prompts']:,}"
        print(f"{label(model, gpu, workload):<78} {served:>15} {seconds:>7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
