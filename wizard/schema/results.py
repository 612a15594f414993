"""Result models beyond one plan: the sweep, two plans side by side, a start-up log and its check.

Every face's JSON for these is ``model_dump``; every field is described once here.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from wizard.schema.plan import PlanResponse
from wizard.schema.request import PlanRequest

ROUNDING_GIB = 0.01  # start-up logs print GiB with two decimals: a measurement is within a range up to this


class ResultModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _derived_are_not_inputs(cls, data: Any) -> Any:
        """A dumped result validates again: its computed fields are read back as what they are, derived."""
        if isinstance(data, dict):
            derived = _derived(cls)
            if not derived.isdisjoint(data):
                return {k: v for k, v in data.items() if k not in derived}
        return data


@cache
def _derived(model: type[BaseModel]) -> frozenset[str]:
    """A result model's computed fields (kept: every row of a sweep is validated)."""
    return frozenset(model.model_computed_fields)


# ------------------------------------------------------------------ capacity planning


class Price(ResultModel):
    """An on-demand GPU price, with where it comes from."""

    usd_per_gpu_hour: float = Field(description="On-demand USD per GPU-hour.")
    provider: str = Field(description="The price list it comes from.")
    date: str = Field(description="When the price was read.")
    source: str = Field(description="Where the price was read (URL or 'given by the user').")


def usd_per_million_tokens(usd_per_hour: float, tokens_per_s: float) -> float:
    """What a million tokens cost at a steady rate (infinite when nothing is served)."""
    return usd_per_hour / (tokens_per_s * 3600) * 1e6 if tokens_per_s > 0 else math.inf


class SweepRow(ResultModel):
    """One configuration that fits and meets the targets: its layout, cost and expected performance."""

    gpu: str
    gpus_per_node: int
    nodes: int
    tensor_parallel_size: int
    pipeline_parallel_size: int
    data_parallel_size: int = Field(1, description="Data-parallel engines in one replica.")
    expert_parallel_size: int = Field(1, description="GPUs whole experts are spread over (1: sliced by TP).")
    quantization: str | None = Field(description="The request's quantization: empty keeps the checkpoint's own format.")
    weights: str = Field(description="What the weights are stored as, e.g. 'fp8 (checkpoint)', 'bf16', 'fp8 (online)'.")
    kv_cache_dtype: str
    usd_per_gpu_hour: float = Field(description="On-demand USD per GPU-hour.")
    price_source: str = Field(description="The price list and date the price comes from.")
    replicas: int = Field(1, description=(
        "Identical deployments of this layout sharing the requests evenly (a load balancer in front, no prefix-cache "
        "affinity): the fewest whose summed sustainable rate covers the target rate."))
    output_tokens_per_s: float = Field(description="Expected aggregate output tokens per second of the workload, every replica together.")
    itl_ms: float = Field(description="Expected mean time per output token (TPOT).")
    ttft_ms: float = Field(description="Expected mean time to first token.")
    max_request_rate_per_s: float = Field(description="Highest request rate the replicas sustain together.")
    output_tokens_per_request: float = Field(description="Mean output tokens per request of the workload.")
    max_concurrency: int = Field(description="Requests of the workload's context the KV cache holds at once.")
    simulated: bool = Field(description=(
        "The figures come from simulating the workload (the cheapest rows); otherwise from the analytic screen, "
        "kept only when it rates the row well inside the targets."))
    simulated_requests: int | None = Field(None, description=(
        "Requests in the simulated run, fewer than the workload's where it was cut (too long to simulate in full); "
        "empty for a row only screened."))
    request: PlanRequest = Field(description="The request that plans this row alone (same verdict and memory).")
    plan: PlanResponse | None = Field(None, description="The full plan, for the cheapest rows only.")

    @computed_field(description="GPUs rented: per node x nodes x replicas.")  # type: ignore[prop-decorator]
    @property
    def total_gpus(self) -> int:
        return self.gpus_per_node * self.nodes * self.replicas

    @computed_field(description="Requests per second one replica sustains.")  # type: ignore[prop-decorator]
    @property
    def rate_per_replica_per_s(self) -> float:
        return self.max_request_rate_per_s / self.replicas

    @computed_field(description="On-demand USD per hour: the GPU-hour price times every GPU rented.")  # type: ignore[prop-decorator]
    @property
    def cost_per_hour(self) -> float:
        return self.usd_per_gpu_hour * self.total_gpus

    @computed_field(description=(  # type: ignore[prop-decorator]
        "USD per million output tokens while the replicas serve their sustainable rate (fully used)."))
    @property
    def cost_per_million_output_tokens(self) -> float:
        return usd_per_million_tokens(self.cost_per_hour, self.max_request_rate_per_s * self.output_tokens_per_request)


class SweepResult(ResultModel):
    """Every configuration that fits and meets the targets, cheapest first."""

    candidates_evaluated: int = Field(description="Configurations planned.")
    seconds: float = Field(description="Time spent planning every configuration and screening it with the analytic formula.")
    simulation_seconds: float = Field(description=(
        "Time spent simulating the cheapest survivors, which decides what is listed (and assembling full plans)."))
    rejected: dict[str, int] = Field(description=(
        "Configurations left out, by reason (refused: the requests are longer than max_model_len, which no GPU "
        "changes; unverified: the screen rates them too near a target to list without a simulation, and they rank "
        "past the cheapest the simulation verifies)."))
    fitting: int = Field(description="How many configurations fit and meet the targets (results may list only the cheapest).")
    results: list[SweepRow] = Field(description="The configurations kept, cheapest per hour first.")
    verification_stopped: bool = Field(False, description=(
        "The simulation stopped verifying the cheapest configurations at its work budget (a workload too large to "
        "simulate for many of them): fewer rows than usual are simulated, the rest are listed on the screen's word "
        "or counted as unverified."))


# ------------------------------------------------------------------ two plans side by side


class ComparisonRow(ResultModel):
    group: str = Field(description="memory, performance or settings.")
    label: str
    a: str
    b: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def differs(self) -> bool:
        return self.a != self.b


class Comparison(ResultModel):
    """Two plans row by row, and how their serve commands differ."""

    labels: tuple[str, str]
    rows: list[ComparisonRow]
    command_diff: list[str] = Field(description="Unified diff of the two serve commands, one argument per line.")
    plans: tuple[PlanResponse, PlanResponse]


# ------------------------------------------------------------------ checks against reality


class StartupLog(ResultModel):
    """What a vLLM start-up log reported; empty where the log does not show it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vllm_version: str | None
    engine: str | None
    model: str | None
    tensor_parallel_size: int | None
    pipeline_parallel_size: int | None
    data_parallel_size: int | None = None
    enable_expert_parallel: bool | None = None
    max_model_len: int | None
    dtype: str | None
    quantization: str | None
    kv_cache_dtype: str | None
    enforce_eager: bool | None
    gpu_memory_utilization: float | None
    max_num_seqs: int | None
    max_num_batched_tokens: int | None
    block_size: int | None
    gpu_total_gib: float | None
    gpu_free_at_startup_gib: float | None
    requested_memory_gib: float | None
    weights_gib: float | None
    activation_gib: float | None
    non_torch_gib: float | None
    weights_and_non_torch_gib: float | None
    cuda_graph_gib: float | None
    cuda_graph_estimate_gib: float | None
    kv_cache_gib: float | None
    kv_cache_tokens: int | None
    gpu_blocks: int | None
    max_concurrency: float | None
    suggested_kv_cache_memory_bytes: int | None = Field(
        description="vLLM's advice for --kv-cache-memory that fits the requested memory (bytes per GPU, smallest over ranks).")
    suggested_kv_cache_memory_full_gpu_bytes: int | None = Field(
        description="vLLM's advice for --kv-cache-memory that uses all free memory (bytes per GPU, smallest over ranks).")
    notes: tuple[str, ...]
    activation_includes_cuda_graphs: bool = Field(
        False, description="0.27+'s summary ('consumed memory (weights + non-torch)') counts the CUDA-graph estimate in its peak activation.")


class CheckRow(ResultModel):
    """One quantity a real run reported (a start-up log, a benchmark), and what the plan predicted for it."""

    quantity: str
    unit: str
    measured: float
    predicted: float
    low: float
    high: float

    @computed_field(description="Whether the measurement lies in the predicted range (logs and bench round to 0.01).")  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> str:
        if self.low - ROUNDING_GIB <= self.measured <= self.high + ROUNDING_GIB:
            return "within range"
        return "above range" if self.measured > self.high else "below range"

    @computed_field(description="(predicted - measured) / measured, in percent.")  # type: ignore[prop-decorator]
    @property
    def error_pct(self) -> float | None:
        return (self.predicted - self.measured) / self.measured * 100 if self.measured else None


class LogCheck(ResultModel):
    """A real start-up log beside the plan of the same settings."""

    log: StartupLog
    request: PlanRequest = Field(description="The settings the run used, vLLM's defaults filling what it did not set.")
    plan: PlanResponse
    rows: list[CheckRow]
    notes: list[str]

