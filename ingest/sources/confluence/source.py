"""Confluence Cloud and Data Center pages as documents, synced incrementally by CQL.

One code path serves both products: the REST API v1 content search
(``/rest/api/content/search?cql=...``) exists on Cloud (``https://x.atlassian.net/wiki``,
basic auth with email + API token) and on Data Center / Server (any base URL, bearer
personal access token). Which one is meant is decided from the credentials present,
or the source's ``cloud`` option.

A scan, in order:

1. ``user/current``: proves the credentials (a bad Data Center token can silently run
   as *anonymous* instead of failing, CONFSERVER-98199) and gives the user's time zone.
2. ``space/{key}`` for every configured space: an unknown key is a clear error.
3. Full scan (no cursor, ``full=True``, or the last full one is a day old): every page
   in the spaces, with bodies. Incremental scan: a cheap id-only listing of every page
   (so deleted, trashed, restricted and moved-out pages are pruned) plus the pages whose
   ``lastmodified`` is at or after the last good run's start, with bodies.

The incremental window starts ``overlap`` (5 min) before the last good run started,
written in the user's time zone, since that is how CQL reads dates (see
``confluence_cql``). Fetching a page twice is cheap: sync skips it by content hash.

Pages are converted with ``ingest.convert.storage_to_markdown``; a page that fails to
convert, or whose storage body is over ``MAX_PAGE_BYTES``, is reported in
``Scan.failures`` (and keeps its previous content) instead of failing the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from ingest.convert import storage_to_markdown
from ingest.errors import ConfigError, SourceError
from ingest.models import Access, Document
from ingest.settings import Settings, SourceConfig
from ingest.sources.base import Scan, Source
from ingest.sources.confluence.client import (
    CREDENTIALS_REJECTED,
    DEFAULT_TIMEOUT,
    BearerAuth,
    ConfluenceClient,
    RetryPolicy,
    redact_url,
)
from ingest.sources.confluence.cql import Cursor, cql_since, quote_cql
from ingest.sources.confluence.pages import PageReader, PageTooLarge
from ingest.sources.confluence.permissions import (
    DEFAULT_EVERYONE_GROUPS,
    RESTRICTIONS_EXPAND,
    PermissionReader,
)

log = logging.getLogger(__name__)

DEFAULT_PAGE_LIMIT = 50  # content search caps a page of results at 50 once a body is expanded
LABELS_PAGE_LIMIT = 200  # ... at 200 with other expansions
OVERLAP = timedelta(minutes=5)
FULL_RESCAN_EVERY = timedelta(days=1)
PAGE_EXPAND = f"body.storage,version,space,ancestors,metadata.labels,{RESTRICTIONS_EXPAND}"
LISTING_EXPAND = f"space,ancestors,{RESTRICTIONS_EXPAND}"
"""What the id listing of an incremental scan expands: enough to know every page's
readers now, so a restriction added or lifted takes effect at the next sync even
though it does not change the page's ``lastmodified``."""

Convert = Callable[..., str]


class _NoSpace(SourceError):
    """A space key Confluence does not know (or will not show these credentials)."""


class ConfluenceSource(Source):
    """The pages of some Confluence spaces, via REST API v1 and CQL."""

    def __init__(
        self,
        name: str,
        url: str,
        spaces: Sequence[str],
        *,
        email: str | None = None,
        api_token: str | None = None,
        token: str | None = None,
        cloud: bool | None = None,
        page_limit: int = DEFAULT_PAGE_LIMIT,
        labels_exclude: Sequence[str] = (),
        everyone_groups: Sequence[str] = DEFAULT_EVERYONE_GROUPS,
        restricted_spaces: Sequence[str] = (),
        overlap: timedelta = OVERLAP,
        full_rescan_every: timedelta | None = FULL_RESCAN_EVERY,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        convert: Convert = storage_to_markdown,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"source {name!r}: url {redact_url(url)!r} is not an http(s) URL")
        if parts.username or parts.password:
            raise ConfigError(
                f"source {name!r}: do not put credentials in the url; use CONFLUENCE_EMAIL + "
                "CONFLUENCE_API_TOKEN or CONFLUENCE_TOKEN"
            )
        if not spaces:
            raise ConfigError(f"source {name!r}: list at least one Confluence space key")
        has_basic, has_pat = bool(email and api_token), bool(token)
        on_atlassian = parts.hostname.endswith(".atlassian.net")
        if cloud is None:
            cloud = has_basic if has_basic != has_pat else on_atlassian
        self.url = url.rstrip("/")
        if cloud and on_atlassian and parts.path in ("", "/"):
            self.url += "/wiki"  # every Cloud site serves Confluence under /wiki
        self.name = name
        self.spaces = tuple(dict.fromkeys(spaces))
        self.cloud = cloud
        self.email, self._api_token, self._token = email, api_token, token
        self.page_limit = max(1, min(int(page_limit), DEFAULT_PAGE_LIMIT))
        self.labels_exclude = frozenset(labels_exclude)
        self.everyone_groups = tuple(everyone_groups)
        self.restricted_spaces = tuple(restricted_spaces)
        self.overlap, self.full_rescan_every = overlap, full_rescan_every
        self.retry, self.timeout, self.sleep, self.clock = retry, timeout, sleep, clock
        self.convert, self.transport = convert, transport

    @classmethod
    def from_config(cls, config: SourceConfig, settings: Settings) -> ConfluenceSource:
        """Build from docbot.toml / environment; secrets come from ``settings`` only."""
        options = config.options
        where = f"source {config.name!r}"
        cloud = options.get("cloud")
        if cloud is not None and not isinstance(cloud, bool):
            raise ConfigError(f"{where}.cloud: must be true or false")
        page_limit = options.get("page_limit", DEFAULT_PAGE_LIMIT)
        if isinstance(page_limit, bool) or not isinstance(page_limit, int):
            page_limit = 0
        if not 1 <= page_limit <= DEFAULT_PAGE_LIMIT:
            raise ConfigError(
                f"{where}.page_limit: must be a whole number from 1 to {DEFAULT_PAGE_LIMIT} "
                "(Confluence returns at most 50 pages with bodies per request)"
            )
        labels = options.get("labels_exclude", ())
        labels = [labels] if isinstance(labels, str) else labels
        if not isinstance(labels, list | tuple) or not all(isinstance(x, str) for x in labels):
            raise ConfigError(f"{where}.labels_exclude: must be a list of labels")
        if not config.url:
            raise ConfigError(f"{where}.url: a confluence source needs the site URL")
        lists = {}
        for key, default in (
            ("everyone_groups", DEFAULT_EVERYONE_GROUPS),
            ("restricted_spaces", ()),
        ):
            value = options.get(key, default)
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list | tuple) or not all(isinstance(x, str) for x in value):
                raise ConfigError(f"{where}.{key}: must be a list of names")
            lists[key] = tuple(value)
        return cls(
            config.name,
            config.url,
            config.spaces,
            email=options.get("email") or settings.confluence_email,
            api_token=settings.confluence_api_token,
            token=settings.confluence_token,
            cloud=cloud,
            page_limit=page_limit,
            labels_exclude=tuple(labels),
            everyone_groups=lists["everyone_groups"],
            restricted_spaces=lists["restricted_spaces"],
        )

    # -- scanning ---------------------------------------------------------------------
    def _client(self) -> ConfluenceClient:
        auth: httpx.Auth
        if self.cloud:
            if not (self.email and self._api_token):
                raise SourceError(
                    f"source {self.name!r}: Confluence Cloud needs CONFLUENCE_EMAIL and "
                    "CONFLUENCE_API_TOKEN (or set CONFLUENCE_TOKEN and cloud = false for Data "
                    "Center)"
                )
            auth = httpx.BasicAuth(self.email, self._api_token)
        else:
            if not self._token:
                raise SourceError(
                    f"source {self.name!r}: Confluence Data Center needs CONFLUENCE_TOKEN (a "
                    "personal access token), or CONFLUENCE_EMAIL + CONFLUENCE_API_TOKEN for Cloud"
                )
            auth = BearerAuth(self._token)
        return ConfluenceClient(
            self.url,
            auth=auth,
            timeout=self.timeout,
            retry=self.retry,
            sleep=self.sleep,
            transport=self.transport,
        )

    def scan(self, cursor: str | None = None, *, full: bool = False) -> Scan:
        started = self.clock()
        previous = None if full else Cursor.load(cursor)
        every = self.full_rescan_every
        if previous and every and started - previous.full_at >= every:
            log.info(
                "source %s: the last full scan is over %s old; scanning fully", self.name, every
            )
            previous = None
        client = self._client()
        permissions = PermissionReader(
            client,
            cloud=self.cloud,
            everyone_groups=self.everyone_groups,
            restricted_spaces=self.restricted_spaces,
        )
        access: dict[str, Access] = {}
        try:
            zone = self._check_user(client)
            keys = self._check_spaces(client)
            scope = f"type = page AND space in ({','.join(quote_cql(k) for k in keys)})"
            all_ids: set[str] | None = None
            if previous is None:
                query = f"{scope} ORDER BY created DESC"
                next_cursor = Cursor(started, started)
            else:
                access = self._list_access(client, scope, permissions)
                all_ids = set(access)
                since = cql_since(previous.since - self.overlap, zone)
                query = f'{scope} AND lastmodified >= "{since}" ORDER BY lastmodified DESC'
                next_cursor = Cursor(started, previous.full_at)
            total = self._count(client, query)
        except BaseException:
            client.close()
            raise
        log.info(
            "source %s: %s scan, %s pages to read",
            self.name,
            "full" if all_ids is None else "incremental",
            total,
        )
        scan = Scan(documents=(), all_ids=all_ids, cursor=next_cursor.dump(), total=total)
        scan.access = access
        reader = PageReader(self.name, client, cloud=self.cloud, convert=self.convert)
        scan.documents = self._documents(client, reader, permissions, query, scan)
        return scan

    def _check_user(self, client: ConfluenceClient) -> tzinfo | None:
        """Fail early on bad credentials; return the zone CQL dates are read in, if known."""
        user = client.get("/rest/api/user/current")
        if user.get("type") == "anonymous":
            raise SourceError(f"{CREDENTIALS_REJECTED}; Confluence answered as the anonymous user")
        name = user.get("timeZone")
        if not name:
            return None
        try:
            return ZoneInfo(str(name))
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("unknown time zone %r from Confluence; widening the sync window", name)
            return None

    def _check_spaces(self, client: ConfluenceClient) -> list[str]:
        """The configured space keys as Confluence spells them; unknown keys are an error."""
        keys, missing = [], []
        for key in self.spaces:
            try:
                space = client.get(f"/rest/api/space/{quote(key, safe='~')}", not_found=_NoSpace)
            except _NoSpace:
                missing.append(key)
                continue
            if space.get("status") == "archived":
                log.warning("Confluence space %s is archived; search skips its pages", key)
            keys.append(str(space.get("key") or key))
        if missing:
            names = ", ".join(repr(k) for k in missing)
            raise SourceError(
                f"source {self.name!r}: Confluence space {names} does not exist or these "
                "credentials cannot see it (check the spaces list / CONFLUENCE_SPACES)"
            )
        return keys

    def _list_access(
        self, client: ConfluenceClient, scope: str, permissions: PermissionReader
    ) -> dict[str, Access]:
        """Every page in the spaces now (label-excluded pages left out), no bodies, with
        who may read it: the incremental scan's list for pruning and for access changes."""
        expand = LISTING_EXPAND + (",metadata.labels" if self.labels_exclude else "")
        params: dict[str, str | int] = {
            "cql": f"{scope} ORDER BY created DESC",
            "expand": expand,
            "limit": LABELS_PAGE_LIMIT,
        }
        pages: list[dict[str, Any]] = []
        for results, _ in client.paginate("/rest/api/content/search", params):
            for page in results:
                if not self.labels_exclude or not self._excluded(page):
                    pages.append(page)
                    permissions.remember(page)
        return {str(page["id"]): permissions.access(page) for page in pages}

    def _count(self, client: ConfluenceClient, query: str) -> int | None:
        """How many pages the query matches (for the progress bar); None if not said."""
        data = client.get("/rest/api/search", {"cql": query, "limit": 1})
        total = data.get("totalSize")
        return total if isinstance(total, int) else None

    def _excluded(self, page: dict[str, Any]) -> bool:
        return bool(self.labels_exclude & set(PageReader.labels(page)))

    def _documents(
        self,
        client: ConfluenceClient,
        reader: PageReader,
        permissions: PermissionReader,
        query: str,
        scan: Scan,
    ) -> Iterator[Document]:
        params: dict[str, str | int] = {"cql": query, "expand": PAGE_EXPAND}
        params["limit"] = self.page_limit
        seen: set[str] = set()
        try:
            for results, links in client.paginate("/rest/api/content/search", params):
                base = str(links.get("base") or "")
                site = base if base.startswith(("http://", "https://")) else self.url
                for page in results:
                    page_id = str(page.get("id"))
                    if page_id in seen:  # an edit during paging can repeat a page
                        continue
                    seen.add(page_id)
                    if self._excluded(page):
                        continue
                    try:
                        document = reader.document(page, site, permissions.access(page))
                    except PageTooLarge as exc:  # refused before any conversion work
                        reason = str(exc)
                    except Exception as exc:  # one bad page must not stop a sync
                        reason = f"cannot read the page: {type(exc).__name__}: {exc}"[:300]
                    else:
                        yield document
                        continue
                    log.warning("source %s: page %s skipped: %s", self.name, page_id, reason)
                    scan.failures.append((page_id, reason))
        finally:
            client.close()
