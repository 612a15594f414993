"""Everything resolved before the search: the model, its weight format, the GPUs, the release, fixed choices."""

from __future__ import annotations

from dataclasses import dataclass

from wizard.catalog.detect import DetectedGpu, detect_gpus
from wizard.catalog.gpus import GpuSpec, custom_gpu, get_gpu
from wizard.catalog.metadata import ModelInfo, resolve_model
from wizard.errors import WizardError
from wizard.physics import quant
from wizard.physics.arch import VERIFIED_MODEL_TYPES, Architecture
from wizard.physics.params import count_params, mtp_params
from wizard.physics.versions import Release, release
from wizard.planning import recommend
from wizard.planning.recommend import Choice
from wizard.schema import PlanRequest

UNMODELLED_THRESHOLD = 0.003  # checkpoint tensors beyond the config's count worth reporting (0.3%)


@dataclass(frozen=True)
class Hardware:
    gpu: GpuSpec
    gpus_per_node: int
    nodes: int
    interconnect: str
    detected: bool
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inputs:
    """Everything resolved before the search: model, weights format, GPUs, release, fixed choices."""

    request: PlanRequest
    info: ModelInfo
    fmt: quant.WeightFormat
    hw: Hardware
    rel: Release
    dtype: Choice
    util: Choice
    extra_params: int
    params_scale: float

    @property
    def arch(self) -> Architecture:
        return self.info.arch

    @property
    def planned_len(self) -> int:
        """max_model_len as far as it is known before memory is sized (the model's limit unless given)."""
        requested = self.request.model.max_model_len
        return requested if isinstance(requested, int) else self.arch.max_model_len


def _hardware(request: PlanRequest, detected: list[DetectedGpu] | None) -> Hardware:
    hw = request.hardware
    warnings: list[str] = []
    if hw.gpu in (None, "", "auto"):
        found = detected if detected is not None else detect_gpus()
        if not found:
            if hw.vram_gb:
                return Hardware(custom_gpu(hw.vram_gb), hw.gpus, hw.nodes, _link(hw.interconnect, "pcie"), False)
            raise WizardError("none given and none detected on this machine: name a GPU (e.g. H100) or give its memory",
                              field="gpu")
        specs = [g.spec() for g in found]
        gpu = min(specs, key=lambda s: s.cuda_total_gib)
        if len({s.name for s in specs}) > 1:
            warnings.append(f"mixed GPUs detected ({', '.join(sorted({s.name for s in specs}))}); planning for the smallest, {gpu.name}")
        if hw.vram_gb:
            gpu = custom_gpu(hw.vram_gb, gpu)
        count = hw.gpus if "gpus" in hw.model_fields_set else len(found)
        return Hardware(gpu, count, hw.nodes, _link(hw.interconnect, gpu.interconnect), True, tuple(warnings))
    gpu = get_gpu(hw.gpu)
    if hw.vram_gb:
        gpu = custom_gpu(hw.vram_gb, gpu)
    return Hardware(gpu, hw.gpus, hw.nodes, _link(hw.interconnect, gpu.interconnect), False)


def _link(requested: str, default: str) -> str:
    return default if requested == "auto" else requested


def _weight_format(info: ModelInfo, request: PlanRequest, gpu: GpuSpec) -> quant.WeightFormat:
    fmt = quant.resolve(quant.from_checkpoint(info.arch.quantization_config), request.model.quantization)
    if fmt.kind in ("float", "mxfp4", "nvfp4") and fmt.bits <= 8 and not gpu.ampere_or_newer:
        raise WizardError(f"{fmt.label} needs compute capability 8.0 or newer; {gpu.name} is {gpu.compute_capability}")
    return fmt


def weight_params(info: ModelInfo, request: PlanRequest, fmt: quant.WeightFormat) -> tuple[int, int, float, list[str]]:
    """(extra unmodelled params, params vLLM loads, weight scale, notes)."""
    arch = info.arch
    counted = count_params(arch)
    notes: list[str] = []
    if arch.model_type not in VERIFIED_MODEL_TYPES:
        notes.append(
            f"model_type {arch.model_type!r} is not among the families checked against published parameter counts; "
            "weights assume a Llama-style layout (gated MLP, RMSNorm)."
        )
    extra = 0
    loaded = counted
    stored = info.params_loaded if info.params_loaded is not None else (
        info.params_total - mtp_params(arch) if info.params_total else None)
    if stored and fmt.kind == "none":
        diff = stored - counted
        tied_head = arch.vocab_size * arch.hidden_size
        if arch.tie_word_embeddings and abs(diff - tied_head) <= UNMODELLED_THRESHOLD * counted:
            # The checkpoint stores the LM head although the config ties it: vLLM loads it once.
            diff = 0
            notes.append("The checkpoint stores a copy of the tied LM head; vLLM ties it to the embedding and loads it once.")
        if diff > UNMODELLED_THRESHOLD * counted:
            extra = diff
            loaded = stored
            notes.append(
                f"The checkpoint holds {diff / 1e9:.2f}B parameters the text config does not describe "
                "(e.g. a vision tower); counted in the model dtype, split over TP."
            )
        elif diff < -UNMODELLED_THRESHOLD * counted:
            notes.append(
                f"The checkpoint holds {stored:,} parameters but the config describes {counted:,}; weights follow the config."
            )
    scale = 1.0
    if request.model.params_b:
        target = request.model.params_b * 1e9
        scale = target / (counted + extra)
        loaded = int(target)
        notes.append(f"Parameter count overridden to {request.model.params_b:g}B (weights scaled by {scale:.3f}); architecture from config.json.")
    return extra, loaded, scale, notes


def resolve_inputs(request: PlanRequest, detected: list[DetectedGpu] | None = None,
                   info: ModelInfo | None = None) -> Inputs:
    """Resolve the model, GPUs, release, weight format, dtype and utilization of a request.

    ``info``: the request's model (and revision) already resolved, e.g. once for a sweep's every candidate."""
    info = info or resolve_model(request.model.model, request.model.revision)
    hw = _hardware(request, detected)
    pol = request.policy
    rel = release(pol.vllm_version, pre_ampere=not hw.gpu.ampere_or_newer, flashinfer_installed=pol.vllm_install == "image")
    if pol.kv_cache_memory_bytes is not None and not rel.kv_cache_memory_bytes:
        raise WizardError(f"vLLM {rel.label} ({rel.engine}) has no such setting: it arrived with the V1 engine in 0.10.2",
                          field="kv_cache_memory_bytes")
    fmt = _weight_format(info, request, hw.gpu)
    extra, _, scale, _ = weight_params(info, request, fmt)
    return Inputs(
        request=request,
        info=info,
        fmt=fmt,
        hw=hw,
        rel=rel,
        dtype=recommend.dtype(request.model.dtype, info.arch, hw.gpu),
        util=recommend.utilization(request.policy.gpu_memory_utilization, hw.gpu, rel),
        extra_params=extra,
        params_scale=scale,
    )
