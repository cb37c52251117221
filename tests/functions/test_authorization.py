"""Staff authorization through the API on moto: who may read and move which case.

Cases are prepared by the same use cases on an in-memory store and written to
DynamoDB in one batch, so that each test spends its requests on the question asked.
Sessions are minted with the server's key exactly as the login route mints them;
one test signs every role in through the route itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from api_helpers import COMPLAINT, act, post
from gridportal.adapters.memory import MemoryStore
from gridportal.domain import credentials
from gridportal.domain.deadlines import BEIJING
from gridportal.domain.model import (
    Action,
    Actor,
    Channel,
    Complaint,
    Contact,
    Rating,
    Role,
    Status,
)
from gridportal.ports import StaffMember
from gridportal.runtime import Runtime, runtime
from gridportal.services import Portal

GRID = COMPLAINT["grid"]
OTHER_GRID = "QB-DAL-01"
UNIT = "dept-urban"
OTHER_UNIT = "city-police"
PASSWORD = "correct horse battery"
PASSWORD_HASH = credentials.hash_password(PASSWORD)  # Argon2 is slow on purpose: hash once

# The staff the tests sign in, one per role, by username.
STAFF: Mapping[Role, tuple[str, str | None]] = {
    Role.DISPATCHER: ("dispatch-01", None),
    Role.SUPERVISOR: ("super-01", None),
    Role.HANDLER: ("urban-01", UNIT),
    Role.GRID_WORKER: ("grid-01", GRID),
    Role.AUDITOR: ("audit-01", None),
}
# Actions each role may take on a case in the right status (handlers: their unit's cases).
MAY: Mapping[Role, frozenset[Action]] = {
    Role.DISPATCHER: frozenset(
        {
            Action.ASSESS,
            Action.ANSWER,
            Action.DISPATCH,
            Action.CONTACT,
            Action.REPORT,
            Action.REFUSE,
            Action.FOLLOW_UP,
            Action.REOPEN,
            Action.MERGE,
            Action.ARCHIVE,
        }
    ),
    Role.SUPERVISOR: frozenset(
        {
            Action.ASSESS,
            Action.DISPATCH,
            Action.CONTACT,
            Action.EXTEND,
            Action.SUPERVISE,
            Action.REPORT,
            Action.DECIDE,
            Action.RESOLVE,
            Action.FOLLOW_UP,
            Action.REOPEN,
        }
    ),
    Role.HANDLER: frozenset(
        {Action.ACCEPT, Action.RETURN, Action.CONTACT, Action.EXTEND, Action.RESOLVE, Action.REFUSE}
    ),
    Role.GRID_WORKER: frozenset(),
    Role.AUDITOR: frozenset(),
}
# Every action the staff API accepts (receipt and rating are not staff actions).
STAFF_ACTIONS = tuple(a for a in Action if a not in (Action.RECEIVE, Action.RATE))
# The status a case is in when each action is tried.
PROBE: Mapping[Action, Status] = {
    Action.ASSESS: Status.RECEIVED,
    Action.ANSWER: Status.RECEIVED,
    Action.MERGE: Status.RECEIVED,
    Action.DISPATCH: Status.ASSESSED,
    Action.ACCEPT: Status.DISPATCHED,
    Action.RETURN: Status.IN_PROGRESS,
    Action.CONTACT: Status.IN_PROGRESS,
    Action.EXTEND: Status.IN_PROGRESS,
    Action.SUPERVISE: Status.IN_PROGRESS,
    Action.REPORT: Status.IN_PROGRESS,
    Action.RESOLVE: Status.IN_PROGRESS,
    Action.REFUSE: Status.IN_PROGRESS,
    Action.DECIDE: Status.AWAITING_DECISION,
    Action.FOLLOW_UP: Status.RESOLVED,
    Action.REOPEN: Status.RATED,
    Action.ARCHIVE: Status.RATED,
}
DISPATCHER = Actor(Role.DISPATCHER, "seed-dispatcher")
HANDLER = Actor(Role.HANDLER, "seed-handler", UNIT)
STEPS: Mapping[Status, tuple[tuple[Action, Actor, str, dict[str, str]], ...]] = {
    Status.RECEIVED: (),
    Status.ASSESSED: ((Action.ASSESS, DISPATCHER, "", {"priority": "general"}),),
    Status.DISPATCHED: (
        (Action.ASSESS, DISPATCHER, "", {"priority": "general"}),
        (Action.DISPATCH, DISPATCHER, "", {"unit": UNIT}),
    ),
    Status.IN_PROGRESS: (
        (Action.ASSESS, DISPATCHER, "", {"priority": "general"}),
        (Action.DISPATCH, DISPATCHER, "", {"unit": UNIT}),
        (Action.ACCEPT, HANDLER, "", {}),
    ),
    Status.AWAITING_DECISION: (
        (Action.ASSESS, DISPATCHER, "", {"priority": "complex"}),
        (Action.REPORT, DISPATCHER, "涉及多个部门,报请批办。", {}),
    ),
    Status.RESOLVED: (
        (Action.ASSESS, DISPATCHER, "", {"priority": "general"}),
        (Action.DISPATCH, DISPATCHER, "", {"unit": UNIT}),
        (Action.ACCEPT, HANDLER, "", {}),
        (Action.RESOLVE, HANDLER, "已清运。", {}),
    ),
}
PRIVATE = Complaint(
    category=COMPLAINT["category"],
    grid=GRID,
    location=COMPLAINT["location"],
    description=COMPLAINT["description"],
    contact=Contact(COMPLAINT["name"], COMPLAINT["phone"]),
)
MASKED = {"name": "王**", "phone": "138****5678"}


def body_for(action: Action, merge_into: str) -> dict[str, Any]:
    """A request that satisfies the action's own rules, so only authorization can refuse it."""
    far = (datetime.now(BEIJING) + timedelta(days=60)).date().isoformat()  # past any due date
    note = "公开说明。"
    data: dict[str, str] = {
        Action.ASSESS: {"priority": "general"},
        Action.DISPATCH: {"unit": UNIT},
        Action.SUPERVISE: {"unit": UNIT},
        Action.DECIDE: {"unit": UNIT},
        Action.EXTEND: {"new_due": far},
        Action.FOLLOW_UP: {"result": "failed"},
        Action.MERGE: {"into": merge_into},
    }.get(action, {})
    return {"public_note": note, "data": data}


class Desk:
    """Staff sessions and prepared cases for one test."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.rt: Runtime = runtime()
        portal = self.rt.portal
        self.scratch = Portal(  # the API portal's district, calendar and keys, in memory
            store=MemoryStore(),
            district=portal.district,
            calendar=portal.calendar,
            keys=portal.keys,
        )

    def sign_in(self, role: Role, username: str | None = None, unit: str | None = None) -> Any:
        name, default_unit = STAFF[role]
        username = username or name
        member = StaffMember(username, username, role, unit or default_unit, PASSWORD_HASH)
        self.rt.store.put_staff(member)
        token = self.rt.portal.keys.sign_session(username, time.time())
        return {"Authorization": f"Bearer {token}"}

    def case_at(self, status: Status, complaint: Complaint = PRIVATE) -> str:
        """A case in ``status``, moved there by the use cases and stored in one batch."""
        receipt = self.scratch.file_complaint(complaint)
        tracking = receipt.tracking
        steps = STEPS[Status.RESOLVED if status is Status.RATED else status]
        for action, actor, note, data in steps:
            self.scratch.act(tracking, action, actor, public_note=note, data=data)
        if status is Status.RATED:
            self.scratch.vote(tracking, receipt.vote_token, Rating.UNSATISFIED)
        record = self.scratch.store.get_case(tracking)
        assert record is not None and record.status is status
        self.rt.store.put_history(
            record, self.scratch.store.get_events(tracking), self.scratch.store.get_vote(tracking)
        )
        return tracking

    def events(self, tracking: str) -> list[Any]:
        return self.rt.store.get_events(tracking)

    def get(self, path: str, auth: Mapping[str, str] | None = None) -> Any:
        return self.api.http.get(path, headers=dict(auth or {}))


@pytest.fixture
def desk(api: Any) -> Iterator[Desk]:
    yield Desk(api)


def forbidden(answer: Any) -> bool:
    return answer.status_code == 403 and answer.json_body["error"]["code"] == "forbidden"


# ------------------------------------------------------------ roles × actions
@pytest.mark.parametrize("role", list(STAFF), ids=str)
def test_each_role_may_take_its_actions_and_no_others(desk: Desk, role: Role) -> None:
    auth = desk.sign_in(role)
    username, unit = STAFF[role]
    target = desk.case_at(Status.RECEIVED)  # what merges point at
    shared: dict[Status, str] = {}  # refused attempts change nothing, so they share cases
    for action in STAFF_ACTIONS:
        status = PROBE[action]
        if action in MAY[role]:
            tracking = desk.case_at(status)
            answer = act(desk.api, auth, tracking, str(action), **body_for(action, target))
            assert answer.status_code == 200, (action, answer.json_body)
            last = answer.json_body["events"][-1]
            assert (last["action"], last["actor"], last["role"], last["unit"]) == (
                str(action),
                username,
                str(role),
                unit,
            )
            assert len(desk.events(tracking)) == len(answer.json_body["events"])
            continue
        tracking = shared.setdefault(status, desk.case_at(status))
        before = desk.events(tracking)
        answer = act(desk.api, auth, tracking, str(action), **body_for(action, target))
        assert forbidden(answer), (action, answer.status_code, answer.json_body)
        assert desk.events(tracking) == before
        assert desk.rt.store.get_case(tracking) is not None


def test_a_handler_cannot_move_another_units_case(desk: Desk) -> None:
    police = desk.sign_in(Role.HANDLER, "police-01", OTHER_UNIT)
    tracking = desk.case_at(Status.IN_PROGRESS)
    before = desk.events(tracking)
    for action in MAY[Role.HANDLER]:
        answer = act(desk.api, police, tracking, str(action), **body_for(action, ""))
        assert forbidden(answer), action
    assert desk.events(tracking) == before


def test_staff_cannot_rate_for_a_resident(desk: Desk) -> None:
    auth = desk.sign_in(Role.DISPATCHER)
    tracking = desk.case_at(Status.RESOLVED)
    answer = act(desk.api, auth, tracking, "rate", data={})
    assert answer.status_code == 400 and answer.json_body["error"]["field"] == "action"
    assert desk.events(tracking)[-1].action is Action.RESOLVE


# ----------------------------------------------------------- authentication
def test_every_role_signs_in_through_the_login_route(desk: Desk) -> None:
    for role, (username, unit) in STAFF.items():
        desk.rt.store.put_staff(StaffMember(username, username, role, unit, PASSWORD_HASH))
        answer = post(desk.api, "/staff/login", {"username": username, "password": PASSWORD})
        assert answer.status_code == 200, role
        auth = {"Authorization": f"Bearer {answer.json_body['token']}"}
        queue = desk.get("/staff/queue", auth)
        assert queue.status_code == (403 if role is Role.GRID_WORKER else 200), role
    wrong = post(desk.api, "/staff/login", {"username": "dispatch-01", "password": "guess"})
    assert wrong.status_code == 401
    assert wrong.json_body["error"]["code"] == "bad_credentials"


def _bad_headers(desk: Desk) -> dict[str, dict[str, str]]:
    good = desk.sign_in(Role.DISPATCHER)["Authorization"]
    token = good.removeprefix("Bearer ")
    expired = desk.rt.portal.keys.sign_session("dispatch-01", time.time() - 13 * 3600)
    stranger = credentials.Keys(b"another server's secret").sign_session("dispatch-01")
    disabled = desk.sign_in(Role.SUPERVISOR, "gone-01")["Authorization"]
    member = desk.rt.store.get_staff("gone-01")
    assert member is not None
    desk.rt.store.put_staff(replace(member, active=False))
    return {
        "none": {},
        "empty": {"Authorization": ""},
        "basic": {"Authorization": f"Basic {token}"},
        "bare": {"Authorization": token},
        "tampered": {"Authorization": f"Bearer {token[:-4]}beef"},
        "expired": {"Authorization": f"Bearer {expired}"},
        "other key": {"Authorization": f"Bearer {stranger}"},
        "disabled": {"Authorization": disabled},
    }


def test_staff_routes_need_a_valid_session(desk: Desk) -> None:
    tracking = desk.case_at(Status.RECEIVED)
    before = desk.events(tracking)
    patrol = {k: v for k, v in COMPLAINT.items() if k not in ("name", "phone")}
    for name, auth in _bad_headers(desk).items():
        answers = [
            desk.get("/staff/queue", auth),
            desk.get(f"/staff/cases/{tracking}", auth),
            act(desk.api, auth, tracking, "assess", data={"priority": "general"}),
            post(desk.api, "/staff/patrol-reports", patrol, auth),
        ]
        for answer in answers:
            assert answer.status_code == 401, name
            assert answer.json_body["error"]["code"] == "unauthenticated"
    assert desk.events(tracking) == before
    # The queue index holds no personal data: compare what it does hold.
    assert [r.tracking for r in desk.rt.store.unit_queue("command-centre")] == [tracking]


# ---------------------------------------------------------------- reading
def test_handlers_read_only_their_units_cases(desk: Desk) -> None:
    urban = desk.sign_in(Role.HANDLER)
    police = desk.sign_in(Role.HANDLER, "police-01", OTHER_UNIT)
    ours = desk.case_at(Status.IN_PROGRESS)
    waiting = desk.case_at(Status.RECEIVED)
    assert desk.get(f"/staff/cases/{ours}", urban).status_code == 200
    assert forbidden(desk.get(f"/staff/cases/{ours}", police))
    assert forbidden(desk.get(f"/staff/cases/{waiting}", urban))  # no unit holds it yet
    queue = desk.get("/staff/queue", urban).json_body["cases"]
    assert [c["tracking"].replace("-", "") for c in queue] == [ours]
    assert desk.get("/staff/queue", police).json_body["cases"] == []


def test_grid_workers_read_only_their_grids_cases(desk: Desk) -> None:
    worker = desk.sign_in(Role.GRID_WORKER)
    ours = desk.case_at(Status.RECEIVED)
    theirs = desk.case_at(Status.RECEIVED, replace(PRIVATE, grid=OTHER_GRID))
    assert desk.get(f"/staff/cases/{ours}", worker).status_code == 200
    assert forbidden(desk.get(f"/staff/cases/{theirs}", worker))
    assert forbidden(desk.get("/staff/queue", worker))


# Who must call the complainant back sees their contact data; everyone else sees it masked.
SEES_CONTACT = {Role.DISPATCHER, Role.SUPERVISOR, Role.HANDLER}


def test_contact_data_only_for_those_who_call_back(desk: Desk) -> None:
    tracking = desk.case_at(Status.IN_PROGRESS)  # held by the handler's unit
    full = {"name": COMPLAINT["name"], "phone": COMPLAINT["phone"]}
    for role in STAFF:
        answer = desk.get(f"/staff/cases/{tracking}", desk.sign_in(role))
        assert answer.status_code == 200, role
        sees = role in SEES_CONTACT
        assert answer.json_body["contact"] == (full if sees else MASKED), role
        assert (COMPLAINT["phone"] in answer.body.decode()) is sees, role


def test_a_handler_whose_unit_returned_the_case_sees_it_masked(desk: Desk) -> None:
    urban = desk.sign_in(Role.HANDLER)
    tracking = desk.case_at(Status.IN_PROGRESS)
    returned = act(desk.api, urban, tracking, "return", public_note="非本部门职责。")
    assert returned.status_code == 200
    assert returned.json_body["contact"] == MASKED


def test_an_auditor_reads_everything(desk: Desk) -> None:
    auditor = desk.sign_in(Role.AUDITOR)
    waiting = desk.case_at(Status.RECEIVED)
    assigned = desk.case_at(Status.IN_PROGRESS)
    queue = desk.get("/staff/queue", auditor)
    assert queue.status_code == 200
    assert [c["tracking"].replace("-", "") for c in queue.json_body["cases"]] == [waiting]
    for tracking in (waiting, assigned):
        seen = desk.get(f"/staff/cases/{tracking}", auditor)
        assert seen.status_code == 200 and seen.json_body["events"]


# ----------------------------------------------------------- patrol reports
def test_a_grid_worker_reports_on_their_own_grid(desk: Desk) -> None:
    worker = desk.sign_in(Role.GRID_WORKER)
    report = {k: v for k, v in COMPLAINT.items() if k not in ("name", "phone")}
    answer = post(desk.api, "/staff/patrol-reports", report, worker)
    assert answer.status_code == 201, answer.json_body
    case = answer.json_body
    assert (case["channel"], case["status"], case["grid"]) == ("patrol", "received", GRID)
    first = case["events"][0]
    assert (first["action"], first["actor"], first["role"]) == ("receive", "grid-01", "grid_worker")
    tracking = case["tracking"].replace("-", "")
    record = desk.rt.store.get_case(tracking)
    assert record is not None and record.file.complaint.channel is Channel.PATROL


def test_a_grid_worker_cannot_report_on_another_grid(desk: Desk) -> None:
    worker = desk.sign_in(Role.GRID_WORKER)
    report = {k: v for k, v in COMPLAINT.items() if k not in ("name", "phone")}
    answer = post(desk.api, "/staff/patrol-reports", {**report, "grid": OTHER_GRID}, worker)
    assert forbidden(answer)
    assert desk.rt.store.unit_queue("command-centre") == []


def test_only_grid_workers_may_file_patrol_reports(desk: Desk) -> None:
    report = {k: v for k, v in COMPLAINT.items() if k not in ("name", "phone")}
    for role in (Role.AUDITOR, Role.HANDLER, Role.SUPERVISOR, Role.DISPATCHER):
        answer = post(desk.api, "/staff/patrol-reports", report, desk.sign_in(role))
        assert forbidden(answer), (role, answer.json_body)
    assert desk.rt.store.unit_queue("command-centre") == []


# ----------------------------------------------------------- the record
def test_every_step_records_who_took_it(desk: Desk) -> None:
    dispatcher = desk.sign_in(Role.DISPATCHER)
    supervisor = desk.sign_in(Role.SUPERVISOR)
    urban = desk.sign_in(Role.HANDLER)
    police = desk.sign_in(Role.HANDLER, "police-01", OTHER_UNIT)
    tracking = desk.case_at(Status.RECEIVED)
    steps: list[tuple[dict[str, str], str, dict[str, Any]]] = [
        (dispatcher, "assess", {"data": {"priority": "general"}}),
        (dispatcher, "dispatch", {"data": {"unit": UNIT}}),
        (urban, "accept", {}),
        (urban, "contact", {"private_note": "已电话联系。"}),
        (supervisor, "supervise", {"data": {"unit": OTHER_UNIT}}),
        (police, "resolve", {"public_note": "已现场处置。"}),
        (supervisor, "follow_up", {"data": {"result": "failed"}}),
        (dispatcher, "reopen", {"public_note": "回访未通过,重办。"}),
        (dispatcher, "answer", {"public_note": "已答复政策。"}),
        (dispatcher, "archive", {}),
    ]
    for auth, action, body in steps:
        answer = act(desk.api, auth, tracking, action, **body)
        assert answer.status_code == 200, (action, answer.json_body)
    seen = desk.get(f"/staff/cases/{tracking}", desk.sign_in(Role.AUDITOR)).json_body
    assert seen["status"] == "archived"
    recorded = [(e["action"], e["actor"], e["role"], e["unit"]) for e in seen["events"][1:]]
    names = {
        dispatcher["Authorization"]: ("dispatch-01", "dispatcher", None),
        supervisor["Authorization"]: ("super-01", "supervisor", None),
        urban["Authorization"]: ("urban-01", "handler", UNIT),
        police["Authorization"]: ("police-01", "handler", OTHER_UNIT),
    }
    assert recorded == [(action, *names[auth["Authorization"]]) for auth, action, _ in steps]
    assert [e.actor.id for e in desk.events(tracking)][1:] == [r[1] for r in recorded]
