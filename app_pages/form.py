"""The request form of the Plan and Compare pages, and the check of the link a page was opened with.

Every widget is drawn from the schema's field specs, keyed by the field's name and bound to the URL: the address
bar always reproduces the form, and both pages share one value and one default per field.  Streamlit's bound
widgets drop a URL value they cannot read without a word (``gpus=abc`` silently becomes 1) and text widgets keep one
the schema refuses; so :func:`read_link` reads the raw query parameters once per session and passes each through
the schema's one door (:func:`wizard.schema.parse_request`), and :func:`settle_link` puts what the door read into
the widgets that did not take it.  What the link got wrong is named on the page with what was used instead.
The advanced settings are drawn only while their switch is on (a link that sets one turns it on).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlparse

import streamlit as st

from wizard.capacity.prices import providers
from wizard.catalog.gpus import catalog
from wizard.catalog.metadata import catalog_ids
from wizard.errors import InvalidInput
from wizard.faces import format as fmt
from wizard.faces.fields import (
    DEFAULT,
    LABELS,
    FieldSpec,
    describe,
    field_specs,
    query_params,
    widget_value,
)
from wizard.schema import PlanRequest, Targets, parse_request

EXAMPLE = {"model": "meta-llama/Llama-3.1-8B-Instruct", "gpu": "H100 SXM 80GB"}  # where the form starts, on every page
AUTO_GPU = "auto (GPUs on this server)"
SPECS = {spec.name: spec for spec in field_specs()}
BASIC = tuple(name for name, spec in SPECS.items() if spec.basic)
ADVANCED = tuple(name for name, spec in SPECS.items() if not spec.basic)
ADVANCED_SWITCH = "advanced"  # the key (and URL parameter) of the switch that shows the advanced vLLM settings
TARGETS = tuple(Targets.model_fields)  # the Compare page's targets: URL keys of their own
# What leaving an optional field empty means, shown in the empty field (the help text says it at length).
EMPTY_MEANS = {
    "revision": "the default branch", "quantization": "the checkpoint's own", "kv_cache_dtype": "the wizard chooses",
    "max_model_len": "the longest that fits", "params_b": "from the checkpoint", "gpu": "the GPUs on this server",
    "vram_gb": "the GPU's own", "tensor_parallel_size": "the smallest that fits",
    "pipeline_parallel_size": "one stage per node", "request_rate": "closed loop: the concurrent requests",
    "gpu_memory_utilization": "vLLM's default for the GPU", "max_num_seqs": "set by the batching mode",
    "max_num_batched_tokens": "set by the batching mode", "enforce_eager": "only when CUDA graphs do not fit",
    "kv_cache_memory_bytes": "what the utilization leaves", **{name: "no target" for name in TARGETS},
    "concurrency": "16; no cap with a rate",
}
# Fields whose default depends on another field, which the one door fills in: their widgets start empty (a number
# input seeded with a value cannot be emptied again, and a rate with the closed loop's 16 would cap it).
FILLED_BY_THE_DOOR = ("concurrency",)
SHOWN_CHARS = 40  # a bad URL value is quoted on the page up to this many characters
MESSAGE_CHARS = 240  # and what the door says about it (which quotes the value too) up to this many

# Session-state keys of the link check.
_READ, _PENDING, _FIXES, _PROBLEMS, _FORM = "_link_read", "_link_pending", "_link_fixes", "_link_problems", "_link_form"
# Session-state keys of the form carried across pages: the values each page's widgets last showed, and the page
# that drew them.  Streamlit drops a widget's state on a page switch, and a bound value the URL got from an opened
# link rather than from a change on the page (Streamlit 1.67): the next page starts from these instead.
_CARRIED, _PAGE = "_form_carried", "_form_page"


# ---------------------------------------------------------------------------------------------- widgets


def _choice_label(name: str) -> Callable[[Any], str]:
    """How a choice shows its options: the empty choice says what it leaves to whom."""
    return lambda option: f"default: {EMPTY_MEANS[name]}" if option == DEFAULT and name in EMPTY_MEANS else str(option)


def default_value(name: str) -> Any:
    """The widget value a field starts at (the schema's default as its widget shows it)."""
    if name == ADVANCED_SWITCH:
        return False
    if name in EXAMPLE:
        return EXAMPLE[name]
    if name == "provider":
        return providers()[0]
    if name in TARGETS or name in FILLED_BY_THE_DOOR:
        return None
    spec = SPECS[name]
    shown = widget_value(spec, spec.default)
    return "" if shown is None and spec.typed else shown


def draw(spec: FieldSpec) -> None:
    """The bound widget of one request field, keyed by its name (so its URL value is shared across pages)."""
    common: dict[str, Any] = dict(key=spec.name, help=spec.help, bind="query-params")
    empty = EMPTY_MEANS.get(spec.name)
    start = default_value(spec.name)
    if spec.name == "model":
        options = sorted(catalog_ids(), key=str.lower)
        st.selectbox(spec.label, options, index=options.index(start), accept_new_options=True,
                     placeholder="Hugging Face id or local path", **common)
    elif spec.name == "gpu":
        options = [AUTO_GPU] + [g.name for g in catalog()]
        st.selectbox(spec.label, options, index=options.index(start), accept_new_options=True, **common)
    elif spec.kind == "choice":
        options = list(spec.options)
        st.selectbox(spec.label, options, index=options.index(start), format_func=_choice_label(spec.name), **common)
    elif spec.kind == "bool":
        st.toggle(spec.label, value=bool(start), **common)
    elif spec.kind == "int":
        # A count is a float input shown without decimals: Streamlit 1.67 crashes (OverflowError) seeding an int input
        # from a URL value like inf or 1e400, while a float input refuses non-finite values; the one door turns a
        # whole float back into a count and refuses a fraction.
        st.number_input(spec.label, min_value=_bound(spec.minimum, float), max_value=_bound(spec.maximum, float),
                        value=_bound(start, float), step=1.0, format="%.0f", placeholder=empty, **common)
    elif spec.kind == "float":
        st.number_input(spec.label, min_value=_bound(spec.minimum, float), max_value=_bound(spec.maximum, float),
                        value=start, step=0.01 if (spec.maximum or 0) <= 2 else 0.5, format="%g", placeholder=empty,
                        **common)
    else:
        st.text_input(spec.label, value=start, placeholder=empty, **common)


def _bound(value: float | None, kind: type) -> Any:
    return None if value is None else kind(value)


def draw_target(name: str) -> None:
    """The bound widget of one sweep target (empty: no target)."""
    st.number_input(LABELS[name], min_value=0.0, value=None, step=1.0, format="%g", placeholder=EMPTY_MEANS[name],
                    key=name, bind="query-params", help=Targets.model_fields[name].description)


def _leave_advanced() -> None:
    """Switching the advanced settings off hands them back to the wizard: their widgets start from the defaults, and
    so do other pages (what they carried from this one is reset too)."""
    if not st.session_state.get(ADVANCED_SWITCH):
        carried = st.session_state.get(_CARRIED, {})
        for name in ADVANCED:
            st.session_state[name] = default_value(name)
            carried.pop(name, None)


def draw_advanced_switch() -> bool:
    """The switch that shows the advanced vLLM settings (bound to the URL; a link that sets one turns it on).

    Off, the wizard decides every advanced setting and their widgets are not drawn: each widget costs the browser
    time, and the page's first chart waited on two dozen hidden ones."""
    return st.toggle("Advanced vLLM settings", key=ADVANCED_SWITCH, bind="query-params", on_change=_leave_advanced,
                     help="Off: the wizard (or vLLM) decides the dtype, quantization, KV cache, parallel sizes, "
                          "scheduler limits and memory policy. On: set any of them yourself.")


def request_values(names: Iterable[str]) -> dict[str, Any]:
    """The widgets' values for the one door: empty ones left out, the GPU's 'auto' label as 'auto'."""
    values = {}
    for name in names:
        value = st.session_state.get(name)
        if name == "gpu" and value == AUTO_GPU:
            value = "auto"
        if value is not None and value != "":
            values[name] = value
    return values


def link_params(request: PlanRequest, changes: dict[str, Any] | None = None) -> dict[str, str]:
    """The query parameters that open ``request`` (with ``changes``) on the Plan page: every field that differs from
    its default, and the GPU always, since the form starts at an example GPU rather than at 'auto'."""
    params = query_params(request, changes)
    params.setdefault("gpu", "auto")
    return params


def page_url(params: dict[str, str], path: str = "./") -> str:
    """The page being shown (at ``path`` from the app's root), opened with ``params``: absolute where the server
    knows its URL, else relative."""
    base = (st.context.url or "").split("?")[0]
    if base and not urlparse(base).path:
        base += "/"  # the app's root: http://host:8501/?...
    return f"{base or path}?{urlencode(params)}"


def link(request: PlanRequest, changes: dict[str, Any] | None = None) -> str:
    """A relative link that opens ``request`` on the Plan page (a new session: the URL decides every field)."""
    return "./?" + urlencode(link_params(request, changes))


# ---------------------------------------------------------------------------------------------- the link check


@dataclass(frozen=True)
class _Param:
    """A query parameter the app knows: its words on the page and how its raw text becomes its widget's value."""

    label: str
    read: Callable[[str], Any]  # raises InvalidInput (the one door's verdict) for a value it cannot use


def _read_field(name: str) -> Callable[[str], Any]:
    def read(raw: str) -> Any:
        values = {name: raw} if name == "model" else {"model": EXAMPLE["model"], name: raw}
        value = parse_request(values).flat()[name]
        if name == "gpu" and value in (None, "auto"):
            return AUTO_GPU
        shown = widget_value(SPECS[name], value)
        return "" if shown is None and SPECS[name].typed else shown
    return read


def _read_provider(raw: str) -> str:
    known = {p.lower(): p for p in providers()}
    if raw.strip().lower() not in known:
        raise InvalidInput([(None, f"must be one of {', '.join(providers())}")])
    return known[raw.strip().lower()]


def _read_switch(raw: str) -> bool:
    words = {"true": True, "on": True, "yes": True, "1": True, "false": False, "off": False, "no": False, "0": False}
    if raw.strip().lower() not in words:
        raise InvalidInput([(None, "must be true or false")])
    return words[raw.strip().lower()]


PARAMS: dict[str, _Param] = {
    **{name: _Param(spec.label, _read_field(name)) for name, spec in SPECS.items()},
    "provider": _Param("Price list", _read_provider),
    ADVANCED_SWITCH: _Param("Advanced vLLM settings", _read_switch),
}


def _shown(text: str) -> str:
    """A URL value as the page quotes it: control characters escaped, backticks replaced, long values cut."""
    text = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", text).replace("`", "'")
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


def _cut(message: str) -> str:
    return message if len(message) <= MESSAGE_CHARS else message[:MESSAGE_CHARS] + "…"


def _words(name: str, value: Any) -> str:
    """A widget value in words, for 'what was used instead'."""
    if value is None or value == "" or value == DEFAULT:
        return EMPTY_MEANS.get(name, "empty")
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)) and math.isfinite(value) and name != "port":  # a port is a name, not a quantity
        return fmt.number(value, 6)
    return str(value)


def is_set(name: str) -> bool:
    """Whether a field holds another value than its default: from the link, a change, or the page before."""
    value = st.session_state.get(name)
    return name in st.query_params or (value is not None and value != "" and value != default_value(name))


def setting_in_words(name: str) -> str:
    """A field's label and its value in the session, e.g. 'vLLM version 0.6.0'."""
    return f"{LABELS[name]} {_words(name, st.session_state.get(name))}"


def read_link(page: str) -> None:
    """Call before any widget of ``page``.  On a session's first run: read every raw query parameter through the
    one door, keeping the widget value each one asks for and what was wrong with the bad ones.  On the run after:
    put the values the widgets could not take from the URL in place (before the widgets, as Streamlit requires).
    On the first run after a switch from another page: every field that page showed and the URL does not hold
    starts at the value it had there, and one of the advanced settings set there turns them on, as a link does."""
    if st.session_state.get(_PAGE) != page:
        carried = {key: value for key, value in st.session_state.get(_CARRIED, {}).items() if key not in st.query_params}
        for key, value in carried.items():
            st.session_state[key] = value
        if any(key in ADVANCED and value not in (None, "", default_value(key)) for key, value in carried.items()):
            st.session_state[ADVANCED_SWITCH] = True  # an advanced setting set on the other page shows (and counts) here
        st.session_state[_PAGE] = page
    fixes = st.session_state.pop(_FIXES, None)
    if fixes:
        for key, value in fixes.items():
            st.session_state[key] = value
        return
    if _READ in st.session_state:
        return
    st.session_state[_READ] = True
    wanted: dict[str, Any] = {}
    problems: list[str] = []
    for key in st.query_params:
        raw = st.query_params[key]
        param = PARAMS.get(key)
        if param is None:
            problems.append(f"`{_shown(key)}` is not a setting of this dashboard: ignored")
            continue
        try:
            wanted[key] = param.read(raw)
        except InvalidInput as exc:
            wanted[key] = default_value(key)
            problems.append(f"`{key}={_shown(raw)}`: {_cut(describe(exc, 'form'))}. {param.label} is "
                            f"**{_words(key, wanted[key])}** instead")
    if any(key in ADVANCED for key in wanted):
        wanted[ADVANCED_SWITCH] = True  # a link that sets an advanced setting shows it
    st.session_state[_PENDING] = wanted
    st.session_state[_PROBLEMS] = problems


def settle_link(drawn: Iterable[str]) -> None:
    """Call after the widgets named in ``drawn``.  When a widget shows something else than the link asked for (a value
    it could not read, or a typo the door refused), rerun once to put it right; a widget not drawn on this run gets
    its value now and is checked on the run that draws it (the advanced settings, once the link turned them on)."""
    drawn = set(drawn)
    wanted = st.session_state.pop(_PENDING, None)
    if wanted is not None:
        later = {key: value for key, value in wanted.items() if key not in drawn}
        for key, value in later.items():
            st.session_state[key] = value
        if later:  # checked again on the run that draws them (a text widget takes its URL value over this one)
            st.session_state[_PENDING] = later
        fixes = {key: value for key, value in wanted.items() if key in drawn and st.session_state.get(key) != value}
        if fixes:
            st.session_state[_FIXES] = fixes
            st.rerun()
    form = {key: st.session_state.get(key) for key in drawn}
    st.session_state.setdefault(_CARRIED, {}).update(form)  # what the next page starts from
    settled = st.session_state.setdefault(_FORM, form)
    if any(settled.get(key, form[key]) != form[key] for key in drawn):
        st.session_state.pop(_PROBLEMS, None)  # the form has changed since: the link's problems are history


def show_link_problems() -> None:
    """What the link this session was opened with got wrong, until the form changes."""
    problems = st.session_state.get(_PROBLEMS)
    if problems:
        st.warning("\n".join(f"- {problem}" for problem in problems), title="The link has values this page could not use",
                   icon=":material/link_off:")
