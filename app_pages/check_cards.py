"""The Plan page's reality checks: a real vLLM start-up log (and a user's own benchmark) beside the plan.

Each card is drawn only when opened: what it reads is pasted or uploaded by the user.
"""

from __future__ import annotations

import json

import streamlit as st

from app_pages import cached
from app_pages.form import link
from wizard.catalog.gpus import catalog
from wizard.faces import format as fmt
from wizard.schema import PlanResponse, field_info, iter_fields
from wizard.schema.results import CheckRow


def log_check() -> None:
    """A real vLLM start-up log beside the plan of the settings it ran with (drawn only when opened)."""
    card = st.expander("Check against a real vLLM start-up log", icon=":material/fact_check:", key="log_check",
                       on_change="rerun")
    if not card.open:
        return
    with card:
        _log_check_body()


def _log_check_body() -> None:
    st.caption("Paste the server's log (V0 or V1 engine, from its first line to 'Application startup complete') or "
               "upload it: the settings it ran with are planned and each number vLLM reported is set beside the "
               "prediction.")
    log_text = st.text_area("Start-up log", key="log_text", height=160, placeholder="INFO ... Model loading took 14.99 GiB ...")
    uploaded = st.file_uploader("or upload a log file", type=["log", "txt"], key="log_upload")
    left, right = st.columns(2)
    model = left.text_input("Model, if the log does not name it", key="log_model", placeholder="from the log",
                            help=field_info("model").description)
    gpu = right.selectbox("GPU, if the log's memory does not identify it", [g.name for g in catalog()], index=None,
                          key="log_gpu", placeholder="from the log", help=field_info("gpu").description)
    text = uploaded.getvalue().decode("utf-8", "replace") if uploaded is not None else log_text
    if not text or not text.strip():
        return
    check, error = cached.log_check_of(text, model.strip() or None, gpu)
    if error or check is None:
        st.error(error, title="That log could not be checked")
        return
    p = check.plan
    st.markdown(f"**{p.model.model}** on {p.hardware.gpus_used} x {p.hardware.gpu} ({fmt.gib(p.hardware.gpu_total_gib)}), "
                f"tensor parallel {p.hardware.tensor_parallel_size}, planned as vLLM {p.memory.vllm_version} "
                f"(the log: {check.log.vllm_version or 'no version'}, {check.log.engine or 'engine unknown'})")
    _rows_table(check.rows, "quantity", "predicted", key="log_rows")
    for note in check.notes:
        st.caption(note)
    st.markdown(f"[Open these settings in the form]({link(check.request)})")


# The request sections that say what is deployed; the run itself says what was sent (workload) and meant (targets).
DEPLOYMENT_SECTIONS = ("model", "hardware", "policy")


def bench_check(resp: PlanResponse) -> None:
    """The user's own vllm bench serve result beside the simulation of the same workload on this plan's
    deployment (drawn only when opened)."""
    card = st.expander("Check against your own vllm bench serve run", icon=":material/speed:", key="bench_check",
                       on_change="rerun")
    if not card.open:
        return
    with card:
        _bench_check_body(resp)


def _bench_check_body(resp: PlanResponse) -> None:
    st.caption("Upload the JSON that `vllm bench serve --save-result` wrote, or the summary it printed (or paste "
               "either): the run's own workload (its request lengths, rate, burstiness and concurrency) is simulated on "
               "this plan's deployment and every metric it reported is set beside the simulation.")
    uploaded = st.file_uploader("Benchmark result (JSON, or the printed summary)", type=["json", "txt", "log"],
                                key="bench_upload")
    pasted = st.text_area("or paste it", key="bench_text", height=120,
                          placeholder='{"completed": 200, "mean_ttft_ms": ...}, or the lines from '
                                      '"============ Serving Benchmark Result ============" on')
    text = uploaded.getvalue().decode("utf-8", "replace") if uploaded is not None else pasted
    if not text or not text.strip():
        return
    flat = resp.request.flat()
    deployment = {name: flat[name] for section, name, _ in iter_fields()
                  if section in DEPLOYMENT_SECTIONS and flat[name] is not None}
    check, error = cached.bench_check_of(text, json.dumps(deployment, sort_keys=True))
    if error or check is None:
        st.error(error, title="That benchmark result could not be checked")
        return
    b = check.bench
    st.markdown(f"**{fmt.count(b.completed)} requests** of {check.plan.model.model} on {check.plan.hardware.gpus_used} x "
                f"{check.plan.hardware.gpu}, simulated as vLLM {check.plan.memory.vllm_version}")
    _rows_table(check.rows, "metric", "simulated", key="bench_rows")
    for note in check.notes:
        st.caption(note)


def _rows_table(rows: list[CheckRow], what: str, predicted: str, key: str) -> None:
    """Measured against predicted, one quantity per row, with the prediction's range and the verdict."""
    st.dataframe([{what: r.quantity, "unit": r.unit, "measured": r.measured, predicted: round(r.predicted, 2),
                   "range": f"{fmt.number(r.low)} – {fmt.number(r.high)}", "verdict": r.verdict,
                   "error %": round(r.error_pct, 1) if r.error_pct is not None else None} for r in rows],
                 hide_index=True, width="stretch", key=key, alt=f"Measured against {predicted}",
                 column_config={"measured": st.column_config.NumberColumn(format="localized"),
                                predicted: st.column_config.NumberColumn(format="localized"),
                                "error %": st.column_config.NumberColumn(format="%+.1f")})
