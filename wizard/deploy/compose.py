"""The Docker Compose file: one service, one per replica on one host, or head and worker profiles across nodes."""

from __future__ import annotations

from typing import Any

from wizard.deploy.multinode import _head_script, _ray_worker
from wizard.deploy.serve import (
    HF_CACHE,
    STARTUP_MINUTES,
    _container_args,
    _dp_local,
    _gpu_count,
    _health_probe_command,
    _host_model_dir,
    _is_local,
    container_model,
    does_not_fit_header,
    dp_across_nodes,
    dp_node_args,
    image,
    multi_node,
)
from wizard.deploy.words import COMPOSE_HEAD_IP, _Interpolated, _literal_dollars, _yaml
from wizard.schema import PlanResponse


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
