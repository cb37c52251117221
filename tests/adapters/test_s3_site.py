"""The site bucket as a target: read, put, delete, content types and caching, and a
download assembled from the online object's ranges."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridportal.adapters.s3_site import (
    MIN_PART,
    Part,
    Reuse,
    S3Site,
    cache_control,
    content_type,
    parts,
    sent_bytes,
    stored_encoding,
    stored_size,
)
from gridportal.domain.opendata import SNAPSHOT_INDEX
from gridportal.publish import NIGHTS_PREFIX
from gridportal.snapshots import revision_path

Bucket = tuple[Any, S3Site]


@pytest.fixture
def bucket(aws_env: Any) -> Bucket:
    """A moto S3 client and the site bucket on it."""
    s3 = boto3.client("s3", region_name="cn-north-1")
    site = S3Site(s3, "site")
    site.ensure_bucket()
    return s3, site


def test_text_types_carry_utf8_and_archives_are_gzip() -> None:
    assert content_type("a/index.html") == "text/html; charset=utf-8"
    assert content_type("data/cases/2026-11.csv") == "text/csv; charset=utf-8"
    assert content_type("data/cases.json.gz") == "application/gzip"


def test_state_is_never_cached() -> None:
    assert cache_control("_state/site.json") == "no-store"
    assert cache_control("theme/css/portal.css").endswith("86400")


def test_put_read_and_delete(bucket: Bucket, tmp_path: Path) -> None:
    s3, site = bucket
    site.ensure_bucket()  # twice is harmless
    (tmp_path / "a.html").write_text("一", encoding="utf-8")
    (tmp_path / "b.html").write_text("二", encoding="utf-8")
    site.put_many([("a.html", tmp_path / "a.html"), ("cases/b/index.html", tmp_path / "b.html")])
    assert site.read("cases/b/index.html") == "二".encode()
    head = s3.head_object(Bucket="site", Key="a.html")
    assert head["ContentType"] == "text/html; charset=utf-8"
    site.delete("a.html")
    assert site.read("a.html") is None
    assert site.read("never-there") is None


def test_a_range_of_a_download_is_read_as_stored(bucket: Bucket, tmp_path: Path) -> None:
    _, site = bucket
    members = [gzip.compress(f"{n}月\n".encode(), mtime=0) for n in range(1, 4)]
    (tmp_path / "cases.csv.gz").write_bytes(b"".join(members))
    site.put("data/cases.csv.gz", tmp_path / "cases.csv.gz")
    start = len(members[0])
    assert site.read_range("data/cases.csv.gz", start, len(members[1])) == members[1]
    assert site.read_range("data/cases.csv.gz", 10_000, 5) is None  # past its end
    assert site.read_range("never-there.gz", 0, 5) is None


def test_data_and_state_are_stored_gzip_encoded_and_read_back_plain(
    bucket: Bucket, tmp_path: Path
) -> None:
    s3, site = bucket
    rows = json.dumps([{"id": n, "summary": "楼道堆物"} for n in range(2000)]).encode()
    (tmp_path / "month.json").write_bytes(rows)
    (tmp_path / "page.html").write_text("<p>三</p>", encoding="utf-8")
    month, page = tmp_path / "month.json", tmp_path / "page.html"
    site.put_many([("data/cases/2026-11.json", month), ("a/index.html", page)])
    site.write("_state/site.json", b'{"version": 1}')

    stored = s3.get_object(Bucket="site", Key="data/cases/2026-11.json")
    assert stored["ContentEncoding"] == "gzip"
    assert stored["ContentType"] == "application/json; charset=utf-8"
    body = stored["Body"].read()
    assert gzip.decompress(body) == rows
    assert len(body) == stored_size("data/cases/2026-11.json", tmp_path / "month.json")
    assert len(body) < len(rows) / 5
    assert site.read("data/cases/2026-11.json") == rows
    assert site.read("_state/site.json") == b'{"version": 1}'
    assert "ContentEncoding" not in s3.head_object(Bucket="site", Key="a/index.html")
    assert stored_size("a/index.html", tmp_path / "page.html") == len("<p>三</p>".encode())

    # A night's staged object copied into place keeps its encoding.
    staged = f"{NIGHTS_PREFIX}n1/staging/data/cases/2026-12.json"
    site.put(staged, tmp_path / "month.json")
    site.copy_many([(staged, "data/cases/2026-12.json")])
    assert s3.head_object(Bucket="site", Key="data/cases/2026-12.json")["ContentEncoding"] == "gzip"
    assert site.read("data/cases/2026-12.json") == rows


def test_which_files_are_stored_compressed() -> None:
    assert stored_encoding("open311/v2/requests/2026-11.xml") == "gzip"
    assert stored_encoding("data/events/2026-11.csv") == "gzip"
    assert stored_encoding("data/cases.csv.gz") is None  # already compressed
    # Snapshots are checked against their published SHA-256: stored as they are, staged
    # or not.
    assert stored_encoding(revision_path("2026-09", 1) + "cases.csv") is None
    assert stored_encoding(f"{NIGHTS_PREFIX}n1/staging/{SNAPSHOT_INDEX}") is None
    assert stored_encoding("cases/abc/index.html") is None  # the edge compresses pages


# ---- A download assembled server-side (parts, put_reusing) ----

MiB = 1 << 20


def test_the_months_online_are_copied_and_only_the_rest_is_sent() -> None:
    # 180 MiB of months no night touched, then 6 MiB rebuilt tonight.
    plan = parts(186 * MiB, [Reuse(0, 0, 180 * MiB)])
    assert plan == [Part(0, 180 * MiB, 0), Part(180 * MiB, 6 * MiB)]
    assert sent_bytes(186 * MiB, [Reuse(0, 0, 180 * MiB)]) == 6 * MiB


def test_a_range_too_short_for_a_part_is_sent() -> None:
    assert sent_bytes(8 * MiB, [Reuse(0, 0, 4 * MiB)]) == 8 * MiB
    assert parts(8 * MiB, [Reuse(0, 0, 4 * MiB)]) == [Part(0, 8 * MiB)]


def test_a_short_gap_before_a_range_takes_the_head_of_the_range() -> None:
    # 1 MiB rebuilt (an old month taken down), then 20 MiB online: the sent part must
    # reach S3's minimum, so the first 4 MiB of the range go with it.
    plan = parts(21 * MiB, [Reuse(1 * MiB, 2 * MiB, 20 * MiB)])
    assert plan == [Part(0, 5 * MiB), Part(5 * MiB, 16 * MiB, 6 * MiB)]


@st.composite
def files_with_reuse(draw: st.DrawFn) -> tuple[int, list[Reuse]]:
    size = draw(st.integers(0, 400))
    cuts = sorted(draw(st.lists(st.integers(0, size), max_size=8)))
    reuse = []
    for start, end in zip(cuts[::2], cuts[1::2], strict=False):
        if end > start:
            reuse.append(Reuse(start, draw(st.integers(0, 1000)), end - start))
    return size, reuse


@given(files_with_reuse(), st.integers(1, 40), st.integers(0, 60))
def test_parts_cover_the_file_in_order_within_s3s_sizes(
    file: tuple[int, list[Reuse]], min_part: int, spare: int
) -> None:
    size, reuse = file
    max_part = 2 * min_part + spare  # S3's: 5 GiB, a thousand times the minimum
    plan = parts(size, reuse, min_part=min_part, max_part=max_part)
    at = 0
    for n, part in enumerate(plan):
        assert part.new == at
        at += part.length
        assert part.length <= max_part or (len(plan) == 1 and part.old is None)
        if n < len(plan) - 1:
            assert part.length >= min_part
        if part.old is not None:  # a copy maps into one reused range, offsets kept
            assert any(
                r.new <= part.new
                and part.new + part.length <= r.end
                and part.old - r.old == part.new - r.new
                for r in reuse
            )
    assert at == size


def download_with(site: S3Site, path: Path, data: bytes) -> None:
    path.write_bytes(data)
    site.put("data/cases.csv.gz", path)


def test_put_reusing_copies_the_ranges_read_tonight(bucket: Bucket, tmp_path: Path) -> None:
    s3, site = bucket
    old_months, old_tail = bytes(range(256)) * (6 * MiB // 256), "11月".encode() * 1000
    download_with(site, tmp_path / "old.gz", old_months + old_tail)
    # The night reads the months it did not rebuild back out of the download.
    assert site.read_range("data/cases.csv.gz", 0, len(old_months)) == old_months
    new = tmp_path / "new.gz"
    new.write_bytes(old_months + "12月".encode() * 2000)

    sent = site.put_reusing("data/cases.csv.gz", new, [Reuse(0, 0, len(old_months))])

    assert sent == len("12月".encode()) * 2000
    assert site.read("data/cases.csv.gz") == new.read_bytes()
    head = s3.head_object(Bucket="site", Key="data/cases.csv.gz")
    assert head["ContentType"] == "application/gzip"
    assert head["CacheControl"] == cache_control("data/cases.csv.gz")


def test_put_reusing_sends_the_file_whole_when_the_object_is_not_the_one_read(
    bucket: Bucket, tmp_path: Path
) -> None:
    s3, site = bucket
    months = b"\x01" * MIN_PART
    download_with(site, tmp_path / "old.gz", months + b"a")
    new = tmp_path / "new.gz"
    new.write_bytes(months + b"b")
    reuse = [Reuse(0, 0, MIN_PART)]

    # Nothing read tonight: no range is known to be the object's.
    assert site.put_reusing("data/cases.csv.gz", new, reuse) == MIN_PART + 1
    assert site.read("data/cases.csv.gz") == months + b"b"

    # Read, then replaced by someone else before the copy.
    site.read_range("data/cases.csv.gz", 0, 10)
    download_with(S3Site(s3, "site"), tmp_path / "other.gz", b"\x02" * MIN_PART + b"c")
    assert site.put_reusing("data/cases.csv.gz", new, reuse) == MIN_PART + 1
    assert site.read("data/cases.csv.gz") == months + b"b"
    assert not s3.list_multipart_uploads(Bucket="site").get("Uploads")


class RecordingS3:
    """The moto client, noting each part copy's request: moto does not check a copy's
    ``CopySourceIfMatch``, which S3 does."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3
        self.copies: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s3, name)

    def upload_part_copy(self, **request: Any) -> Any:
        self.copies.append(request)
        return self.s3.upload_part_copy(**request)


def test_every_copy_is_conditional_on_the_object_read(bucket: Bucket, tmp_path: Path) -> None:
    s3, _ = bucket
    recording = RecordingS3(s3)
    site = S3Site(recording, "site")
    first, middle, last = b"\x01" * MIN_PART, b"\x02" * MIN_PART, b"\x03" * MIN_PART
    download_with(site, tmp_path / "old.gz", first + middle + last)
    site.read_range("data/cases.csv.gz", 0, 10)
    online = s3.head_object(Bucket="site", Key="data/cases.csv.gz")["ETag"]
    new = tmp_path / "new.gz"
    new.write_bytes(first + b"\x04" * MIN_PART + last)
    reuse = [Reuse(0, 0, MIN_PART), Reuse(2 * MIN_PART, 2 * MIN_PART, MIN_PART)]

    # A copy, a part sent, a copy: each copy is of the object read, whatever came before.
    assert site.put_reusing("data/cases.csv.gz", new, reuse) == MIN_PART
    assert [c["CopySourceIfMatch"] for c in recording.copies] == [online, online]
    assert site.read("data/cases.csv.gz") == new.read_bytes()


def test_in_a_versioned_bucket_the_copies_come_from_the_version_read(
    bucket: Bucket, tmp_path: Path
) -> None:
    s3, site = bucket
    s3.put_bucket_versioning(Bucket="site", VersioningConfiguration={"Status": "Enabled"})
    months = b"\x01" * MIN_PART
    download_with(site, tmp_path / "old.gz", months + b"a")
    site.read_range("data/cases.csv.gz", 0, 10)
    # Replaced after the night read it: the version read is still there to copy from.
    download_with(S3Site(s3, "site"), tmp_path / "other.gz", b"\x02" * MIN_PART + b"c")
    new = tmp_path / "new.gz"
    new.write_bytes(months + b"b")
    assert site.put_reusing("data/cases.csv.gz", new, [Reuse(0, 0, MIN_PART)]) == 1
    assert site.read("data/cases.csv.gz") == months + b"b"
