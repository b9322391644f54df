"""Markdown files from a git repository: a shallow clone kept current, read as a folder.

The ``git`` binary does the transfer (no Python git library: it already speaks every
protocol and credential helper a team uses); ``MarkdownSource`` does the reading, so
a repository behaves exactly like a local docs folder.

The checkout lives in a cache directory next to the store, ``<db dir>/.docbot-cache/
git/<source name>``: it then moves, is backed up and is deleted together with the
database it feeds, and needs no home directory (containers often have none). The
first scan clones (``--depth 1``, one branch, into a temporary folder renamed into
place, so a clone cut short never looks complete); later scans fetch the branch
(``--depth 1``) and hard-reset to it, and re-clone if the configured repository
changed.

Citations point at the hosted file: ``https://github.com/o/r/blob/<branch>/<path>``
(GitLab ``/-/blob/``, Bitbucket ``/src/``), or the source's ``url`` template
(``{path}`` = the file's path relative to the scanned folder). A repository with no
web address (``file://``, a local path) cites the checked-out file.

Only the https, ssh and file transports ever run, whatever the environment or git
config allow: the URL is checked when the source is configured (``ext::`` would run a
command), and every git command runs with ``GIT_ALLOW_PROTOCOL`` set to those three
and ``protocol.allow=never`` for the rest. A repository's symlinks are its content:
the scanned folder must resolve inside the checkout, and files are read only inside
that folder (``ingest.sources.confine``), so ``env.md -> /proc/self/environ`` or a
link into ``.git`` is reported as skipped, never read.

Failures become ``SourceError`` (bad URL, unknown branch, authentication) or
``SourceUnavailable`` (network, timeout); messages never show a password or token
that was written into the repository URL.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
from itertools import takewhile
from pathlib import Path
from urllib.parse import quote, urlsplit

from ingest.errors import ConfigError, SourceError, SourceUnavailable
from ingest.settings import (
    GIT_PROTOCOLS,
    Settings,
    SourceConfig,
    check_inside,
    check_repo_url,
)
from ingest.sources.base import Scan, Source
from ingest.sources.confine import dotted
from ingest.sources.markdown import MarkdownSource

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 300.0
CACHE_DIR = ".docbot-cache"
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_SCP_LIKE = re.compile(r"^(?:[\w.-]+@)?(?P<host>[\w.-]+):(?P<path>(?!/)[^\s]+)$")
_WILDCARD = re.compile(r"[*?\[]")
_PROTOCOL_CONFIG = (
    "-c",
    "protocol.allow=never",
    *(arg for name in GIT_PROTOCOLS for arg in ("-c", f"protocol.{name}.allow=always")),
)
_UNAVAILABLE = (
    "could not resolve host",
    "connection refused",
    "connection timed out",
    "failed to connect",
    "operation timed out",
    "network is unreachable",
    "the requested url returned error: 5",
    "early eof",
    "the remote end hung up unexpectedly",
)
_AUTH = (
    "authentication failed",
    "permission denied",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "the requested url returned error: 401",
    "the requested url returned error: 403",
)
_NOT_FOUND = (
    "repository not found",
    "does not appear to be a git repository",
    "not found",
    "does not exist",
)


def redact(text: str) -> str:
    """``text`` with any ``user:token@`` in URLs replaced by ``***@``."""
    return _USERINFO.sub("***@", text)


def web_url(repo: str) -> str | None:
    """The repository's browsable https URL (no credentials, no ``.git``), if it has one."""
    match = _SCP_LIKE.match(repo) if "://" not in repo else None
    if match:  # git@github.com:org/repo.git
        host, path = match.group("host"), match.group("path")
    else:
        parts = urlsplit(repo)
        if parts.scheme not in ("http", "https", "ssh", "git") or not parts.hostname:
            return None
        host, path = parts.hostname, parts.path
        if parts.scheme in ("http", "https") and parts.port:
            host = f"{host}:{parts.port}"
    path = path.strip("/").removesuffix(".git")
    return f"https://{host}/{path}" if path else None


def blob_template(repo: str, branch: str, prefix: str = "") -> str | None:
    """A ``{path}`` citation template for files under ``prefix`` on ``branch``."""
    base = web_url(repo)
    if base is None:
        return None
    host = urlsplit(base).hostname or ""
    if "gitlab" in host:
        middle = "/-/blob/"
    elif host == "bitbucket.org":
        middle = "/src/"
    else:  # GitHub, GitHub Enterprise and most forges that copied its URLs
        middle = "/blob/"
    folder = quote(prefix.strip("/")) + "/" if prefix.strip("/") else ""
    url = f"{base}{middle}{quote(branch, safe='/')}/{folder}"
    return url.replace("{", "{{").replace("}", "}}") + "{path}"


class GitSource(Source):
    """Markdown in a git repository (optionally one folder of it, or a glob)."""

    def __init__(
        self,
        name: str,
        repo: str,
        *,
        cache_dir: str | Path,
        branch: str | None = None,
        path: str | None = None,
        glob: str | None = None,
        exclude: tuple[str, ...] = (),
        url_template: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        git: str = "git",
    ) -> None:
        if branch is not None and (not branch.strip() or branch.startswith("-")):
            raise ConfigError(f"source {name!r}: branch {branch!r} is not a branch name")
        check_repo_url(repo, f"source {name!r}.repo")
        for key, value in (("path", path), ("glob", glob)):
            if value:
                check_inside(value, f"source {name!r}.{key}", "the repository")
        local = Path(repo).expanduser()
        if "://" not in repo and not _SCP_LIKE.match(repo) and local.exists():
            repo = local.resolve().as_uri()  # a local path: file:// keeps --depth working
        self.name, self.repo, self.branch = name, repo, branch
        self.cache_dir = Path(cache_dir)
        self.subdir = (path or "").strip("/")
        self.glob, self.exclude, self.url_template = glob, exclude, url_template
        self.timeout, self.git = timeout, git

    @classmethod
    def from_config(cls, config: SourceConfig, settings: Settings) -> GitSource:
        options = config.options
        repo = options.get("repo")
        if not isinstance(repo, str) or not repo.strip():
            raise ConfigError(f"source {config.name!r}.repo: a git source needs a repository URL")
        exclude = options.get("exclude", ())
        exclude = [exclude] if isinstance(exclude, str) else exclude
        if not isinstance(exclude, list | tuple) or not all(isinstance(x, str) for x in exclude):
            raise ConfigError(f"source {config.name!r}.exclude: must be a list of glob patterns")
        db_dir = settings.db_path.expanduser().resolve().parent
        return cls(
            config.name,
            repo.strip(),
            cache_dir=db_dir / CACHE_DIR / "git" / config.name,
            branch=options.get("branch"),
            path=config.path,
            glob=options.get("glob"),
            exclude=tuple(exclude),
            url_template=config.url,
        )

    @property
    def display_repo(self) -> str:
        return redact(self.repo)

    # -- scanning ---------------------------------------------------------------------
    def scan(self, cursor: str | None = None, *, full: bool = False) -> Scan:
        branch, commit = self.update()
        checkout = self.cache_dir.resolve()
        folder = (checkout / self.subdir).resolve() if self.subdir else checkout
        if not folder.is_relative_to(checkout) or dotted(folder.relative_to(checkout).parts):
            raise SourceError(
                f"source {self.name!r}: the folder {self.subdir!r} is a symlink that leads "
                f"outside the repository (or into .git) on branch {branch!r}; it is not read"
            )
        if not folder.is_dir():
            raise SourceError(
                f"source {self.name!r}: the repository has no folder {self.subdir!r} on branch "
                f"{branch!r} (check the source's path)"
            )
        pattern = str(folder / self.glob) if self.glob else str(folder)
        template = self.citation_template(branch)
        markdown = MarkdownSource(
            self.name, pattern, url_template=template, exclude=self.exclude, boundary=folder
        )
        scan = markdown.scan()
        scan.cursor = commit
        log.info(
            "source %s: %s at %s (%s), %s files",
            self.name,
            self.display_repo,
            branch,
            commit[:12],
            scan.total,
        )
        return scan

    def citation_template(self, branch: str) -> str | None:
        """The ``{path}`` URL template for citations (the ``url`` option wins)."""
        if self.url_template:
            return self.url_template
        # {path} is relative to the scanned folder: the path, plus a glob's fixed part.
        fixed = takewhile(lambda p: not _WILDCARD.search(p), _parts(self.subdir, self.glob))
        return blob_template(self.repo, branch, "/".join(fixed))

    def update(self) -> tuple[str, str]:
        """Clone or fetch + reset the cache checkout; returns (branch, commit)."""
        dest = self.cache_dir
        if (dest / ".git").is_dir() and self._origin(dest) == self.repo:
            ref = self.branch or self._run("symbolic-ref", "--short", "-q", "HEAD", cwd=dest)
            self._run(
                "fetch", "--depth", "1", "--no-tags", "--quiet", "origin", ref or "HEAD", cwd=dest
            )
            self._run("reset", "--hard", "--quiet", "FETCH_HEAD", cwd=dest)
            self._run("clean", "-ffdxq", cwd=dest)
        else:
            self._clone(dest)
        branch = self.branch or self._run("symbolic-ref", "--short", "-q", "HEAD", cwd=dest)
        commit = self._run("rev-parse", "HEAD", cwd=dest)
        return branch or commit, commit

    def _clone(self, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        temp = dest.with_name(f"{dest.name}.cloning-{os.getpid()}")
        shutil.rmtree(temp, ignore_errors=True)
        args = ["clone", "--depth", "1", "--single-branch", "--no-tags", "--quiet"]
        if self.branch:
            args += ["--branch", self.branch]
        try:
            self._run(*args, "--", self.repo, str(temp))
            shutil.rmtree(dest, ignore_errors=True)
            temp.rename(dest)
        finally:
            shutil.rmtree(temp, ignore_errors=True)

    def _origin(self, dest: Path) -> str | None:
        try:
            return self._run("config", "--get", "remote.origin.url", cwd=dest)
        except SourceError:
            return None

    def _run(self, *args: str, cwd: Path | None = None) -> str:
        """Run git; stdout on success, our errors on failure (no prompt, bounded time,
        and only the https, ssh and file transports, whatever the environment says)."""
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANGUAGE": "C"}
        env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        env["GIT_ALLOW_PROTOCOL"] = ":".join(GIT_PROTOCOLS)
        try:
            proc = subprocess.Popen(
                [self.git, *_PROTOCOL_CONFIG, *args],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,  # so a timeout can stop git's helpers too
            )
        except FileNotFoundError:
            raise SourceError(
                f"source {self.name!r}: the git program is not installed (or not on PATH)"
            ) from None
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise SourceUnavailable(
                f"source {self.name!r}: git {args[0]} of {self.display_repo} took longer than "
                f"{self.timeout:g} s; the next sync will try again"
            ) from None
        if proc.returncode != 0:
            if args[0] in ("config", "symbolic-ref") and not err.strip():
                return ""  # "not set" / detached HEAD: an answer, not a failure
            raise self._error(args[0], err)
        return out.strip()

    def _error(self, command: str, stderr: str) -> SourceError:
        """Classify git's complaint; quote the line that says why (credentials redacted)."""
        lines = [redact(line.strip()) for line in stderr.splitlines() if line.strip()]
        where = f"source {self.name!r}: {self.display_repo}"

        def why(patterns: tuple[str, ...] = ()) -> str:
            hits = [line for line in lines if any(p in line.lower() for p in patterns)]
            hits += [line for line in lines if line.startswith("fatal:")] + lines
            return hits[0].removeprefix("fatal:").strip() if hits else f"git {command} failed"

        low = stderr.lower()
        if self.branch and ("remote branch" in low or "couldn't find remote ref" in low):
            return SourceError(f"{where} has no branch {self.branch!r} (check the source's branch)")
        if any(s in low for s in _AUTH):
            return SourceError(
                f"{where}: git could not authenticate ({why(_AUTH)}); give git access to the "
                "repository (credential helper, SSH key or a token)"
            )
        if any(s in low for s in _UNAVAILABLE):
            return SourceUnavailable(
                f"{where} cannot be reached ({why(_UNAVAILABLE)}); the next sync will try again"
            )
        if any(s in low for s in _NOT_FOUND):
            return SourceError(
                f"{where}: repository not found ({why(_NOT_FOUND)}); check the source's repo"
            )
        return SourceError(f"{where}: git {command} failed: {why()}")


def _parts(*paths: str | None) -> list[str]:
    return [part for path in paths if path for part in path.split("/") if part and part != "."]


def _kill(proc: subprocess.Popen[str]) -> None:
    """Stop git and its helper processes (remote-https, ssh, upload-pack)."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except ProcessLookupError:
        pass
    proc.communicate()
