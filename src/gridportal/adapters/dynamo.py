"""The DynamoDB store: one table (see ``tables``), every access a key read or a query.

Writes that belong together go in one ``TransactWriteItems``; their conditions
make concurrent updates fail rather than overwrite. Throttling is retried with
backoff; a failed condition is reported to the caller, who re-reads and decides
again. Batch writes resend their unprocessed items until none remain.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from gridportal.adapters.tables import TABLE_NAME
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
    Rating,
    Role,
    Status,
)
from gridportal.domain.publication import month_of
from gridportal.ports import (
    AlreadyExists,
    AlreadyVoted,
    CaseHistory,
    CaseRecord,
    Conflict,
    IdempotencyRecord,
    InFlight,
    StaffMember,
    StoreUnavailable,
    Vote,
    queue_of,
)

T = TypeVar("T")
_ser = TypeSerializer()
_de = TypeDeserializer()
_THROTTLED = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}
MAX_ATTEMPTS = 4  # with botocore's own 2 attempts each, within the API's 10 s timeout


def _case_key(tracking: str) -> dict[str, str]:
    return {"pk": f"CASE#{tracking}", "sk": "CASE"}


def _event_sk(seq: int) -> str:
    return f"EVENT#{seq:05d}"


def _ts(moment: datetime) -> str:
    return moment.astimezone(BEIJING).isoformat(timespec="microseconds")


class DynamoStore:
    def __init__(
        self,
        client: Any,
        table: str = TABLE_NAME,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.table = table
        self._sleep = sleep

    # ------------------------------------------------------------------ retries
    def _call(self, operation: Callable[[], T]) -> T:
        """Retry throttling and transient errors with jittered exponential backoff."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                return operation()
            except ClientError as exc:
                if not _is_throttled(exc) or attempt == MAX_ATTEMPTS - 1:
                    if _is_throttled(exc):
                        raise StoreUnavailable(str(exc)) from exc
                    raise
                self._sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")

    def _transact(self, items: list[dict[str, Any]]) -> None:
        # The same items always carry the same token, so DynamoDB applies a retried
        # transaction once even when the first attempt's answer was lost.
        payload = json.dumps(items, sort_keys=True, default=str).encode()
        token = hashlib.sha256(payload).hexdigest()[:36]
        self._call(
            lambda: self.client.transact_write_items(TransactItems=items, ClientRequestToken=token)
        )

    def _put(self, item: dict[str, Any], condition: str | None = None) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self.table, "Item": _serialise(item)}
        if condition:
            put["ConditionExpression"] = condition
        return {"Put": put}

    # -------------------------------------------------------------------- cases
    def create_case(
        self, record: CaseRecord, first: Event, idempotency: IdempotencyRecord | None
    ) -> None:
        items = [
            self._put(_case_item(record), "attribute_not_exists(pk)"),
            self._put(_event_item(record.tracking, first), "attribute_not_exists(pk)"),
        ]
        if idempotency:
            items.append(self._put(_idempotency_item(idempotency), "attribute_not_exists(pk)"))
        try:
            self._transact(items)
        except ClientError as exc:
            reasons = _cancellation_reasons(exc)
            if "TransactionConflict" in reasons:
                raise InFlight(record.tracking) from exc
            if "ConditionalCheckFailed" in reasons:
                raise AlreadyExists(record.tracking) from exc
            raise

    def get_case(self, tracking: str) -> CaseRecord | None:
        item = self._get(_case_key(tracking))
        return _case_record(item) if item else None

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        response = self._call(
            lambda: self.client.get_item(
                TableName=self.table, Key=_serialise(key), ConsistentRead=True
            )
        )
        return _deserialise(response["Item"]) if "Item" in response else None

    def get_events(self, tracking: str) -> list[Event]:
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": f"CASE#{tracking}", ":prefix": "EVENT#"},
            ConsistentRead=True,
        )
        return [_event(item) for item in items]

    def get_history(self, tracking: str) -> CaseHistory | None:
        # A case's item collection holds its record, events and vote: one query reads all.
        record: CaseRecord | None = None
        events: list[Event] = []
        vote: Vote | None = None
        for item in self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": f"CASE#{tracking}"},
            ConsistentRead=True,
        ):
            if item["sk"] == "CASE":
                record = _case_record(item)
            elif item["sk"] == "VOTE":
                vote = _vote(item)
            elif item["sk"].startswith("EVENT#"):
                events.append(_event(item))
        return CaseHistory(record, tuple(events), vote) if record else None

    def append_event(self, record: CaseRecord, event: Event, state: CaseState) -> CaseRecord:
        updated = record.with_state(state)
        try:
            self._transact(self._append_items(record, updated, event))
        except ClientError as exc:
            if set(_cancellation_reasons(exc)) & {"ConditionalCheckFailed", "TransactionConflict"}:
                raise Conflict(record.tracking) from exc
            raise
        return updated

    def _append_items(
        self, record: CaseRecord, updated: CaseRecord, event: Event, extra_condition: str = ""
    ) -> list[dict[str, Any]]:
        condition = "seq = :expected" + (f" AND {extra_condition}" if extra_condition else "")
        case_put = self._put(_case_item(updated), condition)
        values: dict[str, Any] = {":expected": record.seq}
        if extra_condition:
            values |= {":resolved": str(Status.RESOLVED), ":vote_hash": record.vote_hash}
        case_put["Put"]["ExpressionAttributeValues"] = _serialise(values)
        return [
            self._put(_event_item(record.tracking, event), "attribute_not_exists(pk)"),
            case_put,
        ]

    def record_vote(
        self, record: CaseRecord, vote: Vote, event: Event, state: CaseState
    ) -> CaseRecord:
        updated = record.with_state(state)
        items = [
            self._put(_vote_item(record.tracking, vote), "attribute_not_exists(pk)"),
            *self._append_items(
                record, updated, event, "#status = :resolved AND vote_hash = :vote_hash"
            ),
        ]
        items[2]["Put"]["ExpressionAttributeNames"] = {"#status": "status"}
        try:
            self._transact(items)
        except ClientError as exc:
            reasons = _cancellation_reasons(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise AlreadyVoted(record.tracking) from exc
            if set(reasons) & {"ConditionalCheckFailed", "TransactionConflict"}:
                raise Conflict(record.tracking) from exc
            raise
        return updated

    def get_vote(self, tracking: str) -> Vote | None:
        item = self._get({"pk": f"CASE#{tracking}", "sk": "VOTE"})
        return _vote(item) if item else None

    def reserve_lookup(self, tracking: str, now: datetime, window: timedelta, limit: int) -> bool:
        # The counter lives in its own item of the case's collection, so that writes of
        # the case item (a new step) never reset it; each attempt is one conditional ADD.
        key = _serialise({"pk": f"CASE#{tracking}", "sk": "LOOKUP"})
        cutoff = _ts(now - window)
        try:
            self._call(
                lambda: self.client.update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression="SET window_start = if_not_exists(window_start, :now) "
                    "ADD attempts :one",
                    ConditionExpression="(attribute_not_exists(attempts) OR attempts < :limit) "
                    "AND (attribute_not_exists(window_start) OR window_start > :cutoff)",
                    ExpressionAttributeValues=_serialise(
                        {":now": _ts(now), ":one": 1, ":limit": limit, ":cutoff": cutoff}
                    ),
                )
            )
            return True
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
        try:  # the window has run out: start a new one with this attempt
            self._call(
                lambda: self.client.update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression="SET window_start = :now, attempts = :one",
                    ConditionExpression="window_start <= :cutoff",
                    ExpressionAttributeValues=_serialise(
                        {":now": _ts(now), ":one": 1, ":cutoff": cutoff}
                    ),
                )
            )
            return True
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            return False  # locked

    def release_lookup(self, tracking: str) -> None:
        try:
            self._call(
                lambda: self.client.update_item(
                    TableName=self.table,
                    Key=_serialise({"pk": f"CASE#{tracking}", "sk": "LOOKUP"}),
                    UpdateExpression="ADD attempts :minus",
                    ConditionExpression="attempts > :zero",
                    ExpressionAttributeValues=_serialise({":minus": -1, ":zero": 0}),
                )
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise

    def get_idempotency(self, key_hash: str) -> IdempotencyRecord | None:
        item = self._get({"pk": f"IDEM#{key_hash}", "sk": "IDEM"})
        if item is None:
            return None
        return IdempotencyRecord(
            item["key_hash"], item["request_hash"], item["tracking"], _dt(item["created_at"])
        )

    # ------------------------------------------------------------------ queries
    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        kwargs = {"TableName": self.table, **kwargs}
        if "ExpressionAttributeValues" in kwargs:
            kwargs["ExpressionAttributeValues"] = _serialise(kwargs["ExpressionAttributeValues"])
        while True:
            response = self._call(lambda: self.client.query(**kwargs))
            for item in response.get("Items", []):
                yield _deserialise(item)
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def cases_by_grid_month(self, grid: str, month: str) -> list[CaseRecord]:
        items = self._query(
            IndexName="by_grid_month",
            KeyConditionExpression="gm_pk = :pk",
            ExpressionAttributeValues={":pk": f"{grid}#{month}"},
        )
        return [_case_record(item) for item in items]

    def unit_queue(self, unit: str) -> list[CaseRecord]:
        items = self._query(
            IndexName="by_unit",
            KeyConditionExpression="unit_pk = :pk",
            ExpressionAttributeValues={":pk": unit},
        )
        return [_case_record(item) for item in items]

    def changed_since(self, moment: datetime, until: datetime) -> Iterator[str]:
        day = moment.astimezone(BEIJING).date()
        last = until.astimezone(BEIJING).date()
        while day <= last:
            for item in self._query(
                IndexName="changed",
                KeyConditionExpression="ch_pk = :day AND ch_sk > :after",
                # "~" sorts after "#<tracking>": a change exactly at ``moment`` is not "since".
                ExpressionAttributeValues={":day": day.isoformat(), ":after": _ts(moment) + "~"},
                ProjectionExpression="tracking, updated_at",
            ):
                if _dt(item["updated_at"]) <= until:
                    yield item["tracking"]
            day += timedelta(days=1)

    def all_histories(self) -> Iterator[tuple[CaseRecord, list[Event]]]:
        # The full rebuild reads everything once: one paginated scan beats two requests a
        # case. It is an operator's choice (and the first build), never a nightly path.
        cases: dict[str, dict[str, Any]] = {}
        events: dict[str, list[Event]] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "begins_with(pk, :case)",
            "ExpressionAttributeValues": _serialise({":case": "CASE#"}),
        }
        while True:
            response = self._call(lambda: self.client.scan(**kwargs))
            for raw in response.get("Items", []):
                item = _deserialise(raw)
                tracking = item["pk"].removeprefix("CASE#")
                if item["sk"] == "CASE":
                    cases[tracking] = item
                elif item["sk"].startswith("EVENT#"):
                    events.setdefault(tracking, []).append(_event(item))
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        for tracking, item in cases.items():
            yield _case_record(item), sorted(events.get(tracking, []), key=lambda e: e.seq)

    def put_histories(
        self, histories: Iterable[tuple[CaseRecord, Sequence[Event], Vote | None]]
    ) -> None:
        """Many case histories in as few batch writes as possible (demo loading)."""
        self.batch_put(
            item
            for record, events, vote in histories
            for item in (
                _case_item(record),
                *(_event_item(record.tracking, e) for e in events),
                *([_vote_item(record.tracking, vote)] if vote else []),
            )
        )

    # ------------------------------------------------------------- bulk writes
    def put_history(self, record: CaseRecord, events: Sequence[Event], vote: Vote | None) -> None:
        items = [_case_item(record), *(_event_item(record.tracking, e) for e in events)]
        if vote is not None:
            items.append(_vote_item(record.tracking, vote))
        self.batch_put(items)

    def batch_put(self, items: Iterable[dict[str, Any]]) -> None:
        """Write items 25 at a time, resending unprocessed ones with backoff."""
        batch: list[dict[str, Any]] = []
        for item in items:
            batch.append({"PutRequest": {"Item": _serialise(item)}})
            if len(batch) == 25:
                self._write_batch(batch)
                batch = []
        if batch:
            self._write_batch(batch)

    def _write_batch(self, requests: list[dict[str, Any]]) -> None:
        pending = requests
        for attempt in range(MAX_ATTEMPTS * 2):
            response = self._call(
                partial(self.client.batch_write_item, RequestItems={self.table: pending})
            )
            pending = response.get("UnprocessedItems", {}).get(self.table, [])
            if not pending:
                return
            self._sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
        raise StoreUnavailable(f"{len(pending)} items still unprocessed after retries")

    # -------------------------------------------------------------- staff, meta
    def put_staff(self, member: StaffMember) -> None:
        item = {
            "pk": f"STAFF#{member.username}",
            "sk": "STAFF",
            "username": member.username,
            "display_name": member.display_name,
            "role": str(member.role),
            "unit": member.unit,
            "password_hash": member.password_hash,
            "active": member.active,
        }
        self._call(lambda: self.client.put_item(TableName=self.table, Item=_serialise(item)))

    def get_staff(self, username: str) -> StaffMember | None:
        item = self._get({"pk": f"STAFF#{username}", "sk": "STAFF"})
        if item is None:
            return None
        return StaffMember(
            item["username"],
            item["display_name"],
            Role(item["role"]),
            item.get("unit"),
            item["password_hash"],
            bool(item.get("active", True)),
        )

    def get_marker(self, name: str) -> str | None:
        item = self._get({"pk": f"META#{name}", "sk": "META"})
        return str(item["value"]) if item else None

    def set_marker(self, name: str, value: str) -> None:
        item = {"pk": f"META#{name}", "sk": "META", "value": value}
        self._call(lambda: self.client.put_item(TableName=self.table, Item=_serialise(item)))


# ------------------------------------------------------------------- codec
def _serialise(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in item.items() if v is not None and v != ""}


def _deserialise(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _de.deserialize(v) for k, v in item.items()}


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _case_item(record: CaseRecord) -> dict[str, Any]:
    complaint = record.file.complaint
    filed = record.file.filed_at
    queue = queue_of(record)
    return {
        **_case_key(record.tracking),
        "tracking": record.tracking,
        "public_id": record.file.public_id,
        "category": complaint.category,
        "grid": complaint.grid,
        "location": complaint.location,
        "description": complaint.description,
        "channel": str(complaint.channel),
        "contact_name": complaint.contact.name,
        "contact_phone": complaint.contact.phone,
        "filed_at": _ts(filed),
        "filed_by": [str(record.file.filed_by.role), record.file.filed_by.id],
        "filed_by_unit": record.file.filed_by.unit,
        "lookup_hash": record.lookup_hash,
        "vote_hash": record.vote_hash,
        "status": str(record.status),
        "unit": record.unit,
        "seq": record.seq,
        "updated_at": _ts(record.updated_at),
        "idempotency_key": record.idempotency_key,
        # index keys
        "gm_pk": f"{complaint.grid}#{month_of(filed)}",
        "gm_sk": f"{_ts(filed)}#{record.tracking}",
        "unit_pk": queue,  # sparse: closed cases leave the queue index
        "unit_sk": f"{_ts(record.updated_at)}#{record.tracking}" if queue else None,
        "ch_pk": record.updated_at.astimezone(BEIJING).date().isoformat(),
        "ch_sk": f"{_ts(record.updated_at)}#{record.tracking}",
    }


def _case_record(item: dict[str, Any]) -> CaseRecord:
    role, actor_id = item["filed_by"]
    return CaseRecord(
        file=CaseFile(
            tracking=item["tracking"],
            public_id=item["public_id"],
            complaint=Complaint(
                category=item["category"],
                grid=item["grid"],
                location=item.get("location", ""),
                description=item.get("description", ""),
                channel=Channel(item["channel"]),
                contact=Contact(item.get("contact_name", ""), item.get("contact_phone", "")),
            ),
            filed_at=_dt(item["filed_at"]),
            filed_by=Actor(Role(role), actor_id, item.get("filed_by_unit")),
        ),
        lookup_hash=item["lookup_hash"],
        vote_hash=item["vote_hash"],
        status=Status(item["status"]),
        unit=item.get("unit"),
        seq=int(item["seq"]),
        updated_at=_dt(item["updated_at"]),
        idempotency_key=item.get("idempotency_key"),
    )


def _event_item(tracking: str, event: Event) -> dict[str, Any]:
    return {
        "pk": f"CASE#{tracking}",
        "sk": _event_sk(event.seq),
        "seq": event.seq,
        "at": _ts(event.at),
        "action": str(event.action),
        "actor": [str(event.actor.role), event.actor.id],
        "actor_unit": event.actor.unit,
        "public_note": event.public_note,
        "private_note": event.private_note,
        "data": dict(event.data) or None,
    }


def _event(item: dict[str, Any]) -> Event:
    role, actor_id = item["actor"]
    return Event(
        seq=int(item["seq"]),
        at=_dt(item["at"]),
        action=Action(item["action"]),
        actor=Actor(Role(role), actor_id, item.get("actor_unit")),
        public_note=item.get("public_note", ""),
        private_note=item.get("private_note", ""),
        data={k: str(v) for k, v in item.get("data", {}).items()},
    )


def _vote_item(tracking: str, vote: Vote) -> dict[str, Any]:
    return {
        "pk": f"CASE#{tracking}",
        "sk": "VOTE",
        "rating": str(vote.rating),
        "comment": vote.comment,
        "at": _ts(vote.at),
    }


def _vote(item: dict[str, Any]) -> Vote:
    return Vote(Rating(item["rating"]), item.get("comment", ""), _dt(item["at"]))


def _idempotency_item(record: IdempotencyRecord) -> dict[str, Any]:
    return {
        "pk": f"IDEM#{record.key_hash}",
        "sk": "IDEM",
        "key_hash": record.key_hash,
        "request_hash": record.request_hash,
        "tracking": record.tracking,
        "created_at": _ts(record.created_at),
    }


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_throttled(exc: ClientError) -> bool:
    code = _code(exc)
    if code in _THROTTLED:
        return True
    return code == "TransactionCanceledException" and "ThrottlingError" in _cancellation_reasons(
        exc
    )


def _cancellation_reasons(exc: ClientError) -> list[str]:
    """Per-item reasons of a cancelled transaction, in the order of the items."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return []
    reasons = exc.response.get("CancellationReasons")
    if reasons:
        return [r.get("Code", "None") for r in reasons]
    # Some clients only give the reasons in the message: "[ConditionalCheckFailed, None]".
    message = exc.response.get("Error", {}).get("Message", "")
    start, end = message.rfind("["), message.rfind("]")
    return [part.strip() for part in message[start + 1 : end].split(",")] if start >= 0 else []
