"""Shared fixtures. Tests that read ``../shared/data`` skip with a reason when it
is missing (a user's clone has no ``../shared``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("DOCBOT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``, or skip the test when this clone has none."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared test data at {SHARED_DATA} (not part of a clone)")
    return SHARED_DATA


pytest_plugins = ["tests.fakes.openai_fixtures", "tests.fakes.slack_fixtures"]
