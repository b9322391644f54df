"""pytest fixtures for the fake Confluence.

Use them from a test module with ``pytest_plugins = ["tests.fakes.confluence_fixtures"]``
(as with ``openai_fixtures``), then take ``fake_confluence`` (Cloud, ``/wiki``),
``fake_confluence_dc`` (Data Center under ``/confluence``), both holding the sample
wiki of ``confluence_wiki``, or ``confluence_factory`` (any options, empty) as an
argument. Import sample data from ``tests.fakes.confluence_wiki``, not from here:
pytest must be the first to import a plugin module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.confluence_server import FakeConfluence
from tests.fakes.confluence_wiki import seed_wiki

__all__ = ["confluence_factory", "fake_confluence", "fake_confluence_dc"]


@pytest.fixture
def confluence_factory() -> Iterator[Callable[..., FakeConfluence]]:
    """``make(**options)`` starts a FakeConfluence; all are stopped after the test.

    Teardown fails the test if a fake raised while serving (a bug in it would
    otherwise look like a Confluence 500 and be retried away).
    """
    started: list[FakeConfluence] = []

    def make(**options: Any) -> FakeConfluence:
        fake = FakeConfluence(**options).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()
    errors = [e for fake in started for e in fake.errors]
    if errors:
        pytest.fail(f"FakeConfluence raised while serving: {errors!r}")


@pytest.fixture
def fake_confluence(confluence_factory: Callable[..., FakeConfluence]) -> FakeConfluence:
    """A Cloud-flavoured fake (``/wiki``, basic auth) holding the seeded ENG space."""
    fake = confluence_factory(cloud=True)
    seed_wiki(fake)
    return fake


@pytest.fixture
def fake_confluence_dc(confluence_factory: Callable[..., FakeConfluence]) -> FakeConfluence:
    """A Data Center fake under ``/confluence`` (bearer PAT) holding the seeded ENG space."""
    fake = confluence_factory(cloud=False, context="/confluence")
    seed_wiki(fake)
    return fake
