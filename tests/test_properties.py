"""Properties the memory model must keep for any input (hypothesis)."""

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.conftest import make_plan
from wizard.errors import WizardError

MODELS = st.sampled_from([
    "meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-8B", "openai/gpt-oss-20b", "google/gemma-2-9b-it",
    "mistralai/Mixtral-8x7B-Instruct-v0.1", "deepseek-ai/DeepSeek-V2-Lite", "Qwen/Qwen2.5-72B-Instruct-AWQ",
])
FAST = settings(max_examples=25, deadline=None)
# Settings the recommender would otherwise adapt to the memory, fixed so each
# property tests the memory model itself.
FIXED = dict(kv_cache_dtype="auto", enforce_eager=False, max_num_seqs=256, max_num_batched_tokens=2048,
             gpu_memory_utilization=0.9)


@FAST
@given(model=MODELS, vram=st.floats(20, 200), extra=st.floats(0.5, 60))
def test_more_memory_never_shrinks_the_kv_pool(model, vram, extra):
    small = make_plan(model=model, gpu="H100", vram_gb=vram, tensor_parallel_size=1, max_model_len=4096, **FIXED)
    big = make_plan(model=model, gpu="H100", vram_gb=vram + extra, tensor_parallel_size=1, max_model_len=4096, **FIXED)
    assert big.memory.kv_cache_gib >= small.memory.kv_cache_gib
    assert big.memory.kv_blocks >= small.memory.kv_blocks


@FAST
@given(model=MODELS, short=st.integers(1, 4000), extra=st.integers(1, 4000))
def test_longer_context_never_raises_max_concurrency(model, short, extra):
    a = make_plan(model=model, gpu="H200", prompt_tokens=short, gen_tokens=64, max_model_len=8192, **FIXED)
    b = make_plan(model=model, gpu="H200", prompt_tokens=short + extra, gen_tokens=64, max_model_len=8192, **FIXED)
    assert b.feasibility.max_concurrency <= a.feasibility.max_concurrency


@FAST
@given(model=MODELS, gpu=st.sampled_from(["H100", "L40S", "A100 80GB", "H200"]))
def test_fp8_kv_never_lowers_token_capacity(model, gpu):
    fixed = FIXED | {"kv_cache_dtype": "auto"}
    auto = make_plan(model=model, gpu=gpu, gpus=2, tensor_parallel_size=2, max_model_len=8192, **fixed)
    fp8 = make_plan(model=model, gpu=gpu, gpus=2, tensor_parallel_size=2, max_model_len=8192, **(fixed | {"kv_cache_dtype": "fp8"}))
    assert fp8.memory.kv_cache_tokens >= auto.memory.kv_cache_tokens


@FAST
@given(model=MODELS, small=st.sampled_from([1, 2, 4]), factor=st.sampled_from([2, 4]))
def test_tensor_parallelism_never_raises_per_gpu_weights(model, small, factor):
    try:
        a = make_plan(model=model, gpu="H200", gpus=16, tensor_parallel_size=small, **FIXED)
        b = make_plan(model=model, gpu="H200", gpus=16, tensor_parallel_size=small * factor, **FIXED)
    except WizardError as exc:  # a TP size this model cannot be split by (heads, widths, groups)
        assume(exc.field != "tensor_parallel_size")
        raise
    assert b.memory.weights_gib <= a.memory.weights_gib
