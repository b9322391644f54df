"""Markdown files from a folder (or a glob) as documents.

Front matter (YAML between ``---`` lines) gives the title and tags and is not
indexed as body text. The title falls back to the first heading, then the file
name. Citation URLs come from a per-source template (``{path}`` is the file's
path relative to the folder, e.g. a GitHub blob URL) or else the file's own
``file://`` URL. Relative links inside a page are rewritten to absolute citation
URLs (or to the target's relative path) so they stay readable out of context.
"""

from __future__ import annotations

import glob as globlib
import posixpath
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from ingest.errors import SourceError
from ingest.models import Document
from ingest.sources.base import Scan, Source

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
    """A folder of Markdown files (recursively), or a glob pattern."""

    def __init__(
        self,
        name: str,
        path: str | Path,
        *,
        url_template: str | None = None,
        exclude: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.path = str(path)
        self.url_template = url_template
        self.exclude = exclude

    # --- listing ------------------------------------------------------------

    def _root_and_files(self) -> tuple[Path, list[Path]]:
        path = Path(self.path).expanduser()
        if any(ch in self.path for ch in "*?["):
            root = _glob_root(path)
            files = [Path(p) for p in globlib.glob(str(path), recursive=True)]
            files = [f for f in files if f.is_file()]
            if not files:
                raise SourceError(f"source {self.name!r}: no files match {self.path}")
        elif path.is_dir():
            root = path
            files = [p for p in path.rglob("*") if p.suffix.lower() in MARKDOWN_SUFFIXES]
            files = [f for f in files if f.is_file() and not _hidden(f.relative_to(root))]
        elif path.is_file():
            root, files = path.parent, [path]
        else:
            raise SourceError(
                f"source {self.name!r}: the docs folder {self.path} does not exist "
                "(check DOCBOT_DOCS or the source's path in docbot.toml)"
            )
        files = [
            f
            for f in files
            if not any(fnmatch(f.relative_to(root).as_posix(), pat) for pat in self.exclude)
        ]
        return root, sorted(files)

    def scan(self, cursor: str | None = None, *, full: bool = False) -> Scan:
        root, files = self._root_and_files()
        scan = Scan(documents=[], total=len(files))
        scan.all_ids = {f.relative_to(root).as_posix() for f in files}
        scan.documents = self._read_all(root, files, scan)
        return scan

    def _read_all(self, root: Path, files: list[Path], scan: Scan) -> Iterator[Document]:
        for file in files:
            rel = file.relative_to(root).as_posix()
            try:
                yield self.read(root, file)
            except SourceError as exc:
                scan.failures.append((rel, str(exc)))

    # --- one file -----------------------------------------------------------

    def url_for(self, rel: str, root: Path) -> str:
        if self.url_template:
            return self.url_template.format(path=quote(rel), stem=quote(rel.rsplit(".", 1)[0]))
        return (root / rel).resolve().as_uri()

    def read(self, root: Path, file: Path) -> Document:
        rel = file.relative_to(root).as_posix()
        try:
            size = file.stat().st_size
            if size > MAX_FILE_BYTES:
                raise SourceError(f"{rel}: {size:,} bytes is over the {MAX_FILE_BYTES:,} limit")
            raw = file.read_bytes()
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
            title = match.group(1).strip() if match else _title_from_name(file)
        body = self._rewrite_links(body, rel, root)
        updated = _front_matter_time(meta) or datetime.fromtimestamp(file.stat().st_mtime, UTC)
        folders = tuple(rel.split("/")[:-1])
        return Document(
            source=self.name,
            doc_id=rel,
            title=title,
            url=self.url_for(rel, root),
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


def _glob_root(pattern: Path) -> Path:
    """The folder part of a glob before its first wildcard (citations are relative to it)."""
    parts = []
    for part in pattern.parts:
        if any(ch in part for ch in "*?["):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _hidden(rel: Path) -> bool:
    return any(part.startswith((".", "_")) and part not in (".", "..") for part in rel.parts) or (
        "node_modules" in rel.parts
    )


def _title_from_name(path: Path) -> str:
    stem = path.stem if path.suffix else path.name
    return re.sub(r"[-_]+", " ", stem).strip().capitalize() or path.name
