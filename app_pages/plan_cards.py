"""The Plan page's cards: one function per card, each drawing one part of a plan.

app_pages/plan.py reads the form, plans, and calls these in order, fast cards first (wizard/ never imports
streamlit, so the drawing lives here).  Every number a person reads goes through :mod:`wizard.faces.format`.
"""

from __future__ import annotations

import streamlit as st

from app_pages.form import link, link_params, page_url
from wizard.catalog.metadata import resolve_model
from wizard.faces import charts, run_charts
from wizard.faces import format as fmt
from wizard.faces.verdict import at_a_time, overload, simulated_in_part
from wizard.physics.params import mtp_params
from wizard.planning.performance import CUT_BECAUSE, OVERLOADED, closed_loop_start
from wizard.schema import (
    Feasibility,
    PerformanceReport,
    PlanResponse,
    Recommendation,
)

PLOTLY_CONFIG = {"displayModeBar": False}


def keeps_up(resp: PlanResponse) -> bool | None:
    """Whether the plan serves the requested traffic without queues growing; None when vLLM does not start.

    Read from the one overload verdict every face words (:func:`wizard.faces.verdict.overload`):
    PerformanceReport.saturated covers both an arrival rate beyond what the plan sustains (keeps_up false)
    and a closed loop wider than vLLM schedules at once.
    """
    return None if resp.performance is None else overload(resp) is None


def params_text(count: int) -> str:
    """A parameter count in billions, with the two decimals the Models page's sortable column prints ("%,.2f")."""
    return f"{count / 1e9:,.2f}B"


def _params(resp: PlanResponse) -> str:
    """The checkpoint's parameter count, and what vLLM loads of it when that differs."""
    model = resp.model
    text = f"{params_text(model.params_total)} parameters"
    if model.params_loaded == model.params_total:
        return text
    mtp = mtp_params(resolve_model(model.model, model.revision).arch) if model.params_loaded < model.params_total else 0
    why = "the multi-token-prediction layers are not loaded" if mtp else "see the notes below"
    return f"{text} ({params_text(model.params_loaded)} loaded: {why})"


# ---------------------------------------------------------------------------------------------- verdict


def verdict(resp: PlanResponse) -> None:
    """The headline: what runs where, and whether it fits and keeps up, in words."""
    hw, mem, f, wl = resp.hardware, resp.memory, resp.feasibility, resp.request.workload
    nodes = f", {hw.nodes} nodes" if hw.nodes > 1 else ""
    fleet = f"{fmt.count(hw.replicas)} replicas of " if hw.replicas > 1 else ""
    st.subheader(f"{resp.model.model} on {fleet}{hw.gpus_used} x {hw.gpu}{nodes}")
    layout = fmt.layout(hw.tensor_parallel_size, hw.pipeline_parallel_size, hw.data_parallel_size, hw.expert_parallel_size)
    st.caption(f"{resp.model.architecture} · {_params(resp)} · {resp.model.attention} · {layout} · memory as vLLM "
               f"{mem.vllm_version} ({mem.engine}) accounts for it")
    load = f"{fmt.requests(wl.requests_at_once)} of {fmt.tokens(f.context_tokens)}"
    if not f.fits:
        title = ("Does not fit: vLLM does not start" if not f.starts else
                 f"Refused: requests of {fmt.tokens(f.context_tokens)} are longer than max_model_len" if f.refused else
                 f"Does not fit: {load} at once")
        then = ("The changes under *To make it fit* below fit when planned." if resp.recommendation.suggestions
                else "No single change the wizard tries makes it fit.")
        st.error("\n".join(f"- {reason}" for reason in f.failed) + "\n\n" + then, title=title, icon=":material/error:")
        return
    perf, overloaded = resp.performance, overload(resp)
    if overloaded and perf is not None:
        st.warning(_overload(resp, perf), title=f"Overloaded: {overloaded}", icon=":material/speed:")
        return
    rate = f" and sustains about {fmt.number(perf.max_request_rate_per_s.expected)} requests/s" if perf else ""
    title, asked = "Fits", wl.requests_at_once
    if perf is not None and perf.keeps_up:  # a finite rate, kept up with
        title = f"Fits and keeps up with {fmt.number(wl.request_rate)} requests/s"
    elif wl.bursty and perf is not None and not simulated_in_part(resp):
        # every prompt at once, none of them queued, all simulated: the time to serve them all
        title = f"Fits: the {fmt.count(wl.num_prompts)} prompts sent at once are served in {fmt.duration_ms(perf.duration_s * 1000)}"
        asked = wl.num_prompts
    st.success(f"vLLM starts, {fmt.requests(asked)} of {fmt.tokens(f.context_tokens)} fit at once (up to "
               f"{fmt.count(f.max_concurrency)}){rate}.", title=title, icon=":material/check_circle:")


def _overload(resp: PlanResponse, perf: PerformanceReport) -> str:
    """Why an overloaded plan is not a success, and how many copies of it would keep up."""
    rate = perf.max_request_rate_per_s
    if perf.keeps_up is False:
        replicas = perf.replicas_to_keep_up
        more = (f" {fmt.count(replicas)} replicas of this deployment behind a load balancer would keep up "
                f"(set Replicas to {replicas})." if replicas else "")
        return (f"The memory fits, but requests arrive faster than this plan serves them (it sustains "
                f"{fmt.number(rate.low)}–{fmt.number(rate.high)} requests/s): the queue and the time to first token "
                f"grow for as long as the load lasts.{more}")
    return (f"The memory fits, but vLLM runs at most {at_a_time(resp)}: the other requests wait for a free slot, "
            "and their wait is part of the time to first token.")


def metrics(resp: PlanResponse) -> None:
    """Six numbers: verdict, OOM risk, KV cache (or what is missing), requests and context that fit, headroom."""
    mem, f, wl = resp.memory, resp.feasibility, resp.request.workload
    fits = keeps_up(resp)
    word = "overloaded" if f.fits and fits is False else f.verdict
    with st.grid(3, gap="small"):
        st.metric("Verdict", word, border=True, height="stretch",
                  help="Fits: vLLM starts and the workload fits in the KV cache; overloaded: it fits but does not keep up; "
                       "refused: vLLM starts, but answers requests longer than max_model_len with an error.")
        st.metric("OOM risk", f.oom_risk, border=True, height="stretch", help=f.oom_risk_reason)
        if mem.kv_cache_gib >= 0:
            st.metric("KV cache per GPU", fmt.gib(mem.kv_cache_gib), border=True, height="stretch",
                      help=f"{fmt.tokens(mem.kv_cache_tokens)} in {fmt.count(mem.kv_blocks)} blocks of {mem.block_size}.")
        else:
            st.metric("Memory missing per GPU", fmt.gib(-mem.kv_cache_gib), border=True, height="stretch",
                      help="What the weights and vLLM's working memory need beyond its budget on each GPU: no KV cache is left.")
        st.metric(f"Requests at once at {fmt.tokens(f.context_tokens)}", fmt.count(f.max_concurrency), border=True,
                  height="stretch", help=Feasibility.model_fields["max_concurrency"].description)
        st.metric(f"Longest context at {fmt.requests(wl.requests_at_once)}", fmt.tokens(f.max_context_tokens), border=True,
                  height="stretch", help=Feasibility.model_fields["max_context_tokens"].description)
        if mem.kv_cache_gib < 0:
            st.metric("Needed per GPU", fmt.gib(mem.budget_gib - mem.kv_cache_gib), border=True, height="stretch",
                      help=f"Weights and vLLM's working memory on each GPU, before any KV cache; vLLM's budget is "
                           f"{fmt.gib(mem.budget_gib)} of the GPU's {fmt.gib(mem.gpu_total_gib)}.")
        elif f.headroom_gib >= 0:
            st.metric("KV headroom", fmt.gib(f.headroom_gib), border=True, height="stretch",
                      help=Feasibility.model_fields["headroom_gib"].description)
        else:
            st.metric("KV cache missing per GPU", fmt.gib(-f.headroom_gib), border=True, height="stretch",
                      help=f"The requested requests need {fmt.gib(f.kv_needed_gib)} of KV cache per GPU.")


def formulas(resp: PlanResponse) -> None:
    """How the headline numbers are calculated, with the live values."""
    mem, f = resp.memory, resp.feasibility
    with st.expander("How these numbers are calculated", icon=":material/functions:"):
        for name, formula in mem.formulas.items():
            st.markdown(f"**{name}**: `{formula}`")
        kv = mem.ranges["kv_cache_gib"]
        st.markdown("Activation peak, non-torch memory and CUDA graphs are heuristics calibrated on real vLLM start-up "
                    f"logs; with their ranges the KV cache lies between **{fmt.gib(kv.low)}** and **{fmt.gib(kv.high)}** "
                    "per GPU.")
        st.markdown(f"**OOM risk {f.oom_risk}**: {f.oom_risk_reason}.")


# ---------------------------------------------------------------------------------------------- charts


def memory_chart(resp: PlanResponse) -> None:
    with st.container(border=True):
        st.markdown("**GPU memory per GPU**")
        st.plotly_chart(charts.vram_figure(resp), width="stretch", key="vram_chart", config=PLOTLY_CONFIG,
                        alt="Stacked memory per GPU")


def gauge(resp: PlanResponse) -> None:
    with st.container(border=True):
        st.markdown("**Budget committed at the requested load**")
        st.plotly_chart(charts.oom_gauge(resp), width="stretch", key="oom_gauge", config=PLOTLY_CONFIG,
                        alt="Share of vLLM's budget the plan commits")
        st.caption("Weights, activations, non-torch memory and CUDA graphs plus the KV cache the requested requests "
                   "need, as a share of vLLM's budget. Above 100% the workload does not fit at once.")


def performance(resp: PlanResponse) -> None:
    perf = resp.performance
    with st.container(border=True):
        st.markdown("**Throughput and latency (ranges)**")
        if perf is None or not resp.feasibility.fits:
            fixes = " Open a fix above." if resp.recommendation.suggestions else ""
            st.info(f"No performance estimate: {resp.feasibility.shortfall}.{fixes}", icon=":material/info:")
            return
        st.plotly_chart(charts.performance_figure(resp), width="stretch", key="perf_chart", config=PLOTLY_CONFIG,
                        alt="Performance ranges")
        rate = perf.max_request_rate_per_s
        cut = (f" Simulated on the first {fmt.count(perf.simulated_requests)} of them to complete (see the warning "
               "below)." if simulated_in_part(resp) else "")
        st.caption(f"{perf.workload}.{cut} Sustains {fmt.number(rate.low)}–{fmt.number(rate.high)} requests/s before queues "
                   f"grow; {fmt.tokens_per_s(perf.output_tokens_per_s.expected)} output, "
                   f"{fmt.per_token(perf.itl_ms.expected)}, {fmt.duration_ms(perf.ttft_ms.expected)} to the "
                   "first token (expected). " + ("Calibrated on published vLLM benchmarks." if perf.calibrated
                                                 else "No published benchmark for this GPU: wider range."))
        with st.expander("Assumptions", icon=":material/info:"):
            st.markdown("\n".join(f"- {line}" for line in perf.assumptions))


def latency(resp: PlanResponse) -> None:
    """Latency percentiles and the engine over time in the simulated run (drawn only when opened)."""
    perf = resp.performance
    if perf is None or not resp.feasibility.fits:
        return
    card = st.expander("Latency percentiles and the simulated run", icon=":material/timeline:", key="latency_card",
                       on_change="rerun")
    if not card.open:
        return
    with card:
        st.plotly_chart(run_charts.latency_figure(resp), width="stretch", key="latency_chart", config=PLOTLY_CONFIG,
                        alt="Latency percentiles of the simulated run")
        st.plotly_chart(run_charts.timeline_figure(resp), width="stretch", key="timeline_chart", config=PLOTLY_CONFIG,
                        alt="Requests running and waiting, and the KV cache's use, over the simulated run")
        goodput = (f" Goodput (requests meeting every latency target): {fmt.number(perf.goodput_per_s)}/s."
                   if perf.goodput_per_s is not None else "")
        start = closed_loop_start(resp.request, int(resp.recommendation.data_parallel_size.value))
        served = f"{fmt.count(perf.simulated_requests)} requests"
        if simulated_in_part(resp):
            served = (f"{fmt.count(perf.simulated_requests)} of the {fmt.count(resp.request.workload.num_prompts)} "
                      f"requests (the run was cut there, as {CUT_BECAUSE})")
        st.caption(f"{served} over {fmt.duration_ms(perf.duration_s * 1000)}, "
                   f"{fmt.count(perf.preemptions)} preemptions, {fmt.number(perf.batch_size)} running per step on "
                   f"average.{goodput} Percentiles as vllm bench computes them; the ranges of the card above apply."
                   + (f" {start[0].upper()}{start[1:]}." if start else ""))
        for run in perf.measured:
            m = run.metrics
            shown = [f"{name} {fmt.duration_ms(value)}" for name, value in
                     (("mean TTFT", m.mean_ttft_ms), ("mean TPOT", m.mean_tpot_ms), ("P99 TTFT", m.p99_ttft_ms))
                     if value is not None]
            st.caption(f"Measured by {run.source}: " + ", ".join(shown))


def frontier(resp: PlanResponse) -> None:
    with st.container(border=True):
        st.markdown("**Context x concurrency frontier**")
        st.plotly_chart(charts.frontier_figure(resp), width="stretch", key="frontier_chart", config=PLOTLY_CONFIG,
                        alt="Requests that fit per context length")
        st.caption("How many requests of each length the KV cache holds at once; the cross is the requested workload. "
                   "vLLM refuses requests longer than max_model_len (a dashed line where it is shorter than the model "
                   "allows).")


# ---------------------------------------------------------------------------------------------- settings and fixes


def settings(resp: PlanResponse) -> None:
    """The recommended vLLM settings with where each comes from and why, every row whole."""
    st.markdown("#### Recommended vLLM settings")
    rec = resp.recommendation
    rows = [{"setting": name, "value": fmt.setting(getattr(rec, name).value), "from": getattr(rec, name).source,
             "why": getattr(rec, name).reason} for name in Recommendation.setting_names()]
    st.table(rows, hide_index=True, alt="Recommended vLLM settings and their reasons")


def fixes(resp: PlanResponse) -> None:
    """For a plan that does not fit: the changes that fit when planned, cheapest first, each a link to its plan."""
    if resp.feasibility.fits:
        return
    st.markdown("#### To make it fit")
    suggestions = resp.recommendation.suggestions
    if not suggestions:
        st.info("No single change the wizard tries (fp8 KV cache, quantized weights, more or bigger GPUs, more nodes, "
                "a shorter context, fewer requests) fits. Try a smaller model.", icon=":material/lightbulb:")
        return
    st.markdown("\n".join(f"{i}. [{s.text}]({link(resp.request, s.changes)})" for i, s in enumerate(suggestions, 1)))
    st.caption("Each was planned and fits; cheapest first (by the GPU memory rented), the same hardware before more. "
               "A link opens its plan in a new tab.")


def warnings(resp: PlanResponse) -> None:
    """The plan's warnings; an overload is left to the verdict card, which says it first."""
    for warning in resp.warnings:
        if not warning.startswith(OVERLOADED):
            st.warning(warning, icon=":material/warning:")
    for note in resp.model.notes:
        st.caption(note)


# ---------------------------------------------------------------------------------------------- deploy and share


def deploy(resp: PlanResponse) -> None:
    """The commands and manifests, marked as not starting when the plan does not fit (the files say so too)."""
    st.markdown("#### Deploy")
    art, f = resp.artifacts, resp.feasibility
    if art is None:
        return
    if not f.fits:
        st.error(f"{f.failed[0] if f.failed else 'The plan does not fit'}. Each file says so at its top; open a fix "
                 "above and deploy that instead.", title=f"Do not deploy these as they are: {f.shortfall}",
                 icon=":material/block:")
    snippets = [("vllm serve", art.serve_command, "bash")]
    if art.multi_node:
        snippets.append(("Ray cluster", art.multi_node, "bash"))
    snippets += [("docker run", art.docker_run, "bash"), ("Compose", art.docker_compose, "yaml"),
                 ("Kubernetes", art.kubernetes, "yaml"), ("Profile", art.profile_yaml, "yaml")]
    # Only the open tab is drawn: a rerun draws one code block, not six.
    tabs = st.tabs([name for name, _, _ in snippets], key="deploy_tab", on_change="rerun")
    for tab, (_, text, language) in zip(tabs, snippets):
        if tab.open:
            tab.code(text, language=language)
    for note in art.notes:
        st.caption(note)
    with st.container(horizontal=True):
        files = [("serve.sh", art.serve_script, "text/x-shellscript", ":material/terminal:")]
        if art.multi_node:
            files.append(("ray-cluster.sh", art.multi_node, "text/x-shellscript", ":material/lan:"))
        files += [("docker-compose.yaml", art.docker_compose, "application/yaml", ":material/deployed_code:"),
                  ("kubernetes.yaml", art.kubernetes, "application/yaml", ":material/hub:"),
                  ("profile.yaml", art.profile_yaml, "application/yaml", ":material/tune:"),
                  ("plan.json", resp.model_dump_json(indent=2), "application/json", ":material/data_object:")]
        for name, data, mime, icon in files:
            st.download_button(name, data, file_name=name, mime=mime, icon=icon, on_click="ignore")


def share(resp: PlanResponse) -> None:
    st.markdown("#### Share")
    st.code(page_url(link_params(resp.request)), language="text")
    st.caption("The link holds the form's inputs (never a token); opening it anywhere shows this plan.")
