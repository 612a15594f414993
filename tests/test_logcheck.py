"""A plan against a real start-up log: replaying the run's settings, the side-by-side rows, `check-log`."""

import io
import json
from pathlib import Path

import pytest

from tests.conftest import make_plan
from wizard.catalog.gpus import get_gpu
from wizard.errors import WizardError
from wizard.faces.cli import main
from wizard.reality.logcheck import (
    check_log,
    compare_rows,
    gpus_for_total,
    infer_install,
    release_version,
    replay_request,
)
from wizard.reality.startup_log import parse_startup_log
from wizard.schema.results import LogCheck

LOGS = Path(__file__).parent / "data" / "logs"
RTX3090 = (LOGS / "v0_0.6.4_memory_profiling_rtx3090.log").read_text()
CONSUMED = (LOGS / "v1_tp2_consumed_memory_rtx6kpro.log").read_text()
BYTES_0_10_2 = LOGS / "v1_0.10.2_summary_bytes_tp2_h200.log"
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
NEMO = "mistralai/Mistral-Nemo-Instruct-2407"  # stands in for that run's Qwen3-Next: it allows the 262,144-token context


def test_a_log_whose_model_is_the_servers_directory_asks_for_the_model_it_holds():
    """vLLM is often started on a local copy ('/data/models/X'): that path is not here, and the error now says to
    name the model (the catalog's id of that folder's name when there is one), not just 'no such directory'."""
    text = BYTES_0_10_2.read_text()
    with pytest.raises(WizardError) as exc:
        check_log(text)
    assert exc.value.problems == [("model", (
        "the log's model is the server's directory '/data/models/Qwen3-Next-80B-A3B-Instruct', which cannot be read "
        "here (no such directory: '/data/models/Qwen3-Next-80B-A3B-Instruct'): give the model it holds"))]
    with pytest.raises(WizardError, match=r"give the model it holds \(Qwen/Qwen3-8B in the catalog\?\)$"):
        check_log(text.replace("/data/models/Qwen3-Next-80B-A3B-Instruct", "/data/models/qwen3-8b/"))
    assert check_log(text, model=NEMO).request.model.model == NEMO  # named: the log's path is not read


def test_rtx3090_log_is_replayed_with_what_vllm_ran():
    check = check_log(RTX3090, model=LLAMA_8B)
    flat = check.request.flat()
    # From the log: 23.58 GiB total (an RTX 3090), gpu_memory_utilization 0.90, max_model_len 20000; no version, a V0 log.
    assert (flat["gpu"], flat["vram_gb"], flat["gpu_memory_utilization"], flat["max_model_len"]) == ("RTX 3090", 23.58, 0.9, 20000)
    assert flat["vllm_version"] == "0.6.0" and flat["enforce_eager"] is False and flat["kv_cache_dtype"] == "auto"
    assert any("no vLLM version" in note for note in check.notes)


def test_rtx3090_log_every_reported_number_lies_in_the_predicted_range():
    rows = {r.quantity: r for r in check_log(RTX3090, model=LLAMA_8B).rows}
    measured = {name: r.measured for name, r in rows.items()}
    assert measured == {"model weights": 14.9888, "activation peak": 2.0712, "non-torch memory": 0.35,
                        "available KV cache memory": 3.81, "GPU KV cache size": 31232,
                        "maximum concurrency at max_model_len": 1.56}
    assert {r.verdict for r in rows.values()} == {"within range"}
    assert rows["model weights"].predicted == pytest.approx(14.99, abs=0.01)


def test_033_summary_compares_peak_activation_with_the_cuda_graph_estimate_included():
    log = parse_startup_log(CONSUMED)
    assert log.activation_includes_cuda_graphs
    p = make_plan(model=LLAMA_8B, gpu="H100")
    row = next(r for r in compare_rows(log, p) if r.quantity.startswith("peak activation"))
    ranges = p.memory.ranges
    assert row.measured == 1.24
    assert row.predicted == pytest.approx(ranges["activation_gib"].expected + ranges["cuda_graph_gib"].expected)
    assert row.low == pytest.approx(ranges["activation_gib"].low + ranges["cuda_graph_gib"].low)


def test_verdicts_say_which_side_a_miss_is_on():
    rows = compare_rows(parse_startup_log(CONSUMED), make_plan(model=LLAMA_8B, gpu="H100"))
    weights = next(r for r in rows if r.quantity == "model weights")
    assert weights.measured == 81.11 and weights.verdict == "above range"  # the run served a far larger model
    kv = next(r for r in rows if r.quantity == "available KV cache memory")
    assert kv.measured == 7.94 and kv.verdict == "below range"


def test_summary_rows_budget_and_cuda_graph_estimate():
    """The summary's requested memory is the plan's budget; vLLM's CUDA-graph estimate meets the plan's."""
    p = make_plan(model=LLAMA_8B, gpu="H100")
    rows = {r.quantity: r for r in compare_rows(parse_startup_log(CONSUMED), p)}
    budget = rows["requested memory (total x utilization)"]
    assert (budget.measured, budget.predicted) == (92.6, p.memory.budget_gib)
    assert (budget.low, budget.high) == (pytest.approx(p.memory.budget_gib - 0.01), pytest.approx(p.memory.budget_gib + 0.01))
    estimate, graphs = rows["CUDA-graph memory estimate"], rows["CUDA graphs"]
    assert (estimate.measured, graphs.measured) == (0.32, 0.2)
    cg = p.memory.ranges["cuda_graph_gib"]
    assert (estimate.predicted, estimate.low, estimate.high) == (cg.expected, cg.low, cg.high)
    assert "weights + non-torch memory" not in rows  # the weights line splits it: non-torch has its own row


def test_consumed_memory_without_the_weights_line_is_one_row():
    """0.27+ prints weights + non-torch as one number; without 'Model loading took' it is compared as the sum."""
    text = "\n".join(line for line in CONSUMED.splitlines() if "Model loading took" not in line)
    p = make_plan(model=LLAMA_8B, gpu="H100")
    rows = {r.quantity: r for r in compare_rows(parse_startup_log(text), p)}
    assert "model weights" not in rows and "non-torch memory" not in rows
    row = rows["weights + non-torch memory"]
    nt = p.memory.ranges["non_torch_gib"]
    assert row.measured == 83.1
    assert row.predicted == pytest.approx(p.memory.weights_gib + nt.expected)
    assert row.low == pytest.approx(p.memory.weights_gib * 0.97 + nt.low)
    assert row.high == pytest.approx(p.memory.weights_gib * 1.03 + nt.high)


def test_kv_cache_memory_advice_is_a_note_beside_the_plans_pool():
    """0.10.2 (bytes, no GiB printed): both suggestions, in GiB too, beside the plan's KV pool; H200 from 139.81 GiB."""
    check = check_log(BYTES_0_10_2.read_text(), model=NEMO)
    assert check.plan.hardware.gpu.startswith("H200") and check.request.flat()["tensor_parallel_size"] == 2
    assert check.notes[-1] == (
        "vLLM suggests --kv-cache-memory=45175492096 (42.07 GiB) to fit the requested memory or "
        "--kv-cache-memory=59540753920 (55.45 GiB) to use all free GPU memory; "
        f"the plan's KV pool is {check.plan.memory.kv_cache_gib:.2f} GiB per GPU"
    )
    budget = next(r for r in check.rows if r.quantity.startswith("requested memory"))
    assert (budget.measured, budget.verdict) == (125.83, "within range")  # 139.81 x 0.9 = 125.829


def test_a_log_the_model_cannot_have_produced_is_a_clear_error():
    # That run served 1,048,576 tokens per request; Llama-3.1-8B allows 131,072.
    with pytest.raises(WizardError, match="cannot replay the log's settings for meta-llama/Llama-3.1-8B-Instruct: max_model_len"):
        check_log(CONSUMED, model=LLAMA_8B)


def test_an_unknown_gpu_size_is_planned_as_a_custom_gpu():
    text = RTX3090.replace("total_gpu_memory=23.58GiB", "total_gpu_memory=30.00GiB")
    check = check_log(text, model=LLAMA_8B)
    assert check.plan.hardware.gpu_total_gib == 30.0
    assert any("no catalog GPU has 30.0 GiB" in note for note in check.notes)


def test_release_versions():
    assert release_version("0.6.4.post1", "V0") == "0.6.4"
    assert release_version("0.10.2rc2.dev36+g1234", "V1") == "0.10.2"
    assert release_version(None, "V0") == "0.6.0"
    assert release_version(None, "V1") == release_version(None, None) == "0.33.0"


def test_gpus_for_total_memory():
    assert [g.name for g in gpus_for_total(23.58)] == ["RTX 3090"]  # the RTX 4090 reports 23.55
    assert {g.name for g in gpus_for_total(79.19)} == {"H100 SXM 80GB", "H100 PCIe 80GB"}
    assert gpus_for_total(94.97) == []  # RTX PRO 6000 Blackwell: not in the catalog (the H20's 95.08 is an estimate)


def test_a_total_several_gpus_share_is_noted():
    text = RTX3090.replace("total_gpu_memory=23.58GiB", "total_gpu_memory=79.19GiB")
    check = check_log(text, model=LLAMA_8B)
    assert any("79.19 GiB is the memory of" in note for note in check.notes)


def test_replay_maps_fp8_kv_variants_and_refuses_unmodelled_online_quantization():
    request = replay_request(LLAMA_8B, gpu=get_gpu("H100"), total_gib=None, vllm_version="0.33.0", kv_cache_dtype="fp8_e5m2")
    assert request.model.kv_cache_dtype == "fp8"
    with pytest.raises(WizardError, match="does not model"):
        replay_request(LLAMA_8B, gpu=get_gpu("H100"), total_gib=None, vllm_version="0.33.0", quantization="hqq")
    with pytest.raises(WizardError, match="GPU is unknown"):
        replay_request(LLAMA_8B, gpu=None, total_gib=None, vllm_version="0.33.0")


def test_cli_check_log_text_and_json(capsys):
    path = str(LOGS / "v0_0.6.4_memory_profiling_rtx3090.log")
    assert main(["check-log", path, "--model", LLAMA_8B]) == 0
    out = capsys.readouterr().out
    assert "RTX 3090" in out and out.count("within range") == 6
    assert main(["check-log", path, "--model", LLAMA_8B, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["log"]["weights_gib"] == 14.9888 and data["plan"]["hardware"]["gpu"] == "RTX 3090"
    assert [r["verdict"] for r in data["rows"]] == ["within range"] * 6
    assert LogCheck.model_validate(data).log.weights_gib == 14.9888  # the JSON is the schema's model


def test_cli_check_log_json_carries_the_summary_fields(capsys):
    assert main(["check-log", str(BYTES_0_10_2), "--model", NEMO, "--json"]) == 0
    log = json.loads(capsys.readouterr().out)["log"]
    assert (log["suggested_kv_cache_memory_bytes"], log["suggested_kv_cache_memory_full_gpu_bytes"]) == (45175492096, 59540753920)
    assert (log["requested_memory_gib"], log["gpu_free_at_startup_gib"]) == (125.83, 139.21)


def test_cli_check_log_reads_standard_input(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(RTX3090))
    assert main(["check-log", "-", "--model", LLAMA_8B]) == 0
    assert "available KV cache memory" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["check-log", "/no/such/file.log"], "cannot read /no/such/file.log"),
    (["check-log", str(LOGS / "v0_0.6.4_memory_profiling_rtx3090.log")], "does not name the model"),
    (["check-log", str(LOGS / "v0_0.6.4_memory_profiling_rtx3090.log"), "--model", LLAMA_8B, "--gpu", "NoSuchGPU"], "NoSuchGPU"),
])
def test_cli_check_log_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cli_check_log_text_without_vllm_lines(tmp_path, capsys):
    path = tmp_path / "app.log"
    path.write_text("INFO: Uvicorn running on http://0.0.0.0:8000\nGET /health 200\n")
    assert main(["check-log", str(path), "--model", LLAMA_8B]) == 2
    assert "no vLLM memory lines found" in capsys.readouterr().err


def _gpt_oss_h100(version: str, **settings):
    return replay_request("openai/gpt-oss-120b", gpu=get_gpu("H100"), total_gib=None, vllm_version=version, tp=1, pp=1,
                          max_num_seqs=1024, max_num_batched_tokens=8192, **settings)


def test_the_kv_pool_tells_the_install_when_the_weights_cannot():
    # vllm#23278, vLLM 0.10.1 on one H100: 65.97 GiB of weights, then a KV budget of -2.14 GiB.
    # Both installs load the Marlin layout before 0.12 (65.93 GiB), so the weights cannot tell;
    # pip's sort-based sampler (1,024 rows x 201,088 fp32 logits = 0.767 GiB, x 9.7 copies + 0.05 GiB
    # = 7.49 GiB) leaves 71.27 - 65.93 - 7.49 - 0.20 = -2.35 GiB; the image's FlashInfer sampler, +3.56 GiB.
    request, note = infer_install(_gpt_oss_h100("0.10.1"), weights_gib=65.97, activation_gib=None, kv_cache_gib=-2.14)
    assert request.policy.vllm_install == "pip"
    assert note == ("the log's KV pool match pip's vLLM 0.10.1 (no bundled FlashInfer or Triton MoE kernels): "
                    "planned as a pip install")
    # Without the pool nothing tells them apart, and the request is kept as given.
    kept = _gpt_oss_h100("0.10.1")
    assert infer_install(kept, weights_gib=65.97, activation_gib=None) == (kept, None)


def test_weights_decide_before_the_kv_pool():
    # vLLM 0.11.0: the image's Triton layout loads 64.33 GiB, pip's Marlin 65.93 GiB. Logged weights of
    # 64.38 GiB say image even when a KV pool (here a made-up 1.6 GiB) would point to pip.
    request = _gpt_oss_h100("0.11.0")
    assert infer_install(request, weights_gib=64.38, activation_gib=None, kv_cache_gib=1.6) == (request, None)
