"""Publishing the built site to its S3 bucket: only what changed, entry pages last.

A manifest (``.manifest.json`` in the bucket: path → SHA-256 of the content) says
what is online. A build uploads the files whose hash differs, in an order that
never shows a page linking to something not yet there: case pages, assets and
data first, listing pages next, the entry pages (home, lists) last, the manifest
at the very end. A build that fails before uploading changes nothing online; one that
fails part-way may have replaced some case pages and data files, but never the listings
or entry pages, nor the manifest, so the next build uploads everything again.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

MANIFEST = ".manifest.json"
UPLOAD_WORKERS = 8  # boto3 clients are thread-safe
ENTRY_PAGES = frozenset(
    {
        "index.html",
        "cases/index.html",
        "grids/index.html",
        "metrics/index.html",
        "data/index.html",
    }
)


@dataclass(frozen=True)
class PublishResult:
    uploaded: tuple[str, ...]
    unchanged: int

    def summary(self) -> dict[str, Any]:
        return {"uploaded": len(self.uploaded), "unchanged": self.unchanged}


def file_hashes(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _tier(path: str) -> int:
    if path in ENTRY_PAGES:
        return 3
    if path.endswith("index.html") and path.count("/") <= 2 and not _is_case_page(path):
        return 2
    return 1


def publish_order(paths: Iterable[str]) -> list[str]:
    """Leaves first, listings next, entry pages last (so no link points at a missing page)."""
    return sorted(paths, key=lambda path: (_tier(path), path))


def publish_tiers(paths: Iterable[str]) -> list[list[str]]:
    ordered = publish_order(paths)
    return [[p for p in ordered if _tier(p) == tier] for tier in (1, 2, 3)]


def _is_case_page(path: str) -> bool:
    parts = path.split("/")
    return len(parts) == 3 and parts[0] == "cases" and not parts[1][:4].isdigit()


def content_type(path: str) -> str:
    guessed = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/json", "image/svg+xml"):
        return f"{guessed}; charset=utf-8"
    return guessed


def cache_control(path: str) -> str:
    if path.startswith("theme/"):
        return "public, max-age=86400"
    return "public, max-age=300"  # pages and data change nightly


class S3Site:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def ensure_bucket(self) -> None:
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except ClientError:
            region = self.s3.meta.region_name
            config = {} if region == "us-east-1" else {"LocationConstraint": region}
            kwargs: dict[str, Any] = {"Bucket": self.bucket}
            if config:
                kwargs["CreateBucketConfiguration"] = config
            self.s3.create_bucket(**kwargs)

    def manifest(self) -> dict[str, str]:
        data = self.read(MANIFEST)
        return json.loads(data) if data else {}

    def read(self, key: str) -> bytes | None:
        try:
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
                return None
            raise

    def _upload(self, root: Path, path: str) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=path,
            Body=(root / path).read_bytes(),
            ContentType=content_type(path),
            CacheControl=cache_control(path),
        )

    def publish(self, root: Path, previous: Mapping[str, str] | None = None) -> PublishResult:
        """Upload the files under ``root`` whose content differs from the manifest."""
        online = dict(self.manifest() if previous is None else previous)
        built = file_hashes(root)
        changed = [path for path, digest in built.items() if online.get(path) != digest]
        # Uploads run in parallel within a tier; a tier starts only when the one before is in.
        with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
            for tier in publish_tiers(changed):
                list(pool.map(lambda path: self._upload(root, path), tier))
        # Files not rebuilt this time (unchanged case pages) stay online and in the manifest.
        online.update(built)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=MANIFEST,
            Body=json.dumps(online, sort_keys=True).encode(),
            ContentType="application/json",
            CacheControl="no-store",
        )
        return PublishResult(tuple(changed), len(built) - len(changed))
