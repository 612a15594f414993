#!/usr/bin/env python3
"""Regenerate wizard/data/measured/*.json from the published measurements they bundle.

Maintainer script (CI never runs it; wizard/ never imports it).  Two sources:

* ``vllm_perf_results.json``: every usable row of the calibration set
  ``shared/truth/vllm_perf_results.csv`` (--truth);
* ``aiconfigurator.json``: the measured end-to-end vLLM runs in NVIDIA
  AIConfigurator's ``aiconfigurator_core/systems/silicon_sample.csv`` from the
  Apache-2.0 wheel aiconfigurator-core==0.12.0 (--aic: the unpacked wheel).
  Get it with ``pip download aiconfigurator-core==0.12.0 --no-deps
  --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.11
  -d /tmp/aic`` and unzip the wheel.

Each run keeps what the source says (model, GPU, version, weights) beside the
catalog model and GPU it is matched and replayed as.

    python benchmarks/build_measured_runs.py [--truth CSV] [--aic DIR] [--check]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path

from perf_accuracy import ALIASES, DEFAULT_CSV, number, workload

from wizard.catalog.gpus import find_gpu
from wizard.catalog.metadata import catalog_entry
from wizard.errors import WizardError
from wizard.physics import quant
from wizard.reality.measured import DATA_DIR, weight_format_of
from wizard.schema.measured import MeasuredCollection, MeasuredRun, SkippedRow

DEFAULT_AIC = Path("/tmp/aic-research/core")
AIC_VERSION = "0.12.0"
AIC_SAMPLE = "aiconfigurator_core/systems/silicon_sample.csv"
AIC_NOTICE = (f"Derived from NVIDIA AIConfigurator (aiconfigurator-core {AIC_VERSION}, systems/silicon_sample.csv), "
              "Apache-2.0, © NVIDIA CORPORATION & AFFILIATES; converted and filtered (Apache-2.0 section 4(b)): "
              "columns renamed and converted as listed under 'conversion', rows kept as listed under 'filtering'.")
# AIConfigurator system names -> catalog GPUs; b300_sxm and gb300 have no catalog entry.
AIC_SYSTEMS = {"h100_sxm": "H100 SXM 80GB", "h200_sxm": "H200 SXM 141GB", "b200_sxm": "B200", "gb200": "GB200"}
# Checkpoints the catalog holds under another id with the same architecture and shapes.
AIC_ALIASES = {
    "meta-llama/Llama-3.1-70B": "meta-llama/Llama-3.1-70B-Instruct",  # base model; the catalog holds the instruct
    "nvidia/Llama-3.1-8B-Instruct-FP8": "neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8",  # ModelOpt FP8 vs compressed-tensors FP8
}
# A 16-bit catalog checkpoint run with AIConfigurator's GEMM quantization: (--quantization, weights).
# NVFP4 runs of such models are left out: no catalog checkpoint holds those weights, so no plan matches them.
AIC_QUANT = {"": (None, "16-bit"), "fp8": ("fp8", "fp8")}


def catalog_model(published: str) -> tuple[str, str | None] | None:
    """(catalog id, --quantization) a published model is replayed as: itself when catalogued, else its alias."""
    if catalog_entry(published) is not None:
        return published, None
    model, quantization = ALIASES.get(published, (AIC_ALIASES.get(published, published), None))
    return (model, quantization) if catalog_entry(model) is not None else None


def checkpoint_format(model: str, quantization: str | None) -> quant.WeightFormat:
    """What vLLM loads for a catalog model with this --quantization (an error when it cannot)."""
    qc = catalog_entry(model)["config"].get("quantization_config")
    return quant.resolve(quant.from_checkpoint(qc), quantization)


def release_of(text: str) -> str | None:
    """A published release as X.Y.Z, or None when the text names none ('main', 'latest', 'not stated')."""
    match = re.match(r"\s*~?v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return f"{match.group(1)}.{match.group(2)}.{match.group(3) or 0}" if match else None


# ------------------------------------------------------------------ shared/truth/vllm_perf_results.csv

TRUTH_METRICS = {
    "request_throughput_per_s": "request_throughput_rps", "output_tokens_per_s": "output_tok_s",
    "total_tokens_per_s": "total_tok_s", "mean_ttft_ms": "mean_ttft_ms", "median_ttft_ms": "median_ttft_ms",
    "mean_tpot_ms": "mean_tpot_ms", "median_tpot_ms": "median_tpot_ms", "mean_itl_ms": "mean_itl_ms",
    "median_itl_ms": "median_itl_ms",
}


def lengths_kind(dataset: str) -> str:
    """How a row's prompt and output lengths are distributed, from its dataset's name."""
    text = dataset.lower()
    return "sharegpt" if "sharegpt" in text else "sonnet" if "sonnet" in text else "random"


def truth_run(row: dict[str, str]) -> MeasuredRun | str:
    """One calibration row as a run, or why it is left out."""
    wl = workload(row)
    if isinstance(wl, str):
        return wl
    mapped = catalog_model(row["model"])
    if mapped is None:
        return f"model not in the catalog: {row['model']}"
    gpu = find_gpu(re.sub(r"\(.*?\)", "", row["gpu"]).strip())
    if gpu is None:
        return f"GPU not in the catalog: {row['gpu']}"
    model, quantization = mapped
    if quantization is None and "fp8" in row["weight_quant"].lower() and catalog_entry(model)["config"].get("quantization_config") is None:
        quantization = "fp8"
    metrics = {field: number(row[column]) for field, column in TRUTH_METRICS.items() if number(row[column])}
    notes = [f"[{row['source_type']}] {row['notes'].strip()}".strip()]
    rate_text = row["request_rate"].lower()
    if "for tpot" in rate_text:  # TPOT at the stated rate, throughput at an infinite one: keep what the rate measured
        metrics.pop("request_throughput_per_s", None)
        notes.append(f"Request rate as published: {row['request_rate']}; the throughput (infinite rate) is left out.")
    if any("derived" in row[column] for column in TRUTH_METRICS.values()):
        notes.append("Figures marked 'derived' in the source row were computed by the collector, not printed by the tool.")
    if not metrics:
        return "no metrics"
    tp = int(number(row["tp"]) or number(row["gpu_count"]) or 1)
    pp = int(number(row["pp"]) or 1)
    rate = wl.get("request_rate")
    kind = "burst" if rate == "inf" else "rate" if rate else "concurrency"
    return MeasuredRun(
        id=row["id"], collection="vllm_perf_results", model=model, model_as_published=row["model"],
        quantization=quantization, weight_format=weight_format_of(checkpoint_format(model, quantization)),
        weight_quant_as_published=row["weight_quant"],
        kv_cache_dtype=("fp8" if row["kv_cache_dtype"].startswith("fp8") else "auto") if row["kv_cache_dtype"] else None,
        gpu=gpu.name, gpu_as_published=row["gpu"], gpu_count=tp * pp, tp=tp, pp=pp,
        vllm_version=release_of(row["vllm_version"]), vllm_version_as_published=row["vllm_version"],
        workload={
            "kind": kind, "num_prompts": int(number(row["num_prompts"]) or 0) or None,
            "request_rate_per_s": rate if kind == "rate" else None,
            "burstiness": 1.0 if kind == "rate" and "poisson" in rate_text else None,
            "max_concurrency": wl.get("concurrency"), "dataset": row["dataset"], "lengths": lengths_kind(row["dataset"]),
            "mean_input_tokens": number(row["mean_input_len"]), "mean_output_tokens": number(row["mean_output_len"]),
        },
        metrics=metrics, source=row["source"], confidence=row["confidence"], notes=" ".join(notes),
    )


def truth_collection(path: Path) -> MeasuredCollection:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    runs, skipped = [], []
    for row in rows:
        run = truth_run(row)
        if isinstance(run, str):
            skipped.append(SkippedRow(id=row["id"], reason=run))
        else:
            runs.append(run)
    return MeasuredCollection(
        collection="vllm_perf_results",
        description=("Published vLLM serving benchmarks (vllm bench serve / benchmark_serving output, blog figures, "
                     "issue and PR comments) collected for the planner's calibration, one run per usable row."),
        source=f"shared/truth/vllm_perf_results.csv ({len(rows)} rows, sha256 {sha256(path)[:16]}); each run names its publication",
        license="Facts transcribed from public posts; each run's 'source' names the publication.",
        attribution="The authors of each publication named in a run's 'source'.",
        conversion=[
            "id, source and confidence are the row's own; notes are '[source_type] notes'.",
            "model: the published name when the catalog holds it, else benchmarks/perf_accuracy.py ALIASES "
            "(same architecture and shapes), whose --quantization is kept; fp8 weights on an unquantized checkpoint "
            "are replayed as --quantization fp8 (online), as perf_accuracy.py does.",
            "workload kind as perf_accuracy.py classifies a row: a finite request rate is 'rate' (Poisson when the row "
            "says so), a max concurrency below the prompt count is 'concurrency', otherwise every prompt at once is 'burst'.",
            "Metrics are the row's numbers (approximate ones such as '~2' as their number); times in ms, throughputs per second.",
            "vllm_version: the leading X.Y[.Z] of the row's version text; 'main', 'latest' or 'not stated' leave it empty.",
            "kv_cache_dtype: empty when the row leaves it blank.",
        ],
        filtering=["Kept: catalog model and GPU, mean prompt and output lengths known, a workload kind, at least one metric."],
        skipped=skipped, runs=runs,
    )


# ------------------------------------------------------------------ AIConfigurator silicon_sample.csv


def aic_field(provenance: str, key: str) -> str | None:
    match = re.search(rf"(?:^|;\s*){key}=([^;]+)", provenance)
    return match.group(1).strip() if match else None


def aic_run(row: dict[str, str]) -> MeasuredRun:
    """One aggregated vLLM run of a catalog model on a catalog GPU."""
    model, _ = catalog_model(row["model_path"])
    checkpoint = checkpoint_format(model, None)
    notes = []
    if checkpoint.kind == "none":
        quantization, weights = AIC_QUANT[row["gemm_quant_mode"]]
    else:
        quantization, weights = None, weight_format_of(checkpoint)
    tp, pp = int(row["tp_size"]), int(row["pp_size"] or 1)
    moe_tp, moe_ep = int(row["moe_tp_size"] or 1) or 1, int(row["moe_ep_size"] or 1) or 1
    # GPUs = tp x attention dp = moe tp x moe ep; an empty attention dp follows from the MoE sizes.
    dp = int(row["attention_dp_size"]) if row["attention_dp_size"] not in ("", "0") else max(1, moe_tp * moe_ep // tp)
    provenance = row["silicon_data_source"]
    concurrency = int(aic_field(provenance, "silicon_concurrency") or int(row["batch_size"]) * dp)
    image = aic_field(provenance, "image") or next((p.strip() for p in provenance.split(";") if "vllm-openai:" in p), None)
    if image and "dynamo" in image:
        notes.append(f"Served through NVIDIA Dynamo's vLLM runtime ({image}).")
    if dp > 1:
        notes.append(f"{dp} data-parallel engines" + (" with expert parallelism." if moe_ep > 1 else ", experts tensor-parallel over all GPUs."))
    image_release = release_of(image.rsplit(":", 1)[1]) if image and "vllm-openai:v" in image else None
    measured = aic_field(provenance, "measured")
    return MeasuredRun(
        id=row["id"], collection="aiconfigurator", model=model, model_as_published=row["model_path"],
        quantization=quantization, weight_format=weights,
        weight_quant_as_published=f"{row['precision'] or 'default'} (gemm {row['gemm_quant_mode'] or '-'}, moe {row['moe_quant_mode'] or '-'})",
        gpu=AIC_SYSTEMS[row["system"]], gpu_as_published=row["system"], gpu_count=tp * pp * dp, tp=tp, pp=pp, dp=dp,
        ep=moe_ep, vllm_version=release_of(row["backend_version"]) or image_release,
        vllm_version_as_published=row["backend_version"] or (image or ""),
        workload={
            "kind": "concurrency", "max_concurrency": concurrency, "lengths": "fixed",
            "dataset": "aiperf synthetic, EOS ignored",
            "mean_input_tokens": float(row["isl"]), "mean_output_tokens": float(row["osl"]),
        },
        metrics={"mean_ttft_ms": round(float(row["silicon_ttft_ms"]), 3), "mean_tpot_ms": round(float(row["silicon_tpot_ms"]), 3)},
        source=f"aiconfigurator-core=={AIC_VERSION} {AIC_SAMPLE}",
        confidence="high" if row["backend_version"] or image_release else "medium",
        measured_on=measured[:10] if measured else None, notes=" ".join(notes),
    )


def aic_collection(root: Path) -> MeasuredCollection:
    path = root / AIC_SAMPLE
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    reasons: Counter[str] = Counter()
    kept: dict[tuple[str, ...], dict[str, str]] = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        if row["backend"] != "vllm":
            reasons[f"backend {row['backend']}"] += 1
        elif row["mode"] != "agg":
            reasons["disaggregated prefill/decode (not one vLLM deployment)"] += 1
        elif catalog_model(row["model_path"]) is None:
            reasons[f"model not in the catalog: {row['model_path']}"] += 1
        elif row["gemm_quant_mode"] not in AIC_QUANT and checkpoint_format(catalog_model(row["model_path"])[0], None).kind == "none":
            reasons[f"{row['gemm_quant_mode']} weights, which no catalog checkpoint of {row['model_path']} holds"] += 1
        elif row["system"] not in AIC_SYSTEMS:
            reasons[f"GPU not in the catalog: {row['system']}"] += 1
        elif not float(row["silicon_ttft_ms"] or 0) or not float(row["silicon_tpot_ms"] or 0):
            reasons["no TTFT/TPOT"] += 1
        else:
            key = tuple(row[k] for k in row if k not in ("id", "silicon_data_source"))
            if key in kept:
                reasons["same configuration and numbers as a row of a later dump (kept once)"] += 1
            kept[key] = row  # ids sort by dump date: the later dump's row wins
    runs = [aic_run(row) for row in sorted(kept.values(), key=lambda r: r["id"])]
    return MeasuredCollection(
        collection="aiconfigurator",
        description=("NVIDIA AIConfigurator's measured end-to-end vLLM serving runs ('silicon' data) of models and GPUs "
                     "the catalog holds. The step cost's weight streaming and per-layer overhead were fitted on its dense "
                     "runs at TP 1-8, and the block-FP8 MoE overhead on its Qwen3-235B-FP8 runs (wizard/physics/perf.py); "
                     "for the rest, a check of generalisation."),
        source=f"aiconfigurator-core=={AIC_VERSION} (PyPI wheel), {AIC_SAMPLE} ({len(rows)} rows, sha256 {sha256(path)[:16]})",
        license="Apache-2.0 (aiconfigurator-core package metadata: License-Expression Apache-2.0); "
                "the licence text is LICENSE-aiconfigurator.md beside this file",
        attribution=AIC_NOTICE,
        conversion=[
            "Each row is one closed-loop benchmark of an aggregated (mode agg) deployment. The file records isl, osl "
            "and the concurrency C only; AIConfigurator's own benchmark recipes (its generator's aiperf templates) send "
            "synthetic prompts of isl tokens with no spread and osl output tokens with EOS ignored, C requests in "
            "flight, streaming, warm-up requests excluded, so the runs are read as fixed lengths at concurrency C. "
            "The request count is not recorded.",
            "max_concurrency = C from 'silicon_concurrency=' in silicon_data_source (batch_size is C per attention-DP rank).",
            "silicon_ttft_ms -> mean_ttft_ms and silicon_tpot_ms -> mean_tpot_ms (ms per request; TPOT excludes the first "
            "token). The file does not name the statistic; AIConfigurator compares them with its predicted TTFT and TPOT, "
            "and its aiperf recipe reports per-request averages, so they are kept as means (rounded to 0.001 ms).",
            "tp = tp_size, pp = pp_size, dp = attention_dp_size (empty: moe_tp_size x moe_ep_size / tp_size, as GPUs = "
            "tp x attention dp = moe tp x moe ep), ep = moe_ep_size; gpu_count = tp x pp x dp.",
            "vllm_version = backend_version, else the vllm/vllm-openai image tag in silicon_data_source; measured_on = its "
            "'measured=' date. Confidence high with a known release, medium without.",
            "Weights: the catalog checkpoint's own format for quantized checkpoints (gpt-oss MXFP4, Qwen3-235B FP8); on "
            "16-bit checkpoints gemm_quant_mode fp8 -> --quantization fp8 (online), empty -> 16-bit. AIConfigurator labels "
            "gpt-oss's FP4 'nvfp4'; its checkpoint's experts are MXFP4.",
            "model: the catalog id when catalogued, else the same architecture the catalog holds: "
            + "; ".join(f"{k} -> {v}" for k, v in AIC_ALIASES.items()) + ".",
            "kv_cache_dtype is not recorded (left empty).",
        ],
        filtering=[f"Kept {len(runs)} of {len(rows)} rows: backend vllm, mode agg, a catalog model and GPU, weights a "
                   "catalog checkpoint of the model holds (as is or by online FP8), measured TTFT and TPOT."]
        + [f"Left out {count}: {why}" for why, count in reasons.most_common()],
        runs=runs,
    )


# ------------------------------------------------------------------ output


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dump(collection: MeasuredCollection) -> str:
    """The file's text: the header indented, lists of records one record per line (compact; a diff is one line per run)."""
    parts = []
    for key, value in collection.model_dump(exclude_defaults=True).items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            items = ",\n".join("    " + json.dumps(item, ensure_ascii=False, separators=(",", ":")) for item in value)
            parts.append(f"  {json.dumps(key)}: [\n{items}\n  ]")
        else:
            parts.append(f"  {json.dumps(key)}: " + json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  "))
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--truth", type=Path, default=DEFAULT_CSV, help="shared/truth/vllm_perf_results.csv")
    parser.add_argument("--aic", type=Path, default=DEFAULT_AIC, help="the unpacked aiconfigurator-core wheel")
    parser.add_argument("--check", action="store_true", help="only report whether the bundled files are current")
    args = parser.parse_args(argv)
    for path in (args.truth, args.aic / AIC_SAMPLE):
        if not path.exists():
            print(f"missing source: {path}", file=sys.stderr)
            return 2
    try:
        built = {"vllm_perf_results.json": truth_collection(args.truth), "aiconfigurator.json": aic_collection(args.aic)}
    except WizardError as exc:
        print(f"cannot convert: {exc}", file=sys.stderr)
        return 1
    stale = 0
    for name, collection in built.items():
        path, text = DATA_DIR / name, dump(collection)
        current = path.exists() and path.read_text() == text
        stale += not current
        if not args.check and not current:
            DATA_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        counts = Counter((run.gpu, run.model) for run in collection.runs)
        print(f"{name}: {len(collection.runs)} runs, {len(text) // 1024} KiB, {'current' if current else 'stale' if args.check else 'written'}")
        for (gpu, model), count in sorted(counts.items()):
            print(f"  {count:4d}  {gpu:<16} {model}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
