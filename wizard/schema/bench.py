"""What one ``vllm bench serve`` run tells: the workload it sent and every metric it reported.

``BenchResult`` is read from the ``--save-result`` JSON or from the printed summary
(``wizard.reality.bench_result.parse_bench_result``); both forms fill the same fields,
the JSON with full precision, the summary rounded to two decimals as bench prints it.
Fields a run does not report stay empty.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, computed_field, field_validator, model_validator

from wizard.schema.measured import MeasuredRun
from wizard.schema.plan import PlanResponse
from wizard.schema.request import PlanRequest
from wizard.schema.results import CheckRow, ResultModel

NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]


class LatencyStats(ResultModel):
    """One latency metric over the run, in milliseconds, with the statistics bench reported for it."""

    model_config = ConfigDict(extra="forbid")

    mean_ms: NonNegative | None = Field(None, description="Mean over completed requests (ITL: over all chunks).")
    median_ms: NonNegative | None = Field(None, description="Median (numpy.median).")
    std_ms: NonNegative | None = Field(
        None, description="Standard deviation (numpy.std); only the JSON has it, the printed summary does not.")
    percentiles_ms: dict[float, NonNegative] = Field(
        default_factory=dict,
        description="Each percentile bench reported (--metric-percentiles, default 99) -> its value "
                    "(numpy.percentile, linear), e.g. {99.0: 98.59}.")

    @field_validator("percentiles_ms")
    @classmethod
    def _percentiles_in_range(cls, value: dict[float, float]) -> dict[float, float]:
        """A percentile is a number from 0 to 100."""
        bad = [p for p in value if not 0 <= p <= 100]
        if bad:
            raise ValueError(f"percentiles must lie in [0, 100], got {bad}")
        return value


class BenchResult(ResultModel):
    """A ``vllm bench serve`` run: its workload, its measurements, and what the reader noticed."""

    # An infinite request rate or burstiness is written "Infinity" in JSON, so it reads back as inf, not as unknown.
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")

    source: Literal["json", "text"] = Field(
        description="What was read: the --save-result JSON, or the printed summary.")
    bench_releases: str | None = Field(
        None,
        description="The vllm bench serve releases whose output has exactly this layout (lines or keys present), "
                    "e.g. '0.11.0' or '0.13 or later': a hint from the format, not a version stamp. Checked "
                    "against vllm/benchmarks/serve.py of 0.8.5-0.33.0; empty when the layout matches none of them "
                    "(e.g. the older benchmarks/benchmark_serving.py).")
    vllm_version: str | None = Field(
        None, description="The vLLM version, where the input states one (a 'version' key or metadata, "
                          "or a server log line in the paste).")
    date: str | None = Field(None, description="When bench wrote the result, as it writes it (YYYYmmdd-HHMMSS).")
    backend: str | None = Field(
        None, description="bench's --backend (older releases: --endpoint-type), e.g. 'openai-chat'.")
    label: str | None = Field(None, description="bench's --label, if one was given.")
    model_id: str | None = Field(None, description="The model bench asked for (--model).")
    tokenizer_id: str | None = Field(None, description="The tokenizer bench counted with (--tokenizer).")

    num_prompts: int | None = Field(None, ge=1, description="Requests in the run (--num-prompts).")
    request_rate_per_s: float | None = Field(
        None, gt=0,
        description="Configured arrival rate in requests per second (--request-rate); math.inf sends every "
                    "request at once. Empty when the input does not say (summaries before 0.10.1 never print it).")
    burstiness: float | None = Field(
        None, gt=0,
        description="Gamma shape of the gaps between arrivals (--burstiness): 1 is Poisson, inf constant gaps. "
                    "Only the JSON (0.6 and later) and bench's start-up lines state it.")
    max_concurrency: int | None = Field(
        None, ge=1,
        description="Requests bench keeps in flight at most (--max-concurrency); empty for no limit, or when the "
                    "input does not say (see notes).")
    ramp_up_strategy: str | None = Field(None, description="'linear' or 'exponential' when the rate was ramped.")
    ramp_up_start_rate_per_s: float | None = Field(None, ge=0, allow_inf_nan=False,
                                                   description="Ramp-up start rate, requests per second.")
    ramp_up_end_rate_per_s: float | None = Field(None, ge=0, allow_inf_nan=False,
                                                 description="Ramp-up end rate, requests per second.")

    completed: Count = Field(description="Requests that succeeded ('Successful requests').")
    failed: Count | None = Field(None, description="Requests that failed; reported from 0.11.1 on.")
    total_input_tokens: Count = Field(
        description="Prompt tokens of the completed requests, as the server counted them.")
    total_output_tokens: Count = Field(
        description="Output tokens of the completed requests ('Total generated tokens').")
    input_lens: list[Count] | None = Field(
        None, description="Prompt tokens of every request, in order (--save-detailed only).")
    output_lens: list[Count] | None = Field(
        None, description="Output tokens of every request, in order, 0 for a failed one (--save-detailed only).")

    duration_s: float = Field(gt=0, allow_inf_nan=False,
                              description="Benchmark duration: first dispatch to last completion, arrivals included.")
    request_throughput_per_s: NonNegative = Field(description="Completed requests per second of duration.")
    request_goodput_per_s: NonNegative | None = Field(
        None, description="Requests per second that met every --goodput SLO; only with --goodput.")
    output_throughput_tokens_per_s: NonNegative = Field(description="Output tokens per second of duration.")
    total_throughput_tokens_per_s: NonNegative | None = Field(
        None,
        description="(Prompt + output tokens) per second of duration; not in releases that printed input throughput.")
    input_throughput_tokens_per_s: NonNegative | None = Field(
        None, description="Prompt tokens per second of duration; only older releases report it.")
    peak_output_throughput_tokens_per_s: NonNegative | None = Field(
        None, description="Largest count of token-carrying chunks in one 1-second bucket (0.11.0 and later).")
    peak_concurrent_requests: Count | None = Field(
        None, description="Most requests active in one 1-second bucket (0.11.0 and later).")

    ttft: LatencyStats | None = Field(None, description="Time to first token.")
    tpot: LatencyStats | None = Field(None, description="Time per output token after the first, per request.")
    itl: LatencyStats | None = Field(None, description="Inter-token latency: every gap between token-carrying chunks.")
    e2el: LatencyStats | None = Field(
        None, description="End-to-end latency; only when --percentile-metrics selects e2el.")

    other_fields: dict[str, float | int | str | bool | None] = Field(
        default_factory=dict,
        description="Other single values the run reported, by their key or printed label: --metadata pairs, "
                    "vllm bench sweep parameters, speculative-decoding and probe statistics, client queueing.")
    runs_found: int = Field(1, ge=1, description="Runs in the input; the last one was read.")
    notes: list[str] = Field(default_factory=list, description="What the reader inferred, assumed or left out.")

    @model_validator(mode="after")
    def _consistent(self) -> BenchResult:
        """Counts that cannot all be true at once are bad input, not a result."""
        if self.num_prompts is not None and self.completed + (self.failed or 0) > self.num_prompts:
            raise ValueError(f"completed ({self.completed}) + failed ({self.failed or 0}) exceed "
                             f"num_prompts ({self.num_prompts})")
        inputs, outputs = self.input_lens, self.output_lens
        if inputs is not None and outputs is not None and len(inputs) != len(outputs):
            raise ValueError(f"input_lens has {len(inputs)} entries but output_lens {len(outputs)}")
        return self

    @computed_field(description="Mean prompt tokens per completed request.")  # type: ignore[prop-decorator]
    @property
    def mean_input_tokens(self) -> float | None:
        return self.total_input_tokens / self.completed if self.completed else None

    @computed_field(description="Mean output tokens per completed request.")  # type: ignore[prop-decorator]
    @property
    def mean_output_tokens(self) -> float | None:
        return self.total_output_tokens / self.completed if self.completed else None


class BenchCheck(ResultModel):
    """A user's own `vllm bench serve` run beside the simulation of the same workload on the same deployment."""

    bench: BenchResult
    request: PlanRequest = Field(description="The deployment given, serving the workload the run sent.")
    plan: PlanResponse
    rows: list[CheckRow] = Field(description="Every metric the run reported: measured, simulated, the simulation's range.")
    measured: list[MeasuredRun] = Field(default_factory=list, description=(
        "Published runs of the same deployment under a similar workload, with their sources."))
    notes: list[str]
