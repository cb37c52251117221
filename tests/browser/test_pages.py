"""Every page template in a real browser: Debian's Chromium driven by Playwright.

One embedded portal for the module, as ``make demo`` runs it: moto plays the store, a few
complaints are filed and handled, the site is published to a directory (so the build's
after-steps run: Brotli and gzip siblings, the Pagefind index), and the local origin serves
the directory and the Chalice app. Checked on a phone: no axe-core violation on any page
template (on a wide screen too), no Content-Security-Policy error, no sideways scrolling,
what a record or a bulletin weighs over the wire, the search, the styled 404 page.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from gridportal import search
from gridportal.adapters.directory_site import DirectorySite as DirectoryTarget
from gridportal.adapters.directory_site import stored_name
from gridportal.adapters.local_server import DirectorySite, LocalPortal, chalice_api
from gridportal.adapters.tables import create_table
from gridportal.domain.model import Action, Actor, Complaint, Role
from gridportal.publish import publish
from gridportal.runtime import runtime
from support.aws import mocked_aws
from support.browser import axe_violations

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
DISPATCHER = Actor(Role.DISPATCHER, "dispatch-01")
HANDLER = Actor(Role.HANDLER, "dept-urban-handler", "dept-urban")
GRID = "QB-LCJX-01"
PHONE = {"width": 360, "height": 740}
WIDE = {"width": 1280, "height": 800}
PAGE_BUDGET = 30_000  # bytes over the wire for a record or a bulletin, with its stylesheet
MONTH = re.compile(r"\d{4}-\d{2}")  # a month's first listing page: cases/<YYYY-MM>.html


@dataclass(frozen=True)
class Site:
    url: str
    root: Path
    case_id: str
    month: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with mocked_aws("browser-test-secret"):
        create_table(boto3.client("dynamodb", region_name="cn-north-1"))
        portal = runtime().portal
        complaints = [
            # A long word with no place to break must wrap on a phone all the same.
            (
                "env-litter",
                "柳翠井巷北口（LiucuijingxiangNorthEntranceOppositeTheServiceStation）",
                "垃圾桶满了三天没人清运，气味很大。",
            ),
            ("env-litter", "定安路口", "路边堆放装修垃圾。"),
            ("env-stall", "清河坊街", "夜市摊贩占用人行道。"),
        ]
        receipts = [
            portal.file_complaint(Complaint(category, GRID, location, text))
            for category, location, text in complaints
        ]
        tracking = receipts[0].tracking
        portal.act(tracking, Action.ASSESS, DISPATCHER, data={"priority": "general"})
        portal.act(tracking, Action.DISPATCH, DISPATCHER, data={"unit": "dept-urban"})
        portal.act(tracking, Action.ACCEPT, HANDLER)
        portal.act(tracking, Action.RESOLVE, HANDLER, public_note="已清运。")
        root = tmp_path_factory.mktemp("site")
        publish(portal, DirectoryTarget(root), work_dir=tmp_path_factory.mktemp("build"))
        case_id = portal.keys.public_id(tracking)  # a case record, never a month's list
        assert (root / stored_name(f"cases/{case_id}/index.html")).is_file()
        month = next(p.stem for p in (root / "cases").glob("*.html") if MONTH.fullmatch(p.stem))
        sys.path.insert(0, str(ROOT / "functions"))
        import app

        with LocalPortal(site=DirectorySite(root), api=chalice_api(app.app)) as local:
            yield Site(local.base_url, root, case_id, month)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from support.browser import chromium

    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def template_pages(site: Site) -> dict[str, str]:
    """One URL per page template (the 404 page included)."""
    return {
        "home": "/",
        "grids": "/grids/",
        "grid": f"/grids/{GRID}/",
        "case_months": "/cases/",
        "case_month": f"/cases/{site.month}/",
        "case": f"/cases/{site.case_id}/",
        "case_by (index)": "/cases/by/",
        "case_by (one grid)": f"/cases/by/grid/{GRID}/",
        "case_month (one grid)": f"/cases/by/grid/{GRID}/{site.month}/",
        "metrics": "/metrics/",
        "metrics_tables": "/metrics/tables/",
        "metrics_methodology": "/metrics/def/",
        "lists": "/lists/",
        "data": "/data/",
        "report": "/report/",
        "lookup": "/lookup/",
        "vote": "/vote/",
        "search": "/search/",
        "feeds": "/subscribe/",
        "page": "/about/",
    }


def axe_over_every_template(page: Any, site: Site) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for name, path in [*template_pages(site).items(), ("404", "/no/such/page/")]:
        response = page.goto(site.url + path)
        assert response is not None
        assert response.status == (404 if name == "404" else 200), path
        violations = axe_violations(page)
        if violations:
            found[f"{name} {path}"] = violations
    return found


def test_every_page_template_passes_axe_on_a_phone(page: Any, site: Site) -> None:
    assert axe_over_every_template(page, site) == {}


def test_every_page_template_passes_axe_on_a_wide_screen(page: Any, site: Site) -> None:
    # From 40rem up case lists are tables and bulletins two columns: other markup to check.
    page.set_viewport_size(WIDE)
    assert axe_over_every_template(page, site) == {}


def test_pages_fit_a_phone_and_carry_the_policy(page: Any, site: Site) -> None:
    for path in template_pages(site).values():
        response = page.goto(site.url + path)
        assert response is not None and response.status == 200, path
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, f"{path} scrolls sideways on a phone ({width}px)"


def test_the_ranked_lists_number_each_row_once(page: Any, site: Site) -> None:
    page.goto(site.url + "/metrics/")
    styles = page.eval_on_selector_all(
        ".m-rank", "lists => lists.map(l => getComputedStyle(l).listStyleType)"
    )
    assert len(styles) >= 2 and set(styles) == {"none"}  # a row shows its own rank (ties share one)


def transferred(page: Any) -> int:
    """Bytes over the wire for the page and what it loaded (headers and bodies)."""
    total: int = page.evaluate(
        "() => performance.getEntriesByType('navigation')"
        ".concat(performance.getEntriesByType('resource'))"
        ".reduce((sum, e) => sum + e.transferSize, 0)"
    )
    return total


def test_records_and_bulletins_weigh_under_30_kb_compressed(page: Any, site: Site) -> None:
    weights = {}
    for path in (f"/cases/{site.case_id}/", f"/grids/{GRID}/"):
        response = page.goto(site.url + path)
        assert response is not None and response.status == 200
        assert response.headers.get("content-encoding") in {"br", "gzip"}, path
        assert response.headers["vary"] == "Accept-Encoding"
        weights[path] = transferred(page)
        assert 0 < weights[path] < PAGE_BUDGET, weights
    # The stylesheet is fingerprinted and kept a year; the page itself a few minutes.
    css = page.evaluate("document.querySelector('link[rel=stylesheet]').href")
    answer = page.request.get(css)
    assert "immutable" in answer.headers["cache-control"]


def test_a_search_for_a_category_finds_its_records(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/search/")
    page.fill("#search-q", "垃圾")
    page.click("#search-submit")
    page.wait_for_selector("#search-results li", timeout=15_000)
    links = page.locator("#search-results li a").evaluate_all("els => els.map(e => e.href)")
    litter = {
        p.stem  # cases/<id>.html, served and linked as /cases/<id>/
        for p in (site.root / "cases").glob("*.html")
        if "垃圾堆放" in (text := p.read_text(encoding="utf-8")) and "data-pagefind-body" in text
    }
    assert len(litter) == 2
    assert {link.rstrip("/").rsplit("/", 1)[-1] for link in links} >= litter
    assert "2 条" in page.locator("#search-status").inner_text() or len(links) >= 2
    assert "search/?q=" in page.url  # the query stays in the address, to share or reload
    assert page.locator("#search-scope").is_hidden()  # the whole site is indexed
    # Pagefind's ". " between a page's blocks reads as stray English in Chinese text: the
    # excerpt shows a full-width space there instead, nothing at its start, and no space
    # after a full-width stop.
    excerpts = page.locator(".search-excerpt").all_inner_texts()
    assert any("\u3000" in text for text in excerpts)
    for text in excerpts:
        assert not text.startswith(".") and not re.search(r"[^\x00-\x7f]\. |。 ", text), text


def test_a_search_over_the_newest_records_says_since_when(
    page: Any, site: Site, tmp_path: Path
) -> None:
    # A site larger than its index: a copy of this one, indexed with room for two records.
    root = tmp_path / "site"
    shutil.copytree(site.root, root)
    bulletins = len(list(root.glob(search.BULLETINS_GLOB)))
    search.refresh(root, max_pages=bulletins + 2)
    since = json.loads((root / search.INDEX_DIR / search.SCOPE_FILE).read_text("utf-8"))["since"]
    sys.path.insert(0, str(ROOT / "functions"))
    import app

    with LocalPortal(site=DirectorySite(root), api=chalice_api(app.app)) as local:
        page.goto(f"{local.base_url}/search/?q=垃圾")
        page.wait_for_selector("#search-results li", timeout=15_000)
        scope = page.locator("#search-scope")
        scope.wait_for(state="visible", timeout=15_000)
        year, month, day = (int(part) for part in since.split("-"))
        assert scope.inner_text() == (
            f"搜索范围：{year}年{month}月{day}日以来受理的 2 条办理记录和全部网格公示牌。"
            "更早的记录请按月份浏览。"
        )
        assert scope.locator("a").get_attribute("href") == "/cases/"
        hrefs = page.locator("#search-results li a").evaluate_all(
            "els => els.map(e => e.getAttribute('href'))"
        )
        assert 1 <= len([h for h in hrefs if h.startswith("/cases/")]) <= 2  # of three


def test_a_missing_page_gets_the_styled_404(page: Any, site: Site) -> None:
    response = page.goto(f"{site.url}/cases/no-such-case/")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "页面不存在"
    assert page.locator("link[rel=stylesheet]").count() == 1
    assert page.locator("a[href='/search/']").count() >= 1


def test_pages_link_their_feeds(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/grids/{GRID}/")
    feeds = page.locator("link[rel=alternate][type='application/atom+xml']")
    hrefs = feeds.evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert hrefs == ["/subscribe/all.xml", f"/subscribe/grids/{GRID}.xml"]
    for href in hrefs:
        answer = page.request.get(site.url + href)
        assert answer.status == 200 and answer.text().startswith("<?xml")
