"""Plotly figures of the simulated run and of fleets: latency percentiles, the engine over time, cost against rate.

Pure functions from a plan (or sweep rows) to a figure, like :mod:`wizard.faces.charts`;
every number a person reads goes through :mod:`wizard.faces.format`.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from wizard.faces import format as fmt
from wizard.faces.charts import (
    LABEL_BACKGROUND,
    Y_PAD,
    add_gpu_markers,
    cost_axis,
    linear_ticks,
    pareto_front,
)
from wizard.schema import PlanResponse

# The latencies vllm bench reports, as the plan's distribution names them.
LATENCIES = (
    ("ttft_ms", "Time to first token"),
    ("tpot_ms", "Time per output token"),
    ("itl_ms", "Inter-token latency"),
    ("e2e_ms", "End-to-end latency"),
)
PERCENTILE_MARKERS = (("p50", "circle", "#4C78A8"), ("p90", "diamond", "#F58518"), ("p99", "x", "#E45756"))
TIMELINE_COLORS = {"running": "#4C78A8", "waiting": "#E45756", "kv": "#54A24B", "preempted": "#B279A2"}


def latency_figure(plan: PlanResponse) -> go.Figure:
    """Each latency's p50, p90 and p99 (and mean) from the simulated run, one row per latency on its own scale."""
    perf = plan.performance
    dist = perf.distribution if perf else None
    rows = [(key, title) for key, title in LATENCIES if dist is not None and getattr(dist, key).p99 > 0]
    fig = make_subplots(rows=max(len(rows), 1), cols=1, vertical_spacing=0.2)
    for row, (key, title) in enumerate(rows, start=1):
        p = getattr(dist, key)
        fig.add_trace(go.Scatter(x=[p.p50, p.p99], y=[title, title], mode="lines", line=dict(color="#C6DBEF", width=12),
                                 showlegend=False, hoverinfo="skip"), row=row, col=1)
        for name, symbol, color in PERCENTILE_MARKERS:
            value = getattr(p, name)
            fig.add_trace(go.Scatter(
                x=[value], y=[title], mode="markers", name=name, legendgroup=name, showlegend=row == 1,
                marker=dict(symbol=symbol, size=12, color=color), customdata=[fmt.duration_ms(value)],
                hovertemplate=f"{title} {name}: %{{customdata}}<extra></extra>"), row=row, col=1)
        fig.add_trace(go.Scatter(
            x=[p.mean], y=[title], mode="markers", name="mean", legendgroup="mean", showlegend=row == 1,
            marker=dict(symbol="line-ns-open", size=16, color="#333333", line=dict(width=2)),
            customdata=[fmt.duration_ms(p.mean)], hovertemplate=f"{title} mean: %{{customdata}}<extra></extra>"),
            row=row, col=1)
        right = max(p.p99, p.mean) * Y_PAD
        tickvals, ticktext = linear_ticks(0.0, right, fmt.DURATION_UNITS_MS)
        fig.update_xaxes(range=[0, right], tickvals=tickvals, ticktext=ticktext, tickfont=dict(size=10), row=row, col=1)
        fig.update_yaxes(showticklabels=False, row=row, col=1)
        fig.add_annotation(text=f"<b>{title}</b>: p50 {fmt.duration_ms(p.p50)} · p90 {fmt.duration_ms(p.p90)} · "
                                f"p99 {fmt.duration_ms(p.p99)}", xref=f"x{row if row > 1 else ''} domain",
                           yref=f"y{row if row > 1 else ''} domain", x=0, y=1.6, showarrow=False, xanchor="left",
                           font=dict(size=12))
    fig.update_layout(height=90 * max(len(rows), 1) + 70, margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", y=-0.12))
    return fig


def timeline_figure(plan: PlanResponse) -> go.Figure:
    """The simulated engine over time: requests running and waiting, the KV cache's use, preemptions."""
    perf = plan.performance
    points = perf.timeline if perf else []
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    if not points:
        fig.add_annotation(text="No simulated run", x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                           bgcolor=LABEL_BACKGROUND)
        return fig
    times = [p.time_s for p in points]
    when = [fmt.duration_ms(t * 1000) for t in times]
    for key, label in (("running", "Running"), ("waiting", "Waiting")):
        values = [getattr(p, key) for p in points]
        fig.add_trace(go.Scatter(x=times, y=values, mode="lines", name=label, line=dict(color=TIMELINE_COLORS[key], shape="hv"),
                                 customdata=list(zip(when, (fmt.count(v) for v in values))),
                                 hovertemplate=f"%{{customdata[0]}}: %{{customdata[1]}} {label.lower()}<extra></extra>"),
                      secondary_y=False)
    fig.add_trace(go.Scatter(x=times, y=[p.kv_usage * 100 for p in points], mode="lines", name="KV cache used",
                             line=dict(color=TIMELINE_COLORS["kv"], dash="dot"),
                             customdata=list(zip(when, (fmt.percent(p.kv_usage) for p in points))),
                             hovertemplate="%{customdata[0]}: KV cache %{customdata[1]} used<extra></extra>"),
                  secondary_y=True)
    preempted = [(p.time_s, p.running) for i, p in enumerate(points) if i and p.preemptions > points[i - 1].preemptions]
    if preempted:
        fig.add_trace(go.Scatter(x=[t for t, _ in preempted], y=[r for _, r in preempted], mode="markers", name="Preemption",
                                 marker=dict(symbol="x", size=9, color=TIMELINE_COLORS["preempted"]),
                                 hovertemplate="a request was preempted<extra></extra>"), secondary_y=False)
    top = max(max(p.running for p in points), max(p.waiting for p in points), 1) * Y_PAD
    yticks = linear_ticks(0.0, top, fmt.COMPACT_UNITS)
    xticks = linear_ticks(0.0, max(times) or 1.0, tuple((size / 1000, s, m) for size, s, m in fmt.DURATION_UNITS_MS))
    fig.update_xaxes(title="Time since the first request", range=[0, max(times) or 1.0], tickvals=xticks[0], ticktext=xticks[1])
    fig.update_yaxes(title="Requests", range=[0, top], tickvals=yticks[0], ticktext=yticks[1], secondary_y=False)
    # A share of the pool: whole quarters up to 100% (left to itself, Plotly ticked it at 50.9 and 101.7).
    kv_ticks = [0, 25, 50, 75, 100]
    fig.update_yaxes(title="KV cache used", range=[0, 100 * Y_PAD], tickvals=kv_ticks, ticktext=[f"{v}%" for v in kv_ticks],
                     secondary_y=True, showgrid=False)
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.3))
    return fig


def fleet_figure(rows: list, target_rate_per_s: float | None = None) -> go.Figure:
    """Cost per hour against the request rate each fleet sustains, one colour per GPU type, the Pareto front and
    the target rate as lines.  ``rows`` are :class:`wizard.schema.results.SweepRow` objects."""
    fig = go.Figure()
    add_gpu_markers(
        fig, rows, lambda r: (r.max_request_rate_per_s, r.cost_per_hour),
        lambda r: [fmt.count(r.replicas), fmt.count(r.gpus_per_node * r.nodes),
                   fmt.layout(r.tensor_parallel_size, r.pipeline_parallel_size, r.data_parallel_size, r.expert_parallel_size),
                   fmt.number(r.max_request_rate_per_s), f"${r.cost_per_hour:,.2f}", f"${r.cost_per_million_output_tokens:,.2f}"],
        lambda gpu: (f"<b>%{{customdata[0]}} x %{{customdata[1]}} {gpu}</b> (%{{customdata[2]}})<br>"
                     "sustains %{customdata[3]} requests/s · %{customdata[4]}/h<br>"
                     "%{customdata[5]} per M output tokens<extra></extra>"))
    front = pareto_front([(r.cost_per_hour, r.max_request_rate_per_s) for r in rows])  # no cheaper fleet sustains more
    if front:
        fig.add_trace(go.Scatter(x=[rows[i].max_request_rate_per_s for i in front], y=[rows[i].cost_per_hour for i in front],
                                 mode="lines", name="Pareto front", line=dict(color="#333333", dash="dot"),
                                 hoverinfo="skip"))
    if rows:
        rates = [r.max_request_rate_per_s for r in rows] + ([target_rate_per_s] if target_rate_per_s else [])
        x_max = max(rates) * Y_PAD
        xticks = linear_ticks(0.0, x_max, fmt.COMPACT_UNITS)
        fig.update_xaxes(range=[0, x_max], tickvals=xticks[0], ticktext=xticks[1])
        fig.update_yaxes(**cost_axis([r.cost_per_hour for r in rows]))
    if target_rate_per_s:
        fig.add_vline(x=target_rate_per_s, line=dict(color="#E45756", dash="dash"),
                      annotation=dict(text=f"target {fmt.number(target_rate_per_s)} req/s", bgcolor=LABEL_BACKGROUND))
    fig.update_xaxes(title="Requests per second the fleet sustains (expected)")
    fig.update_yaxes(title="Cost (USD per hour, on demand; log scale)")
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.2))
    return fig
