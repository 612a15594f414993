"""The schema: request models (every input, with the text of its help) and response models (every result).

``from wizard.schema import X`` is the one import for both; the modules are
``request`` (what a face may ask) and ``plan`` (what a plan answers).
"""

from wizard.schema.plan import (
    Artifacts,
    Feasibility,
    FrontierPoint,
    GpuMemory,
    HardwareReport,
    MemoryReport,
    ModelReport,
    PerformanceReport,
    PlanResponse,
    Range,
    Recommendation,
    Setting,
    Suggestion,
)
from wizard.schema.request import (
    SECTIONS,
    VLLM_VERSION,
    BatchingMode,
    DtypeName,
    HardwareSection,
    Interconnect,
    KvCacheDtype,
    ModelSection,
    PlanRequest,
    PolicySection,
    Quantization,
    Targets,
    WorkloadSection,
    field_info,
    iter_fields,
    parse_request,
    parse_targets,
)

__all__ = [
    "SECTIONS", "VLLM_VERSION", "Artifacts", "BatchingMode", "DtypeName", "Feasibility", "FrontierPoint", "GpuMemory",
    "HardwareReport", "HardwareSection", "Interconnect", "KvCacheDtype", "MemoryReport", "ModelReport", "ModelSection",
    "PerformanceReport", "PlanRequest", "PlanResponse", "PolicySection", "Quantization", "Range", "Recommendation",
    "Setting", "Suggestion", "Targets", "WorkloadSection", "field_info", "iter_fields", "parse_request", "parse_targets",
]
