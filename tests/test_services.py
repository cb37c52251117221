"""Use cases on the in-memory store: filing, idempotent retries, lookup, votes, staff actions,
deadlines, merging and queues."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Clock
from gridportal.adapters.memory import MemoryStore
from gridportal.domain.calendar import WorkCalendar
from gridportal.domain.credentials import Keys, format_tracking, needs_rehash
from gridportal.domain.deadlines import BEIJING, MERGED_DEADLINE_NOTE, end_of_day
from gridportal.domain.lifecycle import CaseState, apply, counted_rating, decide, replay
from gridportal.domain.model import (
    OPEN_STATUSES,
    RESIDENT,
    Action,
    Actor,
    Channel,
    Complaint,
    Contact,
    Event,
    Outcome,
    Priority,
    Rating,
    Role,
    Source,
    Status,
)
from gridportal.domain.reference import District
from gridportal.ports import QUEUE_PAGE, CaseHistory, CaseRecord, Conflict, StaffMember
from gridportal.services import (
    LOGIN_LOCK_FAILURES,
    LOGIN_LOCK_WINDOW,
    LOOKUP_LOCK_WINDOW,
    MAX_DESCRIPTION,
    MAX_LOCATION,
    AccessDenied,
    ConflictError,
    InvalidInput,
    LookupLocked,
    MismatchedRetry,
    NotFound,
    Portal,
    PortalError,
    Receipt,
    Unauthenticated,
    can_see,
    may_see_contact,
)

GRID = "QB-LCJX-01"
OTHER_GRID = "QB-DAL-01"
UNIT = "dept-urban"
OTHER_UNIT = "city-police"
COMPLAINT = Complaint(
    category="env-litter",
    grid=GRID,
    location="柳翠井巷北口垃圾桶旁",
    description="垃圾桶满了三天没人清运,气味很大。",
    contact=Contact("王小明", "13812345678"),
)
DISPATCHER = Actor(Role.DISPATCHER, "dispatch-01")
SUPERVISOR = Actor(Role.SUPERVISOR, "super-01")
AUDITOR = Actor(Role.AUDITOR, "audit-01")
HANDLER = Actor(Role.HANDLER, "urban-01", UNIT)
OTHER_HANDLER = Actor(Role.HANDLER, "police-01", OTHER_UNIT)
GRID_WORKER = Actor(Role.GRID_WORKER, "grid-01", GRID)
PATROL = replace(COMPLAINT, channel=Channel.PATROL, contact=Contact())


def to_unit(portal: Portal, tracking: str, unit: str = UNIT) -> None:
    portal.act(tracking, Action.ASSESS, DISPATCHER, data={"priority": "general"})
    portal.act(tracking, Action.DISPATCH, DISPATCHER, data={"unit": unit})


def in_progress(portal: Portal, complaint: Complaint = COMPLAINT) -> Receipt:
    receipt = portal.file_complaint(complaint)
    to_unit(portal, receipt.tracking)
    portal.act(receipt.tracking, Action.ACCEPT, HANDLER)
    return receipt


def resolved(portal: Portal, clock: Clock) -> Receipt:
    receipt = in_progress(portal)
    clock.advance(days=1)
    portal.act(receipt.tracking, Action.RESOLVE, HANDLER, public_note="已清运并增加清运频次。")
    return receipt


def events_of(portal: Portal, tracking: str) -> list[Event]:
    return portal.store.get_events(tracking)


def store_of(portal: Portal) -> MemoryStore:
    assert isinstance(portal.store, MemoryStore)
    return portal.store


# ------------------------------------------------------------------ filing
def test_a_complaint_is_received_with_its_secrets(portal: Portal, clock: Clock) -> None:
    receipt = portal.file_complaint(COMPLAINT)
    assert len(receipt.tracking) == 12 and receipt.tracking.isdigit()
    assert len(receipt.lookup_code) == 8 and receipt.lookup_code.isdigit()
    assert receipt.vote_token
    state = receipt.view.state
    assert (state.status, state.category, state.grid) == (Status.RECEIVED, "env-litter", GRID)
    assert state.priority is Priority.GENERAL  # from the service list
    record = portal.store.get_case(receipt.tracking)
    assert record is not None
    assert record.file.source is Source.RESIDENT and record.file.filed_at == clock.now
    # Only hashes of the resident's secrets are stored.
    assert receipt.lookup_code not in (record.lookup_hash, record.vote_hash)
    assert [e.action for e in events_of(portal, receipt.tracking)] == [Action.RECEIVE]


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"category": "no-such"}, "unknown_category", "category"),
        ({"grid": "QB-NOWHERE-99"}, "unknown_grid", "grid"),
        ({"location": "   "}, "required", "location"),
        ({"description": ""}, "required", "description"),
        ({"location": "长" * (MAX_LOCATION + 1)}, "too_long", "location"),
        ({"description": "长" * (MAX_DESCRIPTION + 1)}, "too_long", "description"),
        ({"contact": Contact("名" * 51, "")}, "too_long", "phone"),
        ({"contact": Contact("", "1" * 31)}, "too_long", "phone"),
    ],
)
def test_invalid_complaints_are_refused_and_write_nothing(
    portal: Portal, change: dict[str, object], code: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        portal.file_complaint(replace(COMPLAINT, **change))  # type: ignore[arg-type]
    assert (caught.value.status, caught.value.code, caught.value.field) == (400, code, field)
    assert caught.value.message
    assert store_of(portal).cases == {}


def test_longest_allowed_texts_are_accepted(portal: Portal) -> None:
    longest = replace(COMPLAINT, location="长" * MAX_LOCATION, description="长" * MAX_DESCRIPTION)
    assert portal.file_complaint(longest).view.state.status is Status.RECEIVED


def test_a_grid_worker_reports_on_their_own_grid(portal: Portal) -> None:
    receipt = portal.file_complaint(PATROL, actor=GRID_WORKER)
    record = portal.store.get_case(receipt.tracking)
    assert record is not None
    assert record.file.source is Source.PATROL
    assert record.file.complaint.channel is Channel.PATROL
    assert record.file.filed_by == GRID_WORKER
    assert events_of(portal, receipt.tracking)[0].actor == GRID_WORKER


def test_a_grid_worker_cannot_report_on_another_grid(portal: Portal) -> None:
    with pytest.raises(AccessDenied):
        portal.file_complaint(replace(PATROL, grid=OTHER_GRID), actor=GRID_WORKER)
    assert store_of(portal).cases == {}


def test_a_grid_worker_reports_through_the_patrol_channel_only(portal: Portal) -> None:
    with pytest.raises(InvalidInput) as caught:
        portal.file_complaint(COMPLAINT, actor=GRID_WORKER)
    assert caught.value.code == "invalid_channel"


def test_only_grid_workers_patrol(portal: Portal) -> None:
    for actor in (DISPATCHER, RESIDENT):
        with pytest.raises(AccessDenied) as caught:
            portal.file_complaint(PATROL, actor=actor)
        assert (caught.value.status, caught.value.code) == (403, "forbidden")
    assert store_of(portal).cases == {}


def test_the_command_centre_files_hotline_calls(portal: Portal) -> None:
    receipt = portal.file_complaint(replace(COMPLAINT, channel=Channel.HOTLINE), actor=DISPATCHER)
    assert receipt.view.record.file.source is Source.RESIDENT
    assert events_of(portal, receipt.tracking)[0].actor == DISPATCHER


@pytest.mark.parametrize("actor", [HANDLER, SUPERVISOR, AUDITOR])
def test_roles_that_may_not_file_are_denied(portal: Portal, actor: Actor) -> None:
    with pytest.raises(AccessDenied):
        portal.file_complaint(replace(COMPLAINT, channel=Channel.HOTLINE), actor=actor)


# ------------------------------------------------------------ idempotency
def test_a_retry_with_the_same_key_and_body_returns_the_same_case(portal: Portal) -> None:
    first = portal.file_complaint(COMPLAINT, idempotency_key="key-1")
    again = portal.file_complaint(COMPLAINT, idempotency_key="key-1")
    assert (again.tracking, again.lookup_code, again.vote_token) == (
        first.tracking,
        first.lookup_code,
        first.vote_token,
    )
    assert len(store_of(portal).cases) == 1
    assert portal.lookup(again.tracking, again.lookup_code).state.status is Status.RECEIVED


def test_a_retry_after_the_case_moved_on_shows_where_it_is(portal: Portal) -> None:
    first = portal.file_complaint(COMPLAINT, idempotency_key="key-1")
    to_unit(portal, first.tracking)
    again = portal.file_complaint(COMPLAINT, idempotency_key="key-1")
    assert again.view.state.status is Status.DISPATCHED


def test_the_same_key_with_another_body_is_refused(portal: Portal) -> None:
    portal.file_complaint(COMPLAINT, idempotency_key="key-1")
    with pytest.raises(MismatchedRetry) as caught:
        portal.file_complaint(replace(COMPLAINT, description="另一件事"), idempotency_key="key-1")
    assert (caught.value.status, caught.value.code) == (422, "idempotency_mismatch")
    assert len(store_of(portal).cases) == 1


def test_another_key_files_another_case(portal: Portal) -> None:
    first = portal.file_complaint(COMPLAINT, idempotency_key="key-1")
    second = portal.file_complaint(COMPLAINT, idempotency_key="key-2")
    assert first.tracking != second.tracking
    assert first.lookup_code != second.lookup_code or first.vote_token != second.vote_token


# ----------------------------------------------------------------- lookup
def test_lookup_accepts_the_tracking_number_as_people_type_it(portal: Portal) -> None:
    receipt = portal.file_complaint(COMPLAINT)
    for typed in (receipt.tracking, format_tracking(receipt.tracking), " ".join(receipt.tracking)):
        assert portal.lookup(typed, receipt.lookup_code).record.tracking == receipt.tracking


def test_every_lookup_failure_looks_the_same(portal: Portal) -> None:
    receipt = portal.file_complaint(COMPLAINT)
    wrong_code = "0" * 8 if receipt.lookup_code != "0" * 8 else "1" * 8
    answers = []
    for tracking, code in ((receipt.tracking, wrong_code), ("111122223333", wrong_code), ("", "")):
        with pytest.raises(NotFound) as caught:
            portal.lookup(tracking, code)
        answers.append((caught.value.code, caught.value.message))
    assert len(set(answers)) == 1


def test_five_failures_lock_lookup_for_a_day(portal: Portal, clock: Clock) -> None:
    receipt = portal.file_complaint(COMPLAINT)
    wrong = "0" * 8 if receipt.lookup_code != "0" * 8 else "1" * 8
    first_failure = clock.now
    for _ in range(5):
        with pytest.raises(NotFound):
            portal.lookup(receipt.tracking, wrong)
        clock.advance(seconds=1)
    last_failure = clock.now - timedelta(seconds=1)
    with pytest.raises(LookupLocked):  # the right code no longer helps
        portal.lookup(receipt.tracking, receipt.lookup_code)
    clock.now = first_failure + timedelta(hours=24) - timedelta(seconds=10)
    with pytest.raises(LookupLocked):
        portal.lookup(receipt.tracking, receipt.lookup_code)
    clock.now = last_failure + timedelta(hours=24)
    assert portal.lookup(receipt.tracking, receipt.lookup_code).record.tracking == receipt.tracking


def test_a_locked_lookup_says_so_alike_for_unknown_numbers_and_knows_when_it_ends(
    portal: Portal, clock: Clock
) -> None:
    receipt = portal.file_complaint(COMPLAINT)
    wrong = "0" * 8 if receipt.lookup_code != "0" * 8 else "1" * 8
    first_failure = clock.now
    failures = []
    for _ in range(5):
        assert portal.lookup_locked_until(receipt.tracking) is None
        for tracking in (receipt.tracking, "111122223333"):
            with pytest.raises(NotFound) as failure:
                portal.lookup(tracking, wrong)
            failures.append(failure.value)
        clock.advance(minutes=1)
    answers = []
    for tracking, code in ((receipt.tracking, receipt.lookup_code), ("111122223333", wrong)):
        with pytest.raises(LookupLocked) as locked:
            portal.lookup(format_tracking(tracking), code)
        answers.append((locked.value.status, locked.value.code, locked.value.until))
    assert answers[0] == answers[1] == (429, "lookup_locked", first_failure + LOOKUP_LOCK_WINDOW)
    assert not any(isinstance(f, LookupLocked) for f in failures)
    assert portal.lookup_locked_until(format_tracking(receipt.tracking)) == locked.value.until


def test_four_failures_do_not_lock_and_old_failures_expire(portal: Portal, clock: Clock) -> None:
    receipt = portal.file_complaint(COMPLAINT)
    wrong = "0" * 8 if receipt.lookup_code != "0" * 8 else "1" * 8
    for _ in range(4):
        with pytest.raises(NotFound):
            portal.lookup(receipt.tracking, wrong)
    assert portal.lookup(receipt.tracking, receipt.lookup_code)
    clock.advance(hours=25)
    with pytest.raises(NotFound):
        portal.lookup(receipt.tracking, wrong)  # the fifth, but the others are a day old
    assert portal.lookup(receipt.tracking, receipt.lookup_code)


# ------------------------------------------------------------------- votes
def test_a_vote_waits_for_the_resolution(portal: Portal) -> None:
    receipt = in_progress(portal)
    with pytest.raises(ConflictError) as caught:
        portal.vote(receipt.tracking, receipt.vote_token, Rating.SATISFIED)
    assert (caught.value.status, caught.value.code) == (409, "not_resolved")
    assert portal.store.get_vote(receipt.tracking) is None


def test_a_resident_votes_once(portal: Portal, clock: Clock) -> None:
    receipt = resolved(portal, clock)
    clock.advance(hours=2)
    view = portal.vote(receipt.tracking, receipt.vote_token, Rating.BASICALLY_SATISFIED, " 还行 ")
    assert (view.state.status, view.state.rating) == (Status.RATED, Rating.BASICALLY_SATISFIED)
    assert view.events[-1].actor == RESIDENT and view.events[-1].at == clock.now
    vote = portal.store.get_vote(receipt.tracking)
    assert vote is not None and (vote.rating, vote.comment) == (Rating.BASICALLY_SATISFIED, "还行")
    with pytest.raises(ConflictError) as caught:
        portal.vote(receipt.tracking, receipt.vote_token, Rating.UNSATISFIED)
    assert caught.value.code == "already_voted"
    assert portal.store.get_vote(receipt.tracking) == vote


def test_a_retried_vote_gets_its_success_again_and_a_different_one_is_refused(
    portal: Portal, clock: Clock
) -> None:
    receipt = resolved(portal, clock)
    first = portal.vote(receipt.tracking, receipt.vote_token, Rating.SATISFIED, "及时")
    clock.advance(seconds=30)  # the answer was lost; the page sends the same vote again
    again = portal.vote(receipt.tracking, receipt.vote_token, Rating.SATISFIED, " 及时 ")
    assert again.vote == first.vote and again.state.rating is Rating.SATISFIED
    with pytest.raises(ConflictError) as caught:
        portal.vote(receipt.tracking, receipt.vote_token, Rating.SATISFIED, "另一条意见")
    assert caught.value.code == "already_voted"
    actions = [e.action for e in portal.store.get_events(receipt.tracking)]
    assert actions.count(Action.RATE) == 1


def test_a_vote_needs_the_right_token(portal: Portal, clock: Clock) -> None:
    receipt = resolved(portal, clock)
    for tracking, token in (
        (receipt.tracking, "wrong-token"),
        ("999988887777", receipt.vote_token),
    ):
        with pytest.raises(NotFound):
            portal.vote(tracking, token, Rating.SATISFIED)
    assert portal.store.get_vote(receipt.tracking) is None


def test_a_vote_comment_has_a_limit(portal: Portal, clock: Clock) -> None:
    receipt = resolved(portal, clock)
    with pytest.raises(InvalidInput) as caught:
        portal.vote(receipt.tracking, receipt.vote_token, Rating.SATISFIED, "长" * 2001)
    assert caught.value.code == "too_long"


def test_reopen_then_rate_again(portal: Portal, clock: Clock) -> None:
    receipt = resolved(portal, clock)
    portal.vote(receipt.tracking, receipt.vote_token, Rating.UNSATISFIED, "没有清理干净")
    view = portal.act(receipt.tracking, Action.REOPEN, DISPATCHER, public_note="群众不满意,重办。")
    assert (view.state.status, view.state.reopen_count) == (Status.ASSESSED, 1)
    with pytest.raises(ConflictError) as caught:  # the new round is not resolved yet
        portal.vote(receipt.tracking, receipt.vote_token, Rating.SATISFIED)
    assert caught.value.code == "not_resolved"
    portal.act(receipt.tracking, Action.DISPATCH, DISPATCHER, data={"unit": UNIT})
    portal.act(receipt.tracking, Action.ACCEPT, HANDLER)
    portal.act(receipt.tracking, Action.RESOLVE, HANDLER, public_note="已彻底清理。")
    clock.advance(hours=1)
    view = portal.vote(receipt.tracking, receipt.vote_token, Rating.SATISFIED, "这次干净了")
    assert (view.state.status, view.state.rating) == (Status.RATED, Rating.SATISFIED)
    events = portal.store.get_events(receipt.tracking)
    counted = counted_rating(events)
    assert counted is not None and (counted.round, counted.rating) == (2, Rating.SATISFIED)
    rates = [e for e in events if e.action is Action.RATE]
    assert [(e.data["rating"], e.private_note) for e in rates] == [
        ("unsatisfied", "没有清理干净"),  # every round stays in the history
        ("satisfied", "这次干净了"),
    ]
    vote = portal.store.get_vote(receipt.tracking)
    assert vote is not None and (vote.rating, vote.comment) == (Rating.SATISFIED, "这次干净了")
    # A retry of this round's vote gets its success; another vote in the round is refused.
    again = portal.vote(receipt.tracking, receipt.vote_token, Rating.SATISFIED, "这次干净了")
    assert again.state.rating is Rating.SATISFIED
    with pytest.raises(ConflictError) as caught:
        portal.vote(receipt.tracking, receipt.vote_token, Rating.UNSATISFIED)
    assert caught.value.code == "already_voted"
    assert [e.action for e in portal.store.get_events(receipt.tracking)].count(Action.RATE) == 2


# ----------------------------------------------------------- staff actions
def test_each_action_records_its_actor_and_time(portal: Portal, clock: Clock) -> None:
    receipt = portal.file_complaint(COMPLAINT)
    clock.advance(minutes=20)
    view = portal.act(receipt.tracking, Action.ASSESS, SUPERVISOR, data={"priority": "complex"})
    last = view.events[-1]
    assert (last.action, last.actor, last.at, last.seq) == (Action.ASSESS, SUPERVISOR, clock.now, 2)
    assert view.state.priority is Priority.COMPLEX
    assert events_of(portal, receipt.tracking) == list(view.events)


def test_a_clock_behind_the_last_step_does_not_break_the_order(
    portal: Portal, clock: Clock
) -> None:
    receipt = portal.file_complaint(COMPLAINT)
    clock.advance(seconds=-30)  # another Lambda's clock is a little behind
    view = portal.act(receipt.tracking, Action.ASSESS, DISPATCHER, data={"priority": "general"})
    assert view.events[-1].at == view.events[0].at


@pytest.mark.parametrize(
    ("actor", "action", "kwargs", "error", "code"),
    [
        (AUDITOR, Action.ACCEPT, {}, AccessDenied, "forbidden"),
        (GRID_WORKER, Action.RESOLVE, {"public_note": "好了"}, AccessDenied, "forbidden"),
        (OTHER_HANDLER, Action.RESOLVE, {"public_note": "好了"}, AccessDenied, "forbidden"),
        (HANDLER, Action.ACCEPT, {}, ConflictError, "illegal_transition"),
        (HANDLER, Action.RESOLVE, {}, InvalidInput, "note_required"),
        (HANDLER, Action.EXTEND, {"public_note": "x"}, InvalidInput, "missing_field"),
        (SUPERVISOR, Action.SUPERVISE, {"data": {"unit": "no-such"}}, InvalidInput, "unknown_unit"),
        (HANDLER, Action.RESOLVE, {"public_note": "长" * 2001}, InvalidInput, "too_long"),
    ],
)
def test_refused_actions_change_nothing(
    portal: Portal,
    actor: Actor,
    action: Action,
    kwargs: dict[str, object],
    error: type[PortalError],
    code: str,
) -> None:
    receipt = in_progress(portal)
    before = events_of(portal, receipt.tracking)
    record = portal.store.get_case(receipt.tracking)
    with pytest.raises(error) as caught:
        portal.act(receipt.tracking, action, actor, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert events_of(portal, receipt.tracking) == before
    assert portal.store.get_case(receipt.tracking) == record


def test_an_unknown_case_is_not_found(portal: Portal) -> None:
    with pytest.raises(NotFound):
        portal.act("111122223333", Action.ASSESS, DISPATCHER, data={"priority": "general"})


class FlakyStore(MemoryStore):
    """A store where someone else writes first, ``conflicts`` times in a row."""

    def __init__(self, conflicts: int) -> None:
        super().__init__()
        self.conflicts = conflicts
        self.appends = 0
        self.meanwhile: list[tuple[Event, CaseState]] = []  # what the other writer appends

    def append_event(self, record: CaseRecord, event: Event, state: CaseState) -> CaseRecord:
        self.appends += 1
        if self.conflicts > 0:
            self.conflicts -= 1
            if self.meanwhile:
                other, other_state = self.meanwhile.pop(0)
                super().append_event(record, other, other_state)
            raise Conflict(record.tracking)
        return super().append_event(record, event, state)


@pytest.fixture
def flaky(district: District, calendar: WorkCalendar, keys: Keys, clock: Clock) -> Portal:
    return Portal(store=FlakyStore(0), district=district, calendar=calendar, keys=keys, clock=clock)


def test_act_retries_after_a_conflict(flaky: Portal) -> None:
    receipt = flaky.file_complaint(COMPLAINT)
    store = flaky.store
    assert isinstance(store, FlakyStore)
    store.conflicts = 2
    view = flaky.act(receipt.tracking, Action.ASSESS, DISPATCHER, data={"priority": "general"})
    assert view.state.status is Status.ASSESSED
    assert store.appends == 3
    assert [e.action for e in events_of(flaky, receipt.tracking)] == [
        Action.RECEIVE,
        Action.ASSESS,
    ]


def test_act_gives_up_when_the_case_keeps_changing(flaky: Portal) -> None:
    receipt = flaky.file_complaint(COMPLAINT)
    store = flaky.store
    assert isinstance(store, FlakyStore)
    store.conflicts = 10
    with pytest.raises(ConflictError) as caught:
        flaky.act(receipt.tracking, Action.ASSESS, DISPATCHER, data={"priority": "general"})
    assert (caught.value.status, caught.value.code) == (409, "busy")
    assert len(events_of(flaky, receipt.tracking)) == 1


def test_a_retry_decides_again_on_the_fresh_case(flaky: Portal, clock: Clock) -> None:
    # Two handlers of the unit accept at once: the second sees the case already in progress.
    receipt = flaky.file_complaint(COMPLAINT)
    to_unit(flaky, receipt.tracking)
    store = flaky.store
    assert isinstance(store, FlakyStore)
    colleague = Actor(Role.HANDLER, "urban-02", UNIT)
    view = flaky.staff_view(receipt.tracking, colleague)
    theirs = Event(seq=view.state.last_seq + 1, at=clock.now, action=Action.ACCEPT, actor=colleague)
    store.meanwhile.append((theirs, apply(view.state, theirs)))
    store.conflicts = 1
    with pytest.raises(ConflictError) as caught:
        flaky.act(receipt.tracking, Action.ACCEPT, HANDLER)
    assert caught.value.code == "illegal_transition"
    accepts = [e for e in events_of(flaky, receipt.tracking) if e.action is Action.ACCEPT]
    assert [e.actor for e in accepts] == [colleague]


# --------------------------------------------------------------- deadlines
def test_deadlines_of_a_general_case(portal: Portal) -> None:
    receipt = portal.file_complaint(COMPLAINT)  # Monday 2026-11-16, 09:30 Beijing
    report, note = portal.deadlines_of(receipt.view.state)
    assert report is not None and note == ""
    assert report.contact_due == end_of_day(date(2026, 11, 17))
    assert report.due == report.original_due == end_of_day(date(2026, 11, 23))
    assert (report.met, report.contact_met, report.extended) == (None, None, False)


def test_deadlines_follow_contact_resolution_and_extension(portal: Portal, clock: Clock) -> None:
    receipt = in_progress(portal)
    portal.act(receipt.tracking, Action.CONTACT, HANDLER)
    view = portal.act(
        receipt.tracking,
        Action.EXTEND,
        HANDLER,
        public_note="需协调",
        data={"new_due": "2026-12-04"},
    )
    assert view.deadlines is not None
    assert view.deadlines.contact_met is True
    assert (view.deadlines.extended, view.deadlines.due) == (True, end_of_day(date(2026, 12, 4)))
    clock.now = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    view = portal.act(receipt.tracking, Action.RESOLVE, HANDLER, public_note="已清运。")
    assert view.deadlines is not None and view.deadlines.met is True


def test_an_open_case_past_its_deadline_is_overdue(portal: Portal, clock: Clock) -> None:
    receipt = in_progress(portal)
    clock.now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # Wednesday after the due Monday
    view = portal.staff_view(receipt.tracking, DISPATCHER)
    assert view.deadlines is not None
    assert (view.deadlines.met, view.deadlines.overdue_working_days) == (False, 2)


def test_urgent_deadlines_count_hours(portal: Portal) -> None:
    receipt = portal.file_complaint(replace(COMPLAINT, category="env-drain"))
    state = receipt.view.state
    assert state.priority is Priority.URGENT
    assert receipt.view.deadlines is not None
    assert receipt.view.deadlines.due == state.received_at + timedelta(hours=24)


def test_a_deadline_in_an_uncovered_year_is_pending_not_an_error(
    portal: Portal, clock: Clock
) -> None:
    # Monday 28 December 2026: five working days reach into 2027, which no calendar covers yet;
    # the contact deadline (Tuesday 29th) is inside 2026 and is published all the same.
    clock.now = datetime(2026, 12, 28, 2, 0, tzinfo=UTC)
    receipt = portal.file_complaint(COMPLAINT)
    report = receipt.view.deadlines
    assert report is not None and report.due is None and report.met is None
    assert report.contact_due is not None
    assert report.contact_due.astimezone(BEIJING).date() == date(2026, 12, 29)
    assert (
        receipt.view.deadline_note.startswith("办结时限待定")
        and "2027" in receipt.view.deadline_note
    )
    assert portal.deadlines_of(receipt.view.state) == (report, receipt.view.deadline_note)
    # Every later step still works and keeps the note.
    looked = portal.lookup(receipt.tracking, receipt.lookup_code)
    assert looked.deadlines == report and looked.deadline_note == receipt.view.deadline_note
    to_unit(portal, receipt.tracking)
    view = portal.act(receipt.tracking, Action.ACCEPT, HANDLER)
    assert view.deadlines is not None and view.deadlines.due is None and view.deadline_note
    assert [v.record.tracking for v in portal.queue(HANDLER)] == [receipt.tracking]


def test_an_urgent_case_in_late_december_still_has_deadlines(portal: Portal, clock: Clock) -> None:
    clock.now = datetime(2026, 12, 31, 14, 0, tzinfo=UTC)  # 22:00 New Year's Eve, Beijing
    receipt = portal.file_complaint(replace(COMPLAINT, category="safe-gas"))
    assert receipt.view.deadlines is not None and receipt.view.deadline_note == ""
    assert receipt.view.deadlines.due.astimezone(BEIJING).date() == date(2027, 1, 1)


def test_a_case_checked_in_an_uncovered_year_gets_a_note(portal: Portal, clock: Clock) -> None:
    receipt = in_progress(portal)
    clock.now = datetime(2027, 1, 6, 2, 0, tzinfo=UTC)
    view = portal.staff_view(receipt.tracking, DISPATCHER)
    # Due inside 2026 and still open in 2027: late for certain, by how much is pending.
    assert view.deadlines is not None and view.deadlines.met is False
    assert view.deadlines.overdue_working_days is None
    assert view.deadline_note.startswith("超期天数待定") and "2027" in view.deadline_note


def test_an_extension_before_the_original_due_date_is_refused(portal: Portal) -> None:
    receipt = in_progress(portal)  # due at the end of 2026-11-23
    before = events_of(portal, receipt.tracking)
    with pytest.raises(PortalError):
        portal.act(
            receipt.tracking,
            Action.EXTEND,
            HANDLER,
            public_note="需协调",
            data={"new_due": "2026-11-20"},
        )
    assert events_of(portal, receipt.tracking) == before
    assert portal.staff_view(receipt.tracking, DISPATCHER).deadlines is not None


# ------------------------------------------------------------------- merge
def test_a_duplicate_is_merged_into_an_existing_case(portal: Portal) -> None:
    original = portal.file_complaint(COMPLAINT)
    duplicate = portal.file_complaint(replace(COMPLAINT, description="同一处垃圾又有人反映。"))
    view = portal.act(
        duplicate.tracking, Action.MERGE, DISPATCHER, data={"into": original.tracking}
    )
    state = view.state
    assert (state.status, state.outcome) == (Status.MERGED, Outcome.MERGED)
    assert state.merged_into == original.tracking
    assert [v.record.tracking for v in portal.queue(DISPATCHER)] == [original.tracking]
    record = portal.store.get_case(duplicate.tracking)
    assert record is not None and record.status is Status.MERGED


def test_a_merged_duplicate_has_no_deadlines_of_its_own(portal: Portal, clock: Clock) -> None:
    # It is handled as the case it joined: weeks later it is neither late nor pending.
    original = portal.file_complaint(COMPLAINT)
    duplicate = portal.file_complaint(replace(COMPLAINT, description="同一处垃圾又有人反映。"))
    portal.act(duplicate.tracking, Action.MERGE, DISPATCHER, data={"into": original.tracking})
    clock.advance(days=40)
    view = portal.staff_view(duplicate.tracking, DISPATCHER)
    assert view.deadlines is None and view.deadline_note == MERGED_DEADLINE_NOTE
    assert portal.staff_view(original.tracking, DISPATCHER).deadlines is not None


@pytest.mark.parametrize("into", ["self", "111122223333", ""])
def test_a_merge_needs_another_existing_case(portal: Portal, into: str) -> None:
    receipt = portal.file_complaint(COMPLAINT)
    target = receipt.tracking if into == "self" else into
    with pytest.raises(InvalidInput) as caught:
        portal.act(receipt.tracking, Action.MERGE, DISPATCHER, data={"into": target})
    assert (caught.value.code, caught.value.field) == ("unknown_case", "into")
    assert len(events_of(portal, receipt.tracking)) == 1


def test_a_merge_target_typed_with_dashes_is_stored_as_the_tracking_number(
    portal: Portal,
) -> None:
    original = portal.file_complaint(COMPLAINT)
    duplicate = portal.file_complaint(replace(COMPLAINT, description="同一处垃圾又有人反映。"))
    into = format_tracking(original.tracking)
    view = portal.act(duplicate.tracking, Action.MERGE, DISPATCHER, data={"into": into})
    assert view.state.merged_into == original.tracking


# ------------------------------------------------------------------ queues
def test_queues_follow_the_case(portal: Portal, clock: Clock) -> None:
    first = portal.file_complaint(COMPLAINT)
    clock.advance(minutes=5)
    second = portal.file_complaint(replace(COMPLAINT, description="路灯不亮。"))

    def queue(actor: Actor) -> list[str]:
        return [v.record.tracking for v in portal.queue(actor)]

    assert queue(DISPATCHER) == queue(SUPERVISOR) == [first.tracking, second.tracking]
    assert queue(HANDLER) == []
    to_unit(portal, first.tracking)
    assert queue(DISPATCHER) == [second.tracking]
    assert queue(HANDLER) == [first.tracking]
    assert queue(OTHER_HANDLER) == []
    portal.act(first.tracking, Action.ACCEPT, HANDLER)
    assert queue(HANDLER) == [first.tracking]
    portal.act(first.tracking, Action.REPORT, DISPATCHER, public_note="涉及多个部门。")
    assert queue(HANDLER) == []  # awaiting a decision: back on the command centre's desk
    assert set(queue(SUPERVISOR)) == {first.tracking, second.tracking}
    portal.act(
        first.tracking,
        Action.DECIDE,
        SUPERVISOR,
        public_note="公安牵头。",
        data={"unit": OTHER_UNIT},
    )
    assert queue(OTHER_HANDLER) == [first.tracking]
    portal.act(first.tracking, Action.ACCEPT, OTHER_HANDLER)
    portal.act(first.tracking, Action.RESOLVE, OTHER_HANDLER, public_note="已处理。")
    assert queue(OTHER_HANDLER) == [] and queue(DISPATCHER) == [second.tracking]


def test_a_reopened_case_returns_to_the_command_centre(portal: Portal, clock: Clock) -> None:
    receipt = resolved(portal, clock)
    portal.vote(receipt.tracking, receipt.vote_token, Rating.UNSATISFIED)
    portal.act(receipt.tracking, Action.REOPEN, SUPERVISOR, public_note="群众不满意。")
    assert [v.record.tracking for v in portal.queue(DISPATCHER)] == [receipt.tracking]
    assert portal.queue(HANDLER).items == ()


@pytest.mark.parametrize("actor", [GRID_WORKER, RESIDENT, Actor(Role.HANDLER, "nobody")])
def test_only_desks_have_queues(portal: Portal, actor: Actor) -> None:
    with pytest.raises(AccessDenied):
        portal.queue(actor)


class NoReplayStore(MemoryStore):
    """A store that refuses to hand out histories: the queue must not need them."""

    def get_history(self, tracking: str) -> CaseHistory | None:
        raise AssertionError("the queue read a history")

    def get_events(self, tracking: str) -> list[Event]:
        raise AssertionError("the queue read events")


def test_the_queue_pages_through_the_desk(portal: Portal, clock: Clock) -> None:
    filed = []
    for _ in range(QUEUE_PAGE + 3):
        filed.append(portal.file_complaint(COMPLAINT).tracking)
        clock.advance(minutes=1)
    first = portal.queue(DISPATCHER)
    assert [i.record.tracking for i in first.items] == filed[:QUEUE_PAGE]
    assert first.after is not None
    second = portal.queue(DISPATCHER, after=first.after)
    assert [i.record.tracking for i in second.items] == filed[QUEUE_PAGE:]
    assert second.after is None


def test_a_queue_cursor_the_store_did_not_write_is_a_bad_request(portal: Portal) -> None:
    with pytest.raises(InvalidInput) as caught:
        portal.queue(DISPATCHER, after="not-a-cursor")
    assert (caught.value.status, caught.value.field) == (400, "after")


def test_queue_items_carry_the_replayed_deadlines_without_a_replay(
    district: District, calendar: WorkCalendar, keys: Keys, clock: Clock
) -> None:
    store = NoReplayStore()
    portal = Portal(store=store, district=district, calendar=calendar, keys=keys, clock=clock)

    def history(tracking: str) -> tuple[CaseRecord, CaseState]:
        found = MemoryStore.get_history(store, tracking)  # what only the test may read
        assert found is not None
        return found.record, replay(found.events)

    def act(tracking: str, action: Action, actor: Actor, note: str = "", **data: str) -> None:
        record, state = history(tracking)
        clock.advance(minutes=10)
        event = decide(state, action, actor, at=clock.now, public_note=note, data=data)
        store.append_event(record, event, apply(state, event))

    plain = portal.file_complaint(COMPLAINT).tracking  # stays with the command centre
    urgent = portal.file_complaint(replace(COMPLAINT, category="env-drain")).tracking
    contacted, extended = (portal.file_complaint(COMPLAINT).tracking for _ in range(2))
    for tracking in (urgent, contacted, extended):
        act(tracking, Action.ASSESS, DISPATCHER, priority=str(history(tracking)[1].priority))
        act(tracking, Action.DISPATCH, DISPATCHER, unit=UNIT)
        act(tracking, Action.ACCEPT, HANDLER)
    act(contacted, Action.CONTACT, HANDLER)
    act(extended, Action.EXTEND, HANDLER, "需协调物业。", new_due="2026-12-18")
    clock.now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # the plain ones overdue by now

    for actor, expected in ((DISPATCHER, [plain]), (HANDLER, [urgent, contacted, extended])):
        items = portal.queue(actor).items
        assert [i.record.tracking for i in items] == expected
        for item in items:
            replayed = portal.deadlines_of(history(item.record.tracking)[1])
            assert (item.deadlines, item.deadline_note) == replayed
            assert item.deadlines is not None
    overdue = [i.deadlines.met for i in portal.queue(HANDLER).items if i.deadlines]
    assert overdue == [False, False, None]  # the extension is not due yet


def test_a_closed_record_has_no_deadlines_from_its_snapshot(portal: Portal, clock: Clock) -> None:
    receipt = resolved(portal, clock)
    record = portal.store.get_case(receipt.tracking)
    assert record is not None
    with pytest.raises(ValueError):
        portal.open_deadlines_of(record)


# Steps a case may take, with who asks; refused ones are skipped. Enough of every route,
# extension, contact, return, report and reopening to move every snapshot field.
WALK_STEPS: tuple[tuple[Action, Actor, dict[str, str], str], ...] = (
    (Action.ASSESS, DISPATCHER, {"priority": "general"}, ""),
    (Action.ASSESS, DISPATCHER, {"priority": "urgent"}, ""),
    (Action.ASSESS, SUPERVISOR, {"priority": "complex"}, ""),
    (Action.ANSWER, DISPATCHER, {}, "已电话答复。"),
    (Action.DISPATCH, DISPATCHER, {"unit": UNIT}, ""),
    (Action.DISPATCH, DISPATCHER, {"unit": OTHER_UNIT}, ""),
    (Action.ACCEPT, HANDLER, {}, ""),
    (Action.ACCEPT, OTHER_HANDLER, {}, ""),
    (Action.RETURN, HANDLER, {}, "不属本部门。"),
    (Action.CONTACT, SUPERVISOR, {}, ""),
    (Action.EXTEND, SUPERVISOR, {"new_due": "+12"}, "需协调。"),
    (Action.EXTEND, SUPERVISOR, {"new_due": "+40"}, "再次延期。"),
    (Action.SUPERVISE, SUPERVISOR, {"unit": UNIT}, ""),
    (Action.REPORT, DISPATCHER, {}, "涉及多个部门。"),
    (Action.DECIDE, SUPERVISOR, {"unit": OTHER_UNIT}, "公安牵头。"),
    (Action.RESOLVE, SUPERVISOR, {}, "已处理。"),
    (Action.FOLLOW_UP, DISPATCHER, {"result": "failed"}, ""),
    (Action.REOPEN, SUPERVISOR, {}, "回访未通过。"),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    walk=st.lists(st.tuples(st.sampled_from(WALK_STEPS), st.integers(1, 5 * 24 * 60)), max_size=14),
    category=st.sampled_from(["env-litter", "env-drain", "safe-gas"]),
)
def test_a_queue_items_deadlines_are_the_replayed_ones_whatever_the_history(
    district: District,
    calendar: WorkCalendar,
    keys: Keys,
    walk: list[tuple[tuple[Action, Actor, dict[str, str], str], int]],
    category: str,
) -> None:
    clock = Clock(datetime(2026, 11, 16, 1, 30, tzinfo=UTC))
    portal = Portal(
        store=MemoryStore(), district=district, calendar=calendar, keys=keys, clock=clock
    )
    tracking = portal.file_complaint(replace(COMPLAINT, category=category)).tracking
    for (action, actor, data, note), minutes in walk:
        clock.advance(minutes=minutes)
        if "new_due" in data:
            days = int(data["new_due"])
            data = {"new_due": (clock.now.astimezone(BEIJING).date() + timedelta(days)).isoformat()}
        try:
            portal.act(tracking, action, actor, public_note=note, data=data)
        except PortalError:
            continue
        record = portal.store.get_case(tracking)
        assert record is not None
        clock.advance(minutes=minutes)  # judged later than the step, as a queue is read
        if record.status in OPEN_STATUSES:
            state = replay(portal.store.get_events(tracking))
            assert portal.open_deadlines_of(record) == portal.deadlines_of(state)


# ---------------------------------------------------- who sees what of a case
def test_handlers_see_their_units_cases_only(portal: Portal) -> None:
    receipt = in_progress(portal)
    assert portal.staff_view(receipt.tracking, HANDLER).record.tracking == receipt.tracking
    with pytest.raises(AccessDenied):
        portal.staff_view(receipt.tracking, OTHER_HANDLER)
    for actor in (DISPATCHER, SUPERVISOR, AUDITOR, GRID_WORKER):
        assert portal.staff_view(receipt.tracking, actor)
    with pytest.raises(AccessDenied):
        portal.staff_view(receipt.tracking, replace(GRID_WORKER, unit=OTHER_GRID))


def test_a_unit_that_returned_a_case_still_reads_it_but_loses_the_contact(portal: Portal) -> None:
    receipt = in_progress(portal)
    view = portal.act(receipt.tracking, Action.RETURN, HANDLER, public_note="非本部门职责。")
    assert can_see(HANDLER, view.state)
    assert not may_see_contact(HANDLER, view.state)


@pytest.mark.parametrize(
    ("actor", "sees"),
    [
        (DISPATCHER, True),
        (SUPERVISOR, True),
        (HANDLER, True),
        (OTHER_HANDLER, False),
        (AUDITOR, False),
        (GRID_WORKER, False),
        (RESIDENT, False),
    ],
)
def test_contact_data_goes_to_those_who_call_back(portal: Portal, actor: Actor, sees: bool) -> None:
    state = in_progress(portal).view.state
    assert may_see_contact(actor, replace(state, unit=UNIT)) is sees


# ------------------------------------------------------------ staff accounts
def test_staff_sign_in_and_sessions_expire(portal: Portal, clock: Clock) -> None:
    portal.add_staff("urban-01", "城管一号", Role.HANDLER, UNIT, "correct horse battery")
    token = portal.login("urban-01", "correct horse battery")
    assert portal.authenticate(token) == HANDLER
    with pytest.raises(Unauthenticated):
        portal.login("urban-01", "wrong")
    with pytest.raises(Unauthenticated):
        portal.login("nobody", "correct horse battery")
    with pytest.raises(Unauthenticated):
        portal.authenticate(token[:-2] + "00")
    clock.advance(hours=13)
    with pytest.raises(Unauthenticated):
        portal.authenticate(token)


def test_a_disabled_account_stops_at_once(portal: Portal) -> None:
    member = portal.add_staff("d-1", "派单员", Role.DISPATCHER, None, "correct horse battery")
    token = portal.login("d-1", "correct horse battery")
    portal.store.put_staff(replace(member, active=False))
    with pytest.raises(Unauthenticated):
        portal.authenticate(token)
    with pytest.raises(Unauthenticated):
        portal.login("d-1", "correct horse battery")


@pytest.mark.parametrize(
    ("role", "unit", "code"),
    [
        (Role.RESIDENT, None, "invalid_role"),
        (Role.SYSTEM, None, "invalid_role"),
        (Role.HANDLER, None, "unknown_unit"),
        (Role.HANDLER, "no-such", "unknown_unit"),
        (Role.GRID_WORKER, UNIT, "unknown_grid"),
    ],
)
def test_staff_accounts_need_a_real_role_and_unit(
    portal: Portal, role: Role, unit: str | None, code: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        portal.add_staff("x", "x", role, unit, "pw")
    assert caught.value.code == code
    assert portal.store.get_staff("x") is None


def test_staff_passwords_are_stored_hashed(portal: Portal) -> None:
    member = portal.add_staff("s-1", "督查员", Role.SUPERVISOR, None, "correct horse battery")
    stored = portal.store.get_staff("s-1")
    assert isinstance(stored, StaffMember) and stored == member
    assert stored.password_hash.startswith("$argon2id$")
    assert "correct horse battery" not in stored.password_hash


@pytest.fixture(params=["memory", "dynamo"])
def any_portal(request: pytest.FixtureRequest, portal: Portal) -> Portal:
    """The portal on the in-memory store and on DynamoDB (moto): sign-in locks need both."""
    if request.param == "memory":
        return portal
    from gridportal.adapters.dynamo import DynamoStore

    portal.store = DynamoStore(request.getfixturevalue("dynamodb"), sleep=lambda _: None)
    return portal


def refused_login(portal: Portal, username: str, password: str) -> tuple[str, str]:
    with pytest.raises(Unauthenticated) as refused:
        portal.login(username, password)
    return refused.value.code, refused.value.message


def test_failed_logins_lock_the_username_with_the_answer_of_a_wrong_password(
    any_portal: Portal, clock: Clock
) -> None:
    portal = any_portal
    portal.add_staff("urban-01", "城管一号", Role.HANDLER, UNIT, "correct horse battery")
    first_failure = clock.now
    wrong = {refused_login(portal, "urban-01", "guess") for _ in range(LOGIN_LOCK_FAILURES)}
    assert len(wrong) == 1
    locked = refused_login(portal, "urban-01", "correct horse battery")
    assert locked in wrong  # a lock tells nothing a wrong password does not
    clock.now = first_failure + LOGIN_LOCK_WINDOW - timedelta(seconds=1)
    assert refused_login(portal, "urban-01", "correct horse battery") in wrong
    clock.now = first_failure + LOGIN_LOCK_WINDOW
    assert portal.authenticate(portal.login("urban-01", "correct horse battery")) == HANDLER


def test_a_right_password_gives_its_attempt_back(any_portal: Portal) -> None:
    portal = any_portal
    portal.add_staff("urban-01", "城管一号", Role.HANDLER, UNIT, "correct horse battery")
    for _ in range(LOGIN_LOCK_FAILURES - 1):
        refused_login(portal, "urban-01", "guess")
    for _ in range(LOGIN_LOCK_FAILURES + 2):  # signing in again and again never locks
        assert portal.login("urban-01", "correct horse battery")
    refused_login(portal, "urban-01", "guess")  # the tenth failure
    refused_login(portal, "urban-01", "correct horse battery")


def test_unknown_usernames_lock_like_known_ones(any_portal: Portal, clock: Clock) -> None:
    portal = any_portal
    answers = {refused_login(portal, "nobody", "guess") for _ in range(LOGIN_LOCK_FAILURES)}
    key = "login:nobody"
    now = clock.now
    assert portal.store.attempts_locked_until(key, now, LOGIN_LOCK_WINDOW, LOGIN_LOCK_FAILURES)
    assert refused_login(portal, "nobody", "guess") in answers
    # Another username is not touched by it.
    portal.add_staff("urban-01", "城管一号", Role.HANDLER, UNIT, "correct horse battery")
    assert portal.login("urban-01", "correct horse battery")


def test_a_login_upgrades_an_old_hash_and_a_failed_one_does_not(any_portal: Portal) -> None:
    from argon2 import PasswordHasher

    portal = any_portal
    member = portal.add_staff("urban-01", "城管一号", Role.HANDLER, UNIT, "correct horse battery")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024).hash("correct horse battery")
    salt = bytes(range(16))  # as stores wrote passwords before Argon2: scrypt n=2**14, r=8, p=1
    derived = hashlib.scrypt(b"correct horse battery", salt=salt, n=2**14, r=8, p=1, dklen=32)
    for old in (weak, f"scrypt${salt.hex()}${derived.hex()}"):
        portal.store.put_staff(replace(member, password_hash=old))
        refused_login(portal, "urban-01", "guess")
        assert portal.store.get_staff("urban-01") == replace(member, password_hash=old)
        assert portal.login("urban-01", "correct horse battery")
        upgraded = portal.store.get_staff("urban-01")
        assert upgraded is not None and upgraded.password_hash != old
        assert upgraded == replace(member, password_hash=upgraded.password_hash)
        assert not needs_rehash(upgraded.password_hash)
        assert portal.login("urban-01", "correct horse battery")
        assert portal.store.get_staff("urban-01") == upgraded  # rehashed once, not every time
