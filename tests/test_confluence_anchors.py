"""Confluence citations link to the heading with Confluence's own ids: the page title
and the heading text, spaces removed, joined by "-" (``#VPNsetup-Connect``), ``.1`` for
a repeated heading; files keep GitHub's anchors."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from bs4 import BeautifulSoup

from ingest.chunking import split_markdown
from ingest.convert import storage_to_markdown
from ingest.models import Document

STORAGE = (
    "<h1>Connect</h1><p>Install the client, then sign in with SSO. "
    + "More words about the client. " * 20
    + "</p><h2>Two <strong>factor</strong> codes</h2><p>"
    + "Codes come from the authenticator app. " * 20
    + "</p><h2>Troubleshooting</h2><p>"
    + "Restart the client when it hangs. " * 20
    + "</p><h3>Troubleshooting</h3><p>"
    + "A second heading with the same text. " * 20
    + "</p>"
)


def _page(body: str, title: str = "VPN setup", space: str | None = "IT") -> Document:
    return Document(
        source="wiki",
        doc_id="42",
        title=title,
        url="https://acme.atlassian.net/wiki/spaces/IT/pages/42/VPN+setup",
        body=body,
        space=space,
    )


def test_confluence_pages_get_confluence_heading_ids() -> None:
    chunks = split_markdown(_page(storage_to_markdown(STORAGE)))
    anchors = {c.anchor for c in chunks}
    assert "VPNsetup-Connect" in anchors
    assert "VPNsetup-Twofactorcodes" in anchors  # the rendered text, marks gone
    assert {"VPNsetup-Troubleshooting", "VPNsetup-Troubleshooting.1"} <= anchors
    link = next(c for c in chunks if c.anchor == "VPNsetup-Connect")
    assert link.anchor and " " not in link.anchor


def test_files_keep_github_anchors() -> None:
    body = "# Connect\n\n" + "Install the client. " * 40 + "\n\n## Two factor codes\n\nCodes.\n"
    chunks = split_markdown(_page(body, space=None))
    assert {c.anchor for c in chunks} >= {"connect"}


def test_every_heading_of_the_storage_fixtures_gets_its_confluence_id(
    shared_data: Path,
) -> None:
    folder = shared_data / "confluence" / "storage_format"
    if not folder.is_dir():
        pytest.skip(f"no storage-format fixtures at {folder}")
    checked = 0
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".xml", ".xhtml"):
            continue
        xhtml = path.read_text(encoding="utf-8")
        headings = [
            " ".join(h.get_text(" ").split())
            for h in BeautifulSoup(xhtml, "html.parser").find_all(re.compile(r"^h[1-6]$"))
        ]
        title = path.stem.replace("_", " ").title()
        chunks = split_markdown(_page(storage_to_markdown(xhtml), title=title), chunk_chars=100)
        anchors = {c.anchor for c in chunks if c.anchor}
        prefix = title.replace(" ", "") + "-"
        assert all(a.startswith(prefix) for a in anchors), path
        for heading in headings:
            text = "".join(heading.split())
            if not text:
                continue
            expected = prefix + text
            # Escaped for a URL fragment: compare unescaped, a repeat's ".1" dropped.
            if any(
                unquote(a) == expected or unquote(a).rsplit(".", 1)[0] == expected for a in anchors
            ):
                checked += 1
    assert checked >= 10
