"""The GPU catalog: one JSON file per GPU under ``wizard/data/gpus``.

Memory is kept as CUDA reports it (``cuda_total_gib``), because that is what
vLLM multiplies by ``gpu_memory_utilization``; marketing GB and driver MiB are
kept beside it for display.  Each file names its sources.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from pathlib import Path

from wizard.errors import WizardError

DATA_DIR = Path(__file__).parents[1] / "data" / "gpus"


@dataclass(frozen=True)
class GpuSpec:
    """One GPU model as the planner needs it."""

    id: str
    name: str
    aliases: tuple[str, ...]
    vendor: str
    architecture: str
    compute_capability: str
    memory_type: str
    memory_gb_marketed: float | None
    driver_mib: int | None
    cuda_total_gib: float
    cuda_total_estimated: bool
    cuda_total_source: str
    bandwidth_gbs: float | None
    bf16_tflops: float | None
    fp8_tflops: float | None
    int8_tops: float | None
    fp4_tflops: float | None
    fp8_native: bool
    interconnect: str
    interconnect_name: str
    interconnect_gbs: float | None
    host_link: str
    host_link_gbs: float | None
    consumer: bool
    tdp_w: float | None
    spec_confidence: str
    sources: tuple[str, ...] = field(default_factory=tuple)
    notes: str = ""

    @property
    def cc(self) -> tuple[int, int] | None:
        """CUDA compute capability as a tuple, or None for non-NVIDIA parts."""
        return _capability(self.compute_capability)

    @property
    def ampere_or_newer(self) -> bool:
        """Compute capability 8.0 or newer (AMD/Intel parts count as such).

        What needs it in vLLM: bfloat16, FP8 weights (Marlin weight-only below
        Hopper) and FP8 KV cache, and the V1 engine before V0 was removed in 0.11.
        """
        cc = self.cc
        return cc is None or cc >= (8, 0)

    @property
    def large_defaults(self) -> bool:
        """Whether vLLM 0.33 gives this GPU its large batch defaults.

        vllm/engine/arg_utils.py get_batch_defaults: >= 70 GiB and the name not
        containing "a100" (GB10 excluded).
        """
        return self.cuda_total_gib >= 70 and "a100" not in self.name.lower()


@cache
def _capability(text: str) -> tuple[int, int] | None:
    """A compute capability such as 9.0 as (9, 0); None when not major.minor (kept: asked per candidate, many times)."""
    match = re.fullmatch(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


@lru_cache(maxsize=1024)  # names typed by people are unbounded; the catalog's and a sweep's are few
def _normalise(name: str) -> str:
    """Fold a GPU name for lookup: case, spaces, dashes and vendor words ignored."""
    folded = name.lower()
    for word in ("nvidia", "geforce", "tesla", "amd instinct", "amd"):
        folded = folded.replace(word, "")
    return re.sub(r"[^a-z0-9]", "", folded)


@cache
def catalog() -> tuple[GpuSpec, ...]:
    """All catalogued GPUs, in file-name order."""
    specs = []
    for path in sorted(DATA_DIR.glob("*.json")):
        raw = json.loads(path.read_text())
        raw["aliases"] = tuple(raw["aliases"])
        raw["sources"] = tuple(raw["sources"])
        specs.append(GpuSpec(**raw))
    return tuple(specs)


@cache
def _index() -> dict[str, GpuSpec]:
    index: dict[str, GpuSpec] = {}
    for spec in catalog():
        for key in (spec.id, spec.name, *spec.aliases):
            index.setdefault(_normalise(key), spec)
    return index


def find_gpu(name: str) -> GpuSpec | None:
    """Look a GPU up by id, name or alias; None when unknown."""
    return _index().get(_normalise(name))


def get_gpu(name: str) -> GpuSpec:
    """Look a GPU up by id, name or alias, or raise a WizardError that lists names."""
    spec = find_gpu(name)
    if spec is None:
        known = ", ".join(s.name for s in catalog())
        close = dict.fromkeys(_index()[key].name for key in difflib.get_close_matches(_normalise(name), _index(), n=3,
                                                                                        cutoff=0.75))
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise WizardError(
            f"unknown GPU {name!r}{hint}. Known GPUs: {known}. For another GPU, give its memory in GiB instead.",
            field="gpu")
    return spec


def custom_gpu(vram_gib: float, base: GpuSpec | None = None) -> GpuSpec:
    """A GPU with the given CUDA-reported memory, based on a catalog entry if given."""
    if base is not None:
        return replace(
            base,
            cuda_total_gib=vram_gib,
            cuda_total_estimated=False,
            cuda_total_source="given by the user (custom GPU memory)",
        )
    return GpuSpec(
        id="custom",
        name=f"Custom GPU ({vram_gib:g} GiB)",
        aliases=(),
        vendor="unknown",
        architecture="unknown",
        compute_capability="unknown",
        memory_type="unknown",
        memory_gb_marketed=None,
        driver_mib=None,
        cuda_total_gib=vram_gib,
        cuda_total_estimated=False,
        cuda_total_source="given by the user (custom GPU memory)",
        bandwidth_gbs=None,
        bf16_tflops=None,
        fp8_tflops=None,
        int8_tops=None,
        fp4_tflops=None,
        fp8_native=False,
        interconnect="pcie",
        interconnect_name="unknown",
        interconnect_gbs=None,
        host_link="unknown",
        host_link_gbs=None,
        consumer=False,
        tdp_w=None,
        spec_confidence="low",
        notes="Memory given by the user; compute and bandwidth unknown.",
    )
