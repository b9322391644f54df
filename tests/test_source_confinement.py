"""Sources never read outside their root (issue 11, finding 1).

A docs folder and a git checkout are content other people write; symlinks are
content too. Each test builds the hostile tree for real (symlinks, loops, a FIFO, a
git repository with committed symlinks cloned over file://) and checks that nothing
outside the root reaches a document or the store, that every refusal is reported
with its reason, and that a copy indexed earlier is pruned.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ingest.errors import ConfigError, SourceError
from ingest.settings import load_settings
from ingest.sources.git import GitSource
from ingest.sources.markdown import MarkdownSource
from ingest.store import Store
from ingest.sync import sync_source
from tests.fakes.embedders import HashEmbedder
from tests.test_git_source import Remote, git

SECRET = "xoxb-4242-TOPSECRETVALUE"
OUTSIDE = "symlink to a path outside the source root"
INTO_HIDDEN = "symlink into a hidden (dot) folder or file of the source, such as .git"
SEEN = "symlink to a folder already read (a loop, or a second path to the same folder)"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``docs/`` with one real page, and ``outside/`` (next to it) holding secrets."""
    docs, outside = tmp_path / "docs", tmp_path / "outside"
    (docs / "guides").mkdir(parents=True)
    outside.mkdir()
    (docs / "ok.md").write_text("# OK\n\nA real page about the VPN.\n")
    (docs / "guides" / "deploy.md").write_text("# Deploy\n\nDeploy on Tuesdays.\n")
    (outside / ".env").write_text(f"SLACK_BOT_TOKEN={SECRET}\n")
    (outside / "secret.md").write_text(f"# Secret\n\nThe token is {SECRET}.\n")
    return docs


def scan(source: MarkdownSource) -> tuple[dict[str, Any], Any]:
    result = source.scan()
    return {d.doc_id: d for d in result.documents}, result


def assert_no_secret(docs: dict[str, Any]) -> None:
    for doc in docs.values():
        assert SECRET not in doc.body and "/outside" not in doc.url, doc.doc_id


# -- folder sources -----------------------------------------------------------------------


def test_symlinks_leaving_a_folder_are_not_read_and_are_reported(tree: Path) -> None:
    (tree / "env.md").symlink_to("/proc/self/environ")
    (tree / "settings.md").symlink_to("../outside/.env")  # the issue's ../../../.env
    (tree / "leak.md").symlink_to(tree.parent / "outside" / "secret.md")
    (tree / "guides" / "passwd.md").symlink_to("/etc/passwd")
    (tree / "shared").symlink_to("../outside")  # a folder out of the root

    docs, result = scan(MarkdownSource("docs", tree))

    assert set(docs) == {"ok.md", "guides/deploy.md"}
    assert_no_secret(docs)
    assert result.skipped == [
        ("env.md", OUTSIDE),
        ("guides/passwd.md", OUTSIDE),
        ("leak.md", OUTSIDE),
        ("settings.md", OUTSIDE),
        ("shared/", OUTSIDE),
    ]
    assert result.all_ids == {"ok.md", "guides/deploy.md"}  # skipped ones get pruned


def test_links_into_dot_folders_inside_the_root_are_not_read(tree: Path) -> None:
    (tree / ".git").mkdir()
    (tree / ".git" / "config").write_text(f"url = https://x:{SECRET}@github.com/a/b\n")
    (tree / ".env").write_text(f"TOKEN={SECRET}\n")
    (tree / "config.md").symlink_to(".git/config")
    (tree / "settings.md").symlink_to(".env")
    (tree / "gitdir").symlink_to(".git")

    docs, result = scan(MarkdownSource("docs", tree))

    assert set(docs) == {"ok.md", "guides/deploy.md"}
    assert_no_secret(docs)
    assert result.skipped == [
        ("config.md", INTO_HIDDEN),
        ("gitdir/", INTO_HIDDEN),
        ("settings.md", INTO_HIDDEN),
    ]


def test_a_folder_symlinked_inside_the_root_is_read_once(tree: Path) -> None:
    (tree / "_shared").mkdir()  # a folder the walk leaves out, reached by links
    (tree / "_shared" / "policy.md").write_text("# Policy\n\nShared policy text.\n")
    (tree / "policies").symlink_to("_shared")
    (tree / "zz-mirror").symlink_to("_shared")  # a second path to the same folder
    (tree / "deploys").symlink_to("guides")  # a real folder, already read as itself
    (tree / "page.md").symlink_to("guides/deploy.md")  # a file link inside: fine

    docs, result = scan(MarkdownSource("docs", tree))

    assert set(docs) == {"ok.md", "guides/deploy.md", "policies/policy.md", "page.md"}
    assert "Shared policy text." in docs["policies/policy.md"].body
    assert docs["page.md"].url == (tree / "guides" / "deploy.md").resolve().as_uri()
    assert result.skipped == [("deploys/", SEEN), ("zz-mirror/", SEEN)]


def test_symlink_loops_and_special_files_end_quickly(tree: Path) -> None:
    (tree / "loop").symlink_to(".")
    (tree / "guides" / "up").symlink_to("..")
    (tree / "guides" / "again").symlink_to(tree / "guides")
    (tree / "a.md").symlink_to("b.md")
    (tree / "b.md").symlink_to("a.md")
    (tree / "gone.md").symlink_to("nowhere.md")
    os.mkfifo(tree / "pipe.md")  # opening it for reading would block
    (tree / "pipe-link.md").symlink_to("pipe.md")

    for source in (MarkdownSource("docs", f"{tree}/**/*.md"), MarkdownSource("docs", tree)):
        docs, result = scan(source)
        assert set(docs) == {"ok.md", "guides/deploy.md"}
        assert dict(result.skipped) == {
            "loop/": SEEN,
            "guides/up/": SEEN,
            "guides/again/": SEEN,
            "a.md": "symlink loop",
            "b.md": "symlink loop",
            "gone.md": "broken symlink (its target does not exist)",
            "pipe.md": "not a regular file (a device, pipe or socket)",
            "pipe-link.md": "not a regular file (a device, pipe or socket)",
        }


# -- globs --------------------------------------------------------------------------------


def test_a_glob_reads_markdown_only_inside_its_folder(tree: Path) -> None:
    (tree / "notes.txt").write_text(f"{SECRET}\n")
    (tree / "leak.md").symlink_to("../outside/secret.md")

    docs, result = scan(MarkdownSource("docs", f"{tree}/**/*"))

    assert set(docs) == {"ok.md", "guides/deploy.md"}  # no .txt, no link out
    assert_no_secret(docs)
    assert result.skipped == [("leak.md", OUTSIDE)]


def test_the_issues_escaping_glob_reads_no_host_file(tree: Path) -> None:
    if not Path("/etc/hosts").is_file():
        pytest.skip("needs /etc/hosts")
    climb = "/".join([".."] * len(tree.parts))
    source = MarkdownSource("docs", f"{tree}/{climb}/etc/host*")
    with pytest.raises(SourceError, match="no Markdown files match"):
        list(source.scan().documents)


def test_dot_dot_after_a_wildcard_is_refused(tree: Path) -> None:
    pattern = f"{tree}/*/../../outside/*.md"
    with pytest.raises(ConfigError, match=r"'\.\.' after a wildcard"):
        MarkdownSource("docs", pattern)
    with pytest.raises(ConfigError, match=r"DOCBOT_DOCS: '\.\.' after a wildcard"):
        load_settings({"DOCBOT_DOCS": pattern})
    config = tree.parent / "docbot.toml"
    config.write_text('[[sources]]\nname = "h"\npath = "docs"\nglob = "../outside/*.md"\n')
    with pytest.raises(ConfigError, match=r"sources\[0\]\.glob: .* without '\.\.'"):
        load_settings({}, config)


# -- reading cannot be redirected after listing -------------------------------------------


def test_a_path_swapped_for_a_symlink_after_listing_is_not_followed(tree: Path) -> None:
    (tree.parent / "outside" / "deploy.md").write_text(f"# Deploy\n\n{SECRET}\n")
    (tree.parent / "outside" / "ok.md").write_text(f"# OK\n\n{SECRET}\n")
    result = MarkdownSource("docs", tree).scan()  # listed now, read while iterating

    (tree / "guides" / "deploy.md").unlink()
    (tree / "guides").rmdir()
    (tree / "guides").symlink_to("../outside")  # a folder on the path becomes a link
    (tree / "ok.md").unlink()
    (tree / "ok.md").symlink_to("../outside/ok.md")  # and the file itself

    docs = {d.doc_id: d for d in result.documents}

    assert docs == {}
    assert sorted(doc_id for doc_id, _ in result.failures) == ["guides/deploy.md", "ok.md"]
    assert all("cannot read" in reason for _, reason in result.failures)


def test_the_portable_open_also_refuses_a_swapped_path(tmp_path: Path) -> None:
    from ingest.sources.confine import read_beneath

    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "page.md").write_text("# Page\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "page.md").write_text(SECRET)
    for beneath in (True, False):
        assert read_beneath(root, ("sub", "page.md"), 100, beneath=beneath)[0] == b"# Page\n"
    (root / "sub" / "page.md").unlink()
    (root / "sub").rmdir()
    (root / "sub").symlink_to(tmp_path / "elsewhere")
    for beneath in (True, False):
        with pytest.raises(OSError):
            read_beneath(root, ("sub", "page.md"), 100, beneath=beneath)
    with pytest.raises(SourceError, match="not a path below"):
        read_beneath(root, ("..", "elsewhere", "page.md"), 100)


def test_a_proc_file_is_bounded_by_the_size_limit(tmp_path: Path) -> None:
    from ingest.sources.confine import read_beneath

    (tmp_path / "big.md").write_bytes(b"x" * 101)
    with pytest.raises(SourceError, match="over the 100 limit"):
        read_beneath(tmp_path, ("big.md",), 100)
    # /proc files say their size is 0: the limit holds while reading, not only by stat.
    data, info = read_beneath(Path("/proc/self"), ("environ",), 1 << 20)
    assert info.st_size == 0 and data
    with pytest.raises(SourceError, match="more than 10 bytes"):
        read_beneath(Path("/proc/self"), ("environ",), 10)


# -- sync: reported, logged, and pruned ---------------------------------------------------


def test_a_page_turned_into_an_escaping_link_is_pruned_and_reported(
    tree: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "docbot.db")
    try:
        (tree / "settings.md").write_text("# Settings\n\nUse the admin page.\n")
        assert sync_source(store, MarkdownSource("docs", tree), HashEmbedder()).added == 3
        (tree / "settings.md").unlink()
        (tree / "settings.md").symlink_to("../outside/.env")

        with caplog.at_level(logging.WARNING, logger="ingest.sources.markdown"):
            report = sync_source(store, MarkdownSource("docs", tree), HashEmbedder())

        assert set(store.document_shas("docs")) == {"ok.md", "guides/deploy.md"}
        assert store.fts_search("TOPSECRETVALUE", 5) == []
        assert (report.status, report.deleted, report.unchanged) == ("ok", 1, 2)
        assert report.refused == [("settings.md", OUTSIDE)]
        assert report.as_dict()["skipped"] == [{"doc_id": "settings.md", "reason": OUTSIDE}]
        assert f"source docs: skipped settings.md: {OUTSIDE}" in caplog.text
    finally:
        store.close()


# -- git checkouts --------------------------------------------------------------------------


def commit_links(remote: Remote, links: dict[str, str]) -> None:
    """Commit symlinks (path -> target, as written) into the remote repository."""
    for rel, target in links.items():
        path = remote.work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
    git("add", "-A", cwd=remote.work)
    git("commit", "-q", "-m", "links", cwd=remote.work)
    git("push", "-q", "origin", remote.branch, cwd=remote.work)


def test_a_repositorys_symlinks_stay_inside_the_checkout(tmp_path: Path) -> None:
    secret = tmp_path / "host" / "token.txt"
    secret.parent.mkdir()
    secret.write_text(f"SLACK_BOT_TOKEN={SECRET}\n")
    cache = tmp_path / "data" / ".docbot-cache" / "git" / "handbook"
    files = {"docs/vpn.md": "# VPN\n\nUse WireGuard.\n", "notes/extra.md": "# Extra\n"}
    remote = Remote(tmp_path / "remote", files)
    commit_links(
        remote,
        {
            "docs/env.md": "/proc/self/environ",
            "docs/token.md": str(secret),
            "docs/climb.md": os.path.relpath(secret, cache / "docs"),  # ../../../.env
            "docs/config.md": "../.git/config",  # out of the configured folder
            "docs/notes": "../notes",  # a folder of the repository, but outside docs/
            "top.md": ".git/config",  # the checkout's own credentials
        },
    )

    docs_scan = GitSource("handbook", remote.url, cache_dir=cache, path="docs").scan()
    docs = {d.doc_id: d for d in docs_scan.documents}
    assert set(docs) == {"vpn.md"}
    assert_no_secret(docs)
    assert docs_scan.skipped == [
        ("climb.md", OUTSIDE),
        ("config.md", OUTSIDE),
        ("env.md", OUTSIDE),
        ("notes/", OUTSIDE),
        ("token.md", OUTSIDE),
    ]

    whole = GitSource("handbook", remote.url, cache_dir=cache).scan()
    assert {d.doc_id for d in whole.documents} == {"docs/vpn.md", "notes/extra.md"}
    assert ("top.md", INTO_HIDDEN) in whole.skipped
    assert ("docs/notes/", SEEN) in whole.skipped  # inside the checkout: read once


def test_a_configured_folder_that_is_a_symlink_out_of_the_repository_fails(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "host"
    outside.mkdir()
    (outside / "secret.md").write_text(f"# Secret\n\n{SECRET}\n")
    remote = Remote(tmp_path / "remote", {"README.md": "# Repo\n"})
    commit_links(remote, {"handbook": str(outside), "docs": "handbook", "meta": ".git"})
    cache = tmp_path / "cache"

    for path in ("handbook", "docs", "meta"):
        with pytest.raises(SourceError, match="symlink that leads outside the repository"):
            GitSource("h", remote.url, cache_dir=cache, path=path).scan()
    for glob in ("handbook/*.md", "meta/*"):
        with pytest.raises(SourceError, match="leads outside the repository checkout"):
            GitSource("h", remote.url, cache_dir=cache, glob=glob).scan()


# -- the real command line ------------------------------------------------------------------


def docbot(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *argv],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_docbot_sync_never_stores_a_secret_behind_a_symlink(tree: Path, tmp_path: Path) -> None:
    (tree / "env.md").symlink_to("/proc/self/environ")
    (tree / "settings.md").symlink_to("../outside/.env")
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        DOCBOT_DOCS=str(tree),
        DOCBOT_DB=str(tmp_path / "docbot.db"),
        SLACK_BOT_TOKEN=SECRET,  # what /proc/self/environ of `docbot sync` would hold
        PYTHONPATH=str(REPO),
    )

    synced = docbot(env, "sync", "--json")

    assert synced.returncode == 0, synced.stderr
    (report,) = json.loads(synced.stdout)
    assert (report["added"], report["status"]) == (2, "ok")
    assert report["skipped"] == [
        {"doc_id": "env.md", "reason": OUTSIDE},
        {"doc_id": "settings.md", "reason": OUTSIDE},
    ]
    assert SECRET not in synced.stdout + synced.stderr
    for query in (SECRET, "SLACK_BOT_TOKEN", "TOPSECRETVALUE"):
        found = docbot(env, "search", query, "--json")
        assert found.returncode == 0, found.stderr
        results = json.loads(found.stdout)["results"]
        pages = {r["url"].split("#")[0].rsplit("/", 1)[-1] for r in results}
        assert pages <= {"ok.md", "deploy.md"}
        assert not any(SECRET in r["text"] or "TOPSECRET" in r["text"] for r in results)
    store = Store(tmp_path / "docbot.db")
    try:
        assert set(store.document_shas("docs")) == {"ok.md", "guides/deploy.md"}
        assert store.fts_search("TOPSECRETVALUE", 5) == []
    finally:
        store.close()


def test_docbot_sync_prints_what_it_did_not_read(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.main import main

    (tree / "env.md").symlink_to("/proc/self/environ")
    for key in ("DOCBOT_CONFIG", "OPENAI_API_KEY", "CONFLUENCE_URL", "DOCBOT_DOCS_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DOCBOT_DB", str(tmp_path / "docbot.db"))
    monkeypatch.setenv("DOCBOT_DOCS", str(tree))
    monkeypatch.setenv("DOCBOT_EMBEDDER", "local")
    monkeypatch.chdir(tmp_path)

    assert main(["sync"]) == 0
    err = capsys.readouterr().err
    assert f"docbot: docs: not read env.md: {OUTSIDE}" in " ".join(err.split())
