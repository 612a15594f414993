"""`check-bench`: a user's own `vllm bench serve` run against the simulation of the same workload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizard.errors import WizardError
from wizard.faces.cli import main
from wizard.reality.bench_result import parse_bench_result
from wizard.reality.benchcheck import bench_request, check_bench
from wizard.schema.bench import BenchCheck

BENCH = Path(__file__).parent / "data" / "bench"
GPUSTACK = (BENCH / "text_v0.11.0_gpustack_qwen3-8b_h100.txt").read_text()
LAMBDA = (BENCH / "json_old_benchmark_serving_lambda_mistral7b_a100.json").read_text()
DEPLOYMENT = {"model": "Qwen/Qwen3-8B", "gpu": "H100", "vllm_version": "0.11.0"}


def test_the_workload_comes_from_the_run_and_the_deployment_from_the_user():
    request = bench_request(parse_bench_result(GPUSTACK), DEPLOYMENT)
    wl = request.workload
    # 100 ShareGPT prompts, --max-concurrency 4, rate inf; 23,322 input / 22,059 output tokens over 100 requests.
    assert (wl.num_prompts, wl.concurrency, wl.request_rate) == (100, 4, float("inf"))
    assert (wl.prompt_tokens, wl.gen_tokens) == (233, 221)
    assert (request.model.model, request.hardware.gpu, request.policy.vllm_version) == ("Qwen/Qwen3-8B", "H100", "0.11.0")


def test_every_reported_metric_is_set_beside_the_simulation():
    check = check_bench(GPUSTACK, DEPLOYMENT)
    rows = {row.quantity: row for row in check.rows}
    assert set(rows) >= {"duration", "request throughput", "output token throughput", "mean ttft", "median tpot", "p99 itl"}
    tpot = rows["mean tpot"]
    assert tpot.measured == 7.38 and tpot.verdict == "within range" and abs(tpot.error_pct) < 15
    assert rows["output token throughput"].measured == 496.88 and rows["output token throughput"].verdict == "within range"
    for row in check.rows:
        assert row.low <= row.predicted <= row.high
    # The gpustack run itself is bundled calibration data: shown beside the simulation as measured.
    assert [run.id for run in check.measured] == ["23"]


def test_a_file_with_per_request_lengths_is_replayed_request_by_request():
    check = check_bench(LAMBDA, {"model": "mistralai/Mistral-7B-Instruct-v0.3", "gpu": "A100 SXM", "vllm_version": "0.5.4",
                                 "max_model_len": 2048})
    # Ten requests, one of which produced no token: nine replayed with their own lengths, all nine served (the
    # note used to call the run cut at its work budget: 9 served of the 10 the file sent).
    assert "simulated the run's own 9 request lengths (input_lens, output_lens); 1 left out: no output token, or " \
           "longer than max_model_len (2,048)" in check.notes
    assert not any(note.startswith("simulated in part") for note in check.notes)


def test_a_text_summary_without_a_model_asks_for_it_and_says_why(capsys):
    path = str(BENCH / "text_v0.11.0_gpustack_qwen3-8b_h100.txt")
    assert main(["check-bench", path, "--gpu", "H100"]) == 2
    assert capsys.readouterr().err == (
        "vllm-wizard: error: --model: is required: this run's summary does not name the model it served\n")


def test_the_cli_prints_the_table_and_json_that_validates(capsys):
    path = str(BENCH / "text_v0.11.0_gpustack_qwen3-8b_h100.txt")
    assert main(["check-bench", path, "-m", "Qwen/Qwen3-8B", "--gpu", "H100", "--vllm-version", "0.11.0"]) == 0
    out = capsys.readouterr().out
    assert "mean tpot (ms)" in out and "7.38" in out and "measured (github.com/gpustack" in out
    assert main(["check-bench", path, "-m", "Qwen/Qwen3-8B", "--gpu", "H100", "--vllm-version", "0.11.0", "--json"]) == 0
    check = BenchCheck.model_validate(json.loads(capsys.readouterr().out))
    assert check.bench.max_concurrency == 4


@pytest.mark.parametrize("text, message", [("", "empty"), ("hello", "not a vllm bench serve result")])
def test_a_file_that_is_not_a_bench_result_is_one_line_and_exit_2(tmp_path, capsys, text, message):
    path = tmp_path / "bench.txt"
    path.write_text(text)
    assert main(["check-bench", str(path), "-m", "Qwen/Qwen3-8B", "--gpu", "H100"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err.lower()


def test_a_deployment_that_would_not_start_is_refused():
    with pytest.raises(WizardError, match="would not start"):
        check_bench(GPUSTACK, {"model": "meta-llama/Llama-3.1-70B-Instruct", "gpu": "L4"})


def test_a_run_where_every_request_failed_is_refused(capsys):
    """bench writes 0 for every statistic of such a run: 'below range' on each row would be no verdict at all."""
    path = str(BENCH / "json_v0.25.1_all_requests_failed.json")
    assert main(["check-bench", path, "-m", "Qwen/Qwen3-8B", "--gpu", "H100"]) == 2
    assert capsys.readouterr().err == ("vllm-wizard: error: no request of this run completed (all 8 failed): there is "
                                       "nothing measured to compare; the server's log says why the requests failed\n")
