"""The official working-day calendar (工作日历), including swapped working weekends (调休).

The ``chinesecalendar`` package knows the State Council schedules for a fixed range
of years. Later years (or corrections) come from an overrides value, usually read
from ``content/calendar/overrides.json``. A date that neither source knows raises
``CalendarNotCovered``: the calendar never falls back to Monday–Friday, because a
guessed deadline published as official is worse than a pending one.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from itertools import pairwise

import chinese_calendar

OVERRIDES_FILE = "content/calendar/overrides.json"

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEAR = re.compile(r"\d{4}")


class CalendarNotCovered(ValueError):
    """A date outside every year the calendar knows."""

    def __init__(self, day: date, covered_years: Iterable[int]) -> None:
        self.date = day
        self.covered_years = tuple(sorted(covered_years))
        super().__init__(
            f"no official working-day calendar for {day.isoformat()}: "
            f"covered years are {format_years(self.covered_years)}; add the State Council "
            f"schedule for {day.year} to {OVERRIDES_FILE}"
        )


class OverridesError(ValueError):
    """The overrides data is malformed or inconsistent."""


@dataclass(frozen=True)
class YearSchedule:
    """One year's official schedule: rest days besides weekends, and worked weekend days.

    ``holidays`` lists every rest day of the holiday periods (放假), weekend days inside
    them included; ``workdays`` lists the weekend days worked in exchange (调休上班).
    Every other Monday–Friday is a working day, every other weekend day a rest day.
    """

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]

    def __post_init__(self) -> None:
        for day in self.holidays | self.workdays:
            if day.year != self.year:
                raise OverridesError(f"{day.isoformat()} is listed under year {self.year}")
        both = self.holidays & self.workdays
        if both:
            raise OverridesError(
                f"{_dates(both)} listed both as holiday and as working day in {self.year}"
            )

    def is_workday(self, day: date) -> bool:
        return day in self.workdays or (day.weekday() < 5 and day not in self.holidays)


@dataclass(frozen=True)
class Overrides:
    """Schedules that extend or replace the package's data, one per year."""

    schedules: tuple[YearSchedule, ...] = field(default=())

    def __post_init__(self) -> None:
        years = [s.year for s in self.schedules]
        repeated = sorted({y for y in years if years.count(y) > 1})
        if repeated:
            raise OverridesError(f"year(s) {format_years(repeated)} given more than once")
        for schedule in self.schedules:
            # Checks that catch typos and placeholders; the package data is not held to them.
            if not schedule.holidays:
                raise OverridesError(
                    f"year {schedule.year} lists no holidays: every official schedule has some, "
                    "so an empty list would silently make holidays working days"
                )
            weekdays = {d for d in schedule.workdays if d.weekday() < 5}
            if weekdays:
                raise OverridesError(
                    f"{_dates(weekdays)} listed as swapped working day(s) but fall on "
                    "Monday–Friday, which are working days anyway; only weekend days are swapped"
                )

    @property
    def years(self) -> frozenset[int]:
        return frozenset(s.year for s in self.schedules)


def parse_overrides(data: Mapping[str, object]) -> Overrides:
    """Validate the overrides JSON shape and build the value.

    Shape: ``{"years": {"2027": {"holidays": [ISO dates], "workdays": [ISO dates]}}}``.
    Keys starting with ``_`` (such as ``"_comment"``) are documentation and ignored.
    """
    _check_keys(data, {"years"}, "overrides")
    years = data.get("years")
    if not isinstance(years, Mapping):
        raise OverridesError('overrides: "years" must be an object keyed by year, e.g. "2027"')
    schedules = []
    for key, entry in years.items():
        if not (isinstance(key, str) and _YEAR.fullmatch(key)):
            raise OverridesError(f"overrides: year key {key!r} is not a four-digit year")
        where = f"overrides.years.{key}"
        if not isinstance(entry, Mapping):
            raise OverridesError(f'{where}: must be an object with "holidays" and "workdays"')
        _check_keys(entry, {"holidays", "workdays"}, where)
        schedules.append(
            YearSchedule(
                year=int(key),
                holidays=_parse_dates(entry.get("holidays"), f"{where}.holidays"),
                workdays=_parse_dates(entry.get("workdays"), f"{where}.workdays"),
            )
        )
    return Overrides(tuple(schedules))


@dataclass(frozen=True, eq=False)
class WorkCalendar:
    """Working days over a set of covered years.

    Working days are kept as a sorted tuple of ordinals, so that counting and
    stepping are binary searches; the nightly build asks for tens of thousands.
    """

    covered_years: frozenset[int]
    _ordinals: tuple[int, ...] = field(repr=False)
    _ordinal_set: frozenset[int] = field(repr=False)

    @classmethod
    def from_schedules(cls, schedules: Iterable[YearSchedule]) -> WorkCalendar:
        by_year = {s.year: s for s in schedules}
        ordinals = []
        for year in sorted(by_year):
            schedule = by_year[year]
            day, end = date(year, 1, 1), date(year, 12, 31)
            while day <= end:
                if schedule.is_workday(day):
                    ordinals.append(day.toordinal())
                day += timedelta(days=1)
        return cls(frozenset(by_year), tuple(ordinals), frozenset(ordinals))

    @classmethod
    def official(cls, overrides: Overrides | None = None) -> WorkCalendar:
        """The package's schedules, with each overridden year replaced wholesale."""
        schedules = {s.year: s for s in package_schedules()}
        for schedule in overrides.schedules if overrides else ():
            schedules[schedule.year] = schedule
        return cls.from_schedules(schedules.values())

    def covers(self, day: date) -> bool:
        return day.year in self.covered_years

    def is_workday(self, day: date) -> bool:
        self._require(day, day)
        return day.toordinal() in self._ordinal_set

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day after ``day``; ``day`` itself is not counted (n=0 gives it back)."""
        if n < 0:
            raise ValueError(f"n must be zero or positive, got {n}")
        if n == 0:
            return day
        index = bisect_right(self._ordinals, day.toordinal()) + n - 1
        if index >= len(self._ordinals):
            self._require(day + timedelta(days=1), date.max)
        result = date.fromordinal(self._ordinals[index])
        # The tuple skips uncovered years, so check that the whole span is known.
        self._require(day + timedelta(days=1), result)
        return result

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; 0 if ``end`` is not after ``start``."""
        if end <= start:
            return 0
        self._require(start + timedelta(days=1), end)
        return bisect_right(self._ordinals, end.toordinal()) - bisect_right(
            self._ordinals, start.toordinal()
        )

    def ends(self, today: date) -> date | None:
        """The last day of the unbroken run of covered years that ``today`` is in (or, if
        ``today`` is not covered, the last covered day before it; None if none is)."""
        year = (
            today.year
            if self.covers(today)
            else max((y for y in self.covered_years if y < today.year), default=None)
        )
        if year is None:
            return None
        while year + 1 in self.covered_years:
            year += 1
        return date(year, 12, 31)

    def fingerprint(self) -> str:
        """A digest of every working day and covered year: changes whenever a schedule
        is entered, corrected or upgraded with the package (part of the publication
        version)."""
        years = ",".join(map(str, sorted(self.covered_years)))
        days = ",".join(map(str, self._ordinals))
        return hashlib.sha256(f"{years};{days}".encode()).hexdigest()

    def _require(self, first: date, last: date) -> None:
        """Raise for the earliest uncovered date in [first, last]."""
        for year in range(first.year, last.year + 1):
            if year not in self.covered_years:
                raise CalendarNotCovered(max(first, date(year, 1, 1)), self.covered_years)


CALENDAR_WARNING_DAYS = 60  # warn this many days before the calendar ends


@dataclass(frozen=True)
class CalendarStatus:
    """How far the working-day calendar reaches from ``today``, and whether to warn.

    ``ends``: the last covered day (None: nothing covered up to today); ``days_left``:
    days from ``today`` to ``ends`` (negative once past it); ``warn``: True within
    ``CALENDAR_WARNING_DAYS`` of the end or past it.
    """

    today: date
    ends: date | None
    days_left: int
    warn: bool

    @property
    def next_year(self) -> int:
        """The year whose State Council schedule is to be entered next."""
        return self.ends.year + 1 if self.ends else self.today.year

    def message(self) -> str:
        """The warning for staff and the build report, in zh-CN; empty when all is well."""
        if not self.warn:
            return ""
        if self.ends is None or self.days_left < 0:
            return (
                f"工作日历未覆盖{self.today.year}年：一般、复杂案件的期限待定。"
                f"请将{self.today.year}年国务院节假日安排录入 {OVERRIDES_FILE}。"
            )
        return (
            f"工作日历将于{self.ends.isoformat()}结束（还有{self.days_left}天）："
            f"请将{self.next_year}年国务院节假日安排录入 {OVERRIDES_FILE}，"
            "否则跨年的期限将显示为待定。"
        )

    def public_message(self) -> str:
        """The same warning for the public site: what it means for a deadline, nothing
        of where the schedule is entered."""
        if not self.warn:
            return ""
        if self.ends is None or self.days_left < 0:
            return (
                f"{self.today.year}年的节假日安排尚未录入工作日历，一般、复杂案件的期限暂时待定。"
            )
        return (
            f"工作日历将于{self.ends.isoformat()}结束，{self.next_year}年的节假日安排尚未录入，"
            "跨年的期限暂时显示为待定。"
        )

    def to_dict(self, *, public: bool = False) -> dict[str, object]:
        """Plain JSON values, for the build report and (``public``) the metrics page."""
        return {
            "today": self.today.isoformat(),
            "ends": self.ends.isoformat() if self.ends else None,
            "days_left": self.days_left,
            "warn": self.warn,
            "warning_days": CALENDAR_WARNING_DAYS,
            "message": self.public_message() if public else self.message(),
        }


def calendar_status(
    calendar: WorkCalendar, today: date, warning_days: int = CALENDAR_WARNING_DAYS
) -> CalendarStatus:
    """When the calendar ends, seen from ``today`` (a Beijing date), and whether that is
    within ``warning_days`` (60 by default): the one check behind the build report's,
    the staff CLI's and the metrics page's warning."""
    ends = calendar.ends(today)
    days_left = (ends - today).days if ends else -1
    return CalendarStatus(today, ends, days_left, ends is None or days_left <= warning_days)


@lru_cache(maxsize=1)
def package_schedules() -> tuple[YearSchedule, ...]:
    """The schedules shipped in ``chinesecalendar``; its covered range is its own data's."""
    holidays: dict[int, set[date]] = {}
    workdays: dict[int, set[date]] = {}
    for day in chinese_calendar.holidays:
        holidays.setdefault(day.year, set()).add(day)
    for day in chinese_calendar.workdays:
        workdays.setdefault(day.year, set()).add(day)
    # Same range the package itself accepts: min to max year of its holiday table.
    first, last = min(holidays), max(holidays)
    return tuple(
        YearSchedule(
            year,
            frozenset(holidays.get(year, ())),
            frozenset(workdays.get(year, ())),
        )
        for year in range(first, last + 1)
    )


def format_years(years: Iterable[int]) -> str:
    """Compact ranges: ``[2004, ..., 2026, 2028]`` -> ``"2004–2026, 2028"``."""
    ordered = sorted(set(years))
    if not ordered:
        return "none"
    runs = [[ordered[0], ordered[0]]]
    for previous, year in pairwise(ordered):
        if year == previous + 1:
            runs[-1][1] = year
        else:
            runs.append([year, year])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)


def _check_keys(data: Mapping[str, object], allowed: set[str], where: str) -> None:
    for key in data:
        if not (isinstance(key, str) and (key in allowed or key.startswith("_"))):
            expected = ", ".join(f'"{k}"' for k in sorted(allowed))
            raise OverridesError(f"{where}: unknown key {key!r} (expected {expected})")
    missing = sorted(allowed - set(data))
    if missing:
        raise OverridesError(f"{where}: missing {', '.join(repr(k) for k in missing)}")


def _parse_dates(value: object, where: str) -> frozenset[date]:
    if not isinstance(value, list):
        raise OverridesError(f"{where}: must be a list of ISO dates (YYYY-MM-DD)")
    days: set[date] = set()
    for item in value:
        if not (isinstance(item, str) and _ISO_DATE.fullmatch(item)):
            raise OverridesError(f"{where}: {item!r} is not an ISO date (YYYY-MM-DD)")
        try:
            day = date.fromisoformat(item)
        except ValueError as error:
            raise OverridesError(f"{where}: {item!r} is not a valid date ({error})") from None
        if day in days:
            raise OverridesError(f"{where}: {item} is listed twice")
        days.add(day)
    return frozenset(days)


def _dates(days: Iterable[date]) -> str:
    return ", ".join(d.isoformat() for d in sorted(days))
