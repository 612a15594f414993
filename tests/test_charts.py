"""Figure builders: each figure's data is the plan's numbers, and every axis spans what it shows."""

import math
from collections import defaultdict

import plotly.graph_objects as go
import pytest

from tests.conftest import make_plan
from wizard.capacity.sweep import sweep
from wizard.catalog.gpus import catalog
from wizard.faces import charts
from wizard.faces import format as fmt
from wizard.schema import parse_request

# No quantity on these charts (tokens, requests, ms, tok/s, GiB, USD, %) comes near a billion: a value or
# range beyond it is a placement bug, like an hline label put at 10**256 on a log axis.
SANE_LIMIT = 1e9
# An explicit linear range may reach past its data by at most half the data's extent in all...
LINEAR_SLACK = 1.5
# ...and a log range by at most one decade in all.
LOG_SLACK_DECADES = 1.0
# A gauge's dial ends at most at twice the budget.
GAUGE_LIMIT_PCT = 200


def _axis(ref: str) -> str:
    """Layout key of a trace's or annotation's axis reference: "x" -> "xaxis", "y2" -> "yaxis2"."""
    return ref[0] + "axis" + ref[1:]


def _numbers(values) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


def plotted_values(fig: go.Figure) -> dict[str, list[float]]:
    """Every numeric value each cartesian axis has to show, in data units: trace points, the tops of
    stacked bars (and the zero bars grow from), reference lines and labels placed on the data."""
    values: dict[str, list[float]] = defaultdict(list)
    stacks: dict[tuple[str, object], float] = defaultdict(float)
    for trace in fig.data:
        if trace.type == "indicator":
            continue
        x_axis, y_axis = _axis(trace.xaxis or "x"), _axis(trace.yaxis or "y")
        if trace.type == "bar":
            for category, height in zip(trace.x, trace.y):
                stacks[(y_axis, category)] += height if fig.layout.barmode == "stack" else 0.0
                values[y_axis] += [0.0, height, stacks[(y_axis, category)]]
            continue
        values[x_axis] += _numbers(trace.x)
        values[y_axis] += _numbers(trace.y)
    for shape in fig.layout.shapes:
        for ref, ends in ((shape.xref, (shape.x0, shape.x1)), (shape.yref, (shape.y0, shape.y1))):
            if ref and "domain" not in ref and ref != "paper":
                values[_axis(ref)] += _numbers(ends)  # shapes sit in data units, log axes included
    for note in fig.layout.annotations:
        for ref, at in ((note.xref, note.x), (note.yref, note.y)):
            if ref and "domain" not in ref and ref != "paper":
                log = fig.layout[_axis(ref)].type == "log"
                values[_axis(ref)] += [10 ** v if log else v for v in _numbers([at])]  # annotations: exponents on log
    return values


def assert_axes_span_their_data(fig: go.Figure) -> None:
    """Every axis range, explicit or implied by the data, covers all plotted values and stays sane:
    finite, below SANE_LIMIT, positive on log axes, never below zero GiB, no wider than the data needs."""
    for axis, values in plotted_values(fig).items():
        if not values:
            continue  # a category axis
        layout_axis = fig.layout[axis]
        log = layout_axis.type == "log"
        low, high = min(values), max(values)
        assert all(math.isfinite(v) and abs(v) < SANE_LIMIT for v in values), (axis, low, high)
        if log:
            assert low > 0, (axis, low)
        if "GiB" in (layout_axis.title.text or ""):
            assert low >= 0 and (layout_axis.range is None or layout_axis.range[0] >= 0), (axis, low)
        if layout_axis.range is None:
            continue  # autorange: Plotly spans exactly the (sane) values
        start, end = (10 ** r for r in layout_axis.range) if log else layout_axis.range
        assert start <= low * (1 + 1e-9) + 1e-12 and end >= high * (1 - 1e-9), (axis, (start, end), (low, high))
        if log:
            assert math.log10(end / start) <= math.log10(high / low) + LOG_SLACK_DECADES, (axis, (start, end), (low, high))
        else:
            assert end - start <= LINEAR_SLACK * max(high - low, 0.1 * abs(high)), (axis, (start, end), (low, high))
    for trace in fig.data:
        if trace.type == "indicator":
            start, end = trace.gauge.axis.range
            assert start <= trace.value <= end <= GAUGE_LIMIT_PCT, (trace.value, start, end)


EXTREMES = {
    "405B on 1x RTX 4090 (weights do not fit)": dict(model="meta-llama/Llama-3.1-405B-Instruct", gpu="RTX 4090"),
    "DeepSeek-V3 on 8x H100 (weights do not fit)": dict(model="deepseek-ai/DeepSeek-V3", gpu="H100", gpus=8),
    "8B on 1x L4": dict(model="meta-llama/Llama-3.1-8B-Instruct", gpu="L4"),
    "70B on 4x A100 SXM 80GB": dict(model="meta-llama/Llama-3.1-70B-Instruct", gpu="A100", gpus=4),
    "Qwen3-32B on 2x L40S": dict(model="Qwen/Qwen3-32B", gpu="L40S", gpus=2),
    "405B on 2 nodes x 8 H100 (PP 2)": dict(model="meta-llama/Llama-3.1-405B-Instruct", gpu="H100", gpus=8, nodes=2),
    "70B on 16 L40S (TP 4 x PP 4)": dict(model="meta-llama/Llama-3.1-70B-Instruct", gpu="L40S", gpus=16,
                                         tensor_parallel_size=4, pipeline_parallel_size=4),
    "0.5B, 2-token context": dict(model="Qwen/Qwen2.5-0.5B-Instruct", gpu="H100", prompt_tokens=1, gen_tokens=1,
                                  concurrency=1),
    "1M-token context, 16 requests (does not fit)": dict(model="mistralai/Mistral-Nemo-Instruct-2407", gpu="H200",
                                                         gpus=8, prompt_tokens=1_000_000, gen_tokens=1000),
    "1M-token context, 1 request": dict(model="mistralai/Mistral-Nemo-Instruct-2407", gpu="H200", gpus=8,
                                        prompt_tokens=1_000_000, gen_tokens=1000, concurrency=1),
    "overload: 5000 requests at 500/s on 1x L4": dict(model="meta-llama/Llama-3.1-8B-Instruct", gpu="L4",
                                                      concurrency=5000, request_rate=500),
}
FIGURES = (charts.vram_figure, charts.oom_gauge, charts.performance_figure, charts.frontier_figure)


@pytest.fixture(scope="module")
def extremes():
    return {name: make_plan(**flat) for name, flat in EXTREMES.items()}


@pytest.fixture(scope="module")
def tp2(extremes):
    return extremes["Qwen3-32B on 2x L40S"]


@pytest.fixture(scope="module")
def no_fit(extremes):
    return extremes["405B on 1x RTX 4090 (weights do not fit)"]


@pytest.mark.parametrize("name", EXTREMES)
@pytest.mark.parametrize("figure", FIGURES, ids=lambda f: f.__name__)
def test_every_axis_spans_its_data_at_the_extremes(extremes, name, figure):
    assert_axes_span_their_data(figure(extremes[name]))


def test_comparison_and_sweep_axes_span_their_data(extremes):
    pair = [extremes["405B on 1x RTX 4090 (weights do not fit)"], extremes["405B on 2 nodes x 8 H100 (PP 2)"]]
    assert_axes_span_their_data(charts.compare_vram_figure(pair, ["a", "b"]))
    rows = sweep(parse_request({"model": "meta-llama/Llama-3.1-8B-Instruct"}),
                 gpu_names=["L40", "RTX 5090", "H200"], full_plans=0).results
    assert_axes_span_their_data(charts.sweep_figure(rows))


def test_the_axis_check_catches_a_log_axis_label_placed_as_an_exponent():
    fig = go.Figure(go.Scatter(x=[1024, 2048], y=[29, 14]))
    fig.add_hline(y=256, annotation_text="max_num_seqs 256")  # the old frontier chart's line
    fig.update_yaxes(type="log")
    with pytest.raises(AssertionError):
        assert_axes_span_their_data(fig)


def test_the_axis_check_catches_a_cut_bar_and_negative_gib():
    cut = go.Figure(go.Bar(x=["GPU 0"], y=[756.0]))
    cut.update_yaxes(range=[0, 24.7], title="GiB per GPU")
    with pytest.raises(AssertionError):
        assert_axes_span_their_data(cut)
    negative = go.Figure(go.Bar(x=["GPU 0"], y=[-738.6]))
    negative.update_yaxes(title="GiB per GPU")
    with pytest.raises(AssertionError):
        assert_axes_span_their_data(negative)


# ---------------------------------------------------------------- memory bars


def test_vram_bars_stack_to_the_gpu_total(tp2):
    fig = charts.vram_figure(tp2)
    gpu = tp2.memory.per_gpu[0]
    assert sum(t.y[0] for t in fig.data) == pytest.approx(gpu.gpu_total_gib, abs=0.05)
    names = [t.name for t in fig.data]
    assert names[0] == "Weights" and "KV cache" in names and "Outside the budget" in names
    capacity, budget = fig.layout.shapes
    assert (capacity.y0, budget.y0) == (tp2.memory.gpu_total_gib, tp2.memory.budget_gib)
    assert [a.text for a in fig.layout.annotations] == [
        "L40S: 44.4 GiB", "budget (gpu_memory_utilization 0.92): 40.8 GiB"]
    assert fig.data[0].customdata[0] == fmt.gib(gpu.weights_gib)


def test_the_tp_ranks_of_a_stage_are_one_bar_labelled_with_their_gpus(tp2, extremes):
    assert list(charts.vram_figure(tp2).data[0].x) == ["GPUs 0–1"]
    assert list(charts.vram_figure(extremes["8B on 1x L4"]).data[0].x) == ["GPU 0"]
    pp = extremes["405B on 2 nodes x 8 H100 (PP 2)"]
    weights = charts.vram_figure(pp).data[0]
    assert list(weights.x) == ["GPUs 0–7<br>stage 0", "GPUs 8–15<br>stage 1"]
    assert list(weights.y) == [pp.memory.per_gpu[0].weights_gib, pp.memory.per_gpu[8].weights_gib]
    assert len(charts.vram_figure(extremes["70B on 16 L40S (TP 4 x PP 4)"]).data[0].x) == 4


def test_a_plan_that_does_not_fit_is_drawn_whole_against_the_gpu_and_the_budget(no_fit):
    fig = charts.vram_figure(no_fit)
    gpu = no_fit.memory.per_gpu[0]
    weights = fig.data[0]
    assert weights.name == "Weights" and weights.y[0] == gpu.weights_gib == 755.99
    # Nothing to fill up to the GPU's memory and no KV pool: the bar is only what the plan needs.
    assert [t.name for t in fig.data] == ["Weights", "Activation peak", "Non-torch", "CUDA graphs"]
    top = sum(t.y[0] for t in fig.data)
    assert fig.layout.yaxis.range[1] >= top > 759
    assert [a.text for a in fig.layout.annotations] == [
        "RTX 4090: 23.6 GiB", "budget (gpu_memory_utilization 0.9): 21.2 GiB"]
    assert fig.layout.title.text == "Needs 760 GiB per GPU; the RTX 4090 has 23.6 GiB, vLLM may use 21.2 GiB"


def test_no_bar_is_ever_negative(extremes):
    for plan in extremes.values():
        for trace in charts.vram_figure(plan).data:
            assert min(trace.y) >= 0, trace.name


def test_compare_marks_each_plans_budget_and_gpu_memory(extremes):
    pair = [extremes["405B on 1x RTX 4090 (weights do not fit)"], extremes["8B on 1x L4"]]
    fig = charts.compare_vram_figure(pair, ["a", "b"])
    marks = {t.name: list(t.y) for t in fig.data if t.type == "scatter"}
    assert marks == {"Budget (utilization x memory)": [21.2, 20.69], "GPU memory": [23.55, 22.49]}
    assert fig.layout.yaxis.range[1] > 759


# ---------------------------------------------------------------- OOM gauge


def test_gauge_is_coloured_by_risk_and_shows_the_committed_share(tp2):
    gauge = charts.oom_gauge(tp2).data[0]
    mem, f = tp2.memory, tp2.feasibility
    share = f.budget_committed_fraction  # owned by feasibility; by hand, about (budget - pool + needed) / budget
    assert share == pytest.approx((mem.budget_gib - mem.kv_cache_gib + f.kv_needed_gib) / mem.budget_gib, abs=5e-4)
    assert gauge.value == pytest.approx(share * 100)
    assert gauge.gauge.bar.color == charts.RISK_COLORS["low"]
    assert charts.oom_gauge(tp2).layout.title.text == "OOM risk: low · fits"
    assert charts.oom_gauge(tp2).layout.annotations[0].text == f"<b>{fmt.percent(share)}</b>"


def test_gauge_of_a_plan_30_times_its_budget_pins_the_dial_and_says_the_multiple(no_fit):
    fig = charts.oom_gauge(no_fit)
    gauge = fig.data[0]
    # (755.99 weights + 1.15 activation + 0.20 non-torch + 2.45 graphs + 9.84 KV for the workload)
    # / 21.195 budget (23.55 GiB x 0.9) = 769.63 / 21.195 = 36.31
    assert tuple(gauge.gauge.axis.range) == (0, 150) and gauge.value == 150
    assert fig.layout.title.text == "OOM risk: high · vLLM does not start"
    assert gauge.gauge.bar.color == charts.RISK_COLORS["high"]
    assert fig.layout.annotations[0].text == (
        "<b>3,631%</b><br><span style='font-size:13px'>36.3× the budget of 21.2 GiB</span>")


def test_risk_verdict_and_gauge_tell_one_story(extremes):
    """A plan whose memory falls short is never green; one whose requests vLLM refuses (longer than max_model_len)
    starts with its memory's own risk, and the gauge says the requests are refused."""
    too_long = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", max_model_len=1024)
    f = too_long.feasibility
    assert (f.fits, f.starts, f.refused, f.oom_risk) == (False, True, True, "low")
    assert f.failed == ["the requested context (1,280 tokens) is longer than max_model_len (1,024)"]
    fig = charts.oom_gauge(too_long)
    assert fig.data[0].gauge.bar.color == charts.RISK_COLORS["low"]
    assert fig.layout.title.text == "OOM risk: low · requests refused"
    crowded = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="L4", concurrency=200, prompt_tokens=8000)
    assert (crowded.feasibility.starts, crowded.feasibility.refused, crowded.feasibility.oom_risk) == (True, False, "high")
    assert crowded.feasibility.oom_risk_reason.startswith("the plan does not fit: 200 requests of 8,256 tokens need")
    assert charts.oom_gauge(crowded).layout.title.text == "OOM risk: high · workload does not fit at once"
    for plan in extremes.values():  # never green when its memory falls short
        if not plan.feasibility.fits and not plan.feasibility.refused:
            assert charts.oom_gauge(plan).data[0].gauge.bar.color == charts.RISK_COLORS["high"]


# ---------------------------------------------------------------- performance


def test_performance_ranges(tp2):
    fig = charts.performance_figure(tp2)
    ranges = [t for t in fig.data if t.mode == "lines"]
    marks = [t for t in fig.data if t.mode == "markers"]
    assert len(ranges) == len(charts.PERF_ROWS) == len(marks)
    itl = tp2.performance.itl_ms
    assert tuple(ranges[0].x) == (itl.low, itl.high) and marks[0].x[0] == itl.expected
    assert marks[0].customdata[0] == f"expected {fmt.duration_ms(itl.expected)}"


def test_performance_numbers_read_in_units_that_scale(extremes):
    plan = extremes["1M-token context, 16 requests (does not fit)"]
    fig = charts.performance_figure(plan)
    ttft = plan.performance.ttft_ms
    assert ttft.expected > 120_000  # past two minutes: reads in min, never as millions of ms
    expected = (f"<b>Time to first token</b>: {fmt.duration_ms(ttft.expected)} <span style='color:#888'>"
                f"({fmt.duration_ms(ttft.low)} to {fmt.duration_ms(ttft.high)})</span>")
    assert fig.layout.annotations[1].text == expected
    assert " ms" not in expected and ".0 " not in expected
    # Ticks are round numbers in one unit per row.
    assert len({text.split(" ", 1)[1] for text in fig.layout.xaxis2.ticktext if text != "0"}) == 1


def test_linear_ticks_are_round_in_the_unit_of_the_larger_end():
    assert charts.linear_ticks(0.0, 4446.0, fmt.DURATION_UNITS_MS) == ([0.0, 2000.0, 4000.0], ["0", "2 s", "4 s"])
    values, labels = charts.linear_ticks(1.15, 1.83, fmt.DURATION_UNITS_MS)
    assert values == pytest.approx([1.2, 1.4, 1.6, 1.8]) and labels == ["1.2 ms", "1.4 ms", "1.6 ms", "1.8 ms"]


def test_figures_for_a_plan_that_does_not_start(no_fit):
    assert charts.performance_figure(no_fit).data == ()


# ---------------------------------------------------------------- frontier


def test_frontier_matches_the_memory_report(tp2):
    fig = charts.frontier_figure(tp2)
    line, seqs, requested = fig.data
    expected = [p for p in tp2.memory.frontier if p.max_requests >= 1]
    assert list(line.x) == [p.tokens for p in expected] and list(line.y) == [p.max_requests for p in expected]
    assert requested.x[0] == tp2.feasibility.context_tokens
    assert requested.y[0] == tp2.request.workload.concurrency
    # max_num_seqs is a line across the whole axis, not an hline whose label a log axis takes as an exponent.
    assert seqs.name == "max_num_seqs 256" and list(seqs.y) == [256, 256]
    assert [math.log10(x) for x in seqs.x] == pytest.approx(list(fig.layout.xaxis.range))
    assert fig.layout.shapes == () and fig.layout.annotations == ()


def test_frontier_marks_a_max_model_len_shorter_than_the_model_allows():
    """Past max_model_len vLLM refuses a request however much KV cache is free: the curve runs to the model's
    limit (what a longer max_model_len would hold) and a dashed line marks where vLLM stops."""
    refused = make_plan(model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100", max_model_len=4096, prompt_tokens=8000)
    fig = charts.frontier_figure(refused)
    assert [t.name for t in fig.data] == ["Fits in the KV cache", "max_num_seqs 1,024", "Requested", "max_model_len 4,096"]
    limit = fig.data[3]
    assert list(limit.x) == [4096, 4096] and [math.log10(y) for y in limit.y] == pytest.approx(list(fig.layout.yaxis.range))
    assert fig.data[2].marker.color == charts.RISK_COLORS["high"]  # the requested 8,256 tokens lie past it


def test_frontier_tick_labels_are_the_values_themselves(extremes):
    fig = charts.frontier_figure(extremes["1M-token context, 16 requests (does not fit)"])
    for axis in (fig.layout.xaxis, fig.layout.yaxis):
        assert list(axis.ticktext) == [fmt.compact(v) for v in axis.tickvals]
    assert fig.layout.xaxis.ticktext[-1] == "1M"


def test_log_ticks_run_1_2_5_and_only_powers_of_ten_past_three_decades():
    assert charts.log_ticks(682.7, 24576) == ([1000.0, 2000.0, 5000.0, 10000.0, 20000.0], ["1k", "2k", "5k", "10k", "20k"])
    assert charts.log_ticks(1.33, 1.5e6) == ([10.0, 100.0, 1000.0, 10000.0, 100000.0, 1000000.0],
                                            ["10", "100", "1k", "10k", "100k", "1M"])


def test_frontier_of_a_plan_that_does_not_start_says_so(no_fit):
    fig = charts.frontier_figure(no_fit)
    assert [t.name for t in fig.data] == ["Fits in the KV cache", "max_num_seqs 256", "Requested"]
    assert fig.data[0].x == () and fig.data[2].marker.color == charts.RISK_COLORS["high"]
    assert fig.layout.annotations[0].text == "No request fits: vLLM does not start"


# ---------------------------------------------------------------- sweep


def test_every_catalog_gpu_has_its_own_colour():
    assert set(charts.GPU_COLORS) == {spec.id for spec in catalog()}
    assert len(set(charts.GPU_COLORS.values())) == len(charts.GPU_COLORS)
    assert charts.OTHER_GPU_COLOR not in charts.GPU_COLORS.values()
    assert charts.gpu_color("H200") == charts.gpu_color("H200 SXM 141GB") == charts.GPU_COLORS["h200-sxm-141gb"]
    assert charts.gpu_color("Custom GPU (20 GiB)") == charts.OTHER_GPU_COLOR


def test_sweep_colours_follow_the_gpu_not_the_order_of_the_rows():
    base = parse_request({"model": "meta-llama/Llama-3.1-8B-Instruct"})
    rows = sweep(base, gpu_names=["L40", "RTX 5090", "H200"], full_plans=0).results
    colours = {t.name: t.marker.color for t in charts.sweep_figure(rows).data if t.mode == "markers"}
    assert colours == {"L40": "#00CC96", "RTX 5090": "#FC0080", "H200 SXM 141GB": "#FEAF16"}
    alone = {t.name: t.marker.color for t in charts.sweep_figure([r for r in rows if r.gpu == "L40"]).data}
    assert alone["L40"] == "#00CC96"


def test_sweep_cost_ticks_are_whole_dollar_labels_and_an_empty_sweep_draws_nothing():
    rows = sweep(parse_request({"model": "meta-llama/Llama-3.1-8B-Instruct"}), gpu_names=["L4"], full_plans=0).results
    axis = charts.sweep_figure(rows).layout.xaxis
    assert list(axis.ticktext) == ["$" + fmt.compact(v) for v in axis.tickvals]
    assert charts.sweep_figure([]).data == ()
