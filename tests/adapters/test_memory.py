"""The Store contract (``ports.Store``), once, and the in-memory store held to it.

``StoreContract`` is the one set of contract tests; ``TestMemoryStore`` here and
``TestDynamoStore`` in test_dynamo.py run it against each implementation through their
``store`` fixture. Records are built by hand and moved with the lifecycle's own
``decide``/``apply``, so each test says exactly what reaches the store.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import pytest

from gridportal.adapters.memory import MemoryStore
from gridportal.domain.lifecycle import apply, decide, receive, replay
from gridportal.domain.model import (
    RESIDENT,
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
    Route,
    Status,
)
from gridportal.ports import (
    COMMAND_CENTRE,
    AlreadyExists,
    AlreadyVoted,
    CaseRecord,
    Conflict,
    IdempotencyRecord,
    MonthReader,
    QueuePage,
    StaffMember,
    Store,
    Vote,
)

T0 = datetime(2026, 11, 16, 1, 30, tzinfo=UTC)  # Monday 09:30 Beijing
DISPATCHER = Actor(Role.DISPATCHER, "dispatch-01")
HANDLER = Actor(Role.HANDLER, "urban-01", "dept-urban")
# Free text arrives as residents type it; the store keeps it exactly.
HOSTILE = "<script>alert(1)</script> 楼道\u3000堆物 😀 '\"; DROP TABLE --"


def new_case(
    tracking: str = "100000000001",
    *,
    at: datetime = T0,
    grid: str = "QB-LCJX-01",
    key: str | None = None,
    description: str = "垃圾桶满了三天没人清运。",
) -> tuple[CaseRecord, Event, IdempotencyRecord | None]:
    """A case as ``Portal.file_complaint`` would hand it to the store."""
    complaint = Complaint(
        "env-litter", grid, HOSTILE, description, Channel.PORTAL, Contact("王小明", "13812345678")
    )
    record = CaseRecord(
        file=CaseFile(tracking, f"p{tracking[-11:]}", complaint, at, RESIDENT),
        lookup_hash="a" * 64,
        vote_hash="b" * 64,
        status=Status.RECEIVED,
        unit=None,
        seq=1,
        updated_at=at,
        idempotency_key=key,
    )
    first = receive(
        at=at, actor=RESIDENT, category="env-litter", grid=grid, priority=Priority.GENERAL
    )
    idempotency = IdempotencyRecord(key, "c" * 64, tracking, at) if key else None
    return record, first, idempotency


def create(store: Store, tracking: str = "100000000001", **options: Any) -> CaseRecord:
    record, first, idempotency = new_case(tracking, **options)
    store.create_case(record, first, idempotency)
    return record


def step(
    store: Store,
    tracking: str,
    action: Action,
    actor: Actor,
    at: datetime,
    note: str = "",
    data: Mapping[str, str] | None = None,
) -> CaseRecord:
    """One lifecycle step, decided on a fresh read, appended at the read's seq."""
    record = store.get_case(tracking)
    assert record is not None
    state = replay(store.get_events(tracking))
    event = decide(state, action, actor, at=at, public_note=note, data=data)
    return store.append_event(record, event, apply(state, event))


def resolve(store: Store, tracking: str, start: datetime = T0) -> CaseRecord:
    minutes = (start + timedelta(minutes=n) for n in range(1, 5))
    step(store, tracking, Action.ASSESS, DISPATCHER, next(minutes), data={"priority": "general"})
    step(store, tracking, Action.DISPATCH, DISPATCHER, next(minutes), data={"unit": "dept-urban"})
    step(store, tracking, Action.ACCEPT, HANDLER, next(minutes))
    return step(store, tracking, Action.RESOLVE, HANDLER, next(minutes), note="已清运。")


def vote_on(
    store: Store, record: CaseRecord, rating: Rating, at: datetime
) -> tuple[Vote, Event, CaseRecord]:
    """A rating event built on ``record``'s history, whatever its status (for refusals)."""
    state = replay(store.get_events(record.tracking))
    event = Event(state.last_seq + 1, at, Action.RATE, RESIDENT, data={"rating": str(rating)})
    vote = Vote(rating, "处理及时。", at)
    return vote, event, store.record_vote(record, vote, event, apply(state, event))


def trackings(store: Store) -> list[str]:
    return sorted(record.tracking for record, _ in store.all_histories())


class StoreContract:
    """What every Store promises; subclasses provide the ``store`` fixture."""

    # Whether concurrent calls really serialise in this store. moto serialises nothing
    # between threads, so the race tests would prove nothing there but flake.
    truly_atomic: ClassVar[bool] = True

    def needs_atomic_store(self) -> None:
        if not self.truly_atomic:
            pytest.skip("this store's fake does not serialise concurrent writers")

    def queued(self, record: CaseRecord | None) -> CaseRecord:
        """``record`` as a queue read gives it back: whole here; a store whose queue index
        holds only part of a record (DynamoDB's) overrides this."""
        assert record is not None
        return record

    # ------------------------------------------------------------ create_case
    def test_a_created_case_reads_back_whole(self, store: Store) -> None:
        record, first, idempotency = new_case(key="k" * 64)
        store.create_case(record, first, idempotency)
        assert store.get_case(record.tracking) == record
        assert store.get_events(record.tracking) == [first]
        assert store.get_idempotency("k" * 64) == idempotency
        assert store.get_case("999999999999") is None
        assert store.get_events("999999999999") == []
        assert store.get_idempotency("z" * 64) is None

    def test_a_history_is_the_record_its_events_in_order_and_the_vote(self, store: Store) -> None:
        record = resolve(store, create(store).tracking)
        vote, _, rated = vote_on(store, record, Rating.SATISFIED, T0 + timedelta(hours=1))
        history = store.get_history(record.tracking)
        assert history is not None
        assert history.record == rated
        assert [e.seq for e in history.events] == [1, 2, 3, 4, 5, 6]
        assert history.events[-1].action is Action.RATE
        assert history.vote == vote
        assert store.get_history("999999999999") is None

    def test_a_taken_tracking_number_is_refused_and_nothing_half_written(
        self, store: Store
    ) -> None:
        original = create(store, key="k1")
        record, first, idempotency = new_case(key="k2", description="另一件事。")
        with pytest.raises(AlreadyExists):
            store.create_case(record, first, idempotency)
        assert store.get_case(original.tracking) == original
        assert len(store.get_events(original.tracking)) == 1
        assert store.get_idempotency("k2") is None

    def test_a_taken_idempotency_key_is_refused_and_nothing_half_written(
        self, store: Store
    ) -> None:
        create(store, "100000000001", key="k1")
        record, first, idempotency = new_case("100000000002", key="k1")
        with pytest.raises(AlreadyExists):
            store.create_case(record, first, idempotency)
        assert store.get_case("100000000002") is None
        assert store.get_events("100000000002") == []
        earlier = store.get_idempotency("k1")
        assert earlier is not None and earlier.tracking == "100000000001"

    # ----------------------------------------------------------- append_event
    def test_an_appended_event_moves_the_snapshot(self, store: Store) -> None:
        create(store)
        at = T0 + timedelta(minutes=1)
        updated = step(
            store, "100000000001", Action.ASSESS, DISPATCHER, at, data={"priority": "complex"}
        )
        assert (updated.seq, updated.status, updated.updated_at) == (2, Status.ASSESSED, at)
        assert store.get_case("100000000001") == updated
        events = store.get_events("100000000001")
        assert [e.action for e in events] == [Action.RECEIVE, Action.ASSESS]
        assert events[1].data == {"priority": "complex"}

    def test_a_stale_append_is_a_conflict_and_changes_nothing(self, store: Store) -> None:
        stale = create(store)
        step(store, stale.tracking, Action.ASSESS, DISPATCHER, T0, data={"priority": "general"})
        state = replay(store.get_events(stale.tracking)[:1])  # what the slower writer saw
        event = decide(state, Action.ANSWER, DISPATCHER, at=T0, public_note="已答复。")
        with pytest.raises(Conflict):
            store.append_event(stale, event, apply(state, event))
        assert [e.action for e in store.get_events(stale.tracking)] == [
            Action.RECEIVE,
            Action.ASSESS,
        ]
        current = store.get_case(stale.tracking)
        assert current is not None and (current.seq, current.status) == (2, Status.ASSESSED)

    # ------------------------------------------------------------ record_vote
    def test_the_first_vote_counts_and_a_second_is_refused(self, store: Store) -> None:
        create(store)
        resolved = resolve(store, "100000000001")
        at = T0 + timedelta(days=1)
        vote, _, rated = vote_on(store, resolved, Rating.SATISFIED, at)
        assert rated.status is Status.RATED and rated.seq == resolved.seq + 1
        assert store.get_vote("100000000001") == vote
        with pytest.raises(AlreadyVoted):
            vote_on(store, rated, Rating.UNSATISFIED, at + timedelta(hours=1))
        assert store.get_vote("100000000001") == vote
        assert len(store.get_events("100000000001")) == rated.seq

    def test_a_reopened_case_is_voted_on_again_once_per_round(self, store: Store) -> None:
        create(store)
        resolved = resolve(store, "100000000001")
        at = T0 + timedelta(days=1)
        _, _, rated = vote_on(store, resolved, Rating.UNSATISFIED, at)
        hours = (at + timedelta(hours=n) for n in range(1, 5))
        step(store, rated.tracking, Action.REOPEN, DISPATCHER, next(hours), "重办。")
        unit = {"unit": "dept-urban"}
        step(store, rated.tracking, Action.DISPATCH, DISPATCHER, next(hours), data=unit)
        step(store, rated.tracking, Action.ACCEPT, HANDLER, next(hours))
        again = step(store, rated.tracking, Action.RESOLVE, HANDLER, next(hours), "已清运。")
        second, _, rerated = vote_on(store, again, Rating.SATISFIED, at + timedelta(days=1))
        assert rerated.status is Status.RATED
        assert store.get_vote(rated.tracking) == second  # the latest round's vote
        history = store.get_history(rated.tracking)
        assert history is not None and history.vote == second
        ratings = [e.data["rating"] for e in history.events if e.action is Action.RATE]
        assert ratings == ["unsatisfied", "satisfied"]  # every round stays in the events
        with pytest.raises(AlreadyVoted):
            vote_on(store, rerated, Rating.UNSATISFIED, at + timedelta(days=2))
        assert store.get_vote(rated.tracking) == second

    def test_a_vote_on_an_unresolved_case_is_a_conflict_and_writes_nothing(
        self, store: Store
    ) -> None:
        record = create(store)
        with pytest.raises(Conflict):
            vote_on(store, record, Rating.SATISFIED, T0 + timedelta(hours=1))
        assert store.get_vote(record.tracking) is None
        assert store.get_case(record.tracking) == record
        assert len(store.get_events(record.tracking)) == 1

    def test_a_vote_on_a_stale_record_is_a_conflict(self, store: Store) -> None:
        create(store)
        resolved = resolve(store, "100000000001")
        at = T0 + timedelta(hours=2)
        step(store, resolved.tracking, Action.FOLLOW_UP, DISPATCHER, at, data={"result": "ok"})
        with pytest.raises(Conflict):
            vote_on(store, resolved, Rating.SATISFIED, at)
        assert store.get_vote(resolved.tracking) is None

    def test_a_vote_with_another_vote_hash_is_a_conflict(self, store: Store) -> None:
        create(store)
        resolved = resolve(store, "100000000001")
        forged = replace(resolved, vote_hash="f" * 64)
        with pytest.raises(Conflict):
            vote_on(store, forged, Rating.SATISFIED, T0 + timedelta(hours=2))
        assert store.get_vote(resolved.tracking) is None

    # ------------------------------------------------------------- attempts
    def test_attempts_run_out_within_the_window(self, store: Store) -> None:
        key, window = "lookup:100000000001", timedelta(hours=24)
        taken = [store.reserve_attempt(key, T0, window, 5) for _ in range(7)]
        assert taken == [True] * 5 + [False] * 2
        later = T0 + timedelta(hours=23)
        assert not store.reserve_attempt(key, later, window, 5)
        fresh = T0 + timedelta(hours=24, seconds=1)
        assert store.reserve_attempt(key, fresh, window, 5)  # a new window
        assert store.reserve_attempt("login:urban-01", later, window, 5)  # keys are separate

    def test_a_lock_says_when_it_ends_and_takes_nothing(self, store: Store) -> None:
        key, window = "login:urban-01", timedelta(minutes=15)
        assert store.attempts_locked_until(key, T0, window, 3) is None  # never tried
        for n in range(3):
            assert store.attempts_locked_until(key, T0, window, 3) is None
            assert store.reserve_attempt(key, T0 + timedelta(minutes=n), window, 3)
        ends = store.attempts_locked_until(key, T0 + timedelta(minutes=5), window, 3)
        assert ends == T0 + window  # the window began with the first attempt
        assert store.attempts_locked_until(key, T0 + window, window, 3) is None
        assert not store.reserve_attempt(key, T0 + timedelta(minutes=14), window, 3)
        assert store.reserve_attempt(key, T0 + window, window, 3)  # reads took nothing

    def test_a_released_attempt_is_not_a_failure(self, store: Store) -> None:
        key, window = "lookup:100000000001", timedelta(hours=24)
        for _ in range(10):  # the right code, ten times
            assert store.reserve_attempt(key, T0, window, 5)
            store.release_attempt(key)
        assert store.reserve_attempt(key, T0, window, 5)
        store.release_attempt("lookup:never-tried")  # nothing to give back, no error
        assert store.attempts_locked_until("lookup:never-tried", T0, window, 5) is None

    def test_attempts_survive_new_steps(self, store: Store) -> None:
        record = create(store)
        key, window = f"lookup:{record.tracking}", timedelta(hours=24)
        for _ in range(5):
            store.reserve_attempt(key, T0, window, 5)
        resolve(store, record.tracking)  # rewrites the case
        assert not store.reserve_attempt(key, T0, window, 5)

    # ------------------------------------------------------------ concurrency
    def test_concurrent_guesses_cannot_pass_the_limit(self, store: Store) -> None:
        self.needs_atomic_store()
        with ThreadPoolExecutor(max_workers=8) as pool:
            taken = list(
                pool.map(
                    lambda _: store.reserve_attempt("lookup:1", T0, timedelta(hours=24), 5),
                    range(20),
                )
            )
        assert taken.count(True) == 5

    def test_concurrent_votes_count_once(self, store: Store) -> None:
        self.needs_atomic_store()
        create(store)
        resolved = resolve(store, "100000000001")
        start = threading.Barrier(6)

        def vote(n: int) -> str:
            rating = list(Rating)[n % len(Rating)]
            start.wait()
            try:
                vote_on(store, resolved, rating, T0 + timedelta(days=1, minutes=n))
            except AlreadyVoted:
                return "already voted"
            except Conflict:
                return "conflict"
            return "accepted"

        with ThreadPoolExecutor(max_workers=6) as pool:
            outcomes = list(pool.map(vote, range(6)))
        assert outcomes.count("accepted") == 1
        history = store.get_history(resolved.tracking)
        assert history is not None and history.vote is not None
        assert [e.action for e in history.events].count(Action.RATE) == 1
        assert history.record.status is Status.RATED

    def test_concurrent_creations_with_one_key_store_exactly_one_case(self, store: Store) -> None:
        self.needs_atomic_store()
        start = threading.Barrier(8)

        def attempt(n: int) -> str:
            record, first, idempotency = new_case(f"20000000000{n}", key="same-key")
            start.wait()
            try:
                store.create_case(record, first, idempotency)
            except AlreadyExists:
                return "refused"
            return "created"

        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(attempt, range(8)))
        assert sorted(outcomes) == ["created"] + ["refused"] * 7
        assert len(trackings(store)) == 1
        earlier = store.get_idempotency("same-key")
        assert earlier is not None and trackings(store) == [earlier.tracking]

    # ---------------------------------------------------------------- queries
    def test_the_snapshot_round_trips(self, store: Store) -> None:
        create(store)
        at = T0 + timedelta(minutes=1)
        tracking = "100000000001"
        step(store, tracking, Action.ASSESS, DISPATCHER, at, data={"priority": "complex"})
        step(store, tracking, Action.DISPATCH, DISPATCHER, at, data={"unit": "dept-urban"})
        step(store, tracking, Action.ACCEPT, HANDLER, at)
        step(store, tracking, Action.CONTACT, HANDLER, at + timedelta(minutes=1))
        note = "需协调物业。"
        later = at + timedelta(minutes=2)
        record = step(
            store, tracking, Action.EXTEND, HANDLER, later, note, data={"new_due": "2026-12-31"}
        )
        assert (record.priority, record.route) == (Priority.COMPLEX, Route.DISPATCH)
        assert record.contacted_at == at + timedelta(minutes=1)
        assert record.extended_due == date(2026, 12, 31)
        assert store.get_case(tracking) == record
        assert store.unit_queue("dept-urban") == [self.queued(record)]
        assert store.queue_page("dept-urban").records == (self.queued(record),)
        history = store.get_history(tracking)
        assert history is not None and history.record == record

    def test_queue_pages_follow_the_cursor_to_the_end(self, store: Store) -> None:
        for n in range(1, 8):
            create(store, f"10000000000{n}", at=T0 + timedelta(minutes=n))
        create(store, "100000000008", at=T0 + timedelta(minutes=7))  # same time: tracking breaks
        later = T0 + timedelta(hours=1)  # a change moves the case to the end of the queue
        step(store, "100000000003", Action.ASSESS, DISPATCHER, later, data={"priority": "general"})
        expected = [r.tracking for r in store.unit_queue(COMMAND_CENTRE)]
        assert expected[-1] == "100000000003" and len(expected) == 8

        pages: list[QueuePage] = []
        after: str | None = None
        while True:
            page = store.queue_page(COMMAND_CENTRE, limit=3, after=after)
            pages.append(page)
            assert len(page.records) <= 3
            if page.after is None:
                break
            after = page.after
        assert [r.tracking for p in pages for r in p.records] == expected
        assert len(pages) <= 4  # a store may end on an empty page, never on more
        assert store.queue_page(COMMAND_CENTRE).records == tuple(store.unit_queue(COMMAND_CENTRE))
        assert store.queue_page("dept-urban") == QueuePage((), None)

    def test_a_case_leaves_the_queue_pages_when_it_closes(self, store: Store) -> None:
        create(store, "100000000001")
        resolve(store, "100000000001")
        assert store.queue_page(COMMAND_CENTRE).records == ()
        assert store.queue_page("dept-urban").records == ()

    def test_the_unit_queue_holds_open_cases_only(self, store: Store) -> None:
        create(store, "100000000001", at=T0)
        create(store, "100000000002", at=T0 + timedelta(minutes=1))
        centre = [r.tracking for r in store.unit_queue(COMMAND_CENTRE)]
        assert centre == ["100000000001", "100000000002"]  # oldest first

        at = T0 + timedelta(minutes=5)
        step(store, "100000000001", Action.ASSESS, DISPATCHER, at, data={"priority": "general"})
        step(store, "100000000001", Action.DISPATCH, DISPATCHER, at, data={"unit": "dept-urban"})
        assert [r.tracking for r in store.unit_queue(COMMAND_CENTRE)] == ["100000000002"]
        assert [r.tracking for r in store.unit_queue("dept-urban")] == ["100000000001"]
        assert store.unit_queue("dept-urban") == [self.queued(store.get_case("100000000001"))]

        step(store, "100000000001", Action.ACCEPT, HANDLER, at)
        step(store, "100000000001", Action.RESOLVE, HANDLER, at, note="已清运。")
        assert store.unit_queue("dept-urban") == []  # closed cases leave the queue
        assert [r.tracking for r in store.unit_queue(COMMAND_CENTRE)] == ["100000000002"]

    def test_changed_since_spans_days_in_beijing_time(self, store: Store) -> None:
        monday = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)  # 10:00 Monday, Beijing
        tuesday_late = datetime(2026, 11, 17, 15, 59, tzinfo=UTC)  # 23:59 Tuesday
        wednesday = datetime(2026, 11, 17, 16, 1, tzinfo=UTC)  # 00:01 Wednesday
        create(store, "100000000001", at=monday)
        create(store, "100000000002", at=tuesday_late)
        create(store, "100000000003", at=wednesday)

        def changed(after: datetime, until: datetime) -> set[str]:
            return set(store.changed_since(after, until))

        everything = changed(monday - timedelta(days=3), wednesday + timedelta(days=3))
        assert everything == {"100000000001", "100000000002", "100000000003"}
        assert changed(monday, wednesday) == {"100000000002", "100000000003"}  # after, not at
        assert changed(monday, tuesday_late) == {"100000000002"}  # up to and including
        assert changed(tuesday_late, wednesday - timedelta(seconds=1)) == set()

        later = wednesday + timedelta(hours=30)  # a change moves the case to its new day
        step(store, "100000000001", Action.ASSESS, DISPATCHER, later, data={"priority": "general"})
        assert changed(monday - timedelta(days=1), wednesday) == {"100000000002", "100000000003"}
        assert changed(wednesday, later) == {"100000000001"}

    # ------------------------------------------------------------ put_history
    def test_put_history_is_idempotent(self, store: Store) -> None:
        source = MemoryStore()
        create(source)
        resolved = resolve(source, "100000000001")
        for n in range(30):  # more items than one batch write takes (25)
            at = T0 + timedelta(hours=1, minutes=n)
            step(source, resolved.tracking, Action.FOLLOW_UP, DISPATCHER, at, data={"result": "ok"})
        record = source.get_case(resolved.tracking)
        assert record is not None
        _, _, rated = vote_on(source, record, Rating.BASICALLY_SATISFIED, T0 + timedelta(days=1))
        events, vote = source.get_events(rated.tracking), source.get_vote(rated.tracking)

        store.put_history(rated, events, vote)
        store.put_history(rated, events, vote)
        assert store.get_case(rated.tracking) == rated
        assert store.get_events(rated.tracking) == events
        assert store.get_vote(rated.tracking) == vote
        assert list(store.all_histories()) == [(rated, events)]
        assert replay(store.get_events(rated.tracking)).status is Status.RATED

    # ---------------------------------------------------------- staff, markers
    def test_staff_members_are_kept_and_replaced_by_username(self, store: Store) -> None:
        member = StaffMember("urban-01", "李承办", Role.HANDLER, "dept-urban", "scrypt$00$11")
        store.put_staff(member)
        assert store.get_staff("urban-01") == member
        store.put_staff(replace(member, active=False))
        assert store.get_staff("urban-01") == replace(member, active=False)
        assert store.get_staff("nobody") is None
        dispatcher = StaffMember("dispatch-01", "张调度", Role.DISPATCHER, None, "scrypt$22$33")
        store.put_staff(dispatcher)
        assert store.get_staff("dispatch-01") == dispatcher

    def test_markers_are_set_and_replaced(self, store: Store) -> None:
        assert store.get_marker("build") is None
        store.set_marker("build", "2026-11-16T02:00:00+08:00")
        store.set_marker("build", "2026-11-17T02:00:00+08:00")
        assert store.get_marker("build") == "2026-11-17T02:00:00+08:00"
        assert store.get_marker("other") is None

    def test_all_histories_gives_every_case_once_with_its_events(self, store: Store) -> None:
        for n in range(1, 4):
            create(store, f"10000000000{n}")
        store.reserve_attempt("lookup:100000000001", T0, timedelta(hours=24), 5)
        step(store, "100000000002", Action.ASSESS, DISPATCHER, T0, data={"priority": "general"})
        store.put_staff(StaffMember("dispatch-01", "张调度", Role.DISPATCHER, None, "x"))
        store.set_marker("build", "2026-11-16")
        histories = {record.tracking: (record, events) for record, events in store.all_histories()}
        assert sorted(histories) == trackings(store) == [f"10000000000{n}" for n in range(1, 4)]
        for tracking, (record, events) in histories.items():
            assert record == store.get_case(tracking)
            assert events == store.get_events(tracking)


class MonthReaderContract:
    """``ports.MonthReader``, for the stores that have it (not DynamoDB): months are
    Beijing time's, so a case filed at 23:30 UTC on the last day belongs to the next."""

    def test_a_month_reads_its_own_cases_in_filing_order(self, store: Any) -> None:
        assert isinstance(store, MonthReader)
        assert store.filed_months() == {}
        boundary = datetime(2026, 10, 31, 16, 30, tzinfo=UTC)  # 1 November, 00:30 Beijing
        filed = {
            "100000000001": boundary - timedelta(hours=1),  # 31 October, Beijing
            "100000000002": boundary + timedelta(days=2),
            "100000000003": boundary,
            "100000000004": boundary + timedelta(days=40),  # December
        }
        for tracking, at in filed.items():
            create(store, tracking, at=at)
        assert store.filed_months() == {"2026-10": 1, "2026-11": 2, "2026-12": 1}
        november = list(store.month_histories("2026-11"))
        assert [r.tracking for r, _ in november] == ["100000000003", "100000000002"]
        for record, events in november:
            assert events == store.get_events(record.tracking)
        assert [r.tracking for r, _ in store.month_histories("2026-10")] == ["100000000001"]
        assert list(store.month_histories("2027-01")) == []
        every = [r.tracking for m in store.filed_months() for r, _ in store.month_histories(m)]
        assert every == [r.tracking for r, _ in store.all_histories()]


class TestMemoryStore(StoreContract, MonthReaderContract):
    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()


def test_a_malformed_cursor_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        MemoryStore().queue_page(COMMAND_CENTRE, after="not-a-cursor")
