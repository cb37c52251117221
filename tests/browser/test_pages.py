"""What people click, in a real browser: Debian's Chromium driven by Playwright.

One embedded portal for the module: moto in-process, the site built and published to
its bucket, the local origin serving the bucket and the Chalice app.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from gridportal.adapters.local_server import BucketSite, LocalPortal, chalice_api
from gridportal.adapters.s3_site import S3Site
from gridportal.adapters.tables import create_table
from gridportal.domain.model import Action, Actor, Role
from gridportal.publish import publish
from gridportal.runtime import runtime
from support.aws import mocked_aws

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
BUCKET = "gridportal-site"
DISPATCHER = Actor(Role.DISPATCHER, "dispatch-01")
HANDLER = Actor(Role.HANDLER, "dept-urban-handler", "dept-urban")


@pytest.fixture(scope="module")
def portal_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mocked_aws("browser-test-secret"):
        create_table(boto3.client("dynamodb", region_name="cn-north-1"))
        rt = runtime()
        site = S3Site(rt.s3(), BUCKET)
        site.ensure_bucket()
        publish(rt.portal, site, work_dir=tmp_path_factory.mktemp("build"))
        sys.path.insert(0, str(ROOT / "functions"))
        import app

        with LocalPortal(site=BucketSite(rt.s3(), BUCKET), api=chalice_api(app.app)) as local:
            yield local.base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from support.browser import chromium

    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def _file_complaint(page: Any, base: str) -> dict[str, str]:
    page.goto(f"{base}/report/?grid=QB-LCJX-01")
    assert page.locator("#grid").input_value() == "QB-LCJX-01"
    page.select_option("#category", "env-litter")
    page.fill("#location", "柳翠井巷北口垃圾桶旁")
    page.fill("#description", "垃圾桶满了三天没人清运。")
    page.fill("#phone", "13812345678")
    page.click("#report-submit")
    page.wait_for_selector("#receipt:not([hidden])", timeout=10_000)
    return {
        "tracking": page.locator("#receipt-tracking").inner_text().strip(),
        "code": page.locator("#receipt-code").inner_text().strip(),
        "token": page.locator("#receipt-token").inner_text().strip(),
    }


def test_a_resident_files_looks_up_and_rates(page: Any, portal_url: str) -> None:
    receipt = _file_complaint(page, portal_url)
    assert re.fullmatch(r"\d{4}-\d{4}-\d{4}", receipt["tracking"])
    assert re.fullmatch(r"\d{8}", receipt["code"])

    page.goto(f"{portal_url}/lookup/")
    page.fill("#tracking", receipt["tracking"])
    page.fill("#code", receipt["code"])
    page.click("#lookup-submit")
    page.wait_for_selector("#lookup-result:not([hidden])", timeout=10_000)
    body = page.locator("#lookup-body").inner_text()
    assert "已受理" in body
    assert "138****5678" in body and "13812345678" not in body

    portal = runtime().portal
    tracking = receipt["tracking"].replace("-", "")
    portal.act(tracking, Action.ASSESS, DISPATCHER, data={"priority": "general"})
    portal.act(tracking, Action.DISPATCH, DISPATCHER, data={"unit": "dept-urban"})
    portal.act(tracking, Action.ACCEPT, HANDLER)
    portal.act(tracking, Action.RESOLVE, HANDLER, public_note="已清运。")

    page.goto(f"{portal_url}/vote/#t={receipt['tracking']}&k={receipt['token']}")
    assert page.locator("#vote-tracking").input_value() == receipt["tracking"]
    page.check("input[name=rating][value=satisfied]")
    page.click("#vote-submit")
    page.wait_for_selector("#vote-result:not([hidden])", timeout=10_000)
    assert "满意" in page.locator("#vote-result-text").inner_text()


def test_a_bad_field_shows_the_servers_message(page: Any, portal_url: str) -> None:
    page.goto(f"{portal_url}/report/")
    page.select_option("#category", "env-litter")
    page.select_option("#grid", "QB-LCJX-01")
    page.fill("#location", "路口")
    page.fill("#description", "坏字符\u202e在这里")
    page.click("#report-submit")
    page.wait_for_selector("#error-description:not([hidden])", timeout=10_000)
    assert "控制字符" in page.locator("#error-description").inner_text()


def test_pages_render_on_a_phone_without_csp_errors(page: Any, portal_url: str) -> None:
    for path in ("/", "/grids/", "/grids/QB-LCJX-01/", "/metrics/", "/cases/", "/data/"):
        response = page.goto(f"{portal_url}{path}")
        assert response is not None and response.status == 200, path
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360 + 1, f"{path} scrolls sideways on a phone ({width}px)"
