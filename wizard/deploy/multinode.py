"""Multi-node recipes: a Ray cluster for pipeline stages across nodes, or vLLM's own per-node
launcher for data-parallel engines spread over them."""

from __future__ import annotations

import shlex

from wizard.deploy.serve import (
    DP_RPC_PORT,
    container_model,
    does_not_fit_header,
    dp_engines_per_node,
    gpus_per_container,
    node_command,
    serve_command,
    vllm_args,
)
from wizard.schema import PlanResponse


def dp_recipe(resp: PlanResponse) -> str:
    """vLLM's multi-node data parallelism: one ``vllm serve`` per node, the head's with the API server."""
    nodes, local, tp = resp.hardware.nodes, dp_engines_per_node(resp), resp.hardware.tensor_parallel_size
    lines = [
        f"# {nodes} nodes: {resp.hardware.data_parallel_size} data-parallel engines of TP {tp}, {local} on each node, "
        "started by vLLM itself (no Ray).",
        f"# On every node set HEAD_IP to node 0's address; node 0 must accept TCP on port {DP_RPC_PORT} from the others.",
        "# Run each command on the node it names (this is not one script to run).",
    ]
    for node in range(nodes):
        ranks = f"ranks {node * local}-{(node + 1) * local - 1}"
        lines.append(f"# Node {node}: " + (f"the API server and {ranks}" if node == 0 else f"{ranks}, headless"))
        lines.append(node_command(resp, node))
    return does_not_fit_header(resp) + "\n".join(lines) + "\n"



RAY_PORT = 6379  # Ray's default GCS port



def _wait_for_nodes(nodes: int) -> str:
    """Shell loop until the Ray cluster has ``nodes`` live nodes (vLLM places its workers at start-up)."""
    check = ('import ray, sys; ray.init(address="auto", logging_level=40); '
             f'sys.exit(0 if sum(n["Alive"] for n in ray.nodes()) >= {nodes} else 1)')  # no single quotes: reads plainly once quoted
    return f"until python3 -c {shlex.quote(check)}; do echo 'waiting for {nodes} Ray nodes'; sleep 5; done"



def _ray_head(gpus: int) -> str:
    return f"ray start --head --port={RAY_PORT} --num-gpus={gpus}"



def ray_worker(head_address: str, gpus: int) -> str:
    """A container's Ray worker: it joins the head and stays in the foreground."""
    return f"ray start --address={head_address}:{RAY_PORT} --num-gpus={gpus} --block"



def head_script(resp: PlanResponse) -> str:
    """What the head container runs under bash -c: the Ray head, the wait for every node, then vLLM."""
    return " && ".join([_ray_head(gpus_per_container(resp)), _wait_for_nodes(resp.hardware.nodes),
                        "exec " + shlex.join(["vllm", "serve", container_model(resp), *vllm_args(resp)])])



def ray_recipe(resp: PlanResponse) -> str:
    """vLLM's multi-node recipe: a Ray cluster over the nodes, then vllm serve on the head."""
    nodes, gpus = resp.hardware.nodes, gpus_per_container(resp)
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
