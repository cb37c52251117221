from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridportal.domain.calendar import (
    OVERRIDES_FILE,
    CalendarNotCovered,
    Overrides,
    OverridesError,
    WorkCalendar,
    YearSchedule,
    calendar_status,
    format_years,
    parse_overrides,
)

CAL = WorkCalendar.official()

# A made-up 2027 schedule, for tests only: the real one is not published yet.
FAKE_2027 = {
    "holidays": ["2027-01-01", "2027-01-02", "2027-01-03", "2027-02-08", "2027-02-09"],
    "workdays": ["2027-02-06"],
}
CAL_2027 = WorkCalendar.official(parse_overrides({"years": {"2027": FAKE_2027}}))


def d(text: str) -> date:
    return date.fromisoformat(text)


# Checked against the installed chinesecalendar and the State Council notices.
@pytest.mark.parametrize(
    ("day", "workday"),
    [
        # Spring Festival 2025: Jan 28–Feb 4 off, Sun Jan 26 and Sat Feb 8 worked.
        ("2025-01-25", False),
        ("2025-01-26", True),
        ("2025-01-27", True),
        ("2025-01-28", False),
        ("2025-02-04", False),
        ("2025-02-05", True),
        ("2025-02-08", True),
        ("2025-02-09", False),
        # Labour Day 2025: May 1–5 off, Sun Apr 27 worked.
        ("2025-04-27", True),
        ("2025-04-30", True),
        ("2025-05-01", False),
        ("2025-05-05", False),
        ("2025-05-06", True),
        # National Day 2025: Oct 1–8 off, Sun Sep 28 and Sat Oct 11 worked.
        ("2025-09-28", True),
        ("2025-10-01", False),
        ("2025-10-06", False),
        ("2025-10-08", False),
        ("2025-10-09", True),
        ("2025-10-11", True),
        ("2025-10-12", False),
        # Spring Festival 2026: Feb 15–23 off, Sat Feb 14 and Sat Feb 28 worked.
        ("2026-02-14", True),
        ("2026-02-15", False),
        ("2026-02-23", False),
        ("2026-02-24", True),
        ("2026-02-28", True),
        ("2026-03-01", False),
        # Mid-Autumn Sep 25–27 and National Day Oct 1–7 2026, Sun Sep 20 and Sat Oct 10 worked.
        ("2026-09-20", True),
        ("2026-09-25", False),
        ("2026-09-28", True),
        ("2026-10-07", False),
        ("2026-10-08", True),
        ("2026-10-10", True),
        ("2026-10-11", False),
        # Ordinary weeks.
        ("2025-11-14", True),
        ("2025-11-15", False),
    ],
)
def test_is_workday_official_2025_2026(day: str, workday: bool) -> None:
    assert CAL.is_workday(d(day)) is workday


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # Friday before Spring Festival 2025: the worked Sunday is day 1.
        ("2025-01-24", 1, "2025-01-26"),
        ("2025-01-24", 5, "2025-02-07"),
        ("2025-01-27", 1, "2025-02-05"),
        ("2025-01-27", 5, "2025-02-10"),  # Sat Feb 8 is day 4
        ("2025-01-27", 15, "2025-02-24"),
        ("2025-01-30", 5, "2025-02-10"),  # received on a holiday
        ("2025-04-25", 1, "2025-04-27"),
        ("2025-04-25", 5, "2025-05-06"),
        ("2025-04-26", 5, "2025-05-06"),  # received on a rest Saturday
        ("2025-04-30", 5, "2025-05-12"),
        ("2025-09-26", 1, "2025-09-28"),
        ("2025-09-26", 5, "2025-10-10"),
        ("2025-09-30", 1, "2025-10-09"),
        ("2025-09-30", 5, "2025-10-14"),  # Sat Oct 11 is day 3
        ("2025-09-30", 15, "2025-10-28"),
        ("2025-10-03", 5, "2025-10-14"),
        ("2025-10-10", 1, "2025-10-11"),
        ("2025-10-10", 5, "2025-10-16"),
        ("2026-02-13", 1, "2026-02-14"),
        ("2026-02-13", 5, "2026-02-27"),
        ("2026-02-13", 15, "2026-03-12"),
        ("2026-02-14", 5, "2026-02-28"),  # received on a worked Saturday, not counted
        ("2026-02-20", 1, "2026-02-24"),
        ("2026-02-20", 5, "2026-02-28"),
        ("2026-09-18", 1, "2026-09-20"),
        ("2026-09-18", 5, "2026-09-24"),
        ("2026-09-24", 15, "2026-10-22"),
        ("2026-09-29", 5, "2026-10-12"),
        ("2026-09-30", 5, "2026-10-13"),
        ("2026-12-24", 5, "2026-12-31"),
        ("2025-11-14", 0, "2025-11-14"),
    ],
)
def test_add_working_days_across_holidays(start: str, n: int, expected: str) -> None:
    assert CAL.add_working_days(d(start), n) == d(expected)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2025-09-30", "2025-10-14", 5),
        ("2025-09-28", "2025-10-09", 3),
        ("2025-09-30", "2025-10-08", 0),
        ("2026-02-13", "2026-03-01", 6),
        ("2025-10-14", "2025-10-14", 0),
        ("2025-10-14", "2025-09-30", 0),
    ],
)
def test_working_days_between(start: str, end: str, expected: int) -> None:
    assert CAL.working_days_between(d(start), d(end)) == expected


def test_covered_years_come_from_the_package() -> None:
    assert CAL.covered_years == frozenset(range(2004, 2027))
    assert CAL.covers(d("2004-01-01")) and CAL.covers(d("2026-12-31"))
    assert not CAL.covers(d("2027-01-01")) and not CAL.covers(d("2003-12-31"))


@pytest.mark.parametrize(
    "call",
    [
        lambda: CAL.is_workday(d("2027-01-04")),
        lambda: CAL.add_working_days(d("2026-12-25"), 5),
        lambda: CAL.add_working_days(d("2027-03-01"), 1),
        lambda: CAL.working_days_between(d("2026-12-01"), d("2027-01-04")),
        lambda: CAL.is_workday(d("2003-06-02")),
    ],
)
def test_uncovered_dates_raise(call: Callable[[], object]) -> None:
    with pytest.raises(CalendarNotCovered):
        call()


def test_not_covered_message_names_date_years_and_file() -> None:
    with pytest.raises(CalendarNotCovered) as caught:
        CAL.add_working_days(d("2026-12-25"), 5)
    assert caught.value.date == d("2027-01-01")
    assert str(caught.value) == (
        "no official working-day calendar for 2027-01-01: covered years are 2004–2026; "
        "add the State Council schedule for 2027 to content/calendar/overrides.json"
    )
    assert isinstance(caught.value, ValueError)


def test_override_extends_coverage() -> None:
    assert CAL_2027.covers(d("2027-06-01"))
    assert not CAL_2027.is_workday(d("2027-01-01"))
    assert CAL_2027.is_workday(d("2027-02-06"))  # swapped working Saturday
    assert not CAL_2027.is_workday(d("2027-02-07"))  # ordinary Sunday
    assert not CAL_2027.is_workday(d("2027-02-09"))
    # Thu Dec 31 2026 is day 1; Fri Jan 1 2027 is off.
    assert CAL_2027.add_working_days(d("2026-12-30"), 5) == d("2027-01-07")
    assert CAL_2027.working_days_between(d("2027-02-05"), d("2027-02-10")) == 2


def test_override_replaces_a_package_year_wholesale() -> None:
    corrected = WorkCalendar.official(
        parse_overrides(
            {"years": {"2025": {"holidays": ["2025-10-09"], "workdays": ["2025-10-12"]}}}
        )
    )
    assert not corrected.is_workday(d("2025-10-09"))
    assert corrected.is_workday(d("2025-10-12"))
    # Only what the override lists: the package's 2025 holidays are gone.
    assert corrected.is_workday(d("2025-10-01"))
    assert not corrected.is_workday(d("2025-10-11"))
    # Other years still come from the package.
    assert not corrected.is_workday(d("2026-10-01"))


def test_gap_between_covered_years_is_not_skipped() -> None:
    cal = WorkCalendar.official(
        Overrides((YearSchedule(2028, frozenset({d("2028-01-03")}), frozenset()),))
    )
    with pytest.raises(CalendarNotCovered) as caught:
        cal.add_working_days(d("2026-12-31"), 3)
    assert caught.value.date == d("2027-01-01")
    assert "covered years are 2004–2026, 2028;" in str(caught.value)
    with pytest.raises(CalendarNotCovered):
        cal.working_days_between(d("2026-12-31"), d("2028-01-10"))


def test_add_working_days_rejects_negative_n() -> None:
    with pytest.raises(ValueError, match="zero or positive"):
        CAL.add_working_days(d("2025-01-02"), -1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "missing 'years'"),
        ({"years": []}, '"years" must be an object'),
        ({"year": {}}, "unknown key 'year'"),
        ({"years": {"27": FAKE_2027}}, "not a four-digit year"),
        ({"years": {"2027": {"holidays": ["2027-01-01"]}}}, "missing 'workdays'"),
        ({"years": {"2027": {**FAKE_2027, "extra": []}}}, "unknown key 'extra'"),
        ({"years": {"2027": {**FAKE_2027, "holidays": "2027-01-01"}}}, "must be a list"),
        ({"years": {"2027": {**FAKE_2027, "holidays": ["2027-02-30"]}}}, "not a valid date"),
        ({"years": {"2027": {**FAKE_2027, "holidays": ["2027/01/01"]}}}, "not an ISO date"),
        ({"years": {"2027": {**FAKE_2027, "holidays": ["20270101"]}}}, "not an ISO date"),
        ({"years": {"2027": {**FAKE_2027, "holidays": [20270101]}}}, "not an ISO date"),
        ({"years": {"2027": {**FAKE_2027, "holidays": ["2028-01-01"]}}}, "under year 2027"),
        (
            {"years": {"2027": {**FAKE_2027, "holidays": ["2027-01-01", "2027-01-01"]}}},
            "listed twice",
        ),
        (
            {"years": {"2027": {**FAKE_2027, "holidays": ["2027-01-01", "2027-02-06"]}}},
            "2027-02-06 listed both as holiday and as working day",
        ),
        ({"years": {"2027": {**FAKE_2027, "workdays": ["2027-02-10"]}}}, "Monday–Friday"),
        ({"years": {"2027": {"holidays": [], "workdays": []}}}, "lists no holidays"),
    ],
)
def test_parse_overrides_rejects_bad_data(data: dict[str, object], message: str) -> None:
    with pytest.raises(OverridesError, match=message):
        parse_overrides(data)


def test_parse_overrides_ignores_documentation_keys() -> None:
    data = {"_comment": ["x"], "years": {"2027": {**FAKE_2027, "_source": "notice"}}}
    overrides = parse_overrides(data)
    assert overrides.years == {2027}
    assert parse_overrides({"_comment": "empty", "years": {}}) == Overrides()


def test_overrides_reject_a_repeated_year() -> None:
    schedule = YearSchedule(2027, frozenset({d("2027-01-01")}), frozenset())
    with pytest.raises(OverridesError, match="more than once"):
        Overrides((schedule, schedule))


def test_format_years() -> None:
    assert format_years([2026, 2004, 2005, 2028, 2030, 2029]) == "2004–2005, 2026, 2028–2030"
    assert format_years([]) == "none"


# Properties over the package's whole range (leaving room for n working days).
covered_days = st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 6, 30))
steps = st.integers(min_value=0, max_value=60)


@given(covered_days)
def test_is_workday_agrees_with_the_package(day: date) -> None:
    assert CAL.is_workday(day) is chinese_calendar.is_workday(day)


@given(covered_days, steps)
def test_add_working_days_properties(day: date, n: int) -> None:
    result = CAL.add_working_days(day, n)
    following = CAL.add_working_days(day, n + 1)
    assert CAL.is_workday(following)
    assert result < following
    assert CAL.working_days_between(day, result) == n
    assert CAL.working_days_between(day, following) == n + 1


@given(covered_days, st.integers(min_value=-5, max_value=40))
def test_working_days_between_counts_days(start: date, span: int) -> None:
    end = start + timedelta(days=span)
    expected = sum(CAL.is_workday(start + timedelta(days=i)) for i in range(1, span + 1))
    assert CAL.working_days_between(start, end) == expected


@pytest.mark.parametrize(
    ("today", "year"),
    [("2026-12-07", 2027), ("2027-03-01", 2027)],  # within the warning days; past the end
)
def test_a_calendar_near_its_end_warns_staff_where_and_the_public_what(
    today: str, year: int
) -> None:
    status = calendar_status(CAL, d(today))
    assert status.warn
    assert OVERRIDES_FILE in status.message() and f"{year}年" in status.message()
    public = status.to_dict(public=True)["message"]
    assert isinstance(public, str) and f"{year}年的节假日安排尚未录入" in public
    assert "content/" not in public and ".json" not in public
    assert status.to_dict()["message"] == status.message()
    assert not calendar_status(CAL_2027, d(today)).warn  # once 2027 is entered
    quiet = calendar_status(CAL, d("2026-06-01"))
    assert not quiet.warn and quiet.message() == quiet.public_message() == ""
