"""The step-level scheduler simulation, against hand-stepped timelines and a literal step-by-step model.

Most cases use a constant step cost of 10 ms and no API-server ingestion time,
so every token time is a whole number of steps.
"""

import math
import random
from dataclasses import replace

import numpy as np
import pytest

from tests import sim_reference
from wizard.errors import WizardError
from wizard.physics.kv import KvGroup, KvLayout
from wizard.physics.perf import PIPELINE_SEND_LATENCY_S, StepModel
from wizard.physics.scheduler import PROBED_ROUNDS, Run
from wizard.physics.simulate import (
    EngineLimits,
    LatencyCaps,
    WeightedSamples,
    finish_times,
    simulate,
    simulate_traffic,
    stats,
)
from wizard.physics.traffic import Traffic

STEP = 0.010
FULL = KvLayout(block_size=16, page_bytes=1, group_size=1, groups=(KvGroup("full", None),), attention_layers=1,
                in_flight_tokens=64)


def constant(decode, decode_ctx, prefill, prefill_ctx):
    return STEP


def engine(seats=256, budget=2048, blocks=10_000, layout=FULL, **kw):
    return EngineLimits(max_num_seqs=seats, max_num_batched_tokens=budget, num_gpu_blocks=blocks, layout=layout, **kw)


def run(arrival, prompt, out, eng, cost=constant, **kw):
    return simulate(np.array(arrival, dtype=float), np.array(prompt), np.array(out), eng, cost,
                    ingest_s=kw.pop("ingest_s", 0.0), **kw)


def gaps(result):
    return np.repeat(result.itl_s.values, result.itl_s.counts)


@pytest.mark.parametrize("is_async", [False, True])
def test_one_request_ttft_tpot_e2e(is_async):
    # Step 1 prefills the 100 prompt tokens and samples token 1; steps 2 and 3 decode tokens 2 and 3.
    r = run([0.0], [100], [3], engine(async_scheduling=is_async))
    assert r.ttft_s.tolist() == pytest.approx([0.010])
    assert r.e2e_s.tolist() == pytest.approx([0.030])
    assert r.tpot_s.tolist() == pytest.approx([0.010])
    assert gaps(r) == pytest.approx([0.010, 0.010])
    assert (r.steps, r.completed, r.total_output_tokens, r.preemptions) == (3, 1, 3, 0)
    assert r.duration_s == pytest.approx(0.030)


def test_ingestion_delays_the_engine_not_the_send():
    # Three prompts sent at once reach the engine 1, 2 and 3 ms later: one step admits the first only.
    r = run([0.0, 0.0, 0.0], [100, 100, 100], [1, 1, 1], engine(), ingest_s=0.001)
    # Step 1 [1 ms, 11 ms] holds request 0; step 2 (scheduled at 11 ms) holds both others.
    assert r.ttft_s.tolist() == pytest.approx([0.011, 0.021, 0.021])
    assert r.send_s.tolist() == [0.0, 0.0, 0.0]


def test_async_scheduling_starts_a_new_arrival_one_step_later():
    # A runs from 0; B reaches the engine at 5 ms, during A's first step.
    # Sync: step 2 is scheduled at 10 ms and prefills B, first token at 20 ms (TTFT 15 ms).
    # Async: step 2 was scheduled at 0 ms (without B); step 3, scheduled at 10 ms, runs 20-30 ms.
    sync = run([0.0, 0.005], [100, 100], [3, 3], engine(async_scheduling=False))
    lagged = run([0.0, 0.005], [100, 100], [3, 3], engine(async_scheduling=True))
    assert sync.ttft_s.tolist() == pytest.approx([0.010, 0.015])
    assert lagged.ttft_s.tolist() == pytest.approx([0.010, 0.025])
    assert sync.e2e_s[0] == lagged.e2e_s[0] == pytest.approx(0.030)


def test_async_scheduling_frees_a_finished_seat_one_step_later():
    # Two seats: A (2 tokens) and C (10 tokens) run, B waits for A's seat.
    # Sync: A's last token ends step 2 (20 ms); step 3 admits B, first token at 30 ms.
    # Async: step 3 is scheduled at 10 ms while A's last token is in flight, so A keeps its seat
    # and B enters step 4 (scheduled at 20 ms, run 30-40 ms).
    arrival, prompt, out = [0.0, 0.0, 0.0], [50, 50, 50], [2, 10, 3]
    sync = run(arrival, prompt, out, engine(seats=2, async_scheduling=False))
    lagged = run(arrival, prompt, out, engine(seats=2, async_scheduling=True))
    assert sync.ttft_s.tolist() == pytest.approx([0.010, 0.010, 0.030])
    assert lagged.ttft_s.tolist() == pytest.approx([0.010, 0.010, 0.040])


def test_chunked_prefill_splits_the_second_prompt():
    # Budget 100: step 1 = A's 80 tokens + B's first 20; step 2 = A's decode + B's last 60.
    calls = []

    def recording(*args):
        calls.append(args)
        return STEP

    r = run([0.0, 0.0], [80, 80], [3, 3], engine(budget=100, async_scheduling=False), recording)
    assert r.ttft_s.tolist() == pytest.approx([0.010, 0.020])
    assert r.e2e_s.tolist() == pytest.approx([0.030, 0.040])
    # (decodes, Σ their contexts, prefill tokens, Σ over prefill tokens of the context each sees)
    assert calls == [
        (0, 0, 100, 80 * 81 // 2 + 20 * 21 // 2),
        (1, 81, 60, 60 * 20 + 60 * 61 // 2),
        (2, 82 + 81, 0, 0),
        (1, 82, 0, 0),
    ]


def test_preemption_of_the_newest_request_and_its_recompute():
    # Block size 16, 3 usable blocks.  Step 1 admits A and B (16-token prompts, one block each).
    # Step 2: A's decode takes the last block; B needs one too, so B (the newest) is preempted.
    # A decodes alone (its 3rd block at token 18) and finishes at step 20 (200 ms).  Step 21
    # recomputes B's 16 + 1 tokens and samples its 2nd token at 210 ms: one 200 ms gap.
    # B then decodes tokens 3..20 in steps 22..39.
    for is_async in (False, True):
        r = run([0.0, 0.0], [16, 16], [20, 20], engine(blocks=4, async_scheduling=is_async))
        assert r.preemptions == 1
        assert r.ttft_s.tolist() == pytest.approx([0.010, 0.010])
        assert r.e2e_s.tolist() == pytest.approx([0.200, 0.390])
        assert r.tpot_s.tolist() == pytest.approx([0.190 / 19, 0.380 / 19])
        itl = np.sort(gaps(r))
        assert len(itl) == 38
        assert itl[-1] == pytest.approx(0.200)
        assert itl[:-1] == pytest.approx([0.010] * 37)
        assert r.timeline.preemptions[-1] == 1
        assert r.timeline.kv_usage.max() == pytest.approx(1.0)


def test_max_num_seqs_holds_back_the_third_request():
    r = run([0.0, 0.0, 0.0], [10, 10, 10], [2, 2, 2], engine(seats=2, async_scheduling=False))
    assert r.ttft_s.tolist() == pytest.approx([0.010, 0.010, 0.030])
    assert r.timeline.running.max() == 2


def test_head_of_line_blocking_on_kv():
    # 6 usable blocks: A holds 4 (64-token prompt); B needs 4 for its prompt and blocks C (1 block),
    # which would fit but is behind B in the queue.
    r = run([0.0, 0.0, 0.0], [64, 64, 16], [2, 2, 2], engine(blocks=7, async_scheduling=False))
    # A: steps 1-2. B and C: step 3 after A frees its blocks (C follows B in the same step).
    assert r.ttft_s.tolist() == pytest.approx([0.010, 0.030, 0.030])


def test_v0_runs_prefill_only_steps():
    # Without chunked prefill B's prompt gets a step of its own and A's decode waits (a 20 ms gap).
    v0 = run([0.0, 0.005], [10, 10], [3, 2], engine(budget=100, chunked_prefill=False, async_scheduling=False))
    v1 = run([0.0, 0.005], [10, 10], [3, 2], engine(budget=100, async_scheduling=False))
    assert v0.e2e_s.tolist() == pytest.approx([0.040, 0.025])
    assert np.sort(gaps(v0)) == pytest.approx([0.010, 0.010, 0.020])
    assert v1.e2e_s.tolist() == pytest.approx([0.030, 0.025])


def test_closed_loop_never_exceeds_its_concurrency_and_ttft_starts_at_the_send():
    r = run([0.0] * 10, [10] * 10, [2] * 10, engine(async_scheduling=False), max_concurrency=3)
    last = r.send_s + r.e2e_s
    for t in np.concatenate([r.send_s, last]):
        assert np.sum((r.send_s <= t) & (t < last)) <= 3
    # Each wave of three runs two steps; the client's wait is not part of TTFT or E2E.
    assert r.send_s.tolist() == pytest.approx([0, 0, 0, 0.02, 0.02, 0.02, 0.04, 0.04, 0.04, 0.06])
    assert r.ttft_s == pytest.approx([0.010] * 10)
    assert r.e2e_s == pytest.approx([0.020] * 10)


def test_sliding_window_groups_hold_only_the_window():
    # One sliding group (window 32), 4 usable blocks.  A 64-token prompt takes 4 blocks, and in
    # decode the request holds the blocks of its last ~32 tokens (3 or 4): it runs without
    # preemption.  Full attention would need 7 blocks for 64 + 40 tokens: never admitted.
    window = KvLayout(block_size=16, page_bytes=1, group_size=1, groups=(KvGroup("sliding", 32),), attention_layers=1,
                      in_flight_tokens=16)
    r = run([0.0], [64], [40], engine(blocks=5, layout=window))
    assert r.preemptions == 0 and r.e2e_s == pytest.approx([0.400])
    with pytest.raises(WizardError, match="needs 7 KV blocks"):
        run([0.0], [64], [40], engine(blocks=5))


# A toy roofline: 10 GB of weights at 0.8 x 1 TB/s = 12.5 ms a step, + 1 ms, and 100 kB of KV per context token.
TOY_ROOFLINE = StepModel(
    dense_weight_bytes=10e9, expert_bytes_per_layer=0.0, moe_layers=0, num_experts=1, top_k=1,
    linear_flops_per_token=1e9, kv_bytes_per_ctx_token=100e3, sliding_fraction=0.0, window=None,
    attn_flops_per_ctx_token=1e6, hidden=4096, layers=32, tp=1, pp=1, bandwidth=1e12, peak_flops=100e12,
    peak_attention_flops=100e12, eta_mem=0.8, eta_kv=0.8, eta_comp=0.5, t_fix=1e-3, allreduce_latency=15e-6,
    link_bandwidth=100e9,
)


def test_decode_steps_respect_the_step_cost():
    # A toy roofline (10 GB of weights at 0.8 x 1 TB/s = 12.5 ms, + 1 ms): no step can be faster.
    toy = TOY_ROOFLINE
    r = run([0.0] * 20, [500] * 20, [50] * 20, engine(budget=10_000), toy.step_seconds)
    assert r.itl_s.values.min() >= 13.5e-3
    # One prefill step, then 49 decode steps of all 20: token k (2..50) reads 499 + k tokens of context
    # per sequence, 100 kB each, at 0.8 TB/s on top of the 13.5 ms.
    assert r.itl_s.count == 20 * 49
    assert r.itl_s.values.min() == pytest.approx(13.5e-3 + 20 * 501 * 100e3 / 0.8e12, rel=1e-9)
    assert r.itl_s.values.max() == pytest.approx(13.5e-3 + 20 * 549 * 100e3 / 0.8e12, rel=1e-9)


def test_step_seconds_averages_the_contexts_and_adds_pipeline_stages():
    toy = TOY_ROOFLINE
    # 8 decodes at 8,000 / 8 = 1,000 tokens of context and 512 prompt tokens attending to 131,072 / 512 = 256 each:
    # 1 ms + max(10 GB / 0.8 TB/s, 520 GFLOP / 50 TFLOPS) = 12.5 ms + 8 x 1,000 x 100 kB / 0.8 TB/s = 1 ms
    # + 512 x 256 x 1 MFLOP / (0.35 x 100 TFLOPS) = 3.745 ms.
    assert toy.step_seconds(8, 8000, 512, 512 * 256) == pytest.approx(1e-3 + 12.5e-3 + 1e-3 + 512 * 256 * 1e6 / 35e12)
    assert toy.step_seconds(0, 0, 0, 0) == pytest.approx(1e-3 + 12.5e-3)
    two = replace(toy, pp=2)
    # Every stage's device time (12.5 + 1 ms), the send between them, and the host's work once per step.
    assert two.step_seconds(8, 8000, 0, 0) == pytest.approx(2 * 13.5e-3 + PIPELINE_SEND_LATENCY_S + 1e-3)


def test_host_work_per_sequence_adds_without_async_scheduling_and_hides_behind_the_gpu_with_it():
    toy = replace(TOY_ROOFLINE, cpu_per_seq=50e-6)
    device = 0.025  # 10 GB / 0.8 TB/s + 100 x 1000 x 100 kB / 0.8 TB/s
    assert toy.step_seconds(100, 100_000, 0, 0) == pytest.approx(device + 1e-3 + 100 * 50e-6)  # 31 ms
    assert replace(toy, overlaps_cpu=True).step_seconds(100, 100_000, 0, 0) == pytest.approx(device)  # 25 > 6 ms
    # 1,000 decodes: max(10 GB / 0.8 TB/s, 1 TFLOP / 50 TFLOPS) = 20 ms + 1,000 x 1,000 x 100 kB / 0.8 TB/s = 125 ms
    # of device time, against 1 + 50 ms of host work
    assert replace(toy, overlaps_cpu=True).step_seconds(1000, 1_000_000, 0, 0) == pytest.approx(0.145)


def test_replayed_lengths_split_over_data_parallel_engines():
    """A saved run's own lengths (check-bench's input_lens / output_lens) on two engines: each serves every
    other request, and the run's figures repeat that engine's."""
    traffic = Traffic.replay([100, 50, 30, 200, 10], [5, 8, 3, 4, 9])
    two = simulate_traffic(traffic, engine(), constant, ingest_s=0.0, engines=2)
    one = run([0, 0, 0], [100, 30, 10], [5, 3, 9], engine())
    assert np.array_equal(two.e2e_s, np.tile(one.e2e_s, 2)) and two.completed == 6


def test_a_run_past_its_work_budget_is_cut_and_measured_on_the_requests_it_completed():
    """One client, 10-token prompts, 5 output tokens, 10 ms steps: each request is a step scheduled in full (its
    prefill) and 4 folded decodes, 5 x 1 + 230 + 30 = 265 units of work; the 5 distinct step costs add 2 each.
    After k completions the work is 265 k + 10: 2,660 passes a budget of 2,659 at the 10th, and 2,660 at the 11th."""
    # The last prompt is a token longer: the loop's requests are not all alike, so none of its rounds is copied.
    loop = Traffic.replay([10] * 99 + [11], [5] * 100, max_concurrency=1)
    whole = simulate_traffic(loop, engine(), constant, ingest_s=0.0)
    for budget, served in ((2659, 10), (2660, 11)):
        cut = simulate_traffic(loop, engine(), constant, ingest_s=0.0, work_budget=budget)
        assert (cut.completed, cut.steps, cut.total_output_tokens) == (served, 5 * served, 5 * served)
        assert cut.duration_s == pytest.approx(0.05 * served)
        # One client: the requests served first are served as in the whole run.
        assert np.array_equal(cut.e2e_s, whole.e2e_s[:served]) and np.array_equal(cut.send_s, whole.send_s[:served])
        assert len(finish_times(loop, engine(), constant, 50, ingest_s=0.0, work_budget=budget)) == served
    assert whole.completed == 100


def test_same_inputs_same_result():
    rng = np.random.default_rng(0)
    arrival = np.sort(rng.uniform(0, 2, 200))
    prompt, out = rng.integers(1, 800, 200), rng.integers(1, 300, 200)
    a = simulate(arrival, prompt, out, engine(blocks=2000), constant)
    b = simulate(arrival, prompt, out, engine(blocks=2000), constant)
    assert a.preemptions == b.preemptions > 0
    for field in ("ttft_s", "e2e_s", "tpot_s"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert np.array_equal(a.itl_s.values, b.itl_s.values)


def test_bench_statistics():
    s = stats(np.array([4.0, 1.0, 3.0, 2.0]))
    assert (s.mean, s.median, s.p90, s.p99) == (2.5, 2.5, pytest.approx(3.7), pytest.approx(3.97))
    # Weighted samples give numpy.percentile of the samples written out: [1, 2, 2, 3]
    w = WeightedSamples.of(np.array([3.0, 1.0, 2.0]), np.array([1, 1, 2]))
    assert (w.count, w.mean(), w.percentile(50), w.percentile(90)) == (4, 2.0, 2.0, pytest.approx(2.7))
    assert stats(np.array([])).mean == 0.0


def test_percentiles_are_ordered_and_match_numpy():
    r = run(np.sort(np.random.default_rng(1).uniform(0, 1, 300)), [300] * 300, [100] * 300, engine(blocks=3000))
    for samples in (r.ttft_s, r.tpot_s, r.e2e_s, r.itl_s):
        s = stats(samples)
        assert s.median <= s.p90 <= s.p99
    expanded = gaps(r)
    assert stats(r.itl_s).p99 == np.percentile(expanded, 99)  # the same interpolation, to the bit
    assert stats(r.itl_s).mean == pytest.approx(expanded.mean(), rel=1e-12)


def test_per_request_percentiles_are_numpys_to_the_bit():
    """stats computes numpy.percentile's linear method itself (numpy's imports numpy.ma on first use, 80 ms)."""
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 10, 99, 100, 101, 1000):
        for samples in (rng.lognormal(0, 2, n), np.round(rng.uniform(0, 5, n), 1)):  # spread out, and with ties
            s = stats(samples)
            assert (s.median, s.p90, s.p99) == tuple(float(v) for v in np.percentile(samples, [50, 90, 99])), n


def test_timeline_is_short():
    r = run([0.0] * 400, [200] * 400, [300] * 400, engine(blocks=3000))
    assert 10 < len(r.timeline.time_s) <= 300
    assert np.all(np.diff(r.timeline.time_s) >= 0)
    assert r.timeline.time_s[-1] == pytest.approx(r.duration_s)


@pytest.mark.parametrize("bad, message", [
    ({"arrival": [0.0, -1.0]}, "non-negative"),
    ({"prompt": [0, 5]}, "at least one"),
    ({"out": [4]}, "one arrival time"),
])
def test_bad_inputs_are_clear_errors(bad, message):
    args = {"arrival": [0.0, 0.0], "prompt": [5, 5], "out": [4, 4]} | bad
    with pytest.raises(WizardError, match=message):
        run(args["arrival"], args["prompt"], args["out"], engine())


def _cost(decode, decode_ctx, prefill, prefill_ctx):
    """A step cost that depends on every input, so that no two steps happen to tie."""
    return 1e-3 + 1e-5 * decode + 3e-7 * decode_ctx + 2e-6 * prefill + 1e-9 * prefill_ctx


def _random_engine(rng: random.Random, sliding: bool, chunked: bool, longest: int) -> EngineLimits:
    """Seats, budget and a KV pool from just enough for the longest request to plenty (sliding groups or not)."""
    groups = (KvGroup("full", None),) + ((KvGroup("sliding", 40),) * 2 if sliding else ())
    layout = KvLayout(16, 1, 1, groups, len(groups), 64)
    blocks = len(groups) * -(-longest // 16) + 1 + rng.choice([0, 2, 5, 20, 200])
    budget = rng.choice([16, 32, 64, 128, 512]) if chunked else longest + rng.randint(0, 200)
    return EngineLimits(rng.randint(1, 10), budget, blocks, layout, async_scheduling=rng.random() < 0.5,
                        chunked_prefill=chunked)


def _random_case(seed: int):
    rng = random.Random(seed)
    n = rng.randint(1, 25)
    sliding = rng.random() < 0.3
    chunked = rng.random() < 0.75
    prompt = [rng.randint(1, 200) for _ in range(n)]
    out = [rng.randint(1, 60) for _ in range(n)]
    eng = _random_engine(rng, sliding, chunked, max(p + o - 1 for p, o in zip(prompt, out)))
    arrival, t = [], 0.0
    for _ in range(n):
        t += rng.choice([0.0, 0.0, rng.random() * 0.02])
        arrival.append(t)
    concurrency = rng.choice([None, None, rng.randint(1, 5)])
    delays = None
    if concurrency and rng.random() < 0.5:  # a closed loop's sends delayed past the semaphore (steady_phases)
        arrival = [0.0] * n
        delays = [rng.random() * 0.05 if rng.random() < 0.5 else 0.0 for _ in range(n)]
    return arrival, prompt, out, eng, concurrency, rng.choice([0.0, 0.0005]), delays


def test_equals_the_literal_step_by_step_model():
    """Folded steps (decodes, finishes, admissions, prefills) and vectorised scheduling give exactly what
    stepping one by one gives."""
    preempted = stretched = 0
    for seed in range(120):
        arrival, prompt, out, eng, concurrency, ingest, delays = _random_case(seed)
        fast = simulate(np.array(arrival), np.array(prompt), np.array(out), eng, _cost, max_concurrency=concurrency,
                        ingest_s=ingest, client_jitter_s=delays)
        slow = sim_reference.run(arrival, prompt, out, eng, _cost, max_concurrency=concurrency, ingest_s=ingest,
                                 send_delay_s=delays)
        send = np.array(slow.send)
        assert np.array_equal(fast.send_s, send), seed
        assert np.array_equal(fast.ttft_s, np.array(slow.first) - send), seed
        assert np.array_equal(fast.e2e_s, np.array(slow.last) - send), seed
        assert np.array_equal(gaps(fast), np.sort(slow.gaps)), seed
        assert (fast.preemptions, fast.steps) == (slow.preemptions, slow.steps), seed
        preempted += fast.preemptions > 0
        stretched += len(fast.timeline.time_s) < fast.steps
    assert preempted >= 10 and stretched >= 50  # the comparison covers preemptions and fast-forwarding


def test_runs_of_decodes_with_sliding_window_groups_costed_at_once_equal_the_literal_step_by_step_model():
    """Runs of decode steps are costed at once (numpy) with sliding-window groups too, which give blocks back as
    their windows slide: gpt-oss's and Gemma's sweeps stepped them one by one (5% and 11% of a sweep's work)."""
    vectorised = 0

    def cost(decode, decode_ctx, prefill, prefill_ctx):
        nonlocal vectorised
        vectorised += isinstance(decode_ctx, np.ndarray)
        return _cost(decode, decode_ctx, prefill, prefill_ctx)

    for seed in range(60):
        rng = random.Random(seed)
        n, window = rng.randint(1, 20), rng.choice([16, 24, 40, 100])
        groups = (KvGroup("full", None),) + (KvGroup("sliding", window),) * rng.choice([1, 2])
        layout = KvLayout(16, 1, 1, groups, len(groups), rng.choice([0, 1, 64]))
        prompt, out = [rng.randint(1, 150) for _ in range(n)], [rng.randint(20, 160) for _ in range(n)]
        longest = max(p + o - 1 for p, o in zip(prompt, out))
        eng = EngineLimits(rng.randint(1, 12), rng.choice([16, 64, 512]),
                           len(groups) * -(-longest // 16) + 1 + rng.choice([0, 5, 200, 2000]), layout,
                           async_scheduling=rng.random() < 0.5)
        arrival = sorted(rng.choice([0.0, rng.random() * 0.5]) for _ in range(n))
        ingest = rng.choice([0.0, 0.0005])
        fast = simulate(np.array(arrival), np.array(prompt), np.array(out), eng, cost, ingest_s=ingest)
        slow = sim_reference.run(arrival, prompt, out, eng, _cost, ingest_s=ingest)
        send = np.array(slow.send)
        assert np.array_equal(fast.ttft_s, np.array(slow.first) - send), seed
        assert np.array_equal(fast.e2e_s, np.array(slow.last) - send), seed
        assert np.array_equal(gaps(fast), np.sort(slow.gaps)), seed
        assert (fast.preemptions, fast.steps) == (slow.preemptions, slow.steps), seed
    assert vectorised >= 100


def test_rounds_of_a_closed_loop_copied_instead_of_stepped_equal_the_literal_step_by_step_model(monkeypatch):
    """A closed loop of alike requests repeats itself once its clients are past their first two requests: the
    rounds the run copies (physics/scheduler.py: Run._probe) give what stepping one by one gives, each time to
    1e-12 s (a copied time is shifted by whole rounds, not summed step by step), and the same steps and
    preemptions.  Stopped at its caps or at a count of completions, it stops where the whole run says."""
    copies = []
    replay = Run._replay
    monkeypatch.setattr(Run, "_replay",
                        lambda run, last, mark, rounds: copies.append(rounds) or replay(run, last, mark, rounds))
    copied = preempted = stopped = 0
    for seed in range(80):
        rng = random.Random(seed)
        clients = rng.randint(1, 8)
        n = rng.randint(PROBED_ROUNDS * clients, 16 * clients)
        prompt, out = rng.randint(1, 200), rng.randint(1, 60)
        eng = _random_engine(rng, rng.random() < 0.3, rng.random() < 0.75, prompt + out - 1)
        ingest = rng.choice([0.0, 0.0005])
        delayed = rng.choice([0, clients])  # the first wave's sends delayed (warm) or the second's (steady_phases)
        delays = [rng.random() * 0.05 if delayed <= i < delayed + clients else 0.0 for i in range(n)]
        args = (np.zeros(n), np.full(n, prompt), np.full(n, out), eng, _cost)
        copies.clear()
        fast = simulate(*args, max_concurrency=clients, ingest_s=ingest, client_jitter_s=delays)
        slow = sim_reference.run([0.0] * n, [prompt] * n, [out] * n, eng, _cost, max_concurrency=clients,
                                 ingest_s=ingest, send_delay_s=delays)
        send = np.array(slow.send)
        assert np.allclose(fast.send_s, send, rtol=0, atol=1e-12), seed
        assert np.allclose(fast.ttft_s, np.array(slow.first) - send, rtol=0, atol=1e-12), seed
        assert np.allclose(fast.e2e_s, np.array(slow.last) - send, rtol=0, atol=1e-12), seed
        assert np.allclose(gaps(fast), np.sort(slow.gaps), rtol=0, atol=1e-12), seed
        assert (fast.preemptions, fast.steps) == (slow.preemptions, slow.steps), seed
        copied += bool(copies)
        preempted += bool(copies) and fast.preemptions > 0
        tpot, ttft = stats(fast.tpot_s).mean, stats(fast.ttft_s).mean
        for scale in (0.9, 1.0):  # below its means a run stops; at them it finishes, as the whole run
            caps = LatencyCaps(tpot_s=tpot * scale if len(fast.tpot_s) else math.inf, ttft_s=ttft * scale)
            capped = simulate(*args, max_concurrency=clients, ingest_s=ingest, client_jitter_s=delays, caps=caps)
            if capped is None:
                stopped += 1
            else:
                assert np.allclose(capped.e2e_s, fast.e2e_s, rtol=0, atol=1e-12), seed
        loop = Traffic.replay([prompt] * n, [out] * n, max_concurrency=clients)  # its own delays (steady_phases)
        whole = simulate_traffic(loop, eng, _cost, ingest_s=ingest)
        count = rng.randint(1, n)
        first = finish_times(loop, eng, _cost, count, ingest_s=ingest)
        assert np.allclose(first, np.sort(whole.send_s + whole.e2e_s)[:count], rtol=0, atol=1e-12), seed
    # Some loops copy rounds with preemptions in them; the others never repeat (a KV pool that keeps preempting, V0).
    assert copied >= 20 and preempted >= 3 and stopped >= 40


def test_caps_stop_only_a_run_that_exceeds_them_and_never_change_one_that_finishes():
    """A capped run either equals the uncapped one in every figure (its folds break at the checks) or its
    uncapped means really exceed a cap."""
    stopped = finished_below = 0
    for seed in range(120):
        arrival, prompt, out, eng, concurrency, ingest, delays = _random_case(seed)
        args = (np.array(arrival), np.array(prompt), np.array(out), eng, _cost)
        full = simulate(*args, max_concurrency=concurrency, ingest_s=ingest, client_jitter_s=delays)
        tpot, ttft = stats(full.tpot_s).mean, stats(full.ttft_s).mean
        for scale in (0.5, 0.9, 0.999, 1.0, math.inf):
            caps = LatencyCaps(tpot_s=tpot * scale if len(full.tpot_s) else math.inf, ttft_s=ttft * scale)
            capped = simulate(*args, max_concurrency=concurrency, ingest_s=ingest, client_jitter_s=delays, caps=caps)
            if capped is None:
                assert tpot > caps.tpot_s or ttft > caps.ttft_s, seed
                stopped += 1
                continue
            finished_below += scale < 1
            for field in ("send_s", "ttft_s", "e2e_s", "tpot_s"):
                assert np.array_equal(getattr(capped, field), getattr(full, field)), (seed, field)
            assert np.array_equal(gaps(capped), gaps(full)), seed
            assert np.array_equal(capped.timeline.time_s, full.timeline.time_s), seed
            assert np.array_equal(capped.timeline.running, full.timeline.running), seed
            assert (capped.steps, capped.preemptions) == (full.steps, full.preemptions), seed
    # Most runs below half their means stop early; a run can also finish before its bound proves anything.
    assert stopped >= 150 and finished_below >= 1


def test_finish_times_stop_at_their_count_and_are_the_whole_runs_first_completions():
    """The first ``count`` completions of one engine's share equal the whole run's, and the run stops there."""
    stopped_calls = whole_calls = 0

    def counted(*step):
        nonlocal calls
        calls += 1
        return _cost(*step)

    for seed in range(60):
        rng = random.Random(seed)
        n = rng.randint(2, 40)
        traffic = Traffic.replay([rng.randint(1, 200) for _ in range(n)], [rng.randint(1, 60) for _ in range(n)],
                                 max_concurrency=rng.choice([None, 2, 5]))
        eng = engine(seats=rng.randint(1, 10), budget=rng.choice([16, 64, 512]), async_scheduling=rng.random() < 0.5)
        engines = rng.choice([1, 2])
        calls = 0
        full = simulate_traffic(traffic, eng, counted, ingest_s=0.0005, engines=engines)
        whole_calls += calls
        one_engine = -(-n // engines)  # the whole result repeats one engine's requests per engine
        done = np.sort(full.send_s[:one_engine] + full.e2e_s[:one_engine])
        count = rng.randint(1, one_engine)
        calls = 0
        first = finish_times(traffic, eng, counted, count, ingest_s=0.0005, engines=engines)
        stopped_calls += calls
        assert len(first) == count, seed
        assert np.allclose(first, done[:count], rtol=0, atol=1e-12), seed  # send + e2e rounds the last bit
    assert stopped_calls < 0.8 * whole_calls
