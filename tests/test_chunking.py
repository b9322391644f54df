"""Heading-aware chunking: heading paths, anchors, code blocks and tables kept whole."""

from __future__ import annotations

import itertools

from ingest.chunking import github_slug, split_markdown
from ingest.models import Document


def doc(body: str, title: str = "Guide", breadcrumbs: tuple[str, ...] = ()) -> Document:
    return Document(
        source="s",
        doc_id="d.md",
        title=title,
        url="https://x/d",
        body=body,
        breadcrumbs=breadcrumbs,
    )


def test_heading_path_and_anchor_follow_the_section() -> None:
    body = (
        "# Guide\n\nIntro.\n\n## Install\n\nRun it.\n\n### On macOS\n\nUse brew.\n\n## Use\n\nGo."
    )
    chunks = split_markdown(doc(body), min_chars=0)
    paths = [c.heading_path for c in chunks]
    assert ("Guide",) in paths  # the page's own H1 is not repeated
    assert ("Guide", "Install", "On macOS") in paths
    by_path = {c.heading_path: c for c in chunks}
    assert by_path[("Guide", "Install", "On macOS")].anchor == "on-macos"
    assert by_path[("Guide", "Install", "On macOS")].text == "Use brew."
    assert by_path[("Guide", "Use")].anchor == "use"


def test_breadcrumbs_start_the_heading_path() -> None:
    chunks = split_markdown(doc("## A\n\ntext", breadcrumbs=("Space", "Parent")), min_chars=0)
    assert chunks[0].heading_path == ("Space", "Parent", "Guide", "A")


def test_code_block_is_not_cut_and_hashes_inside_are_not_headings() -> None:
    code = "```bash\n# not a heading\n" + "\n".join(f"echo {i}" for i in range(60)) + "\n```"
    body = "## Deploy\n\n" + "Some words. " * 60 + "\n\n" + code + "\n\nAfter."
    chunks = split_markdown(doc(body), chunk_chars=800, max_chars=1600)
    holders = [c for c in chunks if "```bash" in c.text]
    assert len(holders) == 1 and holders[0].text.count("```") == 2
    assert all(c.heading_path[-1] == "Deploy" for c in chunks)


def test_table_is_kept_whole() -> None:
    table = "| a | b |\n|---|---|\n" + "\n".join(f"| row {i} | value {i} |" for i in range(30))
    body = "## Limits\n\n" + "Para. " * 100 + "\n\n" + table
    chunks = split_markdown(doc(body), chunk_chars=600, max_chars=1600)
    assert sum(1 for c in chunks if "| row 0 |" in c.text and "| row 29 |" in c.text) == 1


def test_oversized_block_is_cut_at_lines_under_the_hard_limit() -> None:
    code = "```\n" + "\n".join("x" * 70 for _ in range(100)) + "\n```"
    chunks = split_markdown(doc("## Big\n\n" + code), chunk_chars=500, max_chars=900)
    assert len(chunks) > 1 and all(len(c.text) <= 900 for c in chunks)


def test_duplicate_headings_get_github_suffixes() -> None:
    body = "## FAQ\n\nfirst " * 1 + "\n\n## FAQ\n\nsecond"
    anchors = [c.anchor for c in split_markdown(doc(body), min_chars=0)]
    assert anchors == ["faq", "faq-1"]


def test_empty_document_is_findable_by_title() -> None:
    chunks = split_markdown(doc("", title="Empty page"))
    assert len(chunks) == 1 and chunks[0].text == "Empty page"


def test_github_slug() -> None:
    assert github_slug("Paid time off (PTO)") == "paid-time-off-pto"
    assert github_slug("Büro Berlin") == "büro-berlin"
    assert github_slug("`code` and **bold**") == "code-and-bold"


def _paragraphs(n: int) -> list[str]:
    return [f"Paragraph {i}" + " word" * 40 for i in range(n)]  # about 215 characters each


def test_without_overlap_no_paragraph_is_repeated() -> None:
    paras = _paragraphs(12)
    chunks = split_markdown(
        doc("## Long\n\n" + "\n\n".join(paras)), chunk_chars=700, overlap_chars=0
    )
    assert len(chunks) > 2
    joined = [p for c in chunks for p in c.text.split("\n\n")]
    assert joined == paras


def test_overlap_repeats_whole_trailing_paragraphs_within_the_size() -> None:
    paras = _paragraphs(12)
    chunks = split_markdown(
        doc("## Long\n\n" + "\n\n".join(paras)), chunk_chars=700, overlap_chars=250
    )
    blocks = [c.text.split("\n\n") for c in chunks]
    for before, after in itertools.pairwise(blocks):
        assert after[0] == before[-1]  # one whole paragraph carried over, never a piece
    assert all(len(c.text) <= 700 for c in chunks)
    seen = {b for bs in blocks for b in bs}
    assert seen == set(paras)  # nothing lost


def test_overlap_stays_within_its_section() -> None:
    body = "## One\n\n" + "\n\n".join(_paragraphs(4)) + "\n\n## Two\n\nOnly this."
    chunks = split_markdown(doc(body), chunk_chars=700, overlap_chars=250, min_chars=0)
    (two,) = [c for c in chunks if c.heading_path[-1] == "Two"]
    assert two.text == "Only this."
