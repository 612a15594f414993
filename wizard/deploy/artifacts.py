"""Deployment artifacts rendered from a plan's ``recommendation`` block.

One list of vLLM arguments (:func:`vllm_args`) feeds the ``vllm serve``
command, ``docker run``, the Compose file and the Kubernetes manifests, so
they all say exactly what the recommendation says.  Everything that comes from
user input is shell-quoted with :func:`shlex.quote` or written by PyYAML, so a
model path with spaces, quotes, ``$(...)`` or ``;`` stays one argument and is
never executed.
"""

from __future__ import annotations

import math
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from wizard.faces.profile import dump_profile
from wizard.physics.versions import parse_version
from wizard.schema import Artifacts, PlanResponse

IMAGE = "vllm/vllm-openai"  # vLLM's official OpenAI-compatible server image (docs: deployment/docker)
ROCM_IMAGE = "rocm/vllm"  # AMD's build of vLLM for ROCm GPUs
HF_CACHE = "/root/.cache/huggingface"  # where the image's huggingface_hub keeps downloads
CONTAINER_MODELS = "/models"  # where a local model directory is mounted in the container
SHM_GIB = 16  # /dev/shm for PyTorch's shared-memory IPC between vLLM's processes
STARTUP_MINUTES = 30  # loading and profiling a large model can take this long before /health answers
AUTO_LEN_SINCE = (0, 33, 0)  # first release whose --max-model-len takes "auto" (-1 before it is rejected)
# The port data-parallel engines on other nodes reach the head's coordinator on (any free port;
# this is the one vLLM's docs use: docs/serving/data_parallel_deployment.md).
DP_RPC_PORT = 13345


def _is_local(resp: PlanResponse) -> bool:
    return resp.model.source == "local"


def _host_model_dir(resp: PlanResponse) -> str:
    """The local model directory as an absolute host path (what gets mounted)."""
    return str(Path(resp.model.model).expanduser().resolve())


def _is_amd(resp: PlanResponse) -> bool:
    return bool(resp.hardware.gpu_id and resp.hardware.gpu_id.startswith("mi"))


def container_model(resp: PlanResponse) -> str:
    """The model as the container sees it: the Hub id, or the mounted local directory."""
    if not _is_local(resp):
        return resp.model.model
    return f"{CONTAINER_MODELS}/{_slug(Path(resp.model.model).name) or 'model'}"


def _slug(text: str, limit: int = 63) -> str:
    """A DNS-1123 label (Kubernetes names), from any text."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")


def resource_name(resp: PlanResponse) -> str:
    return _slug("vllm-" + Path(resp.model.model).name, 40) or "vllm"


def image(resp: PlanResponse) -> str:
    version = resp.request.policy.vllm_version.lstrip("v")
    if _is_amd(resp):
        return f"{ROCM_IMAGE}:latest"
    return f"{IMAGE}:v{version}"


def vllm_args(resp: PlanResponse) -> list[str]:
    """vLLM arguments after the model, from the recommendation (one source for every artifact)."""
    rec, req = resp.recommendation, resp.request
    args: list[str] = []
    if rec.tensor_parallel_size.value != 1:
        args += ["--tensor-parallel-size", str(rec.tensor_parallel_size.value)]
    if rec.pipeline_parallel_size.value != 1:
        args += ["--pipeline-parallel-size", str(rec.pipeline_parallel_size.value)]
    if rec.data_parallel_size.value != 1:
        args += ["--data-parallel-size", str(rec.data_parallel_size.value)]
    if rec.enable_expert_parallel.value:
        args.append("--enable-expert-parallel")
    if multi_node(resp) and not dp_across_nodes(resp):
        args += ["--distributed-executor-backend", "ray"]
    dtype = "auto" if rec.dtype.source == "checkpoint" else str(rec.dtype.value)
    args += ["--dtype", dtype]
    if req.model.quantization:  # a checkpoint's own format is detected by vLLM, which then picks its fastest kernel
        args += ["--quantization", req.model.quantization]
    if rec.kv_cache_dtype.value not in (None, "auto"):
        args += ["--kv-cache-dtype", str(rec.kv_cache_dtype.value)]
    length = rec.max_model_len.value
    if length == "auto" and parse_version(req.policy.vllm_version) < AUTO_LEN_SINCE:
        length = resp.memory.max_model_len
    args += ["--max-model-len", str(length)]
    args += ["--gpu-memory-utilization", f"{rec.gpu_memory_utilization.value:g}"]  # still vLLM's free-memory check
    if req.policy.kv_cache_memory_bytes is not None:
        args += ["--kv-cache-memory-bytes", str(req.policy.kv_cache_memory_bytes)]
    args += ["--max-num-seqs", str(rec.max_num_seqs.value)]
    args += ["--max-num-batched-tokens", str(rec.max_num_batched_tokens.value)]
    if rec.enforce_eager.value:
        args.append("--enforce-eager")
    if req.model.trust_remote_code:
        args.append("--trust-remote-code")
    if req.model.revision:
        args += ["--revision", req.model.revision]
    args += ["--port", str(req.policy.port)]
    return args


class _Expands(str):
    """A word of our own that the user's shell must expand (``$HOME``, ``$HEAD_IP``): double-quoted, not escaped.

    Never wrap user input in it: everything else goes through :func:`shlex.quote`.
    """


HOME_HF_CACHE = _Expands(f"$HOME/.cache/huggingface:{HF_CACHE}")


class _Interpolated(str):
    """A value of our own that the file's format must expand: ``${HEAD_IP:?...}`` in Compose,
    ``$(LWS_LEADER_ADDRESS)`` in Kubernetes.  Every other ``$`` is written ``$$``, which both formats
    read as a literal dollar, so a model path or argument holding ``$`` reaches vLLM unchanged."""


COMPOSE_HEAD_IP = _Interpolated("${HEAD_IP:?set HEAD_IP to the head node's address}")
LWS_LEADER = _Interpolated("$(LWS_LEADER_ADDRESS)")


def _literal_dollars(value: Any) -> Any:
    """Every string in ``value`` with ``$`` doubled, except :class:`_Interpolated` ones."""
    if isinstance(value, _Interpolated):
        return str(value)
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_literal_dollars(v) for v in value]
    if isinstance(value, dict):
        return {k: _literal_dollars(v) for k, v in value.items()}
    return value


def _multiline(words: list[str], head: int) -> str:
    """Shell words, the first ``head`` on one line, then one option (with its value) per line."""
    quoted = [f'"{w}"' if isinstance(w, _Expands) else shlex.quote(w) for w in words]
    lines = [" ".join(quoted[:head])]
    i = head
    while i < len(quoted):
        takes_value = words[i].startswith("-") and "=" not in words[i]
        if takes_value and i + 1 < len(quoted) and not words[i + 1].startswith("-"):
            lines.append(f"{quoted[i]} {quoted[i + 1]}")
            i += 2
        else:
            lines.append(quoted[i])
            i += 1
    return " \\\n  ".join(lines)


def _node_command(resp: PlanResponse, node: int) -> str:
    """``vllm serve`` as node ``node`` runs it (the head, node 0, for single-node plans)."""
    model = resp.model.model
    if model.startswith("-"):  # a directory named like an option must not be read as one
        model = "./" + model
    extra = dp_node_args(resp, node, _Expands("$HEAD_IP")) if dp_across_nodes(resp) else []
    return _multiline(["vllm", "serve", model, *vllm_args(resp), *extra], head=3)


def serve_command(resp: PlanResponse) -> str:
    """The command that starts vLLM (on the head node of a multi-node plan)."""
    return _node_command(resp, 0)


def does_not_fit_header(resp: PlanResponse) -> str:
    """Comment lines that open every artifact of a plan that does not fit: that it will not run as planned, and why
    (empty when the plan fits).  One line per reason, whitespace folded, so nothing breaks out of the comment."""
    f = resp.feasibility
    if f.fits:
        return ""
    what = ("vLLM will not start with these settings" if not f.starts
            else "vLLM starts, but the requested workload does not fit in its KV cache at once")
    lines = [f"DOES NOT FIT: {what}.", *(f"- {reason}" for reason in f.failed),
             "Plan again with one of the fixes vLLM Wizard lists before running this."]
    return "".join(f"# {' '.join(line.split())}\n" for line in lines)


def serve_script(resp: PlanResponse) -> str:
    """serve.sh: the serve command as a script that stops on the first error."""
    if dp_across_nodes(resp):
        where = (f"# Multi-node: the head node's part, with HEAD_IP its own address; the other {resp.hardware.nodes - 1} "
                 "node(s) run theirs (see multi-node.sh).\n")
    elif multi_node(resp):
        where = (f"# Multi-node: run this on the Ray head once all {resp.hardware.nodes} nodes have joined the cluster "
                 "(see multi-node.sh).\n")
    else:
        where = ""
    return ("#!/usr/bin/env bash\n" + does_not_fit_header(resp) + "# Generated by vLLM Wizard: start vLLM with the planned "
            "settings.\n" + where
            + "set -euo pipefail\nexec " + serve_command(resp) + "\n")


def _gpu_count(resp: PlanResponse) -> int:
    """GPUs one container (one node) needs."""
    return resp.hardware.gpus_used // max(resp.hardware.nodes, 1) or 1


def multi_node(resp: PlanResponse) -> bool:
    """Whether the plan spans several nodes (pipeline stages over a Ray cluster, or data-parallel engines)."""
    return resp.hardware.nodes > 1


def dp_across_nodes(resp: PlanResponse) -> bool:
    """Whether data-parallel engines spread over the nodes (vLLM's own launcher per node, no Ray)."""
    return multi_node(resp) and resp.hardware.data_parallel_size > 1 and resp.hardware.pipeline_parallel_size == 1


def _dp_local(resp: PlanResponse) -> int:
    return resp.hardware.data_parallel_size // resp.hardware.nodes


def dp_node_args(resp: PlanResponse, node: int | str, head_address: str) -> list[str]:
    """What node ``node`` adds to vLLM's arguments in a multi-node data-parallel deployment: its engines
    (ranks node x local onwards), the head's address, and on every node but the head, no API server.
    ``node`` may be a shell expression for the start rank's factor (Kubernetes' worker index)."""
    local = _dp_local(resp)
    args = ["--data-parallel-size-local", str(local), "--data-parallel-address", head_address,
            "--data-parallel-rpc-port", str(DP_RPC_PORT)]
    if node == 0:
        return args
    start = str(node * local) if isinstance(node, int) else _Expands(f"$(({node} * {local}))")
    return ["--headless", *args, "--data-parallel-start-rank", start]


def dp_recipe(resp: PlanResponse) -> str:
    """vLLM's multi-node data parallelism: one ``vllm serve`` per node, the head's with the API server."""
    nodes, local, tp = resp.hardware.nodes, _dp_local(resp), resp.hardware.tensor_parallel_size
    lines = [
        f"# {nodes} nodes: {resp.hardware.data_parallel_size} data-parallel engines of TP {tp}, {local} on each node, "
        "started by vLLM itself (no Ray).",
        f"# On every node set HEAD_IP to node 0's address; node 0 must accept TCP on port {DP_RPC_PORT} from the others.",
        "# Run each command on the node it names (this is not one script to run).",
    ]
    for node in range(nodes):
        ranks = f"ranks {node * local}-{(node + 1) * local - 1}"
        lines.append(f"# Node {node}: " + (f"the API server and {ranks}" if node == 0 else f"{ranks}, headless"))
        lines.append(_node_command(resp, node))
    return does_not_fit_header(resp) + "\n".join(lines) + "\n"


RAY_PORT = 6379  # Ray's default GCS port


def _wait_for_nodes(nodes: int) -> str:
    """Shell loop until the Ray cluster has ``nodes`` live nodes (vLLM places its workers at start-up)."""
    check = ('import ray, sys; ray.init(address="auto", logging_level=40); '
             f'sys.exit(0 if sum(n["Alive"] for n in ray.nodes()) >= {nodes} else 1)')  # no single quotes: reads plainly once quoted
    return f"until python3 -c {shlex.quote(check)}; do echo 'waiting for {nodes} Ray nodes'; sleep 5; done"


def _ray_head(gpus: int) -> str:
    return f"ray start --head --port={RAY_PORT} --num-gpus={gpus}"


def _ray_worker(head_address: str, gpus: int) -> str:
    """A container's Ray worker: it joins the head and stays in the foreground."""
    return f"ray start --address={head_address}:{RAY_PORT} --num-gpus={gpus} --block"


def _head_script(resp: PlanResponse) -> str:
    """What the head container runs under bash -c: the Ray head, the wait for every node, then vLLM."""
    return " && ".join([_ray_head(_gpu_count(resp)), _wait_for_nodes(resp.hardware.nodes),
                        "exec " + shlex.join(["vllm", "serve", container_model(resp), *vllm_args(resp)])])


def ray_recipe(resp: PlanResponse) -> str:
    """vLLM's multi-node recipe: a Ray cluster over the nodes, then vllm serve on the head."""
    nodes, gpus = resp.hardware.nodes, _gpu_count(resp)
    return does_not_fit_header(resp) + "\n".join([
        f"# {nodes} nodes x {gpus} GPUs: pipeline stages across nodes, tensor parallelism inside each.",
        "# vLLM's multi-node recipe: run each step on the node it names (this is not one script to run).",
        "# 1. On the head node (node 0):",
        _ray_head(gpus),
        f"# 2. On each of the other {nodes - 1} node(s), with HEAD_IP the head node's address:",
        f'ray start --address="$HEAD_IP:{RAY_PORT}" --num-gpus={gpus}',
        f"# 3. On the head node: wait until `ray status` lists {nodes} nodes, then start vLLM:",
        _wait_for_nodes(nodes),
        serve_command(resp),
        "",
    ])


def _docker_base(resp: PlanResponse, name: str) -> list[str]:
    words = ["docker", "run", "-d", "--name", name, f"--gpus={_gpu_count(resp)}", "--ipc=host", "--network=host",
             "-e", "HF_TOKEN", "-v", HOME_HF_CACHE]
    if _is_local(resp):
        words += ["-v", f"{_host_model_dir(resp)}:{container_model(resp)}:ro"]
    return words


def _docker_multi_node(resp: PlanResponse) -> str:
    name = resource_name(resp)
    head = _docker_base(resp, f"{name}-head") + ["--entrypoint", "ray", image(resp),
                                                  "start", "--head", f"--port={RAY_PORT}", f"--num-gpus={_gpu_count(resp)}", "--block"]
    worker = _docker_base(resp, f"{name}-worker") + ["--entrypoint", "ray", image(resp),
                                                      "start", _Expands(f"--address=$HEAD_IP:{RAY_PORT}"), f"--num-gpus={_gpu_count(resp)}", "--block"]
    serve = ["docker", "exec", f"{name}-head", "vllm", "serve", container_model(resp), *vllm_args(resp)]
    return "\n".join([
        "# 1. Head node (node 0): the Ray head in vLLM's image",
        _multiline(head, head=2),
        f"# 2. Each of the other {resp.hardware.nodes - 1} node(s), with HEAD_IP set to the head node's address",
        _multiline(worker, head=2),
        f"# 3. Head node, once `docker exec {name}-head ray status` lists {resp.hardware.nodes} nodes",
        _multiline(serve, head=5),
        "",
    ])


def _docker_dp(resp: PlanResponse) -> str:
    """One container per node, each running its share of the data-parallel engines."""
    name, local = resource_name(resp), _dp_local(resp)
    lines = ["# On every node set HEAD_IP to node 0's address first."]
    for node in range(resp.hardware.nodes):
        words = _docker_base(resp, f"{name}-node{node}") + [image(resp), *_container_args(resp),
                                                            *dp_node_args(resp, node, _Expands("$HEAD_IP"))]
        lines.append(f"# Node {node}: ranks {node * local}-{(node + 1) * local - 1}" + (", the API server" if node == 0 else ""))
        lines.append(_multiline(words, head=2))
    return "\n".join(lines) + "\n"


def docker_run(resp: PlanResponse) -> str:
    if dp_across_nodes(resp):
        return _docker_dp(resp)
    if multi_node(resp):
        return _docker_multi_node(resp)
    port = resp.request.policy.port
    words = ["docker", "run", "--rm", "--name", resource_name(resp), f"--gpus={_gpu_count(resp)}", "--ipc=host",
             "-p", f"{port}:{port}", "-e", "HF_TOKEN"]
    if _is_local(resp):
        words += ["-v", f"{_host_model_dir(resp)}:{container_model(resp)}:ro"]
    else:
        words += ["-v", HOME_HF_CACHE]
    words += [image(resp), "--model", container_model(resp), *vllm_args(resp)]
    if resp.hardware.replicas > 1:
        return (f"# One replica of {resp.hardware.replicas}: run it on each host, behind a round-robin load balancer "
                "(the Compose file runs them all on one host).\n" + _multiline(words, head=2))
    return _multiline(words, head=2)


def _container_args(resp: PlanResponse) -> list[str]:
    return ["--model", container_model(resp), *vllm_args(resp)]


def _health_probe_command(port: int) -> list[str]:
    # The image ships Python but not always curl.
    return ["CMD", "python3", "-c", f"import urllib.request; urllib.request.urlopen('http://localhost:{port}/health')"]


def _compose_multi_node(resp: PlanResponse, service: dict[str, Any]) -> dict[str, Any]:
    """Head and worker services: `--profile head` on node 0, `--profile worker` (with HEAD_IP) on the others."""
    head = {**service, "profiles": ["head"], "network_mode": "host", "entrypoint": ["/bin/bash", "-c"],
            "command": [_head_script(resp)]}
    head.pop("ports")
    worker = {key: value for key, value in head.items() if key not in ("healthcheck", "command")}
    worker["profiles"] = ["worker"]
    worker["command"] = [_Interpolated(_ray_worker(COMPOSE_HEAD_IP, _gpu_count(resp)))]
    return {"head": head, "worker": worker}


def _compose_dp(resp: PlanResponse, service: dict[str, Any]) -> dict[str, Any]:
    """Head and worker services of a multi-node data-parallel plan; each worker node says its first rank."""
    address = COMPOSE_HEAD_IP
    head = {**service, "profiles": ["head"], "network_mode": "host",
            "command": [*_container_args(resp), *dp_node_args(resp, 0, address)]}
    head.pop("ports")
    worker = {key: value for key, value in head.items() if key != "healthcheck"}
    start = _Interpolated(f"${{DP_START_RANK:?set DP_START_RANK to this node's index x {_dp_local(resp)}}}")
    worker |= {"profiles": ["worker"],
               "command": [*_container_args(resp), *dp_node_args(resp, 1, address)[:-1], start]}
    return {"head": head, "worker": worker}


def _compose_replicas(resp: PlanResponse, service: dict[str, Any]) -> dict[str, Any]:
    """One service, or one per replica on one host: each its own GPUs (by index) and host port."""
    replicas = resp.hardware.replicas
    if replicas == 1:
        return {"vllm": service}
    gpus, port = _gpu_count(resp), resp.request.policy.port
    out = {}
    for i in range(replicas):
        device = {"driver": "nvidia", "device_ids": [str(d) for d in range(i * gpus, (i + 1) * gpus)], "capabilities": ["gpu"]}
        out[f"vllm-{i + 1}"] = {**service, "ports": [f"{port + i}:{port}"],
                                "deploy": {"resources": {"reservations": {"devices": [device]}}}}
    return out


def compose_document(resp: PlanResponse) -> dict[str, Any]:
    port = resp.request.policy.port
    service: dict[str, Any] = {
        "image": image(resp),
        "command": _container_args(resp),
        "ipc": "host",
        "ports": [f"{port}:{port}"],
        "environment": ["HF_TOKEN"],
        "deploy": {"resources": {"reservations": {"devices": [
            {"driver": "nvidia", "count": _gpu_count(resp), "capabilities": ["gpu"]}]}}},
        "healthcheck": {
            "test": _health_probe_command(port),
            "interval": "30s",
            "timeout": "5s",
            "retries": 5,
            "start_period": f"{STARTUP_MINUTES}m",
        },
        "restart": "unless-stopped",
    }
    if dp_across_nodes(resp):
        services = _compose_dp(resp, service)
    elif multi_node(resp):
        services = _compose_multi_node(resp, service)
    else:
        services = _compose_replicas(resp, service)
    document: dict[str, Any] = {"services": services}
    if _is_local(resp):
        volumes: list[Any] = [{"type": "bind", "source": _host_model_dir(resp), "target": container_model(resp), "read_only": True}]
    else:
        volumes = [f"huggingface-cache:{HF_CACHE}"]
        document["volumes"] = {"huggingface-cache": {}}
    for svc in document["services"].values():
        svc["volumes"] = volumes
    return _literal_dollars(document)


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper without anchors: manifests stay plain for every reader."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=1 << 16, default_flow_style=False)


def docker_compose(resp: PlanResponse) -> str:
    if dp_across_nodes(resp):
        start = ("# Head node: HEAD_IP=<head address> docker compose --profile head up -d\n"
                 f"# Node i (1, 2, ...): HEAD_IP=<head address> DP_START_RANK=<i x {_dp_local(resp)}> "
                 "docker compose --profile worker up -d\n")
    elif multi_node(resp):
        start = ("# Head node: HEAD_IP=<head address> docker compose --profile head up -d\n"
                 "# Other nodes: HEAD_IP=<head address> docker compose --profile worker up -d\n")
    elif resp.hardware.replicas > 1:
        port, n = resp.request.policy.port, resp.hardware.replicas
        start = (f"# {n} replicas on one host with {n * _gpu_count(resp)} GPUs: each service its own GPUs and host port "
                 f"({port}-{port + n - 1}).\n# Put a round-robin load balancer in front of them; on several hosts, keep one "
                 "service per host.\n# Start with: docker compose up -d\n")
    else:
        start = "# Start with: docker compose up -d\n"
    return does_not_fit_header(resp) + "# Generated by vLLM Wizard.\n" + start + _yaml(compose_document(resp))


def cache_size_gi(resp: PlanResponse) -> int:
    """PVC size for the Hugging Face cache: the whole checkpoint (all GPUs' shards) plus 20% and 10 Gi.

    One engine's GPUs hold the checkpoint once; with expert parallelism the experts are
    shared out over every engine's GPUs (their attention copies make this a slight overestimate)."""
    h = resp.hardware
    total_gib = resp.memory.weights_gib * h.tensor_parallel_size * h.pipeline_parallel_size * (
        h.data_parallel_size if h.expert_parallel_size > 1 else 1)
    return int(math.ceil(total_gib * 1.2 + 10))


def kubernetes_documents(resp: PlanResponse) -> list[dict[str, Any]]:
    name = resource_name(resp)
    port = resp.request.policy.port
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "vllm"}
    gpu_resource = "amd.com/gpu" if _is_amd(resp) else "nvidia.com/gpu"
    probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 5}
    mounts: list[dict[str, Any]] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    volumes: list[dict[str, Any]] = [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{SHM_GIB}Gi"}}]
    documents: list[dict[str, Any]] = []
    if _is_local(resp):
        mounts.append({"name": "model", "mountPath": container_model(resp), "readOnly": True})
        volumes.append({"name": "model", "hostPath": {"path": _host_model_dir(resp), "type": "Directory"}})
    elif multi_node(resp) or resp.hardware.replicas > 1:
        # One pod per node or replica: each keeps its own cache and downloads the checkpoint once
        # (a ReadWriteOnce claim cannot be shared by pods on different nodes).
        mounts.append({"name": "hf-cache", "mountPath": HF_CACHE})
        volumes.append({"name": "hf-cache", "emptyDir": {"sizeLimit": f"{cache_size_gi(resp)}Gi"}})
    else:
        mounts.append({"name": "hf-cache", "mountPath": HF_CACHE})
        volumes.append({"name": "hf-cache", "persistentVolumeClaim": {"claimName": f"{name}-hf-cache"}})
        documents.append({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"{name}-hf-cache", "labels": labels},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{cache_size_gi(resp)}Gi"}}},
        })
    container = {
        "name": "vllm",
        "image": image(resp),
        "args": _literal_dollars(_container_args(resp)),
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token", "optional": True}}}],
        "resources": {"limits": {gpu_resource: _gpu_count(resp)}},
        "volumeMounts": mounts,
        "startupProbe": {**probe, "failureThreshold": STARTUP_MINUTES * 6},
        "readinessProbe": {**probe, "failureThreshold": 3},
        "livenessProbe": {**probe, "failureThreshold": 6},
    }
    if multi_node(resp):
        return documents + _leader_worker_set(resp, name, labels, container, volumes)
    documents.append({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": resp.hardware.replicas,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container], "volumes": volumes}},
        },
    })
    documents.append(_service(name, labels, labels, port))
    return documents


def _service(name: str, labels: dict[str, str], selector: dict[str, str], port: int) -> dict[str, Any]:
    """The ClusterIP Service in front of the pod that serves the API."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {"type": "ClusterIP", "selector": selector, "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]},
    }


def _pod_shell_word(word: str) -> str:
    """A word of a ``bash -c`` script in a pod spec: quoted for bash, ``$`` doubled for Kubernetes,
    whose own variable is kept (filled in by Kubernetes, then read literally by bash)."""
    if isinstance(word, _Interpolated):
        return shlex.quote(word)
    return _literal_dollars(f'"{word}"' if isinstance(word, _Expands) else shlex.quote(word))


def _leader_worker_set(resp: PlanResponse, name: str, labels: dict[str, str], container: dict[str, Any],
                       volumes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One LeaderWorkerSet group per deployment: the leader runs the Ray head and vLLM, workers join Ray.

    Needs the LeaderWorkerSet controller (kubernetes-sigs/lws) in the cluster;
    LWS injects LWS_LEADER_ADDRESS into every pod of the group.
    """
    worker = {key: value for key, value in container.items() if not key.endswith("Probe") and key != "ports"}
    if dp_across_nodes(resp):
        # Kubernetes expands $(LWS_LEADER_ADDRESS) from the env LWS injects; bash computes the start rank.
        leader = {**container, "args": _literal_dollars([*_container_args(resp), *dp_node_args(resp, 0, LWS_LEADER)])}
        words = ["vllm", "serve", container_model(resp), *vllm_args(resp),
                 *dp_node_args(resp, "LWS_WORKER_INDEX", LWS_LEADER)]
        script = "exec " + " ".join(_pod_shell_word(w) for w in words)
        worker |= {"name": "vllm-headless", "command": ["/bin/bash", "-c"], "args": [script]}
    else:
        leader = {**container, "command": ["/bin/bash", "-c"], "args": [_literal_dollars(_head_script(resp))]}
        worker |= {"name": "ray-worker", "command": ["/bin/bash", "-c"],
                   "args": [_ray_worker(LWS_LEADER, _gpu_count(resp))]}
    leader_labels = {**labels, "role": "leader"}
    return [
        {
            "apiVersion": "leaderworkerset.x-k8s.io/v1",
            "kind": "LeaderWorkerSet",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": resp.hardware.replicas,
                "leaderWorkerTemplate": {
                    "size": resp.hardware.nodes,
                    "restartPolicy": "RecreateGroupOnPodRestart",
                    "leaderTemplate": {"metadata": {"labels": leader_labels},
                                       "spec": {"containers": [leader], "volumes": volumes}},
                    "workerTemplate": {"metadata": {"labels": labels},
                                       "spec": {"containers": [worker], "volumes": volumes}},
                },
            },
        },
        _service(name, labels, {"leaderworkerset.sigs.k8s.io/name": name, "role": "leader"}, resp.request.policy.port),
    ]


def kubernetes(resp: PlanResponse) -> str:
    needs = ("# Multi-node: needs the LeaderWorkerSet controller (https://github.com/kubernetes-sigs/lws) in the cluster.\n"
             if multi_node(resp) else "")
    if resp.hardware.replicas > 1:
        needs += (f"# {resp.hardware.replicas} replicas behind one Service: it spreads connections evenly, with no "
                  "prefix-cache affinity (the plan's assumption).\n")
    header = does_not_fit_header(resp) + (
        "# Generated by vLLM Wizard. Apply with: kubectl apply -f kubernetes.yaml\n" + needs +
        "# Gated models need the token as a secret first:\n"
        "#   kubectl create secret generic hf-token --from-literal=token=\"$HF_TOKEN\"\n"
    )
    return header + yaml.dump_all(kubernetes_documents(resp), Dumper=_Dumper, sort_keys=False, width=1 << 16)


def build(resp: PlanResponse) -> Artifacts:
    """Every artifact of a plan."""
    notes = []
    if _is_amd(resp):
        notes.append("AMD GPUs use AMD's rocm/vllm image; pin its tag to the release you test.")
    if _is_local(resp):
        notes.append("The local model directory is mounted read-only; on Kubernetes it must exist at the same path on the node.")
    return Artifacts(
        image=image(resp),
        vllm_args=vllm_args(resp),
        serve_command=serve_command(resp),
        serve_script=serve_script(resp),
        docker_run=docker_run(resp),
        docker_compose=docker_compose(resp),
        kubernetes=kubernetes(resp),
        multi_node=(dp_recipe(resp) if dp_across_nodes(resp) else ray_recipe(resp)) if multi_node(resp) else None,
        profile_yaml=dump_profile(resp.request),
        notes=notes,
    )
