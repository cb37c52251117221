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
* An extension (延期) replaces the due date with the end of a later date chosen by
  staff; the original due date stays in the report.

``CalendarNotCovered`` propagates when a working-day deadline needs a year the
calendar does not know; the service layer records "deadline pending calendar".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gridportal.domain.calendar import WorkCalendar
from gridportal.domain.model import Priority

BEIJING = ZoneInfo("Asia/Shanghai")

CONTACT_WORKING_DAYS = 1
RESOLUTION_WORKING_DAYS = {Priority.GENERAL: 5, Priority.COMPLEX: 15}
# 紧急 means "第一时间": hours, not working days, since urgent matters don't wait for Monday.
URGENT_CONTACT_HOURS = 2
URGENT_RESOLUTION_HOURS = 24


@dataclass(frozen=True)
class DeadlineReport:
    """Deadlines of one case and how they were kept, as of ``now``.

    ``contact_met`` and ``met``: True if done on time, False if done late or still
    not done after the deadline, None if still pending and not yet due.
    ``overdue_working_days``: 0 unless ``met`` is False; otherwise the smallest number
    of extra working days (calendar days for urgent cases) that would have made the
    deadline, counted to the resolution or, for an open case, to ``now``.
    """

    contact_due: datetime
    contact_met: bool | None
    original_due: datetime
    due: datetime
    extended: bool
    met: bool | None
    overdue_working_days: int

    def to_dict(self) -> dict[str, object]:
        return {
            "contact_due": _iso(self.contact_due),
            "contact_met": self.contact_met,
            "original_due": _iso(self.original_due),
            "due": _iso(self.due),
            "extended": self.extended,
            "met": self.met,
            "overdue_working_days": self.overdue_working_days,
        }


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

    Raises ``ValueError`` for naive or out-of-order times and for an extension that
    is not later than the original due date; ``CalendarNotCovered`` when a needed
    date is outside the calendar (never for urgent cases).
    """
    _check_times(received_at, contacted_at, resolved_at, now)
    urgent = priority is Priority.URGENT
    if urgent:
        contact_due = _after_hours(received_at, URGENT_CONTACT_HOURS)
        original_due = _after_hours(received_at, URGENT_RESOLUTION_HOURS)
    else:
        contact_due = working_day_deadline(received_at, CONTACT_WORKING_DAYS, calendar)
        original_due = working_day_deadline(
            received_at, RESOLUTION_WORKING_DAYS[priority], calendar
        )

    due = original_due
    if extended_due is not None:
        if extended_due <= original_due.date():
            raise ValueError(
                f"extended due date {extended_due.isoformat()} must be later than the "
                f"current due date {original_due.date().isoformat()}"
            )
        due = end_of_day(extended_due)

    # Telling the complainant the result also contacts them.
    contact_done = min((t for t in (contacted_at, resolved_at) if t is not None), default=None)
    met = _judge(resolved_at, due, now)
    overdue = 0
    if met is False:
        finished = resolved_at if resolved_at is not None else now
        overdue = (
            _calendar_days_late(due, finished)
            if urgent
            else _working_days_late(due, finished, calendar)
        )
    return DeadlineReport(
        contact_due=contact_due,
        contact_met=_judge(contact_done, contact_due, now),
        original_due=original_due,
        due=due,
        extended=extended_due is not None,
        met=met,
        overdue_working_days=overdue,
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


def _iso(moment: datetime) -> str:
    return moment.astimezone(BEIJING).isoformat(timespec="seconds")
