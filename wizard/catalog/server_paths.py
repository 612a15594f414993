"""Which paths on this server a model may be read from: the hosting rule, in one place.

One setting decides it, ``VLLM_WIZARD_MODELS_DIR`` (see :func:`server_path`): a
hosted dashboard reads only inside its models folder.  Used by
:mod:`wizard.catalog.metadata`, which reads every model file through here.
"""

from __future__ import annotations

import os
from pathlib import Path

from wizard.errors import WizardError

MODELS_DIR_ENV = "VLLM_WIZARD_MODELS_DIR"  # unset: any path; a folder: only inside it; "" or "none": no path
_NO_PATHS = ("", "none")  # values of MODELS_DIR_ENV that refuse every server path
_SHOWN_CHARS = 120  # longest input an error message quotes whole (longer ones lose their middle)


def shown(text: str) -> str:
    """An input as an error message quotes it: escaped (control characters visible), its middle cut when long."""
    if len(text) > _SHOWN_CHARS:
        half = _SHOWN_CHARS // 2
        text = f"{text[:half]}...{text[-half:]}"
    return repr(text)


def models_dir() -> tuple[bool, Path | None]:
    """(server paths readable at all, the folder they must lie in or None for anywhere), from MODELS_DIR_ENV."""
    value = os.environ.get(MODELS_DIR_ENV)
    if value is None:
        return True, None
    if value.strip().lower() in _NO_PATHS:
        return False, None
    return True, Path(os.path.realpath(os.path.expanduser(value.strip())))


def server_path(path: Path) -> Path:
    """The path to read for ``path`` on this server, or a WizardError saying why it may not be read.

    The one place the hosting rule lives (MODELS_DIR_ENV): unset, any path is
    read as given (a person's own machine, the CLI); set to a folder, a path is
    read only if its real path (symbolic links followed) lies inside that folder,
    and relative paths are taken from the folder; set to "" or "none", no server
    path is read. Every file and directory a model is read from passes here.
    """
    allowed, root = models_dir()
    if not allowed:
        raise WizardError(
            f"{shown(str(path))} is a path, and this server reads no model directories "
            f"({MODELS_DIR_ENV} is {os.environ.get(MODELS_DIR_ENV, '')!r}): give a Hugging Face id (org/name) or a "
            f"catalog model; whoever runs the server can set {MODELS_DIR_ENV} to a folder of models"
        )
    expanded = Path(os.path.expanduser(path))  # an unknown ~user stays as typed
    if root is None:
        return expanded
    candidate = root / expanded  # an absolute path replaces the folder
    real = Path(os.path.realpath(candidate))
    if real.is_relative_to(root):
        return real
    if not Path(os.path.normpath(candidate)).is_relative_to(root):
        why = "'..' leads out of it" if ".." in path.parts else "it is not inside it"
    else:
        why = "a symbolic link on the way points outside it"
    raise WizardError(
        f"{shown(str(path))} is outside the models folder {root} that this server reads ({MODELS_DIR_ENV}): {why}. "
        f"Give a directory inside {root} (or a path relative to it), a Hugging Face id or a catalog model"
    )
