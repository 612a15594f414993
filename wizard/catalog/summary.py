"""Summary rows of the bundled model catalog (CLI ``models`` and the Models page)."""

from __future__ import annotations

from functools import cache
from typing import Any

from wizard.catalog.metadata import _catalog, _from_catalog
from wizard.physics.params import count_params, mtp_params
from wizard.physics.quant import from_checkpoint


@cache
def model_rows() -> list[dict[str, Any]]:
    """One row per catalog model: size, architecture, context, KV bytes per token (bf16), notes."""
    rows = []
    for entry in _catalog().values():
        info = _from_catalog(entry)
        arch = info.arch
        fmt = from_checkpoint(arch.quantization_config)
        # The count a plan of this checkpoint reports (ModelReport.params_total): a published count only for
        # unquantized checkpoints, whose stored tensors are parameters (quantized ones add scales and packing).
        params = info.params_total if info.params_total and fmt.kind == "none" else count_params(arch) + mtp_params(arch)
        kinds = sorted(set(arch.layer_kinds))
        notes = [f"{arch.moe.num_experts} experts, top-{arch.moe.top_k}"] if arch.moe else []
        if "sliding" in kinds:
            notes.append(f"{arch.layer_kinds.count('sliding')}/{arch.num_layers} layers slide over {arch.sliding_window} tokens")
        if arch.multimodal:
            notes.append("multimodal (text config nested)")
        rows.append({
            "model": info.model,
            "params_b": round(params / 1e9, 2),
            "architecture": arch.architecture,
            "attention": f"{arch.attention} {arch.num_heads}/{arch.num_kv_heads}",
            "layers": arch.num_layers,
            "context": arch.max_model_len,
            "kv_bytes_per_token": arch.kv_bytes_per_token(2),  # bf16
            "quantization": fmt.label if fmt.kind != "none" else "-",
            "notes": "; ".join(notes),
        })
    return sorted(rows, key=lambda r: r["model"].lower())
