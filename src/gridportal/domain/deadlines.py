"""Case deadlines (事项督办时限) and whether they were met.

Rules (also in docs/deadlines.md):

* Deadlines are computed in Beijing time. The day of receipt is not counted; a
  deadline of N working days ends at the last instant of the N-th working day after
  it (23:59:59.999999 Beijing time). Something done at or before that instant is on
  time. A case received on a rest day follows the same rule.
* Not urgent (一般, 复杂): contact within 1 working day; resolve within 5 (一般) or
  15 (复杂) working days.
* Urgent (紧急): calendar hours from receipt, every day of the week: contact within
  ``URGENT_CONTACT_HOURS``, resolve within ``URGENT_RESOLUTION_HOURS``.
* An extension (延期) moves the due date to the end of a later date chosen by
  staff; the original due date stays in the report. ``extension_refusal`` is the one
  rule an extension is checked against (the lifecycle, the staff API and the importer
  all reach it through ``lifecycle.decide``); a stored extension that breaks it (an
  old import) is ignored here, never raised.

A deadline that needs a day the calendar does not know is pending (待定) on its own:
the report keeps every other deadline it can compute (``pending_year`` names the
first missing year), so a case due before the calendar's end is always judged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from gridportal.domain.calendar import CalendarNotCovered, WorkCalendar
from gridportal.domain.model import Priority

BEIJING = ZoneInfo("Asia/Shanghai")
_T = TypeVar("_T")

CONTACT_WORKING_DAYS = 1
RESOLUTION_WORKING_DAYS = {Priority.GENERAL: 5, Priority.COMPLEX: 15}
# 紧急 means "第一时间": hours, not working days, since urgent matters don't wait for Monday.
URGENT_CONTACT_HOURS = 2
URGENT_RESOLUTION_HOURS = 24
# A duplicate merged into another case (已合并) has no deadlines of its own: the note
# published in their place (时限说明).
MERGED_DEADLINE_NOTE = "已合并至原件办理，办理时限以原件为准。"


@dataclass(frozen=True)
class DeadlineReport:
    """Deadlines of one case and how they were kept, as of ``now``.

    ``contact_met`` and ``met``: True if done on time, False if done late or still
    not done after the deadline, None if still pending and not yet due, or if the
    deadline itself is pending calendar.
    ``overdue_working_days``: 0 unless ``met`` is False; otherwise the smallest number
    of extra working days (calendar days for urgent cases) that would have made the
    deadline, counted to the resolution or, for an open case, to ``now``.
    A time or count that needs a day outside the calendar is None (待定), and
    ``pending_year`` is the first year the calendar lacks; the rest is computed.
    """

    contact_due: datetime | None
    contact_met: bool | None
    original_due: datetime | None
    due: datetime | None
    extended: bool
    met: bool | None
    overdue_working_days: int | None
    pending_year: int | None = None

    @property
    def pending(self) -> tuple[str, ...]:
        """Which parts wait for the calendar, as the public note names them."""
        parts = []
        if self.contact_due is None:
            parts.append("联系时限")
        if self.due is None:
            parts.append("办结时限")
        if self.met is False and self.overdue_working_days is None:
            parts.append("超期天数")
        return tuple(parts)

    def pending_note(self) -> str:
        """The public note for what is pending calendar; empty when nothing is."""
        if self.pending_year is None or not self.pending:
            return ""
        return (
            f"{'、'.join(self.pending)}待定：{self.pending_year}年法定节假日安排尚未录入，"
            "录入后自动计算。"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "contact_due": _iso(self.contact_due),
            "contact_met": self.contact_met,
            "original_due": _iso(self.original_due),
            "due": _iso(self.due),
            "extended": self.extended,
            "met": self.met,
            "overdue_working_days": self.overdue_working_days,
            "pending_year": self.pending_year,
        }


def due_in_force(original: date, extended: date | None) -> date:
    """The due date that applies: an extension only ever moves it later."""
    return max(original, extended) if extended is not None else original


def extension_refusal(new_due: date, *, today: date, current_due: date | None) -> str | None:
    """The one extension rule (延期): the new due date must be later than today (a
    Beijing date) and than the due date in force (original or extended), when known.
    Returns the reason shown to staff, or None when the extension is allowed."""
    if new_due <= today:
        return f"延期后的期限须晚于今天（{today.isoformat()}）。"
    if current_due is not None and new_due <= current_due:
        return f"延期后的期限须晚于当前期限（{current_due.isoformat()}）。"
    return None


def end_of_day(day: date) -> datetime:
    """The last instant of ``day`` in Beijing time."""
    return datetime.combine(day, time.max, tzinfo=BEIJING)


def working_day_deadline(received_at: datetime, days: int, calendar: WorkCalendar) -> datetime:
    """End of the ``days``-th working day after the Beijing date of receipt."""
    received_day = received_at.astimezone(BEIJING).date()
    return end_of_day(calendar.add_working_days(received_day, days))


def assess_deadlines(
    *,
    received_at: datetime,
    priority: Priority,
    calendar: WorkCalendar,
    contacted_at: datetime | None,
    resolved_at: datetime | None,
    extended_due: date | None,
    now: datetime,
) -> DeadlineReport:
    """Compute a case's deadlines and judge them as of ``now``.

    Raises ``ValueError`` for naive or out-of-order times only. A deadline that needs
    a date outside the calendar is None in the report (never for urgent cases), and
    so is every judgement that depends on it; everything else is computed.
    """
    _check_times(received_at, contacted_at, resolved_at, now)
    missing: list[int] = []

    def known(compute: Callable[[], _T]) -> _T | None:
        try:
            return compute()
        except CalendarNotCovered as exc:
            missing.append(exc.date.year)
            return None

    urgent = priority is Priority.URGENT
    contact_due: datetime | None
    original_due: datetime | None
    if urgent:
        contact_due = _after_hours(received_at, URGENT_CONTACT_HOURS)
        original_due = _after_hours(received_at, URGENT_RESOLUTION_HOURS)
    else:
        contact_due = known(
            lambda: working_day_deadline(received_at, CONTACT_WORKING_DAYS, calendar)
        )
        original_due = known(
            lambda: working_day_deadline(received_at, RESOLUTION_WORKING_DAYS[priority], calendar)
        )

    due = original_due
    extended = False
    if original_due is not None and extended_due is not None:
        # An extension that does not move the due date later (a bad import) has no effect.
        in_force = due_in_force(original_due.date(), extended_due)
        extended = in_force != original_due.date()
        due = end_of_day(in_force) if extended else original_due
    elif extended_due is not None:
        extended = True  # granted, but whether it beats the pending original is unknown

    # Telling the complainant the result also contacts them (a replayed state already
    # says so in contacted_at; a snapshot written before it did may not).
    contact_done = min((t for t in (contacted_at, resolved_at) if t is not None), default=None)
    met = _judge(resolved_at, due, now) if due is not None else None
    overdue: int | None = 0
    if met is False:
        assert due is not None
        finished = resolved_at if resolved_at is not None else now
        overdue = (
            _calendar_days_late(due, finished)
            if urgent
            else known(lambda: _working_days_late(due, finished, calendar))
        )
    return DeadlineReport(
        contact_due=contact_due,
        contact_met=_judge(contact_done, contact_due, now) if contact_due else None,
        original_due=original_due,
        due=due,
        extended=extended,
        met=met,
        overdue_working_days=overdue,
        pending_year=min(missing) if missing else None,
    )


def _judge(done_at: datetime | None, due: datetime, now: datetime) -> bool | None:
    if done_at is not None:
        return done_at <= due
    return False if now > due else None


def _working_days_late(due: datetime, finished: datetime, calendar: WorkCalendar) -> int:
    # Finishing on a rest day after the due date needs the next working day as well.
    finished_day = finished.astimezone(BEIJING).date()
    late = calendar.working_days_between(due.date(), finished_day)
    return late if calendar.is_workday(finished_day) else late + 1


def _calendar_days_late(due: datetime, finished: datetime) -> int:
    # Any part of a day counts as a day, so a late case is never "0 days late".
    return math.ceil((finished - due) / timedelta(days=1))


def _after_hours(start: datetime, hours: int) -> datetime:
    # Elapsed hours, computed in UTC so that the offset of the input never matters.
    return (start.astimezone(UTC) + timedelta(hours=hours)).astimezone(BEIJING)


def _check_times(
    received_at: datetime,
    contacted_at: datetime | None,
    resolved_at: datetime | None,
    now: datetime,
) -> None:
    named = {
        "received_at": received_at,
        "contacted_at": contacted_at,
        "resolved_at": resolved_at,
        "now": now,
    }
    for name, value in named.items():
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")
    for name in ("contacted_at", "resolved_at", "now"):
        value = named[name]
        if value is not None and value < received_at:
            raise ValueError(f"{name} {value.isoformat()} is before received_at")
        if value is not None and value > now:
            raise ValueError(f"{name} {value.isoformat()} is after now {now.isoformat()}")


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(BEIJING).isoformat(timespec="seconds") if moment else None
