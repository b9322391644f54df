"""JSON bodies as Confluence REST API v1 writes them, for the fake server.

Field names, nesting and ``_expandable`` / ``_links`` follow the real responses in
``../shared/data/confluence/api_v1/`` (anonymised Cloud captures) and the v1 OpenAPI
spec: a page lists what it did not expand under ``_expandable``; ``webui`` links are
relative to ``_links.base``; Cloud users carry ``accountId``, Data Center users
``username``/``userKey``; Cloud times end in ``Z``, Data Center times carry the
server's UTC offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import quote_plus


@dataclass
class FakeUser:
    id: str  # accountId on Cloud, userKey on Data Center
    name: str  # display name
    username: str = ""
    email: str = ""  # Cloud shows it only when the user allows (often empty)


DEFAULT_USER = FakeUser("557058:bot", "Docs Bot", "docbot")
"""The user the fake's credentials belong to (``user/current``)."""


@dataclass
class FakePage:
    id: str
    space: str
    title: str
    body: str
    ancestors: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    version: int = 1
    when: datetime = field(default_factory=lambda: datetime.now(UTC))
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    author: str = ""
    status: str = "current"
    read_users: list[str] = field(default_factory=list)  # user ids in the view restriction
    read_groups: list[str] = field(default_factory=list)  # group names in it


def iso(moment: datetime, cloud: bool, zone: tzinfo) -> str:
    """Cloud: ``2024-01-01T09:00:00.000Z``; Data Center: local time with its offset."""
    if cloud:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
            f"{moment.microsecond // 1000:03d}Z"
        )
    return moment.astimezone(zone).isoformat(timespec="milliseconds")


def user_json(user: FakeUser, cloud: bool, base: str) -> dict[str, Any]:
    if cloud:
        return {
            "type": "known",
            "accountId": user.id,
            "accountType": "atlassian",
            "email": user.email,
            "publicName": user.name,
            "profilePicture": {
                "path": f"/wiki/aa-avatar/{user.id}",
                "width": 48,
                "height": 48,
                "isDefault": False,
            },
            "displayName": user.name,
            "isExternalCollaborator": False,
            "_expandable": {"operations": "", "personalSpace": ""},
            "_links": {"self": f"{base}/rest/api/user?accountId={user.id}"},
        }
    return {
        "type": "known",
        "username": user.username or user.id,
        "userKey": user.id,
        "profilePicture": {
            "path": "/images/icons/profilepics/default.svg",
            "width": 48,
            "height": 48,
            "isDefault": True,
        },
        "displayName": user.name,
        "_links": {"self": f"{base}/rest/api/user?key={user.id}"},
        "_expandable": {"status": ""},
    }


def anonymous_user_json() -> dict[str, Any]:
    """What Data Center answers for ``user/current`` when a bad token falls back to anonymous."""
    return {
        "type": "anonymous",
        "profilePicture": {
            "path": "/images/icons/profilepics/anonymous.svg",
            "width": 48,
            "height": 48,
            "isDefault": True,
        },
        "displayName": "Anonymous",
        "_links": {},
    }


def space_json(key: str, name: str, space_id: int, base: str, status: str) -> dict[str, Any]:
    return {
        "id": space_id,
        "key": key,
        "alias": key,
        "name": name,
        "type": "global",
        "status": status,
        "_expandable": {
            "settings": f"/rest/api/space/{key}/settings",
            "metadata": "",
            "operations": "",
            "lookAndFeel": f"/rest/api/settings/lookandfeel?spaceKey={key}",
            "identifiers": "",
            "permissions": "",
            "icon": "",
            "description": "",
            "theme": f"/rest/api/space/{key}/theme",
            "history": "",
            "homepage": "",
        },
        "_links": {"webui": f"/spaces/{key}", "self": f"{base}/rest/api/space/{key}"},
    }


def webui(page: FakePage, cloud: bool) -> str:
    if cloud:
        return f"/spaces/{page.space}/pages/{page.id}/{quote_plus(page.title)}"
    return f"/display/{page.space}/{quote_plus(page.title)}"


def page_links(page: FakePage, cloud: bool, base: str) -> dict[str, str]:
    return {
        "webui": webui(page, cloud),
        "edit": f"/pages/resumedraft.action?draftId={page.id}",
        "tinyui": f"/x/{page.id}",
        "self": f"{base}/rest/api/content/{page.id}",
    }


_ALL_EXPANDABLE = (
    "childTypes",
    "container",
    "metadata",
    "operations",
    "children",
    "restrictions",
    "history",
    "ancestors",
    "body",
    "version",
    "descendants",
    "space",
)


def content_json(
    page: FakePage,
    expand: set[str],
    *,
    cloud: bool,
    base: str,
    zone: tzinfo,
    pages: dict[str, FakePage],
    users: dict[str, FakeUser],
    space_names: dict[str, str],
) -> dict[str, Any]:
    """One page, with exactly the parts ``expand`` asked for."""
    out: dict[str, Any] = {"id": page.id, "type": "page", "status": page.status}
    out["title"] = page.title
    tops = {e.split(".", 1)[0] for e in expand}
    if "space" in tops:
        name = space_names.get(page.space, page.space)
        out["space"] = space_json(page.space, name, 1, base, "current")
    if "version" in tops:
        author = users.get(page.author) or FakeUser(page.author or "unknown", "Unknown user")
        out["version"] = {
            "by": user_json(author, cloud, base),
            "when": iso(page.when, cloud, zone),
            "friendlyWhen": page.when.strftime("%b %d, %Y"),
            "message": "",
            "number": page.version,
            "minorEdit": False,
            "_expandable": {"collaborators": "", "content": f"/rest/api/content/{page.id}"},
            "_links": {"self": f"{base}/rest/api/content/{page.id}/version/{page.version}"},
        }
    if "ancestors" in tops:
        out["ancestors"] = [
            {
                "id": pages[a].id,
                "type": "page",
                "status": pages[a].status,
                "title": pages[a].title,
                "_links": page_links(pages[a], cloud, base),
                "_expandable": {"container": f"/rest/api/space/{pages[a].space}"},
            }
            for a in page.ancestors
            if a in pages
        ]
    if "body" in tops:
        storage = {
            "value": page.body,
            "representation": "storage",
            "embeddedContent": [],
            "_expandable": {"content": f"/rest/api/content/{page.id}"},
        }
        out["body"] = {"storage": storage, "_expandable": {"view": "", "export_view": ""}}
    if "metadata" in tops:
        labels = [
            {"prefix": "global", "name": name, "id": str(1000 + i), "label": name}
            for i, name in enumerate(page.labels)
        ]
        out["metadata"] = {
            "labels": {"results": labels, "start": 0, "limit": 200, "size": len(labels)},
            "_expandable": {"currentuser": "", "properties": "", "frontend": ""},
        }
    if "restrictions" in tops:
        out["restrictions"] = {
            "read": restriction_json(page, cloud=cloud, base=base, users=users),
            "update": {
                "operation": "update",
                "restrictions": {"user": {"results": [], "size": 0}, "group": {"results": []}},
            },
        }
    out["extensions"] = {"position": int(page.id) if page.id.isdigit() else 0}
    out["_expandable"] = {k: "" for k in _ALL_EXPANDABLE if k not in tops}
    out["_links"] = page_links(page, cloud, base)
    return out


def group_json(name: str, base: str) -> dict[str, Any]:
    return {
        "type": "group",
        "name": name,
        "id": f"gid-{name}",
        "_links": {"self": f"{base}/rest/api/group/{name}"},
    }


def restriction_json(
    page: FakePage, *, cloud: bool, base: str, users: dict[str, FakeUser]
) -> dict[str, Any]:
    """A ``ContentRestriction`` for the read operation, users and groups expanded."""
    people = [user_json(users.get(u) or FakeUser(u, u), cloud, base) for u in page.read_users]
    groups = [group_json(g, base) for g in page.read_groups]
    return {
        "operation": "read",
        "restrictions": {
            "user": {"results": people, "start": 0, "limit": 200, "size": len(people)},
            "group": {"results": groups, "start": 0, "limit": 200, "size": len(groups)},
        },
        "_expandable": {"content": f"/rest/api/content/{page.id}"},
        "_links": {"self": f"{base}/rest/api/content/{page.id}/restriction/byOperation/read"},
    }


def space_permissions_json(
    space: dict[str, Any], *, cloud: bool, base: str, users: dict[str, FakeUser]
) -> list[dict[str, Any]]:
    """``permissions`` of ``space/{key}?expand=permissions``: one read grant (with its
    users, groups and anonymous access) plus an unrelated one, as Cloud lists them."""
    people = [user_json(users.get(u) or FakeUser(u, u), cloud, base) for u in space["read_users"]]
    groups = [group_json(g, base) for g in space["read_groups"]]
    return [
        {
            "id": 1,
            "subjects": {
                "user": {"results": people, "size": len(people)},
                "group": {"results": groups, "size": len(groups)},
            },
            "operation": {"operation": "read", "targetType": "space"},
            "anonymousAccess": space["anonymous"],
            "unlicensedAccess": False,
        },
        {
            "id": 2,
            "subjects": {"group": {"results": groups[:1], "size": len(groups[:1])}},
            "operation": {"operation": "create", "targetType": "page"},
            "anonymousAccess": False,
            "unlicensedAccess": False,
        },
    ]


def error_json(status: int, message: str) -> dict[str, Any]:
    """The v1 error body (``statusCode``, ``data``, ``message``)."""
    return {
        "statusCode": status,
        "data": {
            "authorized": status not in (401, 403),
            "valid": True,
            "errors": [],
            "successful": False,
        },
        "message": message,
    }
