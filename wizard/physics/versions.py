"""What changes between vLLM releases in the memory model, and from which release.

The planner follows vLLM 0.33.0 by default.  Start-up logs of older releases
differ in four ways that move the KV pool by gigabytes, so a plan can name the
release it targets (``--vllm-version``):

* V0 engine (before 0.8): no chunked prefill below 32K context, so the
  profiling run covers ``max(max_model_len, 2048)`` tokens; 256 sequences.
* CUDA-graph memory is estimated and subtracted from the budget since 0.21
  (vllm/v1/worker/gpu_worker.py log: "CUDA graph memory profiling is enabled
  (default since v0.21.0)"); before, graphs were captured outside it.
* The default ``gpu_memory_utilization`` is 0.92 in recent releases
  (vllm/config/cache.py in 0.33.0; printed by 0.26/0.28/0.31 logs), 0.90 before.
* The dummy sampler run's memory (fp32 logits copies per max_num_seqs x vocab
  entry): 9.6-9.9 copies on V0 and V1 up to 0.11 (sort-based top-p, 8 H100
  logs + 5 V0 logs), 1-4 on 0.26-0.28 (FlashInfer sampler only; a 0.24 RTX 4090
  log needs it too, so the era is taken to start with 0.21), 11.8 on a 0.31 log
  after the PyTorch-native path was warmed in profiling; 0.33's native path
  masks top-k/top-p in place (~4.5 copies by reading the code).
  V1 from 0.8 to 0.11 used FlashInfer's sampler whenever FlashInfer was
  installed (vllm/v1/sample/ops/topk_topp_sampler.py: ``VLLM_USE_FLASHINFER_SAMPLER
  is not False``, unset = on): the Docker images ship it, ``pip install vllm``
  did not (an extra until 0.12, which made the sampler opt-in instead).

Three more differences change what a plan reports rather than the pool:
``--kv-cache-memory-bytes`` exists from 0.10.2; sliding-window layers reserve
for every batch in flight from 0.26 (one chunk before); and the printed
"GPU KV cache size" of hybrid models follows kv.reported_kv_tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from wizard.errors import WizardError

VLLM_VERSION = "0.33.0"
"""The vLLM release whose memory accounting, defaults and flags the planner follows."""


@dataclass(frozen=True)
class Release:
    """The memory-relevant behaviour of one vLLM release."""

    version: tuple[int, int, int]
    engine: str  # "V0" or "V1"
    default_utilization: float
    cuda_graphs_in_budget: bool
    sampler_copies: tuple[float, float, float]  # low / expected / high fp32 copies per logit
    v0_chunked_prefill_tokens: int  # V0: batch budget when chunked prefill turns on (> 32K context)
    sliding_reserves_in_flight: bool  # sliding windows reserve every in-flight batch (0.26+)
    kv_cache_memory_bytes: bool  # --kv-cache-memory-bytes exists (V1 0.10.2+, vllm/config/cache.py)
    async_scheduling: bool  # step k+1 scheduled while step k runs, by default (V1 0.12+: vllm PR #27614)
    async_with_pipeline: bool  # ... with pipeline parallelism too (0.15+: vllm PR #32359)

    @property
    def label(self) -> str:
        return ".".join(map(str, self.version))


_SORT_SAMPLER = (8.0, 9.7, 10.5)  # V0 / V1 <= 0.25: sort-based top-p/top-k
_FLASHINFER_SAMPLER = (1.0, 2.0, 4.0)  # 0.21-0.28 (0.26-0.28 logs measure 1.1-2.1)
_WARMED_NATIVE_SAMPLER = (4.5, 9.0, 11.8)  # 0.29+: native path warmed during profiling


def parse_version(version: str) -> tuple[int, int, int]:
    """``"0.33.0"``, ``"v0.6.4.post1"`` -> (major, minor, patch); anything else is an error."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:[.+-].*)?", version.strip())
    if not match:
        raise WizardError(f"vllm_version {version!r} is not a release number like 0.33.0")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


@cache
def release(version: str = VLLM_VERSION, pre_ampere: bool = False, flashinfer_installed: bool = False) -> Release:
    """The behaviour of the named release (any 0.x.y from 0.4 on) on a GPU.

    ``pre_ampere``: GPUs below compute capability 8.0 (V100, T4) ran the V0
    engine until V0 was removed in 0.11, because V1 needed Ampere.
    ``flashinfer_installed``: FlashInfer is present although the release did not
    require it (the vllm/vllm-openai images before 0.12); V1 0.8-0.11 then samples
    with FlashInfer and its profiling peak loses the sort-based copies.
    """
    v = parse_version(version)
    if v < (0, 4, 0):
        raise WizardError(f"vLLM {version} is older than the planner models (0.4 and newer)")
    if v > parse_version(VLLM_VERSION):
        return release(VLLM_VERSION, pre_ampere, flashinfer_installed)
    engine = "V0" if v < (0, 8, 0) or (pre_ampere and v < (0, 11, 0)) else "V1"
    if engine == "V1" and v < (0, 12, 0) and flashinfer_installed:
        sampler = _FLASHINFER_SAMPLER
    elif v < (0, 21, 0) or engine == "V0":
        sampler = _SORT_SAMPLER
    elif v < (0, 29, 0):
        sampler = _FLASHINFER_SAMPLER
    else:
        sampler = _WARMED_NATIVE_SAMPLER
    return Release(
        version=v,
        engine=engine,
        default_utilization=0.92 if v >= (0, 21, 0) else 0.90,
        cuda_graphs_in_budget=v >= (0, 21, 0),
        sampler_copies=sampler,
        v0_chunked_prefill_tokens=512 if v < (0, 7, 0) else 2048,
        sliding_reserves_in_flight=v >= (0, 26, 0),  # VllmConfig.max_in_flight_tokens first in 0.26.0
        kv_cache_memory_bytes=engine == "V1" and v >= (0, 10, 2),
        async_scheduling=engine == "V1" and v >= (0, 12, 0),
        async_with_pipeline=engine == "V1" and v >= (0, 15, 0),
    )
