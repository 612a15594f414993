"""The accepted syntax of every kind of request value, declared once for every face.

``8192``, ``8,192``, ``8k`` and ``8K`` mean the same in the CLI, a profile, a
URL and the form, because each field's type here parses them; and pydantic's
complaints are put in the words of this schema (:func:`problems`), each one
carrying the field it is about.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError

from wizard.physics.versions import VLLM_VERSION, parse_version

# vLLM's human_readable_int (vllm/engine/arg_utils.py): lowercase suffixes are decimal,
# uppercase binary, and only decimal ones take a fraction ("25.6k"). Thousands separators
# ("8,192", "8_192") are accepted too: people paste them.
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_BINARY = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_COUNT_RE = re.compile(r"([+-]?\d+(?:\.\d+)?)([kmgtKMGT]?)")
_EMPTY = ("", "default", "none", "null")  # what leaves an optional field to the wizard
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _text(value: Any) -> Any:
    """Strings stripped; anything else as it is."""
    return value.strip() if isinstance(value, str) else value


def _empty_is_none(value: Any) -> Any:
    """An optional field left empty (blank, 'default', 'none') means: the wizard decides."""
    value = _text(value)
    return None if isinstance(value, str) and value.lower() in _EMPTY else value


def parse_count(value: Any) -> Any:
    """A whole number as people and vLLM write it: 8192, 8,192, 8_192, 8k (8,000), 8K (8,192), 1.5m."""
    value = _text(value)
    if isinstance(value, bool):
        raise ValueError(f"must be a whole number (got {value!r})")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, float):
        value = str(value)  # a fraction is refused below in the same words as typed text
    if not isinstance(value, str):
        return value
    match = _COUNT_RE.fullmatch(value.replace(",", "").replace("_", ""))
    if not match:
        raise ValueError(f"must be a whole number like 8192, 8,192 or 8k (got {value!r})")
    number, suffix = match.groups()
    if suffix in _DECIMAL:
        return int(float(number) * _DECIMAL[suffix])
    if "." in number:
        raise ValueError(f"must be a whole number (got {value!r}; a fraction needs a decimal suffix, as in 25.6k)")
    return int(number) * _BINARY.get(suffix, 1)


def _optional_count(value: Any) -> Any:
    value = _empty_is_none(value)
    return None if value is None else parse_count(value)


def _max_model_len(value: Any) -> Any:
    """vLLM's --max-model-len: a count, or 'auto' / -1 to let vLLM fit it to memory."""
    value = _empty_is_none(value)
    if value is None:
        return None
    if isinstance(value, str) and value.lower() == "auto":
        return "auto"
    count = parse_count(value)
    return "auto" if count == -1 else count


def _number(value: Any) -> Any:
    """A decimal number: 0.9, 1e3, 2,048.5; never NaN (infinity only where a field allows it)."""
    value = _text(value)
    if isinstance(value, bool):
        raise ValueError(f"must be a number (got {value!r})")
    if isinstance(value, str):
        try:
            value = float(value.replace(",", "").replace("_", ""))
        except ValueError:
            raise ValueError(f"must be a number like 0.9 or 2.5 (got {value!r})") from None
    if isinstance(value, float) and math.isnan(value):
        raise ValueError("must be a number (got NaN)")
    return value


def _optional_number(value: Any) -> Any:
    value = _empty_is_none(value)
    return None if value is None else _number(value)


def _rate(value: Any) -> Any:
    """A number where 'inf' means something: the message says so, since a form gives no other hint."""
    try:
        return _number(value)
    except ValueError:
        shown = "NaN" if isinstance(value, float) or str(value).strip().lower() == "nan" else repr(value)
        raise ValueError(f"must be a number like 2.5, or inf (got {shown})") from None


def _optional_rate(value: Any) -> Any:
    value = _empty_is_none(value)
    return None if value is None else _rate(value)


def as_choice(value: Any) -> Any:
    """A named option, case-insensitive."""
    value = _text(value)
    return value.lower() if isinstance(value, str) else value


def as_optional_choice(value: Any) -> Any:
    value = _empty_is_none(value)
    return None if value is None else as_choice(value)


def _optional_bool(value: Any) -> Any:
    return _empty_is_none(value)


def as_line(value: Any) -> Any:
    """One line of text (an id or a path): no control characters."""
    value = _text(value)
    if isinstance(value, str) and _CONTROL_RE.search(value):
        raise ValueError("must be one line without control characters (a Hugging Face id or a path)")
    return value


def as_release(value: Any) -> Any:
    """A vLLM release number (0.33.0, v0.6.4.post1)."""
    value = _text(value)
    if isinstance(value, str):
        try:
            parse_version(value)
        except ValueError:
            raise ValueError(f"must be a vLLM release number like {VLLM_VERSION} (got {value!r})") from None
    return value


Count = Annotated[int, BeforeValidator(parse_count)]
OptionalCount = Annotated[int | None, BeforeValidator(_optional_count)]
Number = Annotated[float, Field(allow_inf_nan=False), BeforeValidator(_number)]
OptionalNumber = Annotated[float | None, Field(allow_inf_nan=False), BeforeValidator(_optional_number)]
# A rate or shape where infinity means something (vllm bench: "inf" sends every request at once,
# burstiness inf spaces them evenly); NaN is still refused.
OptionalRate = Annotated[float | None, BeforeValidator(_optional_rate)]
Rate = Annotated[float, BeforeValidator(_rate)]
MaxModelLen = Annotated[int | Literal["auto"] | None, BeforeValidator(_max_model_len)]
OptionalBool = Annotated[bool | None, BeforeValidator(_optional_bool)]
OptionalText = Annotated[str | None, BeforeValidator(lambda v: as_line(_empty_is_none(v)))]


def _number_text(value: Any) -> str:
    """1000000 -> '1,000,000'; 2.0 -> '2'; 0.95 -> '0.95'; 10**400 -> 'a 401-digit number'."""
    if isinstance(value, int) and abs(value) >= 10**15:
        return f"a {len(str(abs(value)))}-digit number"
    return f"{int(value):,}" if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _message(error: Any) -> str:
    """pydantic's message for one error, in the words of this schema."""
    kind, ctx = error["type"], error.get("ctx") or {}
    given = error.get("input")
    if isinstance(given, int) and not isinstance(given, bool) or isinstance(given, float) and math.isfinite(given):
        shown = f" (got {_number_text(given)})"
    elif isinstance(given, (str, float)) and not isinstance(given, bool):
        shown = f" (got {given!r})"
    else:
        shown = ""
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "string_too_short":
        return "is required (it is empty)"
    if kind == "string_too_long":
        return f"is too long (at most {ctx.get('max_length'):,} characters)"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {"greater_than_equal": "at least", "greater_than": "more than", "less_than_equal": "at most",
                 "less_than": "less than"}[kind]
        limit = next(iter(ctx.values()))
        return f"must be {words} {_number_text(limit)}{shown}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}{shown}"
    if kind == "finite_number":
        return f"must be a finite number{shown}"
    return error["msg"].removeprefix("Value error, ")


def problems(exc: ValidationError, sections: tuple[str, ...] = ()) -> list[tuple[str | None, str]]:
    """(flat field name, message) for each error pydantic found."""
    problems: list[tuple[str | None, str]] = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        if error["type"] == "extra_forbidden" and len(loc) >= 2:
            problems.append((".".join(loc[:2]), _message(error)))  # unknown: only its section says where it was
            continue
        if len(loc) >= 2 and loc[0] in sections:
            loc = loc[1:]
        problems.append((loc[0] if loc else None, _message(error)))
    return problems


