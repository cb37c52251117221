"""The API through Chalice's test client, on moto's DynamoDB."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import quote, urlencode

import pytest

from api_helpers import COMPLAINT, act, login, post
from chalicelib import html
from chalicelib.http import Submission, filing_key
from gridportal import requests
from gridportal.domain.deadlines import BEIJING
from gridportal.domain.model import Action, Channel, Role
from gridportal.ports import QUEUE_PAGE
from gridportal.runtime import runtime
from gridportal.shards import case_page_key


def test_file_look_up_resolve_and_vote(api: Any) -> None:
    filed = post(api, "/complaints", COMPLAINT, {"Idempotency-Key": "key-00000001"})
    assert filed.status_code == 201, filed.json_body
    receipt = filed.json_body
    tracking = receipt["tracking"].replace("-", "")
    assert len(tracking) == 12 and len(receipt["lookup_code"]) == 8
    assert filed.headers["Cache-Control"] == "no-store"

    looked = post(
        api, "/cases/lookup", {"tracking": receipt["tracking"], "code": receipt["lookup_code"]}
    )
    assert looked.status_code == 200
    assert looked.json_body["status"] == "received"
    assert looked.json_body["contact"] == {"name": "王**", "phone": "138****5678"}
    assert looked.json_body["can_vote"] is False

    early = post(
        api,
        "/cases/vote",
        {"tracking": tracking, "token": receipt["vote_token"], "rating": "satisfied"},
    )
    assert early.status_code == 409 and early.json_body["error"]["code"] == "not_resolved"

    dispatcher = login(api, "dispatch-01", Role.DISPATCHER)
    handler = login(api, "urban-01", Role.HANDLER, "dept-urban")
    assert act(api, dispatcher, tracking, "assess", data={"priority": "general"}).status_code == 200
    assert (
        act(api, dispatcher, tracking, "dispatch", data={"unit": "dept-urban"}).status_code == 200
    )
    assert act(api, handler, tracking, "accept").status_code == 200
    resolved = act(api, handler, tracking, "resolve", public_note="已清运并增加清运频次。")
    assert resolved.status_code == 200, resolved.json_body
    assert resolved.json_body["contact"]["phone"] == "13812345678"  # the handler calls back

    voted = post(
        api,
        "/cases/vote",
        {"tracking": tracking, "token": receipt["vote_token"], "rating": "satisfied"},
    )
    assert voted.status_code == 201 and voted.json_body["rating_label"] == "满意"
    again = post(
        api,
        "/cases/vote",
        {"tracking": tracking, "token": receipt["vote_token"], "rating": "unsatisfied"},
    )
    assert again.status_code == 409 and again.json_body["error"]["code"] == "already_voted"


def test_retry_with_same_key_returns_same_case(api: Any) -> None:
    first = post(api, "/complaints", COMPLAINT, {"Idempotency-Key": "retry-me-0001"}).json_body
    second = post(api, "/complaints", COMPLAINT, {"Idempotency-Key": "retry-me-0001"})
    assert second.status_code == 201
    assert second.json_body["tracking"] == first["tracking"]
    assert second.json_body["lookup_code"] == first["lookup_code"]
    changed = post(
        api,
        "/complaints",
        {**COMPLAINT, "description": "另一件事"},
        {"Idempotency-Key": "retry-me-0001"},
    )
    assert changed.status_code == 422


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "malformed_json"),
        ([1, 2], 400, "malformed_json"),
        ({**COMPLAINT, "category": "no-such"}, 400, "unknown_category"),
        ({**COMPLAINT, "grid": "nowhere"}, 400, "unknown_grid"),
        ({**COMPLAINT, "description": "   "}, 400, "required"),
        ({**COMPLAINT, "description": "长" * 2001}, 400, "too_long"),
        ({**COMPLAINT, "extra": "x"}, 400, "unknown_field"),
        ({**COMPLAINT, "location": "a\u202eb"}, 400, "bad_character"),
        (b"{" + b" " * 20000 + b"}", 413, "too_large"),
    ],
)
def test_bad_complaints_get_clear_errors_and_write_nothing(
    api: Any, dynamodb: Any, body: Any, status: int, code: str
) -> None:
    answer = post(api, "/complaints", body)
    assert answer.status_code == status
    assert answer.json_body["error"]["code"] == code
    assert answer.json_body["error"]["message"]
    assert dynamodb.scan(TableName="gridportal")["Count"] == 0


def test_failed_lookups_look_alike_and_a_lock_says_until_when_and_whom_to_call(
    api: Any,
) -> None:
    receipt = post(api, "/complaints", COMPLAINT).json_body
    wrong = post(api, "/cases/lookup", {"tracking": receipt["tracking"], "code": "00000000"})
    unknown = post(api, "/cases/lookup", {"tracking": "111122223333", "code": "00000000"})
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.body == unknown.body
    for _ in range(4):
        for tracking in (receipt["tracking"], "111122223333"):
            post(api, "/cases/lookup", {"tracking": tracking, "code": "00000000"})
    answers = [
        post(api, "/cases/lookup", {"tracking": t, "code": c})
        for t, c in ((receipt["tracking"], receipt["lookup_code"]), ("111122223333", "00000000"))
    ]
    for locked in answers:
        assert locked.status_code == 429
        error = locked.json_body["error"]
        assert error["code"] == "lookup_locked" and error["hotline"] == "12345"
        until = datetime.fromisoformat(error["locked_until"]).astimezone(BEIJING)
        assert timedelta(hours=23) < until - datetime.now(UTC) <= timedelta(hours=24, seconds=1)
        assert f"{until.month}月{until.day}日 {until:%H:%M}（北京时间）" in error["message"]
        assert "锁定" in error["message"] and "12345" in error["message"]
        assert 0 < int(locked.headers["Retry-After"]) <= 24 * 3600
    # Known or not, the same answer (up to the moment each lock began).
    same = [re.sub(r"\d", "0", a.body.decode()) for a in answers]
    assert same[0] == same[1]


def test_staff_routes_need_a_valid_session(api: Any) -> None:
    assert api.http.get("/staff/queue").status_code == 401
    forged = {"Authorization": "Bearer eyJ4Ijp9.deadbeef"}
    assert api.http.get("/staff/queue", headers=forged).status_code == 401
    bad = post(api, "/staff/login", {"username": "nobody", "password": "x"})
    assert bad.status_code == 401


def test_a_desk_reads_its_queue_page_by_page(api: Any) -> None:
    filed = [
        post(api, "/complaints", COMPLAINT).json_body["tracking"] for _ in range(QUEUE_PAGE + 2)
    ]
    dispatcher = login(api, "dispatch-01", Role.DISPATCHER)
    seen: list[str] = []
    url, pages = "/staff/queue", 0
    while url:
        answer = api.http.get(url, headers=dispatcher)
        assert answer.status_code == 200, answer.json_body
        assert len(answer.json_body["cases"]) <= QUEUE_PAGE
        seen += [case["tracking"] for case in answer.json_body["cases"]]
        cursor, pages = answer.json_body["next"], pages + 1
        url = f"/staff/queue?after={quote(cursor)}" if cursor else ""
    assert seen == filed and pages in (2, 3)  # a store may end on an empty page
    bad = api.http.get("/staff/queue?after=oops", headers=dispatcher)
    assert (bad.status_code, bad.json_body["error"]["code"]) == (400, "invalid_cursor")


def test_handler_cannot_touch_another_units_case(api: Any) -> None:
    tracking = post(api, "/complaints", COMPLAINT).json_body["tracking"]
    dispatcher = login(api, "dispatch-01", Role.DISPATCHER)
    other = login(api, "police-01", Role.HANDLER, "city-police")
    act(api, dispatcher, tracking, "assess", data={"priority": "general"})
    act(api, dispatcher, tracking, "dispatch", data={"unit": "dept-urban"})
    refused = act(api, other, tracking, "accept")
    assert refused.status_code == 403
    seen = api.http.get(f"/staff/cases/{tracking}", headers=dispatcher).json_body
    assert seen["status"] == "dispatched"


def test_the_api_cold_start_imports_no_site_builder() -> None:
    """Residents' Lambdas stay light: importing the app pulls in neither Pelican nor Markdown."""
    code = (
        "import sys, app; heavy = [m for m in ('pelican', 'markdown', 'jinja2') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    functions = Path(__file__).resolve().parents[2] / "functions"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=functions, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


# ------------------------------------------------------------ form posts (no JavaScript)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def post_form(api: Any, path: str, fields: dict[str, str], **headers: str) -> Any:
    return api.http.post(path, headers={**FORM, **headers}, body=urlencode(fields))


def page_value(answer: Any, element: str) -> str:
    found = re.search(rf'id="{element}">([^<]*)<', answer.body.decode())
    assert found, f"#{element} missing"
    return found.group(1)


def test_a_form_post_files_once_and_answers_a_page_with_one_link(api: Any) -> None:
    first = post_form(api, "/complaints", {**COMPLAINT, "idempotency_key": ""})
    assert first.status_code == 201
    assert first.headers["Content-Type"] == "text/html; charset=utf-8"
    assert first.headers["Cache-Control"] == "no-store"
    assert first.headers["Content-Security-Policy"] == html.csp()
    page = first.body.decode()
    assert "<script" not in page and '<html lang="zh-CN">' in page
    assert f'<link rel="stylesheet" href="{html.STYLESHEET}">' in page
    tracking, code = page_value(first, "receipt-tracking"), page_value(first, "receipt-code")
    token = page_value(first, "receipt-token")
    assert f'href="/lookup/#t={tracking}&amp;c={code}&amp;k={token}"' in page
    assert f'name="tracking" value="{tracking}"' in page  # the lookup button, no script
    # A double submit (no key, no script): the same case and the same codes.
    again = post_form(api, "/complaints", {**COMPLAINT, "idempotency_key": ""})
    assert (page_value(again, "receipt-tracking"), page_value(again, "receipt-token")) == (
        tracking,
        token,
    )
    # The page's hidden key, when its script filled it in, is the key.
    keyed = [post_form(api, "/complaints", {**COMPLAINT, "idempotency_key": "page-key-0001"})]
    keyed.append(post_form(api, "/complaints", {**COMPLAINT, "idempotency_key": "page-key-0001"}))
    assert page_value(keyed[0], "receipt-tracking") == page_value(keyed[1], "receipt-tracking")
    assert page_value(keyed[0], "receipt-tracking") != tracking
    looked = post(api, "/cases/lookup", {"tracking": tracking, "code": code})
    assert looked.status_code == 200 and looked.json_body["record_url"] is None


def test_a_refused_form_post_leads_back_to_the_form_it_came_from(api: Any) -> None:
    # From a grid's QR page: back to that grid's form, the grid chosen again.
    refused = post_form(api, "/complaints", {**COMPLAINT, "grid": "QB-LCJX-02", "description": ""})
    assert refused.status_code == 400
    assert '<a href="/grids/QB-LCJX-02/report/">回到填写页面</a>' in refused.body.decode()
    # An unknown grid (or none) goes back to the plain form.
    unknown = post_form(api, "/complaints", {**COMPLAINT, "grid": "nowhere", "description": ""})
    assert '<a href="/report/">回到填写页面</a>' in unknown.body.decode()


def test_a_form_double_submit_across_a_minute_edge_files_once(api: Any) -> None:
    rt = runtime()
    fields = requests.COMPLAINT.parse(json.dumps(COMPLAINT).encode())
    sub = Submission(fields, None, True)
    here = cast(Any, SimpleNamespace(context={"identity": {"sourceIp": "203.0.113.7"}}))
    there = cast(Any, SimpleNamespace(context={"identity": {"sourceIp": "198.51.100.2"}}))
    minute = 29_000_000 * 60
    key = filing_key(here, sub, rt, now=minute + 59)
    assert key is not None and key.startswith("form-")
    assert requests.idempotency_key(key) == key  # a valid key
    rt.portal.file_complaint(requests.complaint(fields, Channel.PORTAL), idempotency_key=key)
    assert filing_key(here, sub, rt, now=minute + 61) == key  # the next minute finds it
    assert filing_key(here, sub, rt, now=minute + 180) != key  # minutes later: a new case
    assert filing_key(there, sub, rt, now=minute + 59) != key  # another sender
    changed = Submission({**fields, "description": "另一件事。"}, None, True)
    assert filing_key(here, changed, rt, now=minute + 59) != key
    assert filing_key(here, Submission(fields, "given-key-1", True), rt) == "given-key-1"
    assert filing_key(here, Submission(fields, None, False), rt) is None  # JSON: no key


def test_hostile_text_never_reaches_a_page_as_code(api: Any) -> None:
    hostile = {
        **COMPLAINT,
        "location": '"><img src=x onerror=alert(1)>',
        "description": "<script>alert('x')</script>&amp;",
        "name": "</dd><b>王</b>",
    }
    filed = post(api, "/complaints", hostile).json_body
    looked = post_form(
        api, "/cases/lookup", {"tracking": filed["tracking"], "code": filed["lookup_code"]}
    )
    assert looked.status_code == 200
    page = looked.body.decode()
    assert "<script>" not in page and "<img" not in page and "<b>" not in page
    refused = post_form(api, "/complaints", {**COMPLAINT, "<b onmouseover=x>": "1"})
    assert refused.status_code == 400
    assert "<b " not in refused.body.decode() and "&lt;b onmouseover=x&gt;" in refused.body.decode()
    bad = post_form(api, "/complaints", {**COMPLAINT, "location": "a\u202eb"})
    assert bad.status_code == 400 and "具体位置：内容含有不允许的控制字符。" in bad.body.decode()


def test_a_page_is_answered_to_whoever_asks_for_html_and_json_to_scripts(api: Any) -> None:
    asked = post(
        api, "/cases/lookup", {"tracking": "111122223333", "code": "1"}, {"Accept": "text/html"}
    )
    assert asked.status_code == 404 and asked.headers["Content-Type"].startswith("text/html")
    assert "请点浏览器的“返回”" in asked.body.decode() and 'href="/lookup/"' in asked.body.decode()
    script = post(
        api,
        "/cases/lookup",
        {"tracking": "111122223333", "code": "1"},
        {"Accept": "application/json, text/html"},
    )
    assert script.headers["Content-Type"].startswith("application/json")
    doubled = api.http.post("/cases/lookup", headers=FORM, body="tracking=1&tracking=2&code=1")
    assert doubled.status_code == 400 and "受理编号：同一项填写了两次。" in doubled.body.decode()


def test_the_whole_form_journey_and_a_retried_vote(api: Any) -> None:
    filed = post_form(api, "/complaints", COMPLAINT)
    tracking, code = page_value(filed, "receipt-tracking"), page_value(filed, "receipt-code")
    token = page_value(filed, "receipt-token")
    early = post_form(
        api, "/cases/vote", {"tracking": tracking, "token": token, "rating": "satisfied"}
    )
    assert early.status_code == 409 and "办结后才能评价" in early.body.decode()
    resolve(api, tracking)
    public_id = runtime().store.get_case(tracking.replace("-", "")).file.public_id  # type: ignore[union-attr]
    site = runtime().site_target()
    site.ensure_bucket()
    site.s3.put_object(Bucket=site.bucket, Key=case_page_key(public_id), Body=b"<!doctype html>")
    looked = post_form(api, "/cases/lookup", {"tracking": tracking, "code": code})
    page = looked.body.decode()
    assert f'href="/cases/{public_id}/"' in page and "查看公开的办理记录" in page
    assert 'action="vote"' in page and f'name="tracking" value="{tracking}"' in page
    vote = {
        "tracking": tracking,
        "token": token,
        "rating": "basically_satisfied",
        "comment": "还行",
    }
    key = {"Idempotency-Key": "vote-key-0001"}
    first = post(api, "/cases/vote", vote, key)
    retried = post(api, "/cases/vote", vote, key)  # the first answer was lost on the way
    assert first.status_code == retried.status_code == 201
    assert (
        first.json_body
        == retried.json_body
        == {
            "rating": "basically_satisfied",
            "rating_label": "基本满意",
        }
    )
    as_page = post_form(api, "/cases/vote", vote)
    assert as_page.status_code == 201 and "感谢您的评价：基本满意。" in as_page.body.decode()
    other = post_form(api, "/cases/vote", {**vote, "rating": "satisfied"})
    assert other.status_code == 409 and "已经评价过" in other.body.decode()
    events = runtime().store.get_events(tracking.replace("-", ""))
    assert [e.action for e in events].count(Action.RATE) == 1


def test_a_locked_lookup_page_says_until_when_and_whom_to_call(api: Any) -> None:
    for _ in range(5):
        post_form(api, "/cases/lookup", {"tracking": "2222-3333-4444", "code": "0"})
    locked = post_form(api, "/cases/lookup", {"tracking": "2222-3333-4444", "code": "0"})
    page = locked.body.decode()
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "已暂时锁定" in page and "（北京时间）后可再查询" in page
    assert 'href="tel:12345"' in page


def resolve(api: Any, tracking: str) -> None:
    dispatcher = login(api, "dispatch-01", Role.DISPATCHER)
    handler = login(api, "urban-01", Role.HANDLER, "dept-urban")
    act(api, dispatcher, tracking, "assess", data={"priority": "general"})
    act(api, dispatcher, tracking, "dispatch", data={"unit": "dept-urban"})
    act(api, handler, tracking, "accept")
    assert act(api, handler, tracking, "resolve", public_note="已清运。").status_code == 200


def test_the_app_leaves_the_portals_loggers_to_the_process() -> None:
    code = (
        "import logging, sys; sys.path.insert(0, 'functions'); import app; "
        "assert logging.getLogger('gridportal').level == logging.NOTSET; "
        "assert logging.getLogger('gridportal.adapters.local_server').getEffectiveLevel()"
        " == logging.getLogger().level"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
