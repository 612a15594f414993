"""Plan page: the sidebar form, the plan's verdict, charts, settings and artifacts.

Every form field is a widget keyed by the request's own field name and bound
to the URL, so the address bar is always a link that reproduces the plan.
"""

from __future__ import annotations

import streamlit as st

from wizard.catalog.detect import detect_gpus
from wizard.catalog.gpus import catalog
from wizard.catalog.metadata import catalog_ids
from wizard.errors import WizardError
from wizard.faces import charts
from wizard.faces.fields import (
    describe,
    field_specs,
    query_params,
    query_string,
    widget_value,
)
from wizard.faces.profile import parse_profile
from wizard.planning.planner import plan
from wizard.reality.logcheck import LogCheck, check_log
from wizard.schema import (
    Feasibility,
    PlanRequest,
    PlanResponse,
    field_info,
    parse_request,
)

EXAMPLE = {"model": "meta-llama/Llama-3.1-8B-Instruct", "gpu": "H100 SXM 80GB"}
SPECS = field_specs()
AUTO_GPU = "auto (GPUs on this server)"
PLOTLY_CONFIG = {"displayModeBar": False}


@st.cache_data(ttl=60, show_spinner=False)
def detected_gpus():
    return detect_gpus()


@st.cache_data(max_entries=512, show_spinner=False)
def cached_plan(request_json: str) -> tuple[PlanResponse | None, str | None]:
    """A plan per distinct request (an unchanged rerun costs nothing), or the error to show."""
    request = PlanRequest.model_validate_json(request_json)
    try:
        detected = detected_gpus() if request.hardware.gpu in (None, "auto", AUTO_GPU) else []
        if request.hardware.gpu == AUTO_GPU:
            request = request.model_copy(update={"hardware": request.hardware.model_copy(update={"gpu": None})})
        return plan(request, detected=detected), None
    except WizardError as exc:
        return None, str(exc)


@st.cache_data(max_entries=64, show_spinner=False)
def cached_log_check(text: str, model: str | None, gpu: str | None) -> tuple[LogCheck | None, str | None]:
    """A pasted log checked once per distinct text and overrides, or the error to show."""
    try:
        return check_log(text, model=model, gpu=gpu), None
    except WizardError as exc:
        return None, str(exc)


def apply_profile() -> None:
    """Fill the form from an uploaded YAML profile (runs before the widgets are drawn)."""
    upload = st.session_state.get("profile_upload")
    if upload is None:
        return
    try:
        request = parse_request({}, parse_profile(upload.getvalue().decode("utf-8", "replace"), origin=upload.name))
    except WizardError as exc:
        st.session_state["profile_error"] = describe(exc, "profile")
        return
    st.session_state.pop("profile_error", None)
    flat = request.flat()
    for spec in SPECS:
        shown = widget_value(spec, flat[spec.name])
        if spec.name == "gpu" and shown is None:
            shown = AUTO_GPU
        st.session_state[spec.name] = shown if shown is not None else ("" if spec.kind == "text" else None)


def draw_widget(spec) -> None:
    common = dict(key=spec.name, help=spec.help, bind="query-params")
    if spec.name == "model":
        options = sorted(catalog_ids(), key=str.lower)
        st.selectbox(spec.label, options, index=options.index(EXAMPLE["model"]), accept_new_options=True,
                     placeholder="Hugging Face id or local path", **common)
    elif spec.name == "gpu":
        options = [AUTO_GPU] + [g.name for g in catalog()]
        st.selectbox(spec.label, options, index=options.index(EXAMPLE["gpu"]), accept_new_options=True, **common)
    elif spec.kind == "choice":
        options = list(spec.options)
        st.selectbox(spec.label, options, index=options.index(widget_value(spec, spec.default)), **common)
    elif spec.kind == "bool":
        st.toggle(spec.label, value=bool(spec.default), **common)
    elif spec.kind == "int":
        st.number_input(spec.label, min_value=int(spec.minimum) if spec.minimum is not None else None,
                        max_value=int(spec.maximum) if spec.maximum is not None else None,
                        value=spec.default, step=1, placeholder="recommended" if spec.optional else None, **common)
    elif spec.kind == "float":
        low = spec.minimum if spec.minimum not in (None, 0) else (0.01 if spec.minimum == 0 and spec.optional else spec.minimum)
        st.number_input(spec.label, min_value=float(low) if low is not None else None,
                        max_value=float(spec.maximum) if spec.maximum is not None else None,
                        value=spec.default, step=0.01 if (spec.maximum or 0) <= 2 else 0.5,
                        placeholder="recommended" if spec.optional else None, **common)
    else:
        st.text_input(spec.label, value=spec.default or "", placeholder="recommended" if spec.optional else None, **common)


with st.sidebar:
    st.file_uploader("Load a YAML profile", type=["yaml", "yml"], key="profile_upload", on_change=apply_profile,
                     help="A profile written by vLLM Wizard (vllm-wizard generate --emit profile) fills the form.")
    if st.session_state.get("profile_error"):
        st.error(st.session_state["profile_error"], title="That profile could not be loaded")
    with st.form("plan_form", border=False):
        for spec in SPECS:
            if spec.basic:
                draw_widget(spec)
        with st.expander("Advanced vLLM settings", icon=":material/tune:"):
            for spec in SPECS:
                if not spec.basic:
                    draw_widget(spec)
        st.form_submit_button("Plan", type="primary", icon=":material/play_arrow:", width="stretch")

raw = {spec.name: st.session_state.get(spec.name) for spec in SPECS}
if raw.get("gpu") == AUTO_GPU:
    raw["gpu"] = "auto"
try:
    request = parse_request({name: value for name, value in raw.items() if value is not None})
except WizardError as exc:
    st.error(f"{describe(exc, 'form')}. Correct it in the form on the left.", title="The request is not valid")
    st.stop()

with st.spinner("Planning...", show_time=False):
    resp, error = cached_plan(request.model_dump_json())
if error or resp is None:
    st.error(error, title="No plan for this request")
    st.info("Pick a model from the catalog, give a local directory with config.json, or check the GPU name. "
            "The Models and GPUs pages list what is bundled.", icon=":material/lightbulb:")
    st.stop()

# ---------------------------------------------------------------- verdict and metrics
mem, feas, perf, hw = resp.memory, resp.feasibility, resp.performance, resp.hardware
st.subheader(f"{resp.model.model} on {hw.gpus_used} x {hw.gpu}")
st.caption(f"{resp.model.architecture} · {resp.model.params_loaded / 1e9:.2f}B parameters · {resp.model.attention} "
           f"· TP {hw.tensor_parallel_size} · PP {hw.pipeline_parallel_size} · memory as vLLM {mem.vllm_version} ({mem.engine}) accounts for it")
if feas.fits:
    st.success(f"vLLM starts and {resp.request.workload.requests_at_once} requests of {feas.context_tokens:,} tokens fit at once.",
               title="Fits", icon=":material/check_circle:")
else:
    st.error("\n".join(f"- {reason}" for reason in feas.failed), title="Does not fit", icon=":material/error:")

with st.grid(3, gap="small"):
    st.metric("Fits", "yes" if feas.fits else "no", border=True, height="stretch",
              help="vLLM starts and the workload fits in the KV cache.")
    st.metric("OOM risk", feas.oom_risk, border=True, height="stretch", help=feas.oom_risk_reason)
    st.metric("KV cache per GPU", f"{mem.kv_cache_gib:,.1f} GiB", border=True, height="stretch",
              help=f"{mem.kv_cache_tokens:,} tokens in {mem.kv_blocks:,} blocks of {mem.block_size}.")
    st.metric(f"Max concurrency at {feas.context_tokens:,} tokens", f"{feas.max_concurrency:,}", border=True, height="stretch",
              help=Feasibility.model_fields["max_concurrency"].description)
    st.metric(f"Max context at {resp.request.workload.requests_at_once} requests", f"{feas.max_context_tokens:,}", border=True,
              height="stretch", help=Feasibility.model_fields["max_context_tokens"].description)
    st.metric("KV headroom", f"{feas.headroom_gib:,.1f} GiB", border=True, height="stretch",
              help=Feasibility.model_fields["headroom_gib"].description)

with st.expander("How these numbers are calculated", icon=":material/functions:"):
    for name, formula in mem.formulas.items():
        st.markdown(f"**{name}**: `{formula}`")
    ranges = mem.ranges
    st.markdown(
        "Activation peak, non-torch memory and CUDA graphs are heuristics calibrated on real vLLM start-up logs; "
        f"with their ranges the KV cache lies between **{ranges['kv_cache_gib'].low:.2f}** and **{ranges['kv_cache_gib'].high:.2f} GiB** per GPU."
    )
    st.markdown(f"**OOM risk {feas.oom_risk}**: {feas.oom_risk_reason}.")

# ---------------------------------------------------------------- charts
left, right = st.columns([3, 2])
with left, st.container(border=True):
    st.markdown("**GPU memory per GPU**")
    st.plotly_chart(charts.vram_figure(resp), width="stretch", key="vram_chart", config=PLOTLY_CONFIG, alt="Stacked memory per GPU")
with right, st.container(border=True):
    st.markdown("**Budget committed at the requested load**")
    st.plotly_chart(charts.oom_gauge(resp), width="stretch", key="oom_gauge", config=PLOTLY_CONFIG, alt="OOM risk gauge")
    st.caption("Weights, activations, non-torch memory and CUDA graphs plus the KV cache the requested requests need, "
               "as a share of vLLM's budget. Above 100% the workload does not fit at once.")

left, right = st.columns(2)
with left, st.container(border=True):
    st.markdown("**Throughput and latency (ranges)**")
    if perf is None:
        st.info("No performance estimate: vLLM would not start with these settings.")
    else:
        st.plotly_chart(charts.performance_figure(resp), width="stretch", key="perf_chart", config=PLOTLY_CONFIG, alt="Performance ranges")
        st.caption(f"{perf.workload}. " + ("Calibrated on published vLLM benchmarks." if perf.calibrated else "No published benchmark for this GPU: wider range."))
        with st.expander("Assumptions", icon=":material/info:"):
            for line in perf.assumptions:
                st.markdown(f"- {line}")
with right, st.container(border=True):
    st.markdown("**Context x concurrency frontier**")
    st.plotly_chart(charts.frontier_figure(resp), width="stretch", key="frontier_chart", config=PLOTLY_CONFIG, alt="Requests that fit per context length")
    st.caption("How many requests of each length the KV cache holds at once; the cross is the requested workload.")

# ---------------------------------------------------------------- settings, fixes, warnings
st.markdown("#### Recommended vLLM settings")
rec = resp.recommendation
rows = [
    {"setting": name, "value": str(getattr(rec, name).value), "from": getattr(rec, name).source, "why": getattr(rec, name).reason}
    for name in ("tensor_parallel_size", "pipeline_parallel_size", "enable_expert_parallel", "dtype", "quantization",
                 "kv_cache_dtype", "max_model_len", "max_num_seqs", "max_num_batched_tokens", "gpu_memory_utilization", "enforce_eager")
]
st.dataframe(rows, hide_index=True, width="stretch", height=36 * (len(rows) + 1) + 3, alt="Recommended settings and their reasons",
             column_config={"why": st.column_config.TextColumn(width="large")})
if rec.suggestions:
    st.markdown("#### To make it fit")
    for suggestion in rec.suggestions:
        st.markdown(f"- [{suggestion.text}](?{query_string(resp.request, suggestion.changes)})")
for warning in resp.warnings:
    st.warning(warning, icon=":material/warning:")
for note in resp.model.notes:
    st.caption(note)

# ---------------------------------------------------------------- artifacts and sharing
st.markdown("#### Deploy")
art = resp.artifacts
snippets = [("vllm serve", art.serve_command, "bash")]
if art.multi_node:
    snippets.append(("Ray cluster", art.multi_node, "bash"))
snippets += [("docker run", art.docker_run, "bash"), ("Compose", art.docker_compose, "yaml"),
             ("Kubernetes", art.kubernetes, "yaml"), ("Profile", art.profile_yaml, "yaml")]
for tab, (_, text, language) in zip(st.tabs([name for name, _, _ in snippets]), snippets):
    with tab:
        st.code(text, language=language)
for note in art.notes:
    st.caption(note)

with st.container(horizontal=True):
    st.download_button("serve.sh", art.serve_script, file_name="serve.sh", mime="text/x-shellscript", icon=":material/terminal:", on_click="ignore")
    if art.multi_node:
        st.download_button("ray-cluster.sh", art.multi_node, file_name="ray-cluster.sh", mime="text/x-shellscript", icon=":material/lan:", on_click="ignore")
    st.download_button("docker-compose.yaml", art.docker_compose, file_name="docker-compose.yaml", mime="application/yaml", icon=":material/deployed_code:", on_click="ignore")
    st.download_button("kubernetes.yaml", art.kubernetes, file_name="kubernetes.yaml", mime="application/yaml", icon=":material/hub:", on_click="ignore")
    st.download_button("profile.yaml", art.profile_yaml, file_name="profile.yaml", mime="application/yaml", icon=":material/tune:", on_click="ignore")
    st.download_button("plan.json", resp.model_dump_json(indent=2), file_name="plan.json", mime="application/json", icon=":material/data_object:", on_click="ignore")

share = query_string(resp.request)
base = (st.context.url or "").split("?")[0]
st.markdown("#### Share")
st.code(f"{base}?{share}" if base else f"?{share}", language="text")
st.caption("The link holds the form's inputs (never a token); opening it anywhere shows this plan.")

# ---------------------------------------------------------------- check against a real start-up log
st.markdown("#### Check against a real vLLM start-up log")
st.caption("Paste the server's log (V0 or V1 engine, from its first line to 'Application startup complete') or upload it: "
           "the settings it ran with are planned and each number vLLM reported is set beside the prediction.")
log_text = st.text_area("Start-up log", key="log_text", height=160, placeholder="INFO ... Model loading took 14.99 GiB ...")
uploaded_log = st.file_uploader("or upload a log file", type=["log", "txt"], key="log_upload")
left, right = st.columns(2)
log_model = left.text_input("Model, if the log does not name it", key="log_model", placeholder="from the log",
                            help=field_info("model").description)
log_gpu = right.selectbox("GPU, if the log's memory does not identify it", [g.name for g in catalog()], index=None,
                          key="log_gpu", placeholder="from the log", help=field_info("gpu").description)
text = uploaded_log.getvalue().decode("utf-8", "replace") if uploaded_log is not None else log_text
if text and text.strip():
    check, error = cached_log_check(text, log_model.strip() or None, log_gpu)
    if error or check is None:
        st.error(error, title="That log could not be checked")
    else:
        p = check.plan
        st.markdown(f"**{p.model.model}** on {p.hardware.gpus_used} x {p.hardware.gpu} ({p.hardware.gpu_total_gib} GiB), "
                    f"TP {p.hardware.tensor_parallel_size}, planned as vLLM {p.memory.vllm_version} "
                    f"(the log: {check.log.vllm_version or 'no version'}, {check.log.engine or 'engine unknown'})")
        st.dataframe([{"quantity": r.quantity, "unit": r.unit, "measured": r.measured, "predicted": round(r.predicted, 2),
                       "range": f"{r.low:,.2f} - {r.high:,.2f}", "verdict": r.verdict,
                       "error %": round(r.error_pct, 1) if r.error_pct is not None else None} for r in check.rows],
                     hide_index=True, width="stretch", key="log_rows", alt="Predicted against measured")
        for note in check.notes:
            st.caption(note)
        st.page_link("pages/plan.py", label="Open these settings in the form", icon=":material/edit:",
                     query_params=query_params(check.request))
