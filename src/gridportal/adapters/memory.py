"""An in-memory store with the same contract as DynamoStore, for fast tests and demo data.

A lock makes each method atomic, as a DynamoDB transaction is.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

from gridportal.domain.lifecycle import CaseState, vote_round
from gridportal.domain.model import Event, Status
from gridportal.domain.publication import month_of
from gridportal.ports import (
    QUEUE_PAGE,
    AlreadyExists,
    AlreadyVoted,
    CaseHistory,
    CaseRecord,
    Conflict,
    IdempotencyRecord,
    QueuePage,
    StaffMember,
    Vote,
    queue_of,
)


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.cases: dict[str, CaseRecord] = {}
        self.events: dict[str, list[Event]] = {}
        self.votes: dict[str, Vote] = {}  # the latest rating round's vote per case
        self.vote_rounds: dict[str, int] = {}  # the round that vote rated
        self.idempotency: dict[str, IdempotencyRecord] = {}
        self.staff: dict[str, StaffMember] = {}
        self.markers: dict[str, str] = {}
        self.attempts: dict[str, tuple[int, datetime]] = {}  # key: attempts, window start

    def create_case(
        self, record: CaseRecord, first: Event, idempotency: IdempotencyRecord | None
    ) -> None:
        with self._lock:
            if record.tracking in self.cases:
                raise AlreadyExists(record.tracking)
            if idempotency and idempotency.key_hash in self.idempotency:
                raise AlreadyExists(idempotency.key_hash)
            self.cases[record.tracking] = record
            self.events[record.tracking] = [first]
            if idempotency:
                self.idempotency[idempotency.key_hash] = idempotency

    def get_case(self, tracking: str) -> CaseRecord | None:
        return self.cases.get(tracking)

    def get_events(self, tracking: str) -> list[Event]:
        return list(self.events.get(tracking, ()))

    def get_history(self, tracking: str) -> CaseHistory | None:
        with self._lock:
            record = self.cases.get(tracking)
            if record is None:
                return None
            return CaseHistory(record, tuple(self.events[tracking]), self.votes.get(tracking))

    def append_event(self, record: CaseRecord, event: Event, state: CaseState) -> CaseRecord:
        with self._lock:
            current = self.cases.get(record.tracking)
            if current is None or current.seq != record.seq or event.seq != record.seq + 1:
                raise Conflict(record.tracking)
            updated = current.with_state(state)
            self.cases[record.tracking] = updated
            self.events[record.tracking].append(event)
            return updated

    def record_vote(
        self, record: CaseRecord, vote: Vote, event: Event, state: CaseState
    ) -> CaseRecord:
        with self._lock:
            # One vote per rating round (a reopen starts the next): the round's, not the case's.
            if self.vote_rounds.get(record.tracking) == state.round:
                raise AlreadyVoted(record.tracking)
            current = self.cases.get(record.tracking)
            if (
                current is None
                or current.status is not Status.RESOLVED
                or current.vote_hash != record.vote_hash
            ):
                raise Conflict(record.tracking)
            updated = self.append_event(record, event, state)
            self.votes[record.tracking] = vote
            self.vote_rounds[record.tracking] = state.round
            return updated

    def get_vote(self, tracking: str) -> Vote | None:
        return self.votes.get(tracking)

    def reserve_attempt(self, key: str, now: datetime, window: timedelta, limit: int) -> bool:
        with self._lock:
            attempts, started = self.attempts.get(key, (0, now))
            if now - started >= window:
                attempts, started = 0, now
            if attempts >= limit:
                return False
            self.attempts[key] = (attempts + 1, started)
            return True

    def release_attempt(self, key: str) -> None:
        with self._lock:
            attempts, started = self.attempts.get(key, (0, datetime.min))
            if attempts > 0:
                self.attempts[key] = (attempts - 1, started)

    def attempts_locked_until(
        self, key: str, now: datetime, window: timedelta, limit: int
    ) -> datetime | None:
        with self._lock:
            if key not in self.attempts:
                return None
            attempts, started = self.attempts[key]
            ends = started + window
            return ends if attempts >= limit and now < ends else None

    def get_idempotency(self, key_hash: str) -> IdempotencyRecord | None:
        return self.idempotency.get(key_hash)

    def unit_queue(self, unit: str) -> list[CaseRecord]:
        with self._lock:
            return sorted((r for r in self.cases.values() if queue_of(r) == unit), key=_queue_key)

    def queue_page(
        self, unit: str, *, limit: int = QUEUE_PAGE, after: str | None = None
    ) -> QueuePage:
        if limit < 1:
            raise ValueError("a queue page holds at least one case")
        start = _read_cursor(after) if after else None
        queue = [r for r in self.unit_queue(unit) if start is None or _queue_key(r) > start]
        records = tuple(queue[:limit])
        return QueuePage(records, _cursor(records[-1]) if len(queue) > limit else None)

    def changed_since(self, moment: datetime, until: datetime) -> Iterator[str]:
        for record in list(self.cases.values()):
            if moment < record.updated_at <= until:
                yield record.tracking

    def put_histories(
        self, histories: Iterable[tuple[CaseRecord, Sequence[Event], Vote | None]]
    ) -> None:
        for record, events, vote in histories:
            self.put_history(record, events, vote)

    def put_history(self, record: CaseRecord, events: Sequence[Event], vote: Vote | None) -> None:
        with self._lock:
            self.cases[record.tracking] = record
            self.events[record.tracking] = list(events)
            if vote is not None:
                self.votes[record.tracking] = vote
                self.vote_rounds[record.tracking] = vote_round(events)

    def put_staff(self, member: StaffMember) -> None:
        self.staff[member.username] = member

    def get_staff(self, username: str) -> StaffMember | None:
        return self.staff.get(username)

    def get_marker(self, name: str) -> str | None:
        return self.markers.get(name)

    def set_marker(self, name: str, value: str) -> None:
        self.markers[name] = value

    def all_trackings(self) -> list[str]:
        """Every tracking number in filing order (the fake's own convenience)."""
        return list(self.cases)

    def all_histories(self) -> Iterator[tuple[CaseRecord, list[Event]]]:
        with self._lock:
            records = sorted(self.cases.values(), key=lambda r: (r.file.filed_at, r.tracking))
        for record in records:  # filing order, as the embedded store streams them
            yield record, self.get_events(record.tracking)

    # ``ports.MonthReader``: a forked worker reads its copy of the dictionaries.
    def filed_months(self) -> dict[str, int]:
        with self._lock:
            filed = Counter(month_of(r.file.filed_at) for r in self.cases.values())
        return dict(sorted(filed.items()))

    def month_histories(self, month: str) -> Iterator[tuple[CaseRecord, list[Event]]]:
        for record, events in self.all_histories():
            if month_of(record.file.filed_at) == month:
                yield record, events


def _queue_key(record: CaseRecord) -> tuple[datetime, str]:
    return record.updated_at, record.tracking


def _cursor(record: CaseRecord) -> str:
    return f"{record.updated_at.astimezone(UTC).isoformat()}|{record.tracking}"


def _read_cursor(cursor: str) -> tuple[datetime, str]:
    updated_at, _, tracking = cursor.partition("|")
    moment = datetime.fromisoformat(updated_at)  # a ValueError for anything else
    if not tracking or moment.tzinfo is None:
        raise ValueError(f"not a queue cursor: {cursor!r}")
    return moment, tracking
