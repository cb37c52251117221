"""The site directory as a publishing target (the embedded home's origin serves it).

The same contract as :class:`~gridportal.adapters.s3_site.S3Site`: ``read(key)`` returns
a published file's bytes or ``None``; ``put``/``put_many`` publish staged files;
``delete`` removes one. What to send and in which order is the build's plan
(``gridportal.publish``). Every file is written to a temporary name in its own
directory and then renamed over the old one (``os.replace`` is atomic on one file
system), so the local origin never serves a half-written page. Files the build staged
for tonight (``put_many(..., move=True)``) are renamed into place rather than copied: at
100,000 case pages the copies were most of the apply step.

A page directly under ``cases/`` (a case's ``cases/<id>/index.html``, a month's first
listing page) is stored as ``cases/<x>.html`` rather than in a directory of its own
(``stored_name``); the origin serves ``/cases/<x>/`` from it all the same. At a million
cases a directory each was a million ``mkdir`` calls in one ``cases/`` directory, most of
the apply step, and 4 GB of directory blocks. A site written before is moved to this
layout by the next build (``ensure_bucket``) or start of the origin (``move_to_flat_layout``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

# A page directly under cases/ and its pre-compressed siblings (local_server.ENCODINGS).
_PAGE_NAMES = ("index.html", "index.html.br", "index.html.gz")


def stored_name(key: str) -> str:
    """Where the file of site ``key`` is in a site directory (relative): ``cases/<x>/
    index.html`` (and its ``.br``/``.gz``) as ``cases/<x>.html``, every other key as it is."""
    if key.startswith("cases/"):
        parts = key.split("/")
        if len(parts) == 3 and parts[2] in _PAGE_NAMES and parts[1] not in ("", "index"):
            return f"cases/{parts[1]}.html{parts[2][len('index.html') :]}"
    return key


def key_of(name: str) -> str:
    """The site key of a file stored at ``name`` (the inverse of ``stored_name``)."""
    parts = name.split("/")
    if len(parts) == 2 and parts[0] == "cases":
        for page in _PAGE_NAMES:
            suffix = page[len("index") :]  # .html, .html.br, .html.gz
            stem = parts[1].removesuffix(suffix)
            if stem != parts[1] and stem not in ("", "index"):
                return f"cases/{stem}/{page}"
    return name


def file_of(key: str) -> str | None:
    """``stored_name(key)``, or None when that file is another key's: ``cases/<x>.html``
    holds the page ``cases/<x>/index.html`` and is no key of its own."""
    stored = stored_name(key)
    return stored if key_of(stored) == key else None


def move_to_flat_layout(root: Path) -> int:
    """Move a site directory written before ``stored_name`` to its layout: each
    ``cases/<x>/index.html`` (and siblings) to ``cases/<x>.html``, and the directories
    left empty removed. Returns the files moved. In this layout no directory under
    ``cases/`` holds a page of its own (a month's holds its later pages, ``by`` its
    kinds), so one listing of ``cases/`` finds what is left, and an interrupted move
    is finished by the next call (0.1 s at 100,000 cases)."""
    cases = root / "cases"
    if not cases.is_dir():
        return 0
    moved = 0
    for entry in os.scandir(cases):
        if not entry.is_dir(follow_symlinks=False) or entry.name == "index":
            continue
        here = 0
        for name in _PAGE_NAMES:
            old = os.path.join(entry.path, name)
            new = root / stored_name(f"cases/{entry.name}/{name}")
            # A build and the origin may both start moving: a file gone was moved. A file
            # in its new place is newer than the old one, which goes.
            with contextlib.suppress(FileNotFoundError):
                if new.exists():
                    os.unlink(old)
                else:
                    os.replace(old, new)
                here += 1
        if here:
            moved += here
            with contextlib.suppress(OSError):  # a month's directory keeps its other pages
                os.rmdir(entry.path)
    return moved


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def copy_atomic(source: str | Path, path: Path) -> None:
    """Copy a (possibly large) file into place the same way, streaming it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle, open(source, "rb") as data:
            shutil.copyfileobj(data, handle, 1 << 20)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def move_atomic(source: str | Path, path: str) -> None:
    """Rename a staged file into place (atomic), into a directory that exists; a copy
    when it is on another file system."""
    os.chmod(source, 0o644)  # the origin reads it, whatever the build's umask (as a copy)
    try:
        os.replace(source, path)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        copy_atomic(source, Path(path))


def prune_empty_dirs(folder: Path, top: Path) -> None:
    """Remove ``folder`` and its parents up to ``top`` (kept) while they are empty."""
    while folder != top and folder.is_relative_to(top):
        try:
            folder.rmdir()
        except OSError:  # not empty, or already gone with its last file
            break
        folder = folder.parent


class DirectorySite:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._resolved = self.root.resolve()
        self._root_text = str(self._resolved)

    def ensure_bucket(self) -> None:
        """The directory plays the bucket: create it if missing (in the layout of
        ``stored_name``, moving an older site's pages into it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        move_to_flat_layout(self.root)

    def _path(self, key: str) -> Path:
        return Path(self._file(key))

    def _file(self, key: str) -> str:
        # Checked on the key's text (no file system call): a build puts 100,000 keys. The
        # directory is the build's alone, so no link inside it leads out.
        name = posixpath.normpath(key)
        if key.startswith("/") or name in (".", "..") or name.startswith("../"):
            raise ValueError(f"key outside the site: {key!r}")
        stored = file_of(name)
        if stored is None:
            raise ValueError(f"key of another key's file: {key!r}")
        return os.path.join(self._root_text, stored)

    def read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def read_range(self, key: str, start: int, length: int) -> bytes | None:
        try:
            with open(self._file(key), "rb") as handle:
                handle.seek(start)
                return handle.read(length)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def write(self, key: str, data: bytes) -> None:
        write_atomic(self._path(key), data)

    def put(self, key: str, source: str | Path) -> None:
        copy_atomic(source, self._path(key))

    def put_reusing(self, key: str, source: str | Path, reuse: Sequence[object]) -> int:
        """A staged file of the build whose ``reuse`` ranges are the online file's: a
        directory takes the file whole (a bucket copies them, ``S3Site.put_reusing``)."""
        size = os.path.getsize(source)
        self.put_many([(key, source)], move=True)
        return size

    def put_many(self, items: Sequence[tuple[str, str | Path]], *, move: bool = False) -> None:
        """``move``: the sources are the build's own staged files, taken rather than copied."""
        if not move:
            for key, source in items:
                self.put(key, source)
            return
        # A full build moves 100,000 case pages, all into cases/ (``stored_name``): plain
        # os calls, and each directory made once (pathlib's were a third of the time).
        made: set[str] = set()
        for key, source in items:
            path = self._file(key)
            folder = os.path.dirname(path)
            if folder not in made:
                try:
                    os.mkdir(folder)
                except FileExistsError:
                    pass
                except FileNotFoundError:
                    os.makedirs(folder, exist_ok=True)
                made.add(folder)
            move_atomic(source, path)

    def copy_many(self, items: Sequence[tuple[str, str]]) -> None:
        for source, key in items:
            copy_atomic(self._path(source), self._path(key))

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        # Leave no empty directory behind (a month's listings of a month now empty).
        prune_empty_dirs(path.parent, self._resolved)
