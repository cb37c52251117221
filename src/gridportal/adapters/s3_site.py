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

A whole-archive download (``data/*.gz``) is mostly the months no night touched, and
those bytes are already in the bucket: the plan says which ranges of the new file are
the online file's (``Reuse``), and ``put_reusing`` assembles the object server-side
in a multipart upload, copying those ranges (``UploadPartCopy``) and sending only the
rest. S3's rules for the parts (at least 5 MiB each but the last, at most 5 GiB) are
kept in ``parts``, which also says what a night sends (``sent_bytes``). The copies come
from the object version the night read its ranges from.
"""

from __future__ import annotations

import gzip
import mimetypes
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, NamedTuple

from botocore.exceptions import ClientError

from gridportal.adapters.infra_template import STATE_PREFIX

UPLOAD_WORKERS = 8
GZIP_STORED = (".json", ".csv", ".xml")
SPOOL_BYTES = 8 << 20  # a compressed upload larger than this goes through a temporary file
STORED_LEVEL = 6  # gzip's default level, for every object stored encoded
MIN_PART = 5 << 20  # S3: every part of a multipart upload but the last
MAX_PART = 5 << 30


class Reuse(NamedTuple):
    """``length`` bytes of a new file at ``new`` that are the online file's at ``old``."""

    new: int
    old: int
    length: int

    @property
    def end(self) -> int:
        return self.new + self.length


class Part(NamedTuple):
    """One part of a multipart upload: ``length`` bytes of the new file from ``new``,
    copied from the online object at ``old``, or sent (``old`` None)."""

    new: int
    length: int
    old: int | None = None


def parts(
    size: int, reuse: Sequence[Reuse], *, min_part: int = MIN_PART, max_part: int = MAX_PART
) -> list[Part]:
    """A file of ``size`` bytes as parts, copying as much of ``reuse`` as S3's part
    sizes allow: a range too short to be a part is sent, and so is the head of a range
    that a short sent part before it needs to reach ``min_part``."""
    out: list[Part] = []
    pending = 0  # bytes to send, from ``at - pending`` to ``at``
    at = 0

    def emit(start: int, length: int, old: int | None) -> None:
        # Even chunks: each at least half of ``max_part``, so never under ``min_part``.
        count = max(1, -(-length // max_part))
        base, extra = divmod(length, count)
        for n in range(count):
            chunk = base + (n < extra)
            out.append(Part(start, chunk, old))
            start += chunk
            old = None if old is None else old + chunk

    for r in sorted(reuse):
        if r.new < at or r.end > size:
            raise ValueError(f"reused ranges overlap or pass the end: {r}")
        pending += r.new - at
        new, old, length = r
        if 0 < pending < min_part:  # a sent part must reach the minimum before a copy
            take = min(min_part - pending, length)
            new, old, length = new + take, old + take, length - take
            pending += take
        if length < min_part:
            pending += length
        else:
            if pending:
                emit(new - pending, pending, None)
            emit(new, length, old)
            pending = 0
        at = r.end
    pending += size - at
    if pending or not out:
        emit(size - pending, pending, None)
    return out


def sent_bytes(size: int, reuse: Sequence[Reuse]) -> int:
    """What a bucket receives for a file that can reuse ``reuse`` of the online one."""
    return sum(p.length for p in parts(size, reuse) if p.old is None)


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
    def __init__(self, s3: Any, bucket: str, *, min_part: int = MIN_PART) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.min_part = min_part  # S3's; an emulator may be told a smaller one
        # The object each key's ranges were read from, as (ETag, VersionId); None when
        # two reads saw different objects.
        self._read_from: dict[str, tuple[str, str | None] | None] = {}

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
        version = stored.get("VersionId")
        read = (str(stored.get("ETag")), None if version in (None, "null") else str(version))
        if self._read_from.setdefault(key, read) != read:
            self._read_from[key] = None
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

    def put_reusing(self, key: str, source: str | Path, reuse: Sequence[Reuse]) -> int:
        """Publish ``source`` under ``key``, copying ``reuse`` from the object online
        (stored as it is) server-side. Returns the bytes sent. The ranges are known
        from this night's reads of the object (``read_range``), so the copies come from
        the object those reads saw: its version in a versioned bucket (the site's is),
        else the object still there with the same ETag (``CopySourceIfMatch``).
        Otherwise, or if S3 refuses, the file goes up whole."""
        size = Path(source).stat().st_size
        plan = parts(size, reuse, min_part=self.min_part)
        read = self._read_from.get(key)
        copying = any(p.old is not None for p in plan) and not stored_encoding(key)
        if not copying or read is None or (read[1] is None and read[0] != self._etag(key)):
            self.put(key, source)
            return size
        etag, version = read
        copy_source = {"Bucket": self.bucket, "Key": key}
        if version is not None:
            copy_source["VersionId"] = version
        upload = self.s3.create_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            ContentType=content_type(key),
            CacheControl=cache_control(key),
        )["UploadId"]
        done: list[dict[str, Any]] = []
        try:
            with open(source, "rb") as body:
                for number, part in enumerate(plan, 1):
                    common = {"Bucket": self.bucket, "Key": key, "UploadId": upload}
                    if part.old is None:
                        body.seek(part.new)
                        answer = self.s3.upload_part(
                            **common, PartNumber=number, Body=body.read(part.length)
                        )
                        made = answer["ETag"]
                    else:
                        answer = self.s3.upload_part_copy(
                            **common,
                            PartNumber=number,
                            CopySource=copy_source,
                            CopySourceRange=f"bytes={part.old}-{part.old + part.length - 1}",
                            CopySourceIfMatch=etag,
                        )
                        made = answer["CopyPartResult"]["ETag"]
                    done.append({"PartNumber": number, "ETag": made})
            self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done}
            )
        except ClientError:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            self.put(key, source)
            return size
        except BaseException:
            # The night fails and is run again; leave no parts behind (the bucket's
            # lifecycle rule would abort them after 7 days).
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            raise
        return sum(p.length for p in plan if p.old is None)

    def _etag(self, key: str) -> str | None:
        try:
            return str(self.s3.head_object(Bucket=self.bucket, Key=key)["ETag"])
        except ClientError:
            return None

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
