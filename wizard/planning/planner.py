"""``plan()``: from a :class:`PlanRequest` to a :class:`PlanResponse`, as a short pipeline.

Resolve the inputs (model, GPUs, release, weight format), search for the
smallest layout that fits, assemble the response, and when it does not fit,
find the changes that would make it fit.
"""

from __future__ import annotations

from wizard.catalog.detect import DetectedGpu
from wizard.planning import fixes
from wizard.planning.assemble import response
from wizard.planning.inputs import resolve_inputs
from wizard.planning.search import search
from wizard.schema import PlanRequest, PlanResponse


def plan(request: PlanRequest, detected: list[DetectedGpu] | None = None, suggest: bool = True) -> PlanResponse:
    """Plan a vLLM deployment. Raises :class:`WizardError` for bad input.

    When the plan does not fit and ``suggest`` is set, the changes that would
    make it fit are planned too and listed in ``recommendation.suggestions``;
    those plans only say whether they fit (no serving simulation).
    """
    inputs = resolve_inputs(request, detected)
    planned = response(inputs, search(inputs))
    if suggest and not planned.feasibility.fits:
        planned.recommendation.suggestions = fixes.suggestions(
            inputs, planned, lambda variant: _fit_only(variant, detected))
    return planned


def _fit_only(request: PlanRequest, detected: list[DetectedGpu] | None) -> PlanResponse:
    """The plan of a request without its performance: whether it fits is all a suggestion needs."""
    inputs = resolve_inputs(request, detected)
    return response(inputs, search(inputs), simulate=False)
