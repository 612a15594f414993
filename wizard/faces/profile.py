"""Versioned YAML profiles: a whole :class:`PlanRequest` in a file people can share.

A profile is written with every field and its schema description as a comment,
and read with ``yaml.safe_load``; ``parse_request({}, parse_profile(text))``
gives back the same request.  Flat values given beside a profile override it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from wizard.errors import WizardError
from wizard.schema import SECTIONS, PlanRequest, iter_fields

PROFILE_VERSION = 1


def parse_profile(text: str, origin: str = "profile") -> dict[str, Any]:
    """The nested sections of a profile's YAML text, checked for shape and version."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WizardError(f"{origin} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise WizardError(f"{origin} must be a YAML mapping with the sections {', '.join(SECTIONS)}")
    version = data.pop("version", PROFILE_VERSION)
    if version != PROFILE_VERSION:
        raise WizardError(f"{origin} has profile version {version!r}; this vLLM Wizard reads version {PROFILE_VERSION}")
    home = {name: section for section, name, _ in iter_fields()}  # a setting written flat goes under its section
    unknown = sorted(set(data) - set(SECTIONS), key=str)
    if unknown:
        moves = "; ".join(f"{key} goes under {home[key]}:" for key in unknown if key in home)
        raise WizardError(f"{origin} has unknown section(s) {', '.join(map(str, unknown))}; expected "
                          f"{', '.join(SECTIONS)}" + (f" ({moves})" if moves else ""))
    for section, body in data.items():
        if body is not None and not isinstance(body, dict):
            example = f" (write {section}:, then {section}: {_scalar(body)} indented under it)" if home.get(
                section) == section else ""
            raise WizardError(f"{origin}: section {section!r} must be a mapping{example}")
    return {section: body or {} for section, body in data.items()}


def load_profile(path: str | Path) -> dict[str, Any]:
    """Read a profile file into nested sections (validated when merged into a request)."""
    file = Path(path).expanduser()
    try:
        text = file.read_text()
    except FileNotFoundError:
        raise WizardError(f"profile {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WizardError(f"cannot read profile {path}: {exc}") from None
    return parse_profile(text, origin=f"profile {path}")


def _scalar(value: Any) -> str:
    """A YAML scalar, escaped by PyYAML itself."""
    return yaml.safe_dump(value, default_flow_style=True, width=1 << 16).strip().removesuffix("...").strip()


def dump_profile(request: PlanRequest) -> str:
    """The request as a commented, versioned YAML profile."""
    lines = [
        "# vLLM Wizard profile: load it with `vllm-wizard plan --profile FILE` or in the dashboard.",
        f"version: {PROFILE_VERSION}",
    ]
    current = None
    for section, name, info in iter_fields():
        if section != current:
            lines.append(f"{section}:")
            current = section
        description = " ".join((info.description or "").split())
        lines.append(f"  # {description}")
        lines.append(f"  {name}: {_scalar(getattr(getattr(request, section), name))}")
    return "\n".join(lines) + "\n"
