"""Markdown files from a folder (or a glob) as documents.

Front matter (YAML between ``---`` lines) gives the title and tags and is not
indexed as body text. The title falls back to the first heading, then the file
name. Citation URLs come from a per-source template (``{path}`` is the file's
path relative to the folder, e.g. a GitHub blob URL) or else the file's own
``file://`` URL. Relative links inside a page are rewritten to absolute citation
URLs (or to the target's relative path) so they stay readable out of context.

Files are listed and opened through ``ingest.sources.confine``: nothing whose resolved
path leaves the folder (for a glob, the folder before its first wildcard) is read,
and what is skipped for that reason is reported in ``Scan.skipped``. Globs match
Markdown files only, as folders do.
"""

from __future__ import annotations

import logging
import posixpath
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from fnmatch import fnmatch, fnmatchcase
from pathlib import Path
from string import Formatter
from typing import Any
from urllib.parse import quote

import yaml

from ingest.errors import SourceError
from ingest.models import Document
from ingest.settings import check_glob, check_url_template
from ingest.sources.base import Scan, Source
from ingest.sources.confine import Entry, Listing, dotted, read_beneath, walk

log = logging.getLogger(__name__)

MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdx")
MAX_FILE_BYTES = 5_000_000
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_FIRST_HEADING = re.compile(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
_LINK = re.compile(r"(!?)\[([^\]\n]*)\]\(([^)\s]+)(\s+\"[^\"]*\")?\)")


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """(front matter dict, body). Malformed YAML is treated as no front matter but
    is still removed from the body, so it is never indexed as text."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        data = None
    return (data if isinstance(data, dict) else {}), text[match.end() :]


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    if isinstance(value, list):
        return tuple(str(t) for t in value if t is not None)
    return ()


class MarkdownSource(Source):
    """A folder of Markdown files (recursively), or a glob pattern, read without ever
    leaving the folder (or the glob's fixed folder): see ``ingest.sources.confine``."""

    def __init__(
        self,
        name: str,
        path: str | Path,
        *,
        url_template: str | None = None,
        exclude: tuple[str, ...] = (),
        boundary: Path | None = None,
    ) -> None:
        self.name = name
        self.path = str(path)
        self.url_template = (
            check_url_template(url_template, f"source {name!r}.url") if url_template else None
        )
        self.exclude = exclude
        self.boundary = boundary
        """A folder the root must resolve inside (a git checkout), or None."""
        if _is_glob(self.path):
            check_glob(self.path, f"source {name!r}.path")

    # --- listing ------------------------------------------------------------

    def _excluded(self, rel: str) -> bool:
        return any(fnmatch(rel, pat) for pat in self.exclude)

    def _list(self) -> Listing:
        path = Path(self.path).expanduser()
        if _is_glob(self.path):
            fixed = _glob_root(path)
            pattern = _collapse(path.parts[len(fixed.parts) :])
            root = self._root(fixed, glob=True)
            listing = walk(
                root,
                want=lambda p: (
                    _is_markdown(p[-1]) and _matches(p, pattern) and not self._excluded("/".join(p))
                ),
                descend=lambda p: _could_match(p, pattern),
            )
            if not listing.files and not listing.skipped:
                raise SourceError(f"source {self.name!r}: no Markdown files match {self.path}")
            return listing
        if path.is_dir():
            return walk(
                self._root(path),
                want=lambda p: (
                    _is_markdown(p[-1]) and not _hidden(p) and not self._excluded("/".join(p))
                ),
                descend=lambda p: not _hidden(p),
            )
        if path.is_file():
            file = path.resolve()
            root = self._root(file.parent)
            return Listing(root, files=[Entry(path.name, (file.name,))])
        raise SourceError(
            f"source {self.name!r}: the docs folder {self.path} does not exist "
            "(check DOCBOT_DOCS or the source's path in docbot.toml)"
        )

    def _root(self, folder: Path, *, glob: bool = False) -> Path:
        """``folder`` resolved; it must be a folder inside ``boundary`` when one is set."""
        root = folder.resolve()
        boundary = self.boundary.resolve() if self.boundary is not None else None
        if boundary and not (
            root.is_relative_to(boundary) and not dotted(root.relative_to(boundary).parts)
        ):
            raise SourceError(
                f"source {self.name!r}: {self.path} leads outside the repository checkout "
                "or into a dot-folder such as .git (a symlink in the source's path or glob)"
            )
        if not root.is_dir():
            what = "no Markdown files match" if glob else "the docs folder does not exist:"
            raise SourceError(f"source {self.name!r}: {what} {self.path}")
        return root

    def scan(self, cursor: str | None = None, *, full: bool = False) -> Scan:
        listing = self._list()
        for rel, reason in listing.skipped:
            log.warning("source %s: skipped %s: %s", self.name, rel, reason)
        scan = Scan(documents=[], total=len(listing.files), skipped=list(listing.skipped))
        scan.all_ids = {entry.rel for entry in listing.files}
        scan.documents = self._read_all(listing, scan)
        return scan

    def _read_all(self, listing: Listing, scan: Scan) -> Iterator[Document]:
        for entry in listing.files:
            try:
                yield self.read(listing.root, entry)
            except SourceError as exc:
                scan.failures.append((entry.rel, str(exc)))

    # --- one file -----------------------------------------------------------

    def url_for(self, rel: str, root: Path, real: Sequence[str] = ()) -> str:
        """The citation URL: the template's, else the ``file://`` URL of the file read."""
        if self.url_template:
            return render_url(self.url_template, rel)
        return root.joinpath(*(real or rel.split("/"))).as_uri()

    def read(self, root: Path, entry: Entry) -> Document:
        """One listed file (``root`` is ``Listing.root``), opened beneath the root."""
        rel = entry.rel
        try:
            raw, info = read_beneath(root, entry.real, MAX_FILE_BYTES)
        except SourceError as exc:
            raise SourceError(f"{rel}: {exc}") from exc
        except OSError as exc:
            raise SourceError(f"{rel}: cannot read ({exc.strerror})") from exc
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SourceError(
                f"{rel}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
            ) from exc
        meta, body = split_front_matter(text.replace("\r\n", "\n"))
        title = str(meta.get("title") or "").strip()
        if not title:
            match = _FIRST_HEADING.search(body)
            title = match.group(1).strip() if match else _title_from_name(Path(rel))
        body = self._rewrite_links(body, rel, root)
        updated = _front_matter_time(meta) or datetime.fromtimestamp(info.st_mtime, UTC)
        folders = tuple(rel.split("/")[:-1])
        return Document(
            source=self.name,
            doc_id=rel,
            title=title,
            url=self.url_for(rel, root, entry.real),
            body=body.strip() + "\n",
            updated_at=updated,
            author=str(meta.get("author") or meta.get("owner") or "") or None,
            breadcrumbs=tuple(_title_from_name(Path(f)) for f in folders),
            tags=_tags(meta.get("tags")),
        )

    def _rewrite_links(self, body: str, rel: str, root: Path) -> str:
        base = posixpath.dirname(rel)

        def fix(match: re.Match[str]) -> str:
            bang, text, target, title = match.groups()
            if bang or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
                return match.group(0)
            path, _, anchor = target.partition("#")
            if path.startswith("/"):
                resolved = path.lstrip("/")
            else:
                resolved = posixpath.normpath(posixpath.join(base, path))
            url = self.url_for(resolved, root) if self.url_template else resolved
            if anchor:
                url = f"{url}#{anchor}"
            return f"[{text}]({url}{title or ''})"

        return _LINK.sub(fix, body)


def _front_matter_time(meta: dict[str, Any]) -> datetime | None:
    """``updated:`` / ``last_modified:`` / ``date:`` from front matter (YAML gives a
    ``date``, a ``datetime`` or a string)."""
    for key in ("updated", "last_modified", "lastmod", "date"):
        value = meta.get(key)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip())
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def render_url(template: str, rel: str) -> str:
    """A citation URL from a checked template: only ``{path}`` and ``{stem}`` are
    substituted (quoted), never evaluated, so a template cannot reach an attribute."""
    values = {"path": quote(rel), "stem": quote(rel.rsplit(".", 1)[0])}
    out = []
    for literal, name, _spec, _conversion in Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(values[name])  # check_url_template allowed nothing else
    return "".join(out)


def _is_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _is_markdown(name: str) -> bool:
    return Path(name).suffix.lower() in MARKDOWN_SUFFIXES


def _collapse(parts: Sequence[str]) -> tuple[str, ...]:
    """The glob's wildcard parts, with runs of ``**`` made one (same meaning, less work)."""
    out: list[str] = []
    for part in parts:
        if not (part == "**" and out and out[-1] == "**"):
            out.append(part)
    return tuple(out)


def _part(name: str, pattern: str) -> bool:
    """One path component against one glob component; as ``glob`` does, wildcards do
    not match names starting with a dot unless the pattern does."""
    if name.startswith(".") and not pattern.startswith("."):
        return False
    return fnmatchcase(name, pattern)


def _matches(parts: Sequence[str], pattern: Sequence[str]) -> bool:
    """Whether a file path (components) matches the glob (``**`` = any folders)."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        if _matches(parts, pattern[1:]):
            return True
        return bool(parts) and not parts[0].startswith(".") and _matches(parts[1:], pattern)
    return bool(parts) and _part(parts[0], pattern[0]) and _matches(parts[1:], pattern[1:])


def _could_match(parts: Sequence[str], pattern: Sequence[str]) -> bool:
    """Whether a folder at ``parts`` may hold files the glob matches (else not entered)."""
    if not parts:
        return bool(pattern)
    if not pattern:
        return False
    if pattern[0] == "**":
        if _could_match(parts, pattern[1:]):
            return True
        return not parts[0].startswith(".") and _could_match(parts[1:], pattern)
    return _part(parts[0], pattern[0]) and _could_match(parts[1:], pattern[1:])


def _glob_root(pattern: Path) -> Path:
    """The folder part of a glob before its first wildcard (citations are relative to it)."""
    parts = []
    for part in pattern.parts:
        if any(ch in part for ch in "*?["):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _hidden(parts: Sequence[str]) -> bool:
    """Folders and files a folder source leaves out: ``.git``, ``_drafts``, node_modules."""
    return any(part.startswith((".", "_")) for part in parts) or "node_modules" in parts


def _title_from_name(path: Path) -> str:
    stem = path.stem if path.suffix else path.name
    return re.sub(r"[-_]+", " ", stem).strip().capitalize() or path.name
