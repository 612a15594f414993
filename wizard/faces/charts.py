"""Plotly figures of a plan: pure functions from a :class:`PlanResponse` to a figure.

Kept out of ``import wizard`` (Plotly loads only when a chart is drawn); the
dashboard calls these and the tests check the figures' data against the plan.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

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


def _component_bars(fig: go.Figure, labels: list[str], gpus: list[GpuMemory], graphs_in_budget: bool) -> None:
    """One stacked bar trace per memory component (weights and KV cache always, the others when present)."""
    for key, name, color in COMPONENTS:
        values = [getattr(g, key) for g in gpus]
        if key == "cuda_graph_gib" and not graphs_in_budget:
            name += " (outside the budget)"
        if any(values) or key in ("weights_gib", "kv_cache_gib"):
            fig.add_bar(name=name, x=labels, y=values, marker_color=color,
                        hovertemplate="%{x}<br>" + name + ": %{y:.2f} GiB<extra></extra>")


def vram_figure(plan: PlanResponse) -> go.Figure:
    """Stacked memory per GPU with the gpu_memory_utilization line."""
    gpus = plan.memory.per_gpu
    labels = [g.label for g in gpus]
    fig = go.Figure()
    _component_bars(fig, labels, gpus, plan.memory.cuda_graph_in_budget)
    used = [g.weights_gib + g.activation_gib + g.non_torch_gib + g.overhead_gib + g.kv_cache_gib
            + (g.cuda_graph_gib if plan.memory.cuda_graph_in_budget else 0.0) for g in gpus]
    unused = [max(g.budget_gib - u, 0.0) for g, u in zip(gpus, used)]
    fig.add_bar(name="Unused budget", x=labels, y=unused, marker_color=UNUSED_COLOR,
                hovertemplate="%{x}<br>Unused budget: %{y:.2f} GiB<extra></extra>")
    outside = [max(g.gpu_total_gib - g.budget_gib - (0.0 if plan.memory.cuda_graph_in_budget else g.cuda_graph_gib), 0.0)
               for g in gpus]
    fig.add_bar(name="Outside the budget", x=labels, y=outside, marker_color=OUTSIDE_COLOR,
                marker_line=dict(color="#BBBBBB", width=1),
                hovertemplate="%{x}<br>Outside vLLM's budget: %{y:.2f} GiB<extra></extra>")
    budget = plan.memory.budget_gib
    fig.add_hline(y=budget, line_dash="dash", line_color="#333333",
                  annotation_text=f"gpu_memory_utilization {plan.memory.gpu_memory_utilization:g} = {budget:.1f} GiB",
                  annotation_position="top left")
    fig.update_layout(barmode="stack", yaxis_title="GiB per GPU", legend_title_text="", height=420,
                      margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.15))
    fig.update_yaxes(range=[0, plan.memory.gpu_total_gib * 1.05])
    return fig


def oom_gauge(plan: PlanResponse) -> go.Figure:
    """Share of the budget the plan commits (non-KV memory plus the workload's KV), coloured by OOM risk."""
    mem, f = plan.memory, plan.feasibility
    committed = mem.budget_gib - mem.kv_cache_gib + max(f.kv_needed_gib, 0.0)
    share = committed / mem.budget_gib * 100 if mem.budget_gib else 100.0
    fig = go.Figure(go.Indicator(
        mode="gauge+number",
        value=round(share, 1),
        number={"suffix": "%"},
        title={"text": f"OOM risk: {f.oom_risk}"},
        gauge={
            "axis": {"range": [0, max(120, share)]},
            "bar": {"color": RISK_COLORS[f.oom_risk]},
            "steps": [{"range": [0, 80], "color": "#EAF5E9"}, {"range": [80, 100], "color": "#FDF3DC"},
                      {"range": [100, max(120, share)], "color": "#FBE3E4"}],
            "threshold": {"line": {"color": "#333333", "width": 3}, "value": 100},
        },
    ))
    fig.update_layout(height=260, margin=dict(l=20, r=20, t=50, b=10))
    return fig


PERF_ROWS = (
    ("itl_ms", "Time per output token", "ms"),
    ("ttft_ms", "Time to first token", "ms"),
    ("decode_tokens_per_s", "Decode speed per request", "tok/s"),
    ("output_tokens_per_s", "Aggregate output", "tok/s"),
    ("prefill_tokens_per_s", "Prefill speed", "tok/s"),
)


def performance_figure(plan: PlanResponse) -> go.Figure:
    """Each throughput/latency estimate as a low-high bar with the expected value marked."""
    perf = plan.performance
    fig = make_subplots(rows=len(PERF_ROWS), cols=1, vertical_spacing=0.16)
    if perf is None:
        return fig
    for row, (key, title, unit) in enumerate(PERF_ROWS, start=1):
        r = getattr(perf, key)
        label = f"{title} ({unit})"
        fig.add_trace(go.Scatter(
            x=[r.low, r.high], y=[label, label], mode="lines", line=dict(color="#9ECAE9", width=14),
            name=label, showlegend=False, hovertemplate=f"{label}: %{{x:,.1f}}<extra>range</extra>"), row=row, col=1)
        fig.add_trace(go.Scatter(
            x=[r.expected], y=[label], mode="markers", marker=dict(color="#F58518", size=14, symbol="diamond"),
            showlegend=False, hovertemplate=f"{label}: %{{x:,.1f}}<extra>expected</extra>"), row=row, col=1)
        span = max(r.high - r.low, abs(r.expected) * 0.05, 1e-9)
        fig.update_xaxes(range=[r.low - 0.08 * span, r.high + 0.08 * span], tickformat="~s", nticks=6,
                         tickfont=dict(size=10), row=row, col=1)
        fig.add_annotation(text=f"<b>{title}</b>: {r.expected:,.1f} {unit} <span style='color:#888'>({r.low:,.1f} to {r.high:,.1f})</span>",
                           xref=f"x{row if row > 1 else ''} domain", yref=f"y{row if row > 1 else ''} domain",
                           x=0, y=1.55, showarrow=False, xanchor="left", font=dict(size=12))
        fig.update_yaxes(showticklabels=False, row=row, col=1)
    fig.update_layout(height=95 * len(PERF_ROWS) + 40, margin=dict(l=10, r=10, t=30, b=10))
    return fig


def frontier_figure(plan: PlanResponse) -> go.Figure:
    """How many requests fit at once for each context length, with the requested point."""
    points = [p for p in plan.memory.frontier if p.max_requests >= 1]  # a log axis cannot show zero
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[p.tokens for p in points], y=[p.max_requests for p in points], mode="lines+markers",
        name="Fits in the KV cache", line=dict(color="#54A24B", shape="hv"),
        hovertemplate="%{x:,} tokens: %{y:,} requests<extra></extra>"))
    seqs = plan.memory.max_num_seqs
    fig.add_hline(y=seqs, line_dash="dot", line_color="#888888", annotation_text=f"max_num_seqs {seqs}")
    f = plan.feasibility
    fig.add_trace(go.Scatter(
        x=[f.context_tokens], y=[plan.request.workload.concurrency], mode="markers", name="Requested",
        marker=dict(color=RISK_COLORS["low"] if f.workload_fits else RISK_COLORS["high"], size=14, symbol="x"),
        hovertemplate="requested: %{y} x %{x:,} tokens<extra></extra>"))
    fig.update_xaxes(type="log", title="Context per request (tokens)")
    fig.update_yaxes(type="log", title="Requests at once")
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indexes of the points no other point beats on both cost (lower) and throughput (higher), by cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def sweep_figure(rows: list) -> go.Figure:
    """Cost per hour against output throughput, one colour per GPU type, the Pareto front as a line.

    ``rows`` are :class:`wizard.capacity.sweep.Row` objects (anything with the same attributes).
    """
    fig = go.Figure()
    for gpu in dict.fromkeys(r.gpu for r in rows):
        mine = [r for r in rows if r.gpu == gpu]
        fig.add_trace(go.Scatter(
            x=[r.cost_per_hour for r in mine], y=[r.output_tokens_per_s for r in mine], mode="markers", name=gpu,
            marker=dict(size=9, opacity=0.8),
            customdata=[[r.gpus_per_node, r.nodes, r.weights, r.kv_cache_dtype, r.itl_ms, r.cost_per_million_output_tokens]
                        for r in mine],
            hovertemplate=(f"<b>{gpu}</b> x %{{customdata[0]}} per node x %{{customdata[1]}} node(s)<br>"
                           "weights %{customdata[2]}, KV %{customdata[3]}<br>$%{x:,.2f}/h · %{y:,.0f} output tok/s<br>"
                           "ITL %{customdata[4]:.1f} ms · $%{customdata[5]:,.2f} per M output tokens<extra></extra>"),
        ))
    front = pareto_front([(r.cost_per_hour, r.output_tokens_per_s) for r in rows])
    if front:
        fig.add_trace(go.Scatter(
            x=[rows[i].cost_per_hour for i in front], y=[rows[i].output_tokens_per_s for i in front], mode="lines",
            name="Pareto front", line=dict(color="#333333", dash="dot", shape="hv"), hoverinfo="skip"))
    # Costs span two orders of magnitude (one small GPU to racks of B200s): a log axis keeps the cheap end readable.
    fig.update_xaxes(title="Cost (USD per hour, on demand; log scale)", tickprefix="$", type="log")
    fig.update_yaxes(title="Output tokens/s (expected)")
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.2),
                      colorway=qualitative.Dark24)  # enough distinct colours for every catalog GPU type
    return fig


def compare_vram_figure(plans: list[PlanResponse], labels: list[str]) -> go.Figure:
    """Side-by-side stacked memory of the most loaded GPU of each plan, with each plan's budget."""
    gpus = [min(p.memory.per_gpu, key=lambda g: g.kv_cache_gib) for p in plans]
    fig = go.Figure()
    _component_bars(fig, labels, gpus, all(p.memory.cuda_graph_in_budget for p in plans))
    fig.add_trace(go.Scatter(x=labels, y=[g.budget_gib for g in gpus], mode="markers", name="Budget (utilization x memory)",
                             marker=dict(symbol="line-ew-open", size=60, color="#333333", line=dict(width=3)),
                             hovertemplate="%{x}<br>budget %{y:.2f} GiB<extra></extra>"))
    fig.update_layout(barmode="stack", yaxis_title="GiB per GPU", height=420, margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", y=-0.15))
    return fig
