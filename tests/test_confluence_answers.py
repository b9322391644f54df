"""End to end from Confluence to an answer: settings from the environment, a sync
through the composed app, then ``docbot ask``'s path citing the Confluence page,
and ``docbot status`` showing the source's run."""

from __future__ import annotations

from pathlib import Path

from bot.app import build
from ingest.settings import load_settings
from tests.fakes.confluence_server import FakeConfluence
from tests.fakes.embedders import HashEmbedder

pytest_plugins = ["tests.fakes.confluence_fixtures"]


def test_bot_answers_from_confluence_with_links(
    fake_confluence: FakeConfluence, tmp_path: Path
) -> None:
    env = {
        "DOCBOT_DB": str(tmp_path / "docbot.db"),
        "CONFLUENCE_URL": fake_confluence.base_url,
        "CONFLUENCE_SPACES": "ENG",
        "CONFLUENCE_EMAIL": fake_confluence.email,
        "CONFLUENCE_API_TOKEN": fake_confluence.api_token,
    }
    app = build(load_settings(env), embedder=HashEmbedder())
    (report,) = app.sync()
    assert report.error is None and report.added == 5

    answer = app.answerer.ask("How do I set up the wireguard VPN?").answer
    assert answer.mode == "extractive" and not answer.abstained
    top = answer.cited_sources[0][1]
    assert top.source == "confluence" and top.doc_id == "1002"
    assert top.url.endswith("/spaces/ENG/pages/1002/VPN+setup")
    assert top.url in answer.text or top.link in answer.text

    status = app.status()
    (source,) = status["sources"]
    assert source["name"] == "confluence" and source["type"] == "confluence"
    assert source["last_run"]["status"] == "ok" and source["documents"] == 5
