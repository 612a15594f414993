"""End-to-end plans: fit verdicts, recommendations and reports for catalog models."""

import re

import pytest

from tests.conftest import make_plan
from wizard.errors import WizardError


def test_llama_8b_on_one_h100_fits_with_vllm_defaults():
    p = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100")
    assert p.feasibility.fits and p.feasibility.starts and p.feasibility.workload_fits
    assert p.memory.gpu_total_gib == 79.19 and p.memory.gpu_memory_utilization == 0.92
    assert p.memory.weights_gib == 14.99
    assert p.memory.max_model_len == 131072
    assert (p.memory.max_num_seqs, p.memory.max_num_batched_tokens) == (1024, 8192)
    assert p.recommendation.tensor_parallel_size.value == 1
    assert p.feasibility.oom_risk == "low"


def test_70b_on_one_h100_does_not_fit_and_says_why():
    p = make_plan(model="meta-llama/Llama-3.1-70B-Instruct", gpu="H100")
    assert not p.feasibility.fits and not p.feasibility.starts
    assert p.feasibility.oom_risk == "high"
    assert "does not start" in p.feasibility.failed[0] and "GiB short" in p.feasibility.failed[0]


def test_70b_on_four_a100_uses_tp4_for_the_full_context():
    p = make_plan(model="meta-llama/Llama-3.1-70B-Instruct", gpu="A100 80GB", gpus=4)
    assert p.hardware.tensor_parallel_size == 4
    assert p.feasibility.fits and p.memory.max_model_len == 131072
    assert (p.memory.max_num_seqs, p.memory.max_num_batched_tokens) == (256, 2048)  # A100: small defaults


def test_workload_that_exceeds_the_pool_is_reported():
    p = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="RTX 4090", prompt_tokens=30000, gen_tokens=2000,
                  concurrency=8, max_model_len=32768)
    assert p.feasibility.starts and not p.feasibility.workload_fits and not p.feasibility.fits
    assert "8 requests of 32,000 tokens" in p.feasibility.failed[0]
    assert p.feasibility.headroom_gib < 0
    assert p.feasibility.max_concurrency < 8


def test_context_longer_than_max_model_len_fails_the_workload():
    p = make_plan(model="Qwen/Qwen3-8B", gpu="H100", prompt_tokens=9000, max_model_len=8192)
    assert not p.feasibility.workload_fits
    assert "longer than max_model_len" in p.feasibility.failed[0]


def test_max_model_len_above_the_model_limit_is_an_error():
    with pytest.raises(WizardError, match="above the model's maximum"):
        make_plan(model="Qwen/Qwen3-8B", gpu="H100", max_model_len=100000)


def test_headroom_requirement_turns_a_fit_into_a_miss():
    fixed = dict(model="meta-llama/Llama-3.1-8B-Instruct", gpu="L4", max_model_len=8192, max_num_seqs=256,
                 kv_cache_dtype="auto", enforce_eager=False)
    base = make_plan(**fixed)
    strict = make_plan(**fixed, headroom_gb=base.feasibility.headroom_gib + 1)
    assert base.feasibility.fits and not strict.feasibility.fits
    assert "headroom" in strict.feasibility.failed[0]


def test_gpt_oss_120b_on_one_h100_lowers_max_num_seqs_to_fit_under_pip_0_11():
    # pip's 0.11 loads the Marlin layout (65.93 GiB) and samples with the sort-based sampler:
    # 1,024 sequences of 201k-vocabulary logits leave no KV cache, 256 do.
    p = make_plan(model="openai/gpt-oss-120b", gpu="H100", vllm_version="0.11.0", vllm_install="pip")
    assert p.feasibility.fits and p.memory.weights_gib == 65.93
    assert p.recommendation.max_num_seqs.value == 256
    assert "sampler" in p.recommendation.max_num_seqs.reason
    assert p.model.quantization.startswith("MXFP4")


def test_gpt_oss_120b_on_one_h100_at_0_9_and_16k_starts_from_the_v0_11_image():
    # A public profile of the v0.11.0 image: 64.38 GiB of weights, 3.33 GiB of KV cache at 0.9.
    p = make_plan(model="openai/gpt-oss-120b", gpu="H100", vllm_version="0.11.0", gpu_memory_utilization=0.9,
                  max_model_len=16384, max_num_seqs=1024)
    assert p.feasibility.starts and p.memory.weights_gib == 64.33


def test_fp8_kv_recommended_only_on_fp8_gpus_when_kv_bound():
    # 8 x 8,256 tokens x 256 KiB = 16 GiB of bf16 KV cache; one H100 has about 10 GiB left after 61 GiB of weights.
    h100 = make_plan(model="Qwen/Qwen3-32B", gpu="H100", prompt_tokens=8000, concurrency=8, max_model_len=16384)
    a100 = make_plan(model="Qwen/Qwen3-32B", gpu="A100 80GB", prompt_tokens=8000, concurrency=8, max_model_len=16384)
    assert h100.feasibility.fits and h100.memory.kv_cache_dtype == "fp8"
    assert h100.recommendation.kv_cache_dtype.source == "recommended"
    assert not a100.feasibility.fits and a100.memory.kv_cache_dtype == "auto"


def test_user_settings_are_kept():
    p = make_plan(model="Qwen/Qwen3-8B", gpu="L40S", gpus=2, tensor_parallel_size=2, max_num_seqs=64,
                  max_num_batched_tokens=4096, gpu_memory_utilization=0.8, kv_cache_dtype="fp8", enforce_eager=True)
    rec = p.recommendation
    assert (rec.tensor_parallel_size.value, rec.max_num_seqs.value, rec.max_num_batched_tokens.value) == (2, 64, 4096)
    assert rec.gpu_memory_utilization.value == 0.8 and rec.kv_cache_dtype.value == "fp8"
    assert rec.enforce_eager.value is True and p.memory.cuda_graph_gib == 0
    assert all(getattr(rec, k).source == "user" for k in ("tensor_parallel_size", "max_num_seqs", "kv_cache_dtype"))


def test_consumer_card_gets_lower_utilization():
    p = make_plan(model="Qwen/Qwen2.5-7B-Instruct", gpu="RTX 4090", max_model_len=8192)
    assert p.memory.gpu_memory_utilization == 0.90


def test_t4_runs_bf16_checkpoints_in_float16_and_rejects_explicit_bf16():
    p = make_plan(model="Qwen/Qwen2.5-0.5B-Instruct", gpu="T4")
    assert p.recommendation.dtype.value == "float16"
    with pytest.raises(WizardError, match="bfloat16"):
        make_plan(model="Qwen/Qwen2.5-0.5B-Instruct", gpu="T4", dtype="bfloat16")


@pytest.mark.parametrize("requested, message", [("awq", "unquantized"), ("gptq", "unquantized")])
def test_quantization_must_match_the_checkpoint(requested, message):
    with pytest.raises(WizardError, match=message):
        make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", quantization=requested)


def test_awq_flag_on_awq_checkpoint_is_accepted_and_fp8_is_not():
    p = make_plan(model="Qwen/Qwen2.5-72B-Instruct-AWQ", gpu="L40S", gpus=2, quantization="awq_marlin")
    assert p.recommendation.quantization.value == "awq"
    with pytest.raises(WizardError, match="does not match the checkpoint"):
        make_plan(model="Qwen/Qwen2.5-72B-Instruct-AWQ", gpu="L40S", gpus=2, quantization="fp8")


def test_online_fp8_roughly_halves_8b_weights():
    p = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", quantization="fp8")
    assert 8.4 < p.memory.weights_gib < 8.6  # 7.0 GiB of fp8 linears + 1.96 GiB bf16 embeddings/head


def test_fp8_is_refused_before_ampere():
    with pytest.raises(WizardError, match="compute capability 8.0"):
        make_plan(model="Qwen/Qwen2.5-0.5B-Instruct", gpu="T4", quantization="fp8")


@pytest.mark.parametrize("tp", [3, 5, 6])
def test_tp_that_does_not_divide_heads_is_an_error(tp):
    with pytest.raises(WizardError, match="does not divide the 32 attention heads"):
        make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", gpus=8, tensor_parallel_size=tp)


def test_tp_times_pp_beyond_the_gpus_is_an_error():
    with pytest.raises(WizardError, match="needs 8 GPUs"):
        make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", gpus=4, tensor_parallel_size=4, pipeline_parallel_size=2)


def test_deepseek_v3_at_tp8_on_8_h200_uses_mla_pages():
    p = make_plan(model="deepseek-ai/DeepSeek-V3", gpu="H200", gpus=8, tensor_parallel_size=8, enable_expert_parallel=False)
    assert p.feasibility.fits and p.hardware.tensor_parallel_size == 8
    assert p.memory.block_size == 64 and p.memory.kv_bytes_per_token == 70272
    assert p.model.attention == "MLA" and p.model.params_loaded == 671_026_419_200


def test_multimodal_checkpoint_counts_its_vision_tower():
    p = make_plan(model="google/gemma-3-27b-it", gpu="H100")
    assert p.model.params_loaded == 27_432_406_640
    assert any("vision tower" in n for n in p.model.notes)


def test_params_b_override_scales_weights_not_architecture():
    base = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100")
    bigger = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", params_b=16.06)
    assert bigger.memory.weights_gib == pytest.approx(2 * base.memory.weights_gib, abs=0.05)
    assert bigger.memory.kv_bytes_per_token == base.memory.kv_bytes_per_token


def test_custom_vram_gpu():
    p = make_plan(model="Qwen/Qwen2.5-7B-Instruct", vram_gb=40, max_model_len=8192)
    assert p.hardware.gpu.startswith("Custom GPU") and p.memory.gpu_total_gib == 40


def test_unknown_gpu_lists_known_ones():
    with pytest.raises(WizardError, match=r"unknown GPU 'X9000'\. Known GPUs: .*H100"):  # nothing close: no guess
        make_plan(model="Qwen/Qwen3-8B", gpu="X9000")


@pytest.mark.parametrize("typed, guesses", [
    ("H10O", "H100 SXM 80GB"),
    ("A100-80G", "A100 SXM 80GB or H100 SXM 80GB or A100 SXM 40GB"),  # closest first
])
def test_a_misspelt_gpu_gets_the_closest_names(typed, guesses):
    with pytest.raises(WizardError, match=re.escape(f"unknown GPU {typed!r} (did you mean {guesses}?). Known GPUs: ")):
        make_plan(model="Qwen/Qwen3-8B", gpu=typed)


def test_no_gpu_given_and_none_detected():
    with pytest.raises(WizardError, match="none detected"):
        make_plan(model="Qwen/Qwen3-8B")


def test_older_release_changes_defaults_and_accounting():
    new = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", max_model_len=8192)
    old = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", max_model_len=8192, vllm_version="0.11.0")
    v0 = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="RTX 3090", max_model_len=20000, vllm_version="0.6.4",
                   gpu_memory_utilization=0.9, vram_gb=23.58)
    assert new.memory.gpu_memory_utilization == 0.92 and new.memory.cuda_graph_in_budget
    assert old.memory.gpu_memory_utilization == 0.90 and not old.memory.cuda_graph_in_budget
    assert v0.memory.engine == "V0" and v0.memory.max_num_batched_tokens == 20000 and v0.memory.max_num_seqs == 256
    # The 0.6.4 log of this run: 2.07 GiB activation, 3.81 GiB KV cache, 1952 blocks.
    assert v0.memory.activation_gib == pytest.approx(2.07, abs=0.15)
    assert v0.memory.kv_cache_gib == pytest.approx(3.81, abs=0.15)


def test_pre_ampere_gpus_ran_v0_until_0_11():
    assert make_plan(model="Qwen/Qwen2.5-7B-Instruct", gpu="V100", vllm_version="0.8.5").memory.engine == "V0"
    assert make_plan(model="Qwen/Qwen2.5-7B-Instruct", gpu="A100", vllm_version="0.8.5").memory.engine == "V1"


def test_bad_vllm_version_is_rejected():
    with pytest.raises(WizardError, match="older than"):
        make_plan(model="Qwen/Qwen3-8B", gpu="H100", vllm_version="0.2.0")


def test_hybrid_models_report_the_tokens_their_release_prints():
    # gpt-oss-120b, 4 x A100 80GB at 0.8: a 0.1x release printed "GPU KV cache size: 2,640,144 tokens";
    # blocks // 2 KV groups x 16 gives 2,615,568 here (1% low), beside 5,231,136 raw block capacity.
    old = make_plan(model="openai/gpt-oss-120b", gpu="A100 80GB", gpus=4, tensor_parallel_size=4, gpu_memory_utilization=0.8,
                    vllm_version="0.11.0")
    assert (old.memory.kv_cache_tokens, old.memory.kv_capacity_tokens) == (2_615_568, 5_231_136)
    assert old.memory.kv_cache_tokens == old.memory.kv_blocks // 2 * 16
    new = make_plan(model="openai/gpt-oss-120b", gpu="A100 80GB", gpus=4, tensor_parallel_size=4, gpu_memory_utilization=0.8)
    mem = new.memory
    # 0.21+ prints concurrency x max_model_len. One 131,072-token request holds 8,192 full-attention blocks
    # and, in the sliding group, cdiv(127 + 2 x 2,048 in-flight tokens, 16) + 1 = 265: 8,457 blocks.
    assert mem.kv_cache_tokens == int(mem.kv_blocks / 8457 * 131072)
    assert mem.kv_capacity_tokens == mem.kv_blocks * 16 != mem.kv_cache_tokens


def test_a_pinned_kv_pool_replaces_the_utilization_and_reaches_the_serve_command():
    p = make_plan(model="Qwen/Qwen3-8B", gpu="H100", kv_cache_memory_bytes=20 * 1024**3)
    assert p.feasibility.fits and p.memory.kv_cache_gib == 20.0
    assert p.memory.kv_blocks == 20 * 1024**3 // (36 * 8 * 128 * 2 * 2 * 16)  # 36 layers x 8 KV heads x 128 x K,V x bf16 x 16
    assert "--kv-cache-memory-bytes 21474836480" in p.artifacts.serve_command
    too_big = make_plan(model="Qwen/Qwen3-8B", gpu="H100", kv_cache_memory_bytes=80 * 1024**3)
    assert not too_big.feasibility.starts and "more than the GPU has free" in too_big.feasibility.failed[0]


def test_a_pinned_kv_pool_needs_a_release_that_has_it():
    with pytest.raises(WizardError) as exc:
        make_plan(model="Qwen/Qwen3-8B", gpu="H100", kv_cache_memory_bytes="20G", vllm_version="0.10.1")
    assert exc.value.field == "kv_cache_memory_bytes" and "0.10.2" in str(exc.value)


def test_a_context_longer_than_the_model_allows_never_recommends_a_longer_max_model_len():
    """vLLM does not start with max_model_len above the model's maximum: the wizard recommended --max-model-len
    200256 for Llama-3.1-8B (131,072) when asked for 200,000-token prompts on an L4."""
    p = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="L4", prompt_tokens=200_000)
    assert p.recommendation.max_model_len.value == 131_072
    assert p.recommendation.max_model_len.reason == (
        "the model's maximum (131,072); the requested context (200,256 tokens) is longer, and the KV cache holds only "
        "30,544 tokens per request")
    assert (p.feasibility.starts, p.feasibility.refused, p.feasibility.fits) == (False, True, False)
    assert "--max-model-len 131072" in p.artifacts.serve_command
