"""Published vLLM serving measurements, and the ones that match a plan.

The runs live in ``wizard/data/measured/*.json``, one file per source, each
with its source, licence and conversion notes (``MeasuredCollection``).  A
face shows a matching run beside the estimate, labelled as measured, with its
source.

What "matches" means (``find_measurements``):

* the same model (the run's catalog id or its published name), the same GPU
  (looked up by id, name or alias), and exactly the same tensor, pipeline and
  data parallel sizes: another layout is another deployment;
* when ``weight_format`` is given, the same weight format (see
  ``weight_format_of``): FP8 and NVFP4 runs of a model say little about its
  bf16 speed;
* similar lengths: mean prompt and mean output length each within
  ``tolerance`` (a fraction, 0.25 = 25%) of the plan's.

The matches come best first: the same workload kind before another kind; then
the closest load (concurrency, rate, or the number of prompts of a burst, by
ratio: 32 is as far from 16 as 8 is); then the closest lengths (the larger of
the two relative differences); then the release (closest to ``vllm_version``
when given, else newest; unknown last).  Workload comes before lengths because
a run at another concurrency or arrival pattern differs by far more than one
whose lengths differ by a few percent.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

from wizard.catalog.gpus import find_gpu
from wizard.errors import WizardError
from wizard.physics.quant import WeightFormat
from wizard.physics.versions import parse_version
from wizard.schema.measured import (
    MeasuredCollection,
    MeasuredRun,
    WeightFormatName,
    WorkloadKind,
)

DATA_DIR = Path(__file__).parents[1] / "data" / "measured"
KINDS: tuple[WorkloadKind, ...] = ("burst", "rate", "concurrency")
DEFAULT_TOLERANCE = 0.25  # prompts and outputs within 25% of the plan's lengths


@cache
def collections() -> tuple[MeasuredCollection, ...]:
    """Every bundled file, validated, in file-name order (read once per process)."""
    return tuple(MeasuredCollection.model_validate_json(path.read_text()) for path in sorted(DATA_DIR.glob("*.json")))


def measured_runs() -> tuple[MeasuredRun, ...]:
    """Every bundled run, all sources together."""
    return tuple(run for collection in collections() for run in collection.runs)


def weight_format_of(fmt: WeightFormat) -> WeightFormatName:
    """The coarse weight format of a plan's weights, as the runs record theirs."""
    if fmt.kind in ("mxfp4", "nvfp4"):
        return fmt.kind
    if fmt.kind == "bnb":
        return "bnb-8bit" if fmt.bits == 8 else "bnb-4bit"
    if fmt.kind == "float" and fmt.bits == 8:
        return "fp8"
    if fmt.kind == "int":
        return "int8" if fmt.bits == 8 else "int4"
    return "16-bit"


def _ordinal(version: tuple[int, int, int]) -> float:
    """A release as one number, so that releases can be compared by distance (0.11.2 -> 11.002)."""
    return version[0] * 1000 + version[1] + version[2] / 1000


def _run_load(run: MeasuredRun) -> float | None:
    """The run's load in its kind's unit: requests in flight, requests per second, or prompts sent at once."""
    w = run.workload
    return {"concurrency": w.max_concurrency, "rate": w.request_rate_per_s, "burst": w.num_prompts}[w.kind]


def _rank(run: MeasuredRun, prompt_tokens: int, output_tokens: int, kind: WorkloadKind,
          load: float | None, version: tuple[int, int, int] | None) -> tuple[float, ...]:
    """Sort key of a matching run: smaller is better (see the module docstring)."""
    run_load = _run_load(run)
    same_unit = (run.workload.kind == "rate") == (kind == "rate")
    load_gap = abs(math.log(run_load / load)) if load and run_load and same_unit else math.inf
    length_gap = max(abs(run.workload.mean_input_tokens - prompt_tokens) / prompt_tokens,
                     abs(run.workload.mean_output_tokens - output_tokens) / output_tokens)
    if run.vllm_version is None:
        release_key = (math.inf, math.inf)
    else:
        released = _ordinal(parse_version(run.vllm_version))
        release_key = (abs(released - _ordinal(version)) if version else 0.0, -released)
    return (float(run.workload.kind != kind), load_gap, length_gap, *release_key)


def find_measurements(model_id: str, gpu_id: str, tp: int, pp: int, prompt_tokens: int, output_tokens: int,
                      kind: WorkloadKind, concurrency: int | None = None, request_rate: float | None = None,
                      vllm_version: str | None = None, tolerance: float = DEFAULT_TOLERANCE, *,
                      weight_format: WeightFormatName | None = None, dp: int = 1) -> list[MeasuredRun]:
    """Published runs of this model on this GPU and layout at similar lengths, best match first.

    ``kind`` is the plan's workload ("concurrency", "rate" or "burst");
    ``concurrency`` (requests in flight, or prompts of a burst) and
    ``request_rate`` (per second) rank the runs, as does ``vllm_version``.
    ``weight_format`` (from ``weight_format_of``) keeps only runs with the
    same weights; ``dp`` is the data-parallel size (1: one engine).  A GPU
    the catalog does not know has no runs.
    """
    if kind not in KINDS:
        raise WizardError(f"workload kind {kind!r} is not one of {', '.join(KINDS)}", field="kind")
    if prompt_tokens < 1 or output_tokens < 1:
        raise WizardError("prompt and output lengths must be at least one token", field="prompt_tokens")
    if not 0 <= tolerance < 1:
        raise WizardError(f"length tolerance {tolerance} must be a fraction from 0 to below 1", field="tolerance")
    gpu = find_gpu(gpu_id)
    if gpu is None:
        return []
    version = parse_version(vllm_version) if vllm_version else None
    model = model_id.strip().casefold()
    load = request_rate if kind == "rate" else concurrency
    matches = [
        run for run in measured_runs()
        if model in (run.model.casefold(), run.model_as_published.casefold())
        and run.gpu == gpu.name and run.tp == tp and run.pp == pp and run.dp == dp
        and (weight_format is None or run.weight_format == weight_format)
        and abs(run.workload.mean_input_tokens - prompt_tokens) <= tolerance * prompt_tokens
        and abs(run.workload.mean_output_tokens - output_tokens) <= tolerance * output_tokens
    ]
    return sorted(matches, key=lambda run: _rank(run, prompt_tokens, output_tokens, kind, load, version))
