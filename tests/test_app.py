"""The dashboard's behaviour through Streamlit's AppTest (no browser)."""

import json
import math
import re
from collections import OrderedDict
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import pytest
from streamlit.testing.v1 import AppTest

from app_pages import check_cards, form, plan_cards
from tests.conftest import make_plan
from wizard.faces import format as fmt
from wizard.planning import performance
from wizard.reality.benchcheck import check_bench
from wizard.schema import Recommendation, parse_request

TIMEOUT = 60
ROOT = Path(__file__).parents[1]
OVERLOADED = {"model": "Qwen/Qwen3-32B", "gpu": "L40S", "gpus": "2", "request_rate": "5"}
NO_FIT = {"model": "meta-llama/Llama-3.1-405B-Instruct", "gpu": "RTX 4090"}


@pytest.fixture
def app():
    return AppTest.from_file("../app.py", default_timeout=TIMEOUT)


def plan_page(app, **query):
    app.query_params.update(query)
    at = app.run()
    assert not at.exception
    return at


def plotly_specs(at):
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def serve_command(at):
    return next(c.value for c in at.code if c.value.startswith("vllm serve"))


def metrics(at):
    return {m.label: m.value for m in at.metric}


def alerts(at, kind):
    """(title, body) of every st.success / st.warning / st.error on the page."""
    return [(a.proto.title, a.value) for a in getattr(at, kind)]


def links(at):
    """The targets of the markdown links on the page."""
    return [target for m in at.markdown for target in re.findall(r"\]\((\./\?[^)]*)\)", m.value)]


def link_request(target):
    return parse_request(dict(parse_qsl(urlparse(target).query)))


# ---------------------------------------------------------------------------------------------- the first page


def test_first_page_shows_a_plan_with_charts_code_and_downloads(app):
    at = plan_page(app)
    assert len(at.get("plotly_chart")) >= 2
    assert serve_command(at).startswith("vllm serve meta-llama/Llama-3.1-8B-Instruct")
    assert len(at.get("download_button")) >= 3
    assert metrics(at)["Verdict"] == "fits" and "OOM risk" in metrics(at)
    assert alerts(at, "success")[0][0] == "Fits"


def test_vram_chart_data_matches_the_plan(app):
    at = plan_page(app)
    expected = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100 SXM 80GB")
    vram = plotly_specs(at)[0]
    bars = {trace["name"]: trace["y"][0] for trace in vram["data"]}
    gpu = expected.memory.per_gpu[0]
    assert bars["Weights"] == pytest.approx(gpu.weights_gib)
    assert bars["KV cache"] == pytest.approx(gpu.kv_cache_gib)
    assert bars["Activation peak"] == pytest.approx(gpu.activation_gib)


def test_submitting_the_form_replans_and_updates_the_share_link(app):
    at = plan_page(app)
    at.selectbox(key="model").set_value("Qwen/Qwen3-8B")
    at.number_input(key="concurrency").set_value(4)
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert serve_command(at).startswith("vllm serve Qwen/Qwen3-8B")
    # The share link carries the inputs under the request's field names (the browser's own
    # address bar is updated by the bound widgets; tests/test_e2e.py checks that).
    share = at.code[-1].value
    assert "model=Qwen%2FQwen3-8B" in share and "concurrency=4" in share


def test_query_parameters_reproduce_a_plan(app):
    at = plan_page(app, model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", gpus="2", max_model_len="8192")
    command = serve_command(at)
    assert "--max-model-len 8192" in command
    expected = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", gpus=2, max_model_len=8192)
    assert command == expected.artifacts.serve_command


def test_unknown_model_in_the_url_is_an_error_not_a_traceback(app):
    at = plan_page(app, model="does-not/exist")
    assert at.error and "does-not/exist" in at.error[0].value
    assert not at.get("plotly_chart")


# ---------------------------------------------------------------------------------------------- 1. overload


def test_an_overloaded_plan_never_shows_the_plain_success_verdict(app):
    at = plan_page(app, **OVERLOADED)
    expected = make_plan(model="Qwen/Qwen3-32B", gpu="L40S", gpus=2, request_rate=5)
    assert expected.feasibility.fits and plan_cards.keeps_up(expected) is False  # the memory fits, the rate does not
    assert not at.success
    # Uncapped, as the link asks (no concurrency with a rate), the queue also outruns the KV cache: a second warning.
    (title, body), = [alert for alert in alerts(at, "warning") if alert[0].startswith("Overloaded")]
    assert any("preempted" in body for _, body in alerts(at, "warning"))
    sustained = fmt.number(expected.performance.max_request_rate_per_s.expected)
    assert title == f"Overloaded: sustains about {sustained} requests/s, not the 5 asked"
    assert "3 replicas" in body  # ceil(5 / 1.74)
    assert metrics(at)["Verdict"] == "overloaded"


def test_keeps_up_is_read_from_saturated_in_one_place():
    fits = make_plan(model="Qwen/Qwen3-32B", gpu="L40S", gpus=2, request_rate=1)
    assert plan_cards.keeps_up(fits) is True
    assert plan_cards.keeps_up(make_plan(**NO_FIT)) is None  # vLLM does not start: nothing to keep up with


# ---------------------------------------------------------------------------------------------- 2. plans that do not fit


def test_a_plan_that_does_not_fit_shows_what_is_missing_and_fixes_that_fit(app):
    at = plan_page(app, **NO_FIT)
    expected = make_plan(model=NO_FIT["model"], gpu=NO_FIT["gpu"])
    shown = metrics(at)
    assert shown["Verdict"] == "does not fit"
    assert shown["Memory missing per GPU"] == fmt.gib(-expected.memory.kv_cache_gib) == "739 GiB"
    assert not any(value.startswith(("-", "−")) for value in shown.values())
    targets = links(at)
    assert targets and len(targets) == len(expected.recommendation.suggestions)
    for target in targets:
        assert make_plan(**link_request(target).flat()).feasibility.fits, target
    assert any("Do not deploy these as they are" in title for title, _ in alerts(at, "error"))


def test_a_plan_that_does_not_fit_gives_no_performance_numbers(app):
    at = plan_page(app, model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", prompt_tokens="1000000")
    assert any(i.value.startswith("No performance estimate: vLLM starts, but rejects the workload's requests: they are "
                                  "longer than max_model_len.") for i in at.info)
    assert at.error[0].proto.title == "Refused: requests of 1,000,256 tokens are longer than max_model_len"
    assert at.metric[0].value == "refused"
    assert len(at.get("plotly_chart")) == 3  # memory, gauge, frontier: no performance ranges of a workload that cannot run


# ---------------------------------------------------------------------------------------------- 3. links with typos


BAD_LINKS = [
    ({"gpus": "-1"}, "gpus=-1", "GPUs per node", "**1**"),
    ({"gpus": "0"}, "gpus=0", "GPUs per node", "**1**"),
    ({"gpus": "abc"}, "gpus=abc", "GPUs per node", "**1**"),
    ({"concurrency": "0"}, "concurrency=0", "Concurrent requests", "**16; no cap with a rate**"),
    ({"request_rate": "-3"}, "request_rate=-3", "Request rate (req/s)", "**closed loop: the concurrent requests**"),
    ({"request_rate": "nan"}, "request_rate=nan", "Request rate (req/s)", "**closed loop: the concurrent requests**"),
    ({"gpu_memory_utilization": "2"}, "gpu_memory_utilization=2", "GPU memory utilization", "**vLLM's default for the GPU**"),
    ({"batching_mode": "turbo"}, "batching_mode=turbo", "Batching mode", "**balanced**"),
    ({"quantization": "zip"}, "quantization=zip", "Quantization", "**the checkpoint's own**"),
    ({"port": "70000"}, "port=70000", "Port", "**8000**"),
    ({"max_model_len": "lots"}, "max_model_len=lots", "Max model length", "**the longest that fits**"),
    ({"colour": "blue"}, "colour", "not a setting of this dashboard", "ignored"),
]


@pytest.mark.parametrize("query, param, label, instead", BAD_LINKS, ids=[b[1] for b in BAD_LINKS])
def test_a_typo_in_a_link_is_named_with_what_was_used_instead(app, query, param, label, instead):
    at = plan_page(app, model="Qwen/Qwen3-8B", gpu="L40S", **query)
    (title, body), = alerts(at, "warning")
    assert title == "The link has values this page could not use"
    assert f"`{param}" in body and label in body and instead in body
    expected = make_plan(model="Qwen/Qwen3-8B", gpu="L40S")  # the defaults were used, and the plan says so
    assert serve_command(at) == expected.artifacts.serve_command


def test_a_link_value_the_widget_cannot_read_is_read_by_the_one_door(app):
    """8k, FP8 and 'yes' are good values the bound widgets would drop without a word: the door reads them."""
    at = plan_page(app, model="Qwen/Qwen3-8B", gpu="L40S", prompt_tokens="8k", quantization="FP8", trust_remote_code="yes")
    assert not at.warning
    expected = make_plan(model="Qwen/Qwen3-8B", gpu="L40S", prompt_tokens=8000, quantization="fp8", trust_remote_code=True)
    assert serve_command(at) == expected.artifacts.serve_command
    assert at.number_input(key="prompt_tokens").value == 8000


def test_the_link_warning_goes_once_the_form_changes(app):
    at = plan_page(app, gpus="abc")
    assert at.warning
    at.number_input(key="concurrency").set_value(4)
    at.form_submit_button[0].click().run()
    assert not at.exception and not at.warning


# Long values stay under Streamlit's own limit (a query string over 512 Ki characters is dropped whole, and logged).
NASTY = ["x" * 10_000, "9" * 400, "1e400", "inf", "-inf", "nan", "-5", "", "   ", "ünïcødé 测试", "\x00\x01\x7f\x1b[31m",
         "８", "1.5k", "true", "$(rm -rf ~)", "<script>alert(1)</script>", "`code`"]


@pytest.mark.parametrize("page", ["app_pages/plan.py", "app_pages/compare.py"])
@pytest.mark.parametrize("value", NASTY, ids=range(len(NASTY)))
def test_no_link_value_raises_an_exception(app, value, page):
    """Every setting of both pages at once, plus an unknown key, set to a long, huge, infinite, NaN, negative, empty,
    non-ASCII, binary or hostile value: the page warns or plans, it never raises."""
    names = [*form.SPECS, *form.TARGETS, "provider"]
    app.query_params.update({name: value for name in names} | {value or "empty": "1"})
    at = app.switch_page(page).run()  # each page opened first: AppTest cannot rerun a typed-in option
    assert not at.exception
    assert at.warning and at.warning[0].proto.title == "The link has values this page could not use"


@pytest.mark.parametrize("value", NASTY, ids=range(len(NASTY)))
def test_no_typed_value_raises_an_exception(app, value):
    """The form's free-text fields (the choices with typed-in options go through the same door as the URL above)."""
    at = plan_page(app)
    at.toggle(key="advanced").set_value(True).run()
    for name in ("max_model_len", "revision", "vllm_version"):
        at.text_input(key=name).set_value(value)
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert at.error or at.success


def test_advanced_settings_are_the_wizards_until_switched_on(app):
    at = plan_page(app)
    assert at.toggle(key="advanced").value is False and "max_model_len" not in [w.key for w in at.text_input]
    at = plan_page(AppTest.from_file("../app.py", default_timeout=TIMEOUT), max_model_len="8k")
    assert at.toggle(key="advanced").value is True  # a link that sets one shows them
    assert at.text_input(key="max_model_len").value == "8000" and "--max-model-len 8000" in serve_command(at)
    at.toggle(key="advanced").set_value(False).run()  # off: the wizard's own again, and so is the link
    assert "--max-model-len 131072" in serve_command(at)
    at.toggle(key="advanced").set_value(True).run()
    assert at.text_input(key="max_model_len").value == ""


# ---------------------------------------------------------------------------------------------- 4. one set of defaults


def test_both_pages_draw_the_same_fields_with_the_same_keys_and_defaults(app):
    at = plan_page(app)
    plan_values = {name: at.get_by_key(name).value for name in form.BASIC}
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    for name in ("model", "prompt_tokens", "gen_tokens", "concurrency", "request_rate", "batching_mode"):
        assert at.get_by_key(name).value == plan_values[name] == form.default_value(name), name
    # The concurrency starts empty: the one door fills in the closed loop's 16 without a rate, and no cap with one.
    assert at.number_input(key="concurrency").value is None
    assert make_plan(model="Qwen/Qwen3-8B", gpu="H100").request.workload.concurrency == 16
    assert make_plan(model="Qwen/Qwen3-8B", gpu="H100", request_rate=5).request.workload.concurrency is None


def test_a_rate_typed_in_the_form_is_sent_uncapped_and_a_concurrency_caps_it(app):
    at = plan_page(app, model="Qwen/Qwen3-8B", gpu="H100 SXM 80GB")
    at.text_input(key="request_rate").input("5")
    at.form_submit_button[0].click().run()
    assert not at.exception and "concurrency" not in at.query_params
    workload = [c.value for c in at.caption if "requests of 1,024 prompt" in c.value]
    assert workload and "5 requests/s (Poisson)." in workload[0]
    at.number_input(key="concurrency").set_value(8)
    at.form_submit_button[0].click().run()
    assert any("5 requests/s (Poisson), at most 8 in flight." in c.value for c in at.caption)


def test_a_value_in_the_link_is_the_value_on_both_pages(app):
    at = plan_page(app, concurrency="7", prompt_tokens="2k")
    assert at.number_input(key="concurrency").value == 7
    at.switch_page("app_pages/compare.py").run()
    assert at.number_input(key="concurrency").value == 7 and at.number_input(key="prompt_tokens").value == 2000


# ---------------------------------------------------------------------------------------------- 5. numbers for people


def test_every_number_on_the_plan_page_is_formatted(app):
    at = plan_page(app, **OVERLOADED)
    # A rate without a concurrency is uncapped, as vllm bench's --request-rate alone.
    expected = make_plan(model="Qwen/Qwen3-32B", gpu="L40S", gpus=2, request_rate=5)
    shown, f, perf = metrics(at), expected.feasibility, expected.performance
    assert shown["KV cache per GPU"] == fmt.gib(expected.memory.kv_cache_gib)
    assert shown[f"Requests at once at {fmt.tokens(f.context_tokens)}"] == fmt.count(f.max_concurrency)
    assert shown["Longest context at 1 request"] == fmt.tokens(f.max_context_tokens)
    caption = next(c.value for c in at.caption if c.value.startswith("200 requests of"))
    assert perf.ttft_ms.expected == 32530.7 and "32.5 s to the first token" in caption  # not "31,717.7 ms"
    assert fmt.tokens_per_s(perf.output_tokens_per_s.expected) in caption


def test_tables_separate_thousands(app):
    at = plan_page(app)
    settings = at.table[0].value
    assert settings.set_index("setting").loc["max_model_len", "value"] == "131,072"
    at.switch_page("app_pages/models.py").run()
    columns = json.loads(at.dataframe[0].proto.columns)
    assert columns["context"]["type_config"]["format"] == columns["KV bytes/token"]["type_config"]["format"] == "%,d"


# ---------------------------------------------------------------------------------------------- 6. layout


def test_the_settings_table_lists_every_setting_in_words(app):
    at = plan_page(app)
    table = at.table[0].value
    assert list(table["setting"]) == Recommendation.setting_names()
    assert list(table.columns) == ["setting", "value", "from", "why"]
    assert not set(table["value"]) & {"None", "True", "False", ""}
    assert all(table["why"])


def test_only_notes_meant_for_people_are_shown(app):
    at = plan_page(app, model="openai/gpt-oss-120b", gpu="H100")
    assert not any("total_size" in c.value for c in at.caption)


def test_the_parameter_count_is_the_same_on_the_models_and_plan_pages(app):
    at = plan_page(app, model="deepseek-ai/DeepSeek-V3", gpu="H200 SXM 141GB", gpus="8")
    caption = at.caption[0].value
    assert "684.49B parameters (671.03B loaded: the multi-token-prediction layers are not loaded)" in caption
    at.switch_page("app_pages/models.py").run()
    models = at.dataframe[0].value.set_index("model")
    assert models.loc["deepseek-ai/DeepSeek-V3", "parameters (B)"] == 684.49


def test_a_burst_stays_a_burst_in_the_form_and_its_link(app):
    """vllm bench's default, every prompt at once, is request_rate=inf: the rate field shows 'inf' (a number input
    showed it empty, the link dropped it and the next change planned a closed loop), and it can be typed."""
    at = plan_page(app, model="Qwen/Qwen3-8B", gpu="H100 SXM 80GB", request_rate="inf", num_prompts="100")
    assert at.text_input(key="request_rate").value == "inf" and at.query_params["request_rate"] == "inf"
    assert any("100 requests of 1,024 prompt + 256 output tokens, all sent at once" in c.value for c in at.caption)
    (title, body), = alerts(at, "success")  # a burst is not a rate to keep up with: the time to serve it all
    assert re.fullmatch(r"Fits: the 100 prompts sent at once are served in [\d.]+ s", title), title
    assert body.startswith("vLLM starts, 100 requests of 1,280 tokens fit at once (up to 292)")
    at.number_input(key="gen_tokens").set_value(300)
    at.form_submit_button[0].click().run()
    assert any("100 requests of 1,024 prompt + 300 output tokens, all sent at once" in c.value for c in at.caption)
    at.text_input(key="request_rate").input("")
    at.form_submit_button[0].click().run()
    assert any("a closed loop of 16 concurrent requests" in c.value for c in at.caption)
    at.text_input(key="request_rate").input("inf")
    at.form_submit_button[0].click().run()
    assert not at.exception and at.query_params["request_rate"] == "inf"
    assert any("all sent at once" in c.value for c in at.caption)


def test_a_burst_larger_than_the_kv_cache_queues_and_says_why(app):
    """500 prompts at once where the KV cache holds 292: overloaded, in words about the burst, not about a rate
    ('not the ∞ asked' once)."""
    at = plan_page(app, model="Qwen/Qwen3-8B", gpu="H100 SXM 80GB", request_rate="inf", num_prompts="500")
    title, body = alerts(at, "warning")[0]
    assert title == "Overloaded: not all 500 requests are served at once"
    assert body.startswith("The memory fits, but vLLM runs at most 292 requests of 1,280 tokens at a time "
                           "(what the KV cache holds)")


def test_no_performance_says_open_a_fix_only_when_there_is_one(app):
    """A workload longer than any max_model_len has no fix the wizard tries: the page pointed at one anyway."""
    at = plan_page(app, gen_tokens="131072")
    (info,) = [i.value for i in at.info if i.value.startswith("No performance estimate")]
    assert info == ("No performance estimate: vLLM starts, but rejects the workload's requests: they are longer than "
                    "max_model_len.")


def test_one_seat_is_one_sequence_at_a_time(app):
    at = plan_page(app, model="Qwen/Qwen3-8B", gpu="H100 SXM 80GB", request_rate="inf", num_prompts="10",
                   max_num_seqs="1", gen_tokens="16")
    _, body = alerts(at, "warning")[0]
    assert body.startswith("The memory fits, but vLLM runs at most 1 sequence at a time (max_num_seqs)"), body


def test_compare_page_says_which_plan_page_hardware_it_does_not_use(app):
    app.query_params.update({"model": "Qwen/Qwen3-8B", "gpu": "A100", "gpus": "4"})
    at = app.switch_page("app_pages/compare.py").run()
    assert any(c.value == "The sweep chooses the GPUs, the layout and the replicas of each configuration itself: the "
               "Plan page's GPU A100, GPUs per node 4 are not used here." for c in at.caption)


def test_a_rate_that_is_not_a_number_is_named_on_the_page(app):
    at = plan_page(app, model="Qwen/Qwen3-8B", gpu="H100 SXM 80GB")
    at.text_input(key="request_rate").input("fast")
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert any("Request rate (req/s)" in e.value and "'fast'" in e.value for e in at.error)


def test_every_field_is_labelled_in_words(app):
    """The advanced fields once showed their schema names (num_prompts, range_ratio) as labels."""
    at = plan_page(app, advanced="true")
    labels = [w.label for kind in ("number_input", "text_input", "selectbox", "toggle") for w in at.get(kind)]
    assert "Prompts in the run" in labels and "Random range ratio" in labels
    assert not [label for label in labels if "_" in label]


def test_empty_fields_say_what_empty_means(app):
    at = plan_page(app)
    assert at.number_input(key="vram_gb").proto.placeholder == "the GPU's own"
    assert at.text_input(key="request_rate").proto.placeholder.startswith("closed loop")
    placeholders = [w.proto.placeholder for w in [*at.number_input, *at.text_input] if w.proto.placeholder]
    assert placeholders and "recommended" not in placeholders


def test_compare_page_links_each_cheap_row_to_its_plan_in_one_click(app):
    at = plan_page(app)
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception and not at.error
    cheapest = at.table[0].value
    assert list(cheapest["#"])[:3] == ["1", "2", "3"]
    first = link_request(re.fullmatch(r"\[open plan\]\((.*)\)", cheapest.iloc[0]["plan"]).group(1))
    assert f"{first.hardware.gpus} x {first.hardware.gpu}" in cheapest.iloc[0]["deployment"]
    assert make_plan(**first.flat()).feasibility.fits
    assert len(plotly_specs(at)) == 2  # the Pareto chart and the comparison's memory bars
    assert any(c.language == "diff" for c in at.code)


def test_compare_page_sweeps_the_whole_workload_of_the_link(app):
    """The run as vllm bench sends it (prompt count, length spread, seed) reaches the sweep and each row's plan:
    the Compare page once swept 200 prompts of fixed lengths whatever the link or the Plan page said."""
    app.query_params.update({"model": "Qwen/Qwen3-8B", "num_prompts": "500", "length_distribution": "sharegpt",
                             "seed": "7", "request_rate": "inf"})
    at = app.switch_page("app_pages/compare.py").run()
    assert not at.exception and not at.error
    assert at.number_input(key="num_prompts").value == 500 and at.selectbox(key="length_distribution").value == "sharegpt"
    first = link_request(re.fullmatch(r"\[open plan\]\((.*)\)", at.table[0].value.iloc[0]["plan"]).group(1))
    workload = first.workload
    assert (workload.num_prompts, workload.length_distribution, workload.seed) == (500, "sharegpt", 7)
    assert math.isinf(workload.request_rate)


def test_compare_page_sweeps_with_the_plan_settings_of_the_link_and_lists_them(app):
    """A link's vLLM release, max_model_len and memory utilization (not drawn on the Compare page) reach the sweep
    and each row's plan: they were silently left at their defaults.  The layout stays the sweep's to choose."""
    app.query_params.update({"model": "Qwen/Qwen3-8B", "vllm_version": "0.6.0", "max_model_len": "8192",
                             "gpu_memory_utilization": "0.8", "tensor_parallel_size": "2"})
    at = app.switch_page("app_pages/compare.py").run()
    assert not at.exception and not at.error
    assert any(c.value == "Also as on the Plan page: Max model length 8192, GPU memory utilization "
               "0.8, vLLM version 0.6.0." for c in at.caption), [c.value for c in at.caption]
    first = link_request(re.fullmatch(r"\[open plan\]\((.*)\)", at.table[0].value.iloc[0]["plan"]).group(1))
    assert (first.model.max_model_len, first.policy.gpu_memory_utilization, first.policy.vllm_version) == (
        8192, 0.8, "0.6.0")
    assert first.hardware.tensor_parallel_size == 1 and any(
        "the Plan page's Tensor parallel 2 is not used here" in c.value for c in at.caption)


def test_the_plan_pages_values_are_the_compare_pages_after_a_switch_that_drops_the_link(app):
    """Opened from a link, the Plan page's values live in a URL the browser drops on a page switch (Streamlit
    1.67 carries only the bound values changed on the page): in Chromium the Compare page showed the example
    model and a closed loop.  It now starts from what the Plan page showed, and so does the Plan page coming
    back.  AppTest keeps widget state over a switch, so here the dropped URL shows in the Plan page's other
    settings, which the Compare page read from the URL alone."""
    at = plan_page(app, model="Qwen/Qwen3-8B", gpu="H100 SXM 80GB", num_prompts="500", request_rate="inf",
                   vllm_version="0.6.0")
    at.query_params.clear()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    assert (at.selectbox(key="model").value, at.text_input(key="request_rate").value) == ("Qwen/Qwen3-8B", "inf")
    assert at.number_input(key="num_prompts").value == 500
    assert any(c.value == "Also as on the Plan page: vLLM version 0.6.0." for c in at.caption)
    at.selectbox(key="model").set_value("Qwen/Qwen3-14B").run()
    at.query_params.clear()
    at.switch_page("app_pages/plan.py").run()
    assert at.selectbox(key="model").value == "Qwen/Qwen3-14B" and at.text_input(key="vllm_version").value == "0.6.0"


def test_compare_page_shares_a_link_that_reopens_its_sweep(app):
    """The Compare page had no link of its own, and after a page switch the browser's address bar holds none of
    the form: its share link carries the workload, the targets, the Plan page's settings and the price list."""
    app.query_params.update({"model": "Qwen/Qwen3-8B", "num_prompts": "500", "max_itl_ms": "40",
                             "vllm_version": "0.6.0", "provider": "aws"})
    at = app.switch_page("app_pages/compare.py").run()
    (share,) = [c.value for c in at.code if c.language == "text"]
    assert share.startswith("./compare?")
    assert dict(parse_qsl(urlparse(share).query)) == {"model": "Qwen/Qwen3-8B", "num_prompts": "500",
                                                      "vllm_version": "0.6.0", "max_itl_ms": "40.0", "provider": "aws"}


def test_advanced_settings_switched_off_on_the_plan_page_do_not_reach_the_compare_page(app):
    """Switched off, the advanced settings are the wizard's again: a page switch must not bring back the values
    they had while shown."""
    at = plan_page(app, model="Qwen/Qwen3-8B", vllm_version="0.6.0")
    at.toggle(key="advanced").set_value(False).run()
    at.query_params.clear()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception and not [c.value for c in at.caption if c.value.startswith("Also as on the Plan page")]


def test_a_bench_field_set_on_the_compare_page_is_planned_on_the_plan_page(app):
    """The prompt count is an advanced setting on the Plan page: set on the Compare page, it used to stay hidden
    there, switched off, and the plan went on simulating 200 prompts."""
    at = app.switch_page("app_pages/compare.py").run()
    at.number_input(key="num_prompts").set_value(500).run()
    at.switch_page("app_pages/plan.py").run()
    assert not at.exception and at.toggle(key="advanced").value
    assert any(c.value.startswith("500 requests of 1,024 prompt + 256 output tokens") for c in at.caption)


def test_compare_page_says_which_figures_are_simulated_with_and_without_a_rate(app):
    """Rows past the simulated ones carry the screen's figures, whichever chart the page draws."""
    at = plan_page(app)
    at.switch_page("app_pages/compare.py").run()
    for rate in (None, 4.0):
        if rate:
            at.text_input(key="request_rate").input(f"{rate:g}").run()
        assert not at.exception
        caption = next(c.value for c in at.caption if "steady-state screen" in c.value)
        assert re.search(r"simulated for the \d+ cheapest, the others from the sweep's steady-state screen", caption)


def test_compare_page_side_by_side_has_the_cost(app):
    at = plan_page(app)
    at.switch_page("app_pages/compare.py").run()
    side = at.table[1].value.set_index("")
    a, b = side.columns
    assert side.loc["cost per hour", a].startswith("$") and side.loc["cost per hour", a].endswith(")")
    assert side.loc["cost per million output tokens", b].startswith("$")


def test_compare_page_target_filters_rows(app):
    at = plan_page(app)
    at.switch_page("app_pages/compare.py").run()
    before = int(metrics(at)["Fit and meet the targets"].replace(",", ""))
    at.number_input(key="max_itl_ms").set_value(30).run()
    assert not at.exception
    after = int(metrics(at)["Fit and meet the targets"].replace(",", ""))
    assert 0 < after < before


def test_compare_page_reports_an_unknown_model(app):
    app.query_params["model"] = "no-such/model-xyz"
    at = app.switch_page("app_pages/compare.py").run()  # opened first: AppTest cannot rerun a typed-in option
    assert not at.exception
    assert at.error and "no-such/model-xyz" in at.error[0].value


# ---------------------------------------------------------------------------------------------- 7 and 8. first paint, cards


def elements(node):
    """The elements under a node of AppTest's tree, in page order."""
    children = getattr(node, "children", None)
    if not children:
        return [node]
    return [element for child in children.values() for element in elements(child)]


def test_the_verdict_comes_before_every_chart_and_hidden_tabs_draw_nothing(app):
    at = plan_page(app)
    kinds = [element.type for element in elements(at.main)]
    assert kinds.index("success") < kinds.index("metric") < kinds.index("plotly_chart")
    deploy = [c for c in at.code if c.language in ("bash", "yaml")]
    assert len(deploy) == 1  # the open tab's code only, not six blocks on every rerun


def test_the_plan_page_is_one_function_per_card():
    cards = ["verdict", "metrics", "memory_chart", "gauge", "performance", "latency", "frontier", "settings", "fixes",
             "warnings", "deploy", "share"]
    page = (ROOT / "app_pages" / "plan.py").read_text()
    for card in cards:
        assert callable(getattr(plan_cards, card)), card
        assert f"cards.{card}(" in page, card
    for check in ("log_check", "bench_check"):
        assert callable(getattr(check_cards, check)) and f"checks.{check}(" in page, check


# ---------------------------------------------------------------------------------------------- the rest of the page


def test_profile_upload_fills_the_form(app):
    at = plan_page(app)
    profile = make_plan(model="Qwen/Qwen2.5-7B-Instruct", gpu="L40S", gpus=2, concurrency=3).artifacts.profile_yaml
    at.file_uploader(key="profile_upload").upload("team.yaml", profile.encode())
    at.run()
    assert not at.exception
    assert at.selectbox(key="model").value == "Qwen/Qwen2.5-7B-Instruct"
    assert at.selectbox(key="gpu").value == "L40S"
    assert serve_command(at).startswith("vllm serve Qwen/Qwen2.5-7B-Instruct")


def test_broken_profile_upload_is_reported(app):
    at = plan_page(app)
    at.file_uploader(key="profile_upload").upload("broken.yaml", b"model: [unclosed")
    at.run()
    assert not at.exception
    assert any("could not be loaded" in (e.proto.title or "") for e in at.error)


def test_tooltips_come_from_the_schema(app):
    from wizard.schema import field_info

    at = plan_page(app)
    assert at.number_input(key="gpus").help == field_info("gpus").description
    assert at.selectbox(key="model").help == field_info("model").description


def test_gpus_page_without_gpus(app, monkeypatch):
    monkeypatch.setattr("wizard.catalog.detect.detect_gpus", lambda *a, **k: [])
    at = plan_page(app)
    at.switch_page("app_pages/gpus.py").run()
    assert not at.exception
    assert any("No NVIDIA GPU" in i.value for i in at.info)
    assert len(at.dataframe[0].value) >= 30


def test_models_page_lists_the_catalog(app):
    at = plan_page(app)
    at.switch_page("app_pages/models.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) >= 36 and "KV bytes/token" in table.columns


def open_log_check(app):
    at = plan_page(app)
    assert "log_text" not in [t.key for t in at.text_area]  # drawn only when opened
    at.session_state["log_check"] = True
    return at.run()


def test_plan_page_checks_a_pasted_start_up_log(app):
    at = open_log_check(app)
    at.text_area(key="log_text").set_value((Path(__file__).parent / "data/logs/v0_0.6.4_memory_profiling_rtx3090.log").read_text())
    at.text_input(key="log_model").set_value("meta-llama/Llama-3.1-8B-Instruct").run()
    assert not at.exception and not at.error
    table = at.dataframe[-1].value
    assert list(table["measured"])[:2] == [14.9888, 2.0712]
    assert set(table["verdict"]) == {"within range"}


def test_plan_page_reports_a_log_it_cannot_read(app):
    at = open_log_check(app)
    at.text_area(key="log_text").set_value("INFO: Uvicorn running on http://0.0.0.0:8000").run()
    assert not at.exception
    assert "no vLLM memory lines found" in at.error[0].value



def test_plan_page_checks_a_pasted_benchmark_result_on_its_own_deployment(app):
    """gpustack's vllm bench run of Qwen3-8B on one H100 (vLLM 0.11), simulated on the page's plan of that deployment."""
    at = plan_page(app, model="Qwen/Qwen3-8B", gpu="H100 SXM 80GB", vllm_version="0.11.0")
    assert "bench_text" not in [t.key for t in at.text_area]  # drawn only when opened
    at.session_state["bench_check"] = True
    at = at.run()
    text = (Path(__file__).parent / "data/bench/text_v0.11.0_gpustack_qwen3-8b_h100.txt").read_text()
    uploader, = [u for u in at.get("file_uploader") if u.proto.label.startswith("Benchmark result")]
    assert set(uploader.proto.type) == {".json", ".txt", ".log"}  # the saved JSON or the printed summary
    at.text_area(key="bench_text").set_value(text).run()
    assert not at.exception and not at.error
    table = at.dataframe[-1].value
    rows = dict(zip(table["metric"], table["measured"]))
    assert rows["mean tpot"] == 7.38 and rows["output token throughput"] == 496.88
    expected = check_bench(text, {"model": "Qwen/Qwen3-8B", "gpu": "H100", "vllm_version": "0.11.0"})
    simulated = dict(zip(table["metric"], table["simulated"]))
    assert simulated["mean tpot"] == round(next(r.predicted for r in expected.rows if r.quantity == "mean tpot"), 2)


def test_plan_page_draws_the_latency_percentiles_and_the_run_when_opened(app):
    at = plan_page(app, model="Qwen/Qwen3-8B", gpu="L4", max_model_len="8192", request_rate="2")
    keys = [c.proto.id for c in at.get("plotly_chart")]
    at.session_state["latency_card"] = True
    at = at.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == len(keys) + 2
    assert any("preemptions" in c.value and "requests over" in c.value for c in at.caption)


def test_a_run_cut_at_its_work_budget_says_so_where_its_figures_are(app, monkeypatch):
    """A burst whose simulation is cut before every request completed: no 'served in' headline (that time is the
    cut run's), and the performance and run captions and the warnings say how many requests were simulated."""
    monkeypatch.setattr(performance, "SIM_WORK_BUDGET", 1_000)
    monkeypatch.setattr(performance, "_KEPT", OrderedDict())  # runs cut at this budget are not kept for later tests
    at = plan_page(app, model="Qwen/Qwen3-8B", gpu="H100 SXM 80GB", request_rate="inf", num_prompts="100",
                   length_distribution="random", range_ratio="0.5")
    at.session_state["latency_card"] = True
    at = at.run()
    assert not at.exception
    (title, _), = alerts(at, "success")
    assert title == "Fits"
    served = re.search(r"Simulated on the first (\d+) of them to complete", "".join(c.value for c in at.caption))
    assert served and 0 < int(served.group(1)) < 100
    assert any(f"{served.group(1)} of the 100 requests (the run was cut there" in c.value for c in at.caption)
    assert any(body.startswith(f"simulated in part: the run was cut after {served.group(1)} of its 100 requests")
               for _, body in alerts(at, "warning"))


@pytest.mark.parametrize("workload, said", [({"concurrency": "8"}, True), ({"request_rate": "2"}, False)])
def test_a_closed_loops_run_chart_explains_its_first_wave(app, workload, said):
    """The run chart of a closed loop dips after the first wave, where the clients spread out: its caption
    says why; a rate's does not."""
    at = plan_page(app, model="Qwen/Qwen3-8B", gpu="L4", max_model_len="8192", **workload)
    at.session_state["latency_card"] = True
    at = at.run()
    assert not at.exception
    caption = next(c.value for c in at.caption if "requests over" in c.value)
    assert ("Closed loop: the 8 clients send at once" in caption and "the dip after the first wave" in caption) == said
