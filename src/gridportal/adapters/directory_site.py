"""The site directory as a publishing target (the embedded home's origin serves it).

The same contract as :class:`~gridportal.adapters.s3_site.S3Site`: ``read(key)`` returns
a published file's bytes or ``None``; ``put``/``put_many`` publish staged files;
``delete`` removes one. What to send and in which order is the build's plan
(``gridportal.publish``). Every file is written to a temporary name in its own
directory and then renamed over the old one (``os.replace`` is atomic on one file
system), so the local origin never serves a half-written page. Files the build staged
for tonight (``put_many(..., move=True)``) are renamed into place rather than copied: at
100,000 case pages the copies were most of the apply step.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path


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


def copy_atomic(source: Path, path: Path) -> None:
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


def move_atomic(source: Path, path: str) -> None:
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
        """The directory plays the bucket: create it if missing."""
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return Path(self._file(key))

    def _file(self, key: str) -> str:
        # Checked on the key's text (no file system call): a build puts 100,000 keys. The
        # directory is the build's alone, so no link inside it leads out.
        name = posixpath.normpath(key)
        if key.startswith("/") or name in (".", "..") or name.startswith("../"):
            raise ValueError(f"key outside the site: {key!r}")
        return os.path.join(self._root_text, name)

    def read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def write(self, key: str, data: bytes) -> None:
        write_atomic(self._path(key), data)

    def put(self, key: str, source: Path) -> None:
        copy_atomic(source, self._path(key))

    def put_many(self, items: Sequence[tuple[str, Path]], *, move: bool = False) -> None:
        """``move``: the sources are the build's own staged files, taken rather than copied."""
        if not move:
            for key, source in items:
                self.put(key, source)
            return
        # A full build moves 100,000 case pages, each into a directory of its own: plain
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
        # Leave no empty directory behind (cases/<id>/ of a removed case).
        prune_empty_dirs(path.parent, self._resolved)
