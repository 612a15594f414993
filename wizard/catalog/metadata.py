"""Finding a model's config and parameter count: local directory, bundled catalog, Hub.

Resolution order: a local directory holding ``config.json`` (plus safetensors
headers for exact counts), the bundled catalog (``wizard/data/models``), then
the Hugging Face Hub through ``huggingface_hub`` (config.json and safetensors
metadata; ``--revision`` and ``HF_TOKEN`` honoured; offline mode respected).
Only JSON is read: nothing from a model repository is ever executed.

Which server directories may be read is one setting, ``VLLM_WIZARD_MODELS_DIR``
(see :func:`wizard.catalog.server_paths.server_path`): a hosted dashboard reads
only inside its models folder.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar
from urllib.parse import urlparse

from wizard.catalog.server_paths import models_dir, server_path, shown
from wizard.errors import WizardError
from wizard.physics.arch import Architecture, parse_config

T = TypeVar("T")
CATALOG_DIR = Path(__file__).parents[1] / "data" / "models"
HUB_TIMEOUT_S = 10.0  # seconds for each Hub request (config download, safetensors headers)
HUB_DEADLINE_S = 15.0  # seconds for a whole Hub call, retries included
HUB_PROBE_S = 3.0  # seconds to open a connection to the Hub before trying it at all
_MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit on a header
_HUB_NAME_CHARS = 96  # huggingface_hub's validate_repo_id: at most 96 characters for the org and for the name
_MAX_REVISION_CHARS = 255  # NAME_MAX: huggingface_hub stores a revision as a file name under refs/


@dataclass(frozen=True)
class ModelInfo:
    """A resolved model: where it came from, its config and what its checkpoint holds."""

    model: str
    source: str  # "local" | "catalog" | "hub"
    revision: str | None
    config: Mapping[str, Any]
    arch: Architecture
    params_total: int | None = None  # as published / stored (None when unknown)
    params_loaded: int | None = None  # stored tensors vLLM loads (no MTP layers); None when unknown
    params_source: str = "config"
    params_active: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    sources: Mapping[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ catalog


@cache
def _catalog() -> dict[str, dict[str, Any]]:
    """Every bundled model's entry, by its lower-cased Hugging Face id."""
    return {key: _entry(key) for key in _catalog_paths()}


@cache
def _catalog_paths() -> dict[str, Path]:
    """Each bundled model's file by its lower-cased Hugging Face id, which the file is named for ('org--name.json'):
    planning one catalog model reads its own file, not the whole catalog's (66 files, ~5 ms)."""
    return {path.stem.replace("--", "/", 1).lower(): path for path in sorted(CATALOG_DIR.glob("*.json"))}


@cache
def _entry(key: str) -> dict[str, Any]:
    return json.loads(_catalog_paths()[key].read_text())


def catalog_ids() -> list[str]:
    """Hugging Face ids of the bundled models."""
    return [entry["hf_id"] for entry in _catalog().values()]


def catalog_entry(model_id: str) -> dict[str, Any] | None:
    key = model_id.strip().lower()
    return _entry(key) if key in _catalog_paths() else None


def _from_catalog(entry: dict[str, Any]) -> ModelInfo:
    return _catalog_info(entry["hf_id"].lower())


@cache
def _catalog_info(key: str) -> ModelInfo:
    """A catalog model, parsed once per process."""
    entry = _entry(key)
    arch = parse_config(entry["config"])
    return ModelInfo(
        model=entry["hf_id"],
        source="catalog",
        revision=None,
        config=entry["config"],
        arch=arch,
        params_total=entry.get("params_total"),
        params_source="catalog (published count)" if entry.get("params_total") else "config",
        params_active=entry.get("params_active"),
        # The entry's own "notes" record where its data came from, for whoever curates the catalog; a plan's
        # notes are for the people reading it, so they stay in the data file.
        sources=entry.get("sources", {}),
    )


# ------------------------------------------------------------------ safetensors


def _read_header(path: Path) -> dict[str, Any]:
    """The JSON header of a .safetensors file (8-byte length, then JSON); no tensor data is read."""
    with path.open("rb") as handle:
        raw = handle.read(8)
        if len(raw) != 8:
            raise WizardError(f"{path} is not a safetensors file (too short)")
        (length,) = struct.unpack("<Q", raw)
        if length > _MAX_HEADER_BYTES:
            raise WizardError(f"{path} has an implausible safetensors header ({length} bytes)")
        try:
            return json.loads(handle.read(length))
        except json.JSONDecodeError as exc:
            raise WizardError(f"{path} has a broken safetensors header: {exc}") from None


_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


def count_tensors(tensors: Iterable[tuple[str, list[int]]], num_layers: int) -> tuple[int, int]:
    """(all parameters, parameters vLLM loads) from (name, shape) pairs.

    Tensors of layers numbered ``num_layers`` and above are multi-token-prediction
    modules (DeepSeek stores them as extra layers) that vLLM skips unless it
    runs speculative decoding.
    """
    total = loaded = 0
    for name, shape in tensors:
        count = 1
        for dim in shape:
            count *= int(dim)
        total += count
        match = _LAYER.search(name)
        if not (match and int(match.group(1)) >= num_layers):
            loaded += count
    return total, loaded


def _local_safetensors(directory: Path) -> list[tuple[str, list[int]]]:
    files = sorted(directory.glob("*.safetensors"))
    tensors = []
    for path in files:
        header = _read_header(server_path(path))
        tensors += [(name, meta["shape"]) for name, meta in header.items() if name != "__metadata__"]
    return tensors


# ------------------------------------------------------------------ local / hub


def _load_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise WizardError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise WizardError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise WizardError(f"{path} does not hold a JSON object")
    return config


def _from_directory(directory: Path) -> ModelInfo:
    """A model directory that :func:`server_path` has let through; its files pass there too."""
    config_path = server_path(directory / "config.json")
    if not config_path.is_file():
        raise WizardError(f"{directory} has no config.json: give a model directory or a Hugging Face id", field="model")
    config = _load_config(config_path)
    arch = parse_config(config)
    tensors = _local_safetensors(directory)
    total, loaded = count_tensors(tensors, arch.num_layers) if tensors else (None, None)
    return ModelInfo(
        model=str(directory),
        source="local",
        revision=None,
        config=config,
        arch=arch,
        params_total=total,
        params_loaded=loaded,
        params_source="safetensors headers" if tensors else "config",
    )


def _hub_error(model: str, exc: Exception) -> WizardError:
    from huggingface_hub import errors

    name = type(exc).__name__
    if isinstance(exc, errors.GatedRepoError):
        return WizardError(f"{model} is gated on the Hugging Face Hub: accept its licence on the model page and set HF_TOKEN")
    if isinstance(exc, errors.RevisionNotFoundError):
        return WizardError(f"{model} has no revision by that name on the Hugging Face Hub", field="revision")
    if isinstance(exc, errors.RepositoryNotFoundError):
        return WizardError(
            f"unknown model {model!r}: not a local directory, not in the bundled catalog (vllm-wizard models), "
            "and not found on the Hugging Face Hub (private repos need HF_TOKEN)"
        )
    if isinstance(exc, (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled, TimeoutError)):
        return WizardError(
            f"{model} is not in the bundled catalog and the Hugging Face Hub cannot be reached "
            "(offline, timed out, or not in the local Hub cache): use a catalog id, a local model directory, or go online"
        )
    if isinstance(exc, errors.EntryNotFoundError):
        return WizardError(f"{model} on the Hugging Face Hub has no config.json")
    return WizardError(f"cannot read {model} from the Hugging Face Hub ({name}: {exc}); check the network or use a local directory")


def _with_deadline(call: Callable[[], T]) -> T:
    """Run a Hub call with an overall deadline.

    huggingface_hub retries unreachable hosts with back-off for about 25 s; the
    call runs in a daemon thread and is abandoned after HUB_DEADLINE_S.  Its
    retry warnings are silenced: the caller reports one clear message.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(HUB_DEADLINE_S)
    if worker.is_alive():
        raise TimeoutError(f"no answer from the Hugging Face Hub within {HUB_DEADLINE_S:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _reachable(endpoint: str) -> bool:
    """Whether the Hub's host accepts a TCP connection within HUB_PROBE_S (fails fast when offline)."""
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=HUB_PROBE_S):
            return True
    except OSError:
        return False


def _from_hub(model: str, revision: str | None) -> ModelInfo:
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", str(int(HUB_TIMEOUT_S)))
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", str(int(HUB_TIMEOUT_S)))
    import huggingface_hub
    from huggingface_hub import constants

    token = os.environ.get("HF_TOKEN") or None
    offline = constants.HF_HUB_OFFLINE or not _reachable(constants.ENDPOINT)
    try:
        config_path = _with_deadline(
            lambda: huggingface_hub.hf_hub_download(
                model, "config.json", revision=revision, token=token, etag_timeout=HUB_TIMEOUT_S, local_files_only=offline
            )
        )
    except Exception as exc:  # every hub failure becomes one clear message
        raise _hub_error(model, exc) from None
    config = _load_config(Path(config_path))
    arch = parse_config(config)
    notes: list[str] = []
    total = loaded = None
    if offline:
        notes.append("Offline: config.json came from the local Hub cache; parameter count derived from it (safetensors headers need the Hub).")
    else:
        try:
            meta = _with_deadline(
                lambda: huggingface_hub.get_safetensors_metadata(model, revision=revision, token=token, timeout=HUB_TIMEOUT_S)
            )
            tensors = [(name, info.shape) for file in meta.files_metadata.values() for name, info in file.tensors.items()]
            total, loaded = count_tensors(tensors, arch.num_layers)
        except Exception as exc:  # metadata is a refinement: fall back to the config's count
            notes.append(f"Safetensors metadata unavailable ({type(exc).__name__}); parameter count derived from config.json.")
    return ModelInfo(
        model=model,
        source="hub",
        revision=revision,
        config=config,
        arch=arch,
        params_total=total,
        params_loaded=loaded,
        params_source="safetensors metadata (Hub)" if total else "config",
        notes=tuple(notes),
    )


def looks_like_path(model: str) -> bool:
    """Whether the input can only be meant as a path (a Hub id is ``name`` or ``org/name``)."""
    return (model in (".", "..") or model.startswith(("/", "./", "../", "~", ".\\")) or "\\" in model
            or model.count("/") > 1)


def _check_hub_id(model: str) -> None:
    """A WizardError unless ``model`` is a valid Hub id (huggingface_hub's own validator decides)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(model)
    except HFValidationError:
        if not model.isascii():
            why = "it has non-ASCII characters"
        elif max(len(part) for part in model.split("/")) > _HUB_NAME_CHARS:
            why = f"it is {len(model):,} characters long"
        else:
            why = "it is not of that form"
        raise WizardError(
            f"unknown model {shown(model)}: not a local directory, not in the bundled catalog, and not a valid "
            f"Hugging Face id ({why}). A Hub id is org/name made of ASCII letters, digits, '-', '_' and '.', "
            f"at most {_HUB_NAME_CHARS} characters each, without '--' or '..'; pick a catalog model (vllm-wizard models) "
            "or give a model directory"
        ) from None


def _check_revision(revision: str | None) -> None:
    """A WizardError unless ``revision`` is a plain branch, tag or commit name.

    huggingface_hub keeps a revision as a file name under its cache's ``refs/``
    folder, so one with '..', a leading '/' or a backslash would read files elsewhere.
    """
    if revision is None:
        return
    bad = (not revision or not revision.isprintable() or not revision.isascii() or any(c.isspace() for c in revision)
           or ".." in revision or revision.startswith("/") or "\\" in revision or len(revision) > _MAX_REVISION_CHARS)
    if bad:
        raise WizardError(
            f"revision {shown(revision)} is not a branch, tag or commit name: a revision is printable ASCII of at most "
            f"{_MAX_REVISION_CHARS} characters with no spaces, no '..', no '\\' and no leading '/' "
            "(e.g. main, v1.0, refs/pr/1 or a commit hash)"
        )


def _local_directory(model: str) -> Path | None:
    """The model directory on this server that ``model`` names, or None when it names none (a catalog or Hub id)."""
    path_like = looks_like_path(model)
    if not path_like and not models_dir()[0]:
        return None  # no probing at all: ids go to the catalog and the Hub
    path = server_path(Path(model))
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:  # e.g. a name longer than the file system allows
        if path_like:
            raise WizardError(f"cannot use {shown(model)} as a directory: {exc.strerror}") from None
        return None
    if is_dir:
        return path
    if exists:
        raise WizardError(f"{shown(model)} is a file; give a model directory (holding config.json) or a Hugging Face id",
                          field="model")
    if path_like:
        raise WizardError(f"no such directory: {shown(model)}")
    return None


def resolve_model(model: str, revision: str | None = None) -> ModelInfo:
    """Find the model: a directory on this server (as VLLM_WIZARD_MODELS_DIR allows), then the catalog, then the Hub."""
    model = model.strip()
    if not model:
        raise WizardError("no model given: give a Hugging Face id or a local directory", field="model")
    if not model.isprintable():
        raise WizardError(f"the model {shown(model)} holds control characters or binary data: type a Hugging Face id "
                          "(org/name), a catalog model or a directory path")
    directory = _local_directory(model)
    if directory is not None:
        return _from_directory(directory)
    entry = catalog_entry(model)
    if entry is not None and revision is None:
        return _from_catalog(entry)
    _check_hub_id(model)
    _check_revision(revision)
    return _from_hub(model, revision)
