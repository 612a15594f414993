"""The run and fleet figures: what they draw is the plan's (or the sweep's) own numbers, on axes that hold them."""

import pytest

from tests.conftest import make_plan
from wizard.capacity.sweep import sweep
from wizard.faces import format as fmt
from wizard.faces.run_charts import fleet_figure, latency_figure, timeline_figure
from wizard.schema import parse_request


@pytest.fixture(scope="module")
def overloaded():
    """Qwen3-8B on one L4 at 2 requests/s: the queue grows, the KV cache fills, requests are preempted."""
    return make_plan(model="Qwen/Qwen3-8B", gpu="L4", max_model_len=8192, request_rate=2)


def test_latency_markers_are_the_runs_percentiles(overloaded):
    fig = latency_figure(overloaded)
    dist = overloaded.performance.distribution
    for key, title in (("ttft_ms", "Time to first token"), ("tpot_ms", "Time per output token"),
                       ("e2e_ms", "End-to-end latency")):
        p = getattr(dist, key)
        marks = {t.name: t.x[0] for t in fig.data if t.y is not None and t.y[0] == title and t.name in ("p50", "p90", "p99", "mean")}
        assert marks == {"p50": p.p50, "p90": p.p90, "p99": p.p99, "mean": p.mean}
        assert any(a.text.startswith(f"<b>{title}</b>: p50 {fmt.duration_ms(p.p50)}") for a in fig.layout.annotations)
    # Every row's axis starts at 0 and reaches past its p99 and mean.
    for axis in (fig.layout.xaxis, fig.layout.xaxis2, fig.layout.xaxis3, fig.layout.xaxis4):
        assert axis.range[0] == 0
    assert fig.layout.xaxis.range[1] >= dist.ttft_ms.p99


def test_timeline_draws_every_point_of_the_run(overloaded):
    fig = timeline_figure(overloaded)
    points = overloaded.performance.timeline
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["Running"].y) == [p.running for p in points]
    assert list(by_name["Waiting"].y) == [p.waiting for p in points]
    assert list(by_name["KV cache used"].y) == [p.kv_usage * 100 for p in points]
    assert max(points[-1].time_s, 0) <= fig.layout.xaxis.range[1]
    assert fig.layout.yaxis.range[1] >= max(p.waiting for p in points) > 0  # the queue grows: it is on the chart
    assert list(fig.layout.yaxis2.ticktext) == ["0%", "25%", "50%", "75%", "100%"]  # never a tick past the pool
    if overloaded.performance.preemptions:
        assert "Preemption" in by_name


def test_no_run_no_lines():
    p = make_plan(model="meta-llama/Llama-3.1-70B-Instruct", gpu="H100")  # vLLM does not start
    assert p.performance is None
    fig = timeline_figure(p)
    assert not fig.data and fig.layout.annotations[0].text == "No simulated run"
    assert not [t for t in latency_figure(p).data]


def test_fleet_figure_plots_every_row_against_its_sustained_rate_and_the_target():
    base = parse_request({"model": "Qwen/Qwen3-8B", "max_model_len": 8192, "request_rate": 40})
    rows = sweep(base, gpu_names=["L4", "L40S"], full_plans=0).results
    fig = fleet_figure(rows, 40.0)
    points = {(x, y) for t in fig.data if t.name in ("L4", "L40S") for x, y in zip(t.x, t.y)}
    assert points == {(r.max_request_rate_per_s, r.cost_per_hour) for r in rows}
    assert fig.layout.shapes[0].x0 == 40.0  # the target as a vertical line
    assert fig.layout.xaxis.range[1] >= max(40.0, *(r.max_request_rate_per_s for r in rows))
    low, high = (10 ** v for v in fig.layout.yaxis.range)
    assert low <= min(r.cost_per_hour for r in rows) and high >= max(r.cost_per_hour for r in rows)
