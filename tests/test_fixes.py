"""Fixes for plans that do not fit: each one offered fits when its link is opened, cheapest first."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlparse

import pytest

from app_pages.form import link
from tests.conftest import make_plan
from wizard.planning import fixes
from wizard.planning.inputs import resolve_inputs
from wizard.planning.planner import plan
from wizard.schema import parse_request

# Plans that do not fit, across GPUs (L4 to B200) and counts (1 to 16 GPUs), for each reason a plan can fail.
NO_FIT = {
    "70B on one L4": dict(model="meta-llama/Llama-3.1-70B-Instruct", gpu="L4"),
    "405B on one RTX 4090": dict(model="meta-llama/Llama-3.1-405B-Instruct", gpu="RTX 4090"),
    "256 long requests on L40S": dict(model="Qwen/Qwen3-32B", gpu="L40S", concurrency=256, prompt_tokens=8192),
    "Mixtral 8x22B on 2 x A100": dict(model="mistralai/Mixtral-8x22B-Instruct-v0.1", gpu="A100 80GB", gpus=2),
    "DeepSeek-V3 on 8 x H100": dict(model="deepseek-ai/DeepSeek-V3", gpu="H100", gpus=8),
    "405B on 4 x H200": dict(model="meta-llama/Llama-3.1-405B-Instruct", gpu="H200", gpus=4),
    "405B on 2 x B200": dict(model="meta-llama/Llama-3.1-405B-Instruct", gpu="B200", gpus=2),
    "DeepSeek-V3 on 2 nodes of 8 x L40S": dict(model="deepseek-ai/DeepSeek-V3", gpu="L40S", gpus=8, nodes=2),
    "a million-token context": dict(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", prompt_tokens=1_000_000),
    "the user's own utilization": dict(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", gpu_memory_utilization=0.2),
}


@pytest.fixture(scope="module", params=sorted(NO_FIT))
def failing(request):
    planned = make_plan(**NO_FIT[request.param])
    assert not planned.feasibility.fits, f"{request.param} fits: the case tests nothing"
    return planned


def opened(target: str):
    """The plan a suggestion's link opens (the page plans exactly the query it is given)."""
    return plan(parse_request(dict(parse_qsl(urlparse(target).query))), detected=[])


def test_every_suggestion_opens_a_plan_that_fits(failing):
    suggestions = failing.recommendation.suggestions
    assert 1 <= len(suggestions) <= fixes.MAX_SUGGESTIONS
    for suggestion in suggestions:
        assert opened(link(failing.request, suggestion.changes)).feasibility.fits, suggestion.text


def test_suggestions_are_cheapest_first(failing):
    rented = []
    for suggestion in failing.recommendation.suggestions:
        hw = opened(link(failing.request, suggestion.changes)).hardware
        rented.append(hw.gpus_per_node * hw.nodes * hw.gpu_total_gib)
    assert rented == sorted(rented)


def test_deepseek_on_one_node_of_h100s_is_offered_a_second_node():
    suggestions = make_plan(**NO_FIT["DeepSeek-V3 on 8 x H100"]).recommendation.suggestions
    layouts = {(s.changes.get("gpus"), s.changes.get("nodes"), s.changes.get("gpu")) for s in suggestions}
    assert (8, 2, None) in layouts  # two nodes of the same H100s, one pipeline stage each
    assert any(gpu for _, _, gpu in layouts)  # and a bigger GPU at the same count


def test_a_context_longer_than_the_model_allows_is_shortened():
    suggestions = make_plan(**NO_FIT["a million-token context"]).recommendation.suggestions
    prompts = [s.changes["prompt_tokens"] for s in suggestions if "prompt_tokens" in s.changes]
    assert prompts and all(p + 256 <= 131_072 for p in prompts)


def test_the_users_own_setting_is_the_first_fix():
    first = make_plan(**NO_FIT["the user's own utilization"]).recommendation.suggestions[0]
    assert first.changes == {"gpu_memory_utilization": None}


def test_fixes_plan_a_bounded_number_of_candidates():
    request = parse_request(NO_FIT["405B on one RTX 4090"])
    inputs = resolve_inputs(request, [])
    failing = plan(request, detected=[], suggest=False)
    calls = []

    def replan(variant):
        calls.append(variant)
        return plan(variant, detected=[], suggest=False)

    found = fixes.suggestions(inputs, failing, replan)
    assert found and len(calls) <= fixes.MAX_REPLANS


def test_a_plan_that_fits_has_no_suggestions():
    assert make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100").recommendation.suggestions == []
