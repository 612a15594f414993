#!/usr/bin/env python3
"""Run the generated artifacts of a scenario matrix through the real tools.

For each scenario (issue "Recommendations ... artifacts that run"), plans the
deployment and checks:

* the ``vllm serve`` command, the ``docker run`` arguments after the image, the
  Compose command and the Kubernetes container args with vLLM's own serve
  argument parser (``--vllm-python``: a Python that has vLLM installed; the
  parser is built the way ``vllm/entrypoints/cli/main.py`` builds it);
* the Compose file with ``docker-compose config`` (``--docker-compose``: its binary)
  and always against the compose-spec schema kept in ``tests/data``;
* every Kubernetes document against the v1.30 schemas in strict mode
  (``kubernetes-validate``).

Tools that are not given are reported as skipped.

    python benchmarks/check_artifacts.py [--vllm-python PATH] [--docker-compose PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

from wizard.planning.planner import plan
from wizard.schema import parse_request

ROOT = Path(__file__).resolve().parents[1]
EVIL = "my model $(touch pwned); echo 'x' \"y\" `id` ; rm -rf ~"
# The scenario matrix of the artifacts issue (tests/test_artifacts.py runs it too).
SCENARIOS = {
    "8B on one H100": dict(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100"),
    "70B on 4x A100 80GB": dict(model="meta-llama/Llama-3.1-70B-Instruct", gpu="A100 80GB", gpus=4),
    "Qwen2.5-72B-AWQ on 2x L40S": dict(model="Qwen/Qwen2.5-72B-Instruct-AWQ", gpu="L40S", gpus=2),
    "DeepSeek-V3 on 8x H200": dict(model="deepseek-ai/DeepSeek-V3", gpu="H200", gpus=8),
    "gpt-oss-120b on one H100": dict(model="openai/gpt-oss-120b", gpu="H100"),
    "Mixtral on 2x A100, fp8 KV": dict(model="mistralai/Mixtral-8x7B-Instruct-v0.1", gpu="A100 80GB", gpus=2, kv_cache_dtype="fp8"),
    "8B on one RTX 4090 at 32k": dict(model="meta-llama/Llama-3.1-8B-Instruct", gpu="RTX 4090", max_model_len=32768),
    "8B on one H100, a 20 GiB KV cache": dict(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100",
                                              kv_cache_memory_bytes="20G"),
}
FLEET_SCENARIOS = {
    "DeepSeek-V3 as DP8+EP on 8x H200": dict(model="deepseek-ai/DeepSeek-V3", gpu="H200", gpus=8, data_parallel_size=8,
                                              enable_expert_parallel=True),
    "Qwen3-30B-A3B as DP2+EP on 2x H100": dict(model="Qwen/Qwen3-30B-A3B", gpu="H100", gpus=2, data_parallel_size=2,
                                                enable_expert_parallel=True),
    "8B on one H100, 3 replicas": dict(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", replicas=3),
}
MULTI_NODE_SCENARIOS = {
    "DeepSeek-V3 on 2 nodes x 8 H100": dict(model="deepseek-ai/DeepSeek-V3", gpu="H100", gpus=8, nodes=2),
    "Llama-3.1-405B bf16 on 2 nodes x 8 H100": dict(model="meta-llama/Llama-3.1-405B-Instruct", gpu="H100", gpus=8, nodes=2),
}
# The compose spec declares draft-07 (its $schema URL lacks the trailing '#').
COMPOSE = jsonschema.Draft7Validator(json.loads((ROOT / "tests/data/compose-spec.json").read_text()))
LWS = jsonschema.Draft7Validator(
    yaml.safe_load((ROOT / "tests/data/lws-crd.yaml").read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"])

# Parses argv lists with vLLM's serve parser, built as vllm/entrypoints/cli/main.py does.
PARSER_SNIPPET = r"""
import contextlib, io, json, os, sys
os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
from vllm.entrypoints.cli.serve import ServeSubcommand
from vllm.utils.argparse_utils import FlexibleArgumentParser
results = []
for argv in json.load(sys.stdin):
    parser = FlexibleArgumentParser(description="vLLM CLI")
    sub = parser.add_subparsers(required=False, dest="subparser")
    cmd = ServeSubcommand()
    cmd.subparser_init(sub)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(err):
            ns = parser.parse_args(["serve", *argv])
            cmd.validate(ns)
        from vllm.config.cache import CacheConfig
        CacheConfig(cache_dtype=ns.kv_cache_dtype)
        results.append({"ok": True, "model": ns.model_tag or ns.model})
    except SystemExit:
        results.append({"ok": False, "error": err.getvalue().strip().splitlines()[-1:]})
    except Exception as exc:
        results.append({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
print(json.dumps(results))
"""


def shell_words(text: str) -> list[str]:
    """Words as a POSIX shell reads them: backslash-newline continuations joined, comments dropped."""
    return shlex.split(text.replace("\\\n", " "), comments=True)


# What the artifacts leave to the node they run on, given sample values so vLLM's parser sees real ones:
# Compose's ${VAR:?message}, a shell's "$VAR", Kubernetes' $(VAR) and a shell's $((arithmetic)) ($$ escaped).
SAMPLE_VALUES = {"HEAD_IP": "10.0.0.1", "LWS_LEADER_ADDRESS": "10.0.0.1", "DP_START_RANK": "4", "LWS_WORKER_INDEX": "1"}
PLACEHOLDER = re.compile(r"\$\$?(?:\{(\w+)(?::\?[^}]*)?\}|\((\w+)\)|\(\((\w+) \* (\d+)\)\)|(\w+))")


def _sample(word: str) -> str:
    def value(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(3) or m.group(5)
        if name == "HOME":
            return m.group(0)
        return str(int(SAMPLE_VALUES[name]) * int(m.group(4))) if m.group(4) else SAMPLE_VALUES[name]
    return PLACEHOLDER.sub(value, word)


def vllm_argvs(words: list[str], image: str) -> list[list[str]]:
    """vLLM's arguments in one command: after ``vllm serve``, after the image of a ``docker run`` (its
    entrypoint is ``vllm serve``), or inside a ``bash -c`` script; commands joined by && are split."""
    words = [_sample(w) for w in words]
    if words[:2] in (["/bin/bash", "-c"], ["bash", "-c"]):
        return script_argvs(words[2], image)
    out, command = [], []
    for word in [*words, "&&"]:
        if word not in ("&&", ";"):
            command.append(word)
            continue
        serve = [i for i in range(len(command) - 1) if command[i:i + 2] == ["vllm", "serve"]]
        if serve:
            out.append(command[serve[0] + 2:])
        elif command[:2] == ["docker", "run"] and "--entrypoint" not in command:
            out.append(command[command.index(image) + 1:])
        command = []
    return out


def script_argvs(script: str, image: str) -> list[list[str]]:
    """Every vLLM command line in a shell script, one per line."""
    lines = script.replace("\\\n", " ").splitlines()
    return [argv for line in lines if (words := shlex.split(line, comments=True)) for argv in vllm_argvs(words, image)]


def container_argvs(entrypoint: list[str] | None, args: list[str] | None, image: str) -> list[list[str]]:
    """A container's vLLM arguments: its args as they are while the image's entrypoint (``vllm serve``)
    stands, else whatever vLLM commands the replaced entrypoint runs.  Compose and Kubernetes both read
    ``$$`` as a literal ``$`` before the container sees it."""
    entrypoint, args = ([w.replace("$$", "$") for w in words or []] for words in (entrypoint, args))
    if entrypoint:
        return vllm_argvs([*entrypoint, *args], image)
    return [[_sample(w) for w in args]]


def artifact_argvs(a, k8s: list[dict], compose: dict) -> dict[str, list[list[str]]]:
    """vLLM's arguments as each artifact passes them: the serve script, the multi-node recipe, docker,
    every Compose service and every Kubernetes container."""
    pods = [d["spec"]["template"]["spec"] for d in k8s if d["kind"] == "Deployment"]
    pods += [d["spec"]["leaderWorkerTemplate"][part]["spec"] for d in k8s if d["kind"] == "LeaderWorkerSet"
             for part in ("leaderTemplate", "workerTemplate")]
    return {
        "serve": script_argvs(a.serve_command, a.image),
        "multi-node": script_argvs(a.multi_node or "", a.image),
        "docker": script_argvs(a.docker_run.replace('"$HOME', '"/home/user'), a.image),
        "compose": [argv for service in compose["services"].values()
                    for argv in container_argvs(service.get("entrypoint"), service.get("command"), a.image)],
        "k8s": [argv for pod in pods for container in pod["containers"]
                for argv in container_argvs(container.get("command"), container.get("args"), a.image)],
    }


def check_kubernetes(docs: list[dict]) -> None:
    """Core objects against Kubernetes 1.30 (strict); a LeaderWorkerSet against its CRD, its pod templates as Pods."""
    for doc in docs:
        if doc["kind"] != "LeaderWorkerSet":
            kubernetes_validate.validate(doc, "1.30.0", strict=True)
            continue
        LWS.validate(doc)
        template = doc["spec"]["leaderWorkerTemplate"]
        for part in ("leaderTemplate", "workerTemplate"):
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", **template[part]["metadata"]},
                   "spec": template[part]["spec"]}
            kubernetes_validate.validate(pod, "1.30.0", strict=True)


def vllm_parse(python: str, argvs: list[list[str]]) -> list[dict]:
    out = subprocess.run([python, "-c", PARSER_SNIPPET], input=json.dumps(argvs), capture_output=True, text=True,
                         env={**os.environ, "VLLM_LOGGING_LEVEL": "ERROR"}, check=False)
    if out.returncode:
        raise SystemExit(f"vLLM parser failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vllm-python", help="a Python interpreter with vLLM installed")
    parser.add_argument("--docker-compose", help="a docker-compose binary (v2) for `config`")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="wizard-artifacts-"))
    evil_dir = work / EVIL
    evil_dir.mkdir()
    config = json.loads((ROOT / "wizard/data/models/Qwen--Qwen2.5-0.5B-Instruct.json").read_text())["config"]
    (evil_dir / "config.json").write_text(json.dumps(config))
    scenarios = {**SCENARIOS, **FLEET_SCENARIOS, **MULTI_NODE_SCENARIOS, "local path full of shell metacharacters": dict(model=str(evil_dir), gpu="L4")}

    rows, argvs, models = [], [], []
    for name, flat in scenarios.items():
        p = plan(parse_request(flat), detected=[])
        a = p.artifacts
        compose = yaml.safe_load(a.docker_compose)
        k8s = list(yaml.safe_load_all(a.kubernetes))
        found = artifact_argvs(a, k8s, compose)
        argvs.append([(kind, argv) for kind, found_argvs in found.items() for argv in found_argvs])
        models.append(p.model.model)
        checks = {"fits": p.feasibility.fits, "TP divides heads": p.model.num_attention_heads % p.hardware.tensor_parallel_size == 0,
                  "every artifact starts vLLM": all(found[k] for k in ("serve", "docker", "compose", "k8s"))
                  and bool(found["multi-node"]) == bool(a.multi_node)}
        if p.feasibility.fits and isinstance(p.recommendation.max_model_len.value, int):
            checks["max_model_len <= KV pool"] = p.memory.kv_cache_tokens >= p.recommendation.max_model_len.value
        errors = list(COMPOSE.iter_errors(compose))
        checks["compose schema"] = not errors
        try:
            check_kubernetes(k8s)
            checks["k8s 1.30 strict"] = True
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
            checks["k8s 1.30 strict"] = False
            print(f"{name}: {exc}", file=sys.stderr)
        if args.docker_compose:
            path = work / f"compose-{len(rows)}.yaml"
            path.write_text(a.docker_compose)
            env = {**os.environ, **SAMPLE_VALUES, "COMPOSE_PROFILES": "head,worker"}
            result = subprocess.run([args.docker_compose, "-f", str(path), "config", "-q"], capture_output=True, text=True,
                                    check=False, env=env)
            checks["docker-compose config"] = result.returncode == 0
            if result.returncode:
                print(f"{name}: {result.stderr.strip()}", file=sys.stderr)
        rows.append((name, checks))

    if args.vllm_python:
        parsed = iter(vllm_parse(args.vllm_python, [argv for group in argvs for _, argv in group]))
        for (name, checks), group, model in zip(rows, argvs, models):
            chunk = [next(parsed) for _ in group]
            checks["vLLM parser (every command)"] = all(r["ok"] for r in chunk)
            # Containers see a local model folder where it is mounted; commands run on the host name it as given.
            checks["model intact"] = all(r.get("model") == model for (kind, _), r in zip(group, chunk)
                                         if r["ok"] and kind in ("serve", "multi-node"))
            for r in chunk:
                if not r["ok"]:
                    print(f"{name}: vLLM parser: {r['error']}", file=sys.stderr)
    executed = list(work.glob("pwned")) + list(Path.cwd().glob("pwned"))
    columns = sorted({k for _, c in rows for k in c})
    print(f"{'scenario':<42} " + " | ".join(columns))
    failures = 0
    for name, checks in rows:
        cells = []
        for c in columns:
            value = checks.get(c)
            cells.append(("ok" if value else "FAIL") if value is not None else "skipped")
            failures += value is False and c != "fits"
        print(f"{name:<42} " + " | ".join(f"{cell:^{len(c)}}" for cell, c in zip(cells, columns)))
    print(f"\nmalicious path executed anything: {'YES' if executed else 'no'}")
    print(f"vLLM parser: {'checked with ' + args.vllm_python if args.vllm_python else 'skipped (no --vllm-python)'}; "
          f"docker-compose: {'checked' if args.docker_compose else 'skipped (no --docker-compose)'}")
    print(f"failed checks: {failures}")
    return 1 if failures or executed else 0


if __name__ == "__main__":
    sys.exit(main())
