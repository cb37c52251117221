"""The synthetic generator: legal histories, deterministic for a seed, city-like shape."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridportal.adapters.memory import MemoryStore
from gridportal.adapters.sqlite import SqliteStore
from gridportal.domain.calendar import CalendarNotCovered, WorkCalendar, YearSchedule
from gridportal.domain.credentials import Keys
from gridportal.domain.deadlines import BEIJING, assess_deadlines
from gridportal.domain.lifecycle import replay
from gridportal.domain.model import Action, Channel, Rating, Role, Status
from gridportal.domain.redaction import redact
from gridportal.domain.reference import District
from gridportal.ports import CaseHistory
from gridportal.synth import (
    SynthSummary,
    covered_span,
    id_number,
    make_setting,
    plan_chunks,
    synthesize,
    tracking_of,
)

KEYS = Keys(b"synthetic-test-secret-0123456789")
END = datetime(2026, 11, 30, 12, tzinfo=UTC)
CASES = 4000
MOBILE = re.compile(r"1[3-9]\d-?\d{4}-?\d{4}")
ID_NUMBER = re.compile(r"\d{6} ?(19|20)\d{6} ?\d{3}[\dX]")


def _histories(store: MemoryStore) -> list[CaseHistory]:
    out = []
    for tracking in sorted(store.cases):
        history = store.get_history(tracking)
        assert history is not None
        out.append(history)
    return out


def _generate(
    district: District, calendar: WorkCalendar, count: int, seed: int
) -> tuple[MemoryStore, SynthSummary]:
    store = MemoryStore()
    summary = synthesize(
        store, district, calendar, KEYS, count=count, seed=seed, end=END, chunk_cases=500
    )
    return store, summary


@pytest.fixture(scope="module")
def generated(district: District, calendar: WorkCalendar) -> tuple[MemoryStore, SynthSummary]:
    return _generate(district, calendar, CASES, seed=11)


@pytest.fixture(scope="module")
def cases(generated: tuple[MemoryStore, SynthSummary]) -> list[CaseHistory]:
    return _histories(generated[0])


def test_the_same_seed_gives_the_same_cases_and_another_seed_others(
    district: District, calendar: WorkCalendar
) -> None:
    first, _ = _generate(district, calendar, 600, seed=5)
    again, _ = _generate(district, calendar, 600, seed=5)
    other, _ = _generate(district, calendar, 600, seed=6)
    assert _histories(first) == _histories(again)
    assert set(first.cases) != set(other.cases)
    texts = {h.record.file.complaint.description for h in _histories(first)}
    assert texts != {h.record.file.complaint.description for h in _histories(other)}


def test_worker_processes_write_the_same_cases_as_one_process(
    district: District, calendar: WorkCalendar, tmp_path: Path
) -> None:
    def run(name: str, workers: int) -> list[tuple[Any, ...]]:
        path = tmp_path / name
        store = SqliteStore(path)
        synthesize(
            store,
            district,
            calendar,
            KEYS,
            count=400,
            seed=3,
            end=END,
            workers=workers,
            open_store=lambda: SqliteStore(path),
            chunk_cases=60,
        )
        rows = sorted(
            (
                (record, tuple(events), store.get_vote(record.tracking))
                for record, events in store.all_histories()
            ),
            key=lambda row: row[0].tracking,
        )
        store.close()
        return rows

    serial = run("serial.db", 1)
    assert len(serial) == 400
    assert run("parallel.db", 2) == serial


def test_every_history_replays_to_its_stored_snapshot(cases: list[CaseHistory]) -> None:
    assert len(cases) == CASES
    for history in cases:
        state = replay(history.events)  # raises on a broken history
        record = history.record
        assert record.with_state(state) == record
        assert record.file.filed_at == history.events[0].at
        assert record.file.public_id == KEYS.public_id(record.tracking)
        assert [e.seq for e in history.events] == list(range(1, len(history.events) + 1))
        assert all(a.at <= b.at for a, b in zip(history.events, history.events[1:], strict=False))
        assert history.events[-1].at <= END
        if history.vote is not None:
            rates = [e for e in history.events if e.action is Action.RATE]
            # The stored vote is the latest rating round's; a round reopened after it
            # is unrated until the resident rates again.
            assert rates and rates[-1].data["rating"] == str(history.vote.rating)
            assert state.ratings[-1].rating is history.vote.rating
            assert state.rating in (history.vote.rating, None)


def test_lookup_codes_of_synthetic_cases_are_known_to_nobody(cases: list[CaseHistory]) -> None:
    hashes = {h.record.lookup_hash for h in cases}
    assert len(hashes) == 1
    assert not any(KEYS.matches("lookup", f"{n:08d}", next(iter(hashes))) for n in range(1000))
    assert len({h.record.tracking for h in cases}) == CASES


def test_cases_spread_over_the_years_and_grow(
    cases: list[CaseHistory], generated: tuple[MemoryStore, SynthSummary], district: District
) -> None:
    summary = generated[1]
    assert summary.cases == CASES
    assert summary.first == date(2021, 12, 1)
    by_year = Counter(h.record.file.filed_at.astimezone(BEIJING).year for h in cases)
    assert set(by_year) == set(range(2021, 2027))
    assert by_year[2022] < by_year[2023] < by_year[2024] < by_year[2025]
    assert {h.record.file.complaint.grid for h in cases} == {g.id for g in district.grids}
    categories = Counter(h.record.file.complaint.category for h in cases)
    assert len(categories) >= 0.9 * len(district.services)
    assert categories.most_common(1)[0][1] < 0.15 * CASES  # no category swamps the rest


def test_channels_routes_and_outcomes_look_like_a_city(
    cases: list[CaseHistory], calendar: WorkCalendar
) -> None:
    channels = Counter(h.record.file.complaint.channel for h in cases)
    for channel, (low, high) in {
        Channel.HOTLINE: (0.25, 0.5),
        Channel.PORTAL: (0.18, 0.35),
        Channel.WECHAT: (0.08, 0.25),
        Channel.PATROL: (0.12, 0.3),
    }.items():
        assert low * CASES <= channels[channel] <= high * CASES, channel
    for history in cases:
        if history.record.file.complaint.channel is Channel.PATROL:  # grid workers, on duty
            assert history.events[0].actor.role is Role.GRID_WORKER
            assert calendar.is_workday(history.events[0].at.astimezone(BEIJING).date())
    actions = Counter(a for h in cases for a in {e.action for e in h.events})
    shares = {action: actions[action] / CASES for action in Action}
    assert 0.005 < shares[Action.MERGE] < 0.08
    assert 0.01 < shares[Action.REOPEN] < 0.1
    assert 0.02 < shares[Action.RETURN] < 0.15
    assert 0.01 < shares[Action.EXTEND] < 0.1
    assert 0.01 < shares[Action.SUPERVISE] < 0.1
    assert 0.01 < shares[Action.REPORT] < 0.1
    assert 0.01 < shares[Action.REFUSE] < 0.08
    assert 0.05 < shares[Action.ANSWER] < 0.2
    ratings = Counter(h.vote.rating for h in cases if h.vote is not None)
    rated = sum(ratings.values())
    assert 0.4 * CASES < rated < 0.8 * CASES
    assert ratings[Rating.SATISFIED] > ratings[Rating.BASICALLY_SATISFIED]
    assert ratings[Rating.BASICALLY_SATISFIED] > 0 and ratings[Rating.UNSATISFIED] > 0
    statuses = Counter(h.record.status for h in cases)
    assert statuses[Status.ARCHIVED] > 0.8 * CASES
    assert sum(statuses[s] for s in (Status.RECEIVED, Status.IN_PROGRESS, Status.DISPATCHED)) > 0


def test_some_cases_miss_their_deadline(cases: list[CaseHistory], calendar: WorkCalendar) -> None:
    late = judged = 0
    for history in cases:
        state = replay(history.events)
        if state.status is Status.MERGED or state.route is None:
            continue
        contacted = state.contacted_at or state.resolved_at
        report = assess_deadlines(
            received_at=state.received_at,
            priority=state.priority,
            calendar=calendar,
            contacted_at=contacted,
            resolved_at=state.resolved_at,
            extended_due=state.extended_due,
            now=END,
        )
        if report.met is not None:
            judged += 1
            late += report.met is False
    assert 0.02 < late / judged < 0.2


def test_residents_free_text_carries_personal_data_for_the_redactor(
    cases: list[CaseHistory],
) -> None:
    texts = [
        h.record.file.complaint.description
        for h in cases
        if h.record.file.complaint.channel is not Channel.PATROL
    ]
    with_id = [t for t in texts if ID_NUMBER.search(t)]
    with_mobile = [t for t in texts if MOBILE.search(t)]
    with_name = [t for t in texts if re.search(r"我叫|本人|联系人|先生|女士", t)]
    assert len(with_id) > 0.01 * len(texts)
    assert len(with_mobile) > 0.03 * len(texts)
    assert len(with_name) > 0.03 * len(texts)
    for text in with_id + with_mobile:
        cleaned = redact(text)
        assert not ID_NUMBER.search(cleaned), cleaned
        assert not MOBILE.search(cleaned), cleaned


def test_the_history_stops_where_the_calendar_does(district: District) -> None:
    known = WorkCalendar.from_schedules(
        YearSchedule(year, frozenset(), frozenset()) for year in (2024, 2025)
    )
    store = MemoryStore()
    summary = synthesize(
        store, district, known, KEYS, count=300, seed=1, end=datetime(2026, 6, 1, tzinfo=UTC)
    )
    assert summary.first == date(2024, 1, 1) and summary.last == date(2025, 12, 31)
    last_moment = datetime(2026, 1, 1, tzinfo=BEIJING)
    for history in _histories(store):
        assert all(event.at < last_moment for event in history.events)
    with pytest.raises(CalendarNotCovered):
        covered_span(known, datetime(2023, 6, 1, tzinfo=UTC), 2)


@settings(max_examples=60, deadline=None)
@given(
    end=st.dates(date(2005, 1, 1), date(2030, 12, 31)),
    years=st.integers(1, 30),
    missing=st.sets(st.integers(2004, 2026), max_size=4),
)
def test_the_span_never_leaves_a_run_of_covered_years(
    end: date, years: int, missing: set[int]
) -> None:
    covered = [y for y in range(2004, 2027) if y not in missing]
    calendar = WorkCalendar.from_schedules(
        YearSchedule(y, frozenset(), frozenset()) for y in covered
    )
    moment = datetime(end.year, end.month, end.day, 12, tzinfo=BEIJING)
    try:
        first, last = covered_span(calendar, moment, years)
    except CalendarNotCovered:
        assert min(end.year, 2026) in missing or end.year < 2004
        return
    assert first <= last <= end
    assert all(y in calendar.covered_years for y in range(first.year, last.year + 1))
    assert (last - first) <= timedelta(days=366 * years)


@settings(max_examples=40, deadline=None)
@given(count=st.integers(1, 50_000), chunk=st.integers(50, 5000))
def test_chunks_hold_exactly_the_count_in_order(
    count: int, chunk: int, calendar: WorkCalendar
) -> None:
    chunks = plan_chunks(calendar, date(2022, 3, 1), date(2026, 11, 30), count, chunk)
    assert sum(c.cases for c in chunks) == count
    assert [c.first_index for c in chunks] == [
        sum(c.cases for c in chunks[:i]) for i in range(len(chunks))
    ]
    days = [day for c in chunks for day, _ in c.days]
    assert days == sorted(days) and len(days) == len(set(days))


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32), start=st.integers(0, 10**9))
def test_tracking_numbers_are_unique_and_well_formed(
    seed: int, start: int, district: District, calendar: WorkCalendar
) -> None:
    setting = make_setting(district, calendar, KEYS, seed=seed, end=END, years=1)
    numbers = [tracking_of(setting, i) for i in range(start, start + 200)]
    assert len(set(numbers)) == len(numbers)
    assert all(len(n) == 12 and n[0] != "0" and n.isdigit() for n in numbers)


@settings(max_examples=100)
@given(seed=st.integers())
def test_id_numbers_carry_a_valid_check_digit(seed: int) -> None:
    import random

    number = id_number(random.Random(seed))
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(number[:17], weights, strict=True))
    assert number[17] == "10X98765432"[total % 11]
    assert 1940 <= int(number[6:10]) <= 2005


def test_portal_synth_writes_through_the_configured_store(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    database = tmp_path / "portal.db"
    env = {
        **os.environ,
        "GRIDPORTAL_SECRET": "synthetic-test-secret-0123456789",
        "GRIDPORTAL_STORE": f"sqlite:{database}",
        "GRIDPORTAL_SITE_DIR": str(tmp_path / "site"),
    }
    command = [sys.executable, "-m", "gridportal.cli", "synth", "120", "--seed", "4"]
    done = subprocess.run(
        [*command, "--until", "2026-11-30", "--years", "2", "--workers", "2"],
        env=env,
        capture_output=True,
        encoding="utf-8",  # the CLI writes UTF-8 whatever the locale
        check=True,
        timeout=120,
    )
    assert "合成案件 120 件" in done.stdout
    store = SqliteStore(database)
    histories = list(store.all_histories())
    store.close()
    assert len(histories) == 120
    assert min(r.file.filed_at for r, _ in histories) >= datetime(2024, 11, 30, tzinfo=BEIJING)
    assert all(replay(events) for _, events in histories)
