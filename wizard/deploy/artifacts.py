"""Every deployment artifact of a plan, rendered from its ``recommendation`` block (one per module of this package)."""

from __future__ import annotations

from wizard.deploy.compose import docker_compose
from wizard.deploy.docker import docker_run
from wizard.deploy.kubernetes import kubernetes
from wizard.deploy.multinode import dp_recipe, ray_recipe
from wizard.deploy.serve import (
    dp_across_nodes,
    image,
    is_amd,
    is_local,
    multi_node,
    serve_command,
    serve_script,
    vllm_args,
)
from wizard.faces.profile import dump_profile
from wizard.schema import Artifacts, PlanResponse


def build(resp: PlanResponse) -> Artifacts:
    """Every artifact of a plan."""
    notes = []
    if is_amd(resp):
        notes.append("AMD GPUs use AMD's rocm/vllm image; pin its tag to the release you test.")
    if is_local(resp):
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
