"""The site bucket as a target: read, put, delete, content types and caching."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import boto3

from gridportal.adapters.s3_site import (
    S3Site,
    cache_control,
    content_type,
    stored_encoding,
    stored_size,
)
from gridportal.domain.opendata import SNAPSHOT_INDEX
from gridportal.publish import NIGHTS_PREFIX
from gridportal.snapshots import revision_path


def test_text_types_carry_utf8_and_archives_are_gzip() -> None:
    assert content_type("a/index.html") == "text/html; charset=utf-8"
    assert content_type("data/cases/2026-11.csv") == "text/csv; charset=utf-8"
    assert content_type("data/cases.json.gz") == "application/gzip"


def test_state_is_never_cached() -> None:
    assert cache_control("_state/site.json") == "no-store"
    assert cache_control("theme/css/portal.css").endswith("86400")


def test_put_read_and_delete(aws_env: Any, tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="cn-north-1")
    site = S3Site(s3, "site")
    site.ensure_bucket()
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


def test_a_range_of_a_download_is_read_as_stored(aws_env: Any, tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="cn-north-1")
    site = S3Site(s3, "site")
    site.ensure_bucket()
    members = [gzip.compress(f"{n}月\n".encode(), mtime=0) for n in range(1, 4)]
    (tmp_path / "cases.csv.gz").write_bytes(b"".join(members))
    site.put("data/cases.csv.gz", tmp_path / "cases.csv.gz")
    start = len(members[0])
    assert site.read_range("data/cases.csv.gz", start, len(members[1])) == members[1]
    assert site.read_range("data/cases.csv.gz", 10_000, 5) is None  # past its end
    assert site.read_range("never-there.gz", 0, 5) is None


def test_data_and_state_are_stored_gzip_encoded_and_read_back_plain(
    aws_env: Any, tmp_path: Path
) -> None:
    s3 = boto3.client("s3", region_name="cn-north-1")
    site = S3Site(s3, "site")
    site.ensure_bucket()
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
