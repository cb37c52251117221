"""Publishing to the site bucket: order, hashes, content types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from gridportal.adapters.s3_site import MANIFEST, S3Site, content_type, publish_order


def test_entry_pages_are_published_last() -> None:
    order = publish_order(
        ["index.html", "cases/abc123/index.html", "grids/g1/index.html", "theme/a.css"]
    )
    assert order[-1] == "index.html"
    assert order.index("cases/abc123/index.html") < order.index("grids/g1/index.html")


def test_text_types_carry_utf8() -> None:
    assert content_type("a/index.html") == "text/html; charset=utf-8"
    assert content_type("data/cases.csv") == "text/csv; charset=utf-8"


def test_only_changed_files_are_uploaded(aws_env: Any, tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="cn-north-1")
    site = S3Site(s3, "site")
    site.ensure_bucket()
    (tmp_path / "a.html").write_text("一", encoding="utf-8")
    (tmp_path / "b.html").write_text("二", encoding="utf-8")
    assert set(site.publish(tmp_path).uploaded) == {"a.html", "b.html"}
    (tmp_path / "b.html").write_text("三", encoding="utf-8")
    result = site.publish(tmp_path)
    assert result.uploaded == ("b.html",) and result.unchanged == 1
    assert set(site.manifest()) == {"a.html", "b.html"}
    assert site.read(MANIFEST) is not None
