"""Plotly figures of a plan: pure functions from a :class:`PlanResponse` to a figure.

Kept out of ``import wizard`` (Plotly loads only when a chart is drawn); the
dashboard calls these and the tests check the figures' data against the plan.
Every axis is given a range that spans what it shows (a plan that does not fit
is drawn whole, not cut at the GPU's memory), and every number a person reads
goes through :mod:`wizard.faces.format`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import groupby

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from wizard.catalog.gpus import find_gpu
from wizard.faces import format as fmt
from wizard.schema import GpuMemory, PlanResponse

# One colour per memory component, in stacking order (bottom to top).
COMPONENTS = (
    ("weights_gib", "Weights", "#4C78A8"),
    ("activation_gib", "Activation peak", "#F58518"),
    ("non_torch_gib", "Non-torch", "#B279A2"),
    ("cuda_graph_gib", "CUDA graphs", "#9D755D"),
    ("overhead_gib", "Extra overhead", "#BAB0AC"),
    ("kv_cache_gib", "KV cache", "#54A24B"),
)
UNUSED_COLOR = "#D9D9D9"
OUTSIDE_COLOR = "#F2F2F2"
RISK_COLORS = {"low": "#54A24B", "medium": "#F2B134", "high": "#E45756"}
LABEL_BACKGROUND = "rgba(255,255,255,0.85)"  # keeps a reference line's label readable over the bars

# One colour per catalog GPU type, by catalog id: the same GPU has the same colour on every chart and
# every run. Taken from Plotly's qualitative palettes by farthest-point sampling in CIELAB (CIEDE2000),
# leaving out colours too light for a white background and greys; the most distinct sixteen go to the
# GPUs the bundled price lists rent, siblings (H100 SXM / PCIe / NVL) far apart. Any two differ by
# Delta E00 >= 13.8, any two of the first sixteen by >= 19.7.
GPU_COLORS = {
    "h100-sxm-80gb": "#1F77B4", "h200-sxm-141gb": "#FEAF16", "b200": "#1C8356", "a100-sxm-80gb": "#FB0D0D",
    "l40s": "#AA0DFE", "l4": "#86CE00", "rtx-4090": "#2ED9FF", "h100-pcie-80gb": "#85660D",
    "h100-nvl-94gb": "#620042", "a100-pcie-80gb": "#FF97FF", "h200-nvl-141gb": "#0D2A63", "l40": "#00CC96",
    "rtx-6000-ada": "#661100", "rtx-a6000": "#8DA0CB", "rtx-5090": "#FC0080", "rtx-3090": "#F8A19F",
    "t4": "#8C564B", "a10g": "#B279A2", "v100-sxm2-16gb": "#999933", "v100-sxm2-32gb": "#008695",
    "a100-sxm-40gb": "#7F3C8D", "a10": "#FF7F0E", "gaudi2": "#DDCC77", "gaudi3": "#72B7B2", "gb200": "#AF0038",
    "h20-96gb": "#A777F1", "mi210": "#FE00FA", "mi250x-gcd": "#2CA02C", "mi300x": "#6C4516", "mi325x": "#B68100",
}
OTHER_GPU_COLOR = "#7F7F7F"  # a GPU outside the catalog, or one added to it without a colour yet: grey

# A dial that ends at 150% of the budget still shows "over" plainly; beyond, the text gives the multiple.
GAUGE_MAX_FRACTION = 1.5
# Headroom above the tallest bar or reference line, as a fraction of it: room for the line labels.
Y_PAD = 1.08
# Log axes reach this factor beyond their extreme points, so markers are not cut at the edge.
LOG_PAD = 1.5


def gpu_color(name: str) -> str:
    """The colour of a GPU type (any of its catalog names) on every chart; grey for a GPU without one."""
    spec = find_gpu(name)
    return GPU_COLORS.get(spec.id, OTHER_GPU_COLOR) if spec else OTHER_GPU_COLOR


def linear_ticks(low: float, high: float, units: tuple[fmt.Unit, ...]) -> tuple[list[float], list[str]]:
    """About five round ticks from low to high (high > low), labelled in the unit that suits the larger end (zero bare)."""
    size, suffix = fmt.pick_unit(max(abs(low), abs(high)), units)
    raw = (high - low) / size / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    steps = range(math.ceil(low / size / step), math.floor(high / size / step) + 1)
    return [k * step * size for k in steps], [fmt.number(k * step) + suffix if k else "0" for k in steps]


def log_ticks(low: float, high: float, label: Callable[[float], str] = fmt.compact) -> tuple[list[float], list[str]]:
    """Ticks 1, 2, 5, 10, ... (powers of ten only past three decades) from low to high (0 < low < high), each
    labelled in full: Plotly's own minor labels are a bare "2" or "5" that reads like a value."""
    steps = (1, 2, 5) if math.log10(high / low) <= 3 else (1,)
    values = [m * 10.0 ** e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
              for m in steps if low <= m * 10.0 ** e <= high]
    return values, [label(v) for v in values]


def _log_range(values: list[float]) -> tuple[float, float]:
    """A log axis's data range, padded by LOG_PAD each side (Plotly takes it as exponents)."""
    return math.log10(min(values) / LOG_PAD), math.log10(max(values) * LOG_PAD)


# ---------------------------------------------------------------- memory


def _bar_groups(plan: PlanResponse) -> list[tuple[str, GpuMemory]]:
    """One bar per run of GPUs in a pipeline stage that hold the same memory (the TP ranks of a stage do),
    labelled with the GPUs it stands for: 16 rotated labels overlap, "GPUs 0-7" does not."""
    tp, pp = plan.hardware.tensor_parallel_size, plan.hardware.pipeline_parallel_size
    runs = groupby(enumerate(plan.memory.per_gpu), key=lambda ig: (ig[0] // tp, ig[1].model_dump(exclude={"label"})))
    groups = []
    for (stage, _), run in runs:
        members = list(run)
        first, last = members[0][0], members[-1][0]
        label = f"GPU {first}" if first == last else f"GPUs {first}–{last}"
        groups.append((label + (f"<br>stage {stage}" if pp > 1 else ""), members[0][1]))
    return groups


def _component_bars(fig: go.Figure, labels: list[str], gpus: list[GpuMemory], graphs_in_budget: bool) -> list[float]:
    """One stacked bar trace per memory component present; returns each bar's height (GiB).

    A KV pool is never drawn below zero: a plan whose weights do not fit has none, and its shortfall
    shows as the bar rising above the budget line.
    """
    tops = [0.0] * len(gpus)
    for key, name, color in COMPONENTS:
        values = [max(getattr(g, key), 0.0) for g in gpus]
        if key == "cuda_graph_gib" and not graphs_in_budget:
            name += " (outside the budget)"
        if any(values):
            _stacked_bar(fig, name, labels, values, color)
            tops = [t + v for t, v in zip(tops, values)]
    return tops


def _stacked_bar(fig: go.Figure, name: str, labels: list[str], values_gib: list[float], color: str,
                 outline: bool = False) -> None:
    """One bar trace with its values in GiB as people read them on hover."""
    fig.add_bar(name=name, x=labels, y=values_gib, marker_color=color, customdata=[fmt.gib(v) for v in values_gib],
                marker_line=dict(color="#BBBBBB", width=1) if outline else None,
                hovertemplate="%{x}<br>" + name + ": %{customdata}<extra></extra>")


def _reference_line(fig: go.Figure, y_gib: float, text: str, dash: str, position: str) -> None:
    """A horizontal line across the bars with its label on a white ground (readable over any bar)."""
    fig.add_hline(y=y_gib, line_dash=dash, line_color="#333333", line_width=1.5, annotation_text=text,
                  annotation_position=position, annotation_bgcolor=LABEL_BACKGROUND, annotation_font_size=11)


def _memory_layout(fig: go.Figure, heights_gib: list[float], title: str | None) -> None:
    """Stacked bars on a GiB axis from 0 to just above the tallest bar or line."""
    fig.update_layout(barmode="stack", yaxis_title="GiB per GPU", legend_title_text="", height=420, bargap=0.35,
                      margin=dict(l=10, r=10, t=60 if title else 30, b=10), legend=dict(orientation="h", y=-0.15),
                      title=dict(text=title, font_size=13) if title else None)
    fig.update_yaxes(range=[0, max(heights_gib) * Y_PAD])


def vram_figure(plan: PlanResponse) -> go.Figure:
    """Stacked memory per GPU (one bar per run of identical GPUs), the GPU's memory and vLLM's budget as lines.

    Bars are never cut: a plan that does not fit rises above both lines by what it lacks.
    """
    mem = plan.memory
    groups = _bar_groups(plan)
    labels, gpus = [label for label, _ in groups], [gpu for _, gpu in groups]
    fig = go.Figure()
    tops = _component_bars(fig, labels, gpus, mem.cuda_graph_in_budget)
    in_budget = [t - (0.0 if mem.cuda_graph_in_budget else g.cuda_graph_gib) for g, t in zip(gpus, tops)]
    unused = [max(g.budget_gib - used, 0.0) for g, used in zip(gpus, in_budget)]
    outside = [max(g.gpu_total_gib - t - free, 0.0) for g, t, free in zip(gpus, tops, unused)]
    if any(unused):
        _stacked_bar(fig, "Unused budget", labels, unused, UNUSED_COLOR)
    if any(outside):
        _stacked_bar(fig, "Outside the budget", labels, outside, OUTSIDE_COLOR, outline=True)
    # Labels on opposite sides, both above their lines: apart however close the two lines are.
    _reference_line(fig, mem.gpu_total_gib, f"{plan.hardware.gpu}: {fmt.gib(mem.gpu_total_gib)}", "solid", "top right")
    _reference_line(fig, mem.budget_gib, f"budget (gpu_memory_utilization {mem.gpu_memory_utilization:g}): "
                    f"{fmt.gib(mem.budget_gib)}", "dash", "top left")
    # A negative KV pool is the shortfall of the most loaded GPU: the budget plus it is what that GPU needs.
    title = (f"Needs {fmt.gib(mem.budget_gib - mem.kv_cache_gib)} per GPU; the {plan.hardware.gpu} has "
             f"{fmt.gib(mem.gpu_total_gib)}, vLLM may use {fmt.gib(mem.budget_gib)}") if mem.kv_cache_gib < 0 else None
    _memory_layout(fig, [t + free + out for t, free, out in zip(tops, unused, outside)] + [mem.gpu_total_gib], title)
    return fig


def compare_vram_figure(plans: list[PlanResponse], labels: list[str]) -> go.Figure:
    """Side-by-side stacked memory of the most loaded GPU of each plan, with each plan's budget and GPU memory."""
    gpus = [min(p.memory.per_gpu, key=lambda g: g.kv_cache_gib) for p in plans]
    fig = go.Figure()
    tops = _component_bars(fig, labels, gpus, all(p.memory.cuda_graph_in_budget for p in plans))
    for name, key, color in (("Budget (utilization x memory)", "budget_gib", "#333333"),
                             ("GPU memory", "gpu_total_gib", "#888888")):
        values = [getattr(g, key) for g in gpus]
        fig.add_trace(go.Scatter(x=labels, y=values, mode="markers", name=name, customdata=[fmt.gib(v) for v in values],
                                 marker=dict(symbol="line-ew-open", size=60, color=color, line=dict(width=3)),
                                 hovertemplate="%{x}<br>" + name + ": %{customdata}<extra></extra>"))
    _memory_layout(fig, tops + [g.gpu_total_gib for g in gpus], None)
    return fig


def oom_gauge(plan: PlanResponse) -> go.Figure:
    """Share of the budget the plan commits (non-KV memory plus the workload's KV), coloured by OOM risk.

    The dial ends at GAUGE_MAX_FRACTION; the share itself (and past the dial, the multiple of the budget)
    is written under it.
    """
    mem, f = plan.memory, plan.feasibility
    fraction = f.budget_committed_fraction
    verdict = "fits" if f.fits else ("vLLM does not start" if not f.starts else
                                     "requests refused" if f.refused else "workload does not fit at once")
    colour = RISK_COLORS[f.oom_risk]  # feasibility never rates a plan whose memory fails below "high"
    dial_max = GAUGE_MAX_FRACTION * 100
    fig = go.Figure(go.Indicator(
        mode="gauge",
        value=min(fraction * 100, dial_max),
        gauge={
            "axis": {"range": [0, dial_max], "ticksuffix": "%"},
            "bar": {"color": colour},
            "steps": [{"range": [0, 80], "color": "#EAF5E9"}, {"range": [80, 100], "color": "#FDF3DC"},
                      {"range": [100, dial_max], "color": "#FBE3E4"}],
            "threshold": {"line": {"color": "#333333", "width": 3}, "value": 100},
        },
    ))
    text = f"<b>{fmt.percent(fraction)}</b>"
    if fraction * 100 > dial_max:
        text += f"<br><span style='font-size:13px'>{fmt.number(fraction)}× the budget of {fmt.gib(mem.budget_gib)}</span>"
    fig.add_annotation(text=text, x=0.5, y=0.0, xref="paper", yref="paper", showarrow=False, yanchor="bottom",
                       font=dict(size=26))
    # The verdict as the figure's title: an Indicator's own title overlaps the dial at this height.
    fig.update_layout(height=260, margin=dict(l=40, r=40, t=40, b=10),
                      title=dict(text=f"OOM risk: {f.oom_risk} · {verdict}", x=0.5, xanchor="center", font_size=15))
    return fig


# ---------------------------------------------------------------- performance

PERF_ROWS = (
    ("itl_ms", "Time per output token", fmt.DURATION_UNITS_MS),
    ("ttft_ms", "Time to first token", fmt.DURATION_UNITS_MS),
    ("decode_tokens_per_s", "Decode speed per request", fmt.RATE_UNITS_TOKENS_PER_S),
    ("output_tokens_per_s", "Aggregate output", fmt.RATE_UNITS_TOKENS_PER_S),
    ("prefill_tokens_per_s", "Prefill speed", fmt.RATE_UNITS_TOKENS_PER_S),
)
PERF_PAD = 0.08  # each range bar's axis reaches this share of the bar's length past both ends


def performance_figure(plan: PlanResponse) -> go.Figure:
    """Each throughput/latency estimate as a low-high bar with the expected value marked."""
    perf = plan.performance
    # A metric the run did not produce (no request with a second token has a time per output token) has no bar.
    rows = [(key, title, units) for key, title, units in PERF_ROWS if perf is not None and getattr(perf, key).high > 0]
    fig = make_subplots(rows=max(len(rows), 1), cols=1, vertical_spacing=0.16)
    if perf is None:
        return fig
    for row, (key, title, units) in enumerate(rows, start=1):
        r = getattr(perf, key)
        low, expected, high = (fmt.scaled(v, units) for v in (r.low, r.expected, r.high))
        fig.add_trace(go.Scatter(
            x=[r.low, r.high], y=[title, title], mode="lines", line=dict(color="#9ECAE9", width=14), name=title,
            showlegend=False, customdata=[f"low {low}", f"high {high}"],
            hovertemplate=f"{title}: %{{customdata}}<extra></extra>"), row=row, col=1)
        fig.add_trace(go.Scatter(
            x=[r.expected], y=[title], mode="markers", marker=dict(color="#F58518", size=14, symbol="diamond"),
            showlegend=False, customdata=[f"expected {expected}"],
            hovertemplate=f"{title}: %{{customdata}}<extra></extra>"), row=row, col=1)
        pad = PERF_PAD * max(r.high - r.low, abs(r.expected) * 0.05, 1e-9)
        left, right = max(r.low - pad, 0.0), r.high + pad  # times and rates are never negative
        tickvals, ticktext = linear_ticks(left, right, units)
        fig.update_xaxes(range=[left, right], tickvals=tickvals, ticktext=ticktext, tickfont=dict(size=10), row=row, col=1)
        fig.add_annotation(text=f"<b>{title}</b>: {expected} <span style='color:#888'>({low} to {high})</span>",
                           xref=f"x{row if row > 1 else ''} domain", yref=f"y{row if row > 1 else ''} domain",
                           x=0, y=1.55, showarrow=False, xanchor="left", font=dict(size=12))
        fig.update_yaxes(showticklabels=False, row=row, col=1)
    fig.update_layout(height=95 * len(rows) + 40, margin=dict(l=10, r=10, t=30, b=10))
    return fig


# ---------------------------------------------------------------- context x concurrency


def frontier_figure(plan: PlanResponse) -> go.Figure:
    """How many requests fit at once for each context length, vLLM's max_num_seqs, the requested point, and
    max_model_len where it is shorter than the model allows (longer requests are refused)."""
    points = [p for p in plan.memory.frontier if p.max_requests >= 1]  # a log axis cannot show zero
    f, seqs = plan.feasibility, plan.memory.max_num_seqs
    concurrency = plan.request.workload.requests_at_once
    xs = [p.tokens for p in points] + [f.context_tokens]
    ys = [p.max_requests for p in points] + [seqs, concurrency]
    x_range, y_range = _log_range(xs), _log_range(ys)
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[p.tokens for p in points], y=[p.max_requests for p in points], mode="lines+markers",
        name="Fits in the KV cache", line=dict(color="#54A24B"),  # requests ~ 1 / tokens: straight on log-log axes
        customdata=[f"{fmt.tokens(p.tokens)}: {fmt.count(p.max_requests)} requests at once" for p in points],
        hovertemplate="%{customdata}<extra></extra>"))
    # A line trace, not add_hline: on a log axis an hline's label is placed at 10**max_num_seqs.
    seqs_label = f"max_num_seqs {fmt.count(seqs)}"
    fig.add_trace(go.Scatter(
        x=[10 ** x_range[0], 10 ** x_range[1]], y=[seqs, seqs], mode="lines+text", name=seqs_label,
        line=dict(color="#888888", dash="dot"), text=[seqs_label, ""], textposition="top right",
        textfont=dict(color="#666666", size=11),
        hovertemplate=f"vLLM schedules at most {fmt.count(seqs)} requests per step<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=[f.context_tokens], y=[concurrency], mode="markers", name="Requested",
        marker=dict(color=RISK_COLORS["low"] if f.workload_fits else RISK_COLORS["high"], size=14, symbol="x"),
        customdata=[f"requested: {fmt.count(concurrency)} x {fmt.tokens(f.context_tokens)}"],
        hovertemplate="%{customdata}<extra></extra>"))
    limit = plan.memory.max_model_len
    if points and limit < points[-1].tokens:  # the pool would hold longer requests, but vLLM refuses them
        limit_label = f"max_model_len {fmt.count(limit)}"
        fig.add_trace(go.Scatter(
            x=[limit, limit], y=[10 ** y_range[0], 10 ** y_range[1]], mode="lines+text", name=limit_label,
            line=dict(color=RISK_COLORS["high"], dash="dash"), text=[limit_label, ""], textposition="top right",
            textfont=dict(color="#666666", size=11),
            hovertemplate=f"vLLM refuses requests longer than max_model_len ({fmt.tokens(limit)})<extra></extra>"))
    if not points:
        fig.add_annotation(text="No request fits: vLLM does not start", x=0.5, y=0.5, xref="paper", yref="paper",
                           showarrow=False, font=dict(size=14, color=RISK_COLORS["high"]), bgcolor=LABEL_BACKGROUND)
    xticks, yticks = log_ticks(*(10 ** v for v in x_range)), log_ticks(*(10 ** v for v in y_range))
    fig.update_xaxes(type="log", title="Context per request (tokens)", range=x_range, tickvals=xticks[0], ticktext=xticks[1])
    fig.update_yaxes(type="log", title="Requests at once", range=y_range, tickvals=yticks[0], ticktext=yticks[1])
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


# ---------------------------------------------------------------- capacity sweep


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indexes of the points no other point beats on both cost (lower) and throughput (higher), by cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def add_gpu_markers(fig: go.Figure, rows: list, xy: Callable, details: Callable, hover: Callable[[str], str]) -> None:
    """One marker trace per GPU type in its own colour: ``xy(row)`` places a row, ``details(row)`` is its customdata
    and ``hover(gpu)`` the hover template of its GPU's trace."""
    for gpu in dict.fromkeys(r.gpu for r in rows):
        mine = [r for r in rows if r.gpu == gpu]
        fig.add_trace(go.Scatter(
            x=[xy(r)[0] for r in mine], y=[xy(r)[1] for r in mine], mode="markers", name=gpu,
            marker=dict(size=9, opacity=0.85, color=gpu_color(gpu)), customdata=[details(r) for r in mine],
            hovertemplate=hover(gpu)))


def cost_axis(costs_usd_per_hour: list[float]) -> dict:
    """A log axis of USD per hour: costs span orders of magnitude (one small GPU to racks of B200s), and a log axis
    keeps the cheap end readable."""
    axis_range = _log_range(costs_usd_per_hour)
    ticks = log_ticks(*(10 ** v for v in axis_range), label=lambda usd: "$" + fmt.compact(usd))
    return dict(type="log", range=axis_range, tickvals=ticks[0], ticktext=ticks[1])


def sweep_figure(rows: list) -> go.Figure:
    """Cost per hour against output throughput, one colour per GPU type, the Pareto front as a line.

    ``rows`` are :class:`wizard.schema.results.SweepRow` objects (anything with the same attributes).
    """
    fig = go.Figure()
    add_gpu_markers(
        fig, rows, lambda r: (r.cost_per_hour, r.output_tokens_per_s),
        lambda r: [r.gpus_per_node, r.nodes, r.weights, r.kv_cache_dtype, fmt.tokens_per_s(r.output_tokens_per_s),
                   fmt.duration_ms(r.itl_ms), f"${r.cost_per_million_output_tokens:,.2f}"],
        lambda gpu: (f"<b>{gpu}</b> x %{{customdata[0]}} per node x %{{customdata[1]}} node(s)<br>"
                     "weights %{customdata[2]}, KV %{customdata[3]}<br>$%{x:,.2f}/h · %{customdata[4]} output<br>"
                     "ITL %{customdata[5]} · %{customdata[6]} per M output tokens<extra></extra>"))
    front = pareto_front([(r.cost_per_hour, r.output_tokens_per_s) for r in rows])
    if front:
        fig.add_trace(go.Scatter(
            x=[rows[i].cost_per_hour for i in front], y=[rows[i].output_tokens_per_s for i in front], mode="lines",
            name="Pareto front", line=dict(color="#333333", dash="dot", shape="hv"), hoverinfo="skip"))
    if rows:
        fig.update_xaxes(**cost_axis([r.cost_per_hour for r in rows]))
        y_max = max(r.output_tokens_per_s for r in rows) * Y_PAD
        yticks = linear_ticks(0.0, y_max, fmt.COMPACT_UNITS)
        fig.update_yaxes(range=[0, y_max], tickvals=yticks[0], ticktext=yticks[1])
    fig.update_xaxes(title="Cost (USD per hour, on demand; log scale)")
    fig.update_yaxes(title="Output tokens/s (expected)")
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.2))
    return fig
