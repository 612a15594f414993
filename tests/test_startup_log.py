"""wizard.reality.startup_log against real vLLM start-up logs (tests/data/logs; sources in SOURCES.md).

Every expected value below was read off the log text by hand; derived ones say how.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

from wizard.errors import WizardError
from wizard.reality.startup_log import parse_startup_log
from wizard.schema.results import StartupLog

LOGS = Path(__file__).parent / "data" / "logs"
FIELDS = tuple(name for name in StartupLog.model_fields if name != "notes")


def _read(name: str) -> str:
    """The text of one saved log."""
    return (LOGS / name).read_text(encoding="utf-8")


def _expect(**shown: object) -> dict[str, object]:
    """Every StartupLog field: the given values, None for what the log does not show."""
    unknown = set(shown) - set(FIELDS)
    assert not unknown, unknown
    return {name: shown.get(name, False if name == "activation_includes_cuda_graphs" else None) for name in FIELDS}


def _values(log: StartupLog) -> dict[str, object]:
    """A parsed log's fields, notes left out."""
    return {name: getattr(log, name) for name in FIELDS}


def _assert_matches(log: StartupLog, expected: dict[str, object]) -> None:
    """Each field equals its expected value; floats to pytest.approx."""
    for name, want in expected.items():
        got = getattr(log, name)
        if isinstance(want, float):
            assert got == pytest.approx(want), name
        else:
            assert got == want, name


EXPECTED = {
    "v0_0.6.4_memory_profiling_rtx3090.log": _expect(
        engine="V0",
        max_model_len=20000,  # "Maximum concurrency for 20000 tokens per request"
        gpu_memory_utilization=0.90,
        gpu_total_gib=23.58,
        weights_gib=14.9888,  # "Loading model weights took 14.9888 GB" (GiB)
        activation_gib=2.0712,  # peak_torch_memory 17.06 - weights 14.9888
        non_torch_gib=0.35,
        kv_cache_gib=3.81,  # kv_cache_size=3.81GiB
        kv_cache_tokens=31232,  # 1952 blocks x 16
        gpu_blocks=1952,
        max_concurrency=1.56,
    ),
    "v0_0.6.4_tp2_memory_profiling_bamba.log": _expect(
        engine="V0",
        max_model_len=1024,
        gpu_memory_utilization=0.90,
        gpu_total_gib=79.15,
        weights_gib=18.4902,
        activation_gib=16.0098,  # rank 0 (untagged) peak_torch 34.50 - 18.4902, not the worker's 34.32
        non_torch_gib=1.96,
        kv_cache_gib=34.78,  # min(worker 34.96, rank 0 34.78)
        kv_cache_tokens=3039120,  # 189945 x 16 (= 2967.89 x 1024, rounded)
        gpu_blocks=189945,
        max_concurrency=2967.89,
    ),
    "v0_0.6.6_model_weights_take_h100.log": _expect(
        engine="V0",
        gpu_memory_utilization=0.90,
        gpu_total_gib=79.22,
        weights_gib=19.86,
        activation_gib=36.63,
        non_torch_gib=0.16,
        kv_cache_gib=14.65,
        kv_cache_tokens=96016,  # 6001 x 16
        gpu_blocks=6001,
    ),
    "v0_0.6_tp2_gpu_blocks_torchserve.log": _expect(
        engine="V0",
        model="meta-llama/Meta-Llama-3.1-8B-Instruct",
        weights_gib=7.5122,
        kv_cache_tokens=990608,  # 61913 x 16
        gpu_blocks=61913,
    ),
    "v1_0.8_gpu_kv_cache_size_l40s.log": _expect(
        engine="V1",
        max_model_len=32768,
        weights_gib=14.9889,  # not "Loading weights took 2.95 seconds"
        kv_cache_tokens=158656,
        max_concurrency=4.84,
    ),
    "v1_0.11_available_kv_cache_lmcache.log": _expect(
        engine="V1",
        max_model_len=32768,
        kv_cache_gib=6.51,
        kv_cache_tokens=42656,
        max_concurrency=1.30,
    ),
    "v1_0.26.0_free_memory_summary_lfm2.log": _expect(
        vllm_version="0.26.0",
        engine="V1",
        model="/model",
        tensor_parallel_size=1,
        data_parallel_size=1,  # the engine config line's data_parallel_size=1
        pipeline_parallel_size=1,
        max_model_len=32768,
        dtype="float16",  # dtype=torch.float16
        quantization="online_int4",
        kv_cache_dtype="fp8",
        enforce_eager=False,
        gpu_memory_utilization=0.95,
        max_num_seqs=256,
        max_num_batched_tokens=1024,
        block_size=16,
        gpu_total_gib=16.0,  # "Free memory on device (15.89/16.0 GiB)"
        gpu_free_at_startup_gib=15.89,
        requested_memory_gib=15.2,  # "Desired GPU memory utilization is (0.95, 15.2 GiB)"
        weights_gib=0.88,
        activation_gib=0.26,
        non_torch_gib=0.16,
        cuda_graph_gib=0.24,
        cuda_graph_estimate_gib=0.58,  # "CUDA graph pool memory: … 0.58 GiB (estimated)"
        kv_cache_gib=13.33,
        kv_cache_tokens=2324244,
        max_concurrency=70.93,
        suggested_kv_cache_memory_bytes=14514713805,
        suggested_kv_cache_memory_full_gpu_bytes=15258363904,
    ),
    "v1_tp2_consumed_memory_rtx6kpro.log": _expect(
        engine="V1",
        max_model_len=1048576,
        gpu_memory_utilization=0.975,
        gpu_total_gib=94.97,
        gpu_free_at_startup_gib=93.79,
        requested_memory_gib=92.6,
        weights_gib=81.11,
        activation_gib=1.24,
        non_torch_gib=1.99,  # consumed 83.1 - weights 81.11
        weights_and_non_torch_gib=83.1,
        cuda_graph_gib=0.2,  # vLLM's own summary, not a capture line's 0.31
        cuda_graph_estimate_gib=0.32,  # Worker_TP1's "CUDA graph pool memory: … 0.32 GiB (estimated)"
        kv_cache_gib=7.94,
        kv_cache_tokens=1196643,
        max_concurrency=1.14,
        suggested_kv_cache_memory_bytes=8496266036,
        suggested_kv_cache_memory_full_gpu_bytes=9781741568,
        activation_includes_cuda_graphs=True,  # "... for consumed memory (weights + non-torch), ... for peak activation"
    ),
    "v1_0.10.2_summary_bytes_tp2_h200.log": _expect(
        vllm_version="0.10.2",
        engine="V1",
        model="/data/models/Qwen3-Next-80B-A3B-Instruct",
        tensor_parallel_size=2,
        data_parallel_size=1,  # the engine config line's data_parallel_size=1
        pipeline_parallel_size=1,
        max_model_len=262144,  # max_seq_len=262144
        dtype="bfloat16",
        kv_cache_dtype="auto",
        enforce_eager=False,
        gpu_memory_utilization=0.9,  # only in "Desired GPU memory utilization is (0.9, 125.83 GiB)"
        gpu_total_gib=139.81,
        gpu_free_at_startup_gib=139.21,
        requested_memory_gib=125.83,
        weights_gib=74.2812,  # "Model loading took 74.2812 GiB", not the summary's rounded 74.28
        activation_gib=5.58,
        non_torch_gib=1.38,
        cuda_graph_gib=2.37,
        kv_cache_gib=44.59,  # "Available KV cache memory: 44.59 GiB"; 47878721024 bytes = 44.5907 GiB
        kv_cache_tokens=973760,
        max_concurrency=14.77,
        suggested_kv_cache_memory_bytes=45175492096,
        suggested_kv_cache_memory_full_gpu_bytes=59540753920,
    ),
    "v1_0.11dev_summary_negative_cudagraph_dp4.log": _expect(
        engine="V1",
        gpu_memory_utilization=0.9,
        gpu_total_gib=178.35,
        gpu_free_at_startup_gib=176.17,
        requested_memory_gib=160.52,
        weights_gib=60.79,  # "60.79 GiB for weight"
        activation_gib=13.33,
        non_torch_gib=10.96,
        cuda_graph_gib=-9.96,  # as printed: vLLM's own measurement error
        kv_cache_gib=75.44,
        suggested_kv_cache_memory_bytes=91539781222,
        suggested_kv_cache_memory_full_gpu_bytes=108345741312,
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_saved_log_parses_to_the_values_it_shows(name: str) -> None:
    """Every field of every saved log, including the ones the log does not show (None)."""
    _assert_matches(parse_startup_log(_read(name)), EXPECTED[name])


def test_every_saved_log_is_tested_and_has_a_source() -> None:
    """No log file without expected values or a line in SOURCES.md."""
    names = {path.name for path in LOGS.glob("*.log")}
    sources = (LOGS / "SOURCES.md").read_text(encoding="utf-8")
    assert names == set(EXPECTED)
    assert all(f"`{name}`" in sources for name in names)


def test_notes_say_how_derived_values_were_derived() -> None:
    """Default block size, activation from peak torch memory, minimum over ranks, consumed memory."""
    bamba = " | ".join(parse_startup_log(_read("v0_0.6.4_tp2_memory_profiling_bamba.log")).notes)
    assert "x 16 (vLLM's default block size" in bamba
    assert "peak_torch_memory 34.5 - weights 18.4902" in bamba
    assert "34.78-34.96 GiB); took the minimum" in bamba
    later = " | ".join(parse_startup_log(_read("v1_tp2_consumed_memory_rtx6kpro.log")).notes)
    assert "consumed memory 83.1 - weights 81.11" in later
    assert "includes the CUDA-graph memory estimate" in later
    assert parse_startup_log(_read("v1_0.26.0_free_memory_summary_lfm2.log")).notes == ()


WITH_PRINTED_GIB = (
    "v1_0.26.0_free_memory_summary_lfm2.log",
    "v1_0.11dev_summary_negative_cudagraph_dp4.log",
    "v1_tp2_consumed_memory_rtx6kpro.log",
)


@pytest.mark.parametrize("name", WITH_PRINTED_GIB)
def test_suggested_bytes_are_the_ones_vllm_also_prints_in_gib(name: str) -> None:
    """0.11+ prints each suggestion again as round(bytes / 2**30, 2) GiB: the parsed bytes give that text back."""
    text = _read(name)
    log = parse_startup_log(text)
    for value in (log.suggested_kv_cache_memory_bytes, log.suggested_kv_cache_memory_full_gpu_bytes):
        assert f"`--kv-cache-memory={value}` ({round(value / 2**30, 2)} GiB)" in text


def _replace_in(text: str, line_start: str, old: str, new: str) -> str:
    """The text with ``old`` replaced in the one line that starts with ``line_start``."""
    lines = text.splitlines()
    (index,) = [i for i, line in enumerate(lines) if line.startswith(line_start) and old in line]
    lines[index] = lines[index].replace(old, new)
    return "\n".join(lines)


def test_suggestions_that_differ_across_ranks_give_the_smallest() -> None:
    """Each rank prints its own summary; only the smallest suggestion fits every rank (rank 1's edited here)."""
    text = _replace_in(_read("v1_0.10.2_summary_bytes_tp2_h200.log"), "(Worker_TP1 pid=1806414) INFO 10-23 15:14:56 [gpu_worker",
                       "--kv-cache-memory=45175492096`", "--kv-cache-memory=45075492096`")
    log = parse_startup_log(text)
    assert log.suggested_kv_cache_memory_bytes == 45075492096
    assert log.suggested_kv_cache_memory_full_gpu_bytes == 59540753920
    assert log.notes == (
        ("the suggested --kv-cache-memory to fit into requested memory differs across ranks "
         "(45075492096-45175492096 bytes); took the minimum, the one that fits every rank"),
    )


def test_kv_cache_in_gib_and_in_bytes_is_one_value_within_the_printed_rounding() -> None:
    """44.59 GiB (two decimals) and 47878721024 bytes (44.5907 GiB) are the same pool: no note, the printed value."""
    log = parse_startup_log(_read("v1_0.10.2_summary_bytes_tp2_h200.log"))
    assert log.kv_cache_gib == 44.59
    assert log.notes == ()


def test_negative_suggestion_is_kept_and_noted() -> None:
    """vLLM issue #57936 reports both suggestions negative; the value is kept as printed, with a note."""
    text = _read("v1_0.26.0_free_memory_summary_lfm2.log").replace(
        "`--kv-cache-memory=14514713805` (13.52 GiB)", "`--kv-cache-memory=-22364920832` (-20.83 GiB)")
    log = parse_startup_log(text)
    assert log.suggested_kv_cache_memory_bytes == -22364920832
    assert log.notes == (
        ("vLLM suggested a negative --kv-cache-memory to fit into requested memory (-22364920832 bytes), "
         "which cannot be used"),
    )


def test_summary_notes_on_double_counted_and_negative_cuda_graph_memory() -> None:
    """0.27+ suggestions subtract the CUDA-graph estimate twice; a negative graph pool inflates them."""
    later = _read("v1_tp2_consumed_memory_rtx6kpro.log")
    double = ("this release's suggested --kv-cache-memory values subtract CUDA-graph memory twice (the estimate "
              "inside 'peak activation' and the captured pool): they are the 0.32 GiB CUDA-graph estimate below "
              "what fits (vLLM issue #57936)")
    assert double in parse_startup_log(later).notes
    no_pool_line = "\n".join(line for line in later.splitlines() if "CUDA graph pool memory" not in line)
    assert any("they are the CUDA-graph estimate below what fits" in n for n in parse_startup_log(no_pool_line).notes)
    dp4 = parse_startup_log(_read("v1_0.11dev_summary_negative_cudagraph_dp4.log")).notes
    assert ("vLLM measured negative CUDA-graph memory (-9.96 GiB), a measurement error (see vLLM PR #25683); "
            "any suggested --kv-cache-memory is too large by that much") in dp4


def test_cuda_graph_pool_line_stands_in_for_the_summary() -> None:
    """Without the summary, the pool line's actual size (0.2) comes before a capture line's (TP0: 0.31)."""
    text = "\n".join(line for line in _read("v1_tp2_consumed_memory_rtx6kpro.log").splitlines() if "Free memory" not in line)
    log = parse_startup_log(text)
    assert (log.cuda_graph_gib, log.cuda_graph_estimate_gib) == (0.2, 0.32)
    assert log.suggested_kv_cache_memory_bytes is None and log.requested_memory_gib is None


def test_engine_config_line_without_a_version() -> None:
    """vllm PR #3120 (2024-02-29): "Initializing an LLM engine with config: …" is the V0 engine."""
    text = (
        "INFO 02-29 19:21:40 llm_engine.py:79] Initializing an LLM engine with config: "
        "model='facebook/opt-125m', tokenizer='facebook/opt-125m', tokenizer_mode=auto, revision=None, "
        "tokenizer_revision=None, trust_remote_code=False, dtype=torch.float16, max_seq_len=2048, "
        "download_dir=None, load_format=auto, tensor_parallel_size=1, disable_custom_all_reduce=False, "
        "quantization=None, sparsity=None, enforce_eager=False, kv_cache_dtype=auto, device_config=cuda, seed=0)\n"
        "INFO 02-29 19:21:45 llm_engine.py:338] # GPU blocks: 76240, # CPU blocks: 7281\n"
    )
    _assert_matches(
        parse_startup_log(text),
        _expect(
            engine="V0",
            model="facebook/opt-125m",
            tensor_parallel_size=1,
            max_model_len=2048,
            dtype="float16",
            kv_cache_dtype="auto",
            enforce_eager=False,
            kv_cache_tokens=76240 * 16,
            gpu_blocks=76240,
        ),
    )


def test_args_namespace_and_api_server_version() -> None:
    """Pre-0.10 "args: Namespace(…)" (fields and values as in vllm#6545, 0.5.2; the blocks line is made up).

    dtype='auto' is not a resolved dtype; block_size=16 from the args replaces the default-16 guess.
    """
    text = (
        "INFO 07-18 22:03:54 api_server.py:215] vLLM API server version 0.5.2\n"
        "INFO 07-18 22:03:54 api_server.py:216] args: Namespace(host=None, port=8888, "
        "model='./Mistral-Nemo-Instruct-2407/', tokenizer=None, dtype='auto', kv_cache_dtype='auto', "
        "quantization_param_path=None, max_model_len=None, pipeline_parallel_size=1, tensor_parallel_size=1, "
        "block_size=16, gpu_memory_utilization=0.9, max_num_batched_tokens=None, max_num_seqs=256, "
        "quantization=None, enforce_eager=False)\n"
        "INFO 07-18 22:04:10 gpu_executor.py:83] # GPU blocks: 4870, # CPU blocks: 1638\n"
    )
    log = parse_startup_log(text)
    _assert_matches(
        log,
        _expect(
            vllm_version="0.5.2",
            engine="V0",
            model="./Mistral-Nemo-Instruct-2407/",
            tensor_parallel_size=1,
            pipeline_parallel_size=1,
            kv_cache_dtype="auto",
            enforce_eager=False,
            gpu_memory_utilization=0.9,
            max_num_seqs=256,
            block_size=16,
            kv_cache_tokens=4870 * 16,
            gpu_blocks=4870,
        ),
    )
    assert not any("default block size" in note for note in log.notes)


def test_0_33_server_version_and_one_line_kv_capacity() -> None:
    """Lines in vLLM 0.33's formats (entrypoints/common/startup.py, v1/core/kv_cache_utils.py)."""
    text = (
        "(APIServer pid=1) INFO 05-01 10:00:00 [startup.py:38] vLLM server version 0.33.0, serving model Qwen/Qwen3-8B\n"
        "(EngineCore pid=80) INFO 05-01 10:01:00 [kv_cache_utils.py:1160] GPU KV cache size: 47,120 tokens, "
        "Maximum concurrency for 8,192 tokens per request: 5.75x\n"
    )
    _assert_matches(
        parse_startup_log(text),
        _expect(
            vllm_version="0.33.0",
            engine="V1",
            model="Qwen/Qwen3-8B",
            max_model_len=8192,
            kv_cache_tokens=47120,
            max_concurrency=5.75,
        ),
    )


def test_summary_with_kv_cache_in_bytes() -> None:
    """0.10.2-era summary ending "… in use is N bytes." (a user's 0.10.2 log, line breaks they added removed)."""
    text = (
        "(EngineCore_DP0 pid=2552931) INFO 09-28 21:12:51 [v1/worker/gpu_worker.py:391] Free memory on device "
        "(23.08/23.53 GiB) on startup. Desired GPU memory utilization is (0.8, 18.82 GiB). Actual usage is "
        "8.8 GiB for weight, 1.4 GiB for peak activation, 0.02 GiB for non-torch memory, and 0.68 GiB for "
        "CUDAGraph memory. Replace gpu_memory_utilization config with `--kv-cache-memory=8347223347` to fit "
        "into requested memory, or `--kv-cache-memory=12923195904` to fully utilize gpu memory. "
        "Current kv cache memory in use is 9232221491 bytes.\n"
    )
    _assert_matches(
        parse_startup_log(text),
        _expect(
            engine="V1",
            gpu_memory_utilization=0.8,
            gpu_total_gib=23.53,
            weights_gib=8.8,
            activation_gib=1.4,
            non_torch_gib=0.02,
            cuda_graph_gib=0.68,
            kv_cache_gib=8.5982,  # 9232221491 / 2**30
            gpu_free_at_startup_gib=23.08,
            requested_memory_gib=18.82,
            suggested_kv_cache_memory_bytes=8347223347,
            suggested_kv_cache_memory_full_gpu_bytes=12923195904,
        ),
    )


def _colour(line: str) -> str:
    """The line as vLLM's colour formatter and a terminal show it: ANSI codes around prefix, level and line."""
    line = re.sub(r"^(\(.*?\)|\[.*?\])", "\x1b[1;36m\\1\x1b[0;0m", line)
    return "\x1b[0m" + line.replace("INFO", "\x1b[32mINFO\x1b[0m") + "\x1b[K"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ansi_colour_codes_change_nothing(name: str) -> None:
    """Coloured worker prefixes (VllmWorkerProcess, Worker_TP1, EngineCore_DP0, …) parse like plain ones."""
    plain = _read(name)
    coloured = "\r\n".join(_colour(line) for line in plain.splitlines())
    assert "\x1b[" in coloured
    assert _values(parse_startup_log(coloured)) == _values(parse_startup_log(plain))


def test_non_default_args_are_never_executed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A call hidden in "non-default args" is refused by ast.literal_eval; other lines still parse."""
    calls: list[str] = []
    monkeypatch.setattr(os, "system", calls.append)
    payload = "{'model': 'Qwen/Qwen3-14B', 'max_model_len': __import__('os').system('x')}"
    with pytest.raises(ValueError):
        ast.literal_eval(payload)
    text = (
        f"(APIServer pid=1) INFO 10-03 16:21:00 [utils.py:233] non-default args: {payload}\n"
        + _read("v1_0.11_available_kv_cache_lmcache.log")
    )
    log = parse_startup_log(text)
    assert calls == []
    _assert_matches(log, {**EXPECTED["v1_0.11_available_kv_cache_lmcache.log"], "model": "Qwen/Qwen3-14B"})
    assert any("not a plain Python literal" in note for note in log.notes)


def test_text_without_memory_lines_raises_a_clear_error() -> None:
    """A banner and an engine config line, but no weights, KV cache or blocks line."""
    lines = _read("v1_0.26.0_free_memory_summary_lfm2.log").splitlines()
    text = "\n".join(line for line in lines if "api_utils.py:345" in line or "core.py:116" in line)
    with pytest.raises(WizardError, match=r"^no vLLM memory lines found: expected 'Model loading took") as error:
        parse_startup_log(text)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("text", ["", "  \n\t\n"])
def test_empty_text_raises(text: str) -> None:
    """Nothing pasted is a user error too, with its own message."""
    with pytest.raises(WizardError, match="the startup log is empty"):
        parse_startup_log(text)


def test_data_and_expert_parallel_settings_are_read() -> None:
    """A DP + EP run's non-default args say how its GPUs were split; check-log replays that layout."""
    text = ("(APIServer pid=1) INFO 10-03 16:21:00 [utils.py:233] non-default args: {'model': 'Qwen/Qwen3-30B-A3B', "
            "'data_parallel_size': 4, 'enable_expert_parallel': True}\n" + _read("v1_0.11_available_kv_cache_lmcache.log"))
    log = parse_startup_log(text)
    assert (log.data_parallel_size, log.enable_expert_parallel) == (4, True)
    plain = parse_startup_log(_read("v1_0.11_available_kv_cache_lmcache.log"))
    assert (plain.data_parallel_size, plain.enable_expert_parallel) == (None, None)
