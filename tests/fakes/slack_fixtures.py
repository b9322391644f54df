"""pytest fixtures for the fake Slack: ``fake_slack``, ``slack_client`` and ``slack_data``.

How a test gets them (pick one):

* Project-wide (preferred): in ``tests/conftest.py`` add
  ``pytest_plugins = ["tests.fakes.slack_fixtures"]``.
* One module: put the same ``pytest_plugins = [...]`` line at the top of that test
  module. (Importing the fixtures by name also works, but ruff then reports each test
  parameter as a redefinition, F811, of the import.)

Then::

    def test_reply(fake_slack: FakeSlack, slack_client: WebClient) -> None:
        slack_client.chat_postMessage(channel="C0CHAN", text="hi")
        assert fake_slack.last_message("C0CHAN")["text"] == "hi"
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient

from tests.fakes.slack_payloads import SlackFixtures
from tests.fakes.slack_server import FakeSlack

__all__ = ["fake_slack", "slack_client", "slack_data"]


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A fresh fake Slack on an ephemeral port per test, stopped afterwards.

    Teardown fails the test if the fake itself raised while serving: the client only
    sees an HTTP 500, which would hide the cause.
    """
    with FakeSlack() as server:
        yield server
    if server.errors:
        pytest.fail(f"FakeSlack raised while serving: {server.errors!r}")


@pytest.fixture
def slack_client(fake_slack: FakeSlack) -> WebClient:
    """A real ``WebClient`` with a bot token, pointed at ``fake_slack``."""
    return WebClient(base_url=fake_slack.api_url, token="xoxb-test")


@pytest.fixture
def slack_data(shared_data: Path) -> SlackFixtures:
    """The real Slack captures in ``shared/data/slack``; the test skips when they are missing."""
    root = shared_data / "slack"
    if not root.is_dir():
        pytest.skip(f"needs the Slack captures at {root}")
    return SlackFixtures(root)
