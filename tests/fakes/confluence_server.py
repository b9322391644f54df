"""A local fake of the Confluence REST API v1, for driving the real Confluence source.

Why a real HTTP server rather than a patched client: the bugs worth catching are in
the wire protocol (auth headers, a ``/wiki`` context path, ``_links.next`` pagination,
``Retry-After``, CQL text, the server's page-size caps), so tests point the source at
``http://127.0.0.1:<ephemeral port>`` and assert on what this fake recorded.

It speaks the v1 endpoints the source uses, in both flavours:

- Cloud (``cloud=True``): context path ``/wiki``, HTTP Basic ``email:api_token``,
  cursor pagination on search, ``timeZone`` in ``user/current``, times in UTC.
- Data Center (``cloud=False``): any context path (default none), ``Bearer <PAT>``,
  ``start``/``limit`` pagination, server-local times; with ``anonymous_access`` a bad
  token silently runs as the anonymous user (CONFSERVER-98199) instead of a 401.

Endpoints: ``user/current``, ``user``, ``space/{key}``, ``content/search``, ``search``,
``content/{id}``. Search honours ``limit`` up to the real caps (50 with a body
expanded, 200 with other expansions, 1000 with none) and skips trashed pages and
archived spaces, as CQL does. Date literals are read in ``time_zone``.

Usage::

    with FakeConfluence(cloud=True) as wiki:
        wiki.add_page("ENG", "101", "VPN", "<p>Use the VPN.</p>")
        wiki.fail_next(429, retry_after=3)
        ...  # sync a ConfluenceSource pointed at wiki.base_url
        assert wiki.search_requests()[0].params["cql"].startswith("type = page")
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from tests.fakes import confluence_api as api
from tests.fakes import confluence_cql as cql
from tests.fakes.confluence_shapes import (
    DEFAULT_USER,
    FakePage,
    FakeUser,
    error_json,
)


@dataclass(frozen=True)
class Fault:
    """A scripted error answer, consumed by the first request (to ``path``) it matches."""

    status: int
    retry_after: float | str | None = None  # seconds, or an HTTP date string
    path: str | None = None  # API path without the context, e.g. "/rest/api/content/search"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it, and what it answered."""

    method: str
    path: str  # as sent, with the context path
    api_path: str  # without the context path
    query: str
    params: Mapping[str, str]
    headers: Mapping[str, str]  # lower-cased names
    status: int
    fault: Fault | None = None
    returned: tuple[str, ...] = ()  # content ids in the answer, in order


@dataclass
class _Data:
    spaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    pages: dict[str, FakePage] = field(default_factory=dict)
    users: dict[str, FakeUser] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)  # name -> user ids
    hidden_groups: set[str] = field(default_factory=set)  # listing members answers 403


class FakeConfluence:
    """A fake Confluence on ``127.0.0.1:<ephemeral port>``, served from a background thread."""

    def __init__(
        self,
        *,
        cloud: bool = True,
        context: str | None = None,
        email: str = "bot@example.com",
        api_token: str = "cloud-api-token",
        token: str = "dc-personal-token",
        time_zone: str = "UTC",
        report_time_zone: bool | None = None,
        anonymous_access: bool = False,
    ) -> None:
        self.cloud = cloud
        self.context = ("/wiki" if cloud else "") if context is None else context.rstrip("/")
        self.email, self.api_token, self.token = email, api_token, token
        self.zone = ZoneInfo(time_zone)
        self.time_zone = time_zone
        self.report_time_zone = cloud if report_time_zone is None else report_time_zone
        self.anonymous_access = anonymous_access
        self.lock = threading.RLock()
        self.data = _Data(users={DEFAULT_USER.id: DEFAULT_USER})
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self.errors: list[BaseException] = []
        self._httpd: _Server | None = None

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> Self:
        self._httpd = _Server(self)
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no context path)."""
        assert self._httpd is not None, "FakeConfluence is not running"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """The site URL a source is configured with (``.../wiki`` on Cloud)."""
        return self.url + self.context

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    # -- content --------------------------------------------------------------------
    def add_space(self, key: str, name: str | None = None, *, status: str = "current") -> None:
        with self.lock:
            space_id = 100 + len(self.data.spaces)
            space = {
                "name": name or f"{key} space",
                "id": space_id,
                "status": status,
                "read_users": [],
                "read_groups": ["confluence-users"],
                "anonymous": False,
                "permissions_visible": True,
            }
            self.data.spaces[key] = space

    def set_space_readers(
        self,
        key: str,
        *,
        users: list[str] | None = None,
        groups: list[str] | None = None,
        anonymous: bool | None = None,
        visible: bool | None = None,
    ) -> None:
        """Who may view a space (default: the ``confluence-users`` group); ``visible``
        False hides the permissions from docbot's credential, as for a non-admin."""
        with self.lock:
            if key not in self.data.spaces:
                self.add_space(key)
            space = self.data.spaces[key]
            for field_name, value in (
                ("read_users", users),
                ("read_groups", groups),
                ("anonymous", anonymous),
                ("permissions_visible", visible),
            ):
                if value is not None:
                    space[field_name] = value

    def add_user(self, user_id: str, name: str, username: str = "", email: str = "") -> None:
        with self.lock:
            self.data.users[user_id] = FakeUser(user_id, name, username, email)

    def add_group(self, name: str, members: list[str], *, hidden: bool = False) -> None:
        """A group of user ids; ``hidden``: listing its members is forbidden (403)."""
        with self.lock:
            self.data.groups[name] = list(members)
            if hidden:
                self.data.hidden_groups.add(name)

    def restrict_page(
        self, page_id: str, *, users: list[str] | None = None, groups: list[str] | None = None
    ) -> None:
        """Set a page's view restriction (empty lists lift it). Like Confluence, this does
        not change the page's version or ``lastmodified``."""
        with self.lock:
            page = self.data.pages[page_id]
            page.read_users = list(users or [])
            page.read_groups = list(groups or [])

    def add_page(
        self,
        space: str,
        page_id: str,
        title: str,
        storage_body: str,
        *,
        ancestors: tuple[str, ...] | list[str] = (),
        labels: tuple[str, ...] | list[str] = (),
        when: datetime | None = None,
        author: str | None = None,
    ) -> FakePage:
        """Create a page (and its space if new); ``ancestors`` are page ids, root first."""
        with self.lock:
            if space not in self.data.spaces:
                self.add_space(space)
            moment = when or self.now()
            page = FakePage(
                page_id,
                space,
                title,
                storage_body,
                list(ancestors),
                list(labels),
                when=moment,
                created=moment,
                author=author or DEFAULT_USER.id,
            )
            self.data.pages[page_id] = page
            return page

    def edit_page(
        self,
        page_id: str,
        *,
        body: str | None = None,
        title: str | None = None,
        labels: tuple[str, ...] | list[str] | None = None,
        when: datetime | None = None,
        author: str | None = None,
    ) -> FakePage:
        """A new version: bumps the number and ``lastmodified`` (now, unless ``when``)."""
        with self.lock:
            page = self.data.pages[page_id]
            page.body = page.body if body is None else body
            page.title = page.title if title is None else title
            page.labels = page.labels if labels is None else list(labels)
            page.author = author or page.author
            page.version += 1
            page.when = when or self.now()
            return page

    def trash_page(self, page_id: str) -> None:
        with self.lock:
            self.data.pages[page_id].status = "trashed"

    def delete_page(self, page_id: str) -> None:
        """Purge: the page is gone for good (404)."""
        with self.lock:
            del self.data.pages[page_id]

    def move_page(
        self, page_id: str, *, space: str | None = None, ancestors: list[str] | None = None
    ) -> None:
        """Move a page to another space and/or parent. Moving does not touch lastmodified."""
        with self.lock:
            page = self.data.pages[page_id]
            if space is not None:
                if space not in self.data.spaces:
                    self.add_space(space)
                page.space = space
            if ancestors is not None:
                page.ancestors = list(ancestors)

    def query_ids(self, query: str) -> list[str]:
        """The ids a CQL query matches now (to check what a client should have seen)."""
        with self.lock:
            return [p.id for p in api.matching(self, cql.parse(query, self.zone))]

    # -- faults and recording ---------------------------------------------------------
    def fail_next(
        self,
        status: int = 503,
        *,
        retry_after: float | str | None = None,
        times: int = 1,
        path: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests (to ``path``) with ``status``."""
        with self.lock:
            self._faults.extend([Fault(status, retry_after, path)] * times)

    @property
    def pending_faults(self) -> list[Fault]:
        with self.lock:
            return list(self._faults)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.lock:
            return list(self._requests)

    def requests_to(self, api_path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.api_path == api_path]

    def search_requests(self) -> list[RecordedRequest]:
        return self.requests_to("/rest/api/content/search")

    def cqls(self) -> list[str]:
        return [r.params.get("cql", "") for r in self.search_requests()]

    def clear(self) -> None:
        with self.lock:
            self._requests.clear()
            self._faults.clear()

    # -- request handling (pure apart from recording) -----------------------------------
    def handle(
        self, method: str, target: str, headers: Mapping[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body or text, extra headers) for one request; records it."""
        parts = urlsplit(target)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        inside = parts.path.startswith(self.context + "/")
        api_path = parts.path[len(self.context) :] if inside else ""
        with self.lock:
            fault = next((f for f in self._faults if f.path in (None, api_path)), None)
            if fault is not None:
                self._faults.remove(fault)
        returned: tuple[str, ...] = ()
        extra: dict[str, str] = {}
        if fault is not None:
            status, body = fault.status, error_json(fault.status, "Injected fault")
            if fault.retry_after is not None:
                extra["Retry-After"] = str(fault.retry_after)
        elif not api_path:
            status, body = 404, "<html><body>Page not found</body></html>"
        elif method != "GET":
            status, body = 405, error_json(405, "Method not allowed")
        else:
            status, body, returned = api.route(self, api_path, params, headers)
        with self.lock:
            self._requests.append(
                RecordedRequest(
                    method,
                    parts.path,
                    api_path,
                    parts.query,
                    params,
                    dict(headers),
                    status,
                    fault,
                    returned,
                )
            )
        return status, body, extra


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, fake: FakeConfluence) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10.0
    # One write per response and TCP_NODELAY: headers and body sent separately would
    # meet the client's delayed ACK and cost ~40 ms a request.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: ``FakeConfluence.requests`` is the record."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake = self.server.fake
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, body, extra = fake.handle(self.command, self.path, headers)
        except Exception as exc:  # a fake's bug must fail the test, visibly
            fake.errors.append(exc)
            status, body, extra = 500, error_json(500, f"fake server error: {exc!r}"), {}
        if isinstance(body, str):
            raw, kind = body.encode(), "text/html;charset=UTF-8"
        else:
            raw, kind = json.dumps(body).encode(), "application/json;charset=UTF-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(raw)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)
