"""The embedded store: the shared Store contract on a real file, and what only SQLite has:
query plans that never scan, races between threads and between processes, a file that
keeps everything when it is opened again, and clear answers when the file cannot serve."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_memory import (
    DISPATCHER,
    T0,
    MonthReaderContract,
    StoreContract,
    create,
    new_case,
    resolve,
    step,
    vote_on,
)

from gridportal.adapters import sqlite
from gridportal.adapters.memory import MemoryStore
from gridportal.adapters.sqlite import SchemaMismatch, SqliteStore
from gridportal.domain.lifecycle import replay
from gridportal.domain.model import Action, Rating, Role
from gridportal.ports import (
    COMMAND_CENTRE,
    AlreadyExists,
    AlreadyVoted,
    Conflict,
    StaffMember,
    StoreUnavailable,
)

WINDOW = timedelta(hours=24)


class TestSqliteStore(StoreContract, MonthReaderContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqliteStore]:
        store = SqliteStore(tmp_path / "var" / "portal.db")  # the parent is made
        yield store
        store.close()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "portal.db"


# ------------------------------------------------------------- query plans
class TracedStore(SqliteStore):
    """Every statement the store sends, with its values, as SQLite runs it."""

    def __init__(self, path: Path) -> None:
        self.statements: list[str] = []
        super().__init__(path)

    def _open(self) -> sqlite3.Connection:
        conn = super()._open()
        conn.set_trace_callback(self.statements.append)
        return conn


def plans(path: Path, statements: list[str]) -> dict[str, list[str]]:
    """The query plan of each statement that looks rows up: reads, updates, deletes, and
    any insert that selects (a plain ``INSERT … VALUES`` finds its row by the key)."""
    conn = sqlite3.connect(path)
    try:
        return {
            sql: [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
            for sql in statements
            if sql.split()[0].upper() in ("SELECT", "UPDATE", "DELETE")
            or (sql.split()[0].upper() == "INSERT" and "SELECT" in sql.upper())
        }
    finally:
        conn.close()


def writes(statements: list[str]) -> list[str]:
    return [sql for sql in statements if sql.split()[0].upper() == "INSERT"]


def test_no_request_path_query_scans_a_table(path: Path) -> None:
    store = TracedStore(path)
    for n in range(1, 6):  # a few rows in every table, so the planner has a choice
        create(store, f"10000000000{n}", key=f"key-{n}")
        store.reserve_attempt(f"lookup:10000000000{n}", T0, WINDOW, 5)
        store.put_staff(StaffMember(f"user-{n}", "张", Role.DISPATCHER, None, "hash"))
        store.set_marker(f"marker-{n}", "x")
    resolved = resolve(store, "100000000001")
    first = store.queue_page(COMMAND_CENTRE, limit=2)
    queries: dict[str, Callable[[], Any]] = {
        "get_history": lambda: store.get_history("100000000001"),
        "get_case": lambda: store.get_case("100000000002"),
        "get_events": lambda: store.get_events("100000000002"),
        "get_vote": lambda: store.get_vote("100000000001"),
        "idempotency": lambda: store.get_idempotency("key-2"),
        "reserve_attempt": lambda: store.reserve_attempt("lookup:100000000002", T0, WINDOW, 5),
        "release_attempt": lambda: store.release_attempt("lookup:100000000002"),
        "attempts_locked_until": lambda: store.attempts_locked_until("lookup:1", T0, WINDOW, 5),
        "queue_page": lambda: store.queue_page(COMMAND_CENTRE, limit=2),
        "queue_page after": lambda: store.queue_page(COMMAND_CENTRE, limit=2, after=first.after),
        "unit_queue": lambda: store.unit_queue(COMMAND_CENTRE),
        "changed_since": lambda: list(store.changed_since(T0, T0 + timedelta(days=2))),
        "staff": lambda: store.get_staff("user-2"),
        "marker": lambda: store.get_marker("marker-2"),
        "append_event": lambda: step(
            store, "100000000002", Action.ASSESS, DISPATCHER, T0, data={"priority": "general"}
        ),
        "vote": lambda: vote_on(store, resolved, Rating.SATISFIED, T0 + timedelta(days=1)),
        "all_histories": lambda: list(store.all_histories()),  # by index too, in month order
        # Writes only, by key: a filing, a password rehashed at login, a build marker.
        "create_case": lambda: create(store, "100000000009", key="key-9"),
        "put_staff": lambda: store.put_staff(StaffMember("user-2", "李", Role.AUDITOR, None, "h")),
        "set_marker": lambda: store.set_marker("marker-2", "y"),
    }
    for name, query in queries.items():
        store.statements.clear()
        query()
        planned = plans(path, store.statements)
        assert planned or writes(store.statements), f"{name} ran no query"
        for sql, plan in planned.items():
            assert plan and all(p.startswith(("SEARCH", "USE TEMP B-TREE")) for p in plan), (
                name,
                sql,
                plan,
            )
    store.close()


def test_a_history_is_one_statement(path: Path) -> None:
    store = TracedStore(path)
    record = create(store)
    resolve(store, record.tracking)
    store.statements.clear()
    history = store.get_history(record.tracking)
    assert history is not None and len(history.events) == 5
    assert [s for s in store.statements if s.startswith("SELECT")] == store.statements[-1:]
    store.close()


@pytest.fixture(scope="module")
def queued_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path_factory.mktemp("cursor") / "portal.db")
    for n in range(1, 4):
        create(store, f"10000000000{n}", at=T0 + timedelta(minutes=n))
    yield store
    store.close()


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.binary().map(lambda b: b.hex()), st.just("MjAyNnw=")))
def test_any_cursor_is_a_page_or_a_value_error(queued_store: SqliteStore, cursor: str) -> None:
    for store in (queued_store, MemoryStore()):
        try:
            page = store.queue_page(COMMAND_CENTRE, limit=2, after=cursor)
        except ValueError:
            continue
        assert len(page.records) <= 2


# ------------------------------------------------------------- concurrency
def _race(path: str, role: str, start: Any, results: Any) -> None:
    """One process's share of the race: guesses, a vote and a filing with a taken key."""
    store = SqliteStore(path)
    start.wait()
    taken = [store.reserve_attempt("lookup:race", T0, WINDOW, 5) for _ in range(10)]
    resolved = store.get_case("100000000001")
    assert resolved is not None
    try:
        vote_on(store, resolved, Rating.SATISFIED, T0 + timedelta(days=1))
        voted = "accepted"
    except (AlreadyVoted, Conflict) as refused:
        voted = type(refused).__name__
    record, first, idempotency = new_case(f"3000000000{role}", key="one-key")
    try:
        store.create_case(record, first, idempotency)
        filed = "created"
    except AlreadyExists:
        filed = "refused"
    store.close()
    results.put((taken.count(True), voted, filed))


def test_two_processes_cannot_pass_the_limit_vote_twice_or_file_twice(path: Path) -> None:
    store = SqliteStore(path)
    create(store)
    resolve(store, "100000000001")
    store.close()  # no connection crosses the fork
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(2), context.Queue()
    workers = [
        context.Process(target=_race, args=(str(path), role, start, results)) for role in "12"
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sum(taken for taken, _, _ in outcomes) == 5
    assert sorted(voted for _, voted, _ in outcomes)[0] == "AlreadyVoted"
    assert [voted for _, voted, _ in outcomes].count("accepted") == 1
    assert sorted(filed for _, _, filed in outcomes) == ["created", "refused"]

    again = SqliteStore(path)
    history = again.get_history("100000000001")
    assert history is not None and history.vote is not None
    assert [e.action for e in history.events].count(Action.RATE) == 1
    trackings = sorted(r.tracking for r, _ in again.all_histories())
    assert len(trackings) == 2 and "100000000001" in trackings
    again.close()


def test_thirty_two_clients_filing_at_once_all_get_through(path: Path) -> None:
    # The local origin's load: each client on its own thread, the pool sharing connections,
    # writers taking turns, readers alongside.
    store = SqliteStore(path)

    def client(n: int) -> int:
        for i in range(15):
            record, first, idempotency = new_case(f"{n:04d}{i:08d}", key=f"key-{n}-{i}")
            store.create_case(record, first, idempotency)
            assert store.get_history(record.tracking) is not None
        return n

    with ThreadPoolExecutor(max_workers=32) as pool:
        assert sorted(pool.map(client, range(32))) == list(range(32))
    assert sum(1 for _ in store.all_histories()) == 32 * 15
    store.close()


def _file_until_killed(path: str, acknowledged: Any) -> None:
    store = SqliteStore(path)
    for n in range(100_000):
        record, first, idempotency = new_case(f"{400000000000 + n:012d}", key=f"burst-{n}")
        store.create_case(record, first, idempotency)
        acknowledged.send(record.tracking)  # only once the commit has returned


def test_an_acknowledged_filing_survives_a_killed_process(path: Path) -> None:
    SqliteStore(path).close()
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    writer = context.Process(target=_file_until_killed, args=(str(path), sending))
    writer.start()
    acknowledged = [receiving.recv() for _ in range(40)]
    os.kill(writer.pid or 0, signal.SIGKILL)  # mid-burst, no chance to clean up
    writer.join(timeout=30)
    assert writer.exitcode == -signal.SIGKILL
    while receiving.poll(0.2):
        acknowledged.append(receiving.recv())

    store = SqliteStore(path)
    for n, tracking in enumerate(acknowledged):
        history = store.get_history(tracking)
        assert history is not None and len(history.events) == 1, tracking
        idempotency = store.get_idempotency(f"burst-{n}")
        assert idempotency is not None and idempotency.tracking == tracking
    # Nothing half-written either: every stored case has its event and its key.
    stored = list(store.all_histories())
    assert len(stored) >= len(acknowledged)
    assert all(len(events) == 1 for _, events in stored)
    store.close()


def test_readers_do_not_wait_for_the_writer(path: Path) -> None:
    store = SqliteStore(path, busy_timeout_ms=100)
    record = create(store)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    writer.execute("UPDATE markers SET value = value")
    try:
        assert store.get_case(record.tracking) == record  # WAL: reads go on
        assert store.get_history(record.tracking) is not None
        with pytest.raises(StoreUnavailable, match="locked"):
            create(store, "100000000002")  # a writer waits 100 ms, then gives up cleanly
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert store.get_case("100000000002") is None
    create(store, "100000000002")  # the lock is gone: it works again
    store.close()


# ------------------------------------------------------------ the file itself
def test_reopening_the_file_keeps_everything(path: Path) -> None:
    store = SqliteStore(path)
    create(store, "100000000001", key="k1")
    resolved = resolve(store, "100000000001")
    vote, _, rated = vote_on(store, resolved, Rating.SATISFIED, T0 + timedelta(days=1))
    create(store, "100000000002")
    for _ in range(5):
        store.reserve_attempt("lookup:100000000002", T0, WINDOW, 5)
    member = StaffMember("urban-01", "李承办", Role.HANDLER, "dept-urban", "hash")
    store.put_staff(member)
    store.set_marker("build", "2026-11-16T02:00:00+08:00")
    before = {r.tracking: (r, events) for r, events in store.all_histories()}
    idempotency = store.get_idempotency("k1")
    store.close()

    again = SqliteStore(path)
    assert {r.tracking: (r, events) for r, events in again.all_histories()} == before
    history = again.get_history("100000000001")
    assert history is not None and (history.record, history.vote) == (rated, vote)
    assert again.get_idempotency("k1") == idempotency
    assert again.attempts_locked_until("lookup:100000000002", T0, WINDOW, 5) == T0 + WINDOW
    assert not again.reserve_attempt("lookup:100000000002", T0, WINDOW, 5)
    assert again.get_staff("urban-01") == member
    assert again.get_marker("build") == "2026-11-16T02:00:00+08:00"
    assert [r.tracking for r in again.unit_queue(COMMAND_CENTRE)] == ["100000000002"]
    again.close()


def test_every_connection_is_durable_and_checks_its_keys(path: Path) -> None:
    store = SqliteStore(path)
    with store._connection() as conn:
        pragmas = {
            name: conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in (
                "journal_mode",
                "synchronous",
                "foreign_keys",
                "busy_timeout",
                "journal_size_limit",
            )
        }
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL: the log is synced at every commit
        "foreign_keys": 1,
        "busy_timeout": sqlite.BUSY_TIMEOUT_MS,
        "journal_size_limit": sqlite.JOURNAL_SIZE_LIMIT,
    }
    store.close()


def test_a_newer_schema_is_refused_with_a_clear_message(path: Path) -> None:
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {sqlite.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaMismatch, match="newer than this portal knows"):
        SqliteStore(path)


def test_a_file_that_is_not_a_portal_store_is_refused(path: Path, tmp_path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE something (x)")
    conn.close()
    with pytest.raises(SchemaMismatch, match="not a portal store"):
        SqliteStore(path)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreUnavailable, match=r"garbage\.db"):
        SqliteStore(garbage)


def test_a_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the directory should be")
    with pytest.raises(StoreUnavailable, match="cannot open"):
        SqliteStore(tmp_path / "taken" / "portal.db")
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreUnavailable):
        SqliteStore(tmp_path / "dir.db")


def test_a_closed_store_refuses_work(path: Path) -> None:
    store = SqliteStore(path)
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.get_case("100000000001")


# --------------------------------------------------------------- bulk paths
def test_histories_load_in_batches_and_stream_back_in_month_order(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite, "BULK_CASES", 3)
    monkeypatch.setattr(sqlite, "STREAM_CASES", 2)
    source = MemoryStore()
    for n in range(10):  # filed a fortnight apart, in an order that is not filing order
        create(source, f"1000000000{(7 * n) % 10:02d}", at=T0 - timedelta(days=14 * n))
    resolved = resolve(source, "100000000000")
    _, _, rated = vote_on(source, resolved, Rating.UNSATISFIED, T0 + timedelta(days=1))
    histories = [
        (record, events, source.get_vote(record.tracking))
        for record, events in source.all_histories()
    ]
    store = SqliteStore(path)
    store.put_histories(iter(histories))
    store.put_histories(iter(histories))  # again: idempotent
    streamed = list(store.all_histories())
    assert [(r, e) for r, e, _ in histories] == streamed
    filed = [record.file.filed_at for record, _ in streamed]
    assert filed == sorted(filed)  # month by month
    assert store.get_vote(rated.tracking) == source.get_vote(rated.tracking)
    assert replay(streamed[-1][1]).status.value == "rated"
    store.close()


# The store a forked worker inherits, and the parent's connections at the fork.
_FORKED: list[tuple[SqliteStore, list[sqlite3.Connection]]] = []


def _count_month(month: str) -> tuple[int, bool]:
    """In the worker: the month's cases (after writing a marker of its own), and whether
    it used connections of its own."""
    store, parents = _FORKED[0]
    store.set_marker(f"worker-{os.getpid()}", month)
    count = sum(1 for _ in store.month_histories(month))
    return count, not any(conn is old for conn in store._idle for old in parents)


def test_a_forked_worker_reads_and_writes_on_its_own_connections(path: Path) -> None:
    """A full build forks its month workers from a process that holds the store: they
    must not use its connections (SQLite forbids it) nor its locks (a thread may hold
    one at the fork), and it goes on using them."""
    store = SqliteStore(path)
    for n in range(5):
        create(store, f"10000000000{n}", at=T0 + timedelta(minutes=n))
    inherited = list(store._idle)
    assert inherited  # the parent has a connection open and idle
    _FORKED[:] = [(store, inherited)]
    store._writer.acquire()  # another thread of the parent is writing at the fork
    try:
        with multiprocessing.get_context("fork").Pool(2) as pool:
            counts = pool.map(_count_month, ["2026-11", "2026-11", "2026-10"])
        assert counts == [(5, True), (5, True), (0, True)]
    finally:
        store._writer.release()
        _FORKED.clear()
    # The parent still reads and writes on its own connections.
    create(store, "100000000009", at=T0 + timedelta(hours=1))
    assert sum(1 for _ in store.month_histories("2026-11")) == 6
    assert all(conn in store._idle for conn in inherited)
    store.close()
