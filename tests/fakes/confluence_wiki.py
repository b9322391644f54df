"""A small sample wiki for the fake Confluence, and access to the real captured bodies.

``seed_wiki`` creates a realistic little tree: a space home page, children with labels
and a grandchild, all last modified long ago, so an incremental sync sees only what a
test edits afterwards. Bodies are small inline storage-format snippets (an info
panel, a code macro, a table, a user mention, a link to another page), so the core
tests never need ``../shared``; tests that want the real captured bodies use
``shared_storage_body`` with the ``shared_data`` fixture.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.fakes.confluence_server import FakeConfluence

LONG_AGO = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)

WIKI: list[dict[str, Any]] = [
    {
        "id": "1001",
        "title": "Engineering Home",
        "body": "<h1>Engineering</h1><p>Welcome to the engineering space.</p>",
    },
    {
        "id": "1002",
        "title": "VPN setup",
        "ancestors": ["1001"],
        "labels": ["it", "howto"],
        "body": (
            "<h2>Install the client</h2><p>Download <strong>WireGuard</strong> from the "
            "self-service portal.</p>"
            '<ac:structured-macro ac:name="info"><ac:rich-text-body><p>Ask #it-help if the '
            "portal is down.</p></ac:rich-text-body></ac:structured-macro>"
            '<h2>Connect</h2><ac:structured-macro ac:name="code"><ac:parameter '
            'ac:name="language">bash</ac:parameter><ac:plain-text-body><![CDATA[wg-quick up '
            "corp]]></ac:plain-text-body></ac:structured-macro>"
        ),
    },
    {
        "id": "1003",
        "title": "Deploy checklist",
        "ancestors": ["1001"],
        "labels": ["runbook"],
        "body": (
            "<h2>Before you deploy</h2><ul><li><p>Freeze the release branch</p></li>"
            "<li><p>Tell #deploys</p></li></ul>"
            "<table><tbody><tr><th>Step</th><th>Owner</th></tr>"
            "<tr><td>Canary</td><td>SRE</td></tr></tbody></table>"
        ),
    },
    {
        "id": "1004",
        "title": "Rollback",
        "ancestors": ["1001", "1003"],
        "body": "<p>To roll back, run the <code>rollback</code> pipeline with the last tag.</p>",
    },
    {
        "id": "1005",
        "title": "On-call handbook",
        "ancestors": ["1001"],
        "body": (
            '<p>Primary on call: <ac:link><ri:user ri:account-id="557058:alice" /></ac:link>. '
            'See <ac:link><ri:page ri:content-title="Rollback" /></ac:link>.</p>'
        ),
    },
]


def seed_wiki(fake: FakeConfluence, space: str = "ENG", *, when: datetime = LONG_AGO) -> None:
    """Fill ``space`` with the five pages above, each modified at ``when`` (+ minutes)."""
    fake.add_space(space, "Engineering")
    fake.add_user("557058:alice", "Alice Example", "alice")
    for i, page in enumerate(WIKI):
        fake.add_page(
            space,
            page["id"],
            page["title"],
            page["body"],
            ancestors=page.get("ancestors", ()),
            labels=page.get("labels", ()),
            when=when + timedelta(minutes=i),
            author="557058:alice" if i % 2 else None,
        )


def shared_storage_body(shared_data: Path, relative: str) -> str:
    """A real storage-format body from ``../shared/data/confluence/storage_format``."""
    return (shared_data / "confluence" / "storage_format" / relative).read_text("utf-8")
