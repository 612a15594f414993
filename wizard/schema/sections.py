"""The request's five sections: every input field with its type, its bounds and the text of its help.

Field names are unique across the sections; :mod:`wizard.schema.request` joins
the sections into one request and is the one door into it.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from wizard.physics.versions import VLLM_VERSION
from wizard.schema.syntax import (
    Count,
    MaxModelLen,
    Number,
    OptionalBool,
    OptionalCount,
    OptionalNumber,
    OptionalRate,
    OptionalText,
    Rate,
    as_choice,
    as_line,
    as_optional_choice,
    as_release,
)

DtypeName = Literal["auto", "bfloat16", "float16", "float32"]
KvCacheDtype = Literal["auto", "bfloat16", "float16", "fp8", "fp8_e4m3", "fp8_e5m2"]
Quantization = Literal[
    "awq", "awq_marlin", "gptq", "gptq_marlin", "fp8", "compressed-tensors",
    "mxfp4", "bitsandbytes", "modelopt", "modelopt_fp4",
]
Interconnect = Literal["auto", "nvlink", "pcie", "pcie-no-p2p"]
BatchingMode = Literal["latency", "balanced", "throughput"]
LengthDistribution = Literal["fixed", "random", "sharegpt"]
VllmInstall = Literal["image", "pip"]

# Sane upper bounds: far beyond any real deployment, low enough that arithmetic stays finite.
MAX_GPUS = 4096  # GPUs per node, nodes, and parallel sizes
MAX_TOKENS = 2**31 - 1  # vLLM stores token counts in int32
MAX_GIB = 1024**2  # a PiB per GPU

_DTYPE_ALIASES = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "float": "float32", "fp32": "float32"}


class Section(BaseModel):
    """A request section: unknown fields are refused, and assignments are validated like inputs."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, ser_json_inf_nan="strings")


class ModelSection(Section):
    """Which model to serve and how vLLM should load it."""

    model: Annotated[str, BeforeValidator(as_line)] = Field(
        min_length=1,
        max_length=4096,
        description=(
            "Hugging Face model id (e.g. meta-llama/Llama-3.1-8B-Instruct) or a local "
            "directory holding the model's config.json. Looked up in a local directory "
            "first, then in the bundled catalog, then on the Hugging Face Hub."
        ),
        json_schema_extra={"cli": ["-m"]},
    )
    revision: OptionalText = Field(
        None, description="Hub revision (branch, tag or commit) to read the model's config from."
    )
    trust_remote_code: bool = Field(
        False,
        description=(
            "Pass --trust-remote-code to vLLM for models that ship custom code. The "
            "wizard itself only reads config.json and safetensors headers and never "
            "runs code from a model repository."
        ),
    )
    dtype: DtypeName = Field(
        "auto",
        description=(
            "Weight and activation dtype, in vLLM's own values. 'auto' takes the "
            "checkpoint's torch_dtype (float16 on GPUs without bfloat16)."
        ),
    )
    quantization: Annotated[Quantization | None, BeforeValidator(as_optional_choice)] = Field(
        None,
        description=(
            "Quantization method. Empty: the checkpoint's own quantization_config. "
            "'fp8' on an unquantized checkpoint quantizes the linear layers online at "
            "load time; other methods must match what the checkpoint is."
        ),
        json_schema_extra={"cli": ["-q"]},
    )
    kv_cache_dtype: Annotated[KvCacheDtype | None, BeforeValidator(as_optional_choice)] = Field(
        None,
        description=(
            "KV-cache dtype. 'auto' stores the cache in the model dtype; 'fp8' "
            "halves it (1 byte per element). Empty: the wizard chooses (fp8 when the "
            "GPU supports it and the plan is limited by KV-cache memory)."
        ),
    )
    max_model_len: MaxModelLen = Field(
        None,
        description=(
            "Maximum tokens per request (prompt + output) vLLM accepts, written as vLLM takes it "
            "(8192, 8k, 8K) or with separators (8,192). Empty: the model's maximum when the KV "
            "cache can hold one such request, otherwise the longest length that fits. 'auto' "
            "or -1: let vLLM fit it to memory at start-up."
        ),
    )
    params_b: OptionalNumber = Field(
        None,
        gt=0,
        le=1e6,
        description=(
            "Override the parameter count, in billions, used for the weights. The "
            "architecture (layers, heads, KV cache) still comes from the model's config."
        ),
    )

    @field_validator("dtype", mode="before")
    @classmethod
    def _dtype_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _DTYPE_ALIASES.get(value.strip().lower(), value.strip().lower())
        return value

    @field_validator("max_model_len")
    @classmethod
    def _positive_len(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and not 1 <= value <= MAX_TOKENS:
            raise ValueError(f"must be 1 to {MAX_TOKENS:,} tokens, or 'auto' (got {value:,})")
        return value


class HardwareSection(Section):
    """Which GPUs, how many, and how they are split."""

    gpu: OptionalText = Field(
        None,
        description=(
            "GPU model from the catalog, by name or alias, case-insensitive (H100, "
            "'H100 PCIe', 'A100 80GB', A100-40GB, 'RTX 4090', L40S, MI300X, ...). "
            "'auto' or empty: the GPUs detected on this machine through NVML."
        ),
    )
    gpus: Count = Field(1, ge=1, le=MAX_GPUS, description="Number of GPUs per node.")
    nodes: Count = Field(1, ge=1, le=MAX_GPUS, description="Number of nodes, each with the GPUs per node above.")
    vram_gb: OptionalNumber = Field(
        None,
        gt=0,
        le=MAX_GIB,
        description=(
            "GPU memory in GiB as CUDA reports it (nvidia-smi's MiB / 1024), for a GPU "
            "not in the catalog; with a catalog GPU named, it overrides that GPU's memory."
        ),
    )
    interconnect: Annotated[Interconnect, BeforeValidator(as_choice)] = Field(
        "auto",
        description=(
            "GPU-to-GPU link: 'nvlink' (NVLink/NVSwitch or AMD Infinity Fabric), "
            "'pcie' (PCIe with peer-to-peer), 'pcie-no-p2p' (consumer cards). 'auto' "
            "takes the GPU's usual link from the catalog."
        ),
    )
    tensor_parallel_size: OptionalCount = Field(
        None,
        ge=1,
        le=MAX_GPUS,
        description=(
            "GPUs each layer is split over. Must divide the attention heads. Empty: "
            "the smallest size that holds the model and the workload."
        ),
        json_schema_extra={"cli": ["--tp"]},
    )
    pipeline_parallel_size: OptionalCount = Field(
        None,
        ge=1,
        le=MAX_GPUS,
        description=(
            "Pipeline stages the layers are split into (usually one per node). Empty: "
            "1, or one stage per node when the model needs more than one node."
        ),
        json_schema_extra={"cli": ["--pp"]},
    )
    data_parallel_size: OptionalCount = Field(
        None,
        ge=1,
        le=MAX_GPUS,
        description=(
            "Engines that each serve their share of the requests with their own KV cache, each as wide as the "
            "tensor-parallel size (vLLM's --data-parallel-size). Empty: 1, or for a mixture-of-experts model "
            "the data-parallel + expert-parallel layout when it holds much more KV cache."
        ),
        json_schema_extra={"cli": ["--dp"]},
    )
    enable_expert_parallel: OptionalBool = Field(
        None,
        description=(
            "Spread whole experts over every GPU (tensor x data parallel) instead of slicing each expert "
            "(vLLM's --enable-expert-parallel; mixture-of-experts models). Empty: the planner decides."
        ),
    )
    replicas: Count = Field(
        1,
        ge=1,
        le=MAX_GPUS,
        description=(
            "Identical deployments of these GPUs behind one load balancer that splits the requests evenly "
            "(no prefix-cache affinity): the fleet's rate and throughput are this many times one's."
        ),
    )


class WorkloadSection(Section):
    """What the deployment has to serve, as `vllm bench serve` sends it."""

    prompt_tokens: Count = Field(1024, ge=1, le=MAX_TOKENS, description=(
        "Prompt length in tokens (the mean for spread lengths; vllm bench's --random-input-len)."))
    gen_tokens: Count = Field(256, ge=1, le=MAX_TOKENS, description=(
        "Output tokens per request (the mean for spread lengths; vllm bench's --random-output-len)."))
    concurrency: OptionalCount = Field(
        16,
        ge=1,
        le=10**7,
        description=(
            "Requests in flight at once (vllm bench's --max-concurrency): a closed loop, a new one as one ends. "
            "Empty: no cap. With a request rate and no concurrency given, there is no cap."
        ),
        json_schema_extra={"cli": ["-c", "--max-concurrency"]},
    )
    request_rate: OptionalRate = Field(
        None,
        gt=0,
        description=(
            "Requests sent per second (vllm bench's --request-rate; gamma arrivals shaped by the burstiness). "
            "'inf': every prompt at once (a burst, as vllm bench's default). Empty: a closed loop at the concurrency."
        ),
    )
    num_prompts: Count = Field(200, ge=1, le=100_000, description=(
        "Requests in the run (vllm bench's --num-prompts, whose own default is 1000): the simulation "
        "serves them all. 200 settles a closed loop; a burst is exactly this many prompts."))
    burstiness: Rate = Field(1.0, gt=0, description=(
        "Shape of the gaps between requests at a finite rate (vllm bench's --burstiness): 1 is Poisson, "
        "below 1 burstier, 'inf' evenly spaced."))
    length_distribution: Annotated[LengthDistribution, BeforeValidator(as_choice)] = Field("fixed", description=(
        "How prompt and output lengths vary: 'fixed' (every request the same), 'random' (uniform within "
        "the range ratio, as vllm bench's random dataset), 'sharegpt' (a ShareGPT-like spread with the "
        "means above)."))
    range_ratio: Number = Field(0.0, ge=0, lt=1, description=(
        "Spread of 'random' lengths (vllm bench's --random-range-ratio): each length is drawn "
        "uniformly from mean x (1 - ratio) to mean x (1 + ratio)."))
    seed: Count = Field(0, ge=0, le=2**32 - 1, description="Random seed of the arrivals and lengths (vllm bench's --seed).")
    batching_mode: Annotated[BatchingMode, BeforeValidator(as_choice)] = Field(
        "balanced",
        description=(
            "'latency': small batches and prefill chunks for a low time per token; "
            "'balanced': vLLM's own defaults for the GPU; 'throughput': twice vLLM's "
            "defaults for the most tokens per second."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _a_rate_lifts_the_default_cap(cls, data: Any) -> Any:
        """vllm bench has no cap unless --max-concurrency is given: a rate without a concurrency is uncapped."""
        if isinstance(data, dict) and data.get("request_rate") not in (None, "") and "concurrency" not in data:
            return {**data, "concurrency": None}
        return data

    @property
    def requests_at_once(self) -> int:
        """Requests the KV cache must hold at once: the concurrency; without a cap, one (vLLM queues the rest)."""
        return self.concurrency or 1

    @property
    def bursty(self) -> bool:
        """Every prompt sent at once (rate inf) with no cap on requests in flight."""
        return self.request_rate is not None and math.isinf(self.request_rate) and self.concurrency is None


class Targets(Section):
    """What the deployment must achieve; empty means no target. Requests meeting all latency targets count as goodput."""

    max_ttft_ms: OptionalNumber = Field(None, gt=0, le=1e9, description="Longest acceptable mean time to first token, in ms.")
    max_itl_ms: OptionalNumber = Field(
        None, gt=0, le=1e9, description="Longest acceptable mean time per output token (vllm bench's TPOT), in ms.")
    min_output_tokens_per_s: OptionalNumber = Field(
        None, gt=0, le=1e12, description="Aggregate output tokens per second the deployment must sustain.")
    min_request_rate: OptionalNumber = Field(
        None, gt=0, le=1e6, description="Requests per second the deployment must sustain without its queue growing.")


class PolicySection(Section):
    """Memory policy and vLLM scheduler limits."""

    gpu_memory_utilization: OptionalNumber = Field(
        None,
        gt=0,
        le=1,
        description=(
            "Fraction of each GPU's total memory vLLM may use (weights, activations, "
            "CUDA graphs and KV cache). Empty: vLLM's default 0.92, or 0.90 on consumer "
            "cards that also drive a display."
        ),
    )
    max_num_seqs: OptionalCount = Field(
        None, ge=1, le=MAX_TOKENS, description="Most sequences vLLM schedules in one step. Empty: set by the batching mode."
    )
    max_num_batched_tokens: OptionalCount = Field(
        None,
        ge=1,
        le=MAX_TOKENS,
        description=(
            "Most tokens in one engine step (the chunked-prefill budget); it sizes the "
            "activation memory vLLM reserves. Empty: set by the batching mode."
        ),
    )
    enforce_eager: OptionalBool = Field(
        None,
        description=(
            "Run without CUDA graphs: saves their memory, costs speed at small batches. "
            "Empty: only when CUDA graphs would not fit."
        ),
    )
    kv_cache_memory_bytes: OptionalCount = Field(
        None,
        ge=1,
        le=MAX_GIB * 1024**3,
        description=(
            "KV-cache bytes per GPU, instead of sizing the pool from the memory utilization "
            "(vLLM 0.10.2+; 20G means 20 GiB). vLLM's start-up log suggests a value. Empty: "
            "the pool is what the utilization leaves."
        ),
        json_schema_extra={"cli": ["--kv-cache-memory"]},
    )
    vllm_install: Annotated[VllmInstall, BeforeValidator(as_choice)] = Field(
        "image",
        description=(
            "How vLLM is installed: 'image' (the vllm/vllm-openai container the artifacts run, "
            "which bundles FlashInfer and the Triton MoE kernels) or 'pip' (pip install vllm: "
            "before 0.12 that left both out, so the sampler's start-up peak is larger and "
            "gpt-oss loads padded for Marlin on Hopper)."
        ),
    )
    vllm_version: Annotated[str, BeforeValidator(as_release)] = Field(
        VLLM_VERSION,
        description=(
            "The vLLM release to plan for: memory accounting and defaults follow it (V0 engine "
            "before 0.8; CUDA graphs inside the budget from 0.21) and the Docker image is pinned "
            f"to it. Default {VLLM_VERSION}, the release the emitted flags are checked against."
        ),
    )
    port: Count = Field(8000, ge=1, le=65535, description="Port the vLLM server listens on (and the artifacts publish).")
    overhead_gb: Number = Field(
        0.0,
        ge=0,
        le=MAX_GIB,
        description=(
            "Extra GiB per GPU to reserve inside vLLM's budget for anything the model "
            "does not know about (e.g. a LoRA adapter pool). 0 by default: weights, "
            "activations, non-torch memory and CUDA graphs are already counted."
        ),
    )
    fragmentation_factor: Number = Field(
        1.0,
        ge=1.0,
        le=2.0,
        description=(
            "Multiplier on KV-cache bytes per token for a safety margin. 1.0 by default: "
            "vLLM's paged KV cache wastes at most part of one 16-token block per request, "
            "which is already counted."
        ),
    )
    headroom_gb: Number = Field(
        0.0,
        ge=0,
        le=MAX_GIB,
        description=(
            "KV-cache GiB per GPU that must stay free at the requested concurrency and "
            "context for the plan to count as fitting. 0 by default."
        ),
    )
