"""A resident's whole journey on a phone, in a real browser, with and without JavaScript.

From the grid bulletin's QR link through filing, looking the case up, the staff's
resolution (through the service layer), the nightly rebuild, the vote and the public
record: once with JavaScript and once without (every form is a plain post the API
answers with a page). Then the two ways a journey used to mislead: a slow answer to a
vote must not read as a failure, and a locked lookup must say so.

One embedded portal for the module, as in test_pages.py: moto in-process, the site built
and published to its bucket, the local origin serving the bucket and the Chalice app.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
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
from support.aws import SITE_BUCKET, mocked_aws

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
GRID = "QB-LCJX-01"
PHONE = {"width": 390, "height": 844}
DISPATCHER = Actor(Role.DISPATCHER, "dispatch-01")
HANDLER = Actor(Role.HANDLER, "dept-urban-handler", "dept-urban")
WAIT = 15_000  # ms: a build of the site runs beside the browser on two shared cores


class Portal:
    """The running portal, and the nightly build run on demand."""

    def __init__(self, url: str, site: S3Site, work_dir: Path) -> None:
        self.url = url
        self.site = site
        self.work_dir = work_dir

    def rebuild(self) -> None:
        publish(runtime().portal, self.site, work_dir=self.work_dir)

    def resolve(self, tracking: str) -> None:
        """Staff take the case to 办结 through the service layer."""
        portal, number = runtime().portal, tracking.replace("-", "")
        portal.act(number, Action.ASSESS, DISPATCHER, data={"priority": "general"})
        portal.act(number, Action.DISPATCH, DISPATCHER, data={"unit": "dept-urban"})
        portal.act(number, Action.ACCEPT, HANDLER)
        portal.act(number, Action.RESOLVE, HANDLER, public_note="已清运，并增加了清运频次。")


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    with mocked_aws("journey-test-secret"):
        create_table(boto3.client("dynamodb", region_name="cn-north-1"))
        rt = runtime()
        site = S3Site(rt.s3(), SITE_BUCKET)
        site.ensure_bucket()
        work_dir = tmp_path_factory.mktemp("build")
        publish(rt.portal, site, work_dir=work_dir)
        sys.path.insert(0, str(ROOT / "functions"))
        import app

        with LocalPortal(site=BucketSite(rt.s3(), SITE_BUCKET), api=chalice_api(app.app)) as local:
            yield Portal(local.base_url, site, work_dir)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from support.browser import chromium

    with chromium() as launched:
        yield launched


def phone(browser: Any, *, script: bool) -> Any:
    context = browser.new_context(viewport=PHONE, locale="zh-CN", java_script_enabled=script)
    context.set_default_timeout(WAIT)
    return context


def fill_report(page: Any, description: str) -> None:
    page.select_option("#category", "env-litter")
    page.fill("#location", "柳翠井巷北口垃圾桶旁")
    page.fill("#description", description)
    page.fill("#phone", "13812345678")


def from_the_bulletin(page: Any, base: str) -> None:
    """The bulletin's QR link leads to the grid's report page, the grid already chosen."""
    page.goto(f"{base}/grids/{GRID}/")
    qr_url = page.locator(".qr-url").inner_text().strip()
    assert qr_url.endswith(f"/grids/{GRID}/report/")
    page.goto(f"{base}{qr_url}" if qr_url.startswith("/") else qr_url)
    assert page.locator("#grid").input_value() == GRID
    assert page.locator("#grid-preselected").is_visible()
    assert page.locator("#report-submit").is_enabled()


def codes(page: Any) -> dict[str, str]:
    return {
        "tracking": page.locator("#receipt-tracking").inner_text().strip(),
        "code": page.locator("#receipt-code").inner_text().strip(),
        "token": page.locator("#receipt-token").inner_text().strip(),
    }


def fits(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"{page.url} scrolls sideways ({width}px)"


def test_the_journey_with_javascript(browser: Any, portal: Portal) -> None:
    context = phone(browser, script=True)
    page = context.new_page()
    from_the_bulletin(page, portal.url)
    fill_report(page, "垃圾桶满了三天没人清运（有脚本）。")
    page.click("#report-submit")
    page.wait_for_selector("#receipt:not([hidden])")
    mine = codes(page)
    assert re.fullmatch(r"\d{4}-\d{4}-\d{4}", mine["tracking"]) and len(mine["code"]) == 8
    link = page.get_attribute("#receipt-lookup", "href") or ""
    assert link == f"/lookup/#t={mine['tracking']}&c={mine['code']}&k={mine['token']}"
    assert page.locator("#receipt-print").is_visible()
    fits(page)

    # The one link: the lookup opens with the codes filled in and answers at once.
    page.click("#receipt-lookup")
    page.wait_for_selector("#lookup-result:not([hidden])")
    answer = page.locator("#lookup-body").inner_text()
    assert "已受理" in answer
    # The resident sees what they reported, to tell their cases apart.
    assert "垃圾桶满了三天没人清运（有脚本）。" in answer and "柳翠井巷北口垃圾桶旁" in answer
    assert "#" not in page.url  # the codes left the address bar
    assert page.locator("#lookup-record").count() == 0  # not published yet

    portal.resolve(mine["tracking"])
    portal.rebuild()

    page.goto("about:blank")  # the saved link opened afresh, as from a bookmark
    page.goto(f"{portal.url}{link}")
    page.wait_for_selector("#lookup-result:not([hidden])")
    body = page.locator("#lookup-body").inner_text()
    assert "已办结" in body and "已清运" in body
    record = page.get_attribute("#lookup-record", "href") or ""
    assert re.fullmatch(r"/cases/[a-z0-9]{12}/", record)
    page.click("#lookup-vote")  # the vote, with the vote code carried on after the #
    assert page.locator("#vote-tracking").input_value() == mine["tracking"]
    assert page.locator("#vote-token").input_value() == mine["token"]
    page.check("input[name=rating][value=satisfied]")
    page.click("#vote-submit")
    page.wait_for_selector("#vote-result:not([hidden])")
    assert page.locator("#vote-result-text").inner_text() == "感谢您的评价：满意。"
    assert page.locator("#vote-error").is_hidden()

    portal.rebuild()
    page.goto(f"{portal.url}{record}")
    public = page.locator("main").inner_text()
    assert "已评价" in public and "已清运" in public and "满意" in public
    assert "13812345678" not in public and mine["tracking"] not in public
    fits(page)
    context.close()


def test_the_journey_without_javascript(browser: Any, portal: Portal) -> None:
    context = phone(browser, script=False)
    page = context.new_page()
    from_the_bulletin(page, portal.url)
    fill_report(page, "垃圾桶满了三天没人清运（无脚本）。")
    page.click("#report-submit")
    page.wait_for_selector("#receipt-tracking")  # the API's receipt page
    assert page.url.endswith("/api/complaints")
    assert page.locator("h1").inner_text() == "已受理"
    # The API's page wears the site's stylesheet (allowed by the edge's policy); the
    # receipt's selector can appear before the stylesheet has loaded on a busy machine.
    page.wait_for_load_state("load")
    border = page.evaluate("getComputedStyle(document.querySelector('.receipt')).borderTopStyle")
    assert border == "solid"
    mine = codes(page)
    assert re.fullmatch(r"\d{4}-\d{4}-\d{4}", mine["tracking"])
    link = page.get_attribute("#receipt-link", "href") or ""
    assert link.endswith(f"/lookup/#t={mine['tracking']}&c={mine['code']}&k={mine['token']}")
    fits(page)

    # A double submit (back, send again) files nothing new: the same receipt.
    page.go_back()
    page.click("#report-submit")
    page.wait_for_selector("#receipt-tracking")
    assert codes(page) == mine

    page.click("text=现在查询办理进度")  # a form on the receipt page, no script
    page.wait_for_selector("h1:text('办理情况')")
    assert "已受理" in page.locator("main").inner_text()

    portal.resolve(mine["tracking"])
    portal.rebuild()

    page.goto(f"{portal.url}/lookup/")
    page.fill("#tracking", mine["tracking"])
    page.fill("#code", mine["code"])
    page.click("#lookup-submit")
    page.wait_for_selector("h1:text('办理情况')")
    assert "已办结" in page.locator("main").inner_text()
    record = page.get_attribute("#record-link", "href") or ""
    assert re.fullmatch(r"/cases/[a-z0-9]{12}/", record)
    page.fill("input[name=token]", mine["token"])  # the vote form on the answer page
    page.check("input[name=rating][value=basically_satisfied]")
    page.click("text=提交评价")
    page.wait_for_selector("#vote-result-text")
    assert "感谢您的评价：基本满意。" in page.locator("#vote-result-text").inner_text()
    fits(page)

    portal.rebuild()
    page.goto(f"{portal.url}{record}")
    public = page.locator("main").inner_text()
    assert "已评价" in public and "基本满意" in public
    context.close()


def test_a_slow_answer_to_a_vote_is_not_a_failure(browser: Any, portal: Portal) -> None:
    page = phone(browser, script=True).new_page()
    page.goto(f"{portal.url}/report/")
    page.select_option("#grid", GRID)
    fill_report(page, "路灯不亮（慢网评价）。")
    page.click("#report-submit")
    page.wait_for_selector("#receipt:not([hidden])")
    mine = codes(page)
    portal.resolve(mine["tracking"])

    # The first vote reaches the server and is saved, but its answer comes after the page
    # stopped waiting; the page sends the same vote with the same key, and the API answers
    # the retry with the first success.
    page.add_init_script("window.gridportalTimeoutMs = 2000")
    seen: list[str] = []

    def slow_first(route: Any) -> None:
        seen.append(route.request.headers.get("idempotency-key", ""))
        if len(seen) > 1:
            route.continue_()
            return
        answer = route.fetch()
        time.sleep(3)
        # The page gave up on this request by now: its retry gets the answer.
        with contextlib.suppress(Exception):
            route.fulfill(response=answer)

    page.route("**/api/cases/vote", slow_first)
    page.goto(f"{portal.url}/vote/#t={mine['tracking']}&k={mine['token']}")
    page.check("input[name=rating][value=satisfied]")
    page.click("#vote-submit")
    page.wait_for_selector("#vote-result:not([hidden])")
    assert page.locator("#vote-result-text").inner_text() == "感谢您的评价：满意。"
    assert page.locator("#vote-error").is_hidden()
    assert len(seen) >= 2 and len(set(seen)) == 1 and seen[0]  # one key for every attempt
    events = runtime().store.get_events(mine["tracking"].replace("-", ""))
    assert [e.action for e in events].count(Action.RATE) == 1
    page.context.close()


def test_the_forms_mark_every_missing_field_and_name_the_wrong_one(
    browser: Any, portal: Portal
) -> None:
    page = phone(browser, script=True).new_page()
    page.goto(f"{portal.url}/report/")
    page.click("#report-submit")  # nothing filled in: all four at once, not one a tap
    for name in ("category", "grid", "location", "description"):
        assert page.locator(f"#error-{name}").is_visible(), name
        assert page.get_attribute(f"#{name}", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "category"  # the first
    page.goto(f"{portal.url}/lookup/")
    page.fill("#tracking", "abcd-efgh-ijkl")
    page.fill("#code", "12345678")
    page.click("#lookup-submit")
    page.wait_for_selector("#lookup-error:not([hidden])")
    assert page.locator("#lookup-error").inner_text() == "受理编号：含有不允许的字符。"
    page.goto(f"{portal.url}/vote/")  # a field of radios is named by its fieldset
    page.fill("#vote-tracking", "1234-5678-9012")
    page.fill("#vote-token", "A" * 22)
    page.check('input[name="rating"] >> nth=0')
    page.eval_on_selector('input[name="rating"]:checked', "radio => { radio.value = 'best'; }")
    page.click("#vote-submit")
    page.wait_for_selector("#vote-error:not([hidden])")
    assert page.locator("#vote-error").inner_text().startswith("满意度：")
    page.context.close()


@pytest.mark.parametrize("script", [True, False], ids=["javascript", "no-javascript"])
def test_a_locked_lookup_says_it_is_locked_until_when_and_whom_to_call(
    browser: Any, portal: Portal, script: bool
) -> None:
    page = phone(browser, script=script).new_page()
    tracking = "5555-6666-7777" if script else "5555-6666-8888"  # known or not: the same
    for attempt in range(6):
        page.goto(f"{portal.url}/lookup/")
        page.fill("#tracking", tracking)
        page.fill("#code", f"{attempt:08d}")
        page.click("#lookup-submit")
        box = "#lookup-error:not([hidden])" if script else "#answer-error"
        page.wait_for_selector(box)
    text = page.locator(box).inner_text()
    assert "已暂时锁定" in text and "（北京时间）后可再查询" in text and "12345" in text
    call = "#lookup-error a" if script else "a[href='tel:12345']"
    assert page.get_attribute(call, "href") == "tel:12345"
    page.context.close()
