"""Shared fixtures. Tests that read ``../shared/data`` skip with a reason when it
is missing (a user's clone has no ``../shared``). ``DOCBOT_SHARED_DATA`` points the
tests at another copy, or at an empty folder to run the suite as a clone would."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("DOCBOT_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """A path inside the shared data, or skip the test (with the reason) without it."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs the shared test data at {path} (not part of a clone)")
    return path


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``, or skip the test when this clone has none (or it is empty)."""
    if not SHARED_DATA.is_dir() or not any(SHARED_DATA.iterdir()):
        pytest.skip(f"needs the shared test data at {SHARED_DATA} (not part of a clone)")
    return SHARED_DATA


pytest_plugins = [
    "tests.fakes.openai_fixtures",
    "tests.fakes.slack_fixtures",
    "tests.postgres_fixtures",
]
