"""Errors that say what to do (issue 13, item 6): a store in a read-only folder and a
full disk, in ``docbot sync`` and in ``docbot ask``; lock files beside the store under
a dotted name that git ignores; the documented size limits.

The full-disk and read-only cases use real file systems where the machine allows it
(a size-limited or read-only tmpfs, mounted by the test; skipped without permission)
and, always, SQLite's own page limit (``PRAGMA max_page_count``), which makes the real
code path hit SQLITE_FULL.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.answer import MAX_QUESTION_CHARS
from bot.app import build
from bot.cli.main import main
from ingest.settings import load_settings
from ingest.sources.markdown import MAX_FILE_BYTES
from ingest.store import Store
from tests.fakes.embedders import HashEmbedder
from tests.fakes.openai_server import FakeOpenAI

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def tmpfs(path: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """A real, size-limited file system at ``path`` (skips without permission)."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    if shutil.which("mount") is None:
        pytest.skip("needs mount(8) to make a small file system")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount_read_only(path: Path) -> None:
    done = subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True)
    assert done.returncode == 0, done.stderr


@contextmanager
def read_only_folder(path: Path) -> Iterator[Path]:
    """A folder this process cannot write: permissions for a normal user; for root
    (whom permissions do not stop) a read-only file system."""
    if os.geteuid() != 0:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    with tmpfs(path, "1m", read_only=True) as folder:
        yield folder


def write_docs(root: Path, count: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (root / f"d{i}.md").write_text(f"# Doc {i}\n\nSmall doc {i} about the vpn{i} gateway.\n")
    return root


def big_docs(root: Path, count: int = 40) -> None:
    words = random.Random(7)
    for i in range(count):
        text = " ".join(f"w{words.randint(0, 99999)}" for _ in range(3000))
        (root / f"big{i}.md").write_text(f"# Big {i}\n\n{text}\n")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith(("DOCBOT_", "OPENAI_", "CONFLUENCE_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DOCBOT_DOCS", str(write_docs(tmp_path / "docs")))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(set(lines)) == 1, err  # the same line may come from the run and the summary
    assert "Traceback" not in err
    return lines[0]


# --- read-only folder ----------------------------------------------------------------


def test_sync_into_a_read_only_folder_says_what_to_do(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with read_only_folder(env / "ro") as folder:
        monkeypatch.setenv("DOCBOT_DB", str(folder / "docbot.db"))
        code, _, err = cli(capsys, "sync")
    line = one_line(err)
    assert code == 1 and line.startswith("docbot: error: the store")
    assert "cannot be written" in line and "writable" in line and "DOCBOT_DB" in line


def test_ask_on_a_store_whose_folder_became_read_only_says_what_to_do(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = env / "data"
    if os.geteuid() == 0:
        context = tmpfs(folder, "8m")
    else:
        folder.mkdir()
        context = _nullcontext(folder)
    with context:
        monkeypatch.setenv("DOCBOT_DB", str(folder / "docbot.db"))
        assert cli(capsys, "sync")[0] == 0
        if os.geteuid() == 0:
            remount_read_only(folder)
        else:
            folder.chmod(0o555)
        try:
            code, _, err = cli(capsys, "ask", "What about the vpn1 gateway?")
        finally:
            if os.geteuid() != 0:
                folder.chmod(0o755)
    line = one_line(err)
    assert code == 1 and "cannot be written" in line and "writable" in line


@contextmanager
def _nullcontext(value: Path) -> Iterator[Path]:
    yield value


# --- full disk -----------------------------------------------------------------------


def test_a_full_disk_during_sync_says_what_to_do_and_keeps_what_was_stored(
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fake_openai: FakeOpenAI,
) -> None:
    for key, value in (("DOCBOT_EMBEDDER", "openai"), ("OPENAI_API_KEY", "test"),
                       ("OPENAI_BASE_URL", fake_openai.base_url)):  # fmt: skip
        monkeypatch.setenv(key, value)  # embeddings in milliseconds: the disk fills fast
    with tmpfs(env / "small", "4m") as folder:
        monkeypatch.setenv("DOCBOT_DB", str(folder / "docbot.db"))
        assert cli(capsys, "sync")[0] == 0
        big_docs(env / "docs")
        code, _, err = cli(capsys, "sync")
        line = one_line(err)
        assert code == 1 and "is full" in line and "free some space" in line
        stored = Store(folder / "docbot.db").document_shas("docs")
        assert {"d0.md", "d1.md", "d2.md"} <= set(stored)


def test_a_full_disk_when_asking_says_what_to_do(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # 8 MB: the store of three pages, with both models' vector sets and the log SQLite
    # needs to close them, must fit before something else fills the disk.
    with tmpfs(env / "small", "8m") as folder:
        monkeypatch.setenv("DOCBOT_DB", str(folder / "docbot.db"))
        assert cli(capsys, "sync")[0] == 0
        with (folder / "filler").open("wb") as filler:  # something else filled the disk
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        code, _, err = cli(capsys, "ask", "What about the vpn1 gateway?")
        line = one_line(err)
        assert code == 1 and "is full" in line and "free some space" in line
        (folder / "filler").unlink()
        code, out, _ = cli(capsys, "ask", "What about the vpn1 gateway?")
        assert code == 0 and "d1.md" in out


def test_sqlite_full_in_a_sync_is_one_line_and_keeps_the_documents(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLITE_FULL from SQLite itself, through the real sync path (no mount needed)."""
    docs = write_docs(tmp_path / "docs")
    app = build(
        load_settings({"DOCBOT_DB": str(tmp_path / "docbot.db"), "DOCBOT_DOCS": str(docs)}),
        embedder=HashEmbedder(),
    )
    app.sync()
    before = app.store.document_shas("docs")
    big_docs(docs, 10)
    (pages,) = app.store.conn.execute("PRAGMA page_count").fetchone()
    app.store.conn.execute(f"PRAGMA max_page_count = {pages + 3}")
    with caplog.at_level(logging.ERROR):
        (report,) = app.sync()
    assert report.status == "failed" and "is full" in (report.error or "")
    assert "free some space" in (report.error or "")
    assert not [r for r in caplog.records if r.exc_info]  # no traceback logged
    app.store.conn.execute("PRAGMA max_page_count = 1073741823")
    after = Store(tmp_path / "docbot.db").document_shas("docs")
    assert {k: after[k] for k in before} == before


def test_sqlite_full_when_recording_an_answer_keeps_the_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    docs = write_docs(tmp_path / "docs")
    app = build(
        load_settings({"DOCBOT_DB": str(tmp_path / "docbot.db"), "DOCBOT_DOCS": str(docs)}),
        embedder=HashEmbedder(),
    )
    app.sync()
    (pages,) = app.store.conn.execute("PRAGMA page_count").fetchone()
    app.store.conn.execute(f"PRAGMA max_page_count = {pages}")
    from bot.records import AnswerRecord, new_answer_id

    answer = app.answerer.ask("What about the vpn1 gateway?").answer
    assert answer.cited_sources[0][1].doc_id == "d1.md"
    record = AnswerRecord(id=new_answer_id(), surface="cli", question="q")
    record.fill(answer)
    record.answer = answer.text * 500  # needs new pages, which the store cannot have
    with caplog.at_level(logging.WARNING, logger="bot"):
        app.observer.finish_question(record)  # never raises
    warning = next(r for r in caplog.records if "could not record answer" in r.getMessage())
    assert "is full" in warning.getMessage() and warning.exc_info is None


# --- lock files and limits ---------------------------------------------------------------


def test_lock_files_sit_beside_the_store_under_a_dotted_name_that_git_ignores(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "data").mkdir()
    monkeypatch.setenv("DOCBOT_DB", str(env / "data" / "docbot.db"))
    before = set(os.listdir(env))
    assert cli(capsys, "sync")[0] == 0
    assert set(os.listdir(env)) == before  # nothing left in the working directory
    assert (env / "data" / ".docbot.db.sync-docs.lock").is_file()
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    for name in (".docbot.db.sync-docs.lock", "deploy/.handbook.db.sync-wiki.lock"):
        ignored = subprocess.run(
            ["git", "check-ignore", "--no-index", "-q", name], cwd=REPO, capture_output=True
        )
        assert ignored.returncode == 0, f"{name} is not in .gitignore"


def test_the_readme_states_the_file_and_question_limits() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert MAX_FILE_BYTES == 5_000_000 and "5 MB (5,000,000 bytes)" in readme
    assert f"{MAX_QUESTION_CHARS:,} characters" in readme
