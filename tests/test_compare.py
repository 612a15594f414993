"""Two plans side by side (module and `vllm-wizard compare`), and the sweep and comparison charts."""

import json

import pytest

from tests.conftest import make_plan
from wizard.capacity.compare import compare
from wizard.capacity.sweep import sweep
from wizard.faces import charts
from wizard.faces import format as fmt
from wizard.faces.cli import main
from wizard.faces.report import render_comparison
from wizard.schema import parse_request
from wizard.schema.results import Comparison


@pytest.fixture(scope="module")
def pair():
    a = make_plan(model="meta-llama/Llama-3.1-70B-Instruct", gpu="H100", gpus=4)
    b = make_plan(model="meta-llama/Llama-3.1-70B-Instruct", gpu="A100 80GB", gpus=4, kv_cache_dtype="fp8")
    return a, b


def test_rows_hold_both_plans_numbers(pair):
    a, b = pair
    c = compare(a, b, labels=("h100", "a100"))
    rows = {r.label: (r.a, r.b) for r in c.rows}
    assert rows["GPU"] == ("4 x H100 SXM 80GB", "4 x A100 SXM 80GB")
    assert rows["weights"] == (fmt.gib(a.memory.weights_gib), fmt.gib(b.memory.weights_gib))
    assert rows["KV cache tokens"] == (f"{a.memory.kv_cache_tokens:,}", f"{b.memory.kv_cache_tokens:,}")
    assert rows["kv_cache_dtype"] == ("auto", "fp8")
    assert rows["enable_expert_parallel"] == ("off", "off")  # every setting of the recommendation, none forgotten
    assert rows["max_num_seqs"] == ("1,024", "256")  # counts with separators, as every face writes them
    itl, ttft = a.performance.itl_ms, a.performance.ttft_ms
    assert rows["time per output token"][0] == f"{fmt.duration_ms(itl.expected)} ({fmt.duration_ms(itl.low)} – {fmt.duration_ms(itl.high)})"
    assert rows["time to first token"][0].startswith(fmt.duration_ms(ttft.expected) + " (")


def test_a_plan_without_performance_says_whether_it_starts(pair):
    """A plan whose requests vLLM refuses starts all the same: its figures read 'does not start' before."""
    refused = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", max_model_len=4096, prompt_tokens=8000)
    broken = make_plan(model="meta-llama/Llama-3.1-405B-Instruct", gpu="RTX 4090")
    rows = {r.label: (r.a, r.b) for r in compare(refused, broken).rows}
    assert rows["time per output token"] == ("n/a (requests refused)", "n/a (does not start)")


def test_command_diff_shows_exactly_what_changes(pair):
    c = compare(*pair, labels=("h100", "a100"))
    changed = [line for line in c.command_diff if line[:1] in "+-" and not line.startswith(("---", "+++"))]
    assert "+  --kv-cache-dtype fp8" in changed
    assert "-  --max-num-seqs 1024" in changed and "+  --max-num-seqs 256" in changed  # A100: vLLM's smaller defaults
    assert not any("--tensor-parallel-size" in line for line in changed)
    same = compare(pair[0], pair[0])
    assert same.command_diff == [] and "identical" in render_comparison(same)


def test_text_marks_the_rows_that_differ(pair):
    text = render_comparison(compare(*pair, labels=("h100", "a100")))
    lines = text.splitlines()
    assert any(line.startswith("* kv_cache_dtype") for line in lines)
    assert any(line.startswith("  weights") for line in lines)


def test_cli_compare_two_profiles(tmp_path, pair, capsys):
    paths = []
    for name, plan in zip("ab", pair):
        path = tmp_path / f"{name}.yaml"
        path.write_text(plan.artifacts.profile_yaml)
        paths.append(str(path))
    assert main(["compare", *paths, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert Comparison.model_validate(data).labels == tuple(paths)  # the JSON is the schema's model
    assert data["labels"] == paths
    kv = next(r for r in data["rows"] if r["label"] == "kv_cache_dtype")
    assert (kv["a"], kv["b"], kv["differs"]) == ("auto", "fp8", True)
    assert data["plans"][1]["memory"] == pair[1].model_dump(mode="json")["memory"]
    assert main(["compare", *paths]) == 0
    assert "serve command diff" in capsys.readouterr().out


def test_cli_compare_missing_profile_is_exit_2(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_pareto_front_by_hand():
    points = [(1.0, 10.0), (2.0, 5.0), (2.0, 30.0), (3.0, 30.0), (4.0, 50.0), (0.5, 1.0)]
    # Cheapest first; a point joins when it beats every cheaper point's throughput.
    assert charts.pareto_front(points) == [5, 0, 2, 4]


def test_sweep_figure_has_one_trace_per_gpu_and_the_front():
    result = sweep(parse_request({"model": "meta-llama/Llama-3.1-8B-Instruct"}), gpu_names=["L4", "L40S"], full_plans=0)
    fig = charts.sweep_figure(result.results)
    names = [t.name for t in fig.data]
    assert names == ["L4", "L40S", "Pareto front"]
    l4 = fig.data[0]
    assert list(l4.x) == [r.cost_per_hour for r in result.results if r.gpu == "L4"]
    assert list(l4.y) == [r.output_tokens_per_s for r in result.results if r.gpu == "L4"]


def test_compare_vram_figure_stacks_each_plans_most_loaded_gpu(pair):
    fig = charts.compare_vram_figure(list(pair), ["a", "b"])
    weights = next(t for t in fig.data if t.name == "Weights")
    assert list(weights.y) == [pair[0].memory.per_gpu[0].weights_gib, pair[1].memory.per_gpu[0].weights_gib]
    budget = next(t for t in fig.data if t.name.startswith("Budget"))
    assert list(budget.y) == [pair[0].memory.budget_gib, pair[1].memory.budget_gib]
