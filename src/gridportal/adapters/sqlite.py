"""The embedded store: one SQLite file (WAL), tables and indexes that mirror the
DynamoDB access patterns (docs/embedded-store.md beside docs/data.md).

Every write that belongs together is one ``BEGIN IMMEDIATE`` transaction: SQLite lets
one writer in at a time, so a condition read inside the transaction still holds when
the transaction commits (the DynamoDB conditions, without the races). Readers never
wait for the writer (WAL). ``synchronous=FULL`` syncs the log on every commit: an
acknowledged complaint survives a killed process and a power cut.

Connections come from a small pool: the local origin serves each request on a new
thread, so a connection per thread would be opened and thrown away per request.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, Final, TypeVar

from gridportal.domain.deadlines import BEIJING
from gridportal.domain.lifecycle import CaseState
from gridportal.domain.model import (
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
    QUEUE_PAGE,
    AlreadyExists,
    AlreadyVoted,
    CaseHistory,
    CaseRecord,
    Conflict,
    IdempotencyRecord,
    QueuePage,
    StaffMember,
    StoreUnavailable,
    Vote,
    queue_of,
)

T = TypeVar("T")

SCHEMA_VERSION = 1  # kept in PRAGMA user_version
BUSY_TIMEOUT_MS = 5000  # a writer waits this long for the lock, within the API's 10 s
MAX_IDLE_CONNECTIONS = 32  # as many as the local origin's concurrent clients
JOURNAL_SIZE_LIMIT = 32 * 1024 * 1024  # bytes of -wal kept after a checkpoint
BULK_CASES = 10_000  # cases per transaction when loading histories
STREAM_CASES = 500  # cases per read when streaming every history

# Errors that mean the file cannot serve now (not a bug in a statement): reported as
# StoreUnavailable with the file's name, never as a traceback.
_UNAVAILABLE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_NOTADB",
    "SQLITE_CORRUPT",
    "SQLITE_PROTOCOL",
    "SQLITE_PERM",
    "SQLITE_NOLFS",
)
_DUPLICATE = ("SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE")

# The case row: the filing, the hashes, and the snapshot the indexes and the queue read.
_CASE_COLUMNS = (
    "tracking",
    "public_id",
    "category",
    "grid",
    "location",
    "description",
    "channel",
    "contact_name",
    "contact_phone",
    "filed_at",
    "filed_by_role",
    "filed_by_id",
    "filed_by_unit",
    "lookup_hash",
    "vote_hash",
    "idempotency_key",
    "status",
    "unit",
    "seq",
    "updated_at",
    "priority",
    "route",
    "contacted_at",
    "extended_due",
    "queue",
)
_SNAPSHOT_COLUMNS = (
    "status",
    "unit",
    "seq",
    "updated_at",
    "priority",
    "route",
    "contacted_at",
    "extended_due",
    "queue",
)
_EVENT_COLUMNS = (
    "tracking",
    "seq",
    "at",
    "action",
    "actor_role",
    "actor_id",
    "actor_unit",
    "public_note",
    "private_note",
    "data",
)
_VOTE_COLUMNS = ("tracking", "rating", "comment", "at")

SCHEMA = f"""
CREATE TABLE cases (
    tracking        TEXT PRIMARY KEY,
    public_id       TEXT NOT NULL,
    category        TEXT NOT NULL,
    grid            TEXT NOT NULL,
    location        TEXT NOT NULL,
    description     TEXT NOT NULL,
    channel         TEXT NOT NULL,
    contact_name    TEXT NOT NULL,
    contact_phone   TEXT NOT NULL,
    filed_at        TEXT NOT NULL,   -- Beijing ISO time: text order is time order
    filed_by_role   TEXT NOT NULL,
    filed_by_id     TEXT NOT NULL,
    filed_by_unit   TEXT,
    lookup_hash     TEXT NOT NULL,
    vote_hash       TEXT NOT NULL,
    idempotency_key TEXT,
    status          TEXT NOT NULL,
    unit            TEXT,
    seq             INTEGER NOT NULL,
    updated_at      TEXT NOT NULL,
    priority        TEXT,
    route           TEXT,
    contacted_at    TEXT,
    extended_due    TEXT,
    queue           TEXT             -- ports.queue_of: NULL once the case is closed
);
-- A desk's queue (DynamoDB: by_unit, sparse): open cases only, oldest change first.
CREATE INDEX cases_queue ON cases (queue, updated_at, tracking) WHERE queue IS NOT NULL;
-- Changed since the last build (DynamoDB: changed), covering the query.
CREATE INDEX cases_changed ON cases (updated_at, tracking);
-- Every history in month order for a full rebuild (DynamoDB: the one scan).
CREATE INDEX cases_filed ON cases (filed_at, tracking);

-- A case's item collection (DynamoDB: pk = CASE#<tracking>): events clustered by case.
CREATE TABLE events (
    tracking     TEXT NOT NULL REFERENCES cases (tracking) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    at           TEXT NOT NULL,
    action       TEXT NOT NULL,
    actor_role   TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    actor_unit   TEXT,
    public_note  TEXT NOT NULL,
    private_note TEXT NOT NULL,
    data         TEXT NOT NULL,   -- JSON object of strings
    PRIMARY KEY (tracking, seq)
) WITHOUT ROWID;

CREATE TABLE votes (
    tracking TEXT PRIMARY KEY REFERENCES cases (tracking) ON DELETE CASCADE,
    rating   TEXT NOT NULL,
    comment  TEXT NOT NULL,
    at       TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE idempotency (
    key_hash     TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    tracking     TEXT NOT NULL REFERENCES cases (tracking) ON DELETE CASCADE,
    created_at   TEXT NOT NULL
) WITHOUT ROWID;

-- Attempts at a secret (lookup:<tracking>, login:<username>): rows expire with
-- their window (DynamoDB: a TTL on expires_at).
CREATE TABLE attempts (
    key          TEXT PRIMARY KEY,
    attempts     INTEGER NOT NULL,
    window_start TEXT NOT NULL,
    expires_at   TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX attempts_expiry ON attempts (expires_at);

CREATE TABLE staff (
    username      TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    unit          TEXT,
    password_hash TEXT NOT NULL,
    active        INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE markers (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

PRAGMA user_version = {SCHEMA_VERSION};
"""


class SchemaMismatch(StoreUnavailable):
    """The file was written by another version of the portal's schema."""


class SqliteStore:
    """``ports.Store`` on one SQLite file; safe to share between threads."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()  # guards the pool
        self._writer = threading.Lock()  # one writer of this process at a time
        self._closed = False
        self._pid = os.getpid()
        self._inherited: list[sqlite3.Connection] = []
        with self._guard("open"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connection() as conn, self._guard("open"):
            # WAL is a property of the file: set once, before the first transaction.
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreUnavailable(f"{self.path}: cannot switch to WAL (journal mode {mode})")
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._migrate(conn)
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise SchemaMismatch(
                f"{self.path} holds store schema {version}, newer than this portal knows "
                f"({SCHEMA_VERSION}): upgrade the portal, or point it at another file"
            )
        tables = conn.execute("SELECT count(*) FROM sqlite_schema WHERE type = 'table'")
        if version != 0 or tables.fetchone()[0]:
            raise SchemaMismatch(
                f"{self.path} holds store schema {version} (this portal writes "
                f"{SCHEMA_VERSION}) or is not a portal store; no migration exists"
            )
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)

    # ------------------------------------------------------------ connections
    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_ms / 1000,
            isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE for writes
            check_same_thread=False,  # pooled: used by one thread at a time
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            # A bulk load's large transactions grow the log; after a checkpoint it is cut
            # back to this instead of keeping its largest size for good.
            conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        self._check_fork()
        with self._lock:
            if self._closed:
                raise StoreUnavailable(f"{self.path}: the store is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            with self._guard("open"):
                conn = self._open()
        try:
            yield conn
        finally:
            if conn.in_transaction:  # only after an error that escaped a transaction
                conn.execute("ROLLBACK")
            with self._lock:
                keep = not self._closed and len(self._idle) < MAX_IDLE_CONNECTIONS
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    def _check_fork(self) -> None:
        """In a forked worker (a build's month shards): SQLite connections must not cross
        a fork, so the parent's are set aside unused and this process opens its own. The
        locks may have been held by another thread at the fork: new ones replace them.
        Called before any lock of this store is taken."""
        if self._pid == os.getpid():
            return
        self._inherited, self._idle = self._inherited + self._idle, []
        self._lock, self._writer = threading.Lock(), threading.Lock()
        self._pid = os.getpid()

    def close(self) -> None:
        """Close every idle connection; the store refuses work afterwards."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            name = getattr(exc, "sqlite_errorname", "") or ""
            if isinstance(exc, sqlite3.IntegrityError) or not name.startswith(_UNAVAILABLE):
                raise
            raise StoreUnavailable(f"{self.path}: cannot {doing} ({name}: {exc})") from exc
        except OSError as exc:
            raise StoreUnavailable(f"{self.path}: cannot {doing} ({exc})") from exc

    @contextmanager
    def _write(self, doing: str) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding the file's write lock from its start.

        This process's writers queue on a mutex first: SQLite's busy handler polls with
        growing sleeps, so 32 threads waiting on it are served unfairly (some for
        seconds); the mutex hands the lock on at once. Other processes still meet the
        busy timeout."""
        self._check_fork()  # before the writer's lock, which a fork replaces
        writer = self._writer
        if not writer.acquire(timeout=self._busy_timeout_ms / 1000):
            raise StoreUnavailable(f"{self.path}: cannot {doing} (too many writers waiting)")
        try:
            with self._guard(doing), self._connection() as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:  # some errors (a full disk) end it themselves
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        finally:
            writer.release()

    @contextmanager
    def _read(self, doing: str) -> Iterator[sqlite3.Connection]:
        """Reads in one snapshot (a deferred transaction never waits for the writer)."""
        with self._guard(doing), self._connection() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    def _one(self, doing: str, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self._guard(doing), self._connection() as conn:
            row: tuple[Any, ...] | None = conn.execute(sql, params).fetchone()
            return row

    def _all(self, doing: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._guard(doing), self._connection() as conn:
            return conn.execute(sql, params).fetchall()

    # ------------------------------------------------------------------ cases
    def create_case(
        self, record: CaseRecord, first: Event, idempotency: IdempotencyRecord | None
    ) -> None:
        # The write lock serialises creators: a second request with the same key waits
        # and then finds the key taken, so SQLite never reports InFlight.
        try:
            with self._write("file the case") as conn:
                conn.execute(_INSERT_CASE, _case_row(record))
                conn.execute(_INSERT_EVENT, _event_row(record.tracking, first))
                if idempotency is not None:
                    conn.execute(
                        "INSERT INTO idempotency VALUES (?, ?, ?, ?)",
                        (
                            idempotency.key_hash,
                            idempotency.request_hash,
                            idempotency.tracking,
                            _ts(idempotency.created_at),
                        ),
                    )
        except sqlite3.IntegrityError as exc:
            if getattr(exc, "sqlite_errorname", "") in _DUPLICATE:
                raise AlreadyExists(record.tracking) from exc
            raise

    def get_case(self, tracking: str) -> CaseRecord | None:
        row = self._one("read a case", f"{_SELECT_CASE} WHERE tracking = ?", (tracking,))
        return _case_record(row) if row else None

    def get_events(self, tracking: str) -> list[Event]:
        rows = self._all(
            "read events",
            f"SELECT {', '.join(_EVENT_COLUMNS)} FROM events WHERE tracking = ? ORDER BY seq",
            (tracking,),
        )
        return [_event(row) for row in rows]

    def get_history(self, tracking: str) -> CaseHistory | None:
        # The item collection in one statement: the case row (with its vote) once per
        # event, events in order; one statement reads one consistent snapshot.
        rows = self._all("read a case", _SELECT_HISTORY, (tracking,))
        if not rows:
            return None
        case_width, vote_width = len(_CASE_COLUMNS), len(_VOTE_COLUMNS)
        first = rows[0]
        record = _case_record(first[:case_width])
        vote_row = first[case_width : case_width + vote_width]
        vote = _vote(vote_row) if vote_row[0] is not None else None
        events = tuple(
            _event(row[case_width + vote_width :])
            for row in rows
            if row[case_width + vote_width] is not None
        )
        return CaseHistory(record, events, vote)

    def append_event(self, record: CaseRecord, event: Event, state: CaseState) -> CaseRecord:
        updated = record.with_state(state)
        try:
            with self._write("record the step") as conn:
                self._append(conn, record, updated, event)
        except sqlite3.IntegrityError as exc:
            if getattr(exc, "sqlite_errorname", "") in _DUPLICATE:
                raise Conflict(record.tracking) from exc
            raise
        return updated

    @staticmethod
    def _append(
        conn: sqlite3.Connection, record: CaseRecord, updated: CaseRecord, event: Event
    ) -> None:
        """The step's event and the case's new snapshot, only if the case is still at
        ``record.seq`` (DynamoDB: ``seq = :expected``); raises Conflict otherwise."""
        if event.seq != record.seq + 1:
            raise Conflict(record.tracking)
        snapshot = dict(zip(_CASE_COLUMNS, _case_row(updated), strict=True))
        changed = conn.execute(
            f"UPDATE cases SET {', '.join(f'{c} = ?' for c in _SNAPSHOT_COLUMNS)} "
            "WHERE tracking = ? AND seq = ?",
            (*(snapshot[c] for c in _SNAPSHOT_COLUMNS), record.tracking, record.seq),
        )
        if changed.rowcount != 1:
            raise Conflict(record.tracking)
        conn.execute(_INSERT_EVENT, _event_row(record.tracking, event))

    def record_vote(
        self, record: CaseRecord, vote: Vote, event: Event, state: CaseState
    ) -> CaseRecord:
        updated = record.with_state(state)
        with self._write("record the rating") as conn:
            # One vote per rating round: the row holds the latest round's vote, and a
            # vote cast after the last reopen (重办) means this round is rated already.
            voted = conn.execute(
                "SELECT at FROM votes WHERE tracking = ?", (record.tracking,)
            ).fetchone()
            reopened = conn.execute(
                "SELECT max(at) FROM events WHERE tracking = ? AND action = ?",
                (record.tracking, str(Action.REOPEN)),
            ).fetchone()
            if voted is not None and voted[0] > (reopened[0] or ""):
                raise AlreadyVoted(record.tracking)
            current = conn.execute(
                "SELECT status, vote_hash FROM cases WHERE tracking = ?", (record.tracking,)
            ).fetchone()
            if current is None or current != (str(Status.RESOLVED), record.vote_hash):
                raise Conflict(record.tracking)
            self._append(conn, record, updated, event)
            conn.execute(
                _INSERT_VOTE.replace("INSERT", "INSERT OR REPLACE", 1),
                _vote_row(record.tracking, vote),
            )
        return updated

    def get_vote(self, tracking: str) -> Vote | None:
        row = self._one(
            "read a rating",
            f"SELECT {', '.join(_VOTE_COLUMNS)} FROM votes WHERE tracking = ?",
            (tracking,),
        )
        return _vote(row) if row else None

    # --------------------------------------------------------------- attempts
    def reserve_attempt(self, key: str, now: datetime, window: timedelta, limit: int) -> bool:
        # Counted inside the write lock, before any secret is compared: parallel guesses
        # queue up behind each other and the sixth finds five taken.
        with self._write("count the attempt") as conn:
            conn.execute("DELETE FROM attempts WHERE expires_at <= ?", (_ts(now),))
            row = conn.execute(
                "SELECT attempts, window_start FROM attempts WHERE key = ?", (key,)
            ).fetchone()
            if row is not None and now - _dt(row[1]) < window:
                if row[0] >= limit:
                    return False
                conn.execute("UPDATE attempts SET attempts = attempts + 1 WHERE key = ?", (key,))
                return True
            conn.execute(
                "INSERT OR REPLACE INTO attempts VALUES (?, 1, ?, ?)",
                (key, _ts(now), _ts(now + window)),
            )
            return True

    def release_attempt(self, key: str) -> None:
        with self._write("give the attempt back") as conn:
            conn.execute(
                "UPDATE attempts SET attempts = attempts - 1 WHERE key = ? AND attempts > 0",
                (key,),
            )

    def attempts_locked_until(
        self, key: str, now: datetime, window: timedelta, limit: int
    ) -> datetime | None:
        row = self._one(
            "read attempts", "SELECT attempts, window_start FROM attempts WHERE key = ?", (key,)
        )
        if row is None:
            return None
        ends = _dt(row[1]) + window
        return ends if row[0] >= limit and now < ends else None

    def get_idempotency(self, key_hash: str) -> IdempotencyRecord | None:
        row = self._one(
            "read the request key",
            "SELECT key_hash, request_hash, tracking, created_at FROM idempotency "
            "WHERE key_hash = ?",
            (key_hash,),
        )
        return IdempotencyRecord(row[0], row[1], row[2], _dt(row[3])) if row else None

    # ---------------------------------------------------------------- queries
    def unit_queue(self, unit: str) -> list[CaseRecord]:
        rows = self._all(
            "read the queue",
            f"{_SELECT_CASE} WHERE queue = ? ORDER BY updated_at, tracking",
            (unit,),
        )
        return [_case_record(row) for row in rows]

    def queue_page(
        self, unit: str, *, limit: int = QUEUE_PAGE, after: str | None = None
    ) -> QueuePage:
        if limit < 1:
            raise ValueError("a queue page holds at least one case")
        start = _read_cursor(after) if after else ("", "")
        rows = self._all(
            "read the queue",
            f"{_SELECT_CASE} WHERE queue = ? AND (updated_at, tracking) > (?, ?) "
            "ORDER BY updated_at, tracking LIMIT ?",
            (unit, *start, limit + 1),  # one more says whether another page exists
        )
        records = tuple(_case_record(row) for row in rows[:limit])
        more = len(rows) > limit
        return QueuePage(records, _cursor(records[-1]) if more else None)

    def changed_since(self, moment: datetime, until: datetime) -> Iterator[str]:
        rows = self._all(
            "read changes",
            "SELECT tracking FROM cases WHERE updated_at > ? AND updated_at <= ? "
            "ORDER BY updated_at, tracking",
            (_ts(moment), _ts(until)),
        )
        return iter([row[0] for row in rows])

    def all_histories(self) -> Iterator[tuple[CaseRecord, list[Event]]]:
        return self._filed_between("", "~")

    # ``ports.MonthReader``: filing times are Beijing time's text (``_ts``), so a month's
    # cases are those whose text starts with it, and its first seven characters name it.
    def filed_months(self) -> dict[str, int]:
        rows = self._all(
            "read the months",
            "SELECT substr(filed_at, 1, 7), count(*) FROM cases GROUP BY 1 ORDER BY 1",
        )
        return {month: count for month, count in rows}

    def month_histories(self, month: str) -> Iterator[tuple[CaseRecord, list[Event]]]:
        return self._filed_between(month, month + "~")

    def _filed_between(self, low: str, high: str) -> Iterator[tuple[CaseRecord, list[Event]]]:
        # Filing order, a few hundred cases per read: memory stays flat and no read
        # transaction stays open while the caller works on a batch.
        start = (low, "")
        while True:
            with self._read("read cases") as conn:
                cases = conn.execute(
                    f"{_SELECT_CASE} WHERE (filed_at, tracking) > (?, ?) AND filed_at < ? "
                    "ORDER BY filed_at, tracking LIMIT ?",
                    (*start, high, STREAM_CASES),
                ).fetchall()
                if not cases:
                    return
                first, last = cases[0], cases[-1]
                filed, tracking = _CASE_COLUMNS.index("filed_at"), _CASE_COLUMNS.index("tracking")
                # The batch's events by the same index walk, joined to their case.
                rows = conn.execute(
                    f"SELECT {', '.join(f'e.{c}' for c in _EVENT_COLUMNS)} FROM cases c "
                    "JOIN events e ON e.tracking = c.tracking "
                    "WHERE (c.filed_at, c.tracking) BETWEEN (?, ?) AND (?, ?) "
                    "ORDER BY c.filed_at, c.tracking, e.seq",
                    (first[filed], first[tracking], last[filed], last[tracking]),
                ).fetchall()
            events: dict[str, list[Event]] = {}
            for row in rows:
                events.setdefault(row[0], []).append(_event(row))
            for row in cases:
                yield _case_record(row), events.get(row[tracking], [])
            start = (last[filed], last[tracking])

    # ------------------------------------------------------------ bulk writes
    def put_histories(
        self, histories: Iterable[tuple[CaseRecord, Sequence[Event], Vote | None]]
    ) -> None:
        """Many histories, ``BULK_CASES`` to a transaction (one sync per transaction)."""
        iterator = iter(histories)
        while batch := list(islice(iterator, BULK_CASES)):
            with self._write("load cases") as conn:
                self._put_batch(conn, batch)

    def put_history(self, record: CaseRecord, events: Sequence[Event], vote: Vote | None) -> None:
        with self._write("load a case") as conn:
            self._put_batch(conn, [(record, events, vote)])

    @staticmethod
    def _put_batch(
        conn: sqlite3.Connection,
        batch: Sequence[tuple[CaseRecord, Sequence[Event], Vote | None]],
    ) -> None:
        # An upsert, not REPLACE: REPLACE deletes the case row first, and the foreign
        # keys would take its events and vote with it.
        conn.executemany(_UPSERT_CASE, (_case_row(record) for record, _, _ in batch))
        conn.executemany(
            "DELETE FROM events WHERE tracking = ? AND seq > ?",
            ((record.tracking, len(events)) for record, events, _ in batch),
        )
        conn.executemany(
            _INSERT_EVENT.replace("INSERT", "INSERT OR REPLACE", 1),
            (_event_row(record.tracking, e) for record, events, _ in batch for e in events),
        )
        conn.executemany(
            _INSERT_VOTE.replace("INSERT", "INSERT OR REPLACE", 1),
            (_vote_row(record.tracking, vote) for record, _, vote in batch if vote is not None),
        )

    # ----------------------------------------------------------- staff, meta
    def put_staff(self, member: StaffMember) -> None:
        with self._write("save the staff member") as conn:
            conn.execute(
                "INSERT OR REPLACE INTO staff VALUES (?, ?, ?, ?, ?, ?)",
                (
                    member.username,
                    member.display_name,
                    str(member.role),
                    member.unit,
                    member.password_hash,
                    int(member.active),
                ),
            )

    def get_staff(self, username: str) -> StaffMember | None:
        row = self._one(
            "read a staff member",
            "SELECT username, display_name, role, unit, password_hash, active FROM staff "
            "WHERE username = ?",
            (username,),
        )
        if row is None:
            return None
        return StaffMember(row[0], row[1], Role(row[2]), row[3], row[4], bool(row[5]))

    def get_marker(self, name: str) -> str | None:
        row = self._one("read a marker", "SELECT value FROM markers WHERE name = ?", (name,))
        return str(row[0]) if row else None

    def set_marker(self, name: str, value: str) -> None:
        with self._write("save a marker") as conn:
            conn.execute("INSERT OR REPLACE INTO markers VALUES (?, ?)", (name, value))


# ------------------------------------------------------------------- statements
def _placeholders(columns: Sequence[str]) -> str:
    return ", ".join("?" for _ in columns)


_SELECT_CASE = f"SELECT {', '.join(_CASE_COLUMNS)} FROM cases"
_INSERT_CASE = (
    f"INSERT INTO cases ({', '.join(_CASE_COLUMNS)}) VALUES ({_placeholders(_CASE_COLUMNS)})"
)
_UPSERT_CASE = f"{_INSERT_CASE} ON CONFLICT (tracking) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in _CASE_COLUMNS[1:]
)
_INSERT_EVENT = (
    f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) VALUES ({_placeholders(_EVENT_COLUMNS)})"
)
_INSERT_VOTE = (
    f"INSERT INTO votes ({', '.join(_VOTE_COLUMNS)}) VALUES ({_placeholders(_VOTE_COLUMNS)})"
)
_SELECT_HISTORY = (
    "SELECT "
    + ", ".join(
        [
            *(f"c.{c}" for c in _CASE_COLUMNS),
            *(f"v.{c}" for c in _VOTE_COLUMNS),
            *(f"e.{c}" for c in _EVENT_COLUMNS),
        ]
    )
    + " FROM cases c LEFT JOIN votes v ON v.tracking = c.tracking"
    " LEFT JOIN events e ON e.tracking = c.tracking WHERE c.tracking = ? ORDER BY e.seq"
)


# ------------------------------------------------------------------------ codec
def _ts(moment: datetime) -> str:
    # Beijing has one fixed offset, so the text sorts in time order (as on DynamoDB).
    return moment.astimezone(BEIJING).isoformat(timespec="microseconds")


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _opt(value: str | None, parse: Callable[[str], T]) -> T | None:
    return parse(value) if value is not None else None


def _case_row(record: CaseRecord) -> tuple[Any, ...]:
    file, complaint = record.file, record.file.complaint
    return (
        record.tracking,
        file.public_id,
        complaint.category,
        complaint.grid,
        complaint.location,
        complaint.description,
        str(complaint.channel),
        complaint.contact.name,
        complaint.contact.phone,
        _ts(file.filed_at),
        str(file.filed_by.role),
        file.filed_by.id,
        file.filed_by.unit,
        record.lookup_hash,
        record.vote_hash,
        record.idempotency_key,
        str(record.status),
        record.unit,
        record.seq,
        _ts(record.updated_at),
        str(record.priority) if record.priority else None,
        str(record.route) if record.route else None,
        _ts(record.contacted_at) if record.contacted_at else None,
        record.extended_due.isoformat() if record.extended_due else None,
        queue_of(record),
    )


def _case_record(row: Sequence[Any]) -> CaseRecord:
    (
        tracking,
        public_id,
        category,
        grid,
        location,
        description,
        channel,
        contact_name,
        contact_phone,
        filed_at,
        filed_by_role,
        filed_by_id,
        filed_by_unit,
        lookup_hash,
        vote_hash,
        idempotency_key,
        status,
        unit,
        seq,
        updated_at,
        priority,
        route,
        contacted_at,
        extended_due,
        _queue,
    ) = row
    return CaseRecord(
        file=CaseFile(
            tracking=tracking,
            public_id=public_id,
            complaint=Complaint(
                category,
                grid,
                location,
                description,
                Channel(channel),
                Contact(contact_name, contact_phone),
            ),
            filed_at=_dt(filed_at),
            filed_by=Actor(Role(filed_by_role), filed_by_id, filed_by_unit),
        ),
        lookup_hash=lookup_hash,
        vote_hash=vote_hash,
        status=Status(status),
        unit=unit,
        seq=int(seq),
        updated_at=_dt(updated_at),
        idempotency_key=idempotency_key,
        priority=_opt(priority, Priority),
        route=_opt(route, Route),
        contacted_at=_opt(contacted_at, _dt),
        extended_due=_opt(extended_due, date.fromisoformat),
    )


def _event_row(tracking: str, event: Event) -> tuple[Any, ...]:
    return (
        tracking,
        event.seq,
        _ts(event.at),
        str(event.action),
        str(event.actor.role),
        event.actor.id,
        event.actor.unit,
        event.public_note,
        event.private_note,
        json.dumps(dict(event.data), ensure_ascii=False, sort_keys=True),
    )


# A build reads every event of its months: members found by value in a dict (an enum's
# call is slower), and no JSON parse for the empty data most steps carry.
_ACTIONS: Final = {a.value: a for a in Action}
_ROLES: Final = {r.value: r for r in Role}


def _event(row: Sequence[Any]) -> Event:
    _, seq, at, action, role, actor_id, actor_unit, public_note, private_note, data = row
    return Event(
        seq=int(seq),
        at=_dt(at),
        action=_ACTIONS.get(action) or Action(action),  # an unknown value: its ValueError
        actor=Actor(_ROLES.get(role) or Role(role), actor_id, actor_unit),
        public_note=public_note,
        private_note=private_note,
        data={} if data == "{}" else {str(k): str(v) for k, v in json.loads(data).items()},
    )


def _vote_row(tracking: str, vote: Vote) -> tuple[Any, ...]:
    return (tracking, str(vote.rating), vote.comment, _ts(vote.at))


def _vote(row: Sequence[Any]) -> Vote:
    return Vote(Rating(row[1]), row[2], _dt(row[3]))


def _cursor(record: CaseRecord) -> str:
    """Where the next page starts: the queue index's key of the page's last case."""
    text = f"{_ts(record.updated_at)}|{record.tracking}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[str, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        updated_at, tracking = text.split("|")
        _dt(updated_at)
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise ValueError(f"not a queue cursor: {cursor!r}") from exc
    return updated_at, tracking
