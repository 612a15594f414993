"""The vllm-wizard command line: every option, JSON output, profiles, bad input."""

import json
import subprocess
import sys

import pytest

from wizard.faces.cli import build_parser, main
from wizard.schema import iter_fields

ORIGINAL_OPTIONS = [
    "--model", "-m", "--revision", "--trust-remote-code", "--dtype", "--quantization", "-q", "--kv-cache-dtype",
    "--max-model-len", "--params-b", "--gpu", "--gpus", "--vram-gb", "--interconnect", "--tensor-parallel-size",
    "--tp", "--prompt-tokens", "--gen-tokens", "--concurrency", "-c", "--batching-mode", "--gpu-memory-utilization",
    "--overhead-gb", "--fragmentation-factor", "--headroom-gb", "--profile", "-p", "--json", "--explain",
]


def _plan_parser():
    parser = build_parser()
    return parser._subparsers._group_actions[0].choices["plan"]


def test_plan_has_every_option_of_the_original_cli():
    strings = {s for action in _plan_parser()._actions for s in action.option_strings}
    assert set(ORIGINAL_OPTIONS) <= strings


def test_help_texts_come_from_the_schema():
    helps = {a.dest: a.help for a in _plan_parser()._actions}
    for _, name, info in iter_fields():
        assert helps[name].startswith(info.description)


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_output_is_the_whole_response(capsys):
    code, out, _ = run(capsys, "plan", "-m", "Qwen/Qwen3-8B", "--gpu", "L40S", "--json")
    data = json.loads(out)
    assert code == 0
    for key in ("weights_gib", "activation_gib", "non_torch_gib", "cuda_graph_gib", "kv_cache_gib", "kv_cache_tokens",
                "kv_bytes_per_token", "budget_gib", "gpu_total_gib"):
        assert key in data["memory"]
    for key in ("fits", "oom_risk", "headroom_gib", "max_concurrency", "max_context_tokens", "warnings"):
        assert key in data["feasibility"]
    assert set(data) >= {"model", "hardware", "memory", "feasibility", "recommendation", "performance", "artifacts", "warnings"}


def test_an_overload_is_the_verdict_line_not_a_footnote(capsys):
    """Issue 9: the headline of every face says so, with the rate the plan does sustain (the page's words)."""
    from tests.conftest import make_plan
    from wizard.faces import format as fmt

    sustained = make_plan(model="openai/gpt-oss-120b", gpu="H100", request_rate=40).performance.max_request_rate_per_s
    code, out, _ = run(capsys, "plan", "-m", "openai/gpt-oss-120b", "--gpu", "H100", "--request-rate", "40")
    verdict = next(line for line in out.splitlines() if line.startswith("verdict:"))
    assert code == 0 and verdict.startswith(
        f"verdict: FITS, but OVERLOADED: sustains about {fmt.number(sustained.expected)} requests/s, not the 40 asked; ")
    code, out, _ = run(capsys, "plan", "-m", "openai/gpt-oss-120b", "--gpu", "H100", "--request-rate", "40", "--json")
    data = json.loads(out)
    assert data["performance"]["keeps_up"] is False and data["warnings"][0].startswith("overloaded: requests arrive at 40/s")
    code, out, _ = run(capsys, "plan", "-m", "openai/gpt-oss-120b", "--gpu", "H100", "--request-rate", "2")
    assert "verdict: FITS; OOM risk" in out


def test_requests_longer_than_max_model_len_are_refused_not_simulated(capsys):
    """vLLM answers such a request with an error: the plan used to simulate lengths cut to fit (3 s), and its run's
    warnings (cut, preemptions) stood beside a verdict that it does not fit."""
    code, out, _ = run(capsys, "plan", "-m", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "H100", "--gen-tokens", "131072",
                       "--json")
    data = json.loads(out)
    assert code == 0 and data["performance"] is None and not data["feasibility"]["fits"]
    assert not any(w.startswith(("simulated in part", "the KV cache ran out")) for w in data["warnings"])
    assert data["feasibility"]["refused"] and data["feasibility"]["starts"]
    code, out, _ = run(capsys, "plan", "-m", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "H100", "--gen-tokens", "131072")
    assert "performance: none (vLLM refuses requests longer than max_model_len)" in out
    assert "verdict: REFUSED; OOM risk low: " in out  # vLLM starts: its memory is not at fault
    assert ("vllm serve command (the plan does NOT fit: vLLM starts, but rejects the workload's requests: they are "
            "longer than max_model_len)") in out


def test_more_nodes_than_layers_names_the_nodes_not_a_flag_left_unset(capsys):
    """One pipeline stage per node is the wizard's default, not the user's: the error used to name
    --pipeline-parallel-size, which the user never gave."""
    code, _, err = run(capsys, "plan", "-m", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "H100", "--nodes", "100")
    assert code == 2 and err == ("vllm-wizard: error: --nodes: 100 nodes are 100 pipeline stages (one per node), more "
                                 "than the model's 32 layers: use fewer nodes, or set data parallelism to run an engine "
                                 "on each\n")
    code, _, err = run(capsys, "plan", "-m", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "H100", "--nodes", "2",
                       "--pipeline-parallel-size", "40")
    assert code == 2 and err == "vllm-wizard: error: --pipeline-parallel-size: 40 stages exceed the model's 32 layers\n"


def test_one_token_answers_have_no_decode_rows(capsys):
    code, out, _ = run(capsys, "plan", "-m", "Qwen/Qwen3-8B", "--gpu", "H100", "--gen-tokens", "1", "-c", "1")
    assert code == 0 and "a closed loop of 1 concurrent request;" in out
    assert "time per output token   no decode step (one output token each)" in out


def test_text_output_and_explain(capsys):
    code, out, _ = run(capsys, "plan", "-m", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "H100", "--explain")
    assert code == 0
    assert "verdict: FITS" in out and "KV cache" in out
    assert "[recommended]" in out and "kv_cache_gib" in out


def test_profile_supplies_values_and_flags_override(tmp_path, capsys):
    profile = tmp_path / "p.yaml"
    profile.write_text("version: 1\nmodel:\n  model: Qwen/Qwen3-8B\nhardware:\n  gpu: L40S\n  gpus: 2\nworkload:\n  concurrency: 4\n")
    code, out, _ = run(capsys, "plan", "-p", str(profile), "--gpu", "A100 80GB", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["hardware"]["gpu"] == "A100 SXM 80GB" and data["hardware"]["gpus_per_node"] == 2
    assert data["request"]["workload"]["concurrency"] == 4


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-m", "Qwen/Qwen3-8B", "--gpu", "H9000"], "unknown GPU 'H9000'"),
        (["-m", "Qwen/Qwen3-8B", "--gpu", "H100", "--gpus", "0"], "--gpus: must be at least 1 (got 0)"),
        (["-m", "Qwen/Qwen3-8B", "--gpu", "H100", "--gpus", "-2"], "--gpus"),
        (["-m", "Qwen/Qwen3-8B", "--gpu", "H100", "--concurrency", "0"], "--concurrency"),
        (["-m", "Qwen/Qwen3-8B", "--gpu", "H100", "--gpu-memory-utilization", "0"], "--gpu-memory-utilization"),
        (["-m", "Qwen/Qwen3-8B", "--gpu", "H100", "--gpu-memory-utilization", "1.2"], "--gpu-memory-utilization"),
        (["-m", "Qwen/Qwen3-8B", "--gpu", "H100", "--gpus", "8", "--tp", "3"], "does not divide the 32 attention heads"),
        (["-m", "/no/such/model/dir", "--gpu", "H100"], "no such directory"),
        (["-m", "nobody/no-such-model", "--gpu", "H100"], "cannot be reached"),
        (["-m", "Qwen/Qwen3-8B", "--gpu", "H100", "--max-model-len", "0"], "--max-model-len"),
        (["-m", "Qwen/Qwen3-8B", "--gpu", "H100", "-q", "awq"], "unquantized"),
        (["--gpu", "H100"], "--model: is required"),
        (["-m", "", "--gpu", "H100"], "--model: is required (it is empty)"),
        (["-m", "Qwen/Qwen3-8B", "--gpu", "H100", "-p", "/no/such/profile.yaml"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, "plan", *argv)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert out == ""


def test_broken_profile_is_a_clear_error(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [unclosed\n")
    code, _, err = run(capsys, "plan", "-p", str(broken))
    assert code == 2 and "not valid YAML" in err
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("version: 1\nmodel:\n  model: Qwen/Qwen3-8B\n  colour: blue\n")
    code, _, err = run(capsys, "plan", "-p", str(wrong), "--gpu", "H100")
    assert code == 2 and "wrong.yaml: model.colour: is not a known field" in err


def test_a_bad_choice_is_one_line_naming_the_options_and_exit_2(capsys):
    code, _, err = run(capsys, "plan", "-m", "Qwen/Qwen3-8B", "--gpu", "H100", "--dtype", "bf17")
    assert code == 2
    assert err == "vllm-wizard: error: --dtype: must be one of 'auto', 'bfloat16', 'float16' or 'float32' (got 'bf17')\n"


def test_a_value_argparse_cannot_take_is_one_line_without_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "-m", "Qwen/Qwen3-8B", "--limit", "ten"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == "vllm-wizard: error: --limit: invalid int value: 'ten'\n"


def test_a_usage_error_still_prints_the_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plan", "--colour", "blue"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("usage:") and "unrecognized arguments: --colour blue" in err


def test_catalog_commands(capsys):
    code, out, _ = run(capsys, "gpus")
    assert code == 0 and "H100 SXM 80GB" in out and "79.19" in out
    code, out, _ = run(capsys, "models", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) >= 36
    assert {"model", "params_b", "kv_bytes_per_token"} <= set(rows[0])


def test_detect_without_gpus(capsys, monkeypatch):
    monkeypatch.setattr("wizard.catalog.detect.detect_gpus", lambda: [])
    code, out, _ = run(capsys, "detect")
    assert code == 0 and "no NVIDIA GPU detected" in out


def test_console_script_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "wizard.faces.cli", "plan", "-m", "Qwen/Qwen3-8B", "--gpu", "H100", "--json"],
                            capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": ""}, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["feasibility"]["fits"] is True


def test_check_tables_widen_for_values_past_their_usual_width():
    """A 60,000-prompt run's simulated TTFT is millions of ms: its columns ran into each other
    ('138.393,747,445.36', '...5,246,423.51below range')."""
    from wizard.faces.report import _check_lines
    from wizard.schema.results import CheckRow

    usual = CheckRow(quantity="mean tpot", unit="ms", measured=7.38, predicted=7.5, low=6.0, high=9.0)
    huge = CheckRow(quantity="median ttft", unit="ms", measured=138.39, predicted=3747445.36, low=2248467.22,
                    high=5246423.51)
    header, first, second = _check_lines([usual, huge])
    assert second.split() == ["median", "ttft", "(ms)", "138.39", "3,747,445.36", "2,248,467.22-5,246,423.51",
                              "below", "range"]
    assert _check_lines([usual])[1] == "  " + "mean tpot (ms)".ljust(44) + "7.38".rjust(12) + "7.50".rjust(12) + "  " \
        + "6.00-9.00".ljust(24) + "within range"
