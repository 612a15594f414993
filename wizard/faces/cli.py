"""``vllm-wizard``: the command line, built from the request schema.

Every request field becomes a flag whose help text is the field's
description; a profile (``--profile``) supplies values that flags override.
Bad input prints one line and exits with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
import typing
from typing import TYPE_CHECKING, Any, Literal, Sequence

from wizard.errors import WizardError
from wizard.schema import VLLM_VERSION, PlanResponse, Targets, iter_fields

if TYPE_CHECKING:
    from wizard.reality.logcheck import LogCheck

EXIT_BAD_INPUT = 2


def _max_model_len(text: str) -> int | str:
    if text.strip().lower() in ("auto", "-1"):
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of tokens or 'auto', got {text!r}") from None


def _flag_options(annotation: Any) -> dict[str, Any]:
    """argparse keyword arguments for a schema field's type."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if annotation is bool or (origin in (typing.Union, types.UnionType) and args == [bool]):
        return {"action": argparse.BooleanOptionalAction}
    literals = [a for a in args if typing.get_origin(a) is Literal]
    if typing.get_origin(annotation) is Literal:
        return {"choices": list(typing.get_args(annotation))}
    if literals and int in args:  # max_model_len: int | "auto"
        return {"type": _max_model_len, "metavar": "TOKENS|auto"}
    if literals:
        return {"choices": [v for lit in literals for v in typing.get_args(lit)]}
    for kind in (int, float, str):
        if annotation is kind or kind in args:
            return {"type": kind}
    return {"type": str}


# Request fields a sweep chooses itself (it takes --gpu more than once instead of the hardware section).
SWEPT = {"gpu", "gpus", "nodes", "vram_gb", "tensor_parallel_size", "pipeline_parallel_size"}


def add_request_arguments(parser: argparse.ArgumentParser, skip: frozenset[str] | set[str] = frozenset()) -> None:
    """One flag per request field (but ``skip``), grouped by section, help from the schema."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for section, name, info in iter_fields():
        if name in skip:
            continue
        group = groups.setdefault(section, parser.add_argument_group(f"{section} options"))
        extra = (info.json_schema_extra or {}) if isinstance(info.json_schema_extra, dict) else {}
        flags = ["--" + name.replace("_", "-"), *extra.get("cli", [])]
        default = info.get_default()
        help_text = info.description or ""
        if default not in (None, "", False) and not info.is_required():
            help_text += f" (default: {default})"
        group.add_argument(*flags, dest=name, default=argparse.SUPPRESS, help=help_text, **_flag_options(info.annotation))


def add_model_arguments(parser: argparse.ArgumentParser, model: type, title: str) -> None:
    """One flag per field of a small pydantic model (sweep targets), help from its descriptions."""
    group = parser.add_argument_group(title)
    for name, info in model.model_fields.items():
        group.add_argument("--" + name.replace("_", "-"), dest=name, default=None, help=info.description,
                           **_flag_options(info.annotation))


def _given(namespace: argparse.Namespace) -> dict[str, Any]:
    names = {name for _, name, _ in iter_fields()}
    return {k: v for k, v in vars(namespace).items() if k in names}


def _request(args: argparse.Namespace):
    from wizard.faces.profile import load_profile, request_from

    base = load_profile(args.profile) if args.profile else None
    values = _given(args)
    if base is None and "model" not in values:
        raise WizardError("--model is required (or a --profile that names one)")
    return request_from(values, base)


# ------------------------------------------------------------------ output


def _row(label: str, value: str) -> str:
    return f"  {label:<24}{value}"


def render_plan(resp: PlanResponse, explain: bool) -> str:
    """A plain-text summary of a plan for the terminal."""
    m, h, mem, f, rec = resp.model, resp.hardware, resp.memory, resp.feasibility, resp.recommendation
    params = f"{m.params_loaded / 1e9:.2f}B params"
    lines = [
        f"vLLM Wizard plan (memory model of vLLM {mem.vllm_version})",
        _row("model", f"{m.model} [{m.source}] {m.architecture}, {params}, {m.attention} {m.num_attention_heads}/{m.num_kv_heads} heads"
             + (f", {m.quantization}" if m.quantization else "")),
        _row("GPUs", f"{h.gpus_used} x {h.gpu} ({h.gpu_total_gib} GiB as CUDA reports it), TP {h.tensor_parallel_size}, PP {h.pipeline_parallel_size}, {h.interconnect}"),
        "memory per GPU (GiB)",
        _row("budget", f"{mem.budget_gib:.2f}  = {mem.gpu_total_gib} x {mem.gpu_memory_utilization:g}"),
        _row("weights", f"{mem.weights_gib:.2f}"),
    ]
    for key, label in (("activation_gib", "activation peak"), ("non_torch_gib", "non-torch"), ("cuda_graph_gib", "CUDA graphs")):
        r = mem.ranges[key]
        lines.append(_row(label, f"{getattr(mem, key):.2f}  (heuristic, range {r.low:.2f}-{r.high:.2f})"))
    if mem.overhead_gib:
        lines.append(_row("overhead (--overhead-gb)", f"{mem.overhead_gib:.2f}"))
    kv = mem.ranges["kv_cache_gib"]
    lines.append(_row("KV cache", f"{mem.kv_cache_gib:.2f}  (range {kv.low:.2f}-{kv.high:.2f}) -> {mem.kv_cache_tokens:,} tokens, "
                      f"{mem.kv_blocks:,} blocks of {mem.block_size}, {mem.kv_bytes_per_token:,} B/token, kv {mem.kv_cache_dtype}"))
    verdict = "FITS" if f.fits else "DOES NOT FIT"
    lines += [
        f"verdict: {verdict}; OOM risk {f.oom_risk}: {f.oom_risk_reason}",
        _row("max concurrency", f"{f.max_concurrency:,} requests of {f.context_tokens:,} tokens"),
        _row("max context", f"{f.max_context_tokens:,} tokens at concurrency {resp.request.workload.concurrency}"),
        _row("KV headroom", f"{f.headroom_gib:.2f} GiB per GPU (needs {f.kv_needed_gib:.2f})"),
    ]
    lines += [f"  failed: {reason}" for reason in f.failed]
    lines.append("settings" + ("" if explain else " (--explain for the reasons)"))
    for name in ("tensor_parallel_size", "pipeline_parallel_size", "dtype", "quantization", "kv_cache_dtype", "max_model_len",
                 "max_num_seqs", "max_num_batched_tokens", "gpu_memory_utilization", "enforce_eager", "enable_expert_parallel"):
        setting = getattr(rec, name)
        text = f"{setting.value}" + (f"  [{setting.source}] {setting.reason}" if explain else "")
        lines.append(_row(name, text))
    if explain and mem.formulas:
        lines.append("how the numbers are calculated")
        lines += [_row(k, v) for k, v in mem.formulas.items()]
    if rec.suggestions:
        lines.append("to make it fit")
        lines += [f"  - {s.text}" for s in rec.suggestions]
    if resp.warnings:
        lines.append("warnings")
        lines += [f"  - {w}" for w in resp.warnings]
    return "\n".join(lines)


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    out = ["  ".join(c.ljust(widths[c]) for c in columns)]
    out += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(out)


# ------------------------------------------------------------------ commands


def cmd_plan(args: argparse.Namespace) -> int:
    from wizard.planning.planner import plan

    resp = plan(_request(args))
    print(resp.model_dump_json(indent=2) if args.json else render_plan(resp, args.explain))
    return 0


ARTIFACT_FILES = {
    "serve": ("serve.sh", "serve_script"),
    "ray": ("ray-cluster.sh", "multi_node"),
    "docker": ("docker-run.sh", "docker_run"),
    "compose": ("docker-compose.yaml", "docker_compose"),
    "k8s": ("kubernetes.yaml", "kubernetes"),
    "profile": ("profile.yaml", "profile_yaml"),
}


def _emit_list(text: str) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in ARTIFACT_FILES]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(ARTIFACT_FILES)} (comma-separated), got {text!r}")
    return kinds


def cmd_generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from wizard.planning.planner import plan

    resp = plan(_request(args))
    out = Path(args.output_dir).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for kind in args.emit:
            name, attr = ARTIFACT_FILES[kind]
            text = getattr(resp.artifacts, attr)
            if text is None:  # the Ray recipe exists only for multi-node plans
                continue
            path = out / name
            path.write_text(text)
            if name.endswith(".sh"):
                path.chmod(0o755)
            written.append(path)
        plan_path = out / "plan.json"
        plan_path.write_text(resp.model_dump_json(indent=2) + "\n")
        written.append(plan_path)
    except OSError as exc:
        raise WizardError(f"cannot write to {out}: {exc.strerror or exc}") from None
    verdict = "fits" if resp.feasibility.fits else "does NOT fit: " + "; ".join(resp.feasibility.failed)
    print(f"plan {verdict}")
    for path in written:
        print(f"wrote {path}")
    return 0


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        counts = ()
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError(f"expected positive whole numbers separated by commas, e.g. 1,2,4,8; got {text!r}")
    return counts


SWEEP_COLUMNS = ["gpu", "gpus_per_node", "nodes", "tp", "pp", "weights", "kv", "usd_per_hour", "usd_per_m_tokens",
                 "output_tok_s", "itl_ms", "ttft_ms"]


def cmd_sweep(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from wizard.capacity.prices import parse_overrides
    from wizard.capacity.sweep import sweep
    from wizard.faces.profile import describe_validation_error

    try:
        targets = Targets(**{name: getattr(args, name) for name in Targets.model_fields})
    except ValidationError as exc:
        raise WizardError(describe_validation_error(exc)) from None
    result = sweep(_request(args), targets, gpu_names=args.gpu_list, provider=args.provider,
                   prices=parse_overrides(args.price or []), full_plans=args.limit if args.json else 0,
                   per_node=args.gpus_per_node, nodes=args.node_counts)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    print(f"{result.candidates_evaluated} configurations evaluated in {result.seconds:.2f} s; {len(result.rows)} fit and meet "
          f"the targets (rejected: {', '.join(f'{k} {v}' for k, v in result.rejected.items())})")
    if not result.rows:
        print("nothing fits: relax the targets, allow more GPUs per node or nodes, or name other GPUs")
        return 0
    rows = [{"gpu": r.gpu, "gpus_per_node": r.gpus_per_node, "nodes": r.nodes, "tp": r.tensor_parallel_size,
             "pp": r.pipeline_parallel_size, "weights": r.weights, "kv": r.kv_cache_dtype, "usd_per_hour": f"{r.cost_per_hour:.2f}",
             "usd_per_m_tokens": f"{r.cost_per_million_output_tokens:.2f}", "output_tok_s": f"{r.output_tokens_per_s:.0f}",
             "itl_ms": f"{r.itl_ms:.1f}", "ttft_ms": f"{r.ttft_ms:.0f}"} for r in result.rows[:args.limit or None]]
    print(_table(rows, SWEEP_COLUMNS))
    print("cost: on-demand USD per GPU-hour x GPUs; performance: expected values of the heuristic model (plan one row for its ranges)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from wizard.capacity.compare import compare, render_comparison
    from wizard.faces.profile import load_profile, request_from
    from wizard.planning.planner import plan

    plans = [plan(request_from({}, load_profile(path))) for path in (args.profile_a, args.profile_b)]
    comparison = compare(*plans, labels=(args.profile_a, args.profile_b))
    print(json.dumps(comparison.to_json(), indent=2) if args.json else render_comparison(comparison))
    return 0


def _read_log(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError as exc:
        raise WizardError(f"cannot read {path}: {exc.strerror or exc}") from None


def render_log_check(check: LogCheck) -> str:
    """Predicted against measured, one quantity per line, for the terminal."""
    p, log = check.plan, check.log
    lines = [f"vLLM {log.vllm_version or '(version not in the log)'} {log.engine or ''} start-up of {p.model.model} on "
             f"{p.hardware.gpus_used} x {p.hardware.gpu} ({p.hardware.gpu_total_gib} GiB), TP {p.hardware.tensor_parallel_size}; "
             f"planned as vLLM {p.memory.vllm_version}",
             f"  {'quantity':<44}{'measured':>12}{'predicted':>12}  {'range':<22}verdict"]
    for row in check.rows:
        digits = 0 if row.unit == "tokens" else 2
        lines.append(f"  {row.quantity[:43]:<44}{row.measured:>12,.{digits}f}{row.predicted:>12,.{digits}f}  "
                     f"{f'{row.low:,.{digits}f}-{row.high:,.{digits}f}':<22}{row.verdict}")
    lines += [f"  note: {note}" for note in check.notes]
    return "\n".join(lines)


def cmd_check_log(args: argparse.Namespace) -> int:
    from wizard.reality.logcheck import check_log

    check = check_log(_read_log(args.file), model=args.model, gpu=args.gpu)
    print(json.dumps(check.to_json(), indent=2) if args.json else render_log_check(check))
    return 0


def cmd_gpus(args: argparse.Namespace) -> int:
    from wizard.catalog.gpus import catalog

    rows = [
        {"name": g.name, "aliases": ", ".join(g.aliases[:3]), "cuda_gib": g.cuda_total_gib, "marketed_gb": g.memory_gb_marketed,
         "bw_gbs": g.bandwidth_gbs, "bf16_tflops": g.bf16_tflops, "fp8": "yes" if g.fp8_native else "no", "link": g.interconnect}
        for g in catalog()
    ]
    if args.json:
        print(json.dumps([g.__dict__ for g in catalog()], indent=2))
    else:
        print(_table(rows, list(rows[0])))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from wizard.catalog.summary import model_rows

    rows = model_rows()
    print(json.dumps(rows, indent=2) if args.json else _table(rows, ["model", "params_b", "architecture", "attention", "context", "kv_bytes_per_token", "quantization"]))
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from wizard.catalog.detect import detect_gpus

    found = detect_gpus()
    if args.json:
        print(json.dumps([g.__dict__ | {"catalog_match": g.spec().name} for g in found], indent=2))
    elif not found:
        print("no NVIDIA GPU detected (NVML and nvidia-smi found none); plan with --gpu NAME instead")
    else:
        print(_table([{"index": g.index, "name": g.name, "memory_mib": int(g.memory_total_mib), "used_mib": int(g.memory_used_mib),
                       "driver": g.driver, "catalog": g.spec().name, "via": g.source} for g in found],
                     ["index", "name", "memory_mib", "used_mib", "driver", "catalog", "via"]))
    return 0


def _commas(counts: tuple[int, ...]) -> str:
    return ",".join(map(str, counts))


def build_parser() -> argparse.ArgumentParser:
    from wizard.capacity.prices import providers
    from wizard.capacity.sweep import (  # the sweep's own search space, for defaults and help
        GPUS_PER_NODE,
        NODES,
    )

    parser = argparse.ArgumentParser(
        prog="vllm-wizard",
        description=f"Plan a vLLM deployment before renting GPUs: memory as vLLM {VLLM_VERSION} accounts for it, fit, settings.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("plan", help="plan one deployment", description="Plan one vLLM deployment: memory per GPU, fit, settings.")
    add_request_arguments(p)
    out = p.add_argument_group("output options")
    out.add_argument("--profile", "-p", help="YAML profile with the request; flags given beside it override it")
    out.add_argument("--json", action="store_true", help="print the whole plan as JSON")
    out.add_argument("--explain", action="store_true", help="give the reason for every setting and the formulas")
    p.set_defaults(func=cmd_plan)
    g = sub.add_parser("generate", help="plan and write the deployment artifacts",
                       description="Plan one deployment and write its artifacts (always also plan.json).")
    add_request_arguments(g)
    out = g.add_argument_group("output options")
    out.add_argument("--output-dir", "-o", required=True, help="directory to write the files into (created if missing)")
    out.add_argument("--emit", type=_emit_list, default=list(ARTIFACT_FILES),
                     help=f"artifacts to write, comma-separated: {','.join(ARTIFACT_FILES)} (default: all; ray only for multi-node plans)")
    out.add_argument("--profile", "-p", help="YAML profile with the request; flags given beside it override it")
    g.set_defaults(func=cmd_generate)
    sw = sub.add_parser("sweep", help="find the cheapest deployments that fit and meet targets",
                        description="Plan every GPU type x GPUs per node x nodes x weight format x KV dtype; keep what fits "
                                    "and meets the targets; rank by cost per hour.")
    add_request_arguments(sw, skip=SWEPT)
    sweep_options = sw.add_argument_group("sweep options")
    sweep_options.add_argument("--gpu", dest="gpu_list", action="append", metavar="GPU",
                               help="a GPU type to consider (repeat for several; default: every catalog GPU with a price)")
    sweep_options.add_argument("--gpus-per-node", type=_counts, default=GPUS_PER_NODE, metavar="N,N,...",
                               help=f"GPUs per node to try; tensor parallelism spans them (default: {_commas(GPUS_PER_NODE)})")
    sweep_options.add_argument("--nodes", dest="node_counts", type=_counts, default=NODES, metavar="N,N,...",
                               help=f"node counts to try; pipeline stages span them (default: {_commas(NODES)})")
    sweep_options.add_argument("--provider", help="bundled price list to use: " + ", ".join(providers()) + " (default: the first)")
    sweep_options.add_argument("--price", action="append", metavar="GPU=USD",
                               help="your own on-demand USD per GPU-hour for a GPU (repeatable); overrides the price list")
    sweep_options.add_argument("--limit", type=int, default=10, help="rows to print; with --json, results with a full plan (default: 10)")
    sweep_options.add_argument("--profile", "-p", help="YAML profile with the model, workload and policy")
    sweep_options.add_argument("--json", action="store_true", help='print {"candidates_evaluated": N, "results": [...]} as JSON')
    add_model_arguments(sw, Targets, "targets (expected values must meet them)")
    sw.set_defaults(func=cmd_sweep)
    cmp = sub.add_parser("compare", help="compare two plans side by side",
                         description="Plan two profiles and show memory, performance and settings side by side, and how their commands differ.")
    cmp.add_argument("profile_a", metavar="PROFILE_A", help="YAML profile of the first plan")
    cmp.add_argument("profile_b", metavar="PROFILE_B", help="YAML profile of the second plan")
    cmp.add_argument("--json", action="store_true", help="print the comparison as JSON")
    cmp.set_defaults(func=cmd_compare)
    log = sub.add_parser("check-log", help="compare a plan with a real vLLM start-up log",
                         description="Read what a vLLM server reported at start-up (V0 or V1 log formats), plan the same "
                                     "settings, and print predicted against measured.")
    log.add_argument("file", metavar="FILE", help="the start-up log ('-' reads standard input)")
    log.add_argument("--model", help="the model, when the log does not name it (or names a local path)")
    log.add_argument("--gpu", help="the GPU, when the log's total memory does not identify one in the catalog")
    log.add_argument("--json", action="store_true", help="print the log's numbers, the comparison and the plan as JSON")
    log.set_defaults(func=cmd_check_log)
    for name, func, text in (("gpus", cmd_gpus, "list the GPU catalog"), ("models", cmd_models, "list the bundled model catalog"),
                             ("detect", cmd_detect, "list the GPUs on this machine (NVML, nvidia-smi)")):
        s = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        s.add_argument("--json", action="store_true", help="print JSON")
        s.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except WizardError as exc:
        print(f"vllm-wizard: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug, not bad input: one line, and a way to see more
        if os.environ.get("VLLM_WIZARD_DEBUG"):
            raise
        print(f"vllm-wizard: internal error ({type(exc).__name__}: {exc}); set VLLM_WIZARD_DEBUG=1 for details", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
