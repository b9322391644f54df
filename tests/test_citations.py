"""Citations and tables read cleanly (issue 13, item 9): a citation names the page and
its section, not the folders above it, and never shows raw Markdown emphasis; a
table cell in Slack wraps within its column instead of being cut."""

from __future__ import annotations

from pathlib import Path

from bot.app import build
from bot.slack import ui
from bot.slack.mrkdwn import to_mrkdwn
from ingest.models import Hit, plain_heading
from ingest.settings import load_settings
from tests.fakes.embedders import HashEmbedder


def test_a_citation_names_the_page_and_section_without_folders_or_emphasis(
    tmp_path: Path,
) -> None:
    docs = tmp_path / "docs" / "content" / "departments" / "it"
    docs.mkdir(parents=True)
    (docs / "vpn.md").write_text(
        "# VPN\n\n## **Set up** the `TunnelGate` [client](https://tg.example)\n\n"
        "Install TunnelGate and sign in with single sign-on.\n"
    )
    env = {"DOCBOT_DB": str(tmp_path / "docbot.db"), "DOCBOT_DOCS": str(tmp_path / "docs")}
    app = build(load_settings(env), embedder=HashEmbedder())
    app.sync()

    answers = [app.answerer.ask("How do I install TunnelGate?").answer for _ in range(2)]

    assert [a.cached for a in answers] == [False, True]
    for answer in answers:  # the cached answer keeps the same label
        (_, hit), *_ = answer.cited_sources
        assert hit.heading_path[:3] == ("Content", "Departments", "It")  # still embedded
        assert hit.section == "VPN > Set up the TunnelGate client"
        assert answer.as_json()["sources"][0]["section"] == "VPN > Set up the TunnelGate client"
    block = ui.sources_block(answers[0].cited_sources)
    assert block is not None and "VPN &gt; Set up the TunnelGate client" in str(block)
    assert "**" not in str(block) and "Departments" not in str(block)


def test_hits_from_before_breadcrumbs_were_kept_still_drop_them() -> None:
    hit = Hit(1, "docs", "a.md", "Expenses", "u", "t", ("Finance", "Expenses", "Meals"), "", 1.0)
    assert hit.section == "Expenses > Meals"
    assert Hit(1, "docs", "a.md", "Expenses", "u", "t", (), "", 1.0).section == "Expenses"


def test_plain_heading_keeps_what_a_reader_sees() -> None:
    assert plain_heading("***Both*** and __strong__ and *em*") == "Both and strong and em"
    assert plain_heading("snake_case_name and 2*3*4 stay") == "snake_case_name and 2*3*4 stay"
    assert plain_heading("![logo](x.png) `code`") == "logo code"


def test_a_long_table_cell_wraps_in_its_column_and_loses_nothing() -> None:
    cell = (
        "Open TunnelGate and connect to vpn.acme.example, then approve the push "
        "notification in Orbit Authenticator within sixty seconds & keep the token <safe>"
    )
    out = to_mrkdwn(f"| Step | What to do |\n|---|---|\n| 1 | {cell} |\n| 2 | Done |")
    lines = out.splitlines()
    assert lines[0] == "```" and lines[-1] == "```" and "…" not in out
    body = [line for line in lines[3:-1] if line]
    words = " ".join(line[6:] for line in body if not line.startswith("2 "))
    assert " ".join(words.split()) == cell.replace("&", "&amp;").replace("<", "&lt;").replace(
        ">", "&gt;"
    )
    assert all(len(line.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")) <= 46
               for line in lines)  # fmt: skip
    assert "2     Done" in lines
