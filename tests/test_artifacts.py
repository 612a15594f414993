"""Artifacts parsed back and checked against the plan and vLLM 0.33.0's own argument list."""

import json
import os
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from benchmarks.check_artifacts import COMPOSE, EVIL, shell_words
from benchmarks.check_artifacts import SCENARIOS as ISSUE_MATRIX
from tests.conftest import make_plan
from wizard.deploy.serve import vllm_args
from wizard.faces.cli import main
from wizard.faces.profile import parse_profile
from wizard.schema import parse_request

DATA = Path(__file__).parent / "data"
VLLM_ARGS = json.loads((DATA / "vllm_0_33_0_serve_args.json").read_text())
OPTIONS = {s: o for o in VLLM_ARGS["options"] for s in o["option_strings"] + o["negative_option_strings"]}
SCENARIOS = {
    **ISSUE_MATRIX,
    "online fp8 on L40S": dict(model="meta-llama/Llama-3.1-8B-Instruct", gpu="L40S", quantization="fp8", max_model_len="auto"),
    "T4 eager": dict(model="Qwen/Qwen2.5-0.5B-Instruct", gpu="T4", enforce_eager=True, trust_remote_code=True),
}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def scenario(request):
    return request.param, make_plan(**SCENARIOS[request.param])


def check_vllm_args(argv):
    """Every option exists in vLLM 0.33.0's serve parser; values obey its choices and known values."""
    i = 0
    while i < len(argv):
        flag = argv[i]
        assert flag.startswith("--") and flag in OPTIONS, f"{flag} is not a vLLM 0.33.0 serve option"
        option = OPTIONS[flag]
        if option["is_flag"]:
            i += 1
            continue
        value = argv[i + 1]
        if option["choices"]:
            assert value in option["choices"], f"{flag} {value} not in {option['choices']}"
        if option["dest"] in VLLM_ARGS["known_values"]:
            assert value in VLLM_ARGS["known_values"][option["dest"]], f"{flag} {value} is not a value vLLM knows"
        i += 2


def test_serve_command_round_trips_through_the_shell_grammar(scenario):
    _, p = scenario
    words = shell_words(p.artifacts.serve_command)
    assert words[:3] == ["vllm", "serve", p.model.model]
    check_vllm_args(words[3:])
    assert words[3:] == p.artifacts.vllm_args


def test_serve_args_say_what_the_recommendation_says(scenario):
    _, p = scenario
    args, rec = p.artifacts.vllm_args, p.recommendation

    def value(flag):
        return args[args.index(flag) + 1] if flag in args else None

    assert int(value("--tensor-parallel-size") or 1) == rec.tensor_parallel_size.value
    assert value("--max-model-len") == str(rec.max_model_len.value)
    assert float(value("--gpu-memory-utilization")) == rec.gpu_memory_utilization.value
    assert int(value("--max-num-seqs")) == rec.max_num_seqs.value
    assert int(value("--max-num-batched-tokens")) == rec.max_num_batched_tokens.value
    assert (value("--kv-cache-dtype") or "auto") == rec.kv_cache_dtype.value
    assert ("--enforce-eager" in args) == bool(rec.enforce_eager.value)
    assert ("--enable-expert-parallel" in args) == bool(rec.enable_expert_parallel.value)
    assert value("--dtype") in ("auto", rec.dtype.value)


def test_a_plan_that_fits_never_asks_for_more_context_than_its_kv_pool(scenario):
    _, p = scenario
    if p.feasibility.fits and isinstance(p.recommendation.max_model_len.value, int):
        assert p.memory.kv_cache_tokens >= p.recommendation.max_model_len.value


def test_quantization_flag_matches_the_checkpoint(scenario):
    name, p = scenario
    args = p.artifacts.vllm_args
    if name == "online fp8 on L40S":
        assert args[args.index("--quantization") + 1] == "fp8"
    else:  # pre-quantized checkpoints are detected by vLLM; unquantized ones get no method
        assert "--quantization" not in args


def test_tp_divides_the_attention_heads(scenario):
    _, p = scenario
    assert p.model.num_attention_heads % p.hardware.tensor_parallel_size == 0


def test_docker_run(scenario):
    _, p = scenario
    words = shell_words(p.artifacts.docker_run.replace('"$HOME', '"/home/u'))
    image_at = words.index(p.artifacts.image)
    assert words[:2] == ["docker", "run"] and "--ipc=host" in words
    assert f"--gpus={p.hardware.gpus_used}" in words
    assert words[words.index("-e") + 1] == "HF_TOKEN"  # passed by name, never a value
    assert p.artifacts.image == f"vllm/vllm-openai:v{p.request.policy.vllm_version}"
    assert words[image_at + 1:image_at + 3] == ["--model", p.model.model]
    check_vllm_args(words[image_at + 3:])
    assert "/root/.cache/huggingface" in p.artifacts.docker_run


def test_compose_file(scenario):
    _, p = scenario
    doc = yaml.safe_load(p.artifacts.docker_compose)
    COMPOSE.validate(doc)
    service = doc["services"]["vllm"]
    assert service["command"] == ["--model", p.model.model, *p.artifacts.vllm_args]
    check_vllm_args(service["command"][2:])
    device = service["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["count"] == p.hardware.gpus_used and device["capabilities"] == ["gpu"]
    assert "/health" in " ".join(service["healthcheck"]["test"])
    assert service["environment"] == ["HF_TOKEN"] and service["ipc"] == "host"
    assert service["ports"] == ["8000:8000"]


def test_kubernetes_manifests(scenario):
    _, p = scenario
    docs = list(yaml.safe_load_all(p.artifacts.kubernetes))
    for doc in docs:
        kubernetes_validate.validate(doc, "1.30.0", strict=True)
    kinds = [d["kind"] for d in docs]
    assert {"Deployment", "Service", "PersistentVolumeClaim"} <= set(kinds)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"] == ["--model", p.model.model, *p.artifacts.vllm_args]
    assert all(isinstance(a, str) for a in container["args"])  # each flag and value its own list item
    assert container["resources"]["limits"]["nvidia.com/gpu"] == p.hardware.gpus_used
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"]["medium"] == "Memory"
    assert any(m["mountPath"] == "/dev/shm" for m in container["volumeMounts"])
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
    service = next(d for d in docs if d["kind"] == "Service")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert "&id" not in p.artifacts.kubernetes  # no YAML anchors


def test_profile_yaml_gives_back_the_request(scenario):
    _, p = scenario
    assert parse_request({}, parse_profile(p.artifacts.profile_yaml)) == p.request


def test_older_release_pins_the_image_and_never_says_auto():
    p = make_plan(model="Qwen/Qwen3-8B", gpu="H100", vllm_version="0.10.2", max_model_len="auto")
    assert p.artifacts.image == "vllm/vllm-openai:v0.10.2"
    assert p.artifacts.vllm_args[p.artifacts.vllm_args.index("--max-model-len") + 1] == str(p.memory.max_model_len)


@pytest.fixture(scope="module")
def evil_model(tmp_path_factory):
    """A local model directory whose name is full of shell metacharacters."""
    root = tmp_path_factory.mktemp("models")
    path = root / EVIL
    path.mkdir()
    config = json.loads((Path(__file__).parents[1] / "wizard/data/models/Qwen--Qwen2.5-0.5B-Instruct.json").read_text())["config"]
    (path / "config.json").write_text(json.dumps(config))
    return path


def test_malicious_path_stays_one_argument_and_never_runs(evil_model, tmp_path):
    p = make_plan(model=str(evil_model), gpu="L4")
    assert shell_words(p.artifacts.serve_command)[2] == str(evil_model)
    # Run the command in a real shell with a stub `vllm` that records its arguments.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "vllm"
    stub.write_text('#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    result = subprocess.run(["bash", "-c", p.artifacts.serve_command], capture_output=True, text=True, cwd=tmp_path, env=env, check=True)
    argv = json.loads(result.stdout)
    assert argv[:2] == ["serve", str(evil_model)]
    assert not list(tmp_path.glob("pwned")) and not list(evil_model.parent.glob("pwned"))
    # The same path inside docker run, compose and kubernetes stays intact too.
    docker = shell_words(p.artifacts.docker_run.replace('"$HOME', '"/h'))
    assert f"{evil_model}:/models/{docker[docker.index('--model') + 1].split('/')[-1]}:ro" in docker
    # Compose interpolates $ in every value and Kubernetes $(VAR) in args: both read $$ as one literal $.
    compose = yaml.safe_load(p.artifacts.docker_compose)["services"]["vllm"]
    assert compose["volumes"][0]["source"] == str(evil_model).replace("$", "$$")
    assert compose["command"][:2] == ["--model", "/models/" + compose["command"][1].split("/")[-1]]
    k8s = [d for d in yaml.safe_load_all(p.artifacts.kubernetes) if d["kind"] == "Deployment"][0]
    volume = next(v for v in k8s["spec"]["template"]["spec"]["volumes"] if v["name"] == "model")
    assert volume["hostPath"]["path"] == str(evil_model)  # not a field Kubernetes expands
    assert k8s["metadata"]["name"].replace("-", "").isalnum()


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="no docker-compose binary here")
def test_compose_reads_a_dollar_in_a_path_literally(evil_model, tmp_path):
    """docker-compose's own parser: the path comes back whole, nothing interpolated (without $$ it refuses the file).
    `config` prints the resolved file re-escaped, so a literal $ shows as $$ there too."""
    p = make_plan(model=str(evil_model), gpu="L4")
    (tmp_path / "docker-compose.yaml").write_text(p.artifacts.docker_compose)
    result = subprocess.run(["docker-compose", "-f", str(tmp_path / "docker-compose.yaml"), "config"],
                            capture_output=True, text=True, check=True)
    service = yaml.safe_load(result.stdout)["services"]["vllm"]
    assert service["volumes"][0]["source"] == str(evil_model).replace("$", "$$")


def test_option_like_directory_is_not_read_as_an_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-rf").mkdir()
    (tmp_path / "-rf" / "config.json").write_text(
        json.dumps(json.loads((Path(__file__).parents[1] / "wizard/data/models/Qwen--Qwen2.5-0.5B-Instruct.json").read_text())["config"]))
    p = make_plan(model="-rf", gpu="L4")
    assert shell_words(p.artifacts.serve_command)[2] == "./-rf"


def test_generate_writes_the_files(tmp_path, capsys):
    code = main(["generate", "-m", "Qwen/Qwen3-8B", "--gpu", "L40S", "-o", str(tmp_path), "--emit", "serve,compose,k8s,profile,docker"])
    assert code == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["docker-compose.yaml", "docker-run.sh", "kubernetes.yaml", "plan.json", "profile.yaml", "serve.sh"]
    assert json.loads((tmp_path / "plan.json").read_text())["feasibility"]["fits"] is True
    assert os.access(tmp_path / "serve.sh", os.X_OK)
    assert "wrote" in capsys.readouterr().out


def test_generate_plan_json_only(tmp_path, capsys):
    assert main(["generate", "-m", "Qwen/Qwen3-8B", "--gpu", "L40S", "-o", str(tmp_path), "--emit", "profile"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json", "profile.yaml"]


def test_revision_and_remote_code_flags(evil_model):
    p = make_plan(model=str(evil_model), gpu="L4", revision="v1.2", trust_remote_code=True)
    args = p.artifacts.vllm_args
    assert args[args.index("--revision") + 1] == "v1.2" and "--trust-remote-code" in args
    check_vllm_args(args)


def test_schema_validators_reject_broken_documents():
    with pytest.raises(jsonschema.ValidationError):
        COMPOSE.validate({"services": {"vllm": {"image": "x", "deploy": {"resources": {"reservations": {"devices": "all"}}}}}})
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
              "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "c", "args": "--model x"}]}}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30.0", strict=True)


def test_vllm_args_are_shared_by_every_artifact():
    p = make_plan(model="Qwen/Qwen3-8B", gpu="H100", gpus=2, tensor_parallel_size=2)
    assert vllm_args(p) == p.artifacts.vllm_args
    for text in (p.artifacts.serve_command, p.artifacts.docker_run):
        assert shlex.join(p.artifacts.vllm_args[:2]) in " ".join(text.split())


def test_a_dollar_in_an_argument_is_literal_for_compose_and_kubernetes(evil_model):
    """Compose interpolates ${...} and Kubernetes $(...) in args: a user's $ is written $$ for both."""
    p = make_plan(model=str(evil_model), gpu="L4", revision="tag$(x)${HOME}")
    assert p.artifacts.vllm_args[p.artifacts.vllm_args.index("--revision") + 1] == "tag$(x)${HOME}"
    compose = yaml.safe_load(p.artifacts.docker_compose)["services"]["vllm"]["command"]
    assert compose[compose.index("--revision") + 1] == "tag$$(x)$${HOME}"
    k8s = next(d for d in yaml.safe_load_all(p.artifacts.kubernetes) if d["kind"] == "Deployment")
    args = k8s["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--revision") + 1] == "tag$$(x)$${HOME}"


def test_artifacts_of_a_plan_that_does_not_fit_say_so_at_the_top():
    """serve.sh, the Compose file and the Kubernetes manifests open with why the plan will not run, as comments:
    the files still parse and validate, and the script still runs its one command."""
    p = make_plan(model="meta-llama/Llama-3.1-405B-Instruct", gpu="RTX 4090")
    reason = p.feasibility.failed[0]
    assert reason.startswith("vLLM does not start")
    art = p.artifacts
    for text in (art.serve_script, art.docker_compose, art.kubernetes):
        header = [line for line in text.splitlines() if line.startswith("# ")][:3]
        assert header == ["# DOES NOT FIT: vLLM will not start with these settings.", f"# - {reason}",
                          "# Plan again with one of the fixes vLLM Wizard lists before running this."]
    assert art.serve_script.startswith("#!/usr/bin/env bash\n# DOES NOT FIT")
    subprocess.run(["bash", "-n", "-c", art.serve_script], check=True)
    COMPOSE.validate(yaml.safe_load(art.docker_compose))
    for doc in yaml.safe_load_all(art.kubernetes):
        kubernetes_validate.validate(doc, "1.30.0", strict=True)


def test_a_workload_that_does_not_fit_is_marked_apart_from_a_server_that_does_not_start():
    p = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="L4", concurrency=200, prompt_tokens=8000)
    assert p.feasibility.starts and not p.feasibility.fits
    assert p.artifacts.docker_compose.startswith(
        "# DOES NOT FIT: vLLM starts, but the requested workload does not fit in its KV cache at once.\n")


def test_artifacts_of_a_refused_workload_say_vllm_starts_but_rejects_it():
    p = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", max_model_len=4096, prompt_tokens=8000)
    assert p.feasibility.starts and p.feasibility.refused and not p.feasibility.fits
    assert p.artifacts.docker_compose.startswith(
        "# REFUSED: vLLM starts, but rejects the workload's requests: they are longer than max_model_len.\n"
        "# - the requested context (8,256 tokens) is longer than max_model_len (4,096)\n")


def test_only_artifacts_of_a_plan_that_does_not_fit_are_marked(scenario):
    _, p = scenario
    for text in (p.artifacts.serve_script, p.artifacts.docker_compose, p.artifacts.kubernetes):
        assert ("DOES NOT FIT" in text) == (not p.feasibility.fits)
