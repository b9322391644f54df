"""Who may read each Confluence page, read at sync against the fake Confluence.

A page's readers are the intersection of its own view restriction, every restricted
ancestor's and its space's view permissions (Confluence's rule: all must pass).
Groups become their members; people are matched by email; anything docbot may not
read counts as nobody. A restriction added or lifted without editing the page is
picked up by the next (incremental) sync.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.models import Access
from ingest.sources.confluence import ConfluenceSource
from ingest.store import Store
from ingest.sync import SyncReport, sync_source
from tests.fakes.confluence_server import FakeConfluence
from tests.fakes.confluence_wiki import seed_wiki
from tests.fakes.embedders import HashEmbedder

pytest_plugins = ["tests.fakes.confluence_fixtures"]

ALICE, BOB, CAROL = "557058:alice", "557058:bob", "557058:carol"


@pytest.fixture
def wiki(fake_confluence: FakeConfluence) -> FakeConfluence:
    """The sample wiki (space ENG, pages 1001-1005) and three people."""
    seed_wiki(fake_confluence)
    fake_confluence.add_user(ALICE, "Alice Example", "alice", email="Alice@Example.com")
    fake_confluence.add_user(BOB, "Bob Example", "bob", email="bob@example.com")
    fake_confluence.add_user(CAROL, "Carol Hidden", "carol")  # her email is private
    fake_confluence.add_group("hr-team", [ALICE, CAROL])
    return fake_confluence


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "docbot.db")
    yield store
    store.close()


def source(fake: FakeConfluence, **options: Any) -> ConfluenceSource:
    return ConfluenceSource(
        "wiki", fake.base_url, options.pop("spaces", ["ENG"]), email=fake.email,
        api_token=fake.api_token, sleep=lambda _: None, **options,
    )  # fmt: skip


def sync(store: Store, fake: FakeConfluence, **options: Any) -> SyncReport:
    report = sync_source(store, source(fake, **options), HashEmbedder())
    assert report.status == "ok", report.error
    return report


def access(store: Store) -> dict[str, Access]:
    return store.document_access("wiki")


def test_unrestricted_pages_in_an_open_space_are_public(wiki: FakeConfluence, store: Store) -> None:
    sync(store, wiki)
    assert all(a.public for a in access(store).values())
    hits = store.load_hits(store.fts_search("wireguard", 5))
    assert hits and not hits[0].restricted and hits[0].space == "ENG"


def test_a_page_restriction_names_its_readers_by_email(wiki: FakeConfluence, store: Store) -> None:
    wiki.restrict_page("1002", users=[ALICE, CAROL])
    sync(store, wiki)
    page = access(store)["1002"]
    assert page.readers == ("account:557058:carol", "alice@example.com")
    assert "VPN setup" in page.why
    assert page.allows("ALICE@example.com") and not page.allows("bob@example.com")
    assert access(store)["1001"].public


def test_restrictions_are_inherited_and_intersected(wiki: FakeConfluence, store: Store) -> None:
    """1004 sits under 1003 (under 1001): restricting 1003 restricts 1004 too, and a
    restriction on 1004 itself can only narrow it."""
    wiki.restrict_page("1003", groups=["hr-team"])  # Alice and Carol
    wiki.restrict_page("1004", users=[ALICE, BOB])
    sync(store, wiki)
    got = access(store)
    assert got["1003"].readers == ("account:557058:carol", "alice@example.com")
    assert got["1004"].readers == ("alice@example.com",)  # Bob fails the parent's
    assert "inherited from 'Deploy checklist'" in got["1004"].why
    assert got["1002"].public and got["1005"].public
    ancestor_reads = wiki.requests_to("/rest/api/content/1003/restriction/byOperation/read")
    assert len(ancestor_reads) == 1  # once per scan, however many pages sit below it


def test_a_group_docbot_may_not_list_counts_as_nobody(wiki: FakeConfluence, store: Store) -> None:
    wiki.add_group("execs", [BOB], hidden=True)
    wiki.restrict_page("1005", groups=["execs"])
    sync(store, wiki)
    page = access(store)["1005"]
    assert not page.public and page.readers == ()
    assert not page.allows("bob@example.com")


def test_space_permissions_decide_for_unrestricted_pages(
    wiki: FakeConfluence, store: Store
) -> None:
    wiki.set_space_readers("ENG", groups=["hr-team"], users=[BOB])
    sync(store, wiki)
    page = access(store)["1001"]
    assert page.readers == ("account:557058:carol", "alice@example.com", "bob@example.com")
    assert "space ENG is not open to everyone" in page.why

    wiki.set_space_readers("ENG", groups=["confluence-users"], users=[])
    sync_source(store, source(wiki), HashEmbedder(), full=True)
    assert all(a.public for a in access(store).values())

    wiki.set_space_readers("ENG", groups=["hr-team"], anonymous=True)
    sync_source(store, source(wiki), HashEmbedder(), full=True)
    assert all(a.public for a in access(store).values())  # anonymous users may read it


def test_hidden_space_permissions_are_public_unless_listed_as_restricted(
    wiki: FakeConfluence, store: Store
) -> None:
    wiki.set_space_readers("ENG", groups=["hr-team"], visible=False)
    sync(store, wiki)
    assert all(a.public for a in access(store).values())
    sync_source(store, source(wiki, restricted_spaces=["ENG"]), HashEmbedder(), full=True)
    assert all(a.readers == () for a in access(store).values())


def test_a_restriction_added_later_is_applied_by_the_next_incremental_sync(
    wiki: FakeConfluence, store: Store
) -> None:
    sync(store, wiki)
    wiki.clear()
    wiki.restrict_page("1002", users=[BOB])  # no new version, no lastmodified change

    report = sync(store, wiki)

    assert (report.updated, report.unchanged, report.access_changed) == (0, 5, 1)
    assert access(store)["1002"].readers == ("bob@example.com",)
    assert store.load_hits(store.fts_search("wireguard", 5))[0].restricted
    bodies = [r for r in wiki.search_requests() if "body" in r.params.get("expand", "")]
    assert all(r.returned == () for r in bodies)  # nothing re-fetched for it

    wiki.restrict_page("1002")  # lifted
    assert sync(store, wiki).access_changed == 1
    assert access(store)["1002"].public
