"""The store interface the use cases depend on, and the records that cross it.

Two implementations: ``adapters.dynamo.DynamoStore`` (DynamoDB, also under moto)
and ``adapters.memory.MemoryStore`` (an in-memory fake for fast tests and for
generating demo data). Both honour the same atomicity: each method either
happens whole or raises and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Protocol, runtime_checkable

from gridportal.domain.lifecycle import CaseState
from gridportal.domain.model import (
    OPEN_STATUSES,
    CaseFile,
    Event,
    Priority,
    Rating,
    Role,
    Route,
    Status,
)


@dataclass(frozen=True)
class CaseRecord:
    """A stored case: the filing, hashes of the resident's secrets, and a snapshot.

    The snapshot (status, unit, seq, updated_at, and what the deadlines need) feeds the
    indexes and the staff queue, which is read without replaying any case; the events
    stay the truth and are replayed whenever the whole state matters.
    """

    file: CaseFile
    lookup_hash: str
    vote_hash: str
    status: Status
    unit: str | None
    seq: int
    updated_at: datetime
    idempotency_key: str | None = None  # hash of the request key, if the case came with one
    # What the deadlines of an open case depend on, copied from the replayed state.
    priority: Priority | None = None
    route: Route | None = None
    contacted_at: datetime | None = None
    extended_due: date | None = None

    @property
    def tracking(self) -> str:
        return self.file.tracking

    def with_state(self, state: CaseState) -> CaseRecord:
        return replace(
            self,
            status=state.status,
            unit=state.unit if state.is_open else None,
            seq=state.last_seq,
            updated_at=state.updated_at or self.updated_at,
            priority=state.priority,
            route=state.route,
            contacted_at=state.contacted_at,
            extended_due=state.extended_due,
        )


@dataclass(frozen=True)
class IdempotencyRecord:
    key_hash: str
    request_hash: str
    tracking: str
    created_at: datetime


@dataclass(frozen=True)
class Vote:
    """A resident's rating; written once, never changed or deleted."""

    rating: Rating
    comment: str
    at: datetime


@dataclass(frozen=True)
class CaseHistory:
    """Everything stored under one case: the record, its events in order, the vote."""

    record: CaseRecord
    events: tuple[Event, ...]
    vote: Vote | None


@dataclass(frozen=True)
class StaffMember:
    username: str
    display_name: str
    role: Role
    unit: str | None  # department id for handlers, grid id for grid workers
    password_hash: str
    active: bool = True


@dataclass(frozen=True)
class QueuePage:
    """One page of a unit's queue, oldest change first; ``after`` asks for the next page."""

    records: tuple[CaseRecord, ...]
    after: str | None  # an opaque cursor, None on the last page


COMMAND_CENTRE = "command-centre"  # the queue of open cases no unit holds yet
QUEUE_PAGE = 50  # cases per page of a staff queue


def queue_of(record: CaseRecord) -> str | None:
    """The queue an open case sits in: its unit's, or the command centre's."""
    if record.status not in OPEN_STATUSES:
        return None
    return record.unit or COMMAND_CENTRE


class StoreError(Exception):
    """Base for store failures the use cases translate into answers."""


class StoreUnavailable(StoreError):
    """The store kept throttling or failing after every retry; nothing was written."""


class Conflict(StoreError):
    """A condition failed: someone else changed the item first (retry from a fresh read)."""


class AlreadyExists(StoreError):
    pass


class InFlight(StoreError):
    """Another request with the same idempotency key is being written right now."""


class AlreadyVoted(StoreError):
    pass


class Store(Protocol):
    def create_case(
        self, record: CaseRecord, first: Event, idempotency: IdempotencyRecord | None
    ) -> None:
        """Write the case, its first event and its idempotency record in one transaction.

        Raises AlreadyExists when the tracking number or idempotency key is taken,
        InFlight when a concurrent transaction holds the key.
        """

    def get_case(self, tracking: str) -> CaseRecord | None: ...

    def get_events(self, tracking: str) -> list[Event]: ...

    def get_history(self, tracking: str) -> CaseHistory | None:
        """The case, its events and its vote in one read (on DynamoDB, one query)."""

    def append_event(self, record: CaseRecord, event: Event, state: CaseState) -> CaseRecord:
        """Append ``event`` if the case is still at ``record.seq``; raises Conflict otherwise."""

    def record_vote(
        self, record: CaseRecord, vote: Vote, event: Event, state: CaseState
    ) -> CaseRecord:
        """One transaction: the vote only if none exists (AlreadyVoted), the event, the case
        only if still resolved, at ``record.seq`` and with the same vote hash (Conflict)."""

    def get_vote(self, tracking: str) -> Vote | None: ...

    def reserve_attempt(self, key: str, now: datetime, window: timedelta, limit: int) -> bool:
        """Take one attempt atomically, before a secret is compared: False when ``limit``
        attempts were taken in the window that began at the first of them (locked).
        Concurrent guesses cannot slip past the limit. ``key`` names what is guarded:
        ``lookup:<tracking>``, ``login:<username>``. Attempt records expire with their
        window (a TTL on DynamoDB)."""

    def release_attempt(self, key: str) -> None:
        """Give an attempt back: the secret was right, so it was no failure."""

    def attempts_locked_until(
        self, key: str, now: datetime, window: timedelta, limit: int
    ) -> datetime | None:
        """When the lock on ``key`` ends, if it is locked now; a plain read, takes nothing."""

    def get_idempotency(self, key_hash: str) -> IdempotencyRecord | None: ...

    def unit_queue(self, unit: str) -> list[CaseRecord]:
        """Every open case in a queue, oldest change first (the nightly build's refresh)."""

    def queue_page(
        self, unit: str, *, limit: int = QUEUE_PAGE, after: str | None = None
    ) -> QueuePage:
        """One page of a queue from the queue index: never a scan, never a replay."""

    def changed_since(self, moment: datetime, until: datetime) -> Iterator[str]:
        """Tracking numbers of cases whose last change is after ``moment`` (up to ``until``)."""

    def put_histories(
        self, histories: Iterable[tuple[CaseRecord, Sequence[Event], Vote | None]]
    ) -> None:
        """Many case histories at once (demo loading); on DynamoDB, few batch writes."""

    def put_history(self, record: CaseRecord, events: Sequence[Event], vote: Vote | None) -> None:
        """Write a whole case history (import and demo loading); idempotent by key."""

    def put_staff(self, member: StaffMember) -> None: ...

    def get_staff(self, username: str) -> StaffMember | None: ...

    def get_marker(self, name: str) -> str | None: ...

    def set_marker(self, name: str, value: str) -> None: ...

    def all_histories(self) -> Iterator[tuple[CaseRecord, list[Event]]]:
        """Every case with its events, streamed (memory does not grow with the archive):
        the full rebuild only (on DynamoDB, one paginated scan; on SQLite, by month)."""


@runtime_checkable
class MonthReader(Protocol):
    """A store that reads one month's cases by itself, from any process (the embedded
    SQLite store, the in-memory fake). A full build on one machine then lets each month's
    worker read and export its own cases: the store is read on every core, and no history
    crosses between processes (pickling them cost more than reading them)."""

    def filed_months(self) -> dict[str, int]:
        """The months (YYYY-MM, Beijing time) in which a case was filed, oldest first, with
        how many were filed in each."""

    def month_histories(self, month: str) -> Iterator[tuple[CaseRecord, list[Event]]]:
        """The cases filed in ``month`` (Beijing time) with their events, filing order."""
