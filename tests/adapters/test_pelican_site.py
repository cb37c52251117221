"""The public site build: one shared Pelican build of a tiny district, then checks on files."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import (
    BaseHTTPRequestHandler,
    SimpleHTTPRequestHandler,
    ThreadingHTTPServer,
)
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import segno
from pelican.settings import DEFAULT_CONFIG, get_settings_from_file

from gridportal.adapters import pelican_site
from gridportal.adapters.pelican_site import (
    BuildResult,
    build_site,
    format_day,
    format_month,
    format_rate,
    format_score,
    format_when,
    latest_complete_month,
    qr_svg,
    report_url,
    safe_segment,
    tel_href,
)
from gridportal.adapters.theme import PAGE_SIZE
from gridportal.domain.deadlines import MERGED_DEADLINE_NOTE
from gridportal.domain.model import Priority
from gridportal.domain.opendata import (
    CALENDAR_KEYS,
    DATAPACKAGE,
    METRICS_CSV,
    month_metrics_key,
)
from gridportal.domain.publication import PUBLIC_FIELDS, PublishedRecord, PublishedStep
from gridportal.domain.reference import (
    Community,
    Department,
    District,
    Grid,
    ServiceItem,
    Station,
    TeamMember,
    TeamRole,
)
from gridportal.publish import ARCHIVES
from gridportal.requests import FORM_FIELDS
from support.records import published_record
from support.records import step as shared_step

BEIJING = ZoneInfo("Asia/Shanghai")
BUILD_TIME = datetime(2024, 6, 3, 2, 0, tzinfo=BEIJING)
SITE_URL = "https://grid.example.cn"
EVIL = '<script>alert(1)</script>" onmouseover="alert(2)'
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'"
)  # frame-ancestors only works as a header, which the CDN sends
OWN_SCRIPT = '<script src="/theme/js/portal.js" defer></script>'
# The search page alone runs Pagefind (WebAssembly) with its own, fingerprinted script.
SEARCH_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'")
SEARCH_SCRIPT = re.compile(r'<script src="/theme/js/search\.[0-9a-f]{10}\.js" defer></script>')

DISTRICT = District(
    id="qb",
    name="清波街道",
    city="杭州市",
    stations=(Station("east", "东片社区公共服务站", "清波街道某路 1 号", "0571-87000001"),),
    communities=(Community("lcjx", "柳翠井巷社区", "east"),),
    grids=(
        Grid(
            id="QB-LCJX-01",
            name="柳翠井巷社区第1网格",
            community="lcjx",
            level=3,
            boundary="东至河坊街,西至南山路",
            households=260,
            population=780,
            team=(
                TeamMember(TeamRole.WORKER, "李网格", "0571-87000011", "日常巡查、上报事件"),
                TeamMember(TeamRole.CHIEF, "王组长", "0571-87000010", "统筹本网格工作"),
            ),
        ),
        Grid(
            id="QB-LCJX-02",
            name="柳翠井巷社区第2网格",
            community="lcjx",
            level=3,
            boundary="东至定安路,西至河坊街",
            households=240,
            population=700,
        ),
    ),
    departments=(
        Department("cgb", "城市管理部", "street_office"),
        Department("pajs", "平安建设部", "street_office"),
    ),
    services=(
        ServiceItem("litter", "乱扔垃圾", "市容环境", "cgb", Priority.GENERAL, "easy"),
        ServiceItem("fire", "消防隐患", "安全隐患", "pajs", Priority.URGENT, "hard"),
    ),
    lists={"powers": ("行政处罚:占道经营", "行政检查:消防安全")},
)


def step(at: str, action: str, label: str, role_label: str, note: str = "") -> PublishedStep:
    return shared_step(
        at, action, label, role_label, note, role="dispatcher", unit="cgb", unit_name="城市管理部"
    )


def record(case_id: str, **changes: Any) -> PublishedRecord:
    """A case of May 2024 in 柳翠井巷社区第1网格, resolved on time (the shared builder)."""
    received_at = changes.pop("received_at", "2024-05-06T09:00:00+08:00")
    base: dict[str, Any] = {
        "id": case_id,
        "category_name": "乱扔垃圾",
        "community": "lcjx",
        "unit": "cgb",
        "units": ["cgb"],
        "month": "2024-05",
        "contacted_at": "2024-05-06T15:00:00+08:00",
        "resolved_at": "2024-05-08T10:00:00+08:00",
        "updated_at": "2024-05-08T10:00:00+08:00",
        "summary": "楼下垃圾无人清理",
        "location": "3 幢楼下",
        "answer": "已清理完毕",
        "deadlines": {
            "contact_due": "2024-05-07T23:59:59+08:00",
            "contact_met": True,
            "original_due": "2024-05-13T23:59:59+08:00",
            "due": "2024-05-13T23:59:59+08:00",
            "extended": False,
            "met": True,
            "overdue_working_days": 0,
        },
        "timeline": [
            step("2024-05-06T09:00:00+08:00", "receive", "受理", "系统"),
            step("2024-05-06T10:00:00+08:00", "dispatch", "转办", "指挥中心", "请城市管理部处理"),
            step("2024-05-08T10:00:00+08:00", "resolve", "办结", "承办部门", "已清理完毕"),
        ],
    }
    return published_record(received_at, **{**base, **changes})


RECORDS = [
    record("aaaaaaaaaaa1", rating="satisfied", rating_label="满意", status="rated"),
    record(
        "aaaaaaaaaaa2",
        summary=EVIL,
        answer=EVIL,
        location=EVIL,
        timeline=[step("2024-05-10T09:00:00+08:00", "receive", "受理", "系统", EVIL)],
    ),
    record(
        "bbbbbbbbbbb1",
        month="2024-06",
        received_at="2024-06-01T08:00:00+08:00",
        status="in_progress",
        status_label="办理中",
        outcome=None,
        outcome_label="",
        resolved_at=None,
        answer="",
        category="fire",
        category_name="消防隐患",
        priority="urgent",
        priority_label="紧急",
        difficulty="hard",
        grid="QB-LCJX-02",
        grid_name="柳翠井巷社区第2网格",
        deadlines={
            "contact_due": "2024-06-01T10:00:00+08:00",
            "contact_met": False,
            "original_due": "2024-06-02T08:00:00+08:00",
            "due": "2024-06-02T08:00:00+08:00",
            "extended": False,
            "met": False,
            "overdue_working_days": 1,
        },
    ),
    record("ccccccccccc1", deadlines=None, deadline_note="日历尚未覆盖该年份,时限待定"),
]


def row(row_id: str, name: str, **changes: Any) -> dict[str, Any]:
    base = {
        "id": row_id,
        "name": name,
        "cases": 3,
        "resident_cases": 2,
        "patrol_cases": 1,
        "hard_cases": 1,
        "hard_share": 1 / 3,
        "response_rate": 1.0,
        "resolution_rate": 0.5,
        "satisfaction_rate": None,
        "score": 87.25,
        "on_time_rate": 0.75,
        "reopen_rate": 0.0,
        "overdue_open": 1,
        "rated": 1,
        "mix": {"市容环境": 2, "安全隐患": 1},
    }
    base.update(changes)
    return base


def tables(month_tag: str) -> dict[str, Any]:
    return {
        "overall": row("all", "全部"),
        "by_department": [row("cgb", "城市管理部"), row("pajs", "平安建设部")],
        "by_grid": [row("QB-LCJX-01", "柳翠井巷社区第1网格" + month_tag)],
        "by_community": [row("lcjx", "柳翠井巷社区")],
        "by_category": [row("litter", "乱扔垃圾")],
    }


METRICS: dict[str, Any] = {
    "generated_at": "2024-06-03T02:00:00+08:00",
    "period": {"first_month": "2024-05", "last_month": "2024-06"},
    "months": ["2024-05", "2024-06"],
    "methodology": {"ranking_min_cases": 5},
    "month_status": {  # May has ended, and some of its deadlines have not passed
        "2024-05": {"final": False, "final_at": "2024-06-14T23:59:59+08:00"},
        "2024-06": {"final": False, "final_at": None},
    },
    "definitions": [
        {
            "key": "response_rate",
            "name": "响应率",
            "formula": "按时联系数 / 件数",
            "description": "d1",
        },
        {"key": "score", "name": "综合得分", "formula": "10/50/40", "description": "d2"},
    ],
    **tables(""),
    "monthly": {"2024-05": tables("(五月)"), "2024-06": tables("(六月)")},
    "red_list": [row("cgb", "城市管理部")],
    "black_list": [row("pajs", "平安建设部")],
    "warnings": [
        {
            "kind": "recurring",
            "subject": "乱扔垃圾",
            "message": "同一网格反复发生",
            "grid": "QB-LCJX-01",
            "category": "litter",
        }
    ],
    "vote_flags": [{"kind": "burst", "message": "短时间内集中评价", "case_ids": ["aaaaaaaaaaa1"]}],
    "risk_map": [
        {"grid": "QB-LCJX-01", "grid_name": "柳翠井巷社区第1网格", "level": "high", "score": 0.8}
    ],
}

EXPECTED_PAGES = [
    "index.html",
    "report/index.html",
    "lookup/index.html",
    "vote/index.html",
    "data/index.html",
    "lists/index.html",
    "grids/index.html",
    "grids/QB-LCJX-01/index.html",
    "grids/QB-LCJX-01/qr.svg",
    "grids/QB-LCJX-02/index.html",
    "cases/index.html",
    "cases/2024-05/index.html",
    "cases/2024-06/index.html",
    "cases/aaaaaaaaaaa1/index.html",
    "cases/aaaaaaaaaaa2/index.html",
    "cases/bbbbbbbbbbb1/index.html",
    "cases/ccccccccccc1/index.html",
    "metrics/index.html",
    "metrics/2024-05/index.html",
    "metrics/2024-06/index.html",
    "metrics/all/index.html",
    "metrics/tables/index.html",
    "metrics/def/index.html",
    "about/index.html",
    "guide/index.html",
    "privacy/index.html",
    "theme/css/portal.css",
    "theme/js/portal.js",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    return build_site(
        output_dir=tmp_path_factory.mktemp("site"),
        records=RECORDS,
        district=DISTRICT,
        metrics=METRICS,
        site_url=SITE_URL,
        build_time=BUILD_TIME,
    )


def read(site: BuildResult, path: str) -> str:
    return (site.output_dir / path).read_text(encoding="utf-8")


def html_files(site: BuildResult) -> Iterator[Path]:
    return site.output_dir.rglob("*.html")


# ---- the full build ----


def test_every_page_is_written_and_reported(site: BuildResult) -> None:
    for path in EXPECTED_PAGES:
        assert (site.output_dir / path).is_file(), path
    assert set(EXPECTED_PAGES) <= set(site.relative())
    assert site.case_pages == len(RECORDS)


def test_no_blog_machinery_is_written(site: BuildResult) -> None:
    for unwanted in ("feeds", "tag", "category", "author", "archives.html", "pages"):
        assert not (site.output_dir / unwanted).exists(), unwanted


def test_every_page_has_language_policy_and_api_base(site: BuildResult) -> None:
    pages = list(html_files(site))
    assert len(pages) >= 20
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert '<html lang="zh-CN">' in text, page
        csp = SEARCH_CSP if page.parent.name == "search" else CSP
        assert f'<meta http-equiv="Content-Security-Policy" content="{csp}">' in text, page
        assert '<meta name="api-base" content="/api">' in text, page


def test_free_text_is_escaped_and_only_the_own_script_runs(site: BuildResult) -> None:
    page = read(site, "cases/aaaaaaaaaaa2/index.html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34; onmouseover=&#34;alert(2)" in page
    assert page.count("&lt;script&gt;") == 4  # summary, location, note, answer
    for path in site.output_dir.rglob("*"):
        if path.suffix not in {".html", ".svg", ".css"}:
            continue
        text = path.read_text(encoding="utf-8")
        scripts = re.findall(r"<script[^>]*>.*?</script>", text, flags=re.S | re.I)
        if path.parent.name == "search":
            assert len(scripts) == 1 and SEARCH_SCRIPT.fullmatch(scripts[0]), path
            continue
        assert scripts in ([], [OWN_SCRIPT]), path
        assert "<script" not in text.replace(OWN_SCRIPT, ""), path


def test_no_inline_styles_or_handlers(site: BuildResult) -> None:
    for page in html_files(site):
        text = page.read_text(encoding="utf-8")
        tags = re.findall(r"<[a-zA-Z][^>]*>", text)
        for tag in tags:
            assert not re.search(r"\sstyle\s*=", tag, re.I), (page, tag)
            assert not re.search(r"\son[a-z]+\s*=", tag, re.I), (page, tag)
            assert "javascript:" not in tag.lower(), (page, tag)


def test_internal_links_resolve(site: BuildResult) -> None:
    publisher_writes = {"/data/metrics.json", *(f"/{key}" for key, _ in ARCHIVES.values())}
    site_data = (METRICS_CSV, DATAPACKAGE, *CALENDAR_KEYS)
    site_data += tuple(month_metrics_key(m) for m in METRICS["months"])
    publisher_writes |= {f"/{key}" for key in site_data}  # opendata.site_files, in publish
    for page in html_files(site):
        for href in re.findall(r'(?:href|src)="([^"]*)"', page.read_text(encoding="utf-8")):
            if href.startswith(("tel:", "#", "data:,", SITE_URL)):
                continue
            assert href.startswith("/"), (page, href)  # root-relative only
            target = href.split("#")[0].split("?")[0]
            if target in publisher_writes:
                continue
            path = site.output_dir / target.lstrip("/")
            if target.endswith("/"):
                path = path / "index.html"
            assert path.is_file(), (page, href)


def test_home_has_figures_buttons_and_definition_links(site: BuildResult) -> None:
    page = read(site, "index.html")
    assert "2024年5月办理情况（暂定）" in page  # June is not finished at build time
    assert "数字会随办理进展变化，2024-06-14后定稿。" in page
    for label in ("响应率", "解决率", "满意率", "综合得分"):
        assert label in page
    assert '<a href="/metrics/def/#def-response_rate">' in page
    assert '<a href="/metrics/def/#def-score">' in page
    assert "87.2" in page and "100.0%" in page
    for button in ("我要投诉", "查询进度", "评价"):
        assert f">{button}</a>" in page
    totals = re.findall(r'<span class="figure[^"]*">(\d+)</span>', page)
    assert totals == ["4", "1", "1"]  # all records, open, open and overdue


def test_grid_bulletin_has_team_qr_and_report_link(site: BuildResult) -> None:
    page = read(site, "grids/QB-LCJX-01/index.html")
    url = f"{SITE_URL}/grids/QB-LCJX-01/report/"
    assert url in page
    expected_qr = qr_svg(url, "扫码反映问题：柳翠井巷社区第1网格")
    assert expected_qr in page
    assert page.index("王组长") < page.index("李网格")  # chief first (一长五员)
    assert 'href="tel:057187000010"' in page
    assert "统筹本网格工作" in page and "网格长" in page and "网格员" in page
    assert "东至河坊街,西至南山路" in page and "260 户" in page
    assert "东片社区公共服务站" in page and 'href="tel:057187000001"' in page
    assert "高风险" in page
    assert "柳翠井巷社区第1网格(五月)" not in page  # rows are relabelled by period
    assert "全部时段" in page and "2024年5月（暂定）" in page
    # A phone sees each period's four figures; the fifteen-column table waits behind a tap.
    assert page.count('<ul class="figures">') == 2
    assert "<h3>2024年5月（暂定）</h3>" in page and "<h3>全部时段</h3>" in page
    assert '<a href="/metrics/def/#def-response_rate"><span class="figure">' in page
    details = page.index("<details><summary>全部指标（表格）</summary>")
    assert details < page.index('<table class="metrics">') < page.index("</details>", details)
    assert "/cases/aaaaaaaaaaa1/" in page and "/cases/bbbbbbbbbbb1/" not in page
    # QR codes are deterministic: the same matrix means the same URL.
    expected_file = io.BytesIO()
    segno.make_qr(url, error="m").save(expected_file, kind="svg", scale=10, border=4)
    assert (site.output_dir / "grids/QB-LCJX-01/qr.svg").read_bytes() == expected_file.getvalue()


def test_grid_list_groups_by_station_and_community(site: BuildResult) -> None:
    page = read(site, "grids/index.html")
    assert page.index("东片社区公共服务站") < page.index("柳翠井巷社区") < page.index("第2网格")


def test_case_page_shows_the_record(site: BuildResult) -> None:
    page = read(site, "cases/aaaaaaaaaaa1/index.html")
    for text in ("乱扔垃圾", "楼下垃圾无人清理", "3 幢楼下", "分类转办", "城市管理部", "满意"):
        assert text in page
    for text in ("受理", "转办", "办结", "请城市管理部处理", "2024-05-06 10:00", "指挥中心"):
        assert text in page
    assert page.count('<li>\n        <p class="step-head">') == 3
    assert "按期办结" in page and "按时联系" in page
    assert "2024-05-13 23:59" in page


def test_case_page_shows_missed_deadlines_and_notes(site: BuildResult) -> None:
    late = read(site, "cases/bbbbbbbbbbb1/index.html")
    assert "超期 1 天" in late  # urgent cases count calendar days
    assert "未按时联系" in late
    pending = read(site, "cases/ccccccccccc1/index.html")
    assert "日历尚未覆盖该年份,时限待定" in pending and "暂未计算" in pending


def test_a_merged_duplicate_reads_as_handled_with_its_original(tmp_path: Path) -> None:
    merged = record(
        "ddddddddddd1",
        status="merged",
        status_label="已合并",
        route="",
        route_label="",
        unit="",
        unit_name="",
        resolved_at=None,
        deadlines=None,
        deadline_note=MERGED_DEADLINE_NOTE,
    )
    result = build_site(
        output_dir=tmp_path,
        records=[merged, record("eeeeeeeeeee1")],
        district=DISTRICT,
        metrics=METRICS,
        build_time=BUILD_TIME,
    )
    page, listing = (
        read(result, "cases/ddddddddddd1/index.html"),
        read(result, "cases/2024-05/index.html"),
    )
    assert "并入原件" in page and "同原件" in page and MERGED_DEADLINE_NOTE in page
    assert "以原件为准" in page and "以原件为准" in listing
    for text in ("超期", "待研判", "待确定", "时限待定"):
        assert text not in page + listing, text
    assert "data-pagefind-body" not in page  # left out of search, unlike the others
    assert "data-pagefind-body" in read(result, "cases/eeeeeeeeeee1/index.html")


def test_month_lists(site: BuildResult) -> None:
    months = read(site, "cases/index.html")
    assert months.index("2024年6月") < months.index("2024年5月")
    may = read(site, "cases/2024-05/index.html")
    assert "aaaaaaaaaaa1" in may and "bbbbbbbbbbb1" not in may
    assert "时限待定" in may and "按期" in may
    june = read(site, "cases/2024-06/index.html")
    assert '<td class="met-bad">超期1天</td>' in june


def test_metrics_pages(site: BuildResult) -> None:
    page = read(site, "metrics/index.html")
    # Cards: the score and the three rates up front, the rest behind <details>.
    assert '<a href="/metrics/def/#def-response_rate">响应率 100.0%</a>' in page
    assert "<details><summary>" in page and "巡查发现1" in page
    assert "构成：市容环境 2、安全隐患 1" in page
    assert "红榜" in page and "黑榜" in page
    # The lists rank fewer departments than the cards do, and say so.
    assert "案件数不少于5件且有综合得分的部门才上榜，所以榜上的名次可能与下面部门卡片" in page
    assert "同一网格反复发生" in page and "短时间内集中评价" in page
    assert 'class="risk-cell risk-high"' in page
    assert "33.3%" in page and "—" in page
    assert "<table" not in page  # the full tables are for wide screens, on their own page
    definitions = read(site, "metrics/def/index.html")
    assert '<dt id="def-response_rate">响应率</dt>' in definitions
    assert "按时联系数 / 件数" in definitions
    tables = read(site, "metrics/tables/index.html")
    assert "按承办部门（2024年5月）" in tables and "按承办部门（全部时段）" in tables
    assert '<a href="/metrics/def/#definitions">重办率</a>' in tables  # no definition given
    assert "柳翠井巷社区第1网格(五月)" in page
    june = read(site, "metrics/2024-06/index.html")
    assert "柳翠井巷社区第1网格(六月)" in june and "红榜" not in june


def test_the_metrics_page_ranking_a_final_month_points_to_the_newer_ones(
    tmp_path: Path,
) -> None:
    status = {"2024-05": {"final": True, "final_at": "2024-06-01T23:59:59+08:00"}}
    final_may = {
        **METRICS,
        "ranking_month": "2024-05",
        "ranking_final": True,
        "month_status": {**METRICS["month_status"], **status},
    }
    built = build_site(
        output_dir=tmp_path, records=RECORDS, district=DISTRICT, metrics=final_may,
        build_time=BUILD_TIME,
    )  # fmt: skip
    page = read(built, "metrics/index.html")
    assert 'aria-current="page">最新定稿</a>' in page
    assert '较新的月份仍是暂定：<a href="/metrics/2024-06/">2024年6月</a>。' in page
    assert "本页和红黑榜只看已定稿的月份" not in read(built, "metrics/2024-06/index.html")


def test_report_form(site: BuildResult) -> None:
    page = read(site, "report/index.html")
    assert (
        '<optgroup label="市容环境">' in page and '<option value="fire">消防隐患</option>' in page
    )
    assert '<option value="QB-LCJX-02">柳翠井巷社区第2网格</option>' in page
    for element in (
        "receipt",
        "receipt-tracking",
        "receipt-code",
        "receipt-token",
        "grid-preselected",
    ):
        assert f'id="{element}"' in page
    assert 'maxlength="2000"' in page and 'maxlength="200"' in page
    assert "选填，仅用于联系您，不会公开" in page
    assert 'method="post" action="/api/complaints"' in page  # works without JavaScript
    assert "<noscript>" in page and OWN_SCRIPT in page


@pytest.mark.parametrize(
    ("path", "prefix", "names"),
    [
        ("report/index.html", "", ("category", "grid", "location", "description", "name", "phone")),
        ("lookup/index.html", "", ("tracking", "code")),
        ("vote/index.html", "vote-", ("tracking", "token", "comment")),
    ],
)
def test_the_forms_label_and_limit_each_field_as_the_api_does(
    site: BuildResult, path: str, prefix: str, names: tuple[str, ...]
) -> None:
    page = read(site, path)
    for name in names:
        field = FORM_FIELDS[name]
        assert f'<label for="{prefix}{name}">{field.label}' in page, name
        tag = re.search(rf'<(input|textarea|select) id="{prefix}{name}"[^>]*>', page)
        assert tag, name
        if tag.group(1) != "select":  # a choice from a list is as long as its choices
            limit = re.search(r'maxlength="(\d+)"', tag.group(0))
            assert limit and int(limit.group(1)) == field.max_length, name
    if path.startswith("vote"):  # the radios' fieldset names the field for the script
        assert f'data-label="{FORM_FIELDS["rating"].label}"' in page


def test_each_grid_has_a_report_page_with_its_grid_chosen_in_the_html(
    site: BuildResult,
) -> None:
    page = read(site, "grids/QB-LCJX-02/report/index.html")
    assert '<option value="QB-LCJX-02" selected>柳翠井巷社区第2网格</option>' in page
    assert page.count(" selected>") == 1  # no script needed to choose it
    assert '<strong id="grid-preselected-name">柳翠井巷社区第2网格</strong>' in page
    assert '<p id="grid-preselected" class="note">' in page  # shown, not hidden
    assert 'method="post" action="/api/complaints"' in page
    plain = read(site, "report/index.html")
    assert " selected>" not in plain and '<p id="grid-preselected" class="note" hidden>' in plain


def test_lookup_vote_data_and_lists_pages(site: BuildResult) -> None:
    assert 'id="lookup-form"' in read(site, "lookup/index.html")
    vote = read(site, "vote/index.html")
    for label in ("满意", "基本满意", "不满意"):
        assert f"> {label}</label>" in vote
    data = read(site, "data/index.html")
    for name in ("cases.csv.gz", "cases.json.gz", "metrics.json", "cases/2024-05.csv"):
        assert f'href="/data/{name}"' in data
    lists = read(site, "lists/index.html")
    assert "权力清单" in lists and "行政检查:消防安全" in lists and "平安建设部" in lists


def test_editorial_pages_use_the_theme(site: BuildResult) -> None:
    about = read(site, "about/index.html")
    assert "<h1>关于本平台</h1>" in about and "现场督办" in about
    assert '<a href="/about/">关于本平台</a>' in read(site, "index.html")


def test_portal_settings_are_documented() -> None:
    root = pelican_site.PROJECT_ROOT
    conf = get_settings_from_file(str(root / "site/pelicanconf.py"))
    pelican_extras = {"TIMEZONE", "FEED_ALL_RSS"}  # Pelican settings without a default
    custom = {k for k in conf if k not in DEFAULT_CONFIG} - pelican_extras
    docs = (root / "docs/site.md").read_text("utf-8")
    for name in sorted(custom | set(pelican_site.BUILD_SETTINGS)):
        assert f"`{name}`" in docs, name


def test_scripts_never_use_inner_html() -> None:
    script = (pelican_site.PROJECT_ROOT / "themes/portal/static/js/portal.js").read_text("utf-8")
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "document.write" not in script and "eval(" not in script


def _template_text(source: str) -> str:
    """What a template shows: comments, scripts and tags gone, a value as one character."""
    source = re.sub(r"\{#.*?#\}|<script.*?</script>|\{%.*?%\}", "", source, flags=re.S)
    source = re.sub(r"\{\{.*?\}\}", "字", source, flags=re.S)
    return re.sub(r"<[^>]*>", " ", source, flags=re.S)


def test_templates_write_chinese_with_full_width_punctuation() -> None:
    """UI text is zh-CN: no ASCII bracket or mark beside Chinese or a value among it
    (位置（网格）, not 位置(网格))."""
    cjk = "\u4e00-\u9fff"
    ascii_beside = re.compile(rf"[{cjk}][(),;:?!]|[()][{cjk}]")
    templates = pelican_site.PROJECT_ROOT / "themes/portal/templates"
    found = [
        f"{path.name}: {match.group()}"
        for path in sorted(templates.glob("*.html"))
        for match in ascii_beside.finditer(_template_text(path.read_text("utf-8")))
    ]
    assert found == []


def test_assets_stay_small(site: BuildResult) -> None:
    assert (site.output_dir / "theme/css/portal.css").stat().st_size < 12_000
    assert (site.output_dir / "theme/js/portal.js").stat().st_size < 24_000
    assert (site.output_dir / "cases/aaaaaaaaaaa1/index.html").stat().st_size < 12_000


# ---- paging and build-time label ----


def test_month_pages_hold_at_most_a_page_of_cases(tmp_path: Path) -> None:
    many = [
        record(f"p{i:011d}", received_at=f"2024-05-{1 + i % 28:02d}T09:{i % 60:02d}:00+08:00")
        for i in range(PAGE_SIZE * 2 + 1)
    ]
    result = build_site(
        output_dir=tmp_path, records=many, district=DISTRICT, metrics=METRICS, build_time=BUILD_TIME
    )
    pages = [
        read(result, key)
        for key in (
            "cases/2024-05/index.html",
            "cases/2024-05/2/index.html",
            "cases/2024-05/3/index.html",
        )
    ]
    rows = [len(re.findall(r'<th scope="row"><a href="/cases/', page)) for page in pages]
    assert rows == [PAGE_SIZE, PAGE_SIZE, 1]
    assert not (tmp_path / "cases/2024-05/4/index.html").exists()
    assert '<a href="/cases/2024-05/2/">2</a>' in pages[0] and "第 201–201 件" in pages[2]
    # Every row says what it is: category, grid, status, dates, deadline.
    for header in ("类别", "网格", "状态", "受理日期", "办结日期", "是否按期"):
        assert f'<th scope="col">{header}</th>' in pages[0]


def test_only_site_wide_pages_show_the_build_time(site: BuildResult) -> None:
    label = "数据更新于 2024-06-03 02:00"
    assert label in read(site, "index.html") and label in read(site, "metrics/index.html")
    for key in ("cases/aaaaaaaaaaa1/index.html", "cases/2024-05/index.html", "about/index.html"):
        assert "数据更新于" not in read(site, key), key


# ---- refusals ----


@pytest.mark.parametrize("bad_id", ["../etc", "a/b", "", ".hidden"])
def test_unsafe_ids_are_refused(tmp_path: Path, bad_id: str) -> None:
    with pytest.raises(ValueError, match="cannot be used in a URL path"):
        build_site(
            output_dir=tmp_path,
            records=[record(bad_id)],
            district=DISTRICT,
            metrics=METRICS,
            build_time=BUILD_TIME,
        )


def test_naive_build_time_and_missing_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_site(
            output_dir=tmp_path,
            records=[],
            district=DISTRICT,
            metrics={},
            build_time=datetime(2024, 6, 3),
        )
    with pytest.raises(FileNotFoundError, match="project_root"):
        build_site(
            output_dir=tmp_path,
            records=[],
            district=DISTRICT,
            metrics={},
            build_time=BUILD_TIME,
            project_root=tmp_path,
        )


# ---- helpers ----


def test_record_fixture_matches_the_published_shape() -> None:
    assert tuple(RECORDS[0]) == PUBLIC_FIELDS


def test_latest_complete_month() -> None:
    assert latest_complete_month(["2024-04", "2024-05", "2024-06"], BUILD_TIME) == (
        "2024-05",
        False,
    )
    assert latest_complete_month(["2024-06"], BUILD_TIME) == ("2024-06", True)
    assert latest_complete_month([], BUILD_TIME) == (None, False)
    # 2024-06-30 20:00 UTC is already July in Beijing.
    utc_evening = datetime(2024, 6, 30, 20, 0, tzinfo=ZoneInfo("UTC"))
    assert latest_complete_month(["2024-06"], utc_evening) == ("2024-06", False)


def test_formatters() -> None:
    assert format_when("2024-05-06T01:02:03+00:00") == "2024-05-06 09:02"
    assert format_when(None) == "—" and format_when("soon") == "soon"
    assert format_day("2024-05-06T23:30:00+08:00") == "2024-05-06"
    assert format_rate(0.8764) == "87.6%" and format_rate(None) == "—"
    assert format_score(87.25) == "87.2" and format_score(None) == "—"
    assert format_month("2024-05") == "2024年5月" and format_month("x") == "x"
    assert tel_href("0571-8700 0001转123") == "tel:057187000001"
    assert tel_href("+86 138-0000-0000") == "tel:+8613800000000"


def test_report_url_and_safe_segment() -> None:
    assert report_url("https://a.cn/", "G1") == "https://a.cn/grids/G1/report/"
    assert report_url("", "G1") == "/grids/G1/report/"
    assert safe_segment("QB-LCJX-01", "grid id") == "QB-LCJX-01"


def test_qr_code_encodes_the_url() -> None:
    url = report_url(SITE_URL, "QB-LCJX-01")
    svg = qr_svg(url, "标题")
    assert svg.startswith('<svg viewBox="') and 'class="qr"' in svg and "<title>标题</title>" in svg
    assert "width=" not in svg.split(">")[0]  # sized by CSS, large when printed


# ---- the forms in a real browser (Debian's Chromium through Playwright) ----


class FakeApi:
    """Serves the built site and answers /api/* from a script of canned responses."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.replies: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []

    def reply(self, path: str, *answers: tuple[int, dict[str, Any]]) -> None:
        self.replies[path] = list(answers)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(api.root), **kwargs)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                api.requests.append((self.path, dict(self.headers), body))
                status, payload = api.replies[self.path].pop(0)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture(scope="module")
def browser_site(site: BuildResult) -> Iterator[tuple[str, FakeApi, Any]]:
    from support.browser import chromium

    api = FakeApi(site.output_dir)
    server = ThreadingHTTPServer(("127.0.0.1", 0), api.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with chromium() as browser:
            context = browser.new_context(viewport={"width": 360, "height": 740})
            yield f"http://127.0.0.1:{server.server_address[1]}", api, context
    finally:
        server.shutdown()
        server.server_close()


RECEIPT = {
    "tracking": "T-2024-0001",
    "lookup_code": "LC1234",
    "vote_token": "VT-abcdef",
    "status": "received",
    "status_label": "已受理",
    "received_at": "2024-06-03T09:00:00+08:00",
    "deadlines": None,
}


def fill_report(page: Any) -> None:
    page.select_option("#category", "litter")
    page.fill("#location", "3 幢楼下")
    page.fill("#description", "楼下垃圾无人清理")


@pytest.mark.browser
def test_report_retries_with_the_same_key_and_shows_the_receipt(
    browser_site: tuple[str, FakeApi, Any],
) -> None:
    base, api, context = browser_site
    api.requests.clear()
    api.reply(
        "/api/complaints", (503, {"error": {"code": "busy", "message": "忙"}}), (201, RECEIPT)
    )
    page = context.new_page()
    page.goto(f"{base}/report/?grid=QB-LCJX-02")
    assert page.input_value("#grid") == "QB-LCJX-02"
    assert page.is_visible("#grid-preselected")
    assert page.text_content("#grid-preselected-name") == "柳翠井巷社区第2网格"
    fill_report(page)
    assert page.text_content("#description-count") == "8/2000"
    page.click("#report-submit")
    page.wait_for_selector("#receipt", state="visible", timeout=10_000)
    assert page.text_content("#receipt-tracking") == "T-2024-0001"
    assert page.text_content("#receipt-code") == "LC1234"
    assert page.text_content("#receipt-token") == "VT-abcdef"
    link = page.get_attribute("#receipt-lookup", "href")
    assert link == "/lookup/#t=T-2024-0001&c=LC1234&k=VT-abcdef"  # one link, codes after #
    keys = [headers["Idempotency-Key"] for _, headers, _ in api.requests]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", keys[0]
    )
    assert api.requests[0][2] == {
        "category": "litter",
        "grid": "QB-LCJX-02",
        "location": "3 幢楼下",
        "description": "楼下垃圾无人清理",
    }
    page.close()


@pytest.mark.browser
def test_report_shows_a_field_error_beside_the_field(
    browser_site: tuple[str, FakeApi, Any],
) -> None:
    base, api, context = browser_site
    api.requests.clear()
    error = {"error": {"code": "invalid", "message": "位置不能超过200字", "field": "location"}}
    api.reply("/api/complaints", (422, error), (201, RECEIPT))
    page = context.new_page()
    page.goto(f"{base}/report/?grid=QB-LCJX-02")
    assert page.is_visible("#grid-preselected")
    page.select_option("#grid", "QB-LCJX-01")
    assert not page.is_visible("#grid-preselected")  # the note named the scanned grid
    fill_report(page)
    page.click("#report-submit")
    page.wait_for_selector("#error-location", state="visible")
    assert page.text_content("#error-location") == "位置不能超过200字"
    assert page.get_attribute("#location", "aria-invalid") == "true"
    page.fill("#location", "3 幢")  # a changed form is a new submission with a new key
    page.click("#report-submit")
    page.wait_for_selector("#receipt", state="visible")
    keys = [headers["Idempotency-Key"] for _, headers, _ in api.requests]
    assert len(keys) == 2 and keys[0] != keys[1]
    page.close()


@pytest.mark.browser
def test_lookup_renders_data_as_text(browser_site: tuple[str, FakeApi, Any]) -> None:
    base, api, context = browser_site
    answer = {
        "tracking": "T-1",
        "status": "resolved",
        "status_label": "已办结",
        "category_name": "乱扔垃圾",
        "grid_name": "柳翠井巷社区第1网格",
        "received_at": "2024-05-06T09:00:00+08:00",
        "deadlines": RECORDS[0]["deadlines"],
        "deadline_note": "",
        "answer": '<img src=x onerror="window.hacked=1">',
        "timeline": RECORDS[0]["timeline"],
        "contact": {"name": "张*", "phone": "138****0000"},
        "can_vote": True,
        "rating": None,
        "rating_label": "",
    }
    api.reply(
        "/api/cases/lookup",
        (404, {"error": {"code": "not_found", "message": "未找到"}}),
        (200, answer),
    )
    page = context.new_page()
    page.goto(f"{base}/lookup/#t=T-1")
    assert page.input_value("#tracking") == "T-1"
    page.fill("#code", "wrong")
    page.click("#lookup-submit")
    page.wait_for_selector("#lookup-error", state="visible")
    assert page.text_content("#lookup-error") == "未找到"
    page.fill("#code", "LC1234")
    page.click("#lookup-submit")
    page.wait_for_selector("#lookup-result", state="visible")
    body = page.text_content("#lookup-body") or ""
    assert "已办结" in body and "请城市管理部处理" in body and "138****0000" in body
    assert '<img src=x onerror="window.hacked=1">' in body
    assert page.evaluate("window.hacked") is None
    assert page.get_attribute("#lookup-body a", "href") == "/vote/#t=T-1"
    page.close()


@pytest.mark.browser
def test_vote_is_prefilled_from_the_fragment(browser_site: tuple[str, FakeApi, Any]) -> None:
    base, api, context = browser_site
    api.requests.clear()
    api.reply("/api/cases/vote", (201, {"rating": "satisfied", "rating_label": "满意"}))
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{base}/vote/#t=T-1&k=VT-abc")
    assert page.input_value("#vote-tracking") == "T-1"
    assert page.input_value("#vote-token") == "VT-abc"
    assert "#" not in page.url  # the token leaves the address bar
    page.check('input[value="satisfied"]')
    page.click("#vote-submit")
    page.wait_for_selector("#vote-result", state="visible")
    assert page.text_content("#vote-result-text") == "感谢您的评价：满意。"
    assert api.requests[-1][2] == {"tracking": "T-1", "token": "VT-abc", "rating": "satisfied"}
    assert errors == []  # no CSP violations, no script errors
    page.close()
