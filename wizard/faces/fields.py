"""Request fields as form inputs: what widget each one needs, from the schema.

The dashboard draws one widget per :class:`FieldSpec`, keyed by the field's
own name, so the URL query string of a plan uses the request's field names
(``?model=...&gpu=H100&gpus=2``).  Widget and URL values go to the schema's
one door, :func:`wizard.schema.parse_request`, as they are.  :func:`describe`
puts an error's fields in a face's own words: the flag in the CLI, the label
on the page, the key in a profile.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

from wizard.errors import WizardError
from wizard.schema import PlanRequest, iter_fields

Face = Literal["cli", "form", "profile"]

# Short labels for the form; the long help text is the schema's description.
LABELS = {
    "model": "Model", "revision": "Revision", "trust_remote_code": "Trust remote code", "dtype": "Dtype",
    "quantization": "Quantization", "kv_cache_dtype": "KV-cache dtype", "max_model_len": "Max model length",
    "params_b": "Parameters (billions)", "gpu": "GPU", "gpus": "GPUs per node", "nodes": "Nodes",
    "vram_gb": "Custom GPU memory (GiB)", "interconnect": "Interconnect", "tensor_parallel_size": "Tensor parallel",
    "pipeline_parallel_size": "Pipeline parallel", "prompt_tokens": "Prompt tokens", "gen_tokens": "Output tokens",
    "concurrency": "Concurrent requests", "request_rate": "Request rate (req/s)", "batching_mode": "Batching mode",
    "gpu_memory_utilization": "GPU memory utilization", "max_num_seqs": "Max sequences",
    "max_num_batched_tokens": "Max batched tokens", "enforce_eager": "Eager mode (no CUDA graphs)",
    "kv_cache_memory_bytes": "KV cache memory (bytes)", "vllm_install": "vLLM installed as",
    "vllm_version": "vLLM version", "port": "Port", "overhead_gb": "Extra overhead (GiB)",
    "fragmentation_factor": "KV fragmentation factor", "headroom_gb": "Required KV headroom (GiB)",
    "max_ttft_ms": "Max TTFT (ms)", "max_itl_ms": "Max time per output token (ms)",
    "min_output_tokens_per_s": "Min output tokens/s", "min_request_rate": "Min requests/s",
    "data_parallel_size": "Data parallel", "enable_expert_parallel": "Expert parallel", "replicas": "Replicas",
    "num_prompts": "Prompts in the run", "burstiness": "Burstiness", "length_distribution": "Length distribution",
    "range_ratio": "Random range ratio", "seed": "Seed",
}
# Fields shown outside the "advanced vLLM settings" expander.
BASIC = {"model", "gpu", "gpus", "nodes", "vram_gb", "interconnect", "prompt_tokens", "gen_tokens", "concurrency",
         "request_rate", "batching_mode"}
DEFAULT = "default"  # the choice that leaves an optional setting empty: the wizard (or the checkpoint) decides


@dataclass(frozen=True)
class FieldSpec:
    name: str
    section: str
    label: str
    help: str
    kind: Literal["text", "int", "float", "rate", "choice", "bool"]  # rate: a number where 'inf' means something
    options: tuple[Any, ...] = ()
    default: Any = None
    optional: bool = False
    minimum: float | None = None
    maximum: float | None = None
    basic: bool = False

    @property
    def typed(self) -> bool:
        """Whether its widget takes text: free text, or a rate, which a number input cannot show as 'inf'."""
        return self.kind in ("text", "rate")


def _bounds(info: Any) -> tuple[float | None, float | None]:
    low = high = None
    for item in info.metadata:
        low = getattr(item, "ge", None) if getattr(item, "ge", None) is not None else low
        low = getattr(item, "gt", None) if getattr(item, "gt", None) is not None else low
        high = getattr(item, "le", None) if getattr(item, "le", None) is not None else high
    return low, high


def field_specs() -> list[FieldSpec]:
    """One spec per request field, in schema order."""
    specs = []
    for section, name, info in iter_fields():
        annotation = info.annotation
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = type(None) in typing.get_args(annotation) or info.default is None
        literal = [a for a in ([annotation] + args) if typing.get_origin(a) is Literal]
        low, high = _bounds(info)
        default = None if info.is_required() else info.get_default()
        base = dict(name=name, section=section, label=LABELS[name], help=info.description or "",
                    default=default, optional=optional, minimum=low, maximum=high, basic=name in BASIC)
        if annotation is bool or args == [bool]:
            kind, options = ("choice", (DEFAULT, "true", "false")) if optional else ("bool", ())
        elif literal and int not in args:
            kind = "choice"
            options = tuple(v for lit in literal for v in typing.get_args(lit))
            if optional:
                options = (DEFAULT, *options)
        elif annotation is int or (int in args and not literal):
            kind, options = "int", ()
        elif annotation is float or float in args:
            finite = any(getattr(item, "allow_inf_nan", True) is False for item in info.metadata)
            kind, options = ("float" if finite else "rate"), ()
        else:
            kind, options = "text", ()
        specs.append(FieldSpec(kind=kind, options=options, **base))  # type: ignore[arg-type]
    return specs


def widget_value(spec: FieldSpec, request_value: Any) -> Any:
    """A request value as its widget shows it."""
    if request_value is None:
        return DEFAULT if spec.kind == "choice" and DEFAULT in spec.options else None
    if isinstance(request_value, bool) and spec.kind == "choice":
        return "true" if request_value else "false"
    if spec.kind == "text" or spec.name == "max_model_len":
        return str(request_value)
    if spec.kind == "rate":  # 'inf' as the CLI takes it; 5.0 as 5
        return str(int(request_value)) if float(request_value).is_integer() else repr(float(request_value))
    return request_value


def query_params(request: PlanRequest, changes: dict[str, Any] | None = None) -> dict[str, str]:
    """The shareable query parameters of a request: every field that differs from its default, as text.

    ``changes`` (flat field names) are applied first; a None there resets a field.
    """
    defaults = {name: info.get_default() for _, name, info in iter_fields() if not info.is_required()}
    values = {**request.flat(), **(changes or {})}
    specs = {s.name: s for s in field_specs()}
    params = {}
    for name, value in values.items():
        if value is None or (name in defaults and value == defaults[name]):
            continue
        shown = widget_value(specs[name], value)
        params[name] = str(shown).lower() if isinstance(shown, bool) else str(shown)
    return params


def query_string(request: PlanRequest, changes: dict[str, Any] | None = None) -> str:
    """:func:`query_params` URL-encoded, for links."""
    return urlencode(query_params(request, changes))


def flag(name: str) -> str:
    """A field's command-line flag."""
    return "--" + name.replace("_", "-")


def field_words(name: str, face: Face) -> str:
    """How a face names a field: the flag in the CLI, the label on the page, the section.key in a profile."""
    if "." in name:  # an unknown key, named with its section
        return name if face == "profile" else field_words(name.rsplit(".", 1)[1], face)
    if face == "cli":
        return flag(name)
    if face == "form":
        return LABELS.get(name, name)
    section = next((s for s, field, _ in iter_fields() if field == name), None)
    return f"{section}.{name}" if section else name


def describe(error: WizardError, face: Face) -> str:
    """An error in a face's own words, on one line: each bad field named as that face names it."""
    return "; ".join(f"{field_words(field, face)}: {message}" if field else message for field, message in error.problems)
