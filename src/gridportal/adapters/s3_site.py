"""The site bucket as a publishing target: read, put and delete objects, nothing more.

What to send and in which order is decided by the build's plan
(``gridportal.publish``); ``apply_plan`` is the only caller that writes. Uploads of one
tier go in parallel (boto3 clients are thread-safe); a tier starts only when the one
before it is in.

Data and state files (``.json``, ``.csv``, ``.xml``) are stored gzip-encoded, with
``Content-Encoding: gzip``: CloudFront compresses only objects up to 10 MB at the edge,
while a month's JSON at a million cases is about 70 MB, and compressed a night's month
files are about a ninth of their size. Pages stay plain: the edge compresses them, in
Brotli where the browser can take it. So do the snapshots of final months: readers
check those files against the SHA-256 the index gives, whatever their client asks for.
"""

from __future__ import annotations

import gzip
import mimetypes
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import ClientError

from gridportal.adapters.infra_template import STATE_PREFIX

UPLOAD_WORKERS = 8
GZIP_STORED = (".json", ".csv", ".xml")
SPOOL_BYTES = 8 << 20  # a compressed upload larger than this goes through a temporary file
STORED_LEVEL = 6  # gzip's default level, for every object stored encoded


def stored_encoding(key: str) -> str | None:
    """The ``Content-Encoding`` the object of ``key`` is stored with (None: as it is).
    The same for a night's staged copy (``<nights>/<id>/staging/<key>``) as for the key
    it is copied to, so that a server-side copy keeps what its bytes are."""
    if not key.endswith(GZIP_STORED):
        return None
    # Imported here: the API reads the bucket through this module, and the open data
    # module would add 150 ms to its cold start; only the build writes.
    from gridportal.domain.opendata import SNAPSHOTS_PREFIX

    return None if SNAPSHOTS_PREFIX in key else "gzip"


def gzip_into(source: IO[bytes], target: IO[bytes]) -> None:
    """Stream ``source`` into ``target`` gzip-compressed; no timestamp, so the same file
    gives the same bytes."""
    with gzip.GzipFile(
        filename="", fileobj=target, mode="wb", compresslevel=STORED_LEVEL, mtime=0
    ) as packed:
        shutil.copyfileobj(source, packed, 1 << 20)


def stored_size(key: str, source: Path) -> int:
    """The bytes the bucket receives for the file ``source`` published under ``key``."""
    if stored_encoding(key) is None:
        return source.stat().st_size
    with open(source, "rb") as body, tempfile.TemporaryFile() as packed:
        gzip_into(body, packed)
        return packed.tell()


def content_type(path: str) -> str:
    if path.endswith(".gz"):
        return "application/gzip"
    guessed = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/json", "image/svg+xml"):
        return f"{guessed}; charset=utf-8"
    return guessed


def cache_control(path: str) -> str:
    if path.startswith(STATE_PREFIX):
        return "no-store"
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

    def read(self, key: str) -> bytes | None:
        """The file's bytes as published (decoded when it is stored gzip-encoded)."""
        try:
            stored = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
                return None
            raise
        body = bytes(stored["Body"].read())
        return gzip.decompress(body) if stored.get("ContentEncoding") == "gzip" else body

    def read_range(self, key: str, start: int, length: int) -> bytes | None:
        """``length`` bytes of the object as stored (a ``.gz`` download is stored as it
        is), from ``start``: one ranged GET."""
        try:
            stored = self.s3.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404", "NoSuchBucket", "InvalidRange"):
                return None
            raise
        return bytes(stored["Body"].read())

    def _put_object(self, key: str, body: IO[bytes] | bytes) -> None:
        encoding = stored_encoding(key)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=content_type(key),
            CacheControl=cache_control(key),
            **({"ContentEncoding": encoding} if encoding else {}),
        )

    def put(self, key: str, source: str | Path) -> None:
        with open(source, "rb") as body:
            if stored_encoding(key) is None:
                self._put_object(key, body)
                return
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as packed:
                gzip_into(body, packed)
                packed.seek(0)
                self._put_object(key, packed)

    def write(self, key: str, data: bytes) -> None:
        encoded = stored_encoding(key) is not None
        packed = gzip.compress(data, compresslevel=STORED_LEVEL, mtime=0) if encoded else data
        self._put_object(key, packed)

    def copy(self, source: str, key: str) -> None:
        """Server-side copy of a staged object into place (nothing passes through here).
        The staged object has the same suffix, so it is stored with the same encoding."""
        encoding = stored_encoding(key)
        self.s3.copy_object(
            Bucket=self.bucket,
            Key=key,
            CopySource={"Bucket": self.bucket, "Key": source},
            MetadataDirective="REPLACE",
            ContentType=content_type(key),
            CacheControl=cache_control(key),
            **({"ContentEncoding": encoding} if encoding else {}),
        )

    def copy_many(self, items: Sequence[tuple[str, str]]) -> None:
        with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
            list(pool.map(lambda item: self.copy(*item), items))

    def put_many(self, items: Sequence[tuple[str, str | Path]], *, move: bool = False) -> None:
        """Uploads (``move`` makes no difference: the staged files stay where they are)."""
        if len(items) == 1:
            self.put(*items[0])
            return
        with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
            list(pool.map(lambda item: self.put(*item), items))

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)
