"""The dashboard's image files: Dockerfile, .dockerignore and compose.yaml, their healthcheck, and a real build.

No Docker engine is needed except for the build test, which is skipped without one.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dockerfile
import jsonschema
import pytest
import yaml

from tests.test_e2e import _free_port
from wizard.catalog.server_paths import MODELS_DIR_ENV

ROOT = Path(__file__).parents[1]
COMPOSE_SCHEMA = jsonschema.Draft7Validator(json.loads((ROOT / "tests/data/compose-spec.json").read_text()))



def _commands():
    return dockerfile.parse_file(str(ROOT / "Dockerfile"))


def _final_stage():
    commands = _commands()
    last_from = max(i for i, c in enumerate(commands) if c.cmd == "FROM")
    return commands[last_from:]


def healthcheck_argv() -> list[str]:
    """The image's HEALTHCHECK command (exec form)."""
    (check,) = [c for c in _final_stage() if c.cmd == "HEALTHCHECK"]
    assert check.json and check.value[0] == "CMD"
    return list(check.value[1:])


def test_dockerfile_parses_with_buildkits_parser_and_has_what_hosting_needs():
    commands = _commands()
    for stage in (c for c in commands if c.cmd == "FROM"):
        assert re.fullmatch(r"python:3\.1[12]-slim", stage.value[0]), stage.original
    final = _final_stage()
    by_name = {}
    for command in final:
        by_name.setdefault(command.cmd, []).append(command)
    (user,) = by_name["USER"]
    assert user.value[0] not in ("root", "0") and not user.value[0].startswith(("root:", "0:"))
    assert [c.value for c in by_name["EXPOSE"]] == [("8501",)]
    (cmd,) = by_name["CMD"]
    assert cmd.json and list(cmd.value[:3]) == ["streamlit", "run", "app.py"]
    assert "--server.address=0.0.0.0" in cmd.value and "--server.headless=true" in cmd.value
    envs = dict(zip(*[iter(v for c in by_name["ENV"] for v in c.value)] * 2))
    assert envs[MODELS_DIR_ENV] == "none"  # a hosted dashboard reads no server path unless told to
    assert "_stcore/health" in " ".join(healthcheck_argv())


def test_dockerfile_installs_the_package_without_test_extras_or_editable_mode():
    runs = " ".join(" ".join(c.value) for c in _commands() if c.cmd == "RUN")
    assert "pip wheel" in runs and "pip install" in runs
    assert "[test]" not in runs and " -e " not in runs and "--editable" not in runs


def test_dockerfile_holds_no_secret():
    text = (ROOT / "Dockerfile").read_text()
    for command in _commands():
        if command.cmd in ("ENV", "ARG"):
            names = command.value[::2] if command.cmd == "ENV" else [v.split("=")[0] for v in command.value]
            assert not [n for n in names if re.search(r"TOKEN|SECRET|PASSWORD|KEY", n, re.IGNORECASE)], command.original
    assert not re.search(r"hf_[A-Za-z0-9]{20,}", text)


def test_dockerignore_keeps_out_everything_but_what_the_image_copies():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*"  # everything out (.venv, .git, tests, benchmarks), then the image's own files back in
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = {v for c in _commands() if c.cmd == "COPY" and not any(f.startswith("--from") for f in c.flags)
              for v in c.value[:-1]}
    assert copied == allowed
    assert {"tests", ".venv", ".git", "benchmarks"}.isdisjoint(allowed)


def _uncommented(text: str) -> str:
    """compose.yaml with its optional parts switched on: commented YAML lines (keys, list items) uncommented."""
    return re.sub(r"^(\s*)# (\s*(?:[a-z_]+:|- ).*)$", r"\1\2", text, flags=re.MULTILINE)


def test_compose_file_validates_and_needs_no_gpu():
    doc = yaml.safe_load((ROOT / "compose.yaml").read_text())
    COMPOSE_SCHEMA.validate(doc)
    service = doc["services"]["dashboard"]
    assert service["build"] == "." and service["ports"] == ["8501:8501"]
    assert "HF_TOKEN" in service["environment"]  # passed through by name: the value stays in the shell
    assert not [e for e in service["environment"] if "TOKEN" in e and "=" in e]
    assert "STREAMLIT_SERVER_BASE_URL_PATH" in service["environment"]
    assert service["restart"] == "unless-stopped"
    assert service["healthcheck"]["test"] == ["CMD", *healthcheck_argv()]  # the same check as the image's
    assert "deploy" not in service and "volumes" not in service


def test_compose_optional_parts_validate_when_uncommented():
    doc = yaml.safe_load(_uncommented((ROOT / "compose.yaml").read_text()))
    COMPOSE_SCHEMA.validate(doc)
    service = doc["services"]["dashboard"]
    (device,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    (volume,) = service["volumes"]
    _, target, mode = volume.split(":")
    assert mode == "ro" and f"{MODELS_DIR_ENV}={target}" in service["environment"]


def test_the_healthcheck_follows_streamlits_base_url_path():
    """The image's HEALTHCHECK, run here against a real `streamlit run app.py` served under /wizard/."""
    port = _free_port()
    env = {**os.environ, "STREAMLIT_SERVER_PORT": str(port), "STREAMLIT_SERVER_BASE_URL_PATH": "wizard",
           "STREAMLIT_SERVER_ADDRESS": "127.0.0.1", "STREAMLIT_SERVER_HEADLESS": "true", MODELS_DIR_ENV: "none"}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    argv = [sys.executable if word == "python" else word for word in healthcheck_argv()]

    def healthcheck(**changes: str | None) -> int:
        """The check's exit status with the container's variables changed (None: unset)."""
        run_env = {k: v for k, v in {**env, **changes}.items() if v is not None}
        return subprocess.run(argv, env=run_env, capture_output=True, check=False).returncode

    try:
        deadline = time.time() + 60
        while healthcheck() != 0:
            if time.time() > deadline or proc.poll() is not None:
                pytest.fail("streamlit did not start: " + (proc.stdout.read() if proc.poll() is not None else ""))
            time.sleep(0.5)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/wizard/_stcore/health", timeout=5).read()
        assert body == b"ok"
        assert healthcheck(STREAMLIT_SERVER_BASE_URL_PATH=None) == 1  # /_stcore/health is not served outside /wizard/
        assert healthcheck(STREAMLIT_SERVER_BASE_URL_PATH="/wizard/") == 0  # slashes as people write them
        assert healthcheck(STREAMLIT_SERVER_PORT=str(_free_port())) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _docker_engine() -> bool:
    """Whether a Docker engine answers (a client alone, as on the development machines, does not count)."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@pytest.mark.skipif(not _docker_engine(),
                    reason="no Docker engine here (`docker info` fails): the image build runs where one is")
def test_the_image_builds_runs_as_non_root_turns_healthy_and_reads_no_server_path():
    """Builds the image (needs PyPI), runs it, waits for Docker's own health status."""
    tag = "vllm-wizard:test"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=900)
    name = f"vllm-wizard-test-{os.getpid()}"
    subprocess.run(["docker", "run", "-d", "--name", name, "--health-interval=2s",
                    "-e", "STREAMLIT_SERVER_BASE_URL_PATH=wizard", tag], check=True, capture_output=True)
    try:
        deadline, status = time.time() + 120, ""
        while status != "healthy" and time.time() < deadline:
            time.sleep(2)
            status = subprocess.run(["docker", "inspect", "--format", "{{.State.Health.Status}}", name],
                                    capture_output=True, text=True, check=False).stdout.strip()
        assert status == "healthy"
        uid = subprocess.run(["docker", "exec", name, "id", "-u"], capture_output=True, text=True, check=True).stdout
        assert int(uid) != 0
        refused = subprocess.run(["docker", "exec", name, "vllm-wizard", "plan", "-m", "/etc", "--gpu", "H100"],
                                 capture_output=True, text=True, check=False)
        assert refused.returncode == 2 and MODELS_DIR_ENV in refused.stderr
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
