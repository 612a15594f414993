#!/usr/bin/env python3
"""Server time of a dashboard rerun after an input change, for catalog models.

Drives the real app with Streamlit's AppTest (in process, no browser), changes
one input per rerun and prints the wall time each rerun took.  The first run
(imports, cold caches) is reported apart.  Target: well under 300 ms.

    python benchmarks/dashboard_speed.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
CHANGES = [
    ("model", "Qwen/Qwen3-8B"), ("concurrency", 32), ("model", "meta-llama/Llama-3.1-70B-Instruct"), ("gpus", 4),
    ("model", "deepseek-ai/DeepSeek-V3"), ("gpu", "H200 SXM 141GB"), ("gpus", 8), ("model", "openai/gpt-oss-120b"),
    ("gpus", 1), ("prompt_tokens", 4096), ("model", "mistralai/Mixtral-8x7B-Instruct-v0.1"), ("gpus", 2),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=len(CHANGES), help="input changes to time")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    start = time.perf_counter()
    at.run()
    first = time.perf_counter() - start
    times = []
    print(f"{'change':<52} {'rerun ms':>9}")
    for key, value in (CHANGES * (args.runs // len(CHANGES) + 1))[: args.runs]:
        widget = at.get_by_key(key)
        widget.set_value(value)
        at.form_submit_button[0].click()
        start = time.perf_counter()
        at.run()
        elapsed = (time.perf_counter() - start) * 1000
        assert not at.exception, at.exception
        times.append(elapsed)
        print(f"{key} = {value!s:<44} {elapsed:9.0f}")
    start = time.perf_counter()
    at.run()
    unchanged = (time.perf_counter() - start) * 1000
    print(f"\nfirst run (imports, cold caches): {first * 1000:.0f} ms")
    print(f"rerun after an input change: median {statistics.median(times):.0f} ms, max {max(times):.0f} ms over {len(times)} changes")
    print(f"rerun with nothing changed (cached plan): {unchanged:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
