"""``docker run`` commands: one container, one per node of a multi-node plan, or one replica of a fleet."""

from __future__ import annotations

from wizard.deploy.multinode import RAY_PORT
from wizard.deploy.serve import (
    HF_CACHE,
    container_args,
    container_model,
    dp_across_nodes,
    dp_engines_per_node,
    dp_node_args,
    gpus_per_container,
    host_model_dir,
    image,
    is_local,
    multi_node,
    resource_name,
    vllm_args,
)
from wizard.deploy.words import Expands, multiline
from wizard.schema import PlanResponse

HOME_HF_CACHE = Expands(f"$HOME/.cache/huggingface:{HF_CACHE}")



def _docker_base(resp: PlanResponse, name: str) -> list[str]:
    words = ["docker", "run", "-d", "--name", name, f"--gpus={gpus_per_container(resp)}", "--ipc=host", "--network=host",
             "-e", "HF_TOKEN", "-v", HOME_HF_CACHE]
    if is_local(resp):
        words += ["-v", f"{host_model_dir(resp)}:{container_model(resp)}:ro"]
    return words



def _docker_multi_node(resp: PlanResponse) -> str:
    name = resource_name(resp)
    head = _docker_base(resp, f"{name}-head") + ["--entrypoint", "ray", image(resp),
                                                  "start", "--head", f"--port={RAY_PORT}", f"--num-gpus={gpus_per_container(resp)}", "--block"]
    worker = _docker_base(resp, f"{name}-worker") + ["--entrypoint", "ray", image(resp),
                                                      "start", Expands(f"--address=$HEAD_IP:{RAY_PORT}"), f"--num-gpus={gpus_per_container(resp)}", "--block"]
    serve = ["docker", "exec", f"{name}-head", "vllm", "serve", container_model(resp), *vllm_args(resp)]
    return "\n".join([
        "# 1. Head node (node 0): the Ray head in vLLM's image",
        multiline(head, head=2),
        f"# 2. Each of the other {resp.hardware.nodes - 1} node(s), with HEAD_IP set to the head node's address",
        multiline(worker, head=2),
        f"# 3. Head node, once `docker exec {name}-head ray status` lists {resp.hardware.nodes} nodes",
        multiline(serve, head=5),
        "",
    ])



def _docker_dp(resp: PlanResponse) -> str:
    """One container per node, each running its share of the data-parallel engines."""
    name, local = resource_name(resp), dp_engines_per_node(resp)
    lines = ["# On every node set HEAD_IP to node 0's address first."]
    for node in range(resp.hardware.nodes):
        words = _docker_base(resp, f"{name}-node{node}") + [image(resp), *container_args(resp),
                                                            *dp_node_args(resp, node, Expands("$HEAD_IP"))]
        lines.append(f"# Node {node}: ranks {node * local}-{(node + 1) * local - 1}" + (", the API server" if node == 0 else ""))
        lines.append(multiline(words, head=2))
    return "\n".join(lines) + "\n"



def docker_run(resp: PlanResponse) -> str:
    if dp_across_nodes(resp):
        return _docker_dp(resp)
    if multi_node(resp):
        return _docker_multi_node(resp)
    port = resp.request.policy.port
    words = ["docker", "run", "--rm", "--name", resource_name(resp), f"--gpus={gpus_per_container(resp)}", "--ipc=host",
             "-p", f"{port}:{port}", "-e", "HF_TOKEN"]
    if is_local(resp):
        words += ["-v", f"{host_model_dir(resp)}:{container_model(resp)}:ro"]
    else:
        words += ["-v", HOME_HF_CACHE]
    words += [image(resp), "--model", container_model(resp), *vllm_args(resp)]
    if resp.hardware.replicas > 1:
        return (f"# One replica of {resp.hardware.replicas}: run it on each host, behind a round-robin load balancer "
                "(the Compose file runs them all on one host).\n" + multiline(words, head=2))
    return multiline(words, head=2)
