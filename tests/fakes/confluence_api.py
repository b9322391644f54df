"""The fake Confluence's endpoints: request in, (status, JSON, content ids) out.

Split from ``confluence_server`` so the state and plumbing (pages, faults, recording,
HTTP) and the API's behaviour (routing, CQL search, paging, page-size caps) can each
be read on one screen. Every function takes the ``FakeConfluence`` whose data it
serves; ``route`` holds ``fake.lock`` while it reads that data.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from tests.fakes import confluence_cql as cql
from tests.fakes.confluence_shapes import (
    DEFAULT_USER,
    FakePage,
    FakeUser,
    anonymous_user_json,
    content_json,
    error_json,
    restriction_json,
    space_json,
    space_permissions_json,
    user_json,
)

if TYPE_CHECKING:
    from tests.fakes.confluence_server import FakeConfluence

BODY_LIMIT, EXPAND_LIMIT, PLAIN_LIMIT, DEFAULT_LIMIT = 50, 200, 1000, 25


def authorised(fake: FakeConfluence, headers: Mapping[str, str]) -> bool:
    if fake.cloud:
        pair = f"{fake.email}:{fake.api_token}".encode()
        return headers.get("authorization") == "Basic " + base64.b64encode(pair).decode()
    return headers.get("authorization") == f"Bearer {fake.token}"


def route(
    fake: FakeConfluence, path: str, params: dict[str, str], headers: Mapping[str, str]
) -> tuple[int, Any, tuple[str, ...]]:
    anonymous = not authorised(fake, headers)
    if anonymous and not (fake.anonymous_access and not fake.cloud):
        return 401, error_json(401, "Client must be authenticated to access this resource."), ()
    with fake.lock:
        if path == "/rest/api/user/current":
            if anonymous:
                return 200, anonymous_user_json(), ()
            body = user_json(DEFAULT_USER, fake.cloud, fake.base_url)
            if fake.report_time_zone:
                body["timeZone"] = fake.time_zone
            return 200, body, ()
        if path == "/rest/api/user":
            wanted = params.get("accountId") or params.get("key") or params.get("username")
            user = next((u for u in fake.data.users.values() if wanted in (u.id, u.username)), None)
            if user is None or anonymous:
                return 404, error_json(404, f"No user found: {wanted}"), ()
            return 200, user_json(user, fake.cloud, fake.base_url), ()
        if path.startswith("/rest/api/space/") and path.count("/") == 4:
            key = path.rsplit("/", 1)[1]
            space = None if anonymous else fake.data.spaces.get(key)
            if space is None:
                return 404, error_json(404, f"No space with key : {key}"), ()
            body = space_json(key, space["name"], space["id"], fake.base_url, space["status"])
            if "permissions" in _expand(params) and space["permissions_visible"]:
                body["permissions"] = space_permissions_json(
                    space, cloud=fake.cloud, base=fake.base_url, users=fake.data.users
                )
                body["_expandable"].pop("permissions", None)
            return 200, body, ()
        if path.endswith("/restriction/byOperation/read") and path.count("/") == 7:
            page = fake.data.pages.get(path.split("/")[4])
            if page is None or anonymous or page.status != "current":
                return 404, error_json(404, "No content found with id"), ()
            body = restriction_json(
                page, cloud=fake.cloud, base=fake.base_url, users=fake.data.users
            )
            return 200, body, ()
        group = _group_of(fake, path, params)
        if group is not None:
            return members(fake, path, params, group)
        if path in ("/rest/api/content/search", "/rest/api/search"):
            return search(fake, path, params, anonymous)
        if path.startswith("/rest/api/content/") and path.count("/") == 4:
            page = fake.data.pages.get(path.rsplit("/", 1)[1])
            visible = ("current",) if params.get("status") in (None, "current") else ()
            if page is None or anonymous or (visible and page.status not in visible):
                return 404, error_json(404, "No content found with id"), ()
            return 200, content(fake, page, _expand(params)), (page.id,)
    return 404, error_json(404, f"null for uri: {path}"), ()


def _group_of(fake: FakeConfluence, path: str, params: Mapping[str, str]) -> str | None:
    """The group a members request is for: Cloud ``group/member?name=``, Data Center
    ``group/{name}/member``; None for other paths."""
    if fake.cloud and path == "/rest/api/group/member":
        return params.get("name", "")
    if not fake.cloud and path.startswith("/rest/api/group/") and path.endswith("/member"):
        return unquote(path.split("/")[4])
    return None


def members(
    fake: FakeConfluence, path: str, params: dict[str, str], group: str
) -> tuple[int, Any, tuple[str, ...]]:
    """A group's members, paged like other v1 listings (``start``/``limit``)."""
    if group in fake.data.hidden_groups:
        return 403, error_json(403, "User is not permitted to view group members"), ()
    if group not in fake.data.groups:
        return 404, error_json(404, f"No group found with name: {group}"), ()
    ids = fake.data.groups[group]
    limit = min(int(params.get("limit", DEFAULT_LIMIT)), EXPAND_LIMIT)
    start = int(params.get("start", 0))
    window = ids[start : start + limit]
    results = [
        user_json(fake.data.users.get(u) or FakeUser(u, u), fake.cloud, fake.base_url)
        for u in window
    ]
    links: dict[str, str] = {"base": fake.base_url, "context": fake.context}
    if start + limit < len(ids):
        links["next"] = f"{path}?{urlencode({**params, 'start': start + limit, 'limit': limit})}"
    body = {"results": results, "start": start, "limit": limit, "size": len(window)}
    return 200, {**body, "_links": links}, ()


def matching(fake: FakeConfluence, query: cql.Query) -> list[FakePage]:
    rows = []
    for page in fake.data.pages.values():
        space = fake.data.spaces.get(page.space, {})
        if page.status != "current" or space.get("status") != "current":
            continue
        row = {
            "type": "page",
            "space": page.space,
            "id": page.id,
            "title": page.title,
            "label": page.labels,
            "ancestor": page.ancestors,
            "parent": page.ancestors[-1] if page.ancestors else "",
            "lastmodified": page.when,
            "created": page.created,
        }
        if query.match(row):
            rows.append((row, page))
    for name, descending in reversed(query.order):  # stable sort, last key first
        rows.sort(key=lambda item, n=name: item[0].get(n, ""), reverse=descending)  # type: ignore[misc]
    return [page for _, page in rows]


def search(
    fake: FakeConfluence, path: str, params: dict[str, str], anonymous: bool
) -> tuple[int, Any, tuple[str, ...]]:
    try:
        found = [] if anonymous else matching(fake, cql.parse(params.get("cql", ""), fake.zone))
    except cql.CQLError as exc:
        return 400, error_json(400, str(exc)), ()
    expand = _expand(params)
    cap = BODY_LIMIT if any(e.startswith("body") for e in expand) else PLAIN_LIMIT
    cap = EXPAND_LIMIT if expand and cap == PLAIN_LIMIT else cap
    try:
        limit = min(int(params.get("limit", DEFAULT_LIMIT)), cap)
        cursor = params.get("cursor")
        start = int(_decode_cursor(cursor) if cursor else params.get("start", 0))
    except ValueError:
        return 400, error_json(400, "limit, start and cursor must be numbers"), ()
    window = found[start : start + max(limit, 0)]
    links: dict[str, str] = {"base": fake.base_url, "context": fake.context}
    links["self"] = f"{fake.base_url}{path}?{urlencode(params)}"
    if start + limit < len(found) and limit > 0:
        follow = {k: v for k, v in params.items() if k not in ("start", "cursor")}
        follow["limit"] = str(limit)
        if fake.cloud:
            follow["cursor"] = _encode_cursor(start + limit)
        else:
            follow["start"] = str(start + limit)
        links["next"] = f"{path}?{urlencode(follow)}"
    body: dict[str, Any] = {"results": [], "start": start, "limit": limit, "size": len(window)}
    for page in window:
        item = content(fake, page, expand)
        if path == "/rest/api/search":
            item = {
                "content": item,
                "title": page.title,
                "url": item["_links"]["webui"],
                "entityType": "content",
                "lastModified": page.when.isoformat(),
            }
        body["results"].append(item)
    if path == "/rest/api/search":
        body.update(totalSize=len(found), cqlQuery=params.get("cql", ""), searchDuration=3)
    body["_links"] = links
    return 200, body, tuple(p.id for p in window)


def content(fake: FakeConfluence, page: FakePage, expand: set[str]) -> dict[str, Any]:
    names = {k: v["name"] for k, v in fake.data.spaces.items()}
    return content_json(
        page,
        expand,
        cloud=fake.cloud,
        base=fake.base_url,
        zone=fake.zone,
        pages=fake.data.pages,
        users=fake.data.users,
        space_names=names,
    )


def _expand(params: Mapping[str, str]) -> set[str]:
    return {e.strip() for e in params.get("expand", "").split(",") if e.strip()}


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    return raw.removeprefix("offset:")
