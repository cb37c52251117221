"""The case lifecycle (受理 → 研判 → 处置 → 办结 → 回访评价 → 归档), pinned down.

The expected transitions and roles below are written out by hand from the design,
not derived from ``RULES``: a change to the rules must break a test here and be
made on purpose in both places (and in docs/lifecycle.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from random import Random
from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from gridportal.domain.deadlines import BEIJING
from gridportal.domain.lifecycle import (
    RULES,
    CaseState,
    Forbidden,
    RoundRating,
    TransitionRefused,
    apply,
    counted_rating,
    decide,
    receive,
    replay,
)
from gridportal.domain.model import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    RESIDENT,
    SYSTEM,
    Action,
    Actor,
    Event,
    Outcome,
    Priority,
    Rating,
    Role,
    Route,
    Status,
)

T0 = datetime(2026, 11, 16, 1, 30, tzinfo=UTC)  # Monday 09:30 Beijing time
UNIT = "dept-urban"
OTHER_UNIT = "city-police"
GRID = "QB-LCJX-01"
MERGE_TARGET = "123456789012"

DISPATCHER = Actor(Role.DISPATCHER, "dispatch-01")
SUPERVISOR = Actor(Role.SUPERVISOR, "super-01")
HANDLER = Actor(Role.HANDLER, "urban-01", UNIT)
OTHER_HANDLER = Actor(Role.HANDLER, "police-01", OTHER_UNIT)
GRID_WORKER = Actor(Role.GRID_WORKER, "grid-01", GRID)
AUDITOR = Actor(Role.AUDITOR, "audit-01")
EVERYONE = (DISPATCHER, SUPERVISOR, HANDLER, GRID_WORKER, AUDITOR, RESIDENT, SYSTEM)

S, A, R = Status, Action, Role

# (action, from status) -> status after it. Every pair not listed must be refused.
ALLOWED: Mapping[tuple[Action, Status], Status] = {
    (A.ASSESS, S.RECEIVED): S.ASSESSED,
    (A.ANSWER, S.RECEIVED): S.RESOLVED,
    (A.ANSWER, S.ASSESSED): S.RESOLVED,
    (A.DISPATCH, S.ASSESSED): S.DISPATCHED,
    (A.ACCEPT, S.DISPATCHED): S.IN_PROGRESS,
    (A.RETURN, S.DISPATCHED): S.ASSESSED,
    (A.RETURN, S.IN_PROGRESS): S.ASSESSED,
    (A.CONTACT, S.ASSESSED): S.ASSESSED,
    (A.CONTACT, S.DISPATCHED): S.DISPATCHED,
    (A.CONTACT, S.IN_PROGRESS): S.IN_PROGRESS,
    (A.CONTACT, S.AWAITING_DECISION): S.AWAITING_DECISION,
    (A.EXTEND, S.DISPATCHED): S.DISPATCHED,
    (A.EXTEND, S.IN_PROGRESS): S.IN_PROGRESS,
    (A.SUPERVISE, S.ASSESSED): S.IN_PROGRESS,
    (A.SUPERVISE, S.DISPATCHED): S.IN_PROGRESS,
    (A.SUPERVISE, S.IN_PROGRESS): S.IN_PROGRESS,
    (A.REPORT, S.ASSESSED): S.AWAITING_DECISION,
    (A.REPORT, S.DISPATCHED): S.AWAITING_DECISION,
    (A.REPORT, S.IN_PROGRESS): S.AWAITING_DECISION,
    (A.DECIDE, S.AWAITING_DECISION): S.DISPATCHED,
    (A.RESOLVE, S.IN_PROGRESS): S.RESOLVED,
    (A.REFUSE, S.RECEIVED): S.RESOLVED,
    (A.REFUSE, S.ASSESSED): S.RESOLVED,
    (A.REFUSE, S.IN_PROGRESS): S.RESOLVED,
    (A.FOLLOW_UP, S.RESOLVED): S.RESOLVED,
    (A.FOLLOW_UP, S.RATED): S.RATED,
    (A.RATE, S.RESOLVED): S.RATED,
    (A.REOPEN, S.RESOLVED): S.ASSESSED,
    (A.REOPEN, S.RATED): S.ASSESSED,
    (A.MERGE, S.RECEIVED): S.MERGED,
    (A.MERGE, S.ASSESSED): S.MERGED,
    (A.ARCHIVE, S.RESOLVED): S.ARCHIVED,
    (A.ARCHIVE, S.RATED): S.ARCHIVED,
}

# Who may request each action. Grid workers and auditors may request none.
ROLES: Mapping[Action, frozenset[Role]] = {
    A.ASSESS: frozenset({R.DISPATCHER, R.SUPERVISOR}),
    A.ANSWER: frozenset({R.DISPATCHER}),
    A.DISPATCH: frozenset({R.DISPATCHER, R.SUPERVISOR}),
    A.ACCEPT: frozenset({R.HANDLER}),
    A.RETURN: frozenset({R.HANDLER}),
    A.CONTACT: frozenset({R.DISPATCHER, R.HANDLER, R.SUPERVISOR}),
    A.EXTEND: frozenset({R.HANDLER, R.SUPERVISOR}),
    A.SUPERVISE: frozenset({R.SUPERVISOR}),
    A.REPORT: frozenset({R.DISPATCHER, R.SUPERVISOR}),
    A.DECIDE: frozenset({R.SUPERVISOR}),
    A.RESOLVE: frozenset({R.HANDLER, R.SUPERVISOR}),
    A.REFUSE: frozenset({R.DISPATCHER, R.HANDLER}),
    A.FOLLOW_UP: frozenset({R.DISPATCHER, R.SUPERVISOR}),
    A.RATE: frozenset({R.RESIDENT, R.SYSTEM}),
    A.REOPEN: frozenset({R.DISPATCHER, R.SUPERVISOR}),
    A.MERGE: frozenset({R.DISPATCHER}),
    A.ARCHIVE: frozenset({R.DISPATCHER, R.SYSTEM}),
}
# Handlers may take these only on a case their own unit holds.
OWN_UNIT = (A.ACCEPT, A.RETURN, A.CONTACT, A.EXTEND, A.RESOLVE, A.REFUSE)
NEEDS_NOTE = (A.ANSWER, A.RETURN, A.EXTEND, A.REPORT, A.DECIDE, A.RESOLVE, A.REFUSE, A.REOPEN)
REQUESTABLE = tuple(a for a in Action if a is not A.RECEIVE)

# One actor per action whose role and unit pass, so the status alone decides.
ACTOR: Mapping[Action, Actor] = {
    A.ASSESS: DISPATCHER,
    A.ANSWER: DISPATCHER,
    A.DISPATCH: DISPATCHER,
    A.ACCEPT: HANDLER,
    A.RETURN: HANDLER,
    A.CONTACT: SUPERVISOR,
    A.EXTEND: SUPERVISOR,
    A.SUPERVISE: SUPERVISOR,
    A.REPORT: DISPATCHER,
    A.DECIDE: SUPERVISOR,
    A.RESOLVE: SUPERVISOR,
    A.REFUSE: DISPATCHER,
    A.FOLLOW_UP: DISPATCHER,
    A.RATE: RESIDENT,
    A.REOPEN: DISPATCHER,
    A.MERGE: DISPATCHER,
    A.ARCHIVE: SYSTEM,
}
# Arguments that satisfy each action: (public note, data).
VALID: Mapping[Action, tuple[str, Mapping[str, str]]] = {
    A.ASSESS: ("", {"priority": "general"}),
    A.ANSWER: ("按政策可到社区服务站办理。", {}),
    A.DISPATCH: ("", {"unit": UNIT}),
    A.ACCEPT: ("", {}),
    A.RETURN: ("不属于本部门职责。", {}),
    A.CONTACT: ("", {}),
    A.EXTEND: ("需协调施工队。", {"new_due": "2027-06-30"}),
    A.SUPERVISE: ("", {"unit": UNIT}),
    A.REPORT: ("涉及多个部门,报请批办。", {}),
    A.DECIDE: ("由城市管理部牵头办理。", {"unit": UNIT}),
    A.RESOLVE: ("已清运。", {}),
    A.REFUSE: ("不属于受理范围,已说明理由。", {}),
    A.FOLLOW_UP: ("", {"result": "failed"}),
    A.RATE: ("", {"rating": "unsatisfied"}),
    A.REOPEN: ("群众不满意,重新办理。", {}),
    A.MERGE: ("", {"into": MERGE_TARGET}),
    A.ARCHIVE: ("", {}),
}
# A path from receipt to each status, every step taken with ``VALID`` arguments.
PATHS: Mapping[Status, tuple[Action, ...]] = {
    S.RECEIVED: (),
    S.ASSESSED: (A.ASSESS,),
    S.DISPATCHED: (A.ASSESS, A.DISPATCH),
    S.IN_PROGRESS: (A.ASSESS, A.DISPATCH, A.ACCEPT),
    S.AWAITING_DECISION: (A.ASSESS, A.REPORT),
    S.RESOLVED: (A.ASSESS, A.DISPATCH, A.ACCEPT, A.RESOLVE, A.FOLLOW_UP),  # follow-up failed
    S.RATED: (A.ASSESS, A.DISPATCH, A.ACCEPT, A.RESOLVE, A.RATE),  # rated unsatisfied
    S.ARCHIVED: (A.ASSESS, A.DISPATCH, A.ACCEPT, A.RESOLVE, A.ARCHIVE),
    S.MERGED: (A.MERGE,),
}
# A status from which every role allowed to take the action can take it.
PROBE: Mapping[Action, Status] = {
    A.ASSESS: S.RECEIVED,
    A.ANSWER: S.RECEIVED,
    A.DISPATCH: S.ASSESSED,
    A.ACCEPT: S.DISPATCHED,
    A.RETURN: S.IN_PROGRESS,
    A.CONTACT: S.IN_PROGRESS,
    A.EXTEND: S.IN_PROGRESS,
    A.SUPERVISE: S.IN_PROGRESS,
    A.REPORT: S.IN_PROGRESS,
    A.DECIDE: S.AWAITING_DECISION,
    A.RESOLVE: S.IN_PROGRESS,
    A.REFUSE: S.IN_PROGRESS,
    A.FOLLOW_UP: S.RESOLVED,
    A.RATE: S.RESOLVED,
    A.REOPEN: S.RATED,
    A.MERGE: S.RECEIVED,
    A.ARCHIVE: S.RATED,
}
del S, A, R


# ----------------------------------------------------------------- helpers
@dataclass
class Case:
    """A case history built through decide/apply, the way the services do it."""

    events: list[Event]
    state: CaseState

    @classmethod
    def new(cls, priority: Priority = Priority.GENERAL) -> Case:
        first = receive(at=T0, actor=RESIDENT, category="env-litter", grid=GRID, priority=priority)
        return cls([first], apply(None, first))

    def next_at(self) -> datetime:
        return (self.state.updated_at or T0) + timedelta(hours=1)

    def do(
        self,
        action: Action,
        actor: Actor | None = None,
        *,
        note: str | None = None,
        at: datetime | None = None,
        **data: str,
    ) -> Case:
        valid_note, valid_data = VALID[action]
        event = decide(
            self.state,
            action,
            actor or ACTOR[action],
            at=at or self.next_at(),
            public_note=valid_note if note is None else note,
            data={**valid_data, **data},
        )
        self.events.append(event)
        self.state = apply(self.state, event)
        return self

    def attempt(self, action: Action, actor: Actor | None = None, **kwargs: Any) -> None:
        """An action that must be refused: check that it changes nothing, then re-raise."""
        before, history = self.state, list(self.events)
        try:
            self.do(action, actor, **kwargs)
        except TransitionRefused:
            assert self.state == before
            assert self.events == history
            assert replay(self.events) == before
            raise
        pytest.fail(f"{action} was accepted from {before.status}")


def case_in(status: Status) -> Case:
    case = Case.new()
    for action in PATHS[status]:
        case.do(action)
    assert case.state.status is status
    return case


@contextmanager
def refused(code: str) -> Iterator[pytest.ExceptionInfo[TransitionRefused]]:
    """Expect a refusal with this stable code."""
    with pytest.raises(TransitionRefused) as caught:
        yield caught
    assert caught.value.code == code, caught.value.message


# ------------------------------------------------------- the transition table
def test_the_hand_written_tables_cover_every_requestable_action() -> None:
    assert set(ROLES) == set(ACTOR) == set(VALID) == set(PROBE) == set(REQUESTABLE)
    assert {action for action, _ in ALLOWED} == set(REQUESTABLE)
    assert set(PATHS) == set(Status)
    assert Action.RECEIVE not in RULES


@pytest.mark.parametrize(
    ("action", "start", "end"),
    [(a, s, e) for (a, s), e in ALLOWED.items()],
    ids=[f"{a}-from-{s}" for a, s in ALLOWED],
)
def test_allowed_transition(action: Action, start: Status, end: Status) -> None:
    case = case_in(start)
    seq = case.state.last_seq
    case.do(action)
    assert case.events[-1].seq == seq + 1
    assert case.events[-1].action is action
    assert case.state.status is end
    assert replay(case.events) == case.state


REFUSED_PAIRS = [(a, s) for a in REQUESTABLE for s in Status if (a, s) not in ALLOWED]


@pytest.mark.parametrize(
    ("action", "start"), REFUSED_PAIRS, ids=[f"{a}-from-{s}" for a, s in REFUSED_PAIRS]
)
def test_every_other_transition_is_refused(action: Action, start: Status) -> None:
    case = case_in(start)
    actor = ACTOR[action]
    if actor.role is Role.HANDLER:
        # Pin the case to the handler's unit, so that only the status can refuse.
        pinned = replace(case.state, unit=actor.unit)
        with refused("illegal_transition") as caught:
            decide(pinned, action, actor, at=case.next_at(), public_note="说明")
    else:
        with refused("illegal_transition") as caught:
            case.attempt(action)
    assert not isinstance(caught.value, Forbidden)


def test_receive_cannot_be_requested_and_a_case_is_received_once() -> None:
    case = Case.new()
    with refused("unknown_action"):
        decide(case.state, Action.RECEIVE, DISPATCHER, at=case.next_at())
    with refused("illegal_transition"):
        apply(case.state, case.events[0])
    with refused("illegal_transition"):
        apply(None, replace(case.events[0], action=Action.ASSESS, data={"priority": "general"}))


# ------------------------------------------------------------------- roles
ROLE_REFUSALS = [
    (a, actor) for a in REQUESTABLE for actor in EVERYONE if actor.role not in ROLES[a]
]


@pytest.mark.parametrize(
    ("action", "actor"), ROLE_REFUSALS, ids=[f"{a}-by-{actor.role}" for a, actor in ROLE_REFUSALS]
)
def test_roles_that_may_not_act_are_forbidden(action: Action, actor: Actor) -> None:
    case = case_in(PROBE[action])
    with pytest.raises(Forbidden) as caught:
        case.attempt(action, actor)
    assert caught.value.code == "forbidden"


ROLE_GRANTS = [(a, actor) for a in REQUESTABLE for actor in EVERYONE if actor.role in ROLES[a]]


@pytest.mark.parametrize(
    ("action", "actor"), ROLE_GRANTS, ids=[f"{a}-by-{actor.role}" for a, actor in ROLE_GRANTS]
)
def test_roles_that_may_act_can(action: Action, actor: Actor) -> None:
    case = case_in(PROBE[action])
    case.do(action, actor)
    assert case.events[-1].actor == actor
    assert case.state.status is ALLOWED[action, PROBE[action]]


@pytest.mark.parametrize("action", OWN_UNIT)
def test_a_handler_of_another_unit_is_forbidden(action: Action) -> None:
    case = case_in(PROBE[action])
    assert case.state.unit == UNIT
    with pytest.raises(Forbidden, match="不属于本单位"):
        case.attempt(action, OTHER_HANDLER)


@pytest.mark.parametrize("action", [Action.REFUSE, Action.CONTACT])
def test_a_handler_cannot_act_on_a_case_no_unit_holds(action: Action) -> None:
    case = case_in(Status.ASSESSED)
    with pytest.raises(Forbidden):
        case.attempt(action, HANDLER)


def test_handler_actions_do_not_bind_other_roles_to_a_unit() -> None:
    case = case_in(Status.IN_PROGRESS)
    case.do(Action.CONTACT, DISPATCHER).do(Action.RESOLVE, SUPERVISOR)
    assert case.state.outcome is Outcome.RESOLVED


@pytest.mark.parametrize("role", [Role.HANDLER, Role.SUPERVISOR, Role.AUDITOR])
def test_only_residents_grid_workers_dispatchers_and_the_system_file_cases(role: Role) -> None:
    actor = Actor(role, "x", UNIT)
    with pytest.raises(Forbidden):
        receive(at=T0, actor=actor, category="c", grid=GRID, priority=Priority.GENERAL)


# ------------------------------------------------- required notes and data
@pytest.mark.parametrize("action", NEEDS_NOTE)
@pytest.mark.parametrize("note", ["", "   \n"])
def test_actions_that_explain_themselves_need_a_public_note(action: Action, note: str) -> None:
    case = case_in(PROBE[action])
    with refused("note_required"):
        case.attempt(action, note=note)


MISSING = [
    (Action.ASSESS, "priority"),
    (Action.DISPATCH, "unit"),
    (Action.EXTEND, "new_due"),
    (Action.SUPERVISE, "unit"),
    (Action.DECIDE, "unit"),
    (Action.FOLLOW_UP, "result"),
    (Action.RATE, "rating"),
    (Action.MERGE, "into"),
]


@pytest.mark.parametrize(("action", "key"), MISSING)
@pytest.mark.parametrize("value", [None, "", "  "])
def test_actions_need_their_data(action: Action, key: str, value: str | None) -> None:
    case = case_in(PROBE[action])
    data = {k: v for k, v in VALID[action][1].items() if k != key}
    if value is not None:
        data[key] = value
    with refused("missing_field"):
        decide(
            case.state,
            action,
            ACTOR[action],
            at=case.next_at(),
            public_note=VALID[action][0],
            data=data,
        )


@pytest.mark.parametrize(
    ("action", "data"),
    [
        (Action.ASSESS, {"priority": "soon"}),
        (Action.RATE, {"rating": "great"}),
        (Action.FOLLOW_UP, {"result": "maybe"}),
        (Action.EXTEND, {"new_due": "next week"}),
        (Action.EXTEND, {"new_due": "2026-11-15"}),  # before today
        (Action.EXTEND, {"new_due": "2026-11-16"}),  # today is no extension
    ],
)
def test_invalid_data_is_refused(action: Action, data: dict[str, str]) -> None:
    case = case_in(PROBE[action])
    with refused("invalid_field"):
        case.attempt(action, None, at=T0 + timedelta(hours=6), **data)


def test_an_extension_must_go_past_the_last_one() -> None:
    case = case_in(Status.IN_PROGRESS).do(Action.EXTEND, new_due="2026-12-10")
    for earlier in ("2026-12-09", "2026-12-10"):
        with refused("invalid_field"):
            case.attempt(Action.EXTEND, new_due=earlier)
    case.do(Action.EXTEND, HANDLER, new_due="2026-12-11")
    assert [x.new_due for x in case.state.extensions] == [date(2026, 12, 10), date(2026, 12, 11)]
    assert case.state.extended_due == date(2026, 12, 11)


def test_today_for_an_extension_is_the_day_in_beijing() -> None:
    # 17:00 UTC on the 24th is 01:00 on the 25th in Beijing: the 25th is today, not later.
    case = case_in(Status.IN_PROGRESS)
    at = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    assert at.astimezone(BEIJING).date() == date(2026, 11, 25)
    with refused("invalid_field"):
        case.attempt(Action.EXTEND, at=at, new_due="2026-11-25")
    case.do(Action.EXTEND, at=at, new_due="2026-11-26")


@pytest.mark.parametrize("rating", ["satisfied", "basically_satisfied"])
def test_a_satisfied_case_reopens_only_after_a_failed_follow_up(rating: str) -> None:
    case = case_in(Status.IN_PROGRESS).do(Action.RESOLVE).do(Action.RATE, rating=rating)
    with refused("illegal_transition"):
        case.attempt(Action.REOPEN)
    case.do(Action.FOLLOW_UP, result="ok")
    with refused("illegal_transition"):
        case.attempt(Action.REOPEN)
    case.do(Action.FOLLOW_UP, result="failed").do(Action.REOPEN)
    assert case.state.status is Status.ASSESSED and case.state.reopen_count == 1


def test_a_resolved_case_without_rating_or_failed_follow_up_cannot_reopen() -> None:
    case = case_in(Status.IN_PROGRESS).do(Action.RESOLVE)
    with refused("illegal_transition"):
        case.attempt(Action.REOPEN)


def test_an_old_unsatisfied_rating_does_not_reopen_the_next_resolution() -> None:
    # The rating judged the first resolution; the second must be judged on its own.
    case = case_in(Status.RATED).do(Action.REOPEN)
    case.do(Action.DISPATCH).do(Action.ACCEPT, HANDLER).do(Action.RESOLVE, HANDLER)
    assert case.state.rating is None  # the new round is not rated yet
    assert [r.rating for r in case.state.ratings] == [Rating.UNSATISFIED]  # kept on record
    with refused("illegal_transition"):
        case.attempt(Action.REOPEN)
    case.do(Action.FOLLOW_UP, result="failed").do(Action.REOPEN)
    assert case.state.reopen_count == 2


# ------------------------------------------------------------ rating rounds
def test_reopen_then_rate_again() -> None:
    case = case_in(Status.RATED)  # round 1 rated 不满意
    first_rating_at = case.events[-1].at
    assert counted_rating(case.events) == RoundRating(1, Rating.UNSATISFIED, first_rating_at)
    case.do(Action.REOPEN)
    assert (case.state.round, case.state.rateable) == (2, False)
    assert counted_rating(case.events) is None  # the earlier 不满意 no longer counts
    case.do(Action.DISPATCH).do(Action.ACCEPT, HANDLER).do(Action.RESOLVE, HANDLER)
    assert case.state.rateable
    case.do(Action.RATE, rating="satisfied")
    second = RoundRating(2, Rating.SATISFIED, case.events[-1].at)
    assert case.state.ratings == (RoundRating(1, Rating.UNSATISFIED, first_rating_at), second)
    assert counted_rating(case.events) == second
    assert (case.state.rating, case.state.rated_at) == (second.rating, second.at)
    with refused("illegal_transition"):  # once per round
        case.attempt(Action.RATE, rating="unsatisfied")


def test_a_failed_follow_up_reopens_an_unrated_round_and_the_next_is_rateable() -> None:
    case = case_in(Status.RESOLVED).do(Action.REOPEN)  # follow-up failed, never rated
    case.do(Action.DISPATCH).do(Action.ACCEPT, HANDLER).do(Action.RESOLVE, HANDLER)
    case.do(Action.RATE, rating="basically_satisfied")
    assert case.state.ratings == (RoundRating(2, Rating.BASICALLY_SATISFIED, case.events[-1].at),)
    assert counted_rating(case.events) == case.state.ratings[0]


def test_a_second_rating_in_one_round_is_refused_even_from_a_resolved_state() -> None:
    # A history where the round's rating exists while the state says resolved cannot come
    # from decide, but the rule does not rest on the status alone.
    case = case_in(Status.RATED)
    state = replace(case.state, status=Status.RESOLVED)
    with refused("already_rated"):
        decide(state, Action.RATE, RESIDENT, at=case.next_at(), data={"rating": "satisfied"})


def test_an_action_cannot_be_dated_before_the_last_step() -> None:
    case = case_in(Status.ASSESSED)
    last = case.events[-1].at
    with refused("time_order"):
        case.attempt(Action.DISPATCH, at=last - timedelta(seconds=1))
    case.do(Action.DISPATCH, at=last)  # the same instant is fine


# ----------------------------------------------------- what each step records
def test_dispatch_return_and_redispatch() -> None:
    case = case_in(Status.DISPATCHED)
    assert (case.state.unit, case.state.route) == (UNIT, Route.DISPATCH)
    case.do(Action.RETURN, HANDLER).do(Action.DISPATCH, unit=OTHER_UNIT)
    assert case.state.status is Status.DISPATCHED
    assert (case.state.unit, case.state.return_count) == (OTHER_UNIT, 1)
    assert case.state.units_involved == (UNIT, OTHER_UNIT)


def test_a_returned_case_goes_back_to_the_command_centre() -> None:
    case = case_in(Status.IN_PROGRESS).do(Action.RETURN)
    assert (case.state.status, case.state.unit) == (Status.ASSESSED, None)


def test_direct_answer_closes_the_case() -> None:
    case = case_in(Status.RECEIVED).do(Action.ANSWER)
    state = case.state
    assert (state.status, state.route, state.outcome) == (
        Status.RESOLVED,
        Route.DIRECT_ANSWER,
        Outcome.ANSWERED,
    )
    assert state.answer == VALID[Action.ANSWER][0]
    assert state.resolved_at == case.events[-1].at


def test_a_reopened_answer_that_is_dispatched_takes_the_dispatch_route() -> None:
    case = case_in(Status.RECEIVED).do(Action.ANSWER).do(Action.RATE).do(Action.REOPEN)
    case.do(Action.DISPATCH)
    assert (case.state.unit, case.state.route) == (UNIT, Route.DISPATCH)


def test_refusal_records_the_reason_as_the_answer() -> None:
    case = case_in(Status.RECEIVED).do(Action.REFUSE)
    assert case.state.outcome is Outcome.REFUSED
    assert case.state.answer == VALID[Action.REFUSE][0]


def test_onsite_supervision_assigns_and_marks_the_case() -> None:
    case = case_in(Status.DISPATCHED).do(Action.SUPERVISE, unit=OTHER_UNIT)
    state = case.state
    assert (state.status, state.route, state.unit) == (
        Status.IN_PROGRESS,
        Route.ONSITE_SUPERVISION,
        OTHER_UNIT,
    )
    assert state.supervised
    case.do(Action.RESOLVE, Actor(Role.HANDLER, "p", OTHER_UNIT))
    assert case.state.route is Route.ONSITE_SUPERVISION


def test_a_special_report_waits_on_the_supervisors_desk() -> None:
    case = case_in(Status.IN_PROGRESS).do(Action.REPORT)
    # No unit holds the case while it waits for a decision: it is in the command centre.
    assert (case.state.status, case.state.unit) == (Status.AWAITING_DECISION, None)
    assert case.state.route is Route.SPECIAL_REPORT
    case.do(Action.DECIDE, unit=OTHER_UNIT)
    assert (case.state.status, case.state.unit) == (Status.DISPATCHED, OTHER_UNIT)
    assert case.state.route is Route.SPECIAL_REPORT


def test_reopen_clears_the_outcome_and_the_unit() -> None:
    case = case_in(Status.RATED).do(Action.REOPEN)
    state = case.state
    assert (state.status, state.outcome, state.resolved_at, state.unit) == (
        Status.ASSESSED,
        None,
        None,
        None,
    )
    assert state.reopen_count == 1
    assert state.units_involved == (UNIT,)


def test_the_first_contact_counts() -> None:
    case = case_in(Status.IN_PROGRESS).do(Action.CONTACT)
    first = case.events[-1].at
    case.do(Action.CONTACT, HANDLER)
    assert case.state.contacted_at == first


def test_telling_the_result_is_the_first_contact_and_a_reopen_keeps_it() -> None:
    case = case_in(Status.RATED)  # resolved with no contact step, then rated unsatisfied
    told = next(e.at for e in case.events if e.action is Action.RESOLVE)
    assert case.state.contacted_at == told
    case.do(Action.REOPEN)
    assert case.state.resolved_at is None and case.state.contacted_at == told
    case.do(Action.DISPATCH).do(Action.ACCEPT).do(Action.RESOLVE)
    assert case.state.contacted_at == told  # the second round's result is not the first
    called = case_in(Status.IN_PROGRESS).do(Action.CONTACT)
    first = called.events[-1].at
    assert called.do(Action.RESOLVE).state.contacted_at == first  # a call came first


def test_merge_points_at_the_original() -> None:
    case = case_in(Status.ASSESSED).do(Action.MERGE)
    assert (case.state.status, case.state.outcome) == (Status.MERGED, Outcome.MERGED)
    assert case.state.merged_into == MERGE_TARGET


def test_rating_and_archive() -> None:
    case = case_in(Status.IN_PROGRESS).do(Action.RESOLVE).do(Action.RATE, rating="satisfied")
    assert (case.state.rating, case.state.rated_at) == (Rating.SATISFIED, case.events[-1].at)
    case.do(Action.ARCHIVE, DISPATCHER)
    assert case.state.status is Status.ARCHIVED
    assert case.state.outcome is Outcome.RESOLVED


def test_replay_names_a_broken_history_instead_of_raising() -> None:
    events = case_in(Status.IN_PROGRESS).events
    with refused("broken_history"):
        replay([])  # no case at all: a stored case always has its receipt
    assert replay(events).anomalies == ()
    gap = replay([events[0], events[2]])
    assert gap.anomalies and "序号" in gap.anomalies[0]
    headless = replay([replace(events[1], seq=1)])  # a history must start with its receipt
    assert headless.anomalies and headless.received_at == events[1].at
    bad_data = replace(events[1], data={"priority": "soon"})
    state = replay([events[0], bad_data, *events[2:]])
    assert len(state.anomalies) == 1 and "2" in state.anomalies[0]
    assert state.last_seq == len(events)


def test_apply_still_refuses_what_replay_names() -> None:
    events = case_in(Status.IN_PROGRESS).events
    with refused("illegal_transition"):
        apply(None, events[1])
    with refused("broken_history"):
        apply(replay(events[:1]), replace(events[1], data={}))


# --------------------------------------------------------- property tests
@dataclass(frozen=True)
class Attempt:
    action: Action
    actor: Actor
    note: str
    data: Mapping[str, str]
    at: datetime


ALL_ACTORS = (*EVERYONE, OTHER_HANDLER)
RANDOMS = st.randoms(use_true_random=False)
# Values for random data, valid and not.
DATA_VALUES: Mapping[str, tuple[str, ...]] = {
    "priority": (*Priority, "soon"),
    "unit": (UNIT, OTHER_UNIT, ""),
    "new_due": ("2026-11-10", "2026-12-01", "2027-03-01", "someday"),
    "result": ("ok", "failed", "?"),
    "rating": (*Rating, "great"),
    "into": (MERGE_TARGET, " "),
    "category": ("env-noise", "safe-fire"),
}


def draw_attempt(rnd: Random, state: CaseState) -> Attempt:
    """Mostly plausible requests (so that histories get deep), sometimes anything at all."""
    now = (state.updated_at or T0) + timedelta(minutes=rnd.randint(-30, 3 * 24 * 60))
    if rnd.random() < 0.2:
        data = {k: rnd.choice(v) for k, v in DATA_VALUES.items() if rnd.random() < 0.3}
        return Attempt(
            rnd.choice(list(Action)),
            rnd.choice(ALL_ACTORS),
            rnd.choice(["", "  ", "说明"]),
            data,
            now,
        )
    likely = [a for (a, s) in ALLOWED if s is state.status] or list(Action)
    action = rnd.choice(likely)
    roles = ROLES.get(action, frozenset())
    actors = [x for x in ALL_ACTORS if x.role in roles and x.unit in (None, state.unit)]
    actor = rnd.choice(actors or ALL_ACTORS)
    text, valid = VALID.get(action, ("", {}))
    data = dict(valid)
    for key in ("unit", "rating", "result", "priority"):
        if key in data:
            data[key] = rnd.choice([v for v in DATA_VALUES[key] if v])
    if "new_due" in data:
        today = now.astimezone(BEIJING).date()
        base = max(today, state.extended_due or today)
        data["new_due"] = (base + timedelta(days=rnd.randint(-1, 30))).isoformat()
    return Attempt(action, actor, text, data, now)


def try_attempt(state: CaseState, attempt: Attempt) -> Event | TransitionRefused:
    try:
        return decide(
            state,
            attempt.action,
            attempt.actor,
            at=attempt.at,
            public_note=attempt.note,
            data=attempt.data,
        )
    except TransitionRefused as exc:
        return exc


def check_against_tables(before: CaseState, attempt: Attempt, outcome: object) -> None:
    """What the hand-written tables say about one accepted or refused attempt."""
    action, actor = attempt.action, attempt.actor
    if isinstance(outcome, Forbidden):
        assert actor.role not in ROLES.get(action, ()) or (
            action in OWN_UNIT and actor.unit != before.unit
        )
    elif isinstance(outcome, TransitionRefused):
        if outcome.code == "illegal_transition" and action is not Action.REOPEN:
            assert (action, before.status) not in ALLOWED
    else:
        assert (action, before.status) in ALLOWED
        assert actor.role in ROLES[action]


def check_legal(state: CaseState, events: list[Event]) -> None:
    """Invariants of every state a history can reach."""
    actions = [e.action for e in events]
    assert state.status in set(Status)
    if state.status in CLOSED_STATUSES:
        assert state.outcome is not None
    else:
        assert state.status in OPEN_STATUSES and state.outcome is None
    # A unit holds exactly the cases sent to it; all others wait in the command centre.
    if state.is_open:
        assert (state.unit is not None) == (state.status in (Status.DISPATCHED, Status.IN_PROGRESS))
    if state.unit is not None:
        assert state.unit in state.units_involved
        if state.is_open:
            assert state.route not in (None, Route.DIRECT_ANSWER)
    if state.status is Status.AWAITING_DECISION:
        assert state.route is Route.SPECIAL_REPORT
    assert len(set(state.units_involved)) == len(state.units_involved)
    assert state.reopen_count == actions.count(Action.REOPEN)
    assert state.return_count == actions.count(Action.RETURN)
    assert len(state.extensions) == actions.count(Action.EXTEND)
    assert state.supervised == (Action.SUPERVISE in actions)
    assert (state.resolved_at is not None) == (
        state.outcome in (Outcome.RESOLVED, Outcome.ANSWERED, Outcome.REFUSED)
    )
    assert (state.merged_into is not None) == (state.status is Status.MERGED)
    assert (state.rating is None) == (state.rated_at is None)
    assert state.last_seq == len(events) == events[-1].seq
    assert state.updated_at == events[-1].at
    assert all(a.at <= b.at for a, b in pairwise(events))
    assert replay(events) == state


class CaseMachine(RuleBasedStateMachine):
    """Random requests against one case: refused ones change nothing, accepted ones append."""

    def __init__(self) -> None:
        super().__init__()
        case = Case.new()
        self.events, self.state = case.events, case.state

    @rule(data=st.data())
    def request(self, data: st.DataObject) -> None:
        before, history = self.state, list(self.events)
        attempt = draw_attempt(data.draw(RANDOMS), before)
        note(repr(attempt))
        outcome = try_attempt(before, attempt)
        check_against_tables(before, attempt, outcome)
        assert self.state == before and self.events == history
        if isinstance(outcome, Event):
            assert outcome.seq == len(history) + 1
            self.events.append(outcome)
            self.state = apply(before, outcome)
            assert self.state.status is ALLOWED[attempt.action, before.status]

    @invariant()
    def legal(self) -> None:
        check_legal(self.state, self.events)


CaseMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)
TestCaseMachine = CaseMachine.TestCase


@st.composite
def histories(draw: st.DrawFn) -> list[Event]:
    case = Case.new(draw(st.sampled_from(Priority)))
    rnd = draw(RANDOMS)
    for _ in range(draw(st.integers(0, 30))):
        outcome = try_attempt(case.state, draw_attempt(rnd, case.state))
        if isinstance(outcome, Event):
            case.events.append(outcome)
            case.state = apply(case.state, outcome)
    return case.events


@settings(max_examples=50, deadline=None)
@given(histories())
def test_events_replay_deterministically(events: list[Event]) -> None:
    state = replay(events)
    copies = [replace(e, data=dict(e.data)) for e in events]
    assert replay(copies) == state == replay(tuple(events))
    folded: CaseState | None = None
    for n, event in enumerate(events, start=1):
        folded = apply(folded, event)
        assert folded == replay(events[:n])
    assert folded == state
    check_legal(state, events)


# Any event sequence a store could hold: every action, arbitrary data (some readable,
# most not), sequence numbers in or out of order, times in any order.
_DATA_VALUES = st.sampled_from(
    [
        "general",
        "urgent",
        "soon",
        UNIT,
        "2026-12-01",
        "2026-02-30",
        "",
        "failed",
        "ok",
        "satisfied",
        "unsatisfied",
        MERGE_TARGET,
        "env-litter",
        GRID,
    ]
)
_DATA_KEYS = st.sampled_from(
    ["priority", "category", "grid", "unit", "new_due", "result", "rating", "into"]
)
ANY_EVENT = st.builds(
    Event,
    seq=st.integers(0, 40),
    at=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    action=st.sampled_from(Action),
    actor=st.sampled_from(EVERYONE),
    public_note=st.text(max_size=5),
    data=st.dictionaries(_DATA_KEYS, _DATA_VALUES, max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ANY_EVENT, min_size=1, max_size=25), st.booleans())
def test_replaying_any_stored_history_never_raises(events: list[Event], renumber: bool) -> None:
    if renumber:  # in sequence: only the data and the order of steps are random
        events = [replace(e, seq=n) for n, e in enumerate(events, start=1)]
    state = replay(events)
    assert state.last_seq == events[-1].seq
    assert replay(events) == state
    counted = counted_rating(events)
    assert counted is None or counted.round == state.round
    assert state.rateable == (state.status is Status.RESOLVED and counted is None)
