#!/usr/bin/env python3
"""Reading speed of ``wizard.reality.bench_result.parse_bench_result`` on large bench results.

Each scenario writes what ``vllm bench serve --save-result --save-detailed`` (0.33)
writes for N requests, keys in its order: per-request ``input_lens``, ``output_lens``,
``ttfts``, ``itls`` (one list of chunk gaps per request), ``latencies``,
``start_times``, ``queue_times``, ``generated_texts`` and ``errors``; the numbers are
random but printed as json.dump prints floats.  Plus a printed summary after a long
log.  Target: at most 1 s for 10,000 requests on the 2-core development machine.
Times are the median of three runs (wall and CPU: the machine is shared).

    python benchmarks/bench_result_speed.py
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time

from wizard.reality.bench_result import parse_bench_result

TARGET_S = 1.0
RUNS = 3


def detailed_json(requests: int, output_tokens: int, seed: int = 0) -> str:
    """A --save-detailed result of ``requests`` requests of ``output_tokens`` tokens each (one token per chunk)."""
    rng = random.Random(seed)
    result = {
        "date": "20260101-000000", "endpoint_type": "openai", "backend": "openai", "label": None,
        "model_id": "meta-llama/Llama-3.1-8B-Instruct", "tokenizer_id": "meta-llama/Llama-3.1-8B-Instruct",
        "num_prompts": requests, "request_rate": "inf", "burstiness": 1.0, "max_concurrency": None,
        "duration": 600.0, "completed": requests, "failed": 0, "total_input_tokens": requests * 1024,
        "total_output_tokens": requests * output_tokens, "request_throughput": requests / 600.0,
        "request_goodput": None, "output_throughput": requests * output_tokens / 600.0,
        "total_token_throughput": requests * (1024 + output_tokens) / 600.0,
        "input_lens": [1024] * requests, "output_lens": [output_tokens] * requests,
        "ttfts": [rng.uniform(0.05, 30.0) for _ in range(requests)],
        "itls": [[rng.uniform(0.005, 0.05) for _ in range(output_tokens - 1)] for _ in range(requests)],
        "latencies": [rng.uniform(1.0, 60.0) for _ in range(requests)],
        "start_times": [rng.uniform(1e5, 1e5 + 600) for _ in range(requests)],
        "queue_times": [0.0] * requests,
        "generated_texts": ["The quick brown fox jumps over the lazy dog. " * (output_tokens // 10)] * requests,
        "errors": [""] * requests,
        "max_output_tokens_per_s": 9000.0, "max_concurrent_requests": requests, "rtfx": 0.0,
    }
    for metric in ("ttft", "tpot", "itl"):
        result |= {f"mean_{metric}_ms": 20.0, f"median_{metric}_ms": 18.0, f"std_{metric}_ms": 4.0,
                   f"p99_{metric}_ms": 40.0}
    return json.dumps(result)


def long_log_summary(log_lines: int) -> str:
    """A printed summary after ``log_lines`` lines of server log, as a pasted terminal session holds it."""
    log = "".join(f"INFO 01-01 00:00:{i % 60:02d} [loggers.py:123] Engine 000: Avg prompt throughput: 1.0 tokens/s\n"
                  for i in range(log_lines))
    summary = "\n".join([
        "{s:{c}^{n}}".format(s=" Serving Benchmark Result ", n=50, c="="),
        "{:<40} {:<10}".format("Successful requests:", 1000), "{:<40} {:<10}".format("Failed requests:", 0),
        "{:<40} {:<10.2f}".format("Benchmark duration (s):", 60.0),
        "{:<40} {:<10}".format("Total input tokens:", 1024000),
        "{:<40} {:<10}".format("Total generated tokens:", 128000),
        "{:<40} {:<10.2f}".format("Request throughput (req/s):", 16.67),
        "{:<40} {:<10.2f}".format("Output token throughput (tok/s):", 2133.33),
        "=" * 50,
    ])
    return log + summary + "\n"


def timed(text: str) -> tuple[float, float]:
    """Median wall and CPU seconds of parsing ``text``."""
    walls, cpus = [], []
    for _ in range(RUNS):
        wall, cpu = time.perf_counter(), time.process_time()
        parse_bench_result(text)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    scenarios = [
        ("--save-detailed JSON, 10,000 x 128 output tokens", detailed_json(10_000, 128)),
        ("--save-detailed JSON, 10,000 x 1,024 output tokens", detailed_json(10_000, 1024)),
        ("printed summary after 200,000 log lines", long_log_summary(200_000)),
    ]
    print(f"{'scenario':<52} {'MB':>7} {'wall s':>7} {'cpu s':>6}")
    slowest = 0.0
    for name, text in scenarios:
        wall, cpu = timed(text)
        slowest = max(slowest, wall)
        print(f"{name:<52} {len(text) / 1e6:>7.1f} {wall:>7.3f} {cpu:>6.3f}")
    verdict = "meets" if slowest <= TARGET_S else "MISSES"
    print(f"\nslowest scenario: {slowest:.3f} s wall ({verdict} the {TARGET_S} s target); load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0 if slowest <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
