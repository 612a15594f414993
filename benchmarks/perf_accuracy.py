#!/usr/bin/env python3
"""Performance estimates against published vLLM serving benchmarks.

Replays every usable row of ``../shared/truth/vllm_perf_results.csv`` (or
--csv): the row's model, GPUs, TP, weight format, vLLM release and workload
(closed loop with --max-concurrency, Poisson request rate, or all prompts at
once) go through the planner and the performance estimator; the table shows
predicted and measured time per output token (mean TPOT, else median TPOT,
else ITL), output tokens/s and TTFT, the error, and whether the measurement
falls inside the estimate's [low, high] range.

--source bundled replays the runs bundled in wizard/data/measured/ instead,
one table per source: the calibration rows again, and NVIDIA AIConfigurator's
measured runs, which the estimator was not calibrated on (a generalisation check).

    python benchmarks/perf_accuracy.py [--csv PATH | --source bundled] [--verbose]
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from wizard.catalog.gpus import find_gpu
from wizard.catalog.metadata import catalog_entry
from wizard.errors import WizardError
from wizard.physics import perf
from wizard.planning.assemble import step_model
from wizard.planning.inputs import resolve_inputs
from wizard.planning.search import search
from wizard.reality.logcheck import release_version
from wizard.reality.measured import collections
from wizard.schema import PlanRequest, parse_request
from wizard.schema.measured import MeasuredRun

DEFAULT_CSV = Path(__file__).resolve().parents[2] / "shared" / "truth" / "vllm_perf_results.csv"

# Published runs name checkpoints the catalog holds under another id, or with the
# same architecture (speed depends on shapes, not on training): (catalog id, --quantization).
# Llama 3 (not 3.1) has an 8K context, which decides V0's chunked prefill.
CONTEXT = {"meta-llama/Meta-Llama-3-8B-Instruct": 8192, "meta-llama/Meta-Llama-3-70B-Instruct": 8192}
ALIASES = {
    "Qwen/Qwen3-235B-A22B-Instruct-2507": ("Qwen/Qwen3-235B-A22B", None),
    "Qwen/Qwen3-235B-A22B-Instruct-2507-FP8": ("Qwen/Qwen3-235B-A22B", "fp8"),
    "deepseek-ai/DeepSeek-R1-0528": ("deepseek-ai/DeepSeek-R1", None),
    "neuralmagic/Meta-Llama-3.1-8B-FP8": ("neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8", None),
    "Meta-Llama-3.1-70B-Instruct-FP8": ("meta-llama/Llama-3.1-70B-Instruct", "fp8"),
    "Llama 3.1 8B": ("meta-llama/Llama-3.1-8B-Instruct", None),
    "Llama 3.1 70B": ("meta-llama/Llama-3.1-70B-Instruct", None),
    "meta-llama/Meta-Llama-3-8B-Instruct": ("meta-llama/Llama-3.1-8B-Instruct", None),
    "meta-llama/Meta-Llama-3-70B-Instruct": ("meta-llama/Llama-3.1-70B-Instruct", None),
    "Llama 7B (Llama-2-7B class)": ("meta-llama/Llama-2-7b-hf", None),
}
TPOT_TOLERANCE = 0.25
THROUGHPUT_TOLERANCE = 0.30
TTFT_TOLERANCE = 0.50  # TTFT is mostly queueing under load: a looser bar than TPOT's


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def number(text: str) -> float | None:
    match = re.search(r"-?\d+(?:\.\d+)?", (text or "").replace(",", ""))
    return float(match.group(0)) if match else None


@dataclass
class Case:
    row: str
    label: str
    tpot: tuple[float, float, float, float] | None  # low, expected, high, measured (ms)
    output: tuple[float, float] | None  # expected, measured tokens/s
    ttft: tuple[float, float] | None  # expected, measured ms
    note: str


def workload(row: dict[str, str]) -> perf.Workload | str:
    prompt, gen = number(row["mean_input_len"]), number(row["mean_output_len"])
    if not prompt or not gen:
        return "no prompt/output lengths"
    prompts = int(number(row["num_prompts"]) or 0) or None
    rate_text = row["request_rate"].strip().lower()
    conc_text = row["max_concurrency"].strip().lower()
    concurrency = int(number(conc_text)) if conc_text and not conc_text.startswith(("none", "max-num-seqs")) and number(conc_text) else None
    kw = {"prompt_tokens": int(prompt), "gen_tokens": int(gen)}
    if rate_text and not rate_text.startswith("inf") and number(rate_text):
        return perf.Workload(request_rate=number(rate_text), **kw)
    if concurrency and (prompts is None or concurrency < prompts):
        return perf.Workload(concurrency=concurrency, **kw)
    if prompts:
        return perf.Workload(burst=prompts, concurrency=concurrency, **kw)
    return "no concurrency, rate or prompt count"


def request_for(row: dict[str, str]) -> PlanRequest | str:
    model, quant = ALIASES.get(row["model"], (row["model"], None))
    entry = catalog_entry(model)
    if entry is None:
        return f"model not in the catalog: {row['model'][:50]}"
    gpu = find_gpu(re.sub(r"\(.*?\)", "", row["gpu"]).strip())
    if gpu is None:
        return f"GPU not in the catalog: {row['gpu'][:30]}"
    tp = int(number(row["tp"]) or number(row["gpu_count"]) or 1)
    values: dict[str, object] = {
        "model": entry["hf_id"], "gpu": gpu.name, "gpus": tp, "tensor_parallel_size": tp,
        "vllm_version": release_version(row["vllm_version"], None), "kv_cache_dtype": "fp8" if row["kv_cache_dtype"].startswith("fp8") else "auto",
        "enforce_eager": False,
    }
    quant = quant or ("fp8" if "fp8" in row["weight_quant"].lower() and entry["config"].get("quantization_config") is None else None)
    if quant:
        values["quantization"] = quant
    if row["model"] in CONTEXT:
        values["max_model_len"] = CONTEXT[row["model"]]
    if "max-num-seqs" in row["max_concurrency"]:
        values["max_num_seqs"] = int(number(row["max_concurrency"]))
    return parse_request(values)


def replay(row_id: str, request: PlanRequest, wl: perf.Workload,
           tpot_ms: float | None, output_tok_s: float | None, ttft_ms: float | None) -> Case | str:
    """One measurement through the planner and the estimator, or why the planner refused it."""
    request = request.model_copy(update={"workload": request.workload.model_copy(update={
        "prompt_tokens": wl.prompt_tokens, "gen_tokens": wl.gen_tokens, "concurrency": wl.concurrency or wl.burst or 1})})
    try:
        inp = resolve_inputs(request, detected=[])
        cand = search(inp).candidate
    except WizardError as exc:
        return f"planner refused: {exc}"
    model = step_model(inp, cand)
    half, _ = perf.spread(model, inp.hw.gpu)
    result = perf.estimate(model, cand.engine, cand.memory, wl, half)
    kind = "burst" if wl.burst else ("rate" if wl.request_rate else "conc")
    label = f"{inp.arch.architecture[:18]} {inp.info.model.split('/')[-1][:22]} {inp.hw.gpu.name[:10]}x{cand.engine.tp} {kind}"
    return Case(
        row=row_id,
        label=label,
        tpot=(*result.itl_ms, tpot_ms) if tpot_ms else None,
        output=(result.output_tokens_per_s[1], output_tok_s) if output_tok_s else None,
        ttft=(result.ttft_ms[1], ttft_ms) if ttft_ms else None,
        note=(f"in {wl.prompt_tokens} out {wl.gen_tokens} C={wl.concurrency} R={wl.request_rate} N={wl.burst} "
              f"batch {result.batch:.0f} seqs {cand.engine.max_num_seqs} v{inp.rel.label}"),
    )


def evaluate(path: Path) -> tuple[list[Case], list[tuple[str, str]]]:
    cases, skipped = [], []
    for row in rows(path):
        wl = workload(row)
        request = request_for(row)
        if isinstance(wl, str) or isinstance(request, str):
            skipped.append((row["id"], wl if isinstance(wl, str) else request))
            continue
        measured = next((number(row[k]) for k in ("mean_tpot_ms", "median_tpot_ms", "mean_itl_ms", "median_itl_ms") if number(row[k])), None)
        case = replay(row["id"], request, wl, measured, number(row["output_tok_s"]),
                      number(row["mean_ttft_ms"]) or number(row["median_ttft_ms"]))
        if isinstance(case, str):
            skipped.append((row["id"], case))
        else:
            cases.append(case)
    return cases, skipped


def run_request(run: MeasuredRun) -> PlanRequest | str:
    """The request that replays a bundled run: its catalog model, GPU, layout, weights and release."""
    if run.dp > 1:
        return f"{run.dp} data-parallel engines: the planner plans one engine"
    values: dict[str, object] = {
        "model": run.model, "gpu": run.gpu, "gpus": run.tp * run.pp, "tensor_parallel_size": run.tp,
        "pipeline_parallel_size": run.pp, "vllm_version": run.vllm_version or release_version(None, None),
        "kv_cache_dtype": run.kv_cache_dtype or "auto", "enforce_eager": False,
    }
    if run.quantization:
        values["quantization"] = run.quantization
    if run.model_as_published in CONTEXT:
        values["max_model_len"] = CONTEXT[run.model_as_published]
    return parse_request(values)


def evaluate_bundled() -> dict[str, tuple[list[Case], list[tuple[str, str]]]]:
    """Every bundled run replayed, per source file."""
    results = {}
    for collection in collections():
        cases, skipped = [], []
        for run in collection.runs:
            w, m = run.workload, run.metrics
            wl = perf.Workload(
                prompt_tokens=round(w.mean_input_tokens), gen_tokens=round(w.mean_output_tokens),
                concurrency=w.max_concurrency, request_rate=w.request_rate_per_s if w.kind == "rate" else None,
                burst=w.num_prompts if w.kind == "burst" else None)
            request = run_request(run)
            tpot = m.mean_tpot_ms or m.median_tpot_ms or m.mean_itl_ms or m.median_itl_ms
            case = request if isinstance(request, str) else replay(
                run.id, request, wl, tpot, m.output_tokens_per_s, m.mean_ttft_ms or m.median_ttft_ms)
            if isinstance(case, str):
                skipped.append((run.id, case))
            else:
                cases.append(case)
        results[f"{collection.collection}: {collection.source}"] = (cases, skipped)
    return results


def report(cases: list[Case], skipped: list[tuple[str, str]], verbose: bool) -> str:
    width = max([4, *(len(c.row) for c in cases)])
    lines = [f"{'id':>{width}}  {'case':<62} {'TPOT pred':>9} {'meas':>8} {'err':>6} {'in range':>8}  {'out tok/s pred':>14} {'meas':>8} {'err':>6}  {'TTFT pred':>10} {'meas':>10}"]
    for c in cases:
        t = f"{c.tpot[1]:9.1f} {c.tpot[3]:8.1f} {(c.tpot[1] - c.tpot[3]) / c.tpot[3] * 100:+5.0f}% {'yes' if c.tpot[0] <= c.tpot[3] <= c.tpot[2] else 'NO':>8}" if c.tpot else " " * 35
        o = f"{c.output[0]:14.0f} {c.output[1]:8.0f} {(c.output[0] - c.output[1]) / c.output[1] * 100:+5.0f}%" if c.output else " " * 30
        f = f"{c.ttft[0]:10.0f} {c.ttft[1]:10.0f}" if c.ttft else ""
        lines.append(f"{c.row:>{width}}  {c.label:<62} {t}  {o}  {f}")
        if verbose:
            lines.append(f"      {c.note}")
    tp = [c for c in cases if c.tpot]
    within = sum(abs(c.tpot[1] - c.tpot[3]) / c.tpot[3] <= TPOT_TOLERANCE for c in tp)
    inside = sum(c.tpot[0] <= c.tpot[3] <= c.tpot[2] for c in tp)
    outs = [c for c in cases if c.output]
    out_ok = sum(abs(c.output[0] - c.output[1]) / c.output[1] <= THROUGHPUT_TOLERANCE for c in outs)
    errors = sorted(abs(c.tpot[1] - c.tpot[3]) / c.tpot[3] for c in tp)
    median = errors[len(errors) // 2] * 100 if errors else float("nan")
    ttfts = sorted(abs(c.ttft[0] - c.ttft[1]) / c.ttft[1] for c in cases if c.ttft)
    lines += [
        "",
        "summary",
        f"  TPOT within +-25%: {within}/{len(tp)}   measured inside [low, high]: {inside}/{len(tp)}   median |error| {median:.0f}%",
        f"  output tokens/s within +-30%: {out_ok}/{len(outs)}",
        f"  TTFT within +-50%: {sum(e <= TTFT_TOLERANCE for e in ttfts)}/{len(ttfts)}   "
        f"median |error| {ttfts[len(ttfts) // 2] * 100 if ttfts else float('nan'):.0f}%",
        f"  rows replayed: {len(cases)}, skipped: {len(skipped)}",
    ]
    for kind in ("conc", "rate", "burst"):
        sel = [c for c in tp if c.label.endswith(kind)]
        if sel:
            lines.append(f"  {kind:>5}: TPOT within 25% {sum(abs(c.tpot[1] - c.tpot[3]) / c.tpot[3] <= TPOT_TOLERANCE for c in sel)}/{len(sel)}, "
                         f"in range {sum(c.tpot[0] <= c.tpot[3] <= c.tpot[2] for c in sel)}/{len(sel)}")
    if verbose:
        lines += [f"  skipped {i}: {why}" for i, why in skipped]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--source", choices=("csv", "bundled"), default="csv",
                        help="csv: the calibration CSV (--csv); bundled: wizard/data/measured, one table per source")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.source == "bundled":
        for title, (cases, skipped) in evaluate_bundled().items():
            print(f"== {title}\n{report(cases, skipped, args.verbose)}\n")
        return 0
    if not args.csv.exists():
        print(f"no benchmark file at {args.csv}", file=sys.stderr)
        return 2
    cases, skipped = evaluate(args.csv)
    print(report(cases, skipped, args.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())
