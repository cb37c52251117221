"""The steps after a build's plan is applied: pre-compression and the search index, on a
directory site (posters need a public address, which these sites have none of)."""

from __future__ import annotations

from pathlib import Path

from gridportal import search
from gridportal.adapters.directory_site import DirectorySite
from gridportal.domain.reference import District
from gridportal.site_extras import after_publish

PAGE = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>第1网格</title>'
    "</head><body><article data-pagefind-body>柳翠井巷社区第1网格" + "</article></body></html>"
)


def site_with_a_bulletin(root: Path) -> DirectorySite:
    site = DirectorySite(root)
    site.ensure_bucket()
    site.write("grids/G1/index.html", PAGE.encode("utf-8"))
    return site


def test_a_night_that_moved_a_page_indexes_the_site_and_compresses_it(
    tmp_path: Path, district: District
) -> None:
    site = site_with_a_bulletin(tmp_path)
    site.write("data/metrics.json", b'{"rows": [%s]}' % b",".join([b"1"] * 40_000))
    published = ["grids/G1/index.html", "data/metrics.json"]
    seconds = after_publish(site, district, "", published, [])
    assert set(seconds) == {"compress", "search"}
    assert (tmp_path / search.INDEX_DIR / "pagefind.js").is_file()
    # Large text files get their compressed siblings; pages are compressed when asked.
    assert (tmp_path / "data/metrics.json.gz").is_file()
    assert not (tmp_path / "grids/G1/index.html.gz").exists()
    # A night that moved no page keeps the index it has.
    assert "search" not in after_publish(site, district, "", ["data/metrics.json"], [])


def test_no_search_pages_means_no_index_at_all(tmp_path: Path, district: District) -> None:
    site = site_with_a_bulletin(tmp_path)
    after_publish(site, district, "", ["grids/G1/index.html"], [])
    assert (tmp_path / search.INDEX_DIR).is_dir()
    seconds = after_publish(site, district, "", ["grids/G1/index.html"], [], search_pages=0)
    assert "search" not in seconds
    assert not (tmp_path / search.INDEX_DIR).exists()  # none left to go stale
