"""The pages' calls into the wizard, cached: a rerun that changes nothing costs nothing.

Each returns the result or the error to show (in the form's words), never raises a WizardError.
"""

from __future__ import annotations

import json

import streamlit as st

from wizard.catalog import detect
from wizard.errors import WizardError
from wizard.faces.fields import describe
from wizard.planning.planner import plan
from wizard.reality.benchcheck import check_bench
from wizard.reality.logcheck import check_log
from wizard.schema import PlanRequest, PlanResponse
from wizard.schema.bench import BenchCheck
from wizard.schema.results import LogCheck


@st.cache_data(ttl=60, show_spinner=False)
def detected_gpus():
    """The GPUs on this server, looked up at most once a minute."""
    return detect.detect_gpus()


@st.cache_data(max_entries=512, show_spinner=False)
def plan_of(request_json: str) -> tuple[PlanResponse | None, str | None]:
    """The plan of a request (with the fixes of one that does not fit), or the error to show."""
    request = PlanRequest.model_validate_json(request_json)
    try:
        detected = detected_gpus() if request.hardware.gpu in (None, "auto") else []
        return plan(request, detected=detected), None
    except WizardError as exc:
        return None, describe(exc, "form")


@st.cache_data(max_entries=64, show_spinner=False)
def log_check_of(text: str, model: str | None, gpu: str | None) -> tuple[LogCheck | None, str | None]:
    """A pasted start-up log checked against the plan of its settings, or the error to show."""
    try:
        return check_log(text, model=model, gpu=gpu), None
    except WizardError as exc:
        return None, describe(exc, "form")



@st.cache_data(max_entries=32, show_spinner=False)
def bench_check_of(text: str, deployment_json: str) -> tuple[BenchCheck | None, str | None]:
    """A user's vllm bench serve result beside the simulation of its workload on a deployment (flat field values,
    as JSON), or the error to show."""
    try:
        return check_bench(text, json.loads(deployment_json)), None
    except WizardError as exc:
        return None, describe(exc, "form")
