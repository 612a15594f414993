"""Shared helpers: every test plans offline, against the bundled catalog or local files."""

from __future__ import annotations

import os

import pytest

# Tests never touch the network: the Hub is only ever read from a local cache.
os.environ["HF_HUB_OFFLINE"] = "1"

from wizard.planning.planner import plan  # noqa: E402
from wizard.schema import parse_request  # noqa: E402


def make_plan(**flat):
    """Plan from flat field names, as the CLI and the query string give them."""
    return plan(parse_request(flat), detected=[])


@pytest.fixture
def planned():
    return make_plan
