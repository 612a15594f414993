#!/usr/bin/env python3
"""Set up and run vLLM Wizard on a machine that has only python3.

    python3 dev.py app     start the dashboard (bundled offline catalog, no GPU needed)
    python3 dev.py test    run the whole test suite (installs what it needs first)
    python3 dev.py plan    plan the bundled example with the CLI

Creates ``.venv`` beside this file, installs the project with its test extras
into it (again only when ``pyproject.toml`` changes), and for the tests makes
sure Debian's Chromium is present for the browser end-to-end tests.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed-pyproject"
CHROMIUM = "/usr/bin/chromium"


def _run(*cmd: str | Path, **kwargs) -> None:
    result = subprocess.run([str(c) for c in cmd], **kwargs)
    if result.returncode:
        sys.exit(result.returncode)


def ensure_venv() -> Path:
    """The virtual environment's python, created and installed when needed."""
    python = BIN / "python"
    if not python.exists():
        _run(sys.executable, "-m", "venv", VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != digest:
        _run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        _run(python, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[test]")
        STAMP.write_text(digest)
    return python


def ensure_chromium() -> None:
    """Debian's Chromium for the Playwright tests (Playwright's own download does not work here)."""
    if Path(CHROMIUM).exists():
        return
    apt = shutil.which("apt-get")
    if apt is None:
        sys.exit(f"the browser tests need Chromium at {CHROMIUM}; install it with your package manager")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _run(*sudo, apt, "-q", "update", env=env)
    _run(*sudo, apt, "-q", "install", "-y", "--no-install-recommends", "chromium", env=env)


def main(argv: list[str]) -> None:
    command, rest = (argv[0], argv[1:]) if argv else ("app", [])
    python = ensure_venv()
    os.chdir(ROOT)
    if command == "app":
        os.execv(str(python), [str(python), "-m", "streamlit", "run", "app.py", *rest])
    elif command == "test":
        ensure_chromium()
        os.execv(str(python), [str(python), "-m", "pytest", *rest])
    elif command == "plan":
        example = rest or ["-m", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "H100", "--explain"]
        os.execv(str(python), [str(python), "-m", "wizard.faces.cli", "plan", *example])
    else:
        sys.exit(f"unknown command {command!r}: use app, test or plan")


if __name__ == "__main__":
    main(sys.argv[1:])
