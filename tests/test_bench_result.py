"""wizard.reality.bench_result against real vllm bench serve results (tests/data/bench; sources in SOURCES.md).

Every expected value below was read off the file by hand; derived ones say how.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from wizard.errors import WizardError
from wizard.reality.bench_json import cut_number_arrays
from wizard.reality.bench_result import parse_bench_result
from wizard.schema.bench import BenchResult, LatencyStats

DATA = Path(__file__).parent / "data" / "bench"
METRICS = ("ttft", "tpot", "itl", "e2el")


def _read(name: str) -> str:
    """The text of one saved result."""
    return (DATA / name).read_text(encoding="utf-8")


def _stats(mean: float, median: float, percentiles: dict[float, float], std: float | None = None) -> LatencyStats:
    return LatencyStats(mean_ms=mean, median_ms=median, std_ms=std, percentiles_ms=percentiles)


# ------------------------------------------------------------------ real printed summaries


def test_v0_11_0_summary_inside_mkdocs_fence() -> None:
    r = parse_bench_result(_read("text_v0.11.0_gpustack_qwen3-8b_h100.txt"))
    assert r.source == "text"
    assert r.bench_releases == "0.11.0"  # Peak lines, no 'Failed requests:'
    assert (r.completed, r.failed, r.num_prompts, r.max_concurrency) == (100, None, None, 4)
    assert r.request_rate_per_s == math.inf  # 0.11.0 prints 'Request rate configured' only when finite
    assert r.burstiness is None
    assert (r.duration_s, r.total_input_tokens, r.total_output_tokens) == (44.40, 23260, 22061)
    assert (r.request_throughput_per_s, r.output_throughput_tokens_per_s, r.total_throughput_tokens_per_s) == (
        2.25, 496.88, 1020.76)
    assert (r.peak_output_throughput_tokens_per_s, r.peak_concurrent_requests) == (540.00, 13)
    assert r.request_goodput_per_s is None and r.input_throughput_tokens_per_s is None
    assert r.ttft == _stats(64.00, 60.26, {99.0: 98.59})
    assert r.tpot == _stats(7.38, 7.40, {99.0: 7.96})
    assert r.itl == _stats(7.78, 7.37, {99.0: 40.98})
    assert r.e2el is None
    assert r.mean_input_tokens == pytest.approx(232.60)  # 23260 / 100
    assert r.mean_output_tokens == pytest.approx(220.61)  # 22061 / 100
    assert r.other_fields == {}
    assert r.notes == ["this release does not report failed requests"]


def test_two_runs_behind_hash_prefixes_reads_the_last_with_bench_start_lines() -> None:
    r = parse_bench_result(_read("text_v0.7-0.10_two_runs_hash_prefixed.txt"))
    assert r.runs_found == 2
    # The second run: 198.68 s, not the first run's 150.87 s.
    assert (r.completed, r.duration_s, r.total_input_tokens, r.total_output_tokens) == (32, 198.68, 65536, 65536)
    assert (r.request_throughput_per_s, r.output_throughput_tokens_per_s, r.total_throughput_tokens_per_s) == (
        0.16, 329.86, 659.72)
    # From the lines bench printed before that run: 'Traffic request rate: inf', 'Burstiness factor: 1.0 ...',
    # 'Maximum request concurrency: 32'.
    assert (r.request_rate_per_s, r.burstiness, r.max_concurrency) == (math.inf, 1.0, 32)
    # A limit was set but the summary has no 'Maximum request concurrency' line: before 0.10.1.
    assert r.bench_releases == "0.10.0 or older"
    assert r.ttft == _stats(6535.45, 6272.98, {99.0: 10709.26})
    assert r.tpot == _stats(93.85, 93.99, {99.0: 96.35})
    assert r.itl == _stats(93.85, 91.76, {99.0: 97.38})
    assert r.peak_concurrent_requests is None and r.failed is None
    assert r.notes == ["2 benchmark runs in the input; read the last one",
                       "this release does not report failed requests"]


def _last_summary(name: str) -> list[str]:
    """The lines of a saved file's last summary, from its heading on."""
    lines = _read(name).splitlines()
    return lines[max(i for i, line in enumerate(lines) if "Serving Benchmark Result" in line):]


def test_old_summary_alone_says_what_it_cannot_know() -> None:
    """The same file's last run without the lines bench printed before it: rate and limit stay unknown."""
    r = parse_bench_result("\n".join(_last_summary("text_v0.7-0.10_two_runs_hash_prefixed.txt")))
    assert (r.runs_found, r.request_rate_per_s, r.max_concurrency, r.burstiness) == (1, None, None, None)
    assert r.bench_releases == "0.10.2 or older"
    assert r.notes == [
        "the summary does not state the request rate (releases before 0.10.1 never print it)",
        "the summary does not state whether --max-concurrency was set (releases before 0.10.1 never print it)",
        "this release does not report failed requests",
    ]


def test_v0_13_summary_with_failed_line() -> None:
    r = parse_bench_result(_read("text_v0.13plus_vllm_pr47276_rocm.txt"))
    assert r.bench_releases == "0.13 or later"  # 'Failed requests:' and lower-case 'Total token throughput'
    assert (r.completed, r.failed, r.max_concurrency, r.request_rate_per_s) == (640, 0, 64, math.inf)
    assert r.num_prompts == 640  # completed + failed
    assert (r.duration_s, r.total_input_tokens, r.total_output_tokens) == (377.53, 654720, 655360)
    assert (r.request_throughput_per_s, r.output_throughput_tokens_per_s, r.total_throughput_tokens_per_s) == (
        1.70, 1735.92, 3470.15)
    assert (r.peak_output_throughput_tokens_per_s, r.peak_concurrent_requests) == (2176.00, 96)
    assert r.ttft == _stats(1160.89, 1159.76, {99.0: 3489.99})
    assert r.tpot == _stats(35.76, 35.77, {99.0: 36.66})
    assert r.itl == _stats(35.76, 34.07, {99.0: 36.39})
    assert r.mean_input_tokens == pytest.approx(1023.0)  # 654720 / 640
    assert r.notes == []


def test_finite_rate_cap_and_four_percentiles_with_e2el() -> None:
    r = parse_bench_result(_read("text_recent_rate_cap_e2el_4pct_nemotron_gb10.txt"))
    assert (r.completed, r.failed, r.num_prompts, r.max_concurrency, r.request_rate_per_s) == (300, 0, 300, 25, 1.50)
    assert (r.duration_s, r.total_input_tokens, r.total_output_tokens) == (1210.53, 1203008, 150317)
    assert (r.request_throughput_per_s, r.output_throughput_tokens_per_s, r.total_throughput_tokens_per_s) == (
        0.25, 124.17, 1117.96)
    assert (r.peak_output_throughput_tokens_per_s, r.peak_concurrent_requests) == (176.00, 28)
    assert r.ttft == _stats(1281.70, 1129.54, {50.0: 1129.54, 90.0: 1794.76, 95.0: 2203.48, 99.0: 5184.42})
    assert r.tpot == _stats(194.45, 196.56, {50.0: 196.56, 90.0: 205.24, 95.0: 208.57, 99.0: 231.04})
    assert r.itl == _stats(192.21, 171.97, {50.0: 171.97, 90.0: 182.45, 95.0: 192.57, 99.0: 939.04})
    assert r.e2el == _stats(97480.07, 95190.94, {50.0: 95190.94, 90.0: 173379.19, 95.0: 179519.26, 99.0: 189200.87})
    assert r.notes == ["the summary does not state --burstiness (bench's default is 1, Poisson arrivals)"]


def test_sglang_summary_is_refused() -> None:
    with pytest.raises(WizardError, match="SGLang's bench_serving"):
        parse_bench_result(_read("text_sglang_bench_serving_dlora.txt"))


# ------------------------------------------------------------------ real --save-result JSON


def test_old_benchmark_serving_json_with_per_request_lists() -> None:
    r = parse_bench_result(_read("json_old_benchmark_serving_lambda_mistral7b_a100.json"))
    assert (r.source, r.bench_releases, r.vllm_version) == ("json", None, None)  # no endpoint_type: the old script
    assert (r.date, r.backend, r.model_id) == ("20240908-073926", "vllm", "mistralai/Mistral-7B-Instruct-v0.3")
    assert r.tokenizer_id == "mistralai/Mistral-7B-Instruct-v0.3"
    assert (r.num_prompts, r.completed, r.failed, r.request_rate_per_s) == (10, 10, None, math.inf)
    assert (r.burstiness, r.max_concurrency) == (None, None)
    assert (r.total_input_tokens, r.total_output_tokens) == (1585, 2440)
    assert r.input_lens == [14, 30, 28, 12, 375, 29, 487, 369, 5, 236]
    assert r.output_lens == [129, 883, 273, 165, 0, 928, 10, 26, 8, 18]
    assert r.duration_s == 10.225974015891552
    assert r.request_throughput_per_s == 0.9779019567680908
    assert r.input_throughput_tokens_per_s == 154.99746014774237
    assert r.output_throughput_tokens_per_s == 238.60807745141415
    assert r.total_throughput_tokens_per_s is None and r.peak_concurrent_requests is None
    assert r.ttft == _stats(124.60292652249336, 138.38652148842812, {99.0: 139.18111100792885}, std=41.53683397001278)
    assert r.tpot == _stats(12.156652718828092, 11.36090729113032, {99.0: 15.256918541022708}, std=1.4284575375235828)
    assert r.itl == _stats(108.75528135340706, 108.23340713977814, {99.0: 116.07493489980698}, std=1.744072580220019)
    assert r.e2el is None  # its '*_latency_ms' keys are no release's e2el keys: kept as they are
    assert r.other_fields == {
        "best_of": 1, "use_beam_search": False, "mean_latency_ms": 2825.225568935275,
        "median_latency_ms": 1017.2300767153502, "std_latency_ms": 3711.7667084045147,
        "p99_latency_ms": 10184.663113541901,
    }
    assert r.notes == ["this release does not report failed requests"]
    assert "generated_texts" not in r.model_dump_json()


def test_sweep_summary_list_reads_the_last_run() -> None:
    r = parse_bench_result(_read("json_v0.25.1_sweep_summary_two_runs.json"))
    assert (r.runs_found, r.bench_releases, r.date) == (2, "0.17-0.29", "20260818-021338")
    assert (r.backend, r.label) == ("openai", None)
    assert (r.model_id, r.tokenizer_id) == ("facebook/opt-125m", "facebook/opt-125m")
    assert (r.num_prompts, r.request_rate_per_s, r.burstiness, r.max_concurrency) == (8, math.inf, 1.0, 2)
    assert (r.completed, r.failed, r.total_input_tokens, r.total_output_tokens) == (8, 0, 256, 128)
    assert r.duration_s == 0.6420253609976498
    assert (r.request_throughput_per_s, r.request_goodput_per_s) == (12.460566958863927, None)
    assert r.output_throughput_tokens_per_s == 199.36907134182283
    assert r.total_throughput_tokens_per_s == 598.1072140254685
    assert (r.peak_output_throughput_tokens_per_s, r.peak_concurrent_requests) == (128.0, 8)
    assert r.ttft == _stats(39.30731637592544, 38.187976999324746, {99.0: 57.58295443694805}, std=10.40175865759538)
    assert r.tpot == _stats(8.012444900062594, 7.929104699966653, {99.0: 9.040313850321885}, std=0.6070218873414794)
    assert r.itl == _stats(8.012454975081104, 7.37574999948265, {99.0: 23.304498707439055}, std=3.313539293021173)
    assert r.e2el == _stats(159.49398987686436, 157.98742300103186, {99.0: 169.63662419613684}, std=4.391646610956886)
    assert r.other_fields == {"rtfx": 0.0, "run_number": 1, "max_num_seqs": 4}
    assert (r.input_lens, r.output_lens) == (None, None)
    assert (r.mean_input_tokens, r.mean_output_tokens) == (32.0, 16.0)
    assert r.notes == ["2 benchmark runs in the input; read the last one"]


def test_all_requests_failed() -> None:
    r = parse_bench_result(_read("json_v0.25.1_all_requests_failed.json"))
    assert (r.completed, r.failed, r.num_prompts, r.total_output_tokens) == (0, 8, 8, 0)
    assert (r.backend, r.max_concurrency, r.duration_s) == ("vllm", None, 0.00503263997961767)
    assert r.ttft == _stats(0.0, 0.0, {99.0: 0.0}, std=0.0)
    assert (r.mean_input_tokens, r.mean_output_tokens) == (None, None)
    assert r.notes == ["no request completed: bench reports 0 for every latency statistic"]


# ------------------------------------------------------------------ synthetic JSON, as 0.33 writes it


def _detailed_run(**changes: Any) -> dict[str, Any]:
    """A --save-detailed result of 4 requests in 0.33's key order (main_async then benchmark())."""
    run: dict[str, Any] = {
        "date": "20260301-101500", "endpoint_type": "openai-chat", "backend": "openai-chat", "label": "canary",
        "model_id": "Qwen/Qwen3-8B", "tokenizer_id": "Qwen/Qwen3-8B", "num_prompts": 4,
        "vllm_version": "0.33.0",  # a --metadata pair
        "request_rate": 2.5, "burstiness": 0.5, "max_concurrency": 3,
        "duration": 2.0, "completed": 3, "failed": 1, "total_input_tokens": 300, "total_output_tokens": 60,
        "request_throughput": 1.5, "request_goodput": 1.0, "output_throughput": 30.0, "total_token_throughput": 180.0,
        "input_lens": [100, 120, 80, 90], "output_lens": [10, 20, 30, 0],
        "ttfts": [0.1, 0.2, 0.3, 0.0],
        "itls": [[0.01] * 9, [0.01, 0.02] * 9 + [0.01], [0.02] * 29, []],
        "latencies": [0.19, 0.47, 0.88, 0.0], "start_times": [1000.5, 1000.9, 1001.2, 1001.4],
        "queue_times": [0.0, 0.0, 0.1, 0.2],
        # Texts that look like the keys cut before parsing must not confuse the cut.
        "generated_texts": ['{"itls": [[0.5]], "ttfts": [1]}', "a ] b [ c", "", "itls"],
        "errors": ["", "", "", 'HTTP 500: "itls": ['],
        "max_output_tokens_per_s": 40.0, "max_concurrent_requests": 3, "rtfx": 0.0,
        "spec_decode_acceptance_rate": 61.5, "spec_decode_per_position_acceptance_rates": [0.8, 0.43],
        "mean_ttft_ms": 200.0, "median_ttft_ms": 200.0, "std_ttft_ms": 81.6, "p90_ttft_ms": 280.0,
        "p99.9_ttft_ms": 299.8,
        "mean_tpot_ms": 12.0, "median_tpot_ms": 11.0, "std_tpot_ms": 2.0, "p90_tpot_ms": 14.0, "p99.9_tpot_ms": 14.9,
        "mean_itl_ms": 13.5, "median_itl_ms": 10.0, "std_itl_ms": 4.9, "p90_itl_ms": 20.0, "p99.9_itl_ms": 20.0,
        "mean_e2el_ms": 513.3, "median_e2el_ms": 470.0, "std_e2el_ms": 283.0, "p90_e2el_ms": 798.0,
        "p99.9_e2el_ms": 879.2,
    }
    run.update(changes)
    return run


def test_detailed_json_keeps_lengths_and_drops_per_request_timings() -> None:
    r = parse_bench_result(json.dumps(_detailed_run()))
    assert (r.bench_releases, r.vllm_version) == ("0.30 or later", "0.33.0")  # 'latencies' is a key from 0.30
    assert (r.label, r.backend) == ("canary", "openai-chat")
    assert (r.num_prompts, r.request_rate_per_s, r.burstiness, r.max_concurrency) == (4, 2.5, 0.5, 3)
    assert (r.completed, r.failed, r.request_goodput_per_s) == (3, 1, 1.0)
    assert r.input_lens == [100, 120, 80, 90]
    assert r.output_lens == [10, 20, 30, 0]
    assert r.ttft == _stats(200.0, 200.0, {90.0: 280.0, 99.9: 299.8}, std=81.6)
    assert r.e2el == _stats(513.3, 470.0, {90.0: 798.0, 99.9: 879.2}, std=283.0)
    assert r.other_fields == {"vllm_version": "0.33.0", "rtfx": 0.0, "spec_decode_acceptance_rate": 61.5}
    assert (r.mean_input_tokens, r.mean_output_tokens) == (100.0, 20.0)  # 300 / 3, 60 / 3
    assert r.notes == []


def test_appended_results_read_the_last_and_windows_line_endings() -> None:
    """--append-result writes one object per line; here with a BOM and CRLF, as a Windows editor saves it."""
    first, second = _detailed_run(date="20260301-101500"), _detailed_run(date="20260301-102000", duration=4.0)
    r = parse_bench_result("\ufeff" + json.dumps(first) + "\r\n" + json.dumps(second) + "\r\n")
    assert (r.runs_found, r.date, r.duration_s) == (2, "20260301-102000", 4.0)
    assert r.notes == ["2 benchmark runs in the input; read the last one"]


def test_json_of_0_8_5_with_misspelt_goodput_key() -> None:
    run = _detailed_run(best_of=1)
    del run["backend"], run["failed"]
    run["request_goodput:"] = run.pop("request_goodput")
    r = parse_bench_result(json.dumps(run))
    assert (r.bench_releases, r.backend) == ("0.8.5 or older", "openai-chat")  # backend from endpoint_type
    assert (r.request_goodput_per_s, r.failed) == (1.0, None)


def test_old_version_key_names_the_version_unless_it_is_the_default() -> None:
    run = _detailed_run(version="0.5.4")
    del run["vllm_version"]
    assert parse_bench_result(json.dumps(run)).vllm_version == "0.5.4"
    assert parse_bench_result(json.dumps(run | {"version": "N/A"})).vllm_version is None


def test_per_request_number_arrays_are_cut_before_parsing() -> None:
    """Only a key's own array of numbers becomes null; strings that look like it, and other arrays, stay."""
    text = ('{"ttfts": [0.1, 0.2], "errors": ["\\"itls\\": [1]", "itls"], "itls": [[0.01, 0.02], []],\n'
            ' "input_lens": [5, 6], "latencies" : [ 1.5 ], "start_times": ["x]"]}')
    assert cut_number_arrays(text) == (
        '{"ttfts": null, "errors": ["\\"itls\\": [1]", "itls"], "itls": null,\n'
        ' "input_lens": [5, 6], "latencies" : null, "start_times": ["x]"]}')


def test_every_field_is_described() -> None:
    for model in (BenchResult, LatencyStats):
        assert [name for name, field in model.model_fields.items() if not field.description] == [], model
        assert all(field.description for field in model.model_computed_fields.values()), model


def test_result_round_trips_through_json() -> None:
    r = parse_bench_result(_read("json_v0.25.1_sweep_summary_two_runs.json"))
    again = BenchResult.model_validate_json(r.model_dump_json())
    assert again == r
    assert again.request_rate_per_s == math.inf  # written "Infinity", not null


# ------------------------------------------------------------------ the same run, printed and saved


def _printed(run: dict[str, Any]) -> str:
    """The summary vllm bench serve 0.33 prints for this saved run (its format strings, benchmark())."""
    rows = ["{s:{c}^{n}}".format(s=" Serving Benchmark Result ", n=50, c="="),
            "{:<40} {:<10}".format("Successful requests:", run["completed"]),
            "{:<40} {:<10}".format("Failed requests:", run["failed"])]
    if run["max_concurrency"] is not None:
        rows.append("{:<40} {:<10}".format("Maximum request concurrency:", run["max_concurrency"]))
    if run["request_rate"] != "inf":
        rows.append("{:<40} {:<10.2f}".format("Request rate configured (RPS):", run["request_rate"]))
    rows += ["{:<40} {:<10.2f}".format("Benchmark duration (s):", run["duration"]),
             "{:<40} {:<10}".format("Total input tokens:", run["total_input_tokens"]),
             "{:<40} {:<10}".format("Total generated tokens:", run["total_output_tokens"]),
             "{:<40} {:<10.2f}".format("Request throughput (req/s):", run["request_throughput"])]
    if run["request_goodput"] is not None:
        rows.append("{:<40} {:<10.2f}".format("Request goodput (req/s):", run["request_goodput"]))
    rows += ["{:<40} {:<10.2f}".format("Output token throughput (tok/s):", run["output_throughput"]),
             "{:<40} {:<10.2f}".format("Peak output token throughput (tok/s):", run["max_output_tokens_per_s"]),
             "{:<40} {:<10.2f}".format("Peak concurrent requests:", run["max_concurrent_requests"]),
             "{:<40} {:<10.2f}".format("Total token throughput (tok/s):", run["total_token_throughput"])]
    for metric, name, header in (("ttft", "TTFT", "Time to First Token"),
                                 ("tpot", "TPOT", "Time per Output Token (excl. 1st token)"),
                                 ("itl", "ITL", "Inter-token Latency"), ("e2el", "E2EL", "End-to-end Latency")):
        if f"mean_{metric}_ms" not in run:
            continue
        rows += ["{s:{c}^{n}}".format(s=header, n=50, c="-"),
                 "{:<40} {:<10.2f}".format(f"Mean {name} (ms):", run[f"mean_{metric}_ms"]),
                 "{:<40} {:<10.2f}".format(f"Median {name} (ms):", run[f"median_{metric}_ms"])]
        for key, value in run.items():
            if key.startswith("p") and key.endswith(f"_{metric}_ms"):
                rows.append("{:<40} {:<10.2f}".format(f"P{key[1:].split('_')[0]} {name} (ms):", value))
    rows.append("=" * 50)
    return "\n".join(rows) + "\n"


def _two_decimals(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.2f}")


@pytest.mark.parametrize("run", [
    json.loads(_read("json_v0.25.1_sweep_summary_two_runs.json"))[-1],
    _detailed_run(),
], ids=["v0.25.1 sweep run", "finite rate, goodput, p90/p99.9"])
def test_json_and_its_printed_summary_agree(run: dict[str, Any]) -> None:
    saved, printed = parse_bench_result(json.dumps(run)), parse_bench_result(_printed(run))
    for name in ("completed", "failed", "num_prompts", "max_concurrency", "request_rate_per_s", "total_input_tokens",
                 "total_output_tokens", "peak_concurrent_requests"):
        assert getattr(printed, name) == getattr(saved, name), name
    for name in ("duration_s", "request_throughput_per_s", "request_goodput_per_s", "output_throughput_tokens_per_s",
                 "peak_output_throughput_tokens_per_s", "total_throughput_tokens_per_s"):
        assert getattr(printed, name) == _two_decimals(getattr(saved, name)), name
    for metric in METRICS:
        got, want = getattr(printed, metric), getattr(saved, metric)
        assert (got.mean_ms, got.median_ms, got.std_ms) == (_two_decimals(want.mean_ms), _two_decimals(want.median_ms),
                                                            None), metric
        assert got.percentiles_ms == {p: _two_decimals(v) for p, v in want.percentiles_ms.items()}, metric
    assert printed.bench_releases == "0.13 or later"


# ------------------------------------------------------------------ pastes as people make them


def test_colours_log_lines_prefixes_and_crlf_do_not_change_the_reading() -> None:
    plain = parse_bench_result(_read("text_v0.13plus_vllm_pr47276_rocm.txt"))
    block = [line for line in _read("text_v0.13plus_vllm_pr47276_rocm.txt").splitlines() if line != "```"]
    pasted = ["INFO 05-01 10:00:00 [__init__.py:241] Automatically detected platform cuda.",
              "Starting main benchmark run...",
              "100%|\x1b[32m██████████\x1b[0m| 640/640 [06:17<00:00,  1.70it/s]\r"]
    pasted += [f"vllm-bench-1  | \x1b[1m{line}\x1b[0m" for line in block]
    pasted += ["INFO 05-01 10:06:18 [launcher.py:80] Shutting down FastAPI HTTP server."]
    r = parse_bench_result("\r\n".join(pasted) + "\r\n")
    assert r == plain


def test_bench_start_lines_and_namespace_fill_an_old_summary() -> None:
    block = _last_summary("text_v0.7-0.10_two_runs_hash_prefixed.txt")
    paste = "\n".join([
        ("Namespace(backend='vllm', base_url=None, host='127.0.0.1', port=8000, endpoint='/v1/completions', "
         "dataset_name='random', max_concurrency=None, model='meta-llama/Llama-3.1-8B-Instruct', tokenizer=None, "
         "num_prompts=32, request_rate=4.0, burstiness=0.5, served_model_name=None)"),
        "Starting initial single prompt test run...",
        "Initial test run completed. Starting main benchmark run...",
        "Traffic request rate: 4.0",
        "Burstiness factor: 0.5 (Gamma distribution)",
        "Maximum request concurrency: None",
        *block,
    ])
    r = parse_bench_result(paste)
    assert (r.model_id, r.backend) == ("meta-llama/Llama-3.1-8B-Instruct", "vllm")
    assert (r.tokenizer_id, r.num_prompts) == (None, 32)
    assert (r.request_rate_per_s, r.burstiness, r.max_concurrency) == (4.0, 0.5, None)
    assert r.bench_releases == "0.10.0 or older"  # a finite rate, and no 'Request rate configured' line
    assert r.notes == ["this release does not report failed requests"]


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("text", ["", "   \n\t", "\ufeff\r\n"])
def test_empty_input(text: str) -> None:
    with pytest.raises(WizardError, match="empty"):
        parse_bench_result(text)


@pytest.mark.parametrize("text, message", [
    ("INFO 05-01 Automatically detected platform cuda.\nmodel loaded\n", "not a vllm bench serve result"),
    ('{"model": "Qwen/Qwen3-8B", "max_tokens": 128}', "no 'duration' or 'completed' key"),
    ("[1, 2, 3]", "no 'duration' or 'completed' key"),
    ('{"duration": 12.5, "completed": 3', "not valid JSON"),
    ('{"duration": 12.5, "completed": 3, "total_input_tokens": 10}',
     "lacks total_output_tokens, request_throughput, output_throughput"),
    (('{"duration": 1.0, "completed": 8, "total_input_tokens": 64, "total_input_sequences": 8, '
      '"request_throughput": 8.0, "input_sequence_throughput": 8.0, "total_token_throughput": 64.0}'), "pooling"),
])
def test_not_a_generation_result(text: str, message: str) -> None:
    with pytest.raises(WizardError, match=message):
        parse_bench_result(text)


def test_summary_without_mandatory_lines_names_them() -> None:
    text = "\n".join(line for line in _read("text_v0.13plus_vllm_pr47276_rocm.txt").splitlines()
                     if not line.startswith(("Benchmark duration", "Total generated tokens")))
    with pytest.raises(WizardError) as caught:
        parse_bench_result(text)
    assert str(caught.value).startswith(
        "the benchmark summary lacks 'Benchmark duration (s):', 'Total generated tokens:';")


@pytest.mark.parametrize("label, old, new, field", [
    ("Benchmark duration (s):", "377.53", "-377.53", "duration_s"),
    ("Mean TTFT (ms):", "1160.89", "nan", "ttft.mean_ms"),
    ("P99 ITL (ms):", "36.39", "inf", "itl.percentiles_ms"),
    ("Successful requests:", "640", "-1", "completed"),
    ("Peak concurrent requests:", "96.00", "96.50", "peak_concurrent_requests"),
])
def test_impossible_printed_values(label: str, old: str, new: str, field: str) -> None:
    text = _read("text_v0.13plus_vllm_pr47276_rocm.txt")
    line = f"{label:<40} {old}"
    assert line in text
    with pytest.raises(WizardError, match=rf"impossible values: {field}"):
        parse_bench_result(text.replace(line, f"{label:<40} {new}"))


def test_printed_value_that_is_not_a_number() -> None:
    text = _read("text_v0.13plus_vllm_pr47276_rocm.txt").replace("Failed requests:                         0",
                                                                 "Failed requests:                         none")
    with pytest.raises(WizardError, match=r"'Failed requests:' in the benchmark summary is not a number \('none'\)"):
        parse_bench_result(text)


@pytest.mark.parametrize("changes, field", [
    ({"mean_tpot_ms": float("nan")}, "tpot.mean_ms"),  # json.dumps writes NaN, json.loads reads it
    ({"duration": 0.0}, "duration_s"),
    ({"total_output_tokens": -60}, "total_output_tokens"),
    ({"request_rate": -1.0}, "request_rate_per_s"),
    ({"output_lens": [10, 20, -30, 0]}, "output_lens"),
    ({"completed": 5}, "completed"),  # completed + failed > num_prompts
])
def test_impossible_json_values(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(WizardError, match=f"impossible values: {field}"):
        parse_bench_result(json.dumps(_detailed_run(**changes)))
