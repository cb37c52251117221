"""Use cases: file a complaint, look it up, vote, move a case, sign staff in.

Each use case takes values, calls the pure domain and talks to the store
through ``ports.Store``. Errors leave as ``PortalError`` with an HTTP-ish status,
a stable code and a message in Chinese for people.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache

from gridportal.domain import credentials
from gridportal.domain.calendar import WorkCalendar
from gridportal.domain.credentials import Keys
from gridportal.domain.deadlines import (
    BEIJING,
    MERGED_DEADLINE_NOTE,
    DeadlineReport,
    assess_deadlines,
)
from gridportal.domain.lifecycle import (
    CaseState,
    Forbidden,
    TransitionRefused,
    apply,
    decide,
    receive,
    replay,
)
from gridportal.domain.model import (
    OPEN_STATUSES,
    RESIDENT,
    Action,
    Actor,
    CaseFile,
    Channel,
    Complaint,
    Event,
    Priority,
    Rating,
    Role,
    Status,
)
from gridportal.domain.redaction import KnownPeople, known_data_in
from gridportal.domain.reference import District, ServiceItem
from gridportal.ports import (
    COMMAND_CENTRE,
    AlreadyExists,
    AlreadyVoted,
    CaseHistory,
    CaseRecord,
    Conflict,
    IdempotencyRecord,
    InFlight,
    StaffMember,
    Store,
    Vote,
)

LOOKUP_LOCK_FAILURES = 5
LOOKUP_LOCK_WINDOW = timedelta(hours=24)
# Staff sign-in: 10 wrong passwords within 15 minutes of the first lock the username until
# those 15 minutes end (known or not: the answer stays the same 401 either way).
LOGIN_LOCK_FAILURES = 10
LOGIN_LOCK_WINDOW = timedelta(minutes=15)
MAX_LOCATION = 200
MAX_DESCRIPTION = 2000
MAX_NOTE = 2000
MAX_NAME = 50
MAX_PHONE = 30
_RETRIES = 3
ALREADY_VOTED_MESSAGE = "本次办理结果已经评价过；案件重新办理并再次办结后，可以再次评价。"
# Failures are counted over the window, whatever came between (a right code resets nothing).
LOOKUP_LOCK_RULE = (
    f"{LOOKUP_LOCK_WINDOW // timedelta(hours=1)} 小时内累计输错 {LOOKUP_LOCK_FAILURES} 次，"
    "该受理编号的查询会暂时锁定"
)
NOT_FOUND_MESSAGE = f"受理编号或查询码不正确，请核对后重试。{LOOKUP_LOCK_RULE}。"


class PortalError(Exception):
    status = 400

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class InvalidInput(PortalError):
    status = 400


class NotFound(PortalError):
    status = 404


class AccessDenied(PortalError):
    status = 403


class Unauthenticated(PortalError):
    status = 401


class ConflictError(PortalError):
    status = 409


class MismatchedRetry(PortalError):
    status = 422


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CaseView:
    """A case as one reader may see it: the record, its events, state and deadlines."""

    record: CaseRecord
    events: tuple[Event, ...]
    state: CaseState
    deadlines: DeadlineReport | None
    deadline_note: str
    vote: Vote | None
    # Display names of the staff who acted on the case (``staff_names``), for the redactor
    # of a resident's view; read only for those views.
    staff: tuple[str, ...] = ()


def staff_names(store: Store, events: Iterable[Event], seen: dict[str, str]) -> tuple[str, ...]:
    """Display names of the staff who acted on a case: its scrubber removes them unless
    they are on a grid bulletin (docs/privacy.md). ``seen`` keeps each account read once."""
    names: list[str] = []
    for event in events:
        if event.actor.role in (Role.RESIDENT, Role.SYSTEM):
            continue
        if event.actor.id not in seen:
            member = store.get_staff(event.actor.id)
            seen[event.actor.id] = member.display_name if member else ""
        if seen[event.actor.id]:
            names.append(seen[event.actor.id])
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class QueueItem:
    """A case on a desk, as its record's snapshot tells it (no events read)."""

    record: CaseRecord
    deadlines: DeadlineReport | None
    deadline_note: str


@dataclass(frozen=True)
class Queue:
    """One page of a desk's queue; ``after`` asks for the next page (None: the last)."""

    items: tuple[QueueItem, ...]
    after: str | None

    def __iter__(self) -> Iterator[QueueItem]:
        return iter(self.items)


class LookupLocked(PortalError):
    """Too many wrong lookup codes for one tracking number, known or not (the answer
    says nothing of whether the case exists); ``until`` says when lookups open again."""

    status = 429

    def __init__(self, until: datetime | None) -> None:
        super().__init__("lookup_locked", "查询错误次数过多，该受理编号的查询已暂时锁定。")
        self.until = until


def lookup_attempt(tracking: str) -> str:
    """The attempts key that guards a case's lookup code."""
    return f"lookup:{tracking}"


@dataclass(frozen=True)
class Receipt:
    """What a complainant gets once: the tracking number and their two secrets."""

    tracking: str
    lookup_code: str
    vote_token: str
    view: CaseView


class Portal:
    def __init__(
        self,
        *,
        store: Store,
        district: District,
        calendar: WorkCalendar,
        keys: Keys,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.district = district
        self.calendar = calendar
        self.keys = keys
        self.clock = clock

    # ----------------------------------------------------------------- residents
    def file_complaint(
        self,
        complaint: Complaint,
        *,
        actor: Actor = RESIDENT,
        idempotency_key: str | None = None,
    ) -> Receipt:
        service = self._check_complaint(complaint, actor)
        key_hash = self.keys.digest("idempotency", idempotency_key) if idempotency_key else None
        request_hash = _request_hash(complaint, actor)
        if key_hash and (earlier := self.store.get_idempotency(key_hash)):
            return self._replay_receipt(earlier, request_hash, idempotency_key)
        lookup_code, vote_token = self.keys.resident_codes(idempotency_key)
        now = self.clock()
        for _ in range(_RETRIES):
            tracking = credentials.new_tracking()
            record = CaseRecord(
                file=CaseFile(
                    tracking=tracking,
                    public_id=self.keys.public_id(tracking),
                    complaint=complaint,
                    filed_at=now,
                    filed_by=actor,
                ),
                lookup_hash=self.keys.digest("lookup", lookup_code),
                vote_hash=self.keys.digest("vote", vote_token),
                status=Status.RECEIVED,
                unit=None,
                seq=1,
                updated_at=now,
                idempotency_key=key_hash,
            )
            try:
                first = receive(
                    at=now,
                    actor=actor,
                    category=complaint.category,
                    grid=complaint.grid,
                    priority=service.priority,
                )
            except Forbidden as exc:
                raise AccessDenied(exc.code, "该角色不能登记案件。") from exc
            record = record.with_state(apply(None, first))  # the snapshot the queue reads
            idempotency = (
                IdempotencyRecord(key_hash, request_hash, tracking, now) if key_hash else None
            )
            try:
                self.store.create_case(record, first, idempotency)
            except InFlight as exc:
                raise ConflictError("in_flight", "相同的请求正在处理中，请稍后重试。") from exc
            except AlreadyExists:
                if key_hash and (earlier := self.store.get_idempotency(key_hash)):
                    return self._replay_receipt(earlier, request_hash, idempotency_key)
                continue  # a tracking number collision: draw again
            return Receipt(tracking, lookup_code, vote_token, self._view(record, (first,)))
        raise ConflictError("busy", "系统繁忙，请稍后重试。")

    def _replay_receipt(
        self, earlier: IdempotencyRecord, request_hash: str, idempotency_key: str | None
    ) -> Receipt:
        if earlier.request_hash != request_hash:
            raise MismatchedRetry(
                "idempotency_mismatch", "同一请求编号已用于内容不同的投诉，请刷新页面后重新提交。"
            )
        history = self.store.get_history(earlier.tracking)
        if history is None:  # the idempotency record is written with the case: cannot happen
            raise ConflictError("in_flight", "相同的请求正在处理中，请稍后重试。")
        lookup_code, vote_token = self.keys.resident_codes(idempotency_key)
        view = self._view_of(history, resident=True)
        return Receipt(history.record.tracking, lookup_code, vote_token, view)

    def lookup(self, tracking: str, code: str) -> CaseView:
        """Tracking number + lookup code. Every failure looks the same from outside."""
        tracking = credentials.normalise_tracking(tracking)
        history = self.store.get_history(tracking) if tracking else None
        now = self.clock()
        stored_hash = history.record.lookup_hash if history else "0" * 64
        code_ok = self.keys.matches("lookup", code.strip(), stored_hash)  # also when unknown
        if not tracking:
            raise NotFound("not_found", NOT_FOUND_MESSAGE)
        # An attempt is taken before the answer is given, so parallel guesses count too;
        # a right code gives its attempt back. Unknown numbers lock alike, so that a lock
        # tells nothing of whether the case exists.
        attempt = lookup_attempt(tracking)
        if not self.store.reserve_attempt(attempt, now, LOOKUP_LOCK_WINDOW, LOOKUP_LOCK_FAILURES):
            raise LookupLocked(self.lookup_locked_until(tracking))
        if history is None or not code_ok:
            raise NotFound("not_found", NOT_FOUND_MESSAGE)
        self.store.release_attempt(attempt)
        return self._view_of(history, resident=True)

    def lookup_locked_until(self, tracking: str) -> datetime | None:
        """When lookups of this case open again, if too many wrong codes locked them."""
        return self.store.attempts_locked_until(
            lookup_attempt(credentials.normalise_tracking(tracking)),
            self.clock(),
            LOOKUP_LOCK_WINDOW,
            LOOKUP_LOCK_FAILURES,
        )

    def vote(self, tracking: str, token: str, rating: Rating, comment: str = "") -> CaseView:
        tracking = credentials.normalise_tracking(tracking)
        if len(comment) > MAX_NOTE:
            raise InvalidInput("too_long", f"评价内容不能超过{MAX_NOTE}字。", "comment")
        for _ in range(_RETRIES):
            history = self.store.get_history(tracking) if tracking else None
            if history is None or not self.keys.matches(
                "vote", token.strip(), history.record.vote_hash
            ):
                raise NotFound("not_found", "受理编号或评价码不正确。")
            record, events = history.record, history.events
            state = replay(events)
            # One rating per resolution: a reopen (重办) starts a round the same vote code
            # rates again; the store keeps the latest round's vote, the events every one.
            if not state.rateable:
                if state.ratings and state.ratings[-1].round == state.round:
                    vote = history.vote
                    if vote is not None and (vote.rating, vote.comment) == (
                        rating,
                        comment.strip(),
                    ):
                        # A retry of this vote: its success again.
                        return self._view_of(history, resident=True)
                    raise ConflictError("already_voted", ALREADY_VOTED_MESSAGE)
                raise ConflictError("not_resolved", "案件办结后才能评价。")
            now = self.clock()
            event = decide(
                state,
                Action.RATE,
                RESIDENT,
                at=now,
                private_note=comment,  # each round's comment stays in the history, unpublished
                data={"rating": str(rating)},
            )
            vote = Vote(rating, comment.strip(), now)
            rated = apply(state, event)
            try:
                record = self.store.record_vote(record, vote, event, rated)
            except (AlreadyVoted, Conflict):  # read again: a retry of this vote replays
                continue
            return self._view(record, (*events, event), rated, vote)
        raise ConflictError("busy", "案件正在更新，请稍后重试。")

    # --------------------------------------------------------------------- staff
    def login(self, username: str, password: str) -> str:
        """A session token for the right password. A wrong one, an unknown or disabled
        account and a locked username all get the same answer at the same cost."""
        member = self.store.get_staff(username)
        stored = member.password_hash if member else _unknown_user_hash()
        now = self.clock()
        # The attempt is taken before the password is checked, so parallel guesses count;
        # the right password gives it back.
        attempt = f"login:{username}"
        allowed = self.store.reserve_attempt(attempt, now, LOGIN_LOCK_WINDOW, LOGIN_LOCK_FAILURES)
        ok = credentials.verify_password(password, stored)  # also when locked or unknown
        if member is None or not ok or not member.active or not allowed:
            raise Unauthenticated("bad_credentials", "用户名或密码错误。")
        self.store.release_attempt(attempt)
        if credentials.needs_rehash(stored):  # older parameters or the scrypt of old stores
            self.store.put_staff(replace(member, password_hash=credentials.hash_password(password)))
        return self.keys.sign_session(member.username, now.timestamp())

    def authenticate(self, bearer: str) -> Actor:
        username = self.keys.open_session(bearer, self.clock().timestamp())
        member = self.store.get_staff(username) if username else None
        if member is None or not member.active:
            raise Unauthenticated("unauthenticated", "请先登录。")
        return Actor(member.role, member.username, member.unit)

    def add_staff(
        self, username: str, display_name: str, role: Role, unit: str | None, password: str
    ) -> StaffMember:
        if role in (Role.RESIDENT, Role.SYSTEM):
            raise InvalidInput("invalid_role", "该角色不能用于工作人员。", "role")
        if role is Role.HANDLER and not (unit and self.district.department(unit)):
            raise InvalidInput("unknown_unit", "承办人须属于已知部门。", "unit")
        if role is Role.GRID_WORKER and not (unit and self.district.grid(unit)):
            raise InvalidInput("unknown_grid", "网格员须属于已知网格。", "unit")
        member = StaffMember(
            username, display_name, role, unit, credentials.hash_password(password)
        )
        self.store.put_staff(member)
        return member

    def act(
        self,
        tracking: str,
        action: Action,
        actor: Actor,
        *,
        public_note: str = "",
        private_note: str = "",
        data: Mapping[str, str] | None = None,
    ) -> CaseView:
        """Move a case one step; refused actions raise and change nothing."""
        if len(public_note) > MAX_NOTE or len(private_note) > MAX_NOTE:
            raise InvalidInput("too_long", f"说明不能超过{MAX_NOTE}字。", "public_note")
        data = dict(data or {})
        if "into" in data:
            data["into"] = credentials.normalise_tracking(data["into"])
        self._check_action_data(action, data, tracking)
        for _ in range(_RETRIES):
            view = self.staff_view(tracking, actor)
            self._check_public_note(public_note, view)
            try:
                event = decide(
                    view.state,
                    action,
                    actor,
                    at=max(self.clock(), view.state.updated_at or view.state.received_at),
                    public_note=public_note,
                    private_note=private_note,
                    data=data,
                    current_due=due_date(view.deadlines),
                )
            except Forbidden as exc:
                raise AccessDenied(exc.code, exc.message) from exc
            except TransitionRefused as exc:
                # The case is not in a state for this (409); anything else is a bad request.
                if exc.code in ("illegal_transition", "time_order"):
                    raise ConflictError(exc.code, exc.message) from exc
                raise InvalidInput(exc.code, exc.message) from exc
            state = apply(view.state, event)
            try:
                record = self.store.append_event(view.record, event, state)
            except Conflict:
                continue
            return self._view(record, (*view.events, event), state, view.vote)
        raise ConflictError("busy", "案件正在被他人更新，请刷新后重试。")

    @staticmethod
    def _check_public_note(note: str, view: CaseView) -> None:
        """A public note that names the complainant or gives their phone, in any form,
        is refused before anything is stored: staff write 投诉人 instead."""
        if not note:
            return
        found = known_data_in(note, KnownPeople.of_contact(view.record.file.complaint.contact))
        if found:
            what = "、".join({"name": "姓名", "phone": "电话"}[k] for k in found)
            raise InvalidInput(
                "personal_data",
                f"公开说明中含有投诉人的{what}，请改称“投诉人”；"
                "联系情况请写入内部备注（private_note，命令行为 --private-note）。",
                "public_note",
            )

    def staff_view(self, tracking: str, actor: Actor) -> CaseView:
        history = self.store.get_history(credentials.normalise_tracking(tracking))
        if history is None:
            raise NotFound("not_found", "没有这个案件。")
        view = self._view_of(history)
        if not can_see(actor, view.state):
            raise AccessDenied("forbidden", "无权查看该案件。")
        return view

    def queue(self, actor: Actor, after: str | None = None) -> Queue:
        """One page of the open cases waiting on this actor's desk, oldest change first,
        read from the queue index alone: no case is replayed."""
        if actor.role is Role.HANDLER and actor.unit:
            desk = actor.unit
        elif actor.role in (Role.DISPATCHER, Role.SUPERVISOR, Role.AUDITOR):
            desk = COMMAND_CENTRE
        else:
            raise AccessDenied("forbidden", "该角色没有待办队列。")
        try:
            page = self.store.queue_page(desk, after=after)
        except ValueError as exc:  # a cursor the store did not write
            raise InvalidInput(
                "invalid_cursor", "翻页参数无效，请从第一页重新查看。", "after"
            ) from exc
        items = tuple(QueueItem(r, *self.open_deadlines_of(r)) for r in page.records)
        return Queue(items, page.after)

    # ------------------------------------------------------------------- helpers
    def deadlines_of(self, state: CaseState) -> tuple[DeadlineReport | None, str]:
        """A case's deadlines from its replayed state, judged now; a note when the
        calendar does not reach them yet. A duplicate merged into another case (已合并)
        has none of its own: it is handled as that case."""
        if state.status is Status.MERGED:
            return None, MERGED_DEADLINE_NOTE
        return self._deadlines(
            received_at=state.received_at,
            priority=state.priority,
            contacted_at=state.contacted_at,
            resolved_at=state.resolved_at,
            extended_due=state.extended_due,
            updated_at=state.updated_at or state.received_at,
        )

    def open_deadlines_of(self, record: CaseRecord) -> tuple[DeadlineReport | None, str]:
        """An open case's deadlines from its record's snapshot alone, without a replay:
        the same rule as ``deadlines_of`` (an open case has no resolution yet)."""
        if record.status not in OPEN_STATUSES:
            raise ValueError(f"{record.tracking} is closed: its deadlines need its events")
        if record.priority is None:  # a record written before the snapshot existed
            return None, ""
        return self._deadlines(
            received_at=record.file.filed_at,
            priority=record.priority,
            contacted_at=record.contacted_at,
            resolved_at=None,
            extended_due=record.extended_due,
            updated_at=record.updated_at,
        )

    def _deadlines(
        self,
        *,
        received_at: datetime,
        priority: Priority,
        contacted_at: datetime | None,
        resolved_at: datetime | None,
        extended_due: date | None,
        updated_at: datetime,
    ) -> tuple[DeadlineReport | None, str]:
        now = max(self.clock(), updated_at)
        # Whatever the calendar covers is computed; only what needs a later year is 待定.
        report = assess_deadlines(
            received_at=received_at,
            priority=priority,
            calendar=self.calendar,
            contacted_at=contacted_at,
            resolved_at=resolved_at,
            extended_due=extended_due,
            now=now,
        )
        return report, report.pending_note()

    def _view(
        self,
        record: CaseRecord,
        events: tuple[Event, ...],
        state: CaseState | None = None,
        vote: Vote | None = None,
    ) -> CaseView:
        state = state or replay(events)
        report, note = self.deadlines_of(state)
        return CaseView(record, events, state, report, note, vote)

    def _view_of(self, history: CaseHistory, *, resident: bool = False) -> CaseView:
        """``resident``: the view a complainant gets, with the staff names its redactor
        removes (a key read per staff member who acted)."""
        view = self._view(history.record, history.events, vote=history.vote)
        if resident:
            view = replace(view, staff=staff_names(self.store, history.events, {}))
        return view

    def _check_complaint(self, complaint: Complaint, actor: Actor) -> ServiceItem:
        service = self.district.service(complaint.category)
        if service is None:
            raise InvalidInput("unknown_category", "请选择有效的事项类别。", "category")
        grid = self.district.grid(complaint.grid)
        if grid is None:
            raise InvalidInput("unknown_grid", "请选择有效的网格。", "grid")
        for name, text, limit in (
            ("location", complaint.location, MAX_LOCATION),
            ("description", complaint.description, MAX_DESCRIPTION),
        ):
            if not text.strip():
                raise InvalidInput("required", "此项不能为空。", name)
            if len(text) > limit:
                raise InvalidInput("too_long", f"不能超过{limit}字。", name)
        if len(complaint.contact.name) > MAX_NAME or len(complaint.contact.phone) > MAX_PHONE:
            raise InvalidInput("too_long", "联系方式过长。", "phone")
        if actor.role is Role.GRID_WORKER:
            if complaint.channel is not Channel.PATROL:
                raise InvalidInput("invalid_channel", "网格员上报的渠道应为巡查。", "channel")
            if actor.unit != complaint.grid:
                raise AccessDenied("forbidden", "网格员只能上报本网格的事项。")
        elif complaint.channel is Channel.PATROL:
            raise AccessDenied("forbidden", "只有网格员可以巡查上报。")
        return service

    def _check_action_data(self, action: Action, data: Mapping[str, str], tracking: str) -> None:
        unit = data.get("unit")
        if unit is not None and self.district.department(unit) is None:
            raise InvalidInput("unknown_unit", f"未知部门：{unit}", "unit")
        category = data.get("category")
        if category is not None and self.district.service(category) is None:
            raise InvalidInput("unknown_category", f"未知事项类别：{category}", "category")
        if action is Action.MERGE:
            into = credentials.normalise_tracking(data.get("into", ""))
            if into == credentials.normalise_tracking(tracking) or not self.store.get_case(into):
                raise InvalidInput("unknown_case", "合并目标须为另一件已有案件。", "into")


def due_date(report: DeadlineReport | None) -> date | None:
    """The Beijing date of the due date in force, when the calendar knows it (the rule
    an extension is checked against, by the staff API and the importer alike)."""
    due = report.due if report else None
    return due.astimezone(BEIJING).date() if due else None


@cache
def _unknown_user_hash() -> str:
    """An unknown username is checked against this, so it costs one Argon2 verification like a
    known one (made on first use, not at import: the API's cold start stays light)."""
    return credentials.hash_password(credentials.new_tracking())


def can_see(actor: Actor, state: CaseState) -> bool:
    """Who may read a case's private record (handlers: their unit's cases only)."""
    if actor.role in (Role.DISPATCHER, Role.SUPERVISOR, Role.AUDITOR, Role.SYSTEM):
        return True
    if actor.role is Role.HANDLER:
        return actor.unit is not None and (
            actor.unit == state.unit or actor.unit in state.units_involved
        )
    if actor.role is Role.GRID_WORKER:
        return actor.unit == state.grid
    return False


def may_see_contact(actor: Actor, state: CaseState) -> bool:
    """Contact data goes to those who must call the complainant back, no one else."""
    if actor.role in (Role.DISPATCHER, Role.SUPERVISOR):
        return True
    return actor.role is Role.HANDLER and actor.unit == state.unit


def _request_hash(complaint: Complaint, actor: Actor) -> str:
    canonical = json.dumps(
        {
            "category": complaint.category,
            "grid": complaint.grid,
            "location": complaint.location,
            "description": complaint.description,
            "channel": str(complaint.channel),
            "name": complaint.contact.name,
            "phone": complaint.contact.phone,
            "actor": [str(actor.role), actor.id],
        },
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
