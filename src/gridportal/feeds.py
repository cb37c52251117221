"""Atom feeds (订阅): the whole site, each grid and each department.

A feed lists what a follower wants to hear about: cases newly received (新受理), cases
resolved (已办结) and each month's figures (月度指标). Feeds are site-wide files made
from what the site-wide pages already have, never from the archive: the newest listing
rows each month shard keeps per grid (``recent``) and the metrics report. A feed holds
at most ``MAX_ENTRIES`` entries, newest first.

A feed carries no build time: its ``updated`` is its newest entry's, so a night that
changes nothing changes no feed (docs/site.md, "The build time").
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ATOM = "http://www.w3.org/2005/Atom"
MAX_ENTRIES = 50
FIGURE_MONTHS = 3  # the monthly figures of the newest months in each feed
SITE_FEED = "subscribe/all.xml"


def grid_feed_key(grid: str) -> str:
    return f"subscribe/grids/{grid}.xml"


def department_feed_key(department: str) -> str:
    return f"subscribe/departments/{department}.xml"


@dataclass(frozen=True)
class Entry:
    id: str  # a path on the site, unique in the feed
    title: str
    updated: str  # ISO time with its offset
    link: str  # a root-relative URL
    summary: str
    kind: str  # "new" | "resolved" | "figures"


def _month_end(month: str) -> str:
    """The instant a month ends (Beijing time), when its figures are complete."""
    year, number = (int(part) for part in month.split("-"))
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return f"{year:04d}-{number:02d}-01T00:00:00+08:00"


def _month_label(month: str) -> str:
    year, number = month.split("-")
    return f"{year}年{int(number)}月"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def case_entries(rows: Iterable[Mapping[str, Any]]) -> list[Entry]:
    """A case row gives a 新受理 entry, and a 已办结 one once it is resolved."""
    out = []
    for row in rows:
        what = f"{row.get('category_name') or ''}（{row.get('grid_name') or ''}）"
        link = f"/cases/{row['id']}/"
        status = row.get("status_label") or ""
        if row.get("received_at"):
            out.append(
                Entry(
                    f"{link}#received",
                    f"新受理：{what}",
                    row["received_at"],
                    link,
                    f"编号 {row['id']}，{status}。",
                    "new",
                )
            )
        if row.get("resolved_at"):
            out.append(
                Entry(
                    f"{link}#resolved",
                    f"已办结：{what}",
                    row["resolved_at"],
                    link,
                    f"编号 {row['id']}，{status}。",
                    "resolved",
                )
            )
    return out


def figure_entries(
    metrics: Mapping[str, Any], section: str | None, unit: str | None, name: str
) -> list[Entry]:
    """Monthly figures of the newest complete months: the whole street (``section`` None)
    or one row of ``monthly[M][section]``. A month still under way has none: its entry
    would be dated at its end, in the future. One not yet final says so (暂定) and is
    dated at the month's end; once final it is dated when it became final, so a reader
    sees the entry change."""
    monthly = metrics.get("monthly") or {}
    status = metrics.get("month_status") or {}
    # Ended: before the Beijing month of the report's time (as the headline month is
    # chosen, theme.latest_complete_month); generated_at is Beijing time's text.
    now_month = str(metrics.get("generated_at") or "9999-12")[:7]
    ended = [month for month in sorted(monthly) if month < now_month]
    out = []
    for month in ended[-FIGURE_MONTHS:]:
        if section is None:
            row = monthly[month].get("overall")
        else:
            row = next((r for r in monthly[month].get(section, ()) if r.get("id") == unit), None)
        if not row:
            continue
        summary = (
            f"件数 {row.get('cases', 0)}，响应率 {_percent(row.get('response_rate'))}，"
            f"解决率 {_percent(row.get('resolution_rate'))}，"
            f"满意率 {_percent(row.get('satisfaction_rate'))}。"
        )
        final_at = status.get(month, {}).get("final_at")
        final = bool(status.get(month, {}).get("final") and final_at)
        if not final:
            summary += "（暂定，定稿前会随办理进展变化。）"
        out.append(
            Entry(
                f"/metrics/{month}/#{unit or 'overall'}",
                f"{name}{_month_label(month)}办理情况",
                final_at if final else _month_end(month),
                f"/metrics/{month}/",
                summary,
                "figures",
            )
        )
    return out


def atom(
    *,
    key: str,
    title: str,
    page: str,
    entries: Sequence[Entry],
    site_url: str,
    author: str,
) -> bytes:
    """One Atom document: ``entries`` newest first, at most ``MAX_ENTRIES``."""
    ordered = sorted(entries, key=lambda e: (e.updated, e.id), reverse=True)[:MAX_ENTRIES]
    base = site_url.rstrip("/")
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed", {"xml:lang": "zh-CN"})
    ET.SubElement(feed, f"{{{ATOM}}}id").text = _id(base, "/" + key)
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = (
        ordered[0].updated if ordered else "1970-01-01T00:00:00+00:00"
    )
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "self", "href": base + "/" + key})
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "alternate", "href": base + page})
    ET.SubElement(ET.SubElement(feed, f"{{{ATOM}}}author"), f"{{{ATOM}}}name").text = author
    for entry in ordered:
        item = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(item, f"{{{ATOM}}}id").text = _id(base, entry.id)
        ET.SubElement(item, f"{{{ATOM}}}title").text = entry.title
        ET.SubElement(item, f"{{{ATOM}}}updated").text = entry.updated
        ET.SubElement(item, f"{{{ATOM}}}link", {"href": base + entry.link})
        ET.SubElement(item, f"{{{ATOM}}}category", {"term": entry.kind})
        ET.SubElement(item, f"{{{ATOM}}}summary").text = entry.summary
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8")


def _id(base: str, path: str) -> str:
    # An Atom id must be an absolute IRI; without a site URL a tag: URI stands in.
    return base + path if base else f"tag:gridportal,2024:{path}"


@dataclass(frozen=True)
class Feed:
    key: str
    title: str
    page: str  # the page the feed follows (linked from it with rel=alternate)


def site_feeds(
    *,
    grids: Sequence[tuple[str, str]],
    departments: Sequence[tuple[str, str]],
    district_name: str,
    rows: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Any],
    site_url: str,
    author: str,
) -> Iterable[tuple[Feed, bytes]]:
    """Every feed: the whole site, then each grid ((id, name)), then each department."""
    feed = Feed(SITE_FEED, f"{district_name}：全站动态", "/")
    yield (
        feed,
        atom(
            key=feed.key,
            title=feed.title,
            page=feed.page,
            entries=case_entries(rows) + figure_entries(metrics, None, None, district_name),
            site_url=site_url,
            author=author,
        ),
    )
    for field, section, units, make_key, page in (
        ("grid", "by_grid", grids, grid_feed_key, "/grids/{}/"),
        ("unit", "by_department", departments, department_feed_key, "/lists/#dept-{}"),
    ):
        for unit, name in units:
            feed = Feed(make_key(unit), f"{name}：动态", page.format(unit))
            mine = [row for row in rows if row.get(field) == unit]
            yield (
                feed,
                atom(
                    key=feed.key,
                    title=feed.title,
                    page=feed.page,
                    entries=case_entries(mine) + figure_entries(metrics, section, unit, name),
                    site_url=site_url,
                    author=author,
                ),
            )
