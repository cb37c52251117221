"""Publishing the built site to a local directory (the embedded home's origin serves it).

The same contract as :class:`~gridportal.adapters.s3_site.S3Site`: ``read(key)`` returns a
published file's bytes or ``None``, ``publish(root)`` copies the files whose content
differs from the manifest, leaves first and entry pages last, the manifest at the end.
Every file is written to a temporary name in its own directory and then renamed over
the old one (``os.replace`` is atomic on one file system), so the local origin never
serves a half-written page.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from gridportal.adapters.s3_site import MANIFEST, PublishResult, file_hashes, publish_tiers

__all__ = ["MANIFEST", "DirectorySite", "write_atomic"]


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


class DirectorySite:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def ensure_bucket(self) -> None:
        """The directory plays the bucket: create it if missing."""
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key outside the site: {key!r}")
        return path

    def manifest(self) -> dict[str, str]:
        data = self.read(MANIFEST)
        return json.loads(data) if data else {}

    def read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def write(self, key: str, data: bytes) -> None:
        write_atomic(self._path(key), data)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def publish(self, root: Path, previous: Mapping[str, str] | None = None) -> PublishResult:
        """Copy the files under ``root`` whose content differs from the manifest."""
        online = dict(self.manifest() if previous is None else previous)
        built = file_hashes(root)
        changed = [path for path, digest in built.items() if online.get(path) != digest]
        for tier in publish_tiers(changed):
            for path in tier:
                self.write(path, (root / path).read_bytes())
        online.update(built)
        self.write(MANIFEST, json.dumps(online, sort_keys=True).encode())
        return PublishResult(tuple(changed), len(built) - len(changed))
