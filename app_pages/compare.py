"""Compare page: the cheapest deployments that meet a target, and two plans side by side.

The workload form is drawn from the same field specs as the Plan page, with the same URL keys and defaults
(app_pages/form.py): a value set on one page is the value on the other.  Each of the cheapest configurations
links to its plan in one click.
"""

from __future__ import annotations

import streamlit as st

from app_pages import cached, form
from wizard.capacity.compare import compare, no_performance, plan_costs
from wizard.capacity.prices import price_of, providers
from wizard.capacity.sweep import GPUS_PER_NODE, NODES, sweep
from wizard.catalog.gpus import catalog
from wizard.errors import WizardError
from wizard.faces import charts, run_charts
from wizard.faces import format as fmt
from wizard.faces.fields import describe, query_params
from wizard.faces.profile import parse_profile
from wizard.faces.verdict import sweep_in_part, sweep_refused, sweep_stopped
from wizard.planning.performance import fleet_target
from wizard.schema import PlanRequest, PlanResponse, parse_request
from wizard.schema.results import SweepResult, SweepRow

PLOTLY_CONFIG = {"displayModeBar": False}
FIELDS = ("model", "prompt_tokens", "gen_tokens", "concurrency", "request_rate", "batching_mode")
# The rest of the workload, as vllm bench sends it (advanced on the Plan page): the sweep simulates the same run.
BENCH_FIELDS = ("num_prompts", "burstiness", "length_distribution", "range_ratio", "seed")
# What the sweep chooses itself for every configuration (the Plan page's hardware and layout); a value set for one
# of these is left to it, and the page says so.
SWEPT = ("gpu", "gpus", "nodes", "vram_gb", "interconnect", "tensor_parallel_size", "pipeline_parallel_size",
         "data_parallel_size", "enable_expert_parallel", "replicas")
# The Plan page's other settings (the vLLM release, max_model_len, memory and batching settings, a fixed weight format
# or KV dtype): not drawn here; a link's values reach the sweep as they are, and the page lists them.
PASSED = tuple(name for name in form.ADVANCED if name not in (*BENCH_FIELDS, *SWEPT, *form.TARGETS))
LINKED_ROWS = 15  # the cheapest configurations listed with a link to their plan; all of them are in the table below


@st.cache_data(max_entries=64, show_spinner=False)
def sweep_of(request_json: str, gpus: tuple[str, ...], provider: str,
             prices: tuple[tuple[str, float], ...]) -> tuple[SweepResult | None, str | None]:
    """The sweep of a request (its targets included) over GPU types, layouts and fleets, cheapest first, or the error."""
    try:
        result = sweep(PlanRequest.model_validate_json(request_json),
                       gpu_names=list(gpus), provider=provider, prices=dict(prices), full_plans=0)
        return result, None
    except WizardError as exc:
        return None, describe(exc, "form")


def money(usd: float) -> str:
    """Dollars with cents, as the sortable table's "$%,.2f" column writes them (fmt.number would drop a cent's 0)."""
    return f"${usd:,.2f}" if usd < 1e12 else f"${fmt.number(usd)}"


def price_rows(provider: str) -> list[dict]:
    rows = []
    for gpu in catalog():
        price = price_of(gpu, provider)
        rows.append({"GPU": gpu.name, "USD per GPU-hour": price.usd_per_gpu_hour if price else None,
                     "as of": price.date if price else "", "source": price.source if price else "no bundled price: type one"})
    return rows


def layout(r: SweepRow) -> str:
    """16 x H100 SXM 80GB (2 nodes of 8), DP 16 + EP 16; a fleet: 3 replicas of 2 x L40S, TP 2."""
    nodes = f" ({r.nodes} nodes of {r.gpus_per_node})" if r.nodes > 1 else ""
    fleet = f"{r.replicas} replicas of " if r.replicas > 1 else ""
    split = fmt.layout(r.tensor_parallel_size, r.pipeline_parallel_size, r.data_parallel_size, r.expert_parallel_size)
    return f"{fleet}{r.gpus_per_node * r.nodes} x {r.gpu}{nodes}, {split}"


def costs(plan: PlanResponse, usd_per_gpu_hour: float | None) -> tuple[str, str]:
    """What a plan rents per hour, and per million output tokens at its sustained rate, in words (two profiles:
    the sweep's rows carry their own)."""
    if usd_per_gpu_hour is None:
        return "no price: type one in the price table", "no price"
    gpus, hourly, per_million = plan_costs(plan, usd_per_gpu_hour)
    return (f"{money(hourly)}/h ({gpus} x {money(usd_per_gpu_hour)})",
            money(per_million) if plan.performance else no_performance(plan))


# ---------------------------------------------------------------------------------------------- the form
form.read_link("compare")
with st.sidebar:
    for name in FIELDS:
        form.draw(form.SPECS[name])
    with st.expander("The rest of the workload (vllm bench's run)", expanded=any(map(form.is_set, BENCH_FIELDS))):
        for name in BENCH_FIELDS:
            form.draw(form.SPECS[name])
    provider = st.selectbox("Price list", providers(), key="provider", bind="query-params",
                            help="On-demand prices bundled with vLLM Wizard, one list per provider (source and date in the "
                                 "table below the chart). Type your own prices in that table.")
    priced = [g.name for g in catalog() if price_of(g, provider) is not None]
    st.multiselect("GPU types", [g.name for g in catalog()], default=priced, key="sweep_gpus",
                   help="GPU types to consider; a GPU without a price needs one in the price table.")
    st.markdown("**Targets**")
    for name in form.TARGETS:
        form.draw_target(name)
form.settle_link([*FIELDS, *BENCH_FIELDS, "provider", *form.TARGETS])

st.markdown("#### Cheapest deployments that meet the targets")
form.show_link_problems()
bundled_rows = price_rows(provider)
with st.expander("Prices (USD per GPU-hour): edit to use your own", icon=":material/payments:"):
    # min_value keeps every typed price positive, as parse_overrides requires on the command line.
    edited = st.data_editor(bundled_rows, key=f"prices_{provider}", hide_index=True, width="stretch",
                            disabled=["GPU", "as of", "source"],
                            column_config={"USD per GPU-hour": st.column_config.NumberColumn(min_value=0.01, format="$%.3f")})
bundled = {row["GPU"]: row["USD per GPU-hour"] for row in bundled_rows}
prices = {row["GPU"]: row["USD per GPU-hour"] for row in edited}
overrides = tuple((gpu, float(usd)) for gpu, usd in prices.items() if usd and usd != bundled[gpu])

passed = [name for name in PASSED if form.is_set(name)]
if passed:
    st.caption("Also as on the Plan page: " + ", ".join(form.setting_in_words(n) for n in passed) + ".")
if left := [name for name in SWEPT if form.is_set(name)]:
    st.caption("The sweep chooses the GPUs, the layout and the replicas of each configuration itself: the Plan page's "
               + ", ".join(form.setting_in_words(n) for n in left) + (" is" if len(left) == 1 else " are")
               + " not used here.")
try:
    base = parse_request(form.request_values([*FIELDS, *BENCH_FIELDS, *passed, *form.TARGETS]))
except WizardError as exc:
    st.error(describe(exc, "form"), title="The sweep request is not valid")
    st.stop()
if not st.session_state["sweep_gpus"]:
    st.info("Pick at least one GPU type on the left.", icon=":material/lightbulb:")
    st.stop()

with st.spinner("Sweeping...", show_time=False):
    result, error = sweep_of(base.model_dump_json(), tuple(st.session_state["sweep_gpus"]), provider, overrides)
if error or result is None:
    st.error(error, title="No sweep for this request")
    st.stop()

simulated = fmt.count(sum(r.simulated for r in result.results))  # the cheapest rows, whose figures are simulated
with st.container(horizontal=True):
    st.metric("Configurations evaluated", fmt.count(result.candidates_evaluated), border=True,
              help=f"GPU type x GPUs per node {GPUS_PER_NODE} x nodes {NODES} x weight format x KV-cache dtype.")
    st.metric("Fit and meet the targets", fmt.count(result.fitting), border=True,
              help="Left out: " + ", ".join(f"{reason} {fmt.count(n)}" for reason, n in result.rejected.items()))
    st.metric("Sweep time", fmt.duration_ms((result.seconds + result.simulation_seconds) * 1000), border=True,
              help=f"{fmt.duration_ms(result.seconds * 1000)} planning and screening every configuration, "
                   f"{fmt.duration_ms(result.simulation_seconds * 1000)} simulating the cheapest {simulated} that meet "
                   "the targets (and those it rejected).")
    if result.results:
        best = result.results[0]
        st.metric("Cheapest", f"{money(best.cost_per_hour)}/h", border=True,
                  help=f"{layout(best)}, {best.weights}, KV {best.kv_cache_dtype}")

if not result.results:
    st.warning(sweep_refused(result) or
               "Nothing fits and meets the targets. Relax a target, add GPU types, or give prices for more GPUs.",
               icon=":material/warning:")
    st.stop()

with st.container(border=True):
    target = fleet_target(base)
    figures = (f"simulated for the {simulated} cheapest, the others from the sweep's steady-state screen; open a plan "
               "for its ranges")
    if stopped := sweep_stopped(result):
        figures += f". Verified in part: {stopped}"
    if cut := sweep_in_part(result.results):
        figures += f". Simulated in part: {cut}"
    if target:
        st.markdown(f"**Cost against the rate each fleet sustains** (target {fmt.number(target)} requests/s; one colour "
                    "per GPU type; the dotted line is the Pareto front)")
        st.plotly_chart(run_charts.fleet_figure(result.results, target), width="stretch", key="fleet", config=PLOTLY_CONFIG,
                        alt="Cost per hour against the sustained request rate")
        st.caption("Each fleet is the fewest identical replicas whose summed sustainable rate covers the target, the "
                   f"requests split evenly by a load balancer in front (no prefix-cache affinity). Expected values: "
                   f"{figures}.")
    else:
        st.markdown("**Cost against throughput** (one colour per GPU type; the dotted line is the Pareto front)")
        st.plotly_chart(charts.sweep_figure(result.results), width="stretch", key="pareto", config=PLOTLY_CONFIG,
                        alt="Cost per hour against output tokens per second")
        st.caption(f"Throughput and latency are expected values: {figures}. Give a request rate (or a rate target) to "
                   "size fleets of replicas.")


st.markdown(f"**The {min(LINKED_ROWS, len(result.results))} cheapest**: each link opens its plan in a new tab")
st.table([{"#": str(i + 1), "deployment": layout(r), "weights": r.weights, "KV": r.kv_cache_dtype,
           "cost": f"{money(r.cost_per_hour)}/h", "per M output tokens": money(r.cost_per_million_output_tokens),
           "sustains": f"{fmt.number(r.max_request_rate_per_s)} req/s", "output": fmt.tokens_per_s(r.output_tokens_per_s), "per token": fmt.duration_ms(r.itl_ms),
           "first token": fmt.duration_ms(r.ttft_ms), "plan": f"[open plan]({form.link(r.request)})"}
          for i, r in enumerate(result.results[:LINKED_ROWS])], hide_index=True, alt="The cheapest configurations")
everything = st.expander(f"All {fmt.count(len(result.results))} configurations that fit, to sort by any column",
                         icon=":material/table:", key="all_rows", on_change="rerun")
if everything.open:  # drawn only when opened: hundreds of rows the first paint does not need
    with everything:
        st.dataframe(
            [{"rank": i + 1, "GPU": r.gpu, "replicas": r.replicas, "GPUs/node": r.gpus_per_node, "nodes": r.nodes,
              "TP": r.tensor_parallel_size, "PP": r.pipeline_parallel_size, "DP": r.data_parallel_size,
              "EP": r.expert_parallel_size, "GPUs": r.total_gpus, "req/s": r.max_request_rate_per_s, "weights": r.weights, "KV": r.kv_cache_dtype, "$/hour": r.cost_per_hour,
              "$/M output tokens": r.cost_per_million_output_tokens, "output tok/s": r.output_tokens_per_s,
              "ITL ms": r.itl_ms, "TTFT ms": r.ttft_ms, "max concurrency": r.max_concurrency}
             for i, r in enumerate(result.results)],
            hide_index=True, width="stretch", key="sweep_table", alt="Fitting configurations, cheapest first",
            column_config={
                "$/hour": st.column_config.NumberColumn(format="$%,.2f"),
                "$/M output tokens": st.column_config.NumberColumn(format="$%,.2f"),
                "output tok/s": st.column_config.NumberColumn(format="%,.0f"),
                "req/s": st.column_config.NumberColumn(format="%,.3g"),
                "ITL ms": st.column_config.NumberColumn(format="%,.1f"),
                "TTFT ms": st.column_config.NumberColumn(format="%,.0f"),
                "max concurrency": st.column_config.NumberColumn(format="%,d"),
            })
        st.caption("Click a column header to sort. Cost = on-demand USD per GPU-hour x every GPU of every replica; "
                   "per M output tokens while the fleet serves the rate it sustains.")

st.markdown("#### Share")
shared = {**query_params(base), **({"provider": provider} if provider != form.default_value("provider") else {})}
st.code(form.page_url(shared, "./compare"), language="text")
st.caption("The link holds the workload, the targets, the settings listed above and the price list (never a token); "
           "the GPU types picked and prices typed in the table stay on this page.")

# ---------------------------------------------------------------------------------------------- two plans side by side
st.markdown("#### Compare two plans")
labels = [f"#{i + 1} {layout(r)}, {r.weights}, KV {r.kv_cache_dtype}, {money(r.cost_per_hour)}/h"
          for i, r in enumerate(result.results)]
source = st.segmented_control("Plans from", ["sweep results", "two profiles"], default="sweep results", key="compare_source")
requests: list[PlanRequest] = []
chosen: list[SweepRow] = []  # the sweep's rows, whose costs the table above shows
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
            st.error(describe(exc, "profile"), title=f"{upload.name} could not be loaded")
    names = [u.name for u in uploads if u is not None]
else:
    left, right = st.columns(2)
    first = left.selectbox("Plan A", range(len(labels)), index=0, format_func=labels.__getitem__, key="compare_a")
    # By default B is the cheapest row on another GPU type: the comparison people usually want.
    other = next((i for i, r in enumerate(result.results) if r.gpu != result.results[0].gpu), min(1, len(labels) - 1))
    second = right.selectbox("Plan B", range(len(labels)), index=other, format_func=labels.__getitem__, key="compare_b")
    chosen = [result.results[first], result.results[second]]
    requests = [r.request for r in chosen]
    names = [f"A: #{first + 1}", f"B: #{second + 1}"]

if len(requests) == 2:
    plans = []
    for request in requests:
        resp, error = cached.plan_of(request.model_dump_json())
        if error or resp is None:
            st.error(error, title="No plan")
            st.stop()
        plans.append(resp)
    comparison = compare(plans[0], plans[1], labels=(names[0], names[1]))
    (hourly_a, million_a), (hourly_b, million_b) = (
        [(f"{money(r.cost_per_hour)}/h ({r.total_gpus} x {money(r.usd_per_gpu_hour)})",
          money(r.cost_per_million_output_tokens)) for r in chosen]
        or [costs(p, prices.get(p.hardware.gpu)) for p in plans])
    rows = [{"quantity": "cost per hour", "a": hourly_a, "b": hourly_b},
            {"quantity": "cost per million output tokens", "a": million_a, "b": million_b}]
    rows += [{"quantity": r.label, "a": r.a, "b": r.b} for r in comparison.rows]
    left, right = st.columns([2, 3])
    with left, st.container(border=True):
        st.markdown("**Memory of the most loaded GPU**")
        st.plotly_chart(charts.compare_vram_figure(plans, list(names)), width="stretch", key="compare_vram",
                        config=PLOTLY_CONFIG, alt="Memory per GPU of both plans")
    with right:
        st.table([{"": row["quantity"], names[0]: row["a"], names[1]: row["b"]} for row in rows], hide_index=True,
                 alt="Both plans side by side")
    st.markdown("**How the serve commands differ**")
    st.code("\n".join(comparison.command_diff) or "# identical vllm serve commands: the plans differ only in hardware", language="diff")
elif source == "two profiles":
    st.info("Upload two profiles (vllm-wizard generate --emit profile, or the Profile download on the Plan page).",
            icon=":material/upload_file:")
