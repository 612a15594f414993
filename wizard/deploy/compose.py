"""The Docker Compose file: one service, one per replica on one host, or head and worker profiles across nodes."""

from __future__ import annotations

from typing import Any

from wizard.deploy.multinode import head_script, ray_worker
from wizard.deploy.serve import (
    HF_CACHE,
    STARTUP_MINUTES,
    container_args,
    container_model,
    does_not_fit_header,
    dp_across_nodes,
    dp_engines_per_node,
    dp_node_args,
    gpus_per_container,
    health_probe_command,
    host_model_dir,
    image,
    is_local,
    multi_node,
)
from wizard.deploy.words import (
    COMPOSE_HEAD_IP,
    Interpolated,
    literal_dollars,
    yaml_text,
)
from wizard.schema import PlanResponse


def _compose_multi_node(resp: PlanResponse, service: dict[str, Any]) -> dict[str, Any]:
    """Head and worker services: `--profile head` on node 0, `--profile worker` (with HEAD_IP) on the others."""
    head = {**service, "profiles": ["head"], "network_mode": "host", "entrypoint": ["/bin/bash", "-c"],
            "command": [head_script(resp)]}
    head.pop("ports")
    worker = {key: value for key, value in head.items() if key not in ("healthcheck", "command")}
    worker["profiles"] = ["worker"]
    worker["command"] = [Interpolated(ray_worker(COMPOSE_HEAD_IP, gpus_per_container(resp)))]
    return {"head": head, "worker": worker}



def _compose_dp(resp: PlanResponse, service: dict[str, Any]) -> dict[str, Any]:
    """Head and worker services of a multi-node data-parallel plan; each worker node says its first rank."""
    address = COMPOSE_HEAD_IP
    head = {**service, "profiles": ["head"], "network_mode": "host",
            "command": [*container_args(resp), *dp_node_args(resp, 0, address)]}
    head.pop("ports")
    worker = {key: value for key, value in head.items() if key != "healthcheck"}
    start = Interpolated(f"${{DP_START_RANK:?set DP_START_RANK to this node's index x {dp_engines_per_node(resp)}}}")
    worker |= {"profiles": ["worker"],
               "command": [*container_args(resp), *dp_node_args(resp, 1, address)[:-1], start]}
    return {"head": head, "worker": worker}



def _compose_replicas(resp: PlanResponse, service: dict[str, Any]) -> dict[str, Any]:
    """One service, or one per replica on one host: each its own GPUs (by index) and host port."""
    replicas = resp.hardware.replicas
    if replicas == 1:
        return {"vllm": service}
    gpus, port = gpus_per_container(resp), resp.request.policy.port
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
        "command": container_args(resp),
        "ipc": "host",
        "ports": [f"{port}:{port}"],
        "environment": ["HF_TOKEN"],
        "deploy": {"resources": {"reservations": {"devices": [
            {"driver": "nvidia", "count": gpus_per_container(resp), "capabilities": ["gpu"]}]}}},
        "healthcheck": {
            "test": health_probe_command(port),
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
    if is_local(resp):
        volumes: list[Any] = [{"type": "bind", "source": host_model_dir(resp), "target": container_model(resp), "read_only": True}]
    else:
        volumes = [f"huggingface-cache:{HF_CACHE}"]
        document["volumes"] = {"huggingface-cache": {}}
    for svc in document["services"].values():
        svc["volumes"] = volumes
    return literal_dollars(document)



def docker_compose(resp: PlanResponse) -> str:
    if dp_across_nodes(resp):
        start = ("# Head node: HEAD_IP=<head address> docker compose --profile head up -d\n"
                 f"# Node i (1, 2, ...): HEAD_IP=<head address> DP_START_RANK=<i x {dp_engines_per_node(resp)}> "
                 "docker compose --profile worker up -d\n")
    elif multi_node(resp):
        start = ("# Head node: HEAD_IP=<head address> docker compose --profile head up -d\n"
                 "# Other nodes: HEAD_IP=<head address> docker compose --profile worker up -d\n")
    elif resp.hardware.replicas > 1:
        port, n = resp.request.policy.port, resp.hardware.replicas
        start = (f"# {n} replicas on one host with {n * gpus_per_container(resp)} GPUs: each service its own GPUs and host port "
                 f"({port}-{port + n - 1}).\n# Put a round-robin load balancer in front of them; on several hosts, keep one "
                 "service per host.\n# Start with: docker compose up -d\n")
    else:
        start = "# Start with: docker compose up -d\n"
    return does_not_fit_header(resp) + "# Generated by vLLM Wizard.\n" + start + yaml_text(compose_document(resp))
