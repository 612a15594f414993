"""Memory per GPU: exact weights, vLLM's capture sizes, and the budget arithmetic."""

import json
from pathlib import Path

import pytest

from wizard.physics.arch import parse_config
from wizard.physics.memory import (
    GIB,
    Engine,
    Triple,
    activation,
    capture_sizes,
    plan_memory,
    stage_weights,
)
from wizard.physics.quant import NONE, ONLINE_FP8, from_checkpoint

CATALOG = Path(__file__).parents[1] / "wizard" / "data" / "models"


def _arch(model_id: str):
    return parse_config(json.loads((CATALOG / (model_id.replace("/", "--") + ".json")).read_text())["config"])


ENGINE = Engine(tp=1, pp=1, dtype_bytes=2, kv_bytes=2, block_size=16, max_model_len=131072, max_num_seqs=256,
                max_num_batched_tokens=2048, gpu_memory_utilization=0.92, cuda_graphs=True, nvlink=False,
                max_capture_ceiling=512)


def test_llama_8b_weights_match_vllm_log_to_the_byte():
    # vLLM prints "Loading model weights took 14.9888 GiB": 8,030,261,248 bf16 params
    # plus the RoPE cos/sin cache of 131072 positions x 128 dims x 2 bytes.
    arch = _arch("meta-llama/Llama-3.1-8B-Instruct")
    weights = stage_weights(arch, NONE, ENGINE, range(32), True, True)
    assert weights == 8_030_261_248 * 2 + 131072 * 128 * 2
    assert round(weights / GIB, 4) == 14.9888


def test_llama_70b_tp4_weights_by_hand():
    arch = _arch("meta-llama/Llama-3.1-70B-Instruct")
    engine = ENGINE._replace(tp=4)
    per_layer = (8192 * 16 * 128 + 2 * 8192 * 2 * 128 + 16 * 128 * 8192 + 3 * 8192 * 7168 + 2 * 8192)
    expected = 2 * (80 * per_layer + 2 * (128256 // 4) * 8192 + 8192) + 131072 * 128 * 2
    assert stage_weights(arch, NONE, engine, range(80), True, True) == expected


def test_pipeline_stages_hold_their_layers_embedding_first_head_last():
    arch = _arch("meta-llama/Llama-3.1-8B-Instruct")
    engine = ENGINE._replace(pp=2)
    first = stage_weights(arch, NONE, engine, range(16), True, False)
    last = stage_weights(arch, NONE, engine, range(16, 32), False, True)
    rope = 131072 * 128 * 2
    assert first + last - 2 * rope == 8_030_261_248 * 2


def test_online_fp8_keeps_embeddings_and_head_in_bf16():
    arch = _arch("meta-llama/Llama-3.1-8B-Instruct")
    fp8 = stage_weights(arch, ONLINE_FP8, ENGINE, range(32), True, True)
    embed_head = 2 * 128256 * 4096 * 2
    linear = 8_030_261_248 - 2 * 128256 * 4096 - 65 * 4096
    # 7 linear matrices per layer each carry two fp32 scales (weight and input)
    assert fp8 == embed_head + linear + 32 * 7 * 8 + 65 * 4096 * 2 + 131072 * 128 * 2


def test_awq_matrix_bytes_by_hand():
    fmt = from_checkpoint({"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True})
    # 4096 x 4096: 4-bit values, a fp16 scale and a 4-bit zero per 128 inputs per output
    assert fmt.matrix_bytes(4096, 4096) == 4096 * 4096 // 2 + 32 * 4096 * 2 + 32 * 4096 // 2


def test_fp8_block_scales_by_hand():
    fmt = from_checkpoint({"quant_method": "fp8", "weight_block_size": [128, 128]})
    assert fmt.matrix_bytes(7168, 2048) == 7168 * 2048 + 56 * 16 * 4


@pytest.mark.parametrize(
    "seqs, tokens, count, largest",
    [(1024, 8192, 51, 512), (256, 2048, 51, 512), (128, 2048, 35, 256), (8, 2048, 5, 16), (1024, 256, 35, 256)],
)
def test_capture_sizes_follow_vllm_defaults(seqs, tokens, count, largest):
    sizes = capture_sizes(seqs, tokens, 512)
    assert len(sizes) == count and sizes[-1] == largest


def test_activation_is_the_larger_of_forward_and_sampler():
    arch = _arch("meta-llama/Llama-3.1-8B-Instruct")
    engine = ENGINE._replace(max_num_seqs=1024, max_num_batched_tokens=8192)
    peak = activation(arch, engine, range(32), last=True)
    sampler = 1024 * 128256 * 4 * 9.0  # expected fp32 copies per logit on vLLM 0.29+ (wizard/physics/versions.py)
    assert peak.expected == pytest.approx(sampler + 0.05 * GIB)
    # Not the last pipeline stage: no sampler, only the forward pass.
    forward_only = activation(arch, engine, range(32), last=False)
    assert forward_only.expected == pytest.approx(8192 * (3.4 * 14336 + 2 * 4096) * 2 + 0.05 * GIB)


def test_kv_pool_is_budget_minus_everything_else():
    arch = _arch("meta-llama/Llama-3.1-8B-Instruct")
    mem = plan_memory(arch, NONE, ENGINE, 79.19)
    stage = mem.stages[0]
    expected = 79.19 * GIB * 0.92 - stage.weights - stage.activation.expected - stage.non_torch.expected - stage.cuda_graph.expected
    assert stage.available.expected == pytest.approx(expected)
    assert mem.num_blocks == int(expected // (32 * 16 * 4096))
    assert stage.available.low < stage.available.expected < stage.available.high


def test_eager_mode_frees_cuda_graph_memory():
    arch = _arch("Qwen/Qwen3-8B")
    graphs = plan_memory(arch, NONE, ENGINE, 79.19)
    eager = plan_memory(arch, NONE, ENGINE._replace(cuda_graphs=False), 79.19)
    assert eager.stages[0].cuda_graph.expected == 0
    assert eager.num_blocks > graphs.num_blocks


def test_pinned_kv_cache_is_exactly_the_bytes_given_whatever_the_utilization():
    # --kv-cache-memory-bytes 20 GiB: the pool is 20 GiB, not total x utilization - the rest.
    arch = _arch("meta-llama/Llama-3.1-8B-Instruct")
    pinned = ENGINE._replace(kv_cache_memory_bytes=20 * GIB)
    for util in (0.5, 0.92):
        mem = plan_memory(arch, NONE, pinned._replace(gpu_memory_utilization=util), 79.19)
        assert mem.stages[0].available == Triple.exact(20 * GIB)
        assert mem.num_blocks == 20 * GIB // (32 * 16 * 8 * 2 * 128 * 2) == 10240
    stage = mem.stages[0]
    # What is left on the device: free at start (total - 0.5 GiB of CUDA context) minus weights,
    # working memory, captured graphs (vLLM's estimate / 1.1) and the pool.
    left = (79.19 - 0.5) * GIB - stage.weights - stage.activation.expected - stage.non_torch.expected \
        - stage.cuda_graph.expected / 1.1 - 20 * GIB
    assert stage.unallocated.expected == pytest.approx(left)
    assert mem.pinned_shortfall == 0.0


def test_pinned_kv_cache_larger_than_the_gpu_does_not_start():
    arch = _arch("meta-llama/Llama-3.1-8B-Instruct")
    mem = plan_memory(arch, NONE, ENGINE._replace(kv_cache_memory_bytes=70 * GIB), 79.19)
    stage = mem.stages[0]
    need = stage.weights + stage.activation.expected + stage.non_torch.expected + stage.cuda_graph.expected / 1.1 + 70 * GIB
    assert mem.pinned_shortfall == pytest.approx(need - (79.19 - 0.5) * GIB)
    assert mem.pinned_shortfall > 7 * GIB  # 15 GiB of weights + 70 GiB of pool on a 79 GiB card
    # Unpinned plans never report a shortfall: the utilization budget sizes the pool.
    assert plan_memory(arch, NONE, ENGINE, 79.19).pinned_shortfall == 0.0


def test_sliding_windows_reserve_one_chunk_before_0_26():
    engine = ENGINE._replace(max_num_batched_tokens=8192)
    assert engine.in_flight_tokens == 2 * 8192  # async scheduling keeps two batches in flight
    assert engine._replace(sliding_reserves_in_flight=False).in_flight_tokens == 8192
    assert engine._replace(pp=4).in_flight_tokens == 4 * 8192
