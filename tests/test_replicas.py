"""Fleets: identical replicas sharing a request rate, sized by the sweep, planned and deployed as N."""

import pytest
import yaml

from benchmarks.check_artifacts import COMPOSE, check_kubernetes
from tests.conftest import make_plan
from wizard.capacity.compare import plan_costs
from wizard.capacity.sweep import sweep
from wizard.faces.cli import main
from wizard.planning.performance import fleet_target, replicas_for
from wizard.planning.planner import plan
from wizard.schema import parse_request

QWEN = dict(model="Qwen/Qwen3-8B", gpu="L4", max_model_len=8192)


@pytest.mark.parametrize("target, per_replica, expected", [
    (200.0, 45.0, 5),  # 4 x 45 = 180 < 200 <= 225
    (90.0, 45.0, 2),  # exactly covered: no spare replica
    (0.5, 45.0, 1),
    (45.01, 45.0, 2),
])
def test_replicas_for_is_the_fewest_that_cover_the_target(target, per_replica, expected):
    assert replicas_for(target, per_replica) == expected


def test_fleet_target_is_the_higher_of_the_rate_and_the_rate_target():
    assert fleet_target(parse_request({"model": "Qwen/Qwen3-8B"})) is None
    assert fleet_target(parse_request({"model": "Qwen/Qwen3-8B", "request_rate": "inf"})) is None
    assert fleet_target(parse_request({"model": "Qwen/Qwen3-8B", "request_rate": 30, "min_request_rate": 50})) == 50
    assert fleet_target(parse_request({"model": "Qwen/Qwen3-8B", "request_rate": 70, "min_request_rate": 50})) == 70


@pytest.fixture(scope="module")
def one_and_three():
    return make_plan(**QWEN, request_rate=2), make_plan(**QWEN, request_rate=2, replicas=3)


def test_replicas_multiply_the_sustainable_rate(one_and_three):
    one, three = one_and_three
    assert three.hardware.replicas == 3 and three.hardware.gpus_used == 1
    assert three.memory == one.memory  # each replica is the same deployment
    rate1, rate3 = one.performance.max_request_rate_per_s.expected, three.performance.max_request_rate_per_s.expected
    assert rate3 == pytest.approx(3 * rate1, rel=0.02)
    assert any("a load balancer splits the requests evenly over the 3 replicas" in a for a in three.performance.assumptions)


def test_one_engines_saturated_run_rates_every_fleet_size(monkeypatch):
    """The replicas are alike: a fleet sustains n times one engine's rate, and a sweep resizing it simulates the
    saturated engine once."""
    from wizard.planning import performance
    from wizard.planning.inputs import resolve_inputs
    from wizard.planning.search import search

    calls = []
    finish_times = performance.finish_times
    monkeypatch.setattr(performance, "finish_times", lambda *a, **k: calls.append(a) or finish_times(*a, **k))
    rates = []
    for replicas in (1, 3, 4):  # a workload no other test simulates, so nothing is kept yet
        inp = resolve_inputs(parse_request({**QWEN, "prompt_tokens": 777, "gen_tokens": 77, "replicas": replicas}),
                             detected=[])
        rates.append(performance.sustainable_rate(inp, search(inp).candidate))
    assert len(calls) == 1 and rates[1] == 3 * rates[0] and rates[2] == 4 * rates[0]


def test_an_overloaded_plan_names_the_replicas_that_keep_up(one_and_three):
    one, _ = one_and_three
    assert one.performance.keeps_up is False
    per_replica = one.performance.max_request_rate_per_s.expected
    needed = replicas_for(2, per_replica)
    assert one.performance.replicas_to_keep_up == needed
    warning = next(w for w in one.warnings if w.startswith("overloaded"))
    assert warning.endswith(f"{needed} replicas of this deployment would keep up (replicas: {needed})")
    fleet = make_plan(**QWEN, request_rate=2, replicas=needed)
    assert fleet.performance.keeps_up is True and not any(w.startswith("overloaded") for w in fleet.warnings)
    assert fleet.performance.replicas_to_keep_up is None


@pytest.fixture(scope="module")
def fleet_sweep():
    base = parse_request({"model": "Qwen/Qwen3-8B", "max_model_len": 8192, "request_rate": 40, "max_ttft_ms": 500})
    return base, sweep(base, gpu_names=["L4", "L40S", "H100"], full_plans=3)


def test_sweep_rows_cover_the_target_rate_with_the_fewest_replicas(fleet_sweep):
    _, result = fleet_sweep
    simulated = [row for row in result.results if row.simulated]
    assert simulated and any(row.replicas > 1 for row in simulated)
    for row in simulated:
        assert row.max_request_rate_per_s >= 40
        assert row.ttft_ms <= 500
        assert row.total_gpus == row.gpus_per_node * row.nodes * row.replicas
        assert row.cost_per_hour == pytest.approx(row.usd_per_gpu_hour * row.total_gpus)
        # One replica fewer would not sustain the target at the same rate per replica (none spare).
        if row.replicas > 1 and row.ttft_ms * 2 < 500:
            assert (row.replicas - 1) * row.rate_per_replica_per_s < 40
    costs = [row.cost_per_hour for row in result.results]
    assert costs == sorted(costs)


def test_a_fleet_the_screen_sized_too_large_shrinks_to_the_fewest_the_simulation_finds():
    """The screen rates gpt-oss-120b on 4 x A10G, an engine per GPU (its KV pool holds one request of 1,200 tokens),
    at 0.23 requests/s a replica and sized 5 for 1 request/s; the simulation sustains 0.38 a replica, so 3 do: the
    sweep lists 3, not 5 ($12 an hour, not $20)."""
    base = parse_request({"model": "openai/gpt-oss-120b", "prompt_tokens": 200, "gen_tokens": 1000, "request_rate": 1.0,
                          "num_prompts": 200})
    rows = sweep(base, gpu_names=["A10G"], prices={"A10G": 1.0}, full_plans=0, per_node=[4], nodes=[1]).results
    spread = next(row for row in rows if row.data_parallel_size == 4)
    assert spread.simulated and spread.replicas == 3 and spread.cost_per_hour == 12.0
    assert spread.max_request_rate_per_s >= 1.0 > (spread.replicas - 1) * spread.rate_per_replica_per_s


def test_a_fleet_row_replans_to_the_same_fleet(fleet_sweep):
    _, result = fleet_sweep
    for row in result.results[:3]:
        alone = plan(row.request)
        assert alone.hardware.replicas == row.replicas
        assert alone.performance.max_request_rate_per_s.expected == pytest.approx(row.max_request_rate_per_s)
        assert row.plan is not None and row.plan.hardware.replicas == row.replicas


def test_cost_per_million_tokens_is_at_the_sustained_rate(fleet_sweep):
    _, result = fleet_sweep
    row = result.results[0]
    tokens_per_hour = row.max_request_rate_per_s * 256 * 3600
    assert row.output_tokens_per_request == 256
    assert row.cost_per_million_output_tokens == pytest.approx(row.cost_per_hour / tokens_per_hour * 1e6)


@pytest.fixture(scope="module")
def three_replicas():
    return make_plan(model="Qwen/Qwen3-8B", gpu="H100", gpus=2, tensor_parallel_size=2, replicas=3)


def test_compose_runs_one_service_per_replica_on_its_own_gpus_and_port(three_replicas):
    text = three_replicas.artifacts.docker_compose
    doc = yaml.safe_load(text)
    COMPOSE.validate(doc)
    services = doc["services"]
    assert list(services) == ["vllm-1", "vllm-2", "vllm-3"]
    devices = [s["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"] for s in services.values()]
    assert devices == [["0", "1"], ["2", "3"], ["4", "5"]]
    assert [s["ports"] for s in services.values()] == [["8000:8000"], ["8001:8000"], ["8002:8000"]]
    assert "round-robin load balancer" in text.split("services:")[0]


def test_kubernetes_scales_the_deployment_behind_one_service(three_replicas):
    text = three_replicas.artifacts.kubernetes
    assert "3 replicas behind one Service" in text.split("apiVersion")[0]
    docs = list(yaml.safe_load_all(text))
    check_kubernetes(docs)
    assert [d["kind"] for d in docs] == ["Deployment", "Service"]  # no ReadWriteOnce claim shared across nodes
    deployment = docs[0]
    assert deployment["spec"]["replicas"] == 3
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes["hf-cache"]
    assert three_replicas.artifacts.docker_run.startswith("# One replica of 3")


def test_cli_rejects_zero_replicas(capsys):
    assert main(["plan", "--model", "Qwen/Qwen3-8B", "--gpu", "L4", "--replicas", "0"]) == 2
    assert capsys.readouterr().err == "vllm-wizard: error: --replicas: must be at least 1 (got 0)\n"


def test_a_plans_costs_are_the_sweep_rows_measure(fleet_sweep):
    """Two profiles on the Compare page are costed as the sweep costs its rows: every GPU of every replica, and per
    million output tokens at the sustained rate."""
    _, result = fleet_sweep
    for row in result.results[:3]:
        gpus, hourly, per_million = plan_costs(row.plan, row.usd_per_gpu_hour)
        assert (gpus, hourly) == (row.total_gpus, pytest.approx(row.cost_per_hour))
        assert per_million == pytest.approx(row.cost_per_million_output_tokens)
