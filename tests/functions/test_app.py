"""The API through Chalice's test client, on moto's DynamoDB."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from api_helpers import COMPLAINT, act, login, post
from gridportal.domain.deadlines import BEIJING
from gridportal.domain.model import Role
from gridportal.ports import QUEUE_PAGE


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
        assert timedelta(hours=23) < until - datetime.now(UTC) <= timedelta(hours=24)
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
