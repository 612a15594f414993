"""Response models: every block of a plan, each field described once (the JSON's documentation)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from wizard.schema.measured import MeasuredRun
from wizard.schema.request import PlanRequest


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Range(_Block):
    """A heuristic number: the expected value and the range it is believed to lie in."""

    low: float
    expected: float
    high: float


class ModelReport(_Block):
    model: str
    source: Literal["local", "catalog", "hub"]
    revision: str | None = None
    architecture: str
    model_type: str
    params_total: int = Field(description="Parameters the model has (checkpoint count, MTP layers included).")
    params_loaded: int = Field(description="Parameters vLLM loads for serving (e.g. without MTP draft layers).")
    params_source: str
    params_active: int | None = Field(None, description="Parameters used per token (MoE only).")
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    attention: str
    layer_types: dict[str, int]
    moe: str | None = None
    max_model_len_limit: int = Field(description="Longest context the model supports, as vLLM derives it.")
    torch_dtype: str
    quantization: str | None = Field(None, description="The checkpoint's quantization, if any.")
    kv_bytes_per_token: int = Field(description="KV-cache bytes per token, all layers, before tensor parallelism.")
    notes: list[str] = Field(default_factory=list)


class HardwareReport(_Block):
    gpu: str
    gpu_id: str | None = None
    detected: bool = False
    gpus_per_node: int
    nodes: int
    gpus_used: int
    gpu_total_gib: float = Field(description="Memory per GPU as CUDA reports it.")
    gpu_total_estimated: bool = False
    memory_gb_marketed: float | None = None
    bandwidth_gbs: float | None = None
    bf16_tflops: float | None = None
    fp8_tflops: float | None = None
    fp8_native: bool = False
    interconnect: str
    tensor_parallel_size: int
    pipeline_parallel_size: int
    data_parallel_size: int = Field(1, description="Engines serving in parallel, each with its own KV cache.")
    expert_parallel_size: int = Field(1, description="GPUs whole experts are spread over (1: experts are sliced by TP).")
    replicas: int = Field(1, description="Identical deployments sharing the requests evenly; the GPUs above are one's.")


class GpuMemory(_Block):
    """Memory of one GPU (one rank), in GiB, for the stacked VRAM bar."""

    label: str
    gpu_total_gib: float
    budget_gib: float
    weights_gib: float
    activation_gib: float
    non_torch_gib: float
    cuda_graph_gib: float
    overhead_gib: float
    kv_cache_gib: float
    outside_budget_gib: float


class FrontierPoint(_Block):
    """How many requests of a given length the KV cache holds at once."""

    tokens: int
    max_requests: int


class MemoryReport(_Block):
    vllm_version: str = Field(description="The vLLM release whose memory accounting this follows.")
    engine: str = Field(description="vLLM engine generation of that release (V0 or V1).")
    gpu_total_gib: float
    gpu_memory_utilization: float
    budget_gib: float = Field(description="gpu_total_gib x gpu_memory_utilization: what vLLM may use per GPU.")
    weights_gib: float
    activation_gib: float = Field(description="Peak activation of vLLM's profiling run (heuristic, see ranges).")
    non_torch_gib: float = Field(description="Memory outside PyTorch's allocator: NCCL, cuBLAS and attention workspaces (heuristic).")
    cuda_graph_gib: float = Field(description="CUDA-graph memory vLLM estimates and subtracts before sizing the KV cache (heuristic).")
    overhead_gib: float
    kv_cache_gib: float = Field(description=(
        "KV-cache pool per GPU: the budget minus everything above (vLLM's 'Available KV cache memory'); "
        "negative when the rest does not fit, by that much."))
    kv_cache_tokens: int = Field(description=(
        "vLLM's 'GPU KV cache size' in tokens, as this release prints it (0.21+: max concurrency x max_model_len; "
        "before: blocks // KV groups x block size)."))
    kv_capacity_tokens: int = Field(description=(
        "Blocks x tokens per block: what the pool holds for one attention kind (differs from kv_cache_tokens "
        "for sliding-window hybrids)."))
    kv_blocks: int
    block_size: int
    kv_bytes_per_token: int = Field(description="KV-cache bytes per token on one GPU (all its layers).")
    kv_cache_dtype: str
    max_model_len: int
    max_num_seqs: int
    max_num_batched_tokens: int
    kv_cache_tokens_all_engines: int = Field(0, description="kv_cache_tokens x the data-parallel engines (hardware.data_parallel_size), each with its own pool: the whole deployment's KV cache.")
    cuda_graphs: bool
    cuda_graph_in_budget: bool = Field(description="Whether vLLM subtracts CUDA-graph memory before sizing the KV cache (0.21+); before, graphs sit outside the budget.")
    ranges: dict[str, Range] = Field(description="Low/expected/high for the heuristic terms and the KV pool they leave.")
    per_gpu: list[GpuMemory]
    frontier: list[FrontierPoint] = Field(default_factory=list, description="Requests the KV cache holds at once, per context length.")
    formulas: dict[str, str] = Field(default_factory=dict, description="Each headline number's formula with the live values.")


class Feasibility(_Block):
    fits: bool
    starts: bool = Field(description="vLLM starts: the weights load and the KV cache holds one request at max_model_len.")
    workload_fits: bool = Field(description="The requested concurrency at the requested context fits in the KV cache.")
    refused: bool = Field(False, description=(
        "The requested context is longer than max_model_len: vLLM starts, and answers such a request with an error "
        "instead of serving it."))
    failed: list[str] = Field(default_factory=list, description="Which condition failed, and by how much.")
    oom_risk: Literal["low", "medium", "high"]
    oom_risk_reason: str
    headroom_gib: float = Field(description="KV-cache GiB per GPU left over at the requested concurrency and context.")
    kv_needed_gib: float
    context_tokens: int = Field(description="The requested context per request: prompt + generated tokens.")
    max_concurrency: int = Field(description="Requests of the requested context the KV cache holds at once.")
    max_context_tokens: int = Field(description="Longest context per request at the requested concurrency.")
    max_concurrency_at_max_model_len: float = Field(description="vLLM's 'Maximum concurrency for max_model_len tokens per request'.")
    budget_committed_fraction: float = Field(
        description="Share of vLLM's budget the plan commits: everything but the KV cache plus the KV the workload needs "
                    "(above 1: the workload does not fit at once; the OOM gauge).")
    warnings: list[str] = Field(default_factory=list)

    @property
    def verdict(self) -> str:
        """The verdict in words: fits, refused (vLLM starts, but not for requests this long) or does not fit."""
        if self.fits:
            return "fits"
        return "refused" if self.starts and self.refused else "does not fit"

    @property
    def shortfall(self) -> str:
        """Why a plan that does not fit will not serve the workload as asked, in the words every face uses."""
        if not self.starts:
            return "vLLM will not start with these settings"
        if self.refused:
            return "vLLM starts, but rejects the workload's requests: they are longer than max_model_len"
        return "vLLM starts, but the requested workload does not fit in its KV cache at once"


class Setting(_Block):
    value: int | float | str | bool | None
    source: Literal["user", "recommended", "vllm default", "checkpoint"]
    reason: str


class Suggestion(_Block):
    """A change to the request that makes a failing plan fit (verified by planning it)."""

    text: str
    changes: dict[str, Any] = Field(description="Request fields to change, by their flat names.")


class Recommendation(_Block):
    tensor_parallel_size: Setting
    pipeline_parallel_size: Setting
    data_parallel_size: Setting
    enable_expert_parallel: Setting
    dtype: Setting
    quantization: Setting
    kv_cache_dtype: Setting
    max_model_len: Setting
    max_num_seqs: Setting
    max_num_batched_tokens: Setting
    gpu_memory_utilization: Setting
    enforce_eager: Setting
    suggestions: list[Suggestion] = Field(default_factory=list, description="Changes that would make a failing plan fit.")

    @classmethod
    def setting_names(cls) -> list[str]:
        """The settings in schema order (what every face's settings table lists; suggestions are not one)."""
        return [name for name, info in cls.model_fields.items() if info.annotation is Setting]


class Percentiles(_Block):
    """One latency as vllm bench summarises it (ms): the mean and three percentiles."""

    mean: float
    p50: float
    p90: float
    p99: float


class LatencyDistribution(_Block):
    """Every latency vllm bench reports, over the simulated run's requests (ITL over every token gap)."""

    ttft_ms: Percentiles = Field(description="Time to first token, from the send (queueing in vLLM included).")
    tpot_ms: Percentiles = Field(description="Time per output token after the first: (e2e - ttft) / (output - 1).")
    itl_ms: Percentiles = Field(description="Every gap between two tokens of a request (a preemption is one long gap).")
    e2e_ms: Percentiles = Field(description="End-to-end latency of a request, from the send to its last token.")


class TimelinePoint(_Block):
    """The engine at one moment of the simulated run."""

    time_s: float
    running: int = Field(description="Requests holding a seat (decoding or prefilling).")
    waiting: int = Field(description="Requests in vLLM's queue (sent, not admitted).")
    kv_usage: float = Field(description="Share of the KV blocks in use.")
    preemptions: int = Field(description="Preemptions so far.")


class PerformanceReport(_Block):
    """Serving performance from a step-level simulation of vLLM's scheduler under the request's workload.

    Every expected value is the simulated figure; low/high bracket it by how far
    published measurements strayed from the model during calibration.
    """

    workload: str = Field(description="The traffic simulated, as vllm bench would send it.")
    prefill_tokens_per_s: Range = Field(description="Prompt tokens per second when a full max_num_batched_tokens chunk is prefilled.")
    decode_tokens_per_s: Range = Field(description="Output tokens per second one request sees (1000 / mean TPOT).")
    itl_ms: Range = Field(description="Mean time per output token (vllm bench's mean TPOT).")
    ttft_ms: Range = Field(description="Mean time to first token, queueing in vLLM included.")
    output_tokens_per_s: Range = Field(description="Aggregate output tokens per second over the run (vllm bench's output throughput).")
    request_throughput_per_s: Range = Field(description="Completed requests per second over the run.")
    max_request_rate_per_s: Range = Field(description="Highest request rate the plan sustains: its throughput when saturated.")
    batch_size: float = Field(description="Requests running per engine step (in each data-parallel engine), on average over the run.")
    saturated: bool = Field(description="More is asked than the plan serves at once: requests wait in vLLM's queue, "
                                        "or arrive faster than it sustains.")
    keeps_up: bool | None = Field(None, description="With a finite request rate: whether the plan sustains it "
                                                    "(false: its queue and TTFT grow for as long as the load lasts).")
    replicas_to_keep_up: int | None = Field(None, description=(
        "When the plan sustains less than the request rate or the rate target: the fewest replicas of one "
        "deployment whose summed sustainable rate covers it (requests split evenly); empty otherwise."))
    distribution: LatencyDistribution
    duration_s: float = Field(description="Simulated run length, from the first send to the last token (vllm bench's duration).")
    goodput_per_s: float | None = Field(None, description="Requests per second meeting every latency target (when targets are given).")
    preemptions: int = Field(description="Requests vLLM preempted and recomputed because the KV cache ran out.")
    simulated_requests: int = Field(description="Requests in the simulated run.")
    timeline: list[TimelinePoint] = Field(default_factory=list, description="The engine over the run, for a chart.")
    measured: list[MeasuredRun] = Field(default_factory=list, description=(
        "Published runs of this model on this GPU and layout under a similar workload (same kind, lengths and "
        "load within 25%), with their sources: shown beside the estimate, labelled measured."))
    calibrated: bool = Field(description="Whether this GPU has published vLLM benchmarks behind the efficiency factors.")
    assumptions: list[str] = Field(default_factory=list)


class Artifacts(_Block):
    """Commands and manifests that start the plan, all rendered from its recommendation."""

    image: str = Field(description="Container image, pinned to the planned vLLM release.")
    vllm_args: list[str] = Field(description="vLLM arguments after the model, shared by every artifact.")
    serve_command: str
    serve_script: str
    docker_run: str
    docker_compose: str
    kubernetes: str
    multi_node: str | None = Field(None, description="Multi-node plans: what each node runs (a Ray cluster, then vllm serve on the head; or, for data parallelism, one vllm serve per node).")
    profile_yaml: str
    notes: list[str] = Field(default_factory=list)


class PlanResponse(_Block):
    request: PlanRequest
    model: ModelReport
    hardware: HardwareReport
    memory: MemoryReport
    feasibility: Feasibility
    recommendation: Recommendation
    performance: PerformanceReport | None = None
    artifacts: Artifacts | None = None
    warnings: list[str] = Field(default_factory=list)
