"""``vllm-wizard``: the command line, built from the request schema.

Every request field becomes a flag whose help text is the field's
description; its value stays text and goes through the schema's one door
(:func:`wizard.schema.parse_request`), as a profile or the dashboard's form
does.  A profile (``--profile``) supplies values that flags override.  Bad
input prints one line naming the flag and exits with status 2, never a
traceback; usage is printed only for usage errors (an unknown flag).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import typing
from typing import Any, Literal, NoReturn, Sequence

from wizard.errors import InvalidInput, WizardError
from wizard.faces.fields import describe, field_words, flag
from wizard.faces.report import (
    render_bench_check,
    render_comparison,
    render_log_check,
    render_plan,
    render_sweep,
    table,
)
from wizard.schema import (
    VLLM_VERSION,
    PlanRequest,
    iter_fields,
    parse_request,
)

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a value it cannot take is one line (usage is printed only for usage errors)."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("argument "):
            self.exit(EXIT_BAD_INPUT, f"vllm-wizard: error: {message.removeprefix('argument ')}\n")
        super().error(message)


def _literals(annotation: Any) -> list[Any]:
    """The named options of a field's type, however it is wrapped (Optional, Annotated)."""
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    return [v for arg in typing.get_args(annotation) for v in _literals(arg)]


def _is_bool(annotation: Any) -> bool:
    return annotation is bool or any(_is_bool(arg) for arg in typing.get_args(annotation))


def _help(info: Any) -> str:
    """A field's help: its description, its options and its default."""
    text = info.description or ""
    options = [str(v) for v in dict.fromkeys(_literals(info.annotation)) if v != "auto" or "max_model_len" not in text]
    if options and not _is_bool(info.annotation):
        text += f" One of: {', '.join(options)}."
    default = info.get_default()
    if default not in (None, "", False) and not info.is_required():
        text += f" (default: {default})"
    return text


# Request fields a sweep chooses itself (it takes --gpu more than once instead of the hardware section).
SWEPT = {"gpu", "gpus", "nodes", "vram_gb", "tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "replicas"}
# Request fields a benchmark file states itself (check-bench reads the workload from it).
WORKLOAD_FROM_BENCH = {"num_prompts", "request_rate", "burstiness", "concurrency", "prompt_tokens", "gen_tokens",
                       "length_distribution", "range_ratio"}


def add_request_arguments(parser: argparse.ArgumentParser, skip: frozenset[str] | set[str] = frozenset()) -> None:
    """One flag per request field (but ``skip``), grouped by section, help from the schema; values stay text."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for section, name, info in iter_fields():
        if name in skip:
            continue
        group = groups.setdefault(section, parser.add_argument_group(f"{section} options"))
        extra = (info.json_schema_extra or {}) if isinstance(info.json_schema_extra, dict) else {}
        kind = {"action": argparse.BooleanOptionalAction} if _is_bool(info.annotation) else {"metavar": name.upper()}
        group.add_argument(flag(name), *extra.get("cli", []), dest=name, default=argparse.SUPPRESS, help=_help(info), **kind)


def _request(args: argparse.Namespace) -> PlanRequest:
    """The request from a profile (if any) and the flags beside it, through the schema's one door."""
    from wizard.faces.profile import load_profile

    names = {name for _, name, _ in iter_fields()}
    given = {k: v for k, v in vars(args).items() if k in names}
    try:
        return parse_request(given, load_profile(args.profile) if args.profile else None)
    except InvalidInput as exc:
        # A field given as a flag is named as the flag; one from the profile by its key in that file.
        raise WizardError("; ".join(
            f"{flag(field)}: {message}" if field in given or not args.profile else
            f"{args.profile}: {field_words(field, 'profile') if field else 'profile'}: {message}"
            for field, message in exc.problems)) from None


# ------------------------------------------------------------------ commands


def cmd_plan(args: argparse.Namespace) -> int:
    from wizard.planning.planner import plan

    resp = plan(_request(args))
    # The JSON always carries every reason and formula; --explain adds them to the text report.
    print(resp.model_dump_json(indent=2) if args.json else render_plan(resp, args.explain))
    return 0


ARTIFACT_FILES = {
    "serve": ("serve.sh", "serve_script"),
    "multi-node": ("multi-node.sh", "multi_node"),
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


def cmd_sweep(args: argparse.Namespace) -> int:
    from wizard.capacity.prices import parse_overrides
    from wizard.capacity.sweep import sweep

    result = sweep(_request(args), gpu_names=args.gpu_list, provider=args.provider,
                   prices=parse_overrides(args.price or []), full_plans=args.limit if args.json else 0,
                   per_node=args.gpus_per_node, nodes=args.node_counts)
    if args.json:  # the cheapest --limit rows, each with its full plan
        print(result.model_copy(update={"results": result.results[:args.limit]}).model_dump_json(indent=2))
    else:
        print(render_sweep(result, args.limit))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from wizard.capacity.compare import compare
    from wizard.faces.profile import load_profile
    from wizard.planning.planner import plan

    plans = [plan(parse_request({}, load_profile(path))) for path in (args.profile_a, args.profile_b)]
    comparison = compare(*plans, labels=(args.profile_a, args.profile_b))
    print(comparison.model_dump_json(indent=2) if args.json else render_comparison(comparison))
    return 0


def _read_log(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError as exc:
        raise WizardError(f"cannot read {path}: {exc.strerror or exc}") from None


def cmd_check_log(args: argparse.Namespace) -> int:
    from wizard.reality.logcheck import check_log

    check = check_log(_read_log(args.file), model=args.model, gpu=args.gpu)
    print(check.model_dump_json(indent=2) if args.json else render_log_check(check))
    return 0


def cmd_check_bench(args: argparse.Namespace) -> int:
    from wizard.faces.profile import load_profile
    from wizard.reality.benchcheck import check_bench

    names = {name for _, name, _ in iter_fields()}
    given = {k: v for k, v in vars(args).items() if k in names}
    check = check_bench(_read_log(args.file), given, load_profile(args.profile) if args.profile else None)
    print(check.model_dump_json(indent=2) if args.json else render_bench_check(check))
    return 0


def cmd_gpus(args: argparse.Namespace) -> int:
    from wizard.catalog.gpus import catalog

    rows = [
        {"name": g.name, "aliases": ", ".join(g.aliases[:3]), "cuda_gib": g.cuda_total_gib, "marketed_gb": g.memory_gb_marketed,
         "bw_gbs": g.bandwidth_gbs, "bf16_tflops": g.bf16_tflops, "fp8": "yes" if g.fp8_native else "no", "link": g.interconnect}
        for g in catalog()
    ]
    print(json.dumps([g.__dict__ for g in catalog()], indent=2) if args.json else table(rows, list(rows[0])))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from wizard.catalog.summary import model_rows

    rows = model_rows()
    print(json.dumps(rows, indent=2) if args.json else
          table(rows, ["model", "params_b", "architecture", "attention", "context", "kv_bytes_per_token", "quantization"]))
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from wizard.catalog.detect import detect_gpus

    found = detect_gpus()
    if args.json:
        print(json.dumps([g.__dict__ | {"catalog_match": g.spec().name} for g in found], indent=2))
    elif not found:
        print("no NVIDIA GPU detected (NVML and nvidia-smi found none); plan with --gpu NAME instead")
    else:
        print(table([{"index": g.index, "name": g.name, "memory_mib": int(g.memory_total_mib), "used_mib": int(g.memory_used_mib),
                      "driver": g.driver, "catalog": g.spec().name, "via": g.source} for g in found],
                    ["index", "name", "memory_mib", "used_mib", "driver", "catalog", "via"]))
    return 0


def _commas(counts: tuple[int, ...]) -> str:
    return ",".join(map(str, counts))


def _output_options(parser: argparse.ArgumentParser, json_help: str) -> argparse._ArgumentGroup:
    out = parser.add_argument_group("output options")
    out.add_argument("--profile", "-p", help="YAML profile with the request; flags given beside it override it")
    out.add_argument("--json", action="store_true", help=json_help)
    return out


def _sweep_parser(sub: Any) -> None:
    from wizard.capacity.prices import providers
    from wizard.capacity.sweep import (  # the sweep's own search space, for defaults and help
        GPUS_PER_NODE,
        NODES,
    )

    sw = sub.add_parser("sweep", help="find the cheapest deployments that fit and meet targets",
                        description="Plan every GPU type x GPUs per node x nodes x weight format x KV dtype; keep what fits "
                                    "and meets the targets; rank by cost per hour.")
    add_request_arguments(sw, skip=SWEPT)
    options = sw.add_argument_group("sweep options")
    options.add_argument("--gpu", dest="gpu_list", action="append", metavar="GPU",
                         help="a GPU type to consider (repeat for several; default: every catalog GPU with a price)")
    options.add_argument("--gpus-per-node", type=_counts, default=GPUS_PER_NODE, metavar="N,N,...",
                         help=f"GPUs per node to try; tensor parallelism spans them (default: {_commas(GPUS_PER_NODE)})")
    options.add_argument("--nodes", dest="node_counts", type=_counts, default=NODES, metavar="N,N,...",
                         help=f"node counts to try; pipeline stages span them (default: {_commas(NODES)})")
    options.add_argument("--provider", help="bundled price list to use: " + ", ".join(providers()) + " (default: the first)")
    options.add_argument("--price", action="append", metavar="GPU=USD",
                         help="your own on-demand USD per GPU-hour for a GPU (repeatable); overrides the price list")
    options.add_argument("--limit", type=int, default=10, help="rows to print; with --json, results with a full plan (default: 10)")
    options.add_argument("--profile", "-p", help="YAML profile with the model, workload and policy")
    options.add_argument("--json", action="store_true", help='print {"candidates_evaluated": N, "results": [...]} as JSON')
    sw.set_defaults(func=cmd_sweep)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vllm-wizard",
        description=f"Plan a vLLM deployment before renting GPUs: memory as vLLM {VLLM_VERSION} accounts for it, fit, settings.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    p = sub.add_parser("plan", help="plan one deployment",
                       description="Plan one vLLM deployment: fit, memory per GPU, settings, performance and the serve command.")
    add_request_arguments(p)
    out = _output_options(p, "print the whole plan as JSON (every reason and formula included)")
    out.add_argument("--explain", action="store_true", help="give the reason for every setting, the formulas and the assumptions")
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
    _sweep_parser(sub)
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
    bench = sub.add_parser("check-bench", help="compare a plan with your own vllm bench serve run",
                           description="Read what `vllm bench serve` wrote (--save-result JSON or the printed summary), "
                                       "simulate the same workload on the deployment the flags give, and print predicted "
                                       "against measured for every metric.")
    bench.add_argument("file", metavar="FILE", help="the result file or summary ('-' reads standard input)")
    add_request_arguments(bench, skip=WORKLOAD_FROM_BENCH)
    _output_options(bench, "print the run, the comparison and the plan as JSON")
    bench.set_defaults(func=cmd_check_bench)
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
        print(f"vllm-wizard: error: {describe(exc, 'cli')}", file=sys.stderr)
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
