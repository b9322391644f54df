"""HTTP for the Confluence source: auth, retries, ``_links.next`` paging, error translation.

Everything that can go wrong on the wire is turned into docbot's own errors here, so
``confluence.py`` deals only in pages:

- 401/403                 -> ``SourceError`` naming the credential variables
- 404 (and other 4xx)     -> ``SourceError`` (the caller may name what was missing)
- 429, 5xx, network error -> retried (``Retry-After`` honoured, else exponential
                             backoff with jitter, bounded), then ``SourceUnavailable``
- a non-JSON 200 or a 3xx -> ``SourceError`` saying the URL is probably wrong

Messages name the site and the API path only: never a header, a token or a
password embedded in a URL.

Paging follows ``_links.next`` exactly as the server wrote it (Cloud puts an opaque
cursor there, Data Center ``start``/``limit``), never computing offsets itself. The
link is resolved against *our* configured base URL, not ``_links.base``: the server's
idea of its own address (its "Server Base URL") may be a public name the bot cannot
reach, and credentials must never be sent to a host taken from a response.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ingest.errors import SourceError, SourceUnavailable

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
CREDENTIALS_REJECTED = (
    "Confluence rejected the credentials (check CONFLUENCE_EMAIL and CONFLUENCE_API_TOKEN "
    "/ CONFLUENCE_TOKEN)"
)

Params = Mapping[str, str | int]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before calling Confluence unavailable.

    Five attempts with waits of about 1, 2, 4, 8 s (each between half and all of its
    exponential step), or what ``Retry-After`` asks for; at most ``max_total``
    seconds of waiting per request, so one sync never hangs for long on a sick site.
    """

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_total: float = 180.0

    def backoff(self, retry: int, rng: Callable[[], float]) -> float:
        """Wait before retry number ``retry`` (0-based): "equal jitter" backoff."""
        step = min(self.max_delay, self.base_delay * 2**retry)
        return step / 2 + rng() * step / 2


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def redact_url(url: str) -> str:
    """``url`` without any ``user:password@`` part, for messages and logs."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


class BearerAuth(httpx.Auth):
    """Data Center personal access token: ``Authorization: Bearer <PAT>``, no user name."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class ConfluenceClient:
    """A synchronous client for one Confluence site's REST API v1.

    ``base_url`` is the site including its context path (``https://x.atlassian.net/wiki``,
    ``https://host/confluence``); API paths (``/rest/api/...``) are appended to it.
    ``sleep`` and ``rng`` are injectable so tests exercise retries without waiting.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.site = redact_url(self.base_url)
        self.context = urlsplit(self.base_url).path.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._sleep, self._rng = sleep, rng
        self._http = httpx.Client(
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "docbot"},
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ConfluenceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ---------------------------------------------------------------------
    def get(
        self,
        path: str,
        params: Params | None = None,
        *,
        not_found: Callable[[], SourceError] | None = None,
        forbidden: Callable[[], SourceError] | None = None,
        retries: bool = True,
    ) -> dict[str, Any]:
        """GET an API path (or a resolved ``next`` URL) and return its JSON object.

        ``not_found`` / ``forbidden`` build the error for a 404 / 403 where those mean
        "not there" or "not yours to see" rather than a wrong site or bad credentials."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        api_path = urlsplit(url).path
        response = self._send(url, params, api_path, retries)
        status = response.status_code
        if status == 403 and forbidden is not None:
            raise forbidden()
        if status in (401, 403):
            raise SourceError(CREDENTIALS_REJECTED)
        if status == 404:
            if not_found is not None:
                raise not_found()
            raise SourceError(
                f"Confluence at {self.site} has no {api_path} (HTTP 404); check the source's "
                "url (a Cloud site's URL ends in /wiki)"
            )
        if 300 <= status < 400:
            target = redact_url(response.headers.get("Location", "another address"))
            raise SourceError(
                f"Confluence at {self.site} redirected {api_path} to {target}; set the "
                "source's url to the address Confluence really serves"
            )
        if status >= 400:
            detail = _server_message(response)
            raise SourceError(
                f"Confluence refused {api_path} (HTTP {status})" + (f": {detail}" if detail else "")
            )
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            kind = response.headers.get("Content-Type", "unknown").split(";")[0]
            raise SourceError(
                f"Confluence at {self.site} answered {api_path} with {kind}, not JSON; check "
                "the source's url (a Cloud site's URL ends in /wiki)"
            )
        return data

    def _send(
        self, url: str, params: Params | None, api_path: str, retries: bool
    ) -> httpx.Response:
        """One GET with retries for 429, 5xx and network errors."""
        attempts = self.retry.attempts if retries else 1
        waited = 0.0
        for attempt in range(1, attempts + 1):
            delay: float | None = None
            try:
                response = self._http.get(url, params=params)
            except httpx.TransportError as exc:
                problem = f"cannot reach Confluence at {self.site} ({_describe(exc)})"
            else:
                status = response.status_code
                if status != 429 and status < 500:
                    return response
                problem = f"Confluence answered HTTP {status} for {api_path}"
                delay = parse_retry_after(response.headers.get("Retry-After"))
            if attempt == attempts:
                break
            if delay is None:
                delay = self.retry.backoff(attempt - 1, self._rng)
            if waited + delay > self.retry.max_total:
                problem += f" and asked to wait {delay:.0f} s more"
                break
            log.info("%s; retry %d of %d in %.1f s", problem, attempt, attempts - 1, delay)
            self._sleep(delay)
            waited += delay
        raise SourceUnavailable(
            f"{problem} (tried {attempt} time{'s' if attempt > 1 else ''}); what was synced "
            "before is kept and the next sync will try again"
        )

    # -- paging -----------------------------------------------------------------------
    def paginate(
        self,
        path: str,
        params: Params,
        *,
        not_found: Callable[[], SourceError] | None = None,
        forbidden: Callable[[], SourceError] | None = None,
    ) -> Iterator[tuple[list[Any], Mapping[str, Any]]]:
        """Yield ``(results, _links)`` for every page of a listing, following ``next``."""
        url: str = path
        query: Params | None = params
        seen: set[str] = set()
        while True:
            data = self.get(url, query, not_found=not_found, forbidden=forbidden)
            results = data.get("results") or []
            links = data.get("_links") or {}
            yield results, links
            following = links.get("next")
            if not following or not results:
                return
            url, query = self.resolve(str(following)), None
            if url in seen:  # a server bug would otherwise loop for ever
                raise SourceError(f"Confluence at {self.site} sent the same next link twice: {url}")
            seen.add(url)

    def resolve(self, link: str) -> str:
        """An absolute URL on our site for a ``_links.next`` value.

        Relative links are relative to the site base (context path included); some
        servers repeat the context path in them, which is dropped here. An absolute link
        keeps only its path and query, re-rooted on our base URL.
        """
        if link.startswith(("http://", "https://")):
            parts = urlsplit(link)
            link = parts.path + (f"?{parts.query}" if parts.query else "")
        if not link.startswith("/"):
            link = "/" + link
        if self.context and link.startswith(self.context + "/rest/"):
            link = link[len(self.context) :]
        return self.base_url + link


def _describe(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection failed"
    return type(exc).__name__


def _server_message(response: httpx.Response) -> str:
    """The ``message`` of a v1 error body, shortened; never the request itself."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return str(message)[:300] if message else ""
