"""vLLM Wizard: plan a vLLM deployment before renting GPUs.

The package is pure planning logic (no Streamlit); ``plan`` is the entry point.
"""

from wizard.errors import WizardError
from wizard.schema import VLLM_VERSION, PlanRequest, PlanResponse

__all__ = ["VLLM_VERSION", "PlanRequest", "PlanResponse", "WizardError", "plan"]


def plan(request: PlanRequest, **kwargs):  # noqa: ANN201 - re-exported, typed in wizard.planning.planner
    """Plan a deployment; see :func:`wizard.planning.planner.plan`."""
    from wizard.planning.planner import plan as _plan

    return _plan(request, **kwargs)
