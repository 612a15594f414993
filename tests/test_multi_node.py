"""Multi-node plans: TP inside a node and PP across nodes over Ray (a dense model), data-parallel engines
spread over the nodes by vLLM itself (an MoE model), the network in the performance model, and artifacts."""

import shlex
import subprocess

import jsonschema
import pytest
import yaml

from benchmarks.check_artifacts import (
    COMPOSE,
    LWS,
    check_kubernetes,
    script_argvs,
    shell_words,
    vllm_argvs,
)
from tests.conftest import make_plan
from tests.test_artifacts import check_vllm_args
from wizard.physics import perf


@pytest.fixture(scope="module")
def ray_plan():
    """A dense model over two nodes: TP 8 inside each, one pipeline stage per node, Ray underneath."""
    return make_plan(model="meta-llama/Llama-3.1-405B-Instruct", gpu="H100", gpus=8, nodes=2)


@pytest.fixture(scope="module")
def dp_plan():
    """An MoE model over two nodes as 16 data-parallel engines with expert parallelism."""
    return make_plan(model="deepseek-ai/DeepSeek-V3", gpu="H200", gpus=8, nodes=2)


def test_no_single_node_of_h100s_holds_llama_405b_in_bf16_but_two_do(ray_plan):
    one = make_plan(model="meta-llama/Llama-3.1-405B-Instruct", gpu="H100", gpus=8)
    assert not one.feasibility.fits
    two = ray_plan
    assert two.feasibility.fits
    # 405,853,388,800 parameters in bf16 over 16 GPUs (126 layers: 63 per stage).
    assert two.model.params_loaded == 405_853_388_800
    assert (two.hardware.tensor_parallel_size, two.hardware.pipeline_parallel_size, two.hardware.gpus_used) == (8, 2, 16)


def test_pp_defaults_to_one_stage_per_node(ray_plan):
    assert ray_plan.feasibility.fits
    assert (ray_plan.hardware.tensor_parallel_size, ray_plan.hardware.pipeline_parallel_size) == (8, 2)
    assert ray_plan.recommendation.pipeline_parallel_size.value == 2


def test_the_network_hop_is_in_the_step_time(ray_plan):
    """Per engine step, each inter-node hop adds its latency plus the activations over the NIC."""
    model = perf.StepModel(**{**_step_fields(), "pp": 2, "inter_node_hops": 1})
    local = perf.StepModel(**{**_step_fields(), "pp": 2, "inter_node_hops": 0})
    tokens, hidden = 256, 7168
    extra = perf.pipeline_seconds(model, 0.01, tokens) - perf.pipeline_seconds(local, 0.01, tokens)
    expected = perf.INTER_NODE_LATENCY_S + tokens * hidden * 2 / (perf.INTER_NODE_GBS * 1e9) - perf.PIPELINE_SEND_LATENCY_S
    assert extra == pytest.approx(expected, rel=1e-12)
    assert any("between nodes" in a for a in ray_plan.performance.assumptions)


def _step_fields():
    fields = {name: 1.0 for name in perf.StepModel.__dataclass_fields__}
    fields.update(tp=8, pp=1, hidden=7168, moe_layers=0, chunked_prefill=True, inter_node_hops=0)
    return fields


def test_serve_command_uses_ray_and_both_parallel_sizes(ray_plan):
    args = ray_plan.artifacts.vllm_args
    check_vllm_args(args)
    assert args[args.index("--tensor-parallel-size") + 1] == "8"
    assert args[args.index("--pipeline-parallel-size") + 1] == "2"
    assert args[args.index("--distributed-executor-backend") + 1] == "ray"


def test_ray_recipe_starts_a_head_then_workers_then_vllm(ray_plan):
    recipe = ray_plan.artifacts.multi_node
    lines = [line for line in recipe.splitlines() if line and not line.startswith("#")]
    assert lines[0] == "ray start --head --port=6379 --num-gpus=8"
    assert lines[1] == 'ray start --address="$HEAD_IP:6379" --num-gpus=8'
    assert "ray.nodes()" in lines[2] and ">= 2" in lines[2]
    assert script_argvs(recipe, ray_plan.artifacts.image) == [[ray_plan.model.model, *ray_plan.artifacts.vllm_args]]
    subprocess.run(["bash", "-n"], input=recipe, text=True, check=True)


def test_docker_recipe_runs_ray_in_vllms_image_on_each_node(ray_plan):
    text = ray_plan.artifacts.docker_run
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)
    words = shell_words(text.replace('"$HOME', '"/home/u'))
    assert words.count("docker") == 3 and words.count("--network=host") == 2
    # The two `docker run`s start Ray (their entrypoint replaced); the one vLLM is the `docker exec` on the head.
    assert script_argvs(text.replace('"$HOME', '"/home/u'), ray_plan.artifacts.image) == [
        [ray_plan.model.model, *ray_plan.artifacts.vllm_args]]


def test_compose_has_a_head_and_a_worker_profile(ray_plan):
    doc = yaml.safe_load(ray_plan.artifacts.docker_compose)
    COMPOSE.validate(doc)
    head, worker = doc["services"]["head"], doc["services"]["worker"]
    assert head["profiles"] == ["head"] and worker["profiles"] == ["worker"]
    assert head["network_mode"] == worker["network_mode"] == "host"
    script = head["command"][0]
    subprocess.run(["bash", "-n", "-c", script], check=True)
    assert vllm_argvs(shlex.split(script), ray_plan.artifacts.image) == [[ray_plan.model.model, *ray_plan.artifacts.vllm_args]]
    assert worker["command"][0].startswith("ray start --address=${HEAD_IP:?")
    for service in (head, worker):
        assert service["deploy"]["resources"]["reservations"]["devices"][0]["count"] == 8


def test_kubernetes_leaderworkerset_follows_the_crd(ray_plan):
    text = ray_plan.artifacts.kubernetes
    assert "LeaderWorkerSet controller" in text.split("\n\n")[0]
    docs = list(yaml.safe_load_all(text))
    assert [d["kind"] for d in docs] == ["LeaderWorkerSet", "Service"]
    check_kubernetes(docs)  # the LWS against its CRD, its pod templates as Pods and the Service, strict 1.30
    lws, service = docs
    group = lws["spec"]["leaderWorkerTemplate"]
    assert group["size"] == 2
    for part in ("leaderTemplate", "workerTemplate"):
        assert group[part]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 8
    leader = group["leaderTemplate"]["spec"]["containers"][0]
    assert vllm_argvs(shlex.split(leader["args"][0]), ray_plan.artifacts.image) == [
        [ray_plan.model.model, *ray_plan.artifacts.vllm_args]]
    worker = group["workerTemplate"]["spec"]["containers"][0]
    assert worker["args"] == ["ray start --address=$(LWS_LEADER_ADDRESS):6379 --num-gpus=8 --block"]
    assert service["spec"]["selector"] == {"leaderworkerset.sigs.k8s.io/name": lws["metadata"]["name"], "role": "leader"}


def test_lws_schema_rejects_a_broken_group(ray_plan):
    lws = next(yaml.safe_load_all(ray_plan.artifacts.kubernetes))
    lws["spec"]["leaderWorkerTemplate"]["size"] = "two"
    with pytest.raises(jsonschema.ValidationError):
        LWS.validate(lws)


def test_single_node_plans_keep_their_single_node_artifacts():
    p = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100")
    assert p.artifacts.multi_node is None
    assert "--distributed-executor-backend" not in p.artifacts.vllm_args
    assert "LeaderWorkerSet" not in p.artifacts.kubernetes
