"""The git source against real repositories created in the test (no network).

Each test builds a bare repository with the real ``git`` binary, pushes commits to it
through a work tree, and points ``GitSource`` at it with a ``file://`` URL, then syncs
through the real ``sync_source`` into a real store where it matters.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ingest.errors import ConfigError, SourceError, SourceUnavailable
from ingest.settings import Settings, SourceConfig, load_settings
from ingest.sources import build_source
from ingest.sources.git import GitSource, blob_template, web_url
from ingest.store import Store
from ingest.sync import sync_source
from tests.fakes.embedders import HashEmbedder

FILES = {
    "README.md": "# Handbook repo\n\nNot under docs/.\n",
    "docs/vpn.md": "# VPN\n\nConnect with WireGuard to vpn.acme.example.\n",
    "docs/guides/deploy.md": "# Deploys\n\nDeploy on Tuesdays. See [VPN](../vpn.md).\n",
    "docs/drafts/wip.md": "# Work in progress\n\nNot ready.\n",
    "docs/logo.txt": "not markdown\n",
}


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com",
         "-c", "commit.gpgsign=false", *args],
        cwd=cwd, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()


class Remote:
    """A bare repository (``url``) and a work tree that pushes to it."""

    def __init__(self, root: Path, files: dict[str, str], branch: str = "main") -> None:
        self.bare, self.work, self.branch = root / "origin.git", root / "work", branch
        self.bare.mkdir(parents=True)
        self.work.mkdir()
        git("init", "--bare", "-q", "-b", branch, str(self.bare), cwd=root)
        git("init", "-q", "-b", branch, cwd=self.work)
        git("remote", "add", "origin", str(self.bare), cwd=self.work)
        self.commit(files)

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def commit(self, files: dict[str, str | None], message: str = "update") -> str:
        """Write (or, for None, delete) files, commit and push; returns the commit id."""
        for rel, text in files.items():
            path = self.work / rel
            if text is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        git("push", "-q", "origin", self.branch, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "remote", dict(FILES))


@pytest.fixture
def store(tmp_path: Path) -> Any:
    store = Store(tmp_path / "docbot.db")
    yield store
    store.close()


def source(remote: Remote | str, cache: Path, **options: Any) -> GitSource:
    repo = remote.url if isinstance(remote, Remote) else remote
    options.setdefault("path", "docs")
    return GitSource("handbook", repo, cache_dir=cache, **options)


def test_clones_shallow_and_scans_the_folder(remote: Remote, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    scan = source(remote, cache, branch="main", exclude=("drafts/*",)).scan()
    docs = {d.doc_id: d for d in scan.documents}

    assert set(docs) == {"vpn.md", "guides/deploy.md"}
    assert scan.cursor == git("rev-parse", "HEAD", cwd=remote.work)
    assert docs["vpn.md"].title == "VPN" and "WireGuard" in docs["vpn.md"].body
    assert docs["vpn.md"].url == (cache / "docs" / "vpn.md").resolve().as_uri()
    assert git("rev-parse", "--is-shallow-repository", cwd=cache) == "true"
    assert not list(tmp_path.glob("cache.cloning-*"))


def test_sync_fetches_pushed_changes_into_the_same_checkout(
    remote: Remote, tmp_path: Path, store: Store
) -> None:
    cache = tmp_path / "cache"
    first = sync_source(store, source(remote, cache), HashEmbedder())
    assert (first.status, first.added) == ("ok", 3)
    marker = cache / ".git" / "docbot-test-marker"
    marker.write_text("survives a fetch, not a re-clone")
    remote.commit(
        {
            "docs/vpn.md": "# VPN\n\nThe VPN moved to Tailscale.\n",
            "docs/guides/deploy.md": None,
            "docs/oncall.md": "# On call\n\nPage the SRE lead.\n",
        }
    )
    (cache / "docs" / "stray.md").write_text("# Left behind\n")  # a local edit to discard

    second = sync_source(store, source(remote, cache), HashEmbedder())

    assert (second.added, second.updated, second.deleted, second.unchanged) == (1, 1, 1, 1)
    assert marker.exists()
    assert set(store.document_shas("handbook")) == {"vpn.md", "oncall.md", "drafts/wip.md"}
    assert store.load_hits(store.fts_search("tailscale", 5))[0].doc_id == "vpn.md"
    assert git("rev-parse", "--is-shallow-repository", cwd=cache) == "true"


def test_the_default_branch_is_used_when_none_is_configured(tmp_path: Path) -> None:
    other = Remote(tmp_path / "trunk", {"docs/a.md": "# A\n"}, branch="trunk")
    cloned = source(other, tmp_path / "cache")
    assert cloned.update()[0] == "trunk"
    other.commit({"docs/b.md": "# B\n"})
    assert cloned.update()[0] == "trunk"
    assert {d.doc_id for d in cloned.scan().documents} == {"a.md", "b.md"}


def test_citations_point_at_the_hosted_file() -> None:
    cases = {
        "https://github.com/acme/handbook.git": "https://github.com/acme/handbook/blob/main/docs/{path}",
        "git@github.com:acme/handbook.git": "https://github.com/acme/handbook/blob/main/docs/{path}",
        "ssh://git@github.com/acme/handbook": "https://github.com/acme/handbook/blob/main/docs/{path}",
        "https://gitlab.com/acme/tools/handbook.git": (
            "https://gitlab.com/acme/tools/handbook/-/blob/main/docs/{path}"
        ),
        "https://gitlab.acme.io:8443/acme/handbook.git": (
            "https://gitlab.acme.io:8443/acme/handbook/-/blob/main/docs/{path}"
        ),
        "https://bitbucket.org/acme/handbook.git": (
            "https://bitbucket.org/acme/handbook/src/main/docs/{path}"
        ),
        "https://x-access-token:s3cret@github.com/acme/handbook.git": (
            "https://github.com/acme/handbook/blob/main/docs/{path}"
        ),
    }
    for repo, expected in cases.items():
        assert blob_template(repo, "main", "docs") == expected, repo
    assert blob_template("https://github.com/a/b", "release/2.0", "") == (
        "https://github.com/a/b/blob/release/2.0/{path}"
    )
    assert blob_template("https://github.com/a/b", "main", "my docs").endswith("/my%20docs/{path}")
    assert web_url("file:///srv/git/handbook.git") is None


def test_the_citation_prefix_follows_path_and_glob(tmp_path: Path) -> None:
    def template(**options: Any) -> str | None:
        repo = "https://github.com/acme/handbook.git"
        return GitSource("h", repo, cache_dir=tmp_path, **options).citation_template("main")

    base = "https://github.com/acme/handbook/blob/main/"
    assert template(path="docs") == base + "docs/{path}"
    assert template(path="docs", glob="**/*.md") == base + "docs/{path}"
    assert template(glob="handbook/*/guides/*.md") == base + "handbook/{path}"
    assert template() == base + "{path}"
    assert template(url_template="https://docs.acme.io/{stem}") == "https://docs.acme.io/{stem}"


def test_the_url_template_overrides_the_citation(remote: Remote, tmp_path: Path) -> None:
    scan = source(remote, tmp_path / "c", url_template="https://docs.acme.io/{path}").scan()
    docs = {d.doc_id: d for d in scan.documents}
    assert docs["guides/deploy.md"].url == "https://docs.acme.io/guides/deploy.md"
    assert "(https://docs.acme.io/vpn.md)" in docs["guides/deploy.md"].body


def test_an_unknown_branch_is_a_clear_error(remote: Remote, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="has no branch 'nope'"):
        source(remote, tmp_path / "cache", branch="nope").scan()


def test_a_missing_folder_is_a_clear_error(remote: Remote, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="has no folder 'manual'"):
        source(remote, tmp_path / "cache", path="manual").scan()


def test_a_missing_repository_fails_the_run_and_keeps_content(
    remote: Remote, tmp_path: Path, store: Store
) -> None:
    cache = tmp_path / "cache"
    sync_source(store, source(remote, cache), HashEmbedder())
    cursor = store.get_cursor("handbook")

    report = sync_source(store, source("file:///nowhere/at/all.git", cache), HashEmbedder())

    assert report.status == "failed" and "repository not found" in (report.error or "")
    assert len(store.document_shas("handbook")) == 3 and store.get_cursor("handbook") == cursor
    assert (cache / "docs" / "vpn.md").exists()  # the old checkout is not thrown away


def test_an_unreachable_host_is_unavailable_and_hides_the_token(tmp_path: Path) -> None:
    repo = "https://deploy:s3cret-token@127.0.0.1:1/acme/handbook.git"
    with pytest.raises(SourceUnavailable) as caught:
        source(repo, tmp_path / "cache", timeout=30).scan()
    assert "s3cret-token" not in str(caught.value) and "***@127.0.0.1" in str(caught.value)


def test_a_git_that_takes_too_long_is_stopped(remote: Remote, tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="took longer than"):
        source(remote, tmp_path / "cache", timeout=0.001).scan()


def test_a_changed_repository_url_is_cloned_afresh(remote: Remote, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    source(remote, cache).update()
    other = Remote(tmp_path / "other", {"docs/only.md": "# Only\n"})
    assert {d.doc_id for d in source(other, cache).scan().documents} == {"only.md"}


def test_from_config_keeps_the_checkout_next_to_the_database(tmp_path: Path) -> None:
    options = {"repo": "https://github.com/acme/handbook.git", "branch": "main",
               "exclude": ["drafts/*"], "glob": "**/*.md"}  # fmt: skip
    config = SourceConfig("handbook", "git", path="docs", options=options)
    settings = Settings(db_path=tmp_path / "data" / "docbot.db")

    built = build_source(config, settings)

    assert isinstance(built, GitSource)
    assert built.cache_dir == tmp_path / "data" / ".docbot-cache" / "git" / "handbook"
    assert (built.branch, built.subdir, built.glob, built.exclude) == (
        "main", "docs", "**/*.md", ("drafts/*",)
    )  # fmt: skip
    with pytest.raises(ConfigError, match="exclude"):
        GitSource.from_config(SourceConfig("h", "git", options={**options, "exclude": 3}), settings)
    with pytest.raises(ConfigError, match="branch"):
        GitSource.from_config(
            SourceConfig("h", "git", options={**options, "branch": "--upload-pack=x"}), settings
        )


# -- transports: https, ssh and file only (issue 11) ----------------------------------------


def ext_url(marker: Path) -> str:
    """A real ``ext::`` URL: if git ever ran it, ``marker`` would exist."""
    return f"ext::sh -c touch% {marker}"


def test_ext_urls_are_refused_when_configured(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for repo in (ext_url(marker), "fd::3", "http://git.acme.io/h.git", "git://acme.io/h.git"):
        with pytest.raises(ConfigError, match=r"source 'h'\.repo: .*not allowed"):
            GitSource("h", repo, cache_dir=tmp_path / "cache")
        config = tmp_path / "docbot.toml"
        config.write_text(f'[[sources]]\nname = "h"\ntype = "git"\nrepo = "{repo}"\n')
        with pytest.raises(ConfigError, match=r"sources\[0\]\.repo: .*not allowed") as caught:
            load_settings({}, config)
        assert "\n" not in str(caught.value)
    for repo in ("https://github.com/a/b.git", "ssh://git@github.com/a/b", "git@github.com:a/b",
                 "file:///srv/git/b.git", "/srv/git/b.git"):  # fmt: skip
        GitSource("h", repo, cache_dir=tmp_path / "cache")
    assert not marker.exists()


def test_ext_never_runs_even_when_the_environment_allows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    global_config = tmp_path / "gitconfig"
    global_config.write_text('[protocol "ext"]\n\tallow = always\n[protocol]\n\tallow = always\n')
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "ext:fd:https:ssh:file")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
    plain = subprocess.run(["git", "clone", ext_url(marker), str(tmp_path / "control")],
                           capture_output=True, text=True, env=os.environ.copy())  # fmt: skip
    if not marker.exists():
        pytest.skip(f"this git does not run ext:: even when allowed: {plain.stderr[-200:]}")
    marker.unlink()

    # Past the config check (a URL that slipped in some other way): git itself refuses.
    source = GitSource("h", "https://github.com/acme/handbook.git", cache_dir=tmp_path / "c")
    source.repo = ext_url(marker)
    with pytest.raises(SourceError, match="transport 'ext' not allowed"):
        source.update()
    assert not marker.exists()
