"""One Confluence page (a v1 content object) to one ``Document``.

Kept apart from the scanning logic because it is pure mapping plus two small
conveniences for the converter:

- links to other pages (``ri:page`` by title) become ``{site}/display/{SPACE}/{Title}``
  URLs, which both Cloud and Data Center resolve, so no lookup is needed;
- user mentions (``ri:user``) become ``@Display Name``: authors seen in ``version.by``
  are remembered, and other users are looked up once each (``/rest/api/user``),
  best effort: a few failures switch lookups off for the run, and the mention then
  falls back to ``@user`` rather than failing the page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote, quote_plus

from ingest.errors import SourceError
from ingest.models import PUBLIC, Access, Document
from ingest.sources.confluence.client import ConfluenceClient

log = logging.getLogger(__name__)

MAX_PAGE_BYTES = 2_000_000
"""The largest storage-format body converted (UTF-8 bytes of XHTML). 2 MB is about
1.2 MB of text and 1,240 chunks, far more than any page people read, and about a
minute of sync on 2 cores with the bundled model; 5 MB took 3.5 minutes and 10 MB
over 9 (``scripts/bench_page_size.py --embed``). Markdown files have ``MAX_FILE_BYTES``."""
MAX_USER_LOOKUPS = 500
MAX_LOOKUP_FAILURES = 5


class PageTooLarge(ValueError):
    """A page whose storage body is over ``MAX_PAGE_BYTES``; it is skipped, not read."""


class PageReader:
    """Builds documents for one source during one scan (it caches user names)."""

    def __init__(
        self,
        source: str,
        client: ConfluenceClient,
        *,
        cloud: bool,
        convert: Callable[..., str],
    ) -> None:
        self.source, self.client, self.cloud, self.convert = source, client, cloud, convert
        self.names: dict[str, str | None] = {}
        self.lookups = 0
        self.lookup_failures = 0

    @staticmethod
    def labels(page: dict[str, Any]) -> list[str]:
        """Label names from ``metadata.labels`` (a LabelArray, or a bare list)."""
        raw = (page.get("metadata") or {}).get("labels") or []
        items = raw.get("results", []) if isinstance(raw, dict) else raw
        return [str(i.get("name") or i.get("label")) for i in items if isinstance(i, dict)]

    def document(self, page: dict[str, Any], site: str, access: Access = PUBLIC) -> Document:
        """The page as a Document; raises if it has no storage body or cannot convert."""
        page_id = str(page["id"])
        version = page.get("version") or {}
        author = version.get("by") or {}
        self._remember(author)
        storage = ((page.get("body") or {}).get("storage") or {}).get("value")
        if not isinstance(storage, str):
            raise ValueError("the response carries no storage-format body")
        size = len(storage.encode("utf-8", "surrogatepass"))
        if size > MAX_PAGE_BYTES:
            raise PageTooLarge(
                f"the page body is {size:,} bytes, over the {MAX_PAGE_BYTES:,}-byte limit for "
                "a Confluence page; split the page to have it indexed"
            )
        space_key = (page.get("space") or {}).get("key")

        def page_url(space: str | None, title: str) -> str | None:
            key = space or space_key
            return f"{site}/display/{quote(key, safe='~')}/{quote_plus(title)}" if key else None

        body = self.convert(storage, page_url=page_url, user_name=self.user_name)
        webui = (page.get("_links") or {}).get("webui")
        url = site + webui if webui else f"{site}/pages/viewpage.action?pageId={page_id}"
        ancestors = page.get("ancestors") or []
        number = version.get("number")
        return Document(
            source=self.source,
            doc_id=page_id,
            title=str(page.get("title") or page_id),
            url=url,
            body=body,
            updated_at=_parse_time(version.get("when")),
            author=_display_name(author),
            breadcrumbs=tuple(str(a["title"]) for a in ancestors if a.get("title")),
            tags=tuple(self.labels(page)),
            version=str(number) if number is not None else None,
            space=str(space_key) if space_key else None,
            access=access,
        )

    def _remember(self, user: dict[str, Any]) -> None:
        name = _display_name(user)
        if name:
            for key in ("accountId", "userKey", "username"):
                if user.get(key):
                    self.names[str(user[key])] = name

    def user_name(self, key: str) -> str | None:
        """Display name for an account id / user key, for ``@mentions``."""
        if key in self.names:
            return self.names[key]
        if self.lookups >= MAX_USER_LOOKUPS or self.lookup_failures >= MAX_LOOKUP_FAILURES:
            return None
        self.lookups += 1
        params = {"accountId": key} if self.cloud else {"key": key}
        try:
            user = self.client.get("/rest/api/user", params, retries=False)
        except SourceError as exc:
            self.lookup_failures += 1
            log.debug("cannot look up Confluence user %s: %s", key, exc)
            self.names[key] = None
            return None
        self.names[key] = _display_name(user)
        return self.names[key]


def _display_name(user: dict[str, Any]) -> str | None:
    for key in ("displayName", "publicName", "username"):
        if user.get(key):
            return str(user[key])
    return None


def _parse_time(value: Any) -> datetime | None:
    """``version.when``: ISO 8601 with ``Z`` (Cloud) or an offset (Data Center)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
