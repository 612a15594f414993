"""Roofline step times (physics/perf.py) and the sweep's analytic screen (physics/screen.py), by hand."""

from collections import OrderedDict
from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import make_plan
from wizard.physics.perf import MOE_LAYER_OVERHEAD_S, PIPELINE_SEND_LATENCY_S, StepModel
from wizard.physics.screen import (
    Workload,
    _later_tpot_s,
    _max_rate,
    _mean_batch,
    _open_loop,
    _steady,
    _step,
    _waves,
)
from wizard.planning import performance
from wizard.planning.performance import rate_digits
from wizard.schema import parse_request

# A toy GPU/model with round numbers: 1 TB/s, 100 TFLOPS, 10 GB of weights, 1 GFLOP per token.
TOY = StepModel(
    dense_weight_bytes=10e9, expert_bytes_per_layer=0.0, moe_layers=0, num_experts=1, top_k=1,
    linear_flops_per_token=1e9, kv_bytes_per_ctx_token=100e3, sliding_fraction=0.0, window=None,
    attn_flops_per_ctx_token=1e6, hidden=4096, layers=32, tp=1, pp=1, bandwidth=1e12, peak_flops=100e12,
    peak_attention_flops=100e12, eta_mem=0.8, eta_kv=0.8, eta_comp=0.5, t_fix=1e-3, allreduce_latency=15e-6, link_bandwidth=100e9,
)


class Engine:  # the two scheduler limits the regimes read
    max_num_batched_tokens = 2048
    max_num_seqs = 256


def test_decode_step_is_memory_bound():
    # 1 ms + 10 GB / 0.8 TB/s + 8 seqs x 1000 ctx x 100 kB / 0.8 TB/s
    assert _step(TOY, 8, 0, 1000, 0) == pytest.approx(1e-3 + 12.5e-3 + 1e-3)


def test_prefill_step_is_compute_bound_and_pays_attention():
    # GEMMs: 2048 tokens x 1 GFLOP / (0.5 x 100 TFLOPS) = 40.96 ms > 12.5 ms of weights;
    # attention: 2048 x 512 ctx x 1 MFLOP / (0.35 x 100 TFLOPS) = 29.96 ms
    expected = 1e-3 + 2048e9 / 50e12 + 2048 * 512 * 1e6 / 35e12
    assert _step(TOY, 0, 2048, 0, 512) == pytest.approx(expected)


def test_tensor_parallel_all_reduce_cost():
    tp4 = replace(TOY, tp=4)
    message = 8 * 4096 * 2
    comm = 2 * 32 * (15e-6 + 2 * 3 / 4 * message / 100e9)
    assert _step(tp4, 8, 0, 1000, 0) - _step(TOY, 8, 0, 1000, 0) == pytest.approx(comm)


def test_every_layer_costs_its_kernel_overhead_whatever_the_tensor_parallel_size():
    # 32 layers x 35 us = 1.12 ms a step on top of the roofline, at TP 1 as at TP 8, where the weights and the
    # KV cache a GPU reads are an eighth: 1.25 GB / 0.8 TB/s + 8 x 1000 x 12.5 kB / 0.8 TB/s.
    for tp in (1, 8):
        bare = replace(TOY, tp=tp, dense_weight_bytes=10e9 / tp, kv_bytes_per_ctx_token=100e3 / tp)
        kernels = replace(bare, layer_overhead=35e-6)
        assert _step(kernels, 8, 0, 1000, 0) - _step(bare, 8, 0, 1000, 0) == pytest.approx(32 * 35e-6, rel=1e-12)
    tp8 = replace(TOY, tp=8, dense_weight_bytes=10e9 / 8, kv_bytes_per_ctx_token=100e3 / 8, layer_overhead=35e-6)
    comm = 2 * 32 * (15e-6 + 2 * 7 / 8 * 8 * 4096 * 2 / 100e9)
    assert _step(tp8, 8, 0, 1000, 0) == pytest.approx(1e-3 + 1.25e9 / 0.8e12 + 0.1e9 / 0.8e12 + 32 * 35e-6 + comm)


def test_weights_and_kv_cache_stream_at_their_own_efficiency():
    # 10 GB of weights at 0.9 x 1 TB/s, 8 x 1000 x 100 kB of KV cache at 0.8 x 1 TB/s
    split = replace(TOY, eta_mem=0.9, eta_kv=0.8)
    assert _step(split, 8, 0, 1000, 0) == pytest.approx(1e-3 + 10e9 / 0.9e12 + 0.8e9 / 0.8e12)


def test_a_plan_streams_weights_at_0_9_and_the_kv_cache_at_0_8_of_hbm_with_35_us_a_layer():
    from wizard.planning.inputs import resolve_inputs
    from wizard.planning.search import search

    for model_id, gpu, gpus, layers, etas in (("meta-llama/Llama-3.1-70B-Instruct", "H100", 8, 80, (0.9, 0.8)),
                                              ("meta-llama/Llama-3.1-8B-Instruct", "RTX 4090", 1, 32, (0.82, 0.82))):
        plan = make_plan(model=model_id, gpu=gpu, gpus=gpus, concurrency=1)
        inp = resolve_inputs(plan.request, detected=[])
        model = performance.step_model(inp, search(inp).candidate)
        assert (model.eta_mem, model.eta_kv, model.layer_overhead, model.layers) == (*etas, 35e-6, layers)


def test_moe_reads_only_touched_experts():
    moe = replace(TOY, dense_weight_bytes=2e9, expert_bytes_per_layer=1e9, moe_layers=10, num_experts=64, top_k=4,
                  moe_layer_overhead=MOE_LAYER_OVERHEAD_S["other"])
    touched = 1 - (1 - 4 / 64) ** 1
    expected = 1e-3 + (2e9 + touched * 10e9) / 0.8e12 + 10 * 25e-6
    assert _step(moe, 1, 0, 0, 0) == pytest.approx(expected)
    # a big batch touches (nearly) every expert
    assert _step(moe, 512, 0, 0, 0) > _step(moe, 1, 0, 0, 0) + 10e9 / 0.8e12 * 0.9


def test_sliding_window_layers_read_only_the_window():
    hybrid = replace(TOY, sliding_fraction=0.5, window=128)
    full = _step(TOY, 1, 0, 10_000, 0) - _step(TOY, 0, 0, 0, 0)
    slid = _step(hybrid, 1, 0, 10_000, 0) - _step(hybrid, 0, 0, 0, 0)
    assert slid == pytest.approx((0.5 * 10_000 + 0.5 * 128) / 10_000 * full)


def test_a_run_of_decode_steps_costs_as_an_array_what_each_step_costs_alone():
    """The simulator costs a run of decodes at once (physics/scheduler.py): step_seconds of an array of context
    sums is each step's seconds to the last bit, here for MoE with sliding layers, TP, PP and the CPU's time
    overlapping the GPU's (the CPU's 33 ms outlast the short contexts' steps)."""
    model = replace(TOY, dense_weight_bytes=2e9, expert_bytes_per_layer=1e9, moe_layers=10, num_experts=64, top_k=4,
                    sliding_fraction=0.5, window=128, tp=4, pp=2, overlaps_cpu=True, cpu_per_seq=4e-3)
    sums = np.arange(8 * 100, 8 * 60_000, 8 * 997)
    each = [model.step_seconds(8, int(s), 0, 0) for s in sums]
    assert model.step_seconds(8, sums, 0, 0).tolist() == each
    assert each.count(1e-3 + 8 * 4e-3) == 16 and max(each) > 0.07


def test_steady_state_packs_refill_prefill_into_decode_steps():
    wl = Workload(prompt_tokens=200, gen_tokens=100, concurrency=10)
    # 10 sequences finish every 100 steps -> 20 prefill tokens per step ride along
    assert _steady(TOY, Engine, wl, 10) == pytest.approx(_step(TOY, 10, 20, 250, 100))


def test_a_closed_loops_later_requests_carry_the_others_refills_then_see_the_batch_drain():
    """The screen rated a closed loop by its first wave alone: 128 clients sending 200 prompts simulated 0.72 of
    it (the last requests run in a draining batch).  Decode at 10 (context 200 + 100 / 2 = 250): 1 ms + 12.5 ms
    of weights + 10 x 250 x 100 kB / 0.8 TB/s = 13.8125 ms; the others' refills add 9/10 of 20 prefill tokens'
    attention, 20 x 100 x 1 MFLOP / 35 TFLOPS = 0.0571 ms; the drain decodes half the batch, 5 requests of
    5 / 2 = 2.5 (13.578125 ms) or 10 of 5 (13.65625 ms)."""
    wl = Workload(prompt_tokens=200, gen_tokens=100, concurrency=10)
    step = _steady(TOY, Engine, wl, 10)  # the running decodes and the refills' 20 prefill tokens
    assert step == pytest.approx(13.8125e-3 + 20 * 100 * 1e6 / 35e12)
    assert _later_tpot_s(TOY, wl, 10, 5, step) == pytest.approx(13.578125e-3)
    steady = 13.8125e-3 + 0.9 * 20 * 100 * 1e6 / 35e12
    assert _later_tpot_s(TOY, wl, 10, 20, step) == pytest.approx((10 * steady + 10 * 13.65625e-3) / 20)
    # One client: no one else's prompt rides in its steps, and it drains alone: its own decode, 13.53125 ms.
    one = replace(wl, concurrency=1)
    assert _later_tpot_s(TOY, one, 1, 199, _steady(TOY, Engine, one, 1)) == pytest.approx(13.53125e-3)
    assert _later_tpot_s(TOY, wl, 10, 0, step) == 0.0


def test_a_trickle_of_prompts_rides_in_a_share_of_the_steps_and_the_others_only_decode():
    """Spread evenly, 16 prefill tokens beside 4 decodes would touch 1 - (60/64)^20 = 72% of a MoE's experts
    in every step; in vLLM 8% of the steps carry a whole 200-token prompt (all experts) and the others only
    decode (4 tokens: 23%)."""
    moe = replace(TOY, dense_weight_bytes=2e9, expert_bytes_per_layer=1e9, moe_layers=10, num_experts=64, top_k=4)
    wl = Workload(prompt_tokens=200, gen_tokens=50, concurrency=4)  # 4 x 200 / 50 = 16 prefill tokens a step
    with_prompt, decode_only = _step(moe, 4, 200, 225, 100), _step(moe, 4, 0, 225, 0)
    assert _steady(moe, Engine, wl, 4) == pytest.approx(0.08 * with_prompt + 0.92 * decode_only)
    assert _steady(moe, Engine, wl, 4) < 0.9 * _step(moe, 4, 16, 225, 100)


def test_the_screens_open_loop_ttft_leaves_the_queue_near_capacity_to_the_simulation():
    wl = Workload(prompt_tokens=200, gen_tokens=100, request_rate=1.0)
    max_rate = _max_rate(TOY, Engine, wl, 256)
    near = _open_loop(TOY, Engine, wl, 256, 0.97 * max_rate, max_rate)
    # Its next step's half, then its own prefill chunk beside the running decodes: no rho / (1 - rho) wait.
    own = _step(TOY, near.batch, 200, 250, 100)
    assert near.ttft_s == pytest.approx(0.5 * near.tpot_s + own)


def test_the_screen_prices_a_step_as_the_simulation_does():
    """CPU work per sequence adds to a step, or hides behind the device's time with async scheduling; pipeline
    stages add their device time, not the fixed CPU time (8B at concurrency 1 on 8 x H20 had screened 3x the
    simulated time per token)."""
    wl = Workload(prompt_tokens=200, gen_tokens=100, concurrency=1)
    cpu = replace(TOY, cpu_per_seq=50e-6)
    device = 10e9 / 0.8e12 + 250 * 100e3 / 0.8e12  # one decode at context 250: 12.5 ms + 31.25 us
    assert _waves(cpu, Engine, wl, 1, 1).tpot_s == pytest.approx(device + 1e-3 + 50e-6)
    assert _waves(replace(cpu, overlaps_cpu=True), Engine, wl, 1, 1).tpot_s == pytest.approx(device)
    two = replace(cpu, pp=2, dense_weight_bytes=5e9)  # each stage holds half the weights
    half = 5e9 / 0.8e12 + 250 * 100e3 / 0.8e12
    assert _waves(two, Engine, wl, 1, 1).tpot_s == pytest.approx(2 * half + PIPELINE_SEND_LATENCY_S + 1e-3 + 50e-6)


def test_a_finite_poisson_runs_tokens_see_the_batch_its_arrivals_and_lives_allow():
    """100 requests at 2/s arrive over 50 s.  Integrating the requests in flight over each one's life: a 10 s
    life sees 2 x 10 x (1 - 10/150) = 18.67 (20 in a run without end), a 50 s life 100 x 2/3, and a 150 s life
    100 x (1 - 50/450) = 88.9 of the 100."""
    assert _mean_batch(2.0, 10.0, None) == pytest.approx(20.0)
    assert _mean_batch(2.0, 10.0, 100) == pytest.approx(18.6667, abs=1e-4)
    assert _mean_batch(2.0, 50.0, 100) == pytest.approx(200 / 3)
    assert _mean_batch(2.0, 150.0, 100) == pytest.approx(88.8889, abs=1e-4)
    # The screen's open loop settles there: a short run's batch stays below its prompts.
    wl = Workload(prompt_tokens=200, gen_tokens=100, request_rate=50.0, prompts=20)
    op = _open_loop(TOY, Engine, wl, 256, 50.0, 100.0)
    assert op.batch == pytest.approx(_mean_batch(50.0, 100 * op.tpot_s, 20)) and op.batch < 20


def test_v0_runs_prefill_in_separate_steps():
    v0 = replace(TOY, chunked_prefill=False)
    wl = Workload(prompt_tokens=200, gen_tokens=100, concurrency=10)
    arrivals = 10 / 100
    expected = _step(v0, 10, 0, 250, 0) + arrivals * _step(v0, 0, 200, 0, 100)
    assert _steady(v0, Engine, wl, 10) == pytest.approx(expected)


def test_waves_of_equal_requests():
    wl = Workload(prompt_tokens=1000, gen_tokens=101, concurrency=4)
    op = _waves(TOY, Engine, wl, 4, 4)
    # 4000 prompt tokens -> 2 chunks of 2000; then 100 decode steps at batch 4
    chunk = _step(TOY, 4 * 1 / 4, 2000, 1050.5, 500)
    decode = _step(TOY, 4, 0, 1050.5, 0)
    cycle = 2 * chunk + 100 * decode
    assert op.output_tokens_per_s == pytest.approx(4 * 101 / cycle)
    assert op.tpot_s == pytest.approx((0.5 * chunk + 99.5 * decode) / 100)
    assert op.ttft_s == pytest.approx(1.5 * chunk)


def test_max_rate_is_bounded_by_batch_and_token_budget():
    wl = Workload(prompt_tokens=200, gen_tokens=100)
    step = _steady(TOY, Engine, wl, 256)
    assert _max_rate(TOY, Engine, wl, 256) == pytest.approx(min(256 / 100, 2048 / 300) / step)


def test_plan_reports_ranges_around_the_simulated_values():
    # gpustack's vllm bench run: ShareGPT, 100 prompts, --max-concurrency 4 on one H100 SXM (vLLM 0.11): 7.38 ms TPOT.
    p = make_plan(model="Qwen/Qwen3-8B", gpu="H100", concurrency=4, prompt_tokens=232, gen_tokens=220,
                  length_distribution="sharegpt", num_prompts=100, vllm_version="0.11.0")
    perf = p.performance
    assert perf.itl_ms.low <= 7.38 <= perf.itl_ms.high
    assert perf.itl_ms.expected == pytest.approx(7.38, rel=0.1)
    assert perf.itl_ms.expected == round(perf.distribution.tpot_ms.mean, 2)  # the expected value is the simulated mean
    for name in ("itl_ms", "ttft_ms", "output_tokens_per_s", "prefill_tokens_per_s", "max_request_rate_per_s"):
        r = getattr(perf, name)
        assert r.low <= r.expected <= r.high
    dist = perf.distribution
    for latency in (dist.ttft_ms, dist.tpot_ms, dist.itl_ms, dist.e2e_ms):
        assert latency.p50 <= latency.p90 <= latency.p99
    assert perf.calibrated and not perf.saturated and perf.keeps_up is None and perf.simulated_requests == 100


def test_poisson_rate_beyond_capacity_is_an_overload_verdict():
    p = make_plan(model="Qwen/Qwen3-8B", gpu="L4", request_rate=500.0, max_model_len=8192)
    perf = p.performance
    assert perf.keeps_up is False and perf.saturated
    assert any(w.startswith("overloaded: requests arrive at 500/s") for w in p.warnings)
    # What it serves is what it sustains: the saturated run's rate x 256 output tokens, to 10%.
    assert perf.output_tokens_per_s.expected <= perf.max_request_rate_per_s.expected * 256 * 1.1


def test_uncalibrated_gpu_gets_a_wider_range_and_says_so():
    p = make_plan(model="Qwen/Qwen3-8B", gpu="L4", max_model_len=8192)
    assert not p.performance.calibrated
    assert any("no published vLLM benchmark" in a for a in p.performance.assumptions)


def test_a_closed_loop_says_how_its_clients_start_and_spread():
    """Bench starts a closed loop's clients at once; the simulation then spreads them to random phases: the
    report says so, and only for a closed loop."""
    closed = make_plan(model="Qwen/Qwen3-8B", gpu="L4", max_model_len=8192, concurrency=8)
    burst = make_plan(model="Qwen/Qwen3-8B", gpu="L4", max_model_len=8192, request_rate="inf", num_prompts=50)
    said = [a for a in closed.performance.assumptions if a.startswith("closed loop: the 8 clients send at once")]
    assert len(said) == 1 and "second request then waits a random share" in said[0]
    assert not any(a.startswith("closed loop") for a in burst.performance.assumptions)


def test_the_closed_loop_words_count_each_engines_clients():
    """Replicas share a loop's clients: 8 over 2 replicas start 4 per engine; over 8, one each, which the
    simulation does not spread, so the report does not say it does."""
    two = make_plan(model="Qwen/Qwen3-8B", gpu="L4", max_model_len=8192, concurrency=8, replicas=2)
    eight = make_plan(model="Qwen/Qwen3-8B", gpu="L4", max_model_len=8192, concurrency=8, replicas=8)
    assert any(a.startswith("closed loop: the 8 clients (4 per engine) send at once") for a in two.performance.assumptions)
    assert not any(a.startswith("closed loop") for a in eight.performance.assumptions)


def test_a_closed_loops_first_wave_queues_as_bench_sends_it():
    """The first max_concurrency requests are sent together and queue for the prefill budget; the second ones
    go out over one request's life.  64 clients of 2,048-token prompts on an A100 (2,048 tokens a step): the
    first wave waits for 64 prefill steps (32.5 on average), later prompts arrive among running decodes."""
    from wizard.planning.inputs import resolve_inputs
    from wizard.planning.performance import simulate_plan
    from wizard.planning.search import search

    inp = resolve_inputs(parse_request({"model": "meta-llama/Llama-3.1-8B-Instruct", "gpu": "A100 SXM 80GB",
                                        "concurrency": 64, "prompt_tokens": 2048, "gen_tokens": 256,
                                        "num_prompts": 320}), detected=[])
    result = simulate_plan(inp, search(inp).candidate)
    assert (result.send_s[:64] == 0).all() and (result.send_s[64:] > 0).all() and (np.diff(result.send_s) >= 0).all()
    assert result.ttft_s[:64].mean() > 5 * result.ttft_s[64:].mean()


def test_no_performance_when_vllm_would_not_start():
    assert make_plan(model="meta-llama/Llama-3.1-70B-Instruct", gpu="H100").performance is None


def test_sustainable_rate_of_a_wide_engine_is_its_steady_state_not_its_first_wave():
    """~500 clients at once: the rate must come from past the first wave, never beyond what prefill allows."""
    p = make_plan(model="deepseek-ai/DeepSeek-V3", gpu="H200", gpus=8, tensor_parallel_size=8)
    perf = p.performance
    assert perf.max_request_rate_per_s.expected * 1024 <= perf.prefill_tokens_per_s.expected


def test_a_rate_capped_by_a_closed_loop_is_still_overloaded_when_it_outruns_the_plan():
    """request_rate with max_concurrency: bench's semaphore holds the excess on the client, yet it is overload."""
    p = make_plan(model="Qwen/Qwen3-32B", gpu="L40S", gpus=2, request_rate=5, concurrency=16)
    assert p.performance.keeps_up is False and p.performance.saturated is True


def test_the_high_end_adds_what_the_api_server_could_cost_each_request():
    # A burst of 1,000 short requests: the API server's work, up to 14 ms a request, is 14 s however long the
    # GPUs take; over this run's simulated duration that share widens only the high side of TPOT and TTFT.
    p = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", request_rate="inf", num_prompts=1000,
                  prompt_tokens=128, gen_tokens=64)
    perf = p.performance
    share = 1000 * 0.014 / perf.duration_s
    assert perf.simulated_requests == 1000 and share > 0.5  # a short burst: the API server could dominate it
    assert perf.itl_ms.high == pytest.approx(perf.itl_ms.expected * (1 + 0.20 + share), abs=0.02)  # 86.23 -> 253.6 ms
    assert perf.itl_ms.low == pytest.approx(perf.itl_ms.expected * (1 - 0.20), abs=0.01)  # never faster for it
    assert perf.ttft_ms.high == pytest.approx(perf.ttft_ms.expected * (1 + 0.40 + share), rel=1e-4)
    # A long closed loop of a few requests: the share is negligible.
    few = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", concurrency=1, num_prompts=4, gen_tokens=1024)
    assert 4 * 0.014 / few.performance.duration_s < 0.01


def test_a_run_too_long_to_simulate_is_cut_and_says_so(monkeypatch):
    monkeypatch.setattr(performance, "SIM_WORK_BUDGET", 100_000)  # ~80 requests of 1,024 steps each
    monkeypatch.setattr(performance, "_KEPT", OrderedDict())  # runs cut at this budget are not kept for later tests
    # Lengths spread 10% either side (random dataset): no two requests alike, so every one is stepped.
    flat = {"model": "meta-llama/Llama-3.1-8B-Instruct", "gpu": "H100", "concurrency": 1, "prompt_tokens": 128,
            "gen_tokens": 1024, "length_distribution": "random", "range_ratio": 0.1}
    whole, cut = make_plan(**flat, num_prompts=20), make_plan(**flat, num_prompts=100_000)
    assert whole.performance.simulated_requests == 20 and not any("simulated in part" in w for w in whole.warnings)
    assert 20 < cut.performance.simulated_requests < 100
    assert cut.warnings[0].startswith(f"simulated in part: the run was cut after {cut.performance.simulated_requests} "
                                      "of its 100,000 requests completed")
    # One client sends requests one after another: a steady run's means hold for the rest.
    assert (cut.performance.itl_ms, cut.performance.ttft_ms) == (whole.performance.itl_ms, whole.performance.ttft_ms)


def test_a_long_closed_loop_of_alike_requests_is_served_whole_by_copying_its_rounds(monkeypatch):
    """The same loop with every request alike repeats itself round after round: its rounds are copied, not stepped
    (physics/scheduler.py: Run._probe), so all 100,000 requests are served within the budget that cut the one
    above short of 100, with the means of 20."""
    monkeypatch.setattr(performance, "SIM_WORK_BUDGET", 100_000)
    monkeypatch.setattr(performance, "_KEPT", OrderedDict())
    flat = {"model": "meta-llama/Llama-3.1-8B-Instruct", "gpu": "H100", "concurrency": 1, "prompt_tokens": 128,
            "gen_tokens": 1024}
    whole, long = make_plan(**flat, num_prompts=20), make_plan(**flat, num_prompts=100_000)
    assert long.performance.simulated_requests == 100_000 and not any("simulated in part" in w for w in long.warnings)
    assert (long.performance.itl_ms, long.performance.ttft_ms) == (whole.performance.itl_ms, whole.performance.ttft_ms)


def test_a_saturated_run_cut_at_its_budget_reads_its_rate_from_the_later_half_of_its_completions(monkeypatch):
    flat = {"model": "meta-llama/Llama-3.1-8B-Instruct", "gpu": "H100", "concurrency": 1, "prompt_tokens": 128,
            "gen_tokens": 1024, "num_prompts": 20}
    whole = make_plan(**flat).performance.max_request_rate_per_s.expected  # 14.1/s from completions 400 to 800
    monkeypatch.setattr(performance, "SIM_WORK_BUDGET", 30_000)  # the saturated run stops at a few hundred
    monkeypatch.setattr(performance, "_KEPT", OrderedDict())
    cut = make_plan(**flat).performance.max_request_rate_per_s.expected
    assert cut != whole and cut == pytest.approx(whole, rel=0.05)  # 13.9/s


def test_a_rate_of_a_few_an_hour_keeps_three_significant_digits():
    assert [round(r, rate_digits(r)) for r in (16.93456, 0.12345, 0.054321, 0.0016349)] == [16.935, 0.123, 0.0543,
                                                                                             0.00163]
    # An output rate keeps whole tokens/s down to 100, then three significant digits: a million-token prompt's
    # 0.5 tok/s would otherwise read 1 (its range 0 to 1).
    assert [round(r, rate_digits(r, 0)) for r in (1585.04, 123.4, 56.789, 0.50234)] == [1585, 123, 56.8, 0.502]


def test_the_workload_words_count_one_request_as_one():
    """vllm bench --max-concurrency 1 is the usual latency run: 'a closed loop of 1 concurrent request'."""
    from wizard.planning.performance import describe

    def words(**flat):
        return describe(parse_request({"model": "Qwen/Qwen3-8B", **flat}).workload)

    assert words(concurrency=1) == "200 requests of 1,024 prompt + 256 output tokens, a closed loop of 1 concurrent request"
    assert words(request_rate="inf", num_prompts=1) == "1 request of 1,024 prompt + 256 output tokens, all sent at once"
    assert words(concurrency=16).endswith("a closed loop of 16 concurrent requests")
    assert words(request_rate=2, burstiness=1).endswith(", 2 requests/s (Poisson)")
    assert words(request_rate=2, burstiness=0.5).endswith(", 2 requests/s (gamma arrivals, burstiness 0.5)")
    assert words(request_rate=2, burstiness="inf").endswith(", 2 requests/s (evenly spaced, burstiness inf)")


def test_no_token_is_predicted_faster_than_one_read_of_the_weights():
    """The low end of a range used to beat physics: Qwen2.5-7B on an L4 read 34.2 ms a token where reading its
    14.1 GB of weights once at 300 GB/s takes 47.1 ms.  Llama-3.1-8B's floor by hand: 32 layers x (attention
    41,943,040 + MLP 176,160,768 + norms 8,192) + LM head 128,256 x 4,096 + final norm 4,096 = 7,504,924,672
    bf16 parameters = 15,009,849,344 B (its input embedding is a lookup, and the RoPE cache is not read whole),
    4.481 ms at the H100 SXM's 3.35 TB/s."""
    from wizard.physics.perf import step_floor_seconds
    from wizard.planning.inputs import resolve_inputs
    from wizard.planning.search import search

    llama = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", concurrency=1)
    inp = resolve_inputs(llama.request, detected=[])
    model = performance.step_model(inp, search(inp).candidate)
    assert model.read_floor_bytes == 15_009_849_344
    assert step_floor_seconds(model) * 1000 == pytest.approx(4.4806, abs=1e-4)
    assert llama.performance.itl_ms.low >= 4.48
    qwen = make_plan(model="Qwen/Qwen2.5-7B-Instruct", gpu="L4", concurrency=1).performance
    assert (qwen.itl_ms.low, qwen.ttft_ms.low) == (47.14, 47.2) and qwen.decode_tokens_per_s.high == 21.2  # rounded inwards
    assert qwen.output_tokens_per_s.high == 21.2  # one request at once: 1,000 / 47.14 = 21.21 tokens a second at most
    assert qwen.itl_ms.low < qwen.itl_ms.expected
    assert any(a.endswith("the output's high end at 1 request at once") for a in qwen.assumptions)
