"""What vLLM is told: the image, the model as the container sees it, and one list of arguments.

One list of vLLM arguments (:func:`vllm_args`) feeds the ``vllm serve`` command,
``docker run``, the Compose file and the Kubernetes manifests, so they all say
exactly what the plan's recommendation says; multi-node data parallelism adds
each node's part (:func:`dp_node_args`).
"""

from __future__ import annotations

import re
from pathlib import Path

from wizard.deploy.words import Expands, multiline
from wizard.physics.versions import parse_version
from wizard.schema import PlanResponse

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



def is_local(resp: PlanResponse) -> bool:
    return resp.model.source == "local"



def host_model_dir(resp: PlanResponse) -> str:
    """The local model directory as an absolute host path (what gets mounted)."""
    return str(Path(resp.model.model).expanduser().resolve())



def is_amd(resp: PlanResponse) -> bool:
    return bool(resp.hardware.gpu_id and resp.hardware.gpu_id.startswith("mi"))



def container_model(resp: PlanResponse) -> str:
    """The model as the container sees it: the Hub id, or the mounted local directory."""
    if not is_local(resp):
        return resp.model.model
    return f"{CONTAINER_MODELS}/{_slug(Path(resp.model.model).name) or 'model'}"



def _slug(text: str, limit: int = 63) -> str:
    """A DNS-1123 label (Kubernetes names), from any text."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")



def resource_name(resp: PlanResponse) -> str:
    return _slug("vllm-" + Path(resp.model.model).name, 40) or "vllm"



def image(resp: PlanResponse) -> str:
    version = resp.request.policy.vllm_version.lstrip("v")
    if is_amd(resp):
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



def node_command(resp: PlanResponse, node: int) -> str:
    """``vllm serve`` as node ``node`` runs it (the head, node 0, for single-node plans)."""
    model = resp.model.model
    if model.startswith("-"):  # a directory named like an option must not be read as one
        model = "./" + model
    extra = dp_node_args(resp, node, Expands("$HEAD_IP")) if dp_across_nodes(resp) else []
    return multiline(["vllm", "serve", model, *vllm_args(resp), *extra], head=3)



def serve_command(resp: PlanResponse) -> str:
    """The command that starts vLLM (on the head node of a multi-node plan)."""
    return node_command(resp, 0)



def does_not_fit_header(resp: PlanResponse) -> str:
    """Comment lines that open every artifact of a plan that does not fit: that it will not run as planned, and why
    (empty when the plan fits).  One line per reason, whitespace folded, so nothing breaks out of the comment."""
    f = resp.feasibility
    if f.fits:
        return ""
    lines = [f"{f.verdict.upper()}: {f.shortfall}.", *(f"- {reason}" for reason in f.failed),
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



def gpus_per_container(resp: PlanResponse) -> int:
    """GPUs one container (one node) needs."""
    return resp.hardware.gpus_used // max(resp.hardware.nodes, 1) or 1



def multi_node(resp: PlanResponse) -> bool:
    """Whether the plan spans several nodes (pipeline stages over a Ray cluster, or data-parallel engines)."""
    return resp.hardware.nodes > 1



def dp_across_nodes(resp: PlanResponse) -> bool:
    """Whether data-parallel engines spread over the nodes (vLLM's own launcher per node, no Ray)."""
    return multi_node(resp) and resp.hardware.data_parallel_size > 1 and resp.hardware.pipeline_parallel_size == 1



def dp_engines_per_node(resp: PlanResponse) -> int:
    return resp.hardware.data_parallel_size // resp.hardware.nodes



def dp_node_args(resp: PlanResponse, node: int | str, head_address: str) -> list[str]:
    """What node ``node`` adds to vLLM's arguments in a multi-node data-parallel deployment: its engines
    (ranks node x local onwards), the head's address, and on every node but the head, no API server.
    ``node`` may be a shell expression for the start rank's factor (Kubernetes' worker index)."""
    local = dp_engines_per_node(resp)
    args = ["--data-parallel-size-local", str(local), "--data-parallel-address", head_address,
            "--data-parallel-rpc-port", str(DP_RPC_PORT)]
    if node == 0:
        return args
    start = str(node * local) if isinstance(node, int) else Expands(f"$(({node} * {local}))")
    return ["--headless", *args, "--data-parallel-start-rank", start]



def container_args(resp: PlanResponse) -> list[str]:
    return ["--model", container_model(resp), *vllm_args(resp)]



def health_probe_command(port: int) -> list[str]:
    # The image ships Python but not always curl.
    return ["CMD", "python3", "-c", f"import urllib.request; urllib.request.urlopen('http://localhost:{port}/health')"]
