"""Finding a model's config and parameter count: local directory, bundled catalog, Hub.

Resolution order: a local directory holding ``config.json`` (plus safetensors
headers for exact counts), the bundled catalog (``wizard/data/models``), then
the Hugging Face Hub through ``huggingface_hub`` (config.json and safetensors
metadata; ``--revision`` and ``HF_TOKEN`` honoured; offline mode respected).
Only JSON is read: nothing from a model repository is ever executed.
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

from wizard.errors import WizardError
from wizard.physics.arch import Architecture, parse_config

T = TypeVar("T")
CATALOG_DIR = Path(__file__).parents[1] / "data" / "models"
HUB_TIMEOUT_S = 10.0  # seconds for each Hub request (config download, safetensors headers)
HUB_DEADLINE_S = 15.0  # seconds for a whole Hub call, retries included
HUB_PROBE_S = 3.0  # seconds to open a connection to the Hub before trying it at all
_MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit on a header


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
    entries = {}
    for path in sorted(CATALOG_DIR.glob("*.json")):
        entry = json.loads(path.read_text())
        entries[entry["hf_id"].lower()] = entry
    return entries


def catalog_ids() -> list[str]:
    """Hugging Face ids of the bundled models."""
    return [entry["hf_id"] for entry in _catalog().values()]


def catalog_entry(model_id: str) -> dict[str, Any] | None:
    return _catalog().get(model_id.strip().lower())


def _from_catalog(entry: dict[str, Any]) -> ModelInfo:
    return _catalog_info(entry["hf_id"].lower())


@cache
def _catalog_info(key: str) -> ModelInfo:
    """A catalog model, parsed once per process."""
    entry = _catalog()[key]
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
        notes=tuple(entry.get("notes", ())),
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
        header = _read_header(path)
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
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise WizardError(f"{directory} has no config.json: point --model at a model directory or a Hugging Face id")
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
        return WizardError(f"{model} has no revision by that name on the Hugging Face Hub (check --revision)")
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
    from huggingface_hub import constants, errors

    token = os.environ.get("HF_TOKEN") or None
    offline = constants.HF_HUB_OFFLINE or not _reachable(constants.ENDPOINT)
    try:
        config_path = _with_deadline(
            lambda: huggingface_hub.hf_hub_download(
                model, "config.json", revision=revision, token=token, etag_timeout=HUB_TIMEOUT_S, local_files_only=offline
            )
        )
    except errors.HFValidationError:
        raise WizardError(
            f"unknown model {model!r}: not a local directory, not in the bundled catalog and not a valid "
            "Hugging Face id (org/name)"
        ) from None
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


def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~", ".\\")) or "\\" in model or model.count("/") > 1


def resolve_model(model: str, revision: str | None = None) -> ModelInfo:
    """Find the model: a local directory, then the catalog, then the Hub."""
    model = model.strip()
    if not model:
        raise WizardError("no model given: pass --model with a Hugging Face id or a local directory")
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise WizardError(f"{model} is a file; --model takes a model directory (holding config.json) or a Hugging Face id")
        return _from_directory(path)
    if _looks_like_path(model):
        raise WizardError(f"no such directory: {model}")
    entry = catalog_entry(model)
    if entry is not None and revision is None:
        return _from_catalog(entry)
    return _from_hub(model, revision)
