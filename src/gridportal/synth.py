"""Synthetic case histories at city scale (``portal synth N --seed S``).

The demo (``demo.py``) drives a few thousand cases through the real use cases, one
store call per step. A city produces millions, so this generator builds each history
in memory with the lifecycle itself (``receive``, ``decide``, ``apply``: an illegal
step raises exactly as it would in the API) and writes finished histories in bulk
with ``Store.put_histories``. The state a history leads to is folded event by event
as it is built, never replayed afterwards.

Shape of the data:

* **Years.** Cases are spread over ``years`` years ending at ``end``, growing year on
  year, with seasons (summer noise and drains, winter gas and e-bikes), fewer cases on
  rest days and none from patrols then. The history stops at the last day the official
  calendar covers: working days are never guessed, so a step that would need an
  uncovered year is simply not taken and the case stays open.
* **What and where.** Categories, grids and channels follow the demo's weights (the
  demo's content helpers are reused: places, texts, notes), with each grid's own
  character; online channels gain on the hotline over the years.
* **Handling.** The four routes, returns to the wrong unit, extensions, on-site
  supervision, special reports, refusals, merged duplicates, ratings (满意 / 基本满意 /
  不满意), follow-ups, reopenings and archiving, with per-department lateness that
  improves over the years.
* **Personal data** in residents' free text (names, mobile and landline numbers, ID
  numbers in their usual written forms, flat numbers) for the redactor to catch.

Deterministic for a seed: the archive is cut into chunks of whole days, each drawn
from its own ``Random`` seeded by (seed, chunk), so the output does not depend on how
many worker processes built it. Tracking numbers come from a permutation of the case
index (unique by construction, no set of issued numbers held). The resident's lookup
code and vote token of a synthetic case are never known to anyone: their hashes are
the real ``Keys`` digests of one secret per run, derived from the server key.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from gridportal.demo import (
    _ASSESS_NOTE,
    _CATEGORY_WEIGHTS,
    _COMMENTS,
    _CONFUSIONS,
    _CONTACT_NOTE,
    _CONTACT_PATROL,
    _CONTACT_PRIVATE,
    _CONTACT_REPORTED,
    _DECIDE_NOTE,
    _EXTENSION_REASONS,
    _FOLLOW_UP_FAILED,
    _FOLLOW_UP_OK,
    _HOTLINE_HOURS,
    _MERGE_NOTE,
    _NOT_PATROL_CODES,
    _NOT_PATROL_GROUPS,
    _PASSING_ON,
    _POLICY_WEIGHT,
    _REFUSALS_AT_DESK,
    _REFUSALS_IN_UNIT,
    _REOPEN_FAILED,
    _REOPEN_UNSATISFIED,
    _REPORT_NOTES,
    _RESIDENT_HOURS,
    _SUMMER,
    _SUPERVISE_NOTE,
    _SURNAMES,
    _WINTER,
    DISPATCHER,
    SUPERVISOR,
    WORK_END,
    WORK_START,
    _contact,
    _description,
    _dispatch_note,
    _mobile,
    _Places,
    _resolution,
    _return_note,
    _unit_name,
    assessment,
    grid_worker,
    handler,
)
from gridportal.domain.calendar import CalendarNotCovered, WorkCalendar
from gridportal.domain.credentials import TRACKING_DIGITS, Keys
from gridportal.domain.deadlines import BEIJING, RESOLUTION_WORKING_DAYS
from gridportal.domain.lifecycle import CaseState, apply, decide, receive
from gridportal.domain.model import (
    RESIDENT,
    Action,
    Actor,
    CaseFile,
    Channel,
    Complaint,
    Event,
    Outcome,
    Priority,
    Rating,
    Route,
    Status,
)
from gridportal.domain.reference import District, Grid, ServiceItem
from gridportal.ports import CaseRecord, Store, Vote

History = tuple[CaseRecord, list[Event], Vote | None]

CHUNK_CASES = 2_000  # cases per chunk: the unit of work of a worker and of a bulk write
YEARLY_GROWTH = 1.12  # each year brings about 12% more cases than the one before
# Relative volume by month (Jan..Dec): quiet around the Spring Festival, busy in summer.
_MONTHS = (0.85, 0.75, 0.95, 1.0, 1.05, 1.1, 1.2, 1.2, 1.05, 0.95, 1.0, 0.95)
_REST_DAY_RATE = 0.7
# Channel shares at the start and at the end of the span: residents move online.
_CHANNELS_FIRST = {
    Channel.PORTAL: 0.22,
    Channel.HOTLINE: 0.40,
    Channel.WECHAT: 0.10,
    Channel.PATROL: 0.28,
}
_CHANNELS_LAST = {
    Channel.PORTAL: 0.30,
    Channel.HOTLINE: 0.27,
    Channel.WECHAT: 0.20,
    Channel.PATROL: 0.23,
}
_DUPLICATE_DAYS = 10  # a case about the same thing in the same grid this recently may merge
_DUPLICATE_SHARE = 0.12
_EXTRA_PERSONAL_SHARE = 0.08  # on top of the demo's own personal details (22% of texts)
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文玉兰海燕春梅"
_ID_REGIONS = ("330102", "330105", "330106", "330108", "330110", "330122", "330183")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


# --------------------------------------------------------------------------
# Personal data, in the forms residents write it
# --------------------------------------------------------------------------
def full_name(rng: random.Random) -> str:
    given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(_SURNAMES) + given


def id_number(rng: random.Random) -> str:
    """An 18-digit resident ID (居民身份证号码) with a valid check digit."""
    birth = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 65))
    body = f"{rng.choice(_ID_REGIONS)}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    total = sum(int(digit) * weight for digit, weight in zip(body, _ID_WEIGHTS, strict=True))
    return body + _ID_CHECK[total % 11]


def landline(rng: random.Random) -> str:
    return f"0571-8{rng.randrange(10**7):07d}"


def personal_detail(rng: random.Random) -> str:
    """One sentence carrying who the resident is: what the redactor must mask."""
    name, mobile, number = full_name(rng), _mobile(rng), id_number(rng)
    grouped = f"{number[:6]} {number[6:14]} {number[14:]}"
    return rng.choice(
        (
            f"我叫{name},身份证号{number},",
            f"本人{name},身份证号码:{grouped},",
            f"联系电话{landline(rng)},找{name}。",
            f"我是{name},手机{mobile[:3]}-{mobile[3:7]}-{mobile[7:]},",
            f"可以联系我爱人{name},电话{mobile}。",
            f"反映人{name}(身份证{number}),",
        )
    )


def with_personal_detail(rng: random.Random, text: str) -> str:
    detail = personal_detail(rng)
    return f"{detail}{text}" if detail.endswith(",") else f"{text}{detail}"


# --------------------------------------------------------------------------
# The plan: how many cases on which day, in which chunk
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    number: int
    first_index: int  # global index of the chunk's first case (chronological)
    days: tuple[tuple[date, int], ...]  # (day, cases received that day)

    @property
    def cases(self) -> int:
        return sum(count for _, count in self.days)


def covered_span(calendar: WorkCalendar, end: datetime, years: int) -> tuple[date, date]:
    """First and last day of the history: ``years`` years up to ``end``, inside the calendar.

    The last day is the earlier of ``end``'s Beijing date and the last day of the last
    covered year; the first is ``years`` years before, moved forward into covered years.
    """
    if end.utcoffset() is None:
        raise ValueError("end must be timezone-aware")
    if years < 1:
        raise ValueError("years must be at least 1")
    last = end.astimezone(BEIJING).date()
    covered = sorted(calendar.covered_years)
    if not covered:
        raise CalendarNotCovered(last, ())
    last = min(last, date(covered[-1], 12, 31))
    day = min(last.day, 28) if (last.month, last.day) == (2, 29) else last.day
    first = date(last.year - years, last.month, day) + timedelta(days=1)
    # Only a run of covered years up to ``last`` counts: never step over a missing year.
    year = last.year
    while year - 1 in calendar.covered_years and year > first.year:
        year -= 1
    if last.year not in calendar.covered_years:
        raise CalendarNotCovered(last, covered)
    return max(first, date(year, 1, 1)), last


def day_weights(calendar: WorkCalendar, first: date, last: date) -> list[tuple[date, float]]:
    weights = []
    day = first
    while day <= last:
        years_in = (day - first).days / 365.25
        weight = YEARLY_GROWTH**years_in * _MONTHS[day.month - 1]
        if not calendar.is_workday(day):
            weight *= _REST_DAY_RATE
        weights.append((day, weight))
        day += timedelta(days=1)
    return weights


def plan_chunks(
    calendar: WorkCalendar, first: date, last: date, count: int, chunk_cases: int = CHUNK_CASES
) -> list[Chunk]:
    """Exactly ``count`` cases spread over the days by weight (largest remainder), cut into
    chunks of whole days of about ``chunk_cases`` cases."""
    weights = day_weights(calendar, first, last)
    total = sum(w for _, w in weights)
    counts, cumulative, placed = [], 0.0, 0
    for day, weight in weights:
        cumulative += weight
        upto = round(count * cumulative / total)
        counts.append((day, upto - placed))
        placed = upto
    chunks: list[Chunk] = []
    current: list[tuple[date, int]] = []
    index = size = 0
    for day, n in counts:
        current.append((day, n))
        size += n
        if size >= chunk_cases:
            chunks.append(Chunk(len(chunks), index, tuple(current)))
            index += size
            current, size = [], 0
    if current:
        chunks.append(Chunk(len(chunks), index, tuple(current)))
    return chunks


# --------------------------------------------------------------------------
# What stays the same across the run: weights, departments, ids
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Profile:
    late: float  # share resolved after the deadline (in the first year)
    misrouted: float  # share first sent to the wrong unit
    stalls: float  # share left untouched for weeks


@dataclass(frozen=True)
class Setting:
    """Everything a chunk needs besides its own days and seed (sent once to each worker)."""

    district: District
    calendar: WorkCalendar
    keys: Keys
    seed: int
    first: date
    last: date
    end: datetime
    lookup_hash: str
    vote_hash: str
    multiplier: int  # the tracking permutation: index → (a·index + b) mod M
    offset: int
    profiles: Mapping[str, _Profile]
    grid_weights: tuple[float, ...]
    # (grid id, channel, season) → (service codes, cumulative weights)
    categories: Mapping[tuple[str, Channel, str], tuple[tuple[str, ...], tuple[float, ...]]]
    places: Mapping[str, _Places] = field(repr=False)

    @property
    def span_days(self) -> int:
        return max(1, (self.last - self.first).days)


_TRACKING_SPACE = 9 * 10 ** (TRACKING_DIGITS - 1)  # no leading zero


def _season(month: int) -> str:
    return "summer" if month in (6, 7, 8, 9) else "winter" if month in (11, 12, 1, 2) else "other"


def make_setting(
    district: District,
    calendar: WorkCalendar,
    keys: Keys,
    *,
    seed: int,
    end: datetime,
    years: int,
) -> Setting:
    first, last = covered_span(calendar, end, years)
    rng = random.Random(f"synth:{seed}")
    departments = sorted(d.id for d in district.departments)
    slow = set(rng.sample(departments, min(2, len(departments))))
    profiles = {
        unit: _Profile(
            late=rng.uniform(0.18, 0.28) if unit in slow else rng.uniform(0.03, 0.09),
            misrouted=rng.uniform(0.03, 0.08),
            stalls=0.08 if unit in slow else 0.015,
        )
        for unit in departments
    }
    grids = list(district.grids)
    grid_weights = tuple(g.households * rng.lognormvariate(0.0, 0.3) for g in grids)
    categories = {}
    for grid in grids:
        character = {s.code: rng.lognormvariate(0.0, 0.7) for s in district.services}
        for channel in Channel:
            for season in ("summer", "winter", "other"):
                codes, cumulative, running = [], [], 0.0
                for service in district.services:
                    weight = _category_weight(service, channel, season) * character[service.code]
                    if weight > 0:
                        running += weight
                        codes.append(service.code)
                        cumulative.append(running)
                categories[grid.id, channel, season] = (tuple(codes), tuple(cumulative))
    multiplier = rng.randrange(10**10, _TRACKING_SPACE)
    while math.gcd(multiplier, _TRACKING_SPACE) != 1:
        multiplier += 1
    # Secrets no resident was ever given: deterministic, yet unknown without the server key.
    secret = keys.digest("synthetic", str(seed))
    return Setting(
        district=district,
        calendar=calendar,
        keys=keys,
        seed=seed,
        first=first,
        last=last,
        end=min(end, datetime.combine(last, time.max, BEIJING)),
        lookup_hash=keys.digest("lookup", secret),
        vote_hash=keys.digest("vote", secret),
        multiplier=multiplier,
        offset=rng.randrange(_TRACKING_SPACE),
        profiles=profiles,
        grid_weights=grid_weights,
        categories=categories,
        places={grid.id: _Places(grid, district) for grid in grids},
    )


def _category_weight(service: ServiceItem, channel: Channel, season: str) -> float:
    policy = bool(service.answer)
    weight = _POLICY_WEIGHT if policy else _CATEGORY_WEIGHTS.get(service.code, 1.0)
    if channel is Channel.PATROL:
        if policy or service.group in _NOT_PATROL_GROUPS or service.code in _NOT_PATROL_CODES:
            return 0.0
        # Grid workers report what is easy to see and to close (the gaming metrics must show).
        weight *= 1.8 if service.difficulty == "easy" else 0.5
    if season == "summer" and service.code in _SUMMER:
        weight *= 1.6
    if season == "winter" and service.code in _WINTER:
        weight *= 1.5
    return weight


def tracking_of(setting: Setting, index: int) -> str:
    value = (setting.multiplier * index + setting.offset) % _TRACKING_SPACE
    return str(10 ** (TRACKING_DIGITS - 1) + value)


# --------------------------------------------------------------------------
# One case: a story told through the lifecycle, step by step
# --------------------------------------------------------------------------
class _Stop(Exception):
    """The next step falls after the end (or outside the calendar): the case stays here."""


@dataclass
class _Case:
    setting: Setting
    rng: random.Random
    service: ServiceItem
    channel: Channel
    state: CaseState
    events: list[Event]
    now: datetime  # Beijing time of the last step
    vote: Vote | None = None
    reopened: bool = False
    late: bool = False  # resolved after its deadline, or open past it at the end

    @property
    def from_resident(self) -> bool:
        return self.channel is not Channel.PATROL

    @property
    def urgent(self) -> bool:
        return self.state.priority is Priority.URGENT

    @property
    def current_service(self) -> ServiceItem:
        return self.setting.district.service(self.state.category) or self.service

    def act(
        self,
        at: datetime,
        action: Action,
        actor: Actor,
        *,
        note: str = "",
        private: str = "",
        **data: str,
    ) -> None:
        if at > self.setting.end:
            raise _Stop
        event = decide(
            self.state,
            action,
            actor,
            at=at.astimezone(UTC),
            public_note=note,
            private_note=private,
            data=data,
        )
        self.state = apply(self.state, event)
        self.events.append(event)
        self.now = at

    # ---------------------------------------------------------------- times
    def is_workday(self, day: date) -> bool:
        try:
            return self.setting.calendar.is_workday(day)
        except CalendarNotCovered:
            raise _Stop from None

    def add_working_days(self, day: date, n: int) -> date:
        try:
            return self.setting.calendar.add_working_days(day, n)
        except CalendarNotCovered:
            raise _Stop from None

    def later(self, low: int, high: int, *, urgent: bool = False) -> datetime:
        """Now plus ``low``–``high`` minutes, counted in working hours unless urgent."""
        minutes = self.rng.randint(low, high)
        if urgent:
            return self.now + timedelta(minutes=minutes)
        moment = self._working_moment(self.now)
        while True:
            close = datetime.combine(moment.date(), WORK_END, BEIJING)
            room = int((close - moment).total_seconds() // 60)
            if minutes <= room:
                return moment + timedelta(minutes=minutes)
            minutes -= room
            moment = self._working_moment(close + timedelta(seconds=1))

    def _working_moment(self, moment: datetime) -> datetime:
        day = moment.date()
        while True:
            if self.is_workday(day):
                opens = datetime.combine(day, WORK_START, BEIJING)
                if moment < opens:
                    return opens
                if moment < datetime.combine(day, WORK_END, BEIJING):
                    return moment
            day += timedelta(days=1)
            moment = datetime.combine(day, time.min, BEIJING)

    def on_day(self, day: date) -> datetime:
        """A moment in working hours of ``day`` (or the next working day), after now."""
        while not self.is_workday(day):
            day += timedelta(days=1)
        moment = datetime.combine(day, WORK_START, BEIJING) + timedelta(
            minutes=self.rng.randint(30, 500)
        )
        return moment if moment > self.now else self.later(20, 120)


class _Teller:
    """Tells the stories of one chunk's cases with one ``Random``."""

    def __init__(self, setting: Setting, rng: random.Random) -> None:
        self.setting = setting
        self.rng = rng
        self.district = setting.district
        self.departments = tuple(d.id for d in setting.district.departments)
        self.recent: dict[tuple[str, str], tuple[str, datetime]] = {}

    def case(self, index: int, at: datetime, grid: Grid, channel: Channel) -> History:
        setting, rng = self.setting, self.rng
        codes, cumulative = setting.categories[grid.id, channel, _season(at.month)]
        service = self.district.service(rng.choices(codes, cum_weights=cumulative)[0])
        assert service is not None
        location = setting.places[grid.id].location(rng, service)
        description = _description(rng, service, location, channel)
        if channel is not Channel.PATROL and rng.random() < _EXTRA_PERSONAL_SHARE:
            description = with_personal_detail(rng, description)
        actor = (
            grid_worker(grid.id)
            if channel is Channel.PATROL
            else DISPATCHER
            if channel is Channel.HOTLINE
            else RESIDENT
        )
        first = receive(
            at=at.astimezone(UTC),
            actor=actor,
            category=service.code,
            grid=grid.id,
            priority=service.priority,
        )
        case = _Case(setting, rng, service, channel, apply(None, first), [first], at)
        tracking = tracking_of(setting, index)
        with contextlib.suppress(_Stop):  # the story ends where the end or the calendar does
            self._story(case, tracking)
        if case.state.is_open and not case.late:
            case.late = self._open_past_due(case)
        file = CaseFile(
            tracking=tracking,
            public_id=setting.keys.public_id(tracking),
            complaint=Complaint(
                category=service.code,
                grid=grid.id,
                location=location,
                description=description,
                channel=channel,
                contact=_contact(rng, channel),
            ),
            filed_at=first.at,
            filed_by=actor,
        )
        record = CaseRecord(
            file=file,
            lookup_hash=setting.lookup_hash,
            vote_hash=setting.vote_hash,
            status=Status.RECEIVED,
            unit=None,
            seq=1,
            updated_at=first.at,
        ).with_state(case.state)
        return record, case.events, case.vote

    # ---------------------------------------------------------------- stories
    def _story(self, case: _Case, tracking: str) -> None:
        rng = self.rng
        key = (case.state.grid, case.service.code)
        earlier = self.recent.get(key)
        self.recent[key] = (tracking, case.now)
        if (
            earlier is not None
            and case.now - earlier[1] <= timedelta(days=_DUPLICATE_DAYS)
            and rng.random() < _DUPLICATE_SHARE
        ):
            when = case.later(10, 150, urgent=case.urgent)
            case.act(when, Action.MERGE, DISPATCHER, note=_MERGE_NOTE, into=earlier[0])
            return
        if case.service.answer and rng.random() < 0.9:
            self._answer(case)
        else:
            when = case.later(5, 20, urgent=True) if case.urgent else case.later(10, 180)
            self._assess(case, when)
            self._route(case)
        self._after_closure(case)

    def _answer(self, case: _Case) -> None:
        if case.channel is Channel.HOTLINE:
            when = case.now + timedelta(minutes=self.rng.randint(3, 15))
        else:
            when = case.later(15, 240)
            self._assess(case, when)
            when = case.later(5, 60)
        case.act(when, Action.ANSWER, DISPATCHER, note=case.service.answer)

    def _assess(self, case: _Case, when: datetime) -> None:
        data = assessment(self.rng, self.district, case.service)
        case.act(when, Action.ASSESS, DISPATCHER, note=_ASSESS_NOTE, **data)

    def _route(self, case: _Case) -> None:
        rng, service = self.rng, case.current_service
        unit = service.department
        if rng.random() < (0.06 if service.group == "邻里纠纷" else 0.012):
            when = case.later(10, 90, urgent=case.urgent)
            case.act(when, Action.REFUSE, DISPATCHER, note=rng.choice(_REFUSALS_AT_DESK))
            return
        hard, complex_ = service.difficulty == "hard", service.priority is Priority.COMPLEX
        draw = rng.random()
        if draw < (0.3 if hard and complex_ else 0.03):
            self._special_report(case, unit)
        elif draw < (0.42 if hard and complex_ else 0.12 if hard else 0.05):
            self._onsite(case, unit)
        else:
            if rng.random() < self.setting.profiles[unit].misrouted:
                self._misroute(case, unit)
            self._send(case, unit, case.now)
            self._handle(case, unit)

    def _send(self, case: _Case, unit: str, when: datetime) -> None:
        note = _dispatch_note(self.district, unit)
        case.act(when, Action.DISPATCH, DISPATCHER, note=note, unit=unit)

    def _misroute(self, case: _Case, unit: str) -> None:
        wrong = self._confused_with(unit)
        self._send(case, wrong, case.now)
        when = case.later(40, 480, urgent=case.urgent)
        case.act(when, Action.RETURN, handler(wrong), note=_return_note(self.district, unit))
        case.now = case.later(10, 90, urgent=case.urgent)

    def _onsite(self, case: _Case, unit: str) -> None:
        """现场督办: units passed the case between them, or sat on it."""
        rng = self.rng
        if rng.random() < 0.6:
            self._misroute(case, unit)
            self._send(case, unit, case.now)
            if case.from_resident:
                case.act(case.now, Action.CONTACT, DISPATCHER, note=_CONTACT_NOTE)
            when = case.later(120, 900, urgent=case.urgent)
            case.act(when, Action.RETURN, handler(unit), note=rng.choice(_PASSING_ON))
            when = case.later(60, 480, urgent=case.urgent)
        else:
            self._send(case, unit, case.now)
            when = case.later(240, 1400, urgent=case.urgent)
        note = _SUPERVISE_NOTE.format(unit=_unit_name(self.district, unit))
        case.act(when, Action.SUPERVISE, SUPERVISOR, note=note, unit=unit)
        self._handle(case, unit, accepted=True)

    def _special_report(self, case: _Case, unit: str) -> None:
        """专报批办: up for a decision that names the lead unit."""
        rng = self.rng
        case.act(case.later(30, 300), Action.REPORT, DISPATCHER, note=rng.choice(_REPORT_NOTES))
        case.act(case.later(10, 120), Action.CONTACT, DISPATCHER, note=_CONTACT_REPORTED)
        helpers = [d for d in self.departments if d != unit] or [unit]
        note = _DECIDE_NOTE.format(
            lead=_unit_name(self.district, unit),
            helper=_unit_name(self.district, rng.choice(helpers)),
        )
        case.act(case.later(480, 2400), Action.DECIDE, SUPERVISOR, note=note, unit=unit)
        self._handle(case, unit)

    def _handle(self, case: _Case, unit: str, *, accepted: bool = False) -> None:
        rng, desk, urgent = self.rng, handler(unit), case.urgent
        profile = self.setting.profiles[unit]
        if not accepted:
            when = case.later(5, 30, urgent=True) if urgent else case.later(20, 240)
            case.act(when, Action.ACCEPT, desk)
        if urgent:
            when = case.now + timedelta(minutes=rng.randint(5, 45))
        elif rng.random() < 0.94:
            when = case.later(15, 240)
        else:  # the call back comes a day or two late
            received = case.state.received_at.astimezone(BEIJING).date()
            when = case.on_day(case.add_working_days(received, rng.randint(2, 3)))
        if case.from_resident:
            case.act(when, Action.CONTACT, desk, note=_CONTACT_NOTE, private=_CONTACT_PRIVATE)
        else:
            case.act(when, Action.CONTACT, desk, note=_CONTACT_PATROL)
        if rng.random() < (0.1 if case.current_service.group == "邻里纠纷" else 0.015):
            when = case.later(120, 1200)
            case.act(when, Action.REFUSE, desk, note=rng.choice(_REFUSALS_IN_UNIT))
            return
        # Units get better at deadlines as the years go by.
        years_in = (case.now.date() - self.setting.first).days / 365.25
        late = rng.random() < profile.late * max(0.4, 1.25 - 0.15 * years_in)
        if urgent:
            hours = rng.uniform(26, 60) if late else rng.uniform(1.5, 20)
            received = case.state.received_at.astimezone(BEIJING)
            when = max(case.now + timedelta(minutes=20), received + timedelta(hours=hours))
            case.late = case.late or late
        else:
            when = self._work_to_deadline(case, desk, profile, late=late)
        note = _resolution(rng, case.current_service)
        case.act(when, Action.RESOLVE, desk, note=note)

    def _work_to_deadline(
        self, case: _Case, desk: Actor, profile: _Profile, *, late: bool
    ) -> datetime:
        rng, state = self.rng, case.state
        limit = RESOLUTION_WORKING_DAYS[state.priority]
        received = state.received_at.astimezone(BEIJING).date()
        due = case.add_working_days(received, limit)
        if state.extended_due:
            due = max(due, state.extended_due)
        hard = case.current_service.difficulty == "hard"
        if rng.random() < (0.3 if limit == 15 else 0.1 if hard else 0.02):
            before = due - timedelta(days=rng.randint(0, 2))
            when = case.on_day(max(before, case.now.date()))
            start = max(due, when.date())
            new_due = case.add_working_days(start, rng.randint(3, 10))
            reason = rng.choice(_EXTENSION_REASONS)
            note = f"{reason}，延期至{new_due.month}月{new_due.day}日。"
            case.act(when, Action.EXTEND, desk, note=note, new_due=new_due.isoformat())
            due = new_due
        if rng.random() < profile.stalls:
            day, late = case.add_working_days(due, rng.randint(8, 25)), True
        elif late:
            day = case.add_working_days(due, rng.randint(1, 5))
        else:
            day = self._on_time_day(case, due)
        if late and case.setting.end.date() > due:
            case.late = True  # late, whether or not the resolution lands before the end
        return case.on_day(day)

    def _on_time_day(self, case: _Case, due: date) -> date:
        today = case.now.date()
        if case.now.time() >= time(16, 30):
            today += timedelta(days=1)
        days, day = [], today
        while day <= due:
            if case.is_workday(day):
                days.append(day)
            day += timedelta(days=1)
        if not days:
            return today
        return days[int(len(days) * self.rng.random() ** 1.6)]

    def _after_closure(self, case: _Case) -> None:
        rng = self.rng
        state = case.state
        if state.status is not Status.RESOLVED:
            return
        can_reopen = not case.reopened and state.outcome in (Outcome.RESOLVED, Outcome.ANSWERED)
        if case.from_resident and case.vote is None and rng.random() < 0.8:
            when = case.now + timedelta(hours=rng.uniform(2, 120))
            rating = self._rating(case)
            comment = rng.choice(_COMMENTS[rating])
            if rng.random() < 0.03:
                comment = f"{comment}有问题可以打我电话{_mobile(rng)}。"
            case.act(when, Action.RATE, RESIDENT, rating=str(rating))
            case.vote = Vote(rating, comment, case.events[-1].at)
            if rating is Rating.UNSATISFIED and can_reopen and rng.random() < 0.55:
                case.act(case.later(60, 900), Action.REOPEN, DISPATCHER, note=_REOPEN_UNSATISFIED)
                self._redo(case)
                return
        if rng.random() < 0.8:
            when = case.later(480, 1800)
            failed = can_reopen and case.vote is None and rng.random() < 0.06
            result, note = ("failed", _FOLLOW_UP_FAILED) if failed else ("ok", _FOLLOW_UP_OK)
            case.act(when, Action.FOLLOW_UP, DISPATCHER, note=note, result=result)
            if failed:
                case.act(case.later(30, 240), Action.REOPEN, DISPATCHER, note=_REOPEN_FAILED)
                self._redo(case)
                return
        resolved = (case.state.resolved_at or case.now).astimezone(BEIJING)
        when = max(case.now, resolved + timedelta(days=rng.uniform(15, 30)))
        case.act(when, Action.ARCHIVE, DISPATCHER)

    def _redo(self, case: _Case) -> None:
        case.reopened = True
        involved = case.state.units_involved
        unit = involved[-1] if involved else case.current_service.department
        self._send(case, unit, case.later(15, 120))
        self._handle(case, unit)
        self._after_closure(case)

    def _rating(self, case: _Case) -> Rating:
        state = case.state
        if state.outcome is Outcome.REFUSED:
            weights = (0.15, 0.3, 0.55)
        elif state.outcome is Outcome.ANSWERED:
            weights = (0.78, 0.17, 0.05)
        elif case.late:
            weights = (0.42, 0.3, 0.28)
        else:
            weights = (0.76, 0.17, 0.07)
        return self.rng.choices(_RATINGS, weights=weights)[0]

    def _confused_with(self, unit: str) -> str:
        options = [u for u in _CONFUSIONS.get(unit, ()) if u in self.setting.profiles]
        if not options:
            options = sorted(set(self.departments) - {unit}) or [unit]
        return self.rng.choice(options)

    def _open_past_due(self, case: _Case) -> bool:
        state = case.state
        if state.status is Status.MERGED or state.route is Route.DIRECT_ANSWER:
            return False
        received = state.received_at.astimezone(BEIJING)
        end = self.setting.end
        if state.priority is Priority.URGENT:
            return end > received + timedelta(hours=24)
        try:
            due = self.setting.calendar.add_working_days(
                received.date(), RESOLUTION_WORKING_DAYS[state.priority]
            )
        except CalendarNotCovered:
            return False
        return end.date() > max(due, state.extended_due or due)


_RATINGS = (Rating.SATISFIED, Rating.BASICALLY_SATISFIED, Rating.UNSATISFIED)


# --------------------------------------------------------------------------
# Chunks, workers, the bulk write
# --------------------------------------------------------------------------
def _channel_weights(progress: float) -> tuple[tuple[Channel, ...], tuple[float, ...]]:
    channels = tuple(Channel)
    return channels, tuple(
        _CHANNELS_FIRST[c] + (_CHANNELS_LAST[c] - _CHANNELS_FIRST[c]) * progress for c in channels
    )


def chunk_histories(setting: Setting, chunk: Chunk) -> list[History]:
    """Every case of one chunk, in order of receipt: a pure function of its inputs."""
    rng = random.Random(f"synth:{setting.seed}:{chunk.number}")
    teller = _Teller(setting, rng)
    grids = setting.district.grids
    out: list[History] = []
    index = chunk.first_index
    for day, count in chunk.days:
        workday = setting.calendar.is_workday(day)
        channels, weights = _channel_weights((day - setting.first).days / setting.span_days)
        arrivals = []
        for _ in range(count):
            channel = rng.choices(channels, weights=weights)[0]
            if channel is Channel.PATROL and not workday:
                channel = Channel.HOTLINE  # no patrols on rest days
            if channel is Channel.PATROL:
                hour = rng.randrange(9, 17)
            else:
                hours = _HOTLINE_HOURS if channel is Channel.HOTLINE else _RESIDENT_HOURS
                hour = rng.choices(range(24), weights=hours)[0]
            at = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), BEIJING)
            if at > setting.end:  # the last day ends at ``end``: its cases come before
                opens = datetime.combine(day, time.min, BEIJING)
                at = opens + (setting.end - opens) * rng.random()
            grid = rng.choices(grids, weights=setting.grid_weights)[0]
            arrivals.append((at, grid, channel))
        arrivals.sort(key=lambda a: a[0])
        for at, grid, channel in arrivals:
            out.append(teller.case(index, at, grid, channel))
            index += 1
    return out


def generate(setting: Setting, chunks: Sequence[Chunk]) -> Iterator[list[History]]:
    """The chunks' histories in chunk order, a chunk at a time (memory: one chunk)."""
    for chunk in chunks:
        yield chunk_histories(setting, chunk)


@dataclass
class SynthSummary:
    cases: int = 0
    events: int = 0
    first: date | None = None
    last: date | None = None
    by_year: Counter[int] = field(default_factory=Counter)
    by_channel: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    by_route: Counter[str] = field(default_factory=Counter)
    by_rating: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)

    def add(self, history: History) -> None:
        record, events, vote = history
        self.cases += 1
        self.events += len(events)
        self.by_year[record.file.filed_at.astimezone(BEIJING).year] += 1
        self.by_channel[str(record.file.complaint.channel)] += 1
        self.by_status[str(record.status)] += 1
        if record.route:
            self.by_route[str(record.route)] += 1
        if vote is not None:
            self.by_rating[str(vote.rating)] += 1
        actions = {event.action for event in events}
        for action, name in (
            (Action.RETURN, "returned"),
            (Action.EXTEND, "extended"),
            (Action.REOPEN, "reopened"),
            (Action.MERGE, "merged"),
            (Action.SUPERVISE, "supervised"),
            (Action.REPORT, "reported"),
            (Action.REFUSE, "refused"),
        ):
            if action in actions:
                self.flags[name] += 1

    def lines(self) -> list[str]:
        def counts(values: Mapping[Any, int]) -> str:
            return "、".join(f"{k} {v}" for k, v in sorted(values.items()))

        return [
            f"合成案件 {self.cases} 件，办理步骤 {self.events} 步，"
            f"受理日期 {self.first} 至 {self.last}。",
            f"按年份：{counts(self.by_year)}",
            f"按渠道：{counts(self.by_channel)}",
            f"按状态：{counts(self.by_status)}",
            f"按处置方式：{counts(self.by_route)}",
            f"评价：{counts(self.by_rating)}",
            f"其中：{counts(self.flags)}",
        ]

    def merge(self, other: SynthSummary) -> None:
        self.cases += other.cases
        self.events += other.events
        self.by_year.update(other.by_year)
        self.by_channel.update(other.by_channel)
        self.by_status.update(other.by_status)
        self.by_route.update(other.by_route)
        self.by_rating.update(other.by_rating)
        self.flags.update(other.flags)


def synthesize(
    store: Store,
    district: District,
    calendar: WorkCalendar,
    keys: Keys,
    *,
    count: int,
    seed: int,
    end: datetime,
    years: int = 5,
    workers: int = 1,
    open_store: Callable[[], Store] | None = None,
    chunk_cases: int = CHUNK_CASES,
) -> SynthSummary:
    """Generate ``count`` case histories and write them with ``put_histories``, one chunk
    per call: memory holds a chunk per process, never the archive.

    With ``workers`` > 1 and ``open_store`` (a store of its own for each worker process, e.g.
    a fresh connection to the same SQLite file), the workers build and write chunks in
    parallel: histories never cross a process boundary, which would cost more to pickle
    than to build. The data written is the same for any number of workers.
    """
    setting = make_setting(district, calendar, keys, seed=seed, end=end, years=years)
    chunks = plan_chunks(calendar, setting.first, setting.last, count, chunk_cases)
    summary = SynthSummary(first=setting.first, last=setting.last)
    if workers <= 1 or open_store is None:
        for chunk in chunks:
            summary.merge(_write_chunk(setting, chunk, store))
        return summary
    context = multiprocessing.get_context("fork")  # the setting and the opener are inherited
    with context.Pool(workers, initializer=_init_worker, initargs=(setting, open_store)) as pool:
        for part in pool.imap_unordered(_work, chunks):
            summary.merge(part)
    return summary


def _write_chunk(setting: Setting, chunk: Chunk, store: Store) -> SynthSummary:
    batch = chunk_histories(setting, chunk)
    part = SynthSummary()
    for history in batch:
        part.add(history)
    store.put_histories(batch)
    return part


_WORKER: tuple[Setting, Store] | None = None


def _init_worker(setting: Setting, open_store: Callable[[], Store]) -> None:
    global _WORKER
    _WORKER = (setting, open_store())


def _work(chunk: Chunk) -> SynthSummary:
    assert _WORKER is not None, "the pool's initializer opens the worker's store"
    setting, store = _WORKER
    return _write_chunk(setting, chunk, store)
