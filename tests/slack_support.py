"""Fixtures for the Slack bot tests (helpers in ``tests/slack_helpers.py``).

Load with ``pytest_plugins = ["tests.slack_support"]``; it pulls in the fake Slack
fixtures (``fake_slack``, ``slack_client``, ``slack_data``) too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack
from tests.slack_helpers import Bot, make_bot

pytest_plugins = ["tests.fakes.slack_fixtures"]


@pytest.fixture
def bot(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[Bot]:
    """Extractive mode (no LLM), listeners on Bolt's worker threads."""
    b = make_bot(tmp_path, fake_slack)
    yield b
    b.docbot.store.close()


@pytest.fixture
def inline_bot(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[Bot]:
    """Like ``bot`` but listeners finish before ``deliver`` returns."""
    b = make_bot(tmp_path, fake_slack, inline=True)
    yield b
    b.docbot.store.close()


@pytest.fixture
def llm_bot(tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI) -> Iterator[Bot]:
    """LLM mode against the fake OpenAI; listeners finish before ``deliver`` returns."""
    b = make_bot(tmp_path, fake_slack, openai=fake_openai, inline=True)
    yield b
    b.docbot.store.close()
