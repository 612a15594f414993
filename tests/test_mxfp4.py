"""MXFP4 experts as each vLLM backend stores them, and which backend a GPU and release get."""

import json
from pathlib import Path

import pytest

from wizard.physics import quant
from wizard.physics.arch import parse_config
from wizard.physics.memory import Engine, stage_weights
from wizard.physics.params import layer_tensors
from wizard.units import GIB

CATALOG = Path(__file__).parents[1] / "wizard" / "data" / "models"
ENGINE = Engine(tp=1, pp=1, dtype_bytes=2, kv_bytes=2, block_size=16, max_model_len=131072, max_num_seqs=256,
                max_num_batched_tokens=2048, gpu_memory_utilization=0.9, cuda_graphs=True, nvlink=False,
                max_capture_ceiling=512)
MXFP4 = quant.from_checkpoint({"quant_method": "mxfp4"})


def _arch(model_id: str):
    return parse_config(json.loads((CATALOG / (model_id.replace("/", "--") + ".json")).read_text())["config"])


def _weights_gib(model_id: str, kernel: quant.Mxfp4Kernel, tp: int = 1) -> float:
    arch = _arch(model_id)
    fmt = quant.from_checkpoint(arch.quantization_config)
    engine = ENGINE._replace(tp=tp, mxfp4_kernel=kernel)
    return stage_weights(arch, fmt, engine, range(arch.num_layers), True, True) / GIB


def test_marlin_pads_hidden_to_256_and_intermediate_to_128():
    # gpt-oss gate_up per expert: 2 x 2880 outputs -> 2 x 2944, 2880 inputs -> 3072:
    # 4-bit values 5888 x 1536 bytes + one E8M0 scale per 32 inputs (5888 x 96).
    assert MXFP4.matrix_bytes(5760, 2880, "gate_up", quant.MXFP4_MARLIN) == 5888 * 1536 + 5888 * 96
    # down: 2880 outputs -> 3072, 2880 inputs -> 2944.
    assert MXFP4.matrix_bytes(2880, 2880, "down", quant.MXFP4_MARLIN) == 3072 * 1472 + 3072 * 92


def test_triton_hopper_swizzles_scales_to_256_rows_and_keeps_the_originals():
    kernel = quant.MXFP4_TRITON_HOPPER
    # Values keep 5760 x 1440 bytes (16-row, 32-byte tiles divide them); the swizzled
    # scales pad 5760 rows to 5888 (x 90 columns) and the 5760 x 90 originals stay.
    assert MXFP4.matrix_bytes(5760, 2880, "gate_up", kernel) == 5760 * 1440 + 5888 * 90 + 5760 * 90
    assert MXFP4.matrix_bytes(2880, 2880, "down", kernel) == 2880 * 1440 + 3072 * 90 + 2880 * 90
    # 0.25+ frees the originals; 0.17-0.21 first pad both value dimensions to 64.
    assert MXFP4.matrix_bytes(2880, 2880, "down", quant.MXFP4_TRITON_HOPPER_FREED) == 2880 * 1440 + 3072 * 90
    assert MXFP4.matrix_bytes(2880, 2880, "down", quant.MXFP4_TRITON_HOPPER_PREPAD) == 2880 * 1472 + 3072 * 90 + 2880 * 90


def test_triton_pads_the_tp_slice_of_the_intermediate_to_64():
    # TP 2: 1440 intermediate per rank -> 1472; scale columns 1472 / 32 = 46 are already even.
    kernel = quant.MXFP4_TRITON_HOPPER_FREED
    assert MXFP4.matrix_bytes(2 * 1440, 2880, "gate_up", kernel) == 2944 * 1440 + 3072 * 90
    assert MXFP4.matrix_bytes(2880, 1440, "down", kernel) == 2880 * 736 + 3072 * 46


def test_expert_biases_follow_the_kernel():
    arch = _arch("openai/gpt-oss-120b")
    biases = [t for t in layer_tensors(arch, 0) if t.kind == "expert_bias"]
    marlin = sum(MXFP4.tensor_bytes(t, 0, 2, quant.MXFP4_MARLIN) for t in biases)
    triton = sum(MXFP4.tensor_bytes(t, 0, 2, quant.MXFP4_TRITON_HOPPER) for t in biases)
    assert marlin == 128 * (5888 + 3072) * 2  # padded, bf16
    assert triton == 128 * (5760 + 2880) * 4  # unpadded, cast to fp32
    # An unquantized checkpoint keeps them as stored.
    assert sum(quant.NONE.tensor_bytes(t, 0, 2) for t in biases) == 128 * 8640 * 2


@pytest.mark.parametrize(
    "model_id, kernel, logged_gib",
    [
        # vLLM 0.10.1 on H100 (Marlin): "Model loading took 65.9651 GiB" (vllm-project/vllm#23278)
        ("openai/gpt-oss-120b", quant.MXFP4_MARLIN, 65.9651),
        # vLLM 0.19 on A100 (Marlin): 13.72 GiB (myoceane.fr blog, truth CSV)
        ("openai/gpt-oss-20b", quant.MXFP4_MARLIN, 13.72),
        # Triton kernels on H100 with the swizzled scales beside the originals: 64.38 / 13.47 GiB
        ("openai/gpt-oss-120b", quant.MXFP4_TRITON_HOPPER, 64.38),
        ("openai/gpt-oss-20b", quant.MXFP4_TRITON_HOPPER, 13.47),
        # FlashInfer TRT-LLM, hidden 3072 / intermediate 2944: "Model loading took 13.7153 GiB"
        ("openai/gpt-oss-20b", quant.MXFP4_TRTLLM_128, 13.7153),
    ],
)
def test_gpt_oss_weights_match_logs_per_backend(model_id, kernel, logged_gib):
    # Within 0.3% (0.001-0.05 GiB): what is left is the caching allocator rounding each tensor up.
    assert abs(_weights_gib(model_id, kernel) - logged_gib) / logged_gib < 0.003


def test_gpt_oss_120b_triton_weights_by_hand():
    # Per MoE layer: 128 experts x (gate_up + down) + fp32 biases; 36 layers.
    experts = 128 * ((5760 * 1440 + 5888 * 90 + 5760 * 90) + (2880 * 1440 + 3072 * 90 + 2880 * 90) + 8640 * 4)
    dense = _weights_gib("openai/gpt-oss-120b", quant.MXFP4_MARLIN) * GIB - 36 * 128 * (
        (5888 * 1536 + 5888 * 96) + (3072 * 1472 + 3072 * 92) + (5888 + 3072) * 2)
    assert _weights_gib("openai/gpt-oss-120b", quant.MXFP4_TRITON_HOPPER) * GIB == pytest.approx(dense + 36 * experts, abs=1)


def test_gpt_oss_rope_cache_is_float32():
    # gpt_oss.py builds its YaRN rotary embedding with dtype=torch.float32: 4096 x 32 positions x 64 dims x 4 B.
    arch = _arch("openai/gpt-oss-20b")
    assert (arch.rope_positions, arch.rope_dim, arch.rope_bytes) == (131072, 64, 4)
    assert _arch("meta-llama/Llama-3.1-8B-Instruct").rope_bytes == 0  # model dtype


@pytest.mark.parametrize(
    "cc, vendor, version, expected",
    [
        ((8, 0), "NVIDIA", (0, 33, 0), quant.MXFP4_MARLIN),  # A100: no Triton or FlashInfer kernels
        ((8, 9), "NVIDIA", (0, 19, 0), quant.MXFP4_MARLIN),  # L40S
        ((9, 0), "NVIDIA", (0, 11, 0), quant.MXFP4_MARLIN),  # triton_kernels not bundled yet
        ((9, 0), "NVIDIA", (0, 14, 0), quant.MXFP4_TRITON_HOPPER),
        ((9, 0), "NVIDIA", (0, 19, 0), quant.MXFP4_TRITON_HOPPER_PREPAD),
        ((9, 0), "NVIDIA", (0, 23, 0), quant.MXFP4_TRITON_HOPPER),
        ((9, 0), "NVIDIA", (0, 33, 0), quant.MXFP4_TRITON_HOPPER_FREED),
        ((10, 0), "NVIDIA", (0, 11, 0), quant.MXFP4_MARLIN),  # FlashInfer an optional extra
        ((10, 0), "NVIDIA", (0, 20, 0), quant.MXFP4_TRTLLM),
        ((10, 0), "NVIDIA", (0, 33, 0), quant.MXFP4_TRTLLM_128),
        ((12, 0), "NVIDIA", (0, 33, 0), quant.MXFP4_MARLIN),  # consumer Blackwell: Marlin first
        (None, "AMD", (0, 33, 0), quant.MXFP4_ROCM_TRITON),
    ],
)
def test_backend_per_gpu_family_and_release(cc, vendor, version, expected):
    assert quant.mxfp4_kernel(cc, vendor, version) == expected


def test_h100_weights_by_release():
    # gpt-oss-120b on one H100, pip-installed vLLM: Marlin until 0.12, then the Triton kernels.
    by_release = {v: round(_weights_gib("openai/gpt-oss-120b", quant.mxfp4_kernel((9, 0), "NVIDIA", v)), 2)
                  for v in ((0, 11, 0), (0, 14, 0), (0, 19, 0), (0, 33, 0))}
    assert by_release == {(0, 11, 0): 65.93, (0, 14, 0): 64.33, (0, 19, 0): 65.52, (0, 33, 0): 61.0}
