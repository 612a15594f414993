"""Every formula a plan prints evaluates to the number beside it, for every release the planner models.

The formulas are shown under "how these numbers are calculated" on the page and
by `plan --explain`; a reader who redoes the arithmetic must land on the printed
result (to the last printed digit).
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import make_plan

RELEASES = ["0.4.0", "0.6.4", "0.7.3", "0.8.5", "0.10.1", "0.10.2", "0.11.0", "0.14.0", "0.21.0", "0.26.0", "0.31.0", "0.33.0"]
PLANS = {
    "dense": dict(model="Qwen/Qwen3-32B", gpu="H100"),
    "hybrid sliding window": dict(model="openai/gpt-oss-120b", gpu="A100 80GB", gpus=4, gpu_memory_utilization=0.8),
    "MLA on two nodes": dict(model="deepseek-ai/DeepSeek-V3", gpu="H100", gpus=8, nodes=2),
    "extra overhead": dict(model="meta-llama/Llama-3.1-8B-Instruct", gpu="L4", overhead_gb=1.5, enforce_eager=True),
    "does not fit": dict(model="meta-llama/Llama-3.1-405B-Instruct", gpu="RTX 4090"),
}
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_OPERATORS = {"+": "+", "-": "-", "x": "*", "/": "/", "//": "//"}


def evaluate(formula: str) -> tuple[float, float]:
    """(the arithmetic left of '=', the number right of it); words, units and parentheses are labels."""
    left, right = formula.split(" = ", 1)
    left = re.sub(r"\([^)]*\)", "", left)
    words = [w for w in left.split() if w in _OPERATORS or _NUMBER.fullmatch(w)]
    expression = " ".join(_OPERATORS.get(w, w.replace(",", "")) for w in words)
    result = float(re.match(r"-?[\d,]+(?:\.\d+)?", right.strip()).group(0).replace(",", ""))
    return eval(expression, {"__builtins__": {}}), result  # noqa: S307 - digits and operators only


def _digits(formula: str) -> int:
    right = formula.split(" = ", 1)[1]
    number = re.match(r"-?[\d,]+(?:\.(\d+))?", right.strip())
    return len(number.group(1) or "")


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("name", PLANS)
def test_formulas_add_up(name, release):
    extra = {"vllm_version": release}
    if release < "0.8" and "gpt-oss" in PLANS[name]["model"] or release < "0.6" and "DeepSeek-V3" in PLANS[name]["model"]:
        extra["vllm_version"] = "0.11.0"  # models those releases could not serve
    plan = make_plan(**PLANS[name], **extra)
    assert set(plan.memory.formulas) == {"budget_gib", "kv_cache_gib", "kv_cache_tokens", "kv_bytes_per_token"}
    for key, formula in plan.memory.formulas.items():
        value, printed = evaluate(formula)
        digits = _digits(formula)
        if key == "kv_cache_tokens":
            value = int(value)  # vLLM truncates the token count
        assert round(value, digits) == pytest.approx(printed, abs=1e-9), f"{key}: {formula}"
    mem = plan.memory
    assert evaluate(mem.formulas["kv_cache_gib"])[1] == mem.kv_cache_gib
    assert evaluate(mem.formulas["kv_cache_tokens"])[1] == mem.kv_cache_tokens
    assert evaluate(mem.formulas["budget_gib"])[1] == mem.budget_gib


def test_graphs_outside_the_budget_are_named_but_not_subtracted():
    mem = make_plan(model="Qwen/Qwen3-32B", gpu="H100", vllm_version="0.14.0", gpu_memory_utilization=0.9).memory
    assert mem.formulas["kv_cache_gib"] == (
        "71.27 budget - 61.03 weights - 2.86 activation - 0.20 non-torch = 7.18 GiB "
        "(CUDA graphs, 1.30 GiB, are captured outside the budget in vLLM 0.14.0)")


def test_a_pinned_pool_is_its_bytes():
    plan = make_plan(model="Qwen/Qwen3-8B", gpu="H100", kv_cache_memory_bytes="20G")
    assert plan.memory.formulas["kv_cache_gib"] == "21,474,836,480 B (kv_cache_memory_bytes) / 1,073,741,824 = 20.00 GiB"
    assert plan.memory.kv_cache_gib == 20.0
