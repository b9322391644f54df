"""The ``fake_openai`` pytest fixture: a fresh FakeOpenAI server per test.

How a test gets it (pick one):

* Project-wide (preferred): in ``tests/conftest.py`` add
  ``pytest_plugins = ["tests.fakes.openai_fixtures"]``; every test can then just take
  a ``fake_openai`` argument.
* One module: put the same ``pytest_plugins = [...]`` line at the top of that test
  module. (Importing the fixture by name also works, but ruff reports the test's
  parameter as a redefinition, F811, of the import.)

Then::

    def test_answer(fake_openai: FakeOpenAI) -> None:
        client = OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=0)
        ...
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai_server import FakeOpenAI

__all__ = ["fake_openai"]


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running fake on an ephemeral port, stopped after the test.

    Teardown fails the test if the fake itself raised (a bug in it or in a test's
    ``reply`` callable): the client only sees a 500 and that would hide the cause.
    """
    with FakeOpenAI() as server:
        yield server
    if server.errors:
        pytest.fail(f"FakeOpenAI raised while serving: {server.errors!r}")
