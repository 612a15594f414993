"""Published vLLM serving measurements: one model per run, and the file that bundles a collection of them.

The data lives in ``wizard/data/measured/`` (one JSON file per source, each
naming where its numbers come from); ``wizard.reality.measured`` loads it and
finds the runs that match a plan.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

WorkloadKind = Literal["burst", "rate", "concurrency"]
LengthKind = Literal["fixed", "random", "sharegpt", "sonnet"]
# The weights as the engine holds them, coarse enough to compare a plan with a run:
# 16-bit (bf16 or fp16), 8-bit float or int, the two 4-bit float formats, 4-bit int (AWQ/GPTQ), bitsandbytes.
WeightFormatName = Literal["16-bit", "fp8", "int8", "mxfp4", "nvfp4", "int4", "bnb-4bit", "bnb-8bit"]
Confidence = Literal["high", "medium", "low"]


class _Measured(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MeasuredWorkload(_Measured):
    """The traffic a benchmark sent."""

    kind: WorkloadKind = Field(description=(
        "'concurrency': closed loop, at most max_concurrency requests in flight; 'rate': open loop at "
        "request_rate_per_s; 'burst': all num_prompts sent at once (rate infinite, no concurrency cap)."))
    num_prompts: int | None = Field(None, ge=1, description="Requests sent in the measured run (warm-up excluded); empty when not published.")
    request_rate_per_s: float | None = Field(None, gt=0, description="Open-loop arrival rate; empty for an infinite rate.")
    burstiness: float | None = Field(None, gt=0, description="Gamma shape of the arrivals (1.0 = Poisson) when published.")
    max_concurrency: int | None = Field(None, ge=1, description="Most requests in flight (the closed loop's concurrency).")
    dataset: str = Field(description="The dataset as the source names it.")
    lengths: LengthKind = Field(description=(
        "'fixed': every request has the same prompt and output length (synthetic, EOS ignored); 'random': "
        "vllm bench's random dataset (random tokens, lengths about the stated ones); 'sharegpt': real "
        "conversations, lengths vary; 'sonnet': vllm bench's sonnet dataset (poem lines, near-fixed prompts)."))
    mean_input_tokens: float = Field(gt=0, description="Mean prompt length in tokens, as measured when published.")
    mean_output_tokens: float = Field(gt=0, description="Mean generated tokens per request, as measured when published.")


class MeasuredMetrics(_Measured):
    """What the run measured; only the figures the source gives are set (times in ms, per request)."""

    request_throughput_per_s: float | None = Field(None, gt=0)
    output_tokens_per_s: float | None = Field(None, gt=0, description="Aggregate output tokens per second.")
    total_tokens_per_s: float | None = Field(None, gt=0, description="Aggregate prompt + output tokens per second.")
    mean_ttft_ms: float | None = Field(None, gt=0)
    median_ttft_ms: float | None = Field(None, gt=0)
    p99_ttft_ms: float | None = Field(None, gt=0)
    mean_tpot_ms: float | None = Field(None, gt=0, description="Time per output token after the first, per request (vllm bench's TPOT).")
    median_tpot_ms: float | None = Field(None, gt=0)
    p99_tpot_ms: float | None = Field(None, gt=0)
    mean_itl_ms: float | None = Field(None, gt=0, description="Gap between streamed chunks.")
    median_itl_ms: float | None = Field(None, gt=0)
    p99_itl_ms: float | None = Field(None, gt=0)
    mean_e2e_ms: float | None = Field(None, gt=0, description="Request latency, send to last token.")
    median_e2e_ms: float | None = Field(None, gt=0)
    p99_e2e_ms: float | None = Field(None, gt=0)


class MeasuredRun(_Measured):
    """One published vLLM serving benchmark: what ran, on what, under which traffic, and what it measured."""

    id: str = Field(description="The run's id in its source (a row id); unique within its collection.")
    collection: str = Field(description="The bundled file it comes from (see that file's header for the source and licence).")
    model: str = Field(description="Catalog model id the run is matched and replayed as (same architecture and shapes).")
    model_as_published: str = Field(description="The model as the source names it.")
    quantization: str | None = Field(None, description="--quantization a replay passes (empty: the checkpoint's own).")
    weight_format: WeightFormatName = Field(description="The weights as the engine held them.")
    weight_quant_as_published: str = Field(description="The weight format as the source states it.")
    kv_cache_dtype: Literal["auto", "fp8"] | None = Field(None, description="KV cache dtype; empty when the source does not say.")
    gpu: str = Field(description="Catalog GPU name.")
    gpu_as_published: str
    gpu_count: int = Field(ge=1, description="GPUs of the deployment: tp x pp x dp.")
    tp: int = Field(ge=1, description="--tensor-parallel-size.")
    pp: int = Field(1, ge=1, description="--pipeline-parallel-size.")
    dp: int = Field(1, ge=1, description="--data-parallel-size (engine replicas behind one endpoint).")
    ep: int = Field(1, ge=1, description="Expert-parallel size: 1 = off, else the GPUs whole experts are spread over.")
    vllm_version: str | None = Field(None, description="Release as X.Y.Z; empty when the source does not say.")
    vllm_version_as_published: str = Field("", description="The release as the source states it.")
    workload: MeasuredWorkload
    metrics: MeasuredMetrics
    source: str = Field(description="Where the numbers were published (URL or file and row).")
    confidence: Confidence = Field(description="How directly the numbers were read: a tool's log is high, a figure read off a plot low.")
    measured_on: str | None = Field(None, description="When the run was measured (YYYY-MM-DD), when known.")
    notes: str = ""


class SkippedRow(_Measured):
    """A source row left out of the bundle, and why."""

    id: str
    reason: str


class MeasuredCollection(_Measured):
    """One bundled file: where its runs come from, on what terms, how they were converted, and the runs."""

    collection: str
    description: str
    source: str = Field(description="The original data set (file, package or URL) and its version.")
    license: str
    attribution: str = Field(description="Credit and notice the licence asks for, or the sources' own credits.")
    conversion: list[str] = Field(description="How the source's columns became these fields, and what they mean there.")
    filtering: list[str] = Field(description="Which source rows were kept and why the others were not.")
    skipped: list[SkippedRow] = Field(default_factory=list, description="Source rows left out, each with its reason.")
    runs: list[MeasuredRun]
