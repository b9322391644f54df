"""The Confluence source against a fake Confluence over real HTTP, synced into a real store.

Each test drives ``ConfluenceSource`` (and usually the real ``sync_source`` with a
SQLite ``Store`` and the hashing test embedder) against ``FakeConfluence`` on an
ephemeral port, then asserts on what the fake recorded and what the store holds.
Retries never really sleep: the source gets ``sleeps.append`` as its sleep function.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from ingest.convert import storage_to_markdown
from ingest.errors import ConfigError, SourceError, SourceUnavailable
from ingest.settings import Settings, SourceConfig
from ingest.sources import build_source
from ingest.sources.confluence import ConfluenceSource
from ingest.sources.confluence.client import (
    CREDENTIALS_REJECTED,
    ConfluenceClient,
    RetryPolicy,
    parse_retry_after,
)
from ingest.sources.confluence.cql import Cursor, cql_since, quote_cql
from ingest.store import Store
from ingest.sync import SyncReport, sync_source
from tests.fakes.confluence_server import FakeConfluence
from tests.fakes.confluence_wiki import LONG_AGO, WIKI, seed_wiki, shared_storage_body
from tests.fakes.embedders import HashEmbedder

pytest_plugins = ["tests.fakes.confluence_fixtures"]

ALL_IDS = {page["id"] for page in WIKI}
Factory = Callable[..., FakeConfluence]


def make_source(
    fake: FakeConfluence, sleeps: list[float] | None = None, **options: Any
) -> ConfluenceSource:
    """A source for ``fake`` with the right credentials unless ``options`` override them."""
    if fake.cloud:
        options = {"email": fake.email, "api_token": fake.api_token, **options}
    else:
        options = {"token": fake.token, **options}
    spaces = options.pop("spaces", ["ENG"])
    sleep = sleeps.append if sleeps is not None else (lambda _: None)
    return ConfluenceSource("wiki", fake.base_url, spaces, sleep=sleep, **options)


def run(store: Store, source: ConfluenceSource, *, full: bool = False) -> SyncReport:
    return sync_source(store, source, HashEmbedder(), full=full)


def body_requests(fake: FakeConfluence) -> list[Any]:
    """Content searches that fetched bodies (the expensive ones)."""
    return [r for r in fake.search_requests() if "body.storage" in r.params.get("expand", "")]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "docbot.db")
    yield store
    store.close()


# -- auth and the two products -------------------------------------------------------------


def test_cloud_uses_basic_auth_under_the_wiki_context(fake_confluence: FakeConfluence) -> None:
    docs = list(make_source(fake_confluence).scan().documents)

    assert {d.doc_id for d in docs} == ALL_IDS
    pair = base64.b64encode(b"bot@example.com:cloud-api-token").decode()
    assert fake_confluence.requests, "the source sent nothing"
    for request in fake_confluence.requests:
        assert request.path.startswith("/wiki/rest/api/")
        assert request.headers["authorization"] == f"Basic {pair}"
        assert request.status == 200


def test_data_center_uses_a_bearer_token_under_its_context_path(
    fake_confluence_dc: FakeConfluence,
) -> None:
    fake = fake_confluence_dc
    config = SourceConfig("wiki", "confluence", url=fake.base_url, spaces=("ENG",))
    source = build_source(config, Settings(confluence_token="dc-personal-token"))
    assert isinstance(source, ConfluenceSource) and source.cloud is False
    source.sleep = lambda _: None

    docs = {d.doc_id: d for d in source.scan().documents}

    assert set(docs) == ALL_IDS
    assert docs["1004"].url == f"{fake.base_url}/display/ENG/Rollback"
    assert docs["1004"].updated_at == LONG_AGO + timedelta(minutes=3)  # offset-aware DC time
    for request in fake.requests:
        assert request.path.startswith("/confluence/rest/api/")
        assert request.headers["authorization"] == "Bearer dc-personal-token"


def test_the_product_follows_the_credentials_unless_configured() -> None:
    def source(url: str = "https://acme.example.com", **kw: Any) -> ConfluenceSource:
        return ConfluenceSource("wiki", url, ["ENG"], **kw)

    assert source(email="a@b.c", api_token="t").cloud is True
    assert source(token="pat").cloud is False
    assert source(email="a@b.c", api_token="t", token="pat").cloud is False  # not atlassian.net
    both = source("https://acme.atlassian.net", email="a@b.c", api_token="t", token="pat")
    assert both.cloud is True and both.url == "https://acme.atlassian.net/wiki"
    assert source(email="a@b.c", api_token="t", cloud=False).cloud is False
    with pytest.raises(ConfigError, match="credentials in the url"):
        source("https://me:secret@acme.example.com", token="pat")
    with pytest.raises(SourceError, match="CONFLUENCE_TOKEN"):
        source(cloud=False).scan()


def test_from_config_reads_options_and_rejects_bad_ones() -> None:
    options = {"cloud": True, "page_limit": 10, "labels_exclude": ["draft"], "email": "me@x.io"}
    config = SourceConfig(
        "wiki", "confluence", url="https://x.io/wiki", spaces=("A",), options=options
    )
    source = ConfluenceSource.from_config(config, Settings(confluence_api_token="t"))
    assert (source.cloud, source.page_limit, source.email) == (True, 10, "me@x.io")
    assert source.labels_exclude == frozenset({"draft"})
    for bad in (
        {"page_limit": "many"},
        {"page_limit": 51},
        {"cloud": "yes"},
        {"labels_exclude": 3},
    ):
        bad_config = SourceConfig(
            "wiki", "confluence", url="https://x.io", spaces=("A",), options=bad
        )
        with pytest.raises(ConfigError):
            ConfluenceSource.from_config(bad_config, Settings(confluence_token="t"))


# -- reading pages ---------------------------------------------------------------------------


def test_documents_carry_the_page_metadata(fake_confluence: FakeConfluence) -> None:
    docs = {d.doc_id: d for d in make_source(fake_confluence).scan().documents}

    rollback = docs["1004"]
    assert rollback.title == "Rollback"
    assert rollback.url == f"{fake_confluence.base_url}/spaces/ENG/pages/1004/Rollback"
    assert rollback.breadcrumbs == ("Engineering Home", "Deploy checklist")
    assert (rollback.version, rollback.author) == ("1", "Alice Example")
    assert rollback.updated_at == LONG_AGO + timedelta(minutes=3)
    vpn = docs["1002"]
    assert vpn.tags == ("it", "howto")
    assert "```bash\nwg-quick up corp\n```" in vpn.body and "> **Info:**" in vpn.body
    assert "| Canary | SRE |" in docs["1003"].body
    on_call = docs["1005"].body
    assert "@Alice Example" in on_call
    assert f"[Rollback]({fake_confluence.base_url}/display/ENG/Rollback)" in on_call


def test_real_storage_bodies_convert(fake_confluence: FakeConfluence, shared_data: Path) -> None:
    for page_id, name in [("2001", "md2conf/code.xml"), ("2002", "md2conf/panel.xml"),
                          ("2003", "mcp_atlassian/meeting_notes_page.storage.xhtml")]:  # fmt: skip
        fake_confluence.add_page("ENG", page_id, name, shared_storage_body(shared_data, name))
    scan = make_source(fake_confluence).scan()
    docs = {d.doc_id: d for d in scan.documents}

    assert scan.failures == []
    assert "```py\ndef func(n: int) -> str:" in docs["2001"].body
    assert docs["2002"].body.strip() and docs["2003"].body.strip()


def test_own_storage_bodies_convert_through_the_source(fake_confluence: FakeConfluence) -> None:
    """The project's own storage-format pages (tests/fixtures) served as real pages."""
    root = Path(__file__).resolve().parent / "fixtures" / "storage_format"
    names = sorted(p.name for p in root.glob("*.xhtml"))
    for i, name in enumerate(names):
        fake_confluence.add_page("ENG", str(2100 + i), name, (root / name).read_text("utf-8"))
    scan = make_source(fake_confluence).scan()
    docs = {d.title: d for d in scan.documents}

    assert scan.failures == [] and set(names) <= set(docs)
    assert "```python\ndef previous_tag(tags):" in docs["deploy_runbook.xhtml"].body
    assert "| 11 | Search | Identity |" in docs["oncall_rota.xhtml"].body
    assert "[deploy runbook](" in docs["onboarding_guide.xhtml"].body  # a link to a page


@pytest.mark.parametrize("cloud", [True, False], ids=["cloud-cursor", "dc-start"])
def test_pagination_follows_next_links(confluence_factory: Factory, cloud: bool) -> None:
    fake = confluence_factory(cloud=cloud)
    for i in range(7):
        fake.add_page("ENG", str(3000 + i), f"Page {i}", f"<p>page {i}</p>", when=LONG_AGO)

    docs = list(make_source(fake, page_limit=2).scan().documents)

    assert sorted(d.doc_id for d in docs) == [str(3000 + i) for i in range(7)]
    searches = body_requests(fake)
    assert len(searches) == 4
    assert all(r.params["limit"] == "2" for r in searches)
    assert all(r.params["cql"] == searches[0].params["cql"] for r in searches)
    assert "cursor" not in searches[0].params and "start" not in searches[0].params
    follow_key = "cursor" if cloud else "start"
    assert all(follow_key in r.params for r in searches[1:])
    assert [len(r.returned) for r in searches] == [2, 2, 2, 1]


def test_page_size_stays_within_the_servers_caps(fake_confluence: FakeConfluence) -> None:
    list(make_source(fake_confluence, page_limit=500).scan().documents)
    assert body_requests(fake_confluence)[0].params["limit"] == "50"


def test_next_links_resolve_against_the_configured_site() -> None:
    client = ConfluenceClient("https://wiki.corp/confluence", auth=httpx.BasicAuth("u", "p"))
    try:
        assert (
            client.resolve("/rest/api/x?start=5")
            == "https://wiki.corp/confluence/rest/api/x?start=5"
        )
        assert client.resolve("/confluence/rest/api/x") == "https://wiki.corp/confluence/rest/api/x"
        assert client.resolve("https://public.example/confluence/rest/api/x?a=1") == (
            "https://wiki.corp/confluence/rest/api/x?a=1"
        )
    finally:
        client.close()


# -- syncing into the store --------------------------------------------------------------------


def test_full_sync_stores_searchable_pages_and_a_rerun_embeds_nothing(
    fake_confluence: FakeConfluence, store: Store
) -> None:
    first = run(store, make_source(fake_confluence))
    assert (first.status, first.added, first.chunks_embedded > 0) == ("ok", 5, True)
    hits = store.load_hits(store.fts_search("wireguard", 5))
    assert hits and hits[0].doc_id == "1002"
    assert hits[0].url.endswith("/spaces/ENG/pages/1002/VPN+setup")

    second = run(store, make_source(fake_confluence))
    assert (second.status, second.unchanged, second.chunks_embedded) == ("ok", 5, 0)


def test_incremental_sync_fetches_and_embeds_only_the_edited_page(
    fake_confluence: FakeConfluence, store: Store
) -> None:
    run(store, make_source(fake_confluence))
    first_cursor = Cursor.load(store.get_cursor("wiki"))
    assert first_cursor is not None
    fake_confluence.clear()
    fake_confluence.edit_page("1003", body="<h2>Before you deploy</h2><p>Page the SRE lead.</p>")

    report = run(store, make_source(fake_confluence))

    assert (report.updated, report.added, report.deleted, report.unchanged) == (1, 0, 0, 4)
    assert report.chunks_embedded > 0
    (changed,) = body_requests(fake_confluence)
    expected = (first_cursor.since - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M")
    assert f'lastmodified >= "{expected}"' in changed.params["cql"]
    assert changed.returned == ("1003",)
    listings = [
        r for r in fake_confluence.search_requests() if "body" not in r.params.get("expand", "")
    ]
    assert listings and set(listings[0].returned) == ALL_IDS  # ids and readers, no bodies
    assert store.load_hits(store.fts_search("lead", 5))[0].doc_id == "1003"
    second_cursor = Cursor.load(store.get_cursor("wiki"))
    assert second_cursor is not None and second_cursor.since > first_cursor.since
    assert second_cursor.full_at == first_cursor.full_at


@pytest.mark.parametrize("cloud", [True, False], ids=["zone-reported", "zone-unknown"])
def test_incremental_window_copes_with_the_servers_time_zone(
    confluence_factory: Factory, store: Store, cloud: bool
) -> None:
    fake = confluence_factory(cloud=cloud, time_zone="America/Los_Angeles")
    seed_wiki(fake)
    run(store, make_source(fake))
    cursor = Cursor.load(store.get_cursor("wiki"))
    assert cursor is not None
    fake.edit_page("1002", body="<p>New VPN gateway.</p>")
    fake.clear()

    report = run(store, make_source(fake))

    assert (report.updated, report.unchanged) == (1, 4)
    start = cursor.since - timedelta(minutes=5)
    zone = ZoneInfo("America/Los_Angeles") if cloud else None
    literal = start.astimezone(zone or UTC) - (timedelta(0) if cloud else timedelta(hours=12))
    assert f'lastmodified >= "{literal.strftime("%Y-%m-%d %H:%M")}"' in fake.cqls()[-1]
    # The caveat is real in the fake: a plain UTC literal would have missed the edit.
    naive = f'type = page AND lastmodified >= "{start.strftime("%Y-%m-%d %H:%M")}"'
    assert "1002" not in fake.query_ids(naive)


def test_cql_since_stays_early_across_a_dst_fall_back() -> None:
    new_york = ZoneInfo("America/New_York")
    moment = datetime(2024, 11, 3, 5, 30, tzinfo=UTC)  # 01:30 EDT; 01:30 happens twice
    literal = cql_since(moment, new_york)
    for fold in (0, 1):
        read = datetime.strptime(literal, "%Y-%m-%d %H:%M").replace(tzinfo=new_york, fold=fold)
        assert read <= moment
    assert cql_since(moment, None) == "2024-11-02 17:30"


def test_deleted_trashed_and_moved_out_pages_are_pruned(
    fake_confluence: FakeConfluence, store: Store
) -> None:
    run(store, make_source(fake_confluence))
    fake_confluence.trash_page("1002")
    fake_confluence.delete_page("1004")
    fake_confluence.move_page("1005", space="ARCHIVE")

    report = run(store, make_source(fake_confluence))

    assert (report.status, report.deleted, report.unchanged) == ("ok", 3, 2)
    assert set(store.document_shas("wiki")) == {"1001", "1003"}
    assert store.fts_search("wireguard", 5) == []


def test_labels_exclude_skips_pages_and_prunes_newly_labelled_ones(
    fake_confluence: FakeConfluence, store: Store
) -> None:
    first = run(store, make_source(fake_confluence, labels_exclude=["runbook"]))
    assert first.added == 4 and "1003" not in store.document_shas("wiki")
    fake_confluence.edit_page("1002", labels=["it", "runbook"])

    second = run(store, make_source(fake_confluence, labels_exclude=["runbook"]))

    assert (second.deleted, second.updated) == (1, 0)
    assert set(store.document_shas("wiki")) == {"1001", "1004", "1005"}
    listing = [
        r for r in fake_confluence.search_requests() if "lastmodified" not in r.params["cql"]
    ]
    assert listing[-1].params["expand"].endswith(",metadata.labels")  # labels, but no bodies
    assert "body" not in listing[-1].params["expand"]
    assert listing[-1].params["limit"] == "200"


def test_a_day_old_full_scan_is_redone_in_full(fake_confluence: FakeConfluence) -> None:
    now = datetime.now(UTC)
    source = make_source(fake_confluence, clock=lambda: now)

    fresh = source.scan(Cursor(now - timedelta(hours=1), now - timedelta(hours=2)).dump())
    stale = source.scan(Cursor(now - timedelta(hours=1), now - timedelta(days=2)).dump())
    unreadable = source.scan("not a cursor")

    assert fresh.all_ids == ALL_IDS and list(fresh.documents) == []
    assert stale.all_ids is None and len(list(stale.documents)) == 5
    assert unreadable.all_ids is None and len(list(unreadable.documents)) == 5
    assert Cursor.load(stale.cursor) == Cursor(now, now)


# -- faults ------------------------------------------------------------------------------------


def test_rate_limits_are_retried_after_the_wait_asked_for(
    fake_confluence: FakeConfluence, store: Store
) -> None:
    sleeps: list[float] = []
    fake_confluence.fail_next(429, retry_after=7, times=2, path="/rest/api/content/search")

    report = run(store, make_source(fake_confluence, sleeps))

    assert (report.status, report.added) == ("ok", 5)
    assert sleeps == [7.0, 7.0]
    statuses = [r.status for r in fake_confluence.search_requests()]
    assert statuses[:3] == [429, 429, 200]


def test_retry_after_as_an_http_date_and_plain_backoff(fake_confluence: FakeConfluence) -> None:
    now = datetime.now(UTC)
    in_30s = format_datetime(now + timedelta(seconds=30), usegmt=True)  # whole seconds
    assert 29 <= (parse_retry_after(in_30s, now) or 0) <= 30
    assert parse_retry_after("120") == 120 and parse_retry_after("soon") is None
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0

    sleeps: list[float] = []
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    fake_confluence.fail_next(503, retry_after=later, path="/rest/api/space/ENG")
    fake_confluence.fail_next(502, times=3, path="/rest/api/search")
    make_source(fake_confluence, sleeps).scan()

    assert 15 <= sleeps[0] <= 20
    for wait, (low, high) in zip(sleeps[1:], [(0.5, 1), (1, 2), (2, 4)], strict=True):
        assert low <= wait <= high


def test_a_wait_longer_than_the_budget_gives_up_at_once(fake_confluence: FakeConfluence) -> None:
    sleeps: list[float] = []
    fake_confluence.fail_next(429, retry_after=3600)
    with pytest.raises(SourceUnavailable, match=r"HTTP 429 .* asked to wait 3600 s"):
        make_source(fake_confluence, sleeps).scan()
    assert sleeps == []


def test_server_errors_that_persist_fail_the_run_and_keep_what_was_stored(
    fake_confluence: FakeConfluence, store: Store
) -> None:
    run(store, make_source(fake_confluence))
    cursor = store.get_cursor("wiki")
    fake_confluence.fail_next(500, times=100)
    fake_confluence.edit_page("1002", body="<p>Changed while the server is down.</p>")
    sleeps: list[float] = []

    report = run(store, make_source(fake_confluence, sleeps))

    assert report.status == "failed"
    assert "HTTP 500" in (report.error or "") and "tried 5 times" in (report.error or "")
    assert len(sleeps) == 4 and sum(sleeps) <= RetryPolicy().max_total
    assert len(store.document_shas("wiki")) == 5
    assert store.load_hits(store.fts_search("wireguard", 5))[0].doc_id == "1002"
    assert store.get_cursor("wiki") == cursor
    fake_confluence.clear()


def test_an_unreachable_site_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    sleeps: list[float] = []
    source = ConfluenceSource("wiki", f"http://127.0.0.1:{port}/wiki", ["ENG"], email="a@b.c",
                              api_token="t", sleep=sleeps.append)  # fmt: skip
    with pytest.raises(SourceUnavailable, match="cannot reach Confluence"):
        source.scan()
    assert len(sleeps) == 4


@pytest.mark.parametrize("cloud", [True, False])
def test_wrong_credentials_fail_clearly_and_keep_the_content(
    confluence_factory: Factory, store: Store, cloud: bool
) -> None:
    fake = confluence_factory(cloud=cloud)
    seed_wiki(fake)
    run(store, make_source(fake))
    cursor = store.get_cursor("wiki")
    secret = "wrong-secret-1234"

    report = run(
        store, make_source(fake, api_token=secret) if cloud else make_source(fake, token=secret)
    )

    assert report.status == "failed" and report.error == CREDENTIALS_REJECTED
    assert secret not in str(report.as_dict())
    assert len(store.document_shas("wiki")) == 5 and store.get_cursor("wiki") == cursor


def test_a_data_center_token_that_falls_back_to_anonymous_is_rejected(
    confluence_factory: Factory,
) -> None:
    fake = confluence_factory(cloud=False, anonymous_access=True)
    seed_wiki(fake)
    with pytest.raises(SourceError, match="anonymous"):
        make_source(fake, token="expired-token").scan()


def test_unknown_spaces_are_named(fake_confluence: FakeConfluence, store: Store) -> None:
    report = run(store, make_source(fake_confluence, spaces=["ENG", "NOPE", "GONE"]))
    assert report.status == "failed"
    assert "'NOPE', 'GONE'" in (report.error or "") and "CONFLUENCE_SPACES" in (report.error or "")


def test_a_wrong_site_url_says_so(fake_confluence: FakeConfluence) -> None:
    source = ConfluenceSource("wiki", fake_confluence.url, ["ENG"], email="bot@example.com",
                              api_token="cloud-api-token", cloud=True)  # fmt: skip
    with pytest.raises(SourceError, match="ends in /wiki"):
        source.scan()


def test_a_page_that_fails_to_convert_is_reported_and_keeps_its_old_content(
    fake_confluence: FakeConfluence, store: Store
) -> None:
    def fussy(xhtml: str, **options: Any) -> str:
        if "BROKEN" in xhtml:
            raise ValueError("unsupported macro")
        return storage_to_markdown(xhtml, **options)

    run(store, make_source(fake_confluence, convert=fussy))
    before = store.document_shas("wiki")["1004"]
    fake_confluence.edit_page("1004", body="<p>BROKEN</p>")
    fake_confluence.add_page("ENG", "1006", "New and broken", "<p>BROKEN too</p>")

    report = run(store, make_source(fake_confluence, convert=fussy))

    assert report.status == "partial" and report.error is None
    assert sorted(doc_id for doc_id, _ in report.failures) == ["1004", "1006"]
    assert all("unsupported macro" in reason for _, reason in report.failures)
    assert (report.deleted, report.added) == (0, 0)
    assert store.document_shas("wiki")["1004"] == before
    assert "1006" not in store.document_shas("wiki")


def test_cql_quoting() -> None:
    assert quote_cql('A"B\\C') == '"A\\"B\\\\C"'


def test_an_oversized_page_is_skipped_before_converting_and_keeps_its_old_content(
    fake_confluence: FakeConfluence, store: Store
) -> None:
    from ingest.sources.confluence.pages import MAX_PAGE_BYTES

    converted: list[int] = []

    def measured(xhtml: str, **options: Any) -> str:
        converted.append(len(xhtml.encode()))
        return storage_to_markdown(xhtml, **options)

    run(store, make_source(fake_confluence, convert=measured))
    before = store.document_shas("wiki")["1004"]
    huge = "<p>" + "Ünïcode padding. " * (MAX_PAGE_BYTES // 19 + 1) + "</p>"
    size = len(huge.encode())
    assert size > MAX_PAGE_BYTES > len(huge)  # the limit is on UTF-8 bytes, not characters
    fake_confluence.edit_page("1004", body=huge)
    fake_confluence.add_page("ENG", "1006", "Huge and new", huge)
    converted.clear()

    report = run(store, make_source(fake_confluence, convert=measured), full=True)

    assert report.status == "partial" and report.error is None
    assert sorted(doc_id for doc_id, _ in report.failures) == ["1004", "1006"]
    limit = f"{size:,} bytes, over the {MAX_PAGE_BYTES:,}-byte limit"
    assert all(limit in reason for _, reason in report.failures), report.failures
    assert max(converted) < MAX_PAGE_BYTES  # the big bodies were never converted
    assert store.document_shas("wiki")["1004"] == before and report.deleted == 0
    assert "1006" not in store.document_shas("wiki")
