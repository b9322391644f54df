"""Who may read each Confluence page: its own view restrictions, its ancestors', its space's.

Confluence's view restrictions are inherited and cumulative: to see a page, a user
must pass the page's own read restriction (if it has one) *and* that of every
restricted ancestor, *and* be allowed to view the space. So a page's readers are
the intersection of every restricted level, and a page with no restriction anywhere
in a space everyone can view is public. (Onyx's Confluence permission sync takes
the closest restricted level only; the intersection is never wider, so it is the
safe reading.)

What is read, and what it costs per scan (each answer cached for the scan):

- the page's own restriction comes inline (``restrictions.read.restrictions.user``
  and ``.group`` expanded on the search that fetches the page);
- each distinct ancestor's, from ``content/{id}/restriction/byOperation/read``;
- each group's members, from ``group/member?name=`` (Cloud) or ``group/{name}/member``
  (Data Center), so a page's readers are a set of people;
- each space's view permissions, from ``space/{key}?expand=permissions``: a space is
  public when anonymous users, or one of ``everyone_groups``, may view it.

Readers are matched to Slack users by email, the one identity both know. A user
whose email Confluence does not reveal is kept as ``account:<id>``, which matches
nobody: the page is then shown to fewer people, never to more. Anything docbot may
not read (an ancestor's restrictions, a group's members) counts as nobody, for the
same reason. A space whose permissions the credential cannot see is taken as public
unless it is listed in ``restricted_spaces`` (docbot cannot tell, and the admin chose
to sync it); that is logged once per space.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ingest.errors import SourceError
from ingest.models import PUBLIC, Access
from ingest.sources.confluence.client import ConfluenceClient

log = logging.getLogger(__name__)

RESTRICTIONS_EXPAND = "restrictions.read.restrictions.user,restrictions.read.restrictions.group"
DEFAULT_EVERYONE_GROUPS = ("confluence-users", "users")
MEMBERS_PAGE_LIMIT = 200


class _Unreadable(SourceError):
    """A 403 or 404 for permission data: the bot may not see who may see."""


@dataclass(frozen=True)
class _Level:
    """One restricted level (a page, an ancestor, the space): who passes it."""

    readers: frozenset[str]
    why: str


def _user_id(user: dict[str, Any]) -> str:
    """A reader as docbot stores it: the email, else ``account:<id>`` (matches nobody)."""
    email = str(user.get("email") or "").strip().lower()
    if email:
        return email
    for key in ("accountId", "userKey", "username"):
        if user.get(key):
            return f"account:{user[key]}"
    return "account:unknown"


def _subjects(restriction: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]] | None:
    """(users, group names) of a read restriction, or None when it restricts nothing."""
    restrictions = restriction.get("restrictions") or {}
    users = (restrictions.get("user") or {}).get("results") or []
    groups = (restrictions.get("group") or {}).get("results") or []
    names = [str(g.get("name")) for g in groups if isinstance(g, dict) and g.get("name")]
    people = [u for u in users if isinstance(u, dict)]
    if not people and not names:
        return None
    return people, names


class PermissionReader:
    """Computes each page's :class:`~ingest.models.Access` during one scan."""

    def __init__(
        self,
        client: ConfluenceClient,
        *,
        cloud: bool,
        everyone_groups: Iterable[str] = DEFAULT_EVERYONE_GROUPS,
        restricted_spaces: Iterable[str] = (),
    ) -> None:
        self.client = client
        self.cloud = cloud
        self.everyone_groups = frozenset(g.lower() for g in everyone_groups)
        self.restricted_spaces = frozenset(restricted_spaces)
        self._members: dict[str, frozenset[str]] = {}
        self._ancestors: dict[str, _Level | None] = {}
        self._spaces: dict[str, _Level | None] = {}

    # -- the answer -------------------------------------------------------------------
    def access(self, page: dict[str, Any]) -> Access:
        """The page's readers: the intersection of every restricted level above it."""
        levels: list[_Level] = []
        space = (page.get("space") or {}).get("key")
        if space:
            level = self.space_level(str(space))
            if level is not None:
                levels.append(level)
        for ancestor in page.get("ancestors") or []:
            level = self.ancestor_level(ancestor)
            if level is not None:
                levels.append(level)
        own = self.page_level(page)
        if own is not None:
            levels.append(own)
        if not levels:
            return PUBLIC
        readers = frozenset.intersection(*(level.readers for level in levels))
        return Access(tuple(sorted(readers)), "; ".join(level.why for level in levels))

    def remember(self, page: dict[str, Any]) -> None:
        """Note a page's own restriction seen in a listing, so that pages below it
        need no request for it."""
        if page.get("id") is not None and "restrictions" in page:
            self._ancestors[str(page["id"])] = self.page_level(page)

    # -- the levels -------------------------------------------------------------------
    def page_level(self, page: dict[str, Any]) -> _Level | None:
        read = ((page.get("restrictions") or {}).get("read")) or {}
        subjects = _subjects(read)
        if subjects is None:
            return None
        title = page.get("title") or page.get("id")
        return self._level(*subjects, why=f"page {title!r} is restricted")

    def ancestor_level(self, ancestor: dict[str, Any]) -> _Level | None:
        ancestor_id = str(ancestor.get("id") or "")
        if not ancestor_id:
            return None
        if ancestor_id not in self._ancestors:
            path = f"/rest/api/content/{quote(ancestor_id)}/restriction/byOperation/read"
            title = ancestor.get("title") or ancestor_id
            try:
                data = self.client.get(
                    path,
                    {"expand": "restrictions.user,restrictions.group"},
                    not_found=_Unreadable,
                    forbidden=_Unreadable,
                )
            except _Unreadable:
                log.info("cannot read the restrictions of page %s; its pages count as restricted",
                         ancestor_id)  # fmt: skip
                self._ancestors[ancestor_id] = _Level(
                    frozenset(), f"ancestor {title!r} cannot be read by docbot"
                )
            else:
                subjects = _subjects(data)
                self._ancestors[ancestor_id] = (
                    None
                    if subjects is None
                    else self._level(*subjects, why=f"inherited from {title!r}")
                )
        return self._ancestors[ancestor_id]

    def space_level(self, key: str) -> _Level | None:
        if key not in self._spaces:
            self._spaces[key] = self._read_space(key)
        return self._spaces[key]

    def _read_space(self, key: str) -> _Level | None:
        try:
            data = self.client.get(
                f"/rest/api/space/{quote(key, safe='~')}",
                {"expand": "permissions"},
                not_found=_Unreadable,
                forbidden=_Unreadable,
            )
        except _Unreadable:
            data = {}
        grants = [
            p
            for p in data.get("permissions") or []
            if isinstance(p, dict)
            and (p.get("operation") or {}).get("operation") == "read"
            and (p.get("operation") or {}).get("targetType") == "space"
        ]
        if not grants:
            if key in self.restricted_spaces:
                return _Level(frozenset(), f"space {key} is listed in restricted_spaces")
            log.info("Confluence space %s: its view permissions are not visible to docbot's "
                     "credential; taking it as readable by everyone (list it in "
                     "restricted_spaces otherwise)", key)  # fmt: skip
            return None
        users: list[dict[str, Any]] = []
        groups: list[str] = []
        for grant in grants:
            if grant.get("anonymousAccess"):
                return None
            subjects = grant.get("subjects") or {}
            users += [u for u in (subjects.get("user") or {}).get("results") or [] if u]
            groups += [
                str(g["name"])
                for g in (subjects.get("group") or {}).get("results") or []
                if isinstance(g, dict) and g.get("name")
            ]
        if key not in self.restricted_spaces and any(
            g.lower() in self.everyone_groups for g in groups
        ):
            return None
        return self._level(users, groups, why=f"space {key} is not open to everyone")

    # -- people -----------------------------------------------------------------------
    def _level(self, users: Sequence[dict[str, Any]], groups: Sequence[str], *, why: str) -> _Level:
        readers = {_user_id(u) for u in users}
        for group in groups:
            readers |= self.members(group)
        return _Level(frozenset(readers), why)

    def members(self, group: str) -> frozenset[str]:
        """Everyone in a group (nobody when docbot may not list it)."""
        if group not in self._members:
            if self.cloud:
                path, params = "/rest/api/group/member", {"name": group}
            else:
                path, params = f"/rest/api/group/{quote(group, safe='')}/member", {}
            found: set[str] = set()
            try:
                for results, _ in self.client.paginate(
                    path,
                    {**params, "limit": MEMBERS_PAGE_LIMIT},
                    not_found=_Unreadable,
                    forbidden=_Unreadable,
                ):
                    found |= {_user_id(u) for u in results if isinstance(u, dict)}
            except _Unreadable:
                log.warning("cannot list the members of Confluence group %r; pages restricted "
                            "to it are shown to none of them", group)  # fmt: skip
            self._members[group] = frozenset(found)
        return self._members[group]
