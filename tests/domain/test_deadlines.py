from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridportal.domain.calendar import Overrides, WorkCalendar, YearSchedule
from gridportal.domain.deadlines import (
    BEIJING,
    RESOLUTION_WORKING_DAYS,
    URGENT_CONTACT_HOURS,
    URGENT_RESOLUTION_HOURS,
    DeadlineReport,
    assess_deadlines,
    due_in_force,
    end_of_day,
    extension_refusal,
)
from gridportal.domain.model import Priority

CAL = WorkCalendar.official()


def bj(text: str) -> datetime:
    """A Beijing wall-clock time, e.g. "2025-09-30 16:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=BEIJING)


def eod(text: str) -> datetime:
    return end_of_day(date.fromisoformat(text))


def assess(
    received: datetime,
    priority: Priority = Priority.GENERAL,
    *,
    contacted: datetime | None = None,
    resolved: datetime | None = None,
    extended: date | None = None,
    now: datetime,
) -> DeadlineReport:
    return assess_deadlines(
        received_at=received,
        priority=priority,
        calendar=CAL,
        contacted_at=contacted,
        resolved_at=resolved,
        extended_due=extended,
        now=now,
    )


@pytest.mark.parametrize(
    ("received", "priority", "contact_due", "due"),
    [
        ("2025-01-24 09:00", Priority.GENERAL, "2025-01-26", "2025-02-07"),
        ("2025-01-30 10:00", Priority.GENERAL, "2025-02-05", "2025-02-10"),  # on a holiday
        ("2025-01-27 18:00", Priority.COMPLEX, "2025-02-05", "2025-02-24"),
        ("2025-04-26 11:00", Priority.GENERAL, "2025-04-27", "2025-05-06"),  # rest Saturday
        ("2025-09-30 16:00", Priority.GENERAL, "2025-10-09", "2025-10-14"),
        ("2025-09-30 16:00", Priority.COMPLEX, "2025-10-09", "2025-10-28"),
        ("2025-10-10 08:00", Priority.GENERAL, "2025-10-11", "2025-10-16"),  # worked Saturday
        ("2026-02-14 10:00", Priority.GENERAL, "2026-02-24", "2026-02-28"),
        ("2026-02-20 10:00", Priority.COMPLEX, "2026-02-24", "2026-03-13"),
        ("2026-09-30 23:59", Priority.GENERAL, "2026-10-08", "2026-10-13"),
    ],
)
def test_working_day_deadlines(
    received: str, priority: Priority, contact_due: str, due: str
) -> None:
    report = assess(bj(received), priority, now=bj(received))
    assert report.contact_due == eod(contact_due)
    assert report.original_due == report.due == eod(due)
    assert report.contact_met is None and report.met is None
    assert report.overdue_working_days == 0 and not report.extended


def test_day_of_receipt_is_the_beijing_date() -> None:
    # 16:30 UTC on Friday Oct 10 is 00:30 on the worked Saturday Oct 11 in Beijing.
    received = datetime(2025, 10, 10, 16, 30, tzinfo=UTC)
    report = assess(received, now=received)
    assert report.contact_due == eod("2025-10-13")
    assert report.due == eod("2025-10-17")


def test_deadline_ends_at_the_last_instant_of_the_day() -> None:
    due = eod("2025-10-14")
    assert due == datetime(2025, 10, 14, 23, 59, 59, 999999, tzinfo=BEIJING)
    received = bj("2025-09-30 16:00")
    on_time = assess(received, resolved=due, now=due)
    late = assess(received, resolved=due + timedelta(microseconds=1), now=bj("2025-10-20 00:00"))
    assert on_time.met is True and on_time.overdue_working_days == 0
    assert late.met is False and late.overdue_working_days == 1


@pytest.mark.parametrize(
    ("contacted", "now", "expected"),
    [
        ("2025-10-09 23:59:59", "2025-10-12 00:00", True),
        ("2025-10-10 00:00", "2025-10-12 00:00", False),
        (None, "2025-10-05 12:00", None),  # pending over the holiday
        (None, "2025-10-09 23:00", None),
        (None, "2025-10-10 00:00", False),
    ],
)
def test_contact(contacted: str | None, now: str, expected: bool | None) -> None:
    report = assess(
        bj("2025-09-30 16:00"), contacted=bj(contacted) if contacted else None, now=bj(now)
    )
    assert report.contact_met is expected


def test_resolution_counts_as_contact() -> None:
    report = assess(
        bj("2025-09-30 09:00"), resolved=bj("2025-09-30 17:00"), now=bj("2025-10-01 00:00")
    )
    assert report.contact_met is True and report.met is True


@pytest.mark.parametrize(
    ("resolved", "now", "met", "overdue"),
    [
        ("2025-09-26 10:00", "2025-10-20 00:00", True, 0),
        ("2025-09-28 23:59:59", "2025-10-20 00:00", True, 0),
        (None, "2025-09-28 18:00", None, 0),
        # Due Sun Sep 28 (worked); Sep 29, Sep 30 and Oct 9 are the next working days.
        ("2025-10-09 10:00", "2025-10-20 00:00", False, 3),
        ("2025-09-29 00:00", "2025-10-20 00:00", False, 1),
        (None, "2025-09-29 00:00", False, 1),
        (None, "2025-10-05 12:00", False, 3),  # on a holiday: Oct 9 is the earliest fix
        (None, "2025-10-11 09:00", False, 5),  # the worked Saturday counts
    ],
)
def test_resolution_across_national_day(
    resolved: str | None, now: str, met: bool | None, overdue: int
) -> None:
    # Received Mon Sep 22 2025: Sep 23, 24, 25, 26 and the worked Sun Sep 28.
    report = assess(
        bj("2025-09-22 10:00"), resolved=bj(resolved) if resolved else None, now=bj(now)
    )
    assert report.due == eod("2025-09-28")
    assert (report.met, report.overdue_working_days) == (met, overdue)


@pytest.mark.parametrize(
    ("resolved", "overdue"),
    [("2025-11-15 10:00", 1), ("2025-11-17 10:00", 1), ("2025-11-18 10:00", 2)],
)
def test_late_on_a_rest_day_is_one_working_day_late(resolved: str, overdue: int) -> None:
    # Received Fri Nov 7 2025, due Fri Nov 14.
    report = assess(bj("2025-11-07 10:00"), resolved=bj(resolved), now=bj("2025-12-01 00:00"))
    assert report.due == eod("2025-11-14")
    assert (report.met, report.overdue_working_days) == (False, overdue)


def test_extension_keeps_the_original_due() -> None:
    received = bj("2025-09-30 16:00")
    on_time = assess(
        received,
        extended=date(2025, 10, 31),
        resolved=bj("2025-10-20 10:00"),
        now=bj("2025-11-01 00:00"),
    )
    assert on_time.original_due == eod("2025-10-14")
    assert on_time.due == eod("2025-10-31")
    assert on_time.extended is True and on_time.met is True
    late = assess(
        received,
        extended=date(2025, 10, 31),
        resolved=bj("2025-11-03 09:00"),
        now=bj("2025-11-04 00:00"),
    )
    assert late.met is False and late.overdue_working_days == 1


@pytest.mark.parametrize("extended", [date(2025, 10, 14), date(2025, 10, 1)])
def test_a_stored_extension_that_is_not_later_has_no_effect(extended: date) -> None:
    # The rule refuses it when asked (extension_refusal); an old import that holds one
    # must still give a report, judged by the original due date.
    report = assess(bj("2025-09-30 16:00"), extended=extended, now=bj("2025-10-15 09:00"))
    assert report.due == report.original_due == eod("2025-10-14")
    assert (report.extended, report.met, report.overdue_working_days) == (False, False, 1)


@pytest.mark.parametrize(
    ("new_due", "current", "refused"),
    [
        ("2025-10-20", "2025-10-14", None),
        ("2025-10-14", "2025-10-14", "当前期限（2025-10-14）"),
        ("2025-10-13", "2025-10-14", "当前期限"),
        ("2025-10-05", None, None),
        ("2025-10-02", None, "今天（2025-10-02）"),
        ("2025-10-01", "2025-10-14", "今天"),
    ],
)
def test_the_extension_rule(new_due: str, current: str | None, refused: str | None) -> None:
    reason = extension_refusal(
        date.fromisoformat(new_due),
        today=date(2025, 10, 2),
        current_due=date.fromisoformat(current) if current else None,
    )
    assert (reason is None) == (refused is None)
    if refused is not None:
        assert reason is not None and refused in reason


def test_due_in_force_only_moves_later() -> None:
    original = date(2025, 10, 14)
    assert due_in_force(original, None) == original
    assert due_in_force(original, date(2025, 10, 1)) == original
    assert due_in_force(original, date(2025, 10, 20)) == date(2025, 10, 20)


def test_urgent_hour_limits() -> None:
    assert (URGENT_CONTACT_HOURS, URGENT_RESOLUTION_HOURS) == (2, 24)
    received = bj("2025-10-01 10:00")  # a holiday: urgent cases do not wait
    report = assess(
        received,
        Priority.URGENT,
        contacted=bj("2025-10-01 12:00"),
        resolved=bj("2025-10-02 10:00"),
        now=bj("2025-10-03 00:00"),
    )
    assert report.contact_due == bj("2025-10-01 12:00")
    assert report.due == bj("2025-10-02 10:00")
    assert (report.contact_met, report.met, report.overdue_working_days) == (True, True, 0)


@pytest.mark.parametrize(
    ("contacted", "resolved", "now", "expected"),
    [
        ("2025-10-01 12:00:01", None, "2025-10-01 13:00", (False, None, 0)),
        (None, None, "2025-10-01 11:00", (None, None, 0)),
        (None, None, "2025-10-01 12:01", (False, None, 0)),
        ("2025-10-01 11:00", "2025-10-02 10:00:01", "2025-10-03 00:00", (True, False, 1)),
        ("2025-10-01 11:00", "2025-10-04 11:00", "2025-10-05 00:00", (True, False, 3)),
        ("2025-10-01 11:00", None, "2025-10-04 10:00", (True, False, 2)),
    ],
)
def test_urgent_late(
    contacted: str | None, resolved: str | None, now: str, expected: tuple[object, ...]
) -> None:
    report = assess(
        bj("2025-10-01 10:00"),
        Priority.URGENT,
        contacted=bj(contacted) if contacted else None,
        resolved=bj(resolved) if resolved else None,
        now=bj(now),
    )
    assert (report.contact_met, report.met, report.overdue_working_days) == expected


def test_urgent_needs_no_calendar() -> None:
    received = bj("2027-03-01 10:00")
    report = assess(received, Priority.URGENT, now=received)
    assert report.due == bj("2027-03-02 10:00")


def test_a_case_due_before_and_after_the_calendars_end() -> None:
    # Received Fri 2026-12-25: contact is due Mon 12-28 (covered); the 5 working days to
    # resolution reach into 2027, which the calendar does not know yet.
    received = bj("2026-12-25 10:00")
    report = assess(received, now=bj("2026-12-29 09:00"))
    assert report.contact_due == eod("2026-12-28")
    assert report.contact_met is False  # known: the contact deadline has passed
    assert (report.original_due, report.due, report.met) == (None, None, None)
    assert report.pending_year == 2027 and report.pending == ("办结时限",)
    assert report.pending_note().startswith("办结时限待定：2027年")
    assert report.to_dict()["due"] is None and report.to_dict()["contact_due"]


def test_a_due_date_inside_the_calendar_is_always_judged() -> None:
    # Received Mon 2026-12-21: due Mon 12-28, inside 2026. Resolved late in 2027: late
    # for sure, but by how many working days depends on 2027's schedule.
    received = bj("2026-12-21 10:00")
    on_time = assess(received, resolved=bj("2026-12-28 18:00"), now=bj("2027-01-05 09:00"))
    assert (on_time.due, on_time.met, on_time.overdue_working_days) == (
        eod("2026-12-28"),
        True,
        0,
    )
    assert on_time.pending_year is None and on_time.pending_note() == ""
    late = assess(received, resolved=bj("2027-01-04 10:00"), now=bj("2027-01-05 09:00"))
    assert (late.due, late.met, late.overdue_working_days) == (eod("2026-12-28"), False, None)
    assert late.pending == ("超期天数",) and late.pending_year == 2027
    with_2027 = assess_deadlines(
        received_at=received,
        priority=Priority.GENERAL,
        calendar=WorkCalendar.official(
            Overrides((YearSchedule(2027, frozenset({date(2027, 1, 1)}), frozenset()),))
        ),
        contacted_at=None,
        resolved_at=bj("2027-01-04 10:00"),
        extended_due=None,
        now=bj("2027-01-05 09:00"),
    )
    assert with_2027.overdue_working_days == 4  # 12-29, 12-30, 12-31 and 01-04 (01-01 off)


@pytest.mark.parametrize(
    ("received", "contacted", "resolved", "now", "message"),
    [
        (datetime(2025, 9, 30, 16), None, None, bj("2025-10-01 00:00"), "timezone-aware"),
        (bj("2025-09-30 16:00"), bj("2025-09-30 15:00"), None, bj("2025-10-01 00:00"), "before"),
        (bj("2025-09-30 16:00"), None, None, bj("2025-09-30 15:00"), "before"),
        (bj("2025-09-30 16:00"), None, bj("2025-10-02 00:00"), bj("2025-10-01 00:00"), "after now"),
    ],
)
def test_rejects_inconsistent_times(
    received: datetime,
    contacted: datetime | None,
    resolved: datetime | None,
    now: datetime,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        assess(received, contacted=contacted, resolved=resolved, now=now)


def test_to_dict_is_json_friendly() -> None:
    report = assess(
        datetime(2025, 9, 30, 8, 0, tzinfo=UTC),
        contacted=bj("2025-10-09 09:00"),
        extended=date(2025, 10, 20),
        now=bj("2025-10-21 08:00"),
    )
    assert report.to_dict() == {
        "contact_due": "2025-10-09T23:59:59+08:00",
        "contact_met": True,
        "original_due": "2025-10-14T23:59:59+08:00",
        "due": "2025-10-20T23:59:59+08:00",
        "extended": True,
        "met": False,
        "overdue_working_days": 1,
        "pending_year": None,
    }


@given(
    received=st.datetimes(
        min_value=datetime(2004, 1, 1), max_value=datetime(2026, 9, 30), timezones=st.just(UTC)
    ),
    priority=st.sampled_from([Priority.GENERAL, Priority.COMPLEX]),
)
def test_working_day_deadline_properties(received: datetime, priority: Priority) -> None:
    report = assess(received, priority, now=received)
    assert report.due is not None and report.contact_due is not None
    receipt_day = received.astimezone(BEIJING).date()
    due_day = report.due.date()
    assert report.due > received and report.contact_due < report.due
    assert CAL.is_workday(due_day) and CAL.is_workday(report.contact_due.date())
    assert CAL.working_days_between(receipt_day, due_day) == RESOLUTION_WORKING_DAYS[priority]
    assert CAL.working_days_between(receipt_day, report.contact_due.date()) == 1
    assert report.due.utcoffset() == timedelta(hours=8)
