"""Plan page: read the form, plan, and draw the plan's cards in order (app_pages/plan_cards.py).

Every form field is a widget keyed by the request's own field name and bound to the URL, so the address bar is
always a link that reproduces the plan (app_pages/form.py).
"""

from __future__ import annotations

import streamlit as st

from app_pages import cached, form
from app_pages import check_cards as checks
from app_pages import plan_cards as cards
from wizard.errors import WizardError
from wizard.faces.fields import describe, widget_value
from wizard.faces.profile import parse_profile
from wizard.schema import parse_request


def apply_profile() -> None:
    """Fill the form from an uploaded YAML profile (a callback: it runs before the widgets are drawn)."""
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
    for name, spec in form.SPECS.items():
        shown = widget_value(spec, flat[name])
        if name == "gpu" and shown is None:
            shown = form.AUTO_GPU
        st.session_state[name] = shown if shown is not None else ("" if spec.typed else None)
    st.session_state[form.ADVANCED_SWITCH] = any(st.session_state[name] != form.default_value(name) for name in form.ADVANCED)


# ---------------------------------------------------------------------------------------------- inputs
form.read_link("plan")
with st.sidebar:
    names = [*form.BASIC, *(form.ADVANCED if form.draw_advanced_switch() else ())]
    with st.form("plan_form", border=False):
        for name in names:
            if name == form.ADVANCED[0]:
                st.markdown("**Advanced vLLM settings**")
            form.draw(form.SPECS[name])
        st.form_submit_button("Plan", type="primary", icon=":material/play_arrow:", width="stretch")
    st.file_uploader("Load a YAML profile", type=["yaml", "yml"], key="profile_upload", on_change=apply_profile,
                     help="A profile written by vLLM Wizard (the Profile download below, or vllm-wizard generate "
                          "--emit profile) fills the form.")
    if st.session_state.get("profile_error"):
        st.error(st.session_state["profile_error"], title="That profile could not be loaded")
form.settle_link([form.ADVANCED_SWITCH, *names])

form.show_link_problems()
try:
    request = parse_request(form.request_values(names))  # advanced settings off: the wizard's own
except WizardError as exc:
    st.error(f"{describe(exc, 'form')}. Correct it in the form on the left.", title="The request is not valid")
    st.stop()

# ---------------------------------------------------------------------------------------------- plan
with st.spinner("Planning...", show_time=False):
    resp, error = cached.plan_of(request.model_dump_json())
if error or resp is None:
    st.error(error, title="No plan for this request")
    st.info("Change it in the form on the left: any catalog model, Hugging Face id or local directory with "
            "config.json, and any catalog GPU (the Models and GPUs pages list them).", icon=":material/lightbulb:")
    st.stop()

# ---------------------------------------------------------------------------------------------- cards, fast ones first
cards.verdict(resp)
cards.metrics(resp)
cards.fixes(resp)
left, right = st.columns([3, 2])
with left:
    cards.memory_chart(resp)
with right:
    cards.gauge(resp)
cards.formulas(resp)
left, right = st.columns(2)
with left:
    cards.performance(resp)
    cards.latency(resp)
with right:
    cards.frontier(resp)
cards.settings(resp)
cards.warnings(resp)
cards.deploy(resp)
cards.share(resp)
checks.log_check()
checks.bench_check(resp)
