"""The closed loop of a case (受理 → 研判 → 处置 → 办结 → 回访评价 → 归档).

A case's current state is never stored as truth: it is ``replay(events)``. Staff
and residents ask for an action; ``decide`` checks it against the rules (which
statuses it may leave from, who may do it, what it needs) and returns the one
event to append, or raises ``TransitionRefused`` and nothing changes.

``replay`` never raises on a stored history, however broken (an old import, a hand
edit): a step it cannot apply is skipped and named in ``CaseState.anomalies``, so one
bad record cannot stop a lookup or a nightly build; the build leaves such a case
unpublished and lists it.

Rating rounds (评价轮次): each resolution can be rated once. A reopen (重办) starts a
new round, which the resident rates again with the same vote token. Every rating
stays in the history; the one that counts is the latest round's (``counted_rating``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

from gridportal.domain.deadlines import BEIJING, extension_refusal
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
class RoundRating:
    """A resident's rating of one resolution: ``round`` is 1 for the first handling
    and one more after each reopen (重办)."""

    round: int
    rating: Rating
    at: datetime


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
    ratings: tuple[RoundRating, ...] = ()  # every round's rating, oldest first
    anomalies: tuple[str, ...] = ()  # steps of a broken history that replay skipped

    @property
    def extended_due(self) -> date | None:
        """The latest date any extension granted (an extension only moves it later)."""
        return max(e.new_due for e in self.extensions) if self.extensions else None

    @property
    def round(self) -> int:
        """The handling round (办理轮次) the case is in: 1, plus one per reopen."""
        return self.reopen_count + 1

    @property
    def rateable(self) -> bool:
        """The current round's resolution waits for its rating (满意度评价)."""
        return self.status is Status.RESOLVED and not any(
            r.round == self.round for r in self.ratings
        )

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
    current_due: date | None = None,
) -> Event:
    """Check an action against the rules and return the event that records it.

    ``current_due``: the Beijing date of the due date in force when the caller's
    calendar knows it (an extension must go beyond it); without it, an extension is
    checked against today and earlier extensions only.
    """
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
            f"案件当前状态为“{label(state.status)}”，不能执行“{label(action)}”",
        )
    if rule.needs_note and not public_note.strip():
        raise TransitionRefused("note_required", f"“{label(action)}”须填写公开说明")
    missing = [key for key in rule.needs if not str(data.get(key, "")).strip()]
    if missing:
        raise TransitionRefused("missing_field", f"缺少字段：{', '.join(missing)}")
    _check_data(state, action, data, at, current_due)
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


def _check_data(
    state: CaseState,
    action: Action,
    data: Mapping[str, str],
    at: datetime,
    current_due: date | None,
) -> None:
    if action is Action.ASSESS and data["priority"] not in set(Priority):
        allowed = "、".join(Priority)
        raise TransitionRefused(
            "invalid_field", f"priority 取值无效：{data['priority']}（可选：{allowed}）"
        )
    elif action is Action.RATE and data["rating"] not in set(Rating):
        allowed = "、".join(Rating)
        raise TransitionRefused(
            "invalid_field", f"rating 取值无效：{data['rating']}（可选：{allowed}）"
        )
    elif action is Action.FOLLOW_UP and data["result"] not in FOLLOW_UP_RESULTS:
        raise TransitionRefused("invalid_field", "回访结果须为 ok 或 failed")
    elif action is Action.EXTEND:
        try:
            new_due = date.fromisoformat(data["new_due"])
        except ValueError as exc:
            raise TransitionRefused("invalid_field", "延期日期格式应为 YYYY-MM-DD") from exc
        known = [d for d in (state.extended_due, current_due) if d is not None]
        refusal = extension_refusal(
            new_due,
            today=at.astimezone(BEIJING).date(),  # deadlines are Beijing dates, not UTC ones
            current_due=max(known) if known else None,
        )
        if refusal:
            raise TransitionRefused("invalid_field", refusal)
    elif action is Action.RATE and not state.rateable:
        raise TransitionRefused("already_rated", "本轮办理结果已经评价过")
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
    """Fold one event into the state. Pure; the same events always give the same state.

    Raises ``TransitionRefused`` for a receipt after the first event, a first event
    that is not a receipt, or an event whose data the step cannot read; ``replay``
    turns these into anomalies instead.
    """
    if event.action is Action.RECEIVE:
        if state is not None:
            raise TransitionRefused("illegal_transition", "a case is received only once")
        try:
            priority = Priority(event.data["priority"])
            category, grid = event.data["category"], event.data["grid"]
        except (KeyError, TypeError, ValueError) as exc:
            raise TransitionRefused("broken_history", f"receipt without {exc}") from exc
        return CaseState(
            status=Status.RECEIVED,
            category=category,
            grid=grid,
            priority=priority,
            received_at=event.at,
            last_seq=event.seq,
            updated_at=event.at,
        )
    if state is None:
        raise TransitionRefused("illegal_transition", "the first event must be a receipt")
    try:
        return _step(state, event)
    except (KeyError, TypeError, ValueError) as exc:
        raise TransitionRefused(
            "broken_history", f"event {event.seq} ({event.action}): unreadable data {exc}"
        ) from exc


_STATE_FIELDS = frozenset(f.name for f in fields(CaseState))


def _with(state: CaseState, **changes: Any) -> CaseState:
    """``dataclasses.replace`` for ``CaseState`` without its per-call walk over the fields
    (replay folds every event through it twice: with ``replace`` it was most of a nightly
    build's replay). The same result: every field is an init field and there is no
    ``__post_init__``; an unknown name is refused as ``replace`` refuses it."""
    if not changes.keys() <= _STATE_FIELDS:
        raise TypeError(f"CaseState has no field {sorted(changes.keys() - _STATE_FIELDS)}")
    new = object.__new__(CaseState)
    values = new.__dict__
    values.update(state.__dict__)
    values.update(changes)
    return new


def _step(state: CaseState, event: Event) -> CaseState:
    step = _with(state, last_seq=event.seq, updated_at=event.at)
    data, note = event.data, event.public_note
    match event.action:
        case Action.ASSESS:
            return _with(
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
            return _with(step, status=Status.IN_PROGRESS)
        case Action.RETURN:
            return _with(
                step, status=Status.ASSESSED, unit=None, return_count=state.return_count + 1
            )
        case Action.CONTACT:
            return _with(step, contacted_at=state.contacted_at or event.at)
        case Action.EXTEND:
            ext = Extension(event.at, date.fromisoformat(data["new_due"]), note)
            return _with(step, extensions=(*state.extensions, ext))
        case Action.SUPERVISE:
            return _with(
                _assigned(step, data["unit"], Status.IN_PROGRESS, Route.ONSITE_SUPERVISION),
                supervised=True,
            )
        case Action.REPORT:
            # No unit holds a case awaiting decision: it waits in the command centre's queue.
            return _with(
                step, status=Status.AWAITING_DECISION, route=Route.SPECIAL_REPORT, unit=None
            )
        case Action.DECIDE:
            return _assigned(step, data["unit"], Status.DISPATCHED, Route.SPECIAL_REPORT)
        case Action.RESOLVE:
            return _closed(step, event, state.route or Route.DISPATCH, Outcome.RESOLVED)
        case Action.REFUSE:
            return _closed(step, event, state.route or Route.DIRECT_ANSWER, Outcome.REFUSED)
        case Action.FOLLOW_UP:
            return _with(step, follow_up_failed=data["result"] == "failed")
        case Action.RATE:
            rating = Rating(data["rating"])
            return _with(
                step,
                status=Status.RATED,
                rating=rating,
                rated_at=event.at,
                ratings=(*state.ratings, RoundRating(state.round, rating, event.at)),
            )
        case Action.REOPEN:
            return _with(
                step,
                status=Status.ASSESSED,
                unit=None,  # back to the command centre to be dispatched again
                outcome=None,
                resolved_at=None,
                follow_up_failed=False,
                # The new round is unrated: the earlier rating stays in ``ratings``.
                rating=None,
                rated_at=None,
                reopen_count=state.reopen_count + 1,
            )
        case Action.MERGE:
            return _with(
                step, status=Status.MERGED, outcome=Outcome.MERGED, merged_into=data["into"]
            )
        case Action.ARCHIVE:
            return _with(step, status=Status.ARCHIVED)
    raise TransitionRefused("unknown_action", f"unknown action {event.action}")


def _assigned(state: CaseState, unit: str, status: Status, route: Route) -> CaseState:
    involved = (
        state.units_involved if unit in state.units_involved else (*state.units_involved, unit)
    )
    return _with(state, status=status, unit=unit, route=route, units_involved=involved)


def _closed(state: CaseState, event: Event, route: Route, outcome: Outcome) -> CaseState:
    # Telling the complainant the result contacts them (联系反映人): the first contact, if
    # none came before. A reopen clears resolved_at, never this.
    return _with(
        state,
        status=Status.RESOLVED,
        route=route,
        outcome=outcome,
        answer=event.public_note,
        resolved_at=event.at,
        contacted_at=state.contacted_at or event.at,
    )


def replay(events: Iterable[Event]) -> CaseState:
    """The state a history leads to. Never raises for a history with at least one event:
    a step that cannot be applied (out of sequence, a second receipt, unreadable data) is
    skipped and named in ``anomalies``; a history that does not start with a readable
    receipt starts from its first event's time with the anomaly named.
    Raises ``TransitionRefused`` only for no events at all (a stored case has its receipt).
    """
    state: CaseState | None = None
    anomalies: list[str] = []
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            anomalies.append(f"第 {expected_seq} 个事件的序号为 {event.seq}")
        try:
            state = apply(state, event)
        except TransitionRefused as exc:
            anomalies.append(f"第 {expected_seq} 个事件（{event.action}）无法应用：{exc.message}")
            state = _skipped(state, event)
    if state is None:
        raise TransitionRefused("broken_history", "a case has at least one event")
    return _with(state, anomalies=tuple(anomalies)) if anomalies else state


def _skipped(state: CaseState | None, event: Event) -> CaseState:
    """The state after a step that could not be applied: unchanged, but the step is counted
    (so the next event's sequence number is still checked against its place)."""
    if state is None:
        data = event.data
        return CaseState(
            status=Status.RECEIVED,
            category=str(data.get("category", "")),
            grid=str(data.get("grid", "")),
            priority=Priority.GENERAL,
            received_at=event.at,
            last_seq=event.seq,
            updated_at=event.at,
        )
    return _with(state, last_seq=event.seq, updated_at=max(event.at, state.updated_at or event.at))


def counted_rating(events: Iterable[Event]) -> RoundRating | None:
    """The rating that counts in the metrics (计入统计的评价): the current round's.

    A case is rated once per resolution; a reopen (重办) starts a new round. Only the
    latest round's rating counts: a reopened case is unrated until the resident rates
    the new resolution (an earlier 不满意 neither counts against nor for it, though it
    stays in the public timeline and in ``reopen_count``). None when the current round
    is not rated (yet). Equal to ``replay(events).rating`` and ``rated_at``, which the
    published record carries as ``rating`` and ``rated_at``.
    """
    state = replay(events)
    latest = state.ratings[-1] if state.ratings else None
    return latest if latest is not None and latest.round == state.round else None


def vote_round(events: Sequence[Event]) -> int:
    """The rating round a stored history's latest rating belongs to (the current round
    when it holds none): what a store keys a loaded vote by."""
    state = replay(events)
    return state.ratings[-1].round if state.ratings else state.round
