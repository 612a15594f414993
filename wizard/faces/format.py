"""Numbers for people: a few significant digits, thousands separators, units that scale.

``1585.04`` tok/s reads "1,585 tok/s", ``101532.3`` ms reads "102 s", ``760.3`` GiB
"760 GiB". Charts use these for hover text, annotations and tick labels.
"""

from __future__ import annotations

import math

Unit = tuple[float, str, float]
"""(size in the base unit, suffix, the largest scaled value shown in it before the next unit)."""

DURATION_UNITS_MS: tuple[Unit, ...] = (
    (1.0, " ms", 1000), (1000.0, " s", 120), (60_000.0, " min", 120), (3_600_000.0, " h", math.inf),
)
MEMORY_UNITS_GIB: tuple[Unit, ...] = ((1.0, " GiB", 1024), (1024.0, " TiB", math.inf))
RATE_UNITS_TOKENS_PER_S: tuple[Unit, ...] = (
    (1.0, " tok/s", 10_000), (1e3, "k tok/s", 10_000), (1e6, "M tok/s", math.inf),
)
COMPACT_UNITS: tuple[Unit, ...] = ((1.0, "", 1000), (1e3, "k", 1000), (1e6, "M", 1000), (1e9, "B", math.inf))


def _decimals(value: float, digits: int) -> int:
    """Decimals that show ``digits`` significant digits; none for numbers with that many whole digits."""
    return 0 if value == 0 else max(0, digits - 1 - math.floor(math.log10(abs(value))))


def number(value: float, digits: int = 3) -> str:
    """``digits`` significant digits, whole numbers kept whole, thousands separated: 1585.04 -> "1,585", 0.012345 -> "0.0123"."""
    if not math.isfinite(value):
        return "n/a" if math.isnan(value) else ("∞" if value > 0 else "-∞")
    text = f"{value:,.{_decimals(value, digits)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def pick_unit(value: float, units: tuple[Unit, ...], digits: int = 3) -> tuple[float, str]:
    """The first unit in which ``value``, rounded for display, stays below the unit's limit: (size, suffix)."""
    for size, suffix, limit in units:
        scaled = value / size
        if abs(round(scaled, _decimals(scaled, digits))) < limit:
            return size, suffix
    return units[-1][0], units[-1][1]


def scaled(value: float, units: tuple[Unit, ...], digits: int = 3) -> str:
    """``value`` (in the first unit's base) in the unit that reads best: scaled(101532.3, DURATION_UNITS_MS) -> "102 s"."""
    size, suffix = pick_unit(value, units, digits)
    return number(value / size, digits) + suffix


def duration_ms(ms: float) -> str:
    """A time given in ms, in ms, s, min or h: 0.9 -> "0.9 ms", 1262125.6 -> "21 min"."""
    return scaled(ms, DURATION_UNITS_MS)


def gib(value_gib: float) -> str:
    """Memory given in GiB, in GiB or TiB: 23.55 -> "23.6 GiB", 1536 -> "1.5 TiB"."""
    return scaled(value_gib, MEMORY_UNITS_GIB)


def tokens_per_s(rate: float) -> str:
    """A token rate: 1585.04 -> "1,585 tok/s", 99868 -> "99.9k tok/s"."""
    return scaled(rate, RATE_UNITS_TOKENS_PER_S)


def count(n: float) -> str:
    """A whole number with thousands separators: 1001000 -> "1,001,000", 2.74 -> "3"."""
    return f"{round(n):,}"


NO_DECODE = "no decode step (one output token each)"  # bench's TPOT of such a run is 0: nothing to time


def per_token(ms: float) -> str:
    """A time per output token, or that there is none: a run whose requests all sample one token has no decode."""
    return NO_DECODE if ms == 0 else f"{duration_ms(ms)} per token"


def requests(n: int) -> str:
    """A count of requests: 1 -> "1 request", 1600 -> "1,600 requests"."""
    return f"{count(n)} request" + ("" if round(n) == 1 else "s")


def tokens(n: float) -> str:
    """A token count, whole: 1001000 -> "1,001,000 tokens", 1 -> "1 token"."""
    return f"{count(n)} token{'' if round(n) == 1 else 's'}"


def compact(n: float) -> str:
    """A short label for an axis tick: 1000 -> "1k", 131072 -> "131k", 1024000 -> "1.02M"."""
    return scaled(n, COMPACT_UNITS)


def percent(fraction: float) -> str:
    """A fraction as a percentage: 0.873 -> "87.3%", 36.3 -> "3,630%"."""
    return number(fraction * 100) + "%"


def layout(tp: int, pp: int = 1, dp: int = 1, ep: int = 1) -> str:
    """A parallel layout in vLLM's terms: "TP 8", "TP 4 x PP 2", "DP 8 + EP 8"."""
    parts = [f"DP {dp}"] if dp > 1 else []
    if tp > 1 or not parts:
        parts.append(f"TP {tp}")
    if pp > 1:
        parts.append(f"PP {pp}")
    return " x ".join(parts) + (f" + EP {ep}" if ep > 1 else "")


def setting(value: object) -> str:
    """A setting's value for people: on/off for switches, numbers as :func:`number` writes them, "none" when unset."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return number(value, 6)
    return str(value)
