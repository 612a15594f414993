"""The request: its five sections (``schema/sections.py``) as one model, the single source of truth
for every input, and the one door into it.

Each request field's ``description`` is the text of the CLI's ``--help``, the
dashboard's tooltip and the comment in a YAML profile; field names are the
flag names (``max_model_len`` -> ``--max-model-len``), the query-string keys of
a shareable link and the keys of a profile.  Field names are unique across the
sections so that one flat namespace can address them all.

Every face hands its values to :func:`parse_request`, typed (a YAML profile)
or as the text a person typed (CLI, form, URL): each field's type (from
``schema/syntax.py``: ``Count``, ``MaxModelLen``, ``Number`` ...) declares its
accepted syntax once, so ``8192``, ``8,192``, ``8k`` and ``8K`` mean the same
everywhere, and a bad value is an :class:`~wizard.errors.InvalidInput` that
names the field for the face to put in its own words.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from wizard.errors import InvalidInput
from wizard.schema.sections import (
    HardwareSection,
    ModelSection,
    PolicySection,
    Section,
    Targets,
    WorkloadSection,
)
from wizard.schema.syntax import problems


class PlanRequest(BaseModel):
    """Everything the planner needs; the same object a YAML profile holds."""

    model_config = ConfigDict(extra="forbid")

    model: ModelSection
    hardware: HardwareSection = Field(default_factory=HardwareSection)
    workload: WorkloadSection = Field(default_factory=WorkloadSection)
    policy: PolicySection = Field(default_factory=PolicySection)
    targets: Targets = Field(default_factory=Targets)

    def flat(self) -> dict[str, Any]:
        """The request as flat field names, the inverse of :func:`parse_request`."""
        return {name: getattr(getattr(self, section), name) for section, name, _ in iter_fields()}


SECTIONS: dict[str, type[Section]] = {
    "model": ModelSection,
    "hardware": HardwareSection,
    "workload": WorkloadSection,
    "policy": PolicySection,
    "targets": Targets,
}


def iter_fields() -> Iterator[tuple[str, str, FieldInfo]]:
    """Yield (section, field name, field info) for every request field, in order."""
    for section, model in SECTIONS.items():
        for name, info in model.model_fields.items():
            yield section, name, info


def field_info(name: str) -> FieldInfo:
    """The schema entry of one flat field name (for tooltips and help texts)."""
    for _, field_name, info in iter_fields():
        if field_name == name:
            return info
    raise KeyError(name)


def parse_request(values: Mapping[str, Any] | None = None, base: Mapping[str, Any] | None = None) -> PlanRequest:
    """The one door into a request, for every face.

    ``values`` are flat field values, typed or as typed text (CLI flags, form
    widgets, URL parameters); ``base`` is a nested profile (sections of
    fields) they override.  A bad value raises :class:`InvalidInput`, which
    names each field so the face can say it in its own words.
    """
    nested: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        body = (base or {}).get(section) or {}
        nested[section] = dict(body) if isinstance(body, Mapping) else body
    known = {name: section for section, name, _ in iter_fields()}
    unknown = [name for name in (values or {}) if name not in known]
    if unknown:
        raise InvalidInput([(name, "is not a known field") for name in unknown])
    for name, value in (values or {}).items():
        nested[known[name]][name] = value
    try:
        return PlanRequest.model_validate(nested)
    except ValidationError as exc:
        raise InvalidInput(problems(exc, tuple(SECTIONS))) from None
