"""Demo data: months of synthetic cases driven through the real use cases.

Every case is filed with ``Portal.file_complaint`` and moved with ``Portal.act`` and
``Portal.vote``, exactly as the API and the staff tools do it, so the demo can only
contain histories that the lifecycle rules allow: an illegal step would raise.

The generator is a small discrete-event simulation. Each case is a *story*, a
generator that takes its next step and then yields the moment it wants to take
the one after. The scheduler always resumes the earliest story and moves the
portal's clock forward to that moment, so the portal sees every action in time
order, as in real life. Steps that fall after ``end`` ("now") never happen: the
most recent cases are left open at whatever step they had reached.

Everything is drawn from one ``random.Random(seed)``, so a seed gives the same
cases, texts and timelines every time (tracking numbers, which the portal draws
from the operating system, differ).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import uuid
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import NamedTuple, TypeVar

from gridportal.domain.calendar import CalendarNotCovered, WorkCalendar
from gridportal.domain.deadlines import BEIJING
from gridportal.domain.model import (
    RESIDENT,
    Action,
    Actor,
    Channel,
    Complaint,
    Contact,
    Outcome,
    Priority,
    Rating,
    Role,
    Route,
    Status,
    label,
)
from gridportal.domain.reference import District, Grid, ServiceItem
from gridportal.ports import Store
from gridportal.services import CaseView, Portal, Receipt

DISPATCHER = Actor(Role.DISPATCHER, "dispatch-01")  # 指挥中心派单员
SUPERVISOR = Actor(Role.SUPERVISOR, "supervisor-01")  # 督查员


def handler(unit: str) -> Actor:
    """The desk of a department (职能部门承办人)."""
    return Actor(Role.HANDLER, f"{unit}-handler", unit=unit)


def grid_worker(grid: str) -> Actor:
    """The grid worker (网格员) who patrols ``grid`` and reports what they find."""
    return Actor(Role.GRID_WORKER, f"{grid}-worker", unit=grid)


class ManualClock:
    """The portal's clock, moved only forward and only by the generator."""

    def __init__(self, now: datetime) -> None:
        if now.utcoffset() is None:
            raise ValueError("the clock needs a timezone-aware time")
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("the clock never goes back")
        self.now += delta
        return self.now


class DemoReceipt(NamedTuple):
    """What a complainant was given for one case, so a visitor can try the demo.

    A tuple that starts (tracking, lookup_code, vote_token), with what it shows after.
    """

    tracking: str
    lookup_code: str
    vote_token: str
    kind: str  # e.g. "resolved_unrated"
    note: str  # what to try with it, in Chinese
    status: str


@dataclass(frozen=True)
class DemoSummary:
    cases: int
    events: int
    by_route: Mapping[str, int]
    by_outcome: Mapping[str, int]
    by_status: Mapping[str, int]
    by_channel: Mapping[str, int]
    returned: int  # cases returned (退回) at least once
    extended: int  # 延期
    reopened: int  # 重办
    merged: int  # 合并
    refused: int  # 不予办理
    supervised: int  # 现场督办
    rated: int  # with a resident's vote
    overdue: int  # deadline missed, resolved late or still open past it
    overdue_open: int
    receipts: tuple[DemoReceipt, ...] = ()

    def lines(self) -> list[str]:
        """A short report in Chinese for the command line."""

        def counts(values: Mapping[str, int], labels: Mapping[str, str]) -> str:
            return "、".join(f"{labels.get(k, k)} {v}" for k, v in values.items())

        route_labels = {str(r): label(r) for r in Route}
        outcome_labels = {str(o): label(o) for o in Outcome}
        lines = [
            f"演示案件 {self.cases} 件，办理步骤 {self.events} 步。",
            f"处置方式：{counts(self.by_route, route_labels)}",
            f"办理结果：{counts(self.by_outcome, outcome_labels)}",
            f"退回 {self.returned}、延期 {self.extended}、重办 {self.reopened}、"
            f"合并 {self.merged}、不予办理 {self.refused}、现场督办 {self.supervised}、"
            f"已评价 {self.rated}、超期 {self.overdue}（其中未办结 {self.overdue_open}）",
        ]
        for receipt in self.receipts:
            lines.append(
                f"{receipt.note}：受理编号 {receipt.tracking}，查询码 {receipt.lookup_code}，"
                f"评价码 {receipt.vote_token}"
            )
        return lines


def generate_demo(
    portal: Portal,
    district: District,
    clock: ManualClock,
    *,
    start: datetime,
    end: datetime,
    seed: int = 2026,
    cases_per_grid_per_month: float = 12,
) -> DemoSummary:
    """File and move synthetic cases from ``start`` to ``end`` through ``portal``.

    ``clock`` must be the portal's clock and must not be later than ``start``;
    it stands at ``end`` afterwards.
    """
    for name, moment in (("start", start), ("end", end)):
        if moment.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware")
    if not start < end:
        raise ValueError("start must be before end")
    if clock.now > start:
        raise ValueError("the clock is already past start")
    simulation = _Simulation(portal, district, clock, random.Random(seed), end)
    for arrival in _plan_arrivals(district, simulation, start, end, cases_per_grid_per_month):
        simulation.schedule(arrival.at, simulation.case_story(arrival))
    simulation.run()
    clock.advance(end - clock.now)
    return simulation.summary()


def copy_cases(source: Store, target: Store) -> int:
    """Copy every case (record, events, vote) from ``source`` to ``target``; returns the count.

    Driving thousands of steps through a portal on DynamoDB is slow, so a demo is
    generated on the in-memory store and then copied whole with ``put_histories``.
    """
    histories = [
        (record, events, source.get_vote(record.tracking))
        for record, events in source.all_histories()
    ]
    target.put_histories(histories)
    return len(histories)


def generate_in_memory(
    portal: Portal, *, end: datetime, days: int = 183, seed: int = 2026
) -> tuple[Portal, DemoSummary]:
    """The demo's months of cases on a fresh in-memory store, with ``portal``'s district,
    calendar and keys (so codes and public ids hold once the cases are copied over)."""
    from gridportal.adapters.memory import MemoryStore

    clock = ManualClock(end - timedelta(days=days))
    scratch = Portal(
        store=MemoryStore(),
        district=portal.district,
        calendar=portal.calendar,
        keys=portal.keys,
        clock=clock,
    )
    summary = generate_demo(scratch, portal.district, clock, start=clock.now, end=end, seed=seed)
    return scratch, summary


# --------------------------------------------------------------------------
# Arrivals: when, where, through which channel and about what cases come in
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Arrival:
    at: datetime
    grid: Grid
    service: ServiceItem
    channel: Channel
    location: str
    description: str
    contact: Contact
    request_key: str  # the Idempotency-Key the form or the importer would send


_CHANNEL_WEIGHTS = {
    Channel.PORTAL: 0.30,
    Channel.HOTLINE: 0.30,
    Channel.WECHAT: 0.15,
    Channel.PATROL: 0.25,
}
# Relative filing rate by hour of day (Beijing), from 00:00 to 23:00. Residents
# write in the evening too; the hotline is busiest in office hours.
_NIGHT = (0.2, 0.2, 0.2, 0.2, 0.2, 0.2)
_DAY = (0.6, 1.2, 2.0, 3.0, 3.0, 2.5, 1.6, 2.0, 2.8, 2.8, 2.4, 2.0)  # 06:00–17:00
_RESIDENT_HOURS: tuple[float, ...] = (*_NIGHT, *_DAY, 2.2, 2.6, 2.6, 2.0, 1.2, 0.5)
_OFFICE = (0.8, 2.0, 3.5, 4.0, 3.5, 2.5, 1.8, 2.5, 3.5, 3.5, 3.0, 2.2)  # 06:00–17:00
_HOTLINE_HOURS: tuple[float, ...] = (*_NIGHT, *_OFFICE, 1.8, 1.6, 1.4, 1.0, 0.6, 0.4)

# How often each category comes up (relative); unknown codes count 1.
_CATEGORY_WEIGHTS = {
    "env-litter": 10,
    "env-sorting": 5,
    "env-stall": 5,
    "env-ads": 3,
    "env-noise": 7,
    "env-fumes": 3,
    "env-greenery": 2,
    "env-drain": 3,
    "safe-fire": 4,
    "safe-ebike": 4,
    "safe-gas": 1.5,
    "safe-structure": 1,
    "safe-manhole": 1.5,
    "safe-falling": 1,
    "life-water": 2,
    "life-streetlight": 3,
    "life-elevator": 1.5,
    "life-property": 3,
    "life-elderly": 2,
    "life-assistance": 1,
    "life-clinic": 1,
    "dispute-leak": 3,
    "dispute-noise": 3,
    "dispute-pets": 2.5,
    "dispute-common": 2,
    "build-illegal": 2,
    "build-roof": 1,
    "build-bearing": 0.7,
    "rent-crowded": 1.5,
    "rent-unregistered": 1,
    "rent-shortstay": 1.5,
    "food-unlicensed": 1,
    "food-expired": 1,
    "food-hygiene": 1.5,
    "traffic-parking": 8,
    "traffic-bikes": 5,
    "traffic-road": 2,
    "traffic-signs": 1,
}
_POLICY_WEIGHT = 2.0
# What a grid worker does not report: questions, quarrels, and matters only the
# person concerned can describe.
_NOT_PATROL_GROUPS = {"政策咨询", "邻里纠纷"}
_NOT_PATROL_CODES = {"life-elderly", "life-assistance", "life-clinic", "food-expired"}
_SUMMER = {"env-noise", "env-drain", "life-water", "env-fumes", "env-stall"}
_WINTER = {"safe-gas", "safe-fire", "safe-ebike"}
# Three storylines that the published early warnings (信息预警) should find.
_RISING = "rent-shortstay"  # short-stay rentals take off in the last weeks
_SPREADING = "safe-ebike"  # reaching more grids as the months go by
_RECURRING = "traffic-parking"  # the same spot in one grid, again and again
_REST_DAY_RATE = 0.7  # fewer cases on weekends and holidays


@dataclass(frozen=True)
class _Storylines:
    spreading_order: tuple[str, ...]  # grids in the order the problem reaches them
    recurring_grid: str | None
    recurring_spot: str


def _plan_arrivals(
    district: District,
    sim: _Simulation,
    start: datetime,
    end: datetime,
    per_grid_month: float,
) -> list[_Arrival]:
    rng = sim.rng
    grids = list(district.grids)
    places = {grid.id: _Places(grid, district) for grid in grids}
    recurring = rng.choice(grids) if grids else None
    stories = _Storylines(
        spreading_order=tuple(g.id for g in rng.sample(grids, len(grids))),
        recurring_grid=recurring.id if recurring else None,
        recurring_spot=places[recurring.id].crossing(rng) if recurring else "",
    )
    # Each grid has its own character: a market street has stalls, old blocks have leaks.
    character = {
        (grid.id, service.code): rng.lognormvariate(0.0, 0.7)
        for grid in grids
        for service in district.services
    }
    first, last = start.astimezone(BEIJING).date(), end.astimezone(BEIJING).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    workdays = {day for day in days if sim.is_workday(day)}
    # Scale so that a month averages ``per_grid_month`` cases, quieter rest days included.
    average_rate = (len(workdays) + _REST_DAY_RATE * (len(days) - len(workdays))) / len(days)
    daily = per_grid_month / 30.44 / average_rate
    arrivals: list[_Arrival] = []
    for day in days:
        workday = day in workdays
        progress = (day - first).days / max(1, len(days) - 1)
        for grid in grids:
            for _ in range(_poisson(rng, daily * (1.0 if workday else _REST_DAY_RATE))):
                channel = _pick(rng, _CHANNEL_WEIGHTS, exclude=() if workday else (Channel.PATROL,))
                at = _arrival_time(rng, day, channel)
                if not start <= at < end:
                    continue
                weights = _category_weights(
                    district, grid, channel, day, progress, stories, character
                )
                service = district.service(_pick(rng, weights))
                assert service is not None
                if service.code == _RECURRING and grid.id == stories.recurring_grid:
                    location = stories.recurring_spot
                else:
                    location = places[grid.id].location(rng, service)
                arrivals.append(
                    _Arrival(
                        at=at,
                        grid=grid,
                        service=service,
                        channel=channel,
                        location=location,
                        description=_description(rng, service, location, channel),
                        contact=_contact(rng, channel),
                        request_key=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    )
                )
    arrivals.sort(key=lambda a: a.at)
    return arrivals


def _category_weights(
    district: District,
    grid: Grid,
    channel: Channel,
    day: date,
    progress: float,  # 0 at the start of the period, about 1 at its end
    stories: _Storylines,
    character: Mapping[tuple[str, str], float],
) -> dict[str, float]:
    weights: dict[str, float] = {}
    for service in district.services:
        policy = bool(service.answer)
        weight = _POLICY_WEIGHT if policy else _CATEGORY_WEIGHTS.get(service.code, 1.0)
        weight *= character[grid.id, service.code]
        if channel is Channel.PATROL:
            if policy or service.group in _NOT_PATROL_GROUPS or service.code in _NOT_PATROL_CODES:
                continue
            # Grid workers report what is easy to see and to close: the gaming to expose.
            weight *= 1.8 if service.difficulty == "easy" else 0.5
        if service.code in _SUMMER and day.month in (6, 7, 8, 9):
            weight *= 1.6
        if service.code in _WINTER and day.month in (11, 12, 1, 2):
            weight *= 1.5
        if service.code == _RISING:
            # Flat for most of the period, then four times as frequent by its end.
            weight *= 1.0 + 3.0 * min(1.0, max(0.0, (progress - 0.8) / 0.2))
        if service.code == _SPREADING:
            reached = max(1, round(progress * 0.6 * len(stories.spreading_order)))
            weight *= 3.0 if grid.id in stories.spreading_order[:reached] else 0.3
        if service.code == _RECURRING and grid.id == stories.recurring_grid:
            weight *= 4.0
        if weight > 0:
            weights[service.code] = weight
    return weights


def assessment(rng: random.Random, district: District, service: ServiceItem) -> dict[str, str]:
    """The dispatcher's assessment data: the service's priority; now and then the resident
    picked a neighbouring category, and the dispatcher fixes it (the demo and synth share it)."""
    data = {"priority": str(service.priority)}
    if not service.answer and rng.random() < 0.03:
        siblings = [
            s
            for s in district.services
            if s.group == service.group and s.code != service.code and not s.answer
        ]
        if siblings:
            better = rng.choice(siblings)
            data = {"priority": str(better.priority), "category": better.code}
    return data


def _arrival_time(rng: random.Random, day: date, channel: Channel) -> datetime:
    if channel is Channel.PATROL:
        hour = rng.randrange(9, 17)
    else:
        hours = _HOTLINE_HOURS if channel is Channel.HOTLINE else _RESIDENT_HOURS
        hour = rng.choices(range(24), weights=hours)[0]
    moment = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), BEIJING)
    return moment


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small daily means used here.
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


K = TypeVar("K")


def _pick(rng: random.Random, weights: Mapping[K, float], exclude: Sequence[K] = ()) -> K:
    keys = [k for k in weights if k not in exclude]
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


# --------------------------------------------------------------------------
# The simulation: stories scheduled in time order
# --------------------------------------------------------------------------

# A story, or a part of one: it yields the moments it wants to be resumed at. A story
# that is not resumed (its next moment is after the end) simply stops where it is.
Story = Generator[datetime, None, None]

WORK_START = time(8, 30)
WORK_END = time(17, 30)


@dataclass
class _Case:
    arrival: _Arrival
    receipt: Receipt
    view: CaseView
    voted: bool = False
    reopened: bool = False

    @property
    def tracking(self) -> str:
        return self.receipt.tracking

    @property
    def service(self) -> ServiceItem:
        return self.arrival.service

    @property
    def urgent(self) -> bool:
        return self.view.state.priority is Priority.URGENT

    @property
    def from_resident(self) -> bool:
        return self.arrival.channel is not Channel.PATROL


@dataclass(frozen=True)
class _Profile:
    """How a department tends to work: the demo's departments are not all alike."""

    late: float  # share of cases resolved after the deadline
    misrouted: float  # share of its cases first sent to another unit, which returns them
    stalls: float  # share of cases that sit untouched for weeks


@dataclass
class _Simulation:
    portal: Portal
    district: District
    clock: ManualClock
    rng: random.Random
    end: datetime
    cases: list[_Case] = field(default_factory=list)
    events: int = 0
    _queue: list[tuple[datetime, int, Story]] = field(default_factory=list)
    _order: Iterator[int] = field(default_factory=itertools.count)
    _recent: dict[tuple[str, str], list[_Case]] = field(default_factory=dict)
    _profiles: dict[str, _Profile] = field(default_factory=dict)

    def __post_init__(self) -> None:
        departments = sorted(d.id for d in self.district.departments)
        slow = set(self.rng.sample(departments, min(2, len(departments))))
        for unit in departments:
            self._profiles[unit] = _Profile(
                late=self.rng.uniform(0.15, 0.25) if unit in slow else self.rng.uniform(0.02, 0.07),
                misrouted=self.rng.uniform(0.03, 0.08),
                stalls=0.1 if unit in slow else 0.02,
            )

    @property
    def calendar(self) -> WorkCalendar:
        return self.portal.calendar

    # ----------------------------------------------------------- scheduler
    def schedule(self, at: datetime, story: Story) -> None:
        heapq.heappush(self._queue, (at, next(self._order), story))

    def run(self) -> None:
        while self._queue:
            at, _, story = heapq.heappop(self._queue)
            if at > self.end:
                break  # everything left is in the future: those cases stay open
            self.clock.advance(max(at - self.clock.now, timedelta(0)))
            try:
                wake = next(story)
            except StopIteration:
                continue
            self.schedule(max(wake, self.clock.now), story)

    @property
    def now(self) -> datetime:
        return self.clock.now.astimezone(BEIJING)

    # ----------------------------------------------------- portal calls
    def act(
        self,
        case: _Case,
        action: Action,
        actor: Actor,
        *,
        note: str = "",
        private: str = "",
        **data: str,
    ) -> None:
        case.view = self.portal.act(
            case.tracking, action, actor, public_note=note, private_note=private, data=data
        )
        self.events += 1

    def send(self, case: _Case, unit: str) -> None:
        """Dispatch (转办) to ``unit``."""
        self.act(
            case, Action.DISPATCH, DISPATCHER, note=_dispatch_note(self.district, unit), unit=unit
        )

    def file(self, arrival: _Arrival) -> _Case:
        complaint = Complaint(
            category=arrival.service.code,
            grid=arrival.grid.id,
            location=arrival.location,
            description=arrival.description,
            channel=arrival.channel,
            contact=arrival.contact,
        )
        actor = grid_worker(arrival.grid.id) if arrival.channel is Channel.PATROL else RESIDENT
        receipt = self.portal.file_complaint(
            complaint, actor=actor, idempotency_key=arrival.request_key
        )
        case = _Case(arrival, receipt, receipt.view)
        self.cases.append(case)
        self.events += 1
        return case

    # --------------------------------------------------------------- stories
    def case_story(self, arrival: _Arrival) -> Story:
        rng = self.rng
        case = self.file(arrival)
        earlier = self._duplicate_of(case)
        if earlier is not None:
            yield self.work_later(10, 150, urgent=case.urgent)
            self.act(case, Action.MERGE, DISPATCHER, note=_MERGE_NOTE, into=earlier.tracking)
            return
        self._recent.setdefault((arrival.grid.id, arrival.service.code), []).append(case)

        if case.service.answer and rng.random() < 0.9:
            yield from self._answer(case)
        else:
            yield self.work_later(5, 20, urgent=True) if case.urgent else self.work_later(10, 180)
            self._assess(case)
            yield from self._handle_route(case)
        yield from self._after_closure(case)

    def _answer(self, case: _Case) -> Story:
        """直接解答: the hotline answers on the call; written questions within hours."""
        if case.arrival.channel is Channel.HOTLINE:
            yield self.now + timedelta(minutes=self.rng.randint(3, 15))
        else:
            yield self.work_later(15, 240)
            self._assess(case)
        self.act(case, Action.ANSWER, DISPATCHER, note=case.service.answer)

    def _assess(self, case: _Case) -> None:
        data = assessment(self.rng, self.district, case.service)
        self.act(case, Action.ASSESS, DISPATCHER, note=_ASSESS_NOTE, **data)

    def _handle_route(self, case: _Case) -> Story:
        rng, service = self.rng, self._current_service(case)
        unit = service.department
        refuse_share = 0.06 if service.group == "邻里纠纷" else 0.012
        if rng.random() < refuse_share:
            yield self.work_later(10, 90, urgent=case.urgent)
            self.act(case, Action.REFUSE, DISPATCHER, note=rng.choice(_REFUSALS_AT_DESK))
            return
        hard, complex_ = service.difficulty == "hard", service.priority is Priority.COMPLEX
        draw = rng.random()
        if draw < (0.3 if hard and complex_ else 0.03):
            yield from self._special_report(case, unit)
        elif draw < (0.42 if hard and complex_ else 0.12 if hard else 0.05):
            yield from self._onsite(case, unit)
        else:
            yield from self._dispatch(case, unit)

    def _dispatch(self, case: _Case, unit: str) -> Story:
        """分类转办, sometimes first to the wrong unit, which sends it back (退回)."""
        if self.rng.random() < self._profiles[unit].misrouted:
            yield from self._misroute(case, unit)
        self.send(case, unit)
        yield from self._handle(case, unit)

    def _misroute(self, case: _Case, unit: str) -> Story:
        wrong = self._confused_with(unit)
        self.send(case, wrong)
        yield self.work_later(40, 480, urgent=case.urgent)
        self.act(case, Action.RETURN, handler(wrong), note=_return_note(self.district, unit))
        yield self.work_later(10, 90, urgent=case.urgent)

    def _onsite(self, case: _Case, unit: str) -> Story:
        """现场督办: units passed the case between them, or sat on it; the supervisor goes."""
        rng = self.rng
        if rng.random() < 0.6:
            yield from self._misroute(case, unit)
            self.send(case, unit)
            if case.from_resident:
                self.act(case, Action.CONTACT, DISPATCHER, note=_CONTACT_NOTE)
            yield self.work_later(120, 900, urgent=case.urgent)
            self.act(case, Action.RETURN, handler(unit), note=rng.choice(_PASSING_ON))
            yield self.work_later(60, 480, urgent=case.urgent)
        else:
            self.send(case, unit)
            yield self.work_later(240, 1400, urgent=case.urgent)
        self.act(
            case,
            Action.SUPERVISE,
            SUPERVISOR,
            note=_SUPERVISE_NOTE.format(unit=_unit_name(self.district, unit)),
            unit=unit,
        )
        yield from self._handle(case, unit, accepted=True)

    def _special_report(self, case: _Case, unit: str) -> Story:
        """专报批办: the matter goes up, a decision names the lead unit, then it is handled."""
        rng = self.rng
        yield self.work_later(30, 300)
        self.act(case, Action.REPORT, DISPATCHER, note=rng.choice(_REPORT_NOTES))
        # The command centre tells the complainant while the decision is pending.
        yield self.work_later(10, 120)
        self.act(case, Action.CONTACT, DISPATCHER, note=_CONTACT_REPORTED)
        yield self.work_later(480, 2400)
        helpers = [d.id for d in self.district.departments if d.id != unit]
        helper = rng.choice(helpers) if helpers else unit
        note = _DECIDE_NOTE.format(
            lead=_unit_name(self.district, unit), helper=_unit_name(self.district, helper)
        )
        self.act(case, Action.DECIDE, SUPERVISOR, note=note, unit=unit)
        yield from self._handle(case, unit)

    def _handle(self, case: _Case, unit: str, *, accepted: bool = False) -> Story:
        """The unit signs, calls the complainant, maybe extends, and resolves (or refuses)."""
        rng, desk, urgent = self.rng, handler(unit), case.urgent
        profile = self._profiles[unit]
        if not accepted:
            yield self.work_later(5, 30, urgent=True) if urgent else self.work_later(20, 240)
            self.act(case, Action.ACCEPT, desk)
        # The complainant (or, for a patrol report, the grid worker) is called back.
        if urgent:
            yield self.now + timedelta(minutes=rng.randint(5, 45))
        elif rng.random() < 0.94:
            yield self.work_later(15, 240)
        else:
            yield self.on_working_day(self._received_day(case), rng.randint(2, 3))
        if case.from_resident:
            self.act(case, Action.CONTACT, desk, note=_CONTACT_NOTE, private=_CONTACT_PRIVATE)
        else:
            self.act(case, Action.CONTACT, desk, note=_CONTACT_PATROL)
        if rng.random() < (0.1 if self._current_service(case).group == "邻里纠纷" else 0.015):
            yield self.work_later(120, 1200)
            self.act(case, Action.REFUSE, desk, note=rng.choice(_REFUSALS_IN_UNIT))
            return
        late = rng.random() < profile.late
        if urgent:
            hours = rng.uniform(26, 60) if late else rng.uniform(1.5, 20)
            yield max(
                self.now + timedelta(minutes=20), self._received(case) + timedelta(hours=hours)
            )
        else:
            yield from self._work_to_deadline(case, desk, profile, late=late)
        self.act(case, Action.RESOLVE, desk, note=_resolution(rng, self._current_service(case)))

    def _work_to_deadline(
        self, case: _Case, desk: Actor, profile: _Profile, *, late: bool
    ) -> Story:
        """Working-day cases: perhaps an extension (延期), then the day the work is done."""
        rng, state = self.rng, case.view.state
        limit = 15 if state.priority is Priority.COMPLEX else 5
        due = self.add_working_days(self._received_day(case), limit)
        if state.extended_due:  # extended before a reopening
            due = max(due, state.extended_due)
        hard = self._current_service(case).difficulty == "hard"
        if rng.random() < (0.3 if limit == 15 else 0.1 if hard else 0.02):
            yield self.on_working_day(due, -rng.randint(0, 2))
            # The new date must be later than today and than any earlier extension.
            new_due = self.add_working_days(max(due, self.now.date()), rng.randint(3, 10))
            self.act(
                case,
                Action.EXTEND,
                desk,
                note=f"{rng.choice(_EXTENSION_REASONS)}，延期至{new_due.month}月{new_due.day}日。",
                new_due=new_due.isoformat(),
            )
            due = new_due
        if rng.random() < profile.stalls:
            day = self.add_working_days(due, rng.randint(8, 25))
        elif late:
            day = self.add_working_days(due, rng.randint(1, 5))
        else:
            day = self._on_time_day(due)
        yield self.on_working_day(day, 0)

    def _after_closure(self, case: _Case) -> Story:
        """Rating (评价) or follow-up (回访), perhaps a reopening (重办), then archiving."""
        rng = self.rng
        state = case.view.state
        if state.status is not Status.RESOLVED:
            return
        can_reopen = not case.reopened and state.outcome in (Outcome.RESOLVED, Outcome.ANSWERED)
        if case.from_resident and not case.voted and rng.random() < 0.8:
            yield self.now + timedelta(hours=rng.uniform(2, 120))
            rating = self._rating(case)
            case.view = self.portal.vote(
                case.tracking, case.receipt.vote_token, rating, rng.choice(_COMMENTS[rating])
            )
            case.voted = True
            self.events += 1
            if rating is Rating.UNSATISFIED and can_reopen and rng.random() < 0.55:
                yield self.work_later(60, 900)
                self.act(case, Action.REOPEN, DISPATCHER, note=_REOPEN_UNSATISFIED)
                yield from self._redo(case)
                return
        if rng.random() < 0.8:
            yield self.work_later(480, 1800)
            failed = can_reopen and not case.voted and rng.random() < 0.06
            result, note = ("failed", _FOLLOW_UP_FAILED) if failed else ("ok", _FOLLOW_UP_OK)
            self.act(case, Action.FOLLOW_UP, DISPATCHER, note=note, result=result)
            if failed:
                yield self.work_later(30, 240)
                self.act(case, Action.REOPEN, DISPATCHER, note=_REOPEN_FAILED)
                yield from self._redo(case)
                return
        resolved_at = case.view.state.resolved_at or self.now
        yield max(self.now, resolved_at + timedelta(days=rng.uniform(15, 30)))
        self.act(case, Action.ARCHIVE, DISPATCHER)

    def _redo(self, case: _Case) -> Story:
        case.reopened = True
        # Back to the unit that last handled it (a direct answer goes to the default unit).
        involved = case.view.state.units_involved
        unit = involved[-1] if involved else self._current_service(case).department
        yield self.work_later(15, 120)
        self.send(case, unit)
        yield from self._handle(case, unit)
        yield from self._after_closure(case)

    def _rating(self, case: _Case) -> Rating:
        state = case.view.state
        report = case.view.deadlines
        late = report is not None and report.met is False
        if state.outcome is Outcome.REFUSED:
            weights = (0.15, 0.3, 0.55)
        elif state.outcome is Outcome.ANSWERED:
            weights = (0.78, 0.17, 0.05)
        elif late:
            weights = (0.42, 0.3, 0.28)
        else:
            weights = (0.76, 0.17, 0.07)
        ratings = (Rating.SATISFIED, Rating.BASICALLY_SATISFIED, Rating.UNSATISFIED)
        return self.rng.choices(ratings, weights=weights)[0]

    def _duplicate_of(self, case: _Case) -> _Case | None:
        """An earlier case about the same thing in the same grid, filed in the last ten days."""
        arrival = case.arrival
        recent = self._recent.get((arrival.grid.id, arrival.service.code), [])
        since = arrival.at - timedelta(days=10)
        candidates = [c for c in recent if c.arrival.at >= since]
        if candidates and self.rng.random() < 0.25:
            return candidates[-1]
        return None

    def _confused_with(self, unit: str) -> str:
        known = {d.id for d in self.district.departments}
        options = [u for u in _CONFUSIONS.get(unit, ()) if u in known]
        if not options:
            options = sorted(known - {unit})
        return self.rng.choice(options) if options else unit

    def _current_service(self, case: _Case) -> ServiceItem:
        return self.district.service(case.view.state.category) or case.service

    def _received(self, case: _Case) -> datetime:
        return case.view.state.received_at.astimezone(BEIJING)

    def _received_day(self, case: _Case) -> date:
        return self._received(case).date()

    def _on_time_day(self, due: date) -> date:
        # Most units finish well before the deadline, a few on the last day.
        today = self.now.date()
        if self.now.time() >= time(16, 30):
            today += timedelta(days=1)
        days = []
        day = today
        while day <= due:
            if self.is_workday(day):
                days.append(day)
            day += timedelta(days=1)
        if not days:
            return today
        return days[int(len(days) * self.rng.random() ** 1.6)]

    # ------------------------------------------------------------- times
    def is_workday(self, day: date) -> bool:
        # Scheduling demo steps only: outside the official calendar, fall back to
        # Monday–Friday. Published deadlines never use this; they stay pending.
        try:
            return self.calendar.is_workday(day)
        except CalendarNotCovered:
            return day.weekday() < 5

    def add_working_days(self, day: date, n: int) -> date:
        step = 1 if n >= 0 else -1
        for _ in range(abs(n)):
            day += timedelta(days=step)
            while not self.is_workday(day):
                day += timedelta(days=step)
        return day

    def on_working_day(self, day: date, offset: int) -> datetime:
        """A moment in working hours, ``offset`` working days from ``day``, and after now."""
        day = self.add_working_days(day, offset)
        while not self.is_workday(day):
            day += timedelta(days=1)
        minutes = self.rng.randint(30, 500)  # 09:00–16:50
        moment = datetime.combine(day, time(8, 30), BEIJING) + timedelta(minutes=minutes)
        return moment if moment > self.now else self.work_later(20, 120)

    def work_later(self, low: int, high: int, *, urgent: bool = False) -> datetime:
        """Now plus a random number of minutes, counted in working hours unless urgent."""
        minutes = self.rng.randint(low, high)
        if urgent:
            return self.now + timedelta(minutes=minutes)
        moment = self._next_working_moment(self.now)
        while True:
            close = datetime.combine(moment.date(), WORK_END, BEIJING)
            room = (close - moment) / timedelta(minutes=1)
            if minutes <= room:
                return moment + timedelta(minutes=minutes)
            minutes -= int(room)
            moment = self._next_working_moment(close + timedelta(seconds=1))

    def _next_working_moment(self, moment: datetime) -> datetime:
        day = moment.date()
        while True:
            if self.is_workday(day):
                opens = datetime.combine(day, WORK_START, BEIJING)
                closes = datetime.combine(day, WORK_END, BEIJING)
                if moment < opens:
                    return opens
                if moment < closes:
                    return moment
            day += timedelta(days=1)
            moment = datetime.combine(day, time.min, BEIJING)

    # ------------------------------------------------------------ summary
    def summary(self) -> DemoSummary:
        views = [(case, self.portal.staff_view(case.tracking, DISPATCHER)) for case in self.cases]
        routes: Counter[str] = Counter()
        outcomes: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        channels: Counter[str] = Counter()
        flags: Counter[str] = Counter()
        for case, view in views:
            state = view.state
            channels[str(case.arrival.channel)] += 1
            statuses[str(state.status)] += 1
            if state.route:
                routes[str(state.route)] += 1
            if state.outcome:
                outcomes[str(state.outcome)] += 1
            # A merged duplicate is never resolved itself: its original carries the deadline.
            late = (
                state.status is not Status.MERGED
                and view.deadlines is not None
                and view.deadlines.met is False
            )
            flags.update(
                name
                for name, present in (
                    ("returned", state.return_count > 0),
                    ("extended", bool(state.extensions)),
                    ("reopened", state.reopen_count > 0),
                    ("merged", state.status is Status.MERGED),
                    ("refused", state.outcome is Outcome.REFUSED),
                    ("supervised", state.supervised),
                    ("rated", view.vote is not None),
                    ("overdue", late),
                    ("overdue_open", late and state.is_open),
                )
                if present
            )
        return DemoSummary(
            cases=len(views),
            events=self.events,
            by_route=dict(sorted(routes.items())),
            by_outcome=dict(sorted(outcomes.items())),
            by_status=dict(sorted(statuses.items())),
            by_channel=dict(sorted(channels.items())),
            returned=flags["returned"],
            extended=flags["extended"],
            reopened=flags["reopened"],
            merged=flags["merged"],
            refused=flags["refused"],
            supervised=flags["supervised"],
            rated=flags["rated"],
            overdue=flags["overdue"],
            overdue_open=flags["overdue_open"],
            receipts=_interesting(views),
        )


_SHOWCASE: tuple[tuple[str, str, Callable[[_Case, CaseView], bool]], ...] = (
    (
        "resolved_unrated",
        "已办结、尚未评价（可用评价码打分）",
        lambda c, v: v.state.status is Status.RESOLVED and v.vote is None and c.from_resident,
    ),
    (
        "in_progress",
        "办理中",
        lambda c, v: v.state.status is Status.IN_PROGRESS and c.from_resident,
    ),
    (
        "overdue_open",
        "已超期、尚未办结",
        lambda c, v: v.state.is_open and v.deadlines is not None and v.deadlines.met is False,
    ),
    (
        "awaiting_decision",
        "专报待批",
        lambda c, v: v.state.status is Status.AWAITING_DECISION,
    ),
    ("reopened", "评价不满意后重办", lambda c, v: v.state.reopen_count > 0),
    ("rated", "已评价", lambda c, v: v.state.status is Status.RATED),
)


def _interesting(views: Sequence[tuple[_Case, CaseView]]) -> tuple[DemoReceipt, ...]:
    """The most recent case in each showcase state, with its receipt: a case of its own
    for each (one case may show two states)."""
    found: list[DemoReceipt] = []
    for kind, note, wanted in _SHOWCASE:
        taken = {r.tracking for r in found}
        match = next(
            (pair for pair in reversed(views) if pair[0].tracking not in taken and wanted(*pair)),
            None,
        )
        if match is not None:
            case, view = match
            found.append(
                DemoReceipt(
                    kind=kind,
                    note=note,
                    tracking=case.tracking,
                    lookup_code=case.receipt.lookup_code,
                    vote_token=case.receipt.vote_token,
                    status=str(view.state.status),
                )
            )
    return tuple(found)


# --------------------------------------------------------------------------
# Places and texts
# --------------------------------------------------------------------------

_STREET_ENDINGS = ("路", "街", "巷", "里", "弄", "池头", "广场")
_CORNERS = ("东北角", "东南角", "西北角", "西南角")
# Matters that happen in and around homes rather than in the street.
_RESIDENTIAL_GROUPS = {"安全隐患", "邻里纠纷", "出租房管理", "违法建设", "政策咨询"}
_RESIDENTIAL_CODES = {"life-property", "life-elevator", "life-elderly", "life-assistance"}


class _Places:
    """Grid-level places (never a home address) built from the grid's public boundary."""

    def __init__(self, grid: Grid, district: District) -> None:
        north_south: list[str] = []  # streets on the east and west edges run north–south
        east_west: list[str] = []
        for side, street in grid.edges():
            if street.endswith(_STREET_ENDINGS):
                (north_south if side in "东西" else east_west).append(street)
        community = district.community(grid.community)
        self.grid = grid
        self.community = community.name if community else grid.name
        self.north_south = north_south or [grid.name]
        self.east_west = east_west or [grid.name]
        self.streets = sorted(set(self.north_south + self.east_west))

    def crossing(self, rng: random.Random) -> str:
        a, b = rng.choice(self.north_south), rng.choice(self.east_west)
        if a == b:
            return f"{a}沿线"
        return f"{a}与{b}交叉口{rng.choice(_CORNERS)}"

    def location(self, rng: random.Random, service: ServiceItem) -> str:
        street = rng.choice(self.streets)
        if service.group in _RESIDENTIAL_GROUPS or service.code in _RESIDENTIAL_CODES:
            options = [
                f"{self.grid.name}内老旧住宅楼",
                f"{street}附近的住宅楼",
                f"{self.community}辖区{street}一带",
            ]
        else:
            options = [
                self.crossing(rng),
                f"{street}沿街商铺门口",
                f"{street}公交站附近",
                f"{self.community}{rng.choice(('南门旁', '北门口', '东侧小门', '活动室旁'))}",
                f"{street}人行道",
                f"{street}背街小巷内",
            ]
        return rng.choice(options)


_SURNAMES = "王李张刘陈杨黄赵吴周徐孙朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭沈姚陆汪金"
_WHEN = ("最近一周", "这几天", "近一个月", "每天晚上", "周末", "已经好几天")
_OPENINGS = ("", "", "", "您好，", "反映一个问题：", "我是附近居民，", "你好，麻烦看一下：")
_CLOSINGS = (
    "希望尽快处理。",
    "请相关部门来看看。",
    "之前反映过一次，还是没有解决。",
    "影响居民生活，麻烦处理一下。",
    "谢谢！",
    "希望有人管一管。",
)


def _mobile(rng: random.Random) -> str:
    # Shaped like a mobile number, with a run of zeros that no operator assigns.
    return f"1{rng.choice('3578')}{rng.randrange(10)}0000{rng.randrange(10000):04d}"


def _personal_detail(rng: random.Random) -> str:
    """Residents often write who they are and how to reach them; the redactor must catch it."""
    surname = rng.choice(_SURNAMES)
    return rng.choice(
        (
            f"我家住{rng.randint(1, 12)}幢{rng.randint(1, 3)}单元"
            f"{rng.randint(1, 6)}0{rng.randint(1, 4)}室，",
            f"有事可以打我电话{_mobile(rng)}。",
            f"我姓{surname}，叫我{surname}先生就行，",
            f"联系人：{surname}女士，电话{_mobile(rng)}。",
            f"我是{rng.randint(2, 9)}号楼{rng.randint(1, 6)}0{rng.randint(1, 2)}的住户，",
        )
    )


def _issues(service: ServiceItem) -> tuple[str, ...]:
    """How residents word a matter of this category (``{loc}``, ``{when}`` to fill)."""
    issues, _ = _TEXTS.get(service.code, ((), ()))
    return issues or (f"{{loc}}存在“{service.name}”问题，{{when}}一直没有解决",)


def _issue_at(issue: str, location: str, when: str) -> str:
    # A place "…公交站附近" in "{loc}附近工地" would say 附近 twice.
    return issue.format(loc=location, when=when).replace("附近附近", "附近")


def _description(rng: random.Random, service: ServiceItem, location: str, channel: Channel) -> str:
    issue = _issue_at(rng.choice(_issues(service)), location, rng.choice(_WHEN))
    if channel is Channel.PATROL:
        return f"巡查发现：{issue}，已拍照留存，请相关部门处置。"
    if service.answer:
        return f"{rng.choice(('', '请问，', '您好，'))}{issue}？"
    closing = rng.choice(_CLOSINGS)
    if rng.random() < 0.22:
        detail = _personal_detail(rng)
        if detail.endswith("，"):  # who they are, before the matter
            return f"{detail}{issue}，{closing}"
        return f"{issue}，{closing}{detail}"
    return f"{rng.choice(_OPENINGS)}{issue}，{closing}"


def _contact(rng: random.Random, channel: Channel) -> Contact:
    if channel is Channel.PATROL:
        return Contact()
    # The hotline always knows the caller's number; online forms leave it optional.
    with_phone = channel is Channel.HOTLINE or rng.random() < 0.6
    if not with_phone:
        return Contact()
    surname = rng.choice(_SURNAMES)
    name = rng.choice((f"{surname}先生", f"{surname}女士", "", ""))
    return Contact(name=name, phone=_mobile(rng))


def _resolution(rng: random.Random, service: ServiceItem) -> str:
    _, resolutions = _TEXTS.get(service.code, ((), ()))
    if service.answer and not resolutions:
        resolutions = ("已电话联系反映人，详细解答了办理条件和流程，反映人表示清楚。",)
    return rng.choice(resolutions or (f"已按职责对“{service.name}”问题处理完毕，并告知反映人。",))


def wording(district: District) -> Iterator[str]:
    """What the generator writes that names no one: each category's complaint wording at
    each grid's places, the resolutions and the staff notes. The public site's redactor
    is to leave all of it as it is (tests/test_demo.py; benchmarks/privacy.py measures
    it as over-masking)."""
    rng = random.Random(0)
    for grid in district.grids:
        places = _Places(grid, district)
        for service in district.services:
            for issue in _issues(service):
                text = _issue_at(issue, places.location(rng, service), rng.choice(_WHEN))
                yield f"{rng.choice(_OPENINGS)}{text}，{rng.choice(_CLOSINGS)}"
    for service in district.services:
        _, resolutions = _TEXTS.get(service.code, ((), ()))
        yield from resolutions or (_resolution(rng, service),)
    for department in district.departments:
        yield _dispatch_note(district, department.id)
        yield _return_note(district, department.id)
        yield _SUPERVISE_NOTE.format(unit=department.name)
    yield from (_ASSESS_NOTE, _MERGE_NOTE, _CONTACT_NOTE, _CONTACT_PRIVATE, _CONTACT_PATROL)
    yield from (_CONTACT_REPORTED, _REOPEN_UNSATISFIED, _REOPEN_FAILED, _FOLLOW_UP_OK)


def _unit_name(district: District, unit: str) -> str:
    department = district.department(unit)
    return department.name if department else unit


def _dispatch_note(district: District, unit: str) -> str:
    return f"转{_unit_name(district, unit)}办理。"


def _return_note(district: District, right_unit: str) -> str:
    return f"经核实，该事项不属于本单位职责范围，建议转{_unit_name(district, right_unit)}办理。"


# Which unit a dispatcher tends to confuse with which (the cause of most returns).
_CONFUSIONS: Mapping[str, tuple[str, ...]] = {
    "dept-urban": ("city-urban", "dept-enforce"),
    "city-urban": ("dept-urban", "city-water"),
    "dept-enforce": ("dept-urban", "city-urban"),
    "dept-safety": ("city-police", "city-fire"),
    "city-fire": ("dept-safety", "city-emergency"),
    "city-emergency": ("city-fire", "city-housing"),
    "city-housing": ("dept-safety", "dept-enforce"),
    "city-police": ("dept-safety", "dept-enforce"),
    "city-market": ("dept-enforce", "dept-economy"),
    "city-eco": ("dept-enforce", "city-market"),
    "city-water": ("city-urban", "dept-urban"),
    "dept-welfare": ("city-civil", "dept-service"),
    "city-civil": ("dept-welfare",),
    "city-health": ("dept-welfare",),
    "dept-service": ("dept-welfare",),
}

_ASSESS_NOTE = "已研判分类。"
_MERGE_NOTE = "与此前反映的同一事项合并办理，办理结果以原件为准。"
_CONTACT_NOTE = "已联系反映人，告知办理时限。"
_CONTACT_PRIVATE = "电话联系反映人，约定现场查看时间。"
_CONTACT_PATROL = "已联系上报网格员，核实现场情况。"
_CONTACT_REPORTED = "已联系反映人，告知该事项已报请街道研究，将尽快明确办理单位。"
_SUPERVISE_NOTE = "该事项多次转办未落实，督查员到现场督办，明确由{unit}负责处置。"
_DECIDE_NOTE = "经街道专题协调会研究，明确由{lead}牵头办理，{helper}配合。"
_REOPEN_UNSATISFIED = "反映人评价不满意，重新交办。"
_REOPEN_FAILED = "回访中反映人表示问题仍未解决，重新交办。"
_FOLLOW_UP_OK = "回访：反映人对办理结果表示认可。"
_FOLLOW_UP_FAILED = "回访：反映人表示问题仍未解决。"
_REPORT_NOTES = (
    "该事项涉及多个部门职责，报请街道专题研究。",
    "该问题反复出现，单一部门难以解决，报请街道统筹协调。",
    "责任主体不明确，报请街道明确牵头单位。",
)
_PASSING_ON = (
    "该事项需多个部门联合处置，本单位无法单独办理。",
    "现场核查后认为不属于本单位职责，请重新研判。",
)
_EXTENSION_REASONS = (
    "需协调产权单位共同处置",
    "需委托专业机构检测鉴定",
    "涉及多户居民，需组织协商",
    "维修材料采购需要时间",
    "需等待相关部门出具意见",
)
_REFUSALS_AT_DESK = (
    "所反映事项已进入司法程序，不属于行政机关处理范围，已告知反映人依法维权途径。",
    "所反映诉求超出现行政策规定，已向反映人说明政策依据。",
)
_REFUSALS_IN_UNIT = (
    "经核实，该事项属于相邻关系民事纠纷，不属于行政处理范围，已告知可申请人民调解或向法院起诉。",
    "经现场核查，所反映情况不存在违法违规行为，已向反映人说明。",
    "反映人要求的赔偿事项应通过民事途径解决，已说明理由并提供法律援助渠道。",
)
_COMMENTS: Mapping[Rating, tuple[str, ...]] = {
    Rating.SATISFIED: ("", "", "处理很及时，谢谢！", "问题解决了，工作人员态度很好。"),
    Rating.BASICALLY_SATISFIED: ("", "基本解决了，希望后续多巡查。", "处理有点慢。"),
    Rating.UNSATISFIED: ("", "问题没有真正解决。", "过了几天又恢复原样了。", "没有人联系我。"),
}

# Per category: (what residents describe, what the unit answers when resolved).
# ``{loc}`` is a grid-level place, ``{when}`` a time phrase.
_TEXTS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "env-litter": (
        (
            "{loc}有人堆放生活垃圾和旧家具，{when}一直没人清运，天热有异味",
            "{loc}的垃圾桶满溢，塑料袋、外卖盒散落一地",
            "{loc}绿化带里被人扔了很多垃圾，还有装修剩下的编织袋",
        ),
        (
            "已安排保洁人员当日清运堆放垃圾，并在该处张贴文明投放提示，网格员将加强巡查。",
            "经现场查看，垃圾已全部清理，已通知物业增加该处垃圾桶清运频次。",
        ),
    ),
    "env-sorting": (
        (
            "{loc}的垃圾分类投放点{when}经常混投，易腐垃圾和其他垃圾倒在一起",
            "{loc}的分类垃圾桶没有按时开放，居民只能把垃圾放在地上",
        ),
        (
            "已约谈小区物业，落实投放点督导员，近期垃圾分类投放情况已明显好转。",
            "已调整投放点开放时间并在现场公示，社区志愿者在高峰时段值守引导。",
        ),
    ),
    "env-stall": (
        (
            "{loc}{when}有流动摊贩占道卖水果，行人只能走到机动车道上",
            "{loc}晚上有人摆烧烤摊，桌椅占了整个人行道",
            "{loc}的沿街店铺把货物摆到店外人行道上经营",
        ),
        (
            "执法队员已到现场劝离流动摊贩，对占道店铺进行教育并责令整改，已纳入夜间巡查重点。",
            "已对占道经营行为依法查处，店铺已将物品收回店内经营。",
        ),
    ),
    "env-ads": (
        (
            "{loc}墙面和电线杆上贴满了开锁、通下水道的小广告",
            "{loc}的宣传栏被人乱涂乱画，还贴了办证小广告",
        ),
        ("已组织保洁人员清除小广告并对墙面进行粉刷，对小广告上的号码依法处理。",),
    ),
    "env-noise": (
        (
            "{loc}附近工地{when}晚上十点以后还在施工，噪声很大，影响休息",
            "{loc}有店铺用大音箱播放音乐招揽顾客，声音很大",
            "{loc}有装修队中午和周末也在用电钻施工",
        ),
        (
            "执法队员已到现场核查，责令施工单位严格按规定时间施工，将持续跟踪。",
            "已约谈店铺负责人，店铺已撤除户外音箱。",
        ),
    ),
    "env-fumes": (
        (
            "{loc}的餐饮店油烟直排，楼上住户不敢开窗",
            "{loc}新开的烧烤店没有装油烟净化设备，{when}油烟味很重",
        ),
        (
            "经现场检查，该店已安装油烟净化设施并承诺定期清洗，将安排复查。",
            "已责令餐饮店限期整改油烟排放，复查时油烟净化设施运行正常。",
        ),
    ),
    "env-greenery": (
        ("{loc}的行道树枝叶太密，挡住了路灯和楼上窗户", "{loc}的绿化带被人毁坏种菜"),
        ("园林养护单位已对树木进行修剪。", "已恢复绿化带，并告知相关居民不得毁绿种菜。"),
    ),
    "env-drain": (
        ("{loc}下水道堵塞，污水漫到路面上，很臭", "{loc}的雨水井下雨后排水不畅，路面积水很深"),
        (
            "排水养护单位已对管道进行疏通，路面污水已清理。",
            "已对该处雨水井清淤，排水恢复正常，汛期将加强巡查。",
        ),
    ),
    "safe-fire": (
        (
            "{loc}楼道里堆满了纸箱和旧家具，把消防通道都堵住了",
            "{loc}的消防栓箱里是空的，灭火器也过期了",
            "{loc}的消防通道被机动车长期占用，消防车进不来",
        ),
        (
            "消防救援人员已现场检查，督促清理楼道堆物，更换过期灭火器，消防通道已恢复畅通。",
            "已联合社区清理楼道堆物，对消防设施进行维修补充，将定期复查。",
        ),
    ),
    "safe-ebike": (
        (
            "{loc}有住户从楼上拉电线下来给电动车充电，很危险",
            "{loc}楼道里停了好几辆电动车，晚上还在充电",
        ),
        (
            "已现场劝导住户拆除飞线，引导至小区集中充电点充电，楼道电动车已清理。",
            "已会同物业清理楼道停放的电动车，并在小区增设充电桩。",
        ),
    ),
    "safe-gas": (
        (
            "{loc}有餐饮店使用多个液化气钢瓶，钢瓶就放在门口",
            "{loc}楼道里闻到煤气味，担心燃气管道漏气",
        ),
        (
            "燃气企业已到场检测，更换老化连接软管，未发现泄漏。",
            "已联合检查该店瓶装燃气使用情况，责令整改并安装燃气报警器。",
        ),
    ),
    "safe-structure": (
        (
            "{loc}的老房子外墙出现裂缝，{when}还有墙皮掉落",
            "{loc}一幢老楼的楼梯扶手松动，墙体有明显裂缝，住户担心安全",
        ),
        (
            "已委托专业机构进行房屋安全鉴定，对外墙危险部位进行加固，并设置警示标志。",
            "经房屋安全鉴定，结构安全等级符合使用要求，已对局部裂缝进行修缮。",
        ),
    ),
    "safe-manhole": (
        ("{loc}的井盖缺了一块，晚上路过很危险", "{loc}的井盖松动，车压过去声音很大"),
        ("养护单位已更换井盖并设置警示。", "已对井盖进行加固，消除安全隐患。"),
    ),
    "safe-falling": (
        (
            "{loc}楼上阳台外挂的花盆没有固定，刮风的时候很危险",
            "{loc}老楼外墙瓷砖有脱落，下面是人行道",
        ),
        (
            "已督促住户将阳台花盆移入室内，对外墙脱落部位拉设警戒线并修缮。",
            "已对外墙松动瓷砖进行清理，消除高空坠物隐患。",
        ),
    ),
    "life-water": (
        ("{loc}一带{when}水压很低，楼上住户几乎没水", "{loc}停水了，事先没有通知"),
        (
            "供水企业已排查管网，更换故障阀门，供水已恢复正常。",
            "经核实为管网抢修停水，已恢复供水，已要求供水企业今后提前公告。",
        ),
    ),
    "life-streetlight": (
        ("{loc}的路灯{when}一直不亮，晚上很黑", "{loc}有几盏路灯大白天亮着，晚上反而不亮"),
        ("路灯养护单位已更换灯具，照明已恢复。", "已维修路灯控制线路，路灯恢复正常。"),
    ),
    "life-elevator": (
        (
            "{loc}想加装电梯，低层住户有不同意见，希望社区协调",
            "{loc}加装电梯施工停了好几个月，不知道什么时候能继续",
        ),
        (
            "社区已召集住户协商，形成加装方案并完成公示，施工已恢复。",
            "已协调设计单位优化方案，解决低层住户采光顾虑，已进入审批环节。",
        ),
    ),
    "life-property": (
        ("{loc}的物业{when}不打扫楼道，门禁坏了也没人修", "{loc}没有物业，楼道灯坏了没人管"),
        (
            "已约谈物业企业，楼道保洁和门禁维修已落实，社区将每月检查。",
            "已纳入社区准物业管理，楼道灯已修复。",
        ),
    ),
    "life-elderly": (
        ("{loc}有独居老人，希望能有上门助餐服务", "家中老人行动不便，想申请居家养老上门服务"),
        ("社区已上门评估，老人已纳入居家养老服务对象，助餐服务已开通。",),
    ),
    "life-assistance": (
        (
            "{loc}有一户困难家庭，家里有病人，生活很困难，希望能帮助",
            "本人因病失业，家庭生活困难，想了解能否申请临时救助",
        ),
        ("社区已上门核实，已协助申请临时救助，救助金已发放。",),
    ),
    "life-clinic": (
        (
            "社区卫生服务站{when}排队时间太长，希望增加医生",
            "想为家里老人签约家庭医生，不知道怎么办理",
        ),
        ("卫生服务中心已调整门诊排班，高峰时段增加医生。", "已联系家庭医生团队上门签约。"),
    ),
    "dispute-leak": (
        (
            "{loc}楼上住户卫生间漏水，我家天花板发霉，和楼上协商不成",
            "楼上装修后我家墙面渗水，多次沟通对方不理",
        ),
        (
            "经人民调解员组织双方调解，楼上住户同意维修防水并承担修复费用。",
            "已组织调解，双方达成协议，漏水已修复。",
        ),
    ),
    "dispute-noise": (
        ("{loc}楼上住户{when}深夜拖动家具、跳绳，噪声很大", "隔壁住户每天早上五点在楼道里练嗓子"),
        ("网格员和调解员上门沟通，双方达成相互体谅的约定。", "已组织双方协商，噪声问题已改善。"),
    ),
    "dispute-pets": (
        ("{loc}有人遛狗不牵绳，也不清理狗粪", "{loc}邻居家养的狗{when}晚上一直叫"),
        (
            "民警已上门宣传文明养犬规定，犬主人承诺遛狗牵绳并清理粪便。",
            "已对犬只登记情况进行检查，并督促犬主人整改。",
        ),
    ),
    "dispute-common": (
        ("{loc}的楼道被住户堆放杂物，占用公共部位", "{loc}的公共绿地被人圈起来种菜"),
        ("已协调住户清理公共部位杂物。", "已恢复公共绿地原状。"),
    ),
    "policy-insurance": (("想咨询灵活就业人员怎么交社保和医保", "新生儿怎么参加城乡居民医保"), ()),
    "policy-elderly-allowance": (
        ("家里老人今年八十岁了，高龄津贴怎么申请", "养老服务补贴需要什么条件"),
        (),
    ),
    "policy-residence": (("在清波街道租房，怎么办理居住证", "居住证到期了怎么续签"), ()),
    "policy-renovation": (("我们小区有没有列入老旧小区改造计划", "老旧小区改造会不会加装电梯"), ()),
    "policy-childcare": (("生育登记在哪里办", "育儿补贴怎么申请"), ()),
    "policy-sorting-rules": (("大件垃圾怎么处理", "装修垃圾可以放在垃圾桶边吗"), ()),
    "policy-disability": (("残疾人证怎么办理", "残疾人两项补贴怎么申请"), ()),
    "build-illegal": (
        (
            "{loc}有住户在院子里违章搭建了彩钢棚",
            "{loc}附近有店铺在门前搭建了雨棚和隔间，占用公共通道",
        ),
        (
            "执法部门已立案调查，当事人已自行拆除违章搭建部分。",
            "已依法下达限期拆除通知书，违法建筑已拆除。",
        ),
    ),
    "build-roof": (
        ("{loc}有住户在屋顶平台加建了房间", "{loc}顶楼住户把露台封起来加盖了一层"),
        ("经调查核实属于违法建设，已督促当事人自行拆除。", "屋顶违建已依法拆除，恢复原状。"),
    ),
    "build-bearing": (
        (
            "{loc}有一户装修在拆墙，担心拆的是承重墙",
            "楼上装修把阳台和卧室之间的墙打掉了，住户很担心",
        ),
        (
            "住建部门已现场核查，责令立即停止施工并恢复结构，已委托鉴定确认安全。",
            "经核查未涉及承重结构，已要求装修单位办理备案。",
        ),
    ),
    "rent-crowded": (
        (
            "{loc}有一套房子被隔成很多小间出租，住了十几个人",
            "{loc}有一户群租，进出人员很杂，楼道里堆满电动车",
        ),
        (
            "已联合派出所、执法队对该出租房进行检查，责令拆除隔断、减少居住人数，复查已整改到位。",
            "已督促房东整改，群租问题已消除，纳入出租房日常巡查。",
        ),
    ),
    "rent-unregistered": (
        ("{loc}的出租房住进了新租客，不知道有没有登记", "{loc}好几户出租房经常换人，希望加强管理"),
        ("已上门核查，租客已完成居住登记。", "已督促房东办理出租房屋登记。"),
    ),
    "rent-shortstay": (
        ("{loc}有日租房，游客{when}半夜拖箱子进出，很吵", "{loc}有民宿，住客经常深夜喧哗"),
        (
            "已约谈经营者，要求落实住客登记和管理，夜间扰民情况已改善。",
            "已对未取得手续的日租房依法查处。",
        ),
    ),
    "food-unlicensed": (
        ("{loc}有一家没有证照的小吃店，卫生条件很差", "{loc}居民楼里有人做卤味对外销售"),
        ("市场监管所已现场检查，责令无证经营者停止经营。", "已依法查处无证食品经营行为。"),
    ),
    "food-expired": (
        ("在{loc}的小超市买到过期牛奶", "{loc}的便利店货架上有过期食品在卖"),
        (
            "已对该超市进行检查，下架过期食品，并依法处理。",
            "已责令商户清理过期食品，建立进货查验制度。",
        ),
    ),
    "food-hygiene": (
        ("{loc}的一家餐馆后厨很脏，有老鼠", "{loc}的早餐店操作人员不戴手套和口罩"),
        ("已对该店进行检查，责令限期整改，复查已整改到位。", "已督促店铺落实食品安全操作规范。"),
    ),
    "traffic-parking": (
        (
            "{loc}{when}有机动车长期违停，堵住了小区出入口",
            "{loc}的人行道上停满了汽车，行人只能走机动车道",
        ),
        (
            "交警已对违停车辆依法处理，并在该处增设禁停标志。",
            "已加强该路段违停巡查，违停现象明显减少。",
        ),
    ),
    "traffic-bikes": (
        ("{loc}共享单车堆积很多，挡住了人行道", "{loc}非机动车乱停放，盲道被占"),
        (
            "已通知共享单车企业清运调度，并规范停放区域。",
            "已清理乱停放非机动车，施划非机动车停放区。",
        ),
    ),
    "traffic-road": (
        ("{loc}人行道地砖松动，下雨踩上去溅水", "{loc}路面有个大坑，电动车经过很危险"),
        ("道路养护单位已修补路面。", "已更换破损地砖。"),
    ),
    "traffic-signs": (
        ("{loc}的人行横道信号灯坏了", "{loc}的道路标线磨损看不清"),
        ("已维修信号灯，恢复正常运行。", "已重新施划道路标线。"),
    ),
}
