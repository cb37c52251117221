"""The site bucket as a target: read, put, delete, content types and caching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from gridportal.adapters.s3_site import S3Site, cache_control, content_type


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
