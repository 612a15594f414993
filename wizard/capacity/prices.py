"""On-demand GPU prices: USD per GPU-hour per catalog GPU, by provider, with source and date.

The bundled table (``wizard/data/prices.json``) holds one price list per
provider, so a sweep compares GPUs at one provider's prices rather than
mixing clouds; a user's own prices (``{"H100": 2.1}``) override it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from wizard.catalog.gpus import GpuSpec, get_gpu
from wizard.errors import WizardError
from wizard.schema.results import Price

PRICES = Path(__file__).parents[1] / "data" / "prices.json"


@cache
def _tables() -> tuple[str, dict[str, dict[str, Price]]]:
    data = json.loads(PRICES.read_text())
    tables: dict[str, dict[str, Price]] = {}
    for name, provider in data["providers"].items():
        tables[name] = {
            get_gpu(row["gpu"]).id: Price(usd_per_gpu_hour=row["usd_per_gpu_hour"], provider=provider["label"],
                                          date=row.get("date", provider["date"]), source=row.get("source", provider["source"]))
            for row in provider["prices"]
        }
    return data["default_provider"], tables


def providers() -> list[str]:
    """Providers with a bundled price list, the default first."""
    default, tables = _tables()
    return [default] + [p for p in tables if p != default]


def parse_overrides(items: list[str]) -> dict[str, float]:
    """``["H100=2.1", "L40S=0.9"]`` as {GPU name: USD per GPU-hour}; unknown GPUs and bad numbers are errors."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            usd = float(value)
        except ValueError:
            usd = -1.0
        if not sep or usd <= 0:
            raise WizardError(f"a price is GPU=USD_PER_GPU_HOUR with a positive number, e.g. H100=2.49; got {item!r}")
        out[get_gpu(name.strip()).name] = usd
    return out


def price_of(gpu: GpuSpec, provider: str | None = None, overrides: dict[str, float] | None = None) -> Price | None:
    """The user's price for this GPU (by any of its names), else the provider's, else None."""
    for name, usd in (overrides or {}).items():
        if get_gpu(name).id == gpu.id:
            return Price(usd_per_gpu_hour=usd, provider="your price", date="", source="given by the user")
    default, tables = _tables()
    if provider is not None and provider not in tables:
        raise WizardError(f"no price list for provider {provider!r}; choose from {', '.join(providers())}")
    return tables[provider or default].get(gpu.id)
