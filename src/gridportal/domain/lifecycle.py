"""The closed loop of a case (受理 → 研判 → 处置 → 办结 → 回访评价 → 归档).

A case's current state is never stored as truth: it is ``replay(events)``. Staff
and residents ask for an action; ``decide`` checks it against the rules (which
statuses it may leave from, who may do it, what it needs) and returns the one
event to append, or raises ``TransitionRefused`` and nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from gridportal.domain.deadlines import BEIJING
from gridportal.domain.model import (
    Action,
    Actor,
    Event,
    Outcome,
    Priority,
    Rating,
    Role,
    Route,
    Status,
    label,
)


class TransitionRefused(ValueError):
    """An action that the rules do not allow; ``code`` is stable for APIs."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Forbidden(TransitionRefused):
    """The actor's role or unit may not do this (HTTP 403)."""


@dataclass(frozen=True)
class Extension:
    at: datetime
    new_due: date
    reason: str


@dataclass(frozen=True)
class CaseState:
    """Everything known about a case, derived from its events alone."""

    status: Status
    category: str
    grid: str
    priority: Priority
    received_at: datetime
    route: Route | None = None
    unit: str | None = None  # the unit currently responsible
    outcome: Outcome | None = None
    answer: str = ""  # public answer or refusal reason
    contacted_at: datetime | None = None
    resolved_at: datetime | None = None
    extensions: tuple[Extension, ...] = ()
    rating: Rating | None = None
    rated_at: datetime | None = None
    reopen_count: int = 0
    return_count: int = 0
    follow_up_failed: bool = False
    merged_into: str | None = None
    supervised: bool = False  # went through 现场督办 at some point
    last_seq: int = 0
    updated_at: datetime | None = None
    units_involved: tuple[str, ...] = field(default=())

    @property
    def extended_due(self) -> date | None:
        return self.extensions[-1].new_due if self.extensions else None

    @property
    def is_open(self) -> bool:
        return self.status in _OPEN


_OPEN = frozenset(
    {
        Status.RECEIVED,
        Status.ASSESSED,
        Status.DISPATCHED,
        Status.IN_PROGRESS,
        Status.AWAITING_DECISION,
    }
)


@dataclass(frozen=True)
class Rule:
    """Where an action may start from, who may take it, and what it needs."""

    from_statuses: frozenset[Status]
    roles: frozenset[Role]
    needs_note: bool = False  # a public note is required (reasons, answers)
    needs: tuple[str, ...] = ()  # keys required in ``data``
    own_unit_only: bool = False  # handlers act only on cases assigned to their unit


def _rule(
    statuses: Iterable[Status],
    roles: Iterable[Role],
    *,
    needs_note: bool = False,
    needs: tuple[str, ...] = (),
    own_unit_only: bool = False,
) -> Rule:
    return Rule(frozenset(statuses), frozenset(roles), needs_note, needs, own_unit_only)


S, R = Status, Role
ACTIVE = (S.DISPATCHED, S.IN_PROGRESS)
CLOSED_RATEABLE = (S.RESOLVED, S.RATED)

RULES: Mapping[Action, Rule] = {
    Action.ASSESS: _rule([S.RECEIVED], [R.DISPATCHER, R.SUPERVISOR], needs=("priority",)),
    Action.ANSWER: _rule([S.RECEIVED, S.ASSESSED], [R.DISPATCHER], needs_note=True),
    Action.DISPATCH: _rule([S.ASSESSED], [R.DISPATCHER, R.SUPERVISOR], needs=("unit",)),
    Action.ACCEPT: _rule([S.DISPATCHED], [R.HANDLER], own_unit_only=True),
    Action.RETURN: _rule(ACTIVE, [R.HANDLER], needs_note=True, own_unit_only=True),
    Action.CONTACT: _rule(
        [S.ASSESSED, *ACTIVE, S.AWAITING_DECISION],
        [R.DISPATCHER, R.HANDLER, R.SUPERVISOR],
        own_unit_only=True,
    ),
    Action.EXTEND: _rule(
        ACTIVE, [R.HANDLER, R.SUPERVISOR], needs_note=True, needs=("new_due",), own_unit_only=True
    ),
    Action.SUPERVISE: _rule([S.ASSESSED, *ACTIVE], [R.SUPERVISOR], needs=("unit",)),
    Action.REPORT: _rule([S.ASSESSED, *ACTIVE], [R.DISPATCHER, R.SUPERVISOR], needs_note=True),
    Action.DECIDE: _rule([S.AWAITING_DECISION], [R.SUPERVISOR], needs_note=True, needs=("unit",)),
    Action.RESOLVE: _rule(
        [S.IN_PROGRESS], [R.HANDLER, R.SUPERVISOR], needs_note=True, own_unit_only=True
    ),
    Action.REFUSE: _rule(
        [S.RECEIVED, S.ASSESSED, S.IN_PROGRESS],
        [R.DISPATCHER, R.HANDLER],
        needs_note=True,
        own_unit_only=True,
    ),
    Action.FOLLOW_UP: _rule(CLOSED_RATEABLE, [R.DISPATCHER, R.SUPERVISOR], needs=("result",)),
    Action.RATE: _rule([S.RESOLVED], [R.RESIDENT, R.SYSTEM], needs=("rating",)),
    Action.REOPEN: _rule(CLOSED_RATEABLE, [R.DISPATCHER, R.SUPERVISOR], needs_note=True),
    Action.MERGE: _rule([S.RECEIVED, S.ASSESSED], [R.DISPATCHER], needs=("into",)),
    Action.ARCHIVE: _rule(CLOSED_RATEABLE, [R.DISPATCHER, R.SYSTEM]),
}
del S, R

FOLLOW_UP_RESULTS = ("ok", "failed")
_ESCALATED = frozenset({Route.ONSITE_SUPERVISION, Route.SPECIAL_REPORT})
RECEIVE_ROLES = frozenset({Role.RESIDENT, Role.GRID_WORKER, Role.DISPATCHER, Role.SYSTEM})


def receive(
    *,
    at: datetime,
    actor: Actor,
    category: str,
    grid: str,
    priority: Priority,
    public_note: str = "",
) -> Event:
    """The first event of every case."""
    if actor.role not in RECEIVE_ROLES:
        raise Forbidden("forbidden", f"{actor.role} may not file cases")
    return Event(
        seq=1,
        at=at,
        action=Action.RECEIVE,
        actor=actor,
        public_note=public_note,
        data={"category": category, "grid": grid, "priority": str(priority)},
    )


def decide(
    state: CaseState,
    action: Action,
    actor: Actor,
    *,
    at: datetime,
    public_note: str = "",
    private_note: str = "",
    data: Mapping[str, str] | None = None,
) -> Event:
    """Check an action against the rules and return the event that records it."""
    data = dict(data or {})
    rule = RULES.get(action)
    if rule is None:
        raise TransitionRefused("unknown_action", f"{action} cannot be requested")
    if actor.role not in rule.roles:
        raise Forbidden("forbidden", f"{label(actor.role)}无权执行“{label(action)}”")
    if rule.own_unit_only and actor.role is Role.HANDLER and actor.unit != state.unit:
        raise Forbidden("forbidden", "该案件不属于本单位")
    if state.status not in rule.from_statuses:
        raise TransitionRefused(
            "illegal_transition",
            f"案件当前状态为“{label(state.status)}”,不能执行“{label(action)}”",
        )
    if rule.needs_note and not public_note.strip():
        raise TransitionRefused("note_required", f"“{label(action)}”须填写公开说明")
    missing = [key for key in rule.needs if not str(data.get(key, "")).strip()]
    if missing:
        raise TransitionRefused("missing_field", f"缺少字段:{', '.join(missing)}")
    _check_data(state, action, data, at)
    if at < (state.updated_at or state.received_at):
        raise TransitionRefused("time_order", "事件时间早于案件上一步")
    return Event(
        seq=state.last_seq + 1,
        at=at,
        action=action,
        actor=actor,
        public_note=public_note.strip(),
        private_note=private_note.strip(),
        data=data,
    )


def _check_data(state: CaseState, action: Action, data: Mapping[str, str], at: datetime) -> None:
    if action is Action.ASSESS and data["priority"] not in set(Priority):
        raise TransitionRefused("invalid_field", f"priority 取值无效:{data['priority']}")
    elif action is Action.RATE and data["rating"] not in set(Rating):
        raise TransitionRefused("invalid_field", f"rating 取值无效:{data['rating']}")
    elif action is Action.FOLLOW_UP and data["result"] not in FOLLOW_UP_RESULTS:
        raise TransitionRefused("invalid_field", "回访结果须为 ok 或 failed")
    elif action is Action.EXTEND:
        try:
            new_due = date.fromisoformat(data["new_due"])
        except ValueError as exc:
            raise TransitionRefused("invalid_field", "延期日期格式应为 YYYY-MM-DD") from exc
        current = state.extended_due
        today = at.astimezone(BEIJING).date()  # deadlines are Beijing dates, not UTC ones
        if new_due <= today or (current is not None and new_due <= current):
            raise TransitionRefused("invalid_field", "延期后的期限须晚于当前期限")
    elif action is Action.REOPEN and not (
        # A rating judges the resolution it followed: after a reopen and a new
        # resolution, the old "unsatisfied" stays on record but reopens nothing.
        (state.status is Status.RATED and state.rating is Rating.UNSATISFIED)
        or state.follow_up_failed
    ):
        raise TransitionRefused("illegal_transition", "仅“不满意”或回访未通过的案件可以重办")
    elif action is Action.MERGE and not data["into"].strip():
        raise TransitionRefused("invalid_field", "须指明合并到的原件")


def apply(state: CaseState | None, event: Event) -> CaseState:
    """Fold one event into the state. Pure; the same events always give the same state."""
    if event.action is Action.RECEIVE:
        if state is not None:
            raise TransitionRefused("illegal_transition", "a case is received only once")
        return CaseState(
            status=Status.RECEIVED,
            category=event.data["category"],
            grid=event.data["grid"],
            priority=Priority(event.data["priority"]),
            received_at=event.at,
            last_seq=event.seq,
            updated_at=event.at,
        )
    if state is None:
        raise TransitionRefused("illegal_transition", "the first event must be a receipt")
    step = replace(state, last_seq=event.seq, updated_at=event.at)
    data, note = event.data, event.public_note
    match event.action:
        case Action.ASSESS:
            return replace(
                step,
                status=Status.ASSESSED,
                priority=Priority(data["priority"]),
                category=data.get("category") or state.category,
            )
        case Action.ANSWER:
            return _closed(step, event, Route.DIRECT_ANSWER, Outcome.ANSWERED)
        case Action.DISPATCH:
            # An escalated route sticks; a reopened direct answer now goes to a unit.
            route = state.route if state.route in _ESCALATED else Route.DISPATCH
            return _assigned(step, data["unit"], Status.DISPATCHED, route)
        case Action.ACCEPT:
            return replace(step, status=Status.IN_PROGRESS)
        case Action.RETURN:
            return replace(
                step, status=Status.ASSESSED, unit=None, return_count=state.return_count + 1
            )
        case Action.CONTACT:
            return replace(step, contacted_at=state.contacted_at or event.at)
        case Action.EXTEND:
            ext = Extension(event.at, date.fromisoformat(data["new_due"]), note)
            return replace(step, extensions=(*state.extensions, ext))
        case Action.SUPERVISE:
            return replace(
                _assigned(step, data["unit"], Status.IN_PROGRESS, Route.ONSITE_SUPERVISION),
                supervised=True,
            )
        case Action.REPORT:
            # No unit holds a case awaiting decision: it waits in the command centre's queue.
            return replace(
                step, status=Status.AWAITING_DECISION, route=Route.SPECIAL_REPORT, unit=None
            )
        case Action.DECIDE:
            return _assigned(step, data["unit"], Status.DISPATCHED, Route.SPECIAL_REPORT)
        case Action.RESOLVE:
            return _closed(step, event, state.route or Route.DISPATCH, Outcome.RESOLVED)
        case Action.REFUSE:
            return _closed(step, event, state.route or Route.DIRECT_ANSWER, Outcome.REFUSED)
        case Action.FOLLOW_UP:
            return replace(step, follow_up_failed=data["result"] == "failed")
        case Action.RATE:
            return replace(
                step, status=Status.RATED, rating=Rating(data["rating"]), rated_at=event.at
            )
        case Action.REOPEN:
            return replace(
                step,
                status=Status.ASSESSED,
                unit=None,  # back to the command centre to be dispatched again
                outcome=None,
                resolved_at=None,
                follow_up_failed=False,
                reopen_count=state.reopen_count + 1,
            )
        case Action.MERGE:
            return replace(
                step, status=Status.MERGED, outcome=Outcome.MERGED, merged_into=data["into"]
            )
        case Action.ARCHIVE:
            return replace(step, status=Status.ARCHIVED)
    raise TransitionRefused("unknown_action", f"unknown action {event.action}")


def _assigned(state: CaseState, unit: str, status: Status, route: Route) -> CaseState:
    involved = (
        state.units_involved if unit in state.units_involved else (*state.units_involved, unit)
    )
    return replace(state, status=status, unit=unit, route=route, units_involved=involved)


def _closed(state: CaseState, event: Event, route: Route, outcome: Outcome) -> CaseState:
    return replace(
        state,
        status=Status.RESOLVED,
        route=route,
        outcome=outcome,
        answer=event.public_note,
        resolved_at=event.at,
    )


def replay(events: Iterable[Event]) -> CaseState:
    """The state a history leads to; raises if the history itself is broken."""
    state: CaseState | None = None
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            raise TransitionRefused("broken_history", f"event {event.seq} out of sequence")
        state = apply(state, event)
    if state is None:
        raise TransitionRefused("broken_history", "a case has at least one event")
    return state
