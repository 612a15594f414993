"""Data-parallel engines and expert parallelism: weights per rank, KV per engine, traffic split, artifacts."""

import json
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from benchmarks.check_artifacts import COMPOSE, check_kubernetes, shell_words
from tests.conftest import make_plan
from tests.test_artifacts import check_vllm_args
from tests.test_simulate import FULL
from wizard.errors import WizardError
from wizard.physics import perf
from wizard.physics.arch import parse_config
from wizard.physics.params import kind_tensors
from wizard.physics.simulate import EngineLimits, simulate, simulate_traffic, stats
from wizard.physics.traffic import Traffic, draw

CATALOG = Path(__file__).parents[1] / "wizard" / "data" / "models"


def _arch(model_id: str):
    return parse_config(json.loads((CATALOG / (model_id.replace("/", "--") + ".json")).read_text())["config"])


@pytest.fixture(scope="module")
def dp8():
    return make_plan(model="deepseek-ai/DeepSeek-V3", gpu="H200", gpus=8)


@pytest.fixture(scope="module")
def tp8():
    return make_plan(model="deepseek-ai/DeepSeek-V3", gpu="H200", gpus=8, tensor_parallel_size=8, data_parallel_size=1)


def _experts(arch, moe_ranks, whole, tp=1):
    return {t.module: (t.rows, t.cols, t.count) for t in kind_tensors(arch, True, tp, moe_ranks, whole) if t.kind == "expert"}


def test_expert_parallelism_gives_each_rank_whole_experts():
    """DeepSeek-V3: 256 experts of 7168 -> 2048 -> 7168. Over 8 ranks: 32 whole experts each."""
    arch = _arch("deepseek-ai/DeepSeek-V3")
    assert _experts(arch, 8, True) == {"mlp.experts.gate_up_proj": (4096, 7168, 32), "mlp.experts.down_proj": (7168, 2048, 32)}
    # Without --enable-expert-parallel the MoE group (TP x DP = 8) slices every expert 8 ways.
    assert _experts(arch, 8, False) == {"mlp.experts.gate_up_proj": (512, 7168, 256), "mlp.experts.down_proj": (7168, 256, 256)}


def test_shared_experts_and_attention_stay_split_by_tp_only():
    arch = _arch("deepseek-ai/DeepSeek-V3")
    spread = {t.module: (t.rows, t.cols) for t in kind_tensors(arch, True, 1, 8, True) if t.kind != "expert"}
    alone = {t.module: (t.rows, t.cols) for t in kind_tensors(arch, True, 1) if t.kind != "expert"}
    assert spread == alone  # one engine's attention, router and shared expert, whole on its one GPU


def test_deepseek_v3_on_8_h200_runs_as_dp8_with_expert_parallelism(dp8):
    h, rec = dp8.hardware, dp8.recommendation
    assert dp8.feasibility.fits
    assert (h.tensor_parallel_size, h.pipeline_parallel_size, h.data_parallel_size, h.expert_parallel_size) == (1, 1, 8, 8)
    assert rec.data_parallel_size.source == "recommended" and "KV cache" in rec.data_parallel_size.reason
    assert rec.enable_expert_parallel.value is True
    assert dp8.memory.block_size == 64 and dp8.memory.kv_bytes_per_token == 70272  # MLA: 61 x 576 x 2 bytes


def test_dp8_holds_several_times_the_kv_tokens_of_tp8(dp8, tp8):
    """MLA keeps one latent head that every TP rank stores whole; DP engines each have their own pool."""
    assert tp8.hardware.tensor_parallel_size == 8 and tp8.hardware.data_parallel_size == 1
    assert dp8.memory.kv_cache_tokens_all_engines == 8 * dp8.memory.kv_cache_tokens
    assert tp8.memory.kv_cache_tokens_all_engines == tp8.memory.kv_cache_tokens
    assert dp8.memory.kv_cache_tokens_all_engines >= 4 * tp8.memory.kv_cache_tokens
    # Each DP rank holds its own attention and 1/8 of the experts; a TP8 rank 1/8 of both.
    assert dp8.memory.weights_gib > tp8.memory.weights_gib


def test_dp_serve_command_passes_vllms_parser(dp8):
    args = dp8.artifacts.vllm_args
    check_vllm_args(args)
    assert args[args.index("--data-parallel-size") + 1] == "8" and "--enable-expert-parallel" in args
    assert "--tensor-parallel-size" not in args and "--distributed-executor-backend" not in args
    assert shell_words(dp8.artifacts.serve_command)[3:] == args


def test_tp_only_when_the_user_turns_expert_parallelism_off():
    p = make_plan(model="deepseek-ai/DeepSeek-V3", gpu="H200", gpus=8, enable_expert_parallel=False)
    assert (p.hardware.tensor_parallel_size, p.hardware.data_parallel_size, p.hardware.expert_parallel_size) == (8, 1, 1)


def test_user_dp_without_ep_slices_experts_over_the_whole_group():
    """vLLM's default for DP with MoE: experts form a TP group of DP x TP ranks."""
    sliced = make_plan(model="Qwen/Qwen3-30B-A3B", gpu="H100", gpus=4, data_parallel_size=4, enable_expert_parallel=False)
    whole = make_plan(model="Qwen/Qwen3-30B-A3B", gpu="H100", gpus=4, data_parallel_size=4, enable_expert_parallel=True)
    assert sliced.hardware.expert_parallel_size == 1 and whole.hardware.expert_parallel_size == 4
    # The same expert bytes either way (768 columns / 4 = 192 per rank vs 32 of 128 whole experts).
    assert sliced.memory.weights_gib == pytest.approx(whole.memory.weights_gib, abs=0.01)


def test_dense_dp_replicates_the_model():
    one = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", gpus=1)
    four = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", gpus=4, data_parallel_size=4)
    assert four.memory.weights_gib == one.memory.weights_gib
    assert four.memory.kv_cache_tokens_all_engines == 4 * four.memory.kv_cache_tokens
    assert not any("data-parallel engines" in w for w in four.warnings)
    two = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", gpus=4, data_parallel_size=2)
    assert any("uses 2 of 4 GPUs; 4 data-parallel engines" in w for w in two.warnings)


@pytest.mark.parametrize("values, message", [
    (dict(model="meta-llama/Llama-3.1-8B-Instruct", enable_expert_parallel=True), "no experts to spread"),
    (dict(model="Qwen/Qwen3-30B-A3B", gpus=3, data_parallel_size=3, enable_expert_parallel=True), "128 experts do not spread evenly over 3"),
    (dict(model="meta-llama/Llama-3.1-8B-Instruct", gpus=4, data_parallel_size=8), "needs 8 GPUs"),
])
def test_impossible_layouts_are_errors(values, message):
    with pytest.raises(WizardError, match=message):
        make_plan(gpu="H100", **values)


def test_all_to_all_adds_two_collectives_per_moe_layer():
    fields = {name: 1.0 for name in perf.StepModel.__dataclass_fields__}
    fields.update(tp=1, pp=1, hidden=7168, moe_layers=58, top_k=8, num_experts=256, chunked_prefill=True,
                  inter_node_hops=0, expert_token_scale=1, overlaps_cpu=False)
    base = perf.StepModel(**{**fields, "all_to_all_latency": 0.0})
    ep = perf.StepModel(**{**fields, "all_to_all_latency": 30e-6, "all_to_all_bandwidth": 450e9})
    extra = ep.step_seconds(10, 0, 0, 0) - base.step_seconds(10, 0, 0, 0)
    assert extra == pytest.approx(2 * 58 * (30e-6 + 10 * 8 * 7168 * 2 / 450e9), rel=1e-12)


def test_a_rank_reads_the_experts_every_engines_tokens_touch():
    fields = {name: 1.0 for name in perf.StepModel.__dataclass_fields__}
    fields.update(tp=1, pp=1, moe_layers=1, top_k=8, num_experts=256, expert_bytes_per_layer=1e9, dense_weight_bytes=0.0,
                  bandwidth=1e9, eta_mem=1.0, eta_kv=1.0, peak_flops=1e30, linear_flops_per_token=0.0, chunked_prefill=True,
                  inter_node_hops=0, t_fix=0.0, cpu_per_seq=0.0, layer_overhead=0.0, moe_layer_overhead=0.0, all_to_all_latency=0.0,
                  kv_bytes_per_ctx_token=0.0, attn_flops_per_ctx_token=0.0, sliding_fraction=0.0, overlaps_cpu=False)
    for scale in (1, 8):
        model = perf.StepModel(**{**fields, "expert_token_scale": scale})
        touched = 1 - (1 - 8 / 256) ** (4 * scale)  # 4 local tokens, each engine as busy
        assert model.step_seconds(4, 0, 0, 0) == pytest.approx(touched * 1.0, rel=1e-12)


def _cost(decode, decode_ctx, prefill, prefill_ctx):
    return 0.005 + 0.0001 * decode + 2e-6 * prefill


def test_engines_split_the_run_round_robin_and_sum_their_throughput():
    limits = EngineLimits(max_num_seqs=64, max_num_batched_tokens=2048, num_gpu_blocks=100_000, layout=FULL)
    run = Traffic(num_prompts=40, request_rate=20.0, prompt_tokens=300, output_tokens=50, distribution="random",
                  range_ratio=0.5, seed=3)
    four = simulate_traffic(run, limits, _cost, engines=4)
    arrival, prompt, output = draw(run)
    share = simulate(arrival[::4], prompt[::4], output[::4], limits, _cost)
    assert four.completed == 4 * share.completed == 40
    assert four.request_throughput_per_s == pytest.approx(4 * share.request_throughput_per_s, rel=1e-12)
    assert four.output_throughput_per_s == pytest.approx(4 * share.output_throughput_per_s, rel=1e-12)
    for ours, alone in ((stats(four.ttft_s), stats(share.ttft_s)), (stats(four.itl_s), stats(share.itl_s))):
        # The same samples four times over: the same mean; percentiles interpolate over 4x as many.
        assert ours.mean == pytest.approx(alone.mean, rel=1e-12)
        assert ours.median == pytest.approx(alone.median, rel=1e-12)
    assert int(four.timeline.running.max()) == 4 * int(share.timeline.running.max())


def test_a_closed_loop_gives_each_engine_its_share_of_the_clients():
    limits = EngineLimits(max_num_seqs=64, max_num_batched_tokens=2048, num_gpu_blocks=100_000, layout=FULL)
    run = Traffic(num_prompts=64, max_concurrency=10, prompt_tokens=100, output_tokens=20, distribution="fixed")
    result = simulate_traffic(run, limits, _cost, engines=4)
    # 10 clients over 4 engines: 3 each (rounded up), so never more than 3 running on the simulated one.
    assert int(result.timeline.running.max()) <= 4 * 3
    assert result.completed == 64


def test_sustainable_rate_never_beats_the_prefill_compute(dp8, tp8):
    """Every request's prompt must be prefilled: the sustained rate x prompt cannot exceed prefill throughput."""
    for p in (dp8, tp8):
        perf_ = p.performance
        prompt = p.request.workload.prompt_tokens
        prefill_all = perf_.prefill_tokens_per_s.expected * p.hardware.data_parallel_size
        assert perf_.max_request_rate_per_s.expected * prompt <= prefill_all
    assert dp8.performance.max_request_rate_per_s.expected > tp8.performance.max_request_rate_per_s.expected
    assert any("API server spreads the requests evenly over 8 data-parallel engines" in a for a in dp8.performance.assumptions)


@pytest.fixture(scope="module")
def dp16():
    return make_plan(model="deepseek-ai/DeepSeek-V3", gpu="H200", gpus=8, nodes=2)


def test_dp_across_two_nodes_runs_vllms_own_launcher(dp16):
    assert (dp16.hardware.data_parallel_size, dp16.hardware.tensor_parallel_size, dp16.hardware.pipeline_parallel_size) == (16, 1, 1)
    recipe = dp16.artifacts.multi_node
    subprocess.run(["bash", "-n"], input=recipe, text=True, check=True)
    commands = [shell_words(part) for part in recipe.split("# Node ")[1:]]
    head, worker = commands
    head_args = head[head.index("serve") + 2:]
    worker_args = worker[worker.index("serve") + 2:]
    check_vllm_args(head_args)
    check_vllm_args(worker_args)
    assert "--headless" not in head_args and "--headless" in worker_args
    assert worker_args[worker_args.index("--data-parallel-start-rank") + 1] == "8"
    for args in (head_args, worker_args):
        assert args[args.index("--data-parallel-size-local") + 1] == "8"
        assert args[args.index("--data-parallel-address") + 1] == "$HEAD_IP"
        assert "--distributed-executor-backend" not in args


def test_dp_across_nodes_compose_and_kubernetes(dp16):
    doc = yaml.safe_load(dp16.artifacts.docker_compose)
    COMPOSE.validate(doc)
    head, worker = doc["services"]["head"], doc["services"]["worker"]
    check_vllm_args([a if not a.startswith("${") else "10.0.0.1" for a in head["command"][2:]])
    assert worker["command"][-2:] == ["--data-parallel-start-rank", "${DP_START_RANK:?set DP_START_RANK to this node's index x 8}"]
    docs = list(yaml.safe_load_all(dp16.artifacts.kubernetes))
    check_kubernetes(docs)
    group = docs[0]["spec"]["leaderWorkerTemplate"]
    leader = group["leaderTemplate"]["spec"]["containers"][0]
    assert leader["args"][leader["args"].index("--data-parallel-address") + 1] == "$(LWS_LEADER_ADDRESS)"
    script = group["workerTemplate"]["spec"]["containers"][0]["args"][0]
    # Kubernetes substitutes $(LWS_LEADER_ADDRESS) and turns $$ into $ before bash reads the script.
    as_bash = script.replace("$(LWS_LEADER_ADDRESS)", "10.0.0.1").replace("$$", "$")
    subprocess.run(["bash", "-n", "-c", as_bash], check=True)
    words = shlex.split(as_bash)
    assert words[words.index("--data-parallel-start-rank") + 1] == "$((LWS_WORKER_INDEX * 8))"
    out = subprocess.run(["bash", "-c", f"LWS_WORKER_INDEX=1; echo {words[-1]}"], capture_output=True, text=True)
    assert out.stdout.strip() == "8"
