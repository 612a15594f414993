"""One door for every input: the CLI, a YAML profile and the page's URL accept or reject a value alike.

Each value below goes through the three faces' own paths (argv, a profile's
YAML text, a query string as the form hands it over) and must give the same
request, or the same problem for the same field.
"""

from __future__ import annotations

import pytest

from wizard.errors import InvalidInput, WizardError
from wizard.faces.cli import main
from wizard.faces.fields import describe, flag
from wizard.faces.profile import parse_profile
from wizard.schema import parse_request
from wizard.schema.syntax import parse_count

MODEL = "Qwen/Qwen3-8B"


def _via_cli(name: str, text: str, capsys) -> tuple[int, str]:
    code = main(["plan", "-m", MODEL, "--gpu", "H100", flag(name), text, "--json"])
    captured = capsys.readouterr()
    return code, captured.err if code else captured.out


def _via_profile(name: str, text: str):
    """A profile that writes the value as a person would type it in YAML (unquoted)."""
    from wizard.schema import iter_fields

    section = next(s for s, field, _ in iter_fields() if field == name)
    lines = {"model": [f"  model: {MODEL}"], "hardware": ["  gpu: H100"], section: []}
    lines.setdefault(section, []).append(f"  {name}: {text}")
    lines["model"] = [f"  model: {MODEL}"] + ([f"  {name}: {text}"] if section == "model" else [])
    lines["hardware"] = ["  gpu: H100"] + ([f"  {name}: {text}"] if section == "hardware" else [])
    yaml_text = "".join(f"{sec}:\n" + "\n".join(body) + "\n" for sec, body in lines.items())
    return parse_request({}, parse_profile(yaml_text))


def _via_url(name: str, text: str):
    return parse_request({"model": MODEL, "gpu": "H100", name: text})  # the form hands the URL's text over as it is


@pytest.mark.parametrize("text, tokens", [("8192", 8192), ("8,192", 8192), ("8_192", 8192), ("8k", 8000), ("8K", 8192),
                                          ("25.6k", 25600), ("-1", "auto"), ("auto", "auto"), ("AUTO", "auto")])
def test_max_model_len_syntax_is_the_same_on_every_face(text, tokens, capsys):
    import json

    assert _via_url("max_model_len", text).model.max_model_len == tokens
    assert _via_profile("max_model_len", text).model.max_model_len == tokens
    code, out = _via_cli("max_model_len", text, capsys)
    assert code == 0 and json.loads(out)["request"]["model"]["max_model_len"] == tokens


@pytest.mark.parametrize("name, text, message", [
    ("max_model_len", "abc", "must be a whole number like 8192, 8,192 or 8k (got 'abc')"),
    ("max_model_len", "0", "must be 1 to 2,147,483,647 tokens, or 'auto' (got 0)"),
    ("max_model_len", "1.5", "must be a whole number (got '1.5'; a fraction needs a decimal suffix, as in 25.6k)"),
    ("gpus", "-1", "must be at least 1 (got -1)"),
    ("gpus", "abc", "must be a whole number like 8192, 8,192 or 8k (got 'abc')"),
    ("concurrency", "0", "must be at least 1 (got 0)"),
    ("request_rate", "-3", "must be more than 0 (got -3)"),
    ("request_rate", "nan", "must be a number like 2.5, or inf (got NaN)"),
    ("request_rate", "fast", "must be a number like 2.5, or inf (got 'fast')"),
    ("burstiness", "flat", "must be a number like 2.5, or inf (got 'flat')"),
    ("gpu_memory_utilization", "2", "must be at most 1 (got 2)"),
    ("batching_mode", "turbo", "must be one of 'latency', 'balanced' or 'throughput' (got 'turbo')"),
    ("port", "70000", "must be at most 65,535 (got 70,000)"),
])
def test_bad_values_are_rejected_alike_and_name_the_field(name, text, message, capsys):
    for build in (_via_url, _via_profile):
        with pytest.raises(InvalidInput) as exc:
            build(name, text)
        assert exc.value.problems == [(name, message)]
    code, err = _via_cli(name, text, capsys)
    assert code == 2 and err == f"vllm-wizard: error: {flag(name)}: {message}\n"


@pytest.mark.parametrize("text, value", [("8192", 8192), (" 8,192 ", 8192), ("8k", 8000), ("8K", 8192), ("1.5m", 1_500_000),
                                         ("2M", 2 * 2**20), (8192.0, 8192), (7, 7)])
def test_counts_read_the_way_vllm_reads_them(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["8.5K", "1e3", "eight", "", "8kk", True])
def test_counts_refuse_what_vllm_refuses(text):
    with pytest.raises(ValueError):
        parse_count(text)


@pytest.mark.parametrize("name, text", [("overhead_gb", "1e308"), ("vram_gb", "inf"), ("vram_gb", "nan"), ("gpus", "9" * 400),
                                        ("prompt_tokens", "-5"), ("model", "x" * 5000), ("model", "a\x00b"), ("model", "  "),
                                        ("vllm_version", "latest"), ("params_b", "1e400")])
def test_huge_infinite_empty_and_binary_values_are_clear_errors(name, text):
    with pytest.raises(WizardError) as exc:
        parse_request({"model": MODEL, name: text})
    assert exc.value.problems[0][0] == name and "Traceback" not in describe(exc.value, "form")


def test_non_ascii_ids_reach_the_planner_as_text():
    assert parse_request({"model": "ünïcode/módel"}).model.model == "ünïcode/módel"


def test_optional_fields_left_empty_or_default_mean_the_wizard_decides():
    request = parse_request({"model": MODEL, "quantization": "", "kv_cache_dtype": "default", "enforce_eager": "default",
                             "max_num_seqs": "", "request_rate": ""})
    flat = request.flat()
    assert (flat["quantization"], flat["kv_cache_dtype"], flat["enforce_eager"], flat["max_num_seqs"], flat["request_rate"]) == (
        None, None, None, None, None)


def test_booleans_and_choices_are_read_case_insensitively():
    request = parse_request({"model": MODEL, "enforce_eager": "true", "quantization": "FP8", "batching_mode": " Latency "})
    assert (request.policy.enforce_eager, request.model.quantization, request.workload.batching_mode) == (True, "fp8", "latency")


def test_targets_go_through_the_same_syntax():
    assert parse_request({"model": MODEL, "max_itl_ms": "40", "min_request_rate": "1,000"}).targets.min_request_rate == 1000
    with pytest.raises(InvalidInput) as exc:
        parse_request({"model": MODEL, "max_itl_ms": "abc"})
    assert describe(exc.value, "cli") == "--max-itl-ms: must be a number like 0.9 or 2.5 (got 'abc')"
    assert describe(exc.value, "form") == "Max time per output token (ms): must be a number like 0.9 or 2.5 (got 'abc')"
