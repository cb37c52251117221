"""DynamoDB misbehaving on purpose: throttling, unprocessed batches, lost races.

Faults are injected with botocore's own event hooks on the client moto answers: a
``before-call`` handler that returns ``(http_response, parsed)`` stands in for the
service's answer, so the request never reaches moto; ``provide-client-params`` and
``after-call`` handlers hold back part of a batch and report it unprocessed. A
competing writer is a second client on the same moto backend, run from inside the
first writer's ``before-call``: the race is lost at exactly that moment, every time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from test_memory import DISPATCHER, HANDLER, T0, create, new_case, resolve, step

from api_helpers import COMPLAINT, post
from gridportal.adapters.dynamo import MAX_ATTEMPTS, DynamoStore, StoreUnavailable
from gridportal.adapters.memory import MemoryStore
from gridportal.adapters.tables import TABLE_NAME
from gridportal.domain.calendar import WorkCalendar
from gridportal.domain.credentials import Keys
from gridportal.domain.model import Action, Channel, Complaint, Contact, Rating
from gridportal.domain.reference import District
from gridportal.ports import InFlight
from gridportal.runtime import runtime
from gridportal.services import ConflictError, Portal, Receipt

REGION = "cn-north-1"
THROTTLES: dict[str, dict[str, Any]] = {
    "ThrottlingException": {},
    "ProvisionedThroughputExceededException": {},
    "TransactionCanceledException": {
        "CancellationReasons": [
            {"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity."},
            {"Code": "None"},
            {"Code": "None"},
        ]
    },
}


def service_error(code: str, **extra: Any) -> tuple[AWSResponse, dict[str, Any]]:
    """What botocore would have parsed from DynamoDB's 400 answer."""
    reasons = extra.get("CancellationReasons", [])
    message = f"injected {code} [{', '.join(r['Code'] for r in reasons)}]"
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": 400, "RetryAttempts": 0},
        **extra,
    }
    return AWSResponse("https://dynamodb.invalid/", 400, HTTPHeaders(), None), parsed


class Fault:
    """Answers the first ``times`` calls of one operation with an error (None: forever)."""

    def __init__(
        self,
        client: Any,
        operation: str,
        code: str,
        *,
        times: int | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.extra = extra or {}
        self.times = times
        self.calls = 0
        client.meta.events.register(f"before-call.dynamodb.{operation}", self._answer)

    def _answer(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        self.calls += 1
        if self.times is None or self.calls <= self.times:
            return service_error(self.code, **self.extra)
        return None  # the real call goes through


class Unprocessed:
    """BatchWriteItem writes only the first ``keep`` items of each of the first ``times``
    batches (None: every batch) and reports the rest unprocessed, as DynamoDB does when a
    partition is hot. With ``keep=0`` the request never reaches the table."""

    def __init__(self, client: Any, *, times: int | None, keep: int = 1) -> None:
        self.times = times
        self.keep = keep
        self.batches = 0
        self.held: list[Any] = []
        events = client.meta.events
        events.register("provide-client-params.dynamodb.BatchWriteItem", self._hold_back)
        events.register("before-call.dynamodb.BatchWriteItem", self._answer_if_all_held)
        events.register("after-call.dynamodb.BatchWriteItem", self._report)

    def _hold_back(self, params: dict[str, Any], **_: Any) -> None:
        self.batches += 1
        if self.times is not None and self.batches > self.times:
            return
        requests = params["RequestItems"][TABLE_NAME]
        params["RequestItems"][TABLE_NAME] = requests[: self.keep] or requests
        self.held = requests[self.keep :]

    def _answer_if_all_held(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if self.keep or not self.held:
            return None
        answer = {"UnprocessedItems": {}, "ResponseMetadata": {"HTTPStatusCode": 200}}
        return AWSResponse("https://dynamodb.invalid/", 200, HTTPHeaders(), None), answer

    def _report(self, parsed: dict[str, Any], **_: Any) -> None:
        if self.held:
            parsed["UnprocessedItems"] = {TABLE_NAME: self.held}
            self.held = []


def once_before(client: Any, operation: str, competitor: Callable[[], object]) -> None:
    """Run ``competitor`` just before the first ``operation`` this client sends."""
    fired = threading.Event()

    def hook(**_: Any) -> None:
        if not fired.is_set():
            fired.set()
            competitor()

    client.meta.events.register(f"before-call.dynamodb.{operation}", hook)


def table_items(client: Any) -> list[dict[str, Any]]:
    """Every item, key attributes only (a scan: fine for a test's assertions)."""
    pages = client.get_paginator("scan").paginate(TableName=TABLE_NAME)
    return [
        {"pk": item["pk"]["S"], "sk": item["sk"]["S"]} for page in pages for item in page["Items"]
    ]


def kinds(client: Any) -> list[str]:
    return sorted(item["sk"].split("#")[0] for item in table_items(client))


@pytest.fixture
def make_portal(
    district: District, calendar: WorkCalendar, keys: Keys, clock: Any
) -> Callable[[Any], Portal]:
    def make(client: Any) -> Portal:
        store = DynamoStore(client, TABLE_NAME, sleep=lambda _: None)
        return Portal(store=store, district=district, calendar=calendar, keys=keys, clock=clock)

    return make


def complaint() -> Complaint:
    return Complaint(
        "env-litter",
        "QB-LCJX-01",
        "柳翠井巷北口",
        "垃圾桶满了。",
        Channel.PORTAL,
        Contact("王小明"),
    )


# ------------------------------------------------------------------- throttling
@pytest.mark.parametrize("code", list(THROTTLES))
def test_throttled_writes_are_retried_and_the_case_stored_once(
    dynamodb: Any, make_portal: Callable[[Any], Portal], code: str
) -> None:
    fault = Fault(dynamodb, "TransactWriteItems", code, times=3, extra=THROTTLES[code])
    receipt = make_portal(dynamodb).file_complaint(complaint(), idempotency_key="key-1")
    assert fault.calls == 4
    assert kinds(dynamodb) == ["CASE", "EVENT", "IDEM"]
    assert {i["pk"] for i in table_items(dynamodb) if i["sk"] == "CASE"} == {
        f"CASE#{receipt.tracking}"
    }


def test_throttled_reads_are_retried(dynamo_store: DynamoStore, dynamodb: Any) -> None:
    record = create(dynamo_store)
    Fault(dynamodb, "GetItem", "ProvisionedThroughputExceededException", times=2)
    Fault(dynamodb, "Query", "ThrottlingException", times=2)
    assert dynamo_store.get_case(record.tracking) == record
    assert len(dynamo_store.get_events(record.tracking)) == 1


def test_throttling_forever_is_store_unavailable_and_writes_nothing(
    dynamo_store: DynamoStore, dynamodb: Any
) -> None:
    fault = Fault(dynamodb, "TransactWriteItems", "ThrottlingException", times=None)
    with pytest.raises(StoreUnavailable):
        create(dynamo_store)
    assert fault.calls == MAX_ATTEMPTS
    assert table_items(dynamodb) == []


def test_a_throttled_complaint_is_answered_once_through_the_api(api: Any) -> None:
    client = runtime().dynamodb
    Fault(client, "TransactWriteItems", "ThrottlingException", times=2)
    answer = post(api, "/complaints", COMPLAINT, {"Idempotency-Key": "throttled-1"})
    assert answer.status_code == 201
    tracking = answer.json_body["tracking"].replace("-", "")
    cases = [i["pk"] for i in table_items(client) if i["sk"] == "CASE"]
    assert cases == [f"CASE#{tracking}"]


def test_throttling_forever_through_the_api_stores_nothing(api: Any) -> None:
    client = runtime().dynamodb
    Fault(client, "TransactWriteItems", "ThrottlingException", times=None)
    answer = post(api, "/complaints", COMPLAINT, {"Idempotency-Key": "throttled-2"})
    assert answer.status_code >= 500
    assert set(answer.json_body["error"]) >= {"code", "message"}
    assert table_items(client) == []


def test_throttling_forever_through_the_api_is_a_503(api: Any) -> None:
    Fault(runtime().dynamodb, "TransactWriteItems", "ThrottlingException", times=None)
    answer = post(api, "/complaints", COMPLAINT, {"Idempotency-Key": "throttled-3"})
    assert answer.status_code == 503
    assert answer.json_body["error"]["code"] == "unavailable"


# ------------------------------------------------------------ unprocessed items
def test_unprocessed_batch_items_are_resent_until_all_are_written(
    dynamo_store: DynamoStore, dynamodb: Any
) -> None:
    source = MemoryStore()
    create(source)
    resolved = resolve(source, "100000000001")
    for n in range(30):
        at = T0 + timedelta(hours=1, minutes=n)
        step(source, resolved.tracking, Action.FOLLOW_UP, DISPATCHER, at, data={"result": "ok"})
    record = source.get_case(resolved.tracking)
    assert record is not None
    events = source.get_events(record.tracking)
    unprocessed = Unprocessed(dynamodb, times=4)  # 36 items: a batch of 25, then 11

    dynamo_store.put_history(record, events, None)
    assert unprocessed.batches > 4  # held-back items really were sent again
    assert dynamo_store.get_case(record.tracking) == record
    assert dynamo_store.get_events(record.tracking) == events
    assert len(table_items(dynamodb)) == 1 + len(events)


def test_items_unprocessed_forever_are_store_unavailable(
    dynamo_store: DynamoStore, dynamodb: Any
) -> None:
    unprocessed = Unprocessed(dynamodb, times=None, keep=0)
    record, first, _ = new_case()
    with pytest.raises(StoreUnavailable):
        dynamo_store.put_history(record, [first], None)
    assert unprocessed.batches == 2 * MAX_ATTEMPTS
    assert table_items(dynamodb) == []


# ------------------------------------------------------------------ lost races
def test_a_transaction_conflict_on_a_new_case_is_in_flight(
    dynamodb: Any, make_portal: Callable[[Any], Portal]
) -> None:
    reasons = {"CancellationReasons": [{"Code": "None"}, {"Code": "None"}]}
    reasons["CancellationReasons"].append({"Code": "TransactionConflict"})
    Fault(dynamodb, "TransactWriteItems", "TransactionCanceledException", times=1, extra=reasons)
    with pytest.raises(InFlight):
        create(DynamoStore(dynamodb, sleep=lambda _: None), key="k1")
    Fault(dynamodb, "TransactWriteItems", "TransactionCanceledException", times=1, extra=reasons)
    with pytest.raises(ConflictError) as refused:
        make_portal(dynamodb).file_complaint(complaint(), idempotency_key="key-1")
    assert refused.value.code == "in_flight"
    assert table_items(dynamodb) == []


def test_a_complaint_in_flight_is_a_409_through_the_api(api: Any) -> None:
    client = runtime().dynamodb
    reasons = [{"Code": "None"}, {"Code": "None"}, {"Code": "TransactionConflict"}]
    extra = {"CancellationReasons": reasons}
    Fault(client, "TransactWriteItems", "TransactionCanceledException", times=1, extra=extra)
    answer = post(api, "/complaints", COMPLAINT, {"Idempotency-Key": "in-flight"})
    assert answer.status_code == 409
    assert answer.json_body["error"]["code"] == "in_flight"
    retry = post(api, "/complaints", COMPLAINT, {"Idempotency-Key": "in-flight"})
    assert retry.status_code == 201
    assert kinds(client) == ["CASE", "EVENT", "IDEM"]


def test_a_lost_vote_race_is_already_voted_and_nothing_doubles(
    dynamodb: Any, make_portal: Callable[[Any], Portal]
) -> None:
    portal = make_portal(dynamodb)
    receipt = portal.file_complaint(complaint())
    tracking = receipt.tracking
    resolve_through(portal, tracking)
    rival = make_portal(boto3.client("dynamodb", region_name=REGION))
    once_before(
        dynamodb,
        "TransactWriteItems",
        lambda: rival.vote(tracking, receipt.vote_token, Rating.SATISFIED),
    )
    with pytest.raises(ConflictError) as refused:
        portal.vote(tracking, receipt.vote_token, Rating.UNSATISFIED)
    assert refused.value.code == "already_voted"
    vote = portal.store.get_vote(tracking)
    assert vote is not None and vote.rating is Rating.SATISFIED
    actions = [e.action for e in portal.store.get_events(tracking)]
    assert actions.count(Action.RATE) == 1
    assert kinds(dynamodb).count("VOTE") == 1


def test_a_lost_append_race_is_decided_again_on_fresh_state(
    dynamodb: Any, make_portal: Callable[[Any], Portal]
) -> None:
    portal = make_portal(dynamodb)
    tracking = portal.file_complaint(complaint()).tracking
    portal.act(tracking, Action.ASSESS, DISPATCHER, data={"priority": "general"})
    rival = make_portal(boto3.client("dynamodb", region_name=REGION))
    once_before(
        dynamodb,
        "TransactWriteItems",
        lambda: rival.act(tracking, Action.CONTACT, DISPATCHER, private_note="已电话联系。"),
    )
    view = portal.act(tracking, Action.DISPATCH, DISPATCHER, data={"unit": "dept-urban"})
    assert [e.action for e in view.events] == [
        Action.RECEIVE,
        Action.ASSESS,
        Action.CONTACT,  # the rival's step is kept
        Action.DISPATCH,  # and ours is decided again on top of it, not lost
    ]
    assert [e.seq for e in portal.store.get_events(tracking)] == [1, 2, 3, 4]


def test_a_lost_race_for_the_same_step_is_refused_not_doubled(
    dynamodb: Any, make_portal: Callable[[Any], Portal]
) -> None:
    portal = make_portal(dynamodb)
    tracking = portal.file_complaint(complaint()).tracking
    rival = make_portal(boto3.client("dynamodb", region_name=REGION))
    once_before(
        dynamodb,
        "TransactWriteItems",
        lambda: rival.act(tracking, Action.ASSESS, DISPATCHER, data={"priority": "complex"}),
    )
    with pytest.raises(ConflictError) as refused:
        portal.act(tracking, Action.ASSESS, DISPATCHER, data={"priority": "general"})
    assert refused.value.code == "illegal_transition"
    events = portal.store.get_events(tracking)
    assert [e.action for e in events] == [Action.RECEIVE, Action.ASSESS]
    assert events[1].data["priority"] == "complex"


def before_call_number(
    client: Any, operation: str, n: int, competitor: Callable[[], object]
) -> None:
    """Run ``competitor`` just before the ``n``-th ``operation`` this client sends."""
    calls = 0

    def hook(**_: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == n:
            competitor()

    client.meta.events.register(f"before-call.dynamodb.{operation}", hook)


def attempts_item(client: Any, key: str) -> dict[str, Any] | None:
    item = client.get_item(
        TableName=TABLE_NAME, Key={"pk": {"S": f"ATTEMPT#{key}"}, "sk": {"S": "ATTEMPT"}}
    ).get("Item")
    return dict(item) if item else None


def test_a_guess_racing_for_the_last_attempt_is_refused(dynamo_store: DynamoStore) -> None:
    window = timedelta(hours=24)
    for _ in range(4):
        assert dynamo_store.reserve_attempt("lookup:1", T0, window, 5)
    rival = DynamoStore(boto3.client("dynamodb", region_name=REGION), sleep=lambda _: None)
    once_before(
        dynamo_store.client,
        "UpdateItem",
        lambda: rival.reserve_attempt("lookup:1", T0, window, 5),  # takes the fifth
    )
    assert not dynamo_store.reserve_attempt("lookup:1", T0, window, 5)
    item = attempts_item(dynamo_store.client, "lookup:1")
    assert item is not None and item["attempts"] == {"N": "5"}


def test_a_guess_losing_the_race_for_a_new_window_is_refused_not_counted_twice(
    dynamo_store: DynamoStore,
) -> None:
    window = timedelta(hours=1)
    for _ in range(5):
        dynamo_store.reserve_attempt("login:urban-01", T0, window, 5)
    later = T0 + window  # the window is over: the next guess starts a new one
    rival = DynamoStore(boto3.client("dynamodb", region_name=REGION), sleep=lambda _: None)
    before_call_number(
        dynamo_store.client,
        "UpdateItem",
        2,  # this guess's second update, the one that would start the new window
        lambda: rival.reserve_attempt("login:urban-01", later, window, 5),
    )
    assert not dynamo_store.reserve_attempt("login:urban-01", later, window, 5)
    item = attempts_item(dynamo_store.client, "login:urban-01")
    assert item is not None and item["attempts"] == {"N": "1"}  # the rival's, alone
    assert dynamo_store.reserve_attempt("login:urban-01", later, window, 5)  # the next is fine


def test_throttled_attempts_are_retried_and_counted_once(
    dynamo_store: DynamoStore, dynamodb: Any
) -> None:
    fault = Fault(dynamodb, "UpdateItem", "ThrottlingException", times=2)
    assert dynamo_store.reserve_attempt("lookup:1", T0, timedelta(hours=24), 5)
    assert fault.calls == 3
    item = attempts_item(dynamodb, "lookup:1")
    assert item is not None and item["attempts"] == {"N": "1"}


def test_a_throttled_queue_page_is_retried(dynamo_store: DynamoStore, dynamodb: Any) -> None:
    for n in range(1, 4):
        create(dynamo_store, f"10000000000{n}", at=T0 + timedelta(minutes=n))
    Fault(dynamodb, "Query", "ProvisionedThroughputExceededException", times=2)
    page = dynamo_store.queue_page("command-centre", limit=2)
    assert [r.tracking for r in page.records] == ["100000000001", "100000000002"]
    rest = dynamo_store.queue_page("command-centre", limit=2, after=page.after)
    assert [r.tracking for r in rest.records] == ["100000000003"] and rest.after is None


def resolve_through(portal: Portal, tracking: str) -> None:
    portal.act(tracking, Action.ASSESS, DISPATCHER, data={"priority": "general"})
    portal.act(tracking, Action.DISPATCH, DISPATCHER, data={"unit": "dept-urban"})
    portal.act(tracking, Action.ACCEPT, HANDLER)
    portal.act(tracking, Action.RESOLVE, HANDLER, public_note="已清运。")


# --------------------------------------------------------------- retry bursts
class OneRequestAtATime:
    """DynamoDB applies each request atomically; moto called from threads does not, so each
    request is serialised here. Requests still interleave freely, which is the point. The
    first write of each of ``writers`` threads waits until all are ready to write."""

    def __init__(self, client: Any, writers: int) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._writers = writers
        self._arrived = 0
        self._all_ready = threading.Event()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if name == "transact_write_items":
                self._arrive()
            with self._lock:
                return attribute(*args, **kwargs)

        return call

    @property
    def writes(self) -> int:
        return self._arrived

    def _arrive(self) -> None:
        with self._lock:
            self._arrived += 1
            if self._arrived >= self._writers:
                self._all_ready.set()
        self._all_ready.wait(timeout=10)


def test_a_burst_of_retries_with_one_key_makes_exactly_one_case(
    dynamodb: Any, district: District, calendar: WorkCalendar, keys: Keys, clock: Any
) -> None:
    threads = 6
    client = OneRequestAtATime(dynamodb, writers=threads)
    store = DynamoStore(client, TABLE_NAME, sleep=lambda _: None)
    portal = Portal(store=store, district=district, calendar=calendar, keys=keys, clock=clock)
    answers: list[Any] = []

    def submit() -> None:
        try:
            answers.append(portal.file_complaint(complaint(), idempotency_key="double-tap"))
        except ConflictError as exc:  # "still in flight, retry": also a correct answer
            answers.append(exc.code)

    workers = [threading.Thread(target=submit) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    receipts = {
        (a.tracking, a.lookup_code, a.vote_token) for a in answers if isinstance(a, Receipt)
    }
    refusals = {a for a in answers if isinstance(a, str)}
    assert len(answers) == threads
    assert len(receipts) == 1  # every answer that is a receipt is the same receipt
    assert refusals <= {"in_flight"}
    assert client.writes == threads  # every submission raced to write, and one won
    assert kinds(dynamodb) == ["CASE", "EVENT", "IDEM"]
