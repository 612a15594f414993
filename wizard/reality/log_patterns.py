"""The patterns that read a vLLM start-up log: worker tags, engine and version lines, settings, memory lines.

Each table lists a value's wordings from the oldest release to the newest (see
``reality/startup_log.py`` for which release prints which); ``NUM`` matches a
number as vLLM prints it, thousands commas allowed.
"""

from __future__ import annotations

import re

NUM = r"(-?\d[\d,]*(?:\.\d+)?)"
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Worker tags: V0 "(VllmWorkerProcess pid=…)", Ray workers, V1 "(VllmWorker rank=1 pid=…)",
# "(VllmWorker TP1 pid=…)", "(Worker_TP1 pid=…)", "(Worker_DP0_TP1_EP1 pid=…)", "(EngineCore_DP1 …)".
WORKER_TAG_RE = re.compile(
    r"VllmWorkerProcess|RayWorkerWrapper|VllmWorker (?:rank=|TP)\d+"
    r"|\b(?:Worker|EngineCore)(?:_[A-Z]*\d+)+"
)

ENGINE_INIT_RE = re.compile(
    r"Initializing an? (?:(V[01]) )?LLM engine (?:\(v([^)]*)\) )?with config: (.*)"
)
NON_DEFAULT_ARGS_RE = re.compile(r"non-default args: (\{.*\})")
NAMESPACE_RE = re.compile(r"\bargs: Namespace\((.*)\)")
VERSION_RES = (
    re.compile(r"vLLM (?:API )?server version (\d[\w.+-]*\w)"),
    re.compile(r"█\s+version\s+(\d[\w.+-]*\w)"),  # the ASCII-art banner
)
MODEL_RES = (
    re.compile(r"vLLM server version \S+ serving model (\S+)"),
    re.compile(r"█\s+model\s+(\S+)"),
    re.compile(r"Starting to load model (\S+?)\.\.\."),
)
V1_MARKERS_RE = re.compile(
    r"gpu_worker\.py|gpu_model_runner\.py|\bEngineCore|VllmWorker (?:rank=|TP)|\bWorker_"
    r"|Available KV cache memory|KV cache size: |Free memory on device"
)
V0_MARKERS_RE = re.compile(
    r"VllmWorkerProcess|Memory profiling results|model weights take|# CPU blocks"
    r"|\bworker\.py|\bmodel_runner\.py|Loading model weights took"
)

WEIGHTS_RES = (
    re.compile(rf"(?:Model loading|Loading model weights) took {NUM} ?Gi?B"),
    re.compile(rf"model weights take\s+{NUM} ?GiB"),
    re.compile(rf"{NUM} GiB for weight\b"),
)
FREE_MEMORY_RE = re.compile(rf"Free memory on device \({NUM}/{NUM} GiB\)")
TOTAL_RES = (
    re.compile(rf"total_gpu_memory[=\s(]+{NUM} ?GiB"),
    FREE_MEMORY_RE,
)
REQUESTED_RE = re.compile(rf"Desired GPU memory utilization is \({NUM}, {NUM} GiB\)")
GMU_RES = (
    re.compile(rf"gpu_memory_utilization[=\s(]+{NUM}"),
    re.compile(rf"Desired GPU memory utilization is \({NUM},"),
)
ACTIVATION_RES = (
    re.compile(rf"PyTorch activation peak memory(?: takes)?\s+{NUM} ?GiB"),
    re.compile(rf"{NUM} GiB for peak activation"),
)
NON_TORCH_RES = (
    re.compile(rf"non_torch_memory(?: takes)?[=\s]+{NUM} ?GiB"),
    re.compile(rf"{NUM} GiB for non-torch memory"),
)
PEAK_TORCH_RE = re.compile(rf"peak_torch_memory={NUM} ?GiB")
CONSUMED_RE = re.compile(rf"{NUM} GiB for consumed memory \(weights \+ non-torch\)")
CUDA_GRAPH_RES = (
    re.compile(rf"{NUM} GiB for CUDAGraph memory"),
    re.compile(rf"CUDA graph pool memory: {NUM} GiB \(actual\)"),
    re.compile(rf"Graph capturing finished in \S+ secs?, took {NUM} GiB"),
)
CUDA_GRAPH_ESTIMATE_RES = (
    re.compile(rf"CUDA graph pool memory: {NUM} GiB \(actual\), {NUM} GiB \(estimated\)"),
    re.compile(rf"Estimated CUDA graph memory: {NUM} GiB total"),
)
KV_GIB_RES = (
    re.compile(rf"Available KV cache memory: {NUM} ?GiB"),
    re.compile(rf"reserved for KV Cache is {NUM} ?GiB"),
    re.compile(rf"kv_cache_size={NUM} ?GiB"),
    re.compile(rf"Current kv cache memory in use is {NUM} GiB"),
)
KV_BYTES_RE = re.compile(rf"Current kv cache memory in use is {NUM} bytes")
SUGGESTED_FIT_RE = re.compile(rf"--kv-cache-memory={NUM}`(?: \({NUM} GiB\))? to fit into requested memory")
SUGGESTED_FULL_RE = re.compile(rf"--kv-cache-memory={NUM}`(?: \({NUM} GiB\))? to fully utilize gpu memory")
KV_TOKENS_RE = re.compile(rf"KV cache size: {NUM} tokens")
GPU_BLOCKS_RE = re.compile(rf"(?:GPU|CUDA|cuda) blocks: {NUM}")
CONCURRENCY_RE = re.compile(rf"Maximum concurrency for {NUM} tokens per request: {NUM}x")

# Settings as vLLM's engine config line, args Namespace and non-default args name them.
SETTING_KEYS = (
    "model", "tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "enable_expert_parallel",
    "max_model_len", "max_seq_len",
    "dtype", "quantization", "kv_cache_dtype", "enforce_eager", "gpu_memory_utilization",
    "max_num_seqs", "max_num_batched_tokens", "block_size",
)
