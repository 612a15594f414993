"""KV-cache bytes, groups and capacity, hand-checked per architecture family."""

import json
from pathlib import Path

import pytest

from wizard.catalog.gpus import get_gpu
from wizard.physics.arch import parse_config
from wizard.physics.kv import (
    block_size_for,
    layout,
    reported_kv_tokens,
    reported_max_concurrency,
)

CATALOG = Path(__file__).parents[1] / "wizard" / "data" / "models"


def _arch(model_id: str):
    return parse_config(json.loads((CATALOG / (model_id.replace("/", "--") + ".json")).read_text())["config"])


@pytest.mark.parametrize(
    "model_id, expected",
    [
        # layers x 2 (K and V) x kv heads x head_dim x 2 bytes (bf16)
        ("meta-llama/Llama-3.1-8B-Instruct", 32 * 2 * 8 * 128 * 2),  # 128 KiB, confirmed by vLLM logs
        ("meta-llama/Llama-2-7b-hf", 32 * 2 * 32 * 128 * 2),  # MHA: 512 KiB
        ("Qwen/Qwen2.5-7B-Instruct", 28 * 2 * 4 * 128 * 2),  # 56 KiB, confirmed by logs
        ("Qwen/Qwen3-8B", 36 * 2 * 8 * 128 * 2),  # explicit head_dim: 144 KiB
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", 32 * 2 * 8 * 128 * 2),  # MoE leaves attention alone
        ("google/gemma-2-9b-it", 42 * 2 * 8 * 256 * 2),  # head_dim 256 != hidden/heads
        ("google/gemma-3-27b-it", 62 * 2 * 16 * 128 * 2),  # nested text_config
        ("openai/gpt-oss-120b", 36 * 2 * 8 * 64 * 2),  # 73,728 B: matches 5.38 GiB / 78,384 tokens
        ("deepseek-ai/DeepSeek-V3", 61 * (512 + 64) * 2),  # MLA latent: 70,272 B
    ],
)
def test_kv_bytes_per_token_full_equivalent(model_id, expected):
    arch = _arch(model_id)
    kv = layout(arch, range(arch.num_layers), tp=1, kv_bytes=2, block_size=16, in_flight_tokens=16384)
    assert kv.bytes_per_token == expected


def test_tp_splits_kv_heads_and_replicates_beyond_them():
    arch = _arch("meta-llama/Llama-3.1-8B-Instruct")  # 8 KV heads
    per_tp = {tp: layout(arch, range(32), tp, 2, 16, 0).bytes_per_token for tp in (1, 2, 8, 16)}
    assert per_tp == {1: 131072, 2: 65536, 8: 16384, 16: 16384}


def test_mla_latent_is_replicated_across_tp():
    arch = _arch("deepseek-ai/DeepSeek-V3")
    assert layout(arch, range(61), 8, 2, 64, 0).bytes_per_token == 70272


def test_fp8_kv_halves_the_page():
    arch = _arch("Qwen/Qwen3-8B")
    assert layout(arch, range(36), 1, 1, 16, 0).bytes_per_token == 36 * 2 * 8 * 128


def test_gpt_oss_hybrid_groups_and_blocks_per_request():
    arch = _arch("openai/gpt-oss-120b")
    kv = layout(arch, range(36), tp=1, kv_bytes=2, block_size=16, in_flight_tokens=2 * 8192)
    # 18 sliding + 18 full layers -> two groups of 18; a block id costs one page in 18 layers.
    assert kv.group_size == 18 and sorted(g.kind for g in kv.groups) == ["full", "sliding"]
    assert kv.bytes_per_block == 18 * 16 * 2 * 8 * 64 * 2
    # full group: 131072 / 16 blocks; sliding: cdiv(min(128 - 1 + 16384, 131072), 16) + 1
    assert kv.blocks_per_request(131072) == 8192 + 1032 + 1


def test_gemma3_groups_follow_vllm_padding_rule():
    arch = _arch("google/gemma-3-27b-it")  # 52 sliding (window 1024) + 10 full layers
    kv = layout(arch, range(62), 1, 2, 16, 4096)
    # group size = min(10, 52) because 52 >= 1.5 x 10: 6 sliding groups (8 padding layers) + 1 full
    assert kv.group_size == 10
    assert sorted(g.kind for g in kv.groups) == ["full"] + ["sliding"] * 6


def test_all_sliding_model_caps_each_request():
    arch = _arch("microsoft/Phi-3-mini-4k-instruct")  # sliding_window 2047 on every layer, no layer_types
    kv = layout(arch, range(32), 1, 2, 16, 4096)
    assert kv.blocks_per_request(100) == 7 + 1
    assert kv.blocks_per_request(4096) == 256 + 1  # cdiv(min(2046 + 4096, 4096), 16) + 1, as vLLM counts it


def test_max_tokens_per_request_inverts_blocks():
    arch = _arch("meta-llama/Llama-3.1-8B-Instruct")
    kv = layout(arch, range(32), 1, 2, 16, 0)
    assert kv.max_tokens_per_request(100, 2, 10**6) == 50 * 16
    assert kv.max_tokens_per_request(1, 2, 10**6) == 0


@pytest.mark.parametrize("gpu, size", [("H100", 64), ("B200", 128), ("A100", 16)])
def test_mla_block_size_by_backend(gpu, size):
    assert block_size_for(_arch("deepseek-ai/DeepSeek-V3"), get_gpu(gpu)) == size


def test_dense_block_size_is_16():
    assert block_size_for(_arch("Qwen/Qwen3-8B"), get_gpu("H100")) == 16


def test_hybrid_token_count_as_0_1x_releases_print_it():
    # gpt-oss-120b on 4 x A100 (TP 4): two groups of 18 layers. Before 0.21 vLLM printed
    # num_blocks // groups x block_size: 330,018 blocks -> 2,640,144 tokens (a real log).
    arch = _arch("openai/gpt-oss-120b")
    kv = layout(arch, range(36), tp=4, kv_bytes=2, block_size=16, in_flight_tokens=2048)
    assert reported_kv_tokens(kv, 330_018, 131072, (0, 11, 0)) == 165_009 * 16 == 2_640_144
    # 9,798 blocks at TP 1 (5.38 GiB of 18 x 32 KiB blocks) -> the 78,384 tokens of the truth CSV.
    kv1 = layout(arch, range(36), tp=1, kv_bytes=2, block_size=16, in_flight_tokens=8192)
    assert reported_kv_tokens(kv1, 9_798, 131072, (0, 11, 0)) == 78_384
    # The raw block capacity stays available beside it.
    assert kv.capacity_tokens(330_018) == 5_280_288


def test_hybrid_token_count_from_0_21_is_concurrency_times_max_model_len():
    arch = _arch("openai/gpt-oss-120b")
    kv = layout(arch, range(36), tp=4, kv_bytes=2, block_size=16, in_flight_tokens=2 * 2048)
    # One 131072-token request: 8192 full blocks + cdiv(127 + 4096, 16) + 1 = 265 sliding blocks.
    assert kv.blocks_per_request(131072) == 8457
    assert reported_kv_tokens(kv, 330_018, 131072, (0, 33, 0)) == int(330_018 / 8457 * 131072) == 5_114_830
    assert reported_max_concurrency(kv, 330_018, 131072) == pytest.approx(39.02, abs=0.005)


def test_uniform_model_prints_the_same_tokens_in_every_release():
    arch = _arch("meta-llama/Llama-3.1-8B-Instruct")
    kv = layout(arch, range(32), 1, 2, 16, 4096)
    for version in ((0, 9, 2), (0, 20, 0), (0, 33, 0)):
        assert reported_kv_tokens(kv, 1000, 8192, version) == 16_000  # 1000 / 512 x 8192 from 0.21
    # V0 printed "# GPU blocks" and a concurrency of blocks x 16 / max_model_len (1952 x 16 / 20000 = 1.56x).
    assert reported_kv_tokens(kv, 1952, 20000, (0, 6, 4), v0=True) == 31_232
    assert reported_max_concurrency(kv, 1952, 20000, v0=True) == pytest.approx(1.5616)


def test_longest_request_of_a_hybrid_pool_in_closed_form_past_the_window():
    # A full group and a 128-token sliding group, 16-token blocks, 8,192 tokens in flight: past 127 + 8,192
    # tokens the sliding group holds cdiv(8,319, 16) + 1 = 521 blocks. 10 requests in 100,000 blocks may hold
    # 10,000 blocks each, so 9,479 full blocks: 151,664 tokens (one more token needs a 9,480th block).
    from wizard.physics.kv import KvGroup, KvLayout

    kv = KvLayout(block_size=16, page_bytes=1, group_size=1, groups=(KvGroup("full", None), KvGroup("sliding", 128)),
                  attention_layers=2, in_flight_tokens=8192)
    assert kv.blocks_per_request(151_664) == 10_000 and kv.blocks_per_request(151_665) == 10_001
    assert kv.max_tokens_per_request(100_000, 10, 200_000) == 151_664
    assert kv.max_tokens_per_request(100_000, 10, 131_072) == 131_072
    # Short of the window's reach both groups grow with the request, and the bisection decides: 1,000 blocks each
    # hold 7,984 tokens (499 full + 499 + 1 sliding blocks = 999; a 7,985th token needs 500 + 501).
    assert kv.blocks_per_request(7_984) == 999 and kv.blocks_per_request(7_985) == 1_001
    assert kv.max_tokens_per_request(10_000, 10, 200_000) == 7_984
