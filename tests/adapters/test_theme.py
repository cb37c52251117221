"""The theme's renderer: the pages it makes are the templates' own output."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from gridportal.adapters.theme import (
    RowCache,
    Theme,
    _attributes,
    _parse,
    format_day,
    format_when,
    list_row,
    month_listings,
    newest_first,
    site_context,
)
from gridportal.domain.deadlines import BEIJING
from gridportal.domain.publication import iso
from gridportal.domain.reference import District
from support.records import published_record


@pytest.fixture(scope="module")
def theme(district: District) -> Theme:
    return Theme(site_context(district), build_label="2024年6月3日 02:00")


def plain_render(theme: Theme, name: str, **values: Any) -> str:
    """Jinja's own ``render``, without the renderer's shared header and footer (the
    templates include their partials then, as on Pelican's editorial pages)."""
    template = theme._env.get_template(f"{name}.html")
    return template.render(BUILD_TIME_LABEL=theme.build_label, **values)


@pytest.mark.parametrize("nav", ["cases", "search", None])
def test_shared_header_and_footer_are_what_the_partials_render(theme: Theme, nav: Any) -> None:
    record = published_record()
    title = f"{record['category_name']} {record['id']}"
    made = theme.render("case", nav=nav, title=title, case=_attributes(record))
    expected = plain_render(theme, "case", nav=nav, title=title, case=_attributes(record))
    assert made.decode() == expected
    html = made.decode()
    assert html.count('<header class="site-header">') == 1
    assert "数据更新于 2024年6月3日 02:00（北京时间）" in html
    current = html.count('aria-current="page"')
    assert current == (0 if nav is None else 1)


def test_the_header_marks_each_page_s_own_entry(theme: Theme) -> None:
    cases = theme.render("case", nav="cases", title="t", case=_attributes(published_record()))
    search = theme.render("search", nav="search", title="搜索")
    assert b'href="/search/" aria-current="page"' in search
    assert b'href="/search/" aria-current="page"' not in cases


def test_listings_made_with_the_row_cache_are_the_same_pages(theme: Theme) -> None:
    records = [
        published_record(f"2025-06-{day:02d}T09:00:00+08:00", grid=grid)
        for day in range(1, 29)
        for grid in ("QB-LCJX-01", "QB-LCJX-02")
    ]
    rows = [list_row(r) for r in newest_first(records)]
    made: list[str] = []
    render_row = theme.row_cache()._render_row

    def counted(row: Mapping[str, Any]) -> Markup:
        made.append(row["id"])
        return render_row(row)

    cache = RowCache(counted)
    listings = list(month_listings("2025-06", rows))
    assert len(listings) > 5  # the month's page, and by grid, community, unit, category
    for listing in listings:
        assert theme.listing_page(listing, cache) == theme.listing_page(listing)
    assert sorted(made) == sorted(r["id"] for r in records)  # each row made once


@given(
    st.datetimes(min_value=datetime(1992, 1, 1), max_value=datetime(2099, 12, 31)),
    st.integers(min_value=-12 * 60, max_value=14 * 60),
)
def test_times_are_shown_in_beijing_time_whatever_their_offset(
    naive: datetime, offset_minutes: int
) -> None:
    """Published times (``iso``) are cut as text; any other offset is converted."""
    moment = naive.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    beijing = moment.astimezone(BEIJING)
    for text in (iso(moment), moment.isoformat(), moment.astimezone(UTC).isoformat()):
        assert format_when(text) == beijing.strftime("%Y-%m-%d %H:%M")
        assert format_day(text) == beijing.strftime("%Y-%m-%d")


@pytest.mark.parametrize(
    "text",
    [
        "1988-06-01T12:00:00+08:00",  # summer time then: 13:00 in Beijing
        "2024-W18-5T14:20:00+08:00",
        "2024-05-03T142000.1+08:00",
        "2024-13-45T99:59:59+08:00",
        "2024-05-03 14:20:00+08:00",
        "soon",
    ],
)
def test_times_not_as_published_are_parsed(text: str) -> None:
    moment = _parse(text)
    assert format_when(text) == (moment.strftime("%Y-%m-%d %H:%M") if moment else text)
    assert format_day(text) == (moment.strftime("%Y-%m-%d") if moment else text)
