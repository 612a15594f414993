"""GPUs on this machine: NVML through nvidia-ml-py, with an ``nvidia-smi`` fallback.

Both sources can be injected (``nvml=`` a module-like object with pynvml's
functions, ``run=`` a ``subprocess.run`` stand-in) so detection is tested
without a GPU.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any, Callable

from wizard.catalog.gpus import GpuSpec, custom_gpu, find_gpu
from wizard.units import MIB

# NVML reports the whole board; CUDA's total is ~0.5 GiB lower on the cards we
# have logs for (see wizard/data/gpus/*.json cuda_total_source).
CUDA_RESERVED_GIB = 0.5


@dataclass(frozen=True)
class DetectedGpu:
    index: int
    name: str
    memory_total_mib: float
    memory_used_mib: float
    driver: str | None
    source: str  # "nvml" or "nvidia-smi"

    def spec(self) -> GpuSpec:
        """The catalog entry for this GPU, or a custom one sized from its memory."""
        known = find_gpu(self.name)
        if known is not None:
            return known
        return custom_gpu(round(self.memory_total_mib / 1024 - CUDA_RESERVED_GIB, 2))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _from_nvml(nvml: Any) -> list[DetectedGpu]:
    nvml.nvmlInit()
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        found = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            found.append(
                DetectedGpu(
                    index=index,
                    name=_text(nvml.nvmlDeviceGetName(handle)),
                    memory_total_mib=memory.total / MIB,
                    memory_used_mib=memory.used / MIB,
                    driver=driver,
                    source="nvml",
                )
            )
        return found
    finally:
        nvml.nvmlShutdown()


def _from_nvidia_smi(run: Callable[..., Any]) -> list[DetectedGpu]:
    result = run(
        ["nvidia-smi", "--query-gpu=index,name,memory.total,memory.used,driver_version", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    found = []
    for line in result.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 5:
            continue
        found.append(DetectedGpu(int(parts[0]), parts[1], float(parts[2]), float(parts[3]), parts[4], "nvidia-smi"))
    return found


def detect_gpus(nvml: Any = None, run: Callable[..., Any] = subprocess.run) -> list[DetectedGpu]:
    """GPUs visible here; an empty list when there are none (never raises)."""
    try:
        if nvml is None:
            import pynvml as nvml  # nvidia-ml-py
        return _from_nvml(nvml)
    except Exception:  # no driver, no library, no GPU: try nvidia-smi next
        pass
    try:
        return _from_nvidia_smi(run)
    except Exception:  # nvidia-smi missing or failing: no GPUs
        return []
