"""Weight formats: how many bytes a weight matrix takes once vLLM has loaded it.

A :class:`WeightFormat` is read from a checkpoint's ``quantization_config`` or
chosen online (``--quantization fp8``).  It knows which tensors it covers
(linear layers and experts; embeddings, LM head, norms, routers and biases
stay in the model dtype) and the bytes of each covered matrix including its
scales, zero points and any padding the serving kernels need.
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Mapping

from wizard.errors import WizardError
from wizard.physics.lazy import fields_hash, lazy_property
from wizard.physics.params import Tensor

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
_GLOB_CHARS = frozenset("*?[")  # what makes an ignore entry a pattern rather than a module name (fnmatch)
MXFP4_BLOCK = 32  # elements per E8M0 scale (OCP MX spec; vllm .../quantization/mxfp4.py mxfp4_block)


def _round_up(value: int, multiple: int) -> int:
    return math.ceil(value / multiple) * multiple


@dataclass(frozen=True)
class Mxfp4Kernel:
    """How one vLLM MXFP4 MoE backend stores a layer's experts once loaded.

    vLLM pads the hidden and per-rank intermediate sizes for the backend when it
    creates the expert tensors (``mxfp4_round_up_hidden_size_and_intermediate_size``
    in vllm/model_executor/layers/fused_moe/oracle/mxfp4.py), then converts them
    (``convert_gpt_oss_weight_to_mxfp4_moe_kernel_format``).  The OpenAI Triton
    kernels swizzle values and scales into new tensors with their own alignment;
    until vLLM 0.25 the original scale tensors stayed registered beside the copies.
    """

    name: str
    hidden_multiple: int = 1
    intermediate_multiple: int = 1
    bias_bytes: int = 2  # the expert biases: bf16, or fp32 for Triton/TRT-LLM
    value_rows_multiple: int = 1  # swizzled value matrix (rows = outputs, cols = packed input bytes)
    value_bytes_multiple: int = 1
    scale_rows_multiple: int = 1  # swizzled scale matrix (rows = outputs, cols = input / 32)
    scale_cols_multiple: int = 1
    scales_kept: bool = False  # the checkpoint-layout scales stay allocated beside the swizzled ones

    def expert_bytes(self, outputs: int, inputs: int) -> int:
        """Bytes of one expert matrix of ``outputs`` x ``inputs`` (both already padded) with its scales."""
        values = _round_up(outputs, self.value_rows_multiple) * _round_up(inputs // 2, self.value_bytes_multiple)
        scale_cols = inputs // MXFP4_BLOCK
        scales = _round_up(outputs, self.scale_rows_multiple) * _round_up(scale_cols, self.scale_cols_multiple)
        if self.scales_kept:
            scales += outputs * scale_cols
        return values + scales


# Marlin (vllm/model_executor/layers/quantization/utils/marlin_utils_fp4.py,
# prepare_moe_mxfp4_layer_for_marlin): n % 256 and k % 128 -> hidden padded to 256,
# intermediate to 128; repacked values keep their size, scales become one
# float8_e8m0 byte per 32, biases stay in the model dtype.  Logs: gpt-oss-120b
# 65.9651 GiB on H100 (vLLM 0.10.1), gpt-oss-20b 13.72 GiB on A100 (0.19).
MXFP4_MARLIN = Mxfp4Kernel("marlin", hidden_multiple=256, intermediate_multiple=128)


def _triton_hopper(value_prepad: int, scales_kept: bool) -> Mxfp4Kernel:
    """OpenAI Triton kernels on Hopper (vllm/third_party/triton_kernels, HopperMX*Layout).

    Intermediate padded to 64 (the backend's round-up), biases cast to fp32.
    HopperMXValueLayout tiles the packed values in 16 rows x 32 bytes (0.17-0.21
    vendor a copy that first pads both to 64); HopperMXScaleLayout with 8 warps
    pads scale rows to 2 x 8 x 2 x 8 = 256 and scale columns to 2.
    """
    return Mxfp4Kernel(
        "triton (Hopper swizzle)", intermediate_multiple=64, bias_bytes=4,
        value_rows_multiple=max(16, value_prepad), value_bytes_multiple=max(32, value_prepad),
        scale_rows_multiple=256, scale_cols_multiple=2, scales_kept=scales_kept,
    )


# gpt-oss-120b on one H100 loaded 64.38 GiB and gpt-oss-20b 13.47 GiB with the
# Triton backend (a public H100 profiling note); the 0.12-0.16 layout gives 64.33 and 13.44.
MXFP4_TRITON_HOPPER = _triton_hopper(value_prepad=1, scales_kept=True)  # 0.12-0.16, 0.22-0.24
MXFP4_TRITON_HOPPER_PREPAD = _triton_hopper(value_prepad=64, scales_kept=True)  # 0.17-0.21
MXFP4_TRITON_HOPPER_FREED = _triton_hopper(value_prepad=1, scales_kept=False)  # 0.25+: "del layer.w13_weight_scale"
# FlashInfer TRT-LLM-gen on datacenter Blackwell: hidden to 256, intermediate to
# 256 (128 from 0.27), shuffled copies replace the originals, biases in fp32.
MXFP4_TRTLLM = Mxfp4Kernel("flashinfer trtllm", hidden_multiple=256, intermediate_multiple=256, bias_bytes=4)
MXFP4_TRTLLM_128 = Mxfp4Kernel("flashinfer trtllm", hidden_multiple=256, intermediate_multiple=128, bias_bytes=4)
# ROCm: Triton kernels with strided layouts (views, no copies), both sizes padded to 256.
MXFP4_ROCM_TRITON = Mxfp4Kernel("triton (ROCm)", hidden_multiple=256, intermediate_multiple=256, bias_bytes=4)


# The vllm/vllm-openai images carried triton_kernels for gpt-oss before pip's vLLM bundled it:
# a public H100 profile of the v0.11.0 image loaded gpt-oss-120b in 64.38 GiB, the Triton
# layout (64.33 GiB here), where pip's 0.11 loads the Marlin layout (65.97 GiB logged).
IMAGE_TRITON_KERNELS_SINCE = (0, 10, 2)


def mxfp4_kernel(cc: tuple[int, int] | None, vendor: str, version: tuple[int, int, int],
                 image: bool = False) -> Mxfp4Kernel:
    """The MXFP4 MoE backend vLLM picks on a GPU, as its selector does.

    CUDA before Hopper and consumer Blackwell (SM12x, ordered after Marlin) get
    Marlin.  Hopper gets the Triton kernels once vLLM bundles them (0.12.0;
    before, triton_kernels was an optional install, so pip users got Marlin,
    while the container images shipped it: ``image``).  Datacenter Blackwell
    gets FlashInfer TRT-LLM once FlashInfer is a required dependency (0.12.0).
    AMD GPUs get the Triton kernels.
    """
    if vendor.upper() == "AMD":
        return MXFP4_ROCM_TRITON
    hopper_image = image and cc is not None and (9, 0) <= cc < (10, 0) and version >= IMAGE_TRITON_KERNELS_SINCE
    if cc is None or cc < (9, 0) or cc >= (11, 0) or (version < (0, 12, 0) and not hopper_image):
        return MXFP4_MARLIN
    if cc >= (10, 0):
        return MXFP4_TRTLLM_128 if version >= (0, 27, 0) else MXFP4_TRTLLM
    if version >= (0, 25, 0):
        return MXFP4_TRITON_HOPPER_FREED
    if (0, 17, 0) <= version < (0, 22, 0):
        return MXFP4_TRITON_HOPPER_PREPAD
    return MXFP4_TRITON_HOPPER


@dataclass(frozen=True)
class WeightFormat:
    """How covered weight matrices are stored on the GPU."""

    method: str  # vLLM --quantization value, or "none"
    label: str  # human description, e.g. "AWQ 4-bit, group 128"
    bits: int = 16
    kind: str = "none"  # none | int | float | mxfp4 | nvfp4 | bnb
    group_size: int | None = None  # elements per scale along the input dim
    block: tuple[int, int] | None = None  # (rows, cols) per scale, block formats
    per_channel: bool = False
    zero_points: bool = False
    double_quant: bool = False
    act_bits: int = 16  # activation bits: 8 means W8A8 (compute in fp8/int8)
    experts_only: bool = False
    ignore: tuple[str, ...] = field(default_factory=tuple)
    online: bool = False  # quantized by vLLM at load time from a 16-bit checkpoint

    def __hash__(self) -> int:
        return self._hash

    @lazy_property
    def _hash(self) -> int:
        """The fields' hash, computed once: formats key the per-layer caches every sweep candidate asks (an FP8
        checkpoint's ignore list names hundreds of modules: Qwen3-235B-A22B-FP8's 283, 1.7 us to hash each time)."""
        return fields_hash(self)

    @lazy_property
    def _ignored_names(self) -> frozenset[str]:
        """The ignore entries that are plain module names (most are): looked up in a set, not matched by a regex."""
        return frozenset(p for p in self.ignore if not p.startswith("re:") and not _GLOB_CHARS.intersection(p))

    @lazy_property
    def _ignored(self) -> re.Pattern[str] | None:
        """The other ignore patterns as one regex: globs match a module or anything under it, 're:' ones as written."""
        parts = []
        for pattern in self.ignore:
            if pattern.startswith("re:"):
                parts.append(f"(?:{pattern[3:]})")
            elif pattern not in self._ignored_names:
                glob = fnmatch.translate(pattern).removesuffix(r"\Z").removeprefix("(?s:").removesuffix(")")
                parts.append(f"(?:{glob}(?:\\..*)?)")
                parts.append(f"(?:.*\\.{re.escape(pattern)})")  # a bare module name matches at the end of a path
        return re.compile("(?:" + "|".join(parts) + ")$") if parts else None  # '$' anchors every alternative

    def _is_ignored(self, path: str) -> bool:
        """A plain name matches the path, anything under it, or the path's last modules; the rest as the regex says."""
        names = self._ignored_names
        if names and (path in names or any(path[:i] in names or path[i + 1:] in names
                                           for i, c in enumerate(path) if c == ".")):
            return True
        return bool(self._ignored and self._ignored.match(path))

    @lazy_property
    def layer_specific(self) -> bool:
        """Whether an ignore pattern names particular layers (then layers are sized one by one)."""
        return any(p.startswith("re:") or re.search(r"layers\.\d", p) for p in self.ignore)

    def covers(self, tensor: Tensor, layer: int | None) -> bool:
        """Whether this format applies to the tensor (else it stays in the model dtype)."""
        if self.kind == "none" or tensor.kind not in ("linear", "expert"):
            return False
        if self.experts_only and tensor.kind != "expert":
            return False
        if not self.ignore:
            return True
        path = tensor.module if layer is None else f"model.layers.{layer}.{tensor.module}"
        if path not in self._ignore_memo:
            self._ignore_memo[path] = self._is_ignored(path)
        return not self._ignore_memo[path]

    @lazy_property
    def _ignore_memo(self) -> dict[str, bool]:
        """Paths already matched against the ignore patterns (plans size the same layers many times)."""
        return {}

    def matrix_bytes(self, rows: int, cols: int, expert: str | None = None,
                     kernel: Mxfp4Kernel = MXFP4_MARLIN) -> int:
        """Bytes of one ``rows`` x ``cols`` matrix in this format.

        ``expert`` is "gate_up" (rows = 2 x intermediate, cols = hidden) or
        "down" (rows = hidden, cols = intermediate) for fused-MoE expert weights,
        which MXFP4 stores as ``kernel`` lays them out.
        """
        n = rows * cols
        if self.kind == "mxfp4":
            if expert == "gate_up":
                inter = _round_up(rows // 2, kernel.intermediate_multiple)
                return kernel.expert_bytes(2 * inter, _round_up(cols, kernel.hidden_multiple))
            if expert == "down":
                inter = _round_up(cols, kernel.intermediate_multiple)
                return kernel.expert_bytes(_round_up(rows, kernel.hidden_multiple), inter)
            return n // 2 + n // MXFP4_BLOCK  # 4-bit values + one E8M0 scale per 32
        if self.kind == "nvfp4":
            return n // 2 + n // 16 + 8  # 4-bit values + FP8 scale per 16 + two fp32 globals
        if self.kind == "bnb":
            if self.bits == 8:
                return n + rows * 4
            absmax = n // 64 * (1 if self.double_quant else 4)
            return n // 2 + absmax + (math.ceil(n / 64 / 256) * 4 if self.double_quant else 0)
        data = math.ceil(n * self.bits / 8)
        if self.block:
            return data + math.ceil(rows / self.block[0]) * math.ceil(cols / self.block[1]) * 4
        if self.group_size:
            groups = math.ceil(cols / self.group_size) * rows
            zeros = math.ceil(groups * self.bits / 8) if self.zero_points else 0
            g_idx = cols * 4 if self.method.startswith("gptq") else 0
            return data + groups * 2 + zeros + g_idx
        if self.per_channel:
            return data + rows * 4
        return data + 8  # one weight scale and one input scale

    def tensor_bytes(self, tensor: Tensor, layer: int | None, dtype_bytes: int,
                     kernel: Mxfp4Kernel = MXFP4_MARLIN) -> int:
        """Bytes of a tensor on one GPU: covered matrices in this format, the rest in the model dtype.

        ``kernel`` is the MXFP4 MoE backend, which also pads and retypes the expert biases.
        """
        if self.covers(tensor, layer):
            role = None
            if tensor.kind == "expert":
                role = "gate_up" if "gate_up" in tensor.module else "down"
            return tensor.count * self.matrix_bytes(tensor.rows, tensor.cols, role, kernel)
        if self.kind == "mxfp4" and tensor.kind == "expert_bias":
            multiple = kernel.intermediate_multiple if "gate_up" in tensor.module else kernel.hidden_multiple
            rows = 2 * _round_up(tensor.rows // 2, multiple) if "gate_up" in tensor.module else _round_up(tensor.rows, multiple)
            return tensor.count * rows * kernel.bias_bytes
        return tensor.params * dtype_bytes


NONE = WeightFormat(method="none", label="unquantized")

ONLINE_FP8 = WeightFormat(
    method="fp8", label="FP8 (online, per-tensor scales)", bits=8, kind="float", act_bits=8, online=True
)


def _compressed_tensors(qc: Mapping[str, Any]) -> WeightFormat:
    groups = qc.get("config_groups") or {}
    weights = None
    acts = None
    for group in groups.values():
        if isinstance(group, Mapping) and group.get("weights"):
            weights, acts = group["weights"], group.get("input_activations")
            break
    if weights is None:
        raise WizardError("compressed-tensors quantization_config has no weights scheme in config_groups")
    bits = int(weights.get("num_bits", 8))
    wtype = weights.get("type", "int")
    strategy = weights.get("strategy", "tensor")
    act_bits = int(acts["num_bits"]) if isinstance(acts, Mapping) and acts.get("num_bits") else 16
    ignore = tuple(qc.get("ignore") or ())
    if wtype == "float" and bits == 4:
        return WeightFormat(method="compressed-tensors", label="NVFP4 (compressed-tensors)", bits=4, kind="nvfp4", act_bits=act_bits, ignore=ignore)
    block = tuple(weights["block_structure"]) if strategy == "block" and weights.get("block_structure") else None
    label = f"{'FP' if wtype == 'float' else 'INT'}{bits} weights" + (f", {act_bits}-bit activations" if act_bits < 16 else "") + " (compressed-tensors)"
    return WeightFormat(
        method="compressed-tensors",
        label=label,
        bits=bits,
        kind=wtype,
        group_size=int(weights["group_size"]) if strategy == "group" and weights.get("group_size") else None,
        block=block,  # type: ignore[arg-type]
        per_channel=strategy == "channel",
        zero_points=not weights.get("symmetric", True),
        act_bits=act_bits,
        ignore=ignore,
    )


def _modelopt(qc: Mapping[str, Any]) -> WeightFormat:
    inner = qc.get("quantization") if isinstance(qc.get("quantization"), Mapping) else qc
    algo = str(inner.get("quant_algo") or "").upper()
    ignore = tuple(inner.get("exclude_modules") or qc.get("exclude_modules") or ())
    if "FP4" in algo:
        return WeightFormat(method="modelopt_fp4", label="NVFP4 (ModelOpt)", bits=4, kind="nvfp4", act_bits=4, ignore=ignore)
    if "FP8" in algo:
        return WeightFormat(method="modelopt", label="FP8 (ModelOpt)", bits=8, kind="float", act_bits=8, ignore=ignore)
    raise WizardError(f"ModelOpt quant_algo {algo or '(missing)'} is not supported by the planner")


def from_checkpoint(qc: Mapping[str, Any] | None) -> WeightFormat:
    """The weight format a checkpoint's ``quantization_config`` declares (one shared instance per config)."""
    global _last_read
    if not qc:
        return NONE
    if _last_read is not None and _last_read[0] is qc:  # a sweep asks once per candidate, of the same config
        return _last_read[1]
    fmt = _from_checkpoint(json.dumps(qc, sort_keys=True, default=str))
    _last_read = (qc, fmt)  # holds the config, so its identity stays unique
    return fmt


_last_read: tuple[Mapping[str, Any], WeightFormat] | None = None


@cache
def _from_checkpoint(config_json: str) -> WeightFormat:
    qc = json.loads(config_json)
    method = str(qc.get("quant_method") or ("modelopt" if isinstance(qc.get("quantization"), Mapping) else "")).lower()
    if method == "awq":
        bits, group = int(qc.get("bits", qc.get("w_bit", 4))), int(qc.get("group_size", qc.get("q_group_size", 128)))
        return WeightFormat(
            method="awq", label=f"AWQ {bits}-bit, group {group}", bits=bits, kind="int", group_size=group,
            zero_points=bool(qc.get("zero_point", True)), ignore=tuple(qc.get("modules_to_not_convert") or ()),
        )
    if method == "gptq":
        bits, group = int(qc.get("bits", 4)), int(qc.get("group_size", 128))
        return WeightFormat(
            method="gptq", label=f"GPTQ {bits}-bit" + (f", group {group}" if group > 0 else ", per channel"),
            bits=bits, kind="int", group_size=group if group > 0 else None, per_channel=group <= 0,
            zero_points=True,
        )
    if method == "fp8":
        block = qc.get("weight_block_size")
        return WeightFormat(
            method="fp8", label="FP8" + (f", {block[0]}x{block[1]} block scales" if block else " (per-tensor scales)"),
            bits=8, kind="float", block=tuple(block) if block else None, act_bits=8,  # type: ignore[arg-type]
            ignore=tuple(qc.get("ignored_layers") or qc.get("modules_to_not_convert") or ()),
        )
    if method == "compressed-tensors":
        return _compressed_tensors(qc)
    if method == "mxfp4":
        return WeightFormat(method="mxfp4", label="MXFP4 experts (other layers bf16)", bits=4, kind="mxfp4", experts_only=True)
    if method == "bitsandbytes":
        bits = 8 if qc.get("load_in_8bit") else 4
        return WeightFormat(
            method="bitsandbytes", label=f"bitsandbytes {bits}-bit", bits=bits, kind="bnb",
            double_quant=bool(qc.get("bnb_4bit_use_double_quant")),
            ignore=tuple(qc.get("llm_int8_skip_modules") or ()),
        )
    if method in ("modelopt", "modelopt_fp4"):
        return _modelopt(qc)
    raise WizardError(
        f"the checkpoint's quantization method {method or '(unnamed)'!r} is not modelled by the planner "
        "(supported: awq, gptq, fp8, compressed-tensors, mxfp4, bitsandbytes, modelopt)"
    )


# vLLM --quantization values that name the same checkpoint format as quant_method.
_COMPATIBLE = {
    "awq": {"awq", "awq_marlin"},
    "gptq": {"gptq", "gptq_marlin"},
    "fp8": {"fp8"},
    "compressed-tensors": {"compressed-tensors"},
    "mxfp4": {"mxfp4"},
    "bitsandbytes": {"bitsandbytes"},
    "modelopt": {"modelopt"},
    "modelopt_fp4": {"modelopt_fp4"},
}


def resolve(checkpoint: WeightFormat, requested: str | None) -> WeightFormat:
    """The format vLLM will load: the checkpoint's, or online FP8 on a 16-bit checkpoint.

    A requested method that does not match the checkpoint is an error, never a
    silent change: vLLM cannot turn a bf16 checkpoint into AWQ at load time.
    """
    if requested is None:
        return checkpoint
    if checkpoint.kind == "none":
        if requested == "fp8":
            return ONLINE_FP8
        raise WizardError(
            f"{requested} needs a checkpoint quantized with {requested}; this one is "
            "unquantized. Use 'fp8' (vLLM quantizes online) or pick a pre-quantized checkpoint.", field="quantization"
        )
    if requested not in _COMPATIBLE.get(checkpoint.method, {checkpoint.method}):
        raise WizardError(
            f"{requested} does not match the checkpoint, which is {checkpoint.label} "
            f"(quant_method {checkpoint.method}); leave it empty to use the checkpoint's own.", field="quantization"
        )
    return checkpoint


def dtype_bytes(dtype: str) -> int:
    return DTYPE_BYTES[dtype]
