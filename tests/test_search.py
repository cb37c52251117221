"""The search index: Pagefind's extended build over the pages marked for it, in Chinese."""

from __future__ import annotations

import json
from pathlib import Path

from gridportal import search
from gridportal.adapters.directory_site import stored_name

PAGE = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>'
    "</head><body><nav>首页 办理记录</nav>{body}</body></html>"
)


def write(root: Path, key: str, title: str, body: str) -> None:
    path = root / stored_name(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PAGE.format(title=title, body=body), encoding="utf-8")


def test_only_records_and_bulletins_are_indexed_as_chinese(tmp_path: Path) -> None:
    write(
        tmp_path,
        "cases/c1/index.html",
        "垃圾清运",
        "<article data-pagefind-body><h1>垃圾清运</h1><p>垃圾桶满了三天。</p></article>",
    )
    write(
        tmp_path,
        "grids/G1/index.html",
        "第1网格",
        "<article data-pagefind-body><h1>柳翠井巷社区第1网格</h1></article>",
    )
    write(tmp_path, "index.html", "首页", "<h1>首页</h1><p>垃圾清运</p>")  # not marked
    assert search.executable() is not None  # the extended build, never the plain one
    seconds = search.build_index(tmp_path)
    assert seconds > 0
    entry = json.loads((tmp_path / search.INDEX_DIR / "pagefind-entry.json").read_text("utf-8"))
    assert set(entry["languages"]) == {"zh-cn"}
    assert entry["languages"]["zh-cn"]["page_count"] == 2
    assert (tmp_path / search.INDEX_DIR / "pagefind.js").is_file()

    # Indexing again after a page went away: the index follows the site.
    (tmp_path / "grids/G1/index.html").unlink()
    search.build_index(tmp_path)
    entry = json.loads((tmp_path / search.INDEX_DIR / "pagefind-entry.json").read_text("utf-8"))
    assert entry["languages"]["zh-cn"]["page_count"] == 1


def test_a_site_too_large_to_index_has_no_stale_index(tmp_path: Path) -> None:
    for n in range(3):
        write(
            tmp_path,
            f"cases/c{n}/index.html",
            "垃圾清运",
            "<article data-pagefind-body>垃圾</article>",
        )
    assert search.pages(tmp_path) == 3
    assert search.refresh(tmp_path, max_pages=3) is not None
    assert (tmp_path / search.INDEX_DIR / "pagefind.js").is_file()
    # One page more than the limit: the old index goes, so no removed page stays findable.
    write(tmp_path, "grids/G1/index.html", "第1网格", "<article data-pagefind-body>网格</article>")
    assert search.refresh(tmp_path, max_pages=3) is None
    assert not (tmp_path / search.INDEX_DIR).exists()
