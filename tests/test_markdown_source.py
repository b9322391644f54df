"""The Markdown source: front matter, titles, citation URLs, links, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.errors import SourceError
from ingest.sources.markdown import MarkdownSource, split_front_matter


def write(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def scan(source: MarkdownSource) -> tuple[dict[str, object], list[tuple[str, str]]]:
    result = source.scan()
    docs = {d.doc_id: d for d in result.documents}
    return docs, result.failures


def test_front_matter_title_and_tags_not_indexed(tmp_path: Path) -> None:
    write(
        tmp_path,
        "vpn.md",
        "---\ntitle: VPN guide\ntags: [it, network]\nupdated: 2025-02-10\n---\n# VPN\n\nBody.\n",
    )
    docs, failures = scan(MarkdownSource("h", tmp_path))
    doc = docs["vpn.md"]
    assert failures == []
    assert doc.title == "VPN guide" and doc.tags == ("it", "network")
    assert "title:" not in doc.body and doc.body.startswith("# VPN")
    assert doc.updated_at is not None and doc.updated_at.year == 2025


def test_title_falls_back_to_heading_then_file_name(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "Intro\n\n# Real title\n")
    write(tmp_path, "on-call_rota.md", "no heading here\n")
    docs, _ = scan(MarkdownSource("h", tmp_path))
    assert docs["a.md"].title == "Real title"
    assert docs["on-call_rota.md"].title == "On call rota"


def test_url_template_and_relative_links(tmp_path: Path) -> None:
    write(
        tmp_path,
        "eng/deploys.md",
        "# Deploys\n\nSee [expenses](../expenses.md#limits) and [web](https://x.org).\n",
    )
    template = "https://github.com/acme/h/blob/main/{path}"
    docs, _ = scan(MarkdownSource("h", tmp_path, url_template=template))
    doc = docs["eng/deploys.md"]
    assert doc.url == "https://github.com/acme/h/blob/main/eng/deploys.md"
    assert "[expenses](https://github.com/acme/h/blob/main/expenses.md#limits)" in doc.body
    assert "[web](https://x.org)" in doc.body
    assert doc.breadcrumbs == ("Eng",)


def test_without_template_links_stay_readable_paths(tmp_path: Path) -> None:
    write(tmp_path, "eng/deploys.md", "# D\n\n[e](../expenses.md)\n")
    docs, _ = scan(MarkdownSource("h", tmp_path))
    assert "[e](expenses.md)" in docs["eng/deploys.md"].body
    assert docs["eng/deploys.md"].url.startswith("file://")


def test_glob_source(tmp_path: Path) -> None:
    write(tmp_path, "docs/a.md", "# A\n")
    write(tmp_path, "docs/sub/b.md", "# B\n")
    write(tmp_path, "docs/c.txt", "not markdown")
    docs, _ = scan(MarkdownSource("h", f"{tmp_path}/docs/**/*.md"))
    assert set(docs) == {"a.md", "sub/b.md"}


def test_hidden_folders_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, ".git/x.md", "# git\n")
    write(tmp_path, "node_modules/p/readme.md", "# pkg\n")
    write(tmp_path, "ok.md", "# ok\n")
    docs, _ = scan(MarkdownSource("h", tmp_path))
    assert set(docs) == {"ok.md"}


def test_non_utf8_file_is_reported_and_others_still_read(tmp_path: Path) -> None:
    write(tmp_path, "latin1.md", "# Caf\xe9\n".encode("latin-1"))
    write(tmp_path, "good.md", "# Good\n")
    source = MarkdownSource("h", tmp_path)
    result = source.scan()
    docs = {d.doc_id for d in result.documents}
    assert docs == {"good.md"}
    assert result.failures and result.failures[0][0] == "latin1.md"
    assert "not UTF-8" in result.failures[0][1]
    assert result.all_ids == {"latin1.md", "good.md"}  # so sync does not prune it


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        MarkdownSource("h", tmp_path / "nope").scan()


def test_malformed_front_matter_is_dropped_not_indexed() -> None:
    meta, body = split_front_matter("---\ntitle: [unclosed\n---\n# Body\n")
    assert meta == {} and body == "# Body\n"


def test_citation_urls_are_quoted(tmp_path: Path) -> None:
    write(tmp_path, "How we work #1.md", "# H\n")
    docs, _ = scan(MarkdownSource("h", tmp_path, url_template="https://x/blob/main/{path}"))
    assert docs["How we work #1.md"].url == "https://x/blob/main/How%20we%20work%20%231.md"


def test_toml_glob_and_string_exclude(tmp_path: Path) -> None:
    from ingest.settings import SourceConfig, load_settings
    from ingest.sources import build_source

    write(tmp_path, "docs/a.md", "# A\n")
    write(tmp_path, "docs/drafts/b.md", "# B\n")
    write(tmp_path, "docs/c.markdown", "# C\n")
    config = SourceConfig(
        name="h",
        type="markdown",
        path=str(tmp_path / "docs"),
        options={"glob": "**/*.md", "exclude": "drafts/*"},
    )
    source = build_source(config, load_settings({}))
    assert {d.doc_id for d in source.scan().documents} == {"a.md"}
