"""A source that suddenly lists nothing (or far less) is not pruned without being told
(issue 13, item 3): the sync stops before pruning, keeps the documents, says why,
and the outcome shows in ``docbot status``, the ``bot.sync`` log line and metrics;
``--allow-mass-delete`` lets one run go ahead."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bot.app import build
from bot.cli.main import main
from ingest.errors import ConfigError
from ingest.settings import load_settings
from ingest.sources.markdown import MarkdownSource
from ingest.store import Store
from ingest.sync import DeleteGuard, sync_source
from tests.fakes.confluence_server import FakeConfluence
from tests.fakes.confluence_wiki import WIKI
from tests.fakes.embedders import HashEmbedder
from tests.ops_helpers import metric
from tests.test_confluence import make_source

pytest_plugins = ["tests.fakes.confluence_fixtures"]


def pages(root: Path, count: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (root / f"p{i:02d}.md").write_text(f"# Page {i}\n\nAbout topic number {i}.\n")
    return root


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in ("DOCBOT_CONFIG", "OPENAI_API_KEY", "DOCBOT_EMBEDDER", "DOCBOT_MASS_DELETE_SHARE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DOCBOT_DB", str(tmp_path / "docbot.db"))
    monkeypatch.setenv("DOCBOT_DOCS", str(pages(tmp_path / "docs", 12)))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_an_emptied_folder_deletes_nothing_and_says_why(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "sync")[0] == 0
    for page in (workdir / "docs").iterdir():  # an unmounted volume: the folder is empty
        page.unlink()

    code, out, _ = cli(capsys, "sync", "--json")

    (report,) = json.loads(out)
    assert code == 1  # held needs attention, like a failure
    assert (report["status"], report["deleted"], report["would_delete"]) == ("held", 0, 12)
    assert "lists none of them" in report["reason"] and "--allow-mass-delete" in report["reason"]
    assert len(report["changes"]["held"]) == 12 and report["changes"]["held"][0]["title"]
    assert len(Store(workdir / "docbot.db").document_shas("docs")) == 12
    code, out, _ = cli(capsys, "status", "--json")
    (source,) = json.loads(out)["sources"]
    assert source["documents"] == 12 and source["last_run"]["status"] == "held"
    assert "would delete 12 of the 12 documents" in source["last_run"]["reason"]
    code, out, _ = cli(capsys, "status")
    assert "held" in out and "kept (held): Page 0" in out

    code, out, _ = cli(capsys, "sync", "--allow-mass-delete", "--json")
    (report,) = json.loads(out)
    assert (code, report["status"], report["deleted"]) == (0, "ok", 12)
    assert Store(workdir / "docbot.db").document_shas("docs") == {}


def test_the_outcome_is_logged_and_counted(workdir: Path, caplog: pytest.LogCaptureFixture) -> None:
    docs = pages(workdir / "docs", 20)
    env = {"DOCBOT_DB": str(workdir / "docbot.db"), "DOCBOT_DOCS": str(docs)}
    app = build(load_settings(env), embedder=HashEmbedder())
    app.sync()
    for page in sorted(docs.iterdir())[:15]:
        page.unlink()
    with caplog.at_level(logging.INFO, logger="bot.sync"):
        caplog.clear()  # only this sync's line (another test may have made bot.* log INFO)
        (report,) = app.sync()
    assert report.status == "held" and report.would_delete == 15
    (line,) = [r for r in caplog.records if r.name == "bot.sync"]
    assert line.levelno == logging.WARNING
    assert (line.status, line.would_delete) == ("held", 15)  # type: ignore[attr-defined]
    assert "more than the 50% limit" in line.reason  # type: ignore[attr-defined]
    text = app.metrics.render().decode()
    assert metric(text, "docbot_sync_runs_total", source="docs", status="held") == 1
    assert metric(text, "docbot_sync_held_deletions_total", source="docs") == 15


def test_the_share_is_configurable(tmp_path: Path) -> None:
    store = Store(tmp_path / "docbot.db")
    root = pages(tmp_path / "docs", 20)
    sync_source(store, MarkdownSource("docs", root), HashEmbedder())
    for page in sorted(root.iterdir())[:15]:
        page.unlink()
    held = sync_source(store, MarkdownSource("docs", root), HashEmbedder())
    assert held.status == "held" and len(store.document_shas("docs")) == 20
    lenient = DeleteGuard(share=0.8)
    done = sync_source(store, MarkdownSource("docs", root), HashEmbedder(), guard=lenient)
    assert (done.status, done.deleted) == ("ok", 15)


def test_ordinary_pruning_is_not_held(tmp_path: Path) -> None:
    """Fewer than half the pages, or a handful in a small source, go as usual."""
    store = Store(tmp_path / "docbot.db")
    root = pages(tmp_path / "docs", 20)
    sync_source(store, MarkdownSource("docs", root), HashEmbedder())
    for page in sorted(root.iterdir())[:9]:
        page.unlink()
    assert sync_source(store, MarkdownSource("docs", root), HashEmbedder()).deleted == 9
    for page in sorted(root.iterdir())[:8]:  # 8 of the 11 left: over half, but only 8
        page.unlink()
    assert sync_source(store, MarkdownSource("docs", root), HashEmbedder()).deleted == 8


def test_a_confluence_token_that_suddenly_sees_nothing_prunes_nothing(
    fake_confluence: FakeConfluence, tmp_path: Path
) -> None:
    store = Store(tmp_path / "docbot.db")
    assert sync_source(store, make_source(fake_confluence), HashEmbedder()).added == len(WIKI)
    for page in WIKI:  # e.g. the token's space permission was revoked
        fake_confluence.delete_page(page["id"])
    report = sync_source(store, make_source(fake_confluence), HashEmbedder())
    assert (report.status, report.would_delete) == ("held", len(WIKI))
    assert len(store.document_shas("wiki")) == len(WIKI)


def test_a_rebuild_that_would_lose_a_source_is_not_switched(tmp_path: Path) -> None:
    store = Store(tmp_path / "docbot.db")
    root = pages(tmp_path / "docs", 12)
    sync_source(store, MarkdownSource("docs", root), HashEmbedder())
    for page in root.iterdir():
        page.unlink()
    report = sync_source(
        store, MarkdownSource("docs", root), HashEmbedder(model_id="test:new"), rebuild=True
    )
    assert report.status == "held" and store.embed_model == "test:hash64"
    assert len(store.document_shas("docs")) == 12


@pytest.mark.parametrize(("raw", "share"), [("0.25", 0.25), ("80%", 0.8), ("1", 1.0), ("", 0.5)])
def test_the_share_setting(raw: str, share: float) -> None:
    assert load_settings({"DOCBOT_MASS_DELETE_SHARE": raw}).mass_delete_share == share


@pytest.mark.parametrize("raw", ["0", "1.5", "half", "-10%"])
def test_a_bad_share_names_the_setting(raw: str) -> None:
    with pytest.raises(ConfigError, match="DOCBOT_MASS_DELETE_SHARE"):
        load_settings({"DOCBOT_MASS_DELETE_SHARE": raw})
