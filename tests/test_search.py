"""The search index: Pagefind's extended build over the pages marked for it, in Chinese."""

from __future__ import annotations

import gzip
import json
import tempfile
from datetime import date, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gridportal import search
from gridportal.adapters.directory_site import stored_name
from gridportal.domain.opendata import MONTH_CASES_DIR, cases_csv, month_data_keys

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


def indexed(root: Path) -> set[str]:
    """The addresses of the pages in the site's index (Pagefind's fragment files are
    gzip-compressed JSON after a signature)."""
    urls = set()
    for fragment in (root / search.INDEX_DIR / "fragment").iterdir():
        raw = gzip.decompress(fragment.read_bytes())
        urls.add(json.loads(raw[raw.index(b"{") :])["url"])
    return urls


def scope(root: Path) -> dict[str, object]:
    return json.loads((root / search.INDEX_DIR / search.SCOPE_FILE).read_text("utf-8"))


def publish_cases(root: Path, received: dict[str, str]) -> None:
    """Case pages, and their months' open data as the build writes it (public id → day
    received)."""
    months: dict[str, list[dict[str, str]]] = {}
    for public_id, day in received.items():
        body = "<article data-pagefind-body>垃圾</article>"
        write(root, f"cases/{public_id}/index.html", "垃圾清运", body)
        record = {"id": public_id, "received_at": f"{day}T09:30:00+08:00"}
        months.setdefault(day[:7], []).append(record)
    (root / MONTH_CASES_DIR).mkdir(parents=True, exist_ok=True)
    for month, records in months.items():
        table = root / month_data_keys(month)[0]
        table.write_text(cases_csv(records), encoding="utf-8", newline="")


def test_a_site_larger_than_the_index_has_its_newest_days_and_every_bulletin(
    tmp_path: Path,
) -> None:
    publish_cases(
        tmp_path,
        {
            "c1": "2026-10-30",
            "c2": "2026-10-31",
            "c3": "2026-11-01",
            "c4": "2026-11-02",
            "c5": "2026-11-02",
        },
    )
    write(tmp_path, "grids/G1/index.html", "第1网格", "<article data-pagefind-body>网格</article>")
    assert search.pages(tmp_path) == 6
    search.refresh(tmp_path, max_pages=6)
    assert scope(tmp_path) == {"complete": True}
    assert "/cases/c1.html" in indexed(tmp_path)

    # Four pages: the bulletin, and three records, the newest whole days (11-01 and 11-02).
    search.refresh(tmp_path, max_pages=4)
    assert indexed(tmp_path) == {"/grids/G1/", "/cases/c3.html", "/cases/c4.html", "/cases/c5.html"}
    assert scope(tmp_path) == {"complete": False, "since": "2026-11-01", "cases": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases", "data", "grids", "pagefind"]

    # Room for two records: 11-01 does not fit whole, so only 11-02 is indexed.
    search.refresh(tmp_path, max_pages=3)
    assert indexed(tmp_path) == {"/grids/G1/", "/cases/c4.html", "/cases/c5.html"}
    assert scope(tmp_path) == {"complete": False, "since": "2026-11-02", "cases": 2}


def test_a_record_without_its_page_is_left_out(tmp_path: Path) -> None:
    publish_cases(tmp_path, {"c1": "2026-11-01", "c2": "2026-11-02", "c3": "2026-11-03"})
    (tmp_path / stored_name("cases/c2/index.html")).unlink()  # taken down since
    search.refresh(tmp_path, max_pages=1)
    assert indexed(tmp_path) == {"/cases/c3.html"}


@settings(max_examples=60, deadline=None)
@given(
    days=st.lists(st.integers(min_value=0, max_value=40), min_size=0, max_size=30),
    budget=st.integers(min_value=0, max_value=12),
)
def test_the_newest_records_are_whole_days_newest_first(days: list[int], budget: int) -> None:
    first = date(2026, 10, 15)
    received = {f"c{n}": (first + timedelta(days=d)).isoformat() for n, d in enumerate(days)}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        publish_cases(root, received)
        newest = search.newest_cases(root, budget)
    chosen = {key.split("/")[1] for key in newest.keys}
    assert len(newest.keys) == len(chosen) <= budget
    if not chosen:
        # Nothing fits only when there is nothing, no room, or (whole days) no record.
        assert not received or budget == 0
        return
    since = newest.since
    assert since == min(received[c] for c in chosen)
    newer = {c for c, day in received.items() if day > since}
    assert newer <= chosen  # every record after the first day indexed is in
    that_day = {c for c, day in received.items() if day == since}
    if newer or len(that_day) <= budget:
        assert that_day <= chosen  # whole days, unless one day alone is over the budget
        older = [day for day in received.values() if day < since]
        if older:  # and the next older day would not have fitted
            next_day = max(older)
            assert len(chosen) + sum(d == next_day for d in received.values()) > budget
