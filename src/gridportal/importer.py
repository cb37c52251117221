"""Bulk import of cases and their events from the platforms that already exist.

The 12345 hotline, the WeChat account and the grid platform each keep their own
work orders. An export from one of them (CSV, one row per event, or JSON, one
object per case) is read whole, every case is replayed through the real domain
rules (``lifecycle.receive`` and ``lifecycle.decide``) and checked against the
reference data, and only when the whole file is valid are the case histories
written with ``Store.put_history``. See docs/import.md for the format.

Re-importing is safe: a case's tracking number is derived from
(source system, external id), a case already stored with the same events is left
alone, a later export that only adds events appends them, and one that would
rewrite a stored event is refused.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import PurePath
from typing import Any, Literal, NamedTuple, TypeVar

from gridportal.domain.credentials import Keys
from gridportal.domain.lifecycle import CaseState, TransitionRefused, apply, decide, receive, replay
from gridportal.domain.model import (
    Action,
    Actor,
    CaseFile,
    Channel,
    Complaint,
    Contact,
    Event,
    Priority,
    Rating,
    Role,
    label,
)
from gridportal.ports import CaseRecord, Vote
from gridportal.services import (
    MAX_DESCRIPTION,
    MAX_LOCATION,
    MAX_NAME,
    MAX_NOTE,
    MAX_PHONE,
    Portal,
    due_date,
)

Format = Literal["csv", "json"]

MAX_ERRORS = 100  # errors listed in a report; the rest are only counted
MAX_EXTERNAL_ID = 64
MAX_ACTOR_ID = 64
SOURCE_SYSTEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")

# Columns that describe the case as filed: on the receive row in CSV, on the case
# object in JSON. ``category`` on an ``assess`` row is a reclassification instead.
CASE_COLUMNS = ("category", "grid", "channel", "location", "description")
CONTACT_COLUMNS = ("contact_name", "contact_phone")
EVENT_COLUMNS = (
    "event_seq",
    "event_time",
    "action",
    "actor_role",
    "actor_id",
    "actor_unit",
    "priority",
    "category",
    "unit",
    "new_due",
    "result",
    "rating",
    "into",
    "public_note",
    "private_note",
)
COLUMNS = (
    "external_id",
    "event_seq",
    "event_time",
    "action",
    "actor_role",
    "actor_id",
    "actor_unit",
    *CASE_COLUMNS,
    *CONTACT_COLUMNS,
    "priority",
    "unit",
    "new_due",
    "result",
    "rating",
    "into",
    "public_note",
    "private_note",
)
REQUIRED_COLUMNS = ("external_id", "event_seq", "event_time", "action", "actor_role")

# The arguments each action takes from its row; any other argument column must be
# empty, so that a shifted column is caught rather than silently ignored.
ACTION_DATA: Mapping[Action, tuple[str, ...]] = {
    Action.RECEIVE: ("priority",),
    Action.ASSESS: ("priority", "category"),
    Action.DISPATCH: ("unit",),
    Action.SUPERVISE: ("unit",),
    Action.DECIDE: ("unit",),
    Action.EXTEND: ("new_due",),
    Action.FOLLOW_UP: ("result",),
    Action.RATE: ("rating",),
    Action.MERGE: ("into",),
}
DATA_COLUMNS = ("priority", "category", "unit", "new_due", "result", "rating", "into")

# Provenance kept in the private receive event: which work order a case came from.
SOURCE_KEY = "import_source"
EXTERNAL_KEY = "external_id"


class RowError(NamedTuple):
    """Where a problem is (CSV: physical line, header = 1; JSON: a path) and what it is."""

    line: int | str
    message: str


@dataclass
class ImportReport:
    """What an import did, or why it did nothing."""

    source_system: str
    created: int = 0
    appended: int = 0  # stored cases that received later events
    unchanged: int = 0
    written: int = 0  # new events written (a created case counts all of its events)
    errors: list[RowError] = field(default_factory=list)
    omitted_errors: int = 0  # errors beyond MAX_ERRORS, counted but not listed
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """A short report in Chinese for the command line."""
        if self.errors:
            total = len(self.errors) + self.omitted_errors
            lines = [f"导入失败，未写入任何数据。共发现 {total} 处错误："]
            lines += [f"  {where_label(e.line)}：{e.message}" for e in self.errors]
            if self.omitted_errors:
                lines.append(f"  ……另有 {self.omitted_errors} 处错误未列出。")
            return "\n".join(lines)
        verb = "检查通过（试运行，未写入）" if self.dry_run else "导入完成"
        return (
            f"{verb}：来源 {self.source_system}，新建 {self.created} 件，"
            f"追加 {self.appended} 件，未变 {self.unchanged} 件，"
            f"{'将写入' if self.dry_run else '写入'}事件 {self.written} 条。"
        )


def where_label(line: int | str) -> str:
    return f"第 {line} 行" if isinstance(line, int) else line


def format_of(filename: str) -> Format:
    """The format a file's name says it is in (``.csv`` or ``.json``)."""
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".json":
        return "json"
    raise ValueError(f"cannot tell the format of {filename!r}: expected .csv or .json")


def tracking_for(keys: Keys, source_system: str, external_id: str) -> str:
    """The tracking number of an imported case: 12 digits, no leading zero, the same on
    every import of the same work order, and not guessable without the server's key.
    (A source name cannot contain ":", so the HMAC input is unambiguous.)"""
    number = int(keys.digest("import", f"{source_system}:{external_id}"), 16)
    return str(10**11 + number % (9 * 10**11))


def import_actor(source_system: str) -> Actor:
    """``filed_by`` of every imported case."""
    return Actor(Role.SYSTEM, f"import:{source_system}")


def import_cases(
    text: str,
    *,
    fmt: Format,
    portal: Portal,
    source_system: str,
    now: datetime,
    dry_run: bool = False,
) -> ImportReport:
    """Validate a whole export and, only if all of it is valid, write it.

    ``now`` is the moment of the import: events may not be later, and created or
    appended cases get it as their last change so the nightly build publishes them.
    With ``dry_run`` everything is checked and counted but nothing is written.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if fmt not in ("csv", "json"):
        raise ValueError(f"unknown import format {fmt!r}")
    report = ImportReport(source_system=source_system, dry_run=dry_run)
    errors = _Errors()
    if not SOURCE_SYSTEM.fullmatch(source_system):
        errors.add(
            "source_system",
            f"来源系统名称无效：{source_system!r}（限字母、数字、._-，不超过40个字符）",
        )
        return _failed(report, errors)
    text = text.removeprefix("\ufeff")  # spreadsheets save UTF-8 with a byte-order mark
    raw_cases = (
        _parse_csv(text, errors) if fmt == "csv" else _parse_json(text, source_system, errors)
    )
    plans = _Checker(portal, source_system, now, errors).check(raw_cases)
    if errors:
        return _failed(report, errors)
    for plan in plans:
        if plan.kind == "created":
            report.created += 1
        elif plan.kind == "appended":
            report.appended += 1
        else:
            report.unchanged += 1
            continue
        if not dry_run:
            portal.store.put_history(plan.record, plan.events, plan.vote)
        report.written += plan.new_events
    return report


def _failed(report: ImportReport, errors: _Errors) -> ImportReport:
    # CSV problems are found in two passes (reading, then the rules): list them by line.
    lines = [error.line for error in errors.items]
    if all(isinstance(line, int) for line in lines):
        errors.items.sort(key=lambda error: error.line)
    report.errors = errors.items
    report.omitted_errors = errors.omitted
    return report


class _Errors:
    def __init__(self, cap: int = MAX_ERRORS) -> None:
        self.items: list[RowError] = []
        self.omitted = 0
        self._cap = cap

    def add(self, where: int | str, message: str) -> None:
        if len(self.items) < self._cap:
            self.items.append(RowError(where, message))
        else:
            self.omitted += 1

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items) + self.omitted


# ------------------------------------------------------------------- parsing
@dataclass
class _Row:
    """One event as read from the file: non-empty, stripped values by column name."""

    where: int | str
    values: dict[str, str]


@dataclass
class _RawCase:
    external_id: str
    where: int | str  # where the case's filing details are (receive row / case object)
    fields: dict[str, str] = field(default_factory=dict)
    rows: list[_Row] = field(default_factory=list)
    broken: bool = False  # a structural error is already reported: skip the rules


def _parse_csv(text: str, errors: _Errors) -> list[_RawCase]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        errors.add(1, "文件为空，缺少表头行")
        return []
    except csv.Error as exc:
        errors.add(1, f"CSV 格式错误：{exc}")
        return []
    unknown = [name for name in header if name not in COLUMNS]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    for problem, names in (("未知列", unknown), ("重复列", duplicated), ("缺少必需列", missing)):
        if names:
            errors.add(1, f"{problem}：{', '.join(names)}")
    if unknown or duplicated or missing:
        return []

    cases: list[_RawCase] = []
    first_line: dict[str, int] = {}
    while True:
        line = reader.line_num + 1  # a quoted field may span lines: report where the row starts
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.add(line, f"CSV 格式错误：{exc}")
            break  # the reader cannot resynchronise after a broken quote
        if not any(cell.strip() for cell in cells):
            continue
        values = {name: cell.strip() for name, cell in zip(header, cells, strict=False)}
        values = {name: value for name, value in values.items() if value}
        external_id = values.pop("external_id", "")
        if len(cells) != len(header):
            errors.add(line, f"列数不符：表头有 {len(header)} 列，此行有 {len(cells)} 列")
            # Keep the case's other rows from being checked without this one.
            if cases and cases[-1].external_id == external_id:
                cases[-1].broken = True
            elif external_id and external_id not in first_line:
                cases.append(_RawCase(external_id, line, broken=True))
                first_line[external_id] = line
            continue
        if not external_id:
            errors.add(line, "external_id 不能为空")
            continue
        if cases and cases[-1].external_id == external_id:
            case = cases[-1]
        elif external_id in first_line:
            earlier = first_line[external_id]
            errors.add(
                line, f"[{external_id}] 同一案件的事件须连续排列，该案件已出现在第 {earlier} 行"
            )
            continue
        else:
            case = _RawCase(external_id, line)
            cases.append(case)
            first_line[external_id] = line
        if not case.rows and values.get("action") == Action.RECEIVE:
            for name in (*CASE_COLUMNS, *CONTACT_COLUMNS):
                if name in values:
                    case.fields[name] = values.pop(name)
            case.where = line
        else:
            # category may recur on an assess row (reclassification); the rest may not.
            misplaced = [
                name
                for name in (*CASE_COLUMNS, *CONTACT_COLUMNS)
                if name in values and name != "category"
            ]
            if misplaced:
                errors.add(
                    line,
                    f"[{external_id}] {', '.join(misplaced)} 只能写在案件的受理（receive）行",
                )
                case.broken = True
        case.rows.append(_Row(line, values))
    return cases


def _parse_json(text: str, source_system: str, errors: _Errors) -> list[_RawCase]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        errors.add(exc.lineno, f"JSON 格式错误：{exc.msg}（第 {exc.colno} 列）")
        return []
    if not isinstance(document, dict) or not isinstance(document.get("cases"), list):
        errors.add("$", '文件须为一个对象，含 "cases" 数组')
        return []
    extra = sorted(set(document) - {"source_system", "cases"})
    if extra:
        errors.add("$", f"未知字段：{', '.join(extra)}")
    declared = document.get("source_system")
    if declared is not None and declared != source_system:
        errors.add(
            "source_system",
            f"文件声明的来源系统为 {declared!r}，与本次导入指定的 {source_system!r} 不一致",
        )

    cases: list[_RawCase] = []
    first_seen: dict[str, str] = {}
    case_keys = {"external_id", "events", *CASE_COLUMNS, *CONTACT_COLUMNS}
    for i, item in enumerate(document["cases"]):
        where = f"cases[{i}]"
        if not isinstance(item, dict):
            errors.add(where, "每个案件须为一个对象")
            continue
        found = len(errors)
        case_values = _json_values(item, case_keys - {"events"}, where, errors, allowed=case_keys)
        external_id = case_values.pop("external_id", "")
        if not external_id:
            errors.add(where, "external_id 不能为空")
            continue
        if external_id in first_seen:
            errors.add(where, f"[{external_id}] 与 {first_seen[external_id]} 重复")
            continue
        first_seen[external_id] = where
        case = _RawCase(external_id, where, fields=case_values)
        cases.append(case)
        events = item.get("events")
        if not isinstance(events, list) or not events:
            errors.add(where, f"[{external_id}] events 须为非空数组")
            case.broken = True
            continue
        for j, event in enumerate(events):
            event_where = f"{where}.events[{j}]"
            if not isinstance(event, dict):
                errors.add(event_where, "每个事件须为一个对象")
                case.broken = True
                continue
            values = _json_values(event, set(EVENT_COLUMNS), event_where, errors)
            case.rows.append(_Row(event_where, values))
        if len(errors) > found:  # the rules would only repeat what is already reported
            case.broken = True
    return cases


def _json_values(
    item: Mapping[str, Any],
    keys: set[str],
    where: str,
    errors: _Errors,
    *,
    allowed: set[str] | None = None,
) -> dict[str, str]:
    """Text values of an object's known keys; numbers allowed for ids and sequence numbers."""
    unknown = sorted(set(item) - (allowed if allowed is not None else keys))
    if unknown:
        errors.add(where, f"未知字段：{', '.join(unknown)}")
    values: dict[str, str] = {}
    for key in sorted(keys & set(item)):
        value = item[key]
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool) and key in _NUMERIC_KEYS:
            value = str(value)
        if not isinstance(value, str):
            errors.add(where, f"{key} 须为字符串")
            continue
        if value.strip():
            values[key] = value.strip()
    return values


_NUMERIC_KEYS = frozenset({"external_id", "event_seq"})


# ------------------------------------------------------------------ checking
@dataclass(frozen=True)
class _Plan:
    kind: Literal["created", "appended", "unchanged"]
    record: CaseRecord
    events: tuple[Event, ...]
    new_events: int
    vote: Vote | None


class _Checker:
    """Replays every case of the file through the domain rules against what is stored."""

    def __init__(self, portal: Portal, source_system: str, now: datetime, errors: _Errors):
        self.portal = portal
        self.district = portal.district
        self.store = portal.store
        self.source = source_system
        self.actor = import_actor(source_system)
        self.now = now
        self.errors = errors
        self.in_file: set[str] = set()

    def check(self, cases: list[_RawCase]) -> list[_Plan]:
        self.in_file = {case.external_id for case in cases}
        owners: dict[str, str] = {}
        plans: list[_Plan] = []
        for case in cases:
            if len(case.external_id) > MAX_EXTERNAL_ID:
                self.errors.add(case.where, f"external_id 不能超过 {MAX_EXTERNAL_ID} 个字符")
                continue
            tracking = self.tracking(case.external_id)
            if owners.setdefault(tracking, case.external_id) != case.external_id:
                # Astronomically rare, but two work orders must never share a case.
                self.errors.add(
                    case.where,
                    f"[{case.external_id}] 受理编号与 {owners[tracking]} 冲突，请联系管理员",
                )
                continue
            if case.broken:
                continue
            plan = self._plan(case, tracking)
            if plan is not None:
                plans.append(plan)
        return plans

    def tracking(self, external_id: str) -> str:
        return tracking_for(self.portal.keys, self.source, external_id)

    def fail(self, case: _RawCase, where: int | str, message: str) -> None:
        self.errors.add(where, f"[{case.external_id}] {message}")

    def _plan(self, case: _RawCase, tracking: str) -> _Plan | None:
        stored = self.store.get_case(tracking)
        stored_events = self.store.get_events(tracking) if stored else []
        if stored is not None and not self._ours(stored, stored_events, case.external_id):
            self.fail(case, case.where, "受理编号已被另一案件占用，未导入；请联系管理员")
            return None
        seqs = self._sequence(case)
        if seqs is None:
            return None
        first, known = seqs[0], len(stored_events)
        if first > known + 1:
            message = (
                "该案件尚未导入，事件须从受理（receive,event_seq 为 1）开始"
                if stored is None
                else f"已导入 {known} 个事件，本文件从第 {first} 个开始，中间缺少事件"
            )
            self.fail(case, case.rows[0].where, message)
            return None
        if first > 1 and case.fields:
            self.fail(case, case.where, "案件信息（category、grid 等）只能随受理事件提供")
            return None

        state = replay(stored_events[: first - 1]) if first > 1 else None
        complaint = stored.file.complaint if stored else None
        new: list[Event] = []
        for row in case.rows:
            built = self._event(case, row, state)
            if built is None:
                return None  # later events depend on this one: one error per case
            event, filed = built
            if filed is not None:
                if complaint is not None and filed != complaint:
                    self.fail(case, case.where, "案件信息与已导入的不同；已导入的内容不能改写")
                    return None
                complaint = filed
            if event.seq <= known:
                if event != stored_events[event.seq - 1]:
                    self.fail(
                        case,
                        row.where,
                        f"与已导入的第 {event.seq} 个事件不同；"
                        "已导入的事件不能改写，只能在其后追加",
                    )
                    return None
            else:
                new.append(event)
            state = apply(state, event)
        assert state is not None and complaint is not None  # a case has at least its receipt

        events = (*stored_events, *new)
        if stored is None:
            record = CaseRecord(
                file=CaseFile(
                    tracking=tracking,
                    public_id=self.portal.keys.public_id(tracking),
                    complaint=complaint,
                    filed_at=events[0].at,
                    filed_by=self.actor,
                ),
                # Hashes of nothing anyone holds: the complainant follows the case up
                # through the platform they called, so no lookup code or vote token works.
                lookup_hash=secrets.token_hex(32),
                vote_hash=secrets.token_hex(32),
                status=state.status,
                unit=None,
                seq=0,
                updated_at=self.now,
            )
            kind: Literal["created", "appended", "unchanged"] = "created"
        else:
            record = stored
            kind = "appended" if new else "unchanged"
        # The import is the change the nightly build must see, not the last event's time.
        record = replace(record.with_state(state), updated_at=self.now)
        return _Plan(kind, record, events, len(new), _vote_of(events))

    def _ours(self, record: CaseRecord, events: list[Event], external_id: str) -> bool:
        return (
            record.file.filed_by == self.actor
            and bool(events)
            and events[0].data.get(EXTERNAL_KEY) == external_id
        )

    def _sequence(self, case: _RawCase) -> list[int] | None:
        seqs: list[int] = []
        for expected, row in enumerate(case.rows):
            text = row.values.get("event_seq", "")
            if not text.isascii() or not text.isdigit() or int(text) < 1:
                self.fail(case, row.where, f"event_seq 须为正整数，而不是 {text!r}")
                return None
            seq = int(text)
            if expected and seq != seqs[0] + expected:
                self.fail(
                    case,
                    row.where,
                    f"event_seq 应为 {seqs[0] + expected}（同一案件的事件须按顺序连续编号）",
                )
                return None
            seqs.append(seq)
        return seqs

    # ------------------------------------------------------------- one event
    def _event(
        self, case: _RawCase, row: _Row, state: CaseState | None
    ) -> tuple[Event, Complaint | None] | None:
        values = row.values
        problems: list[str] = []
        action = _enum(Action, values.get("action"), "action", problems)
        at = self._time(values.get("event_time"), problems)
        actor = self._actor(values, problems)
        for name in ("public_note", "private_note"):
            if len(values.get(name, "")) > MAX_NOTE:
                problems.append(f"{name} 不能超过 {MAX_NOTE} 个字符")
        data: dict[str, str] = {}
        if action is not None:
            allowed = ACTION_DATA.get(action, ())
            stray = [name for name in DATA_COLUMNS if name in values and name not in allowed]
            if stray:
                problems.append(f"{', '.join(stray)} 不适用于“{label(action)}”（{action}），应留空")
            data = {name: values[name] for name in allowed if name in values}
            self._check_data(case, data, problems)
        if problems or action is None or at is None or actor is None:
            for problem in problems:
                self.fail(case, row.where, problem)
            return None

        public_note = values.get("public_note", "")
        private_note = values.get("private_note", "")
        try:
            if action is Action.RECEIVE:
                if state is not None:
                    raise TransitionRefused("illegal_transition", "受理只能是案件的第一个事件")
                complaint = self._complaint(case, actor)
                if complaint is None:
                    return None
                service = self.district.service(complaint.category)
                assert service is not None  # checked with the complaint
                event = receive(
                    at=at,
                    actor=actor,
                    category=complaint.category,
                    grid=complaint.grid,
                    priority=Priority(data["priority"]) if "priority" in data else service.priority,
                    public_note=public_note,
                )
                provenance = {SOURCE_KEY: self.source, EXTERNAL_KEY: case.external_id}
                return (
                    replace(event, private_note=private_note, data={**event.data, **provenance}),
                    complaint,
                )
            if state is None:
                raise TransitionRefused("illegal_transition", "案件的第一个事件须为受理（receive）")
            event = decide(
                state,
                action,
                actor,
                at=at,
                public_note=public_note,
                private_note=private_note,
                data=data,
                # The same extension rule as the staff API: later than the due date in force.
                current_due=self._current_due(state) if action is Action.EXTEND else None,
            )
        except TransitionRefused as exc:
            self.fail(case, row.where, f"{action}：{exc.message}")
            return None
        return event, None

    def _current_due(self, state: CaseState) -> date | None:
        """The Beijing date of the case's due date in force, as the portal computes it;
        None while the calendar does not reach it."""
        try:
            report, _ = self.portal.deadlines_of(state)
        except ValueError:  # times the rules checked already; nothing to compare against
            return None
        return due_date(report)

    def _time(self, text: str | None, problems: list[str]) -> datetime | None:
        if not text:
            problems.append("event_time 不能为空")
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            problems.append(f"event_time 不是 ISO 8601 时间：{text!r}")
            return None
        if moment.tzinfo is None:
            problems.append(f"event_time 须带时区，如 2026-10-12T08:41:00+08:00，而不是 {text!r}")
            return None
        if moment > self.now:
            problems.append(f"event_time 晚于导入时间：{text}")
            return None
        return moment

    def _actor(self, values: Mapping[str, str], problems: list[str]) -> Actor | None:
        role = _enum(Role, values.get("actor_role"), "actor_role", problems)
        if role is None:
            return None
        default_id = "resident" if role is Role.RESIDENT else self.actor.id
        actor_id = values.get("actor_id", default_id)
        unit = values.get("actor_unit")
        if len(actor_id) > MAX_ACTOR_ID:
            problems.append(f"actor_id 不能超过 {MAX_ACTOR_ID} 个字符")
        if role is Role.HANDLER and not (unit and self.district.department(unit)):
            problems.append(f"承办人（handler）的 actor_unit 须为已知部门，而不是 {unit!r}")
        elif role is Role.GRID_WORKER and not (unit and self.district.grid(unit)):
            problems.append(f"网格员（grid_worker）的 actor_unit 须为已知网格，而不是 {unit!r}")
        elif unit and not (self.district.department(unit) or self.district.grid(unit)):
            problems.append(f"actor_unit 不是已知部门或网格：{unit}")
        return Actor(role, actor_id, unit)

    def _check_data(self, case: _RawCase, data: dict[str, str], problems: list[str]) -> None:
        """Checks that need the reference data or the file; the rules check the rest."""
        if "unit" in data and self.district.department(data["unit"]) is None:
            problems.append(f"未知部门：{data['unit']}")
        if "category" in data and self.district.service(data["category"]) is None:
            problems.append(f"未知事项类别：{data['category']}")
        if "priority" in data and data["priority"] not in set(Priority):
            problems.append(f"priority 取值无效：{data['priority']}")
        if "rating" in data and data["rating"] not in set(Rating):
            problems.append(f"rating 取值无效：{data['rating']}")
        if "into" in data:
            original = data["into"]
            if original == case.external_id:
                problems.append("不能合并到自身")
            elif original not in self.in_file and not self.store.get_case(self.tracking(original)):
                problems.append(f"合并目标 {original} 既不在本文件中，也未曾从 {self.source} 导入")
            data["into"] = self.tracking(original)  # the case links to the original's case

    def _complaint(self, case: _RawCase, actor: Actor) -> Complaint | None:
        fields = case.fields
        problems = [f"缺少 {name}（受理时必填）" for name in CASE_COLUMNS if not fields.get(name)]
        category, grid = fields.get("category", ""), fields.get("grid", "")
        if category and self.district.service(category) is None:
            problems.append(f"未知事项类别：{category}")
        if grid and self.district.grid(grid) is None:
            problems.append(f"未知网格：{grid}")
        channel = _enum(Channel, fields.get("channel") or None, "channel", problems)
        for name, limit in (
            ("location", MAX_LOCATION),
            ("description", MAX_DESCRIPTION),
            ("contact_name", MAX_NAME),
            ("contact_phone", MAX_PHONE),
        ):
            if len(fields.get(name, "")) > limit:
                problems.append(f"{name} 不能超过 {limit} 个字符")
        # The same rule as the complaint form: patrol reports come from the grid's own worker.
        if channel is Channel.PATROL and not (
            actor.role is Role.GRID_WORKER and actor.unit == grid
        ):
            problems.append("巡查上报（patrol）的受理人须为本网格的网格员（grid_worker）")
        elif actor.role is Role.GRID_WORKER and channel not in (None, Channel.PATROL):
            problems.append("网格员受理的案件渠道应为巡查上报（patrol）")
        if problems or channel is None:
            for problem in problems:
                self.fail(case, case.where, problem)
            return None
        return Complaint(
            category=category,
            grid=grid,
            location=fields["location"],
            description=fields["description"],
            channel=channel,
            contact=Contact(fields.get("contact_name", ""), fields.get("contact_phone", "")),
        )


_E = TypeVar("_E", Action, Role, Channel)


def _enum(kind: type[_E], text: str | None, name: str, problems: list[str]) -> _E | None:
    if not text:
        problems.append(f"{name} 不能为空")
        return None
    try:
        return kind(text)
    except ValueError:
        choices = ", ".join(str(member) for member in kind)
        problems.append(f"{name} 取值无效：{text!r}（可选：{choices}）")
        return None


def _vote_of(events: Iterable[Event]) -> Vote | None:
    """The latest rating recorded, as the portal's stores keep it: one vote per case, the
    latest rating round's (a reopen starts a round that is rated again); every round's
    rating stays in the events."""
    last = None
    for event in events:
        if event.action is Action.RATE:
            last = event
    if last is None:
        return None
    return Vote(Rating(last.data["rating"]), last.private_note, last.at)
