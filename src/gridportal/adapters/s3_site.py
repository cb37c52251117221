"""The site bucket as a publishing target: read, put and delete objects, nothing more.

What to send and in which order is decided by the build's plan
(``gridportal.publish``); ``apply_plan`` is the only caller that writes. Uploads of one
tier go in parallel (boto3 clients are thread-safe); a tier starts only when the one
before it is in.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

UPLOAD_WORKERS = 8


def content_type(path: str) -> str:
    if path.endswith(".gz"):
        return "application/gzip"
    guessed = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/json", "image/svg+xml"):
        return f"{guessed}; charset=utf-8"
    return guessed


def cache_control(path: str) -> str:
    if path.startswith("_state/"):
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
        try:
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
                return None
            raise

    def put(self, key: str, source: Path) -> None:
        with open(source, "rb") as body:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type(key),
                CacheControl=cache_control(key),
            )

    def write(self, key: str, data: bytes) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type(key),
            CacheControl=cache_control(key),
        )

    def copy(self, source: str, key: str) -> None:
        """Server-side copy of a staged object into place (nothing passes through here)."""
        self.s3.copy_object(
            Bucket=self.bucket,
            Key=key,
            CopySource={"Bucket": self.bucket, "Key": source},
            MetadataDirective="REPLACE",
            ContentType=content_type(key),
            CacheControl=cache_control(key),
        )

    def copy_many(self, items: Sequence[tuple[str, str]]) -> None:
        with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
            list(pool.map(lambda item: self.copy(*item), items))

    def put_many(self, items: Sequence[tuple[str, Path]], *, move: bool = False) -> None:
        """Uploads (``move`` makes no difference: the staged files stay where they are)."""
        if len(items) == 1:
            self.put(*items[0])
            return
        with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
            list(pool.map(lambda item: self.put(*item), items))

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)
