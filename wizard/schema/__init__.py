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
    LatencyDistribution,
    MemoryReport,
    ModelReport,
    Percentiles,
    PerformanceReport,
    PlanResponse,
    Range,
    Recommendation,
    Setting,
    Suggestion,
    TimelinePoint,
)
from wizard.schema.request import (
    SECTIONS,
    PlanRequest,
    field_info,
    iter_fields,
    parse_request,
)
from wizard.schema.sections import (
    VLLM_VERSION,
    BatchingMode,
    DtypeName,
    HardwareSection,
    Interconnect,
    KvCacheDtype,
    ModelSection,
    PolicySection,
    Quantization,
    Targets,
    WorkloadSection,
)

__all__ = [
    "SECTIONS", "VLLM_VERSION", "Artifacts", "BatchingMode", "DtypeName", "Feasibility", "FrontierPoint", "GpuMemory",
    "HardwareReport", "LatencyDistribution", "Percentiles", "TimelinePoint", "HardwareSection", "Interconnect", "KvCacheDtype", "MemoryReport", "ModelReport", "ModelSection",
    "PerformanceReport", "PlanRequest", "PlanResponse", "PolicySection", "Quantization", "Range", "Recommendation",
    "Setting", "Suggestion", "Targets", "WorkloadSection", "field_info", "iter_fields", "parse_request",
]
