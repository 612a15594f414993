"""Workloads as ``vllm bench serve`` (vLLM 0.33) defines them: when requests are sent, how long they are.

Arrivals follow ``vllm/benchmarks/serve.py: get_request``: rate inf sends
everything at 0; a finite rate draws gaps from gamma(shape=b, scale=1/(rate b))
(b = burstiness, 1 = Poisson, inf = constant gaps), the first request waits its
gap too, and the cumulative times are rescaled so the last arrival is at N/rate.
``max_concurrency`` makes it a closed loop: the simulator holds each request
until one of the C in flight finishes.

Lengths: "fixed"; "random" as the random dataset draws them (uniform integers
in [floor(L(1-r)), ceil(L(1+r))], at least 1); "sharegpt", a parametric model
of ShareGPT V3 after bench's length filter (``wizard/data/sharegpt_v3_lengths.json``
holds the published statistics, their source and the fit) rescaled to the
requested means; "explicit" replays per-request lengths, e.g. the ``input_lens``
and ``output_lens`` of a saved bench result.  Everything is deterministic for a
seed (``numpy.random.default_rng``), though not the same draws as bench's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from statistics import NormalDist

import numpy as np
from numpy.random import Generator, default_rng

from wizard.errors import WizardError

DISTRIBUTIONS = ("fixed", "random", "sharegpt", "explicit")
SHAREGPT_FILE = Path(__file__).parents[1] / "data" / "sharegpt_v3_lengths.json"
# vllm/benchmarks/datasets: is_valid_sequence drops ShareGPT pairs outside these bounds.
SHAREGPT_MIN_TOKENS = 4
SHAREGPT_MAX_PROMPT_TOKENS = 1024
SHAREGPT_MAX_TOTAL_TOKENS = 2048


@dataclass(frozen=True)
class Traffic:
    """One ``vllm bench serve`` run: how many requests, when they are sent, how long they are.

    ``prompt_tokens`` / ``output_tokens`` are the lengths for "fixed", the centres
    for "random" (bench's --random-input-len minus the tokenizer's special tokens,
    and --random-output-len) and the means for "sharegpt".  "explicit" takes
    ``input_lens`` / ``output_lens`` (one entry per prompt) instead.
    """

    num_prompts: int = 1000
    request_rate: float = math.inf  # requests per second; inf sends everything at once
    burstiness: float = 1.0  # gamma shape of the gaps: 1 = Poisson, inf = constant gaps
    max_concurrency: int | None = None  # closed loop of this many clients
    prompt_tokens: int = 1024
    output_tokens: int = 128
    distribution: str = "random"
    range_ratio: float = 0.0  # --random-range-ratio
    seed: int = 0
    input_lens: tuple[int, ...] | None = None
    output_lens: tuple[int, ...] | None = None
    # A closed loop measured in steady state: its clients start at random phases of a request's life, where bench
    # starts them all at once (the saturated run that measures the sustainable rate).
    warm: bool = False

    def __post_init__(self) -> None:
        if self.num_prompts < 1:
            raise WizardError(f"num_prompts must be at least 1 (got {self.num_prompts})")
        if not self.request_rate > 0:
            raise WizardError(f"request_rate must be positive or inf (got {self.request_rate})")
        if not self.burstiness > 0:
            raise WizardError(f"burstiness must be positive or inf (got {self.burstiness})")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise WizardError(f"max_concurrency must be at least 1 (got {self.max_concurrency})")
        if self.distribution not in DISTRIBUTIONS:
            raise WizardError(f"length distribution must be one of {', '.join(DISTRIBUTIONS)} (got {self.distribution!r})")
        if not 0 <= self.range_ratio < 1:
            raise WizardError(f"range_ratio must be in [0, 1), as vllm bench requires (got {self.range_ratio})")
        if self.distribution == "explicit":
            for name, lens in (("input_lens", self.input_lens), ("output_lens", self.output_lens)):
                if lens is None or len(lens) != self.num_prompts:
                    raise WizardError(f"explicit lengths need {name} with one entry per prompt ({self.num_prompts})")
                if min(lens) < 1:
                    raise WizardError(f"every entry of {name} must be at least 1 token")
        elif self.prompt_tokens < 1 or self.output_tokens < 1:
            raise WizardError("prompt_tokens and output_tokens must be at least 1")

    @classmethod
    def replay(cls, input_lens: list[int], output_lens: list[int], **run: object) -> Traffic:
        """A run with the per-request lengths of a saved bench result (its input_lens / output_lens)."""
        return cls(num_prompts=len(input_lens), distribution="explicit", input_lens=tuple(int(n) for n in input_lens),
                   output_lens=tuple(int(n) for n in output_lens), **run)  # type: ignore[arg-type]


def arrival_times_s(traffic: Traffic, rng: Generator) -> np.ndarray:
    """When bench sends each request, seconds after the run starts (before any concurrency gate)."""
    n, rate = traffic.num_prompts, traffic.request_rate
    if math.isinf(rate):
        return np.zeros(n)
    if math.isinf(traffic.burstiness):
        gaps = np.full(n, 1.0 / rate)
    else:
        gaps = rng.gamma(shape=traffic.burstiness, scale=1.0 / (rate * traffic.burstiness), size=n)
    times = np.cumsum(gaps)
    target_s = n / rate
    times *= target_s / times[-1]
    times[-1] = target_s  # exact, whatever the rounding of the rescale
    return times


def lengths(traffic: Traffic, rng: Generator) -> tuple[np.ndarray, np.ndarray]:
    """Prompt and output tokens of every request (int64 arrays)."""
    n = traffic.num_prompts
    if traffic.distribution == "explicit":
        return np.array(traffic.input_lens, dtype=np.int64), np.array(traffic.output_lens, dtype=np.int64)
    if traffic.distribution == "fixed":
        return np.full(n, traffic.prompt_tokens, dtype=np.int64), np.full(n, traffic.output_tokens, dtype=np.int64)
    if traffic.distribution == "random":
        return (_uniform_around(rng, traffic.prompt_tokens, traffic.range_ratio, n),
                _uniform_around(rng, traffic.output_tokens, traffic.range_ratio, n))
    return _sharegpt(rng, traffic.prompt_tokens, traffic.output_tokens, n)


def draw(traffic: Traffic) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(send times s, prompt tokens, output tokens) for the run, from its seed: lengths first, as bench samples them."""
    rng = default_rng(traffic.seed)
    prompt, output = lengths(traffic, rng)
    return arrival_times_s(traffic, rng), prompt, output


def _uniform_around(rng: Generator, center: int, ratio: float, n: int) -> np.ndarray:
    """The random dataset's lengths: uniform integers in [floor(L(1-r)), ceil(L(1+r))], at least 1 token."""
    low = math.floor(center * (1 - ratio))
    high = math.ceil(center * (1 + ratio))
    return np.maximum(rng.integers(low, high + 1, size=n), 1).astype(np.int64)


@cache
def sharegpt_stats() -> dict:
    """The published ShareGPT V3 length statistics, their source and the fitted model."""
    return json.loads(SHAREGPT_FILE.read_text())


def _truncated_lognormal_mean(mu: float, sigma: float, low: float, high: float) -> float:
    """Mean of a log-normal restricted to [low, high]."""
    norm = NormalDist()
    a, b = (math.log(low) - mu) / sigma, (math.log(high) - mu) / sigma
    inside = norm.cdf(b) - norm.cdf(a)
    return math.exp(mu + sigma * sigma / 2) * (norm.cdf(b - sigma) - norm.cdf(a - sigma)) / inside


def _sharegpt(rng: Generator, mean_prompt: int, mean_output: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """ShareGPT-like pairs: draw from the fitted truncated log-normals, keep what bench's filter keeps,
    then scale every length so the model's means become the requested ones."""
    fit_p, fit_o = sharegpt_stats()["prompt"]["fit"], sharegpt_stats()["output"]["fit"]
    prompts: list[np.ndarray] = []
    outputs: list[np.ndarray] = []
    kept = 0
    while kept < n:
        batch = 8 * (n - kept) + 64  # about one pair in six survives the truncations and the filter
        p = np.rint(rng.lognormal(fit_p["mu"], fit_p["sigma"], batch))
        o = np.rint(rng.lognormal(fit_o["mu"], fit_o["sigma"], batch))
        ok = ((p >= max(fit_p["min_tokens"], SHAREGPT_MIN_TOKENS)) & (p <= min(fit_p["max_tokens"], SHAREGPT_MAX_PROMPT_TOKENS))
              & (o >= max(fit_o["min_tokens"], SHAREGPT_MIN_TOKENS)) & (o <= fit_o["max_tokens"])
              & (p + o <= SHAREGPT_MAX_TOTAL_TOKENS))
        prompts.append(p[ok])
        outputs.append(o[ok])
        kept += int(ok.sum())
    p_all, o_all = np.concatenate(prompts)[:n], np.concatenate(outputs)[:n]
    # Whole tokens between min and max: the continuous truncation is [min - 0.5, max + 0.5].
    model_p = _truncated_lognormal_mean(fit_p["mu"], fit_p["sigma"], fit_p["min_tokens"] - 0.5, fit_p["max_tokens"] + 0.5)
    model_o = _truncated_lognormal_mean(fit_o["mu"], fit_o["sigma"], fit_o["min_tokens"] - 0.5, fit_o["max_tokens"] + 0.5)
    scaled_p = np.maximum(np.rint(p_all * (mean_prompt / model_p)), 1).astype(np.int64)
    scaled_o = np.maximum(np.rint(o_all * (mean_output / model_o)), 1).astype(np.int64)
    return scaled_p, scaled_o
