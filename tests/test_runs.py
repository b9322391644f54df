"""Runs that end and say what they did (issue 13, items 4 and 5).

- a sync whose process was killed shows as ``interrupted`` (its lock is free), never
  as ``running`` forever, and never blocks the next one;
- a sync refused because another holds the lock is ``skipped``, exit status 0;
- ``docbot status``, App Home and ``/ask status`` show the running sync's progress and
  each source's last runs with the documents added / changed / deleted / failed;
- the progress bar counts chunks, with an estimate of the total and an ETA;
- ``docbot ask`` questions are recorded (surface ``cli``) for status and feedback;
- ``docbot --version``, and a description line in every subcommand's ``--help``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.app import build
from bot.cli.main import COMMANDS, main
from bot.cli.progress import describe
from bot.ops.status import render_status
from bot.slack.status_view import status_blocks
from ingest.settings import load_settings
from ingest.sources.markdown import MarkdownSource
from ingest.store import Store
from ingest.sync import SyncProgress, sync_source
from tests.fakes.embedders import HashEmbedder
from tests.fakes.openai_server import FakeOpenAI

REPO = Path(__file__).resolve().parent.parent
WAIT = 30.0


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vpn.md").write_text(
        "# VPN\n\n## Connecting\n\nOpen TunnelGate and connect to vpn.acme.example.\n"
    )
    (docs / "expenses.md").write_text("# Expenses\n\nThe meal limit is 75 dollars per day.\n")
    (docs / "pto.md").write_text("# Time off\n\nUS employees get 25 PTO days per year.\n")
    for key in list(os.environ):
        if key.startswith(("DOCBOT_", "OPENAI_", "CONFLUENCE_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DOCBOT_DB", str(tmp_path / "docbot.db"))
    monkeypatch.setenv("DOCBOT_DOCS", str(docs))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def status_json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code, out, _ = cli(capsys, "status", "--json")
    assert code == 0
    return json.loads(out)  # type: ignore[no-any-return]


# --- runs that end ---------------------------------------------------------------------


def test_a_killed_sync_is_interrupted_not_running_and_never_blocks_the_next(
    workdir: Path, fake_openai: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**os.environ, "DOCBOT_EMBEDDER": "openai", "OPENAI_API_KEY": "test",
           "OPENAI_BASE_URL": fake_openai.base_url}  # fmt: skip
    fake_openai.fail_next(delay=60, path="/v1/embeddings")  # the first batch never ends
    sync = subprocess.Popen(
        [sys.executable, "-m", "bot", "sync"], env=env, cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        reader = Store(workdir / "docbot.db")
        deadline = time.monotonic() + WAIT
        while not fake_openai.embedding_requests():
            assert time.monotonic() < deadline and sync.poll() is None
            time.sleep(0.05)
        (running,) = reader.running_runs()
        assert running.pid == sync.pid
        os.kill(sync.pid, signal.SIGKILL)
        sync.wait(WAIT)
    finally:
        if sync.poll() is None:
            sync.kill()
            sync.wait(WAIT)
    fake_openai.clear()

    (source,) = status_json(capsys)["sources"]  # type: ignore[misc]
    assert source["last_run"]["status"] == "interrupted"
    assert "process ended before the run did" in source["last_run"]["reason"]
    assert "interrupted" in cli(capsys, "status")[1]

    code, out, _ = cli(capsys, "sync", "--json")  # this process embeds locally
    assert (code, json.loads(out)[0]["status"]) == (0, "ok")
    runs = status_json(capsys)["sources"][0]["runs"]  # type: ignore[index]
    assert [r["status"] for r in runs] == ["ok", "interrupted"]


HOLDER = """
import sys
from ingest.locks import source_lock
with source_lock(sys.argv[1], "docs"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_sync_refused_by_the_lock_is_skipped_and_exits_0(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(workdir / "docbot.db")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, out, _ = cli(capsys, "sync", "--json")
        (report,) = json.loads(out)
        assert (code, report["status"], report["error"]) == (0, "skipped", None)
        assert f"already being synced (process {holder.pid}" in report["reason"]
        code, _, err = cli(capsys, "sync")
        assert code == 0 and "skipped" in err
    finally:
        holder.kill()
        holder.wait(WAIT)
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()


# --- what each run did ---------------------------------------------------------------


def test_status_lists_what_each_run_added_changed_deleted_and_failed(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = workdir / "docs"
    cli(capsys, "sync")
    (docs / "vpn.md").write_text("# VPN\n\nConnect to vpn2.acme.example now.\n")
    (docs / "pto.md").unlink()
    (docs / "travel.md").write_text("# Business travel\n\nBook trains over flights.\n")
    (docs / "broken.md").write_bytes("# Caf\xe9\n".encode("latin-1"))
    assert cli(capsys, "sync")[0] == 0

    data = status_json(capsys)
    (source,) = data["sources"]  # type: ignore[misc]
    latest, first = source["runs"]
    assert first["changes"]["added"] == [
        {"doc_id": "expenses.md", "title": "Expenses"},
        {"doc_id": "pto.md", "title": "Time off"},
        {"doc_id": "vpn.md", "title": "VPN"},
    ]
    changes = latest["changes"]
    assert changes["added"] == [{"doc_id": "travel.md", "title": "Business travel"}]
    assert changes["updated"] == [{"doc_id": "vpn.md", "title": "VPN"}]
    assert changes["deleted"] == [{"doc_id": "pto.md", "title": "Time off"}]
    (failed,) = changes["failed"]
    assert failed["doc_id"] == "broken.md" and "not UTF-8" in failed["reason"]

    text = render_status(data)
    assert "added: Business travel" in text and "changed: VPN" in text
    assert "deleted: Time off" in text and "failed: broken.md (broken.md: not UTF-8" in text
    slack = json.dumps(status_blocks(data))
    assert "added: Business travel" in slack and "deleted: Time off" in slack


class HeldEmbedder(HashEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()
        self.release = threading.Event()

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if self.calls >= 1:
            self.waiting.set()
            assert self.release.wait(WAIT)
        return super().embed_batch(texts)


def test_a_running_sync_shows_its_progress_everywhere(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    for i in range(150):
        (root / f"p{i:03d}.md").write_text(f"# Page {i}\n\nAbout thing {i}.\n")
    settings = load_settings({"DOCBOT_DB": str(tmp_path / "docbot.db"), "DOCBOT_DOCS": str(root)})
    embedder = HeldEmbedder()
    writer = build(settings, embedder=embedder)
    thread = threading.Thread(target=writer.sync)
    thread.start()
    try:
        assert embedder.waiting.wait(WAIT)
        time.sleep(0.1)
        status = build(settings, embedder=HashEmbedder()).status()
        (source,) = status["sources"]
        progress = source["running"]["progress"]
        assert source["last_run"]["status"] == "running"
        assert progress["documents_total"] == 150 and progress["chunks_estimate"] >= 128
        # One embedding batch (64) is done, none written yet: the count moves anyway.
        assert progress["chunks_done"] == 64 and progress["documents_done"] == 0
        assert "running: 64/~150 chunks · 0/150 documents" in render_status(status)
        assert "syncing now: 64/~150 chunks" in json.dumps(status_blocks(status))
    finally:
        embedder.release.set()
        thread.join(WAIT)
    (source,) = build(settings, embedder=HashEmbedder()).status()["sources"]
    assert source["running"] is None and source["last_run"]["progress"] is None
    assert source["last_run"]["added"] == 150


class Recorder:
    """A progress bar that remembers what it was shown."""

    def __init__(self) -> None:
        self.states: list[dict[str, object]] = []
        self.lines: list[str] = []

    def start(self, source: str, total: int | None) -> None:
        self.total = total

    def update(self, state: SyncProgress) -> None:
        self.states.append(state.as_dict())
        self.lines.append(describe(state))

    def finish(self) -> None:
        pass


def test_the_progress_bar_counts_chunks_with_an_eta(tmp_path: Path) -> None:
    """The last page is a long one: the bar must not sit at 'all documents' while its
    chunks embed, and it ends with every chunk counted."""
    root = tmp_path / "docs"
    root.mkdir()
    for i in range(3):
        (root / f"a{i}.md").write_text(f"# Short {i}\n\nA short page {i}.\n")
    long = "\n\n".join(
        f"## Part {i}\n\n" + f"Sentence {i} of the long page. " * 40 for i in range(60)
    )
    (root / "z-long.md").write_text("# Long\n\n" + long + "\n")
    bar = Recorder()
    report = sync_source(Store(tmp_path / "d.db"), MarkdownSource("docs", root), HashEmbedder(),
                         progress=bar)  # fmt: skip
    chunks = report.chunks_embedded
    assert chunks > 50
    read = next(s for s in bar.states if s["documents_seen"] == 4)
    assert read["documents_done"] < 4 and read["chunks_done"] < read["chunks_estimate"] == chunks
    last = bar.states[-1]
    assert (last["documents_done"], last["chunks_done"], last["eta_seconds"]) == (4, chunks, 0.0)
    assert f"{chunks}/{chunks} chunks · 4/4 documents · ETA 0:00" in bar.lines[-1]


def test_the_estimate_and_eta_follow_the_pages_read_so_far() -> None:
    state = SyncProgress(source="docs", documents_total=100, started=time.monotonic() - 10)
    state.documents_seen, state.documents_done = 10, 10
    state.chunks_done = 50  # 5 chunks a page so far, 10 s for 50 chunks
    assert state.chunks_estimate() == 500
    assert state.eta_seconds() == pytest.approx(90, rel=0.05)
    assert describe(state).startswith("50/~500 chunks · 10/100 documents · ETA 1:")


# --- CLI questions, --version, --help ----------------------------------------------------


def test_cli_questions_are_recorded_in_status_and_feedback(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, "sync")
    assert cli(capsys, "ask", "How do I connect to the VPN?")[0] == 0
    assert cli(capsys, "ask", "Quantum chromodynamics lattice gauge?", "--json")[0] == 0
    assert cli(capsys, "ask", "   ")[0] == 2  # bad input is recorded too, as failed

    questions = status_json(capsys)["questions"]
    assert questions["by_surface"]["cli"] == {"answered": 1, "abstained": 1, "failed": 1}  # type: ignore[index]
    out = cli(capsys, "feedback", "--json")[1]
    report = json.loads(out)
    (unanswered,) = report["unanswered_questions"]
    assert unanswered["question"] == "Quantum chromodynamics lattice gauge?"
    assert unanswered["surfaces"] == ["cli"] and report["failed"][0]["surface"] == "cli"


def test_version_and_a_description_for_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert (
        exit_.value.code == 0 and capsys.readouterr().out.strip() == f"docbot {version('docbot')}"
    )
    for name, line in COMMANDS.items():
        with pytest.raises(SystemExit):
            main([name, "--help"])
        paragraphs = capsys.readouterr().out.split("\n\n")
        assert paragraphs[1].strip() == f"{line[0].upper()}{line[1:]}."


def test_the_scheduler_reports_held_and_skipped_runs() -> None:
    from datetime import UTC, datetime

    from ingest.schedule import SyncOutcome
    from ingest.sync import SyncReport

    now = datetime.now(UTC)
    held = SyncOutcome("docs", now, 0.1, [SyncReport("docs", held="would delete 9 of 9")])
    assert (held.status, held.error) == ("held", "would delete 9 of 9")
    skipped = SyncOutcome("docs", now, 0.0, [SyncReport("docs", skipped="already being synced")])
    assert (skipped.status, skipped.error) == ("skipped", None)
    mixed = SyncOutcome("docs", now, 0.0, [SyncReport("a"), SyncReport("b", error="boom")])
    assert (mixed.status, mixed.error) == ("failed", "boom")
