"""Figure builders: each figure's data is the plan's numbers."""

import pytest

from tests.conftest import make_plan
from wizard.faces import charts


@pytest.fixture(scope="module")
def tp2():
    return make_plan(model="Qwen/Qwen3-32B", gpu="L40S", gpus=2, tensor_parallel_size=2, max_model_len=8192)


def test_vram_bars_stack_to_the_gpu_total(tp2):
    fig = charts.vram_figure(tp2)
    assert [t.x[0] for t in fig.data][0] == "GPU 0"
    for i, gpu in enumerate(tp2.memory.per_gpu):
        total = sum(t.y[i] for t in fig.data)
        assert total == pytest.approx(gpu.gpu_total_gib, abs=0.05)
    names = [t.name for t in fig.data]
    assert names[0] == "Weights" and "KV cache" in names and "Outside the budget" in names
    budget_line = fig.layout.shapes[0]
    assert budget_line.y0 == tp2.memory.budget_gib


def test_one_bar_per_gpu(tp2):
    assert len(charts.vram_figure(tp2).data[0].x) == 2


def test_gauge_is_coloured_by_risk_and_shows_the_committed_share(tp2):
    gauge = charts.oom_gauge(tp2).data[0]
    mem, f = tp2.memory, tp2.feasibility
    assert gauge.value == pytest.approx((mem.budget_gib - mem.kv_cache_gib + f.kv_needed_gib) / mem.budget_gib * 100, abs=0.1)
    assert gauge.gauge.bar.color == charts.RISK_COLORS[f.oom_risk]
    assert f.oom_risk in gauge.title.text


def test_performance_ranges(tp2):
    fig = charts.performance_figure(tp2)
    ranges = [t for t in fig.data if t.mode == "lines"]
    marks = [t for t in fig.data if t.mode == "markers"]
    assert len(ranges) == len(charts.PERF_ROWS) == len(marks)
    itl = tp2.performance.itl_ms
    assert tuple(ranges[0].x) == (itl.low, itl.high) and marks[0].x[0] == itl.expected


def test_frontier_matches_the_memory_report(tp2):
    fig = charts.frontier_figure(tp2)
    line, requested = fig.data
    expected = [p for p in tp2.memory.frontier if p.max_requests >= 1]
    assert list(line.x) == [p.tokens for p in expected] and list(line.y) == [p.max_requests for p in expected]
    assert requested.x[0] == tp2.feasibility.context_tokens
    assert requested.y[0] == tp2.request.workload.concurrency


def test_figures_for_a_plan_that_does_not_start():
    p = make_plan(model="meta-llama/Llama-3.1-70B-Instruct", gpu="H100")
    assert charts.performance_figure(p).data == ()
    assert charts.oom_gauge(p).data[0].value > 100
    assert len(charts.frontier_figure(p).data) == 2
