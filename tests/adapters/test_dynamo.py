"""The DynamoDB store on moto: the shared Store contract, and what only DynamoDB has.

The contract itself lives in test_memory.py (``StoreContract``); here it runs against
``DynamoStore``. The rest checks the table's design: key reads and queries only (a scan
is for a full rebuild), the sparse queue index that holds nothing personal, the sharded
changed index, items that expire, and reads that follow pagination.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_memory import (
    DISPATCHER,
    HANDLER,
    T0,
    StoreContract,
    create,
    new_case,
    resolve,
    step,
)

from gridportal.adapters.dynamo import IDEMPOTENCY_TTL, DynamoStore
from gridportal.adapters.dynamo import main as dynamo_main
from gridportal.adapters.tables import CHANGED_SHARDS, TABLE_NAME, TTL_ATTRIBUTE, changed_shard
from gridportal.domain.deadlines import BEIJING
from gridportal.domain.model import Action, Contact, Priority, Route
from gridportal.ports import COMMAND_CENTRE, AlreadyExists, CaseRecord, Store

# What the queue index does not hold: the complainant, the free text, the secrets' hashes.
PERSONAL = {"contact_name", "contact_phone", "location", "description"}
PERSONAL |= {"lookup_hash", "vote_hash", "idempotency_key"}


def queued(record: CaseRecord | None) -> CaseRecord:
    """``record`` as a queue read gives it: everything but what the index leaves out."""
    assert record is not None
    complaint = replace(record.file.complaint, location="", description="", contact=Contact())
    return replace(
        record,
        file=replace(record.file, complaint=complaint),
        lookup_hash="",
        vote_hash="",
        idempotency_key=None,
    )


class TestDynamoStore(StoreContract):
    truly_atomic = False  # moto serialises nothing between threads

    @pytest.fixture
    def store(self, dynamo_store: DynamoStore) -> DynamoStore:
        return dynamo_store

    # Queue reads come from the by_unit index, which projects no personal attribute: the
    # contract's two whole-record comparisons hold here for the queued part of a record.
    def test_the_snapshot_round_trips(self, store: Store) -> None:
        create(store)
        at = T0 + timedelta(minutes=1)
        tracking = "100000000001"
        step(store, tracking, Action.ASSESS, DISPATCHER, at, data={"priority": "complex"})
        step(store, tracking, Action.DISPATCH, DISPATCHER, at, data={"unit": "dept-urban"})
        step(store, tracking, Action.ACCEPT, HANDLER, at)
        step(store, tracking, Action.CONTACT, HANDLER, at + timedelta(minutes=1))
        later = at + timedelta(minutes=2)
        record = step(
            store,
            tracking,
            Action.EXTEND,
            HANDLER,
            later,
            "需协调物业。",
            {"new_due": "2026-12-31"},
        )
        assert (record.priority, record.route) == (Priority.COMPLEX, Route.DISPATCH)
        assert record.contacted_at == at + timedelta(minutes=1)
        assert record.extended_due == date(2026, 12, 31)
        assert store.get_case(tracking) == record
        assert store.unit_queue("dept-urban") == [queued(record)]
        assert store.queue_page("dept-urban").records == (queued(record),)
        history = store.get_history(tracking)
        assert history is not None and history.record == record

    def test_the_unit_queue_holds_open_cases_only(self, store: Store) -> None:
        create(store, "100000000001", at=T0)
        create(store, "100000000002", at=T0 + timedelta(minutes=1))
        centre = [r.tracking for r in store.unit_queue(COMMAND_CENTRE)]
        assert centre == ["100000000001", "100000000002"]  # oldest first
        at = T0 + timedelta(minutes=5)
        step(store, "100000000001", Action.ASSESS, DISPATCHER, at, data={"priority": "general"})
        step(store, "100000000001", Action.DISPATCH, DISPATCHER, at, data={"unit": "dept-urban"})
        assert [r.tracking for r in store.unit_queue(COMMAND_CENTRE)] == ["100000000002"]
        assert store.unit_queue("dept-urban") == [queued(store.get_case("100000000001"))]
        step(store, "100000000001", Action.ACCEPT, HANDLER, at)
        step(store, "100000000001", Action.RESOLVE, HANDLER, at, note="已清运。")
        assert store.unit_queue("dept-urban") == []  # closed cases leave the queue
        assert [r.tracking for r in store.unit_queue(COMMAND_CENTRE)] == ["100000000002"]


class OperationLog:
    """Names every DynamoDB operation the client sends (a botocore event hook)."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        client.meta.events.register("before-call.dynamodb.*", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)


def raw_case(client: Any, tracking: str) -> dict[str, Any]:
    key = {"pk": {"S": f"CASE#{tracking}"}, "sk": {"S": "CASE"}}
    return dict(client.get_item(TableName=TABLE_NAME, Key=key)["Item"])


def raw_item(client: Any, pk: str, sk: str) -> dict[str, Any] | None:
    key = {"pk": {"S": pk}, "sk": {"S": sk}}
    item = client.get_item(TableName=TABLE_NAME, Key=key).get("Item")
    return dict(item) if item else None


def small_pages(client: Any, operation: str) -> None:
    """Every page of ``operation`` holds one item, as if each item filled 1 MB."""

    def one_item_per_page(params: dict[str, Any], **_: Any) -> None:
        params["Limit"] = 1

    client.meta.events.register(f"provide-client-params.dynamodb.{operation}", one_item_per_page)


# ------------------------------------------------------------------- requests
def test_reads_are_key_reads_and_queries_never_scans(
    dynamo_store: DynamoStore, dynamodb: Any
) -> None:
    create(dynamo_store, "100000000001")
    resolve(dynamo_store, "100000000001")
    log = OperationLog(dynamodb)
    dynamo_store.get_case("100000000001")
    dynamo_store.get_history("100000000001")
    dynamo_store.get_vote("100000000001")
    dynamo_store.unit_queue(COMMAND_CENTRE)
    dynamo_store.queue_page(COMMAND_CENTRE)
    dynamo_store.attempts_locked_until("lookup:100000000001", T0, timedelta(hours=1), 5)
    list(dynamo_store.changed_since(T0 - timedelta(days=2), T0 + timedelta(days=1)))
    assert set(log.names) == {"GetItem", "Query"}
    list(dynamo_store.all_histories())  # the operator's full rebuild is the one scan
    assert log.names[-1] == "Scan"


def test_every_write_of_a_case_is_one_transaction(dynamo_store: DynamoStore, dynamodb: Any) -> None:
    log = OperationLog(dynamodb)
    create(dynamo_store, "100000000001", key="k1")
    assert log.names == ["TransactWriteItems"]
    log.names.clear()
    step(dynamo_store, "100000000001", Action.ASSESS, DISPATCHER, T0, data={"priority": "general"})
    assert [n for n in log.names if n != "GetItem" and n != "Query"] == ["TransactWriteItems"]


def test_a_queue_page_is_one_query_with_nothing_read_per_case(
    dynamo_store: DynamoStore, dynamodb: Any
) -> None:
    for n in range(1, 8):
        create(dynamo_store, f"10000000000{n}", at=T0 + timedelta(minutes=n))
    log = OperationLog(dynamodb)
    page = dynamo_store.queue_page(COMMAND_CENTRE, limit=5)
    assert log.names == ["Query"] and len(page.records) == 5 and page.after
    log.names.clear()
    last = dynamo_store.queue_page(COMMAND_CENTRE, limit=5, after=page.after)
    assert log.names == ["Query"] and len(last.records) == 2 and last.after is None


# -------------------------------------------------------------- the queue index
def test_the_queue_index_is_sparse(dynamo_store: DynamoStore, dynamodb: Any) -> None:
    create(dynamo_store, "100000000001")
    assert raw_case(dynamodb, "100000000001")["unit_pk"] == {"S": COMMAND_CENTRE}
    at = T0 + timedelta(minutes=1)
    step(dynamo_store, "100000000001", Action.ASSESS, DISPATCHER, at, data={"priority": "general"})
    step(dynamo_store, "100000000001", Action.DISPATCH, DISPATCHER, at, data={"unit": "dept-urban"})
    assert raw_case(dynamodb, "100000000001")["unit_pk"] == {"S": "dept-urban"}
    step(dynamo_store, "100000000001", Action.ACCEPT, HANDLER, at)
    step(dynamo_store, "100000000001", Action.RESOLVE, HANDLER, at, note="已清运。")
    item = raw_case(dynamodb, "100000000001")
    assert "unit_pk" not in item and "unit_sk" not in item


def test_no_index_holds_contact_data_free_text_or_hashes(
    dynamo_store: DynamoStore, dynamodb: Any
) -> None:
    create(dynamo_store, "100000000001", key="k" * 64)
    case = raw_case(dynamodb, "100000000001")
    assert set(case) >= PERSONAL  # the case item has them all: the index must drop them
    queue_pk = {":pk": {"S": COMMAND_CENTRE}}
    (queued_item,) = dynamodb.query(
        TableName=TABLE_NAME,
        IndexName="by_unit",
        KeyConditionExpression="unit_pk = :pk",
        ExpressionAttributeValues=queue_pk,
    )["Items"]
    assert not PERSONAL & set(queued_item)
    assert {"category", "grid", "filed_at", "status", "updated_at", "seq"} <= set(queued_item)
    changed_pk = {":pk": case["ch_pk"]}
    (changed_item,) = dynamodb.query(
        TableName=TABLE_NAME,
        IndexName="changed",
        KeyConditionExpression="ch_pk = :pk",
        ExpressionAttributeValues=changed_pk,
    )["Items"]
    assert set(changed_item) == {"pk", "sk", "ch_pk", "ch_sk"}  # keys only


def test_queue_pages_cross_short_dynamodb_pages(dynamo_store: DynamoStore, dynamodb: Any) -> None:
    for n in range(1, 6):
        create(dynamo_store, f"10000000000{n}", at=T0 + timedelta(minutes=n))
    small_pages(dynamodb, "Query")
    first = dynamo_store.queue_page(COMMAND_CENTRE, limit=3)
    assert [r.tracking for r in first.records] == [f"10000000000{n}" for n in (1, 2, 3)]
    assert first.after is not None
    rest = dynamo_store.queue_page(COMMAND_CENTRE, limit=3, after=first.after)
    assert [r.tracking for r in rest.records] == ["100000000004", "100000000005"]
    assert rest.after is None  # the last page says so: no empty page after it


def test_a_cursor_stays_in_the_queue_it_is_used_on(dynamo_store: DynamoStore) -> None:
    create(dynamo_store, "100000000001", at=T0)
    create(dynamo_store, "100000000002", at=T0 + timedelta(minutes=1))
    create(dynamo_store, "100000000003", at=T0 + timedelta(minutes=2))
    at = T0 + timedelta(minutes=5)
    step(dynamo_store, "100000000003", Action.ASSESS, DISPATCHER, at, data={"priority": "general"})
    step(dynamo_store, "100000000003", Action.DISPATCH, DISPATCHER, at, data={"unit": "dept-urban"})
    centre = dynamo_store.queue_page(COMMAND_CENTRE, limit=1)
    assert centre.after is not None
    # Used on another unit's queue, a cursor is only a position: it reads that queue alone.
    other = dynamo_store.queue_page("dept-urban", after=centre.after)
    assert [r.tracking for r in other.records] == ["100000000003"]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor",
        "!!!!",
        base64.urlsafe_b64encode(b"no separator").decode(),
        base64.urlsafe_b64encode(b"2026-11-16T09:30:00#100000000001").decode(),  # naive time
        base64.urlsafe_b64encode(b"2026-11-16T09:30:00+08:00#12ab").decode(),  # not a tracking
        base64.urlsafe_b64encode(b"yesterday#100000000001").decode(),
        base64.urlsafe_b64encode("2026-11-16T09:30:00+08:00#١٢٣".encode()).decode(),
        base64.urlsafe_b64encode(b"\xff\xfe#1").decode(),
        "A" * 1000,
    ],
)
def test_a_bad_cursor_is_a_value_error(dynamo_store: DynamoStore, cursor: str) -> None:
    with pytest.raises(ValueError):
        dynamo_store.queue_page(COMMAND_CENTRE, after=cursor)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cursor=st.text(max_size=120)
    | st.binary(max_size=90).map(lambda b: base64.b64encode(b).decode())
)
def test_any_cursor_is_a_page_or_a_value_error(dynamo_store: DynamoStore, cursor: str) -> None:
    try:
        page = dynamo_store.queue_page(COMMAND_CENTRE, after=cursor)
    except ValueError:
        return
    assert page.records == () and page.after is None  # the queue is empty


# ---------------------------------------------------------- the changed index
def test_the_changed_index_spreads_a_day_over_its_shards(
    dynamo_store: DynamoStore, dynamodb: Any
) -> None:
    trackings = [f"1000000000{n:02d}" for n in range(1, 41)]
    for tracking in trackings:  # an import: forty cases changed at one moment
        create(dynamo_store, tracking)
    keys = {raw_case(dynamodb, t)["ch_pk"]["S"] for t in trackings}
    day = T0.astimezone(BEIJING).date().isoformat()
    assert keys <= {f"{day}#{n}" for n in range(CHANGED_SHARDS)}
    assert len(keys) > CHANGED_SHARDS // 2  # spread, not piled on one key
    for tracking in trackings:
        assert raw_case(dynamodb, tracking)["ch_pk"]["S"] == f"{day}#{changed_shard(tracking)}"
    log = OperationLog(dynamodb)
    changed = set(dynamo_store.changed_since(T0 - timedelta(days=1), T0 + timedelta(days=1)))
    assert changed == set(trackings)
    assert log.names == ["Query"] * (3 * CHANGED_SHARDS)  # every shard of each of three days


def test_a_shard_is_stable_and_in_range() -> None:
    for n in range(200):
        tracking = f"{100000000000 + n * 7919}"
        assert changed_shard(tracking) == changed_shard(tracking)
        assert 0 <= changed_shard(tracking) < CHANGED_SHARDS


def test_reads_follow_every_page(dynamo_store: DynamoStore, dynamodb: Any) -> None:
    for n in range(1, 6):
        create(dynamo_store, f"10000000000{n}", at=T0 + timedelta(minutes=n))
    small_pages(dynamodb, "Query")
    expected = [f"10000000000{n}" for n in range(1, 6)]
    assert [r.tracking for r in dynamo_store.unit_queue(COMMAND_CENTRE)] == expected
    assert sorted(dynamo_store.changed_since(T0, T0 + timedelta(days=1))) == expected
    assert len(dynamo_store.get_events("100000000001")) == 1


# --------------------------------------------------------------- the full scan
def test_all_histories_streams_one_case_at_a_time(dynamo_store: DynamoStore, dynamodb: Any) -> None:
    for n in range(1, 5):
        create(dynamo_store, f"10000000000{n}")
        resolve(dynamo_store, f"10000000000{n}")
        dynamo_store.reserve_attempt(f"lookup:10000000000{n}", T0, timedelta(hours=1), 5)
    small_pages(dynamodb, "Scan")  # a case's items arrive over several pages
    log = OperationLog(dynamodb)
    histories = dynamo_store.all_histories()
    first_record, first_events = next(histories)
    scans_for_the_first = log.names.count("Scan")
    rest = list(histories)
    # 4 cases of 6 items and 4 attempt items, one a page: the first case came out long
    # before the scan's end, so nothing but the current case is held.
    assert log.names.count("Scan") >= 28 > scans_for_the_first
    every = [(first_record, first_events), *rest]
    assert sorted(r.tracking for r, _ in every) == [f"10000000000{n}" for n in range(1, 5)]
    for record, events in every:
        history = dynamo_store.get_history(record.tracking)
        assert history is not None
        assert (record, events) == (history.record, list(history.events))


# ------------------------------------------------------------------ expiry (TTL)
def test_the_table_has_time_to_live_on_expires_at(dynamodb: Any) -> None:
    description = dynamodb.describe_time_to_live(TableName=TABLE_NAME)["TimeToLiveDescription"]
    assert description["TimeToLiveStatus"] == "ENABLED"
    assert description["AttributeName"] == TTL_ATTRIBUTE


class WallClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_an_idempotency_key_expires_and_may_then_be_taken_again(dynamodb: Any) -> None:
    wall = WallClock(1_800_000_000.0)
    store = DynamoStore(dynamodb, sleep=lambda _: None, wall_clock=wall)
    create(store, "100000000001", key="k1")
    item = raw_item(dynamodb, "IDEM#k1", "IDEM")
    assert item is not None
    ttl = IDEMPOTENCY_TTL.total_seconds()
    assert item[TTL_ATTRIBUTE] == {"N": str(int(wall.now + ttl))}  # a number: TTL needs one
    record, first, idempotency = new_case("100000000002", key="k1")
    wall.now += ttl - 1
    assert store.get_idempotency("k1") is not None
    with pytest.raises(AlreadyExists):
        store.create_case(record, first, idempotency)
    wall.now += 1  # expired, but TTL has not deleted it (that takes up to days)
    assert raw_item(dynamodb, "IDEM#k1", "IDEM") is not None
    assert store.get_idempotency("k1") is None
    store.create_case(record, first, idempotency)  # the key is free again
    taken = store.get_idempotency("k1")
    assert taken is not None and taken.tracking == "100000000002"


def test_attempts_live_in_their_own_item_and_expire_with_their_window(
    dynamo_store: DynamoStore, dynamodb: Any
) -> None:
    create(dynamo_store, "100000000001")
    window = timedelta(minutes=15)
    for minute in range(3):
        assert dynamo_store.reserve_attempt(
            "login:urban-01", T0 + timedelta(minutes=minute), window, 3
        )
    item = raw_item(dynamodb, "ATTEMPT#login:urban-01", "ATTEMPT")
    assert item is not None
    assert item[TTL_ATTRIBUTE] == {"N": str(int((T0 + window).timestamp()))}
    assert item["attempts"] == {"N": "3"}
    assert dynamo_store.attempts_locked_until("login:urban-01", T0, window, 3) == T0 + window
    # Past expiry the item may still be there; it counts as gone.
    later = T0 + window
    assert dynamo_store.attempts_locked_until("login:urban-01", later, window, 3) is None
    assert dynamo_store.reserve_attempt("login:urban-01", later, window, 3)
    item = raw_item(dynamodb, "ATTEMPT#login:urban-01", "ATTEMPT")
    assert item is not None and item["attempts"] == {"N": "1"}
    assert item[TTL_ATTRIBUTE] == {"N": str(int((later + window).timestamp()))}
    assert raw_item(dynamodb, "CASE#100000000001", "LOOKUP") is None  # not in the case's items


def test_a_window_never_ends_early_on_a_fractional_second(dynamo_store: DynamoStore) -> None:
    start = T0 + timedelta(milliseconds=400)
    window = timedelta(seconds=10)
    for _ in range(2):
        assert dynamo_store.reserve_attempt("lookup:1", start, window, 2)
    end = T0 + timedelta(seconds=11)  # expires_at is whole seconds, rounded up
    assert dynamo_store.attempts_locked_until("lookup:1", start, window, 2) == end
    assert not dynamo_store.reserve_attempt("lookup:1", start + window, window, 2)
    assert dynamo_store.reserve_attempt("lookup:1", end, window, 2)


# ----------------------------------------------------------------- secrets
def test_secrets_are_stored_as_hashes_only(dynamo_store: DynamoStore, dynamodb: Any) -> None:
    record = create(dynamo_store, "100000000001", key="k" * 64)
    item = raw_case(dynamodb, "100000000001")
    assert item["lookup_hash"] == {"S": record.lookup_hash}
    assert item["vote_hash"] == {"S": record.vote_hash}
    assert not {"lookup_code", "vote_token", "code", "token"} & set(item)


# ------------------------------------------------------------------- upgrade
def age(client: Any, tracking: str) -> None:
    """Make a case item look as earlier versions wrote it: no deadline snapshot, one
    changed-index partition per day."""
    day = raw_case(client, tracking)["ch_pk"]["S"].split("#")[0]
    client.update_item(
        TableName=TABLE_NAME,
        Key={"pk": {"S": f"CASE#{tracking}"}, "sk": {"S": "CASE"}},
        UpdateExpression="REMOVE priority, route, contacted_at, extended_due SET ch_pk = :day",
        ExpressionAttributeValues={":day": {"S": day}},
    )


def test_refresh_rewrites_old_case_items_in_todays_shape(
    dynamo_store: DynamoStore, dynamodb: Any
) -> None:
    create(dynamo_store, "100000000001")
    at = T0 + timedelta(minutes=1)
    step(dynamo_store, "100000000001", Action.ASSESS, DISPATCHER, at, data={"priority": "complex"})
    current = dynamo_store.get_case("100000000001")
    assert current is not None and current.priority is Priority.COMPLEX
    age(dynamodb, "100000000001")
    aged = dynamo_store.get_case("100000000001")
    assert aged is not None and aged.priority is None
    window = (T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert list(dynamo_store.changed_since(*window)) == []  # invisible to the sharded reads

    assert dynamo_store.refresh_case_items() == (1, 0)
    assert dynamo_store.get_case("100000000001") == current
    assert list(dynamo_store.changed_since(*window)) == ["100000000001"]
    assert dynamo_store.queue_page(COMMAND_CENTRE).records == (queued(current),)
    assert dynamo_store.refresh_case_items() == (1, 0)  # running it again changes nothing
    assert dynamo_store.get_case("100000000001") == current


def test_refresh_leaves_a_case_that_moved_meanwhile_to_its_step(
    dynamo_store: DynamoStore, dynamodb: Any
) -> None:
    create(dynamo_store, "100000000001")
    age(dynamodb, "100000000001")
    rival = DynamoStore(boto3.client("dynamodb", region_name="cn-north-1"), sleep=lambda _: None)
    at = T0 + timedelta(minutes=1)
    fired: list[bool] = []

    def step_first(**_: Any) -> None:
        if not fired:
            fired.append(True)
            step(rival, "100000000001", Action.ASSESS, DISPATCHER, at, data={"priority": "urgent"})

    dynamodb.meta.events.register("before-call.dynamodb.PutItem", step_first)
    assert dynamo_store.refresh_case_items() == (0, 1)
    record = dynamo_store.get_case("100000000001")
    assert record is not None and (record.seq, record.priority) == (2, Priority.URGENT)


def test_refresh_runs_from_the_command_line(
    dynamo_store: DynamoStore, dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    create(dynamo_store, "100000000001")
    age(dynamodb, "100000000001")
    dynamo_main(["refresh", "--table", TABLE_NAME])
    assert capsys.readouterr().out.startswith("1 case items rewritten, 0 ")
    assert list(dynamo_store.changed_since(T0 - timedelta(days=1), T0 + timedelta(days=1)))
