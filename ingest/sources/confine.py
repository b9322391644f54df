"""Files read without leaving a root: the walk and the open that Markdown sources use.

A docs folder (and even more a git checkout) is content other people write, and a
symlink is content too: ``env.md -> /proc/self/environ`` or ``settings.md ->
../../../.env`` must never be read, whatever its name says. Two rules, each kept here:

- ``walk`` lists a root without leaving it. Every symlink is resolved; one whose
  target lies outside the root, or in a dot-folder inside it (``.git`` holds a
  checkout's credentials, ``.env`` a folder's secrets), is not followed but reported
  in ``Listing.skipped`` with the reason. Real folders are walked first and every
  folder at most once (known by device and inode), so a folder symlinked within the
  root is read once, under one path, and symlink loops end instead of hanging.
- ``read_beneath`` opens a listed file by its resolved path one component at a time
  from a descriptor of the root, refusing a symlink at every step (``O_NOFOLLOW``),
  and checks with ``fstat`` that it opened a regular file. A path swapped for a
  symlink between the walk and the read therefore fails instead of being followed:
  there is no window between the check and the use. At most ``limit + 1`` bytes are
  read, since ``/proc``-style files report a size of 0.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.errors import SourceError

Parts = tuple[str, ...]
Predicate = Callable[[Parts], bool]

OUTSIDE = "symlink to a path outside the source root"
INTO_HIDDEN = "symlink into a hidden (dot) folder or file of the source, such as .git"
SEEN = "symlink to a folder already read (a loop, or a second path to the same folder)"
LOOP = "symlink loop"
BROKEN = "broken symlink (its target does not exist)"
SPECIAL = "not a regular file (a device, pipe or socket)"

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO must not block the open
BENEATH = bool(_O_NOFOLLOW and _O_DIRECTORY) and os.open in os.supports_dir_fd
"""Whether this platform can open a path component by component (POSIX); elsewhere
``read_beneath`` opens the resolved path and compares it with what it opened."""


@dataclass(frozen=True)
class Entry:
    """One file to read: ``rel`` is its path as listed (the document id), ``real`` the
    components of its resolved path below the root (what is opened)."""

    rel: str
    real: Parts


@dataclass
class Listing:
    root: Path
    """The resolved root; every ``Entry.real`` is relative to it."""
    files: list[Entry] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(path as listed, reason) of files and folders deliberately not read."""


def dotted(parts: Parts) -> bool:
    """A path through a dot-folder or to a dot-file (``.git/config``, ``.env``)."""
    return any(part.startswith(".") for part in parts)


def walk(root: Path, *, want: Predicate, descend: Predicate) -> Listing:
    """The files under ``root`` for which ``want`` holds, never leaving ``root``.

    ``descend`` says which folders to enter (by their listed path). Only files that
    are wanted and folders that would be entered are reported when skipped, so the
    report names what the source would otherwise have read.
    """
    return _Walk(root.resolve(strict=True), want, descend).run()


class _Walk:
    def __init__(self, root: Path, want: Predicate, descend: Predicate) -> None:
        self.listing = Listing(root)
        self.root, self.want, self.descend = root, want, descend
        self.seen: set[tuple[int, int]] = set()
        self.links: deque[tuple[Parts, Path, Parts]] = deque()

    def run(self) -> Listing:
        self.seen.add(_key(os.stat(self.root)))
        self.folder(self.root, (), ())
        while self.links:  # real folders first, so a folder keeps its own path
            parts, target, real = self.links.popleft()
            try:
                key = _key(os.stat(target))
            except OSError:  # gone since it was listed
                self.skip(parts, BROKEN, folder=True)
                continue
            if key in self.seen:
                self.skip(parts, SEEN, folder=True)
                continue
            self.seen.add(key)
            self.folder(target, parts, real)
        self.listing.files.sort(key=lambda e: e.rel)
        self.listing.skipped.sort()
        return self.listing

    def skip(self, parts: Parts, reason: str, *, folder: bool = False) -> None:
        self.listing.skipped.append(("/".join(parts) + ("/" if folder else ""), reason))

    def folder(self, path: Path, parts: Parts, real: Parts) -> None:
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            if not parts:
                raise SourceError(f"cannot list {path} ({exc.strerror})") from exc
            self.skip(parts, f"cannot list the folder ({exc.strerror})", folder=True)
            return
        for entry in entries:
            here, there = (*parts, entry.name), (*real, entry.name)
            if entry.is_symlink():
                self.link(entry, here)
            elif entry.is_dir(follow_symlinks=False):
                if self.descend(here):
                    try:
                        key = _key(entry.stat(follow_symlinks=False))
                    except OSError as exc:  # gone since it was listed
                        self.skip(here, f"cannot list the folder ({exc.strerror})", folder=True)
                        continue
                    if key in self.seen:  # a bind mount of a folder already read
                        self.skip(here, SEEN, folder=True)
                    else:
                        self.seen.add(key)
                        self.folder(Path(entry.path), here, there)
            elif self.want(here):
                if entry.is_file(follow_symlinks=False):
                    self.listing.files.append(Entry("/".join(here), there))
                else:
                    self.skip(here, SPECIAL)

    def link(self, entry: os.DirEntry[str], parts: Parts) -> None:
        try:
            target = Path(os.path.realpath(entry.path, strict=True))
            info = os.stat(target)
        except OSError as exc:
            if self.want(parts):
                self.skip(parts, LOOP if exc.errno == errno.ELOOP else BROKEN)
            return
        is_dir = stat.S_ISDIR(info.st_mode)
        if not (self.descend(parts) if is_dir else self.want(parts)):
            return
        if not target.is_relative_to(self.root):
            self.skip(parts, OUTSIDE, folder=is_dir)
            return
        real = target.relative_to(self.root).parts
        if dotted(real):
            self.skip(parts, INTO_HIDDEN, folder=is_dir)
        elif is_dir:
            self.links.append((parts, target, real))
        elif stat.S_ISREG(info.st_mode):
            self.listing.files.append(Entry("/".join(parts), real))
        else:
            self.skip(parts, SPECIAL)


def _key(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def read_beneath(
    root: Path, real: Sequence[str], limit: int, *, beneath: bool = BENEATH
) -> tuple[bytes, os.stat_result]:
    """The bytes of ``root/real...`` (and its stat), opened without following any
    symlink below ``root``; raises ``SourceError`` (too large, not a regular file)
    or ``OSError`` (gone, unreadable, turned into a symlink since it was listed)."""
    if not real or any(part in ("", ".", "..") or "/" in part for part in real):
        raise SourceError(f"{'/'.join(real)!r} is not a path below the source root")
    fd = _open_beneath(root, real) if beneath else _open_checked(root, real)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SourceError(SPECIAL)
        if info.st_size > limit:
            raise SourceError(f"{info.st_size:,} bytes is over the {limit:,} limit")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise SourceError(f"more than {limit:,} bytes (over the limit)")
        return b"".join(chunks), info
    finally:
        os.close(fd)


def _open_beneath(root: Path, real: Sequence[str]) -> int:
    """Open component by component from the root, refusing symlinks at each step."""
    fd = os.open(root, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    try:
        for part in real[:-1]:
            child = os.open(part, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = child
        return os.open(real[-1], os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, dir_fd=fd)
    finally:
        os.close(fd)


def _open_checked(root: Path, real: Sequence[str]) -> int:
    """Where paths cannot be opened beneath a descriptor: open the resolved path, then
    check that it still resolves inside the root and that it is the file opened."""
    path = root.joinpath(*real)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | _O_NOFOLLOW | _O_NONBLOCK)
    try:
        resolved = Path(os.path.realpath(path))
        if resolved != path or not os.path.samestat(os.fstat(fd), os.stat(resolved)):
            raise OSError(errno.ELOOP, "the file changed into a symlink while being read")
    except BaseException:
        os.close(fd)
        raise
    return fd
