#!/usr/bin/env python3
"""Which completions of the saturated run measure the sustainable rate.

The plan's sustainable rate is the completion rate of a closed loop as wide as the
engine runs at once (planning/performance.py: sustainable_rate), each client sending
SATURATION_RUNS_PER_CLIENT requests in turn, measured between STEADY_QUANTILES of the
completions.  The first wave's completions (the ramp) and the last ones (the drain:
clients that have sent their last request leave the batch) are not steady state.

This prints, for deployments of dense, MoE, MLA and sliding-window models, KV-bound and
seat-bound, one engine and data-parallel, the rate each window of a 3-runs-per-client
run reads against the reference: the middle half of an 8-runs-per-client run.  The
columns name the window in units of the loop's width W (completions [a W, b W]) and
how many completions it must simulate.

    python benchmarks/saturation_window.py
"""

from __future__ import annotations

import statistics

import numpy as np

from wizard.errors import WizardError
from wizard.planning import performance
from wizard.planning.inputs import resolve_inputs
from wizard.planning.search import search
from wizard.schema import parse_request

CASES = [
    ("openai/gpt-oss-120b", "GB200", 1, {}),
    ("openai/gpt-oss-120b", "H100 SXM 80GB", 1, {}),
    ("openai/gpt-oss-120b", "RTX A6000", 2, {}),
    ("meta-llama/Llama-3.1-8B-Instruct", "H100 SXM 80GB", 1, {}),
    ("meta-llama/Llama-3.1-8B-Instruct", "L4", 1, {}),
    ("meta-llama/Llama-3.1-8B-Instruct", "A100 SXM 80GB", 1, {"prompt_tokens": 128, "gen_tokens": 1024}),
    ("meta-llama/Llama-3.1-70B-Instruct", "H100 SXM 80GB", 4, {}),
    ("Qwen/Qwen3-32B", "L40S", 2, {"length_distribution": "sharegpt"}),
    ("Qwen/Qwen3-235B-A22B-FP8", "H200 SXM 141GB", 4, {}),
    ("deepseek-ai/DeepSeek-V3", "H200 SXM 141GB", 8, {}),
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", "H100 SXM 80GB", 2, {"length_distribution": "random", "range_ratio": 0.5}),
    ("google/gemma-3-27b-it", "H100 SXM 80GB", 1, {}),
]
REFERENCE = (8, 0.25, 0.75)  # runs per client, window quantiles
WINDOWS = {"[0.75W, 2.25W]": (0.25, 0.75), "[0.75W, 1.75W]": (0.25, 1.75 / 3), "[W, 2W]": (1 / 3, 2 / 3),
           "[W, 1.5W]": (1 / 3, 0.5)}
RUNS = 3


def completions(inp, cand, runs: int) -> np.ndarray:
    """Sorted completion times of the saturated run with ``runs`` requests per client."""
    result = performance.simulate_plan(inp, cand, performance.saturated_run(inp, cand, runs))
    return np.sort(result.send_s + result.e2e_s)


def rate(done: np.ndarray, q0: float, q1: float) -> float:
    first, last = int(q0 * (len(done) - 1)), int(q1 * (len(done) - 1))
    return (last - first) / (done[last] - done[first])


def main() -> int:
    print(f"{'deployment':<52} {'W':>5} {'reference/s':>11} " + " ".join(f"{name:>15}" for name in WINDOWS))
    errors: dict[str, list[float]] = {name: [] for name in WINDOWS}
    for model, gpu, gpus, extra in CASES:
        request = parse_request({"model": model, "gpu": gpu, "gpus": gpus, "prompt_tokens": 1024, "gen_tokens": 256,
                                 "concurrency": 32, **extra})
        try:
            inp = resolve_inputs(request, detected=[])
        except WizardError as exc:
            print(f"{model} on {gpu}: {exc}")
            continue
        cand = search(inp).candidate
        if not cand.verdict.fits:
            print(f"{model} on {gpus} x {gpu}: does not fit")
            continue
        width = performance.saturated_run(inp, cand).max_concurrency // performance.engines(inp, cand)
        runs, q0, q1 = REFERENCE
        reference = rate(completions(inp, cand, runs), q0, q1)
        done = completions(inp, cand, RUNS)
        cells = []
        for name, (a, b) in WINDOWS.items():
            error = rate(done, a, b) / reference - 1
            errors[name].append(abs(error))
            cells.append(f"{error:>+15.1%}")
        print(f"{model.split('/')[-1][:30] + ' on ' + str(gpus) + ' x ' + gpu:<52} {width:>5} {reference:>11.3f} " + " ".join(cells))
    print(f"\n{RUNS} runs per client against {REFERENCE[0]} (middle half); |error| median / max, and the completions "
          "each window simulates:")
    for name, (_, b) in WINDOWS.items():
        print(f"  {name:<16} {statistics.median(errors[name]):6.1%} / {max(errors[name]):6.1%}   {b * RUNS:.2f} W")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
