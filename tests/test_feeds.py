"""Atom feeds: structure (parsed back with xml.etree), order, scope and figures."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from gridportal.feeds import (
    ATOM,
    MAX_ENTRIES,
    SITE_FEED,
    atom,
    case_entries,
    department_feed_key,
    figure_entries,
    grid_feed_key,
    site_feeds,
)

NS = {"a": ATOM}


def row(i: int, grid: str = "G1", unit: str | None = "dept-a", resolved: bool = False) -> dict:
    return {
        "id": f"c{i:04d}",
        "category_name": "垃圾清运<&>",
        "grid": grid,
        "grid_name": f"{grid}网格",
        "unit": unit,
        "status_label": "已办结" if resolved else "办理中",
        "received_at": f"2025-06-{i % 28 + 1:02d}T09:00:00+08:00",
        "resolved_at": f"2025-07-{i % 28 + 1:02d}T10:00:00+08:00" if resolved else None,
    }


BEIJING = ZoneInfo("Asia/Shanghai")
METRICS: dict[str, Any] = {
    "monthly": {
        month: {
            "overall": {"cases": 10, "response_rate": 0.9, "resolution_rate": 0.8},
            "by_grid": [{"id": "G1", "cases": 4, "satisfaction_rate": None}],
            "by_department": [{"id": "dept-a", "cases": 3, "response_rate": 1.0}],
        }
        for month in ("2025-03", "2025-04", "2025-05", "2025-06")
    }
}


def parse(data: bytes) -> ET.Element:
    assert data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(data)
    assert root.tag == f"{{{ATOM}}}feed"
    return root


def check_atom(root: ET.Element) -> list[ET.Element]:
    """What RFC 4287 requires of a feed and its entries."""
    for name in ("id", "title", "updated"):
        assert root.find(f"a:{name}", NS) is not None and root.find(f"a:{name}", NS).text
    assert root.find("a:author/a:name", NS) is not None
    assert root.find("a:link[@rel='self']", NS) is not None
    entries = root.findall("a:entry", NS)
    ids = [e.find("a:id", NS).text for e in entries]  # type: ignore[union-attr]
    assert len(ids) == len(set(ids))
    times = []
    for entry in entries:
        for name in ("id", "title", "updated", "summary"):
            assert entry.find(f"a:{name}", NS) is not None, name
        assert entry.find("a:link", NS).get("href")  # type: ignore[union-attr]
        times.append(datetime.fromisoformat(entry.find("a:updated", NS).text))  # type: ignore[union-attr,arg-type]
    assert times == sorted(times, reverse=True)  # newest first
    if times:
        updated = datetime.fromisoformat(root.find("a:updated", NS).text)  # type: ignore[union-attr,arg-type]
        assert updated == times[0]  # the newest entry's time, never the build's
    return entries


def test_a_case_gives_a_new_entry_and_a_resolved_one_once_resolved() -> None:
    entries = case_entries([row(1), row(2, resolved=True)])
    assert [(e.kind, e.link) for e in entries] == [
        ("new", "/cases/c0001/"),
        ("new", "/cases/c0002/"),
        ("resolved", "/cases/c0002/"),
    ]
    assert entries[0].title == "新受理：垃圾清运<&>（G1网格）"


def test_figures_of_the_newest_months_for_the_street_a_grid_and_a_department() -> None:
    street = figure_entries(METRICS, None, None, "清波街道")
    assert [e.link for e in street] == [
        "/metrics/2025-04/",
        "/metrics/2025-05/",
        "/metrics/2025-06/",
    ]
    assert street[-1].updated == "2025-07-01T00:00:00+08:00"  # when June's figures are whole
    assert "响应率 90.0%" in street[-1].summary
    assert "满意率 —" in figure_entries(METRICS, "by_grid", "G1", "G1网格")[0].summary
    assert figure_entries(METRICS, "by_grid", "G9", "G9网格") == []
    december = figure_entries(
        {"monthly": {"2024-12": METRICS["monthly"]["2025-06"]}}, None, None, ""
    )
    assert december[0].updated == "2025-01-01T00:00:00+08:00"


def test_a_month_still_under_way_has_no_figures_and_one_not_final_says_so() -> None:
    metrics = {
        **METRICS,
        "generated_at": "2025-06-15T02:00:00+08:00",  # June is under way
        "month_status": {
            "2025-03": {"final": True, "final_at": "2025-04-15T23:59:59+08:00"},
            "2025-05": {"final": False, "final_at": "2025-06-20T23:59:59+08:00"},
        },
    }
    entries = figure_entries(metrics, None, None, "清波街道")
    assert [e.link for e in entries] == [f"/metrics/2025-0{m}/" for m in (3, 4, 5)]
    generated = datetime(2025, 6, 15, 2, tzinfo=BEIJING)
    assert all(datetime.fromisoformat(e.updated) <= generated for e in entries)
    assert ["暂定" in e.summary for e in entries] == [False, True, True]
    # A final month's entry is dated when it became final, so readers see it change.
    assert [e.updated for e in entries] == [
        "2025-04-15T23:59:59+08:00",
        "2025-05-01T00:00:00+08:00",
        "2025-06-01T00:00:00+08:00",
    ]
    # On the first of July June has ended, and its entry comes.
    july = {**metrics, "generated_at": "2025-07-01T00:00:00+08:00"}
    assert figure_entries(july, None, None, "清波街道")[-1].link == "/metrics/2025-06/"


def test_the_feeds_of_a_site_parse_and_keep_to_their_scope() -> None:
    rows = [row(i, grid="G1" if i % 2 else "G2", resolved=i % 3 == 0) for i in range(1, 50)]
    rows.append(row(99, grid="G2", unit=None))
    made = dict(
        (feed.key, (feed, data))
        for feed, data in site_feeds(
            grids=[("G1", "G1网格"), ("G2", "G2网格")],
            departments=[("dept-a", "城市管理部")],
            district_name="清波街道",
            rows=rows,
            metrics=METRICS,
            site_url="https://portal.example.cn",
            author="网格化管理公开平台",
        )
    )
    assert set(made) == {
        SITE_FEED,
        grid_feed_key("G1"),
        grid_feed_key("G2"),
        department_feed_key("dept-a"),
    }
    everything = check_atom(parse(made[SITE_FEED][1]))
    assert len(everything) == MAX_ENTRIES  # 50 new + 16 resolved + 3 months: the newest
    g1 = check_atom(parse(made[grid_feed_key("G1")][1]))
    links = {e.find("a:link", NS).get("href") for e in g1}  # type: ignore[union-attr]
    g1_cases = {f"https://portal.example.cn/cases/{r['id']}/" for r in rows if r["grid"] == "G1"}
    assert (
        links - {f"https://portal.example.cn/metrics/{m}/" for m in METRICS["monthly"]} <= g1_cases
    )
    department = check_atom(parse(made[department_feed_key("dept-a")][1]))
    assert all("c0099" not in (e.find("a:id", NS).text or "") for e in department)  # type: ignore[union-attr]
    feed, data = made[grid_feed_key("G1")]
    assert feed.page == "/grids/G1/"
    root = parse(data)
    assert (
        root.find("a:link[@rel='alternate']", NS).get("href")
        == "https://portal.example.cn/grids/G1/"
    )  # type: ignore[union-attr]
    title = root.find("a:entry/a:title", NS).text  # type: ignore[union-attr]
    assert title is not None and "<&>" in title  # escaped in the XML, the same text back


def test_without_a_site_url_ids_are_tag_uris_and_an_empty_feed_is_valid() -> None:
    data = atom(key=SITE_FEED, title="t", page="/", entries=[], site_url="", author="a")
    root = parse(data)
    check_atom(root)
    assert root.find("a:id", NS).text == f"tag:gridportal,2024:/{SITE_FEED}"  # type: ignore[union-attr]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 500), st.booleans(), st.sampled_from(["G1", "G2"])),
        max_size=80,
        unique_by=lambda t: t[0],
    )
)
def test_any_rows_make_a_valid_feed_of_at_most_max_entries(cases: list) -> None:
    rows = [row(i, grid=g, resolved=r) for i, r, g in cases]
    entries = case_entries(rows)
    assert len(entries) == len(rows) + sum(1 for _, r, _ in cases if r)
    root = parse(atom(key="k", title="t", page="/", entries=entries, site_url="", author="a"))
    assert len(check_atom(root)) == min(MAX_ENTRIES, len(entries))
