"""Workloads as vllm bench serve sends them: arrival times and lengths, against hand-checked values."""

import math

import numpy as np
import pytest

from wizard.errors import WizardError
from wizard.physics.traffic import (
    Traffic,
    _truncated_lognormal_mean,
    arrival_times_s,
    draw,
    lengths,
    sharegpt_stats,
)


def test_infinite_rate_sends_everything_at_zero():
    times = arrival_times_s(Traffic(num_prompts=50), np.random.default_rng(0))
    assert times.tolist() == [0.0] * 50


@pytest.mark.parametrize("burstiness", [1.0, 0.3, 4.0])
def test_gamma_arrivals_end_exactly_at_n_over_rate(burstiness):
    times = arrival_times_s(Traffic(num_prompts=200, request_rate=8.0, burstiness=burstiness), np.random.default_rng(3))
    assert times[-1] == 200 / 8.0
    assert times[0] > 0  # the first request waits its gap too
    assert np.all(np.diff(times) >= 0)


def test_gamma_gaps_are_drawn_then_rescaled():
    # bench: gaps from gamma(shape=b, scale=1/(rate b)), cumulated, scaled so the last lands on N/rate.
    gaps = np.random.default_rng(7).gamma(shape=2.0, scale=1 / (5.0 * 2.0), size=4)
    cumulative = np.cumsum(gaps)
    expected = cumulative * (4 / 5.0) / cumulative[-1]
    times = arrival_times_s(Traffic(num_prompts=4, request_rate=5.0, burstiness=2.0), np.random.default_rng(7))
    assert times[:3] == pytest.approx(expected[:3], rel=1e-15)
    assert times[3] == 0.8


def test_infinite_burstiness_gives_constant_gaps():
    times = arrival_times_s(Traffic(num_prompts=4, request_rate=2.0, burstiness=math.inf), np.random.default_rng(0))
    assert times.tolist() == [0.5, 1.0, 1.5, 2.0]


def test_fixed_lengths():
    prompt, output = lengths(Traffic(num_prompts=3, prompt_tokens=700, output_tokens=90, distribution="fixed"),
                             np.random.default_rng(0))
    assert prompt.tolist() == [700] * 3 and output.tolist() == [90] * 3


def test_random_lengths_stay_inside_the_bench_bounds_and_reach_both_ends():
    # [floor(1000 x 0.75), ceil(1000 x 1.25)] = [750, 1250]; outputs [floor(7.5), ceil(12.5)] = [7, 13]
    traffic = Traffic(num_prompts=5000, prompt_tokens=1000, output_tokens=10, range_ratio=0.25)
    prompt, output = lengths(traffic, np.random.default_rng(1))
    assert prompt.min() == 750 and prompt.max() == 1250
    assert output.min() == 7 and output.max() == 13


def test_random_lengths_are_at_least_one_token():
    # outputs of 2 with ratio 0.9 span [floor(0.2), ceil(3.8)] = [0, 4]; bench keeps at least 1
    prompt, output = lengths(Traffic(num_prompts=2000, prompt_tokens=2, output_tokens=2, range_ratio=0.9),
                             np.random.default_rng(2))
    assert output.min() == 1 and output.max() == 4
    assert prompt.min() == 1


def test_ratio_zero_is_the_fixed_length():
    prompt, output = lengths(Traffic(num_prompts=10, prompt_tokens=1024, output_tokens=128), np.random.default_rng(5))
    assert set(prompt.tolist()) == {1024} and set(output.tolist()) == {128}


def test_same_seed_same_requests_other_seed_other_requests():
    traffic = Traffic(num_prompts=100, request_rate=3.0, prompt_tokens=500, output_tokens=200, distribution="sharegpt")
    a, b = draw(traffic), draw(traffic)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    other = draw(Traffic(num_prompts=100, request_rate=3.0, prompt_tokens=500, output_tokens=200,
                         distribution="sharegpt", seed=1))
    assert not np.array_equal(a[1], other[1])


def test_sharegpt_at_the_model_means_keeps_the_bench_filter():
    # Asking for the fitted model's own means leaves the lengths unscaled, so bench's filter shows:
    # prompts in [4, 1024], outputs in [4, 780] (the fitted cap), prompt + output <= 2048.
    stats = sharegpt_stats()

    def model_mean(part):
        fit = stats[part]["fit"]
        return _truncated_lognormal_mean(fit["mu"], fit["sigma"], fit["min_tokens"] - 0.5, fit["max_tokens"] + 0.5)

    mean_p, mean_o = model_mean("prompt"), model_mean("output")
    assert round(mean_p) == 201 and round(mean_o) == 213  # the fit notes in the data file
    prompt, output = lengths(Traffic(num_prompts=20000, prompt_tokens=round(mean_p), output_tokens=round(mean_o),
                                     distribution="sharegpt"), np.random.default_rng(0))
    assert prompt.min() >= 4 and prompt.max() <= 1024
    assert output.min() >= 4 and output.max() <= 781  # 780 scaled by round(mean)/mean, rounded
    assert np.all(prompt + output <= 2048)


def test_sharegpt_is_rescaled_to_the_requested_means_and_keeps_its_spread():
    prompt, output = lengths(Traffic(num_prompts=20000, prompt_tokens=1000, output_tokens=500, distribution="sharegpt"),
                             np.random.default_rng(4))
    assert prompt.mean() == pytest.approx(1000, rel=0.03)
    assert output.mean() == pytest.approx(500, rel=0.03)
    # Published shape: median well under the mean for prompts (77 vs 205), p90 about 3x the mean.
    assert np.median(prompt) < 0.6 * prompt.mean()
    assert np.percentile(prompt, 90) > 2.5 * prompt.mean()


def test_sharegpt_statistics_name_their_source():
    stats = sharegpt_stats()
    assert stats["source"].startswith("https://github.com/")
    assert stats["prompt"]["published"]["p50"] == 77.0 and stats["output"]["published"]["mean"] == 215.6


def test_replay_takes_a_saved_runs_lengths():
    traffic = Traffic.replay([13, 25, 400], [120, 613, 9], request_rate=2.0)
    prompt, output = lengths(traffic, np.random.default_rng(0))
    assert prompt.tolist() == [13, 25, 400] and output.tolist() == [120, 613, 9]
    assert traffic.num_prompts == 3


@pytest.mark.parametrize("bad", [
    {"num_prompts": 0}, {"request_rate": 0.0}, {"burstiness": -1.0}, {"max_concurrency": 0},
    {"distribution": "zipf"}, {"range_ratio": 1.0}, {"prompt_tokens": 0},
    {"distribution": "explicit", "num_prompts": 2, "input_lens": (5,), "output_lens": (5, 5)},
    {"distribution": "explicit", "num_prompts": 1, "input_lens": (0,), "output_lens": (5,)},
])
def test_bad_traffic_is_a_clear_error(bad):
    with pytest.raises(WizardError):
        Traffic(**bad)
