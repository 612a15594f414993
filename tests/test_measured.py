"""Bundled published measurements: the files validate, name catalog models and GPUs, and the lookup matches as documented."""

from __future__ import annotations

import pytest

from wizard.catalog.gpus import find_gpu
from wizard.catalog.metadata import catalog_entry, catalog_ids
from wizard.errors import WizardError
from wizard.physics import quant
from wizard.reality.measured import (
    DATA_DIR,
    collections,
    find_measurements,
    measured_runs,
    weight_format_of,
)
from wizard.schema.measured import MeasuredCollection

QWEN32_C16 = "qwen_qwen3_32b_qwen_qwen3_32b_h100_sxm_vllm_agg_1024x1024_c16_tp2_epnone_34"
GPT_OSS_C16 = "2026_04_06_gpt_oss_120b_h200_sxm_vllm_fp4_agg_1024x1024_c16_tp1_ep1_281"


def _ids(runs):
    return [run.id for run in runs]


def test_every_file_validates_and_is_one_collection():
    files = sorted(DATA_DIR.glob("*.json"))
    assert [p.name for p in files] == ["aiconfigurator.json", "vllm_perf_results.json"]
    for path in files:
        collection = MeasuredCollection.model_validate_json(path.read_text())
        assert collection.collection == path.stem
        assert {run.collection for run in collection.runs} == {path.stem}
        assert len({run.id for run in collection.runs}) == len(collection.runs)
    assert [len(c.runs) for c in collections()] == [519, 79]


def test_every_run_names_a_catalog_model_and_gpu_and_a_source():
    models = set(catalog_ids())
    for run in measured_runs():
        assert run.model in models, run.id
        gpu = find_gpu(run.gpu)
        assert gpu is not None and gpu.name == run.gpu, run.id
        assert run.source.strip() and run.confidence in ("high", "medium", "low"), run.id
        assert run.gpu_count == run.tp * run.pp * run.dp, run.id


def test_every_run_weights_are_what_the_catalog_checkpoint_loads_as():
    """A replay of the run (its catalog model and --quantization) loads the weights the run had."""
    for run in measured_runs():
        checkpoint = quant.from_checkpoint(catalog_entry(run.model)["config"].get("quantization_config"))
        assert weight_format_of(quant.resolve(checkpoint, run.quantization)) == run.weight_format, run.id


def test_aiconfigurator_file_carries_its_licence_and_notice():
    aic = next(c for c in collections() if c.collection == "aiconfigurator")
    assert aic.license.startswith("Apache-2.0")
    assert aic.attribution.startswith(
        "Derived from NVIDIA AIConfigurator (aiconfigurator-core 0.12.0, systems/silicon_sample.csv), Apache-2.0, "
        "© NVIDIA CORPORATION & AFFILIATES; converted and filtered")
    assert (DATA_DIR / "LICENSE-aiconfigurator.md").read_text().count("Apache License") >= 2


def test_calibration_row_found_exactly():
    """Row 23 of vllm_perf_results.csv: Qwen3-8B, one H100 SXM, ShareGPT 232.6 / 220.6 tokens, concurrency 4."""
    runs = find_measurements("Qwen/Qwen3-8B", "H100", 1, 1, 232, 220, "concurrency", concurrency=4)
    assert _ids(runs) == ["23"]
    run = runs[0]
    assert (run.collection, run.vllm_version, run.weight_format) == ("vllm_perf_results", "0.11.0", "16-bit")
    assert (run.metrics.mean_tpot_ms, run.metrics.mean_ttft_ms, run.metrics.output_tokens_per_s) == (7.38, 64.0, 496.88)
    assert run.source == "github.com/gpustack/gpustack docs/performance-lab/qwen3-8b/h100-latency.md"
    # The catalog id matches case-insensitively, as Hub ids do.
    assert _ids(find_measurements("qwen/qwen3-8b", "H100 SXM 80GB", 1, 1, 232, 220, "concurrency")) == ["23"]


def test_aiconfigurator_rows_found_exactly():
    qwen = find_measurements("Qwen/Qwen3-32B", "H100 SXM", 2, 1, 1024, 1024, "concurrency", concurrency=16)
    assert qwen[0].id == QWEN32_C16
    assert (qwen[0].metrics.mean_ttft_ms, qwen[0].metrics.mean_tpot_ms) == (187.378, 17.381)  # 187.3777569375, 17.3813931
    assert (qwen[0].vllm_version, qwen[0].workload.max_concurrency, qwen[0].workload.lengths) == ("0.12.0", 16, "fixed")

    oss = find_measurements("openai/gpt-oss-120b", "h200", 1, 1, 1024, 1024, "concurrency", concurrency=16,
                            weight_format="mxfp4")
    assert oss[0].id == GPT_OSS_C16
    assert (oss[0].metrics.mean_ttft_ms, oss[0].metrics.mean_tpot_ms) == (133.243, 12.651)
    assert (oss[0].vllm_version, oss[0].measured_on, oss[0].confidence) == (None, "2025-11-02", "medium")


def test_nearest_load_ranks_first():
    """Concurrency 12 among runs at 8..128: |ln(16/12)| = 0.29 < |ln(8/12)| = 0.41 < ln(32/12) = 0.98 < ..."""
    runs = find_measurements("Qwen/Qwen3-32B", "H100", 2, 1, 1024, 1024, "concurrency", concurrency=12)
    assert [run.workload.max_concurrency for run in runs] == [16, 8, 32, 64, 128]


def test_same_workload_kind_ranks_before_closer_lengths():
    """gpt-oss-120b on one A100: row 54 (concurrency 4, 229.5 / 216.9 tokens), row 53 (burst of 1000, 215.3 / 196.7)."""
    closed = find_measurements("openai/gpt-oss-120b", "A100", 1, 1, 215, 197, "concurrency", concurrency=4)
    assert _ids(closed) == ["54", "53"]
    burst = find_measurements("openai/gpt-oss-120b", "A100", 1, 1, 215, 197, "burst", concurrency=1000)
    assert _ids(burst) == ["53", "54"]


def test_unknown_release_ranks_last():
    runs = find_measurements("openai/gpt-oss-120b", "H100", 2, 1, 1024, 1024, "concurrency")
    assert [run.vllm_version for run in runs][-1] is None
    assert {run.vllm_version for run in runs[:-1]} == {"0.18.0"}


def test_published_name_matches_too():
    """AIConfigurator measured the base Llama-3.1-70B; it is bundled as the catalog's instruct (same shapes)."""
    base = find_measurements("meta-llama/Llama-3.1-70B", "H100", 2, 1, 1024, 1024, "concurrency", concurrency=4)
    instruct = find_measurements("meta-llama/Llama-3.1-70B-Instruct", "H100", 2, 1, 1024, 1024, "concurrency", concurrency=4)
    assert _ids(base) == _ids(instruct)
    assert base[0].id == "2026_04_06_llama_3_1_70b_h100_sxm_vllm_fp8_agg_1024x1024_c4_tp2_ep1_738"


def test_no_match_for_another_gpu_layout_or_weights():
    assert find_measurements("Qwen/Qwen3-8B", "H200", 1, 1, 232, 220, "concurrency", concurrency=4) == []
    assert find_measurements("Qwen/Qwen3-8B", "H100", 2, 1, 232, 220, "concurrency", concurrency=4) == []
    assert find_measurements("Qwen/Qwen3-8B", "H100", 1, 2, 232, 220, "concurrency", concurrency=4) == []
    assert find_measurements("Qwen/Qwen3-8B", "no such GPU", 1, 1, 232, 220, "concurrency") == []
    # The 70B runs on two H100s are FP8: none for a bf16 plan.
    assert find_measurements("meta-llama/Llama-3.1-70B-Instruct", "H100", 2, 1, 1024, 1024, "concurrency",
                             weight_format="16-bit") == []
    fp8 = find_measurements("meta-llama/Llama-3.1-70B-Instruct", "H100", 2, 1, 1024, 1024, "concurrency", weight_format="fp8")
    assert len(fp8) == 5 and {run.weight_format for run in fp8} == {"fp8"}


def test_data_parallel_runs_match_only_their_dp():
    runs = find_measurements("Qwen/Qwen3-235B-A22B-FP8", "H200", 1, 1, 1000, 100, "concurrency", concurrency=8, dp=2)
    assert _ids(runs) == ["qwen_qwen3_235b_a22b_fp8_qwen_qwen3_235b_a22b_fp8_h200_sxm_vllm_agg_1000x100_c8_tp1_epnone_2"]
    assert find_measurements("Qwen/Qwen3-235B-A22B-FP8", "H200", 1, 1, 1000, 100, "concurrency", concurrency=8) == []


@pytest.mark.parametrize(("prompt", "output", "found"), [
    (310, 220, True),  # |232.6 - 310| = 77.4 <= 0.25 x 310 = 77.5
    (311, 220, False),  # 78.4 > 77.75
    (187, 220, True),  # |232.6 - 187| = 45.6 <= 46.75
    (186, 220, False),  # 46.6 > 46.5
    (232, 294, True),  # |220.6 - 294| = 73.4 <= 73.5
    (232, 295, False),  # 74.4 > 73.75
])
def test_lengths_within_the_tolerance_only(prompt, output, found):
    runs = find_measurements("Qwen/Qwen3-8B", "H100", 1, 1, prompt, output, "concurrency", concurrency=4)
    assert _ids(runs) == (["23"] if found else [])


def test_weight_format_of_plan_formats():
    def checkpoint(model):
        return quant.from_checkpoint(catalog_entry(model)["config"].get("quantization_config"))
    assert weight_format_of(checkpoint("openai/gpt-oss-120b")) == "mxfp4"
    assert weight_format_of(checkpoint("Qwen/Qwen3-235B-A22B-FP8")) == "fp8"
    assert weight_format_of(checkpoint("hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4")) == "int4"
    assert weight_format_of(checkpoint("Qwen/Qwen3-32B")) == "16-bit"
    assert weight_format_of(quant.ONLINE_FP8) == "fp8"


def test_bad_lookups_are_clear_errors():
    with pytest.raises(WizardError, match="workload kind 'closed'"):
        find_measurements("Qwen/Qwen3-8B", "H100", 1, 1, 232, 220, "closed")  # type: ignore[arg-type]
    with pytest.raises(WizardError, match="not a release number"):
        find_measurements("Qwen/Qwen3-8B", "H100", 1, 1, 232, 220, "concurrency", vllm_version="latest")
    with pytest.raises(WizardError, match="at least one token"):
        find_measurements("Qwen/Qwen3-8B", "H100", 1, 1, 0, 220, "concurrency")
    with pytest.raises(WizardError, match="tolerance"):
        find_measurements("Qwen/Qwen3-8B", "H100", 1, 1, 232, 220, "concurrency", tolerance=1.5)
