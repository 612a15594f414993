"""Read what ``vllm bench serve`` wrote: its ``--save-result`` JSON or the summary it printed.

The input is a file or a paste from any release; nothing in it is executed (JSON goes
through ``json.loads`` only, the summary through regular expressions).  Layouts, read
from ``vllm/benchmarks/serve.py`` of the 0.8.5-0.33.0 source distributions and from the
older ``benchmarks/benchmark_serving.py`` (tests/data/bench/SOURCES.md has examples):

* Summary, between `` Serving Benchmark Result `` and a closing line of ``=``:
  ``Successful requests:``, ``Benchmark duration (s):``, ``Total input tokens:``,
  ``Total generated tokens:``, ``Request throughput (req/s):``, ``Output token
  throughput (tok/s):`` in every release; ``Input token throughput (tok/s):`` in the old
  script; ``Total Token throughput (tok/s):`` (``Total token`` from 0.13);
  ``Request goodput (req/s):`` with ``--goodput``; ``Maximum request concurrency:`` and
  ``Request rate configured (RPS):``, when set or finite, from 0.10.1; ``Peak output token
  throughput (tok/s):`` and ``Peak concurrent requests:`` from 0.11.0; ``Failed
  requests:`` from 0.11.1.  Then per --percentile-metrics (default ttft,tpot,itl) a
  section with ``Mean/Median/P<p> TTFT|TPOT|ITL|E2EL (ms):``; later releases add
  speculative-decoding, probe and diffusion sections.  Before the heading bench prints
  ``Traffic request rate:``, ``Burstiness factor:`` and ``Maximum request concurrency:``
  (and the CLI its ``Namespace(...)``); those fill what an older summary leaves out.
* JSON: run keys ``date``, ``backend`` (the old script; again from 0.11.0) or
  ``endpoint_type`` (0.8.5-0.10), ``label``, ``model_id``, ``tokenizer_id``,
  ``num_prompts``, ``request_rate`` (a number or ``"inf"``), ``burstiness`` and
  ``max_concurrency`` (0.6 on); results ``duration``, ``completed``, ``failed`` (0.11.1),
  ``total_input_tokens``, ``total_output_tokens``, ``request_throughput``,
  ``request_goodput`` (``"request_goodput:"`` up to 0.8.5), ``input_throughput`` (old),
  ``output_throughput``, ``total_token_throughput``, ``max_output_tokens_per_s`` and
  ``max_concurrent_requests`` (0.11.0), ``rtfx`` (0.17), ``latencies`` (0.30);
  ``mean_/median_/std_/p<p>_<metric>_ms``.  The old script also wrote ``version``,
  ``best_of`` and ``use_beam_search``.  ``--save-detailed`` adds ``input_lens``,
  ``output_lens``, ``ttfts``, ``itls``, ``generated_texts``, ``errors`` (and more later).
  ``--append-result`` appends one object per line; ``vllm bench sweep`` writes a list
  (summary.json) and adds ``run_number`` and its parameters to each run.

Several runs in one input: the last one is read, and a note says so.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import ValidationError

from wizard.errors import WizardError
from wizard.reality.bench_json import CUT_ARRAYS, cut_number_arrays, json_values
from wizard.schema.bench import BenchResult

HEADING = "Serving Benchmark Result"
EMPTY = ("the benchmark result is empty: give the JSON file vllm bench serve --save-result wrote, "
         "or paste its printed summary from ' Serving Benchmark Result ' to the closing line of '='")
NOT_A_RESULT = ("this is not a vllm bench serve result: expected the JSON file --save-result writes, "
                "or the printed summary from ' Serving Benchmark Result ' to the closing line of '='")
POOLING = ("this is a pooling/embedding benchmark (no generated tokens): only text-generation runs "
           "can be compared with the plan")
SGLANG = ("this is SGLang's bench_serving summary (it prints 'Backend:' and 'Traffic request rate:' inside "
          "the result), not vllm bench serve's: its metrics are counted differently")

_DROPPED = frozenset(CUT_ARRAYS) | {"generated_texts", "errors", "rps_change_events", "endpoint_type", "version"}
_JSON_REQUIRED = ("duration", "completed", "total_input_tokens", "total_output_tokens", "request_throughput",
                  "output_throughput")
_JSON_FIELDS = {
    "date": "date", "backend": "backend", "label": "label", "model_id": "model_id", "tokenizer_id": "tokenizer_id",
    "num_prompts": "num_prompts", "burstiness": "burstiness", "max_concurrency": "max_concurrency",
    "ramp_up_strategy": "ramp_up_strategy", "ramp_up_start_rps": "ramp_up_start_rate_per_s",
    "ramp_up_end_rps": "ramp_up_end_rate_per_s", "duration": "duration_s", "completed": "completed",
    "failed": "failed", "total_input_tokens": "total_input_tokens", "total_output_tokens": "total_output_tokens",
    "input_lens": "input_lens", "output_lens": "output_lens", "request_throughput": "request_throughput_per_s",
    "request_goodput": "request_goodput_per_s", "request_goodput:": "request_goodput_per_s",
    "output_throughput": "output_throughput_tokens_per_s", "total_token_throughput": "total_throughput_tokens_per_s",
    "input_throughput": "input_throughput_tokens_per_s",
    "max_output_tokens_per_s": "peak_output_throughput_tokens_per_s",
    "max_concurrent_requests": "peak_concurrent_requests",
}
_JSON_STAT_RE = re.compile(r"(mean|median|std|p(\d+(?:\.\d+)?))_(ttft|tpot|itl|e2el)_ms")
_VERSION_KEYS = ("vllm_version", "version")  # a --metadata pair, or the old script's --version (default "N/A")

# Printed summary: label (lower case) -> field.
_TEXT_FIELDS = {
    "successful requests": "completed",
    "failed requests": "failed",
    "maximum request concurrency": "max_concurrency",
    "request rate configured (rps)": "request_rate_per_s",
    "benchmark duration (s)": "duration_s",
    "total input tokens": "total_input_tokens",
    "total generated tokens": "total_output_tokens",
    "request throughput (req/s)": "request_throughput_per_s",
    "request goodput (req/s)": "request_goodput_per_s",
    "input token throughput (tok/s)": "input_throughput_tokens_per_s",
    "output token throughput (tok/s)": "output_throughput_tokens_per_s",
    "peak output token throughput (tok/s)": "peak_output_throughput_tokens_per_s",
    "peak concurrent requests": "peak_concurrent_requests",
    "total token throughput (tok/s)": "total_throughput_tokens_per_s",
}
_TEXT_REQUIRED = ("Successful requests", "Benchmark duration (s)", "Total input tokens", "Total generated tokens",
                  "Request throughput (req/s)", "Output token throughput (tok/s)")
_SECTIONS = frozenset({
    "Time to First Token", "Time per Output Token (excl. 1st token)", "Inter-token Latency", "End-to-end Latency",
    "Speculative Decoding", "Probe Requests", "Diffusion Decoding", "Client-side Queueing",
    "Queue-inclusive End-to-end Latency",
})
_SGLANG_LABELS = frozenset({"backend", "traffic request rate", "max request concurrency",
                            "total generated tokens (retokenized)"})
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_LABEL_RE = re.compile(r"([A-Za-z][A-Za-z0-9 ()/%.,'_-]*?):[ \t]+(\S+)[ \t]*$")
_SECTION_RE = re.compile(r"-{3,}([^-].*?)-{3,}\s*$")
_CLOSING_RE = re.compile(r"={20,}\s*$")
_TEXT_STAT_RE = re.compile(r"(mean|median|p(\d+(?:\.\d+)?)) (ttft|tpot|itl|e2el) \(ms\)", re.IGNORECASE)
# What bench prints before a run (benchmark()), and the CLI's Namespace(...) of its arguments.
_PRE_RATE_RE = re.compile(r"Traffic request rate: (\S+)")
_PRE_BURST_RE = re.compile(r"Burstiness factor: (\S+)")
_PRE_CONCURRENCY_RE = re.compile(r"Maximum request concurrency: (\S+)\s*$")
_PRE_RAMP_RE = re.compile(r"Traffic ramp-up strategy: (\w+)")
_PRE_RAMP_RATES_RE = re.compile(r"Will increase RPS from (\S+) to (\S+) RPS")
_NAMESPACE_RE = re.compile(r"Namespace\((.*)\)")
_NAMESPACE_ARGS = {  # Namespace attribute -> (field, pattern of its repr)
    "model": ("model_id", r"'([^']*)'"), "tokenizer": ("tokenizer_id", r"'([^']*)'"),
    "backend": ("backend", r"'([^']*)'"), "label": ("label", r"'([^']*)'"),
    "num_prompts": ("num_prompts", r"(\d+)"), "request_rate": ("request_rate_per_s", r"([\d.e+-]+|inf)"),
    "burstiness": ("burstiness", r"([\d.e+-]+|inf)"), "max_concurrency": ("max_concurrency", r"(\d+|None)"),
}
# Summaries whose release prints 'Maximum request concurrency' and 'Request rate configured' whenever set/finite.
_STATES_RATE_AND_LIMIT = ("0.10.1-0.10.2", "0.11.0", "0.11.1-0.12", "0.13 or later")


def parse_bench_result(text: str) -> BenchResult:
    """Read a ``vllm bench serve`` result, JSON or printed summary, into a BenchResult.

    Raises WizardError with a one-line message for empty input, input that is not a
    bench result, a summary or JSON missing what every release reports (named), and
    impossible values (negative, NaN).
    """
    if not text or not text.strip():
        raise WizardError(EMPTY)
    body = text.lstrip("\ufeff \t\r\n")
    if not body:
        raise WizardError(EMPTY)
    if body[0] in "{[":
        try:
            return _from_json(body)
        except json.JSONDecodeError as error:
            if HEADING not in text:
                raise WizardError(f"the benchmark result is not valid JSON: {error.msg} "
                                  f"(line {error.lineno}, column {error.colno})") from None
    return _from_text(text)


# ------------------------------------------------------------------ JSON


def _from_json(body: str) -> BenchResult:
    """The last run of one or more JSON values (objects, or vllm bench sweep's lists of them)."""
    runs = [run for value in json_values(cut_number_arrays(body))
            for run in (value if isinstance(value, list) else [value])
            if isinstance(run, dict) and ("duration" in run or "completed" in run)]
    if not runs:
        raise WizardError(f"{NOT_A_RESULT} (this JSON has no 'duration' or 'completed' key)")
    run = runs[-1]
    if "total_input_sequences" in run or "input_sequence_throughput" in run:
        raise WizardError(POOLING)
    missing = [key for key in _JSON_REQUIRED if key not in run]
    if missing:
        raise WizardError(f"the JSON lacks {', '.join(missing)}, which vllm bench serve always writes")
    notes = [f"{len(runs)} benchmark runs in the input; read the last one"] if len(runs) > 1 else []
    fields: dict[str, Any] = {"source": "json", "runs_found": len(runs), "bench_releases": _json_releases(run)}
    stats: dict[str, dict[str, Any]] = {}
    other: dict[str, Any] = {}
    for key, value in run.items():
        stat = _JSON_STAT_RE.fullmatch(key)
        if key in _JSON_FIELDS:
            fields[_JSON_FIELDS[key]] = value
        elif key == "request_rate":
            fields["request_rate_per_s"] = math.inf if value == "inf" else value
        elif stat:
            _put_stat(stats, stat.group(3), stat.group(1), stat.group(2), value)
        elif key not in _DROPPED and (value is None or isinstance(value, (str, int, float, bool))):
            other[key] = value
    fields.setdefault("backend", run.get("endpoint_type"))
    version = next((run[key] for key in _VERSION_KEYS if run.get(key) not in (None, "", "N/A")), None)
    fields["vllm_version"] = None if version is None else str(version)
    if "failed" not in run:
        notes.append("this release does not report failed requests")
    return _validated(fields, stats, other, notes)


def _json_releases(run: dict[str, Any]) -> str | None:
    """The vllm bench serve releases (0.8.5-0.33 checked) that write exactly this run's keys."""
    if "endpoint_type" not in run:
        return None
    if "best_of" in run or "request_goodput:" in run:
        return "0.8.5 or older"
    if "backend" not in run:
        return "0.9-0.10.2"
    if "failed" not in run:
        return "0.11.0"
    if "rtfx" not in run:
        return "0.11.1-0.16"
    return "0.17-0.29" if "latencies" not in run else "0.30 or later"


# ------------------------------------------------------------------ printed summary


def _from_text(text: str) -> BenchResult:
    """The last printed summary in the text, with what bench printed before it."""
    lines = _ANSI_RE.sub("", text).splitlines()
    headings = [i for i, line in enumerate(lines) if HEADING in line]
    if not headings:
        raise WizardError(NOT_A_RESULT)
    notes = [f"{len(headings)} benchmark runs in the input; read the last one"] if len(headings) > 1 else []
    start = headings[-1]
    end = next((i for i in range(start + 1, len(lines)) if _CLOSING_RE.search(lines[i])), len(lines))
    if end == len(lines):
        notes.append("the summary has no closing line of '=': it may be cut off")
    previous = headings[-2] if len(headings) > 1 else -1
    previous_end = next((i for i in range(previous + 1, start) if _CLOSING_RE.search(lines[i])), previous)

    fields: dict[str, Any] = {"source": "text", "runs_found": len(headings)}
    stats: dict[str, dict[str, Any]] = {}
    other: dict[str, Any] = {}
    labels = _read_block(lines[start + 1:end], fields, stats, other, notes)
    before = _before_run(lines[previous_end + 1:start])
    fields["bench_releases"] = _text_releases(labels, before)
    for name, value in before.items():
        fields.setdefault(name, value)
    _infer_unprinted(fields, notes)
    return _validated(fields, stats, other, notes)


def _read_block(block: list[str], fields: dict[str, Any], stats: dict[str, dict[str, Any]],
                other: dict[str, Any], notes: list[str]) -> set[str]:
    """Fill fields and stats from the summary's lines; the labels seen, as printed."""
    labels: set[str] = set()
    skipped: list[str] = []
    for line in block:
        section = _SECTION_RE.search(line)
        if section:
            if section.group(1).strip() not in _SECTIONS:
                skipped.append(section.group(1).strip())
            continue
        match = _LABEL_RE.search(line)
        if not match:
            continue
        label, raw = match.group(1).strip(), match.group(2)
        labels.add(label)
        key = label.lower()
        if key in _SGLANG_LABELS:
            raise WizardError(SGLANG)
        if key == "input throughput (inputs/s)":
            raise WizardError(POOLING)
        stat = _TEXT_STAT_RE.fullmatch(label)
        if key in _TEXT_FIELDS:
            fields[_TEXT_FIELDS[key]] = _number(label, raw)
        elif stat:
            _put_stat(stats, stat.group(3).lower(), stat.group(1).lower(), stat.group(2), _number(label, raw))
        else:
            other[label] = _maybe_number(raw)
    missing = [label for label in _TEXT_REQUIRED if label.lower() not in {seen.lower() for seen in labels}]
    if missing:
        raise WizardError(f"the benchmark summary lacks {', '.join(repr(label + ':') for label in missing)}; "
                          "paste it whole, from ' Serving Benchmark Result ' to the closing line of '='")
    if skipped:
        notes.append(f"sections vllm bench serve does not print were skipped: {', '.join(skipped)}")
    return labels


def _before_run(lines: list[str]) -> dict[str, Any]:
    """What bench printed before the run: arrival settings, then the CLI's Namespace (the first wins)."""
    found: dict[str, Any] = {}
    for line in reversed(lines):
        for pattern, name in ((_PRE_RATE_RE, "request_rate_per_s"), (_PRE_BURST_RE, "burstiness")):
            match = pattern.search(line)
            if match and name not in found:
                found[name] = _maybe_number(match.group(1))
        concurrency = _PRE_CONCURRENCY_RE.search(line)
        if concurrency and "max_concurrency" not in found:
            found["max_concurrency"] = None if concurrency.group(1) == "None" else _maybe_number(concurrency.group(1))
        ramp = _PRE_RAMP_RE.search(line)
        if ramp:
            found.setdefault("ramp_up_strategy", ramp.group(1))
        rates = _PRE_RAMP_RATES_RE.search(line)
        if rates:
            found.setdefault("ramp_up_start_rate_per_s", _maybe_number(rates.group(1)))
            found.setdefault("ramp_up_end_rate_per_s", _maybe_number(rates.group(2)))
    namespace = next((m.group(1) for m in map(_NAMESPACE_RE.search, reversed(lines)) if m), None)
    if namespace is not None:
        for attribute, (name, value_re) in _NAMESPACE_ARGS.items():
            match = re.search(rf"(?:^|[ (,]){attribute}={value_re}", namespace)
            if match and name not in found:
                found[name] = None if match.group(1) == "None" else _maybe_number(match.group(1))
    return found


def _text_releases(labels: set[str], before: dict[str, Any]) -> str | None:
    """The vllm bench serve releases (0.8.5-0.33 checked) that print exactly these summary lines."""
    if "Input token throughput (tok/s)" in labels:
        return None
    if "Failed requests" in labels:
        return "0.13 or later" if "Total token throughput (tok/s)" in labels else "0.11.1-0.12"
    if "Peak output token throughput (tok/s)" in labels:
        return "0.11.0"
    if "Maximum request concurrency" in labels or "Request rate configured (RPS)" in labels:
        return "0.10.1-0.10.2"
    limited = before.get("max_concurrency") is not None
    finite = isinstance(before.get("request_rate_per_s"), float) and not math.isinf(before["request_rate_per_s"])
    return "0.10.0 or older" if limited or finite else "0.10.2 or older"


def _infer_unprinted(fields: dict[str, Any], notes: list[str]) -> None:
    """Rate, concurrency limit and prompt count where the summary leaves them out, and say what stays unknown."""
    states_both = fields["bench_releases"] in _STATES_RATE_AND_LIMIT
    if "request_rate_per_s" not in fields:
        if states_both:
            fields["request_rate_per_s"] = math.inf
        else:
            notes.append("the summary does not state the request rate (releases before 0.10.1 never print it)")
    if "max_concurrency" not in fields and not states_both:
        notes.append("the summary does not state whether --max-concurrency was set "
                     "(releases before 0.10.1 never print it)")
    rate = fields.get("request_rate_per_s")
    if "burstiness" not in fields and isinstance(rate, float) and not math.isinf(rate):
        notes.append("the summary does not state --burstiness (bench's default is 1, Poisson arrivals)")
    if "failed" in fields:
        if min(fields["completed"], fields["failed"]) >= 0:
            fields.setdefault("num_prompts", int(fields["completed"]) + int(fields["failed"]))
    else:
        notes.append("this release does not report failed requests")


# ------------------------------------------------------------------ shared


def _put_stat(stats: dict[str, dict[str, Any]], metric: str, kind: str, percentile: str | None, value: Any) -> None:
    """Record one statistic of one metric: mean/median/std, or a percentile."""
    entry = stats.setdefault(metric, {"percentiles_ms": {}})
    if percentile is not None:
        entry["percentiles_ms"][float(percentile)] = value
    else:
        entry[f"{kind}_ms"] = value


def _number(label: str, raw: str) -> float:
    """A printed value as a number, or a WizardError naming its line."""
    try:
        return float(raw)
    except ValueError:
        raise WizardError(f"'{label}:' in the benchmark summary is not a number ({raw!r})") from None


def _maybe_number(raw: str) -> float | str:
    """A printed value as a number where it is one, else as printed."""
    try:
        return float(raw)
    except ValueError:
        return raw


def _validated(fields: dict[str, Any], stats: dict[str, dict[str, Any]], other: dict[str, Any],
               notes: list[str]) -> BenchResult:
    """The BenchResult, or a WizardError naming every impossible value."""
    if fields.get("completed") == 0:
        notes.append("no request completed: bench reports 0 for every latency statistic")
    try:
        return BenchResult.model_validate({**fields, **stats, "other_fields": other, "notes": notes})
    except ValidationError as error:
        raise WizardError("the benchmark result has impossible values: "
                          + "; ".join(map(_problem, error.errors()))) from None


def _problem(problem: Any) -> str:
    """One validation problem in a line: the field, the value, what is wrong (a cross-field check: its message)."""
    message = problem["msg"].removeprefix("Value error, ")
    if not problem["loc"]:
        return message
    return f"{'.'.join(str(part) for part in problem['loc'])} = {problem['input']!r}: {message}"
