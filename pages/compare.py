"""Compare page: the cheapest deployments that meet a target, and two plans side by side.

The sweep form is bound to the URL like the Plan page; every result row links
to the Plan page with that configuration filled in.
"""

from __future__ import annotations

import streamlit as st

from wizard.capacity.compare import compare
from wizard.capacity.prices import price_of, providers
from wizard.capacity.sweep import GPUS_PER_NODE, NODES, SweepResult, sweep
from wizard.catalog.gpus import catalog
from wizard.catalog.metadata import catalog_ids
from wizard.errors import WizardError
from wizard.faces import charts
from wizard.faces.fields import describe, query_string
from wizard.faces.profile import parse_profile
from wizard.planning.planner import plan
from wizard.schema import (
    PlanRequest,
    PlanResponse,
    Targets,
    field_info,
    parse_request,
)

PLOTLY_CONFIG = {"displayModeBar": False}
DEFAULT_MODEL = "meta-llama/Llama-3.1-70B-Instruct"
TARGET_LABELS = {"max_ttft_ms": "Max TTFT (ms)", "max_itl_ms": "Max time per output token (ms)",
                 "min_output_tokens_per_s": "Min output tokens/s", "min_request_rate": "Min requests/s"}


@st.cache_data(max_entries=64, show_spinner=False)
def cached_sweep(request_json: str, gpus: tuple[str, ...], provider: str,
                 prices: tuple[tuple[str, float], ...]) -> tuple[SweepResult | None, str | None]:
    """One sweep per distinct form (reruns that change nothing cost nothing), or the error to show."""
    try:
        result = sweep(PlanRequest.model_validate_json(request_json),
                       gpu_names=list(gpus), provider=provider, prices=dict(prices), full_plans=0)
        return result, None
    except WizardError as exc:
        return None, str(exc)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_plan(request_json: str) -> tuple[PlanResponse | None, str | None]:
    try:
        return plan(PlanRequest.model_validate_json(request_json), detected=[]), None
    except WizardError as exc:
        return None, str(exc)


def price_rows(provider: str) -> list[dict]:
    rows = []
    for gpu in catalog():
        price = price_of(gpu, provider)
        rows.append({"GPU": gpu.name, "USD per GPU-hour": price.usd_per_gpu_hour if price else None,
                     "as of": price.date if price else "", "source": price.source if price else "no bundled price: type one"})
    return rows


# ---------------------------------------------------------------- sidebar: the sweep form
with st.sidebar:
    models = sorted(catalog_ids(), key=str.lower)
    st.selectbox("Model", models, index=models.index(DEFAULT_MODEL), accept_new_options=True, key="sweep_model",
                 bind="query-params", help=field_info("model").description)
    provider = st.selectbox("Price list", providers(), key="provider", bind="query-params",
                            help="On-demand prices bundled with vLLM Wizard, one list per provider (source and date in the table "
                                 "below the chart). Type your own prices in that table.")
    priced = [g.name for g in catalog() if price_of(g, provider) is not None]
    st.multiselect("GPU types", [g.name for g in catalog()], default=priced, key="sweep_gpus",
                   help="GPU types to consider; a GPU without a price needs one in the price table.")
    st.number_input("Prompt tokens", min_value=1, value=1024, step=128, key="sweep_prompt", bind="query-params",
                    help=field_info("prompt_tokens").description)
    st.number_input("Output tokens", min_value=1, value=256, step=64, key="sweep_gen", bind="query-params",
                    help=field_info("gen_tokens").description)
    st.number_input("Concurrent requests", min_value=1, value=32, step=1, key="sweep_concurrency", bind="query-params",
                    help=field_info("concurrency").description)
    st.number_input("Request rate (req/s)", min_value=0.01, value=None, step=0.5, key="sweep_rate", bind="query-params",
                    placeholder="closed loop (concurrency)", help=field_info("request_rate").description)
    st.markdown("**Targets** (leave empty for none)")
    for name, label in TARGET_LABELS.items():
        st.number_input(label, min_value=0.01, value=None, step=1.0, key=f"target_{name}", bind="query-params",
                        placeholder="no target", help=Targets.model_fields[name].description)

st.markdown("#### Cheapest deployments that meet the targets")
bundled_rows = price_rows(provider)
with st.expander("Prices (USD per GPU-hour): edit to use your own", icon=":material/payments:"):
    # min_value keeps every typed price positive, as parse_overrides requires on the command line.
    edited = st.data_editor(bundled_rows, key=f"prices_{provider}", hide_index=True, width="stretch",
                            disabled=["GPU", "as of", "source"],
                            column_config={"USD per GPU-hour": st.column_config.NumberColumn(min_value=0.01, format="$%.3f")})
bundled = {row["GPU"]: row["USD per GPU-hour"] for row in bundled_rows}
overrides = tuple((row["GPU"], float(row["USD per GPU-hour"])) for row in edited
                  if row["USD per GPU-hour"] and row["USD per GPU-hour"] != bundled[row["GPU"]])

try:
    base = parse_request({"model": str(st.session_state["sweep_model"]).strip(), "prompt_tokens": st.session_state["sweep_prompt"],
                         "gen_tokens": st.session_state["sweep_gen"], "concurrency": st.session_state["sweep_concurrency"],
                         **({"request_rate": st.session_state["sweep_rate"]} if st.session_state["sweep_rate"] else {}),
                         **{name: st.session_state[f"target_{name}"] for name in TARGET_LABELS}})
except WizardError as exc:
    st.error(describe(exc, "form"), title="The sweep request is not valid")
    st.stop()
if not st.session_state["sweep_gpus"]:
    st.info("Pick at least one GPU type on the left.", icon=":material/lightbulb:")
    st.stop()

with st.spinner("Sweeping...", show_time=False):
    result, error = cached_sweep(base.model_dump_json(), tuple(st.session_state["sweep_gpus"]),
                                 provider, overrides)
if error or result is None:
    st.error(error, title="No sweep for this request")
    st.stop()

with st.container(horizontal=True):
    st.metric("Configurations evaluated", f"{result.candidates_evaluated:,}", border=True,
              help=f"GPU type x GPUs per node {GPUS_PER_NODE} x nodes {NODES} x weight format x KV-cache dtype.")
    st.metric("Fit and meet the targets", f"{len(result.results):,}", border=True,
              help="Rejected: " + ", ".join(f"{k} {v}" for k, v in result.rejected.items()))
    st.metric("Sweep time", f"{result.seconds * 1000:,.0f} ms", border=True)
    if result.results:
        best = result.results[0]
        st.metric("Cheapest", f"${best.cost_per_hour:,.2f}/h", border=True,
                  help=f"{best.gpus_per_node * best.nodes} x {best.gpu}, {best.weights}, KV {best.kv_cache_dtype}")

if not result.results:
    st.warning("Nothing fits and meets the targets. Relax a target, add GPU types, or give prices for more GPUs.",
               icon=":material/warning:")
    st.stop()

with st.container(border=True):
    st.markdown("**Cost against throughput** (one colour per GPU type; the dotted line is the Pareto front)")
    st.plotly_chart(charts.sweep_figure(result.results), width="stretch", key="pareto", config=PLOTLY_CONFIG,
                    alt="Cost per hour against output tokens per second")
    st.caption("Throughput and latency are expected values of a heuristic model; open a row on the Plan page for its ranges.")

table = [
    {"rank": i + 1, "GPU": r.gpu, "GPUs/node": r.gpus_per_node, "nodes": r.nodes, "TP": r.tensor_parallel_size,
     "PP": r.pipeline_parallel_size, "weights": r.weights, "KV": r.kv_cache_dtype, "$/hour": r.cost_per_hour,
     "$/M output tokens": r.cost_per_million_output_tokens, "output tok/s": r.output_tokens_per_s, "ITL ms": r.itl_ms,
     "TTFT ms": r.ttft_ms, "max concurrency": r.max_concurrency, "plan": f"./?{query_string(r.request)}"}
    for i, r in enumerate(result.results)
]
st.dataframe(table, hide_index=True, width="stretch", key="sweep_table", alt="Fitting configurations, cheapest first",
             column_config={
                 "$/hour": st.column_config.NumberColumn(format="$%.2f"),
                 "$/M output tokens": st.column_config.NumberColumn(format="$%.2f"),
                 "output tok/s": st.column_config.NumberColumn(format="%.0f"),
                 "ITL ms": st.column_config.NumberColumn(format="%.1f"),
                 "TTFT ms": st.column_config.NumberColumn(format="%.0f"),
                 "plan": st.column_config.LinkColumn("plan", display_text="open plan", help="Open this configuration on the Plan page"),
             })
st.caption("Click a column header to sort. Cost = on-demand USD per GPU-hour x GPUs.")

# ---------------------------------------------------------------- two plans side by side
st.markdown("#### Compare two plans")
labels = [f"#{i + 1} {r.gpus_per_node * r.nodes} x {r.gpu} ({r.nodes} node{'s' if r.nodes > 1 else ''}), {r.weights}, "
          f"KV {r.kv_cache_dtype}, ${r.cost_per_hour:,.2f}/h" for i, r in enumerate(result.results)]
source = st.segmented_control("Plans from", ["sweep results", "two profiles"], default="sweep results", key="compare_source")
requests: list[PlanRequest] = []
if source == "two profiles":
    left, right = st.columns(2)
    uploads = [left.file_uploader("Profile A", type=["yaml", "yml"], key="profile_a"),
               right.file_uploader("Profile B", type=["yaml", "yml"], key="profile_b")]
    for upload in uploads:
        if upload is None:
            continue
        try:
            requests.append(parse_request({}, parse_profile(upload.getvalue().decode("utf-8", "replace"), origin=upload.name)))
        except WizardError as exc:
            st.error(str(exc), title=f"{upload.name} could not be loaded")
    names = [u.name for u in uploads if u is not None]
else:
    left, right = st.columns(2)
    first = left.selectbox("Plan A", range(len(labels)), index=0, format_func=labels.__getitem__, key="compare_a")
    # By default B is the cheapest row on another GPU type: the comparison people usually want.
    other = next((i for i, r in enumerate(result.results) if r.gpu != result.results[0].gpu), min(1, len(labels) - 1))
    second = right.selectbox("Plan B", range(len(labels)), index=other, format_func=labels.__getitem__, key="compare_b")
    requests = [result.results[first].request, result.results[second].request]
    names = [f"A: #{first + 1}", f"B: #{second + 1}"]

if len(requests) == 2:
    plans = []
    for request in requests:
        resp, error = cached_plan(request.model_dump_json())
        if error or resp is None:
            st.error(error, title="No plan")
            st.stop()
        plans.append(resp)
    comparison = compare(plans[0], plans[1], labels=(names[0], names[1]))
    left, right = st.columns([2, 3])
    with left, st.container(border=True):
        st.markdown("**Memory of the most loaded GPU**")
        st.plotly_chart(charts.compare_vram_figure(plans, list(names)), width="stretch", key="compare_vram",
                        config=PLOTLY_CONFIG, alt="Memory per GPU of both plans")
    with right:
        st.dataframe([{"quantity": r.label, names[0]: r.a, names[1]: r.b, "differs": r.differs} for r in comparison.rows],
                     hide_index=True, width="stretch", height=36 * 16, key="compare_rows", alt="Both plans side by side",
                     column_config={"quantity": st.column_config.TextColumn(pinned=True)})
    st.markdown("**How the serve commands differ**")
    st.code("\n".join(comparison.command_diff) or "# identical vllm serve commands: the plans differ only in hardware", language="diff")
elif source == "two profiles":
    st.info("Upload two profiles (vllm-wizard generate --emit profile, or the Profile download on the Plan page).",
            icon=":material/upload_file:")
