"""Kubernetes manifests: a Deployment behind a Service, or a LeaderWorkerSet for multi-node plans."""

from __future__ import annotations

import math
from typing import Any

import yaml

from wizard.deploy.multinode import head_script, ray_worker
from wizard.deploy.serve import (
    HF_CACHE,
    SHM_GIB,
    STARTUP_MINUTES,
    container_args,
    container_model,
    does_not_fit_header,
    dp_across_nodes,
    dp_node_args,
    gpus_per_container,
    host_model_dir,
    image,
    is_amd,
    is_local,
    multi_node,
    resource_name,
    vllm_args,
)
from wizard.deploy.words import LWS_LEADER, Dumper, literal_dollars, pod_shell_word
from wizard.schema import PlanResponse


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
    gpu_resource = "amd.com/gpu" if is_amd(resp) else "nvidia.com/gpu"
    probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 5}
    mounts: list[dict[str, Any]] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    volumes: list[dict[str, Any]] = [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{SHM_GIB}Gi"}}]
    documents: list[dict[str, Any]] = []
    if is_local(resp):
        mounts.append({"name": "model", "mountPath": container_model(resp), "readOnly": True})
        volumes.append({"name": "model", "hostPath": {"path": host_model_dir(resp), "type": "Directory"}})
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
        "args": literal_dollars(container_args(resp)),
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token", "optional": True}}}],
        "resources": {"limits": {gpu_resource: gpus_per_container(resp)}},
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



def _leader_worker_set(resp: PlanResponse, name: str, labels: dict[str, str], container: dict[str, Any],
                       volumes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One LeaderWorkerSet group per deployment: the leader runs the Ray head and vLLM, workers join Ray.

    Needs the LeaderWorkerSet controller (kubernetes-sigs/lws) in the cluster;
    LWS injects LWS_LEADER_ADDRESS into every pod of the group.
    """
    worker = {key: value for key, value in container.items() if not key.endswith("Probe") and key != "ports"}
    if dp_across_nodes(resp):
        # Kubernetes expands $(LWS_LEADER_ADDRESS) from the env LWS injects; bash computes the start rank.
        leader = {**container, "args": literal_dollars([*container_args(resp), *dp_node_args(resp, 0, LWS_LEADER)])}
        words = ["vllm", "serve", container_model(resp), *vllm_args(resp),
                 *dp_node_args(resp, "LWS_WORKER_INDEX", LWS_LEADER)]
        script = "exec " + " ".join(pod_shell_word(w) for w in words)
        worker |= {"name": "vllm-headless", "command": ["/bin/bash", "-c"], "args": [script]}
    else:
        leader = {**container, "command": ["/bin/bash", "-c"], "args": [literal_dollars(head_script(resp))]}
        worker |= {"name": "ray-worker", "command": ["/bin/bash", "-c"],
                   "args": [ray_worker(LWS_LEADER, gpus_per_container(resp))]}
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
    return header + yaml.dump_all(kubernetes_documents(resp), Dumper=Dumper, sort_keys=False, width=1 << 16)
